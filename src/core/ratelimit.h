/*
 * ratelimit.h — the arithmetic of throttling (DESIGN §3 "second-step attempts", SMS sending):
 * per-account backoff and lockout, per-sign-in wrong-code counting, and a sliding-window limiter
 * for per-IP password attempts and per-number SMS sends.
 *
 * Per account, failures of the second step across sign-ins (RFC 4226 §7.3: throttle, and lock
 * out after a number of failures):
 *   - backoff: after the first backoff_grace consecutive failures, failure n makes the next
 *     attempt wait backoff_base * 2^(n - backoff_grace - 1) seconds after it, capped at
 *     backoff_max (defaults: no wait after the 1st and 2nd, then 2, 4, 8, ... up to 900 s);
 *     RFC 4226 §7.3 suggests a delay that grows with each failure, DESIGN §3 asks for it to
 *     grow exponentially;
 *   - lockout: lockout_failures failures in a window of lockout_window seconds (counted from the
 *     first failure of the window) lock the account for lockout_duration seconds (defaults: 10
 *     in 15 min lock for 15 min); the failure that locks says so, for the audit log;
 *   - a success ends the backoff (not a lockout, and not the window count: a success between an
 *     attacker's guesses must not hide them from the lockout).
 * Per sign-in, at most signin_codes_max wrong codes (default 5); the server keeps the count with
 * the pending sign-in and ratelimit_signin_fail says when to end it.
 *
 * All of it is integer arithmetic over small structs that the caller keeps (store, memory) and
 * passes in with the time: this module never reads a clock.  Counts saturate instead of
 * wrapping, and time sums saturate at INT64_MAX, so huge counts and times (or a clock that
 * stepped back) can neither overflow nor unlock anything; a wait reported is never longer than
 * the longest configured one.  Functions assume a config that passes its _check function.
 * The states are stored as blobs shared by nodes, builds and databases: they travel in the
 * fixed byte format of the "stored form" section below, never as raw C structs.
 * Not for: deciding what is a failure, or what to answer (the handlers do: 429 with the wait).
 */
#ifndef PAHARA_CORE_RATELIMIT_H
#define PAHARA_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ---- per account and per sign-in ---------------------------------------------------------- */

struct ratelimit_config {
	uint32_t backoff_grace;    /* consecutive failures with no wait after them */
	int64_t backoff_base;      /* seconds of the first wait */
	int64_t backoff_max;       /* seconds, the longest wait */
	uint32_t lockout_failures; /* failures within lockout_window that lock */
	int64_t lockout_window;    /* seconds */
	int64_t lockout_duration;  /* seconds locked */
	uint32_t signin_codes_max; /* wrong codes that end one sign-in */
};

#define RATELIMIT_BACKOFF_GRACE_DEFAULT 2
#define RATELIMIT_BACKOFF_BASE_DEFAULT 2
#define RATELIMIT_BACKOFF_MAX_DEFAULT 900
#define RATELIMIT_LOCKOUT_FAILURES_DEFAULT 10 /* DESIGN §3 */
#define RATELIMIT_LOCKOUT_WINDOW_DEFAULT 900  /* 15 minutes, DESIGN §3 */
#define RATELIMIT_LOCKOUT_DURATION_DEFAULT 900
#define RATELIMIT_SIGNIN_CODES_MAX_DEFAULT 5 /* DESIGN §3 */

#define RATELIMIT_CONFIG_DEFAULT                                                                   \
	{                                                                                          \
		.backoff_grace = RATELIMIT_BACKOFF_GRACE_DEFAULT,                                  \
		.backoff_base = RATELIMIT_BACKOFF_BASE_DEFAULT,                                    \
		.backoff_max = RATELIMIT_BACKOFF_MAX_DEFAULT,                                      \
		.lockout_failures = RATELIMIT_LOCKOUT_FAILURES_DEFAULT,                            \
		.lockout_window = RATELIMIT_LOCKOUT_WINDOW_DEFAULT,                                \
		.lockout_duration = RATELIMIT_LOCKOUT_DURATION_DEFAULT,                            \
		.signin_codes_max = RATELIMIT_SIGNIN_CODES_MAX_DEFAULT,                            \
	}

