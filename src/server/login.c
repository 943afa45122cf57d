/*
 * login.c — sign-in, DESIGN.md §4:
 *
 *   POST /v1/login              {username, password, client}  (password or temporary password)
 *   POST /v1/login/{id}/verify  {method, code}
 *   GET  /v1/login/{id}
 *
 * The password step runs on the slow pool (Argon2id).  Every decision that consumes or counts
 * runs inside one store transaction (a tx fn), so that a code is used once and every wrong code
 * is counted even when requests race; a tx fn keeps its writes by returning PA_OK and hands the
 * verdict back in its argument.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/otp.h"
#include "core/password.h"
#include "core/token.h"
#include "server/app.h"
#include "server/handlers.h"

/* ---- POST /v1/login -------------------------------------------------------------------- */

struct login_start {
	struct app *app;                   /* the server */
	struct http_req *req;              /* for audit fields */
	const char *username;              /* as given */
	const char *client;                /* as given */
	struct store_account acct;         /* found account, if found */
	bool found;                        /* acct is valid */
	bool password_ok;                  /* the account password matched */
	bool limited;                      /* refused by the address's limit before Argon2id */
	const char *password;              /* as given (for temporary passwords) */
	size_t password_len;               /* its length */
	char new_hash[PASSWORD_HASH_SIZE]; /* rehash to store, "" = none */
	int64_t now;                       /* time of the attempt */
	/* out */
	enum pa_err verdict;        /* PA_OK, or why not */
	unsigned retry_after;       /* for PA_ERR_RATE_LIMITED */
	bool via_tmppass;           /* signed in with a temporary password */
	char token[TOKEN_SIZE_MAX]; /* session token or login id to return */
	bool second_step;           /* token is a login id */
	bool has_totp;              /* methods on offer */
	unsigned backup_active;     /* active backup codes */
	bool stale;                 /* the account changed since acct was read: check again */
};

static enum pa_err login_start_tx(struct store_tx *tx, void *arg)
{
	struct login_start *ls = arg;
	struct app *a = ls->app;
	/* Outputs start over: a store may run a tx fn again. */
	ls->via_tmppass = false;
	ls->second_step = false;
	ls->stale = false;
	struct store_audit au;
	app_audit_init(&au, a, ls->req, "login.password", ls->found ? ls->acct.id : 0,
	               ls->username);
	app_audit_client(&au, ls->client);

	enum pa_err e = PA_OK;
	if (ls->found && !ls->limited) {
		/* The password was checked against a read made before Argon2id.  What counts is
		 * the account as it is now: a password changed since then must not be undone by a
		 * rehash nor answered with a session, and two-factor turned on or the account
		 * disabled since then must apply to this sign-in. */
		struct store_account cur;
		e = store_account_lock(tx, ls->acct.id, &cur);
		if (e != PA_OK && e != PA_ERR_NOT_FOUND)
			return e;
		if (e == PA_ERR_NOT_FOUND || strcmp(cur.pwhash, ls->acct.pwhash) != 0) {
			ls->stale = true;
			return PA_ERR_CONFLICT; /* nothing of this run stays; h_login starts over */
		}
		ls->acct = cur;
	}
	/* Refused by the peek, the attempt is made all the same (it rewrites a counter that did
	 * not decode: limits.c), and the refusal stands even if the window has moved on since:
	 * no password was checked.  The row names the account asked for, as any other does. */
	e = limits_ip_attempt(tx, a, http_req_ip(ls->req), ls->now, &ls->retry_after);
	if (e == PA_ERR_RATE_LIMITED || (e == PA_OK && ls->limited)) {
		ls->verdict = PA_ERR_RATE_LIMITED;
		snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
		return store_audit_add(tx, &au);
	}
	if (e != PA_OK)
		return e;

