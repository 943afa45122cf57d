/*
 * check.c — relying sites that keep their own passwords and want only the second step.  They
 * authenticate with a service key (Authorization: Bearer KEY, made by `pahara admin service
 * add`) and manage only the accounts they created:
 *
 *   POST /v1/check {username, method, code[, client]}     check a code, same rules as sign-in
 *   POST /v1/service/accounts {username[, password]}      create an account
 *   POST /v1/service/accounts/{name}/disable
 *   POST /v1/service/accounts/{name}/totp                 -> {secret, uri, qr_svg}
 *   POST /v1/service/accounts/{name}/totp/confirm {code}  -> {backup_codes}
 *   POST /v1/service/accounts/{name}/backup-codes {count} -> {codes}
 *
 * /v1/check is the hot path: it runs on the HTTP thread and never waits there.  It checks the
 * request's form and hands the rest to store_submit_check: the read of service, account and
 * code generator and check_prepare (the code checked against the read), both on the store's
 * writer, then check_tx in the store's group commit, and the answer sent from the commit's
 * callback.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/password.h"
#include "server/handlers.h"

struct check {
	struct app *app;                     /* the server */
	struct http_req *req;                /* answered from check_done */
	char username[APP_USERNAME_MAX + 1]; /* as asked */
	enum pa_err refused;                 /* check_prepare's refusal (PA_OK: none) */
	struct store_account acct;           /* whose code */
	struct factor_check fc;              /* the check */
	char method[16];                     /* copies: the request outlives nothing here */
	char code[65];
	char client[STORE_CLIENT_MAX + 1];
	char service[STORE_NAME_MAX + 1]; /* for audit */
	bool pre_checked;                 /* totp: checked by check_prepare into pre */
	enum pa_err pre_verdict;          /* and its verdict (fc.verdict is an output) */
	struct totp_pre pre;              /* what to consume */
	unsigned retry_after;             /* out: for PA_ERR_RATE_LIMITED */
};

static enum pa_err check_tx(struct store_tx *tx, void *arg)
{
	struct check *c = arg;
	/* Outputs start over: a store may run a tx fn again. */
	if (c->pre_checked)
		c->fc.verdict = c->pre_verdict;
	struct store_audit au;
	app_audit_init(&au, c->app, c->req, "check", c->acct.id, c->acct.name);
	snprintf(au.client, sizeof(au.client), "service:%.55s", c->service);
	snprintf(au.detail, sizeof(au.detail), "method=%s", c->method);
	enum pa_err e;
	if (c->pre_checked && c->pre_verdict == PA_OK) {
		/* An account with no throttling counter cannot be throttled, and a success leaves
		 * none: consume the step if there is none, else decide the long way below (which
		 * also tells a replay). */
		char key[STORE_LIMIT_KEY_MAX];
		limits_account_key(c->acct.id, key);
		e = store_totp_consume_unthrottled(tx, c->acct.id, &c->pre.t, c->pre.step,
		                                   c->pre.drift, key, &au);
		if (e == PA_OK)
			return PA_OK; /* and nothing more: store.h */
		if (e != PA_ERR_CONFLICT)
			return e;
	}
	/* The account as it is now, and held (store.h): a disable committed since the read
	 * refuses the check, and the checks of one account that get this far (a wrong code, a
	 * backup code, a throttled account) follow one another. */
	struct store_account cur;
	e = store_account_lock(tx, c->acct.id, &cur);
	if (e != PA_OK)
		return e;
	if (cur.disabled) {
		c->fc.verdict = PA_ERR_ACCOUNT_DISABLED; /* not a wrong code: not counted */
		app_audit_verdict(&au, c->fc.verdict);
		return store_audit_add(tx, &au);
	}
	bool clean = false;
	e = limits_account_check(tx, c->app, c->acct.id, c->fc.now, &c->retry_after, &clean);
	if (e == PA_ERR_RATE_LIMITED) {
		c->fc.verdict = e;
		snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
		return store_audit_add(tx, &au);
	}
	if (e != PA_OK)
		return e;
	e = c->pre_checked ? factors_totp_consume(tx, &c->fc, &c->pre) : factors_verify(tx, &c->fc);
	if (e != PA_OK)
		return e;
	if (c->fc.verdict == PA_OK) {
		if (!clean)
			e = limits_account_success(tx, c->app, c->acct.id);
	} else {
		app_audit_verdict(&au, c->fc.verdict);
		if (c->fc.verdict != PA_ERR_METHOD_UNAVAILABLE &&
		    c->fc.verdict != PA_ERR_THIRD_PARTY_BACKUP)
			e = limits_account_fail(tx, c->app, c->acct.id, c->fc.now);
	}
	if (e != PA_OK)
		return e;
	return store_audit_add(tx, &au);
}

