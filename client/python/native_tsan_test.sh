#!/usr/bin/env bash
# native_tsan_test.sh MODULE SERVER_BIN - runs tests/test_native.py (reads, cancels from another
# thread, close(), fork) with imagefeed._native built under ThreadSanitizer (MODULE, gcc's
# -fsanitize=thread) and gcc's TSan runtime preloaded into /usr/bin/python3, so every access the
# module makes is checked while the other threads run. The interpreter, grpcio and Debian's gRPC
# and Abseil are not instrumented: their own locks and atomics are invisible to TSan, so reports
# that start inside them are suppressed (../../tests/tsan.supp plus tests/tsan_python.supp);
# nothing of the module is. A report fails the test (halt_on_error, exit 66). The server runs
# without the runtime (conftest.py drops LD_PRELOAD for it).
set -euo pipefail
module=$(realpath "${1:?usage: native_tsan_test.sh MODULE SERVER_BIN}")
server=${2:?usage: native_tsan_test.sh MODULE SERVER_BIN}
src=$(cd "$(dirname "$0")" && pwd)
runtime=$(g++ -print-file-name=libtsan.so)
[[ -e "$runtime" ]] || { echo "gcc's ThreadSanitizer runtime (libtsan) not found"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The package with the instrumented module in place of the build's own.
mkdir "$tmp/imagefeed"
for f in "$src"/imagefeed/*; do
  case $(basename "$f") in _native*.so) ;; *) ln -s "$f" "$tmp/imagefeed/" ;; esac
done
cp "$module" "$tmp/imagefeed/"
cat "$src/../../tests/tsan.supp" "$src/tests/tsan_python.supp" >"$tmp/tsan.supp"
cd "$tmp"
# -s: a report is printed where pytest would otherwise capture (and, on exit 66, lose) it.
LD_PRELOAD=$runtime TSAN_OPTIONS="halt_on_error=1 suppressions=$tmp/tsan.supp" PYTHONPATH="$tmp" \
  IMAGEFEED_SERVER_BIN="$server" IMAGEFEED_REQUIRE_NATIVE=1 \
  /usr/bin/python3 -m pytest -q -s -p no:cacheprovider -o faulthandler_timeout=240 "$src/tests/test_native.py"
