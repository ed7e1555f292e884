#!/usr/bin/env bash
# PostgreSQL 15 (Debian) on 127.0.0.1, for tests and development.
#
#   postgres.sh start|stop|status|env
#
# Data, socket, log and PID file live under
# ${IMAGEHOST_SERVICES_DIR:-<repo>/var/services}/postgres, or, as root (when the
# server runs as the postgres user, who may not be able to enter the clone's
# folder, e.g. under /root or a `mktemp -d`), under
# /var/tmp/imagehost-postgres-<hash of that path>. Trust auth, user "postgres",
# database "imagehost", fsync off: never use this for real data.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${IMAGEHOST_SERVICES_DIR:-$REPO_ROOT/var/services}"
if [[ $EUID -eq 0 ]]; then
    PG_DIR="/var/tmp/imagehost-postgres-$(printf '%s' "$STATE_DIR" | sha1sum | cut -c1-12)"
else
    PG_DIR="$STATE_DIR/postgres"
fi
DATA_DIR="$PG_DIR/data"
SOCKET_DIR="$PG_DIR/run"
LOG_FILE="$PG_DIR/log/postgres.log"
# Written by the postmaster itself; its first line is the postmaster PID.
PID_FILE="$DATA_DIR/postmaster.pid"

PG_PORT="${PG_PORT:-15432}"
PG_DATABASE=imagehost
PG_BIN=/usr/lib/postgresql/15/bin
PACKAGES=(postgresql)

SERVICE_NAME=postgres
# shellcheck source=scripts/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# initdb/postgres refuse to run as root: use the postgres system user then.
if [[ $EUID -eq 0 ]]; then
    as_owner() { runuser -u postgres -- "$@"; }
else
    as_owner() { "$@"; }
fi

# Print the postmaster PID if our server is running, or fail. The PID file is
# the reference; if it is gone (state dir deleted under a running server), the
# postmaster is found by its exact command line (our data dir) instead.
running_pid() {
    pid_from "$PID_FILE" "^$(re_escape "$PG_BIN/postgres -D $DATA_DIR")( |\$)"
}

psql_cmd() {
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}

cmd_start() {
    # Data dir deleted under a running server: it is useless, restart.
    [[ -s "$DATA_DIR/PG_VERSION" ]] || cmd_stop
    if running_pid >/dev/null; then
        log "already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    ensure_packages "${PACKAGES[@]}"
    [[ -x "$PG_BIN/initdb" ]] || die "$PG_BIN/initdb not found"

    mkdir -p -m 0755 "$PG_DIR" "$SOCKET_DIR" "$(dirname "$LOG_FILE")"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$PG_DIR" "$SOCKET_DIR" "$(dirname "$LOG_FILE")"
        # The postgres user must be able to reach the state dir.
        as_owner test -x "$PG_DIR" || die "user postgres cannot access $PG_DIR (check parent dir permissions)"
    fi

    if [[ ! -s "$DATA_DIR/PG_VERSION" ]]; then
        log "initdb in $DATA_DIR"
        as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/log/initdb.log" 2>&1 \
            || { tail -n 20 "$PG_DIR/log/initdb.log" >&2; die "initdb failed"; }
    fi
    # A crashed server leaves a stale postmaster.pid; postgres itself copes
    # with that, so nothing to clean here.

    # -D + -l: pg_ctl runs the server detached, -w waits until it accepts
    # connections.
    if ! as_owner "$PG_BIN/pg_ctl" start -w -t 30 -D "$DATA_DIR" -l "$LOG_FILE" \
        -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$SOCKET_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >/dev/null; then
        tail -n 20 "$LOG_FILE" >&2
        die "PostgreSQL did not start"
    fi

    if [[ "$(psql_cmd -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != 1 ]]; then
        psql_cmd -c "CREATE DATABASE $PG_DATABASE"
    fi
    log "running on 127.0.0.1:$PG_PORT (pid $(running_pid), state in $PG_DIR)"
}

cmd_stop() {
    local pid
    while pid="$(running_pid)"; do
        # SIGINT = "fast" shutdown (roll back, close sessions); SIGQUIT = immediate.
        stop_pid "$pid" postmaster INT 15 QUIT
        log "stopped (pid $pid)"
    done
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        printf '%-17s running (pid %s)\n' postgres "$pid"
    else
        printf '%-17s stopped\n' postgres
        return 3
    fi
}

cmd_env() {
    echo "export DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/$PG_DATABASE"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
