/*
 * test_store.c — the store interface (store/store.h) as a conformance test.
 *
 * It checks what the header promises and nothing of how one store keeps the promise, so every
 * implementation (sqlite.c today, PostgreSQL next) must pass it unchanged.  The store is the
 * one PAHARA_TEST_STORE names (a directory, or a postgresql:// URL) or else a fresh temporary
 * directory per test group, removed afterwards.  A named store may hold other data: every
 * name, key and hash a test writes is unique (a random prefix per test, random hashes), and
 * lists are filtered down to the test's own rows.
 *
 * Tx fns and done callbacks run on the store's writer thread, where a failing cmocka assert
 * must not jump: there they only record what the store returned, and the test thread asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/core.h"
#include "core/otp.h"
#include "store/store.h"

#define T0 1700000000
#define RACERS 8        /* threads that try to use one single-use thing at once */
#define BATCH_FNS 48    /* tx fns submitted in one go */
#define WAIT_SECONDS 60 /* longest wait for a done callback before the test fails */

/* ---- the store of a group and of a test -------------------------------------------------- */

static char group_dir[64];   /* the running group's temporary directory, "" = none */
static const char *location; /* where the running group's store lives */

static int group_setup(void **state)
{
	const char *env = getenv("PAHARA_TEST_STORE");

	(void)state;
	if (pa_core_init() != PA_OK)
		return -1;
	group_dir[0] = '\0';
	if (env && *env) {
		location = env;
		return 0;
	}
	snprintf(group_dir, sizeof group_dir, "/tmp/pahara-test-store-XXXXXX");
	if (!mkdtemp(group_dir)) {
		print_error("mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	location = group_dir;
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_teardown(void **state)
{
	int rc = 0;

	(void)state;
	/* Whatever files the store made: the test knows nothing of their names. */
	if (group_dir[0])
		rc = nftw(group_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	group_dir[0] = '\0';
	return rc == 0 ? 0 : -1;
}

struct fixture {
	struct store *s;     /* the store, open for the test */
	struct store_tx *rd; /* the test thread's read context */
	char prefix[12];     /* "t" and 8 random hex digits: this test's names and keys */
};

static enum pa_err open_store(unsigned batch_max, struct store **out)
{
	struct store_options opt = {.location = location, .batch_max = batch_max};
	const char *why = NULL;
	enum pa_err e = store_open(&opt, out, &why);

	if (e != PA_OK)
		print_error("store_open(%s): %s\n", location, why ? why : "(no reason)");
	return e;
}

static int setup_with(void **state, unsigned batch_max)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (!f)
		return -1;
	snprintf(f->prefix, sizeof f->prefix, "t%08x", (unsigned)randombytes_random());
	if (open_store(batch_max, &f->s) != PA_OK) {
		free(f);
		return -1;
	}
	f->rd = store_reader(f->s);
	if (!f->rd) {
		store_close(f->s);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

/* Batches of three: failing and succeeding fns share commits, and there are many commits. */
static int setup_small_batches(void **state)
{
	return setup_with(state, 3);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->s)
		store_close(f->s);
	free(f);
	return 0;
}

/* Close the test's store and open it again. */
static void reopen(struct fixture *f)
{
	store_close(f->s);
	f->s = NULL;
	f->rd = NULL;
	assert_int_equal(open_store(0, &f->s), PA_OK);
	f->rd = store_reader(f->s);
	assert_non_null(f->rd);
}

/* out = the test's prefix + base: a name or key no other test or run uses. */
static void uniq(const struct fixture *f, const char *base, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s", f->prefix, base);

	assert_true(n > 0 && (size_t)n < size);
}

static bool ours(const struct fixture *f, const char *name)
{
	return strncmp(name, f->prefix, strlen(f->prefix)) == 0;
}

/* ---- writes: one store call per transaction ------------------------------------------------ */

enum call_op {
	CALL_ACCOUNT_CREATE,
	CALL_ACCOUNT_SET_PASSWORD,
	CALL_ACCOUNT_SET_DISABLED,
	CALL_ACCOUNT_SET_TWOFACTOR,
	CALL_TOTP_PUT,
	CALL_TOTP_CONSUME,
	CALL_TOTP_CONSUME_UNTHROTTLED,
	CALL_TOTP_DELETE,
	CALL_BACKUP_ADD,
	CALL_BACKUP_SET_STATUS,
	CALL_BACKUP_TRIM,
	CALL_BACKUP_DELETE_ALL,
	CALL_TMPPASS_ADD,
	CALL_TMPPASS_CONSUME,
	CALL_TMPPASS_DELETE,
	CALL_TMPPASS_DELETE_ALL,
	CALL_TMPPASS_PURGE,
	CALL_SESSION_ADD,
	CALL_SESSION_REVOKE,
	CALL_SESSION_REVOKE_ALL,
	CALL_SESSION_SET_AUTH,
	CALL_LOGIN_ADD,
	CALL_LOGIN_FAIL,
	CALL_LOGIN_END,
	CALL_LOGIN_END_ALL,
	CALL_LIMIT_PUT,
	CALL_SERVICE_ADD,
	CALL_KEY_CHECK_ADD,
	CALL_KEY_CHECK_DELETE,
	CALL_AUDIT_ADD,
};

/* One store write and its arguments, named after the header's parameters. */
struct call {
	enum call_op op;              /* which store function */
	int64_t account;              /* the account, or the record for by-id functions */
	int64_t id;                   /* a row of the account: generation, tmppass id, session id */
	int64_t at;                   /* now, before, expires_at, or a TOTP step */
	int64_t other;                /* service_id, the session to keep, or a sign-in's session */
	int value;                    /* drift, login state, backup status, or a flag */
	const char *text;             /* a name or a limit key */
	const char *pwhash;           /* a password hash */
	const void *in;               /* a record or blob to write */
	void *inout;                  /* a record the store fills the id of */
	size_t size;                  /* bytes in a limit blob */
	const struct store_audit *au; /* the unthrottled consume's audit row */
	int64_t *id_out;              /* account_create's id */
	unsigned *count_out;          /* revoke_all's count, login_fail's failures */
};

static enum pa_err call_fn(struct store_tx *tx, void *arg)
{
	const struct call *c = arg;

	switch (c->op) {
	case CALL_ACCOUNT_CREATE:
		return store_account_create(tx, c->text, c->pwhash, c->other, c->at, c->id_out);
	case CALL_ACCOUNT_SET_PASSWORD:
		return store_account_set_password(tx, c->account, c->pwhash);
	case CALL_ACCOUNT_SET_DISABLED:
		return store_account_set_disabled(tx, c->account, c->value != 0);
	case CALL_ACCOUNT_SET_TWOFACTOR:
		return store_account_set_twofactor(tx, c->account, c->value != 0);
	case CALL_TOTP_PUT:
		return store_totp_put(tx, c->account, c->in);
	case CALL_TOTP_CONSUME:
		return store_totp_consume(tx, c->account, c->in, c->at, c->value);
	case CALL_TOTP_CONSUME_UNTHROTTLED:
		return store_totp_consume_unthrottled(tx, c->account, c->in, c->at, c->value,
		                                      c->text, c->au);
	case CALL_TOTP_DELETE:
		return store_totp_delete(tx, c->account);
	case CALL_BACKUP_ADD:
		return store_backup_add(tx, c->account, c->in);
	case CALL_BACKUP_SET_STATUS:
		return store_backup_set_status(tx, c->account, (uint32_t)c->id,
		                               (enum store_backup_status)c->value);
	case CALL_BACKUP_TRIM:
		return store_backup_trim(tx, c->account, (uint32_t)c->id);
	case CALL_BACKUP_DELETE_ALL:
		return store_backup_delete_all(tx, c->account);
	case CALL_TMPPASS_ADD:
		return store_tmppass_add(tx, c->account, c->in);
	case CALL_TMPPASS_CONSUME:
		return store_tmppass_consume(tx, c->account, c->id, c->at);
	case CALL_TMPPASS_DELETE:
		return store_tmppass_delete(tx, c->account, c->id);
	case CALL_TMPPASS_DELETE_ALL:
		return store_tmppass_delete_all(tx, c->account);
	case CALL_TMPPASS_PURGE:
		return store_tmppass_purge(tx, c->account, c->at);
	case CALL_SESSION_ADD:
		return store_session_add(tx, c->inout);
	case CALL_SESSION_REVOKE:
		return store_session_revoke(tx, c->account, c->id, c->at);
	case CALL_SESSION_REVOKE_ALL:
		return store_session_revoke_all(tx, c->account, c->other, c->at, c->count_out);
	case CALL_SESSION_SET_AUTH:
		return store_session_set_auth(tx, c->id, c->at);
	case CALL_LOGIN_ADD:
		return store_login_add(tx, c->inout);
	case CALL_LOGIN_FAIL:
		return store_login_fail(tx, c->id, c->count_out);
	case CALL_LOGIN_END:
		return store_login_end(tx, c->id, (enum store_login_state)c->value, c->other);
	case CALL_LOGIN_END_ALL:
		return store_login_end_all(tx, c->account, (enum store_login_state)c->value,
		                           c->count_out);
	case CALL_LIMIT_PUT:
		return store_limit_put(tx, c->text, c->in, c->size, c->at);
	case CALL_SERVICE_ADD:
		return store_service_add(tx, c->inout);
	case CALL_KEY_CHECK_ADD:
		return store_key_check_add(tx, c->in);
	case CALL_KEY_CHECK_DELETE:
		return store_key_check_delete(tx, c->text);
	case CALL_AUDIT_ADD:
		return store_audit_add(tx, c->in);
	}
	return PA_ERR_INTERNAL;
}

static enum pa_err run(struct store *s, struct call c)
{
	return store_write(s, call_fn, &c);
}

static enum pa_err w_account_create(struct store *s, const char *name, const char *pwhash,
                                    int64_t service_id, int64_t now, int64_t *id)
{
	return run(s, (struct call){.op = CALL_ACCOUNT_CREATE,
	                            .text = name,
	                            .pwhash = pwhash,
	                            .other = service_id,
	                            .at = now,
	                            .id_out = id});
}

static enum pa_err w_account_set_password(struct store *s, int64_t id, const char *pwhash)
{
	return run(s,
	           (struct call){.op = CALL_ACCOUNT_SET_PASSWORD, .account = id, .pwhash = pwhash});
}

static enum pa_err w_account_set_disabled(struct store *s, int64_t id, bool on)
{
	return run(s, (struct call){.op = CALL_ACCOUNT_SET_DISABLED, .account = id, .value = on});
}

static enum pa_err w_account_set_twofactor(struct store *s, int64_t id, bool on)
{
	return run(s, (struct call){.op = CALL_ACCOUNT_SET_TWOFACTOR, .account = id, .value = on});
}

static enum pa_err w_totp_put(struct store *s, int64_t account, const struct store_totp *t)
{
	return run(s, (struct call){.op = CALL_TOTP_PUT, .account = account, .in = t});
}

static struct call c_totp_consume(int64_t account, const struct store_totp *t, int64_t step,
                                  int drift)
{
	return (struct call){
	    .op = CALL_TOTP_CONSUME, .account = account, .in = t, .at = step, .value = drift};
}

static enum pa_err w_totp_consume(struct store *s, int64_t account, const struct store_totp *t,
                                  int64_t step, int drift)
{
	return run(s, c_totp_consume(account, t, step, drift));
}

static enum pa_err w_totp_consume_unthrottled(struct store *s, int64_t account,
                                              const struct store_totp *t, int64_t step, int drift,
                                              const char *limit_key, const struct store_audit *au)
{
	return run(s, (struct call){.op = CALL_TOTP_CONSUME_UNTHROTTLED,
	                            .account = account,
	                            .in = t,
	                            .at = step,
	                            .value = drift,
	                            .text = limit_key,
	                            .au = au});
}

static enum pa_err w_totp_delete(struct store *s, int64_t account)
{
	return run(s, (struct call){.op = CALL_TOTP_DELETE, .account = account});
}

static enum pa_err w_backup_add(struct store *s, int64_t account, const struct store_backup *b)
{
	return run(s, (struct call){.op = CALL_BACKUP_ADD, .account = account, .in = b});
}

static struct call c_backup_set_status(int64_t account, uint32_t generation,
                                       enum store_backup_status status)
{
	return (struct call){.op = CALL_BACKUP_SET_STATUS,
	                     .account = account,
	                     .id = generation,
	                     .value = (int)status};
}

static enum pa_err w_backup_set_status(struct store *s, int64_t account, uint32_t generation,
                                       enum store_backup_status status)
{
	return run(s, c_backup_set_status(account, generation, status));
}

static enum pa_err w_backup_trim(struct store *s, int64_t account, uint32_t keep_from)
{
	return run(s, (struct call){.op = CALL_BACKUP_TRIM, .account = account, .id = keep_from});
}

static enum pa_err w_backup_delete_all(struct store *s, int64_t account)
{
	return run(s, (struct call){.op = CALL_BACKUP_DELETE_ALL, .account = account});
}

static enum pa_err w_tmppass_add(struct store *s, int64_t account, const struct store_tmppass *t)
{
	return run(s, (struct call){.op = CALL_TMPPASS_ADD, .account = account, .in = t});
}

static struct call c_tmppass_consume(int64_t account, int64_t id, int64_t now)
{
	return (struct call){.op = CALL_TMPPASS_CONSUME, .account = account, .id = id, .at = now};
}

static enum pa_err w_tmppass_consume(struct store *s, int64_t account, int64_t id, int64_t now)
{
	return run(s, c_tmppass_consume(account, id, now));
}

static enum pa_err w_tmppass_delete(struct store *s, int64_t account, int64_t id)
{
	return run(s, (struct call){.op = CALL_TMPPASS_DELETE, .account = account, .id = id});
}

static enum pa_err w_tmppass_delete_all(struct store *s, int64_t account)
{
	return run(s, (struct call){.op = CALL_TMPPASS_DELETE_ALL, .account = account});
}

static enum pa_err w_tmppass_purge(struct store *s, int64_t account, int64_t before)
{
	return run(s, (struct call){.op = CALL_TMPPASS_PURGE, .account = account, .at = before});
}

static enum pa_err w_session_add(struct store *s, struct store_session *ses)
{
	return run(s, (struct call){.op = CALL_SESSION_ADD, .inout = ses});
}

static enum pa_err w_session_revoke(struct store *s, int64_t account, int64_t id, int64_t now)
{
	return run(
	    s, (struct call){.op = CALL_SESSION_REVOKE, .account = account, .id = id, .at = now});
}

static enum pa_err w_session_revoke_all(struct store *s, int64_t account, int64_t keep, int64_t now,
                                        unsigned *n)
{
	return run(s, (struct call){.op = CALL_SESSION_REVOKE_ALL,
	                            .account = account,
	                            .other = keep,
	                            .at = now,
	                            .count_out = n});
}

static enum pa_err w_session_set_auth(struct store *s, int64_t id, int64_t now)
{
	return run(s, (struct call){.op = CALL_SESSION_SET_AUTH, .id = id, .at = now});
}

static enum pa_err w_login_add(struct store *s, struct store_login *l)
{
	return run(s, (struct call){.op = CALL_LOGIN_ADD, .inout = l});
}

static enum pa_err w_login_fail(struct store *s, int64_t id, unsigned *failures)
{
	return run(s, (struct call){.op = CALL_LOGIN_FAIL, .id = id, .count_out = failures});
}

static struct call c_login_end(int64_t id, enum store_login_state state, int64_t session)
{
	return (struct call){.op = CALL_LOGIN_END, .id = id, .value = (int)state, .other = session};
}

static enum pa_err w_login_end(struct store *s, int64_t id, enum store_login_state state,
                               int64_t session)
{
	return run(s, c_login_end(id, state, session));
}

static enum pa_err w_login_end_all(struct store *s, int64_t account, enum store_login_state state,
                                   unsigned *n)
{
	return run(s, (struct call){.op = CALL_LOGIN_END_ALL,
	                            .account = account,
	                            .value = (int)state,
	                            .count_out = n});
}

static enum pa_err w_limit_put(struct store *s, const char *key, const void *blob, size_t size,
                               int64_t expires_at)
{
	return run(
	    s, (struct call){
	           .op = CALL_LIMIT_PUT, .text = key, .in = blob, .size = size, .at = expires_at});
}

static enum pa_err w_service_add(struct store *s, struct store_service *svc)
{
	return run(s, (struct call){.op = CALL_SERVICE_ADD, .inout = svc});
}

static enum pa_err w_key_check_add(struct store *s, const struct store_key_check *k)
{
	return run(s, (struct call){.op = CALL_KEY_CHECK_ADD, .in = k});
}

static enum pa_err w_key_check_delete(struct store *s, const char *name)
{
	return run(s, (struct call){.op = CALL_KEY_CHECK_DELETE, .text = name});
}

static enum pa_err w_audit_add(struct store *s, const struct store_audit *a)
{
	return run(s, (struct call){.op = CALL_AUDIT_ADD, .in = a});
}

/* ---- races: many threads try the same single-use write at once ----------------------------- */

struct racer {
	struct store *s;          /* the store */
	pthread_barrier_t *start; /* every racer starts together */
	struct call c;            /* this racer's copy of the call */
	enum pa_err result;       /* what store_write returned */
	pthread_t thread;         /* the racer */
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->start);
	r->result = store_write(r->s, call_fn, &r->c);
	return NULL;
}

/* Run c from RACERS threads at once; every loser must get PA_ERR_CONFLICT.  How many won. */
static unsigned race(struct store *s, struct call c)
{
	struct racer r[RACERS];
	pthread_barrier_t start;
	unsigned i, won = 0;

	assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (i = 0; i < RACERS; i++) {
		r[i] = (struct racer){.s = s, .start = &start, .c = c};
		assert_int_equal(pthread_create(&r[i].thread, NULL, racer_main, &r[i]), 0);
	}
	for (i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(r[i].thread, NULL), 0);
	pthread_barrier_destroy(&start);
	for (i = 0; i < RACERS; i++) {
		if (r[i].result == PA_OK)
			won++;
		else
			assert_int_equal(r[i].result, PA_ERR_CONFLICT);
	}
	return won;
}

/* ---- records ------------------------------------------------------------------------------- */

static void rand_hash(uint8_t h[STORE_HASH_LEN])
{
	randombytes_buf(h, STORE_HASH_LEN);
}

/* A new account named prefix + base; its id. */
static int64_t new_account(const struct fixture *f, const char *base)
{
	char name[STORE_NAME_MAX + 1];
	int64_t id = 0;

	uniq(f, base, name, sizeof name);
	assert_int_equal(w_account_create(f->s, name, "", 0, T0, &id), PA_OK);
	assert_true(id != 0);
	return id;
}

static struct store_account account_by_id(const struct fixture *f, int64_t id)
{
	struct store_account a;

	memset(&a, 0xa5, sizeof a);
	assert_int_equal(store_account_by_id(f->rd, id, &a), PA_OK);
	return a;
}

static void assert_account_equal(const struct store_account *a, const struct store_account *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->pwhash, b->pwhash);
	assert_int_equal(a->disabled, b->disabled);
	assert_int_equal(a->twofactor, b->twofactor);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->service_id, b->service_id);
}

static void totp_sample(struct store_totp *t, size_t sealed_len)
{
	memset(t, 0, sizeof *t);
	randombytes_buf(t->sealed, sealed_len);
	t->sealed_len = sealed_len;
	t->alg = OTP_SHA1;
	t->digits = 6;
	t->period = 30;
	t->created_at = T0;
}

static void assert_totp_equal(const struct store_totp *a, const struct store_totp *b)
{
	assert_int_equal(a->sealed_len, b->sealed_len);
	assert_memory_equal(a->sealed, b->sealed, a->sealed_len);
	assert_int_equal(a->alg, b->alg);
	assert_int_equal(a->digits, b->digits);
	assert_int_equal(a->period, b->period);
	assert_int_equal(a->confirmed, b->confirmed);
	assert_int_equal(a->has_last, b->has_last);
	if (a->has_last)
		assert_int_equal(a->last_step, b->last_step);
	assert_int_equal(a->drift, b->drift);
	assert_int_equal(a->created_at, b->created_at);
}

static struct store_totp totp_get(const struct fixture *f, int64_t account)
{
	struct store_totp t;

	memset(&t, 0xa5, sizeof t);
	assert_int_equal(store_totp_get(f->rd, account, &t), PA_OK);
	return t;
}

static struct store_session session_by_token(const struct fixture *f,
                                             const uint8_t hash[STORE_HASH_LEN])
{
	struct store_session s;

	memset(&s, 0xa5, sizeof s);
	assert_int_equal(store_session_by_token(f->rd, hash, &s), PA_OK);
	return s;
}

static struct store_login login_by_hash(const struct fixture *f, const uint8_t hash[STORE_HASH_LEN])
{
	struct store_login l;

	memset(&l, 0xa5, sizeof l);
	assert_int_equal(store_login_by_hash(f->rd, hash, &l), PA_OK);
	return l;
}

/* A filled string of n bytes (the field maximums). */
static void fill(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void test_open_creates_and_migrates(void **state)
{
	struct fixture *f = *state;
	struct store_account a, b;
	struct store_totp t;
	int version = store_schema_version(f->s);
	int64_t id;

	assert_true(version > 0);
	id = new_account(f, "keep");
	assert_int_equal(w_account_set_twofactor(f->s, id, true), PA_OK);
	totp_sample(&t, 77);
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	a = account_by_id(f, id);

	/* reopening the store keeps the schema version and the data */
	reopen(f);
	assert_int_equal(store_schema_version(f->s), version);
	assert_int_equal(store_account_by_name(f->rd, a.name, &b), PA_OK);
	assert_account_equal(&a, &b);
	b = account_by_id(f, id);
	assert_account_equal(&a, &b);
	assert_true(b.twofactor);
	{
		struct store_totp got = totp_get(f, id);
		assert_totp_equal(&got, &t);
	}
	/* and a store opened again can be written */
	new_account(f, "after");
}

static void test_open_failure_says_why(void **state)
{
	struct store_options opt = {.location = "/dev/null/pahara"};
	struct store *s = NULL;
	const char *why = NULL;

	(void)state;
	assert_int_not_equal(store_open(&opt, &s, &why), PA_OK);
	assert_non_null(why);
	assert_true(why[0] != '\0');
}

/* ---- accounts ------------------------------------------------------------------------------ */

static void test_account_create_and_look_up(void **state)
{
	struct fixture *f = *state;
	struct store_account want, got;
	char longest[STORE_NAME_MAX + 1];
	int64_t id = 0, id2 = 0;

	memset(&want, 0, sizeof want);
	uniq(f, "alice", want.name, sizeof want.name);
	fill(want.pwhash, 'h', STORE_PWHASH_MAX);
	memcpy(want.pwhash, "$argon2id$", 10);
	want.created_at = T0 + 5;
	want.service_id = 9;
	assert_int_equal(
	    w_account_create(f->s, want.name, want.pwhash, want.service_id, want.created_at, &id),
	    PA_OK);
	want.id = id;

	memset(&got, 0xa5, sizeof got);
	assert_int_equal(store_account_by_name(f->rd, want.name, &got), PA_OK);
	assert_account_equal(&got, &want);
	assert_false(got.disabled);
	assert_false(got.twofactor);
	got = account_by_id(f, id);
	assert_account_equal(&got, &want);

	/* a second account: a new id; no password ("") and no service */
	fill(longest, 'z', STORE_NAME_MAX);
	memcpy(longest, f->prefix, strlen(f->prefix));
	assert_int_equal(w_account_create(f->s, longest, "", 0, T0, &id2), PA_OK);
	assert_int_not_equal(id2, id);
	got = account_by_id(f, id2);
	assert_string_equal(got.name, longest);
	assert_string_equal(got.pwhash, "");
	assert_int_equal(got.service_id, 0);
}

static void test_account_duplicate_name_conflict(void **state)
{
	struct fixture *f = *state;
	struct store_account before, after;
	int64_t id = new_account(f, "dup"), other = 0;

	before = account_by_id(f, id);
	assert_int_equal(w_account_create(f->s, before.name, "$argon2id$other", 3, T0 + 9, &other),
	                 PA_ERR_CONFLICT);
	after = account_by_id(f, id);
	assert_account_equal(&after, &before);
	assert_int_equal(store_account_by_name(f->rd, before.name, &after), PA_OK);
	assert_int_equal(after.id, id);
}

static void test_account_not_found(void **state)
{
	struct fixture *f = *state;
	struct store_account a;
	char name[STORE_NAME_MAX + 1];

	uniq(f, "nobody", name, sizeof name);
	assert_int_equal(store_account_by_name(f->rd, name, &a), PA_ERR_NOT_FOUND);
	assert_int_equal(store_account_by_id(f->rd, INT64_MAX, &a), PA_ERR_NOT_FOUND);
	assert_int_equal(w_account_set_password(f->s, INT64_MAX, "$argon2id$x"), PA_ERR_NOT_FOUND);
	assert_int_equal(w_account_set_disabled(f->s, INT64_MAX, true), PA_ERR_NOT_FOUND);
	assert_int_equal(w_account_set_twofactor(f->s, INT64_MAX, true), PA_ERR_NOT_FOUND);
	/* and a failed change made nobody */
	assert_int_equal(store_account_by_id(f->rd, INT64_MAX, &a), PA_ERR_NOT_FOUND);
}

/* store_account_lock: the account as it is, or PA_ERR_NOT_FOUND; and a transaction that holds
 * it is followed, not overtaken: one that takes it meanwhile reads what the first wrote. */
struct lock_race {
	int64_t id;                      /* whose */
	const char *pwhash;              /* the holder writes this */
	volatile int held;               /* the holder has the account */
	volatile int done;               /* the holder's transaction ended */
	enum pa_err result;              /* and how */
	char seen[STORE_PWHASH_MAX + 1]; /* what the follower read */
};

static enum pa_err lock_holder_fn(struct store_tx *tx, void *arg)
{
	struct lock_race *lr = arg;
	struct store_account a;
	enum pa_err e = store_account_lock(tx, lr->id, &a);
	if (e != PA_OK)
		return e;
	__atomic_store_n(&lr->held, 1, __ATOMIC_SEQ_CST);
	struct timespec pause = {.tv_nsec = 300 * 1000 * 1000}; /* the follower asks meanwhile */
	nanosleep(&pause, NULL);
	return store_account_set_password(tx, lr->id, lr->pwhash);
}

static void lock_holder_done(void *arg, enum pa_err result)
{
	struct lock_race *lr = arg;
	lr->result = result;
	__atomic_store_n(&lr->done, 1, __ATOMIC_SEQ_CST);
}

static enum pa_err lock_follower_fn(struct store_tx *tx, void *arg)
{
	struct lock_race *lr = arg;
	struct store_account a;
	enum pa_err e = store_account_lock(tx, lr->id, &a);
	if (e == PA_OK)
		snprintf(lr->seen, sizeof lr->seen, "%s", a.pwhash);
	return e;
}

static enum pa_err lock_missing_fn(struct store_tx *tx, void *arg)
{
	(void)arg;
	struct store_account a;
	return store_account_lock(tx, INT64_MAX, &a);
}

static void test_account_lock_is_followed_not_overtaken(void **state)
{
	struct fixture *f = *state;
	struct lock_race lr = {.id = new_account(f, "locked"), .pwhash = "$argon2id$after"};
	struct timespec tick = {.tv_nsec = 1000 * 1000};

	assert_int_equal(store_write(f->s, lock_missing_fn, NULL), PA_ERR_NOT_FOUND);
	store_submit(f->s, lock_holder_fn, &lr, lock_holder_done);
	while (!__atomic_load_n(&lr.held, __ATOMIC_SEQ_CST))
		nanosleep(&tick, NULL);
	/* With writers side by side this one waits for the holder's commit, then reads it. */
	assert_int_equal(store_write(f->s, lock_follower_fn, &lr), PA_OK);
	while (!__atomic_load_n(&lr.done, __ATOMIC_SEQ_CST))
		nanosleep(&tick, NULL);
	assert_int_equal(lr.result, PA_OK);
	assert_string_equal(lr.seen, "$argon2id$after");
	assert_string_equal(account_by_id(f, lr.id).pwhash, "$argon2id$after");
}

static void test_account_set_password_disabled_twofactor(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "bob"), other = new_account(f, "carol");
	struct store_account a, o = account_by_id(f, other), o2;

	assert_int_equal(w_account_set_password(f->s, id, "$argon2id$new"), PA_OK);
	a = account_by_id(f, id);
	assert_string_equal(a.pwhash, "$argon2id$new");
	assert_int_equal(w_account_set_password(f->s, id, ""), PA_OK);
	a = account_by_id(f, id);
	assert_string_equal(a.pwhash, "");

	assert_int_equal(w_account_set_disabled(f->s, id, true), PA_OK);
	a = account_by_id(f, id);
	assert_true(a.disabled);
	assert_false(a.twofactor);
	assert_int_equal(w_account_set_twofactor(f->s, id, true), PA_OK);
	a = account_by_id(f, id);
	assert_true(a.disabled);
	assert_true(a.twofactor);
	/* setting a value it already has is not a failure */
	assert_int_equal(w_account_set_twofactor(f->s, id, true), PA_OK);
	assert_int_equal(w_account_set_disabled(f->s, id, false), PA_OK);
	assert_int_equal(w_account_set_twofactor(f->s, id, false), PA_OK);
	a = account_by_id(f, id);
	assert_false(a.disabled);
	assert_false(a.twofactor);
	assert_int_equal(a.created_at, T0);

	/* another account is untouched */
	o2 = account_by_id(f, other);
	assert_account_equal(&o2, &o);
}

struct account_seen {
	const struct fixture *f;           /* whose accounts count */
	char names[8][STORE_NAME_MAX + 1]; /* the test's accounts, in call order */
	unsigned n;                        /* how many of them */
	unsigned calls;                    /* calls of any account */
	unsigned stop_after;               /* return false at this call (0 = never) */
};

static bool account_seen(void *arg, const struct store_account *a)
{
	struct account_seen *seen = arg;

	seen->calls++;
	if (ours(seen->f, a->name)) {
		if (seen->n < 8)
			snprintf(seen->names[seen->n], sizeof seen->names[0], "%s", a->name);
		seen->n++;
	}
	return seen->stop_after == 0 || seen->calls < seen->stop_after;
}

static void test_account_list_in_name_order(void **state)
{
	struct fixture *f = *state;
	static const char *const made[] = {"mike", "alpha", "zulu", "bravo", "kilo"};
	static const char *const sorted[] = {"alpha", "bravo", "kilo", "mike", "zulu"};
	struct account_seen seen = {.f = f};
	char want[STORE_NAME_MAX + 1];
	unsigned i;

	for (i = 0; i < 5; i++)
		new_account(f, made[i]);
	assert_int_equal(store_account_list(f->rd, account_seen, &seen), PA_OK);
	assert_int_equal(seen.n, 5);
	for (i = 0; i < 5; i++) {
		uniq(f, sorted[i], want, sizeof want);
		assert_string_equal(seen.names[i], want);
	}

	/* fn returning false stops the walk */
	seen = (struct account_seen){.f = f, .stop_after = 2};
	assert_int_equal(store_account_list(f->rd, account_seen, &seen), PA_OK);
	assert_int_equal(seen.calls, 2);
}

/* ---- code generator (TOTP) ---------------------------------------------------------------- */

static void test_totp_put_get_round_trip(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "totp"), other = new_account(f, "nototp");
	struct store_totp t, got;

	/* a pending generator, no step accepted yet */
	totp_sample(&t, 61);
	t.alg = OTP_SHA256;
	t.digits = 8;
	t.period = 60;
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	got = totp_get(f, id);
	assert_totp_equal(&got, &t);
	assert_false(got.has_last);

	/* replaced by one with every field set, the largest sealed value */
	totp_sample(&t, STORE_SEALED_MAX);
	t.alg = OTP_SHA512;
	t.digits = 7;
	t.period = 45;
	t.confirmed = true;
	t.has_last = true;
	t.last_step = INT64_C(56666666);
	t.drift = -2;
	t.created_at = T0 + 1234;
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	got = totp_get(f, id);
	assert_totp_equal(&got, &t);

	/* an account without one, and one deleted */
	assert_int_equal(store_totp_get(f->rd, other, &got), PA_ERR_NOT_FOUND);
	assert_int_equal(w_totp_delete(f->s, id), PA_OK);
	assert_int_equal(store_totp_get(f->rd, id, &got), PA_ERR_NOT_FOUND);
}

