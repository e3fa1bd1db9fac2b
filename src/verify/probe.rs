//! The read-only shell scripts verify runs on the nodes: one round trip per node per phase, each
//! printing `@@section` headers that `facts::sections` splits again (the facts command's format).
//! Every inventory value that reaches a script is shell-quoted.
//!
//! The scripts use only what a fresh Debian or RHEL node has (iproute2's `ip` and `ss`, /proc,
//! systemd, bash) plus what setup installs (ipvsadm, keepalived, the web server). Each lists the
//! programs it needs that the node lacks in a `@@missing` section, so a check that needed one
//! reports "not checked" and fails instead of reading a shell's "not found" as an answer.

use super::spec::Spec;
use crate::ssh::quote;

const ENV: &str = "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin";

/// Shell printing the `@@missing` section: which of `tools` are not on the node's PATH.
fn missing(tools: &[&str]) -> String {
    format!(
        "echo @@missing; for t in {}; do command -v \"$t\" >/dev/null 2>&1 || echo \"$t\"; done",
        tools.join(" ")
    )
}

/// The programs the director script needs.
pub const DIRECTOR_TOOLS: &[&str] = &["ip", "ipvsadm", "keepalived", "systemctl", "journalctl"];
/// The programs the real server script needs.
pub const REAL_SERVER_TOOLS: &[&str] = &["ip", "systemctl", "bash", "timeout"];
/// The programs the scripts run while the client holds its connections.
pub const DIRECTOR_TRAFFIC_TOOLS: &[&str] = &["ipvsadm", "ss"];
pub const REAL_SERVER_TRAFFIC_TOOLS: &[&str] = &["ss"];

/// Director state: addresses, MAC, IPVS table, keepalived.
pub fn director(spec: &Spec) -> String {
    let conf = "/etc/keepalived/keepalived.conf";
    format!(
        "{ENV}
{missing}
echo @@addr; ip -o -4 addr show
echo @@link; ip -o link show dev {dev}
echo @@ipvs; ipvsadm -S -n 2>&1
echo @@ipvs_conns; ipvsadm -Lnc 2>&1
echo @@keepalived_active; systemctl is-active keepalived 2>&1
echo @@keepalived_managed; grep -c 'Managed by lvslab' {conf} 2>/dev/null
echo @@keepalived_test
if [ ! -e {conf} ]; then echo missing
else case $(keepalived --help 2>&1) in
  *--config-test*) keepalived -t -f {conf} >/dev/null 2>&1; echo $?;;
  *) echo unsupported;;
esac; fi
echo @@keepalived_state
journalctl -u keepalived -n 300 --no-pager -o cat 2>/dev/null | grep -oE 'Entering (MASTER|BACKUP|FAULT) STATE' | tail -n1
",
        dev = quote(&spec.lan_interface),
        conf = quote(conf),
        missing = missing(DIRECTOR_TOOLS),
    )
}

/// Real server state: ARP sysctls, VIP on lo, web server, the page as served locally (over
/// bash's `/dev/tcp`: a fresh node has no curl). The sysctls are read from /proc/sys, which
/// needs no procps.
pub fn real_server(spec: &Spec, port: u16) -> String {
    let keys = ["all", spec.lan_interface.as_str()]
        .iter()
        .flat_map(|dev| ["arp_ignore", "arp_announce"].map(|k| format!("{dev}/{k}")))
        .map(|k| quote(&k))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{ENV}
{missing}
echo @@addr; ip -o -4 addr show
echo @@link; ip -o link show
echo @@sysctl; for k in {keys}; do v=$(cat \"/proc/sys/net/ipv4/conf/$k\" 2>&1); printf 'net.ipv4.conf.%s=%s\\n' \"$(echo \"$k\" | tr / .)\" \"$v\"; done
echo @@web; systemctl show -p Id -p LoadState -p ActiveState apache2 httpd 2>/dev/null | while IFS== read -r k v; do
  case $k in Id) s=${{v%.service}};; LoadState) l=$v;; ActiveState) [ \"$l\" = loaded ] && echo \"$s $v\";; esac
done
echo @@page; timeout 3 bash -c {page} - {port} 2>&1
",
        page = quote(PAGE),
        missing = missing(REAL_SERVER_TOOLS),
    )
}

/// GET / from the local web server on port `$1` over bash's `/dev/tcp`; prints the whole
/// answer (status line, headers, body).
const PAGE: &str = "exec 3<>\"/dev/tcp/127.0.0.1/$1\" && printf 'GET / HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && cat <&3";

/// While the client holds connections open: who sees them (the director's IPVS table and its
/// TCP sockets, from iproute2's `ss`).
pub fn director_during_traffic() -> String {
    format!(
        "{ENV}
{}
echo @@conns; ipvsadm -Lnc 2>&1
echo @@sockets; ss -Htan 2>&1
echo @@stats; ipvsadm -Ln --stats 2>&1
",
        missing(DIRECTOR_TRAFFIC_TOOLS)
    )
}

/// While the client holds connections open: the real server's TCP sockets.
pub fn real_server_during_traffic() -> String {
    format!(
        "{ENV}
{}
echo @@sockets; ss -Htan 2>&1
",
        missing(REAL_SERVER_TRAFFIC_TOOLS)
    )
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
        let script = real_server(&spec, port).replace("bash timeout;", "bash timeout nosuchtool;");
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
}
