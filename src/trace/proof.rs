//! verify's "forwarding proven by packets" check: a short trace in the embedded lab, summed up
//! in one line. Elsewhere nothing can be captured, so the check says "not checked" and why —
//! and fails, since an unproven path is not a pass.

use super::run::{self, Report};
use crate::cluster::Cluster;
use crate::lab::topology::Topology;
use crate::verify::checks::Check;
use std::collections::BTreeSet;

/// The check's name in verify's table.
pub const NAME: &str = "forwarding-packets";

/// Trace one request per client address (two at least) on the lab's switch (`lab_ns`, the
/// lab's namespace, and `lab`, its shape, when it is up) and judge them.
pub fn check(spec: &Cluster, lab_ns: Option<&str>, lab: Option<&Topology>) -> Check {
    let report = match (lab_ns, lab) {
        (Some(ns), Some(topo)) => {
            let requests = spec.client_addrs.len().clamp(2, 4) as u32;
            run::in_lab(spec, ns, topo, requests, None)
        }
        _ => Ok(run::not_traced(spec)),
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
    if let Some(why) = &r.not_traced {
        check.ok = false;
        check.detail = format!("not checked: {why}");
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
        "{} request(s) seen on the lab's switch, {what} ({}): {}",
        r.requests.len(),
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
            not_traced: None,
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
        r.not_traced = Some("no lab".into());
        let c = summary(&r);
        assert!(!c.ok);
        assert_eq!(c.detail, "not checked: no lab");
    }
}
