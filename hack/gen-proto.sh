#!/usr/bin/env bash
# Regenerates proto/extension/*.pb.go without protoc: hack/protogen compiles
# the .proto with github.com/bufbuild/protocompile (Envoy's imports come from
# the descriptors linked into go-control-plane) and runs protoc-gen-go and
# protoc-gen-go-grpc, all pinned in hack/protogen/go.mod.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${root}/hack/protogen/bin"
mkdir -p "${bin}"
cd "${root}/hack/protogen"
export GOWORK=off
go build -o "${bin}/protogen" .
go build -o "${bin}/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "${bin}/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
cd "${root}"
"${bin}/protogen" -root . -out . -plugin-go "${bin}/protoc-gen-go" -plugin-grpc "${bin}/protoc-gen-go-grpc" proto/extension/extension.proto
