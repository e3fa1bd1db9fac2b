#!/bin/sh
# verify's probe of a real server while the client holds connections open: its TCP sockets
# (no process asked for, so no privilege needed: it runs as the login user).
# Arguments: TOOL... (the programs to report in @@missing).
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo @@missing; for t in "$@"; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
echo @@sockets; ss -Htan 2>&1
