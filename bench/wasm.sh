#!/usr/bin/env bash
# Cost of a Wasm filter in the built-in proxy: one `portico run`, two routes
# to the same static backend (bench/proxy-backend), www.example.com with
# the guide's add-a-header plugin written in Go (examples/wasm/plugin) and
# plain.example.com without any filter, measured with wrk in alternating
# runs. Prints requests/s and CPU per request of each route and the
# plugin's share (the goal: the filter costs under 35% of requests/s).
#
# Usage: bench/wasm.sh [seconds per run (10)] [connections (10)] [rounds (3)]
# Everything binds 127.0.0.1, on free ports (bench/lib.sh). Needs wrk
# (apt-get installs it when missing). CPU is that of portico run and its
# proxy child.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-10}
rounds=${3:-3}

. bench/lib.sh
bench_need wrk curl
bench_backend
go build -o "$work/serve" ./examples/wasm/serve
mkdir -p "$work/modules" "$work/config"
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$work/modules/header.wasm" ./examples/wasm/plugin
sum=$(sha256sum "$work/modules/header.wasm" | cut -d' ' -f1)

origin=127.0.0.1:$(freeport)
"$work/serve" -address "$origin" -dir "$work/modules" 2>/dev/null &
pids+=($!)

gw_port=$(freeport)
route() { # name host
  cat <<EOF2
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: $1, namespace: default}
spec:
  parentRefs: [{name: eg}]
  hostnames: ["$2"]
  rules: [{backendRefs: [{name: backend, port: $be_port}]}]
EOF2
}
{
  cat <<EOF2
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: default}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: $gw_port}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec:
  clusterIP: 127.0.0.1
  ports: [{name: http, port: $be_port}]
EOF2
  route backend www.example.com
  route plain plain.example.com
} > "$work/config/gateway.yaml"
cat > "$work/config/wasm.yaml" <<EOF2
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata: {name: header, namespace: default}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: backend}]
  wasm:
    - name: header
      code: {type: HTTP, http: {url: "http://$origin/header.wasm", sha256: $sum}}
EOF2
bench_portico_run -f "$work/config"

bench_wait "http://127.0.0.1:$gw_port/" www.example.com 'x-wasm-custom: FOO'
bench_wait "http://127.0.0.1:$gw_port/" plain.example.com

# host -> "rps cpu_us_per_request" (of portico run and its proxy child)
run() { bench_wrk "http://127.0.0.1:$gw_port/" "$1" "$conns" "$portico_pid" | awk '{print $1, $3}'; }
bench_warm "http://127.0.0.1:$gw_port/" www.example.com plain.example.com
bench_header "wrk -t2 -c$conns -d${secs}s"
printf '%-6s %10s %10s %10s %10s %10s %10s\n' round plain_rps cpu_us/req wasm_rps cpu_us/req rps_ratio cpu_added
for r in $(seq "$rounds"); do
  read -r p_rps p_cpu < <(run plain.example.com)
  read -r w_rps w_cpu < <(run www.example.com)
  printf '%-6s %10.0f %10s %10.0f %10s %9.0f%% %8sus\n' "$r" "$p_rps" "$p_cpu" "$w_rps" "$w_cpu" \
    "$(awk "BEGIN{print 100*$w_rps/$p_rps}")" "$(awk "BEGIN{printf \"%.1f\", $w_cpu - $p_cpu}")"
done
for p in $(pgrep -P "$portico_pid" 2>/dev/null || true); do
  echo "proxy peak RSS: $(awk '/^VmHWM/ {print $2, $3}' "/proc/$p/status")"
done
echo "control plane peak RSS: $(awk '/^VmHWM/ {print $2, $3}' "/proc/$portico_pid/status")"
