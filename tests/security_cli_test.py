#!/usr/bin/python3
"""Token and TLS through the real binaries: refused and accepted, both ways."""
import os
import signal
import subprocess
import tempfile
import unittest

BIN = os.environ.get("IMAGEFEED_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "build", "bin"))
SERVER = os.path.join(BIN, "imagefeed-server")
CLI = os.path.join(BIN, "imagefeed")


class SecurityCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        for name in ("server", "other"):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                            "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.crt"], check=True,
                           capture_output=True)
        with open(f"{d}/token", "w") as f:
            f.write("correct-horse\n")
        with open(f"{d}/wrong", "w") as f:
            f.write("battery-staple\n")
        cls.proc = subprocess.Popen([SERVER, "--listen=127.0.0.1:0", f"--cache_dir={d}/cache", "--threads=1",
                                     f"--auth_token_file={d}/token", f"--tls_cert={d}/server.crt",
                                     f"--tls_key={d}/server.key"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        line = cls.proc.stdout.readline()
        assert line.startswith("imagefeed-server listening on "), line
        cls.addr = line.split()[-1]

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        assert cls.proc.wait(timeout=30) == 0
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        cls.tmp.cleanup()

    def info(self, *args):
        return subprocess.run([CLI, "info", f"--server={self.addr}", *args], capture_output=True, text=True,
                              timeout=60)

    def test_token_and_tls_accepted(self):
        d = self.tmp.name
        r = self.info(f"--token_file={d}/token", f"--tls_ca={d}/server.crt")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("demo: 300 samples", r.stdout)
        r = subprocess.run([CLI, "fetch", f"--server={self.addr}", "--dataset=demo", "--batches=1",
                            f"--token_file={d}/token", f"--tls_ca={d}/server.crt"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_or_wrong_token_refused(self):
        d = self.tmp.name
        r = self.info(f"--tls_ca={d}/server.crt")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNAUTHENTICATED", r.stderr)
        r = self.info(f"--token_file={d}/wrong", f"--tls_ca={d}/server.crt")
        self.assertIn("UNAUTHENTICATED: invalid token", r.stderr)

    def test_untrusted_or_plaintext_client_refused(self):
        d = self.tmp.name
        r = self.info(f"--token_file={d}/token", f"--tls_ca={d}/other.crt")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNAVAILABLE", r.stderr)
        r = self.info(f"--token_file={d}/token")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("UNAVAILABLE", r.stderr)

    def test_unreadable_token_file_names_the_flag(self):
        r = self.info("--token_file=/nonexistent/token")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--token_file", r.stderr)


class ExposureWarningTest(unittest.TestCase):
    def test_warns_when_listening_beyond_loopback_without_a_token(self):
        with tempfile.TemporaryDirectory() as d:
            proc = subprocess.Popen([SERVER, "--listen=0.0.0.0:0", f"--cache_dir={d}", "--threads=1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            proc.stdout.readline()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            proc.stdout.close()
            self.assertIn("warning: listening on 0.0.0.0:0 without --auth_token_file", err)
            with open(f"{d}/token", "w") as f:
                f.write("t")
            proc = subprocess.Popen([SERVER, "--listen=0.0.0.0:0", f"--cache_dir={d}", "--threads=1",
                                     f"--auth_token_file={d}/token"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            proc.stdout.readline()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            proc.stdout.close()
            self.assertNotIn("warning", err)


if __name__ == "__main__":
    unittest.main()
