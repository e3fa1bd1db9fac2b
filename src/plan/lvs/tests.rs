//! One test per rule, each pinning the exact message.

use super::super::{build, Request};

/// A valid cluster; each test breaks one value.
const BASE: &str = "all:
  vars:
    lan_interface: eth7
    lan_prefix: 24
    lvs_vip: 10.7.0.100
    lvs_vip_prefix: 24
    lvs_vip_label: eth7:1
    lvs_lo_label: lo:7
    lvs_port: 80
    lvs_protocol: tcp
    lvs_scheduler: wrr
    lvs_method: dr
    lvs_persistence_timeout: 0
    keepalived_router_id: 77
    keepalived_advert_int: 1
    keepalived_auth_pass: alt77pw
  children:
    directors:
      hosts:
        lb-a: {ansible_host: 10.7.0.21, keepalived_state: MASTER, keepalived_priority: 150}
        lb-b: {ansible_host: 10.7.0.22, keepalived_state: BACKUP, keepalived_priority: 100}
    realservers:
      vars:
        lvs_weight: 1
      hosts:
        web-1: {ansible_host: 10.7.0.31}
        web-2: {ansible_host: 10.7.0.32}
";

fn plan(inv: &str, extra: &[&str]) -> Result<Vec<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.yml");
    std::fs::write(&path, inv).unwrap();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let inv =
        crate::inventory::Inventory::load(&path).map_err(|e| strip(&e.to_string(), dir.path()))?;
    build(&Request {
        inventory: &inv,
        route: None,
        playbook: None,
        limit: None,
        extra_vars: &extra,
        check: true,
        lvs: true,
        tags: Default::default(),
    })
    .map(|p| p.warnings.iter().map(|w| w.to_string()).collect())
    .map(|ws: Vec<String>| ws.iter().map(|w| strip(w, dir.path())).collect())
    .map_err(|e| strip(&e.to_string(), dir.path()))
}

fn strip(s: &str, dir: &std::path::Path) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

/// BASE with `from` replaced by `to`: the error message.
fn err(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    plan(&BASE.replacen(from, to, 1), &[]).unwrap_err()
}

#[test]
fn base_is_valid_and_seed_inventories_too() {
    assert_eq!(plan(BASE, &[]), Ok(vec![]));
    let root = env!("CARGO_MANIFEST_DIR");
    for inv in ["inventory/lab.yml", "tests/inventories/alt.yml"] {
        let text = std::fs::read_to_string(format!("{root}/{inv}")).unwrap();
        assert_eq!(plan(&text, &[]), Ok(vec![]), "{inv}");
        assert_eq!(plan(&text, &["lvs_mode=lvs"]), Ok(vec![]), "{inv}");
    }
}

#[test]
fn not_checked_without_lvs_groups() {
    let inv = "all:\n  hosts:\n    a: {ansible_host: 127.0.0.1, lvs_vip: nope}\n    b: {ansible_host: 127.0.0.1}\n";
    assert_eq!(plan(inv, &[]), Ok(vec![]));
}

#[test]
fn invalid_ipv4() {
    assert_eq!(
        err("ansible_host: 10.7.0.31}", "ansible_host: 10.7.0.310}"),
        "`ansible_host` is not an IPv4 address: `10.7.0.310`\n  ——▶ inv.yml:26:31\n   │\n26 │         web-1: {ansible_host: 10.7.0.310}\n   │                               ^^^^^^^^^^\n   = expected an IPv4 address, e.g. 192.168.163.50"
    );
    assert_eq!(
        err("lvs_vip: 10.7.0.100", "lvs_vip: 10.7.0"),
        "`lvs_vip` is not an IPv4 address: `10.7.0`\n ——▶ inv.yml:5:14\n  │\n5 │     lvs_vip: 10.7.0\n  │              ^^^^^^\n  = expected an IPv4 address, e.g. 192.168.163.50"
    );
}

