/*
 * sessions.c — sessions and the account's own settings:
 *
 *   GET    /v1/sessions                list live sessions
 *   DELETE /v1/sessions/{id}           revoke one
 *   POST   /v1/sessions/revoke-others  revoke every other session
 *   POST   /v1/reauth {password}       enter the password again (sensitive changes)
 *   POST   /v1/password {password, new_password}
 *   POST   /v1/twofactor/off {password, method, code}
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/password.h"
#include "core/token.h"
#include "server/handlers.h"

enum pa_err session_create(struct store_tx *tx, struct app *a, int64_t account, const char *client,
                           const char *ip, int64_t now, int64_t auth_at, char *token, int64_t *id)
{
	(void)a;
	struct store_session s = {.account = account,
	                          .kind = strcmp(client, "web") == 0 ? STORE_SESSION_WEB
	                                                             : STORE_SESSION_APP,
	                          .created_at = now,
	                          .auth_at = auth_at};
	snprintf(s.client, sizeof(s.client), "%s", client);
	snprintf(s.ip, sizeof(s.ip), "%s", ip);
	if (token_generate(TOKEN_SESSION, token, TOKEN_SIZE_MAX) != PA_OK)
		return PA_ERR_RANDOM;
	token_hash(token, s.token_hash);
	enum pa_err e = store_session_add(tx, &s);
	if (e == PA_OK && id)
		*id = s.id;
	return e;
}

struct list_ctx {
	json_t *arr;     /* the sessions */
	int64_t current; /* the caller's session */
};

static bool list_one(void *arg, const struct store_session *s)
{
	struct list_ctx *lc = arg;
	json_array_append_new(
	    lc->arr, json_pack("{s:I, s:s, s:s, s:s, s:I, s:b}", "id", (json_int_t)s->id, "kind",
	                       s->kind == STORE_SESSION_WEB ? "web" : "app", "client", s->client,
	                       "ip", s->ip, "created_at", (json_int_t)s->created_at, "current",
	                       s->id == lc->current));
	return true;
}

void h_sessions_list(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	struct app *a = http_req_app(req);
	struct list_ctx lc = {.arr = json_array(), .current = s.id};
	struct store_tx *rd = store_reader(a->store);
	enum pa_err e = rd ? store_session_list(rd, acct.id, list_one, &lc) : PA_ERR_STORE;
	if (e != PA_OK) {
		json_decref(lc.arr);
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "sessions", lc.arr));
}

struct revoke {
	struct app *app;                  /* the server */
	struct http_req *req;             /* for audit */
	const struct store_account *acct; /* whose */
	int64_t id;                       /* one session, or the one to keep */
	bool others;                      /* revoke all but id */
	unsigned n;                       /* out: how many */
};

static enum pa_err revoke_tx(struct store_tx *tx, void *arg)
{
	struct revoke *r = arg;
	int64_t now = app_now(r->app);
	enum pa_err e;
	if (r->others) {
		e = store_session_revoke_all(tx, r->acct->id, r->id, now, &r->n);
	} else {
		e = store_session_revoke(tx, r->acct->id, r->id, now);
		r->n = 1;
	}
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, r->app, r->req, r->others ? "session.revoke_others" : "session.revoke",
	               r->acct->id, r->acct->name);
	snprintf(au.detail, sizeof(au.detail), "%s=%lld revoked=%u", r->others ? "kept" : "id",
	         (long long)r->id, r->n);
	return store_audit_add(tx, &au);
}

void h_session_revoke(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	char *end;
	long long id = strtoll(http_req_param(req, "id"), &end, 10);
	if (*end || id <= 0) {
		http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "no such session");
		return;
	}
	struct revoke r = {.app = http_req_app(req), .req = req, .acct = &acct, .id = id};
	enum pa_err e = store_write(r.app->store, revoke_tx, &r);
	if (e == PA_ERR_NOT_FOUND) {
		http_reply_error(req, 404, e, 0, "no such session");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "status", "revoked"));
}

void h_sessions_revoke_others(struct http_req *req)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct))
		return;
	struct revoke r = {
	    .app = http_req_app(req), .req = req, .acct = &acct, .id = s.id, .others = true};
	enum pa_err e = store_write(r.app->store, revoke_tx, &r);
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200,
	                json_pack("{s:s, s:i}", "status", "revoked", "revoked", (int)r.n));
}

/* Verify the account password (Argon2id; runs on the slow pool). */
static enum pa_err check_password(struct app *a, const struct store_account *acct,
                                  const char *password)
{
	if (!acct->pwhash[0]) {
		struct password_dummy d;
		memcpy(d.hash, a->dummy_hash, sizeof(d.hash));
		return password_verify_dummy(&d, password, strlen(password));
	}
	return password_verify(acct->pwhash, password, strlen(password));
}

