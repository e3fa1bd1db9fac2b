#!/bin/sh
# lvslab-node-setup: give this VM its identity before ssh starts. Everything comes from qemu's
# fw_cfg (opt/lvslab/*), written by `lvslab lab up` from the inventory; secrets (the host key)
# never pass through the kernel command line or the console.
set -eu
modprobe qemu_fw_cfg
C=/sys/firmware/qemu_fw_cfg/by_name/opt/lvslab
get() { cat "$C/$1/raw"; }

name=$(get hostname)
iface=$(get iface)
addr=$(get address)
mac=$(get mac)
user=$(get user)
port=$(get port)

hostname "$name"
echo "$name" >/etc/hostname
printf '127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    "${addr%/*}" "$name" >/etc/hosts

# The NIC: find it by the MAC lvslab gave it, rename it to the inventory's interface name.
modprobe virtio_net
dev=""
i=0
while [ -z "$dev" ]; do
    for d in /sys/class/net/*; do
        [ "$(cat "$d/address")" = "$mac" ] && dev=${d##*/}
    done
    [ -n "$dev" ] && break
    i=$((i + 1))
    [ "$i" -gt 100 ] && { echo "lvslab-node-setup: no NIC with MAC $mac" >&2; exit 1; }
    sleep 0.1
done
if [ "$dev" != "$iface" ]; then
    ip link set dev "$dev" down
    ip link set dev "$dev" name "$iface"
fi
ip link set dev lo up
ip addr flush dev "$iface"
ip addr add "$addr" dev "$iface"
ip link set dev "$iface" up

install -d -m 0755 /run/sshd /run/lock /run/apache2
install -d -m 1777 /run/lock

# Host key (stable per node, kept by lvslab) and the lab's key for the inventory's user.
umask 077
get host_key >/etc/ssh/ssh_host_ed25519_key
umask 022
get host_key_pub >/etc/ssh/ssh_host_ed25519_key.pub
printf 'Port %s\n' "$port" >/etc/ssh/sshd_config.d/lvslab-port.conf
if [ "$user" = root ]; then
    home=/root
else
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
    home=$(getent passwd "$user" | cut -d: -f6)
fi
install -d -m 0700 "$home/.ssh"
get authorized_keys >"$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
chown -R "$user:" "$home/.ssh"
