#!/bin/sh
# verify's probe of the active director while the client holds connections open: its IPVS
# connections, its own TCP sockets (iproute2's ss), the service counters.
# Arguments: TOOL... (the programs to report in @@missing).
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo @@missing; for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
echo @@conns; ipvsadm -Lnc 2>&1
echo @@sockets; ss -Htan 2>&1
echo @@stats; ipvsadm -Ln --stats 2>&1
