#!/usr/bin/env bash
# scripts/demo.sh — the whole migration, told on the local stack.
# Run it through `make demo` (which brings the stack up and builds bin/strangler).
#
#   1. the legacy monolith, its downstream services, and DEMO_SEED_ORDERS (100000)
#      historical orders in its MySQL table
#   2. the new side: DynamoDB tables (migrate init, orders init), strangler doctor (a failed
#      check stops the demo with its report), the cdc (from the
#      position read before the backfill), the new order service, its processor and
#      outbox relay, the sync-back consumer, and the strangler proxy in front of both
#   3. load on the proxy (DEMO_RATE ops/s until the end) while the backfill copies the
#      table with guarded writes next to the cdc
#   4. shadow reads: legacy answers, the new service gets a copy, diffs are reported
#   5. a progressive plan ramps reads 1 -> 100 % to the new service
#   6. a progressive plan ramps the write group (create, cancel, update together) 1 -> 100 %,
#      raised only while the cdc keeps up; one injected failure of the new
#      service breaks the SLO, the plan rolls back on its own, and is then resumed
#   7. the load stops; cdc, relay and sync-back drain; verify proves DynamoDB equal
#      to MySQL; every order the load generator got a 201 for exists in both stores
#      with the same content; downstream event counts
#   8. one create's trace: `strangler dev trace` runs proxy, order service, relay, a bus,
#      the processor and the downstream stand-ins in one process over loopback HTTP (fresh
#      tables in DynamoDB Local), sends one create and prints its span tree from an
#      in-memory exporter; then a one-screen summary
#
# Knobs: DEMO_SEED_ORDERS, DEMO_RATE, DEMO_BAKE (each plan step's bake time),
# DEMO_MIN_REQUESTS (per step before the SLO is judged), DEMO_SHADOW (seconds of shadow),
# DEMO_BACKFILL_WCU (the backfill's write units a second; 0 is unthrottled).
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN="${BIN:-${REPO}/bin/strangler}"
RUN="${REPO}/.stack/demo"
SEED="${DEMO_SEED_ORDERS:-100000}"
RATE="${DEMO_RATE:-200}"
BAKE="${DEMO_BAKE:-4s}"
MIN_REQUESTS="${DEMO_MIN_REQUESTS:-5}"
SHADOW_SECONDS="${DEMO_SHADOW:-8}"
BACKFILL_WCU="${DEMO_BACKFILL_WCU:-1600}"
STEPS="${DEMO_STEPS:-1,5,25,50,100}"
MYSQL_PORT="${STACK_MYSQL_PORT:-3307}"
# The demo runs its own event bus (configs/eventbus.yaml's rules, fresh queues each run):
# deliveries an earlier run left queued never reach this run's consumers.
EVENTBUS=127.0.0.1:${DEMO_EVENTBUS_PORT:-4011}
EVENTBUS_URL="http://${EVENTBUS}"
DYNAMODB_URL="http://127.0.0.1:${STACK_DYNAMODB_PORT:-8000}"
DB="${DEMO_DATABASE:-strangler_demo}"
# The bus delivers to fixed addresses (configs/eventbus.yaml): downstream :8091,
# the processor :8083 and the sync-back :8084.
LEGACY=127.0.0.1:8080 NEW=127.0.0.1:8081 PROXY=127.0.0.1:8088 ADMIN=127.0.0.1:8089
PROCESSOR=127.0.0.1:8083 SYNCBACK=127.0.0.1:8084 DOWNSTREAM=127.0.0.1:8091 CONSOLE=127.0.0.1:8095
ADMIN_TOKEN="demo-admin-token-0123456789"
NEW_ADMIN_TOKEN="demo-orders-admin-token"
DOWNSTREAM_TOKEN="${DEMO_DOWNSTREAM_TOKEN:-dev-admin-token}"
export MYSQL_PWD=strangler
# The local stack: its demo credentials (configs/*.yaml) are accepted (internal/config DevEnv).
export STRANGLER_DEV=1

bold() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf 'demo: %s\n' "$*"; }
die() {
    printf 'demo: error: %s\n' "$*" >&2
    exit 1
}
sql() { mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"${MYSQL_PORT}" -ustrangler -N "$@"; }
route() { "${BIN}" route --admin-url "http://${ADMIN}" --token "${ADMIN_TOKEN}" "$@"; }
admin_json() { curl -fsS -H "Authorization: Bearer ${ADMIN_TOKEN}" "http://${ADMIN}$1"; }

