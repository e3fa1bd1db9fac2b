//! Why a connection failed, in words an operator can act on: ssh's own (the error chain, the
//! master's log) and, for a host key problem, which key was offered and the way out.

use std::time::Duration;

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
