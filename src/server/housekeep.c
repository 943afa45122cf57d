/*
 * housekeep.c — removing rows that no longer matter, so the store does not grow without
 * bound: expired throttling counters, sign-ins a day after they expired, sessions 30 days
 * after they were revoked.  The audit log is never touched.  `pahara serve` runs this every
 * HOUSEKEEP_INTERVAL seconds; test builds also offer POST /v1/test/housekeep.
 */
#include "server/handlers.h"

#define KEEP_ENDED_LOGINS (24 * 3600) /* a sign-in's status stays readable a day */

struct housekeep {
	int64_t now; /* app_now */
	unsigned n;  /* out: rows removed */
};

static enum pa_err housekeep_tx(struct store_tx *tx, void *arg)
{
	struct housekeep *h = arg;
	return store_purge(tx, h->now, h->now - KEEP_ENDED_LOGINS,
	                   h->now - APP_KEEP_REVOKED_SESSIONS, &h->n);
}

enum pa_err app_housekeep(struct app *a, unsigned *n)
{
	struct housekeep h = {.now = app_now(a)};
	enum pa_err e = store_write(a->store, housekeep_tx, &h);
	*n = e == PA_OK ? h.n : 0;
	return e;
}
