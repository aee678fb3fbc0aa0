#!/bin/sh
# Release step for the Umbrel app: build and push the multi-arch image for Cargo.toml's version,
# then pin igloo/docker-compose.yml's `image:` to the pushed manifest list as
# <repo>:<version>@sha256:<digest>, the form the umbrel-apps linter requires.
#   umbrel/pin-image.sh                 # build, push, pin
#   umbrel/pin-image.sh --no-build      # pin what the registry already holds for this version
# Needs docker buildx and push rights to $IGLOO_IMAGE_REPO (default ghcr.io/frostr-org/igloo).
set -eu
cd "$(dirname "$0")/.."
REPO="${IGLOO_IMAGE_REPO:-ghcr.io/frostr-org/igloo}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
COMPOSE=umbrel/igloo/docker-compose.yml

if [ "${1:-}" != "--no-build" ]; then
    docker buildx build --platform linux/amd64,linux/arm64 -t "$REPO:$VERSION" --push .
fi
DIGEST="$(docker buildx imagetools inspect "$REPO:$VERSION" --format '{{.Manifest.Digest}}')"
case "$DIGEST" in
    sha256:*) ;;
    *) echo "no digest for $REPO:$VERSION (got '$DIGEST')" >&2; exit 1 ;;
esac
sed -i "s|^\(    image: \).*$|\1$REPO:$VERSION@$DIGEST|" "$COMPOSE"
grep -n "image:" "$COMPOSE"
