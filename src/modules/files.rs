//! `copy`, and the file-placing logic it shares with `template`: compare the node's file
//! (content, mode, owner, group) in one round trip, then in one more round trip record the
//! original, write a temp file beside the destination, validate it, set its attributes and
//! rename it over the destination — the live file is never half-written or unvalidated.

use serde_json::{Map, Value as Json};

use super::command::split_words;
use super::{
    operand, opt, req, Answers, Arg, Args, Ask, Cx, Diff, Module, ModuleError, Outcome, Ty, View,
};
use crate::quote::quote;
use crate::ssh::BoxFuture;
use crate::yaml::{Diag, Key, Node};

#[derive(Debug)]
pub(crate) struct Copy;

static ARGS: &[Arg] = &[
    req("dest", Ty::Str),
    opt("content", Ty::Str),
    opt("src", Ty::Str),
    opt("mode", Ty::Str),
    opt("owner", Ty::Str),
    opt("group", Ty::Str),
    opt("backup", Ty::Bool),
    opt("validate", Ty::Str),
];

/// The node's view of a file.
#[derive(Debug, PartialEq)]
pub(crate) enum Remote {
    Absent,
    Directory,
    File {
        mode: u32,
        owner: String,
        group: String,
        uid: String,
        gid: String,
        content: Vec<u8>,
    },
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    }
}

/// A temporary name beside `path`, unique to this run; created with `set -C` (exclusively) it
/// cannot follow a link planted in a shared directory, and needs no `mktemp` program.
pub(crate) fn temp_beside(path: &str) -> String {
    format!("{path}.{}", super::probe::token().trim_start_matches('@'))
}

/// One command printing a file's kind, attributes and content. The owner's and group's names
/// (`names`: a task that sets them by name) cost `stat` a user database lookup, two thirds of
/// its time on a slow node; otherwise the ids stand in for them.
pub(crate) fn stat_script(path: &str, names: bool) -> String {
    let p = quote(path);
    let format = if names {
        "file %a %U %G %u %g"
    } else {
        "file %a %u %g %u %g"
    };
    format!(
        "if [ -d {p} ]; then echo directory; elif [ -e {p} ]; then stat -L -c '{format}' {p} && cat {p}; else echo absent; fi"
    )
}

pub(crate) fn parse_stat(out: &[u8]) -> Result<Remote, ModuleError> {
    let nl = out.iter().position(|b| *b == b'\n').unwrap_or(out.len());
    let head = String::from_utf8_lossy(&out[..nl]).to_string();
    let rest = out.get(nl + 1..).unwrap_or(&[]).to_vec();
    let w: Vec<&str> = head.split_whitespace().collect();
    match w.as_slice() {
        ["absent"] => Ok(Remote::Absent),
        ["directory"] => Ok(Remote::Directory),
        ["file", mode, owner, group, uid, gid] => Ok(Remote::File {
            mode: u32::from_str_radix(mode, 8).unwrap_or(0),
            owner: owner.to_string(),
            group: group.to_string(),
            uid: uid.to_string(),
            gid: gid.to_string(),
            content: rest,
        }),
        _ => Err(ModuleError::msg(format!("unexpected stat output: {head}"))),
    }
}

/// What a file should look like.
pub(crate) struct Want {
    pub(crate) dest: String,
    pub(crate) content: Vec<u8>,
    pub(crate) mode: Option<u32>,
    pub(crate) owner: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) backup: bool,
    pub(crate) validate: Option<String>,
}

