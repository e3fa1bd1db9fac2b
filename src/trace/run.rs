//! One trace: resolve the expected cluster from the inventory (as verify does), capture — on
//! the client's side of the lab's switch and on every node's port when the inventory's lab is
//! up, else with tcpdump on the nodes over ssh ([`super::remote`]) — while the requests run
//! (from inside the lab's namespace when there is one), then merge, pick apart and judge what
//! was captured.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::capture::{Capture, CaptureError, Frame, Point};
use super::classify::{self, Cast, Hop, Member, Verdict};
use super::decode::Mac;
use super::pcap;
use super::remote;
use crate::cluster::Cluster;
use crate::lab::{keys, netns, topology, LabError};
use crate::secret::Redactor;
use crate::ssh::Connector;
use crate::verify::http;
use crate::verify::target::{connect_all, runtime, target, Aim, Hosts, Target, VerifyError};

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The capture over ssh could not run at all.
    #[error("{0}")]
    Remote(String),
    #[error("cannot write {path}: {source}")]
    Pcap {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl TraceError {
    pub fn exit_code(&self) -> u8 {
        match self {
            TraceError::Verify(e) => e.exit_code(),
            TraceError::Lab(e) => e.exit_code(),
            _ => crate::exit::FAILED,
        }
    }
}

/// What was asked of the trace.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub requests: u32,
    /// Directory for one pcap file per capture point.
    pub pcap: Option<PathBuf>,
    /// Capture with tcpdump on the nodes over ssh even when the inventory's lab is up.
    pub tcpdump: bool,
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_text_drops_markup() {
        let page = "<!DOCTYPE html>\n<html><body><h1>from node02</h1>\n</body></html>\n";
        assert_eq!(super::page_text(page), "from node02");
        assert_eq!(super::page_text(&"x".repeat(100)).chars().count(), 60);
    }
}

#[cfg(test)]
impl Traced {
    /// A request lb1 forwarded to web1 by DR, with `problems` (for the renderers' tests).
    pub(crate) fn example(problems: &[&str], hops: Vec<Hop>) -> Traced {
        Traced {
            client: Some("10.0.0.1:40000".into()),
            answer: Ok("from web1".into()),
            verdict: Verdict {
                director: Some("lb1".into()),
                real_server: Some("web1".into()),
                seen: Some("dr"),
                changes: vec!["DR: destination MAC rewritten to web1's".into()],
                problems: problems.iter().map(|s| s.to_string()).collect(),
            },
            hops,
        }
    }
}

fn answer_json<S: serde::Serializer>(a: &Result<String, String>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(1))?;
    match a {
        Ok(page) => m.serialize_entry("page", page)?,
        Err(e) => m.serialize_entry("error", e)?,
    }
    m.end()
}

/// A capture point and how many frames it saw.
#[derive(Debug, Clone, Serialize)]
pub struct PointSeen {
    pub name: String,
    pub interface: String,
    pub frames: usize,
}

/// One request, what it got back, its hops and the judgement on them.
#[derive(Debug, Clone, Serialize)]
pub struct Traced {
    /// The client's address and port of the connection, when the kernel had chosen one.
    pub client: Option<String>,
    /// The status and the page's words, or why the request failed; in JSON `{"page": ...}` or
    /// `{"error": ...}`.
    #[serde(serialize_with = "answer_json")]
    pub answer: Result<String, String>,
    pub verdict: Verdict,
    pub hops: Vec<Hop>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The configured forwarding method.
    pub method: &'static str,
    pub service: String,
    /// Where the packets were captured, in words.
    pub captured_on: String,
    /// What this capture cannot see, and what stands in for it.
    pub unseen: Vec<String>,
    /// What should have been captured and was not, and why: each fails the trace.
    pub not_checked: Vec<String>,
    pub points: Vec<PointSeen>,
    pub pcap_files: Vec<PathBuf>,
    pub requests: Vec<Traced>,
    pub ok: bool,
}

/// Timeout of one request (TCG VMs on a shared machine are slow, a dead VIP should not be).
const STEP: Duration = Duration::from_secs(3);
/// How long the last frames of a closed connection (the FIN exchange the diagram shows) may
/// take to cross the switch.
const SETTLE: Duration = Duration::from_millis(300);

/// Trace `opts.requests` requests to the VIP of the inventory's cluster.
pub(crate) fn trace(aim: &Aim, opts: &Options) -> Result<(Report, Redactor), TraceError> {
    let t = target(aim)?;
    let pcap = opts.pcap.as_deref();
    let from = if t.lab_ns.is_some() {
        sources(&t.spec, opts.requests)
    } else {
        vec![None; opts.requests.max(1) as usize]
    };
    let report = match (&t.lab_ns, &t.lab) {
        (Some(ns), Some(topo)) if !opts.tcpdump => in_lab(&t.spec, ns, topo, from, pcap, SETTLE)?,
        _ => runtime()?.block_on(over_ssh(&t, from, pcap))?,
    };
    Ok((report, t.secrets))
}