/* RFC 6238 §5.2: a step is accepted once; nothing at or before the last accepted step. */
static void test_totp_consume_accepts_a_step_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "once");
	struct store_totp t, got, want;

	totp_sample(&t, 80);
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	t = totp_get(f, id);

	assert_int_equal(w_totp_consume(f->s, id, &t, 1000, 1), PA_OK);
	got = totp_get(f, id);
	want = t;
	want.confirmed = true;
	want.has_last = true;
	want.last_step = 1000;
	want.drift = 1;
	assert_totp_equal(&got, &want);

	/* the same step again, and an earlier one: refused, and nothing recorded */
	assert_int_equal(w_totp_consume(f->s, id, &t, 1000, 0), PA_ERR_CONFLICT);
	assert_int_equal(w_totp_consume(f->s, id, &got, 1000, 0), PA_ERR_CONFLICT);
	assert_int_equal(w_totp_consume(f->s, id, &got, 999, -1), PA_ERR_CONFLICT);
	assert_int_equal(w_totp_consume(f->s, id, &got, 0, 0), PA_ERR_CONFLICT);
	got = totp_get(f, id);
	assert_totp_equal(&got, &want);

	/* a later one: accepted (with a struct read before the first consume, too) */
	assert_int_equal(w_totp_consume(f->s, id, &t, 1001, 0), PA_OK);
	got = totp_get(f, id);
	want.last_step = 1001;
	want.drift = 0;
	assert_totp_equal(&got, &want);
	assert_int_equal(w_totp_consume(f->s, id, &got, 1005, -1), PA_OK);
	got = totp_get(f, id);
	want.last_step = 1005;
	want.drift = -1;
	assert_totp_equal(&got, &want);
}