static void check_refused(struct check *c);

static void check_done(void *arg, enum pa_err result)
{
	struct check *c = arg;
	struct http_req *req = c->req;
	enum pa_err v = result == PA_OK ? c->fc.verdict : result;
	if (c->refused != PA_OK && result == c->refused)
		check_refused(c);
	else if (v == PA_OK)
		http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
	else if (v == PA_ERR_RATE_LIMITED)
		http_reply_error(req, 429, v, c->retry_after,
		                 "too many wrong codes for this account; try again in %u s",
		                 c->retry_after);
	else
		app_fail(req, v);
	sodium_memzero(c->code, sizeof(c->code));
	free(c);
}

static const struct http_field check_fields[] = {
    {"username", HTTP_FIELD_STRING, true, APP_USERNAME_MAX, 0, 0},
    {"method", HTTP_FIELD_STRING, true, 15, 0, 0},
    {"code", HTTP_FIELD_STRING, true, 64, 0, 0},
    {"client", HTTP_FIELD_STRING, false, STORE_CLIENT_MAX, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};

/* Answer 404 for an account this service did not make (or that does not exist). */
static void no_such_account(struct http_req *req, const char *name)
{
	http_reply_error(req, 404, PA_ERR_NOT_FOUND, 0, "this service has no account '%.64s'",
	                 name);
}

/* The account named name, if this service made it; else answers 404 and returns false. */
static bool service_account(struct http_req *req, const struct store_service *svc, const char *name,
                            struct store_account *acct)
{
	struct app *a = http_req_app(req);
	struct store_tx *rd = store_reader(a->store);
	enum pa_err e = rd ? store_account_by_name(rd, name, acct) : PA_ERR_STORE;
	if (e == PA_OK && acct->service_id != svc->id)
		e = PA_ERR_NOT_FOUND;
	if (e == PA_ERR_NOT_FOUND) {
		no_such_account(req, name);
		return false;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return false;
	}
	return true;
}

/* What the read says of this request: PA_OK, else the refusal check_refused answers. */
static enum pa_err check_read_refusal(enum pa_err read, const struct store_check_read *cr)
{
	if (read == PA_OK && cr->service.disabled)
		return PA_ERR_UNAUTHENTICATED;
	if (read == PA_ERR_NOT_FOUND)
		return PA_ERR_UNAUTHENTICATED;
	if (read != PA_OK)
		return read;
	if (!cr->has_account || cr->account.service_id != cr->service.id)
		return PA_ERR_NOT_FOUND;
	return PA_OK; /* a disabled account is refused (and audited) by check_tx */
}

static enum pa_err check_prepare(void *arg, enum pa_err read, const struct store_check_read *cr)
{
	struct check *c = arg;
	/* Outputs start over: a store may call this again. */
	c->pre_checked = false;
	c->refused = check_read_refusal(read, cr);
	if (c->refused != PA_OK)
		return c->refused;
	c->acct = cr->account;
	snprintf(c->service, sizeof(c->service), "%s", cr->service.name);
	c->fc = (struct factor_check){.app = c->app,
	                              .account = c->acct.id,
	                              .method = c->method,
	                              .code = c->code,
	                              .client = c->client,
	                              .now = app_now(c->app)};
	if (strcmp(c->method, "totp") == 0 && !c->acct.disabled) {
		/* The hot path: unseal and verify here, before check_tx, which then only
		 * consumes the step (if the row is unchanged and the account unthrottled and not
		 * disabled) and writes the audit; or re-checks the account and lockout first. */
		enum pa_err e = factors_totp_check_read(cr->has_totp ? &cr->totp : NULL, &c->fc,
		                                        false, &c->pre);
		if (e != PA_OK)
			return e;
		c->pre_checked = true;
		c->pre_verdict = c->fc.verdict;
	}
	return PA_OK;
}

/* Answer check_prepare's refusal. */
static void check_refused(struct check *c)
{
	switch (c->refused) {
	case PA_ERR_UNAUTHENTICATED:
		http_reply_error(c->req, 401, PA_ERR_UNAUTHENTICATED, 0, "unknown service key");
		break;
	case PA_ERR_NOT_FOUND:
		no_such_account(c->req, c->username);
		break;
	default:
		app_fail(c->req, c->refused);
	}
}

void h_check(struct http_req *req)
{
	struct app *a = http_req_app(req);
	uint8_t h[TOKEN_HASH_BYTES];
	if (!app_service_key(req, h) || !http_check_fields(req, check_fields))
		return;
	const char *method = http_body_str(req, "method");
	if (!factors_method_known(method)) {
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "field 'method' must be one of totp, backup");
		return;
	}
	const char *client = http_body_str(req, "client");
	if (client && !client[0]) {
		/* As at sign-in: an empty name is no client (and would pass as third-party). */
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "field 'client' must not be empty");
		return;
	}
	struct check *c = calloc(1, sizeof(*c));
	if (!c) {
		app_fail(req, PA_ERR_NOMEM);
		return;
	}
	c->app = a;
	c->req = req;
	snprintf(c->username, sizeof(c->username), "%s", http_body_str(req, "username"));
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->code, sizeof(c->code), "%s", http_body_str(req, "code"));
	/* The service's own pages are first-party unless it names another client. */
	snprintf(c->client, sizeof(c->client), "%s", client ? client : a->cfg.first_party[0]);
	store_submit_check(a->store, h, c->username, check_prepare, check_tx, c, check_done);
}

