//! `file`: a path's existence and kind (`directory`, `absent`, `touch`, `file`) and its mode,
//! owner and group. One round trip to look, one to change; originals recorded for `restore`.

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{
    choice, opt, req, Answers, Arg, Args, Ask, Cx, Module, ModuleError, Outcome, Ty, View,
};
use crate::quote::quote;
use crate::ssh::BoxFuture;

#[derive(Debug)]
pub(crate) struct File;

static ARGS: &[Arg] = &[
    req("path", Ty::Str),
    choice("state", &["file", "directory", "absent", "touch"]),
    opt("mode", Ty::Str),
    opt("owner", Ty::Str),
    opt("group", Ty::Str),
];

/// What the task asks of the path, checked.
struct Want {
    path: String,
    state: String,
    mode: Option<u32>,
    owner: Option<String>,
    group: Option<String>,
}

impl Want {
    fn from_args(args: &Map<String, Json>) -> Result<Want, ModuleError> {
        let a = Args(args);
        let path = a.req("path")?;
        super::operand::abs_path("path", &path)?;
        let state = a.str("state").unwrap_or_else(|| "file".into());
        let mode = a.mode()?;
        let owner = a.str("owner");
        let group = a.str("group");
        if let Some(o) = &owner {
            super::operand::name("owner", o)?;
        }
        if let Some(g) = &group {
            super::operand::name("group", g)?;
        }
        Ok(Want {
            path,
            state,
            mode,
            owner,
            group,
        })
    }

    /// The path's kind and attributes, or `absent`.
    fn ask(&self) -> Ask {
        let p = quote(&self.path);
        Ask::new(
            &[format!("file:{}", self.path)],
            format!("if [ -e {p} ] || [ -L {p} ]; then stat -c '%F|%a|%U|%G|%u|%g' {p}; else echo absent; fi"),
        )
    }
}

impl Module for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn queries(&self, args: &Map<String, Json>, _view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        Ok(vec![Want::from_args(args)?.ask()])
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        mut answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let Want {
                path,
                state,
                mode,
                owner,
                group,
            } = Want::from_args(args)?;
            let p = quote(&path);
            let o = answers.next()?.ok("cannot inspect path")?;
            let line = o.stdout_str();
            let f: Vec<&str> = line.trim().split('|').collect();
            let exists = f.len() == 6;
            let is_dir = exists && f[0] == "directory";
            let mut out = Outcome::default();
            out.data.insert("path".into(), Json::String(path.clone()));
            let mut s = String::from("set -e\n");
            match state.as_str() {
                "absent" => {
                    if !exists {
                        return Ok(out);
                    }
                    if !cx.check {
                        s.push_str(&cx.state.record_file(&path, true));
                        s.push_str(&format!("rm -rf {p}\n"));
                    }
                    out.changed = true;
                }
                "directory" => {
                    if exists && !is_dir {
                        return Err(ModuleError::msg(format!(
                            "{path} exists and is not a directory"
                        )));
                    }
                    if !exists {
                        out.changed = true;
                        if !cx.check {
                            s.push_str(&cx.state.record(Undo::Dir {
                                path: path.clone(),
                                existed: false,
                            }));
                            s.push_str(&format!("mkdir -p {p}\n"));
                        }
                    }
                }
                "touch" => {
                    if !exists {
                        out.changed = true;
                        if !cx.check {
                            s.push_str(&cx.state.record_file(&path, false));
                            s.push_str(&format!("touch {p}\n"));
                        }
                    }
                }
                _ => {
                    if !exists && cx.check {
                        // An earlier task may create it; in check mode it does not exist yet.
                        out.changed = true;
                        out.msg = Some(format!("{path} does not exist (yet)"));
                        return Ok(out);
                    }
                    if !exists {
                        return Err(ModuleError::msg(format!(
                            "{path} does not exist (use state: touch to create it)"
                        )));
                    }
                }
            }
            if state != "absent" && want_attrs(&mode, &owner, &group, exists, &f) {
                out.changed = true;
                if !cx.check {
                    if exists {
                        s.push_str(&cx.state.record(Undo::Meta {
                            path: path.clone(),
                            mode: f[1].to_string(),
                            uid: f[4].to_string(),
                            gid: f[5].to_string(),
                        }));
                    }
                    s.push_str(&attrs_script(&p, mode, &owner, &group));
                }
            }
            if out.changed && !cx.check {
                cx.exec_ok("cannot change path", &s, None).await?;
            }
            Ok(out)
        })
    }
}

/// Whether the task names attributes the path (`f`: its `stat` fields) does not have yet.
fn want_attrs(
    mode: &Option<u32>,
    owner: &Option<String>,
    group: &Option<String>,
    exists: bool,
    f: &[&str],
) -> bool {
    let named = mode.is_some() || owner.is_some() || group.is_some();
    let differ = !exists
        || mode.is_some_and(|m| u32::from_str_radix(f[1], 8).ok() != Some(m))
        || owner.as_ref().is_some_and(|x| x != f[2] && x != f[4])
        || group.as_ref().is_some_and(|x| x != f[3] && x != f[5]);
    named && differ
}

/// The commands giving the path `p` (quoted) the attributes the task names.
fn attrs_script(
    p: &str,
    mode: Option<u32>,
    owner: &Option<String>,
    group: &Option<String>,
) -> String {
    let mut s = String::new();
    if let Some(m) = mode {
        s.push_str(&format!("chmod {m:o} {p}\n"));
    }
    if let Some(o) = owner {
        s.push_str(&format!("chown {} {p}\n", quote(o)));
    }
    if let Some(g) = group {
        s.push_str(&format!("chgrp {} {p}\n", quote(g)));
    }
    s
}
