//! The embedded virtual lab, end to end with real VMs (qemu, Debian kernel, systemd,
//! sshd), driven through the real `lvslab` binary. No mocks.
//!
//! Needs root and the lab's host packages; the first run builds the cache (about a minute) and
//! cold-boots the labs. Without root the tests FAIL, unless `LVSLAB_SKIP_LAB_TESTS=1` says to
//! skip them on purpose. Everything runs in one test function per lab, serialised by a mutex,
//! because labs share the machine's two cores.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

mod lab_util;

use lab_util::{lab_tests_enabled, lvslab, lvslab_env, ok, repo};

static SERIAL: Mutex<()> = Mutex::new(());

fn on(inventory: &Path, node: &str, command: &str) -> String {
    ok(inventory, &["lab", "ssh", node, "--", command])
}

struct Expect {
    name: String,
    address: String,
    prefix: u64,
    interface: String,
    /// `lab_suite`, the host's own or its group's (Debian 12 when neither says).
    suite: String,
}

struct Inv {
    path: PathBuf,
    lab: String,
    nodes: Vec<Expect>,
    director: String,
    vip: String,
}

/// What the inventory says the lab looks like (read independently of lvslab's own reader).
fn inventory(rel: &str) -> Inv {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).expect("inventory");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let all = &doc["all"];
    let vars = &all["vars"];
    let mut nodes = Vec::new();
    let mut director = None;
    for (group, body) in all["children"].as_mapping().expect("children") {
        for (name, hv) in body["hosts"].as_mapping().expect("hosts") {
            let name = name.as_str().expect("name").to_string();
            if group.as_str() == Some("directors") && director.is_none() {
                director = Some(name.clone());
            }
            let suite = [
                &hv["lab_suite"],
                &body["vars"]["lab_suite"],
                &vars["lab_suite"],
            ]
            .into_iter()
            .find_map(|v| v.as_str())
            .unwrap_or("bookworm")
            .to_string();
            nodes.push(Expect {
                suite,
                address: hv["ansible_host"]
                    .as_str()
                    .expect("ansible_host")
                    .to_string(),
                prefix: vars["lan_prefix"].as_u64().expect("lan_prefix"),
                interface: vars["lan_interface"]
                    .as_str()
                    .expect("lan_interface")
                    .to_string(),
                name,
            });
        }
    }
    Inv {
        lab: path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("stem")
            .to_string(),
        path,
        nodes,
        director: director.expect("a director"),
        vip: vars["lvs_vip"].as_str().expect("lvs_vip").to_string(),
    }
}

fn status(inv: &Inv) -> serde_json::Value {
    let out = ok(&inv.path, &["--json", "lab", "status"]);
    serde_json::from_str(&out).expect("status JSON")
}

fn node_status<'a>(st: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    st["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["name"] == name)
        .expect("node in status")
}

fn boot_id(inv: &Inv, node: &str) -> String {
    on(&inv.path, node, "cat /proc/sys/kernel/random/boot_id")
        .trim()
        .to_string()
}

/// `lab up` of a lab that is down: every node resumes from its saved state with its clock set
/// by its clock agent (not by the ssh login that stands in for it), to the host's time.
fn resume(inv: &Inv) {
    // Long enough that a clock left as it was when the node was saved would show behind.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let out = lvslab(&inv.path, &["lab", "up"]);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "lab up failed:\n{progress}");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64()
    };
    let clock = |n: &Expect| {
        let before = now();
        let t = on(&inv.path, &n.name, "date +%s.%N");
        let after = now();
        let t: f64 = t.trim().parse().expect("date +%s.%N prints seconds");
        (t, before, after)
    };
    let mut first = Vec::new();
    for n in &inv.nodes {
        assert!(
            progress.contains(&format!("{}: resumed, clock set", n.name)),
            "{} did not resume through its clock agent:\n{progress}",
            n.name
        );
        let (t, before, after) = clock(n);
        assert!(
            t > before - 2.0 && t < after + 1.0,
            "{}'s clock says {t}, the host's {before:.3}..{after:.3}",
            n.name
        );
        first.push((t, (before + after) / 2.0));
    }
    // ... and keeps the host's pace (a guest that calibrated its TSC wrongly at boot runs
    // fast or slow by a factor).
    std::thread::sleep(std::time::Duration::from_secs(5));
    for (n, (t0, h0)) in inv.nodes.iter().zip(first) {
        let (t1, before, after) = clock(n);
        let (guest, host) = (t1 - t0, (before + after) / 2.0 - h0);
        assert!(
            (guest - host).abs() < 1.5,
            "{}'s clock went {guest:.2} s while the host's went {host:.2} s",
            n.name
        );
    }
}

