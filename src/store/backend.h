/*
 * backend.h — what a store implementation provides to store.c.
 *
 * store.h's functions are the interface every caller uses; store.c forwards each to the
 * backend that opened the store.  A backend's store and its contexts begin with the base
 * structs below, whose ops name the backend's functions (same meaning as in store.h).
 */
#ifndef PAHARA_STORE_BACKEND_H
#define PAHARA_STORE_BACKEND_H

#include "store/store.h"

struct store_ops {
	void (*close)(struct store *s);
	int (*schema_version)(struct store *s);
	struct store_tx *(*reader)(struct store *s);
	enum pa_err (*read_begin)(struct store_tx *rd);
	void (*read_end)(struct store_tx *rd);
	void (*submit)(struct store *s, store_tx_fn fn, void *arg, store_done_fn done);
	enum pa_err (*write)(struct store *s, store_tx_fn fn, void *arg);
	enum pa_err (*account_create)(struct store_tx *tx, const char *name, const char *pwhash,
	                              int64_t service_id, int64_t now, int64_t *id);
	enum pa_err (*account_by_name)(struct store_tx *tx, const char *name,
	                               struct store_account *out);
	enum pa_err (*account_by_id)(struct store_tx *tx, int64_t id, struct store_account *out);
	enum pa_err (*account_lock)(struct store_tx *tx, int64_t id, struct store_account *out);
	enum pa_err (*account_set_password)(struct store_tx *tx, int64_t id, const char *pwhash);
	enum pa_err (*account_set_disabled)(struct store_tx *tx, int64_t id, bool disabled);
	enum pa_err (*account_set_twofactor)(struct store_tx *tx, int64_t id, bool on);
	enum pa_err (*account_list)(struct store_tx *tx,
	                            bool (*fn)(void *arg, const struct store_account *a),
	                            void *arg);
	enum pa_err (*totp_get)(struct store_tx *tx, int64_t account, struct store_totp *out);
	enum pa_err (*totp_put)(struct store_tx *tx, int64_t account, const struct store_totp *t);
	enum pa_err (*totp_consume)(struct store_tx *tx, int64_t account,
	                            const struct store_totp *t, int64_t step, int drift);
	enum pa_err (*totp_consume_unthrottled)(struct store_tx *tx, int64_t account,
	                                        const struct store_totp *t, int64_t step, int drift,
	                                        const char *limit_key,
	                                        const struct store_audit *au);
	enum pa_err (*totp_delete)(struct store_tx *tx, int64_t account);
	enum pa_err (*backup_list)(struct store_tx *tx, int64_t account, struct store_backup *out,
	                           size_t max, size_t *n);
	enum pa_err (*backup_find)(struct store_tx *tx, int64_t account,
	                           const uint8_t hash[STORE_HASH_LEN], struct store_backup *out);
	enum pa_err (*backup_add)(struct store_tx *tx, int64_t account,
	                          const struct store_backup *b);
	enum pa_err (*backup_set_status)(struct store_tx *tx, int64_t account, uint32_t generation,
	                                 enum store_backup_status status);
	enum pa_err (*backup_trim)(struct store_tx *tx, int64_t account, uint32_t keep_from);
	enum pa_err (*backup_delete_all)(struct store_tx *tx, int64_t account);
	/* store_tmppass_list's rows in any order (store.c sorts them). */
	enum pa_err (*tmppass_list)(struct store_tx *tx, int64_t account, int64_t now,
	                            struct store_tmppass *out, size_t max, size_t *n);
	enum pa_err (*tmppass_add)(struct store_tx *tx, int64_t account,
	                           const struct store_tmppass *t);
	enum pa_err (*tmppass_consume)(struct store_tx *tx, int64_t account, int64_t id,
	                               int64_t now);
	enum pa_err (*tmppass_delete)(struct store_tx *tx, int64_t account, int64_t id);
	enum pa_err (*tmppass_delete_all)(struct store_tx *tx, int64_t account);
	enum pa_err (*tmppass_purge)(struct store_tx *tx, int64_t account, int64_t before);
	enum pa_err (*session_add)(struct store_tx *tx, struct store_session *s);
	enum pa_err (*session_by_token)(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
	                                struct store_session *out);
	enum pa_err (*session_list)(struct store_tx *tx, int64_t account,
	                            bool (*fn)(void *arg, const struct store_session *s),
	                            void *arg);
	enum pa_err (*session_revoke)(struct store_tx *tx, int64_t account, int64_t id,
	                              int64_t now);
	enum pa_err (*session_revoke_all)(struct store_tx *tx, int64_t account, int64_t keep,
	                                  int64_t now, unsigned *n);
	enum pa_err (*session_set_auth)(struct store_tx *tx, int64_t id, int64_t now);
	enum pa_err (*login_add)(struct store_tx *tx, struct store_login *l);
	enum pa_err (*login_by_hash)(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
	                             struct store_login *out);
	enum pa_err (*login_fail)(struct store_tx *tx, int64_t id, unsigned *failures);
	enum pa_err (*login_end_all)(struct store_tx *tx, int64_t account,
	                             enum store_login_state state, unsigned *n);
	enum pa_err (*login_end)(struct store_tx *tx, int64_t id, enum store_login_state state,
	                         int64_t session);
	enum pa_err (*limit_get)(struct store_tx *tx, const char *key, void *blob, size_t size,
	                         size_t *len);
	enum pa_err (*limit_put)(struct store_tx *tx, const char *key, const void *blob,
	                         size_t size, int64_t expires_at);
	enum pa_err (*service_add)(struct store_tx *tx, struct store_service *s);
	enum pa_err (*service_by_key)(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
	                              struct store_service *out);
	enum pa_err (*check_read)(struct store_tx *tx, const uint8_t hash[STORE_HASH_LEN],
	                          const char *name, struct store_check_read *out);
	/* store_submit_check: each store reads on its writer (see store.h). */
	void (*submit_check)(struct store *s, const uint8_t hash[STORE_HASH_LEN], const char *name,
	                     store_check_prepare_fn prepare, store_tx_fn fn, void *arg,
	                     store_done_fn done);
	enum pa_err (*service_list)(struct store_tx *tx,
	                            bool (*fn)(void *arg, const struct store_service *s),
	                            void *arg);
	enum pa_err (*key_check_get)(struct store_tx *tx, const char *name,
	                             struct store_key_check *out);
	enum pa_err (*key_check_add)(struct store_tx *tx, const struct store_key_check *k);
	enum pa_err (*key_check_delete)(struct store_tx *tx, const char *name);
	enum pa_err (*key_check_list)(struct store_tx *tx,
	                              bool (*fn)(void *arg, const struct store_key_check *k),
	                              void *arg);
	enum pa_err (*dump)(struct store_tx *tx, const struct store_table *t,
	                    bool (*fn)(void *arg, const struct store_value *row), void *arg);
	enum pa_err (*load)(struct store_tx *tx, const struct store_table *t,
	                    const struct store_value *row);
	enum pa_err (*load_finish)(struct store_tx *tx);
	enum pa_err (*purge)(struct store_tx *tx, int64_t now, int64_t logins_before,
	                     int64_t sessions_before, unsigned *n);
	enum pa_err (*audit_add)(struct store_tx *tx, const struct store_audit *a);
	enum pa_err (*audit_list)(struct store_tx *tx, int64_t account, int64_t since,
	                          bool (*fn)(void *arg, const struct store_audit *a), void *arg);
};

struct store {
	const struct store_ops *ops; /* the backend */
};

struct store_tx {
	const struct store_ops *ops; /* the backend */
};

/* SQLite: location is a directory; the database file is pahara.db inside it. */
enum pa_err store_sqlite_open(const struct store_options *opt, struct store **out,
                              const char **why) PA_MUST_CHECK;
/* PostgreSQL: location is a postgresql:// or postgres:// URL (libpq's syntax). */
enum pa_err store_postgres_open(const struct store_options *opt, struct store **out,
                                const char **why) PA_MUST_CHECK;

/* store_write for a backend whose writes all go through its submit: submit, then wait for
 * done (store.c). */
enum pa_err store_write_by_submit(struct store *s, store_tx_fn fn, void *arg);

/* RFC 3629: the length (1..4) of the well-formed UTF-8 character at s (left bytes there), or
 * 0.  NUL counts as malformed: neither database's text holds it.  Each backend stores text
 * that is not UTF-8 with '?' for every byte that is not part of a character (store.h). */
size_t store_utf8_char_len(const unsigned char *s, size_t left);

#endif
