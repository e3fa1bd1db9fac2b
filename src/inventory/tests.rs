//! Inventory tests: the Ansible shape, precedence, patterns and located errors.

use super::*;
use std::io::Write;

fn inv(text: &str) -> Result<Inventory, InventoryError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inv.yml");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let r = Inventory::load(&p);
    // Re-label errors with a stable file name for pinned messages.
    r.map_err(|e| match e {
        InventoryError::Invalid(mut d) => {
            d.src = Source::new(Path::new("inv.yml"), d.src.text.clone());
            InventoryError::Invalid(d)
        }
        InventoryError::Load(LoadError::Syntax(mut d)) => {
            d.src = Source::new(Path::new("inv.yml"), d.src.text.clone());
            InventoryError::Load(LoadError::Syntax(d))
        }
        e => e,
    })
}

const LAB: &str = "\
all:
  vars:
    x: all
    port: 80
  children:
    lb:
      vars:
        x: lb
        role: lb
      children:
        master:
          vars:
            x: master
          hosts:
            n1:
              ansible_host: 10.0.0.1
    web:
      vars:
        x: web
      hosts:
        n2:
          x: host
        n3:
    n4group:
      hosts:
        n4:
";

#[test]
fn host_names_in_file_order() {
    let i = inv(LAB).unwrap();
    assert_eq!(i.host_names(), vec!["n1", "n2", "n3", "n4"]);
}

#[test]
fn precedence_all_parent_child_host() {
    let i = inv(LAB).unwrap();
    let v = i.host_vars("n1").unwrap();
    assert_eq!(v["x"], "master");
    assert_eq!(v["role"], "lb");
    assert_eq!(v["port"], 80);
    assert_eq!(v["ansible_host"], "10.0.0.1");
    assert_eq!(i.host_vars("n2").unwrap()["x"], "host");
    assert_eq!(i.host_vars("n3").unwrap()["x"], "web");
    assert_eq!(i.host_vars("n4").unwrap()["x"], "all");
    assert!(i.host_vars("nope").is_none());
}

#[test]
fn groups_of_sorted_by_depth() {
    let i = inv(LAB).unwrap();
    assert_eq!(i.groups_of("n1"), vec!["all", "lb", "master"]);
}

#[test]
fn patterns() {
    let i = inv(LAB).unwrap();
    assert_eq!(i.resolve("all").unwrap(), vec!["n1", "n2", "n3", "n4"]);
    assert_eq!(i.resolve("lb").unwrap(), vec!["n1"]);
    assert_eq!(i.resolve("web:lb").unwrap(), vec!["n1", "n2", "n3"]);
    assert_eq!(i.resolve("all:!web").unwrap(), vec!["n1", "n4"]);
    assert_eq!(i.resolve("all:&web").unwrap(), vec!["n2", "n3"]);
    assert_eq!(i.resolve("web:&n3").unwrap(), vec!["n3"]);
    assert_eq!(i.resolve("n*:!n1").unwrap(), vec!["n2", "n3", "n4"]);
    assert_eq!(i.resolve("n2,n4").unwrap(), vec!["n2", "n4"]);
    assert_eq!(
        i.resolve("all:!nosuch").unwrap_err(),
        PatternError::Unknown("nosuch".into())
    );
    assert_eq!(i.resolve("").unwrap_err(), PatternError::Empty);
}

#[test]
fn seed_inventory_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("inventory/lab.yml");
    let i = Inventory::load(&p).unwrap();
    assert_eq!(i.host_names(), vec!["node01", "node04", "node02", "node03"]);
    let v = i.host_vars("node02").unwrap();
    assert_eq!(v["lvs_weight"], 1);
    assert_eq!(v["ansible_host"], "192.168.163.12");
    assert_eq!(i.host_vars("node04").unwrap()["keepalived_priority"], 50);
}

#[test]
fn wrong_type_is_located() {
    let e = inv("all:\n  hosts:\n    - n1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "wrong type: found a list\n ——▶ inv.yml:3:5\n  │\n3 │     - n1\n  │     ^\n  = expected a mapping of host names"
    );
}

#[test]
fn unknown_group_key() {
    let e = inv("all:\n  host:\n    n1:\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown key `host` in group `all`\n ——▶ inv.yml:2:3\n  │\n2 │   host:\n  │   ^^^^\n  = expected `hosts`, `vars` or `children`"
    );
}

#[test]
fn yaml_syntax_error() {
    let e = inv("all:\n  hosts: [a, b\n").unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("YAML syntax error:"), "{s}");
    assert!(s.contains("——▶ inv.yml:"), "{s}");
    assert!(s.ends_with("= expected valid YAML"), "{s}");
}

#[test]
fn host_var_wrong_type() {
    let e = inv("all:\n  hosts:\n    n1: 3\n").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("wrong type: found a number\n ——▶ inv.yml:3:9"));
}

