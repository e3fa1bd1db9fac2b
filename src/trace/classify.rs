//! From captured frames to what the director did: frames seen at several capture points are
//! merged into hops (one transmission on the switch), the hops of one client connection are
//! picked out, and the connection's forwarding is judged against the configured method — which
//! MAC and IP headers the director rewrote, whether it wrapped the packet in IP-in-IP, and
//! which way the replies went.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use serde::Serialize;

use super::decode::{self, Mac, Packet, SYN};
use crate::cluster::Method;

/// One node of the lab as the wire shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub mac: Mac,
    pub addr: Ipv4Addr,
    /// The port the node serves on (real servers), else the service port.
    pub port: u16,
}

/// Who is who on the lab's switch, and what the service is.
#[derive(Debug, Clone)]
pub struct Cast {
    pub client_mac: Mac,
    pub directors: Vec<Member>,
    pub reals: Vec<Member>,
    pub vip: Ipv4Addr,
    pub port: u16,
}

impl Cast {
    /// The name of whoever owns `mac`: "client", a node's name, "broadcast", or the MAC itself.
    pub fn who(&self, mac: Mac) -> String {
        if mac == self.client_mac {
            return "client".into();
        }
        if mac.is_broadcast() {
            return "broadcast".into();
        }
        self.directors
            .iter()
            .chain(&self.reals)
            .find(|m| m.mac == mac)
            .map_or_else(|| mac.to_string(), |m| m.name.clone())
    }

    fn director(&self, mac: Mac) -> Option<&Member> {
        self.directors.iter().find(|m| m.mac == mac)
    }

    fn real(&self, mac: Mac) -> Option<&Member> {
        self.reals.iter().find(|m| m.mac == mac)
    }
}

/// One transmission on the switch: a frame, when it was first seen, and every capture point
/// that saw it (the sender's port, the receiver's, and any port it was flooded to).
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// Milliseconds since the first frame of the request.
    pub at_ms: f64,
    pub from: String,
    pub to: String,
    pub seen_at: Vec<String>,
    pub packet: Packet,
    #[serde(skip)]
    pub ts: Duration,
}

/// Frames seen at the same time within this window with the same bytes are one transmission.
const SAME_HOP: Duration = Duration::from_millis(100);

/// Merge frames (time, bytes, point name) into hops, in time order.
pub fn hops(frames: &[(Duration, &[u8], &str)], cast: &Cast) -> Vec<Hop> {
    let mut sorted: Vec<&(Duration, &[u8], &str)> = frames.iter().collect();
    sorted.sort_by_key(|f| f.0);
    let mut out: Vec<(Hop, &[u8])> = Vec::new();
    for (ts, data, point) in sorted {
        let same = out.iter_mut().rev().find(|(h, d)| {
            *d == *data
                && ts.saturating_sub(h.ts) <= SAME_HOP
                && !h.seen_at.iter().any(|p| p == point)
        });
        if let Some((h, _)) = same {
            h.seen_at.push(point.to_string());
            continue;
        }
        let Some(packet) = decode::decode(data) else {
            continue;
        };
        out.push((
            Hop {
                at_ms: 0.0,
                from: cast.who(packet.src_mac),
                to: cast.who(packet.dst_mac),
                seen_at: vec![point.to_string()],
                packet,
                ts: *ts,
            },
            data,
        ));
    }
    out.into_iter().map(|(h, _)| h).collect()
}

/// Whether the hop carries the TCP connection of `client` (either way, wrapped or not), and
/// whether it travels toward the server.
fn direction(h: &Hop, client: SocketAddrV4) -> Option<bool> {
    let (ip, tcp) = (h.packet.ip?, h.packet.tcp?);
    if ip.src == *client.ip() && tcp.src_port == client.port() {
        Some(true)
    } else if ip.dst == *client.ip() && tcp.dst_port == client.port() {
        Some(false)
    } else {
        None
    }
}

/// The hops of one client connection, with times relative to its first.
pub fn connection(all: &[Hop], client: SocketAddrV4) -> Vec<Hop> {
    let mut hs: Vec<Hop> = all
        .iter()
        .filter(|h| direction(h, client).is_some())
        .cloned()
        .collect();
    if let Some(t0) = hs.first().map(|h| h.ts) {
        for h in &mut hs {
            h.at_ms = h.ts.saturating_sub(t0).as_secs_f64() * 1000.0;
        }
    }
    hs
}

