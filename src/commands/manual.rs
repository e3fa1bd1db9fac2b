//! `lvslab completions SHELL` and `lvslab man`: generated from the same command-line definition
//! the parser uses, so they never drift from it.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::Error;

pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "lvslab", &mut std::io::stdout());
    ExitCode::SUCCESS
}

pub fn man() -> Result<ExitCode, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| Error::Write(format!("cannot render the manual page: {e}")))?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Error::Write(format!("cannot write the manual page: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
