#!/usr/bin/env bash
# bench/verify.sh PAHARA LOADGEN — durable verifications per second, side by side with nginx.
#
# 1. nginx (Debian's) returning a static 200 on loopback, measured with wrk: the reference.
# 2. pahara serve (release build, SQLite, synchronous=FULL) with ACCOUNTS accounts that have
#    code generators, made through the service API; then LOADGEN sends valid, never-repeated
#    POST /v1/check verifications over keep-alive connections: verifications/s, p50, p99.
# 3. The same while a storm of password sign-ins (from other loopback addresses) keeps the
#    Argon2id work busy: the p99 of verifications must stay low.
# 4. PostgreSQL (unless PG=0): a private cluster (scripts/pg.sh), the same accounts made again
#    there, then durable verifications/s with one node and with two nodes on that database
#    (the load generator's connections alternate between them), beside the SQLite figure.
#    The SQLite figure is the median of RUNS runs (each on a fresh 30 s step): on the 2-core
#    VM this was written on, one binary's rate differs by over 20% from one minute to the next.
# Environment: ACCOUNTS (100000), CONNS (64), SECONDS_RUN (5), STORM (8 connections), RUNS (3),
# PG (1).
set -euo pipefail

pahara=${1:?usage: bench/verify.sh PAHARA LOADGEN}
loadgen=${2:?usage: bench/verify.sh PAHARA LOADGEN}
accounts=${ACCOUNTS:-100000}
conns=${CONNS:-64}
seconds=${SECONDS_RUN:-5}
storm=${STORM:-8}
runs=${RUNS:-3}

work=$(mktemp -d /tmp/pahara-bench.XXXXXX)
pids=()
pgdir=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "$pgdir" ] && scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- nginx: the reference ------------------------------------------------------------------
nport=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server {
        listen 127.0.0.1:$nport;
        location / { return 200 "ok\n"; }
    }
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)
sleep 0.5
nginx_rps=$(wrk -t2 -c"$conns" -d"${seconds}s" "http://127.0.0.1:$nport/" | awk '/Requests\/sec/ {print $2}')
echo "nginx static 200 (wrk -t2 -c$conns): $nginx_rps req/s"
"$loadgen" get "http://127.0.0.1:$nport/" "$conns" "$seconds" | sed 's/^get/nginx static 200 (this load generator)/'
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# ---- pahara --------------------------------------------------------------------------------
pport=$(free_port)
cat >"$work/pahara.conf" <<CONF
# The storm comes from 8 loopback addresses; let each keep Argon2id busy.
password_attempts_per_ip = 32
password_attempts_window = 1
CONF
"$pahara" serve --listen "127.0.0.1:$pport" --data "$work/data" --config "$work/pahara.conf" \
	>"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/serve.log" && break; sleep 0.1; done
key=$("$pahara" admin --data "$work/data" --config "$work/pahara.conf" service add bench | tail -n1)
printf 'storm password 1\n' | "$pahara" admin --data "$work/data" --config "$work/pahara.conf" \
	user add storm >/dev/null
"$loadgen" setup "http://127.0.0.1:$pport" "$key" "$accounts" "$conns" "$work/secrets"
# Start on a fresh 30 s step, so that every account has its two unused steps ahead.
sleep $(( 30 - $(date +%s) % 30 ))
status=0  # 1: some answers were not 200 (counted in its lines); 2: it could not run
out=$(RUNS=$runs "$loadgen" verify "http://127.0.0.1:$pport" "$key" "$work/secrets" \
	"$conns" "$seconds" "$storm" storm 'storm password 1') || status=$?
[ "$status" -le 1 ] || exit "$status"
echo "$out" | sed 's/^/pahara /'
# The median run's line when there are several, else the only run's.
idle=$(echo "$out" | grep -v 'storm' | tail -n1)
rps=$(echo "$idle" | awk '{for (i=1;i<=NF;i++) if ($i=="req/s") {print $(i-1); exit}}')
p99=$(echo "$idle" | awk '{for (i=1;i<=NF;i++) if ($i=="p99") print $(i+1)}')
sp99=$(echo "$out" | tail -n1 | awk '{for (i=1;i<=NF;i++) if ($i=="p99") print $(i+1)}')

