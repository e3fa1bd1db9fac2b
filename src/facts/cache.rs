//! What a host's facts command printed last time, kept on the controller. Never used as facts:
//! facts are always gathered afresh. It only predicts which read-only queries the tasks ahead
//! will ask (they depend on facts, e.g. the OS family picks `apache2` or `httpd`), so that they
//! ride in the same round trip as the facts. A wrong prediction costs nothing but an unused
//! answer: answers are looked up by their exact command, and a task whose query was not
//! predicted asks it itself.
//!
//! `$XDG_CACHE_HOME/lvslab/facts/` (else `~/.cache/lvslab/facts/`), one file per host and
//! address, mode 0600. `LVSLAB_FACTS_CACHE=0` turns it off.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn dir() -> Option<PathBuf> {
    if std::env::var("LVSLAB_FACTS_CACHE").as_deref() == Ok("0") {
        return None;
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("lvslab").join("facts"))
}

/// One file per host name and how it is reached (two inventories may reuse a name).
fn file(host: &str, reached_as: &str) -> Option<PathBuf> {
    let mut h = Sha256::new();
    h.update(host.as_bytes());
    h.update([0]);
    h.update(reached_as.as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let safe: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    Some(dir()?.join(format!("{safe}-{hex}")))
}

/// The facts output of the host's last run, if any.
pub(crate) fn load(host: &str, reached_as: &str) -> Option<String> {
    std::fs::read_to_string(file(host, reached_as)?).ok()
}

/// Keep this run's facts output for the next run (best effort: a read-only home is no error).
pub(crate) fn store(host: &str, reached_as: &str, out: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let Some(path) = file(host, reached_as) else {
        return;
    };
    let Some(parent) = path.parent() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(out.as_bytes()));
    if written.is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
}
