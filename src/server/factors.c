/*
 * factors.c — the second factors of an account: the code generator (TOTP), backup codes and
 * temporary passwords.  The rule functions here run inside store transactions; the handlers
 * for managing factors with a session are at the end.
 *
 *   POST /v1/factors/totp            [{algorithm, digits}] -> {secret, uri, qr_svg, ...}
 *                                    (pending until confirmed)
 *   POST /v1/factors/totp/confirm    {code} -> {backup_codes: [...]}
 *   GET  /v1/factors                 -> what is set up
 *   POST /v1/backup-codes            {count} -> {codes: [...]}
 *   GET  /v1/backup-codes            -> {active, generations}
 *   POST /v1/temporary-passwords     -> {id, password, expires_at}
 *   GET  /v1/temporary-passwords     -> outstanding ones
 *   DELETE /v1/temporary-passwords/{id}
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base32.h"
#include "core/otp.h"
#include "core/otpauth.h"
#include "core/qr.h"
#include "core/secretcode.h"
#include "server/handlers.h"

#define TOTP_PURPOSE "totp-secret"
#define TOTP_WINDOW 1 /* DESIGN §3: ±1 step */

static enum pa_err tmppass_load(struct store_tx *tx, int64_t account, int64_t now,
                                struct tmppass_state *st);

bool factors_method_known(const char *method)
{
	return strcmp(method, "totp") == 0 || strcmp(method, "backup") == 0;
}

/* ---- backup codes: store rows <-> core state ------------------------------------------- */

/*
 * The store keeps every backup code an account had, not only the newest BACKUP_HISTORY_MAX that
 * a core state holds: DESIGN §3 wants an old code answered "inactive", not "wrong", however
 * long ago it was retired.  A state is made from the newest rows; an older code is found by
 * its keyed hash (backup_check_older).
 */

static enum backup_status backup_core_status(enum store_backup_status s)
{
	return s == STORE_BACKUP_ACTIVE ? BACKUP_ACTIVE
	       : s == STORE_BACKUP_USED ? BACKUP_USED
	                                : BACKUP_RETIRED;
}

static enum store_backup_status backup_store_status(enum backup_status s)
{
	return s == BACKUP_ACTIVE ? STORE_BACKUP_ACTIVE
	       : s == BACKUP_USED ? STORE_BACKUP_USED
	                          : STORE_BACKUP_RETIRED;
}

static enum pa_err backup_load(struct store_tx *tx, int64_t account, struct backup_state *st)
{
	struct store_backup rows[BACKUP_HISTORY_MAX];
	size_t n = 0;
	enum pa_err e = store_backup_list(tx, account, rows, BACKUP_HISTORY_MAX, &n);
	if (e != PA_OK)
		return e;
	*st = (struct backup_state)BACKUP_STATE_INIT;
	for (size_t i = 0; i < n; i++) {
		struct backup_entry *be = &st->entries[st->count++];
		be->generation = rows[i].generation;
		be->status = backup_core_status(rows[i].status);
		memcpy(be->hash, rows[i].hash, sizeof(be->hash));
	}
	if (n > 0)
		st->next_generation = rows[n - 1].generation + 1;
	return backup_state_valid(st) ? PA_OK : PA_ERR_INTERNAL;
}

/* A code that is none of st's entries may be one of the account's older codes: then
 * fc->verdict becomes what backup_check_history says (inactive).  st is full whenever the
 * store has older rows, so an account with few codes costs no second read. */
static enum pa_err backup_check_older(struct store_tx *tx, struct factor_check *fc,
                                      const struct backup_state *st)
{
	if (st->count < BACKUP_HISTORY_MAX)
		return PA_OK;
	uint8_t hash[SECRETCODE_HASH_BYTES];
	if (backup_code_hash(fc->app->code_key, (uint64_t)fc->account, fc->code, hash) != PA_OK)
		return PA_OK; /* not a backup code at all: it stays a wrong one */
	struct store_backup row;
	enum pa_err e = store_backup_find(tx, fc->account, hash, &row);
	sodium_memzero(hash, sizeof(hash));
	if (e == PA_ERR_NOT_FOUND || (e == PA_OK && row.generation >= st->entries[0].generation))
		return PA_OK;
	if (e != PA_OK)
		return e;
	enum pa_err v = backup_check_history(st, row.generation, backup_core_status(row.status));
	if (v != PA_ERR_INACTIVE_BACKUP_CODE) {
		fprintf(stderr,
		        "pahara: account %lld: backup code %u is active but older than the codes "
		        "in use\n",
		        (long long)fc->account, (unsigned)row.generation);
		return PA_ERR_INTERNAL;
	}
	fc->verdict = v;
	return PA_OK;
}

