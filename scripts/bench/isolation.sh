#!/usr/bin/env bash
# scripts/bench/isolation.sh [rows] — the proxy never makes legacy worse
# (issue 15, item 4).
#
# On the local stack (scripts/stack.sh up), in one run:
#   1. a private database bench_iso_<rows> seeded with <rows> orders (kept
#      between runs), the legacy service on it, the downstream sink, and the
#      proxy in front of legacy with EVERY route on legacy, its routing state
#      and idempotency pins in a fresh control table on DynamoDB Local;
#   2. an unthrottled backfill (backfill.max_wcu 0, 4 workers, transact) of
#      that table into DynamoDB Local, which saturates the one-core JVM that
#      also holds the proxy's pins;
#   3. while the backfill runs, two open-loop streams of creates at RATE/s each
#      for DURATION s, at the same time, one through the proxy and one direct
#      to legacy, each create with its own Idempotency-Key (the proxy pins
#      every such key in the control table), client timeout 10 s.
# It prints p50/p99/max of both, the ratio proxy/direct (target: p99 ratio
# <= 1.2, and 0 timeouts), the proxy's pin outcomes (ok / fail_open), and
# whether the backfill was still running when the measurement ended (if not,
# DynamoDB Local was not saturated throughout and the run says so).
#
# Knobs (env): RATE=25 (creates/s per stream), DURATION=30, WORKERS=4,
#   WRITE_CONCURRENCY=8, KEEP=1 keeps the work dir. Ports 18180-18190.
set -euo pipefail

