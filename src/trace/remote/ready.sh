#!/bin/sh
# Wait (up to about five seconds) until the capture started by capture.sh listens: prints
# "ready", or "stopped" and tcpdump's messages when it ended first, or "late".
# Arguments: DIR
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dir=$1
i=0
while [ "$i" -lt 50 ]; do
  if grep -q 'listening on' "$dir/err" 2>/dev/null; then echo ready; exit 0; fi
  if [ -s "$dir/pid" ] && ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo stopped; cat "$dir/err" 2>/dev/null; exit 0
  fi
  sleep 0.1
  i=$((i + 1))
done
echo late; cat "$dir/err" 2>/dev/null
