//! Gathering for verify: connect to every node (the engine's ssh layer, so host keys and the
//! lab route are the same as for setup), probe in parallel, and drive the client side —
//! requests, held connections, ARP, ping, a packet capture — from threads inside the lab's
//! network namespace when the inventory's lab is up (the client addresses live only there), or
//! from the controller otherwise. Work that cannot change what another phase looks at runs
//! beside that phase; each row keeps its place in the report.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::time::Duration;

use super::checks::{self, Check, Probe, Request};
use super::render::Report;
use super::schedulers::{self, Pick, Step};
use super::spec::Spec;
use super::target::{
    connect_all, probe_all, probe_each, runtime, target, Aim, Hosts, Privilege, Target, VerifyError,
};
use super::{arp, expiry, http, parse, probe};
use crate::secret::Redactor;
use crate::ssh::Connector;

/// Timeouts of single client operations: generous for a TCG lab, short enough that a dead VIP
/// fails the run in seconds.
const STEP: Duration = Duration::from_secs(3);

/// Run every check against the inventory's nodes; the report, and what its output must not show.
pub(crate) fn verify(aim: &Aim, requests: u32) -> Result<(Report, Redactor), VerifyError> {
    let t = target(aim)?;
    let report = runtime()?.block_on(gather(&t, requests));
    Ok((report, t.secrets))
}

/// What the client thread reports back, in order.
enum ClientMsg {
    Requests(Vec<Request>, String),
    Held(Vec<SocketAddrV4>),
    Scheduler(Vec<Pick>),
}

/// What the first probes found, before any client traffic: what every later phase starts from.
struct Nodes {
    first: BTreeMap<String, Probe>,
    /// Whether the directors run keepalived.
    ha: bool,
    /// The director holding the VIP.
    holder: Option<String>,
    /// The director whose IPVS table is judged: the holder, else the primary.
    active: Option<String>,
    /// The real servers that serve their own page.
    healthy: BTreeSet<String>,
}

impl Nodes {
    /// The active director's first probe, when it answered.
    fn active_probe(&self) -> Option<&BTreeMap<String, String>> {
        self.active
            .as_ref()
            .and_then(|a| self.first.get(a))
            .and_then(|p| p.as_ref().ok())
    }

    fn serving(&self, name: &str) -> bool {
        self.healthy.contains(name)
    }

    /// The active director's connection table as read later than its first probe: what the
    /// client's traffic must take into account (templates, ports with entries).
    fn set_table(&mut self, table: String) {
        let active = self.active.as_ref();
        if let Some(Ok(p)) = active.and_then(|a| self.first.get_mut(a)) {
            p.insert("ipvs_conns".into(), table);
        }
    }
}

/// Persistence with a clock ([`expiry`]), before any other client traffic: that traffic's
/// connections would keep the templates alive for minutes.
async fn persistence_expiry(
    t: &Target,
    hosts: &Hosts,
    nodes: &Nodes,
) -> Option<(Check, Option<String>)> {
    let director = nodes.active.as_deref()?;
    let table = nodes
        .active_probe()
        .and_then(|p| p.get("ipvs_conns"))
        .map_or("", String::as_str);
    let (_, sources) = split_sources(&t.spec, t.lab_ns.as_deref());
    let reach = expiry::Reach {
        director,
        transport: match hosts.get(director) {
            Some(Ok(tr)) => Ok(tr.as_ref()),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not in the inventory".into()),
        },
        ns: t.lab_ns.as_deref(),
        sources: &sources,
        table,
    };
    expiry::check(&t.spec, &reach).await
}

/// What client traffic gave: the requests sent, the answers per real server, and how the
/// client dealt with persistence.
#[derive(Default)]
struct Traffic {
    sent: Vec<Request>,
    distribution: BTreeMap<String, u32>,
    client_method: String,
}

/// The client side, running on its own thread (in the lab namespace when there is one).
struct Client {
    rx: tokio::sync::mpsc::UnboundedReceiver<ClientMsg>,
    /// Tells the client to drop its held connections.
    release: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    /// The scheduler check's connections, as planned.
    planned: Result<Vec<Step>, String>,
}

