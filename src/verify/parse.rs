//! Parsers for the text the nodes print (`ip -o addr`, `ipvsadm -Lnc`, `ss -Htan`,
//! `ipvsadm -Ln --stats`). `verify` only trusts what it parsed, so each parser is strict about
//! the shape it accepts and ignores header lines explicitly.

use std::net::{Ipv4Addr, SocketAddrV4};

/// One IPv4 address of `ip -o -4 addr show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    pub dev: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    /// The label (`ens33:8`); equal to `dev` when the address has none.
    pub label: String,
}

/// Parse `ip -o -4 addr show` output.
pub fn ip_addrs(text: &str) -> Vec<IfAddr> {
    text.lines()
        .filter_map(|line| {
            // `ip -o` folds the rest of the record behind a backslash.
            let line = line.split('\\').next().unwrap_or(line);
            let mut words = line.split_whitespace();
            let _index = words.next()?;
            let dev = words.next()?.trim_end_matches(':').to_string();
            let family = words.next()?;
            if family != "inet" {
                return None;
            }
            let (addr, prefix) = words.next()?.split_once('/')?;
            let addr: Ipv4Addr = addr.parse().ok()?;
            let prefix: u8 = prefix.parse().ok()?;
            // The label is the last word before the `\` continuation, when it is not a keyword.
            let rest: Vec<&str> = words.collect();
            let label = rest
                .last()
                .filter(|w| w.starts_with(&dev) && **w != "global")
                .map(|w| w.to_string())
                .unwrap_or_else(|| dev.clone());
            Some(IfAddr {
                dev,
                addr,
                prefix,
                label,
            })
        })
        .collect()
}

/// One entry of the IPVS connection table (`ipvsadm -Lnc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsConn {
    pub protocol: String,
    /// Seconds until the entry expires (`mm:ss`).
    pub expire_secs: Option<u32>,
    pub state: String,
    pub source: SocketAddrV4,
    pub virtual_addr: SocketAddrV4,
    pub destination: SocketAddrV4,
}

/// Parse `ipvsadm -Lnc` output.
pub fn ipvs_conns(text: &str) -> Vec<IpvsConn> {
    text.lines()
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() != 6 {
                return None;
            }
            Some(IpvsConn {
                protocol: w[0].to_string(),
                expire_secs: w[1]
                    .split_once(':')
                    .and_then(|(m, s)| Some(m.parse::<u32>().ok()? * 60 + s.parse::<u32>().ok()?)),
                state: w[2].to_string(),
                source: w[3].parse().ok()?,
                virtual_addr: w[4].parse().ok()?,
                destination: w[5].parse().ok()?,
            })
        })
        .collect()
}

/// One TCP socket of `ss -Htan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSocket {
    pub local: SocketAddrV4,
    pub remote: Option<SocketAddrV4>,
    /// The kernel's state name as netstat spells it (`ESTABLISHED`, `TIME_WAIT`, `LISTEN`).
    pub state: String,
}

/// An `ss` address (`10.0.0.5:80`, `[::ffff:10.0.0.5]:80`, `10.0.0.5%ens33:80`) as IPv4, when
/// it is one: a dual-stack listener (apache's `Listen 80`) reports IPv4 peers as mapped IPv6.
fn ss_v4(word: &str) -> Option<SocketAddrV4> {
    let (host, port) = word.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_start_matches("::ffff:");
    let host = host.split('%').next().unwrap_or(host);
    Some(SocketAddrV4::new(host.parse().ok()?, port.parse().ok()?))
}

/// Parse `ss -Htan` output (no header: state, queues, local and peer address).
pub fn ss_tcp(text: &str) -> Vec<TcpSocket> {
    text.lines()
        .filter_map(|line| {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() < 5 {
                return None;
            }
            let state = match w[0] {
                "ESTAB" => "ESTABLISHED".to_string(),
                other => other.replace('-', "_"),
            };
            Some(TcpSocket {
                local: ss_v4(w[3])?,
                remote: ss_v4(w[4]),
                state,
            })
        })
        .collect()
}

/// Packet counters of one virtual service from `ipvsadm -Ln --stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceStats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
}

/// The counters of the service `service` (`VIP:port`) in `ipvsadm -Ln --stats` output.
pub fn service_stats(text: &str, protocol: &str, service: SocketAddrV4) -> Option<ServiceStats> {
    let want = service.to_string();
    text.lines().find_map(|line| {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 7 || !w[0].eq_ignore_ascii_case(protocol) || w[1] != want {
            return None;
        }
        Some(ServiceStats {
            conns: parse_count(w[2])?,
            in_pkts: parse_count(w[3])?,
            out_pkts: parse_count(w[4])?,
        })
    })
}

