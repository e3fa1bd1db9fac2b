//! `lvslab verify --failover`: after verify's checks pass, prove the high availability with
//! measured numbers. A request loop watches the VIP from the client the whole time while the
//! drills, one after the other:
//!
//! 1. stop the master director hard ([`fault::HardStop`]) — the backup must take the VIP;
//! 2. bring it back — it must preempt;
//! 3. stop a real server's web server — keepalived's health check must remove it from the
//!    active director's IPVS table, and every request must go to the remaining servers;
//! 4. start it again — the health check must put it back;
//! 5. stop keepalived on the master cleanly — the backup takes over after its skew only;
//! 6. start it again — the master preempts.
//!
//! Each measured time is compared with the bound the configuration promises ([`expect`]) plus a
//! margin. Whatever happens — a failed drill, an error, Ctrl-C, SIGTERM — every fault is undone
//! ([`fault::Ledger`]) and the drill waits until the master holds the VIP again and every real
//! server is back, then compares the cluster's state with the one it found.

pub mod analyze;
pub mod client;
pub mod expect;
pub mod fault;
pub mod observe;
pub mod render;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::client::{Loop, Sample};
use self::expect::Timers;
use self::fault::{HardStop, Ledger};
use self::observe::{holds_vip, lists_real_server, until, LabState};
use super::render::Report;
use super::run;
use super::spec::{RealServer, Vars};
use super::target::{self, Hosts, Target, VerifyError};
use crate::secret::Redactor;
use crate::ssh::Connector;

/// What the user asked of the drill.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Seconds a measurement may exceed its expected bound; `None`: [`expect::LAB_MARGIN`] in
    /// the embedded lab, [`expect::DEFAULT_MARGIN`] on real hosts.
    pub margin: Option<f64>,
    /// `None`: freeze the VM in the embedded lab, SIGKILL keepalived on real hosts.
    pub hard_stop: Option<HardStop>,
}

/// Something that happened during a phase, in seconds since the phase started.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: f64,
    pub what: String,
}

/// One measured time against its bound.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    pub what: String,
    /// Seconds from the fault to the event; `None` when it never happened.
    pub measured: Option<f64>,
    pub expected: f64,
    /// `expected + margin`: beyond it the drill fails.
    pub limit: f64,
    pub ok: bool,
}

/// One drill phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    /// Seconds since the drills began.
    pub start: f64,
    pub end: f64,
    pub events: Vec<Event>,
    pub measures: Vec<Measure>,
    pub requests: usize,
    pub failed_requests: usize,
    /// Answers per real server during the phase.
    pub answers: BTreeMap<String, usize>,
}

/// Everything the drills found (the `failover` member of verify's JSON document).
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub hard_stop: Option<HardStop>,
    pub margin: f64,
    pub timers: Option<Timers>,
    pub master: Option<String>,
    pub backup: Option<String>,
    pub phases: Vec<Phase>,
    pub errors: Vec<String>,
    pub state_before: Option<LabState>,
    pub state_after: Option<LabState>,
    /// The cluster was left as it was found.
    pub restored: bool,
    pub ok: bool,
    /// Every request of the loop (drawn in the timeline, not part of the JSON).
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

impl DrillReport {
    fn failed(margin: f64, error: String) -> DrillReport {
        DrillReport {
            hard_stop: None,
            margin,
            timers: None,
            master: None,
            backup: None,
            phases: Vec::new(),
            errors: vec![error],
            state_before: None,
            state_after: None,
            restored: false,
            ok: false,
            samples: Vec::new(),
        }
    }
}

/// A run of successes this long means the service answers again.
const STABLE: f64 = 1.0;
/// Extra time any wait allows beyond `expected + margin` before giving up on the event.
const PATIENCE: f64 = 6.0;

