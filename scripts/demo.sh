#!/usr/bin/env bash
# scripts/demo.sh — the migration story on the local stack, step by step.
# Run it through `make demo` (which brings the stack up and builds bin/strangler).
#
# The chapters so far (issues 2 and 4): the legacy monolith under load, copied
# live into DynamoDB + EventBridge.
#   1. start the demo downstream services (inventory, accounting) and the legacy service
#   2. seed the legacy table with historical orders (DEMO_SEED_ORDERS, default 10000)
#   3. create fresh DynamoDB tables, start the cdc (from the position read before
#      the backfill: replaying from earlier is safe under the position guard), then
#      drive realistic load at the legacy API for DEMO_DURATION (default 30s) at
#      DEMO_RATE ops/s while the backfill copies the table (guarded transact writes)
#   4. wait for the cdc to catch up, verify DynamoDB equal to MySQL (0 differences)
#   5. print what downstream heard: synchronous calls from the monolith, and the
#      order events the bus delivered (received, duplicates dropped by event_id)
# Later chapters add the proxy.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN="${BIN:-${REPO}/bin/strangler}"
RUN="${REPO}/.stack/demo"
SEED="${DEMO_SEED_ORDERS:-10000}"
DURATION="${DEMO_DURATION:-30s}"
RATE="${DEMO_RATE:-300}"
LEGACY_ADDR="${DEMO_LEGACY_ADDR:-127.0.0.1:8080}"
DOWNSTREAM_ADDR="${DEMO_DOWNSTREAM_ADDR:-127.0.0.1:8091}"
DB="${DEMO_DATABASE:-strangler_demo}"
export MYSQL_PWD=strangler
DSN="strangler:strangler@tcp(127.0.0.1:${STACK_MYSQL_PORT:-3307})/${DB}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[[ -x "${BIN}" ]] || die "${BIN} is missing: run 'make demo' (it builds it)"
mkdir -p "${RUN}"
cd "${REPO}"
started=$(date +%s)

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME URL CMD... — run a service in the background, log to .stack/demo/NAME.log, wait for URL.
start() {
    local name=$1 url=$2
    shift 2
    "$@" >"${RUN}/${name}.log" 2>&1 &
    pids+=($!)
    local pid=$!
    for _ in $(seq 1 200); do
        if ! kill -0 "${pid}" 2>/dev/null; then
            tail -n 20 "${RUN}/${name}.log" >&2
            die "${name} exited during start (log: ${RUN}/${name}.log)"
        fi
        if curl -fsS -o /dev/null "${url}" 2>/dev/null; then
            say "${name} ready at ${url%/*} (log: .stack/demo/${name}.log)"
            return 0
        fi
        sleep 0.1
    done
    die "${name} was not ready in 20 s (log: ${RUN}/${name}.log)"
}

for addr in "${LEGACY_ADDR}" "${DOWNSTREAM_ADDR}"; do
    if curl -s -o /dev/null "http://${addr}/healthz" 2>/dev/null; then
        die "something already answers on ${addr}: stop it (an earlier demo?) or set DEMO_LEGACY_ADDR / DEMO_DOWNSTREAM_ADDR"
    fi
done

step "1/5 Fresh demo database '${DB}', downstream services and the legacy monolith"
mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"${STACK_MYSQL_PORT:-3307}" -ustrangler \
    -e "DROP DATABASE IF EXISTS \`${DB}\`; CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
start downstream "http://${DOWNSTREAM_ADDR}/healthz" \
    "${BIN}" dev downstream --log-format json --listen "${DOWNSTREAM_ADDR}"
STRANGLER_LEGACY_MYSQL_DSN="${DSN}" \
STRANGLER_LEGACY_DOWNSTREAM_INVENTORY_URL="http://${DOWNSTREAM_ADDR}/inventory" \
STRANGLER_LEGACY_DOWNSTREAM_ACCOUNTING_URL="http://${DOWNSTREAM_ADDR}/accounting" \
    start legacy "http://${LEGACY_ADDR}/readyz" \
    "${BIN}" legacy serve --log-format json --listen "${LEGACY_ADDR}"

