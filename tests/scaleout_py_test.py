#!/usr/bin/python3
"""Scale-out with the Python client against real server processes on 127.0.0.1 (issue #10).

Fan-in over several servers must be byte-identical to one server; a server killed
(SIGKILL) or stopped (SIGSTOP) mid-epoch must not change what is delivered; cursors resume
on other servers and with another world size; even shards give every rank the same number
of batches. References are independent of the code under test where one exists: one
server's stream (the contract's definition of the fan-in result), the set of sample ids an
epoch must cover, and torch's own DistributedSampler for even shards.

Datasets are written here (16x16 PNGs, pixels derived from the sample id). Summary of the
measured numbers (failover time, thread and RSS counts around 1,000 cancels) is printed at
the end.
"""
import collections
import hashlib
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings
import zlib

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))
import imagefeed  # noqa: E402
from imagefeed import _client, _cursor  # noqa: E402

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
SUMMARY = collections.OrderedDict()
BIG_N = 240    # samples of "big"
EVEN_N = 67    # samples of "even" (67 = 2 * 33 + 1: uneven over 2, 3 and 4 ranks)
BROKEN_ID = 7  # the truncated file of "broken"


def png(pixels_rgb, width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"".join(bytes(pixels_rgb(x, y)) for x in range(width)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_dataset(root, n, salt=0, corrupt=None):
    """n 16x16 PNGs in 3 classes; sample i's pixels depend on (i, x, y, salt)."""
    for i in range(n):
        cls = ("a", "b", "c")[i * 3 // n]
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        data = png(lambda x, y, i=i: ((i * 7 + salt) % 256, (x * 16 + i) % 256, (y * 16) % 256), 16, 16)
        if i == corrupt:
            data = data[: len(data) // 2]
        with open(os.path.join(root, cls, f"{i:04d}.png"), "wb") as f:
            f.write(data)
    return root


class Server:
    """A running imagefeed-server; `address` is what it listens on."""

    def __init__(self, datasets, cache_dir, listen="127.0.0.1:0"):
        self.stderr = tempfile.TemporaryFile()
        args = [SERVER, f"--listen={listen}", f"--cache_dir={cache_dir}", "--threads=1", "--drain_seconds=1"]
        args += [f"--dataset={name}={path}" for name, path in datasets.items()]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        prefix = "imagefeed-server listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            self.proc.wait()
            self.stderr.seek(0)
            raise RuntimeError(f"server did not start: {line!r} {self.stderr.read()!r}")
        self.address = line[len(prefix):]

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()


def record(batch):
    """Everything a delivered batch is, tensor bytes as a digest."""
    return (hashlib.sha256(batch.images.tobytes()).hexdigest(), batch.images.shape, batch.labels.tolist(),
            batch.sample_ids.tolist(), batch.epoch, batch.position, batch.span, batch.cursor,
            list(batch.padded), [tuple(sorted(r.items())) for r in batch.replaced],
            [s["sample_id"] for s in batch.skipped])


def threads_now():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def settled_threads(limit=None, seconds=5.0):
    """(OS threads, Python threads) once gRPC's per-channel call threads of cancelled calls
    have ended: they exit when their channel has no call left, a moment after the cancel.
    Polls up to `seconds` for the Python count to reach `limit` (a condition, not a delay)."""
    deadline = time.monotonic() + seconds
    while limit is not None and threading.active_count() > limit and time.monotonic() < deadline:
        time.sleep(0.01)
    return threads_now(), threading.active_count()


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1


class ScaleOutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="imagefeed-scaleout-")
        d = lambda name: os.path.join(cls.tmp, name)  # noqa: E731
        cls.data = {"big": write_dataset(d("big"), BIG_N),
                    "broken": write_dataset(d("broken"), 60, corrupt=BROKEN_ID),
                    "even": write_dataset(d("even"), EVEN_N)}
        cls.other = write_dataset(d("other"), BIG_N, salt=1)  # same layout, other pixels
        cls.cache = d("cache")
        cls.servers = []
        cls.a, cls.b, cls.c = (cls.start(cls.data) for _ in range(3))

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start(cls, datasets, listen="127.0.0.1:0"):
        cls.servers.append(Server(datasets, cls.cache, listen))
        return cls.servers[-1]

    def fresh_three(self):
        return [self.start({"big": self.data["big"]}) for _ in range(3)]

    def sequence(self, target, dataset, **kwargs):
        with imagefeed.Client(target) as client, warnings.catch_warnings():
            warnings.simplefilter("ignore", imagefeed.SkippedSamplesWarning)  # "broken" is meant to be
            return [record(b) for b in client.batches(dataset, **kwargs)]

    # ---- fan-in ----------------------------------------------------------------------

    def test_one_vs_three_servers_byte_identical(self):
        three = [self.a.address, self.b.address, self.c.address]
        cases = [dict(dataset="big", shuffle=True, seed=3, rank=r, world_size=2, drop_last=dl)
                 for r in (0, 1) for dl in (False, True)]
        cases.append(dict(dataset="broken", shuffle=True, seed=5, drop_last=True, max_skip_fraction=0.5))
        for case in cases:
            kwargs = dict(case, batch_size=7, size=(12, 10))
            dataset = kwargs.pop("dataset")
            with self.subTest(**case):
                one = self.sequence(self.a.address, dataset, **kwargs)
                fan = self.sequence(three, dataset, **kwargs)
                self.assertEqual(fan, one)
                self.assertGreater(len(one), 3)
        # Full batches: the corrupt sample was replaced, the same way on every server.
        broken = self.sequence(three, "broken", batch_size=7, size=(12, 10), shuffle=True, seed=5,
                               drop_last=True, max_skip_fraction=0.5)
        replaced = [r for b in broken for r in b[9]]
        self.assertEqual(len(replaced), 1)
        self.assertEqual(dict(replaced[0])["original_id"], BROKEN_ID)
        self.assertTrue(all(len(b[3]) == 7 for b in broken))

    def test_fan_in_over_loopback_uses_shared_memory_on_every_server(self):
        # A client reads its servers' first messages in turn: a server whose short stream ended
        # before the client opened its ring must not have unlinked it (it fell back to gRPC, and
        # waited, before the server started streaming only once the client mapped the ring).
        three = [self.a.address, self.b.address, self.c.address]
        with imagefeed.Client(three) as client:
            for _ in range(3):
                stream = client.batches("big", batch_size=7, size=(12, 10), shuffle=False)
                count = sum(1 for _ in stream)  # not list(): held batches pin their ring slots
                self.assertGreater(count, 3)
                self.assertEqual(stream.transports, {t: "shm" for t in three})

    def test_dns_target_fans_in_to_every_address(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        servers = [self.start({"big": self.data["big"]}, f"127.0.0.{i}:{port}") for i in (1, 2, 3)]
        real = socket.getaddrinfo

        def stub(host, *args, **kwargs):
            if host == "feed.example":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"127.0.0.{i}", port)) for i in (3, 1, 2, 1)]
            return real(host, *args, **kwargs)

        socket.getaddrinfo = stub
        try:
            with imagefeed.Client(f"dns:///feed.example:{port}") as client:
                self.assertEqual(client.servers(), [f"127.0.0.{i}:{port}" for i in (1, 2, 3)])
                stream = client.batches("big", batch_size=16, size=8, seed=2)
                got = [record(b) for b in stream]
                self.assertEqual(sorted(stream.servers), sorted(s.address for s in servers))
        finally:
            socket.getaddrinfo = real
        self.assertEqual(got, self.sequence(self.a.address, "big", batch_size=16, size=8, seed=2))

    def test_fingerprint_mismatch_names_both_servers(self):
        other = self.start({"big": self.other})
        with imagefeed.Client([self.a.address, other.address]) as client:
            with self.assertRaises(imagefeed.ImageFeedError) as err:
                next(client.batches("big", batch_size=8))
        self.assertEqual(err.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn(self.a.address, str(err.exception))
        self.assertIn(other.address, str(err.exception))

    # ---- failover --------------------------------------------------------------------

    # 128x128 float32 batches of 8 are 1.5 MB: a server's 10 batches (15 MB) cannot all sit
    # in gRPC's buffers, so a server killed after the 5th delivered batch is mid-stream.
    FAILOVER = dict(batch_size=8, size=128, shuffle=True, seed=11)

    def consume_with(self, servers, client, at, action):
        """Reads the whole stream, calling action(stream) once `at` batches were delivered;
        returns (records, stream, seconds of the slowest next() after the action)."""
        stream = client.batches("big", **self.FAILOVER)
        out, slowest = [], 0.0
        while True:
            if len(out) == at:
                action(stream)
            began = time.monotonic()
            try:
                b = next(stream)
            except StopIteration:
                break
            if len(out) >= at:
                slowest = max(slowest, time.monotonic() - began)
            out.append(record(b))
        return out, stream, slowest

    def test_sigkill_one_of_three_mid_epoch_is_exactly_once_in_order(self):
        reference = self.sequence(self.a.address, "big", **self.FAILOVER)
        servers = self.fresh_three()
        victim = servers[5 % 3]  # the server of the 6th batch: the next one the client waits for
        with imagefeed.Client([s.address for s in servers], failover_timeout=30) as client:
            got, stream, slowest = self.consume_with(servers, client, 5, lambda s: victim.signal(signal.SIGKILL))
        self.assertEqual(got, reference)
        self.assertEqual([f[0] for f in stream.failovers], [victim.address])
        self.assertEqual(len(stream.servers), 2)
        SUMMARY["SIGKILL failover: slowest batch after the kill"] = f"{slowest:.2f} s"

    def test_sigstop_is_detected_by_the_progress_deadline(self):
        reference = self.sequence(self.a.address, "big", **self.FAILOVER)
        servers = self.fresh_three()
        victim = servers[5 % 3]
        try:
            with imagefeed.Client([s.address for s in servers], progress_timeout=3, failover_timeout=30) as client:
                got, stream, slowest = self.consume_with(servers, client, 5,
                                                         lambda s: victim.signal(signal.SIGSTOP))
        finally:
            victim.signal(signal.SIGCONT)
        self.assertEqual(got, reference)
        self.assertEqual([f[0] for f in stream.failovers], [victim.address])
        self.assertIn("progress_timeout", stream.failovers[0][1])
        self.assertLess(slowest, 20)
        SUMMARY["SIGSTOP failover (progress_timeout=3 s): slowest batch after the stop"] = f"{slowest:.2f} s"

    def test_all_servers_killed_names_every_server_and_does_not_hang(self):
        servers = self.fresh_three()
        killed = []

        def kill_all(_):
            for s in servers:
                s.signal(signal.SIGKILL)
            killed.append(time.monotonic())

        with imagefeed.Client([s.address for s in servers], failover_timeout=3) as client:
            with self.assertRaises(imagefeed.ImageFeedError) as err:
                self.consume_with(servers, client, 2, kill_all)
        elapsed = time.monotonic() - killed[0]
        self.assertEqual(err.exception.code, grpc.StatusCode.UNAVAILABLE)
        for s in servers:
            self.assertIn(s.address, str(err.exception))
        self.assertLess(elapsed, 15)
        SUMMARY["all 3 servers killed, failover_timeout=3 s: error after"] = f"{elapsed:.2f} s"

    # ---- resume ----------------------------------------------------------------------

    def test_cursor_resumes_on_other_servers(self):
        kwargs = dict(batch_size=9, size=8, shuffle=True, seed=4, epoch=2, drop_last=True)
        full = self.sequence(self.a.address, "big", **kwargs)
        with imagefeed.Client(self.a.address) as client:
            stream = client.batches("big", **kwargs)
            head = [record(next(stream)) for _ in range(4)]
            token = stream.cursor
            stream.close()
        self.assertTrue(token.startswith("ifc1.") and _cursor.decode(token).epoch == 2)
        kwargs.pop("epoch")  # taken from the cursor
        with imagefeed.Client([self.b.address, self.c.address]) as client:
            rest = [record(b) for b in client.batches("big", resume=token, **kwargs)]
        self.assertEqual(head + rest, full)

    def elastic(self, even_shards):
        """W=4 ranks read one batch of 5 each (20 of the 67 global positions), one rank's cursor
        is kept, W'=3 ranks continue from it: 47 positions left, uneven over 3."""
        kwargs = dict(batch_size=5, size=8, shuffle=True, seed=9, even_shards=even_shards)
        before, tokens = [], []
        with imagefeed.Client([self.a.address, self.b.address]) as client:
            for rank in range(4):
                stream = client.batches("even", rank=rank, world_size=4, **kwargs)
                for _ in range(1):
                    b = next(stream)
                    before += [(i, k in b.padded) for k, i in enumerate(b.sample_ids.tolist())]
                tokens.append(stream.cursor)
                stream.close()
        after, counts = [], []
        with imagefeed.Client([self.b.address, self.c.address]) as client:
            for rank in range(3):
                batches = list(client.batches("even", rank=rank, world_size=3, resume=tokens[1], **kwargs))
                counts.append(sum(len(b) for b in batches))
                after += [(i, k in b.padded) for b in batches for k, i in enumerate(b.sample_ids.tolist())]
        return before, after, counts

    def test_elastic_resume_4_to_3_ranks_delivers_every_sample_once(self):
        before, after, counts = self.elastic(None)
        self.assertEqual(len(before), 4 * 5)
        self.assertEqual(counts, [16, 16, 15])  # the 47 left, split 3 ways
        ids = [i for i, _ in before + after]
        self.assertEqual(sorted(ids), list(range(EVEN_N)))

    def test_elastic_resume_with_padding_pads_only_repeats(self):
        before, after, counts = self.elastic("pad")
        unpadded = [i for i, p in before + after if not p]
        self.assertEqual(sorted(unpadded), list(range(EVEN_N)))
        padded = [i for i, p in before + after if p]
        self.assertTrue(padded and set(padded) <= set(unpadded), f"padded {padded}")
        self.assertEqual(counts, [16, 16, 16])  # 47 left, padded to 48

    # ---- even shards -----------------------------------------------------------------

    def test_even_shards_match_distributed_sampler(self):
        import torch  # noqa: PLC0415
        from torch.utils.data import DataLoader, DistributedSampler  # noqa: PLC0415

        import imagefeed.torch  # noqa: PLC0415
        three = [self.a.address, self.b.address, self.c.address]
        for mode in ("pad", "drop"):
            lengths = []
            for rank in range(2):
                with self.subTest(mode=mode, rank=rank):
                    ds = imagefeed.torch.ImageFeedDataset(three, "even", batch_size=11, size=8, shuffle=False,
                                                          rank=rank, world_size=2, even_shards=mode)
                    batches = list(DataLoader(ds, batch_size=None))
                    ids = [i for b in batches for i in b.sample_ids.tolist()]
                    padded = [k in b.padded for b in batches for k in range(len(b.labels))]
                    sampler = DistributedSampler(range(EVEN_N), num_replicas=2, rank=rank, shuffle=False,
                                                 drop_last=(mode == "drop"))
                    reference = list(sampler)
                    self.assertEqual(ids, reference)
                    # Rank r's k-th sample is global position r + 2k; positions past n are repeats.
                    self.assertEqual(padded, [rank + 2 * k >= EVEN_N for k in range(len(ids))])
                    self.assertEqual(len(ds), len(batches))
                    lengths.append(len(batches))
                    self.assertIsInstance(batches[0][0], torch.Tensor)
            self.assertEqual(lengths[0], lengths[1])
        # Without even shards the ranks differ, as the issue reports: 34 and 33 samples.
        with imagefeed.Client(three) as client:
            counts = [len(list(client.batches("even", batch_size=11, size=8, shuffle=False, rank=r, world_size=2)))
                      for r in range(2)]
        self.assertEqual(counts, [4, 3])

    # ---- leaks -----------------------------------------------------------------------

    def test_1000_cancels_leave_threads_and_rss_flat(self):
        targets = [self.a.address, self.b.address]
        client = imagefeed.Client(targets)

        def cancel_once():
            stream = client.batches("big", batch_size=4, size=8, seed=1)
            next(stream)
            stream.close()

        for _ in range(100):  # warm-up: channels, watchdog thread, allocator pools
            cancel_once()
        threads0, py0 = settled_threads(limit=2)  # the main thread and imagefeed's watchdog
        rss0 = rss_mb()
        began = time.monotonic()
        for _ in range(1000):
            cancel_once()
        seconds = time.monotonic() - began
        (threads1, py1), rss1 = settled_threads(limit=py0), rss_mb()
        client.close()
        # Reconnects: whole clients made and closed.
        for _ in range(200):
            with imagefeed.Client(targets) as c:
                next(c.batches("big", batch_size=4, size=8))
        (threads2, _), rss2 = settled_threads(limit=py0), rss_mb()
        SUMMARY["1,000 cancels"] = (f"{seconds:.1f} s; threads {threads0} -> {threads1} (python {py0} -> {py1}); "
                                    f"RSS {rss0:.1f} -> {rss1:.1f} MB; after 200 more clients: threads {threads2}, "
                                    f"RSS {rss2:.1f} MB")
        self.assertEqual(py1, py0)
        self.assertLessEqual(threads1, threads0 + 2)
        self.assertLessEqual(threads2, threads0 + 2)
        self.assertLess(rss1 - rss0, 20)
        self.assertLess(rss2 - rss0, 30)


class ResolverTest(unittest.TestCase):
    def test_dns_specs_resolve_to_sorted_distinct_addresses(self):
        def stub(host, port, type=0):  # noqa: A002
            self.assertEqual((host, port), ("feed.ns.svc", 50051))
            return [(socket.AF_INET6, type, 6, "", ("fd00::2", port, 0, 0)),
                    (socket.AF_INET, type, 6, "", ("10.0.0.9", port)),
                    (socket.AF_INET, type, 6, "", ("10.0.0.10", port)),
                    (socket.AF_INET, type, 6, "", ("10.0.0.9", port))]

        self.assertEqual(_client.resolve_dns("feed.ns.svc", "50051", getaddrinfo=stub),
                         ["10.0.0.10:50051", "10.0.0.9:50051", "[fd00::2]:50051"])
        self.assertEqual(_client.parse_targets("a:1, b:2"), ["a:1", "b:2"])
        self.assertEqual(_client.parse_targets(["dns:///x:1", "dns:y:2"]), ["dns:///x:1", "dns:y:2"])
        with self.assertRaises(ValueError):
            _client.parse_targets("dns:///nopport")


class SummaryResult(unittest.TextTestResult):
    def stopTestRun(self):
        super().stopTestRun()
        for k, v in SUMMARY.items():
            self.stream.writeln(f"  {k}: {v}")


if __name__ == "__main__":
    runner = unittest.TextTestRunner(verbosity=2, resultclass=SummaryResult)
    result = runner.run(unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    sys.exit(0 if result.wasSuccessful() else 1)
