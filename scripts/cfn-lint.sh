#!/usr/bin/env bash
# Lint the repo's AWS SAM / CloudFormation templates with cfn-lint, installed
# from the Python package registry at a pinned version into a cached virtual
# environment (only when that environment is missing).
#
# Usage:
#   scripts/cfn-lint.sh install          # install (cached); lint nothing
#   scripts/cfn-lint.sh [TEMPLATE...]    # install if needed, then lint
#                                        # (default: examples/shop-service/template.yaml)
#
# Environment:
#   ES_CACHE_DIR              cache root (default: $HOME/.cache/es)
#   ES_CFN_LINT_NO_INSTALL=1  do not install: exit 3 when cfn-lint is missing
#
# Exit status: cfn-lint's own (0 clean, non-zero for findings), 3 when
# cfn-lint is not installed and may not or cannot be, 2 for bad usage.
set -euo pipefail

# Pinned, so every machine and CI lint with the same rules.
CFN_LINT_VERSION="1.58.0"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="${ES_CACHE_DIR:-${HOME:?HOME is unset; set ES_CACHE_DIR}/.cache/es}/cfn-lint-$CFN_LINT_VERSION"
CFN_LINT="$VENV/bin/cfn-lint"

log() { printf 'cfn-lint.sh: %s\n' "$*" >&2; }
unavailable() {
    log "error: $*"
    exit 3
}

installed() {
    [[ -x "$CFN_LINT" ]] && [[ "$("$CFN_LINT" --version 2>/dev/null)" == *"$CFN_LINT_VERSION"* ]]
}

find_python() {
    local candidate
    for candidate in python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_cfn_lint() {
    installed && return 0
    [[ "${ES_CFN_LINT_NO_INSTALL:-}" == "1" ]] &&
        unavailable "cfn-lint $CFN_LINT_VERSION is not installed in $VENV (run scripts/cfn-lint.sh install)"
    local python
    if ! python="$(find_python)"; then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            # As root on Debian (developer machines and CI) we can install it
            # ourselves, as scripts/dynamodb-local.sh does for Java.
            log "Python 3.9+ with venv not found; installing python3-venv with apt-get"
            {
                apt-get update &&
                    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
            } >&2 || unavailable "apt-get failed to install python3-venv"
            python="$(find_python)" || unavailable "python3-venv was installed but no usable python3 was found"
        else
            unavailable "cfn-lint needs Python 3.9+ with venv (Debian/Ubuntu: apt-get install -y python3-venv)"
        fi
    fi
    log "installing cfn-lint $CFN_LINT_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    # Build in a scratch dir and rename it into place, so an interrupted or
    # concurrent install never leaves a half-made environment that looks done.
    # A venv records its own path, so the scratch dir is a sibling that is
    # renamed, and the scripts it made are rewritten to the final path.
    local tmp
    tmp="$(mktemp -d "$VENV.tmp.XXXXXX")"
    if ! { "$python" -m venv "$tmp" >&2 &&
        "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            "cfn-lint==$CFN_LINT_VERSION" >&2; }; then
        rm -rf "$tmp"
        unavailable "pip could not install cfn-lint==$CFN_LINT_VERSION"
    fi
    grep -rlF "$tmp" "$tmp/bin" 2>/dev/null | while IFS= read -r file; do
        sed -i "s|$tmp|$VENV|g" "$file"
    done
    sed -i "s|$tmp|$VENV|g" "$tmp/pyvenv.cfg" 2>/dev/null || true
    # mv -T refuses to replace an existing dir: if another run won, keep its copy.
    mv -T "$tmp" "$VENV" 2>/dev/null || rm -rf "$tmp"
    installed || unavailable "cfn-lint $CFN_LINT_VERSION does not run from $VENV"
}

main() {
    case "${1:-}" in
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
            exit 0
            ;;
        install)
            (($# == 1)) || { log "usage: $0 install"; exit 2; }
            ensure_cfn_lint
            log "cfn-lint $CFN_LINT_VERSION: $CFN_LINT"
            exit 0
            ;;
    esac
    ensure_cfn_lint
    local templates=("$@")
    ((${#templates[@]} > 0)) || templates=("$REPO_ROOT/examples/shop-service/template.yaml")
    "$CFN_LINT" --version >&2
    "$CFN_LINT" -- "${templates[@]}"
    log "clean: ${templates[*]}"
}

main "$@"
