//! `package`: packages present or absent through the node's own manager (apt-get, dnf or yum,
//! from the `pkg_mgr` fact). One query (the node's whole package list); nothing to do when
//! already installed; the missing ones in one transaction. What it installs is recorded with
//! the list of packages the node had before, so `restore` removes them and the dependencies
//! that came with them (apt), or leaves that to the manager (dnf removes unneeded
//! dependencies itself).

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{choice, req, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View};
use crate::quote::argv;
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct Package;

static ARGS: &[Arg] = &[
    req("name", Ty::StrOrList),
    choice(
        "state",
        &["present", "absent", "installed", "removed", "latest"],
    ),
    Arg {
        name: "update_cache",
        ty: Ty::Bool,
        required: false,
        choices: &[],
    },
    // Ansible's name: false installs no recommended (apt) or weak (dnf) dependencies; unset
    // leaves it to the manager's own configuration.
    Arg {
        name: "install_recommends",
        ty: Ty::Bool,
        required: false,
        choices: &[],
    },
];

/// Every package on the node with its state (`NAME installed`, `NAME config-files`, ...).
fn query(mgr: &str) -> String {
    let w: Vec<&str> = match mgr {
        "apt" => vec!["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n"],
        _ => vec!["rpm", "-qa", "--qf", "%{NAME} installed\\n"],
    };
    format!("{} 2>/dev/null; true", argv(&w))
}

/// The installed packages of a [`query`] answer.
fn installed(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (n, st) = (it.next()?, it.next()?);
            (st == "installed").then(|| n.to_string())
        })
        .collect()
}

fn action(
    mgr: &str,
    verb: &str,
    names: &[String],
    update: bool,
    recommends: Option<bool>,
) -> String {
    let mut w: Vec<&str> = match mgr {
        "apt" => vec!["apt-get", verb, "-y", "-q"],
        m => vec![m, verb, "-y", "-q"],
    };
    if verb == "install" {
        match (mgr, recommends) {
            ("apt", Some(false)) => w.push("--no-install-recommends"),
            ("apt", Some(true)) => w.push("--install-recommends"),
            ("dnf", Some(r)) => w.push(if r {
                "--setopt=install_weak_deps=True"
            } else {
                "--setopt=install_weak_deps=False"
            }),
            _ => {}
        }
    }
    w.extend(names.iter().map(String::as_str));
    let line = argv(&w);
    match mgr {
        "apt" if verb == "install" => {
            let first = if update { "apt-get update -q && " } else { "" };
            format!(
                "export DEBIAN_FRONTEND=noninteractive; {first}{line} || {{ apt-get update -q && {line}; }}"
            )
        }
        "apt" => format!("export DEBIAN_FRONTEND=noninteractive; {line}"),
        _ => line,
    }
}

/// The packages named (each checked) and the host's package manager.
fn wanted(args: &Map<String, Json>, view: &View<'_>) -> Result<(Vec<String>, String), ModuleError> {
    let names = Args(args).list("name");
    for n in &names {
        super::operand::name("package", n)?;
    }
    let mgr = view
        .fact("pkg_mgr")
        .and_then(Json::as_str)
        .filter(|m| !m.is_empty() && *m != "unknown")
        .ok_or_else(|| {
            ModuleError::msg("no supported package manager (apt-get, dnf, yum) on this host")
        })?
        .to_string();
    Ok((names, mgr))
}

impl Module for Package {
    fn name(&self) -> &'static str {
        "package"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn queries(&self, args: &Map<String, Json>, view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        let (_, mgr) = wanted(args, view)?;
        Ok(vec![Ask::new(&[], query(&mgr))])
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        mut answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let a = Args(args);
            let (names, mgr) = wanted(args, cx)?;
            let present = !matches!(a.str("state").as_deref(), Some("absent" | "removed"));
            let o = answers.next()?.out();
            let have = installed(&o.stdout_str());
            let todo: Vec<String> = names
                .iter()
                .filter(|n| have.contains(n) != present)
                .cloned()
                .collect();
            let mut out = Outcome::default();
            if todo.is_empty() {
                return Ok(out);
            }
            out.changed = true;
            out.msg = Some(format!(
                "{} {}",
                if present { "install" } else { "remove" },
                todo.join(" ")
            ));
            if cx.check {
                return Ok(out);
            }
            let mut s = String::from("set -e\n");
            if present {
                s.push_str(&cx.state.record(Undo::Package {
                    names: todo.clone(),
                    name: None,
                    manager: mgr.clone(),
                    before: have.clone(),
                }));
            }
            s.push_str(&action(
                &mgr,
                if present { "install" } else { "remove" },
                &todo,
                a.bool("update_cache")?.unwrap_or(false),
                a.bool("install_recommends")?,
            ));
            cx.exec_ok("package manager failed", &s, None).await?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded answers: dpkg-query on Debian 12, rpm -qa on a RHEL-family node.
    #[test]
    fn parses_dpkg_and_rpm_answers() {
        let dpkg =
            "adduser installed\napache2 config-files\nipvsadm not-installed\nkmod installed\n";
        assert_eq!(installed(dpkg), vec!["adduser", "kmod"]);
        let rpm = "bash installed\nhttpd installed\n";
        assert_eq!(installed(rpm), vec!["bash", "httpd"]);
        assert_eq!(
            query("apt"),
            "dpkg-query -W '-f=${Package} ${db:Status-Status}\\n' 2>/dev/null; true"
        );
        assert_eq!(
            query("dnf"),
            "rpm -qa --qf '%{NAME} installed\\n' 2>/dev/null; true"
        );
    }

    #[test]
    fn one_transaction_for_every_missing_package() {
        let names = vec!["keepalived".to_string(), "ipvsadm".to_string()];
        assert_eq!(
            action("apt", "install", &names, false, None),
            "export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q keepalived ipvsadm || \
             { apt-get update -q && apt-get install -y -q keepalived ipvsadm; }"
        );
        assert_eq!(
            action("apt", "install", &names, false, Some(false)),
            "export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q --no-install-recommends keepalived ipvsadm || \
             { apt-get update -q && apt-get install -y -q --no-install-recommends keepalived ipvsadm; }"
        );
        assert_eq!(
            action("dnf", "install", &names, false, Some(false)),
            "dnf install -y -q '--setopt=install_weak_deps=False' keepalived ipvsadm"
        );
        assert_eq!(
            action("yum", "install", &names, false, Some(false)),
            "yum install -y -q keepalived ipvsadm"
        );
    }
}
