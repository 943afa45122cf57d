/*
 * store.h — one interface for everything Pahara persists.
 *
 * Callers see records and two kinds of context:
 *
 *   reads     store_reader(s) gives the calling thread's read context (its own connection
 *             while it reads; every statement sees committed data).  Nothing to release.
 *   writes    a store_tx_fn runs inside a write transaction: store_submit() runs it
 *             asynchronously and calls done once the transaction is durable (or failed);
 *             store_write() does the same and waits.  A tx fn may read and write through its
 *             tx, must be quick (no password hashing), and returns PA_OK to keep its changes
 *             or an error to undo them — its changes alone; the other fns of a batch commit.
 *
 * The SQLite store (sqlite.c) runs every tx fn on one writer thread and commits them in
 * batches (group commit): with synchronous=FULL a flush covers a whole batch, not each
 * request, and done fires only after the flush.  A one-time code is consumed by a conditional
 * write inside a tx fn (store_totp_consume etc.), so it is used once however many requests race.
 * The PostgreSQL store (postgres.c) does the same on each node, and the conditional writes
 * hold across nodes too; throttling counters read in a tx fn (store_limit_get) stay locked
 * for it until its transaction ends, so nodes never lose each other's counts.
 *
 * A tx fn may run more than once before done is called, and only the last run counts: the
 * SQLite store runs a batch again when one of its fns failed (sqlite.c), the PostgreSQL store
 * when it died of a deadlock or a serialization failure, or when its connection broke before
 * COMMIT.  So a tx fn must have no effect outside its tx but on its own outputs, must set
 * every output on each run (not rely on what an earlier run left in *arg), and must not take
 * an output of an earlier run for an input.
 *
 * Every function returns PA_OK, PA_ERR_NOT_FOUND where it looks something up, PA_ERR_CONFLICT
 * where a uniqueness or condition fails, and PA_ERR_STORE when the database fails.
 * Text is UTF-8: a byte of a text argument that is not part of a UTF-8 character (a
 * User-Agent header can hold anything) is taken as '?', by every store alike.
 * The store decides no policy: what a value means is the caller's business (core/ rules).
 */
#ifndef PAHARA_STORE_STORE_H
#define PAHARA_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define STORE_NAME_MAX 64    /* account and service names, bytes */
#define STORE_PWHASH_MAX 128 /* an encoded Argon2id hash */
#define STORE_SEALED_MAX 256 /* a sealed secret */
#define STORE_HASH_LEN 32    /* keyed hashes and token hashes */
#define STORE_CLIENT_MAX 64  /* client names */
#define STORE_IP_MAX 46      /* addresses as text */
#define STORE_DETAIL_MAX 256 /* free text in the audit log */
#define STORE_BACKUP_MAX 32  /* backup-code rows kept per account (active and history) */
#define STORE_TMPPASS_MAX 16 /* temporary-password rows kept per account */

struct store;
struct store_tx;
struct store_audit;

/* ---- life cycle ---- */

#define STORE_POOL_DEFAULT 8    /* store_options.pool_size when 0 */
#define STORE_WRITERS_DEFAULT 2 /* store_options.writers when 0 */
#define STORE_WRITERS_MAX 8     /* store_options.writers at most */

struct store_options {
	const char *location; /* a directory (SQLite file pahara.db inside) or postgresql://... */
	unsigned batch_max;   /* most tx fns in one commit; 0 = 256 (PostgreSQL: 64 at most) */
	unsigned pool_size;   /* PostgreSQL: the most connections a node holds (the writers',
	                       * the rest shared by the threads that read); 0 = 8 */
	unsigned writers;     /* PostgreSQL: writer connections, each running its own batches
	                       * (at most 8, and fewer than pool_size); 0 = 2 */
};

/* Open (and create, and migrate to the newest schema) the store.  *why names a failure. */
enum pa_err store_open(const struct store_options *opt, struct store **out,
                       const char **why) PA_MUST_CHECK;
/* Finish every submitted tx fn, then close. */
void store_close(struct store *s);
/* The schema version the store is at. */
int store_schema_version(struct store *s);

/* ---- transactions ---- */

typedef enum pa_err (*store_tx_fn)(struct store_tx *tx, void *arg);
typedef void (*store_done_fn)(void *arg, enum pa_err result);

/* The calling thread's read context. */
struct store_tx *store_reader(struct store *s);
/* Group the reads that follow on rd into one snapshot until store_read_end (cheaper than a
 * snapshot per read, and consistent).  Never hold one across a wait. */
