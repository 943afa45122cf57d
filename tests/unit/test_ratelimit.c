/*
 * test_ratelimit.c — per-account backoff and lockout, the per-sign-in wrong-code limit, and the
 * sliding-window limiter, each DESIGN §3 rule in a test named after it, plus overflow safety;
 * and the stored form of the states (round trips, fixed golden bytes, malformed blobs refused
 * and read the strict way).
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

/* ---- the stored form ---------------------------------------------------------------------- */

static void assert_account_equal(const struct ratelimit_account *a,
                                 const struct ratelimit_account *b)
{
	assert_int_equal(a->consecutive, b->consecutive);
	assert_int_equal(a->window_failures, b->window_failures);
	assert_int_equal(a->window_start, b->window_start);
	assert_int_equal(a->last_failure, b->last_failure);
	assert_int_equal(a->locked_until, b->locked_until);
}

static void assert_window_equal(const struct ratelimit_window *a, const struct ratelimit_window *b)
{
	assert_int_equal(a->count, b->count);
	assert_memory_equal(a->times, b->times, sizeof a->times);
}

/* A decode that must fail: the error, and nothing of the blob left in *st. */
static void assert_account_refused(const uint8_t *in, size_t len)
{
	struct ratelimit_account st;

	memset(&st, 0xa5, sizeof st);
	assert_int_equal(ratelimit_account_decode(&st, in, len), PA_ERR_RATELIMIT_FORMAT);
	assert_account_equal(&st, &(struct ratelimit_account)RATELIMIT_ACCOUNT_INIT);
}

static void assert_window_refused(const uint8_t *in, size_t len)
{
	struct ratelimit_window w;

	memset(&w, 0xa5, sizeof w);
	assert_int_equal(ratelimit_window_decode(&w, in, len), PA_ERR_RATELIMIT_FORMAT);
	assert_window_equal(&w, &(struct ratelimit_window)RATELIMIT_WINDOW_INIT);
}

static void account_round_trip(const struct ratelimit_account *st)
{
	uint8_t blob[RATELIMIT_ACCOUNT_ENCODED_SIZE];
	struct ratelimit_account back;

	assert_int_equal(ratelimit_account_encode(st, blob), PA_OK);
	assert_int_equal(blob[0], RATELIMIT_FORMAT_VERSION);
	assert_int_equal(ratelimit_account_decode(&back, blob, sizeof blob), PA_OK);
	assert_account_equal(&back, st);
}

static void window_round_trip(const struct ratelimit_window *w)
{
	uint8_t blob[RATELIMIT_WINDOW_ENCODED_SIZE];
	struct ratelimit_window back;

	assert_int_equal(ratelimit_window_encode(w, blob), PA_OK);
	assert_int_equal(blob[0], RATELIMIT_FORMAT_VERSION);
	assert_int_equal(ratelimit_window_decode(&back, blob, sizeof blob), PA_OK);
	assert_window_equal(&back, w);
}

static void test_account_state_round_trips(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	int64_t now = T0;
	unsigned i;

	(void)state;
	assert_int_equal(RATELIMIT_ACCOUNT_ENCODED_SIZE, 33);
	account_round_trip(&st);
	/* every state the rules pass through on the way to a lockout and beyond */
	for (i = 0; i < 12; i++) {
		fail_quietly(&st, &cfg, now);
		account_round_trip(&st);
		now += 37;
	}
	assert_true(st.locked_until > now);
	ratelimit_success(&st);
	account_round_trip(&st);
	/* the extremes of every field */
	st = (struct ratelimit_account){.consecutive = UINT32_MAX,
	                                .window_failures = UINT32_MAX,
	                                .window_start = 0,
	                                .last_failure = INT64_MAX,
	                                .locked_until = INT64_MAX};
	account_round_trip(&st);
}

static void test_window_state_round_trips(void **state)
{
	struct ratelimit_window_config c = {.max_events = RATELIMIT_EVENTS_MAX, .window = 600};
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	unsigned i;

	(void)state;
	assert_int_equal(RATELIMIT_WINDOW_ENCODED_SIZE, 258);
	window_round_trip(&w);
	for (i = 0; i < RATELIMIT_EVENTS_MAX; i++) {
		assert_int_equal(take(&w, &c, T0 + i / 3), 0);
		window_round_trip(&w);
	}
	assert_int_equal(w.count, RATELIMIT_EVENTS_MAX);
	assert_int_equal(take(&w, &c, T0 + 700), 0); /* the old ones age out: slots freed */
	assert_int_equal(w.count, 1);
	window_round_trip(&w);
	w.times[0] = INT64_MAX;
	window_round_trip(&w);
}

