//! Injecting the drills' faults and undoing them. Every fault is written in a ledger before it
//! is injected, so whatever happens next — a failed measurement, an error, Ctrl-C, SIGTERM — the
//! ledger knows what to put back.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::observe::exec;
use crate::quote::quote;
use crate::verify::target::Hosts;

/// How the master director is stopped hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HardStop {
    /// The embedded lab: the master's VM frozen through qemu's monitor (QMP `stop`), thawed
    /// with `cont`. Nothing on the node gets a chance to say goodbye.
    VmPause,
    /// Real hosts: every process of keepalived's unit killed with SIGKILL at once (the unit's
    /// cgroup `cgroup.kill`), so no priority-0 advert is sent and the VIP and the IPVS rules stay
    /// in the master's kernel; started again with `systemctl start`. `systemctl kill -s KILL`
    /// is not that: it signals the main process first, and keepalived's children, told of their
    /// parent's death, shut down cleanly (drop the real servers, send priority 0) before their
    /// own SIGKILL arrives (seen on the lab: a takeover in 1 s instead of the master-down
    /// interval). It is the fallback where cgroup v2 has no `cgroup.kill` (Linux < 5.14).
    Sigkill,
}

impl HardStop {
    pub fn describe(self) -> &'static str {
        match self {
            HardStop::VmPause => "VM paused through qemu's monitor (QMP stop / cont)",
            HardStop::Sigkill => {
                "every keepalived process killed with SIGKILL at once (cgroup.kill), then started again"
            }
        }
    }
}

/// One thing to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Undo {
    Thaw(String),
    Start { host: String, unit: String },
}

/// The faults in force, and how to undo them.
pub(crate) struct Ledger {
    inventory: PathBuf,
    open: Mutex<Vec<Undo>>,
}

const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl Ledger {
    pub(crate) fn new(inventory: &Path) -> Ledger {
        Ledger {
            inventory: inventory.to_path_buf(),
            open: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, u: Undo) {
        if let Ok(mut g) = self.open.lock() {
            g.push(u);
        }
    }

    fn done(&self, u: &Undo) {
        if let Ok(mut g) = self.open.lock() {
            if let Some(i) = g.iter().rposition(|x| x == u) {
                g.remove(i);
            }
        }
    }

    /// Freeze the node's VM (recorded first: an interrupted freeze is thawed all the same).
    pub(crate) fn freeze(&self, node: &str) -> Result<(), String> {
        self.note(Undo::Thaw(node.to_string()));
        crate::lab::set_paused(&self.inventory, node, true).map_err(|e| e.to_string())
    }

    pub(crate) fn thaw(&self, node: &str) -> Result<(), String> {
        crate::lab::set_paused(&self.inventory, node, false).map_err(|e| e.to_string())?;
        self.done(&Undo::Thaw(node.to_string()));
        Ok(())
    }

    /// `systemctl stop UNIT` (or kill it with SIGKILL) on `host`, recorded to be started again.
    pub(crate) async fn stop_unit(
        &self,
        hosts: &Hosts,
        host: &str,
        unit: &str,
        kill: bool,
    ) -> Result<(), String> {
        self.note(Undo::Start {
            host: host.to_string(),
            unit: unit.to_string(),
        });
        let cmd = if kill {
            hard_kill(unit)
        } else {
            format!("systemctl stop {}", quote(unit))
        };
        exec(hosts, host, &cmd, COMMAND_TIMEOUT).await.map(|_| ())
    }

    pub(crate) async fn start_unit(
        &self,
        hosts: &Hosts,
        host: &str,
        unit: &str,
    ) -> Result<(), String> {
        exec(
            hosts,
            host,
            &format!("systemctl start {}", quote(unit)),
            COMMAND_TIMEOUT,
        )
        .await?;
        self.done(&Undo::Start {
            host: host.to_string(),
            unit: unit.to_string(),
        });
        Ok(())
    }

    /// Undo every fault still in force: thaw frozen VMs first (their ssh connections then
    /// work again), then start what was stopped. Returns what could not be undone.
    pub(crate) async fn restore(&self, hosts: &Hosts) -> Vec<String> {
        let mut open: Vec<Undo> = self.open.lock().map(|g| g.clone()).unwrap_or_default();
        open.reverse();
        open.sort_by_key(|u| !matches!(u, Undo::Thaw(_)));
        let mut problems = Vec::new();
        for u in open {
            let r = match &u {
                Undo::Thaw(node) => self.thaw(node),
                Undo::Start { host, unit } => self.start_unit(hosts, host, unit).await,
            };
            if let Err(e) = r {
                problems.push(format!("{u:?}: {e}"));
            }
        }
        problems
    }
}

/// SIGKILL to every process of `unit` at once (see [`HardStop::Sigkill`]).
fn hard_kill(unit: &str) -> String {
    format!(
        "f={}; if [ -w \"$f\" ]; then echo 1 >\"$f\"; else systemctl kill --signal=SIGKILL {}; fi",
        quote(&crate::modules::service::cgroup_file(unit, "cgroup.kill")),
        quote(unit)
    )
}
