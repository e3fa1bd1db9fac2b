//! Helpers for module tests: run a module through the local transport.

use serde_json::{Map, Value as Json};

use super::{lookup, Cx, ModuleError, NodeState, Outcome};
use crate::ssh::Local;
use crate::template::Templates;

/// Run module `name` with `args` locally; returns the outcome and the state after.
pub(crate) async fn run_local(
    name: &str,
    args: Json,
    check: bool,
    state: &mut NodeState,
) -> Result<Outcome, ModuleError> {
    let m = lookup(name).expect("module exists");
    let t = Templates::new();
    let vars = Map::new();
    let mut cx = Cx {
        transport: &Local,
        check,
        diff: true,
        sudo: false,
        vars: &vars,
        templates: &t,
        search: &[],
        state,
        log: Vec::new(),
    };
    let args = args.as_object().cloned().unwrap_or_default();
    m.run(&args, &mut cx).await
}
