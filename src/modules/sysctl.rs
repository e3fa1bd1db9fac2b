//! `sysctl`: a kernel parameter's live value and its line in a file under `/etc/sysctl.d/`, so a
//! reboot keeps it. The original live value and the original file are recorded for `restore`.

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{choice, operand, opt, req, Arg, Args, Cx, Diff, Module, ModuleError, Outcome, Ty};
use crate::ssh::{quote, BoxFuture};

#[derive(Debug)]
pub(crate) struct Sysctl;

/// Where `sysctl` persists values unless told otherwise.
pub(crate) const DEFAULT_FILE: &str = "/etc/sysctl.d/99-lvslab.conf";

static ARGS: &[Arg] = &[
    req("name", Ty::Str),
    opt("value", Ty::Str),
    choice("state", &["present", "absent"]),
    opt("sysctl_file", Ty::Str),
    opt("reload", Ty::Bool),
];

fn norm(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    Some(k.trim().trim_start_matches('-'))
}

/// Where the kernel exposes `name`: dots are path separators, and a slash stands for a dot
/// inside one component (an interface like `eth0.100`), as sysctl(8) has it.
fn proc_path(name: &str) -> String {
    let rel: String = name
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    format!("/proc/sys/{rel}")
}

/// A shell line setting the live value with a builtin (`printf` into /proc/sys, one write, as
/// `sysctl -w` does) instead of a program: each program started costs on a slow node.
pub(crate) fn write_line(name: &str, value: &str) -> String {
    format!(
        "printf '%s\\n' {} > {}",
        quote(value),
        quote(&proc_path(name))
    )
}

/// Shell lines replacing `file` by `text` (mode 0644) atomically, with builtins and one `mv`.
fn replace_file_lines(file: &str, text: &str) -> String {
    let (d, f, tmp) = (
        quote(&super::files::parent_dir(file)),
        quote(file),
        quote(&super::files::temp_beside(file)),
    );
    format!(
        "[ -d {d} ] || mkdir -p {d}\n(umask 022; set -C; printf '%s' {t} > {tmp})\nmv -f {tmp} {f}\n",
        t = quote(text)
    )
}

/// The file with `name` set to `value` (or removed when `value` is `None`).
pub(crate) fn edit_file(text: &str, name: &str, value: Option<&str>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut done = false;
    for l in text.lines() {
        if key_of(l) == Some(name) {
            if let (Some(v), false) = (value, done) {
                out.push(format!("{name} = {v}"));
                done = true;
            }
            continue;
        }
        out.push(l.to_string());
    }
    if let (Some(v), false) = (value, done) {
        out.push(format!("{name} = {v}"));
    }
    if out.is_empty() {
        String::new()
    } else {
        out.join("\n") + "\n"
    }
}

