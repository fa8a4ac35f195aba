#!/usr/bin/env bash
# scripts/bench/proxy.sh — the strangler proxy against a direct call and nginx.
#
# A small fixed-size Go backend on loopback (scripts/bench/backend) is called
#   direct   wrk -> backend
#   proxy    wrk -> strangler proxy serve (canary 50 % by sticky bucket of the
#            path id; health checks, breaker, stats, metrics, routing all
#            on; control state in memory). Its legacy and new upstreams (two
#            transports and pools) both point at the one backend, so all three
#            targets cost the backend the same; SECOND_BACKEND=1 gives new a
#            backend process of its own.
#   nginx    wrk -> nginx-light (1 worker, keepalive 64 upstream,
#            proxy_http_version 1.1, access log off) -> backend
#   bare     wrk -> a bare httputil.ReverseProxy (scripts/bench/backend
#            -proxy: Rewrite+SetURL, BufferPool, an http.Transport with 256
#            idle conns, nothing else; same GOMAXPROCS as the proxy) ->
#            backend: what net/http itself costs (server, ReverseProxy and
#            http.Transport), measured in the same round. The proxy's backends
#            use its own lean transport by default (transport.client), so
#            proxy/bare is the proxy's features plus that transport against
#            plain net/http, not the features alone.
#   stdlib   (STDLIB=1) wrk -> a second strangler proxy, the same but with
#            transport.client: stdlib (http.Transport): the lean transport's
#            gain, paired in each round (ratio proxy/stdlib)
# in paired rounds (the three back to back in each round, because these VMs
# drift by a third between rounds): saturated throughput with wrk, then a
# fixed rate, open loop (scripts/bench/openloop). It reports req/s, p50/p99,
# the proxy's and nginx's CPU per request (from /proc/<pid>/stat), and the
# ratios proxy/direct, proxy/nginx, bare/nginx and proxy/bare per round.
#
# Installs Debian's wrk and nginx-light when missing. Knobs (env):
#   ROUNDS=3 DURATION=10 CONNS=64 THREADS=1 RATE=2000 RATE_DURATION=10
#   SIZE=512 PROXY_GOMAXPROCS=1 BASE_PORT=19000 SECOND_BACKEND=0
#   CLIENT=lean (the proxy's transport.client) STDLIB=0
#   PROFILE=<file>: a CPU profile of the proxy during round 1's saturated
#   run (admin /debug/pprof/profile), for go tool pprof; the profiler's own
#   cost lowers that round's proxy figure a little.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
RATE=${RATE:-2000}
RATE_DURATION=${RATE_DURATION:-10}
SIZE=${SIZE:-512}
PROXY_GOMAXPROCS=${PROXY_GOMAXPROCS:-1}
BASE_PORT=${BASE_PORT:-19000}
SECOND_BACKEND=${SECOND_BACKEND:-0}
PROFILE=${PROFILE:-}
CLIENT=${CLIENT:-lean}
STDLIB=${STDLIB:-0}

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/strangler-bench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

need() { # need <command> <debian package>
	command -v "$1" >/dev/null 2>&1 && return
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "bench: installing $2" >&2
	$sudo apt-get install -y "$2" >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$2" >/dev/null; }
}
need wrk wrk
need nginx nginx-light
NGINX=$(command -v nginx)

A=$((BASE_PORT + 1)) B=$((BASE_PORT + 2)) PROXY=$((BASE_PORT + 88)) ADMIN=$((BASE_PORT + 89)) NGX=$((BASE_PORT + 80)) BARE=$((BASE_PORT + 3))
STD=$((BASE_PORT + 90)) STD_ADMIN=$((BASE_PORT + 91))
for port in $A $B $PROXY $ADMIN $NGX $BARE $STD $STD_ADMIN; do
	if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
		echo "bench: port $port is taken (another process would be measured): pick another BASE_PORT" >&2
		exit 1
	fi
done

echo "bench: building" >&2
(cd "$ROOT" && go build -o "$WORK/strangler" ./cmd/strangler && go build -o "$WORK/backend" ./scripts/bench/backend && go build -o "$WORK/openloop" ./scripts/bench/openloop)

"$WORK/backend" -listen 127.0.0.1:$A -size "$SIZE" & PIDS+=($!)
if [ "$SECOND_BACKEND" = 1 ]; then
	"$WORK/backend" -listen 127.0.0.1:$B -size "$SIZE" & PIDS+=($!)
else
	B=$A
fi
"$WORK/backend" -listen 127.0.0.1:$BARE -proxy "http://127.0.0.1:$A" -gomaxprocs "$PROXY_GOMAXPROCS" & BARE_PID=$!; PIDS+=($BARE_PID)

cat >"$WORK/proxy.yaml" <<YAML
listen: 127.0.0.1:$PROXY
admin: {listen: 127.0.0.1:$ADMIN, token: bench-admin-token-0123456789}
backends: {legacy: "http://127.0.0.1:$A", new: "http://127.0.0.1:$B"}
control: {table: ""}
gomaxprocs: $PROXY_GOMAXPROCS
transport: {client: $CLIENT}
routes:
  - {name: get-order, match: "GET /v1/orders/{id}", mode: canary, weight: 50, sticky: "path:id"}
  - {name: list-orders, match: "GET /v1/orders", mode: canary, weight: 50}
  - {name: create-order, match: "POST /v1/orders", mode: canary, weight: 50}
