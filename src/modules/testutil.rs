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
        escalate: false,
        vars: &vars,
        templates: &t,
        search: &crate::assets::Search::default(),
        state,
        probes: &mut super::probe::Probes::new(),
        log: Vec::new(),
    };
    let args = args.as_object().cloned().unwrap_or_default();
    m.run(&args, &mut cx).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn copy_check_apply_unchanged_and_restore_through_local_transport() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("f"), "old\n").unwrap();
        let state_path = d.join("st/state.json");
        let mut st = NodeState::new(state_path.to_str().unwrap(), "");
        let args = json!({"dest": d.join("f"), "content": "new\n", "mode": "0600"});
        let rt = rt();
        // check: would change, nothing written
        let o = rt
            .block_on(run_local("copy", args.clone(), true, &mut st))
            .unwrap();
        assert!(o.changed);
        assert_eq!(o.diffs[0].before, "old\n");
        assert_eq!(std::fs::read_to_string(d.join("f")).unwrap(), "old\n");
        assert!(st.records.is_empty());
        // apply
        let o = rt
            .block_on(run_local("copy", args.clone(), false, &mut st))
            .unwrap();
        assert!(o.changed);
        assert_eq!(std::fs::read_to_string(d.join("f")).unwrap(), "new\n");
        assert!(state_path.exists());
        // unchanged
        let o = rt
            .block_on(run_local("copy", args, false, &mut st))
            .unwrap();
        assert!(!o.changed);
        // restore
        let o = rt
            .block_on(run_local("restore", json!({}), false, &mut st))
            .unwrap();
        assert!(o.changed);
        assert_eq!(std::fs::read_to_string(d.join("f")).unwrap(), "old\n");
        assert!(!state_path.exists());
        let o = rt
            .block_on(run_local("restore", json!({}), false, &mut st))
            .unwrap();
        assert!(!o.changed);
    }

    #[test]
    fn command_reports_rc_stdout_and_failure_details() {
        let rt = rt();
        let mut st = NodeState::default();
        let o = rt
            .block_on(run_local(
                "command",
                json!({"argv": ["echo", "a b", "$(x)"]}),
                false,
                &mut st,
            ))
            .unwrap();
        assert_eq!(o.data["stdout"], "a b $(x)");
        let e = rt
            .block_on(run_local(
                "shell",
                json!({"cmd": "echo err >&2; exit 4"}),
                false,
                &mut st,
            ))
            .unwrap_err();
        assert_eq!(e.status, Some(4));
        assert_eq!(e.stderr, "err\n");
        assert_eq!(e.cmd.as_deref(), Some("/bin/sh -c 'echo err >&2; exit 4'"));
    }

    #[test]
    fn file_directory_and_absent() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b");
        let rt = rt();
        let mut st = NodeState::new(dir.path().join("state.json").to_str().unwrap(), "");
        let o = rt
            .block_on(run_local(
                "file",
                json!({"path": p, "state": "directory"}),
                false,
                &mut st,
            ))
            .unwrap();
        assert!(o.changed && p.is_dir());
        let o = rt
            .block_on(run_local(
                "file",
                json!({"path": p, "state": "directory"}),
                false,
                &mut st,
            ))
            .unwrap();
        assert!(!o.changed);
        let o = rt
            .block_on(run_local(
                "file",
                json!({"path": p, "state": "absent"}),
                false,
                &mut st,
            ))
            .unwrap();
        assert!(o.changed && !p.exists());
    }
}
