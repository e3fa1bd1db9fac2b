//! The LVS-DR + keepalived content, end to end on the embedded microVM lab (real
//! kernel IPVS, real keepalived, real apache), through the real `lvslab` binary. No mocks.
//! The nodes are fresh installs: setup installs the packages from the lab's repository and
//! teardown must leave the package list as it found it. The second lab mixes the three Debian
//! releases the lab boots (bullseye, bookworm, trixie).
//!
//! Needs root and the lab's host packages (README). Without root the tests FAIL, unless
//! `LVSLAB_SKIP_LAB_TESTS=1` skips them on purpose. One test function per inventory, serialised
//! by a mutex (the labs share two cores); each leaves its lab as it found it: torn down, and
//! down again if it was down before.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::sync::Mutex;

use serde_json::Value;

mod lab_util;

use lab_util::{
    failed_check_details, failed_checks, lab_tests_enabled, lvslab, ok, repo, verify_until,
    DownAgain, SNAPSHOT,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `--json` run of setup/teardown: per-host recap counts.
fn recap(inv: &Path, args: &[&str]) -> BTreeMap<String, Value> {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = lvslab(inv, &a);
    assert!(
        out.status.success(),
        "lvslab {} failed\nstdout: {}",
        args.join(" "),
        stdout(&out)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    doc["hosts"]
        .as_object()
        .expect("hosts in the JSON recap")
        .clone()
        .into_iter()
        .collect()
}

fn changed(r: &BTreeMap<String, Value>) -> BTreeMap<String, u64> {
    r.iter()
        .map(|(h, c)| (h.clone(), c["changed"].as_u64().unwrap_or(u64::MAX)))
        .collect()
}

fn assert_no_changes(r: &BTreeMap<String, Value>, what: &str) {
    let c = changed(r);
    assert!(
        c.values().all(|n| *n == 0),
        "{what}: expected changed=0 on every host, got {c:?}"
    );
    for (h, v) in r {
        assert_eq!(v["failed"], 0, "{what}: {h} failed");
        assert_eq!(v["unreachable"], 0, "{what}: {h} unreachable");
    }
}

/// Verify's JSON once: (all ok, the report).
fn verify(inv: &Path) -> (bool, Value) {
    verify_until(inv, &[], 0)
}

/// [`verify`] until it passes or `secs` have gone by.
fn verify_within(inv: &Path, secs: u64) -> (bool, Value) {
    verify_until(inv, &[], secs)
}

fn host_names(inv: &Path) -> Vec<String> {
    let inventory = lvslab::inventory::Inventory::load(inv).expect("inventory loads");
    inventory
        .host_names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The hosts of inventory group `name`.
fn group(inv: &Path, name: &str) -> Vec<String> {
    let inventory = lvslab::inventory::Inventory::load(inv).expect("inventory loads");
    let names = inventory
        .group_hosts(name)
        .unwrap_or_else(|| panic!("a {name} group"));
    names.into_iter().map(str::to_string).collect()
}

fn real_servers(inv: &Path) -> Vec<String> {
    group(inv, "realservers")
}

/// [`SNAPSHOT`] of every host, taken on all of them at once (each costs a TCG guest seconds).
fn snapshot(inv: &Path, hosts: &[String]) -> BTreeMap<String, String> {
    std::thread::scope(|s| {
        let taken: Vec<_> = hosts
            .iter()
            .map(|h| {
                (
                    h.clone(),
                    s.spawn(move || ok(inv, &["lab", "ssh", h, "--", SNAPSHOT])),
                )
            })
            .collect();
        taken
            .into_iter()
            .map(|(h, t)| (h, t.join().expect("snapshot thread")))
            .collect()
    })
}

/// Fails naming, per host, the snapshot lines that differ (the whole snapshot is too long for
/// a CI log).
fn assert_unchanged(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    what: &str,
) {
    let mut diffs = Vec::new();
    for (host, b) in before {
        let a = after.get(host).map(String::as_str).unwrap_or("");
        let (bl, al): (Vec<&str>, Vec<&str>) = (b.lines().collect(), a.lines().collect());
        diffs.extend(
            bl.iter()
                .filter(|l| !al.contains(l))
                .map(|l| format!("{host} - {l}")),
        );
        diffs.extend(
            al.iter()
                .filter(|l| !bl.contains(l))
                .map(|l| format!("{host} + {l}")),
        );
    }
    assert!(
        diffs.is_empty(),
        "{what}: node state differs:\n{}",
        diffs.join("\n")
    );
}

/// While alive, the directors' kernels offer no IPVS scheduler `name`: its module unloaded and
/// the kernel's IPVS module directory covered by an empty tmpfs; dropping it uncovers the
/// directory (the module loads again on demand).
struct HiddenScheduler {
    inv: std::path::PathBuf,
    directors: Vec<String>,
}

const IPVS_MODULES: &str = "/lib/modules/$(uname -r)/kernel/net/netfilter/ipvs";

impl HiddenScheduler {
    fn new(inv: &Path, name: &str) -> HiddenScheduler {
        let hidden = HiddenScheduler {
            inv: inv.to_path_buf(),
            directors: group(inv, "directors"),
        };
        for d in &hidden.directors {
            ok(
                inv,
                &[
                    "lab",
                    "ssh",
                    d,
                    "--",
                    &format!(
                        "set -e; ! [ -e /sys/module/ip_vs_{name} ] || rmmod ip_vs_{name}; \
                         ls {IPVS_MODULES}/ip_vs_{name}.ko* >/dev/null; \
                         mount -t tmpfs -o ro lvslab-test {IPVS_MODULES}"
                    ),
                ],
            );
        }
        hidden
    }
}

impl Drop for HiddenScheduler {
    fn drop(&mut self) {
        for d in &self.directors {
            let out = lvslab(
                &self.inv,
                &[
                    "lab",
                    "ssh",
                    d,
                    "--",
                    &format!("while mountpoint -q {IPVS_MODULES}; do umount {IPVS_MODULES}; done"),
                ],
            );
            assert!(
                out.status.success() || std::thread::panicking(),
                "cannot uncover the IPVS modules on {d}"
            );
        }
    }
}

/// What a life cycle runs beyond check mode, setup, verify, idempotence and teardown.
struct Extras {
    /// The failover drills (`verify --failover`) after the first verify.
    failover: bool,
    /// A real server rebooted keeps its settings; lvs mode; wrr without persistence.
    reboot_and_lvs_mode: bool,
    /// LVS-TUN and LVS-NAT set up and verified, then back to DR under keepalived.
    methods: bool,
    /// `teardown --keep-packages`, setup again, before the final teardown.
    keep_packages: bool,
}

/// The whole life cycle on one inventory, with `extras`.
fn life_cycle(inv: &Path, extras: Extras) {
    // Leave the lab as found even when an assertion fails half-way.
    let _down_again = DownAgain::new(inv);
    ok(inv, &["lab", "up"]);
    let hosts = host_names(inv);
    // Start from a clean slate in case an earlier run was interrupted.
    recap(inv, &["teardown"]);
    let before = snapshot(inv, &hosts);

    // A configuration a node cannot carry (an interface it does not have) stops the run in the
    // preflight plays, before anything changed on any host. (An unknown scheduler name is
    // invalid input, refused at plan time: tests/bad_input.)
    let bad = lvslab(
        inv,
        &[
            "--json",
            "setup",
            "-e",
            "lan_interface=nosuch0",
            "-e",
            "lvs_vip_label=nosuch0:8",
        ],
    );
    assert_eq!(
        bad.status.code(),
        Some(1),
        "a missing interface fails the run"
    );
    let said = String::from_utf8_lossy(&bad.stdout);
    assert!(
        said.contains("interface nosuch0 does not exist on") && said.contains("(it has lo, "),
        "the preflight names the interface and those the node has: {said}"
    );
    assert_unchanged(
        &before,
        &snapshot(inv, &hosts),
        "a failed preflight changed node state",
    );

    // A kernel without the scheduler's module stops the run in the preflight too, naming the
    // kernel and the modules it has. The lab's kernel has them all: on each director the
    // scheduler's module is unloaded (unused on a torn-down lab) and the kernel's IPVS module
    // directory is covered by an empty tmpfs for the length of the check.
    {
        let hidden = HiddenScheduler::new(inv, "mh");
        let bad = lvslab(inv, &["--json", "setup", "-e", "lvs_scheduler=mh"]);
        assert_eq!(
            bad.status.code(),
            Some(1),
            "a scheduler the kernel lacks fails the run"
        );
        let said = String::from_utf8_lossy(&bad.stdout);
        let has = said
            .split_once("has no module ip_vs or ip_vs_mh (it has ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(list, _)| list.to_string());
        assert!(
            has.as_deref().is_some_and(|l| !l.contains("ip_vs_mh")),
            "the preflight names the missing module and those the kernel has: {said}"
        );
        drop(hidden);
        assert_unchanged(
            &before,
            &snapshot(inv, &hosts),
            "a failed preflight changed node state",
        );
    }

    // Check mode on a torn-down lab: lists changes, changes nothing.
    let check = recap(inv, &["setup", "--check"]);
    assert!(
        changed(&check).values().any(|n| *n > 0),
        "setup --check lists what would change"
    );
    assert_unchanged(
        &before,
        &snapshot(inv, &hosts),
        "setup --check changed node state",
    );

    // Setup, verify, idempotence.
    let first = recap(inv, &["setup"]);
    assert!(
        changed(&first).values().all(|n| *n > 0),
        "a cold setup changes every host: {first:?}"
    );
    let (passed, doc) = verify_within(inv, 20);
    assert!(
        passed,
        "verify after setup failed: {:#?}",
        failed_check_details(&doc)
    );
    assert_eq!(doc["mode"], "ha");
    assert_no_changes(&recap(inv, &["setup"]), "second setup");

    if extras.failover {
        // The failover drills (hard stop of the MASTER, keepalived stopped, a real server
        // failing its health check) pass on this lab's keepalived versions.
        let out = lvslab(inv, &["--json", "verify", "--failover"]);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("verify --failover JSON");
        assert!(
            out.status.success() && doc["ok"] == true,
            "verify --failover failed: {:#?} {}",
            failed_check_details(&doc),
            doc["failover"]["errors"]
        );
    }

    if extras.reboot_and_lvs_mode {
        // The real servers' settings persist across a reboot of the node.
        let rs = real_servers(inv);
        ok(inv, &["lab", "reboot", &rs[0]]);
        // keepalived re-admits the real server after its next successful health check.
        let (passed, doc) = verify_within(inv, 30);
        assert!(
            passed,
            "verify after rebooting {} failed: {:#?}",
            rs[0],
            failed_check_details(&doc)
        );

        // lvs mode: the tool owns VIP and IPVS table; keepalived steps aside.
        recap(inv, &["setup", "--mode", "lvs"]);
        let (passed, doc) = verify_within(inv, 20);
        assert!(
            passed,
            "verify in lvs mode failed: {:?}",
            failed_check_details(&doc)
        );
        assert_eq!(doc["mode"], "lvs");
        assert_no_changes(&recap(inv, &["setup", "--mode", "lvs"]), "second lvs setup");
        // wrr, no persistence: the table and the checks follow the variables.
        let wrr = [
            "setup",
            "--mode",
            "lvs",
            "-e",
            "lvs_scheduler=wrr",
            "-e",
            "lvs_persistence_timeout=0",
        ];
        recap(inv, &wrr);
        let out = lvslab(inv, &["--json", "verify"]);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
        // verify compares against the inventory (rr, persistence 50): it must see the difference.
        let failed = failed_checks(&doc);
        assert!(
            failed.iter().any(|f| f.ends_with(":ipvs-table")),
            "verify notices wrr/no persistence: {failed:?}"
        );
        let table = doc["checks"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == "ipvs-table"))
            .cloned();
        let detail = table.map(|t| t["detail"].to_string()).unwrap_or_default();
        assert!(
            detail.contains("scheduler wrr (expected rr)")
                && detail.contains("persistence 0 (expected 50)"),
            "{detail}"
        );
    }

    if extras.methods {
        // LVS-TUN (from DR): the real servers unwrap IP-in-IP on tunl0 and answer the client
        // directly.
        recap(inv, &["setup", "-e", "lvs_method=tun"]);
        assert_no_changes(
            &recap(inv, &["setup", "-e", "lvs_method=tun"]),
            "second TUN setup",
        );
        let (passed, doc) = verify_until(inv, &["-e", "lvs_method=tun"], 20);
        assert!(
            passed,
            "verify of LVS-TUN failed: {:?}",
            failed_check_details(&doc)
        );
        let passed_names: Vec<String> = doc["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["ok"] == true)
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        for must in ["vip-on-tunl0", "replies-direct", "director-forwards-only"] {
            assert!(
                passed_names.iter().any(|n| n == must),
                "TUN verify ran `{must}`: {passed_names:?}"
            );
        }
        // LVS-NAT under keepalived: real servers route the clients through the VIP.
        recap(inv, &["setup", "-e", "lvs_method=nat"]);
        let (passed, doc) = verify_until(inv, &["-e", "lvs_method=nat"], 20);
        assert!(
            passed,
            "verify of LVS-NAT failed: {:?}",
            failed_check_details(&doc)
        );
        // Back to ha and DR: keepalived takes the table over again.
        recap(inv, &["setup"]);
        let (passed, doc) = verify_within(inv, 20);
        assert!(
            passed,
            "verify back in ha mode failed: {:?}",
            failed_check_details(&doc)
        );
        // What only NAT and TUN need is gone again, live and on disk (a reboot in DR must not
        // bring forwarding or a tunnel back).
        let back = snapshot(inv, &hosts);
        let only_nat_tun = [
            "ip_forward ",
            "/etc/sysctl.d/90-lvslab-nat.conf ",
            "/etc/sysctl.d/90-lvslab-tun.conf ",
            "/etc/modules-load.d/lvslab-ipip.conf ",
            "/etc/systemd/system/lvslab-tun.service ",
            "/etc/systemd/system/lvslab-nat-route.service ",
        ];
        let pick = |snap: &BTreeMap<String, String>, h: &String| -> Vec<String> {
            snap[h]
                .lines()
                .filter(|l| only_nat_tun.iter().any(|p| l.starts_with(p)))
                .map(str::to_string)
                .collect()
        };
        for h in &hosts {
            assert_eq!(pick(&back, h), pick(&before, h), "{h} back in DR");
        }
    }

    if extras.keep_packages {
        // `teardown --keep-packages` undoes everything but the packages, which stay recorded:
        // verify fails, the next setup converges without installing anything, and the plain
        // teardown below still removes them.
        let kept = recap(inv, &["teardown", "--keep-packages"]);
        assert!(
            changed(&kept).values().all(|n| *n > 0),
            "teardown --keep-packages changes every host: {kept:?}"
        );
        let (passed, _) = verify(inv);
        assert!(!passed, "verify must fail after teardown --keep-packages");
        // The package list: the lines of `dpkg-query -W` that say installed (`ii`).
        let packages = |snap: &BTreeMap<String, String>, h: &String| -> Vec<String> {
            snap[h]
                .lines()
                .filter(|l| l.trim_end().ends_with(" ii"))
                .map(str::to_string)
                .collect()
        };
        let kept_snap = snapshot(inv, &hosts);
        for h in &hosts {
            assert!(
                packages(&kept_snap, h).len() > packages(&before, h).len(),
                "{h} keeps the packages setup installed"
            );
        }
        recap(inv, &["setup"]);
        let again = snapshot(inv, &hosts);
        for h in &hosts {
            assert_eq!(
                packages(&again, h),
                packages(&kept_snap, h),
                "setup on {h} installed nothing again"
            );
        }
        let (passed, doc) = verify_within(inv, 20);
        assert!(
            passed,
            "verify after setup on kept packages failed: {:?}",
            failed_check_details(&doc)
        );
    }

    // Teardown restores every node exactly; verify then fails and says why.
    let down = recap(inv, &["teardown"]);
    assert!(
        changed(&down).values().all(|n| *n > 0),
        "teardown changes every host: {down:?}"
    );
    let (passed, doc) = verify(inv);
    assert!(!passed, "verify must fail on a torn-down lab");
    let failed = failed_checks(&doc);
    for must in [
        "requests",
        "ipvs-table",
        "arp-sysctls",
        "vip-on-lo",
        "web-server",
    ] {
        assert!(
            failed.iter().any(|f| f.ends_with(&format!(":{must}"))),
            "verify names `{must}` as failed: {failed:?}"
        );
    }
    assert_unchanged(
        &before,
        &snapshot(inv, &hosts),
        "teardown restored every node exactly",
    );
    assert_no_changes(&recap(inv, &["teardown"]), "second teardown");
}

#[test]
fn seed_lab_setup_verify_teardown() {
    if !lab_tests_enabled() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The failover drills run on the seed lab in tests/drill.rs.
    life_cycle(
        &repo().join("inventory/lab.yml"),
        Extras {
            failover: false,
            reboot_and_lvs_mode: true,
            methods: true,
            keep_packages: true,
        },
    );
}

#[test]
fn other_names_three_releases_three_real_servers() {
    if !lab_tests_enabled() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    life_cycle(
        &repo().join("tests/inventories/alt.yml"),
        Extras {
            failover: true,
            reboot_and_lvs_mode: false,
            methods: true,
            keep_packages: false,
        },
    );
}
