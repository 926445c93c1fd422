#!/usr/bin/env bash
# Build the shopping service's two Lambda functions (shop-service and
# shop-projection) the way AWS users do: `sam build` on
# examples/shop-service/template.yaml, whose functions use SAM's
# rust-cargolambda build method, which runs `cargo lambda build --release
# --arm64 --bin <Binary>` and cross-compiles with zig for provided.al2023
# on arm64 (Graviton). Then `sam validate --lint`, and the zips' sizes.
#
# The SAM CLI, cargo-lambda and zig come from the Python package registry,
# pinned, into one cached virtual environment (only when it is missing), as
# scripts/cfn-lint.sh does for cfn-lint; the Rust target
# aarch64-unknown-linux-gnu comes from rustup. No Docker.
#
# Usage:
#   scripts/sam-build.sh install   # install (cached); build nothing
#   scripts/sam-build.sh           # install if needed, build, validate, report
#   scripts/sam-build.sh sam ARGS  # run the pinned `sam` in examples/shop-service
#
# Environment:
#   ES_CACHE_DIR           cache root (default: $HOME/.cache/es)
#   ES_SAM_NO_INSTALL=1    do not install: exit 3 when the tools are missing
#
# Exit status: 0 built and valid; 1 the build or the lint failed; 3 the tools
# are not installed and may not or cannot be; 2 bad usage.
set -euo pipefail

# Pinned, so every machine builds with the same tools.
SAM_VERSION="1.170.0"
CARGO_LAMBDA_VERSION="1.9.2"
ZIGLANG_VERSION="0.17.1"
RUST_TARGET="aarch64-unknown-linux-gnu"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
SERVICE_DIR="$REPO_ROOT/examples/shop-service"
VENV="${ES_CACHE_DIR:-${HOME:?HOME is unset; set ES_CACHE_DIR}/.cache/es}/sam-$SAM_VERSION-cargo-lambda-$CARGO_LAMBDA_VERSION-zig-$ZIGLANG_VERSION"

# The SAM CLI sends usage data unless told not to.
export SAM_CLI_TELEMETRY=0

log() { printf 'sam-build.sh: %s\n' "$*" >&2; }
unavailable() {
    log "error: $*"
    exit 3
}

installed() {
    [[ -x "$VENV/bin/sam" && -x "$VENV/bin/cargo-lambda" && -x "$VENV/bin/python-zig" ]] &&
        [[ "$("$VENV/bin/sam" --version 2>/dev/null)" == *"$SAM_VERSION"* ]] &&
        [[ "$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null)" == *"$CARGO_LAMBDA_VERSION"* ]]
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

ensure_tools() {
    installed && return 0
    [[ "${ES_SAM_NO_INSTALL:-}" == "1" ]] &&
        unavailable "the SAM CLI $SAM_VERSION and cargo-lambda $CARGO_LAMBDA_VERSION are not installed in $VENV (run scripts/sam-build.sh install)"
    local python
    if ! python="$(find_python)"; then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            log "Python 3.9+ with venv not found; installing python3-venv with apt-get"
            {
                apt-get update &&
                    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
            } >&2 || unavailable "apt-get failed to install python3-venv"
            python="$(find_python)" || unavailable "python3-venv was installed but no usable python3 was found"
        else
            unavailable "the SAM CLI needs Python 3.9+ with venv (Debian/Ubuntu: apt-get install -y python3-venv)"
        fi
    fi
    log "installing aws-sam-cli $SAM_VERSION, cargo-lambda $CARGO_LAMBDA_VERSION and ziglang $ZIGLANG_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    # Built in a scratch dir and renamed into place, so that an interrupted
    # or concurrent install never leaves a half-made environment that looks
    # done; the scripts that record the scratch path are rewritten.
    local tmp
    tmp="$(mktemp -d "$VENV.tmp.XXXXXX")"
    if ! { "$python" -m venv "$tmp" >&2 &&
        "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            "aws-sam-cli==$SAM_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" \
            "ziglang==$ZIGLANG_VERSION" >&2; }; then
        rm -rf "$tmp"
        unavailable "pip could not install aws-sam-cli==$SAM_VERSION cargo-lambda==$CARGO_LAMBDA_VERSION ziglang==$ZIGLANG_VERSION"
    fi
    grep -rlF "$tmp" "$tmp/bin" 2>/dev/null | while IFS= read -r file; do
        sed -i "s|$tmp|$VENV|g" "$file"
    done
    sed -i "s|$tmp|$VENV|g" "$tmp/pyvenv.cfg" 2>/dev/null || true
    mv -T "$tmp" "$VENV" 2>/dev/null || rm -rf "$tmp"
    installed || unavailable "the tools do not run from $VENV"
}

ensure_target() {
    if rustup target list --installed 2>/dev/null | grep -qx "$RUST_TARGET"; then
        return 0
    fi
    [[ "${ES_SAM_NO_INSTALL:-}" == "1" ]] && unavailable "the Rust target $RUST_TARGET is not installed"
    command -v rustup >/dev/null 2>&1 || unavailable "rustup is needed to add the Rust target $RUST_TARGET"
    log "adding the Rust target $RUST_TARGET"
    rustup target add "$RUST_TARGET" >&2 || unavailable "rustup could not add $RUST_TARGET"
}

# The tools on PATH: `cargo lambda` is cargo running cargo-lambda, which
# finds zig through the ziglang package's python-zig.
with_tools() {
    PATH="$VENV/bin:$PATH" "$@"
}

report() {
    local build="$SERVICE_DIR/.aws-sam/build" function bootstrap zip
    for function in ShopApiFunction ShopProjectionFunction; do
        bootstrap="$build/$function/bootstrap"
        [[ -f "$bootstrap" ]] || { log "error: $bootstrap was not built"; return 1; }
        # An ELF file for aarch64: e_machine (bytes 18-19) is 183 (0xb7).
        if [[ "$(od -An -tu2 -j18 -N2 "$bootstrap" | tr -d ' ')" != "183" ]]; then
            log "error: $bootstrap is not an aarch64 binary"
            return 1
        fi
        # What `sam deploy` uploads: the folder, zipped.
        zip="$(mktemp -u "${TMPDIR:-/tmp}/$function.XXXXXX").zip"
        (cd "$build/$function" && "$VENV/bin/python" -m zipfile -c "$zip" bootstrap)
        printf '%s: bootstrap %s bytes, zipped %s bytes\n' "$function" \
            "$(stat -c %s "$bootstrap")" "$(stat -c %s "$zip")"
        rm -f "$zip"
    done
}

main() {
    case "${1:-}" in
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
            exit 0
            ;;
        install)
            (($# == 1)) || { log "usage: $0 install"; exit 2; }
            ensure_tools
            ensure_target
            log "installed: $("$VENV/bin/sam" --version), $("$VENV/bin/cargo-lambda" lambda --version)"
            exit 0
            ;;
        sam)
            shift
            ensure_tools
            cd "$SERVICE_DIR"
            with_tools sam "$@"
            exit $?
            ;;
        "") ;;
        *)
            log "usage: $0 [install | sam ARGS...]"
            exit 2
            ;;
    esac
    ensure_tools
    ensure_target
    cd "$SERVICE_DIR"
    local started=$SECONDS
    with_tools sam build --beta-features
    log "built in $((SECONDS - started)) s"
    with_tools sam validate --lint
    report
}

main "$@"
