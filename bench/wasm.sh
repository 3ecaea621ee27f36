#!/usr/bin/env bash
# Cost of a Wasm filter in the built-in proxy: one `portico run`, two routes
# to the same static backend (bench/proxy-backend), www.example.com with
# the guide's add-a-header plugin written in Go (examples/wasm/plugin) and
# plain.example.com without any filter, measured with wrk in alternating
# runs. Prints requests/s and CPU per request of each route and the
# plugin's share (the goal: the filter costs under 35% of requests/s).
#
# Usage: bench/wasm.sh [seconds per run (10)] [connections (10)] [rounds (3)]
# Everything binds 127.0.0.1. Needs wrk (apt-get installs it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-10}
rounds=${3:-3}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/portico" ./cmd/portico
go build -o "$work/backend" ./bench/proxy-backend
go build -o "$work/serve" ./examples/wasm/serve
mkdir -p "$work/modules" "$work/config"
GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o "$work/modules/header.wasm" ./examples/wasm/plugin
sum=$(sha256sum "$work/modules/header.wasm" | cut -d' ' -f1)

be_port=$(freeport)
"$work/backend" -addr "127.0.0.1:$be_port" >/dev/null &
pids+=($!)
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
"$work/portico" run -f "$work/config" --admin-address "127.0.0.1:$(freeport)" --xds-address "127.0.0.1:$(freeport)" \
  --wasm-address "127.0.0.1:$(freeport)" --wasm-cache-dir "$work/cache" \
  --listener-address 127.0.0.1 --log-level warn >/dev/null 2>"$work/portico.log" &
pids+=($!)
portico_pid=$!

wait_for() { # host header: until the route answers 200 (and the header for www)
  for _ in $(seq 600); do
    if curl -s -D - -o /dev/null -H "Host: $1" "http://127.0.0.1:$gw_port/" | grep -qi "$2"; then return 0; fi
    sleep 0.1
  done
  echo "no answer for $1" >&2; cat "$work/portico.log" >&2; exit 1
}
wait_for www.example.com 'x-wasm-custom: FOO'
wait_for plain.example.com '200 OK'

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # host -> "rps cpu_us_per_request"
  local out t0 t1 total rps
  t0=$(cpu_ticks "$portico_pid")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" -H "Host: $1" "http://127.0.0.1:$gw_port/")
  t1=$(cpu_ticks "$portico_pid")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers for $1" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $(awk "BEGIN{printf \"%.0f\", ($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $total}")"
}
wrk -t2 -c"$conns" -d2s -H 'Host: www.example.com' "http://127.0.0.1:$gw_port/" >/dev/null
wrk -t2 -c"$conns" -d2s -H 'Host: plain.example.com' "http://127.0.0.1:$gw_port/" >/dev/null
echo "wrk -t2 -c$conns -d${secs}s, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %10s %10s %10s %10s %10s %10s\n' round plain_rps cpu_us/req wasm_rps cpu_us/req rps_ratio cpu_added
for r in $(seq "$rounds"); do
  read -r p_rps p_cpu < <(run plain.example.com)
  read -r w_rps w_cpu < <(run www.example.com)
  printf '%-6s %10.0f %10s %10.0f %10s %9.0f%% %8sus\n' "$r" "$p_rps" "$p_cpu" "$w_rps" "$w_cpu" \
    "$(awk "BEGIN{print 100*$w_rps/$p_rps}")" "$((w_cpu - p_cpu))"
done
echo "peak RSS: $(awk '/^VmHWM/ {print $2, $3}' "/proc/$portico_pid/status")"
