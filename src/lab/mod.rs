//! The embedded virtual lab: one small VM per inventory host (qemu, Debian kernel with
//! real IPVS, systemd), joined by a bridge inside a network namespace of the lab's own.
//!
//! Layout: [`topology`] (inventory → nodes), [`prereq`] (what the machine needs), [`cache`]
//! (root image, kernel, initramfs; built once), [`initramfs`], [`keys`] (lab state directory,
//! ssh identities, known_hosts), [`netns`] (namespace, bridge, taps; entering the lab), [`vm`]
//! (qemu, pid, QMP, save/restore), [`ssh`], [`ops`] (up/down/reboot/reset), [`status`],
//! [`proxy`] (ssh ProxyCommand), [`progress`] (terminal output).

pub mod cache;
pub mod image;
pub mod initramfs;
pub mod keys;
mod login;
pub mod netns;
mod ops;
pub mod prereq;
mod progress;
mod proxy;
mod repo;
pub mod ssh;
pub mod ssh_config;
pub mod status;
pub mod topology;
pub mod vm;

use std::path::Path;
use std::process::ExitCode;

pub use ops::{down, reboot, reset, up};
pub use proxy::run as proxy;
pub use ssh_config::destroy;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
    #[error("the lab needs root (network namespaces, taps): run it with sudo")]
    NotRoot,
    #[error("the lab needs {missing}\ninstall them with: {install}\n(or run `lvslab lab up --install-deps`)")]
    MissingPrerequisites { missing: String, install: String },
    #[error("{0}")]
    Prerequisite(String),
    #[error("building the lab cache: {0}")]
    Build(String),
    #[error("lab network: {0}")]
    Network(String),
    #[error("lab state: {0}")]
    State(String),
    #[error("{0}")]
    Vm(String),
    #[error("lab {0} is not up (run `lvslab lab up`)")]
    NotUp(String),
    #[error("node {0} is not running (run `lvslab lab up`)")]
    NodeDown(String),
    #[error("lab {lab} has no node {node} (nodes: {known})")]
    UnknownNode {
        node: String,
        lab: String,
        known: String,
    },
    #[error("node {node}: {message}\nlast lines of its console ({console_path}):\n{console}")]
    NodeFailed {
        node: String,
        message: String,
        console: String,
        console_path: String,
    },
    #[error("{0}")]
    Failed(String),
}

impl LabError {
    pub fn exit_code(&self) -> u8 {
        match self {
            LabError::Topology(_) | LabError::UnknownNode { .. } => crate::exit::INVALID_INPUT,
            _ => crate::exit::FAILED,
        }
    }
}

/// `lab ssh NODE [COMMAND...]`: a shell, or one command; exits with ssh's status.
pub fn ssh_node(inventory: &Path, name: &str, command: &[String]) -> Result<ExitCode, LabError> {
    let topo = topology::load(inventory)?;
    let node = &topo.nodes[ops::node_index(&topo, name)?];
    if !netns::exists(&topo.netns()) {
        return Err(LabError::NotUp(topo.lab_name.clone()));
    }
    let paths = keys::LabPaths::new(&topo.lab_name);
    let mut c = ssh::command(&topo, &paths, node, 10);
    if !command.is_empty() {
        c.arg("--").args(command);
    }
    let status = c
        .status()
        .map_err(|e| LabError::Vm(format!("cannot run ssh: {e}")))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(255).clamp(0, 255) as u8
    ))
}

/// Freeze (`pause`) or thaw one node's VM of the inventory's lab, for fault drills.
pub fn set_paused(inventory: &Path, node: &str, paused: bool) -> Result<(), LabError> {
    let topo = topology::load(inventory)?;
    ops::node_index(&topo, node)?;
    let paths = keys::LabPaths::new(&topo.lab_name).node(node);
    if paused {
        vm::pause(&topo.lab_name, node, &paths)
    } else {
        vm::resume(&topo.lab_name, node, &paths)
    }
}

/// How the engine reaches the hosts of an inventory whose embedded lab is up: the nodes live in
/// the lab's own network namespace, so ssh goes through `lvslab lab proxy` and checks the host
/// keys the lab generated. `None` when no lab of this inventory is running (real hosts).
#[derive(Debug, Clone)]
pub struct SshRoute {
    /// Value for ssh's `ProxyCommand` option (`%h`/`%p` tokens left for ssh to expand).
    pub proxy_command: String,
    /// known_hosts file holding every node's host key.
    pub known_hosts: std::path::PathBuf,
    /// Private key the lab authorised on every node (used unless the inventory names one).
    pub identity: std::path::PathBuf,
    /// The lab's network namespace (verify's client and the drills work from there).
    pub netns: String,
}

/// The route to an inventory's lab when it is up; `None` for real hosts (or an inventory that
/// is not a lab). Reads the inventory file: commands that already loaded it use [`route`].
pub fn ssh_route(inventory_path: &std::path::Path) -> Option<SshRoute> {
    let inv = crate::inventory::Inventory::load(inventory_path).ok()?;
    route(&inv)
}

/// [`ssh_route`] for an inventory already loaded: the one place that looks at the machine (is
/// the lab's namespace there, are its keys) before a plan is made, so the plan itself never does.
pub fn route(inv: &crate::inventory::Inventory) -> Option<SshRoute> {
    let topo = topology::from_inventory(inv).ok()?;
    let inventory_path = inv.path();
    if !netns::exists(&topo.netns()) {
        return None;
    }
    let paths = keys::LabPaths::new(&topo.lab_name);
    if !paths.identity().exists() || !paths.known_hosts().exists() {
        return None;
    }
    Some(SshRoute {
        proxy_command: ssh::proxy_command(inventory_path),
        known_hosts: paths.known_hosts(),
        identity: paths.identity(),
        netns: topo.netns(),
    })
}
