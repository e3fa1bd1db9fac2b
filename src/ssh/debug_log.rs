//! ssh's own debug output (`-vvv` and up), as `ansible-playbook -vvvv` shows it: the master
//! ssh of each host logs to a file (`-E`), and what it wrote is copied to stderr, each line
//! under the host's name and with the run's secret values masked (ssh's debug log quotes
//! the commands it sends, which may carry a rendered secret; passwords themselves never pass
//! through it: the login's goes to ssh's askpass, become's over the command's stdin).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::secret::Redactor;

/// How much of ssh's debug output a run shows: 0 none, 1-3 as `ssh -v` .. `ssh -vvv`.
static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();

/// Take lvslab's `-v` count: `-vvv` passes `-v` to ssh, `-vvvv` `-vv`, `-vvvvv` `-vvv`.
pub fn set_verbosity(verbose: u8) {
    let _ = LEVEL.set(verbose.saturating_sub(2).min(3));
}

/// The ssh debug level of this run (see [`set_verbosity`]).
pub(crate) fn level() -> u8 {
    LEVEL.get().copied().unwrap_or(0)
}

/// The part of a master's log not yet shown.
pub(crate) struct LogTail {
    host: String,
    path: PathBuf,
    /// Bytes shown so far (only whole lines are shown).
    shown: Mutex<u64>,
    /// What every line shown is masked with.
    secrets: Arc<Redactor>,
}

impl LogTail {
    pub(crate) fn new(host: &str, path: &Path, secrets: Arc<Redactor>) -> LogTail {
        LogTail {
            host: host.to_string(),
            path: path.to_path_buf(),
            shown: Mutex::new(0),
            secrets,
        }
    }

    /// Copy the whole lines logged since the last call to stderr.
    pub(crate) fn show(&self) {
        let Ok(mut shown) = self.shown.lock() else {
            return;
        };
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(*shown)).is_err() || f.read_to_end(&mut buf).is_err() {
            return;
        }
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        *shown += end as u64 + 1;
        let text = String::from_utf8_lossy(&buf[..end]);
        let mut out = String::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            out.push_str(&format!(
                "<{}> ssh: {}\n",
                self.host,
                self.secrets.redact(line)
            ));
        }
        eprint!("{out}");
    }

    /// ssh's messages in a log without its debug lines (nor the version line `-v` adds):
    /// the reason a master failed.
    pub(crate) fn without_debug(log: &str) -> String {
        log.lines()
            .filter(|l| {
                !["debug1: ", "debug2: ", "debug3: "]
                    .iter()
                    .any(|d| l.starts_with(d))
            })
            .filter(|l| !l.starts_with("OpenSSH_"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_masters_reason_leaves_the_debug_lines_out() {
        let log = "OpenSSH_9.2p1\r\ndebug1: Reading configuration data x\ndebug3: y\n\
                   user@h: Permission denied (publickey).\n";
        assert_eq!(
            LogTail::without_debug(&log.replace('\r', "")),
            "user@h: Permission denied (publickey)."
        );
    }

    #[test]
    fn only_whole_lines_are_shown_and_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "debug1: one\ndebug1: tw").unwrap();
        let t = LogTail::new("h", &path, Arc::default());
        t.show();
        assert_eq!(*t.shown.lock().unwrap(), "debug1: one\n".len() as u64);
        std::fs::write(&path, "debug1: one\ndebug1: two\n").unwrap();
        t.show();
        assert_eq!(
            *t.shown.lock().unwrap(),
            "debug1: one\ndebug1: two\n".len() as u64
        );
    }
}
