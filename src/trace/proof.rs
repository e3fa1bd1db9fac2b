//! verify's "forwarding proven by packets" check: a short trace, summed up in one line. In the
//! embedded lab it captures on the lab's switch; elsewhere with tcpdump on the nodes over the
//! connections verify already has. What could not be captured is "not checked" and fails: an
//! unproven path is not a pass.

use super::run::{self, Report};
use crate::verify::checks::Check;
use crate::verify::target::{Hosts, Target};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The check's name in verify's table.
pub const NAME: &str = "forwarding-packets";

/// Trace one request per client source address of `sources` (taken in turn: two at least, four
/// at most) and judge them.
pub(crate) async fn check(t: &Target, hosts: &Hosts, sources: &[Option<Ipv4Addr>]) -> Check {
    let n = sources.len().clamp(2, 4);
    let from: Vec<Option<Ipv4Addr>> = (0..n)
        .map(|i| sources.get(i % sources.len().max(1)).copied().flatten())
        .collect();
    let report = match (&t.lab_ns, &t.lab) {
        (Some(ns), Some(topo)) => {
            let (spec, ns, topo) = (t.spec.clone(), ns.clone(), topo.clone());
            // No settling: the verdict needs no closing frame, only the diagram would.
            tokio::task::spawn_blocking(move || {
                run::in_lab(&spec, &ns, &topo, from, None, Duration::ZERO)
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        }
        _ => run::with_hosts(t, hosts, from, None)
            .await
            .map_err(|e| e.to_string()),
    };
    match report {
        Ok(r) => summary(&r),
        Err(e) => failed(format!("capture failed: {e}")),
    }
}

/// The check, failed for a reason that stopped the capture itself.
pub fn failed(why: String) -> Check {
    Check {
        host: "client".into(),
        name: NAME,
        ok: false,
        detail: why,
    }
}

/// One line for a trace: what the director did to every request, or what contradicts the
/// configured method.
pub fn summary(r: &Report) -> Check {
    let mut check = Check {
        host: "client".into(),
        name: NAME,
        ok: r.ok,
        detail: String::new(),
    };
    if !r.not_checked.is_empty() {
        check.ok = false;
        check.detail = r.not_checked.join("; ");
        return check;
    }
    let collect = |f: fn(&run::Traced) -> Vec<String>| -> Vec<String> {
        let mut seen = BTreeSet::new();
        r.requests
            .iter()
            .flat_map(f)
            .filter(|s| seen.insert(s.clone()))
            .collect()
    };
    let (what, lines) = if r.ok {
        (
            "forwarded as configured",
            collect(|t| t.verdict.changes.clone()),
        )
    } else {
        (
            "not all as configured",
            collect(|t| t.verdict.problems.clone()),
        )
    };
    check.detail = format!(
        "{} request(s) seen on {}, {what} ({}): {}",
        r.requests.len(),
        r.captured_on,
        r.method.to_uppercase(),
        lines.join("; ")
    );
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::run::Traced;

    fn report(problems: &[&str]) -> Report {
        let traced = |p: &[&str]| Traced::example(p, vec![]);
        Report {
            method: "dr",
            service: "10.0.0.50:80".into(),
            captured_on: "the lab's switch".into(),
            unseen: vec![],
            not_checked: vec![],
            points: vec![],
            pcap_files: vec![],
            requests: vec![traced(&[]), traced(problems)],
            ok: problems.is_empty(),
        }
    }

    #[test]
    fn the_same_change_is_said_once() {
        let c = summary(&report(&[]));
        assert!(c.ok);
        assert_eq!(
            c.detail,
            "2 request(s) seen on the lab's switch, forwarded as configured (DR): \
             DR: destination MAC rewritten to web1's"
        );
    }

    #[test]
    fn contradictions_fail_and_are_named() {
        let c = summary(&report(&[
            "the packets show DR, the inventory configures NAT",
        ]));
        assert!(!c.ok);
        assert!(c
            .detail
            .ends_with("the packets show DR, the inventory configures NAT"));
    }

    #[test]
    fn not_checked_is_a_failure() {
        let mut r = report(&[]);
        r.not_checked = vec!["not checked: tcpdump missing on web1".into()];
        let c = summary(&r);
        assert!(!c.ok);
        assert_eq!(c.detail, "not checked: tcpdump missing on web1");
    }
}
