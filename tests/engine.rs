//! Integration tests: the real `lvslab` binary against real sshd instances on 127.0.0.1.
//! Everything these tests change lives under their temporary directories; they never touch this
//! machine's sysctls, addresses, routes, IPVS, packages or services.

mod util;

use util::masters::masters_under;
use util::Lab;

const MODULES_PB: &str = r#"
- name: every plain-host module
  hosts: all
  vars:
    d: "{{ node_dir }}"
    motd_text: "hello from {{ inventory_hostname }}"
  tasks:
    - name: make a directory
      file: {path: "{{ d }}/etc", state: directory, mode: "0755"}
    - name: touch a marker
      file: {path: "{{ d }}/etc/marker", state: touch}
    - name: marker mode
      file: {path: "{{ d }}/etc/marker", mode: "0600"}
    - name: copy content
      copy:
        dest: "{{ d }}/etc/motd"
        content: "{{ motd_text }}\n"
        mode: "0644"
      notify: motd changed
    - name: render a template
      template:
        src: app.conf.j2
        dest: "{{ d }}/etc/app.conf"
        validate: "grep -q listen %s"
    - name: command with creates
      command:
        argv: [touch, "{{ d }}/created-by-command"]
        creates: "{{ d }}/created-by-command"
    - name: shell with removes
      shell: "rm -f {{ d | quote }}/nothing-here && echo never"
      args_placeholder: null
    - name: read something back
      command: cat {{ d }}/etc/motd
      register: motd
      changed_when: false
    - name: remember it
      set_fact:
        motd_line: "{{ motd.stdout }}"
    - name: check it
      assert:
        that:
          - motd_line == motd_text
          - "'hello' in motd.stdout"
        fail_msg: motd is wrong
    - name: sshd port is open
      wait_for: {port: "{{ ansible_port }}", timeout: 5}
    - name: nothing listens here
      wait_for: {port: 1, state: stopped, timeout: 5}
  handlers:
    - name: motd changed
      command: touch {{ d }}/handler-ran
"#;

const APP_TEMPLATE: &str = "# {{ inventory_hostname }}\nlisten {{ ansible_port }}\n{% for g in group_names %}group {{ g }}\n{% endfor %}os {{ ansible_facts.os_family }}\n";

fn modules_lab(n: usize) -> Lab {
    let lab = Lab::new(n);
    lab.write(
        "playbooks/modules.yml",
        &MODULES_PB
            .replace("      args_placeholder: null\n", "      args: {}\n")
            .replace("      args: {}\n", ""),
    );
    lab.write("templates/app.conf.j2", APP_TEMPLATE);
    lab
}

