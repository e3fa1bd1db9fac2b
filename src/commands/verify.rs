//! `lvslab verify`: the read-only checks, and with `--failover` the drills after them.

use std::process::ExitCode;

use super::{status, Global};
use crate::cli::{HardStopArg, VerifyArgs};
use crate::verify::drill::{self, fault::HardStop};
use crate::{verify, Error};

pub fn run(g: &Global, a: &VerifyArgs) -> Result<ExitCode, Error> {
    if !a.failover {
        return checks(g, a.requests, &a.extra_vars);
    }
    let opts = drill::Options {
        margin: a.margin,
        hard_stop: match a.hard_stop {
            HardStopArg::Auto => None,
            HardStopArg::Pause => Some(HardStop::VmPause),
            HardStopArg::Kill => Some(HardStop::Sigkill),
        },
    };
    failover(g, a.requests, &a.extra_vars, opts)
}

/// Gather, evaluate, print the table (stdout, or stderr under `--json`).
pub fn checks(g: &Global, requests: u32, extra_vars: &[String]) -> Result<ExitCode, Error> {
    let (report, secrets) = verify::run::verify(&g.aim(extra_vars), requests)?;
    let table = secrets.redact(&verify::render::table(&report));
    if g.json {
        eprint!("{table}");
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        secrets.redact_json(&mut doc);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{table}");
    }
    Ok(status(report.ok))
}

/// verify's table, then the drills' timeline and summary; one JSON document with both under
/// `--json`.
pub fn failover(
    g: &Global,
    requests: u32,
    extra_vars: &[String],
    opts: drill::Options,
) -> Result<ExitCode, Error> {
    let (report, drill, secrets) = drill::verify_and_drill(&g.aim(extra_vars), requests, opts)?;
    let mut text = verify::render::table(&report);
    if let Some(d) = &drill {
        text.push_str(&drill::render::text(d));
    }
    let text = secrets.redact(&text);
    let ok = report.ok && drill.as_ref().is_some_and(|d| d.ok);
    if g.json {
        eprint!("{text}");
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        doc["failover"] = serde_json::to_value(&drill).unwrap_or_default();
        doc["ok"] = serde_json::Value::Bool(ok);
        secrets.redact_json(&mut doc);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{text}");
    }
    Ok(status(ok))
}
