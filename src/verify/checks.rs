//! The checks themselves: pure functions from what was observed on the nodes and from the
//! client to named pass/fail results. Gathering (ssh, sockets) lives in `run`, so every rule
//! here is unit-tested on recorded outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;

use super::parse::{self, IfAddr};
use super::probe::KEEPALIVED_TOOLS;
use super::spec::{Method, Spec};

/// One named check on one host (or `client`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub host: String,
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub(crate) fn new(
        host: &str,
        name: &'static str,
        ok: bool,
        detail: impl Into<String>,
    ) -> Check {
        Check {
            host: host.to_string(),
            name,
            ok,
            detail: detail.into(),
        }
    }
}

/// A node's probe output split into sections, or why it could not be probed.
pub type Probe = Result<BTreeMap<String, String>, String>;

fn section<'a>(p: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    p.get(name).map(String::as_str).unwrap_or("")
}

/// The first of `tools` the node lacks (its probe's `@@missing` section).
fn missing_tool<'t>(p: &BTreeMap<String, String>, tools: &[&'t str]) -> Option<&'t str> {
    let missing: Vec<&str> = section(p, "missing").lines().map(str::trim).collect();
    tools.iter().copied().find(|t| missing.contains(t))
}

/// A check that could not be made because the node lacks the program it reads: it fails (a
/// check nobody made proves nothing) and says which program is missing where.
fn not_checked(host: &str, name: &'static str, tool: &str) -> Check {
    Check::new(
        host,
        name,
        false,
        format!("not checked: {tool} missing on {host}"),
    )
}

/// [`not_checked`] when `host` lacks one of `tools`.
fn unchecked(
    host: &str,
    name: &'static str,
    p: &BTreeMap<String, String>,
    tools: &[&str],
) -> Option<Check> {
    missing_tool(p, tools).map(|t| not_checked(host, name, t))
}

/// Which mode the directors are in: keepalived managed by lvslab on any director means `ha`.
pub fn detect_ha(directors: &[(String, Probe)]) -> bool {
    directors.iter().any(|(_, p)| {
        p.as_ref()
            .map(|s| {
                section(s, "keepalived_managed")
                    .trim()
                    .parse::<u32>()
                    .unwrap_or(0)
                    > 0
            })
            .unwrap_or(false)
    })
}

fn holds_vip(addrs: &[IfAddr], spec: &Spec) -> Option<IfAddr> {
    addrs
        .iter()
        .find(|a| a.addr == spec.vip && a.dev == spec.lan_interface)
        .cloned()
}