	if (!ls->found || ls->acct.disabled) {
		ls->verdict = ls->found && ls->password_ok ? PA_ERR_ACCOUNT_DISABLED
		                                           : PA_ERR_INVALID_CREDENTIALS;
		snprintf(au.outcome, sizeof(au.outcome), "%s",
		         ls->found ? (ls->password_ok ? "disabled" : "invalid_password")
		                   : "unknown_user");
		return store_audit_add(tx, &au);
	}
	if (!ls->password_ok) {
		/* A temporary password stands in the password slot (DESIGN §2). */
		e = factors_tmppass_consume(tx, a, ls->acct.id, ls->password, ls->password_len,
		                            ls->now);
		if (e != PA_OK) {
			ls->verdict = PA_ERR_INVALID_CREDENTIALS;
			snprintf(au.outcome, sizeof(au.outcome), "%s",
			         e == PA_ERR_PASSWORD_MISMATCH ? "invalid_password"
			                                       : pa_err_code(e));
			return e == PA_ERR_STORE ? e : store_audit_add(tx, &au);
		}
		ls->via_tmppass = true;
		snprintf(au.event, sizeof(au.event), "login.temporary_password");
	}
	if (ls->new_hash[0]) {
		e = store_account_set_password(tx, ls->acct.id, ls->new_hash);
		if (e != PA_OK)
			return e;
	}
	if (!ls->acct.twofactor || ls->via_tmppass) {
		/* A temporary password is not the password: its session may not make more. */
		e = session_create(tx, a, ls->acct.id, ls->client, http_req_ip(ls->req), ls->now,
		                   ls->via_tmppass ? 0 : ls->now, ls->token, NULL);
		if (e != PA_OK)
			return e;
		ls->verdict = PA_OK;
		return store_audit_add(tx, &au);
	}
	struct store_totp t;
	e = store_totp_get(tx, ls->acct.id, &t);
	if (e != PA_OK && e != PA_ERR_NOT_FOUND)
		return e;
	ls->has_totp = e == PA_OK && t.confirmed;
	e = factors_backup_active(tx, ls->acct.id, &ls->backup_active);
	if (e != PA_OK)
		return e;
	if (!app_first_party(a, ls->client))
		ls->backup_active = 0; /* backup codes are for first-party clients only */
	struct store_login l = {.account = ls->acct.id,
	                        .created_at = ls->now,
	                        .expires_at = ls->now + a->cfg.signin_lifetime};
	snprintf(l.client, sizeof(l.client), "%s", ls->client);
	snprintf(l.ip, sizeof(l.ip), "%s", http_req_ip(ls->req));
	if (token_generate(TOKEN_ID, ls->token, sizeof(ls->token)) != PA_OK)
		return PA_ERR_RANDOM;
	token_hash(ls->token, l.id_hash);
	e = store_login_add(tx, &l);
	if (e != PA_OK)
		return e;
	ls->second_step = true;
	ls->verdict = PA_OK;
	snprintf(au.outcome, sizeof(au.outcome), "second_step");
	return store_audit_add(tx, &au);
}