/* Write the changes from old to new: rows that left the active state, and new rows.  Each
 * change of an active row is conditional on its still being active, so a code is used once.
 * Rows the core dropped from its state stay in the store (backup_check_older). */
static enum pa_err backup_save(struct store_tx *tx, int64_t account, const struct backup_state *old,
                               const struct backup_state *nw, int64_t now)
{
	for (unsigned i = 0; i < nw->count; i++) {
		const struct backup_entry *ne = &nw->entries[i];
		const struct backup_entry *oe = NULL;
		for (unsigned j = 0; j < old->count; j++)
			if (old->entries[j].generation == ne->generation)
				oe = &old->entries[j];
		enum pa_err e = PA_OK;
		if (!oe) {
			struct store_backup b = {.generation = ne->generation,
			                         .status = backup_store_status(ne->status),
			                         .created_at = now};
			memcpy(b.hash, ne->hash, sizeof(b.hash));
			e = store_backup_add(tx, account, &b);
		} else if (oe->status == BACKUP_ACTIVE && ne->status != BACKUP_ACTIVE) {
			e = store_backup_set_status(tx, account, ne->generation,
			                            backup_store_status(ne->status));
		}
		if (e != PA_OK)
			return e;
	}
	/* The rules retire a code before they drop it, so an entry that was active in old is
	 * still in nw; were it not, the row must not stay active behind the state's back. */
	for (unsigned j = 0; j < old->count; j++) {
		const struct backup_entry *oe = &old->entries[j];
		bool kept = false;
		for (unsigned i = 0; i < nw->count && !kept; i++)
			kept = nw->entries[i].generation == oe->generation;
		if (!kept && oe->status == BACKUP_ACTIVE) {
			enum pa_err e = store_backup_set_status(tx, account, oe->generation,
			                                        STORE_BACKUP_RETIRED);
			if (e != PA_OK)
				return e;
		}
	}
	return PA_OK;
}

enum pa_err factors_backup_active(struct store_tx *tx, int64_t account, unsigned *n)
{
	struct backup_state st;
	enum pa_err e = backup_load(tx, account, &st);
	*n = e == PA_OK ? backup_active_count(&st) : 0;
	return e;
}

enum pa_err factors_backup_generate(struct store_tx *tx, struct app *a, int64_t account, unsigned n,
                                    int64_t now, struct backup_new_code codes[])
{
	struct backup_state old, nw;
	enum pa_err e = backup_load(tx, account, &old);
	if (e != PA_OK)
		return e;
	nw = old;
	e = backup_generate(&nw, n, a->code_key, (uint64_t)account, codes);
	if (e != PA_OK)
		return e;
	return backup_save(tx, account, &old, &nw, now);
}

static enum pa_err verify_backup(struct store_tx *tx, struct factor_check *fc)
{
	if (!app_first_party(fc->app, fc->client)) {
		fc->verdict = PA_ERR_THIRD_PARTY_BACKUP;
		return PA_OK;
	}
	struct backup_state old, nw;
	enum pa_err e = backup_load(tx, fc->account, &old);
	if (e != PA_OK)
		return e;
	if (backup_active_count(&old) == 0 && old.count == 0) {
		fc->verdict = PA_ERR_METHOD_UNAVAILABLE;
		return PA_OK;
	}
	unsigned idx = 0;
	fc->verdict =
	    backup_check_code(&old, fc->app->code_key, (uint64_t)fc->account, fc->code, &idx);
	if (fc->verdict == PA_ERR_INVALID_CODE)
		return backup_check_older(tx, fc, &old);
	if (fc->verdict != PA_OK)
		return PA_OK;
	nw = old;
	fc->verdict = backup_accept(&nw, idx);
	if (fc->verdict != PA_OK)
		return PA_OK;
	e = backup_save(tx, fc->account, &old, &nw, fc->now);
	if (e == PA_ERR_CONFLICT) {
		/* Someone used it between our read and write: it is inactive now. */
		fc->verdict = PA_ERR_INACTIVE_BACKUP_CODE;
		return PA_ERR_CONFLICT;
	}
	return e;
}

/* ---- the code generator ---------------------------------------------------------------- */

/* Open the account's TOTP secret into key.  PA_ERR_NOT_FOUND when there is none. */
static enum pa_err totp_key(struct app *a, int64_t account, const struct store_totp *t,
                            struct otp_key *key)
{
	uint8_t secret[OTP_SECRET_MAX];
	size_t len = 0;
	enum pa_err e = seal_open(a->keys, TOTP_PURPOSE, (uint64_t)account, t->sealed,
	                          t->sealed_len, secret, sizeof(secret), &len);
	if (e == PA_OK)
		e = otp_key_init(key, (enum otp_alg)t->alg, t->digits, secret, len);
	sodium_memzero(secret, sizeof(secret));
	return e;
}

