"""PyTorch adapter: an IterableDataset over imagefeed streams.

    ds = imagefeed.torch.ImageFeedDataset("127.0.0.1:50051", "demo", batch_size=64, size=(224, 224))
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for images, labels in loader: ...

The server makes the batches, so the DataLoader must not batch again: batch_size=None.

Workers: grpcio cannot be used reliably in a process forked from one that has used gRPC.
DataLoader forks its workers by default, which is fine as long as the main process has not
created an imagefeed.Client (the dataset itself connects only inside the workers). If it
has, pass multiprocessing_context="spawn" (or "forkserver"); a forked worker otherwise
stops with an error that says this.

Is the job data-bound? With num_workers=0, ds.stall_report() says how much of the training
loop's time went into waiting for batches (report_stalls=True prints it once per epoch). With
worker processes the streams, and so the measurement, live in the workers: there a stream's
wait is the worker's wait for the server, and its "compute" the worker's time handing batches
to the DataLoader (or blocked while the DataLoader's prefetch queue is full), which says
whether the server keeps up with the workers, not whether the trainer waits. For the trainer's
side wrap the loader: imagefeed.measure_stalls(loader).
"""

import multiprocessing
import os
import uuid
import warnings
import weakref
from time import perf_counter

import grpc
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from imagefeed import _client
from imagefeed._client import Client, ImageFeedError, make_request
from imagefeed._stall import Meter

try:
    from grpc._cython import cygrpc
except ImportError:  # pragma: no cover
    cygrpc = None

# Datasets by id, so that a batch delivered in the main process can report its progress
# to the dataset object there (workers hold copies of the dataset).
_DATASETS = weakref.WeakValueDictionary()


def _tensor(array, bfloat16=False):
    # Batch arrays view the received (immutable) message bytes; torch has no read-only
    # tensors and warns. Writing into the tensor is possible and harmless (nothing else
    # uses those bytes), but prefer out-of-place ops on `images`.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        if bfloat16:  # numpy holds the raw bits as uint16, which torch 1.13 cannot wrap; int16 it can
            return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(array)


def _images_tensor(batch):
    return _tensor(batch.images, bfloat16=batch.dtype == "bfloat16")


def to_tensors(batch):
    """(images, labels) of an imagefeed.Batch as torch tensors, without copying (bfloat16
    batches as torch.bfloat16; raw uint8 as uint8: see model_input)."""
    return _images_tensor(batch), _tensor(batch.labels)


def model_input(images, layout="nchw", input_scale=None, input_offset=None, device=None, model_dtype=None):
    """The model input of a batch's images tensor (as received), computed on `device`.

    The tensor moves to `device` first (None: stays where it is; non_blocking, so pinned
    memory copies asynchronously), so the bytes that cross PCIe are the wire's: uint8 or
    16-bit. There, raw uint8 values with input_scale/input_offset (one per channel, as
    imagefeed.Batch carries them) become images * scale[c] + offset[c], computed in float32
    as the server's dtype="float32" computes it (a multiply, then an add). float16 and
    bfloat16 are the model input already. The result has `model_dtype`, by default
    torch.float32 for uint8 with a normalization, float16 and bfloat16; raw uint8 without
    one (normalize unset or "none") stays uint8 unless model_dtype is given.
    """
    x = images if device is None else images.to(device, non_blocking=True)
    if input_scale is None and model_dtype is None and x.dtype == torch.uint8:
        return x
    if input_scale is not None:
        shape = (1, -1, 1, 1) if layout == "nchw" else (1, 1, 1, -1)
        scale = torch.as_tensor(input_scale, dtype=torch.float32, device=x.device).reshape(shape)
        offset = torch.as_tensor(input_offset, dtype=torch.float32, device=x.device).reshape(shape)
        x = x.to(torch.float32) * scale + offset  # out of place: never writes the received bytes
    return x.to(model_dtype or torch.float32)


def batch_model_input(batch, device=None, model_dtype=None):
    """model_input() of an imagefeed.Batch."""
    return model_input(_images_tensor(batch), batch.layout, batch.input_scale, batch.input_offset,
                       device=device, model_dtype=model_dtype)


