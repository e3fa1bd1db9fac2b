//! The lab's life cycle: `up` (cold boot or resume every node, in parallel, until ssh answers),
//! `down` (suspend every node to a file, remove the network), `reboot NODE`, `reset [NODE]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::cache::{self, Base};
use super::image::Image;
use super::keys::{self, LabPaths};
use super::progress::{NodeLine, Progress};
use super::topology::{self, Node, Topology};
use super::{netns, prereq, ssh, vm, LabError};

/// How long a node may take from qemu start until ssh answers (`LVSLAB_BOOT_TIMEOUT`, seconds).
fn boot_timeout() -> Duration {
    let secs = std::env::var("LVSLAB_BOOT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// What the running VM of a node was started with (for `down` to record with its saved state).
fn running_fingerprint(paths: &LabPaths, node: &str) -> std::path::PathBuf {
    paths.node(node).dir.join("running.fp")
}

/// Everything needed to start nodes of one lab.
pub(crate) struct Lab {
    pub topo: Topology,
    pub paths: LabPaths,
    /// The built image of every release and package set the nodes boot (none until prepared).
    bases: BTreeMap<Image, Base>,
    accel: vm::Accel,
}

impl Lab {
    fn prepare(topo: Topology, progress: &Progress) -> Result<Lab, LabError> {
        let mut bases = BTreeMap::new();
        for node in &topo.nodes {
            if let std::collections::btree_map::Entry::Vacant(e) = bases.entry(node.image) {
                e.insert(cache::ensure_base(node.image, &|m| progress.say(m))?);
            }
        }
        let paths = LabPaths::new(&topo.lab_name);
        keys::ensure(&topo, &paths)?;
        let first = bases
            .values()
            .next()
            .ok_or_else(|| LabError::State("the lab has no nodes".into()))?;
        let accel = vm::choose_accel(&cache::cache_dir(), first);
        Ok(Lab {
            topo,
            paths,
            bases,
            accel,
        })
    }

    /// A lab that only talks to running nodes (no image needed).
    fn running(topo: Topology) -> Lab {
        Lab {
            paths: LabPaths::new(&topo.lab_name),
            topo,
            bases: BTreeMap::new(),
            accel: vm::Accel::Tcg,
        }
    }

    fn spec_args(&self, index: usize) -> Result<(Vec<String>, String), LabError> {
        let node = &self.topo.nodes[index];
        let base = self
            .bases
            .get(&node.image)
            .ok_or_else(|| LabError::State("the node image is not prepared".into()))?;
        let np = self.paths.node(&node.name);
        let tap = netns::tap_name(index);
        let mac = keys::mac_address(&self.topo.lab_name, &node.name);
        let machine_id = std::fs::read_to_string(np.machine_id())
            .map_err(|e| LabError::State(format!("{}: {e}", np.machine_id().display())))?;
        let spec = vm::VmSpec {
            lab: &self.topo.lab_name,
            node,
            base,
            paths: &np,
            tap: &tap,
            mac: &mac,
            machine_id: machine_id.trim(),
            accel: self.accel,
        };
        let args = vm::qemu_args(&spec);
        let fp = vm::args_fingerprint(&args, base);
        Ok((args, fp))
    }

    /// Start one node (resuming its saved state when valid) and wait until ssh answers.
    /// Returns a human summary.
    fn start_node(
        &self,
        index: usize,
        line: &NodeLine,
        force_cold: bool,
    ) -> Result<String, LabError> {
        let node = &self.topo.nodes[index];
        let np = self.paths.node(&node.name);
        let started = Instant::now();
        // A node whose image changed (another release or package set, or a rebuild) starts
        // over from a fresh disk: its disk holds changes to the old image's files (the package
        // database among them), which would shadow the new image's.
        let base = self
            .bases
            .get(&node.image)
            .ok_or_else(|| LabError::State("the node image is not prepared".into()))?;
        let image_file = np.dir.join("image");
        let changed = np.disk().exists()
            && std::fs::read_to_string(&image_file).map_or(true, |i| i.trim() != base.id);
        if changed {
            line.set(&format!(
                "image {} is new to this node: starting from a fresh disk",
                node.image
            ));
            vm::discard_state(&np);
        }
        vm::ensure_disk(&np, changed)?;
        std::fs::write(&image_file, &base.id)
            .map_err(|e| LabError::State(format!("{}: {e}", image_file.display())))?;
        netns::ensure_tap(&self.topo, index)?;
        let (args, fp) = self.spec_args(index)?;
        let mut restore = !force_cold && vm::restorable(&np, &fp);
        if !restore {
            vm::discard_state(&np);
        }
        loop {
            line.set(if restore {
                "resuming saved state"
            } else {
                "booting"
            });
            let pid = vm::start(&self.topo.netns(), &args, &np, restore)
                .map_err(|e| self.node_failed(node, &e.to_string()))?;
            std::fs::write(running_fingerprint(&self.paths, &node.name), &fp)
                .map_err(|e| LabError::State(e.to_string()))?;
            trace(&node.name, "qemu started", started);
            let resumed = if restore {
                vm::resume_after_incoming(&np, Duration::from_secs(60))
            } else {
                Ok(())
            };
            trace(&node.name, "state loaded", started);
            let ready = resumed.and_then(|_| {
                if restore {
                    self.wait_resumed(node, pid, line)
                } else {
                    self.wait_ssh(node, pid, false, line, None)
                        .map(|_| "booted, ssh answers")
                }
            });
            match ready {
                Ok(how) => {
                    if restore {
                        vm::discard_state(&np);
                    }
                    return Ok(format!("{how} ({:.1} s)", started.elapsed().as_secs_f64()));
                }
                Err(e) if restore => {
                    // A state that does not resume is thrown away; boot from the disk instead.
                    line.set(&format!("resume failed ({e}); booting"));
                    let _ = vm::stop(&self.topo.lab_name, &node.name, &np);
                    vm::discard_state(&np);
                    restore = false;
                }
                Err(e) => {
                    let _ = vm::stop(&self.topo.lab_name, &node.name, &np);
                    return Err(e);
                }
            }
        }
    }

    fn node_failed(&self, node: &Node, message: &str) -> LabError {
        let np = self.paths.node(&node.name);
        LabError::NodeFailed {
            node: node.name.clone(),
            message: message.to_string(),
            console: vm::console_tail(&np, 15),
            console_path: np.console().display().to_string(),
        }
    }

    /// A resumed node is ready once its clock is set and its sshd (the one that answered a
    /// login before the state was saved) accepts connections on the lab's switch. Its clock
    /// agent sets the clock without an ssh login, which under TCG is most of a resume's cost
    /// and would be paid again by the first run that logs in; without an answer from the agent,
    /// a login sets the clock instead.
    fn wait_resumed(
        &self,
        node: &Node,
        pid: i32,
        line: &NodeLine,
    ) -> Result<&'static str, LabError> {
        let clock_start = Instant::now();
        if let Err(e) = vm::set_clock(&self.paths.node(&node.name), Duration::from_secs(10)) {
            trace(&node.name, &format!("no clock agent ({e})"), clock_start);
            return self
                .wait_ssh(node, pid, true, line, None)
                .map(|_| "resumed, ssh answers");
        }
        trace(&node.name, "clock set", clock_start);
        let deadline = Instant::now() + boot_timeout();
        line.set("waiting for sshd");
        while Instant::now() < deadline {
            if self.listening(node, pid, "its VM stopped after resuming")? {
                return Ok("resumed, clock set, sshd listening");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(self.node_failed(
            node,
            &format!(
                "sshd did not accept connections within {} s of resuming",
                boot_timeout().as_secs()
            ),
        ))
    }

    /// Whether the node's sshd accepts connections on the lab's switch (one probe); an error
    /// (`stopped`) when the node's VM is no longer the one started as `pid`.
    fn listening(&self, node: &Node, pid: i32, stopped: &str) -> Result<bool, LabError> {
        let np = self.paths.node(&node.name);
        if vm::running_pid(&self.topo.lab_name, &node.name, &np) != Some(pid) {
            return Err(self.node_failed(node, stopped));
        }
        Ok(netns::tcp_probe(
            &self.topo.netns(),
            node.address,
            node.port,
            Duration::from_millis(500),
        ))
    }

    /// Wait until the node's sshd answers a real ssh login; returns the node's boot id.
    /// `not_boot` skips a boot id (waiting for a reboot to finish).
    fn wait_ssh(
        &self,
        node: &Node,
        pid: i32,
        set_clock: bool,
        line: &NodeLine,
        not_boot: Option<&str>,
    ) -> Result<String, LabError> {
        let deadline = Instant::now() + boot_timeout();
        let mut last_err = String::from("no answer");
        line.set("waiting for ssh");
        while Instant::now() < deadline {
            let probe_start = Instant::now();
            if !self.listening(node, pid, "its VM stopped before ssh answered")? {
                std::thread::sleep(Duration::from_millis(150));
                continue;
            }
            // A resumed VM's clock stopped while it was saved: set it as part of the check.
            let remote = if set_clock {
                format!(
                    "date -u -s @{} >/dev/null; cat /proc/sys/kernel/random/boot_id",
                    vm::host_time()
                )
            } else {
                "cat /proc/sys/kernel/random/boot_id".to_string()
            };
            trace(&node.name, "tcp port open", probe_start);
            let ssh_start = Instant::now();
            let answer = ssh::run(
                &self.topo,
                &self.paths,
                node,
                &remote,
                Duration::from_secs(10),
            );
            trace(&node.name, "ssh answered", ssh_start);
            match answer {
                Ok((true, out, _)) => {
                    let id = out.trim().to_string();
                    if not_boot != Some(id.as_str()) {
                        return Ok(id);
                    }
                    last_err = "still the old boot".into();
                }
                Ok((false, _, err)) => last_err = err.trim().to_string(),
                Err(e) => last_err = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Err(self.node_failed(
            node,
            &format!(
                "ssh did not answer within {} s (last: {last_err})",
                boot_timeout().as_secs()
            ),
        ))
    }
}

/// Timing lines for finding where `lab up` spends its time (`LVSLAB_TRACE=1`).
fn trace(node: &str, what: &str, since: Instant) {
    if std::env::var_os("LVSLAB_TRACE").is_some() {
        eprintln!(
            "trace: {node}: {what} after {:.3} s",
            since.elapsed().as_secs_f64()
        );
    }
}

fn name_width(topo: &Topology) -> usize {
    topo.nodes.iter().map(|n| n.name.len()).max().unwrap_or(6)
}

/// Run `f` for every selected node on its own thread; collect errors by node.
fn parallel<F>(indices: &[usize], f: F) -> Vec<(usize, Result<String, LabError>)>
where
    F: Fn(usize) -> Result<String, LabError> + Sync,
{
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = indices
            .iter()
            .map(|&i| (i, s.spawn(move || f(i))))
            .collect();
        handles
            .into_iter()
            .map(|(i, h)| {
                (
                    i,
                    h.join().unwrap_or_else(|_| {
                        Err(LabError::State("a worker thread panicked".into()))
                    }),
                )
            })
            .collect()
    })
}

fn collect(
    topo: &Topology,
    results: Vec<(usize, Result<String, LabError>)>,
) -> Result<(), LabError> {
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(i, r)| {
            r.err().map(|e| match e {
                // Already names the node.
                LabError::NodeFailed { .. } => e.to_string(),
                e => format!("{}: {e}", topo.nodes[i].name),
            })
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(LabError::Failed(failures.join("\n")))
    }
}

/// `lab up`.
pub fn up(inventory: &Path, install_deps: bool) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    if install_deps {
        prereq::install()?;
    }
    prereq::check()?;
    let progress = Progress::new();
    let started = Instant::now();
    let lab = Lab::prepare(topo, &progress)?;
    let topo = &lab.topo;
    let was_up = netns::exists(&topo.netns());
    if !was_up {
        ssh::close_persisted(inventory);
    }
    netns::create(topo)?;
    let width = name_width(topo);
    let all: Vec<usize> = (0..topo.nodes.len()).collect();
    let results = parallel(&all, |i| {
        let node = &topo.nodes[i];
        let line = progress.node(&node.name, width);
        let np = lab.paths.node(&node.name);
        let r = match vm::running_pid(&topo.lab_name, &node.name, &np) {
            Some(pid) => lab
                .wait_ssh(node, pid, false, &line, None)
                .map(|_| "already running, ssh answers".to_string()),
            None => lab.start_node(i, &line, false),
        };
        match &r {
            Ok(m) => line.finish(&format!(
                "{m} — {}/{} {}",
                node.address, node.prefix, node.interface
            )),
            Err(_) => line.finish("FAILED"),
        }
        r
    });
    collect(topo, results)?;
    progress.say(&format!(
        "lab {} {} in {:.1} s ({} node{}, network namespace {})",
        topo.lab_name,
        if was_up { "is up" } else { "up" },
        started.elapsed().as_secs_f64(),
        topo.nodes.len(),
        if topo.nodes.len() == 1 { "" } else { "s" },
        topo.netns()
    ));
    Ok(())
}

/// `lab down`.
pub fn down(inventory: &Path) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    prereq::check()?;
    ssh::close_persisted(inventory);
    let paths = LabPaths::new(&topo.lab_name);
    let progress = Progress::new();
    let started = Instant::now();
    let running: Vec<usize> = (0..topo.nodes.len())
        .filter(|&i| {
            vm::running_pid(
                &topo.lab_name,
                &topo.nodes[i].name,
                &paths.node(&topo.nodes[i].name),
            )
            .is_some()
        })
        .collect();
    if running.is_empty() && !netns::exists(&topo.netns()) {
        progress.say(&format!("lab {} is not up", topo.lab_name));
        return Ok(());
    }
    let width = name_width(&topo);
    let results = parallel(&running, |i| {
        let node = &topo.nodes[i];
        let np = paths.node(&node.name);
        let line = progress.node(&node.name, width);
        line.set("saving state");
        let fp =
            std::fs::read_to_string(running_fingerprint(&paths, &node.name)).unwrap_or_default();
        let r = if fp.is_empty() {
            vm::stop(&topo.lab_name, &node.name, &np).map(|_| "stopped".to_string())
        } else {
            match vm::save(&topo.lab_name, &node.name, &np, fp.trim()) {
                Ok(()) => Ok("state saved, stopped".to_string()),
                Err(e) => {
                    // Saving failed: stop it anyway; the next `lab up` boots it from its disk.
                    let _ = vm::stop(&topo.lab_name, &node.name, &np);
                    Ok(format!("stopped (state not saved: {e})"))
                }
            }
        };
        let _ = std::fs::remove_file(running_fingerprint(&paths, &node.name));
        match &r {
            Ok(m) => line.finish(m),
            Err(_) => line.finish("FAILED"),
        }
        r
    });
    netns::destroy(&topo)?;
    collect(&topo, results)?;
    progress.say(&format!(
        "lab {} down in {:.1} s",
        topo.lab_name,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

pub(super) fn node_index(topo: &Topology, name: &str) -> Result<usize, LabError> {
    topo.nodes
        .iter()
        .position(|n| n.name == name)
        .ok_or_else(|| LabError::UnknownNode {
            node: name.to_string(),
            lab: topo.lab_name.clone(),
            known: topo
                .nodes
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// `lab reboot NODE`: a clean reboot inside the guest; its disk state survives.
pub fn reboot(inventory: &Path, name: &str) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    let index = node_index(&topo, name)?;
    prereq::check()?;
    let progress = Progress::new();
    let lab = Lab::running(topo);
    let node = &lab.topo.nodes[index];
    let np = lab.paths.node(&node.name);
    let pid = vm::running_pid(&lab.topo.lab_name, &node.name, &np)
        .ok_or_else(|| LabError::NodeDown(node.name.clone()))?;
    let line = progress.node(&node.name, node.name.len());
    let started = Instant::now();
    let (ok, old, err) = ssh::run(
        &lab.topo,
        &lab.paths,
        node,
        "cat /proc/sys/kernel/random/boot_id",
        Duration::from_secs(10),
    )?;
    if !ok {
        return Err(lab.node_failed(node, &format!("ssh does not answer: {}", err.trim())));
    }
    line.set("rebooting");
    ssh::close_persisted(inventory);
    let _ = ssh::run(
        &lab.topo,
        &lab.paths,
        node,
        "systemctl reboot",
        Duration::from_secs(10),
    );
    let old = old.trim().to_string();
    lab.wait_ssh(node, pid, false, &line, Some(&old))?;
    line.finish(&format!(
        "rebooted, ssh answers ({:.1} s)",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `lab reset [NODE]`: back to the pristine image (disk recreated, saved state dropped); a
/// running node is booted again from scratch.
pub fn reset(inventory: &Path, name: Option<&str>) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    let indices: Vec<usize> = match name {
        Some(n) => vec![node_index(&topo, n)?],
        None => (0..topo.nodes.len()).collect(),
    };
    prereq::check()?;
    ssh::close_persisted(inventory);
    let progress = Progress::new();
    let lab_up = netns::exists(&topo.netns());
    let lab = if lab_up {
        Lab::prepare(topo, &progress)?
    } else {
        Lab::running(topo)
    };
    let width = name_width(&lab.topo);
    let results = parallel(&indices, |i| {
        let node = &lab.topo.nodes[i];
        let np = lab.paths.node(&node.name);
        let line = progress.node(&node.name, width);
        line.set("resetting");
        vm::stop(&lab.topo.lab_name, &node.name, &np)?;
        vm::discard_state(&np);
        let _ = std::fs::remove_file(running_fingerprint(&lab.paths, &node.name));
        let r = if np.dir.exists() {
            vm::ensure_disk(&np, true)
        } else {
            Ok(())
        };
        let r = r.and_then(|_| {
            if lab_up {
                lab.start_node(i, &line, true)
                    .map(|m| format!("reset, {m}"))
            } else {
                Ok("reset (lab is down)".to_string())
            }
        });
        match &r {
            Ok(m) => line.finish(m),
            Err(_) => line.finish("FAILED"),
        }
        r
    });
    collect(&lab.topo, results)
}
