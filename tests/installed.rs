//! The binary on its own, as `cargo install` leaves it (installed into a temporary root), run
//! from a directory holding nothing but an Ansible user's files: an INI `hosts` file with
//! `group_vars/` and `host_vars/` beside it. The shipped playbooks come from inside the binary.
//! Listing and checking contact nobody (every host's port is closed, so a contact would fail the
//! command); a `run` with `--tags` then works against real sshd.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use util::{Lab, Run};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

/// lvslab installed by `cargo install --path` into `root` (its `root/bin/lvslab`), from this
/// checkout and its lock file, offline (the test run has fetched every crate already).
///
/// A debug build (`--debug`) into cargo's own target directory: the test run has just built
/// every dependency and lvslab itself with that profile, so the install finds them fresh and
/// only copies the binary (a target directory of its own cost a second build of every
/// dependency on a fresh checkout). What is tested here (the installed binary does its job with
/// no checkout beside it) does not depend on the profile. Cargo holds its build lock only while
/// it builds, not while the tests run, and the tests of this file install one after the other.
fn installed(root: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("cargo's target directory holds its tmp directory");
    let out = Command::new(cargo)
        .args(["install", "--offline", "--locked", "--debug", "--quiet"])
        .arg("--path")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("--root")
        .arg(root)
        .arg("--target-dir")
        .arg(target)
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("cargo install runs");
    assert!(
        out.status.success(),
        "cargo install failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = root.join("bin/lvslab");
    assert!(bin.is_file(), "cargo install left no {}", bin.display());
    bin
}

fn run(bin: &Path, cwd: &Path, args: &[&str]) -> Run {
    Command::new(bin)
        .current_dir(cwd)
        .args(args)
        .env("HOME", cwd)
        .env("XDG_CACHE_HOME", cwd.join(".cache"))
        .env_remove("LVSLAB_INVENTORY")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .expect("lvslab runs")
        .into()
}

const LVS_VARS: &str = "\
ansible_user: root
lan_interface: eth7
lan_prefix: 24
lab_client_addresses: [127.0.0.1]
lvs_vip: 127.0.0.100
lvs_vip_prefix: 24
lvs_vip_label: eth7:1
lvs_lo_label: \"lo:7\"
lvs_port: 80
lvs_protocol: tcp
lvs_scheduler: rr
lvs_method: dr
lvs_persistence_timeout: 0
keepalived_router_id: 77
keepalived_advert_int: 1
keepalived_auth_type: PASS
keepalived_auth_pass: corpus77
keepalived_delay_loop: 3
keepalived_connect_timeout: 3
keepalived_retry: 3
keepalived_delay_before_retry: 3
keepalived_check_path: /
keepalived_check_status: 200
";

/// The tests of this file one at a time: each writes files it then executes (the installed
/// binary, its sshd's helpers), and a `fork` on another test's thread while such a file is open
/// for writing makes its exec fail with "Text file busy" (the child holds the write end until
/// it execs).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn setup_and_teardown_are_listed_and_checked_from_an_empty_directory() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let bin = installed(tmp.path());
    let work = tmp.path().join("mylab");
    write(
        &work,
        "hosts",
        "[directors]\nlb-a ansible_host=127.0.0.11\nlb-b ansible_host=127.0.0.12\n\n\
         [realservers]\nweb-[1:2]\n\n[all:vars]\nansible_port=1\n",
    );
    write(&work, "group_vars/all.yml", LVS_VARS);
    write(
        &work,
        "group_vars/realservers/weights.yml",
        "lvs_weight: 1\n",
    );
    write(
        &work,
        "host_vars/lb-a.yml",
        "keepalived_state: MASTER\nkeepalived_priority: 150\n",
    );
    write(
        &work,
        "host_vars/lb-b.yml",
        "keepalived_state: BACKUP\nkeepalived_priority: 100\n",
    );
    write(&work, "host_vars/web-1.yml", "ansible_host: 127.0.0.13\n");
    write(&work, "host_vars/web-2.yml", "ansible_host: 127.0.0.14\n");

    let r = run(&bin, &work, &["-i", "hosts", "setup", "--list-hosts"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.starts_with("\nplaybook: "), "{}", r.all());
    for h in ["lb-a", "lb-b", "web-1", "web-2"] {
        assert!(
            r.stdout.contains(&format!("      {h}\n")),
            "{h}: {}",
            r.all()
        );
    }
    let r = run(&bin, &work, &["-i", "hosts", "setup", "--list-tasks"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("    tasks:\n      "), "{}", r.all());
    for args in [
        &["-i", "hosts", "setup", "--syntax-check"][..],
        &["-i", "hosts", "teardown", "--syntax-check"][..],
        &[
            "-i",
            "hosts",
            "teardown",
            "--list-tasks",
            "--tags",
            "never-used",
        ][..],
    ] {
        let r = run(&bin, &work, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.all());
        assert!(!r.stdout.contains("ok="), "{args:?}: {}", r.all());
    }
    // The same inventory as Ansible would resolve it.
    let r = run(
        &bin,
        &work,
        &["-i", "hosts", "inventory", "--host", "web-2"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let v = r.json();
    assert_eq!(v["ansible_host"], "127.0.0.14");
    assert_eq!(v["lvs_weight"], 1);
    assert_eq!(v["ansible_port"], 1);
    // Nothing was written beside the user's files.
    let mut names: Vec<String> = std::fs::read_dir(&work)
        .expect("work dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["group_vars", "host_vars", "hosts"]);
}

#[test]
fn a_run_with_tags_reaches_sshd_from_an_empty_directory() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new(1);
    let bin = installed(lab.path());
    let work = lab.path().join("mylab");
    let v = lab.lvslab(&["inventory", "--host", "node01"]).json();
    let s = |k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v[k].to_string())
    };
    write(&work, "hosts", "[web]\nnode01 ansible_host=127.0.0.1\n");
    write(
        &work,
        "group_vars/all.yml",
        &format!(
            "ansible_user: root\nansible_ssh_private_key_file: {}\nlvslab_known_hosts_file: {}\n",
            s("ansible_ssh_private_key_file"),
            s("lvslab_known_hosts_file")
        ),
    );
    write(
        &work,
        "host_vars/node01.yml",
        &format!(
            "ansible_port: {}\nnode_dir: {}\nlvslab_state_file: {}\n",
            s("ansible_port"),
            s("node_dir"),
            s("lvslab_state_file")
        ),
    );
    write(
        &work,
        "site.yml",
        "- hosts: web\n  tasks:\n    - name: tagged\n      copy: {dest: \"{{ node_dir }}/tagged\", content: x}\n      tags: [web]\n    - name: other\n      copy: {dest: \"{{ node_dir }}/other\", content: x}\n",
    );
    let r = run(
        &bin,
        &work,
        &["-i", "hosts", "--json", "run", "--tags", "web", "site.yml"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        lab.node_dir("node01").join("tagged").exists(),
        "{}",
        r.all()
    );
    assert!(
        !lab.node_dir("node01").join("other").exists(),
        "{}",
        r.all()
    );
}
