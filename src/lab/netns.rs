//! The lab's network: one dedicated network namespace per lab (`lvslab-<lab>`) holding a bridge
//! (the lab's switch, carrying the client addresses) and one tap per VM. Nothing is added to the
//! machine's own namespace.
//!
//! Also the ways other code reaches into the lab: [`enter`] (setns for the calling thread),
//! [`in_lab_netns`] (run a closure on a thread inside the lab's namespace, e.g. to open client
//! sockets for `verify`) and [`command_in_lab`] (run a program there, e.g. curl or arping).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::topology::{self, Topology};
use super::LabError;

/// The bridge inside the lab namespace.
pub const BRIDGE: &str = "lvsbr0";

pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

pub fn exists(name: &str) -> bool {
    netns_path(name).exists()
}

/// Tap device of the node at `index` (inventory order); names only need to be unique inside the
/// lab's own namespace.
pub fn tap_name(index: usize) -> String {
    format!("lvstap{index}")
}

fn ip(args: &[&str]) -> Result<(), LabError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| LabError::Network(format!("cannot run ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Network(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn link_exists(ns: &str, dev: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", "dev", dev])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Create (or complete) the lab's namespace, bridge and client addresses. Idempotent.
pub fn create(topo: &Topology) -> Result<(), LabError> {
    let ns = topo.netns();
    if !exists(&ns) {
        ip(&["netns", "add", &ns])?;
    }
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    if !link_exists(&ns, BRIDGE) {
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
    }
    // A fixed MAC for the client: a bridge otherwise takes its ports' (new random taps at
    // every `lab up`), and nodes resumed from a saved state would send their replies to the
    // client's old MAC from their neighbour caches until those entries time out.
    let mac = super::keys::client_mac(&topo.lab_name);
    ip(&["-n", &ns, "link", "set", BRIDGE, "address", &mac])?;
    for a in &topo.client_addresses {
        let cidr = format!("{a}/{}", topo.client_prefix);
        ip(&["-n", &ns, "addr", "replace", &cidr, "dev", BRIDGE])?;
    }
    ip(&["-n", &ns, "link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// Create (if needed) the tap of one node and plug it into the bridge.
pub fn ensure_tap(topo: &Topology, index: usize) -> Result<String, LabError> {
    let ns = topo.netns();
    let tap = tap_name(index);
    if !link_exists(&ns, &tap) {
        ip(&["-n", &ns, "tuntap", "add", "dev", &tap, "mode", "tap"])?;
    }
    ip(&["-n", &ns, "link", "set", &tap, "master", BRIDGE, "up"])?;
    Ok(tap)
}

/// Remove one node's tap (no error when absent).
pub fn remove_tap(topo: &Topology, index: usize) {
    let ns = topo.netns();
    let tap = tap_name(index);
    if exists(&ns) && link_exists(&ns, &tap) {
        let _ = ip(&["-n", &ns, "link", "del", &tap]);
    }
}

/// Remove taps, bridge and namespace. Idempotent.
pub fn destroy(topo: &Topology) -> Result<(), LabError> {
    let ns = topo.netns();
    if !exists(&ns) {
        return Ok(());
    }
    for i in 0..topo.nodes.len() {
        remove_tap(topo, i);
    }
    if link_exists(&ns, BRIDGE) {
        ip(&["-n", &ns, "link", "del", BRIDGE])?;
    }
    match ip(&["netns", "del", &ns]) {
        // Another `lab down` of the same lab removed it meanwhile: gone is what was asked.
        Err(_) if !exists(&ns) => Ok(()),
        r => r,
    }
}

/// Move the calling thread into the network namespace `name` (setns is per thread).
pub fn enter(name: &str) -> Result<(), LabError> {
    use std::os::fd::AsRawFd;
    let path = netns_path(name);
    let f = std::fs::File::open(&path).map_err(|e| {
        LabError::Network(format!(
            "cannot open {} ({e}): is the lab up? (`lvslab lab up`)",
            path.display()
        ))
    })?;
    // SAFETY: setns on a namespace fd we hold open; affects only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::Network(format!(
            "cannot enter network namespace {name}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Run `f` on a fresh thread that first entered the lab namespace of `inventory`; sockets it
/// creates live in the lab (the caller's threads are untouched).
pub fn in_lab_netns<T, F>(inventory: &Path, f: F) -> Result<T, LabError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let topo = topology::load(inventory)?;
    in_netns(&topo.netns(), f)
}

/// Run `f` on a fresh thread inside the namespace `name`.
pub fn in_netns<T, F>(name: &str, f: F) -> Result<T, LabError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let name = name.to_string();
    std::thread::spawn(move || -> Result<T, LabError> {
        enter(&name)?;
        Ok(f())
    })
    .join()
    .map_err(|_| LabError::Network("the lab namespace thread panicked".into()))?
}

/// A command that runs `program` inside the lab namespace of `inventory` (via `ip netns exec`).
pub fn command_in_lab(inventory: &Path, program: &str) -> Result<Command, LabError> {
    let topo = topology::load(inventory)?;
    let ns = topo.netns();
    if !exists(&ns) {
        return Err(LabError::NotUp(topo.lab_name));
    }
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &ns, program]);
    Ok(c)
}

/// Whether a TCP connect to `addr:port` from inside the namespace succeeds within `timeout`.
pub fn tcp_probe(ns: &str, addr: Ipv4Addr, port: u16, timeout: std::time::Duration) -> bool {
    in_netns(ns, move || {
        std::net::TcpStream::connect_timeout(&(addr, port).into(), timeout).is_ok()
    })
    .unwrap_or(false)
}
