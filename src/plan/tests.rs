//! Planning tests: hosts, limits, variables and every bad input that must stop a run before it starts.

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(inv: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("inv.yml"), inv).unwrap();
        std::fs::create_dir_all(dir.path().join("playbooks")).unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        Fixture { dir }
    }
    fn file(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }
    fn plan(&self, pb: &str, limit: Option<&str>, extra: &[&str]) -> Result<Plan, String> {
        self.file("playbooks/pb.yml", pb);
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let inv = self.dir.path().join("inv.yml");
        let pbp = self.dir.path().join("playbooks/pb.yml");
        let inv = Inventory::load(&inv).map_err(|e| e.to_string())?;
        build(&Request {
            inventory: &inv,
            route: None,
            playbook: Some(PlaybookSource::File(&pbp)),
            limit,
            extra_vars: &extra,
            check: false,
            lvs: false,
            tags: Default::default(),
        })
        .map_err(|e| {
            e.to_string()
                .replace(&format!("{}/", self.dir.path().display()), "")
        })
    }
}

const INV: &str = "all:\n  vars:\n    vip: 10.0.0.50\n  children:\n    directors:\n      hosts:\n        d1: {ansible_host: 10.0.0.1}\n    realservers:\n      hosts:\n        r1: {ansible_host: 10.0.0.2}\n        r2: {ansible_host: 10.0.0.3}\n";

#[test]
fn hosts_and_limit_resolved() {
    let f = Fixture::new(INV);
    let p = f
        .plan("- hosts: all:!directors\n  tasks: []\n", Some("r2"), &[])
        .unwrap();
    assert_eq!(p.plays[0].hosts, vec!["r2"]);
    let p = f
        .plan("- hosts: realservers:&all\n  tasks: []\n", None, &[])
        .unwrap();
    assert_eq!(p.plays[0].hosts, vec!["r1", "r2"]);
}

#[test]
fn unknown_group_in_hosts() {
    let f = Fixture::new(INV);
    let e = f
        .plan("- hosts: webservers\n  tasks: []\n", None, &[])
        .unwrap_err();
    assert_eq!(
        e,
        "unknown host or group `webservers` in `hosts`\n ——▶ playbooks/pb.yml:1:10\n  │\n1 │ - hosts: webservers\n  │          ^^^^^^^^^^\n  = expected an inventory host or group (patterns: `a:b`, `!x`, `&g`, `*`)"
    );
}

#[test]
fn unknown_host_in_limit() {
    let f = Fixture::new(INV);
    let e = f
        .plan("- hosts: all\n  tasks: []\n", Some("r9"), &[])
        .unwrap_err();
    assert_eq!(e, "unknown host or group `r9` in --limit `r9`");
}

#[test]
fn limit_matching_nothing() {
    let f = Fixture::new(INV);
    let e = f
        .plan("- hosts: all\n  tasks: []\n", Some("r1:&directors"), &[])
        .unwrap_err();
    assert_eq!(e, "--limit `r1:&directors` matches no host of inv.yml");
}

#[test]
fn undefined_variable_in_argument() {
    let f = Fixture::new(INV);
    let e = f
        .plan(
            "- hosts: all\n  tasks:\n    - command: echo {{ vipp }}\n",
            None,
            &[],
        )
        .unwrap_err();
    assert_eq!(
        e,
        "undefined variable `vipp`\n ——▶ playbooks/pb.yml:3:16\n  │\n3 │     - command: echo {{ vipp }}\n  │                ^^^^^^^^^^^^^^^\n  = expected a variable from the inventory, play vars, -e, facts, `register` or `set_fact`"
    );
}

#[test]
fn runtime_variables_are_not_errors() {
    let f = Fixture::new(INV);
    f.plan(
        "- hosts: all\n  tasks:\n    - command: echo hi\n      register: out\n    - debug: {msg: \"{{ out.stdout }} {{ ansible_facts.os_family }}\"}\n    - set_fact: {x: 1}\n    - debug: {msg: \"{{ x }} {{ item }}\"}\n      loop: [1]\n",
        None,
        &[],
    )
    .unwrap();
}

#[test]
fn undefined_variable_in_template_file() {
    let f = Fixture::new(INV);
    f.file(
        "templates/k.conf.j2",
        "vip {{ vip }}\nstate {{ keepalived_sate }}\n",
    );
    let e = f
        .plan(
            "- hosts: directors\n  tasks:\n    - template: {src: k.conf.j2, dest: /etc/k.conf}\n",
            None,
            &[],
        )
        .unwrap_err();
    assert_eq!(
        e,
        "undefined variable `keepalived_sate`\n ——▶ templates/k.conf.j2:2:10\n  │\n2 │ state {{ keepalived_sate }}\n  │          ^^^^^^^^^^^^^^^\n  = expected a variable from the inventory, play vars, -e, facts, `register` or `set_fact`"
    );
}