ROWS=${1:-150000}
RATE=${RATE:-25}
DURATION=${DURATION:-30}
WORKERS=${WORKERS:-4}
WRITE_CONCURRENCY=${WRITE_CONCURRENCY:-8}
MYSQL_PORT=${STACK_MYSQL_PORT:-3307}
DDB=http://127.0.0.1:${STACK_DYNAMODB_PORT:-8000}
LEGACY=127.0.0.1:18180 PROXY=127.0.0.1:18188 ADMIN=127.0.0.1:18189 DOWNSTREAM=127.0.0.1:18181

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/strangler-isolation-bench.XXXXXX)
TS=$(date +%s)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] && echo "bench: work dir kept: $WORK" >&2 && return
	rm -rf "$WORK"
}
trap cleanup EXIT
say() { echo "bench: $(date -u +%T) $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

curl -s -o /dev/null "$DDB" || die "DynamoDB Local not reachable at $DDB (scripts/stack.sh up)"
sqlc() { mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$MYSQL_PORT" -ustrangler -pstrangler --default-character-set=utf8mb4 "$@"; }
sqlc -e 'SELECT 1' >/dev/null 2>&1 || die "MariaDB not reachable on :$MYSQL_PORT (scripts/stack.sh up)"
for a in $LEGACY $PROXY $ADMIN $DOWNSTREAM; do
	! curl -s -o /dev/null "http://$a/" || die "something already listens on $a"
done

say "building"
(cd "$ROOT" && go build -o "$WORK/strangler" ./cmd/strangler && go build -o "$WORK/openloop" ./scripts/bench/openloop)
BIN=$WORK/strangler

DB=bench_iso_$ROWS
DSN="strangler:strangler@tcp(127.0.0.1:$MYSQL_PORT)/$DB"
have=$(sqlc -N -B -e "SELECT COUNT(*) FROM \`$DB\`.orders" 2>/dev/null || echo 0)
[ "$have" -ge "$ROWS" ] || sqlc -e "DROP DATABASE IF EXISTS \`$DB\`; CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4"

# start <name> <health url> cmd…: runs cmd in the background, logs to WORK/<name>.log,
# and waits (at most 30 s) until the health URL answers 200.
start() {
	local name=$1 url=$2
	shift 2
	"$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	local pid=$!
	for _ in $(seq 1 300); do
		curl -sf -o /dev/null "$url" && return 0
		kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$name.log" >&2; die "$name exited"; }
		sleep 0.1
	done
	die "$name did not answer $url within 30 s"
}

CTL=bench_iso_ctl_$TS TABLE=bench_iso_orders_$TS
start downstream "http://$DOWNSTREAM/healthz" "$BIN" dev downstream --listen "$DOWNSTREAM"
STRANGLER_LEGACY_MYSQL_DSN="$DSN" STRANGLER_LEGACY_DOWNSTREAM_INVENTORY_URL="http://$DOWNSTREAM/inventory" \
	STRANGLER_LEGACY_DOWNSTREAM_ACCOUNTING_URL="http://$DOWNSTREAM/accounting" \
	start legacy "http://$LEGACY/readyz" "$BIN" legacy serve --listen "$LEGACY"
if [ "$have" -lt "$ROWS" ]; then # legacy serve has created and migrated the table
	say "seeding $ROWS orders into $DB"
	STRANGLER_LOADGEN_MYSQL_DSN="$DSN" "$BIN" loadgen --seed-orders "$ROWS" >"$WORK/seed.log" 2>&1
fi
ADMIN_TOKEN=bench-isolation-admin-$TS
cat >"$WORK/proxy.yaml" <<EOF
listen: $PROXY
admin: {listen: $ADMIN, token: $ADMIN_TOKEN}
backends: {legacy: "http://$LEGACY", new: "http://127.0.0.1:18187"}
health: {path: /readyz, interval: 1s, timeout: 5s, unhealthy_after: 5, healthy_after: 2}
control: {table: $CTL, name: bench, poll: 1s}
routes:
  - {name: get-order, match: "GET /v1/orders/{id}", mode: legacy, sticky: "path:id"}
  - {name: list-orders, match: "GET /v1/orders", mode: legacy, sticky: "query:customer_id"}
  - {name: create-order, match: "POST /v1/orders", mode: legacy, sticky: "body:customer_id"}
  - {name: cancel-order, match: "POST /v1/orders/{id}/cancel", mode: legacy, sticky: "path:id"}
  - {name: update-order, match: "PATCH /v1/orders/{id}", mode: legacy, sticky: "path:id"}
EOF
start proxy "http://$PROXY/healthz" env STRANGLER_PROXY_DYNAMODB_URL="$DDB" "$BIN" proxy serve --config "$WORK/proxy.yaml"

cat >"$WORK/create.json" <<'EOF'
{"customer_id":"CUST-ISO-1","currency":"USD","items":[{"sku":"SKU-ISO-1","name":"Widget","quantity":2,"unit_price":"9.99"}],
 "shipping_address":{"name":"Iso Bench","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"},"notes":"isolation bench"}
EOF
create() { # create <base url> <key prefix>: one open-loop stream of keyed creates
	"$WORK/openloop" -url "$1/v1/orders" -body "$WORK/create.json" -ok 201 -rate "$RATE" -duration "${DURATION}s" \
		-conns 64 -timeout 10s -header "Authorization: Bearer retail-demo-key" -header "Idempotency-Key: $2-$TS-{n}"
}
say "warming both paths (2 s each)"
DURATION=2 create "http://$PROXY" warm-proxy >/dev/null
DURATION=2 create "http://$LEGACY" warm-direct >/dev/null

say "backfill of $ROWS rows into DynamoDB Local, unthrottled ($WORKERS workers x $WRITE_CONCURRENCY calls, max_wcu 0)"
export STRANGLER_MIGRATOR_MYSQL_DSN="$DSN" STRANGLER_MIGRATOR_DYNAMODB_URL="$DDB" STRANGLER_MIGRATOR_TABLE="$TABLE" \
	STRANGLER_MIGRATOR_CONTROL_TABLE="$CTL" STRANGLER_MIGRATOR_METRICS_LISTEN=127.0.0.1:18190 STRANGLER_MIGRATOR_BACKFILL_MAX_WCU=0 \
	STRANGLER_MIGRATOR_BACKFILL_WORKERS="$WORKERS" STRANGLER_MIGRATOR_BACKFILL_WRITE_CONCURRENCY="$WRITE_CONCURRENCY"
"$BIN" migrate init --log-format text >"$WORK/init.log" 2>&1
"$BIN" migrate backfill --write-mode transact --log-format text >"$WORK/backfill.log" 2>&1 &
BACKFILL=$!
PIDS+=($BACKFILL)
# Measure once the backfill's first chunks are written (it has saturated DynamoDB Local).
for _ in $(seq 1 600); do
	grep -q 'backfill progress' "$WORK/backfill.log" && break
	kill -0 $BACKFILL 2>/dev/null || { tail -20 "$WORK/backfill.log" >&2; die "the backfill exited before measuring"; }
	sleep 0.1
done
DDB_PID=$(pgrep -f DynamoDBLocal.jar | head -1 || true)
DDB_PID=${DDB_PID:-0}
ddb_ticks() { awk '{print $14+$15}' "/proc/$DDB_PID/stat" 2>/dev/null || echo 0; }
d0=$(ddb_ticks) t0=$(date +%s.%N)
say "measuring: ${RATE} creates/s through the proxy and ${RATE}/s direct to legacy, at once, for ${DURATION}s"
create "http://$PROXY" proxy >"$WORK/proxy.out" &
P1=$!
create "http://$LEGACY" direct >"$WORK/direct.out" &
P2=$!
wait $P1 $P2
d1=$(ddb_ticks) t1=$(date +%s.%N)
running=yes
kill -0 $BACKFILL 2>/dev/null || running=no
pins=$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "http://$ADMIN/metrics" | grep '^proxy_idempotency_pins_total' || true)
progress=$(grep 'backfill progress' "$WORK/backfill.log" | tail -1 | grep -o 'rows_done=.*eta=[^ ]*')

field() { awk -v k="$1" '{for(i=1;i<=NF;i++) if($i==k){v=$(i+1); sub(/ms/,"",v); print v}}' "$2"; }
echo
printf '%-8s %8s %7s %9s %10s %10s %10s\n' path sent errors timeouts p50_ms p99_ms max_ms
for p in proxy direct; do
	printf '%-8s %8s %7s %9s %10s %10s %10s\n' "$p" "$(field sent "$WORK/$p.out")" "$(field errors "$WORK/$p.out")" \
		"$(field timeouts "$WORK/$p.out")" "$(field p50 "$WORK/$p.out")" "$(field p99 "$WORK/$p.out")" "$(field max "$WORK/$p.out")"
done
awk -v a="$(field p50 "$WORK/proxy.out")" -v b="$(field p50 "$WORK/direct.out")" \
	-v c="$(field p99 "$WORK/proxy.out")" -v d="$(field p99 "$WORK/direct.out")" \
	'BEGIN {printf "ratio proxy/direct: p50 %.2f  p99 %.2f  (target: p99 <= 1.2, 0 timeouts)\n", a/b, c/d}'
awk -v dt="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b-a}')" -v dc=$((d1 - d0)) -v tick="$(getconf CLK_TCK)" \
	'BEGIN {printf "DynamoDB Local CPU during the measurement: %.2f cores\n", dc/tick/dt}'
echo "backfill still running at the end: $running (its last progress: ${progress:-none})"
echo "proxy pins: $(echo "$pins" | tr '\n' ' ')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$running" = yes ] || echo "warning: the backfill finished inside the window: raise rows or lower DURATION" >&2
