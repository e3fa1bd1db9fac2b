//! Ask ahead: before a task runs on a host whose answer to the task's query is not at hand, the
//! queries of this task and of every task still ahead of the host (what each module says it
//! asks, `Module::queries`) are sent in one remote command.
//! On a node that is already right, a whole playbook then costs one round trip per host after
//! the facts; after a change only the answers about what changed are asked again.

use serde_json::{Map, Value as Json};

use super::host::HostRun;
use super::item::{context, item_context, loop_items, task_args, view};
use super::shared::Shared;
use crate::modules::probe::{self, Probes, Query};
use crate::plan::PlannedPlay;
use crate::playbook::Task;

/// Make sure the answers task `ti` of play `play` will ask for are cached on `h`, fetching them
/// together with those of the tasks after it.
pub(super) async fn queries_ahead(
    sh: &Shared,
    h: &mut HostRun,
    play: usize,
    ti: usize,
    handler: bool,
) {
    let Some(transport) = h.transport.clone() else {
        return;
    };
    let p = &sh.plan.playbook.plays[play];
    let task = if handler {
        &p.handlers[ti]
    } else {
        &p.tasks[ti]
    };
    let mut want = discover(sh, h, play, task);
    if want.iter().all(|q| h.probes.has(&q.key())) {
        return;
    }
    // One batch goes through one transport: the queries asked as this task asks them.
    let escalate = want.first().is_some_and(|q| q.escalate);
    let transport = if escalate {
        match h.escalated.clone() {
            Some(t) => t,
            None => return,
        }
    } else {
        transport
    };
    if !handler {
        for t in &p.tasks[ti + 1..] {
            want.extend(discover(sh, h, play, t));
        }
    }
    let later = sh
        .plan
        .plays
        .iter()
        .skip_while(|pp| pp.index != play)
        .skip(1);
    want.extend(discover_plays(sh, h, later));
    let mut want = distinct(want, &h.probes);
    want.retain(|q| q.escalate == escalate);
    if want.is_empty() {
        return;
    }
    // A batch that fails as a whole costs nothing but the round trip: each module then asks
    // on its own and reports its own error.
    let token = probe::token();
    if let Ok(out) = transport
        .exec(&probe::batch_script(&want, &token), None)
        .await
    {
        if let Some(answers) = probe::parse_batch(&out.stdout, &out.stderr, &token, want.len()) {
            for (q, a) in want.iter().zip(answers) {
                h.probes.store(q, a);
            }
        }
    }
}

/// The queries of every task of every play of `h`, as far as they can be known now (for a run
/// that gathers no facts, they travel with the first round trip).
pub(super) fn everything(sh: &Shared, h: &HostRun) -> Vec<Query> {
    let want = discover_plays(sh, h, sh.plan.plays.iter());
    distinct(want, &h.probes)
}

/// The queries of every task of those of `plays` that `h` is in.
fn discover_plays<'a>(
    sh: &Shared,
    h: &HostRun,
    plays: impl Iterator<Item = &'a PlannedPlay>,
) -> Vec<Query> {
    let mut want = Vec::new();
    for pp in plays.filter(|pp| pp.hosts.contains(&h.name)) {
        for t in &sh.plan.playbook.plays[pp.index].tasks {
            want.extend(discover(sh, h, pp.index, t));
        }
    }
    want
}

/// Each query once, leaving out those already answered.
fn distinct(mut want: Vec<Query>, probes: &Probes) -> Vec<Query> {
    let mut seen = std::collections::HashSet::new();
    want.retain(|q| !probes.has(&q.key()) && seen.insert(q.key()));
    want
}

/// The queries `task` would make on `h` now, for each loop item whose `when` holds. A task that
/// cannot be rendered yet (it needs a value registered by an earlier task) makes none.
fn discover(sh: &Shared, h: &HostRun, play: usize, task: &Task) -> Vec<Query> {
    if task.module.local_only() {
        return Vec::new();
    }
    let Ok(ctx) = context(sh, h, play, task) else {
        return Vec::new();
    };
    let ctxs: Vec<Map<String, Json>> = match loop_items(sh, task, &ctx) {
        Ok(None) => vec![ctx],
        Ok(Some(items)) => items
            .iter()
            .map(|it| item_context(sh, h, task, &ctx, it))
            .collect(),
        Err(_) => return Vec::new(),
    };
    let p = &sh.plan.playbook.plays[play];
    let mut out = Vec::new();
    for c in ctxs {
        let Ok(Some(args)) = task_args(sh, task, &c) else {
            continue;
        };
        let sudo = crate::plan::login::task_becomes(&c, task.sudo, p.sudo);
        let view = view(sh, task, sudo, &c);
        // A module that refuses its arguments asks nothing: its task fails when it runs.
        if let Ok(asks) = task.module.queries(&args, &view) {
            out.extend(asks.iter().map(|a| view.query(a)));
        }
    }
    out
}
