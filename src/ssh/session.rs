//! The ssh transport: one ControlMaster per host (openssh crate, native mux: each command is a
//! new channel on the master's socket, no ssh process per command), host keys checked against
//! a known_hosts file with `StrictHostKeyChecking=yes`, and the lab's ProxyCommand when the
//! inventory's embedded lab is up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;

use super::{host_key, BoxFuture, Output, Transport, TransportError};

/// How to reach one host (from its inventory variables and the lab route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshParams {
    pub(crate) address: String,
    pub(crate) port: Option<u16>,
    pub(crate) user: Option<String>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) known_hosts: Option<PathBuf>,
    pub(crate) proxy_command: Option<String>,
    /// Further ssh_config options (`ansible_ssh_common_args: -o Key=Value`).
    pub(crate) options: Vec<(String, String)>,
    /// Record the key of a host not yet known (`accept-new`); a changed key is still refused.
    pub(crate) accept_new_host_keys: bool,
}

/// Opens ssh connections for one run; owns the directory holding the control sockets.
pub(crate) struct Connector {
    dir: tempfile::TempDir,
    /// Tags every remote command of this run (`$0` of its shell) so Ctrl-C can find and end them.
    marker: String,
}

impl Connector {
    pub(crate) fn new() -> Result<Connector, TransportError> {
        // Short path: unix socket paths are limited to ~108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("lvslab-")
            .tempdir_in(std::env::temp_dir())
            .map_err(|e| TransportError(format!("cannot create control directory: {e}")))?;
        let id: String = dir
            .path()
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_start_matches("lvslab-")
                    .to_string()
            })
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        Ok(Connector {
            dir,
            marker: format!("lvslab-run-{}-{id}", std::process::id()),
        })
    }

    fn config_for(&self, name: &str, p: &SshParams) -> Result<Option<PathBuf>, TransportError> {
        // ProxyCommand and the key exchange have no SessionBuilder setter: a generated config
        // file carries them, then includes the user's and the system's files (for everything
        // else; the first value ssh reads for an option wins).
        let path = self.dir.path().join(format!("config-{name}"));
        let mut text = String::from("Host *\n");
        if let Some(proxy) = &p.proxy_command {
            text.push_str(&format!("  ProxyCommand {proxy}\n"));
        }
        for (k, v) in &p.options {
            text.push_str(&format!("  {k} {v}\n"));
        }
        if !p
            .options
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("KexAlgorithms"))
        {
            text.push_str(&format!("  KexAlgorithms {KEX}\n"));
        }
        text.push_str("  Include ~/.ssh/config\n  Include /etc/ssh/ssh_config\n");
        std::fs::write(&path, text)
            .map_err(|e| TransportError(format!("cannot write ssh config: {e}")))?;
        Ok(Some(path))
    }

    /// Open the master connection to one host.
    pub(crate) async fn connect(
        &self,
        name: &str,
        p: &SshParams,
    ) -> Result<Box<dyn Transport>, TransportError> {
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if p.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .control_directory(self.dir.path())
        .connect_timeout(Duration::from_secs(10))
        // A node that dies mid-run (no RST, no FIN) is given up after 3 unanswered
        // keepalives, ~15 s, and reported unreachable; the other hosts go on.
        .server_alive_interval(Duration::from_secs(5));
        if let Some(port) = p.port {
            b.port(port);
        }
        if let Some(user) = &p.user {
            b.user(user.clone());
        }
        if let Some(key) = &p.key {
            b.keyfile(key);
        }
        if let Some(kh) = &p.known_hosts {
            b.user_known_hosts_file(kh);
        }
        let cfg = self.config_for(name, p)?;
        if let Some(cfg) = &cfg {
            b.config_file(cfg);
        }
        let session = match b.connect_mux(&p.address).await {
            Ok(s) => s,
            Err(e) => {
                let reason = ssh_reason(&e);
                return Err(TransportError(match host_key::classify(&reason) {
                    Some(problem) => {
                        let offered = offered_key(p, cfg.as_deref()).await;
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
                }));
            }
        };
        Ok(Box::new(Ssh {
            session: Mutex::new(Some(Arc::new(session))),
            marker: self.marker.clone(),
            host: name.to_string(),
        }))
    }
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
fn ssh_reason(e: &openssh::Error) -> String {
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

/// Key exchange preference: X25519 first. OpenSSH 9's default, the post-quantum hybrid
/// sntrup761x25519, costs several milliseconds of CPU per connection on each side, which made
/// connecting most of a 100-host run here (bench/compare); X25519 is what paramiko (pyinfra)
/// negotiates. The hybrid stays in the list; to require it, set
/// `ansible_ssh_common_args: -o KexAlgorithms=sntrup761x25519-sha512@openssh.com`.
const KEX: &str =
    "curve25519-sha256,curve25519-sha256@libssh.org,sntrup761x25519-sha512@openssh.com,\
ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group16-sha512,\
diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";

struct Ssh {
    /// Shared with commands in flight; taken (and closed) by `close`.
    session: Mutex<Option<Arc<Session>>>,
    marker: String,
    host: String,
}

impl Ssh {
    fn session(&self) -> Option<Arc<Session>> {
        self.session.lock().ok().and_then(|g| g.clone())
    }
}

impl Transport for Ssh {
    fn exec<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            let session = self
                .session()
                .ok_or_else(|| TransportError("connection closed".into()))?;
            // Always POSIX sh (whatever the login shell), tagged with the run's marker as $0;
            // `exec` keeps it the session's process-group leader, so Ctrl-C can end the group.
            let started = std::time::Instant::now();
            let line = format!("exec sh -c {} {}", super::quote(cmd), self.marker);
            let mut c = session.raw_command(&line);
            c.stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let mut child = c
                .spawn()
                .await
                .map_err(|e| TransportError(ssh_reason(&e)))?;
            if let (Some(data), Some(mut w)) = (stdin, child.stdin().take()) {
                // A command that exits before reading its input is not a connection failure:
                // its exit status and stderr below tell what happened.
                let _ = w.write_all(data).await;
                let _ = w.shutdown().await;
                drop(w);
            }
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| TransportError(ssh_reason(&e)))?;
            super::trace(&self.host, cmd, started);
            Ok(Output {
                status: out.status.code(),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        })
    }

    fn interrupt(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(session) = self.session() else {
                return;
            };
            // `[-]` keeps this command's own command line from matching its pattern.
            let (head, tail) = self.marker.split_at("lvslab-run".len());
            let pattern = format!("{head}[{}]{}", &tail[..1], &tail[1..]);
            let script = format!(
                "for p in $(pgrep -f {pat}); do g=$(ps -o pgid= -p \"$p\" | tr -d ' '); kill -TERM -- \"-$g\" 2>/dev/null || kill -TERM \"$p\" 2>/dev/null; done; true",
                pat = super::quote(&pattern)
            );
            let run = async {
                let _ = session.raw_command(&script).output().await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let taken = self.session.lock().ok().and_then(|mut g| g.take());
        Box::pin(async move {
            let Some(arc) = taken else { return };
            match Arc::try_unwrap(arc) {
                Ok(session) => {
                    let _ = session.close().await;
                }
                Err(arc) => {
                    // A command is still holding the session: stop the master directly.
                    let socket = arc.control_socket().to_path_buf();
                    let _ = tokio::process::Command::new("ssh")
                        .arg("-S")
                        .arg(&socket)
                        .args(["-O", "exit", "lvslab"])
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .status()
                        .await;
                    // `-O exit` only asks; the master removes its socket as it exits. Wait for
                    // that (briefly), so no master outlives the run (after Ctrl-C, SIGTERM).
                    for _ in 0..40 {
                        if !socket.exists() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        })
    }
}
