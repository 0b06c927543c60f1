"""imagefeed.Client: datasets, statistics and batch streams from one or several servers."""

import os
import socket
import threading
import time
import weakref

import grpc

from imagefeed import _cursor, _fanin, _request, _shm
from imagefeed._malloc import tune_malloc as _tune_malloc
from imagefeed._stall import Meter, Timer
from imagefeed._stream import BatchStream
from imagefeed.v1 import imagefeed_pb2 as pb
from imagefeed.v1 import imagefeed_pb2_grpc as pb_grpc

try:  # built by CMake from native/receive.cc when python3-dev is installed
    from imagefeed import _native
except ImportError:
    _native = None

# The process that created the first Client (gRPC state then exists in it): a process
# forked from it cannot use gRPC reliably (see imagefeed.torch).
grpc_used_in_pid = None

_SERVICE = pb.DESCRIPTOR.services_by_name["ImageFeed"]
_STREAM_PATH = f"/{_SERVICE.full_name}/StreamBatches"
_LOCAL_PATH = f"/{_SERVICE.full_name}/StreamBatchesLocal"
# Request fields the client sets itself.
_MANAGED = ("fan_in_count", "fan_in_index")


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


_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


class _NativeRpcError(grpc.RpcError):
    """How a stream received through imagefeed._native failed: code() and details(), as
    grpcio's errors have them."""

    def __init__(self, code, details):
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self):
        return self._code

    def details(self):
        return self._details


class _NativeCall:
    """A StreamBatches call through imagefeed._native, with the part of grpcio's streaming
    call the client uses: iteration (each message as bytes, copied once from gRPC's
    buffers), cancel() from any thread, code() and details() (which, as grpcio's, wait for
    the call to end); a failed or cancelled call raises a grpc.RpcError from next().
    Iterate it from one thread."""

    def __init__(self, call):
        self._call = call
        self._code = None
        self._details = None

    def __iter__(self):
        return self

    def __next__(self):
        message = self._call.read()
        if message is not None:
            return message
        code, details = self._call.finish()
        self._code = _STATUS_CODES.get(code, grpc.StatusCode.UNKNOWN)
        self._details = details
        if self._code != grpc.StatusCode.OK:
            raise _NativeRpcError(self._code, details)
        raise StopIteration

    def cancel(self):
        self._call.cancel()
        return True

    def _wait(self):
        # As grpcio's code() does: block until the call has ended (unread messages dropped).
        while self._code is None:
            try:
                next(self)
            except (StopIteration, grpc.RpcError):
                pass

    def code(self):
        self._wait()
        return self._code

    def details(self):
        self._wait()
        return self._details


class _Connection:
    """A channel to one server, its generated stub, and a raw StreamBatches method:
    through imagefeed._native when `native` and it is usable, else grpcio's."""

    def __init__(self, target, options, credentials, native=False, root_certificates=None):
        self.target = target
        if credentials is None:
            self.channel = grpc.insecure_channel(target, options=options)
        else:
            self.channel = grpc.secure_channel(target, credentials, options=options)
        self.stub = pb_grpc.ImageFeedStub(self.channel)
        self.native = None
        self._native_calls = weakref.WeakSet()
        if native and _native is not None and not _native.forked():
            try:
                self.native = _native.Channel(target, list(options),
                                              None if credentials is None else (root_certificates or b""))
            except (RuntimeError, TypeError, ValueError, OverflowError):
                pass  # e.g. a channel option gRPC C++ cannot take: grpcio serves
        if self.native is not None:
            self.stream_batches = self._native_stream_batches
        else:
            # No response_deserializer: grpcio hands over the message bytes, which
            # decode_batch() views without copying the tensor (see _batch.py).
            self.stream_batches = self.channel.unary_stream(
                _STREAM_PATH, request_serializer=pb.StreamBatchesRequest.SerializeToString)
        # The local transport (imagefeed._shm): small messages, parsed as usual.
        self.stream_batches_local = self.channel.stream_stream(
            _LOCAL_PATH, request_serializer=pb.LocalClientMessage.SerializeToString,
            response_deserializer=pb.LocalServerMessage.FromString)

    def _native_stream_batches(self, request, metadata=None, timeout=None):
        call = _NativeCall(self.native.stream(_STREAM_PATH, request.SerializeToString(),
                                              list(metadata or ()), timeout))
        self._native_calls.add(call)
        return call

    def close(self):
        """Cancels the streams still open and closes the channel."""
        for call in list(self._native_calls):
            call.cancel()
        self.channel.close()


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


