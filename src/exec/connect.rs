//! Connecting to a host: its master connection, its escalating transport, and its facts (with
//! the queries of the tasks ahead riding along).

use std::sync::Arc;

use serde_json::Value as Json;

use super::host::HostRun;
use super::shared::Shared;
use super::{prefetch, Event, Failure, HostResult, Status};
use crate::modules::probe::{self, Query};
use crate::plan::{Conn, HostPlan};
use crate::ssh::{Local, Transport};

pub(super) fn unreachable_result(host: &str, task: &str, reason: &str) -> HostResult {
    HostResult {
        host: host.to_string(),
        task: task.to_string(),
        status: Status::Unreachable,
        msg: Some(reason.to_string()),
        diffs: Vec::new(),
        cmds: Vec::new(),
        failure: Some(Failure {
            msg: reason.to_string(),
            ..Default::default()
        }),
        item: None,
    }
}

pub(super) async fn connect(sh: &Shared, mut h: HostRun) -> HostRun {
    let Some(hp) = sh.plan.hosts.get(&h.name) else {
        return h;
    };
    let _ = sh.tx.send(Event::HostStart {
        host: h.name.clone(),
        task: "gathering facts".into(),
    });
    let mut t = match open(sh, &h.name, hp).await {
        Ok(t) => t,
        Err(e) => return unreachable(sh, h, &e),
    };
    let mut gathered = facts(sh, &mut h, hp, &t).await;
    if gathered.is_err() && t.resumed() {
        // A master an earlier run left can outlive its host's side of the connection (a node
        // rebooted or frozen) until its keepalives give up: the facts are read-only, so they
        // are asked again over a connection of this run's own.
        t.close().await;
        t = match open(sh, &h.name, hp).await {
            Ok(t) => t,
            Err(e) => return unreachable(sh, h, &e),
        };
        gathered = facts(sh, &mut h, hp, &t).await;
    }
    match gathered {
        Ok(()) => {
            h.transport = Some(t);
            h
        }
        Err(e) => unreachable(sh, h, &e),
    }
}

/// Open (or take over) the host's connection; it is closed with the run's others.
async fn open(sh: &Shared, name: &str, hp: &HostPlan) -> Result<Arc<dyn Transport>, String> {
    let t: Arc<dyn Transport> = match &hp.conn {
        Conn::Local => Arc::new(Local),
        Conn::Ssh(p) => Arc::from(sh.connector.connect(name, p).await.map_err(|e| e.0)?),
    };
    if let Ok(mut g) = sh.open.lock() {
        g.push(t.clone());
    }
    Ok(t)
}

/// The host's facts over `t`, through its escalation when its first play becomes.
async fn facts(
    sh: &Shared,
    h: &mut HostRun,
    hp: &HostPlan,
    t: &Arc<dyn Transport>,
) -> Result<(), String> {
    let (escalated, facts_escalate) = escalation(sh, &h.name, hp, t);
    h.escalated = Some(escalated.clone());
    let facts_via = if facts_escalate { escalated } else { t.clone() };
    gather(sh, h, hp, &*facts_via, facts_escalate).await
}

/// The host is done, unreachable for `reason`.
fn unreachable(sh: &Shared, mut h: HostRun, reason: &str) -> HostRun {
    h.done = true;
    let msg = h.secrets.redact(reason);
    let _ = sh.tx.send(Event::Result(Box::new(unreachable_result(
        &h.name,
        "gathering facts",
        &msg,
    ))));
    h
}

/// Whether a play of host `name` gathers facts (`gather_facts`, default true), and the
/// subsets those plays ask for (`gather_subset`).
fn wanted_facts(sh: &Shared, name: &str) -> (bool, Vec<String>) {
    let mut subsets: Vec<String> = Vec::new();
    let mut gather = false;
    for pp in sh
        .plan
        .plays
        .iter()
        .filter(|pp| pp.hosts.iter().any(|n| n == name))
    {
        let play = sh.plan.play(pp);
        if play.gather_facts {
            gather = true;
            for s in &play.gather_subset {
                if !subsets.contains(s) {
                    subsets.push(s.clone());
                }
            }
        }
    }
    (gather, subsets)
}