/* Check code against the account's generator as tx sees it (a reader will do: nothing is
 * written), leaving in pre what factors_totp_consume must consume. */
enum pa_err factors_totp_check(struct store_tx *tx, struct factor_check *fc, bool want_pending,
                               struct totp_pre *pre)
{
	struct store_totp t;
	enum pa_err e = store_totp_get(tx, fc->account, &t);
	if (e != PA_OK && e != PA_ERR_NOT_FOUND)
		return e;
	return factors_totp_check_read(e == PA_OK ? &t : NULL, fc, want_pending, pre);
}

enum pa_err factors_totp_check_read(const struct store_totp *known, struct factor_check *fc,
                                    bool want_pending, struct totp_pre *pre)
{
	struct store_totp *t = &pre->t;
	if (!known || known->confirmed == want_pending) {
		fc->verdict = PA_ERR_METHOD_UNAVAILABLE;
		return PA_OK;
	}
	*t = *known;
	struct otp_key key;
	enum pa_err e = totp_key(fc->app, fc->account, t, &key);
	if (e != PA_OK) {
		otp_key_wipe(&key);
		fprintf(stderr, "pahara: account %lld: TOTP secret does not open: %s\n",
		        (long long)fc->account, pa_err_message(e));
		return PA_ERR_INTERNAL;
	}
	uint64_t now_step, matched = 0;
	e = otp_totp_step(fc->now, t->period, &now_step);
	if (e != PA_OK) {
		otp_key_wipe(&key);
		return PA_ERR_INTERNAL;
	}
	fc->verdict = otp_verify(&key, fc->code, now_step, TOTP_WINDOW, TOTP_WINDOW, t->has_last,
	                         (uint64_t)t->last_step, &matched);
	otp_key_wipe(&key);
	pre->step = (int64_t)matched;
	pre->drift = (int)((int64_t)matched - (int64_t)now_step);
	return PA_OK;
}

enum pa_err factors_totp_consume(struct store_tx *tx, struct factor_check *fc,
                                 const struct totp_pre *pre)
{
	if (fc->verdict != PA_OK)
		return PA_OK;
	/* RFC 6238 §5.2 and §6: accept the step once; remember the drift we saw.  The row may
	 * have changed since pre was read: the store refuses then, and a later step or a new
	 * secret both mean this code is no longer good. */
	enum pa_err e = store_totp_consume(tx, fc->account, &pre->t, pre->step, pre->drift);
	if (e == PA_ERR_CONFLICT) {
		fc->verdict = PA_ERR_REPLAYED_CODE;
		return PA_OK;
	}
	return e;
}

/* Check code against the account's generator and consume its step, in one tx. */
static enum pa_err verify_totp(struct store_tx *tx, struct factor_check *fc, bool want_pending)
{
	struct totp_pre pre;
	enum pa_err e = factors_totp_check(tx, fc, want_pending, &pre);
	if (e == PA_OK)
		e = factors_totp_consume(tx, fc, &pre);
	return e;
}

enum pa_err factors_verify(struct store_tx *tx, struct factor_check *fc)
{
	fc->verdict = PA_ERR_INVALID_CODE;
	if (strcmp(fc->method, "totp") == 0)
		return verify_totp(tx, fc, false);
	if (strcmp(fc->method, "backup") == 0) {
		enum pa_err e = verify_backup(tx, fc);
		return e == PA_ERR_CONFLICT ? PA_OK : e;
	}
	fc->verdict = PA_ERR_METHOD_UNAVAILABLE;
	return PA_OK;
}

enum pa_err factors_reset(struct store_tx *tx, int64_t account)
{
	struct backup_state old, nw;
	enum pa_err e = store_totp_delete(tx, account);
	if (e == PA_OK)
		e = backup_load(tx, account, &old);
	if (e == PA_OK) {
		nw = old;
		backup_retire_all(&nw);
		e = backup_save(tx, account, &old, &nw, 0);
	}
	if (e == PA_OK)
		e = store_tmppass_delete_all(tx, account);
	if (e == PA_OK)
		e = store_account_set_twofactor(tx, account, false);
	return e;
}

