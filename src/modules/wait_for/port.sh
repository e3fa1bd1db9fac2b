#!/bin/bash
# wait_for port=...: until HOST:PORT accepts a connection (started) or refuses one (stopped).
# Arguments: HOST PORT started|stopped TIMEOUT DELAY. bash's /dev/tcp makes the probe: present
# on every target distribution, no program started per try.
host=$1 port=$2 state=$3 timeout=$4 delay=$5
exec 8<> <(:)
read -r -t "$delay" -u 8 _ || true
end=$((SECONDS + timeout))
while :; do
  if timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then
    [ "$state" = started ] && exit 0
  else
    [ "$state" = stopped ] && exit 0
  fi
  if [ "$SECONDS" -ge "$end" ]; then
    want=open; [ "$state" = stopped ] && want=closed
    echo "timeout after ${timeout}s waiting for $host:$port to be $want" >&2
    exit 1
  fi
  read -r -t 0.2 -u 8 _ || true
done
