//! The bad-input corpus: every directory under `tests/bad_input/` is one invalid input that
//! must stop lvslab before it contacts any host — exit status 2, the exact message on stderr
//! (file:line:column, the source line, a caret and what was expected), nothing on stdout.
//!
//! A case holds its input files, `args` (the command line, one argument per line) and
//! `expected` (the whole stderr). `@PORT@` in any of them stands for the port of a TCP listener
//! this test opens on 127.0.0.1 and 127.0.0.11-19, where every inventory host points: after
//! each case it must have seen no connection. Cases without `playbooks/` or `templates/` get
//! the project's own (for `setup`, `verify`). `LVSLAB_BLESS=1` rewrites `expected` files from
//! the actual output (review the diff before committing).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Listeners on one port at every address the corpus uses; counts the connections they get.
struct Listeners {
    port: u16,
    seen: Arc<AtomicUsize>,
}

fn addrs() -> Vec<Ipv4Addr> {
    let mut v = vec![Ipv4Addr::new(127, 0, 0, 1)];
    v.extend((11..=19).map(|i| Ipv4Addr::new(127, 0, 0, i)));
    v
}

impl Listeners {
    fn open() -> Listeners {
        for _ in 0..50 {
            let first = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
            let port = first.local_addr().expect("local addr").port();
            let mut all = vec![first];
            let rest: Result<Vec<_>, _> = addrs()[1..]
                .iter()
                .map(|a| TcpListener::bind(SocketAddrV4::new(*a, port)))
                .collect();
            let Ok(rest) = rest else { continue };
            all.extend(rest);
            let seen = Arc::new(AtomicUsize::new(0));
            for l in all {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    // Accept and hang up at once: a client that got here fails fast.
                    for s in l.incoming() {
                        seen.fetch_add(1, Ordering::SeqCst);
                        drop(s);
                    }
                });
            }
            return Listeners { port, seen };
        }
        panic!("no port free on all of 127.0.0.1 and 127.0.0.11-19");
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
}

/// Copy a case into `to`, `@PORT@` replaced.
fn copy(from: &Path, to: &Path, port: u16) {
    for e in std::fs::read_dir(from).expect("case dir") {
        let e = e.expect("entry");
        let name = e.file_name();
        if name == "args" || name == "expected" {
            continue;
        }
        let dst = to.join(&name);
        if e.path().is_dir() {
            std::fs::create_dir_all(&dst).expect("mkdir");
            copy(&e.path(), &dst, port);
        } else {
            let text = std::fs::read_to_string(e.path()).expect("case file");
            std::fs::write(dst, text.replace("@PORT@", &port.to_string())).expect("write");
        }
    }
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_case(case: &Path, port: u16) -> Outcome {
    let dir = tempfile::Builder::new()
        .prefix("lvslab-bad-")
        .tempdir()
        .expect("tempdir");
    copy(case, dir.path(), port);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for shared in ["playbooks", "templates"] {
        if !dir.path().join(shared).exists() {
            std::os::unix::fs::symlink(root.join(shared), dir.path().join(shared))
                .expect("symlink");
        }
    }
    let args = std::fs::read_to_string(case.join("args")).expect("args file");
    let args: Vec<String> = args
        .lines()
        .map(|a| a.replace("@PORT@", &port.to_string()))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(dir.path())
        .args(&args)
        .env("HOME", dir.path())
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("LVSLAB_INVENTORY")
        .stdin(Stdio::null())
        .output()
        .expect("lvslab runs");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn every_bad_input_stops_before_any_host() {
    let net = Listeners::open();
    let bless = std::env::var_os("LVSLAB_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/bad_input")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        let before = net.seen.load(Ordering::SeqCst);
        let out = run_case(case, net.port);
        // Give a stray connection attempt time to reach the listener.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let contacted = net.seen.load(Ordering::SeqCst) - before;
        let actual = out.stderr.trim_end().to_string();
        if bless {
            std::fs::write(
                case.join("expected"),
                format!("{}\n", actual.replace(&net.port.to_string(), "@PORT@")),
            )
            .expect("bless");
        }
        let expected = std::fs::read_to_string(case.join("expected"))
            .unwrap_or_default()
            .replace("@PORT@", &net.port.to_string());
        let mut why = Vec::new();
        if out.code != Some(2) {
            why.push(format!("exit status {:?}, not 2", out.code));
        }
        if actual != expected.trim_end() {
            why.push(format!(
                "stderr differs\n--- expected\n{}\n--- actual\n{actual}",
                expected.trim_end()
            ));
        }
        if !out.stdout.is_empty() {
            why.push(format!("stdout not empty: {}", out.stdout));
        }
        if contacted > 0 {
            why.push(format!("{contacted} connection(s) to a host"));
        }
        for word in ["unreachable", "PLAY", "ok="] {
            if out.stderr.contains(word) {
                why.push(format!("output mentions `{word}`: the run started"));
            }
        }
        if !why.is_empty() {
            failures.push(format!("{name}: {}", why.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The harness notices contact: a valid LVS inventory passes planning and reaches the
/// listener (which hangs up, so the run fails as unreachable, exit 1). A too-long
/// `keepalived_auth_pass` is a warning, printed without the secret.
#[test]
fn valid_input_reaches_the_hosts_and_long_auth_pass_only_warns() {
    let net = Listeners::open();
    let dir = tempfile::tempdir().expect("tempdir");
    let case = corpus().join("lvs-two-masters");
    copy(&case, dir.path(), net.port);
    let inv = dir.path().join("inventory.yml");
    let text = std::fs::read_to_string(&inv).expect("inventory");
    let text = text
        .replacen("keepalived_state: MASTER", "keepalived_state: BACKUP", 2)
        .replacen("keepalived_state: BACKUP", "keepalived_state: MASTER", 1)
        .replace("auth_pass: corpus77", "auth_pass: corpus77-secret-tail");
    std::fs::write(&inv, text).expect("inventory");
    let out = Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("-i")
        .arg(&inv)
        .args(["setup", "--check"])
        .env("HOME", dir.path())
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("LVSLAB_INVENTORY")
        .stdin(Stdio::null())
        .output()
        .expect("lvslab runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}{stdout}");
    assert!(net.seen.load(Ordering::SeqCst) > 0, "no host contacted");
    assert!(
        stderr.contains(&format!(
            "warning: `keepalived_auth_pass` is longer than 8 characters: keepalived uses only the first 8\n ——▶ {}:20:27\n",
            inv.display()
        )),
        "{stderr}"
    );
    let all = format!("{stderr}{stdout}");
    assert!(!all.contains("corpus77"), "secret printed: {all}");
}
