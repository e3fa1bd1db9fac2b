# shellcheck shell=bash
# Timing helpers the lab benchmarks share (sourced, not run).

now() { date +%s.%N; }

# Run CMD..., print its wall time in seconds; stop the benchmark if it fails.
timed() {
    local t0
    t0=$(now)
    "$@" || { echo "failed: $*" >&2; exit 1; }
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'
}

# Run lvslab ($bin) on INVENTORY, its ssh masters under the benchmark's own directory $W (its
# TMPDIR), so closing them ends only the benchmark's. A run that fails prints the end of its
# output and returns 1.
# $bin and $W are the caller's.
# shellcheck disable=SC2154
lvs() { # INVENTORY ARGS...
    if ! TMPDIR=$W "$bin" -i "$@" > "$W/last.log" 2>&1; then
        echo "failed: lvslab ${*:2}" >&2
        tail -n 30 "$W/last.log" >&2
        return 1
    fi
}

# Time CMD... and add the seconds to KEY's list in the caller's associative array `t`; stop
# the benchmark if it fails.
step() { # KEY CMD...
    local v
    v=$(timed "${@:2}") || exit 1
    t[$1]+=" $v"
}

# The median of the numbers given.
median() {
    printf '%s\n' "$@" | sort -n |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# End the ssh masters lvslab left under DIR (its TMPDIR), so the next run connects afresh.
close_masters() {
    local s
    for s in "$1"/lvslab-cm-*/*; do
        if [ -S "$s" ]; then ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1 || true; fi
    done
    rm -rf "$1"/lvslab-cm-*
    return 0
}
