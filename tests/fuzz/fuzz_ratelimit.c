/*
 * fuzz_ratelimit.c — the stored form of the rate-limit states (core/ratelimit.h) on arbitrary
 * bytes, as a store shared by nodes and databases may hand them back.  A refused blob leaves a
 * fresh state; an accepted one encodes back to the same bytes.  An input of a blob plus 8 more
 * bytes also runs the rules on the accepted state at that time (made >= 0): every state they
 * make must encode again, or limits.c could not store it, and a failure never shortens a lock.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t time_at(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return (int64_t)(u & INT64_MAX);
}

static void account(const uint8_t *data, size_t size)
{
	static const struct ratelimit_config cfg = RATELIMIT_CONFIG_DEFAULT;
	size_t len =
	    size == RATELIMIT_ACCOUNT_ENCODED_SIZE + 8 ? RATELIMIT_ACCOUNT_ENCODED_SIZE : size;
	uint8_t out[RATELIMIT_ACCOUNT_ENCODED_SIZE];
	struct ratelimit_account st;
	int64_t retry;

	if (ratelimit_account_decode(&st, data, len) != PA_OK) {
		static const struct ratelimit_account fresh = RATELIMIT_ACCOUNT_INIT;
		if (memcmp(&st, &fresh, sizeof st) != 0)
			abort();
		return;
	}
	if (ratelimit_account_encode(&st, out) != PA_OK || memcmp(out, data, sizeof out) != 0)
		abort();
	if (len == size)
		return;
	int64_t now = time_at(data + len), locked = st.locked_until;
	int64_t until =
	    now > INT64_MAX - cfg.lockout_duration ? INT64_MAX : now + cfg.lockout_duration;
	enum pa_err e = ratelimit_check(&st, &cfg, now, &retry);
	if (e == PA_ERR_RATE_LIMITED && retry < 1)
		abort();
	bool locked_now = ratelimit_fail(&st, &cfg, now);
	if (st.locked_until < locked || (locked_now && st.locked_until < until))
		abort();
	if (ratelimit_account_encode(&st, out) != PA_OK)
		abort();
	ratelimit_success(&st);
	if (ratelimit_account_encode(&st, out) != PA_OK)
		abort();
	/* read the strict way, the account is locked (short of the end of time, where sums
	 * saturate at INT64_MAX) */
	ratelimit_account_assume_locked(&st, &cfg, now);
	if (ratelimit_account_encode(&st, out) != PA_OK ||
	    (until > now && ratelimit_check(&st, &cfg, now, &retry) != PA_ERR_RATE_LIMITED))
		abort();
}

static void window(const uint8_t *data, size_t size)
{
	static const struct ratelimit_window_config cfg = RATELIMIT_PASSWORD_PER_IP_DEFAULT;
	size_t len =
	    size == RATELIMIT_WINDOW_ENCODED_SIZE + 8 ? RATELIMIT_WINDOW_ENCODED_SIZE : size;
	uint8_t out[RATELIMIT_WINDOW_ENCODED_SIZE];
	struct ratelimit_window w;
	int64_t retry;

	if (ratelimit_window_decode(&w, data, len) != PA_OK) {
		static const struct ratelimit_window fresh = RATELIMIT_WINDOW_INIT;
		if (memcmp(&w, &fresh, sizeof w) != 0)
			abort();
		return;
	}
	if (ratelimit_window_encode(&w, out) != PA_OK || memcmp(out, data, sizeof out) != 0)
		abort();
	if (len == size)
		return;
	int64_t now = time_at(data + len);
	enum pa_err e = ratelimit_window_take(&w, &cfg, now, &retry);
	if ((e != PA_OK && e != PA_ERR_RATE_LIMITED) || ratelimit_window_encode(&w, out) != PA_OK)
		abort();
	ratelimit_window_assume_full(&w, &cfg, now);
	if (ratelimit_window_encode(&w, out) != PA_OK ||
	    (now < INT64_MAX - cfg.window &&
	     ratelimit_window_check(&w, &cfg, now, &retry) != PA_ERR_RATE_LIMITED))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	account(data, size);
	window(data, size);
	return 0;
}
