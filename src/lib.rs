//! lvslab: an Ansible-like engine plus the LVS/keepalived content and an embedded microVM lab.
//!
//! Data flows one way: load (inventory, playbooks, templates, with source locations) → plan
//! (hosts resolved, variables merged, everything validated; no host contacted yet) → execute
//! (ssh, parallel, events) → report (progress, recap, JSON).

pub mod cli;
pub mod exit;
pub mod inventory;
pub mod lab;
pub(crate) mod yaml;

use std::process::ExitCode;

/// The top-level error: each layer's typed error, and the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lab(#[from] lab::LabError),
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lab(e) => e.exit_code(),
            Error::Inventory(_) => exit::INVALID_INPUT,
        }
    }
}

/// Run one command line to completion.
pub fn run(cli: cli::Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        cli::Command::Lab(cmd) => Ok(lab::run(cmd, &cli)?),
        _ => Err(Error::Lab(lab::LabError::Unsupported)),
    }
}
