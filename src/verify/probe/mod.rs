//! The read-only shell scripts verify runs on the nodes: one round trip per node per phase, each
//! printing `@@section` headers that `facts::sections` splits again (the facts command's format).
//! Each script is a file of its own in this folder (linted by shellcheck, runnable alone); the
//! values it needs arrive as quoted arguments, never pasted into its text.
//!
//! The scripts use only what a fresh Debian or RHEL node has (iproute2's `ip` and `ss`, /proc,
//! systemd, bash) plus what setup installs (ipvsadm, keepalived, the web server). Each lists the
//! programs it needs that the node lacks in a `@@missing` section, so a check that needed one
//! reports "not checked" and fails instead of reading a shell's "not found" as an answer.

use super::spec::Spec;
use crate::quote::quote;

const DIRECTOR: &str = include_str!("director.sh");
const REAL_SERVER: &str = include_str!("real_server.sh");
const DIRECTOR_TRAFFIC: &str = include_str!("director_traffic.sh");
const REAL_SERVER_TRAFFIC: &str = include_str!("real_server_traffic.sh");

/// The programs the director script needs: for its tables, for keepalived (what the keepalived
/// checks need).
pub const DIRECTOR_TABLE_TOOLS: &[&str] = &["ip", "ipvsadm"];
pub const KEEPALIVED_TOOLS: &[&str] = &["keepalived", "systemctl", "journalctl"];
/// The programs the real server script needs.
pub const REAL_SERVER_TOOLS: &[&str] = &["ip", "systemctl", "bash"];
/// The programs the scripts run while the client holds its connections.
pub const DIRECTOR_TRAFFIC_TOOLS: &[&str] = &["ipvsadm", "ss"];
pub const REAL_SERVER_TRAFFIC_TOOLS: &[&str] = &["ss"];

/// The command line running `script` with `args` (each quoted) and then the `tools` whose
/// absence it reports.
fn command(script: &str, args: &[&str], tools: &[&str]) -> String {
    let words: Vec<String> = args.iter().chain(tools).map(|a| quote(a)).collect();
    format!("sh -c {} lvslab-verify {}", quote(script), words.join(" "))
}

/// Director state: addresses, MAC, IPVS table, keepalived.
pub fn director(spec: &Spec) -> String {
    director_parts(spec, "all")
}

/// Director state before any client traffic: addresses, MAC, IPVS table and connections, and
/// keepalived where lvslab manages it. One round trip: on a slow node a session costs as much
/// as a program.
pub fn director_first(spec: &Spec) -> String {
    director_parts(spec, "managed")
}

fn director_parts(spec: &Spec, parts: &str) -> String {
    let tools: Vec<&str> = [DIRECTOR_TABLE_TOOLS, KEEPALIVED_TOOLS].concat();
    command(
        DIRECTOR,
        &[
            &spec.lan_interface,
            "/etc/keepalived/keepalived.conf",
            parts,
        ],
        &tools,
    )
}

/// Real server state: ARP sysctls, VIP on lo, web server, the page as served locally on `port`.
pub fn real_server(spec: &Spec, port: u16) -> String {
    command(
        REAL_SERVER,
        &[&spec.lan_interface, &port.to_string()],
        REAL_SERVER_TOOLS,
    )
}

/// While the client holds connections open: who sees them (the director's IPVS table and its
/// TCP sockets, from iproute2's `ss`).
pub fn director_during_traffic() -> String {
    command(DIRECTOR_TRAFFIC, &[], DIRECTOR_TRAFFIC_TOOLS)
}

/// While the client holds connections open: the real server's TCP sockets.
pub fn real_server_during_traffic() -> String {
    command(REAL_SERVER_TRAFFIC, &[], REAL_SERVER_TRAFFIC_TOOLS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{from_vars, tests::map};
    use serde_json::json;
    use std::io::{Read, Write};

    /// The real server script, run here by `sh` against a local listener: the sysctls come
    /// from /proc, the page over bash's /dev/tcp, and a program that is not on PATH is listed.
    #[test]
    fn real_server_script_reads_proc_and_the_page_without_curl() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // The whole request before the answer: closing with part of it unread would reset
            // the connection, and the client could lose the answer.
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            let req = String::from_utf8_lossy(&req).into_owned();
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\n<h1>from web-1</h1>\n")
                .unwrap();
            req
        });
        let vars = map(json!({"lan_interface": "lo", "lvs_vip": "10.77.0.50",
            "lab_client_addresses": ["10.77.0.1"], "ansible_host": "10.77.0.9"}));
        let spec = from_vars(&[("lb", &vars)], &[("web-1", &vars)]).unwrap();
        let script = real_server(&spec, port) + " nosuchtool";
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let s = crate::facts::sections(&String::from_utf8_lossy(&out.stdout));
        assert!(server.join().unwrap().starts_with("GET / HTTP/1.0\r\n"));
        assert!(s["page"].contains("from web-1"), "{s:?}");
        let want = std::fs::read_to_string("/proc/sys/net/ipv4/conf/lo/arp_ignore").unwrap();
        assert!(
            s["sysctl"].contains(&format!("net.ipv4.conf.lo.arp_ignore={}", want.trim())),
            "{s:?}"
        );
        assert!(s["missing"].lines().any(|l| l == "nosuchtool"), "{s:?}");
    }

    /// The director's first probe asks keepalived only where lvslab manages it, in the same
    /// round trip as the tables.
    #[test]
    fn director_first_probes_keepalived_only_where_managed() {
        let dir = tempfile::tempdir().unwrap();
        let run = |conf_text: &str| {
            let conf = dir.path().join("keepalived.conf");
            std::fs::write(&conf, conf_text).unwrap();
            let conf = conf.display().to_string();
            let cmd = command(DIRECTOR, &["lo", &conf, "managed"], &["nosuchtool"]);
            let out = std::process::Command::new("sh")
                .args(["-c", &cmd])
                .output()
                .unwrap();
            crate::facts::sections(&String::from_utf8_lossy(&out.stdout))
        };
        let theirs = run("vrrp_instance VI_1 {\n}\n");
        assert_eq!(theirs["keepalived_managed"].trim(), "0", "{theirs:?}");
        assert!(theirs.contains_key("ipvs_conns"), "{theirs:?}");
        assert!(!theirs.contains_key("keepalived_test"), "{theirs:?}");
        let ours = run("# Managed by lvslab\nvrrp_instance VI_1 {\n}\n");
        assert_eq!(ours["keepalived_managed"].trim(), "1", "{ours:?}");
        assert!(ours.contains_key("ipvs_conns"), "{ours:?}");
        assert!(ours.contains_key("keepalived_test") && ours.contains_key("keepalived_state"));
        assert!(ours["missing"].lines().any(|t| t == "nosuchtool"));
    }

    /// The director script, run here by `sh`: values arrive as arguments and stay inert (a
    /// config path with shell in it is only a name that does not exist), and the programs the
    /// machine lacks are listed.
    #[test]
    fn director_script_takes_its_values_as_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let conf = format!("/nonexistent/$(touch {})'", marker.display());
        let cmd = command(DIRECTOR, &["lo", &conf, "all"], &["sh", "nosuchtool"]);
        let out = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .output()
            .unwrap();
        let s = crate::facts::sections(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(s["missing"].trim(), "nosuchtool", "{s:?}");
        assert_eq!(s["keepalived_test"].trim(), "missing", "{s:?}");
        assert!(s["link"].contains("lo:"), "{s:?}");
        assert!(!marker.exists());
    }
}
