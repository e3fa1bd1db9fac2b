# shellcheck shell=sh
# lvslab's facts command: one round trip per host per run (src/facts/mod.rs parses the
# sections). Also read by bench/engine/run.sh so the baseline does the same remote work.
# Shell builtins wherever a file is all it takes: a TCG guest pays 50-150 ms per program.
# `#@ NAME` starts the lines of fact subset NAME (`gather_subset`); `min` is always sent.
#@ min
export PATH="$PATH:/usr/sbin:/sbin"
rd() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done <"$1"; } 2>/dev/null
read -r kernel </proc/sys/kernel/osrelease 2>/dev/null
echo @@os_release; rd /etc/os-release
echo @@init; if [ -d /run/systemd/system ]; then echo systemd; else rd /proc/1/comm; fi
echo @@pkg; for m in apt-get dnf yum; do if command -v $m >/dev/null 2>&1; then echo $m; break; fi; done
#@ interfaces
# Interfaces and MACs from sysfs: ifindex, name, address.
echo @@link; for d in /sys/class/net/*; do i=; m=; read -r i <"$d/ifindex" && { read -r m <"$d/address"; echo "$i ${d##*/} $m"; }; done 2>/dev/null
#@ network
echo @@addr; ip -o addr show 2>/dev/null
#@ ipvs
echo @@ipvs_sched; for m in /sys/module/ip_vs_*; do [ -e "$m" ] && echo "${m##*/}"; done
echo @@ipvs_avail; for m in /sys/module/ip_vs* /lib/modules/"$kernel"/kernel/net/netfilter/ipvs/ip_vs*.ko*; do [ -e "$m" ] && { m=${m##*/}; echo "${m%%.ko*}"; }; done
#@ ipvsadm
echo @@ipvsadm; command -v ipvsadm >/dev/null 2>&1 && ipvsadm --version 2>&1
#@ keepalived
echo @@keepalived; command -v keepalived >/dev/null 2>&1 && keepalived -v 2>&1
#@ web
echo @@httpd; command -v httpd >/dev/null 2>&1 && httpd -v 2>&1
echo @@apache2; command -v apache2 >/dev/null 2>&1 && apache2 -v 2>&1
#@ min
# Architecture and uid without a program where the kernel offers them (/proc/sys/kernel/arch
# since Linux 6.0).
echo @@misc; rd /proc/sys/kernel/hostname; echo "$kernel"
{ read -r arch </proc/sys/kernel/arch && echo "$arch"; } 2>/dev/null || uname -m
# Word splitting of the Uid: line is the point here.
# shellcheck disable=SC2086
uid=; while IFS= read -r l; do case $l in Uid:*) set -- $l; uid=$2; break;; esac; done </proc/self/status 2>/dev/null
echo "${uid:-$(id -u)}"
echo @@state; rd __LVSLAB_STATE_FILE__
true
