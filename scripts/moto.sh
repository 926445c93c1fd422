#!/usr/bin/env bash
# Manage a throwaway moto server (an emulator of AWS's APIs, in Python) for
# the tests that talk to SQS, SNS and EventBridge (and later KMS), so they
# use the real SDKs and wire protocols without any AWS account. moto keeps
# everything in memory: each start is empty.
#
# Usage:
#   scripts/moto.sh install          # install moto, pinned, into a cached venv
#   eval "$(scripts/moto.sh start)"  # start; prints `export` lines
#   scripts/moto.sh status           # is the started one answering?
#   scripts/moto.sh stop             # stop the one `start` started
#   scripts/moto.sh run -- CMD...    # start, run CMD with the exports, always stop
#
# Environment:
#   ES_CACHE_DIR        cache root (default: $HOME/.cache/es)
#   ES_MOTO_PORT        port to use (default: a free loopback port)
#   ES_MOTO_SERVICES    services whose endpoint variables are exported, as
#                       the SDKs name them (default: "SQS SNS EVENTBRIDGE KMS");
#                       the server itself answers for every service it knows
#   ES_MOTO_STATE_DIR   pid/log dir (default: <repo>/.moto)
#   ES_MOTO_PID         pid for `stop`/`status` (default: the pid file)
#   ES_MOTO_TIMEOUT     seconds to wait for readiness (default: 60)
#
# Exports: AWS_ENDPOINT_URL_<SERVICE> for each service above (the AWS SDKs'
# service-specific endpoint variables: AWS_ENDPOINT_URL_SQS, _SNS,
# _EVENTBRIDGE, _KMS), ES_MOTO_ENDPOINT (the server's URL), ES_MOTO_PID, and
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION only when they are
# not set already (moto takes any credentials; DynamoDB Local's script sets
# its own, which must be kept).
#
# Everything but the `export` lines of `start` goes to stderr, so that
# `eval "$(... start)"` only ever sees shell code. The server listens on
# 127.0.0.1 only (moto_server -H 127.0.0.1).
set -euo pipefail

# Pinned, so every machine and CI test against the same emulator.
MOTO_VERSION="5.2.5"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="${ES_CACHE_DIR:-${HOME:?HOME is unset; set ES_CACHE_DIR}/.cache/es}/moto-$MOTO_VERSION"
MOTO_SERVER="$VENV/bin/moto_server"
STATE_DIR="${ES_MOTO_STATE_DIR:-$REPO_ROOT/.moto}"
PID_FILE="$STATE_DIR/moto.pid"
ENV_FILE="$STATE_DIR/moto.env"
LOG_FILE="$STATE_DIR/moto.log"
READY_TIMEOUT="${ES_MOTO_TIMEOUT:-60}"
SERVICES="${ES_MOTO_SERVICES:-SQS SNS EVENTBRIDGE KMS}"

MOTO_PID=""  # set by start_server
MOTO_PORT="" # set by start_server

