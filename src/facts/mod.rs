//! Facts: what a host is (OS family and version, init system, package manager, interfaces with
//! addresses and MACs, versions of keepalived/ipvsadm/httpd/apache2, loaded IPVS schedulers),
//! gathered once per host per run in ONE remote command, together with the node's state file.
//! Exposed as `ansible_facts.*` plus Ansible's top-level `ansible_*` aliases (docs/variables.md).

pub(crate) mod cache;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use crate::quote::quote;

/// Top-level variable names facts provide (known at plan time to exist at run time).
pub(crate) const FACT_VARS: &[&str] = &[
    "ansible_facts",
    "ansible_os_family",
    "ansible_distribution",
    "ansible_distribution_version",
    "ansible_distribution_major_version",
    "ansible_service_mgr",
    "ansible_pkg_mgr",
    "ansible_hostname",
    "ansible_kernel",
    "ansible_architecture",
    "ansible_interfaces",
    "ansible_all_ipv4_addresses",
];

/// The one command that gathers everything (shared with bench/engine), in `#@ NAME` blocks.
const GATHER: &str = include_str!("gather.sh");

/// The fact subsets a play may ask for (`gather_subset`); `min` is always gathered. The
/// program-backed ones cost a TCG guest 40-170 ms each, so a host gathers only those its
/// plays ask for.
pub(crate) const SUBSETS: &[&str] = &[
    "min",
    "interfaces",
    "network",
    "ipvs",
    "ipvsadm",
    "keepalived",
    "web",
];

/// Every subset: what a play gathers unless it says otherwise.
pub(crate) fn all_subsets() -> Vec<String> {
    SUBSETS.iter().map(|s| s.to_string()).collect()
}

/// The facts command for a node whose state file is `state_file`, gathering `subsets` (and
/// `min`).
pub(crate) fn script(state_file: &str, subsets: &[String]) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in GATHER.lines() {
        if let Some(name) = line.strip_prefix("#@ ") {
            let name = name.trim();
            keep = name == "min" || subsets.iter().any(|s| s == name);
            continue;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.replace("__LVSLAB_STATE_FILE__", &quote(state_file))
}

/// The subsets a `gather_subset` list names: `all`, subset names, and `!name` to leave one
/// out (only exclusions: everything but those, as in Ansible). Err: the first unknown name.
pub(crate) fn subsets_of(items: &[String]) -> Result<Vec<String>, String> {
    let mut on: Vec<String> = vec!["min".into()];
    let only_exclusions = !items.is_empty() && items.iter().all(|i| i.starts_with('!'));
    let mut off: Vec<String> = Vec::new();
    for item in items {
        let (neg, name) = match item.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, item.as_str()),
        };
        let names: Vec<&str> = match name {
            "all" => SUBSETS.to_vec(),
            n if SUBSETS.contains(&n) => vec![n],
            _ => return Err(item.clone()),
        };
        for n in names {
            let list = if neg { &mut off } else { &mut on };
            if !list.iter().any(|x| x == n) {
                list.push(n.to_string());
            }
        }
    }
    if only_exclusions {
        on = all_subsets();
    }
    on.retain(|n| n == "min" || !off.contains(n));
    // Addresses are listed per interface.
    if on.iter().any(|n| n == "network") && !on.iter().any(|n| n == "interfaces") {
        on.push("interfaces".into());
    }
    Ok(on)
}

