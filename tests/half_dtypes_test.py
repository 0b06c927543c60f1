#!/usr/bin/python3
"""The float16, bfloat16 and normalizing-uint8 wire formats of a real server, against the
float32 stream of the same request.

References are independent of the server's code: numpy's astype(np.float16) for float16,
torch's .to(torch.bfloat16) (and a numpy bit formula) for bfloat16, and for uint8 the
normalization parameters computed here from the statistics GetStats reports.

Photo-like JPEGs (smooth colour fields plus grain, several sizes) are resized to 20x24 so
that resized values are not integers: the uint8 stream then rounds them, which is the
one difference from float32 that the uint8 path is allowed (measured and pinned below).
"""
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))
import imagefeed  # noqa: E402

MISSING = []
try:
    import torch
    import imagefeed.torch as ift
    from PIL import Image
except ImportError as err:  # skipped below with the reason
    MISSING.append(f"{err} (Debian: python3-torch python3-pil)")

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
SIZE = (20, 24)
NUM = 12


def photo(i):
    """A photo-like RGB image: smooth colour gradients, a disc and sensor grain."""
    rng = np.random.default_rng(i)
    h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * x + i) * 90 + 120, np.cos(2 * y - i) * 80 + 110, (x + y) * 100 + 20], -1)
    disc = ((x - 0.5) ** 2 + (y - 0.4) ** 2) < 0.05
    base[disc] = [230, 40 + 10 * i, 60]
    img = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def bf16_bits_numpy(f32):
    """Round-to-nearest-even float32 -> bfloat16 bits with uint32 arithmetic (finite values)."""
    u = f32.view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def one_batch(client, **kw):
    return next(iter(client.batches("photos", batch_size=NUM, size=SIZE, shuffle=False, **kw)))