static const struct http_field login_fields[] = {
    {"username", HTTP_FIELD_STRING, true, APP_USERNAME_MAX, 0, 0},
    {"password", HTTP_FIELD_STRING, true, APP_PASSWORD_MAX, 0, 0},
    {"client", HTTP_FIELD_STRING, true, STORE_CLIENT_MAX, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};

json_t *login_methods_json(bool has_totp, unsigned backup_active)
{
	json_t *m = json_array();
	if (has_totp)
		json_array_append_new(m, json_string("totp"));
	if (backup_active > 0)
		json_array_append_new(m, json_string("backup"));
	return m;
}

/* How many times h_login checks a password again when the account changed under it. */
#define LOGIN_STALE_TRIES 3

/* One pass of the password step: read the account, check the password, decide in the store.
 * PA_OK: ls->verdict holds the answer; PA_ERR_CONFLICT with ls->stale: the account changed
 * since the read, and nothing was written. */
static enum pa_err login_attempt(struct http_req *req, struct login_start *ls)
{
	struct app *a = ls->app;
	struct store_tx *rd = store_reader(a->store);
	enum pa_err e = rd ? store_account_by_name(rd, ls->username, &ls->acct) : PA_ERR_STORE;
	if (e != PA_OK && e != PA_ERR_NOT_FOUND)
		return e;
	ls->found = e == PA_OK;
	ls->limited = false;
	ls->password_ok = false;
	ls->new_hash[0] = '\0';
	ls->now = app_now(a);
	/* An address over its limit gets no Argon2id work at all (the attempt is audited). */
	if (limits_ip_peek(rd, a, http_req_ip(req), ls->now, &ls->retry_after) ==
	    PA_ERR_RATE_LIMITED) {
		ls->limited = true;
		e = store_write(a->store, login_start_tx, ls);
		if (e != PA_OK && e != PA_ERR_RATE_LIMITED)
			return e;
		ls->verdict = PA_ERR_RATE_LIMITED;
		return PA_OK;
	}
	/* The same Argon2id work whether or not the user exists: no enumeration by timing. */
	if (ls->found && ls->acct.pwhash[0]) {
		e = password_verify(ls->acct.pwhash, ls->password, ls->password_len);
		ls->password_ok = e == PA_OK;
		struct password_params pp = {.opslimit = a->cfg.argon_ops,
		                             .memlimit = (size_t)a->cfg.argon_mem_kib * 1024};
		if (ls->password_ok && password_needs_rehash(ls->acct.pwhash, &pp) &&
		    password_hash(&pp, ls->password, ls->password_len, ls->new_hash) != PA_OK)
			ls->new_hash[0] = '\0';
	} else {
		struct password_dummy d;
		memcpy(d.hash, a->dummy_hash, sizeof(d.hash));
		e = password_verify_dummy(&d, ls->password, ls->password_len);
		(void)e;
	}
#ifdef PAHARA_TESTING
	app_test_pause(a);
#endif
	e = store_write(a->store, login_start_tx, ls);
	sodium_memzero(ls->new_hash, sizeof(ls->new_hash));
	return e;
}

void h_login(struct http_req *req)
{
	struct app *a = http_req_app(req);
	if (!http_check_fields(req, login_fields))
		return;
	struct login_start ls = {.app = a, .req = req};
	ls.username = http_body_str(req, "username");
	ls.client = http_body_str(req, "client");
	ls.password = http_body_str(req, "password");
	ls.password_len = strlen(ls.password);
	if (!ls.username[0] || !ls.client[0]) {
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "fields 'username' and 'client' must not be empty");
		return;
	}
	enum pa_err e;
	unsigned tries = 0;
	do
		e = login_attempt(req, &ls);
	while (e == PA_ERR_CONFLICT && ls.stale && ++tries < LOGIN_STALE_TRIES);
	if (e == PA_ERR_CONFLICT && ls.stale)
		e = PA_ERR_STORE; /* changed under every try: busy, try again later */
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	if (ls.verdict == PA_ERR_RATE_LIMITED) {
		http_reply_error(req, 429, ls.verdict, ls.retry_after,
		                 "too many sign-in attempts from this address; try again in %u s",
		                 ls.retry_after);
		return;
	}
	if (ls.verdict != PA_OK) {
		app_fail(req, ls.verdict);
		return;
	}
	json_t *body;
	if (ls.second_step)
		body =
		    json_pack("{s:s, s:s, s:o, s:I}", "status", "second_step", "login_id", ls.token,
		              "methods", login_methods_json(ls.has_totp, ls.backup_active),
		              "expires_at", (json_int_t)(ls.now + a->cfg.signin_lifetime));
	else
		body = json_pack("{s:s, s:s}", "status", "signed_in", "session", ls.token);
	sodium_memzero(ls.token, sizeof(ls.token));
	http_reply_json(req, 200, body);
}

/* ---- POST /v1/login/{id}/verify -------------------------------------------------------- */

struct login_verify {
	struct app *app;                 /* the server */
	struct http_req *req;            /* for audit fields */
	uint8_t id_hash[STORE_HASH_LEN]; /* of the login id */
	const char *method;              /* "totp" or "backup" */
	const char *code;                /* as typed */
	int64_t now;                     /* time of the attempt */
	/* out */
	enum pa_err verdict;        /* PA_OK, or why not */
	unsigned retry_after;       /* for PA_ERR_RATE_LIMITED */
	unsigned failures;          /* wrong codes in this sign-in so far */
	char token[TOKEN_SIZE_MAX]; /* the session token on success */
};

