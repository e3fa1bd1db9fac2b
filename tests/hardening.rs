//! Hostile input and secrets, against real sshd instances on 127.0.0.1: host keys
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

    // The host gets a new key (sshd reads its host key per connection) and, as a reinstalled
    // host would, drops its connections: the one the last run left open (ControlPersist) was
    // made, and its key checked, before the change.
    lab.sshds[0].end_sessions();
    // The client side of the dropped connection ends when it notices; until then a run would
    // take over a master whose server is gone (on a loaded machine, seconds).
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !util::masters::masters_under(lab.path()).is_empty() && std::time::Instant::now() < until
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        util::masters::masters_under(lab.path()).is_empty(),
        "the master of the dropped connection ended"
    );
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

/// A value full of shell syntax: run by any shell, it would create `canary`.
fn evil(canary: &Path) -> String {
    let c = canary.display();
    format!(
        "a  b;touch {c}|x && y $(touch {c}) `touch {c}` 'q' \"dq\" \\ * ~ é ü ✓ -n\n--help\n\tline3 ${{HOME}} %s > {c}"
    )
}

/// The same for a file name (no `/`): a shell running it would create `pwned` in its working
/// directory.
const EVIL_NAME: &str = "-f $(touch pwned);`touch pwned`|'q'\"dq\"\\* é\n&& touch pwned";

