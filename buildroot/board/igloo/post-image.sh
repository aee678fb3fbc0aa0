#!/bin/sh
# Builds sdcard.img: genimage.cfg.in with every file the firmware package put in
# $BINARIES_DIR (device trees, rpi-firmware/*), the kernel named in config.txt and the
# owner's templates from boot/.
# Buildroot runs this from its top directory with BINARIES_DIR and BUILD_DIR set.
set -eu
BOARD_DIR="$(dirname "$0")"
CFG="$BINARIES_DIR/genimage.cfg"
TMP="$BUILD_DIR/genimage.tmp"

# The owner's templates (igloo.env, wpa_supplicant.conf) go on the boot partition too.
cp "$BOARD_DIR"/boot/*.example "$BINARIES_DIR/"

files=""
for f in "$BINARIES_DIR"/*.example "$BINARIES_DIR"/*.dtb "$BINARIES_DIR"/rpi-firmware/*; do
	[ -e "$f" ] || continue
	files="$files\t\t\t\"${f#"$BINARIES_DIR"/}\",\n"
done
kernel="$(sed -n 's/^kernel=//p' "$BINARIES_DIR/rpi-firmware/config.txt")"
files="$files\t\t\t\"$kernel\""
sed "s|#BOOT_FILES#|$files|" "$BOARD_DIR/genimage.cfg.in" > "$CFG"

ROOT_TMP="$(mktemp -d)"
trap 'rm -rf "$ROOT_TMP"' EXIT
rm -rf "$TMP"
genimage --rootpath "$ROOT_TMP" --tmppath "$TMP" --inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" --config "$CFG"
