//! The scheduler's defining behaviour, seen in traffic verify makes itself.
//!
//! The IPVS table only says which scheduler is configured; what it does shows in where new
//! connections land. For the scheduler the inventory names, [`plan`] says which connections to
//! open (whole requests, and idle connections held open so a real server carries active
//! connections), from which of the client's source addresses, in which order; `traffic` opens
//! them from the client and learns from each page which real server answered; [`judge`] replays
//! the scheduler's rule over what was seen (pure, unit-tested on recorded picks).
//!
//! Persistence decides where connections go as long as a client address has a template, so the
//! scheduler's own choice is judged only without persistence; with it, the check says so.

mod judge;
pub mod traffic;

use std::net::Ipv4Addr;

use super::spec::Spec;

pub use judge::judge;

/// One connection the check opens, in order. `source` indexes the client's source addresses
/// (taken in turn when there are fewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A whole request: connect, ask, read the page, close.
    Request { source: usize },
    /// A connection held open with its request unfinished until every step is done: the real
    /// server it reached carries one more active connection for the steps after it.
    Hold { source: usize },
}

/// Where one connection went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub held: bool,
    pub source: Option<Ipv4Addr>,
    /// The real server whose page answered, or why no page came back.
    pub server: Result<String, String>,
}

/// How a scheduler picks, as far as the check can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// rr: every real server in turn.
    Turns,
    /// wrr: shares proportional to the weights.
    Shares,
    /// lc, wlc, sed, nq: the least loaded by their measure of load.
    Least(Load),
    /// fo: the available real server with the highest weight.
    Highest,
    /// ovf: the highest weight whose active connections do not exceed its weight.
    Overflow,
    /// sh, mh: a hash of the source address.
    BySource,
    /// dh, lblc: the destination address (one VIP: one real server).
    ByDestination,
    /// lblcr: the destination's set of real servers, its least loaded member; the set grows
    /// while its members are overloaded.
    BySet,
}

/// The measure of load of the least-connection family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// lc: active connections (inactive ones break ties).
    Active,
    /// wlc: active connections per weight.
    ActivePerWeight,
    /// sed: (active connections + 1) per weight.
    ExpectedDelay,
    /// nq: an idle server first, else as sed.
    IdleFirst,
}

pub(crate) fn rule(scheduler: &str) -> Option<Rule> {
    Some(match scheduler {
        "rr" => Rule::Turns,
        "wrr" => Rule::Shares,
        "lc" => Rule::Least(Load::Active),
        "wlc" => Rule::Least(Load::ActivePerWeight),
        "sed" => Rule::Least(Load::ExpectedDelay),
        "nq" => Rule::Least(Load::IdleFirst),
        "fo" => Rule::Highest,
        "ovf" => Rule::Overflow,
        "sh" | "mh" => Rule::BySource,
        "dh" | "lblc" => Rule::ByDestination,
        "lblcr" => Rule::BySet,
        _ => return None,
    })
}

/// The real servers the scheduler may choose: weight above 0 and serving (keepalived takes a
/// server that fails its health check out of the table), with their weights, in inventory order.
pub(crate) fn eligible<'a>(spec: &'a Spec, serving: &dyn Fn(&str) -> bool) -> Vec<(&'a str, u32)> {
    spec.real_servers
        .iter()
        .filter(|r| r.weight > 0 && serving(&r.name))
        .map(|r| (r.name.as_str(), r.weight))
        .collect()
}

/// Most connections one check opens: enough to see a rule, few enough to stay quick.
const MOST_STEPS: usize = 60;

