#!/usr/bin/env bash
# `pip install ./client/python` works offline: into a venv that sees Debian's packages, with no
# build isolation and no index (a copy of the package is built, so the source tree stays clean).
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ -f "$src/imagefeed/v1/imagefeed_pb2.py" ]] || { echo "stubs missing: run scripts/build.sh"; exit 1; }
cp -r "$src" "$tmp/pkg"
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install -q --no-build-isolation --no-index "$tmp/pkg"
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import imagefeed, imagefeed.torch
from imagefeed.v1 import imagefeed_pb2
assert "site-packages" in imagefeed.__file__, imagefeed.__file__
assert hasattr(imagefeed, "Client") and hasattr(imagefeed.torch, "ImageFeedDataset")
print("installed:", imagefeed.__file__)
PY
