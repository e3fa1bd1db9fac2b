//! `sysctl`: a kernel parameter's live value and its line in a file under `/etc/sysctl.d/`, so a
//! reboot keeps it. The original live value and the original file are recorded for `restore`.

use serde_json::{Map, Value as Json};

use super::undo::Undo;
use super::{
    choice, operand, opt, req, Answers, Arg, Args, Ask, Cx, Diff, Module, ModuleError, Outcome, Ty,
    View,
};
use crate::quote::quote;
use crate::ssh::BoxFuture;

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

/// What the task asks for, checked.
#[derive(Debug)]
struct Want {
    name: String,
    /// `None`: state absent.
    value: Option<String>,
    file: String,
    reload: bool,
}

impl Want {
    fn from_args(a: &Args<'_>) -> Result<Want, ModuleError> {
        let name = a.req("name")?;
        operand::name("kernel parameter", &name)?;
        // Its /proc/sys path is read and written: a part that is empty, `.` or `..` once `/`
        // becomes `.` (sysctl's spelling of a dot inside an interface name) would reach a file
        // outside /proc/sys (`//.//.etc.motd` is `../../etc/motd`).
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
        Ok(Want {
            name,
            value: if present { value } else { None },
            file,
            reload: a.bool("reload")?.unwrap_or(true),
        })
    }

    /// Two queries: the file's answer is one for every parameter it holds, so a change to one
    /// of them asks again the file and that parameter's live value only. The file is read with
    /// shell builtins (a program started costs on a slow node); the live value needs a program:
    /// /proc/sys answers a byte-wise `read` (dash's) with its first byte only. `cat` of the
    /// /proc/sys file prints what `sysctl -n` does and starts in two thirds of the time.
    fn queries(&self) -> Vec<Ask> {
        let f = quote(&self.file);
        vec![
            Ask::new(
                &[format!("sysctl:{}", self.name)],
                format!(
                    "if v=$(cat {} 2>/dev/null); then printf 'live %s\\n' \"$v\"; else echo missing; fi",
                    quote(&proc_path(&self.name))
                ),
            ),
            Ask::new(
                &[format!("file:{}", self.file)],
                format!(
                    "if [ -f {f} ]; then echo file; while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done <{f}; else echo nofile; fi"
                ),
            ),
        ]
    }
}

/// What the node has: the live value (`None`: no such parameter) and the file.
#[derive(Debug)]
struct Node {
    live: Option<String>,
    file_exists: bool,
    file_text: String,
}

impl Node {
    fn from_answers(live: &str, file: &str) -> Node {
        let live_line = live.lines().next().unwrap_or("");
        let (flag, text) = file.split_once('\n').unwrap_or((file, ""));
        Node {
            live: live_line.strip_prefix("live ").map(str::to_string),
            file_exists: flag == "file",
            file_text: text.to_string(),
        }
    }
}

/// What has to change: the file's new text when it changes, and whether the live value does.
#[derive(Debug, PartialEq)]
struct Change {
    new_file: Option<String>,
    live: bool,
}

fn change(want: &Want, node: &Node) -> Change {
    let new_file = edit_file(&node.file_text, &want.name, want.value.as_deref());
    let file_changes = new_file != node.file_text && (node.file_exists || want.value.is_some());
    Change {
        new_file: file_changes.then_some(new_file),
        live: want.value.is_some()
            && node.live.as_deref().map(norm) != want.value.as_deref().map(norm),
    }
}

/// Record the originals, write the file, set the live value.
fn apply_script(cx: &mut Cx<'_>, want: &Want, node: &Node, c: &Change) -> String {
    let mut s = String::from("set -e\n");
    let recs = if c.live {
        vec![Undo::Sysctl {
            name: want.name.clone(),
            value: node.live.clone().unwrap_or_default(),
        }]
    } else {
        Vec::new()
    };
    let files: &[(&str, bool)] = if c.new_file.is_some() {
        &[(&want.file, node.file_exists)]
    } else {
        &[]
    };
    s.push_str(&cx.state.record_all(recs, files));
    match c.new_file.as_deref() {
        Some("") => s.push_str(&format!("rm -f {}\n", quote(&want.file))),
        Some(text) => s.push_str(&replace_file_lines(&want.file, text)),
        None => {}
    }
    if c.live && want.reload {
        s.push_str(&write_line(
            &want.name,
            want.value.as_deref().unwrap_or_default(),
        ));
        s.push('\n');
    }
    s
}

impl Module for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
    }
    fn args(&self) -> &'static [Arg] {
        ARGS
    }
    fn queries(&self, args: &Map<String, Json>, _view: &View<'_>) -> Result<Vec<Ask>, ModuleError> {
        Ok(Want::from_args(&Args(args))?.queries())
    }
    fn apply<'a>(
        &'a self,
        args: &'a Map<String, Json>,
        mut answers: Answers,
        cx: &'a mut Cx<'_>,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>> {
        Box::pin(async move {
            let want = Want::from_args(&Args(args))?;
            let live_o = answers.next()?.ok("cannot read sysctl")?;
            let file_o = answers.next()?.ok("cannot read sysctl file")?;
            let node = Node::from_answers(&live_o.stdout_str(), &file_o.stdout_str());
            if want.value.is_some() && node.live.is_none() {
                return Err(ModuleError::msg(format!(
                    "unknown kernel parameter {}",
                    want.name
                )));
            }
            let c = change(&want, &node);
            let mut out = Outcome::default();
            if c.new_file.is_none() && !c.live {
                return Ok(out);
            }
            out.changed = true;
            if let (true, Some(after)) = (cx.diff, &c.new_file) {
                out.diffs.push(Diff {
                    label: want.file.clone(),
                    before: node.file_text.clone(),
                    after: after.clone(),
                });
            }
            if c.live {
                out.msg = Some(format!(
                    "{}: {} -> {}",
                    want.name,
                    node.live.clone().unwrap_or_default(),
                    want.value.clone().unwrap_or_default()
                ));
            }
            if cx.check {
                return Ok(out);
            }
            let s = apply_script(cx, &want, &node, &c);
            cx.exec_ok(&format!("cannot set {}", want.name), &s, None)
                .await?;
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

    #[test]
    fn the_change_is_what_differs_between_want_and_node() {
        let want = |value: Option<&str>| Want {
            name: "net.ipv4.conf.all.arp_ignore".into(),
            value: value.map(str::to_string),
            file: DEFAULT_FILE.into(),
            reload: true,
        };
        let node = Node::from_answers("live 0\n", "file\n# mine\n");
        assert_eq!(node.live.as_deref(), Some("0"));
        assert_eq!(
            change(&want(Some("1")), &node),
            Change {
                new_file: Some("# mine\nnet.ipv4.conf.all.arp_ignore = 1\n".into()),
                live: true
            }
        );
        let set = Node::from_answers("live 1\n", "file\nnet.ipv4.conf.all.arp_ignore = 1\n");
        assert_eq!(
            change(&want(Some("1")), &set),
            Change {
                new_file: None,
                live: false
            }
        );
        // Absent: the line goes, the live value stays; no file, nothing to do.
        assert_eq!(
            change(&want(None), &set),
            Change {
                new_file: Some(String::new()),
                live: false
            }
        );
        let none = Node::from_answers("missing\n", "nofile\n");
        assert_eq!(
            change(&want(None), &none),
            Change {
                new_file: None,
                live: false
            }
        );
    }
}
