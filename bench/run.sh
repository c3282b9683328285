#!/usr/bin/env bash
# `make bench`: the figures of the first vertical slice, on this machine.
#   - req/s and p50/p99 for one hot counter and for 10,000 random counters,
#     wrk -t1 -c32 -d10s, with --durability fsync and process;
#   - RSS of the server idle and after 10,000 instances;
#   - the time to deploy a 100 KB TypeScript file.
# Results go to stdout and bench/out/results.txt. Loopback only.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=build/dorm
out=bench/out
mkdir -p "$out"
port=${BENCH_PORT:-18787}
url="http://127.0.0.1:$port"
duration=${BENCH_DURATION:-10s}
: > "$out/results.txt"
say() { echo "$*" | tee -a "$out/results.txt"; }

start() {
  data=$(mktemp -d)
  "$bin" serve --listen "127.0.0.1:$port" --data "$data" --durability "$1" 2>"$out/server-$1.log" &
  pid=$!
  for _ in $(seq 1 200); do curl -fsS "$url/_api/health" >/dev/null 2>&1 && break; sleep 0.05; done
  "$bin" deploy counter examples/counter.ts --access public --url "$url" --data "$data" >/dev/null
}
stop() { kill -TERM "$pid"; wait "$pid" || true; rm -rf "$data"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

for mode in fsync process; do
  start "$mode"
  say "== durability $mode"
  say "rss idle: $(rss_kb) KiB"
  r=$(wrk -t1 -c32 -d"$duration" -s bench/hot.lua "$url" | grep RESULT)
  say "hot counter:        $r"
  r=$(wrk -t1 -c32 -d"$duration" -s bench/random.lua "$url" | grep RESULT)
  say "10,000 counters:    $r"
  # make sure all 10,000 exist, then measure
  for i in $(seq 1 10000); do echo "url = \"$url/_do/counter/c$i\""; echo "request = \"POST\""; done > "$out/all.curl"
  curl -s -K "$out/all.curl" -o /dev/null --parallel --parallel-max 32 || true
  say "rss after 10,000 instances: $(rss_kb) KiB"
  stop
done

start process
node -e '
  let s = "// generated benchmark class\nexport class Big {\n  async fetch(req: Request): Promise<Response> { return new Response(\"ok\"); }\n";
  let i = 0;
  while (s.length < 100 * 1024) { s += `  method${i}(a: number, b: string): { x: number; y: string } { const z: number[] = [a, ${i}]; return { x: z.length + a, y: b + "${i}" }; }\n`; i++; }
  s += "}\n";
  require("fs").writeFileSync(process.argv[1], s);
' "$out/big.ts"
t0=$(date +%s%N)
"$bin" deploy big "$out/big.ts" --access public --url "$url" --data "$data" >/dev/null
t1=$(date +%s%N)
say "deploy of a $(stat -c %s "$out/big.ts")-byte TypeScript file: $(( (t1 - t0) / 1000000 )) ms"
stop
