//! The reporter: renders executor events. On a terminal, one indicatif line per host (current
//! task, elapsed) with results printed above; otherwise plain lines. `--diff` adds unified
//! diffs, `-v` the remote commands, `-vv` their output. At the end: the recap and, with
//! `--json`, one JSON document on stdout (human output then goes to stderr). Only this module
//! writes to the terminal, and everything it writes is masked on the way out with the plan's
//! secrets (a `crate::secret::Redactor` it is handed): the executor already redacts by
//! variable, this catches a secret value under any name.

mod color;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Map, Value as Json};

use crate::exec::{Event, HostResult, Status};
use crate::secret::Redactor;
use color::Palette;

/// How to render.
#[derive(Debug, Clone)]
pub(crate) struct ReportOptions {
    pub(crate) json: bool,
    pub(crate) verbose: u8,
    pub(crate) diff: bool,
    pub(crate) check: bool,
    pub(crate) command: String,
    /// `Some`: `--color always|never`; `None`: by the terminal and `NO_COLOR`.
    pub(crate) color: Option<bool>,
    /// Failures and the recap only.
    pub(crate) quiet: bool,
}

/// Per-host counts for the recap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) ok: u32,
    pub(crate) changed: u32,
    pub(crate) failed: u32,
    pub(crate) unreachable: u32,
    pub(crate) skipped: u32,
}

/// What the run came to.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) stats: BTreeMap<String, Stats>,
    pub(crate) interrupted: bool,
}

impl Summary {
    pub(crate) fn success(&self) -> bool {
        !self.interrupted
            && self
                .stats
                .values()
                .all(|s| s.failed == 0 && s.unreachable == 0)
    }
}

struct Reporter {
    opts: ReportOptions,
    paint: Palette,
    order: Vec<String>,
    out: Box<dyn Write + Send>,
    mp: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    stats: BTreeMap<String, Stats>,
    results: Vec<Json>,
    facts: Map<String, Json>,
    interrupted: bool,
    /// Why a host became unreachable (first time), for the recap.
    lost: BTreeMap<String, String>,
    /// What every line and the JSON document are masked with.
    secrets: Redactor,
}

/// Start the reporter thread for hosts `order`.
pub(crate) fn spawn(
    opts: ReportOptions,
    order: Vec<String>,
    secrets: Redactor,
) -> (mpsc::Sender<Event>, JoinHandle<Summary>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let tty = std::io::stderr().is_terminal() && (opts.json || std::io::stdout().is_terminal());
        let (out, out_tty): (Box<dyn Write + Send>, bool) = if opts.json {
            (Box::new(std::io::stderr()), std::io::stderr().is_terminal())
        } else {
            (Box::new(std::io::stdout()), std::io::stdout().is_terminal())
        };
        let mut r = Reporter {
            paint: Palette::new(color::enabled(opts.color, out_tty)),
            mp: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            opts,
            order,
            out,
            bars: BTreeMap::new(),
            stats: BTreeMap::new(),
            results: Vec::new(),
            facts: Map::new(),
            interrupted: false,
            lost: BTreeMap::new(),
            secrets,
        };
        for ev in rx {
            r.event(ev);
        }
        r.finish()
    });
    (tx, handle)
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Changed => "changed",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
        Status::Ignored => "failed (ignored)",
        Status::Unreachable => "unreachable",
    }
}

/// A unified diff of one change.
pub(crate) fn unified(label: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("before: {label}"), &format!("after: {label}"))
        .to_string()
}

/// The failure block: host, task, command, exit status, stderr.
fn failure_text(r: &HostResult, paint: Palette) -> String {
    let head = format!("{}: [{}]", status_word(r.status), r.host);
    let mut s = format!("{} task \"{}\"", paint.failed(&head), r.task);
    if let Some(i) = &r.item {
        s.push_str(&format!(" (item {i})"));
    }
    if let Some(f) = &r.failure {
        s.push_str(&format!(": {}", f.msg));
        if let Some(c) = &f.cmd {
            s.push_str(&format!("\n  command: {}", c.trim_end()));
        }
        if let Some(st) = f.status {
            s.push_str(&format!("\n  exit status: {st}"));
        } else if f.cmd.is_some() && r.status != Status::Unreachable {
            s.push_str("\n  exit status: none (killed by a signal)");
        }
        if !f.stderr.trim().is_empty() {
            s.push_str(&format!(
                "\n  stderr: {}",
                f.stderr.trim_end().replace('\n', "\n          ")
            ));
        }
        if !f.stdout.trim().is_empty() {
            s.push_str(&format!(
                "\n  stdout: {}",
                f.stdout.trim_end().replace('\n', "\n          ")
            ));
        }
    }
    s
}

