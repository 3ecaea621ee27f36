#!/usr/bin/env bash
# Proxy throughput and tail latency: Portico's built-in proxy (`portico run`
# on a generated quickstart) against nginx as a reverse proxy, both in front
# of the same static loopback backend (bench/proxy-backend), measured with
# wrk. Prints requests/s, p99 and CPU time per request for each proxy and
# connection count, the built-in proxy's share of nginx's requests/s
# (target: >= 70%) and nginx's CPU per request over the built-in proxy's.
#
# Usage: bench/proxy.sh [seconds per run (10)] [connection counts ("10 100")]
# PPROF=out.pprof also saves a CPU profile of the built-in proxy's first
# run (admin.enablePprof); read it with `go tool pprof -top out.pprof`. The
# profile is of portico run's own process, so with PPROF the proxy runs in
# it (--data-plane in-process) rather than as its child.
# Everything binds 127.0.0.1, on free ports (bench/lib.sh). Needs wrk and
# nginx (installed with apt-get when missing). Both proxies write an access log (Envoy Gateway's default
# is on), to /dev/null. Runs alternate proxies so that a busy neighbour on a
# shared machine hurts both alike; the ratio is the figure to read.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=(${2:-10 100})

. bench/lib.sh
bench_need wrk nginx curl
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

bench_backend
# The built-in proxy: the quickstart pointed at the static backend.
mkdir -p "$work/config"
bench_quickstart "$work/config/quickstart.yaml"
printf 'apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: EnvoyGateway\nadmin:\n  enablePprof: %s\n' \
  "$([ -n "${PPROF:-}" ] && echo true || echo false)" > "$work/eg.yaml"
bench_portico_run --config "$work/eg.yaml" -f "$work/config" \
  --data-plane "$([ -n "${PPROF:-}" ] && echo in-process || echo builtin)"

# nginx: two workers (the machine's cores, as GOMAXPROCS), upstream
# keep-alive as a tuned deployment has it, a JSON access log like Envoy
# Gateway's default.
ng_port=$(freeport)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  log_format json escape=json '{"start_time":"\$time_iso8601","method":"\$request_method","path":"\$request_uri","protocol":"\$server_protocol","response_code":"\$status","bytes_sent":"\$body_bytes_sent","duration":"\$request_time","upstream_host":"\$upstream_addr","x_forwarded_for":"\$http_x_forwarded_for","user_agent":"\$http_user_agent","authority":"\$host"}';
  access_log /dev/null json;
  upstream backend { server 127.0.0.1:$be_port; keepalive 256; }
  server {
    listen 127.0.0.1:$ng_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>>"$work/nginx/error.log" &
pids+=($!)
nginx_pid=$!

bench_wait "http://127.0.0.1:$be_port/" www.example.com
bench_wait "http://127.0.0.1:$gw_port/" www.example.com
bench_wait "http://127.0.0.1:$ng_port/" www.example.com

# run port conns pid -> "rps p99_ms cpu_us_per_request"
run() { bench_wrk "http://127.0.0.1:$1/" www.example.com "$2" "$3"; }

bench_header "wrk -t2 -d${secs}s, static backend (128 B body)"
bench_warm "http://127.0.0.1:$gw_port/" www.example.com
bench_warm "http://127.0.0.1:$ng_port/" www.example.com
printf '%-6s %12s %8s %10s %12s %8s %10s %8s %9s\n' conns builtin_rps p99_ms cpu_us/req nginx_rps p99_ms cpu_us/req rps_ratio cpu_ratio
first=1
for c in "${conns[@]}"; do
  if [ -n "${PPROF:-}" ] && [ $first = 1 ]; then
    curl -s -o "$PPROF" "http://$admin/debug/pprof/profile?seconds=$((secs > 2 ? secs - 2 : 1))" &
    pids+=($!)
  fi
  first=0
  read -r b_rps b_p99 b_cpu < <(run "$gw_port" "$c" "$portico_pid")
  read -r n_rps n_p99 n_cpu < <(run "$ng_port" "$c" "$nginx_pid")
  ratio=$(awk "BEGIN{printf \"%.0f%%\", 100*$b_rps/$n_rps}")
  cratio=$(awk "BEGIN{printf \"%.0f%%\", 100*$n_cpu/$b_cpu}")
  printf '%-6s %12.0f %8s %10s %12.0f %8s %10s %8s %9s\n' "$c" "$b_rps" "$b_p99" "$b_cpu" "$n_rps" "$n_p99" "$n_cpu" "$ratio" "$cratio"
done
# Peak resident memory of the built-in proxy's process (the child `portico
# proxy` of portico run) and of the control plane, to check that GC tuning
# keeps memory bounded.
for p in $(pgrep -P "$portico_pid" 2>/dev/null || true); do
  echo "builtin proxy peak RSS: $(awk '/^VmHWM/ {print $2, $3}' "/proc/$p/status")"
done
echo "control plane peak RSS: $(awk '/^VmHWM/ {print $2, $3}' "/proc/$portico_pid/status")"