enum pa_err store_read_begin(struct store_tx *rd) PA_MUST_CHECK;
void store_read_end(struct store_tx *rd);
/* Run fn in a write transaction; done(arg, result) runs on the writer thread after the
 * commit is durable, with fn's result (or PA_ERR_STORE if the commit failed). */
void store_submit(struct store *s, store_tx_fn fn, void *arg, store_done_fn done);
#ifdef PAHARA_TESTING
/* Test builds: how many store_submit, store_submit_check and (where the store's writes go
 * through its submit, as SQLite's do) store_write calls of this process have queued their
 * work so far, counted once it is queued: a test waits for this to know that a request's
 * write is in the queue, behind the ones before it (GET /v1/test/counters). */
unsigned long store_test_submitted(void);
#endif
/* Run fn in a write transaction and wait until it is durable.  Returns fn's result. */
enum pa_err store_write(struct store *s, store_tx_fn fn, void *arg) PA_MUST_CHECK;

/* ---- accounts ---- */

struct store_account {
	int64_t id;                        /* stable, never reused */
	char name[STORE_NAME_MAX + 1];     /* unique */
	char pwhash[STORE_PWHASH_MAX + 1]; /* Argon2id string; "" = no Pahara password */
	bool disabled;                     /* refused at sign-in */
	bool twofactor;                    /* second step required */
	int64_t created_at;                /* unix seconds */
	int64_t service_id;                /* the relying site that made it, 0 = none */
};

enum pa_err store_account_create(struct store_tx *tx, const char *name, const char *pwhash,
                                 int64_t service_id, int64_t now, int64_t *id) PA_MUST_CHECK;
enum pa_err store_account_by_name(struct store_tx *tx, const char *name,
                                  struct store_account *out) PA_MUST_CHECK;
enum pa_err store_account_by_id(struct store_tx *tx, int64_t id,
                                struct store_account *out) PA_MUST_CHECK;
/* The account as it is now, held until this write transaction ends: a transaction that
 * decides on the account's state (password, two-factor, disabled, sessions, factors) and then
 * writes calls this first, and so does one that changes that state.  Where writers run side
 * by side (PostgreSQL: a row lock), each then waits for the other and reads what it wrote;
 * SQLite has one writer, and this is store_account_by_id.  PA_ERR_NOT_FOUND if there is no
 * such account. */
enum pa_err store_account_lock(struct store_tx *tx, int64_t id,
                               struct store_account *out) PA_MUST_CHECK;
enum pa_err store_account_set_password(struct store_tx *tx, int64_t id,
                                       const char *pwhash) PA_MUST_CHECK;
enum pa_err store_account_set_disabled(struct store_tx *tx, int64_t id,
                                       bool disabled) PA_MUST_CHECK;
enum pa_err store_account_set_twofactor(struct store_tx *tx, int64_t id, bool on) PA_MUST_CHECK;
/* Calls fn for each account in name order; stops early when fn returns false. */
enum pa_err store_account_list(struct store_tx *tx,
                               bool (*fn)(void *arg, const struct store_account *a),
                               void *arg) PA_MUST_CHECK;

/* ---- code generator (TOTP) ---- */

struct store_totp {
	uint8_t sealed[STORE_SEALED_MAX]; /* the secret, sealed (core/seal.h) */
	size_t sealed_len;                /* bytes in sealed */
	int alg;                          /* enum otp_alg */
	unsigned digits;                  /* 6..8 */
	unsigned period;                  /* seconds */
	bool confirmed;                   /* enrolment confirmed by a first valid code */
	bool has_last;                    /* a step has been accepted */
	int64_t last_step;                /* the last accepted time step */
	int drift;                        /* steps between the server and the device, last seen */
	int64_t created_at;               /* unix seconds */
};

enum pa_err store_totp_get(struct store_tx *tx, int64_t account,
                           struct store_totp *out) PA_MUST_CHECK;
/* Replace the account's code generator (pending until confirmed). */
enum pa_err store_totp_put(struct store_tx *tx, int64_t account,
                           const struct store_totp *t) PA_MUST_CHECK;
/* RFC 6238 §5.2: accept a step once.  Records step (and drift) and marks the generator
 * confirmed only if it is still the generator t was read as (the same sealed secret: the
 * code may have been checked outside this tx) and no step at or after this one was accepted
 * before; else PA_ERR_CONFLICT. */
