#!/usr/bin/env bash
# docker_image_test.sh CHECKOUT - really builds CHECKOUT/docker/Dockerfile and runs the image, through
# ../shared/tools/docker_check.sh (rootful podman; minutes of CPU). Checks, with the image's default
# entrypoint and the demo dataset, on a free port of host loopback:
#   - the server becomes healthy per the image's own health program (imagefeed-healthcheck, which
#     finds the port in the server's --listen flag) and serves `demo`, asked with the CLI inside;
#   - the container runs as a non-root user; the HEALTHCHECK instruction survives into the image and
#     passes (podman healthcheck run);
#   - SIGTERM (podman stop) ends it with exit code 0;
#   - the example trainer stage (--target trainer) builds, and its Python client streams the demo
#     dataset from that server through the native receive path.
# Exits 77 (ctest SKIP_RETURN_CODE) when docker_check.sh is absent, not root, or podman is unusable.
# Env: DOCKER_CHECK (path of docker_check.sh), JOBS (compile jobs in the image build, default 2).
set -euo pipefail

probe() {  # STATE: the health command, run by docker_check.sh on the host until it succeeds
  local podman
  read -ra podman <<<"$DC_PODMAN"
  "${podman[@]}" exec "$DC_CONTAINER" imagefeed-healthcheck
  printf 'DC_PODMAN=%q\nDC_CONTAINER=%q\nDC_IMAGE=%q\nCONTAINERS_CONF=%q\n' \
    "$DC_PODMAN" "$DC_CONTAINER" "$DC_IMAGE" "${CONTAINERS_CONF:-}" >"$1"
}
if [ "${1:-}" = --probe ]; then probe "$2"; exit; fi

CHECKOUT=$(cd "${1:?usage: docker_image_test.sh CHECKOUT}" && pwd)
DC=${DOCKER_CHECK:-$CHECKOUT/../shared/tools/docker_check.sh}
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$DC" ] || skip "$DC not found (docker_check.sh sits in ../shared/tools beside the checkout)"
[ "$(id -u)" = 0 ] || skip "docker_check.sh needs root (rootful podman)"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STATE=$(mktemp)
trap 'rm -f "$STATE"' EXIT
# Docker image format keeps the HEALTHCHECK instruction (podman's default, OCI, drops it).
export BUILDAH_FORMAT=docker

TAG=localhost/imagefeed:docker-test
start=$SECONDS
rc=0
"$DC" --keep --timeout 120 --port "$PORT" --build-arg "JOBS=${JOBS:-2}" --tag "$TAG" \
  "$CHECKOUT" "$(printf '%q ' "$0" --probe "$STATE")" -- "--listen=127.0.0.1:$PORT" || rc=$?
case $rc in
  0) ;;
  3) skip "docker_check.sh could not set up podman on this host (exit 3; see its messages above)" ;;
  *) if [ ! -s "$STATE" ]; then  # never healthy: remove the container --keep left behind
       podman ps -aq --filter "ancestor=$TAG" --filter label=docker-check.keep=1 | xargs -r podman rm -f -t 1 >/dev/null 2>&1
       echo "FAIL: docker_check.sh exit $rc"; exit 1
     fi ;;
esac
# shellcheck disable=SC1090
. "$STATE"
export CONTAINERS_CONF
read -ra P <<<"$DC_PODMAN"
trap '"${P[@]}" rm -f -t 1 "$DC_CONTAINER" >/dev/null 2>&1 || true; rm -f "$STATE"' EXIT
[ "$rc" = 0 ] || { echo "FAIL: docker_check.sh exit $rc"; exit 1; }
echo "image built and healthy after $((SECONDS - start)) s"

fail=0
check() {  # description, command...
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "ok: $what"; else echo "FAIL: $what: $out"; fail=1; fi
}
uid=$("${P[@]}" exec "$DC_CONTAINER" id -u)
check "runs as non-root (uid $uid)" test "$uid" != 0
check "CLI inside serves demo" sh -c "$(printf '%q ' "${P[@]}") exec $DC_CONTAINER \
  imagefeed info --server=127.0.0.1:$PORT --json | grep -q '\"name\":\"demo\"'"
check "HEALTHCHECK instruction in the image" sh -c "$(printf '%q ' "${P[@]}") image inspect \
  --format '{{json .Config.Healthcheck}}' $DC_IMAGE | grep -q imagefeed-healthcheck"
check "imagefeed-server is the entrypoint" sh -c "$(printf '%q ' "${P[@]}") image inspect \
  --format '{{json .Config.Entrypoint}}' $DC_IMAGE | grep -qx '\[\"imagefeed-server\"\]'"
check "HEALTHCHECK passes" "${P[@]}" healthcheck run "$DC_CONTAINER"
# The example trainer stage (--target trainer, same build cache): its Python client streams demo
# from the server above through the native receive path (imagefeed._native), not grpcio.
TRAINER=localhost/imagefeed:docker-test-trainer
TRAINER_LOG=$(mktemp)
trap '"${P[@]}" rm -f -t 1 "$DC_CONTAINER" >/dev/null 2>&1 || true; rm -f "$STATE" "$TRAINER_LOG"' EXIT
if "${P[@]}" build --pull=never --network host -f "$CHECKOUT/docker/Dockerfile" --target trainer \
     --build-arg "JOBS=${JOBS:-2}" -t "$TRAINER" "$CHECKOUT" >"$TRAINER_LOG" 2>&1; then
  check "trainer image streams demo through the native receive path" "${P[@]}" run --rm --network host \
    "$TRAINER" python3 -c '
import sys, imagefeed
client = imagefeed.Client(sys.argv[1], transport="grpc")
assert client._conn(sys.argv[1]).native is not None, "imagefeed._native not used"
n = sum(len(b.labels) for b in client.batches("demo", batch_size=8, size=32))
assert n > 0, "no samples"
print(n, "samples")' "127.0.0.1:$PORT"
else
  echo "FAIL: trainer image build: $(tail -n 20 "$TRAINER_LOG")"
  fail=1
fi
# (podman without systemd logs an error about healthcheck timers on stop: noise)
"${P[@]}" stop -t 10 "$DC_CONTAINER" >/dev/null 2>&1
code=$("${P[@]}" container inspect --format '{{.State.ExitCode}}' "$DC_CONTAINER")
check "SIGTERM exits 0 (exit code $code)" test "$code" = 0
size=$("${P[@]}" image inspect --format '{{.Size}}' "$DC_IMAGE")
echo "image $DC_IMAGE: $((size / 1000000)) MB; total $((SECONDS - start)) s"
exit $fail
