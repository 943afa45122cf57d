/* ratelimit.c — see ratelimit.h. */
#include <string.h>

#include "core/ratelimit.h"

/* a + b for b >= 0, saturating at INT64_MAX. */
static int64_t sat_add(int64_t a, int64_t b)
{
	if (b < 0)
		b = 0;
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* until - now for until > now, saturating at INT64_MAX. */
static int64_t sat_diff(int64_t until, int64_t now)
{
	if (now < 0 && until > INT64_MAX + now)
		return INT64_MAX;
	return until - now;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* A wait of until - now, at least 1 s, at most cap (a clock that stepped back). */
static int64_t wait_for(int64_t until, int64_t now, int64_t cap)
{
	int64_t d = sat_diff(until, now);

	if (d > cap)
		d = cap;
	return d < 1 ? 1 : d;
}

/* ---- per account and per sign-in ---------------------------------------------------------- */

enum pa_err ratelimit_config_check(const struct ratelimit_config *cfg)
{
	if (cfg->backoff_base < 1 || cfg->backoff_max < cfg->backoff_base ||
	    cfg->lockout_failures < 1 || cfg->lockout_window < 1 || cfg->lockout_duration < 0 ||
	    cfg->signin_codes_max < 1)
		return PA_ERR_INVALID_ARGUMENT;
	return PA_OK;
}

int64_t ratelimit_backoff_delay(const struct ratelimit_config *cfg, uint32_t n)
{
	uint32_t k;

	if (n <= cfg->backoff_grace)
		return 0;
	k = n - cfg->backoff_grace - 1;
	/* base << k, without ever shifting past the cap (or past 63 bits) */
	if (k >= 62 || cfg->backoff_base > (cfg->backoff_max >> k))
		return cfg->backoff_max;
	return cfg->backoff_base << k;
}

enum pa_err ratelimit_check(const struct ratelimit_account *st, const struct ratelimit_config *cfg,
                            int64_t now, int64_t *retry_after)
{
	int64_t until = INT64_MIN, delay = ratelimit_backoff_delay(cfg, st->consecutive);

	if (st->locked_until != 0)
		until = st->locked_until;
	if (delay > 0)
		until = max64(until, sat_add(st->last_failure, delay));
	if (now >= until)
		return PA_OK;
	*retry_after = wait_for(until, now, max64(cfg->backoff_max, cfg->lockout_duration));
	return PA_ERR_RATE_LIMITED;
}

bool ratelimit_fail(struct ratelimit_account *st, const struct ratelimit_config *cfg, int64_t now)
{
	if (st->consecutive < UINT32_MAX)
		st->consecutive++;
	st->last_failure = now;
	/* A new window when none is open, when it has run out, or when the clock stepped back. */
	if (st->window_failures == 0 || now >= sat_add(st->window_start, cfg->lockout_window) ||
	    now < st->window_start) {
		st->window_start = now;
		st->window_failures = 1;
	} else if (st->window_failures < UINT32_MAX) {
		st->window_failures++;
	}
	if (st->window_failures < cfg->lockout_failures)
		return false;
	/* Locked: count the next lockout's failures afresh; a lock never shortens. */
	st->locked_until = max64(st->locked_until, sat_add(now, cfg->lockout_duration));
	st->window_failures = 0;
	return true;
}

void ratelimit_success(struct ratelimit_account *st)
{
	st->consecutive = 0;
}

bool ratelimit_signin_fail(const struct ratelimit_config *cfg, uint32_t *wrong_codes)
{
	if (*wrong_codes < UINT32_MAX)
		(*wrong_codes)++;
	return *wrong_codes >= cfg->signin_codes_max;
}

/* ---- sliding window ----------------------------------------------------------------------- */

enum pa_err ratelimit_window_config_check(const struct ratelimit_window_config *cfg)
{
	if (cfg->max_events < 1 || cfg->max_events > RATELIMIT_EVENTS_MAX || cfg->window < 1 ||
	    cfg->min_gap < 0)
		return PA_ERR_INVALID_ARGUMENT;
	return PA_OK;
}

/* Index of the first event that still counts at now (count when none does). */
static uint32_t first_counting(const struct ratelimit_window *w,
                               const struct ratelimit_window_config *cfg, int64_t now)
{
	uint32_t i;

	for (i = 0; i < w->count; i++)
		if (sat_add(w->times[i], cfg->window) > now)
			break;
	return i;
}

enum pa_err ratelimit_window_check(const struct ratelimit_window *w,
                                   const struct ratelimit_window_config *cfg, int64_t now,
                                   int64_t *retry_after)
{
	uint32_t first, counting;
	int64_t until = INT64_MIN;

	if (ratelimit_window_config_check(cfg) != PA_OK || w->count > RATELIMIT_EVENTS_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	first = first_counting(w, cfg, now);
	counting = w->count - first;
	/* Full: wait until enough of the oldest counting events age out to leave one place. */
	if (counting >= cfg->max_events)
		until = sat_add(w->times[w->count - cfg->max_events], cfg->window);
	if (w->count > 0 && cfg->min_gap > 0)
		until = max64(until, sat_add(w->times[w->count - 1], cfg->min_gap));
	if (now >= until)
		return PA_OK;
	*retry_after = wait_for(until, now, max64(cfg->window, cfg->min_gap));
	return PA_ERR_RATE_LIMITED;
}

enum pa_err ratelimit_window_take(struct ratelimit_window *w,
                                  const struct ratelimit_window_config *cfg, int64_t now,
                                  int64_t *retry_after)
{
	uint32_t first;
	enum pa_err e = ratelimit_window_check(w, cfg, now, retry_after);

	if (e != PA_OK)
		return e;
	first = first_counting(w, cfg, now);
	memmove(w->times, w->times + first, (w->count - first) * sizeof w->times[0]);
	w->count -= first;
	memset(w->times + w->count, 0, (RATELIMIT_EVENTS_MAX - w->count) * sizeof w->times[0]);
	/* Allowed means fewer than max_events <= EVENTS_MAX still count, so there is room. */
	if (w->count > 0 && now < w->times[w->count - 1])
		now = w->times[w->count - 1];
	w->times[w->count++] = now;
	return PA_OK;
}

/* ---- the stored form ---------------------------------------------------------------------- */

_Static_assert(RATELIMIT_EVENTS_MAX <= UINT8_MAX, "a window's count is one byte");

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* int64 as its two's-complement bits, so that no signed shift or overflow is involved. */
static void put_be64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;

	put_be32(p, (uint32_t)(u >> 32));
	put_be32(p + 4, (uint32_t)u);
}

static int64_t get_be64(const uint8_t *p)
{
	uint64_t u = (uint64_t)get_be32(p) << 32 | get_be32(p + 4);

	/* Above INT64_MAX is a negative time, which no stored state has: -1 stands for all of
	 * them (the range checks refuse it) and no implementation-defined conversion happens. */
	return u > (uint64_t)INT64_MAX ? -1 : (int64_t)u;
}

static bool account_in_range(const struct ratelimit_account *st)
{
	if (st->window_start < 0 || st->last_failure < 0 || st->locked_until < 0)
		return false;
	/* ratelimit_fail opens a window at the failure it counts and moves last_failure on. */
	return st->window_failures == 0 || st->window_start <= st->last_failure;
}

static bool window_in_range(const struct ratelimit_window *w)
{
	uint32_t i;

	if (w->count > RATELIMIT_EVENTS_MAX)
		return false;
	for (i = 0; i < w->count; i++)
		if (w->times[i] < 0 || (i > 0 && w->times[i] < w->times[i - 1]))
			return false;
	for (; i < RATELIMIT_EVENTS_MAX; i++)
		if (w->times[i] != 0)
			return false;
	return true;
}

enum pa_err ratelimit_account_encode(const struct ratelimit_account *st,
                                     uint8_t out[RATELIMIT_ACCOUNT_ENCODED_SIZE])
{
	memset(out, 0, RATELIMIT_ACCOUNT_ENCODED_SIZE);
	if (!account_in_range(st))
		return PA_ERR_RATELIMIT_FORMAT;
	out[0] = RATELIMIT_FORMAT_VERSION;
	put_be32(out + 1, st->consecutive);
	put_be32(out + 5, st->window_failures);
	put_be64(out + 9, st->window_start);
	put_be64(out + 17, st->last_failure);
	put_be64(out + 25, st->locked_until);
	return PA_OK;
}

enum pa_err ratelimit_account_decode(struct ratelimit_account *st, const uint8_t *in, size_t len)
{
	memset(st, 0, sizeof *st);
	if (len != RATELIMIT_ACCOUNT_ENCODED_SIZE || in[0] != RATELIMIT_FORMAT_VERSION)
		return PA_ERR_RATELIMIT_FORMAT;
	st->consecutive = get_be32(in + 1);
	st->window_failures = get_be32(in + 5);
	st->window_start = get_be64(in + 9);
	st->last_failure = get_be64(in + 17);
	st->locked_until = get_be64(in + 25);
	if (account_in_range(st))
		return PA_OK;
	memset(st, 0, sizeof *st);
	return PA_ERR_RATELIMIT_FORMAT;
}

enum pa_err ratelimit_window_encode(const struct ratelimit_window *w,
                                    uint8_t out[RATELIMIT_WINDOW_ENCODED_SIZE])
{
	uint32_t i;

	memset(out, 0, RATELIMIT_WINDOW_ENCODED_SIZE);
	if (!window_in_range(w))
		return PA_ERR_RATELIMIT_FORMAT;
	out[0] = RATELIMIT_FORMAT_VERSION;
	out[1] = (uint8_t)w->count;
	for (i = 0; i < RATELIMIT_EVENTS_MAX; i++)
		put_be64(out + 2 + 8 * i, w->times[i]);
	return PA_OK;
}

enum pa_err ratelimit_window_decode(struct ratelimit_window *w, const uint8_t *in, size_t len)
{
	uint32_t i;

	memset(w, 0, sizeof *w);
	if (len != RATELIMIT_WINDOW_ENCODED_SIZE || in[0] != RATELIMIT_FORMAT_VERSION)
		return PA_ERR_RATELIMIT_FORMAT;
	w->count = in[1];
	for (i = 0; i < RATELIMIT_EVENTS_MAX; i++)
		w->times[i] = get_be64(in + 2 + 8 * i);
	if (window_in_range(w))
		return PA_OK;
	memset(w, 0, sizeof *w);
	return PA_ERR_RATELIMIT_FORMAT;
}

void ratelimit_account_assume_locked(struct ratelimit_account *st,
                                     const struct ratelimit_config *cfg, int64_t now)
{
	memset(st, 0, sizeof *st);
	st->consecutive = cfg->lockout_failures;
	st->last_failure = now;
	st->locked_until = sat_add(now, cfg->lockout_duration);
}

void ratelimit_window_assume_full(struct ratelimit_window *w,
                                  const struct ratelimit_window_config *cfg, int64_t now)
{
	uint32_t i;

	memset(w, 0, sizeof *w);
	w->count = cfg->max_events < RATELIMIT_EVENTS_MAX ? cfg->max_events : RATELIMIT_EVENTS_MAX;
	for (i = 0; i < w->count; i++)
		w->times[i] = now;
}
