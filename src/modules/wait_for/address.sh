#!/bin/bash
# wait_for address=...: until ADDRESS is local on this node (and on INTERFACE when given).
# Arguments: ADDRESS INTERFACE|'' TIMEOUT.
#
# Polled with builtins: an IPv4 address is local once the kernel's local-address table lists
# it as "/32 host LOCAL" (any of the entries under its key); `ip` confirms the interface once
# the address is there. An IPv6 address is left to `ip` alone.
addr=$1 iface=$2 timeout=$3
exec 8<> <(:)
is_local() {
  case $addr in *:*) return 0 ;; esac
  local l at=
  while read -r l; do
    case $l in
      "|-- $addr") at=1 ;;
      /*) [ -n "$at" ] && [ "$l" = "/32 host LOCAL" ] && return 0 ;;
      *) at= ;;
    esac
  done </proc/net/fib_trie
  return 1
}
on_interface() {
  if [ -n "$iface" ]; then
    ip -o addr show dev "$iface" | grep -qF " $addr/"
  else
    ip -o addr show | grep -qF " $addr/"
  fi
}
end=$((SECONDS + timeout))
until is_local && on_interface; do
  if [ "$SECONDS" -ge "$end" ]; then
    echo "$addr not local${iface:+ on $iface} after ${timeout}s" >&2
    exit 1
  fi
  read -r -t 0.1 -u 8 _ || true
done
