#!/usr/bin/env bash
# bench/engine: N local sshd (default 1 10 50) x M no-op `command` tasks (default 10), lvslab vs
# plain ssh over a ControlMaster doing the same remote work in the same run:
#   plain ssh: per host in parallel, open a master, run lvslab's facts command once, then M
#              `true` commands through the master, close it.
#   lvslab:    `lvslab run` of a playbook with M `command: "true"` tasks (facts gathered once).
# Prints wall times and the ratio. Usage: bench/engine/run.sh [N...]   (env M=10, RUNS=3)
# LVSLAB_BASE_BIN=PATH also times that lvslab binary (an earlier build, as bench/ab gives) in the
# same loop, each binary with connections of its own, and prints its figures and new/base.
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${M:-10}
RUNS=${RUNS:-3}
SIZES=("$@"); [ ${#SIZES[@]} -eq 0 ] && SIZES=(1 10 50)
cargo build --release -q
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/lvslab
BASE_BIN=${LVSLAB_BASE_BIN:-}
# shellcheck source=bench/common/timing.sh
. bench/common/timing.sh
# shellcheck source=bench/engine/sshd.sh
. bench/engine/sshd.sh
trap sshd_stop EXIT
MAX=0; for n in "${SIZES[@]}"; do [ "$n" -gt "$MAX" ] && MAX=$n; done
sshd_start "$MAX"
W=$SSHD_DIR
PORTS=("${SSHD_PORTS[@]}")
FACTS=$(mktemp "$W/facts-XXXX")
# The same facts command lvslab sends (src/facts/gather.sh).
sed 's#__LVSLAB_STATE_FILE__#/nonexistent/state.json#' src/facts/gather.sh > "$FACTS"
{
  echo "- hosts: all"
  echo "  tasks:"
  for t in $(seq 1 "$M"); do echo "    - {name: noop $t, command: \"true\"}"; done
} > "$W/pb.yml"
plain() { # N
  local n=$1 i jobs=()
  for i in $(seq 1 "$n"); do
    (
      port=${PORTS[$((i-1))]}; sock=$W/cm-$i
      o=(-o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$W/known_hosts" -o IdentitiesOnly=yes -i "$W/user_key" -p "$port" -l root)
      ssh "${o[@]}" -M -S "$sock" -fN 127.0.0.1
      ssh "${o[@]}" -S "$sock" 127.0.0.1 "$(cat "$FACTS")" >/dev/null
      for _ in $(seq 1 "$M"); do ssh "${o[@]}" -S "$sock" 127.0.0.1 true; done
      ssh "${o[@]}" -S "$sock" -O exit 127.0.0.1 2>/dev/null
    ) &
    jobs+=($!)
  done
  wait "${jobs[@]}"
}
# Each binary keeps the connections it leaves (ControlPersist) under a directory of its own.
mkdir -p "$W/tmp-new" "$W/tmp-base"
timed_run() { # BIN TMPDIR INVENTORY -> seconds
  local t0 t1
  t0=$(now); TMPDIR=$2 "$1" -i "$3" run "$W/pb.yml" >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
best() { echo "if ($1 < $2) $1 else $2" | bc -l; }
if [ -n "$BASE_BIN" ]; then
  printf '%-6s %-4s %12s %12s %8s %12s %8s %9s\n' hosts tasks plain_ssh_s lvslab_s ratio base_s ratio new/base
else
  printf '%-6s %-4s %12s %12s %8s\n' hosts tasks plain_ssh_s lvslab_s ratio
fi
for n in "${SIZES[@]}"; do
  {
    echo "all:"
    echo "  vars: {ansible_user: root, ansible_ssh_private_key_file: $W/user_key, lvslab_known_hosts_file: $W/known_hosts, lvslab_state_file: /nonexistent/state.json}"
    echo "  hosts:"
    for i in $(seq 1 "$n"); do echo "    h$i: {ansible_host: 127.0.0.1, ansible_port: ${PORTS[$((i-1))]}}"; done
  } > "$W/inv-$n.yml"
  best_p=999; best_l=999; best_b=999
  for r in $(seq 1 "$RUNS"); do
    t0=$(now); plain "$n"; t1=$(now)
    best_p=$(best "$(echo "$t1 - $t0" | bc -l)" "$best_p")
    # The two binaries in turn, the first one alternating between runs.
    if [ -n "$BASE_BIN" ] && [ $((r % 2)) = 1 ]; then
      best_b=$(best "$(timed_run "$BASE_BIN" "$W/tmp-base" "$W/inv-$n.yml")" "$best_b")
    fi
    best_l=$(best "$(timed_run "$BIN" "$W/tmp-new" "$W/inv-$n.yml")" "$best_l")
    if [ -n "$BASE_BIN" ] && [ $((r % 2)) = 0 ]; then
      best_b=$(best "$(timed_run "$BASE_BIN" "$W/tmp-base" "$W/inv-$n.yml")" "$best_b")
    fi
  done
  if [ -n "$BASE_BIN" ]; then
    printf '%-6s %-4s %12.3f %12.3f %8.2f %12.3f %8.2f %9.2f\n' "$n" "$M" "$best_p" "$best_l" \
      "$(echo "$best_l / $best_p" | bc -l)" "$best_b" "$(echo "$best_b / $best_p" | bc -l)" \
      "$(echo "$best_l / $best_b" | bc -l)"
  else
    printf '%-6s %-4s %12.3f %12.3f %8.2f\n' "$n" "$M" "$best_p" "$best_l" "$(echo "$best_l / $best_p" | bc -l)"
  fi
done
close_masters "$W/tmp-new"
close_masters "$W/tmp-base"