impl Client {
    fn start(t: &Target, nodes: &Nodes, requests: u32) -> Client {
        let (spec, active, first) = (&t.spec, &nodes.active, &nodes.first);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ClientMsg>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let client_spec = spec.clone();
        let ns = t.lab_ns.clone();
        let serving = |n: &str| nodes.serving(n);
        let planned = schedulers::plan(spec, &serving, split_sources(spec, ns.as_deref()).0.len());
        let steps = planned.clone().unwrap_or_default();
        // The client ports the director's table holds entries for (earlier traffic): new
        // connections must not take one (see `http::avoid_ports`).
        let stale: Vec<SocketAddrV4> = active
            .as_ref()
            .and_then(|a| first.get(a))
            .and_then(|p| p.as_ref().ok())
            .and_then(|p| p.get("ipvs_conns"))
            .map(|t| super::parse::ipvs_conns(t))
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.source)
            .filter(|s| s.port() != 0)
            .collect();
        let thread = std::thread::spawn(move || {
            http::avoid_ports(stale);
            client_side(client_spec, ns, requests, steps, tx, release_rx)
        });
        Client {
            rx,
            release: release_tx,
            thread,
            planned,
        }
    }

    async fn recv(&mut self) -> Option<ClientMsg> {
        tokio::time::timeout(Duration::from_secs(120), self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

pub(crate) async fn gather(t: &Target, requests: u32) -> Report {
    let connector = match Connector::new() {
        Ok(c) => c,
        Err(e) => return unconnected(e.to_string()),
    };
    // The ARP probe and the ping of the VIP look only at who answers for the VIP: they run
    // while the nodes are probed, and their rows keep their places in the table.
    let arp = tokio::task::spawn_blocking({
        let (vip, ns) = (t.spec.vip, t.lab_ns.clone());
        move || match ns {
            Some(ns) => crate::lab::netns::in_netns(&ns, move || arp_probe(vip)).ok(),
            None => Some(arp_probe(vip)),
        }
    });
    let ping = tokio::task::spawn_blocking({
        let (s, ns) = (t.spec.clone(), t.lab_ns.clone());
        move || super::icmp::check(&s, ns.as_deref())
    });
    let hosts = connect_all(t.conns.clone(), &connector).await;
    let first = first_probes(t, &hosts).await;
    let (mut nodes, mut out) = node_checks(t, first);
    let client_side = async {
        if let Some((check, table)) = persistence_expiry(t, &hosts, &nodes).await {
            out.push(check);
            if let Some(table) = table {
                nodes.set_table(table);
            }
        }
        let mut client = Client::start(t, &nodes, requests);
        let g = Gathered {
            t,
            hosts: &hosts,
            nodes: &nodes,
        };
        let traffic = client_checks(&g, &mut client, &mut out).await;
        // The capture's connections come once the client has closed its own: held ones would
        // count against a real server's load (ovf refuses connections to one over its weight).
        let _ = client.thread.join();
        let (sources, _) = split_sources(&t.spec, t.lab_ns.as_deref());
        let packets = crate::trace::proof::check(t, &hosts, &sources).await;
        (traffic, packets)
    };
    let (mut traffic, packets) = client_side.await;
    match arp.await.ok().flatten() {
        Some(Ok(Some(macs))) => out.push(arp_check(t, &nodes, &macs)),
        Some(Ok(None)) => traffic
            .client_method
            .push_str("; ARP not checked: the controller is not on the VIP's L2 segment"),
        Some(Err(e)) => out.push(Check {
            host: "client".into(),
            name: "arp",
            ok: false,
            detail: e,
        }),
        None => {}
    }
    out.push(packets);
    out.push(
        ping.await
            .unwrap_or_else(|e| Check::new("client", "vip-ping", false, e.to_string())),
    );
    for t in hosts.values().flatten() {
        t.release().await;
    }
    let ok = out.iter().all(|c| c.ok);
    Report {
        mode: if nodes.ha { "ha" } else { "lvs" },
        client_method: traffic.client_method,
        checks: out,
        distribution: traffic.distribution,
        ok,
    }
}

/// The client's traffic and what it shows: the requests, the scheduler's picks, then the held
/// connections, probed on the nodes.
async fn client_checks(g: &Gathered<'_>, client: &mut Client, out: &mut Vec<Check>) -> Traffic {
    let (t, nodes) = (g.t, g.nodes);
    let mut traffic = Traffic::default();
    if let Some(ClientMsg::Requests(reqs, method)) = client.recv().await {
        let pinned = nodes
            .active_probe()
            .map(|p| {
                checks::pinned_sources(&t.spec, p.get("ipvs_conns").map_or("", String::as_str))
            })
            .unwrap_or_default();
        let (cs, dist) = checks::requests(&t.spec, &reqs, &pinned);
        out.extend(cs);
        traffic = Traffic {
            sent: reqs,
            distribution: dist,
            client_method: method,
        };
    }
    if let Some(ClientMsg::Scheduler(picks)) = client.recv().await {
        let serving = |n: &str| nodes.serving(n);
        out.push(schedulers::judge(
            &t.spec,
            &serving,
            &client.planned,
            &picks,
        ));
    }
    if let Some(ClientMsg::Held(held)) = client.recv().await {
        held_connections(g, &held, &client.release, &traffic.sent, out).await;
    }
    traffic
}

/// The report when no node can be contacted at all (the ssh layer could not start).
fn unconnected(detail: String) -> Report {
    Report {
        mode: "unknown",
        client_method: String::new(),
        checks: vec![Check {
            host: "client".into(),
            name: "connect",
            ok: false,
            detail,
        }],
        distribution: BTreeMap::new(),
        ok: false,
    }
}

/// The first probes: every director and real server as it is before any client traffic. A
/// real server's probe needs no privilege and runs as the login user (a sudo costs a slow node
/// more than the probe), except where `systemctl` answers only root (a node without a system
/// bus): those are asked again through `become`.
async fn first_probes(t: &Target, hosts: &Hosts) -> BTreeMap<String, Probe> {
    let spec = &t.spec;
    let directors = t
        .directors
        .iter()
        .map(|d| (d.clone(), probe::director_first(spec)))
        .collect();
    let reals = |pick: &dyn Fn(&str) -> bool| -> Vec<(String, String)> {
        spec.real_servers
            .iter()
            .filter(|r| pick(&r.name))
            .map(|r| (r.name.clone(), probe::real_server(spec, r.port)))
            .collect()
    };
    let (mut first, mut on_reals) = tokio::join!(
        probe_all(hosts, directors),
        probe_each(hosts, reals(&|_| true), Privilege::Login)
    );
    let refused = |n: &str| matches!(on_reals.get(n), Some(Ok(p)) if p.contains_key("web_error"));
    let again = reals(&refused);
    if !again.is_empty() {
        on_reals.extend(probe_all(hosts, again).await);
    }
    first.extend(on_reals);
    first
}

/// Judge the nodes from their first probes: reachability, who holds the VIP, each real server,
/// the active director's IPVS table.
fn node_checks(t: &Target, first: BTreeMap<String, Probe>) -> (Nodes, Vec<Check>) {
    let spec = &t.spec;
    let dprobes: Vec<(String, Probe)> = t
        .directors
        .iter()
        .map(|d| (d.clone(), first[d].clone()))
        .collect();
    let mut out: Vec<Check> = Vec::new();
    for (name, p) in first.iter() {
        if let Err(e) = p {
            out.push(Check {
                host: name.clone(),
                name: "reachable",
                ok: false,
                detail: e.clone(),
            });
        }
    }
    let ha = checks::detect_ha(&dprobes);
    let (holder_check, holder) = checks::vip_holder(spec, &dprobes, ha);
    out.push(holder_check);
    let mut healthy = BTreeSet::new();
    for r in &t.reals {
        if let Some(Ok(p)) = first.get(r) {
            let cs = checks::real_server(spec, r, p);
            if cs
                .iter()
                .filter(|c| c.name == "web-server" || c.name == "page-names-node")
                .all(|c| c.ok)
            {
                healthy.insert(r.clone());
            }
            out.extend(cs);
        }
    }
    let active = holder
        .clone()
        .or_else(|| spec.primary_director().map(|d| d.name.clone()));
    if let Some(a) = &active {
        if let Some(Ok(p)) = first.get(a) {
            out.push(checks::ipvs_table(spec, a, p, &healthy));
        }
    }
    if ha {
        out.extend(checks::keepalived(spec, &dprobes));
    }
    let nodes = Nodes {
        first,
        ha,
        holder,
        active,
        healthy,
    };
    (nodes, out)
}

/// What the phases after the first probes look at: the cluster, its connected nodes, and
/// what the first probes found.
struct Gathered<'a> {
    t: &'a Target,
    hosts: &'a Hosts,
    nodes: &'a Nodes,
}

/// While the client holds its connections open, probe the active director and the real
/// servers (then let the client go) and judge the forwarding; a failed request or persistence
/// check gets what the director's table showed for its ports.
async fn held_connections(
    g: &Gathered<'_>,
    held: &[SocketAddrV4],
    release: &mpsc::Sender<()>,
    sent: &[Request],
    out: &mut Vec<Check>,
) {
    let (spec, reals, first) = (&g.t.spec, &g.t.reals, &g.nodes.first);
    let Some(a) = &g.nodes.active else {
        let _ = release.send(());
        return;
    };
    // A real server's sockets need no privilege (no process is asked for): no sudo there.
    let reals_during = reals
        .iter()
        .map(|r| (r.clone(), probe::real_server_during_traffic()))
        .collect();
    let (mut second, on_reals) = tokio::join!(
        probe_all(g.hosts, vec![(a.clone(), probe::director_during_traffic())]),
        probe_each(g.hosts, reals_during, Privilege::Login)
    );
    second.extend(on_reals);
    let _ = release.send(());
    let rprobes: Vec<(String, Probe)> = reals
        .iter()
        .map(|r| (r.clone(), second[r].clone()))
        .collect();
    out.extend(checks::forwarding(spec, held, a, &second[a], &rprobes));
    let table = |p: Option<&Probe>, name| {
        p.and_then(|p| p.as_ref().ok())
            .and_then(|p| p.get(name).cloned())
            .unwrap_or_default()
    };
    let (before, after) = (
        table(first.get(a), "ipvs_conns"),
        table(second.get(a), "conns"),
    );
    for (check, ports) in [
        ("requests", checks::failed_ports(sent)),
        ("persistence", checks::moved_ports(spec, sent)),
    ] {
        if let (Some(c), Some(seen)) = (
            out.iter_mut().find(|c| c.name == check && !c.ok),
            checks::table_entries(&ports, &before, &after),
        ) {
            c.detail = format!("{} — {seen}", c.detail);
            if check == "requests" {
                if let Some(why) = super::states::explain(&ports, &after, spec.method) {
                    c.detail = format!("{} — {why}", c.detail);
                }
            }
        }
    }
}

/// Judge who answered the client's ARP probe for the VIP against the nodes' MAC addresses.
fn arp_check(t: &Target, nodes: &Nodes, macs: &[String]) -> Check {
    let mac_of = |n: &str| -> Option<String> {
        nodes
            .first
            .get(n)?
            .as_ref()
            .ok()
            .and_then(|p| parse::link_mac(p.get("link")?, &t.spec.lan_interface))
    };
    let holder_mac = nodes
        .holder
        .as_deref()
        .and_then(|h| mac_of(h).map(|m| (h.to_string(), m)));
    let real_macs: Vec<(String, String)> = t
        .reals
        .iter()
        .filter_map(|r| mac_of(r).map(|m| (r.clone(), m)))
        .collect();
    checks::arp(
        macs,
        holder_mac.as_ref().map(|(h, m)| (h.as_str(), m.as_str())),
        &real_macs,
    )
}

/// The client's source addresses: for every check's traffic but the expiry check's, and for the
/// expiry check's. With several and a persistence timeout the expiry check waits for, the last
/// one is the expiry check's alone: the other checks' connections, closed the ordinary way,
/// would keep its template for minutes.
fn split_sources(spec: &Spec, ns: Option<&str>) -> (Vec<Option<Ipv4Addr>>, Vec<Option<Ipv4Addr>>) {
    let mut all = client_sources(spec, ns);
    if expiry::keeps_a_source(spec, all.len()) {
        let last = all.split_off(all.len() - 1);
        (all, last)
    } else {
        (all.clone(), all)
    }
}

/// The client's source addresses: the lab gives the client several; elsewhere the kernel picks
/// one.
fn client_sources(spec: &Spec, ns: Option<&str>) -> Vec<Option<Ipv4Addr>> {
    if ns.is_some() && !spec.client_addrs.is_empty() {
        spec.client_addrs.iter().copied().map(Some).collect()
    } else {
        vec![None]
    }
}

/// The client: requests spread over the source addresses, then the scheduler check's
/// connections (`steps`), then connections held open until released.
fn client_side(
    spec: Spec,
    ns: Option<String>,
    requests: u32,
    steps: Vec<Step>,
    tx: tokio::sync::mpsc::UnboundedSender<ClientMsg>,
    release: mpsc::Receiver<()>,
) {
    if let Some(ns) = &ns {
        if let Err(e) = crate::lab::netns::enter(ns) {
            let _ = tx.send(ClientMsg::Requests(
                vec![Request {
                    source: None,
                    local: None,
                    result: Err(e.to_string()),
                }],
                "lab namespace".into(),
            ));
            return;
        }
    }
    let (sources, _) = split_sources(&spec, ns.as_deref());
    let method = client_method(spec.persistence, sources.len());
    let target = spec.service();
    let reqs = send_requests(&sources, target, requests);
    if tx.send(ClientMsg::Requests(reqs, method)).is_err() {
        return;
    }
    // The scheduler check's connections, before the held ones below: those load the servers,
    // and a locality scheduler (lblcr) remembers load for long after.
    let names: Vec<String> = spec.real_servers.iter().map(|r| r.name.clone()).collect();
    let picks = schedulers::traffic::run(&steps, &sources, target, &names, STEP);
    if tx.send(ClientMsg::Scheduler(picks)).is_err() {
        return;
    }
    let (streams, held) = hold_connections(&sources, target);
    if tx.send(ClientMsg::Held(held)).is_err() {
        return;
    }
    let _ = release.recv_timeout(Duration::from_secs(60));
    drop(streams);
}

/// How the request checks deal with persistence, in words.
fn client_method(persistence: u32, sources: usize) -> String {
    match (persistence, sources) {
        (0, 1) => "one source address, no persistence".to_string(),
        (0, n) => format!("{n} client source addresses in turn, no persistence"),
        (p, 1) => format!(
            "persistence {p} s with one source address: stickiness checked instead of spreading"
        ),
        (p, n) => format!(
            "persistence {p} s: {n} client source addresses in turn, stickiness checked per source"
        ),
    }
}

/// `requests` GETs of the service, spread over the source addresses in turn.
fn send_requests(
    sources: &[Option<Ipv4Addr>],
    target: SocketAddrV4,
    requests: u32,
) -> Vec<Request> {
    // A dead VIP would cost a timeout per request: stop after the first few all failed.
    const GIVE_UP: usize = 4;
    let mut reqs: Vec<Request> = Vec::new();
    for i in 0..requests.max(1) as usize {
        let source = sources[i % sources.len()];
        let (result, local) = match http::get(source, target, "/", STEP) {
            Ok(r) => (Ok((r.status, r.body)), r.local),
            Err(e) => (Err(e.to_string()), e.local()),
        };
        reqs.push(Request {
            source,
            local,
            result,
        });
        if reqs.len() == GIVE_UP
            && requests as usize > GIVE_UP
            && reqs.iter().all(|r| r.result.is_err())
        {
            reqs.push(Request {
                source: None,
                local: None,
                result: Err(format!("gave up after {GIVE_UP} failed requests in a row")),
            });
            break;
        }
    }
    reqs
}

/// Held connections: one per source (at least two), each with an unfinished request so the
/// real server has accepted it (apache defers accept until data arrives) and keeps it
/// ESTABLISHED, waiting for the rest of the headers, while the nodes are probed. Returns the
/// open streams and their local addresses.
fn hold_connections(
    sources: &[Option<Ipv4Addr>],
    target: SocketAddrV4,
) -> (Vec<std::net::TcpStream>, Vec<SocketAddrV4>) {
    let holds: Vec<Option<Ipv4Addr>> = (0..sources.len().max(2))
        .map(|i| sources[i % sources.len()])
        .collect();
    let streams: Vec<std::net::TcpStream> = holds
        .into_iter()
        .filter_map(|s| http::connect(s, target, STEP).ok())
        .filter_map(|mut s| {
            use std::io::Write;
            s.write_all(b"GET / HTTP/1.1\r\nHost: lvslab-verify\r\n")
                .ok()?;
            Some(s)
        })
        .collect();
    // Let the first data segment reach the real server before it is asked about its sockets.
    std::thread::sleep(Duration::from_millis(200));
    let held: Vec<SocketAddrV4> = streams
        .iter()
        .filter_map(|s| match s.local_addr() {
            Ok(std::net::SocketAddr::V4(a)) => Some(a),
            _ => None,
        })
        .collect();
    (streams, held)
}

/// Who answers an ARP request for the VIP on the client's interface towards it; `None` when
/// the client is not on the VIP's segment.
fn arp_probe(vip: Ipv4Addr) -> Result<Option<Vec<String>>, String> {
    match arp::interface_for(vip) {
        Ok(Some(iface)) => arp::who_has(&iface, vip, 3, Duration::from_millis(300))
            .map(|m| Some(m.into_iter().collect()))
            .map_err(|e| format!("ARP probe on {}: {e}", iface.name)),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot list client interfaces: {e}")),
    }
}