step "2/5 Seeding ${SEED} historical orders into the legacy table"
STRANGLER_LOADGEN_MYSQL_DSN="${DSN}" "${BIN}" loadgen --seed-orders "${SEED}"

step "3/5 Backfill and cdc together while ${RATE} ops/s of load hit the legacy API for ${DURATION}"
suffix=$(date +%s)
export STRANGLER_MIGRATOR_MYSQL_DSN="${DSN}" STRANGLER_MIGRATOR_TABLE="demo_orders_${suffix}" \
    STRANGLER_MIGRATOR_CONTROL_TABLE="demo_control_${suffix}" STRANGLER_MIGRATOR_METRICS_LISTEN=""
export STRANGLER_CDC_MYSQL_DSN="cdc:cdc@tcp(127.0.0.1:${STACK_MYSQL_PORT:-3307})/${DB}" \
    STRANGLER_CDC_TABLE="demo_orders_${suffix}" STRANGLER_CDC_CONTROL_TABLE="demo_control_${suffix}" \
    STRANGLER_CDC_EVENTBRIDGE_URL="http://127.0.0.1:${STACK_EVENTBUS_PORT:-4010}"
"${BIN}" migrate init
from=$(mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"${STACK_MYSQL_PORT:-3307}" -ustrangler -N -e "SELECT @@gtid_binlog_pos")
"${BIN}" cdc run --from "${from}" --log-format json --metrics-listen 127.0.0.1:9102 >"${RUN}/cdc.log" 2>&1 &
cdc_pid=$!
pids+=("${cdc_pid}")
say "cdc streaming after ${from} (log: .stack/demo/cdc.log, metrics: http://127.0.0.1:9102/metrics)"
"${BIN}" loadgen --base-url "http://${LEGACY_ADDR}" --rate "${RATE}" --duration "${DURATION}" >"${RUN}/loadgen.out" 2>&1 &
load_pid=$!
"${BIN}" migrate backfill --write-mode transact
say "backfill done; waiting for the load to finish"
wait "${load_pid}" || die "the load generator failed (see ${RUN}/loadgen.out)"
cat "${RUN}/loadgen.out"
kill -0 "${cdc_pid}" 2>/dev/null || { tail -n 20 "${RUN}/cdc.log" >&2; die "the cdc exited (log: ${RUN}/cdc.log)"; }

step "4/5 The cdc catches up; verify proves DynamoDB equal to MySQL"
for _ in $(seq 1 60); do
    status=$("${BIN}" cdc status)
    grep -q "^lag: *0 transactions" <<<"${status}" && break
    sleep 0.5
done
echo "${status}"
curl -fsS http://127.0.0.1:9102/metrics | grep -E '^strangler_cdc_(changes_total|events_published_total|lag_seconds|items_written_total|dead_letters_total)' || true
"${BIN}" migrate verify

step "5/5 What downstream heard: synchronous calls from the monolith, and events from the bus"
sleep 2 # the bus delivers asynchronously
stats=$(curl -fsS -H "Authorization: Bearer ${DEMO_DOWNSTREAM_TOKEN:-dev-admin-token}" "http://${DOWNSTREAM_ADDR}/admin/stats")
echo "${stats}"
say "order events received by downstream: $(jq -r '.events.received' <<<"${stats}" 2>/dev/null || echo '?'), duplicates dropped: $(jq -r '.events.duplicates' <<<"${stats}" 2>/dev/null || echo '?')"
unreported=$(curl -fsS "http://${LEGACY_ADDR}/metrics" | awk '/^legacy_orders_unreported_total/ {print $2}')
say "orders stored but unreported to downstream by the monolith: ${unreported:-0} (the events carry every change)"
rows=$(mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"${STACK_MYSQL_PORT:-3307}" -ustrangler -N \
    -e "SELECT COUNT(*) FROM \`${DB}\`.orders")
say "orders in the legacy table: ${rows}"
say "done in $(( $(date +%s) - started )) s"