#[test]
fn prefixes() {
    assert_eq!(
        err("lan_prefix: 24", "lan_prefix: 31"),
        "`lan_prefix` is out of range: 31\n ——▶ inv.yml:4:17\n  │\n4 │     lan_prefix: 31\n  │                 ^^\n  = expected a whole number 8-30"
    );
    assert_eq!(
        err("lvs_vip_prefix: 24", "lvs_vip_prefix: 33"),
        "`lvs_vip_prefix` is out of range: 33\n ——▶ inv.yml:6:21\n  │\n6 │     lvs_vip_prefix: 33\n  │                     ^^\n  = expected a whole number 0-32"
    );
}

#[test]
fn vip_outside_the_directors_lan_or_on_a_node() {
    assert_eq!(
        err("lvs_vip: 10.7.0.100", "lvs_vip: 10.8.0.100"),
        "`lvs_vip` 10.8.0.100 is outside the directors' LAN 10.7.0.0/24 (`lb-a` is 10.7.0.21/24)\n ——▶ inv.yml:5:14\n  │\n5 │     lvs_vip: 10.8.0.100\n  │              ^^^^^^^^^^\n  = expected a host address in 10.7.0.0/24"
    );
    assert_eq!(
        err("lvs_vip: 10.7.0.100", "lvs_vip: 10.7.0.255"),
        "`lvs_vip` 10.7.0.255 is the network or broadcast address of 10.7.0.0/24\n ——▶ inv.yml:5:14\n  │\n5 │     lvs_vip: 10.7.0.255\n  │              ^^^^^^^^^^\n  = expected a host address in 10.7.0.0/24"
    );
    assert_eq!(
        err("lvs_vip: 10.7.0.100", "lvs_vip: 10.7.0.32"),
        "`lvs_vip` 10.7.0.32 is the address of host `web-2`\n ——▶ inv.yml:5:14\n  │\n5 │     lvs_vip: 10.7.0.32\n  │              ^^^^^^^^^\n  = expected an address no host has (the VIP moves between directors)"
    );
}

#[test]
fn extra_vars_are_named_without_position() {
    assert_eq!(
        plan(BASE, &["lvs_vip=192.168.1.1"]).unwrap_err(),
        "`lvs_vip` 192.168.1.1 is outside the directors' LAN 10.7.0.0/24 (`lb-a` is 10.7.0.21/24)\n ——▶ -e lvs_vip=192.168.1.1\n  = expected a host address in 10.7.0.0/24"
    );
    assert_eq!(
        plan(BASE, &["lvs_mode=both"]).unwrap_err(),
        "unknown `lvs_mode`: `both`\n ——▶ -e lvs_mode=both\n  = expected one of ha lvs"
    );
}

#[test]
fn duplicate_addresses_and_roles() {
    assert_eq!(
        err("ansible_host: 10.7.0.32", "ansible_host: 10.7.0.31"),
        "host `web-2` has the same address as `web-1`: 10.7.0.31\n  ——▶ inv.yml:27:31\n   │\n27 │         web-2: {ansible_host: 10.7.0.31}\n   │                               ^^^^^^^^^\n   = expected a different address for every host"
    );
    let both = BASE.replace("        web-2:", "        lb-b: {}\n        web-2:");
    assert_eq!(
        plan(&both, &[]).unwrap_err(),
        "host `lb-b` is both a director and a real server\n  ——▶ inv.yml:21:9\n   │\n21 │         lb-b: {ansible_host: 10.7.0.22, keepalived_state: BACKUP, keepalived_priority: 100}\n   │         ^^^^\n   = expected each host in either `directors` or `realservers`"
    );
}

