//! `lvslab trace` on the embedded microVM lab, for each forwarding method: the real director's
//! rewrites seen on the lab's switch, a configuration the packets contradict refused with exit
//! 1, and the pcap files read back by tcpdump and by the crate's own reader. Then as on real
//! hosts (`--tcpdump`): captured with tcpdump on the nodes over ssh, and refused with the reason
//! on nodes without tcpdump.
//!
//! Needs root, the lab's host packages and tcpdump (scripts/install-deps). Without root the test
//! FAILS, unless `LVSLAB_SKIP_LAB_TESTS=1` skips it on purpose. The lab is left as it was
//! found: torn down, and down again if it was down before.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod lab_util;

use lab_util::{
    failed_check_details, lab_tests_enabled, lvslab, ok, repo, verify_until, DownAgain,
};

use lvslab::trace::decode::{decode, Mac};

/// `lvslab --json trace EXTRA...`: (exit status 0, the report).
fn trace(inv: &Path, extra: &[&str]) -> (bool, Value) {
    let mut args = vec!["--json", "trace"];
    args.extend_from_slice(extra);
    let out: Output = lvslab(inv, &args);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("trace prints one JSON document");
    assert_eq!(
        out.status.success(),
        doc["ok"] == true,
        "exit status agrees with the report"
    );
    (out.status.success(), doc)
}

fn problems(doc: &Value) -> Vec<String> {
    requests(doc)
        .iter()
        .flat_map(|r| {
            r["verdict"]["problems"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|p| p.as_str().unwrap_or_default().to_string())
        .collect()
}

fn requests(doc: &Value) -> Vec<Value> {
    doc["requests"].as_array().cloned().unwrap_or_default()
}

/// The lab's name and the MAC it gave node `name`.
fn mac(inv: &Path, name: &str) -> String {
    let topo = lvslab::lab::topology::load(inv).expect("inventory loads");
    lvslab::lab::keys::mac_address(&topo.lab_name, name)
}

struct Lab {
    inv: std::path::PathBuf,
    directors: Vec<String>,
    reals: Vec<String>,
    vip: String,
}

/// Every request forwarded by a director to a real server as `method` says, the change in the
/// words people read, and the hop that proves it.
fn assert_traced(lab: &Lab, doc: &Value, method: &str) {
    let reqs = requests(doc);
    assert!(!reqs.is_empty(), "{doc:#}");
    let mut servers = Vec::new();
    for r in &reqs {
        let v = &r["verdict"];
        assert_eq!(v["seen"], method, "{v:#}");
        let director = v["director"].as_str().expect("a director");
        let rs = v["real_server"].as_str().expect("a real server");
        assert!(lab.directors.iter().any(|d| d == director), "{v:#}");
        assert!(lab.reals.iter().any(|n| n == rs), "{v:#}");
        servers.push(rs.to_string());
        assert!(
            r["answer"]["page"].as_str().is_some_and(|b| b.contains(rs)),
            "the page names the real server the packets went to: {r:#}"
        );
        let first = v["changes"][0].as_str().unwrap_or_default();
        let hops = r["hops"].as_array().cloned().unwrap_or_default();
        let fwd = hops
            .iter()
            .find(|h| h["from"] == director && h["to"] == rs)
            .unwrap_or_else(|| panic!("a hop {director} → {rs}: {hops:#?}"));
        let p = &fwd["packet"];
        assert_eq!(p["src_mac"], mac(&lab.inv, director));
        assert_eq!(p["dst_mac"], mac(&lab.inv, rs));
        match method {
            "dr" => {
                let want = format!(
                    "DR: destination MAC rewritten to {rs}'s ({}), IP header untouched",
                    mac(&lab.inv, rs)
                );
                assert!(first.starts_with(&want), "{first}");
                assert_eq!(p["ip"]["dst"], lab.vip.as_str());
                assert_eq!(p["outer"], Value::Null);
            }
            "tun" => {
                assert!(
                    first.starts_with(&format!("TUN: outer IP-in-IP header {director} ("))
                        && first.contains("inner packet untouched"),
                    "{first}"
                );
                assert_eq!(p["outer"]["protocol"], 4);
                assert_eq!(p["ip"]["dst"], lab.vip.as_str());
            }
            _ => {
                assert!(
                    first.starts_with(&format!("NAT: destination {}:", lab.vip))
                        && first.ends_with("rewritten back to the VIP, replies pass the director"),
                    "{first}"
                );
                assert_ne!(p["ip"]["dst"], lab.vip.as_str());
                // The reply leaves the director with the VIP as its source.
                assert!(
                    hops.iter().any(|h| h["from"] == director
                        && h["to"] == "client"
                        && h["packet"]["ip"]["src"] == lab.vip.as_str()),
                    "{hops:#?}"
                );
            }
        }
    }
    // Which real servers answered is the scheduler's business (and, with persistence, of the
    // templates earlier traffic left): not asserted here.
    eprintln!("real servers reached: {servers:?}");
}

/// The pcap files: one per capture point, valid for tcpdump, and holding the director's
/// forwarded frames at the real server's port.
fn assert_pcaps(lab: &Lab, dir: &Path, doc: &Value) {
    let files: Vec<String> = doc["pcap_files"]
        .as_array()
        .expect("pcap_files")
        .iter()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    let mut names: Vec<String> = lab.directors.iter().chain(&lab.reals).cloned().collect();
    // The lab's switch has the client's port too; tcpdump on the nodes has not.
    if doc["captured_on"] == "the lab's switch" {
        names.push("client".into());
    }
    for n in &names {
        let path = dir.join(format!("{n}.pcap"));
        assert!(files.contains(&path.display().to_string()), "{files:?}");
    }
    let r = &requests(doc)[0];
    let (director, rs) = (
        r["verdict"]["director"].as_str().unwrap_or_default(),
        r["verdict"]["real_server"].as_str().unwrap_or_default(),
    );
    let path = dir.join(format!("{rs}.pcap"));
    let out = Command::new("tcpdump")
        .args(["-nn", "-e", "-r"])
        .arg(&path)
        .output()
        .expect("tcpdump runs (scripts/install-deps installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump -r {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let (dmac, rmac) = (mac(&lab.inv, director), mac(&lab.inv, rs));
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("{dmac} > {rmac}"))),
        "tcpdump shows {director}'s frames to {rs}:\n{text}"
    );
    let data = std::fs::read(&path).expect("pcap file");
    let frames = lvslab::trace::pcap::read(&data).expect("a valid pcap file");
    let (d, r) = (Mac::parse(&dmac), Mac::parse(&rmac));
    assert!(
        frames
            .iter()
            .filter_map(|(_, f)| decode(f))
            .any(|p| Some(p.src_mac) == d && Some(p.dst_mac) == r && p.tcp.is_some()),
        "the crate's reader finds the same frames"
    );
}

