#!/usr/bin/env bash
# Builds Portico's image with buildah (Debian ships it; docker is not
# needed): a static binary on scratch, /portico, with /usr/local/bin/envoy
# linked to it so that the proxy pod Envoy Gateway's infrastructure makes
# (command envoy, Envoy's arguments) runs the built-in proxy when an
# EnvoyProxy sets container.image to this image. It runs as 65532, the
# user Envoy Gateway's pods use.
#
#   bash hack/image.sh [IMAGE]   # default ghcr.io/portico-gw/portico:latest
#
# The image is left in buildah's local storage (`buildah images`); push it
# with `buildah push IMAGE docker://REGISTRY/...`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${1:-ghcr.io/portico-gw/portico:latest}"
command -v buildah >/dev/null || { echo "buildah not found: apt-get install -y buildah" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/rootfs/usr/local/bin"
(cd "${root}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${work}/rootfs/portico" ./cmd/portico)
ln -s /portico "${work}/rootfs/usr/local/bin/envoy"

ctr="$(buildah from scratch)"
trap 'buildah rm "${ctr}" >/dev/null 2>&1 || true; rm -rf "${work}"' EXIT
buildah copy "${ctr}" "${work}/rootfs/" / >/dev/null
buildah config --entrypoint '["/portico"]' --cmd server --user 65532:65532 \
  --env PATH=/usr/local/bin:/ --port 18000 --port 19001 \
  --label org.opencontainers.image.source=https://github.com/portico-gw/portico "${ctr}"
buildah commit --rm "${ctr}" "${image}" >/dev/null
trap 'rm -rf "${work}"' EXIT
echo "${image}"
