#!/usr/bin/env bash
# `make bench`: the figures of the first vertical slice, on this machine,
# side by side with the peer (workerd) and the ceiling (nginx):
#   - req/s and p50/p99 for one hot counter and for 10,000 random counters,
#     wrk -t1 -c32 -d10s; dorm with --durability fsync and process;
#   - RSS of the server idle and after 10,000 instances;
#   - the time to deploy a 100 KB TypeScript file;
#   - WebSockets (bench/ws.mjs with bench/room.js): fan-out to 100 clients,
#     1,000 sockets opened at once, one broadcast to 1,000, RSS with 10,000
#     idle (hibernated) sockets;
#   - storage (bench/storage.mjs with bench/store.js and bench/alarm.js):
#     KV and SQL operations per second inside one instance, commits per
#     second under 32 connections in both durability modes, alarm lateness
#     with 10,000 alarms pending and on an idle server.
# Results go to stdout and bench/out/results.txt. Loopback only.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bin=build/dorm
out=bench/out
mkdir -p "$out"
port=${BENCH_PORT:-18787}
peer_port=${BENCH_PEER_PORT:-18788}
duration=${BENCH_DURATION:-10s}
workerd=deps/peer/node_modules/.bin/workerd
: > "$out/results.txt"
say() { echo "$*" | tee -a "$out/results.txt"; }

wait_http() { # url pid
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "bench: the server exited" >&2; return 1; }
    sleep 0.05
  done
  echo "bench: no answer from $1" >&2
  return 1
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
run_wrk() { # label url script
  local r
  r=$(wrk -t1 -c32 -d"$duration" -s "bench/$3" "$2" | grep RESULT)
  say "$(printf '%-22s %s' "$1" "${r#RESULT }")"
}
# Creates counters c1..c10000 (one POST each), 32 at a time.
touch_all() {
  for i in $(seq 1 10000); do printf 'url = "%s/_do/counter/c%d"\nrequest = "POST"\noutput = "/dev/null"\n' "$1" "$i"; done > "$out/all.curl"
  curl -s --no-progress-meter -K "$out/all.curl" --parallel --parallel-max 32 || true
}

# ---- dorm
for mode in fsync process; do
  data=$(mktemp -d)
  "$bin" serve --listen "127.0.0.1:$port" --data "$data" --durability "$mode" 2>"$out/server-$mode.log" &
  pid=$!
  wait_http "http://127.0.0.1:$port/_api/health" "$pid"
  "$bin" deploy counter examples/counter.ts --access public --url "http://127.0.0.1:$port" --data "$data" >/dev/null
  say "== dorm, --durability $mode"
  say "rss idle: $(rss_kb "$pid") KiB"
  run_wrk "hot counter" "http://127.0.0.1:$port" hot.lua
  run_wrk "10,000 counters" "http://127.0.0.1:$port" random.lua
  touch_all "http://127.0.0.1:$port"
  say "rss after 10,000 instances: $(rss_kb "$pid") KiB"
  if [ "$mode" = fsync ]; then
    "$bin" deploy bench-room bench/room.js --access public --url "http://127.0.0.1:$port" --data "$data" >/dev/null
    node bench/ws.mjs "http://127.0.0.1:$port" "$pid" | sed 's/^RESULT /websockets: /' | tee -a "$out/results.txt"
  fi
  if [ "$mode" = process ]; then
    node -e '
      let s = "// generated benchmark class\nexport class Big {\n  async fetch(req: Request): Promise<Response> { return new Response(\"ok\"); }\n";
      let i = 0;
      while (s.length < 100 * 1024) { s += `  method${i}(a: number, b: string): { x: number; y: string } { const z: number[] = [a, ${i}]; return { x: z.length + a, y: b + "${i}" }; }\n`; i++; }
      s += "}\n";
      require("fs").writeFileSync(process.argv[1], s);
    ' "$out/big.ts"
    t0=$(date +%s%N)
    "$bin" deploy big "$out/big.ts" --access public --url "http://127.0.0.1:$port" --data "$data" >/dev/null
    t1=$(date +%s%N)
    say "deploy of a $(stat -c %s "$out/big.ts")-byte TypeScript file: $(( (t1 - t0) / 1000000 )) ms"
  fi
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$data"
done

# ---- storage, on servers of its own
node bench/storage.mjs "$bin" "${duration%s}" | tee -a "$out/results.txt"

# ---- the peer: workerd, the same counter, on-disk SQLite storage
if [ -x "$workerd" ]; then
  wd=$(mktemp -d)
  mkdir -p "$wd/storage"
  cp bench/peer/config.capnp bench/peer/worker.js bench/room.js "$wd/"
  (cd "$wd" && exec "$top/$workerd" serve config.capnp --socket-addr "http=127.0.0.1:$peer_port") 2>"$out/workerd.log" &
  pid=$!
  wait_http "http://127.0.0.1:$peer_port/_do/counter/warm" "$pid"
  say "== workerd $("$workerd" --version 2>/dev/null | head -1)"
  say "rss idle: $(rss_kb "$pid") KiB"
  run_wrk "hot counter" "http://127.0.0.1:$peer_port" hot.lua
  run_wrk "10,000 counters" "http://127.0.0.1:$peer_port" random.lua
  touch_all "http://127.0.0.1:$peer_port"
  say "rss after 10,000 instances: $(rss_kb "$pid") KiB"
  node bench/ws.mjs "http://127.0.0.1:$peer_port" "$pid" | sed 's/^RESULT /websockets: /' | tee -a "$out/results.txt"
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$wd"
else
  say "== workerd: not installed (scripts/setup.sh --bench installs it); skipped"
fi

# ---- the ceiling: nginx answering a constant, one worker
if command -v nginx >/dev/null; then
  ng=$(mktemp -d)
  cat > "$ng/nginx.conf" <<EOF
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$peer_port; location / { return 200 "1\n"; } }
}
EOF
  nginx -c "$ng/nginx.conf" -p "$ng" -g 'daemon off;' &
  pid=$!
  wait_http "http://127.0.0.1:$peer_port/" "$pid"
  say "== nginx, a constant answer"
  run_wrk "constant" "http://127.0.0.1:$peer_port" hot.lua
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$ng"
fi