impl Reporter {
    /// Every human line leaves through here, redacted (secret values, whatever their name).
    fn line(&mut self, s: &str) {
        let s = self.secrets.redact(s);
        match &self.mp {
            Some(mp) => {
                let _ = mp.println(s);
            }
            None => {
                let _ = writeln!(self.out, "{s}");
            }
        }
    }

    fn bar(&mut self, host: &str) -> Option<ProgressBar> {
        let mp = self.mp.as_ref()?;
        if let Some(b) = self.bars.get(host) {
            return Some(b.clone());
        }
        let b = mp.add(ProgressBar::new_spinner());
        let style =
            ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        b.set_style(style);
        b.set_prefix(host.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        self.bars.insert(host.to_string(), b.clone());
        Some(b)
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::PlayStart { name, hosts } => {
                for h in &hosts {
                    self.stats.entry(h.clone()).or_default();
                }
                if self.opts.quiet {
                    return;
                }
                self.line(&format!("\nPLAY [{name}] ({} hosts)", hosts.len()));
            }
            Event::TaskStart { name, handler } => {
                if self.opts.quiet {
                    return;
                }
                let kind = if handler { "HANDLER" } else { "TASK" };
                self.line(&format!("\n{kind} [{name}]"));
            }
            Event::HostStart { host, task } => {
                if let Some(b) = self.bar(&host) {
                    b.set_message(task);
                    b.reset_elapsed();
                }
            }
            Event::Facts {
                host,
                summary,
                facts,
            } => {
                if !self.opts.quiet && (self.opts.command == "ping" || self.opts.verbose > 0) {
                    let head = self.paint.ok(&format!("ok: [{host}]"));
                    self.line(&format!("{head} {summary}"));
                }
                self.stats.entry(host.clone()).or_default().ok +=
                    u32::from(self.opts.command == "ping");
                self.facts.insert(host, facts);
            }
            Event::Result(r) => self.result(*r),
            Event::Interrupted => {
                self.interrupted = true;
                self.line("\ninterrupted: remote work stopped, connections closed");
            }
        }
    }

    fn result(&mut self, r: HostResult) {
        if r.status == Status::Unreachable && !self.lost.contains_key(&r.host) {
            let why = r.failure.as_ref().map(|f| f.msg.as_str()).unwrap_or("");
            let why = why
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no reason given");
            self.lost.insert(
                r.host.clone(),
                format!("{} (task \"{}\")", why.trim(), r.task),
            );
        }
        let st = self.stats.entry(r.host.clone()).or_default();
        match r.status {
            Status::Ok | Status::Ignored => st.ok += 1,
            Status::Changed => {
                st.ok += 1;
                st.changed += 1
            }
            Status::Skipped => st.skipped += 1,
            Status::Failed => st.failed += 1,
            Status::Unreachable => st.unreachable += 1,
        }
        if let Some(b) = self.bars.get(&r.host) {
            b.set_message("");
        }
        if matches!(
            r.status,
            Status::Failed | Status::Ignored | Status::Unreachable
        ) {
            let block = failure_text(&r, self.paint);
            self.line(&block);
        } else if !self.opts.quiet {
            let head = format!("{}: [{}]", status_word(r.status), r.host);
            let mut s = match r.status {
                Status::Changed => self.paint.changed(&head),
                Status::Skipped => self.paint.skipped(&head),
                _ => self.paint.ok(&head),
            };
            if let Some(m) = &r.msg {
                if m.contains('\n') {
                    s.push_str(&format!("\n  {}", m.replace('\n', "\n  ")));
                } else {
                    s.push_str(&format!(" {m}"));
                }
            }
            self.line(&s);
        }
        if self.opts.verbose >= 1 {
            for c in &r.cmds {
                let mut s = format!("  $ {}", c.cmd.trim_end().replace('\n', "\n    "));
                if self.opts.verbose >= 2 {
                    s.push_str(&format!(
                        "\n    exit status: {}",
                        c.status.map(|x| x.to_string()).unwrap_or("-".into())
                    ));
                    if !c.stdout.is_empty() {
                        s.push_str(&format!(
                            "\n    stdout: {}",
                            c.stdout.trim_end().replace('\n', "\n            ")
                        ));
                    }
                    if !c.stderr.is_empty() {
                        s.push_str(&format!(
                            "\n    stderr: {}",
                            c.stderr.trim_end().replace('\n', "\n            ")
                        ));
                    }
                }
                self.line(&s);
            }
        }
        let mut diffs = Vec::new();
        if self.opts.diff {
            for d in &r.diffs {
                let u = unified(&d.label, &d.before, &d.after);
                let painted = self.paint.diff(u.trim_end());
                self.line(&painted);
                diffs.push(json!({"path": d.label, "diff": u}));
            }
        }
        let mut j = json!({
            "host": r.host, "task": r.task, "status": status_word(r.status),
            "msg": r.msg,
        });
        if !diffs.is_empty() {
            j["diffs"] = Json::Array(diffs);
        }
        if let Some(f) = &r.failure {
            j["failure"] = json!({
                "msg": f.msg, "command": f.cmd, "exit_status": f.status,
                "stderr": f.stderr, "stdout": f.stdout, "item": r.item,
            });
        }
        self.results.push(j);
    }