/* One account's failures.  All zero (RATELIMIT_ACCOUNT_INIT) is a fresh account. */
struct ratelimit_account {
	uint32_t consecutive;     /* failures since the last success (saturating) */
	uint32_t window_failures; /* failures since window_start (saturating); 0 = no window */
	int64_t window_start;     /* unix seconds of the window's first failure */
	int64_t last_failure;     /* unix seconds of the latest failure */
	int64_t locked_until;     /* no attempt before this time; 0 = never locked */
};

#define RATELIMIT_ACCOUNT_INIT                                                                     \
	{                                                                                          \
		0                                                                                  \
	}

/*
 * Errors: PA_ERR_INVALID_ARGUMENT unless backoff_base >= 1, backoff_max >= backoff_base,
 * lockout_failures >= 1, lockout_window >= 1, lockout_duration >= 0, signin_codes_max >= 1.
 */
enum pa_err ratelimit_config_check(const struct ratelimit_config *cfg) PA_MUST_CHECK;

/* The wait after the n-th consecutive failure, in seconds (0 within the grace). */
int64_t ratelimit_backoff_delay(const struct ratelimit_config *cfg, uint32_t n);

/*
 * May the account attempt the second step at time now?  PA_OK, or PA_ERR_RATE_LIMITED with the
 * seconds to wait (>= 1) in *retry_after.  Does not change st: a refused attempt is not a failure.
 */
enum pa_err ratelimit_check(const struct ratelimit_account *st, const struct ratelimit_config *cfg,
                            int64_t now, int64_t *retry_after) PA_MUST_CHECK;

/*
 * Count a failed attempt at time now.  Returns true when this failure locked the account (audit
 * it, DESIGN §3: every lockout is audited).
 */
bool ratelimit_fail(struct ratelimit_account *st, const struct ratelimit_config *cfg,
                    int64_t now) PA_MUST_CHECK;

/* Count a success: the backoff starts again from nothing. */
void ratelimit_success(struct ratelimit_account *st);

/*
 * Count one wrong code of a sign-in in *wrong_codes (saturating); returns true when the sign-in
 * must end now (DESIGN §3: at most signin_codes_max wrong codes per sign-in).
 */
bool ratelimit_signin_fail(const struct ratelimit_config *cfg, uint32_t *wrong_codes) PA_MUST_CHECK;

/* ---- sliding window: at most N events per W seconds, and S seconds apart ------------------ */

#define RATELIMIT_EVENTS_MAX 32 /* the largest N a window can count */

struct ratelimit_window_config {
	uint32_t max_events; /* N: events allowed in any window of length window, 1..EVENTS_MAX */
	int64_t window;      /* W: seconds, >= 1 */
	int64_t min_gap;     /* S: seconds from one event to the next, >= 0 */
};

/* DESIGN §3: at most 5 texts per number per hour, a resend no sooner than 60 s. */
#define RATELIMIT_SMS_PER_NUMBER_DEFAULT                                                           \
	{                                                                                          \
		.max_events = 5, .window = 3600, .min_gap = 60                                     \
	}
/* Per IP address, password attempts: our choice, DESIGN §3 names no number. */
#define RATELIMIT_PASSWORD_PER_IP_DEFAULT                                                          \
	{                                                                                          \
		.max_events = 20, .window = 300, .min_gap = 0                                      \
	}

/*
 * The latest events of one subject (a phone number, an IP address).  times[0 .. count) are
 * ascending; an event at t counts while now < t + window.  Zero (RATELIMIT_WINDOW_INIT) is fresh.
 * Exact, not approximate: any window of W seconds holds at most N events.
 */
struct ratelimit_window {
	uint32_t count;                      /* events kept, <= RATELIMIT_EVENTS_MAX */
	int64_t times[RATELIMIT_EVENTS_MAX]; /* unix seconds, oldest first */
};

#define RATELIMIT_WINDOW_INIT                                                                      \
	{                                                                                          \
		0                                                                                  \
	}

/* Errors: PA_ERR_INVALID_ARGUMENT when cfg is out of the ranges above. */
enum pa_err ratelimit_window_config_check(const struct ratelimit_window_config *cfg) PA_MUST_CHECK;

/*
 * Would an event at time now be allowed?  PA_OK, or PA_ERR_RATE_LIMITED with the seconds to wait
 * (>= 1) in *retry_after.  Does not change w.  For showing "resend possible in 42 s".
 * Errors also: PA_ERR_INVALID_ARGUMENT (cfg, or w->count out of range).
 */
enum pa_err ratelimit_window_check(const struct ratelimit_window *w,
                                   const struct ratelimit_window_config *cfg, int64_t now,
                                   int64_t *retry_after) PA_MUST_CHECK;