#[test]
fn ping_reaches_every_host_and_summarises_facts() {
    let lab = Lab::new(2);
    let r = lab.lvslab(&["--json", "ping"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    for h in ["node01", "node02"] {
        assert_eq!(j["hosts"][h]["unreachable"], 0, "{}", r.all());
        assert_eq!(j["facts"][h]["os_family"], "Debian", "{}", r.all());
        assert!(j["facts"][h]["all_ipv4_addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "127.0.0.1"));
    }
    assert!(r.stderr.contains("ok: [node01] debian"), "{}", r.all());
}

#[test]
fn modules_change_then_second_run_changes_nothing() {
    let lab = modules_lab(3);
    let r = lab.lvslab(&["--json", "run", "playbooks/modules.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for h in &lab.names {
        let (ok, changed, failed, unreachable, _skipped) = r.counts(h);
        assert_eq!((failed, unreachable), (0, 0), "{}", r.all());
        // dir, touch, mode, copy, template, command, shell, handler
        assert_eq!(changed, 8, "{h}: {}", r.all());
        assert!(ok >= 13, "{}", r.all());
        let d = lab.node_dir(h);
        assert_eq!(
            std::fs::read_to_string(d.join("etc/motd")).unwrap(),
            format!("hello from {h}\n")
        );
        let app = std::fs::read_to_string(d.join("etc/app.conf")).unwrap();
        assert!(app.starts_with(&format!("# {h}\nlisten ")), "{app}");
        assert!(app.ends_with("os Debian\n"), "{app}");
        assert!(d.join("handler-ran").exists());
        assert!(d.join("created-by-command").exists());
        let mode = std::fs::metadata(d.join("etc/marker")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }
    let r2 = lab.lvslab(&["--json", "run", "playbooks/modules.yml"]);
    assert_eq!(r2.code, 0, "{}", r2.all());
    for h in &lab.names {
        let (_, changed, failed, _, _) = r2.counts(h);
        // Only the `shell` task (no creates/removes) reports a change, as in Ansible.
        assert_eq!((changed, failed), (1, 0), "{h}: {}", r2.all());
    }
    assert!(
        r2.stderr.contains(&format!("{} : ok=", lab.names[0])),
        "{}",
        r2.all()
    );
}

const CHECK_PB: &str = r#"
- hosts: all
  tasks:
    - name: make a directory
      file: {path: "{{ node_dir }}/etc", state: directory}
    - name: copy content
      copy: {dest: "{{ node_dir }}/etc/motd", content: "hi\n"}
    - name: render a template
      template: {src: app.conf.j2, dest: "{{ node_dir }}/etc/app.conf"}
    - name: command with creates
      command: {argv: [touch, "{{ node_dir }}/x"], creates: "{{ node_dir }}/x"}
    - name: not waited for in check mode
      wait_for: {port: 1, timeout: 1}
    - name: shell would run
      shell: echo hi > {{ node_dir }}/shell-ran
    - name: a fact is still set
      set_fact: {checked: yes}
    - name: remove a file that exists
      file: {path: "{{ node_dir }}/keep-me", state: absent}
    - name: probe runs even in check mode
      command: ls /
      check_mode: false
      changed_when: false
      register: probe
    - assert: {that: "probe.rc == 0"}
"#;

#[test]
fn check_mode_reports_changes_and_changes_nothing() {
    let lab = modules_lab(1);
    std::fs::write(lab.node_dir("node01").join("keep-me"), "x").unwrap();
    lab.write("playbooks/check.yml", CHECK_PB);
    let r = lab.lvslab(&["--json", "run", "--check", "playbooks/check.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // 4 changes (dir, copy, template, absent); command, wait_for and shell skipped; the probe,
    // set_fact and assert ok.
    assert_eq!(r.counts("node01"), (7, 4, 0, 0, 3), "{}", r.all());
    assert!(lab.node_dir("node01").join("keep-me").exists());
    assert!(!lab.node_dir("node01").join("shell-ran").exists());
    let d = lab.node_dir("node01");
    assert!(
        !d.join("etc").exists(),
        "check mode created files: {}",
        r.all()
    );
    assert!(
        !d.join("state").exists(),
        "check mode wrote state: {}",
        r.all()
    );
    let j = r.json();
    let changed: Vec<&str> = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] == "changed")
        .map(|x| x["task"].as_str().unwrap())
        .collect();
    assert!(changed.contains(&"make a directory"), "{}", r.all());
    assert!(changed.contains(&"copy content"), "{}", r.all());
}

#[test]
fn diff_shows_unified_diffs() {
    let lab = Lab::new(1);
    let d = lab.node_dir("node01");
    std::fs::write(d.join("conf"), "a\nb\nc\n").unwrap();
    lab.write(
        "playbooks/diff.yml",
        "- hosts: all\n  tasks:\n    - copy: {dest: \"{{ node_dir }}/conf\", content: \"a\\nB\\nc\\n\"}\n    - template: {src: t.j2, dest: \"{{ node_dir }}/t.conf\"}\n",
    );
    lab.write("templates/t.j2", "host {{ inventory_hostname }}\n");
    std::fs::write(d.join("t.conf"), "host old\n").unwrap();
    let r = lab.lvslab(&["run", "--diff", "--check", "playbooks/diff.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("-b\n+B\n"), "{}", r.all());
    assert!(
        r.stdout.contains("-host old\n+host node01\n"),
        "{}",
        r.all()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("conf")).unwrap(),
        "a\nb\nc\n"
    );
    let r = lab.lvslab(&["run", "--diff", "playbooks/diff.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let conf = d.join("conf");
    assert!(
        r.stdout
            .contains(&format!("--- before: {}", conf.display())),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("-b\n+B\n"), "{}", r.all());
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "a\nB\nc\n");
}

#[test]
fn colour_follows_the_choice_and_quiet_keeps_failures_and_the_recap() {
    let lab = Lab::new(1);
    let d = lab.node_dir("node01");
    std::fs::write(d.join("conf"), "a\nb\n").unwrap();
    lab.write(
        "playbooks/colour.yml",
        "- hosts: all\n  tasks:\n    - name: edit\n      copy: {dest: \"{{ node_dir }}/conf\", content: \"a\\nB\\n\"}\n",
    );
    // Not a terminal: plain, whatever NO_COLOR says.
    let r = lab.lvslab(&["run", "--check", "--diff", "playbooks/colour.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stdout.contains('\x1b'), "{}", r.all());
    // --color always: changed yellow in the result and the recap, the diff painted.
    let r = lab.lvslab_env(
        &[("NO_COLOR", "1")],
        &[
            "--color",
            "always",
            "run",
            "--check",
            "--diff",
            "playbooks/colour.yml",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("\x1b[33mchanged: [node01]\x1b[0m"),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("\x1b[31m-b\x1b[0m"), "{}", r.all());
    assert!(r.stdout.contains("\x1b[32m+B\x1b[0m"), "{}", r.all());
    assert!(r.stdout.contains("\x1b[33mnode01\x1b[0m : "), "{}", r.all());
    // -q: no play or task headers, no ok/changed lines; failures and the recap stay.
    lab.write(
        "playbooks/fails.yml",
        "- hosts: all\n  tasks:\n    - name: fine\n      command: \"true\"\n    - name: boom\n      command: \"false\"\n",
    );
    let r = lab.lvslab(&["-q", "run", "playbooks/fails.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(!r.stdout.contains("TASK ["), "{}", r.all());
    assert!(!r.stdout.contains("PLAY ["), "{}", r.all());
    assert!(!r.stdout.contains("changed: [node01]"), "{}", r.all());
    assert!(
        r.stdout.contains("failed: [node01] task \"boom\""),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("PLAY RECAP"), "{}", r.all());
}

#[test]
fn failing_command_names_host_task_status_and_stderr() {
    let lab = Lab::new(2);
    lab.write(
        "playbooks/fail.yml",
        "- hosts: all\n  tasks:\n    - name: break on node02\n      shell: \"if [ {{ inventory_hostname }} = node02 ]; then echo boom >&2; exit 3; fi\"\n    - name: after\n      command: \"true\"\n",
    );
    let r = lab.lvslab(&["run", "playbooks/fail.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("failed: [node02] task \"break on node02\": non-zero return code"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains(
            "  command: /bin/sh -c 'if [ node02 = node02 ]; then echo boom >&2; exit 3; fi'"
        ),
        "{}",
        r.all()
    );
    assert!(r.stdout.contains("  exit status: 3"), "{}", r.all());
    assert!(r.stdout.contains("  stderr: boom"), "{}", r.all());
    assert!(
        r.stdout
            .contains("node01 : ok=2 changed=2 failed=0 unreachable=0 skipped=0"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout
            .contains("node02 : ok=0 changed=0 failed=1 unreachable=0 skipped=0"),
        "{}",
        r.all()
    );
}

#[test]
fn unreachable_host_is_reported_with_ssh_reason() {
    // A port bound but never listening: connections to it are refused, and no sshd another test
    // starts meanwhile can take it (a port freed again could be).
    let reserved =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    reserved
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    let port = reserved
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("bound address")
        .port();
    let lab = Lab::with_extra_hosts(
        1,
        &format!("    dead:\n      ansible_host: 127.0.0.1\n      ansible_port: {port}\n"),
    );
    lab.write(
        "playbooks/p.yml",
        "- hosts: all\n  tasks:\n    - command: \"true\"\n",
    );
    let r = lab.lvslab(&["run", "playbooks/p.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("unreachable: [dead]"), "{}", r.all());
    assert!(r.stdout.contains("Connection refused"), "{}", r.all());
    assert!(
        r.stdout
            .contains("dead : ok=0 changed=0 failed=0 unreachable=1 skipped=0"),
        "{}",
        r.all()
    );
    assert!(
        r.stdout.contains("node01 : ok=1 changed=1 failed=0"),
        "{}",
        r.all()
    );
}

#[test]
fn unknown_host_key_is_refused() {
    let lab = Lab::new(1);
    std::fs::write(lab.path().join("known_hosts"), "").unwrap();
    let r = lab.lvslab(&["ping"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("host key verification failed"),
        "{}",
        r.all()
    );
}

#[test]
fn restore_puts_files_back_and_is_idempotent() {
    let lab = Lab::new(1);
    let d = lab.node_dir("node01");
    std::fs::write(d.join("existing.conf"), "original\n").unwrap();
    lab.write(
        "playbooks/setup.yml",
        "- hosts: all\n  tasks:\n    - copy: {dest: \"{{ node_dir }}/existing.conf\", content: \"managed\\n\", mode: \"0600\"}\n    - copy: {dest: \"{{ node_dir }}/new.conf\", content: \"new\\n\"}\n    - file: {path: \"{{ node_dir }}/newdir\", state: directory}\n    - copy: {dest: \"{{ node_dir }}/newdir/inner\", content: \"x\\n\"}\n",
    );
    lab.write(
        "playbooks/teardown.yml",
        "- hosts: all\n  tasks:\n    - name: restore\n      restore: {}\n",
    );
    let r = lab.lvslab(&["--json", "setup"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        std::fs::read_to_string(d.join("existing.conf")).unwrap(),
        "managed\n"
    );
    assert!(d.join("state/state.json").exists());
    // teardown --check changes nothing
    let c = lab.lvslab(&["--json", "teardown", "--check"]);
    assert_eq!(c.counts("node01").1, 1, "{}", c.all());
    assert!(d.join("new.conf").exists());
    let t = lab.lvslab(&["--json", "teardown"]);
    assert_eq!(t.code, 0, "{}", t.all());
    assert_eq!(t.counts("node01").1, 1, "{}", t.all());
    assert_eq!(
        std::fs::read_to_string(d.join("existing.conf")).unwrap(),
        "original\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(d.join("existing.conf"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    assert!(!d.join("new.conf").exists());
    assert!(!d.join("newdir").exists());
    assert!(!d.join("state/state.json").exists());
    let t2 = lab.lvslab(&["--json", "teardown"]);
    assert_eq!(t2.code, 0, "{}", t2.all());
    assert_eq!(t2.counts("node01").1, 0, "{}", t2.all());
}

#[test]
fn teardown_of_a_node_never_set_up_changes_nothing() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/teardown.yml",
        "- hosts: all\n  tasks:\n    - restore: {}\n",
    );
    let t = lab.lvslab(&["--json", "teardown"]);
    assert_eq!(t.code, 0, "{}", t.all());
    assert_eq!(t.counts("node01"), (1, 0, 0, 0, 0), "{}", t.all());
}

#[test]
fn failed_validation_leaves_live_file_alone() {
    let lab = Lab::new(1);
    let d = lab.node_dir("node01");
    std::fs::write(d.join("live.conf"), "good\n").unwrap();
    lab.write("templates/bad.j2", "broken {{ inventory_hostname }}\n");
    lab.write(
        "playbooks/v.yml",
        "- hosts: all\n  tasks:\n    - template: {src: bad.j2, dest: \"{{ node_dir }}/live.conf\", validate: \"grep -q good %s\"}\n",
    );
    let r = lab.lvslab(&["run", "playbooks/v.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("validation failed: grep -q good %s"),
        "{}",
        r.all()
    );
    assert_eq!(
        std::fs::read_to_string(d.join("live.conf")).unwrap(),
        "good\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("lvslab-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn secrets_never_appear_in_output() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/s.yml",
        "- hosts: all\n  vars:\n    keepalived_auth_pass: Sup3rS3cretPW\n  tasks:\n    - copy: {dest: \"{{ node_dir }}/k.conf\", content: \"auth_pass {{ keepalived_auth_pass }}\\n\"}\n    - command: echo {{ keepalived_auth_pass }}\n    - debug: {msg: \"pass is {{ keepalived_auth_pass }}\"}\n    - fail: {msg: \"oops {{ keepalived_auth_pass }}\"}\n",
    );
    for args in [
        vec!["-vv", "run", "--diff", "playbooks/s.yml"],
        vec!["-vv", "--json", "run", "--diff", "playbooks/s.yml"],
    ] {
        let r = lab.lvslab(&args);
        assert_eq!(r.code, 1, "{}", r.all());
        let all = r.all();
        assert!(!all.contains("Sup3rS3cretPW"), "{all}");
        assert!(!all.contains("Sup3rS3c"), "first 8 chars leaked: {all}");
        assert!(all.contains("auth_pass ********"), "{all}");
    }
}

#[test]
fn bad_input_exits_2_and_contacts_nobody() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/bad.yml",
        "- hosts: all\n  tasks:\n    - name: oops\n      copy: {dest: /x, conten: y}\n",
    );
    let r = lab.lvslab(&["run", "playbooks/bad.yml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("unknown argument `conten` for module `copy`"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("——▶ playbooks/bad.yml:4:24"),
        "{}",
        r.all()
    );
    assert!(r.stdout.is_empty(), "{}", r.all());
    let r = lab.lvslab(&["--json", "run", "--limit", "nosuch", "playbooks/bad.yml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(r.json()["exit_code"], 2, "{}", r.all());
    let r = lab.lvslab(&["verify"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("the inventory has no `directors` group"),
        "{}",
        r.all()
    );
    // The sshd log shows no connection at all.
    let log = std::fs::read_to_string(lab.path().join("sshd_0.log")).unwrap_or_default();
    assert!(!log.contains("Accepted"), "{log}");
}

#[test]
fn loops_when_and_registered_results() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/l.yml",
        "- hosts: all\n  tasks:\n    - name: files\n      copy: {dest: \"{{ node_dir }}/{{ item }}\", content: \"{{ item }}\\n\"}\n      loop: [a, b, c]\n      register: files\n    - name: skipped\n      command: \"false\"\n      when: files.results | length != 3\n    - name: ran\n      command: echo {{ files.results | map(attribute='changed') | select | list | length }}\n      register: n\n      when: ansible_facts.os_family == 'Debian'\n    - assert: {that: \"n.stdout == '3'\"}\n",
    );
    let r = lab.lvslab(&["--json", "run", "playbooks/l.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(r.counts("node01"), (3, 2, 0, 0, 1), "{}", r.all());
    for f in ["a", "b", "c"] {
        assert!(lab.node_dir("node01").join(f).exists());
    }
}

#[test]
fn limit_selects_hosts() {
    let lab = Lab::new(3);
    lab.write(
        "playbooks/p.yml",
        "- hosts: all\n  tasks:\n    - command: \"true\"\n",
    );
    let r = lab.lvslab(&["--json", "run", "--limit", "all:!node02", "playbooks/p.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let j = r.json();
    assert!(j["hosts"].get("node02").is_none(), "{}", r.all());
    assert_eq!(j["hosts"]["node03"]["changed"], 1);
}

#[test]
fn ctrl_c_stops_cleanly() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/slow.yml",
        "- hosts: all\n  tasks:\n    - command: sleep 37.25\n",
    );
    let tmp = lab.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(lab.path())
        .env("TMPDIR", &tmp)
        .args(["-i", "inventory.yml", "run", "playbooks/slow.yml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe_kill(child.id(), 2);
    let start = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    // Nothing left but the (empty) private directory where connections may outlive a run
    // that was not interrupted.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let persist = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("lvslab-cm-"));
            !(persist && std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none()))
        })
        .collect();
    assert!(
        left.is_empty(),
        "control directories or sockets left: {left:?}"
    );
    // The remote command ended too (the test's sshd is still running).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "sleep 37[.]25"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "remote command still running: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

#[test]
fn precedence_inventory_play_set_fact_extra() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/p.yml",
        "- hosts: all\n  vars: {a: play, b: play, c: play}\n  tasks:\n    - set_fact: {b: fact, c: fact}\n    - debug: {msg: \"node_dir={{ node_dir != '' }} a={{ a }} b={{ b }} c={{ c }}\"}\n",
    );
    let r = lab.lvslab(&["run", "-e", "c=cli", "playbooks/p.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("ok: [node01] node_dir=True a=play b=fact c=cli"),
        "{}",
        r.all()
    );
}

#[test]
fn proxy_command_route_works() {
    let lab = Lab::new(1);
    // A one-process TCP relay (no children left behind), like `lvslab lab proxy %h %p`.
    lab.write(
        "proxy.pl",
        "use IO::Socket::INET; use IO::Select;\n\
         my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1]) or exit 1;\n\
         binmode STDIN; binmode STDOUT; my $sel = IO::Select->new(\\*STDIN, $s);\n\
         while (my @r = $sel->can_read) { for my $fh (@r) {\n\
           my $n = sysread($fh, my $buf, 65536); exit 0 unless $n;\n\
           if (fileno($fh) == fileno($s)) { syswrite(STDOUT, $buf) } else { syswrite($s, $buf) } } }\n",
    );
    let inv = std::fs::read_to_string(lab.path().join("inventory.yml")).unwrap();
    let proxied = |port: &str| {
        inv.replace(
            "      ansible_host: 127.0.0.1\n",
            &format!(
                "      ansible_host: 127.0.0.1\n      ansible_ssh_common_args: \"-o ProxyCommand='perl {} %h {port}'\"\n",
                lab.path().join("proxy.pl").display()
            ),
        )
    };
    std::fs::write(lab.path().join("inventory.yml"), proxied("%p")).unwrap();
    let r = lab.lvslab(&["ping"]);
    assert_eq!(r.code, 0, "{}", r.all());
    // Proof the proxy carries the connection: a proxy to a closed port makes the host unreachable.
    std::fs::write(lab.path().join("inventory.yml"), proxied("1")).unwrap();
    let r = lab.lvslab(&["ping"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("unreachable: [node01]"), "{}", r.all());
    let bad = proxied("%p").replace("ProxyCommand=", "StrictHostKeyChecking=no -o ProxyCommand=");
    std::fs::write(lab.path().join("inventory.yml"), bad).unwrap();
    let r = lab.lvslab(&["ping"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("`StrictHostKeyChecking` cannot be set: host keys are always checked"),
        "{}",
        r.all()
    );
}

#[test]
fn copy_into_a_missing_directory_fails_cleanly() {
    let lab = Lab::new(1);
    let big = "x".repeat(1 << 20);
    lab.write(
        "playbooks/c.yml",
        &format!("- hosts: all\n  tasks:\n    - copy: {{dest: \"{{{{ node_dir }}}}/no/such/dir/f\", content: \"{big}\"}}\n"),
    );
    let r = lab.lvslab(&["run", "playbooks/c.yml"]);
    assert_eq!(r.code, 1, "{}", &r.all()[..2000.min(r.all().len())]);
    assert!(
        r.stdout
            .contains("failed: [node01] task \"copy\": cannot write file"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("cat > \"$tmp\""), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("node01 : ok=0 changed=0 failed=1 unreachable=0"),
        "{}",
        r.stdout
    );
}

#[test]
fn one_round_trip_to_check_and_one_to_apply() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/rt.yml",
        "- hosts: all\n  tasks:\n    - name: put\n      copy: {dest: \"{{ node_dir }}/f\", content: \"x\\n\", mode: \"0600\"}\n    - name: dir\n      file: {path: \"{{ node_dir }}/d\", state: directory}\n",
    );
    let commands_of = |out: &str, task: &str| -> usize {
        let start = out.find(&format!("TASK [{task}]")).expect("task shown");
        let rest = &out[start + 1..];
        let end = rest
            .find("\nTASK [")
            .or_else(|| rest.find("\nPLAY RECAP"))
            .unwrap_or(rest.len());
        rest[..end].matches("\n  $ ").count()
    };
    let first = lab.lvslab(&["-v", "run", "playbooks/rt.yml"]);
    assert_eq!(first.code, 0, "{}", first.all());
    assert_eq!(commands_of(&first.stdout, "put"), 2, "{}", first.stdout);
    assert_eq!(commands_of(&first.stdout, "dir"), 2, "{}", first.stdout);
    let second = lab.lvslab(&["-v", "run", "playbooks/rt.yml"]);
    assert_eq!(commands_of(&second.stdout, "put"), 1, "{}", second.stdout);
    assert_eq!(commands_of(&second.stdout, "dir"), 1, "{}", second.stdout);
}

#[test]
fn queries_ahead_travel_in_one_batch_and_a_change_drops_what_it_made_stale() {
    let lab = Lab::new(2);
    // Two tasks write the same file: the second must see the first's change, not the answer
    // batched before it.
    lab.write(
        "playbooks/twice.yml",
        "- hosts: all\n  tasks:\n    - name: one\n      copy: {dest: \"{{ node_dir }}/f\", content: \"one\\n\"}\n    - name: two\n      copy: {dest: \"{{ node_dir }}/f\", content: \"two\\n\"}\n    - name: other\n      copy: {dest: \"{{ node_dir }}/g\", content: \"g\\n\"}\n    - name: dir\n      file: {path: \"{{ node_dir }}/d\", state: directory}\n",
    );
    for n in ["node01", "node02"] {
        // What the batch sees before "one" runs is what "two" wants.
        std::fs::write(lab.node_dir(n).join("f"), "two\n").expect("f");
    }
    let first = lab.lvslab(&["--json", "run", "playbooks/twice.yml"]);
    assert_eq!(first.code, 0, "{}", first.all());
    for n in ["node01", "node02"] {
        let f = std::fs::read_to_string(lab.node_dir(n).join("f")).expect("f");
        assert_eq!(f, "two\n", "{n}: the second write saw a stale answer");
        assert_eq!(first.counts(n).1, 4, "{}", first.all());
    }
    // Already right: the facts and one batch of queries per host, nothing else; with the
    // facts of the run before predicting the queries, the batch rides with the facts.
    lab.write(
        "playbooks/warm.yml",
        "- hosts: all\n  tasks:\n    - name: two\n      copy: {dest: \"{{ node_dir }}/f\", content: \"two\\n\"}\n    - name: other\n      copy: {dest: \"{{ node_dir }}/g\", content: \"g\\n\"}\n- hosts: all\n  tasks:\n    - name: dir\n      file: {path: \"{{ node_dir }}/d\", state: directory}\n",
    );
    for (cache, round_trips) in [("0", 2), ("1", 1)] {
        let warm = lab.lvslab_env(
            &[("LVSLAB_TRACE", "1"), ("LVSLAB_FACTS_CACHE", cache)],
            &["--json", "run", "playbooks/warm.yml"],
        );
        assert_eq!(warm.code, 0, "{}", warm.all());
        for n in ["node01", "node02"] {
            assert_eq!(warm.counts(n).1, 0, "{}", warm.all());
            assert_eq!(
                warm.round_trips(n),
                round_trips,
                "{n}: facts cache {cache}: {round_trips} round trip(s) expected\n{}",
                warm.stderr
            );
        }
    }
    // No facts wanted: the queries ride with the first (and only) round trip.
    lab.write(
        "playbooks/nofacts.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: two\n      copy: {dest: \"{{ node_dir }}/f\", content: \"two\\n\"}\n    - name: dir\n      file: {path: \"{{ node_dir }}/d\", state: directory}\n",
    );
    let bare = lab.lvslab_env(
        &[("LVSLAB_TRACE", "1")],
        &["--json", "run", "playbooks/nofacts.yml"],
    );
    assert_eq!(bare.code, 0, "{}", bare.all());
    for n in ["node01", "node02"] {
        assert_eq!(bare.counts(n).1, 0, "{}", bare.all());
        assert_eq!(
            bare.round_trips(n),
            1,
            "{n}: one round trip expected\n{}",
            bare.stderr
        );
    }
}

/// `overlap: true`: a play waits only for the earlier plays sharing a host with it, so the
/// play on node02 runs while node01's earlier play is still waiting for it (run one after the
/// other, node01's wait would time out); a play without `overlap` waits for both. Each play's
/// report stays one block.
#[test]
fn overlapping_plays_run_at_once_and_a_plain_play_waits_for_them() {
    let lab = Lab::new(2);
    let shared = lab.path().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let s = shared.display();
    let wait = |f: &str| {
        format!(
            "i=0; until [ -e {s}/{f} ]; do i=$((i + 1)); [ $i -le 50 ] || exit 1; sleep 0.1; done"
        )
    };
    lab.write(
        "playbooks/overlap.yml",
        &format!(
            "- name: first\n  hosts: node01\n  overlap: true\n  tasks:\n    - name: wait for second\n      shell: \"{}\"\n    - name: first done\n      shell: \"touch {s}/first\"\n\
             - name: second\n  hosts: node02\n  overlap: true\n  tasks:\n    - name: mark\n      shell: \"touch {s}/second\"\n\
             - name: after both\n  hosts: node02\n  tasks:\n    - name: first finished\n      shell: \"test -e {s}/first\"\n",
            wait("second")
        ),
    );
    let r = lab.lvslab(&["run", "playbooks/overlap.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let out = &r.stdout;
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {out}"))
    };
    // Each play reads as one block: its PLAY line, then its tasks, before the next PLAY.
    assert!(at("PLAY [first]") < at("TASK [wait for second]"));
    assert!(at("TASK [wait for second]") < at("TASK [first done]"));
    assert!(at("PLAY [second]") < at("TASK [mark]"));
    assert!(at("PLAY [after both]") > at("TASK [first done]").max(at("TASK [mark]")));

    // Without `overlap` the same plays run one after the other: the wait fails.
    std::fs::remove_file(shared.join("second")).expect("reset");
    std::fs::remove_file(shared.join("first")).expect("reset");
    let plain = std::fs::read_to_string(lab.path().join("playbooks/overlap.yml"))
        .expect("playbook")
        .replace("  overlap: true\n", "");
    lab.write("playbooks/plain.yml", &plain);
    let r = lab.lvslab(&["run", "playbooks/plain.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("failed: [node01] task \"wait for second\""),
        "{}",
        r.stdout
    );
}

/// Ctrl-C while an overlapping play runs: the report lines it held back (to print the play as
/// one block) are still printed, and the recap counts what it did.
#[test]
fn an_interrupted_overlapping_play_still_reports_what_it_did() {
    let lab = Lab::new(1);
    let marker = lab.path().join("marker");
    lab.write(
        "playbooks/held.yml",
        &format!(
            "- name: quick\n  hosts: all\n  overlap: true\n  tasks:\n    - name: marker\n      shell: \"touch {}\"\n    - name: slow\n      command: sleep 41.5\n",
            marker.display()
        ),
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(lab.path())
        .env("XDG_CACHE_HOME", lab.path().join("cache"))
        .env("TMPDIR", lab.tmp())
        .args(["-i", "inventory.yml", "run", "playbooks/held.yml"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !marker.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(marker.exists(), "the first task ran");
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe_kill(child.id(), 2);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(stdout.contains("TASK [marker]"), "{stdout}");
    assert!(stdout.contains("changed: [node01]"), "{stdout}");
    assert!(
        stdout.contains("node01 : ok=1 changed=1 failed=0"),
        "{stdout}"
    );
}

/// A TMPDIR of the lab's own, where its runs leave their masters (and its path as text).
fn persisting_in(lab: &Lab) -> (std::path::PathBuf, String) {
    let tmp = lab.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let s = tmp.to_string_lossy().into_owned();
    (tmp, s)
}

/// Run `ping` in `env`; the masters it left under `tmp`.
fn masters_after_ping(lab: &Lab, env: &[(&str, &str)], tmp: &std::path::Path) -> Vec<i32> {
    let r = lab.lvslab_env(env, &["ping"]);
    assert_eq!(r.code, 0, "{}", r.all());
    masters_under(tmp)
}

#[test]
fn a_run_leaves_its_connections_for_the_next_one_and_an_opt_out_closes_them() {
    let lab = Lab::new(2);
    let (tmp, tmp_s) = persisting_in(&lab);
    let env = [("TMPDIR", tmp_s.as_str())];
    let first = masters_after_ping(&lab, &env, &tmp);
    assert_eq!(first.len(), 2, "one master per host stays after the run");
    // The next run goes over them: no handshake, no new master.
    let r = lab.lvslab_env(&env, &["ping"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(masters_under(&tmp), first, "the same masters, reused");
    // A master whose connection is gone is noticed, and replaced.
    for s in &lab.sshds {
        s.end_sessions();
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = lab.lvslab_env(&env, &["ping"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let second = masters_under(&tmp);
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second.iter().all(|p| !first.contains(p)), "new masters");
    // LVSLAB_CONTROL_PERSIST=0: the run connects afresh and leaves nothing of its own.
    let off = [("TMPDIR", tmp_s.as_str()), ("LVSLAB_CONTROL_PERSIST", "0")];
    let r = lab.lvslab_env(&off, &["ping"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(masters_under(&tmp), second, "no master added");
}

/// A master an earlier run left, whose host froze (its side of the connection answers
/// nothing): the master passes its local check, so the run takes it over; the facts that
/// cannot come through it are asked again over a new connection, and the run goes on.
#[test]
fn a_taken_over_master_whose_host_froze_is_replaced() {
    let lab = Lab::with_extra_hosts(
        1,
        "  children:\n    g:\n      hosts:\n        node01:\n      vars:\n        \
         ansible_ssh_common_args: -o ServerAliveCountMax=1\n",
    );
    let (tmp, tmp_s) = persisting_in(&lab);
    let env = [("TMPDIR", tmp_s.as_str())];
    let first = masters_after_ping(&lab, &env, &tmp);
    assert_eq!(first.len(), 1, "{first:?}");
    let frozen = lab.sshds[0].freeze_sessions();
    let r = lab.lvslab_env(&env, &["ping"]);
    drop(frozen);
    assert_eq!(r.code, 0, "{}", r.all());
    let second = masters_under(&tmp);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "a new master");
}

/// An Ansible user's layout: an INI `hosts` file with the connection settings in group_vars/
/// and host_vars/ (a directory), then `--tags` choosing tasks (`always` and `never` as in
/// Ansible), and the plan-only options answering without contacting anyone.
#[test]
fn ini_inventory_with_vars_dirs_and_tags() {
    let lab = Lab::new(1);
    let v = lab.lvslab(&["inventory", "--host", "node01"]);
    assert_eq!(v.code, 0, "{}", v.all());
    let v = v.json();
    let s = |k: &str| {
        v[k].as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v[k].to_string())
    };
    lab.write(
        "ini/hosts",
        "# from an Ansible project\n[web]\nnode01 ansible_host=127.0.0.1\n",
    );
    lab.write(
        "ini/group_vars/all.yml",
        &format!(
            "ansible_user: root\nansible_ssh_private_key_file: {}\nlvslab_known_hosts_file: {}\n",
            s("ansible_ssh_private_key_file"),
            s("lvslab_known_hosts_file")
        ),
    );
    lab.write(
        "ini/host_vars/node01/connection.yml",
        &format!(
            "ansible_port: {}\nnode_dir: {}\nlvslab_state_file: {}\n",
            s("ansible_port"),
            s("node_dir"),
            s("lvslab_state_file")
        ),
    );
    let task = |name: &str, tags: &str| {
        format!("    - name: {name}\n      copy: {{dest: \"{{{{ node_dir }}}}/{name}\", content: x}}\n      tags: {tags}\n")
    };
    let pb = format!(
        "- hosts: web\n  gather_facts: false\n  tasks:\n{}{}{}{}{}",
        task("a", "[a]"),
        task("b", "[b]"),
        task("always", "[always]"),
        task("debug", "[never, debug]"),
        task("untagged", "[]")
    );
    lab.write("playbooks/t.yml", &pb);
    let r = lab.lvslab_inventory(
        "ini/hosts",
        &[],
        &["--json", "run", "--tags", "a", "playbooks/t.yml"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let made = |f: &str| lab.node_dir("node01").join(f).exists();
    assert!(made("a") && made("always"), "{}", r.all());
    assert!(
        !made("b") && !made("debug") && !made("untagged"),
        "{}",
        r.all()
    );

    let r = lab.lvslab_inventory(
        "ini/hosts",
        &[],
        &["run", "--list-tasks", "--tags", "debug", "playbooks/t.yml"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("      always\tTAGS: [always]\n      debug\tTAGS: [debug, never]\n"),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("untagged"), "{}", r.all());

    // Plan-only: with the host's port closed, any contact would fail the run (exit 1).
    lab.write(
        "off/hosts",
        "[web]\nnode01 ansible_host=127.0.0.1 ansible_port=1 node_dir=/nonexistent\n",
    );
    for flag in ["--list-hosts", "--list-tasks", "--syntax-check"] {
        let r = lab.lvslab_inventory("off/hosts", &[], &["run", flag, "playbooks/t.yml"]);
        assert_eq!(r.code, 0, "{flag}: {}", r.all());
        assert!(
            r.stdout.starts_with("\nplaybook: playbooks/t.yml\n"),
            "{flag}: {}",
            r.all()
        );
        assert!(!r.stderr.contains("unreachable"), "{flag}: {}", r.all());
    }
    let r = lab.lvslab_inventory(
        "off/hosts",
        &[],
        &["run", "--list-hosts", "playbooks/t.yml"],
    );
    assert!(
        r.stdout
            .contains("    pattern: ['web']\n    hosts (1):\n      node01\n"),
        "{}",
        r.all()
    );
}

/// `-vvv` shows ssh's own debug output, each line under its host, as `ansible-playbook -vvvv`
/// does; fewer `-v` show none of it. A secret in a command ssh's log quotes stays masked.
#[test]
fn ssh_debug_output_with_three_v() {
    let lab = Lab::new(2);
    lab.write(
        "playbooks/v.yml",
        "- hosts: all\n  gather_facts: false\n  vars:\n    app_token: Tok3nNotShown\n  tasks:\n    - command: echo {{ app_token }}\n      changed_when: false\n",
    );
    let r = lab.lvslab(&["-vvv", "run", "playbooks/v.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for host in &lab.names {
        assert!(
            r.stderr.contains(&format!("<{host}> ssh: debug1: ")),
            "{host}: {}",
            r.all()
        );
        assert!(
            r.stderr
                .contains(&format!("<{host}> ssh: Authenticated to 127.0.0.1")),
            "{host}: the handshake is shown: {}",
            r.all()
        );
    }
    assert!(
        !r.stderr.contains("debug2: "),
        "-vvv is ssh -v: {}",
        r.all()
    );
    assert!(!r.all().contains("Tok3nNotShown"), "{}", r.all());
    let r = lab.lvslab(&["-vvvv", "run", "playbooks/v.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("> ssh: debug2: "), "{}", r.all());
    assert!(!r.all().contains("Tok3nNotShown"), "{}", r.all());
    let r = lab.lvslab(&["-vv", "run", "playbooks/v.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.all().contains("debug1"), "{}", r.all());

    // A host that refuses the login: its debug lines, and its reason without them.
    lab.write(
        "bad.yml",
        &std::fs::read_to_string(lab.path().join("inventory.yml"))
            .unwrap()
            .replace("ansible_user: root", "ansible_user: lvt-no-such-user"),
    );
    let r = lab.lvslab_inventory("bad.yml", &[], &["-vvv", "run", "playbooks/v.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("<node01> ssh: debug1: "), "{}", r.all());
    let reason = r
        .stdout
        .lines()
        .chain(r.stderr.lines())
        .find(|l| l.contains("Permission denied") && !l.contains("> ssh: "))
        .unwrap_or_else(|| panic!("the refusal is reported: {}", r.all()));
    assert!(!reason.contains("debug1"), "{reason}");
}

#[test]
fn a_host_that_stops_answering_mid_run_is_reported_with_ssh_s_reason() {
    // The task freezes the sshd process serving its own connection (this test's sshd's child),
    // as a host that hangs would, and a sleeper it leaves behind kills that process later. With
    // one keepalive allowed (5 s apart), ssh gives the host up within ~10 s and logs why.
    let lab = Lab::with_extra_hosts(
        1,
        "  children:\n    g:\n      hosts:\n        node01:\n      vars:\n        \
         ansible_ssh_common_args: -o ServerAliveCountMax=1\n",
    );
    lab.write(
        "playbooks/p.yml",
        "- hosts: all\n  tasks:\n    - shell: |\n        p=$$\n        \
         while [ \"$p\" -gt 1 ]; do\n          \
         case $(ps -o comm= -p \"$p\") in sshd*) break;; esac\n          \
         p=$(ps -o ppid= -p \"$p\" | tr -d ' ')\n        done\n        \
         [ \"$p\" -gt 1 ] || exit 3\n        \
         (sleep 25; kill -9 \"$p\") >/dev/null 2>&1 </dev/null &\n        \
         kill -STOP \"$p\"\n        sleep 30\n",
    );
    let r = lab.lvslab(&["run", "playbooks/p.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("unreachable: [node01]"), "{}", r.all());
    assert!(
        r.stdout
            .contains("(ssh: Timeout, server 127.0.0.1 not responding.)"),
        "{}",
        r.all()
    );
}
