/*
 * store.c — store.h's functions, forwarded to the backend that opened the store
 * (backend.h).  The location decides the backend: a postgresql:// URL or a directory.
 */
#include <pthread.h>
#include <string.h>

#include "store/backend.h"

#ifdef PAHARA_TESTING
#include <stdatomic.h>

static atomic_ulong submitted; /* store_test_submitted */

unsigned long store_test_submitted(void)
{
	return atomic_load(&submitted);
}

#define SUBMITTED() atomic_fetch_add(&submitted, 1)
#else
#define SUBMITTED() ((void)0)
#endif

size_t store_utf8_char_len(const unsigned char *s, size_t left)
{
	if (left == 0)
		return 0;
	size_t n = s[0] == 0     ? 0
	           : s[0] < 0x80 ? 1
	           : s[0] < 0xc2 ? 0
	           : s[0] < 0xe0 ? 2
	           : s[0] < 0xf0 ? 3
	           : s[0] < 0xf5 ? 4
	                         : 0;
	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0; /* overlong, a surrogate, or above U+10FFFF */
	return n;
}

static bool is_postgres(const char *location)
{
	return strncmp(location, "postgresql://", 13) == 0 ||
	       strncmp(location, "postgres://", 11) == 0;
}

enum pa_err store_open(const struct store_options *opt, struct store **out, const char **why)
{
	if (is_postgres(opt->location))
		return store_postgres_open(opt, out, why);
	return store_sqlite_open(opt, out, why);
}

struct sync_wait {
	pthread_mutex_t lock; /* guards done */
	pthread_cond_t cond;  /* signalled when done */
	bool done;            /* the commit happened */
	enum pa_err result;   /* its result */
	store_tx_fn fn;       /* the caller's fn */
	void *arg;            /* and its argument */
};

static enum pa_err sync_fn(struct store_tx *tx, void *arg)
{
	struct sync_wait *w = arg;
	return w->fn(tx, w->arg);
}

