//! The persistence check with a clock: one client source address sticks to one real server
//! while its template lives, and once the template has expired its next connection is
//! scheduled afresh.
//!
//! IPVS keeps persistence in a template entry (`ipvsadm -Lnc`: state NONE, client port 0) whose
//! timer restarts at every connection it places. The kernel does not let a template expire
//! while connections it controls are still in the table: when its timer fires with one left it
//! is re-armed for another 60 s. A connection closed the ordinary way stays there for up to two
//! minutes (FIN_WAIT, TIME_WAIT), so this check ends its connections with a reset (CLOSE state,
//! seconds), reads the template's timer and its connections' from the active director's table,
//! and waits only when what it read says the template leaves within [`MOST_WAIT`] seconds.
//! It changes nothing on the director (no timeout of IPVS's is touched).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::checks::{page_names, Check, Probe};
use super::http;
use super::parse::ipvs_conns;
use super::spec::Spec;
use crate::ssh::Transport;

/// The check's name in verify's table.
pub const NAME: &str = "persistence-expiry";

/// Longest verify waits for a template to expire: a persistence timeout above it is not judged
/// (the `persistence` row still covers stickiness).
pub const MOST_WAIT: u32 = 20;

/// How to have expiry judged, in words.
const HOW: &str = "Expiry is judged with a persistence timeout the check can wait for: above the \
     10 s the director keeps a reset connection's entry (a template outlived by a connection it \
     controls lasts 60 s more) and at most 20 s, e.g. -e lvs_persistence_timeout=13 for setup \
     and verify";

/// Connections opened while the template lives: each must land where the first did.
const STICKY: usize = 3;

/// The kernel re-arms a template that still controls connections for this long.
const REARM_SECS: u32 = 60;

/// How much later than its timer said a template may leave the table (the table's seconds are
/// whole, the VMs' clocks and the probes' round trips are not exact).
const SLACK_SECS: u64 = 4;

/// Timeout of one client operation.
const STEP: Duration = Duration::from_secs(3);

/// Whether the check needs a client source address of its own (when it waits for a template
/// and there are `sources` to choose from).
pub(crate) fn keeps_a_source(spec: &Spec, sources: usize) -> bool {
    waits(spec) && sources > 1
}

/// Whether the check makes traffic and waits: TCP, persistence on and not above [`MOST_WAIT`].
fn waits(spec: &Spec) -> bool {
    spec.protocol == "tcp" && spec.persistence > 0 && spec.persistence <= MOST_WAIT
}

/// What the director's table says about one client source address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// The template: seconds left and the real server it names.
    template: Option<(u32, SocketAddrV4)>,
    /// The connections it controls: client port, state and seconds left.
    controlled: Vec<(u16, String, u32)>,
}

impl Seen {
    fn read(table: &str, service: SocketAddrV4, source: Ipv4Addr) -> Seen {
        let mine: Vec<_> = ipvs_conns(table)
            .into_iter()
            .filter(|c| c.virtual_addr == service && *c.source.ip() == source)
            .collect();
        Seen {
            template: mine
                .iter()
                .find(|c| c.source.port() == 0)
                .map(|c| (c.expire_secs.unwrap_or(u32::MAX), c.destination)),
            controlled: mine
                .iter()
                .filter(|c| c.source.port() != 0)
                .map(|c| {
                    let left = c.expire_secs.unwrap_or(u32::MAX);
                    (c.source.port(), c.state.clone(), left)
                })
                .collect(),
        }
    }

    /// Only the connections on these client ports: the check's own, certainly the template's.
    /// Older entries of the address may be the template's too (when it is older than they are)
    /// or no template's (made while persistence was off): the wait tells, as the kernel re-arms
    /// a template that still controls one.
    fn only(mut self, ports: &[u16]) -> Seen {
        self.controlled.retain(|(p, _, _)| ports.contains(p));
        self
    }

    /// The connections in words: `2 (CLOSE ≤ 9 s)`.
    fn controlled_words(&self) -> String {
        let last = self
            .controlled
            .iter()
            .map(|(_, _, e)| *e)
            .max()
            .unwrap_or(0);
        let mut states: Vec<&str> = self.controlled.iter().map(|(_, s, _)| s.as_str()).collect();
        states.sort();
        states.dedup();
        format!(
            "{} connection entr{} ({}, the last gone in {last} s)",
            self.controlled.len(),
            if self.controlled.len() == 1 {
                "y"
            } else {
                "ies"
            },
            states.join(", ")
        )
    }
}

