#!/usr/bin/python3
"""Sample order of a real server against torchvision.datasets.ImageFolder itself.

Builds one ImageFolder tree that exercises every indexing rule (every IMG_EXTENSION in
mixed case, nested folders, names that sort differently in byte order and in a locale,
non-image files, empty class folders, hidden entries, symlinks) and checks that sample id
i of imagefeed-server is torchvision's i-th sample, and its label torchvision's class.

Every decodable file is a tiny image whose pixels encode a unique number, so the server's
batches say which file each id was (independent of any path the server reports). The TIFF
files cannot be decoded by the server: they must fail as their own sample ids (skipped,
with their path and "unsupported format: TIFF"), not shift the ids after them.

Where imagefeed deliberately differs from torchvision (hidden entries and symlinks, see
README "Datasets"), the tree holds examples of each and the difference is asserted: the
entries torchvision has and imagefeed lacks are exactly those.
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))

MISSING = []
try:
    import numpy as np
    from PIL import Image
    import torchvision
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset
except ImportError as err:  # skipped below with the reason
    MISSING.append(f"{err} (Debian: python3-torchvision python3-pil python3-numpy)")
try:
    import imagefeed
except ImportError as err:
    MISSING.append(f"imagefeed client: {err} (build the target imagefeed_python_stubs)")

# What the tree holds, class by class: file names relative to the class folder. The
# classes sort differently in byte order ("B" < "_" < "a" < "a-b" < "a.b" < "a_b" < "é")
# and in a locale such as en_US ("a", "a-b", "a_b", "a.b", "B", ...).
IMAGE_NAMES = [
    "a.jpg", "b.JPG", "c.jpeg", "d.JpEg", "e.png", "f.PNG", "g.ppm", "h.PPM", "i.pgm", "j.Pgm",
    "k.bmp", "l.BMP", "m.tif", "n.TIF", "o.tiff", "p.TiFf", "q.webp", "r.WEBP",
    # byte order vs natural/locale order
    "A10.png", "A2.png", "a1.png", "B.png", "_u.png", "~t.png", "z-1.png", "z.1.png", "z_1.png", "zé.png",
    "ω.png",
    # nested folders: torchvision sorts (folder path, name), so "sub-b" < "sub/x"
    "sub/x.png", "sub/deeper/y.bmp", "sub-b/z.webp", "Sub/w.ppm", "dir.png/inner.pgm",
]
NOT_IMAGES = ["notes.txt", "x.jpg.txt", "anim.gif", "noext", "jpg", "photo.jfif", "bitmap.pbm", "pic.png~"]
CLASSES = ["B", "_", "a", "a-b", "a.b", "a_b", "é"]
# Differences planted on purpose (relative to the root), each torchvision indexes and imagefeed does not.
HIDDEN = [".hidden_class/h.png", "a/.h.png", "a/.cache/c.png", "a/sub/.x.webp", "only_hidden/.only.png"]
SYMLINKED = ["linked_class/e.png", "a/link.png", "a/linkdir/e.png"]


def write_image(path, number):
    """Writes an image whose every sample is `number` (a multiple of 3 in 3..252)."""
    ext = path.rsplit(".", 1)[1].lower()
    gray = ext == "pgm"
    img = Image.fromarray(np.full((2, 3) if gray else (2, 3, 3), number, np.uint8))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if ext == "webp":
        img.save(path, format="WEBP", lossless=True)
    elif ext in ("jpg", "jpeg"):
        img.save(path, format="JPEG", quality=100)
    else:
        img.save(path, format={"png": "PNG", "ppm": "PPM", "pgm": "PPM", "bmp": "BMP",
                               "tif": "TIFF", "tiff": "TIFF"}[ext])


class Tree:
    """The dataset on disk plus what each path holds."""

    def __init__(self, root):
        self.root = root
        self.number_of = {}  # relative path -> the number its pixels hold (None for TIFF)
        count = 0
        for cls in CLASSES:
            for name in IMAGE_NAMES:
                rel = f"{cls}/{name}"
                count += 1
                number = 3 * (count % 84 + 1)  # unique within 84 consecutive files: checked below
                write_image(os.path.join(root, rel), number)
                self.number_of[rel] = None if rel.lower().endswith((".tif", ".tiff")) else number
            for name in NOT_IMAGES:
                with open(os.path.join(root, cls, name), "w") as f:
                    f.write("not an image")
        os.makedirs(os.path.join(root, "empty"))  # a class with no files at all
        os.makedirs(os.path.join(root, "empty_nested", "sub"))  # and one with only a folder
        for rel in HIDDEN:
            write_image(os.path.join(root, rel), 255)
        with open(os.path.join(root, "loose.png"), "wb") as f:  # not in a class: neither indexes it
            f.write(b"x")
        write_image(os.path.join(root, "..", "outside", "e.png"), 255)
        os.symlink(os.path.join(root, "..", "outside"), os.path.join(root, "linked_class"))
        os.symlink(os.path.join(root, "a", "e.png"), os.path.join(root, "a", "link.png"))
        os.symlink(os.path.join(root, "..", "outside"), os.path.join(root, "a", "linkdir"))


def torchvision_samples(root):
    """ImageFolder(root).samples as (relative path, class name). torchvision 0.14 refuses
    empty classes (allow_empty arrived in 0.17), so then the same make_dataset runs with
    the empty classes left out of class_to_idx, keeping every other class's index."""
    try:
        folder = ImageFolder(root, allow_empty=True)
        samples, classes = folder.samples, folder.classes
    except TypeError:  # no allow_empty
        classes, class_to_idx = find_classes(root)
        empty = {c for c in classes if not any(
            f.lower().endswith(IMG_EXTENSIONS) for _, _, fs in os.walk(os.path.join(root, c), followlinks=True)
            for f in fs)}
        try:
            ImageFolder(root)
            raise AssertionError("torchvision indexed a tree with empty classes")
        except FileNotFoundError as err:
            assert all(c in str(err) for c in empty), err
        samples = make_dataset(root, {c: i for c, i in class_to_idx.items() if c not in empty},
                               extensions=IMG_EXTENSIONS)
    return classes, [(os.path.relpath(p, root), classes[label]) for p, label in samples]