enum pa_err factors_tmppass_consume(struct store_tx *tx, struct app *a, int64_t account,
                                    const char *password, size_t len, int64_t now)
{
	struct tmppass_state st;
	enum pa_err e = tmppass_load(tx, account, now, &st);
	if (e != PA_OK)
		return e;
	unsigned idx = 0;
	e = tmppass_check_password(&st, a->code_key, (uint64_t)account, password, len, now, &idx);
	if (e != PA_OK)
		return e;
	e = store_tmppass_consume(tx, account, st.entries[idx].id, now);
	return e == PA_ERR_CONFLICT ? PA_ERR_ALREADY_USED : e;
}

/* ---- tmppass rows <-> core state ------------------------------------------------------- */

/* The state of the account's temporary passwords at now: every one still usable, then the
 * newest of the others (so that a used or expired one is told apart from a wrong one), up to
 * TMPPASS_HISTORY_MAX; the next id follows the highest in the store. */
static enum pa_err tmppass_load(struct store_tx *tx, int64_t account, int64_t now,
                                struct tmppass_state *st)
{
	_Static_assert(STORE_TMPPASS_MAX >= TMPPASS_HISTORY_MAX, "the store gives enough rows");
	struct store_tmppass rows[STORE_TMPPASS_MAX];
	size_t n = 0;
	enum pa_err e = store_tmppass_list(tx, account, now, rows, STORE_TMPPASS_MAX, &n);
	if (e != PA_OK)
		return e;
	*st = (struct tmppass_state)TMPPASS_STATE_INIT;
	bool keep[STORE_TMPPASS_MAX] = {false};
	unsigned k = 0;
	for (size_t i = 0; i < n && k < TMPPASS_HISTORY_MAX; i++)
		if (rows[i].used_at == 0 && now < rows[i].expires_at) {
			keep[i] = true;
			k++;
		}
	for (size_t i = n; i-- > 0 && k < TMPPASS_HISTORY_MAX;)
		if (!keep[i]) {
			keep[i] = true;
			k++;
		}
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		struct tmppass_entry *te = &st->entries[st->count++];
		te->id = (uint32_t)rows[i].id;
		te->used = rows[i].used_at != 0;
		te->created_at = rows[i].created_at;
		te->expires_at = rows[i].expires_at;
		memcpy(te->hash, rows[i].hash, sizeof(te->hash));
	}
	if (n > 0)
		st->next_id = (uint32_t)rows[n - 1].id + 1;
	return tmppass_state_valid(st) ? PA_OK : PA_ERR_INTERNAL;
}

/* ---- handlers (authenticated with a session) -------------------------------------------- */

/* Require a session whose password was entered within the reauth_window. */
static bool recent_auth(struct http_req *req, const struct store_session *s)
{
	struct app *a = http_req_app(req);
	if (app_now(a) - s->auth_at <= a->cfg.reauth_window)
		return true;
	http_reply_error(req, 403, PA_ERR_REAUTH_REQUIRED, 0,
	                 "enter your password again (POST /v1/reauth) to make this change");
	return false;
}

struct totp_begin {
	struct app *app;      /* the server */
	struct http_req *req; /* for audit */
	int64_t account;      /* whose */
	const char *name;     /* its name */
	const char *service;  /* the service that asks; NULL: the account's session */
	struct store_totp t;  /* the pending generator */
};

static enum pa_err totp_begin_tx(struct store_tx *tx, void *arg)
{
	struct totp_begin *tb = arg;
	struct store_account acct;
	struct store_totp cur;
	enum pa_err e = store_account_lock(tx, tb->account, &acct);
	if (e != PA_OK)
		return e;
	/* A request let in by a read made before this write: the account may be disabled now. */
	if (acct.disabled)
		return PA_ERR_ACCOUNT_DISABLED;
	e = store_totp_get(tx, tb->account, &cur);
	if (e == PA_OK && cur.confirmed)
		return PA_ERR_CONFLICT; /* turn it off first, or the old one would be lost */
	if (e != PA_OK && e != PA_ERR_NOT_FOUND)
		return e;
	e = store_totp_put(tx, tb->account, &tb->t);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, tb->app, tb->req, "factor.totp.begin", tb->account, tb->name);
	if (tb->service)
		snprintf(au.client, sizeof(au.client), "service:%.55s", tb->service);
	snprintf(au.detail, sizeof(au.detail), "alg=%s digits=%u",
	         otp_alg_name((enum otp_alg)tb->t.alg), tb->t.digits);
	return store_audit_add(tx, &au);
}

/* DESIGN §3: the code generator is SHA-1, 6 digits, 30 s by default; SHA-256, SHA-512 and
 * 8 digits may be chosen.  The period stays at 30 s: apps that ignore period= are common. */
#define TOTP_DIGITS_LONG 8