fn yq(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

const INJECTION_PB: &str = r#"
- hosts: all
  vars:
    d: "{{ node_dir }}"
  tasks:
    - name: copy content
      copy: {dest: "{{ d }}/copy.out", content: "{{ evil }}"}
    - name: template output
      template: {src: evil.j2, dest: "{{ d }}/template.out"}
    - name: copy to a hostile file name
      copy: {dest: "{{ d }}/{{ evil_name }}", content: "named\n", mode: "0600"}
    - name: touch a hostile file name
      file: {path: "{{ d }}/touched{{ evil_name }}", state: touch}
    - name: directory with a hostile name
      file: {path: "{{ d }}/dir{{ evil_name }}", state: directory}
    - name: command argv
      command: {argv: [printf, "%s", "{{ evil }}"]}
      register: by_argv
    - name: command line
      command: printf %s {{ evil }}
      register: by_cmd
    - name: save what the commands printed
      copy: {dest: "{{ d }}/{{ item.f }}", content: "{{ item.v }}"}
      loop:
        - {f: argv.out, v: "{{ by_argv.stdout }}"}
        - {f: cmd.out, v: "{{ by_cmd.stdout }}"}
    - name: shell, bare variable
      shell: printf %s {{ evil }} > {{ d }}/shell.out
    - name: shell, quoted variable
      shell: printf %s {{ evil | quote }} > {{ (d ~ '/shell-quote.out') | quote }}
    - name: shell with hostile chdir and creates
      shell:
        cmd: pwd > {{ d }}/chdir.out
        chdir: "{{ d }}/dir{{ evil_name }}"
        creates: "{{ d }}/absent{{ evil_name }}"
    - name: extra var
      copy: {dest: "{{ d }}/extra.out", content: "{{ extra_evil }}"}
    - name: service with shell syntax in its name
      service: {name: "x;id>{{ d }}/svc-pwned`id>{{ d }}/svc-pwned`$(id>{{ d }}/svc-pwned)", state: stopped}
    - name: debug
      debug: {msg: "{{ evil }}"}
    - {name: reject sysctl value, sysctl: {name: net.ipv4.ip_forward, value: "{{ evil }}", sysctl_file: "{{ d }}/s.conf"}, ignore_errors: true}
    - {name: reject sysctl name, sysctl: {name: "-a", value: "1", sysctl_file: "{{ d }}/s.conf"}, ignore_errors: true}
    - {name: reject sysctl assignment, sysctl: {name: "net.ipv4.ip_forward=1", value: "1", sysctl_file: "{{ d }}/s.conf"}, ignore_errors: true}
    - {name: reject sysctl traversal, sysctl: {name: "//.//.//.//.//.//.//.tmp.lvslab-traversal", value: "1", sysctl_file: "{{ d }}/s.conf"}, ignore_errors: true}
    - {name: reject service name, service: {name: "{{ evil }}", state: started}, ignore_errors: true}
    - {name: reject service option, service: {name: "--help", state: started}, ignore_errors: true}
    - {name: reject package, package: {name: ["curl", "-oAPT::Get::Trivial-Only=false"]}, ignore_errors: true}
    - {name: reject device, ip_address: {address: 10.255.0.1/32, dev: "{{ evil }}"}, ignore_errors: true}
    - {name: reject address, ip_address: {address: "-6/32", dev: lo}, ignore_errors: true}
    - {name: reject relative path, file: {path: "-rf", state: absent}, ignore_errors: true}
    - {name: reject relative dest, copy: {dest: "{{ evil_name }}", content: x}, ignore_errors: true}
    - {name: reject owner, copy: {dest: "{{ d }}/o.out", content: x, owner: "{{ evil }}"}, ignore_errors: true}
    - {name: reject wait_for host, wait_for: {host: "{{ evil }}", port: 22, timeout: 1}, ignore_errors: true}
"#;

#[test]
fn hostile_values_arrive_byte_for_byte_or_are_rejected() {
    let lab = Lab::new(1);
    let canary = lab.path().join("canary");
    let evil = evil(&canary);
    let d = lab.node_dir("node01");
    // As a host variable of node01 (inventory), and as `-e` below.
    let inv = std::fs::read_to_string(lab.path().join("inventory.yml")).unwrap();
    let inv = inv.replace(
        "    node01:\n",
        &format!(
            "    node01:\n      evil: {}\n      evil_name: {}\n",
            yq(&evil),
            yq(EVIL_NAME)
        ),
    );
    std::fs::write(lab.path().join("inventory.yml"), inv).unwrap();
    lab.write("playbooks/p.yml", INJECTION_PB);
    lab.write("templates/evil.j2", "[{{ evil }}]\n$(touch never) `x`\n");
    let extra = format!("extra_evil={evil}");
    let r = lab.lvslab(&["--json", "run", "playbooks/p.yml", "-e", &extra]);
    assert_eq!(r.code, 0, "{}", r.all());

    // No shell ever ran the values.
    let home = lab.path().join("home");
    for c in [
        canary.clone(),
        home.join("pwned"),
        d.join("pwned"),
        lab.path().join("pwned"),
        d.join("svc-pwned"),
        home.join("never"),
    ] {
        assert!(
            !c.exists(),
            "{} exists: injection ran\n{}",
            c.display(),
            r.all()
        );
    }

    // Byte for byte.
    let read = |f: &str| {
        std::fs::read_to_string(d.join(f)).unwrap_or_else(|e| panic!("{f}: {e}\n{}", r.all()))
    };
    for f in [
        "copy.out",
        "argv.out",
        "cmd.out",
        "shell.out",
        "shell-quote.out",
        "extra.out",
    ] {
        assert_eq!(read(f), evil, "{f}");
    }
    assert_eq!(
        read("template.out"),
        format!("[{evil}]\n$(touch never) `x`\n")
    );
    assert_eq!(read(EVIL_NAME), "named\n");
    assert!(d.join(format!("touched{EVIL_NAME}")).is_file());
    assert!(d.join(format!("dir{EVIL_NAME}")).is_dir());
    assert_eq!(
        read("chdir.out"),
        format!("{}/dir{EVIL_NAME}\n", d.display())
    );
    assert!(!d.join("s.conf").exists(), "sysctl file written");
    assert!(
        !std::path::Path::new("/tmp/lvslab-traversal").exists(),
        "a sysctl name reached a file outside /proc/sys"
    );

    // Rejected, each with a clear reason.
    let j = r.json();
    let failure = |task: &str| -> String {
        j["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["task"] == task)
            .and_then(|x| x["failure"]["msg"].as_str())
            .unwrap_or_else(|| panic!("no failure for {task}: {}", r.all()))
            .to_string()
    };
    let shown: String = evil.chars().flat_map(char::escape_debug).collect();
    let expect = [
        ("reject sysctl value", format!("value of net.ipv4.ip_forward `{shown}` contains a newline (expected a single line)")),
        ("reject sysctl name", "kernel parameter `-a` starts with `-` (it would be read as an option)".to_string()),
        ("reject sysctl assignment", "kernel parameter `net.ipv4.ip_forward=1` contains `=` (expected a name like net.ipv4.ip_forward)".to_string()),
        ("reject sysctl traversal", "kernel parameter `//.//.//.//.//.//.//.tmp.lvslab-traversal` is not a parameter name (expected dot-separated words like net.ipv4.ip_forward)".to_string()),
        ("reject service name", format!("service `{shown}` contains a space (expected one word)")),
        ("reject service option", "service `--help` starts with `-` (it would be read as an option)".to_string()),
        ("reject package", "package `-oAPT::Get::Trivial-Only=false` starts with `-` (it would be read as an option)".to_string()),
        ("reject device", format!("device `{shown}` contains a space (expected one word)")),
        ("reject address", "address `-6/32` starts with `-` (it would be read as an option)".to_string()),
        ("reject relative path", "path `-rf` is not an absolute path (expected a path starting with `/`)".to_string()),
        ("reject relative dest", format!("dest `{}` is not an absolute path (expected a path starting with `/`)", EVIL_NAME.chars().flat_map(char::escape_debug).collect::<String>())),
        ("reject owner", format!("owner `{shown}` contains a space (expected one word)")),
        ("reject wait_for host", format!("host `{shown}` contains a space (expected one word)")),
    ];
    for (task, msg) in expect {
        assert_eq!(failure(task), msg, "{task}");
    }
}

/// `lvslab -i INVENTORY ARGS...` in the lab's directory with extra environment variables.
fn lvslab_env(lab: &Lab, inventory: &str, args: &[&str], env: &[(&str, &str)]) -> util::Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(lab.path())
        .env("TMPDIR", lab.tmp())
        .arg("-i")
        .arg(inventory)
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("lvslab runs");
    util::Run::from(out)
}

const AUTH: &str = "Auth8Pw!xyz"; // keepalived_auth_pass, from the environment
const DB: &str = "db-conn:S3cr3tFromFile"; // db_conn, from a file (not a secret-looking name)
const API: &str = "Ap1K3yValue"; // api_key, secret by lvslab_secret_vars pattern
const TOKEN: &str = "T0kenValue42"; // x_token, a play var secret by suffix

const SECRETS_PB: &str = r#"
- hosts: all
  vars:
    d: "{{ node_dir }}"
    x_token: T0kenValue42
    # A secret known only once the host's facts are.
    host_pass: "{{ ansible_hostname }}-HostPw"
  tasks:
    - name: keepalived-like config
      template: {src: k.conf.j2, dest: "{{ d }}/keepalived.conf"}
    - name: copy with every secret
      copy:
        dest: "{{ d }}/all.conf"
        content: "run {{ run_id }}\n{{ keepalived_auth_pass }} {{ db_conn }} {{ api_key }} {{ x_token }}\n"
    - name: world-readable secret refused
      copy: {dest: "{{ d }}/open.conf", content: "{{ api_key }}\n", mode: "0644"}
      ignore_errors: true
    - name: commands print them
      command: echo {{ keepalived_auth_pass }} {{ db_conn }} {{ api_key }} {{ x_token }}
    - name: derived value
      set_fact: {combo: "{{ api_key }}+{{ x_token }}"}
    - name: debug
      debug: {msg: "{{ combo }} {{ db_conn }}"}
    - name: secret from facts
      debug: {msg: "{{ host_pass }}"}
    - name: failing command with secrets in its command line and stderr
      shell: echo {{ db_conn }} {{ keepalived_auth_pass }} >&2; echo {{ api_key }}; exit 3
"#;

#[test]
fn secrets_never_reach_output_and_files_holding_them_are_private() {
    let lab = Lab::new(1);
    let d = lab.node_dir("node01");
    lab.write("secrets/db.txt", &format!("{DB}\n"));
    let inv = std::fs::read_to_string(lab.path().join("inventory.yml")).unwrap();
    let inv = inv.replacen(
        "all:\n  vars:\n",
        "all:\n  vars:\n    keepalived_auth_pass: {secret_env: LVSLAB_T_AUTH}\n    db_conn: {secret_file: secrets/db.txt}\n    lvslab_secret_vars: [\"api_*\"]\n    api_key: Ap1K3yValue\n",
        1,
    );
    std::fs::write(lab.path().join("inventory.yml"), inv).unwrap();
    lab.write("playbooks/s.yml", SECRETS_PB);
    lab.write(
        "templates/k.conf.j2",
        "vrrp_instance VI_1 {\n  authentication {\n    auth_type PASS\n    auth_pass {{ keepalived_auth_pass }}\n  }\n}\n",
    );
    let env = [("LVSLAB_T_AUTH", AUTH)];
    let mut outputs = Vec::new();
    for (i, extra) in [
        vec!["-vv", "run", "--diff", "playbooks/s.yml"],
        vec!["-vv", "--json", "run", "--diff", "playbooks/s.yml"],
        vec!["-v", "run", "--check", "--diff", "playbooks/s.yml"],
    ]
    .into_iter()
    .enumerate()
    {
        let run_id = format!("run_id={i}");
        let mut args = extra.clone();
        args.extend(["-e", run_id.as_str()]);
        let r = lvslab_env(&lab, "inventory.yml", &args, &env);
        // The failing task fails, except in check mode, where it does not run.
        let check = args.contains(&"--check");
        assert_eq!(r.code, if check { 0 } else { 1 }, "{}", r.all());
        outputs.push(r);
    }
    for r in &outputs {
        let all = r.all();
        for s in [
            AUTH, DB, API, TOKEN, "Auth8Pw!", "db-conn:", "S3cr3tFr", "-HostPw",
        ] {
            assert!(!all.contains(s), "`{s}` leaked:\n{all}");
        }
    }
    // The output is still useful: the redacted places are visible.
    let human = &outputs[0].stdout;
    assert!(human.contains("+    auth_pass ********"), "{human}");
    assert!(
        human.contains(
            r"  command: /bin/sh -c 'echo ******** '\''********'\'' >&2; echo ********; exit 3'"
        ),
        "{human}"
    );
    assert!(human.contains("  stderr: ******** ********"), "{human}");
    assert!(
        human.contains("TASK [secret from facts]\nok: [node01] ********\n"),
        "{human}"
    );
    assert!(
        human.contains("ok: [node01] ********+******** ********"),
        "{human}"
    );
    let j = outputs[1].json();
    let refused = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["task"] == "world-readable secret refused")
        .unwrap();
    assert_eq!(
        refused["failure"]["msg"],
        format!(
            "{}/open.conf would hold a secret but mode 0644 lets others read it: use 0600 or 0640",
            d.display()
        )
    );
    // The values did reach the node, in files only their owner can read.
    use std::os::unix::fs::PermissionsExt;
    for (f, want) in [
        ("keepalived.conf", format!("    auth_pass {AUTH}\n")),
        ("all.conf", format!("{AUTH} {DB} {API} {TOKEN}\n")),
    ] {
        let p = d.join(f);
        assert!(std::fs::read_to_string(&p).unwrap().contains(&want), "{f}");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600,
            "{f}"
        );
    }
    assert!(!d.join("open.conf").exists());
}

