#!/usr/bin/env bash
# scripts/bench/cdc.sh — the cdc against its read and sink ceilings, in one run.
#
#   (a) decode  raw go-mysql decode of a 200,000-row-change binlog (the read ceiling)
#   (b) sink    bare SDK writers of the cdc's write kinds (the SDK's own request
#               encoders): guarded TransactWriteItems and PutEvents of 10, each
#               alone and then both at once (every change is one item and one
#               event: "both" is the ceiling of the engine's write kind), into null endpoints (scripts/bench/nullddb
#               discarding the orders table + a discarding PutEvents server) and
#               into DynamoDB Local + the devstack bus (the sink ceiling). The
#               DynamoDB writer is the bare SDK (TransactWriteItems of 100
#               guarded puts, the engine's 16 calls in flight) writing the items
#               the engine writes: every order of the prepared workload encoded
#               by the codec (nested items and shipping_address), built before
#               the clock starts, written in rounds with newer src_pos numbers.
#               (Until 2026-11-22 it wrote six small attributes per item through
#               the project's guard.Writer: not the engine's items.)
#   (c) engine  cdc.Run over the same binlog into the null endpoints
#   (d) engine  the same into DynamoDB Local and the devstack bus, on the same
#               workload and on a hot-key one (HOT_ORDERS orders updated over and
#               over: newest-image coalescing per batch beats the per-item ceiling)
#   (e) lag     commit-to-delivery at a downstream HTTP target behind the bus,
#               p50/p99, open loop at 500 and 1,000 changes/s
#
# Needs the local stack (scripts/stack.sh up): MariaDB and DynamoDB Local. The
# bus runs in-process (the devstack bus code, a target of the benchmark's own).
# Each (c)/(d) figure is printed with its paired reference and the ratio
# (RATIO lines), and each part with the load average it ran under; results
# also carry CPU microseconds per change, steadier than rates on a shared box.
# Since issue 13 the engine and the references alike go through the SDK's
# own request encoders, and a row takes one codec path (canonical row ->
# attribute values + an event detail encoded by encoding/json); (d) prints
# the engine's CPU per change beside its figure before issue 13
# (CPU_BEFORE_US, 42 us) and the rise. The DynamoDB tables a run creates
# are deleted when it ends (the shared stack's DynamoDB Local is in memory).
# Knobs (env): ORDERS=20000 ROUNDS=9 (200k changes), HOT_ORDERS=200 HOT_ROUNDS=999,
#   SINK_ITEMS=200000, LOCAL_SINK_ITEMS=50000, LAG_DURATION=10s, DDB=http://127.0.0.1:8000, PARTS=abcde,
#   NULL_PORT=18099, CPU_BEFORE_US=42
#   (PARTS=abc: only the null-endpoint ratio, for quick iterations)
set -euo pipefail

ORDERS=${ORDERS:-20000}
ROUNDS=${ROUNDS:-9}
HOT_ORDERS=${HOT_ORDERS:-200}
HOT_ROUNDS=${HOT_ROUNDS:-999}
SINK_ITEMS=${SINK_ITEMS:-200000}             # null endpoints: as many as the engine's changes (a short run is noisy)
LOCAL_SINK_ITEMS=${LOCAL_SINK_ITEMS:-50000}   # DynamoDB Local: about 25 s
LAG_DURATION=${LAG_DURATION:-10s}
PARTS=${PARTS:-abcde} # c implies a and b; d its own sink; e the lag runs
DDB=${DDB:-http://127.0.0.1:8000}
NULL_PORT=${NULL_PORT:-18099}
CPU_BEFORE_US=${CPU_BEFORE_US:-42}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/strangler-bench-cdc.XXXXXX)
PIDS=()
TABLES=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ ${#TABLES[@]} -gt 0 ] && [ -x "$WORK/ddbwriter" ]; then
		"$WORK/ddbwriter" -endpoint "$DDB" -drop "$(IFS=,; echo "${TABLES[*]}")" || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}

(cd "$ROOT" && go build -o "$WORK/cdcbench" ./scripts/bench/cdcbench && go build -o "$WORK/nullddb" ./scripts/bench/nullddb &&
	go build -o "$WORK/ddbwriter" ./scripts/bench/ddbwriter)
B="$WORK/cdcbench"
TS=$(date +%s)
for t in null nullc nullc2 sink sinkc eng engc hot hotc lag500 lagc500 lag1000 lagc1000; do TABLES+=("bench_${t}_${TS}"); done
val() { sed -n "s/.*$1 \([^ ]*\).*/\1/p"; }
kv() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'; }
minof() { printf '%s\n' "$@" | sort -g | head -1; }

echo "== preparing ${ORDERS} orders x (1 insert + ${ROUNDS} updates)"
prep=$("$B" prepare -db bench_cdc -orders "$ORDERS" -rounds "$ROUNDS" | grep RESULT)
START=$(val START <<<"$prep"); CHANGES=$(val CHANGES <<<"$prep")
echo "$prep"

echo "== (a) decode   (load: $(cut -d' ' -f1-3 /proc/loadavg))"
A=$("$B" decode -db bench_cdc -start "$START" -changes "$CHANGES" | grep RESULT)
echo "$A"

NULL_TABLE="bench_null_${TS}"
"$WORK/nullddb" -listen "127.0.0.1:${NULL_PORT}" -forward "$DDB" -discard-table "$NULL_TABLE" 2>"$WORK/nullddb.err" &
PIDS+=($!)
sleep 0.5
# Another null endpoint on the port (a run of one's own) would take these
# writes and forward them to DynamoDB Local: refuse to measure that.
if ! kill -0 "${PIDS[-1]}" 2>/dev/null; then
	echo "cdc.sh: the null endpoint could not start on 127.0.0.1:${NULL_PORT}: $(cat "$WORK/nullddb.err"); stop what listens there or set NULL_PORT" >&2
	exit 1
