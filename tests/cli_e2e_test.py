#!/usr/bin/python3
"""End-to-end tests of the real binaries: imagefeed-server and the imagefeed CLI."""
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import tempfile
import unittest
import zlib

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
BATCH_KEYS = ["epoch", "position", "shape", "dtype", "labels", "sample_ids", "mean", "std", "min", "max", "skipped",
              "cursor"]  # cursor: issue #10
EPOCH_KEYS = ["samples", "batches", "unique", "duplicates", "seconds", "samples_per_second", "skipped"]
BENCH_KEYS = ["samples", "batches", "seconds", "samples_per_second", "mb_per_second", "time_to_first_batch_seconds",
              "stages"]
STATS_KEYS = ["count", "mean", "std", "min", "max"]
COMMANDS = ["info", "fetch", "epoch", "dump", "bench", "stats", "status", "health"]
STREAMING_COMMANDS = ["fetch", "epoch", "dump", "bench"]
NORMALIZE_VALUES = "none, rescale, standardize, minmax, l2, per_image_standardize, per_image_minmax"


def start_server(*args, cache_dir):
    proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=2", f"--cache_dir={cache_dir}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, line


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def cli_with_terminal_stderr(*args):
    """Runs the CLI with stderr on a pseudo-terminal; returns (returncode, stdout, terminal output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    terminal = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    stdout = proc.stdout.read()
    proc.stdout.close()
    rc = proc.wait(timeout=120)
    os.close(master)
    return rc, stdout, terminal.decode(errors="replace")


def read_png(path):
    """Decodes an 8-bit RGB, non-interlaced PNG into (width, height, rows of bytes) with zlib alone."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0], kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert (depth, color, interlace) == (8, 2, 0), header
    raw = zlib.decompress(idat)
    stride = width * 3
    assert len(raw) == height * (stride + 1)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            else:
                assert kind == 0, f"bad filter {kind}"
        rows.append(bytes(line))
        prev = line
    return width, height, rows


class ServerFixture(unittest.TestCase):
    """Starts one server (demo dataset, --threads=2) for the class; self.addr is its address."""

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


