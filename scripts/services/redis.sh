#!/usr/bin/env bash
# Redis (Debian redis-server) on 127.0.0.1, the Celery broker for distributed
# jobs in tests and development.
#
#   redis.sh start|stop|status|env
#
# Config, log and PID file live under
# ${IMAGEHOST_SERVICES_DIR:-<repo>/var/services}/redis. No persistence (no RDB
# snapshots, no AOF), no password: never use this for real data.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${IMAGEHOST_SERVICES_DIR:-$REPO_ROOT/var/services}"
REDIS_DIR="$STATE_DIR/redis"
CONF_FILE="$REDIS_DIR/redis.conf"
LOG_FILE="$REDIS_DIR/log/redis.log"
# Written by us ($! of the server, which execs), not by redis.
PID_FILE="$REDIS_DIR/run/redis.pid"

PORT_GIVEN="${REDIS_PORT:-}"
REDIS_PORT="${REDIS_PORT:-16379}"
START_TIMEOUT="${REDIS_START_TIMEOUT:-30}"
REDIS_BIN=/usr/bin/redis-server
PACKAGES=(redis-server)

SERVICE_NAME=redis
# shellcheck source=scripts/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Redis rewrites its process title; proc-title-template (see write_config) puts
# our config file's path in it, so a recycled PID or another instance on the
# same port is never mistaken for ours.
title_regex() {
    echo "^$(re_escape "$REDIS_BIN") .* $(re_escape "$CONF_FILE")( |\$)"
}

# Print the PID of our running server, or fail. The PID file is the reference;
# if it is gone (state dir deleted under a running server), the server is
# found by its process title instead.
running_pid() {
    pid_from "$PID_FILE" "$(title_regex)"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The port the running server was configured with (its config file), so `env`
# agrees with a `start` that was given another REDIS_PORT.
configured_port() {
    local port=""
    [[ -f "$CONF_FILE" ]] && port="$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$CONF_FILE" | head -n 1)"
    echo "${port:-$REDIS_PORT}"
}

# PING over plain TCP (in a subshell, so a refused connection only fails the
# test): true once the server answers +PONG.
answers_ping() {
    local reply
    reply="$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        printf '%s' "$line"
    )" || return 1
    [[ "$reply" == +PONG* ]]
}

write_config() {
    mkdir -p "$REDIS_DIR/data" "$REDIS_DIR/run" "$(dirname "$LOG_FILE")"
    cat >"$CONF_FILE" <<EOF
# Written by scripts/services/redis.sh start (rewritten at every start).
bind 127.0.0.1
protected-mode yes
port $REDIS_PORT
daemonize no
supervised no
# No persistence: a broker for tests only.
save ""
appendonly no
dir $REDIS_DIR/data
logfile ""
loglevel notice
databases 16
set-proc-title yes
proc-title-template "{title} {listen-addr} {config-file}"
EOF
}

cmd_start() {
    # State dir deleted under a running server: restart it with a fresh config.
    [[ -f "$CONF_FILE" ]] || cmd_stop
    if running_pid >/dev/null; then
        log "already running on 127.0.0.1:$(configured_port)"
        return 0
    fi
    ensure_packages "${PACKAGES[@]}"
    [[ -x "$REDIS_BIN" ]] || die "$REDIS_BIN not found"
    if port_open "$REDIS_PORT"; then
        die "port $REDIS_PORT is already in use on 127.0.0.1; set another REDIS_PORT"
    fi
    write_config
    # setsid: detach from the caller's session so the server outlives it; it
    # execs, so $! is the server's own PID. Logs go to stdout (logfile "").
    setsid "$REDIS_BIN" "$CONF_FILE" >>"$LOG_FILE" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    local i pid
    pid="$(<"$PID_FILE")"
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! is_alive "$pid"; then
            tail -n 20 "$LOG_FILE" >&2
            die "redis-server exited at start"
        fi
        if answers_ping "$REDIS_PORT"; then
            log "running on 127.0.0.1:$REDIS_PORT (pid $pid, state in $REDIS_DIR)"
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$LOG_FILE" >&2
    die "redis-server did not answer PING within ${START_TIMEOUT}s; run '$0 stop' to clean up"
}

cmd_stop() {
    local pid
    while pid="$(running_pid)"; do
        # SIGTERM: redis exits at once (nothing to save without persistence).
        stop_pid "$pid" redis-server TERM 10 KILL
        log "stopped (pid $pid)"
    done
    rm -f "$PID_FILE"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        printf '%-17s running (pid %s)\n' redis "$pid"
    else
        printf '%-17s stopped\n' redis
        return 3
    fi
}

cmd_env() {
    local port=$REDIS_PORT
    if [[ -z "$PORT_GIVEN" ]] && running_pid >/dev/null; then
        port="$(configured_port)"
    fi
    echo "export BROKER_URL=redis://127.0.0.1:$port/0"
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
