#!/usr/bin/env bash
# scripts/bench/backfill.sh [rows] — the backfill against its ceilings (issue 3, "Benchmark").
#
# In one run, on the local stack (scripts/stack.sh up: MariaDB :3307, DynamoDB Local :8000):
#   seed   a private database bench_backfill_<rows> with <rows> orders (loadgen
#          --seed-orders; skipped when it already holds them) and, when the
#          DynamoDB Local parts run on fewer rows, a prefix copy of it
#   (a) dump   mariadb-dump of the orders table to /dev/null: the read ceiling
#   (b) bare   scripts/bench/ddbwriter (AWS SDK + stdlib only) into DynamoDB
#              Local, per write mode, into a table made by `migrate init` (same
#              GSI), items built from real rows: the sink ceiling
#   (c) backfill `strangler migrate backfill` end to end into DynamoDB Local,
#              per write mode (fresh table and job each time)
#   (d) null   scripts/bench/nullddb on loopback discards the orders table's
#              writes and forwards the rest (the control table) to DynamoDB
#              Local: the bare writer and the backfill per mode on all <rows>,
#              the engine's own cost
# then prints a table: rows/s, the ratios c/b and d/(bare on null), peak RSS
# and CPU seconds (user+sys) of each process, CPU of the null endpoint,
# DynamoDB Local and mariadbd during each run, and the load average (this box
# is shared: other sessions' builds and benchmarks show up there).
#
# Since issue 13 the backfill maps a row through the codec's one path (the
# canonical row, then its attribute values) and writes through the SDK's own
# encoders: no project encoder stands between it and DynamoDB, as none
# stands between the bare writer and it.
#
# DynamoDB Local does about 2k guarded puts/s, so the DynamoDB Local parts run
# on a prefix of DDB_ROWS rows (default: 200000 when rows > 200000).
#
# Knobs (env): DDB_ROWS, MODES="put transact batch", WORKERS=4 (backfill
#   workers), WRITE_CONCURRENCY=8 (backfill calls in flight per worker),
#   PUT_CONC=16 TRANSACT_CONC=8 BATCH_CONC=8 (bare writer calls in flight),
#   PARTS="a b c d" (which parts run), METRICS_PORT=19191, WARMUP=50000 (batch items, plus a
#   fifth as puts, into DynamoDB Local before timing), KEEP=1 keeps the work dir,
#   PROFILE=DIR writes a CPU profile of each backfill run to DIR/<run>.pprof.
set -euo pipefail

ROWS=${1:-1000000}
if [ -z "${DDB_ROWS:-}" ]; then
	DDB_ROWS=$ROWS
	[ "$ROWS" -le 200000 ] || DDB_ROWS=200000
fi
MODES=${MODES:-put transact batch}
WORKERS=${WORKERS:-4}
WRITE_CONCURRENCY=${WRITE_CONCURRENCY:-8}
PUT_CONC=${PUT_CONC:-16}
TRANSACT_CONC=${TRANSACT_CONC:-8}
BATCH_CONC=${BATCH_CONC:-8}
METRICS_PORT=${METRICS_PORT:-19191}
WARMUP=${WARMUP:-50000}
PARTS=" ${PARTS:-a b c d} "
MYSQL_HOST=127.0.0.1 MYSQL_PORT=${STACK_MYSQL_PORT:-3307} MYSQL_USER=strangler MYSQL_PASS=strangler
DDB=http://127.0.0.1:${STACK_DYNAMODB_PORT:-8000}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/strangler-backfill-bench.XXXXXX)
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

if [ ! -x /usr/bin/time ]; then
	say "installing time"
	apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
command -v mariadb-dump >/dev/null || { echo "bench: mariadb-dump missing (scripts/stack.sh up installs it)" >&2; exit 1; }
curl -s -o /dev/null "$DDB" || { echo "bench: DynamoDB Local not reachable at $DDB (scripts/stack.sh up)" >&2; exit 1; }

