//! The `lvslab` binary: parse the command line, hand it to the library, format its error.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = lvslab::cli::Cli::parse();
    match lvslab::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
