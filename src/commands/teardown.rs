//! `lvslab teardown`: the shipped teardown playbook, which undoes what the nodes recorded.

use std::process::ExitCode;

use super::playbook::{execute, Options, PlaybookRun, Which};
use super::Global;
use crate::Error;

pub fn run(g: &Global, options: &Options) -> Result<ExitCode, Error> {
    execute(
        g,
        PlaybookRun {
            command: "teardown",
            playbook: Which::Shipped("teardown.yml"),
            options,
            extra_vars: Vec::new(),
            lvs: false,
        },
    )
}