static void sync_done(void *arg, enum pa_err result)
{
	struct sync_wait *w = arg;
	pthread_mutex_lock(&w->lock);
	w->result = result;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

enum pa_err store_write_by_submit(struct store *s, store_tx_fn fn, void *arg)
{
	struct sync_wait w = {.fn = fn, .arg = arg};
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	s->ops->submit(s, sync_fn, &w, sync_done);
	SUBMITTED();
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return w.result;
}

void store_close(struct store *s)
{
	s->ops->close(s);
}

int store_schema_version(struct store *s)
{
	return s->ops->schema_version(s);
}

struct store_tx *store_reader(struct store *s)
{
	return s->ops->reader(s);
}

enum pa_err store_read_begin(struct store_tx *rd)
{
	return rd->ops->read_begin(rd);
}

void store_read_end(struct store_tx *rd)
{
	rd->ops->read_end(rd);
}

void store_submit(struct store *s, store_tx_fn fn, void *arg, store_done_fn done)
{
	s->ops->submit(s, fn, arg, done);
	SUBMITTED();
}

enum pa_err store_write(struct store *s, store_tx_fn fn, void *arg)
{
	return s->ops->write(s, fn, arg);
}

enum pa_err store_account_create(struct store_tx *tx, const char *name, const char *pwhash,
                                 int64_t service_id, int64_t now, int64_t *id)
{
	return tx->ops->account_create(tx, name, pwhash, service_id, now, id);
}

enum pa_err store_account_by_name(struct store_tx *tx, const char *name, struct store_account *out)
{
	return tx->ops->account_by_name(tx, name, out);
}

enum pa_err store_account_by_id(struct store_tx *tx, int64_t id, struct store_account *out)
{
	return tx->ops->account_by_id(tx, id, out);
}

enum pa_err store_account_lock(struct store_tx *tx, int64_t id, struct store_account *out)
{
	return tx->ops->account_lock(tx, id, out);
}

enum pa_err store_account_set_password(struct store_tx *tx, int64_t id, const char *pwhash)
{
	return tx->ops->account_set_password(tx, id, pwhash);
}

enum pa_err store_account_set_disabled(struct store_tx *tx, int64_t id, bool disabled)
{
	return tx->ops->account_set_disabled(tx, id, disabled);
}

enum pa_err store_account_set_twofactor(struct store_tx *tx, int64_t id, bool on)
{
	return tx->ops->account_set_twofactor(tx, id, on);
}

enum pa_err store_account_list(struct store_tx *tx,
                               bool (*fn)(void *arg, const struct store_account *a), void *arg)
{
	return tx->ops->account_list(tx, fn, arg);
}

enum pa_err store_totp_get(struct store_tx *tx, int64_t account, struct store_totp *out)
{
	return tx->ops->totp_get(tx, account, out);
}

enum pa_err store_totp_put(struct store_tx *tx, int64_t account, const struct store_totp *t)
{
	return tx->ops->totp_put(tx, account, t);
}

enum pa_err store_totp_consume(struct store_tx *tx, int64_t account, const struct store_totp *t,
                               int64_t step, int drift)
{
	return tx->ops->totp_consume(tx, account, t, step, drift);
}

enum pa_err store_totp_consume_unthrottled(struct store_tx *tx, int64_t account,
                                           const struct store_totp *t, int64_t step, int drift,
                                           const char *limit_key, const struct store_audit *au)
{
	return tx->ops->totp_consume_unthrottled(tx, account, t, step, drift, limit_key, au);
}

enum pa_err store_check_read(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                             const char *name, struct store_check_read *out)
{
	return tx->ops->check_read(tx, hash, name, out);
}

void store_submit_check(struct store *s, const uint8_t hash[STORE_HASH_LEN], const char *name,
                        store_check_prepare_fn prepare, store_tx_fn fn, void *arg,
                        store_done_fn done)
{
	s->ops->submit_check(s, hash, name, prepare, fn, arg, done);
	SUBMITTED();
}

enum pa_err store_totp_delete(struct store_tx *tx, int64_t account)
{
	return tx->ops->totp_delete(tx, account);
}

enum pa_err store_backup_list(struct store_tx *tx, int64_t account, struct store_backup *out,
                              size_t max, size_t *n)
{
	return tx->ops->backup_list(tx, account, out, max, n);
}

enum pa_err store_backup_find(struct store_tx *tx, int64_t account,
                              const uint8_t hash[STORE_HASH_LEN], struct store_backup *out)
{
	return tx->ops->backup_find(tx, account, hash, out);
}

enum pa_err store_backup_add(struct store_tx *tx, int64_t account, const struct store_backup *b)
{
	return tx->ops->backup_add(tx, account, b);
}

enum pa_err store_backup_set_status(struct store_tx *tx, int64_t account, uint32_t generation,
                                    enum store_backup_status status)
{
	return tx->ops->backup_set_status(tx, account, generation, status);
}

enum pa_err store_backup_trim(struct store_tx *tx, int64_t account, uint32_t keep_from)
{
	return tx->ops->backup_trim(tx, account, keep_from);
}

enum pa_err store_backup_delete_all(struct store_tx *tx, int64_t account)
{
	return tx->ops->backup_delete_all(tx, account);
}

enum pa_err store_tmppass_list(struct store_tx *tx, int64_t account, int64_t now,
                               struct store_tmppass *out, size_t max, size_t *n)
{
	enum pa_err e = tx->ops->tmppass_list(tx, account, now, out, max, n);
	if (e != PA_OK)
		return e;
	/* The backends give the rows in the order they chose them; few: insertion sort by id. */
	for (size_t i = 1; i < *n; i++) {
		struct store_tmppass t = out[i];
		size_t j = i;
		for (; j > 0 && out[j - 1].id > t.id; j--)
			out[j] = out[j - 1];
		out[j] = t;
	}
	return PA_OK;
}

enum pa_err store_tmppass_add(struct store_tx *tx, int64_t account, const struct store_tmppass *t)
{
	return tx->ops->tmppass_add(tx, account, t);
}

enum pa_err store_tmppass_consume(struct store_tx *tx, int64_t account, int64_t id, int64_t now)
{
	return tx->ops->tmppass_consume(tx, account, id, now);
}

enum pa_err store_tmppass_delete(struct store_tx *tx, int64_t account, int64_t id)
{
	return tx->ops->tmppass_delete(tx, account, id);
}

enum pa_err store_tmppass_delete_all(struct store_tx *tx, int64_t account)
{
	return tx->ops->tmppass_delete_all(tx, account);
}

enum pa_err store_tmppass_purge(struct store_tx *tx, int64_t account, int64_t before)
{
	return tx->ops->tmppass_purge(tx, account, before);
}

enum pa_err store_session_add(struct store_tx *tx, struct store_session *s)
{
	return tx->ops->session_add(tx, s);
}

enum pa_err store_session_by_token(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                                   struct store_session *out)
{
	return tx->ops->session_by_token(tx, hash, out);
}

enum pa_err store_session_list(struct store_tx *tx, int64_t account,
                               bool (*fn)(void *arg, const struct store_session *s), void *arg)
{
	return tx->ops->session_list(tx, account, fn, arg);
}

enum pa_err store_session_revoke(struct store_tx *tx, int64_t account, int64_t id, int64_t now)
{
	return tx->ops->session_revoke(tx, account, id, now);
}

enum pa_err store_session_revoke_all(struct store_tx *tx, int64_t account, int64_t keep,
                                     int64_t now, unsigned *n)
{
	return tx->ops->session_revoke_all(tx, account, keep, now, n);
}

enum pa_err store_session_set_auth(struct store_tx *tx, int64_t id, int64_t now)
{
	return tx->ops->session_set_auth(tx, id, now);
}

enum pa_err store_login_add(struct store_tx *tx, struct store_login *l)
{
	return tx->ops->login_add(tx, l);
}

enum pa_err store_login_by_hash(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                                struct store_login *out)
{
	return tx->ops->login_by_hash(tx, hash, out);
}

enum pa_err store_login_fail(struct store_tx *tx, int64_t id, unsigned *failures)
{
	return tx->ops->login_fail(tx, id, failures);
}

enum pa_err store_login_end_all(struct store_tx *tx, int64_t account, enum store_login_state state,
                                unsigned *n)
{
	return tx->ops->login_end_all(tx, account, state, n);
}

enum pa_err store_login_end(struct store_tx *tx, int64_t id, enum store_login_state state,
                            int64_t session)
{
	return tx->ops->login_end(tx, id, state, session);
}

enum pa_err store_limit_get(struct store_tx *tx, const char *key, void *blob, size_t size,
                            size_t *len)
{
	return tx->ops->limit_get(tx, key, blob, size, len);
}

enum pa_err store_limit_put(struct store_tx *tx, const char *key, const void *blob, size_t size,
                            int64_t expires_at)
{
	return tx->ops->limit_put(tx, key, blob, size, expires_at);
}

enum pa_err store_service_add(struct store_tx *tx, struct store_service *s)
{
	return tx->ops->service_add(tx, s);
}

enum pa_err store_service_by_key(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
                                 struct store_service *out)
{
	return tx->ops->service_by_key(tx, hash, out);
}

enum pa_err store_service_list(struct store_tx *tx,
                               bool (*fn)(void *arg, const struct store_service *s), void *arg)
{
	return tx->ops->service_list(tx, fn, arg);
}

enum pa_err store_key_check_get(struct store_tx *tx, const char *name, struct store_key_check *out)
{
	return tx->ops->key_check_get(tx, name, out);
}

enum pa_err store_key_check_add(struct store_tx *tx, const struct store_key_check *k)
{
	size_t n = strnlen(k->name, sizeof(k->name));
	/* Both stores keep what they are given: the bounds are the interface's. */
	if (n == 0 || n > STORE_KEY_CHECK_NAME_MAX || k->len == 0 || k->len > STORE_KEY_CHECK_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	return tx->ops->key_check_add(tx, k);
}

enum pa_err store_key_check_delete(struct store_tx *tx, const char *name)
{
	return tx->ops->key_check_delete(tx, name);
}

enum pa_err store_key_check_list(struct store_tx *tx,
                                 bool (*fn)(void *arg, const struct store_key_check *k), void *arg)
{
	return tx->ops->key_check_list(tx, fn, arg);
}

/* The schema, column by column: both backends' migrations make exactly these, and key_checks,
 * which is not moved (store.h). */
/* clang-format off */
#define I(n) {n, STORE_COL_INT, false}
#define T(n) {n, STORE_COL_TEXT, false}
#define B(n) {n, STORE_COL_BLOB, false}
const struct store_table store_tables[] = {
    {"services", {I("id"), T("name"), B("key_hash"), I("disabled"), I("created_at")}, 5},
    {"accounts",
     {I("id"), T("name"), T("pwhash"), I("disabled"), I("twofactor"), I("service_id"),
      I("created_at")},
     7},
    {"totp",
     {I("account_id"), B("sealed"), I("alg"), I("digits"), I("period"), I("confirmed"),
      {"last_step", STORE_COL_INT, true}, I("drift"), I("created_at")},
     9},
    {"backup_codes", {I("account_id"), I("generation"), B("hash"), I("status"), I("created_at")},
     5},
    {"tmp_passwords",
     {I("account_id"), I("id"), B("hash"), I("created_at"), I("expires_at"), I("used_at")},
     6},
    {"sessions",
     {I("id"), B("token_hash"), I("account_id"), I("kind"), T("client"), T("ip"),
      I("created_at"), I("auth_at"), I("revoked_at")},
     9},
    {"logins",
     {I("id"), B("id_hash"), I("account_id"), I("state"), I("failures"), T("client"), T("ip"),
      I("created_at"), I("expires_at"), I("session_id")},
     10},
    {"limits", {T("key"), B("blob"), I("expires_at")}, 3},
    {"audit",
     {I("id"), I("at"), I("account_id"), T("account_name"), T("event"), T("outcome"), T("ip"),
      T("client"), T("detail")},
     9},
};
#undef I
#undef T
#undef B
/* clang-format on */
const unsigned store_tables_count = sizeof(store_tables) / sizeof(store_tables[0]);

enum pa_err store_dump(struct store_tx *tx, const struct store_table *t,
                       bool (*fn)(void *arg, const struct store_value *row), void *arg)
{
	return tx->ops->dump(tx, t, fn, arg);
}

enum pa_err store_load(struct store_tx *tx, const struct store_table *t,
                       const struct store_value *row)
{
	return tx->ops->load(tx, t, row);
}

enum pa_err store_load_finish(struct store_tx *tx)
{
	return tx->ops->load_finish(tx);
}

enum pa_err store_purge(struct store_tx *tx, int64_t now, int64_t logins_before,
                        int64_t sessions_before, unsigned *n)
{
	return tx->ops->purge(tx, now, logins_before, sessions_before, n);
}

enum pa_err store_audit_add(struct store_tx *tx, const struct store_audit *a)
{
	return tx->ops->audit_add(tx, a);
}

enum pa_err store_audit_list(struct store_tx *tx, int64_t account, int64_t since,
                             bool (*fn)(void *arg, const struct store_audit *a), void *arg)
{
	return tx->ops->audit_list(tx, account, since, fn, arg);
}