/// The director holding the VIP, when exactly one does.
pub fn vip_holder(spec: &Spec, directors: &[(String, Probe)], ha: bool) -> (Check, Option<String>) {
    let holders: Vec<(String, IfAddr)> = directors
        .iter()
        .filter_map(|(n, p)| {
            let s = p.as_ref().ok()?;
            holds_vip(&parse::ip_addrs(section(s, "addr")), spec).map(|a| (n.clone(), a))
        })
        .collect();
    let expected = spec.primary_director().map(|d| d.name.clone());
    let want = format!("{}/{} label {}", spec.vip, spec.vip_prefix, spec.vip_label);
    let (ok, detail, holder) = match holders.as_slice() {
        [] => (false, format!("no director holds {want}"), None),
        [(n, a)] => {
            let shape_ok = a.prefix == spec.vip_prefix && a.label == spec.vip_label;
            let who_ok = expected.as_deref() == Some(n.as_str());
            let detail = format!(
                "{n} holds {}/{} label {}{}{}",
                a.addr,
                a.prefix,
                a.label,
                if shape_ok {
                    String::new()
                } else {
                    format!(" (expected {want})")
                },
                if who_ok {
                    String::new()
                } else {
                    format!(" (expected {})", expected.as_deref().unwrap_or("?"))
                },
            );
            (shape_ok && who_ok, detail, Some(n.clone()))
        }
        many => (
            false,
            format!(
                "{} directors hold the VIP: {}",
                many.len(),
                many.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ),
    };
    let name = if ha {
        "vip-held-by-one-director"
    } else {
        "vip-on-director"
    };
    let blind = directors
        .iter()
        .find_map(|(n, p)| p.as_ref().ok().and_then(|s| unchecked(n, name, s, &["ip"])));
    if let Some(c) = blind {
        return (c, holder);
    }
    (
        Check::new(expected.as_deref().unwrap_or("cluster"), name, ok, detail),
        holder,
    )
}

/// The active director's IPVS table against the inventory. In ha mode keepalived removes
/// real servers that fail their health check, so `healthy` says which ones must be present.
pub fn ipvs_table(
    spec: &Spec,
    host: &str,
    probe: &BTreeMap<String, String>,
    healthy: &BTreeSet<String>,
) -> Check {
    if let Some(c) = unchecked(host, "ipvs-table", probe, &["ipvsadm"]) {
        return c;
    }
    let flag = if spec.protocol == "udp" { "-u" } else { "-t" };
    let svc =
        crate::modules::parse_saved(section(probe, "ipvs"), flag, &spec.service().to_string());
    if !svc.exists {
        return Check::new(
            host,
            "ipvs-table",
            false,
            format!(
                "no {} service {} in `ipvsadm -S -n`",
                spec.protocol,
                spec.service()
            ),
        );
    }
    let mut problems = Vec::new();
    if svc.scheduler != spec.scheduler {
        problems.push(format!(
            "scheduler {} (expected {})",
            svc.scheduler, spec.scheduler
        ));
    }
    if svc.persistence != i64::from(spec.persistence) {
        problems.push(format!(
            "persistence {} (expected {})",
            svc.persistence, spec.persistence
        ));
    }
    let method = spec.method.ipvsadm_flag();
    for rs in &spec.real_servers {
        let want = SocketAddrV4::new(rs.addr, rs.port);
        match svc.reals.get(&want.to_string()) {
            None if healthy.contains(&rs.name) => {
                problems.push(format!("{} ({want}) missing", rs.name))
            }
            None => {}
            Some((got_method, got_weight)) => {
                if got_method != method {
                    problems.push(format!(
                        "{} method {} (expected {method})",
                        rs.name, got_method
                    ));
                }
                if *got_weight != i64::from(rs.weight) {
                    problems.push(format!(
                        "{} weight {} (expected {})",
                        rs.name, got_weight, rs.weight
                    ));
                }
            }
        }
    }
    let detail = if problems.is_empty() {
        format!(
            "{} {} {} persistence {} with {} real server(s) {method}",
            spec.protocol,
            spec.service(),
            svc.scheduler,
            svc.persistence,
            svc.reals.len()
        )
    } else {
        problems.join("; ")
    };
    Check::new(host, "ipvs-table", problems.is_empty(), detail)
}

/// Per real server: ARP sysctls, VIP on lo, web server, page naming the node.
pub fn real_server(spec: &Spec, host: &str, probe: &BTreeMap<String, String>) -> Vec<Check> {
    let mut out = Vec::new();
    let sysctls: BTreeMap<&str, &str> = section(probe, "sysctl")
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    let mut bad = Vec::new();
    for dev in ["all", spec.lan_interface.as_str()] {
        for (key, want) in [("arp_ignore", "1"), ("arp_announce", "2")] {
            let k = format!("net.ipv4.conf.{dev}.{key}");
            let got = sysctls.get(k.as_str()).copied().unwrap_or("?").trim();
            if got != want {
                bad.push(format!("{k}={got} (expected {want})"));
            }
        }
    }
    // NAT real servers never see the VIP: their ARP behaviour is not LVS's concern.
    if spec.method != Method::Nat {
        out.push(Check::new(
            host,
            "arp-sysctls",
            bad.is_empty(),
            if bad.is_empty() {
                "arp_ignore=1 arp_announce=2 on all and ".to_string() + &spec.lan_interface
            } else {
                bad.join("; ")
            },
        ));
    }
    if spec.method != Method::Nat {
        out.extend(vip_on_local_dev(spec, host, probe));
    }
    let web = section(probe, "web");
    let refused = section(probe, "web_error").trim();
    let active = web.lines().find(|l| l.ends_with(" active"));
    out.push(
        unchecked(host, "web-server", probe, &["systemctl"]).unwrap_or_else(|| {
            Check::new(
                host,
                "web-server",
                active.is_some(),
                active.map(str::to_string).unwrap_or_else(|| {
                    let t = web.trim();
                    if !refused.is_empty() {
                        format!("systemctl show failed: {}", refused.replace('\n', "; "))
                    } else if t.is_empty() {
                        "neither apache2 nor httpd is installed".into()
                    } else {
                        t.replace('\n', "; ")
                    }
                }),
            )
        }),
    );
    let page = section(probe, "page");
    let named = page_names(page, &[host.to_string()]).is_some();
    out.push(
        unchecked(host, "page-names-node", probe, &["bash"]).unwrap_or_else(|| {
            Check::new(
                host,
                "page-names-node",
                named,
                if named {
                    format!("local page says \"from {host}\"")
                } else {
                    format!("local page does not name {host}: {}", snippet(page))
                },
            )
        }),
    );
    out
}

/// DR: the VIP sits on lo; TUN: on ipip's tunl0, where the decapsulated packets arrive. Never
/// on the LAN interface too (it would answer ARP).
fn vip_on_local_dev(spec: &Spec, host: &str, probe: &BTreeMap<String, String>) -> Vec<Check> {
    let (dev, name) = if spec.method == Method::Tun {
        ("tunl0", "vip-on-tunl0")
    } else {
        ("lo", "vip-on-lo")
    };
    if let Some(c) = unchecked(host, name, probe, &["ip"]) {
        return vec![c];
    }
    let addrs = parse::ip_addrs(section(probe, "addr"));
    let on_dev = addrs.iter().find(|a| a.addr == spec.vip && a.dev == dev);
    let (ok, detail) = match on_dev {
        Some(a) if a.prefix == 32 => (true, format!("{}/32 on {dev} label {}", a.addr, a.label)),
        Some(a) => (
            false,
            format!("{}/{} on {dev} (expected /32)", a.addr, a.prefix),
        ),
        None => (false, format!("{} is not on {dev}", spec.vip)),
    };
    let mut out = vec![Check::new(host, name, ok, detail)];
    if let Some(a) = addrs.iter().find(|a| a.addr == spec.vip && a.dev != dev) {
        out.push(Check::new(
            host,
            "vip-not-on-lan",
            false,
            format!("{} is on {} too: it would answer ARP", a.addr, a.dev),
        ));
    }
    out
}
/// Which of `names` a page names ("from NAME"); the longest match wins so `node1` never
/// claims `node10`'s page.
pub fn page_names<'a>(body: &str, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .filter(|n| {
            let needle = format!("from {n}");
            body.match_indices(&needle).any(|(i, _)| {
                let next = body[i + needle.len()..].chars().next();
                !next.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
            })
        })
        .max_by_key(|n| n.len())
        .map(String::as_str)
}

