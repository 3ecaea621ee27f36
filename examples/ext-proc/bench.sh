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
. bench/lib.sh
bench_need wrk curl
bench_backend
go build -o "$work/ext-proc" ./examples/ext-proc
proc_port=$(freeport)
"$work/ext-proc" -addr "127.0.0.1:$proc_port" -certs "$work/certs" 2>"$work/ext-proc.log" &
pids+=($!)
proc_pid=$!
for _ in $(seq 100); do [ -f "$work/certs/ca-configmap.yaml" ] && break; sleep 0.1; done

mkdir -p "$work/config"
bench_quickstart "$work/config/quickstart.yaml"
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
bench_portico_run -f "$work/config"

bench_wait "http://127.0.0.1:$gw_port/" plain.example.com
for h in headers streamed; do bench_wait "http://127.0.0.1:$gw_port/" $h.example.com 'x-response-ext-processed: true'; done

# host -> "rps p99_ms proxy_cpu_us_per_request processor_cpu_us_per_request"
run() { bench_wrk "http://127.0.0.1:$gw_port/" "$1" "$conns" "$portico_pid" "$proc_pid"; }

bench_header "wrk -t2 -c$conns -d${secs}s x $rounds rounds"
bench_warm "http://127.0.0.1:$gw_port/" plain.example.com headers.example.com streamed.example.com
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
