#!/bin/sh
# Release step: writes the hash of igloo's vendored source tarball (the release tag's archive
# plus every crate, as Buildroot's cargo infrastructure packs it) into package/igloo/igloo.hash.
#   buildroot/update-hash.sh /path/to/buildroot
# Needs network access to GitHub and crates.io, like any Buildroot download.
set -eu
BR="$1"
EXT="$(cd "$(dirname "$0")" && pwd)"
HASH="$EXT/package/igloo/igloo.hash"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
export BR2_DL_DIR="$OUT/dl"

make -C "$BR" O="$OUT" BR2_EXTERNAL="$EXT" igloo_raspberrypi4_64_defconfig
# Download without the forced check, so the missing hash is only a warning.
sed -i 's/^BR2_DOWNLOAD_FORCE_CHECK_HASHES=y$/# BR2_DOWNLOAD_FORCE_CHECK_HASHES is not set/' "$OUT/.config"
sed -i -e '/-cargo[0-9]*\.tar\.gz$/d' -e '/^# The vendored tarball/d' -e '/^# zero placeholder/d' "$HASH"
make -C "$BR" O="$OUT" olddefconfig igloo-source
for f in "$BR2_DL_DIR"/igloo/igloo-*-cargo*.tar.gz; do
	sum="$(sha256sum "$f" | cut -d ' ' -f 1)"
	printf '# Locally computed (buildroot/update-hash.sh)\nsha256  %s  %s\n' "$sum" "$(basename "$f")" >> "$HASH"
done
cat "$HASH"
