//! The seed job on a lab reached as real machines usually are (tests/inventories/users.yml):
//! every node logged into as `ops`, an unprivileged user whose sudo asks for its password
//! (`ansible_become_password` from `secret_env`), root's ssh login off, node02 logging in with
//! the password alone (`ansible_password`). Setup, verify, the failover drill and teardown run
//! through `become`; the nodes end exactly as they began; the password shows in no output and
//! on no command line or environment of any process.
//!
//! Needs root and the lab's host packages, like the other lab tests (`LVSLAB_SKIP_LAB_TESTS=1`
//! skips them on purpose).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

mod lab_util;

use lab_util::procwatch::Watch;
use lab_util::{failed_check_details, lab_tests_enabled, repo, DownAgain, SNAPSHOT};

/// The password the inventory takes from the environment (`secret_env`).
const SOURCE: &str = "LVSLAB_TEST_OPS_PASSWORD";
const PASSWORD: &str = "Ops-sudo-Kx7q2v";

fn inventory() -> PathBuf {
    repo().join("tests/inventories/users.yml")
}

/// Everything the runs printed, to look for the password at the end.
static PRINTED: Mutex<String> = Mutex::new(String::new());

/// `lvslab -i INVENTORY ARGS...` with the password in the environment; `stdin` for the remote
/// command of `lab ssh`.
fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let started = std::time::Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(repo())
        .env(SOURCE, PASSWORD)
        .arg("-i")
        .arg(inventory())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lvslab");
    let mut w = c.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        w.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(w);
    let out = c.wait_with_output().expect("lvslab output");
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!(
        "$ lvslab {} -> {} ({:.1} s)\n{se}",
        args.join(" "),
        out.status,
        started.elapsed().as_secs_f64()
    );
    if let Ok(mut p) = PRINTED.lock() {
        p.push_str(&so);
        p.push_str(&se);
    }
    out
}