enum pa_err store_totp_consume(struct store_tx *tx, int64_t account, const struct store_totp *t,
                               int64_t step, int drift) PA_MUST_CHECK;
/* As store_totp_consume, and only while no throttling counter is stored under limit_key
 * (store_limit_put) and the account is not disabled: PA_ERR_CONFLICT when there is one or it
 * is, or when store_totp_consume would refuse.  A verification of an enabled account with no
 * counter (it never failed, or its counter was purged) so consumes its step without reading
 * the counter or the account first, and one whose account was disabled after the caller read
 * it goes the long way, which tells why.  When it consumes, it also adds au (unless NULL) to
 * the audit log; when it does not, it changes nothing.
 *
 * In a tx fn run by store_submit_check it may answer PA_OK before the store knows (PostgreSQL
 * keeps it, and makes it with the batch's others in one statement): then it must be the fn's last
 * call on tx, and the fn must return PA_OK.  If the step turns out not to be consumed, the
 * store runs that fn's prepare and fn again in the same transaction, where this call then
 * answers for itself.  (A call on tx after it fails, and the batch runs again carefully.) */
enum pa_err store_totp_consume_unthrottled(struct store_tx *tx, int64_t account,
                                           const struct store_totp *t, int64_t step, int drift,
                                           const char *limit_key,
                                           const struct store_audit *au) PA_MUST_CHECK;
enum pa_err store_totp_delete(struct store_tx *tx, int64_t account) PA_MUST_CHECK;

/* ---- backup codes ---- */

enum store_backup_status {
	STORE_BACKUP_ACTIVE = 0,
	STORE_BACKUP_USED = 1,
	STORE_BACKUP_RETIRED = 2,
};

struct store_backup {
	uint32_t generation;             /* per account, strictly increasing */
	uint8_t hash[STORE_HASH_LEN];    /* keyed hash of the code */
	enum store_backup_status status; /* see enum */
	int64_t created_at;              /* unix seconds */
};

/* The newest max rows of the account (all of them when there are fewer), oldest generation
 * first; *n gets the count. */
enum pa_err store_backup_list(struct store_tx *tx, int64_t account, struct store_backup *out,
                              size_t max, size_t *n) PA_MUST_CHECK;
/* The account's row whose hash is hash; PA_ERR_NOT_FOUND if there is none. */
enum pa_err store_backup_find(struct store_tx *tx, int64_t account,
                              const uint8_t hash[STORE_HASH_LEN],
                              struct store_backup *out) PA_MUST_CHECK;
/* Insert a new row (generation must be new for the account). */
enum pa_err store_backup_add(struct store_tx *tx, int64_t account,
                             const struct store_backup *b) PA_MUST_CHECK;
/* Set the status of one row if it is active; PA_ERR_CONFLICT if it was not. */
enum pa_err store_backup_set_status(struct store_tx *tx, int64_t account, uint32_t generation,
                                    enum store_backup_status status) PA_MUST_CHECK;
/* Remove the non-active rows with generation below keep_from (history trimming). */
enum pa_err store_backup_trim(struct store_tx *tx, int64_t account,
                              uint32_t keep_from) PA_MUST_CHECK;
enum pa_err store_backup_delete_all(struct store_tx *tx, int64_t account) PA_MUST_CHECK;

/* ---- temporary passwords ---- */

struct store_tmppass {
	int64_t id;                     /* per account, increasing (core/secretcode.h) */
	uint8_t hash[STORE_HASH_LEN];   /* keyed hash */
	int64_t created_at, expires_at; /* unix seconds */
	int64_t used_at;                /* 0 = not used */
};

/* Up to max rows of the account: every row unused and unexpired at now (expires_at > now) first,
 * then the newest of the others; returned lowest id first.  *n gets the count.  So a caller that
 * keeps max rows keeps every password still usable and the latest id. */
enum pa_err store_tmppass_list(struct store_tx *tx, int64_t account, int64_t now,
                               struct store_tmppass *out, size_t max, size_t *n) PA_MUST_CHECK;
/* Insert a new row (t->id must be new for the account). */
enum pa_err store_tmppass_add(struct store_tx *tx, int64_t account,
                              const struct store_tmppass *t) PA_MUST_CHECK;
/* Mark used if unused; PA_ERR_CONFLICT if it was used already. */
enum pa_err store_tmppass_consume(struct store_tx *tx, int64_t account, int64_t id,
                                  int64_t now) PA_MUST_CHECK;