/// Arbitrary text through every parser of the new formats: errors, never panics or overflows.
#[test]
fn arbitrary_text_never_panics() {
    let alphabet: Vec<char> = "ab01:[]{}()'\"\\=#;, \n\t.-_*&<>!|~@é".chars().collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = (next() % 60) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let _ = super::literal::eval(&text);
        let _ = super::shlex::split(&text);
        let _ = super::hostrange::expand(&text);
        let mut inv = Inventory::empty(Path::new("hosts"));
        if super::ini::load(&mut inv, Source::new(Path::new("hosts"), text.clone())).is_ok() {
            let _ = inv.reconcile();
        }
        let _ = Inventory::from_text(Path::new("inv.yml"), text);
    }
    let deep = format!("x={}", "[".repeat(100_000));
    assert!(super::literal::eval(&deep[2..]).is_none());
    let many = "h".to_string() + &"[1:1]".repeat(10_000);
    assert_eq!(super::hostrange::expand(&many).unwrap().names.len(), 1);
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

#[test]
fn directory_reads_every_format_and_skips_as_ansible() {
    let d = tree(&[
        ("inv/a", "[web]\nw1\n"),
        ("inv/b.yml", "web:\n  hosts:\n    w2:\n"),
        ("inv/sub/c.ini", "[db]\nd1\n"),
        ("inv/README.md", "[nope]\nx1\n"),
        ("inv/old.bak", "[nope]\nx2\n"),
        ("inv/.hidden", "[nope]\nx3\n"),
        ("inv/group_vars/web.yml", "v: 1\n"),
        ("inv/notes.sh", "echo\n"),
    ]);
    let i = Inventory::load(&d.path().join("inv")).unwrap();
    assert_eq!(i.host_names(), ["w1", "w2", "d1"]);
    assert_eq!(i.host_vars("w2").unwrap()["v"], 1);
    assert_eq!(i.warnings().len(), 1);
    assert!(i.warnings()[0].ends_with("notes.sh: skipped (no inventory format for `.sh` files)"));
}

#[test]
fn vars_files_first_found_and_directory_order() {
    let d = tree(&[
        ("hosts", "[web]\nw1 own=host\n"),
        ("group_vars/web", "a: bare\n"),
        ("group_vars/web.yml", "a: ignored\n"),
        ("group_vars/all/1.yml", "b: one\nc: one\n"),
        ("group_vars/all/2.json", "{\"b\": \"two\"}"),
        ("group_vars/all/x.txt", "c: skipped\n"),
        ("host_vars/w1.yaml", "own: file\n"),
        ("pb/group_vars/web.yml", "a: playbook\n"),
    ]);
    let i = Inventory::load(&d.path().join("hosts")).unwrap();
    let v = i.host_vars("w1").unwrap();
    assert_eq!(
        (v["a"].as_str(), v["b"].as_str(), v["c"].as_str()),
        (Some("bare"), Some("two"), Some("one"))
    );
    assert_eq!(v["own"], "file");
    let i = Inventory::load_with(&d.path().join("hosts"), Some(&d.path().join("pb"))).unwrap();
    assert_eq!(i.host_vars("w1").unwrap()["a"], "playbook");
}

#[test]
fn a_broken_vars_file_is_located() {
    let d = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("host_vars/w1.yml", "- not a mapping\n"),
    ]);
    let e = Inventory::load(&d.path().join("hosts"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("wrong type: found a list\n"), "{e}");
    assert!(e.contains("host_vars/w1.yml:1:1"), "{e}");
}

#[test]
fn untyped_file_that_looks_like_yaml_reports_the_yaml_error() {
    let d = tree(&[("hosts", "all:\n  hosts: [a\n")]);
    let e = Inventory::load(&d.path().join("hosts"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("YAML syntax error"), "{e}");
    let d = tree(&[("hosts", "[web]\nw1 x='open\n")]);
    let e = Inventory::load(&d.path().join("hosts"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot split the host line"), "{e}");
}

/// What the inventory declares secret masks its own errors, though whoever prints them keeps
/// no redactor: the name listed in `lvslab_secret_vars` hides the value on the line shown, and
/// the values known hide themselves wherever they are quoted.
#[test]
fn load_errors_leave_with_the_inventorys_secrets_masked() {
    let e = inv("all:\n  vars:\n    lvslab_secret_vars: [db_conn]\n    db_conn: z\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("secret `db_conn` is 1 character long"), "{e}");
    assert!(e.contains("4 │     db_conn: ********\n"), "{e}");
    let i = inv("all:\n  vars:\n    lvslab_secret_vars: api_*\n    api_key: Ap1K3yValue\n  hosts:\n    h1: {}\n")
        .unwrap();
    assert!(i.secrets().is_secret_name("api_key"));
    assert_eq!(i.secrets().redact("key=Ap1K3yValue"), "key=********");
}
