//! `service`: started/stopped/restarted/reloaded and enabled, through systemd when it is the
//! running init (fact `service_mgr`), else `service` and init scripts. The original running and
//! enabled states are recorded so `restore` puts them back.

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{
    choice, opt, req, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View,
};
use crate::quote::{argv, quote};
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct Service;

static ARGS: &[Arg] = &[
    req("name", Ty::Str),
    choice("state", &["started", "stopped", "restarted", "reloaded"]),
    opt("enabled", Ty::Bool),
];

/// What the task asks of the service, checked.
struct Want {
    name: String,
    state: Option<String>,
    enabled: Option<bool>,
    /// The node runs systemd (else SysV init scripts).
    systemd: bool,
}

impl Want {
    fn from_args(args: &Map<String, Json>, view: &View<'_>) -> Result<Want, ModuleError> {
        let a = Args(args);
        let name = a.req("name")?;
        super::operand::name("service", &name)?;
        Ok(Want {
            state: a.str("state"),
            enabled: a.bool("enabled")?,
            systemd: view.fact("service_mgr").and_then(Json::as_str) == Some("systemd"),
            name,
        })
    }

    /// Whether the service is active, then whether it is enabled, a line each.
    fn ask(&self) -> Ask {
        let name = &self.name;
        let n = quote(name);
        let check = if self.systemd {
            format!(
                "{}; {}; true",
                is_active_line(name, ""),
                is_enabled_line(name, "")
            )
        } else {
            format!(
                "if service {n} status >/dev/null 2>&1; then echo active; else echo inactive; fi; \
                 if ls /etc/rc[2-5].d/S*{n} >/dev/null 2>&1 || ls /etc/rc.d/rc[2-5].d/S*{n} >/dev/null 2>&1; then echo enabled; else echo disabled; fi"
            )
        };
        Ask::new(&[], check)
    }

    /// `systemctl VERB NAME` or `service NAME VERB`.
    fn verb(&self, v: &str) -> String {
        if self.systemd {
            argv(&["systemctl", v, &self.name])
        } else {
            argv(&["service", &self.name, v])
        }
    }

    /// The commands that take a service (`active`, `is_enabled`) where the task wants it.
    fn steps(&self, active: bool, is_enabled: bool) -> Vec<String> {
        let n = quote(&self.name);
        let mut steps: Vec<String> = Vec::new();
        match self.state.as_deref() {
            Some("started") if !active => steps.push(self.verb("start")),
            Some("stopped") if active => steps.push(self.verb("stop")),
            Some("restarted") => steps.push(self.verb("restart")),
            Some("reloaded") => steps.push(if active {
                self.verb("reload")
            } else {
                self.verb("start")
            }),
            _ => {}
        }
        if let Some(e) = self.enabled {
            if e != is_enabled {
                steps.push(if self.systemd {
                    super::systemctl_enable(e, &self.name)
                } else if e {
                    format!("update-rc.d {n} defaults 2>/dev/null || chkconfig {n} on")
                } else {
                    format!("update-rc.d {n} disable 2>/dev/null || chkconfig {n} off")
                });
            }
        }
        steps
    }

    /// Record the originals, then run `steps`.
    fn apply_script(
        &self,
        cx: &mut Cx<'_>,
        steps: &[String],
        active: bool,
        is_enabled: bool,
    ) -> String {
        let name = &self.name;
        let mut s = String::from("set -e\n");
        let init = if self.systemd { "systemd" } else { "sysv" };
        let mut recs = Vec::new();
        if self.state.is_some() {
            recs.push(Undo::Service {
                name: name.clone(),
                active,
                init: init.to_string(),
            });
        }
        if self.enabled.is_some_and(|e| e != is_enabled) {
            recs.push(Undo::ServiceEnabled {
                name: name.clone(),
                enabled: is_enabled,
                init: init.to_string(),
            });
        }
        s.push_str(&cx.state.record_all(recs, &[]));
        // Start before enable, each its own `systemctl`: `enable --now` would save a
        // program (~65 ms on a TCG node) but links first, and the service is what the run
        // waits for (a director's VRRP election clock starts with keepalived).
        for st in steps {
            match ["start", "restart"]
                .into_iter()
                .find(|v| *st == self.verb(v))
            {
                Some(v) if self.systemd => s.push_str(&super::systemctl_start(v, name)),
                _ => s.push_str(st),
            }
            s.push('\n');
        }
        s
    }
}

impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn queries(&self, args: &Map<String, Json>, view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        Ok(vec![Want::from_args(args, view)?.ask()])
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        mut answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let want = Want::from_args(args, cx)?;
            let text = answers.next()?.out().stdout_str();
            let mut lines = text.lines();
            let active = lines.next().map(str::trim) == Some("active");
            let is_enabled = matches!(
                lines.next().map(str::trim),
                Some("enabled" | "enabled-runtime" | "static" | "alias" | "indirect")
            );
            let steps = want.steps(active, is_enabled);
            let mut out = Outcome::default();
            out.data.insert(
                "state".into(),
                Json::String(if active { "started" } else { "stopped" }.into()),
            );
            // A service started here already runs its current configuration: a handler that
            // would reload it for a changed file can skip (`when: not x.started_now`).
            out.data.insert(
                "started_now".into(),
                Json::Bool(!active && want.state.as_deref().is_some_and(|s| s != "stopped")),
            );
            if steps.is_empty() {
                return Ok(out);
            }
            out.changed = true;
            out.msg = Some(steps.join("; "));
            if cx.check {
                return Ok(out);
            }
            let s = want.apply_script(cx, &steps, active, is_enabled);
            cx.exec_ok(&format!("cannot change service {}", want.name), &s, None)
                .await?;
            Ok(out)
        })
    }
}

