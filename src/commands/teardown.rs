//! `lvslab teardown`: the shipped teardown playbook, which undoes what the nodes recorded.

use std::path::Path;
use std::process::ExitCode;

use super::playbook::{execute, Options, PlaybookRun};
use super::Global;
use crate::Error;

/// Where `teardown` finds its playbook (relative to the project directory).
pub const PLAYBOOK: &str = "playbooks/teardown.yml";

pub fn run(g: &Global, options: &Options) -> Result<ExitCode, Error> {
    execute(
        g,
        PlaybookRun {
            command: "teardown",
            playbook: Some(Path::new(PLAYBOOK)),
            options,
            extra_vars: Vec::new(),
            lvs: false,
        },
    )
}
