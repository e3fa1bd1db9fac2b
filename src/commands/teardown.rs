//! `lvslab teardown`: the shipped teardown playbook, which undoes what the nodes recorded.

use std::process::ExitCode;

use super::playbook::{execute, Options, PlaybookRun, Which};
use super::Global;
use crate::Error;

pub fn run(g: &Global, options: &Options, keep_packages: bool) -> Result<ExitCode, Error> {
    // The playbook's `restore` keeps the records named by `teardown_keep`.
    let keep = if keep_packages {
        r#"["package:"]"#
    } else {
        "[]"
    };
    execute(
        g,
        PlaybookRun {
            command: "teardown",
            playbook: Which::Shipped("teardown.yml"),
            options,
            extra_vars: vec![format!("{{\"teardown_keep\": {keep}}}")],
            lvs: false,
        },
    )
}