/*
 * As ratelimit_window_check, and when allowed, record the event (forgetting events that no
 * longer count).  An event at a time before the latest one recorded (a clock stepped back) is
 * recorded at the latest one's time, which keeps the order and errs on the strict side.
 */
enum pa_err ratelimit_window_take(struct ratelimit_window *w,
                                  const struct ratelimit_window_config *cfg, int64_t now,
                                  int64_t *retry_after) PA_MUST_CHECK;

/* ---- the stored form ---------------------------------------------------------------------- */

/*
 * The store keeps these states in blobs that other nodes, later builds and another database
 * (SQLite today, PostgreSQL later; exported from one, imported into the other) read back, so
 * they are written field by field in a fixed layout that depends on no compiler, ABI or byte
 * order.  Integers are big-endian; times are int64 unix seconds in two's complement.
 *
 *   account, RATELIMIT_ACCOUNT_ENCODED_SIZE (33) bytes:
 *     0   1  version, RATELIMIT_FORMAT_VERSION (1)
 *     1   4  consecutive          uint32
 *     5   4  window_failures      uint32
 *     9   8  window_start         int64, >= 0
 *    17   8  last_failure         int64, >= 0
 *    25   8  locked_until         int64, >= 0
 *   window, RATELIMIT_WINDOW_ENCODED_SIZE (258) bytes:
 *     0   1  version, RATELIMIT_FORMAT_VERSION (1)
 *     1   1  count                0 .. RATELIMIT_EVENTS_MAX
 *     2 256  times[0 .. 32)       int64 each; the first count >= 0 and ascending, the rest 0
 *
 * A decoder accepts exactly what the encoder makes, and the encoder refuses a state it could
 * not read back: the wrong length, another version, or a value out of range (above, and for an
 * account: window_failures > 0 only with window_start <= last_failure, which ratelimit_fail
 * keeps) is PA_ERR_RATELIMIT_FORMAT.  A new layout gets a new version byte; a build that does
 * not know it refuses the blob rather than guess.
 *
 * A blob that does not decode must never be read as a fresh state: that would unlock a locked
 * account.  The _assume_ functions give the strict reading to use (and store) instead.
 */

#define RATELIMIT_FORMAT_VERSION 1
#define RATELIMIT_ACCOUNT_ENCODED_SIZE 33                            /* 1 + 4 + 4 + 3 * 8 */
#define RATELIMIT_WINDOW_ENCODED_SIZE (2 + 8 * RATELIMIT_EVENTS_MAX) /* 258 */

/* Errors: PA_ERR_RATELIMIT_FORMAT (st out of the ranges above; out is then all zero). */
enum pa_err ratelimit_account_encode(const struct ratelimit_account *st,
                                     uint8_t out[RATELIMIT_ACCOUNT_ENCODED_SIZE]) PA_MUST_CHECK;

/* Read len bytes of in into *st.  Errors: PA_ERR_RATELIMIT_FORMAT (then *st is all zero). */
enum pa_err ratelimit_account_decode(struct ratelimit_account *st, const uint8_t *in,
                                     size_t len) PA_MUST_CHECK;

/* Errors: PA_ERR_RATELIMIT_FORMAT (w out of the ranges above; out is then all zero). */
enum pa_err ratelimit_window_encode(const struct ratelimit_window *w,
                                    uint8_t out[RATELIMIT_WINDOW_ENCODED_SIZE]) PA_MUST_CHECK;

/* Read len bytes of in into *w.  Errors: PA_ERR_RATELIMIT_FORMAT (then *w is all zero). */
enum pa_err ratelimit_window_decode(struct ratelimit_window *w, const uint8_t *in,
                                    size_t len) PA_MUST_CHECK;

/*
 * The state to count with when the stored one cannot be read: the account as if the failure
 * that locks it had just happened at now (locked for lockout_duration, the backoff as after
 * lockout_failures failures), never as fresh.  Store it in place of the bad blob, so that the
 * refusal ends with that one lockout instead of lasting until someone repairs the row.
 */
void ratelimit_account_assume_locked(struct ratelimit_account *st,
                                     const struct ratelimit_config *cfg, int64_t now);

/* The same for a window: as if max_events events had just happened at now (full for one
 * window from now). */
void ratelimit_window_assume_full(struct ratelimit_window *w,
                                  const struct ratelimit_window_config *cfg, int64_t now);

#endif