static const struct http_field totp_begin_fields[] = {
    {"algorithm", HTTP_FIELD_STRING, false, 16, 0, 0},
    /* Any integer passes here; the values allowed are checked below, with a clearer word. */
    {"digits", HTTP_FIELD_INT, false, 0, LLONG_MIN, LLONG_MAX},
    {NULL, 0, false, 0, 0, 0},
};

bool factors_totp_params(struct http_req *req, struct totp_params *p)
{
	*p = (struct totp_params)TOTP_PARAMS_INIT;
	if (!http_req_body(req))
		return true;
	if (!http_check_fields(req, totp_begin_fields))
		return false;
	const char *alg = http_body_str(req, "algorithm");
	if (alg) {
		/* Exactly the otpauth spelling: what we answer is what we took. */
		static const enum otp_alg algs[] = {OTP_SHA1, OTP_SHA256, OTP_SHA512};
		const size_t nalgs = sizeof(algs) / sizeof(algs[0]);
		size_t i = 0;
		while (i < nalgs && strcmp(alg, otp_alg_name(algs[i])) != 0)
			i++;
		if (i == nalgs) {
			http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
			                 "field 'algorithm' must be \"SHA1\", \"SHA256\" or "
			                 "\"SHA512\"");
			return false;
		}
		p->alg = algs[i];
	}
	long long digits = http_body_int(req, "digits", OTP_DIGITS_DEFAULT);
	if (digits != OTP_DIGITS_DEFAULT && digits != TOTP_DIGITS_LONG) {
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "field 'digits' must be %d or %d", OTP_DIGITS_DEFAULT,
		                 TOTP_DIGITS_LONG);
		return false;
	}
	p->digits = (unsigned)digits;
	return true;
}

enum pa_err factors_totp_begin(struct http_req *req, int64_t account, const char *name,
                               const struct totp_params *p, const char *service, json_t **out)
{
	struct app *a = http_req_app(req);
	uint8_t secret[OTP_SECRET_DEFAULT];
	randombytes_buf(secret, sizeof(secret));
	struct totp_begin tb = {
	    .app = a, .req = req, .account = account, .name = name, .service = service};
	tb.t.alg = (int)p->alg;
	tb.t.digits = p->digits;
	tb.t.period = OTP_PERIOD_DEFAULT;
	tb.t.created_at = app_now(a);
	enum pa_err e = seal_seal(a->keys, TOTP_PURPOSE, (uint64_t)account, secret, sizeof(secret),
	                          tb.t.sealed, sizeof(tb.t.sealed), &tb.t.sealed_len);
	if (e == PA_OK)
		e = store_write(a->store, totp_begin_tx, &tb);
	if (e != PA_OK) {
		sodium_memzero(secret, sizeof(secret));
		return e;
	}
	struct otpauth u;
	otpauth_init(&u);
	snprintf(u.issuer, sizeof(u.issuer), "%s", a->cfg.issuer);
	snprintf(u.account, sizeof(u.account), "%s", name);
	memcpy(u.secret, secret, sizeof(secret));
	u.secret_len = sizeof(secret);
	u.alg = p->alg;
	u.digits = p->digits;
	u.period = OTP_PERIOD_DEFAULT;
	char uri[OTPAUTH_URI_MAX + 1], b32[BASE32_ENCODED_LEN(OTP_SECRET_DEFAULT) + 1];
	char *svg = NULL;
	e = otpauth_build(&u, uri, sizeof(uri));
	if (e == PA_OK)
		e = base32_encode(secret, sizeof(secret), false, b32, sizeof(b32));
	if (e == PA_OK)
		e = qr_svg_new(uri, &svg);
	otpauth_wipe(&u);
	sodium_memzero(secret, sizeof(secret));
	if (e == PA_OK)
		*out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "secret", b32, "uri", uri,
		                 "qr_svg", svg, "algorithm", otp_alg_name(p->alg), "digits",
		                 (int)p->digits, "period", OTP_PERIOD_DEFAULT);
	sodium_memzero(uri, sizeof(uri));
	sodium_memzero(b32, sizeof(b32));
	if (svg) {
		sodium_memzero(svg, strlen(svg));
		free(svg);
	}
	return e;
}

void h_totp_begin(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	struct totp_params p;
	if (!app_auth_session(req, &s, &acct) || !recent_auth(req, &s) ||
	    !factors_totp_params(req, &p))
		return;
	json_t *out = NULL;
	enum pa_err e = factors_totp_begin(req, acct.id, acct.name, &p, NULL, &out);
	if (e == PA_ERR_CONFLICT) {
		http_reply_error(req, 409, PA_ERR_CONFLICT, 0,
		                 "a code generator is already on; turn two-factor off first");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, out);
}

