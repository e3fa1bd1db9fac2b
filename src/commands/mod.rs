//! The command layer: one file per `lvslab` command. Each turns its own command-line arguments
//! into the request its layer takes (a playbook run, a verify, a lab operation) and maps the
//! outcome to an exit status. `demo` calls the same functions.

pub mod demo;
pub mod init;
pub mod inventory;
pub mod lab;
pub mod manual;
pub mod ping;
pub mod playbook;
pub mod run;
pub mod setup;
pub mod teardown;
pub mod trace;
pub mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{Cli, ColorArg, Command, LabCommand};
use crate::secret::prompt::{self, Asked};
use crate::{exit, lock, Error, Failure};

/// The inventory used when neither `-i` nor `LVSLAB_INVENTORY` names one.
pub const DEFAULT_INVENTORY: &str = "inventory/lab.yml";

/// Settings every command shares: where the inventory is and how to talk to the user.
#[derive(Debug, Clone)]
pub struct Global {
    pub inventory: PathBuf,
    /// Where the user's copies of the shipped playbooks and templates are (`--playbook-dir`).
    pub playbook_dir: Option<PathBuf>,
    pub verbose: u8,
    pub quiet: bool,
    /// `Some`: `--color always|never`; `None`: by the terminal and `NO_COLOR`.
    pub color: Option<bool>,
    pub json: bool,
    pub forks: usize,
    pub accept_new_host_keys: bool,
    /// The passwords `-k` / `-K` asked, for every plan of the command.
    pub(crate) asked: Asked,
}

impl Global {
    /// What verify, the drills and trace work against: the inventory, `-e`, the passwords asked.
    fn aim<'a>(&'a self, extra_vars: &'a [String]) -> crate::verify::target::Aim<'a> {
        crate::verify::target::Aim {
            inventory: &self.inventory,
            extra_vars,
            asked: &self.asked,
        }
    }

    fn from_cli(cli: &Cli) -> Global {
        Global {
            inventory: cli
                .inventory
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_INVENTORY)),
            playbook_dir: cli.playbook_dir.clone(),
            verbose: cli.verbose,
            quiet: cli.quiet,
            color: match cli.color {
                ColorArg::Auto => None,
                ColorArg::Always => Some(true),
                ColorArg::Never => Some(false),
            },
            json: cli.json,
            forks: cli.forks,
            accept_new_host_keys: cli.accept_new_host_keys,
            asked: Asked::default(),
        }
    }
}

/// Run one command line to completion. Commands that change the nodes hold the inventory's run
/// lock ([`lock`]) throughout. A failure is shown without the passwords asked (the layers that
/// know other secrets mask them in their own errors).
pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let mut g = Global::from_cli(&cli);
    let fail = |e: Error, g: &Global| Failure::new(e, g.asked.redactor());
    crate::ssh::set_verbosity(g.verbose);
    if needs_inventory(&cli.command) && cli.inventory.is_none() && !g.inventory.exists() {
        let e = Error::NoInventory(g.inventory.clone());
        return Err(fail(e, &g));
    }
    let _lock = match lock_name(&cli.command) {
        Some(what) => lock::acquire(&g.inventory, what).map_err(|e| fail(e.into(), &g))?,
        None => None,
    };
    // `-k` / `-K`: asked once, before anything runs; every plan of the run takes them.
    g.asked = prompt::ask(cli.ask_pass, cli.ask_become_pass)
        .map_err(|e| fail(crate::plan::PlanError::Usage(e.to_string()).into(), &g))?;
    dispatch(&g, &cli.command).map_err(|e| fail(e, &g))
}

/// What a command is called in the run lock's "held by" message; `None` for commands that
/// change nothing and so take no lock.
fn lock_name(command: &Command) -> Option<&'static str> {
    match command {
        // A look at the plan contacts nobody and needs no lock.
        Command::Setup(a) if a.opts.plan_only() => None,
        Command::Teardown(a) if a.opts.plan_only() => None,
        Command::Run { opts: o, .. } if o.plan_only() => None,
        Command::Setup(_) => Some("setup"),
        Command::Teardown(_) => Some("teardown"),
        Command::Run { .. } => Some("run"),
        Command::Verify(a) if a.failover => Some("verify --failover"),
        Command::Demo => Some("demo"),
        // Booting, stopping, rebooting or resetting the lab's VMs under a run would pull its
        // nodes away; status, ssh and the ssh proxy (which a run itself uses) stay free.
        Command::Lab(LabCommand::Up { .. }) => Some("lab up"),
        Command::Lab(LabCommand::Down) => Some("lab down"),
        Command::Lab(LabCommand::Reboot { .. }) => Some("lab reboot"),
        Command::Lab(LabCommand::Reset { .. }) => Some("lab reset"),
        Command::Lab(LabCommand::Destroy) => Some("lab destroy"),
        _ => None,
    }
}

fn needs_inventory(command: &Command) -> bool {
    !matches!(
        command,
        Command::Init { .. } | Command::Completions { .. } | Command::Man
    )
}

fn dispatch(g: &Global, command: &Command) -> Result<ExitCode, Error> {
    match command {
        Command::Setup(a) => setup::run(g, a.mode, &(&a.opts).into(), &a.extra_vars),
        Command::Verify(a) => verify::run(g, a),
        Command::Trace(a) => trace::run(g, a),
        Command::Teardown(a) => teardown::run(g, &(&a.opts).into(), a.keep_packages),
        Command::Run {
            playbook,
            opts,
            extra_vars,
        } => run::run(g, playbook, &opts.into(), extra_vars),
        Command::Ping { limit } => ping::run(g, limit.as_deref()),
        Command::Lab(cmd) => lab::run(g, cmd),
        Command::Demo => demo::run(g),
        Command::Init { dir } => init::run(dir),
        Command::Completions { shell } => Ok(manual::completions(*shell)),
        Command::Man => manual::man(),
        Command::Inventory(a) => inventory::run(g, a),
    }
}

/// Exit 0 when the command's job succeeded, 1 when it ran and something failed.
fn status(ok: bool) -> ExitCode {
    ExitCode::from(if ok { exit::SUCCESS } else { exit::FAILED })
}
