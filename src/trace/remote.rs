//! Capturing on real hosts: tcpdump on every director and real server, started over the ssh
//! connections verify uses, writing its pcap stream to the connection (`tcpdump -U -w -`) while
//! the client's requests run, then stopped by the pid it recorded. The streams go through the
//! same reader and decoder as the lab's captures.
//!
//! Each node runs the scripts of `remote/` (arguments quoted, shellchecked): `prepare.sh`
//! (tcpdump present? the LAN interface's MAC, a private directory), `capture.sh` (tcpdump with a
//! filter for the service's addresses and ports, a packet limit and a watchdog time limit),
//! `ready.sh` (until tcpdump listens), `stop.sh` (ends only that tcpdump and its watchdog, removes
//! the directory). What this cannot see is said, never passed: the client's own side (the
//! client's packets are seen as the director receives them), and any node without tcpdump
//! ("not checked: tcpdump missing on NODE").

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use super::capture::{Frame, Point};
use super::decode::{self, Mac};
use super::pcap;
use crate::quote::quote;
use crate::ssh::Transport;
use crate::verify::parse;
use crate::verify::spec::Spec;
use crate::verify::target::{probe_all, Hosts};

const PREPARE: &str = include_str!("remote/prepare.sh");
const CAPTURE: &str = include_str!("remote/capture.sh");
const READY: &str = include_str!("remote/ready.sh");
const STOP: &str = include_str!("remote/stop.sh");

/// Most packets one node's capture keeps: a few requests are a few dozen.
const MOST_PACKETS: u32 = 2000;
/// Longest a capture may run before its watchdog stops it (the requests take seconds).
const MOST_SECS: u32 = 60;
/// How long the last packets of a closed connection may take to reach the captures.
const SETTLE: Duration = Duration::from_millis(500);

/// What the nodes' captures gave.
pub struct Captured<T> {
    /// One capture point per node that captured.
    pub points: Vec<Point>,
    pub frames: Vec<Frame>,
    /// Each node's MAC on the LAN interface, as the node reports it.
    pub macs: BTreeMap<String, Mac>,
    /// Nodes that could not be captured, and why (each fails the trace).
    pub not_checked: Vec<String>,
    /// What the traffic returned.
    pub sent: T,
}

/// One node's capture while it runs.
struct Running<'a> {
    name: String,
    dir: String,
    t: &'a dyn Transport,
}

/// The command running `script` with `args`, each quoted.
fn command(script: &str, args: &[&str]) -> String {
    let words: Vec<String> = args.iter().map(|a| quote(a)).collect();
    format!("sh -c {} lvslab-trace {}", quote(script), words.join(" "))
}

/// tcpdump's filter: the service's TCP traffic (VIP and real servers, their ports) and IP-in-IP
/// from the directors, nothing else (not the ssh connection carrying the capture).
pub(crate) fn filter(spec: &Spec) -> String {
    let mut hosts: Vec<Ipv4Addr> = vec![spec.vip];
    hosts.extend(spec.real_servers.iter().map(|r| r.addr));
    let mut ports: Vec<u16> = vec![spec.port];
    ports.extend(spec.real_servers.iter().map(|r| r.port));
    ports.sort_unstable();
    ports.dedup();
    let join = |words: Vec<String>| words.join(" or ");
    let directors: Vec<String> = spec
        .directors
        .iter()
        .map(|d| format!("host {}", d.addr))
        .collect();
    let tunnels = if directors.is_empty() {
        String::new()
    } else {
        format!(" or (ip proto 4 and ({}))", join(directors))
    };
    format!(
        "(tcp and ({}) and ({})){tunnels}",
        join(hosts.iter().map(|h| format!("host {h}")).collect()),
        join(ports.iter().map(|p| format!("port {p}")).collect()),
    )
}

/// Capture on every director and real server (`nodes`, in order) while `traffic` runs on a
/// blocking thread.
pub(crate) async fn capture<T, F>(
    spec: &Spec,
    hosts: &Hosts,
    nodes: &[String],
    traffic: F,
) -> Result<Captured<T>, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let dev = spec.lan_interface.as_str();
    let prepared = probe_all(
        hosts,
        nodes
            .iter()
            .map(|n| (n.clone(), command(PREPARE, &[dev])))
            .collect(),
    )
    .await;
    let (running, macs, mut not_checked) = started(spec, hosts, nodes, &prepared);
    let filter = filter(spec);
    let (count, secs) = (MOST_PACKETS.to_string(), MOST_SECS.to_string());
    let captures = futures::future::join_all(running.iter().map(|r| {
        let cmd = command(CAPTURE, &[&r.dir, dev, &count, &secs, &filter]);
        async move { r.t.exec(&cmd, None).await }
    }));
    let driver = async {
        let ready = on_each(&running, READY).await;
        let late = not_listening(&running, ready);
        let sent = tokio::task::spawn_blocking(traffic).await;
        tokio::time::sleep(SETTLE).await;
        let stopped = on_each(&running, STOP).await;
        (late, sent, stopped)
    };
    let (streams, (late, sent, stopped)) = futures::join!(captures, driver);
    not_checked.extend(late);
    let sent = sent.map_err(|e| format!("the client's requests: {e}"))?;
    let (points, frames) = read_streams(dev, &running, streams, stopped, &mut not_checked);
    Ok(Captured {
        points,
        frames,
        macs,
        not_checked,
        sent,
    })
}

