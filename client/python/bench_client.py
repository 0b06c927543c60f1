#!/usr/bin/python3
"""Throughput of ways to receive imagefeed batches in Python, against a real server.

    PYTHONPATH=client/python /usr/bin/python3 client/python/bench_client.py \
        [--server=HOST:PORT | --server_bin=build/bin/imagefeed-server] [--batches=60] [--rounds=3]

Streams 64x3x224x224 float32 batches of the demo dataset (38.5 MB each). Every measurement
runs in a fresh process (malloc settings are per process); methods alternate in rounds
and the medians are printed as MB/s (wall) and the client's CPU seconds per GB, with
ratios against the first row, the generated stub used plainly:

  protobuf      the generated stub: Batch.FromString, then np.frombuffer(msg.data)
  bytes-only    grpcio with no deserializer; the batch is never looked at (grpcio's floor)
  imagefeed     imagefeed.Client.batches over grpcio (native_receive=False): wire-format
                scan, np.frombuffer over the message
  imagefeed native
                the same, the messages received through imagefeed._native (gRPC C++, one
                copy per message; Client's default when built)
  ... +malloc   the same with imagefeed's glibc tuning (Client's default, see _malloc.py)

On a loaded 2-core machine the server (decoding and resizing 64 images per batch on the
same cores) bounds MB/s; CPU-s/GB is the client's own cost.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import imagefeed  # noqa: E402
import imagefeed._malloc  # noqa: E402
import json  # noqa: E402
import grpc  # noqa: E402
import numpy as np  # noqa: E402
from imagefeed.v1 import imagefeed_pb2 as pb  # noqa: E402
from imagefeed.v1 import imagefeed_pb2_grpc as pb_grpc  # noqa: E402

BATCH = 64
SIZE = 224
OPTIONS = [("grpc.max_receive_message_length", 1 << 30)]


def request(epoch):
    return pb.StreamBatchesRequest(dataset="demo", batch_size=BATCH, height=SIZE, width=SIZE,
                                   shuffle=True, epoch=epoch, drop_last=True)


def epochs():
    e = 0
    while True:
        yield e
        e += 1


def run_bytes_only(target, batches):
    channel = grpc.insecure_channel(target, options=OPTIONS)
    method = channel.unary_stream("/imagefeed.v1.ImageFeed/StreamBatches",
                                  request_serializer=pb.StreamBatchesRequest.SerializeToString)
    total = n = 0
    for e in epochs():
        for raw in method(request(e)):
            total += len(raw)
            n += 1
            if n == batches:
                channel.close()
                return total


def run_protobuf(target, batches):
    channel = grpc.insecure_channel(target, options=OPTIONS)
    stub = pb_grpc.ImageFeedStub(channel)
    total = n = 0
    for e in epochs():
        for msg in stub.StreamBatches(request(e)):
            images = np.frombuffer(msg.data, dtype=np.float32).reshape(tuple(msg.shape))
            labels = np.array(msg.labels, dtype=np.int64)
            total += images.nbytes + labels.nbytes
            n += 1
            if n == batches:
                channel.close()
                return total


def run_imagefeed(target, batches, native=False):
    # gRPC bytes (a loopback server would otherwise get the shared-memory ring); the worker
    # process decides about malloc.
    client = imagefeed.Client(target, tune_malloc=False, transport="grpc", native_receive=native)
    total = n = 0
    for e in epochs():
        for b in client.batches("demo", batch_size=BATCH, size=(SIZE, SIZE), epoch=e, drop_last=True):
            total += b.images.nbytes + b.labels.nbytes
            n += 1
            if n == batches:
                client.close()
                return total


def run_imagefeed_native(target, batches):
    return run_imagefeed(target, batches, native=True)


# (label, function, tune malloc)
METHODS = [("protobuf", run_protobuf, False), ("bytes-only", run_bytes_only, False),
           ("imagefeed", run_imagefeed, False), ("imagefeed native", run_imagefeed_native, False),
           ("protobuf +malloc", run_protobuf, True), ("bytes-only +malloc", run_bytes_only, True),
           ("imagefeed +malloc", run_imagefeed, True), ("imagefeed native +malloc", run_imagefeed_native, True)]


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn, target, batches):
    wall, cpu = time.perf_counter(), cpu_seconds()
    nbytes = fn(target, batches)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return nbytes / wall / 1e6, cpu / (nbytes / 1e9)


def start_server(binary, cache_dir):
    proc = subprocess.Popen([binary, "--listen=127.0.0.1:0", f"--cache_dir={cache_dir}"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("imagefeed-server listening on "):
        proc.kill()
        sys.exit(f"bench_client: server did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1]


def worker(args):
    label, fn, tune = METHODS[args.worker]
    if tune:
        imagefeed._malloc.tune_malloc()
    fn(args.server, 2)  # connect, warm up
    mbs, cpu = measure(fn, args.server, args.batches)
    print(json.dumps({"mbs": mbs, "cpu": cpu}))


def run_worker(index, target, batches):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), f"--worker={index}",
                          f"--server={target}", f"--batches={batches}"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return r["mbs"], r["cpu"]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="HOST:PORT of a running server (default: start one)")
    parser.add_argument("--server_bin", default=os.path.join(here, "../../build/bin/imagefeed-server"))
    parser.add_argument("--batches", type=int, default=60, help="batches per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args)

    proc = None
    with tempfile.TemporaryDirectory() as cache_dir:
        target = args.server
        if target is None:
            proc, target = start_server(args.server_bin, cache_dir)
        try:
            run_bytes_only(target, 4)  # warm up: demo dataset, page cache, buffer pools
            results = [[] for _ in METHODS]
            for _ in range(args.rounds):
                for i in range(len(METHODS)):
                    results[i].append(run_worker(i, target, args.batches))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait()
    print(f"{args.batches} batches of {BATCH}x3x{SIZE}x{SIZE} float32 ({BATCH * 3 * SIZE * SIZE * 4 / 1e6:.1f} MB) "
          f"per measurement, median of {args.rounds}")
    print(f"{'method':<26} {'MB/s':>7} {'ratio':>6} {'client CPU-s/GB':>16} {'ratio':>6}")
    base_mbs = base_cpu = None
    for (label, _, _), rs in zip(METHODS, results):
        mbs = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        if base_mbs is None:
            base_mbs, base_cpu = mbs, cpu
        print(f"{label:<26} {mbs:7.0f} {mbs / base_mbs:6.2f} {cpu:16.2f} {cpu / base_cpu:6.2f}")


if __name__ == "__main__":
    main()