/usr/bin/python3 - "$rps" "$nginx_rps" "$p99" "$sp99" "$runs" <<'PY'
import sys
rps, nginx, p99, sp99, runs = map(float, sys.argv[1:])
of = f", the median of {runs:.0f} runs" if runs > 1 else ""
print(f"durable verifications/s{of}: {rps:.0f} (target >= 20000); "
      f"pahara/nginx: {rps / nginx:.2f}")
print(f"verification p99: {p99:.2f} ms idle, {sp99:.2f} ms during the sign-in storm "
      f"(target < 20 ms)")
PY

# ---- PostgreSQL: one node, then two ------------------------------------------------------------
[ "${PG:-1}" = 1 ] || exit 0
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
# Its own directory: the server runs as the postgres user, who cannot enter $work.
pgdir=$(mktemp -d /tmp/pahara-bench-pg.XXXXXX)
pgurl=$(scripts/pg.sh start "$pgdir")
db=$(scripts/pg.sh newdb "$pgurl")
start_node() { # DATA PORT LOG
	"$pahara" serve --listen "127.0.0.1:$2" --data "$1" --store "$db" \
		--config "$work/pahara.conf" >"$3" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do grep -q listening "$3" && return 0; sleep 0.1; done
	echo "bench: a node on PostgreSQL did not start:" >&2
	cat "$3" >&2
	exit 1
}
mkdir -p -m 700 "$work/node1" "$work/node2"
# Both nodes share the key files, as every node of a site must.
cp -p "$work/data/master.key" "$work/data/codehash.key" "$work/node1/"
cp -p "$work/data/master.key" "$work/data/codehash.key" "$work/node2/"
p1=$(free_port)
start_node "$work/node1" "$p1" "$work/node1.log"
key=$("$pahara" admin --data "$work/node1" --store "$db" --config "$work/pahara.conf" \
	service add bench | tail -n1)
"$loadgen" setup "http://127.0.0.1:$p1" "$key" "$accounts" "$conns" "$work/secrets-pg"
sleep $(( 30 - $(date +%s) % 30 ))
one=$("$loadgen" verify "http://127.0.0.1:$p1" "$key" "$work/secrets-pg" "$conns" "$seconds") || true
echo "$one" | sed 's/^/pahara on PostgreSQL, one node: /'
# The same node connected through the server's Unix socket instead of loopback TCP (what a
# site with the database on the same machine would do).
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
dbname=${db##*/}
sockdb="postgresql://postgres@/$dbname?host=$pgdir&port=$(cat "$pgdir/port")"
db_tcp=$db
db=$sockdb
start_node "$work/node1" "$p1" "$work/node1-unix.log"
sleep $(( 30 - $(date +%s) % 30 ))
unix=$("$loadgen" verify "http://127.0.0.1:$p1" "$key" "$work/secrets-pg" "$conns" "$seconds") || true
echo "$unix" | sed 's/^/pahara on PostgreSQL, one node, Unix socket: /'
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
db=$db_tcp
start_node "$work/node1" "$p1" "$work/node1.log"
p2=$(free_port)
start_node "$work/node2" "$p2" "$work/node2.log"
sleep $(( 30 - $(date +%s) % 30 ))
two=$("$loadgen" verify "http://127.0.0.1:$p1,http://127.0.0.1:$p2" "$key" "$work/secrets-pg" \
	"$conns" "$seconds") || true
echo "$two" | sed 's/^/pahara on PostgreSQL, two nodes: /'
rps1=$(echo "$one" | awk '{for (i=1;i<=NF;i++) if ($i=="req/s") print $(i-1)}')
rps2=$(echo "$two" | awk '{for (i=1;i<=NF;i++) if ($i=="req/s") print $(i-1)}')
rpsu=$(echo "$unix" | awk '{for (i=1;i<=NF;i++) if ($i=="req/s") print $(i-1)}')
/usr/bin/python3 - "$rps" "$rps1" "$rps2" "$rpsu" <<'PY'
import sys
sqlite, one, two, unix = map(float, sys.argv[1:])
print(f"durable verifications/s: SQLite {sqlite:.0f}; PostgreSQL one node {one:.0f} "
      f"({one / sqlite:.0%} of SQLite, target >= 50%), over the Unix socket {unix:.0f} "
      f"({unix / sqlite:.0%}), two nodes {two:.0f} "
      f"({two / one:.2f}x one node; on 2 cores this measures overhead, not scaling)")
PY