/* The test's audit rows of account (0 = all) at or after since, checked to be in order. */
struct audit_seen {
	const struct fixture *f;   /* whose events count (client starts with the prefix) */
	struct store_audit got[8]; /* the test's events as listed */
	unsigned n;                /* how many */
};

static bool audit_seen(void *arg, const struct store_audit *a)
{
	struct audit_seen *seen = arg;

	if (ours(seen->f, a->client)) {
		if (seen->n < 8)
			seen->got[seen->n] = *a;
		seen->n++;
	}
	return true;
}

static struct audit_seen audit_list(const struct fixture *f, int64_t account, int64_t since)
{
	struct audit_seen seen = {.f = f};
	unsigned i;

	assert_int_equal(store_audit_list(f->rd, account, since, audit_seen, &seen), PA_OK);
	/* oldest first: ids increase along the list */
	for (i = 1; i < seen.n && i < 8; i++)
		assert_true(seen.got[i].id > seen.got[i - 1].id);
	return seen;
}

static void assert_audit_equal(const struct store_audit *a, const struct store_audit *b)
{
	assert_int_equal(a->at, b->at);
	assert_int_equal(a->account, b->account);
	assert_string_equal(a->account_name, b->account_name);
	assert_string_equal(a->event, b->event);
	assert_string_equal(a->outcome, b->outcome);
	assert_string_equal(a->ip, b->ip);
	assert_string_equal(a->client, b->client);
	assert_string_equal(a->detail, b->detail);
}

/* The unthrottled consume: as store_totp_consume while the account has no counter, refused
 * (and nothing recorded) while it has one, whatever the counter holds. */
static void test_totp_consume_unthrottled_only_without_a_counter(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "unthrottled");
	char key[STORE_LIMIT_KEY_MAX], other[STORE_LIMIT_KEY_MAX];
	const uint8_t blob[4] = {0};
	struct store_totp t, got, want, other_t;
	struct store_audit au;
	struct audit_seen seen;

	memset(&au, 0, sizeof au);
	au.at = T0;
	au.account = id;
	snprintf(au.account_name, sizeof au.account_name, "%s-unthrottled", f->prefix);
	snprintf(au.event, sizeof au.event, "check");
	snprintf(au.outcome, sizeof au.outcome, "ok");
	snprintf(au.ip, sizeof au.ip, "192.0.2.7");
	snprintf(au.client, sizeof au.client, "%s-client", f->prefix);
	snprintf(au.detail, sizeof au.detail, "method=totp \xc3\xa9");
	uniq(f, "acct-key", key, sizeof key);
	uniq(f, "other-key", other, sizeof other);
	totp_sample(&t, 80);
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	t = totp_get(f, id);

	/* no counter: consumed, as store_totp_consume would; another key's counter is no matter */
	assert_int_equal(w_limit_put(f->s, other, blob, sizeof blob, T0 + 3600), PA_OK);
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &t, 1000, 1, key, &au), PA_OK);
	got = totp_get(f, id);
	want = t;
	want.confirmed = true;
	want.has_last = true;
	want.last_step = 1000;
	want.drift = 1;
	assert_totp_equal(&got, &want);

	/* a replay, or a generator that changed since: refused */
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &t, 1000, 0, key, &au),
	                 PA_ERR_CONFLICT);
	other_t = t;
	other_t.sealed[0] ^= 1;
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &other_t, 1001, 0, key, &au),
	                 PA_ERR_CONFLICT);
	got = totp_get(f, id);
	assert_totp_equal(&got, &want);

	/* with a counter under the key (even an all-zero one): refused, nothing recorded */
	assert_int_equal(w_limit_put(f->s, key, blob, sizeof blob, T0 + 3600), PA_OK);
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &t, 1001, 0, key, NULL),
	                 PA_ERR_CONFLICT);
	got = totp_get(f, id);
	assert_totp_equal(&got, &want);
	/* and the ordinary consume still takes that step */
	assert_int_equal(w_totp_consume(f->s, id, &t, 1001, 0), PA_OK);

	/* the audit row: added with the one consumption, and by none of the refusals */
	seen = audit_list(f, id, 0);
	assert_int_equal(seen.n, 1);
	au.id = seen.got[0].id;
	assert_audit_equal(&seen.got[0], &au);
}

/* store_check_read: the service, the account and its generator, or as much as exists. */
static void test_check_read_finds_what_exists(void **state)
{
	struct fixture *f = *state;
	struct store_service svc, got_svc;
	struct store_check_read cr;
	struct store_totp t;
	char name[STORE_NAME_MAX + 1], bare[STORE_NAME_MAX + 1], missing[STORE_NAME_MAX + 1];
	uint8_t unknown[STORE_HASH_LEN];
	int64_t id = 0, bare_id = 0;

	memset(&svc, 0, sizeof svc);
	uniq(f, "checker", svc.name, sizeof svc.name);
	rand_hash(svc.key_hash);
	svc.created_at = T0;
	assert_int_equal(w_service_add(f->s, &svc), PA_OK);
	assert_int_equal(store_service_by_key(f->rd, svc.key_hash, &got_svc), PA_OK);
	uniq(f, "checked", name, sizeof name);
	uniq(f, "bare", bare, sizeof bare);
	uniq(f, "missing", missing, sizeof missing);
	assert_int_equal(w_account_create(f->s, name, "", svc.id, T0, &id), PA_OK);
	assert_int_equal(w_account_create(f->s, bare, "", 0, T0, &bare_id), PA_OK);
	totp_sample(&t, 72);
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	t = totp_get(f, id);

	/* everything */
	assert_int_equal(store_check_read(f->rd, svc.key_hash, name, &cr), PA_OK);
	assert_int_equal(cr.service.id, got_svc.id);
	assert_string_equal(cr.service.name, got_svc.name);
	assert_memory_equal(cr.service.key_hash, got_svc.key_hash, STORE_HASH_LEN);
	assert_false(cr.service.disabled);
	assert_true(cr.has_account);
	{
		struct store_account want = account_by_id(f, id);
		assert_int_equal(cr.account.id, want.id);
		assert_string_equal(cr.account.name, want.name);
		assert_int_equal(cr.account.service_id, svc.id);
		assert_int_equal(cr.account.created_at, want.created_at);
	}
	assert_true(cr.has_totp);
	assert_totp_equal(&cr.totp, &t);

	/* an account (of another service) without a generator */
	assert_int_equal(store_check_read(f->rd, svc.key_hash, bare, &cr), PA_OK);
	assert_true(cr.has_account);
	assert_int_equal(cr.account.id, bare_id);
	assert_int_equal(cr.account.service_id, 0);
	assert_false(cr.has_totp);

	/* no such account */
	assert_int_equal(store_check_read(f->rd, svc.key_hash, missing, &cr), PA_OK);
	assert_int_equal(cr.service.id, svc.id);
	assert_false(cr.has_account);
	assert_false(cr.has_totp);

	/* no such service, whatever the name */
	rand_hash(unknown);
	assert_int_equal(store_check_read(f->rd, unknown, name, &cr), PA_ERR_NOT_FOUND);
}

/* A code checked against a generator that has since been replaced or removed is not used. */
static void test_totp_consume_refuses_replaced_generator(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "replaced");
	struct store_totp old, fresh, got;

	totp_sample(&old, 70);
	assert_int_equal(w_totp_put(f->s, id, &old), PA_OK);
	assert_int_equal(w_totp_consume(f->s, id, &old, 500, 0), PA_OK);
	old = totp_get(f, id);

	/* re-enrolment: a different sealed secret, pending */
	totp_sample(&fresh, 70);
	fresh.created_at = T0 + 60;
	assert_int_equal(w_totp_put(f->s, id, &fresh), PA_OK);
	assert_int_equal(w_totp_consume(f->s, id, &old, 501, 0), PA_ERR_CONFLICT);
	assert_int_equal(w_totp_consume(f->s, id, &old, 9999, 0), PA_ERR_CONFLICT);
	got = totp_get(f, id);
	assert_totp_equal(&got, &fresh);
	assert_false(got.confirmed);
	assert_false(got.has_last);

	/* read afresh, the new generator takes its first step and is confirmed */
	assert_int_equal(w_totp_consume(f->s, id, &got, 600, 1), PA_OK);
	got = totp_get(f, id);
	assert_true(got.confirmed);
	assert_true(got.has_last);
	assert_int_equal(got.last_step, 600);

	/* removed: nothing to consume */
	assert_int_equal(w_totp_delete(f->s, id), PA_OK);
	assert_int_equal(w_totp_consume(f->s, id, &got, 700, 0), PA_ERR_CONFLICT);
	assert_int_equal(store_totp_get(f->rd, id, &got), PA_ERR_NOT_FOUND);
}

/* However many requests race with the same code, one step is accepted once. */
static void test_totp_consume_once_under_race(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "race");
	struct store_totp t, got;

	totp_sample(&t, 64);
	assert_int_equal(w_totp_put(f->s, id, &t), PA_OK);
	t = totp_get(f, id);
	assert_int_equal(race(f->s, c_totp_consume(id, &t, 2000, 0)), 1);
	got = totp_get(f, id);
	assert_int_equal(got.last_step, 2000);
	assert_int_equal(race(f->s, c_totp_consume(id, &got, 2001, 0)), 1);
}

/* ---- backup codes -------------------------------------------------------------------------- */

static struct store_backup backup_row(uint32_t generation, enum store_backup_status status)
{
	struct store_backup b;

	memset(&b, 0, sizeof b);
	b.generation = generation;
	rand_hash(b.hash);
	b.status = status;
	b.created_at = T0 + generation;
	return b;
}

static void assert_backup_equal(const struct store_backup *a, const struct store_backup *b)
{
	assert_int_equal(a->generation, b->generation);
	assert_memory_equal(a->hash, b->hash, STORE_HASH_LEN);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->created_at, b->created_at);
}

static size_t backup_list(const struct fixture *f, int64_t account, struct store_backup *out,
                          size_t max)
{
	size_t n = 999;

	assert_int_equal(store_backup_list(f->rd, account, out, max, &n), PA_OK);
	assert_true(n <= max);
	return n;
}

static void test_backup_add_and_list_oldest_first(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "codes"), other = new_account(f, "nocodes");
	struct store_backup rows[3], got[STORE_BACKUP_MAX];
	size_t i;

	assert_int_equal(backup_list(f, id, got, STORE_BACKUP_MAX), 0);
	rows[0] = backup_row(1, STORE_BACKUP_USED);
	rows[1] = backup_row(2, STORE_BACKUP_ACTIVE);
	rows[2] = backup_row(3, STORE_BACKUP_RETIRED);
	/* added out of order */
	assert_int_equal(w_backup_add(f->s, id, &rows[2]), PA_OK);
	assert_int_equal(w_backup_add(f->s, id, &rows[0]), PA_OK);
	assert_int_equal(w_backup_add(f->s, id, &rows[1]), PA_OK);

	assert_int_equal(backup_list(f, id, got, STORE_BACKUP_MAX), 3);
	for (i = 0; i < 3; i++)
		assert_backup_equal(&got[i], &rows[i]);
	/* up to max rows: the newest ones, oldest first */
	assert_int_equal(backup_list(f, id, got, 2), 2);
	assert_backup_equal(&got[0], &rows[1]);
	assert_backup_equal(&got[1], &rows[2]);

	/* found by hash, in this account only */
	{
		struct store_backup one;
		struct store_tx *rd = store_reader(f->s);
		assert_non_null(rd);
		assert_int_equal(store_backup_find(rd, id, rows[2].hash, &one), PA_OK);
		assert_backup_equal(&one, &rows[2]);
		assert_int_equal(store_backup_find(rd, other, rows[2].hash, &one),
		                 PA_ERR_NOT_FOUND);
		uint8_t none[STORE_HASH_LEN];
		memset(none, 0x5a, sizeof(none));
		assert_int_equal(store_backup_find(rd, id, none, &one), PA_ERR_NOT_FOUND);
	}

	/* a generation is new per account: again on the same one fails, elsewhere it is fine */
	{
		struct store_backup again = backup_row(2, STORE_BACKUP_ACTIVE);
		assert_int_equal(w_backup_add(f->s, id, &again), PA_ERR_CONFLICT);
		assert_int_equal(w_backup_add(f->s, other, &again), PA_OK);
	}
	assert_int_equal(backup_list(f, id, got, STORE_BACKUP_MAX), 3);
	assert_backup_equal(&got[1], &rows[1]);
	assert_int_equal(backup_list(f, other, got, STORE_BACKUP_MAX), 1);

	assert_int_equal(w_backup_delete_all(f->s, id), PA_OK);
	assert_int_equal(backup_list(f, id, got, STORE_BACKUP_MAX), 0);
	assert_int_equal(backup_list(f, other, got, STORE_BACKUP_MAX), 1);
}

