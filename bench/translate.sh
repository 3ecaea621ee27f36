#!/usr/bin/env bash
# Wall time and peak RSS of `portico x translate` (load, validate,
# translate, print) at 100, 1000 and 10000 HTTPRoutes, each the best of
# three runs. Usage: bench/translate.sh [sizes...]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100 1000 10000}")
[ $# -eq 0 ] && sizes=(100 1000 10000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/portico" ./cmd/portico
go build -o "$work/gen-routes" ./bench/gen-routes
if ! [ -x /usr/bin/time ]; then
  # GNU time reports peak RSS; Debian packages it as "time".
  (apt-get update -qq && apt-get install -y -qq time) >/dev/null 2>&1 ||
    { echo "needs GNU time: apt-get install -y time" >&2; exit 1; }
fi
# cpu_s (user+sys) is the steadier figure on a busy machine; wall_s is what
# a user waits.
printf '%-8s %10s %8s %12s %12s\n' routes wall_s cpu_s peak_rss_mb output_mb
for n in "${sizes[@]}"; do
  "$work/gen-routes" -routes "$n" > "$work/in-$n.yaml"
  best_wall="" best_rss="" best_cpu=""
  for _ in 1 2 3; do
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$work/portico" x translate -f "$work/in-$n.yaml" --to gateway-api,xds > "$work/out.yaml"
    read -r wall user sys rss < "$work/time"
    cpu=$(awk "BEGIN{print $user + $sys}")
    if [ -z "$best_wall" ] || awk "BEGIN{exit !($wall < $best_wall)}"; then best_wall=$wall; best_rss=$rss; best_cpu=$cpu; fi
  done
  out_mb=$(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$work/out.yaml")/1048576}")
  printf '%-8s %10s %8s %12.1f %12s\n' "$n" "$best_wall" "$best_cpu" "$(awk "BEGIN{print $best_rss/1024}")" "$out_mb"
done
