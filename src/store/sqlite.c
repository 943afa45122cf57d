/*
 * sqlite.c — the embedded store: one SQLite file in WAL mode.
 *
 * Writes: one writer thread owns the only read-write connection.  It takes every queued tx fn
 * (up to batch_max) and runs them in one BEGIN IMMEDIATE .. COMMIT; with synchronous=FULL the
 * COMMIT is the one flush for the whole batch.  Only then are the done callbacks called.  While
 * a batch commits, new work queues up, so batches grow with the load (group commit).
 *
 * A failing fn must undo only itself.  The writer first runs a batch carelessly, with no
 * savepoints: almost always every fn returns PA_OK (a refused code is an answer, not a
 * failure), and then that one transaction is the batch.  When a fn fails, the writer rolls
 * the whole transaction back and runs the batch again carefully, each fn inside its own
 * SAVEPOINT (store.h allows a fn to run more than once).  A batch of one fn needs no second
 * run: its rollback is its undoing.  What the careless run saves is two statements per fn
 * (SAVEPOINT, RELEASE) and the copies SQLite keeps, for each savepoint, of the pages that
 * earlier fns of the batch had changed.
 *
 * Reads: each thread that reads gets its own connection (query_only) on first use, kept in
 * thread-local storage and closed when the thread ends or the store closes.
 *
 * Statements: each connection prepares a statement on first use and keeps it (stmt_get).
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/backend.h"

/* ---- statements ------------------------------------------------------------------------ */

enum stmt_id {
	ST_SAVEPOINT,
	ST_BEGIN,
	ST_COMMIT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_ACCOUNT_INSERT,
	ST_ACCOUNT_BY_NAME,
	ST_ACCOUNT_BY_ID,
	ST_ACCOUNT_SET_PASSWORD,
	ST_ACCOUNT_SET_DISABLED,
	ST_ACCOUNT_SET_TWOFACTOR,
	ST_ACCOUNT_LIST,
	ST_TOTP_GET,
	ST_TOTP_PUT,
	ST_TOTP_CONSUME,
	ST_TOTP_CONSUME_UNTHROTTLED,
	ST_TOTP_DELETE,
	ST_BACKUP_LIST,
	ST_BACKUP_FIND,
	ST_BACKUP_ADD,
	ST_BACKUP_SET_STATUS,
	ST_BACKUP_TRIM,
	ST_BACKUP_DELETE_ALL,
	ST_TMPPASS_LIST,
	ST_TMPPASS_ADD,
	ST_TMPPASS_CONSUME,
	ST_TMPPASS_DELETE,
	ST_TMPPASS_PURGE,
	ST_TMPPASS_DELETE_ALL,
	ST_SESSION_ADD,
	ST_SESSION_BY_TOKEN,
	ST_SESSION_LIST,
	ST_SESSION_REVOKE,
	ST_SESSION_REVOKE_ALL,
	ST_SESSION_SET_AUTH,
	ST_LOGIN_ADD,
	ST_LOGIN_BY_HASH,
	ST_LOGIN_FAIL,
	ST_LOGIN_END,
	ST_LOGIN_END_ALL,
	ST_LIMIT_GET,
	ST_LIMIT_PUT,
	ST_SERVICE_ADD,
	ST_SERVICE_BY_KEY,
	ST_CHECK_READ,
	ST_SERVICE_LIST,
	ST_KEY_CHECK_GET,
	ST_KEY_CHECK_ADD,
	ST_KEY_CHECK_DELETE,
	ST_KEY_CHECK_LIST,
	ST_PURGE_LIMITS,
	ST_PURGE_LOGINS,
	ST_PURGE_SESSIONS,
	ST_AUDIT_ADD,
	ST_AUDIT_LIST,
	ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_RELEASE] = "RELEASE op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO op",
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts(name, pwhash, service_id, created_at) "
                          "VALUES (?1, ?2, ?3, ?4)",
    [ST_ACCOUNT_BY_NAME] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                           "service_id FROM accounts WHERE name = ?1",
    [ST_ACCOUNT_BY_ID] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                         "service_id FROM accounts WHERE id = ?1",
    [ST_ACCOUNT_SET_PASSWORD] = "UPDATE accounts SET pwhash = ?2 WHERE id = ?1",
    [ST_ACCOUNT_SET_DISABLED] = "UPDATE accounts SET disabled = ?2 WHERE id = ?1",
    [ST_ACCOUNT_SET_TWOFACTOR] = "UPDATE accounts SET twofactor = ?2 WHERE id = ?1",
    [ST_ACCOUNT_LIST] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                        "service_id FROM accounts ORDER BY name",
    [ST_TOTP_GET] = "SELECT sealed, alg, digits, period, confirmed, last_step, drift, "
                    "created_at FROM totp WHERE account_id = ?1",
    [ST_TOTP_PUT] = "INSERT OR REPLACE INTO totp(account_id, sealed, alg, digits, period, "
                    "confirmed, last_step, drift, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    /* RFC 6238 §5.2: the condition is the whole point — a step is accepted once. */
    [ST_TOTP_CONSUME] = "UPDATE totp SET last_step = ?2, drift = ?3, confirmed = 1 "
                        "WHERE account_id = ?1 AND sealed = ?4 "
                        "AND (last_step IS NULL OR last_step < ?2)",
    [ST_TOTP_CONSUME_UNTHROTTLED] = "UPDATE totp SET last_step = ?2, drift = ?3, confirmed = 1 "
                                    "WHERE account_id = ?1 AND sealed = ?4 "
                                    "AND (last_step IS NULL OR last_step < ?2) "
                                    "AND NOT EXISTS (SELECT 1 FROM limits WHERE key = ?5) "
                                    "AND NOT EXISTS (SELECT 1 FROM accounts "
                                    "WHERE id = ?1 AND disabled <> 0)",
    [ST_TOTP_DELETE] = "DELETE FROM totp WHERE account_id = ?1",
    [ST_BACKUP_LIST] = "SELECT generation, hash, status, created_at FROM "
                       "(SELECT * FROM backup_codes WHERE account_id = ?1 "
                       "ORDER BY generation DESC LIMIT ?2) ORDER BY generation",
    [ST_BACKUP_FIND] = "SELECT generation, hash, status, created_at FROM backup_codes "
                       "WHERE account_id = ?1 AND hash = ?2",
    [ST_BACKUP_ADD] = "INSERT INTO backup_codes(account_id, generation, hash, status, "
                      "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_BACKUP_SET_STATUS] = "UPDATE backup_codes SET status = ?3 "
                             "WHERE account_id = ?1 AND generation = ?2 AND status = 0",
    [ST_BACKUP_TRIM] = "DELETE FROM backup_codes WHERE account_id = ?1 AND generation < ?2 "
                       "AND status <> 0",
    [ST_BACKUP_DELETE_ALL] = "DELETE FROM backup_codes WHERE account_id = ?1",
    [ST_TMPPASS_LIST] = "SELECT id, hash, created_at, expires_at, used_at FROM tmp_passwords "
                        "WHERE account_id = ?1 "
                        "ORDER BY (used_at = 0 AND expires_at > ?2) DESC, id DESC LIMIT ?3",
    [ST_TMPPASS_ADD] = "INSERT INTO tmp_passwords(account_id, hash, created_at, expires_at, "
                       "used_at, id) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
    [ST_TMPPASS_CONSUME] = "UPDATE tmp_passwords SET used_at = ?3 "
                           "WHERE account_id = ?1 AND id = ?2 AND used_at = 0",
    [ST_TMPPASS_DELETE] = "DELETE FROM tmp_passwords WHERE account_id = ?1 AND id = ?2",
    [ST_TMPPASS_PURGE] = "DELETE FROM tmp_passwords WHERE account_id = ?1 AND "
                         "(expires_at < ?2 OR (used_at <> 0 AND used_at < ?2))",
    [ST_TMPPASS_DELETE_ALL] = "DELETE FROM tmp_passwords WHERE account_id = ?1",
    [ST_SESSION_ADD] = "INSERT INTO sessions(token_hash, account_id, kind, client, ip, "
                       "created_at, auth_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
    [ST_SESSION_BY_TOKEN] = "SELECT id, token_hash, account_id, kind, client, ip, created_at, "
                            "auth_at, revoked_at FROM sessions WHERE token_hash = ?1",
    [ST_SESSION_LIST] = "SELECT id, token_hash, account_id, kind, client, ip, created_at, "
                        "auth_at, revoked_at FROM sessions WHERE account_id = ?1 "
                        "AND revoked_at = 0 ORDER BY id",
    [ST_SESSION_REVOKE] = "UPDATE sessions SET revoked_at = ?3 WHERE account_id = ?1 "
                          "AND id = ?2 AND revoked_at = 0",
    [ST_SESSION_REVOKE_ALL] = "UPDATE sessions SET revoked_at = ?3 WHERE account_id = ?1 "
                              "AND id <> ?2 AND revoked_at = 0",
    [ST_SESSION_SET_AUTH] = "UPDATE sessions SET auth_at = ?2 WHERE id = ?1",
    [ST_LOGIN_ADD] = "INSERT INTO logins(id_hash, account_id, state, failures, client, ip, "
                     "created_at, expires_at, session_id) "
                     "VALUES (?1, ?2, 0, 0, ?3, ?4, ?5, ?6, 0)",
    [ST_LOGIN_BY_HASH] = "SELECT id, id_hash, account_id, state, failures, client, ip, "
                         "created_at, expires_at, session_id FROM logins WHERE id_hash = ?1",
    [ST_LOGIN_FAIL] = "UPDATE logins SET failures = failures + 1 WHERE id = ?1 AND state = 0 "
                      "RETURNING failures",
    [ST_LOGIN_END] = "UPDATE logins SET state = ?2, session_id = ?3 WHERE id = ?1 "
                     "AND state = 0",
    [ST_LOGIN_END_ALL] = "UPDATE logins SET state = ?2 WHERE account_id = ?1 AND state = 0",
    [ST_LIMIT_GET] = "SELECT blob FROM limits WHERE key = ?1",
    [ST_LIMIT_PUT] = "INSERT OR REPLACE INTO limits(key, blob, expires_at) VALUES (?1, ?2, ?3)",
    [ST_SERVICE_ADD] = "INSERT INTO services(name, key_hash, disabled, created_at) "
                       "VALUES (?1, ?2, 0, ?3)",
    [ST_SERVICE_BY_KEY] = "SELECT id, name, key_hash, disabled, created_at FROM services "
                          "WHERE key_hash = ?1",
    [ST_CHECK_READ] = "SELECT s.id, s.name, s.key_hash, s.disabled, s.created_at, "
                      "a.id, a.name, a.pwhash, a.disabled, a.twofactor, a.created_at, "
                      "a.service_id, t.sealed, t.alg, t.digits, t.period, t.confirmed, "
                      "t.last_step, t.drift, t.created_at FROM services s "
                      "LEFT JOIN accounts a ON a.name = ?2 "
                      "LEFT JOIN totp t ON t.account_id = a.id WHERE s.key_hash = ?1",
    [ST_SERVICE_LIST] = "SELECT id, name, key_hash, disabled, created_at FROM services "
                        "ORDER BY name",
    [ST_KEY_CHECK_GET] = "SELECT name, value, created_at FROM key_checks WHERE name = ?1",
    [ST_KEY_CHECK_ADD] = "INSERT INTO key_checks(name, value, created_at) VALUES (?1, ?2, ?3)",
    [ST_KEY_CHECK_DELETE] = "DELETE FROM key_checks WHERE name = ?1",
    [ST_KEY_CHECK_LIST] = "SELECT name, value, created_at FROM key_checks ORDER BY name",
    [ST_PURGE_LIMITS] = "DELETE FROM limits WHERE expires_at < ?1",
    [ST_PURGE_LOGINS] = "DELETE FROM logins WHERE expires_at < ?1",
    [ST_PURGE_SESSIONS] = "DELETE FROM sessions WHERE revoked_at <> 0 AND revoked_at < ?1",
    [ST_AUDIT_ADD] = "INSERT INTO audit(at, account_id, account_name, event, outcome, ip, "
                     "client, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_AUDIT_LIST] = "SELECT id, at, account_id, account_name, event, outcome, ip, client, "
                      "detail FROM audit WHERE at >= ?2 AND (?1 = 0 OR account_id = ?1) "
                      "ORDER BY id",
};