/// ipvsadm abbreviates large counters (`12K`, `3M`); precision does not matter for the checks.
fn parse_count(word: &str) -> Option<u64> {
    let (digits, scale) = match word.as_bytes().last()? {
        b'K' => (&word[..word.len() - 1], 1_000),
        b'M' => (&word[..word.len() - 1], 1_000_000),
        b'G' => (&word[..word.len() - 1], 1_000_000_000),
        _ => (word, 1),
    };
    digits.parse::<u64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addrs_reads_labels_and_prefixes() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
1: lo    inet 192.168.163.50/32 scope global lo:3\\       valid_lft forever preferred_lft forever\n\
2: ens33    inet 192.168.163.11/24 brd 192.168.163.255 scope global ens33\\       valid_lft forever preferred_lft forever\n\
2: ens33    inet 192.168.163.50/24 scope global secondary ens33:8\\       valid_lft forever preferred_lft forever\n";
        let addrs = ip_addrs(text);
        assert_eq!(addrs.len(), 4);
        assert_eq!(addrs[1].label, "lo:3");
        assert_eq!(addrs[1].prefix, 32);
        assert_eq!(addrs[2].label, "ens33");
        assert_eq!(addrs[3].label, "ens33:8");
        assert_eq!(addrs[3].addr, Ipv4Addr::new(192, 168, 163, 50));
    }

    #[test]
    fn ipvs_conns_skips_headers() {
        let text = "IPVS connection entries\n\
pro expire state       source             virtual            destination\n\
TCP 01:57  ESTABLISHED 192.168.163.1:50312 192.168.163.50:80  192.168.163.12:80\n\
TCP 00:57  NONE        192.168.163.1:0    192.168.163.50:80  192.168.163.12:80\n";
        let conns = ipvs_conns(text);
        assert_eq!(conns.len(), 2);
        assert_eq!(conns[0].state, "ESTABLISHED");
        assert_eq!(conns[0].destination, "192.168.163.12:80".parse().unwrap());
    }

    #[test]
    fn ss_reads_ipv4_and_mapped_sockets() {
        let text = "LISTEN    0      511              0.0.0.0:22             0.0.0.0:*\n\
ESTAB     0      0         192.168.163.50:80       192.168.163.1:40022\n\
TIME-WAIT 0      0         192.168.163.12:22       192.168.163.1:51000\n\
LISTEN    0      511                    *:80                   *:*\n\
ESTAB     0      0      [::ffff:192.168.163.50]:80 [::ffff:192.168.163.2]:53015\n\
ESTAB     0      0      10.0.0.5%ens33:80          10.0.0.1:4000\n\
ESTAB     0      0                  [::1]:80                 [::1]:4000\n";
        let socks = ss_tcp(text);
        assert_eq!(socks.len(), 5, "{socks:?}");
        assert_eq!(socks[0].remote, None);
        assert_eq!(socks[0].state, "LISTEN");
        assert_eq!(socks[1].state, "ESTABLISHED");
        assert_eq!(socks[2].state, "TIME_WAIT");
        assert_eq!(socks[3].local, "192.168.163.50:80".parse().unwrap());
        assert_eq!(
            socks[3].remote,
            Some("192.168.163.2:53015".parse().unwrap())
        );
        assert_eq!(socks[4].local, "10.0.0.5:80".parse().unwrap());
        assert!(ss_tcp("sh: 1: ss: not found\n").is_empty());
    }

    #[test]
    fn service_stats_finds_the_service() {
        let text = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n\
  -> RemoteAddress:Port\n\
TCP  192.168.163.50:80                  20      120        0     8040        0\n\
  -> 192.168.163.12:80                  10       60        0     4020        0\n";
        let s = service_stats(text, "tcp", "192.168.163.50:80".parse().unwrap());
        assert_eq!(
            s,
            Some(ServiceStats {
                conns: 20,
                in_pkts: 120,
                out_pkts: 0
            })
        );
        assert_eq!(parse_count("12K"), Some(12_000));
    }
}

/// The MAC address of `dev` in `ip -o link show` output.
pub fn link_mac(text: &str, dev: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let _index = words.next()?;
        let name = words.next()?.trim_end_matches(':');
        let name = name.split('@').next().unwrap_or(name);
        if name != dev {
            return None;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let at = w.iter().position(|x| *x == "link/ether")?;
        w.get(at + 1).map(|m| m.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod save_tests {
    use super::*;

    #[test]
    fn link_macs() {
        let link = "2: ens33: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:AA:00:0b brd ff:ff:ff:ff:ff:ff\n";
        assert_eq!(
            link_mac(link, "ens33").as_deref(),
            Some("52:54:00:aa:00:0b")
        );
        assert_eq!(link_mac(link, "eth0"), None);
    }
}