[[ -x "${BIN}" ]] || die "${BIN} is missing: run 'make demo' (it builds it)"
command -v jq >/dev/null || die "jq is missing: run 'make demo' (scripts/stack.sh up installs it)"
command -v aws >/dev/null || die "the aws CLI is missing: run 'make demo' (scripts/stack.sh up installs it)"
rm -rf -- "${RUN}"
mkdir -p -- "${RUN}"
cd "${REPO}"
started=$(date +%s)

pids=()
load_pid=""
cleanup() {
    [[ -n "${load_pid}" ]] && kill -INT "${load_pid}" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
}
trap cleanup EXIT

# start NAME URL CMD... — run a service in the background, log to .stack/demo/NAME.log, wait for URL.
start() {
    local name=$1 url=$2
    shift 2
    "$@" >"${RUN}/${name}.log" 2>&1 &
    local pid=$!
    pids+=("${pid}")
    for _ in $(seq 1 300); do
        if ! kill -0 "${pid}" 2>/dev/null; then
            tail -n 20 "${RUN}/${name}.log" >&2
            die "${name} exited during start (log: ${RUN}/${name}.log)"
        fi
        if curl -fsS -o /dev/null "${url}" 2>/dev/null; then
            say "${name} ready (log: .stack/demo/${name}.log)"
            return 0
        fi
        sleep 0.1
    done
    die "${name} was not ready in 30 s (log: ${RUN}/${name}.log)"
}

# alive NAME... — fail loudly when a background service died.
alive() {
    local i
    for i in "${!pids[@]}"; do
        kill -0 "${pids[$i]}" 2>/dev/null || die "a background service (pid ${pids[$i]}) exited: see the logs in ${RUN}"
    done
}

# plans_state ROUTE... — "route=state@weight" for each route.
plans_state() {
    local json
    json=$(admin_json /admin/routes)
    local r
    for r in "$@"; do
        jq -r --arg r "${r}" '(.routes[], .groups[]?) | select(.name == $r) |
            "\(.name)=\(.plan.state // "none")@\(.state.weight)%"' <<<"${json}"
    done | paste -sd' '
}

# drive_plans TIMEOUT ROUTE... — print progress until every route's plan is done. A plan
# that rolls back is resumed, as an operator would once the cause is understood, with
# the reason printed (at most 5 times in all: more means the new service is unwell).
resumes=0
drive_plans() {
    local timeout=$1 deadline line r state
    shift
    deadline=$(($(date +%s) + timeout))
    while :; do
        alive
        line=$(plans_state "$@")
        printf '  %s  %s\n' "$(date +%T)" "${line}"
        local all=1
        for r in "$@"; do
            grep -q "${r}=done@" <<<"${line}" || all=0
            if grep -q "${r}=rolled_back@" <<<"${line}"; then
                ((resumes < 5)) || die "plans keep rolling back: ${line} (see ${RUN}/orders.log and 'route history')"
                resumes=$((resumes + 1))
                say "${r} rolled back on its own: $(admin_json /admin/routes | jq -r --arg r "${r}" '(.routes[], .groups[]?) | select(.name == $r) | .plan.reason')"
                route plan "${r}" resume --actor demo --reason "demo: resume after the fault"
            fi
        done
        ((all)) && return 0
        (($(date +%s) < deadline)) || die "plans did not finish within ${timeout}s: ${line}"
        sleep 2
    done
}

# wait_state STATE TIMEOUT ROUTE — wait until ROUTE's plan is in STATE.
wait_state() {
    local want=$1 timeout=$2 r=$3 deadline line
    deadline=$(($(date +%s) + timeout))
    while :; do
        alive
        line=$(plans_state "${r}")
        printf '  %s  %s\n' "$(date +%T)" "${line}"
        grep -q "${r}=${want}@" <<<"${line}" && return 0
        (($(date +%s) < deadline)) || die "${r} did not reach ${want} within ${timeout}s: ${line}"
        sleep 1
    done
}

