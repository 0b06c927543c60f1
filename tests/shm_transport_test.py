#!/usr/bin/python3
"""The local (shared-memory) transport against real server processes on 127.0.0.1.

The reference is the same request over plain StreamBatches (gRPC bytes): the shm stream
must be byte-identical (tensor, labels, ids, cursors) while the consumer holds 0..N batches
(or only torch tensors viewing them), so a slot reused before its batch was collected would
show as a mismatch. Fallback and forcing are checked by the transport each server's batches
came through, and cleanup by looking into /dev/shm and at the server's memory budget after
normal ends, breaks, a SIGKILLed client, a SIGKILLed server and a planted stale name.
"""
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

import grpc
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "client", "python"))
import imagefeed  # noqa: E402
from imagefeed import _shm  # noqa: E402
from imagefeed.v1 import imagefeed_pb2 as pb  # noqa: E402
from imagefeed.v1 import imagefeed_pb2_grpc as pb_grpc  # noqa: E402
from scaleout_py_test import Server, record, write_dataset  # noqa: E402

N = 90
REQUEST = dict(batch_size=8, size=(16, 12), shuffle=True, seed=5, normalize="standardize")


def segments(pid):
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"imagefeed-{pid}-"))


def status(address):
    with grpc.insecure_channel(address) as ch:
        return pb_grpc.ImageFeedStub(ch).GetServerStatus(pb.GetServerStatusRequest(), timeout=30)


def wait_idle(address, timeout=30):
    """The server's status once it has no stream and no batch memory in use (a condition
    polled up to `timeout`, not a delay)."""
    deadline = time.monotonic() + timeout
    while True:
        s = status(address)
        if (not s.streams and s.batch_memory_in_use == 0) or time.monotonic() > deadline:
            return s
        time.sleep(0.02)


class ShmTransportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = write_dataset(os.path.join(cls.tmp.name, "d"), N)
        cls.server = Server({"d": cls.root}, os.path.join(cls.tmp.name, "cache"))
        cls.pid = cls.server.proc.pid
        with imagefeed.Client(cls.server.address, transport="grpc") as c:
            cls.reference = [record(b) for b in c.batches("d", **REQUEST)]
        assert len(cls.reference) == (N + 7) // 8

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.cleanup()

    def tearDown(self):
        s = wait_idle(self.server.address)
        self.assertEqual(s.batch_memory_in_use, 0, "budget accounting back to zero after the stream")
        self.assertEqual(segments(self.pid), [], "nothing left in /dev/shm")

    def stream(self, transport, hold=0, **more):
        """Records of the stream while keeping the last `hold` batches alive; a held batch is
        recorded when it is dropped, so a slot reused too early shows."""
        out, held = [], []
        with imagefeed.Client(self.server.address, transport=transport) as c:
            s = c.batches("d", **{**REQUEST, **more})
            for b in s:
                held.append(b)
                if len(held) > hold:
                    out.append(record(held.pop(0)))
            out += [record(b) for b in held]
            return out, s.transports

    def test_shm_stream_is_byte_identical_to_grpc_while_holding_batches(self):
        for hold, slots in ((0, 0), (1, 2), (3, 0), (3, 4), (10, 11)):  # at most slots - 1 held
            with self.subTest(hold=hold, shm_slots=slots):
                got, transports = self.stream("auto", hold=hold, shm_slots=slots)
                self.assertEqual(transports, {self.server.address: "shm"})
                self.assertEqual(got, self.reference)

    def test_holding_every_batch_copies_out_instead_of_stalling(self):
        for slots in (0, 2, 4):  # 0: the server's default ring (4 slots here)
            with self.subTest(shm_slots=slots):
                with imagefeed.Client(self.server.address, transport="shm") as c:
                    s = c.batches("d", **REQUEST, shm_slots=slots)
                    held = list(s)  # more batches than slots, all kept
                    self.assertGreater(len(held), 4)
                    self.assertEqual(s.transports, {self.server.address: "shm"})
                    self.assertEqual([record(b) for b in held], self.reference)
                    leases = [isinstance(b.images.base, _shm._SlotLease) for b in held]
                    ring = slots or 4
                    # The first ring - 1 stay views of the ring; the rest were copied out.
                    self.assertEqual(leases, [True] * (ring - 1) + [False] * (len(held) - ring + 1))
                    self.assertTrue(all(not b.images.flags.writeable for b in held))
                del held

    def test_torch_tensors_keep_their_slots(self):
        import torch  # noqa: PLC0415
        tensors = []
        with imagefeed.Client(self.server.address, transport="shm") as c:
            for b in c.batches("d", **REQUEST, shm_slots=len(self.reference) + 1):
                tensors.append(torch.from_numpy(b.images))  # only the tensor stays alive
        # With shm_slots=all batches no slot was reused; now each tensor still shows its batch.
        import hashlib  # noqa: PLC0415
        self.assertEqual([hashlib.sha256(t.numpy().tobytes()).hexdigest() for t in tensors],
                         [r[0] for r in self.reference])
        tensors.clear()
        # And with a small ring: tensors held two at a time, dropped, slots come back.
        got = []
        with imagefeed.Client(self.server.address, transport="shm") as c:
            held = []
            for b in c.batches("d", **REQUEST, shm_slots=3):
                t = torch.from_numpy(b.images)
                got.append(hashlib.sha256(t.numpy().tobytes()).hexdigest())
                held = (held + [t])[-2:]
                del b
        self.assertEqual(got, [r[0] for r in self.reference])

    def test_images_are_read_only_views_of_the_ring(self):
        with imagefeed.Client(self.server.address, transport="shm") as c:
            for b in c.batches("d", **REQUEST):
                self.assertFalse(b.images.flags.writeable)
                self.assertIsInstance(b.images.base, _shm._SlotLease)
                break

    def test_forcing_and_auto_choice(self):
        got, transports = self.stream("grpc")
        self.assertEqual((got, transports), (self.reference, {self.server.address: "grpc"}))
        got, transports = self.stream("shm")
        self.assertEqual((got, transports), (self.reference, {self.server.address: "shm"}))
        # Native sizes have no fixed slot size: auto uses gRPC, forced shm says why.
        _, transports = self.stream("auto", size=None)
        self.assertEqual(transports, {self.server.address: "grpc"})
        with self.assertRaises(imagefeed.ImageFeedError) as ctx:
            self.stream("shm", size=None)
        self.assertEqual(ctx.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.assertIn("fixed output size", ctx.exception.details)
        with self.assertRaises(ValueError):
            imagefeed.Client(self.server.address, transport="udp")

    def test_falls_back_when_the_segment_cannot_be_opened(self):
        saved = _shm.SHM_DIR
        _shm.SHM_DIR = tempfile.mkdtemp()  # the client looks where the segment is not
        try:
            got, transports = self.stream("auto", hold=2)
            self.assertEqual((got, transports), (self.reference, {self.server.address: "grpc"}))
            with self.assertRaises(imagefeed.ImageFeedError) as ctx:
                self.stream("shm")
            self.assertEqual(ctx.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
            self.assertIn("shared-memory", ctx.exception.details)
        finally:
            os.rmdir(_shm.SHM_DIR)
            _shm.SHM_DIR = saved

    def test_non_loopback_target_uses_grpc_unless_forced(self):
        try:
            found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
        except OSError:
            found = []
        host = next((a for a in found if "." in a and not a.startswith("127.")), "")
        if not host:
            self.skipTest("no non-loopback address for this host")
        tmp = tempfile.mkdtemp()
        server = Server({"d": self.root}, tmp, listen="0.0.0.0:0")
        try:
            address = f"{host}:{server.address.rpartition(':')[2]}"
            for transport, expected in (("auto", "grpc"), ("shm", "shm")):
                with imagefeed.Client(address, transport=transport) as c:
                    s = c.batches("d", **REQUEST)
                    self.assertEqual([record(b) for b in s], self.reference)
                    self.assertEqual(s.transports, {address: expected})
        finally:
            server.stop()

    def test_break_and_close_leave_nothing(self):
        with imagefeed.Client(self.server.address, transport="shm") as c:
            s = c.batches("d", **REQUEST)
            kept = [next(s), next(s)]
            s.close()
            self.assertEqual(record(kept[1]), self.reference[1])  # the mapping outlives the call
        del kept

    def test_budget_holds_the_ring_while_streaming(self):
        with imagefeed.Client(self.server.address, transport="shm") as c:
            s = c.batches("d", **REQUEST, shm_slots=6)
            b = next(s)
            ring = 6 * b.images.nbytes
            # The workers write into the ring's slots: it is all the stream's batch memory.
            self.assertEqual(status(self.server.address).batch_memory_in_use, ring)
            s.close()

    def test_ring_the_budget_cannot_hold_falls_back(self):
        capacity = status(self.server.address).batch_memory_capacity
        batch = capacity // 64 // (3 * 256 * 256 * 4) + 1
        big = dict(REQUEST, size=(256, 256), batch_size=batch, shm_slots=64)  # 64 slots > the budget
        with imagefeed.Client(self.server.address, transport="auto") as c:
            s = c.batches("d", **big)
            next(s)
            self.assertEqual(s.transports, {self.server.address: "grpc"})
            s.close()

    def test_client_sigkill_mid_stream_leaves_nothing(self):
        code = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {os.path.join(HERE, "..", "client", "python")!r})
            import imagefeed
            c = imagefeed.Client({self.server.address!r}, transport="shm")
            s = c.batches("d", **{REQUEST!r})
            held = [next(s), next(s)]
            print(s.transports[{self.server.address!r}], flush=True)
            sys.stdin.read()
        """)
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.assertEqual(child.stdout.readline().decode().strip(), "shm")
            self.assertTrue(status(self.server.address).streams)
        finally:
            child.kill()
            child.wait()
            child.stdin.close()
            child.stdout.close()
        # tearDown: the server noticed, unlinked, unmapped and gave the budget back.

    def test_unmapped_ring_is_unlinked_when_the_call_ends(self):
        """A client that dies between the segment and `mapped`: the name exists until the
        call ends, then the server unlinks it."""
        with grpc.insecure_channel(self.server.address) as ch:
            call = ch.stream_stream(_client_path(), request_serializer=pb.LocalClientMessage.SerializeToString,
                                    response_deserializer=pb.LocalServerMessage.FromString)
            req = imagefeed.Client(self.server.address).stream_request("d", **REQUEST)
            it = call(iter([pb.LocalClientMessage(request=req)]))
            first = next(it)
            self.assertEqual(segments(self.pid), [first.segment.name.lstrip("/")])
            it.cancel()


def _client_path():
    return imagefeed._client._LOCAL_PATH


class ServerKillTest(unittest.TestCase):
    def test_server_sigkill_and_startup_sweep(self):
        tmp = tempfile.TemporaryDirectory()
        root = write_dataset(os.path.join(tmp.name, "d"), 40)
        cache = os.path.join(tmp.name, "cache")
        server = Server({"d": root}, cache)
        try:
            with imagefeed.Client(server.address, transport="grpc") as c:
                reference = [record(b) for b in c.batches("d", **REQUEST)]
            # Killed mid-stream after the client mapped: nothing named is left, and the
            # batch the client holds stays readable (the pages live with its mapping).
            client = imagefeed.Client(server.address, transport="shm", failover_timeout=0)
            s = client.batches("d", **REQUEST)
            first = next(s)
            self.assertEqual(s.transports, {server.address: "shm"})
            pid = server.proc.pid
            deadline = time.monotonic() + 30
            while segments(pid) and time.monotonic() < deadline:  # the server reads `mapped`
                time.sleep(0.01)
            self.assertEqual(segments(pid), [], "unlinked once the client mapped it")
            server.signal(signal.SIGKILL)
            server.proc.wait()
            self.assertEqual(segments(pid), [])
            self.assertEqual(record(first), reference[0])
            with self.assertRaises(imagefeed.ImageFeedError):
                list(s)
            client.close()
            # Killed between creating a ring and the client mapping it: the name stays ...
            server2 = Server({"d": root}, cache)
            with grpc.insecure_channel(server2.address) as ch:
                call = ch.stream_stream(_client_path(), request_serializer=pb.LocalClientMessage.SerializeToString,
                                        response_deserializer=pb.LocalServerMessage.FromString)
                req = imagefeed.Client(server2.address).stream_request("d", **REQUEST)
                it = call(iter([pb.LocalClientMessage(request=req)]))
                name = next(it).segment.name.lstrip("/")
                pid2 = server2.proc.pid
                server2.signal(signal.SIGKILL)
                server2.proc.wait()
                it.cancel()
            server2.stop()
            self.assertEqual(segments(pid2), [name])
            # ... and the next server's start-up removes it, but not a live process's name.
            alive = f"/dev/shm/imagefeed-{os.getpid()}-0123abcd"
            with open(alive, "wb"):
                pass
            server3 = Server({"d": root}, cache)
            try:
                self.assertEqual(segments(pid2), [])
                self.assertTrue(os.path.exists(alive))
            finally:
                os.unlink(alive)
                server3.stop()
        finally:
            server.stop()
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