/* ---- schema ---------------------------------------------------------------------------- */

/*
 * Numbered migrations: migration i (1-based) takes the schema from version i-1 to i.  Never
 * edit a published migration; add the next one.  The PostgreSQL store has the same numbers
 * with the same meaning.
 */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  pwhash TEXT NOT NULL DEFAULT '',"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  twofactor INTEGER NOT NULL DEFAULT 0,"
    "  service_id INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE totp ("
    "  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),"
    "  sealed BLOB NOT NULL,"
    "  alg INTEGER NOT NULL, digits INTEGER NOT NULL, period INTEGER NOT NULL,"
    "  confirmed INTEGER NOT NULL,"
    "  last_step INTEGER,"
    "  drift INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE backup_codes ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  generation INTEGER NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, generation));"
    "CREATE TABLE tmp_passwords ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  id INTEGER NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, id));"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  kind INTEGER NOT NULL, client TEXT NOT NULL, ip TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, auth_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL);"
    "CREATE INDEX sessions_account ON sessions(account_id);"
    "CREATE TABLE logins ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id_hash BLOB NOT NULL UNIQUE,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  state INTEGER NOT NULL, failures INTEGER NOT NULL,"
    "  client TEXT NOT NULL, ip TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  session_id INTEGER NOT NULL);"
    "CREATE TABLE limits ("
    "  key TEXT PRIMARY KEY, blob BLOB NOT NULL, expires_at INTEGER NOT NULL);"
    "CREATE TABLE services ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE, key_hash BLOB NOT NULL UNIQUE,"
    "  disabled INTEGER NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER NOT NULL, account_id INTEGER NOT NULL, account_name TEXT NOT NULL,"
    "  event TEXT NOT NULL, outcome TEXT NOT NULL, ip TEXT NOT NULL, client TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX audit_account ON audit(account_id, id);"
    /* Append-only: the database itself refuses to change or remove an audit row. */
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;",
    /* 2: indexes for housekeeping's deletes (PostgreSQL's 2 also adds a function that only it
     * needs: SQLite's single writer reads its counters without a lock). */
    "CREATE INDEX limits_expires ON limits(expires_at);"
    "CREATE INDEX logins_expires ON logins(expires_at);"
    "CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at <> 0;",
    /* 3: fingerprints of the key files the data was made with (store.h, key checks). */
    "CREATE TABLE key_checks ("
    "  name TEXT NOT NULL PRIMARY KEY,"
    "  value BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL);",
    /* 4: an account's pending sign-ins, which a password change or a disable ends. */
    "CREATE INDEX logins_pending ON logins(account_id) WHERE state = 0;",
};
#define MIGRATIONS_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- the store ------------------------------------------------------------------------- */

static const struct store_ops sqlite_ops;

/* Every context and the store begin with their store.c base, which names sqlite_ops. */
struct sq_tx {
	struct store_tx base;           /* first: store.c dispatches through it */
	struct sq_store *s;             /* owner */
	sqlite3 *db;                    /* this context's connection */
	bool writable;                  /* the writer's connection */
	sqlite3_stmt *stmts[ST__COUNT]; /* prepared on first use */
	struct sq_tx *next_reader;      /* the store's list of reader contexts */
};

struct op {
	store_tx_fn fn;     /* what to run */
	void *arg;          /* its argument */
	store_done_fn done; /* called after commit (may be NULL) */
	enum pa_err result; /* fn's result, then the commit's */
	bool settled;       /* careful run: result is final, fn runs no more */
	struct op *next;    /* queue link */
};

struct sq_store {
	struct store base;        /* first: store.c dispatches through it */
	char *path;               /* the database file */
	unsigned batch_max;       /* most ops per commit */
	struct sq_tx writer;      /* the writer's context */
	pthread_t thread;         /* the writer thread */
	pthread_mutex_t lock;     /* guards queue, stopping, readers */
	pthread_cond_t wake;      /* work queued, or stopping */
	struct op *head, *tail;   /* queued ops */
	bool stopping;            /* close requested */
	pthread_key_t reader_key; /* thread -> its reader context */
	struct sq_tx *readers;    /* every reader context, to close at the end */
	int version;              /* schema version */
	/* Checkpoints run on a thread of their own, so that the writer never stops a batch to
	 * copy the WAL back into the database (and answers never wait for that). */
	sqlite3 *ckpt_db;         /* its connection */
	pthread_t ckpt_thread;    /* the checkpointer */
	pthread_cond_t ckpt_wake; /* the WAL grew past CKPT_FRAMES, or stopping */
	int wal_frames;           /* frames in the WAL after the last commit */
	bool ckpt_started;        /* ckpt_thread runs */
};