for addr in "${LEGACY}" "${NEW}" "${PROXY}" "${ADMIN}" "${PROCESSOR}" "${SYNCBACK}" "${DOWNSTREAM}" "${EVENTBUS}" "${CONSOLE}"; do
    if curl -s -o /dev/null "http://${addr}/healthz" 2>/dev/null; then
        die "something already answers on ${addr}: stop it (an earlier demo?) first"
    fi
done

# DynamoDB Local keeps every table in memory: drop the tables of earlier demos.
old_tables=$(AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo aws --endpoint-url "${DYNAMODB_URL}" --region us-east-1 \
    dynamodb list-tables --output json | jq -r '.TableNames[] | select(startswith("demo_"))')
for t in ${old_tables}; do
    AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo aws --endpoint-url "${DYNAMODB_URL}" --region us-east-1 \
        dynamodb delete-table --table-name "${t}" >/dev/null
done
[[ -z "${old_tables}" ]] || say "dropped $(wc -w <<<"${old_tables}") DynamoDB tables of earlier demos"
suffix=$(date +%s)
TABLE="demo_orders_${suffix}" CONTROL="demo_control_${suffix}" SERVICE="demo_service_${suffix}"
DSN="strangler:strangler@tcp(127.0.0.1:${MYSQL_PORT})/${DB}"

bold "1/8 The legacy monolith: a fresh database '${DB}', ${SEED} historical orders, downstream services, the event bus"
sql -e "DROP DATABASE IF EXISTS \`${DB}\`; CREATE DATABASE \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
start eventbus "${EVENTBUS_URL}/healthz" "${BIN}" dev eventbus --log-format json --listen "${EVENTBUS}" \
    --archive-path "${RUN}/eventbus-archive.jsonl" --dead-letter-path "${RUN}/eventbus-dead-letters.jsonl"
start downstream "http://${DOWNSTREAM}/healthz" \
    "${BIN}" dev downstream --log-format json --listen "${DOWNSTREAM}"
STRANGLER_LEGACY_MYSQL_DSN="${DSN}" \
    STRANGLER_LEGACY_DOWNSTREAM_INVENTORY_URL="http://${DOWNSTREAM}/inventory" \
    STRANGLER_LEGACY_DOWNSTREAM_ACCOUNTING_URL="http://${DOWNSTREAM}/accounting" \
    start legacy "http://${LEGACY}/readyz" \
    "${BIN}" legacy serve --log-format json --listen "${LEGACY}"
STRANGLER_LOADGEN_MYSQL_DSN="${DSN}" "${BIN}" loadgen --log-format text --seed-orders "${SEED}"

bold "2/8 The new side: DynamoDB tables, cdc, the new order service, relay, processor, sync-back, proxy"
export STRANGLER_MIGRATOR_MYSQL_DSN="${DSN}" STRANGLER_MIGRATOR_TABLE="${TABLE}" \
    STRANGLER_MIGRATOR_CONTROL_TABLE="${CONTROL}" STRANGLER_MIGRATOR_METRICS_LISTEN=""
export STRANGLER_CDC_MYSQL_DSN="cdc:cdc@tcp(127.0.0.1:${MYSQL_PORT})/${DB}" \
    STRANGLER_CDC_TABLE="${TABLE}" STRANGLER_CDC_CONTROL_TABLE="${CONTROL}" STRANGLER_CDC_EVENTBRIDGE_URL="${EVENTBUS_URL}"
export STRANGLER_ORDERS_TABLE="${TABLE}" STRANGLER_ORDERS_SERVICE_TABLE="${SERVICE}" \
    STRANGLER_ORDERS_ADMIN_TOKEN="${NEW_ADMIN_TOKEN}"
export STRANGLER_RELAY_TABLE="${SERVICE}" STRANGLER_RELAY_EVENTBRIDGE_URL="${EVENTBUS_URL}"
export STRANGLER_SYNCBACK_MYSQL_DSN="${DSN}"
export STRANGLER_PROXY_CONTROL_TABLE="${CONTROL}" STRANGLER_PROXY_ADMIN_TOKEN="${ADMIN_TOKEN}"
"${BIN}" migrate init --log-format text
"${BIN}" orders init --log-format text
# Before the first row moves: the source, the table, the tables and the bus, as the
# backfill (at its max_wcu) and the cdc will use them. A failed check stops the demo.
say "strangler doctor: will the migration work?"
if ! STRANGLER_MIGRATOR_BACKFILL_MAX_WCU="${BACKFILL_WCU}" "${BIN}" doctor --format aligned >"${RUN}/doctor.out" 2>&1; then
    cat "${RUN}/doctor.out" >&2
    die "strangler doctor found a check that fails (above, and in .stack/demo/doctor.out): fix it, then run the demo again"
