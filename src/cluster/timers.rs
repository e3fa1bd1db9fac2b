//! The keepalived timers of the cluster (with keepalived's own defaults), and the upper bounds
//! they put on each failover event (VRRP's Master_Down_Interval, the health checks' retries).

use serde::Serialize;

use super::defaults::KEEPALIVED_PRIORITY;
use super::{ClusterError, Vars};

/// The keepalived timers the drills are measured against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timers {
    pub advert_int: f64,
    pub master_priority: u8,
    pub backup_priority: u8,
    pub delay_loop: f64,
    pub connect_timeout: f64,
    pub retry: f64,
    pub delay_before_retry: f64,
}

impl Timers {
    /// From the master's and the backup's variables (with keepalived's own defaults).
    pub(crate) fn from_vars(master: &Vars, backup: &Vars) -> Result<Timers, ClusterError> {
        let prio = |v: &Vars| -> Result<u8, ClusterError> {
            let p = v
                .opt_int("keepalived_priority")?
                .unwrap_or(KEEPALIVED_PRIORITY);
            u8::try_from(p).map_err(|_| ClusterError {
                host: v.host.to_string(),
                var: "keepalived_priority".into(),
                problem: "must be between 1 and 254".into(),
            })
        };
        let f = |v: &Vars, k: &str| v.int(k).map(|x| x as f64);
        Ok(Timers {
            advert_int: f(master, "keepalived_advert_int")?,
            master_priority: prio(master)?,
            backup_priority: prio(backup)?,
            delay_loop: f(master, "keepalived_delay_loop")?,
            connect_timeout: f(master, "keepalived_connect_timeout")?,
            retry: f(master, "keepalived_retry")?,
            delay_before_retry: f(master, "keepalived_delay_before_retry")?,
        })
    }

    fn skew(priority: u8) -> f64 {
        (256.0 - f64::from(priority)) / 256.0
    }

    /// Hard stop: the backup's Master_Down_Interval.
    pub fn takeover(&self) -> f64 {
        3.0 * self.advert_int + Self::skew(self.backup_priority)
    }

    /// Clean stop: priority 0 from the master, the backup waits its skew only.
    pub fn clean_stop(&self) -> f64 {
        Self::skew(self.backup_priority)
    }

    /// A frozen master thawed: its next advert.
    pub fn preempt_after_freeze(&self) -> f64 {
        self.advert_int
    }

    /// keepalived (re)started on the master: its own Master_Down_Interval, then it preempts.
    pub fn preempt_after_start(&self) -> f64 {
        3.0 * self.advert_int + Self::skew(self.master_priority)
    }

    /// A real server's web server stopped: until keepalived removes it from the IPVS table.
    pub fn removal(&self) -> f64 {
        self.delay_loop
            + self.retry * self.delay_before_retry
            + (self.retry + 1.0) * self.connect_timeout
    }

    /// The web server back: until keepalived puts the real server back.
    pub fn readmission(&self) -> f64 {
        self.delay_loop.max(self.delay_before_retry) + self.connect_timeout
    }
}
