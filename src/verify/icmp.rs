//! Does the VIP answer ping? Operators ping a service address first; keepalived's `vrrp_strict`
//! (in its sample configuration) adds rules that drop everything to the VIP but the service, so a
//! VIP that serves HTTP yet stays silent to ping is a misconfiguration worth naming. A raw ICMP
//! socket sends the echo requests (no ping binary needed); it is created on the calling thread,
//! so inside the lab's namespace when the caller entered it.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::checks::Check;
use crate::cluster::Cluster;

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

/// Send up to `tries` echo requests to `target` from `source`; the round trip of the first
/// answered one, `None` when none was.
pub fn echo(
    source: Option<Ipv4Addr>,
    target: Ipv4Addr,
    tries: u16,
    wait: Duration,
) -> io::Result<Option<Duration>> {
    let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    if let Some(src) = source {
        sock.bind(&SockAddr::from(SocketAddrV4::new(src, 0)))?;
    }
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let id = (std::process::id() & 0xffff) as u16;
    let to = SockAddr::from(SocketAddrV4::new(target, 0));
    let mut buf = [0u8; 1500];
    for seq in 1..=tries.max(1) {
        let sent = Instant::now();
        sock.send_to(&request(id, seq), &to)?;
        while sent.elapsed() < wait {
            match (&sock).read(&mut buf) {
                Ok(n) if is_reply(&buf[..n], target, id, seq) => return Ok(Some(sent.elapsed())),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

/// An ICMP echo request with a checksum.
fn request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![ECHO_REQUEST, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"lvslab verify ping");
    let sum = checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `packet` (a raw socket hands over the IPv4 header too) is the echo reply to ours.
fn is_reply(packet: &[u8], target: Ipv4Addr, id: u16, seq: u16) -> bool {
    let Some(first) = packet.first() else {
        return false;
    };
    let ihl = usize::from(first & 0x0f) * 4;
    let (Some(src), Some(icmp)) = (packet.get(12..16), packet.get(ihl..ihl + 8)) else {
        return false;
    };
    src == target.octets()
        && icmp[0] == ECHO_REPLY
        && icmp[4..6] == id.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes()
}

/// The "vip-ping" check: from the lab's namespace `lab_ns` (first client address) when the lab
/// is up, else from the controller.
pub fn check(spec: &Cluster, lab_ns: Option<&str>) -> Check {
    let (vip, source) = (spec.vip, spec.client_addrs.first().copied());
    let ping = move || echo(source, vip, 3, Duration::from_secs(1));
    let result = match lab_ns {
        Some(ns) => crate::lab::netns::in_netns(ns, ping).map_err(|e| e.to_string()),
        None => Ok(echo(None, vip, 3, Duration::from_secs(1))),
    };
    let (ok, detail) = match result {
        Ok(Ok(Some(rtt))) => (
            true,
            format!(
                "{vip} answered ping in {:.1} ms",
                rtt.as_secs_f64() * 1000.0
            ),
        ),
        Ok(Ok(None)) => (
            false,
            format!(
                "{vip} answered none of 3 pings: the VIP is down, or rules on the director drop \
                 ICMP to it (keepalived's vrrp_strict adds such rules)"
            ),
        ),
        Ok(Err(e)) if e.kind() == io::ErrorKind::PermissionDenied => (
            false,
            format!("not checked: a raw ICMP socket needs root or CAP_NET_RAW ({e})"),
        ),
        Ok(Err(e)) => (false, format!("not checked: cannot ping {vip}: {e}")),
        Err(e) => (false, format!("not checked: cannot ping {vip}: {e}")),
    };
    Check {
        host: "client".into(),
        name: "vip-ping",
        ok,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_checksums_to_zero_and_reply_matches() {
        let req = request(0x1234, 7);
        assert_eq!(checksum(&req), 0, "a packet with its checksum sums to zero");
        let target = Ipv4Addr::new(10, 0, 0, 50);
        // The reply as a raw socket returns it: a 20-byte IPv4 header, then ICMP.
        let mut reply = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        reply.extend_from_slice(&target.octets());
        reply.extend_from_slice(&[10, 0, 0, 1]);
        let mut icmp = req.clone();
        icmp[0] = ECHO_REPLY;
        reply.extend_from_slice(&icmp);
        assert!(is_reply(&reply, target, 0x1234, 7));
        assert!(!is_reply(&reply, target, 0x1234, 8));
        assert!(!is_reply(&reply, Ipv4Addr::new(10, 0, 0, 51), 0x1234, 7));
        assert!(!is_reply(&reply[..22], target, 0x1234, 7));
    }

    #[test]
    fn odd_lengths_are_padded() {
        assert_eq!(checksum(&[0xff]), !0xff00);
    }
}
