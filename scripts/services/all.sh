#!/usr/bin/env bash
# Start/stop every development service (PostgreSQL + Swift + Redis) at once.
#
#   all.sh start    # start all of them, then print `export NAME=value` lines
#   all.sh stop
#   all.sh status
#   all.sh env      # print the `export NAME=value` lines only
#
# Typical use:  eval "$(scripts/services/all.sh start)"
# (progress goes to stderr, only the export lines to stdout).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVICES=(postgres swift redis)

case "${1:-}" in
    start)
        for s in "${SERVICES[@]}"; do "$HERE/$s.sh" start; done
        for s in "${SERVICES[@]}"; do "$HERE/$s.sh" env; done
        ;;
    stop)
        for s in "${SERVICES[@]}"; do "$HERE/$s.sh" stop; done
        ;;
    status)
        rc=0
        for s in "${SERVICES[@]}"; do "$HERE/$s.sh" status || rc=$?; done
        exit "$rc"
        ;;
    env)
        for s in "${SERVICES[@]}"; do "$HERE/$s.sh" env; done
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
