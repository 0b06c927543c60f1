#!/usr/bin/python3
"""A real server on a dataset that mixes good files with corrupt and hostile ones.

Both corrupt-sample policies are exercised through the CLI; afterwards the server
must still answer and its memory must not grow with the number of streams.
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def forged_png(width, height):
    """A PNG whose header claims width x height but holds almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) +
            png_chunk(b"IEND", b""))


def forged_jpeg(width, height):
    """SOI + a baseline SOF0 claiming width x height, then nothing."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof


def vm_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(key)


class HostileDatasetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cache = os.path.join(cls.tmp, "cache")
        # Let the server generate the demo dataset, then build a dataset from part of it.
        proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", f"--cache_dir={cache}", "--threads=1"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
        demo = os.path.join(cache, "demo-v1")
        cls.root = os.path.join(cls.tmp, "mixed")
        good = []
        for cls_name in sorted(os.listdir(demo)):
            os.makedirs(os.path.join(cls.root, cls_name))
            for name in sorted(os.listdir(os.path.join(demo, cls_name)))[:12]:
                shutil.copy(os.path.join(demo, cls_name, name), os.path.join(cls.root, cls_name, name))
                good.append(f"{cls_name}/{name}")
        with open(os.path.join(cls.root, good[0]), "rb") as f:
            some_jpeg = f.read()
        rng = random.Random(7)
        bad = {
            "circle/bad_truncated.jpg": some_jpeg[: len(some_jpeg) // 2],
            "circle/bad_random.jpg": bytes(rng.randrange(256) for _ in range(3000)),
            "cross/bad_empty.png": b"",
            "cross/bad_text.png": b"this is not an image\n" * 10,
            "square/bad_huge.png": forged_png(100000, 100000),
            "square/bad_huge.jpg": forged_jpeg(60000, 60000),
            "triangle/bad_zero.png": forged_png(0, 10),
            "triangle/bad_header_only.jpg": some_jpeg[:200],
        }
        for rel, data in bad.items():
            with open(os.path.join(cls.root, rel), "wb") as f:
                f.write(data)
        cls.bad = set(bad)
        cls.good = set(good)
        cls.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", f"--dataset=mixed={cls.root}", "--threads=2",
                                     f"--cache_dir={cache}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        line = cls.proc.stdout.readline()
        assert line.startswith("imagefeed-server listening on "), line
        cls.addr = line.split()[-1]
        info = json.loads(subprocess.run([CLI, "info", f"--server={cls.addr}", "--json"], capture_output=True,
                                         text=True, check=True).stdout)
        cls.num_samples = info["datasets"][0]["num_samples"]

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(timeout=30)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.tmp)
        assert rc == 0, rc

    def fetch(self, *args):
        return subprocess.run([CLI, "fetch", f"--server={self.addr}", "--dataset=mixed", "--json", "--batches=0",
                               *args], capture_output=True, text=True, timeout=300)

    def test_index_counts_every_file(self):
        self.assertEqual(self.num_samples, len(self.good) + len(self.bad))

    def test_skip_delivers_every_good_sample_once_and_reports_every_bad_one(self):
        r = self.fetch("--on_error=skip", "--batch_size=7", "--size=32x32", "--seed=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        delivered, skipped = [], {}
        for line in r.stdout.splitlines():
            b = json.loads(line)
            delivered += b["sample_ids"]
            for s in b["skipped"]:
                skipped[s["path"]] = s["reason"]
        self.assertEqual(len(delivered), len(set(delivered)))
        self.assertEqual(len(delivered), len(self.good))
        self.assertEqual(set(skipped), self.bad)
        self.assertIn("100000x100000", skipped["square/bad_huge.png"])
        self.assertIn("60000x60000", skipped["square/bad_huge.jpg"])
        for path, reason in skipped.items():
            self.assertTrue(reason, path)

    def test_default_policy_is_skip(self):
        r = self.fetch("--batch_size=50", "--size=16x16")
        self.assertEqual(r.returncode, 0, r.stderr)
        skipped = sum(len(json.loads(line)["skipped"]) for line in r.stdout.splitlines())
        self.assertEqual(skipped, len(self.bad))

    def test_fail_names_the_file(self):
        r = self.fetch("--on_error=fail", "--shuffle=false", "--batch_size=4", "--size=16x16")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DATA_LOSS", r.stderr)
        self.assertRegex(r.stderr, r"'(circle|cross|square|triangle)/bad_\w+\.(jpg|png)'")

    def test_file_deleted_while_serving_is_reported(self):
        victim = os.path.join(self.root, "triangle", sorted(os.listdir(os.path.join(self.root, "triangle")))[-1])
        with open(victim, "rb") as f:
            saved = f.read()
        os.remove(victim)
        try:
            r = self.fetch("--on_error=skip", "--batch_size=64", "--size=16x16")
            self.assertEqual(r.returncode, 0, r.stderr)
            reasons = [s["reason"] for line in r.stdout.splitlines() for s in json.loads(line)["skipped"]]
            self.assertTrue(any("cannot open" in x for x in reasons), reasons)
        finally:
            with open(victim, "wb") as f:
                f.write(saved)

    def test_zz_server_alive_and_memory_bounded(self):
        def run_streams(n):
            for i in range(n):
                r = self.fetch("--on_error=skip", "--batch_size=32", "--size=224x224", f"--seed={i}")
                self.assertEqual(r.returncode, 0, r.stderr)
        def settled_rss(limit_kb):
            # The idle server frees its pooled buffers and trims the heap half a second
            # after the last stream ends: poll (bounded) until RSS is under the limit.
            deadline = time.monotonic() + 15
            rss = vm_kb(self.proc.pid, "VmRSS")
            while rss >= limit_kb and time.monotonic() < deadline:
                time.sleep(0.2)
                rss = vm_kb(self.proc.pid, "VmRSS")
            return rss
        run_streams(5)
        after_warmup = settled_rss(0)  # the level the idle server settles at (15 s at most)
        run_streams(15)
        after_more = settled_rss(after_warmup + 32 * 1024)
        peak = vm_kb(self.proc.pid, "VmHWM")
        # No growth with the number of streams (a leak would show here), and a bounded peak:
        # a few 19 MB batches in flight plus the buffer pool, never anything near the forged sizes.
        self.assertLess(after_more - after_warmup, 32 * 1024, (after_warmup, after_more))
        self.assertLess(peak, 1024 * 1024, peak)
        r = subprocess.run([CLI, "info", f"--server={self.addr}"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
