#!/bin/busybox sh
# shellcheck shell=dash
# lvslab initramfs /init: load the modules needed to reach the root (listed in dependency order
# in /lib/modules/order), mount the shared read-only squashfs root (/dev/vda) and this node's
# writable ext4 disk (/dev/vdb), join them with overlayfs and switch_root to systemd.
B=/bin/busybox
$B mkdir -p /proc /sys /dev /lower /rw /newroot
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
fail() {
    echo "lvslab-init: $*" >/dev/console
    $B sleep 1
    $B poweroff -f
}
while read -r m; do
    $B insmod "/lib/modules/$m" || fail "cannot load module $m"
done </lib/modules/order
i=0
while [ ! -b /dev/vda ] || [ ! -b /dev/vdb ]; do
    i=$((i + 1))
    [ "$i" -gt 400 ] && fail "no root disk /dev/vda or state disk /dev/vdb"
    $B usleep 25000
done
$B mount -t squashfs -o ro /dev/vda /lower || fail "cannot mount the root image /dev/vda"
$B mount -t ext4 -o noatime /dev/vdb /rw || fail "cannot mount the node disk /dev/vdb"
$B mkdir -p /rw/upper /rw/work
$B mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
    || fail "cannot mount the overlay root"
# The node's own machine id (kernel command line), kept on its disk.
for w in $($B cat /proc/cmdline); do
    case "$w" in systemd.machine_id=*) echo "${w#*=}" >/newroot/etc/machine-id ;; esac
done
$B umount /proc
$B umount /sys
$B mount --move /dev /newroot/dev
exec $B switch_root /newroot /sbin/init
