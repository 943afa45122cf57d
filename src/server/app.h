/*
 * app.h — the Pahara server application: configuration, keys, clock, and what every handler
 * shares (authentication of the caller, the audit log, error mapping).
 *
 * Data flows one way: HTTP request -> handler (parse, validate) -> core rule (decide) -> store
 * (one transaction) -> response.  Handlers live one file per resource (login.c, factors.c,
 * check.c, sessions.c); this module holds the glue they share.  Configuration is loaded at
 * start-up and read-only after; the only mutable state is in the store (and the test clock's
 * offset, which exists only in test builds).
 */
#ifndef PAHARA_SERVER_APP_H
#define PAHARA_SERVER_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/ratelimit.h"
#include "core/secretcode.h"
#include "core/seal.h"
#include "core/token.h"
#include "server/http.h"
#include "store/store.h"

#define APP_CLIENTS_MAX 16     /* first-party client names */
#define APP_PROXIES_MAX 16     /* trusted_proxies entries */
#define APP_LOGIN_TTL 600      /* default signin_lifetime (DESIGN §4: 10 min) */
#define APP_REAUTH_SECONDS 600 /* default reauth_window (DESIGN §3: 10 min) */
#define APP_USERNAME_MAX 64    /* bytes */
#define APP_PASSWORD_MAX 1024  /* bytes */

struct app_config {
	char listen[128];           /* HOST:PORT */
	char data_dir[512];         /* SQLite file and key file */
	char store[512];            /* "" = SQLite in data_dir, or postgresql://... */
	char issuer[64];            /* shown in authenticator apps */
	unsigned threads;           /* HTTP threads, 0 = CPUs */
	unsigned store_connections; /* PostgreSQL: connections per node, 0 = 8 */
	unsigned store_writers;     /* PostgreSQL: writer connections, 0 = 2 */
	bool self_registration;     /* POST /v1/accounts without a service key */
	unsigned nproxies;          /* entries in trusted_proxies */
	char trusted_proxies[APP_PROXIES_MAX][46]; /* addresses whose X-Forwarded-For is believed */
	unsigned nclients;                         /* entries in first_party */
	char first_party[APP_CLIENTS_MAX]
	                [STORE_CLIENT_MAX + 1]; /* clients that may use backup codes */
	bool test_clock;                        /* POST /v1/test/clock; test builds only */
	bool import_keys;                       /* admin import: the store is not written at
	                                         * open (app_keys_adopt) */
	unsigned argon_ops;                     /* Argon2id passes (t) */
	unsigned argon_mem_kib;                 /* Argon2id memory (m) */
	unsigned ip_attempts;                   /* password attempts per address per window */
	unsigned ip_window;                     /* seconds */
	struct ratelimit_config code_limits;    /* wrong second-step codes: per sign-in, and the
	                                         * account's backoff and lockout (DESIGN §3) */
	unsigned signin_lifetime;               /* seconds a pending sign-in lives */
	unsigned tmppass_lifetime;              /* seconds a temporary password lives */
	unsigned reauth_window;                 /* seconds after the password was entered that
	                                         * sensitive changes are allowed */
};

struct app {
	struct app_config cfg;                  /* read-only after start */
	struct store *store;                    /* everything persisted */
	struct seal_keyring *keys;              /* sealing keys (master key file) */
	uint8_t code_key[SECRETCODE_KEY_BYTES]; /* HMAC key for backup codes, temp passwords */
	char dummy_hash[STORE_PWHASH_MAX + 1];  /* verified for unknown users (equal cost) */
	_Atomic int64_t clock_offset;           /* test clock: seconds added to now */
	_Atomic unsigned test_pause_ms;         /* test builds: POST /v1/test/pause */
	_Atomic unsigned test_paused;           /* test builds: pauses begun so far */
};

/* ---- configuration ---- */

/* Defaults: 127.0.0.1:8080, ./pahara-data, first-party clients "web" and "app", and the
 * DESIGN §3 numbers. */
void app_config_defaults(struct app_config *c);
/* Read a config file of "key = value" lines ('#' comments) over c.  Every number is checked
 * against its bounds (docs/operations.md §4), and the settings that depend on each other
 * against each other once the whole file is read.  On error why (why_size bytes) gets
 * "FILE:LINE: problem" (or "FILE: problem" for two settings that do not fit together). */
