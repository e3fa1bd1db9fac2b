#!/bin/sh
# trace's first step on a node: whether it has tcpdump, its LAN interface's MAC, and (with
# tcpdump) a private directory for the capture's pid and messages.
# Arguments: LAN_INTERFACE
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dev=$1
echo @@missing; command -v tcpdump >/dev/null 2>&1 || echo tcpdump
echo @@link; ip -o link show dev "$dev" 2>&1
echo @@dir
if command -v tcpdump >/dev/null 2>&1; then mktemp -d /tmp/lvslab-trace.XXXXXX; fi
