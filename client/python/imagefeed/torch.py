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
import sys
import uuid
import warnings
import weakref
from time import perf_counter

import grpc
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info
from torch.utils.data._utils.fetch import _BaseDatasetFetcher

from imagefeed import _client, _cursor
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
    sample_ids (int64 tensor), epoch, position, span, skipped, cursor (the token that resumes
    after it), padded (indices of padded repeats, even_shards="pad"), replaced (samples
    replaced to keep the batch full: dicts {index, original_id, replacement_id}), target (the
    server that sent it) and stream ("worker/num_workers").

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
                 cursor=None, padded=(), replaced=(), target="", layout="nchw", input_scale=None,
                 input_offset=None, device=None, model_dtype=None):
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
        self.stream = stream
        self.cursor = cursor
        self.padded = list(padded)
        self.replaced = list(replaced)
        self.target = target
        self._owner = owner
        self._delivered_once = False

    def _deliver(self):
        # The first access is the delivery: a DataLoader hands batches out in order, and a
        # loop reading an older batch again must not move the state back.
        if self._delivered_once:
            return
        self._delivered_once = True
        owner = _DATASETS.get(self._owner)
        if owner is not None and self.cursor is not None:
            owner._delivered(self.cursor)

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
                          self.cursor, self.padded, self.replaced, self.target, self.layout, self.input_scale,
                          self.input_offset, self._device, self._model_dtype)

    def __getstate__(self):  # DataLoader workers send the batch as received, never a device tensor
        return {**self.__dict__, "_images": None}

    def __repr__(self):
        return (f"TorchBatch(images={tuple(self._wire_images.shape)} {self._wire_images.dtype}, "
                f"stream={self.stream!r}, position={self.position}, span={self.span})")


_AUTO = "auto"
_EVEN_MODES = (None, "none", "pad", "drop")


