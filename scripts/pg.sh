#!/bin/sh
# pg.sh — a private PostgreSQL server for the tests: its own cluster in a directory of its own,
# listening on 127.0.0.1 only, on a free port, with its socket in that directory.  Trust
# authentication on 127.0.0.1 (a throwaway cluster no one else can reach), fsync on (the tests
# check durability).
#   scripts/pg.sh start DIR      make the cluster in DIR (new or empty), start it, print its
#                                postgresql:// URL
#   scripts/pg.sh url DIR        print that URL again
#   scripts/pg.sh newdb URL      make a database with a fresh name on URL's server, print its URL
#   scripts/pg.sh empty URL      drop everything in URL's database (its schema public)
#   scripts/pg.sh down DIR       stop the server, keep the cluster (tests of a database outage)
#   scripts/pg.sh up DIR         start it again, on the same port
#   scripts/pg.sh stop DIR       stop the server and remove DIR
#   scripts/pg.sh run CMD...     run CMD with PAHARA_TEST_PG set to a server's URL: the one in
#                                PAHARA_TEST_PG already, else a new one in a temporary
#                                directory, stopped and removed when CMD ends (also on failure);
#                                PAHARA_TEST_PG_DIR is then its DIR
# PostgreSQL refuses to run as root, so as root the server runs as the system user postgres.
set -eu

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PG_BIN/initdb" ]; then
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && PG_BIN=$d
	done
fi
PY=/usr/bin/python3

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

# Run as the server's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

url_of() {
	[ -f "$1/port" ] || die "$1: no server started there"
	echo "postgresql://postgres@127.0.0.1:$(cat "$1/port")/postgres"
}

free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
	dir=$1
	[ -x "$PG_BIN/initdb" ] ||
		die "no PostgreSQL server programs in $PG_BIN (scripts/deps.sh check installs them)"
	mkdir -p "$dir"
	[ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	chmod 700 "$dir"
	# -N: initdb skips its own final fsync (a test cluster); the server itself runs with fsync.
	as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C -N \
		>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	# A free port may be taken between asking and binding: try a few.
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if launch "$dir" "$port"; then
			echo "$port" >"$dir/port"
			url_of "$dir"
			return 0
		fi
	done
	cat "$dir/server.log" >&2 || true
	die "the server did not start"
}

launch() {
	as_owner "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -c port=$2 -c unix_socket_directories=$1 \
-c fsync=on -c synchronous_commit=on -c max_connections=200" start >/dev/null 2>&1
}

down() {
	as_owner "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w -t 20 stop >/dev/null
}

up() {
	[ -f "$1/port" ] || die "$1: no server was started there"
	launch "$1" "$(cat "$1/port")" || { tail -20 "$1/server.log" >&2; die "the server did not start"; }
}

stop() {
	dir=$1
	[ -d "$dir" ] || return 0
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
			as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

newdb() {
	url=$1
	name=t_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$url" -c "CREATE DATABASE $name" >/dev/null ||
		die "cannot make a database on $url"
	echo "${url%/*}/$name"
}

empty() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$1" -c "SET lock_timeout = '10s'" \
		-c "DROP SCHEMA public CASCADE" -c "CREATE SCHEMA public" >/dev/null 2>&1 ||
		die "cannot empty $1"
}

run() {
	if [ -n "${PAHARA_TEST_PG:-}" ]; then
		"$@"
		return
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/pahara-pg.XXXXXX")
	trap 'stop "$dir"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	PAHARA_TEST_PG=$(start "$dir")
	PAHARA_TEST_PG_DIR=$dir
	export PAHARA_TEST_PG PAHARA_TEST_PG_DIR
	rc=0
	"$@" || rc=$?
	return $rc
}

usage="usage: $0 start|url|down|up|stop DIR | newdb|empty URL | run CMD"
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start | url | newdb | empty | down | up | stop) [ $# -eq 1 ] || die "$usage" ;;
run) [ $# -ge 1 ] || die "$usage" ;;
*) die "$usage" ;;
esac
case "$cmd" in
start) start "$1" ;;
url) url_of "$1" ;;
stop) stop "$1" ;;
newdb) newdb "$1" ;;
empty) empty "$1" ;;
down) down "$1" ;;
up) up "$1" ;;
run) run "$@" ;;
esac
