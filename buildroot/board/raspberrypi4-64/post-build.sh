#!/bin/sh
# Mounts the boot partition (owner settings in /boot/igloo.env) and the data partition at
# /var/lib/igloo. Idempotent: Buildroot runs this on every `make`.
set -eu
TARGET_DIR="$1"
FSTAB="$TARGET_DIR/etc/fstab"

add_mount() {
    grep -qF "$1" "$FSTAB" || printf '%s\n' "$2" >> "$FSTAB"
}

mkdir -p "$TARGET_DIR/boot" "$TARGET_DIR/var/lib/igloo"
add_mount "/dev/mmcblk0p1" "/dev/mmcblk0p1	/boot	vfat	ro,nofail,umask=0077	0	2"
add_mount "LABEL=igloo-data" "LABEL=igloo-data	/var/lib/igloo	ext4	defaults,noatime,nodev,nosuid,noexec	0	2"