/// Every node answers ssh with its hostname, address/prefix on the inventory's interface.
fn check_identity(inv: &Inv) {
    // Each node boots the release its inventory asks for, and `lab status` says so.
    let st = status(inv);
    for n in &inv.nodes {
        let s = node_status(&st, &n.name);
        assert_eq!(s["release"], n.suite.as_str(), "{st}");
        assert_eq!(
            s["running"]["release"],
            n.suite.as_str(),
            "{} runs {}: {st}",
            n.name,
            n.suite
        );
        assert!(s["running"]["kernel"]
            .as_str()
            .is_some_and(|k| !k.is_empty()));
    }
    for n in &inv.nodes {
        let out = on(
            &inv.path,
            &n.name,
            &format!("hostname; ip -o -4 addr show dev {}", n.interface),
        );
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some(n.name.as_str()),
            "hostname of {}",
            n.name
        );
        let addr = lines.next().unwrap_or_default();
        assert!(
            addr.contains(&format!("{}/{}", n.address, n.prefix))
                && addr.contains(&format!(" {} ", n.interface)),
            "{}: expected {}/{} on {}, got {addr:?}",
            n.name,
            n.address,
            n.prefix,
            n.interface
        );
    }
}

/// Real kernel IPVS on the director, programmed with ipvsadm installed from the lab's package
/// repository (a fresh node has none); the service and the package are removed again (the lab
/// is left as found, unless setup had installed ipvsadm, which then stays).
fn check_ipvs(inv: &Inv) {
    let out = on(
        &inv.path,
        &inv.director,
        &format!(
            // A port of its own: lvslab's LVS service (VIP:80) may be set up on this lab.
            "export DEBIAN_FRONTEND=noninteractive; had=; command -v ipvsadm >/dev/null && had=1; \
             [ -n \"$had\" ] || apt-get install -y -q --no-install-recommends ipvsadm >/dev/null; \
             modprobe ip_vs && ipvsadm -A -t {vip}:10080 -s rr && ipvsadm -Ln; \
             rc=$?; ipvsadm -D -t {vip}:10080; \
             [ -n \"$had\" ] || apt-get purge -y -q ipvsadm >/dev/null || rc=1; exit $rc",
            vip = inv.vip
        ),
    );
    assert!(
        out.contains(&format!("TCP  {}:10080 rr", inv.vip)),
        "ipvsadm on {}: {out}",
        inv.director
    );
    // The kernel's own table (hex address and port), as ipvsadm may be gone again.
    let vip: std::net::Ipv4Addr = inv.vip.parse().expect("lvs_vip is an IPv4 address");
    let after = on(&inv.path, &inv.director, "cat /proc/net/ip_vs");
    assert!(
        !after.contains(&format!("{:08X}:{:04X}", u32::from(vip), 10080)),
        "service left behind: {after}"
    );
}

/// The pids of `lvslab lab proxy` processes (ssh's ProxyCommand) for this inventory.
fn proxies(inv: &Inv) -> Vec<String> {
    let path = std::path::absolute(&inv.path).expect("absolute inventory path");
    let needle = format!("\0{}\0lab\0proxy\0", path.display());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// After `lab down`: no qemu of the lab, no namespace, no tap or bridge anywhere, and (within
/// a few seconds, as the ssh masters that used them close) no proxy into the lab.
fn check_gone(inv: &Inv) {
    let mut left = proxies(inv);
    for _ in 0..40 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        left = proxies(inv);
    }
    assert!(left.is_empty(), "lab proxies still running: pids {left:?}");
    let marker = format!("lvslab-{}-", inv.lab);
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd);
            assert!(
                !(cmd.contains("qemu-system") && cmd.contains(&marker)),
                "qemu of lab {} still running: pid {:?}",
                inv.lab,
                entry.file_name()
            );
        }
    }
    let ns = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip")
            .stdout,
    )
    .into_owned();
    assert!(
        !ns.lines()
            .any(|l| l.split_whitespace().next() == Some(&format!("lvslab-{}", inv.lab))),
        "namespace left: {ns}"
    );
    let links = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .expect("ip")
            .stdout,
    )
    .into_owned();
    assert!(
        !links.contains("lvstap") && !links.contains("lvsbr0"),
        "lab links in the machine's namespace: {links}"
    );
}

