"""imagefeed.torch.ImageFeedDataset with real DataLoaders and servers."""

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not importable by this Python (Debian: apt-get install python3-torch); "
                    "the imagefeed.torch tests need it")

import imagefeed._cursor  # noqa: E402
import imagefeed.torch  # noqa: E402
from conftest import HEIGHT, LABELS, NUM_SAMPLES, WIDTH, expected_image  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402


def make_loader(ds, num_workers=0):
    """A DataLoader as the README shows it: gRPC cannot be used in forked children of a
    process that used gRPC, so workers are spawned."""
    return DataLoader(ds, batch_size=None, num_workers=num_workers,
                      multiprocessing_context="spawn" if num_workers else None)


HERE = os.path.dirname(os.path.abspath(__file__))
ALL = list(range(NUM_SAMPLES))


def ids_of(batches):
    return [i for b in batches for i in b.sample_ids.tolist()]


def test_yields_tensors_with_exact_labels_and_pixels(server):
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=4, shuffle=False, normalize="none")
    seen = []
    for images, labels in make_loader(ds):
        assert isinstance(images, torch.Tensor) and images.dtype == torch.float32
        assert images.shape[1:] == (3, HEIGHT, WIDTH) and labels.dtype == torch.int64
        start = len(seen)
        ids = list(range(start, start + len(labels)))
        assert labels.tolist() == LABELS[ids].tolist()
        want = np.stack([expected_image(i) for i in ids]).transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(images.numpy(), want.astype(np.float32))
        seen += ids
    assert seen == ALL


def test_tensors_share_memory_with_the_received_batch(server):
    batch = next(iter(imagefeed.Client(server).batches("tiny", batch_size=3)))
    with warnings.catch_warnings(record=True) as warnings_seen:
        warnings.simplefilter("always")
        images, labels = imagefeed.torch.to_tensors(batch)
    assert not [w for w in warnings_seen if "not writable" in str(w.message)]
    assert images.data_ptr() == batch.images.__array_interface__["data"][0]
    assert labels.data_ptr() == batch.labels.__array_interface__["data"][0]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_dataloader_workers_deliver_each_sample_once(server, num_workers):
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=3, seed=4)
    batches = list(make_loader(ds, num_workers))
    ids = ids_of(batches)
    assert sorted(ids) == ALL
    for b in batches:
        assert b.labels.tolist() == LABELS[b.sample_ids.numpy()].tolist()
    if num_workers == 2:  # both workers contributed, and the order is the one of no workers
        assert {b.stream for b in batches} == {"0/2", "1/2"}
        assert ids == ids_of(make_loader(ds, 0))


def test_ranks_times_workers_deliver_each_sample_once(server):
    ids = []
    for rank in range(2):
        ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=2, seed=9, rank=rank, world_size=2)
        ids += ids_of(make_loader(ds, 2))
    assert sorted(ids) == ALL


def test_rank_and_world_size_come_from_torch_distributed(server, tmp_path):
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "dist_worker.py"), server,
                               str(tmp_path / "init"), str(rank), "2", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["rank"] for r in results] == [0, 1]
    # Under torch.distributed even shards default to "pad": 23 samples make 12 per rank, the
    # 24th position a repeat of the order's first sample, marked padded.
    assert [len(r["ids"]) for r in results] == [12, 12] and [r["len"] for r in results] == [6, 6]
    unpadded = [i for r in results for i, p in zip(r["ids"], r["padded"]) if not p]
    assert sorted(unpadded) == ALL and sum(r["padded"].count(True) for r in results) == 1
    assert all(r["state"]["cursor"].startswith("ifc1.") for r in results)


