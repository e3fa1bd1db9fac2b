//! The ssh transport: one ControlMaster per host (openssh crate, native mux: each command is a
//! new channel on the master's socket, no ssh process per command), host keys checked against
//! a known_hosts file with `StrictHostKeyChecking=yes`, and the lab's ProxyCommand when the
//! inventory's embedded lab is up.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;

use super::debug_log::LogTail;
use super::{failure, BoxFuture, Output, Transport, TransportError};
use crate::secret::Redactor;

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
    /// Log in with this password (`ansible_password`, `-k`) through ssh's askpass.
    pub(crate) password: Option<crate::secret::Secret>,
}

/// Opens ssh connections for one run; owns the directory holding the control sockets.
pub(crate) struct Connector {
    dir: tempfile::TempDir,
    /// Tags every remote command of this run (`$0` of its shell) so Ctrl-C can find and end them.
    marker: String,
    /// Where connections outlive the run, when they may (`LVSLAB_CONTROL_PERSIST`).
    persist: Option<Persist>,
    /// ssh's own debug level (`-vvv` and up), its log shown on stderr.
    debug: u8,
    /// What ssh's debug log and the command trace are masked with.
    secrets: Arc<Redactor>,
}

/// Connections that outlive their run, as Ansible's `ControlPersist=60s` does: the next run
/// with the same connection parameters within `idle` seconds skips the handshake (on the lab
/// here 0.6-0.8 s for four nodes, a third of a run with nothing to change). Each master's
/// socket is `DIR/KEY`, its ssh config `DIR/config-KEY`, KEY a hash of everything that
/// decides how the host is reached (address, port, user, key, known_hosts file, host-key
/// policy, proxy, options), so a master is only reused for exactly the connection it made
/// (its host key was checked then). A run that is interrupted, or whose host failed at the
/// transport, closes the master instead; `lab down` closes those that reach its lab.
#[derive(Debug, Clone)]
struct Persist {
    dir: PathBuf,
    idle: std::num::NonZeroUsize,
}

impl Persist {
    /// `LVSLAB_CONTROL_PERSIST` seconds (default 60; `0` turns it off). The directory,
    /// `$TMPDIR/lvslab-cm-UID`, must be this user's own, mode 0700, not a link: otherwise no
    /// connection persists.
    fn from_env() -> Option<Persist> {
        let secs: usize = match std::env::var("LVSLAB_CONTROL_PERSIST") {
            Ok(v) => v.trim().parse().ok()?,
            Err(_) => 60,
        };
        let idle = std::num::NonZeroUsize::new(secs)?;
        Some(Persist {
            dir: Persist::own_dir()?,
            idle,
        })
    }

    /// The directory, if it is this user's alone (created if missing).
    fn own_dir() -> Option<PathBuf> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let dir = std::env::temp_dir().join(format!("lvslab-cm-{uid}"));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return None,
        }
        let md = std::fs::symlink_metadata(&dir).ok()?;
        (md.is_dir() && md.uid() == uid && md.mode() & 0o077 == 0).then_some(dir)
    }

    /// Remove what masters that are gone left behind (a master that loses its connection
    /// exits without removing its socket): a socket nobody listens on (sockets get their name
    /// here only once listening), a config without a socket. A connect to a unix socket
    /// answers at once either way.
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(key) = name.strip_prefix("log-") {
                // Its master is gone once its socket is.
                if !self.dir.join(key).exists() {
                    let _ = std::fs::remove_file(e.path());
                }
            } else if let Some(key) = name.strip_prefix("config-") {
                // Written before its master connects: only an old one is an orphan.
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(120));
                if old && !self.dir.join(key).exists() {
                    let _ = std::fs::remove_file(e.path());
                }
            } else if !name.starts_with('.') {
                let gone = matches!(
                    std::os::unix::net::UnixStream::connect(e.path()),
                    Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused
                );
                if gone {
                    let _ = std::fs::remove_file(e.path());
                    let _ = std::fs::remove_file(self.config(&name));
                }
            }
        }
    }

    fn socket(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    fn config(&self, key: &str) -> PathBuf {
        self.dir.join(format!("config-{key}"))
    }

    fn log(&self, key: &str) -> PathBuf {
        self.dir.join(format!("log-{key}"))
    }
}

