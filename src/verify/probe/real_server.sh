#!/bin/sh
# verify's probe of a real server: addresses, links, the ARP sysctls (from /proc/sys: no procps
# needed), the web server's unit, and the page as served locally over bash's /dev/tcp (a fresh
# node has no curl). It needs no privilege.
# Arguments: LAN_INTERFACE PORT TOOL... (the programs to report in @@missing).
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dev=$1 port=$2
shift 2
echo @@missing; for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
echo @@addr; ip -o -4 addr show
echo @@link; ip -o link show
# Read by the shell, not cat: on a slow node every program started costs.
echo @@sysctl
for d in all "$dev"; do
  for k in arp_ignore arp_announce; do
    f=/proc/sys/net/ipv4/conf/$d/$k
    # dash's read returns 1 at the end of a /proc file even after a whole line: judge by what
    # it read.
    v=
    { IFS= read -r v < "$f"; } 2>/dev/null
    [ -n "$v" ] || v="cannot read $f"
    printf 'net.ipv4.conf.%s.%s=%s\n' "$d" "$k" "$v"
  done
done
# Without a system bus, systemctl answers only root: its refusal is reported, not read as
# "not installed".
echo @@web
if w=$(systemctl show -p Id -p LoadState -p ActiveState apache2 httpd 2>&1); then
  printf '%s\n' "$w" | while IFS='=' read -r k v; do
    case $k in Id) s=${v%.service};; LoadState) l=$v;; ActiveState) [ "$l" = loaded ] && echo "$s $v";; esac
  done
else
  echo @@web_error; printf '%s\n' "$w"
fi
echo @@page
# bash's own read timeout, not timeout(1) and cat: on a slow node every program started costs.
# shellcheck disable=SC2016 # $1 is the inner bash's argument
bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 &&
  while IFS= read -r -t 3 l || [ -n "$l" ]; do printf "%s\n" "$l"; l=; done <&3' - "$port" 2>&1