def parse_targets(target):
    """The server specs of `target`: "host:port", "a:1,b:2", a list of those, or DNS names
    ("dns:///name:port" or "dns:name:port") that stand for every address they resolve to."""
    if isinstance(target, str):
        specs = [t.strip() for t in target.split(",")]
    else:
        try:
            specs = [t.strip() if isinstance(t, str) else t for t in target]
        except TypeError:
            specs = [target]
    if not specs or not all(isinstance(t, str) and t for t in specs):
        raise ValueError(f"target={target!r}: expected 'host:port', 'dns:///name:port', a comma-separated "
                         f"string or a non-empty list of them")
    for t in specs:
        if _dns_name(t) is not None:
            host, port = _dns_name(t)
            if not host or not port.isdigit():
                raise ValueError(f"target={t!r}: expected dns:///NAME:PORT")
    return specs


def _dns_name(spec):
    """(name, port) of a "dns:///name:port" or "dns:name:port" spec, else None."""
    if spec.startswith("dns:///"):
        rest = spec[len("dns:///"):]
    elif spec.startswith("dns:") and not spec.startswith("dns://"):
        rest = spec[len("dns:"):]
    else:
        return None
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), port


def resolve_dns(name, port, getaddrinfo=socket.getaddrinfo):
    """Every address `name` resolves to (A and AAAA), as sorted, distinct "host:port"."""
    infos = getaddrinfo(name, int(port), type=socket.SOCK_STREAM)
    out = set()
    for family, _, _, _, sockaddr in infos:
        host = sockaddr[0]
        out.add(f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}")
    return sorted(out)


