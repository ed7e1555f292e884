#!/usr/bin/env bash
# The Docker image and the compose stack, built and run for real (`make docker-test`; `make
# test` runs it after pytest unless IMAGEHOST_SKIP_DOCKER=1):
#
#   scripts/docker-test.sh [image|stack|all]      (default: all)
#
# 1. engine: the Docker engine that answers, or else Debian's docker.io, installed (as root)
#    and started here (dockerd --iptables=false --bridge=none) and stopped again at exit, by
#    PID. Every container uses the host's network or none, so no bridge is needed.
# 2. base: a stand-in for python:3.12-slim-bookworm (no registry is reachable here), made with
#    debootstrap --variant=minbase from the machine's own apt source (python3, python3-venv,
#    ca-certificates and the machine's CA bundle), imported as imagehost-base:test. It is
#    kept: later runs reuse it (IMAGEHOST_REBUILD_BASE=1 makes it again).
# 3. image: builds the Dockerfile on that base (imagehost:test), runs it with only
#    API_SECRET_KEY set and replays the c2corg lifecycle inside it (docker/test/replay.py),
#    runs `migrate --help` and `resize --help`, checks that the server is not root, the image
#    size (under IMAGEHOST_MAX_IMAGE_MB, 350) and the time from start to the first /ping
#    (under IMAGEHOST_MAX_START_SECONDS, 5).
# 4. stack: `docker-compose config` validates docker-compose.yml alone, with its override
#    (the published ports) and with docker-compose.test.yml. That file's stand-ins then run
#    (PostgreSQL, Redis and Swift's S3 API from Debian's packages, imagehost:test), all on the
#    host's network on loopback ports of their own (IMAGEHOST_TEST_*_PORT, see the file): an
#    image is uploaded and published through `images`, and `docker-compose exec images
#    resize` runs the job on Celery through the `worker`.
#
# Containers, compose projects and the engine this script started are removed or stopped at
# exit; the images (base, imagehost:test, stand-ins) are kept as a cache. Progress goes to
# stderr; one line per measurement is printed on stdout.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
STATE_DIR="${IMAGEHOST_SERVICES_DIR:-$REPO_ROOT/var/services}"
DOCKER_STATE="$STATE_DIR/docker"
DOCKERD_LOG="$DOCKER_STATE/dockerd.log"
DOCKERD_PID_FILE="$DOCKER_STATE/dockerd.pid"
DOCKERD=/usr/sbin/dockerd
DOCKER="${DOCKER:-docker}"
COMPOSE="${COMPOSE:-docker-compose}"
BASE_IMAGE="${IMAGEHOST_BASE_IMAGE:-imagehost-base:test}"
IMAGE=imagehost:test
MAX_IMAGE_MB="${IMAGEHOST_MAX_IMAGE_MB:-350}"
MAX_START_SECONDS="${IMAGEHOST_MAX_START_SECONDS:-5}"
SECRET="docker-test-secret"
RUN_ID="imagehost-test-$$"
COMPOSE_PROJECT="imagehost-test"
COMPOSE_FILES=(-f docker-compose.yml -f docker-compose.test.yml)

SERVICE_NAME=docker-test
# shellcheck source=scripts/services/lib.sh
source "$REPO_ROOT/scripts/services/lib.sh"

# What this run started, for cleanup().
STARTED_DOCKERD=""
CONTAINERS=()
COMPOSE_STARTED=""
WORK_DIR=""

now_us() { echo "${EPOCHREALTIME//[.,]/}"; }
seconds_since() { # <start_us> -> seconds with two decimals
    local d=$(($(now_us) - $1))
    printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}
measured() { printf 'docker-test: %s\n' "$*"; }

# --- engine ----------------------------------------------------------------------------------

engine_answers() { timeout 10 "$DOCKER" info >/dev/null 2>&1; }

