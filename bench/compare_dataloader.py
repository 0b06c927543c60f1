#!/usr/bin/python3
"""imagefeed against the PyTorch DataLoader, on the same dataset, in one command.

    PYTHONPATH=client/python /usr/bin/python3 bench/compare_dataloader.py \
        --dataset=/tmp/photos/train [--server_bin=build/bin/imagefeed-server] [--workers=2] [--epochs=2]

Both pipelines produce the same thing: every image of an ImageFolder tree, decoded, resized to
224x224 (antialiased bilinear), standardized with per-channel mean/std, as float32 NCHW batches
of 64 with labels, in shuffled order, delivered to this Python process as torch tensors.

  dataloader   torch.utils.data.DataLoader(num_workers=W) over a map-style dataset: PIL decode,
               Image.resize((224, 224), BILINEAR), numpy -> tensor, (x - mean) / std
  imagefeed    imagefeed-server --threads=W on 127.0.0.1 (statistics fitted first), streamed with
               imagefeed.torch.ImageFeedDataset through a DataLoader(batch_size=None)

Prints images/s of each (median over --epochs, after one warm-up epoch of each that also
fills the page cache) and the ratio imagefeed / dataloader. Both share this machine's cores.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client", "python"))
import imagefeed  # noqa: E402
import imagefeed.torch  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


class Folder(torch.utils.data.Dataset):
    """torchvision.datasets.ImageFolder's order and labels, with PIL transforms."""

    def __init__(self, root):
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
        self.samples = []
        for label, c in enumerate(classes):
            for dirpath, _, files in sorted(os.walk(os.path.join(root, c))):
                for f in sorted(files):
                    if f.lower().endswith((".jpg", ".jpeg", ".png")):
                        self.samples.append((os.path.join(dirpath, f), label))

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        with Image.open(path) as img:
            x = np.asarray(img.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32)
        x = (x.transpose(2, 0, 1) / 255.0 - MEAN) / STD
        return torch.from_numpy(x), label


def time_epoch(loader):
    start, n = time.perf_counter(), 0
    for images, labels in loader:
        assert images.shape[1:] == (3, 224, 224) and len(labels) == images.shape[0]
        n += images.shape[0]
    return n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--server_bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin",
                                                         "imagefeed-server"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)

    folder = Folder(args.dataset)
    dl = torch.utils.data.DataLoader(folder, batch_size=64, shuffle=True, num_workers=args.workers,
                                     persistent_workers=True)
    time_epoch(dl)  # warm-up: worker start, page cache
    dl_rates = [time_epoch(dl) for _ in range(args.epochs)]

    with tempfile.TemporaryDirectory() as cache:
        server = subprocess.Popen([args.server_bin, "--listen=127.0.0.1:0", f"--dataset=bench={args.dataset}",
                                   f"--threads={args.workers}", f"--cache_dir={cache}"], stdout=subprocess.PIPE,
                                  text=True)
        try:
            addr = server.stdout.readline().split()[-1]
            imagefeed.Client(addr).stats("bench", wait=True)  # fitted first: time streaming only
            ds = imagefeed.torch.ImageFeedDataset(addr, "bench", batch_size=64, size=(224, 224),
                                                  normalize="standardize", shuffle=True)
            loader = torch.utils.data.DataLoader(ds, batch_size=None)
            time_epoch(loader)
            if_rates = []
            for e in range(args.epochs):
                ds.set_epoch(e + 1)
                if_rates.append(time_epoch(loader))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            server.stdout.close()

    d, f = statistics.median(dl_rates), statistics.median(if_rates)
    print(f"{'pipeline':<12} {'images/s':>9}  epochs")
    print(f"{'dataloader':<12} {d:9.1f}  {' '.join(f'{r:.1f}' for r in dl_rates)}")
    print(f"{'imagefeed':<12} {f:9.1f}  {' '.join(f'{r:.1f}' for r in if_rates)}")
    print(f"ratio imagefeed/dataloader: {f / d:.2f}  ({len(folder)} images, {args.workers} workers/threads)")


if __name__ == "__main__":
    main()
