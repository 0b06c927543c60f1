#!/usr/bin/env bash
# Installs what is missing, builds, starts imagefeed-server on the built-in demo
# dataset, streams a few batches with the imagefeed CLI, stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh

log=$(mktemp)
./build/bin/imagefeed-server --listen=127.0.0.1:0 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT

# Wait for "imagefeed-server listening on HOST:PORT" (the demo dataset is generated on first use).
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's/^imagefeed-server listening on //p' "$log")
  [[ -n "$addr" ]] && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "demo.sh: server did not start"; cat "$log"; exit 1; }
echo "== server on $addr"

./build/bin/imagefeed info --server="$addr"
echo "== 4 shuffled batches of 16, 64x64, rescaled to [0,1]"
./build/bin/imagefeed fetch --server="$addr" --dataset=demo --batch_size=16 --batches=4 --size=64x64

kill -TERM $server
wait $server
trap - EXIT
rm -f "$log"
echo "== server stopped cleanly"
