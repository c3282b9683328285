#!/usr/bin/env bash
# `make run`: starts dorm on 127.0.0.1:8787 with the examples deployed
# (public), data in ./.dorm, and stays in the foreground until Ctrl-C.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
listen=${DORM_LISTEN:-127.0.0.1:8787}
data=${DORM_DATA:-./.dorm}
bin=build/dorm

"$bin" serve --listen "$listen" --data "$data" "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; exit 0' INT TERM

url="http://$listen"
for _ in $(seq 1 100); do
  if curl -fsS "$url/_api/health" >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { echo "run: the server exited" >&2; exit 1; }
  sleep 0.1
done
for f in examples/*.ts; do
  name=$(basename "$f" .ts)
  "$bin" deploy "$name" "$f" --access public --url "$url" --data "$data" || true
done
echo
echo "dorm is running at $url  (Ctrl-C to stop)"
echo "  try: curl -X POST $url/_do/counter/alice"
wait $pid
