#!/usr/bin/env bash
# Single-node OpenStack Swift (proxy + object/container/account servers +
# memcached) on 127.0.0.1, for tests and development.
#
#   swift.sh start|stop|status|env|proxy-stop|proxy-start
#
# proxy-stop / proxy-start stop and restart only the proxy server (storage
# servers and memcached keep running), so tests can simulate the object store
# going down mid-operation and coming back.
#
# All config, rings, data, logs and PID files live under
# ${IMAGEHOST_SERVICES_DIR:-<repo>/var/services}/swift. Nothing is written to
# /etc/swift: the servers are started through a tiny launcher that points
# Swift at the swift.conf in the state directory.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${IMAGEHOST_SERVICES_DIR:-$REPO_ROOT/var/services}"
SWIFT_DIR="$STATE_DIR/swift"
ETC_DIR="$SWIFT_DIR/etc"
DEVICES_DIR="$SWIFT_DIR/devices"
RUN_DIR="$SWIFT_DIR/run"
LOG_DIR="$SWIFT_DIR/log"

SWIFT_PORT="${SWIFT_PORT:-18080}"
SWIFT_OBJECT_PORT="${SWIFT_OBJECT_PORT:-16200}"
SWIFT_CONTAINER_PORT="${SWIFT_CONTAINER_PORT:-16201}"
SWIFT_ACCOUNT_PORT="${SWIFT_ACCOUNT_PORT:-16202}"
SWIFT_MEMCACHED_PORT="${SWIFT_MEMCACHED_PORT:-11311}"
START_TIMEOUT="${SWIFT_START_TIMEOUT:-30}"

# Debian's Swift lives in the system interpreter, not in pyenv/venv ones.
SYS_PYTHON=/usr/bin/python3
PACKAGES=(swift swift-proxy swift-account swift-container swift-object python3-swift memcached)
# Started in this order, stopped in reverse.
COMPONENTS=(memcached account-server container-server object-server proxy-server)

SERVICE_NAME=swift
# shellcheck source=scripts/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- packages --------------------------------------------------------------

# --- processes -------------------------------------------------------------

pid_file() { echo "$RUN_DIR/$1.pid"; }

# Anchored regex for a component's command line: it names our state dir, so a
# recycled PID or another instance is never mistaken for ours.
cmdline_regex() {
    case "$1" in
        memcached) echo "^/usr/bin/memcached .* -P $(re_escape "$SWIFT_DIR/cache/memcached.pid")( |\$)" ;;
        *) echo "^$(re_escape "$SYS_PYTHON $ETC_DIR/launch.py $1 $ETC_DIR/$1.conf")\$" ;;
    esac
}

# Print the PID of a running component, or fail. The PID file is the
# reference; if it is gone (state dir deleted under running servers), the
# process is found by its exact command line instead.
running_pid() {
    pid_from "$(pid_file "$1")" "$(cmdline_regex "$1")"
}

spawn() {
    local name=$1; shift
    # setsid: detach from the caller's session so the server outlives it;
    # it execs, so $! is the server's own PID.
    setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$(pid_file "$name")"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

component_port() {
    case "$1" in
        memcached) echo "$SWIFT_MEMCACHED_PORT" ;;
        proxy-server) echo "$SWIFT_PORT" ;;
        object-server) echo "$SWIFT_OBJECT_PORT" ;;
        container-server) echo "$SWIFT_CONTAINER_PORT" ;;
        account-server) echo "$SWIFT_ACCOUNT_PORT" ;;
    esac
}

start_component() {
    local name=$1
    if running_pid "$name" >/dev/null; then
        return 0
    fi
    case "$name" in
        memcached)
            local user_opt=()
            [[ $EUID -eq 0 ]] && user_opt=(-u root)
            # -P: memcached's own PID file; its path in the command line
            # identifies our instance (see cmdline_regex).
            spawn memcached /usr/bin/memcached -l 127.0.0.1 -p "$SWIFT_MEMCACHED_PORT" -U 0 -m 64 \
                "${user_opt[@]}" -P "$SWIFT_DIR/cache/memcached.pid"
            ;;
        *)
            spawn "$name" "$SYS_PYTHON" "$ETC_DIR/launch.py" "$name" "$ETC_DIR/$name.conf"
            ;;
    esac
}

stop_component() {
    local name=$1 pid
    while pid="$(running_pid "$name")"; do
        stop_pid "$pid" "$name" TERM 10 KILL
        log "stopped $name (pid $pid)"
    done
    rm -f "$(pid_file "$name")"
}

# --- configuration ---------------------------------------------------------