enum pa_err store_tmppass_delete(struct store_tx *tx, int64_t account, int64_t id) PA_MUST_CHECK;
/* Remove every row of the account (recovery, two-factor off). */
enum pa_err store_tmppass_delete_all(struct store_tx *tx, int64_t account) PA_MUST_CHECK;
/* Remove expired and used rows older than before. */
enum pa_err store_tmppass_purge(struct store_tx *tx, int64_t account, int64_t before) PA_MUST_CHECK;

/* ---- sessions ---- */

enum store_session_kind {
	STORE_SESSION_WEB = 0,
	STORE_SESSION_APP = 1,
};

struct store_session {
	int64_t id;                         /* unique, shown to the user */
	uint8_t token_hash[STORE_HASH_LEN]; /* SHA-256 of the bearer token */
	int64_t account;                    /* whose */
	enum store_session_kind kind;       /* web or app */
	char client[STORE_CLIENT_MAX + 1];  /* client name at sign-in */
	char ip[STORE_IP_MAX + 1];          /* address at sign-in */
	int64_t created_at;                 /* unix seconds */
	int64_t auth_at;                    /* last time the password was entered */
	int64_t revoked_at;                 /* 0 = live */
};

enum pa_err store_session_add(struct store_tx *tx, struct store_session *s) PA_MUST_CHECK;
enum pa_err store_session_by_token(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                                   struct store_session *out) PA_MUST_CHECK;
/* Calls fn for each live (not revoked) session of account, oldest first; stops early when
 * fn returns false. */
enum pa_err store_session_list(struct store_tx *tx, int64_t account,
                               bool (*fn)(void *arg, const struct store_session *s),
                               void *arg) PA_MUST_CHECK;
/* Revoke one live session of account; PA_ERR_NOT_FOUND if none. */
enum pa_err store_session_revoke(struct store_tx *tx, int64_t account, int64_t id,
                                 int64_t now) PA_MUST_CHECK;
/* Revoke every live session of account except keep (0 = all); *n = how many. */
enum pa_err store_session_revoke_all(struct store_tx *tx, int64_t account, int64_t keep,
                                     int64_t now, unsigned *n) PA_MUST_CHECK;
enum pa_err store_session_set_auth(struct store_tx *tx, int64_t id, int64_t now) PA_MUST_CHECK;

/* ---- pending sign-ins ---- */

enum store_login_state {
	STORE_LOGIN_PENDING = 0,
	STORE_LOGIN_DONE = 1,
	STORE_LOGIN_FAILED = 2, /* too many wrong codes */
	STORE_LOGIN_DENIED = 3, /* denied on a phone */
};

struct store_login {
	int64_t id;                        /* internal */
	uint8_t id_hash[STORE_HASH_LEN];   /* SHA-256 of the public login id */
	int64_t account;                   /* whose */
	enum store_login_state state;      /* see enum */
	unsigned failures;                 /* wrong codes so far */
	char client[STORE_CLIENT_MAX + 1]; /* client name */
	char ip[STORE_IP_MAX + 1];         /* address */
	int64_t created_at, expires_at;    /* unix seconds */
	int64_t session;                   /* the session made on success, 0 = none */
};

enum pa_err store_login_add(struct store_tx *tx, struct store_login *l) PA_MUST_CHECK;
enum pa_err store_login_by_hash(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                                struct store_login *out) PA_MUST_CHECK;
/* Count a wrong code if the sign-in is still pending; *failures gets the new count.
 * PA_ERR_CONFLICT if it was not pending. */
enum pa_err store_login_fail(struct store_tx *tx, int64_t id, unsigned *failures) PA_MUST_CHECK;
/* Move a pending sign-in to state (with session for DONE); PA_ERR_CONFLICT if not pending. */
enum pa_err store_login_end(struct store_tx *tx, int64_t id, enum store_login_state state,
                            int64_t session) PA_MUST_CHECK;
/* Move every pending sign-in of the account to state (FAILED: a password change or a disable
 * ends them); *n (may be NULL) gets how many. */
enum pa_err store_login_end_all(struct store_tx *tx, int64_t account, enum store_login_state state,
                                unsigned *n) PA_MUST_CHECK;

/* ---- throttling counters ---- */

/* An opaque blob per key that the rate-limit rules (core/ratelimit.h) interpret.
 * Keys: "acct:ID" for accounts, "ip:ADDR" for addresses ("ip:PREFIX/64" for IPv6), and
 * "revuse:HASH" marking a revoked session's use as audited (server/app.c).
 * store_limit_get: *len is the size of the key's stored blob, whatever size the caller
 * expects, so that a blob of another size is told from none (it must never read as "no
 * counter"): 0 only when there is no row (an empty or NULL blob, which store_limit_put never
 * writes, gives SIZE_MAX); blob gets its first min(*len, size) bytes, and zeros after them. */
