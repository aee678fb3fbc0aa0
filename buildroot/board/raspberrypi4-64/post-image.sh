#!/bin/sh
# Builds sdcard.img from genimage.cfg (run by Buildroot from its top directory).
set -eu
BOARD_DIR="$(dirname "$0")"
exec support/scripts/genimage.sh -c "$BOARD_DIR/genimage.cfg"