/// What the packets of one connection show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub director: Option<String>,
    pub real_server: Option<String>,
    /// The forwarding method the packets show: "dr", "nat" or "tun".
    pub seen: Option<&'static str>,
    /// What changed at the director, in words.
    pub changes: Vec<String>,
    /// Where the packets contradict the configured method (or prove nothing).
    pub problems: Vec<String>,
}

pub fn method_name(m: Method) -> &'static str {
    match m {
        Method::Dr => "dr",
        Method::Nat => "nat",
        Method::Tun => "tun",
    }
}

/// Judge one connection's hops against the configured `method`.
pub fn classify(cast: &Cast, method: Method, client: SocketAddrV4, hops: &[Hop]) -> Verdict {
    let mut v = Verdict::default();
    let service = SocketAddrV4::new(cast.vip, cast.port);
    let toward = |h: &&Hop| direction(h, client) == Some(true);
    let back = |h: &&Hop| direction(h, client) == Some(false);
    let syn = hops.iter().filter(toward).find(|h| {
        h.packet.src_mac == cast.client_mac
            && h.packet.outer.is_none()
            && dst(&h.packet) == Some(service)
            && h.packet.tcp.is_some_and(|t| t.has(SYN))
    });
    let Some(syn) = syn else {
        v.problems.push(format!(
            "the client's SYN from {client} to {service} was not seen in the capture"
        ));
        return v;
    };
    let Some(director) = cast.director(syn.packet.dst_mac) else {
        v.problems.push(format!(
            "the client sent its SYN for {service} to {} ({}), not to a director",
            syn.to, syn.packet.dst_mac
        ));
        return v;
    };
    v.director = Some(director.name.clone());
    let fwd = hops
        .iter()
        .filter(toward)
        .find(|h| h.packet.src_mac == director.mac && cast.real(h.packet.dst_mac).is_some());
    let Some(fwd) = fwd else {
        v.problems.push(format!(
            "{} received the connection but forwarded none of its packets to a real server",
            director.name
        ));
        return v;
    };
    let Some(rs) = cast.real(fwd.packet.dst_mac) else {
        return v;
    };
    v.real_server = Some(rs.name.clone());
    let seen = forwarded(&mut v, syn, fwd, director, rs, service);
    if let Some(seen) = seen {
        v.seen = Some(method_name(seen));
        replies(
            &mut v,
            hops.iter().filter(back),
            seen,
            cast,
            director,
            rs,
            service,
        );
        if seen != method {
            v.problems.push(format!(
                "the packets show {}, the inventory configures {}",
                method_name(seen).to_uppercase(),
                method_name(method).to_uppercase()
            ));
        }
    }
    v
}

fn dst(p: &Packet) -> Option<SocketAddrV4> {
    Some(SocketAddrV4::new(p.ip?.dst, p.tcp?.dst_port))
}

fn src(p: &Packet) -> Option<SocketAddrV4> {
    Some(SocketAddrV4::new(p.ip?.src, p.tcp?.src_port))
}

/// How the packet the director forwarded differs from the client's: which method that is, and
/// the change in words.
fn forwarded(
    v: &mut Verdict,
    client_pkt: &Hop,
    fwd: &Hop,
    director: &Member,
    rs: &Member,
    service: SocketAddrV4,
) -> Option<Method> {
    let (inner, outer) = (&fwd.packet, fwd.packet.outer);
    let untouched = header_changes(&client_pkt.packet, inner);
    if let Some(o) = outer {
        if o.dst != rs.addr {
            v.problems.push(format!(
                "{} sent IP-in-IP to {}, not to {}'s address {}",
                director.name, o.dst, rs.name, rs.addr
            ));
        }
        v.changes.push(format!(
            "TUN: outer IP-in-IP header {} ({}) → {} ({}), inner packet {}",
            director.name, o.src, rs.name, o.dst, untouched
        ));
        return Some(Method::Tun);
    }
    let d = dst(inner)?;
    if d == service {
        v.changes.push(format!(
            "DR: destination MAC rewritten to {}'s ({}), IP header {}",
            rs.name, rs.mac, untouched
        ));
        return Some(Method::Dr);
    }
    if d == SocketAddrV4::new(rs.addr, rs.port) {
        v.changes.push(format!("NAT: destination {service} → {d}"));
        return Some(Method::Nat);
    }
    v.problems.push(format!(
        "{} forwarded the connection to {} as {d}: neither the VIP nor {}'s address",
        director.name, rs.name, rs.name
    ));
    None
}

