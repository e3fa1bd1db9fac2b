//! `wait_for`: wait, on the node, until a TCP port is open (`started`) or closed (`stopped`).
//! Never reports a change; skipped in check mode (see below).

use serde_json::{Map, Value as Json};

use super::{choice, opt, req, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::{quote, BoxFuture};

#[derive(Debug)]
pub(crate) struct WaitFor;

static ARGS: &[Arg] = &[
    opt("host", Ty::Str),
    req("port", Ty::Int),
    choice("state", &["started", "stopped"]),
    opt("timeout", Ty::Int),
    opt("delay", Ty::Int),
];

impl Module for WaitFor {
    fn name(&self) -> &'static str {
        "wait_for"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn run<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            if cx.check {
                // What it waits for is usually started by an earlier task that check mode did
                // not run: waiting would only time out. (`check_mode: false` waits anyway.)
                return Ok(Outcome {
                    skipped: true,
                    msg: Some("not waited for in check mode".into()),
                    ..Default::default()
                });
            }
            let host = a.str("host").unwrap_or_else(|| "127.0.0.1".into());
            super::operand::name("host", &host)?;
            let port = a.int("port")?.unwrap_or(0);
            let started = a.str("state").as_deref() != Some("stopped");
            let timeout = a.int("timeout")?.unwrap_or(300).max(0);
            let delay = a.int("delay")?.unwrap_or(0).max(0);
            // bash's /dev/tcp does the probe: present on every target distribution.
            let probe = format!(
                "timeout 2 bash -c 'exec 3<>/dev/tcp/\"$0\"/\"$1\"' {} {} 2>/dev/null",
                quote(&host),
                port
            );
            let (hit, miss) = if started {
                ("exit 0", ":")
            } else {
                (":", "exit 0")
            };
            let script = format!(
                "sleep {delay}; end=$(( $(date +%s) + {timeout} )); while :; do if {probe}; then {hit}; else {miss}; fi; \
                 if [ \"$(date +%s)\" -ge \"$end\" ]; then echo 'timeout after {timeout}s waiting for {h}:{port} to be {st}' >&2; exit 1; fi; sleep 0.2; done",
                h = host.replace('\'', ""),
                st = if started { "open" } else { "closed" }
            );
            cx.exec_ok("wait_for timed out", &script, None).await?;
            Ok(Outcome::default())
        })
    }
}