fn snippet(s: &str) -> String {
    let t: String = s.trim().chars().take(80).collect();
    if t.is_empty() {
        "(empty)".into()
    } else {
        t.replace('\n', " ")
    }
}

/// keepalived on each director: config valid, running, in the state the inventory gives it.
pub fn keepalived(spec: &Spec, directors: &[(String, Probe)]) -> Vec<Check> {
    let mut out = Vec::new();
    for d in &spec.directors {
        let Some(Ok(p)) = directors.iter().find(|(n, _)| *n == d.name).map(|(_, p)| p) else {
            continue;
        };
        if let Some(t) = missing_tool(p, KEEPALIVED_TOOLS) {
            out.push(not_checked(&d.name, "keepalived-config", t));
            out.push(not_checked(&d.name, "keepalived-state", t));
            continue;
        }
        let test = section(p, "keepalived_test").trim();
        let (ok, detail) = match test {
            "0" => (
                true,
                "keepalived -t accepts /etc/keepalived/keepalived.conf".to_string(),
            ),
            "unsupported" => (
                true,
                "keepalived has no -t (1.3.x): config checked by the running daemon".to_string(),
            ),
            "missing" => (
                false,
                "/etc/keepalived/keepalived.conf does not exist".to_string(),
            ),
            code => (
                false,
                format!("keepalived -t -f /etc/keepalived/keepalived.conf exited {code}"),
            ),
        };
        out.push(Check::new(&d.name, "keepalived-config", ok, detail));
        let active = section(p, "keepalived_active").trim();
        let state = section(p, "keepalived_state").trim();
        let got = state
            .strip_prefix("Entering ")
            .and_then(|s| s.strip_suffix(" STATE"))
            .unwrap_or("unknown");
        let want = d.state.as_deref().unwrap_or("BACKUP");
        let ok = active == "active" && got == want;
        out.push(Check::new(
            &d.name,
            "keepalived-state",
            ok,
            if active != "active" {
                format!("keepalived is {active}")
            } else {
                format!("{got} (expected {want})")
            },
        ));
    }
    out
}

/// What the client got from its requests to the VIP.
#[derive(Debug, Clone)]
pub struct Request {
    pub source: Option<Ipv4Addr>,
    /// The client address and port of the exchange, to find it in the director's IPVS table.
    pub local: Option<SocketAddrV4>,
    pub result: Result<(u16, String), String>,
}

/// The request checks and the distribution of answers per real server.
/// `pinned`: client source addresses that already had a persistence template on the active
/// director before the requests (earlier traffic, e.g. a failover drill): IPVS sends them where
/// the template says, not where the scheduler would.
pub fn requests(
    spec: &Spec,
    reqs: &[Request],
    pinned: &BTreeMap<Ipv4Addr, u32>,
) -> (Vec<Check>, BTreeMap<String, u32>) {
    let names: Vec<String> = spec.real_servers.iter().map(|r| r.name.clone()).collect();
    let answers = Answers::tally(reqs, &names);
    let mut checks = vec![answered(spec, reqs, &answers.failures)];
    checks.extend(persistence(spec, &answers, pinned));
    checks.extend(spread(spec, reqs.len(), &answers, pinned));
    (checks, answers.dist)
}

/// Who answered the client's requests.
struct Answers {
    /// Answers per real server (every real server listed, even with none).
    dist: BTreeMap<String, u32>,
    /// What went wrong with each failed request.
    failures: Vec<String>,
    /// The real servers that answered each client source address.
    by_source: BTreeMap<String, BTreeSet<String>>,
    /// Which real server answered each source, in order (a template running out moves it once).
    sequence: BTreeMap<String, Vec<String>>,
}

impl Answers {
    fn tally(reqs: &[Request], names: &[String]) -> Answers {
        let mut dist: BTreeMap<String, u32> = names.iter().map(|n| (n.clone(), 0)).collect();
        let mut failures = Vec::new();
        let mut by_source: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut sequence: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in reqs {
            match &r.result {
                Ok((200, body)) => match page_names(body, names) {
                    Some(n) => {
                        *dist.entry(n.to_string()).or_default() += 1;
                        let src = r
                            .source
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "default".into());
                        by_source
                            .entry(src.clone())
                            .or_default()
                            .insert(n.to_string());
                        let seq = sequence.entry(src).or_default();
                        if seq.last().map(String::as_str) != Some(n) {
                            seq.push(n.to_string());
                        }
                    }
                    None => {
                        failures.push(format!("200 from no known real server: {}", snippet(body)))
                    }
                },
                Ok((status, _)) => failures.push(format!("HTTP {status}")),
                Err(e) => failures.push(e.clone()),
            }
        }
        Answers {
            dist,
            failures,
            by_source,
            sequence,
        }
    }
}

