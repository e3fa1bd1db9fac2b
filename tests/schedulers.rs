//! Every IPVS scheduler's defining behaviour, judged by `verify` from the traffic it makes, on
//! the embedded microVM lab (real kernel IPVS, real keepalived, real apache) through the real
//! `lvslab` binary: each scheduler set up with `-e lvs_scheduler=NAME` passes its check, and a
//! wrong weight or scheduler put on the director by hand fails it.
//!
//! Needs root and the lab's host packages (README). Without root the test FAILS, unless
//! `LVSLAB_SKIP_LAB_TESTS=1` skips it on purpose. The lab is left as it was found: torn down,
//! and down again if it was down before.

use std::path::Path;

use serde_json::Value;

mod lab_util;

use lab_util::{
    failed_check_details, lab_tests_enabled, lvslab, ok, repo, verify_until, DownAgain,
};

use lvslab::cluster::{from_vars, Cluster};

/// The cluster the inventory describes (names and addresses come from there, never from here).
fn cluster(inv: &Path) -> Cluster {
    let inventory = lvslab::inventory::Inventory::load(inv).expect("inventory loads");
    let vars = |g: &str| -> Vec<(String, serde_json::Map<String, Value>)> {
        inventory
            .group_hosts(g)
            .unwrap_or_default()
            .into_iter()
            .map(|h| (h.to_string(), inventory.host_vars(h).expect("host vars")))
            .collect()
    };
    let (d, r) = (vars("directors"), vars("realservers"));
    let d: Vec<(&str, &serde_json::Map<String, Value>)> =
        d.iter().map(|(n, m)| (n.as_str(), m)).collect();
    let r: Vec<(&str, &serde_json::Map<String, Value>)> =
        r.iter().map(|(n, m)| (n.as_str(), m)).collect();
    from_vars(&d, &r).expect("the inventory describes a cluster")
}

/// The scheduler check of a verify report: (passed, detail).
fn scheduler_check(doc: &Value) -> (bool, String) {
    check(doc, "scheduler")
}

/// A check of a verify report by name: (passed, detail).
fn check(doc: &Value, name: &str) -> (bool, String) {
    let c = doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("verify ran no {name} check: {doc:#}"));
    (
        c["ok"] == true,
        c["detail"].as_str().unwrap_or_default().to_string(),
    )
}

/// `lvslab --json verify -e EXTRA...`, once: (exit status 0, the report).
fn verify_once(inv: &Path, extra: &str) -> Value {
    verify_with(inv, &[extra])
}

fn verify_with(inv: &Path, extras: &[&str]) -> Value {
    let mut args = vec!["--json", "verify"];
    for e in extras {
        args.extend(["-e", e]);
    }
    let out = lvslab(inv, &args);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("verify prints one JSON document");
    assert_eq!(out.status.success(), doc["ok"] == true);
    doc
}

/// Run `ipvsadm ARGS` on the director, as an operator changing the table by hand would.
fn ipvsadm(inv: &Path, director: &str, args: &[String]) {
    let mut a = vec!["lab", "ssh", director, "ipvsadm"];
    a.extend(args.iter().map(String::as_str));
    ok(inv, &a);
}

#[test]
fn every_scheduler_shows_its_rule_and_a_wrong_table_fails() {
    if !lab_tests_enabled() {
        return;
    }
    let inv = repo().join("tests/inventories/schedulers.yml");
    let _down_again = DownAgain::new(&inv);
    ok(&inv, &["lab", "up"]);
    let c = cluster(&inv);
    let director = c.primary_director().expect("a director").name.clone();
    // The first setup installs the packages; each after it changes the scheduler only.
    for s in lvslab::cluster::SCHEDULERS {
        let e = format!("lvs_scheduler={s}");
        ok(&inv, &["setup", "-e", &e]);
        let (passed, doc) = verify_until(&inv, &["-e", &e], 5);
        assert!(passed, "verify with {s}: {:?}", failed_check_details(&doc));
        let (_, detail) = scheduler_check(&doc);
        assert!(
            !detail.contains("not judged") && detail.starts_with(&format!("{s}: ")),
            "{s}: {detail}"
        );
    }

    // Wrong by hand on the director, the inventory unchanged: the traffic shows it.
    let service = c.service().to_string();
    let heaviest = c
        .real_servers
        .iter()
        .max_by_key(|r| r.weight)
        .expect("real servers");
    let lightest = c
        .real_servers
        .iter()
        .min_by_key(|r| r.weight)
        .expect("real servers");
    let method = c.method.ipvsadm_flag().to_string();
    // A weight: the lightest real server made the heaviest.
    for s in ["wrr", "fo"] {
        let e = format!("lvs_scheduler={s}");
        ok(&inv, &["setup", "-e", &e]);
        let rs = format!("{}:{}", lightest.addr, lightest.port);
        let w = (heaviest.weight * 3).to_string();
        ipvsadm(
            &inv,
            &director,
            &["-e", "-t", &service, "-r", &rs, &method, "-w", &w].map(String::from),
        );
        let doc = verify_once(&inv, &e);
        let (passed, detail) = scheduler_check(&doc);
        assert!(
            !passed,
            "{s} with {} at weight {w}: {detail}",
            lightest.name
        );
        let w = lightest.weight.to_string();
        ipvsadm(
            &inv,
            &director,
            &["-e", "-t", &service, "-r", &rs, &method, "-w", &w].map(String::from),
        );
    }
    // A scheduler: the table round-robins where the inventory says otherwise.
    for s in ["wlc", "sh"] {
        let e = format!("lvs_scheduler={s}");
        ok(&inv, &["setup", "-e", &e]);
        ipvsadm(
            &inv,
            &director,
            &["-E", "-t", &service, "-s", "rr"].map(String::from),
        );
        let doc = verify_once(&inv, &e);
        let (passed, detail) = scheduler_check(&doc);
        assert!(!passed, "{s} expected, rr in the table: {detail}");
    }
    persistence_expires(&inv, &service, &director);
    ok(&inv, &["teardown"]);
}

/// A short persistence timeout, above the seconds an IPVS entry of a reset connection stays
/// (CLOSE, 10 s): verify sees one source stick, its template expire on time and the next
/// connection scheduled afresh. Then the director keeps templates longer than the inventory
/// says (changed by hand): the expiry check fails and says so.
fn persistence_expires(inv: &Path, service: &str, director: &str) {
    const SHORT: u32 = 13;
    let (rr, p) = (
        "lvs_scheduler=rr",
        format!("lvs_persistence_timeout={SHORT}"),
    );
    ok(inv, &["setup", "-e", rr, "-e", &p]);
    let doc = verify_with(inv, &[rr, &p]);
    let (passed, detail) = check(&doc, "persistence-expiry");
    assert!(
        passed && !detail.contains("not judged") && detail.contains("scheduled afresh"),
        "persistence {SHORT} s: {detail}"
    );
    assert_eq!(doc["ok"], true, "{:?}", failed_check_details(&doc));

    ipvsadm(
        inv,
        director,
        &["-E", "-t", service, "-s", "rr", "-p", "19"].map(String::from),
    );
    let doc = verify_with(inv, &[rr, &p]);
    let (passed, detail) = check(&doc, "persistence-expiry");
    assert!(
        !passed && detail.contains("longer than the configured persistence"),
        "a 19 s template where {SHORT} s is configured: {detail}"
    );
}
