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
# An entry lvslab did not write (lab_user and its settings are optional) leaves its variable
# unset, without an error on the console.
get() { { read -r "$1" <"$C/$2/raw"; } 2>/dev/null || true; }
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

# The lab's user as real machines have one (lab_user): the lab's key, sudo rights (with its
# password when lab_sudo_password is set), a password login when asked; root's ssh login off
# when asked. Written at every boot, so a changed inventory takes effect on the next one.
get lab_user lab_user
get root_login root_login
get password_login password_login
get sudo_asks sudo_asks
login_conf=/etc/ssh/sshd_config.d/00-lvslab-login.conf
: >"$login_conf"
if [ -n "${lab_user:-}" ]; then
    id "$lab_user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$lab_user"
    lhome=$(getent passwd "$lab_user" | cut -d: -f6)
    umask 077
    $B mkdir -p "$lhome/.ssh"
    $B cat "$C/authorized_keys/raw" >"$lhome/.ssh/authorized_keys"
    chown -R "$lab_user:" "$lhome/.ssh"
    # SHA-512 with few rounds: with Debian's default (yescrypt) a TCG guest spends seconds
    # checking the password on every sudo, which would slow every escalated command.
    if [ -r "$C/login_password/raw" ]; then
        { printf '%s:' "$lab_user"; $B cat "$C/login_password/raw"; } | chpasswd -c SHA512 -s 1000
    fi
    rule="NOPASSWD: ALL"
    [ "$sudo_asks" = yes ] && rule="ALL"
    umask 022
    echo "$lab_user ALL=(ALL:ALL) $rule" >/etc/sudoers.d/lvslab-lab-user
    $B chmod 0440 /etc/sudoers.d/lvslab-lab-user
    [ "$root_login" = no ] && echo "PermitRootLogin no" >>"$login_conf"
    [ "$password_login" = yes ] && echo "PasswordAuthentication yes" >>"$login_conf"
else
    $B rm -f /etc/sudoers.d/lvslab-lab-user
fi
true