enum pa_err app_config_load(struct app_config *c, const char *path, char *why,
                            size_t why_size) PA_MUST_CHECK;

/* ---- life cycle ---- */

/* Install the throttling rules of a->cfg (limits_configure), open the store and the key files
 * (created 0600 on first run), and check the key files against the check values the store
 * recorded, recording those it lacks (docs/operations.md §3, "The key files"): a node whose
 * keys differ from those the store's data was made with, or that lacks a sealing key the store
 * uses, fails with PA_ERR_KEY_FILE and changes nothing.  *why names a failure. */
enum pa_err app_open(struct app *a, char *why, size_t why_size) PA_MUST_CHECK;
/* For `pahara admin import` (cfg.import_keys, whose app_open writes nothing to a store without
 * accounts): in tx, the import's transaction over a store it found empty, make a's keys the
 * ones the store records, replacing those recorded before. */
enum pa_err app_keys_adopt(struct app *a, struct store_tx *tx) PA_MUST_CHECK;
void app_close(struct app *a);

/* ---- what handlers share ---- */

/* Now, in unix seconds (plus the test clock's offset in test builds). */
int64_t app_now(struct app *a);
#ifdef PAHARA_TESTING
/* Wait test_pause_ms (set by POST /v1/test/pause), once: the first request to get here after
 * it was set waits between its reads and its write, which widens a race for a test to win.
 * Called by the sign-in's password step, the password-guarded settings (after Argon2id), and
 * making temporary passwords and backup codes. */
void app_test_pause(struct app *a);
#endif
/* Whether client is a first-party client (may use backup codes). */
bool app_first_party(const struct app *a, const char *client);
/* The HTTP status for a pa_err a handler failed with. */
unsigned app_status(enum pa_err e);
/* Reply with the error e and its status (message: pa_err_message). */
void app_fail(struct http_req *req, enum pa_err e);

/* Fill an audit record's common fields from the request (ip, client from User-Agent).  The
 * client and account_name are stored as UTF-8 with '?' for each byte that is not part of a
 * character and for each control character, cut between two characters to fit. */
void app_audit_init(struct store_audit *au, struct app *a, struct http_req *req, const char *event,
                    int64_t account, const char *account_name);
/* Set an audit record's client to the name a sign-in gave (its `client` field): the client's
 * text too, so stored as the User-Agent is. */
void app_audit_client(struct store_audit *au, const char *client);
/* Set an audit record's outcome to a second factor's verdict: its error code, except that a
 * TOTP code already used is "replayed_code" (the caller is told "invalid_code", as for a wrong
 * code; the operator is told a right code came again, perhaps a phished one). */
void app_audit_verdict(struct store_audit *au, enum pa_err verdict);

/* A revoked session stays in the store this long after its revocation (housekeeping). */
#define APP_KEEP_REVOKED_SESSIONS (30 * 86400)

/* The caller's session (Authorization: Bearer TOKEN).  On failure answers 401 and returns
 * false.  The first use of a revoked session's token is audited (session.revoked_use). */
bool app_auth_session(struct http_req *req, struct store_session *out,
                      struct store_account *acct) PA_MUST_CHECK;
/* Inside the write that acts for session s (as app_auth_session read it): is it still live, and
 * its account enabled?  A password change, a revocation or a disable may have committed since
 * the read.  PA_OK, else PA_ERR_UNAUTHENTICATED (or the store's error); s NULL: PA_OK (a
 * service acts, not a session). */
enum pa_err app_session_live(struct store_tx *tx, const struct store_session *s) PA_MUST_CHECK;
/* The caller's service (Authorization: Bearer SERVICE_KEY).  On failure answers 401. */
bool app_auth_service(struct http_req *req, struct store_service *out) PA_MUST_CHECK;
/* app_auth_service in two halves, for a caller that reads the service with other things: the
 * key the request presents, hashed into h (else 401); then e, the outcome of looking the
 * service up by h, and what it found (else 401 or 503). */
bool app_service_key(struct http_req *req, uint8_t h[TOKEN_HASH_BYTES]) PA_MUST_CHECK;
bool app_service_found(struct http_req *req, enum pa_err e,
                       const struct store_service *svc) PA_MUST_CHECK;

/* The route table (routes.c). */
extern const struct http_route app_routes[];

#endif