/// "untouched", or what differs between the client's packet and the forwarded (inner) one.
fn header_changes(a: &Packet, b: &Packet) -> String {
    let (Some(x), Some(y)) = (a.ip, b.ip) else {
        return "not decoded".into();
    };
    let mut diffs = Vec::new();
    if (src(a), dst(a)) != (src(b), dst(b)) {
        diffs.push(format!(
            "addresses {}→{} became {}→{}",
            opt(src(a)),
            opt(dst(a)),
            opt(src(b)),
            opt(dst(b))
        ));
    }
    if x.ttl != y.ttl && !diffs.is_empty() {
        diffs.push(format!("TTL {} → {}", x.ttl, y.ttl));
    }
    match (diffs.is_empty(), x.ttl == y.ttl) {
        (true, true) => "untouched".into(),
        (true, false) => format!(
            "untouched but for the TTL ({} → {}, as at any router)",
            x.ttl, y.ttl
        ),
        _ => format!("changed: {}", diffs.join(", ")),
    }
}

fn opt(a: Option<SocketAddrV4>) -> String {
    a.map_or_else(|| "?".into(), |a| a.to_string())
}

/// Judge the way back: straight from the real server for DR and TUN, through the director
/// with the source rewritten to the VIP for NAT.
fn replies<'a>(
    v: &mut Verdict,
    back: impl Iterator<Item = &'a Hop>,
    seen: Method,
    cast: &Cast,
    director: &Member,
    rs: &Member,
    service: SocketAddrV4,
) {
    let back: Vec<&Hop> = back.collect();
    let from_rs: Vec<&&Hop> = back.iter().filter(|h| h.packet.src_mac == rs.mac).collect();
    if from_rs.is_empty() {
        v.problems
            .push(format!("{} sent no reply in the capture", rs.name));
        return;
    }
    let direct: Vec<&&&Hop> = from_rs
        .iter()
        .filter(|h| h.packet.dst_mac == cast.client_mac)
        .collect();
    let via: Vec<&&&Hop> = from_rs
        .iter()
        .filter(|h| h.packet.dst_mac == director.mac)
        .collect();
    let rewritten: Vec<&&Hop> = back
        .iter()
        .filter(|h| h.packet.src_mac == director.mac && h.packet.dst_mac == cast.client_mac)
        .collect();
    match seen {
        Method::Dr | Method::Tun => {
            if !via.is_empty() {
                v.problems.push(format!(
                    "{} of {}'s replies passed {}",
                    via.len(),
                    rs.name,
                    director.name
                ));
            }
            if let Some(bad) = direct.iter().find(|h| src(&h.packet) != Some(service)) {
                v.problems.push(format!(
                    "{} answered from {}, not from {service}",
                    rs.name,
                    opt(src(&bad.packet))
                ));
            } else if !direct.is_empty() {
                v.changes.push(format!(
                    "replies: {} → client directly from {service}, bypassing {}",
                    rs.name, director.name
                ));
            }
        }
        Method::Nat => {
            let rs_addr = SocketAddrV4::new(rs.addr, rs.port);
            if !direct.is_empty() {
                v.problems.push(format!(
                    "{} of {}'s replies bypassed {} (NAT needs them to pass it)",
                    direct.len(),
                    rs.name,
                    director.name
                ));
            }
            let leg1 = via.iter().all(|h| src(&h.packet) == Some(rs_addr));
            let leg2 = rewritten.iter().all(|h| src(&h.packet) == Some(service));
            if via.is_empty() || rewritten.is_empty() || !leg1 || !leg2 {
                v.problems.push(format!(
                    "replies {} → {} from {rs_addr}: {} seen; {} → client from {service}: {} seen",
                    rs.name,
                    director.name,
                    via.len(),
                    director.name,
                    rewritten.len()
                ));
            } else if let Some(first) = v.changes.first_mut() {
                first.push_str(&format!(
                    ", reply source {rs_addr} rewritten back to the VIP, replies pass the director"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::decode::build::{frame, ipip, mac, tcp_packet};
    use crate::trace::decode::{ACK, PSH};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
    const D: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
    const R: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);
    const CPORT: u16 = 40001;

    fn cast() -> Cast {
        let member = |name: &str, last, addr| Member {
            name: name.into(),
            mac: mac(last),
            addr,
            port: 80,
        };
        Cast {
            client_mac: mac(1),
            directors: vec![member("lb1", 11, D)],
            reals: vec![
                member("web1", 12, R),
                member("web2", 13, Ipv4Addr::new(10, 0, 0, 13)),
            ],
            vip: VIP,
            port: 80,
        }
    }

    fn client() -> SocketAddrV4 {
        SocketAddrV4::new(CLIENT, CPORT)
    }

    /// Frames of one SYN / SYN-ACK exchange through director lb1 (MAC 11) to web1 (MAC 12),
    /// each seen at the sender's and the receiver's port, shaped as `method` shapes them.
    fn exchange(method: Method) -> Vec<(Duration, Vec<u8>, &'static str)> {
        let syn = tcp_packet((CLIENT, CPORT), (VIP, 80), SYN, b"");
        let mut f = vec![(mac(1), mac(11), syn.clone(), "client", "lb1")];
        match method {
            Method::Dr => f.push((mac(11), mac(12), syn, "lb1", "web1")),
            Method::Tun => f.push((mac(11), mac(12), ipip(D, R, &syn), "lb1", "web1")),
            Method::Nat => {
                let to_rs = tcp_packet((CLIENT, CPORT), (R, 80), SYN, b"");
                f.push((mac(11), mac(12), to_rs, "lb1", "web1"));
            }
        }
        match method {
            Method::Dr | Method::Tun => {
                let ack = tcp_packet((VIP, 80), (CLIENT, CPORT), SYN | ACK, b"");
                f.push((mac(12), mac(1), ack, "web1", "client"));
            }
            Method::Nat => {
                let from_rs = tcp_packet((R, 80), (CLIENT, CPORT), SYN | ACK, b"");
                f.push((mac(12), mac(11), from_rs, "web1", "lb1"));
                let out = tcp_packet((VIP, 80), (CLIENT, CPORT), SYN | ACK, b"");
                f.push((mac(11), mac(1), out, "lb1", "client"));
            }
        }
        // Another client's packet on the same switch must not be mixed in.
        let other = tcp_packet((CLIENT, CPORT + 1), (VIP, 80), PSH | ACK, b"x");
        f.push((mac(1), mac(11), other, "client", "lb1"));
        let mut out = Vec::new();
        for (i, (s, d, ip, from, to)) in f.into_iter().enumerate() {
            let bytes = frame(s, d, &ip);
            let t = Duration::from_millis(1000 + 10 * i as u64);
            out.push((t, bytes.clone(), from));
            out.push((t + Duration::from_micros(50), bytes, to));
        }
        out
    }

    fn judge(
        frames: &[(Duration, Vec<u8>, &'static str)],
        configured: Method,
    ) -> (Vec<Hop>, Verdict) {
        let refs: Vec<(Duration, &[u8], &str)> = frames
            .iter()
            .map(|(t, b, p)| (*t, b.as_slice(), *p))
            .collect();
        let all = hops(&refs, &cast());
        let conn = connection(&all, client());
        let v = classify(&cast(), configured, client(), &conn);
        (conn, v)
    }

    #[test]
    fn dr_rewrites_only_the_mac() {
        let (conn, v) = judge(&exchange(Method::Dr), Method::Dr);
        assert_eq!(conn.len(), 3, "{conn:#?}");
        assert_eq!(conn[0].seen_at, ["client", "lb1"]);
        assert_eq!(
            (conn[1].from.as_str(), conn[1].to.as_str()),
            ("lb1", "web1")
        );
        assert!(conn[1].at_ms > 0.0);
        assert_eq!(v.problems, Vec::<String>::new());
        assert_eq!(v.seen, Some("dr"));
        assert_eq!(v.director.as_deref(), Some("lb1"));
        assert_eq!(v.real_server.as_deref(), Some("web1"));
        assert_eq!(
            v.changes[0],
            "DR: destination MAC rewritten to web1's (52:54:00:00:00:0c), IP header untouched"
        );
        assert!(v.changes[1].contains("bypassing lb1"), "{:?}", v.changes);
    }

    #[test]
    fn a_ttl_decrement_is_named_as_the_only_change() {
        let mut f = exchange(Method::Dr);
        // The director's copies of the SYN (frames 2 and 3): TTL 64 → 63, as IPVS sends it.
        for (_, bytes, _) in &mut f[2..4] {
            bytes[14 + 8] = 63;
        }
        let (_, v) = judge(&f, Method::Dr);
        assert_eq!(v.problems, Vec::<String>::new());
        assert!(
            v.changes[0]
                .ends_with("IP header untouched but for the TTL (64 → 63, as at any router)"),
            "{:?}",
            v.changes
        );
    }

    #[test]
    fn nat_rewrites_addresses_both_ways() {
        let (_, v) = judge(&exchange(Method::Nat), Method::Nat);
        assert_eq!(v.problems, Vec::<String>::new());
        assert_eq!(
            v.changes,
            [
                "NAT: destination 10.0.0.50:80 → 10.0.0.12:80, reply source 10.0.0.12:80 \
              rewritten back to the VIP, replies pass the director"
            ]
        );
    }

    #[test]
    fn tun_wraps_without_touching_the_inner_packet() {
        let (_, v) = judge(&exchange(Method::Tun), Method::Tun);
        assert_eq!(v.problems, Vec::<String>::new());
        assert_eq!(
            v.changes[0],
            "TUN: outer IP-in-IP header lb1 (10.0.0.11) → web1 (10.0.0.12), inner packet untouched"
        );
    }

    #[test]
    fn packets_contradicting_the_configuration_are_problems() {
        for (shown, configured) in [
            (Method::Dr, Method::Nat),
            (Method::Nat, Method::Tun),
            (Method::Tun, Method::Dr),
        ] {
            let (_, v) = judge(&exchange(shown), configured);
            assert_eq!(v.seen, Some(method_name(shown)));
            assert!(
                v.problems
                    .iter()
                    .any(|p| p.contains("the inventory configures")),
                "{shown:?} under {configured:?}: {:?}",
                v.problems
            );
        }
    }

    #[test]
    fn nat_replies_that_bypass_the_director_are_problems() {
        // Real server answering the client directly from its own address, as a NAT real
        // server without the director as its gateway would.
        let mut f = exchange(Method::Nat);
        f.retain(|(_, b, _)| decode::decode(b).unwrap().src_mac != mac(12));
        let bad = frame(
            mac(12),
            mac(1),
            &tcp_packet((R, 80), (CLIENT, CPORT), SYN | ACK, b""),
        );
        f.push((Duration::from_millis(1500), bad, "web1"));
        let (_, v) = judge(&f, Method::Nat);
        assert!(
            v.problems.iter().any(|p| p.contains("bypassed lb1")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn missing_hops_are_named() {
        let f = exchange(Method::Dr);
        // Only the client's SYN: the director forwarded nothing.
        let (_, v) = judge(&f[..2], Method::Dr);
        assert_eq!(v.director.as_deref(), Some("lb1"));
        assert!(v.problems[0].contains("forwarded none"), "{:?}", v.problems);
        // Nothing at all.
        let (_, v) = judge(&[], Method::Dr);
        assert!(v.problems[0].contains("was not seen"), "{:?}", v.problems);
        // No reply from the real server.
        let (_, v) = judge(&f[..4], Method::Dr);
        assert!(v.problems[0].contains("sent no reply"), "{:?}", v.problems);
    }

    #[test]
    fn a_syn_to_a_non_director_is_named() {
        let syn = tcp_packet((CLIENT, CPORT), (VIP, 80), SYN, b"");
        let f = vec![(
            Duration::from_secs(1),
            frame(mac(1), mac(12), &syn),
            "client",
        )];
        let (_, v) = judge(&f, Method::Dr);
        assert!(v.problems[0].contains("to web1"), "{:?}", v.problems);
        assert_eq!(cast().who(mac(99)), "52:54:00:00:00:63");
    }
}