#define STORE_LIMIT_KEY_MAX 80
#define STORE_LIMIT_BLOB_MAX 512
enum pa_err store_limit_get(struct store_tx *tx, const char *key, void *blob, size_t size,
                            size_t *len) PA_MUST_CHECK;
enum pa_err store_limit_put(struct store_tx *tx, const char *key, const void *blob, size_t size,
                            int64_t expires_at) PA_MUST_CHECK;

/* ---- services (relying sites with a service key) ---- */

struct store_service {
	int64_t id;                       /* unique */
	char name[STORE_NAME_MAX + 1];    /* unique */
	uint8_t key_hash[STORE_HASH_LEN]; /* SHA-256 of the key */
	bool disabled;                    /* refused */
	int64_t created_at;               /* unix seconds */
};

enum pa_err store_service_add(struct store_tx *tx, struct store_service *s) PA_MUST_CHECK;
enum pa_err store_service_by_key(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                                 struct store_service *out) PA_MUST_CHECK;
enum pa_err store_service_list(struct store_tx *tx,
                               bool (*fn)(void *arg, const struct store_service *s),
                               void *arg) PA_MUST_CHECK;

/* ---- key checks (which key files the store's data was made with) ---- */

/* A fingerprint of one key that nodes use with this store, by name: "code" for codehash.key's
 * key, "master:ID" for the sealing key ID of master.key.  Each node compares its own keys with
 * these at start and records the ones missing (server/app.c), so that every node of a shared
 * store uses the same key files.  A value reveals nothing of its key (seal_keyring_check). */
#define STORE_KEY_CHECK_NAME_MAX 32 /* bytes of a name */
#define STORE_KEY_CHECK_MAX 32      /* bytes of a value */

struct store_key_check {
	char name[STORE_KEY_CHECK_NAME_MAX + 1]; /* unique: "code", "master:1", ... */
	uint8_t value[STORE_KEY_CHECK_MAX];      /* the fingerprint */
	size_t len;                              /* bytes in value, 1 .. STORE_KEY_CHECK_MAX */
	int64_t created_at;                      /* unix seconds: when it was recorded */
};

/* The check recorded under name; PA_ERR_NOT_FOUND if there is none. */
enum pa_err store_key_check_get(struct store_tx *tx, const char *name,
                                struct store_key_check *out) PA_MUST_CHECK;
/* Record k if nothing is recorded under its name yet; PA_ERR_CONFLICT if something is (and
 * it stays as it was).  PA_ERR_INVALID_ARGUMENT: a name of 0 or more than
 * STORE_KEY_CHECK_NAME_MAX bytes, or a len of 0 or more than STORE_KEY_CHECK_MAX. */
enum pa_err store_key_check_add(struct store_tx *tx, const struct store_key_check *k) PA_MUST_CHECK;
/* Forget the check recorded under name; PA_ERR_NOT_FOUND if there is none. */
enum pa_err store_key_check_delete(struct store_tx *tx, const char *name) PA_MUST_CHECK;
/* Calls fn for each recorded check in name order (bytewise); stops early when fn returns
 * false. */
enum pa_err store_key_check_list(struct store_tx *tx,
                                 bool (*fn)(void *arg, const struct store_key_check *k),
                                 void *arg) PA_MUST_CHECK;

/* ---- the verification hot path ---- */

/* What POST /v1/check reads, in one statement (so it needs no snapshot): the service whose
 * key hashes to hash, the account named name and that account's code generator. */
struct store_check_read {
	struct store_service service; /* the service */
	bool has_account;             /* an account of that name exists (of any service) */
	struct store_account account; /* it */
	bool has_totp;                /* it has a code generator (pending or confirmed) */
	struct store_totp totp;       /* that */
};

/* PA_ERR_NOT_FOUND: no service has that key (then nothing else is read). */
enum pa_err store_check_read(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                             const char *name, struct store_check_read *out) PA_MUST_CHECK;

/* What a store_submit_check caller does with the read (read: store_check_read's result; cr
 * is valid during the call only).  PA_OK: run the tx fn; anything else: do not, and done gets
 * it.  Like a tx fn it may run more than once, so it sets every output each time; it must be
 * quick and must not call the store. */