start_engine() {
    if engine_answers; then
        log "using the Docker engine that answers ($("$DOCKER" version -f '{{.Server.Version}}'))"
        return 0
    fi
    ensure_packages docker.io
    [[ $EUID -eq 0 ]] || die "no Docker engine answers, and starting one needs root"
    mkdir -p "$DOCKER_STATE"
    # setsid: its own session, so a Ctrl-C of the caller reaches it only through cleanup().
    setsid "$DOCKERD" --iptables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null &
    STARTED_DOCKERD=$!
    echo "$STARTED_DOCKERD" >"$DOCKERD_PID_FILE"
    local i
    for ((i = 0; i < 600; i++)); do
        engine_answers && break
        if ! is_alive "$STARTED_DOCKERD"; then
            tail -n 20 "$DOCKERD_LOG" >&2
            STARTED_DOCKERD=""
            die "dockerd exited during start-up (log: $DOCKERD_LOG)"
        fi
        sleep 0.1
    done
    engine_answers || die "dockerd (pid $STARTED_DOCKERD) does not answer after 60 s"
    log "started dockerd (pid $STARTED_DOCKERD, log $DOCKERD_LOG)"
}

# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM
    if [[ -n "$COMPOSE_STARTED" ]]; then
        if ((rc != 0)); then
            log "logs of the stack:"
            compose logs --no-color --tail 40 >&2 2>&1 || true
        fi
        compose down --volumes --remove-orphans >/dev/null 2>&1 || log "WARNING: compose down failed"
    fi
    local c
    for c in "${CONTAINERS[@]}"; do
        if ((rc != 0)); then
            log "logs of $c:"
            "$DOCKER" logs --tail 40 "$c" >&2 2>&1 || true
        fi
        "$DOCKER" rm -f --volumes "$c" >/dev/null 2>&1 || true
    done
    [[ -n "$WORK_DIR" ]] && rm -rf "$WORK_DIR"
    if [[ -n "$STARTED_DOCKERD" ]] && is_alive "$STARTED_DOCKERD"; then
        stop_pid "$STARTED_DOCKERD" dockerd TERM 30 KILL
        rm -f "$DOCKERD_PID_FILE"
        log "stopped dockerd (pid $STARTED_DOCKERD)"
    fi
    exit "$rc"
}

# --- base image ------------------------------------------------------------------------------