/// Seconds from the reading until the template leaves the table: its own timer, or, when
/// connections it controls outlive that, the kernel's re-arms until none is left.
fn leaves_after(template: u32, last_controlled: Option<u32>) -> u32 {
    match last_controlled {
        Some(c) if c >= template => {
            let rearms = (c - template) / REARM_SECS + 1;
            template.saturating_add(rearms.saturating_mul(REARM_SECS))
        }
        _ => template,
    }
}

/// What the first connections showed: the real server they stuck to, and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stuck {
    server: String,
    /// Seconds from the table's reading until the template should be gone.
    wait: u32,
}

/// Judge the connections made while the template lives (`answered`: the real server of each,
/// or why none) against the table read right after them.
fn judge_sticky(
    spec: &Spec,
    source: Ipv4Addr,
    answered: &[Result<String, String>],
    seen: &Seen,
) -> Result<Stuck, String> {
    let mut servers = Vec::new();
    for (i, a) in answered.iter().enumerate() {
        match a {
            Ok(s) => servers.push(s.as_str()),
            Err(e) => return Err(format!("connection {} from {source} failed: {e}", i + 1)),
        }
    }
    let first = servers.first().copied().unwrap_or_default();
    if servers.iter().any(|s| *s != first) {
        return Err(format!(
            "not sticky: {} connections from {source} within persistence {} s went to {}",
            servers.len(),
            spec.persistence,
            servers.join(" then ")
        ));
    }
    let Some((left, dest)) = seen.template else {
        return Err(format!(
            "no persistence template for {source} in the director's table (ipvsadm -Lnc) after \
             its connections, though persistence {} s is configured",
            spec.persistence
        ));
    };
    let named = spec
        .real_servers
        .iter()
        .find(|r| SocketAddrV4::new(r.addr, r.port) == dest)
        .map(|r| r.name.as_str());
    if named != Some(first) {
        return Err(format!(
            "the template for {source} names {dest}, the connections went to {first}"
        ));
    }
    if left > spec.persistence + 1 {
        return Err(format!(
            "the template for {source} has {left} s left right after its last connection: \
             the director keeps it longer than the configured persistence {} s",
            spec.persistence
        ));
    }
    let last = seen.controlled.iter().map(|(_, _, e)| *e).max();
    Ok(Stuck {
        server: first.to_string(),
        wait: leaves_after(left, last),
    })
}

/// Judge the connection made once the template had gone: a new template, its timer full.
fn judge_fresh(
    spec: &Spec,
    source: Ipv4Addr,
    answered: &Result<String, String>,
    seen: &Seen,
) -> Result<String, String> {
    let server = answered
        .as_ref()
        .map_err(|e| format!("the connection from {source} after expiry failed: {e}"))?;
    match seen.template {
        Some((left, _)) if left > spec.persistence + 1 => Err(format!(
            "after expiry the new template for {source} has {left} s left: the director \
             keeps it longer than the configured persistence {} s",
            spec.persistence
        )),
        Some((left, _)) if left + 2 >= spec.persistence => Ok(server.clone()),
        Some((left, _)) => Err(format!(
            "after expiry the template for {source} has only {left} s left of {} s: the \
             connection was not scheduled afresh",
            spec.persistence
        )),
        None => Err(format!(
            "no new template for {source} after its connection to {server}: persistence \
             is no longer applied"
        )),
    }
}

/// How the check reaches the active director and the client side.
pub(crate) struct Reach<'a> {
    pub(crate) director: &'a str,
    pub(crate) transport: Result<&'a dyn Transport, String>,
    /// The lab's network namespace, where the client addresses live.
    pub(crate) ns: Option<&'a str>,
    /// The client's source addresses (`None`: the kernel's choice).
    pub(crate) sources: &'a [Option<Ipv4Addr>],
    /// The director's `ipvsadm -Lnc` before any client traffic.
    pub(crate) table: &'a str,
}

/// The check, and the director's table as last read (later phases judge persistence against
/// the templates it holds). `None` when persistence is off: no row, no traffic.
pub(crate) async fn check(spec: &Spec, reach: &Reach<'_>) -> Option<(Check, Option<String>)> {
    if spec.persistence == 0 {
        return None;
    }
    let row = |ok: bool, detail: String| Check::new("client", NAME, ok, detail);
    if spec.protocol != "tcp" {
        let why = format!(
            "the check opens TCP connections and the service is {}",
            spec.protocol
        );
        return Some((row(true, format!("not judged: {why}")), None));
    }
    if spec.persistence > MOST_WAIT {
        return Some((
            row(
                true,
                format!(
                    "not judged: persistence {} s is longer than verify waits for a template \
                     to expire ({MOST_WAIT} s); stickiness is the `persistence` row's. {HOW}",
                    spec.persistence
                ),
            ),
            None,
        ));
    }
    let mut last_table = None;
    let result = run(spec, reach, &mut last_table).await;
    let check = match result {
        Ok(Outcome::Judged(detail)) => row(true, detail),
        Ok(Outcome::NotJudged(detail)) => row(true, format!("not judged: {detail}")),
        Err(e) => row(false, e),
    };
    Some((check, last_table))
}

