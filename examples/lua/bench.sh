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
be_port=$(freeport)
"$work/backend" -addr "127.0.0.1:$be_port" >/dev/null &
pids+=($!)

gw_port=$(freeport)
mkdir -p "$work/config"
sed -e "s/port: 80$/port: $gw_port/" -e "s/3000/$be_port/g" -e "/^  ports:$/i\\  clusterIP: 127.0.0.1" examples/quickstart/quickstart.yaml > "$work/config/quickstart.yaml"
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
admin=127.0.0.1:$(freeport)
"$work/portico" run --config examples/lua/envoy-gateway.yaml -f "$work/config" --admin-address "$admin" \
  --xds-address "127.0.0.1:$(freeport)" --listener-address 127.0.0.1 --log-level warn --state-dir "$work/state" \
  >/dev/null 2>"$work/portico.log" &
pids+=($!)
portico_pid=$!

wait_hdr() { # host: until the route answers 200 (and, for www, with the Lua header)
  for _ in $(seq 300); do
    h=$(curl -s -D - -o /dev/null -H "Host: $1" "http://127.0.0.1:$gw_port/" || true)
    if grep -q '^HTTP/1.1 200' <<<"$h" && { [ "$1" != www.example.com ] || grep -qi '^x-lua-custom: FOO' <<<"$h"; }; then return 0; fi
    sleep 0.1
  done
  echo "no answer for $1" >&2; cat "$work/portico.log" "$work/config/plain.yaml" >&2; exit 1
}
wait_hdr www.example.com
wait_hdr plain.example.com
if curl -s -D - -o /dev/null -H 'Host: plain.example.com' "http://127.0.0.1:$gw_port/" | grep -qi x-lua-custom; then
  echo "plain.example.com runs the Lua filter" >&2; exit 1
fi

# cpu_ticks pid: user+system clock ticks of portico run and its children
# (the proxy is a child process).
cpu_ticks() {
  local t=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}
run() { # host -> "rps p99_ms cpu_us_per_request"
  local out t0 t1 rps p99 total
  t0=$(cpu_ticks "$portico_pid")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Host: $1" "http://127.0.0.1:$gw_port/")
  t1=$(cpu_ticks "$portico_pid")
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers for $1:" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out")
  echo "$rps $p99 $(awk "BEGIN{printf \"%.1f\", ($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $total}")"
}

echo "wrk -t2 -c$conns -d${secs}s x $rounds rounds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
wrk -t2 -c10 -d2s -H 'Host: www.example.com' "http://127.0.0.1:$gw_port/" >/dev/null
wrk -t2 -c10 -d2s -H 'Host: plain.example.com' "http://127.0.0.1:$gw_port/" >/dev/null
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