fn ok(args: &[&str]) -> String {
    let out = run(args, None);
    assert!(
        out.status.success(),
        "lvslab {} failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Node state as root sees it: `lab ssh` logs in as ops, whose sudo takes the password on stdin.
fn snapshot(hosts: &[&str]) -> Vec<String> {
    let cmd = format!("sudo -S -p '' sh -c {}", shell_quote(SNAPSHOT));
    hosts
        .iter()
        .map(|h| {
            let out = run(
                &["lab", "ssh", h, "--", &cmd],
                Some(&format!("{PASSWORD}\n")),
            );
            assert!(out.status.success(), "snapshot of {h} failed");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn recap(args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = run(&a, None);
    assert!(out.status.success(), "lvslab {args:?} failed");
    serde_json::from_slice(&out.stdout).expect("JSON recap")
}

fn verify_passes(extra: &[&str], secs: u64) -> Value {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut args = vec!["--json", "verify"];
    args.extend_from_slice(extra);
    loop {
        let out = run(&args, None);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
        if doc["ok"] == true {
            return doc;
        }
        assert!(
            std::time::Instant::now() < until,
            "verify {extra:?} failed: {:#?}",
            failed_check_details(&doc)
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

fn hosts(inv: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(inv).expect("inventory");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let mut out = Vec::new();
    for (_, g) in doc["all"]["children"].as_mapping().expect("children") {
        for (h, _) in g["hosts"].as_mapping().expect("hosts") {
            out.push(h.as_str().expect("name").to_string());
        }
    }
    out
}

#[test]
fn seed_job_as_an_unprivileged_user_with_a_sudo_password() {
    if !lab_tests_enabled() {
        return;
    }
    let inv = inventory();
    std::env::set_var(SOURCE, PASSWORD);
    let _down_again = DownAgain::new(&inv);
    ok(&["lab", "up"]);
    let names = hosts(&inv);
    let hosts: Vec<&str> = names.iter().map(String::as_str).collect();

    // Root cannot log in; ops can, and becomes root only with the password.
    let probe = repo().join("target/users-probe.yml");
    std::fs::write(
        &probe,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: id -un\n",
    )
    .expect("probe playbook");
    let p = probe.to_str().expect("path");
    let as_root = run(
        &["run", p, "--limit", hosts[0], "-e", "ansible_user=root"],
        None,
    );
    assert_eq!(as_root.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&as_root.stdout),
        String::from_utf8_lossy(&as_root.stderr)
    );
    assert!(
        said.contains("Permission denied"),
        "root's login is refused"
    );
    let wrong = run(
        &[
            "run",
            p,
            "--limit",
            hosts[0],
            "-e",
            "ansible_become=true",
            "-e",
            "ansible_become_password=not-the-password",
        ],
        None,
    );
    assert_eq!(wrong.status.code(), Some(1));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&wrong.stdout),
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(said.contains("the password was refused"), "{said}");

    recap(&["teardown"]);
    let before = snapshot(&hosts);

    let watch = Watch::start(PASSWORD, SOURCE);
    let first = recap(&["setup"]);
    watch.finish();
    for h in &hosts {
        let r = &first["hosts"][h];
        assert!(r["changed"].as_u64() > Some(0), "setup changed {h}: {r}");
        assert_eq!(r["failed"], 0, "{h}: {r}");
    }
    let doc = verify_passes(&[], 30);
    assert_eq!(doc["mode"], "ha");

    // A real server whose system bus answers only root: its probe, run as ops, gets
    // systemctl's refusal and is asked again through become.
    let bus = SystemBusForRootOnly::on(hosts[2]);
    verify_passes(&[], 30);
    drop(bus);
    let again = recap(&["setup"]);
    for h in &hosts {
        assert_eq!(again["hosts"][h]["changed"], 0, "second setup: {again}");
    }

    // The drill's faults and probes go through become too.
    let drill = run(&["--json", "verify", "--failover"], None);
    let doc: Value = serde_json::from_slice(&drill.stdout).expect("drill JSON");
    assert!(
        drill.status.success() && doc["ok"] == true,
        "verify --failover failed: {:#?}",
        failed_check_details(&doc)
    );
    verify_passes(&[], 30);

    // Files the job made through become belong to root, with root's modes.
    let cmd =
        "sudo -S -p '' stat -c '%U %G %a' /var/lib/lvslab/state.json /var/www/html/index.html";
    let out = run(
        &["lab", "ssh", hosts[2], "--", cmd],
        Some(&format!("{PASSWORD}\n")),
    );
    let owners = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && owners.lines().count() == 2,
        "stat: {owners}"
    );
    assert!(
        owners.lines().all(|l| l.starts_with("root root ")),
        "root's files: {owners}"
    );

    let down = recap(&["teardown"]);
    for h in &hosts {
        assert!(down["hosts"][h]["changed"].as_u64() > Some(0), "{down}");
    }
    assert_eq!(snapshot(&hosts), before, "teardown restored every node");

    let printed = PRINTED.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(!printed.is_empty());
    assert!(
        !printed.contains(PASSWORD),
        "the password appeared in lvslab's output"
    );
}

/// The system bus socket of `host` made root's alone, until dropped.
struct SystemBusForRootOnly(String);

impl SystemBusForRootOnly {
    const SOCKET: &'static str = "/run/dbus/system_bus_socket";

    fn on(host: &str) -> SystemBusForRootOnly {
        let out = Self::chmod(host, "0600");
        assert!(
            out.status.success(),
            "chmod 0600 {}: {}",
            Self::SOCKET,
            String::from_utf8_lossy(&out.stderr)
        );
        SystemBusForRootOnly(host.to_string())
    }

    fn chmod(host: &str, mode: &str) -> Output {
        let cmd = format!("sudo -S -p '' chmod {mode} {}", Self::SOCKET);
        run(
            &["lab", "ssh", host, "--", &cmd],
            Some(&format!("{PASSWORD}\n")),
        )
    }
}

impl Drop for SystemBusForRootOnly {
    fn drop(&mut self) {
        let _ = Self::chmod(&self.0, "0666");
    }
}