def test_set_epoch_changes_the_order_like_distributed_sampler(server):
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=5, seed=2)
    first = ids_of(make_loader(ds))
    assert ids_of(make_loader(ds)) == first
    ds.set_epoch(1)
    second = ids_of(make_loader(ds))
    assert sorted(second) == ALL and second != first
    assert all(b.epoch == 1 for b in make_loader(ds))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_state_dict_resumes_exactly_the_undelivered_samples(server, num_workers):
    def make():
        return imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=2, seed=6, epoch=3)

    full = ids_of(make_loader(make(), num_workers))
    ds = make()
    consumed = []
    for i, (images, labels) in enumerate(make_loader(ds, num_workers)):
        consumed.append(labels)
        if i == 4:
            state = ds.state_dict()
            break
    assert state["epoch"] == 3
    # The loop has seen 5 batches; the workers have prefetched more, which must not count.
    assert imagefeed._cursor.decode(state["cursor"]).position == 10
    resumed = make()
    resumed.set_epoch(0)  # a fresh dataset at some other epoch: the state sets the epoch
    resumed.load_state_dict(state)
    rest = ids_of(make_loader(resumed, num_workers))
    assert rest == full[10:]
    # After the resumed epoch finishes, resuming again yields nothing more of it.
    again = make()
    again.load_state_dict(resumed.state_dict())
    assert ids_of(make_loader(again, num_workers)) == []
    # Another worker count continues the same sequence.
    other = make()
    other.load_state_dict(state)
    assert ids_of(make_loader(other, 2 - num_workers)) == full[10:]


def test_fan_in_with_workers_and_resume(server, server2):
    def make():
        return imagefeed.torch.ImageFeedDataset([server, server2], "tiny", batch_size=2, seed=8)

    full = ids_of(make_loader(make(), 2))
    assert sorted(full) == ALL
    ds = make()
    loader = iter(make_loader(ds, 2))
    head = ids_of([next(loader) for _ in range(5)])
    state = ds.state_dict()
    del loader
    resumed = make()
    resumed.load_state_dict(state)
    rest = ids_of(make_loader(resumed, 2))
    assert head + rest == full
    assert full == ids_of(make_loader(imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=2, seed=8)))


def test_bad_arguments_fail_at_construction(server):
    with pytest.raises(ValueError, match="colour"):
        imagefeed.torch.ImageFeedDataset(server, "tiny", colour="red")
    with pytest.raises(ValueError, match="normalize"):
        imagefeed.torch.ImageFeedDataset(server, "tiny", normalize="whiten")
    with pytest.raises(ValueError, match="load_state_dict"):
        imagefeed.torch.ImageFeedDataset(server, "tiny", start=3)


_FORK_AFTER_GRPC = """
import sys
import imagefeed, imagefeed.torch
from torch.utils.data import DataLoader
client = imagefeed.Client(sys.argv[1])
client.datasets()  # this process has used gRPC
ds = imagefeed.torch.ImageFeedDataset(sys.argv[1], "tiny", batch_size=4)
try:
    list(DataLoader(ds, batch_size=None, num_workers=1, multiprocessing_context="fork"))
except RuntimeError as err:
    print(err)
    sys.exit(0 if "multiprocessing_context='spawn'" in str(err) else 1)
sys.exit(2)  # the forked worker streamed
"""


def test_forked_workers_after_a_client_fail_fast_with_the_fix(server):
    # In a fresh interpreter that has made one gRPC call. GRPC_ENABLE_FORK_SUPPORT=false: grpcio's
    # core (built into cygrpc, fork support on by default at that level although grpcio reports it
    # off) runs a prefork handler that joins its executor threads, and on a loaded machine that
    # join deadlocked fork() itself (gdb: __run_prefork_handlers -> pthread_join in cygrpc; 4 of 30
    # runs beside two busy loops, 0 of 40 with the variable), before any worker, and so the fix,
    # could run. Forking after gRPC use is what the fix refuses either way.
    result = subprocess.run([sys.executable, "-c", _FORK_AFTER_GRPC, server], capture_output=True, text=True,
                            timeout=240, env=dict(os.environ, GRPC_ENABLE_FORK_SUPPORT="false"))
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "multiprocessing_context='spawn'" in result.stdout


