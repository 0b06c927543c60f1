"""imagefeed.Client: datasets, statistics and batch streams from one or several servers."""

import os
import time

import grpc

from imagefeed import _request
from imagefeed._batch import WireError, decode_batch
from imagefeed._malloc import tune_malloc as _tune_malloc
from imagefeed._stall import Meter, Timer
from imagefeed._stream import BatchStream
from imagefeed.v1 import imagefeed_pb2 as pb
from imagefeed.v1 import imagefeed_pb2_grpc as pb_grpc

# The process that created the first Client (gRPC state then exists in it): a process
# forked from it cannot use gRPC reliably (see imagefeed.torch).
grpc_used_in_pid = None

_SERVICE = pb.DESCRIPTOR.services_by_name["ImageFeed"]
_STREAM_PATH = f"/{_SERVICE.full_name}/StreamBatches"


class ImageFeedError(Exception):
    """A failed call. `code` is a grpc.StatusCode, `details` the server's message,
    `target` the server's address and `method` the RPC."""

    def __init__(self, code, details, target="", method=""):
        self.code = code
        self.details = details
        self.target = target
        self.method = method
        where = f" ({method} on {target})" if target else ""
        super().__init__(f"{code.name}: {details}{where}")


class UnsupportedError(ImageFeedError, NotImplementedError):
    """The server (or this client's protocol stubs) lacks the RPC that was called."""


def _from_rpc_error(err, target, method):
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = err.details() if callable(getattr(err, "details", None)) else str(err)
    if code == grpc.StatusCode.UNAVAILABLE:
        details = f"cannot reach imagefeed server at {target}: {details}"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        why = f": {details}" if details else ""
        return UnsupportedError(code, f"the server at {target} does not support {method}{why}",
                                target, method)
    return ImageFeedError(code, details or code.name, target, method)


class _Connection:
    """A channel to one server, its generated stub, and a raw StreamBatches method."""

    def __init__(self, target, options, credentials):
        self.target = target
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=options)
        else:
            self.channel = grpc.secure_channel(target, credentials, options=options)
        self.stub = pb_grpc.ImageFeedStub(self.channel)
        # No response_deserializer: grpcio hands over the message bytes, which
        # decode_batch() views without copying the tensor (see _batch.py).
        self.stream_batches = self.channel.unary_stream(
            _STREAM_PATH, request_serializer=pb.StreamBatchesRequest.SerializeToString)


def _is_uint8(dtype):
    field = pb.StreamBatchesRequest.DESCRIPTOR.fields_by_name["dtype"]
    try:
        return _request.enum_names(field.enum_type)[_request.enum_value(field, dtype)] == "uint8"
    except ValueError:
        return False  # reported when the request is built


def make_request(dataset, batch_size=32, size=None, normalize="rescale", scale=None, offset=None,
                 layout="nchw", dtype="float32", shuffle=True, seed=0, epoch=0, rank=0,
                 world_size=1, start=0, **more):
    """Builds the StreamBatchesRequest that Client.batches() sends (to one server).

    `size` is None (each image keeps its own size), an int, or (height, width).
    `**more` sets any other request field by its proto name; enum values are the
    lowercase names without prefix (on_error="skip", subset="validation").
    Raises ValueError naming the field for unknown fields or bad values.
    """
    if normalize == "rescale" and scale is None and offset is None and _is_uint8(dtype):
        normalize = None  # uint8 carries raw values; the server wants normalize unset (or NONE)
    fields = dict(dataset=dataset, batch_size=batch_size, normalize=normalize, scale=scale,
                  offset=offset, layout=layout, dtype=dtype, shuffle=shuffle, seed=seed,
                  epoch=epoch, rank=rank, world_size=world_size, start=start)
    if size is not None:
        if "height" in more or "width" in more:
            raise ValueError("give either size=(height, width) or height=/width=, not both")
        if isinstance(size, int) and not isinstance(size, bool):
            size = (size, size)
        try:
            height, width = size
        except (TypeError, ValueError):
            raise ValueError(f"size={size!r}: expected None, an int or (height, width)") from None
        fields.update(height=height, width=width)
    fields.update(more)
    return _request.fill_message(pb.StreamBatchesRequest(), fields)


def _per_stream_starts(start, n):
    if isinstance(start, int) and not isinstance(start, bool):
        if start and n > 1:
            raise ValueError(f"start={start}: with {n} servers, give one start per server "
                             f"(a list of {n}, e.g. each stream's last batch.next_start)")
        return [start] * n
    starts = list(start)
    if len(starts) != n:
        raise ValueError(f"start={start!r}: expected {n} values, one per server")
    return starts


