#!/usr/bin/env bash
# Cost of the Lua filter in the built-in proxy: one `portico run` serving the
# quickstart twice over, www.example.com with the guide's inline Lua policy
# (policies/lua-inline.yaml: envoy_on_response adds x-lua-custom) and
# plain.example.com, the same route without it, both in front of one static
# loopback backend (bench/proxy-backend). wrk runs alternate between the two
# hosts so that a busy neighbour hurts both alike. Prints requests/s, p99
# and proxy CPU per request for each, and the Lua route's requests/s as a
# share of the plain route's (target: >= 75%, i.e. the filter costs < 25%).
#
# Usage: examples/lua/bench.sh [seconds per run (10)] [connections (50)] [rounds (3)]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-50}
rounds=${3:-3}
. bench/lib.sh
bench_need wrk curl
bench_backend
mkdir -p "$work/config"
bench_quickstart "$work/config/quickstart.yaml"
# The plain route: the quickstart's HTTPRoute under another name and host.
cat > "$work/config/plain.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: plain
  namespace: default
spec:
  parentRefs:
    - name: eg
  hostnames:
    - "plain.example.com"
  rules:
    - backendRefs:
        - name: backend
          port: $be_port
EOF
cp examples/lua/policies/lua-inline.yaml "$work/config/"
bench_portico_run --config examples/lua/envoy-gateway.yaml -f "$work/config"

bench_wait "http://127.0.0.1:$gw_port/" www.example.com 'x-lua-custom: FOO'
bench_wait "http://127.0.0.1:$gw_port/" plain.example.com
if curl -s -D - -o /dev/null -H 'Host: plain.example.com' "http://127.0.0.1:$gw_port/" | grep -qi x-lua-custom; then
  echo "plain.example.com runs the Lua filter" >&2; exit 1
fi

# host -> "rps p99_ms cpu_us_per_request" (portico run and its proxy child)
run() { bench_wrk "http://127.0.0.1:$gw_port/" "$1" "$conns" "$portico_pid"; }

bench_header "wrk -t2 -c$conns -d${secs}s x $rounds rounds"
bench_warm "http://127.0.0.1:$gw_port/" www.example.com plain.example.com
printf '%-6s %11s %8s %10s %11s %8s %10s %9s %9s\n' round plain_rps p99_ms cpu_us/req lua_rps p99_ms cpu_us/req rps_ratio cpu_ratio
sp=0; sl=0; cp=0; cl=0
for i in $(seq "$rounds"); do
  read -r p_rps p_p99 p_cpu < <(run plain.example.com)
  read -r l_rps l_p99 l_cpu < <(run www.example.com)
  sp=$(awk "BEGIN{print $sp+$p_rps}"); sl=$(awk "BEGIN{print $sl+$l_rps}")
  cp=$(awk "BEGIN{print $cp+$p_cpu}"); cl=$(awk "BEGIN{print $cl+$l_cpu}")
  printf '%-6s %11.0f %8s %10s %11.0f %8s %10s %9s %9s\n' "$i" "$p_rps" "$p_p99" "$p_cpu" "$l_rps" "$l_p99" "$l_cpu" \
    "$(awk "BEGIN{printf \"%.0f%%\", 100*$l_rps/$p_rps}")" "$(awk "BEGIN{printf \"%.0f%%\", 100*$p_cpu/$l_cpu}")"
done
printf 'total: Lua route at %s of the plain route'"'"'s requests/s; plain CPU per request is %s of the Lua route'"'"'s\n' \
  "$(awk "BEGIN{printf \"%.0f%%\", 100*$sl/$sp}")" "$(awk "BEGIN{printf \"%.0f%%\", 100*$cp/$cl}")"
