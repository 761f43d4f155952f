#!/usr/bin/env bash
# `just images`: one container image per service and one for inboxctl, built without a Docker
# engine or a registry (docker/build_image.py): FROM scratch with the release binary, the
# shared libraries it links, CA certificates and a non-root user (10001); no shell. The gateway
# embeds the web inbox (built first by scripts/web.sh).
#
# Writes target/images/inbox-<name>-<tag>.tar (an OCI image layout that `docker load` also
# takes) and, when a Docker engine answers, loads them as inbox-<name>:<tag>.
#
# Settings (environment):
#   INBOX_IMAGES_TAG      image tag (default: the workspace version, e.g. 0.1.0)
#   INBOX_IMAGES_BIN_DIR  take the release binaries from there; do not build
#   INBOX_IMAGES_OUT      output directory (default target/images)
#   INBOX_IMAGES_LOAD     0: never load into Docker; 1: fail if Docker cannot load them
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
SERVICES=(gateway channel-ingest conversation routing notification search metrics)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="${INBOX_IMAGES_OUT:-$TARGET/images}"
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
TAG="${INBOX_IMAGES_TAG:-$VERSION}"
[[ "$TAG" != latest ]] || { echo "refusing the tag 'latest': images are pinned" >&2; exit 2; }

if [[ -n "${INBOX_IMAGES_BIN_DIR:-}" ]]; then
  BIN="$INBOX_IMAGES_BIN_DIR"
else
  # The gateway embeds web/dist in a release build: build the web inbox first.
  scripts/web.sh
  echo "building the release binaries..."
  packages=()
  for s in "${SERVICES[@]}"; do packages+=(-p "inbox-$s"); done
  cargo build --release --locked "${packages[@]}" -p inboxctl --bins -q
  BIN="$TARGET/release"
fi

mkdir -p "$OUT"
archives=()
for s in "${SERVICES[@]}" inboxctl; do
  bin="inbox-$s"; [[ $s == inboxctl ]] && bin=inboxctl
  [[ -x "$BIN/$bin" ]] || { echo "$BIN/$bin is missing" >&2; exit 1; }
  extra=()
  # search keeps its index on a volume the service user owns.
  [[ $s == search ]] && extra+=(--volume /var/lib/inbox/search --env INBOX__SEARCH__INDEX_DIR=/var/lib/inbox/search)
  [[ $s != inboxctl ]] && extra+=(--env INBOX__LOG__FORMAT=json)
  python3 docker/build_image.py --binary "$BIN/$bin" --name "$bin" --tag "$TAG" \
    --out "$OUT/$bin-$TAG.tar" "${extra[@]}"
  archives+=("$OUT/$bin-$TAG.tar")
done

load="${INBOX_IMAGES_LOAD:-auto}"
if [[ $load != 0 ]] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  for archive in "${archives[@]}"; do docker load -q -i "$archive"; done
  docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^inbox(-[a-z-]+|ctl):$TAG " || true
elif [[ $load == 1 ]]; then
  echo "no Docker engine answers (docker info): cannot load the images" >&2
  exit 1
else
  echo "no Docker engine here: the images are in $OUT (docker load -i <archive>, or skopeo copy oci-archive:<archive> docker://<registry>/<name>:$TAG)"
fi
