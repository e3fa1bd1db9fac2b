//! One task on one host: its items run, their results aggregated into the task's result and
//! its registered value, and the result cleaned of secrets before it leaves as an event.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::host::HostRun;
use super::item::{context, item_context, loop_items, run_item, ItemResult};
use super::shared::Shared;
use super::{prefetch, Event, Failure, HostResult, Status};
use crate::modules::probe::Probes;
use crate::playbook::Task;
use crate::ssh::Transport;

pub(super) async fn run_task(
    sh: &Shared,
    mut h: HostRun,
    play: usize,
    ti: usize,
    handler: bool,
) -> HostRun {
    let plan = sh.plan.clone();
    let p = &plan.playbook.plays[play];
    let task = if handler {
        &p.handlers[ti]
    } else {
        &p.tasks[ti]
    };
    let _ = sh.tx.send(Event::HostStart {
        host: h.name.clone(),
        task: task.name.clone(),
    });
    let mut result = HostResult {
        host: h.name.clone(),
        task: task.name.clone(),
        status: Status::Ok,
        msg: None,
        diffs: Vec::new(),
        cmds: Vec::new(),
        failure: None,
        item: None,
    };
    let ctx = match context(sh, &h, play, task) {
        Ok(c) => {
            // Play vars and set_fact values may hold secrets too.
            h.secrets.add_vars(&c);
            c
        }
        Err(e) => {
            result.status = failed_status(task);
            result.failure = Some(Failure {
                msg: e,
                ..Default::default()
            });
            h.done = !task.ignore_errors;
            return finish(sh, h, result, task);
        }
    };
    let items = match loop_items(sh, task, &ctx) {
        Ok(i) => i,
        Err(msg) => {
            result.status = failed_status(task);
            result.failure = Some(Failure {
                msg,
                ..Default::default()
            });
            h.done = !task.ignore_errors;
            return finish(sh, h, result, task);
        }
    };
    let sudo = crate::plan::login::task_becomes(&ctx, task.sudo, p.sudo);
    let host_become = other_become(sh, &mut h, p, task, &ctx, sudo);
    prefetch::queries_ahead(sh, &mut h, play, ti, handler).await;
    let rs = run_items(sh, &mut h, task, sudo, &ctx, items.as_deref()).await;
    if let Some(escalated) = host_become {
        // What the task changed may have made any answer stale: none is kept.
        h.escalated = escalated;
        h.probes = Probes::new();
    }
    aggregate(&mut h, &mut result, task, items.as_deref(), rs);
    finish(sh, h, result, task)
}

/// One item's result, labelled with its loop item (`None`: the task has no loop).
type Labelled = (Option<String>, ItemResult);