class TorchBatch:
    """One batch as torch tensors. Unpacks like the pair (images, labels); also carries
    sample_ids (int64 tensor), epoch, position, span, skipped and the stream it came from.

    `images` is the model input (see model_input): computed on first access, on the
    dataset's `device` with its `model_dtype`, in the process that reads it (after the
    DataLoader handed the batch over, so workers never touch the GPU). `wire_images` is the
    tensor as received (uint8, float16, bfloat16 or float32, on the CPU), `input_scale` and
    `input_offset` the per-channel normalization of raw uint8 (None otherwise), `layout`
    "nchw" or "nhwc".

    It counts as delivered for ImageFeedDataset.state_dict() once it is unpacked, indexed,
    or its images, labels or sample_ids are read in the process that owns the dataset
    (batches a DataLoader has prefetched but not handed out do not count).
    """

    def __init__(self, images, labels, sample_ids, epoch, position, span, skipped, stream, owner,
                 layout="nchw", input_scale=None, input_offset=None, device=None, model_dtype=None):
        self._wire_images = images
        self._images = None  # the model input, made on first access
        self.layout = layout
        self.input_scale = input_scale
        self.input_offset = input_offset
        self._device = device
        self._model_dtype = model_dtype
        self._labels = labels
        self._sample_ids = sample_ids
        self.epoch = epoch
        self.position = position
        self.span = span
        self.skipped = skipped
        self.stream = stream  # "sub_rank/sub_world_size/server", the key in state_dict()
        self._owner = owner

    def _deliver(self):
        owner = _DATASETS.get(self._owner)
        if owner is not None:
            owner._delivered(self.stream, self.position + self.span)

    @property
    def wire_images(self):
        return self._wire_images

    def _model_input(self):
        if self._images is None:
            self._images = model_input(self._wire_images, self.layout, self.input_scale, self.input_offset,
                                       self._device, self._model_dtype)
        return self._images

    @property
    def images(self):
        self._deliver()
        return self._model_input()

    @property
    def labels(self):
        self._deliver()
        return self._labels

    @property
    def sample_ids(self):
        self._deliver()
        return self._sample_ids

    def __iter__(self):
        self._deliver()
        return iter((self._model_input(), self._labels))

    def __getitem__(self, index):
        self._deliver()
        return (self._model_input(), self._labels)[index]

    def __len__(self):
        return 2

    def pin_memory(self):
        """Called by DataLoader(pin_memory=True)."""
        return TorchBatch(self._wire_images.pin_memory(), self._labels.pin_memory(), self._sample_ids,
                          self.epoch, self.position, self.span, self.skipped, self.stream, self._owner,
                          self.layout, self.input_scale, self.input_offset, self._device, self._model_dtype)

    def __getstate__(self):  # DataLoader workers send the batch as received, never a device tensor
        return {**self.__dict__, "_images": None}

    def __repr__(self):
        return (f"TorchBatch(images={tuple(self._wire_images.shape)} {self._wire_images.dtype}, "
                f"stream={self.stream!r}, position={self.position}, span={self.span})")