/* ---- account management by a service ------------------------------------------------- */

struct svc_create {
	struct app *app;                 /* the server */
	struct http_req *req;            /* for audit */
	const struct store_service *svc; /* who; NULL = self-registration */
	const char *name;                /* the new account */
	char pwhash[PASSWORD_HASH_SIZE]; /* "" = no Pahara password */
	bool peeked_limited;             /* refused by the address's limit before Argon2id */
	unsigned retry_after;            /* out: self-registration throttled */
	bool limited;                    /* out: self-registration throttled */
	bool taken;                      /* out: self-registration of a taken name */
};

static enum pa_err svc_create_tx(struct store_tx *tx, void *arg)
{
	struct svc_create *sc = arg;
	int64_t id = 0;
	int64_t now = app_now(sc->app);
	/* Outputs start over: a store may run a tx fn again. */
	sc->taken = false;
	sc->limited = sc->peeked_limited;
	if (!sc->svc) {
		/* Self-registration: an open door, so it counts against the address, a taken
		 * name too (else its 409 would be a free oracle of which names exist); a refusal
		 * is audited, as at sign-in.  Refused by the peek too, the attempt is made: it is
		 * what rewrites a counter that did not decode (limits.c). */
		struct store_audit au;
		app_audit_init(&au, sc->app, sc->req, "account.register", 0, sc->name);
		unsigned retry = 0;
		enum pa_err e = limits_ip_attempt(tx, sc->app, http_req_ip(sc->req), now, &retry);
		if (e == PA_ERR_RATE_LIMITED) {
			sc->limited = true;
			sc->retry_after = retry;
		} else if (e != PA_OK) {
			return e;
		}
		if (sc->limited) {
			snprintf(au.outcome, sizeof(au.outcome), "rate_limited");
			return store_audit_add(tx, &au);
		}
		struct store_account cur;
		e = store_account_by_name(tx, sc->name, &cur);
		if (e == PA_OK) {
			sc->taken = true;
			snprintf(au.outcome, sizeof(au.outcome), "conflict");
			return store_audit_add(tx, &au);
		}
		if (e != PA_ERR_NOT_FOUND)
			return e;
	}
	enum pa_err e =
	    store_account_create(tx, sc->name, sc->pwhash, sc->svc ? sc->svc->id : 0, now, &id);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, sc->app, sc->req, sc->svc ? "account.create" : "account.register", id,
	               sc->name);
	if (sc->svc)
		snprintf(au.client, sizeof(au.client), "service:%.55s", sc->svc->name);
	return store_audit_add(tx, &au);
}

