//! Host key failures, explained. ssh's own words ("Host key verification failed.") say neither
//! which key was offered nor what to do; an operator facing an unknown or changed key needs the
//! host, what happened, the fingerprint to compare and the exact way out. Unknown keys are only
//! ever recorded on request (`--accept-new-host-keys`, ssh's `accept-new`); a changed key is
//! refused whatever the flags.

/// What went wrong with the host key, from ssh's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKeyProblem {
    /// No key for this host in the known_hosts file.
    Unknown { key_type: Option<String> },
    /// The host offered a key other than the recorded one.
    Changed {
        key_type: Option<String>,
        fingerprint: Option<String>,
        /// `FILE:LINE` of the recorded key.
        offending: Option<String>,
    },
}

/// Recognise a host key failure in ssh's output.
pub(crate) fn classify(log: &str) -> Option<HostKeyProblem> {
    if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") || log.contains("has changed and you")
    {
        let mut lines = log.lines();
        let mut fingerprint = None;
        let mut key_type = None;
        while let Some(l) = lines.next() {
            if let Some(rest) = l.trim().strip_prefix("The fingerprint for the ") {
                key_type = rest.split_whitespace().next().map(str::to_string);
                fingerprint = lines
                    .next()
                    .map(|f| f.trim().trim_end_matches('.').to_string());
                break;
            }
        }
        let offending = log.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("Offending ")?;
            rest.split_once(" key in ")
                .map(|(_, f)| f.trim().to_string())
        });
        return Some(HostKeyProblem::Changed {
            key_type,
            fingerprint,
            offending,
        });
    }
    if log.contains("Host key verification failed") {
        let key_type = log.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("No ")?;
            rest.split_once(" host key is known")
                .map(|(t, _)| t.to_string())
        });
        return Some(HostKeyProblem::Unknown { key_type });
    }
    None
}

/// The fingerprint in ssh's debug output (`debug1: Server host key: ssh-ed25519 SHA256:...`).
pub(crate) fn offered_fingerprint(debug_log: &str) -> Option<(String, String)> {
    debug_log.lines().find_map(|l| {
        let rest = l.split_once("Server host key: ")?.1;
        let mut w = rest.split_whitespace();
        Some((w.next()?.to_string(), w.next()?.to_string()))
    })
}

/// `[addr]:port` as ssh writes it in known_hosts (plain `addr` on port 22).
pub(crate) fn known_hosts_name(address: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if p != 22 => format!("[{address}]:{p}"),
        _ => address.to_string(),
    }
}

/// The message for the operator: what happened, the fingerprint, how to fix it.
pub(crate) fn explain(
    problem: &HostKeyProblem,
    host: &str,
    known_hosts: &str,
    offered: Option<(String, String)>,
    accept_new: bool,
) -> String {
    match problem {
        HostKeyProblem::Unknown { key_type } => {
            let key = match (&offered, key_type) {
                (Some((t, fp)), _) => format!("an {t} key {fp}"),
                (None, Some(t)) => format!("an {t} key"),
                (None, None) => "a key".to_string(),
            };
            format!(
                "host key verification failed: {host} offered {key}, which is not in {known_hosts}\n  \
                 fix: compare that fingerprint with the host's own (on the host: \
                 `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`); if it matches, rerun with \
                 --accept-new-host-keys to record it, or add the key to {known_hosts}"
            )
        }
        HostKeyProblem::Changed {
            key_type,
            fingerprint,
            offending,
        } => {
            let now = match (
                key_type,
                fingerprint.as_ref().or(offered.as_ref().map(|o| &o.1)),
            ) {
                (Some(t), Some(fp)) => format!(" (it now offers an {t} key {fp})"),
                (None, Some(fp)) => format!(" (it now offers {fp})"),
                _ => String::new(),
            };
            let recorded = offending
                .as_deref()
                .map(|o| format!(", recorded at {o}"))
                .unwrap_or_default();
            let flag = if accept_new {
                "; --accept-new-host-keys never replaces a recorded key"
            } else {
                ""
            };
            format!(
                "host key verification failed: the host key of {host} has CHANGED{now}; it differs \
                 from the key in {known_hosts}{recorded}. Someone may be intercepting the \
                 connection, or the host was reinstalled. Refused{flag}\n  \
                 fix: if the change is expected, remove the old key with \
                 `ssh-keygen -f {known_hosts} -R '{host}'`, then rerun with --accept-new-host-keys"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGED: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
The fingerprint for the ED25519 key sent by the remote host is
SHA256:23zHrqqauWzk6Hyfh2w8GAzcxR1lxhBcIqeDMvrjYzg.
Please contact your system administrator.
Add correct host key in /tmp/hk/kh to get rid of this message.
Offending ED25519 key in /tmp/hk/kh:1
  remove with:
  ssh-keygen -f \"/tmp/hk/kh\" -R \"[127.0.0.1]:42222\"
Host key for [127.0.0.1]:42222 has changed and you have requested strict checking.
Host key verification failed.";

    #[test]
    fn changed_key_with_fingerprint_and_offending_line() {
        assert_eq!(
            classify(CHANGED),
            Some(HostKeyProblem::Changed {
                key_type: Some("ED25519".into()),
                fingerprint: Some("SHA256:23zHrqqauWzk6Hyfh2w8GAzcxR1lxhBcIqeDMvrjYzg".into()),
                offending: Some("/tmp/hk/kh:1".into()),
            })
        );
    }

    #[test]
    fn unknown_key_and_other_failures() {
        let unknown = "No ED25519 host key is known for [127.0.0.1]:42222 and you have requested strict checking.\nHost key verification failed.";
        assert_eq!(
            classify(unknown),
            Some(HostKeyProblem::Unknown {
                key_type: Some("ED25519".into())
            })
        );
        assert_eq!(
            classify("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            None
        );
        assert_eq!(
            offered_fingerprint(
                "debug1: kex: x\ndebug1: Server host key: ssh-ed25519 SHA256:abc\n"
            ),
            Some(("ssh-ed25519".into(), "SHA256:abc".into()))
        );
        assert_eq!(known_hosts_name("10.0.0.1", Some(22)), "10.0.0.1");
        assert_eq!(known_hosts_name("10.0.0.1", Some(2222)), "[10.0.0.1]:2222");
    }
}