#define BUSY_TIMEOUT_MS 5000   /* longest wait for another connection's lock */
#define CKPT_FRAMES 4096       /* checkpoint when the WAL holds this many pages (16 MiB) */
#define CKPT_FRAMES_HARD 65536 /* past this the writer checkpoints itself (a stuck thread) */

static void log_db(sqlite3 *db, const char *what)
{
	fprintf(stderr, "pahara: store: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no connection");
}

/* The writer runs statements only inside its transaction.  After some errors (I/O, a full
 * disk, no memory, an interrupt) SQLite rolls the transaction back by itself; a tx fn that went
 * on regardless would otherwise run each later statement in a transaction of its own, which
 * commits at once, whatever the fn returns. */
static bool writer_lost(struct sq_tx *tx)
{
	if (!tx->writable || !sqlite3_get_autocommit(tx->db))
		return false;
	fprintf(stderr, "pahara: store: a statement after the transaction had ended: refused\n");
	return true;
}

static sqlite3_stmt *stmt_get(struct sq_tx *tx, enum stmt_id id)
{
	if (writer_lost(tx))
		return NULL;
	sqlite3_stmt *st = tx->stmts[id];
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	if (sqlite3_prepare_v3(tx->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK) {
		log_db(tx->db, stmt_sql[id]);
		return NULL;
	}
	tx->stmts[id] = st;
	return st;
}

static void tx_finalize(struct sq_tx *tx)
{
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(tx->stmts[i]);
		tx->stmts[i] = NULL;
	}
	sqlite3_close(tx->db);
	tx->db = NULL;
}

/* PRAGMA journal_mode = WAL on a read-write connection.  Turning a new file to WAL takes an
 * exclusive lock, and while other connections open the same new file (a server and an admin
 * command on their first run) SQLite answers SQLITE_BUSY at once, without waiting in the busy
 * handler: so try again for as long as the busy timeout. */
static int wal_on(sqlite3 *db)
{
	for (int waited = 0;; waited += 10) {
		int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
		if (rc != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
			return rc == SQLITE_OK ? 0 : -1;
		sqlite3_sleep(10);
	}
}

static int db_open(const char *path, bool readonly, sqlite3 **out)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	if (!readonly)
		flags |= SQLITE_OPEN_CREATE;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		log_db(db, "open");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* Page caches: a reader's keeps its pread()s down (the hot rows are spread over the
	 * whole file).  The writer keeps SQLite's default: it ends a transaction per batch, and
	 * a large cache made each end cost more than its misses saved (measured with
	 * bench/loadgen: about 15 us more CPU per verification at 256 MiB). */
	const char *pragmas = readonly ? "PRAGMA query_only = 1; PRAGMA foreign_keys = ON; "
	                                 "PRAGMA cache_size = -65536;"
	                               : "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";
	if ((!readonly && wal_on(db) != 0) ||
	    sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		log_db(db, "pragmas");
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

/* The schema version the database records; -1 if it cannot be read (as before the first
 * migration, when there is no schema_migrations table). */
static int schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1,
	                       &st, NULL) != SQLITE_OK)
		return -1;
	int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

/*
 * Bring the schema to MIGRATIONS_COUNT.  Another process may open the same store meanwhile (a
 * server starting while an admin command runs), so each step reads the version and applies the
 * next migration inside one BEGIN IMMEDIATE: a version read outside it may be stale by the
 * time the lock is held, and the migration would run twice.  A store already at the newest
 * version takes no lock: versions only grow, so a read outside a transaction is enough.
 */
static int migrate(struct sq_store *s, const char **why)
{
	sqlite3 *db = s->writer.db;
	int v = schema_version(db);
	while (v < MIGRATIONS_COUNT) {
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			log_db(db, "migration");
			*why = "cannot lock the database to migrate its schema";
			return -1;
		}
		const char *fail = NULL;
		if (sqlite3_exec(db,
		                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
		                 " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
		                 NULL, NULL, NULL) != SQLITE_OK)
			fail = "cannot create the migrations table";
		else if ((v = schema_version(db)) < 0)
			fail = "cannot read the schema version";
		if (!fail && v < MIGRATIONS_COUNT) {
			char rec[128];
			snprintf(rec, sizeof(rec),
			         "INSERT INTO schema_migrations VALUES (%d, CAST(strftime('%%s') "
			         "AS INT))",
			         v + 1);
			if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
			    sqlite3_exec(db, rec, NULL, NULL, NULL) != SQLITE_OK)
				fail = "a schema migration failed";
			v++;
		}
		if (!fail && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			fail = "a schema migration failed";
		if (fail) {
			log_db(db, "migration");
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			*why = fail;
			return -1;
		}
	}
	if (v > MIGRATIONS_COUNT) {
		*why = "the database was made by a newer Pahara (schema version too high)";
		return -1;
	}
	s->version = v;
	return 0;
}

static bool step_ok(struct sq_tx *tx, sqlite3_stmt *st, int rc)
{
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return true;
	log_db(tx->db, sqlite3_sql(st));
	return false;
}

/* Reset every statement of tx: one left stepping would keep its snapshot open. */
static void stmts_reset(struct sq_tx *tx)
{
	for (int i = 0; i < ST__COUNT; i++)
		if (tx->stmts[i])
			sqlite3_reset(tx->stmts[i]);
}

/* Reset every statement, then ROLLBACK the writer's transaction if SQLite has not already
 * (it rolls back by itself after some errors, such as a full disk). */
