"""One rank of a torch.distributed job for test_torch.py: iterates an ImageFeedDataset
whose rank and world size come from torch.distributed, and prints the sample ids as JSON.

    dist_worker.py SERVER INIT_FILE RANK WORLD_SIZE NUM_WORKERS
"""

import json
import sys

import imagefeed.torch
import torch
import torch.distributed as dist


def main():
    server, init_file, rank, world, workers = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=2, seed=11)
    ids, padded = [], []
    length = len(ds)  # from a helper process: the forked workers below must not inherit gRPC
    for batch in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers):
        ids += batch.sample_ids.tolist()
        padded += [i in batch.padded for i in range(len(batch.labels))]
    print(json.dumps({"rank": dist.get_rank(), "ids": ids, "padded": padded, "len": length,
                      "state": ds.state_dict()}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
