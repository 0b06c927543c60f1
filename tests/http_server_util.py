"""Shared by the HTTP endpoint tests: a real imagefeed-server with --http_listen, plain HTTP GETs."""
import os
import queue
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
READY = re.compile(r"imagefeed-server listening on (\S+)\n")
HTTP_LINE = re.compile(r"imagefeed-server http on (\S+)\n")


def free_port():
    """A port nothing listens on now (for programs that cannot pick their own, like prometheus)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, token=None, timeout=10):
    """(status, headers, body bytes) of a GET; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_for(condition, what, timeout=60, interval=0.2):
    """Polls `condition()` until it returns a true value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class HttpServer:
    """imagefeed-server with --http_listen=127.0.0.1:0: .grpc and .http are the addresses it printed."""

    def __init__(self, *args, cache_dir):
        self.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0", "--threads=2",
                                      f"--cache_dir={cache_dir}", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        line = self.proc.stdout.readline()
        m = READY.fullmatch(line)
        if not m:
            self.stop()
            raise AssertionError(f"bad ready line {line!r}")
        self.grpc = m.group(1)
        self.http = None
        # The http line is printed before the ready line: it is in the queue already.
        while self.http is None:
            err = self.stderr_lines.get(timeout=10)
            if err is None:
                raise AssertionError("stderr closed without 'imagefeed-server http on'")
            m = HTTP_LINE.fullmatch(err)
            if m:
                self.http = "http://" + m.group(1)

    def _pump(self):
        for line in self.proc.stderr:
            self.stderr_lines.put(line)
        self.stderr_lines.put(None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


class StreamLoop:
    """Streams the demo dataset with the CLI again and again on a thread until stop()."""

    def __init__(self, grpc, *flags):
        self._stop = threading.Event()
        self._args = [CLI, "bench", f"--server={grpc}", "--dataset=demo", "--batch_size=8", "--size=64x64", *flags]
        self.runs = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            subprocess.run(self._args, capture_output=True, timeout=120, check=True)
            self.runs += 1

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=130)
