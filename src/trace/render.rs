//! A trace for people: each request as a sequence diagram (one lifeline per party, one arrow
//! per hop with its TCP flags, then the hop's MACs, addresses and ports, and the outer header of
//! IP-in-IP), what the director changed in words, and a one-line verdict.

use std::fmt::Write;

use super::classify::Hop;
use super::run::{Report, Traced};

/// The whole report as text.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "captured on {}", r.captured_on);
    for (i, t) in r.requests.iter().enumerate() {
        request(&mut out, i + 1, t);
    }
    if !r.pcap_files.is_empty() {
        let _ = writeln!(out, "pcap files:");
        for (f, p) in r.pcap_files.iter().zip(&r.points) {
            let _ = writeln!(
                out,
                "  {} ({} frames on {})",
                f.display(),
                p.frames,
                p.interface
            );
        }
    }
    for u in &r.unseen {
        let _ = writeln!(out, "not seen: {u}");
    }
    for n in &r.not_checked {
        let _ = writeln!(out, "✗ {n}");
    }
    let bad = r
        .requests
        .iter()
        .filter(|t| !t.verdict.problems.is_empty())
        .count();
    let _ = writeln!(
        out,
        "trace {}: {} request(s), configured {}: {}",
        r.service,
        r.requests.len(),
        r.method.to_uppercase(),
        if r.ok {
            "every request forwarded as configured".to_string()
        } else {
            format!("{bad} request(s) not forwarded as configured")
        }
    );
    out
}

fn request(out: &mut String, n: usize, t: &Traced) {
    let client = t.client.as_deref().unwrap_or("?");
    let answer = match &t.answer {
        Ok(body) => format!("answered \"{body}\""),
        Err(e) => format!("failed: {e}"),
    };
    let _ = writeln!(out, "request {n} from {client}: {answer}");
    let parties = parties(t);
    let width = parties.iter().map(String::len).max().unwrap_or(6).max(6) + 4;
    let mut head = String::from("  ");
    for p in &parties {
        let _ = write!(head, "{p:^width$}");
    }
    let _ = writeln!(out, "{}", head.trim_end());
    for h in &t.hops {
        let _ = writeln!(out, "  {}  {}", arrow(h, &parties, width), details(h));
    }
    for c in &t.verdict.changes {
        let at = t.verdict.director.as_deref().unwrap_or("director");
        let _ = writeln!(out, "  at {at}: {c}");
    }
    for p in &t.verdict.problems {
        let _ = writeln!(out, "  ✗ {p}");
    }
    out.push('\n');
}

/// The parties of a request in the order a reader expects: client, director, real server, then
/// anyone else the hops involve.
fn parties(t: &Traced) -> Vec<String> {
    let mut v: Vec<String> = vec!["client".into()];
    let known = [&t.verdict.director, &t.verdict.real_server];
    for name in known.into_iter().flatten() {
        if !v.contains(name) {
            v.push(name.clone());
        }
    }
    for h in &t.hops {
        for name in [&h.from, &h.to] {
            if !v.contains(name) {
                v.push(name.clone());
            }
        }
    }
    v
}

/// Lifelines with one arrow from the hop's sender to its receiver, the flags on the arrow.
fn arrow(h: &Hop, parties: &[String], width: usize) -> String {
    let col = |name: &str| parties.iter().position(|p| p == name).unwrap_or(0) * width + width / 2;
    let mut line: Vec<char> = (0..parties.len() * width)
        .map(|i| if i % width == width / 2 { '│' } else { ' ' })
        .collect();
    let (from, to) = (col(&h.from), col(&h.to));
    let (lo, hi) = (from.min(to), from.max(to));
    for c in line.iter_mut().take(hi).skip(lo + 1) {
        *c = '─';
    }
    if to > from {
        line[hi - 1] = '▶';
    } else if to < from {
        line[lo + 1] = '◀';
    }
    let flags = h.packet.tcp.map(|t| t.flags_text()).unwrap_or_default();
    let start = if to >= from { lo + 2 } else { lo + 3 };
    if hi > lo + flags.len() + 3 {
        for (i, ch) in flags.chars().enumerate() {
            line[start + i] = ch;
        }
    }
    line.into_iter().collect()
}

/// MACs, addresses and ports of a hop, and the IP-in-IP wrapper when there is one.
fn details(h: &Hop) -> String {
    let p = &h.packet;
    let mut s = format!("{:>7.1} ms  {} → {}", h.at_ms, p.src_mac, p.dst_mac);
    if let Some(o) = p.outer {
        let _ = write!(s, "  IPIP {} → {} [", o.src, o.dst);
    } else {
        s.push_str("  ");
    }
    if let (Some(ip), Some(t)) = (p.ip, p.tcp) {
        let _ = write!(s, "{}:{} → {}:{}", ip.src, t.src_port, ip.dst, t.dst_port);
        if t.payload > 0 {
            let _ = write!(s, " len {}", t.payload);
        }
    }
    if p.outer.is_some() {
        s.push(']');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::decode::build::{frame, mac, tcp_packet};
    use crate::trace::decode::{decode, SYN};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn hop(from: &str, to: &str, src_last: u8, dst_last: u8) -> Hop {
        let ip = tcp_packet(
            (Ipv4Addr::new(10, 0, 0, 1), 40000),
            (Ipv4Addr::new(10, 0, 0, 50), 80),
            SYN,
            b"",
        );
        Hop {
            at_ms: 0.25,
            from: from.into(),
            to: to.into(),
            seen_at: vec![from.into(), to.into()],
            packet: decode(&frame(mac(src_last), mac(dst_last), &ip)).unwrap(),
            ts: Duration::ZERO,
        }
    }

    #[test]
    fn arrows_point_from_sender_to_receiver() {
        let parties: Vec<String> = ["client", "lb1", "web1"].map(String::from).to_vec();
        let right = arrow(&hop("client", "lb1", 1, 11), &parties, 10);
        assert_eq!(right.trim_end(), "     │─S──────▶│         │");
        let left = arrow(&hop("web1", "client", 12, 1), &parties, 10);
        assert_eq!(left.trim_end(), "     │◀─S────────────────│");
    }

    #[test]
    fn a_request_reads_as_a_diagram_with_words() {
        let t = Traced::example(
            &[],
            vec![hop("client", "lb1", 1, 11), hop("lb1", "web1", 11, 12)],
        );
        let mut out = String::new();
        request(&mut out, 1, &t);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "request 1 from 10.0.0.1:40000: answered \"from web1\""
        );
        assert_eq!(lines[1], "    client     lb1       web1");
        assert!(
            lines[2].ends_with(
                "0.2 ms  52:54:00:00:00:01 → 52:54:00:00:00:0b  10.0.0.1:40000 → 10.0.0.50:80"
            ),
            "{}",
            lines[2]
        );
        assert_eq!(
            lines[4],
            "  at lb1: DR: destination MAC rewritten to web1's"
        );
    }
}
