#!/usr/bin/env bash
# `pip install ./client/python` works offline: into a venv that sees Debian's packages, with no
# build isolation and no index (a copy of the package is built, so the source tree stays clean).
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ -f "$src/imagefeed/v1/imagefeed_pb2.py" ]] || { echo "stubs missing: run scripts/build.sh"; exit 1; }
cp -r "$src" "$tmp/pkg"
rm -f "$tmp/pkg"/imagefeed/_native*.so  # the build's copy: pip must build its own
/usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install -q --no-build-isolation --no-index "$tmp/pkg"
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import imagefeed, imagefeed.torch
from imagefeed.v1 import imagefeed_pb2
assert "site-packages" in imagefeed.__file__, imagefeed.__file__
assert hasattr(imagefeed, "Client") and hasattr(imagefeed.torch, "ImageFeedDataset")
# setup.py builds the native receive path when gRPC C++ and python3-dev are installed (they are
# wherever scripts/build.sh ran): then it must be in the installed package, not in the source tree.
import shutil, subprocess
have_grpcpp = shutil.which("pkg-config") and subprocess.run(["pkg-config", "--exists", "grpc++"]).returncode == 0
import sysconfig, os
have_headers = os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
if have_grpcpp and have_headers:
    from imagefeed import _native
    assert "site-packages" in _native.__file__, _native.__file__
    assert not _native.forked()
    print("native receive path installed:", _native.__file__)
print("installed:", imagefeed.__file__)
PY
