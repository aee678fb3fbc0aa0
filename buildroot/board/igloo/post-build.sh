#!/bin/sh
# The root file system stays read-only (cmdline.txt "ro", no remount) and /var is a tmpfs
# filled from the factory copy (BR2_INIT_SYSTEMD_VAR_FACTORY). What persists lives on two
# partitions mounted here: the boot partition (owner settings in /boot/igloo.env, Wi-Fi in
# /boot/wpa_supplicant.conf) and the data partition at /var/lib/igloo (the store, device key
# and first-boot secret). Idempotent: Buildroot runs this on every `make`.
set -eu
TARGET_DIR="$1"
FSTAB="$TARGET_DIR/etc/fstab"

add_mount() {
	grep -qF "$1" "$FSTAB" || printf '%s\n' "$2" >> "$FSTAB"
}

mkdir -p "$TARGET_DIR/boot" "$TARGET_DIR/var/lib/igloo"
add_mount "/dev/mmcblk0p1" "/dev/mmcblk0p1	/boot	vfat	ro,nofail,umask=0077	0	2"
add_mount "LABEL=igloo-data" "LABEL=igloo-data	/var/lib/igloo	ext4	defaults,noatime,nodev,nosuid,noexec	0	2"