typedef enum pa_err (*store_check_prepare_fn)(void *arg, enum pa_err read,
                                              const struct store_check_read *cr);
/* store_check_read(hash, name), then prepare with its result, then (if prepare returned PA_OK)
 * fn in a write transaction as store_submit runs it; done(arg, result) gets fn's result, or
 * prepare's when that was not PA_OK, or PA_ERR_STORE.  Where the read is made is the store's
 * choice: both stores read on their writer, inside fn's transaction, and call prepare there
 * (so done comes from the writer, after the batch's commit, even when prepare refuses);
 * PostgreSQL makes the reads of a whole batch in one statement (and then fn may end with a
 * store_totp_consume_unthrottled whose answer also comes with the batch's: see there). */
void store_submit_check(struct store *s, const uint8_t hash[STORE_HASH_LEN], const char *name,
                        store_check_prepare_fn prepare, store_tx_fn fn, void *arg,
                        store_done_fn done);

/* ---- moving a store (pahara admin export / import) ---- */

/* Every table, as columns of three types, so that a store can be copied row by row into
 * another of either kind.  Values keep their meaning: sealed secrets stay sealed, ids and
 * times stay as they were.  store_tables lists parents before children, and every table but
 * key_checks: those rows come from the key files, and a node records its own at start. */
enum store_coltype {
	STORE_COL_INT,  /* int64 */
	STORE_COL_TEXT, /* UTF-8 without NUL */
	STORE_COL_BLOB, /* bytes */
};
struct store_column {
	const char *name;        /* as in the schema */
	enum store_coltype type; /* see enum */
	bool nullable;           /* may be NULL */
};
#define STORE_COLUMNS_MAX 12
struct store_table {
	const char *name;                            /* as in the schema */
	struct store_column cols[STORE_COLUMNS_MAX]; /* in order */
	unsigned ncols;                              /* how many */
};
extern const struct store_table store_tables[];
extern const unsigned store_tables_count;
/* One column's value: i for INT, p and len for TEXT and BLOB (valid during the call). */
struct store_value {
	bool null;     /* SQL NULL (nullable columns only) */
	int64_t i;     /* STORE_COL_INT */
	const void *p; /* STORE_COL_TEXT, STORE_COL_BLOB */
	size_t len;    /* bytes at p */
};
/* Calls fn with every row of t (t->ncols values, in primary-key order); stops when fn
 * returns false. */
enum pa_err store_dump(struct store_tx *tx, const struct store_table *t,
                       bool (*fn)(void *arg, const struct store_value *row),
                       void *arg) PA_MUST_CHECK;
/* Insert one row into t exactly as given (ids included).  PA_ERR_CONFLICT on a duplicate. */
enum pa_err store_load(struct store_tx *tx, const struct store_table *t,
                       const struct store_value *row) PA_MUST_CHECK;
/* After loading: make new ids continue after the loaded ones. */
enum pa_err store_load_finish(struct store_tx *tx) PA_MUST_CHECK;

/* ---- housekeeping ---- */

/* Remove rows that no longer matter: throttling counters whose expires_at is before now,
 * sign-ins that expired before logins_before, and sessions revoked before sessions_before.
 * Audit rows are never removed.  *n gets how many rows went. */
enum pa_err store_purge(struct store_tx *tx, int64_t now, int64_t logins_before,
                        int64_t sessions_before, unsigned *n) PA_MUST_CHECK;

/* ---- audit log (append-only) ---- */

struct store_audit {
	int64_t id;                            /* increasing */
	int64_t at;                            /* unix seconds */
	int64_t account;                       /* 0 = none */
	char account_name[STORE_NAME_MAX + 1]; /* name at the time ("" = none) */
	char event[48];                        /* e.g. "login.verify" */
	char outcome[24];                      /* "ok", "invalid_code", ... */
	char ip[STORE_IP_MAX + 1];             /* address ("" = none, e.g. admin CLI) */
	char client[STORE_CLIENT_MAX + 1];     /* client or actor */
	char detail[STORE_DETAIL_MAX + 1];     /* free text */
};

enum pa_err store_audit_add(struct store_tx *tx, const struct store_audit *a) PA_MUST_CHECK;
/* Events at or after since, for account (0 = all), oldest first. */
enum pa_err store_audit_list(struct store_tx *tx, int64_t account, int64_t since,
                             bool (*fn)(void *arg, const struct store_audit *a),
                             void *arg) PA_MUST_CHECK;

#endif
