//! The embedded virtual lab (issue 3). Owned by the lab work stream; see docs/architecture.md.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("not built yet")]
    Unsupported,
}

impl LabError {
    pub fn exit_code(&self) -> u8 {
        crate::exit::FAILED
    }
}

pub fn run(_cmd: &crate::cli::LabCommand, _cli: &crate::cli::Cli) -> Result<ExitCode, LabError> {
    Err(LabError::Unsupported)
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
}

pub fn ssh_route(_inventory_path: &std::path::Path) -> Option<SshRoute> {
    None
}
