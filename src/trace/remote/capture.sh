#!/bin/sh
# trace's capture on a node: tcpdump on the LAN interface writes the pcap stream to stdout
# (each packet as it arrives: --immediate-mode, or packets the kernel still buffers are lost
# when it is stopped; -U) until it has COUNT packets, is stopped by stop.sh, or SECONDS
# have passed (a watchdog stops it then, so no capture outlives a lost controller).
# Its pid, the watchdog's and its messages go to DIR.
# Arguments: DIR LAN_INTERFACE COUNT SECONDS FILTER
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dir=$1 dev=$2 count=$3 secs=$4 filter=$5
tcpdump -i "$dev" -n --immediate-mode -U -w - -c "$count" "$filter" 2>"$dir/err" &
pid=$!
echo "$pid" >"$dir/pid"
(
  sleep "$secs"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tcpdump ] && kill -TERM "$pid"
) </dev/null >/dev/null 2>&1 &
echo $! >"$dir/watchdog"
wait "$pid"