/* The format is fixed: these bytes are what every build, on every architecture, writes and
 * reads.  A test that has to change here means stored states from before no longer read. */
static void test_account_state_golden_bytes(void **state)
{
	static const uint8_t golden[RATELIMIT_ACCOUNT_ENCODED_SIZE] = {
	    0x01,                                           /* version */
	    0x00, 0x00, 0x00, 0x03,                         /* consecutive */
	    0x00, 0x00, 0x00, 0x02,                         /* window_failures */
	    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, /* window_start 1700000000 */
	    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x3c, /* last_failure 1700000060 */
	    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf4, 0x84, /* locked_until 1700000900 */
	};
	static const uint8_t golden_order[RATELIMIT_ACCOUNT_ENCODED_SIZE] = {
	    0x01, 0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0, 0x00, 0x11,
	    0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x00, 0x11, 0x22, 0x33, 0x44,
	    0x55, 0x66, 0x78, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	const struct ratelimit_account st = {.consecutive = 3,
	                                     .window_failures = 2,
	                                     .window_start = 1700000000,
	                                     .last_failure = 1700000060,
	                                     .locked_until = 1700000900},
	                               order = {.consecutive = 0x01020304,
	                                        .window_failures = 0xa0b0c0d0,
	                                        .window_start = 0x0011223344556677,
	                                        .last_failure = 0x0011223344556678,
	                                        .locked_until = INT64_MAX};
	uint8_t blob[RATELIMIT_ACCOUNT_ENCODED_SIZE];
	struct ratelimit_account back;

	(void)state;
	assert_int_equal(ratelimit_account_encode(&st, blob), PA_OK);
	assert_memory_equal(blob, golden, sizeof golden);
	assert_int_equal(ratelimit_account_decode(&back, golden, sizeof golden), PA_OK);
	assert_account_equal(&back, &st);
	assert_int_equal(ratelimit_account_encode(&order, blob), PA_OK);
	assert_memory_equal(blob, golden_order, sizeof golden_order);
	assert_int_equal(ratelimit_account_decode(&back, golden_order, sizeof golden_order), PA_OK);
	assert_account_equal(&back, &order);
}

static void test_window_state_golden_bytes(void **state)
{
	static const uint8_t golden[RATELIMIT_WINDOW_ENCODED_SIZE] = {
	    0x01,                                           /* version */
	    0x02,                                           /* count */
	    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00, /* times[0] 1700000000 */
	    0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x2a, /* times[1] 1700000042 */
	};                                                  /* times[2 .. 32): zero */
	struct ratelimit_window w = {.count = 2, .times = {1700000000, 1700000042}}, back;
	uint8_t blob[RATELIMIT_WINDOW_ENCODED_SIZE];

	(void)state;
	assert_int_equal(ratelimit_window_encode(&w, blob), PA_OK);
	assert_memory_equal(blob, golden, sizeof golden);
	assert_int_equal(ratelimit_window_decode(&back, golden, sizeof golden), PA_OK);
	assert_window_equal(&back, &w);
}

static void test_malformed_account_state_refused(void **state)
{
	const struct ratelimit_account st = {.consecutive = 3,
	                                     .window_failures = 2,
	                                     .window_start = T0,
	                                     .last_failure = T0 + 60,
	                                     .locked_until = T0 + 900};
	uint8_t good[RATELIMIT_ACCOUNT_ENCODED_SIZE + 1], bad[sizeof good];
	unsigned i;

	(void)state;
	assert_int_equal(ratelimit_account_encode(&st, good), PA_OK);
	good[RATELIMIT_ACCOUNT_ENCODED_SIZE] = 0;
	/* length: empty, short, the raw C struct of earlier builds (32 bytes), long */
	assert_account_refused(good, 0);
	assert_account_refused(good, 1);
	assert_account_refused(good, sizeof(struct ratelimit_account));
	assert_account_refused(good, RATELIMIT_ACCOUNT_ENCODED_SIZE - 1);
	assert_account_refused(good, RATELIMIT_ACCOUNT_ENCODED_SIZE + 1);
	/* version: none, a later one, garbage */
	static const uint8_t versions[] = {0x00, 0x02, 0x80, 0xff};
	for (i = 0; i < sizeof versions; i++) {
		memcpy(bad, good, sizeof good);
		bad[0] = versions[i];
		assert_account_refused(bad, RATELIMIT_ACCOUNT_ENCODED_SIZE);
	}
	/* a negative time in each time field (its sign bit set) */
	for (i = 9; i < RATELIMIT_ACCOUNT_ENCODED_SIZE; i += 8) {
		memcpy(bad, good, sizeof good);
		bad[i] |= 0x80;
		assert_account_refused(bad, RATELIMIT_ACCOUNT_ENCODED_SIZE);
	}
	/* a window that starts after its latest failure */
	memcpy(bad, good, sizeof good);
	bad[9 + 7] ^= 0xff; /* window_start's low byte: now past last_failure */
	assert_account_refused(bad, RATELIMIT_ACCOUNT_ENCODED_SIZE);
	/* ... which is fine once no window is open */
	memset(bad + 5, 0, 4);
	struct ratelimit_account back;
	assert_int_equal(ratelimit_account_decode(&back, bad, RATELIMIT_ACCOUNT_ENCODED_SIZE),
	                 PA_OK);
}

static void test_malformed_window_state_refused(void **state)
{
	struct ratelimit_window w = {.count = 3, .times = {T0, T0 + 1, T0 + 1}};
	uint8_t good[RATELIMIT_WINDOW_ENCODED_SIZE + 1], bad[sizeof good];

	(void)state;
	assert_int_equal(ratelimit_window_encode(&w, good), PA_OK);
	good[RATELIMIT_WINDOW_ENCODED_SIZE] = 0;
	assert_window_refused(good, 0);
	assert_window_refused(good,
	                      sizeof(struct ratelimit_window)); /* earlier builds' raw struct */
	assert_window_refused(good, RATELIMIT_WINDOW_ENCODED_SIZE - 1);
	assert_window_refused(good, RATELIMIT_WINDOW_ENCODED_SIZE + 1);
	memcpy(bad, good, sizeof good);
	bad[0] = 2; /* version */
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
	memcpy(bad, good, sizeof good);
	bad[1] = RATELIMIT_EVENTS_MAX + 1; /* count */
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
	bad[1] = 0xff;
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
	bad[1] = 2; /* the third time is now an unused slot, and not zero */
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
	memcpy(bad, good, sizeof good);
	bad[2 + 8 * 2 + 6] -= 1; /* times[2] 256 s before times[1] */
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
	memcpy(bad, good, sizeof good);
	bad[2] = 0x80; /* times[0] negative */
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
	memcpy(bad, good, sizeof good);
	bad[1] = 4; /* a fourth event at time 0: before the third */
	assert_window_refused(bad, RATELIMIT_WINDOW_ENCODED_SIZE);
}

/* The encoder makes nothing the decoder would refuse: such a state is an error, not a blob. */
static void test_encode_refuses_states_out_of_range(void **state)
{
	struct ratelimit_account st = {
	    .window_failures = 1, .window_start = T0, .last_failure = T0 - 1};
	struct ratelimit_window w = {.count = 2, .times = {T0, T0 - 1}};
	uint8_t a[RATELIMIT_ACCOUNT_ENCODED_SIZE], b[RATELIMIT_WINDOW_ENCODED_SIZE];
	static const uint8_t zero[RATELIMIT_WINDOW_ENCODED_SIZE];

	(void)state;
	assert_int_equal(ratelimit_account_encode(&st, a), PA_ERR_RATELIMIT_FORMAT);
	assert_memory_equal(a, zero, sizeof a);
	st = (struct ratelimit_account){.locked_until = -1};
	assert_int_equal(ratelimit_account_encode(&st, a), PA_ERR_RATELIMIT_FORMAT);
	st = (struct ratelimit_account){.last_failure = INT64_MIN};
	assert_int_equal(ratelimit_account_encode(&st, a), PA_ERR_RATELIMIT_FORMAT);
	assert_int_equal(ratelimit_window_encode(&w, b), PA_ERR_RATELIMIT_FORMAT);
	assert_memory_equal(b, zero, sizeof b);
	w = (struct ratelimit_window){.count = RATELIMIT_EVENTS_MAX + 1};
	assert_int_equal(ratelimit_window_encode(&w, b), PA_ERR_RATELIMIT_FORMAT);
	w = (struct ratelimit_window){.count = 1, .times = {T0, T0}}; /* a stray unused time */
	assert_int_equal(ratelimit_window_encode(&w, b), PA_ERR_RATELIMIT_FORMAT);
	w = (struct ratelimit_window){.count = 1, .times = {-5}};
	assert_int_equal(ratelimit_window_encode(&w, b), PA_ERR_RATELIMIT_FORMAT);
}

/* Random blobs: a decoder never reads past the length it is given, and whatever it accepts
 * encodes back to the same bytes (one state, one blob). */
static void test_decode_accepts_only_canonical_blobs(void **state)
{
	uint8_t in[RATELIMIT_WINDOW_ENCODED_SIZE], out[RATELIMIT_WINDOW_ENCODED_SIZE];
	struct ratelimit_account st;
	struct ratelimit_window w;
	unsigned i, j, accepted = 0;

	(void)state;
	srand(7);
	for (i = 0; i < 200000; i++) {
		for (j = 0; j < sizeof in; j++)
			in[j] = (uint8_t)rand();
		/* bias towards blobs that get past the first checks */
		in[0] = rand() % 4 ? RATELIMIT_FORMAT_VERSION : in[0];
		for (j = 1; j < RATELIMIT_ACCOUNT_ENCODED_SIZE; j++)
			if (rand() % 2)
				in[j] &= 0x3f;
		if (ratelimit_account_decode(&st, in, RATELIMIT_ACCOUNT_ENCODED_SIZE) == PA_OK) {
			accepted++;
			assert_int_equal(ratelimit_account_encode(&st, out), PA_OK);
			assert_memory_equal(out, in, RATELIMIT_ACCOUNT_ENCODED_SIZE);
		}
		in[1] %= RATELIMIT_EVENTS_MAX + 2;
		if (ratelimit_window_decode(&w, in, sizeof in) == PA_OK) {
			assert_int_equal(ratelimit_window_encode(&w, out), PA_OK);
			assert_memory_equal(out, in, sizeof in);
		}
	}
	assert_true(accepted > 1000);
}

/* DESIGN §3 lockout: a stored state that cannot be read never unlocks the account.  It is
 * read as locked from now, for one lockout, and the backoff after it is the lockout's. */
static void test_malformed_state_never_unlocks(void **state)
{
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	uint8_t blob[RATELIMIT_ACCOUNT_ENCODED_SIZE];
	int64_t now = T0;
	unsigned i;

	(void)state;
	for (i = 0; i < 10; i++)
		(void)fail_when_allowed(&st, &now);
	assert_true(wait_at(&st, now) > 256);
	assert_int_equal(ratelimit_account_encode(&st, blob), PA_OK);
	blob[0] = 0x7f; /* damaged (or written by a later build) */
	assert_int_equal(ratelimit_account_decode(&st, blob, sizeof blob), PA_ERR_RATELIMIT_FORMAT);
	/* Fresh would let the attacker go on at once; the strict reading does not. */
	assert_int_equal(wait_at(&st, now), 0);
	ratelimit_account_assume_locked(&st, &cfg, now);
	assert_int_equal(wait_at(&st, now), cfg.lockout_duration);
	assert_int_equal(wait_at(&st, now + cfg.lockout_duration - 1), 1);
	account_round_trip(&st); /* and it is stored in place of the bad blob */
	now += cfg.lockout_duration;
	assert_int_equal(wait_at(&st, now), 0);
	fail_quietly(&st, &cfg, now);
	assert_int_equal(wait_at(&st, now),
	                 ratelimit_backoff_delay(&cfg, cfg.lockout_failures + 1));
	assert_true(wait_at(&st, now) > 2);
}

static void test_malformed_window_is_read_as_full(void **state)
{
	struct ratelimit_window_config c = RATELIMIT_PASSWORD_PER_IP_DEFAULT;
	struct ratelimit_window w;

	(void)state;
	ratelimit_window_assume_full(&w, &c, T0);
	window_round_trip(&w);
	assert_int_equal(take(&w, &c, T0), c.window);
	assert_int_equal(take(&w, &c, T0 + c.window - 1), 1);
	assert_int_equal(take(&w, &c, T0 + c.window), 0);
	c.max_events = RATELIMIT_EVENTS_MAX;
	ratelimit_window_assume_full(&w, &c, T0);
	assert_int_equal(w.count, RATELIMIT_EVENTS_MAX);
	assert_int_equal(take(&w, &c, T0), c.window);
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
	    cmocka_unit_test(test_account_state_round_trips),
	    cmocka_unit_test(test_window_state_round_trips),
	    cmocka_unit_test(test_account_state_golden_bytes),
	    cmocka_unit_test(test_window_state_golden_bytes),
	    cmocka_unit_test(test_malformed_account_state_refused),
	    cmocka_unit_test(test_malformed_window_state_refused),
	    cmocka_unit_test(test_encode_refuses_states_out_of_range),
	    cmocka_unit_test(test_decode_accepts_only_canonical_blobs),
	    cmocka_unit_test(test_malformed_state_never_unlocks),
	    cmocka_unit_test(test_malformed_window_is_read_as_full),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