sqlc() { mariadb --no-defaults -h"$MYSQL_HOST" -P"$MYSQL_PORT" -u"$MYSQL_USER" -p"$MYSQL_PASS" --default-character-set=utf8mb4 "$@"; }
dsn() { echo "$MYSQL_USER:$MYSQL_PASS@tcp($MYSQL_HOST:$MYSQL_PORT)/$1"; }
count() { sqlc -N -B -e "SELECT COUNT(*) FROM \`$1\`.orders" 2>/dev/null || echo 0; }

say "building"
(cd "$ROOT" && go build -o "$WORK/strangler" ./cmd/strangler && go build -o "$WORK/ddbwriter" ./scripts/bench/ddbwriter && go build -o "$WORK/nullddb" ./scripts/bench/nullddb)

# --- data -------------------------------------------------------------------
DB=bench_backfill_$ROWS
if [ "$(count "$DB")" != "$ROWS" ]; then
	say "seeding $ROWS orders into $DB"
	sqlc -e "DROP DATABASE IF EXISTS \`$DB\`; CREATE DATABASE \`$DB\` CHARACTER SET utf8mb4"
	sqlc "$DB" <"$ROOT/legacy/migrations/0001_orders.sql"
	STRANGLER_LOADGEN_MYSQL_DSN=$(dsn "$DB") "$WORK/strangler" loadgen --seed-orders "$ROWS" >"$WORK/seed.log" 2>&1