/// What every run needs even when no play gathers facts (`gather_facts: false`): the init
/// system, the user id (become) and the node's state file — shell builtins only.
pub(crate) fn minimal_script(state_file: &str) -> String {
    format!(
        "rd() {{ while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done <\"$1\"; }} 2>/dev/null
echo @@init; if [ -d /run/systemd/system ]; then echo systemd; else rd /proc/1/comm; fi
echo @@misc; rd /proc/sys/kernel/hostname; rd /proc/sys/kernel/osrelease; echo
while read -r k v _; do [ \"$k\" = Uid: ] && echo \"$v\"; done </proc/self/status
echo @@state; rd {}
true
",
        quote(state_file)
    )
}

/// Split the output of a probe script (the facts command, verify's probes) into its `@@name`
/// sections; lines before the first header are dropped.
pub(crate) fn sections(out: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("@@") {
            if let Some((n, body)) = current.take() {
                m.insert(n, body);
            }
            current = Some((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((n, body)) = current {
        m.insert(n, body);
    }
    m
}

/// First `x.y[.z]` version-looking word in a line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn version(line: &str) -> Json {
    for w in line.split(|c: char| c.is_whitespace() || c == '/') {
        let w = w.trim_start_matches('v').trim_start_matches("Apache/");
        let w = w.trim_end_matches(|c: char| !c.is_ascii_digit());
        if w.contains('.') && w.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return Json::String(w.to_string());
        }
    }
    Json::Null
}

/// Parsed facts, plus the raw state file text.
pub(crate) fn parse(out: &str) -> (Map<String, Json>, String) {
    let s = sections(out);
    let get = |k: &str| s.get(k).cloned().unwrap_or_default();
    let osr = os_release(&get("os_release"));
    let field = |k: &str| osr.get(k).and_then(Json::as_str).unwrap_or("").to_string();
    let (id, like, ver) = (field("ID"), field("ID_LIKE"), field("VERSION_ID"));
    let family = os_family(&id, &like);
    let major = ver.split('.').next().unwrap_or("").to_string();
    let init = get("init").trim().to_string();
    let service_mgr = match init.as_str() {
        "systemd" => "systemd",
        "init" => "sysvinit",
        "" => "unknown",
        other => other,
    };
    let pkg = match get("pkg").trim() {
        "apt-get" => "apt",
        "dnf" => "dnf",
        "yum" => "yum",
        _ => "unknown",
    };
    let (names, net) = interfaces(&get("link"));
    let (net, all4) = addresses(net, &get("addr"));
    let misc: Vec<String> = get("misc").lines().map(str::to_string).collect();
    let m = |i: usize| Json::String(misc.get(i).cloned().unwrap_or_default());
    let facts = json!({
        "os_family": family,
        "distribution": id,
        "distribution_version": ver,
        "distribution_major_version": major,
        "service_mgr": service_mgr,
        "pkg_mgr": pkg,
        "hostname": m(0),
        "kernel": m(1),
        "architecture": m(2),
        "user_id": m(3),
        "interfaces": names,
        "network": net,
        "all_ipv4_addresses": all4,
        "keepalived_version": version(first_line(&get("keepalived"))),
        "ipvsadm_version": version(first_line(&get("ipvsadm"))),
        "httpd_version": version(first_line(&get("httpd"))),
        "apache2_version": version(first_line(&get("apache2"))),
        "ip_vs_schedulers": ipvs_schedulers(&get("ipvs_sched")),
        "ip_vs_modules": ipvs_modules(&get("ipvs_avail")),
    });
    let mut facts = facts.as_object().cloned().unwrap_or_default();
    // A subset not gathered leaves its facts undefined (not "absent on the node").
    for (key, section) in [
        ("interfaces", "link"),
        ("network", "link"),
        ("network", "addr"),
        ("all_ipv4_addresses", "addr"),
        ("keepalived_version", "keepalived"),
        ("ipvsadm_version", "ipvsadm"),
        ("httpd_version", "httpd"),
        ("apache2_version", "apache2"),
        ("ip_vs_schedulers", "ipvs_sched"),
        ("ip_vs_modules", "ipvs_avail"),
    ] {
        if !s.contains_key(section) {
            facts.remove(key);
        }
    }
    (facts, get("state"))
}

/// `/etc/os-release` as its keys and unquoted values.
fn os_release(text: &str) -> Map<String, Json> {
    let mut osr = Map::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once('=') {
            osr.insert(k.to_string(), Json::String(v.trim_matches('"').to_string()));
        }
    }
    osr
}

/// Ansible's `os_family` from os-release's `ID` and `ID_LIKE`: the family a distribution
/// derives from, else its own name capitalised.
fn os_family(id: &str, like: &str) -> String {
    if id == "debian" || like.contains("debian") {
        "Debian".to_string()
    } else if ["rhel", "centos", "fedora", "rocky", "almalinux"].contains(&id)
        || like.contains("rhel")
        || like.contains("fedora")
    {
        "RedHat".to_string()
    } else {
        let mut c = id.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    }
}

/// The interface names and the `network` fact with one entry per interface (no addresses
/// yet), from "IFINDEX NAME MAC" lines (sysfs), in ifindex order as `ip` lists them.
fn interfaces(text: &str) -> (Vec<Json>, Map<String, Json>) {
    let mut net: Map<String, Json> = Map::new();
    let mut names: Vec<Json> = Vec::new();
    let mut links: Vec<(u32, String, Json)> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let idx = w.next()?.parse().ok()?;
            let name = w.next()?.to_string();
            let mac = w.next().map_or(Json::Null, |m| Json::String(m.to_string()));
            Some((idx, name, mac))
        })
        .collect();
    links.sort_by_key(|l| l.0);
    for (_, name, mac) in links {
        names.push(Json::String(name.clone()));
        net.insert(
            name.clone(),
            json!({"device": name, "macaddress": mac, "ipv4": [], "ipv6": []}),
        );
    }
    (names, net)
}

