//! Hostile input and secrets (issue 7), against real sshd instances on 127.0.0.1: host keys
//! (unknown, accepted on purpose, changed), injection through every kind of value that reaches
//! a node, and secrets kept out of every output.

mod util;

use std::path::Path;
use std::process::Command;

use util::Lab;

fn fingerprint(pubkey: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(pubkey)
        .output()
        .expect("ssh-keygen -l");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_string()
}

/// Is a key for `[127.0.0.1]:port` recorded in the lab's known_hosts (hashed or not)?
fn known(lab: &Lab, port: u16) -> bool {
    Command::new("ssh-keygen")
        .arg("-F")
        .arg(format!("[127.0.0.1]:{port}"))
        .arg("-f")
        .arg(lab.path().join("known_hosts"))
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false)
}

const PING_PB: &str = "- hosts: all\n  tasks:\n    - command: \"true\"\n";

#[test]
fn unknown_host_key_stops_the_host_with_fingerprint_and_fix() {
    let lab = Lab::new(1);
    std::fs::write(lab.path().join("known_hosts"), "").unwrap();
    lab.write("playbooks/p.yml", PING_PB);
    let r = lab.lvslab(&["run", "playbooks/p.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let port = lab.sshds[0].port;
    let fp = fingerprint(&lab.path().join("host_key.pub"));
    let kh = lab.path().join("known_hosts");
    let expect = format!(
        "unreachable: [node01] task \"gathering facts\": host key verification failed: [127.0.0.1]:{port} offered an ssh-ed25519 key {fp}, which is not in {kh}\n  \
         fix: compare that fingerprint with the host's own (on the host: `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`); if it matches, rerun with --accept-new-host-keys to record it, or add the key to {kh}",
        kh = kh.display()
    );
    assert!(r.stdout.contains(&expect), "{}", r.all());
    assert!(
        r.stdout
            .contains("node01 : ok=0 changed=0 failed=0 unreachable=1 skipped=0"),
        "{}",
        r.all()
    );
    assert!(!known(&lab, port), "nothing recorded without the flag");
}

#[test]
fn accept_new_records_the_key_but_a_changed_key_is_refused() {
    let lab = Lab::new(1);
    std::fs::write(lab.path().join("known_hosts"), "").unwrap();
    lab.write("playbooks/p.yml", PING_PB);
    let port = lab.sshds[0].port;
    let r = lab.lvslab(&["--accept-new-host-keys", "run", "playbooks/p.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(known(&lab, port), "key recorded: {}", r.all());
    // Recorded: a run without the flag now works.
    let r = lab.lvslab(&["run", "playbooks/p.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());

    // The host gets a new key (sshd reads its host key per connection).
    for f in ["host_key", "host_key.pub"] {
        std::fs::remove_file(lab.path().join(f)).unwrap();
    }
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(lab.path().join("host_key"))
        .status()
        .unwrap();
    assert!(st.success());
    let fp = fingerprint(&lab.path().join("host_key.pub"));
    let before = std::fs::read_to_string(lab.path().join("known_hosts")).unwrap();
    for args in [
        vec!["run", "playbooks/p.yml"],
        vec!["--accept-new-host-keys", "run", "playbooks/p.yml"],
    ] {
        let r = lab.lvslab(&args);
        assert_eq!(r.code, 1, "{}", r.all());
        let kh = lab.path().join("known_hosts");
        let head = format!(
            "unreachable: [node01] task \"gathering facts\": host key verification failed: the host key of [127.0.0.1]:{port} has CHANGED (it now offers an ED25519 key {fp}); it differs from the key in {kh}, recorded at {kh}:1. Someone may be intercepting the connection, or the host was reinstalled. Refused",
            kh = kh.display()
        );
        assert!(r.stdout.contains(&head), "{}", r.all());
        let fix = format!(
            "  fix: if the change is expected, remove the old key with `ssh-keygen -f {kh} -R '[127.0.0.1]:{port}'`, then rerun with --accept-new-host-keys",
            kh = kh.display()
        );
        assert!(r.stdout.contains(&fix), "{}", r.all());
        if args.len() == 3 {
            assert!(
                r.stdout
                    .contains("Refused; --accept-new-host-keys never replaces a recorded key"),
                "{}",
                r.all()
            );
        }
        assert_eq!(
            std::fs::read_to_string(lab.path().join("known_hosts")).unwrap(),
            before,
            "known_hosts untouched"
        );
    }
}