/// The connections that show the configured scheduler's rule, or why it cannot be seen here.
/// `sources`: how many client source addresses the client has.
pub fn plan(
    spec: &Spec,
    serving: &dyn Fn(&str) -> bool,
    sources: usize,
) -> Result<Vec<Step>, String> {
    let Some(rule) = rule(&spec.scheduler) else {
        return Err(format!(
            "lvslab knows no rule for scheduler {}",
            spec.scheduler
        ));
    };
    if spec.protocol != "tcp" {
        return Err(format!(
            "the check opens TCP connections and the service is {}",
            spec.protocol
        ));
    }
    if spec.persistence > 0 {
        return Err(format!(
            "persistence {} s sends every connection of a client address to the real server its \
             template names, so {} chooses only each address's first one (the persistence check \
             covers stickiness; with lvs_persistence_timeout=0 the scheduler is judged)",
            spec.persistence, spec.scheduler
        ));
    }
    let servers = eligible(spec, serving);
    if servers.is_empty() {
        return Err("no real server with a weight above 0 is serving".into());
    }
    let sources = sources.max(1);
    let n = servers.len();
    let total: u32 = servers.iter().map(|(_, w)| w).sum();
    let requests = |count: usize| (0..count).map(|i| Step::Request { source: i }).collect();
    Ok(match rule {
        Rule::Turns => requests((2 * n).max(4)),
        Rule::Shares => {
            let period = (total / servers.iter().fold(0, |g, (_, w)| gcd(g, *w))) as usize;
            if period > MOST_STEPS {
                return Err(format!(
                    "one wrr round of these weights takes {period} connections (more than the \
                     check's {MOST_STEPS})"
                ));
            }
            requests(period * (MOST_STEPS / period).clamp(1, 4))
        }
        Rule::Least(_) => {
            let holds = (total as usize + 1).clamp(3, 8);
            (0..holds)
                .flat_map(|i| [Step::Hold { source: i }, Step::Request { source: i + 1 }])
                .collect()
        }
        Rule::Highest => requests(n + 2),
        Rule::Overflow => (0..(total as usize + n).min(MOST_STEPS / 4))
            .map(|i| Step::Hold { source: i })
            .collect(),
        // Each source twice in a row, then once more in the reverse order: a scheduler that
        // turns (rr) moves a source, even when the sources' count is a multiple of the servers'.
        Rule::BySource => (0..sources)
            .flat_map(|i| [i, i])
            .chain((0..sources).rev())
            .map(|source| Step::Request { source })
            .collect(),
        Rule::ByDestination | Rule::BySet => requests((2 * n).max(4)),
    })
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cluster::{from_vars, tests::map};
    use serde_json::json;

    /// Two real servers, `web-1` and `web-2`, with these weights; persistence 0.
    pub(crate) fn spec(scheduler: &str, weights: [u32; 2]) -> Spec {
        let common = json!({"lan_interface": "eth7", "lvs_vip": "10.77.0.50",
            "lvs_scheduler": scheduler, "lvs_persistence_timeout": 0,
            "lab_client_addresses": ["10.77.0.1", "10.77.0.2", "10.77.0.3"]});
        let host = |addr: &str, weight: u32| {
            let mut m = map(common.clone());
            m.insert("ansible_host".into(), json!(addr));
            m.insert("lvs_weight".into(), json!(weight));
            m
        };
        let (lb, a, b) = (
            host("10.77.0.21", 1),
            host("10.77.0.31", weights[0]),
            host("10.77.0.32", weights[1]),
        );
        from_vars(&[("lb", &lb)], &[("web-1", &a), ("web-2", &b)]).unwrap()
    }

    #[test]
    fn every_scheduler_has_a_rule() {
        for s in crate::cluster::SCHEDULERS {
            assert!(rule(s).is_some(), "{s}");
        }
    }

    #[test]
    fn plans_fit_the_rule_and_say_what_they_cannot_see() {
        let all = |_: &str| true;
        assert_eq!(plan(&spec("rr", [1, 1]), &all, 3).unwrap().len(), 4);
        // wrr 2:1: whole rounds of three connections.
        assert_eq!(plan(&spec("wrr", [2, 1]), &all, 3).unwrap().len() % 3, 0);
        let lc = plan(&spec("wlc", [2, 1]), &all, 3).unwrap();
        assert!(matches!(lc[0], Step::Hold { .. }) && matches!(lc[1], Step::Request { .. }));
        assert_eq!(plan(&spec("ovf", [2, 1]), &all, 3).unwrap().len(), 5);
        let sh: Vec<Step> = [0, 0, 1, 1, 1, 0]
            .map(|source| Step::Request { source })
            .to_vec();
        assert_eq!(plan(&spec("sh", [1, 1]), &all, 2).unwrap(), sh);
        let mut sticky = spec("rr", [1, 1]);
        sticky.persistence = 50;
        assert!(plan(&sticky, &all, 3)
            .unwrap_err()
            .contains("persistence 50 s"));
        assert!(plan(&spec("rr", [0, 0]), &all, 3).is_err());
        assert!(plan(&spec("rr", [1, 1]), &|_| false, 3).is_err());
    }
}