YAML
"$WORK/strangler" proxy serve --config "$WORK/proxy.yaml" --log-format json 2>"$WORK/proxy.log" & PROXY_PID=$!; PIDS+=($PROXY_PID)
TARGETS="$A $PROXY $NGX $BARE"
if [ "$STDLIB" = 1 ]; then
	sed -e "s/127.0.0.1:$PROXY/127.0.0.1:$STD/; s/127.0.0.1:$ADMIN/127.0.0.1:$STD_ADMIN/; s/client: $CLIENT/client: stdlib/" "$WORK/proxy.yaml" >"$WORK/proxy-std.yaml"
	"$WORK/strangler" proxy serve --config "$WORK/proxy-std.yaml" --log-format json 2>"$WORK/proxy-std.log" & STD_PID=$!; PIDS+=($STD_PID)
	TARGETS="$TARGETS $STD"
fi

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  upstream backend { server 127.0.0.1:$A; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
"$NGINX" -e "$WORK/nginx-error.log" -p "$WORK/nginx" -c "$WORK/nginx.conf" -g 'daemon off;' & NGINX_PID=$!; PIDS+=($NGINX_PID)

for port in $B $TARGETS; do
	for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/orders/1" && break; sleep 0.05; done
done
curl -fsS -o /dev/null -D - "http://127.0.0.1:$PROXY/v1/orders/1" | grep -i '^x-strangler-backend' >&2

# A different order id per request, so the canary splits by bucket.
cat >"$WORK/ids.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/v1/orders/" .. n)
end
LUA