class Client:
    """A client of one imagefeed server, or of several that serve the same datasets.

    target: "host:port", or a list of them. With N servers, rank r of world_size W is
      split further: server i streams sub-rank r*N+i of W*N, and batches() interleaves
      the N streams batch by batch in server order (a stream that ends drops out), so
      the result is deterministic and every sample of the rank arrives exactly once.
    token: sent as `authorization: Bearer <token>` metadata on every call (servers started
      with --auth_token_file require it).
    tls: connect with TLS, verifying the server against the system's roots, or against
      tls_ca: a PEM file path or PEM bytes (implies tls; for --tls_cert servers).
    timeout: deadline in seconds for the unary calls (datasets, stats).
    tune_malloc: raise glibc's mmap/trim thresholds for this process so large batches reuse
      heap memory instead of being mmap'ed and faulted in each time (about 2-3x less client
      CPU per GB; costs a larger resident heap). See imagefeed/_malloc.py.
    report_stalls: at the end of each stream (epoch), print one line saying how much of the
      loop's time went into waiting for batches (to the "imagefeed" logger at INFO if logging
      shows that, else to stderr). stall_report() has the numbers either way.

    Thread-safe. Not fork-safe: gRPC (grpcio 1.51) does not work reliably in a process
    forked from one that has used it, even after every client is closed; create clients
    in the process that uses them, and start worker processes with "spawn" or
    "forkserver" once a Client exists (see imagefeed.torch).
    """

    def __init__(self, target, token=None, *, tls=False, tls_ca=None, timeout=30.0,
                 max_message_bytes=1 << 30, options=(), tune_malloc=True, report_stalls=False):
        targets = [target] if isinstance(target, str) else list(target)
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise ValueError(f"target={target!r}: expected 'host:port' or a non-empty list of them")
        if tune_malloc:
            _tune_malloc()
        global grpc_used_in_pid
        if grpc_used_in_pid is None:
            grpc_used_in_pid = os.getpid()
        channel_options = [("grpc.max_receive_message_length", max_message_bytes),
                           ("grpc.max_send_message_length", 64 << 20)] + list(options)
        if isinstance(tls_ca, str):
            with open(tls_ca, "rb") as f:
                tls_ca = f.read()
        credentials = None
        if tls or tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca)
        # What a copy of this client in another process needs (imagefeed.torch).
        self.settings = dict(token=token, tls=tls, tls_ca=tls_ca, timeout=timeout,
                             max_message_bytes=max_message_bytes, options=tuple(options),
                             tune_malloc=tune_malloc, report_stalls=report_stalls)
        self._conns = [_Connection(t, channel_options, credentials) for t in targets]
        self._metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
        self._timeout = timeout
        self._checked_fan_in = set()
        self._report_stalls = report_stalls
        self._stalls = Meter()

    @property
    def targets(self):
        return [c.target for c in self._conns]

    def close(self):
        """Closes the channels (streams still open are cancelled)."""
        for c in self._conns:
            c.channel.close()

    def __del__(self):
        # gRPC channels are not closed when collected; close them with the client.
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def stall_report(self, include_first_batch=False, reset=False):
        """An imagefeed.StallReport over every stream of this client since it was made (or
        last reset): how long loops waited for batches versus worked between them. Meant for
        streams read one after another (epochs); reset=True starts over after this report.
        See BatchStream.stall_report for include_first_batch."""
        return self._stalls.report(include_first_batch, reset=reset)

    def _unary(self, conn, method, request):
        call = getattr(conn.stub, method, None)
        if call is None:
            raise UnsupportedError(grpc.StatusCode.UNIMPLEMENTED,
                                   f"the server does not support {method}: this client's protocol stubs "
                                   f"have no {method} RPC", conn.target, method)
        try:
            return call(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise _from_rpc_error(err, conn.target, method) from None

    def _list(self, conn):
        response = self._unary(conn, "ListDatasets", pb.ListDatasetsRequest())
        return [_request.message_to_dict(d) for d in response.datasets]

    def datasets(self):
        """The served datasets: a list of dicts with name, num_samples, classes,
        class_counts (and any field the server adds). With several servers, only the
        datasets every server serves identically."""
        lists = [self._list(c) for c in self._conns]
        return [d for d in lists[0] if all(d in other for other in lists[1:])]

    def stats(self, name, wait=False, poll_seconds=0.5, timeout=None):
        """Dataset-wide statistics fitted by the server (GetStats): a dict with count,
        mean, std, min, max (per channel, in [0, 1]) and state, among others.

        wait: poll while the server is still fitting (state "fitting"), up to `timeout`
        seconds (None: no limit). Raises UnsupportedError (a NotImplementedError) if the
        server does not support GetStats.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        conn = self._conns[0]
        request_class = getattr(pb, "GetStatsRequest", None)
        if request_class is None or not hasattr(conn.stub, "GetStats"):
            raise UnsupportedError(grpc.StatusCode.UNIMPLEMENTED,
                                   "the server does not support GetStats: this client's protocol "
                                   "stubs have no GetStats RPC", conn.target, "GetStats")
        request = _request.fill_message(request_class(), {"dataset": name})
        while True:
            stats = _request.message_to_dict(self._unary(conn, "GetStats", request))
            if not wait or stats.get("state") != "fitting":
                return stats
            if deadline is not None and time.monotonic() >= deadline:
                raise ImageFeedError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                     f"statistics of {name!r} still fitting after {timeout} s "
                                     f"({stats.get('samples_fitted')}/{stats.get('samples_total')})",
                                     conn.target, "GetStats")
            time.sleep(poll_seconds)

    def batches(self, dataset, batch_size=32, size=None, normalize="rescale", scale=None,
                offset=None, layout="nchw", dtype="float32", shuffle=True, seed=0, epoch=0,
                rank=0, world_size=1, start=0, **more):
        """Streams one epoch of rank `rank` of `world_size`'s share of `dataset`:
        a BatchStream, an iterator of Batch (see imagefeed.Batch).

        size: None (each image's own size), an int, or (height, width).
        normalize, layout, dtype and any enum in **more: lowercase value names
          ("none", "rescale"; "nchw", "nhwc"; "float32", "uint8"; on_error="skip").
        start: samples of the rank's sequence to skip (resume with batch.next_start);
          with several servers, a list with one start per server (batch.stream says
          which server a batch came from).
        **more: any other StreamBatchesRequest field by name (drop_last=True, ...).

        Arguments are checked before anything is sent (ValueError naming the field).
        Leaving the loop early (break, exception, close()) cancels the streams.
        Server errors raise ImageFeedError with the status code and the server's message.
        Skipped samples (on_error="skip", the default) raise one SkippedSamplesWarning per
        stream, at the first batch that reports any; the stream's `skipped_count` and
        `skipped` keep the tally.
        """
        n = len(self._conns)
        for name, value in (("rank", rank), ("world_size", world_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}={value!r}: expected a non-negative int")
        if world_size < 1 or rank >= world_size:
            raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        starts = _per_stream_starts(start, n)
        base = make_request(dataset, batch_size=batch_size, size=size, normalize=normalize,
                            scale=scale, offset=offset, layout=layout, dtype=dtype, shuffle=shuffle,
                            seed=seed, epoch=epoch, rank=rank, world_size=world_size, **more)
        requests = []
        for i, s in enumerate(starts):
            r = pb.StreamBatchesRequest()
            r.CopyFrom(base)
            r.rank, r.world_size = rank * n + i, world_size * n
            try:
                r.start = s
            except (TypeError, ValueError) as err:
                raise ValueError(f"start={start!r}: {err}") from None
            requests.append(r)
        if n > 1:
            self._check_fan_in(dataset)
        timer = Timer(shared=(self._stalls,), report_stalls=self._report_stalls)
        return BatchStream(self._stream(requests), dataset, timer)

    def _check_fan_in(self, dataset):
        """Fan-in is exactly-once only if every server has the same samples."""
        if dataset in self._checked_fan_in:
            return
        seen = []
        for conn in self._conns:
            info = next((d for d in self._list(conn) if d["name"] == dataset), None)
            if info is None:
                raise ImageFeedError(grpc.StatusCode.NOT_FOUND,
                                     f"dataset {dataset!r} is not served here", conn.target, "ListDatasets")
            seen.append((conn.target, info["num_samples"], info["classes"]))
        first = seen[0]
        for other in seen[1:]:
            if other[1:] != first[1:]:
                raise ImageFeedError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"servers disagree about dataset {dataset!r}: {first[0]} has {first[1]} samples "
                    f"in classes {first[2]}, {other[0]} has {other[1]} in {other[2]}; fan-in needs the "
                    f"same dataset on every server", other[0], "ListDatasets")
        self._checked_fan_in.add(dataset)

    def _stream(self, requests):
        calls = []
        try:
            for conn, request in zip(self._conns, requests):
                calls.append(conn.stream_batches(request, metadata=self._metadata))
            active = list(range(len(calls)))
            while active:
                for i in list(active):
                    try:
                        raw = next(calls[i])
                    except StopIteration:
                        active.remove(i)
                        continue
                    except grpc.RpcError as err:
                        # The call is the exception; its traceback holds this frame,
                        # which holds the call: drop it so the client is freed (and its
                        # channels closed) as soon as the caller lets go of it.
                        err.__traceback__ = None
                        raise _from_rpc_error(err, self._conns[i].target, "StreamBatches") from None
                    try:
                        batch = decode_batch(raw, i, self._conns[i].target)
                    except WireError as err:
                        raise ImageFeedError(grpc.StatusCode.DATA_LOSS, f"malformed batch: {err}",
                                             self._conns[i].target, "StreamBatches") from None
                    yield batch
        finally:
            for call in calls:
                call.cancel()
