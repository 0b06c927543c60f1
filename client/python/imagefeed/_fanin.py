"""Fan-in and failover: one rank's stream read from several servers, byte-identical to one.

Every server gets the same request with fan_in_count=N and fan_in_index=i; server i then
delivers batches i, i+N, ... of the rank's sequence, and reading the N calls round-robin
gives exactly the one-server stream. When a call fails with a transport-type error (or
delivers nothing for `progress_timeout` seconds), every call is cancelled, the server is
set aside with exponential backoff, and the fan-in restarts over the servers left with
resume = the cursor of the last batch delivered. Batches received but not yet delivered
are dropped: the restart delivers them again. So each sample of the epoch arrives exactly
once, in the one-server order, whatever fails.

An outer split (`slot_index` of `slot_count`, used by imagefeed.torch for DataLoader
workers) composes with this: slot w takes batches w, w+S, ... of the rank's sequence, so
the slots read round-robin (as an in-order DataLoader does) again give the one-server
stream.
"""

import concurrent.futures
import threading
import time

import grpc

from imagefeed import _shm
from imagefeed._batch import WireError, decode_batch
from imagefeed.v1 import imagefeed_pb2 as pb

# Errors after which the same request can succeed elsewhere (or later).
TRANSPORT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                             grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                             grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED})
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 8.0


class FanInState:
    """What a running fan-in reports to its BatchStream (the generator writes, the stream
    reads; no reference back to the generator, so dropping the stream closes it)."""

    def __init__(self):
        self.failovers = []  # (server, error message), in the order they happened
        self.servers = []    # the servers of the current attempt
        self.transports = {}  # server -> "shm" or "grpc", as its last call chose


class _Health:
    __slots__ = ("retry_at", "backoff", "error")

    def __init__(self):
        self.retry_at = 0.0
        self.backoff = 0.0
        self.error = ""

    def failed(self, error, now):
        self.backoff = BACKOFF_FIRST if self.backoff == 0 else min(BACKOFF_MAX, self.backoff * 2)
        self.retry_at = now + self.backoff
        self.error = error


class _Watchdog:
    """Cancels calls that deliver nothing for too long: one thread per process, whatever
    the number of clients and streams (a per-call timer would be a thread per batch)."""

    def __init__(self):
        self._cv = threading.Condition()
        self._entries = {}
        self._next = 0
        self._thread = None

    def watch(self, call, seconds):
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="imagefeed-watchdog", daemon=True)
                self._thread.start()
            self._next += 1
            entry = [time.monotonic() + seconds, call, False]
            self._entries[self._next] = entry
            self._cv.notify()
            return self._next, entry

    def unwatch(self, handle):
        with self._cv:
            self._entries.pop(handle[0], None)
        return handle[1][2]  # fired

    def _run(self):
        while True:
            with self._cv:
                now = time.monotonic()
                due = [(k, e) for k, e in self._entries.items() if e[0] <= now]
                for k, e in due:
                    e[2] = True
                    del self._entries[k]
                if not due:
                    wait = min((e[0] for e in self._entries.values()), default=now + 3600) - now
                    self._cv.wait(max(wait, 0.001))
                    continue
            for _, e in due:
                e[1].cancel()
                e[1] = None


WATCHDOG = _Watchdog()


def _rpc_code(err):
    return err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN


def _rpc_details(err):
    return (err.details() if callable(getattr(err, "details", None)) else str(err)) or ""


def _unavailable_error(client, addresses, health, why):
    from imagefeed._client import ImageFeedError  # noqa: PLC0415 (import cycle)
    names = addresses or client.targets
    parts = [f"{a}: {health[a].error if a in health else 'not tried'}" for a in names]
    return ImageFeedError(grpc.StatusCode.UNAVAILABLE,
                          f"no imagefeed server left ({why}); " + "; ".join(parts),
                          ",".join(names), "StreamBatches")