enum Outcome {
    Judged(String),
    NotJudged(String),
}

/// The three steps: connections while the template lives, the wait, one connection after.
async fn run(
    spec: &Spec,
    reach: &Reach<'_>,
    last_table: &mut Option<String>,
) -> Result<Outcome, String> {
    let service = spec.service();
    let source = pick_source(reach.sources, reach.table, service);
    let answered = requests(spec, reach, source, STICKY).await?;
    let addr = source
        .or_else(|| answered.first().and_then(|(l, _)| l.map(|l| *l.ip())))
        .ok_or_else(|| {
            "no connection got as far as a client address: nothing to look up".to_string()
        })?;
    let read_at = Instant::now();
    let table = director_table(reach).await?;
    let ours: Vec<u16> = answered
        .iter()
        .filter_map(|(l, _)| l.map(|l| l.port()))
        .collect();
    let seen = Seen::read(&table, service, addr).only(&ours);
    let pages: Vec<Result<String, String>> = answered.into_iter().map(|(_, a)| a).collect();
    let stuck = judge_sticky(spec, addr, &pages, &seen)?;
    let before = format!(
        "{STICKY} connections from {addr} all went to {} (template {} s, {})",
        stuck.server,
        seen.template.map_or(0, |t| t.0),
        seen.controlled_words()
    );
    if stuck.wait > MOST_WAIT {
        *last_table = Some(table);
        return Ok(Outcome::NotJudged(format!(
            "{before}; the template would leave the table only in {} s (the kernel keeps a \
             template while connections it controls are listed, re-arming it for {REARM_SECS} s), \
             longer than verify waits ({MOST_WAIT} s). {HOW}",
            stuck.wait
        )));
    }
    let gone_after = match wait_until_gone(reach, service, addr, read_at, stuck.wait).await? {
        Gone::After(secs) => secs,
        Gone::Rearmed(why) => {
            return Ok(Outcome::NotJudged(format!("{before}; {why}. {HOW}")));
        }
    };
    let answered = requests(spec, reach, Some(addr), 1).await?;
    let table = director_table(reach).await?;
    let seen = Seen::read(&table, service, addr);
    *last_table = Some(table);
    let fresh = judge_fresh(spec, addr, &answered[0].1, &seen)?;
    Ok(Outcome::Judged(format!(
        "persistence {} s: {before}; the template left the table {gone_after} s after that \
         reading (its timer said {} s); the next connection was scheduled afresh, a new \
         template of {} s to {fresh}",
        spec.persistence,
        stuck.wait,
        seen.template.map_or(0, |t| t.0)
    )))
}

/// A client source address with no entry for the service in the director's table (earlier
/// traffic's connections would keep its template alive), else the first.
fn pick_source(
    sources: &[Option<Ipv4Addr>],
    table: &str,
    service: SocketAddrV4,
) -> Option<Ipv4Addr> {
    let busy: Vec<Ipv4Addr> = ipvs_conns(table)
        .into_iter()
        .filter(|c| c.virtual_addr == service)
        .map(|c| *c.source.ip())
        .collect();
    sources
        .iter()
        .flatten()
        .find(|s| !busy.contains(s))
        .copied()
        .or_else(|| sources.first().copied().flatten())
}

/// `count` requests from `source`, each ended by a reset, on a thread in the lab's namespace
/// when there is one: the client address of each and the real server its page names.
async fn requests(
    spec: &Spec,
    reach: &Reach<'_>,
    source: Option<Ipv4Addr>,
    count: usize,
) -> Result<Vec<(Option<SocketAddrV4>, Result<String, String>)>, String> {
    let (ns, service) = (reach.ns.map(str::to_string), spec.service());
    let names: Vec<String> = spec.real_servers.iter().map(|r| r.name.clone()).collect();
    let avoid: Vec<SocketAddrV4> = ipvs_conns(reach.table)
        .into_iter()
        .map(|c| c.source)
        .filter(|s| s.port() != 0)
        .collect();
    let work = move || {
        http::avoid_ports(avoid);
        (0..count)
            .map(|_| match http::get_then_reset(source, service, STEP) {
                Ok(r) => (r.local, page_server(&r, &names)),
                Err(e) => (e.local(), Err(e.to_string())),
            })
            .collect::<Vec<_>>()
    };
    let joined = tokio::task::spawn_blocking(move || match ns {
        Some(ns) => crate::lab::netns::in_netns(&ns, work).map_err(|e| e.to_string()),
        None => Ok(work()),
    })
    .await
    .map_err(|e| e.to_string())?;
    joined
}

