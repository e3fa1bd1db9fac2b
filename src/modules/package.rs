//! `package`: packages present or absent through the node's own manager (apt-get, dnf or yum,
//! from the `pkg_mgr` fact). One query for all names; nothing to do when already installed.
//! Packages it installs are recorded so `restore` removes them.

use serde_json::{json, Map, Value as Json};

use super::{choice, req, Arg, Args, Cx, Module, ModuleError, Outcome, Ty};
use crate::ssh::{argv, BoxFuture};

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
];

fn query(mgr: &str, names: &[String]) -> String {
    let mut w: Vec<&str> = match mgr {
        "apt" => vec!["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n"],
        _ => vec!["rpm", "-q", "--qf", "%{NAME} installed\\n"],
    };
    w.extend(names.iter().map(String::as_str));
    format!("{} 2>/dev/null; true", argv(&w))
}

fn installed(out: &str, names: &[String]) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (n, st) = (it.next()?, it.next()?);
            (st == "installed" && names.iter().any(|x| x == n)).then(|| n.to_string())
        })
        .collect()
}

fn action(mgr: &str, verb: &str, names: &[String], update: bool) -> String {
    let mut w: Vec<&str> = match mgr {
        "apt" => vec!["apt-get", verb, "-y", "-q"],
        m => vec![m, verb, "-y", "-q"],
    };
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

impl Module for Package {
    fn name(&self) -> &'static str {
        "package"
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
            let names = a.list("name");
            for n in &names {
                super::operand::name("package", n)?;
            }
            let present = !matches!(a.str("state").as_deref(), Some("absent" | "removed"));
            let mgr = cx
                .fact("pkg_mgr")
                .and_then(Json::as_str)
                .filter(|m| !m.is_empty() && *m != "unknown")
                .ok_or_else(|| {
                    ModuleError::msg(
                        "no supported package manager (apt-get, dnf, yum) on this host",
                    )
                })?
                .to_string();
            let o = cx.query(&[], &query(&mgr, &names)).await?;
            let have = installed(&o.stdout_str(), &names);
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
                for n in &todo {
                    s.push_str(&cx.state.record(json!({
                        "key": format!("package:{n}"), "kind": "package", "name": n, "manager": mgr,
                    })));
                }
            }
            s.push_str(&action(
                &mgr,
                if present { "install" } else { "remove" },
                &todo,
                a.bool("update_cache")?.unwrap_or(false),
            ));
            cx.exec_ok("package manager failed", &s, None).await?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dpkg_and_rpm_answers() {
        let names = vec!["apache2".to_string(), "ipvsadm".to_string()];
        assert_eq!(
            installed("apache2 installed\nipvsadm not-installed\n", &names),
            vec!["apache2"]
        );
        assert_eq!(
            installed(
                "package apache2 is not installed\nipvsadm installed\n",
                &names
            ),
            vec!["ipvsadm"]
        );
    }
}