struct settings {
	struct app *app;                   /* the server */
	struct http_req *req;              /* for audit */
	const struct store_account *acct;  /* whose */
	const struct store_session *sess;  /* the caller's session */
	const char *event;                 /* audit event */
	const char *outcome;               /* audit outcome */
	char new_hash[PASSWORD_HASH_SIZE]; /* for a password change */
	struct factor_check fc;            /* for turning two-factor off */
	bool turn_off;                     /* turn two-factor off */
	bool limited;                      /* out: throttled */
	unsigned retry_after;              /* out: when limited */
};

static enum pa_err settings_tx(struct store_tx *tx, void *arg)
{
	struct settings *st = arg;
	st->limited = false; /* outputs start over: a store may run a tx fn again */
	struct store_audit au;
	app_audit_init(&au, st->app, st->req, st->event, st->acct->id, st->acct->name);
	snprintf(au.outcome, sizeof(au.outcome), "%s", st->outcome);
	int64_t now = app_now(st->app);
	/* Every password check counts against the address, as at sign-in; turning two-factor
	 * off also respects the account's lockout (DESIGN §3). */
	bool ok = strcmp(st->outcome, "ok") == 0;
	/* The session and the password were read before Argon2id.  A session revoked since (by a
	 * password change elsewhere, say) acts no more; and a right password is right only if it
	 * is still the account's: else two changes racing could both win, the later undoing the
	 * earlier. */
	struct store_account cur;
	enum pa_err e = store_account_lock(tx, st->acct->id, &cur);
	if (e == PA_OK)
		e = app_session_live(tx, st->sess);
	if (e != PA_OK)
		return e;
	if (ok && strcmp(cur.pwhash, st->acct->pwhash) != 0)
		return PA_ERR_CONFLICT;
	e = limits_ip_attempt(tx, st->app, http_req_ip(st->req), now, &st->retry_after);
	if (e == PA_OK && ok && st->turn_off)
		e = limits_account_check(tx, st->app, st->acct->id, now, &st->retry_after, NULL);
	if (e == PA_ERR_RATE_LIMITED) {
		st->limited = true;
		snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
		return store_audit_add(tx, &au);
	}
	if (e != PA_OK)
		return e;
	if (!ok)
		return store_audit_add(tx, &au);
	if (st->turn_off) {
		e = factors_verify(tx, &st->fc);
		if (e != PA_OK)
			return e;
		if (st->fc.verdict != PA_OK) {
			app_audit_verdict(&au, st->fc.verdict);
			if (st->fc.verdict != PA_ERR_METHOD_UNAVAILABLE &&
			    st->fc.verdict != PA_ERR_THIRD_PARTY_BACKUP)
				e = limits_account_fail(tx, st->app, st->acct->id, now);
			return e == PA_OK ? store_audit_add(tx, &au) : e;
		}
		/* A right code ends the back-off, as everywhere (DESIGN §3). */
		e = limits_account_success(tx, st->app, st->acct->id);
		if (e == PA_OK)
			e = factors_reset(tx, st->acct->id);
	} else if (st->new_hash[0]) {
		e = store_account_set_password(tx, st->acct->id, st->new_hash);
		unsigned n = 0;
		/* A new password ends every other session: whoever knew the old one is out, also
		 * from a sign-in that passed the password step with it. */
		if (e == PA_OK)
			e = store_session_revoke_all(tx, st->acct->id, st->sess->id, now, &n);
		if (e == PA_OK)
			e = store_login_end_all(tx, st->acct->id, STORE_LOGIN_FAILED, NULL);
		if (e == PA_OK)
			e = store_tmppass_delete_all(tx, st->acct->id);
	}
	if (e == PA_OK)
		e = store_session_set_auth(tx, st->sess->id, now);
	if (e != PA_OK)
		return e;
	return store_audit_add(tx, &au);
}

/* An address over its password limit, seen before any Argon2id work: audited as at sign-in,
 * and the attempt made, as at sign-in, since that rewrites a counter that did not decode
 * (limits.c; a peek on a reader cannot). */
static enum pa_err settings_limited_tx(struct store_tx *tx, void *arg)
{
	struct settings *st = arg;
	unsigned retry = 0;
	enum pa_err e =
	    limits_ip_attempt(tx, st->app, http_req_ip(st->req), app_now(st->app), &retry);
	if (e == PA_ERR_RATE_LIMITED)
		st->retry_after = retry;
	else if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, st->app, st->req, st->event, st->acct->id, st->acct->name);
	snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
	return store_audit_add(tx, &au);
}

