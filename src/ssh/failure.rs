//! Why a connection failed, in words an operator can act on: ssh's own (the error chain, the
//! master's log) and, for a host key problem, which key was offered and the way out.

use std::path::Path;
use std::time::Duration;

use super::debug_log::LogTail;
use super::{host_key, SshParams, TransportError};

/// The error for a master that did not connect: ssh's own words, or for a host key problem
/// what happened and the way out.
pub(super) async fn explain(
    p: &SshParams,
    cfg: &std::path::Path,
    reason: String,
) -> TransportError {
    TransportError(match host_key::classify(&reason) {
        Some(problem) => {
            let offered = offered_key(p, Some(cfg)).await;
            let known = p
                .known_hosts
                .as_ref()
                .map(|k| k.display().to_string())
                .unwrap_or_else(|| "~/.ssh/known_hosts".into());
            host_key::explain(
                &problem,
                &host_key::known_hosts_name(&p.address, p.port),
                &known,
                offered,
                p.accept_new_host_keys,
            )
        }
        None => reason,
    })
}

/// The type and fingerprint of the key the host offers, for a host key error: one more ssh
/// attempt that trusts no key at all (so it stops right after the key exchange, before
/// authenticating) with ssh's debug log, which names the key it was shown.
async fn offered_key(p: &SshParams, config: Option<&std::path::Path>) -> Option<(String, String)> {
    let mut c = tokio::process::Command::new("ssh");
    c.args(["-o", "LogLevel=DEBUG1", "-o", "BatchMode=yes"])
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "GlobalKnownHostsFile=/dev/null"]);
    if let Some(cfg) = config {
        c.arg("-F").arg(cfg);
    }
    if let Some(port) = p.port {
        c.arg("-p").arg(port.to_string());
    }
    if let Some(user) = &p.user {
        c.arg("-l").arg(user);
    }
    c.arg("--").arg(&p.address).arg("true");
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(15), c.output())
        .await
        .ok()?
        .ok()?;
    host_key::offered_fingerprint(&String::from_utf8_lossy(&out.stderr))
}

/// ssh's own words for a failure (the source chain of openssh's error).
pub(super) fn ssh_reason(e: &openssh::Error) -> String {
    use std::error::Error as _;
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The last of what a master logged besides debug lines (at most three lines): why it ended,
/// when a connection drops under a command ("Timeout, server … not responding.", "Connection
/// … closed by remote host.").
pub(super) fn master_said(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let said = LogTail::without_debug(&text);
    let lines: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let last = lines[lines.len().saturating_sub(3)..].join(" ");
    (!last.is_empty()).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_master_says_why_in_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, "").unwrap();
        assert_eq!(master_said(&log), None);
        std::fs::write(
            &log,
            "Warning: Permanently added '10.0.0.1' (ED25519) to the list of known hosts.\n\
             debug1: client_input_channel_req: channel 0\n\
             Timeout, server 10.0.0.1 not responding.\n",
        )
        .unwrap();
        let said = master_said(&log).unwrap();
        assert!(
            said.ends_with("Timeout, server 10.0.0.1 not responding."),
            "{said}"
        );
        assert!(!said.contains("debug1"), "{said}");
        assert_eq!(master_said(&dir.path().join("missing")), None);
    }
}
