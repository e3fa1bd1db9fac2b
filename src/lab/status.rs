//! `lab status`: for each node, whether its VM runs (recorded pid still our qemu), whether ssh
//! answers (a real login through the proxy), its address and interface.

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
}

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
                    let ssh_ok = pid.is_some()
                        && net
                        && netns::tcp_probe(
                            &topo.netns(),
                            node.address,
                            node.port,
                            Duration::from_secs(2),
                        )
                        && ssh::run(topo, paths, node, "true", Duration::from_secs(5))
                            .map(|(ok, _, _)| ok)
                            .unwrap_or(false);
                    NodeStatus {
                        name: node.name.clone(),
                        pid,
                        ssh: ssh_ok,
                        address: format!("{}/{}", node.address, node.prefix),
                        interface: node.interface.clone(),
                        rss_kib: pid.and_then(vm::rss_kib),
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
        "{:w$}  {:8}  {:4}  {:18}  {:10}  {:>8}  {:>7}",
        "NODE", "VM", "SSH", "ADDRESS", "INTERFACE", "PID", "RSS_MB"
    );
    for n in &nodes {
        println!(
            "{:w$}  {:8}  {:4}  {:18}  {:10}  {:>8}  {:>7}",
            n.name,
            if n.pid.is_some() { "running" } else { "down" },
            if n.ssh { "yes" } else { "no" },
            n.address,
            n.interface,
            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            n.rss_kib
                .map(|k| (k / 1024).to_string())
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}