#[test]
fn secret_in_a_flow_style_line_of_an_error_is_hidden() {
    let lab = Lab::new(1);
    lab.write(
        "playbooks/bad.yml",
        "- {hosts: all, vars: {keepalived_auth_pass: FlowS3cretPw, other: 1}, tasks: 5}\n",
    );
    let r = lab.lvslab(&["run", "playbooks/bad.yml"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!r.all().contains("FlowS3cret"), "{}", r.all());
    assert!(
        r.stderr.contains(
            "1 │ - {hosts: all, vars: {keepalived_auth_pass: ********, other: 1}, tasks: 5}"
        ),
        "{}",
        r.all()
    );
}

#[test]
fn missing_secret_source_is_an_input_error_before_any_connection() {
    let lab = Lab::new(0);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    lab.write(
        "env.yml",
        &format!("all:\n  vars:\n    keepalived_auth_pass: {{secret_env: LVSLAB_T_NOT_SET}}\n  hosts:\n    n1: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"),
    );
    lab.write(
        "file.yml",
        &format!("all:\n  vars:\n    db_conn: {{secret_file: /nonexistent/lvslab-secret}}\n  hosts:\n    n1: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"),
    );
    let r = lvslab_env(&lab, "env.yml", &["ping"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(
        r.stderr,
        "error: environment variable `LVSLAB_T_NOT_SET` (secret `keepalived_auth_pass`) is not set\n \
         ——▶ env.yml:3:40\n  │\n3 │     keepalived_auth_pass: {secret_env: LVSLAB_T_NOT_SET}\n  │                                        \
         ^^^^^^^^^^^^^^^^\n  = expected the secret in `LVSLAB_T_NOT_SET`, e.g. `export LVSLAB_T_NOT_SET=...`\n"
    );
    let r = lvslab_env(&lab, "file.yml", &["ping"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.starts_with("error: cannot read secret file `/nonexistent/lvslab-secret` (secret `db_conn`): No such file or directory (os error 2)\n ——▶ file.yml:3:28\n"),
        "{}",
        r.all()
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a host was contacted"
    );
}