fi
# The later legacy migrations (0002: the order_ref column the mapping's ref
# names) are idempotent; a database seeded before them gets them here.
migrate_legacy() {
	local f
	for f in "$ROOT"/legacy/migrations/*.sql; do
		case $f in */0001_*) continue ;; esac
		sqlc "$1" <"$f"
	done
}
migrate_legacy "$DB"
DDB_DB=$DB
if [ "$DDB_ROWS" -lt "$ROWS" ]; then
	DDB_DB=${DB}_prefix_$DDB_ROWS
	if [ "$(count "$DDB_DB")" != "$DDB_ROWS" ]; then
		say "copying the first $DDB_ROWS rows into $DDB_DB"
		sqlc -e "DROP DATABASE IF EXISTS \`$DDB_DB\`; CREATE DATABASE \`$DDB_DB\` CHARACTER SET utf8mb4;
			CREATE TABLE \`$DDB_DB\`.orders LIKE \`$DB\`.orders;
			INSERT INTO \`$DDB_DB\`.orders SELECT * FROM \`$DB\`.orders ORDER BY id LIMIT $DDB_ROWS"
	fi
fi
[ "$DDB_DB" = "$DB" ] || migrate_legacy "$DDB_DB"
# Sample rows for the bare writer, as the codec maps them (see ddbwriter).
sqlc -N -B --raw "$DB" -e "SELECT JSON_OBJECT('pk', CAST(id AS CHAR), 'customer_id', customer_id, 'channel', channel,
	'status', status, 'currency', currency, 'items', JSON_EXTRACT(items, '\$'), 'total', CAST(total AS CHAR),
	'shipping_address', JSON_EXTRACT(shipping_address, '\$'), 'notes', notes, 'idempotency_key', idempotency_key,
	'created_at', DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ'), 'updated_at', DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%s.%fZ'),
	'version', version) FROM orders ORDER BY id LIMIT 10000" >"$WORK/rows.jsonl"

# --- measuring --------------------------------------------------------------
# cpu_ticks <pid>: utime+stime of a process, in clock ticks (0 when gone).
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICK=$(getconf CLK_TCK)
DDB_PID=$(cat "$ROOT/.stack/dynamodb/dynamodb.pid" 2>/dev/null || echo 0)
MDB_PID=$(cat "$ROOT/.stack/mariadb/mariadb.pid" 2>/dev/null || echo 0)
NULL_PID=0
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# measure <name> <rows> <outfile> cmd…: runs cmd under /usr/bin/time -v and
# appends: name rows wall_s user+sys_s maxrss_kb null_cpu_s ddb_cpu_s mariadb_cpu_s load1
measure() {
	local name=$1 rows=$2 out=$3
	shift 3
	local n0 d0 m0 t0 t1
	n0=$(cpu_ticks "$NULL_PID") d0=$(cpu_ticks "$DDB_PID") m0=$(cpu_ticks "$MDB_PID")
	t0=$(date +%s.%N)
	/usr/bin/time -v -o "$WORK/$name.time" "$@" >"$out" 2>"$WORK/$name.err" || {
		echo "bench: $name failed:" >&2
		tail -20 "$WORK/$name.err" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	local n1 d1 m1
	n1=$(cpu_ticks "$NULL_PID") d1=$(cpu_ticks "$DDB_PID") m1=$(cpu_ticks "$MDB_PID")
	awk -v name="$name" -v rows="$rows" -v t0="$t0" -v t1="$t1" -v tick="$TICK" \
		-v nc=$((n1 - n0)) -v dc=$((d1 - d0)) -v mc=$((m1 - m0)) -v la="$(cut -d' ' -f1 /proc/loadavg)" '
		/User time/ {u=$NF} /System time/ {s=$NF} /Maximum resident/ {r=$NF}
		END {printf "%s\t%d\t%.2f\t%.2f\t%d\t%.2f\t%.2f\t%.2f\t%s\n", name, rows, t1-t0, u+s, r, nc/tick, dc/tick, mc/tick, la}' \
		"$WORK/$name.time" >>"$RESULTS"
}

# rate_of <name> <file>: the program's own rows/s (timed section, no start-up),
# appended to the rates file.
rate_of() {
	local r
	case $1 in
	*_bare_* | *_warm*) r=$(grep -o '"items_per_second":[0-9.]*' "$2" | cut -d: -f2) ;;
	*) r=$(grep -o '[0-9.]* rows/s' "$2" | tail -1 | cut -d' ' -f1) ;;
	esac
	printf '%s\t%s\n' "$1" "${r:-0}" >>"$WORK/rates.tsv"
}
: >"$WORK/rates.tsv"

conc_of() {
	case $1 in put) echo "$PUT_CONC" ;; transact) echo "$TRANSACT_CONC" ;; batch) echo "$BATCH_CONC" ;; esac
}

# profile_flag <run>: the backfill's --cpuprofile flag when PROFILE is set.
profile_flag() { [ -z "${PROFILE:-}" ] || { mkdir -p "$PROFILE" && echo "--cpuprofile=$PROFILE/$1.pprof"; }; }

# The bare writer runs with the garbage collector settings the backfill
# gives itself (cmd/strangler/migrate.go tuneGC): the reference gets every
# advantage the engine has.
BARE_GC=(env GOGC=300 GOMEMLIMIT=200MiB)

CTL=bench_ctl_$TS
# mig <endpoint> <db> <table> <job> <mode>: sets MIG to the command line of
# `strangler migrate` with the bench's settings (an array, so /usr/bin/time can run it).
mig() {
	MIG=(env STRANGLER_MIGRATOR_MYSQL_DSN="$(dsn "$2")" STRANGLER_MIGRATOR_DYNAMODB_URL="$1"
		STRANGLER_MIGRATOR_TABLE="$3" STRANGLER_MIGRATOR_CONTROL_TABLE="$CTL"
		STRANGLER_MIGRATOR_BACKFILL_JOB="$4" STRANGLER_MIGRATOR_BACKFILL_WRITE_MODE="$5"
		STRANGLER_MIGRATOR_BACKFILL_WORKERS="$WORKERS" STRANGLER_MIGRATOR_BACKFILL_WRITE_CONCURRENCY="$WRITE_CONCURRENCY"
		STRANGLER_MIGRATOR_METRICS_LISTEN="127.0.0.1:$METRICS_PORT"
		"$WORK/strangler" migrate --config="$ROOT/configs/migrator.yaml")
}

# --- (a) the read ceiling ---------------------------------------------------
if [[ $PARTS == *" a "* ]]; then
DUMP=(mariadb-dump --no-defaults -h"$MYSQL_HOST" -P"$MYSQL_PORT" -u"$MYSQL_USER" -p"$MYSQL_PASS" --single-transaction --quick "$DB" orders)
say "(a) mariadb-dump of $ROWS rows (one untimed pass warms the buffer pool)"
"${DUMP[@]}" >/dev/null
measure a_dump "$ROWS" /dev/null "${DUMP[@]}"
awk -F'\t' '$1=="a_dump" {printf "a_dump\t%.0f\n", $2/$3}' "$RESULTS" >>"$WORK/rates.tsv"
fi

# --- (b) and (c): DynamoDB Local ---------------------------------------------
if [[ $PARTS == *" b "* || $PARTS == *" c "* ]]; then
say "warming DynamoDB Local up ($WARMUP batch items, $((WARMUP / 5)) guarded puts)"
mig "$DDB" "$DDB_DB" "bench_warm_$TS" "warm_$TS" batch
"${MIG[@]}" init >/dev/null
"$WORK/ddbwriter" -endpoint "$DDB" -table "bench_warm_$TS" -rows "$WORK/rows.jsonl" -mode batch -n "$WARMUP" -concurrency 8 >/dev/null
"$WORK/ddbwriter" -endpoint "$DDB" -table "bench_warm_$TS" -rows "$WORK/rows.jsonl" -mode put -n $((WARMUP / 5)) -offset "$WARMUP" -concurrency 16 >/dev/null
"$WORK/ddbwriter" -endpoint "$DDB" -drop "bench_warm_$TS"

for m in $MODES; do
	[[ $PARTS == *" b "* ]] || continue
	say "(b) bare $m writer, $DDB_ROWS items into DynamoDB Local"
	tb=bench_b_${m}_$TS
	mig "$DDB" "$DDB_DB" "$tb" "$tb" "$m"
	"${MIG[@]}" init >/dev/null
	measure "b_bare_$m" "$DDB_ROWS" "$WORK/b_bare_$m.out" "${BARE_GC[@]}" "$WORK/ddbwriter" -endpoint "$DDB" -table "$tb" -rows "$WORK/rows.jsonl" -mode "$m" -n "$DDB_ROWS" -concurrency "$(conc_of "$m")"
	rate_of "b_bare_$m" "$WORK/b_bare_$m.out"
	"$WORK/ddbwriter" -endpoint "$DDB" -drop "$tb"
done
for m in $MODES; do
	[[ $PARTS == *" c "* ]] || continue
	say "(c) backfill --write-mode $m, $DDB_ROWS rows into DynamoDB Local"
	tc=bench_c_${m}_$TS
	mig "$DDB" "$DDB_DB" "$tc" "$tc" "$m"
	"${MIG[@]}" init >/dev/null
	measure "c_backfill_$m" "$DDB_ROWS" "$WORK/c_backfill_$m.out" "${MIG[@]}" backfill $(profile_flag "c_backfill_$m")
	rate_of "c_backfill_$m" "$WORK/c_backfill_$m.out"
	"$WORK/ddbwriter" -endpoint "$DDB" -drop "$tc"
done
fi

# --- (d): the null endpoint --------------------------------------------------
if [[ $PARTS == *" d "* ]]; then
TN=bench_null_$TS
"$WORK/nullddb" -listen 127.0.0.1:0 -forward "$DDB" -discard-table "$TN" >"$WORK/nullddb.out" 2>"$WORK/nullddb.err" &
NULL_PID=$!
PIDS+=("$NULL_PID")
for _ in $(seq 50); do grep -q listening "$WORK/nullddb.out" && break; sleep 0.1; done
NULL=http://$(awk '/listening on/ {print $3}' "$WORK/nullddb.out")
[ "$NULL" != http:// ] || { echo "bench: the null endpoint did not start: $(cat "$WORK/nullddb.err")" >&2; exit 1; }
mig "$NULL" "$DB" "$TN" "init_$TS" batch
"${MIG[@]}" init >/dev/null
for m in $MODES; do
	say "(d) bare $m writer, $ROWS items into the null endpoint"
	measure "d_bare_$m" "$ROWS" "$WORK/d_bare_$m.out" "${BARE_GC[@]}" "$WORK/ddbwriter" -endpoint "$NULL" -table "$TN" -rows "$WORK/rows.jsonl" -mode "$m" -n "$ROWS" -concurrency "$(conc_of "$m")"
	rate_of "d_bare_$m" "$WORK/d_bare_$m.out"

	say "(d) backfill --write-mode $m, $ROWS rows into the null endpoint"
	mig "$NULL" "$DB" "$TN" "bench_d_${m}_$TS" "$m"
	measure "d_backfill_$m" "$ROWS" "$WORK/d_backfill_$m.out" "${MIG[@]}" backfill $(profile_flag "d_backfill_$m")
	rate_of "d_backfill_$m" "$WORK/d_backfill_$m.out"
done
kill "$NULL_PID" 2>/dev/null || true
wait "$NULL_PID" 2>/dev/null || true
"$WORK/ddbwriter" -endpoint "$DDB" -drop "$TN"
echo "null endpoint: $(cat "$WORK/nullddb.err")" >"$WORK/nullddb.summary"
fi
"$WORK/ddbwriter" -endpoint "$DDB" -drop "$CTL"

# --- the table ---------------------------------------------------------------
echo
PREFIX_NOTE=""
[ "$DDB_ROWS" -ge "$ROWS" ] || PREFIX_NOTE=" (a smaller seeded database, $DDB_DB: a full $ROWS-row run per mode would take too long at DynamoDB Local's ~2k guarded puts/s)"
echo "backfill benchmark, $(date -u +%FT%TZ), $(nproc) cores, rows=$ROWS; DynamoDB Local parts (b, c) on a $DDB_ROWS-row prefix$PREFIX_NOTE"
echo "backfill: workers=$WORKERS write_concurrency=$WRITE_CONCURRENCY; bare writer calls in flight: put $PUT_CONC, transact $TRANSACT_CONC (100 items), batch $BATCH_CONC (25 items)"
echo "the bare writer runs with the backfill's GC settings (GOGC=300 GOMEMLIMIT=200MiB)"
echo "rows/s is each program's own timed section (start-up excluded); cpu is user+sys of the process; null/ddb/mdb cpu are the null endpoint's, DynamoDB Local's and mariadbd's during the run"
echo
awk -F'\t' '
	FNR==NR {rate[$1]=$2; next}
	{ name=$1; rows[name]=$2; wall[name]=$3; cpu[name]=$4; rss[name]=$5; nc[name]=$6; dc[name]=$7; mc[name]=$8; ld[name]=$9; order[++n]=name }
	END {
		printf "%-20s %9s %10s %8s %9s %11s %8s %8s %8s %6s\n", "run", "rows", "rows/s", "wall s", "cpu s", "us cpu/row", "rss MB", "null s", "ddb s", "mdb s", "load"
		for (i=1; i<=n; i++) { k=order[i]
			printf "%-20s %9d %10.0f %8.1f %9.1f %11.1f %8.0f %8.1f %8.1f %8.1f %6s\n", k, rows[k], rate[k], wall[k], cpu[k], 1e6*cpu[k]/rows[k], rss[k]/1024, nc[k], dc[k], mc[k], ld[k]
		}
		print ""
		printf "%-10s %12s %12s %8s   %12s %12s %8s   %10s %10s\n", "mode", "b bare", "c backfill", "c/b", "bare null", "d backfill", "d/bare", "c RSS MB", "d RSS MB"
		split("put transact batch", modes, " ")
		for (j=1; j<=3; j++) { m=modes[j]
			if (!(("c_backfill_" m) in rate) && !(("d_backfill_" m) in rate)) continue
			b=rate["b_bare_" m]; c=rate["c_backfill_" m]; nb=rate["d_bare_" m]; d=rate["d_backfill_" m]
			printf "%-10s %12.0f %12.0f %8.2f   %12.0f %12.0f %8.2f   %10.0f %10.0f\n", m, b, c, (b>0?c/b:0), nb, d, (nb>0?d/nb:0), rss["c_backfill_" m]/1024, rss["d_backfill_" m]/1024
		}
		print ""
		print "targets: c/b >= 1.00 in every mode (issue 13), d/bare >= 0.80, backfill RSS < 300 MB; read ceiling (a) " rate["a_dump"] " rows/s"
	}' "$WORK/rates.tsv" "$RESULTS"
cat "$WORK/nullddb.summary" 2>/dev/null || true
