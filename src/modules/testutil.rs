//! Helpers for module tests: run a module through the local transport.

use serde_json::{Map, Value as Json};

use super::{lookup, Cx, ModuleError, NodeState, Outcome, View};
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
    let search = crate::assets::Search::default();
    let secrets = crate::secret::Redactor::default();
    let mut cx = Cx {
        view: View {
            check,
            diff: true,
            escalate: false,
            vars: &vars,
            templates: &t,
            search: &search,
            secrets: &secrets,
        },
        transport: &Local,
        state,
        probes: &mut super::probe::Probes::new(),
        log: Vec::new(),
    };
    let args = args.as_object().cloned().unwrap_or_default();
    super::run(m, &args, &mut cx).await
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

    /// A node that answers nothing: every command sent fails.
    struct Silent;

    impl crate::ssh::Transport for Silent {
        fn exec<'a>(
            &'a self,
            cmd: &'a str,
            _stdin: Option<&'a [u8]>,
        ) -> crate::ssh::BoxFuture<'a, Result<crate::ssh::Output, crate::ssh::TransportError>>
        {
            let e = crate::ssh::TransportError(format!("sent: {cmd}"));
            Box::pin(async move { Err(e) })
        }
        fn close(&self) -> crate::ssh::BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }

    #[test]
    fn a_module_asks_only_what_it_declares_and_applies_from_the_answers() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "net.ipv4.ip_forward = 1\n").unwrap();
        let args = json!({"name": "net.ipv4.ip_forward", "value": "1", "sysctl_file": f});
        let args = args.as_object().cloned().unwrap();
        let m = lookup("sysctl").unwrap();
        let (t, vars, search) = (
            Templates::new(),
            Map::new(),
            crate::assets::Search::default(),
        );
        let secrets = crate::secret::Redactor::default();
        let view = || View {
            check: false,
            diff: false,
            escalate: false,
            vars: &vars,
            templates: &t,
            search: &search,
            secrets: &secrets,
        };
        let asks = m.queries(&args, &view()).unwrap();
        assert_eq!(asks.len(), 2, "the live value and the file");
        // Answered ahead (as the executor's batch does), here by a local shell.
        let mut probes = super::super::probe::Probes::new();
        for a in &asks {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&a.line)
                .output()
                .unwrap();
            let out = crate::ssh::Output {
                status: out.status.code(),
                stdout: out.stdout,
                stderr: out.stderr,
            };
            probes.store(&view().query(a), out);
        }
        let mut st = NodeState::default();
        let mut cx = Cx {
            view: view(),
            transport: &Silent,
            state: &mut st,
            probes: &mut probes,
            log: Vec::new(),
        };
        let live = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
        let o = rt().block_on(super::super::run(m, &args, &mut cx));
        if live.trim() == "1" {
            let o = o.unwrap();
            assert!(!o.changed, "nothing to change, nothing sent");
        } else {
            // The live value differs: the change itself is all that is sent.
            let e = o.unwrap_err();
            assert!(e.msg.starts_with("sent: set -e"), "{}", e.msg);
        }
        assert_eq!(cx.log.len(), 2, "both answers read from the batch");
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