struct totp_confirm {
	const struct store_session *sess; /* the caller's session; NULL: a service */
	const char *service;              /* that service's name (for audit); NULL: none */
	struct factor_check fc;           /* the check */
	struct http_req *req;             /* for audit */
	const char *name;                 /* account name */
	struct backup_new_code code;      /* out: the first backup code */
	bool made_code;                   /* code is set */
	unsigned retry_after;             /* out: for PA_ERR_RATE_LIMITED */
};

static enum pa_err totp_confirm_tx(struct store_tx *tx, void *arg)
{
	struct totp_confirm *tc = arg;
	struct factor_check *fc = &tc->fc;
	struct store_audit au;
	app_audit_init(&au, fc->app, tc->req, "factor.totp.confirm", fc->account, tc->name);
	if (tc->service)
		snprintf(au.client, sizeof(au.client), "service:%.55s", tc->service);
	struct store_account acct;
	enum pa_err e = store_account_lock(tx, fc->account, &acct);
	if (e == PA_OK)
		e = app_session_live(tx, tc->sess);
	if (e == PA_OK && acct.disabled)
		e = PA_ERR_ACCOUNT_DISABLED; /* a service's request, let in by an earlier read */
	if (e != PA_OK)
		return e;
	/* Wrong codes here count against the account like any other (operations.md §4). */
	bool clean = false;
	e = limits_account_check(tx, fc->app, fc->account, fc->now, &tc->retry_after, &clean);
	if (e == PA_ERR_RATE_LIMITED) {
		fc->verdict = e;
		snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
		return store_audit_add(tx, &au);
	}
	if (e != PA_OK)
		return e;
	e = verify_totp(tx, fc, true);
	if (e != PA_OK)
		return e;
	if (fc->verdict != PA_OK) {
		app_audit_verdict(&au, fc->verdict);
		if (fc->verdict != PA_ERR_METHOD_UNAVAILABLE)
			e = limits_account_fail(tx, fc->app, fc->account, fc->now);
		return e == PA_OK ? store_audit_add(tx, &au) : e;
	}
	/* A right code ends the back-off, as at sign-in. */
	if (!clean)
		e = limits_account_success(tx, fc->app, fc->account);
	/* DESIGN §2: one backup code is generated automatically when two-factor turns on. */
	if (e == PA_OK)
		e = factors_backup_generate(tx, fc->app, fc->account, 1, fc->now, &tc->code);
	if (e == PA_OK)
		e = store_account_set_twofactor(tx, fc->account, true);
	if (e != PA_OK)
		return e;
	tc->made_code = true;
	return store_audit_add(tx, &au);
}

static const struct http_field code_fields[] = {
    {"code", HTTP_FIELD_STRING, true, 64, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};

bool factors_totp_confirm_fields(struct http_req *req)
{
	return http_check_fields(req, code_fields);
}

void factors_reply_totp_confirm(struct http_req *req, const struct store_session *sess,
                                const struct store_account *acct, const char *client,
                                const char *service)
{
	struct app *a = http_req_app(req);
	struct totp_confirm tc = {.sess = sess, .service = service, .req = req, .name = acct->name};
	tc.fc = (struct factor_check){.app = a,
	                              .account = acct->id,
	                              .method = "totp",
	                              .code = http_body_str(req, "code"),
	                              .client = client,
	                              .now = app_now(a)};
	enum pa_err e = store_write(a->store, totp_confirm_tx, &tc);
	if (e == PA_OK && tc.fc.verdict == PA_ERR_METHOD_UNAVAILABLE) {
		http_reply_error(
		    req, 409, PA_ERR_STATE, 0,
		    "no code generator is waiting for confirmation; start with POST %s",
		    service ? "/v1/service/accounts/{name}/totp" : "/v1/factors/totp");
		return;
	}
	if (e == PA_OK && tc.fc.verdict == PA_ERR_RATE_LIMITED) {
		http_reply_error(req, 429, PA_ERR_RATE_LIMITED, tc.retry_after,
		                 "too many wrong codes for this account; try again in %u s",
		                 tc.retry_after);
		return;
	}
	if (e == PA_OK && tc.fc.verdict != PA_OK)
		e = tc.fc.verdict;
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	json_t *codes = json_array();
	json_array_append_new(codes, json_string(tc.code.text));
	sodium_memzero(&tc.code, sizeof(tc.code));
	http_reply_json(req, 200, json_pack("{s:s, s:o}", "status", "on", "backup_codes", codes));
}

void h_totp_confirm(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (app_auth_session(req, &s, &acct) && factors_totp_confirm_fields(req))
		factors_reply_totp_confirm(req, &s, &acct, s.client, NULL);
}

void h_factors_list(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	struct app *a = http_req_app(req);
	struct store_tx *rd = store_reader(a->store);
	struct store_totp t;
	unsigned active = 0;
	enum pa_err e = rd ? store_totp_get(rd, acct.id, &t) : PA_ERR_STORE;
	bool has_totp = e == PA_OK && t.confirmed;
	if (e == PA_OK || e == PA_ERR_NOT_FOUND)
		e = factors_backup_active(rd, acct.id, &active);
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200,
	                json_pack("{s:b, s:o, s:i}", "twofactor", acct.twofactor, "methods",
	                          login_methods_json(has_totp, active), "backup_codes_active",
	                          (int)active));
}

