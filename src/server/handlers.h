/*
 * handlers.h — the HTTP handlers (one file per resource) and the pieces of rule-plumbing they
 * share inside store transactions.  Every function taking a struct store_tx * runs inside a
 * tx fn (see store.h) and returns PA_OK or a store failure; verdicts about codes are returned
 * separately so that the counting of failures is committed too.
 */
#ifndef PAHARA_SERVER_HANDLERS_H
#define PAHARA_SERVER_HANDLERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/otp.h"
#include "server/app.h"
#include "server/http.h"
#include "store/store.h"

/* ---- factors.c: checking and consuming a second factor ---- */

/* The sealing purpose of TOTP secrets (core/seal.h binds it with the account id). */
#define FACTORS_TOTP_PURPOSE "totp-secret"

struct factor_check {
	struct app *app;     /* the server */
	int64_t account;     /* whose factor */
	const char *method;  /* "totp" or "backup" */
	const char *code;    /* as typed */
	const char *client;  /* the sign-in's client (backup codes: first party only) */
	int64_t now;         /* unix seconds */
	enum pa_err verdict; /* out: PA_OK, PA_ERR_INVALID_CODE, PA_ERR_REPLAYED_CODE,
	                      * PA_ERR_INACTIVE_BACKUP_CODE, PA_ERR_METHOD_UNAVAILABLE,
	                      * PA_ERR_THIRD_PARTY_BACKUP */
};

/* A TOTP code checked outside the writer (factors_totp_check; or factors_totp_check_read,
 * with the generator already read) and consumed in the writer's tx (factors_totp_consume): the
 * hot path of /v1/check keeps the unsealing and the HMACs off the writer. */
struct totp_pre {
	struct store_totp t; /* the generator as read; consumed only if unchanged */
	int64_t step;        /* the matching step */
	int drift;           /* its distance from now, in steps */
};
enum pa_err factors_totp_check(struct store_tx *tx, struct factor_check *fc, bool want_pending,
                               struct totp_pre *pre) PA_MUST_CHECK;
/* As factors_totp_check, with the generator already read: t, or NULL for none. */
enum pa_err factors_totp_check_read(const struct store_totp *t, struct factor_check *fc,
                                    bool want_pending, struct totp_pre *pre) PA_MUST_CHECK;
/* Consume pre's step when fc->verdict is PA_OK; a replay (or a changed generator) turns the
 * verdict into PA_ERR_REPLAYED_CODE. */
enum pa_err factors_totp_consume(struct store_tx *tx, struct factor_check *fc,
                                 const struct totp_pre *pre) PA_MUST_CHECK;

/* Whether method names a second-step method this server has. */
bool factors_method_known(const char *method);
/* Check fc->code by fc->method and consume it on success (durably, with the tx). */
enum pa_err factors_verify(struct store_tx *tx, struct factor_check *fc) PA_MUST_CHECK;
/* How many backup codes of account are active. */
enum pa_err factors_backup_active(struct store_tx *tx, int64_t account, unsigned *n) PA_MUST_CHECK;
/* Consume a temporary password typed in the password field.  PA_ERR_PASSWORD_MISMATCH (or a
 * more precise value for the audit log) when it is not an outstanding one. */
enum pa_err factors_tmppass_consume(struct store_tx *tx, struct app *a, int64_t account,
                                    const char *password, size_t len, int64_t now) PA_MUST_CHECK;
/* Generate n backup codes (written to codes, shown once). */
enum pa_err factors_backup_generate(struct store_tx *tx, struct app *a, int64_t account, unsigned n,
                                    int64_t now, struct backup_new_code codes[]) PA_MUST_CHECK;
/* What an enrolment may choose for a new code generator (DESIGN §3); the period is 30 s. */
struct totp_params {
	enum otp_alg alg; /* OTP_SHA1 (default), OTP_SHA256 or OTP_SHA512 */
	unsigned digits;  /* 6 (default) or 8 */
};
/* clang-format off */
#define TOTP_PARAMS_INIT {.alg = OTP_SHA1, .digits = OTP_DIGITS_DEFAULT}
/* clang-format on */
/* Read the optional body {algorithm, digits} of an enrolment into p: the defaults when there
 * is no body or a field is absent.  A bad body is answered with 400 (invalid_json,
 * unknown_field, invalid_field) and false is returned: the handler just returns. */
bool factors_totp_params(struct http_req *req, struct totp_params *p) PA_MUST_CHECK;
/* Turn the code generator of account (named name) on for req: seal a new secret and store it
 * pending (unconfirmed), made as p says, audited as factor.totp.begin; *out gets {secret,
 * uri, qr_svg, algorithm, digits, period}.  service names the relying site that asks (the
 * audit's client service:NAME; NULL: the account's own session): PA_ERR_ACCOUNT_DISABLED
 * when the account is disabled by then. */
enum pa_err factors_totp_begin(struct http_req *req, int64_t account, const char *name,
                               const struct totp_params *p, const char *service,
                               json_t **out) PA_MUST_CHECK;
/* Remove every second factor of account (code generator, backup codes, temporary
 * passwords) and turn two-factor off (recovery, turn-off). */
enum pa_err factors_reset(struct store_tx *tx, int64_t account) PA_MUST_CHECK;

/* Whether the body is a good {code} for factors_reply_totp_confirm; else answers 400 and
 * returns false.  The handler checks it before it looks at the account (docs/api.md §1). */
