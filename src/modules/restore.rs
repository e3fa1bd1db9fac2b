//! `restore`: undo, in reverse order, everything the other modules recorded in the node's state
//! file (sysctls, files, directories, addresses, IPVS services, services, packages), then remove
//! the state file. With nothing recorded it changes nothing, so teardown of a node that was never
//! set up — or twice in a row — succeeds with `changed=0`.

use serde_json::{Map, Value as Json};

use super::{opt, Arg, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::{argv, quote, BoxFuture};

#[derive(Debug)]
pub(crate) struct Restore;

static ARGS: &[Arg] = &[opt("keys", Ty::StrOrList)];

/// Removes what one apt transaction of `package` installed (see the script's header).
const APT_REMOVE: &str = include_str!("apt-remove.sh");

fn s<'a>(r: &'a Json, k: &str) -> &'a str {
    r.get(k).and_then(Json::as_str).unwrap_or("")
}

/// The shell lines undoing one record (each may fail on its own; the script counts failures).
pub(crate) fn undo(r: &Json) -> (String, String) {
    let kind = s(r, "kind");
    let path = s(r, "path");
    let p = quote(path);
    match kind {
        "file" => {
            if r.get("existed").and_then(Json::as_bool) == Some(true) {
                let b = quote(s(r, "backup"));
                (
                    format!("restore {path}"),
                    format!("if [ -e {b} ] || [ -L {b} ]; then rm -rf {p} && mv -f {b} {p}; fi"),
                )
            } else {
                (format!("remove {path}"), format!("rm -rf {p}"))
            }
        }
        "dir" => (format!("remove directory {path}"), format!("rm -rf {p}")),
        "meta" => (
            format!("reset mode/owner of {path}"),
            format!(
                "if [ -e {p} ]; then chmod {} {p} && chown {} {p}; fi",
                quote(s(r, "mode")),
                quote(&format!("{}:{}", s(r, "uid"), s(r, "gid")))
            ),
        ),
        "sysctl" => (
            format!("sysctl {} = {}", s(r, "name"), s(r, "value")),
            super::sysctl::write_line(s(r, "name"), s(r, "value")),
        ),
        "address" => {
            let addr = s(r, "address");
            let dev = s(r, "dev");
            if r.get("existed").and_then(Json::as_bool) == Some(true) {
                let mut w = vec!["ip", "addr", "add", addr, "dev", dev];
                let label = s(r, "label");
                if !label.is_empty() {
                    w.extend(["label", label]);
                }
                (
                    format!("re-add {addr} on {dev}"),
                    format!("{} 2>/dev/null || true", argv(&w)),
                )
            } else {
                (
                    format!("remove {addr} from {dev}"),
                    format!(
                        "if ip -o addr show dev {d} 2>/dev/null | grep -qF {a}; then {}; fi",
                        argv(&["ip", "addr", "del", addr, "dev", dev]),
                        d = quote(dev),
                        a = quote(&format!(" {addr} "))
                    ),
                )
            }
        }
        "ipvs" => {
            let svc = s(r, "service");
            let flag = s(r, "flag");
            let mut lines = vec![format!(
                "{} 2>/dev/null || true",
                argv(&["ipvsadm", "-D", flag, svc])
            )];
            for l in r
                .get("original")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let words: Vec<String> = l
                    .as_str()
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                let mut w = vec!["ipvsadm".to_string()];
                w.extend(words);
                lines.push(argv(&w));
            }
            (format!("IPVS service {svc}"), lines.join(" && "))
        }
        "service" => {
            let name = s(r, "name");
            let active = r.get("active").and_then(Json::as_bool).unwrap_or(false);
            let verb = if active { "start" } else { "stop" };
            let line = if s(r, "init") == "systemd" && active {
                // As the service module starts (the unit may have been started before its file
                // changed).
                super::systemctl_start(verb, name)
            } else if s(r, "init") == "systemd" {
                argv(&["systemctl", verb, name])
            } else {
                format!("{} >/dev/null 2>&1 || true", argv(&["service", name, verb]))
            };
            (
                format!(
                    "service {name} back to {}",
                    if active { "started" } else { "stopped" }
                ),
                line,
            )
        }
        "service_enabled" => {
            let name = s(r, "name");
            let e = r.get("enabled").and_then(Json::as_bool).unwrap_or(false);
            let line = if s(r, "init") == "systemd" {
                format!("{} >/dev/null 2>&1", super::systemctl_enable(e, name))
            } else if e {
                format!(
                    "update-rc.d {n} defaults 2>/dev/null || chkconfig {n} on",
                    n = quote(name)
                )
            } else {
                format!(
                    "update-rc.d {n} disable 2>/dev/null || chkconfig {n} off",
                    n = quote(name)
                )
            };
            (
                format!(
                    "service {name} back to {}",
                    if e { "enabled" } else { "disabled" }
                ),
                line,
            )
        }
        "package" => {
            // One record per transaction (`names`); older state files have one per `name`.
            let names: Vec<&str> = match r.get("names").and_then(Json::as_array) {
                Some(a) => a.iter().filter_map(Json::as_str).collect(),
                None => vec![s(r, "name")],
            };
            let before: Vec<&str> = r
                .get("before")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let line = match s(r, "manager") {
                "apt" => {
                    let mut w = vec!["sh", "-c", APT_REMOVE, "lvslab-apt-remove"];
                    let before = before.join(" ");
                    w.push(&before);
                    w.extend(&names);
                    argv(&w)
                }
                m => {
                    let mut w = vec![m, "remove", "-y", "-q"];
                    w.extend(&names);
                    argv(&w)
                }
            };
            (format!("remove package {}", names.join(" ")), line)
        }
        other => (format!("unknown record kind `{other}`"), "false".into()),
    }
}