/// The nodes ready to capture (tcpdump there, a directory made), every node's MAC, and what
/// cannot be captured and why.
fn started<'a>(
    spec: &Spec,
    hosts: &'a Hosts,
    nodes: &[String],
    prepared: &BTreeMap<String, crate::verify::checks::Probe>,
) -> (Vec<Running<'a>>, BTreeMap<String, Mac>, Vec<String>) {
    let dev = spec.lan_interface.as_str();
    let mut not_checked = Vec::new();
    let mut macs = BTreeMap::new();
    let mut running: Vec<Running> = Vec::new();
    for n in nodes {
        let p = match prepared.get(n) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                not_checked.push(format!("not checked: {n}: {e}"));
                continue;
            }
            None => continue,
        };
        if let Some(mac) = p
            .get("link")
            .and_then(|l| parse::link_mac(l, dev))
            .and_then(|m| Mac::parse(&m))
        {
            macs.insert(n.clone(), mac);
        }
        let missing = p.get("missing").map_or("", |m| m.trim());
        let dir = p.get("dir").map_or("", |d| d.trim());
        let t = hosts.get(n).and_then(|h| h.as_ref().ok());
        match (missing.is_empty(), dir.starts_with("/tmp/lvslab-trace."), t) {
            (false, _, _) => not_checked.push(format!("not checked: tcpdump missing on {n}")),
            (true, true, Some(t)) => running.push(Running {
                name: n.clone(),
                dir: dir.to_string(),
                t: t.as_ref(),
            }),
            _ => not_checked.push(format!(
                "not checked: no directory for the capture on {n} (mktemp said {dir:?})"
            )),
        }
    }
    (running, macs, not_checked)
}

/// The captures whose tcpdump did not report listening, and what it said.
fn not_listening(running: &[Running], ready: Vec<Result<String, String>>) -> Vec<String> {
    let mut late = Vec::new();
    for (r, o) in running.iter().zip(ready) {
        match o {
            Ok(text) if text.starts_with("ready") => {}
            Ok(text) => late.push(format!(
                "not checked: tcpdump on {} did not start listening: {}",
                r.name,
                one_line(&text)
            )),
            Err(e) => late.push(format!("not checked: {}: {e}", r.name)),
        }
    }
    late
}

/// Each capture's pcap stream read into frames at its point; a stream that is none is not
/// checked, with what tcpdump and the stop said.
fn read_streams(
    dev: &str,
    running: &[Running],
    streams: Vec<Result<crate::ssh::Output, crate::ssh::TransportError>>,
    stopped: Vec<Result<String, String>>,
    not_checked: &mut Vec<String>,
) -> (Vec<Point>, Vec<Frame>) {
    let mut points = Vec::new();
    let mut frames = Vec::new();
    for ((r, stream), stop) in running.iter().zip(streams).zip(stopped) {
        let said = stop.map(|s| one_line(&s)).unwrap_or_else(|e| e);
        let read = stream
            .map_err(|e| e.to_string())
            .and_then(|o| pcap::read(&o.stdout).ok_or_else(|| one_line(&o.stderr_str())));
        match read {
            Ok(got) => {
                let point = points.len();
                points.push(Point {
                    name: r.name.clone(),
                    interface: format!("{dev} (tcpdump on {})", r.name),
                });
                frames.extend(got.into_iter().map(|(ts, data)| Frame { point, ts, data }));
            }
            Err(e) => not_checked.push(format!(
                "not checked: tcpdump on {} gave no pcap stream: {e} ({said})",
                r.name
            )),
        }
    }
    (points, frames)
}

