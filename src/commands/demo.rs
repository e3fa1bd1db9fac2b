//! `lvslab demo`: the whole tour on the embedded lab, each step through the same function as
//! its own command, ending with a summary.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::playbook::Options;
use super::{setup, status, teardown, verify, Global};
use crate::cli::Mode;
use crate::{lab, Error};

/// Requests verify sends in the tour (verify's own default).
const REQUESTS: u32 = 20;

/// A failed step stops the tour but still takes the lab down if the demo booted it.
pub fn run(g: &Global) -> Result<ExitCode, Error> {
    // The steps print their own output as they would alone; the tour is for reading, not JSON.
    let g = &Global {
        json: false,
        ..g.clone()
    };
    let inv = g.inventory.as_path();
    let was_up = lab::ssh_route(inv).is_some();
    type Step<'a> = (&'a str, Box<dyn Fn() -> Result<ExitCode, Error> + 'a>);
    let steps: Vec<Step> = vec![
        (
            "lab up",
            Box::new(|| {
                lab::up(inv, false)?;
                Ok(ExitCode::SUCCESS)
            }),
        ),
        (
            "setup (ha: keepalived pair, LVS-DR)",
            Box::new(|| setup::run(g, Mode::Ha, &Options::default(), &[])),
        ),
        ("verify", Box::new(|| verify::checks(g, REQUESTS, &[]))),
        (
            "failover drill (director and real server faults)",
            Box::new(|| verify::failover(g, REQUESTS, &[], Default::default())),
        ),
        (
            "teardown",
            Box::new(|| teardown::run(g, &Options::default(), false)),
        ),
    ];
    let mut summary: Vec<(String, Duration, bool)> = Vec::new();
    let mut failed = false;
    for (name, step) in steps {
        let (took, ok) = timed(g, name, step);
        summary.push((name.to_string(), took, ok));
        if !ok {
            failed = true;
            break;
        }
    }
    if !was_up {
        let (took, ok) = timed(g, "lab down", || {
            lab::down(inv)?;
            Ok(ExitCode::SUCCESS)
        });
        summary.push(("lab down".into(), took, ok));
        failed |= !ok;
    }
    print_summary(g, &summary, failed);
    Ok(status(!failed))
}

/// Run one step under its banner: how long it took and whether it succeeded. A step's error
/// is shown as `main` shows a command's.
fn timed(
    g: &Global,
    name: &str,
    step: impl FnOnce() -> Result<ExitCode, Error>,
) -> (Duration, bool) {
    eprintln!("\n=== demo: {name} ===");
    let started = Instant::now();
    let ok = match step() {
        Ok(code) => code == ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "error: {}",
                crate::Failure::new(e, g.asked.redactor()).message()
            );
            false
        }
    };
    (started.elapsed(), ok)
}

fn print_summary(g: &Global, summary: &[(String, Duration, bool)], failed: bool) {
    eprintln!("\n=== demo summary ({}) ===", g.inventory.display());
    for (name, took, ok) in summary {
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
}
