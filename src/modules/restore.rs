//! `restore`: undo, in reverse order, everything the other modules recorded in the node's state
//! file (sysctls, files, directories, addresses, IPVS services, services, packages), then remove
//! the state file. With nothing recorded it changes nothing, so teardown of a node that was never
//! set up — or twice in a row — succeeds with `changed=0`.

use serde_json::{Map, Value as Json};

use super::undo::{Entry, Undo};
use super::{opt, Answers, Arg, Cx, Module, ModuleError, Outcome, Ty};
use crate::quote::{argv, quote};
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct Restore;

static ARGS: &[Arg] = &[opt("keys", Ty::StrOrList), opt("keep", Ty::StrOrList)];

/// Removes what one apt transaction of `package` installed (see the script's header).
const APT_REMOVE: &str = include_str!("apt-remove.sh");

/// The shell lines undoing one record (each may fail on its own; the script counts failures).
pub(crate) fn undo(e: &Entry) -> (String, String) {
    let r = match e {
        Entry::Known(r) => &r.undo,
        Entry::Unknown(j) => {
            let kind = j.get("kind").and_then(Json::as_str).unwrap_or("");
            return (format!("unknown record kind `{kind}`"), "false".into());
        }
    };
    match r {
        Undo::File {
            path,
            existed: true,
            backup,
        } => {
            let (p, b) = (quote(path), quote(backup.as_deref().unwrap_or("")));
            (
                format!("restore {path}"),
                format!("if [ -e {b} ] || [ -L {b} ]; then rm -rf {p} && mv -f {b} {p}; fi"),
            )
        }
        Undo::File { path, .. } => (format!("remove {path}"), format!("rm -rf {}", quote(path))),
        Undo::Dir { path, .. } => (
            format!("remove directory {path}"),
            format!("rm -rf {}", quote(path)),
        ),
        Undo::Meta {
            path,
            mode,
            uid,
            gid,
        } => {
            let p = quote(path);
            (
                format!("reset mode/owner of {path}"),
                format!(
                    "if [ -e {p} ]; then chmod {} {p} && chown {} {p}; fi",
                    quote(mode),
                    quote(&format!("{uid}:{gid}"))
                ),
            )
        }
        Undo::Sysctl { name, value } => (
            format!("sysctl {name} = {value}"),
            super::sysctl::write_line(name, value),
        ),
        Undo::Address {
            address,
            dev,
            label,
            existed: true,
        } => {
            let mut w = vec!["ip", "addr", "add", address, "dev", dev];
            if let Some(l) = label.as_deref().filter(|l| !l.is_empty()) {
                w.extend(["label", l]);
            }
            (
                format!("re-add {address} on {dev}"),
                format!("{} 2>/dev/null || true", argv(&w)),
            )
        }
        Undo::Address { address, dev, .. } => (
            format!("remove {address} from {dev}"),
            format!(
                "if ip -o addr show dev {d} 2>/dev/null | grep -qF {a}; then {}; fi",
                argv(&["ip", "addr", "del", address, "dev", dev]),
                d = quote(dev),
                a = quote(&format!(" {address} "))
            ),
        ),
        Undo::Ipvs {
            flag,
            service,
            original,
        } => ipvs_back(flag, service, original),
        Undo::Service { name, active, init } => service_back(name, *active, init),
        Undo::ServiceEnabled {
            name,
            enabled,
            init,
        } => enablement_back(name, *enabled, init),
        Undo::Package {
            names,
            name,
            manager,
            before,
        } => package_removal(names, name.as_deref(), manager, before),
    }
}

/// An IPVS service put back as it was: removed, then its original rules added again.
fn ipvs_back(flag: &str, service: &str, original: &[String]) -> (String, String) {
    let mut lines = vec![format!(
        "{} 2>/dev/null || true",
        argv(&["ipvsadm", "-D", flag, service])
    )];
    for l in original {
        let mut w = vec!["ipvsadm"];
        w.extend(l.split_whitespace());
        lines.push(argv(&w));
    }
    (format!("IPVS service {service}"), lines.join(" && "))
}