/// End the persisted masters whose ssh config contains `needle` (a lab's proxy command names
/// its inventory), and remove their files.
pub(crate) fn close_persisted(needle: &str) {
    let Some(dir) = Persist::own_dir() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_prefix("config-") else {
            continue;
        };
        if !std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(needle)) {
            continue;
        }
        let socket = dir.join(key);
        if socket.exists() {
            let _ = exit_master(&socket).status();
        }
        let _ = std::fs::remove_file(&socket);
        let _ = std::fs::remove_file(e.path());
        let _ = std::fs::remove_file(dir.join(format!("log-{key}")));
    }
}

/// `ssh -O exit` for the master listening on `socket` (it only asks: the master goes as soon
/// as it can).
fn exit_master(socket: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new("ssh");
    c.arg("-S")
        .arg(socket)
        .args(["-O", "exit", "lvslab"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// Where a new master logs: `log` beside its socket, in the directory made for it (the crate's
/// masters and ours alike).
fn log_beside(socket: &std::path::Path) -> Option<PathBuf> {
    socket.parent().map(|d| d.join("log"))
}

/// A stable name for one way of reaching a host (FNV-1a of its parameters: the same on every
/// run and every build, unlike std's hasher).
fn connection_key(p: &SshParams, config: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    for b in format!("{uid}\n{p:?}\n{config}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
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
        let debug = super::debug_log::level();
        Ok(Connector {
            dir,
            marker: format!("lvslab-run-{}-{id}", std::process::id()),
            // With ssh's debug output on, every run opens its own connections: a master left
            // by an earlier run would show nothing of how the host was reached.
            persist: Persist::from_env()
                .filter(|_| debug == 0)
                .inspect(Persist::sweep),
            debug,
            secrets: Arc::default(),
        })
    }

    /// Mask `secrets` in what the connections show (ssh's debug log, the command trace).
    pub(crate) fn masking(self, secrets: Redactor) -> Connector {
        let secrets = Arc::new(secrets);
        Connector { secrets, ..self }
    }

    /// The ssh config for a host: ProxyCommand and the key exchange have no SessionBuilder
    /// setter, so a generated file carries them, then includes the user's and the system's
    /// files (for everything else; the first value ssh reads for an option wins).
    fn config_text(p: &SshParams) -> String {
        let mut text = String::from("Host *\n");
        if let Some(proxy) = &p.proxy_command {
            text.push_str(&format!("  ProxyCommand {proxy}\n"));
        }
        for (k, v) in &p.options {
            text.push_str(&format!("  {k} {v}\n"));
        }
        let set = |name: &str| p.options.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if !set("KexAlgorithms") {
            text.push_str(&format!("  KexAlgorithms {KEX}\n"));
        }
        if !set("ServerAliveCountMax") {
            text.push_str(&format!("  ServerAliveCountMax {ALIVE_COUNT_MAX}\n"));
        }
        text.push_str("  Include ~/.ssh/config\n  Include /etc/ssh/ssh_config\n");
        text
    }

    /// Open the master connection to one host, or take over the one a recent run left open
    /// for exactly these parameters.
    pub(crate) async fn connect(
        &self,
        name: &str,
        p: &SshParams,
    ) -> Result<Box<dyn Transport>, TransportError> {
        let text = Connector::config_text(p);
        let write = |path: &std::path::Path| {
            std::fs::write(path, &text)
                .map_err(|e| TransportError(format!("cannot write ssh config: {e}")))
        };
        let Some(persist) = &self.persist else {
            let cfg = self.dir.path().join(format!("config-{name}"));
            write(&cfg)?;
            let (session, log) = self.open(name, p, &cfg, self.dir.path(), None).await?;
            let said = log_beside(session.control_socket());
            return Ok(Box::new(self.transport(name, session, None, log, said)));
        };
        let key = connection_key(p, &text);
        let (socket, cfg, said) = (
            persist.socket(&key),
            persist.config(&key),
            persist.log(&key),
        );
        if socket.exists() {
            let session = Session::resume_mux(socket.clone().into_boxed_path(), None);
            if session.check().await.is_ok() {
                let said = said.exists().then_some(said);
                let mut t = self.transport(name, session, Some(cfg), None, said);
                t.resumed = true;
                return Ok(Box::new(t));
            }
            // A master that is gone left its socket: connect afresh.
            let _ = std::fs::remove_file(&socket);
        }
        write(&cfg)?;
        let session = match self
            .open(name, p, &cfg, &persist.dir, Some(persist.idle))
            .await
        {
            // No debug log: persisting is off when it is on.
            Ok((s, _)) => s,
            Err(e) => {
                // No master: its config would only wait for the sweep.
                let _ = std::fs::remove_file(&cfg);
                return Err(e);
            }
        };
        // The crate made the socket in a directory of its own: move it to its stable name (a
        // listening socket keeps working under its new path) and drop that directory.
        // Its log goes along: it holds why the master ended, should it end mid-run.
        let ctl = session.detach().0;
        let old_log = log_beside(&ctl);
        let moved = std::fs::rename(&ctl, &socket).is_ok();
        let said = match &old_log {
            Some(l) if moved && std::fs::rename(l, &said).is_ok() => Some(said),
            _ => old_log.filter(|_| !moved),
        };
        if let Some(d) = ctl.parent().filter(|d| moved && *d != persist.dir) {
            let _ = std::fs::remove_dir_all(d);
        }
        let at = if moved { socket } else { ctl.to_path_buf() };
        let session = Session::resume_mux(at.into_boxed_path(), None);
        Ok(Box::new(self.transport(
            name,
            session,
            Some(cfg),
            None,
            said,
        )))
    }

    fn transport(
        &self,
        name: &str,
        session: Session,
        persisted: Option<PathBuf>,
        log: Option<LogTail>,
        master_log: Option<PathBuf>,
    ) -> Ssh {
        Ssh {
            log,
            master_log,
            session: Mutex::new(Some(Arc::new(session))),
            marker: self.marker.clone(),
            host: name.to_string(),
            persisted,
            broken: std::sync::atomic::AtomicBool::new(false),
            resumed: false,
            secrets: self.secrets.clone(),
        }
    }

    /// A new master connection (`idle`: how long it may outlive the run), and the tail of its
    /// debug log when ssh's debug output is on.
    async fn open(
        &self,
        name: &str,
        p: &SshParams,
        cfg: &std::path::Path,
        control_dir: &std::path::Path,
        idle: Option<std::num::NonZeroUsize>,
    ) -> Result<(Session, Option<LogTail>), TransportError> {
        if p.password.is_some() || self.debug > 0 {
            let (debug, secrets) = (self.debug, &self.secrets);
            return super::master::launch(name, p, cfg, control_dir, idle, debug, secrets).await;
        }
        let mut b = SessionBuilder::default();
        b.known_hosts_check(if p.accept_new_host_keys {
            KnownHosts::Add
        } else {
            KnownHosts::Strict
        })
        .control_directory(control_dir)
        .control_persist(match idle {
            Some(secs) => ControlPersist::IdleFor(secs),
            None => ControlPersist::Forever,
        })
        .connect_timeout(Duration::from_secs(10))
        // A node that dies mid-run (no RST, no FIN) is given up after ALIVE_COUNT_MAX
        // unanswered keepalives and reported unreachable; the other hosts go on.
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
        b.config_file(cfg);
        match b.connect_mux(&p.address).await {
            Ok(s) => Ok((s, None)),
            Err(e) => Err(failure::explain(p, cfg, failure::ssh_reason(&e)).await),
        }
    }
}

/// Keepalives (5 s apart) a master may miss before it gives the host up: 30 s. ssh's default
/// of 3 (15 s) dropped healthy but starved hosts: a small VM busy purging packages, with
/// systemd reloading, answered nothing for longer than that.
const ALIVE_COUNT_MAX: u32 = 6;

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
    /// The master's debug log, shown as it grows (`-vvv`).
    log: Option<LogTail>,
    /// The master's log file: what it says when the connection ends under a command.
    master_log: Option<PathBuf>,
    /// Shared with commands in flight; taken (and closed) by `close`.
    session: Mutex<Option<Arc<Session>>>,
    marker: String,
    host: String,
    /// The ssh config of a master that may outlive the run (`Persist`).
    persisted: Option<PathBuf>,
    /// A command failed at the transport: the master is not worth keeping.
    broken: std::sync::atomic::AtomicBool,
    /// Taken over from an earlier run (see [`Transport::resumed`]).
    resumed: bool,
    secrets: Arc<Redactor>,
}

impl Ssh {
    fn session(&self) -> Option<Arc<Session>> {
        self.session.lock().ok().and_then(|g| g.clone())
    }

    /// A command the connection could not carry: report it, and keep no such master.
    fn failed(&self, e: &openssh::Error) -> TransportError {
        self.broken
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let reason = failure::ssh_reason(e);
        match self.master_log.as_deref().and_then(failure::master_said) {
            Some(said) => TransportError(format!("{reason} (ssh: {said})")),
            None => TransportError(reason),
        }
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
            let started = super::trace_start();
            let line = format!("exec sh -c {} {}", crate::quote::quote(cmd), self.marker);
            let mut c = session.raw_command(&line);
            c.stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let mut child = c.spawn().await.map_err(|e| self.failed(&e))?;
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
                .map_err(|e| self.failed(&e))?;
            super::trace(&self.host, cmd, started, &self.secrets);
            if let Some(log) = &self.log {
                log.show();
            }
            Ok(Output {
                status: out.status.code(),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        })
    }

    fn resumed(&self) -> bool {
        self.resumed
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
                pat = crate::quote::quote(&pattern)
            );
            let run = async {
                let _ = session.raw_command(&script).output().await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
        })
    }

    fn release(&self) -> BoxFuture<'_, ()> {
        let keep =
            self.persisted.is_some() && !self.broken.load(std::sync::atomic::Ordering::Relaxed);
        if !keep {
            return self.close();
        }
        let taken = self.session.lock().ok().and_then(|mut g| g.take());
        Box::pin(async move {
            if let Some(arc) = taken {
                match Arc::try_unwrap(arc) {
                    // The master stays (ControlPersist) for the next run.
                    Ok(session) => drop(session.detach()),
                    Err(arc) => {
                        if let Ok(mut g) = self.session.lock() {
                            *g = Some(arc);
                        }
                        self.close().await;
                    }
                }
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let taken = self.session.lock().ok().and_then(|mut g| g.take());
        Box::pin(async move {
            let Some(arc) = taken else { return };
            let socket = arc.control_socket().to_path_buf();
            match Arc::try_unwrap(arc) {
                Ok(session) => {
                    let _ = session.close().await;
                }
                Err(_) => {
                    // A command is still holding the session: stop the master directly.
                    let _ = tokio::process::Command::from(exit_master(&socket))
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
            if let Some(cfg) = &self.persisted {
                let _ = std::fs::remove_file(cfg);
                let _ = std::fs::remove_file(&socket);
                if let Some(l) = &self.master_log {
                    let _ = std::fs::remove_file(l);
                }
            }
            if let Some(log) = &self.log {
                log.show();
            }
        })
    }
}