static enum pa_err login_verify_tx(struct store_tx *tx, void *arg)
{
	struct login_verify *lv = arg;
	struct app *a = lv->app;
	struct store_login l;
	enum pa_err e = store_login_by_hash(tx, lv->id_hash, &l);
	if (e == PA_ERR_NOT_FOUND) {
		lv->verdict = PA_ERR_NOT_FOUND;
		return PA_OK;
	}
	if (e != PA_OK)
		return e;
	/* The account held, then the sign-in read again: a password change, a disable or a
	 * recovery that committed meanwhile has ended it. */
	struct store_account acct;
	e = store_account_lock(tx, l.account, &acct);
	if (e == PA_OK)
		e = store_login_by_hash(tx, lv->id_hash, &l);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, a, lv->req, "login.verify", acct.id, acct.name);
	app_audit_client(&au, l.client);
	snprintf(au.detail, sizeof(au.detail), "method=%s", lv->method);

	if (l.state != STORE_LOGIN_PENDING || lv->now >= l.expires_at || acct.disabled) {
		/* Audited too: a login id used again after its session (a stolen one, say), or
		 * codes still sent after the sign-in failed or expired. */
		lv->verdict = PA_ERR_LOGIN_ENDED;
		snprintf(au.outcome, sizeof(au.outcome), "login_ended");
		snprintf(au.detail, sizeof(au.detail), "method=%s; %s", lv->method,
		         l.state == STORE_LOGIN_DONE     ? "signed_in"
		         : l.state == STORE_LOGIN_DENIED ? "denied"
		         : l.state == STORE_LOGIN_FAILED ? "failed"
		         : acct.disabled                 ? "disabled"
		                                         : "expired");
		return store_audit_add(tx, &au);
	}
	e = limits_account_check(tx, a, acct.id, lv->now, &lv->retry_after, NULL);
	if (e == PA_ERR_RATE_LIMITED) {
		lv->verdict = e;
		snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
		return store_audit_add(tx, &au);
	}
	if (e != PA_OK)
		return e;

	struct factor_check fc = {.app = a,
	                          .account = acct.id,
	                          .method = lv->method,
	                          .code = lv->code,
	                          .client = l.client,
	                          .now = lv->now};
	e = factors_verify(tx, &fc);
	if (e != PA_OK)
		return e;
	lv->verdict = fc.verdict;
	if (fc.verdict == PA_OK) {
		int64_t sid = 0;
		/* The password was entered when the sign-in began, not now: the window for
		 * sensitive changes (DESIGN §3) runs from then. */
		e = session_create(tx, a, acct.id, l.client, l.ip, lv->now, l.created_at, lv->token,
		                   &sid);
		if (e == PA_OK)
			e = store_login_end(tx, l.id, STORE_LOGIN_DONE, sid);
		if (e == PA_OK)
			e = limits_account_success(tx, a, acct.id);
		if (e != PA_OK)
			return e == PA_ERR_CONFLICT ? PA_ERR_STATE : e;
		return store_audit_add(tx, &au);
	}
	app_audit_verdict(&au, fc.verdict);
	if (fc.verdict == PA_ERR_METHOD_UNAVAILABLE || fc.verdict == PA_ERR_THIRD_PARTY_BACKUP)
		return store_audit_add(tx, &au);
	/* A wrong code: count it for this sign-in and for the account (DESIGN §3). */
	e = store_login_fail(tx, l.id, &lv->failures);
	if (e != PA_OK)
		return e;
	if (lv->failures >= a->cfg.code_limits.signin_codes_max) {
		e = store_login_end(tx, l.id, STORE_LOGIN_FAILED, 0);
		if (e != PA_OK)
			return e;
		snprintf(au.detail, sizeof(au.detail),
		         "method=%s; sign-in ended after %u wrong codes", lv->method, lv->failures);
	}
	e = limits_account_fail(tx, a, acct.id, lv->now);
	if (e != PA_OK)
		return e;
	return store_audit_add(tx, &au);
}

