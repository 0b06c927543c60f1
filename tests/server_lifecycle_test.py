#!/usr/bin/python3
"""Lifecycle of the real imagefeed-server: flags checked at start, one server per port, start-up summary,
SIGTERM during start-up and while streams run. Synchronizes on conditions (a line on a pipe, a process
state) with deadlines, never on sleeps."""
import os
import pty
import queue
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
READY = re.compile(r"imagefeed-server listening on (\S+)\n")


class Server:
    """An imagefeed-server process whose stdout and stderr lines are read by threads into queues."""

    def __init__(self, *args, cache_dir, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen([SERVER, f"--listen={listen}", "--threads=1", f"--cache_dir={cache_dir}", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout, self.stderr = queue.Queue(), queue.Queue()
        self.stderr_seen = []
        self._readers = [threading.Thread(target=self._pump, args=(f, q), daemon=True)
                         for f, q in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))]
        for r in self._readers:
            r.start()

    @staticmethod
    def _pump(f, q):
        for line in f:
            q.put(line)
        q.put(None)  # EOF

    def ready(self, timeout=60):
        """Waits for the ready line; returns the address it names."""
        line = self.stdout.get(timeout=timeout)
        m = READY.fullmatch(line or "")
        if not m:
            raise AssertionError(f"bad ready line {line!r}; stderr: {self.all_stderr()}")
        return m.group(1)

    def wait_stderr(self, pattern, timeout=60):
        """Waits for a stderr line matching `pattern`; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.stderr.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"stderr closed before {pattern!r}: {self.stderr_seen}")
            self.stderr_seen.append(line)
            m = re.search(pattern, line)
            if m:
                return m

    def all_stderr(self, timeout=30):
        """Everything on stderr until the process closes it."""
        while True:
            line = self.stderr.get(timeout=timeout)
            if line is None:
                return "".join(self.stderr_seen)
            self.stderr_seen.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for r in self._readers:
            r.join(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


def run_server(*args, timeout=60):
    return subprocess.run([SERVER, *args], capture_output=True, text=True, timeout=timeout)


def make_demo(cache_dir):
    """Generates the demo dataset (the server does on start); returns its root."""
    server = Server(cache_dir=cache_dir)
    try:
        server.ready()
        return server.wait_stderr(r"dataset 'demo': .* from (\S+);").group(1)
    finally:
        server.stop()


class StartupFlagsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_listen_port_out_of_range_is_a_usage_error(self):
        r = run_server("--listen=127.0.0.1:99999")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--listen", r.stderr)
        self.assertIn("99999", r.stderr)
        for bad in ["127.0.0.1", "127.0.0.1:", "127.0.0.1:http", ":50051", "127.0.0.1:-1"]:
            r = run_server(f"--listen={bad}")
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--listen", r.stderr, bad)

    def test_unix_socket_and_ipv6_loopback_are_accepted(self):
        path = f"{self.tmp.name}/s.sock"
        server = Server(cache_dir=self.tmp.name, listen=f"unix:{path}")
        try:
            self.assertEqual(server.ready(), f"unix:{path}")
        finally:
            server.proc.send_signal(signal.SIGTERM)
            self.assertEqual(server.proc.wait(timeout=30), 0)
            server.stop()
        if not socket_has_ipv6_loopback():
            self.skipTest("no IPv6 loopback here")
        server = Server(cache_dir=self.tmp.name, listen="[::1]:0")
        try:
            self.assertRegex(server.ready(), r"^\[::1\]:\d+$")
        finally:
            server.stop()

    def test_memory_budget_flag(self):
        server = Server("--memory_budget=256M", "--max_streams=3", cache_dir=self.tmp.name)
        try:
            server.ready()
            server.wait_stderr(r"memory budget 256\.0 MiB \(268435456 bytes, set by --memory_budget\); max streams: 3$")
        finally:
            server.stop()
        server = Server(cache_dir=self.tmp.name)
        try:
            server.ready()
            # The value depends on the machine: only its source is checked.
            server.wait_stderr(r"memory budget .* bytes, 50% of (the cgroup memory limit|physical memory) .*\); "
                               r"max streams: derived from the budget$")
        finally:
            server.stop()
        for bad in ["12X", "0", "1.5G", "-1", ""]:
            r = run_server("--listen=127.0.0.1:0", f"--memory_budget={bad}") if bad else None
            if r is None:
                continue  # empty = the default
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--memory_budget", r.stderr, bad)

    def test_second_server_on_a_served_port_fails_at_start(self):
        first = Server(cache_dir=self.tmp.name)
        try:
            addr = first.ready()
            started = time.monotonic()
            r = run_server(f"--listen={addr}", f"--cache_dir={self.tmp.name}", "--threads=1")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(f"imagefeed-server: cannot listen on {addr}: address in use", r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertLess(time.monotonic() - started, 30)
            # The first server still answers.
            self.assertEqual(subprocess.run([CLI, "health", f"--server={addr}"], capture_output=True,
                                            timeout=60).returncode, 0)
        finally:
            first.stop()


def socket_has_ipv6_loopback():
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class DatasetSummaryTest(unittest.TestCase):
    def test_summary_counts_what_was_ignored(self):
        with tempfile.TemporaryDirectory() as d:
            root = f"{d}/data"
            # Indexing only reads names: empty files will do.
            files = ["cat/a.jpg", "cat/b.PNG", "cat/sub/c.jpeg", "dog/d.jpg",
                     "cat/.hidden.jpg", "dog/notes.txt", "dog/e.webp", "dog/README"]
            for f in files:
                os.makedirs(os.path.dirname(f"{root}/{f}"), exist_ok=True)
                open(f"{root}/{f}", "w").close()
            os.makedirs(f"{root}/.git/objects")
            os.symlink(f"{root}/cat/a.jpg", f"{root}/dog/link.jpg")
            os.symlink(f"{root}/cat", f"{root}/linked_class")
            server = Server(f"--dataset=pets={root}", cache_dir=d)
            try:
                server.ready()
                server.wait_stderr(
                    rf"^imagefeed-server: dataset 'pets': 5 samples in 2 classes from {re.escape(root)}; "
                    r"ignored: 2 hidden, 2 not images, 2 symlinks$")  # e.webp counts, as in torchvision
            finally:
                server.stop()


class ShutdownDuringStartupTest(unittest.TestCase):
    def test_sigterm_while_indexing_exits_0_promptly(self):
        with tempfile.TemporaryDirectory() as d:
            root = f"{d}/big"
            for i in range(20000):  # 20,000 empty *.jpg in nested folders
                folder = f"{root}/c{i % 10}/s{i % 100}"
                if i < 100:
                    os.makedirs(folder)
                open(f"{folder}/{i}.jpg", "w").close()
            # The same tree under ten names: indexing takes long enough that SIGTERM lands during it.
            server = Server(*[f"--dataset=d{k}={root}" for k in range(10)], cache_dir=d)
            try:
                # Printed once the signal thread runs and before indexing starts.
                server.wait_stderr(r"memory budget")
                sent = time.monotonic()
                server.proc.send_signal(signal.SIGTERM)
                self.assertEqual(server.proc.wait(timeout=10), 0)
                self.assertLess(time.monotonic() - sent, 5)
                self.assertIn("imagefeed-server: SIGTERM during start-up, exiting", server.all_stderr())
                self.assertIsNone(server.stdout.get(timeout=30), "no ready line")
            finally:
                server.stop()


def start_epoch(addr, dataset):
    """Starts `imagefeed epoch` with stderr on a pseudo-terminal (so it draws progress);
    returns (process, terminal fd) once the first batch has arrived."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([CLI, "epoch", f"--server={addr}", f"--dataset={dataset}", "--batch_size=16",
                             "--size=256x256"], stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    ready, _, _ = select.select([master], [], [], 60)
    if not ready or not os.read(master, 4096):
        proc.kill()
        raise AssertionError("epoch drew no progress: no batch arrived")
    # Keep draining the terminal so the client never blocks on it.
    threading.Thread(target=drain_fd, args=(master,), daemon=True).start()
    return proc