def _describe_all(client, addresses, request):
    """(address, StreamDescription or ImageFeedError) of DescribeStream on every server, all
    asked at once: k stopped servers cost one describe deadline, not k."""
    from imagefeed._client import ImageFeedError  # noqa: PLC0415 (import cycle)

    def describe(address):
        try:
            return client._describe_on(address, request)
        except ImageFeedError as err:
            return err

    if len(addresses) == 1:
        return [(addresses[0], describe(addresses[0]))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        return list(zip(addresses, pool.map(describe, addresses)))


def run(client, request, state, slot_index=0, slot_count=1):
    """Generator of Batch: the rank's stream of `request` (a StreamBatchesRequest with
    start or resume set) over the client's servers, with failover."""
    from imagefeed._client import ImageFeedError, _from_rpc_error  # noqa: PLC0415
    resume = pb.Cursor()
    if request.HasField("resume"):
        resume.CopyFrom(request.resume)
    has_resume = request.HasField("resume")
    base = 0  # batches of the rank's sequence (from the original start) before the resume point
    health = {}
    expected_fp = None
    outage_since = None  # first failure not followed by a delivered batch
    while True:
        now = time.monotonic()
        if outage_since is not None and now - outage_since >= client.failover_timeout:
            raise _unavailable_error(client, sorted(health), health,
                                     f"failover_timeout={client.failover_timeout:g} s expired")
        try:
            addresses = client._resolve()
        except ImageFeedError as err:
            if outage_since is None:
                outage_since = now
            health.setdefault(err.target, _Health()).failed(err.details, now)
            time.sleep(min(BACKOFF_MAX, max(0.0, outage_since + client.failover_timeout - now), 0.5))
            continue
        live = [a for a in addresses if a not in health or health[a].retry_at <= now]
        if not live:
            if outage_since is None:
                outage_since = now
            end = outage_since + client.failover_timeout
            wake = min([health[a].retry_at for a in addresses if a in health] + [end])
            if now >= end:
                raise _unavailable_error(client, addresses, health,
                                         f"failover_timeout={client.failover_timeout:g} s expired")
            time.sleep(max(0.0, min(wake, end) - now))
            continue
        attempt = pb.StreamBatchesRequest()
        attempt.CopyFrom(request)
        if has_resume:
            attempt.ClearField("start")
            attempt.resume.CopyFrom(resume)
        offset = (slot_index - base) % slot_count
        attempt.fan_in_count = slot_count * len(live)
        attempt.fan_in_index = offset

        # Validate on every server and check they serve the same dataset.
        fingerprints, failed = [], []
        for address, d in _describe_all(client, live, attempt):
            if isinstance(d, ImageFeedError):
                if d.code not in TRANSPORT_CODES:
                    raise d
                failed.append((address, d.details))
            else:
                fingerprints.append((address, d.dataset_fingerprint))
        if failed:
            outage_since = outage_since if outage_since is not None else now
            for address, why in failed:
                health.setdefault(address, _Health()).failed(why, time.monotonic())
                state.failovers.append((address, why))
            continue
        if expected_fp is None:
            expected_fp = fingerprints[0]
        for address, fp in fingerprints:
            if fp != expected_fp[1]:
                raise _mismatch(expected_fp, (address, fp), "DescribeStream")

        state.servers = list(live)
        calls = []
        try:
            for i, address in enumerate(live):
                r = pb.StreamBatchesRequest()
                r.CopyFrom(attempt)
                r.fan_in_index = offset + slot_count * i
                calls.append(_shm.open_call(client, address, r))
            active = [True] * len(calls)
            k = 0  # batches delivered in this attempt
            failed = None
            while failed is None and any(active):
                for i, call in enumerate(calls):
                    if not active[i]:
                        continue
                    watch = WATCHDOG.watch(call, client.progress_timeout)
                    try:
                        raw = next(call)
                    except StopIteration:
                        WATCHDOG.unwatch(watch)
                        active[i] = False
                        continue
                    except grpc.RpcError as err:
                        fired = WATCHDOG.unwatch(watch)
                        # The call is the exception; its traceback holds this frame, which
                        # holds the call: drop it so everything is freed promptly.
                        err.__traceback__ = None
                        code = _rpc_code(err)
                        if fired:
                            failed = (live[i], f"no batch for {client.progress_timeout:g} s "
                                               f"(progress_timeout)")
                        elif code in TRANSPORT_CODES and not client._closed:
                            failed = (live[i], f"{code.name}: {_rpc_details(err)}")
                        else:
                            raise _from_rpc_error(err, live[i], "StreamBatches") from None
                        break
                    WATCHDOG.unwatch(watch)
                    try:
                        if isinstance(call, _shm.LocalCall):
                            state.transports[live[i]] = call.transport
                            batch = call.decode(raw, i, live[i])
                        else:
                            state.transports[live[i]] = "grpc"
                            batch = decode_batch(raw, i, live[i])
                    except WireError as err:
                        raise ImageFeedError(grpc.StatusCode.DATA_LOSS, f"malformed batch: {err}",
                                             live[i], "StreamBatches") from None
                    if batch.dataset_fingerprint != expected_fp[1]:
                        raise _mismatch(expected_fp, (live[i], batch.dataset_fingerprint), "StreamBatches")
                    batch.index = base + offset + slot_count * k
                    k += 1
                    yield batch
                    outage_since = None
                    health.pop(live[i], None)
                    if batch.message.HasField("cursor"):
                        resume.CopyFrom(batch.message.cursor)
                        has_resume = True
                        base = batch.index + 1
            if failed is None:
                return
        finally:
            for call in calls:
                call.cancel()
        now = time.monotonic()
        if outage_since is None:
            outage_since = now
        health.setdefault(failed[0], _Health()).failed(failed[1], now)
        state.failovers.append(failed)


def _mismatch(a, b, method):
    from imagefeed._client import ImageFeedError  # noqa: PLC0415
    return ImageFeedError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"servers serve different datasets: {a[0]} has dataset fingerprint {a[1][:12]}, {b[0]} has "
        f"{b[1][:12]}; fan-in and failover need the same dataset content on every server",
        b[0], method)