    fn finish(mut self) -> Summary {
        for (_, b) in std::mem::take(&mut self.bars) {
            b.finish_and_clear();
        }
        if let Some(mp) = self.mp.take() {
            let _ = mp.clear();
        }
        let names: Vec<String> = self
            .order
            .iter()
            .filter(|h| self.stats.contains_key(*h))
            .cloned()
            .collect();
        let _ = writeln!(self.out, "\nPLAY RECAP");
        for h in &names {
            let line = recap_line(h, self.stats[h], self.lost.get(h), self.paint);
            let _ = writeln!(self.out, "{line}");
        }
        let summary = Summary {
            stats: self.stats.clone(),
            interrupted: self.interrupted,
        };
        if self.opts.json {
            let mut hosts = Map::new();
            for h in &names {
                let s = self.stats[h];
                let mut entry = json!({"ok": s.ok, "changed": s.changed, "failed": s.failed, "unreachable": s.unreachable, "skipped": s.skipped});
                if let Some(why) = self.lost.get(h) {
                    entry["unreachable_reason"] = Json::String(why.clone());
                }
                hosts.insert(h.clone(), entry);
            }
            let mut doc = json!({
                "command": self.opts.command,
                "check": self.opts.check,
                "success": summary.success(),
                "interrupted": self.interrupted,
                "hosts": hosts,
                "results": self.results,
            });
            if self.opts.command == "ping" {
                doc["facts"] = Json::Object(self.facts.clone());
            }
            self.secrets.redact_json(&mut doc);
            let mut so = std::io::stdout();
            let _ = writeln!(
                so,
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            );
        }
        let _ = self.out.flush();
        summary
    }
}

/// One host's recap line, painted as Ansible paints it: the host by its worst outcome, each
/// count that is not zero by its kind.
fn recap_line(host: &str, s: Stats, lost: Option<&String>, paint: Palette) -> String {
    let count = |name: &str, n: u32, f: fn(&Palette, &str) -> String| {
        let text = format!("{name}={n}");
        if n > 0 {
            f(&paint, &text)
        } else {
            text
        }
    };
    let name = if s.failed > 0 || s.unreachable > 0 {
        paint.failed(host)
    } else if s.changed > 0 {
        paint.changed(host)
    } else {
        paint.ok(host)
    };
    let lost = lost
        .map(|why| format!("  -- unreachable: {why}"))
        .unwrap_or_default();
    format!(
        "{name} : {} {} {} {} {}{lost}",
        count("ok", s.ok, Palette::ok),
        count("changed", s.changed, Palette::changed),
        count("failed", s.failed, Palette::failed),
        count("unreachable", s.unreachable, Palette::failed),
        count("skipped", s.skipped, Palette::skipped),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recap_lines_read_the_same_without_colour() {
        let s = Stats {
            ok: 3,
            changed: 1,
            failed: 0,
            unreachable: 0,
            skipped: 2,
        };
        assert_eq!(
            recap_line("node01", s, None, Palette::new(false)),
            "node01 : ok=3 changed=1 failed=0 unreachable=0 skipped=2"
        );
        let painted = recap_line("node01", s, None, Palette::new(true));
        assert!(painted.starts_with("\x1b[33mnode01\x1b[0m : \x1b[32mok=3"));
        assert!(
            painted.contains(" failed=0 "),
            "zero counts stay plain: {painted}"
        );
    }
}