#[test]
fn master_and_backup() {
    assert_eq!(
        err("keepalived_state: BACKUP", "keepalived_state: MASTER"),
        "two MASTER directors: `lb-a` and `lb-b`\n  ——▶ inv.yml:21:59\n   │\n21 │         lb-b: {ansible_host: 10.7.0.22, keepalived_state: MASTER, keepalived_priority: 100}\n   │                                                           ^^^^^^\n   = expected exactly one director with `keepalived_state: MASTER`, the others BACKUP"
    );
    assert_eq!(
        err("keepalived_state: MASTER", "keepalived_state: BACKUP"),
        "no director is MASTER\n  ——▶ inv.yml:20:59\n   │\n20 │         lb-a: {ansible_host: 10.7.0.21, keepalived_state: BACKUP, keepalived_priority: 150}\n   │                                                           ^^^^^^\n   = expected exactly one director with `keepalived_state: MASTER`"
    );
    assert_eq!(
        err("keepalived_state: MASTER", "keepalived_state: master"),
        "unknown `keepalived_state`: `master`\n  ——▶ inv.yml:20:59\n   │\n20 │         lb-a: {ansible_host: 10.7.0.21, keepalived_state: master, keepalived_priority: 150}\n   │                                                           ^^^^^^\n   = expected one of MASTER BACKUP"
    );
    assert_eq!(
        err(", keepalived_state: BACKUP", ""),
        "director `lb-b` has no `keepalived_state`\n  ——▶ inv.yml:21:9\n   │\n21 │         lb-b: {ansible_host: 10.7.0.22, keepalived_priority: 100}\n   │         ^^^^\n   = expected `keepalived_state: MASTER` or `BACKUP` on every director (ha mode)"
    );
    // lvs mode: a director without a state is MASTER, as in the playbook.
    let one = BASE.replacen(", keepalived_state: MASTER", "", 1);
    assert_eq!(plan(&one, &["lvs_mode=lvs"]), Ok(vec![]));
    let none = one.replacen(", keepalived_state: BACKUP", "", 1);
    assert_eq!(
        plan(&none, &["lvs_mode=lvs"]).unwrap_err().lines().next(),
        Some("two MASTER directors: `lb-a` and `lb-b`")
    );
}

#[test]
fn priorities_and_router_id() {
    assert_eq!(
        err("keepalived_priority: 150", "keepalived_priority: 256"),
        "`keepalived_priority` is out of range: 256\n  ——▶ inv.yml:20:88\n   │\n20 │         lb-a: {ansible_host: 10.7.0.21, keepalived_state: MASTER, keepalived_priority: 256}\n   │                                                                                        ^^^\n   = expected a whole number 1-255"
    );
    assert_eq!(
        err("keepalived_priority: 100", "keepalived_priority: 150"),
        "BACKUP `lb-b` has priority 150, not below MASTER `lb-a`'s 150\n  ——▶ inv.yml:21:88\n   │\n21 │         lb-b: {ansible_host: 10.7.0.22, keepalived_state: BACKUP, keepalived_priority: 150}\n   │                                                                                        ^^^\n   = expected a priority below 150 (the MASTER's)"
    );
    assert_eq!(
        err("keepalived_router_id: 77", "keepalived_router_id: 0"),
        "`keepalived_router_id` is out of range: 0\n  ——▶ inv.yml:14:27\n   │\n14 │     keepalived_router_id: 0\n   │                           ^\n   = expected a whole number 1-255"
    );
    assert_eq!(
        err("keepalived_advert_int: 1", "keepalived_advert_int: 0.5"),
        "`keepalived_advert_int` is not a whole number: `0.5`\n  ——▶ inv.yml:15:28\n   │\n15 │     keepalived_advert_int: 0.5\n   │                            ^\n   = expected a whole number 1-255"
    );
}

#[test]
fn long_auth_pass_warns_without_the_secret() {
    let w = plan(
        &BASE.replace("auth_pass: alt77pw", "auth_pass: s3cr3t-longer"),
        &[],
    )
    .unwrap();
    assert_eq!(
        w,
        vec!["`keepalived_auth_pass` is longer than 8 characters: keepalived uses only the first 8\n ——▶ inv.yml:16:27"]
    );
    let w = plan(BASE, &["keepalived_auth_pass=s3cr3t-longer"]).unwrap();
    assert_eq!(
        w,
        vec!["`keepalived_auth_pass` is longer than 8 characters: keepalived uses only the first 8\n ——▶ -e keepalived_auth_pass=********"]
    );
}

