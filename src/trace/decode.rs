//! Decoding one captured Ethernet frame into the headers a trace talks about: the MACs, the
//! IPv4 header (and, for IP-in-IP, the outer one wrapped around it) and TCP's ports and flags.
//! Everything else on the wire (ARP, VRRP adverts, IPv6) decodes without an IPv4 header or
//! without TCP and is left out of the per-request diagrams, though it stays in the pcap files.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
/// IP protocol number of IP-in-IP (what LVS-TUN sends to a real server).
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_TCP: u8 = 6;

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parse `aa:bb:cc:dd:ee:ff` (as the lab's state and `ip link` write it).
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            *b = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }

    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The IPv4 header fields a director may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub id: u16,
}

/// TCP ports, sequence numbers and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// Bytes of payload after the TCP header.
    pub payload: usize,
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const URG: u8 = 0x20;

impl Tcp {
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The flags as tcpdump prints them: `S`, `S.`, `P.`, `F.`, `R`, `.` for a bare ACK.
    pub fn flags_text(&self) -> String {
        let mut s: String = [(FIN, 'F'), (SYN, 'S'), (RST, 'R'), (PSH, 'P'), (URG, 'U')]
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, c)| *c)
            .collect();
        if self.has(ACK) {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("none");
        }
        s
    }
}

/// What a frame carries, as far as a trace cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    /// The outer header of an IP-in-IP packet; `None` for a plain one.
    pub outer: Option<Ipv4>,
    /// The innermost IPv4 header (the client's packet, whatever wraps it).
    pub ip: Option<Ipv4>,
    pub tcp: Option<Tcp>,
}

/// Decode one Ethernet frame. `None` when it is too short to have an Ethernet header.
pub fn decode(frame: &[u8]) -> Option<Packet> {
    let dst_mac = Mac(frame.get(0..6)?.try_into().ok()?);
    let src_mac = Mac(frame.get(6..12)?.try_into().ok()?);
    let mut ethertype = be16(frame, 12)?;
    let mut rest = frame.get(14..)?;
    if ethertype == ETHERTYPE_VLAN {
        ethertype = be16(rest, 2)?;
        rest = rest.get(4..)?;
    }
    let mut p = Packet {
        src_mac,
        dst_mac,
        outer: None,
        ip: None,
        tcp: None,
    };
    if ethertype != ETHERTYPE_IPV4 {
        return Some(p);
    }
    let Some((mut ip, mut payload)) = ipv4(rest) else {
        return Some(p);
    };
    if ip.protocol == PROTO_IPIP {
        if let Some((inner, inner_payload)) = ipv4(payload) {
            p.outer = Some(ip);
            ip = inner;
            payload = inner_payload;
        }
    }
    p.ip = Some(ip);
    if ip.protocol == PROTO_TCP {
        p.tcp = tcp(payload);
    }
    Some(p)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// An IPv4 header and its payload (bounded by the total length, so Ethernet padding is not
/// taken for data).
fn ipv4(b: &[u8]) -> Option<(Ipv4, &[u8])> {
    let first = *b.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || b.len() < ihl {
        return None;
    }
    let total = usize::from(be16(b, 2)?).min(b.len()).max(ihl);
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(o))
    };
    let h = Ipv4 {
        id: be16(b, 4)?,
        ttl: *b.get(8)?,
        protocol: *b.get(9)?,
        src: addr(12)?,
        dst: addr(16)?,
    };
    Some((h, b.get(ihl..total)?))
}

fn tcp(b: &[u8]) -> Option<Tcp> {
    let offset = usize::from(*b.get(12)? >> 4) * 4;
    if offset < 20 {
        return None;
    }
    Some(Tcp {
        src_port: be16(b, 0)?,
        dst_port: be16(b, 2)?,
        seq: be32(b, 4)?,
        ack: be32(b, 8)?,
        flags: *b.get(13)?,
        payload: b.len().saturating_sub(offset),
    })
}