class ServerProcessTest(ServerFixture):
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
        self.assertEqual(sorted(demo), ["class_counts", "classes", "format", "name", "num_samples"])
        self.assertEqual(demo["format"], "folder")
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

    def test_health(self):
        r = cli("health", f"--server={self.addr}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "SERVING")
        r = cli("health", f"--server={self.addr}", "--service=imagefeed.v1.ImageFeed")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = cli("health", "--server=127.0.0.1:1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot reach imagefeed server at 127.0.0.1:1", r.stderr)

    def test_help(self):
        r = cli("--help")
        self.assertEqual(r.returncode, 0)
        listed = re.findall(r"^  (\w+) +\S.*$", r.stdout, re.MULTILINE)
        self.assertEqual(listed, COMMANDS)
        for command in COMMANDS:
            r = cli(command, "--help")
            self.assertEqual(r.returncode, 0, command)
            self.assertIn(f"usage: imagefeed {command}", r.stdout)
            self.assertIn("--server", r.stdout)
        for command in STREAMING_COMMANDS:
            r = cli(command, "--help")
            for flag in ("--ignore_exif_orientation", "--normalize", "--validation_split", "--subset", "--split_seed", "--resize_mode",
                         "--random_flip", "--random_resized_crop", "--crop_scale", "--crop_ratio"):
                self.assertIn(flag, r.stdout, f"{command} --help lacks {flag}")

    def epoch_json(self, *args, expect_rc=0):
        r = cli("epoch", f"--server={self.addr}", "--dataset=demo", "--json", *args)
        self.assertEqual(r.returncode, expect_rc, r.stderr)
        return json.loads(r.stdout)

    def test_epoch_exactly_once_over_three_ranks(self):
        total = 0
        for rank in range(3):
            e = self.epoch_json("--batch_size=16", "--seed=5", f"--rank={rank}", "--world_size=3")
            self.assertEqual(list(e)[:len(EPOCH_KEYS)], EPOCH_KEYS)
            self.assertEqual(e["duplicates"], 0)
            self.assertEqual(e["unique"], e["samples"])
            self.assertEqual(e["skipped"], 0)
            self.assertEqual(e["batches"], 7)  # 100 = 6*16 + 4
            self.assertEqual((e["expected"], e["missing"], e["ok"]), (100, 0, True))
            self.assertGreater(e["seconds"], 0)
            self.assertGreater(e["samples_per_second"], 0)
            self.assertGreater(e["mb_per_second"], 0)
            self.assertLessEqual(e["time_to_first_batch_seconds"], e["seconds"])
            total += e["samples"]
        self.assertEqual(total, 300)

    def test_epoch_start_drop_last_and_text_summary(self):
        e = self.epoch_json("--start=290", "--shuffle=false", "--batch_size=4")
        self.assertEqual((e["samples"], e["batches"], e["expected"], e["ok"]), (10, 3, 10, True))
        e = self.epoch_json("--start=290", "--batch_size=4", "--drop_last")
        self.assertEqual((e["samples"], e["batches"], e["expected"], e["ok"]), (8, 2, 8, True))
        r = cli("epoch", f"--server={self.addr}", "--dataset=demo", "--size=16x16")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("exactly once: 300 unique, 0 duplicates, 0 skipped, 0 missing of 300 expected: OK", r.stdout)
        self.assertEqual(r.stderr, "")  # no progress bar without a terminal

    def test_epoch_validation_split(self):
        args = ("--validation_split=0.2", "--split_seed=4", "--size=8x8")
        r = cli("epoch", f"--server={self.addr}", "--dataset=demo", "--json", "--subset=validation", *args)
        if r.returncode != 0 and r.stdout and json.loads(r.stdout)["samples"] == 300:
            self.skipTest("the server does not implement validation_split yet (it streamed all 300 samples)")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["samples"], 60)
        self.assertEqual(self.epoch_json("--subset=training", *args)["samples"], 240)
        ids = {}
        for subset in ("training", "validation"):
            ids[subset] = [i for b in self.fetch_json(f"--subset={subset}", *args) for i in b["sample_ids"]]
        self.assertEqual(sorted(ids["training"] + ids["validation"]), list(range(300)))

    def test_progress_only_on_a_terminal(self):
        rc, stdout, terminal = cli_with_terminal_stderr("epoch", f"--server={self.addr}", "--dataset=demo",
                                                        "--json", "--size=16x16", "--batch_size=8")
        self.assertEqual(rc, 0, terminal)
        self.assertEqual(json.loads(stdout)["samples"], 300)
        self.assertIn("samples/s", terminal)
        self.assertIn("MB/s", terminal)
        self.assertIn("ETA", terminal)
        self.assertTrue(terminal.endswith("\r\x1b[K"), repr(terminal[-40:]))  # the line is erased at the end
        rc, stdout, terminal = cli_with_terminal_stderr("fetch", f"--server={self.addr}", "--dataset=demo",
                                                        "--json", "--batches=2", "--batch_size=8")
        self.assertEqual(rc, 0, terminal)
        self.assertEqual(len(stdout.splitlines()), 2)
        self.assertIn("/16 samples", terminal)  # the total is 2 batches of 8
        r = cli("fetch", f"--server={self.addr}", "--dataset=demo", "--batches=2")
        self.assertEqual(r.stderr, "")

    def test_dump_writes_a_contact_sheet_png(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "sheet.png")
            r = cli("dump", f"--server={self.addr}", "--dataset=demo", f"--out={out}", "--batch_size=8",
                    "--size=32x32", "--layout=nhwc")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("8 of 8 samples", r.stdout)
            width, height, rows = read_png(out)
        # 8 tiles: 3 columns x 3 rows of 32 px images zoomed to 96, 6 px gaps, 13 px label strips.
        self.assertEqual((width, height), (6 + 3 * (96 + 6), 6 + 3 * (96 + 13 + 6)))
        self.assertEqual(rows[0][:3], bytes([40, 40, 40]))  # background in the gaps
        tile = {rows[y][x * 3:x * 3 + 3] for y in range(6, 102) for x in range(6, 102)}
        self.assertGreater(len(tile), 10)  # an image, not a flat fill
        label = rows[6 + 96 + 6][6 * 3:102 * 3]
        self.assertGreater(max(label), 200)  # light text on the dark strip
        self.assertLess(min(label), 30)

    def test_uint8_streams_raw_values(self):
        (b,) = self.fetch_json("--batch_size=4", "--batches=1", "--dtype=uint8", "--layout=nhwc")
        self.assertEqual((b["dtype"], b["shape"]), ("uint8", [4, 64, 64, 3]))
        self.assertGreater(max(b["max"]), 1)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "sheet.png")
            r = cli("dump", f"--server={self.addr}", "--dataset=demo", f"--out={out}", "--batch_size=2",
                    "--dtype=uint8", "--columns=2")
            self.assertEqual(r.returncode, 0, r.stderr)
            width, height, _ = read_png(out)
        self.assertEqual((width, height), (6 + 2 * (128 + 6), 6 + 128 + 13 + 6))  # 64 px zoomed twice

    def test_dump_needs_out_and_shows_1_or_3_channels(self):
        r = cli("dump", f"--server={self.addr}", "--dataset=demo")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--out=FILE.png is required", r.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "sheet.png")
            r = cli("dump", f"--server={self.addr}", "--dataset=nope", f"--out={out}")
            self.assertEqual(r.returncode, 1)
            self.assertIn("NOT_FOUND: dataset 'nope' is not served here (serving: demo)", r.stderr)
            self.assertFalse(os.path.exists(out))

    def test_bench_json_keys(self):
        r = cli("bench", f"--server={self.addr}", "--dataset=demo", "--json", "--batches=3", "--batch_size=10")
        self.assertEqual(r.returncode, 0, r.stderr)
        b = json.loads(r.stdout)
        self.assertEqual(list(b), BENCH_KEYS)
        self.assertEqual((b["samples"], b["batches"]), (30, 3))
        self.assertGreater(b["samples_per_second"], 0)
        self.assertGreater(b["mb_per_second"], 0)
        self.assertLessEqual(b["time_to_first_batch_seconds"], b["seconds"])
        r = cli("bench", f"--server={self.addr}", "--dataset=demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^demo: 300 samples in 10 batches, .* samples/s, .* MB/s, first batch after ")

    def test_bad_flag_values_name_the_flag_and_allowed_values(self):
        for command in STREAMING_COMMANDS:
            for flag, message in (
                    ("--normalize=zscore", f"--normalize: 'zscore' is not one of {NORMALIZE_VALUES}"),
                    ("--subset=test", "--subset: 'test' is not one of training, validation"),
                    ("--resize_mode=fit", "--resize_mode: 'fit' is not one of stretch, shorter_side"),
                    ("--crop_scale=2,1", "--crop_scale: '2,1' is not MIN,MAX"),
                    ("--validation_split=0.2", "--validation_split needs --subset=training|validation"),
            ):
                extra = ["--random_resized_crop", "--size=8x8"] if flag.startswith("--crop") else []
                if command == "dump":
                    extra.append("--out=/dev/null")
                r = cli(command, f"--server={self.addr}", "--dataset=demo", flag, *extra)
                self.assertEqual(r.returncode, 2, f"{command} {flag}: {r.stderr}")
                self.assertIn(message, r.stderr, f"{command} {flag}")
        r = cli("stats", f"--server={self.addr}", "--dataset=demo", "--format=onnx")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--format: 'onnx' is not one of table, keras, torchvision", r.stderr)
        r = cli("stats", f"--server={self.addr}", "--dataset=demo", "--wait=maybe")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--wait: 'maybe' is not one of true, false", r.stderr)
        r = cli("stats", f"--server={self.addr}")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--dataset is required", r.stderr)

    def test_stats(self):
        r = cli("stats", f"--server={self.addr}", "--dataset=demo", "--json")
        if "UNIMPLEMENTED" in r.stderr:
            self.skipTest("the server does not implement GetStats yet: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = json.loads(r.stdout)
        self.assertEqual(list(stats), STATS_KEYS)
        self.assertEqual(stats["count"], 300 * 64 * 64)  # every pixel of the 300 64x64 demo images
        for key in STATS_KEYS[1:]:
            self.assertEqual(len(stats[key]), 3, key)
        for lo, mean, std, hi in zip(stats["min"], stats["mean"], stats["std"], stats["max"]):
            self.assertTrue(0 <= lo <= mean <= hi <= 1, (lo, mean, hi))
            self.assertTrue(0 < std <= 0.5, std)
        number = r"-?[0-9.e+-]+"
        triple = rf"\[({number}), ({number}), ({number})\]"
        r = cli("stats", f"--server={self.addr}", "--dataset=demo", "--format=keras")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.fullmatch(rf"keras\.layers\.Normalization\(mean={triple}, variance={triple}\)\n", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        for c in range(3):
            self.assertAlmostEqual(float(m.group(1 + c)), stats["mean"][c], places=6)
            self.assertAlmostEqual(float(m.group(4 + c)), stats["std"][c] ** 2, places=6)
        r = cli("stats", f"--server={self.addr}", "--dataset=demo", "--format=torchvision")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.fullmatch(rf"transforms\.Normalize\(mean={triple}, std={triple}\)\n", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        self.assertAlmostEqual(float(m.group(4)), stats["std"][0], places=6)
        r = cli("stats", f"--server={self.addr}", "--dataset=demo", "--wait=false")  # fitted above: ready
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("channel", r.stdout)
        r = cli("stats", f"--server={self.addr}", "--dataset=nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NOT_FOUND", r.stderr)


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
