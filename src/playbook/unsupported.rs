//! Ansible keywords lvslab does not implement, each with what to write instead. A playbook
//! written for Ansible that uses one stops at load time with that advice (exit 2), rather than
//! with "unknown module" or, worse, a silently different run.

use crate::yaml::{Diag, Key, Source};

/// Play keywords (and `import_playbook`, which stands where a play would).
const PLAY: &[(&str, &str)] = &[
    ("roles", "the role's tasks in this play's `tasks:` and its defaults in `vars:` or group_vars/"),
    ("pre_tasks", "these tasks at the start of `tasks:`"),
    ("post_tasks", "these tasks at the end of `tasks:`"),
    ("vars_files", "the variables in group_vars/ or host_vars/ beside the inventory or playbook, or `-e @FILE`"),
    ("vars_prompt", "`-e NAME=VALUE` on the command line"),
    ("import_playbook", "one `lvslab run` per playbook file, or their plays copied into one file"),
    ("include_playbook", "one `lvslab run` per playbook file, or their plays copied into one file"),
    ("serial", "`--forks N` (lvslab works on every host of a play at once, up to --forks)"),
    ("strategy", "nothing: lvslab has one way of running a play"),
    ("environment", "the variable set in the command itself (`command: env NAME=value CMD`)"),
    ("collections", "fully qualified module names are not needed: use lvslab's module names"),
    ("module_defaults", "the arguments written on each task"),
    ("connection", "`ansible_connection` in the inventory (`ssh` or `local`)"),
    ("remote_user", "`ansible_user` in the inventory"),
    ("max_fail_percentage", "`any_errors_fatal: true`, or none"),
];

/// Task keywords.
const TASK: &[(&str, &str)] = &[
    ("block", "the tasks listed one after another, each with the block's `when:`"),
    ("rescue", "`ignore_errors: true` or `failed_when:` on the task that may fail, and `when:` on what follows"),
    ("always", "the tasks listed after the others, with `ignore_errors: true` on those before"),
    ("include_tasks", "the included file's tasks copied into this play's `tasks:`"),
    ("import_tasks", "the imported file's tasks copied into this play's `tasks:`"),
    ("include_role", "the role's tasks copied into this play's `tasks:`"),
    ("import_role", "the role's tasks copied into this play's `tasks:`"),
    ("include_vars", "the variables in group_vars/ or host_vars/, or `-e @FILE`"),
    ("include", "the included file's tasks copied into this play's `tasks:`"),
    ("import_playbook", "one `lvslab run` per playbook file"),
    ("delegate_to", "a play of its own with `hosts:` naming that host"),
    ("local_action", "a play of its own with `hosts:` naming a host with `ansible_connection: local`"),
    ("run_once", "a play of its own whose `hosts:` names a single host"),
    ("until", "the `wait_for` module, or a command that retries by itself"),
    ("retries", "the `wait_for` module, or a command that retries by itself"),
    ("delay", "the `wait_for` module, or a command that retries by itself"),
    ("async", "a command that returns at once (e.g. a service started by `service:`)"),
    ("poll", "a command that returns at once (e.g. a service started by `service:`)"),
    ("environment", "the variable set in the command itself (`command: env NAME=value CMD`)"),
    ("delegate_facts", "a play of its own with `hosts:` naming that host"),
    ("any_errors_fatal", "`any_errors_fatal: true` on the play"),
    ("throttle", "`--forks N`"),
    ("debugger", "`-vv`, which shows each command's output"),
    ("diff", "`--diff` on the command line"),
    ("args", "the arguments written under the module itself"),
];

fn advice(table: &[(&str, &'static str)], name: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == name).map(|(_, a)| *a)
}

fn diag(key: &Key, src: &std::sync::Arc<Source>, instead: &str) -> Diag {
    Diag::at_key(
        key,
        src,
        format!("`{}` is not supported by lvslab", key.name),
    )
    .expected(instead.to_string())
}

/// The error for a play keyword lvslab knows but does not implement.
pub(super) fn play_keyword(key: &Key, src: &std::sync::Arc<Source>) -> Option<Diag> {
    advice(PLAY, &key.name).map(|a| diag(key, src, a))
}

/// The error for a task keyword lvslab knows but does not implement.
pub(super) fn task_keyword(key: &Key, src: &std::sync::Arc<Source>) -> Option<Diag> {
    // `with_items` is supported; the other `with_*` lookups are not.
    let lookup = key.name.starts_with("with_") && key.name != "with_items";
    let a = advice(TASK, &key.name)
        .or(lookup.then_some("`loop:` with a list (or a `{{ }}` expression giving one)"))?;
    Some(diag(key, src, a))
}
