/*
 * test_store_sqlite.c — what the SQLite store (src/store/sqlite.c) promises beyond the
 * conformance test (test_store.c, which every store passes): a tx fn during which SQLite ends
 * the whole transaction by itself undoes only itself, as store.h promises of any failing fn;
 * and openers that start at once on one data directory, new or a migration behind, all open it.
 *
 * SQLite ends a transaction by itself after an I/O error, a full disk, no memory or an
 * interrupt; these tests make it do so with a trigger that raises ROLLBACK, which SQLite
 * handles the same way (the statement fails, and the transaction is gone with every savepoint
 * in it).  The openers are threads, each with the connections of its own store_open, which
 * SQLite locks against each other as it does processes.
 *
 * Each test gets a fresh temporary directory, removed afterwards.  Tx fns and done callbacks
 * run on the store's writer thread, where a failing cmocka assert must not jump: there they
 * only record, and the test thread asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

#define T0 1700000000
#define OPENERS 8       /* stores opened at once on one directory */
#define OPEN_ROUNDS 12  /* times the openers race, each on a fresh directory */
#define WAIT_SECONDS 60 /* longest wait for the done callbacks before the test fails */

/* ---- a directory per test ---------------------------------------------------------------- */

struct fixture {
	char dir[64];   /* the test's temporary directory */
	char sub[96];   /* dir/N: a fresh data directory of a round */
	char file[96];  /* the database file of the store a test works on */
	unsigned round; /* rounds made so far */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pahara-test-sqlite-XXXXXX");
	if (!mkdtemp(f->dir)) {
		print_error("mkdtemp: %s\n", strerror(errno));
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc = nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* f->sub = a data directory no store has used yet (not made: store_open makes it). */
static const char *fresh_location(struct fixture *f)
{
	int n = snprintf(f->sub, sizeof(f->sub), "%s/%u", f->dir, f->round++);
	assert_true(n > 0 && (size_t)n < sizeof(f->sub));
	n = snprintf(f->file, sizeof(f->file), "%s/pahara.db", f->sub);
	assert_true(n > 0 && (size_t)n < sizeof(f->file));
	return f->sub;
}

static struct store *open_store(const char *location)
{
	struct store_options opt = {.location = location};
	struct store *s = NULL;
	const char *why = NULL;
	enum pa_err e = store_open(&opt, &s, &why);
	if (e != PA_OK)
		print_error("store_open(%s): %s\n", location, why ? why : "(no reason)");
	assert_int_equal(e, PA_OK);
	return s;
}

/* Run sql on the database file with a connection of the test's own. */
static void sql_on(const char *file, const char *sql)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		print_error("%s: %s\n", sql, err ? err : "?");
	assert_null(err);
	sqlite3_close(db);
}

/* ---- a tx fn during which SQLite ends the transaction ------------------------------------ */

/* An account whose name begins with "fault" cannot be made: SQLite rolls back the whole
 * transaction instead. */
#define FAULT_TRIGGER                                                                              \
	"CREATE TRIGGER fault BEFORE INSERT ON accounts WHEN NEW.name LIKE 'fault%' "              \
	"BEGIN SELECT RAISE(ROLLBACK, 'injected fault'); END"

#define BATCH 7 /* fns after the gate: ok, fault, ok, ok, fault, ok, ok */

struct batch;

struct batch_fn {
	struct batch *b;               /* the test */
	char name[STORE_NAME_MAX + 1]; /* the account it makes */
	char then[STORE_NAME_MAX + 1]; /* "": none; else one more account it makes after a failure,
	                                * returning PA_OK (a fn that ignores an error) */
	enum pa_err then_made;         /* the second account's store_account_create */
	enum pa_err got;               /* the result done was called with */
	unsigned dones;                /* calls of done */
};

struct batch {
	pthread_mutex_t lock;       /* guards what follows */
	pthread_cond_t cond;        /* the gate changed, or a done ran */
	bool gate_entered;          /* the gate fn runs and waits */
	bool gate_open;             /* the gate fn may return */
	unsigned pending;           /* dones still to come */
	struct batch_fn gate;       /* the gate fn's account and result */
	struct batch_fn fns[BATCH]; /* the others, in the order submitted */
};

static enum pa_err batch_fn(struct store_tx *tx, void *arg)
{
	struct batch_fn *bf = arg;
	int64_t id;
	enum pa_err e = store_account_create(tx, bf->name, "", 0, T0, &id);
	if (e != PA_OK && bf->then[0]) {
		bf->then_made = store_account_create(tx, bf->then, "", 0, T0, &id);
		return PA_OK;
	}
	return e;
}

/* The gate goes first and holds the writer until every other fn is queued: one batch. */
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
	pthread_mutex_lock(&b->lock);
	bf->got = result;
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

static bool is_fault(const struct batch_fn *bf)
{
	return strncmp(bf->name, "fault", 5) == 0;
}

/* Run the gate and the BATCH fns in one batch; fns 1 and 4 hit the fault (and, if going_on,
 * make one more account after it and return PA_OK).  Every fn must be reported as it ended:
 * PA_OK and its account there, or an error and nothing of it there. */
static void run_batch_with_faults(struct fixture *f, bool going_on)
{
	struct store *s = open_store(fresh_location(f));
	sql_on(f->file, FAULT_TRIGGER);

	struct batch *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	assert_int_equal(pthread_mutex_init(&b->lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&b->cond, NULL), 0);
	b->pending = BATCH + 1;
	b->gate.b = b;
	snprintf(b->gate.name, sizeof(b->gate.name), "gate");
	for (unsigned i = 0; i < BATCH; i++) {
		struct batch_fn *bf = &b->fns[i];
		bf->b = b;
		bf->got = PA_ERR_INTERNAL;
		snprintf(bf->name, sizeof(bf->name), "%s%u", i == 1 || i == 4 ? "fault" : "ok", i);
		if (going_on && is_fault(bf))
			snprintf(bf->then, sizeof(bf->then), "after%u", i);
	}

	store_submit(s, gate_fn, b, gate_done);
	pthread_mutex_lock(&b->lock);
	while (!b->gate_entered)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	for (unsigned i = 0; i < BATCH; i++)
		store_submit(s, batch_fn, &b->fns[i], batch_done);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_SECONDS;
	pthread_mutex_lock(&b->lock);
	b->gate_open = true;
	pthread_cond_broadcast(&b->cond);
	int rc = 0;
	while (b->pending > 0 && rc == 0)
		rc = pthread_cond_timedwait(&b->cond, &b->lock, &until);
	pthread_mutex_unlock(&b->lock);
	assert_int_equal(b->pending, 0);

	/* What is in the database, seen after a reopen (so it is durable, not a cache). */
	store_close(s);
	s = open_store(f->sub);
	struct store_tx *rd = store_reader(s);
	assert_non_null(rd);
	struct store_account a;
	assert_int_equal(b->gate.dones, 1);
	assert_int_equal(b->gate.got, PA_OK);
	assert_int_equal(store_account_by_name(rd, "gate", &a), PA_OK);
	unsigned wrong = 0;
	for (unsigned i = 0; i < BATCH; i++) {
		const struct batch_fn *bf = &b->fns[i];
		bool there = store_account_by_name(rd, bf->name, &a) == PA_OK;
		bool then_there = bf->then[0] && store_account_by_name(rd, bf->then, &a) == PA_OK;
		bool ok =
		    bf->dones == 1 && (is_fault(bf) ? bf->got != PA_OK && !there && !then_there
		                                    : bf->got == PA_OK && there);
		if (!ok) {
			print_error("%s: reported %s (%u dones); in the database: %s%s\n", bf->name,
			            pa_err_message(bf->got), bf->dones, there ? "yes" : "no",
			            then_there ? ", and its account made after the fault" : "");
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
	store_close(s);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b);
}

/* store.h: a failing fn undoes its changes alone, and the other fns of its batch commit —
 * also when SQLite rolled the whole transaction back during it. */
static void test_failing_fn_undoes_only_itself_when_sqlite_ends_the_transaction(void **state)
{
	run_batch_with_faults(*state, false);
}

/* A fn that goes on after SQLite ended the transaction (ignoring the error) changes nothing:
 * its later statements do not run on their own, outside a transaction, and it is reported
 * failed. */
static void test_fn_going_on_after_sqlite_ends_the_transaction_changes_nothing(void **state)
{
	run_batch_with_faults(*state, true);
}

/* ---- openers at once --------------------------------------------------------------------- */

struct opener {
	const char *location;     /* where */
	pthread_barrier_t *start; /* every opener starts at once */
	struct store *s;          /* out */
	enum pa_err e;            /* out */
	const char *why;          /* out */
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	struct store_options opt = {.location = o->location};
	pthread_barrier_wait(o->start);
	o->e = store_open(&opt, &o->s, &o->why);
	return NULL;
}

/* OPENERS stores opened at once on location: each opens, at the same schema version. */
static void open_at_once(const char *location, int *version)
{
	struct opener o[OPENERS];
	pthread_t t[OPENERS];
	pthread_barrier_t start;
	assert_int_equal(pthread_barrier_init(&start, NULL, OPENERS), 0);
	for (int i = 0; i < OPENERS; i++) {
		o[i] = (struct opener){.location = location, .start = &start};
		assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
	}
	for (int i = 0; i < OPENERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
	int failed = 0;
	for (int i = 0; i < OPENERS; i++)
		if (o[i].e != PA_OK) {
			print_error("opener %d: %s\n", i, o[i].why ? o[i].why : "(no reason)");
			failed++;
		}
	*version = failed ? -1 : store_schema_version(o[0].s);
	for (int i = 0; i < OPENERS; i++)
		if (o[i].e == PA_OK) {
			if (store_schema_version(o[i].s) != *version)
				failed++;
			store_close(o[i].s);
		}
	assert_int_equal(failed, 0);
}

/* The schema version of a store opened alone: the newest. */
static int newest_version(struct fixture *f)
{
	struct store *s = open_store(fresh_location(f));
	int v = store_schema_version(s);
	store_close(s);
	assert_true(v > 0);
	return v;
}

/* A new data directory opened by several at once (a server and an admin command on its first
 * run): every one opens it, and the schema is made once. */
static void test_openers_at_once_on_a_new_store_all_open_it(void **state)
{
	struct fixture *f = *state;
	int newest = newest_version(f);
	for (int r = 0; r < OPEN_ROUNDS; r++) {
		int v;
		open_at_once(fresh_location(f), &v);
		assert_int_equal(v, newest);
	}
}

/* A store one migration behind (an upgrade) opened by several at once: each sees the
 * migration made, by itself or another, and none makes it twice. */
static void test_openers_at_once_on_a_store_behind_migrate_it_once(void **state)
{
	struct fixture *f = *state;
	int newest = newest_version(f);
	for (int r = 0; r < OPEN_ROUNDS; r++) {
		store_close(open_store(fresh_location(f)));
		/* back to schema 3: migration 4 made one index (a migration 5 must be undone
		 * here too) */
		sql_on(f->file, "DROP INDEX logins_pending; "
		                "DELETE FROM schema_migrations WHERE version >= 4");
		int v;
		open_at_once(f->sub, &v);
		assert_int_equal(v, newest);
		sql_on(f->file,
		       "SELECT 1 FROM logins INDEXED BY logins_pending WHERE account_id = 1 "
		       "AND state = 0");
	}
}

int main(void)
{
	if (pa_core_init() != PA_OK)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_failing_fn_undoes_only_itself_when_sqlite_ends_the_transaction, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_fn_going_on_after_sqlite_ends_the_transaction_changes_nothing, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_openers_at_once_on_a_new_store_all_open_it, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_openers_at_once_on_a_store_behind_migrate_it_once,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests_name("sqlite store", tests, NULL, NULL);
}
