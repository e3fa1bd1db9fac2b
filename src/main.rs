//! The `lvslab` binary: parse the command line, hand it to the library, format its error.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Started by ssh as the askpass helper of a password login (see the ssh module).
    if let Some(code) = lvslab::answer_if_asked() {
        return ExitCode::from(code);
    }
    let cli = lvslab::cli::Cli::parse();
    let json = cli.json;
    match lvslab::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let msg = err.message();
            eprintln!("error: {msg}");
            if json {
                // `--json` promises one document on stdout, failures included.
                let doc = serde_json::json!({
                    "success": false,
                    "exit_code": err.exit_code(),
                    "error": msg,
                });
                println!("{doc}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}
