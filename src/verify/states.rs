//! Reading the director's connection table as an operator does when requests fail: the IPVS
//! state of each failed connection says how far it got. No entry: the SYN never reached this
//! director's IPVS. SYN_RECV that never became ESTABLISHED: the director forwarded the SYN but
//! the handshake never completed, so the real server's answer did not reach the client (the
//! usual causes depend on the forwarding method). ESTABLISHED or later: the connection got
//! through, and the failure came after the handshake.

use std::net::SocketAddrV4;

use super::parse;
use crate::cluster::Method;

/// Why the real server's answer is lost, per forwarding method: the settings to look at.
fn unanswered(method: Method) -> &'static str {
    match method {
        Method::Dr => {
            "the real server did not answer the client from the VIP: check its VIP on lo and its \
             arp_ignore/arp_announce sysctls"
        }
        Method::Tun => {
            "the real server did not answer the client from the VIP: check that tunl0 is up and \
             holds the VIP, and rp_filter on tunl0"
        }
        Method::Nat => {
            "the real server's answer did not come back through the director: its route to the \
             client must go via the director"
        }
    }
}

/// One sentence per failed connection the director's table (`ipvsadm -Lnc` after the
/// requests) knows about, saying what its state means; `None` when there are no ports.
pub fn explain(ports: &[SocketAddrV4], after: &str, method: Method) -> Option<String> {
    if ports.is_empty() {
        return None;
    }
    let table = parse::ipvs_conns(after);
    let says: Vec<String> = ports
        .iter()
        .take(3)
        .map(|p| {
            let mine: Vec<&parse::IpvsConn> = table.iter().filter(|c| c.source == *p).collect();
            let Some(c) = mine
                .iter()
                .find(|c| c.state != "SYN_RECV")
                .or_else(|| mine.first())
            else {
                return format!(
                    "{p}: no entry, so its SYN never reached this director's IPVS (the VIP \
                     answers ARP elsewhere, or the virtual service is missing)"
                );
            };
            match c.state.as_str() {
                "SYN_RECV" => format!(
                    "{p}: SYN_RECV, never ESTABLISHED: the director forwarded the SYN to {} but \
                     the handshake never completed; {}",
                    c.destination,
                    unanswered(method)
                ),
                "NONE" => format!(
                    "{p}: a persistence template only, to {}: no connection followed it",
                    c.destination
                ),
                s => format!(
                    "{p}: {s}, to {}: the connection got through the director, the failure came \
                     after the handshake (the web server's answer)",
                    c.destination
                ),
            }
        })
        .collect();
    Some(format!("reading the table: {}", says.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "IPVS connection entries
pro expire state       source             virtual            destination
TCP 00:55  SYN_RECV    10.9.0.1:40100     10.9.0.100:80      10.9.0.12:80
TCP 01:40  ESTABLISHED 10.9.0.2:40102     10.9.0.100:80      10.9.0.13:80
";

    fn port(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn each_state_is_read_for_what_it_means() {
        let said = explain(
            &[
                port("10.9.0.1:40100"),
                port("10.9.0.2:40102"),
                port("10.9.0.3:1"),
            ],
            TABLE,
            Method::Dr,
        )
        .unwrap();
        assert!(
            said.contains(
                "10.9.0.1:40100: SYN_RECV, never ESTABLISHED: the director forwarded the SYN to \
                 10.9.0.12:80 but the handshake never completed; the real server did not answer \
                 the client from the VIP: check its VIP on lo"
            ),
            "{said}"
        );
        assert!(
            said.contains(
                "10.9.0.2:40102: ESTABLISHED, to 10.9.0.13:80: the connection got through"
            ),
            "{said}"
        );
        assert!(
            said.contains("10.9.0.3:1: no entry, so its SYN never reached"),
            "{said}"
        );
    }

    #[test]
    fn the_method_names_what_to_look_at() {
        let p = [port("10.9.0.1:40100")];
        let nat = explain(&p, TABLE, Method::Nat).unwrap();
        assert!(nat.contains("must go via the director"), "{nat}");
        let tun = explain(&p, TABLE, Method::Tun).unwrap();
        assert!(tun.contains("tunl0"), "{tun}");
        assert_eq!(explain(&[], TABLE, Method::Dr), None);
    }
}
