# Helpers shared by the service scripts. Source after setting SERVICE_NAME and STATE_DIR.
# shellcheck shell=bash

log() { printf '[%s] %s\n' "$SERVICE_NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Install missing Debian packages; `apt-get update` runs at most once an hour
# (a stamp in the state dir), so all.sh does not update twice. The packages'
# init scripts are kept from starting system-wide daemons while installing.
ensure_packages() {
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]} == 0)) && return 0
    [[ $EUID -eq 0 ]] || die "missing packages (${missing[*]}); install them as root"
    log "installing: ${missing[*]}"
    mkdir -p "$STATE_DIR"
    local stamp="$STATE_DIR/.apt-updated" own_policy="" install_log
    install_log="$STATE_DIR/apt-install-$SERVICE_NAME.log"
    if [[ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]]; then
        apt-get update -qq -o DPkg::Lock::Timeout=300
        touch "$stamp"
    fi
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        own_policy=1
    fi
    local rc=0
    # DPkg::Lock::Timeout: wait for another apt/dpkg run instead of failing.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=300 "${missing[@]}" >"$install_log" 2>&1 || rc=$?
    [[ -n "$own_policy" ]] && rm -f /usr/sbin/policy-rc.d
    if ((rc != 0)); then
        tail -n 30 "$install_log" >&2
        die "apt-get install failed"
    fi
}

# kill -0 also succeeds for zombies, which PID 1 may reap only later.
is_alive() {
    local stat
    stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
    [[ "$stat" != Z* ]]
}

re_escape() { printf '%s' "$1" | sed 's/[]\.*^$+?(){}|[]/\\&/g'; }

# Print the PID recorded in file $1 (first line) if that process is alive and
# its command line matches regex $2; otherwise the first live process whose
# command line matches (the state dir was deleted under a running server).
# Fails when there is none.
pid_from() {
    local file=$1 regex=$2 pid
    if [[ -s "$file" ]]; then
        pid="$(head -n 1 "$file")"
        if [[ "$pid" =~ ^[0-9]+$ && "$(ps -o args= -p "$pid" 2>/dev/null)" =~ $regex ]] \
            && is_alive "$pid"; then
            echo "$pid"
            return 0
        fi
    fi
    pid="$(pgrep -f -- "$regex" | head -n 1)" || true
    [[ -n "$pid" ]] && is_alive "$pid" && echo "$pid"
}

# Stop process $1 (called $2 in the log) with signal $3, waiting up to $4
# seconds, then with signal $5, waiting until it is gone.
stop_pid() {
    local pid=$1 name=$2 first=$3 seconds=$4 last=$5 i
    kill "-$first" "$pid" 2>/dev/null || true
    for ((i = 0; i < seconds * 10; i++)); do
        is_alive "$pid" || break
        sleep 0.1
    done
    if is_alive "$pid"; then
        log "$name (pid $pid) still running after SIG$first; sending SIG$last"
        kill "-$last" "$pid" 2>/dev/null || true
        while is_alive "$pid"; do sleep 0.1; done
    fi
}
