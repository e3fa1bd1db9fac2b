//! lvslab: an Ansible-like engine plus the LVS/keepalived content and an embedded microVM lab.
//!
//! Data flows one way: load (inventory, playbooks, templates, with source locations) → plan
//! (hosts resolved, variables merged, everything validated; no host contacted yet) → execute
//! (ssh, parallel, events) → report (progress, recap, JSON).

pub mod cli;
pub(crate) mod exec;
pub mod exit;
pub(crate) mod facts;
#[doc(hidden)]
pub mod fuzz;
pub mod inventory;
pub mod lab;
pub mod lock;
pub(crate) mod modules;
pub mod plan;
pub(crate) mod playbook;
pub(crate) mod report;
pub(crate) mod secret;
pub(crate) mod ssh;
pub(crate) mod template;
pub mod verify;
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
    #[error(transparent)]
    Verify(#[from] verify::run::VerifyError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error("`lvslab {0}` is not available yet (a later issue builds it)")]
    NotAvailable(&'static str),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    /// The message to print: every known secret value redacted.
    pub fn message(&self) -> String {
        secret::redact(&self.to_string())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lab(e) => e.exit_code(),
            Error::Verify(e) => e.exit_code(),
            Error::Inventory(_) | Error::Plan(_) | Error::NotAvailable(_) => exit::INVALID_INPUT,
            // A run refused because another holds the inventory is not bad input: it is this
            // run failing (nothing was run on any host).
            Error::Runtime(_) | Error::Lock(_) => exit::FAILED,
        }
    }
}

/// Where `setup` and `teardown` find their playbooks (relative to the project directory).
pub const SETUP_PLAYBOOK: &str = "playbooks/setup.yml";
pub const TEARDOWN_PLAYBOOK: &str = "playbooks/teardown.yml";

/// Run one command line to completion. Commands that change the nodes hold the inventory's run
/// lock ([`lock`]) throughout.
pub fn run(cli: cli::Cli) -> Result<ExitCode, Error> {
    use cli::Command as C;
    let locked = match &cli.command {
        C::Setup(_) => Some("setup"),
        C::Teardown(_) => Some("teardown"),
        C::Run { .. } => Some("run"),
        C::Verify(a) if a.failover => Some("verify --failover"),
        C::Demo => Some("demo"),
        // Booting, stopping, rebooting or resetting the lab's VMs under a run would pull its
        // nodes away; status, ssh and the ssh proxy (which a run itself uses) stay free.
        C::Lab(cli::LabCommand::Up { .. }) => Some("lab up"),
        C::Lab(cli::LabCommand::Down) => Some("lab down"),
        C::Lab(cli::LabCommand::Reboot { .. }) => Some("lab reboot"),
        C::Lab(cli::LabCommand::Reset { .. }) => Some("lab reset"),
        _ => None,
    };
    let _lock = match locked {
        Some(what) => lock::acquire(&cli.inventory, what)?,
        None => None,
    };
    dispatch(cli)
}

fn dispatch(cli: cli::Cli) -> Result<ExitCode, Error> {
    use cli::Command as C;
    match &cli.command {
        C::Lab(cmd) => Ok(lab::run(cmd, &cli)?),
        C::Verify(a) if a.failover => failover_cmd(&cli, a),
        C::Verify(a) => verify_cmd(&cli, a.requests, &a.extra_vars),
        C::Demo => demo(&cli),
        C::Run {
            playbook,
            opts,
            extra_vars,
        } => engine(
            &cli,
            "run",
            false,
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
                true,
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
            false,
            Some(Path::new(TEARDOWN_PLAYBOOK)),
            o.limit.as_deref(),
            o.check,
            o.diff,
            Vec::new(),
        ),
        C::Ping { limit } => engine(
            &cli,
            "ping",
            false,
            None,
            limit.as_deref(),
            false,
            false,
            Vec::new(),
        ),
    }
}

