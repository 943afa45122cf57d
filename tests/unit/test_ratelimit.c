/*
 * test_ratelimit.c — per-account backoff and lockout, the per-sign-in wrong-code limit, and the
 * sliding-window limiter, each DESIGN §3 rule in a test named after it, plus overflow safety.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/ratelimit.h"

#define T0 1700000000

static const struct ratelimit_config cfg = RATELIMIT_CONFIG_DEFAULT;

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

/* The wait at now, 0 when allowed. */
static int64_t wait_at(const struct ratelimit_account *st, int64_t now)
{
	int64_t retry = -1;
	enum pa_err e = ratelimit_check(st, &cfg, now, &retry);

	if (e == PA_OK)
		return 0;
	assert_int_equal(e, PA_ERR_RATE_LIMITED);
	assert_true(retry >= 1);
	return retry;
}

/* A failure whose lockout flag the test does not need (GCC will not let (void) drop it). */
static void fail_quietly(struct ratelimit_account *st, const struct ratelimit_config *c,
                         int64_t now)
{
	bool locked = ratelimit_fail(st, c, now);

	(void)locked;
}

/* Fail as soon as allowed; returns whether it locked, and moves *now to the attempt's time. */
static bool fail_when_allowed(struct ratelimit_account *st, int64_t *now)
{
	*now += wait_at(st, *now);
	assert_int_equal(wait_at(st, *now), 0);
	return ratelimit_fail(st, &cfg, *now);
}

static void test_defaults_match_design(void **state)
{
	(void)state;
	assert_int_equal(ratelimit_config_check(&cfg), PA_OK);
	assert_int_equal(cfg.lockout_failures, 10);
	assert_int_equal(cfg.lockout_window, 15 * 60);
	assert_int_equal(cfg.signin_codes_max, 5);
	{
		struct ratelimit_window_config sms = RATELIMIT_SMS_PER_NUMBER_DEFAULT,
		                               ip = RATELIMIT_PASSWORD_PER_IP_DEFAULT;

		assert_int_equal(ratelimit_window_config_check(&sms), PA_OK);
		assert_int_equal(ratelimit_window_config_check(&ip), PA_OK);
		assert_int_equal(sms.max_events, 5);
		assert_int_equal(sms.window, 3600);
		assert_int_equal(sms.min_gap, 60);
	}
}

static void test_backoff_grows_exponentially(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	static const int64_t want[] = {0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900};
	int64_t now = T0;
	unsigned i;

	(void)state;
	assert_int_equal(ratelimit_backoff_delay(&cfg, 0), 0);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(ratelimit_backoff_delay(&cfg, i + 1), want[i]);
		/* failures an hour apart: the window never fills, only the backoff counts */
		now += 3600;
		assert_int_equal(wait_at(&st, now), 0);
		assert_false(ratelimit_fail(&st, &cfg, now));
		assert_int_equal(wait_at(&st, now), want[i]);
		if (want[i] > 1)
			assert_int_equal(wait_at(&st, now + want[i] - 1), 1);
		assert_int_equal(wait_at(&st, now + want[i]), 0);
	}
}

static void test_lockout_after_ten_failures_in_fifteen_minutes(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	int64_t now = T0;
	unsigned i;

	(void)state;
	for (i = 1; i < 10; i++)
		assert_false(fail_when_allowed(&st, &now));
	/* waits 2+4+...+128 = 254 s: the tenth comes well within fifteen minutes */
	assert_true(now - T0 < 15 * 60);
	assert_true(fail_when_allowed(&st, &now));
	assert_int_equal(st.locked_until, now + cfg.lockout_duration);
	assert_int_equal(wait_at(&st, now), cfg.lockout_duration);
	assert_int_equal(wait_at(&st, now + cfg.lockout_duration - 1), 1);
	/* after the lock, backoff goes on where it was (the 10th failure's wait is 256 s < 900) */
	assert_int_equal(wait_at(&st, now + cfg.lockout_duration), 0);
	/*
	 * Another ten within fifteen minutes are needed for the next lockout.  (With the backoff at
	 * its 900 s cap no ten can fall in one window; a success in between lets them.)
	 */
	now += cfg.lockout_duration;
	for (i = 1; i < 10; i++) {
		assert_false(fail_when_allowed(&st, &now));
		ratelimit_success(&st);
	}
	assert_true(fail_when_allowed(&st, &now));
}

