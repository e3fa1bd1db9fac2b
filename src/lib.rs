//! lvslab: an Ansible-like engine plus the LVS/keepalived content and an embedded microVM lab.
//!
//! Data flows one way: load (inventory, playbooks, templates, with source locations) → plan
//! (hosts resolved, variables merged, everything validated; no host contacted yet) → execute
//! (ssh, parallel, events) → report (progress, recap, JSON).

pub mod cli;
pub(crate) mod exec;
pub mod exit;
pub(crate) mod facts;
pub mod inventory;
pub mod lab;
pub(crate) mod modules;
pub mod plan;
pub(crate) mod playbook;
pub(crate) mod report;
pub(crate) mod ssh;
pub(crate) mod template;
pub(crate) mod yaml;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// The top-level error: each layer's typed error, and the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lab(#[from] lab::LabError),
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("`lvslab {0}` is not available yet (a later issue builds it)")]
    NotAvailable(&'static str),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lab(e) => e.exit_code(),
            Error::Inventory(_) | Error::Plan(_) | Error::NotAvailable(_) => exit::INVALID_INPUT,
            Error::Runtime(_) => exit::FAILED,
        }
    }
}

/// Where `setup` and `teardown` find their playbooks (relative to the project directory).
pub const SETUP_PLAYBOOK: &str = "playbooks/setup.yml";
pub const TEARDOWN_PLAYBOOK: &str = "playbooks/teardown.yml";

/// Run one command line to completion.
pub fn run(cli: cli::Cli) -> Result<ExitCode, Error> {
    use cli::Command as C;
    match &cli.command {
        C::Lab(cmd) => Ok(lab::run(cmd, &cli)?),
        C::Verify(_) => Err(Error::NotAvailable("verify")),
        C::Demo => Err(Error::NotAvailable("demo")),
        C::Run {
            playbook,
            opts,
            extra_vars,
        } => engine(
            &cli,
            "run",
            Some(playbook),
            opts.limit.as_deref(),
            opts.check,
            opts.diff,
            extra_vars.clone(),
        ),
        C::Setup(a) => {
            let mode = match a.mode {
                cli::Mode::Ha => "ha",
                cli::Mode::Lvs => "lvs",
            };
            let mut extra = vec![format!("lvs_mode={mode}")];
            extra.extend(a.extra_vars.iter().cloned());
            engine(
                &cli,
                "setup",
                Some(Path::new(SETUP_PLAYBOOK)),
                a.opts.limit.as_deref(),
                a.opts.check,
                a.opts.diff,
                extra,
            )
        }
        C::Teardown(o) => engine(
            &cli,
            "teardown",
            Some(Path::new(TEARDOWN_PLAYBOOK)),
            o.limit.as_deref(),
            o.check,
            o.diff,
            Vec::new(),
        ),
        C::Ping { limit } => engine(
            &cli,
            "ping",
            None,
            limit.as_deref(),
            false,
            false,
            Vec::new(),
        ),
    }
}

/// load → plan → execute → report.
fn engine(
    cli: &cli::Cli,
    command: &str,
    playbook: Option<&Path>,
    limit: Option<&str>,
    check: bool,
    diff: bool,
    extra_vars: Vec<String>,
) -> Result<ExitCode, Error> {
    let plan = plan::build(&plan::Request {
        inventory: &cli.inventory,
        playbook,
        limit,
        extra_vars: &extra_vars,
        check,
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let (tx, reporter) = report::spawn(
        report::ReportOptions {
            json: cli.json,
            verbose: cli.verbose,
            diff,
            check,
            command: command.to_string(),
        },
        plan.order.clone(),
    );
    let opts = exec::Options {
        check,
        diff,
        forks: cli.forks,
    };
    rt.block_on(exec::run(Arc::new(plan), opts, tx));
    let summary = reporter.join().unwrap_or_default();
    Ok(ExitCode::from(if summary.success() {
        exit::SUCCESS
    } else {
        exit::FAILED
    }))
}
