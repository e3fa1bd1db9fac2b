#!/bin/sh
# verify's probe of a director: addresses, MAC, the IPVS table and connections, keepalived.
# Arguments: LAN_INTERFACE KEEPALIVED_CONF TOOL... (the programs to report in @@missing).
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dev=$1 conf=$2
shift 2
echo @@missing; for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
echo @@addr; ip -o -4 addr show
echo @@link; ip -o link show dev "$dev"
echo @@ipvs; ipvsadm -S -n 2>&1
echo @@ipvs_conns; ipvsadm -Lnc 2>&1
echo @@keepalived_active; systemctl is-active keepalived 2>&1
echo @@keepalived_managed; grep -c 'Managed by lvslab' "$conf" 2>/dev/null
echo @@keepalived_test
if [ ! -e "$conf" ]; then echo missing
else case $(keepalived --help 2>&1) in
  *--config-test*) keepalived -t -f "$conf" >/dev/null 2>&1; echo $?;;
  *) echo unsupported;;
esac; fi
echo @@keepalived_state
journalctl -u keepalived -n 300 --no-pager -o cat 2>/dev/null | grep -oE 'Entering (MASTER|BACKUP|FAULT) STATE' | tail -n1