/// Each interface's addresses (`ip -o addr` lines) added to the `network` fact, and every
/// IPv4 address.
fn addresses(mut net: Map<String, Json>, text: &str) -> (Map<String, Json>, Vec<Json>) {
    let mut all4 = Vec::new();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        let (Some(dev), Some(fam), Some(addr)) = (w.get(1), w.get(2), w.get(3)) else {
            continue;
        };
        let key = if *fam == "inet" { "ipv4" } else { "ipv6" };
        if *fam == "inet" {
            all4.push(Json::String(
                addr.split('/').next().unwrap_or("").to_string(),
            ));
        }
        if let Some(Json::Array(a)) = net.get_mut(*dev).and_then(|d| d.get_mut(key)) {
            a.push(Json::String(addr.to_string()));
        }
    }
    (net, all4)
}

/// The IPVS schedulers the kernel has loaded.
fn ipvs_schedulers(text: &str) -> Vec<Json> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ip_vs_"))
        .filter(|s| !["ftp", "nq_"].contains(s) && !s.is_empty())
        .map(|s| Json::String(s.to_string()))
        .collect()
}

/// The IPVS modules available: a module file of the running kernel, or already in it (loaded
/// or built in).
fn ipvs_modules(text: &str) -> Vec<Json> {
    let mut avail: Vec<Json> = Vec::new();
    for l in text.lines() {
        let name = l.trim();
        if name.starts_with("ip_vs") && !avail.iter().any(|a| a == name) {
            avail.push(Json::String(name.to_string()));
        }
    }
    avail
}

/// The variables facts contribute: `ansible_facts` and the top-level aliases.
pub(crate) fn vars(facts: &Map<String, Json>) -> Map<String, Json> {
    let mut v = Map::new();
    for (k, name) in [
        ("os_family", "ansible_os_family"),
        ("distribution", "ansible_distribution"),
        ("distribution_version", "ansible_distribution_version"),
        (
            "distribution_major_version",
            "ansible_distribution_major_version",
        ),
        ("service_mgr", "ansible_service_mgr"),
        ("pkg_mgr", "ansible_pkg_mgr"),
        ("hostname", "ansible_hostname"),
        ("kernel", "ansible_kernel"),
        ("architecture", "ansible_architecture"),
        ("interfaces", "ansible_interfaces"),
        ("all_ipv4_addresses", "ansible_all_ipv4_addresses"),
    ] {
        if let Some(x) = facts.get(k) {
            v.insert(name.to_string(), x.clone());
        }
    }
    v.insert("ansible_facts".into(), Json::Object(facts.clone()));
    v
}