# "<mirror> <suite> <keyring>" of the machine's Debian source for its own release: the first
# `deb` entry carrying that suite in /etc/apt/sources.list.d/ (deb822 .sources or one-line
# .list files), then /etc/apt/sources.list. Nothing is hard-coded.
apt_source() {
    /usr/bin/python3 - <<'EOF'
import glob, re, sys

release = dict(line.rstrip("\n").split("=", 1) for line in open("/etc/os-release") if "=" in line)
suite = release.get("VERSION_CODENAME", "").strip('"')
found = []
for path in sorted(glob.glob("/etc/apt/sources.list.d/*")) + ["/etc/apt/sources.list"]:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
            if ("deb" in fields.get("types", "").split()
                    and fields.get("enabled", "yes").lower() != "no"):
                for uri in fields.get("uris", "").split():
                    found.append((uri, fields.get("suites", "").split(),
                                  fields.get("signed-by", "")))
    elif path.endswith(".list"):
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(\[(?P<opts>[^]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)", line)
            if m:
                keyring = re.search(r"signed-by=(\S+)", m.group("opts") or "")
                found.append((m.group("uri"), [m.group("suite")],
                              keyring.group(1) if keyring else ""))
for uri, suites, keyring in found:
    if suite in suites:
        print(uri, suite, keyring if keyring.startswith("/") else "")
        sys.exit(0)
sys.exit(f"no deb source for {suite or 'this release'} in /etc/apt")
EOF
}

build_base() {
    if [[ -z "${IMAGEHOST_REBUILD_BASE:-}" ]] && "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "base image $BASE_IMAGE: cached"
        return 0
    fi
    local source mirror suite keyring start
    source="$(apt_source)" || die "cannot read the machine's apt source"
    read -r mirror suite keyring <<<"$source"
    ensure_packages debootstrap
    WORK_DIR="$(mktemp -d /var/tmp/imagehost-base.XXXXXX)"
    start="$(now_us)"
    log "debootstrap $suite from $mirror into $WORK_DIR"
    if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        ${keyring:+--keyring="$keyring"} "$suite" "$WORK_DIR/root" "$mirror" \
        >"$DOCKER_STATE/debootstrap.log" 2>&1; then
        tail -n 20 "$DOCKER_STATE/debootstrap.log" >&2
        die "debootstrap failed (log: $DOCKER_STATE/debootstrap.log)"
    fi
    # pip must trust what this machine trusts (an egress proxy's CA, for one).
    cp /etc/ssl/certs/ca-certificates.crt "$WORK_DIR/root/etc/ssl/certs/ca-certificates.crt"
    # What Debian's slim images leave out too: apt lists and caches, documentation, locales.
    (cd "$WORK_DIR/root" && rm -rf var/lib/apt/lists/* var/cache/apt/* usr/share/doc/* \
        usr/share/man/* usr/share/info/* usr/share/locale/* usr/share/lintian)
    tar -C "$WORK_DIR/root" --numeric-owner -c . | "$DOCKER" import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        - "$BASE_IMAGE" >/dev/null
    rm -rf "$WORK_DIR"
    WORK_DIR=""
    measured "base image $BASE_IMAGE made in $(seconds_since "$start") s ($(image_mb "$BASE_IMAGE") MB)"
}

image_mb() { echo $(($("$DOCKER" image inspect -f '{{.Size}}' "$1") / 1000000)); }

# --- the image -------------------------------------------------------------------------------

build_image() {
    local start
    start="$(now_us)"
    "$DOCKER" build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" . \
        >"$DOCKER_STATE/build.log" 2>&1 || { tail -n 30 "$DOCKER_STATE/build.log" >&2; die "docker build failed (log: $DOCKER_STATE/build.log)"; }
    measured "image $IMAGE built in $(seconds_since "$start") s"
}

# docker/test/replay.py with the container's own Python, against its own loopback.
replay() {
    local name=$1
    shift
    "$DOCKER" exec -i "$name" python3 - http://127.0.0.1:8080 "$SECRET" "$@" \
        <"$REPO_ROOT/docker/test/replay.py" >&2
}

# In the container: c2corg's lifecycle, its commands, its user. The container has no network
# but its own loopback, so nothing on the host's ports can collide with it.
test_image() {
    local name="$RUN_ID-image" start startup size uid
    size="$(image_mb "$IMAGE")"
    measured "image size: $size MB (limit $MAX_IMAGE_MB MB)"
    ((size < MAX_IMAGE_MB)) || die "image $IMAGE is $size MB, over $MAX_IMAGE_MB MB"

    CONTAINERS+=("$name")
    start="$(now_us)"
    # --health-interval: the image's own HEALTHCHECK command, checked every second here.
    "$DOCKER" run -d --name "$name" --network none --health-interval 1s \
        -e "API_SECRET_KEY=$SECRET" "$IMAGE" >/dev/null
    replay "$name" ping --wait 60 || die "the container never answered /ping"
    startup="$(seconds_since "$start")"
    measured "start to first /ping: $startup s (limit $MAX_START_SECONDS s)"
    replay "$name" lifecycle || die "the c2corg lifecycle failed in the container"
    awk -v s="$startup" -v m="$MAX_START_SECONDS" 'BEGIN { exit !(s < m) }' \
        || die "first /ping after $startup s, over $MAX_START_SECONDS s"

    uid="$("$DOCKER" exec "$name" stat -c %u /proc/1)" # the server's own user
    [[ "$uid" =~ ^[0-9]+$ && "$uid" != 0 ]] || die "the server runs as uid '$uid', expected non-root"
    log "server process uid: $uid"
    local cmd help
    for cmd in migrate resize resize_images; do
        help="$("$DOCKER" exec "$name" "$cmd" --help)" || die "'$cmd --help' failed in the container"
        [[ "$help" == *"Usage: imagehost ${cmd%_images} "* ]] \
            || die "'$cmd --help' in the container does not show imagehost's ${cmd%_images}"
    done
    log "migrate, resize and resize_images --help: imagehost's commands"
    local health=""
    for _ in $(seq 1 40); do
        health="$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$name")"
        [[ "$health" == starting ]] || break
        sleep 0.5
    done
    [[ "$health" == healthy ]] || die "HEALTHCHECK status is '$health', expected healthy"
    log "HEALTHCHECK: $health"
}

# --- the stack -------------------------------------------------------------------------------

compose() { "$COMPOSE" -p "$COMPOSE_PROJECT" "${COMPOSE_FILES[@]}" "$@"; }

check_compose_files() {
    ensure_packages docker-compose
    "$COMPOSE" -f docker-compose.yml config -q || die "docker-compose.yml does not validate"
    "$COMPOSE" config -q || die "docker-compose.yml + docker-compose.override.yml do not validate"
    compose config -q || die "docker-compose.yml + docker-compose.test.yml do not validate"
    log "docker-compose config: the stack, with its override and with the test stand-ins, validates"
}

test_stack() {
    local start
    start="$(now_us)"
    # imagehost:test is the image built above; db, redis and s3 share the stand-ins' image.
    compose build db >"$DOCKER_STATE/compose-build.log" 2>&1 \
        || { tail -n 30 "$DOCKER_STATE/compose-build.log" >&2; die "docker-compose build failed"; }
    measured "stack stand-ins built in $(seconds_since "$start") s"
    start="$(now_us)"
    COMPOSE_STARTED=1
    compose down --volumes --remove-orphans >/dev/null 2>&1 || true # a run killed midway
    compose up -d --no-build >"$DOCKER_STATE/compose-up.log" 2>&1 \
        || { tail -n 30 "$DOCKER_STATE/compose-up.log" >&2; die "docker-compose up failed"; }
    wait_healthy images worker
    measured "stack up and healthy in $(seconds_since "$start") s"
    # An image published through the stack's service, then its variants made again on Celery.
    local key
    key="$(python3 "$REPO_ROOT/docker/test/replay.py" "http://127.0.0.1:${IMAGEHOST_TEST_PORT:-28080}" \
        "$SECRET" publish)" || die "upload and publish through the stack failed"
    log "published $key through the stack"
    local out worker_log
    out="$(compose exec -T images resize --broker "redis://127.0.0.1:${IMAGEHOST_TEST_REDIS_PORT:-26379}/0" 2>&1)" \
        || { printf '%s\n' "$out" >&2; die "resize through the stack failed"; }
    [[ "$out" == *"resize: items 1, done 1, skipped 0, failed 0, pending 0"* ]] \
        || { printf '%s\n' "$out" >&2; die "resize did not process the published image"; }
    worker_log="$(compose logs --no-color worker 2>&1)"
    [[ "$worker_log" =~ imagehost\.process_batch\[[^]]*\]\ succeeded ]] \
        || { printf '%s\n' "$worker_log" | tail -n 20 >&2; die "the worker did not run the resize batch"; }
    log "resize ran on Celery through the worker: ${out##*$'\n'}"
}

# Wait until every named service's container reports healthy (2 minutes at most).
wait_healthy() {
    local service id status i
    for service in "$@"; do
        id="$(compose ps -q "$service")"
        [[ -n "$id" ]] || die "service $service has no container"
        for ((i = 0; i < 240; i++)); do
            status="$("$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")"
            [[ "$status" == healthy ]] && break
            [[ "$status" == unhealthy || "$status" == exited ]] && die "service $service is $status"
            sleep 0.5
        done
        [[ "$status" == healthy ]] || die "service $service is still $status after 2 minutes"
    done
}

# --- main ------------------------------------------------------------------------------------

main() {
    local what="${1:-all}" start
    case "$what" in
        image | stack | all) ;;
        *) echo "usage: $0 [image|stack|all]" >&2; exit 2 ;;
    esac
    start="$(now_us)"
    mkdir -p "$DOCKER_STATE"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start_engine
    build_base
    build_image
    [[ "$what" == stack ]] || test_image
    if [[ "$what" != image ]]; then
        check_compose_files
        test_stack
    fi
    measured "passed in $(seconds_since "$start") s"
}

main "$@"
