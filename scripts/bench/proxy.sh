#!/usr/bin/env bash
# scripts/bench/proxy.sh — the strangler proxy against a direct call and three
# reference proxies (nginx, Caddy, HAProxy), each on one core's budget.
#
# A small fixed-size Go backend on loopback (scripts/bench/backend) is called
#   direct   wrk -> backend
#   proxy    wrk -> strangler proxy serve (canary 50 % by sticky bucket of the
#            path id; health checks, breaker, stats, metrics, routing all
#            on; control state in memory; GOMAXPROCS=PROXY_GOMAXPROCS). Its
#            legacy and new upstreams (two http.Transports and pools) both
#            point at the one backend, so every target costs the backend the
#            same; SECOND_BACKEND=1 gives new a backend process of its own.
#   nginx    wrk -> nginx-light (1 worker, keepalive 64 upstream,
#            proxy_http_version 1.1, access log off) -> backend
#   caddy    wrk -> Caddy (Debian's caddy, GOMAXPROCS=1, reverse_proxy with
#            keepalive 90s and 256 idle connections per host, no log) -> backend
#   haproxy  wrk -> HAProxy (Debian's haproxy, nbthread 1, http-reuse always,
#            keep-alive, no log) -> backend
#   bare     wrk -> a bare httputil.ReverseProxy (scripts/bench/backend
#            -proxy: Rewrite+SetURL, BufferPool, an http.Transport with 256
#            idle conns, nothing else; same GOMAXPROCS as the proxy) ->
#            backend: what net/http itself costs (server, ReverseProxy and
#            http.Transport), so proxy/bare is what the proxy's features cost.
# in paired rounds (all targets back to back in each round, because these
# VMs drift by a third between rounds): saturated throughput with wrk, then a
# fixed rate, open loop (scripts/bench/openloop). It reports req/s, p50/p99
# and CPU per request (from /proc/<pid>/stat) of each target per round, the
# ratios proxy/caddy (target >= 1.3), proxy/nginx, proxy/haproxy,
# proxy/direct and proxy/bare per round, and their medians.
#
# Installs Debian's wrk, nginx-light, caddy and haproxy when missing.
# Knobs (env):
#   ROUNDS=3 DURATION=10 CONNS=64 THREADS=1 RATE=2000 RATE_DURATION=10
#   SIZE=512 PROXY_GOMAXPROCS=1 BASE_PORT=19000 SECOND_BACKEND=0
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
need caddy caddy
need haproxy haproxy
NGINX=$(command -v nginx) CADDY=$(command -v caddy) HAPROXY=$(command -v haproxy)

A=$((BASE_PORT + 1)) B=$((BASE_PORT + 2)) PROXY=$((BASE_PORT + 88)) ADMIN=$((BASE_PORT + 89)) NGX=$((BASE_PORT + 80)) BARE=$((BASE_PORT + 3))
CDY=$((BASE_PORT + 81)) HAP=$((BASE_PORT + 82))
for port in $A $B $PROXY $ADMIN $NGX $BARE $CDY $HAP; do
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
transport: {max_idle_conns_per_host: 256}
routes:
  - {name: get-order, match: "GET /v1/orders/{id}", mode: canary, weight: 50, sticky: "path:id"}
  - {name: list-orders, match: "GET /v1/orders", mode: canary, weight: 50}
  - {name: create-order, match: "POST /v1/orders", mode: canary, weight: 50}
YAML
"$WORK/strangler" proxy serve --config "$WORK/proxy.yaml" --log-format json 2>"$WORK/proxy.log" & PROXY_PID=$!; PIDS+=($PROXY_PID)
TARGETS="$A $PROXY $NGX $CDY $HAP $BARE"

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

mkdir -p "$WORK/caddy"
cat >"$WORK/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
http://127.0.0.1:$CDY {
	reverse_proxy 127.0.0.1:$A {
		transport http {
			keepalive 90s
			keepalive_idle_conns 512
			keepalive_idle_conns_per_host 256
		}
	}
}
CADDY
HOME="$WORK/caddy" XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" GOMAXPROCS=1 \
	"$CADDY" run --adapter caddyfile --config "$WORK/Caddyfile" 2>"$WORK/caddy.log" & CADDY_PID=$!; PIDS+=($CADDY_PID)

cat >"$WORK/haproxy.cfg" <<HAPROXY
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	option http-keep-alive
	http-reuse always
	timeout connect 2s
	timeout client 30s
	timeout server 30s
frontend bench
	bind 127.0.0.1:$HAP
	default_backend backend
backend backend
	server b1 127.0.0.1:$A maxconn 256
HAPROXY
"$HAPROXY" -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" & HAPROXY_PID=$!; PIDS+=($HAPROXY_PID)

