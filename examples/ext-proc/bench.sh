#!/usr/bin/env bash
# Cost of the ext_proc filter in the built-in proxy: one `portico run`
# serving three routes of the quickstart to one static loopback backend
# (bench/proxy-backend): plain.example.com without a processor,
# headers.example.com with the example processor on request and response
# headers, and streamed.example.com with the guide's policy (request
# headers, response headers and the response body Streamed). The processor
# (examples/ext-proc, gRPC with TLS, BackendTLSPolicy) runs as its own
# process. wrk runs alternate between the hosts so that a busy neighbour
# hurts all alike. Prints requests/s, p99 and CPU per request of the proxy
# (portico run and its proxy child) and of the processor, the ext_proc
# routes' requests/s as a share of the plain route's, and the streams per
# second one core of the proxy sustains (1 / the proxy CPU the filter adds
# per request). The policies set messageTimeout 5s: on a shared machine a
# scheduling stall past Envoy's 200ms default would fail streams, which
# measures the machine rather than the filter.
#
# Usage: examples/ext-proc/bench.sh [seconds per run (10)] [connections (50)] [rounds (3)]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-50}
rounds=${3:-3}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

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
go build -o "$work/ext-proc" ./examples/ext-proc
be_port=$(freeport)
"$work/backend" -addr "127.0.0.1:$be_port" >/dev/null &
pids+=($!)
proc_port=$(freeport)
"$work/ext-proc" -addr "127.0.0.1:$proc_port" -certs "$work/certs" 2>"$work/ext-proc.log" &
pids+=($!)
proc_pid=$!
for _ in $(seq 100); do [ -f "$work/certs/ca-configmap.yaml" ] && break; sleep 0.1; done

gw_port=$(freeport)
mkdir -p "$work/config"
sed -e "s/port: 80$/port: $gw_port/" -e "s/3000/$be_port/g" -e "/^  ports:$/i\\  clusterIP: 127.0.0.1" examples/quickstart/quickstart.yaml > "$work/config/quickstart.yaml"
sed "s/9002/$proc_port/g" examples/ext-proc/policies/grpc-ext-proc-service.yaml > "$work/config/service.yaml"
cp examples/ext-proc/policies/grpc-ext-proc-btls.yaml "$work/certs/ca-configmap.yaml" "$work/config/"
for host in plain headers streamed; do
  printf 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: %s, namespace: default}\nspec:\n  parentRefs: [{name: eg}]\n  hostnames: ["%s.example.com"]\n  rules: [{backendRefs: [{name: backend, port: %s}]}]\n' \
    "$host" "$host" "$be_port" > "$work/config/route-$host.yaml"
done
policy() { # name mode
  printf 'apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyExtensionPolicy\nmetadata: {name: %s, namespace: default}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: %s}]\n  extProc:\n  - backendRefs: [{name: grpc-ext-proc, port: %s}]\n    messageTimeout: 5s\n    processingMode: %s\n' \
    "$1" "$1" "$proc_port" "$2" > "$work/config/eep-$1.yaml"
}
policy headers '{request: {}, response: {}}'
policy streamed '{request: {}, response: {body: Streamed}}'
admin=127.0.0.1:$(freeport)
"$work/portico" run -f "$work/config" --admin-address "$admin" \
  --xds-address "127.0.0.1:$(freeport)" --listener-address 127.0.0.1 --log-level warn --state-dir "$work/state" \
  >/dev/null 2>"$work/portico.log" &
pids+=($!)
portico_pid=$!

wait_hdr() { # host: until the route answers 200 (with the processor's mark unless plain)
  for _ in $(seq 300); do
    h=$(curl -s -D - -o /dev/null -H "Host: $1" "http://127.0.0.1:$gw_port/" || true)
    if grep -q '^HTTP/1.1 200' <<<"$h" && { [ "$1" = plain.example.com ] || grep -qi '^x-response-ext-processed: true' <<<"$h"; }; then return 0; fi
    sleep 0.1
  done
  echo "no answer for $1" >&2; cat "$work/portico.log" "$work/ext-proc.log" >&2; exit 1
}
for h in plain headers streamed; do wait_hdr $h.example.com; done

cpu_ticks() { # pid: user+system clock ticks of the process and its children
  local t=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}
run() { # host -> "rps p99_ms proxy_cpu_us_per_request processor_cpu_us_per_request"
  local out t0 t1 q0 q1 rps p99 total hz
  hz=$(getconf CLK_TCK)
  t0=$(cpu_ticks "$portico_pid"); q0=$(cpu_ticks "$proc_pid")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Host: $1" "http://127.0.0.1:$gw_port/")
  t1=$(cpu_ticks "$portico_pid"); q1=$(cpu_ticks "$proc_pid")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers for $1:" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out")
  echo "$rps $p99 $(awk "BEGIN{printf \"%.1f\", ($t1 - $t0) * 1e6 / $hz / $total}") $(awk "BEGIN{printf \"%.1f\", ($q1 - $q0) * 1e6 / $hz / $total}")"
}

echo "wrk -t2 -c$conns -d${secs}s x $rounds rounds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for h in plain headers streamed; do wrk -t2 -c10 -d2s -H "Host: $h.example.com" "http://127.0.0.1:$gw_port/" >/dev/null; done
printf '%-6s %-9s %9s %8s %17s %21s\n' round route rps p99_ms proxy_cpu_us/req processor_cpu_us/req
declare -A srps scpu
for i in $(seq "$rounds"); do
  for h in plain headers streamed; do
    read -r rps p99 cpu pcpu < <(run $h.example.com)
    srps[$h]=$(awk "BEGIN{print ${srps[$h]:-0}+$rps}"); scpu[$h]=$(awk "BEGIN{print ${scpu[$h]:-0}+$cpu}")
    printf '%-6s %-9s %9.0f %8s %17s %21s\n' "$i" "$h" "$rps" "$p99" "$cpu" "$pcpu"
  done
done
for h in headers streamed; do
  printf '%s: %s of the plain route'"'"'s requests/s; the filter adds %s us of proxy CPU per request, i.e. %s streams/s per proxy core\n' "$h" \
    "$(awk "BEGIN{printf \"%.0f%%\", 100*${srps[$h]}/${srps[plain]}}")" \
    "$(awk "BEGIN{printf \"%.1f\", (${scpu[$h]}-${scpu[plain]})/$rounds}")" \
    "$(awk "BEGIN{d=(${scpu[$h]}-${scpu[plain]})/$rounds; if (d>0) printf \"%.0f\", 1e6/d; else print \"n/a\"}")"
done
