//! Password logins (`ansible_password`, `-k`) through ssh's own askpass mechanism: no sshpass,
//! no password on a command line or in an environment. The master ssh is started with
//! `SSH_ASKPASS_REQUIRE=force` and `SSH_ASKPASS` = this very binary; ssh runs it with its
//! prompt as the only argument, and it answers with the password it reads from a 0600 file in
//! a 0700 directory of this run, named by `LVSLAB_ASKPASS_FILE` (ssh closes every inherited
//! descriptor, so a pipe cannot carry it). The file is removed as soon as the master is
//! connected or has failed. ssh asks once (`NumberOfPasswordPrompts=1`): a wrong password is
//! refused at once, never retried.

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// Make `c` (a master ssh) log in with `password`: write it to a 0600 file in `dir` (the
/// master's own 0700 directory) and point ssh's askpass at this binary. Returns the file,
/// which the caller removes as soon as the master is connected or has failed.
pub(super) fn prepare(
    c: &mut tokio::process::Command,
    dir: &Path,
    password: &Secret,
) -> std::io::Result<PathBuf> {
    let pw_file = dir.join("pw");
    write_private(&pw_file, password.expose().as_bytes())?;
    let exe = std::env::current_exe()?;
    c.env("SSH_ASKPASS", exe)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env(FILE_VAR, &pw_file);
    Ok(pw_file)
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