static bool name_ok(const char *n)
{
	/* Letters, digits and . _ @ + - : names appear in URLs, URIs and logs. */
	if (!*n || strlen(n) > APP_USERNAME_MAX)
		return false;
	for (; *n; n++) {
		char ch = *n;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr("._@+-", ch)))
			return false;
	}
	return true;
}

bool app_username_ok(const char *name)
{
	return name_ok(name);
}

static const struct http_field create_fields[] = {
    {"username", HTTP_FIELD_STRING, true, APP_USERNAME_MAX, 0, 0},
    {"password", HTTP_FIELD_STRING, false, APP_PASSWORD_MAX, 0, 0},
    {NULL, 0, false, 0, 0, 0},
};

/* Answer a self-registration refused by the address's limit. */
static void register_throttled(struct http_req *req, unsigned retry_after)
{
	http_reply_error(req, 429, PA_ERR_RATE_LIMITED, retry_after,
	                 "too many attempts from this address; try again in %u s", retry_after);
}

/* Create an account for svc (NULL: self-registration) from the request body and answer. */
static void account_create(struct http_req *req, const struct store_service *svc)
{
	struct app *a = http_req_app(req);
	struct svc_create sc = {.app = a, .req = req, .svc = svc};
	sc.name = http_body_str(req, "username");
	if (!name_ok(sc.name)) {
		http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
		                 "field 'username' must be 1 to %d of A-Z a-z 0-9 . _ @ + -",
		                 APP_USERNAME_MAX);
		return;
	}
	const char *pw = http_body_str(req, "password");
	if (!pw && !svc) {
		http_reply_error(req, 400, PA_ERR_FIELD_MISSING, 0, "field 'password' is required");
		return;
	}
	/* The fields first: a request bound to fail gets its 400 even from a throttled address. */
	if (pw && password_policy_check(pw, strlen(pw)) != PA_OK) {
		http_reply_error(req, 400, PA_ERR_PASSWORD_POLICY, 0, NULL);
		return;
	}
	if (!svc) {
		/* An address over its limit gets no Argon2id work at all (as at sign-in). */
		struct store_tx *rd = store_reader(a->store);
		sc.peeked_limited = rd && limits_ip_peek(rd, a, http_req_ip(req), app_now(a),
		                                         &sc.retry_after) == PA_ERR_RATE_LIMITED;
	}
	if (pw && !sc.peeked_limited) {
		struct password_params pp = {.opslimit = a->cfg.argon_ops,
		                             .memlimit = (size_t)a->cfg.argon_mem_kib * 1024};
		enum pa_err e = password_hash(&pp, pw, strlen(pw), sc.pwhash);
		if (e != PA_OK) {
			http_reply_error(req, app_status(e), e, 0, NULL);
			return;
		}
	}
	enum pa_err e = store_write(a->store, svc_create_tx, &sc);
	sodium_memzero(sc.pwhash, sizeof(sc.pwhash));
	if (e == PA_OK && sc.limited) {
		register_throttled(req, sc.retry_after);
		return;
	}
	if (e == PA_ERR_CONFLICT || (e == PA_OK && sc.taken)) {
		http_reply_error(req, 409, PA_ERR_CONFLICT, 0, "the username is taken");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 201, json_pack("{s:s}", "username", sc.name));
}

