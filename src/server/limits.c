/*
 * limits.c — throttling: the arithmetic is core/ratelimit.h's, the counters live in the store
 * (so that several nodes share them), and every change happens inside the caller's transaction.
 */
#include <stdio.h>

#include "core/ratelimit.h"
#include "server/handlers.h"

static const struct ratelimit_config account_cfg = RATELIMIT_CONFIG_DEFAULT;

static void account_key(int64_t account, char key[STORE_LIMIT_KEY_MAX])
{
	snprintf(key, STORE_LIMIT_KEY_MAX, "acct:%lld", (long long)account);
}

static unsigned retry_seconds(int64_t r)
{
	return r < 1 ? 1 : r > 86400 ? 86400 : (unsigned)r;
}

static enum pa_err ip_window(struct store_tx *tx, struct app *a, const char *ip, int64_t now,
			     unsigned *retry, bool take)
{
	struct ratelimit_window_config cfg = {.max_events = a->cfg.ip_attempts,
					      .window = a->cfg.ip_window};
	char key[STORE_LIMIT_KEY_MAX];
	snprintf(key, sizeof(key), "ip:%s", ip);
	struct ratelimit_window w = RATELIMIT_WINDOW_INIT;
	bool found;
	enum pa_err e = store_limit_get(tx, key, &w, sizeof(w), &found);
	if (e != PA_OK)
		return e;
	int64_t r = 0;
	e = take ? ratelimit_window_take(&w, &cfg, now, &r)
		 : ratelimit_window_check(&w, &cfg, now, &r);
	if (e == PA_ERR_RATE_LIMITED) {
		*retry = retry_seconds(r);
		return e;
	}
	if (e != PA_OK || !take)
		return e;
	return store_limit_put(tx, key, &w, sizeof(w), now + cfg.window);
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

enum pa_err limits_account_reset(struct store_tx *tx, int64_t account)
{
	char key[STORE_LIMIT_KEY_MAX];
	account_key(account, key);
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	return store_limit_put(tx, key, &st, sizeof(st), 0);
}

enum pa_err limits_account_check(struct store_tx *tx, int64_t account, int64_t now,
				 unsigned *retry, bool *clean)
{
	char key[STORE_LIMIT_KEY_MAX];
	account_key(account, key);
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	bool found;
	enum pa_err e = store_limit_get(tx, key, &st, sizeof(st), &found);
	if (e != PA_OK)
		return e;
	int64_t r = 0;
	if (clean)
		*clean = !found || st.consecutive == 0;
	e = ratelimit_check(&st, &account_cfg, now, &r);
	if (e == PA_ERR_RATE_LIMITED)
		*retry = retry_seconds(r);
	return e;
}

enum pa_err limits_account_fail(struct store_tx *tx, struct app *a, int64_t account, int64_t now)
{
	char key[STORE_LIMIT_KEY_MAX];
	account_key(account, key);
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	bool found;
	enum pa_err e = store_limit_get(tx, key, &st, sizeof(st), &found);
	if (e != PA_OK)
		return e;
	bool locked = ratelimit_fail(&st, &account_cfg, now);
	e = store_limit_put(tx, key, &st, sizeof(st), now + account_cfg.lockout_window +
							      account_cfg.lockout_duration);
	if (e != PA_OK || !locked)
		return e;
	/* The failure that locks the account is a security event of its own. */
	struct store_account acct;
	e = store_account_by_id(tx, account, &acct);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, a, NULL, "account.lockout", account, acct.name);
	snprintf(au.outcome, sizeof(au.outcome), "locked");
	snprintf(au.detail, sizeof(au.detail), "%u wrong codes within %lld s; locked until %lld",
		 account_cfg.lockout_failures, (long long)account_cfg.lockout_window,
		 (long long)st.locked_until);
	return store_audit_add(tx, &au);
}

enum pa_err limits_account_success(struct store_tx *tx, int64_t account)
{
	char key[STORE_LIMIT_KEY_MAX];
	account_key(account, key);
	struct ratelimit_account st = RATELIMIT_ACCOUNT_INIT;
	bool found;
	enum pa_err e = store_limit_get(tx, key, &st, sizeof(st), &found);
	if (e != PA_OK || !found || st.consecutive == 0)
		return e;
	ratelimit_success(&st);
	return store_limit_put(tx, key, &st, sizeof(st), st.window_start + account_cfg.lockout_window);
}
