//! `lvslab setup`: the shipped setup playbook, with the mode as a variable the playbook reads.

use std::process::ExitCode;

use super::playbook::{execute, Options, PlaybookRun, Which};
use super::Global;
use crate::cli::Mode;
use crate::Error;

pub fn run(
    g: &Global,
    mode: Mode,
    options: &Options,
    extra_vars: &[String],
) -> Result<ExitCode, Error> {
    let mode = match mode {
        Mode::Ha => "ha",
        Mode::Lvs => "lvs",
    };
    let mut all_vars = vec![format!("lvs_mode={mode}")];
    all_vars.extend(extra_vars.iter().cloned());
    execute(
        g,
        PlaybookRun {
            command: "setup",
            playbook: Which::Shipped("setup.yml"),
            options,
            extra_vars: all_vars,
            lvs: true,
        },
    )
}