void h_svc_account_create(struct http_req *req)
{
	struct store_service svc;
	if (app_auth_service(req, &svc) && http_check_fields(req, create_fields))
		account_create(req, &svc);
}

void h_register(struct http_req *req)
{
	struct app *a = http_req_app(req);
	if (!a->cfg.self_registration) {
		http_reply_error(req, 403, PA_ERR_FORBIDDEN, 0,
		                 "self-registration is off on this server; ask its operator");
		return;
	}
	if (http_check_fields(req, create_fields))
		account_create(req, NULL);
}

struct svc_disable {
	struct app *app;                  /* the server */
	struct http_req *req;             /* for audit */
	const struct store_service *svc;  /* who */
	const struct store_account *acct; /* which */
};

static enum pa_err svc_disable_tx(struct store_tx *tx, void *arg)
{
	struct svc_disable *sd = arg;
	unsigned n = 0;
	int64_t now = app_now(sd->app);
	enum pa_err e = store_account_set_disabled(tx, sd->acct->id, true);
	if (e == PA_OK)
		e = store_session_revoke_all(tx, sd->acct->id, 0, now, &n);
	if (e == PA_OK)
		e = store_login_end_all(tx, sd->acct->id, STORE_LOGIN_FAILED, NULL);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	app_audit_init(&au, sd->app, sd->req, "account.disable", sd->acct->id, sd->acct->name);
	snprintf(au.client, sizeof(au.client), "service:%.55s", sd->svc->name);
	return store_audit_add(tx, &au);
}

void h_svc_account_disable(struct http_req *req)
{
	struct store_service svc;
	struct store_account acct;
	if (!app_auth_service(req, &svc) ||
	    !service_account(req, &svc, http_req_param(req, "name"), &acct))
		return;
	struct svc_disable sd = {.app = http_req_app(req), .req = req, .svc = &svc, .acct = &acct};
	enum pa_err e = store_write(sd.app->store, svc_disable_tx, &sd);
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "status", "disabled"));
}

/* Whether acct is enabled; else answers 403 and returns false.  (A disable is not refused:
 * it stays idempotent.) */
static bool service_account_enabled(struct http_req *req, const struct store_account *acct)
{
	if (!acct->disabled)
		return true;
	http_reply_error(req, 403, PA_ERR_ACCOUNT_DISABLED, 0, NULL);
	return false;
}

void h_svc_totp_begin(struct http_req *req)
{
	struct store_service svc;
	struct store_account acct;
	struct totp_params p;
	/* The fields before the account (docs/api.md §1), as /v1/check does. */
	if (!app_auth_service(req, &svc) || !factors_totp_params(req, &p) ||
	    !service_account(req, &svc, http_req_param(req, "name"), &acct) ||
	    !service_account_enabled(req, &acct))
		return;
	json_t *out = NULL;
	enum pa_err e = factors_totp_begin(req, acct.id, acct.name, &p, svc.name, &out);
	if (e == PA_ERR_CONFLICT) {
		http_reply_error(req, 409, e, 0, "a code generator is already on for this account");
		return;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return;
	}
	http_reply_json(req, 200, out);
}

void h_svc_totp_confirm(struct http_req *req)
{
	struct store_service svc;
	struct store_account acct;
	if (app_auth_service(req, &svc) && factors_totp_confirm_fields(req) &&
	    service_account(req, &svc, http_req_param(req, "name"), &acct) &&
	    service_account_enabled(req, &acct))
		factors_reply_totp_confirm(req, NULL, &acct,
		                           ((struct app *)http_req_app(req))->cfg.first_party[0],
		                           svc.name);
}

void h_svc_backup_generate(struct http_req *req)
{
	struct store_service svc;
	struct store_account acct;
	if (app_auth_service(req, &svc) && factors_backup_generate_fields(req) &&
	    service_account(req, &svc, http_req_param(req, "name"), &acct) &&
	    service_account_enabled(req, &acct))
		factors_reply_backup_generate(req, NULL, &acct, svc.name);
}
