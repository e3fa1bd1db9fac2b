#!/bin/sh
# verify's probe of a director: addresses, MAC, the IPVS table and connections, keepalived.
# Arguments: LAN_INTERFACE KEEPALIVED_CONF PARTS TOOL... (the programs to report in @@missing).
# PARTS: `all`, or `managed`: the tables (addresses, MAC, IPVS, whether lvslab manages
# keepalived), then keepalived (its unit, its config test, its last VRRP state) always, or only
# where lvslab manages it.
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dev=$1 conf=$2 parts=$3
shift 3
echo @@missing; for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
echo @@addr; ip -o -4 addr show
echo @@link; ip -o link show dev "$dev"
echo @@ipvs; ipvsadm -S -n 2>&1
echo @@ipvs_conns; ipvsadm -Lnc 2>&1
# Counted as `grep -c` would, by the shell: on a slow node every program started costs.
echo @@keepalived_managed
n=0
if [ -f "$conf" ] && [ -r "$conf" ]; then
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in *'Managed by lvslab'*) n=$((n + 1));; esac
  done < "$conf"
  echo "$n"
fi
[ "$parts" != managed ] || [ "$n" -gt 0 ] || exit 0
echo @@keepalived_active; systemctl is-active keepalived 2>&1
echo @@keepalived_test
# A keepalived before 2.0 has no --config-test and fails on -t: its help tells the two apart,
# asked only then (every program started costs on a slow node).
if [ ! -e "$conf" ]; then echo missing
elif keepalived -t -f "$conf" >/dev/null 2>&1; then echo 0
else rc=$?; case $(keepalived --help 2>&1) in
  *--config-test*) echo "$rc";;
  *) echo unsupported;;
esac; fi
echo @@keepalived_state
# The last transition of the last 300 lines: sed keeps the last matching line and prints its
# last match.
# shellcheck disable=SC2016 # a sed script, not shell
journalctl -u keepalived -n 300 --no-pager -o cat 2>/dev/null |
  sed -nE '/Entering (MASTER|BACKUP|FAULT) STATE/h; ${x; s/.*(Entering (MASTER|BACKUP|FAULT) STATE).*/\1/p;}'
