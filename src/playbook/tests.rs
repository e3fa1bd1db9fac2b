//! Playbook tests: plays, task keywords and every malformed playbook, with exact messages.

use super::*;
use crate::yaml::Source;
use std::sync::Arc;

fn load(text: &str) -> Result<Playbook, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pb.yml");
    std::fs::write(&p, text).unwrap();
    Playbook::load(&p).map_err(|e| match e {
        PlaybookError::Invalid(mut d) | PlaybookError::Load(LoadError::Syntax(mut d)) => {
            d.src = Arc::new(Source {
                path: "pb.yml".into(),
                text: d.src.text.clone(),
            });
            d.to_string()
        }
        other => other.to_string(),
    })
}

#[test]
fn parses_plays_tasks_and_keywords() {
    let pb = load(
        "- name: web\n  hosts: realservers\n  vars: {a: 1}\n  tasks:\n    - name: t1\n      command: echo hi\n      register: out\n      when: a == 1\n      notify: [h1]\n      tags: x\n      loop: [1, 2]\n      ignore_errors: yes\n  handlers:\n    - name: h1\n      service: {name: apache2, state: restarted}\n",
    )
    .unwrap();
    let play = &pb.plays[0];
    assert_eq!(play.name, "web");
    let t = &play.tasks[0];
    assert_eq!(t.module.name(), "command");
    assert_eq!(t.args.get("cmd").unwrap().to_json(), "echo hi");
    assert_eq!(t.register.as_deref(), Some("out"));
    assert_eq!(t.notify, vec!["h1"]);
    assert_eq!(t.tags, vec!["x"]);
    assert!(t.ignore_errors);
    assert_eq!(play.handlers[0].listen, vec!["h1"]);
}

#[test]
fn unknown_module() {
    let e = load("- hosts: all\n  tasks:\n    - name: x\n      comand: ls\n").unwrap_err();
    assert!(
        e.starts_with("unknown module `comand`\n ——▶ pb.yml:4:7\n  │\n4 │       comand: ls\n  │       ^^^^^^\n  = expected a task keyword ("),
        "{e}"
    );
}

#[test]
fn unknown_module_argument() {
    let e = load("- hosts: all\n  tasks:\n    - copy:\n        dest: /x\n        content: y\n        mdoe: '0644'\n").unwrap_err();
    assert_eq!(
        e,
        "unknown argument `mdoe` for module `copy`\n ——▶ pb.yml:6:9\n  │\n6 │         mdoe: '0644'\n  │         ^^^^\n  = expected one of `dest`, `content`, `src`, `mode`, `owner`, `group`, `backup`, `validate`"
    );
}

#[test]
fn missing_required_argument() {
    let e = load("- hosts: all\n  tasks:\n    - template:\n        src: a.j2\n").unwrap_err();
    assert_eq!(
        e,
        "missing required argument `dest` for module `template`\n ——▶ pb.yml:3:7\n  │\n3 │     - template:\n  │       ^^^^^^^^\n  = expected `dest:` (a string)"
    );
}

#[test]
fn wrong_type_string_where_list_expected() {
    let e = load("- hosts: all\n  tasks: echo hi\n").unwrap_err();
    assert_eq!(
        e,
        "wrong type: found a string\n ——▶ pb.yml:2:10\n  │\n2 │   tasks: echo hi\n  │          ^^^^^^^\n  = expected a list of tasks"
    );
}

#[test]
fn wrong_type_of_argument() {
    let e = load("- hosts: all\n  tasks:\n    - ipvs:\n        address: 1.2.3.4\n        port: 80\n        real_servers: 10.0.0.1\n").unwrap_err();
    assert!(
        e.starts_with("wrong type: found a string\n ——▶ pb.yml:6:23"),
        "{e}"
    );
    assert!(e.ends_with("= expected a list for `real_servers`"), "{e}");
}