def test_dataset_made_from_a_client_keeps_its_token_and_tls(secure_server):
    address, ca = secure_server
    client = imagefeed.Client(address, token="open-sesame", tls_ca=ca)
    ds = imagefeed.torch.ImageFeedDataset(client, "tiny", batch_size=5)
    assert sorted(ids_of(make_loader(ds, 2))) == ALL
    refused = imagefeed.torch.ImageFeedDataset(address, "tiny", client_options={"tls_ca": ca})
    with pytest.raises(imagefeed.ImageFeedError, match="UNAUTHENTICATED"):
        list(make_loader(refused))


def summary_lines(text):
    return [line for line in text.splitlines() if line.startswith("imagefeed: ")]


def test_dataset_stall_report_measures_the_training_loop(server, capsys):
    step = 0.02  # the "training step": its total must come back as compute time
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=4, report_stalls=True)
    slept = elapsed = 0.0
    for epoch in range(2):
        ds.set_epoch(epoch)
        start = time.perf_counter()
        for images, labels in make_loader(ds):
            t = time.perf_counter()
            time.sleep(step)
            slept += time.perf_counter() - t
        elapsed += time.perf_counter() - start
        lines = summary_lines(capsys.readouterr().err)
        assert len(lines) == 1 and "the trainer waited for data" in lines[0] and "over 6 batches" in lines[0], lines
    r = ds.stall_report()
    assert r.batches == 12 and r.streams == 2
    assert slept <= r.compute_seconds <= slept * 1.5 + 0.1
    assert r.stall_fraction < 0.3, r
    total = r.wait_seconds + r.compute_seconds + r.first_batch_seconds
    # Outside the measurement: only iter(loader) and the loop itself.
    assert 0.85 * elapsed - 0.03 <= total <= elapsed, (total, elapsed)
    assert ds.stall_report(reset=True) == r and ds.stall_report().batches == 0

    quiet = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=4)
    assert len(list(make_loader(quiet))) == 6
    assert summary_lines(capsys.readouterr().err) == [] and quiet.stall_report().batches == 6


def test_with_workers_the_workers_report_and_measure_stalls_times_the_trainer(server, capfd):
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=4, report_stalls=True)
    timed = imagefeed.measure_stalls(make_loader(ds, num_workers=2))
    slept = 0.0
    for images, labels in timed:
        t = time.perf_counter()
        time.sleep(0.02)
        slept += time.perf_counter() - t
    r = timed.stall_report()
    assert r.batches == 6 and slept <= r.compute_seconds <= slept * 1.5 + 0.1
    # The workers each printed their own line (about their waits for the server).
    lines = sorted(summary_lines(capfd.readouterr().err))
    assert len(lines) == 2, lines
    assert lines[0].startswith("imagefeed: DataLoader worker 0 of 2 waited for data")
    assert lines[1].startswith("imagefeed: DataLoader worker 1 of 2 waited for data")
    # The main process ran no stream: its report is empty and says where to look.
    assert ds.stall_report().batches == 0 and "imagefeed.measure_stalls(loader)" in str(ds.stall_report())


@pytest.mark.parametrize("num_workers", [0, 1])
def test_dataloader_that_batches_again_says_to_pass_batch_size_none(server, num_workers):
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=4)
    loader = DataLoader(ds, num_workers=num_workers,  # batch_size defaults to 1
                        multiprocessing_context="spawn" if num_workers else None)
    with pytest.raises(TypeError, match="batch_size=None"):
        next(iter(loader))


def test_len_is_the_number_of_batches_yielded(server):
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=5, seed=1)
    assert len(ds) == len(make_loader(ds)) == len(list(make_loader(ds))) == 5  # 23 samples
    ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=5, seed=1, drop_last=True)
    assert len(ds) == len(list(make_loader(ds))) == 4
    for mode, per_rank in (("pad", 12), ("drop", 11)):
        for rank in range(2):
            ds = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=5, rank=rank, world_size=2,
                                                  even_shards=mode)
            batches = list(make_loader(ds))
            assert len(ds) == len(batches) == -(-per_rank // 5)
            assert sum(len(b.labels) for b in batches) == per_rank
    uneven = imagefeed.torch.ImageFeedDataset(server, "tiny", batch_size=5, rank=0, world_size=2)
    with pytest.raises(TypeError, match="even_shards"):
        len(uneven)