/// A file systemd reads units from.
fn is_unit_file(path: &str) -> bool {
    [
        "/etc/systemd/system/",
        "/run/systemd/system/",
        "/lib/systemd/system/",
        "/usr/lib/systemd/system/",
    ]
    .iter()
    .any(|d| path.starts_with(d))
}

impl Module for Restore {
    fn name(&self) -> &'static str {
        "restore"
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
            let mut out = Outcome::default();
            // `keys`: only records whose key starts with one of these prefixes (switching
            // between modes hands the IPVS table from one owner to the other).
            let prefixes: Option<Vec<String>> = match args.get("keys") {
                None | Some(Json::Null) => None,
                Some(Json::String(s)) => Some(vec![s.clone()]),
                Some(Json::Array(a)) => Some(
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                ),
                Some(other) => {
                    return Err(ModuleError::msg(format!(
                        "`keys` must be a list of key prefixes, got {other}"
                    )))
                }
            };
            let selected = |r: &Json| match &prefixes {
                None => true,
                Some(ps) => {
                    let key = s(r, "key");
                    ps.iter().any(|p| key.starts_with(p.as_str()))
                }
            };
            let chosen: Vec<Json> = cx
                .state
                .records
                .iter()
                .filter(|r| selected(r))
                .cloned()
                .collect();
            if chosen.is_empty() {
                out.msg = Some("nothing recorded: nothing to restore".into());
                return Ok(out);
            }
            let partial = chosen.len() < cx.state.records.len();
            out.changed = true;
            let steps: Vec<(String, String)> = chosen.iter().rev().map(undo).collect();
            out.msg = Some(
                steps
                    .iter()
                    .map(|(what, _)| what.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
            if cx.check {
                return Ok(out);
            }
            let mut script = String::from("failed=0\n");
            for (what, line) in &steps {
                script.push_str(&format!(
                    "if ! ( {line} ); then echo {} >&2; failed=1; fi\n",
                    quote(&format!("restore step failed: {what}"))
                ));
            }
            // systemd must forget unit files put back or removed, in this same round trip
            // (a reload is seconds on a slow node: only when a unit file was among them).
            let systemd = cx.fact("service_mgr").and_then(Json::as_str) == Some("systemd");
            if systemd && chosen.iter().any(|r| is_unit_file(s(r, "path"))) {
                script.push_str("systemctl daemon-reload || failed=1\n");
                if let Some(m) = &mut out.msg {
                    m.push_str("; systemd reloaded");
                }
            }
            if partial {
                // Keep the other records (and their backups) for a later full restore.
                cx.state.records.retain(|r| !selected(r));
                script.push_str(&format!(
                    "if [ $failed = 0 ]; then {}; fi\nexit $failed\n",
                    cx.state.persist().trim_end()
                ));
            } else {
                script.push_str(&format!(
                    // The state directory goes too when nothing else lives there: the node
                    // ends as it was before lvslab first touched it.
                    "if [ $failed = 0 ]; then rm -rf {b} && rm -f {s} && {{ rmdir {d} 2>/dev/null || true; }}; fi\nexit $failed\n",
                    b = quote(&format!("{}/backup", cx.state.dir())),
                    s = quote(&cx.state.path),
                    d = quote(&cx.state.dir())
                ));
                cx.state.records.clear();
            }
            cx.exec_ok("restore failed", &script, None).await?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undo_lines_are_quoted_argv() {
        let (what, line) =
            undo(&json!({"kind": "sysctl", "name": "net.ipv4.conf.all.arp_ignore", "value": "0"}));
        assert_eq!(what, "sysctl net.ipv4.conf.all.arp_ignore = 0");
        assert_eq!(
            line,
            "printf '%s\\n' 0 > /proc/sys/net/ipv4/conf/all/arp_ignore"
        );
        let (_, line) = undo(
            &json!({"kind": "sysctl", "name": "net.ipv4.ip_local_port_range", "value": "32768\t60999"}),
        );
        assert_eq!(
            line,
            "printf '%s\\n' '32768\t60999' > /proc/sys/net/ipv4/ip_local_port_range"
        );
        let (_, line) = undo(
            &json!({"kind": "address", "address": "10.0.0.50/32", "dev": "lo", "existed": false}),
        );
        assert_eq!(
            line,
            "if ip -o addr show dev lo 2>/dev/null | grep -qF ' 10.0.0.50/32 '; then ip addr del 10.0.0.50/32 dev lo; fi"
        );
        let (_, line) = undo(
            &json!({"kind": "ipvs", "flag": "-t", "service": "10.0.0.50:80",
            "original": ["-A -t 10.0.0.50:80 -s wlc", "-a -t 10.0.0.50:80 -r 10.0.0.2:80 -g -w 1"]}),
        );
        assert_eq!(
            line,
            "ipvsadm -D -t 10.0.0.50:80 2>/dev/null || true && ipvsadm -A -t 10.0.0.50:80 -s wlc && ipvsadm -a -t 10.0.0.50:80 -r 10.0.0.2:80 -g -w 1"
        );
        let (_, line) = undo(&json!({"kind": "file", "path": "/etc/a b", "existed": false}));
        assert_eq!(line, "rm -rf '/etc/a b'");
        let (_, line) = undo(
            &json!({"kind": "service", "name": "keepalived", "active": false, "init": "systemd"}),
        );
        assert_eq!(line, "systemctl stop keepalived");
        let (what, line) = undo(
            &json!({"kind": "package", "names": ["keepalived", "ipvsadm"],
            "manager": "apt", "before": ["adduser", "kmod"]}),
        );
        assert_eq!(what, "remove package keepalived ipvsadm");
        assert_eq!(
            line,
            format!(
                "sh -c {} lvslab-apt-remove 'adduser kmod' keepalived ipvsadm",
                quote(APT_REMOVE)
            )
        );
        let (_, line) = undo(&json!({"kind": "package", "names": ["httpd"], "manager": "dnf"}));
        assert_eq!(line, "dnf remove -y -q httpd");
        let (_, line) = undo(&json!({"kind": "package", "name": "ipvsadm", "manager": "yum"}));
        assert_eq!(line, "yum remove -y -q ipvsadm");
    }
}