/// load → plan → execute → report. `lvs`: check the inventory's LVS vocabulary too.
#[allow(clippy::too_many_arguments)]
fn engine(
    cli: &cli::Cli,
    command: &str,
    lvs: bool,
    playbook: Option<&Path>,
    limit: Option<&str>,
    check: bool,
    diff: bool,
    extra_vars: Vec<String>,
) -> Result<ExitCode, Error> {
    let mut plan = plan::build(&plan::Request {
        inventory: &cli.inventory,
        playbook,
        limit,
        extra_vars: &extra_vars,
        check,
        lvs,
    })?;
    if cli.accept_new_host_keys {
        plan.accept_new_host_keys();
    }
    plan::print_warnings(&plan);
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

/// `verify`: gather, evaluate, print the table (stdout, or stderr under `--json`).
fn verify_cmd(cli: &cli::Cli, requests: u32, extra_vars: &[String]) -> Result<ExitCode, Error> {
    let report = verify::run::verify(&cli.inventory, requests, extra_vars)?;
    let table = secret::redact(&verify::render::table(&report));
    if cli.json {
        eprint!("{table}");
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        secret::redact_json(&mut doc);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{table}");
    }
    Ok(ExitCode::from(if report.ok {
        exit::SUCCESS
    } else {
        exit::FAILED
    }))
}

/// `verify --failover`: verify's table, then the drills' timeline and summary; one JSON
/// document with both under `--json`.
fn failover_cmd(cli: &cli::Cli, a: &cli::VerifyArgs) -> Result<ExitCode, Error> {
    use verify::drill::fault::HardStop;
    let opts = verify::drill::Options {
        margin: a.margin,
        hard_stop: match a.hard_stop {
            cli::HardStopArg::Auto => None,
            cli::HardStopArg::Pause => Some(HardStop::VmPause),
            cli::HardStopArg::Kill => Some(HardStop::Sigkill),
        },
    };
    let (report, drill) =
        verify::drill::verify_and_drill(&cli.inventory, a.requests, &a.extra_vars, opts)?;
    let mut text = verify::render::table(&report);
    if let Some(d) = &drill {
        text.push_str(&verify::drill::render::text(d));
    }
    let ok = report.ok && drill.as_ref().is_some_and(|d| d.ok);
    if cli.json {
        eprint!("{text}");
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        doc["failover"] = serde_json::to_value(&drill).unwrap_or_default();
        doc["ok"] = serde_json::Value::Bool(ok);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{text}");
    }
    Ok(ExitCode::from(if ok {
        exit::SUCCESS
    } else {
        exit::FAILED
    }))
}

/// `demo`: the whole tour on the embedded lab, each step through the same code path as its own
/// command, ending with a summary. A failed step stops the tour but still takes the lab down
/// if the demo booted it.
fn demo(cli: &cli::Cli) -> Result<ExitCode, Error> {
    use cli::{Cli, Command, LabCommand, Mode, RunOpts, SetupArgs, VerifyArgs};
    let step = |command: Command| Cli {
        inventory: cli.inventory.clone(),
        verbose: cli.verbose,
        json: false,
        forks: cli.forks,
        accept_new_host_keys: cli.accept_new_host_keys,
        command,
    };
    let opts = || RunOpts {
        check: false,
        diff: false,
        limit: None,
    };
    let was_up = lab::ssh_route(&cli.inventory).is_some();
    let steps: Vec<(&str, Command)> = vec![
        (
            "lab up",
            Command::Lab(LabCommand::Up {
                install_deps: false,
            }),
        ),
        (
            "setup (ha: keepalived pair, LVS-DR)",
            Command::Setup(SetupArgs {
                mode: Mode::Ha,
                opts: opts(),
                extra_vars: Vec::new(),
            }),
        ),
        (
            "verify",
            Command::Verify(VerifyArgs {
                requests: 20,
                extra_vars: Vec::new(),
                failover: false,
                margin: None,
                hard_stop: cli::HardStopArg::Auto,
            }),
        ),
        (
            "failover drill (director and real server faults)",
            Command::Verify(VerifyArgs {
                requests: 20,
                extra_vars: Vec::new(),
                failover: true,
                margin: None,
                hard_stop: cli::HardStopArg::Auto,
            }),
        ),
        ("teardown", Command::Teardown(opts())),
    ];
    let mut summary: Vec<(String, std::time::Duration, bool)> = Vec::new();
    let mut failed = false;
    for (name, command) in steps {
        eprintln!("\n=== demo: {name} ===");
        let started = std::time::Instant::now();
        let ok = match dispatch(step(command)) {
            Ok(code) => code == ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        };
        summary.push((name.to_string(), started.elapsed(), ok));
        if !ok {
            failed = true;
            break;
        }
    }
    if !was_up {
        eprintln!("\n=== demo: lab down ===");
        let started = std::time::Instant::now();
        let ok =
            dispatch(step(Command::Lab(LabCommand::Down))).is_ok_and(|c| c == ExitCode::SUCCESS);
        summary.push(("lab down".into(), started.elapsed(), ok));
        failed |= !ok;
    }
    eprintln!("\n=== demo summary ({}) ===", cli.inventory.display());
    for (name, took, ok) in &summary {
        eprintln!(
            "  {:<50} {:>6.1} s  {}",
            name,
            took.as_secs_f64(),
            if *ok { "ok" } else { "FAILED" }
        );
    }
    eprintln!(
        "{}",
        if failed {
            "The tour stopped at the failed step; its output above says why."
        } else {
            "Shown: the lab booted as microVMs with real kernel IPVS; setup built an LVS-DR cluster with a \
             keepalived pair; verify proved requests, persistence, direct routing (replies bypass the \
             director) and ARP; the failover drill froze the master director and stopped keepalived and a \
             web server while requests kept flowing, and measured the takeovers and health-check \
             removals against keepalived's timers; teardown restored every node exactly."
        }
    );
    Ok(ExitCode::from(if failed {
        exit::FAILED
    } else {
        exit::SUCCESS
    }))
}
