#!/usr/local/lib/lvslab/busybox sh
# shellcheck shell=dash disable=SC2154
# (busybox ash, checked as dash; get() assigns the variables it names, which shellcheck cannot see)
# lvslab-node-setup: give this VM its identity before ssh starts. Everything comes from qemu's
# fw_cfg (opt/lvslab/*), written by `lvslab lab up` from the inventory; secrets (the host key)
# never pass through the kernel command line or the console. The initramfs loaded qemu_fw_cfg
# and virtio_net. It runs under lvslab's static busybox, with its applets: at this point of the
# boot every dynamically linked program costs a second under TCG.
set -eu
B=/usr/local/lib/lvslab/busybox
C=/sys/firmware/qemu_fw_cfg/by_name/opt/lvslab
[ -d "$C" ] || modprobe qemu_fw_cfg
get() { read -r "$1" <"$C/$2/raw" || true; }
get name hostname
get iface iface
get addr address
get mac mac
get user user
get port port

$B hostname "$name"
echo "$name" >/etc/hostname
printf '127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    "${addr%/*}" "$name" >/etc/hosts

# The NIC: find it by the MAC lvslab gave it, rename it to the inventory's interface name.
dev=""
i=0
while :; do
    for d in /sys/class/net/*; do
        read -r a <"$d/address" || continue
        [ "$a" = "$mac" ] && dev=${d##*/}
    done
    [ -n "$dev" ] && break
    i=$((i + 1))
    [ "$i" -gt 100 ] && { echo "lvslab-node-setup: no NIC with MAC $mac" >&2; exit 1; }
    [ "$i" -eq 1 ] && modprobe virtio_net
    $B usleep 100000
done
if [ "$dev" != "$iface" ]; then
    $B ip link set dev "$dev" down
    $B ip link set dev "$dev" name "$iface"
    # On a real machine the NIC appears with its final name and udev applies its
    # /etc/sysctl.d settings (systemd-sysctl --prefix); it was renamed after that here.
    /lib/systemd/systemd-sysctl --prefix="/net/ipv4/conf/$iface" 2>/dev/null || true
fi
$B ip link set dev lo up
$B ip addr flush dev "$iface"
$B ip addr add "$addr" dev "$iface"
$B ip link set dev "$iface" up

$B mkdir -p /run/sshd /run/apache2 /run/lock
$B chmod 1777 /run/lock

# Host key (stable per node, kept by lvslab) and the lab's key for the inventory's user.
umask 077
$B cat "$C/host_key/raw" >/etc/ssh/ssh_host_ed25519_key
umask 022
$B cat "$C/host_key_pub/raw" >/etc/ssh/ssh_host_ed25519_key.pub
echo "Port $port" >/etc/ssh/sshd_config.d/lvslab-port.conf
if [ "$user" = root ]; then
    home=/root
else
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
    home=$(getent passwd "$user" | cut -d: -f6)
fi
umask 077
$B mkdir -p "$home/.ssh"
$B cat "$C/authorized_keys/raw" >"$home/.ssh/authorized_keys"
[ "$user" = root ] || chown -R "$user:" "$home/.ssh"