/* A backup code is used once: only an active row changes status. */
static void test_backup_set_status_only_from_active(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "status"), other = new_account(f, "status2");
	struct store_backup b1 = backup_row(1, STORE_BACKUP_ACTIVE);
	struct store_backup b2 = backup_row(2, STORE_BACKUP_ACTIVE);
	struct store_backup b3 = backup_row(3, STORE_BACKUP_ACTIVE);
	struct store_backup got[4];

	assert_int_equal(w_backup_add(f->s, id, &b1), PA_OK);
	assert_int_equal(w_backup_add(f->s, id, &b2), PA_OK);
	assert_int_equal(w_backup_add(f->s, id, &b3), PA_OK);
	assert_int_equal(w_backup_add(f->s, other, &b1), PA_OK);

	assert_int_equal(w_backup_set_status(f->s, id, 1, STORE_BACKUP_USED), PA_OK);
	assert_int_equal(w_backup_set_status(f->s, id, 1, STORE_BACKUP_USED), PA_ERR_CONFLICT);
	assert_int_equal(w_backup_set_status(f->s, id, 1, STORE_BACKUP_RETIRED), PA_ERR_CONFLICT);
	assert_int_equal(w_backup_set_status(f->s, id, 2, STORE_BACKUP_RETIRED), PA_OK);
	assert_int_equal(w_backup_set_status(f->s, id, 2, STORE_BACKUP_USED), PA_ERR_CONFLICT);
	/* no such generation: never a success */
	assert_int_not_equal(w_backup_set_status(f->s, id, 77, STORE_BACKUP_USED), PA_OK);

	assert_int_equal(backup_list(f, id, got, 4), 3);
	assert_int_equal(got[0].status, STORE_BACKUP_USED);
	assert_int_equal(got[1].status, STORE_BACKUP_RETIRED);
	assert_int_equal(got[2].status, STORE_BACKUP_ACTIVE);
	assert_memory_equal(got[0].hash, b1.hash, STORE_HASH_LEN);
	/* the same generation of another account is its own row */
	assert_int_equal(backup_list(f, other, got, 4), 1);
	assert_int_equal(got[0].status, STORE_BACKUP_ACTIVE);

	/* racing requests with one code: used once */
	assert_int_equal(race(f->s, c_backup_set_status(id, 3, STORE_BACKUP_USED)), 1);
	assert_int_equal(backup_list(f, id, got, 4), 3);
	assert_int_equal(got[2].status, STORE_BACKUP_USED);
}

static void test_backup_trim_removes_old_history_only(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "trim");
	static const enum store_backup_status status[6] = {
	    STORE_BACKUP_USED, STORE_BACKUP_RETIRED, STORE_BACKUP_ACTIVE,
	    STORE_BACKUP_USED, STORE_BACKUP_ACTIVE,  STORE_BACKUP_USED,
	};
	struct store_backup rows[6], got[8];
	unsigned i;

	for (i = 0; i < 6; i++) {
		rows[i] = backup_row(i + 1, status[i]);
		assert_int_equal(w_backup_add(f->s, id, &rows[i]), PA_OK);
	}
	/* generations 1, 2 and 4 are history below 5; 3 is active and stays; 5 and 6 stay */
	assert_int_equal(w_backup_trim(f->s, id, 5), PA_OK);
	assert_int_equal(backup_list(f, id, got, 8), 3);
	assert_backup_equal(&got[0], &rows[2]);
	assert_backup_equal(&got[1], &rows[4]);
	assert_backup_equal(&got[2], &rows[5]);
	/* nothing more to trim */
	assert_int_equal(w_backup_trim(f->s, id, 5), PA_OK);
	assert_int_equal(backup_list(f, id, got, 8), 3);
}

/* ---- temporary passwords ------------------------------------------------------------------- */

static struct store_tmppass tmppass_row(int64_t id, int64_t created, int64_t expires)
{
	struct store_tmppass t;

	memset(&t, 0, sizeof t);
	t.id = id;
	rand_hash(t.hash);
	t.created_at = created;
	t.expires_at = expires;
	return t;
}

static size_t tmppass_list(const struct fixture *f, int64_t account, struct store_tmppass *out,
                           size_t max)
{
	size_t n = 999;

	assert_int_equal(store_tmppass_list(f->rd, account, T0, out, max, &n), PA_OK);
	assert_true(n <= max);
	return n;
}

/* The row with id among rows[0..n), or NULL. */
static const struct store_tmppass *tmppass_find(const struct store_tmppass *rows, size_t n,
                                                int64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (rows[i].id == id)
			return &rows[i];
	return NULL;
}

static void test_tmppass_add_list_and_consume_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "tmp"), other = new_account(f, "tmp2");
	struct store_tmppass rows[3], got[STORE_TMPPASS_MAX];
	const struct store_tmppass *r;
	size_t i, n;

	assert_int_equal(tmppass_list(f, id, got, STORE_TMPPASS_MAX), 0);
	for (i = 0; i < 3; i++) {
		rows[i] = tmppass_row((int64_t)i + 1, T0 + (int64_t)i, T0 + 3600 + (int64_t)i);
		assert_int_equal(w_tmppass_add(f->s, id, &rows[i]), PA_OK);
	}
	n = tmppass_list(f, id, got, STORE_TMPPASS_MAX);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		r = tmppass_find(got, n, rows[i].id);
		assert_non_null(r);
		assert_memory_equal(r->hash, rows[i].hash, STORE_HASH_LEN);
		assert_int_equal(r->created_at, rows[i].created_at);
		assert_int_equal(r->expires_at, rows[i].expires_at);
		assert_int_equal(r->used_at, 0);
	}
	/* up to max rows */
	assert_int_equal(tmppass_list(f, id, got, 2), 2);

	/* an id is new per account */
	{
		struct store_tmppass again = tmppass_row(2, T0, T0 + 60);
		assert_int_equal(w_tmppass_add(f->s, id, &again), PA_ERR_CONFLICT);
		assert_int_equal(w_tmppass_add(f->s, other, &again), PA_OK);
	}

	/* used once */
	assert_int_equal(w_tmppass_consume(f->s, id, 2, T0 + 100), PA_OK);
	assert_int_equal(w_tmppass_consume(f->s, id, 2, T0 + 101), PA_ERR_CONFLICT);
	n = tmppass_list(f, id, got, STORE_TMPPASS_MAX);
	r = tmppass_find(got, n, 2);
	assert_non_null(r);
	assert_int_equal(r->used_at, T0 + 100);
	assert_memory_equal(r->hash, rows[1].hash, STORE_HASH_LEN);
	r = tmppass_find(got, n, 1);
	assert_non_null(r);
	assert_int_equal(r->used_at, 0);
	/* the other account's id 2 is its own */
	n = tmppass_list(f, other, got, STORE_TMPPASS_MAX);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].used_at, 0);
	/* no such id: never a success */
	assert_int_not_equal(w_tmppass_consume(f->s, id, 99, T0 + 100), PA_OK);

	/* racing requests with one password: used once */
	assert_int_equal(race(f->s, c_tmppass_consume(id, 3, T0 + 200)), 1);
	n = tmppass_list(f, id, got, STORE_TMPPASS_MAX);
	r = tmppass_find(got, n, 3);
	assert_non_null(r);
	assert_int_equal(r->used_at, T0 + 200);
}

/* Lowest id first: factors.c (tmppass_load) takes the last row as the newest, and a row changed
 * in place must not move. */
static void test_tmppass_list_in_id_order(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "order");
	struct store_tmppass row, got[STORE_TMPPASS_MAX];
	size_t i;

	for (i = 1; i <= 4; i++) {
		row = tmppass_row((int64_t)i, T0, T0 + 3600);
		assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	}
	assert_int_equal(w_tmppass_consume(f->s, id, 3, T0 + 1), PA_OK);
	assert_int_equal(w_tmppass_consume(f->s, id, 1, T0 + 2), PA_OK);
	assert_int_equal(tmppass_list(f, id, got, STORE_TMPPASS_MAX), 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(got[i].id, (int64_t)i + 1);
	/* Two of them: the two unused ones (2 and 4), still in id order. */
	assert_int_equal(tmppass_list(f, id, got, 2), 2);
	assert_int_equal(got[0].id, 2);
	assert_int_equal(got[1].id, 4);
}

/* Fewer rows than the account has: every one still usable at now, then the newest others.  The
 * store kept only the oldest rows before, and so lost both a new password and the latest id
 * once an account had made more than STORE_TMPPASS_MAX in a day. */
static void test_tmppass_list_keeps_usable_and_newest(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "many");
	struct store_tmppass row, got[STORE_TMPPASS_MAX];
	size_t n = 999;
	int64_t i;

	/* 1 usable (expires after now = T0), 2 expired unused, then 3..30 used */
	row = tmppass_row(1, T0 - 100, T0 + 3600);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	row = tmppass_row(2, T0 - 100, T0);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	for (i = 3; i <= 30; i++) {
		row = tmppass_row(i, T0 - 50, T0 + 3600);
		assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
		assert_int_equal(w_tmppass_consume(f->s, id, i, T0 - 10), PA_OK);
	}
	assert_int_equal(store_tmppass_list(f->rd, id, T0, got, 4, &n), PA_OK);
	assert_int_equal(n, 4);
	assert_int_equal(got[0].id, 1); /* the usable one, however old */
	assert_int_equal(got[1].id, 28);
	assert_int_equal(got[2].id, 29);
	assert_int_equal(got[3].id, 30); /* the latest id */
	/* Later, when 1 has expired too: the newest only. */
	assert_int_equal(store_tmppass_list(f->rd, id, T0 + 3600, got, 2, &n), PA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].id, 29);
	assert_int_equal(got[1].id, 30);
	/* All of them when there is room. */
	assert_int_equal(store_tmppass_list(f->rd, id, T0, got, STORE_TMPPASS_MAX, &n), PA_OK);
	assert_int_equal(n, STORE_TMPPASS_MAX);
	assert_int_equal(got[0].id, 1);
	assert_int_equal(got[STORE_TMPPASS_MAX - 1].id, 30);
	for (i = 1; i < STORE_TMPPASS_MAX; i++)
		assert_true(got[i - 1].id < got[i].id);
}

static void test_tmppass_delete_and_purge(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "purge"), other = new_account(f, "purge2");
	const int64_t before = T0 + 1000;
	struct store_tmppass got[STORE_TMPPASS_MAX], row;
	size_t n;

	/* 1: expired before `before`, unused          -> purged
	 * 2: used before `before`, not expired         -> purged
	 * 3: unused, expires after `before`             -> kept
	 * 4: used at or after `before`, not expired    -> kept
	 * 5: deleted by id */
	row = tmppass_row(1, T0, before - 1);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	row = tmppass_row(2, T0, before + 5000);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	row = tmppass_row(3, T0, before + 5000);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	row = tmppass_row(4, T0, before + 5000);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	row = tmppass_row(5, T0, before + 5000);
	assert_int_equal(w_tmppass_add(f->s, id, &row), PA_OK);
	row = tmppass_row(1, T0, before - 1);
	assert_int_equal(w_tmppass_add(f->s, other, &row), PA_OK);
	assert_int_equal(w_tmppass_consume(f->s, id, 2, before - 10), PA_OK);
	assert_int_equal(w_tmppass_consume(f->s, id, 4, before + 10), PA_OK);

	assert_int_equal(w_tmppass_delete(f->s, id, 5), PA_OK);
	n = tmppass_list(f, id, got, STORE_TMPPASS_MAX);
	assert_int_equal(n, 4);
	assert_null(tmppass_find(got, n, 5));

	assert_int_equal(w_tmppass_purge(f->s, id, before), PA_OK);
	n = tmppass_list(f, id, got, STORE_TMPPASS_MAX);
	assert_int_equal(n, 2);
	assert_non_null(tmppass_find(got, n, 3));
	assert_non_null(tmppass_find(got, n, 4));
	/* only the account's rows */
	assert_int_equal(tmppass_list(f, other, got, STORE_TMPPASS_MAX), 1);

	assert_int_equal(w_tmppass_delete_all(f->s, id), PA_OK);
	assert_int_equal(tmppass_list(f, id, got, STORE_TMPPASS_MAX), 0);
	assert_int_equal(tmppass_list(f, other, got, STORE_TMPPASS_MAX), 1);
	/* a deleted password cannot be used */
	assert_int_not_equal(w_tmppass_consume(f->s, id, 3, before), PA_OK);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static struct store_session session_new(const struct fixture *f, int64_t account,
                                        enum store_session_kind kind)
{
	struct store_session s;

	memset(&s, 0, sizeof s);
	rand_hash(s.token_hash);
	s.account = account;
	s.kind = kind;
	snprintf(s.client, sizeof s.client, "client-%s", f->prefix);
	snprintf(s.ip, sizeof s.ip, "192.0.2.7");
	s.created_at = T0;
	s.auth_at = T0 + 1;
	assert_int_equal(w_session_add(f->s, &s), PA_OK);
	assert_true(s.id != 0);
	return s;
}

static void assert_session_equal(const struct store_session *a, const struct store_session *b)
{
	assert_int_equal(a->id, b->id);
	assert_memory_equal(a->token_hash, b->token_hash, STORE_HASH_LEN);
	assert_int_equal(a->account, b->account);
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->client, b->client);
	assert_string_equal(a->ip, b->ip);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->auth_at, b->auth_at);
	assert_int_equal(a->revoked_at, b->revoked_at);
}

struct session_seen {
	int64_t ids[8];     /* listed sessions */
	unsigned n;         /* how many */
	bool other_account; /* a session of another account was listed */
	int64_t account;    /* whose list */
};

static bool session_seen(void *arg, const struct store_session *s)
{
	struct session_seen *seen = arg;

	if (s->account != seen->account)
		seen->other_account = true;
	if (seen->n < 8)
		seen->ids[seen->n] = s->id;
	seen->n++;
	return true;
}

static bool session_listed(const struct session_seen *seen, int64_t id)
{
	unsigned i;

	for (i = 0; i < seen->n && i < 8; i++)
		if (seen->ids[i] == id)
			return true;
	return false;
}

static struct session_seen session_list(const struct fixture *f, int64_t account)
{
	struct session_seen seen = {.account = account};

	assert_int_equal(store_session_list(f->rd, account, session_seen, &seen), PA_OK);
	assert_false(seen.other_account);
	return seen;
}

static void test_session_add_and_by_token(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "ses");
	struct store_session a, b, got;
	uint8_t unknown[STORE_HASH_LEN];

	a = session_new(f, id, STORE_SESSION_WEB);
	got = session_by_token(f, a.token_hash);
	assert_session_equal(&got, &a);
	assert_int_equal(got.revoked_at, 0);

	/* the longest client, an IPv6 address, an app session: a new id */
	memset(&b, 0, sizeof b);
	rand_hash(b.token_hash);
	b.account = id;
	b.kind = STORE_SESSION_APP;
	fill(b.client, 'c', STORE_CLIENT_MAX);
	snprintf(b.ip, sizeof b.ip, "2001:db8::1");
	b.created_at = T0 + 7;
	b.auth_at = T0 + 8;
	assert_int_equal(w_session_add(f->s, &b), PA_OK);
	assert_int_not_equal(b.id, a.id);
	got = session_by_token(f, b.token_hash);
	assert_session_equal(&got, &b);

	/* set_auth moves auth_at only */
	assert_int_equal(w_session_set_auth(f->s, b.id, T0 + 500), PA_OK);
	got = session_by_token(f, b.token_hash);
	b.auth_at = T0 + 500;
	assert_session_equal(&got, &b);
	got = session_by_token(f, a.token_hash);
	assert_session_equal(&got, &a);

	/* a token is one session's */
	memcpy(b.token_hash, a.token_hash, STORE_HASH_LEN);
	assert_int_equal(w_session_add(f->s, &b), PA_ERR_CONFLICT);
	rand_hash(unknown);
	assert_int_equal(store_session_by_token(f->rd, unknown, &got), PA_ERR_NOT_FOUND);
}

