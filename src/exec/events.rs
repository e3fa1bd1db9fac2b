//! Events: everything the executor has to say, as data. The reporter renders them; the executor
//! never prints. Secrets are redacted before an event is created.

use crate::modules::{CmdLog, Diff};

/// How a task ended on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    /// Failed, but `ignore_errors: true`.
    Ignored,
    Unreachable,
}

/// Details of a failure: what ran, how it ended, what it said.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failure {
    pub(crate) msg: String,
    pub(crate) cmd: Option<String>,
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// One host's result for one task.
#[derive(Debug, Clone)]
pub(crate) struct HostResult {
    pub(crate) host: String,
    pub(crate) task: String,
    pub(crate) status: Status,
    pub(crate) msg: Option<String>,
    pub(crate) diffs: Vec<Diff>,
    pub(crate) cmds: Vec<CmdLog>,
    pub(crate) failure: Option<Failure>,
    /// Loop item label, when the task loops.
    pub(crate) item: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Event {
    PlayStart {
        name: String,
        hosts: Vec<String>,
    },
    TaskStart {
        name: String,
        handler: bool,
    },
    HostStart {
        host: String,
        task: String,
    },
    Result(Box<HostResult>),
    Facts {
        host: String,
        summary: String,
        facts: serde_json::Value,
    },
    Interrupted,
}
