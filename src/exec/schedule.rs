//! Scheduling: which play starts when, the tasks of a play in order, and one step on every
//! host of a play at once (bounded by `--forks`).

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};

use tokio::task::JoinSet;

use super::connect::connect;
use super::host::HostRun;
use super::shared::{Held, Shared, Sink};
use super::task::run_task;
use super::Event;
use crate::plan::Plan;

#[derive(Clone, Copy)]
pub(super) enum Step {
    Connect,
    Task {
        play: usize,
        task: usize,
        handler: bool,
    },
}

pub(super) async fn run_plays(
    shared: Arc<Shared>,
    hosts: &mut BTreeMap<String, HostRun>,
    out: mpsc::Sender<Event>,
) {
    let plan = shared.plan.clone();
    // Every host of the run connects and reports its facts at once, in parallel: a later play
    // then starts on hosts that are ready instead of opening connections itself.
    let mut everyone: Vec<String> = Vec::new();
    for pp in &plan.plays {
        for h in &pp.hosts {
            if !everyone.contains(h) {
                everyone.push(h.clone());
            }
        }
    }
    if let Some(first) = plan.plays.first() {
        let _ = shared.tx.send(Event::PlayStart {
            name: plan.play(first).name.clone(),
            hosts: first.hosts.clone(),
        });
    }
    step(&shared, hosts, &everyone, Step::Connect).await;

    // Plays start in order, except that a play marked `overlap` waits only for the earlier
    // plays sharing a host with it (and for every earlier play without `overlap`). Plays
    // running at once never share a host, so each owns its hosts' `HostRun` while it runs.
    let n = plan.plays.len();
    let mut started = vec![false; n];
    let mut finished = vec![false; n];
    let mut running: JoinSet<PlayDone> = JoinSet::new();
    let mut stop = false;
    loop {
        if !stop {
            for (i, begun) in started.iter_mut().enumerate() {
                if *begun || !ready(&plan, i, &finished) {
                    continue;
                }
                let overlap = plan.play(&plan.plays[i]).overlap;
                *begun = true;
                let mine: BTreeMap<String, HostRun> = plan.plays[i]
                    .hosts
                    .iter()
                    .filter_map(|h| hosts.remove(h).map(|r| (h.clone(), r)))
                    .collect();
                let tx = if overlap {
                    let held: Held = Arc::default();
                    if let Ok(mut g) = shared.held.lock() {
                        g.insert(i, held.clone());
                    }
                    Sink::Held {
                        live: out.clone(),
                        held,
                    }
                } else {
                    Sink::Direct(out.clone())
                };
                let sh = Arc::new(Shared {
                    common: shared.common.clone(),
                    tx,
                });
                running.spawn(async move {
                    let (mine, fatal) = run_play(sh, mine, i).await;
                    (i, mine, fatal)
                });
            }
        }
        let Some(r) = running.join_next().await else {
            break;
        };
        let Ok((i, mine, fatal)) = r else {
            continue;
        };
        finished[i] = true;
        shared.release(Some(i), &out);
        hosts.extend(mine);
        if fatal {
            // Stop every host, here and in the plays that follow; plays in flight end at
            // their next task.
            stop = true;
            shared
                .abort
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if stop {
            for h in hosts.values_mut() {
                h.done = true;
            }
        }
    }
}

/// A play that ended: its index, its hosts back, and whether a failure stops the run.
pub(super) type PlayDone = (usize, BTreeMap<String, HostRun>, bool);

/// Whether play `i` may start: every earlier play it must wait for has finished (all of them
/// unless it is marked `overlap`; then those sharing a host with it, and every earlier play
/// without `overlap`). A play without `overlap` is thus never ready while another runs.
pub(super) fn ready(plan: &Plan, i: usize, finished: &[bool]) -> bool {
    let me = &plan.plays[i];
    let overlap = plan.play(me).overlap;
    (0..i).all(|j| {
        let other = &plan.plays[j];
        let must_wait = !overlap
            || !plan.play(other).overlap
            || other.hosts.iter().any(|h| me.hosts.contains(h));
        !must_wait || finished[j]
    })
}

/// One play on its hosts: the tasks in order on every host, then the notified handlers.
/// Returns the hosts, and whether a failure stops the whole run (`any_errors_fatal`).
pub(super) async fn run_play(
    shared: Arc<Shared>,
    mut hosts: BTreeMap<String, HostRun>,
    n: usize,
) -> (BTreeMap<String, HostRun>, bool) {
    let plan = shared.plan.clone();
    let pp = &plan.plays[n];
    let play = plan.play(pp);
    if n > 0 {
        let _ = shared.tx.send(Event::PlayStart {
            name: play.name.clone(),
            hosts: pp.hosts.clone(),
        });
    }
    if pp.hosts.is_empty() {
        return (hosts, false);
    }
    let going = |hosts: &BTreeMap<String, HostRun>| {
        pp.hosts
            .iter()
            .filter(|n| hosts.get(*n).is_some_and(|h| !h.done))
            .count()
    };
    let mut alive = going(&hosts);
    for (i, t) in play.tasks.iter().enumerate() {
        if play.any_errors_fatal && going(&hosts) < alive {
            return (hosts, true);
        }
        if going(&hosts) == 0 || shared.abort.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        alive = going(&hosts);
        let _ = shared.tx.send(Event::TaskStart {
            name: t.name.clone(),
            handler: false,
        });
        step(
            &shared,
            &mut hosts,
            &pp.hosts,
            Step::Task {
                play: pp.index,
                task: i,
                handler: false,
            },
        )
        .await;
    }
    if play.any_errors_fatal && going(&hosts) < alive {
        return (hosts, true);
    }
    if shared.abort.load(std::sync::atomic::Ordering::SeqCst) {
        return (hosts, false);
    }
    for (i, h) in play.handlers.iter().enumerate() {
        let who: Vec<String> = pp
            .hosts
            .iter()
            .filter(|n| {
                hosts
                    .get(*n)
                    .is_some_and(|hr| !hr.done && hr.notified.iter().any(|x| h.listen.contains(x)))
            })
            .cloned()
            .collect();
        if who.is_empty() {
            continue;
        }
        let _ = shared.tx.send(Event::TaskStart {
            name: h.name.clone(),
            handler: true,
        });
        step(
            &shared,
            &mut hosts,
            &who,
            Step::Task {
                play: pp.index,
                task: i,
                handler: true,
            },
        )
        .await;
    }
    for h in hosts.values_mut() {
        h.notified.clear();
    }
    (hosts, false)
}

/// Run one step on every listed host that is still going, in parallel (bounded by forks).
pub(super) async fn step(
    shared: &Arc<Shared>,
    hosts: &mut BTreeMap<String, HostRun>,
    names: &[String],
    s: Step,
) {
    let sem = shared.forks.clone();
    let mut set = JoinSet::new();
    for n in names {
        let Some(h) = hosts.remove(n) else { continue };
        if h.done || (matches!(s, Step::Connect) && h.transport.is_some()) {
            hosts.insert(n.clone(), h);
            continue;
        }
        let sh = shared.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            match s {
                Step::Connect => connect(&sh, h).await,
                Step::Task {
                    play,
                    task,
                    handler,
                } => run_task(&sh, h, play, task, handler).await,
            }
        });
    }
    while let Some(r) = set.join_next().await {
        if let Ok(h) = r {
            hosts.insert(h.name.clone(), h);
        }
    }
}
