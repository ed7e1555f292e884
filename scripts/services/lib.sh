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