/// Frames built by hand for the tests of this module, the classifier and the pcap writer.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    pub(crate) fn mac(last: u8) -> Mac {
        Mac([0x52, 0x54, 0, 0, 0, last])
    }

    fn ip_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: usize, ttl: u8) -> Vec<u8> {
        let total = (20 + payload) as u16;
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34, 0x40, 0, ttl, protocol, 0, 0]);
        h.extend_from_slice(&src.octets());
        h.extend_from_slice(&dst.octets());
        h
    }

    /// An IPv4/TCP packet (no Ethernet header) with `data` as payload.
    pub(crate) fn tcp_packet(
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        flags: u8,
        data: &[u8],
    ) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&src.1.to_be_bytes());
        t.extend_from_slice(&dst.1.to_be_bytes());
        t.extend_from_slice(&1000u32.to_be_bytes());
        t.extend_from_slice(&2000u32.to_be_bytes());
        t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        t.extend_from_slice(data);
        let mut p = ip_header(src.0, dst.0, PROTO_TCP, t.len(), 64);
        p.extend(t);
        p
    }

    /// `inner` wrapped in an outer IPv4 header (IP-in-IP).
    pub(crate) fn ipip(src: Ipv4Addr, dst: Ipv4Addr, inner: &[u8]) -> Vec<u8> {
        let mut p = ip_header(src, dst, PROTO_IPIP, inner.len(), 64);
        p.extend_from_slice(inner);
        p
    }

    /// An Ethernet frame carrying `ip` (padded to the 60-byte minimum as a NIC would).
    pub(crate) fn frame(src: Mac, dst: Mac, ip: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(ip);
        f.resize(f.len().max(60), 0);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

    #[test]
    fn plain_tcp_frame() {
        let f = frame(
            mac(1),
            mac(11),
            &tcp_packet((CLIENT, 40000), (VIP, 80), SYN, b""),
        );
        let p = decode(&f).unwrap();
        assert_eq!((p.src_mac, p.dst_mac), (mac(1), mac(11)));
        assert_eq!(p.outer, None);
        let ip = p.ip.unwrap();
        assert_eq!((ip.src, ip.dst, ip.ttl), (CLIENT, VIP, 64));
        let t = p.tcp.unwrap();
        assert_eq!((t.src_port, t.dst_port), (40000, 80));
        assert_eq!(t.flags_text(), "S");
        // The padding up to 60 bytes is not payload.
        assert_eq!(t.payload, 0);
    }

    #[test]
    fn ip_in_ip_keeps_both_headers() {
        let inner = tcp_packet((CLIENT, 40000), (VIP, 80), PSH | ACK, b"GET /");
        let outer = ipip(
            Ipv4Addr::new(10, 0, 0, 11),
            Ipv4Addr::new(10, 0, 0, 12),
            &inner,
        );
        let p = decode(&frame(mac(11), mac(12), &outer)).unwrap();
        let o = p.outer.unwrap();
        assert_eq!(
            (o.src, o.dst, o.protocol),
            (
                Ipv4Addr::new(10, 0, 0, 11),
                Ipv4Addr::new(10, 0, 0, 12),
                PROTO_IPIP
            )
        );
        assert_eq!(p.ip.unwrap().dst, VIP);
        let t = p.tcp.unwrap();
        assert_eq!((t.flags_text().as_str(), t.payload), ("P.", 5));
    }

    #[test]
    fn non_ip_and_truncated_frames() {
        let mut arp = vec![0xff; 6];
        arp.extend_from_slice(&mac(1).0);
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.resize(42, 0);
        let p = decode(&arp).unwrap();
        assert!(p.dst_mac.is_broadcast());
        assert_eq!((p.ip, p.tcp), (None, None));
        assert_eq!(decode(&arp[..10]), None);
        // An IPv4 header cut short: the MACs, nothing more.
        let f = frame(
            mac(1),
            mac(2),
            &tcp_packet((CLIENT, 1), (VIP, 80), SYN, b""),
        );
        let p = decode(&f[..30]).unwrap();
        assert_eq!(p.ip, None);
        // A TCP header cut short: the IP header, no TCP.
        let p = decode(&f[..40]).unwrap();
        assert!(p.ip.is_some() && p.tcp.is_none());
    }

    #[test]
    fn flags_and_macs_print_as_tcpdump_does() {
        let t = |flags| Tcp {
            src_port: 1,
            dst_port: 2,
            seq: 0,
            ack: 0,
            flags,
            payload: 0,
        };
        assert_eq!(t(SYN | ACK).flags_text(), "S.");
        assert_eq!(t(FIN | ACK).flags_text(), "F.");
        assert_eq!(t(ACK).flags_text(), ".");
        assert_eq!(t(RST).flags_text(), "R");
        assert_eq!(t(0).flags_text(), "none");
        let m = Mac::parse("52:54:00:ab:0c:01").unwrap();
        assert_eq!(m.to_string(), "52:54:00:ab:0c:01");
        assert_eq!(Mac::parse("52:54:00:ab:0c"), None);
        assert_eq!(Mac::parse("52:54:00:ab:0c:01:02"), None);
    }
}
