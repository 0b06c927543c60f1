#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through ctest:
#   1. Release build: every test (unit, conformance, integration, python; the Python client's
#      native module also under gcc's TSan, python_native_tsan_test).
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build (gcc): the unit tests.
#   3. libFuzzer build (clang): each fuzzer for FUZZ_SECONDS (default 30; longer runs in the README).
#   4. clang + ThreadSanitizer build: every server and client target compiles with
#      -Wthread-safety -Werror, and the concurrency-labelled tests run under TSan.
# Env: IMAGEFEED_QUICK=1 runs only phase 1. Extra arguments go to phase 1's ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
# Test tools on top of the build dependencies: clang + libFuzzer runtime, the Python test
# stack (PyTorch adapter tests, manifest checks; sklearn/skimage/matplotlib ship the photos of
# ../shared/datasets/make_photos.py for the speed bench smoke test), openssl for TLS certificates made at test time.
export EXTRA_PACKAGES="clang libclang-rt-14-dev python3-torch python3-torchvision python3-pil python3-pytest python3-yaml python3-sklearn python3-skimage python3-matplotlib python3-venv python3-pip python3-setuptools openssl prometheus chromium"
./scripts/build.sh
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
export FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

echo "== phase 1: release build, all tests"
(cd build && ctest --output-on-failure -j2 "$@")
[[ "${IMAGEFEED_QUICK:-0}" == 1 ]] && exit 0

echo "== phase 2: ASan + UBSan build, unit tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DIMAGEFEED_SANITIZE=ON >/dev/null
cmake --build build-asan -j"${JOBS:-2}" --target unit_tests
(cd build-asan && ctest --output-on-failure -j2 -L unit)

echo "== phase 3: libFuzzer targets, ${FUZZ_SECONDS} s each"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMAGEFEED_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}" --target fuzzers
(cd build-fuzz && ctest --output-on-failure -L fuzz)

echo "== phase 4: clang -Wthread-safety -Werror build of server/ and client/, ThreadSanitizer on the concurrency tests"
CC=clang CXX=clang++ cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMAGEFEED_TSAN=ON >/dev/null
cmake --build build-tsan -j"${JOBS:-2}" --target imagefeed-server imagefeed server_e2e_test concurrency_tests
(cd build-tsan && TSAN_OPTIONS="suppressions=$PWD/../tests/tsan.supp halt_on_error=1" \
  ctest --output-on-failure -L concurrency)
