#!/usr/bin/env bash
# Regenerates api/v1alpha1/zz_generated.deepcopy.go and the CRDs in
# config/crd/portico/ with controller-gen.
#
# controller-gen is built from the separate module in hack/tools so that
# controller-tools and its dependencies never enter the main go.mod. The
# version is pinned there (hack/tools/go.mod).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${root}/hack/tools/bin"
mkdir -p "${bin}"

(cd "${root}/hack/tools" && GOWORK=off go build -o "${bin}/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen)

cd "${root}"
"${bin}/controller-gen" object paths=./api/...
# crd:allowDangerousTypes is not needed; maxDescLen=0 would drop the docs,
# which kubectl explain shows, so descriptions are kept.
"${bin}/controller-gen" crd paths=./api/... output:crd:artifacts:config=config/crd/portico
gofmt -w api/v1alpha1/zz_generated.deepcopy.go
