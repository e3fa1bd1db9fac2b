//! `lab status`: for each node, whether its VM runs (recorded pid still our qemu), whether ssh
//! answers (a real login through the proxy), its address and interface, the image it was asked
//! to boot and the release and kernel it says it runs (so a mixed lab shows what is where).

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::keys::LabPaths;
use super::topology::{self, Node};
use super::{netns, ssh, vm, LabError};

/// One node's state.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    pub name: String,
    pub pid: Option<i32>,
    pub ssh: bool,
    pub address: String,
    pub interface: String,
    pub rss_kib: Option<u64>,
    /// The image the inventory asks for (`lab_suite`, `lab_packages`).
    pub image: super::image::Image,
    /// What the node says it runs, when ssh answered: its release's codename and its kernel.
    pub running: Option<(String, String)>,
}

/// Asked over the login that proves ssh answers: the release codename and the kernel.
const RUNNING: &str = ". /etc/os-release && echo \"$VERSION_CODENAME $(uname -r)\"";

pub fn collect(inventory: &Path) -> Result<(String, bool, Vec<NodeStatus>), LabError> {
    let topo = topology::load(inventory)?;
    let paths = LabPaths::new(&topo.lab_name);
    let net = netns::exists(&topo.netns());
    let statuses = std::thread::scope(|s| {
        let handles: Vec<_> = topo
            .nodes
            .iter()
            .map(|node: &Node| {
                let topo = &topo;
                let paths = &paths;
                s.spawn(move || {
                    let np = paths.node(&node.name);
                    let pid = vm::running_pid(&topo.lab_name, &node.name, &np);
                    let answer = (pid.is_some()
                        && net
                        && netns::tcp_probe(
                            &topo.netns(),
                            node.address,
                            node.port,
                            Duration::from_secs(2),
                        ))
                    .then(|| ssh::run(topo, paths, node, RUNNING, Duration::from_secs(5)).ok())
                    .flatten()
                    .filter(|(ok, _, _)| *ok);
                    let running = answer.as_ref().and_then(|(_, out, _)| {
                        let (codename, kernel) = out.trim().split_once(' ')?;
                        Some((codename.to_string(), kernel.to_string()))
                    });
                    NodeStatus {
                        name: node.name.clone(),
                        pid,
                        ssh: answer.is_some(),
                        address: format!("{}/{}", node.address, node.prefix),
                        interface: node.interface.clone(),
                        rss_kib: pid.and_then(vm::rss_kib),
                        image: node.image,
                        running,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok())
            .collect::<Vec<_>>()
    });
    Ok((topo.lab_name.clone(), net, statuses))
}

pub fn print(inventory: &Path, as_json: bool) -> Result<(), LabError> {
    let (lab, net, nodes) = collect(inventory)?;
    if as_json {
        let doc = json!({
            "lab": lab,
            "network": net,
            "nodes": nodes.iter().map(|n| json!({
                "name": n.name,
                "vm": if n.pid.is_some() { "running" } else { "down" },
                "pid": n.pid,
                "ssh": n.ssh,
                "address": n.address,
                "interface": n.interface,
                "rss_kib": n.rss_kib,
                "release": n.image.suite.name(),
                "packages": n.image.packages.name(),
                "running": n.running.as_ref().map(|(codename, kernel)| json!({
                    "release": codename,
                    "kernel": kernel,
                })),
            })).collect::<Vec<_>>(),
        });
        println!("{doc}");
        return Ok(());
    }
    let w = nodes.iter().map(|n| n.name.len()).max().unwrap_or(4).max(4);
    println!(
        "lab {lab}: network namespace {} {}",
        topology::netns_name(&lab),
        if net { "present" } else { "absent" }
    );
    println!(
        "{:w$}  {:8}  {:4}  {:18}  {:10}  {:>8}  {:>7}  {:23}  RUNNING",
        "NODE", "VM", "SSH", "ADDRESS", "INTERFACE", "PID", "RSS_MB", "IMAGE"
    );
    for n in &nodes {
        println!(
            "{:w$}  {:8}  {:4}  {:18}  {:10}  {:>8}  {:>7}  {:23}  {}",
            n.name,
            if n.pid.is_some() { "running" } else { "down" },
            if n.ssh { "yes" } else { "no" },
            n.address,
            n.interface,
            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            n.rss_kib
                .map(|k| (k / 1024).to_string())
                .unwrap_or_else(|| "-".into()),
            n.image.to_string(),
            n.running
                .as_ref()
                .map(|(codename, kernel)| format!("{codename}, kernel {kernel}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}
