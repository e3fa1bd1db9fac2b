//! The parallel runner. All hosts of a play work at once (bounded by `--forks`); each task
//! finishes on every host before the next starts; notified handlers run at the end of the play;
//! a failed or unreachable host runs nothing more while the others go on. Plays start in order;
//! a play marked `overlap` starts as soon as the earlier plays on its hosts are done, so the
//! directors' plays and the real servers' plays run at the same time. Facts and the node's
//! state file are read once per host per run, over the ControlMaster opened for that host.
//! Everything observable leaves as an [`Event`] (secrets already redacted); Ctrl-C stops the
//! steps in flight and closes every master connection.
//! SIGTERM does the same.

pub(crate) mod events;
mod prefetch;

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex};

use serde_json::{Map, Value as Json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::modules::probe::Probes;
use crate::modules::{CmdLog, Cx, Diff, ModuleError, NodeState};
use crate::plan::{resolve_templated, Conn, Plan};
use crate::playbook::Task;
use crate::ssh::{Connector, Local, Transport};
pub(crate) use events::{Event, Failure, HostResult, Status};

/// Run options from the command line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) check: bool,
    pub(crate) diff: bool,
    pub(crate) forks: usize,
}

/// Everything one host carries through the run.
struct HostRun {
    name: String,
    transport: Option<Arc<dyn Transport>>,
    facts: Map<String, Json>,
    /// `register` and `set_fact` results.
    registered: Map<String, Json>,
    state: NodeState,
    /// Answers to the read-only queries of the tasks ahead (see `modules::probe`).
    probes: Probes,
    done: bool,
    notified: Vec<String>,
    secrets: Vec<String>,
    /// The same connection, every command run as the user tasks `become`.
    escalated: Option<Arc<dyn Transport>>,
}

