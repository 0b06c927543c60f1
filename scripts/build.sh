#!/usr/bin/env bash
# Installs missing build dependencies (Debian 12 packages; idempotent) and
# builds imagefeed (Release) into build/: build/bin/imagefeed-server and build/bin/imagefeed.
# Env: BUILD_DIR (default build), BUILD_TYPE (default Release), JOBS (default 2),
#      CMAKE_ARGS (extra configure arguments), SKIP_APT=1 to skip the package check,
#      EXTRA_PACKAGES (more Debian packages to ensure, e.g. the test tools from scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# libjpeg62-turbo-dev: the libjpeg-turbo CMake config of libturbojpeg0-dev also names libjpeg.so/.a.
PACKAGES=(
  build-essential cmake pkg-config ccache git
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libdeflate-dev libwebp-dev libssl-dev libgtest-dev libgmock-dev
  libcpp-httplib-dev libhwy-dev libbenchmark-dev
  python3-grpcio python3-protobuf python3-numpy python3-dev
  ${EXTRA_PACKAGES:-}
)

if [[ "${SKIP_APT:-0}" != 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "build.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# ccache hits across checkouts (CI builds a fresh clone in a new folder each
# run): paths below the checkout are hashed relative to it, and debug builds
# do not hash the working directory.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"${JOBS:-2}"
