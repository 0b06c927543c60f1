#!/usr/bin/python3
"""Trains a small CNN on imagefeed's built-in demo dataset (four shapes in random colours),
reading every batch from an imagefeed server through the Python client.

    build/bin/imagefeed-server &        # serves `demo` on 127.0.0.1:50051
    PYTHONPATH=client/python /usr/bin/python3 examples/train_torch.py [--server=HOST:PORT] [--epochs=N]

Samples whose id is a multiple of 5 (60 of 300, 15 per class) are held out: training skips
them, and after each epoch they are streamed on their own (rank 0 of world_size 5 in
ascending order is exactly those ids) to measure validation accuracy. Prints one line per
epoch with the loss, training accuracy and validation accuracy.
"""

import argparse
import sys
import time

import imagefeed
import imagefeed.torch
import torch
from torch import nn

HOLDOUT = 5  # every HOLDOUT-th sample id is held out for validation


class SmallCNN(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(64, num_classes)

    def forward(self, x):
        # The colours are random and carry no class information: standardize each image.
        x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-3)
        return self.classifier(self.features(x))


def evaluate(model, client, args):
    """Accuracy on the held-out samples: rank 0 of HOLDOUT, unshuffled, is ids 0, 5, 10, ..."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for b in client.batches(args.dataset, batch_size=64, size=args.size, shuffle=False,
                                rank=0, world_size=HOLDOUT):
            assert (b.sample_ids % HOLDOUT == 0).all()
            images, labels = imagefeed.torch.to_tensors(b)
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(b.labels)
    return correct / total, total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", "--servers", dest="server", default="127.0.0.1:50051",
                        help="HOST:PORT, or several comma-separated (their batches fan in)")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch_size", type=int, default=20)
    parser.add_argument("--size", type=int, default=48, help="images are resized to size x size")
    parser.add_argument("--workers", type=int, default=0,
                        help="DataLoader workers (decoding happens on the server; 0 is usually enough)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    servers = args.server.split(",")
    client = imagefeed.Client(servers)
    info = next((d for d in client.datasets() if d["name"] == args.dataset), None)
    if info is None:
        sys.exit(f"train_torch: the server does not serve dataset {args.dataset!r}")
    print(f"dataset {info['name']}: {info['num_samples']} samples, classes {info['classes']}", flush=True)

    # The three lines a training script needs:
    train = imagefeed.torch.ImageFeedDataset(servers, args.dataset, batch_size=args.batch_size,
                                             size=args.size, shuffle=True, seed=args.seed)
    loader = torch.utils.data.DataLoader(train, batch_size=None, num_workers=args.workers,
                                         multiprocessing_context="spawn" if args.workers else None)

    model = SmallCNN(len(info["classes"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs,
                                                   pct_start=0.25)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(args.epochs):
        started = time.monotonic()
        train.set_epoch(epoch)
        model.train()
        loss_sum = correct = total = 0
        for batch in loader:
            images, labels = batch
            keep = batch.sample_ids % HOLDOUT != 0  # held-out samples are not trained on
            images, labels = images[keep], labels[keep]
            if len(labels) == 0:
                continue
            logits = model(images)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            total += len(labels)
        schedule.step()
        val_accuracy, val_total = evaluate(model, client, args)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / total:.3f}, "
              f"train accuracy {correct / total:.3f} ({total} samples), "
              f"validation accuracy {val_accuracy:.3f} ({val_total} held out), "
              f"{time.monotonic() - started:.1f} s", flush=True)
    client.close()


if __name__ == "__main__":
    main()
