//! `service`: started/stopped/restarted/reloaded and enabled, through systemd when it is the
//! running init (fact `service_mgr`), else `service` and init scripts. The original running and
//! enabled states are recorded so `restore` puts them back.

use serde_json::{json, Map, Value as Json};

use super::{choice, opt, req, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::{argv, quote, BoxFuture};

#[derive(Debug)]
pub(crate) struct Service;

static ARGS: &[Arg] = &[
    req("name", Ty::Str),
    choice("state", &["started", "stopped", "restarted", "reloaded"]),
    opt("enabled", Ty::Bool),
];

impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
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
            let name = a.req("name")?;
            super::operand::name("service", &name)?;
            let state = a.str("state");
            let enabled = a.bool("enabled")?;
            let systemd = cx.fact("service_mgr").and_then(Json::as_str) == Some("systemd");
            let n = quote(&name);
            let check = if systemd {
                // `is-enabled` reads the unit files on disk; `show -p UnitFileState` would give
                // systemd's cached view, stale after an `enable --no-reload`.
                format!("systemctl is-active {n} 2>/dev/null; systemctl is-enabled {n} 2>/dev/null; true")
            } else {
                format!(
                    "if service {n} status >/dev/null 2>&1; then echo active; else echo inactive; fi; \
                     if ls /etc/rc[2-5].d/S*{n} >/dev/null 2>&1 || ls /etc/rc.d/rc[2-5].d/S*{n} >/dev/null 2>&1; then echo enabled; else echo disabled; fi"
                )
            };
            let o = cx.query(&[], &check).await?;
            let text = o.stdout_str();
            let mut lines = text.lines();
            let active = lines.next().map(str::trim) == Some("active");
            let is_enabled = matches!(
                lines.next().map(str::trim),
                Some("enabled" | "enabled-runtime" | "static" | "alias" | "indirect")
            );
            let mut steps: Vec<String> = Vec::new();
            let verb = |v: &str| -> String {
                if systemd {
                    argv(&["systemctl", v, &name])
                } else {
                    argv(&["service", &name, v])
                }
            };
            match state.as_deref() {
                Some("started") if !active => steps.push(verb("start")),
                Some("stopped") if active => steps.push(verb("stop")),
                Some("restarted") => steps.push(verb("restart")),
                Some("reloaded") => steps.push(if active {
                    verb("reload")
                } else {
                    verb("start")
                }),
                _ => {}
            }
            if let Some(e) = enabled {
                if e != is_enabled {
                    steps.push(if systemd {
                        super::systemctl_enable(e, &name)
                    } else if e {
                        format!("update-rc.d {n} defaults 2>/dev/null || chkconfig {n} on")
                    } else {
                        format!("update-rc.d {n} disable 2>/dev/null || chkconfig {n} off")
                    });
                }
            }
            let mut out = Outcome::default();
            out.data.insert(
                "state".into(),
                Json::String(if active { "started" } else { "stopped" }.into()),
            );
            // A service started here already runs its current configuration: a handler that
            // would reload it for a changed file can skip (`when: not x.started_now`).
            out.data.insert(
                "started_now".into(),
                Json::Bool(!active && state.as_deref().is_some_and(|s| s != "stopped")),
            );
            if steps.is_empty() {
                return Ok(out);
            }
            out.changed = true;
            out.msg = Some(steps.join("; "));
            if cx.check {
                return Ok(out);
            }
            let mut s = String::from("set -e\n");
            let init = if systemd { "systemd" } else { "sysv" };
            if state.is_some() {
                s.push_str(&cx.state.record(json!({
                    "key": format!("service:{name}"), "kind": "service", "name": name,
                    "active": active, "init": init,
                })));
            }
            if enabled.is_some_and(|e| e != is_enabled) {
                s.push_str(&cx.state.record(json!({
                    "key": format!("service-enabled:{name}"), "kind": "service_enabled", "name": name,
                    "enabled": is_enabled, "init": init,
                })));
            }
            for st in &steps {
                match ["start", "restart"].into_iter().find(|v| *st == verb(v)) {
                    Some(v) if systemd => s.push_str(&super::systemctl_start(v, &name)),
                    _ => s.push_str(st),
                }
                s.push('\n');
            }
            cx.exec_ok(&format!("cannot change service {name}"), &s, None)
                .await?;
            Ok(out)
        })
    }
}