/// How the host was reached, which the facts cached from its last run must match.
fn reached_as(hp: &HostPlan) -> String {
    match &hp.conn {
        Conn::Ssh(p) => format!("ssh {}:{}", p.address, p.port.unwrap_or(22)),
        Conn::Local => "local".to_string(),
    }
}

/// The tasks' queries that ride along with the facts: without facts they are known already;
/// with facts, the facts of the host's last run predict them (facts/cache.rs).
fn ahead(sh: &Shared, h: &HostRun, hp: &HostPlan, gather: bool) -> Vec<Query> {
    if !gather {
        prefetch::everything(sh, h)
    } else if let Some(last) = crate::facts::cache::load(&h.name, &reached_as(hp)) {
        let mut guess = HostRun::new(&h.name, &hp.state_file, h.secrets.clone());
        guess.learn(&hp.state_file, &last);
        prefetch::everything(sh, &guess)
    } else {
        Vec::new()
    }
}

/// Read the host's facts (or only its state file when no play gathers facts) through
/// `facts_via`, with the answers of the queries ahead in the same round trip. A host whose
/// facts cannot be read is unreachable: the error says why.
async fn gather(
    sh: &Shared,
    h: &mut HostRun,
    hp: &HostPlan,
    facts_via: &dyn Transport,
    facts_escalate: bool,
) -> Result<(), String> {
    let (gather, subsets) = wanted_facts(sh, &h.name);
    let token = probe::token();
    let mut ahead = ahead(sh, h, hp, gather);
    ahead.retain(|q| q.escalate == facts_escalate);
    let own = if gather {
        crate::facts::script(&hp.state_file, &subsets)
    } else {
        crate::facts::minimal_script(&hp.state_file)
    };
    let script = if ahead.is_empty() {
        own
    } else {
        probe::then_queries(&own, &ahead, &token)
    };
    match facts_via.exec(&script, None).await {
        Ok(out) => {
            let out = if ahead.is_empty() {
                out
            } else if let Some((own, answers)) =
                probe::split_then_queries(&out, &token, ahead.len())
            {
                for (q, a) in ahead.iter().zip(answers) {
                    h.probes.store(q, a);
                }
                own
            } else {
                out
            };
            let text = out.stdout_str();
            if gather {
                crate::facts::cache::store(&h.name, &reached_as(hp), &text);
            }
            h.learn(&hp.state_file, &text);
            let summary = crate::facts::summary(&h.facts);
            let _ = sh.tx.send(Event::Facts {
                host: h.name.clone(),
                summary: h.secrets.redact(&summary),
                facts: Json::Object(h.facts.clone()),
            });
            Ok(())
        }
        Err(e) => Err(e.0),
    }
}

/// The host's escalating transport over `t`, and whether its facts are gathered through it
/// (as its first play runs its tasks, `become` or not).
pub(super) fn escalation(
    sh: &Shared,
    name: &str,
    hp: &crate::plan::HostPlan,
    t: &Arc<dyn Transport>,
) -> (Arc<dyn Transport>, bool) {
    let escalated: Arc<dyn Transport> = Arc::new(crate::ssh::Escalated::new(
        t.clone(),
        hp.escalation.clone(),
        &hp.conn.login(),
    ));
    let facts = sh
        .plan
        .plays
        .iter()
        .find(|pp| pp.hosts.iter().any(|n| n == name))
        .is_some_and(|pp| {
            let mut vars = hp.vars.clone();
            vars.extend(sh.plan.extra.clone());
            crate::plan::login::task_becomes(&vars, None, sh.plan.play(pp).sudo)
        });
    (escalated, facts)
}
