#!/usr/bin/env bash
# valgrind-check.sh BINARY — run `pahara code` and `pahara qr` under valgrind, good input and bad.
#
# Called by `make valgrind-tests` with the release build.  Each run must exit with the status
# it would have without valgrind, and valgrind must report nothing: no invalid access, no use
# of uninitialised memory, no definite or indirect leak, on the error paths as much as on the
# happy ones.  Prints one line per run; on a failure, valgrind's report.
set -euo pipefail

bin=${1:?usage: scripts/valgrind-check.sh path/to/pahara}
[ -x "$bin" ] || { echo "valgrind-check: no executable at $bin" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind-check: valgrind is not installed" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
totp="otpauth://totp/Example:alice@example.com?secret=$secret&issuer=Example&algorithm=SHA256&digits=8&period=60"
hotp="otpauth://hotp/%E0%A4%AA%E0%A4%B9%E0%A4%BE%E0%A4%B0%E0%A4%BE:r%C4%81m?secret=$secret&counter=7"
raw_utf8="otpauth://totp/पहारा:राम?secret=$secret&issuer=पहारा"
long="otpauth://totp/Example:$(printf 'a%.0s' $(seq 200))?secret=$(printf "$secret%.0s" $(seq 6))&image=https://example.com/$(printf 'x%.0s' $(seq 1800))"

runs=0
jobs=$(nproc 2>/dev/null || echo 2)

# check STATUS STDIN ARGS... — run pahara ARGS with STDIN under valgrind, expecting exit
# STATUS.  Runs go in parallel (valgrind takes a second to start); each writes its verdict to
# $work/N.result, read in order at the end.
check() {
	local want=$1 input=$2
	shift 2
	runs=$((runs + 1))
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
	one_run "$work/$runs" "$want" "$input" "$@" &
}

one_run() {
	local out=$1 want=$2 input=$3
	shift 3
	local status=0 shown="$*"
	[ ${#shown} -le 100 ] || shown="${shown:0:97}..."
	printf '%s' "$input" | valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		--log-file="$out.valgrind" \
		"$bin" "$@" >"$out.stdout" 2>"$out.stderr" || status=$?
	if [ "$status" != "$want" ] || [ -s "$out.valgrind" ]; then
		{
			echo "FAIL (exit $status, expected $want): pahara $shown"
			sed 's/^/    stderr: /' "$out.stderr" | head -5
			sed 's/^/    /' "$out.valgrind"
			echo "    (for the origin of an uninitialised value, add --track-origins=yes)"
		} >"$out.result"
	else
		echo "ok   (exit $status): pahara $shown" >"$out.result"
	fi
}

# pahara code: every kind of request
check 0 "" code --time 59 --digits 8 "$secret"
check 0 "" code --hotp --counter 5 --algorithm sha512 --digits=7 "$secret"
check 0 "" code --totp --algorithm=sha256 --period=60 --time=20000000000 "$secret"
check 0 "" code "$secret"
check 0 "" code --time 1234567890 "$totp"
check 0 "" code "$hotp"
check 0 "" code --counter 18446744073709551615 "$hotp"
check 0 "$secret" code --time 0 -
check 0 "$totp" code -
check 0 "" code --help
# pahara code: bad input, each path that prints an error
check 2 "" code JBS1Y3DP
check 2 "" code AB
check 2 "" code ""
check 2 "" code "$(printf "$secret%.0s" $(seq 9))"
check 2 "" code --digits 9 "$secret"
check 2 "" code --time -1 "$secret"
check 2 "" code --counter 99999999999999999999 --hotp "$secret"
check 2 "" code --algorithm md5 "$secret"
check 2 "" code --hotp "$secret"
check 2 "" code --counter 1 "$secret"
check 2 "" code --digits 6 --digits 6 "$secret"
check 2 "" code --frobnicate "$secret"
check 2 "" code "$secret" --digits
check 2 "" code
check 2 "" code "$secret" "$secret"
check 2 "" code "otpauth://totp/x?secret=$secret&digits=9"
check 2 "" code "otpauth://totp/x"
check 2 "" code "http://example.com/"
check 2 "" code --digits 8 "otpauth://totp/x?secret=$secret"
check 2 "" code --time 5 "$hotp"
check 2 "" code -
# pahara qr
check 0 "" qr "$totp"
check 0 "" qr --invert "$hotp"
check 0 "" qr --svg "$raw_utf8"
check 0 "" qr --svg "$long"
check 0 "$totp" qr -
check 0 "" qr --help
check 2 "" qr "hello"
check 2 "" qr "$secret"
check 2 "" qr --svg --invert "$totp"
check 2 "" qr "${long}$(printf 'x%.0s' $(seq 400))"
check 2 "" qr
check 2 "" qr --png "$totp"
check 2 "" qr -
# pahara itself
check 0 "" --help
check 0 "" help code
check 0 "" --version
check 2 "" frobnicate
check 2 ""

wait
failures=0
for i in $(seq "$runs"); do
	cat "$work/$i.result"
	grep -q '^FAIL' "$work/$i.result" && failures=$((failures + 1))
done
echo "valgrind-check: $runs runs, $failures failed"
[ "$failures" = 0 ]
