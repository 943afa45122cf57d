/*
 * limits.c — throttling: the arithmetic is core/ratelimit.h's, the counters live in the store
 * (so that several nodes share them) in ratelimit's portable encoding, and every change happens
 * inside the caller's transaction.
 *
 * A stored counter that does not decode (damaged, or written by a build with a later format) is
 * never read as a fresh one, which would unlock a locked account or reopen a full window.  It
 * is read the strict way (ratelimit_account_assume_locked, ratelimit_window_assume_full), and
 * that reading is written over the bad blob, so that the refusal lasts one lockout or one
 * window rather than until someone repairs the row.  The operator hears of it on stderr, and
 * an account's case is audited like any other lockout.
 * A blob of another size (a build that stored another layout, a truncated row) is such a
 * counter too: store_limit_get reports its size, and the decoder refuses it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/ratelimit.h"
#include "server/handlers.h"

void limits_account_key(int64_t account, char key[STORE_LIMIT_KEY_MAX])
{
	snprintf(key, STORE_LIMIT_KEY_MAX, "acct:%lld", (long long)account);
}

static unsigned retry_seconds(int64_t r)
{
	return r < 1 ? 1 : r > 86400 ? 86400 : (unsigned)r;
}

static int64_t later(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* What a counter of stored size len, read into a buffer of size, offers the decoder: a blob
 * longer than the buffer as none at all (both are refused: only the exact size decodes). */
static size_t held(size_t len, size_t size)
{
	return len > size ? 0 : len;
}

/* ---- per address ------------------------------------------------------------------------- */

static enum pa_err window_put(struct store_tx *tx, const char *key,
                              const struct ratelimit_window *w, int64_t expires_at)
{
	uint8_t blob[RATELIMIT_WINDOW_ENCODED_SIZE];
	enum pa_err e = ratelimit_window_encode(w, blob);
	if (e != PA_OK)
		return e;
	return store_limit_put(tx, key, blob, sizeof(blob), expires_at);
}

/*
 * The throttling key of a client address.  An IPv6 client gets a whole /64 (the usual smallest
 * allocation: one address per attempt would be free for it), so its key is the /64's prefix;
 * an IPv4-mapped address counts as its IPv4 address.  Anything else (IPv4, "unknown") is kept
 * as it is.
 */
static void ip_key(const char *ip, char key[STORE_LIMIT_KEY_MAX])
{
	struct in6_addr a6;
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6) &&
		    inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof(text))) {
			snprintf(key, STORE_LIMIT_KEY_MAX, "ip:%s", text);
			return;
		}
		memset(&a6.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a6, text, sizeof(text))) {
			snprintf(key, STORE_LIMIT_KEY_MAX, "ip:%s/64", text);
			return;
		}
	}
	snprintf(key, STORE_LIMIT_KEY_MAX, "ip:%s", ip);
}

/* When a window's row may go: once its newest event no longer counts (after a clock stepped
 * back, an event is recorded at the newest time already held, which may be later than now). */
static int64_t window_expiry(const struct ratelimit_window *w,
                             const struct ratelimit_window_config *cfg, int64_t now)
{
	int64_t newest = now;
	for (uint32_t i = 0; i < w->count && i < RATELIMIT_EVENTS_MAX; i++)
		newest = later(newest, w->times[i]);
	return newest > INT64_MAX - cfg->window ? INT64_MAX : newest + cfg->window;
}

static enum pa_err ip_window(struct store_tx *tx, struct app *a, const char *ip, int64_t now,
                             unsigned *retry, bool take)
{
	struct ratelimit_window_config cfg = {.max_events = a->cfg.ip_attempts,
	                                      .window = a->cfg.ip_window};
	char key[STORE_LIMIT_KEY_MAX];
	ip_key(ip, key);
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	uint8_t blob[RATELIMIT_WINDOW_ENCODED_SIZE];
	size_t len = 0;
	enum pa_err e = store_limit_get(tx, key, blob, sizeof(blob), &len);
	if (e != PA_OK)
		return e;
	if (len > 0 && ratelimit_window_decode(&w, blob, held(len, sizeof(blob))) != PA_OK) {
		ratelimit_window_assume_full(&w, &cfg, now);
		/* A peek runs on a reader: the attempt that follows repairs the row. */
		if (take) {
			fprintf(stderr,
			        "pahara: address %s: malformed rate-limit state; treated as full "
			        "for %u s\n",
			        ip, a->cfg.ip_window);
			e = window_put(tx, key, &w, window_expiry(&w, &cfg, now));
			if (e != PA_OK)
				return e;
		}
	}
	int64_t r = 0;
	e = take ? ratelimit_window_take(&w, &cfg, now, &r)
	         : ratelimit_window_check(&w, &cfg, now, &r);
	if (e == PA_ERR_RATE_LIMITED) {
		*retry = retry_seconds(r);
		return e;
	}
	if (e != PA_OK || !take)
		return e;
	return window_put(tx, key, &w, window_expiry(&w, &cfg, now));
}

enum pa_err limits_ip_attempt(struct store_tx *tx, struct app *a, const char *ip, int64_t now,
                              unsigned *retry)
{
	return ip_window(tx, a, ip, now, retry, true);
}

enum pa_err limits_ip_peek(struct store_tx *tx, struct app *a, const char *ip, int64_t now,
                           unsigned *retry)
{
	return ip_window(tx, a, ip, now, retry, false);
}

/* ---- per account ------------------------------------------------------------------------- */

