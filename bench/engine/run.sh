#!/usr/bin/env bash
# bench/engine: N local sshd (default 1 10 50) x M no-op `command` tasks (default 10), lvslab vs
# plain ssh over a ControlMaster doing the same remote work in the same run:
#   plain ssh: per host in parallel, open a master, run lvslab's facts command once, then M
#              `true` commands through the master, close it.
#   lvslab:    `lvslab run` of a playbook with M `command: "true"` tasks (facts gathered once).
# Prints wall times and the ratio. Usage: bench/engine/run.sh [N...]   (env M=10, RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/../.."
M=${M:-10}
RUNS=${RUNS:-3}
SIZES=("$@"); [ ${#SIZES[@]} -eq 0 ] && SIZES=(1 10 50)
cargo build --release -q
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/lvslab
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
now() { date +%s.%N; }
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
printf '%-6s %-4s %12s %12s %8s\n' hosts tasks plain_ssh_s lvslab_s ratio
for n in "${SIZES[@]}"; do
  {
    echo "all:"
    echo "  vars: {ansible_user: root, ansible_ssh_private_key_file: $W/user_key, lvslab_known_hosts_file: $W/known_hosts, lvslab_state_file: /nonexistent/state.json}"
    echo "  hosts:"
    for i in $(seq 1 "$n"); do echo "    h$i: {ansible_host: 127.0.0.1, ansible_port: ${PORTS[$((i-1))]}}"; done
  } > "$W/inv-$n.yml"
  best_p=999; best_l=999
  for _ in $(seq 1 "$RUNS"); do
    t0=$(now); plain "$n"; t1=$(now)
    p=$(echo "$t1 - $t0" | bc -l)
    t0=$(now); "$BIN" -i "$W/inv-$n.yml" run "$W/pb.yml" >/dev/null; t1=$(now)
    l=$(echo "$t1 - $t0" | bc -l)
    best_p=$(echo "if ($p < $best_p) $p else $best_p" | bc -l)
    best_l=$(echo "if ($l < $best_l) $l else $best_l" | bc -l)
  done
  printf '%-6s %-4s %12.3f %12.3f %8.2f\n' "$n" "$M" "$best_p" "$best_l" "$(echo "$best_l / $best_p" | bc -l)"
done