@unittest.skipIf(MISSING, "; ".join(MISSING))
class HalfDTypesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = os.path.join(cls.tmp.name, "photos")
        for i in range(NUM):
            d = os.path.join(root, f"class{i % 3}")
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"img{i:02d}.jpg"), "wb") as f:
                f.write(photo(i))
        cls.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=2",
                                     f"--cache_dir={cls.tmp.name}/cache", f"--dataset=photos={root}"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        if not line.startswith("imagefeed-server listening on "):
            raise RuntimeError(f"server did not start: {line}{cls.proc.communicate(timeout=60)[1]}")
        cls.addr = line.split()[-1]
        cls.client = imagefeed.Client(cls.addr)
        cls.stats = cls.client.stats("photos", wait=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.communicate(timeout=60)
        cls.tmp.cleanup()

    # Normalizations (and layouts) whose float32 output the half streams must round exactly.
    CASES = [
        dict(normalize="standardize"),
        dict(normalize="standardize", layout="nhwc"),
        dict(normalize="per_image_standardize"),
        dict(normalize="none"),
        dict(normalize="rescale", scale=300.0),   # values from 218.4 up overflow float16 (65520 -> inf)
        dict(normalize="rescale", scale=1e-7),    # below 2^-14: float16 subnormals
        dict(normalize="minmax", layout="nhwc"),
    ]

    def test_float16_is_numpys_rounding_of_the_float32_stream(self):
        saw_inf = saw_subnormal = False
        for case in self.CASES:
            with self.subTest(**case):
                f32 = one_batch(self.client, dtype="float32", **case)
                f16 = one_batch(self.client, dtype="float16", **case)
                self.assertEqual(f16.dtype, "float16")
                self.assertEqual(f16.images.dtype, np.dtype("<f2"))
                self.assertIsNone(f16.input_scale)
                self.assertEqual(f16.images.shape, f32.images.shape)
                self.assertEqual(f16.sample_ids.tolist(), f32.sample_ids.tolist())
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf is the point
                    want = f32.images.astype(np.float16)
                np.testing.assert_array_equal(f16.images.view(np.uint16), want.view(np.uint16))
                saw_inf |= bool(np.isinf(f16.images).any())
                tiny = np.abs(f16.images) < np.float16(2 ** -14)
                saw_subnormal |= bool((tiny & (f16.images != 0)).any())
                np.testing.assert_array_equal(f16.as_float32(), want.astype(np.float32))
        self.assertTrue(saw_inf and saw_subnormal, "the cases must reach inf and subnormals")

    def test_bfloat16_is_torchs_rounding_of_the_float32_stream(self):
        for case in self.CASES:
            with self.subTest(**case):
                f32 = one_batch(self.client, dtype="float32", **case)
                bf = one_batch(self.client, dtype="bfloat16", **case)
                self.assertEqual(bf.dtype, "bfloat16")
                self.assertEqual(bf.images.dtype, np.dtype("<u2"))  # raw bits: numpy has no bfloat16
                want = torch.from_numpy(f32.images.copy()).to(torch.bfloat16)
                got = ift.to_tensors(bf)[0]
                self.assertEqual(got.dtype, torch.bfloat16)
                self.assertTrue(torch.equal(got.view(torch.int16), want.view(torch.int16)))
                np.testing.assert_array_equal(bf.images, bf16_bits_numpy(f32.images))
                np.testing.assert_array_equal(bf.as_float32(), want.to(torch.float32).numpy())
                # The adapter's default model input: float32, exactly the widened bfloat16.
                self.assertTrue(torch.equal(ift.batch_model_input(bf), want.to(torch.float32)))

    def test_bytes_per_batch(self):
        sizes = {d: one_batch(self.client, dtype=d, normalize="standardize" if d != "uint8" else "none")
                 .images.nbytes for d in ("float32", "float16", "bfloat16", "uint8")}
        n = NUM * 3 * SIZE[0] * SIZE[1]
        self.assertEqual(sizes, {"float32": 4 * n, "float16": 2 * n, "bfloat16": 2 * n, "uint8": n})

    def expected_affine(self, normalize, channels=3):
        """input_scale/input_offset from the fitted statistics, as the README states them."""
        mean, std = np.array(self.stats["mean"]), np.array(self.stats["std"])
        lo, hi = np.array(self.stats["min"]), np.array(self.stats["max"])
        if normalize == "standardize":
            return np.float32((1 / 255) / std), np.float32(-mean / std)
        return np.float32((1 / 255) / (hi - lo)), np.float32(-lo / (hi - lo))

    # Measured on this dataset: max |uint8 path - float32 path| / input_scale = 0.5000 (bilinear ties;
    # standardize: 0.0118 absolute); the bound is the rounding of a resized value to an integer, half
    # a step, plus float32 rounding of the affine map (a few ulps of values below ~10).
    def test_uint8_with_normalization_matches_float32_within_half_a_step(self):
        for normalize, layout in (("standardize", "nchw"), ("standardize", "nhwc"), ("minmax", "nchw")):
            with self.subTest(normalize=normalize, layout=layout):
                f32 = one_batch(self.client, dtype="float32", normalize=normalize, layout=layout)
                u8 = one_batch(self.client, dtype="uint8", normalize=normalize, layout=layout)
                none = one_batch(self.client, dtype="float32", normalize="none", layout=layout)
                self.assertEqual(u8.images.dtype, np.uint8)
                # The raw values are the float32 "none" stream rounded (the pre-existing uint8 contract).
                np.testing.assert_array_equal(u8.images, np.clip(np.floor(none.images + 0.5), 0, 255))  # lround: ties away
                scale, offset = self.expected_affine(normalize)
                np.testing.assert_array_equal(u8.input_scale, scale)
                np.testing.assert_array_equal(u8.input_offset, offset)
                shape = (1, -1, 1, 1) if layout == "nchw" else (1, 1, 1, -1)
                numpy_input = u8.images.astype(np.float32) * scale.reshape(shape) + offset.reshape(shape)
                np.testing.assert_array_equal(u8.as_float32(), numpy_input)
                on_cpu = ift.batch_model_input(u8, device="cpu")
                self.assertEqual(on_cpu.dtype, torch.float32)
                np.testing.assert_array_equal(on_cpu.numpy(), numpy_input)
                diff = np.abs(numpy_input - f32.images)
                steps = (diff / scale.reshape(shape)).max()
                print(f"uint8+{normalize} {layout}: max |diff| = {diff.max():.6f}, "
                      f"{steps:.4f} of input_scale", file=sys.stderr)
                self.assertLessEqual(steps, 0.5 + 1e-3)
                self.assertGreater(steps, 0.3)  # the resized values really are fractional
                half = ift.batch_model_input(u8, model_dtype=torch.float16)
                self.assertEqual(half.dtype, torch.float16)
                np.testing.assert_array_equal(half.numpy(), numpy_input.astype(np.float16))

    def test_uint8_refuses_per_image_normalizations_and_keeps_raw_defaults(self):
        for normalize in ("l2", "per_image_standardize", "per_image_minmax"):
            with self.assertRaises(imagefeed.ImageFeedError) as ctx:
                one_batch(self.client, dtype="uint8", normalize=normalize)
            self.assertIn("depends on each image: use dtype FLOAT32, FLOAT16 or BFLOAT16", str(ctx.exception))
        raw = one_batch(self.client, dtype="uint8")
        self.assertIsNone(raw.input_scale)
        t = ift.batch_model_input(raw)
        self.assertEqual(t.dtype, torch.uint8)  # raw uint8 stays raw unless a model_dtype is given
        rescaled = one_batch(self.client, dtype="uint8", normalize="rescale", scale=2.0, offset=-1.0)
        np.testing.assert_array_equal(rescaled.input_scale, [2, 2, 2])
        np.testing.assert_array_equal(rescaled.input_offset, [-1, -1, -1])

    def test_torch_dataset_normalizes_on_the_chosen_device(self):
        f32 = one_batch(self.client, dtype="float32", normalize="standardize")
        u8 = one_batch(self.client, dtype="uint8", normalize="standardize")
        want = torch.from_numpy(u8.as_float32())
        for workers in (0, 1):
            with self.subTest(num_workers=workers):
                ds = ift.ImageFeedDataset(self.addr, "photos", batch_size=NUM, size=SIZE, shuffle=False,
                                          dtype="uint8", normalize="standardize", device="cpu")
                loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                                     multiprocessing_context="spawn" if workers else None)
                (batch,) = list(loader)
                self.assertEqual(batch.wire_images.dtype, torch.uint8)
                images, labels = batch
                self.assertEqual(images.dtype, torch.float32)
                self.assertEqual(images.device.type, "cpu")
                self.assertTrue(torch.equal(images, want))
                self.assertLess((images - torch.from_numpy(f32.images)).abs().max().item(), 0.05)
        ds = ift.ImageFeedDataset(self.addr, "photos", batch_size=NUM, size=SIZE, shuffle=False,
                                  dtype="float16", normalize="standardize", model_dtype=torch.float16)
        (batch,) = list(ds)
        self.assertEqual(batch.images.dtype, torch.float16)
        self.assertTrue(torch.equal(batch.images, torch.from_numpy(f32.images.astype(np.float16))))
        with self.assertRaises(ValueError):
            ift.ImageFeedDataset(self.addr, "photos", model_dtype="float16")

    def test_cli_summaries_and_dump_read_half_batches(self):
        def fetch(*args):
            r = subprocess.run([CLI, "fetch", f"--server={self.addr}", "--dataset=photos", "--json",
                                "--batch_size=12", "--size=20x24", "--shuffle=false", *args],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout.splitlines()[0])
        f32 = fetch("--normalize=standardize")
        for dtype in ("float16", "bfloat16"):
            got = fetch("--normalize=standardize", f"--dtype={dtype}")
            self.assertEqual(got["dtype"], dtype)
            np.testing.assert_allclose(got["mean"], f32["mean"], atol=0.01)
            np.testing.assert_allclose(got["max"], f32["max"], rtol=0.01)
        u8 = fetch("--normalize=standardize", "--dtype=uint8")
        scale, offset = self.expected_affine("standardize")
        np.testing.assert_allclose(u8["input_scale"], scale, rtol=1e-6)
        np.testing.assert_allclose(u8["input_offset"], offset, rtol=1e-6)
        out = os.path.join(self.tmp.name, "sheet.png")
        r = subprocess.run([CLI, "dump", f"--server={self.addr}", "--dataset=photos", "--size=20x24",
                            "--dtype=bfloat16", "--normalize=none", "--shuffle=false", f"--out={out}"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        sheet = np.asarray(Image.open(out))
        self.assertGreater(sheet.std(), 20)  # real pictures, not a blank or saturated sheet


if __name__ == "__main__":
    unittest.main(verbosity=2)