static enum pa_err account_put(struct store_tx *tx, int64_t account,
                               const struct ratelimit_account *st, int64_t expires_at)
{
	char key[STORE_LIMIT_KEY_MAX];
	uint8_t blob[RATELIMIT_ACCOUNT_ENCODED_SIZE];
	limits_account_key(account, key);
	enum pa_err e = ratelimit_account_encode(st, blob);
	if (e != PA_OK)
		return e;
	return store_limit_put(tx, key, blob, sizeof(blob), expires_at);
}

/* When a row written at now may go (housekeeping): never while it counts consecutive failures
 * (a right code ends a back-off, not the passing of time: else an attacker who waits for the
 * purge would start each round with fresh cheap guesses); else after the lockout and the
 * window it counts have run out. */
static int64_t account_expiry(const struct ratelimit_config *c, const struct ratelimit_account *st,
                              int64_t now)
{
	if (st->consecutive > 0)
		return INT64_MAX;
	return now + later(c->lockout_window + c->lockout_duration, c->backoff_max);
}

/* An account.lockout audit record (who, when; no request: it is the account's event). */
static enum pa_err audit_lockout(struct store_tx *tx, int64_t account, int64_t now,
                                 const char *detail)
{
	struct store_account acct;
	enum pa_err e = store_account_by_id(tx, account, &acct);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	memset(&au, 0, sizeof(au));
	au.at = now;
	au.account = account;
	snprintf(au.account_name, sizeof(au.account_name), "%s", acct.name);
	snprintf(au.event, sizeof(au.event), "account.lockout");
	snprintf(au.outcome, sizeof(au.outcome), "locked");
	snprintf(au.detail, sizeof(au.detail), "%s", detail);
	return store_audit_add(tx, &au);
}

/* The account's counters into *st (fresh when there are none; *found says which).
 * Errors: PA_ERR_RATELIMIT_FORMAT for a blob that does not decode (*st is then fresh). */
static enum pa_err account_read(struct store_tx *tx, int64_t account, struct ratelimit_account *st,
                                bool *found)
{
	char key[STORE_LIMIT_KEY_MAX];
	uint8_t blob[RATELIMIT_ACCOUNT_ENCODED_SIZE];
	limits_account_key(account, key);
	*st = (struct ratelimit_account)RATELIMIT_ACCOUNT_INIT;
	size_t len = 0;
	enum pa_err e = store_limit_get(tx, key, blob, sizeof(blob), &len);
	*found = len > 0;
	if (e != PA_OK || !*found)
		return e;
	return ratelimit_account_decode(st, blob, held(len, sizeof(blob)));
}

/* As account_read, but a blob that does not decode gets the strict reading in *st, which
 * replaces it in the store, and is logged and audited. */
static enum pa_err account_load(struct store_tx *tx, const struct ratelimit_config *cfg,
                                int64_t account, int64_t now, struct ratelimit_account *st,
                                bool *found)
{
	enum pa_err e = account_read(tx, account, st, found);
	if (e != PA_ERR_RATELIMIT_FORMAT)
		return e;
	ratelimit_account_assume_locked(st, cfg, now);
	fprintf(stderr,
	        "pahara: account %lld: malformed rate-limit state; treated as locked until %lld\n",
	        (long long)account, (long long)st->locked_until);
	e = account_put(tx, account, st, account_expiry(cfg, st, now));
	if (e != PA_OK)
		return e;
	char detail[128];
	snprintf(detail, sizeof(detail), "malformed rate-limit state; locked until %lld",
	         (long long)st->locked_until);
	return audit_lockout(tx, account, now, detail);
}

enum pa_err limits_account_reset(struct store_tx *tx, int64_t account)
{
	const struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	return account_put(tx, account, &st, 0);
}

enum pa_err limits_account_check(struct store_tx *tx, struct app *a, int64_t account, int64_t now,
                                 unsigned *retry, bool *clean)
{
	const struct ratelimit_config *cfg = &a->cfg.code_limits;
	struct ratelimit_account st;
	bool found;
	enum pa_err e = account_load(tx, cfg, account, now, &st, &found);
	if (e != PA_OK)
		return e;
	int64_t r = 0;
	if (clean)
		*clean = !found || st.consecutive == 0;
	e = ratelimit_check(&st, cfg, now, &r);
	if (e == PA_ERR_RATE_LIMITED)
		*retry = retry_seconds(r);
	return e;
}

enum pa_err limits_account_fail(struct store_tx *tx, struct app *a, int64_t account, int64_t now)
{
	const struct ratelimit_config *cfg = &a->cfg.code_limits;
	struct ratelimit_account st;
	bool found;
	enum pa_err e = account_load(tx, cfg, account, now, &st, &found);
	if (e != PA_OK)
		return e;
	bool locked = ratelimit_fail(&st, cfg, now);
	e = account_put(tx, account, &st, account_expiry(cfg, &st, now));
	if (e != PA_OK || !locked)
		return e;
	/* The failure that locks the account is a security event of its own. */
	char detail[128];
	snprintf(detail, sizeof(detail), "%u wrong codes within %lld s; locked until %lld",
	         cfg->lockout_failures, (long long)cfg->lockout_window, (long long)st.locked_until);
	return audit_lockout(tx, account, now, detail);
}

enum pa_err limits_account_success(struct store_tx *tx, struct app *a, int64_t account)
{
	struct ratelimit_account st;
	bool found;
	enum pa_err e = account_read(tx, account, &st, &found);
	/* A success never clears what cannot be read: the next check reads it the strict way. */
	if (e == PA_ERR_RATELIMIT_FORMAT)
		return PA_OK;
	if (e != PA_OK || !found || st.consecutive == 0)
		return e;
	ratelimit_success(&st);
	return account_put(tx, account, &st, st.window_start + a->cfg.code_limits.lockout_window);
}