/// Run `script DIR` on every running capture's node, in parallel: its output, or why not.
async fn on_each(running: &[Running<'_>], script: &str) -> Vec<Result<String, String>> {
    futures::future::join_all(running.iter().map(|r| {
        let cmd = command(script, &[&r.dir]);
        async move {
            r.t.exec(&cmd, None)
                .await
                .map(|o| o.stdout_str())
                .map_err(|e| e.to_string())
        }
    }))
    .await
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each node stamps its frames with its own clock, and clocks differ (a lab VM restored from a
/// saved state keeps the time it was saved at): shift every point's times so that the frames it
/// and point `reference` both captured (a forwarded packet leaves one node and reaches the next)
/// get the reference's times, by the median difference over them. A point that shares no frame
/// with the reference keeps its own clock. Returns the points shifted.
pub(crate) fn align(frames: &mut [Frame], reference: usize) -> Vec<usize> {
    let at_ref: BTreeMap<&[u8], Duration> = frames
        .iter()
        .filter(|f| f.point == reference)
        .map(|f| (f.data.as_slice(), f.ts))
        .collect();
    let mut diffs: BTreeMap<usize, Vec<i128>> = BTreeMap::new();
    for f in frames.iter().filter(|f| f.point != reference) {
        if let Some(r) = at_ref.get(f.data.as_slice()) {
            let d = f.ts.as_nanos() as i128 - r.as_nanos() as i128;
            diffs.entry(f.point).or_default().push(d);
        }
    }
    let shift: BTreeMap<usize, i128> = diffs
        .into_iter()
        .map(|(p, mut d)| {
            d.sort_unstable();
            (p, d[d.len() / 2])
        })
        .collect();
    for f in frames.iter_mut() {
        if let Some(s) = shift.get(&f.point) {
            let ns = (f.ts.as_nanos() as i128 - s).max(0);
            f.ts = Duration::from_nanos(ns as u64);
        }
    }
    shift.into_keys().collect()
}

/// The MAC the client's packets arrive from, as the directors' captures saw the first one from
/// `client` to the service: the client's own, or its last router's.
pub(crate) fn client_mac(
    frames: &[Frame],
    directors: &[usize],
    client: SocketAddrV4,
    service: SocketAddrV4,
) -> Option<Mac> {
    frames
        .iter()
        .filter(|f| directors.contains(&f.point))
        .filter_map(|f| decode::decode(&f.data))
        .find(|p| {
            p.outer.is_none()
                && p.ip
                    .is_some_and(|ip| ip.src == *client.ip() && ip.dst == *service.ip())
                && p.tcp
                    .is_some_and(|t| t.src_port == client.port() && t.dst_port == service.port())
        })
        .map(|p| p.src_mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::schedulers::tests::spec;

    #[test]
    fn clocks_are_aligned_on_frames_both_points_saw() {
        let f = |point, secs: u64, ms: u64, data: &[u8]| Frame {
            point,
            ts: Duration::from_secs(secs) + Duration::from_millis(ms),
            data: data.to_vec(),
        };
        // Point 1's clock is an hour behind; it received "b" 2 ms after point 0 sent it.
        let mut frames = vec![
            f(0, 5000, 0, b"a"),
            f(0, 5000, 10, b"b"),
            f(1, 1400, 12, b"b"),
            f(1, 1400, 20, b"c"),
            f(2, 9, 0, b"z"),
        ];
        assert_eq!(align(&mut frames, 0), vec![1]);
        assert_eq!(frames[2].ts, frames[1].ts);
        assert_eq!(frames[3].ts, Duration::from_millis(5_000_018));
        assert_eq!(frames[4].ts, Duration::from_secs(9), "nothing shared: kept");
    }

    #[test]
    fn the_filter_names_the_service_and_nothing_else() {
        let s = spec("rr", [1, 1]);
        assert_eq!(
            filter(&s),
            "(tcp and (host 10.77.0.50 or host 10.77.0.31 or host 10.77.0.32) and (port 80)) \
             or (ip proto 4 and (host 10.77.0.21))"
        );
    }

    /// The scripts as a node runs them, here with a stand-in tcpdump on PATH: capture writes
    /// what "tcpdump" writes to stdout, ready sees it listening, stop ends it by its pid and
    /// removes the directory.
    #[test]
    fn scripts_start_wait_for_and_stop_their_own_capture() {
        let bin = tempfile::tempdir().unwrap();
        let fake = bin.path().join("tcpdump");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'listening on eth0' >&2\nprintf PCAP\nwhile :; do sleep 0.1; done\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = |script: &str, args: &[&str]| {
            let mut c = std::process::Command::new("sh");
            c.arg("-c").arg(script).arg("lvslab-trace").args(args);
            c
        };
        let with_fake = |s: &str| {
            s.replace(
                "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                &format!(
                    "export LC_ALL=C PATH={}:/usr/sbin:/usr/bin:/sbin:/bin",
                    bin.path().display()
                ),
            )
        };
        let prep = run(&with_fake(PREPARE), &["lo"]).output().unwrap();
        let text = String::from_utf8_lossy(&prep.stdout).to_string();
        let dir = text
            .lines()
            .find(|l| l.starts_with("/tmp/lvslab-trace."))
            .unwrap_or_else(|| panic!("no directory: {text}"))
            .to_string();
        let cap = run(&with_fake(CAPTURE), &[&dir, "lo", "10", "20", "tcp"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let ready = run(&with_fake(READY), &[&dir]).output().unwrap();
        assert!(String::from_utf8_lossy(&ready.stdout).starts_with("ready"));
        let stop = run(&with_fake(STOP), &[&dir]).output().unwrap();
        assert!(stop.status.success());
        let out = cap.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "PCAP");
        assert!(!std::path::Path::new(&dir).exists());
        // stop refuses a directory that is not a trace's.
        let bad = run(&with_fake(STOP), &["/etc"]).output().unwrap();
        assert!(!bad.status.success());
    }
}
