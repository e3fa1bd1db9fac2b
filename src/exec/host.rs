//! What one host carries through the run, with the secrets its output is cleaned of.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::modules::probe::Probes;
use crate::modules::NodeState;
use crate::secret::Redactor;
use crate::ssh::Transport;

/// Everything one host carries through the run.
pub(super) struct HostRun {
    pub(super) name: String,
    pub(super) transport: Option<Arc<dyn Transport>>,
    pub(super) facts: Map<String, Json>,
    /// `register` and `set_fact` results.
    pub(super) registered: Map<String, Json>,
    pub(super) state: NodeState,
    /// Answers to the read-only queries of the tasks ahead (see `modules::probe`).
    pub(super) probes: Probes,
    pub(super) done: bool,
    pub(super) notified: Vec<String>,
    /// The plan's secrets and those of this host's variables as the run learns them.
    pub(super) secrets: Redactor,
    /// The same connection, every command run as the user tasks `become`.
    pub(super) escalated: Option<Arc<dyn Transport>>,
}

impl HostRun {
    pub(super) fn new(name: &str, state_file: &str, secrets: Redactor) -> HostRun {
        HostRun {
            name: name.to_string(),
            transport: None,
            facts: Map::new(),
            registered: Map::new(),
            state: NodeState::new(state_file, ""),
            probes: Probes::new(),
            done: false,
            notified: Vec::new(),
            secrets,
            escalated: None,
        }
    }

    /// Take in what the facts command printed: the facts and the state file.
    pub(super) fn learn(&mut self, state_file: &str, facts_output: &str) {
        let (facts, state) = crate::facts::parse(facts_output);
        self.state = NodeState::new(state_file, &state);
        self.facts = facts;
    }
}
