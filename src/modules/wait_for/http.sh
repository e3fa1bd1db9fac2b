#!/bin/bash
# wait_for http_status=...: until every target answers `GET PATH` with the status, each in
# turn, within TIMEOUT seconds in all. Arguments: PATH STATUS TIMEOUT TARGET... (TARGET is
# HOST/PORT, as bash's /dev/tcp takes it).
#
# Each try is shell builtins only (/dev/tcp, `read -t` on a pipe nobody writes as the pause):
# the wait often shares the CPU with the very nodes it waits for. The caller bounds the whole
# wait with `timeout`, as a node that is gone does not even refuse the connection.
path=$1 want=$2 timeout=$3
shift 3
exec 8<> <(:)
end=$((SECONDS + timeout))
for t in "$@"; do
  until {
    exec 3<>"/dev/tcp/$t" &&
      printf 'GET %s HTTP/1.0\r\n\r\n' "$path" >&3 &&
      read -r -t 2 status <&3 &&
      case $status in *" $want "*) true ;; *) false ;; esac
  } 2>/dev/null; do
    exec 3>&- 3<&-
    if [ "$SECONDS" -ge "$end" ]; then
      echo "no HTTP $want from ${t%/*}:${t##*/} within ${timeout}s" >&2
      exit 1
    fi
    read -r -t 0.2 -u 8 _ || true
  done
  exec 3>&- 3<&-
done