/// The real server a page names.
fn page_server(r: &http::Response, names: &[String]) -> Result<String, String> {
    if r.status != 200 {
        return Err(format!("HTTP {}", r.status));
    }
    page_names(&r.body, names)
        .map(str::to_string)
        .ok_or_else(|| "the page names no real server".to_string())
}

/// The active director's `ipvsadm -Lnc`, or why it could not be read.
async fn director_table(reach: &Reach<'_>) -> Result<String, String> {
    let t = reach
        .transport
        .as_ref()
        .map_err(|e| format!("not checked: {}: {e}", reach.director))?;
    let p: Probe = match t.exec(&super::probe::director_during_traffic(), None).await {
        Ok(o) => Ok(crate::facts::sections(&o.stdout_str())),
        Err(e) => Err(e.to_string()),
    };
    let p = p.map_err(|e| format!("not checked: {}: {e}", reach.director))?;
    let missing = p.get("missing").map(|m| m.trim()).unwrap_or_default();
    if missing.split_whitespace().any(|t| t == "ipvsadm") {
        return Err(format!(
            "not checked: ipvsadm missing on {}",
            reach.director
        ));
    }
    Ok(p.get("conns").cloned().unwrap_or_default())
}

/// How the template left, or why it did not.
enum Gone {
    /// Seconds from the reading to the first table without it.
    After(u64),
    /// The kernel gave it another 60 s: older connections of the address are its too.
    Rearmed(String),
}