class Client:
    """A client of one imagefeed server, or of several that serve the same datasets.

    target: "host:port"; several as a list or a comma-separated string ("a:1,b:2"); or
      "dns:///name:port" (also "dns:name:port"), which stands for every address the name
      resolves to, looked up again at the start of every stream and at every failover
      restart (a Kubernetes headless Service: added or removed pods are picked up at the
      next stream). With N servers, batches() asks each for every N-th batch of the rank
      (fan-in) and interleaves them: the result is byte-identical to one server's stream.
    failover_timeout: seconds a stream keeps trying when no server answers (each failed
      server is retried with backoff 0.5 s doubling to 8 s) before it raises UNAVAILABLE
      naming every server and its last error.
    progress_timeout: a stream that delivers no batch for this many seconds counts as
      failed (a stopped or partitioned server); the first batch may wait for a server
      fitting statistics, so keep it generous.
    keepalive_time, keepalive_timeout: HTTP/2 pings every keepalive_time seconds (also
      without calls; servers accept them every >= 4 s) and a connection that does not answer
      one within keepalive_timeout fails its calls with UNAVAILABLE.
    token: sent as `authorization: Bearer <token>` metadata on every call (servers started
      with --auth_token_file require it).
    tls: connect with TLS, verifying the server against the system's roots, or against
      tls_ca: a PEM file path or PEM bytes (implies tls; for --tls_cert servers).
    timeout: deadline in seconds for the unary calls (datasets, stats, DescribeStream).
    tune_malloc: raise glibc's mmap/trim thresholds for this process so large batches reuse
      heap memory instead of being mmap'ed and faulted in each time (about 2-3x less client
      CPU per GB; costs a larger resident heap). See imagefeed/_malloc.py.
    transport: "auto" (default): batches from a server on this host (a loopback target)
      come through a shared-memory ring instead of the socket when the request has a fixed
      size (see imagefeed._shm and the README "Local transport"); anything else, or a
      ring the client cannot map, uses gRPC bytes. "grpc": always gRPC bytes. "shm": always
      the ring, raising FAILED_PRECONDITION if it cannot be used. With the ring, a batch's
      slot is reused only after its `images` (and every view, e.g. a torch tensor) are
      garbage-collected: a loop holding more batches than the ring's slots stalls.
    native_receive: receive StreamBatches' gRPC bytes through imagefeed._native (gRPC C++,
      built from client/python/native/receive.cc with the server), which copies each message
      once where grpcio copies it three times (about half the client's CPU per GB); other
      calls and the shared-memory transport stay on grpcio. Falls back to grpcio when the
      module is not built, in a process forked after it was used, or for a channel option
      gRPC C++ cannot take. False: grpcio only.
    report_stalls: at the end of each stream (epoch), print one line saying how much of the
      loop's time went into waiting for batches (to the "imagefeed" logger at INFO if logging
      shows that, else to stderr). stall_report() has the numbers either way.

    Thread-safe. Not fork-safe: gRPC (grpcio 1.51) does not work reliably in a process
    forked from one that has used it, even after every client is closed; create clients
    in the process that uses them, and start worker processes with "spawn" or
    "forkserver" once a Client exists (see imagefeed.torch).
    """

    def __init__(self, target, token=None, *, tls=False, tls_ca=None, timeout=30.0,
                 max_message_bytes=1 << 30, options=(), tune_malloc=True, report_stalls=False,
                 failover_timeout=60.0, progress_timeout=300.0, keepalive_time=10.0,
                 keepalive_timeout=10.0, transport="auto", native_receive=True):
        self._specs = parse_targets(target)
        if transport not in _shm.TRANSPORTS:
            raise ValueError(f"transport={transport!r}: expected one of {', '.join(_shm.TRANSPORTS)}")
        self.transport = transport
        self.native_receive = bool(native_receive)
        for name, value in (("failover_timeout", failover_timeout), ("progress_timeout", progress_timeout),
                            ("keepalive_time", keepalive_time), ("keepalive_timeout", keepalive_timeout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"{name}={value!r}: expected a non-negative number of seconds")
        if tune_malloc:
            _tune_malloc()
        global grpc_used_in_pid
        if grpc_used_in_pid is None:
            grpc_used_in_pid = os.getpid()
        self._channel_options = [("grpc.max_receive_message_length", max_message_bytes),
                                 ("grpc.max_send_message_length", 64 << 20),
                                 ("grpc.keepalive_time_ms", max(1, int(keepalive_time * 1000))),
                                 ("grpc.keepalive_timeout_ms", max(1, int(keepalive_timeout * 1000))),
                                 ("grpc.keepalive_permit_without_calls", 1),
                                 ("grpc.http2.max_pings_without_data", 0)] + list(options)
        if isinstance(tls_ca, str):
            with open(tls_ca, "rb") as f:
                tls_ca = f.read()
        self._credentials = None
        self._root_certificates = tls_ca
        if tls or tls_ca is not None:
            self._credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca)
        # What a copy of this client in another process needs (imagefeed.torch).
        self.settings = dict(token=token, tls=tls, tls_ca=tls_ca, timeout=timeout,
                             max_message_bytes=max_message_bytes, options=tuple(options),
                             tune_malloc=tune_malloc, report_stalls=report_stalls,
                             failover_timeout=failover_timeout, progress_timeout=progress_timeout,
                             keepalive_time=keepalive_time, keepalive_timeout=keepalive_timeout,
                             transport=transport, native_receive=native_receive)
        self.failover_timeout = float(failover_timeout)
        self.progress_timeout = float(progress_timeout)
        self._lock = threading.Lock()
        self._conns = {}  # address -> _Connection, made on first use
        self._closed = False
        self._metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
        self._timeout = timeout
        self._report_stalls = report_stalls
        self._stalls = Meter()

    @property
    def targets(self):
        """The servers as given (DNS specs unresolved)."""
        return list(self._specs)

    def servers(self):
        """The servers' addresses now (DNS specs resolved)."""
        return self._resolve()

    def _resolve(self, getaddrinfo=None):
        out = []
        for spec in self._specs:
            dns = _dns_name(spec)
            if dns is None:
                out.append(spec)
                continue
            try:
                addresses = resolve_dns(*dns, getaddrinfo=getaddrinfo or socket.getaddrinfo)
            except (OSError, UnicodeError) as err:
                raise ImageFeedError(grpc.StatusCode.UNAVAILABLE, f"cannot resolve {spec}: {err}",
                                     spec, "resolve") from None
            out.extend(addresses)
        return list(dict.fromkeys(out))  # distinct, in order

    def _conn(self, address):
        with self._lock:
            if self._closed:  # a new channel now would never be closed
                raise ValueError("imagefeed.Client is closed")
            conn = self._conns.get(address)
            if conn is None:
                conn = _Connection(address, self._channel_options, self._credentials, self.native_receive,
                                   self._root_certificates)
                self._conns[address] = conn
            return conn

    def close(self):
        """Closes the channels (streams still open are cancelled)."""
        with self._lock:
            self._closed = True
            conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            c.close()

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

    def _unary(self, conn, method, request, timeout=None):
        call = getattr(conn.stub, method, None)
        if call is None:
            raise UnsupportedError(grpc.StatusCode.UNIMPLEMENTED,
                                   f"the server does not support {method}: this client's protocol stubs "
                                   f"have no {method} RPC", conn.target, method)
        try:
            return call(request, timeout=timeout or self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise _from_rpc_error(err, conn.target, method) from None

    def _list(self, conn):
        response = self._unary(conn, "ListDatasets", pb.ListDatasetsRequest())
        return [_request.message_to_dict(d) for d in response.datasets]

    def datasets(self):
        """The served datasets: a list of dicts with name, num_samples, classes,
        class_counts, fingerprint (and any field the server adds). With several servers,
        only the datasets every server serves identically."""
        lists = [self._list(self._conn(a)) for a in self._resolve()]
        return [d for d in lists[0] if all(d in other for other in lists[1:])]

    def server_status(self):
        """What each server is doing now (GetServerStatus): {address: dict} with version,
        threads, memory accounting against --memory_budget (batch_memory_in_use,
        memory_peak: the highest accounted bytes since start, rss_bytes), streams and
        per-stage totals, as `imagefeed status` shows them."""
        return {a: _request.message_to_dict(self._unary(self._conn(a), "GetServerStatus",
                                                        pb.GetServerStatusRequest()))
                for a in self._resolve()}

    def stats(self, name, wait=False, poll_seconds=0.5, timeout=None):
        """Dataset-wide statistics fitted by the server (GetStats): a dict with count,
        mean, std, min, max (per channel, in [0, 1]) and state, among others.

        wait: poll while the server is still fitting (state "fitting"), up to `timeout`
        seconds (None: no limit). Raises UnsupportedError (a NotImplementedError) if the
        server does not support GetStats.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        conn = self._conn(self._resolve()[0])
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

    def _describe_on(self, address, request):
        # A stopped server must not hold a failover restart longer than a stalled stream would.
        timeout = min(self._timeout, self.progress_timeout) if self.progress_timeout > 0 else self._timeout
        return self._unary(self._conn(address), "DescribeStream", request, timeout=timeout)

    def stream_request(self, dataset, batch_size=32, size=None, normalize="rescale", scale=None,
                       offset=None, layout="nchw", dtype="float32", shuffle=True, seed=0, epoch=None,
                       rank=0, world_size=1, start=0, resume=None, **more):
        """The StreamBatchesRequest batches() sends (before fan-in), checked (ValueError)."""
        for name, value in (("rank", rank), ("world_size", world_size), ("start", start)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                hint = ("; start= is one int: with several servers the stream is the same as with "
                        "one, so resume it with resume=stream.cursor") if name == "start" else ""
                raise ValueError(f"{name}={value!r}: expected a non-negative int{hint}")
        if world_size < 1 or rank >= world_size:
            raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        for name in _MANAGED + ("resume",):
            if name in more:
                raise ValueError(f"{name}= is set by the client (fan-in and resume=)")
        cursor = _cursor.from_resume(resume)
        if cursor is not None:
            if start:
                raise ValueError(f"start={start} and resume= are exclusive: the cursor says where to continue")
            if epoch is None:
                epoch = cursor.epoch
            elif epoch != cursor.epoch:
                raise ValueError(f"epoch={epoch}, but the resume cursor is for epoch {cursor.epoch}")
        request = make_request(dataset, batch_size=batch_size, size=size, normalize=normalize,
                               scale=scale, offset=offset, layout=layout, dtype=dtype, shuffle=shuffle,
                               seed=seed, epoch=0 if epoch is None else epoch, rank=rank,
                               world_size=world_size, start=start, **more)
        if cursor is not None:
            request.resume.CopyFrom(cursor)
        return request

    def describe(self, dataset, **kwargs):
        """What batches(dataset, **kwargs) would deliver, without streaming (DescribeStream on
        the first server that answers): a dict with batches (this rank's, from its start or
        resume point), rank_positions, first_position, padded_positions, dataset_fingerprint,
        order_fingerprint, server_version, global_start. Raises as batches() would."""
        request = self.stream_request(dataset, **kwargs)
        last = None
        for address in self._resolve():
            try:
                return _request.message_to_dict(self._describe_on(address, request))
            except ImageFeedError as err:
                if err.code not in _fanin.TRANSPORT_CODES:
                    raise
                last = err
        raise last

    def batches(self, dataset, batch_size=32, size=None, normalize="rescale", scale=None,
                offset=None, layout="nchw", dtype="float32", shuffle=True, seed=0, epoch=None,
                rank=0, world_size=1, start=0, resume=None, _slice=(0, 1), **more):
        """Streams one epoch of rank `rank` of `world_size`'s share of `dataset`:
        a BatchStream, an iterator of Batch (see imagefeed.Batch).

        size: None (each image's own size), an int, or (height, width).
        normalize, layout, dtype and any enum in **more: lowercase value names
          ("none", "rescale"; "nchw", "nhwc"; "float32", "uint8"; on_error="skip").
        epoch: default 0, or the resume cursor's epoch.
        start: samples of the rank's sequence to skip (batch.next_start); one int whatever
          the number of servers.
        resume: continue right after the batch a cursor came from: a token (batch.cursor,
          stream.cursor), or a state dict {"cursor": token, ...} (stream.state_dict()). On
          any servers; with another world_size it continues from the cursor's global
          position, split over the new ranks (elastic resume; see the README).
        **more: any other StreamBatchesRequest field by name (drop_last=True,
          even_shards="pad", fill_skipped=True, ...).

        With several servers the stream fails over (see the class docstring): a server that
        fails is left out and the stream continues on the others from the last delivered
        batch, each sample exactly once, in the one-server order; stream.failovers lists
        what happened. Errors of the request itself (INVALID_ARGUMENT, NOT_FOUND, DATA_LOSS,
        FAILED_PRECONDITION, ...) raise ImageFeedError at once, as do servers serving
        different dataset content (FAILED_PRECONDITION naming both).

        Arguments are checked before anything is sent (ValueError naming the field).
        Leaving the loop early (break, exception, close()) cancels the streams.
        Skipped samples (on_error="skip", the default) raise one SkippedSamplesWarning per
        stream, at the first batch that reports any; the stream's `skipped_count` and
        `skipped` keep the tally.
        """
        request = self.stream_request(dataset, batch_size=batch_size, size=size, normalize=normalize,
                                      scale=scale, offset=offset, layout=layout, dtype=dtype,
                                      shuffle=shuffle, seed=seed, epoch=epoch, rank=rank,
                                      world_size=world_size, start=start, resume=resume, **more)
        slot_index, slot_count = _slice
        state = _fanin.FanInState()
        timer = Timer(shared=(self._stalls,), report_stalls=self._report_stalls)
        batches = _fanin.run(self, request, state, slot_index, slot_count)
        initial = _cursor.encode(request.resume) if request.HasField("resume") else None
        return BatchStream(batches, dataset, timer, state=state, initial_cursor=initial,
                           epoch=request.epoch)


def describe_in_subprocess(targets, client_options, dataset, kwargs):
    """Client(targets, **client_options).describe(dataset, **kwargs) in a helper process, so
    that this process stays free of gRPC state (imagefeed.torch's len() before forking
    DataLoader workers). Raises what describe() raises."""
    import pickle  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-c", "from imagefeed._client import _describe_main; _describe_main()"],
                          input=pickle.dumps((targets, client_options, dataset, kwargs)),
                          capture_output=True, env=env, check=False)
    try:
        kind, value = pickle.loads(done.stdout)
    except Exception:  # noqa: BLE001
        raise RuntimeError(f"imagefeed: the DescribeStream helper process failed (exit {done.returncode}): "
                           f"{done.stderr.decode(errors='replace')[-2000:]}") from None
    if kind == "ok":
        return value
    if kind == "grpc":
        code, details, target, method = value
        raise ImageFeedError(getattr(grpc.StatusCode, code), details, target, method)
    raise ValueError(value)


def _describe_main():
    import pickle  # noqa: PLC0415
    import sys  # noqa: PLC0415
    targets, client_options, dataset, kwargs = pickle.loads(sys.stdin.buffer.read())
    try:
        with Client(targets, **client_options) as client:
            result = ("ok", client.describe(dataset, **kwargs))
    except ImageFeedError as err:
        result = ("grpc", (err.code.name, err.details, err.target, err.method))
    except ValueError as err:
        result = ("value", str(err))
    sys.stdout.buffer.write(pickle.dumps(result))