static void writer_rollback(struct sq_tx *tx)
{
	stmts_reset(tx);
	if (!sqlite3_get_autocommit(tx->db) &&
	    sqlite3_exec(tx->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		log_db(tx->db, "rollback");
}

/* Run the batch with no savepoints.  true: every fn returned PA_OK and the batch committed
 * (or it was one fn, and its result, an error or the commit's, is final); false: nothing is
 * left of this run, and the batch must run again carefully. */
static bool run_careless(struct sq_store *s, struct op *batch)
{
	struct sq_tx *tx = &s->writer;
	if (sqlite3_exec(tx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return false; /* the careful run logs it */
	for (struct op *o = batch; o; o = o->next) {
		o->result = o->fn(&tx->base, o->arg);
		if (o->result == PA_OK && sqlite3_get_autocommit(tx->db))
			o->result = PA_ERR_STORE; /* SQLite ended the transaction, and o's work */
		if (o->result != PA_OK) {
			writer_rollback(tx);
			return !batch->next;
		}
	}
	if (sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return true;
	log_db(tx->db, "commit");
	writer_rollback(tx);
	if (batch->next)
		return false;
	batch->result = PA_ERR_STORE;
	return true;
}

/* One op of a careful pass, in its own savepoint.  false: the pass's transaction is lost, or
 * must be given up (a savepoint statement failed), and o->result is an error: SQLite ended
 * the transaction during o (o's work, and that of every op before it in the pass, went with
 * it), or o's savepoint could not be made, undone or released. */
static bool run_in_savepoint(struct sq_tx *tx, struct op *o)
{
	sqlite3_stmt *st = stmt_get(tx, ST_SAVEPOINT);
	if (!st || sqlite3_step(st) != SQLITE_DONE) {
		log_db(tx->db, "savepoint");
		o->result = PA_ERR_STORE;
		return false;
	}
	o->result = o->fn(&tx->base, o->arg);
	if (o->result != PA_OK && !sqlite3_get_autocommit(tx->db)) {
		st = stmt_get(tx, ST_ROLLBACK_TO);
		if (!st || sqlite3_step(st) != SQLITE_DONE) {
			log_db(tx->db, "rollback to");
			return false;
		}
	}
	if (sqlite3_get_autocommit(tx->db)) {
		if (o->result == PA_OK)
			o->result = PA_ERR_STORE;
		return false;
	}
	st = stmt_get(tx, ST_RELEASE);
	if (!st || sqlite3_step(st) != SQLITE_DONE) {
		log_db(tx->db, "release");
		if (o->result == PA_OK)
			o->result = PA_ERR_STORE;
		return false;
	}
	return true;
}

/*
 * Run the batch carefully: every op in its own savepoint, one commit for all.
 *
 * When a pass loses its transaction (SQLite rolls it back by itself after some errors: I/O, a
 * full disk, no memory, an interrupt), the op it was lost in keeps its error, and the pass
 * starts over, in a new transaction, without that op: the ops before it lost their work with
 * the transaction.  Each pass settles at least one op, so there are at most as many passes as
 * ops; each op reported PA_OK is committed, and an op reported failed left nothing behind.
 */
static void run_careful(struct sq_store *s, struct op *batch)
{
	struct sq_tx *tx = &s->writer;
	for (struct op *o = batch; o; o = o->next)
		o->settled = false;
	struct op *lost;
	do {
		if (sqlite3_exec(tx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
			log_db(tx->db, "begin");
			for (struct op *o = batch; o; o = o->next)
				if (!o->settled)
					o->result = PA_ERR_STORE;
			return;
		}
		lost = NULL;
		for (struct op *o = batch; o && !lost; o = o->next)
			if (!o->settled && !run_in_savepoint(tx, o))
				lost = o;
		if (lost) {
			writer_rollback(tx);
			lost->settled = true;
		}
	} while (lost);
	if (sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		log_db(tx->db, "commit");
		writer_rollback(tx);
		for (struct op *o = batch; o; o = o->next)
			o->result = PA_ERR_STORE;
	}
}

/* Run the batch (carelessly, then carefully if it must), then call its done callbacks. */
static void run_batch(struct sq_store *s, struct op *batch)
{
	struct sq_tx *tx = &s->writer;
	if (!run_careless(s, batch))
		run_careful(s, batch);
	stmts_reset(tx); /* no snapshot held open between batches */
	while (batch) {
		struct op *next = batch->next;
		if (batch->done)
			batch->done(batch->arg, batch->result);
		free(batch);
		batch = next;
	}
}

/* Called by SQLite on the writer's connection after each commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sq_store *s = arg;
	if (frames >= CKPT_FRAMES_HARD) {
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return SQLITE_OK;
	}
	if (frames >= CKPT_FRAMES) {
		pthread_mutex_lock(&s->lock);
		s->wal_frames = frames;
		pthread_cond_signal(&s->ckpt_wake);
		pthread_mutex_unlock(&s->lock);
	}
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	struct sq_store *s = arg;
	pthread_setname_np(pthread_self(), "pahara-ckpt");
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->wal_frames < CKPT_FRAMES && !s->stopping)
			pthread_cond_wait(&s->ckpt_wake, &s->lock);
		if (s->stopping)
			break;
		s->wal_frames = 0;
		pthread_mutex_unlock(&s->lock);
		/* PASSIVE: copies what no reader still needs, never blocks the writer.  Once all
		 * is copied, the writer's next commit starts the WAL over from its beginning. */
		if (sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL,
		                              NULL) != SQLITE_OK)
			log_db(s->ckpt_db, "checkpoint");
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void *writer_main(void *arg)
{
	struct sq_store *s = arg;
	pthread_setname_np(pthread_self(), "pahara-writer");
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (!s->head) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		struct op *batch = s->head, *last = batch;
		unsigned n = 1;
		while (last->next && n < s->batch_max) {
			last = last->next;
			n++;
		}
		s->head = last->next;
		if (!s->head)
			s->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->lock);
		run_batch(s, batch);
	}
}

static void reader_free(void *p)
{
	/* Thread exit: the context stays on the store's list and is closed by store_close. */
	(void)p;
}

/* Once, before the first connection: SQLite's memory statistics (which no one here reads)
 * would take a process-wide mutex on every allocation, on every thread. */
static void sq_config(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* too late if already initialised */
}

static enum pa_err sq_open(const struct store_options *opt, struct store **out, const char **why)
{
	static pthread_once_t config_once = PTHREAD_ONCE_INIT;
	pthread_once(&config_once, sq_config);
	if (mkdir(opt->location, 0700) != 0 && errno != EEXIST) {
		*why = "cannot create the data directory";
		return PA_ERR_STORE;
	}
	struct sq_store *s = calloc(1, sizeof(*s));
	if (!s)
		return PA_ERR_NOMEM;
	size_t n = strlen(opt->location) + sizeof("/pahara.db");
	s->path = malloc(n);
	if (!s->path) {
		free(s);
		return PA_ERR_NOMEM;
	}
	snprintf(s->path, n, "%s/pahara.db", opt->location);
	s->batch_max = opt->batch_max ? opt->batch_max : 256;
	s->base.ops = &sqlite_ops;
	s->writer.base.ops = &sqlite_ops;
	s->writer.s = s;
	s->writer.writable = true;
	/* The file holds keyed hashes and sealed secrets: owner-only, like the key file. */
	mode_t old = umask(077);
	int rc = db_open(s->path, false, &s->writer.db);
	umask(old);
	if (rc != 0) {
		*why = "cannot open the database file";
		free(s->path);
		free(s);
		return PA_ERR_STORE;
	}
	if (migrate(s, why) != 0) {
		tx_finalize(&s->writer);
		free(s->path);
		free(s);
		return PA_ERR_STORE;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_key_create(&s->reader_key, reader_free);
	pthread_cond_init(&s->ckpt_wake, NULL);
	if (db_open(s->path, false, &s->ckpt_db) == 0 &&
	    sqlite3_exec(s->writer.db, "PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL) ==
	        SQLITE_OK &&
	    pthread_create(&s->ckpt_thread, NULL, ckpt_main, s) == 0) {
		s->ckpt_started = true;
		sqlite3_wal_hook(s->writer.db, wal_hook, s);
	} else {
		/* SQLite's own checkpoints, in the writer, are the fallback. */
		sqlite3_exec(s->writer.db, "PRAGMA wal_autocheckpoint = 1000", NULL, NULL, NULL);
	}
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		*why = "cannot start the writer thread";
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->ckpt_wake);
		pthread_mutex_unlock(&s->lock);
		if (s->ckpt_started)
			pthread_join(s->ckpt_thread, NULL);
		sqlite3_close(s->ckpt_db);
		tx_finalize(&s->writer);
		pthread_cond_destroy(&s->ckpt_wake);
		pthread_key_delete(s->reader_key);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s->path);
		free(s);
		return PA_ERR_NOMEM;
	}
	*out = &s->base;
	return PA_OK;
}

static void sq_close(struct store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->wake);
	pthread_cond_broadcast(&s->ckpt_wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	if (s->ckpt_started)
		pthread_join(s->ckpt_thread, NULL);
	sqlite3_close(s->ckpt_db);
	pthread_cond_destroy(&s->ckpt_wake);
	tx_finalize(&s->writer);
	while (s->readers) {
		struct sq_tx *r = s->readers;
		s->readers = r->next_reader;
		tx_finalize(r);
		free(r);
	}
	pthread_key_delete(s->reader_key);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s->path);
	free(s);
}

static int sq_schema_version(struct store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	return s->version;
}

static struct store_tx *sq_reader(struct store *base)
{
	struct sq_store *s = (struct sq_store *)base;
	struct sq_tx *r = pthread_getspecific(s->reader_key);
	if (r)
		return &r->base;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->base.ops = &sqlite_ops;
	r->s = s;
	if (db_open(s->path, true, &r->db) != 0) {
		free(r);
		return NULL;
	}
	pthread_setspecific(s->reader_key, r);
	pthread_mutex_lock(&s->lock);
	r->next_reader = s->readers;
	s->readers = r;
	pthread_mutex_unlock(&s->lock);
	return &r->base;
}

static enum pa_err sq_read_begin(struct store_tx *base)
{
	struct sq_tx *rd = (struct sq_tx *)base;
	sqlite3_stmt *st = stmt_get(rd, ST_BEGIN);
	if (!st || !step_ok(rd, st, sqlite3_step(st)))
		return PA_ERR_STORE;
	return PA_OK;
}

static void sq_read_end(struct store_tx *base)
{
	struct sq_tx *rd = (struct sq_tx *)base;
	stmts_reset(rd); /* first: one left stepping would keep the snapshot open */
	sqlite3_stmt *st = stmt_get(rd, ST_COMMIT);
	if (st)
		(void)step_ok(rd, st, sqlite3_step(st));
}

static void sq_submit(struct store *base, store_tx_fn fn, void *arg, store_done_fn done)
{
	struct sq_store *s = (struct sq_store *)base;
	struct op *o = calloc(1, sizeof(*o));
	if (!o) {
		if (done)
			done(arg, PA_ERR_NOMEM);
		return;
	}
	o->fn = fn;
	o->arg = arg;
	o->done = done;
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = o;
	else
		s->head = o;
	s->tail = o;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/*
 * store_submit_check: the read, prepare and fn all run on the writer, inside the batch's
 * transaction.  Read there, the check needs no reader connection: a reader's read transaction
 * costs two lock calls on the WAL index, and, since the writer commits between any two reads,
 * SQLite drops the reader's whole page cache at its start, so the rows come back by pread()
 * each time; the writer's own cache stays warm.  (Measured with bench/loadgen: see
 * docs/operations.md §11.)  It also reads what the batch's earlier fns wrote.
 */
struct sq_check {
	store_check_prepare_fn prepare; /* the caller's */
	store_tx_fn fn;                 /* the caller's */
	void *arg;                      /* theirs */
	store_done_fn done;             /* theirs */
	enum pa_err refused;            /* prepare's answer, when not PA_OK */
	uint8_t hash[STORE_HASH_LEN];   /* the service key's hash */
	char name[];                    /* the account's name */
};

static enum pa_err sq_check_read(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                 const char *name, struct store_check_read *out);

/* The op's fn.  A refusal by prepare wrote nothing and is no failure of the batch: the op
 * succeeds, and its done hands the refusal on. */
static enum pa_err sq_check_fn(struct store_tx *tx, void *arg)
{
	struct sq_check *c = arg;
	struct store_check_read cr;
	enum pa_err e = sq_check_read(tx, c->hash, c->name, &cr);
	if (e != PA_OK && e != PA_ERR_NOT_FOUND)
		return e;
	c->refused = c->prepare(c->arg, e, &cr);
	sodium_memzero(&cr, sizeof(cr));
	return c->refused == PA_OK ? c->fn(tx, c->arg) : PA_OK;
}

static void sq_check_done(void *arg, enum pa_err result)
{
	struct sq_check *c = arg;
	if (result == PA_OK && c->refused != PA_OK)
		result = c->refused;
	if (c->done)
		c->done(c->arg, result);
	free(c);
}

static void sq_submit_check(struct store *base, const uint8_t hash[STORE_HASH_LEN],
                            const char *name, store_check_prepare_fn prepare, store_tx_fn fn,
                            void *arg, store_done_fn done)
{
	size_t n = strlen(name);
	struct sq_check *c = malloc(sizeof(*c) + n + 1);
	if (!c) {
		if (done)
			done(arg, PA_ERR_NOMEM);
		return;
	}
	c->prepare = prepare;
	c->fn = fn;
	c->arg = arg;
	c->done = done;
	c->refused = PA_OK;
	memcpy(c->hash, hash, STORE_HASH_LEN);
	memcpy(c->name, name, n + 1);
	sq_submit(base, sq_check_fn, c, sq_check_done);
}

/* ---- small helpers for the record functions -------------------------------------------- */

#define PREP(tx, id)                                                                               \
	sqlite3_stmt *st = stmt_get((tx), (id));                                                   \
	if (!st)                                                                                   \
	return PA_ERR_STORE

static void col_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(out, size, "%s", t ? (const char *)t : "");
}

/*
 * Bind len bytes of text at s (len < 0: up to its NUL) as postgres.c sends text: as they are
 * when they are UTF-8, else as a copy with '?' for each byte that is not part of a character.
 * SQLite would keep any bytes, and text that is not UTF-8 can neither be exported (JSON cannot
 * hold it) nor moved to PostgreSQL; the audit log, where most of it would land, can never be
 * mended.  Out of memory for the copy, the parameter is NULL, as when SQLite itself runs out.
 */
static void bind_text(sqlite3_stmt *st, int col, const char *s, int len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = len < 0 ? strlen(s) : (size_t)len, i = 0, k;
	while (i < n && (k = store_utf8_char_len(u + i, n - i)) > 0)
		i += k;
	if (i == n) {
		sqlite3_bind_text(st, col, s, (int)n, SQLITE_STATIC);
		return;
	}
	char *copy = sqlite3_malloc64(n + 1);
	if (!copy) {
		sqlite3_bind_null(st, col);
		return;
	}
	for (i = 0; i < n; i += k) {
		k = store_utf8_char_len(u + i, n - i);
		if (k == 0) {
			copy[i] = '?';
			k = 1;
		} else {
			memcpy(copy + i, u + i, k);
		}
	}
	copy[n] = '\0';
	sqlite3_bind_text(st, col, copy, (int)n, sqlite3_free);
}

static void col_hash(sqlite3_stmt *st, int col, uint8_t out[STORE_HASH_LEN])
{
	const void *b = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	memset(out, 0, STORE_HASH_LEN);
	if (b && n == STORE_HASH_LEN)
		memcpy(out, b, STORE_HASH_LEN);
}

/* Step a statement that changes rows: PA_OK if it changed at least one, else PA_ERR_CONFLICT
 * (when want_change) — the conditional writes rely on this. */
static enum pa_err exec_change(struct sq_tx *tx, sqlite3_stmt *st, bool want_change)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT) {
		sqlite3_reset(st);
		return PA_ERR_CONFLICT;
	}
	if (!step_ok(tx, st, rc))
		return PA_ERR_STORE;
	if (want_change && sqlite3_changes(tx->db) == 0)
		return PA_ERR_CONFLICT;
	return PA_OK;
}

