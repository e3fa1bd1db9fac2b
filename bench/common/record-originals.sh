#!/bin/sh
# Run on a node by the Ansible and pyinfra benchmark playbooks before their first change: records
# what setup is about to change (ARP sysctls, the services it starts, the files it writes) in
# /var/lib/lvslab-bench/orig.json, copies the files that exist under
# /var/lib/lvslab-bench/files/, and lists the installed packages in
# /var/lib/lvslab-bench/packages (one a line), so their teardown puts the node back exactly as
# found, packages included — what lvslab's own state records do.
# Usage: record-originals.sh LAN_INTERFACE
# Does nothing when the record exists (a second setup must not record its own changes).
set -eu
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
dir=/var/lib/lvslab-bench
[ -e "$dir/orig.json" ] && exit 0
iface=$1
case "$iface" in *[!A-Za-z0-9_.:-]*|'') echo "bad interface name" >&2; exit 2 ;; esac
mkdir -p "$dir/files"
# Installed only: a package removed but not purged ("config-files") is not setup's to purge.
# An empty list would have teardown purge every package: a failed query stops here.
pkgs=$(dpkg-query -W -f '${db:Status-Status} ${Package}\n')
printf '%s\n' "$pkgs" | sed -n 's/^installed //p' > "$dir/packages"
[ -s "$dir/packages" ] || { echo "no installed packages listed by dpkg-query" >&2; exit 1; }
{
    printf '{"sysctl": {'
    sep=
    for dev in all "$iface"; do
        for k in arp_ignore arp_announce; do
            printf '%s"net.ipv4.conf.%s.%s": "%s"' "$sep" "$dev" "$k" "$(sysctl -n "net.ipv4.conf.$dev.$k")"
            sep=', '
        done
    done
    printf '}, "services": {'
    sep=
    for s in apache2 keepalived lvslab-vip; do
        en=$(systemctl is-enabled "$s" 2>/dev/null || true)
        act=$(systemctl is-active "$s" 2>/dev/null || true)
        printf '%s"%s": {"enabled": %s, "active": %s}' "$sep" "$s" \
            "$([ "$en" = enabled ] && echo true || echo false)" \
            "$([ "$act" = active ] && echo true || echo false)"
        sep=', '
    done
    printf '}, "files": {'
    sep=
    for f in /var/www/html/index.html /etc/keepalived/keepalived.conf \
             /etc/sysctl.d/90-lvslab-arp.conf /etc/systemd/system/lvslab-vip.service; do
        if [ -e "$f" ]; then
            mkdir -p "$dir/files$(dirname "$f")"
            cp -a "$f" "$dir/files$f"
            printf '%s"%s": true' "$sep" "$f"
        else
            printf '%s"%s": false' "$sep" "$f"
        fi
        sep=', '
    done
    printf '}}\n'
} > "$dir/orig.json.tmp"
mv "$dir/orig.json.tmp" "$dir/orig.json"
