"""imagefeed._native (StreamBatches through gRPC C++) against grpcio and a real server.

The other client tests run through it too (it is the default when built); these check that
it is really used, that it delivers exactly what grpcio delivers, and how it ends: errors,
cancellation from another thread, Client.close(), and a forked child, which must not use it.
ctest sets IMAGEFEED_REQUIRE_NATIVE=1 when the build made the module: the tests then fail
instead of skipping if the client cannot load it.
"""

import os
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest

import imagefeed
from imagefeed import _client
from conftest import NUM_SAMPLES

if _client._native is None:
    if os.environ.get("IMAGEFEED_REQUIRE_NATIVE") == "1":
        raise AssertionError("imagefeed._native was built but cannot be imported")
    pytest.skip("imagefeed._native is not built (python3-dev missing): the client uses grpcio",
                allow_module_level=True)


def stream(client, **kwargs):
    return list(client.batches("tiny", **kwargs))


def test_native_is_used_by_default_and_not_when_disabled(server):
    assert isinstance(imagefeed.Client(server)._conn(server).native, _client._native.Channel)
    assert imagefeed.Client(server, native_receive=False)._conn(server).native is None
    conn = imagefeed.Client(server, transport="grpc")._conn(server)
    call = conn.stream_batches(_client.make_request("tiny", batch_size=4, size=8))
    assert isinstance(call, _client._NativeCall)
    message = next(call)
    assert type(message) is bytes and len(message) > 4 * 3 * 8 * 8 * 4
    call.cancel()


def test_native_batches_equal_grpcio_batches_byte_for_byte(server):
    kwargs = dict(batch_size=4, size=(16, 12), normalize="standardize", shuffle=True, seed=7, epoch=3,
                  random_flip=True, dtype="float32")
    native = stream(imagefeed.Client(server, transport="grpc"), **kwargs)
    reference = stream(imagefeed.Client(server, transport="grpc", native_receive=False), **kwargs)
    assert len(native) == len(reference) == -(-NUM_SAMPLES // 4)  # the last batch is partial
    assert sum(len(b.labels) for b in native) == NUM_SAMPLES
    for a, b in zip(native, reference):
        assert a.images.dtype == b.images.dtype == np.float32
        assert a.images.shape == b.images.shape and a.images.shape[1:] == (3, 16, 12)
        assert a.images.tobytes() == b.images.tobytes()
        assert not a.images.flags.writeable  # a view of the received message, as with grpcio
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.sample_ids, b.sample_ids)
        assert (a.epoch, a.position, a.span, a.cursor) == (b.epoch, b.position, b.span, b.cursor)
    for dtype in ("uint8", "float16"):
        a = stream(imagefeed.Client(server, transport="grpc"), batch_size=8, size=8, dtype=dtype, shuffle=False)
        b = stream(imagefeed.Client(server, transport="grpc", native_receive=False), batch_size=8, size=8,
                   dtype=dtype, shuffle=False)
        assert [x.images.tobytes() for x in a] == [x.images.tobytes() for x in b]


def test_native_errors_carry_the_servers_code_and_details(server):
    conn = imagefeed.Client(server)._conn(server)
    call = conn.stream_batches(_client.make_request("no-such-dataset", batch_size=4))
    with pytest.raises(grpc.RpcError) as err:
        next(call)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and "no-such-dataset" in err.value.details()
    assert call.code() == grpc.StatusCode.NOT_FOUND
    # Through the client: the same ImageFeedError as with grpcio.
    for native in (True, False):
        with pytest.raises(imagefeed.ImageFeedError) as err:
            next(iter(imagefeed.Client(server, transport="grpc", native_receive=native).batches("nope")))
        assert err.value.code == grpc.StatusCode.NOT_FOUND, native


def test_native_cancel_from_another_thread_ends_the_reading_thread(server):
    conn = imagefeed.Client(server)._conn(server)
    # 23 batches of 3 MB: more than gRPC buffers, so the call is still running when cancelled.
    call = conn.stream_batches(_client.make_request("tiny", batch_size=1, size=512))
    first = threading.Event()
    outcome = {}

    def read():
        received = 0
        try:
            for _ in call:
                received += 1
                first.set()
        except grpc.RpcError as err:
            outcome["code"] = err.code()
        outcome["received"] = received
        first.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(60)
    assert call.cancel()
    reader.join(60)
    assert not reader.is_alive()
    assert outcome["code"] == grpc.StatusCode.CANCELLED and 1 <= outcome["received"] < NUM_SAMPLES
    assert call.code() == grpc.StatusCode.CANCELLED
    assert stream(imagefeed.Client(server), batch_size=8)  # the server serves on


def test_client_close_cancels_its_native_streams(server):
    client = imagefeed.Client(server)
    call = client._conn(server).stream_batches(_client.make_request("tiny", batch_size=1, size=512))
    assert next(call)
    client.close()
    assert call.code() == grpc.StatusCode.CANCELLED


_FORK_AFTER_NATIVE = """
import os, sys
import imagefeed
from imagefeed import _client
batches = list(imagefeed.Client(sys.argv[1]).batches("tiny", batch_size=8))
assert batches and _client._native is not None  # gRPC C++ runs in this process now
assert not _client._native.forked()
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:  # the child: only look, then leave without running any cleanup
    try:
        os.write(write_end, b"1" if _client._native.forked() else b"0")
    finally:
        os._exit(0)
os.close(write_end)
answer = os.read(read_end, 1)
os.close(read_end)
_, status = os.waitpid(pid, 0)
print("child saw forked():", answer.decode(), "exit status:", os.WEXITSTATUS(status) if os.WIFEXITED(status) else status)
"""


def test_a_forked_child_does_not_use_gRPC_CPP_started_by_its_parent(server):
    # In a fresh interpreter with GRPC_ENABLE_FORK_SUPPORT=false, for the reason test_torch.py's
    # fork test gives: grpcio's core joins its executor threads in a prefork handler, and under
    # load that join deadlocked fork() itself in this process (pytest's, with the channels of the
    # tests before), which is gRPC's, not what this test checks.
    result = subprocess.run([sys.executable, "-c", _FORK_AFTER_NATIVE, server], capture_output=True, text=True,
                            timeout=240, env=dict(os.environ, GRPC_ENABLE_FORK_SUPPORT="false"))
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "child saw forked(): 1 exit status: 0" in result.stdout, result.stdout
