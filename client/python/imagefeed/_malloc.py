"""Keeps large message buffers in glibc's heap instead of mmap/munmap per message.

grpcio builds every received message in a fresh Python object; a 38.5 MB batch is above
glibc's largest automatic mmap threshold (32 MB), so each one is mmap'ed, page-faulted in
and unmapped again. Raising the mmap and trim thresholds lets freed batch buffers be
reused: in bench_client.py this cut the client's CPU per GB roughly in half to a third
(e.g. 1.4 -> 0.5 CPU-s/GB) at the price of a larger resident heap (freed buffers stay
mapped, a few hundred MB). The server does the same (server/main.cc).
"""

import ctypes
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 512 << 20
TRIM_THRESHOLD = 1 << 30

_done = False


def tune_malloc():
    """Applies the thresholds once per process (glibc only; a no-op elsewhere or when the
    environment sets IMAGEFEED_TUNE_MALLOC=0). Returns True if they are in effect."""
    global _done
    if _done:
        return True
    if os.environ.get("IMAGEFEED_TUNE_MALLOC", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