static void test_session_list_and_revoke(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "list"), other = new_account(f, "list2");
	struct store_session s1 = session_new(f, id, STORE_SESSION_WEB);
	struct store_session s2 = session_new(f, id, STORE_SESSION_APP);
	struct store_session s3 = session_new(f, id, STORE_SESSION_WEB);
	struct store_session o1 = session_new(f, other, STORE_SESSION_WEB);
	struct store_session got;
	struct session_seen seen;

	seen = session_list(f, id);
	assert_int_equal(seen.n, 3);
	assert_true(session_listed(&seen, s1.id));
	assert_true(session_listed(&seen, s2.id));
	assert_true(session_listed(&seen, s3.id));

	assert_int_equal(w_session_revoke(f->s, id, s2.id, T0 + 50), PA_OK);
	got = session_by_token(f, s2.token_hash);
	assert_int_equal(got.revoked_at, T0 + 50);
	/* not live any more, or not the account's: not found */
	assert_int_equal(w_session_revoke(f->s, id, s2.id, T0 + 60), PA_ERR_NOT_FOUND);
	got = session_by_token(f, s2.token_hash);
	assert_int_equal(got.revoked_at, T0 + 50);
	assert_int_equal(w_session_revoke(f->s, id, o1.id, T0 + 60), PA_ERR_NOT_FOUND);
	got = session_by_token(f, o1.token_hash);
	assert_int_equal(got.revoked_at, 0);
	assert_int_equal(w_session_revoke(f->s, id, INT64_MAX, T0 + 60), PA_ERR_NOT_FOUND);

	/* the list is of live sessions: store.h does not say so yet, but the sessions page
	 * (sessions.c) and `pahara admin` show what it lists without filtering */
	seen = session_list(f, id);
	assert_int_equal(seen.n, 2);
	assert_true(session_listed(&seen, s1.id));
	assert_true(session_listed(&seen, s3.id));
	seen = session_list(f, other);
	assert_int_equal(seen.n, 1);
}

static void test_session_revoke_all_except_one(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "all"), other = new_account(f, "all2");
	struct store_session s[4], o1, got;
	unsigned i, n = 99;

	for (i = 0; i < 4; i++)
		s[i] = session_new(f, id, STORE_SESSION_WEB);
	o1 = session_new(f, other, STORE_SESSION_APP);
	assert_int_equal(w_session_revoke(f->s, id, s[3].id, T0 + 10), PA_OK);

	/* every live one but s[1]: two */
	assert_int_equal(w_session_revoke_all(f->s, id, s[1].id, T0 + 20, &n), PA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(session_by_token(f, s[0].token_hash).revoked_at, T0 + 20);
	assert_int_equal(session_by_token(f, s[1].token_hash).revoked_at, 0);
	assert_int_equal(session_by_token(f, s[2].token_hash).revoked_at, T0 + 20);
	/* a session revoked before keeps its time */
	assert_int_equal(session_by_token(f, s[3].token_hash).revoked_at, T0 + 10);
	got = session_by_token(f, o1.token_hash);
	assert_int_equal(got.revoked_at, 0);

	/* keep = 0: all of them, that is the one left; then none */
	n = 99;
	assert_int_equal(w_session_revoke_all(f->s, id, 0, T0 + 30, &n), PA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(session_by_token(f, s[1].token_hash).revoked_at, T0 + 30);
	n = 99;
	assert_int_equal(w_session_revoke_all(f->s, id, 0, T0 + 40, &n), PA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(session_list(f, id).n, 0);
	assert_int_equal(session_list(f, other).n, 1);
}

/* ---- pending sign-ins ---------------------------------------------------------------------- */

static struct store_login login_new_at(const struct fixture *f, int64_t account, int64_t created_at,
                                       int64_t expires_at)
{
	struct store_login l;

	memset(&l, 0, sizeof l);
	rand_hash(l.id_hash);
	l.account = account;
	l.state = STORE_LOGIN_PENDING;
	snprintf(l.client, sizeof l.client, "client-%s", f->prefix);
	snprintf(l.ip, sizeof l.ip, "198.51.100.4");
	l.created_at = created_at;
	l.expires_at = expires_at;
	assert_int_equal(w_login_add(f->s, &l), PA_OK);
	return l;
}

static struct store_login login_new(const struct fixture *f, int64_t account)
{
	return login_new_at(f, account, T0, T0 + 300);
}

static void test_login_add_fail_and_end_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "login");
	struct store_login l = login_new(f, id), l2 = login_new(f, id), got;
	uint8_t unknown[STORE_HASH_LEN];
	unsigned failures = 99;

	got = login_by_hash(f, l.id_hash);
	assert_int_equal(got.id, l.id);
	assert_memory_equal(got.id_hash, l.id_hash, STORE_HASH_LEN);
	assert_int_equal(got.account, id);
	assert_int_equal(got.state, STORE_LOGIN_PENDING);
	assert_int_equal(got.failures, 0);
	assert_string_equal(got.client, l.client);
	assert_string_equal(got.ip, l.ip);
	assert_int_equal(got.created_at, T0);
	assert_int_equal(got.expires_at, T0 + 300);
	assert_int_equal(got.session, 0);
	assert_int_not_equal(l2.id, l.id);
	rand_hash(unknown);
	assert_int_equal(store_login_by_hash(f->rd, unknown, &got), PA_ERR_NOT_FOUND);

	/* wrong codes are counted, and the count is returned */
	assert_int_equal(w_login_fail(f->s, l.id, &failures), PA_OK);
	assert_int_equal(failures, 1);
	assert_int_equal(w_login_fail(f->s, l.id, &failures), PA_OK);
	assert_int_equal(failures, 2);
	got = login_by_hash(f, l.id_hash);
	assert_int_equal(got.failures, 2);
	assert_int_equal(got.state, STORE_LOGIN_PENDING);
	assert_int_equal(login_by_hash(f, l2.id_hash).failures, 0);

	/* ended once */
	assert_int_equal(w_login_end(f->s, l.id, STORE_LOGIN_DONE, 4242), PA_OK);
	got = login_by_hash(f, l.id_hash);
	assert_int_equal(got.state, STORE_LOGIN_DONE);
	assert_int_equal(got.session, 4242);
	assert_int_equal(w_login_end(f->s, l.id, STORE_LOGIN_DONE, 4343), PA_ERR_CONFLICT);
	assert_int_equal(w_login_end(f->s, l.id, STORE_LOGIN_FAILED, 0), PA_ERR_CONFLICT);
	failures = 99;
	assert_int_equal(w_login_fail(f->s, l.id, &failures), PA_ERR_CONFLICT);
	got = login_by_hash(f, l.id_hash);
	assert_int_equal(got.state, STORE_LOGIN_DONE);
	assert_int_equal(got.session, 4242);
	assert_int_equal(got.failures, 2);

	/* denied on a phone is an end too */
	assert_int_equal(w_login_end(f->s, l2.id, STORE_LOGIN_DENIED, 0), PA_OK);
	assert_int_equal(login_by_hash(f, l2.id_hash).state, STORE_LOGIN_DENIED);
	assert_int_equal(w_login_end(f->s, l2.id, STORE_LOGIN_DONE, 1), PA_ERR_CONFLICT);
	assert_int_equal(w_login_fail(f->s, l2.id, &failures), PA_ERR_CONFLICT);
}

/* A password change or a disable ends the account's pending sign-ins, and no others. */
static void test_login_end_all_ends_the_accounts_pending_ones(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "ends"), other = new_account(f, "ends2");
	struct store_login a = login_new(f, id), b = login_new(f, id), done = login_new(f, id);
	struct store_login theirs = login_new(f, other), got;
	unsigned n = 99;

	assert_int_equal(w_login_end(f->s, done.id, STORE_LOGIN_DONE, 7), PA_OK);
	assert_int_equal(w_login_end_all(f->s, id, STORE_LOGIN_FAILED, &n), PA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_login_by_hash(f->rd, a.id_hash, &got), PA_OK);
	assert_int_equal(got.state, STORE_LOGIN_FAILED);
	assert_int_equal(store_login_by_hash(f->rd, b.id_hash, &got), PA_OK);
	assert_int_equal(got.state, STORE_LOGIN_FAILED);
	assert_int_equal(store_login_by_hash(f->rd, done.id_hash, &got), PA_OK);
	assert_int_equal(got.state, STORE_LOGIN_DONE);
	assert_int_equal(got.session, 7);
	assert_int_equal(store_login_by_hash(f->rd, theirs.id_hash, &got), PA_OK);
	assert_int_equal(got.state, STORE_LOGIN_PENDING);
	/* None left: not an error, and nothing ended. */
	assert_int_equal(w_login_end_all(f->s, id, STORE_LOGIN_FAILED, &n), PA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(w_login_end(f->s, a.id, STORE_LOGIN_DONE, 1), PA_ERR_CONFLICT);
}

static void test_login_end_once_under_race(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "loginrace");
	struct store_login l = login_new(f, id);

	assert_int_equal(race(f->s, c_login_end(l.id, STORE_LOGIN_DONE, 7)), 1);
	assert_int_equal(login_by_hash(f, l.id_hash).state, STORE_LOGIN_DONE);
}

/* ---- throttling counters ------------------------------------------------------------------- */

/* store_limit_get in a write transaction (PostgreSQL reads it another way: under a lock). */
struct limit_read {
	const char *key; /* which */
	uint8_t blob[8]; /* out */
	size_t len;      /* out */
};

static enum pa_err limit_read_fn(struct store_tx *tx, void *arg)
{
	struct limit_read *lr = arg;
	return store_limit_get(tx, lr->key, lr->blob, sizeof lr->blob, &lr->len);
}

static void test_limit_get_put_overwrite(void **state)
{
	struct fixture *f = *state;
	char key[STORE_LIMIT_KEY_MAX], key2[STORE_LIMIT_KEY_MAX];
	uint8_t blob[STORE_LIMIT_BLOB_MAX], got[STORE_LIMIT_BLOB_MAX], small[16], got_small[16];
	uint8_t zeros[STORE_LIMIT_BLOB_MAX] = {0};
	size_t len = 99;
	size_t n;

	/* the longest key a caller's char key[STORE_LIMIT_KEY_MAX] holds */
	n = (size_t)snprintf(key, sizeof key, "ip:%s", f->prefix);
	fill(key + n, 'k', STORE_LIMIT_KEY_MAX - 1 - n);
	snprintf(key2, sizeof key2, "acct:%s", f->prefix);

	assert_int_equal(store_limit_get(f->rd, key, got, sizeof got, &len), PA_OK);
	assert_int_equal(len, 0);
	struct limit_read lr = {.key = key, .len = 99};
	assert_int_equal(store_write(f->s, limit_read_fn, &lr), PA_OK);
	assert_int_equal(lr.len, 0); /* no row, also read to write back */

	randombytes_buf(blob, sizeof blob);
	assert_int_equal(w_limit_put(f->s, key, blob, sizeof blob, T0 + 60), PA_OK);
	randombytes_buf(small, sizeof small);
	assert_int_equal(w_limit_put(f->s, key2, small, sizeof small, T0 + 60), PA_OK);
	assert_int_equal(store_limit_get(f->rd, key, got, sizeof got, &len), PA_OK);
	assert_int_equal(len, sizeof blob);
	assert_memory_equal(got, blob, sizeof blob);

	/* overwritten: the new value, the other key untouched */
	randombytes_buf(blob, sizeof blob);
	assert_int_equal(w_limit_put(f->s, key, blob, sizeof blob, T0 + 120), PA_OK);
	assert_int_equal(store_limit_get(f->rd, key, got, sizeof got, &len), PA_OK);
	assert_int_equal(len, sizeof blob);
	assert_memory_equal(got, blob, sizeof blob);
	assert_int_equal(store_limit_get(f->rd, key2, got_small, sizeof got_small, &len), PA_OK);
	assert_int_equal(len, sizeof small);
	assert_memory_equal(got_small, small, sizeof small);

	/* A blob of another size than the caller's is told from none: its size, and as much of
	 * it as fits (a shorter one padded with zeros). */
	assert_int_equal(store_limit_get(f->rd, key, got_small, sizeof got_small, &len), PA_OK);
	assert_int_equal(len, sizeof blob);
	assert_memory_equal(got_small, blob, sizeof got_small);
	assert_int_equal(store_limit_get(f->rd, key2, got, sizeof got, &len), PA_OK);
	assert_int_equal(len, sizeof small);
	assert_memory_equal(got, small, sizeof small);
	assert_memory_equal(got + sizeof small, zeros, sizeof got - sizeof small);
	lr.key = key2;
	assert_int_equal(store_write(f->s, limit_read_fn, &lr), PA_OK);
	assert_int_equal(lr.len, sizeof small);
	assert_memory_equal(lr.blob, small, sizeof lr.blob);
}

/* ---- services ------------------------------------------------------------------------------ */

struct service_seen {
	const struct fixture *f;     /* whose services count */
	struct store_service got[4]; /* the test's services as listed */
	unsigned n;                  /* how many */
};

static bool service_seen(void *arg, const struct store_service *s)
{
	struct service_seen *seen = arg;

	if (ours(seen->f, s->name)) {
		if (seen->n < 4)
			seen->got[seen->n] = *s;
		seen->n++;
	}
	return true;
}

static void assert_service_equal(const struct store_service *a, const struct store_service *b)
{
	assert_int_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_memory_equal(a->key_hash, b->key_hash, STORE_HASH_LEN);
	assert_int_equal(a->disabled, b->disabled);
	assert_int_equal(a->created_at, b->created_at);
}

static void test_service_add_by_key_and_list(void **state)
{
	struct fixture *f = *state;
	struct store_service a, b, dup, got;
	struct service_seen seen = {.f = f};
	uint8_t unknown[STORE_HASH_LEN];
	unsigned i;

	memset(&a, 0, sizeof a);
	uniq(f, "shop", a.name, sizeof a.name);
	rand_hash(a.key_hash);
	a.created_at = T0;
	assert_int_equal(w_service_add(f->s, &a), PA_OK);
	assert_true(a.id != 0);
	b = a;
	uniq(f, "forum", b.name, sizeof b.name);
	rand_hash(b.key_hash);
	b.created_at = T0 + 1;
	assert_int_equal(w_service_add(f->s, &b), PA_OK);
	assert_int_not_equal(b.id, a.id);

	memset(&got, 0xa5, sizeof got);
	assert_int_equal(store_service_by_key(f->rd, a.key_hash, &got), PA_OK);
	assert_service_equal(&got, &a);
	assert_int_equal(store_service_by_key(f->rd, b.key_hash, &got), PA_OK);
	assert_service_equal(&got, &b);
	rand_hash(unknown);
	assert_int_equal(store_service_by_key(f->rd, unknown, &got), PA_ERR_NOT_FOUND);

	/* a name is one service's, and so is a key */
	dup = a;
	rand_hash(dup.key_hash);
	assert_int_equal(w_service_add(f->s, &dup), PA_ERR_CONFLICT);
	dup = a;
	uniq(f, "other", dup.name, sizeof dup.name);
	assert_int_equal(w_service_add(f->s, &dup), PA_ERR_CONFLICT);

	assert_int_equal(store_service_list(f->rd, service_seen, &seen), PA_OK);
	assert_int_equal(seen.n, 2);
	for (i = 0; i < 2; i++)
		assert_service_equal(&seen.got[i], seen.got[i].id == a.id ? &a : &b);
	assert_int_not_equal(seen.got[0].id, seen.got[1].id);
}

/* ---- key checks --------------------------------------------------------------------------- */

/* A check named prefix + base, with len random bytes. */
static struct store_key_check key_check_sample(const struct fixture *f, const char *base,
                                               size_t len)
{
	struct store_key_check k;

	memset(&k, 0, sizeof k);
	uniq(f, base, k.name, sizeof k.name);
	randombytes_buf(k.value, len);
	k.len = len;
	k.created_at = T0;
	return k;
}

