//! One run at a time per inventory: `setup`, `teardown`, `run`, `verify --failover` and `demo`
//! change the nodes, and two of them interleaved on the same nodes would leave a state neither
//! asked for. Each takes an exclusive `flock` on a file keyed by the inventory's canonical path
//! (in `$XDG_RUNTIME_DIR/lvslab`, else `/run/lvslab` as root, else the temp directory), and
//! writes its pid and command there so a refused run can name the holder. The kernel drops the
//! lock when the holder exits, however it exits: no stale locks.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another lvslab run is working on {inventory}: {holder}; wait for it to finish (lock file {path})"
    )]
    Busy {
        inventory: String,
        holder: String,
        path: String,
    },
    #[error("cannot lock {path}: {err}")]
    Io { path: String, err: std::io::Error },
}

/// Held for the whole run; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("lvslab");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/run/lvslab");
    }
    std::env::temp_dir().join(format!("lvslab-{}", unsafe { libc::geteuid() }))
}

/// The lock file of an inventory (already canonical).
pub fn path_for(canonical: &Path) -> PathBuf {
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let stem = canonical
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir().join(format!("{stem}-{hex}.lock"))
}

/// Take the inventory's lock for `command`, or say who holds it. An inventory that does not
/// exist needs no lock: loading it fails next, with the usual message.
pub fn acquire(inventory: &Path, command: &str) -> Result<Option<RunLock>, LockError> {
    let Ok(canonical) = inventory.canonicalize() else {
        return Ok(None);
    };
    let path = path_for(&canonical);
    let io = |err| LockError::Io {
        path: path.display().to_string(),
        err,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io(err));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(LockError::Busy {
            inventory: canonical.display().to_string(),
            holder: if holder.is_empty() {
                "a run that has not said who it is yet".into()
            } else {
                holder.to_string()
            },
            path: path.display().to_string(),
        });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "pid {} (lvslab {command})", std::process::id()).map_err(io)?;
    Ok(Some(RunLock { _file: file }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_holder_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let inv = d.path().join("inv.yml");
        std::fs::write(&inv, "all: {}\n").unwrap();
        let first = acquire(&inv, "setup").unwrap().expect("locked");
        let err = acquire(&inv, "teardown").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {} (lvslab setup)", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("another lvslab run is working on"), "{msg}");
        drop(first);
        // Another test thread forking at that moment holds a copy of the descriptor (and so
        // the lock) until its child execs: wait for that, briefly.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let again = loop {
            match acquire(&inv, "teardown") {
                Ok(l) => break l,
                Err(_) if std::time::Instant::now() < until => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => panic!("released on drop: {e}"),
            }
        };
        assert!(again.is_some());
        assert!(acquire(&d.path().join("missing.yml"), "setup")
            .unwrap()
            .is_none());
    }
}