log() { printf 'moto.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# --- install -------------------------------------------------------------------

installed() {
    [[ -x "$MOTO_SERVER" ]] &&
        [[ "$("$VENV/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" == "$MOTO_VERSION" ]]
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

ensure_moto() {
    installed && return 0
    local python
    if ! python="$(find_python)"; then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            log "Python 3.9+ with venv not found; installing python3-venv with apt-get"
            {
                apt-get update &&
                    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
            } >&2 || die "apt-get failed to install python3-venv"
            python="$(find_python)" || die "python3-venv was installed but no usable python3 was found"
        else
            die "moto needs Python 3.9+ with venv (Debian/Ubuntu: apt-get install -y python3-venv)"
        fi
    fi
    log "installing moto[server] $MOTO_VERSION into $VENV"
    mkdir -p "$(dirname "$VENV")"
    # Built in a scratch dir and renamed into place, so an interrupted or
    # concurrent install never leaves a half-made environment that looks
    # done; the scripts the venv made are rewritten to the final path.
    local tmp
    tmp="$(mktemp -d "$VENV.tmp.XXXXXX")"
    if ! { "$python" -m venv "$tmp" >&2 &&
        "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            "moto[server]==$MOTO_VERSION" >&2; }; then
        rm -rf "$tmp"
        die "pip could not install moto[server]==$MOTO_VERSION"
    fi
    grep -rlF "$tmp" "$tmp/bin" 2>/dev/null | while IFS= read -r file; do
        sed -i "s|$tmp|$VENV|g" "$file"
    done
    sed -i "s|$tmp|$VENV|g" "$tmp/pyvenv.cfg" 2>/dev/null || true
    mv -T "$tmp" "$VENV" 2>/dev/null || rm -rf "$tmp"
    installed || die "moto $MOTO_VERSION does not run from $VENV"
}

# --- processes -----------------------------------------------------------------

is_alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
        [[ "$state" != "Z" ]] || return 1
    fi
    return 0
}

cmdline_of() {
    if [[ -r "/proc/$1/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$1/cmdline"
    else
        ps -o args= -p "$1" 2>/dev/null || true
    fi
}

# True only if PID is alive and really is a moto server, so a stale pid file
# whose number was reused never gets another process killed.
is_moto() {
    [[ "$1" =~ ^[0-9]+$ ]] && is_alive "$1" && [[ "$(cmdline_of "$1")" == *moto_server* ]]
}

# Stops exactly the process this script started; never anything by name.
stop_pid() {
    local pid="$1" i
    is_moto "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        is_alive "$pid" || break
        sleep 0.1
    done
    if is_alive "$pid"; then
        log "pid $pid ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# moto's own API answers once the server is up.
answers() {
    curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/moto-api/data.json" 2>/dev/null |
        grep -qx 200
}

start_server() {
    local logfile="$1" attempt start_s=$SECONDS
    mkdir -p "$STATE_DIR"
    for attempt in 1 2 3; do
        MOTO_PORT="${ES_MOTO_PORT:-$(free_port)}"
        log "starting moto $MOTO_VERSION on 127.0.0.1:$MOTO_PORT (log: $logfile)"
        "$MOTO_SERVER" -H 127.0.0.1 -p "$MOTO_PORT" </dev/null >"$logfile" 2>&1 &
        MOTO_PID=$!
        while ((SECONDS - start_s < READY_TIMEOUT)); do
            if answers "$MOTO_PORT"; then
                log "ready on port $MOTO_PORT (pid $MOTO_PID)"
                return 0
            fi
            is_alive "$MOTO_PID" || break
            sleep 0.2
        done
        if is_alive "$MOTO_PID"; then
            stop_pid "$MOTO_PID"
            log "no answer within ${READY_TIMEOUT}s; last log lines:"
            tail -n 20 "$logfile" >&2 || true
            exit 1
        fi
        wait "$MOTO_PID" 2>/dev/null || true
        if [[ -n "${ES_MOTO_PORT:-}" || $attempt -eq 3 ]]; then
            log "moto exited during startup; last log lines:"
            tail -n 20 "$logfile" >&2 || true
            exit 1
        fi
        log "moto exited during startup (attempt $attempt); retrying on another port"
    done
}

print_exports() {
    local port="$1" pid="$2" service
    for service in $SERVICES; do
        printf 'export AWS_ENDPOINT_URL_%s=%q\n' "$service" "http://127.0.0.1:$port"
    done
    printf 'export ES_MOTO_ENDPOINT=%q\n' "http://127.0.0.1:$port"
    printf 'export ES_MOTO_PID=%q\n' "$pid"
    # moto takes any credentials; keep the ones already set.
    printf 'export AWS_ACCESS_KEY_ID=%q\n' "${AWS_ACCESS_KEY_ID:-esLocal}"
    printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "${AWS_SECRET_ACCESS_KEY:-esLocal}"
    printf 'export AWS_REGION=%q\n' "${AWS_REGION:-us-east-1}"
}

target_pid() {
    if [[ -n "${ES_MOTO_PID:-}" ]]; then
        printf '%s\n' "$ES_MOTO_PID"
    elif [[ -f "$PID_FILE" ]]; then
        head -n1 "$PID_FILE"
    fi
}

# --- subcommands ---------------------------------------------------------------

cmd_start() {
    if [[ -f "$PID_FILE" && -f "$ENV_FILE" ]] && is_moto "$(head -n1 "$PID_FILE")"; then
        log "already running (pid $(head -n1 "$PID_FILE")); run 'stop' first for a fresh one"
        cat "$ENV_FILE"
        return 0
    fi
    ensure_moto
    start_server "$LOG_FILE"
    printf '%s\n' "$MOTO_PID" >"$PID_FILE"
    print_exports "$MOTO_PORT" "$MOTO_PID" | tee "$ENV_FILE"
}

cmd_stop() {
    local pid
    pid="$(target_pid)"
    if [[ -z "$pid" ]]; then
        log "not running (no pid file at $PID_FILE and ES_MOTO_PID unset)"
        return 0
    fi
    if is_moto "$pid"; then
        stop_pid "$pid"
        log "stopped pid $pid"
    elif is_alive "$pid"; then
        log "pid $pid is not a moto server ($(cmdline_of "$pid")); not killing it"
    else
        log "pid $pid is not running"
    fi
    if [[ -f "$PID_FILE" && "$(head -n1 "$PID_FILE")" == "$pid" ]]; then
        rm -f "$PID_FILE" "$ENV_FILE"
    fi
}

cmd_status() {
    local pid port=""
    pid="$(target_pid)"
    if [[ -z "$pid" ]] || ! is_moto "$pid"; then
        log "not running"
        return 1
    fi
    [[ -f "$ENV_FILE" ]] && port="$(sed -n 's|^export ES_MOTO_ENDPOINT=http://127.0.0.1:\([0-9]*\)$|\1|p' "$ENV_FILE")"
    if [[ -n "$port" ]] && answers "$port"; then
        log "running: pid $pid, http://127.0.0.1:$port answers"
        return 0
    fi
    log "pid $pid is a moto server but does not answer${port:+ on port $port}"
    return 1
}

cmd_run() {
    [[ "${1:-}" == "--" ]] && shift
    (($# > 0)) || die "usage: $0 run -- CMD [ARGS...]"
    ensure_moto
    local run_log="$STATE_DIR/run-$$.log" status
    MOTO_PID=""
    trap 'stop_pid "$MOTO_PID"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start_server "$run_log"
    eval "$(print_exports "$MOTO_PORT" "$MOTO_PID")"
    set +e
    "$@"
    status=$?
    set -e
    if ((status == 0)); then
        rm -f "$run_log"
    else
        log "command exited $status; moto's log kept at $run_log"
    fi
    exit "$status"
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
}

main() {
    local cmd="${1:-}"
    (($# > 0)) && shift
    case "$cmd" in
        install)
            ensure_moto
            log "moto $MOTO_VERSION: $MOTO_SERVER"
            ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        run) cmd_run "$@" ;;
        -h | --help | help) usage ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