fi
echo "== (b) sink ceilings (load: $(cut -d' ' -f1-3 /proc/loadavg))"
BN=$("$B" sink -db bench_cdc -start "$START" -ddb "http://127.0.0.1:${NULL_PORT}" -bus null -items "$SINK_ITEMS" -table "$NULL_TABLE" -control "bench_nullc_${TS}" | grep RESULT | sed 's/^RESULT sink/RESULT sink(null)/')
echo "$BN"

echo "== (c) engine into null endpoints (load: $(cut -d' ' -f1-3 /proc/loadavg))"
C=$("$B" engine -db bench_cdc -start "$START" -changes "$CHANGES" -ddb "http://127.0.0.1:${NULL_PORT}" -bus null -table "$NULL_TABLE" -control "bench_nullc2_${TS}" | grep RESULT)
echo "$C"
a=$(kv rate <<<"$A"); bd=$(kv rate <<<"$BN"); be=$(kv eb_rate <<<"$BN"); bb=$(kv both_rate <<<"$BN"); c=$(kv rate <<<"$C")
cs=$(kv steady_rate <<<"$C")
echo "RATIO c/min(a,b) = $c / min($a, both sinks $bb) = $(ratio "$c" "$(minof "$a" "$bb")") (target >= 0.8; b is the bare SDK writing an item and an event per change, both at once; c counts the engine's startup)"
echo "RATIO c(steady)/min(a,b) = $cs / $(minof "$a" "$bb") = $(ratio "$cs" "$(minof "$a" "$bb")") (c after its first event: without connecting, checks and the lease)"
echo "RATIO c/min(a, each sink alone) = $c / min($a, ddb $bd, events $be) = $(ratio "$c" "$(minof "$a" "$bd" "$be")") (each alone has both cores; the engine writes both)"
echo "RATIO cpu per change: engine $(kv cpu_us_per_change <<<"$C") us = decode $(kv cpu_us_per_change <<<"$A") + ddb item $(kv cpu_us_per_item <<<"$BN") + event $(kv cpu_us_per_event <<<"$BN") us ($(awk -v a="$(kv cpu_us_per_change <<<"$A")" -v b="$(kv cpu_us_per_item <<<"$BN")" -v e="$(kv cpu_us_per_event <<<"$BN")" -v c="$(kv cpu_us_per_change <<<"$C")" 'BEGIN { printf "%.2f", (a + b + e) / c }') of the engine's)"

if [[ $PARTS == *d* ]]; then
echo "== (b) sink into DynamoDB Local + the devstack bus (load: $(cut -d' ' -f1-3 /proc/loadavg))"
BL=$("$B" sink -db bench_cdc -start "$START" -ddb "$DDB" -bus local -items "$LOCAL_SINK_ITEMS" -table "bench_sink_${TS}" -control "bench_sinkc_${TS}" | grep RESULT | sed 's/^RESULT sink/RESULT sink(local)/')
echo "$BL"
echo "== (d) engine into DynamoDB Local + the devstack bus (load: $(cut -d' ' -f1-3 /proc/loadavg))"
D=$("$B" engine -db bench_cdc -start "$START" -changes "$CHANGES" -ddb "$DDB" -bus local -table "bench_eng_${TS}" -control "bench_engc_${TS}" | grep RESULT)
echo "$D"
bd=$(kv rate <<<"$BL"); be=$(kv eb_rate <<<"$BL"); bb=$(kv both_rate <<<"$BL"); d=$(kv rate <<<"$D")
echo "RATIO d/b = $d / both sinks $bb = $(ratio "$d" "$bb") (target >= 0.8); d/min(each alone) = $d / min(ddb $bd, events $be) = $(ratio "$d" "$(minof "$bd" "$be")")"
dc=$(kv cpu_us_per_change <<<"$D")
echo "RATIO cpu per change (d): engine $dc us, before issue 13 ${CPU_BEFORE_US} us: $(ratio "$dc" "$CPU_BEFORE_US") x ($(awk -v a="$dc" -v b="$CPU_BEFORE_US" 'BEGIN { printf "%+.0f", 100 * (a - b) / b }') %)"

echo "== (d') hot keys (load: $(cut -d' ' -f1-3 /proc/loadavg)): ${HOT_ORDERS} orders x (1 + ${HOT_ROUNDS}) changes"
prep=$("$B" prepare -db bench_cdc_hot -orders "$HOT_ORDERS" -rounds "$HOT_ROUNDS" | grep RESULT)
HSTART=$(val START <<<"$prep"); HCHANGES=$(val CHANGES <<<"$prep")
"$B" engine -db bench_cdc_hot -start "$HSTART" -changes "$HCHANGES" -ddb "$DDB" -bus local -table "bench_hot_${TS}" -control "bench_hotc_${TS}" | grep RESULT

fi
if [[ $PARTS == *e* ]]; then
echo "== (e) end-to-end lag, open loop (load: $(cut -d' ' -f1-3 /proc/loadavg))"
for rate in 500 1000; do
	"$B" lag -db bench_cdc -rate "$rate" -duration "$LAG_DURATION" -ddb "$DDB" -table "bench_lag${rate}_${TS}" -control "bench_lagc${rate}_${TS}" | grep RESULT
done
fi
echo "null endpoint: $(cat "$WORK/nullddb.err" 2>/dev/null)"
