//! ssh to lab nodes the way the engine does: through `lvslab lab proxy` (into the lab's network
//! namespace), checking host keys against the lab's known_hosts, with the lab's key.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::keys::LabPaths;
use super::topology::{Node, Topology};
use super::LabError;

fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// ssh's `ProxyCommand` for nodes of the lab of `inventory` (absolute paths; `%h %p` left to ssh).
pub fn proxy_command(inventory: &Path) -> String {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or_else(|| "lvslab".into());
    let inv = std::path::absolute(inventory).unwrap_or_else(|_| inventory.to_path_buf());
    format!(
        "{} -i {} lab proxy %h %p",
        sh_quote(&exe.display().to_string()),
        sh_quote(&inv.display().to_string())
    )
}

/// The part of `proxy_command` that names the lab (its inventory), as it appears in the ssh
/// config of every connection the engine makes to the lab's nodes.
pub fn proxy_needle(inventory: &Path) -> String {
    let inv = std::path::absolute(inventory).unwrap_or_else(|_| inventory.to_path_buf());
    format!(" -i {} lab proxy ", sh_quote(&inv.display().to_string()))
}

/// End the connections that earlier runs left open to this lab's nodes (they would outlive a
/// node that went away by up to the keepalive timeout, and a run in between would wait on
/// them).
pub fn close_persisted(inventory: &Path) {
    crate::ssh::close_persisted(&proxy_needle(inventory));
}

/// An ssh command to `node` (add `--` and the remote command, or nothing for a shell).
pub fn command(topo: &Topology, paths: &LabPaths, node: &Node, connect_timeout: u64) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-F", "none"])
        .arg("-i")
        .arg(paths.identity())
        .args(["-o", "IdentitiesOnly=yes"])
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            paths.known_hosts().display()
        ))
        .args(["-o", "GlobalKnownHostsFile=/dev/null"])
        .args(["-o", "StrictHostKeyChecking=yes"])
        .args(["-o", "LogLevel=ERROR"])
        .arg("-o")
        .arg(format!("ConnectTimeout={connect_timeout}"))
        .arg("-o")
        .arg(format!("ProxyCommand={}", proxy_command(&topo.inventory)))
        .arg("-p")
        .arg(node.port.to_string())
        .arg("-l")
        .arg(&node.user)
        .arg(node.address.to_string());
    c
}

/// Run one command on a node in batch mode; returns (exit status ok, stdout).
pub fn run(
    topo: &Topology,
    paths: &LabPaths,
    node: &Node,
    remote: &str,
    timeout: Duration,
) -> Result<(bool, String, String), LabError> {
    let mut c = command(topo, paths, node, timeout.as_secs().max(1));
    // The lab's own commands need root: on a node reached as its lab_user, through sudo
    // (the password, when sudo asks one, on stdin).
    let (remote, input) = match (&node.login.lab_user, node.login.password_line()) {
        (Some(u), pw) if *u == node.user && node.login.sudo_asks => (
            format!("sudo -S -p '' sh -c {}", crate::quote::quote(remote)),
            pw,
        ),
        (Some(u), _) if *u == node.user => (
            format!("sudo -n sh -c {}", crate::quote::quote(remote)),
            None,
        ),
        _ => (remote.to_string(), None),
    };
    c.args(["-o", "BatchMode=yes", "--", &remote])
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawn_err = |e: std::io::Error| LabError::Vm(format!("cannot run ssh: {e}"));
    let mut child = c.spawn().map_err(spawn_err)?;
    if let (Some(line), Some(mut w)) = (input, child.stdin.take()) {
        use std::io::Write;
        let _ = w.write_all(line.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_command_quotes_paths() {
        let p = proxy_command(Path::new("/tmp/my inv.yml"));
        assert!(p.contains("-i '/tmp/my inv.yml' lab proxy %h %p"), "{p}");
        assert!(
            p.contains(&proxy_needle(Path::new("/tmp/my inv.yml"))),
            "{p}"
        );
        assert_eq!(sh_quote("/a/b.yml"), "/a/b.yml");
    }
}
