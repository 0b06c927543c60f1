#!/usr/bin/env bash
# Runs examples/train_torch.py for 6 epochs against a real server on the demo dataset and checks
# that it reports a validation accuracy clearly above chance (0.25 for 4 classes) after 6 epochs.
set -euo pipefail
server=$1 example=$2
tmp=$(mktemp -d)
"$server" --listen=127.0.0.1:0 --cache_dir="$tmp" --threads=2 >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 300); do grep -q "listening on" "$tmp/log" && break; sleep 0.1; done
addr=$(sed -n 's/^imagefeed-server listening on //p' "$tmp/log")
/usr/bin/python3 "$example" --server="$addr" --epochs=6 --workers=2 | tee "$tmp/out"
acc=$(sed -n 's/.*validation accuracy \([0-9.]*\).*/\1/p' "$tmp/out" | tail -n 1)
/usr/bin/python3 -c "import sys; a = float('$acc'); print('final validation accuracy', a); sys.exit(0 if a > 0.6 else 1)"
