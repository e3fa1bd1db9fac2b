//! Password logins (`ansible_password`, `-k`) through ssh's own askpass mechanism: no sshpass,
//! no password on a command line or in an environment. The master ssh is started with
//! `SSH_ASKPASS_REQUIRE=force` and `SSH_ASKPASS` = this very binary; ssh runs it with its
//! prompt as the only argument, and it answers with the password it reads from a 0600 file in
//! a 0700 directory of this run, named by `LVSLAB_ASKPASS_FILE` (ssh closes every inherited
//! descriptor, so a pipe cannot carry it). The file is removed as soon as the master is
//! connected or has failed. ssh asks once (`NumberOfPasswordPrompts=1`): a wrong password is
//! refused at once, never retried.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use openssh::Session;

use super::{SshParams, TransportError};
use crate::secret::Secret;

/// Where the askpass helper finds the password.
const FILE_VAR: &str = "LVSLAB_ASKPASS_FILE";

/// When this process was started by ssh as its askpass helper: answer a password prompt from
/// the file and return the exit status. Anything else (ssh asking to confirm something, a
/// passphrase, the lab's proxy command inheriting the variable) is not answered here.
pub fn answer_if_asked() -> Option<u8> {
    let file = std::env::var_os(FILE_VAR)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [prompt] = args.as_slice() else {
        return None;
    };
    if prompt.starts_with('-') || !prompt.to_ascii_lowercase().contains("password") {
        return None;
    }
    let Ok(pw) = std::fs::read(file) else {
        return Some(1);
    };
    let mut out = std::io::stdout();
    let ok = out
        .write_all(&pw)
        .and_then(|()| out.write_all(b"\n"))
        .is_ok();
    Some(if ok { 0 } else { 1 })
}

/// Start the master for `p` (password login) in a new directory under `control_dir`, and
/// attach to it.
pub(super) async fn launch(
    p: &SshParams,
    password: &Secret,
    cfg: &Path,
    control_dir: &Path,
    idle: Option<std::num::NonZeroUsize>,
) -> Result<Session, TransportError> {
    let err = |what: &str, e: std::io::Error| TransportError(format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix(".ssh-connection")
        .tempdir_in(control_dir)
        .map_err(|e| err("cannot create control directory", e))?;
    let (socket, log, pw_file) = (
        dir.path().join("master"),
        dir.path().join("log"),
        dir.path().join("pw"),
    );
    write_private(&pw_file, password.expose().as_bytes())
        .map_err(|e| err("cannot write the askpass file", e))?;
    let exe = std::env::current_exe().map_err(|e| err("cannot find lvslab's own path", e))?;
    let mut c = tokio::process::Command::new("ssh");
    c.arg("-E").arg(&log).arg("-S").arg(&socket);
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
    c.args(["-o", "NumberOfPasswordPrompts=1"]);
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
    c.env("SSH_ASKPASS", exe)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env(FILE_VAR, &pw_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(60), c.status()).await;
    let _ = std::fs::remove_file(&pw_file);
    let failed = |reason: String| async { Err(super::session::explain(p, cfg, reason).await) };
    match status {
        Ok(Ok(s)) if s.success() => {}
        Ok(Ok(_)) => {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let mut reason = text.trim().to_string();
            if reason.contains("Permission denied") {
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
    // The directory stays with the master (its socket); the caller moves the socket to its
    // persisted name or removes the directory with the run's own.
    let kept = dir.keep();
    Ok(Session::resume_mux(
        kept.join("master").into_boxed_path(),
        None,
    ))
}

/// Create `path` readable and writable by this user only, and write `data`.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}
