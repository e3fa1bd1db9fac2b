#!/bin/sh
# verify's probe of a real server while the client holds connections open: its TCP sockets.
# Arguments: TOOL... (the programs to report in @@missing).
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo @@missing; for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
echo @@sockets; ss -Htan 2>&1
