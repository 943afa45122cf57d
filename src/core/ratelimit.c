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
