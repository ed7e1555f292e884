#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/ui), driven by Playwright for Python.
# Playwright's own browser download cannot work offline, so the tests launch
# /usr/bin/chromium (executable_path) instead of running `playwright install`.
#
#   chromium.sh install   # install the Debian package when missing (as root)
#   chromium.sh status    # exit 3 when it is not installed
#   chromium.sh env       # print the export line of its path
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${IMAGEHOST_SERVICES_DIR:-$REPO_ROOT/var/services}"
CHROMIUM_BIN=/usr/bin/chromium
PACKAGES=(chromium)

SERVICE_NAME=chromium
# shellcheck source=scripts/services/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
    install)
        ensure_packages "${PACKAGES[@]}"
        [[ -x "$CHROMIUM_BIN" ]] || die "$CHROMIUM_BIN not found after installing"
        ;;
    status)
        if [[ -x "$CHROMIUM_BIN" ]]; then
            printf '%-17s installed (%s)\n' chromium "$CHROMIUM_BIN"
        else
            printf '%-17s not installed\n' chromium
            exit 3
        fi
        ;;
    env) echo "export IMAGEHOST_CHROMIUM=$CHROMIUM_BIN" ;;
    *)
        echo "usage: $0 install|status|env" >&2
        exit 2
        ;;
esac
