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