/// One line for `lvslab ping`.
pub(crate) fn summary(f: &Map<String, Json>) -> String {
    let s = |k: &str| f.get(k).and_then(Json::as_str).unwrap_or("?").to_string();
    let v = |k: &str| f.get(k).and_then(Json::as_str).map(str::to_string);
    let mut parts = vec![
        format!(
            "{} {} ({})",
            s("distribution"),
            s("distribution_version"),
            s("os_family")
        ),
        format!("init {}", s("service_mgr")),
        format!("pkg {}", s("pkg_mgr")),
    ];
    let addrs: Vec<String> = f
        .get("all_ipv4_addresses")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    parts.push(format!(
        "ipv4 {}",
        if addrs.is_empty() {
            "-".into()
        } else {
            addrs.join(",")
        }
    ));
    for (k, label) in [
        ("keepalived_version", "keepalived"),
        ("ipvsadm_version", "ipvsadm"),
        ("httpd_version", "httpd"),
        ("apache2_version", "apache2"),
    ] {
        if let Some(x) = v(k) {
            parts.push(format!("{label} {x}"));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_facts_know_init_user_and_state() {
        let dir = std::env::temp_dir().join(format!("lvslab-minfacts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("state.json");
        std::fs::write(&state, "{\"records\":[]}").unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(minimal_script(state.to_str().unwrap()))
            .output()
            .unwrap();
        let (f, st) = parse(&String::from_utf8_lossy(&out.stdout));
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        assert_eq!(f["user_id"], uid.to_string());
        assert_eq!(st.trim(), "{\"records\":[]}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sections_split_on_headers() {
        let s = sections("junk\n@@a\none\ntwo\n@@b\n@@c\nx\n");
        assert_eq!(s["a"], "one\ntwo\n");
        assert_eq!(s["b"], "");
        assert_eq!(s["c"], "x\n");
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn parses_a_debian_node() {
        let out = "@@os_release\nID=debian\nVERSION_ID=\"12\"\n@@init\nsystemd\n@@addr\n1: lo    inet 127.0.0.1/8 scope host lo\n2: ens33    inet 192.168.163.11/24 brd 192.168.163.255 scope global ens33\n@@link\n2 ens33 52:54:00:aa:bb:01\n1 lo 00:00:00:00:00:00\n@@keepalived\nKeepalived v2.2.7 (01/16,2022)\n@@ipvsadm\nipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n@@httpd\n@@apache2\nServer version: Apache/2.4.62 (Debian)\n@@ipvs_sched\nip_vs_rr\n@@ipvs_avail\nip_vs\nip_vs_rr\nip_vs\nip_vs_wrr\n@@pkg\napt-get\n@@misc\nnode01\n6.1.0\nx86_64\n0\n@@state\n{\"records\":[]}\n";
        let (f, state) = parse(out);
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["service_mgr"], "systemd");
        assert_eq!(f["pkg_mgr"], "apt");
        assert_eq!(f["keepalived_version"], "2.2.7");
        assert_eq!(
            f["ip_vs_modules"],
            json!(["ip_vs", "ip_vs_rr", "ip_vs_wrr"])
        );
        assert_eq!(f["ipvsadm_version"], "1.31");
        assert_eq!(f["apache2_version"], "2.4.62");
        assert_eq!(f["httpd_version"], Json::Null);
        assert_eq!(f["ip_vs_schedulers"], json!(["rr"]));
        assert_eq!(f["network"]["ens33"]["macaddress"], "52:54:00:aa:bb:01");
        assert_eq!(f["network"]["ens33"]["ipv4"], json!(["192.168.163.11/24"]));
        assert_eq!(
            f["all_ipv4_addresses"],
            json!(["127.0.0.1", "192.168.163.11"])
        );
        assert_eq!(state.trim(), "{\"records\":[]}");
        let v = vars(&f);
        assert_eq!(v["ansible_os_family"], "Debian");
        assert_eq!(f["interfaces"], json!(["lo", "ens33"]));
    }

    /// Recorded facts output of RHEL-family nodes (Rocky 9 with dnf and httpd, CentOS 7 with
    /// yum and keepalived 1.3.5): the family, package manager and versions setup's choices
    /// (httpd, /etc/sysconfig/ipvsadm, keepalived's config syntax) are made from.
    #[test]
    fn parses_rhel_family_nodes() {
        let rocky = "@@os_release\nNAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n@@init\nsystemd\n@@pkg\ndnf\n@@keepalived\nKeepalived v2.2.8 (04/04,2023), git commit v2.2.7-154-g292b299e+\n@@httpd\nServer version: Apache/2.4.57 (Rocky Linux)\nServer built:   Apr  1 2024 00:00:00\n@@apache2\n@@misc\nweb1\n5.14.0-427.13.1.el9_4.x86_64\nx86_64\n0\n";
        let (f, _) = parse(rocky);
        assert_eq!(f["os_family"], "RedHat");
        assert_eq!(f["distribution_major_version"], "9");
        assert_eq!(f["pkg_mgr"], "dnf");
        assert_eq!(f["keepalived_version"], "2.2.8");
        assert_eq!(f["httpd_version"], "2.4.57");
        assert_eq!(f["apache2_version"], Json::Null);
        let centos = "@@os_release\nNAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n@@init\nsystemd\n@@pkg\nyum\n@@keepalived\nKeepalived v1.3.5 (03/19,2017), git commit v1.3.5-6-g6fa32f2\n@@misc\nlb1\n3.10.0-1160.el7.x86_64\nx86_64\n0\n";
        let (f, _) = parse(centos);
        assert_eq!(f["os_family"], "RedHat");
        assert_eq!(f["pkg_mgr"], "yum");
        assert_eq!(f["keepalived_version"], "1.3.5");
    }

    #[test]
    fn subsets_expand_exclude_and_reject_unknown_names() {
        let s =
            |items: &[&str]| subsets_of(&items.iter().map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]).unwrap(), ["min"]);
        assert_eq!(s(&["network"]).unwrap(), ["min", "network", "interfaces"]);
        assert_eq!(s(&["interfaces"]).unwrap(), ["min", "interfaces"]);
        assert_eq!(s(&["all"]).unwrap(), SUBSETS);
        assert_eq!(
            s(&["!keepalived", "!web"]).unwrap(),
            ["min", "interfaces", "network", "ipvs", "ipvsadm"]
        );
        assert_eq!(
            s(&["all", "!ipvs"]).unwrap(),
            [
                "min",
                "interfaces",
                "network",
                "ipvsadm",
                "keepalived",
                "web"
            ]
        );
        assert_eq!(s(&["!min"]).unwrap(), SUBSETS);
        assert_eq!(s(&["network", "hardware"]).unwrap_err(), "hardware");
    }

    #[test]
    fn a_subset_not_gathered_is_not_sent_and_its_facts_stay_undefined() {
        let only_min = script("/s", &[]);
        assert!(!only_min.contains("ip -o addr") && !only_min.contains("keepalived -v"));
        assert!(only_min.contains("@@state") && only_min.contains("@@os_release"));
        let net = script("/s", &["interfaces".into()]);
        assert!(net.contains("echo @@link") && !net.contains("ip -o addr"));
        assert!(!net.contains("apache2 -v"));
        let all = script("/s", &all_subsets());
        for section in [
            "addr",
            "link",
            "ipvsadm",
            "keepalived",
            "httpd",
            "apache2",
            "misc",
        ] {
            assert!(all.contains(&format!("echo @@{section};")), "{section}");
        }
        let (f, _) = parse("@@os_release\nID=debian\n@@keepalived\n@@misc\nn\n");
        assert_eq!(f["keepalived_version"], Json::Null);
        assert!(!f.contains_key("interfaces") && !f.contains_key("apache2_version"));
    }

    #[test]
    fn links_come_from_sysfs_in_index_order() {
        // The facts command's own link loop, run here against the test host's sysfs.
        let link: String = script("/s", &["interfaces".into()])
            .lines()
            .filter(|l| l.starts_with("echo @@link"))
            .collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&link)
            .output()
            .unwrap();
        let (f, _) = parse(&String::from_utf8_lossy(&out.stdout));
        let names = f["interfaces"].as_array().cloned().unwrap_or_default();
        assert_eq!(names.first(), Some(&json!("lo")), "{names:?}");
        // Without the addresses (`network`), no per-interface map that would claim none.
        assert!(!f.contains_key("network"));
    }
}
