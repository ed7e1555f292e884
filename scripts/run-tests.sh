#!/usr/bin/env bash
# Run the test suite against real services (what `make test` calls):
#
#   scripts/run-tests.sh [pytest args...]
#
# 1. starts PostgreSQL + Swift with scripts/services/all.sh (installs the
#    Debian packages on first use, as root) and exports what it prints
#    (DATABASE_URL, SWIFT_S3_*, OS_*);
# 2. exports IMAGEHOST_REQUIRE_SERVICES=1, so tests fail instead of skipping
#    when a service is missing;
# 3. runs "${PYTHON:-.venv/bin/python}" -m pytest "$@" from the repo root
#    (paths in the arguments are relative to it);
# 4. always stops the services again (EXIT trap, also after a failed start or
#    Ctrl-C) and exits with pytest's status.
#
# Service progress goes to a temporary log, shown only if starting or stopping
# fails; on success one summary line is printed. Port and state-dir variables
# of the service scripts (SWIFT_PORT, PG_PORT, IMAGEHOST_SERVICES_DIR, ...)
# are honoured, see scripts/services/README.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
SERVICES="$REPO_ROOT/scripts/services/all.sh"
PY="${PYTHON:-.venv/bin/python}"

say() { printf 'run-tests: %s\n' "$*" >&2; }

# No stdin at all (e.g. `<&-` in CI): give the children /dev/null instead.
{ : <&0; } 2>/dev/null || exec </dev/null

if ! command -v "$PY" >/dev/null 2>&1; then
    say "no Python interpreter '$PY' (create the venv first: make, or set PYTHON)"
    exit 2
fi

# Microseconds since the epoch (EPOCHREALTIME's decimal point is locale-dependent).
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }
elapsed() { # <start_us> -> seconds with one decimal
    local d=$(($(now_us) - $1))
    printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}

SERVICE_LOG="$(mktemp -t imagehost-services.XXXXXX)"

# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM # let the services be stopped even on a second Ctrl-C
    if ! "$SERVICES" stop </dev/null >>"$SERVICE_LOG" 2>&1; then
        say "WARNING: stopping the services failed; log:"
        cat "$SERVICE_LOG" >&2
    fi
    rm -f "$SERVICE_LOG"
    exit "$rc"
}
trap cleanup EXIT
# Turn signals into a normal exit so the EXIT trap stops the services.
trap 'exit 130' INT
trap 'exit 143' TERM

start_us="$(now_us)"
# umask 022: the state dirs created on a fresh clone must be traversable by the
# postgres system user.
if ! env_lines="$(umask 022 && "$SERVICES" start </dev/null 2>>"$SERVICE_LOG")"; then
    say "starting the services failed after $(elapsed "$start_us")s; log:"
    cat "$SERVICE_LOG" >&2
    exit 1
fi
while IFS= read -r line; do
    [[ -z "$line" || "$line" =~ ^export\ [A-Za-z_][A-Za-z0-9_]*= ]] \
        || { say "unexpected output from $SERVICES start: $line"; exit 1; }
done <<<"$env_lines"
eval "$env_lines"
export IMAGEHOST_REQUIRE_SERVICES=1

installed="$(sed -n 's/^\[[a-z]*\] installing: //p' "$SERVICE_LOG" | tr '\n' ' ')"
say "services started in $(elapsed "$start_us")s (PostgreSQL ${DATABASE_URL##*@}, Swift ${SWIFT_S3_ENDPOINT#http://})${installed:+; installed: ${installed% }}"

rc=0
"$PY" -m pytest "$@" || rc=$?
exit "$rc"
