//! `wait_for`: wait, on the node, for one of three things:
//! - `port`: a TCP port open (`state: started`) or closed (`stopped`), as Ansible's wait_for;
//! - `http_status`: every one of `targets` (`HOST:PORT`, a list or a space-separated string)
//!   answers `GET path` with that status (an lvslab form);
//! - `address`: an address local on the node (on `interface` when given; an lvslab form).
//!
//! Each wait is a shell script of its own in this folder, sent on stdin with its values as
//! quoted arguments, so no value is pasted into shell text and each script can be linted and
//! run alone. Never reports a change; skipped in check mode (what it waits for is usually
//! started by a task check mode did not run). `fail_on_timeout: false` turns a timeout into an
//! ok result that says what did not happen.

use serde_json::{Map, Value as Json};

use super::{choice, opt, Answers, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::quote::quote;
use crate::ssh::BoxFuture;
use crate::yaml::{Diag, Key, Node};

#[derive(Debug)]
pub(crate) struct WaitFor;

static ARGS: &[Arg] = &[
    opt("host", Ty::Str),
    opt("port", Ty::Int),
    choice("state", &["started", "stopped"]),
    opt("http_status", Ty::Int),
    opt("path", Ty::Str),
    opt("targets", Ty::StrOrList),
    opt("address", Ty::Str),
    opt("interface", Ty::Str),
    opt("timeout", Ty::Int),
    opt("delay", Ty::Int),
    opt("fail_on_timeout", Ty::Bool),
];

const PORT: &str = include_str!("port.sh");
const HTTP: &str = include_str!("http.sh");
const ADDRESS: &str = include_str!("address.sh");

/// The forms, by the argument that selects each.
const FORMS: [&str; 3] = ["port", "http_status", "address"];

/// A wait as it runs on the node: the script and its arguments, already checked.
#[derive(Debug, PartialEq)]
struct Wait {
    script: &'static str,
    args: Vec<String>,
    /// What the wait is for, in a message.
    what: String,
    /// Seconds the whole wait may take, delay included: the bound of the `timeout` around it
    /// (a node that is gone does not refuse a connection, so a try could hang).
    bound: i64,
}

/// `HOST:PORT` (or `[V6]:PORT`) as bash's /dev/tcp takes it: `HOST/PORT`.
fn target(t: &str) -> Result<String, ModuleError> {
    let bad = || ModuleError::msg(format!("`targets`: `{t}` is not HOST:PORT"));
    let (host, port) = t.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    port.parse::<u16>().map_err(|_| bad())?;
    super::operand::name("targets", host)?;
    Ok(format!("{host}/{port}"))
}

fn plan(a: &Args<'_>) -> Result<Wait, ModuleError> {
    let timeout = a.int("timeout")?.unwrap_or(300).max(0);
    let delay = a.int("delay")?.unwrap_or(0).max(0);
    if let Some(status) = a.int("http_status")? {
        let targets: Vec<String> = a
            .list("targets")
            .iter()
            .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let path = a.str("path").unwrap_or_else(|| "/".into());
        let mut args = vec![path.clone(), status.to_string(), timeout.to_string()];
        for t in &targets {
            args.push(target(t)?);
        }
        return Ok(Wait {
            script: HTTP,
            what: format!("HTTP {status} for {path} from {}", targets.join(", ")),
            args,
            bound: timeout + 2,
        });
    }
    if let Some(addr) = a.str("address") {
        super::operand::name("address", &addr)?;
        let iface = a.str("interface").unwrap_or_default();
        if !iface.is_empty() {
            super::operand::name("interface", &iface)?;
        }
        return Ok(Wait {
            script: ADDRESS,
            what: format!("{addr} local on the node"),
            args: vec![addr, iface, timeout.to_string()],
            bound: timeout + 2,
        });
    }
    let host = a.str("host").unwrap_or_else(|| "127.0.0.1".into());
    super::operand::name("host", &host)?;
    let port = a.int("port")?.unwrap_or(0);
    let state = a.str("state").unwrap_or_else(|| "started".into());
    Ok(Wait {
        script: PORT,
        what: format!("{host}:{port} {state}"),
        args: vec![
            host,
            port.to_string(),
            state,
            timeout.to_string(),
            delay.to_string(),
        ],
        bound: delay + timeout + 3,
    })
}

impl Wait {
    /// The command line: bash reads the script from stdin, the values arrive quoted.
    fn command(&self) -> String {
        let mut cmd = format!("timeout {} bash -s --", self.bound);
        for a in &self.args {
            cmd.push(' ');
            cmd.push_str(&quote(a));
        }
        cmd
    }
}

impl Module for WaitFor {
    fn name(&self) -> &'static str {
        "wait_for"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn validate(&self, args: &Node, key: &Key) -> Result<(), Diag> {
        let given: Vec<&str> = FORMS
            .into_iter()
            .filter(|f| args.get(f).is_some())
            .collect();
        if given.len() != 1 {
            return Err(Diag::at_key(
                key,
                &args.src,
                "`wait_for` needs exactly one of `port`, `http_status` or `address`",
            )
            .expected("`port: N`, `http_status: 200` with `targets`, or `address: ADDR`"));
        }
        if given == ["http_status"] && args.get("targets").is_none() {
            return Err(Diag::at_key(
                key,
                &args.src,
                "`wait_for` with `http_status` needs `targets`",
            )
            .expected("`targets: HOST:PORT` (a list, or several separated by spaces)"));
        }
        Ok(())
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        _answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            if cx.check {
                return Ok(Outcome {
                    skipped: true,
                    msg: Some("not waited for in check mode".into()),
                    ..Default::default()
                });
            }
            let wait = plan(&a)?;
            let hard = a.bool("fail_on_timeout")?.unwrap_or(true);
            let cmd = wait.command();
            let out = cx.exec(&cmd, Some(wait.script.as_bytes())).await?;
            if out.ok() {
                return Ok(Outcome::default());
            }
            if hard {
                return Err(ModuleError {
                    msg: format!("wait_for timed out: {}", wait.what),
                    cmd: Some(cmd),
                    status: out.status,
                    stdout: out.stdout_str(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    unreachable: false,
                });
            }
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Ok(Outcome {
                msg: Some(format!("not waited out ({why}); going on")),
                ..Default::default()
            })
        })
    }
}

#[cfg(test)]
mod tests;