static void test_no_lockout_when_ten_failures_span_more_than_fifteen_minutes(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	int64_t now = T0;
	unsigned i;

	(void)state;
	for (i = 1; i < 10; i++) {
		assert_false(ratelimit_fail(&st, &cfg, now));
		ratelimit_success(&st); /* keep the backoff out of the way */
		now += 100;
	}
	/* the 10th at T0 + 900: the window that began at T0 has just closed */
	assert_int_equal(now, T0 + 900);
	assert_false(ratelimit_fail(&st, &cfg, now));
	assert_int_equal(st.locked_until, 0);
	assert_int_equal(st.window_failures, 1);
	/* one second earlier it would have locked */
	{
		struct ratelimit_account st2 = RATELIMIT_ACCOUNT_INIT;

		for (i = 1; i < 10; i++)
			assert_false(ratelimit_fail(&st2, &cfg, T0 + (i - 1) * 99));
		assert_true(ratelimit_fail(&st2, &cfg, T0 + 899));
	}
}

static void test_success_resets_backoff(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	int64_t now = T0;
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_false(fail_when_allowed(&st, &now));
	assert_int_equal(wait_at(&st, now), 8);
	ratelimit_success(&st);
	assert_int_equal(st.consecutive, 0);
	assert_int_equal(wait_at(&st, now), 0);
	assert_false(ratelimit_fail(&st, &cfg, now));
	assert_int_equal(wait_at(&st, now), 0); /* within the grace again */
}

/* A success between an attacker's guesses must not hide them from the lockout. */
static void test_success_does_not_reset_lockout_window(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	bool locked = false;
	unsigned i;

	(void)state;
	for (i = 0; i < 10; i++) {
		locked = ratelimit_fail(&st, &cfg, T0 + i);
		ratelimit_success(&st);
	}
	assert_true(locked);
	assert_int_equal(wait_at(&st, T0 + 9), cfg.lockout_duration);
	/* nor does it lift a lockout */
	ratelimit_success(&st);
	assert_int_equal(wait_at(&st, T0 + 10), cfg.lockout_duration - 1);
}

static void test_lock_never_shortens(void **state)
{
	struct ratelimit_config long_lock = cfg;
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	unsigned i;

	(void)state;
	long_lock.lockout_duration = 86400;
	for (i = 0; i < 10; i++)
		fail_quietly(&st, &long_lock, T0);
	assert_int_equal(st.locked_until, T0 + 86400);
	/* a later, shorter lock (config changed) leaves the longer one in place */
	for (i = 0; i < 10; i++)
		fail_quietly(&st, &cfg, T0 + 10);
	assert_int_equal(st.locked_until, T0 + 86400);
}

static void test_signin_ends_after_five_wrong_codes(void **state)
{
	uint32_t wrong = 0;
	unsigned i;

	(void)state;
	for (i = 1; i < 5; i++)
		assert_false(ratelimit_signin_fail(&cfg, &wrong));
	assert_true(ratelimit_signin_fail(&cfg, &wrong));
	assert_int_equal(wrong, 5);
	wrong = UINT32_MAX;
	assert_true(ratelimit_signin_fail(&cfg, &wrong));
	assert_int_equal(wrong, UINT32_MAX);
}

