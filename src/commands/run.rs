//! `lvslab run PLAYBOOK`: any playbook against the inventory.

use std::path::Path;
use std::process::ExitCode;

use super::playbook::{execute, Options, PlaybookRun, Which};
use super::Global;
use crate::Error;

pub fn run(
    g: &Global,
    playbook: &Path,
    options: &Options,
    extra_vars: &[String],
) -> Result<ExitCode, Error> {
    execute(
        g,
        PlaybookRun {
            command: "run",
            playbook: Which::File(playbook),
            options,
            extra_vars: extra_vars.to_vec(),
            lvs: false,
        },
    )
}