#[test]
fn missing_template_file() {
    let f = Fixture::new(INV);
    let e = f
        .plan(
            "- hosts: all\n  tasks:\n    - template: {src: nope.j2, dest: /x}\n",
            None,
            &[],
        )
        .unwrap_err();
    assert!(
        e.starts_with("template `nope.j2` not found\n ——▶ playbooks/pb.yml:3:23"),
        "{e}"
    );
}

#[test]
fn template_syntax_error() {
    let f = Fixture::new(INV);
    f.file("templates/bad.j2", "a\n{% if %}\n");
    let e = f
        .plan(
            "- hosts: all\n  tasks:\n    - template: {src: bad.j2, dest: /x}\n",
            None,
            &[],
        )
        .unwrap_err();
    assert!(e.starts_with("template syntax error: syntax error"), "{e}");
    assert!(e.contains("——▶ templates/bad.j2:2:"), "{e}");
}

#[test]
fn extra_vars_define_and_override() {
    let f = Fixture::new(INV);
    let p = f
        .plan("- hosts: d1\n  vars: {vip: 1.1.1.1}\n  tasks:\n    - command: echo {{ mode }} {{ vip }}\n", None, &["mode=ha", "vip=2.2.2.2"])
        .unwrap();
    let pp = &p.plays[0];
    let ctx = static_context(&p, p.play(pp), &p.hosts["d1"]).unwrap();
    assert_eq!(ctx["vip"], "2.2.2.2");
    assert_eq!(ctx["mode"], "ha");
}

#[test]
fn play_vars_override_inventory() {
    let f = Fixture::new(INV);
    let p = f
        .plan(
            "- hosts: d1\n  vars: {vip: 1.1.1.1, cidr: \"{{ vip }}/32\"}\n  tasks: []\n",
            None,
            &[],
        )
        .unwrap();
    let ctx = static_context(&p, p.play(&p.plays[0]), &p.hosts["d1"]).unwrap();
    assert_eq!(ctx["cidr"], "1.1.1.1/32");
    assert_eq!(ctx["inventory_hostname"], "d1");
    assert_eq!(ctx["group_names"], serde_json::json!(["directors"]));
}

#[test]
fn unreadable_key_file() {
    let f = Fixture::new("all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n      ansible_ssh_private_key_file: /nonexistent/key\n");
    let e = f
        .plan("- hosts: all\n  tasks: []\n", None, &[])
        .unwrap_err();
    assert_eq!(
        e,
        "cannot read private key file `/nonexistent/key`: No such file or directory (os error 2)\n ——▶ inv.yml:5:37\n  │\n5 │       ansible_ssh_private_key_file: /nonexistent/key\n  │                                     ^^^^^^^^^^^^^^^^\n  = expected a readable private key file"
    );
}

#[test]
fn host_without_usable_address() {
    let f = Fixture::new("all:\n  hosts:\n    h1:\n      ansible_host: \"-oProxyCommand=evil\"\n");
    let e = f
        .plan("- hosts: all\n  tasks: []\n", None, &[])
        .unwrap_err();
    assert!(
        e.starts_with("host `h1` has no usable address: `-oProxyCommand=evil`\n ——▶ inv.yml:4:21"),
        "{e}"
    );
    let f = Fixture::new("all:\n  hosts:\n    \"bad host\":\n");
    let e = f
        .plan("- hosts: all\n  tasks: []\n", None, &[])
        .unwrap_err();
    assert!(
        e.starts_with("host `bad host` has no usable address\n ——▶ inv.yml:3:5"),
        "{e}"
    );
}

#[test]
fn invalid_port() {
    let f = Fixture::new("all:\n  hosts:\n    h1: {ansible_port: 70000}\n");
    let e = f
        .plan("- hosts: all\n  tasks: []\n", None, &[])
        .unwrap_err();
    assert!(e.starts_with("invalid port `70000`"), "{e}");
}

#[test]
fn bad_extra_var() {
    let f = Fixture::new(INV);
    let e = f
        .plan("- hosts: all\n  tasks: []\n", None, &["novalue"])
        .unwrap_err();
    assert_eq!(e, "-e novalue: expected KEY=VALUE, @FILE or a JSON object");
}

#[test]
fn undefined_in_when() {
    let f = Fixture::new(INV);
    let e = f
        .plan(
            "- hosts: all\n  tasks:\n    - command: ls\n      when: lvs_mod == 'ha'\n",
            None,
            &[],
        )
        .unwrap_err();
    assert!(
        e.starts_with("undefined variable `lvs_mod`\n ——▶ playbooks/pb.yml:4:13"),
        "{e}"
    );
}

