//! Starting a master ssh ourselves, for the two cases the openssh crate's builder cannot
//! serve: a password login (ssh's askpass, see the askpass module) and ssh's own debug log
//! (`-vvv`), whose lines must reach the user's stderr while the crate keeps the log of a
//! failed master only as its error text. The master is the same as the crate's (`-M -f -N`,
//! `-E` log, control socket in a new directory under `control_dir`); the session attaches
//! to it through the crate's native mux.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openssh::Session;

use super::debug_log::LogTail;
use super::{askpass, SshParams, TransportError};
use crate::secret::Redactor;

/// Start the master for `p` (with `p.password`, a password login) and attach to it. `debug`:
/// ssh's own debug level (0 none, 1-3 as `ssh -v`..`-vvv`), its log shown on stderr under
/// `host` and masked with `secrets`; the returned tail shows what the master logs later.
pub(super) async fn launch(
    host: &str,
    p: &SshParams,
    cfg: &Path,
    control_dir: &Path,
    idle: Option<std::num::NonZeroUsize>,
    debug: u8,
    secrets: &Arc<Redactor>,
) -> Result<(Session, Option<LogTail>), TransportError> {
    let err = |what: &str, e: std::io::Error| TransportError(format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix(".ssh-connection")
        .tempdir_in(control_dir)
        .map_err(|e| err("cannot create control directory", e))?;
    let (socket, log) = (dir.path().join("master"), dir.path().join("log"));
    let mut c = command(p, &socket, &log, cfg, idle, debug);
    let pw_file = match &p.password {
        Some(pw) => Some(
            askpass::prepare(&mut c, dir.path(), pw)
                .map_err(|e| err("cannot write the askpass file", e))?,
        ),
        None => None,
    };
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(60), c.status()).await;
    if let Some(f) = &pw_file {
        let _ = std::fs::remove_file(f);
    }
    let tail = (debug > 0).then(|| LogTail::new(host, &log, secrets.clone()));
    if let Some(t) = &tail {
        t.show();
    }
    let failed = |reason: String| async { Err(super::failure::explain(p, cfg, reason).await) };
    match status {
        Ok(Ok(s)) if s.success() => {}
        Ok(Ok(_)) => {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let mut reason = LogTail::without_debug(&text);
            if p.password.is_some() && reason.contains("Permission denied") {
                reason = format!(
                    "{reason} (the password of `ansible_password` / -k was refused, or the \
                     host does not accept password logins)"
                );
            }
            return failed(reason).await;
        }
        Ok(Err(e)) => return Err(err("cannot run ssh", e)),
        Err(_) => return failed("ssh did not connect within 60 s".into()).await,
    }
    // The directory stays with the master (its socket and log); the caller moves the socket to
    // its persisted name or removes the directory with the run's own.
    let kept = dir.keep();
    Ok((
        Session::resume_mux(kept.join("master").into_boxed_path(), None),
        tail,
    ))
}

/// The master's command line: the options the crate's builder gives its own masters.
fn command(
    p: &SshParams,
    socket: &Path,
    log: &Path,
    cfg: &Path,
    idle: Option<std::num::NonZeroUsize>,
    debug: u8,
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("ssh");
    c.arg("-E").arg(log).arg("-S").arg(socket);
    c.args(["-M", "-f", "-N", "-o"]);
    c.arg(match idle {
        Some(secs) => format!("ControlPersist={secs}s"),
        None => "ControlPersist=yes".into(),
    });
    c.arg("-o").arg(if p.accept_new_host_keys {
        "StrictHostKeyChecking=accept-new"
    } else {
        "StrictHostKeyChecking=yes"
    });
    c.args(["-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5"]);
    if p.password.is_some() {
        // ssh asks once: a wrong password is refused at once, never retried.
        c.args(["-o", "NumberOfPasswordPrompts=1"]);
    } else {
        c.args(["-o", "BatchMode=yes"]);
    }
    if debug > 0 {
        c.arg(format!("-{}", "v".repeat(usize::from(debug.min(3)))));
    }
    if let Some(port) = p.port {
        c.arg("-p").arg(port.to_string());
    }
    if let Some(user) = &p.user {
        c.arg("-l").arg(user);
    }
    if let Some(key) = &p.key {
        c.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(key);
    }
    c.arg("-F").arg(cfg);
    if let Some(kh) = &p.known_hosts {
        c.arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()));
    }
    c.arg("--").arg(&p.address);
    c
}