#[test]
fn service_words() {
    assert_eq!(
        err("lvs_scheduler: wrr", "lvs_scheduler: wrrr"),
        "unknown `lvs_scheduler`: `wrrr`\n  ——▶ inv.yml:11:20\n   │\n11 │     lvs_scheduler: wrrr\n   │                    ^^^^\n   = expected one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh"
    );
    assert_eq!(
        err("lvs_method: dr", "lvs_method: DR"),
        "unknown `lvs_method`: `DR`\n  ——▶ inv.yml:12:17\n   │\n12 │     lvs_method: DR\n   │                 ^^\n   = expected one of dr nat tun"
    );
    assert_eq!(
        err("lvs_protocol: tcp", "lvs_protocol: sctp"),
        "unknown `lvs_protocol`: `sctp`\n  ——▶ inv.yml:10:19\n   │\n10 │     lvs_protocol: sctp\n   │                   ^^^^\n   = expected one of tcp udp"
    );
}

#[test]
fn ports_weights_persistence() {
    assert_eq!(
        err("lvs_port: 80", "lvs_port: 65536"),
        "`lvs_port` is out of range: 65536\n ——▶ inv.yml:9:15\n  │\n9 │     lvs_port: 65536\n  │               ^^^^^\n  = expected a whole number 1-65535"
    );
    assert_eq!(
        err("web-1: {ansible_host: 10.7.0.31}", "web-1: {ansible_host: 10.7.0.31, lvs_rs_port: 8080}"),
        "`lvs_rs_port` 8080 differs from `lvs_port` 80, which `dr` cannot do\n  ——▶ inv.yml:26:55\n   │\n26 │         web-1: {ansible_host: 10.7.0.31, lvs_rs_port: 8080}\n   │                                                       ^^^^\n   = expected `lvs_rs_port` equal to `lvs_port` (80) with `lvs_method` dr or tun (nat can map ports)"
    );
    // nat maps ports.
    let nat = BASE.replace("lvs_method: dr", "lvs_method: nat").replace(
        "web-1: {ansible_host: 10.7.0.31}",
        "web-1: {ansible_host: 10.7.0.31, lvs_rs_port: 8080}",
    );
    assert_eq!(plan(&nat, &[]), Ok(vec![]));
    assert_eq!(
        err("lvs_weight: 1", "lvs_weight: 65536"),
        "`lvs_weight` is out of range: 65536\n  ——▶ inv.yml:24:21\n   │\n24 │         lvs_weight: 65536\n   │                     ^^^^^\n   = expected a whole number 0-65535"
    );
    assert_eq!(
        err("lvs_weight: 1", "lvs_weight: heavy"),
        "`lvs_weight` is not a whole number: `heavy`\n  ——▶ inv.yml:24:21\n   │\n24 │         lvs_weight: heavy\n   │                     ^^^^^\n   = expected a whole number 0-65535"
    );
    assert_eq!(
        err("lvs_persistence_timeout: 0", "lvs_persistence_timeout: -1"),
        "`lvs_persistence_timeout` is out of range: -1\n  ——▶ inv.yml:13:30\n   │\n13 │     lvs_persistence_timeout: -1\n   │                              ^^\n   = expected a whole number 0-2678400"
    );
}

#[test]
fn interface_and_labels() {
    assert_eq!(
        err("lan_interface: eth7", "lan_interface: eth7:1"),
        "`lan_interface` is not a valid interface name: `eth7:1`\n ——▶ inv.yml:3:20\n  │\n3 │     lan_interface: eth7:1\n  │                    ^^^^^^\n  = expected a Linux interface name: 1-15 characters, no `/`, `:` or whitespace"
    );
    assert_eq!(
        err("lan_interface: eth7", "lan_interface: averyveryverylongname"),
        "`lan_interface` is not a valid interface name: `averyveryverylongname`\n ——▶ inv.yml:3:20\n  │\n3 │     lan_interface: averyveryverylongname\n  │                    ^^^^^^^^^^^^^^^^^^^^^\n  = expected a Linux interface name: 1-15 characters, no `/`, `:` or whitespace"
    );
    assert_eq!(
        err("lvs_vip_label: eth7:1", "lvs_vip_label: ens33:1"),
        "`lvs_vip_label` `ens33:1` does not start with the device name `eth7`\n ——▶ inv.yml:7:20\n  │\n7 │     lvs_vip_label: ens33:1\n  │                    ^^^^^^^\n  = expected `eth7` or `eth7:N`, at most 15 characters"
    );
    assert_eq!(
        err("lvs_lo_label: lo:7", "lvs_lo_label: lo:0123456789abcdef"),
        "`lvs_lo_label` is not a valid address label: `lo:0123456789abcdef`\n ——▶ inv.yml:8:19\n  │\n8 │     lvs_lo_label: lo:0123456789abcdef\n  │                   ^^^^^^^^^^^^^^^^^^^\n  = expected `lo` or `lo:N`, at most 15 characters"
    );
}