/// verify's check `name`.
fn check(doc: &Value, name: &str) -> Value {
    doc["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("verify has a `{name}` check: {doc:#}"))
}

/// A fresh trace's report (DR, as configured).
fn doc_trace_rs(inv: &Path) -> Value {
    let (passed, doc) = trace(inv, &[]);
    assert!(passed, "{:?}", problems(&doc));
    doc
}

/// The real server the trace's first request reached.
fn doc_rs(doc: &Value) -> String {
    requests(doc)[0]["verdict"]["real_server"]
        .as_str()
        .expect("a real server")
        .to_string()
}

/// A real server without the VIP on lo drops what the director forwards to it: verify reads
/// the director's table (SYN_RECV, never ESTABLISHED) and trace sees no reply; setup repairs it.
fn broken_real_server(lab: &Lab, rs: &str) {
    ok(
        &lab.inv,
        &[
            "lab",
            "ssh",
            rs,
            "--",
            &format!("ip addr del {}/32 dev lo", lab.vip),
        ],
    );
    // Few requests: each one that reaches the broken server costs a timeout.
    let (passed, doc) = verify_until(&lab.inv, &["--requests", "8"], 0);
    assert!(!passed);
    let requests = check(&doc, "requests");
    assert!(
        requests["detail"].as_str().is_some_and(
            |d| d.contains("SYN_RECV, never ESTABLISHED") && d.contains("check its VIP on lo")
        ),
        "{requests}"
    );
    let (passed, doc) = trace(&lab.inv, &["--requests", "4"]);
    assert!(!passed);
    assert!(
        problems(&doc)
            .iter()
            .any(|p| p == &format!("{rs} sent no reply in the capture")),
        "{:?}",
        problems(&doc)
    );
    ok(&lab.inv, &["setup"]);
    let (passed, doc) = verify_until(&lab.inv, &[], 20);
    assert!(
        passed,
        "verify after repair: {:?}",
        failed_check_details(&doc)
    );
}

/// The tests of this file one at a time: each boots a lab of its own.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The inventory's directors, real servers and VIP.
fn lab(inv: &Path) -> Lab {
    let inventory = lvslab::inventory::Inventory::load(inv).expect("inventory loads");
    let group = |g: &str| -> Vec<String> {
        inventory
            .group_hosts(g)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    Lab {
        inv: inv.to_path_buf(),
        directors: group("directors"),
        reals: group("realservers"),
        vip: inventory
            .host_vars(&group("directors")[0])
            .and_then(|v| v.get("lvs_vip").and_then(Value::as_str).map(str::to_string))
            .expect("the inventory's lvs_vip"),
    }
}

#[test]
fn trace_shows_each_method_and_refuses_a_contradiction() {
    if !lab_tests_enabled() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inv = repo().join("tests/inventories/preinstalled.yml");
    let _down_again = DownAgain::new(&inv);
    ok(&inv, &["lab", "up"]);
    let lab = lab(&inv);
    let tmp = tempfile::tempdir().expect("temp dir");

    ok(&inv, &["setup"]);
    let dir = tmp.path().join("dr");
    let (passed, doc) = trace(&inv, &["--pcap", dir.to_str().unwrap_or_default()]);
    assert!(passed, "trace of DR: {:?}", problems(&doc));
    assert_traced(&lab, &doc, "dr");
    assert_pcaps(&lab, &dir, &doc);
    // verify proves the same with packets, and the VIP answers ping.
    let (passed, doc) = verify_until(&inv, &[], 20);
    assert!(passed, "verify: {:?}", failed_check_details(&doc));
    for must in ["forwarding-packets", "vip-ping"] {
        let c = check(&doc, must);
        assert_eq!(c["ok"], true, "{c}");
    }
    assert!(
        check(&doc, "forwarding-packets")["detail"]
            .as_str()
            .is_some_and(|d| d.contains("forwarded as configured (DR): DR: destination MAC")),
        "{doc:#}"
    );
    broken_real_server(&lab, &doc_rs(&doc_trace_rs(&inv)));
    // The same packets judged against NAT: the trace says they contradict it and exits 1.
    let (passed, doc) = trace(&inv, &["-e", "lvs_method=nat"]);
    assert!(!passed);
    assert!(
        problems(&doc)
            .iter()
            .any(|p| p == "the packets show DR, the inventory configures NAT"),
        "{:?}",
        problems(&doc)
    );

    ok(&inv, &["setup", "-e", "lvs_method=tun"]);
    let (passed, doc) = trace(&inv, &["-e", "lvs_method=tun"]);
    assert!(passed, "trace of TUN: {:?}", problems(&doc));
    assert_traced(&lab, &doc, "tun");

    ok(&inv, &["setup", "-e", "lvs_method=nat"]);
    let dir = tmp.path().join("nat");
    let (passed, doc) = trace(
        &inv,
        &[
            "-e",
            "lvs_method=nat",
            "--pcap",
            dir.to_str().unwrap_or_default(),
        ],
    );
    assert!(passed, "trace of NAT: {:?}", problems(&doc));
    assert_traced(&lab, &doc, "nat");
    assert_pcaps(&lab, &dir, &doc);

    // Torn down: nothing answers, nothing is forwarded, exit 1.
    ok(&inv, &["teardown"]);
    let (passed, doc) = trace(&inv, &[]);
    assert!(!passed);
    assert!(!problems(&doc).is_empty());
}

/// Nodes with tcpdump (the preinstalled image), reached as ordinary hosts: `trace --tcpdump`
/// captures on the director and the real server over ssh, sees DR's rewrite there, writes pcap
/// files tcpdump reads back, and leaves no capture running. A node whose tcpdump is not usable
/// fails the trace with the reason.
#[test]
fn trace_over_ssh_captures_with_tcpdump_on_the_nodes() {
    if !lab_tests_enabled() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inv = repo().join("tests/inventories/trace-ssh.yml");
    let _down_again = DownAgain::new(&inv);
    ok(&inv, &["lab", "up"]);
    let lab = lab(&inv);
    let tmp = tempfile::tempdir().expect("temp dir");
    ok(&inv, &["setup"]);

    let dir = tmp.path().join("ssh");
    let (passed, doc) = trace(
        &inv,
        &["--tcpdump", "--pcap", dir.to_str().unwrap_or_default()],
    );
    assert!(passed, "trace over ssh: {:?} {doc:#}", problems(&doc));
    assert!(
        doc["captured_on"]
            .as_str()
            .is_some_and(|c| c.contains("tcpdump over ssh")),
        "{doc:#}"
    );
    assert!(
        doc["unseen"].as_array().is_some_and(|u| u.iter().any(|s| s
            .as_str()
            .is_some_and(|s| s.starts_with("the client's own side")))),
        "{doc:#}"
    );
    assert_traced(&lab, &doc, "dr");
    assert_pcaps(&lab, &dir, &doc);
    for n in lab.directors.iter().chain(&lab.reals) {
        let left = lvslab(&inv, &["lab", "ssh", n, "pgrep", "-x", "tcpdump"]);
        assert!(!left.status.success(), "a tcpdump still runs on {n}");
        let dirs = ok(
            &inv,
            &[
                "lab",
                "ssh",
                n,
                "find",
                "/tmp",
                "-maxdepth",
                "1",
                "-name",
                "lvslab-trace.*",
            ],
        );
        assert!(
            dirs.trim().is_empty(),
            "capture directories left on {n}: {dirs}"
        );
    }

    // tcpdump not usable on the real server: not checked there, and the trace fails.
    let web = &lab.reals[0];
    ok(
        &inv,
        &["lab", "ssh", web, "chmod", "a-x", "/usr/bin/tcpdump"],
    );
    let (passed, doc) = trace(&inv, &["--tcpdump"]);
    ok(
        &inv,
        &["lab", "ssh", web, "chmod", "a+x", "/usr/bin/tcpdump"],
    );
    assert!(!passed);
    let want = format!("not checked: tcpdump missing on {web}");
    assert!(
        doc["not_checked"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == want.as_str())),
        "{want}: {doc:#}"
    );
    ok(&inv, &["teardown"]);
}