static const struct http_field count_fields[] = {
    {"count", HTTP_FIELD_INT, false, 0, 1, BACKUP_ACTIVE_MAX},
    {NULL, 0, false, 0, 0, 0},
};

struct backup_gen {
	struct app *app;                                 /* the server */
	const struct store_session *sess;                /* the caller's; NULL: a service */
	const char *service;                             /* that service's name; NULL: none */
	struct http_req *req;                            /* for audit */
	const struct store_account *acct;                /* whose */
	unsigned n;                                      /* how many */
	int64_t now;                                     /* when */
	struct backup_new_code codes[BACKUP_ACTIVE_MAX]; /* out */
};

static enum pa_err backup_gen_tx(struct store_tx *tx, void *arg)
{
	struct backup_gen *bg = arg;
	/* As the account is now: two-factor may have been turned off since the read, or the
	 * account disabled. */
	struct store_account cur;
	enum pa_err e = store_account_lock(tx, bg->acct->id, &cur);
	if (e == PA_OK)
		e = app_session_live(tx, bg->sess);
	if (e != PA_OK)
		return e;
	if (cur.disabled)
		return PA_ERR_ACCOUNT_DISABLED;
	if (!cur.twofactor)
		return PA_ERR_STATE;
	e = factors_backup_generate(tx, bg->app, bg->acct->id, bg->n, bg->now, bg->codes);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, bg->app, bg->req, "factor.backup.generate", bg->acct->id,
	               bg->acct->name);
	if (bg->service)
		snprintf(au.client, sizeof(au.client), "service:%.55s", bg->service);
	snprintf(au.detail, sizeof(au.detail), "count=%u", bg->n);
	return store_audit_add(tx, &au);
}

bool factors_backup_generate_fields(struct http_req *req)
{
	return http_check_fields(req, count_fields);
}

void factors_reply_backup_generate(struct http_req *req, const struct store_session *sess,
                                   const struct store_account *acct, const char *service)
{
	struct app *a = http_req_app(req);
	struct backup_gen bg = {.app = a,
	                        .sess = sess,
	                        .service = service,
	                        .req = req,
	                        .acct = acct,
	                        .now = app_now(a)};
	bg.n = (unsigned)http_body_int(req, "count", 1);
#ifdef PAHARA_TESTING
	app_test_pause(a);
#endif
	enum pa_err e = store_write(a->store, backup_gen_tx, &bg);
	if (e == PA_ERR_STATE) {
		http_reply_error(req, 409, e, 0, "turn two-factor on first");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	json_t *codes = json_array(), *gens = json_array();
	for (unsigned i = 0; i < bg.n; i++) {
		json_array_append_new(codes, json_string(bg.codes[i].text));
		json_array_append_new(gens, json_integer(bg.codes[i].generation));
	}
	sodium_memzero(bg.codes, sizeof(bg.codes));
	http_reply_json(req, 200, json_pack("{s:o, s:o}", "codes", codes, "generations", gens));
}

void h_backup_generate(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (app_auth_session(req, &s, &acct) && recent_auth(req, &s) &&
	    factors_backup_generate_fields(req))
		factors_reply_backup_generate(req, &s, &acct, NULL);
}

void h_backup_list(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	struct app *a = http_req_app(req);
	struct store_tx *rd = store_reader(a->store);
	struct backup_state st;
	enum pa_err e = rd ? backup_load(rd, acct.id, &st) : PA_ERR_STORE;
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	uint32_t g[BACKUP_ACTIVE_MAX];
	unsigned n = backup_active_generations(&st, g);
	json_t *gens = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(gens, json_integer(g[i]));
	http_reply_json(req, 200, json_pack("{s:i, s:o}", "active", (int)n, "generations", gens));
}

struct tmppass_new {
	struct app *app;                  /* the server */
	const struct store_session *sess; /* the caller's */
	struct http_req *req;             /* for audit */
	const struct store_account *acct; /* whose */
	int64_t now;                      /* when */
	char text[TMPPASS_TEXT_SIZE];     /* out: the password, shown once */
	uint32_t id;                      /* out */
};

static enum pa_err tmppass_new_tx(struct store_tx *tx, void *arg)
{
	struct tmppass_new *tn = arg;
	struct tmppass_state st;
	/* A password changed (or the session revoked) since the caller's session was read ends
	 * every temporary password: none may be made after that. */
	struct store_account acct;
	enum pa_err e = store_account_lock(tx, tn->acct->id, &acct);
	if (e == PA_OK)
		e = app_session_live(tx, tn->sess);
	/* Used and expired ones a day old go first: they need not be told apart any more. */
	if (e == PA_OK)
		e = store_tmppass_purge(tx, tn->acct->id, tn->now - 86400);
	if (e == PA_OK)
		e = tmppass_load(tx, tn->acct->id, tn->now, &st);
	if (e != PA_OK)
		return e;
	e = tmppass_create_ttl(&st, tn->app->code_key, (uint64_t)tn->acct->id, tn->now,
	                       tn->app->cfg.tmppass_lifetime, tn->text, &tn->id);
	if (e != PA_OK)
		return e;
	const struct tmppass_entry *te = &st.entries[st.count - 1];
	struct store_tmppass row = {
	    .id = te->id, .created_at = te->created_at, .expires_at = te->expires_at};
	memcpy(row.hash, te->hash, sizeof(row.hash));
	e = store_tmppass_add(tx, tn->acct->id, &row);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, tn->app, tn->req, "tmppass.create", tn->acct->id, tn->acct->name);
	snprintf(au.detail, sizeof(au.detail), "id=%u", tn->id);
	return store_audit_add(tx, &au);
}