/* ---- accounts -------------------------------------------------------------------------- */

/* An account from columns c..c+6. */
static void row_account_at(sqlite3_stmt *st, int c, struct store_account *a)
{
	a->id = sqlite3_column_int64(st, c);
	col_text(st, c + 1, a->name, sizeof(a->name));
	col_text(st, c + 2, a->pwhash, sizeof(a->pwhash));
	a->disabled = sqlite3_column_int(st, c + 3) != 0;
	a->twofactor = sqlite3_column_int(st, c + 4) != 0;
	a->created_at = sqlite3_column_int64(st, c + 5);
	a->service_id = sqlite3_column_int64(st, c + 6);
}

static void row_account(sqlite3_stmt *st, struct store_account *a)
{
	row_account_at(st, 0, a);
}

static enum pa_err sq_account_create(struct store_tx *base, const char *name, const char *pwhash,
                                     int64_t service_id, int64_t now, int64_t *id)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_INSERT);
	bind_text(st, 1, name, -1);
	bind_text(st, 2, pwhash ? pwhash : "", -1);
	sqlite3_bind_int64(st, 3, service_id);
	sqlite3_bind_int64(st, 4, now);
	enum pa_err e = exec_change(tx, st, true);
	if (e == PA_OK && id)
		*id = sqlite3_last_insert_rowid(tx->db);
	return e;
}

static enum pa_err account_one(struct sq_tx *tx, sqlite3_stmt *st, struct store_account *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_account(st, out);
		sqlite3_reset(st);
		return PA_OK;
	}
	return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
}

static enum pa_err sq_account_by_name(struct store_tx *base, const char *name,
                                      struct store_account *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_BY_NAME);
	bind_text(st, 1, name, -1);
	return account_one(tx, st, out);
}

static enum pa_err sq_account_by_id(struct store_tx *base, int64_t id, struct store_account *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_BY_ID);
	sqlite3_bind_int64(st, 1, id);
	return account_one(tx, st, out);
}

static enum pa_err sq_account_set_password(struct store_tx *base, int64_t id, const char *pwhash)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_SET_PASSWORD);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, pwhash, -1);
	enum pa_err e = exec_change(tx, st, true);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err sq_account_set_disabled(struct store_tx *base, int64_t id, bool disabled)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_SET_DISABLED);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, disabled);
	enum pa_err e = exec_change(tx, st, true);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err sq_account_set_twofactor(struct store_tx *base, int64_t id, bool on)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_SET_TWOFACTOR);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, on);
	enum pa_err e = exec_change(tx, st, true);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err sq_account_list(struct store_tx *base,
                                   bool (*fn)(void *arg, const struct store_account *a), void *arg)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_ACCOUNT_LIST);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_account a;
		row_account(st, &a);
		if (!fn(arg, &a))
			break;
	}
	bool ok = rc == SQLITE_ROW || step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

/* ---- TOTP ------------------------------------------------------------------------------ */

/* A code generator from columns c..c+7.  false: the sealed secret is missing or too long. */
static bool row_totp_at(sqlite3_stmt *st, int c, struct store_totp *out)
{
	memset(out, 0, sizeof(*out));
	int n = sqlite3_column_bytes(st, c);
	const void *b = sqlite3_column_blob(st, c);
	if (n < 0 || (size_t)n > sizeof(out->sealed) || !b)
		return false;
	memcpy(out->sealed, b, (size_t)n);
	out->sealed_len = (size_t)n;
	out->alg = sqlite3_column_int(st, c + 1);
	out->digits = (unsigned)sqlite3_column_int(st, c + 2);
	out->period = (unsigned)sqlite3_column_int(st, c + 3);
	out->confirmed = sqlite3_column_int(st, c + 4) != 0;
	out->has_last = sqlite3_column_type(st, c + 5) != SQLITE_NULL;
	out->last_step = sqlite3_column_int64(st, c + 5);
	out->drift = sqlite3_column_int(st, c + 6);
	out->created_at = sqlite3_column_int64(st, c + 7);
	return true;
}