static const struct http_field reauth_fields[] = {
    {"password", HTTP_FIELD_STRING, true, APP_PASSWORD_MAX, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};
static const struct http_field password_fields[] = {
    {"password", HTTP_FIELD_STRING, true, APP_PASSWORD_MAX, 0, 0},
    {"new_password", HTTP_FIELD_STRING, true, APP_PASSWORD_MAX, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};
static const struct http_field off_fields[] = {
    {"password", HTTP_FIELD_STRING, true, APP_PASSWORD_MAX, 0, 0},
    {"method", HTTP_FIELD_STRING, true, 16, 0, 0},
    {"code", HTTP_FIELD_STRING, true, 64, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};

/* The three password-guarded settings share one flow. */
static void settings_change(struct http_req *req, const struct http_field *fields,
                            const char *event)
{
	struct store_session s;
	struct store_account acct;
	if (!app_auth_session(req, &s, &acct) || !http_check_fields(req, fields))
		return;
	struct app *a = http_req_app(req);
	struct settings st = {.app = a, .req = req, .acct = &acct, .sess = &s, .event = event};
	/* Fields first: a request bound to be refused costs no Argon2id and counts no attempt. */
	bool turn_off = strcmp(event, "twofactor.off") == 0;
	if (turn_off && !factors_method_known(http_body_str(req, "method"))) {
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "field 'method' must be one of totp, backup");
		return;
	}
	const char *np = http_body_str(req, "new_password");
	if (np && (strlen(np) < PASSWORD_MIN_BYTES || strlen(np) > PASSWORD_MAX_BYTES)) {
		http_reply_error(req, 400, PA_ERR_PASSWORD_POLICY, 0,
		                 "the new password must be %d to %d bytes", PASSWORD_MIN_BYTES,
		                 PASSWORD_MAX_BYTES);
		return;
	}
	struct store_tx *rd = store_reader(a->store);
	if (rd && limits_ip_peek(rd, a, http_req_ip(req), app_now(a), &st.retry_after) ==
	              PA_ERR_RATE_LIMITED) {
		enum pa_err e = store_write(a->store, settings_limited_tx, &st);
		if (e != PA_OK) {
			app_fail(req, e);
			return;
		}
		http_reply_error(req, 429, PA_ERR_RATE_LIMITED, st.retry_after,
		                 "too many password attempts from this address; try again in %u s",
		                 st.retry_after);
		return;
	}
	enum pa_err v = check_password(a, &acct, http_body_str(req, "password"));
	st.outcome = v == PA_OK ? "ok" : "invalid_password";
	if (v == PA_OK && np) {
		struct password_params pp = {.opslimit = a->cfg.argon_ops,
		                             .memlimit = (size_t)a->cfg.argon_mem_kib * 1024};
		v = password_hash(&pp, np, strlen(np), st.new_hash);
		if (v == PA_ERR_PASSWORD_POLICY) {
			http_reply_error(req, 400, v, 0, "the new password must be %d to %d bytes",
			                 PASSWORD_MIN_BYTES, PASSWORD_MAX_BYTES);
			return;
		}
	}
	if (turn_off) {
		st.turn_off = true;
		st.fc = (struct factor_check){.app = a,
		                              .account = acct.id,
		                              .method = http_body_str(req, "method"),
		                              .code = http_body_str(req, "code"),
		                              .client = s.client,
		                              .now = app_now(a)};
	}
#ifdef PAHARA_TESTING
	app_test_pause(a);
#endif
	enum pa_err e = store_write(a->store, settings_tx, &st);
	sodium_memzero(st.new_hash, sizeof(st.new_hash));
	if (e == PA_ERR_CONFLICT) {
		http_reply_error(req, 409, e, 0,
		                 "the password changed while this request was being checked; "
		                 "try again with the new one");
		return;
	}
	if (e == PA_OK && st.limited) {
		http_reply_error(req, 429, PA_ERR_RATE_LIMITED, st.retry_after,
		                 "too many attempts; try again in %u s", st.retry_after);
		return;
	}
	if (e == PA_OK && v != PA_OK)
		e = v == PA_ERR_PASSWORD_MISMATCH ? PA_ERR_INVALID_CREDENTIALS : v;
	if (e == PA_OK && st.turn_off && st.fc.verdict != PA_OK)
		e = st.fc.verdict;
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

void h_reauth(struct http_req *req)
{
	settings_change(req, reauth_fields, "session.reauth");
}

void h_password_change(struct http_req *req)
{
	settings_change(req, password_fields, "account.password");
}

void h_twofactor_off(struct http_req *req)
{
	settings_change(req, off_fields, "twofactor.off");
}
