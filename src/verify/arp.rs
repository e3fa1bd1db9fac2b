//! Ask the L2 segment who has the VIP, from the client, and collect every answer. A raw
//! AF_PACKET socket does what `arping` does without needing arping installed on the client,
//! and sees *all* replies — the kernel's neighbour table would keep only the last one, hiding
//! a real server that wrongly answers. Runs in the calling thread's network namespace.

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;

/// The client interface that can reach `target`: the one whose IPv4 subnet contains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIf {
    pub name: String,
    pub index: u32,
    pub addr: Ipv4Addr,
    pub mac: [u8; 6],
}

/// Find the interface of this network namespace on `target`'s subnet.
pub fn interface_for(target: Ipv4Addr) -> io::Result<Option<ClientIf>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut v4: Vec<(String, Ipv4Addr, Ipv4Addr)> = Vec::new();
    let mut macs: Vec<(String, [u8; 6])> = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` walks the list getifaddrs returned; each node and its strings stay
        // valid until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        if family == libc::AF_INET && !ifa.ifa_netmask.is_null() {
            let addr = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            let mask = unsafe { &*(ifa.ifa_netmask as *const libc::sockaddr_in) };
            v4.push((
                name,
                Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
                Ipv4Addr::from(u32::from_be(mask.sin_addr.s_addr)),
            ));
        } else if family == libc::AF_PACKET {
            let ll = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_ll) };
            if ll.sll_halen == 6 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&ll.sll_addr[..6]);
                macs.push((name, mac));
            }
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    let found = v4.into_iter().find(|(_, a, m)| {
        u32::from(*a) & u32::from(*m) == u32::from(target) & u32::from(*m) && *a != target
    });
    let Some((name, addr, _)) = found else {
        return Ok(None);
    };
    let Some(mac) = macs.iter().find(|(n, _)| *n == name).map(|(_, m)| *m) else {
        return Ok(None);
    };
    let cname = std::ffi::CString::new(name.clone())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid NUL-terminated name.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(ClientIf {
        name,
        index,
        addr,
        mac,
    }))
}

/// Broadcast `tries` ARP requests for `target` and return every MAC that answered for it.
pub fn who_has(
    iface: &ClientIf,
    target: Ipv4Addr,
    tries: u32,
    wait: Duration,
) -> io::Result<BTreeSet<String>> {
    // SAFETY: plain socket(2); the fd is owned by `Fd` and closed on drop.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = Fd(fd);
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ARP.to_be();
    sll.sll_ifindex = iface.index as i32;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let sll_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `sll` is a valid sockaddr_ll of the given length.
    if unsafe { libc::bind(fd.0, &sll as *const _ as *const libc::sockaddr, sll_len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: setting a timeval option of the right size.
    unsafe {
        libc::setsockopt(
            fd.0,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    let frame = request(iface, target);
    let mut seen = BTreeSet::new();
    for _ in 0..tries.max(1) {
        // SAFETY: sending a buffer we own to the address bound above.
        let n = unsafe {
            libc::sendto(
                fd.0,
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const _ as *const libc::sockaddr,
                sll_len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let until = Instant::now() + wait;
        let mut buf = [0u8; 256];
        while Instant::now() < until {
            // SAFETY: receiving into a buffer we own, bounded by its length.
            let n =
                unsafe { libc::recv(fd.0, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) {
                    continue;
                }
                return Err(e);
            }
            if let Some(mac) = reply_from(&buf[..n as usize], target) {
                seen.insert(mac);
            }
        }
    }
    Ok(seen)
}

struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closing the fd this guard owns, once.
        unsafe { libc::close(self.0) };
    }
}

/// An Ethernet frame carrying an ARP request "who has `target`, tell `iface.addr`".
fn request(iface: &ClientIf, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&iface.mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f.extend_from_slice(&iface.mac);
    f.extend_from_slice(&iface.addr.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// The sender MAC of an ARP reply for `target`, as `aa:bb:..`.
fn reply_from(frame: &[u8], target: Ipv4Addr) -> Option<String> {
    let arp = frame.get(14..42)?;
    if frame.get(12..14)? != ETH_P_ARP.to_be_bytes()
        || arp[6..8] != [0, 2]
        || arp[14..18] != target.octets()
    {
        return None;
    }
    Some(
        arp[8..14]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_reply_round_trip() {
        let iface = ClientIf {
            name: "br0".into(),
            index: 1,
            addr: Ipv4Addr::new(10, 0, 0, 1),
            mac: [2, 0, 0, 0, 0, 1],
        };
        let vip = Ipv4Addr::new(10, 0, 0, 50);
        let req = request(&iface, vip);
        assert_eq!(req.len(), 42);
        // Turn the request into the reply a director would send.
        let mut reply = req.clone();
        reply[20..22].copy_from_slice(&[0, 2]);
        reply[22..28].copy_from_slice(&[0x52, 0x54, 0, 0xab, 0, 0x0b]);
        reply[28..32].copy_from_slice(&vip.octets());
        assert_eq!(
            reply_from(&reply, vip).as_deref(),
            Some("52:54:00:ab:00:0b")
        );
        assert_eq!(reply_from(&req, vip), None);
        assert_eq!(reply_from(&reply, Ipv4Addr::new(10, 0, 0, 51)), None);
    }

    #[test]
    fn loopback_subnet_is_found() {
        // 127.0.0.1/8 exists in every namespace; lo has a (zero) MAC of length 6.
        let i = interface_for(Ipv4Addr::new(127, 0, 0, 9)).unwrap();
        assert_eq!(i.map(|i| i.name), Some("lo".to_string()));
    }
}
