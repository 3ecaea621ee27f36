# Shared scaffolding of the proxy benchmark drivers (bench/proxy.sh,
# bench/wasm.sh, examples/lua/bench.sh, examples/ext-proc/bench.sh):
# a scratch directory and the processes started, cleaned up on exit; free
# loopback ports; the static backend; `portico run` on addresses of its own
# (never the default admin, xDS and wasm ports, nor the user's state and
# cache directories, so a driver runs beside another `portico run`); waiting
# for a route; and one wrk run measured as requests/s, p99 and CPU per
# request of the processes that served it.
#
# Source it from the repository root: `. bench/lib.sh`. It sets work (the
# scratch directory) and pids (killed on exit).

work=$(mktemp -d)
pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_need tool...: installs the Debian packages of missing tools.
bench_need() {
  local need=() t
  for t in "$@"; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || need+=("$t")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# bench_backend: builds portico and the static backend (bench/proxy-backend)
# into $work and starts the backend on be_port.
bench_backend() {
  go build -o "$work/portico" ./cmd/portico
  go build -o "$work/backend" ./bench/proxy-backend
  be_port=$(freeport)
  "$work/backend" -addr "127.0.0.1:$be_port" >/dev/null &
  pids+=($!)
}

# bench_quickstart FILE: Envoy Gateway's quickstart with its Gateway on
# gw_port (chosen here) and its Service at the backend.
bench_quickstart() {
  gw_port=$(freeport)
  sed -e "s/port: 80$/port: $gw_port/" -e "s/3000/$be_port/g" -e "/^  ports:$/i\\  clusterIP: 127.0.0.1" \
    examples/quickstart/quickstart.yaml > "$1"
}

# bench_portico_run ARG...: `portico run ARG...` on free loopback ports
# (admin, xDS, wasm), with its state and wasm cache in $work and its log in
# $work/portico.log (its stdout, the access log, to $PORTICO_STDOUT or
# /dev/null); sets portico_pid and admin.
bench_portico_run() {
  admin=127.0.0.1:$(freeport)
  "$work/portico" run "$@" --admin-address "$admin" --xds-address "127.0.0.1:$(freeport)" \
    --wasm-address "127.0.0.1:$(freeport)" --wasm-cache-dir "$work/wasm-cache" --state-dir "$work/state" \
    --listener-address 127.0.0.1 --log-level warn >"${PORTICO_STDOUT:-/dev/null}" 2>"$work/portico.log" &
  pids+=($!)
  portico_pid=$!
}

# bench_wait URL HOST [HEADER]: until URL answers 200 for Host HOST (with a
# response header line matching HEADER, case-insensitive), at most 60 s;
# otherwise prints the logs in $work and exits.
bench_wait() {
  local h
  for _ in $(seq 600); do
    h=$(curl -s -D - -o /dev/null -H "Host: $2" "$1" || true)
    if grep -q '^HTTP/1.1 200' <<<"$h" && { [ -z "${3:-}" ] || grep -qi "^$3" <<<"$h"; }; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1 for $2${3:+ with $3}" >&2
  cat "$work"/*.log >&2 2>/dev/null || true
  exit 1
}

# cpu_ticks pid...: user+system clock ticks of the processes and of the
# first one's children (the proxy child of portico run, nginx's workers).
cpu_ticks() {
  local t=0 p
  for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}

# bench_wrk URL HOST CONNS PID...: one wrk run of secs seconds ->
# "rps p99_ms cpu_us_per_request..." with one CPU figure per PID (each
# with its children). CPU per request is the steadier figure when
# neighbours take CPU: it does not depend on how much CPU the process got,
# only on what each request cost. Exits on any non-2xx answer.
bench_wrk() {
  local url=$1 host=$2 conns=$3 out total rps p99 hz p
  shift 3
  local before=() after=() cpu=()
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Host: $host" "$url")
  for p in "$@"; do after+=("$(cpu_ticks "$p")"); done
  if grep -q 'Non-2xx' <<<"$out"; then echo "non-2xx answers from $url for $host:" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out")
  hz=$(getconf CLK_TCK)
  for i in "${!before[@]}"; do
    cpu+=("$(awk "BEGIN{printf \"%.1f\", (${after[$i]} - ${before[$i]}) * 1e6 / $hz / $total}")")
  done
  echo "$rps $p99 ${cpu[*]}"
}

# bench_warm URL HOST...: two seconds of wrk per host (connection pools,
# Go's heap).
bench_warm() {
  local url=$1 h
  shift
  for h in "$@"; do wrk -t2 -c10 -d2s -H "Host: $h" "$url" >/dev/null; done
}

# bench_header: the line every driver starts its figures with.
bench_header() { echo "$1, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"; }