fn empty(spec: &Cluster, captured_on: &str) -> Report {
    Report {
        method: classify::method_name(spec.method),
        service: spec.service().to_string(),
        captured_on: captured_on.to_string(),
        unseen: Vec::new(),
        not_checked: Vec::new(),
        points: Vec::new(),
        pcap_files: Vec::new(),
        requests: Vec::new(),
        ok: false,
    }
}

/// Connect to the nodes, capture on them with tcpdump while the requests run, let them go.
async fn over_ssh(
    t: &Target,
    sources: Vec<Option<Ipv4Addr>>,
    pcap_dir: Option<&Path>,
) -> Result<Report, TraceError> {
    let connector = Connector::new().map_err(|e| TraceError::Remote(e.to_string()))?;
    let hosts = connect_all(t.conns.clone(), &connector).await;
    let report = with_hosts(t, &hosts, sources, pcap_dir).await;
    for h in hosts.values().flatten() {
        h.release().await;
    }
    report
}

/// Capture with tcpdump on every director and real server over their connections (`hosts`)
/// while one request per entry of `sources` goes to the VIP (from the lab's namespace when it
/// is up; `None`: the kernel's choice of address).
pub(crate) async fn with_hosts(
    t: &Target,
    hosts: &Hosts,
    sources: Vec<Option<Ipv4Addr>>,
    pcap_dir: Option<&Path>,
) -> Result<Report, TraceError> {
    let spec = &t.spec;
    let nodes: Vec<String> = t.directors.iter().chain(&t.reals).cloned().collect();
    let (service, ns) = (spec.service(), t.lab_ns.clone());
    let traffic = move || {
        let send = move || {
            sources
                .into_iter()
                .map(|s| http::get(s, service, "/", STEP))
                .collect::<Vec<_>>()
        };
        match ns {
            Some(ns) => netns::in_netns(&ns, send).map_err(|e| e.to_string()),
            None => Ok(send()),
        }
    };
    let got = remote::capture(spec, hosts, &nodes, traffic)
        .await
        .map_err(TraceError::Remote)?;
    let sent = got.sent.map_err(TraceError::Remote)?;
    let mut frames = got.frames;
    let directors: Vec<usize> = (0..got.points.len())
        .filter(|i| t.directors.contains(&got.points[*i].name))
        .collect();
    // On the clock of the director that captured the most (the active one).
    let reference = directors
        .iter()
        .copied()
        .max_by_key(|d| frames.iter().filter(|f| f.point == *d).count());
    let shifted = reference.map_or_else(Vec::new, |r| remote::align(&mut frames, r));
    let client_mac = sent
        .iter()
        .filter_map(|r| r.as_ref().map_or_else(|e| e.local(), |r| r.local))
        .find_map(|c| remote::client_mac(&frames, &directors, c, service));
    let cast = cast(spec, client_mac.unwrap_or(Mac([0; 6])), |n| {
        got.macs.get(n).copied()
    });
    let mut report = empty(spec, "the nodes' LAN interfaces (tcpdump over ssh)");
    report.unseen = vec![
        "the client's own side: nothing is captured there; its packets are shown as the \
         director received them, from the MAC they came from (the client's, or its last router's)"
            .into(),
    ];
    let own_clock: Vec<&str> = (0..got.points.len())
        .filter(|p| Some(*p) != reference && !shifted.contains(p))
        .map(|p| got.points[p].name.as_str())
        .collect();
    if !own_clock.is_empty() {
        report.unseen.push(format!(
            "a common clock for {}: no frame seen there was seen by the director too, so \
             their times are their own clocks'",
            own_clock.join(", ")
        ));
    }
    report.not_checked = got.not_checked;
    judged(
        &mut report,
        spec,
        &cast,
        &got.points,
        &frames,
        sent,
        pcap_dir,
    )?;
    Ok(report)
}

/// Capture the lab's switch (namespace `ns`) while one request per entry of `sources` goes to
/// the VIP, and for `settle` after the last answer. Every frame a verdict rests on (the SYN,
/// its forwarded copy, the replies) crossed the switch before the client read its answer:
/// `settle` only adds the connections' closing frames.
pub(crate) fn in_lab(
    spec: &Cluster,
    ns: &str,
    topo: &topology::Topology,
    sources: Vec<Option<Ipv4Addr>>,
    pcap_dir: Option<&Path>,
    settle: Duration,
) -> Result<Report, TraceError> {
    let mut report = empty(spec, "the lab's switch");
    let mac = |name: &str| Mac::parse(&keys::mac_address(&topo.lab_name, name));
    let client = Mac::parse(&keys::client_mac(&topo.lab_name)).unwrap_or(Mac([0; 6]));
    let cast = cast(spec, client, mac);
    let points = points(topo);
    let capture = Capture::start(ns, &points)?;
    let service = spec.service();
    let sent = netns::in_netns(ns, move || {
        sources
            .into_iter()
            .map(|s| http::get(s, service, "/", STEP))
            .collect::<Vec<_>>()
    });
    std::thread::sleep(settle);
    let frames = capture.stop()?;
    let sent = sent?;
    judged(&mut report, spec, &cast, &points, &frames, sent, pcap_dir)?;
    Ok(report)
}