static void test_huge_counts_and_times_do_not_overflow(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	int64_t retry;

	(void)state;
	/* counts saturate */
	st.consecutive = UINT32_MAX;
	st.window_failures = UINT32_MAX;
	st.window_start = T0;
	fail_quietly(&st, &cfg, T0);
	assert_int_equal(st.consecutive, UINT32_MAX);
	assert_int_equal(ratelimit_backoff_delay(&cfg, UINT32_MAX), cfg.backoff_max);
	assert_int_equal(ratelimit_backoff_delay(&cfg, 64), cfg.backoff_max);
	assert_int_equal(ratelimit_backoff_delay(&cfg, 65), cfg.backoff_max);

	/* times at the edges: sums saturate at INT64_MAX, waits stay within the longest one */
	memset(&st, 0, sizeof st);
	assert_true(ratelimit_fail(&st, &cfg, INT64_MAX) == false);
	st.consecutive = 40;
	/* last_failure + wait saturates at INT64_MAX, the end of time: no wait is left there */
	assert_int_equal(ratelimit_check(&st, &cfg, INT64_MAX - 1, &retry), PA_ERR_RATE_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(ratelimit_check(&st, &cfg, INT64_MAX, &retry), PA_OK);
	assert_int_equal(ratelimit_check(&st, &cfg, INT64_MIN, &retry), PA_ERR_RATE_LIMITED);
	assert_int_equal(retry, cfg.backoff_max); /* capped: the clock stepped far back */
	{
		unsigned i;

		memset(&st, 0, sizeof st);
		for (i = 0; i < 10; i++)
			fail_quietly(&st, &cfg, INT64_MAX - 5);
		assert_int_equal(st.locked_until, INT64_MAX);
		assert_int_equal(ratelimit_check(&st, &cfg, INT64_MIN, &retry),
		                 PA_ERR_RATE_LIMITED);
		assert_int_equal(retry, 900);
	}
	/* a fresh account at negative times (before 1970) is not locked by locked_until = 0 */
	memset(&st, 0, sizeof st);
	assert_int_equal(ratelimit_check(&st, &cfg, -1000, &retry), PA_OK);
	assert_int_equal(ratelimit_check(&st, &cfg, INT64_MIN, &retry), PA_OK);
	/* a window far in the past with a huge lockout_window does not overflow */
	{
		struct ratelimit_config wide = cfg;

		wide.lockout_window = INT64_MAX;
		memset(&st, 0, sizeof st);
		fail_quietly(&st, &wide, INT64_MIN);
		fail_quietly(&st, &wide,
		             INT64_MAX); /* further apart than INT64_MAX: a new window */
		assert_int_equal(st.window_failures, 1);
		memset(&st, 0, sizeof st);
		fail_quietly(&st, &wide, 0);
		fail_quietly(&st, &wide, INT64_MAX - 1); /* within it */
		assert_int_equal(st.window_failures, 2);
	}
}

static void test_clock_stepped_back_starts_new_window(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	int64_t retry;

	(void)state;
	fail_quietly(&st, &cfg, T0);
	fail_quietly(&st, &cfg, T0 - 3600);
	assert_int_equal(st.window_start, T0 - 3600);
	assert_int_equal(st.window_failures, 1);
	st.consecutive = 20;
	st.last_failure = T0;
	assert_int_equal(ratelimit_check(&st, &cfg, T0 - 86400, &retry), PA_ERR_RATE_LIMITED);
	assert_int_equal(retry, cfg.backoff_max);
}

static void test_config_checked(void **state)
{
	struct ratelimit_config c = cfg;
	struct ratelimit_window_config w = RATELIMIT_SMS_PER_NUMBER_DEFAULT;
	struct ratelimit_window win = RATELIMIT_WINDOW_INIT;
	int64_t retry;

	(void)state;
	c.backoff_base = 0;
	assert_int_equal(ratelimit_config_check(&c), PA_ERR_INVALID_ARGUMENT);
	c = cfg;
	c.backoff_max = 1;
	assert_int_equal(ratelimit_config_check(&c), PA_ERR_INVALID_ARGUMENT);
	c = cfg;
	c.lockout_failures = 0;
	assert_int_equal(ratelimit_config_check(&c), PA_ERR_INVALID_ARGUMENT);
	c = cfg;
	c.lockout_window = 0;
	assert_int_equal(ratelimit_config_check(&c), PA_ERR_INVALID_ARGUMENT);
	c = cfg;
	c.lockout_duration = -1;
	assert_int_equal(ratelimit_config_check(&c), PA_ERR_INVALID_ARGUMENT);
	c = cfg;
	c.signin_codes_max = 0;
	assert_int_equal(ratelimit_config_check(&c), PA_ERR_INVALID_ARGUMENT);

	w.max_events = 0;
	assert_int_equal(ratelimit_window_config_check(&w), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(ratelimit_window_take(&win, &w, T0, &retry), PA_ERR_INVALID_ARGUMENT);
	w.max_events = RATELIMIT_EVENTS_MAX + 1;
	assert_int_equal(ratelimit_window_config_check(&w), PA_ERR_INVALID_ARGUMENT);
	w.max_events = RATELIMIT_EVENTS_MAX;
	assert_int_equal(ratelimit_window_config_check(&w), PA_OK);
	w.window = 0;
	assert_int_equal(ratelimit_window_config_check(&w), PA_ERR_INVALID_ARGUMENT);
	w.window = 1;
	w.min_gap = -1;
	assert_int_equal(ratelimit_window_config_check(&w), PA_ERR_INVALID_ARGUMENT);
	w.min_gap = 0;
	win.count = RATELIMIT_EVENTS_MAX + 1; /* corrupt state */
	assert_int_equal(ratelimit_window_check(&win, &w, T0, &retry), PA_ERR_INVALID_ARGUMENT);
}

/* ---- sliding window ----------------------------------------------------------------------- */

static const struct ratelimit_window_config sms = RATELIMIT_SMS_PER_NUMBER_DEFAULT;

static int64_t take(struct ratelimit_window *w, const struct ratelimit_window_config *c,
                    int64_t now)
{
	int64_t retry = -1;
	enum pa_err e = ratelimit_window_take(w, c, now, &retry);

	if (e == PA_OK)
		return 0;
	assert_int_equal(e, PA_ERR_RATE_LIMITED);
	assert_true(retry >= 1);
	return retry;
}

static void test_sms_resend_no_sooner_than_sixty_seconds(void **state)
{
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	int64_t retry;

	(void)state;
	assert_int_equal(take(&w, &sms, T0), 0);
	assert_int_equal(take(&w, &sms, T0 + 1), 59);
	assert_int_equal(ratelimit_window_check(&w, &sms, T0 + 59, &retry), PA_ERR_RATE_LIMITED);
	assert_int_equal(retry, 1);
	assert_int_equal(w.count, 1); /* refusals are not recorded */
	assert_int_equal(take(&w, &sms, T0 + 60), 0);
}

static void test_at_most_five_texts_per_number_per_hour(void **state)
{
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(take(&w, &sms, T0 + 60 * i), 0);
	assert_int_equal(take(&w, &sms, T0 + 300), 3300);
	assert_int_equal(take(&w, &sms, T0 + 3599), 1);
	assert_int_equal(take(&w, &sms, T0 + 3600), 0);
}

static void test_window_slides(void **state)
{
	struct ratelimit_window_config c = {.max_events = 3, .window = 100, .min_gap = 0};
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;

	(void)state;
	assert_int_equal(take(&w, &c, 0), 0);
	assert_int_equal(take(&w, &c, 10), 0);
	assert_int_equal(take(&w, &c, 50), 0);
	assert_int_equal(take(&w, &c, 60), 40); /* until the event at 0 ages out */
	assert_int_equal(take(&w, &c, 100), 0);
	assert_int_equal(take(&w, &c, 101), 9); /* now the one at 10 */
	assert_int_equal(take(&w, &c, 110), 0);
	assert_int_equal(take(&w, &c, 149), 1); /* and the one at 50 */
	assert_int_equal(take(&w, &c, 150), 0);
	/* after a long quiet spell the whole allowance is back */
	assert_int_equal(take(&w, &c, 1000), 0);
	assert_int_equal(take(&w, &c, 1000), 0);
	assert_int_equal(take(&w, &c, 1000), 0);
	assert_int_equal(take(&w, &c, 1000), 100);
	assert_int_equal(w.count, 3);
}

/* Random attempts: every window of W seconds holds at most N of the recorded events. */
static void test_window_never_exceeds_n_in_any_window(void **state)
{
	struct ratelimit_window_config c = {.max_events = 7, .window = 60, .min_gap = 2};
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	static int64_t log[20000];
	size_t n = 0, i, j;
	int64_t now = T0;

	(void)state;
	srand(1);
	for (i = 0; i < 20000; i++) {
		now += rand() % 5;
		if (take(&w, &c, now) == 0)
			log[n++] = now;
	}
	assert_true(n > 1000);
	for (i = 0; i < n; i++) {
		for (j = i; j < n && log[j] < log[i] + c.window; j++)
			;
		assert_true(j - i <= c.max_events);
		if (i > 0)
			assert_true(log[i] - log[i - 1] >= c.min_gap);
	}
}

static void test_window_clock_stepped_back(void **state)
{
	struct ratelimit_window_config c = {.max_events = 2, .window = 100, .min_gap = 10};
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	int64_t retry;

	(void)state;
	assert_int_equal(take(&w, &c, T0), 0);
	/* a day back: still limited by the gap after T0, the wait capped at the window */
	assert_int_equal(take(&w, &c, T0 - 86400), 100);
	assert_int_equal(take(&w, &c, T0 + 10), 0);
	assert_int_equal(w.times[1], T0 + 10);
	/* huge times: no overflow */
	memset(&w, 0, sizeof w);
	assert_int_equal(take(&w, &c, INT64_MAX - 5), 0);
	assert_int_equal(ratelimit_window_check(&w, &c, INT64_MAX - 5, &retry),
	                 PA_ERR_RATE_LIMITED);
	assert_int_equal(retry, 5); /* the sum saturated at INT64_MAX */
	assert_int_equal(ratelimit_window_check(&w, &c, INT64_MIN, &retry), PA_ERR_RATE_LIMITED);
	assert_int_equal(retry, 100);
	memset(&w, 0, sizeof w);
	assert_int_equal(take(&w, &c, INT64_MIN), 0);
	assert_int_equal(take(&w, &c, INT64_MIN + 10), 0);
	assert_int_equal(take(&w, &c, INT64_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_match_design),
	    cmocka_unit_test(test_backoff_grows_exponentially),
	    cmocka_unit_test(test_lockout_after_ten_failures_in_fifteen_minutes),
	    cmocka_unit_test(test_no_lockout_when_ten_failures_span_more_than_fifteen_minutes),
	    cmocka_unit_test(test_success_resets_backoff),
	    cmocka_unit_test(test_success_does_not_reset_lockout_window),
	    cmocka_unit_test(test_lock_never_shortens),
	    cmocka_unit_test(test_signin_ends_after_five_wrong_codes),
	    cmocka_unit_test(test_huge_counts_and_times_do_not_overflow),
	    cmocka_unit_test(test_clock_stepped_back_starts_new_window),
	    cmocka_unit_test(test_config_checked),
	    cmocka_unit_test(test_sms_resend_no_sooner_than_sixty_seconds),
	    cmocka_unit_test(test_at_most_five_texts_per_number_per_hour),
	    cmocka_unit_test(test_window_slides),
	    cmocka_unit_test(test_window_never_exceeds_n_in_any_window),
	    cmocka_unit_test(test_window_clock_stepped_back),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