impl Want {
    /// The file `copy` and `template` describe: `dest`, attributes, backup and validate from
    /// the arguments, with the given content.
    pub(crate) fn from_args(a: &Args<'_>, content: Vec<u8>) -> Result<Want, ModuleError> {
        let dest = a.req("dest")?;
        operand::abs_path("dest", &dest)?;
        let owner = a.str("owner");
        let group = a.str("group");
        if let Some(o) = &owner {
            operand::name("owner", o)?;
        }
        if let Some(g) = &group {
            operand::name("group", g)?;
        }
        Ok(Want {
            dest,
            content,
            mode: a.mode()?,
            owner,
            group,
            backup: a.bool("backup")?.unwrap_or(false),
            validate: a.str("validate"),
        })
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap_or_else(|_| "(binary content)\n".into())
}

/// A file holding a secret is readable by its owner (and group at most): mode 0600 unless the
/// task names one, and a named mode that lets others read it (or the group write it) is
/// refused rather than silently weakened or widened.
fn secret_mode(w: &mut Want, secrets: &crate::secret::Redactor) -> Result<(), ModuleError> {
    if !secrets.contains_secret(&w.content) {
        return Ok(());
    }
    match w.mode {
        None => w.mode = Some(0o600),
        Some(m) if m & 0o027 != 0 => {
            return Err(ModuleError::msg(format!(
                "{} would hold a secret but mode {m:04o} lets others read it: use 0600 or 0640",
                w.dest
            )))
        }
        Some(_) => {}
    }
    Ok(())
}

/// An owner or group given by name (not a numeric id).
fn by_name(who: &Option<String>) -> bool {
    who.as_ref()
        .is_some_and(|w| !w.chars().all(|c| c.is_ascii_digit()))
}

/// Whether the destination existed, holds the wanted content, and has the wanted attributes
/// (Err: it is a directory).
fn compare(w: &Want, remote: &Remote) -> Result<(bool, bool, bool), ModuleError> {
    Ok(match remote {
        Remote::Directory => {
            return Err(ModuleError::msg(format!(
                "destination {} is a directory",
                w.dest
            )))
        }
        Remote::Absent => (false, false, false),
        Remote::File {
            mode,
            owner,
            group,
            uid,
            gid,
            content,
        } => (
            true,
            *content == w.content,
            w.mode.is_none_or(|m| m == *mode)
                && w.owner.as_ref().is_none_or(|x| x == owner || x == uid)
                && w.group.as_ref().is_none_or(|x| x == group || x == gid),
        ),
    })
}

/// What placing `w` asks: the destination's kind, attributes and content. A file that would
/// hold a secret under a mode others can read is refused first.
pub(crate) fn file_queries(mut w: Want, view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
    secret_mode(&mut w, view.secrets)?;
    Ok(vec![Ask::new(
        &[format!("file:{}", w.dest)],
        stat_script(&w.dest, by_name(&w.owner) || by_name(&w.group)),
    )])
}

/// From the answer to [`file_queries`], put the file in place (unless check mode).
pub(crate) async fn put_file(
    cx: &mut Cx<'_>,
    mut w: Want,
    mut answers: Answers,
) -> Result<Outcome, ModuleError> {
    secret_mode(&mut w, cx.secrets)?;
    let o = answers.next()?.ok("cannot inspect destination")?;
    let remote = parse_stat(&o.stdout)?;
    let (existed, content_same, attrs_same) = compare(&w, &remote)?;
    let mut out = Outcome::default();
    out.data.insert("dest".into(), Json::String(w.dest.clone()));
    // lvslab's own: the file did not exist before (a new unit file needs no `daemon-reload`).
    out.data.insert("created".into(), Json::Bool(!existed));
    if content_same && attrs_same {
        return Ok(out);
    }
    out.changed = true;
    if !content_same && cx.diff {
        let before = match &remote {
            Remote::File { content, .. } => text(content),
            _ => String::new(),
        };
        out.diffs.push(Diff {
            label: w.dest.clone(),
            before,
            after: text(&w.content),
        });
    }
    if cx.check {
        return Ok(out);
    }
    let p = quote(&w.dest);
    let mut s = String::from("set -e\n");
    // `backup: true` keeps a dated copy of the file it replaces beside it (as Ansible does);
    // that copy is lvslab's doing too, recorded so teardown removes it.
    let backup_copy =
        (w.backup && existed && !content_same).then(|| format!("{}.{}~", w.dest, backup_stamp()));
    let mut files = vec![(w.dest.as_str(), existed)];
    if let Some(b) = &backup_copy {
        files.push((b.as_str(), false));
    }
    s.push_str(&cx.state.record_all(Vec::new(), &files));
    // The query read the current mode and owner: they are kept from it, not asked again (each
    // program started costs on a slow node).
    let (old_mode, old_uid, old_gid) = match &remote {
        Remote::File { mode, uid, gid, .. } => (Some(*mode), Some(uid.clone()), Some(gid.clone())),
        _ => (None, None, None),
    };
    let chmod = |target: &str| match w.mode.or(old_mode) {
        Some(m) => format!("chmod {:o} {target}\n", m),
        None => format!("chmod 644 {target}\n"),
    };
    let chown = |target: &str| {
        let owner = w.owner.clone().or_else(|| old_uid.clone());
        let group = w.group.clone().or_else(|| old_gid.clone());
        match (owner, group) {
            (Some(o), Some(g)) => format!("chown {} {target}\n", quote(&format!("{o}:{g}"))),
            (Some(o), None) => format!("chown {} {target}\n", quote(&o)),
            (None, Some(g)) => format!("chgrp {} {target}\n", quote(&g)),
            (None, None) => String::new(),
        }
    };
    if content_same {
        s.push_str(&chmod(&p));
        s.push_str(&chown(&p));
        cx.exec_ok("cannot set file attributes", &s, None).await?;
        return Ok(out);
    }
    s.push_str(&format!(
        "tmp={}\ntrap 'rm -f \"$tmp\"' EXIT\n(set -C; cat > \"$tmp\")\n",
        quote(&temp_beside(&w.dest))
    ));
    if let Some(v) = &w.validate {
        let words = split_words(v).map_err(|e| ModuleError::msg(format!("validate: {e}")))?;
        // `%s` becomes the temp file; every word is quoted, the temp path comes from "$tmp".
        let line: Vec<String> = words
            .iter()
            .map(|wd| {
                let parts: Vec<String> = wd.split("%s").map(quote).collect();
                parts.join("\"$tmp\"")
            })
            .collect();
        s.push_str(&format!(
            "if ! {} >&2; then echo 'validation failed: {}' >&2; exit 3; fi\n",
            line.join(" "),
            v.replace('\'', "")
        ));
    }
    s.push_str(&chmod("\"$tmp\""));
    s.push_str(&chown("\"$tmp\""));
    if let Some(b) = &backup_copy {
        s.push_str(&format!("cp -p {p} {}\n", quote(b)));
    }
    s.push_str(&format!("mv -f \"$tmp\" {p}\ntrap - EXIT\n"));
    cx.exec_ok("cannot write file", &s, Some(&w.content))
        .await?;
    Ok(out)
}

/// Local time as `YYYYmmddHHMMSS`, naming a backup copy.
fn backup_stamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only into the tm we pass; both pointers are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

impl Module for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn validate(&self, args: &Node, key: &Key) -> Result<(), Diag> {
        if args.get("content").is_some() == args.get("src").is_some() {
            return Err(Diag::at_key(
                key,
                &args.src,
                "`copy` needs exactly one of `content` or `src`",
            )
            .expected("`content: TEXT` or `src: FILE`"));
        }
        Ok(())
    }
    fn queries(&self, args: &Map<String, Json>, view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        file_queries(copy_want(args, view)?, view)
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let w = copy_want(args, cx)?;
            put_file(cx, w, answers).await
        })
    }
}

