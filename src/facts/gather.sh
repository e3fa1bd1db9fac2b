# lvslab's facts command: one round trip per host per run (src/facts/mod.rs parses the
# sections). Also read by bench/engine/run.sh so the baseline does the same remote work.
export PATH="$PATH:/usr/sbin:/sbin"
echo @@os_release; cat /etc/os-release 2>/dev/null
echo @@init; if [ -d /run/systemd/system ]; then echo systemd; else cat /proc/1/comm 2>/dev/null; fi
echo @@addr; ip -o addr show 2>/dev/null
echo @@link; ip -o link show 2>/dev/null
echo @@keepalived; command -v keepalived >/dev/null 2>&1 && keepalived -v 2>&1 | head -n1
echo @@ipvsadm; command -v ipvsadm >/dev/null 2>&1 && ipvsadm --version 2>&1 | head -n1
echo @@httpd; command -v httpd >/dev/null 2>&1 && httpd -v 2>&1 | head -n1
echo @@apache2; command -v apache2 >/dev/null 2>&1 && apache2 -v 2>&1 | head -n1
echo @@ipvs_sched; ls /sys/module 2>/dev/null | grep '^ip_vs_'
echo @@pkg; for m in apt-get dnf yum; do if command -v $m >/dev/null 2>&1; then echo $m; break; fi; done
echo @@misc; hostname; uname -r; uname -m; id -u
echo @@state; cat __LVSLAB_STATE_FILE__ 2>/dev/null
true
