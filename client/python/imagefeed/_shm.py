"""Local transport: batches through a shared-memory ring the server creates per stream.

For a server on this host the client calls StreamBatchesLocal instead of StreamBatches. The
server answers with the name of a POSIX shared-memory segment of `slots` batch slots; the
client maps it read-only and says "mapped" (the server then unlinks the name, so nothing is
left in /dev/shm whichever process dies later). Every later message is a Batch header
whose tensor bytes lie in one slot: `images` is a numpy view of that slot (no copy), and
when the array and everything viewing it (a torch tensor from torch.from_numpy, slices) are
garbage-collected, the slot goes back to the server on the same call. The ring has the
stream's batches in flight + 2 slots (at least 4) unless the request sets shm_slots (at most
64). A consumer that holds on to batches (`list(client.batches(...))`) would take every slot
and stall the server: once all but one slot are held, each further batch is copied out of
the ring into memory of its own and its slot given back at once, so the stream keeps going
(one copy per such batch; a loop that lets go of its batches never pays it).

If the segment cannot be opened (another host or container without a shared /dev/shm, a
server without StreamBatchesLocal, a request without a fixed size, no room in the server's
memory budget), transport="auto" falls back to StreamBatches on the same server;
transport="shm" raises instead.
"""

import ipaddress
import mmap
import os
import queue
import threading
import re
import weakref

import grpc
import numpy as np

from imagefeed._batch import WireError, batch_from_message, decode_batch, numpy_dtype
from imagefeed.v1 import imagefeed_pb2 as pb

TRANSPORTS = ("auto", "grpc", "shm")
SHM_DIR = "/dev/shm"  # where Linux keeps shm_open() names
_NAME = re.compile(r"^/imagefeed-[0-9]+-[0-9a-f]+$")
_MAPPED, _CANNOT_MAP, _END = object(), object(), object()


def is_loopback(address):
    """True for "localhost:port", "127.x.y.z:port", "[::1]:port" and "unix:..." targets."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rpartition(":")[0] if ":" in address else address
    host = host.strip("[]")
    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


class _Ring:
    """The client's read-only mapping of one stream's segment."""

    def __init__(self, segment):
        if not _NAME.match(segment.name):
            raise ValueError(f"unexpected segment name {segment.name!r}")
        ours = _boot_id()
        if segment.boot_id and ours and segment.boot_id != ours:
            raise ValueError("the server runs on another host (boot ids differ)")
        if segment.slots < 1 or segment.slot_bytes * segment.slots != segment.size:
            raise ValueError(f"inconsistent segment: {segment.slots} slots of {segment.slot_bytes} bytes, "
                             f"size {segment.size}")
        fd = os.open(os.path.join(SHM_DIR, segment.name.lstrip("/")), os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_size != segment.size:
                raise ValueError(f"segment is {os.fstat(fd).st_size} bytes, expected {segment.size}")
            mapping = mmap.mmap(fd, segment.size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        # The mapping lives as long as this array does (slot views keep the ring).
        self.bytes = np.frombuffer(mapping, dtype=np.uint8)
        self.address = self.bytes.__array_interface__["data"][0]
        self.size = segment.size
        self.slots = segment.slots


def _give_back(leased, acks, slot):
    """A slot lease's finalizer (any thread, any time: set.discard and SimpleQueue.put are
    atomic); it holds no reference to the LocalCall, which may be gone already."""
    leased.discard(slot)
    acks.put(slot)


class _SlotLease:
    """Owner of one slot's view: numpy keeps it as the array's base, so it lives as long as
    any view of the batch; its finalizer gives the slot back."""

    __slots__ = ("__array_interface__", "ring", "__weakref__")


def _requests(first, acks):
    """The client's messages: the request, then mapped/cannot_map and released slots."""
    yield pb.LocalClientMessage(request=first)
    while True:
        item = acks.get()
        msg = pb.LocalClientMessage()
        while True:
            if item is _END:
                if msg.released:
                    yield msg
                return
            if item is _MAPPED:
                msg.mapped = True
            elif item is _CANNOT_MAP:
                msg.cannot_map = True
            else:
                msg.released.append(item)
            try:
                item = acks.get_nowait()
            except queue.Empty:
                break
        yield msg