def involves_symlink(root, rel):
    parts = rel.split("/")
    return any(os.path.islink(os.path.join(root, *parts[:i + 1])) for i in range(len(parts)))


@unittest.skipIf(MISSING, "; ".join(MISSING))
class TorchvisionOrderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls.tmp.name, "data")
        cls.tree = Tree(cls.root)
        cls.server = subprocess.Popen(
            [SERVER, "--listen=127.0.0.1:0", "--threads=2", f"--cache_dir={cls.tmp.name}/cache",
             f"--dataset=tree={cls.root}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.server.stdout.readline()
        if not line.startswith("imagefeed-server listening on "):
            cls.server.kill()
            raise AssertionError(f"server did not start: {line!r} {cls.server.stderr.read()}")
        cls.addr = line.split()[-1]
        cls.client = imagefeed.Client(cls.addr)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.terminate()
        cls.server.wait(timeout=60)
        cls.server.stdout.close()
        cls.server.stderr.close()
        cls.tmp.cleanup()

    def server_samples(self):
        """[(sample id, number in the pixels or the skip reason, label, skipped path)] of one
        unshuffled epoch at native size."""
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", imagefeed.SkippedSamplesWarning)
            for batch in self.client.batches("tree", batch_size=1, dtype="uint8", layout="nhwc",
                                             shuffle=False, on_error="skip",
                                             max_skip_fraction=1.0):
                for image, label, sid in zip(batch.images, batch.labels, batch.sample_ids):
                    values = np.unique(np.asarray(image))
                    self.assertLessEqual(int(values.max()) - int(values.min()), 2, f"sample {sid}: {values}")
                    out.append((int(sid), int(round(float(values.mean()))), int(label), None))
                for s in batch.skipped:
                    out.append((int(s["sample_id"]), s["reason"], None, s["path"]))
        return sorted(out)

    def test_extensions_are_torchvision_img_extensions(self):
        self.assertEqual(sorted(IMG_EXTENSIONS),
                         sorted([".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"]))

    def test_order_and_labels_equal_torchvision(self):
        tv_classes, tv = torchvision_samples(self.root)
        # The planted differences, and nothing else, separate the two indexes.
        dropped = [rel for rel, _ in tv if any(p.startswith(".") for p in rel.split("/"))
                   or involves_symlink(self.root, rel)]
        self.assertEqual(sorted(dropped), sorted(HIDDEN + SYMLINKED))
        expected = [(rel, cls) for rel, cls in tv if rel not in dropped]
        self.assertEqual(len(expected), len(CLASSES) * len(IMAGE_NAMES))
        # Classes: torchvision's minus the hidden and symlinked folders; labels follow.
        (info,) = [d for d in self.client.datasets() if d["name"] == "tree"]
        self.assertEqual(info["classes"], [c for c in tv_classes if not c.startswith(".") and c != "linked_class"])
        self.assertIn("empty", info["classes"])  # empty classes keep their label, as torchvision's
        self.assertIn("only_hidden", info["classes"])  # has only a hidden file: empty here, not there
        self.assertEqual(int(info["num_samples"]), len(expected))

        got = self.server_samples()
        self.assertEqual([sid for sid, *_ in got], list(range(len(expected))))
        for sid, (rel, cls) in enumerate(expected):
            _, value, label, skipped_path = got[sid]
            number = self.tree.number_of[rel]
            if number is None:  # TIFF: its own id fails, nothing shifts
                self.assertEqual(skipped_path, rel, f"id {sid}")
                self.assertIn("unsupported format: TIFF", value)
                continue
            self.assertIsNone(skipped_path, f"id {sid} ({rel}) skipped: {value}")
            self.assertLessEqual(abs(value - number), 1, f"id {sid}: pixels say {value}, torchvision has {rel}")
            self.assertEqual(info["classes"][label], cls, f"id {sid} ({rel})")

    def test_pixel_numbers_identify_files(self):
        # The order check is as strong as the numbers: unique within each class (labels
        # tell the classes apart), and every number is a distinct multiple of 3.
        for cls in CLASSES:
            numbers = [n for rel, n in self.tree.number_of.items() if rel.startswith(cls + "/") and n is not None]
            self.assertEqual(len(numbers), len(set(numbers)), cls)

def pil_fixtures(directory):
    """Files Pillow writes from seeded random pixels, each with the RGB array Pillow
    decodes from it (convert("RGB"): alpha dropped, palettes and gray expanded)."""
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (7, 13, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(1, 256, (7, 13, 4), dtype=np.uint8))
    gray16 = rng.integers(0, 65536, (5, 9)).astype(np.int32)
    files = {
        "bmp_rgb24.bmp": (rgb, {}),
        "bmp_rgba32.bmp": (rgba, {}),
        "bmp_pal8.bmp": (rgb.convert("P", palette=Image.ADAPTIVE, colors=200), {}),
        "bmp_gray8.bmp": (rgb.convert("L"), {}),
        "bmp_bw1.bmp": (rgb.convert("1"), {}),
        "pnm_rgb.ppm": (rgb, {}),
        "pnm_gray.pgm": (rgb.convert("L"), {}),
        "webp_lossless_rgb.webp": (rgb, {"lossless": True}),
        "webp_lossless_rgba.webp": (rgba, {"lossless": True, "exact": True}),
        "webp_lossy_rgb.webp": (rgb, {"quality": 75}),
        "webp_lossy_rgba.webp": (rgba, {"quality": 75}),
    }
    expected = {}
    for name, (img, options) in files.items():
        path = os.path.join(directory, name)
        img.save(path, **options)
        with Image.open(path) as decoded:
            expected[name] = np.asarray(decoded.convert("RGB"))
    # 16-bit PGM: Pillow writes mode I as maxval 65535; uint8 output keeps the high byte.
    Image.fromarray(gray16, "I").save(os.path.join(directory, "pnm_gray16.pgm"))
    expected["pnm_gray16.pgm"] = np.repeat((gray16 >> 8).astype(np.uint8)[..., None], 3, axis=2)
    return expected


@unittest.skipIf(MISSING, "; ".join(MISSING))
class DecodersAgainstPillowTest(unittest.TestCase):
    """The new decoders against Pillow (an independent BMP/PNM reader; for WebP the same
    libwebp): every pixel of files Pillow wrote, as the server streams them (uint8, native size)."""

    def test_pixels_equal_pillows(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "data", "c"))
            expected = pil_fixtures(os.path.join(tmp, "data", "c"))
            # The BMP fixtures cover the bit depths meant (biBitCount at offset 28).
            depths = {n: pathlib.Path(tmp, "data", "c", n).read_bytes()[28] for n in expected if n.endswith(".bmp")}
            self.assertEqual(depths, {"bmp_rgb24.bmp": 24, "bmp_rgba32.bmp": 32, "bmp_pal8.bmp": 8,
                                      "bmp_gray8.bmp": 8, "bmp_bw1.bmp": 1})
            server = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=2", f"--cache_dir={tmp}/cache",
                                       f"--dataset=pil={tmp}/data"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            try:
                line = server.stdout.readline()
                self.assertTrue(line.startswith("imagefeed-server listening on "), line)
                names = sorted(expected)
                with imagefeed.Client(line.split()[-1]) as client:
                    got = {}
                    for batch in client.batches("pil", batch_size=1, dtype="uint8", layout="nhwc", shuffle=False,
                                                on_error="fail"):
                        for image, sid in zip(batch.images, batch.sample_ids):
                            got[names[int(sid)]] = np.asarray(image)
                self.assertEqual(sorted(got), names)
                for name in names:
                    self.assertEqual(got[name].shape, expected[name].shape, name)
                    diff = np.abs(got[name].astype(int) - expected[name].astype(int))
                    self.assertEqual(int(diff.max()), 0, f"{name}: {int((diff > 0).sum())} samples differ")
            finally:
                server.terminate()
                server.wait(timeout=60)
                server.stdout.close()
                server.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
