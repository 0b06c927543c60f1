#!/usr/bin/python3
"""The same images served as an ImageFolder, as WebDataset tar shards and as file lists.

Shards are made with Python's tarfile (PAX and GNU formats, long names) and lists with
the csv/json modules, so the server's readers are checked against independent writers.
Every request (shuffle, ranks, start, validation split) must give byte-identical
batches across the layouts, and the pixels must be the ones written here.
"""
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))
import imagefeed  # noqa: E402

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
CLASSES = ["cat", "dog", "eel"]
PER_CLASS = 7
SIDE = 8


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixels(i):
    """Sample i's RGB pixels: a gradient that differs per sample."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    return np.stack([(x * 30 + i * 7) % 256, (y * 30 + i * 13) % 256, np.full_like(x, (i * 41) % 256)],
                    axis=-1).astype(np.uint8)


def png(i):
    rows = b"".join(b"\x00" + pixels(i)[y].tobytes() for y in range(SIDE))
    ihdr = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows)) + \
        png_chunk(b"IEND", b"")


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_tar(path, members, fmt=tarfile.PAX_FORMAT):
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, data in members:
            add(tar, name, data)


def start_server(*args):
    proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=2", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("imagefeed-server listening on "):
        err = proc.communicate(timeout=60)[1]
        return proc, None, err
    return proc, line.split()[-1], None


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)


class DatasetLayoutsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        t = cls.tmp.name
        cls.cache = os.path.join(t, "cache")
        # Sample id i (ImageFolder order: classes sorted, then file names) has label i // PER_CLASS.
        cls.samples = []  # (relative path, label, png)
        for label, c in enumerate(CLASSES):
            for k in range(PER_CLASS):
                i = len(cls.samples)
                cls.samples.append((f"{c}/img_{k:02d}.png", label, png(i)))
        for rel, _, data in cls.samples:
            os.makedirs(os.path.join(t, "folder", os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(t, "folder", rel), "wb") as f:
                f.write(data)
        # Shard 0 (PAX, .cls labels, a key too long for ustar) and shard 1 (GNU, .json labels).
        os.makedirs(os.path.join(t, "shards"))
        half = len(cls.samples) // 2
        m0, m1 = [], []
        for i, (_, label, data) in enumerate(cls.samples[:half]):
            key = f"{i:06d}" if i != 3 else "deep/" + "k" * 120 + f"{i:06d}"
            m0 += [(f"{key}.png", data), (f"{key}.cls", f"{label}\n".encode()), (f"{key}.txt", b"caption")]
        for i, (_, label, data) in enumerate(cls.samples[half:], start=half):
            key = f"{i:06d}" if i != half + 1 else "g" * 150 + f"{i:06d}"
            m1 += [(f"{key}.json", json.dumps({"label": label, "w": SIDE}).encode()), (f"{key}.PNG", data)]
        make_tar(os.path.join(t, "shards", "train-000000.tar"), m0)
        make_tar(os.path.join(t, "shards", "train-000001.tar"), m1, fmt=tarfile.GNU_FORMAT)
        with open(os.path.join(t, "shards", "README.txt"), "w") as f:
            f.write("not a shard")
        # Lists: CSV with class names (sorted to the same ids), JSONL with integer labels.
        with open(os.path.join(t, "train.csv"), "w") as f:
            f.write("label,path\n")
            for rel, label, _ in cls.samples:
                f.write(f"{CLASSES[label]},\"folder/{rel}\"\n")
        with open(os.path.join(t, "train.jsonl"), "w") as f:
            for rel, label, _ in cls.samples:
                f.write(json.dumps({"path": f"folder/{rel}", "label": label}) + "\n")
        cls.proc, cls.addr, err = start_server(
            f"--cache_dir={cls.cache}", f"--dataset=folder={t}/folder", f"--dataset=tardir={t}/shards",
            f"--dataset=tarpat=tar:{t}/shards/train-{{000000..000001}}.tar", f"--dataset=csv=list:{t}/train.csv",
            f"--dataset=jsonl=list:{t}/train.jsonl")
        assert cls.addr, err
        cls.client = imagefeed.Client(cls.addr)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        stop(cls.proc)
        cls.tmp.cleanup()

    def epoch(self, dataset, **kw):
        out = []
        for b in self.client.batches(dataset, dtype="uint8", layout="nhwc", **kw):
            out.append((np.array(b.images).tobytes(), b.labels.tolist(), b.sample_ids.tolist()))
        return out

    def test_info_reports_format_and_classes(self):
        r = subprocess.run([CLI, "info", f"--server={self.addr}", "--json"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        info = {d["name"]: d for d in json.loads(r.stdout)["datasets"]}
        self.assertEqual({n: d["format"] for n, d in info.items()},
                         {"folder": "folder", "tardir": "tar", "tarpat": "tar", "csv": "list", "jsonl": "list"})
        self.assertEqual(info["csv"]["classes"], CLASSES)
        self.assertEqual(info["tardir"]["classes"], ["0", "1", "2"])
        for d in info.values():
            self.assertEqual(d["class_counts"], [PER_CLASS] * 3)
        r = subprocess.run([CLI, "info", f"--server={self.addr}"], capture_output=True, text=True)
        self.assertIn("tardir: 21 samples, 3 classes, format tar", r.stdout)

    def test_pixels_and_labels_match_what_was_written(self):
        for name in ["folder", "tardir", "csv"]:
            (batch,) = self.epoch(name, batch_size=len(self.samples), shuffle=False)
            images = np.frombuffer(batch[0], np.uint8).reshape(len(self.samples), SIDE, SIDE, 3)
            for i in range(len(self.samples)):
                np.testing.assert_array_equal(images[i], pixels(i), err_msg=f"{name} sample {i}")
            self.assertEqual(batch[1], [label for _, label, _ in self.samples])
            self.assertEqual(batch[2], list(range(len(self.samples))))

    def test_same_request_gives_identical_batches_in_every_layout(self):
        requests = [dict(batch_size=4, shuffle=True, seed=5),
                    dict(batch_size=3, shuffle=True, seed=9, rank=1, world_size=3, start=2),
                    dict(batch_size=5, shuffle=True, seed=2, validation_split=0.25, subset="validation"),
                    dict(batch_size=2, size=(5, 6), shuffle=True, seed=1, epoch=3)]
        for kw in requests:
            want = self.epoch("folder", **kw)
            self.assertTrue(want)
            for name in ["tardir", "tarpat", "csv", "jsonl"]:
                self.assertEqual(self.epoch(name, **kw), want, f"{name} {kw}")

    def test_index_cache_is_written_and_keyed_by_the_shards(self):
        cached = [f for f in os.listdir(self.cache) if f.startswith("tar-index-")]
        self.assertEqual(len(cached), 1, cached)  # both tar datasets name the same shards
        t = self.tmp.name
        shard = os.path.join(t, "shards2", "s.tar")
        os.makedirs(os.path.dirname(shard))
        make_tar(shard, [("a.png", self.samples[0][2]), ("a.cls", b"0")])
        cache = os.path.join(t, "cache_s")
        for _ in range(2):  # a second start reuses the cache entry
            proc, addr, err = start_server(f"--cache_dir={cache}", f"--dataset=s={shard}")
            self.assertTrue(addr, err)
            stop(proc)
            self.assertEqual(len([f for f in os.listdir(cache) if f.startswith("tar-index-")]), 1)
        make_tar(shard, [("a.png", self.samples[1][2]), ("a.cls", b"1"), ("b.png", self.samples[2][2]),
                         ("b.cls", b"0")])
        os.utime(shard, ns=(1, 1))  # a changed shard (size and mtime) must be indexed again
        proc, addr, err = start_server(f"--cache_dir={cache}", f"--dataset=s={shard}")
        self.assertTrue(addr, err)
        with imagefeed.Client(addr) as c:
            self.assertEqual([d["num_samples"] for d in c.datasets()], [2])
        stop(proc)
        self.assertEqual(len([f for f in os.listdir(cache) if f.startswith("tar-index-")]), 2)

    def start_error(self, *args):
        proc, addr, err = start_server(f"--cache_dir={self.tmp.name}/cache_errors", *args)
        if addr:
            stop(proc)
            self.fail(f"server started with {args}")
        self.assertNotEqual(proc.returncode, 0)
        return err

    def test_broken_shards_are_start_up_errors_naming_shard_and_member(self):
        t = os.path.join(self.tmp.name, "broken")
        os.makedirs(t)
        img = self.samples[0][2]

        def shard(name, members, fmt=tarfile.PAX_FORMAT):
            path = os.path.join(t, name)
            make_tar(path, members, fmt)
            return path

        garbage = os.path.join(t, "garbage.tar")
        with open(garbage, "wb") as f:
            f.write(b"this is not a tar file " * 100)
        good = shard("truncated.tar", [("x.png", img * 20), ("x.cls", b"1")])
        with open(good, "r+b") as f:
            f.truncate(512 + len(img) * 10)
        cases = {
            garbage: ["shard 'garbage.tar'", "malformed tar header at offset 0"],
            good: ["shard 'truncated.tar' member 'x.png' is truncated"],
            shard("nolabel.tar", [("a.png", img), ("a.cls", b"0"), ("b.png", img)]):
                ["shard 'nolabel.tar' member 'b.png': no label", "b.cls", "--label_field"],
            shard("textlabel.tar", [("a.png", img), ("a.cls", b"cat")]):
                ["shard 'textlabel.tar' member 'a.cls'", "label 'cat' is not an integer"],
            shard("floatlabel.tar", [("a.json", b'{"label": 2.5}'), ("a.png", img)]):
                ["shard 'floatlabel.tar' member 'a.json'", "label 2.5 is not an integer"],
            shard("nofield.tar", [("a.json", b'{"class": 2}'), ("a.png", img)]):
                ["member 'a.json'", "no field 'label'"],
        }
        for path, needles in cases.items():
            err = self.start_error(f"--dataset=bad=tar:{path}")
            for needle in needles:
                self.assertIn(needle, err, path)
        # --label_field names the JSON field.
        path = shard("classfield.tar", [("a.json", b'{"class": 2}'), ("a.png", img)])
        proc, addr, err = start_server(f"--cache_dir={self.tmp.name}/cache_errors", f"--dataset=ok={path}",
                                       "--label_field=ok=class")
        self.assertTrue(addr, err)
        stop(proc)

    def test_list_errors_name_the_line(self):
        t = self.tmp.name
        absolute = os.path.join(t, "folder", self.samples[0][0])
        cases = {
            "abs.csv": (f"path,label\n{absolute},0\n", ["abs.csv:2", "--allow_absolute_list_paths"]),
            "up.csv": ("path,label\nfolder/../folder/cat/img_00.png,0\n", ["up.csv:2", "'..'"]),
            "missing.jsonl": ('{"path": "folder/nope.png", "label": 0}\n', ["missing.jsonl:1", "nope.png"]),
            "mixed.jsonl": ('{"path": "folder/cat/img_00.png", "label": 0}\n'
                            '{"path": "folder/cat/img_01.png", "label": "cat"}\n', ["mixed.jsonl:2", "mix"]),
            "header.csv": ("file,class\nfolder/cat/img_00.png,0\n", ["header.csv:1", "'path' and 'label'"]),
        }
        for name, (text, needles) in cases.items():
            with open(os.path.join(t, name), "w") as f:
                f.write(text)
            err = self.start_error(f"--dataset=bad=list:{os.path.join(t, name)}")
            for needle in needles:
                self.assertIn(needle, err, name)
        proc, addr, err = start_server(f"--cache_dir={self.tmp.name}/cache_errors", f"--dataset=ok=list:{t}/abs.csv",
                                       "--allow_absolute_list_paths")
        self.assertTrue(addr, err)
        stop(proc)


if __name__ == "__main__":
    unittest.main()