impl HostRun {
    fn new(name: &str, state_file: &str, secrets: Vec<String>) -> HostRun {
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
    fn learn(&mut self, state_file: &str, facts_output: &str) {
        let (facts, state) = crate::facts::parse(facts_output);
        self.state = NodeState::new(state_file, &state);
        self.facts = facts;
    }
}

/// What every play of the run shares.
struct Common {
    plan: Arc<Plan>,
    opts: Options,
    connector: Connector,
    open: Mutex<Vec<Arc<dyn Transport>>>,
    /// `--forks` across the whole run, plays that overlap included.
    forks: Arc<Semaphore>,
    /// A play with `any_errors_fatal` failed: plays in flight stop at their next task.
    abort: std::sync::atomic::AtomicBool,
    /// The report lines of overlapping plays still running, by play: handed over when the play
    /// ends, or when the run is interrupted (so the recap counts what they did).
    held: Mutex<BTreeMap<usize, Held>>,
}

/// Report lines held back by a play that overlaps others.
type Held = Arc<Mutex<Vec<Event>>>;

impl Common {
    /// Hand over what play `i` held back (all plays when `None`), in play order.
    fn release(&self, i: Option<usize>, out: &mpsc::Sender<Event>) {
        let taken: Vec<Held> = match self.held.lock() {
            Ok(mut g) => match i {
                Some(i) => g.remove(&i).into_iter().collect(),
                None => std::mem::take(&mut *g).into_values().collect(),
            },
            Err(_) => Vec::new(),
        };
        for buf in taken {
            let events = buf.lock().map(|mut b| std::mem::take(&mut *b));
            for ev in events.unwrap_or_default() {
                let _ = out.send(ev);
            }
        }
    }
}

/// What one play works with: the common parts and where its events go.
struct Shared {
    common: Arc<Common>,
    tx: Sink,
}

impl std::ops::Deref for Shared {
    type Target = Common;
    fn deref(&self) -> &Common {
        &self.common
    }
}

/// Where a play's events go. Plays that overlap hold back their report lines and hand them
/// over when they end, so each play still reads as one block; which task a host is on (the
/// progress bars) goes out at once.
#[derive(Clone)]
enum Sink {
    Direct(mpsc::Sender<Event>),
    Held {
        live: mpsc::Sender<Event>,
        held: Held,
    },
}

impl Sink {
    fn send(&self, ev: Event) -> Result<(), mpsc::SendError<Event>> {
        match self {
            Sink::Direct(tx) => tx.send(ev),
            Sink::Held { live, .. } if matches!(ev, Event::HostStart { .. }) => live.send(ev),
            Sink::Held { held, .. } => {
                if let Ok(mut b) = held.lock() {
                    b.push(ev);
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Step {
    Connect,
    Task {
        play: usize,
        task: usize,
        handler: bool,
    },
}

/// Replace every secret value in `s`.
pub(crate) fn redact(s: &str, secrets: &[String]) -> String {
    crate::secret::redact_with(s, secrets)
}

/// The secret values (and their redacted forms) among `vars`, longest first.
fn secrets_of(vars: &Map<String, Json>) -> Vec<String> {
    let mut out: Vec<String> = crate::secret::secret_values(vars)
        .iter()
        .flat_map(|v| crate::secret::forms(v))
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Run the plan. Returns true when interrupted by Ctrl-C.
pub(crate) async fn run(plan: Arc<Plan>, opts: Options, tx: mpsc::Sender<Event>) -> bool {
    let connector = match Connector::new() {
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
        hosts.insert(
            name.clone(),
            HostRun::new(name, &hp.state_file, secrets_of(&all)),
        );
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

async fn run_plays(
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
type PlayDone = (usize, BTreeMap<String, HostRun>, bool);

/// Whether play `i` may start: every earlier play it must wait for has finished (all of them
/// unless it is marked `overlap`; then those sharing a host with it, and every earlier play
/// without `overlap`). A play without `overlap` is thus never ready while another runs.
fn ready(plan: &Plan, i: usize, finished: &[bool]) -> bool {
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
async fn run_play(
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
async fn step(
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

fn unreachable_result(host: &str, task: &str, reason: &str) -> HostResult {
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

async fn connect(sh: &Shared, mut h: HostRun) -> HostRun {
    let Some(hp) = sh.plan.hosts.get(&h.name) else {
        return h;
    };
    let _ = sh.tx.send(Event::HostStart {
        host: h.name.clone(),
        task: "gathering facts".into(),
    });
    let t: Arc<dyn Transport> = match &hp.conn {
        Conn::Local => Arc::new(Local),
        Conn::Ssh(p) => match sh.connector.connect(&h.name, p).await {
            Ok(t) => Arc::from(t),
            Err(e) => {
                h.done = true;
                let msg = redact(&e.0, &h.secrets);
                let _ = sh.tx.send(Event::Result(Box::new(unreachable_result(
                    &h.name,
                    "gathering facts",
                    &msg,
                ))));
                return h;
            }
        },
    };
    if let Ok(mut g) = sh.open.lock() {
        g.push(t.clone());
    }
    let (escalated, facts_escalate) = escalation(sh, &h.name, hp, &t);
    h.escalated = Some(escalated.clone());
    // Facts only when a play of this host gathers them (`gather_facts`, default true), and
    // only the subsets those plays ask for (`gather_subset`).
    let mut subsets: Vec<String> = Vec::new();
    let mut gather = false;
    for pp in sh.plan.plays.iter().filter(|pp| pp.hosts.contains(&h.name)) {
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
    // The tasks' queries ride along with the facts: without facts they are known already;
    // with facts, the facts of the host's last run predict them (facts/cache.rs).
    use crate::modules::probe;
    let token = probe::token();
    let reached_as = match &hp.conn {
        Conn::Ssh(p) => format!("ssh {}:{}", p.address, p.port.unwrap_or(22)),
        Conn::Local => "local".to_string(),
    };
    let mut ahead = if !gather {
        prefetch::everything(sh, &h).await
    } else if let Some(last) = crate::facts::cache::load(&h.name, &reached_as) {
        let mut guess = HostRun::new(&h.name, &hp.state_file, h.secrets.clone());
        guess.learn(&hp.state_file, &last);
        prefetch::everything(sh, &guess).await
    } else {
        Vec::new()
    };
    ahead.retain(|q| q.escalate == facts_escalate);
    let facts_via = if facts_escalate { escalated } else { t.clone() };
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
                crate::facts::cache::store(&h.name, &reached_as, &text);
            }
            h.learn(&hp.state_file, &text);
            let summary = crate::facts::summary(&h.facts);
            let _ = sh.tx.send(Event::Facts {
                host: h.name.clone(),
                summary: redact(&summary, &h.secrets),
                facts: Json::Object(h.facts.clone()),
            });
            h.transport = Some(t);
        }
        Err(e) => {
            h.done = true;
            let _ = sh.tx.send(Event::Result(Box::new(unreachable_result(
                &h.name,
                "gathering facts",
                &redact(&e.0, &h.secrets),
            ))));
        }
    }
    h
}

/// The host's escalating transport over `t`, and whether its facts are gathered through it
/// (as its first play runs its tasks, `become` or not).
fn escalation(
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

/// Per-item result before aggregation.
struct ItemResult {
    data: Map<String, Json>,
    changed: bool,
    skipped: bool,
    failed: Option<ModuleError>,
    msg: Option<String>,
    diffs: Vec<Diff>,
    cmds: Vec<CmdLog>,
}

fn context(
    sh: &Shared,
    h: &HostRun,
    play: usize,
    task: &Task,
) -> Result<Map<String, Json>, String> {
    let plan = &sh.plan;
    let p = &plan.playbook.plays[play];
    let hp = plan
        .hosts
        .get(&h.name)
        .ok_or_else(|| format!("internal: host {} not planned", h.name))?;
    // inventory < facts < play vars < task vars < registered/set_fact < -e (docs/variables.md)
    let mut ctx = hp.vars.clone();
    ctx.extend(crate::facts::vars(&h.facts));
    for (k, v) in &p.vars {
        ctx.insert(k.name.clone(), v.to_json());
    }
    for (k, v) in &task.vars {
        ctx.insert(k.name.clone(), v.to_json());
    }
    ctx.extend(h.registered.clone());
    resolve_templated(&plan.templates, &ctx, &plan.extra)
        .map_err(|(k, e)| format!("variable `{k}`: {e}"))
}

fn cond_ok(
    sh: &Shared,
    conds: &[crate::yaml::Node],
    ctx: &Map<String, Json>,
) -> Result<bool, String> {
    for c in conds {
        let ok = match &c.v {
            crate::yaml::Value::Bool(b) => *b,
            _ => {
                let s = c.as_scalar_str("").unwrap_or_default();
                sh.plan
                    .templates
                    .eval_bool(&s, ctx)
                    .map_err(|e| format!("condition `{s}` ({}): {e}", c.src.path.display()))?
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The task's arguments rendered in `ctx`; `None` when its `when` is false.
fn task_args(
    sh: &Shared,
    task: &Task,
    ctx: &Map<String, Json>,
) -> Result<Option<Map<String, Json>>, ModuleError> {
    if !cond_ok(sh, &task.when, ctx).map_err(ModuleError::msg)? {
        return Ok(None);
    }
    let rendered =
        sh.plan
            .templates
            .render_args(&task.args.to_json(), ctx, task.module.shell_args());
    match rendered {
        Ok(Json::Object(m)) => Ok(Some(m)),
        Ok(_) => Ok(Some(Map::new())),
        Err(e) => Err(ModuleError::msg(format!(
            "in arguments of `{}` ({}:{}:{}): {e}",
            task.module.name(),
            task.args.src.path.display(),
            task.module_key.pos.line,
            task.module_key.pos.col
        ))),
    }
}

/// A task's loop items rendered in `ctx` (`None`: the task has no loop).
fn loop_items(
    sh: &Shared,
    task: &Task,
    ctx: &Map<String, Json>,
) -> Result<Option<Vec<Json>>, String> {
    match &task.loop_ {
        None => Ok(None),
        Some(l) => match sh.plan.templates.render_value(&l.to_json(), ctx) {
            Ok(Json::Array(a)) => Ok(Some(a)),
            Ok(other) => Err(format!("`loop` must give a list, got {other}")),
            Err(e) => Err(format!("in `loop`: {e}")),
        },
    }
}

/// What one loop item sees: like Ansible, what earlier items set (`set_fact` accumulating a
/// list over a loop is the common idiom); `-e` still wins.
fn item_context(
    sh: &Shared,
    h: &HostRun,
    task: &Task,
    ctx: &Map<String, Json>,
    item: &Json,
) -> Map<String, Json> {
    let mut c = ctx.clone();
    c.extend(h.registered.clone());
    c.extend(sh.plan.extra.clone());
    c.insert(task.loop_var.clone(), item.clone());
    c
}

async fn run_item(
    sh: &Shared,
    h: &mut HostRun,
    task: &Task,
    sudo: bool,
    ctx: &Map<String, Json>,
    last_item: bool,
) -> ItemResult {
    let mut r = ItemResult {
        data: Map::new(),
        changed: false,
        skipped: false,
        failed: None,
        msg: None,
        diffs: Vec::new(),
        cmds: Vec::new(),
    };
    let args = match task_args(sh, task, ctx) {
        Ok(Some(a)) => a,
        Ok(None) => {
            r.skipped = true;
            r.msg = Some("skipped: condition false".into());
            r.data.insert("skipped".into(), Json::Bool(true));
            return r;
        }
        Err(e) => {
            r.failed = Some(e);
            return r;
        }
    };
    let transport = if sudo {
        h.escalated.clone()
    } else {
        h.transport.clone()
    };
    let transport: Arc<dyn Transport> = match transport {
        Some(t) => t,
        None if task.module.local_only() => Arc::new(Local),
        None => {
            r.failed = Some(ModuleError::msg("no connection"));
            return r;
        }
    };
    let mut cx = Cx {
        transport: &*transport,
        check: task.check_mode.unwrap_or(sh.opts.check),
        diff: sh.opts.diff,
        escalate: sudo,
        vars: ctx,
        templates: &sh.plan.templates,
        search: &sh.plan.search,
        state: &mut h.state,
        probes: &mut h.probes,
        log: Vec::new(),
    };
    cx.probes.start_task(last_item);
    let res = task.module.run(&args, &mut cx).await;
    cx.probes.end_task();
    r.cmds = std::mem::take(&mut cx.log);
    match res {
        Ok(o) => {
            r.changed = o.changed;
            r.skipped = o.skipped;
            r.msg = o.msg.clone();
            r.diffs = o.diffs;
            r.data = o.data;
            if let Some(m) = &o.msg {
                r.data.insert("msg".into(), Json::String(m.clone()));
            }
            h.registered.extend(o.facts);
        }
        Err(e) => {
            r.data.insert("msg".into(), Json::String(e.msg.clone()));
            if let Some(s) = e.status {
                r.data.insert("rc".into(), Json::from(s));
            }
            r.data.insert(
                "stdout".into(),
                Json::String(e.stdout.trim_end().to_string()),
            );
            r.data.insert(
                "stderr".into(),
                Json::String(e.stderr.trim_end().to_string()),
            );
            r.failed = Some(e);
        }
    }
    // changed_when / failed_when see the result under the register name.
    if task.changed_when.is_some() || task.failed_when.is_some() {
        let mut c2 = ctx.clone();
        let mut data = r.data.clone();
        data.insert("changed".into(), Json::Bool(r.changed));
        data.insert("failed".into(), Json::Bool(r.failed.is_some()));
        if let Some(reg) = &task.register {
            c2.insert(reg.clone(), Json::Object(data.clone()));
        }
        for (k, v) in &data {
            c2.entry(k.clone()).or_insert(v.clone());
        }
        if let Some(cw) = &task.changed_when {
            match cond_ok(sh, std::slice::from_ref(cw), &c2) {
                Ok(v) => r.changed = v,
                Err(e) => r.failed = Some(ModuleError::msg(e)),
            }
        }
        if let Some(fw) = &task.failed_when {
            match cond_ok(sh, std::slice::from_ref(fw), &c2) {
                Ok(true) => {
                    if r.failed.is_none() {
                        r.failed = Some(ModuleError::msg(format!(
                            "failed_when condition is true: {}",
                            fw.as_scalar_str("").unwrap_or_default()
                        )))
                    }
                }
                Ok(false) => {
                    if r.failed.as_ref().is_some_and(|e| !e.unreachable) {
                        r.failed = None;
                    }
                }
                Err(e) => r.failed = Some(ModuleError::msg(e)),
            }
        }
    }
    r
}

async fn run_task(sh: &Shared, mut h: HostRun, play: usize, ti: usize, handler: bool) -> HostRun {
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
            for s in secrets_of(&c) {
                if !h.secrets.contains(&s) {
                    h.secrets.push(s);
                }
            }
            h.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
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
    let mut rs: Vec<(Option<String>, ItemResult)> = Vec::new();
    match &items {
        None => {
            let r = run_item(sh, &mut h, task, sudo, &ctx, true).await;
            rs.push((None, r));
        }
        Some(items) => {
            for (i, it) in items.iter().enumerate() {
                let c = item_context(sh, &h, task, &ctx, it);
                let label = match it {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let r = run_item(sh, &mut h, task, sudo, &c, i + 1 == items.len()).await;
                let unreachable = r.failed.as_ref().is_some_and(|e| e.unreachable);
                rs.push((Some(label), r));
                if unreachable {
                    break;
                }
            }
        }
    }
    if let Some(escalated) = host_become {
        // What the task changed may have made any answer stale: none is kept.
        h.escalated = escalated;
        h.probes = Probes::new();
    }
    // Aggregate.
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
    let reg_value = match &items {
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
            serde_json::json!({"results": results, "changed": changed, "failed": any_failed.is_some(), "skipped": all_skipped})
        }
    };
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
    finish(sh, h, result, task)
}

/// Failed, or failed-but-ignored under `ignore_errors`.
fn failed_status(task: &Task) -> Status {
    if task.ignore_errors {
        Status::Ignored
    } else {
        Status::Failed
    }
}

fn finish(sh: &Shared, h: HostRun, mut r: HostResult, task: &Task) -> HostRun {
    let s = &h.secrets;
    if task.no_log {
        r.msg = r.msg.map(|_| "(output hidden: no_log)".into());
        r.diffs.clear();
        for c in &mut r.cmds {
            c.stdout = String::new();
            c.stderr = String::new();
        }
    }
    r.msg = r.msg.map(|m| redact(&m, s));
    r.item = r.item.map(|m| redact(&m, s));
    for d in &mut r.diffs {
        d.before = redact(&d.before, s);
        d.after = redact(&d.after, s);
    }
    for c in &mut r.cmds {
        c.cmd = redact(&c.cmd, s);
        c.stdout = redact(&c.stdout, s);
        c.stderr = redact(&c.stderr, s);
    }
    if let Some(f) = &mut r.failure {
        f.msg = redact(&f.msg, s);
        f.cmd = f.cmd.as_ref().map(|c| redact(c, s));
        f.stdout = redact(&f.stdout, s);
        f.stderr = redact(&f.stderr, s);
    }
    let _ = sh.tx.send(Event::Result(Box::new(r)));
    h
}
