#!/bin/sh
# End the capture started by capture.sh: only the tcpdump and the watchdog whose pids it
# recorded, and only while they still are those programs. Prints tcpdump's messages (its
# packet counts), then removes DIR.
# Arguments: DIR
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dir=$1
case $dir in /tmp/lvslab-trace.*) ;; *) echo "not a trace directory: $dir" >&2; exit 2;; esac
pid=$(cat "$dir/pid" 2>/dev/null)
dog=$(cat "$dir/watchdog" 2>/dev/null)
if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tcpdump ]; then
  kill -TERM "$pid"
  i=0
  while [ "$i" -lt 30 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
fi
if [ -n "$dog" ] && [ "$(cat "/proc/$dog/comm" 2>/dev/null)" = sh ]; then
  pkill -P "$dog" sleep 2>/dev/null
  kill "$dog" 2>/dev/null
fi
cat "$dir/err" 2>/dev/null
rm -rf "$dir"