#[test]
fn default_lab_lifecycle() {
    if !lab_tests_enabled() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inv = inventory("inventory/lab.yml");
    assert_eq!(inv.nodes.len(), 4);

    // Input errors are exit 2 and name the node.
    let out = lvslab(&inv.path, &["lab", "ssh", "no-such-node", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-node"));

    ok(&inv.path, &["lab", "up"]);
    check_identity(&inv);
    check_ipvs(&inv);

    // A second `lab up` reports the running lab and reboots nothing.
    let before = boot_id(&inv, &inv.director);
    ok(&inv.path, &["lab", "up"]);
    assert_eq!(
        boot_id(&inv, &inv.director),
        before,
        "lab up rebooted a node"
    );

    // State on a node's disk survives its reboot ...
    let web = inv
        .nodes
        .iter()
        .find(|n| n.name != inv.director)
        .expect("a second node");
    let token = format!(
        "{:x}",
        std::process::id() as u64 * 7919 + before.len() as u64
    );
    on(
        &inv.path,
        &web.name,
        &format!("echo {token} > /var/lib/lvslab-test-marker"),
    );
    let web_boot = boot_id(&inv, &web.name);
    ok(&inv.path, &["lab", "reboot", &web.name]);
    assert_ne!(
        boot_id(&inv, &web.name),
        web_boot,
        "lab reboot did not reboot"
    );
    assert_eq!(
        on(&inv.path, &web.name, "cat /var/lib/lvslab-test-marker").trim(),
        token
    );

    // ... and `lab down` / `lab up`, which leaves nothing behind in between.
    ok(&inv.path, &["lab", "down"]);
    check_gone(&inv);
    ok(&inv.path, &["lab", "down"]); // idempotent
    let st = status(&inv);
    assert!(st["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .all(|n| n["vm"] == "down"));
    resume(&inv);
    assert_eq!(
        on(&inv.path, &web.name, "cat /var/lib/lvslab-test-marker").trim(),
        token
    );
    check_identity(&inv);

    // A node whose VM was killed shows as down.
    let victim = &inv.nodes.last().expect("nodes").name;
    let st = status(&inv);
    let pid = node_status(&st, victim)["pid"].as_i64().expect("pid") as i32;
    // SAFETY: killing the qemu the lab reported for this node.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let st = status(&inv);
    assert_eq!(node_status(&st, victim)["vm"], "down", "{st}");
    assert_eq!(node_status(&st, victim)["ssh"], false, "{st}");
    assert_eq!(node_status(&st, &inv.director)["vm"], "running", "{st}");
    assert_eq!(node_status(&st, &inv.director)["ssh"], true, "{st}");

    // `lab reset NODE` returns it to the pristine image.
    ok(&inv.path, &["lab", "reset", &web.name]);
    let gone = on(
        &inv.path,
        &web.name,
        "test -e /var/lib/lvslab-test-marker && echo present || echo absent",
    );
    assert_eq!(gone.trim(), "absent");

    // `lab up` brings the killed node back; then down again.
    ok(&inv.path, &["lab", "up"]);
    assert_eq!(node_status(&status(&inv), victim)["ssh"], true);
    ok(&inv.path, &["lab", "down"]);
    check_gone(&inv);
}

#[test]
fn alt_lab_other_names_subnet_interface() {
    if !lab_tests_enabled() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let inv = inventory("tests/inventories/alt.yml");
    assert_eq!(inv.nodes.len(), 5);
    assert!(inv.nodes.iter().all(|n| n.interface == "eth7"));
    ok(&inv.path, &["lab", "up"]);
    check_identity(&inv);
    check_ipvs(&inv);
    let st = status(&inv);
    for n in &inv.nodes {
        let s = node_status(&st, &n.name);
        assert_eq!(s["vm"], "running");
        assert_eq!(s["ssh"], true);
        assert_eq!(s["address"], format!("{}/{}", n.address, n.prefix));
    }
    check_ssh_config(&inv);
    // Each release's node resumes with its clock set.
    ok(&inv.path, &["lab", "down"]);
    resume(&inv);
    // destroy: down, and the lab's own directory (disks, saved states, keys) gone for good.
    ok(&inv.path, &["lab", "destroy"]);
    check_gone(&inv);
    let dir = lvslab::lab::keys::LabPaths::new(&inv.lab).dir;
    assert!(
        !dir.exists(),
        "{} still exists after lab destroy",
        dir.display()
    );
}

/// `lab ssh-config` gives plain ssh everything it needs: each node answers with its own name,
/// host keys checked, no password asked.
fn check_ssh_config(inv: &Inv) {
    let cfg = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(cfg.path(), ok(&inv.path, &["lab", "ssh-config"])).expect("write ssh config");
    for n in &inv.nodes {
        let out = Command::new("ssh")
            .arg("-F")
            .arg(cfg.path())
            .args(["-o", "BatchMode=yes", &n.name, "cat /etc/hostname"])
            .output()
            .expect("ssh runs");
        assert!(
            out.status.success(),
            "ssh -F (lab ssh-config) {}: {}",
            n.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), n.name);
    }
}

/// The lab's cache built from nothing, as on a machine that never ran a lab: an empty
/// `LVSLAB_CACHE_DIR` and one node of the default image. `lab up` builds every part (the root
/// filesystem, its release's kernel, the lab's package repository, the node image), boots the
/// node, and the node answers over ssh with that release. The other lab tests share the
/// machine's cache, which a machine keeps between runs, so only this one sees a first build.
#[test]
fn cache_builds_from_nothing() {
    if !lab_tests_enabled() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // On disk, not in a tmpfs: a root filesystem and a node image are hundreds of MiB.
    let tmp = tempfile::Builder::new()
        .prefix("lvslab-cache-test-")
        .tempdir_in("/var/tmp")
        .expect("a temporary directory in /var/tmp");
    let inv = tmp.path().join("from-nothing.yml");
    std::fs::write(
        &inv,
        "all:\n  vars:\n    ansible_user: root\n    lan_interface: eth0\n    lan_prefix: 24\n    \
         lab_client_addresses: [10.74.0.1]\n  hosts:\n    first-node:\n      ansible_host: 10.74.0.11\n",
    )
    .expect("inventory written");
    let cache = tmp.path().join("cache");
    let run = |args: &[&str]| with_cache(&cache, &inv, args);
    /// Whatever happens, the node's VM and network go before the temporary cache does.
    struct Destroy<'a>(&'a Path, &'a Path);
    impl Drop for Destroy<'_> {
        fn drop(&mut self) {
            with_cache(self.0, self.1, &["lab", "destroy"]);
        }
    }
    let _destroy = Destroy(&cache, &inv);

    let (up, _, stderr) = run(&["lab", "up"]);
    assert!(up, "lab up with an empty cache failed:\n{stderr}");
    assert!(
        stderr.contains("bookworm (fresh) image ready in"),
        "the image was built: {stderr}"
    );
    let (ran, stdout, stderr) = run(&["lab", "ssh", "first-node", "--", "cat /etc/debian_version"]);
    assert!(ran, "lab ssh: {stderr}");
    assert!(stdout.starts_with("12."), "a bookworm node: {stdout:?}");
}

/// `lvslab -i INVENTORY ARGS...` with its cache in `cache`: (success, stdout, stderr).
fn with_cache(cache: &Path, inv: &Path, args: &[&str]) -> (bool, String, String) {
    let out = lvslab_env(inv, &[("LVSLAB_CACHE_DIR", cache)], args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
