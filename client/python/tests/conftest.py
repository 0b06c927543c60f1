"""Fixtures: generated ImageFolder datasets and real imagefeed-server processes.

The server binary comes from IMAGEFEED_SERVER_BIN (set by ctest), else build/bin.
"""

import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import pytest


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SERVER_BIN = os.environ.get("IMAGEFEED_SERVER_BIN", os.path.join(REPO, "build", "bin", "imagefeed-server"))

# The generated dataset: class -> number of images. Sample ids follow torchvision's
# ImageFolder order: classes sorted, then file names sorted.
CLASSES = {"ant": 7, "bee": 11, "cat": 5}
NUM_SAMPLES = sum(CLASSES.values())
HEIGHT, WIDTH = 6, 5
LABELS = np.repeat(np.arange(len(CLASSES)), list(CLASSES.values()))  # label of each sample id


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs a whole training example")


def png_bytes(pixels):
    """Encodes an HxWx3 uint8 array as an 8-bit RGB PNG (filter 0 on every row)."""
    h, w, _ = pixels.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def expected_image(sample_id):
    """The pixels of sample `sample_id` (HWC uint8): channel 0 is the id everywhere,
    channel 1 the row * 40, channel 2 the column * 50 (so layouts and axes are checkable)."""
    img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    img[:, :, 0] = sample_id
    img[:, :, 1] = (np.arange(HEIGHT) * 40)[:, None]
    img[:, :, 2] = (np.arange(WIDTH) * 50)[None, :]
    return img


def write_dataset(root, corrupt=None):
    """Writes the generated dataset under `root`. `corrupt`: a sample id whose file is
    replaced by a truncated PNG."""
    sample_id = 0
    for name, count in sorted(CLASSES.items()):
        os.makedirs(os.path.join(root, name))
        for i in range(count):
            data = png_bytes(expected_image(sample_id))
            if sample_id == corrupt:
                data = data[: len(data) // 2]
            with open(os.path.join(root, name, f"img_{i:02d}.png"), "wb") as f:
                f.write(data)
            sample_id += 1
    with open(os.path.join(root, "ant", "notes.txt"), "w") as f:
        f.write("not an image: not indexed\n")
    return root


class Server:
    """A running imagefeed-server process."""

    def __init__(self, args, cache_dir):
        if not os.path.exists(SERVER_BIN):
            pytest.fail(f"imagefeed-server not found at {SERVER_BIN}: build it with scripts/build.sh "
                        f"or set IMAGEFEED_SERVER_BIN")
        # stderr goes to a file: a pipe nobody reads could fill up and stall the server.
        self.stderr = tempfile.TemporaryFile()
        # A short drain: a test that stopped reading may leave a stream open, and the
        # default 30 s drain would then outlast stop()'s wait.
        # Without the sanitizer runtime the TSan test preloads into this interpreter
        # (python_native_tsan_test): the server binary is not built for it.
        env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "TSAN_OPTIONS")}
        self.proc = subprocess.Popen([SERVER_BIN, "--listen=127.0.0.1:0", f"--cache_dir={cache_dir}",
                                      "--threads=2", "--drain_seconds=2"] + list(args),
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        prefix = "imagefeed-server listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"server did not start: stdout {line!r}, stderr {self.log()!r}")
        self.address = line[len(prefix):]

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        assert code == 0, f"server exited with {code}: {self.log()}"


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    return write_dataset(str(tmp_path_factory.mktemp("data") / "tiny"))


@pytest.fixture(scope="session")
def broken_root(tmp_path_factory):
    return write_dataset(str(tmp_path_factory.mktemp("data") / "broken"), corrupt=9)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def start_server(cache_dir):
    """start_server(--dataset=..., ...) -> Server, stopped (and checked) at the end."""
    servers = []

    def start(*args):
        servers.append(Server(args, cache_dir))
        return servers[-1]

    yield start
    failures = []
    for s in servers:  # stop every server, even after one exits badly
        try:
            s.stop()
        except AssertionError as err:
            failures.append(str(err))
    assert not failures, "; ".join(failures)


@pytest.fixture(scope="session")
def server(start_server, tiny_root, broken_root):
    """Serves `tiny` and `broken` (sample 9 truncated)."""
    return start_server(f"--dataset=tiny={tiny_root}", f"--dataset=broken={broken_root}").address


@pytest.fixture(scope="session")
def server2(start_server, tiny_root):
    """A second server with the same `tiny` dataset (fan-in)."""
    return start_server(f"--dataset=tiny={tiny_root}").address


@pytest.fixture(scope="session")
def secure_server(start_server, tiny_root, tmp_path_factory):
    """Serves `tiny` with TLS (a self-signed certificate) and a bearer token."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate (apt-get install openssl)")
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    (d / "token").write_text("open-sesame\n")
    s = start_server(f"--dataset=tiny={tiny_root}", f"--auth_token_file={d / 'token'}",
                     f"--tls_cert={d / 'cert.pem'}", f"--tls_key={d / 'key.pem'}")
    return s.address, str(d / "cert.pem")