class ImageFeedDataset(IterableDataset):
    """A torch IterableDataset streaming `dataset` from imagefeed server(s).

    target: as imagefeed.Client: "host:port", several ("a:1,b:2" or a list; fan-in with
      failover, byte-identical to one server), "dns:///name:port", or an imagefeed.Client
      (its targets and settings are used; the dataset makes its own clients, in the
      processes that iterate).
    token, client_options: arguments of imagefeed.Client (tls, tls_ca, timeout,
      failover_timeout, progress_timeout, ...).
    batch_size and **batch_kwargs: as imagefeed.Client.batches (size, normalize, shuffle,
      seed, drop_last, on_error, ...), checked here (ValueError). Use DataLoader(ds,
      batch_size=None): batches come from the server; any other batch_size raises a
      TypeError that says so.
    rank, world_size: default to torch.distributed's when it is initialized, else 0 and 1.
    even_shards: "pad" (every rank gets ceil(n / world_size) samples, wrapping around to
      the start of the order, as DistributedSampler does; repeats are listed in
      batch.padded), "drop" (floor(n / world_size), the remainder is not delivered) or None.
      Default: "pad" when torch.distributed is initialized, else None. With even shards
      (or drop_last) every batch is full: a sample that fails is replaced (batch.replaced).
    len(ds): the number of batches this rank yields this epoch (from where it resumes),
      known with even shards or a single rank (DescribeStream; a TypeError otherwise: ranks
      may then differ by a batch). It asks the server, from a short-lived helper process if
      this process has not used gRPC yet (so forked DataLoader workers stay safe).
    Workers: DataLoader workers split the rank's batches round-robin (worker w of W reads
      batches w, w+W, ...), and the DataLoader's in-order delivery merges them back: the
      batches arrive in the same order whatever num_workers is. If this process has created
      an imagefeed.Client, give the DataLoader multiprocessing_context="spawn" (see the
      module docstring). Do not pass in_order=False-like options that reorder batches.
    Yields TorchBatch objects, which unpack as (images, labels): torch tensors made with
      torch.from_numpy over the received bytes (no copy in the process that received them).
    device, model_dtype: where and as what the images become the model input (see
      model_input), done when the batch's images are first read, in the process reading
      them: device="cuda" moves a uint8 (dtype="uint8", normalize="standardize") or half
      batch to the GPU and normalizes there, so a quarter (half) of float32's bytes cross
      the wire and PCIe. model_dtype defaults to torch.float32 for uint8 with a
      normalization, float16 and bfloat16; raw uint8 stays uint8 unless it is given.

    set_epoch(e) before each epoch, like DistributedSampler (the order is a permutation drawn
    from (seed, epoch)). state_dict() is {"cursor": token, "epoch": e}: the cursor of the
    last batch the loop received. load_state_dict() makes the next iteration continue right
    after it, on any servers, with any num_workers, and with another world size (elastic
    resume: in synchronous data-parallel training every rank has consumed the same number
    of batches, so any rank's state serves every rank of the restarted job; see the README).
    It stays in effect until set_epoch() moves to another epoch. Do not use
    persistent_workers=True: workers would keep their copy of the epoch and resume state.

    stall_report(include_first_batch=False, reset=False): an imagefeed.StallReport over the
    iterations run in this process (num_workers=0: the training loop's own waits). With
    DataLoader workers it is empty: see the module docstring and imagefeed.measure_stalls.
    report_stalls=True: one summary line at the end of each epoch (from each worker, about
    its own waits, when there are workers).
    """

    def __init__(self, target, dataset, batch_size=32, *, token=None, rank=None, world_size=None,
                 epoch=0, client_options=None, report_stalls=False, even_shards=_AUTO, device=None,
                 model_dtype=None, **batch_kwargs):
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
            targets = _client.parse_targets(target)
        if token is not None:
            client_options["token"] = token
        for managed in ("start", "resume"):
            if managed in batch_kwargs:
                raise ValueError(f"{managed}= is managed by ImageFeedDataset; use load_state_dict()")
        if "even_shards" in batch_kwargs:
            even_shards = batch_kwargs.pop("even_shards")
        if even_shards not in _EVEN_MODES + (_AUTO,):
            raise ValueError(f"even_shards={even_shards!r}: expected 'pad', 'drop' or None")
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither (then torch.distributed's)")
        make_request(dataset, batch_size=batch_size, **batch_kwargs)  # fail early on bad arguments
        self._targets = targets
        self._client_options = client_options
        self._dataset = dataset
        self._batch_kwargs = dict(batch_kwargs, batch_size=batch_size)
        self._rank = rank
        self._world_size = world_size
        self._even_shards = even_shards
        self._epoch = int(epoch)
        self._resume = None    # cursor token the next iteration continues after
        self._start = 0        # or a start (a state saved by an older imagefeed)
        self._progress = None  # cursor of the last batch delivered in this process
        self._lengths = {}
        self._uid = uuid.uuid4().hex
        self._report_stalls = bool(report_stalls or client_options.get("report_stalls"))
        self._stalls = Meter()
        _DATASETS[self._uid] = self

    def __getstate__(self):
        state = dict(self.__dict__)
        # Spawned workers do not inherit torch.distributed; pass its rank (and so the
        # default even_shards) on.
        state["_rank"], state["_world_size"] = self._rank_and_world()
        state["_even_shards"] = self._even_mode()
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

    def _even_mode(self):
        mode = self._even_shards
        if mode == _AUTO:
            mode = "pad" if dist.is_available() and dist.is_initialized() else None
        return None if mode == "none" else mode

    @property
    def epoch(self):
        return self._epoch

    def set_epoch(self, epoch):
        """Selects the epoch the next iteration streams. Moving to another epoch forgets
        the progress of the previous one."""
        epoch = int(epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._resume = None
            self._start = 0
            self._progress = None

    def stall_report(self, include_first_batch=False, reset=False):
        """Waits for batches versus time between them, over this process's iterations (see
        the class docstring); reset=True starts over after this report."""
        return self._stalls.report(include_first_batch, reset=reset)

    def _delivered(self, cursor):
        self._progress = cursor

    def state_dict(self):
        """{"cursor": token or None, "epoch": e}: continue after the last batch delivered
        (or where this iteration started, if none yet)."""
        state = {"cursor": self._progress or self._resume, "epoch": self._epoch}
        if state["cursor"] is None and self._start:
            state["start"] = self._start
        return state

    def load_state_dict(self, state):
        """Continue after the cursor in `state` (from state_dict(), a BatchStream's
        state_dict(), or {"cursor": token}); the epoch is the cursor's."""
        token = state.get("cursor")
        self._progress = None
        self._start = 0
        if token is not None:
            cursor = _cursor.decode(token)
            self._epoch = int(cursor.epoch)
            self._resume = token
            return
        self._resume = None
        self._epoch = int(state.get("epoch", self._epoch))
        if "start" in state:
            self._start = int(state["start"])
        elif state.get("next_start"):
            # A state saved by imagefeed before cursors: one stream of this rank continues.
            rank, world = self._rank_and_world()
            starts = state["next_start"]
            key = f"{rank}/{world}/0"
            if len(starts) != 1 or key not in starts:
                raise ValueError(f"cannot resume {starts!r}: a state saved before cursors resumes only "
                                 f"with one server and num_workers <= 1 (stream {key}); save "
                                 f"state_dict() again with this version")
            self._start = int(starts[key])

    def _request_kwargs(self):
        rank, world = self._rank_and_world()
        kwargs = dict(self._batch_kwargs, rank=rank, world_size=world, epoch=self._epoch,
                      even_shards=self._even_mode())
        if self._resume is not None:
            kwargs["resume"] = self._resume
        else:
            kwargs["start"] = self._start
        return kwargs

    def __len__(self):
        rank, world = self._rank_and_world()
        if world > 1 and self._even_mode() is None:
            raise TypeError(f"len() of an ImageFeedDataset with {world} ranks and even_shards=None is not "
                            f"known in advance for every rank (ranks may differ by a batch); pass "
                            f"even_shards='pad' or 'drop' for equal, known lengths")
        kwargs = self._request_kwargs()
        key = repr(sorted(kwargs.items()))
        if key not in self._lengths:
            self._lengths[key] = int(_describe(self._targets, self._client_options, self._dataset,
                                               kwargs)["batches"])
        return self._lengths[key]

    def __iter__(self):
        _check_not_batched_again(sys._getframe(1))
        return self._iterate()

    def _iterate(self):
        began = perf_counter()  # the loop's first next(): connecting is part of its first wait
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        kwargs = self._request_kwargs()
        _check_not_forked_after_grpc(info)
        client = Client(self._targets, **{**self._client_options, "report_stalls": self._report_stalls})
        try:
            stream = client.batches(self._dataset, _slice=(worker, workers), **kwargs)
            stream._timer.also_record_into(self._stalls)
            stream._timer.first_wait_began(began)
            if info is not None:
                stream._timer.set_who(f"DataLoader worker {worker} of {workers}")
            with stream:
                for b in _explain_fork_errors(stream, info):
                    yield TorchBatch(_images_tensor(b), _tensor(b.labels), _tensor(b.sample_ids), b.epoch,
                                     b.position, b.span, b.skipped, f"{worker}/{workers}", self._uid,
                                     b.cursor, b.padded, b.replaced, b.target, b.layout,
                                     _list(b.input_scale), _list(b.input_offset), self._device,
                                     self._model_dtype)
        finally:
            client.close()


def _list(array):
    return None if array is None else array.tolist()


def _check_not_batched_again(frame):
    """DataLoader(ds) batches by default (batch_size=1): it would stack our batches into
    lists and fail in collate with a message that does not say why. Its fetcher is the
    caller of iter(ds); refuse with the fix instead."""
    for _ in range(4):
        if frame is None:
            return
        fetcher = frame.f_locals.get("self")
        if isinstance(fetcher, _BaseDatasetFetcher):
            if fetcher.auto_collation:
                raise TypeError("imagefeed.torch.ImageFeedDataset yields whole batches made by the server: "
                                "create the DataLoader with batch_size=None, e.g. DataLoader(ds, "
                                "batch_size=None, num_workers=2); set the batch size on the dataset "
                                "(ImageFeedDataset(..., batch_size=64))")
            return
        frame = frame.f_back


def _describe(targets, client_options, dataset, kwargs):
    """DescribeStream for len(). In a process that has not used gRPC yet, from a helper
    process: gRPC here would make forked DataLoader workers unusable."""
    if _client.grpc_used_in_pid == os.getpid():
        with Client(targets, **client_options) as client:
            return client.describe(dataset, **kwargs)
    return _client.describe_in_subprocess(targets, client_options, dataset, kwargs)


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
