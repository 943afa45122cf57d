/*
 * routes.c — the API's route table and the two small handlers that belong to no resource.
 * Where a handler runs (http.h): INLINE never blocks, POOL may wait for a commit, SLOW hashes
 * passwords.
 */
#include <stdlib.h>

#include "core/password.h"
#include "server/handlers.h"

void h_health(struct http_req *req)
{
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* POST /v1/test/clock {advance}: moves the server's clock.  Compiled only into test builds,
 * and answered only when the test clock was switched on at start-up. */
void h_test_clock(struct http_req *req)
{
#ifdef PAHARA_TESTING
	struct app *a = http_req_app(req);
	static const struct http_field f[] = {
	    {"advance", HTTP_FIELD_INT, true, 0, -1000000000LL, 1000000000LL},
	    {NULL, 0, false, 0, 0, 0},
	};
	if (!a->cfg.test_clock) {
		http_reply_error(req, 404, PA_ERR_ROUTE, 0, "no endpoint POST /v1/test/clock");
		return;
	}
	if (!http_check_fields(req, f))
		return;
	a->clock_offset += http_body_int(req, "advance", 0);
	http_reply_json(req, 200, json_pack("{s:I}", "now", (json_int_t)app_now(a)));
#else
	http_reply_error(req, 404, PA_ERR_ROUTE, 0, "no endpoint POST /v1/test/clock");
#endif
}

/* POST /v1/test/housekeep: run the housekeeping now.  Test builds only, like the clock. */
void h_test_housekeep(struct http_req *req)
{
#ifdef PAHARA_TESTING
	struct app *a = http_req_app(req);
	if (a->cfg.test_clock) {
		unsigned n = 0;
		enum pa_err e = app_housekeep(a, &n);
		if (e == PA_OK)
			http_reply_json(req, 200, json_pack("{s:I}", "purged", (json_int_t)n));
		else
			app_fail(req, e);
		return;
	}
#endif
	http_reply_error(req, 404, PA_ERR_ROUTE, 0, "no endpoint POST /v1/test/housekeep");
}

/* POST /v1/test/pause {ms}: the next request that calls app_test_pause waits ms between its
 * reads and its write (0: none), so that a test can change the account in between.  Test
 * builds only, like the clock. */
void h_test_pause(struct http_req *req)
{
#ifdef PAHARA_TESTING
	struct app *a = http_req_app(req);
	static const struct http_field f[] = {
	    {"ms", HTTP_FIELD_INT, true, 0, 0, 10000},
	    {NULL, 0, false, 0, 0, 0},
	};
	if (a->cfg.test_clock) {
		if (!http_check_fields(req, f))
			return;
		a->test_pause_ms = (unsigned)http_body_int(req, "ms", 0);
		http_reply_json(req, 200, json_pack("{s:i}", "ms", (int)a->test_pause_ms));
		return;
	}
#endif
	http_reply_error(req, 404, PA_ERR_ROUTE, 0, "no endpoint POST /v1/test/pause");
}

/* GET /v1/test/counters: {"argon2id": N, "paused": M, "submitted": S}, the Argon2id runs of
 * this process so far, so that a test can tell that a refusal cost none; the requests that have
 * begun a POST /v1/test/pause wait, so that a test knows one is held; and the writes queued for
 * the store (store_test_submitted), so that a test knows a request's write is queued.  Test
 * builds only, like the clock. */
void h_test_counters(struct http_req *req)
{
#ifdef PAHARA_TESTING
	struct app *a = http_req_app(req);
	if (a->cfg.test_clock) {
		http_reply_json(req, 200,
		                json_pack("{s:I, s:I, s:I}", "argon2id",
		                          (json_int_t)password_argon2id_runs(), "paused",
		                          (json_int_t)a->test_paused, "submitted",
		                          (json_int_t)store_test_submitted()));
		return;
	}
#endif
	http_reply_error(req, 404, PA_ERR_ROUTE, 0, "no endpoint GET /v1/test/counters");
}

const struct http_route app_routes[] = {
    {"GET", "/v1/health", h_health, HTTP_RUN_INLINE, false},
    {"POST", "/v1/accounts", h_register, HTTP_RUN_SLOW, true},
    {"POST", "/v1/login", h_login, HTTP_RUN_SLOW, true},
    {"POST", "/v1/login/{id}/verify", h_login_verify, HTTP_RUN_POOL, true},
    {"GET", "/v1/login/{id}", h_login_status, HTTP_RUN_INLINE, false},
    {"GET", "/v1/factors", h_factors_list, HTTP_RUN_INLINE, false},
    {"POST", "/v1/factors/totp", h_totp_begin, HTTP_RUN_POOL, false, true},
    {"POST", "/v1/factors/totp/confirm", h_totp_confirm, HTTP_RUN_POOL, true},
    {"POST", "/v1/twofactor/off", h_twofactor_off, HTTP_RUN_SLOW, true},
    {"GET", "/v1/backup-codes", h_backup_list, HTTP_RUN_INLINE, false},
    {"POST", "/v1/backup-codes", h_backup_generate, HTTP_RUN_POOL, true},
    {"GET", "/v1/temporary-passwords", h_tmppass_list, HTTP_RUN_INLINE, false},
    {"POST", "/v1/temporary-passwords", h_tmppass_create, HTTP_RUN_POOL, false},
    {"DELETE", "/v1/temporary-passwords/{id}", h_tmppass_revoke, HTTP_RUN_POOL, false},
    {"GET", "/v1/sessions", h_sessions_list, HTTP_RUN_INLINE, false},
    {"DELETE", "/v1/sessions/{id}", h_session_revoke, HTTP_RUN_POOL, false},
    {"POST", "/v1/sessions/revoke-others", h_sessions_revoke_others, HTTP_RUN_POOL, false},
    {"POST", "/v1/reauth", h_reauth, HTTP_RUN_SLOW, true},
    {"POST", "/v1/password", h_password_change, HTTP_RUN_SLOW, true},
    {"POST", "/v1/check", h_check, HTTP_RUN_INLINE, true},
    {"POST", "/v1/service/accounts", h_svc_account_create, HTTP_RUN_SLOW, true},
    {"POST", "/v1/service/accounts/{name}/disable", h_svc_account_disable, HTTP_RUN_POOL, false},
    {"POST", "/v1/service/accounts/{name}/totp", h_svc_totp_begin, HTTP_RUN_POOL, false, true},
    {"POST", "/v1/service/accounts/{name}/totp/confirm", h_svc_totp_confirm, HTTP_RUN_POOL, true},
    {"POST", "/v1/service/accounts/{name}/backup-codes", h_svc_backup_generate, HTTP_RUN_POOL,
     true},
    {"POST", "/v1/test/clock", h_test_clock, HTTP_RUN_INLINE, true},
    {"POST", "/v1/test/housekeep", h_test_housekeep, HTTP_RUN_POOL, false},
    {"POST", "/v1/test/pause", h_test_pause, HTTP_RUN_INLINE, true},
    {"GET", "/v1/test/counters", h_test_counters, HTTP_RUN_INLINE, false},
    {NULL, NULL, NULL, 0, false},
};