write_configs() {
    mkdir -p "$ETC_DIR" "$DEVICES_DIR/d1" "$RUN_DIR" "$LOG_DIR" "$SWIFT_DIR/cache"
    local user
    user="$(id -un)"

    [[ -f "$ETC_DIR/swift.conf" ]] || cat >"$ETC_DIR/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = imagehost-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')

[storage-policy:0]
name = Policy-0
default = yes
EOF

    # Swift hard-codes /etc/swift/swift.conf for the hash suffix and storage
    # policies; point it at ours before the server loads. Logs go to stderr
    # (the log file) only: without /dev/log Swift's syslog handler falls back
    # to UDP, leaving sockets bound to 0.0.0.0.
    cat >"$ETC_DIR/launch.py" <<'EOF'
import logging
import sys

from swift.common import utils

utils.ThreadSafeSysLogHandler = lambda *args, **kwargs: logging.NullHandler()
utils.set_swift_dir(sys.argv[0].rsplit("/", 1)[0])
from swift.common import constraints, storage_policy  # noqa: E402

storage_policy.reload_storage_policies()
constraints.reload_constraints()
from swift.common.wsgi import run_wsgi  # noqa: E402

# argv: <app section, e.g. object-server> <conf path>
sys.exit(run_wsgi(sys.argv[2], sys.argv[1], verbose=True))
EOF

    local kind port
    for kind in object container account; do
        case $kind in
            object) port=$SWIFT_OBJECT_PORT ;;
            container) port=$SWIFT_CONTAINER_PORT ;;
            account) port=$SWIFT_ACCOUNT_PORT ;;
        esac
        cat >"$ETC_DIR/$kind-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = $user
swift_dir = $ETC_DIR
devices = $DEVICES_DIR
mount_check = false
disable_fallocate = true
recon_cache_path = $SWIFT_DIR/cache
log_name = $kind-server

[pipeline:main]
pipeline = healthcheck $kind-server

[filter:healthcheck]
use = egg:swift#healthcheck

[app:$kind-server]
use = egg:swift#$kind
EOF
    done

    cat >"$ETC_DIR/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $SWIFT_PORT
workers = 0
user = $user
swift_dir = $ETC_DIR
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$SWIFT_MEMCACHED_PORT

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:tempurl]
use = egg:swift#tempurl

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:symlink]
use = egg:swift#symlink
EOF
}

# Rings: part power 8, 1 replica, min_part_hours 1, one device each. Rebuilt
# only when the storage ports change.
build_rings() {
    local want="$SWIFT_OBJECT_PORT $SWIFT_CONTAINER_PORT $SWIFT_ACCOUNT_PORT"
    if [[ -f "$ETC_DIR/rings.stamp" && "$(<"$ETC_DIR/rings.stamp")" == "$want" ]] \
        && [[ -f "$ETC_DIR/object.ring.gz" ]]; then
        return 0
    fi
    "$SYS_PYTHON" - "$ETC_DIR" "$SWIFT_OBJECT_PORT" "$SWIFT_CONTAINER_PORT" "$SWIFT_ACCOUNT_PORT" <<'EOF'
import sys
from swift.common.ring import RingBuilder

etc, ports = sys.argv[1], dict(zip(("object", "container", "account"), map(int, sys.argv[2:5])))
for kind, port in ports.items():
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                     "device": "d1", "weight": 100.0, "meta": ""})
    builder.rebalance()
    builder.save(f"{etc}/{kind}.builder")
    builder.get_ring().save(f"{etc}/{kind}.ring.gz")
EOF
    echo "$want" >"$ETC_DIR/rings.stamp"
}