# cpu_ticks <pid>...: user+system clock ticks of the processes and their threads.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo $t
}
nginx_pids() { echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"; }
HZ=$(getconf CLK_TCK)

to_ms() { # wrk latency like 512.00us, 1.23ms, 1.05s -> ms
	awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'
}

# saturate <name> <port> <pids of the process measured, or ""> -> "rps p50 p99 cpu_us_per_req"
saturate() {
	local name=$1 port=$2 pids=$3 before after out rps p50 p99 reqs cpu="-"
	before=$(cpu_ticks $pids)
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/ids.lua" "http://127.0.0.1:$port" 2>&1)
	after=$(cpu_ticks $pids)
	rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
	p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
	p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
	reqs=$(awk '/requests in/{print $1}' <<<"$out")
	if [ -n "$pids" ] && [ "$reqs" -gt 0 ]; then
		cpu=$(awk -v d=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN{printf "%.1f", d / hz / n * 1e6}')
	fi
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then echo "bench: $name: $(grep 'Non-2xx\|Socket errors' <<<"$out")" >&2; fi
	echo "$rps $p50 $p99 $cpu"
}

# fixed <port> -> "p50 p99"
fixed() {
	"$WORK/openloop" -url "http://127.0.0.1:$1/v1/orders/" -rate "$RATE" -duration "${RATE_DURATION}s" -conns "$CONNS" |
		awk '{for(i=1;i<=NF;i++){if($i=="p50")p50=$(i+1); if($i=="p99")p99=$(i+1); if($i=="errors")e=$(i+1)}} END{sub(/ms/,"",p50); sub(/ms/,"",p99); print p50, p99, e}'
}

echo "bench: warming up" >&2
for port in $TARGETS; do wrk -t1 -c"$CONNS" -d2s -s "$WORK/ids.lua" "http://127.0.0.1:$port" >/dev/null; done

printf '\nstrangler proxy benchmark: %s, %d cores, %d-byte answers, wrk -t%d -c%d -d%ss, proxy GOMAXPROCS=%s, transport.client %s, second backend %s, %d rounds, load average %s\n' \
	"$(date -u +%FT%TZ)" "$(nproc)" "$SIZE" "$THREADS" "$CONNS" "$DURATION" "$PROXY_GOMAXPROCS" "$CLIENT" "$SECOND_BACKEND" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-6s %-7s %10s %9s %9s %12s\n' round target req/s p50_ms p99_ms cpu_us/req
declare -a R_PD R_PN R_BN R_PB R_PS
for r in $(seq "$ROUNDS"); do
	read -r d_rps d_p50 d_p99 _ <<<"$(saturate direct $A "")"
	prof_pid=""
	if [ -n "$PROFILE" ] && [ "$r" = 1 ]; then
		curl -fsS -H "Authorization: Bearer bench-admin-token-0123456789" -o "$PROFILE" \
			"http://127.0.0.1:$ADMIN/debug/pprof/profile?seconds=$((DURATION > 2 ? DURATION - 1 : 1))" & prof_pid=$!
	fi
	read -r p_rps p_p50 p_p99 p_cpu <<<"$(saturate proxy $PROXY "$PROXY_PID")"
	[ -z "$prof_pid" ] || wait "$prof_pid" || echo "bench: profile failed" >&2
	read -r n_rps n_p50 n_p99 n_cpu <<<"$(saturate nginx $NGX "$(nginx_pids)")"
	read -r b_rps b_p50 b_p99 b_cpu <<<"$(saturate bare $BARE "$BARE_PID")"
	[ "$STDLIB" != 1 ] || read -r s_rps s_p50 s_p99 s_cpu <<<"$(saturate stdlib $STD "$STD_PID")"
	printf '%-6s %-7s %10.0f %9.3f %9.3f %12s\n' "$r" direct "$d_rps" "$d_p50" "$d_p99" -
	printf '%-6s %-7s %10.0f %9.3f %9.3f %12s\n' "$r" proxy "$p_rps" "$p_p50" "$p_p99" "$p_cpu"
	printf '%-6s %-7s %10.0f %9.3f %9.3f %12s\n' "$r" nginx "$n_rps" "$n_p50" "$n_p99" "$n_cpu"
	printf '%-6s %-7s %10.0f %9.3f %9.3f %12s\n' "$r" bare "$b_rps" "$b_p50" "$b_p99" "$b_cpu"
	[ "$STDLIB" != 1 ] || printf '%-6s %-7s %10.0f %9.3f %9.3f %12s\n' "$r" stdlib "$s_rps" "$s_p50" "$s_p99" "$s_cpu"
	pd=$(awk -v a="$p_rps" -v b="$d_rps" 'BEGIN{printf "%.2f", a/b}')
	pn=$(awk -v a="$p_rps" -v b="$n_rps" 'BEGIN{printf "%.2f", a/b}')
	bn=$(awk -v a="$b_rps" -v b="$n_rps" 'BEGIN{printf "%.2f", a/b}')
	pb=$(awk -v a="$p_rps" -v b="$b_rps" 'BEGIN{printf "%.2f", a/b}')
	printf '%-6s ratios  proxy/direct %s  proxy/nginx %s  bare/nginx %s  proxy/bare %s\n' "$r" "$pd" "$pn" "$bn" "$pb"
	R_PD+=("$pd"); R_PN+=("$pn"); R_BN+=("$bn"); R_PB+=("$pb")
	if [ "$STDLIB" = 1 ]; then
		ps=$(awk -v a="$p_rps" -v b="$s_rps" 'BEGIN{printf "%.2f", a/b}')
		printf '%-6s ratio   proxy/stdlib %s (the %s transport against http.Transport)\n' "$r" "$ps" "$CLIENT"
		R_PS+=("$ps")
	fi
done

printf '\nfixed rate %d req/s, open loop, %ss, latency from the intended send time\n' "$RATE" "$RATE_DURATION"
printf '%-6s %-7s %9s %9s %7s\n' round target p50_ms p99_ms errors
declare -a R_DP50
for r in $(seq "$ROUNDS"); do
	read -r dp50 dp99 de <<<"$(fixed $A)"
	read -r pp50 pp99 pe <<<"$(fixed $PROXY)"
	read -r np50 np99 ne <<<"$(fixed $NGX)"
	read -r bp50 bp99 be <<<"$(fixed $BARE)"
	[ "$STDLIB" != 1 ] || read -r sp50 sp99 se <<<"$(fixed $STD)"
	printf '%-6s %-7s %9s %9s %7s\n' "$r" direct "$dp50" "$dp99" "$de" "$r" proxy "$pp50" "$pp99" "$pe" "$r" nginx "$np50" "$np99" "$ne" "$r" bare "$bp50" "$bp99" "$be"
	dd=$(awk -v a="$pp50" -v b="$np50" 'BEGIN{printf "%+.3f", a-b}')
	db=$(awk -v a="$bp50" -v b="$np50" 'BEGIN{printf "%+.3f", a-b}')
	[ "$STDLIB" != 1 ] || printf '%-6s %-7s %9s %9s %7s\n' "$r" stdlib "$sp50" "$sp99" "$se"
	printf '%-6s added p50 proxy-nginx %s ms  (bare-nginx %s ms)\n' "$r" "$dd" "$db"
	[ "$STDLIB" != 1 ] || printf '%-6s added p50 stdlib-nginx %s ms\n' "$r" "$(awk -v a="$sp50" -v b="$np50" 'BEGIN{printf "%+.3f", a-b}')"
	R_DP50+=("$dd")
done

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf '\nmedian of rounds: proxy/direct %s, proxy/nginx %s (target >= 0.80), bare/nginx %s, proxy/bare %s, added p50 at %d req/s vs nginx %s ms (target <= 0.1)\n' \
	"$(med "${R_PD[@]}")" "$(med "${R_PN[@]}")" "$(med "${R_BN[@]}")" "$(med "${R_PB[@]}")" "$RATE" "$(med "${R_DP50[@]}")"
[ "$STDLIB" != 1 ] || printf 'median proxy/stdlib (%s transport against http.Transport, same proxy): %s\n' "$CLIENT" "$(med "${R_PS[@]}")"
if grep -q '"level":"ERROR"' "$WORK/proxy.log"; then echo "bench: the proxy logged errors:" >&2; grep '"level":"ERROR"' "$WORK/proxy.log" | head -5 >&2; fi
