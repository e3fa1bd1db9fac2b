//! What the failover drills should measure, computed from the inventory's keepalived settings
//!, and the margin a measurement may exceed it by before the drill fails.
//!
//! Every expectation is an upper bound measured from the moment the fault was injected:
//! - hard stop: the backup declares the master dead after `3 × advert_int + skew`, with
//!   `skew = (256 − backup priority) / 256` s (VRRP's Master_Down_Interval). The last advert
//!   left the master up to one `advert_int` before the fault, so the VIP may move sooner.
//! - clean `keepalived` stop: the master sends priority 0; the backup takes over after its skew.
//! - master back after a freeze: it never left MASTER state, so its next advert (≤ `advert_int`)
//!   sends the backup back to BACKUP.
//! - keepalived restarted on the master: it starts as BACKUP and, preempting, takes over once
//!   its own Master_Down_Interval (`3 × advert_int + its skew`) passed.
//! - health check removal: the next check comes within `delay_loop`, then it is retried `retry`
//!   times `delay_before_retry` apart, each attempt allowed `connect_timeout`.
//! - readmission: the next attempt (within `delay_loop`, or `delay_before_retry` while retrying)
//!   succeeds within `connect_timeout`.

pub use crate::cluster::Timers;

/// Seconds a measurement may exceed its expected bound on real hosts: the request loop's
/// granularity (50 ms, and its 500 ms timeout), ssh polling (a round trip per observation), and
/// gratuitous ARP reaching the client.
pub const DEFAULT_MARGIN: f64 = 1.0;
/// The same in the embedded lab, whose emulated (TCG) VMs on a shared machine run keepalived's
/// timers and the polls late by up to a second more.
pub const LAB_MARGIN: f64 = 2.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests::map;
    use crate::cluster::Vars;
    use serde_json::json;

    #[test]
    fn seed_lab_bounds() {
        let common = json!({"keepalived_advert_int": 1, "keepalived_delay_loop": 3,
            "keepalived_connect_timeout": 3, "keepalived_retry": 3, "keepalived_delay_before_retry": 3});
        let mut m = map(common.clone());
        m.insert("keepalived_priority".into(), json!(100));
        let mut b = map(common);
        b.insert("keepalived_priority".into(), json!("50"));
        let t = Timers::from_vars(
            &Vars {
                host: "node01",
                vars: &m,
            },
            &Vars {
                host: "node04",
                vars: &b,
            },
        )
        .unwrap();
        assert_eq!(t.takeover(), 3.0 + 206.0 / 256.0);
        assert_eq!(t.clean_stop(), 206.0 / 256.0);
        assert_eq!(t.preempt_after_start(), 3.0 + 156.0 / 256.0);
        assert_eq!(t.removal(), 3.0 + 9.0 + 12.0);
        assert_eq!(t.readmission(), 6.0);
    }

    #[test]
    fn names_a_bad_priority() {
        let m = map(json!({"keepalived_priority": 300}));
        let v = Vars {
            host: "lb-a",
            vars: &m,
        };
        let err = Timers::from_vars(&v, &v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host lb-a: variable `keepalived_priority` must be between 1 and 254"
        );
    }
}
