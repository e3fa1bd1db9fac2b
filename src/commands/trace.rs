//! `lvslab trace`: requests to the VIP, captured hop by hop (the lab's switch, or tcpdump on the
//! nodes over ssh).

use std::process::ExitCode;

use super::{status, Global};
use crate::cli::TraceArgs;
use crate::{trace, Error};

/// Trace, print the diagrams (stdout, or stderr under `--json`), exit 1 unless every request
/// was seen forwarded as configured.
pub fn run(g: &Global, a: &TraceArgs) -> Result<ExitCode, Error> {
    let opts = trace::Options {
        requests: a.requests,
        pcap: a.pcap.clone(),
        tcpdump: a.tcpdump,
    };
    let (report, secrets) = trace::trace(&g.aim(&a.extra_vars), &opts)?;
    let text = secrets.redact(&trace::render::text(&report));
    if g.json {
        eprint!("{text}");
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        secrets.redact_json(&mut doc);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{text}");
    }
    Ok(status(report.ok))
}
