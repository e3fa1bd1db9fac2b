//! Watching the nodes during a drill: who holds the VIP, which real servers the active
//! director's IPVS table lists, and a snapshot of the cluster's state so the state after the
//! drills can be compared with the state before. Reuses verify's probes and parsers.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::quote::quote;
use crate::ssh::Transport;
use crate::verify::checks::Probe;
use crate::verify::parse;
use crate::verify::probe;
use crate::verify::spec::{RealServer, Spec};
use crate::verify::target::{probe_all, Hosts, Target};

/// How long one observation may take before it counts as "no answer" (a frozen node never
/// answers; the poll must go on without it).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between two observations of the same thing.
const POLL_GAP: Duration = Duration::from_millis(50);

/// Run `script` on `host`; its stdout, or why not.
pub(crate) async fn exec(
    hosts: &Hosts,
    host: &str,
    script: &str,
    timeout: Duration,
) -> Result<String, String> {
    let t: &dyn Transport = match hosts.get(host) {
        Some(Ok(t)) => t.as_ref(),
        Some(Err(e)) => return Err(e.clone()),
        None => return Err(format!("{host} is not in the inventory")),
    };
    match tokio::time::timeout(timeout, t.exec(script, None)).await {
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(o)) if o.ok() => Ok(o.stdout_str()),
        Ok(Ok(o)) => Err(format!(
            "exit status {}: {}",
            o.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into()),
            o.stderr_str().trim()
        )),
    }
}

/// Whether `host` has the VIP on the LAN interface (`None`: no answer).
pub(crate) async fn holds_vip(hosts: &Hosts, spec: &Spec, host: &str) -> Option<bool> {
    let script = format!(
        "LC_ALL=C ip -o -4 addr show dev {}",
        quote(&spec.lan_interface)
    );
    let out = exec(hosts, host, &script, PROBE_TIMEOUT).await.ok()?;
    Some(
        parse::ip_addrs(&out)
            .iter()
            .any(|a| a.addr == spec.vip && a.dev == spec.lan_interface),
    )
}

/// Whether `director`'s IPVS service lists `rs` (`None`: no answer).
pub(crate) async fn lists_real_server(
    hosts: &Hosts,
    spec: &Spec,
    director: &str,
    rs: &RealServer,
) -> Option<bool> {
    let out = exec(hosts, director, "LC_ALL=C ipvsadm -S -n", PROBE_TIMEOUT)
        .await
        .ok()?;
    let flag = if spec.protocol == "udp" { "-u" } else { "-t" };
    let svc = crate::modules::parse_saved(&out, flag, &spec.service().to_string());
    Some(svc.reals.contains_key(&format!("{}:{}", rs.addr, rs.port)))
}

/// Observe until `seen` is true or `timeout` seconds passed; the time it was first seen, in
/// seconds since `epoch` (the middle of the observation that saw it).
pub(crate) async fn until<F, Fut>(epoch: Instant, timeout: f64, mut seen: F) -> Option<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        let started = epoch.elapsed().as_secs_f64();
        if seen().await {
            return Some((started + epoch.elapsed().as_secs_f64()) / 2.0);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_GAP).await;
    }
}

/// What the drills must leave as they found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabState {
    /// Directors holding the VIP.
    pub vip_holders: Vec<String>,
    /// `systemctl is-active keepalived` per director.
    pub keepalived: BTreeMap<String, String>,
    /// Real servers (`addr:port`) in each director's IPVS service.
    pub ipvs: BTreeMap<String, Vec<String>>,
    /// The web server unit and its state per real server (`apache2 active`).
    pub web: BTreeMap<String, String>,
    /// Nodes that did not answer.
    pub unreachable: Vec<String>,
}

/// Probe every node once (verify's own probe scripts) and condense what the drills touch.
pub(crate) async fn snapshot(t: &Target, hosts: &Hosts) -> LabState {
    let spec = &t.spec;
    let mut scripts: Vec<(String, String)> = t
        .directors
        .iter()
        .map(|d| (d.clone(), probe::director(spec)))
        .collect();
    scripts.extend(
        spec.real_servers
            .iter()
            .map(|r| (r.name.clone(), probe::real_server(spec, r.port))),
    );
    let probes = tokio::time::timeout(Duration::from_secs(20), probe_all(hosts, scripts))
        .await
        .unwrap_or_default();
    let mut state = LabState {
        vip_holders: Vec::new(),
        keepalived: BTreeMap::new(),
        ipvs: BTreeMap::new(),
        web: BTreeMap::new(),
        unreachable: Vec::new(),
    };
    let flag = if spec.protocol == "udp" { "-u" } else { "-t" };
    for name in t.directors.iter().chain(t.reals.iter()) {
        let p: Option<&Probe> = probes.get(name);
        let Some(Ok(s)) = p else {
            state.unreachable.push(name.clone());
            continue;
        };
        let sec = |k: &str| s.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        if t.directors.contains(name) {
            if parse::ip_addrs(&sec("addr"))
                .iter()
                .any(|a| a.addr == spec.vip && a.dev == spec.lan_interface)
            {
                state.vip_holders.push(name.clone());
            }
            state
                .keepalived
                .insert(name.clone(), sec("keepalived_active"));
            let svc = crate::modules::parse_saved(&sec("ipvs"), flag, &spec.service().to_string());
            state
                .ipvs
                .insert(name.clone(), svc.reals.keys().cloned().collect());
        } else {
            state.web.insert(name.clone(), sec("web"));
        }
    }
    state
}

/// The web server unit of a real server, from its snapshot line (`apache2 active`).
pub(crate) fn web_unit(state: &LabState, rs: &str) -> Option<String> {
    state
        .web
        .get(rs)?
        .split_whitespace()
        .next()
        .map(str::to_string)
}
