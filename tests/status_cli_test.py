#!/usr/bin/python3
"""`imagefeed status` and the bench stage breakdown against a real server: a running
stream shows up with its request, the totals count exactly the samples streamed."""
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_e2e_test import CLI, ServerFixture, cli  # noqa: E402

SKIP_REASONS = ["corrupt", "other", "too_large", "unreadable", "unsupported"]


class StatusCliTest(ServerFixture):
    # One server for the class (ServerFixture starts it with --threads=2);
    # the tests run in name order and the totals accumulate across them.

    def status(self):
        r = cli("status", f"--server={self.addr}", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def wait_for(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status()
            if predicate(s):
                return s
        self.fail(f"timed out waiting for {what}; last status: {s}")

    def test_1_running_epoch_appears_then_totals_match(self):
        before = self.status()
        self.assertEqual(before["streams"], [])
        self.assertEqual(before["threads"], 2)
        # Large float32 samples (768x768x3x4 = 7 MB each, 2 GB in all) keep the
        # stream open well beyond gRPC's flow-control window once the client is stopped.
        epoch = subprocess.Popen([CLI, "epoch", f"--server={self.addr}", "--dataset=demo", "--json",
                                  "--size=768x768", "--batch_size=4", "--shuffle", "--seed=5", "--epoch=2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            running = self.wait_for(lambda s: len(s["streams"]) == 1, "the epoch's stream")
            epoch.send_signal(signal.SIGSTOP)  # the client stops reading: the stream stays open
            (stream,) = running["streams"]
            self.assertEqual(stream["dataset"], "demo")
            self.assertEqual((stream["rank"], stream["world_size"]), (0, 1))
            self.assertEqual(stream["total"], "300")  # int64 fields are JSON strings
            self.assertLessEqual(int(stream["position"]), 300)
            self.assertIn("batch 4, 768x768 float32", stream["request"])
            self.assertIn("shuffle seed 5, epoch 2", stream["request"])
            self.assertRegex(stream["peer"], r"^ipv4:127\.0\.0\.1:\d+$")
            stopped = self.status()
            self.assertEqual(len(stopped["streams"]), 1, "a stopped client keeps its stream open")
            self.assertEqual(stopped["streams"][0]["id"], stream["id"])
            text = cli("status", f"--server={self.addr}")
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("imagefeed-server 0.1.0", text.stdout)
            self.assertIn("streams: 1 active", text.stdout)
            self.assertIn(stream["peer"], text.stdout)
        finally:
            epoch.send_signal(signal.SIGCONT)
        out, err = epoch.communicate(timeout=300)
        self.assertEqual(epoch.returncode, 0, err)
        result = json.loads(out)
        self.assertEqual(result["samples"], 300)
        after = self.wait_for(lambda s: s["streams"] == [], "the stream to end")
        delta = lambda key: int(after["totals"].get(key, 0)) - int(before["totals"].get(key, 0))
        self.assertEqual(delta("samples"), result["samples"])
        self.assertEqual(delta("batches_sent"), result["batches"])
        self.assertEqual(delta("bytes_sent"), 300 * 768 * 768 * 3 * 4)
        self.assertEqual(sorted(after["totals"]["skipped_by_reason"]), SKIP_REASONS)
        self.assertGreater(after["totals"]["decode_seconds"], 0)
        self.assertGreater(after["totals"]["resize_seconds"], 0)
        self.assertGreater(after["totals"]["wait_client_seconds"], 0, "the stopped client made batches wait")
        self.assertEqual(int(after["streams_total"]) - int(before["streams_total"]), 1)
        decode = next(h for h in after["stage_latency"] if h["name"] == "decode")
        self.assertEqual(len(decode["counts"]), len(decode["upper_bounds"]) + 1)
        self.assertEqual(int(decode["counts"][-1]), int(decode["count"]))  # cumulative: +Inf holds all
        self.assertEqual(int(decode["count"]), int(after["totals"]["samples"]))

    def test_2_bench_json_has_the_run_stages(self):
        r = cli("bench", f"--server={self.addr}", "--dataset=demo", "--json", "--batch_size=10", "--size=32x32")
        self.assertEqual(r.returncode, 0, r.stderr)
        b = json.loads(r.stdout)
        stages = b["stages"]
        self.assertEqual(stages["samples"], b["samples"])  # alone on the server: the run's samples exactly
        self.assertEqual(stages["batches_sent"], b["batches"])
        self.assertEqual(stages["bytes_sent"], b["samples"] * 32 * 32 * 3 * 4)
        self.assertEqual(sorted(stages["skipped_by_reason"]), SKIP_REASONS)
        for key in ("read_seconds", "decode_seconds", "resize_seconds", "write_seconds", "wait_client_seconds"):
            self.assertGreaterEqual(stages[key], 0, key)
        r = cli("bench", f"--server={self.addr}", "--dataset=demo", "--size=32x32")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"server stages over 300 samples")
        self.assertRegex(r.stdout, r"\n  decode +\d+\.\d{3} s +\d+\.\d%")

    def test_3_watch_redraws_in_place_on_a_terminal(self):
        master, slave = pty.openpty()
        proc = subprocess.Popen([CLI, "status", f"--server={self.addr}", "--watch=0.1"], stdout=slave,
                                stderr=subprocess.DEVNULL)
        os.close(slave)
        screen, deadline = b"", time.monotonic() + 60
        try:
            while screen.count(b"\x1b[H\x1b[J") < 2 and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 1)
                if ready:
                    screen += os.read(master, 65536)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            os.close(master)
        self.assertGreaterEqual(screen.count(b"\x1b[H\x1b[J"), 2, screen[-500:])
        self.assertIn(b"imagefeed-server", screen)
        # Not a terminal: plain frames, no escape codes.
        r = cli("status", f"--server={self.addr}")
        self.assertNotIn("\x1b", r.stdout)

    def test_4_unreachable_server_names_the_address(self):
        r = cli("status", "--server=127.0.0.1:1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.1:1", r.stderr)


if __name__ == "__main__":
    unittest.main()