/// Run the task once, or once per loop item (stopping once the host is unreachable).
async fn run_items(
    sh: &Shared,
    h: &mut HostRun,
    task: &Task,
    sudo: bool,
    ctx: &Map<String, Json>,
    items: Option<&[Json]>,
) -> Vec<Labelled> {
    let mut rs: Vec<Labelled> = Vec::new();
    match items {
        None => {
            let r = run_item(sh, h, task, sudo, ctx, true).await;
            rs.push((None, r));
        }
        Some(items) => {
            for (i, it) in items.iter().enumerate() {
                let c = item_context(sh, h, task, ctx, it);
                let label = match it {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let r = run_item(sh, h, task, sudo, &c, i + 1 == items.len()).await;
                let unreachable = r.failed.as_ref().is_some_and(|e| e.unreachable);
                rs.push((Some(label), r));
                if unreachable {
                    break;
                }
            }
        }
    }
    rs
}

/// The items' results as the task's: its messages, commands and diffs, its status, its
/// registered value, and what it notifies.
fn aggregate(
    h: &mut HostRun,
    result: &mut HostResult,
    task: &Task,
    items: Option<&[Json]>,
    mut rs: Vec<Labelled>,
) {
    let any_failed = rs
        .iter()
        .find_map(|(l, r)| r.failed.clone().map(|f| (l.clone(), f)));
    let changed = rs.iter().any(|(_, r)| r.changed);
    let all_skipped = !rs.is_empty() && rs.iter().all(|(_, r)| r.skipped);
    let mut msgs = Vec::new();
    for (l, r) in &mut rs {
        result.cmds.append(&mut r.cmds);
        result.diffs.append(&mut r.diffs);
        if let Some(m) = &r.msg {
            msgs.push(match l {
                Some(l) => format!("({l}) {m}"),
                None => m.clone(),
            });
        }
    }
    if !msgs.is_empty() {
        result.msg = Some(msgs.join("\n"));
    }
    let reg_value = registered_value(task, items, &rs);
    if let Some(reg) = &task.register {
        h.registered.insert(reg.clone(), reg_value);
    }
    if let Some((label, e)) = any_failed {
        result.item = label;
        result.status = if e.unreachable {
            Status::Unreachable
        } else if task.ignore_errors {
            Status::Ignored
        } else {
            Status::Failed
        };
        result.failure = Some(Failure {
            msg: e.msg,
            cmd: e.cmd,
            status: e.status,
            stdout: e.stdout,
            stderr: e.stderr,
        });
        if result.status != Status::Ignored {
            h.done = true;
        }
    } else if all_skipped {
        result.status = Status::Skipped;
    } else if changed {
        result.status = Status::Changed;
        h.notified.extend(task.notify.iter().cloned());
    }
}

/// What `register:` keeps of the task: the item's result, or every item's under `results`.
fn registered_value(task: &Task, items: Option<&[Json]>, rs: &[Labelled]) -> Json {
    let changed = rs.iter().any(|(_, r)| r.changed);
    let failed = rs.iter().any(|(_, r)| r.failed.is_some());
    let all_skipped = !rs.is_empty() && rs.iter().all(|(_, r)| r.skipped);
    match items {
        None => {
            let (_, r) = &rs[0];
            let mut d = r.data.clone();
            d.insert("changed".into(), Json::Bool(r.changed));
            d.insert("failed".into(), Json::Bool(r.failed.is_some()));
            d.insert("skipped".into(), Json::Bool(r.skipped));
            Json::Object(d)
        }
        Some(items) => {
            let results: Vec<Json> = rs
                .iter()
                .zip(items)
                .map(|((_, r), it)| {
                    let mut d = r.data.clone();
                    d.insert(task.loop_var.clone(), it.clone());
                    d.insert("changed".into(), Json::Bool(r.changed));
                    d.insert("failed".into(), Json::Bool(r.failed.is_some()));
                    Json::Object(d)
                })
                .collect();
            serde_json::json!({"results": results, "changed": changed, "failed": failed, "skipped": all_skipped})
        }
    }
}

/// A task that becomes another user than the host's other tasks (`become_user`,
/// `become_method`): give it an escalation of its own and answers of its own (the host's were
/// asked as someone else), and return the host's escalation to put back after it.
fn other_become(
    sh: &Shared,
    h: &mut HostRun,
    play: &crate::playbook::Play,
    task: &Task,
    ctx: &Map<String, Json>,
    sudo: bool,
) -> Option<Option<Arc<dyn Transport>>> {
    let hp = sh.plan.hosts.get(&h.name)?;
    let how = crate::playbook::escalation::resolve(
        &task.escalation,
        &play.escalation,
        ctx,
        &hp.escalation,
    );
    if !sudo || how == hp.escalation {
        return None;
    }
    let own: Arc<dyn Transport> = Arc::new(crate::ssh::Escalated::new(
        h.transport.clone()?,
        how,
        &hp.conn.login(),
    ));
    h.probes = Probes::new();
    Some(h.escalated.replace(own))
}

/// Failed, or failed-but-ignored under `ignore_errors`.
pub(super) fn failed_status(task: &Task) -> Status {
    if task.ignore_errors {
        Status::Ignored
    } else {
        Status::Failed
    }
}

pub(super) fn finish(sh: &Shared, h: HostRun, mut r: HostResult, task: &Task) -> HostRun {
    let s = &h.secrets;
    if task.no_log {
        r.msg = r.msg.map(|_| "(output hidden: no_log)".into());
        r.diffs.clear();
        for c in &mut r.cmds {
            c.stdout = String::new();
            c.stderr = String::new();
        }
    }
    r.msg = r.msg.map(|m| s.redact(&m));
    r.item = r.item.map(|m| s.redact(&m));
    for d in &mut r.diffs {
        d.before = s.redact(&d.before);
        d.after = s.redact(&d.after);
    }
    for c in &mut r.cmds {
        c.cmd = s.redact(&c.cmd);
        c.stdout = s.redact(&c.stdout);
        c.stderr = s.redact(&c.stderr);
    }
    if let Some(f) = &mut r.failure {
        f.msg = s.redact(&f.msg);
        f.cmd = f.cmd.as_ref().map(|c| s.redact(c));
        f.stdout = s.redact(&f.stdout);
        f.stderr = s.redact(&f.stderr);
    }
    let _ = sh.tx.send(Event::Result(Box::new(r)));
    h
}