/// `name` as a unit name: `.service` unless it names its type.
fn unit_name(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// A shell line printing "active" for a running service, else `systemctl is-active NAME`'s
/// answer, with builtins where the kernel or systemd already say so (a `systemctl` costs a
/// slow node ~100 ms): systemd keeps `/run/systemd/units/invocation:UNIT` while the unit has
/// a run in progress (active, also a oneshot that remains active; it is gone once the unit is
/// stopped, failed or waiting to restart), and a unit whose cgroup in `system.slice` holds
/// processes is running (systemd older than 232 has no invocation links). Either way a unit
/// in a transition (starting, stopping, reloading) counts as active. Anything else is asked of
/// `systemctl`. `root` prefixes the paths (tests).
pub(crate) fn is_active_line(name: &str, root: &str) -> String {
    format!(
        "(p=; [ -L {} ] && p=1 || read -r p 2>/dev/null <{}; if [ -n \"$p\" ]; then echo active; else systemctl is-active {} 2>/dev/null; fi)",
        quote(&format!("{root}/run/systemd/units/invocation:{}", unit_name(name))),
        quote(&format!("{root}{}", cgroup_file(name, "cgroup.procs"))),
        quote(name)
    )
}

/// `file` of the cgroup v2 directory systemd gives service `name` in `system.slice` (where a
/// unit without a `Slice=` of its own runs).
pub(crate) fn cgroup_file(name: &str, file: &str) -> String {
    format!("/sys/fs/cgroup/system.slice/{}/{file}", unit_name(name))
}

/// Unit directories that override the packaged ones (`systemd.unit(5)` search path), and the
/// directories where a unit file is looked up for its `[Install]` section, in order.
const OVERRIDES: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
];
const PACKAGED: &[&str] = &[
    "/etc/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];

/// A shell line printing `systemctl is-enabled NAME`'s answer. `is-enabled` reads the unit
/// files on disk (`show -p UnitFileState` gives systemd's cached view, stale after an
/// `enable --no-reload`), but it costs a program of ~100 ms on a slow node, per service per run.
/// The common case is answered with builtins: a plain unit file in `/etc` or the package's
/// directory, no drop-ins, no unit of that name elsewhere on the search path, an `[Install]`
/// section of `WantedBy=`/`RequiredBy=` lines only, and every one of their links present in
/// `/etc/systemd/system`: that is "enabled". Anything else — aliases, `Also=`, templates, masks,
/// overrides, a link missing — is asked of `systemctl`. `root` prefixes every path (tests).
pub(crate) fn is_enabled_line(name: &str, root: &str) -> String {
    let unit = unit_name(name);
    let q = |p: &str| quote(&format!("{root}{p}"));
    let elsewhere: Vec<String> = OVERRIDES
        .iter()
        .filter(|d| **d != "/etc/systemd/system")
        .map(|d| format!("[ ! -e {} ]", q(&format!("{d}/{unit}"))))
        .chain(
            OVERRIDES
                .iter()
                .chain(PACKAGED)
                .map(|d| format!("[ ! -e {} ]", q(&format!("{d}/{unit}.d")))),
        )
        .collect();
    let files: Vec<String> = PACKAGED.iter().map(|d| q(&format!("{d}/{unit}"))).collect();
    format!(
        "(set -f; en=; u={u}; case $u in *@*) ;; *) if [ ! -L {etc} ] && {elsewhere}; then \
f=; for c in {files}; do if [ -L \"$c\" ]; then break; elif [ -f \"$c\" ]; then f=$c; break; fi; done; \
if [ -n \"$f\" ]; then s=; n=0; ok=1; \
while IFS= read -r l || [ -n \"$l\" ]; do case $l in \\[*) s=$l;; *) [ \"$s\" = '[Install]' ] || continue; case $l in \
WantedBy=*|RequiredBy=*) k=wants; case $l in RequiredBy=*) k=requires;; esac; \
for t in ${{l#*=}}; do n=$((n + 1)); [ -L {links}/\"$t.$k/$u\" ] || ok=; done;; \
*=*) ok=; break;; esac;; esac; done <\"$f\"; \
[ \"$n\" -gt 0 ] && [ -n \"$ok\" ] && en=enabled; fi; fi;; esac; \
if [ -n \"$en\" ]; then echo enabled; else systemctl is-enabled \"${{u%.service}}\" 2>/dev/null; fi)",
        u = quote(&unit),
        etc = q(&format!("/etc/systemd/system/{unit}")),
        elsewhere = elsewhere.join(" && "),
        files = files.join(" "),
        links = q("/etc/systemd/system"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// `line` run by `sh` over a scratch root, with a `systemctl` that says it was asked.
    fn run(root: &std::path::Path, line: &str) -> String {
        let bin = root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let shim = bin.join("systemctl");
        fs::write(&shim, "#!/bin/sh\necho \"asked: $*\"\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn answer(root: &std::path::Path, name: &str) -> String {
        run(root, &is_enabled_line(name, root.to_str().unwrap()))
    }

    fn unit(root: &std::path::Path, dir: &str, name: &str, text: &str) {
        let d = root.join(dir.trim_start_matches('/'));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(name), text).unwrap();
    }

    fn link(root: &std::path::Path, target: &str, name: &str) {
        let d = root.join(format!("etc/systemd/system/{target}"));
        fs::create_dir_all(&d).unwrap();
        symlink("/lib/systemd/system/x", d.join(name)).unwrap();
    }

    #[test]
    fn active_when_systemd_or_the_cgroup_show_a_run_else_systemctl_decides() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let active = |name: &str| run(r, &is_active_line(name, r.to_str().unwrap()));
        assert_eq!(active("web"), "asked: is-active web", "no cgroup");
        let cg = r.join("sys/fs/cgroup/system.slice/web.service");
        fs::create_dir_all(&cg).unwrap();
        fs::write(cg.join("cgroup.procs"), "").unwrap();
        assert_eq!(active("web"), "asked: is-active web", "no process");
        fs::write(cg.join("cgroup.procs"), "4212\n4217\n").unwrap();
        assert_eq!(active("web"), "active");
        assert_eq!(active("web.service"), "active");
        // A oneshot that remains active: no process, but its invocation link.
        assert_eq!(active("vip"), "asked: is-active vip");
        let units = r.join("run/systemd/units");
        fs::create_dir_all(&units).unwrap();
        symlink("0f3a", units.join("invocation:vip.service")).unwrap();
        assert_eq!(active("vip"), "active");
        assert_eq!(active("vip.service"), "active");
    }

    #[test]
    fn enabled_when_every_install_link_is_there_else_systemctl_decides() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let text = "[Unit]\nDescription=x\nWantedBy=not.this\n[Service]\nExecStart=/bin/true\n\
                    [Install]\nWantedBy=multi-user.target graphical.target\nRequiredBy=b.target\n";
        unit(r, "/lib/systemd/system", "web.service", text);
        assert_eq!(answer(r, "web"), "asked: is-enabled web", "no link yet");
        link(r, "multi-user.target.wants", "web.service");
        link(r, "graphical.target.wants", "web.service");
        assert_eq!(
            answer(r, "web"),
            "asked: is-enabled web",
            "one link missing"
        );
        link(r, "b.target.requires", "web.service");
        assert_eq!(answer(r, "web"), "enabled");
        assert_eq!(answer(r, "web.service"), "enabled");
        // A drop-in, a unit of that name earlier on the search path, a mask: systemctl's call.
        fs::create_dir_all(r.join("etc/systemd/system/web.service.d")).unwrap();
        assert_eq!(answer(r, "web"), "asked: is-enabled web");
        fs::remove_dir(r.join("etc/systemd/system/web.service.d")).unwrap();
        unit(r, "/run/systemd/system", "web.service", text);
        assert_eq!(answer(r, "web"), "asked: is-enabled web");
        fs::remove_file(r.join("run/systemd/system/web.service")).unwrap();
        symlink("/dev/null", r.join("etc/systemd/system/web.service")).unwrap();
        assert_eq!(answer(r, "web"), "asked: is-enabled web");
        fs::remove_file(r.join("etc/systemd/system/web.service")).unwrap();
        assert_eq!(answer(r, "web"), "enabled");
        // An [Install] section with anything but WantedBy/RequiredBy, a template, none at all.
        unit(
            r,
            "/lib/systemd/system",
            "al.service",
            "[Install]\nWantedBy=multi-user.target\nAlias=x.service\n",
        );
        link(r, "multi-user.target.wants", "al.service");
        assert_eq!(answer(r, "al"), "asked: is-enabled al");
        unit(
            r,
            "/lib/systemd/system",
            "t@.service",
            "[Install]\nWantedBy=multi-user.target\n",
        );
        assert_eq!(answer(r, "t@a"), "asked: is-enabled t@a");
        unit(
            r,
            "/lib/systemd/system",
            "st.service",
            "[Service]\nExecStart=/bin/true\n",
        );
        assert_eq!(answer(r, "st"), "asked: is-enabled st");
        // A unit in /etc wins over the package's, and is read for its links.
        unit(
            r,
            "/etc/systemd/system",
            "web.service",
            "[Install]\nWantedBy=other.target\n",
        );
        assert_eq!(answer(r, "web"), "asked: is-enabled web");
        assert_eq!(answer(r, "missing"), "asked: is-enabled missing");
    }
}
