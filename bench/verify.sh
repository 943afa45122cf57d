#!/usr/bin/env bash
# bench/verify.sh PAHARA LOADGEN — durable verifications per second, side by side with nginx.
#
# 1. nginx (Debian's) returning a static 200 on loopback, measured with wrk: the reference.
# 2. pahara serve (release build, SQLite, synchronous=FULL) with ACCOUNTS accounts that have
#    code generators, made through the service API; then LOADGEN sends valid, never-repeated
#    POST /v1/check verifications over keep-alive connections: verifications/s, p50, p99.
# 3. The same while a storm of password sign-ins (from other loopback addresses) keeps the
#    Argon2id work busy: the p99 of verifications must stay low.
# Environment: ACCOUNTS (100000), CONNS (64), SECONDS (5), STORM (8 connections).
set -euo pipefail

pahara=${1:?usage: bench/verify.sh PAHARA LOADGEN}
loadgen=${2:?usage: bench/verify.sh PAHARA LOADGEN}
accounts=${ACCOUNTS:-100000}
conns=${CONNS:-64}
seconds=${SECONDS_RUN:-5}
storm=${STORM:-8}

work=$(mktemp -d /tmp/pahara-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
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
out=$("$loadgen" verify "http://127.0.0.1:$pport" "$key" "$work/secrets" "$conns" "$seconds" \
	"$storm" storm 'storm password 1')
echo "$out" | sed 's/^/pahara /'
rps=$(echo "$out" | head -n1 | awk '{for (i=1;i<=NF;i++) if ($i=="req/s") print $(i-1)}')
p99=$(echo "$out" | head -n1 | awk '{for (i=1;i<=NF;i++) if ($i=="p99") print $(i+1)}')
sp99=$(echo "$out" | tail -n1 | awk '{for (i=1;i<=NF;i++) if ($i=="p99") print $(i+1)}')

/usr/bin/python3 - "$rps" "$nginx_rps" "$p99" "$sp99" <<'PY'
import sys
rps, nginx, p99, sp99 = map(float, sys.argv[1:])
print(f"durable verifications/s: {rps:.0f} (target >= 20000); "
      f"pahara/nginx: {rps / nginx:.2f}")
print(f"verification p99: {p99:.2f} ms idle, {sp99:.2f} ms during the sign-in storm "
      f"(target < 20 ms)")
PY