#[test]
fn invalid_choice() {
    let e = load("- hosts: all\n  tasks:\n    - file: {path: /x, state: dir}\n").unwrap_err();
    assert!(
        e.starts_with("invalid value `dir` for `state` of module `file`"),
        "{e}"
    );
    assert!(
        e.ends_with("= expected one of `file`, `directory`, `absent`, `touch`"),
        "{e}"
    );
}

#[test]
fn yaml_syntax_error() {
    let e = load("- hosts: all\n  tasks:\n    - command: [a\n").unwrap_err();
    assert!(e.starts_with("YAML syntax error:"), "{e}");
    assert!(e.contains("——▶ pb.yml:"), "{e}");
}

#[test]
fn two_modules_in_one_task() {
    let e = load("- hosts: all\n  tasks:\n    - command: ls\n      shell: ls\n").unwrap_err();
    assert!(
        e.starts_with("task has two modules: `command` and `shell`\n ——▶ pb.yml:4:7"),
        "{e}"
    );
}

#[test]
fn play_without_hosts() {
    let e = load("- tasks: []\n").unwrap_err();
    assert!(e.starts_with("play has no `hosts`\n ——▶ pb.yml:1:3"), "{e}");
}

#[test]
fn notify_of_a_missing_handler() {
    let e = load("- hosts: all\n  tasks:\n    - command: ls\n      notify: restart web\n  handlers:\n    - name: restart apache\n      command: ls\n").unwrap_err();
    assert_eq!(
        e,
        "no handler named `restart web` in this play\n ——▶ pb.yml:4:15\n  │\n4 │       notify: restart web\n  │               ^^^^^^^^^^^\n  = expected one of `restart apache`"
    );
}

#[test]
fn loop_control_loop_var() {
    let pb = load("- hosts: all\n  tasks:\n    - debug: {msg: \"{{ rs }}\"}\n      loop: [1]\n      loop_control: {loop_var: rs, label: x}\n").unwrap();
    assert_eq!(pb.plays[0].tasks[0].loop_var, "rs");
}

#[test]
fn key_value_short_form() {
    let pb = load("- hosts: all\n  tasks:\n    - file: path=/tmp/x state=directory\n").unwrap();
    assert_eq!(
        pb.plays[0].tasks[0].args.get("state").unwrap().to_json(),
        "directory"
    );
}

#[test]
fn ansible_keywords_lvslab_lacks_say_what_to_use() {
    let e = load("- hosts: all\n  tasks:\n    - block:\n        - command: ls\n").unwrap_err();
    assert_eq!(
        e,
        "`block` is not supported by lvslab\n ——▶ pb.yml:3:7\n  │\n3 │     - block:\n  │       ^^^^^\n  = expected the tasks listed one after another, each with the block's `when:`"
    );
    let e = load("- hosts: all\n  roles: [web]\n").unwrap_err();
    assert!(
        e.starts_with("`roles` is not supported by lvslab\n ——▶ pb.yml:2:3\n"),
        "{e}"
    );
    let e = load("- import_playbook: other.yml\n").unwrap_err();
    assert!(
        e.starts_with("`import_playbook` is not supported by lvslab\n"),
        "{e}"
    );
    let e = load("- hosts: all\n  tasks:\n    - include_tasks: more.yml\n").unwrap_err();
    assert!(
        e.starts_with("`include_tasks` is not supported by lvslab\n"),
        "{e}"
    );
    let e =
        load("- hosts: all\n  tasks:\n    - command: ls\n      with_dict: {a: 1}\n").unwrap_err();
    assert!(
        e.ends_with("= expected `loop:` with a list (or a `{{ }}` expression giving one)"),
        "{e}"
    );
    let pb =
        load("- hosts: all\n  tags: [p]\n  tasks:\n    - command: ls\n      with_items: [a]\n")
            .unwrap();
    assert_eq!(pb.plays[0].tags, vec!["p"]);
}
