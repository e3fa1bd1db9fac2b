#!/usr/local/lib/lvslab/busybox sh
# shellcheck shell=dash
# lvslab-clock: set this VM's clock when `lvslab lab up` resumes it from saved state. A saved VM's
# clock stops with it, so a resumed node would run behind by as long as it was down. The lab
# talks to it in lines on the VM's second serial port: "?" is answered "!" at once (the lab then
# knows the node is running again, so the time it sends next is not stale by the resume), then
# the host's time (seconds since the epoch, with a fraction) sets the clock and is answered "ok".
# The lab needs no ssh login to a resumed node, which under TCG costs more than everything else
# in resuming it.
set -u
B=/usr/local/lib/lvslab/busybox
port=/dev/ttyS1
exec 3<>"$port"
$B stty raw -echo <&3
while read -r t <&3; do
    case $t in
    "?") echo "!" >&3 ;;
    *[!0-9.]* | "" | .* | *.*.*) echo "bad" >&3 ;;
    *) if /bin/date -u -s "@$t" >/dev/null; then echo "ok" >&3; else echo "failed" >&3; fi ;;
    esac
done