static enum pa_err sq_totp_get(struct store_tx *base, int64_t account, struct store_totp *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TOTP_GET);
	sqlite3_bind_int64(st, 1, account);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
	bool ok = row_totp_at(st, 0, out);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_totp_put(struct store_tx *base, int64_t account, const struct store_totp *t)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TOTP_PUT);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_blob(st, 2, t->sealed, (int)t->sealed_len, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, t->alg);
	sqlite3_bind_int(st, 4, (int)t->digits);
	sqlite3_bind_int(st, 5, (int)t->period);
	sqlite3_bind_int(st, 6, t->confirmed);
	if (t->has_last)
		sqlite3_bind_int64(st, 7, t->last_step);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int(st, 8, t->drift);
	sqlite3_bind_int64(st, 9, t->created_at);
	return exec_change(tx, st, false);
}

static enum pa_err sq_totp_consume(struct store_tx *base, int64_t account,
                                   const struct store_totp *t, int64_t step, int drift)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TOTP_CONSUME);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, step);
	sqlite3_bind_int(st, 3, drift);
	sqlite3_bind_blob(st, 4, t->sealed, (int)t->sealed_len, SQLITE_STATIC);
	return exec_change(tx, st, true);
}

static enum pa_err sq_audit_add(struct store_tx *base, const struct store_audit *a);

static enum pa_err sq_totp_consume_unthrottled(struct store_tx *base, int64_t account,
                                               const struct store_totp *t, int64_t step, int drift,
                                               const char *limit_key, const struct store_audit *au)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TOTP_CONSUME_UNTHROTTLED);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, step);
	sqlite3_bind_int(st, 3, drift);
	sqlite3_bind_blob(st, 4, t->sealed, (int)t->sealed_len, SQLITE_STATIC);
	bind_text(st, 5, limit_key, -1);
	enum pa_err e = exec_change(tx, st, true);
	/* One writer: nothing comes between the two statements. */
	return e == PA_OK && au ? sq_audit_add(base, au) : e;
}

static enum pa_err sq_totp_delete(struct store_tx *base, int64_t account)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TOTP_DELETE);
	sqlite3_bind_int64(st, 1, account);
	return exec_change(tx, st, false);
}

/* ---- backup codes ---------------------------------------------------------------------- */

static void row_backup(sqlite3_stmt *st, struct store_backup *b)
{
	b->generation = (uint32_t)sqlite3_column_int64(st, 0);
	col_hash(st, 1, b->hash);
	b->status = (enum store_backup_status)sqlite3_column_int(st, 2);
	b->created_at = sqlite3_column_int64(st, 3);
}

static enum pa_err sq_backup_list(struct store_tx *base, int64_t account, struct store_backup *out,
                                  size_t max, size_t *n)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_BACKUP_LIST);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, max > INT32_MAX ? INT32_MAX : (int64_t)max);
	int rc;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		row_backup(st, &out[(*n)++]);
	bool ok = rc == SQLITE_ROW || step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_backup_find(struct store_tx *base, int64_t account,
                                  const uint8_t hash[STORE_HASH_LEN], struct store_backup *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_BACKUP_FIND);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_blob(st, 2, hash, STORE_HASH_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row_backup(st, out);
		sqlite3_reset(st);
		return PA_OK;
	}
	bool ok = step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
}

static enum pa_err sq_backup_add(struct store_tx *base, int64_t account,
                                 const struct store_backup *b)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_BACKUP_ADD);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, b->generation);
	sqlite3_bind_blob(st, 3, b->hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)b->status);
	sqlite3_bind_int64(st, 5, b->created_at);
	return exec_change(tx, st, true);
}

static enum pa_err sq_backup_set_status(struct store_tx *base, int64_t account, uint32_t generation,
                                        enum store_backup_status status)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_BACKUP_SET_STATUS);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, generation);
	sqlite3_bind_int(st, 3, (int)status);
	return exec_change(tx, st, true);
}

static enum pa_err sq_backup_trim(struct store_tx *base, int64_t account, uint32_t keep_from)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_BACKUP_TRIM);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, keep_from);
	return exec_change(tx, st, false);
}

static enum pa_err sq_backup_delete_all(struct store_tx *base, int64_t account)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_BACKUP_DELETE_ALL);
	sqlite3_bind_int64(st, 1, account);
	return exec_change(tx, st, false);
}

/* ---- temporary passwords --------------------------------------------------------------- */

static enum pa_err sq_tmppass_list(struct store_tx *base, int64_t account, int64_t now,
                                   struct store_tmppass *out, size_t max, size_t *n)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TMPPASS_LIST);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, max > INT32_MAX ? INT32_MAX : (int64_t)max);
	int rc;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct store_tmppass *t = &out[(*n)++];
		t->id = sqlite3_column_int64(st, 0);
		col_hash(st, 1, t->hash);
		t->created_at = sqlite3_column_int64(st, 2);
		t->expires_at = sqlite3_column_int64(st, 3);
		t->used_at = sqlite3_column_int64(st, 4);
	}
	bool ok = rc == SQLITE_ROW || step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_tmppass_add(struct store_tx *base, int64_t account,
                                  const struct store_tmppass *t)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TMPPASS_ADD);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_blob(st, 2, t->hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, t->created_at);
	sqlite3_bind_int64(st, 4, t->expires_at);
	sqlite3_bind_int64(st, 5, t->id);
	return exec_change(tx, st, true);
}

static enum pa_err sq_tmppass_consume(struct store_tx *base, int64_t account, int64_t id,
                                      int64_t now)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TMPPASS_CONSUME);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, now);
	return exec_change(tx, st, true);
}

static enum pa_err sq_tmppass_delete(struct store_tx *base, int64_t account, int64_t id)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TMPPASS_DELETE);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, id);
	enum pa_err e = exec_change(tx, st, true);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err sq_tmppass_purge(struct store_tx *base, int64_t account, int64_t before)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TMPPASS_PURGE);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, before);
	return exec_change(tx, st, false);
}

static enum pa_err sq_tmppass_delete_all(struct store_tx *base, int64_t account)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_TMPPASS_DELETE_ALL);
	sqlite3_bind_int64(st, 1, account);
	return exec_change(tx, st, false);
}

/* ---- sessions -------------------------------------------------------------------------- */

static void row_session(sqlite3_stmt *st, struct store_session *s)
{
	s->id = sqlite3_column_int64(st, 0);
	col_hash(st, 1, s->token_hash);
	s->account = sqlite3_column_int64(st, 2);
	s->kind = (enum store_session_kind)sqlite3_column_int(st, 3);
	col_text(st, 4, s->client, sizeof(s->client));
	col_text(st, 5, s->ip, sizeof(s->ip));
	s->created_at = sqlite3_column_int64(st, 6);
	s->auth_at = sqlite3_column_int64(st, 7);
	s->revoked_at = sqlite3_column_int64(st, 8);
}

static enum pa_err sq_session_add(struct store_tx *base, struct store_session *s)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SESSION_ADD);
	sqlite3_bind_blob(st, 1, s->token_hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->account);
	sqlite3_bind_int(st, 3, (int)s->kind);
	bind_text(st, 4, s->client, -1);
	bind_text(st, 5, s->ip, -1);
	sqlite3_bind_int64(st, 6, s->created_at);
	sqlite3_bind_int64(st, 7, s->auth_at);
	enum pa_err e = exec_change(tx, st, true);
	if (e == PA_OK)
		s->id = sqlite3_last_insert_rowid(tx->db);
	return e;
}

static enum pa_err sq_session_by_token(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                       struct store_session *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SESSION_BY_TOKEN);
	sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
	row_session(st, out);
	sqlite3_reset(st);
	return PA_OK;
}

static enum pa_err sq_session_list(struct store_tx *base, int64_t account,
                                   bool (*fn)(void *arg, const struct store_session *s), void *arg)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SESSION_LIST);
	sqlite3_bind_int64(st, 1, account);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_session s;
		row_session(st, &s);
		if (!fn(arg, &s))
			break;
	}
	bool ok = rc == SQLITE_ROW || step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_session_revoke(struct store_tx *base, int64_t account, int64_t id,
                                     int64_t now)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SESSION_REVOKE);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int64(st, 3, now);
	enum pa_err e = exec_change(tx, st, true);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err sq_session_revoke_all(struct store_tx *base, int64_t account, int64_t keep,
                                         int64_t now, unsigned *n)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SESSION_REVOKE_ALL);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, keep);
	sqlite3_bind_int64(st, 3, now);
	enum pa_err e = exec_change(tx, st, false);
	if (n)
		*n = e == PA_OK ? (unsigned)sqlite3_changes(tx->db) : 0;
	return e;
}

