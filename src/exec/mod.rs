//! The parallel runner. All hosts of a play work at once (bounded by `--forks`); each task
//! finishes on every host before the next starts; notified handlers run at the end of the play;
//! a failed or unreachable host runs nothing more while the others go on. Plays start in order;
//! a play marked `overlap` starts as soon as the earlier plays on its hosts are done, so the
//! directors' plays and the real servers' plays run at the same time. Facts and the node's
//! state file are read once per host per run, over the ControlMaster opened for that host.
//! Everything observable leaves as an [`Event`] (secrets already redacted); Ctrl-C stops the
//! steps in flight and closes every master connection.
//! SIGTERM does the same.

mod connect;
pub(crate) mod events;
mod host;
mod item;
mod prefetch;
mod schedule;
mod shared;
mod task;

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::plan::Plan;
use crate::ssh::{Connector, Transport};
use connect::unreachable_result;
pub(crate) use events::{Event, Failure, HostResult, Status};
use host::HostRun;
use schedule::run_plays;
use shared::{Common, Shared, Sink};

/// Run options from the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) check: bool,
    pub(crate) diff: bool,
    pub(crate) forks: usize,
}

/// Run the plan. Returns true when interrupted by Ctrl-C.
pub(crate) async fn run(plan: Arc<Plan>, opts: Options, tx: mpsc::Sender<Event>) -> bool {
    let connector = match Connector::new().map(|c| c.masking(plan.secrets.clone())) {
        Ok(c) => c,
        Err(e) => {
            for h in &plan.order {
                if plan.hosts.contains_key(h) {
                    let _ = tx.send(Event::Result(Box::new(unreachable_result(
                        h, "connect", &e.0,
                    ))));
                }
            }
            return false;
        }
    };
    let shared = Arc::new(Shared {
        common: Arc::new(Common {
            plan: plan.clone(),
            opts,
            connector,
            open: Mutex::new(Vec::new()),
            forks: Arc::new(Semaphore::new(opts.forks.max(1))),
            abort: std::sync::atomic::AtomicBool::new(false),
            held: Mutex::new(BTreeMap::new()),
        }),
        tx: Sink::Direct(tx.clone()),
    });
    let mut hosts: BTreeMap<String, HostRun> = BTreeMap::new();
    for (name, hp) in &plan.hosts {
        let mut all = hp.vars.clone();
        all.extend(plan.extra.clone());
        // Other hosts' secrets too: a template may read them through `hostvars`.
        all.insert("hostvars".into(), plan.hostvars.clone());
        let mut secrets = plan.secrets.clone();
        secrets.add_vars(&all);
        hosts.insert(name.clone(), HostRun::new(name, &hp.state_file, secrets));
    }
    let work = run_plays(shared.clone(), &mut hosts, tx.clone());
    // SIGTERM (a service manager, `timeout`, `kill`) stops the run the way Ctrl-C does.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let interrupted = tokio::select! {
        _ = work => false,
        _ = tokio::signal::ctrl_c() => true,
        _ = sigterm => true,
    };
    if interrupted {
        shared.release(None, &tx);
        let _ = tx.send(Event::Interrupted);
    }
    // Close every master connection (also those of hosts whose step was cut short).
    let open: Vec<Arc<dyn Transport>> = match shared.open.lock() {
        Ok(mut g) => std::mem::take(&mut *g),
        Err(_) => Vec::new(),
    };
    drop(hosts);
    let mut closing = JoinSet::new();
    for t in open {
        closing.spawn(async move {
            if interrupted {
                t.interrupt().await;
                t.close().await
            } else {
                t.release().await
            }
        });
    }
    while closing.join_next().await.is_some() {}
    interrupted
}