fi
cat "${RUN}/doctor.out"
from=$(sql -e "SELECT @@gtid_binlog_pos")
"${BIN}" cdc run --from "${from}" --log-format json --metrics-listen 127.0.0.1:9102 >"${RUN}/cdc.log" 2>&1 &
pids+=($!)
say "cdc streaming after ${from} (log: .stack/demo/cdc.log)"
start orders "http://${NEW}/readyz" "${BIN}" orders serve --log-format json --listen "${NEW}"
start processor "http://${PROCESSOR}/healthz" "${BIN}" orders process --log-format json --listen "${PROCESSOR}"
"${BIN}" orders relay --log-format json >"${RUN}/relay.log" 2>&1 &
pids+=($!)
say "outbox relay publishing (log: .stack/demo/relay.log)"
start syncback "http://${SYNCBACK}/healthz" "${BIN}" syncback serve --log-format json --listen "${SYNCBACK}"
cat >"${RUN}/proxy.yaml" <<EOF
listen: ${PROXY}
admin:
  listen: ${ADMIN}
  token: ${ADMIN_TOKEN}
backends:
  legacy: http://${LEGACY}
  new: http://${NEW}
health: {path: /readyz, interval: 1s, timeout: 5s, unhealthy_after: 5, healthy_after: 2}
circuit: {window: 10s, min_requests: 20, max_error_ratio: 0.5, open_for: 5s, probes: 5}
control: {table: ${CONTROL}, name: demo, poll: 1s}
routes:
  - {name: get-order, match: "GET /v1/orders/{id}", mode: legacy, sticky: "path:id",
     shadow: {ignore_fields: [], samples: 3}}
  - {name: list-orders, match: "GET /v1/orders", mode: legacy, sticky: "query:customer_id"}
  - {name: create-order, match: "POST /v1/orders", sticky: "body:customer_id"}
  - {name: cancel-order, match: "POST /v1/orders/{id}/cancel", sticky: "path:id"}
  - {name: update-order, match: "PATCH /v1/orders/{id}", sticky: "path:id"}
# One writer per order: the write routes move together, raised only while the cdc keeps up.
write_groups:
  - {name: order-writes, routes: [create-order, cancel-order, update-order], mode: legacy,
     cdc_status: "http://127.0.0.1:9102/status", max_cdc_lag: 10s}
EOF
start proxy "http://${PROXY}/healthz" "${BIN}" proxy serve --config "${RUN}/proxy.yaml" --log-format json
# The operator console (configs/console.yaml: the cdc's and sync-back's addresses above).
start console "http://${CONSOLE}/healthz" env STRANGLER_CONSOLE_PROXY_TOKEN="${ADMIN_TOKEN}" \
    STRANGLER_CONSOLE_MIGRATION_CONTROL_TABLE="${CONTROL}" STRANGLER_CONSOLE_MIGRATION_TABLE="${TABLE}" \
    "${BIN}" console --listen "${CONSOLE}" --admin-url "http://${ADMIN}" --log-format json
say "console: http://${CONSOLE} (log in with the admin token ${ADMIN_TOKEN})"

bold "3/8 Load on the proxy (${RATE} ops/s until the end) while the backfill copies ${SEED} rows next to the cdc"
"${BIN}" loadgen --base-url "http://${PROXY}" --rate "${RATE}" --duration 30m --report-every 10s \
    --created-out "${RUN}/created.txt" >"${RUN}/loadgen.out" 2>&1 &
load_pid=$!
say "load running (progress: .stack/demo/loadgen.out)"
# Two workers with two write calls each, held to DEMO_BACKFILL_WCU write units a second
# (backfill.max_wcu, about 800 orders/s), as an operator throttles a backfill to protect live
# traffic: DynamoDB Local is one process, about one core, that the proxy's idempotency pins and
# routing state, the new service and the cdc share. Unthrottled (about 1,150 orders/s) it
# saturated: a single PutItem waited 2-9 s, and the load's creates (each pins its
# Idempotency-Key there) reached a 7 s p95 with about 100 timeouts at 10 s.
if [[ "${BACKFILL_WCU}" != 0 ]]; then
    say "backfill throttled to ${BACKFILL_WCU} write units/s (backfill.max_wcu) so the live path keeps its share of DynamoDB Local"
