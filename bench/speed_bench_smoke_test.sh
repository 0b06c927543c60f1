#!/usr/bin/env bash
# Keeps bench/speed_bench.py working (no timing is asserted): one recipe on 20 generated
# photos, a fraction of a second per pipeline; checks that the table has every column and
# the JSON a positive number for each pipeline and ratio.
# Usage: speed_bench_smoke_test.sh BUILD_DIR DATA_DIR
set -euo pipefail
build=$1 data=$2
shared=${IMAGEFEED_SHARED_DIR:-$(dirname "$0")/../../shared}
if [[ ! -f "$shared/datasets/make_photos.py" ]]; then
  echo "SKIP: $shared/datasets/make_photos.py not found (set IMAGEFEED_SHARED_DIR)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$(dirname "$0")/speed_bench.py" --images 20 --seconds 0.2 --rounds 2 --recipes center --dtypes float32 --transports grpc,shm,grpcio \
  --json --build_dir "$build" --data_dir "$data" --make_photos "$shared/datasets/make_photos.py" \
  >"$tmp/json" 2>"$tmp/table"
cat "$tmp/table" "$tmp/json"
/usr/bin/python3 - "$tmp/json" "$tmp/table" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
table = open(sys.argv[2]).read()
for col in ("recipe", "dtype", "naive img/s", "imagefeed img/s", "pytorch img/s", "imagefeed/naive",
            "imagefeed/pytorch", "imagefeed VmHWM MiB", "imagefeed accounted MiB"):
    assert col in table, (col, table)
assert r["images"] == 20 and r["transports"] == ["grpc", "shm", "grpcio"], r
(row,) = r["results"]
assert (row["recipe"], row["dtype"]) == ("center", "float32"), row
for pipeline in (row["naive"], row["pytorch"], row["imagefeed"]["grpc"], row["imagefeed"]["shm"],
                 row["imagefeed"]["grpcio"]):
    assert pipeline["images"] >= 20 and pipeline["images_per_second"] > 0, pipeline
    assert pipeline["images_per_cpu_second"] > 0, pipeline
for t in ("grpc", "shm", "grpcio"):
    run = row["imagefeed"][t]
    # A float32 center batch is 20 x 3 x 224 x 224 x 4 bytes: at least one was accounted.
    assert run["server_accounted_peak_kib"] >= 20 * 3 * 224 * 224 * 4 // 1024, run
    assert run["server_vmhwm_kib"] > run["server_accounted_peak_kib"] or t == "shm", run
    assert run["server_unaccounted_kib"] == run["server_vmhwm_kib"] - run["server_accounted_peak_kib"], run
assert row["ratios"]["imagefeed/naive"] > 0 and row["ratios"]["imagefeed/pytorch"] > 0, row
# Two rounds: each pipeline reports its slower round's rate (the lower median), each ratio the
# mean of the two rounds' ratios (their median), the memory figures the higher round's.
assert r["rounds"] == 2 and len(row["rounds"]) == 2, row
def rate(rnd, kind, t=None):
    p = rnd["imagefeed"][t] if kind == "imagefeed" else rnd[kind]
    return p["images_per_second"]
for kind, t, reported in (("naive", None, row["naive"]), ("pytorch", None, row["pytorch"]),
                          ("imagefeed", "grpc", row["imagefeed"]["grpc"]), ("imagefeed", "shm", row["imagefeed"]["shm"])):
    assert reported["images_per_second"] == min(rate(x, kind, t) for x in row["rounds"]), (kind, t, row)
for t, key in (("grpc", "imagefeed"), ("shm", "imagefeed-shm")):
    per_round = [rate(x, "imagefeed", t) / rate(x, "pytorch") for x in row["rounds"]]
    assert abs(row["ratios"][key + "/pytorch"] - sum(per_round) / 2) <= 0.006, (per_round, row["ratios"])
    assert row["imagefeed"][t]["server_vmhwm_kib"] == max(x["imagefeed"][t]["server_vmhwm_kib"] for x in row["rounds"])
print("speed bench smoke ok")
PY
