#!/bin/sh
# deps.sh — install the Debian 12 packages Pahara needs, only those that are missing.
#   scripts/deps.sh run     what `make run` needs (build + run)
#   scripts/deps.sh check   what `make check` needs (build + every test)
#   scripts/deps.sh bench   what `make bench` needs
# Runs apt-get non-interactively as root; as another user it names what is missing and fails.
set -eu

RUN_PKGS="make gcc pkg-config libc6-dev libsodium-dev libssl-dev libjansson-dev
libmicrohttpd-dev libsqlite3-dev libpq-dev libqrencode-dev libcurl4-openssl-dev"
CHECK_PKGS="$RUN_PKGS clang libclang-rt-14-dev libcmocka-dev python3 python3-pytest
python3-pyotp python3-requests oathtool zbar-tools librsvg2-bin valgrind sqlite3 postgresql
nginx-light openssl"
# python3: bench/verify.sh and scripts/pg.sh pick free ports and print the results with it.
BENCH_PKGS="$RUN_PKGS liboath-dev wrk nginx-light postgresql python3"

case "${1:-run}" in
run) want=$RUN_PKGS ;;
check) want=$CHECK_PKGS ;;
bench) want=$BENCH_PKGS ;;
*) echo "usage: $0 run|check|bench" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: not root; install them with: sudo apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine is often running apt itself (apt-daily, unattended-upgrades after the first
# boot): wait up to LOCK_WAIT seconds for its locks instead of failing at once.  apt-get
# install waits by itself with DPkg::Lock::Timeout; apt-get update ignores that option, so it
# is tried again while what stops it is a lock.
LOCK_WAIT=${LOCK_WAIT:-600}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
waited=0
until apt-get update -q >"$log" 2>&1; do
	if ! grep -q 'Could not get lock' "$log" || [ "$waited" -ge "$LOCK_WAIT" ]; then
		cat "$log" >&2
		echo "deps: apt-get update failed" >&2
		exit 1
	fi
	[ "$waited" = 0 ] && echo "deps: waiting for another apt or dpkg to finish" >&2
	sleep 5
	waited=$((waited + 5))
done
# shellcheck disable=SC2086
apt-get install -y -q -o DPkg::Lock::Timeout="$LOCK_WAIT" --no-install-recommends $missing