#[test]
fn arguments_of_tasks_not_run_on_a_host_need_not_be_defined_there() {
    let f = Fixture::new("all:\n  children:\n    directors:\n      hosts:\n        d1: {prio: 100}\n    realservers:\n      hosts:\n        r1:\n");
    f.plan(
        "- hosts: all\n  tasks:\n    - command: echo {{ prio }}\n      when: inventory_hostname in groups['directors']\n    - command: echo {{ prio }}\n      when: ansible_facts.os_family == 'Debian' and inventory_hostname in groups['directors']\n",
        None,
        &[],
    )
    .unwrap();
    let e = f
        .plan("- hosts: all\n  tasks:\n    - command: echo {{ prio }}\n      when: inventory_hostname != 'nobody'\n", None, &[])
        .unwrap_err();
    assert!(e.starts_with("undefined variable `prio`"), "{e}");
}

#[test]
fn hostvars_resolved_in_each_hosts_own_context() {
    let f = Fixture::new(
        "all:\n  vars:\n    me: \"{{ inventory_hostname }}-x\"\n  hosts:\n    a:\n    b:\n",
    );
    let p = f.plan("- hosts: a\n  tasks: []\n", None, &[]).unwrap();
    let ctx = static_context(&p, p.play(&p.plays[0]), &p.hosts["a"]).unwrap();
    assert_eq!(ctx["me"], "a-x");
    assert_eq!(p.hostvars["b"]["me"], "b-x");
    assert_eq!(
        p.templates
            .render_str("{{ hostvars.b.me }}/{{ hostvars['a'].me }}", &ctx)
            .unwrap(),
        "b-x/a-x"
    );
}

#[test]
fn play_vars_depending_on_facts_are_checked_at_run_time() {
    let f = Fixture::new(INV);
    f.file("templates/r.j2", "{{ rules }}\n");
    f.plan(
        "- hosts: all\n  vars:\n    rules: \"{{ '/etc/ipvsadm.rules' if ansible_os_family == 'Debian' else '/etc/sysconfig/ipvsadm' }}\"\n  tasks:\n    - command: echo {{ rules }}\n    - template: {src: r.j2, dest: /x}\n",
        None,
        &[],
    )
    .unwrap();
}

#[test]
fn guarded_variables_allowed() {
    let f = Fixture::new(INV);
    f.plan(
        "- hosts: all\n  tasks:\n    - command: echo {{ maybe | default('x') }}\n      when: other is not defined\n",
        None,
        &[],
    )
    .unwrap();
}

#[test]
fn undefined_name_in_an_inventory_variable() {
    let inv = INV.replace(
        "    vip: 10.0.0.50\n",
        "    vip: 10.0.0.50\n    vip_cidr: \"{{ vip_adress }}/32\"\n",
    );
    let f = Fixture::new(&inv);
    let e = f
        .plan(
            "- hosts: all\n  tasks:\n    - command: \"echo {{ vip_cidr }}\"\n",
            None,
            &[],
        )
        .unwrap_err();
    assert_eq!(
        e,
        "undefined variable `vip_adress` in variable `vip_cidr`\n ——▶ inv.yml:4:15\n  │\n4 │     vip_cidr: \"{{ vip_adress }}/32\"\n  │               ^^^^^^^^^^^^^^^^^^^\n  = expected a variable from the inventory, play vars, -e, facts, `register` or `set_fact`"
    );
    // A play's vars may define what an inventory variable uses.
    let inv = INV.replace(
        "    vip: 10.0.0.50\n",
        "    vip: 10.0.0.50\n    by_play: \"{{ suffix }}\"\n",
    );
    let f = Fixture::new(&inv);
    f.plan(
        "- hosts: all\n  vars:\n    suffix: x\n  tasks:\n    - command: \"echo {{ by_play }}\"\n",
        None,
        &[],
    )
    .unwrap();
}

/// A plan that fails leaves with the secrets known by then masked in its error (the caller
/// may keep no redactor); one that builds owns them.
#[test]
fn plan_errors_mask_the_secrets_known_and_the_plan_owns_them() {
    let f = Fixture::new(
        "all:\n  vars:\n    vip: 10.0.0.50\n    db_password: pl4n-s3cret\n  hosts:\n    h1: {}\n",
    );
    let e = f
        .plan(
            "- hosts: all\n  tasks:\n    - command: echo pl4n-s3cret {{ vipp }}\n",
            None,
            &[],
        )
        .unwrap_err();
    assert!(e.starts_with("undefined variable `vipp`"), "{e}");
    assert!(e.contains("echo ******** {{"), "{e}");
    assert!(!e.contains("pl4n-s3cret"), "{e}");
    let p = f
        .plan(
            "- hosts: all\n  tasks: []\n",
            None,
            &["x_token=from-the-line"],
        )
        .unwrap();
    assert_eq!(
        p.secrets.redact("pl4n-s3cret from-the-line"),
        "******** ********"
    );
}