static const struct http_field verify_fields[] = {
    {"method", HTTP_FIELD_STRING, true, 16, 0, 0},
    {"code", HTTP_FIELD_STRING, true, 64, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};

void h_login_verify(struct http_req *req)
{
	struct app *a = http_req_app(req);
	if (!http_check_fields(req, verify_fields))
		return;
	const char *id = http_req_param(req, "id");
	struct login_verify lv = {.app = a, .req = req};
	lv.method = http_body_str(req, "method");
	lv.code = http_body_str(req, "code");
	if (!factors_method_known(lv.method)) {
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "field 'method' must be one of totp, backup");
		return;
	}
	if (!token_valid(TOKEN_ID, id)) {
		http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "no such sign-in");
		return;
	}
	token_hash(id, lv.id_hash);
	lv.now = app_now(a);
	unsigned codes_max = a->cfg.code_limits.signin_codes_max; /* DESIGN §3: wrong codes */
	enum pa_err e = store_write(a->store, login_verify_tx, &lv);
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	switch (lv.verdict) {
	case PA_OK: {
		json_t *body = json_pack("{s:s, s:s}", "status", "signed_in", "session", lv.token);
		sodium_memzero(lv.token, sizeof(lv.token));
		http_reply_json(req, 200, body);
		return;
	}
	case PA_ERR_NOT_FOUND:
		http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "no such sign-in");
		return;
	case PA_ERR_RATE_LIMITED:
		http_reply_error(req, 429, lv.verdict, lv.retry_after,
		                 "too many wrong codes for this account; try again in %u s",
		                 lv.retry_after);
		return;
	case PA_ERR_INVALID_CODE:
	case PA_ERR_REPLAYED_CODE:
	case PA_ERR_INACTIVE_BACKUP_CODE:
		/* An inactive backup code is told apart even when it ended the sign-in
		 * (docs/api.md §2 rule 5): the person must learn to make new ones. */
		if (lv.verdict == PA_ERR_INACTIVE_BACKUP_CODE && lv.failures >= codes_max) {
			http_reply_error(
			    req, 410, lv.verdict, 0,
			    "This backup code is no longer active. Generate a new one. "
			    "Too many wrong codes: this sign-in has ended. Start again.");
			return;
		}
		if (lv.failures >= codes_max) {
			http_reply_error(
			    req, 410, PA_ERR_LOGIN_ENDED, 0,
			    "too many wrong codes; this sign-in has ended. Start again.");
			return;
		}
		if (lv.verdict == PA_ERR_INACTIVE_BACKUP_CODE) {
			app_fail(req, lv.verdict);
			return;
		}
		http_reply_error(req, 401, PA_ERR_INVALID_CODE, 0,
		                 "the code is not valid (%u of %u attempts left)",
		                 codes_max - lv.failures, codes_max);
		return;
	default:
		app_fail(req, lv.verdict);
		return;
	}
}

/* ---- GET /v1/login/{id} ---------------------------------------------------------------- */

void h_login_status(struct http_req *req)
{
	struct app *a = http_req_app(req);
	const char *id = http_req_param(req, "id");
	if (!token_valid(TOKEN_ID, id)) {
		http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "no such sign-in");
		return;
	}
	uint8_t h[STORE_HASH_LEN];
	token_hash(id, h);
	struct store_login l;
	struct store_tx *rd = store_reader(a->store);
	enum pa_err e = rd ? store_login_by_hash(rd, h, &l) : PA_ERR_STORE;
	if (e == PA_ERR_NOT_FOUND) {
		http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "no such sign-in");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	const char *status = "pending";
	if (l.state == STORE_LOGIN_DONE)
		status = "signed_in";
	else if (l.state == STORE_LOGIN_FAILED)
		status = "failed";
	else if (l.state == STORE_LOGIN_DENIED)
		status = "denied";
	else if (app_now(a) >= l.expires_at)
		status = "expired";
	struct store_account acct;
	if (l.state == STORE_LOGIN_PENDING && store_account_by_id(rd, l.account, &acct) == PA_OK &&
	    acct.disabled)
		status =
		    "failed"; /* as a disable leaves it (its end was not written: an old one) */
	/* The session token itself is handed out once, by the call that completed the sign-in. */
	http_reply_json(req, 200,
	                json_pack("{s:s, s:I, s:i}", "status", status, "expires_at",
	                          (json_int_t)l.expires_at, "attempts_left",
	                          (int)(l.failures >= a->cfg.code_limits.signin_codes_max
	                                    ? 0
	                                    : a->cfg.code_limits.signin_codes_max - l.failures)));
}