/// Wait until the template's timer (read at `read_at`) has run out, then read the table until
/// the template is gone.
async fn wait_until_gone(
    reach: &Reach<'_>,
    service: SocketAddrV4,
    source: Ipv4Addr,
    read_at: Instant,
    wait: u32,
) -> Result<Gone, String> {
    let due = read_at + Duration::from_secs(u64::from(wait));
    tokio::time::sleep_until(due.into()).await;
    let deadline = due + Duration::from_secs(SLACK_SECS);
    loop {
        let table = director_table(reach).await?;
        let seen = Seen::read(&table, service, source);
        let Some((left, _)) = seen.template else {
            return Ok(Gone::After(read_at.elapsed().as_secs()));
        };
        if u64::from(left) > SLACK_SECS + 1 {
            return Ok(Gone::Rearmed(format!(
                "when its timer ran out the kernel kept the template another {left} s: \
                 connections of {source} from before the check are its too ({})",
                seen.controlled_words()
            )));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the template for {source} is still in the director's table {} s after its \
                 timer said {wait} s ({} s left now, {})",
                read_at.elapsed().as_secs(),
                seen.template.map_or(0, |t| t.0),
                seen.controlled_words()
            ));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::schedulers::tests::spec;

    fn sticky_spec(persistence: u32) -> Spec {
        let mut s = spec("rr", [1, 1]);
        s.persistence = persistence;
        s
    }

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

    fn table(lines: &[&str]) -> String {
        let mut t = String::from(
            "IPVS connection entries\npro expire state       source             virtual            destination\n",
        );
        for l in lines {
            t.push_str(l);
            t.push('\n');
        }
        t
    }

    #[test]
    fn the_table_is_read_per_source() {
        let t = table(&[
            "TCP 00:12  NONE        10.77.0.1:0        10.77.0.50:80      10.77.0.31:80",
            "TCP 00:09  CLOSE       10.77.0.1:40001    10.77.0.50:80      10.77.0.31:80",
            "TCP 01:59  FIN_WAIT    10.77.0.2:40002    10.77.0.50:80      10.77.0.32:80",
        ]);
        let seen = Seen::read(&t, "10.77.0.50:80".parse().unwrap(), SRC);
        assert_eq!(seen.template, Some((12, "10.77.0.31:80".parse().unwrap())));
        assert_eq!(seen.controlled, vec![(40001, "CLOSE".to_string(), 9)]);
        assert!(seen.only(&[40002]).controlled.is_empty());
    }

    #[test]
    fn the_advice_names_the_longest_wait() {
        assert!(HOW.contains(&format!("at most {MOST_WAIT} s")), "{HOW}");
    }

    #[test]
    fn connections_that_outlive_the_template_rearm_it() {
        assert_eq!(leaves_after(12, Some(9)), 12);
        assert_eq!(leaves_after(12, None), 12);
        // A reset connection (CLOSE, 10 s) outlives a 3 s template: 60 s more.
        assert_eq!(leaves_after(3, Some(9)), 63);
        // A closed one (FIN_WAIT, two minutes): re-armed twice.
        assert_eq!(leaves_after(12, Some(119)), 132);
    }

    #[test]
    fn sticky_connections_are_judged_against_the_template() {
        let s = sticky_spec(12);
        let web1 = |n: usize| vec![Ok("web-1".to_string()); n];
        let t = table(&[
            "TCP 00:12  NONE        10.77.0.1:0        10.77.0.50:80      10.77.0.31:80",
            "TCP 00:09  CLOSE       10.77.0.1:40001    10.77.0.50:80      10.77.0.31:80",
        ]);
        let seen = Seen::read(&t, s.service(), SRC);
        assert_eq!(
            judge_sticky(&s, SRC, &web1(3), &seen),
            Ok(Stuck {
                server: "web-1".into(),
                wait: 12
            })
        );
        let moved = vec![Ok("web-1".to_string()), Ok("web-2".to_string())];
        assert!(judge_sticky(&s, SRC, &moved, &seen)
            .unwrap_err()
            .starts_with("not sticky: 2 connections from 10.77.0.1 within persistence 12 s"));
        // The director keeps templates longer than the inventory says.
        let long = Seen::read(
            &table(&["TCP 00:40  NONE  10.77.0.1:0  10.77.0.50:80  10.77.0.31:80"]),
            s.service(),
            SRC,
        );
        assert!(judge_sticky(&s, SRC, &web1(3), &long)
            .unwrap_err()
            .contains("has 40 s left"));
        // No persistence on the director.
        let none = Seen::read(&table(&[]), s.service(), SRC);
        assert!(judge_sticky(&s, SRC, &web1(3), &none)
            .unwrap_err()
            .starts_with("no persistence template for 10.77.0.1"));
        // The template names the other server.
        let other = Seen::read(
            &table(&["TCP 00:12  NONE  10.77.0.1:0  10.77.0.50:80  10.77.0.32:80"]),
            s.service(),
            SRC,
        );
        assert!(judge_sticky(&s, SRC, &web1(3), &other).is_err());
    }

    #[test]
    fn after_expiry_a_fresh_template_is_wanted() {
        let s = sticky_spec(12);
        let fresh = Seen::read(
            &table(&["TCP 00:12  NONE  10.77.0.1:0  10.77.0.50:80  10.77.0.32:80"]),
            s.service(),
            SRC,
        );
        assert_eq!(
            judge_fresh(&s, SRC, &Ok("web-2".into()), &fresh),
            Ok("web-2".to_string())
        );
        let long = Seen::read(
            &table(&["TCP 00:19  NONE  10.77.0.1:0  10.77.0.50:80  10.77.0.32:80"]),
            s.service(),
            SRC,
        );
        assert!(judge_fresh(&s, SRC, &Ok("web-2".into()), &long)
            .unwrap_err()
            .contains("longer than the configured persistence 12 s"));
        let old = Seen::read(
            &table(&["TCP 00:03  NONE  10.77.0.1:0  10.77.0.50:80  10.77.0.32:80"]),
            s.service(),
            SRC,
        );
        assert!(judge_fresh(&s, SRC, &Ok("web-2".into()), &old).is_err());
        let none = Seen::read(&table(&[]), s.service(), SRC);
        assert!(judge_fresh(&s, SRC, &Ok("web-2".into()), &none).is_err());
    }

    #[test]
    fn a_source_without_entries_is_preferred() {
        let t = table(&["TCP 01:59  FIN_WAIT  10.77.0.1:40001  10.77.0.50:80  10.77.0.31:80"]);
        let sources = [Some(SRC), Some(Ipv4Addr::new(10, 77, 0, 2))];
        let service = "10.77.0.50:80".parse().unwrap();
        assert_eq!(
            pick_source(&sources, &t, service),
            Some(Ipv4Addr::new(10, 77, 0, 2))
        );
        assert_eq!(pick_source(&sources[..1], &t, service), Some(SRC));
        assert_eq!(pick_source(&[None], &t, service), None);
    }
}