static enum pa_err sq_session_set_auth(struct store_tx *base, int64_t id, int64_t now)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SESSION_SET_AUTH);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	return exec_change(tx, st, false);
}

/* ---- pending sign-ins ------------------------------------------------------------------ */

static enum pa_err sq_login_add(struct store_tx *base, struct store_login *l)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LOGIN_ADD);
	sqlite3_bind_blob(st, 1, l->id_hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, l->account);
	bind_text(st, 3, l->client, -1);
	bind_text(st, 4, l->ip, -1);
	sqlite3_bind_int64(st, 5, l->created_at);
	sqlite3_bind_int64(st, 6, l->expires_at);
	enum pa_err e = exec_change(tx, st, true);
	if (e == PA_OK)
		l->id = sqlite3_last_insert_rowid(tx->db);
	return e;
}

static enum pa_err sq_login_by_hash(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                    struct store_login *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LOGIN_BY_HASH);
	sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
	out->id = sqlite3_column_int64(st, 0);
	col_hash(st, 1, out->id_hash);
	out->account = sqlite3_column_int64(st, 2);
	out->state = (enum store_login_state)sqlite3_column_int(st, 3);
	out->failures = (unsigned)sqlite3_column_int(st, 4);
	col_text(st, 5, out->client, sizeof(out->client));
	col_text(st, 6, out->ip, sizeof(out->ip));
	out->created_at = sqlite3_column_int64(st, 7);
	out->expires_at = sqlite3_column_int64(st, 8);
	out->session = sqlite3_column_int64(st, 9);
	sqlite3_reset(st);
	return PA_OK;
}

static enum pa_err sq_login_fail(struct store_tx *base, int64_t id, unsigned *failures)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LOGIN_FAIL);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*failures = (unsigned)sqlite3_column_int(st, 0);
		sqlite3_reset(st);
		return PA_OK;
	}
	return step_ok(tx, st, rc) ? PA_ERR_CONFLICT : PA_ERR_STORE;
}

static enum pa_err sq_login_end(struct store_tx *base, int64_t id, enum store_login_state state,
                                int64_t session)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LOGIN_END);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, (int)state);
	sqlite3_bind_int64(st, 3, session);
	return exec_change(tx, st, true);
}

static enum pa_err sq_login_end_all(struct store_tx *base, int64_t account,
                                    enum store_login_state state, unsigned *n)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LOGIN_END_ALL);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int(st, 2, (int)state);
	enum pa_err e = exec_change(tx, st, false);
	if (n)
		*n = e == PA_OK ? (unsigned)sqlite3_changes(tx->db) : 0;
	return e;
}

/* ---- throttling counters --------------------------------------------------------------- */

static enum pa_err sq_limit_get(struct store_tx *base, const char *key, void *blob, size_t size,
                                size_t *len)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LIMIT_GET);
	bind_text(st, 1, key, -1);
	int rc = sqlite3_step(st);
	*len = 0;
	memset(blob, 0, size);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(st, 0);
		const void *b = sqlite3_column_blob(st, 0);
		*len = SIZE_MAX; /* a row, even if its blob is empty */
		if (b && n > 0) {
			memcpy(blob, b, (size_t)n < size ? (size_t)n : size);
			*len = (size_t)n;
		}
		sqlite3_reset(st);
		return PA_OK;
	}
	return step_ok(tx, st, rc) ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_limit_put(struct store_tx *base, const char *key, const void *blob,
                                size_t size, int64_t expires_at)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_LIMIT_PUT);
	bind_text(st, 1, key, -1);
	sqlite3_bind_blob(st, 2, blob, (int)size, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, expires_at);
	return exec_change(tx, st, false);
}

/* ---- services -------------------------------------------------------------------------- */

static void row_service(sqlite3_stmt *st, struct store_service *s)
{
	/* store_check_read relies on these being columns 0..4. */
	s->id = sqlite3_column_int64(st, 0);
	col_text(st, 1, s->name, sizeof(s->name));
	col_hash(st, 2, s->key_hash);
	s->disabled = sqlite3_column_int(st, 3) != 0;
	s->created_at = sqlite3_column_int64(st, 4);
}

static enum pa_err sq_service_add(struct store_tx *base, struct store_service *s)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SERVICE_ADD);
	bind_text(st, 1, s->name, -1);
	sqlite3_bind_blob(st, 2, s->key_hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, s->created_at);
	enum pa_err e = exec_change(tx, st, true);
	if (e == PA_OK)
		s->id = sqlite3_last_insert_rowid(tx->db);
	return e;
}

static enum pa_err sq_service_by_key(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                     struct store_service *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SERVICE_BY_KEY);
	sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
	row_service(st, out);
	sqlite3_reset(st);
	return PA_OK;
}

static enum pa_err sq_check_read(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                 const char *name, struct store_check_read *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_CHECK_READ);
	sqlite3_bind_blob(st, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
	bind_text(st, 2, name, -1);
	memset(out, 0, sizeof(*out));
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
	row_service(st, &out->service);
	bool ok = true;
	out->has_account = sqlite3_column_type(st, 5) != SQLITE_NULL;
	if (out->has_account)
		row_account_at(st, 5, &out->account);
	out->has_totp = sqlite3_column_type(st, 12) != SQLITE_NULL;
	if (out->has_totp)
		ok = row_totp_at(st, 12, &out->totp);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_service_list(struct store_tx *base,
                                   bool (*fn)(void *arg, const struct store_service *s), void *arg)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_SERVICE_LIST);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_service s;
		row_service(st, &s);
		if (!fn(arg, &s))
			break;
	}
	bool ok = rc == SQLITE_ROW || step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

/* ---- key checks ------------------------------------------------------------------------ */

/* A check from columns 0..2.  false: a value that is empty or too long (not ours). */
static bool row_key_check(sqlite3_stmt *st, struct store_key_check *k)
{
	memset(k, 0, sizeof(*k));
	col_text(st, 0, k->name, sizeof(k->name));
	int n = sqlite3_column_bytes(st, 1);
	const void *b = sqlite3_column_blob(st, 1);
	k->created_at = sqlite3_column_int64(st, 2);
	if (!b || n <= 0 || (size_t)n > sizeof(k->value))
		return false;
	memcpy(k->value, b, (size_t)n);
	k->len = (size_t)n;
	return true;
}

static enum pa_err sq_key_check_get(struct store_tx *base, const char *name,
                                    struct store_key_check *out)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_KEY_CHECK_GET);
	bind_text(st, 1, name, -1);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return step_ok(tx, st, rc) ? PA_ERR_NOT_FOUND : PA_ERR_STORE;
	bool ok = row_key_check(st, out);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err sq_key_check_add(struct store_tx *base, const struct store_key_check *k)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_KEY_CHECK_ADD);
	bind_text(st, 1, k->name, -1);
	sqlite3_bind_blob(st, 2, k->value, (int)k->len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, k->created_at);
	return exec_change(tx, st, true);
}

static enum pa_err sq_key_check_delete(struct store_tx *base, const char *name)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_KEY_CHECK_DELETE);
	bind_text(st, 1, name, -1);
	enum pa_err e = exec_change(tx, st, true);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err sq_key_check_list(struct store_tx *base,
                                     bool (*fn)(void *arg, const struct store_key_check *k),
                                     void *arg)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_KEY_CHECK_LIST);
	int rc;
	bool ok = true;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_key_check k;
		if (!row_key_check(st, &k)) {
			ok = false;
			break;
		}
		if (!fn(arg, &k))
			break;
	}
	ok = ok && (rc == SQLITE_ROW || step_ok(tx, st, rc));
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

/* ---- audit ----------------------------------------------------------------------------- */

/* ---- moving a store -------------------------------------------------------------------- */

/* "SELECT a, b FROM t ORDER BY 1, 2" or "INSERT INTO t(a, b) VALUES (?, ?)": names come from
 * store_tables, never from input. */
static bool table_sql(const struct store_table *t, bool insert, char *sql, size_t size)
{
	size_t n = (size_t)snprintf(sql, size, insert ? "INSERT INTO %s(" : "SELECT ", t->name);
	for (unsigned i = 0; i < t->ncols && n < size; i++)
		n += (size_t)snprintf(sql + n, size - n, "%s%s", i ? ", " : "", t->cols[i].name);
	if (n < size && insert) {
		n += (size_t)snprintf(sql + n, size - n, ") VALUES (");
		for (unsigned i = 0; i < t->ncols && n < size; i++)
			n += (size_t)snprintf(sql + n, size - n, "%s?", i ? ", " : "");
		if (n < size)
			n += (size_t)snprintf(sql + n, size - n, ")");
	} else if (n < size) {
		n += (size_t)snprintf(sql + n, size - n, " FROM %s ORDER BY 1%s", t->name,
		                      t->ncols > 1 ? ", 2" : "");
	}
	return n < size;
}

