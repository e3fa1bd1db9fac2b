//! `lvslab ping`: reach every host and print its facts summary (a run with no playbook).

use std::process::ExitCode;

use super::playbook::{execute, Options, PlaybookRun, Which};
use super::Global;
use crate::Error;

pub fn run(g: &Global, limit: Option<&str>) -> Result<ExitCode, Error> {
    execute(
        g,
        PlaybookRun {
            command: "ping",
            playbook: Which::FactsOnly,
            options: &Options {
                limit: limit.map(str::to_string),
                ..Options::default()
            },
            extra_vars: Vec::new(),
            lvs: false,
        },
    )
}