/// The file `copy` places: `content`, or the bytes of `src` found in the search path.
fn copy_want(args: &Map<String, Json>, view: &View<'_>) -> Result<Want, ModuleError> {
    let a = Args(args);
    let content = match a.str("content") {
        Some(c) => c.into_bytes(),
        None => {
            let src = a.req("src")?;
            let found = view
                .search
                .find("files", &src)
                .ok_or_else(|| ModuleError::msg(format!("source file not found: {src}")))?;
            found
                .read()
                .map_err(|e| {
                    let path = found.display_path();
                    ModuleError::msg(format!("cannot read {}: {e}", path.display()))
                })?
                .into_owned()
        }
    };
    Want::from_args(&a, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspect(path: &std::path::Path, names: bool) -> Remote {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(stat_script(path.to_str().unwrap(), names))
            .output()
            .unwrap();
        parse_stat(&out.stdout).unwrap()
    }

    #[test]
    fn ids_stand_in_for_names_unless_a_task_names_them() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "a\nb").unwrap();
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() }.to_string();
        match inspect(&f, false) {
            Remote::File {
                owner,
                uid: u,
                content,
                ..
            } => {
                assert_eq!((owner.as_str(), u.as_str()), (uid.as_str(), uid.as_str()));
                assert_eq!(content, b"a\nb");
            }
            other => panic!("{other:?}"),
        }
        match inspect(&f, true) {
            Remote::File { owner, .. } => {
                assert!(owner.chars().any(|c| !c.is_ascii_digit()), "{owner}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(inspect(d.path(), false), Remote::Directory);
        assert_eq!(inspect(&d.path().join("none"), false), Remote::Absent);
        assert!(by_name(&Some("www-data".into())) && !by_name(&Some("33".into())));
        assert!(!by_name(&None));
    }
}
