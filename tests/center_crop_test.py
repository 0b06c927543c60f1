#!/usr/bin/python3
"""resize_size against torchvision's evaluation transform, on a real server.

`resize_mode="shorter_side", resize_size=256, size=224` must give what
torchvision.transforms.Compose([Resize(256), CenterCrop(224)]) gives on the PIL image
(ImageNet evaluation). The images are PNGs (lossless, so both sides start from the same
pixels) of assorted sizes: landscape and portrait, a crop offset of x.5 (Python rounds it
half to even), a shorter side already 256 (torchvision skips the resize), an upscaled one,
a non-square output and a grayscale image.

Not bit-exact by design: PIL resizes 8-bit images in two passes with 8-bit rounding after
each and fixed-point weights, imagefeed in float from the source box of the crop. Measured
here on these images (float32, normalize="none", 0..255 scale): max |diff| 1.0, mean |diff|
about 0.26; uint8 output: max 1, mean about 0.15. Pinned: max 1.5 / mean 0.35 (float32),
max 1 / mean 0.25 (uint8). A wrong crop offset or size moves textured images by tens of
levels, far above these bounds.
"""
import os
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision import transforms  # noqa: E402

import imagefeed  # noqa: E402

# (width, height, mode): landscape 500x375 -> 341x256, crop left round(58.5) = 58; portrait;
# 309x256 unchanged by Resize(256), crop left round(42.5) = 42; 200x150 upscaled; odd sizes.
IMAGES = [(500, 375, "RGB"), (375, 500, "RGB"), (309, 256, "RGB"), (200, 150, "RGB"), (640, 427, "RGB"),
          (333, 501, "L"), (1000, 257, "RGB")]

FLOAT_MAX, FLOAT_MEAN = 1.5, 0.35
UINT8_MAX, UINT8_MEAN = 1, 0.25


def textured(w, h, mode, seed):
    """A photo-like image: smooth gradients, edges and grain (so a shifted crop shows)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 128 + 60 * np.sin(x / 9.0 + seed) * np.cos(y / 13.0) + 40 * ((x // 23 + y // 31) % 2)
    chans = [base + 25 * np.sin((x + y * k) / (5.0 + 3 * k)) for k in range(3)]
    img = np.stack(chans, -1) + rng.normal(0, 12, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    pil = Image.fromarray(img, "RGB")
    return pil.convert("L") if mode == "L" else pil


class CenterCropTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = os.path.join(cls.tmp.name, "data")
        os.makedirs(os.path.join(root, "c"))
        cls.images = []
        for i, (w, h, mode) in enumerate(IMAGES):
            img = textured(w, h, mode, i)
            img.save(os.path.join(root, "c", f"{i:02d}.png"))
            cls.images.append(img)
        cls.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=2", "--drain_seconds=2", f"--dataset=d={root}",
                                     f"--cache_dir={cls.tmp.name}/cache"], stdout=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        assert line.startswith("imagefeed-server listening on "), line
        cls.client = imagefeed.Client(line.split()[-1])

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.communicate(timeout=60)
        cls.tmp.cleanup()

    def fetch(self, size, resize_size, dtype):
        out = []
        for b in self.client.batches("d", batch_size=len(IMAGES), size=size, normalize="none", dtype=dtype, layout="nhwc", shuffle=False,
                                     resize_mode="shorter_side", resize_size=resize_size):
            out.extend(np.array(b.images[i], dtype=np.float64) for i in range(len(b.images)))
        return out

    def reference(self, img, size, resize_size):
        t = transforms.Compose([transforms.Resize(resize_size), transforms.CenterCrop(size)])
        return np.asarray(t(img.convert("RGB")), dtype=np.float64)  # the server serves 3 channels

    def check(self, size, resize_size, dtype, max_bound, mean_bound):
        got = self.fetch(size, resize_size, dtype)
        self.assertEqual(len(got), len(IMAGES))
        worst_max, means = 0.0, []
        for i, img in enumerate(self.images):
            want = self.reference(img, size, resize_size)
            self.assertEqual(got[i].shape, want.shape, IMAGES[i])
            diff = np.abs(got[i] - want)
            worst_max = max(worst_max, diff.max())
            means.append(diff.mean())
            self.assertLessEqual(diff.max(), max_bound, (IMAGES[i], dtype))
            self.assertLessEqual(diff.mean(), mean_bound, (IMAGES[i], dtype))
        print(f"{dtype} size={size} resize_size={resize_size}: max |diff| {worst_max:.3f}, "
              f"mean |diff| {np.mean(means):.3f} (worst image {max(means):.3f})")

    def test_float32_matches_torchvision_resize_256_center_crop_224(self):
        self.check((224, 224), 256, "float32", FLOAT_MAX, FLOAT_MEAN)

    def test_uint8_matches_torchvision(self):
        self.check((224, 224), 256, "uint8", UINT8_MAX, UINT8_MEAN)

    def test_non_square_output(self):
        self.check((200, 240), 256, "float32", FLOAT_MAX, FLOAT_MEAN)

    def test_without_resize_size_the_crop_is_tighter(self):
        # Control: resize_size=0 is the old shorter_side (scale to cover 224), visibly different.
        got = self.fetch((224, 224), 0, "float32")
        want = self.reference(self.images[0], (224, 224), 256)
        self.assertGreater(np.abs(got[0] - want).mean(), 5 * FLOAT_MEAN)

    def test_bad_resize_size_names_the_field(self):
        with self.assertRaises(imagefeed.ImageFeedError) as ctx:
            self.fetch((224, 300), 256, "float32")
        self.assertIn("resize_size=256 must be >= height (224) and width (300)", ctx.exception.details)
        with self.assertRaises(imagefeed.ImageFeedError) as ctx:
            list(self.client.batches("d", batch_size=2, size=224, resize_size=256))
        self.assertIn("resize_size applies only with resize_mode=SHORTER_SIDE", ctx.exception.details)


if __name__ == "__main__":
    unittest.main(verbosity=2)
