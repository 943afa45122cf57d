/*
 * test_store_postgres.c — what the PostgreSQL store (src/store/postgres.c) promises beyond the
 * conformance test (test_store.c, which every store passes): several nodes on one database,
 * schema migrations, batches run again after a deadlock, connections made again after the
 * server dropped them, an append-only audit log, text that is not UTF-8, a key check recorded
 * by another node meanwhile.
 *
 * A "node" here is one more store_open on the same database.  Each test gets a database of its
 * own, made on the server of PAHARA_TEST_STORE (a postgresql:// URL, as `make store-tests`
 * gives) and dropped afterwards; without such a URL the test does nothing.
 *
 * Tx fns and done callbacks run on the stores' writer threads, where a failing cmocka assert
 * must not jump: there they only record, and the test thread asserts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

#define URL_MAX 512
#define WAIT_SECONDS 20 /* the longest a tx fn waits for the other node's */

/* ---- a database per test ----------------------------------------------------------------- */

struct fixture {
	char db[40];       /* the test's database */
	char url[URL_MAX]; /* its URL */
};

static const char *server_url(void)
{
	const char *u = getenv("PAHARA_TEST_STORE");
	if (u && (strncmp(u, "postgresql://", 13) == 0 || strncmp(u, "postgres://", 11) == 0))
		return u;
	return NULL;
}

/* Run sql on url's database; the result status must be want. */
static void sql_on(const char *url, const char *sql, ExecStatusType want)
{
	PGconn *c = PQconnectdb(url);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != want)
		print_error("%s: %s\n", sql, PQresultErrorMessage(r));
	assert_int_equal(PQresultStatus(r), want);
	PQclear(r);
	PQfinish(c);
}

/* The URL of database db on the server of base (whose path is a database name). */
static void url_of(const char *base, const char *db, char *out, size_t size)
{
	const char *slash = strrchr(base, '/');
	assert_non_null(slash);
	assert_null(strchr(slash, '?'));
	int n = snprintf(out, size, "%.*s/%s", (int)(slash - base), base, db);
	assert_true(n > 0 && (size_t)n < size);
}

static int setup(void **state)
{
	const char *base = server_url();
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->db, sizeof(f->db), "pgtest_%08x%08x", (unsigned)randombytes_random(),
	         (unsigned)randombytes_random());
	char sql[128];
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
	sql_on(base, sql, PGRES_COMMAND_OK);
	url_of(base, f->db, f->url, sizeof(f->url));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", f->db);
	sql_on(server_url(), sql, PGRES_COMMAND_OK);
	free(f);
	return 0;
}

static struct store *open_node(const struct fixture *f)
{
	struct store_options opt = {.location = f->url};
	struct store *s = NULL;
	const char *why = NULL;
	enum pa_err e = store_open(&opt, &s, &why);
	if (e != PA_OK)
		print_error("store_open: %s\n", why ? why : "(no reason)");
	assert_int_equal(e, PA_OK);
	return s;
}

/* ---- migrations -------------------------------------------------------------------------- */

struct opener {
	const struct fixture *f; /* where */
	struct store *s;         /* out */
	enum pa_err e;           /* out */
	const char *why;         /* out */
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	struct store_options opt = {.location = o->f->url};
	o->e = store_open(&opt, &o->s, &o->why);
	return NULL;
}

/* Nodes that start at once on an empty database: one migrates, the others wait for it. */
static void test_nodes_starting_at_once_migrate_once(void **state)
{
	struct fixture *f = *state;
	struct opener o[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		o[i] = (struct opener){.f = f};
		assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++) {
		if (o[i].e != PA_OK)
			print_error("node %d: %s\n", i, o[i].why ? o[i].why : "");
		assert_int_equal(o[i].e, PA_OK);
		assert_true(store_schema_version(o[i].s) >= 1);
		assert_int_equal(store_schema_version(o[i].s), store_schema_version(o[0].s));
	}
	for (int i = 0; i < 4; i++)
		store_close(o[i].s);
	/* One record per migration: no node applied one twice. */
	PGconn *c = PQconnectdb(f->url);
	PGresult *r = PQexec(c, "SELECT version FROM schema_migrations GROUP BY version "
	                        "HAVING count(*) > 1");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 0);
	PQclear(r);
	PQfinish(c);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	store_close(open_node(f));
	sql_on(f->url, "INSERT INTO schema_migrations VALUES (100000, 0)", PGRES_COMMAND_OK);
	struct store_options opt = {.location = f->url};
	struct store *s = NULL;
	const char *why = NULL;
	assert_int_not_equal(store_open(&opt, &s, &why), PA_OK);
	assert_non_null(why);
	assert_non_null(strstr(why, "newer"));
}