/// verify's checks, then — when they pass — the drills.
pub(crate) fn verify_and_drill(
    aim: &target::Aim,
    requests: u32,
    opts: Options,
) -> Result<(Report, Option<DrillReport>, Redactor), VerifyError> {
    let inventory = aim.inventory;
    let t = target::target(aim)?;
    let hard = match (opts.hard_stop, t.lab_ns.is_some()) {
        (Some(HardStop::VmPause), false) => {
            return Err(VerifyError::Drill(format!(
                "--hard-stop pause needs the inventory's embedded lab to be up ({} is not); use --hard-stop kill on real hosts",
                inventory.display()
            )))
        }
        (Some(h), _) => h,
        (None, true) => HardStop::VmPause,
        (None, false) => HardStop::Sigkill,
    };
    let (master, backup) = pair(&t).ok_or_else(|| {
        VerifyError::Drill(
            "the failover drill needs a keepalived MASTER and a BACKUP in `directors`".into(),
        )
    })?;
    let timers = Timers::from_vars(
        &Vars {
            host: &master,
            vars: &t.vars[&master],
        },
        &Vars {
            host: &backup,
            vars: &t.vars[&backup],
        },
    )?;
    let margin = opts.margin.unwrap_or(if t.lab_ns.is_some() {
        expect::LAB_MARGIN
    } else {
        expect::DEFAULT_MARGIN
    });
    let rt = target::runtime()?;
    let (report, drill) = rt.block_on(async {
        let report = run::gather(&t, requests).await;
        if !report.ok || report.mode != "ha" {
            let why = if report.ok {
                "not run: the drills need ha mode (keepalived on the directors)".to_string()
            } else {
                "not run: verify's checks failed, the cluster is not in a state to drill"
                    .to_string()
            };
            return (report, Some(DrillReport::failed(margin, why)));
        }
        let drill = drills(&t, inventory, hard, timers, master, backup, margin).await;
        (report, Some(drill))
    });
    Ok((report, drill, t.secrets))
}

/// The keepalived MASTER and the first BACKUP.
fn pair(t: &Target) -> Option<(String, String)> {
    let master = t
        .spec
        .directors
        .iter()
        .find(|d| d.state.as_deref() == Some("MASTER"))?;
    let backup = t
        .spec
        .directors
        .iter()
        .find(|d| d.name != master.name && d.state.as_deref() == Some("BACKUP"))?;
    Some((master.name.clone(), backup.name.clone()))
}

async fn drills(
    t: &Target,
    inventory: &Path,
    hard: HardStop,
    timers: Timers,
    master: String,
    backup: String,
    margin: f64,
) -> DrillReport {
    let mut report = DrillReport::failed(margin, String::new());
    report.errors.clear();
    report.hard_stop = Some(hard);
    report.timers = Some(timers);
    report.master = Some(master.clone());
    report.backup = Some(backup.clone());
    let connector = match Connector::new() {
        Ok(c) => c,
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    let hosts = target::connect_all(t.conns.clone(), &connector).await;
    let epoch = Instant::now();
    let client = Loop::start(&t.spec, t.lab_ns.clone(), epoch);
    let ledger = Ledger::new(inventory);
    let phases = Mutex::new(Vec::new());
    let before = observe::snapshot(t, &hosts).await;
    let cx = Cx {
        t,
        hosts: &hosts,
        ledger: &ledger,
        epoch,
        client: &client,
        timers,
        margin,
        master,
        backup,
        hard,
        phases: &phases,
    };
    let outcome = {
        let work = cx.sequence(&before);
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let sigterm = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted (SIGINT): faults undone, lab restored".to_string()),
            _ = sigterm => Err("interrupted (SIGTERM): faults undone, lab restored".to_string()),
        }
    };
    if let Err(e) = outcome {
        report.errors.push(e);
    }
    // Put everything back, whatever happened above.
    for p in ledger.restore(&hosts).await {
        report.errors.push(format!("could not undo {p}"));
    }
    if let Err(e) = cx.settle(&before).await {
        report.errors.push(e);
    }
    let after = observe::snapshot(t, &hosts).await;
    report.restored = after == before;
    if !report.restored {
        report
            .errors
            .push("the cluster's state after the drills differs from the state before".into());
    }
    report.state_before = Some(before);
    report.state_after = Some(after);
    report.phases = phases.into_inner().unwrap_or_default();
    report.samples = client.stop();
    for h in hosts.values().flatten() {
        h.close().await;
    }
    report.ok = report.errors.is_empty()
        && report.restored
        && !report.phases.is_empty()
        && report
            .phases
            .iter()
            .all(|p| p.measures.iter().all(|m| m.ok));
    report
}

/// Everything a drill phase needs.
struct Cx<'a> {
    t: &'a Target,
    hosts: &'a Hosts,
    ledger: &'a Ledger,
    epoch: Instant,
    client: &'a Loop,
    timers: Timers,
    margin: f64,
    master: String,
    backup: String,
    hard: HardStop,
    phases: &'a Mutex<Vec<Phase>>,
}

/// A phase being recorded.
struct Recording {
    name: String,
    start: f64,
    events: Vec<Event>,
    measures: Vec<Measure>,
}