/// Whether every request was answered 200 by a known real server.
fn answered(spec: &Spec, reqs: &[Request], failures: &[String]) -> Check {
    Check::new(
        "client",
        "requests",
        failures.is_empty() && !reqs.is_empty(),
        if failures.is_empty() {
            format!(
                "{}/{} requests to http://{}/ answered 200",
                reqs.len(),
                reqs.len(),
                spec.service()
            )
        } else {
            format!(
                "{} of {} failed: {}",
                failures.len(),
                reqs.len(),
                failures
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    )
}

/// With persistence: whether each client source address stayed on one real server, forgiving
/// a source whose template from earlier traffic ran out during the check.
fn persistence(spec: &Spec, answers: &Answers, pinned: &BTreeMap<Ipv4Addr, u32>) -> Option<Check> {
    let (by_source, sequence) = (&answers.by_source, &answers.sequence);
    let sources = by_source.len();
    if !(spec.persistence > 0 && sources > 0) {
        return None;
    }
    let template_ran_out = |s: &str| {
        sequence.get(s).is_some_and(|q| q.len() == 2)
            && s.parse::<Ipv4Addr>()
                .ok()
                .and_then(|a| pinned.get(&a))
                .is_some_and(|left| *left <= TEMPLATE_ENDING_SECS)
    };
    let expired: Vec<String> = by_source
        .iter()
        .filter(|(s, rs)| rs.len() > 1 && template_ran_out(s))
        .map(|(s, _)| s.clone())
        .collect();
    let unsticky: Vec<String> = by_source
        .iter()
        .filter(|(s, rs)| rs.len() > 1 && !template_ran_out(s))
        .map(|(s, _)| {
            // In the order answered, and what the director's table said beforehand: enough
            // to tell a template that ran out from a scheduler that ignored one.
            let order = sequence
                .get(s)
                .map(|q| q.join(" then "))
                .unwrap_or_default();
            let before = match s.parse::<Ipv4Addr>().ok().and_then(|a| pinned.get(&a)) {
                Some(left) => format!("template with {left} s left before the check"),
                None => "no template before the check".to_string(),
            };
            format!("{s} -> {order} ({before})")
        })
        .collect();
    Some(Check::new(
        "client",
        "persistence",
        unsticky.is_empty() && sources > 0,
        if unsticky.is_empty() && expired.is_empty() {
            format!("persistence {} s: each of {sources} client source address(es) stayed on one real server", spec.persistence)
        } else if unsticky.is_empty() {
            format!(
                "persistence {} s: each client source address stayed on one real server, except {} \
                 whose template from earlier traffic ran out during the check (it moved once)",
                spec.persistence,
                expired.join(", ")
            )
        } else {
            format!(
                "sources moved between real servers: {}",
                unsticky.join(", ")
            )
        },
    ))
}

/// Whether every real server with weight answered. Spreading is only promised by the
/// round-robin family, and with persistence only when there are at least as many sources as
/// real servers and none was already pinned by a template.
fn spread(
    spec: &Spec,
    sent: usize,
    answers: &Answers,
    pinned: &BTreeMap<Ipv4Addr, u32>,
) -> Option<Check> {
    let (by_source, dist) = (&answers.by_source, &answers.dist);
    let sources = by_source.len();
    let spreads = matches!(spec.scheduler.as_str(), "rr" | "wrr");
    let enough = if spec.persistence > 0 {
        sources >= spec.real_servers.len()
    } else {
        sent >= spec.real_servers.len()
    };
    if !(spreads && enough && answers.failures.is_empty()) {
        return None;
    }
    let pinned_sources = by_source
        .keys()
        .filter(|s| s.parse::<Ipv4Addr>().is_ok_and(|a| pinned.contains_key(&a)))
        .count();
    if spec.persistence > 0 && pinned_sources > 0 {
        return Some(Check::new(
            "client",
            "spread",
            true,
            format!(
                "not checked: {pinned_sources} of {sources} client source address(es) were already pinned by \
                 persistence templates from earlier traffic (ipvsadm -Lnc), so the scheduler did not place them"
            ),
        ));
    }
    let idle: Vec<&String> = spec
        .real_servers
        .iter()
        .filter(|r| r.weight > 0 && dist.get(&r.name).copied().unwrap_or(0) == 0)
        .map(|r| &r.name)
        .collect();
    Some(Check::new(
        "client",
        "spread",
        idle.is_empty(),
        if idle.is_empty() {
            format!(
                "every real server answered ({} scheduler, {} source address(es))",
                spec.scheduler,
                sources.max(1)
            )
        } else {
            format!(
                "no answer from {}",
                idle.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ))
}

/// Client addresses with a persistence template (an `ipvsadm -Lnc` entry with client port 0)
/// for the service.
/// The value: seconds the template had left.
pub fn pinned_sources(spec: &Spec, ipvs_conns: &str) -> BTreeMap<Ipv4Addr, u32> {
    parse::ipvs_conns(ipvs_conns)
        .into_iter()
        .filter(|c| c.source.port() == 0 && c.virtual_addr == spec.service())
        .map(|c| (*c.source.ip(), c.expire_secs.unwrap_or(u32::MAX)))
        .collect()
}

/// The client ports of the requests that failed.
pub fn failed_ports(reqs: &[Request]) -> Vec<SocketAddrV4> {
    reqs.iter()
        .filter(|r| r.result.is_err())
        .filter_map(|r| r.local)
        .collect()
}

/// The client ports of the requests answered by another real server than the first one that
/// answered their source (with persistence, a source should stay on one).
pub fn moved_ports(spec: &Spec, reqs: &[Request]) -> Vec<SocketAddrV4> {
    let names: Vec<String> = spec.real_servers.iter().map(|r| r.name.clone()).collect();
    let mut first: BTreeMap<Option<Ipv4Addr>, String> = BTreeMap::new();
    let mut moved = Vec::new();
    for r in reqs {
        let Ok((200, body)) = &r.result else { continue };
        let Some(n) = page_names(body, &names) else {
            continue;
        };
        let home = first.entry(r.source).or_insert_with(|| n.to_string());
        if home != n {
            moved.extend(r.local);
        }
    }
    moved
}

/// The director's IPVS entries for `ports` (client address:port), before the requests and
/// after them. A new connection that reuses the client port of an entry still in the table is
/// sent that entry's way (its real server, its forwarding method); a request that no entry
/// shows went through another director. `None` when there is no port to look up.
pub fn table_entries(ports: &[SocketAddrV4], before: &str, after: &str) -> Option<String> {
    if ports.is_empty() {
        return None;
    }
    let (before, after) = (parse::ipvs_conns(before), parse::ipvs_conns(after));
    let entries = |table: &[parse::IpvsConn], port: SocketAddrV4| {
        let found: Vec<String> = table
            .iter()
            .filter(|c| c.source == port)
            .map(|c| {
                let left = c.expire_secs.map_or("?".into(), |s| s.to_string());
                format!("{} {left} s left, to {}", c.state, c.destination)
            })
            .collect();
        if found.is_empty() {
            "none".to_string()
        } else {
            found.join(", ")
        }
    };
    Some(
        ports
            .iter()
            .take(3)
            .map(|p| {
                format!(
                    "{p} in the director's IPVS table before the requests: {}; after: {}",
                    entries(&before, *p),
                    entries(&after, *p)
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// A persistence template with at most this many seconds left may run out while verify sends
/// its requests: its source may then move, once, to wherever the scheduler puts it next.
const TEMPLATE_ENDING_SECS: u32 = 15;

/// Direct routing (or TUN/NAT forwarding) proven on held connections: the director's IPVS
/// table lists them while it has no socket for them, and the real server IPVS chose has the
/// ESTABLISHED socket.
pub fn forwarding(
    spec: &Spec,
    held: &[SocketAddrV4],
    director: &str,
    director_probe: &Probe,
    real_probes: &[(String, Probe)],
) -> Vec<Check> {
    let mut out = Vec::new();
    let Ok(dp) = director_probe else {
        let e = director_probe.as_ref().err().cloned().unwrap_or_default();
        return vec![Check::new(
            director,
            "forwarding",
            false,
            format!("could not probe: {e}"),
        )];
    };
    if held.is_empty() {
        return vec![Check::new(
            "client",
            "forwarding",
            false,
            "no connection to the VIP could be held open",
        )];
    }
    let rs_check = if spec.method == Method::Nat {
        "replies-via-director"
    } else {
        "replies-direct"
    };
    if let Some(tool) = missing_tool(dp, &["ipvsadm", "ss"]) {
        // Without the director's table no real server's sockets can be judged either.
        out.push(not_checked(director, "director-forwards-only", tool));
        out.extend(real_probes.iter().map(|(name, _)| {
            let mut c = not_checked(director, rs_check, tool);
            c.host = name.clone();
            c
        }));
        return out;
    }
    let conns = parse::ipvs_conns(section(dp, "conns"));
    let listed: Vec<&parse::IpvsConn> = conns
        .iter()
        .filter(|c| c.virtual_addr == spec.service() && held.contains(&c.source))
        .collect();
    let director_sockets = parse::ss_tcp(section(dp, "sockets"))
        .into_iter()
        .filter(|s| s.remote.is_some_and(|r| held.contains(&r)))
        .count();
    let stats = parse::service_stats(section(dp, "stats"), &spec.protocol, spec.service());
    // The service counters are shown, not judged: the kernel folds them in on a 2 s timer and
    // they accumulate across a change of forwarding method, so they lag what was just sent.
    let ok = listed.len() == held.len() && director_sockets == 0;
    out.push(Check::new(
        director,
        "director-forwards-only",
        ok,
        format!(
            "ipvsadm -Lnc lists {}/{} held connections; {} local socket(s) for them{}",
            listed.len(),
            held.len(),
            director_sockets,
            stats
                .map(|s| format!(
                    "; service counters InPkts {} OutPkts {}",
                    s.in_pkts, s.out_pkts
                ))
                .unwrap_or_default()
        ),
    ));
    let rs_by_addr: BTreeMap<Ipv4Addr, &str> = spec
        .real_servers
        .iter()
        .map(|r| (r.addr, r.name.as_str()))
        .collect();
    for (name, probe) in real_probes {
        let expected: Vec<SocketAddrV4> = listed
            .iter()
            .filter(|c| rs_by_addr.get(c.destination.ip()) == Some(&name.as_str()))
            .map(|c| c.source)
            .collect();
        out.push(match probe {
            Ok(p) => replies(spec, name, p, &expected, held, rs_check),
            Err(e) => Check::new(name, rs_check, false, format!("could not probe: {e}")),
        });
    }
    out
}

/// One real server has an ESTABLISHED socket for each held connection IPVS sent it (`expected`).
fn replies(
    spec: &Spec,
    name: &str,
    p: &BTreeMap<String, String>,
    expected: &[SocketAddrV4],
    held: &[SocketAddrV4],
    check: &'static str,
) -> Check {
    if let Some(c) = unchecked(name, check, p, &["ss"]) {
        return c;
    }
    let local_ok = |local: SocketAddrV4| match spec.method {
        Method::Nat => {
            local.port()
                == spec
                    .real_servers
                    .iter()
                    .find(|r| r.name == name)
                    .map(|r| r.port)
                    .unwrap_or(spec.port)
        }
        Method::Dr | Method::Tun => local == spec.service(),
    };
    let established: BTreeSet<SocketAddrV4> = parse::ss_tcp(section(p, "sockets"))
        .into_iter()
        .filter(|s| s.state == "ESTABLISHED" && local_ok(s.local))
        .filter_map(|s| s.remote.filter(|r| held.contains(r)))
        .collect();
    let missing: Vec<String> = expected
        .iter()
        .filter(|c| !established.contains(c))
        .map(|c| c.to_string())
        .collect();
    let local = match spec.method {
        Method::Nat => "its own address".to_string(),
        _ => spec.service().to_string(),
    };
    Check::new(
        name,
        check,
        missing.is_empty(),
        if missing.is_empty() {
            format!(
                "{} ESTABLISHED socket(s) from the client to {local}, as IPVS scheduled",
                established.len()
            )
        } else {
            format!(
                "IPVS sent {} here but no ESTABLISHED socket to {local}",
                missing.join(", ")
            )
        },
    )
}

/// ARP: the client resolved the VIP to the active director's MAC, and no real server MAC
/// answered.
pub fn arp(
    resolved: &[String],
    holder: Option<(&str, &str)>,
    real_macs: &[(String, String)],
) -> Check {
    let rs_answers: Vec<&str> = real_macs
        .iter()
        .filter(|(_, m)| resolved.contains(m))
        .map(|(n, _)| n.as_str())
        .collect();
    let (ok, detail) = match (resolved, holder) {
        (_, _) if !rs_answers.is_empty() => (
            false,
            format!(
                "real server(s) answered ARP for the VIP: {}",
                rs_answers.join(", ")
            ),
        ),
        ([], _) => (false, "nobody answered ARP for the VIP".to_string()),
        ([one], Some((name, mac))) if one == mac => {
            (true, format!("VIP resolves to {mac} ({name}) only"))
        }
        (many, Some((name, mac))) => (
            false,
            format!(
                "VIP resolves to {} (expected only {mac} of {name})",
                many.join(", ")
            ),
        ),
        (many, None) => (
            false,
            format!(
                "VIP resolves to {} but no director holds it",
                many.join(", ")
            ),
        ),
    };
    Check::new("client", "arp", ok, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::spec::{Director, RealServer};

    fn spec() -> Spec {
        Spec {
            vip: Ipv4Addr::new(10, 9, 0, 50),
            vip_prefix: 24,
            vip_label: "eth7:8".into(),
            lo_label: "lo:3".into(),
            port: 80,
            protocol: "tcp".into(),
            scheduler: "rr".into(),
            method: Method::Dr,
            persistence: 50,
            lan_interface: "eth7".into(),
            client_addrs: vec![],
            directors: vec![
                Director {
                    name: "lb-a".into(),
                    addr: Ipv4Addr::new(10, 9, 0, 2),
                    state: Some("MASTER".into()),
                    priority: Some(100),
                },
                Director {
                    name: "lb-b".into(),
                    addr: Ipv4Addr::new(10, 9, 0, 3),
                    state: Some("BACKUP".into()),
                    priority: Some(50),
                },
            ],
            real_servers: vec![
                RealServer {
                    name: "web-1".into(),
                    addr: Ipv4Addr::new(10, 9, 0, 11),
                    port: 80,
                    weight: 1,
                },
                RealServer {
                    name: "web-10".into(),
                    addr: Ipv4Addr::new(10, 9, 0, 12),
                    port: 80,
                    weight: 1,
                },
            ],
        }
    }

    fn probe(pairs: &[(&str, &str)]) -> Probe {
        Ok(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    #[test]
    fn vip_holder_requires_exactly_the_master() {
        let s = spec();
        let held = "2: eth7    inet 10.9.0.50/24 scope global secondary eth7:8\\ x\n";
        let dirs = vec![
            ("lb-a".to_string(), probe(&[("addr", held)])),
            ("lb-b".to_string(), probe(&[("addr", "")])),
        ];
        let (c, h) = vip_holder(&s, &dirs, true);
        assert!(c.ok, "{c:?}");
        assert_eq!(h.as_deref(), Some("lb-a"));
        let both = vec![
            ("lb-a".to_string(), probe(&[("addr", held)])),
            ("lb-b".to_string(), probe(&[("addr", held)])),
        ];
        assert!(!vip_holder(&s, &both, true).0.ok);
        let wrong = vec![
            ("lb-a".to_string(), probe(&[("addr", "")])),
            ("lb-b".to_string(), probe(&[("addr", held)])),
        ];
        let (c, _) = vip_holder(&s, &wrong, true);
        assert!(!c.ok);
        assert!(c.detail.contains("expected lb-a"), "{}", c.detail);
    }

    #[test]
    fn ipvs_table_names_each_difference() {
        let s = spec();
        let p = probe(&[(
            "ipvs",
            "-A -t 10.9.0.50:80 -s wlc\n-a -t 10.9.0.50:80 -r 10.9.0.11:80 -m -w 2\n",
        )])
        .unwrap();
        let healthy: BTreeSet<String> = ["web-1", "web-10"].map(String::from).into();
        let c = ipvs_table(&s, "lb-a", &p, &healthy);
        assert!(!c.ok);
        assert_eq!(c.detail, "scheduler wlc (expected rr); persistence 0 (expected 50); web-1 method -m (expected -g); web-1 weight 2 (expected 1); web-10 (10.9.0.12:80) missing");
    }

    #[test]
    fn page_names_prefers_the_exact_node() {
        let names = vec!["web-1".to_string(), "web-10".to_string()];
        assert_eq!(page_names("<h1>from web-10</h1>", &names), Some("web-10"));
        assert_eq!(page_names("<h1>from web-1</h1>", &names), Some("web-1"));
        assert_eq!(page_names("<h1>from web-2</h1>", &names), None);
    }

    #[test]
    fn requests_check_stickiness_and_spread() {
        let s = spec();
        let a = Some(Ipv4Addr::new(10, 9, 0, 1));
        let b = Some(Ipv4Addr::new(10, 9, 0, 200));
        let ok = |src, n: &str| Request {
            source: src,
            local: None,
            result: Ok((200, format!("from {n}"))),
        };
        let (checks, dist) = requests(
            &s,
            &[ok(a, "web-1"), ok(b, "web-10"), ok(a, "web-1")],
            &BTreeMap::new(),
        );
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        assert_eq!(dist["web-1"], 2);
        let (checks, _) = requests(&s, &[ok(a, "web-1"), ok(a, "web-10")], &BTreeMap::new());
        let p = checks.iter().find(|c| c.name == "persistence").unwrap();
        assert!(!p.ok);
        let (checks, _) = requests(
            &s,
            &[Request {
                source: a,
                local: None,
                result: Err("timed out".into()),
            }],
            &BTreeMap::new(),
        );
        assert!(!checks[0].ok);
    }

    #[test]
    fn failed_and_moved_ports_are_looked_up_in_the_directors_table() {
        let port: SocketAddrV4 = "10.9.0.1:40100".parse().unwrap();
        let failed = Request {
            source: Some(*port.ip()),
            local: Some(port),
            result: Err("timed out".into()),
        };
        let before = "IPVS connection entries
pro expire state       source             virtual            destination
TCP 01:40  FIN_WAIT    10.9.0.1:40100     10.9.0.100:80      10.9.0.12:80
TCP 00:50  FIN_WAIT    10.9.0.1:40102     10.9.0.100:80      10.9.0.13:80
";
        let ports = failed_ports(std::slice::from_ref(&failed));
        assert_eq!(ports, [port]);
        let seen = table_entries(&ports, before, "").unwrap();
        assert!(
            seen.contains("10.9.0.1:40100 in the director's IPVS table before the requests: FIN_WAIT 100 s left, to 10.9.0.12:80; after: none"),
            "{seen}"
        );
        assert_eq!(table_entries(&[], before, before), None);
        // With persistence a source stays on the first real server that answered it.
        let answered = |n: &str, p: u16| Request {
            source: Some(*port.ip()),
            local: Some(SocketAddrV4::new(*port.ip(), p)),
            result: Ok((200, format!("from {n}"))),
        };
        let reqs = [
            answered("web-1", 1),
            answered("web-10", 2),
            answered("web-1", 3),
        ];
        assert_eq!(
            moved_ports(&spec(), &reqs),
            [SocketAddrV4::new(*port.ip(), 2)]
        );
    }

    #[test]
    fn spread_is_not_judged_on_sources_pinned_by_earlier_templates() {
        let s = spec();
        let a = Ipv4Addr::new(10, 9, 0, 1);
        let b = Ipv4Addr::new(10, 9, 0, 2);
        let reqs: Vec<Request> = [a, b]
            .into_iter()
            .map(|src| Request {
                source: Some(src),
                local: None,
                result: Ok((200, "from web-1".into())),
            })
            .collect();
        let spread = |pinned: &BTreeMap<Ipv4Addr, u32>| {
            requests(&s, &reqs, pinned)
                .0
                .into_iter()
                .find(|c| c.name == "spread")
                .unwrap()
        };
        assert!(!spread(&BTreeMap::new()).ok, "web-10 idle");
        let skipped = spread(&[(a, 50)].into());
        assert!(
            skipped.ok && skipped.detail.starts_with("not checked: 1 of 2"),
            "{skipped:?}"
        );
    }

    /// A source whose template was about to run out may move once; otherwise moving fails.
    #[test]
    fn a_template_running_out_may_move_a_source_once() {
        let s = spec();
        let a = Ipv4Addr::new(10, 9, 0, 1);
        let reqs: Vec<Request> = ["web-1", "web-1", "web-10", "web-10"]
            .into_iter()
            .map(|n| Request {
                source: Some(a),
                local: None,
                result: Ok((200, format!("from {n}"))),
            })
            .collect();
        let persistence = |pinned: &BTreeMap<Ipv4Addr, u32>, reqs: &[Request]| {
            requests(&s, reqs, pinned)
                .0
                .into_iter()
                .find(|c| c.name == "persistence")
                .unwrap()
        };
        let ok = persistence(&[(a, 3)].into(), &reqs);
        assert!(ok.ok && ok.detail.contains("ran out"), "{ok:?}");
        assert!(
            !persistence(&[(a, 40)].into(), &reqs).ok,
            "40 s left: no excuse"
        );
        assert!(
            !persistence(&BTreeMap::new(), &reqs).ok,
            "no template: no excuse"
        );
        let mut back = reqs.clone();
        back.push(Request {
            source: Some(a),
            local: None,
            result: Ok((200, "from web-1".into())),
        });
        assert!(
            !persistence(&[(a, 3)].into(), &back).ok,
            "moving twice is not a template running out"
        );
    }

    /// Persistence templates (client port 0) on the active director, by client address.
    #[test]
    fn pinned_sources_are_read_from_templates() {
        let s = spec();
        let text = "TCP 00:57  NONE        10.9.0.1:0    10.9.0.50:80  10.9.0.11:80\n\
TCP 00:57  NONE        10.9.0.7:0    10.9.0.99:80  10.9.0.11:80\n\
TCP 01:57  ESTABLISHED 10.9.0.2:50312 10.9.0.50:80  10.9.0.11:80\n";
        let got = pinned_sources(&s, text);
        assert_eq!(got, [(Ipv4Addr::new(10, 9, 0, 1), 57)].into());
    }

    #[test]
    fn forwarding_proves_direct_routing() {
        let s = spec();
        let c1: SocketAddrV4 = "10.9.0.1:40000".parse().unwrap();
        let dp = probe(&[
            (
                "conns",
                "TCP 14:59 ESTABLISHED 10.9.0.1:40000 10.9.0.50:80 10.9.0.12:80\n",
            ),
            ("sockets", "ESTAB 0 0 10.9.0.2:22 10.9.0.1:5000\n"),
            ("stats", "TCP  10.9.0.50:80  1  5  0  300  0\n"),
        ]);
        let rs = vec![
            ("web-1".to_string(), probe(&[("sockets", "")])),
            (
                "web-10".to_string(),
                probe(&[(
                    "sockets",
                    "ESTAB 0 0 [::ffff:10.9.0.50]:80 [::ffff:10.9.0.1]:40000\n",
                )]),
            ),
        ];
        let checks = forwarding(&s, &[c1], "lb-a", &dp, &rs);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
        let rs_missing = vec![("web-10".to_string(), probe(&[("sockets", "")]))];
        let checks = forwarding(&s, &[c1], "lb-a", &dp, &rs_missing);
        assert!(!checks[1].ok);
    }

    /// A probe whose program is missing never passes: it says what was not checked, and where.
    #[test]
    fn a_refused_systemctl_fails_the_web_check_with_its_reason() {
        let p = probe(&[
            ("web", ""),
            ("web_error", "Failed to connect to bus: Permission denied\n"),
        ])
        .unwrap();
        let cs = real_server(&spec(), "web-1", &p);
        let web = cs.iter().find(|c| c.name == "web-server").unwrap();
        assert!(!web.ok);
        assert_eq!(
            web.detail,
            "systemctl show failed: Failed to connect to bus: Permission denied"
        );
    }

    #[test]
    fn missing_programs_fail_as_not_checked() {
        let s = spec();
        let c1: SocketAddrV4 = "10.9.0.1:40000".parse().unwrap();
        let blind = probe(&[("missing", "ss\n"), ("conns", ""), ("sockets", "")]);
        let rs = vec![("web-10".to_string(), probe(&[("sockets", "")]))];
        let checks = forwarding(&s, &[c1], "lb-a", &blind, &rs);
        assert_eq!(checks.len(), 2, "{checks:?}");
        assert!(checks.iter().all(|c| !c.ok), "{checks:?}");
        assert_eq!(checks[0].detail, "not checked: ss missing on lb-a");
        assert_eq!(checks[1].host, "web-10");
        let rs_blind = vec![(
            "web-10".to_string(),
            probe(&[("missing", "ss\n"), ("sockets", "sh: 1: ss: not found\n")]),
        )];
        let seen = probe(&[(
            "conns",
            "TCP 14:59 ESTABLISHED 10.9.0.1:40000 10.9.0.50:80 10.9.0.12:80\n",
        )]);
        let checks = forwarding(&s, &[c1], "lb-a", &seen, &rs_blind);
        assert_eq!(checks[1].detail, "not checked: ss missing on web-10");
        assert!(!checks[1].ok);

        let healthy = BTreeSet::new();
        let p = probe(&[
            ("missing", "ipvsadm\n"),
            ("ipvs", "sh: ipvsadm: not found\n"),
        ])
        .unwrap();
        let c = ipvs_table(&s, "lb-a", &p, &healthy);
        assert!(!c.ok);
        assert_eq!(c.detail, "not checked: ipvsadm missing on lb-a");

        let p = probe(&[
            ("missing", "bash\n"),
            ("web", "apache2 active\n"),
            ("addr", "1: lo    inet 10.9.0.50/32 scope global lo:3\\ x\n"),
            ("page", "from web-1"),
        ])
        .unwrap();
        let cs = real_server(&s, "web-1", &p);
        let page = cs.iter().find(|c| c.name == "page-names-node").unwrap();
        assert!(!page.ok);
        assert_eq!(page.detail, "not checked: bash missing on web-1");
        assert!(cs.iter().find(|c| c.name == "web-server").unwrap().ok);

        let dirs = vec![(
            "lb-a".to_string(),
            probe(&[("missing", "journalctl\n"), ("keepalived_test", "0\n")]),
        )];
        let cs = keepalived(&s, &dirs);
        assert!(cs
            .iter()
            .all(|c| !c.ok && c.detail == "not checked: journalctl missing on lb-a"));
        let (c, _) = vip_holder(
            &s,
            &[("lb-a".to_string(), probe(&[("missing", "ip\n")]))],
            true,
        );
        assert_eq!(c.detail, "not checked: ip missing on lb-a");
    }

    #[test]
    fn arp_accepts_only_the_holder() {
        let rs = vec![("web-1".to_string(), "52:54:00:00:00:0b".to_string())];
        assert!(
            arp(
                &["52:54:00:00:00:01".into()],
                Some(("lb-a", "52:54:00:00:00:01")),
                &rs
            )
            .ok
        );
        assert!(
            !arp(
                &["52:54:00:00:00:0b".into()],
                Some(("lb-a", "52:54:00:00:00:01")),
                &rs
            )
            .ok
        );
        assert!(!arp(&[], Some(("lb-a", "52:54:00:00:00:01")), &rs).ok);
    }
}