static void test_unreachable_server_fails_to_open(void **state)
{
	(void)state;
	/* Port 1 on this machine: refused at once (connect_timeout covers silent hosts). */
	struct store_options opt = {.location = "postgresql://postgres@127.0.0.1:1/x"};
	struct store *s = NULL;
	const char *why = NULL;
	assert_int_equal(store_open(&opt, &s, &why), PA_ERR_STORE);
	assert_non_null(why);
}

/* ---- the audit log ----------------------------------------------------------------------- */

struct audit_in {
	const struct store_audit *a; /* what to add */
};

static enum pa_err audit_tx(struct store_tx *tx, void *arg)
{
	return store_audit_add(tx, ((struct audit_in *)arg)->a);
}

struct audit_out {
	struct store_audit got; /* the last listed */
	unsigned n;             /* how many */
};

static bool audit_one(void *arg, const struct store_audit *a)
{
	struct audit_out *o = arg;
	o->got = *a;
	o->n++;
	return true;
}

static void test_audit_rows_cannot_change_or_go(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_node(f);
	struct store_audit a = {.at = 1700000000, .account = 7};
	snprintf(a.event, sizeof(a.event), "test.event");
	snprintf(a.outcome, sizeof(a.outcome), "ok");
	/* Bytes that are not UTF-8 (a User-Agent may hold anything) are kept as '?'. */
	snprintf(a.client, sizeof(a.client), "agent \xff\xfe 1 \xc3\xa9");
	struct audit_in in = {.a = &a};
	assert_int_equal(store_write(s, audit_tx, &in), PA_OK);
	struct audit_out out = {0};
	assert_int_equal(store_audit_list(store_reader(s), 7, 0, audit_one, &out), PA_OK);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.got.client, "agent ?? 1 \xc3\xa9");
	store_close(s);

	sql_on(f->url, "UPDATE audit SET outcome = 'changed'", PGRES_FATAL_ERROR);
	sql_on(f->url, "DELETE FROM audit", PGRES_FATAL_ERROR);
	sql_on(f->url, "TRUNCATE audit", PGRES_FATAL_ERROR);
}

/* ---- two nodes, one database ------------------------------------------------------------- */

/* A counter under key, read and written back in one tx fn (as limits.c does). */
struct bump {
	const char *key; /* which */
	enum pa_err e;   /* out */
};

static enum pa_err bump_tx(struct store_tx *tx, void *arg)
{
	struct bump *b = arg;
	uint64_t n = 0;
	size_t len;
	enum pa_err e = store_limit_get(tx, b->key, &n, sizeof(n), &len);
	if (e == PA_OK) {
		n++;
		e = store_limit_put(tx, b->key, &n, sizeof(n), INT64_MAX);
	}
	return e;
}

struct bumper {
	struct store *s;   /* the node */
	const char *key;   /* the counter */
	unsigned times;    /* how often */
	unsigned failures; /* out */
};

static void *bump_thread(void *arg)
{
	struct bumper *b = arg;
	for (unsigned i = 0; i < b->times; i++) {
		struct bump one = {.key = b->key};
		if (store_write(b->s, bump_tx, &one) != PA_OK)
			b->failures++;
	}
	return NULL;
}

static uint64_t counter(struct store *s, const char *key)
{
	uint64_t n = 0;
	size_t len = 0;
	assert_int_equal(store_limit_get(store_reader(s), key, &n, sizeof(n), &len), PA_OK);
	assert_int_equal(len, sizeof(n));
	return n;
}