bool factors_totp_confirm_fields(struct http_req *req) PA_MUST_CHECK;
/* Confirm the pending code generator of acct with the body's {code} (checked) and answer the
 * request (with the first backup code on success).  sess is the caller's session, or NULL when the
 * service named service asks (audited as client service:NAME); without a session, a disabled
 * account is refused with 403 account_disabled. */
void factors_reply_totp_confirm(struct http_req *req, const struct store_session *sess,
                                const struct store_account *acct, const char *client,
                                const char *service);
/* Whether the body is a good {count} for factors_reply_backup_generate; else answers 400 and
 * returns false (as factors_totp_confirm_fields). */
bool factors_backup_generate_fields(struct http_req *req) PA_MUST_CHECK;
/* Generate the body's {count} (checked) backup codes for acct and answer the request (403
 * account_disabled for a disabled account); sess and service as for confirming. */
void factors_reply_backup_generate(struct http_req *req, const struct store_session *sess,
                                   const struct store_account *acct, const char *service);

/* ---- sessions.c ---- */

/* Make a session for account; its token (secret) goes to token (TOKEN_SIZE_MAX bytes). */
enum pa_err session_create(struct store_tx *tx, struct app *a, int64_t account, const char *client,
                           const char *ip, int64_t now, int64_t auth_at, char *token,
                           int64_t *id) PA_MUST_CHECK;

/* ---- housekeep.c ---- */

#define HOUSEKEEP_INTERVAL 600 /* seconds between runs in `pahara serve` */
/* Remove rows that no longer matter (see housekeep.c); *n gets how many. */
enum pa_err app_housekeep(struct app *a, unsigned *n) PA_MUST_CHECK;

/* ---- limits.c: throttling, with core/ratelimit.h rules and store counters ----
 *
 * The counters are stored in ratelimit's portable encoding.  One that does not decode is never
 * taken for a fresh one: an account's is read as locked from now for code_lockout_duration,
 * an address's as a full window from now; that reading replaces the bad blob in the store (so
 * the refusal ends after one lockout or window) and is logged on stderr, and for an account
 * audited as account.lockout.  So every function here but limits_ip_peek may write: call
 * them in a write tx. */

/* Count a password attempt from ip; PA_ERR_RATE_LIMITED (and *retry) when over the limit. */
enum pa_err limits_ip_attempt(struct store_tx *tx, struct app *a, const char *ip, int64_t now,
                              unsigned *retry) PA_MUST_CHECK;
/* Whether ip is over its limit, without counting (before spending Argon2id on it). */
enum pa_err limits_ip_peek(struct store_tx *tx, struct app *a, const char *ip, int64_t now,
                           unsigned *retry) PA_MUST_CHECK;
/* Forget the account's failures and lockout (support recovery). */
enum pa_err limits_account_reset(struct store_tx *tx, int64_t account) PA_MUST_CHECK;
/* PA_ERR_RATE_LIMITED (and *retry) while the account backs off or is locked.  *clean (when
 * not NULL) tells whether there are no failures to forget, so a success need not write. */
/* The store_limit_put key of an account's throttling counter. */
void limits_account_key(int64_t account, char key[STORE_LIMIT_KEY_MAX]);
enum pa_err limits_account_check(struct store_tx *tx, struct app *a, int64_t account, int64_t now,
                                 unsigned *retry, bool *clean) PA_MUST_CHECK;
/* Count a wrong second-step code for account (backoff, lockout). */
enum pa_err limits_account_fail(struct store_tx *tx, struct app *a, int64_t account,
                                int64_t now) PA_MUST_CHECK;
/* A right code: the backoff starts over (the lockout window keeps its count). */
enum pa_err limits_account_success(struct store_tx *tx, struct app *a,
                                   int64_t account) PA_MUST_CHECK;

/* Whether name is a valid account name (1..APP_USERNAME_MAX of A-Z a-z 0-9 . _ @ + -). */
bool app_username_ok(const char *name);

/* ---- the handlers ---- */

json_t *login_methods_json(bool has_totp, unsigned backup_active);

void h_login(struct http_req *req);
void h_login_verify(struct http_req *req);
void h_login_status(struct http_req *req);
void h_totp_begin(struct http_req *req);
void h_totp_confirm(struct http_req *req);
void h_factors_list(struct http_req *req);
void h_backup_generate(struct http_req *req);
void h_backup_list(struct http_req *req);
void h_tmppass_create(struct http_req *req);
void h_tmppass_list(struct http_req *req);
void h_tmppass_revoke(struct http_req *req);
void h_sessions_list(struct http_req *req);
void h_session_revoke(struct http_req *req);
void h_sessions_revoke_others(struct http_req *req);
void h_reauth(struct http_req *req);
void h_password_change(struct http_req *req);
void h_twofactor_off(struct http_req *req);
void h_check(struct http_req *req);
void h_register(struct http_req *req);
void h_svc_account_create(struct http_req *req);
void h_svc_account_disable(struct http_req *req);
void h_svc_totp_begin(struct http_req *req);
void h_svc_totp_confirm(struct http_req *req);
void h_svc_backup_generate(struct http_req *req);
void h_health(struct http_req *req);
void h_test_clock(struct http_req *req);
void h_test_housekeep(struct http_req *req);
void h_test_pause(struct http_req *req);
void h_test_counters(struct http_req *req);

#endif