fi
STRANGLER_MIGRATOR_BACKFILL_MAX_WCU="${BACKFILL_WCU}" STRANGLER_MIGRATOR_BACKFILL_WRITE_CONCURRENCY=2 \
    "${BIN}" migrate backfill --write-mode transact --workers 2 --log-format text
alive
# The cdc carried the load's writes next to the backfill, on the same DynamoDB Local:
# let it catch up (its last checkpointed commit at most a second old) before comparing.
for _ in $(seq 1 120); do
    "${BIN}" cdc status | grep -Eq '^lag: +0 transactions|checkpointed commit [01]s ago' && break
    sleep 0.5
done
say "cdc: $("${BIN}" cdc status | grep '^lag:')"

bold "4/8 Shadow reads for ${SHADOW_SECONDS}s: legacy answers, the new service gets a copy, the proxy compares"
route set get-order --mode shadow --reason "demo: shadow reads after the backfill"
sleep "${SHADOW_SECONDS}"
admin_json /admin/diffs | jq -r '.routes[] | "  \(.route): \(.compared) compared, \(.mismatched) mismatched (rate \(.mismatch_rate)), \(.dropped) dropped, \(.errors) errors" ,
    (.fields[]? | select(.reported) | "    field \(.field): mismatch rate \(.mismatch_rate) vs legacy noise \(.noise_rate)")'
say "expected mismatches: orders changed moments before their copy reached the new service, before the cdc carried the change (a 404 problem, or an older status, version and updated_at); any other field would be a real difference"
shadow_line=$(admin_json /admin/diffs | jq -r '[.routes[] | "\(.compared) compared, \(.mismatched) mismatched"] | join("; ")')

bold "5/8 A progressive plan ramps reads ${STEPS} % (bake ${BAKE} a step, SLO: new's 5xx <= 2 %, p99 <= 5 s)"
plan_flags=(--steps "${STEPS}" --bake "${BAKE}" --max-5xx 0.02 --max-p99 5s --min-requests "${MIN_REQUESTS}" --actor demo --reason "demo: ramp the canary")
for r in get-order list-orders; do
    route set "${r}" --mode canary --weight 0 --reason "demo: canary reads"
    route plan "${r}" start "${plan_flags[@]}"
done
drive_plans 300 get-order list-orders

bold "6/8 A progressive plan ramps writes ${STEPS} % (one write group: create, cancel, update); the new service will fail once on the way"
writes=(order-writes)
for r in "${writes[@]}"; do
    route set "${r}" --mode canary --weight 0 --reason "demo: canary writes"
    route plan "${r}" start "${plan_flags[@]}"
done
# Once order-writes' plan is past its first step (25 % with the default steps) and
# still running, make the new service fail: the plan must see it before it finishes.
deadline=$(($(date +%s) + 300)) shown=0
while :; do
    alive
    read -r state step weight < <(admin_json /admin/routes |
        jq -r '.groups[] | select(.name == "order-writes") | "\(.plan.state) \(.plan.step) \(.state.weight)"')
    [[ "${state}" == running && "${step}" -ge 2 ]] && break
    [[ "${state}" == running && "${step}" -ge 1 && "${STEPS}" != *,*,*,* ]] && break # short plans: the second step
    [[ "${state}" == done ]] && die "order-writes' plan finished before the failure could be injected: use a longer DEMO_BAKE"
    if (($(date +%s) >= shown + 2)); then
        printf '  %s  %s\n' "$(date +%T)" "$(plans_state "${writes[@]}")"
        shown=$(date +%s)
    fi
    (($(date +%s) < deadline)) || die "order-writes' plan did not get past its first step in 300 s"
    sleep 0.2
done
say "order-writes at ${weight} %: injecting a failure: the new order service answers 503 to every order call"
curl -fsS -X PUT -H "Authorization: Bearer ${NEW_ADMIN_TOKEN}" -H 'Content-Type: application/json' \
    -d '{"error_ratio": 1}' "http://${NEW}/admin/faults" >/dev/null
