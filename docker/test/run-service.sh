#!/usr/bin/env bash
# Entry point of the stand-in services image (docker/test/services.Dockerfile):
#
#   run-service.sh postgres|redis|swift      start it, then wait; docker stop stops it
#   run-service.sh --ready postgres|...       the health check: started and still running
#
# The server is started by scripts/services/<name>.sh (loopback, ports from its environment
# variables) and stopped by it on SIGTERM, by PID. The container ends if the server dies.
set -euo pipefail

if [[ "${1:-}" == --ready ]]; then
    [[ -e "/run/$2.ready" ]] || exit 1
    exec "/opt/services/$2.sh" status >/dev/null
fi
name=${1:?usage: run-service.sh postgres|redis|swift}
script="/opt/services/$name.sh"
[[ -x "$script" ]] || { echo "run-service.sh: no service $name" >&2; exit 2; }

trap '"$script" stop; exit 0' TERM INT
"$script" start
touch "/run/$name.ready"
while "$script" status >/dev/null; do
    sleep 2 &
    wait $! || true
done
echo "run-service.sh: $name is no longer running" >&2
exit 1