/* Throttling counters are shared: the read-modify-writes of two nodes never lose one. */
static void test_counters_lose_no_update_between_nodes(void **state)
{
	struct fixture *f = *state;
	struct store *node[2] = {open_node(f), open_node(f)};
	struct bumper b[6];
	pthread_t t[6];
	for (int i = 0; i < 6; i++) {
		b[i] = (struct bumper){.s = node[i % 2], .key = "ip:192.0.2.1", .times = 25};
		assert_int_equal(pthread_create(&t[i], NULL, bump_thread, &b[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(b[i].failures, 0);
	}
	assert_int_equal(counter(node[0], "ip:192.0.2.1"), 6 * 25);
	store_close(node[0]);
	store_close(node[1]);
}

/* Two tx fns that take two counters in opposite orders, each waiting (on its first run) until
 * the other holds its first: PostgreSQL ends one as a deadlock, and its batch runs again. */
struct crossing {
	pthread_mutex_t lock; /* guards below */
	pthread_cond_t cond;  /* holding changed */
	unsigned holding;     /* fns that hold their first counter */
	unsigned runs[2];     /* runs of each fn */
	enum pa_err done[2];  /* done callbacks' results */
	unsigned ndone;       /* how many came */
	bool timed_out;       /* a fn gave up waiting */
};

struct crosser {
	struct crossing *x; /* shared */
	int me;             /* 0 or 1 */
};

static enum pa_err cross_tx(struct store_tx *tx, void *arg)
{
	struct crosser *c = arg;
	struct crossing *x = c->x;
	const char *keys[2] = {"acct:1", "acct:2"};
	const char *first = keys[c->me], *second = keys[1 - c->me];
	uint64_t n = 0;
	size_t len;
	pthread_mutex_lock(&x->lock);
	bool first_run = x->runs[c->me]++ == 0;
	pthread_mutex_unlock(&x->lock);
	enum pa_err e = store_limit_get(tx, first, &n, sizeof(n), &len);
	if (e != PA_OK)
		return e;
	n++;
	e = store_limit_put(tx, first, &n, sizeof(n), INT64_MAX);
	if (e != PA_OK)
		return e;
	if (first_run) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += WAIT_SECONDS;
		pthread_mutex_lock(&x->lock);
		x->holding++;
		pthread_cond_broadcast(&x->cond);
		while (x->holding < 2 && !x->timed_out)
			if (pthread_cond_timedwait(&x->cond, &x->lock, &until) == ETIMEDOUT)
				x->timed_out = true;
		pthread_mutex_unlock(&x->lock);
	}
	n = 0;
	e = store_limit_get(tx, second, &n, sizeof(n), &len);
	if (e != PA_OK)
		return e;
	n++;
	return store_limit_put(tx, second, &n, sizeof(n), INT64_MAX);
}

static void cross_done(void *arg, enum pa_err result)
{
	struct crosser *c = arg;
	pthread_mutex_lock(&c->x->lock);
	c->x->done[c->me] = result;
	c->x->ndone++;
	pthread_cond_broadcast(&c->x->cond);
	pthread_mutex_unlock(&c->x->lock);
}

static void test_deadlocked_batch_runs_again(void **state)
{
	struct fixture *f = *state;
	struct store *node[2] = {open_node(f), open_node(f)};
	struct crossing x = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct crosser c[2] = {{&x, 0}, {&x, 1}};
	store_submit(node[0], cross_tx, &c[0], cross_done);
	store_submit(node[1], cross_tx, &c[1], cross_done);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2 * WAIT_SECONDS;
	pthread_mutex_lock(&x.lock);
	while (x.ndone < 2 && pthread_cond_timedwait(&x.cond, &x.lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&x.lock);
	assert_int_equal(x.ndone, 2);
	assert_false(x.timed_out);
	/* Both committed in the end; one of them ran twice. */
	assert_int_equal(x.done[0], PA_OK);
	assert_int_equal(x.done[1], PA_OK);
	assert_int_equal(x.runs[0] + x.runs[1], 3);
	/* Only the last run counted: each fn added one to each counter. */
	assert_int_equal(counter(node[0], "acct:1"), 2);
	assert_int_equal(counter(node[0], "acct:2"), 2);
	store_close(node[0]);
	store_close(node[1]);
}

/* ---- a failure of a statement sent ahead --------------------------------------------------- */

/*
 * In a batch run without savepoints, audit rows are sent ahead and their answers read later.
 * A trigger refuses one of them: the fn that added it must fail alone (after the batch runs
 * again with a savepoint per fn), and the other fns of the batch commit, each row once.
 */
#define AHEAD_FNS 4

struct ahead {
	pthread_mutex_t lock;          /* guards below */
	pthread_cond_t cond;           /* queued, or a done ran */
	bool queued;                   /* every fn is submitted: the gate may go on */
	bool timed_out;                /* the gate gave up waiting */
	unsigned ndone;                /* done callbacks so far */
	unsigned runs[AHEAD_FNS];      /* times each fn ran */
	enum pa_err result[AHEAD_FNS]; /* each fn's done result */
};

struct ahead_fn {
	struct ahead *a; /* the test */
	unsigned i;      /* which fn: 0 is the gate, 2 adds the refused row */
};

static enum pa_err ahead_tx(struct store_tx *tx, void *arg)
{
	struct ahead_fn *af = arg;
	struct ahead *a = af->a;
	pthread_mutex_lock(&a->lock);
	a->runs[af->i]++;
	pthread_cond_broadcast(&a->cond);
	if (af->i == 0) {
		/* Hold the writer until the others are queued behind, so they share the batch. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += WAIT_SECONDS;
		while (!a->queued && !a->timed_out)
			if (pthread_cond_timedwait(&a->cond, &a->lock, &until) == ETIMEDOUT)
				a->timed_out = true;
	}
	pthread_mutex_unlock(&a->lock);
	struct store_audit au;
	memset(&au, 0, sizeof(au));
	au.at = 1;
	snprintf(au.event, sizeof(au.event), "test.ahead");
	snprintf(au.outcome, sizeof(au.outcome), "ok");
	snprintf(au.detail, sizeof(au.detail), af->i == 2 ? "refuse me" : "row %u", af->i);
	return store_audit_add(tx, &au);
}

static void ahead_done(void *arg, enum pa_err result)
{
	struct ahead_fn *af = arg;
	struct ahead *a = af->a;
	pthread_mutex_lock(&a->lock);
	a->result[af->i] = result;
	a->ndone++;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

struct ahead_seen {
	unsigned rows[AHEAD_FNS]; /* rows seen per fn */
	unsigned other;           /* rows of no fn */
};

static bool ahead_seen_fn(void *arg, const struct store_audit *au)
{
	struct ahead_seen *seen = arg;
	unsigned i;
	if (strcmp(au->event, "test.ahead") != 0)
		seen->other++;
	else if (strcmp(au->detail, "refuse me") == 0)
		seen->rows[2]++;
	else if (sscanf(au->detail, "row %u", &i) == 1 && i < AHEAD_FNS)
		seen->rows[i]++;
	else
		seen->other++;
	return true;
}

static void test_a_refused_statement_sent_ahead_fails_only_its_fn(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = {.location = f->url, .writers = 1};
	struct store *s = NULL;
	const char *why = NULL;
	assert_int_equal(store_open(&opt, &s, &why), PA_OK);
	sql_on(f->url,
	       "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
	       "IF NEW.detail = 'refuse me' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
	       "RETURN NEW; END$$;"
	       "CREATE TRIGGER refuse_one BEFORE INSERT ON audit FOR EACH ROW "
	       "EXECUTE FUNCTION refuse_one()",
	       PGRES_COMMAND_OK);
	struct ahead a = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct ahead_fn fns[AHEAD_FNS];
	for (unsigned i = 0; i < AHEAD_FNS; i++)
		fns[i] = (struct ahead_fn){&a, i};
	/* The gate first, alone in its batch; the others queue behind it and share the next. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2 * WAIT_SECONDS;
	store_submit(s, ahead_tx, &fns[0], ahead_done);
	pthread_mutex_lock(&a.lock);
	while (a.runs[0] == 0 && pthread_cond_timedwait(&a.cond, &a.lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&a.lock);
	assert_int_equal(a.runs[0], 1);
	for (unsigned i = 1; i < AHEAD_FNS; i++)
		store_submit(s, ahead_tx, &fns[i], ahead_done);
	pthread_mutex_lock(&a.lock);
	a.queued = true;
	pthread_cond_broadcast(&a.cond);
	while (a.ndone < AHEAD_FNS && pthread_cond_timedwait(&a.cond, &a.lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&a.lock);
	assert_int_equal(a.ndone, AHEAD_FNS);
	assert_false(a.timed_out);
	assert_int_equal(a.result[0], PA_OK);
	assert_int_equal(a.result[1], PA_OK);
	assert_int_equal(a.result[2], PA_ERR_STORE);
	assert_int_equal(a.result[3], PA_OK);
	/* The gate's batch committed at once; the others' ran carelessly, then carefully. */
	assert_int_equal(a.runs[0], 1);
	for (unsigned i = 1; i < AHEAD_FNS; i++)
		assert_int_equal(a.runs[i], 2);
	struct ahead_seen seen = {{0}, 0};
	assert_int_equal(store_audit_list(store_reader(s), 0, 0, ahead_seen_fn, &seen), PA_OK);
	assert_int_equal(seen.rows[0], 1);
	assert_int_equal(seen.rows[1], 1);
	assert_int_equal(seen.rows[2], 0);
	assert_int_equal(seen.rows[3], 1);
	/* The writer goes on: the next batch commits. */
	struct ahead_fn again = {&a, 1};
	assert_int_equal(store_write(s, ahead_tx, &again), PA_OK);
	store_close(s);
}

/* ---- key checks between nodes ------------------------------------------------------------ */

/* Two nodes start at once and record the same key check: one reads nothing, the other records
 * its value meanwhile; the first one's add then conflicts, and a read after it sees the other's
 * value (what server/app.c relies on to compare with the winner). */
struct key_race {
	pthread_mutex_t lock;          /* guards below */
	pthread_cond_t cond;           /* a step changed */
	bool looked, committed, ended; /* the fn read; the other node's add committed; done ran */
	bool timed_out;                /* the fn gave up waiting */
	struct store_key_check mine;   /* what the fn records */
	enum pa_err first, added;      /* what its get, then its add returned */
	enum pa_err second;            /* what its get after the add returned */
	struct store_key_check seen;   /* and read */
	enum pa_err result;            /* done's result */
};

static enum pa_err key_race_tx(struct store_tx *tx, void *arg)
{
	struct key_race *k = arg;
	struct store_key_check got;
	k->first = store_key_check_get(tx, k->mine.name, &got);
	pthread_mutex_lock(&k->lock);
	k->looked = true;
	pthread_cond_broadcast(&k->cond);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_SECONDS;
	while (!k->committed && !k->timed_out)
		if (pthread_cond_timedwait(&k->cond, &k->lock, &until) == ETIMEDOUT)
			k->timed_out = true;
	pthread_mutex_unlock(&k->lock);
	k->added = store_key_check_add(tx, &k->mine);
	k->second = store_key_check_get(tx, k->mine.name, &k->seen);
	return PA_OK;
}

static void key_race_done(void *arg, enum pa_err result)
{
	struct key_race *k = arg;
	pthread_mutex_lock(&k->lock);
	k->result = result;
	k->ended = true;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

struct key_add {
	const struct store_key_check *k; /* what to record */
};

static enum pa_err key_add_tx(struct store_tx *tx, void *arg)
{
	return store_key_check_add(tx, ((struct key_add *)arg)->k);
}

static void test_key_check_recorded_by_another_node_meanwhile(void **state)
{
	struct fixture *f = *state;
	struct store *node[2] = {open_node(f), open_node(f)};
	struct key_race k = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct store_key_check theirs = {.name = "master:1", .len = 16, .created_at = 1700000000};
	snprintf(k.mine.name, sizeof(k.mine.name), "master:1");
	randombytes_buf(k.mine.value, 16);
	k.mine.len = 16;
	randombytes_buf(theirs.value, 16);
	store_submit(node[0], key_race_tx, &k, key_race_done);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2 * WAIT_SECONDS;
	pthread_mutex_lock(&k.lock);
	while (!k.looked && pthread_cond_timedwait(&k.cond, &k.lock, &until) != ETIMEDOUT)
		;
	bool looked = k.looked;
	pthread_mutex_unlock(&k.lock);
	assert_true(looked);
	struct key_add add = {&theirs};
	assert_int_equal(store_write(node[1], key_add_tx, &add), PA_OK);
	pthread_mutex_lock(&k.lock);
	k.committed = true;
	pthread_cond_broadcast(&k.cond);
	while (!k.ended && pthread_cond_timedwait(&k.cond, &k.lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&k.lock);
	assert_true(k.ended);
	assert_false(k.timed_out);
	assert_int_equal(k.result, PA_OK);
	assert_int_equal(k.first, PA_ERR_NOT_FOUND);
	assert_int_equal(k.added, PA_ERR_CONFLICT);
	assert_int_equal(k.second, PA_OK);
	assert_int_equal(k.seen.len, 16);
	assert_memory_equal(k.seen.value, theirs.value, 16);
	/* and the other node's value is what stays */
	struct store_key_check got;
	assert_int_equal(store_key_check_get(store_reader(node[0]), "master:1", &got), PA_OK);
	assert_memory_equal(got.value, theirs.value, 16);
	store_close(node[0]);
	store_close(node[1]);
}

/* ---- connections the server dropped ------------------------------------------------------ */

struct account_in {
	char name[32]; /* the new account */
	int64_t id;    /* out */
};

static enum pa_err account_tx(struct store_tx *tx, void *arg)
{
	struct account_in *a = arg;
	return store_account_create(tx, a->name, "", 0, 1700000000, &a->id);
}

static void test_dropped_connections_are_made_again(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_node(f);
	struct store_tx *rd = store_reader(s);
	struct account_in a = {.name = "before"};
	struct store_account got;
	/* The writer's connection and a reader's, with statements prepared on them. */
	assert_int_equal(store_write(s, account_tx, &a), PA_OK);
	assert_int_equal(store_account_by_name(rd, "before", &got), PA_OK);
	for (int round = 0; round < 2; round++) {
		sql_on(f->url,
		       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		       "WHERE datname = current_database() AND pid <> pg_backend_pid()",
		       PGRES_TUPLES_OK);
		/* Nothing had happened on them: the store makes new ones and prepares again. */
		assert_int_equal(store_account_by_name(rd, "before", &got), PA_OK);
		snprintf(a.name, sizeof(a.name), "after%d", round);
		assert_int_equal(store_write(s, account_tx, &a), PA_OK);
		assert_int_equal(store_read_begin(rd), PA_OK);
		assert_int_equal(store_account_by_name(rd, a.name, &got), PA_OK);
		store_read_end(rd);
	}
	store_close(s);
}

/* A batch whose statements are all sent ahead (here an audit row) reaches the server first
 * with its COMMIT.  A writer connection the server dropped while it was idle is found so
 * before the batch, and the batch runs on a new one: it is not failed as if its COMMIT had
 * been lost. */
static void test_a_batch_sent_whole_after_the_connection_dropped_commits(void **state)
{
	struct fixture *f = *state;
	struct store_options opt = {.location = f->url, .writers = 1};
	struct store *s = NULL;
	const char *why = NULL;
	assert_int_equal(store_open(&opt, &s, &why), PA_OK);
	struct store_audit a = {.at = 1700000000, .account = 9};
	snprintf(a.event, sizeof(a.event), "test.event");
	snprintf(a.outcome, sizeof(a.outcome), "ok");
	struct audit_in in = {.a = &a};
	assert_int_equal(store_write(s, audit_tx, &in), PA_OK);
	for (int round = 0; round < 2; round++) {
		sql_on(f->url,
		       "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		       "WHERE datname = current_database() AND pid <> pg_backend_pid()",
		       PGRES_TUPLES_OK);
		/* Let the writer's socket see the server's goodbye. */
		struct timespec ts = {.tv_nsec = 100000000};
		nanosleep(&ts, NULL);
		assert_int_equal(store_write(s, audit_tx, &in), PA_OK);
	}
	struct audit_out out = {0};
	assert_int_equal(store_audit_list(store_reader(s), 9, 0, audit_one, &out), PA_OK);
	assert_int_equal(out.n, 3);
	store_close(s);
}

int main(void)
{
	if (pa_core_init() != PA_OK)
		return 1;
	if (!server_url()) {
		printf("test_store_postgres: skipped: PAHARA_TEST_STORE is no postgresql:// URL "
		       "(make store-tests runs it)\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_nodes_starting_at_once_migrate_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
	    cmocka_unit_test(test_unreachable_server_fails_to_open),
	    cmocka_unit_test_setup_teardown(test_audit_rows_cannot_change_or_go, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_counters_lose_no_update_between_nodes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_deadlocked_batch_runs_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_refused_statement_sent_ahead_fails_only_its_fn,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_check_recorded_by_another_node_meanwhile,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_batch_sent_whole_after_the_connection_dropped_commits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dropped_connections_are_made_again, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests_name("PostgreSQL store", tests, NULL, NULL);
}
