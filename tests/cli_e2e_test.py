#!/usr/bin/python3
"""End-to-end tests of the real binaries: imagefeed-server and the imagefeed CLI."""
import json
import os
import re
import signal
import subprocess
import tempfile
import unittest

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
BATCH_KEYS = ["epoch", "position", "shape", "dtype", "labels", "sample_ids", "mean", "std", "min", "max", "skipped"]


def start_server(*args, cache_dir):
    proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=2", f"--cache_dir={cache_dir}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


class ServerProcessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.proc, cls.line = start_server(cache_dir=cls.tmp.name)
        m = re.fullmatch(r"imagefeed-server listening on (127\.0\.0\.1:(\d+))\n", cls.line)
        if not m:
            cls.proc.kill()
            raise AssertionError(f"bad ready line {cls.line!r}: {cls.proc.stderr.read()}")
        cls.addr = m.group(1)
        assert int(m.group(2)) != 0

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(timeout=30)
        cls.tmp.cleanup()
        assert rc == 0, f"server exit code {rc} after SIGTERM"

    def fetch_json(self, *args):
        r = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    def test_info_json(self):
        r = cli("info", f"--server={self.addr}", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        self.assertEqual(list(info), ["datasets"])
        (demo,) = info["datasets"]
        self.assertEqual(sorted(demo), ["class_counts", "classes", "name", "num_samples"])
        self.assertEqual(demo["name"], "demo")
        self.assertEqual(demo["num_samples"], 300)
        self.assertEqual(demo["classes"], sorted(demo["classes"]))
        self.assertEqual(sum(demo["class_counts"]), 300)

    def test_fetch_json_keys_and_whole_epoch(self):
        batches = self.fetch_json("--batch_size=64", "--batches=0", "--shuffle=false", "--size=32x32")
        self.assertEqual(len(batches), 5)  # 300 = 4*64 + 44
        ids = []
        for b in batches:
            self.assertEqual(list(b), BATCH_KEYS)
            self.assertEqual(b["dtype"], "float32")
            self.assertEqual(b["shape"][1:], [3, 32, 32])
            self.assertEqual(len(b["labels"]), b["shape"][0])
            self.assertEqual(len(b["mean"]), 3)
            for lo, hi in zip(b["min"], b["max"]):
                self.assertGreaterEqual(lo, 0.0)
                self.assertLessEqual(hi, 1.0)
            ids += b["sample_ids"]
        self.assertEqual(ids, list(range(300)))
        self.assertEqual(batches[-1]["shape"][0], 44)

    def test_ranks_deliver_each_sample_once_and_requests_repeat_exactly(self):
        seen = []
        for rank in range(3):
            for b in self.fetch_json("--batch_size=16", "--seed=3", "--epoch=1", f"--rank={rank}", "--world_size=3"):
                seen += b["sample_ids"]
        self.assertEqual(sorted(seen), list(range(300)))
        first = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--json", "--batches=3", "--seed=9")
        second = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--json", "--batches=3", "--seed=9")
        self.assertEqual(first.stdout, second.stdout)
        self.assertEqual(len(first.stdout.splitlines()), 3)

    def test_layout_normalization_and_native_size(self):
        (b,) = self.fetch_json("--batch_size=4", "--batches=1", "--layout=nhwc", "--normalize=none")
        self.assertEqual(b["shape"], [4, 64, 64, 3])  # demo images are 64x64
        self.assertGreater(max(b["max"]), 1.0)
        (b,) = self.fetch_json("--batch_size=4", "--batches=1", "--scale=0.0078431373", "--offset=-1")
        self.assertGreaterEqual(min(b["min"]), -1.0001)
        self.assertLess(min(b["min"]), -0.5)

    def test_errors_name_the_code_flag_or_address(self):
        r = cli("fetch", f"--server={self.addr}", "--dataset=nope")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NOT_FOUND: dataset 'nope'", r.stderr)
        r = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--batch_size=0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--batch_size", r.stderr)
        r = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--layout=chw")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--layout: 'chw' is not one of nchw, nhwc", r.stderr)
        r = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--size=0x5")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--size", r.stderr)
        r = cli("info", "--server=127.0.0.1:1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNAVAILABLE: cannot reach imagefeed server at 127.0.0.1:1", r.stderr)
        r = cli("frobnicate")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown command 'frobnicate'", r.stderr)

    def test_help(self):
        for command in ("info", "fetch"):
            r = cli(command, "--help")
            self.assertEqual(r.returncode, 0)
            self.assertIn(f"usage: imagefeed {command}", r.stdout)
            self.assertIn("--server", r.stdout)


class ServerStartupTest(unittest.TestCase):
    def test_missing_dataset_root_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([SERVER, "--listen=127.0.0.1:0", f"--dataset=x={tmp}/missing"], capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"{tmp}/missing", r.stderr)
            os.mkdir(f"{tmp}/empty")
            r = subprocess.run([SERVER, "--listen=127.0.0.1:0", f"--dataset=x={tmp}/empty"], capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("no images", r.stderr)

    def test_sigint_is_a_clean_exit(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc, line = start_server(cache_dir=tmp)
            self.assertTrue(line.startswith("imagefeed-server listening on 127.0.0.1:"), line)
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(timeout=30), 0)
            proc.stdout.close()
            proc.stderr.close()

    def test_bad_flag_names_the_flag(self):
        r = subprocess.run([SERVER, "--threads=abc"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--threads", r.stderr)


if __name__ == "__main__":
    unittest.main()
