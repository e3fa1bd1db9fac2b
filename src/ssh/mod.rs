//! How commands reach a host: the [`Transport`] trait, its ssh implementation (openssh with one
//! ControlMaster per host, reused by every task) and a local one (module logic tests, and
//! `ansible_connection: local`). Every remote word goes through the `quote` module's quoting.

mod askpass;
mod debug_log;
mod failure;
mod host_key;
mod local;
mod master;
mod privilege;
mod session;

use std::future::Future;
use std::pin::Pin;

pub use askpass::answer_if_asked;
pub use debug_log::set_verbosity;
pub(crate) use local::Local;
pub(crate) use privilege::{valid_user, Become, Escalated, Method};
pub(crate) use session::{close_persisted, Connector, SshParams};

/// The moment the first remote command started: trace lines count from it.
static TRACE_EPOCH: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// When a remote command starts, for [`trace`].
pub(crate) fn trace_start() -> std::time::Instant {
    std::sync::LazyLock::force(&TRACE_EPOCH);
    std::time::Instant::now()
}

/// `LVSLAB_TRACE=1`: one stderr line per remote command (host; seconds; when it started,
/// counted from the first command; first line, masked with `secrets`), to see where a run's
/// time goes and which commands are on its critical path; `LVSLAB_TRACE=2`: the whole command.
pub(crate) fn trace(
    host: &str,
    cmd: &str,
    started: std::time::Instant,
    secrets: &crate::secret::Redactor,
) {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    let level = *LEVEL.get_or_init(|| {
        std::env::var("LVSLAB_TRACE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    if level == 0 {
        return;
    }
    let shown = if level >= 2 {
        secrets.redact(cmd)
    } else {
        secrets
            .redact(cmd.lines().next().unwrap_or(""))
            .chars()
            .take(90)
            .collect::<String>()
    };
    eprintln!(
        "trace: {host} {:.3}s +{:.3}s {shown}",
        started.elapsed().as_secs_f64(),
        started
            .saturating_duration_since(*TRACE_EPOCH)
            .as_secs_f64()
    );
}

/// A boxed future, for the object-safe async traits of the engine.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a remote command returned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Output {
    /// Exit status; `None` when the command was killed by a signal.
    pub(crate) status: Option<i32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Output {
    pub(crate) fn ok(&self) -> bool {
        self.status == Some(0)
    }
    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub(crate) fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The connection could not carry the command.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub(crate) String);

/// Runs shell command lines on one host.
pub(crate) trait Transport: Send + Sync {
    /// Run `cmd` (a POSIX shell command line, every word already quoted) with optional stdin.
    fn exec<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Output, TransportError>>;

    /// Run `cmd` as the login user, without the escalation this transport may add: for what
    /// needs no privilege (a sudo costs a slow node more than many a command).
    fn exec_as_login<'a>(
        &'a self,
        cmd: &'a str,
        stdin: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Output, TransportError>> {
        self.exec(cmd, stdin)
    }

    /// Whether this connection is a master an earlier run left open, taken over rather than
    /// opened by this run: its host may have gone since, unnoticed by the master.
    fn resumed(&self) -> bool {
        false
    }

    /// End every command of this run still running on the host (after Ctrl-C).
    fn interrupt(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Close the connection (ends the ControlMaster, removes its socket).
    fn close(&self) -> BoxFuture<'_, ()>;

    /// The run is over and went well for this connection: leave it for the next run when it
    /// may persist (`session::Persist`), else close it.
    fn release(&self) -> BoxFuture<'_, ()> {
        self.close()
    }
}