static void assert_key_check_equal(const struct store_key_check *a, const struct store_key_check *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->value, b->value, a->len);
	assert_int_equal(a->created_at, b->created_at);
}

struct key_check_seen {
	const struct fixture *f;       /* whose checks count (name starts with the prefix) */
	struct store_key_check got[8]; /* the test's checks as listed */
	unsigned n;                    /* how many */
	unsigned stop_after;           /* fn returns false after this many of ours (0 = never) */
};

static bool key_check_seen(void *arg, const struct store_key_check *k)
{
	struct key_check_seen *seen = arg;

	if (!ours(seen->f, k->name))
		return true;
	if (seen->n < 8)
		seen->got[seen->n] = *k;
	seen->n++;
	return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void test_key_check_add_get_list_delete(void **state)
{
	struct fixture *f = *state;
	struct store_key_check code = key_check_sample(f, "code", 16);
	struct store_key_check m2 = key_check_sample(f, "master:2", 1);
	struct store_key_check m10 = key_check_sample(f, "master:10", STORE_KEY_CHECK_MAX);
	struct store_key_check other, got;
	struct key_check_seen seen = {.f = f};
	char name[STORE_KEY_CHECK_NAME_MAX + 1];

	m10.created_at = T0 + 7;
	assert_int_equal(w_key_check_add(f->s, &m2), PA_OK);
	assert_int_equal(w_key_check_add(f->s, &code), PA_OK);
	assert_int_equal(w_key_check_add(f->s, &m10), PA_OK);

	memset(&got, 0xa5, sizeof got);
	assert_int_equal(store_key_check_get(f->rd, code.name, &got), PA_OK);
	assert_key_check_equal(&got, &code);
	assert_int_equal(store_key_check_get(f->rd, m2.name, &got), PA_OK);
	assert_key_check_equal(&got, &m2);
	assert_int_equal(store_key_check_get(f->rd, m10.name, &got), PA_OK);
	assert_key_check_equal(&got, &m10);
	uniq(f, "master:3", name, sizeof name);
	assert_int_equal(store_key_check_get(f->rd, name, &got), PA_ERR_NOT_FOUND);

	/* a name is recorded once: a second value is refused and the first one stays */
	other = key_check_sample(f, "code", 16);
	other.created_at = T0 + 1;
	assert_int_equal(w_key_check_add(f->s, &other), PA_ERR_CONFLICT);
	assert_int_equal(store_key_check_get(f->rd, code.name, &got), PA_OK);
	assert_key_check_equal(&got, &code);

	/* in name order, bytewise: "code" < "master:10" < "master:2" */
	assert_int_equal(store_key_check_list(f->rd, key_check_seen, &seen), PA_OK);
	assert_int_equal(seen.n, 3);
	assert_key_check_equal(&seen.got[0], &code);
	assert_key_check_equal(&seen.got[1], &m10);
	assert_key_check_equal(&seen.got[2], &m2);
	/* and a list stops when fn says so */
	seen = (struct key_check_seen){.f = f, .stop_after = 1};
	assert_int_equal(store_key_check_list(f->rd, key_check_seen, &seen), PA_OK);
	assert_int_equal(seen.n, 1);

	/* forgetting one: then it is not there, and may be recorded anew */
	assert_int_equal(w_key_check_delete(f->s, m2.name), PA_OK);
	assert_int_equal(store_key_check_get(f->rd, m2.name, &got), PA_ERR_NOT_FOUND);
	assert_int_equal(w_key_check_delete(f->s, m2.name), PA_ERR_NOT_FOUND);
	seen = (struct key_check_seen){.f = f};
	assert_int_equal(store_key_check_list(f->rd, key_check_seen, &seen), PA_OK);
	assert_int_equal(seen.n, 2);
	other = key_check_sample(f, "master:2", 16);
	assert_int_equal(w_key_check_add(f->s, &other), PA_OK);
	assert_int_equal(store_key_check_get(f->rd, m2.name, &got), PA_OK);
	assert_key_check_equal(&got, &other);
	/* the others were not touched */
	assert_int_equal(store_key_check_get(f->rd, code.name, &got), PA_OK);
	assert_key_check_equal(&got, &code);
}

static void test_key_check_bounds(void **state)
{
	struct fixture *f = *state;
	struct store_key_check k = key_check_sample(f, "", STORE_KEY_CHECK_MAX), got;

	/* the longest name and value go in and come back whole */
	fill(k.name, 'n', STORE_KEY_CHECK_NAME_MAX);
	memcpy(k.name, f->prefix, strlen(f->prefix));
	assert_int_equal(w_key_check_add(f->s, &k), PA_OK);
	assert_int_equal(store_key_check_get(f->rd, k.name, &got), PA_OK);
	assert_key_check_equal(&got, &k);

	/* outside the bounds: refused, and nothing is recorded */
	k = key_check_sample(f, "empty", 16);
	k.len = 0;
	assert_int_equal(w_key_check_add(f->s, &k), PA_ERR_INVALID_ARGUMENT);
	k.len = STORE_KEY_CHECK_MAX + 1;
	assert_int_equal(w_key_check_add(f->s, &k), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(store_key_check_get(f->rd, k.name, &got), PA_ERR_NOT_FOUND);
	k.len = 16;
	k.name[0] = '\0';
	assert_int_equal(w_key_check_add(f->s, &k), PA_ERR_INVALID_ARGUMENT);
	/* a name without its NUL within STORE_KEY_CHECK_NAME_MAX + 1 bytes */
	memset(k.name, 'x', sizeof k.name);
	assert_int_equal(w_key_check_add(f->s, &k), PA_ERR_INVALID_ARGUMENT);
}

static void test_key_check_add_once_under_race(void **state)
{
	struct fixture *f = *state;
	struct store_key_check k = key_check_sample(f, "master:1", 16), got;

	assert_int_equal(race(f->s, (struct call){.op = CALL_KEY_CHECK_ADD, .in = &k}), 1);
	assert_int_equal(store_key_check_get(f->rd, k.name, &got), PA_OK);
	assert_key_check_equal(&got, &k);
}

/* In a tx fn: the fn reads its own records, and a fn that fails leaves none behind. */
struct key_check_tx {
	struct store_key_check k;         /* to record */
	enum pa_err added, read, listed;  /* add, then get and list it */
	enum pa_err deleted, gone, again; /* delete, get again, and add again */
	unsigned seen;                    /* the check, as the list in the fn saw it */
	enum pa_err result;               /* what the fn returns when all went well */
};

static bool key_check_count(void *arg, const struct store_key_check *k)
{
	struct key_check_tx *t = arg;

	if (strcmp(k->name, t->k.name) == 0)
		t->seen++;
	return true;
}

static enum pa_err key_check_tx_fn(struct store_tx *tx, void *arg)
{
	struct key_check_tx *t = arg;
	struct store_key_check got;

	t->seen = 0;
	t->added = store_key_check_add(tx, &t->k);
	t->read = store_key_check_get(tx, t->k.name, &got);
	t->listed = store_key_check_list(tx, key_check_count, t);
	t->deleted = store_key_check_delete(tx, t->k.name);
	t->gone = store_key_check_get(tx, t->k.name, &got);
	t->again = store_key_check_add(tx, &t->k);
	if (t->added != PA_OK || t->read != PA_OK || t->listed != PA_OK || t->deleted != PA_OK ||
	    t->again != PA_OK)
		return PA_ERR_INTERNAL;
	return t->result;
}

static void test_key_check_in_a_tx(void **state)
{
	struct fixture *f = *state;
	struct key_check_tx t = {.k = key_check_sample(f, "code", 16), .result = PA_ERR_STATE};
	struct store_key_check got;

	/* a failing fn: each step worked inside, and nothing is left */
	assert_int_equal(store_write(f->s, key_check_tx_fn, &t), PA_ERR_STATE);
	assert_int_equal(t.seen, 1);
	assert_int_equal(t.gone, PA_ERR_NOT_FOUND);
	assert_int_equal(store_key_check_get(f->rd, t.k.name, &got), PA_ERR_NOT_FOUND);

	t.result = PA_OK;
	assert_int_equal(store_write(f->s, key_check_tx_fn, &t), PA_OK);
	assert_int_equal(t.seen, 1);
	assert_int_equal(t.gone, PA_ERR_NOT_FOUND);
	assert_int_equal(store_key_check_get(f->rd, t.k.name, &got), PA_OK);
	assert_key_check_equal(&got, &t.k);
}

/* ---- audit log ----------------------------------------------------------------------------- */

static void test_audit_list_by_account_and_since(void **state)
{
	struct fixture *f = *state;
	int64_t a = new_account(f, "aud"), b = new_account(f, "aud2");
	struct store_audit ev[5];
	struct audit_seen seen;
	const int64_t who[5] = {a, b, a, 0, a};
	unsigned i;

	for (i = 0; i < 5; i++) {
		memset(&ev[i], 0, sizeof ev[i]);
		ev[i].at = T0 + i;
		ev[i].account = who[i];
		if (who[i])
			snprintf(ev[i].account_name, sizeof ev[i].account_name, "%s%u", f->prefix,
			         i);
		snprintf(ev[i].event, sizeof ev[i].event, "login.verify");
		snprintf(ev[i].outcome, sizeof ev[i].outcome, i % 2 ? "invalid_code" : "ok");
		if (i != 3)
			snprintf(ev[i].ip, sizeof ev[i].ip, "203.0.113.%u", i);
		snprintf(ev[i].client, sizeof ev[i].client, "%s-client", f->prefix);
		snprintf(ev[i].detail, sizeof ev[i].detail, "event %u", i);
	}
	/* the longest of every text field */
	fill(ev[4].account_name, 'n', STORE_NAME_MAX);
	fill(ev[4].event, 'e', sizeof ev[4].event - 1);
	fill(ev[4].outcome, 'o', sizeof ev[4].outcome - 1);
	fill(ev[4].client, 'c', STORE_CLIENT_MAX);
	memcpy(ev[4].client, f->prefix, strlen(f->prefix));
	fill(ev[4].detail, 'd', STORE_DETAIL_MAX);
	for (i = 0; i < 5; i++)
		assert_int_equal(w_audit_add(f->s, &ev[i]), PA_OK);

	seen = audit_list(f, a, 0);
	assert_int_equal(seen.n, 3);
	assert_audit_equal(&seen.got[0], &ev[0]);
	assert_audit_equal(&seen.got[1], &ev[2]);
	assert_audit_equal(&seen.got[2], &ev[4]);

	/* at or after since */
	seen = audit_list(f, a, T0 + 2);
	assert_int_equal(seen.n, 2);
	assert_audit_equal(&seen.got[0], &ev[2]);
	assert_audit_equal(&seen.got[1], &ev[4]);
	seen = audit_list(f, a, T0 + 5);
	assert_int_equal(seen.n, 0);

	seen = audit_list(f, b, 0);
	assert_int_equal(seen.n, 1);
	assert_audit_equal(&seen.got[0], &ev[1]);

	/* account 0: every account's (and none) */
	seen = audit_list(f, 0, T0);
	assert_int_equal(seen.n, 5);
	for (i = 0; i < 5; i++)
		assert_audit_equal(&seen.got[i], &ev[i]);
	seen = audit_list(f, 0, T0 + 3);
	assert_int_equal(seen.n, 2);
	assert_audit_equal(&seen.got[0], &ev[3]);
}

/* Text that is not UTF-8 (a User-Agent may hold anything) is stored with '?' for each byte
 * that is not part of a character, by every store: as it was, it could not be exported. */
static void test_text_that_is_not_utf8_is_stored_with_question_marks(void **state)
{
	struct fixture *f = *state;
	int64_t id = new_account(f, "utf");
	struct store_audit ev;
	struct audit_seen seen;
	struct store_session sn, got;

	memset(&ev, 0, sizeof ev);
	ev.at = T0;
	ev.account = id;
	snprintf(ev.account_name, sizeof ev.account_name, "name \xc3");
	snprintf(ev.event, sizeof ev.event, "test.utf8");
	snprintf(ev.outcome, sizeof ev.outcome, "ok");
	snprintf(ev.client, sizeof ev.client, "%s agent \xff\xfe 1 \xc3\xa9", f->prefix);
	snprintf(ev.detail, sizeof ev.detail, "surrogate \xed\xa0\x80 overlong \xc0\xaf");
	assert_int_equal(w_audit_add(f->s, &ev), PA_OK);
	seen = audit_list(f, id, 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.got[0].account_name, "name ?");
	assert_string_equal(seen.got[0].client + strlen(f->prefix), " agent ?? 1 \xc3\xa9");
	assert_string_equal(seen.got[0].detail, "surrogate ??? overlong ??");

	memset(&sn, 0, sizeof sn);
	rand_hash(sn.token_hash);
	sn.account = id;
	sn.kind = STORE_SESSION_APP;
	snprintf(sn.client, sizeof sn.client, "app \xf4\x90\x80\x80");
	snprintf(sn.ip, sizeof sn.ip, "192.0.2.1");
	sn.created_at = T0;
	sn.auth_at = T0;
	assert_int_equal(w_session_add(f->s, &sn), PA_OK);
	got = session_by_token(f, sn.token_hash);
	assert_string_equal(got.client, "app ????");
}

/* ---- housekeeping -------------------------------------------------------------------------- */

struct purge_call {
	int64_t now, logins_before, sessions_before; /* store_purge's arguments */
	unsigned n;                                  /* rows removed */
};

static enum pa_err purge_fn(struct store_tx *tx, void *arg)
{
	struct purge_call *p = arg;

	return store_purge(tx, p->now, p->logins_before, p->sessions_before, &p->n);
}

static bool limit_found(const struct fixture *f, const char *key)
{
	uint8_t blob[8];
	size_t len = 0;

	assert_int_equal(store_limit_get(f->rd, key, blob, sizeof blob, &len), PA_OK);
	return len > 0;
}

/* Expired counters, long-expired sign-ins and long-revoked sessions go; audit rows never. */
static void test_purge_removes_what_no_longer_matters(void **state)
{
	struct fixture *f = *state;
	/* long before any other test's rows, so that in a private store only these go */
	const int64_t b = T0 - 1000000;
	struct purge_call p = {.now = b, .logins_before = b - 100, .sessions_before = b - 500};
	int64_t id = new_account(f, "housekeep");
	char old_key[STORE_LIMIT_KEY_MAX], edge_key[STORE_LIMIT_KEY_MAX],
	    new_key[STORE_LIMIT_KEY_MAX];
	uint8_t blob[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct store_login l_old, l_edge;
	struct store_session s_old, s_edge, s_live, got_s;
	struct store_login got_l;
	struct store_audit au;
	struct audit_seen seen;

	snprintf(old_key, sizeof old_key, "ip:%sold", f->prefix);
	snprintf(edge_key, sizeof edge_key, "ip:%sedge", f->prefix);
	snprintf(new_key, sizeof new_key, "ip:%snew", f->prefix);
	assert_int_equal(w_limit_put(f->s, old_key, blob, sizeof blob, b - 1), PA_OK);
	assert_int_equal(w_limit_put(f->s, edge_key, blob, sizeof blob, b), PA_OK);
	assert_int_equal(w_limit_put(f->s, new_key, blob, sizeof blob, b + 1), PA_OK);
	l_old = login_new_at(f, id, b - 400, b - 101);
	l_edge = login_new_at(f, id, b - 400, b - 100);
	s_old = session_new(f, id, STORE_SESSION_WEB);
	s_edge = session_new(f, id, STORE_SESSION_WEB);
	s_live = session_new(f, id, STORE_SESSION_APP);
	assert_int_equal(w_session_revoke(f->s, id, s_old.id, b - 501), PA_OK);
	assert_int_equal(w_session_revoke(f->s, id, s_edge.id, b - 500), PA_OK);
	memset(&au, 0, sizeof au);
	au.at = b - 5000;
	au.account = id;
	snprintf(au.event, sizeof au.event, "admin.user_add");
	snprintf(au.outcome, sizeof au.outcome, "ok");
	snprintf(au.client, sizeof au.client, "%s-admin", f->prefix);
	assert_int_equal(w_audit_add(f->s, &au), PA_OK);

	p.n = 99;
	assert_int_equal(store_write(f->s, purge_fn, &p), PA_OK);
	if (group_dir[0])
		assert_int_equal(p.n, 3);
	else
		assert_true(p.n >= 3 && p.n != 99);

	/* before is strictly before: the rows at the edge stay */
	assert_false(limit_found(f, old_key));
	assert_true(limit_found(f, edge_key));
	assert_true(limit_found(f, new_key));
	assert_int_equal(store_login_by_hash(f->rd, l_old.id_hash, &got_l), PA_ERR_NOT_FOUND);
	assert_int_equal(login_by_hash(f, l_edge.id_hash).id, l_edge.id);
	assert_int_equal(store_session_by_token(f->rd, s_old.token_hash, &got_s), PA_ERR_NOT_FOUND);
	assert_int_equal(session_by_token(f, s_edge.token_hash).revoked_at, b - 500);
	assert_int_equal(session_by_token(f, s_live.token_hash).revoked_at, 0);
	seen = audit_list(f, id, 0);
	assert_int_equal(seen.n, 1);
	assert_audit_equal(&seen.got[0], &au);

	/* nothing left to remove */
	p.n = 99;
	assert_int_equal(store_write(f->s, purge_fn, &p), PA_OK);
	if (group_dir[0])
		assert_int_equal(p.n, 0);
}

/* ---- transactions -------------------------------------------------------------------------- */

struct own_write {
	char name[STORE_NAME_MAX + 1]; /* the account to make */
	const char *then;              /* then an account of this name too (NULL = none) */
	int64_t id;                    /* its id, from create */
	enum pa_err created, read;     /* what create and the read after it returned */
	struct store_account seen;     /* what the read saw */
	enum pa_err result;            /* what the fn returns when all went well */
};

static enum pa_err own_write_fn(struct store_tx *tx, void *arg)
{
	struct own_write *w = arg;
	int64_t id;
	enum pa_err e;

	w->created = store_account_create(tx, w->name, "$argon2id$x", 0, T0, &w->id);
	if (w->created != PA_OK)
		return w->created;
	w->read = store_account_by_name(tx, w->name, &w->seen);
	if (w->read != PA_OK)
		return w->read;
	if (w->then) {
		e = store_account_create(tx, w->then, "", 0, T0, &id);
		if (e != PA_OK)
			return e;
	}
	return w->result;
}

/* A tx fn reads its own writes; store_write returns the fn's result and undoes an error's. */
static void test_write_returns_fn_result(void **state)
{
	struct fixture *f = *state;
	struct own_write w = {.result = PA_OK};
	struct store_account a;
	char kept[STORE_NAME_MAX + 1];

	uniq(f, "kept", kept, sizeof kept);
	memcpy(w.name, kept, sizeof kept);
	assert_int_equal(store_write(f->s, own_write_fn, &w), PA_OK);
	assert_int_equal(w.created, PA_OK);
	assert_int_equal(w.read, PA_OK);
	assert_int_equal(w.seen.id, w.id);
	assert_string_equal(w.seen.pwhash, "$argon2id$x");
	a = account_by_id(f, w.id);
	assert_string_equal(a.name, w.name);

	/* an error: returned as it is, and the write is undone */
	w = (struct own_write){.result = PA_ERR_STATE};
	uniq(f, "undone", w.name, sizeof w.name);
	assert_int_equal(store_write(f->s, own_write_fn, &w), PA_ERR_STATE);
	assert_int_equal(w.created, PA_OK);
	assert_int_equal(w.read, PA_OK);
	assert_int_equal(store_account_by_name(f->rd, w.name, &a), PA_ERR_NOT_FOUND);

	/* a store call's failure, returned by the fn, undoes the fn's earlier writes too */
	w = (struct own_write){.result = PA_OK, .then = kept};
	uniq(f, "undone2", w.name, sizeof w.name);
	assert_int_equal(store_write(f->s, own_write_fn, &w), PA_ERR_CONFLICT);
	assert_int_equal(w.created, PA_OK);
	assert_int_equal(store_account_by_name(f->rd, w.name, &a), PA_ERR_NOT_FOUND);

	/* the undone names are free again: the failed fns left nothing behind */
	w.then = NULL;
	assert_int_equal(store_write(f->s, own_write_fn, &w), PA_OK);
	assert_int_equal(store_account_by_name(f->rd, w.name, &a), PA_OK);
}

/*
 * Submitted fns: a gate fn goes first and holds the writer until every other fn is queued, so
 * the fns share commits.  Each fn makes an account and returns its planned result; its done
 * records the result and whether a reader (on the writer thread, after the commit) sees it.
 */
struct batch;

struct batch_fn {
	struct batch *b;               /* the test */
	char name[STORE_NAME_MAX + 1]; /* the account it makes */
	enum pa_err want;              /* what the fn returns after making it */
	enum pa_err created;           /* store_account_create's result in the fn */
	enum pa_err got;               /* the result done was called with */
	int visible;                   /* in done: 1 seen, 0 not, -1 read failed */
	unsigned dones;                /* calls of done */
};

struct batch {
	struct store *s;                /* the store */
	pthread_mutex_t lock;           /* guards what follows */
	pthread_cond_t cond;            /* the gate changed, or a done ran */
	bool gate_entered;              /* the gate fn made its account and waits */
	bool gate_open;                 /* the gate fn may return */
	bool read_in_done;              /* done reads through a reader */
	unsigned pending;               /* dones still to come */
	struct batch_fn gate;           /* the gate fn's account and results */
	struct batch_fn fns[BATCH_FNS]; /* the others */
	unsigned n;                     /* how many of fns are used */
};

static struct batch *batch_new(const struct fixture *f, unsigned n, bool read_in_done)
{
	struct batch *b = calloc(1, sizeof *b);
	unsigned i;
	char base[16];

	assert_non_null(b);
	b->s = f->s;
	assert_int_equal(pthread_mutex_init(&b->lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&b->cond, NULL), 0);
	b->read_in_done = read_in_done;
	b->n = n;
	b->pending = n + 1;
	b->gate.b = b;
	b->gate.want = PA_OK;
	b->gate.visible = -2;
	uniq(f, "gate", b->gate.name, sizeof b->gate.name);
	for (i = 0; i < n; i++) {
		/* ok, conflict, ok, state, ...: errors of more than one kind */
		static const enum pa_err plan[4] = {PA_OK, PA_ERR_CONFLICT, PA_OK, PA_ERR_STATE};
		struct batch_fn *bf = &b->fns[i];

		bf->b = b;
		bf->want = plan[i % 4];
		bf->created = bf->got = PA_ERR_INTERNAL;
		bf->visible = -2;
		snprintf(base, sizeof base, "fn%02u", i);
		uniq(f, base, bf->name, sizeof bf->name);
	}
	return b;
}

static void batch_free(struct batch *b)
{
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b);
}

static enum pa_err batch_fn(struct store_tx *tx, void *arg)
{
	struct batch_fn *bf = arg;
	int64_t id;

	bf->created = store_account_create(tx, bf->name, "", 0, T0, &id);
	return bf->created != PA_OK ? bf->created : bf->want;
}

static enum pa_err gate_fn(struct store_tx *tx, void *arg)
{
	struct batch *b = arg;
	enum pa_err e = batch_fn(tx, &b->gate);

	pthread_mutex_lock(&b->lock);
	b->gate_entered = true;
	pthread_cond_broadcast(&b->cond);
	while (!b->gate_open)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	return e;
}

static void batch_done(void *arg, enum pa_err result)
{
	struct batch_fn *bf = arg;
	struct batch *b = bf->b;
	int visible = -2;

	if (b->read_in_done) {
		struct store_tx *rd = store_reader(b->s);
		struct store_account a;
		enum pa_err e = rd ? store_account_by_name(rd, bf->name, &a) : PA_ERR_STORE;

		visible = e == PA_OK ? 1 : e == PA_ERR_NOT_FOUND ? 0 : -1;
	}
	pthread_mutex_lock(&b->lock);
	bf->got = result;
	bf->visible = visible;
	bf->dones++;
	b->pending--;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void gate_done(void *arg, enum pa_err result)
{
	struct batch *b = arg;

	batch_done(&b->gate, result);
}

/* Wait until *flag (a bool) or !pending: false after WAIT_SECONDS. */
static bool batch_wait(struct batch *b, const bool *flag)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_SECONDS;
	pthread_mutex_lock(&b->lock);
	while (ok && (flag ? !*flag : b->pending > 0))
		ok = pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0 ||
		     (flag ? *flag : b->pending == 0);
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void batch_open_gate(struct batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->gate_open = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Submit the gate, then every fn; the gate is open when this returns. */
static void batch_submit_all(struct batch *b)
{
	unsigned i;

	store_submit(b->s, gate_fn, b, gate_done);
	for (i = 0; i < b->n; i++)
		store_submit(b->s, batch_fn, &b->fns[i], batch_done);
	batch_open_gate(b);
}

/* Every fn ran once, done had its result, and only the successful fns' accounts exist. */
static void batch_check(const struct fixture *f, struct batch *b)
{
	struct store_account a;
	unsigned i;

	pthread_mutex_lock(&b->lock);
	assert_int_equal(b->pending, 0);
	pthread_mutex_unlock(&b->lock);
	assert_int_equal(b->gate.dones, 1);
	assert_int_equal(b->gate.got, PA_OK);
	for (i = 0; i < b->n; i++) {
		const struct batch_fn *bf = &b->fns[i];

		assert_int_equal(bf->dones, 1);
		assert_int_equal(bf->created, PA_OK);
		assert_int_equal(bf->got, bf->want);
		if (b->read_in_done)
			assert_int_equal(bf->visible, bf->want == PA_OK);
		assert_int_equal(store_account_by_name(f->rd, bf->name, &a),
		                 bf->want == PA_OK ? PA_OK : PA_ERR_NOT_FOUND);
	}
	assert_int_equal(store_account_by_name(f->rd, b->gate.name, &a), PA_OK);
}

/* done runs after the commit with the fn's result; a failing fn undoes only its own writes. */
static void test_submit_done_after_commit_with_fn_result(void **state)
{
	struct fixture *f = *state;
	struct batch *b = batch_new(f, BATCH_FNS, true);

	batch_submit_all(b);
	assert_true(batch_wait(b, NULL));
	batch_check(f, b);
	batch_free(b);
}

/* The same with at most three fns per commit (store_options.batch_max). */
static void test_submit_done_after_commit_small_batches(void **state)
{
	test_submit_done_after_commit_with_fn_result(state);
}

/* A reader sees a tx fn's writes only once they are committed. */
static void test_reader_sees_only_committed_writes(void **state)
{
	struct fixture *f = *state;
	struct batch *b = batch_new(f, 0, true);
	struct store_account a;
	enum pa_err during;
	bool entered;

	store_submit(f->s, gate_fn, b, gate_done);
	entered = batch_wait(b, &b->gate_entered);
	during = store_account_by_name(f->rd, b->gate.name, &a);
	/* open the gate before any assert, or a failure would hang store_close */
	batch_open_gate(b);
	assert_true(entered);
	assert_int_equal(b->gate.created, PA_OK);
	assert_int_equal(during, PA_ERR_NOT_FOUND);
	assert_true(batch_wait(b, NULL));
	assert_int_equal(b->gate.visible, 1);
	assert_int_equal(store_account_by_name(f->rd, b->gate.name, &a), PA_OK);
	batch_free(b);
}

/* store_read_begin .. store_read_end is one snapshot; after it, reads see the latest commit. */
static void test_read_snapshot_until_read_end(void **state)
{
	struct fixture *f = *state;
	int64_t x = new_account(f, "snapx"), y = 0;
	char yname[STORE_NAME_MAX + 1];
	struct store_account a;

	uniq(f, "snapy", yname, sizeof yname);
	/* outside a snapshot a read sees what was just committed */
	assert_int_equal(w_account_set_twofactor(f->s, x, true), PA_OK);
	assert_true(account_by_id(f, x).twofactor);

	assert_int_equal(store_read_begin(f->rd), PA_OK);
	assert_false(account_by_id(f, x).disabled);
	assert_int_equal(store_account_by_name(f->rd, yname, &a), PA_ERR_NOT_FOUND);
	/* held across a wait here on purpose: the write does not depend on the snapshot */
	assert_int_equal(w_account_set_disabled(f->s, x, true), PA_OK);
	assert_int_equal(w_account_create(f->s, yname, "", 0, T0, &y), PA_OK);
	assert_false(account_by_id(f, x).disabled);
	assert_int_equal(store_account_by_name(f->rd, yname, &a), PA_ERR_NOT_FOUND);
	assert_int_equal(store_account_by_id(f->rd, y, &a), PA_ERR_NOT_FOUND);
	store_read_end(f->rd);

	assert_true(account_by_id(f, x).disabled);
	assert_int_equal(store_account_by_name(f->rd, yname, &a), PA_OK);
	assert_int_equal(a.id, y);

	/* a second snapshot starts from the latest commit */
	assert_int_equal(store_read_begin(f->rd), PA_OK);
	assert_true(account_by_id(f, x).disabled);
	assert_int_equal(store_account_by_id(f->rd, y, &a), PA_OK);
	store_read_end(f->rd);
}

/*
 * store_submit_check: the read, prepare and fn, for many verifications queued at once behind
 * two gates (one per PostgreSQL writer; SQLite's one writer takes both), so that they share a
 * batch.  Each check consumes the same step of one account, with its audit row; the store may
 * answer the consumption before it knows (PostgreSQL), and must then run the fn again when the
 * step was taken by another: exactly one check consumes, and one audit row is written.
 */
#define CHECKS 12

struct checks;

struct check_op {
	struct checks *cs;             /* the test */
	uint8_t hash[STORE_HASH_LEN];  /* the service key's hash it reads with */
	char name[STORE_NAME_MAX + 1]; /* the account it reads */
	bool go_on;                    /* the fn writes an extra audit row after consuming */
	bool read_only;                /* prepare only notes the account, and refuses */
	int64_t seen_account;          /* the account prepare saw (0: none) */
	enum pa_err read;              /* prepare's read result (last call) */
	bool saw_totp;                 /* prepare saw the account's generator */
	unsigned prepares, fns;        /* calls of prepare and fn */
	enum pa_err consumed;          /* the consume's answer in the fn's last run */
	enum pa_err got;               /* done's result */
	unsigned dones;                /* calls of done */
};

struct checks {
	struct store *s;                 /* the store */
	pthread_mutex_t lock;            /* guards what follows */
	pthread_cond_t cond;             /* the gates may open, or a done ran */
	bool open;                       /* the gates may return */
	unsigned pending;                /* dones still to come (the gates' too) */
	struct store_totp t;             /* the generator as read */
	char key[STORE_LIMIT_KEY_MAX];   /* the account's (absent) counter key */
	struct store_audit au;           /* the audit row of a consumption */
	struct check_op ops[CHECKS + 4]; /* the checks */
};

static enum pa_err check_gate_fn(struct store_tx *tx, void *arg)
{
	struct checks *cs = arg;

	(void)tx;
	pthread_mutex_lock(&cs->lock);
	while (!cs->open)
		pthread_cond_wait(&cs->cond, &cs->lock);
	pthread_mutex_unlock(&cs->lock);
	return PA_OK;
}

static void check_dec(struct checks *cs)
{
	pthread_mutex_lock(&cs->lock);
	cs->pending--;
	pthread_cond_broadcast(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
}

static void check_gate_done(void *arg, enum pa_err result)
{
	assert_int_equal(result, PA_OK);
	check_dec(arg);
}

static enum pa_err check_prepare_fn(void *arg, enum pa_err read, const struct store_check_read *cr)
{
	struct check_op *op = arg;

	op->prepares++;
	op->read = read;
	op->seen_account = read == PA_OK && cr->has_account ? cr->account.id : 0;
	if (op->read_only)
		return PA_ERR_STATE;
	op->saw_totp = read == PA_OK && cr->has_account && cr->has_totp &&
	               cr->totp.sealed_len == op->cs->t.sealed_len &&
	               memcmp(cr->totp.sealed, op->cs->t.sealed, cr->totp.sealed_len) == 0;
	return read == PA_ERR_NOT_FOUND ? PA_ERR_UNAUTHENTICATED : read;
}

static enum pa_err check_fn(struct store_tx *tx, void *arg)
{
	struct check_op *op = arg;
	struct checks *cs = op->cs;
	struct store_audit extra = cs->au;

	op->fns++;
	op->consumed =
	    store_totp_consume_unthrottled(tx, cs->au.account, &cs->t, 5000, 0, cs->key, &cs->au);
	if (op->consumed == PA_ERR_CONFLICT)
		return PA_OK; /* a verdict, not a failure */
	if (op->consumed != PA_OK || !op->go_on)
		return op->consumed;
	/* against store.h's rule: the store must still get it right */
	snprintf(extra.outcome, sizeof extra.outcome, "extra");
	return store_audit_add(tx, &extra);
}

static void check_done_fn(void *arg, enum pa_err result)
{
	struct check_op *op = arg;

	op->got = result;
	op->dones++;
	check_dec(op->cs);
}

/* Submit CHECKS checks of one step and one of an unknown key (and, with go_on, first a check
 * whose fn goes on after consuming), and check what came of them. */
static void submit_checks(struct fixture *f, bool go_on)
{
	struct checks *cs = calloc(1, sizeof *cs);
	struct store_service svc;
	struct store_totp got;
	struct audit_seen seen;
	char name[STORE_NAME_MAX + 1], odd[STORE_NAME_MAX + 1];
	int64_t id = 0, odd_id = 0;
	unsigned i, consumed = 0, conflicts = 0;
	struct timespec until;

	assert_non_null(cs);
	cs->s = f->s;
	assert_int_equal(pthread_mutex_init(&cs->lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&cs->cond, NULL), 0);
	memset(&svc, 0, sizeof svc);
	uniq(f, "submitter", svc.name, sizeof svc.name);
	rand_hash(svc.key_hash);
	svc.created_at = T0;
	assert_int_equal(w_service_add(f->s, &svc), PA_OK);
	uniq(f, "submitted", name, sizeof name);
	assert_int_equal(w_account_create(f->s, name, "", svc.id, T0, &id), PA_OK);
	/* names that need quoting in a list (the store may read a batch's with one statement) */
	snprintf(odd, sizeof odd, "%s \"{a\\,b}\" \xc3\xa9'", f->prefix);
	assert_int_equal(w_account_create(f->s, odd, "", svc.id, T0, &odd_id), PA_OK);
	totp_sample(&cs->t, 72);
	assert_int_equal(w_totp_put(f->s, id, &cs->t), PA_OK);
	cs->t = totp_get(f, id);
	uniq(f, "submit-key", cs->key, sizeof cs->key);
	cs->au.at = T0;
	cs->au.account = id;
	snprintf(cs->au.account_name, sizeof cs->au.account_name, "%s", name);
	snprintf(cs->au.event, sizeof cs->au.event, "check");
	snprintf(cs->au.outcome, sizeof cs->au.outcome, "ok");
	snprintf(cs->au.client, sizeof cs->au.client, "%s-client", f->prefix);
	/* text that needs quoting in a list; ip stays empty */
	snprintf(cs->au.detail, sizeof cs->au.detail, "method=totp \"q\" \\ {x,y} NULL \xc3\xa9");
	for (i = 0; i < CHECKS + 4; i++) {
		struct check_op *op = &cs->ops[i];

		op->cs = cs;
		memcpy(op->hash, svc.key_hash, STORE_HASH_LEN);
		snprintf(op->name, sizeof op->name, "%s", name);
		op->read = op->consumed = op->got = PA_ERR_INTERNAL;
	}
	/* one with a key no service has; one whose fn goes on after its consumption (and,
	 * to consume, comes first) */
	rand_hash(cs->ops[CHECKS].hash);
	cs->ops[CHECKS + 1].go_on = true;
	/* and two that only read: the odd name, and one that is not UTF-8 and does not exist */
	cs->ops[CHECKS + 2].read_only = cs->ops[CHECKS + 3].read_only = true;
	snprintf(cs->ops[CHECKS + 2].name, sizeof cs->ops[CHECKS + 2].name, "%s", odd);
	snprintf(cs->ops[CHECKS + 3].name, sizeof cs->ops[CHECKS + 3].name, "%.40s\xff\\\"", odd);

	cs->pending = CHECKS + 1 + go_on + 2 + 2;
	store_submit(f->s, check_gate_fn, cs, check_gate_done);
	store_submit(f->s, check_gate_fn, cs, check_gate_done);
	if (go_on)
		store_submit_check(f->s, cs->ops[CHECKS + 1].hash, name, check_prepare_fn, check_fn,
		                   &cs->ops[CHECKS + 1], check_done_fn);
	for (i = CHECKS + 2; i < CHECKS + 4; i++)
		store_submit_check(f->s, cs->ops[i].hash, cs->ops[i].name, check_prepare_fn,
		                   check_fn, &cs->ops[i], check_done_fn);
	for (i = 0; i < CHECKS + 1; i++)
		store_submit_check(f->s, cs->ops[i].hash, cs->ops[i].name, check_prepare_fn,
		                   check_fn, &cs->ops[i], check_done_fn);
	pthread_mutex_lock(&cs->lock);
	cs->open = true;
	pthread_cond_broadcast(&cs->cond);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_SECONDS;
	while (cs->pending > 0)
		assert_int_equal(pthread_cond_timedwait(&cs->cond, &cs->lock, &until), 0);
	pthread_mutex_unlock(&cs->lock);

	/* the unknown key: prepare saw NOT_FOUND, its refusal went to done, no fn ran */
	assert_int_equal(cs->ops[CHECKS].read, PA_ERR_NOT_FOUND);
	assert_int_equal(cs->ops[CHECKS].got, PA_ERR_UNAUTHENTICATED);
	assert_int_equal(cs->ops[CHECKS].fns, 0);
	assert_int_equal(cs->ops[CHECKS].dones, 1);
	/* the readers: the odd name found, the other not; refused by prepare, so no fn */
	for (i = CHECKS + 2; i < CHECKS + 4; i++) {
		assert_int_equal(cs->ops[i].read, PA_OK);
		assert_int_equal(cs->ops[i].got, PA_ERR_STATE);
		assert_int_equal(cs->ops[i].fns, 0);
		assert_int_equal(cs->ops[i].dones, 1);
	}
	assert_int_equal(cs->ops[CHECKS + 2].seen_account, odd_id);
	assert_int_equal(cs->ops[CHECKS + 3].seen_account, 0);
	/* the rest read the account and its generator; exactly one consumed */
	for (i = 0; i < CHECKS + (unsigned)go_on; i++) {
		const struct check_op *op = &cs->ops[i == CHECKS ? CHECKS + 1 : i];

		assert_int_equal(op->dones, 1);
		assert_int_equal(op->got, PA_OK);
		assert_int_equal(op->read, PA_OK);
		assert_true(op->saw_totp);
		assert_true(op->prepares >= 1);
		assert_true(op->fns >= 1);
		assert_true(op->prepares >= op->fns);
		if (op->consumed == PA_OK)
			consumed++;
		else if (op->consumed == PA_ERR_CONFLICT)
			conflicts++;
		/* PostgreSQL sends a consumption ahead and, when it changed nothing, runs the
		 * check again: twice for each that found the step taken.  (A fn that goes on
		 * after it makes the batch run again carefully: once more for all.) */
		if (!go_on && strncmp(location, "postgres", 8) == 0)
			assert_int_equal(op->prepares, op->consumed == PA_OK ? 1 : 2);
	}
	assert_int_equal(consumed, 1);
	assert_int_equal(conflicts, CHECKS - 1 + (unsigned)go_on);
	got = totp_get(f, id);
	assert_true(got.has_last);
	assert_int_equal(got.last_step, 5000);
	/* one audit row, and the extra one only if the fn that goes on consumed */
	seen = audit_list(f, id, 0);
	assert_int_equal(seen.n, go_on && cs->ops[CHECKS + 1].consumed == PA_OK ? 2 : 1);
	cs->au.id = seen.got[0].id;
	assert_audit_equal(&seen.got[0], &cs->au);

	pthread_mutex_destroy(&cs->lock);
	pthread_cond_destroy(&cs->cond);
	free(cs);
}

static void test_submit_check_reads_prepares_and_consumes_once(void **state)
{
	submit_checks(*state, false);
}

/* The same, with a fn that breaks store.h's rule by going on after its consumption. */
static void test_submit_check_fn_going_on_after_consuming(void **state)
{
	submit_checks(*state, true);
}

/* The unthrottled consume refuses a disabled account (with no counter), in a write and in a
 * submitted check (PostgreSQL: also in the batch's one statement), and changes nothing; the
 * account enabled again, it consumes. */
static void test_totp_consume_unthrottled_not_for_a_disabled_account(void **state)
{
	struct fixture *f = *state;
	struct checks *cs = calloc(1, sizeof *cs);
	struct check_op *op;
	struct store_service svc;
	struct store_totp got;
	struct audit_seen seen;
	struct timespec until;
	int64_t id = 0;

	assert_non_null(cs);
	op = &cs->ops[0];
	cs->s = f->s;
	assert_int_equal(pthread_mutex_init(&cs->lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&cs->cond, NULL), 0);
	memset(&svc, 0, sizeof svc);
	uniq(f, "disabler", svc.name, sizeof svc.name);
	rand_hash(svc.key_hash);
	svc.created_at = T0;
	assert_int_equal(w_service_add(f->s, &svc), PA_OK);
	uniq(f, "disabled", op->name, sizeof op->name);
	assert_int_equal(w_account_create(f->s, op->name, "", svc.id, T0, &id), PA_OK);
	totp_sample(&cs->t, 72);
	assert_int_equal(w_totp_put(f->s, id, &cs->t), PA_OK);
	cs->t = totp_get(f, id);
	uniq(f, "disabled-key", cs->key, sizeof cs->key);
	cs->au.at = T0;
	cs->au.account = id;
	snprintf(cs->au.account_name, sizeof cs->au.account_name, "%s", op->name);
	snprintf(cs->au.event, sizeof cs->au.event, "check");
	snprintf(cs->au.outcome, sizeof cs->au.outcome, "ok");
	snprintf(cs->au.client, sizeof cs->au.client, "%s-client", f->prefix);
	assert_int_equal(w_account_set_disabled(f->s, id, true), PA_OK);

	/* in a write, with and without the audit row */
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &cs->t, 5000, 0, cs->key, &cs->au),
	                 PA_ERR_CONFLICT);
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &cs->t, 5000, 0, cs->key, NULL),
	                 PA_ERR_CONFLICT);
	/* in a submitted check */
	op->cs = cs;
	memcpy(op->hash, svc.key_hash, STORE_HASH_LEN);
	op->read = op->consumed = op->got = PA_ERR_INTERNAL;
	cs->open = true;
	cs->pending = 1;
	store_submit_check(f->s, op->hash, op->name, check_prepare_fn, check_fn, op, check_done_fn);
	pthread_mutex_lock(&cs->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_SECONDS;
	while (cs->pending > 0)
		assert_int_equal(pthread_cond_timedwait(&cs->cond, &cs->lock, &until), 0);
	pthread_mutex_unlock(&cs->lock);
	assert_int_equal(op->dones, 1);
	assert_int_equal(op->got, PA_OK);
	assert_int_equal(op->read, PA_OK);
	assert_int_equal(op->consumed, PA_ERR_CONFLICT);
	got = totp_get(f, id);
	assert_false(got.has_last);
	seen = audit_list(f, id, 0);
	assert_int_equal(seen.n, 0);

	/* enabled again: consumed, with its audit row */
	assert_int_equal(w_account_set_disabled(f->s, id, false), PA_OK);
	assert_int_equal(w_totp_consume_unthrottled(f->s, id, &cs->t, 5000, 0, cs->key, &cs->au),
	                 PA_OK);
	got = totp_get(f, id);
	assert_true(got.has_last);
	assert_int_equal(got.last_step, 5000);
	seen = audit_list(f, id, 0);
	assert_int_equal(seen.n, 1);

	pthread_mutex_destroy(&cs->lock);
	pthread_cond_destroy(&cs->cond);
	free(cs);
}

/* store_close runs every submitted fn (and its done) before it returns. */
static void test_close_finishes_every_submitted_fn(void **state)
{
	struct fixture *f = *state;
	struct batch *b = batch_new(f, BATCH_FNS, false);
	unsigned i;

	batch_submit_all(b);
	store_close(f->s);
	f->s = NULL;
	pthread_mutex_lock(&b->lock);
	assert_int_equal(b->pending, 0);
	pthread_mutex_unlock(&b->lock);
	for (i = 0; i < b->n; i++)
		assert_int_equal(b->fns[i].dones, 1);

	/* and what they committed is there after reopening */
	assert_int_equal(open_store(0, &f->s), PA_OK);
	f->rd = store_reader(f->s);
	assert_non_null(f->rd);
	b->s = f->s;
	batch_check(f, b);
	batch_free(b);
}

int main(void)
{
	const struct CMUnitTest life_cycle[] = {
	    cmocka_unit_test_setup_teardown(test_open_creates_and_migrates, setup, teardown),
	    cmocka_unit_test(test_open_failure_says_why),
	};
	const struct CMUnitTest records[] = {
	    cmocka_unit_test_setup_teardown(test_account_create_and_look_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_duplicate_name_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_lock_is_followed_not_overtaken, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_account_set_password_disabled_twofactor, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_account_list_in_name_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_put_get_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_consume_accepts_a_step_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_consume_unthrottled_only_without_a_counter,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_read_finds_what_exists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_totp_consume_refuses_replaced_generator, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_totp_consume_once_under_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup_add_and_list_oldest_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backup_set_status_only_from_active, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_backup_trim_removes_old_history_only, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tmppass_add_list_and_consume_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tmppass_list_in_id_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tmppass_list_keeps_usable_and_newest, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tmppass_delete_and_purge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_add_and_by_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_list_and_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_session_revoke_all_except_one, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_add_fail_and_end_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_end_all_ends_the_accounts_pending_ones,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_end_once_under_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_get_put_overwrite, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_add_by_key_and_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_check_add_get_list_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_check_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_check_add_once_under_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_check_in_a_tx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_list_by_account_and_since, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_text_that_is_not_utf8_is_stored_with_question_marks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge_removes_what_no_longer_matters, setup,
	                                    teardown),
	};
	const struct CMUnitTest transactions[] = {
	    cmocka_unit_test_setup_teardown(test_write_returns_fn_result, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_done_after_commit_with_fn_result, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_submit_done_after_commit_small_batches,
	                                    setup_small_batches, teardown),
	    cmocka_unit_test_setup_teardown(test_reader_sees_only_committed_writes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_snapshot_until_read_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_check_reads_prepares_and_consumes_once,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_check_fn_going_on_after_consuming, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_totp_consume_unthrottled_not_for_a_disabled_account, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_finishes_every_submitted_fn, setup,
	                                    teardown),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name("store life cycle", life_cycle, group_setup,
	                                      group_teardown);
	failed +=
	    cmocka_run_group_tests_name("store records", records, group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("store transactions", transactions, group_setup,
	                                      group_teardown);
	return failed;
}
