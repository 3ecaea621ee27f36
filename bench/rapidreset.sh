#!/usr/bin/env bash
# HTTP/2 rapid reset (CVE-2023-44487) against the built-in proxy: `portico
# run` on Envoy Gateway's quickstart, flooded for N seconds by
# bench/rapidreset (HEADERS then RST_STREAM, reconnecting whenever the
# proxy closes a connection). Prints the streams sent, the connections the
# proxy closed, the access log lines it wrote (stdout, to a file) and the
# CPU it used (portico run and its proxy child), and the lines it dropped
# and summarised.
#
# Usage: bench/rapidreset.sh [seconds (10)]
# PORTICO_BIN=path measures that portico binary instead of this tree's
# (build another commit's to compare before and after).
# Everything binds 127.0.0.1, on free ports (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}

. bench/lib.sh
bench_need curl
bench_backend
if [ -n "${PORTICO_BIN:-}" ]; then cp "$PORTICO_BIN" "$work/portico"; fi
go build -o "$work/rapidreset" ./bench/rapidreset
mkdir -p "$work/config"
bench_quickstart "$work/config/quickstart.yaml"
PORTICO_STDOUT="$work/access.log" bench_portico_run -f "$work/config"
bench_wait "http://127.0.0.1:$gw_port/" www.example.com
sleep 2 # the warm-up request's line is flushed
lines0=$(wc -l < "$work/access.log")
cpu0=$(cpu_ticks "$portico_pid")
flood=$("$work/rapidreset" -addr "127.0.0.1:$gw_port" -d "${secs}s")
cpu1=$(cpu_ticks "$portico_pid")
sleep 3 # buffered lines and the drop summary reach the file
lines1=$(wc -l < "$work/access.log")
bench_header "rapid reset flood, ${secs}s"
echo "$flood"
echo "access_log_lines $((lines1 - lines0)) proxy_cpu_s $(awk "BEGIN{printf \"%.2f\", ($cpu1 - $cpu0) / $(getconf CLK_TCK)}")"
# The lines Portico dropped and summarised (text or JSON summaries).
dropped=$(grep -oE '"portico_access_log_dropped":[0-9]+|portico: [0-9]+ access log entries' "$work/access.log" |
  grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}')
echo "access_log_lines_dropped $dropped"