static enum pa_err sq_dump(struct store_tx *base, const struct store_table *t,
                           bool (*fn)(void *arg, const struct store_value *row), void *arg)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	char sql[512];
	sqlite3_stmt *st = NULL;
	if (!table_sql(t, false, sql, sizeof(sql)) ||
	    sqlite3_prepare_v2(tx->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_db(tx->db, sql);
		return PA_ERR_STORE;
	}
	struct store_value row[STORE_COLUMNS_MAX];
	enum pa_err e = PA_OK;
	int rc;
	while (e == PA_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (unsigned i = 0; i < t->ncols; i++) {
			const struct store_column *c = &t->cols[i];
			int type = sqlite3_column_type(st, (int)i);
			row[i] = (struct store_value){.null = type == SQLITE_NULL};
			if (row[i].null) {
				if (!c->nullable)
					e = PA_ERR_STORE;
			} else if (c->type == STORE_COL_INT) {
				if (type != SQLITE_INTEGER)
					e = PA_ERR_STORE;
				row[i].i = sqlite3_column_int64(st, (int)i);
			} else {
				row[i].p = c->type == STORE_COL_TEXT
				               ? (const void *)sqlite3_column_text(st, (int)i)
				               : sqlite3_column_blob(st, (int)i);
				row[i].len = (size_t)sqlite3_column_bytes(st, (int)i);
				if (!row[i].p && row[i].len == 0)
					row[i].p = "";
			}
		}
		if (e != PA_OK)
			fprintf(stderr, "pahara: store: %s: a value of an unexpected type\n",
			        t->name);
		else if (!fn(arg, row))
			break;
	}
	if (e == PA_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_db(tx->db, sql);
		e = PA_ERR_STORE;
	}
	sqlite3_finalize(st);
	return e;
}

static enum pa_err sq_load(struct store_tx *base, const struct store_table *t,
                           const struct store_value *row)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	char sql[512];
	sqlite3_stmt *st = NULL;
	if (writer_lost(tx))
		return PA_ERR_STORE;
	if (!table_sql(t, true, sql, sizeof(sql)) ||
	    sqlite3_prepare_v2(tx->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_db(tx->db, sql);
		return PA_ERR_STORE;
	}
	for (unsigned i = 0; i < t->ncols; i++) {
		int col = (int)i + 1;
		if (row[i].null)
			sqlite3_bind_null(st, col);
		else if (t->cols[i].type == STORE_COL_INT)
			sqlite3_bind_int64(st, col, row[i].i);
		else if (t->cols[i].type == STORE_COL_TEXT)
			bind_text(st, col, row[i].p, (int)row[i].len);
		else
			sqlite3_bind_blob(st, col, row[i].p, (int)row[i].len, SQLITE_STATIC);
	}
	int rc = sqlite3_step(st);
	enum pa_err e = PA_OK;
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		e = PA_ERR_CONFLICT;
	} else if (rc != SQLITE_DONE) {
		log_db(tx->db, sql);
		e = PA_ERR_STORE;
	}
	sqlite3_finalize(st);
	return e;
}

static enum pa_err sq_load_finish(struct store_tx *base)
{
	/* AUTOINCREMENT's counters already moved past every id inserted explicitly. */
	(void)base;
	return PA_OK;
}

static enum pa_err sq_purge(struct store_tx *base, int64_t now, int64_t logins_before,
                            int64_t sessions_before, unsigned *n)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	static const enum stmt_id ids[] = {ST_PURGE_LIMITS, ST_PURGE_LOGINS, ST_PURGE_SESSIONS};
	*n = 0;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		PREP(tx, ids[i]);
		sqlite3_bind_int64(st, 1, i == 0 ? now : i == 1 ? logins_before : sessions_before);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (!step_ok(tx, st, rc))
			return PA_ERR_STORE;
		*n += (unsigned)sqlite3_changes(tx->db);
	}
	return PA_OK;
}

static enum pa_err sq_audit_add(struct store_tx *base, const struct store_audit *a)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_AUDIT_ADD);
	sqlite3_bind_int64(st, 1, a->at);
	sqlite3_bind_int64(st, 2, a->account);
	bind_text(st, 3, a->account_name, -1);
	bind_text(st, 4, a->event, -1);
	bind_text(st, 5, a->outcome, -1);
	bind_text(st, 6, a->ip, -1);
	bind_text(st, 7, a->client, -1);
	bind_text(st, 8, a->detail, -1);
	return exec_change(tx, st, true);
}

static enum pa_err sq_audit_list(struct store_tx *base, int64_t account, int64_t since,
                                 bool (*fn)(void *arg, const struct store_audit *a), void *arg)
{
	struct sq_tx *tx = (struct sq_tx *)base;
	PREP(tx, ST_AUDIT_LIST);
	sqlite3_bind_int64(st, 1, account);
	sqlite3_bind_int64(st, 2, since);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_audit a;
		a.id = sqlite3_column_int64(st, 0);
		a.at = sqlite3_column_int64(st, 1);
		a.account = sqlite3_column_int64(st, 2);
		col_text(st, 3, a.account_name, sizeof(a.account_name));
		col_text(st, 4, a.event, sizeof(a.event));
		col_text(st, 5, a.outcome, sizeof(a.outcome));
		col_text(st, 6, a.ip, sizeof(a.ip));
		col_text(st, 7, a.client, sizeof(a.client));
		col_text(st, 8, a.detail, sizeof(a.detail));
		if (!fn(arg, &a))
			break;
	}
	bool ok = rc == SQLITE_ROW || step_ok(tx, st, rc);
	sqlite3_reset(st);
	return ok ? PA_OK : PA_ERR_STORE;
}

/* ---- the backend ----------------------------------------------------------------------- */

static const struct store_ops sqlite_ops = {
    .close = sq_close,
    .schema_version = sq_schema_version,
    .reader = sq_reader,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .submit = sq_submit,
    .submit_check = sq_submit_check,
    .write = store_write_by_submit,
    .account_create = sq_account_create,
    .account_by_name = sq_account_by_name,
    .account_by_id = sq_account_by_id,
    .account_lock = sq_account_by_id, /* one writer: nothing else writes meanwhile */
    .account_set_password = sq_account_set_password,
    .account_set_disabled = sq_account_set_disabled,
    .account_set_twofactor = sq_account_set_twofactor,
    .account_list = sq_account_list,
    .totp_get = sq_totp_get,
    .totp_put = sq_totp_put,
    .totp_consume = sq_totp_consume,
    .totp_consume_unthrottled = sq_totp_consume_unthrottled,
    .totp_delete = sq_totp_delete,
    .backup_list = sq_backup_list,
    .backup_find = sq_backup_find,
    .backup_add = sq_backup_add,
    .backup_set_status = sq_backup_set_status,
    .backup_trim = sq_backup_trim,
    .backup_delete_all = sq_backup_delete_all,
    .tmppass_list = sq_tmppass_list,
    .tmppass_add = sq_tmppass_add,
    .tmppass_consume = sq_tmppass_consume,
    .tmppass_delete = sq_tmppass_delete,
    .tmppass_delete_all = sq_tmppass_delete_all,
    .tmppass_purge = sq_tmppass_purge,
    .session_add = sq_session_add,
    .session_by_token = sq_session_by_token,
    .session_list = sq_session_list,
    .session_revoke = sq_session_revoke,
    .session_revoke_all = sq_session_revoke_all,
    .session_set_auth = sq_session_set_auth,
    .login_add = sq_login_add,
    .login_by_hash = sq_login_by_hash,
    .login_fail = sq_login_fail,
    .login_end = sq_login_end,
    .login_end_all = sq_login_end_all,
    .limit_get = sq_limit_get,
    .limit_put = sq_limit_put,
    .service_add = sq_service_add,
    .service_by_key = sq_service_by_key,
    .check_read = sq_check_read,
    .service_list = sq_service_list,
    .key_check_get = sq_key_check_get,
    .key_check_add = sq_key_check_add,
    .key_check_delete = sq_key_check_delete,
    .key_check_list = sq_key_check_list,
    .dump = sq_dump,
    .load = sq_load,
    .load_finish = sq_load_finish,
    .purge = sq_purge,
    .audit_add = sq_audit_add,
    .audit_list = sq_audit_list,
};

enum pa_err store_sqlite_open(const struct store_options *opt, struct store **out, const char **why)
{
	return sq_open(opt, out, why);
}