class ImageFeedDataset(IterableDataset):
    """A torch IterableDataset streaming `dataset` from imagefeed server(s).

    target: "host:port" or a list of servers serving the same dataset (fan-in; see
      imagefeed.Client), or an imagefeed.Client (its targets and settings are used; the
      dataset makes its own clients, in the processes that iterate).
    token, client_options: arguments of imagefeed.Client (tls, tls_ca, timeout, ...).
    batch_size and **batch_kwargs: as imagefeed.Client.batches (size, normalize, shuffle,
      seed, drop_last, on_error, ...), checked here (ValueError). Use DataLoader(ds,
      batch_size=None): batches come from the server.
    rank, world_size: default to torch.distributed's when it is initialized, else 0 and 1.
      Each DataLoader worker w of W within rank r reads sub-rank r*W + w of world_size*W,
      so ranks and workers together deliver every sample exactly once per epoch.
    Workers: if this process has created an imagefeed.Client, give the DataLoader
      multiprocessing_context="spawn" (see the module docstring).
    Yields TorchBatch objects, which unpack as (images, labels): torch tensors made with
      torch.from_numpy over the received bytes (no copy in the process that received them).
    device, model_dtype: where and as what the images become the model input (see
      model_input), done when the batch's images are first read, in the process reading
      them: device="cuda" moves a uint8 (dtype="uint8", normalize="standardize") or half
      batch to the GPU and normalizes there, so a quarter (half) of float32's bytes cross
      the wire and PCIe. model_dtype defaults to torch.float32 for uint8 with a
      normalization, float16 and bfloat16; raw uint8 stays uint8 unless it is given.

    set_epoch(e) before each epoch, like DistributedSampler (the order is a permutation drawn
    from (seed, epoch)). state_dict() records, per stream, how far delivered batches reach;
    load_state_dict() on a fresh dataset makes the next iteration yield exactly the samples
    not yet delivered (same world_size, num_workers and servers required). It stays in effect
    until set_epoch() moves to another epoch. Do not use persistent_workers=True: workers
    would keep their copy of the epoch and resume state.

    stall_report(include_first_batch=False, reset=False): an imagefeed.StallReport over the
    iterations run in this process (num_workers=0: the training loop's own waits). With
    DataLoader workers it is empty: see the module docstring and imagefeed.measure_stalls.
    report_stalls=True: one summary line at the end of each epoch (from each worker, about
    its own waits, when there are workers).
    """

    def __init__(self, target, dataset, batch_size=32, *, token=None, rank=None, world_size=None,
                 epoch=0, client_options=None, report_stalls=False, device=None, model_dtype=None,
                 **batch_kwargs):
        super().__init__()
        self._device = None if device is None else str(torch.device(device))
        self._model_dtype = model_dtype
        if model_dtype is not None and not isinstance(model_dtype, torch.dtype):
            raise ValueError(f"model_dtype={model_dtype!r}: expected a torch.dtype such as torch.float16")
        client_options = dict(client_options or {})
        if isinstance(target, Client):
            client_options = {**target.settings, **client_options}
            targets = target.targets
        else:
            targets = [target] if isinstance(target, str) else list(target)
        if token is not None:
            client_options["token"] = token
        if "start" in batch_kwargs:
            raise ValueError("start= is managed by ImageFeedDataset; use load_state_dict()")
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither (then torch.distributed's)")
        make_request(dataset, batch_size=batch_size, **batch_kwargs)  # fail early on bad arguments
        self._targets = targets
        self._client_options = client_options
        self._dataset = dataset
        self._batch_kwargs = dict(batch_kwargs, batch_size=batch_size)
        self._rank = rank
        self._world_size = world_size
        self._epoch = int(epoch)
        self._resume = {}
        self._progress = {}
        self._uid = uuid.uuid4().hex
        self._report_stalls = bool(report_stalls or client_options.get("report_stalls"))
        self._stalls = Meter()
        _DATASETS[self._uid] = self

    def __getstate__(self):
        state = dict(self.__dict__)
        # Spawned workers do not inherit torch.distributed; pass its rank on.
        state["_rank"], state["_world_size"] = self._rank_and_world()
        del state["_stalls"]  # a lock; each process measures its own iterations
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._stalls = Meter()
        _DATASETS.setdefault(self._uid, self)

    def _rank_and_world(self):
        if self._rank is not None:
            return self._rank, self._world_size
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    @property
    def epoch(self):
        return self._epoch

    def set_epoch(self, epoch):
        """Selects the epoch the next iteration streams. Moving to another epoch forgets
        the progress of the previous one."""
        epoch = int(epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._resume = {}
            self._progress = {}

    def stall_report(self, include_first_batch=False, reset=False):
        """Waits for batches versus time between them, over this process's iterations (see
        the class docstring); reset=True starts over after this report."""
        return self._stalls.report(include_first_batch, reset=reset)

    def _delivered(self, stream, next_start):
        self._progress[stream] = next_start

    def state_dict(self):
        """{"epoch": e, "next_start": {"sub_rank/sub_world_size/server": start}}: where each
        of this process's streams resumes, after the batches delivered so far."""
        return {"epoch": self._epoch, "next_start": {**self._resume, **self._progress}}

    def load_state_dict(self, state):
        self._epoch = int(state["epoch"])
        self._resume = {str(k): int(v) for k, v in state["next_start"].items()}
        self._progress = {}

    def _starts(self, sub_rank, sub_world, num_servers):
        starts = [0] * num_servers
        for key, start in self._resume.items():
            r, w, server = (int(x) for x in key.split("/"))
            if w != sub_world or server >= num_servers:
                raise ValueError(
                    f"cannot resume stream {key} (sub-rank/world/server): this iteration reads sub-rank "
                    f"{sub_rank} of {sub_world} from {num_servers} server(s); resume needs the same "
                    f"world_size, num_workers and servers as when the state was saved")
            if r == sub_rank:
                starts[server] = start
        return starts

    def __iter__(self):
        began = perf_counter()  # the loop's first next(): connecting is part of its first wait
        rank, world = self._rank_and_world()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        sub_rank, sub_world = rank * workers + worker, world * workers
        starts = self._starts(sub_rank, sub_world, len(self._targets))
        _check_not_forked_after_grpc(info)
        client = Client(self._targets, **{**self._client_options, "report_stalls": self._report_stalls})
        try:
            stream = client.batches(self._dataset, rank=sub_rank, world_size=sub_world,
                                    epoch=self._epoch, start=starts if len(starts) > 1 else starts[0],
                                    **self._batch_kwargs)
            stream._timer.also_record_into(self._stalls)
            stream._timer.first_wait_began(began)
            if info is not None:
                stream._timer.set_who(f"DataLoader worker {worker} of {workers}")
            with stream:
                for b in _explain_fork_errors(stream, info):
                    yield TorchBatch(_images_tensor(b), _tensor(b.labels), _tensor(b.sample_ids), b.epoch,
                                     b.position, b.span, b.skipped, f"{sub_rank}/{sub_world}/{b.stream}",
                                     self._uid, b.layout, _list(b.input_scale), _list(b.input_offset),
                                     self._device, self._model_dtype)
        finally:
            client.close()


def _list(array):
    return None if array is None else array.tolist()


_FORK_ADVICE = ("gRPC (grpcio) does not work reliably in a process forked from one that has "
                "used it. Start the workers another way, e.g. DataLoader(ds, batch_size=None, "
                "num_workers=2, multiprocessing_context='spawn'), or create no imagefeed.Client "
                "in the main process before the workers start")


def _check_not_forked_after_grpc(worker_info):
    """Fails fast, with the fix, instead of connections that hang or fail at random."""
    if worker_info is None or _client.grpc_used_in_pid in (None, os.getpid()):
        return
    if cygrpc is not None and cygrpc.is_fork_support_enabled():
        return  # GRPC_ENABLE_FORK_SUPPORT=1: the user opted into gRPC's own fork handling
    raise RuntimeError(f"imagefeed: DataLoader worker {worker_info.id} was forked from process "
                       f"{_client.grpc_used_in_pid}, which had created an imagefeed.Client. "
                       + _FORK_ADVICE)


def _explain_fork_errors(stream, worker_info):
    """Connection failures in a forked worker are most likely gRPC state inherited from a
    parent that used gRPC in some other way: say so."""
    try:
        yield from stream
    except ImageFeedError as err:
        if worker_info is None or err.code != grpc.StatusCode.UNAVAILABLE or \
                multiprocessing.get_start_method(allow_none=True) not in (None, "fork"):
            raise
        raise ImageFeedError(err.code, f"{err.details}. If this process used gRPC before the DataLoader "
                             f"forked this worker, that is the likely cause: {_FORK_ADVICE}",
                             err.target, err.method) from None
