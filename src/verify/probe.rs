//! The read-only shell scripts verify runs on the nodes: one round trip per node per phase, each
//! printing `@@section` headers that `facts::sections` splits again (the facts command's format). Every inventory value that
//! reaches a script is shell-quoted.

use super::spec::Spec;
use crate::ssh::quote;

/// Director state: addresses, MAC, IPVS table, keepalived.
pub fn director(spec: &Spec) -> String {
    let conf = "/etc/keepalived/keepalived.conf";
    format!(
        "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
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
    )
}

/// Real server state: ARP sysctls, VIP on lo, web server, the page as served locally.
pub fn real_server(spec: &Spec, port: u16) -> String {
    let keys = ["all", spec.lan_interface.as_str()]
        .iter()
        .flat_map(|dev| ["arp_ignore", "arp_announce"].map(|k| format!("net.ipv4.conf.{dev}.{k}")))
        .map(|k| quote(&k))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo @@addr; ip -o -4 addr show
echo @@link; ip -o link show
echo @@sysctl; sysctl {keys} 2>&1 | while read -r k _ v; do printf '%s=%s\\n' \"$k\" \"$v\"; done
echo @@web; systemctl show -p Id -p LoadState -p ActiveState apache2 httpd 2>/dev/null | while IFS== read -r k v; do
  case $k in Id) s=${{v%.service}};; LoadState) l=$v;; ActiveState) [ \"$l\" = loaded ] && echo \"$s $v\";; esac
done
echo @@page; curl -s -m 3 {url} 2>&1
",
        url = quote(&format!("http://127.0.0.1:{port}/")),
    )
}

/// While the client holds connections open: who sees them.
pub fn director_during_traffic() -> &'static str {
    "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo @@conns; ipvsadm -Lnc 2>&1
echo @@netstat; netstat -natp 2>&1
echo @@stats; ipvsadm -Ln --stats 2>&1
"
}

pub fn real_server_during_traffic() -> &'static str {
    "export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo @@netstat; netstat -natp 2>&1
"
}