/// Count, write and judge what the capture points saw of the requests `sent`.
fn judged(
    report: &mut Report,
    spec: &Cluster,
    cast: &Cast,
    points: &[Point],
    frames: &[Frame],
    sent: Vec<Result<http::Response, http::HttpError>>,
    pcap_dir: Option<&Path>,
) -> Result<(), TraceError> {
    report.points = points
        .iter()
        .enumerate()
        .map(|(i, p)| PointSeen {
            name: p.name.clone(),
            interface: p.interface.clone(),
            frames: frames.iter().filter(|f| f.point == i).count(),
        })
        .collect();
    if let Some(dir) = pcap_dir {
        report.pcap_files = write_pcaps(dir, points, frames)?;
    }
    let named: Vec<(Duration, &[u8], &str)> = frames
        .iter()
        .map(|f| (f.ts, f.data.as_slice(), points[f.point].name.as_str()))
        .collect();
    let all = classify::hops(&named, cast);
    report.requests = sent
        .into_iter()
        .map(|result| judge(cast, spec, &all, result))
        .collect();
    report.ok = !report.requests.is_empty()
        && report.not_checked.is_empty()
        && report
            .requests
            .iter()
            .all(|r| r.verdict.problems.is_empty());
    Ok(())
}

/// One request's hops and verdict.
fn judge(
    cast: &Cast,
    spec: &Cluster,
    all: &[Hop],
    result: Result<http::Response, http::HttpError>,
) -> Traced {
    let (local, answer) = match result {
        Ok(r) => (r.local, Ok(format!("{} {}", r.status, page_text(&r.body)))),
        Err(e) => (e.local(), Err(e.to_string())),
    };
    let Some(client) = local else {
        let mut verdict = Verdict::default();
        verdict.problems.push(
            "the request failed before the kernel chose a client port: nothing to trace".into(),
        );
        return Traced {
            client: None,
            answer,
            verdict,
            hops: Vec::new(),
        };
    };
    let hops = classify::connection(all, client);
    let mut verdict = classify::classify(cast, spec.method, client, &hops);
    if let Err(e) = &answer {
        verdict.problems.push(format!("the request failed: {e}"));
    }
    Traced {
        client: Some(client.to_string()),
        answer,
        verdict,
        hops,
    }
}

/// The words of a page without its markup, shortened: enough to see which node answered.
fn page_text(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = words.join(" ");
    if out.chars().count() > 60 {
        out = out.chars().take(59).collect::<String>() + "…";
    }
    out
}

/// The client's source address for each request: the lab's client addresses in turn.
fn sources(spec: &Cluster, requests: u32) -> Vec<Option<Ipv4Addr>> {
    (0..requests.max(1) as usize)
        .map(|i| match spec.client_addrs.as_slice() {
            [] => None,
            addrs => Some(addrs[i % addrs.len()]),
        })
        .collect()
}

/// Directors and real servers with their MACs (`mac`; unknown ones as zeros).
fn cast(spec: &Cluster, client_mac: Mac, mac: impl Fn(&str) -> Option<Mac>) -> Cast {
    let mac = |name: &str| mac(name).unwrap_or(Mac([0; 6]));
    Cast {
        client_mac,
        directors: spec
            .directors
            .iter()
            .map(|d| Member {
                name: d.name.clone(),
                mac: mac(&d.name),
                addr: d.addr,
                port: spec.port,
            })
            .collect(),
        reals: spec
            .real_servers
            .iter()
            .map(|r| Member {
                name: r.name.clone(),
                mac: mac(&r.name),
                addr: r.addr,
                port: r.port,
            })
            .collect(),
        vip: spec.vip,
        port: spec.port,
    }
}

/// The client's side of the switch (the bridge itself carries the client addresses) and every
/// node's port.
fn points(topo: &topology::Topology) -> Vec<Point> {
    let mut points = vec![Point {
        name: "client".into(),
        interface: netns::BRIDGE.into(),
    }];
    points.extend(topo.nodes.iter().enumerate().map(|(i, n)| Point {
        name: n.name.clone(),
        interface: netns::tap_name(i),
    }));
    points
}

fn write_pcaps(dir: &Path, points: &[Point], frames: &[Frame]) -> Result<Vec<PathBuf>, TraceError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TraceError::Pcap { path, source }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let mut files = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let path = dir.join(format!("{}.pcap", p.name));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(fail(&path))?);
        let mine = frames
            .iter()
            .filter(|f| f.point == i)
            .map(|f| (f.ts, f.data.as_slice()));
        pcap::write(&mut out, mine).map_err(fail(&path))?;
        std::io::Write::flush(&mut out).map_err(fail(&path))?;
        files.push(path);
    }
    Ok(files)
}
