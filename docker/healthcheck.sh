#!/bin/sh
# imagefeed-healthcheck: exits 0 when the imagefeed server of this container answers an RPC.
# The image's HEALTHCHECK. The address is $IMAGEFEED_HEALTH_ADDR if set, else the --listen flag of the
# running imagefeed-server (so `docker run IMAGE --listen=0.0.0.0:6000` stays healthy), with a wildcard
# host replaced by loopback, else 127.0.0.1:50051.
set -eu

listen_flag() {  # prints the --listen value of the first imagefeed-server process (its default if absent)
  for f in /proc/1/cmdline /proc/[0-9]*/cmdline; do  # PID 1 first: the ENTRYPOINT
    tr '\000' '\n' <"$f" 2>/dev/null | awk '
      NR == 1 { if ($0 !~ /(^|\/)imagefeed-server$/) exit; server = 1; listen = "127.0.0.1:50051" }
      want { listen = $0; want = 0 }
      /^--listen=/ { listen = substr($0, 10) }
      $0 == "--listen" { want = 1 }
      END { if (server) print listen; exit !server }' && return 0
  done
  return 1
}

addr=${IMAGEFEED_HEALTH_ADDR:-}
if [ -z "$addr" ]; then
  listen=$(listen_flag) || listen=127.0.0.1:50051
  case $listen in
    unix:*) addr=$listen ;;
    *)
      host=${listen%:*} port=${listen##*:}
      case $host in
        '' | 0.0.0.0 | '*') host=127.0.0.1 ;;
        '[::]' | '::') host='[::1]' ;;
      esac
      addr=$host:$port ;;
  esac
fi
exec imagefeed health --server="$addr"