wait_state rolled_back 120 order-writes
why=$(admin_json /admin/routes | jq -r '.groups[] | select(.name == "order-writes") | .plan.reason')
say "automatic rollback of order-writes: ${why}"
curl -fsS -X DELETE -H "Authorization: Bearer ${NEW_ADMIN_TOKEN}" "http://${NEW}/admin/faults" >/dev/null
say "failure cleared; the operator resumes the plans that rolled back"
sleep 2
drive_plans 300 "${writes[@]}" get-order list-orders
route list

bold "7/8 The load stops; cdc, relay and sync-back drain; the two stores are proven equal"
kill -INT "${load_pid}"
wait "${load_pid}" || die "the load generator failed (see ${RUN}/loadgen.out)"
load_pid=""
tail -n 14 "${RUN}/loadgen.out"
for _ in $(seq 1 120); do
    status=$("${BIN}" cdc status)
    grep -q "^lag: *0 transactions" <<<"${status}" && break
    sleep 0.5
done
sleep 3 # the bus delivers to the processor and the sync-back asynchronously
alive
verify_out="${RUN}/verify.out"
"${BIN}" migrate verify --log-format text | tee "${verify_out}"
lost_out="${RUN}/lost.out"
"${BIN}" migrate verify --log-format text --ids "${RUN}/created.txt" | tee "${lost_out}"
stats=$(curl -fsS -H "Authorization: Bearer ${DOWNSTREAM_TOKEN}" "http://${DOWNSTREAM}/admin/stats")
rows=$(sql -e "SELECT COUNT(*), SUM(order_ref IS NOT NULL) FROM \`${DB}\`.orders")
created=$(wc -l <"${RUN}/created.txt")
rollbacks=$(admin_json /admin/routes | jq '[(.routes[], .groups[]?).plan.history[]? | select(.action == "rollback")] | length')

bold "8/8 One create's trace: proxy -> order service -> relay -> bus -> processor and downstream"
trace_out="${RUN}/trace.out"
"${BIN}" dev trace --dynamodb-url "${DYNAMODB_URL}" --legacy-url "http://${LEGACY}" --log-level error | tee "${trace_out}"

elapsed=$(($(date +%s) - started))
printf '\n\033[1m%s\033[0m\n' "──────────────────────────── migration summary ────────────────────────────"
printf '  historical orders seeded     %s\n' "${SEED}"
printf '  orders in MySQL              %s (of which written by the new service and synced back: %s)\n' "$(cut -f1 <<<"${rows}")" "$(cut -f2 <<<"${rows}")"
printf '  orders created under load    %s (every 201 the load generator got)\n' "${created}"
printf '  shadow reads                 %s\n' "${shadow_line}"
printf '  routes                       %s\n' "$(plans_state get-order list-orders order-writes)"
printf '  load through the proxy       %s\n' "$(grep -E '^open loop' "${RUN}/loadgen.out" | sed -E 's/; skipped.*//')"
# The final table's create row: op count ops/s p50 p95 p99 max errors 4xx 5xx net timeout other.
printf '  creates                      %s\n' "$(awk '$1 == "create" && NF == 13 { c = $2 " sent, " $12 " timed out, p95 " $5 ", p99 " $6 } END { print c }' "${RUN}/loadgen.out")"
printf '  automatic rollbacks          %s (SLO breaches, the injected failure among them; each resumed by the operator)\n' "${rollbacks}"
printf '  verify (MySQL = DynamoDB)    %s\n' "$(tail -n 1 "${verify_out}")"
printf '  lost orders                  %s\n' "$(tail -n 1 "${lost_out}")"
printf '  downstream events            %s\n' "$(jq -c '.events' <<<"${stats}")"
printf '  one create traced            %s\n' "$(tail -n 1 "${trace_out}")"
printf '  total time                   %d s\n' "${elapsed}"
printf '\033[1m%s\033[0m\n' "───────────────────────────────────────────────────────────────────────────"
printf '  console                      http://%s (admin token %s)\n' "${CONSOLE}" "${ADMIN_TOKEN}"
# On a terminal the demo's parts stay up for the console until Enter; without one it ends here.
if [ -t 0 ]; then
    printf 'demo: the console stays up at http://%s: press Enter to stop the demo\n' "${CONSOLE}"
    read -r _ || true
fi