#[test]
fn templated_values_are_resolved_or_left_to_run_time() {
    // Resolved by the plan: checked.
    let t = BASE.replace(
        "lvs_vip_label: eth7:1",
        "lvs_vip_label: \"{{ lan_interface }}:1\"",
    );
    assert_eq!(plan(&t, &[]), Ok(vec![]));
    let t = BASE.replace("lvs_vip: 10.7.0.100", "lvs_vip: \"{{ '10.9.0.1' }}\"");
    assert!(plan(&t, &[])
        .unwrap_err()
        .starts_with("`lvs_vip` 10.9.0.1 is outside"));
    // Needs facts: skipped.
    let t = BASE.replace(
        "lvs_vip: 10.7.0.100",
        "lvs_vip: \"{{ ansible_default_ipv4.address }}\"",
    );
    assert_eq!(plan(&t, &[]), Ok(vec![]));
}

#[test]
fn one_service_for_every_node() {
    let t = BASE.replace(
        "      vars:\n        lvs_weight: 1",
        "      vars:\n        lvs_weight: 1\n        lvs_method: nat",
    );
    assert_eq!(
        plan(&t, &[]).unwrap_err(),
        "`lvs_method` is `nat` for `web-1` but `dr` for `lb-a`\n  ——▶ inv.yml:25:21\n   │\n25 │         lvs_method: nat\n   │                     ^^^\n   = expected the same `lvs_method` on every director and real server"
    );
}

/// The shipped setup playbook plans against an inventory that leaves out what has a default
/// (labels, timers, the real servers' ports and weights), and every host of the cluster gets
/// the same defaults the cluster model assumes; `-e` still wins over what they follow.
#[test]
fn setup_plans_with_the_cluster_defaults_for_what_the_inventory_leaves_out() {
    let inv_text = BASE
        .replace("    lvs_lo_label: lo:7\n", "")
        .replace("    lvs_vip_label: eth7:1\n", "")
        .replace("      vars:\n        lvs_weight: 1\n", "")
        .replace(
            "  vars:\n",
            "  vars:\n    lab_client_addresses: [10.7.0.1]\n",
        );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.yml");
    std::fs::write(&path, &inv_text).unwrap();
    let inv = crate::inventory::Inventory::load(&path).unwrap();
    let shipped = crate::assets::shipped("setup.yml", None, &path).unwrap();
    let extra = vec![
        "lvs_mode=ha".to_string(),
        "lvs_port=8080".to_string(),
        "lvs_method=nat".to_string(),
    ];
    let plan = build(&Request {
        inventory: &inv,
        route: None,
        playbook: Some(super::super::PlaybookSource::Shipped(&shipped)),
        limit: None,
        extra_vars: &extra,
        check: true,
        lvs: true,
        tags: Default::default(),
    })
    .map_err(|e| strip(&e.to_string(), dir.path()))
    .unwrap();
    let rs = &plan.hosts["web-1"].vars;
    assert_eq!(rs["lvs_lo_label"], "lo");
    assert_eq!(rs["lvs_weight"], 1);
    assert_eq!(rs["lvs_rs_port"], "8080", "follows -e lvs_port");
    assert_eq!(plan.hosts["lb-a"].vars["lvs_vip_label"], "eth7");
    assert_eq!(plan.hosts["lb-a"].vars["keepalived_delay_loop"], 60);
}
