//! Logins as users have them, against real sshd on 127.0.0.1: an unprivileged user becoming
//! root through sudo (with and without a password), a wrong password, `su` to another user,
//! and ssh password logins through ssh's askpass. The users are throwaway accounts made for the
//! test and removed after it (so the tests need root, as the other sshd tests do).

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::procwatch::Watch;
use util::Lab;

/// A local account for one test: its password, its sudo rule; removed on drop.
struct User {
    name: String,
}

impl User {
    /// `sudo`: `Some(true)` sudo asks for the password, `Some(false)` it does not, `None` no
    /// sudo rights.
    fn new(tag: &str, password: &str, sudo: Option<bool>) -> User {
        // SAFETY: geteuid has no preconditions.
        assert!(
            unsafe { libc::geteuid() } == 0,
            "these tests make local users: run them as root"
        );
        let name = format!("lvt{}{tag}", std::process::id() % 100_000);
        let _ = Command::new("userdel").args(["-r", &name]).output();
        let st = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(st.success(), "useradd {name}");
        let mut c = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .expect("chpasswd");
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("{name}:{password}\n").as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success(), "chpasswd {name}");
        if let Some(ask) = sudo {
            let rule = if ask { "ALL" } else { "NOPASSWD: ALL" };
            std::fs::write(
                format!("/etc/sudoers.d/{name}"),
                format!("{name} ALL=(ALL:ALL) {rule}\n"),
            )
            .unwrap();
        }
        User { name }
    }

    fn uid(&self) -> u32 {
        let out = Command::new("id")
            .args(["-u", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/etc/sudoers.d/{}", self.name));
        // The user's ssh sessions (connections the runs left open) end first: userdel refuses
        // a user that still has processes.
        for _ in 0..20 {
            let _ = Command::new("pkill").args(["-u", &self.name]).output();
            let gone = Command::new("userdel")
                .args(["-r", &self.name])
                .output()
                .is_ok_and(|o| o.status.success() || o.status.code() == Some(6));
            if gone {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// An inventory for `lab`'s hosts, each logging in as `users[i]` with the lab's key (or, with
/// `key: false`, without one), plus `vars` under `all.vars`.
fn inventory(lab: &Lab, logins: &[&str], key: bool, vars: &str) -> String {
    let d = lab.path();
    let mut inv = String::from("all:\n  vars:\n");
    if key {
        inv.push_str(&format!(
            "    ansible_ssh_private_key_file: {}\n",
            d.join("user_key").display()
        ));
    } else {
        inv.push_str("    ansible_ssh_common_args: -o PubkeyAuthentication=no\n");
    }
    inv.push_str(&format!(
        "    lvslab_known_hosts_file: {}\n",
        d.join("known_hosts").display()
    ));
    inv.push_str(vars);
    inv.push_str("  hosts:\n");
    for (i, login) in logins.iter().enumerate() {
        let name = &lab.names[i];
        let nd = lab.node_dir(name);
        inv.push_str(&format!(
            "    {name}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: {login}\n      node_dir: {}\n      lvslab_state_file: {}/state/state.json\n",
            lab.sshds[i].port,
            nd.display(),
            nd.display()
        ));
    }
    inv
}

const WHO_PB: &str = r#"
- hosts: all
  become: true
  tasks:
    - name: who runs tasks
      command: id -un
      register: who
      changed_when: false
    - name: a file written through become
      copy:
        dest: "{{ node_dir }}/made.conf"
        content: "made by {{ who.stdout }}\n"
        mode: "0640"
    - name: the same content again
      copy:
        dest: "{{ node_dir }}/made.conf"
        content: "made by {{ who.stdout }}\n"
        mode: "0640"
    - name: a task without become
      command: id -un
      become: false
      register: plain
      changed_when: false
    - name: say who
      debug:
        msg: "become={{ who.stdout }} plain={{ plain.stdout }}"
"#;

/// Run `run` while [`Watch`] looks for `secret` in every process (`source`: the variable the
/// test hands it to lvslab in).
fn watch_processes(secret: &str, source: &str, run: impl FnOnce()) {
    let w = Watch::start(secret, source);
    run();
    w.finish();
}

#[test]
fn become_through_sudo_with_and_without_a_password_in_as_many_round_trips() {
    let pw = "Sudo-pw-4711";
    let with = User::new("a", pw, Some(true));
    let without = User::new("b", "Unused-pw-99", Some(false));
    let lab = Lab::new(3);
    // node01 asks sudo with a password (from the environment), node02's sudo asks none,
    // node03 logs in as root (no sudo needed).
    let mut inv = inventory(&lab, &[&with.name, &without.name, "root"], true, "");
    inv = inv.replacen(
        "      ansible_user: ",
        "      ansible_become_password: {secret_env: LVT_BECOME_PW}\n      ansible_user: ",
        1,
    );
    lab.write("inventory.yml", &inv);
    lab.write("playbooks/who.yml", WHO_PB);
    let mut r = None;
    watch_processes(pw, "LVT_BECOME_PW", || {
        r = Some(lab.lvslab_env(
            &[("LVT_BECOME_PW", pw), ("LVSLAB_TRACE", "1")],
            &["-vv", "run", "playbooks/who.yml"],
        ))
    });
    let r = r.unwrap();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.all().contains(pw), "the password leaked: {}", r.all());
    for (i, login) in [&with.name, &without.name, &"root".to_string()]
        .iter()
        .enumerate()
    {
        let host = &lab.names[i];
        assert!(
            r.all().contains(&format!("become=root plain={login}")),
            "{host}: tasks become root, a task with become: false runs as {login}: {}",
            r.all()
        );
        let made = lab.node_dir(host).join("made.conf");
        let md = std::fs::metadata(&made).expect("file made through become");
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        assert_eq!(
            (md.uid(), md.gid(), md.permissions().mode() & 0o7777),
            (0, 0, 0o640),
            "{host}: the file gets root's owner and the task's mode"
        );
    }
    // Becoming adds no round trip: the host with a sudo password, the one without and the
    // root login send as many commands.
    let trips: Vec<usize> = lab.names.iter().map(|h| r.round_trips(h)).collect();
    assert!(
        trips.iter().all(|t| *t == trips[0]) && trips[0] > 0,
        "round trips per host {trips:?}\n{}",
        r.all()
    );
}

#[test]
fn a_wrong_sudo_password_fails_that_host_promptly() {
    let user = User::new("c", "Right-pw-123", Some(true));
    let lab = Lab::new(2);
    let inv = inventory(&lab, &[&user.name, "root"], true, "");
    let inv = inv.replacen(
        "      ansible_user: ",
        "      ansible_become_password: Wrong-pw-456\n      ansible_user: ",
        1,
    );
    lab.write("inventory.yml", &inv);
    lab.write("playbooks/who.yml", WHO_PB);
    let started = Instant::now();
    let r = lab.lvslab(&["--json", "run", "playbooks/who.yml"]);
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        took < Duration::from_secs(20),
        "a wrong password is refused, not waited on ({took:?})"
    );
    assert!(
        r.all().contains("the password was refused") && r.all().contains(&user.name),
        "names the login and the refusal: {}",
        r.all()
    );
    assert!(!r.all().contains("Wrong-pw-456"), "{}", r.all());
    let (n1, n2) = (&lab.names[0], &lab.names[1]);
    assert_eq!(r.counts(n1).3, 1, "{n1} is unreachable: {}", r.all());
    assert_eq!(r.counts(n2).2, 0, "{n2} carries on: {}", r.all());

    // Without any password, sudo's own demand is named.
    let inv = inventory(&lab, &[&user.name], true, "");
    lab.write("inventory.yml", &inv);
    let r = lab.lvslab(&["run", "playbooks/who.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.all().contains("sudo asks for a password"), "{}", r.all());
}

#[test]
fn become_another_user_through_su() {
    let login = User::new("d", "Login-pw-1", None);
    let target = User::new("e", "Target-pw-2", None);
    let lab = Lab::new(1);
    let vars = format!(
        "    ansible_become_method: su\n    ansible_become_user: {}\n    ansible_become_password: Target-pw-2\n",
        target.name
    );
    lab.write(
        "inventory.yml",
        &inventory(&lab, &[&login.name], true, &vars),
    );
    let dir = lab.node_dir(&lab.names[0]);
    let st = Command::new("chown")
        .arg(&target.name)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    lab.write(
        "playbooks/su.yml",
        "- hosts: all\n  become: true\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n    - copy: {dest: \"{{ node_dir }}/by-su\", content: \"x\\n\"}\n    - debug: {msg: \"as {{ who.stdout }}\"}\n",
    );
    let r = lab.lvslab(&["-vv", "run", "playbooks/su.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.all().contains(&format!("as {}", target.name)),
        "{}",
        r.all()
    );
    assert!(!r.all().contains("Target-pw-2"), "{}", r.all());
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(dir.join("by-su")).unwrap().uid();
    assert_eq!(owner, target.uid());

    let wrong = vars.replace("Target-pw-2", "Not-the-pw-3");
    lab.write(
        "inventory.yml",
        &inventory(&lab, &[&login.name], true, &wrong),
    );
    let r = lab.lvslab(&["run", "playbooks/su.yml"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.all().contains("su to") && r.all().contains("the password was refused"),
        "{}",
        r.all()
    );
}

#[test]
fn password_login_through_askpass() {
    let pw = "Login-pw-5150";
    let user = User::new("f", pw, Some(false));
    let lab = Lab::with_password_logins(1);
    let vars = "    ansible_password: {secret_env: LVT_LOGIN_PW}\n";
    lab.write(
        "inventory.yml",
        &inventory(&lab, &[&user.name], false, vars),
    );
    lab.write(
        "playbooks/who.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n    - debug: {msg: \"as {{ who.stdout }}\"}\n",
    );
    let mut r = None;
    watch_processes(pw, "LVT_LOGIN_PW", || {
        r = Some(lab.lvslab_env(
            &[("LVT_LOGIN_PW", pw), ("LVSLAB_CONTROL_PERSIST", "0")],
            &["-vvvvv", "run", "playbooks/who.yml"],
        ))
    });
    let r = r.unwrap();
    assert_eq!(r.code, 0, "{}", r.all());
    // ssh's own debug output at its most detailed (`ssh -vvv`) shows the login, not the password.
    assert!(
        r.stderr.contains("ssh: debug3: ") && r.stderr.contains("password"),
        "{}",
        r.all()
    );
    assert!(
        r.all().contains(&format!("as {}", user.name)),
        "{}",
        r.all()
    );
    assert!(!r.all().contains(pw), "{}", r.all());
    // Nothing of the askpass file is left in the run's directories.
    let left: Vec<_> = walk(&lab.tmp())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "pw"))
        .collect();
    assert!(left.is_empty(), "askpass files left: {left:?}");

    let started = Instant::now();
    let r = lab.lvslab_env(
        &[
            ("LVT_LOGIN_PW", "Wrong-login-pw"),
            ("LVSLAB_CONTROL_PERSIST", "0"),
        ],
        &["run", "playbooks/who.yml"],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        r.all().contains("Permission denied") && r.all().contains("was refused"),
        "{}",
        r.all()
    );
}

/// `-k` and `-K`: the passwords typed at the terminal (asked once, before anything runs, with
/// the echo off) log in over ssh and feed sudo on a host whose variables name neither. They
/// show nowhere: not on the terminal, not in the output, not in any process's command line or
/// environment. Without a terminal, the flags are a usage error and nothing runs.
#[test]
fn passwords_typed_at_the_terminal_for_k_and_capital_k() {
    let pw = "Typed-pw-2718";
    // sudo asks for the user's own password: the same one logs in and becomes root.
    let user = User::new("t", pw, Some(true));
    let lab = Lab::with_password_logins(1);
    lab.write("inventory.yml", &inventory(&lab, &[&user.name], false, ""));
    lab.write("playbooks/who.yml", WHO_PB);
    let mut got = None;
    watch_processes(pw, "LVT_NO_SUCH_VARIABLE", || {
        got = Some(lab.lvslab_at_terminal(
            &[("LVSLAB_CONTROL_PERSIST", "0")],
            &["-k", "-K", "run", "playbooks/who.yml"],
            &[("SSH password: ", pw), ("BECOME password: ", pw)],
        ))
    });
    let (r, screen) = got.unwrap();
    assert_eq!(r.code, 0, "{}\nterminal: {screen:?}", r.all());
    assert!(
        r.all()
            .contains(&format!("become=root plain={}", user.name)),
        "logged in as {} with the typed password, became root with it: {}",
        user.name,
        r.all()
    );
    assert!(
        screen.contains("SSH password: ") && screen.contains("BECOME password: "),
        "both asked at the terminal: {screen:?}"
    );
    assert!(!screen.contains(pw), "echoed: {screen:?}");
    assert!(!r.all().contains(pw), "the password leaked: {}", r.all());
    assert!(
        !r.stdout.contains("password: ") && !r.stderr.contains("password: "),
        "prompts go to the terminal only: {}",
        r.all()
    );

    // A wrong password typed for -K: that host fails promptly, the password is not shown.
    let started = Instant::now();
    let (r, _) = lab.lvslab_at_terminal(
        &[("LVSLAB_CONTROL_PERSIST", "0")],
        &["-k", "-K", "run", "playbooks/who.yml"],
        &[
            ("SSH password: ", pw),
            ("BECOME password: ", "Typed-wrong-1"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        r.all().contains("the password was refused") && !r.all().contains("Typed-wrong-1"),
        "{}",
        r.all()
    );

    // No terminal to ask at: a usage error naming the flag, nothing contacted.
    let mut c = lab.command("inventory.yml", &[], &["-K", "run", "playbooks/who.yml"]);
    c.stdin(Stdio::null());
    // SAFETY: setsid is async-signal-safe; the child gets a session without a terminal.
    unsafe {
        use std::os::unix::process::CommandExt;
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let r = util::Run::from(c.output().expect("lvslab runs"));
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("-K asks for a password at the terminal"),
        "{}",
        r.all()
    );
    assert!(!r.stdout.contains("PLAY"), "nothing ran: {}", r.all());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `become_user` on the play, a task's own `become_user` over it, and the host's
/// `ansible_become_user` over both (a variable wins over any keyword, as in Ansible).
#[test]
fn become_user_keywords_on_play_and_task_and_the_variable_over_them() {
    let login = User::new("g", "Login-pw-7", Some(false));
    let target = User::new("h", "Target-pw-8", None);
    let lab = Lab::new(2);
    let mut inv = inventory(&lab, &[&login.name, &login.name], true, "");
    // node02 says whom to become in its own variables.
    let n2 = format!("    {}:\n", lab.names[1]);
    inv = inv.replace(&n2, &format!("{n2}      ansible_become_user: root\n"));
    lab.write("inventory.yml", &inv);
    for n in &lab.names {
        let st = Command::new("chown")
            .arg(&target.name)
            .arg(lab.node_dir(n))
            .status()
            .unwrap();
        assert!(st.success());
    }
    lab.write(
        "playbooks/kw.yml",
        &format!(
            r#"
- hosts: all
  become: true
  become_user: {target}
  gather_facts: false
  tasks:
    - command: id -un
      register: play_user
    - name: the task's own become_user
      command: id -un
      become_user: root
      register: task_user
    - copy: {{dest: "{{{{ node_dir }}}}/by-keyword", content: "x\n"}}
    - command: id -un
      become: false
      register: plain
    - debug: {{msg: "play={{{{ play_user.stdout }}}} task={{{{ task_user.stdout }}}} plain={{{{ plain.stdout }}}}"}}
"#,
            target = target.name
        ),
    );
    let r = lab.lvslab(&["-v", "run", "playbooks/kw.yml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let owner = |n: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(lab.node_dir(n).join("by-keyword"))
            .expect("file made through become")
            .uid()
    };
    let (n1, n2) = (&lab.names[0], &lab.names[1]);
    assert!(
        r.all().contains(&format!(
            "play={} task=root plain={}",
            target.name, login.name
        )),
        "{n1}: the play's keyword, the task's over it: {}",
        r.all()
    );
    assert_eq!(owner(n1), target.uid());
    assert!(
        r.all()
            .contains(&format!("play=root task=root plain={}", login.name)),
        "{n2}: ansible_become_user wins over the keywords: {}",
        r.all()
    );
    assert_eq!(owner(n2), 0);

    // A keyword naming no user that can be: exit 2 at load time, where it is written.
    lab.write(
        "playbooks/bad.yml",
        "- hosts: all\n  become_user: \"-u root\"\n  tasks:\n    - command: id\n",
    );
    let r = lab.lvslab(&["run", "playbooks/bad.yml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("bad.yml:2:16") && r.stderr.contains("invalid become user"),
        "{}",
        r.all()
    );
}

/// `become_method: su` as a keyword; a wrong password through it is refused at once.
#[test]
fn become_method_su_as_a_keyword_and_a_wrong_password_fails_promptly() {
    let login = User::new("i", "Login-pw-9", None);
    let target = User::new("j", "Target-pw-10", None);
    let lab = Lab::new(1);
    let vars = "    ansible_become_password: {secret_env: LVT_SU_PW}\n";
    lab.write(
        "inventory.yml",
        &inventory(&lab, &[&login.name], true, vars),
    );
    lab.write(
        "playbooks/su.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: id -un\n      become: true\n      become_method: su\n      become_user: {}\n      register: who\n    - debug: {{msg: \"as {{{{ who.stdout }}}}\"}}\n",
            target.name
        ),
    );
    let r = lab.lvslab_env(
        &[("LVT_SU_PW", "Target-pw-10")],
        &["run", "playbooks/su.yml"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.all().contains(&format!("as {}", target.name)),
        "{}",
        r.all()
    );
    assert!(!r.all().contains("Target-pw-10"), "{}", r.all());

    let started = Instant::now();
    let r = lab.lvslab_env(
        &[("LVT_SU_PW", "Wrong-pw-11")],
        &["run", "playbooks/su.yml"],
    );
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        took < Duration::from_secs(20),
        "refused, not waited on ({took:?})"
    );
    assert!(
        r.all().contains(&format!("su to {}", target.name))
            && r.all().contains("the password was refused"),
        "{}",
        r.all()
    );
    assert!(!r.all().contains("Wrong-pw-11"), "{}", r.all());
}