for port in $B $TARGETS; do
	for i in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/v1/orders/1" 2>/dev/null && break
		[ "$i" -lt 100 ] || { echo "bench: nothing answers on port $port (see $WORK/*.log)" >&2; tail -n 5 "$WORK"/*.log >&2; exit 1; }
		sleep 0.05
	done
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

# saturate <name> <port> <pids of the process measured, or ""> -> "rps p50 p99 cpu_us_per_req" ("-" for no pids)
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

printf '\nstrangler proxy benchmark: %s, %d cores, %d-byte answers, wrk -t%d -c%d -d%ss, proxy GOMAXPROCS=%s, caddy GOMAXPROCS=1, nginx 1 worker, haproxy nbthread 1, second backend %s, %d rounds, load average %s\n' \
	"$(date -u +%FT%TZ)" "$(nproc)" "$SIZE" "$THREADS" "$CONNS" "$DURATION" "$PROXY_GOMAXPROCS" "$SECOND_BACKEND" "$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'versions: %s; %s; %s; %s\n' "$(go version | cut -d' ' -f3)" "$("$NGINX" -v 2>&1 | cut -d' ' -f3)" "caddy $("$CADDY" version | cut -d' ' -f1)" "$("$HAPROXY" -v | head -1 | cut -d' ' -f1-3)"
printf '\n%-6s %-8s %10s %9s %9s %12s\n' round target req/s p50_ms p99_ms cpu_us/req
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
row() { printf '%-6s %-8s %10.0f %9.3f %9.3f %12s\n' "$@"; }
# The targets, measured in a rotated order each round (round r starts with
# the r-th), so no target always runs right after the same other one.
NAMES=(direct proxy nginx caddy haproxy bare)
declare -A PORT=([direct]=$A [proxy]=$PROXY [nginx]=$NGX [caddy]=$CDY [haproxy]=$HAP [bare]=$BARE)
pids_of() {
	case $1 in
	direct) echo "" ;; proxy) echo "$PROXY_PID" ;; nginx) nginx_pids ;;
	caddy) echo "$CADDY_PID" ;; haproxy) echo "$HAPROXY_PID" ;; bare) echo "$BARE_PID" ;;
	esac
}
rotated() { local i n=${#NAMES[@]}; for i in $(seq 0 $((n - 1))); do echo "${NAMES[$(((i + $1) % n))]}"; done; }
declare -A RPS P50 P99 CPU
declare -a R_PC R_PN R_PH R_PD R_PB
for r in $(seq "$ROUNDS"); do
	for name in $(rotated $((r - 1))); do
		prof_pid=""
		if [ -n "$PROFILE" ] && [ "$r" = 1 ] && [ "$name" = proxy ]; then
			curl -fsS -H "Authorization: Bearer bench-admin-token-0123456789" -o "$PROFILE" \
				"http://127.0.0.1:$ADMIN/debug/pprof/profile?seconds=$((DURATION > 2 ? DURATION - 1 : 1))" & prof_pid=$!
		fi
		read -r "RPS[$name]" "P50[$name]" "P99[$name]" "CPU[$name]" <<<"$(saturate "$name" "${PORT[$name]}" "$(pids_of "$name")")"
		[ -z "$prof_pid" ] || wait "$prof_pid" || echo "bench: profile failed" >&2
	done
	for name in "${NAMES[@]}"; do row "$r" "$name" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" "${CPU[$name]}"; done
	p=${RPS[proxy]}
	pc=$(ratio "$p" "${RPS[caddy]}") pn=$(ratio "$p" "${RPS[nginx]}") ph=$(ratio "$p" "${RPS[haproxy]}") pd=$(ratio "$p" "${RPS[direct]}") pb=$(ratio "$p" "${RPS[bare]}")
	printf '%-6s ratios   proxy/caddy %s  proxy/nginx %s  proxy/haproxy %s  proxy/direct %s  proxy/bare %s\n' "$r" "$pc" "$pn" "$ph" "$pd" "$pb"
	R_PC+=("$pc"); R_PN+=("$pn"); R_PH+=("$ph"); R_PD+=("$pd"); R_PB+=("$pb")
done

printf '\nfixed rate %d req/s, open loop, %ss, latency from the intended send time\n' "$RATE" "$RATE_DURATION"
printf '%-6s %-8s %9s %9s %7s\n' round target p50_ms p99_ms errors
declare -a R_DP50
for r in $(seq "$ROUNDS"); do
	for name in $(rotated $((r - 1))); do
		read -r "P50[$name]" "P99[$name]" e <<<"$(fixed "${PORT[$name]}")"
		printf '%-6s %-8s %9s %9s %7s\n' "$r" "$name" "${P50[$name]}" "${P99[$name]}" "$e"
	done
	dd=$(awk -v a="${P50[proxy]}" -v b="${P50[nginx]}" 'BEGIN{printf "%+.3f", a-b}')
	printf '%-6s added p50 proxy-nginx %s ms\n' "$r" "$dd"
	R_DP50+=("$dd")
done

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf '\nmedian of rounds: proxy/caddy %s (target >= 1.30), proxy/nginx %s, proxy/haproxy %s, proxy/direct %s, proxy/bare %s, added p50 at %d req/s vs nginx %s ms\n' \
	"$(med "${R_PC[@]}")" "$(med "${R_PN[@]}")" "$(med "${R_PH[@]}")" "$(med "${R_PD[@]}")" "$(med "${R_PB[@]}")" "$RATE" "$(med "${R_DP50[@]}")"
if grep -q '"level":"ERROR"' "$WORK/proxy.log"; then echo "bench: the proxy logged errors:" >&2; grep '"level":"ERROR"' "$WORK/proxy.log" | head -5 >&2; fi