impl Module for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
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
            operand::name("kernel parameter", &name)?;
            // Its /proc/sys path is read and written: a part that is empty, `.` or `..` once
            // `/` becomes `.` (sysctl's spelling of a dot inside an interface name) would
            // reach a file outside /proc/sys (`//.//.etc.motd` is `../../etc/motd`).
            if proc_path(&name)["/proc/sys/".len()..]
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
            {
                return Err(ModuleError::msg(format!(
                    "kernel parameter `{name}` is not a parameter name (expected dot-separated words like net.ipv4.ip_forward)"
                )));
            }
            if name.contains('=') {
                return Err(ModuleError::msg(format!(
                    "kernel parameter `{name}` contains `=` (expected a name like net.ipv4.ip_forward)"
                )));
            }
            let present = a.str("state").as_deref() != Some("absent");
            let value = a.str("value");
            if let Some(v) = &value {
                operand::line_value(&format!("value of {name}"), v)?;
            }
            if present && value.is_none() {
                return Err(ModuleError::msg(
                    "`value` is required when state is present",
                ));
            }
            let file = a.str("sysctl_file").unwrap_or_else(|| DEFAULT_FILE.into());
            operand::abs_path("sysctl_file", &file)?;
            let f = quote(&file);
            // Two queries: the file's answer is one for every parameter it holds, so a change
            // to one of them asks again the file and that parameter's live value only. The
            // file is read with shell builtins (a program started costs on a slow node); the
            // live value needs a program: /proc/sys answers a byte-wise `read` (dash's) with
            // its first byte only. `cat` of the /proc/sys file prints what `sysctl -n` does
            // and starts in two thirds of the time.
            let live_q = format!(
                "if v=$(cat {} 2>/dev/null); then printf 'live %s\\n' \"$v\"; else echo missing; fi",
                quote(&proc_path(&name))
            );
            let file_q = format!(
                "if [ -f {f} ]; then echo file; while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done <{f}; else echo nofile; fi"
            );
            let o = cx
                .query_each(&[
                    (vec![format!("sysctl:{name}")], live_q.clone()),
                    (vec![format!("file:{file}")], file_q.clone()),
                ])
                .await?;
            let (live_o, file_o) = (
                super::require_ok("cannot read sysctl", &live_q, o[0].clone())?,
                super::require_ok("cannot read sysctl file", &file_q, o[1].clone())?,
            );
            let live_text = live_o.stdout_str();
            let live_line = live_text.lines().next().unwrap_or("");
            let file_text_all = file_o.stdout_str();
            let (file_flag, file_text) = file_text_all
                .split_once('\n')
                .unwrap_or((file_text_all.as_str(), ""));
            let file_text = file_text.to_string();
            let live = live_line.strip_prefix("live ").map(str::to_string);
            if present && live.is_none() {
                return Err(ModuleError::msg(format!("unknown kernel parameter {name}")));
            }
            let file_exists = file_flag == "file";
            let new_file = edit_file(
                &file_text,
                &name,
                if present { value.as_deref() } else { None },
            );
            let file_changes = new_file != file_text && (file_exists || present);
            let live_changes = present && live.as_deref().map(norm) != value.as_deref().map(norm);
            let mut out = Outcome::default();
            if !file_changes && !live_changes {
                return Ok(out);
            }
            out.changed = true;
            if cx.diff && file_changes {
                out.diffs.push(Diff {
                    label: file.clone(),
                    before: file_text.clone(),
                    after: new_file.clone(),
                });
            }
            if live_changes {
                out.msg = Some(format!(
                    "{name}: {} -> {}",
                    live.clone().unwrap_or_default(),
                    value.clone().unwrap_or_default()
                ));
            }
            if cx.check {
                return Ok(out);
            }
            let mut s = String::from("set -e\n");
            let recs = if live_changes {
                vec![Undo::Sysctl {
                    name: name.clone(),
                    value: live.clone().unwrap_or_default(),
                }]
            } else {
                Vec::new()
            };
            let files: &[(&str, bool)] = if file_changes {
                &[(&file, file_exists)]
            } else {
                &[]
            };
            s.push_str(&cx.state.record_all(recs, files));
            if file_changes {
                if new_file.is_empty() {
                    s.push_str(&format!("rm -f {f}\n"));
                } else {
                    s.push_str(&replace_file_lines(&file, &new_file));
                }
            }
            if live_changes && a.bool("reload")?.unwrap_or(true) {
                s.push_str(&write_line(&name, &value.unwrap_or_default()));
                s.push('\n');
            }
            cx.exec_ok(&format!("cannot set {name}"), &s, None).await?;
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_replace_append_and_remove() {
        let t = "# c\nnet.a = 1\nnet.b=2\nnet.a = 3\n";
        assert_eq!(
            edit_file(t, "net.a", Some("5")),
            "# c\nnet.a = 5\nnet.b=2\n"
        );
        assert_eq!(
            edit_file(t, "net.c", Some("1")),
            "# c\nnet.a = 1\nnet.b=2\nnet.a = 3\nnet.c = 1\n"
        );
        assert_eq!(edit_file(t, "net.a", None), "# c\nnet.b=2\n");
        assert_eq!(edit_file("", "x", None), "");
        assert_eq!(norm("32768\t60999"), "32768 60999");
    }

    #[test]
    fn live_values_are_written_to_proc_sys() {
        assert_eq!(
            write_line("net.ipv4.conf.eth0/100.arp_ignore", "1"),
            "printf '%s\\n' 1 > /proc/sys/net/ipv4/conf/eth0.100/arp_ignore"
        );
        assert_eq!(
            write_line("net.ipv4.ip_local_port_range", "32768\t60999"),
            "printf '%s\\n' '32768\t60999' > /proc/sys/net/ipv4/ip_local_port_range"
        );
    }
}