class LocalCall:
    """One server's stream over the local transport, used like a StreamBatches call by the
    fan-in: next() gives a message, decode() makes it a Batch, cancel() ends it. Falls back
    to StreamBatches (unless `forced`) when the ring cannot be used."""

    def __init__(self, conn, request, metadata, forced):
        self._conn = conn
        self._request = request
        self._metadata = metadata
        self._forced = forced
        # SimpleQueue.put is reentrant, so the slot finalizers may run inside any code
        # (a garbage collection triggered in the middle of another put).
        self._acks = queue.SimpleQueue()
        self._call = conn.stream_batches_local(_requests(request, self._acks), metadata=metadata)
        # The request thread of grpcio waits on the queue: end it whatever ends this object.
        self._finalizer = weakref.finalize(self, self._acks.put, _END)
        self._ring = None
        self._leased = set()  # slots the consumer still holds a view of
        self._delegate = None
        self._cancelled = False
        self.transport = None  # "shm" or "grpc" once known

    def _fall_back(self, why):
        self._end_local()
        self.transport = "grpc"
        self.fallback_reason = why
        self._delegate = self._conn.stream_batches(self._request, metadata=self._metadata)

    def _end_local(self):
        self._acks.put(_END)
        self._call.cancel()

    def _setup(self):
        try:
            first = next(self._call)
        except grpc.RpcError as err:
            err.__traceback__ = None
            if self._forced or self._cancelled:
                raise
            self._fall_back(f"{err.code().name}: {err.details()}")
            return
        except StopIteration:
            if self._forced or self._cancelled:
                raise _cannot_map(self._conn.target, "the server ended the call before naming a segment")
            self._fall_back("the server ended the call before naming a segment")
            return
        try:
            if not first.HasField("segment"):
                raise ValueError("the first message names no segment")
            self._ring = _Ring(first.segment)
        except (OSError, ValueError) as err:
            self._acks.put(_CANNOT_MAP)
            why = str(err) + self._ended_by_server()
            if self._forced:
                self._end_local()
                raise _cannot_map(self._conn.target, why) from None
            self._fall_back(why)
            return
        self._acks.put(_MAPPED)
        self.transport = "shm"

    def _ended_by_server(self):
        """Why the server ended the call, if it did within a second: a segment that vanished
        before it was opened was unlinked because the call ended (see README)."""
        done = threading.Event()
        self._call.add_done_callback(lambda _call: done.set())
        if not done.wait(1.0):
            return ""
        return f" (the server ended the call: {self._call.code().name}: {self._call.details()})"

    def __iter__(self):
        return self

    def __next__(self):
        if self._ring is None and self._delegate is None:
            self._setup()
        if self._delegate is not None:
            return next(self._delegate)
        try:
            return next(self._call)
        except StopIteration:
            self._acks.put(_END)
            raise

    def decode(self, message, stream=0, target=""):
        """The Batch of a message next() returned."""
        if self._delegate is not None:
            return decode_batch(message, stream, target)
        if not message.HasField("batch"):
            raise WireError("local stream message carries no batch")
        msg = message.batch
        dtype = numpy_dtype(msg.dtype)
        shape = tuple(msg.shape)
        count = 1
        for d in shape:
            count *= d
        ring = self._ring
        if any(d < 0 for d in shape) or count * dtype.itemsize != msg.shm_length:
            raise WireError(f"batch data is {msg.shm_length} bytes, but shape {list(shape)} of {dtype} "
                            f"needs {count * dtype.itemsize}")
        if msg.shm_slot >= ring.slots or msg.shm_offset + msg.shm_length > ring.size:
            raise WireError(f"batch slot {msg.shm_slot} at {msg.shm_offset}+{msg.shm_length} lies outside "
                            f"the ring ({ring.slots} slots, {ring.size} bytes)")
        if count == 0:
            self._acks.put(msg.shm_slot)
            images = np.empty(shape, dtype=dtype)
        elif len(self._leased) >= ring.slots - 1:
            # The consumer holds all other slots: a view would leave the server none.
            view = ring.bytes[msg.shm_offset:msg.shm_offset + msg.shm_length]
            images = view.view(dtype).reshape(shape).copy()
            images.flags.writeable = False  # like a view of the ring
            del view
            self._acks.put(msg.shm_slot)
        else:
            lease = _SlotLease()
            lease.__array_interface__ = {"shape": shape, "typestr": dtype.str, "version": 3,
                                         "data": (ring.address + msg.shm_offset, True)}
            lease.ring = ring
            images = np.asarray(lease)
            self._leased.add(msg.shm_slot)
            weakref.finalize(lease, _give_back, self._leased, self._acks, msg.shm_slot)
        return batch_from_message(msg, images, stream, target)

    def cancel(self):
        # Before the first message, _setup must not mistake this for a server that cannot
        # serve the ring and fall back (the progress watchdog cancels a stalled call here).
        self._cancelled = True
        self._end_local()
        if self._delegate is not None:
            self._delegate.cancel()


def _cannot_map(target, why):
    from imagefeed._client import ImageFeedError  # noqa: PLC0415 (import cycle)
    return ImageFeedError(grpc.StatusCode.FAILED_PRECONDITION,
                          f"transport='shm': cannot use the server's shared-memory ring: {why}",
                          target, "StreamBatchesLocal")


def open_call(client, address, request):
    """A StreamBatches call, or a LocalCall, for `request` on `address` by the client's
    transport setting: "auto" uses shared memory for loopback targets with a fixed size."""
    conn = client._conn(address)
    mode = client.transport
    fixed = request.height > 0 and request.width > 0
    if mode == "grpc" or (mode == "auto" and not (fixed and is_loopback(address))):
        return conn.stream_batches(request, metadata=client._metadata)
    return LocalCall(conn, request, client._metadata, forced=mode == "shm")
