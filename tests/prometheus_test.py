#!/usr/bin/python3
"""A real Prometheus (Debian's `prometheus`) scrapes a real imagefeed-server's /metrics with the server's
bearer token; PromQL over Prometheus' HTTP API must return the samples the CLI streamed.
Exits 77 (ctest SKIP_RETURN_CODE) when prometheus is not installed."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_server_util import CLI, SERVER, HttpServer, free_port, http_get, wait_for  # noqa: E402

PROMETHEUS = shutil.which("prometheus")
if PROMETHEUS is None:
    print("SKIP: prometheus is not installed (apt-get install prometheus)", file=sys.stderr)
    sys.exit(77)

TOKEN = "scrape-me-7f3a"
SAMPLES = 300  # one epoch of the demo dataset: every sample decoded is sent
BATCH = 10


class PrometheusScrapeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        token_file = os.path.join(self.tmp.name, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        self.token_file = token_file
        self.server = HttpServer(f"--auth_token_file={token_file}", cache_dir=self.tmp.name)
        self.addCleanup(self.server.stop)
        target = self.server.http.removeprefix("http://")
        config = os.path.join(self.tmp.name, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: imagefeed
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: {token_file}
    static_configs:
      - targets: ["{target}"]
""")
        self.prom_url = f"http://127.0.0.1:{free_port()}"
        self.prom_log = open(os.path.join(self.tmp.name, "prometheus.log"), "w+")
        self.addCleanup(self.prom_log.close)
        self.prom = subprocess.Popen([PROMETHEUS, f"--config.file={config}",
                                      f"--storage.tsdb.path={os.path.join(self.tmp.name, 'tsdb')}",
                                      f"--web.listen-address={self.prom_url.removeprefix('http://')}"],
                                     stdout=self.prom_log, stderr=subprocess.STDOUT)
        self.addCleanup(self._stop_prometheus)

    def _stop_prometheus(self):
        if self.prom.poll() is None:
            self.prom.terminate()
            try:
                self.prom.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.prom.kill()
                self.prom.wait(timeout=30)

    def query(self, promql):
        """The vector result of an instant query, as {metric labels tuple: float}; {} if not reachable yet."""
        if self.prom.poll() is not None:
            self.prom_log.seek(0)
            raise AssertionError(f"prometheus exited: {self.prom_log.read()[-3000:]}")
        try:
            status, _, body = http_get(f"{self.prom_url}/api/v1/query?query={urllib.parse.quote(promql)}")
        except OSError:
            return {}
        if status != 200:
            return {}
        data = json.loads(body)["data"]["result"]
        return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data}

    def test_prometheus_scrapes_the_streamed_samples(self):
        # The token is required: an anonymous scrape is refused.
        status, _, _ = http_get(f"{self.server.http}/metrics")
        self.assertEqual(status, 401)
        # Prometheus is up and scraping (up == 1 needs the bearer token to work).
        wait_for(lambda: list(self.query('up{job="imagefeed"}').values()) == [1.0], "a successful scrape")

        r = subprocess.run([CLI, "epoch", f"--server={self.server.grpc}", f"--token_file={self.token_file}",
                            "--dataset=demo", f"--batch_size={BATCH}", "--size=32x32"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{SAMPLES} unique", r.stdout)

        wait_for(lambda: list(self.query("imagefeed_samples_total").values()) == [float(SAMPLES)],
                 f"imagefeed_samples_total == {SAMPLES} in Prometheus")
        self.assertEqual(list(self.query("imagefeed_batches_sent_total").values()), [float(SAMPLES // BATCH)])
        self.assertEqual(list(self.query("imagefeed_sent_bytes_total").values()), [float(SAMPLES * 3 * 32 * 32 * 4)])
        # The histogram is a real histogram to PromQL: one decode observation per sample, and a quantile.
        self.assertEqual(list(self.query('imagefeed_sample_stage_seconds_count{stage="decode"}').values()),
                         [float(SAMPLES)])
        p99 = list(self.query('histogram_quantile(0.99, imagefeed_sample_stage_seconds_bucket{stage="decode"})')
                   .values())
        self.assertEqual(len(p99), 1)
        self.assertGreater(p99[0], 0)
        self.assertEqual(list(self.query("imagefeed_active_streams").values()), [0.0])


class HttpListenFlagTest(unittest.TestCase):
    def test_bad_or_busy_http_listen_fails_with_the_flag_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([SERVER, "--listen=127.0.0.1:0", f"--cache_dir={tmp}", "--http_listen=nonsense"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("--http_listen: 'nonsense' is not HOST:PORT", r.stderr)
            first = HttpServer(cache_dir=tmp)
            try:
                busy = first.http.removeprefix("http://")
                r = subprocess.run([SERVER, "--listen=127.0.0.1:0", f"--cache_dir={tmp}", f"--http_listen={busy}"],
                                   capture_output=True, text=True, timeout=120)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(f"--http_listen: cannot listen on {busy}", r.stderr)
                self.assertEqual(r.stdout, "", "no ready line when the HTTP endpoint cannot start")
            finally:
                first.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