# Wait until /healthcheck answers and a container + object can be written
# through tempauth (which proves memcached and all three storage servers work).
wait_ready() {
    "$SYS_PYTHON" - "$SWIFT_PORT" "$START_TIMEOUT" "$RUN_DIR" <<'EOF'
import os, sys, time, urllib.request, urllib.error

port, timeout, run_dir = sys.argv[1], float(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + timeout
last = "no answer"

def req(method, url, headers=None, data=None):
    r = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    with urllib.request.urlopen(r, timeout=5) as resp:
        return resp.status, resp.headers

def alive():
    for f in os.listdir(run_dir):
        pid = int(open(os.path.join(run_dir, f)).read())
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "Z"
        if state == "Z":
            sys.exit(f"{f[:-4]} died during start-up")

while time.monotonic() < deadline:
    alive()
    try:
        req("GET", base + "/healthcheck")
        _, h = req("GET", base + "/auth/v1.0",
                   {"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        tok, url = {"X-Auth-Token": h["X-Auth-Token"]}, h["X-Storage-Url"]
        req("PUT", url + "/.startup-check", tok)
        req("PUT", url + "/.startup-check/probe", tok, b"ok")
        req("DELETE", url + "/.startup-check/probe", tok)
        req("DELETE", url + "/.startup-check", tok)
        sys.exit(0)
    except (OSError, urllib.error.URLError) as e:
        last = str(e)
    time.sleep(0.2)
sys.exit(f"not ready after {timeout:.0f}s: {last}")
EOF
}

# --- subcommands -----------------------------------------------------------

all_running() {
    local c
    for c in "${COMPONENTS[@]}"; do running_pid "$c" >/dev/null || return 1; done
}

cmd_start() {
    # State dir deleted under running servers: they are useless, restart.
    [[ -d "$DEVICES_DIR" ]] || cmd_stop
    if all_running; then
        log "already running (proxy on 127.0.0.1:$SWIFT_PORT)"
        return 0
    fi
    ensure_packages "${PACKAGES[@]}"
    write_configs
    build_rings
    local c port
    # Swift binds with SO_REUSEPORT and would silently share a busy port.
    for c in "${COMPONENTS[@]}"; do
        running_pid "$c" >/dev/null && continue
        port="$(component_port "$c")"
        if port_open "$port"; then
            die "port $port ($c) is already in use on 127.0.0.1; set another port (see README)"
        fi
    done
    for c in "${COMPONENTS[@]}"; do start_component "$c"; done
    if ! wait_ready; then
        for c in "${COMPONENTS[@]}"; do
            [[ -f "$LOG_DIR/$c.log" ]] || continue
            printf -- '--- %s (last lines) ---\n' "$LOG_DIR/$c.log" >&2
            tail -n 15 "$LOG_DIR/$c.log" >&2
        done
        die "Swift did not come up; run '$0 stop' to clean up"
    fi
    log "running: proxy on 127.0.0.1:$SWIFT_PORT (state in $SWIFT_DIR)"
}

cmd_stop() {
    local i
    for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
        stop_component "${COMPONENTS[i]}"
    done
}

# The proxy port the running setup was configured with: the config file is the
# reference, so proxy-stop/proxy-start work even when called without the
# SWIFT_PORT that `start` was given.
use_configured_proxy_port() {
    local conf="$ETC_DIR/proxy-server.conf" port
    [[ -f "$conf" ]] || return 0
    port="$(sed -n 's/^bind_port = \([0-9][0-9]*\)$/\1/p' "$conf" | head -n 1)"
    [[ -n "$port" ]] && SWIFT_PORT=$port
    return 0
}

# Stop only the proxy server, by PID, and wait until its port refuses
# connections. Idempotent.
cmd_proxy_stop() {
    use_configured_proxy_port
    running_pid proxy-server >/dev/null || log "proxy-server is not running"
    stop_component proxy-server
    local i
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! port_open "$SWIFT_PORT"; then
            log "proxy down: 127.0.0.1:$SWIFT_PORT refuses connections"
            return 0
        fi
        sleep 0.1
    done
    die "127.0.0.1:$SWIFT_PORT still accepts connections ${START_TIMEOUT}s after the proxy stopped (another process on that port?)"
}

# Start only the proxy server again (the rest must be running) and wait until
# /healthcheck answers and an authenticated write works. Idempotent.
cmd_proxy_start() {
    [[ -f "$ETC_DIR/proxy-server.conf" && -d "$DEVICES_DIR" ]] \
        || die "no Swift set up in $SWIFT_DIR; run '$0 start'"
    use_configured_proxy_port
    local c
    for c in "${COMPONENTS[@]}"; do
        [[ "$c" == proxy-server ]] && continue
        running_pid "$c" >/dev/null || die "$c is not running; run '$0 start' to start everything"
    done
    if ! running_pid proxy-server >/dev/null; then
        port_open "$SWIFT_PORT" \
            && die "port $SWIFT_PORT (proxy-server) is already in use on 127.0.0.1"
        start_component proxy-server
    fi
    if ! wait_ready; then
        printf -- '--- %s (last lines) ---\n' "$LOG_DIR/proxy-server.log" >&2
        tail -n 15 "$LOG_DIR/proxy-server.log" >&2
        die "proxy did not come up; run '$0 stop' to clean up"
    fi
    log "proxy running on 127.0.0.1:$SWIFT_PORT (pid $(running_pid proxy-server))"
}

cmd_status() {
    local c pid rc=0
    for c in "${COMPONENTS[@]}"; do
        if pid="$(running_pid "$c")"; then
            printf '%-17s running (pid %s)\n' "$c" "$pid"
        else
            printf '%-17s stopped\n' "$c"
            rc=3
        fi
    done
    return $rc
}

cmd_env() {
    cat <<EOF
export SWIFT_S3_ENDPOINT=http://127.0.0.1:$SWIFT_PORT
export SWIFT_S3_ACCESS_KEY_ID=test:tester
export SWIFT_S3_SECRET_KEY=testing
export OS_AUTH_URL=http://127.0.0.1:$SWIFT_PORT/auth/v1.0
export OS_USERNAME=test:tester
export OS_PASSWORD=testing
EOF
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    proxy-stop) cmd_proxy_stop ;;
    proxy-start) cmd_proxy_start ;;
    *)
        echo "usage: $0 start|stop|status|env|proxy-stop|proxy-start" >&2
        exit 2
        ;;
esac