void h_tmppass_create(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct) || !recent_auth(req, &s))
		return;
	struct app *a = http_req_app(req);
	struct tmppass_new tn = {
	    .app = a, .sess = &s, .req = req, .acct = &acct, .now = app_now(a)};
#ifdef PAHARA_TESTING
	app_test_pause(a);
#endif
	enum pa_err e = store_write(a->store, tmppass_new_tx, &tn);
	if (e == PA_ERR_TOO_MANY) {
		http_reply_error(req, 409, e, 0,
		                 "%d temporary passwords are outstanding; revoke one first",
		                 TMPPASS_OUTSTANDING_MAX);
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	json_t *body = json_pack("{s:i, s:s, s:I}", "id", (int)tn.id, "password", tn.text,
	                         "expires_at", (json_int_t)(tn.now + a->cfg.tmppass_lifetime));
	sodium_memzero(tn.text, sizeof(tn.text));
	http_reply_json(req, 200, body);
}

void h_tmppass_list(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	struct app *a = http_req_app(req);
	struct store_tx *rd = store_reader(a->store);
	struct tmppass_state st;
	int64_t now = app_now(a);
	enum pa_err e = rd ? tmppass_load(rd, acct.id, now, &st) : PA_ERR_STORE;
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	json_t *list = json_array();
	for (unsigned i = 0; i < st.count; i++) {
		const struct tmppass_entry *te = &st.entries[i];
		if (te->used || now >= te->expires_at)
			continue;
		json_array_append_new(list, json_pack("{s:i, s:I, s:I}", "id", (int)te->id,
		                                      "created_at", (json_int_t)te->created_at,
		                                      "expires_at", (json_int_t)te->expires_at));
	}
	http_reply_json(req, 200, json_pack("{s:o}", "temporary_passwords", list));
}

struct tmppass_del {
	struct app *app;                  /* the server */
	struct http_req *req;             /* for audit */
	const struct store_account *acct; /* whose */
	int64_t id;                       /* which */
};

static enum pa_err tmppass_del_tx(struct store_tx *tx, void *arg)
{
	struct tmppass_del *td = arg;
	enum pa_err e = store_tmppass_delete(tx, td->acct->id, td->id);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, td->app, td->req, "tmppass.revoke", td->acct->id, td->acct->name);
	snprintf(au.detail, sizeof(au.detail), "id=%lld", (long long)td->id);
	return store_audit_add(tx, &au);
}

void h_tmppass_revoke(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	const char *ids = http_req_param(req, "id");
	char *end;
	long long id = strtoll(ids, &end, 10);
	if (*end || id <= 0) {
		http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "no such temporary password");
		return;
	}
	struct app *a = http_req_app(req);
	struct tmppass_del td = {.app = a, .req = req, .acct = &acct, .id = id};
	enum pa_err e = store_write(a->store, tmppass_del_tx, &td);
	if (e == PA_ERR_NOT_FOUND) {
		http_reply_error(req, 404, e, 0, "no such temporary password");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "status", "revoked"));
}