/// A service started or stopped again as it was.
fn service_back(name: &str, active: bool, init: &str) -> (String, String) {
    let verb = if active { "start" } else { "stop" };
    let line = if init == "systemd" && active {
        // As the service module starts (the unit may have been started before its file
        // changed).
        super::systemctl_start(verb, name)
    } else if init == "systemd" {
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

/// A service enabled or disabled again as it was.
fn enablement_back(name: &str, enabled: bool, init: &str) -> (String, String) {
    let line = if init == "systemd" {
        format!("{} >/dev/null 2>&1", super::systemctl_enable(enabled, name))
    } else if enabled {
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
            if enabled { "enabled" } else { "disabled" }
        ),
        line,
    )
}

/// The packages of one transaction removed again (apt: what it installed with them too).
fn package_removal(
    names: &[String],
    name: Option<&str>,
    manager: &str,
    before: &[String],
) -> (String, String) {
    // One record per transaction (`names`); older state files have one per `name`.
    let names: Vec<&str> = match name {
        Some(n) if names.is_empty() => vec![n],
        _ => names.iter().map(String::as_str).collect(),
    };
    let line = match manager {
        "apt" => {
            let before = before.join(" ");
            let mut w = vec!["sh", "-c", APT_REMOVE, "lvslab-apt-remove", &before];
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

/// A list-of-prefixes argument (`keys`, `keep`): absent, one string, or a list of strings.
fn prefix_list(args: &Map<String, Json>, name: &str) -> Result<Option<Vec<String>>, ModuleError> {
    match args.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Json::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ModuleError::msg(format!("`{name}` must be a list of key prefixes, got {v}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(ModuleError::msg(format!(
            "`{name}` must be a list of key prefixes, got {other}"
        ))),
    }
}

impl Module for Restore {
    fn name(&self) -> &'static str {
        "restore"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        _answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let mut out = Outcome::default();
            // `keys`: only records whose key starts with one of these prefixes (switching
            // between modes hands the IPVS table from one owner to the other).
            let prefixes = prefix_list(args, "keys")?;
            // `keep`: records with these prefixes stay (with their backups) for a later full
            // restore, e.g. the packages, so the next setup need not install them again.
            let kept = prefix_list(args, "keep")?.unwrap_or_default();
            let selected = |r: &Entry| {
                let key = r.key();
                prefixes
                    .as_ref()
                    .is_none_or(|ps| ps.iter().any(|p| key.starts_with(p.as_str())))
                    && !kept.iter().any(|p| key.starts_with(p.as_str()))
            };
            let chosen: Vec<Entry> = cx
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
            let unit_file = |e: &Entry| match e {
                Entry::Known(r) => r.undo.path().is_some_and(is_unit_file),
                Entry::Unknown(_) => false,
            };
            if systemd && chosen.iter().any(unit_file) {
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
    use crate::modules::testutil::run_local;
    use crate::modules::NodeState;
    use serde_json::json;

    /// `undo` of a record as the state file would hold it.
    fn undo_of(mut record: Json) -> (String, String) {
        record["key"] = json!("k");
        let entry: Entry = serde_json::from_value(record).expect("record");
        assert!(matches!(entry, Entry::Known(_)), "{entry:?}");
        undo(&entry)
    }

    #[test]
    fn undo_lines_are_quoted_argv() {
        let (what, line) = undo_of(
            json!({"kind": "sysctl", "name": "net.ipv4.conf.all.arp_ignore", "value": "0"}),
        );
        assert_eq!(what, "sysctl net.ipv4.conf.all.arp_ignore = 0");
        assert_eq!(
            line,
            "printf '%s\\n' 0 > /proc/sys/net/ipv4/conf/all/arp_ignore"
        );
        let (_, line) = undo_of(
            json!({"kind": "sysctl", "name": "net.ipv4.ip_local_port_range", "value": "32768\t60999"}),
        );
        assert_eq!(
            line,
            "printf '%s\\n' '32768\t60999' > /proc/sys/net/ipv4/ip_local_port_range"
        );
        let (_, line) = undo_of(
            json!({"kind": "address", "address": "10.0.0.50/32", "dev": "lo", "existed": false}),
        );
        assert_eq!(
            line,
            "if ip -o addr show dev lo 2>/dev/null | grep -qF ' 10.0.0.50/32 '; then ip addr del 10.0.0.50/32 dev lo; fi"
        );
        let (_, line) = undo_of(
            json!({"kind": "ipvs", "flag": "-t", "service": "10.0.0.50:80",
            "original": ["-A -t 10.0.0.50:80 -s wlc", "-a -t 10.0.0.50:80 -r 10.0.0.2:80 -g -w 1"]}),
        );
        assert_eq!(
            line,
            "ipvsadm -D -t 10.0.0.50:80 2>/dev/null || true && ipvsadm -A -t 10.0.0.50:80 -s wlc && ipvsadm -a -t 10.0.0.50:80 -r 10.0.0.2:80 -g -w 1"
        );
        let (_, line) = undo_of(json!({"kind": "file", "path": "/etc/a b", "existed": false}));
        assert_eq!(line, "rm -rf '/etc/a b'");
        let (_, line) = undo_of(
            json!({"kind": "service", "name": "keepalived", "active": false, "init": "systemd"}),
        );
        assert_eq!(line, "systemctl stop keepalived");
        let (what, line) = undo_of(
            json!({"kind": "package", "names": ["keepalived", "ipvsadm"],
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
        let (_, line) = undo_of(json!({"kind": "package", "names": ["httpd"], "manager": "dnf"}));
        assert_eq!(line, "dnf remove -y -q httpd");
        let (_, line) = undo_of(json!({"kind": "package", "name": "ipvsadm", "manager": "yum"}));
        assert_eq!(line, "yum remove -y -q ipvsadm");
    }

    #[test]
    fn a_record_of_an_unknown_kind_fails_the_restore() {
        let entry: Entry =
            serde_json::from_value(json!({"key": "x:1", "kind": "firewall", "rule": 1}))
                .expect("kept");
        assert_eq!(entry.key(), "x:1");
        assert_eq!(
            undo(&entry),
            (
                "unknown record kind `firewall`".to_string(),
                "false".to_string()
            )
        );
    }

    #[test]
    fn kept_records_stay_for_a_later_full_restore() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state.json");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut state = NodeState::new(state_path.to_str().unwrap(), "");
        for f in [&a, &b] {
            std::fs::write(f, "made by setup\n").unwrap();
            state.record_file(f.to_str().unwrap(), false);
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let keep = format!("file:{}", b.display());
        let out = rt
            .block_on(run_local(
                "restore",
                json!({ "keep": [keep] }),
                false,
                &mut state,
            ))
            .expect("restores");
        assert!(out.changed);
        assert!(!a.exists(), "the created file is removed");
        assert!(b.exists(), "the kept one stays");
        assert_eq!(
            state.records.iter().map(Entry::key).collect::<Vec<_>>(),
            [keep.as_str()]
        );
        let saved = std::fs::read_to_string(&state_path).expect("state file kept");
        assert!(saved.contains(&keep) && !saved.contains(&format!("{}\"", a.display())));
        // The full restore then removes the rest and the state file.
        rt.block_on(run_local("restore", json!({}), false, &mut state))
            .expect("restores");
        assert!(!b.exists() && !state_path.exists());
    }
}