def drain_fd(fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:  # EIO: the process closed the terminal
        pass
    os.close(fd)


class DrainTest(unittest.TestCase):
    """SIGTERM while an epoch streams: health turns NOT_SERVING, the stream finishes (or, with
    --drain_seconds=0, is cancelled), the server exits 0."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        demo = make_demo(f"{cls.tmp.name}/cache")
        # 20 hard-linked copies of the demo images: an epoch of 6,000 samples at 256x256 on one thread
        # outlasts the health check below by far.
        cls.root = f"{cls.tmp.name}/large"
        for cls_dir in os.listdir(demo):
            for copy in range(20):
                os.makedirs(f"{cls.root}/{cls_dir}/{copy}")
                for name in os.listdir(f"{demo}/{cls_dir}"):
                    os.link(f"{demo}/{cls_dir}/{name}", f"{cls.root}/{cls_dir}/{copy}/{name}")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start(self, *args):
        server = Server(f"--dataset=large={self.root}", *args, cache_dir=f"{self.tmp.name}/cache")
        self.addCleanup(server.stop)
        return server, server.ready()

    def test_running_stream_completes_and_health_is_not_serving_during_the_drain(self):
        server, addr = self.start("--drain_seconds=30")
        epoch = start_epoch(addr, "large")
        self.addCleanup(lambda: epoch.poll() is None and epoch.kill())
        server.proc.send_signal(signal.SIGTERM)
        server.wait_stderr(r"SIGTERM, draining for up to 30 s")
        health = subprocess.run([CLI, "health", f"--server={addr}"], capture_output=True, text=True, timeout=60)
        self.assertIsNone(epoch.poll(), "the epoch ended before the health check: make the dataset larger")
        self.assertEqual((health.returncode, health.stdout), (1, "NOT_SERVING\n"), health.stderr)
        out, _ = epoch.communicate(timeout=120)
        self.assertEqual(epoch.returncode, 0, out)
        self.assertIn("exactly once: 6000 unique, 0 duplicates, 0 skipped, 0 missing of 6000 expected: OK", out)
        self.assertEqual(server.proc.wait(timeout=30), 0)
        # The listener is closed once the last stream ended.
        health = subprocess.run([CLI, "health", f"--server={addr}"], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(health.returncode, 0)

    def test_drain_seconds_0_cancels_the_running_stream(self):
        server, addr = self.start("--drain_seconds=0")
        epoch = start_epoch(addr, "large")
        self.addCleanup(lambda: epoch.poll() is None and epoch.kill())
        sent = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(timeout=30), 0)
        out, _ = epoch.communicate(timeout=30)
        self.assertLess(time.monotonic() - sent, 10)
        self.assertNotEqual(epoch.returncode, 0, out)
        self.assertNotIn(": OK", out)
        self.assertIn("drain deadline reached, cancelling the running streams", server.all_stderr())


if __name__ == "__main__":
    unittest.main()
