#!/usr/bin/python3
"""The CLI over several real imagefeed-server processes (issue #10): `--server=a,b,c` prints exactly what one
server gives (per-batch ids, labels, channel statistics and cursor tokens), `--resume` continues exactly after a
cursor on other servers, a SIGKILLed server is failed over with every sample once in the one-server order, a
stopped server is left out after --progress_timeout, and all servers gone ends with an error naming each."""
import base64
import json
import os
import pty
import select
import re
import signal
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")
TIMING_KEYS = {"seconds", "samples_per_second", "mb_per_second", "time_to_first_batch_seconds", "failovers"}


class Server:
    """One server of the built-in demo dataset (300 images) with its own cache directory."""

    def __init__(self, cache_dir):
        self.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", "--threads=1", f"--cache_dir={cache_dir}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.fullmatch(r"imagefeed-server listening on (127\.0\.0\.1:\d+)\n", line)
        if not m:
            self.proc.kill()
            raise AssertionError(f"bad ready line {line!r}")
        self.addr = m.group(1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def start_servers(n, tmp):
    return [Server(os.path.join(tmp, f"cache{len(os.listdir(tmp))}-{i}")) for i in range(n)]


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def fetch_json(server, *args):
    r = cli("fetch", f"--server={server}", "--dataset=demo", "--json", *args)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def epoch_json(server, *args):
    r = cli("epoch", f"--server={server}", "--dataset=demo", "--json", *args)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return {k: v for k, v in out.items() if k not in TIMING_KEYS}


def decode_cursor_token(token):
    """The fields of a cursor token, decoded by hand from the documented format: "ifc1." + URL-safe
    base64 without padding of the protobuf wire encoding of imagefeed.v1.Cursor."""
    assert token.startswith("ifc1.") and "=" not in token, token
    body = token[5:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    names = {1: "epoch", 2: "global_start", 3: "world_size", 4: "rank", 5: "position", 6: "order_fingerprint",
             7: "even_shards"}
    fields, pos = {}, 0

    def varint():
        nonlocal pos
        value, shift = 0, 0
        while True:
            byte = raw[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(raw):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields[names[number]] = varint()
        else:
            assert wire == 2, key
            length = varint()
            fields[names[number]] = raw[pos:pos + length].decode()
            pos += length
    return fields


REQUEST = ["--batch_size=7", "--size=16x16", "--seed=5", "--epoch=1"]


class FanInCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.servers = start_servers(3, cls.tmp.name)
        cls.one = cls.servers[0].addr
        cls.three = ",".join(s.addr for s in cls.servers)

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        cls.tmp.cleanup()

    def test_three_servers_print_what_one_prints(self):
        for extra in ([], ["--world_size=2", "--rank=1", "--drop_last"], ["--shuffle=false", "--world_size=3"],
                      ["--world_size=2", "--even_shards=pad"]):
            one = fetch_json(self.one, *REQUEST, *extra)
            three = fetch_json(self.three, *REQUEST, *extra)
            self.assertGreater(len(one), 5)
            self.assertEqual(three, one, extra)
            self.assertTrue(all(b["cursor"].startswith("ifc1.") for b in one))
            dns = fetch_json(f"dns:///{self.servers[2].addr}", *REQUEST, *extra)
            self.assertEqual(dns, one, extra)
            e1, e3 = epoch_json(self.one, *REQUEST, *extra), epoch_json(self.three, *REQUEST, *extra)
            self.assertEqual(e3, e1, extra)
            self.assertTrue(e3["ok"], e3)
            self.assertEqual(e3["cursor"], one[-1]["cursor"])

    def test_info_status_and_health_take_every_server(self):
        r = cli("health", f"--server={self.three}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), [f"{s.addr}: SERVING" for s in self.servers])  # in --server order
        self.assertEqual(cli("health", f"--server={self.one}").stdout, "SERVING\n")  # one server: as before
        r = cli("status", f"--server={self.three}", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len([json.loads(line) for line in r.stdout.splitlines()]), 3)
        r = cli("info", f"--server={self.three}", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, cli("info", f"--server={self.one}", "--json").stdout)

    def test_bench_sums_the_stages_of_every_server(self):
        r = cli("bench", f"--server={self.three}", "--dataset=demo", "--json", "--batch_size=30", "--size=16x16")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["samples"], 300)
        # 10 batches, 3-4 from each server: only the sum over the servers covers the epoch.
        self.assertEqual(int(out["stages"]["samples"]), 300)
        self.assertEqual(int(out["stages"]["batches_sent"]), 10)

    def test_cursor_tokens_follow_the_documented_format(self):
        batches = fetch_json(self.three, *REQUEST, "--world_size=2", "--rank=1")
        for b, following in zip(batches, batches[1:] + [None]):
            c = decode_cursor_token(b["cursor"])
            self.assertEqual((c["epoch"], c["world_size"], c["rank"]), (1, 2, 1))
            self.assertEqual(c.get("global_start", 0), 0)
            # Resume right after this batch: the next batch's position (150 positions for rank 1 of 2).
            self.assertEqual(c["position"], following["position"] if following else 150)
            self.assertRegex(c["order_fingerprint"], r"^[0-9a-f]{64}$")

    def test_resume_continues_exactly_on_other_servers(self):
        whole = fetch_json(self.one, *REQUEST)
        # Text output: the last line says how to resume after --batches.
        r = cli("fetch", f"--server={self.one}", "--dataset=demo", "--batches=4", *REQUEST)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 5)
        m = re.fullmatch(r"resume with --resume=(ifc1\.[A-Za-z0-9_-]+)", lines[-1])
        self.assertTrue(m, lines[-1])
        token = m.group(1)
        self.assertEqual(token, whole[3]["cursor"])
        others = ",".join(s.addr for s in self.servers[1:])
        # The cursor carries the epoch: --epoch may be left out.
        rest = fetch_json(others, "--batch_size=7", "--size=16x16", "--seed=5", f"--resume={token}")
        self.assertEqual(rest, whole[4:])
        e = epoch_json(others, "--batch_size=7", "--size=16x16", "--seed=5", f"--resume={token}")
        self.assertTrue(e["ok"], e)
        self.assertEqual(e["expected"], 300 - 4 * 7)
        self.assertEqual(e["unique"], 300 - 4 * 7)
        self.assertEqual(e["cursor"], whole[-1]["cursor"])

    def test_bad_resume_and_mixed_flags_are_usage_errors(self):
        r = cli("fetch", f"--server={self.three}", "--dataset=demo", "--resume=ifc1.%%%")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--resume: ", r.stderr)
        token = fetch_json(self.one, *REQUEST, "--batches=1")[0]["cursor"]
        r = cli("fetch", f"--server={self.one}", "--dataset=demo", f"--resume={token}", "--start=7")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--start and --resume", r.stderr)
        r = cli("fetch", f"--server={self.one}", "--dataset=demo", f"--resume={token}", "--epoch=0")
        self.assertEqual(r.returncode, 2)
        self.assertIn("cursor is for epoch 1", r.stderr)


class FailoverCliTest(unittest.TestCase):
    # 8 x 3 x 128 x 128 float32 batches (1.5 MB): a killed server cannot have sent its share ahead.
    BIG = ["--batch_size=8", "--size=128x128", "--seed=3"]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        self.tmp.cleanup()

    def test_sigkill_of_one_of_three_mid_stream_keeps_the_one_server_sequence(self):
        self.servers = start_servers(3, self.tmp.name)
        want = fetch_json(self.servers[0].addr, *self.BIG)
        proc = subprocess.Popen([CLI, "fetch", "--server=" + ",".join(s.addr for s in self.servers),
                                 "--dataset=demo", "--json", "--failover_timeout=10", *self.BIG],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        got = []
        for line in proc.stdout:
            got.append(json.loads(line))
            if len(got) == 2:  # two batches delivered: kill the server of batch 4
                self.servers[1].proc.kill()
                self.servers[1].proc.wait()
        rc = proc.wait(timeout=120)
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(rc, 0, err)
        self.assertEqual(got, want)
        ids = [i for b in got for i in b["sample_ids"]]
        self.assertEqual(sorted(ids), list(range(300)))  # every sample exactly once

    def test_epoch_check_holds_with_a_stopped_server(self):
        self.servers = start_servers(3, self.tmp.name)
        want = epoch_json(self.servers[0].addr, *self.BIG)
        self.servers[1].proc.send_signal(signal.SIGSTOP)
        r = cli("epoch", "--server=" + ",".join(s.addr for s in self.servers), "--dataset=demo", "--json",
                "--progress_timeout=1", *self.BIG)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertTrue(got["ok"], got)
        self.assertEqual({k: v for k, v in got.items() if k not in TIMING_KEYS}, want)

    def test_a_server_down_at_the_start_is_left_out(self):
        self.servers = start_servers(3, self.tmp.name)
        want_fetch = fetch_json(self.servers[1].addr, *REQUEST)
        want_epoch = epoch_json(self.servers[1].addr, *REQUEST)
        self.servers[0].proc.kill()  # the first of the list: also the one the dataset lookup would ask
        self.servers[0].proc.wait()
        all_three = ",".join(s.addr for s in self.servers)
        self.assertEqual(fetch_json(all_three, *REQUEST), want_fetch)
        got = epoch_json(all_three, *REQUEST)
        self.assertTrue(got["ok"], got)
        self.assertEqual(got, want_epoch)

    def test_all_servers_gone_fails_naming_each(self):
        self.servers = start_servers(2, self.tmp.name)
        addrs = [s.addr for s in self.servers]
        proc = subprocess.Popen([CLI, "fetch", "--server=" + ",".join(addrs), "--dataset=demo", "--json",
                                 "--failover_timeout=2", *self.BIG],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc.stdout.readline()
        for s in self.servers:
            s.proc.kill()
            s.proc.wait()
        killed = time.monotonic()
        proc.stdout.read()
        rc = proc.wait(timeout=60)
        elapsed = time.monotonic() - killed
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(rc, 1, err)
        self.assertIn("UNAVAILABLE", err)
        for a in addrs:
            self.assertIn(a, err)
        self.assertIn("resume with --resume=ifc1.", err)
        self.assertLess(elapsed, 30)

    def test_interrupted_fetch_prints_a_token_that_continues_exactly(self):
        self.servers = start_servers(1, self.tmp.name)
        server = self.servers[0]
        want = fetch_json(server.addr, *self.BIG)
        proc = subprocess.Popen([CLI, "fetch", f"--server={server.addr}", "--dataset=demo", "--json", *self.BIG],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        got = [json.loads(proc.stdout.readline())]
        server.proc.send_signal(signal.SIGSTOP)  # no more batches: the interrupt lands mid-stream
        proc.send_signal(signal.SIGINT)
        got += [json.loads(line) for line in proc.stdout]
        rc = proc.wait(timeout=60)
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(rc, 130, err)
        m = re.fullmatch(r"imagefeed: interrupted; resume with --resume=(ifc1\.[A-Za-z0-9_-]+)\n", err)
        self.assertTrue(m, err)
        self.assertEqual(m.group(1), got[-1]["cursor"])
        self.assertLess(len(got), len(want))
        server.proc.send_signal(signal.SIGCONT)
        rest = fetch_json(server.addr, *self.BIG, f"--resume={m.group(1)}")
        self.assertEqual(got + rest, want)

    def test_interrupted_epoch_prints_a_token_and_the_resumed_epoch_checks_the_rest(self):
        self.servers = start_servers(1, self.tmp.name)
        server = self.servers[0]
        master, slave = pty.openpty()  # stderr on a terminal: the progress line shows the first batch
        proc = subprocess.Popen([CLI, "epoch", f"--server={server.addr}", "--dataset=demo", *self.BIG],
                                stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        ready, _, _ = select.select([master], [], [], 60)
        self.assertTrue(ready and os.read(master, 4096), "no progress line: no batch arrived")
        server.proc.send_signal(signal.SIGSTOP)
        proc.send_signal(signal.SIGINT)
        terminal = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            terminal += chunk
        os.close(master)
        rc = proc.wait(timeout=60)
        proc.stdout.close()
        text = terminal.decode(errors="replace")
        self.assertEqual(rc, 130, text)
        m = re.search(r"imagefeed: interrupted; resume with --resume=(ifc1\.[A-Za-z0-9_-]+)", text)
        self.assertTrue(m, text)
        server.proc.send_signal(signal.SIGCONT)
        e = epoch_json(server.addr, *self.BIG, f"--resume={m.group(1)}")
        self.assertTrue(e["ok"], e)
        self.assertEqual(e["unique"], e["expected"])
        self.assertTrue(0 < e["expected"] < 300 and (300 - e["expected"]) % 8 == 0, e)


if __name__ == "__main__":
    unittest.main()
