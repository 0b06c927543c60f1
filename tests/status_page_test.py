#!/usr/bin/python3
"""The status page of a real imagefeed-server, rendered by headless Chromium (Debian's `chromium`) while
streams run: the throughput chart has drawn points, the contact sheet image has loaded (the same size as
/contact_sheet.png), no JavaScript error and no console message; a screenshot is kept as an artefact
(IMAGEFEED_ARTIFACT_DIR, default build/artifacts). Exits 77 (ctest SKIP) when chromium is missing."""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_server_util import BIN, HttpServer, StreamLoop, http_get, wait_for  # noqa: E402

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    print("SKIP: chromium is not installed (apt-get install chromium)", file=sys.stderr)
    sys.exit(77)

ARTIFACTS = os.environ.get("IMAGEFEED_ARTIFACT_DIR", os.path.join(BIN, "..", "artifacts"))
TOKEN = "page-token-51c9"
WINDOW = (1200, 1700)


def png_size(data):
    """(width, height) from a PNG's IHDR, read by hand."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def chromium(url, user_dir, *mode):
    """Runs headless Chromium on `url` for 6 s of virtual time; returns (stdout, stderr)."""
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--disable-extensions", f"--user-data-dir={user_dir}", "--enable-logging=stderr", "--v=0",
                        f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
                        "--virtual-time-budget=6000", *mode, url],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"chromium exited {r.returncode}: {r.stderr[-3000:]}")
    return r.stdout, r.stderr


def console_messages(stderr):
    """The page's console output in Chromium's log (e.g. '...:INFO:CONSOLE:1] "Uncaught ..."')."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class StatusPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        token_file = os.path.join(cls.tmp.name, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN)
        cls.server = HttpServer(f"--auth_token_file={token_file}", cache_dir=cls.tmp.name)
        cls.streams = StreamLoop(cls.server.grpc, f"--token_file={token_file}")
        # A batch has been sent, so the contact sheet exists.
        wait_for(lambda: http_get(f"{cls.server.http}/contact_sheet.png", TOKEN)[0] == 200, "a first batch")

    @classmethod
    def tearDownClass(cls):
        cls.streams.stop()
        cls.server.stop()
        cls.tmp.cleanup()

    def user_dir(self):
        return tempfile.mkdtemp(dir=self.tmp.name)

    def test_rendered_page_has_the_chart_the_contact_sheet_and_no_errors(self):
        dom, log = chromium(f"{self.server.http}/#token={TOKEN}", self.user_dir(), "--dump-dom")
        self.assertEqual(console_messages(log), [])
        errors = re.search(r'<pre id="errors" data-count="(\d+)">(.*?)</pre>', dom, re.S)
        self.assertIsNotNone(errors, dom[:2000])
        self.assertEqual(errors.groups(), ("0", ""))
        self.assertRegex(dom, r'<div id="banner" class="banner"></div>', "no auth or network banner")

        chart = re.search(r'<svg id="throughput-chart"[^>]*data-points="(\d+)"', dom)
        self.assertIsNotNone(chart)
        self.assertGreaterEqual(int(chart.group(1)), 2)
        points = re.search(r'<polyline id="throughput-line"[^>]*points="([^"]*)"', dom).group(1).split()
        self.assertEqual(len(points), int(chart.group(1)))
        ys = [float(p.split(",")[1]) for p in points]
        self.assertTrue(all(10 <= y <= 160 for y in ys), ys)
        self.assertTrue(any(y < 160 for y in ys), f"a non-zero throughput point while streams run: {ys}")

        loaded = re.search(r'<img id="contact-sheet"[^>]*data-loaded="(\d+)x(\d+)"', dom)
        self.assertIsNotNone(loaded, "the contact sheet image never loaded")
        _, _, png = http_get(f"{self.server.http}/contact_sheet.png", TOKEN)
        self.assertEqual(tuple(map(int, loaded.groups())), png_size(png))

        self.assertIn("demo", re.search(r'<table id="datasets">.*?</table>', dom, re.S).group(0))
        stages = re.search(r'<table id="stages">.*?</table>', dom, re.S).group(0)
        for stage in ("read", "decode", "resize", "write", "waiting for client"):
            self.assertIn(f"<td>{stage}</td>", stages)

    def test_screenshot_is_saved_as_an_artefact(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.abspath(os.path.join(ARTIFACTS, "status_page.png"))
        if os.path.exists(path):
            os.remove(path)
        _, log = chromium(f"{self.server.http}/#token={TOKEN}", self.user_dir(), f"--screenshot={path}")
        self.assertEqual(console_messages(log), [])
        with open(path, "rb") as f:
            self.assertEqual(png_size(f.read()), WINDOW)
        print(f"screenshot: {path}", file=sys.stderr)

    def test_without_the_token_the_page_says_how_to_pass_it(self):
        dom, _ = chromium(f"{self.server.http}/", self.user_dir(), "--dump-dom")
        self.assertIn("this server needs its token: open this page as /#token=YOUR_TOKEN", dom)
        self.assertRegex(dom, r'data-points="0"')
        self.assertRegex(dom, r'<img id="contact-sheet"[^>]*data-loaded="0"')


if __name__ == "__main__":
    unittest.main(verbosity=2)
