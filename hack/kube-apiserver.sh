#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that the Kubernetes tests start
# (through controller-runtime's envtest), into a cache keyed by version:
#
#   ${PORTICO_CACHE:-$HOME/.cache/portico}/kube-apiserver-v1.37.2/{kube-apiserver,etcd}
#
# kube-apiserver comes from k8s.io/kubernetes through the wrapper module in
# hack/kube-apiserver (its staging modules mapped to their published
# versions); etcd from go.etcd.io/etcd/server/v3 through hack/etcd. A cold
# build takes about 6 minutes on 2 cores, a warm one nothing.
#
# It prints the folder, so that
#
#   export KUBEBUILDER_ASSETS="$(bash hack/kube-apiserver.sh)"
#
# is all a shell needs before `go test ./...` runs the Kubernetes tests
# (envtest reads KUBEBUILDER_ASSETS; TEST_ASSET_KUBE_APISERVER and
# TEST_ASSET_ETCD name the binaries one by one instead).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
k8s_version="v1.37.2"
etcd_version="$(awk '$1 == "require" && $2 == "go.etcd.io/etcd/server/v3" {print $3}' "${root}/hack/etcd/go.mod")"
cache="${PORTICO_CACHE:-${HOME}/.cache/portico}"
dir="${cache}/kube-apiserver-${k8s_version}"
mkdir -p "${dir}"

# The version stamps what /version answers; clients (and envtest) read it.
stamp() {
  local pkg="k8s.io/component-base/version" v="$1"
  local major="${v#v}"; major="${major%%.*}"
  local minor="${v#v*.}"; minor="${minor%%.*}"
  printf -- '-s -w -X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean' \
    "${pkg}" "${v}" "${pkg}" "${major}" "${pkg}" "${minor}" "${pkg}"
}

build() { # build NAME MODULE_DIR PACKAGE LDFLAGS
  local name="$1" mod="$2" pkg="$3" ldflags="$4"
  local marker="${dir}/.${name}.built"
  # The marker holds the module files' digest: a changed pin rebuilds.
  local sum
  sum="$(cat "${mod}/go.mod" "${mod}/go.sum" | sha256sum | cut -d' ' -f1)"
  if [ -x "${dir}/${name}" ] && [ "$(cat "${marker}" 2>/dev/null)" = "${sum}" ]; then
    return
  fi
  echo "building ${name} (${pkg}) into ${dir}" >&2
  (cd "${mod}" && GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    go build -trimpath -ldflags "${ldflags}" -o "${dir}/${name}.tmp" "${pkg}") >&2
  mv "${dir}/${name}.tmp" "${dir}/${name}"
  echo "${sum}" > "${marker}"
}

build kube-apiserver "${root}/hack/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$(stamp "${k8s_version}")"
build etcd "${root}/hack/etcd" go.etcd.io/etcd/server/v3 \
  "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${etcd_version}"

echo "${dir}"
