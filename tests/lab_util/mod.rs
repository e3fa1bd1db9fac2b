//! What the microVM lab test binaries (`tests/lab.rs`, `tests/lvs.rs`, `tests/drill.rs`) share:
//! the root gate, running the real `lvslab` binary from the project root, and leaving a lab as
//! it was found.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

#[path = "../util/masters.rs"]
pub mod masters;
#[path = "../util/procwatch.rs"]
pub mod procwatch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Lab tests need root; without it they fail, unless `LVSLAB_SKIP_LAB_TESTS=1` skips them on
/// purpose (never a silent pass).
pub fn lab_tests_enabled() -> bool {
    if std::env::var("LVSLAB_SKIP_LAB_TESTS").as_deref() == Ok("1") {
        eprintln!("lab tests skipped: LVSLAB_SKIP_LAB_TESTS=1");
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "the lab tests need root (network namespaces, taps, qemu) and the lab's packages \
         (see README); run them as root, or set LVSLAB_SKIP_LAB_TESTS=1 to skip them explicitly"
    );
    true
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `lvslab -i INVENTORY ARGS...` from the project root (setup and teardown find their
/// playbooks there); echo the command line, exit status and stderr for the test log.
pub fn lvslab(inventory: &Path, args: &[&str]) -> Output {
    lvslab_env(inventory, &[], args)
}

/// [`lvslab`] with more environment variables.
pub fn lvslab_env(inventory: &Path, env: &[(&str, &Path)], args: &[&str]) -> Output {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_lvslab"))
        .current_dir(repo())
        .envs(env.iter().copied())
        .arg("-i")
        .arg(inventory)
        .args(args)
        .output()
        .expect("run lvslab");
    eprintln!(
        "$ lvslab -i {} {} -> {} ({:.1} s)\n{}",
        inventory.display(),
        args.join(" "),
        out.status,
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run, require exit 0, return stdout.
pub fn ok(inventory: &Path, args: &[&str]) -> String {
    let out = lvslab(inventory, args);
    assert!(
        out.status.success(),
        "lvslab {} failed: {}\nstdout: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn lab_is_up(inv: &Path) -> bool {
    lvslab::lab::ssh_route(inv).is_some()
}

/// On drop: tears the nodes down after a failed assertion, and takes the lab down if it was
/// down when the test started.
pub struct DownAgain {
    pub inv: PathBuf,
    pub was_up: bool,
}

impl DownAgain {
    pub fn new(inv: &Path) -> DownAgain {
        DownAgain {
            inv: inv.to_path_buf(),
            was_up: lab_is_up(inv),
        }
    }
}

impl Drop for DownAgain {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // An assertion failed half-way: the nodes go back to how the test found them.
            lvslab(&self.inv, &["teardown"]);
        }
        if !self.was_up {
            lvslab(&self.inv, &["lab", "down"]);
        }
    }
}

/// The failed checks of verify's JSON report, each as `host:name`.
pub fn failed_checks(doc: &serde_json::Value) -> Vec<String> {
    failed_with(doc, |host, name, _| format!("{host}:{name}"))
}

/// `lvslab --json verify EXTRA...` until it passes or `secs` have gone by: (passed, the last
/// report). Each failed attempt's checks are printed, so a transient that a retry hid still
/// shows in the log. Used where the lab may still be settling (a reboot, a failover drill's
/// persistence templates) and after setups: one request in a few hundred verifies has been seen
/// to time out (not explained yet).
pub fn verify_until(inventory: &Path, extra: &[&str], secs: u64) -> (bool, serde_json::Value) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let args: Vec<&str> = ["--json", "verify"].iter().chain(extra).copied().collect();
    loop {
        let out = lvslab(inventory, &args);
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("verify prints one JSON document");
        let passed = doc["ok"] == true;
        assert_eq!(
            out.status.success(),
            passed,
            "exit status agrees with the report"
        );
        if passed || std::time::Instant::now() >= until {
            return (passed, doc);
        }
        eprintln!(
            "verify failed, trying again: {:#?}",
            failed_check_details(&doc)
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

/// The failed checks of verify's JSON report, each as `host name: detail` (the whole report is
/// too long for a CI log that keeps only part of the output).
pub fn failed_check_details(doc: &serde_json::Value) -> Vec<String> {
    failed_with(doc, |host, name, detail| format!("{host} {name}: {detail}"))
}

fn failed_with(doc: &serde_json::Value, show: impl Fn(&str, &str, &str) -> String) -> Vec<String> {
    doc["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["ok"] == false)
                .map(|c| {
                    show(
                        c["host"].as_str().unwrap_or("?"),
                        c["name"].as_str().unwrap_or("?"),
                        c["detail"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything setup may touch on a node, in any mode or forwarding method, as text: the
/// kernel parameters it sets (ARP, forwarding, redirects, reverse-path filter, on every
/// interface), links, addresses and routes (every table), the ipip module, the IPVS table, the
/// files the playbooks write (content hashes) and every file, unit link and directory under the
/// directories they write to, the services' state, and the package list.
pub const SNAPSHOT: &str = r#"export LC_ALL=C
cd /proc/sys/net/ipv4 && for f in ip_forward conf/*/arp_ignore conf/*/arp_announce conf/*/send_redirects conf/*/rp_filter; do
  echo "$f $(cat "$f")"; done; cd /
ip -o link show | awk '{print $2, $3}'
ip -o -4 addr show | awk '{print $2, $4, $NF}' | sed 's/\\$//' | sort
ip -4 route show table all | sort
ip -6 route show table all | sort
echo "ipip module: $([ -d /sys/module/ipip ] && echo loaded || echo absent)"
ipvsadm -S -n 2>&1
for f in /etc/keepalived/keepalived.conf /var/www/html/index.html /etc/sysctl.d/90-lvslab-arp.conf \
         /etc/sysctl.d/90-lvslab-nat.conf /etc/sysctl.d/90-lvslab-tun.conf /etc/modules-load.d/lvslab-ipip.conf \
         /etc/systemd/system/lvslab-vip.service /etc/systemd/system/lvslab-tun.service \
         /etc/systemd/system/lvslab-nat-route.service /etc/ipvsadm.rules /etc/default/ipvsadm /var/lib/lvslab; do
  if [ -d "$f" ]; then echo "$f dir $(find "$f" -type f | sort | xargs -r sha256sum | sha256sum)";
  elif [ -e "$f" ]; then echo "$f $(stat -c %a "$f") $(sha256sum < "$f")"; else echo "$f absent"; fi
done
find /etc/sysctl.d /etc/modules-load.d /etc/systemd/system /etc/keepalived /etc/default /var/www \
  -printf '%p %y %m %l\n' 2>/dev/null | sort
for s in apache2 keepalived ipvsadm lvslab-vip lvslab-tun lvslab-nat-route; do
  echo "$s $(systemctl is-active $s 2>&1) $(systemctl is-enabled $s 2>&1)"; done
dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\n'
"#;