impl Cx<'_> {
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn begin(&self, name: String) -> Recording {
        Recording {
            name,
            start: self.now(),
            events: Vec::new(),
            measures: Vec::new(),
        }
    }

    fn event(&self, r: &mut Recording, at: f64, what: String) {
        r.events.push(Event {
            at: at - r.start,
            what,
        });
    }

    /// What was watched for: the event when it happened, and its measurement.
    fn observed(&self, r: &mut Recording, what: String, from: f64, at: Option<f64>, expected: f64) {
        if let Some(a) = at {
            self.event(r, a, what.clone());
        }
        self.measure(r, &what, from, at, expected);
    }

    /// Record a measurement from `from` to `at` against `expected`.
    fn measure(&self, r: &mut Recording, what: &str, from: f64, at: Option<f64>, expected: f64) {
        let measured = at.map(|a| (a - from).max(0.0));
        let limit = expected + self.margin;
        r.measures.push(Measure {
            what: what.to_string(),
            measured,
            expected,
            limit,
            ok: measured.is_some_and(|m| m <= limit),
        });
    }

    fn end(&self, r: Recording, fault_at: f64) {
        let end = self.now();
        let samples = self.client.snapshot();
        let mut events = r.events;
        events.sort_by(|a, b| a.at.total_cmp(&b.at));
        let phase = Phase {
            requests: analyze::window(&samples, fault_at, end).count(),
            failed_requests: analyze::failures(&samples, fault_at, end),
            answers: analyze::answers(&samples, fault_at, end),
            name: r.name,
            start: r.start,
            end,
            events,
            measures: r.measures,
        };
        if let Ok(mut g) = self.phases.lock() {
            g.push(phase);
        }
    }

    /// Wait until the request loop has answered for `STABLE` seconds in a row since `from`;
    /// when that run began.
    async fn answering(&self, from: f64, timeout: f64) -> Option<f64> {
        let deadline = self.now() + timeout;
        loop {
            // Only requests that have had the time to fail count.
            let settled = self.now() - client::TIMEOUT.as_secs_f64() - 0.1;
            let mut samples = self.client.snapshot();
            samples.retain(|s| s.at <= settled);
            if let Some(at) = analyze::answering_since(&samples, from, STABLE) {
                return Some(at);
            }
            if self.now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn only_master_holds(&self) -> bool {
        let (m, b) = tokio::join!(
            holds_vip(self.hosts, &self.t.spec, &self.master),
            holds_vip(self.hosts, &self.t.spec, &self.backup)
        );
        m == Some(true) && b == Some(false)
    }

    async fn holds(&self, host: &str) -> bool {
        holds_vip(self.hosts, &self.t.spec, host).await == Some(true)
    }

    /// The service answered again after a fault at `fault`: measured and recorded. `moved`: when
    /// the VIP moved (clients may fail right after it, until its gratuitous ARP lands), so the
    /// service only counts as back after it.
    async fn service_back(
        &self,
        r: &mut Recording,
        what: &str,
        fault: f64,
        expected: f64,
        moved: Option<f64>,
    ) {
        if let Some(m) = moved {
            let wait = m + STABLE + client::TIMEOUT.as_secs_f64() + 0.1 - self.now();
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            }
        }
        let at = self
            .answering(fault, expected + self.margin + PATIENCE)
            .await;
        let failed = analyze::failures(&self.client.snapshot(), fault, at.unwrap_or(self.now()));
        self.event(
            r,
            at.unwrap_or(self.now()),
            match at {
                Some(_) => format!("{what} ({failed} request(s) failed meanwhile)"),
                None => format!("requests still failing ({failed} failed so far)"),
            },
        );
        self.measure(r, what, fault, at, expected);
    }

    async fn sequence(&self, before: &LabState) -> Result<(), String> {
        if self.answering(self.now(), 15.0).await.is_none() {
            return Err("the VIP does not answer steadily before the drills".into());
        }

        // 1. Hard stop of the master.
        self.hard_stop().await?;
        // 2. The master comes back and preempts.
        self.master_back().await?;
        // 3./4. A real server's web server stopped, then started: the health check removes it,
        // then readmits it. With persistence, the client's sources that were pinned to it move
        // to the others and stay there while their templates live (persistence_timeout after
        // their last connection, longer while connections linger): soft state the drill cannot
        // reset, and does not count as the cluster's state.
        let rs = self.busiest_real_server();
        let unit = observe::web_unit(before, &rs.name)
            .ok_or_else(|| format!("{}: no web server unit found", rs.name))?;
        self.web_server(&rs, &unit, false).await?;
        self.web_server(&rs, &unit, true).await?;

        // 5. A clean keepalived stop on the master.
        self.clean_stop().await?;
        // 6. keepalived started again: the master preempts.
        self.keepalived_started().await?;
        Ok(())
    }

    /// A hard stop of the master (its VM frozen, or keepalived killed): the backup takes over.
    async fn hard_stop(&self) -> Result<(), String> {
        let (m, b, tm) = (self.master.clone(), self.backup.clone(), self.timers);
        let hosts = self.hosts;
        let mut r = self.begin(format!("hard stop of {m}"));
        let t0 = self.now();
        match self.hard {
            HardStop::VmPause => self.ledger.freeze(&m)?,
            HardStop::Sigkill => self.ledger.stop_unit(hosts, &m, "keepalived", true).await?,
        }
        self.event(
            &mut r,
            t0,
            format!(
                "{m}: {}",
                match self.hard {
                    HardStop::VmPause => "VM frozen (QMP stop)",
                    HardStop::Sigkill => "keepalived killed (SIGKILL)",
                }
            ),
        );
        let at = until(self.epoch, tm.takeover() + self.margin + PATIENCE, || {
            self.holds(&b)
        })
        .await;
        self.observed(&mut r, format!("{b} holds the VIP"), t0, at, tm.takeover());
        self.service_back(&mut r, "requests answered again", t0, tm.takeover(), at)
            .await;
        self.end(r, t0);
        Ok(())
    }

    /// The master comes back and preempts.
    async fn master_back(&self) -> Result<(), String> {
        let (m, b, tm) = (self.master.clone(), self.backup.clone(), self.timers);
        let hosts = self.hosts;
        let mut r = self.begin(format!("{m} back"));
        let t1 = self.now();
        let expected = match self.hard {
            HardStop::VmPause => {
                self.ledger.thaw(&m)?;
                self.event(&mut r, t1, format!("{m}: VM thawed (QMP cont)"));
                tm.preempt_after_freeze()
            }
            HardStop::Sigkill => {
                self.ledger.start_unit(hosts, &m, "keepalived").await?;
                self.event(&mut r, t1, format!("{m}: keepalived started"));
                tm.preempt_after_start()
            }
        };
        let at = until(self.epoch, expected + self.margin + PATIENCE, || {
            self.only_master_holds()
        })
        .await;
        self.observed(
            &mut r,
            format!("{m} holds the VIP again, {b} released it"),
            t1,
            at,
            expected,
        );
        self.service_back(&mut r, "requests answered", t1, expected, at)
            .await;
        self.end(r, t1);
        Ok(())
    }

    /// A clean keepalived stop on the master: it drops the VIP and sends priority 0, and the backup
    /// takes over after its skew. Measured from the moment the master released the VIP (how long
    /// systemctl and keepalived take to get there is the machine's, not VRRP's), with the whole
    /// time from the command shown in the timeline.
    async fn clean_stop(&self) -> Result<(), String> {
        let (m, b, tm) = (self.master.clone(), self.backup.clone(), self.timers);
        let hosts = self.hosts;
        let mut r = self.begin(format!("clean keepalived stop on {m}"));
        let t2 = self.now();
        self.event(&mut r, t2, format!("{m}: systemctl stop keepalived"));
        let patience = tm.clean_stop() + self.margin + PATIENCE;
        let (stopped, released, at) = tokio::join!(
            async {
                let res = self.ledger.stop_unit(hosts, &m, "keepalived", false).await;
                (res, self.now())
            },
            until(self.epoch, patience + 10.0, || async {
                holds_vip(hosts, &self.t.spec, &m).await == Some(false)
            }),
            until(self.epoch, patience + 10.0, || self.holds(&b))
        );
        stopped.0?;
        self.event(&mut r, stopped.1, format!("{m}: keepalived stopped"));
        let from = released.unwrap_or(t2);
        if let Some(rel) = released {
            self.event(&mut r, rel, format!("{m} released the VIP (priority 0)"));
        }
        self.observed(
            &mut r,
            format!("{b} holds the VIP"),
            from,
            at,
            tm.clean_stop(),
        );
        self.service_back(&mut r, "requests answered again", from, tm.clean_stop(), at)
            .await;
        self.end(r, t2);
        Ok(())
    }

    /// keepalived started again: the master preempts. The clock starts when systemd reports
    /// keepalived ready (its start-up time on a slow machine is not VRRP's).
    async fn keepalived_started(&self) -> Result<(), String> {
        let (m, b, tm) = (self.master.clone(), self.backup.clone(), self.timers);
        let hosts = self.hosts;
        let mut r = self.begin(format!("keepalived started on {m}"));
        let issued = self.now();
        self.event(&mut r, issued, format!("{m}: systemctl start keepalived"));
        let expected = tm.preempt_after_start();
        let (started, at) = tokio::join!(
            async {
                let res = self.ledger.start_unit(hosts, &m, "keepalived").await;
                (res, self.now())
            },
            until(self.epoch, expected + self.margin + PATIENCE + 30.0, || {
                self.only_master_holds()
            })
        );
        started.0?;
        let t3 = started.1;
        self.event(&mut r, t3, format!("{m}: keepalived ready"));
        self.observed(
            &mut r,
            format!("{m} holds the VIP again, {b} released it"),
            t3,
            at,
            expected,
        );
        self.service_back(&mut r, "requests answered", t3, expected, at)
            .await;
        self.end(r, issued);
        Ok(())
    }

    /// Stop (`up` false) or start a real server's web server and watch the active director's
    /// IPVS table follow. The clock starts when systemctl returned (the web server is gone, or
    /// ready, by then).
    async fn web_server(&self, rs: &RealServer, unit: &str, up: bool) -> Result<(), String> {
        let (m, tm) = (&self.master, self.timers);
        let (verb, done) = if up {
            ("start", "started")
        } else {
            ("stop", "stopped")
        };
        let mut r = self.begin(format!("{unit} {done} on {}", rs.name));
        let issued = self.now();
        self.event(
            &mut r,
            issued,
            format!("{}: systemctl {verb} {unit}", rs.name),
        );
        if up {
            self.ledger.start_unit(self.hosts, &rs.name, unit).await?;
        } else {
            self.ledger
                .stop_unit(self.hosts, &rs.name, unit, false)
                .await?;
        }
        let t = self.now();
        self.event(&mut r, t, format!("{}: {unit} {done}", rs.name));
        let expected = if up { tm.readmission() } else { tm.removal() };
        let at = until(self.epoch, expected + self.margin + PATIENCE, || async {
            lists_real_server(self.hosts, &self.t.spec, m, rs).await == Some(up)
        })
        .await;
        let label = if up {
            format!("{m}'s IPVS table lists {} again", rs.name)
        } else {
            format!("{m}'s IPVS table dropped {} (health check)", rs.name)
        };
        self.observed(&mut r, label, t, at, expected);
        if up {
            // With persistence the client's sources stay pinned where they were: an answer
            // from the readmitted server is noted when it comes, not required.
            tokio::time::sleep(Duration::from_secs_f64(STABLE)).await;
            if let Some(a) = analyze::first_answer_from(&self.client.snapshot(), &rs.name, t) {
                self.event(&mut r, a, format!("first answer from {} again", rs.name));
            }
        }
        let what = if up {
            "requests answered"
        } else {
            "every request answered by the others"
        };
        self.service_back(&mut r, what, t, expected, at).await;
        self.end(r, issued);
        Ok(())
    }

    /// The real server that answered most in the last seconds (its failure shows in the loop).
    fn busiest_real_server(&self) -> RealServer {
        let now = self.now();
        let counts = analyze::answers(&self.client.snapshot(), now - 3.0, now);
        self.t
            .spec
            .real_servers
            .iter()
            .max_by_key(|r| counts.get(&r.name).copied().unwrap_or(0))
            .cloned()
            .unwrap_or_else(|| self.t.spec.real_servers[0].clone())
    }

    /// After the faults are undone: wait until the master holds the VIP alone and every real
    /// server that was in the active director's table is back, and the VIP answers.
    async fn settle(&self, before: &LabState) -> Result<(), String> {
        let tm = self.timers;
        if until(
            self.epoch,
            tm.preempt_after_start() + self.margin + 20.0,
            || self.only_master_holds(),
        )
        .await
        .is_none()
        {
            return Err(format!("{} did not take the VIP back", self.master));
        }
        let want = before.ipvs.get(&self.master).cloned().unwrap_or_default();
        let wait = tm.removal() + tm.readmission() + self.margin + 10.0;
        let back = until(self.epoch, wait, || async {
            let s = observe::exec(
                self.hosts,
                &self.master,
                "LC_ALL=C ipvsadm -S -n",
                Duration::from_secs(3),
            )
            .await
            .unwrap_or_default();
            let flag = if self.t.spec.protocol == "udp" {
                "-u"
            } else {
                "-t"
            };
            let svc = crate::modules::parse_saved(&s, flag, &self.t.spec.service().to_string());
            want.iter().all(|k| svc.reals.contains_key(k))
        })
        .await;
        if back.is_none() {
            return Err("not every real server came back into the IPVS table".into());
        }
        if self.answering(self.now(), 15.0).await.is_none() {
            return Err("the VIP does not answer steadily after the drills".into());
        }
        Ok(())
    }
}
