/*
 * postgres.c — the multi-node store: every node keeps all of its state in one PostgreSQL
 * database (DESIGN.md §6), so that nodes are interchangeable.
 *
 * Writes: each node has writer threads (store_options.writers, 2 by default), each with its
 * own read-write connection, which take the queued tx fns off one queue in batches and run a
 * batch as one transaction: BEGIN, the fns, COMMIT, and only then the done callbacks.  A batch
 * first runs carelessly, with no savepoints, and with its audit rows sent ahead of their
 * answers (see "statements sent ahead"); if any fn fails in any way, it is rolled back and run
 * again carefully: a SAVEPOINT per fn, ROLLBACK TO when the fn fails, nothing sent ahead (a tx
 * fn may run more than once: store.h).  Each writer's session keeps synchronous_commit on, so
 * COMMIT returns once the commit record is flushed: durable.  Other writers, of this node and
 * of others, write at the same time, under READ COMMITTED, so:
 *   - every one-time consumption is one conditional UPDATE; PostgreSQL waits for a concurrent
 *     writer of the row and then re-checks the WHERE on the newest version, so two nodes never
 *     both accept the same code;
 *   - a throttling counter read in a write tx (store_limit_get) first takes a transaction-level
 *     advisory lock on its key and then reads, in one statement (pahara_limit_lock_get), so the
 *     read-modify-writes of two writers follow one another;
 *   - a tx fn that decides on an account's state (password, two-factor, disabled, its
 *     sessions and factors) and then writes first takes the account's row (store_account_lock:
 *     SELECT ... FOR UPDATE), and so does one that changes that state, so the two follow one
 *     another and the later reads what the earlier wrote;
 *   - a batch that dies of a deadlock or a serialization failure (SQLSTATE 40P01, 40001) is
 *     rolled back and run again from its first fn.
 * The verification hot path (store_submit_check) costs a batch, not each verification, its
 * statements and round trips: a careless run reads for all its check ops with one statement
 * (batch_reads); each check's fn then usually ends by deferring the consumption of its step
 * (with its audit row), and one more statement makes all those (batch_consumes); the fns of
 * those that consumed nothing (a replay, a throttled account) run again, now waiting for each
 * answer, and COMMIT follows.
 * A batch holds at most PG_BATCH_MAX fns: in a careful run each fn that writes uses a
 * subtransaction, and more than 64 of them in one transaction overflow the server's
 * per-backend cache, which slows every snapshot taken on the server.
 *
 * Reads: each thread has its own reader context (store_reader).  It borrows a connection from
 * the node's reader pool for one statement, or from store_read_begin to store_read_end.  The
 * pool opens connections when they are needed, up to pool_size less the writers', so
 * pool_size bounds the connections a node holds; a reader waits at most PG_POOL_WAIT_MS for
 * one to come free.  A snapshot's BEGIN and COMMIT are sent ahead: BEGIN goes with the first
 * read, and nobody waits for COMMIT (the connection's next user reads its answer).
 *
 * Statements: each connection prepares every statement when it opens, in one round trip.
 * Numbers go as text, text and blobs as their bytes (binary format); results come back binary.
 *
 * Failures: every wait on the server has an end — connect_timeout, TCP keepalives and
 * tcp_user_timeout (which the URL may override), statement_timeout on the server (10 s unless
 * the URL sets one) and, on this side, PG_WAIT_MS per statement on a non-blocking socket — so a
 * dead or stuck server turns into PA_ERR_STORE, never into a hang.  A connection that failed is
 * closed; the next use opens a new one and prepares its statements again.  Only where nothing
 * can have happened is a failure retried at once: a read that failed on a connection kept idle
 * in the pool (as after the server restarted), and a batch whose connection broke before its
 * COMMIT was sent.  A connection lost during COMMIT leaves the outcome unknown: PA_ERR_STORE.
 *
 * Text: the database keeps UTF-8; a parameter's bytes that are not UTF-8 (a User-Agent header
 * can hold anything) are stored as '?' instead of failing the statement.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/backend.h"

#define PG_BATCH_MAX 64       /* most tx fns in one transaction (see above) */
#define PG_RETRY_MAX 8        /* runs of a batch that keeps dying of deadlocks */
#define PG_WAIT_MS 15000      /* the longest one round trip may take, client side */
#define PG_POOL_WAIT_MS 10000 /* the longest a reader waits for a pooled connection */
#define PG_INFLIGHT_MAX 8     /* statements sent ahead of their answers (seg_send) */
#define PG_LOAD_AHEAD 256     /* rows store_load sends ahead before reading answers */
#define PG_PARAMS_MAX 16      /* parameters of the widest statement */
#define PG_TEXT_SPACE 4096    /* room for repaired copies of a statement's text parameters */
#define PG_MIGRATE_LOCK "1885431905, 1" /* pg_advisory_xact_lock key of the migrations */

/* ---- statements ------------------------------------------------------------------------ */

enum stmt_id {
	ST_MIGRATION_RECORD,
	ST_ACCOUNT_INSERT,
	ST_ACCOUNT_BY_NAME,
	ST_ACCOUNT_BY_ID,
	ST_ACCOUNT_LOCK,
	ST_ACCOUNT_SET_PASSWORD,
	ST_ACCOUNT_SET_DISABLED,
	ST_ACCOUNT_SET_TWOFACTOR,
	ST_ACCOUNT_LIST,
	ST_TOTP_GET,
	ST_TOTP_PUT,
	ST_TOTP_CONSUME,
	ST_TOTP_CONSUME_UNTHROTTLED,
	ST_TOTP_CONSUME_AUDITED,
	ST_TOTP_CONSUME_MANY,
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
	ST_LIMIT_LOCK_GET,
	ST_LIMIT_GET,
	ST_LIMIT_PUT,
	ST_SERVICE_ADD,
	ST_SERVICE_BY_KEY,
	ST_CHECK_READ,
	ST_CHECK_READ_MANY,
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
	ST_LOAD_FINISH,
	ST__COUNT /* also: a statement made up for one use (stmt_run) */
};

/* Inserts say ON CONFLICT DO NOTHING and count their rows: in PostgreSQL a failed statement
 * aborts the whole transaction, so an expected conflict must not be an error. */
static const char *const stmt_sql[ST__COUNT] = {
    [ST_MIGRATION_RECORD] = "INSERT INTO schema_migrations(version, applied_at) "
                            "VALUES ($1, EXTRACT(EPOCH FROM now())::bigint)",
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts(name, pwhash, service_id, created_at) "
                          "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
    [ST_ACCOUNT_BY_NAME] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                           "service_id FROM accounts WHERE name = $1",
    [ST_ACCOUNT_BY_ID] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                         "service_id FROM accounts WHERE id = $1",
    [ST_ACCOUNT_LOCK] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                        "service_id FROM accounts WHERE id = $1 FOR UPDATE",
    [ST_ACCOUNT_SET_PASSWORD] = "UPDATE accounts SET pwhash = $2 WHERE id = $1",
    [ST_ACCOUNT_SET_DISABLED] = "UPDATE accounts SET disabled = $2 WHERE id = $1",
    [ST_ACCOUNT_SET_TWOFACTOR] = "UPDATE accounts SET twofactor = $2 WHERE id = $1",
    [ST_ACCOUNT_LIST] = "SELECT id, name, pwhash, disabled, twofactor, created_at, "
                        "service_id FROM accounts ORDER BY name",
    [ST_TOTP_GET] = "SELECT sealed, alg, digits, period, confirmed, last_step, drift, "
                    "created_at FROM totp WHERE account_id = $1",
    [ST_TOTP_PUT] = "INSERT INTO totp(account_id, sealed, alg, digits, period, confirmed, "
                    "last_step, drift, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                    "ON CONFLICT (account_id) DO UPDATE SET sealed = EXCLUDED.sealed, "
                    "alg = EXCLUDED.alg, digits = EXCLUDED.digits, period = EXCLUDED.period, "
                    "confirmed = EXCLUDED.confirmed, last_step = EXCLUDED.last_step, "
                    "drift = EXCLUDED.drift, created_at = EXCLUDED.created_at",
    /* RFC 6238 §5.2: the condition is the whole point — a step is accepted once, and a
     * concurrent consumer of the row makes PostgreSQL re-check it on the newer row. */
    [ST_TOTP_CONSUME] = "UPDATE totp SET last_step = $2, drift = $3, confirmed = true "
                        "WHERE account_id = $1 AND sealed = $4 "
                        "AND (last_step IS NULL OR last_step < $2)",
    /* A counter (or a disable) another writer has not committed yet is not seen: that
     * writer's change then comes after this one, which changed no counter. */
    [ST_TOTP_CONSUME_UNTHROTTLED] = "UPDATE totp SET last_step = $2, drift = $3, confirmed = true "
                                    "WHERE account_id = $1 AND sealed = $4 "
                                    "AND (last_step IS NULL OR last_step < $2) "
                                    "AND NOT EXISTS (SELECT 1 FROM limits WHERE key = $5) "
                                    "AND NOT EXISTS (SELECT 1 FROM accounts "
                                    "WHERE id = $1 AND disabled)",
    /* The same, and its audit row only if it consumed: one statement that either does both
     * or changes nothing. */
    [ST_TOTP_CONSUME_AUDITED] =
        "WITH c AS (UPDATE totp SET last_step = $2, drift = $3, confirmed = true "
        "WHERE account_id = $1 AND sealed = $4 AND (last_step IS NULL OR last_step < $2) "
        "AND NOT EXISTS (SELECT 1 FROM limits WHERE key = $5) "
        "AND NOT EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND disabled) RETURNING 1) "
        "INSERT INTO audit(at, account_id, account_name, event, outcome, ip, client, detail) "
        "SELECT $6::bigint, $7::bigint, $8::text, $9::text, $10::text, $11::text, $12::text, "
        "$13::text FROM c",
    /* The same for a batch's deferred consumptions: ($1[k], ..., $13[k]) is the k-th; the
     * answer lists the k of those that consumed.  (Of two for one account only one can.) */
    [ST_TOTP_CONSUME_MANY] =
        "WITH q AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::integer[], "
        "$4::bytea[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], "
        "$10::text[], $11::text[], $12::text[], $13::text[]) WITH ORDINALITY AS "
        "q(account, step, drift, sealed, lkey, at, acct, name, event, outcome, ip, client, "
        "detail, k)), "
        "c AS (UPDATE totp t SET last_step = q.step, drift = q.drift, confirmed = true FROM q "
        "WHERE t.account_id = q.account AND t.sealed = q.sealed "
        "AND (t.last_step IS NULL OR t.last_step < q.step) "
        "AND NOT EXISTS (SELECT 1 FROM limits l WHERE l.key = q.lkey) "
        "AND NOT EXISTS (SELECT 1 FROM accounts ac WHERE ac.id = q.account AND ac.disabled) "
        "RETURNING q.k), "
        "a AS (INSERT INTO audit(at, account_id, account_name, event, outcome, ip, client, "
        "detail) SELECT q.at, q.acct, q.name, q.event, q.outcome, q.ip, q.client, q.detail "
        "FROM q JOIN c ON c.k = q.k ORDER BY q.k) "
        "SELECT k FROM c",
    [ST_TOTP_DELETE] = "DELETE FROM totp WHERE account_id = $1",
    [ST_BACKUP_LIST] = "SELECT generation, hash, status, created_at FROM "
                       "(SELECT generation, hash, status, created_at FROM backup_codes "
                       "WHERE account_id = $1 ORDER BY generation DESC LIMIT $2) AS newest "
                       "ORDER BY generation",
    [ST_BACKUP_FIND] = "SELECT generation, hash, status, created_at FROM backup_codes "
                       "WHERE account_id = $1 AND hash = $2",
    [ST_BACKUP_ADD] = "INSERT INTO backup_codes(account_id, generation, hash, status, "
                      "created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    [ST_BACKUP_SET_STATUS] = "UPDATE backup_codes SET status = $3 "
                             "WHERE account_id = $1 AND generation = $2 AND status = 0",
    [ST_BACKUP_TRIM] = "DELETE FROM backup_codes WHERE account_id = $1 AND generation < $2 "
                       "AND status <> 0",
    [ST_BACKUP_DELETE_ALL] = "DELETE FROM backup_codes WHERE account_id = $1",
    [ST_TMPPASS_LIST] = "SELECT id, hash, created_at, expires_at, used_at FROM tmp_passwords "
                        "WHERE account_id = $1 "
                        "ORDER BY (used_at = 0 AND expires_at > $2) DESC, id DESC LIMIT $3",
    [ST_TMPPASS_ADD] = "INSERT INTO tmp_passwords(account_id, hash, created_at, expires_at, "
                       "used_at, id) VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
    [ST_TMPPASS_CONSUME] = "UPDATE tmp_passwords SET used_at = $3 "
                           "WHERE account_id = $1 AND id = $2 AND used_at = 0",
    [ST_TMPPASS_DELETE] = "DELETE FROM tmp_passwords WHERE account_id = $1 AND id = $2",
    [ST_TMPPASS_PURGE] = "DELETE FROM tmp_passwords WHERE account_id = $1 AND "
                         "(expires_at < $2 OR (used_at <> 0 AND used_at < $2))",
    [ST_TMPPASS_DELETE_ALL] = "DELETE FROM tmp_passwords WHERE account_id = $1",
    [ST_SESSION_ADD] = "INSERT INTO sessions(token_hash, account_id, kind, client, ip, "
                       "created_at, auth_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) "
                       "ON CONFLICT DO NOTHING RETURNING id",
    [ST_SESSION_BY_TOKEN] = "SELECT id, token_hash, account_id, kind, client, ip, created_at, "
                            "auth_at, revoked_at FROM sessions WHERE token_hash = $1",
    [ST_SESSION_LIST] = "SELECT id, token_hash, account_id, kind, client, ip, created_at, "
                        "auth_at, revoked_at FROM sessions WHERE account_id = $1 "
                        "AND revoked_at = 0 ORDER BY id",
    [ST_SESSION_REVOKE] = "UPDATE sessions SET revoked_at = $3 WHERE account_id = $1 "
                          "AND id = $2 AND revoked_at = 0",
    [ST_SESSION_REVOKE_ALL] = "UPDATE sessions SET revoked_at = $3 WHERE account_id = $1 "
                              "AND id <> $2 AND revoked_at = 0",
    [ST_SESSION_SET_AUTH] = "UPDATE sessions SET auth_at = $2 WHERE id = $1",
    [ST_LOGIN_ADD] = "INSERT INTO logins(id_hash, account_id, state, failures, client, ip, "
                     "created_at, expires_at, session_id) "
                     "VALUES ($1, $2, 0, 0, $3, $4, $5, $6, 0) ON CONFLICT DO NOTHING "
                     "RETURNING id",
    [ST_LOGIN_BY_HASH] = "SELECT id, id_hash, account_id, state, failures, client, ip, "
                         "created_at, expires_at, session_id FROM logins WHERE id_hash = $1",
    [ST_LOGIN_FAIL] = "UPDATE logins SET failures = failures + 1 WHERE id = $1 AND state = 0 "
                      "RETURNING failures",
    [ST_LOGIN_END] = "UPDATE logins SET state = $2, session_id = $3 WHERE id = $1 "
                     "AND state = 0",
    [ST_LOGIN_END_ALL] = "UPDATE logins SET state = $2 WHERE account_id = $1 AND state = 0",
    /* The lock is held until the transaction ends; other writers wait for it (migration 2). */
    [ST_LIMIT_LOCK_GET] = "SELECT pahara_limit_lock_get($1)",
    [ST_LIMIT_GET] = "SELECT blob FROM limits WHERE key = $1",
    [ST_LIMIT_PUT] = "INSERT INTO limits(key, blob, expires_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT (key) DO UPDATE SET blob = EXCLUDED.blob, "
                     "expires_at = EXCLUDED.expires_at",
    [ST_SERVICE_ADD] = "INSERT INTO services(name, key_hash, disabled, created_at) "
                       "VALUES ($1, $2, false, $3) ON CONFLICT DO NOTHING RETURNING id",
    [ST_SERVICE_BY_KEY] = "SELECT id, name, key_hash, disabled, created_at FROM services "
                          "WHERE key_hash = $1",
    [ST_CHECK_READ] = "SELECT s.id, s.name, s.key_hash, s.disabled, s.created_at, "
                      "a.id, a.name, a.pwhash, a.disabled, a.twofactor, a.created_at, "
                      "a.service_id, t.sealed, t.alg, t.digits, t.period, t.confirmed, "
                      "t.last_step, t.drift, t.created_at FROM services s "
                      "LEFT JOIN accounts a ON a.name = $2 "
                      "LEFT JOIN totp t ON t.account_id = a.id WHERE s.key_hash = $1",
    /* The same for a batch's checks: one row per ($1[k], $2[k]), with k last; a row without
     * a service is one whose key no service has.  (Columns as ST_CHECK_READ's.) */
    [ST_CHECK_READ_MANY] =
        "SELECT s.id, s.name, s.key_hash, s.disabled, s.created_at, "
        "a.id, a.name, a.pwhash, a.disabled, a.twofactor, a.created_at, a.service_id, "
        "t.sealed, t.alg, t.digits, t.period, t.confirmed, t.last_step, t.drift, t.created_at, "
        "q.k FROM unnest($1::bytea[], $2::text[]) WITH ORDINALITY AS q(hash, name, k) "
        "LEFT JOIN services s ON s.key_hash = q.hash "
        "LEFT JOIN accounts a ON a.name = q.name "
        "LEFT JOIN totp t ON t.account_id = a.id",
    [ST_SERVICE_LIST] = "SELECT id, name, key_hash, disabled, created_at FROM services "
                        "ORDER BY name",
    [ST_KEY_CHECK_GET] = "SELECT name, value, created_at FROM key_checks WHERE name = $1",
    [ST_KEY_CHECK_ADD] = "INSERT INTO key_checks(name, value, created_at) VALUES ($1, $2, $3) "
                         "ON CONFLICT DO NOTHING",
    [ST_KEY_CHECK_DELETE] = "DELETE FROM key_checks WHERE name = $1",
    [ST_KEY_CHECK_LIST] = "SELECT name, value, created_at FROM key_checks ORDER BY name",
    [ST_PURGE_LIMITS] = "DELETE FROM limits WHERE expires_at < $1",
    [ST_PURGE_LOGINS] = "DELETE FROM logins WHERE expires_at < $1",
    [ST_PURGE_SESSIONS] = "DELETE FROM sessions WHERE revoked_at <> 0 AND revoked_at < $1",
    [ST_AUDIT_ADD] = "INSERT INTO audit(at, account_id, account_name, event, outcome, ip, "
                     "client, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    [ST_AUDIT_LIST] = "SELECT id, at, account_id, account_name, event, outcome, ip, client, "
                      "detail FROM audit WHERE at >= $2 "
                      "AND ($1::bigint = 0 OR account_id = $1::bigint) ORDER BY id",
    /* Rows loaded with their ids: the identities go on after the largest. */
    [ST_LOAD_FINISH] = "SELECT setval(pg_get_serial_sequence('accounts', 'id'), "
                       "  (SELECT COALESCE(MAX(id), 0) + 1 FROM accounts), false), "
                       "setval(pg_get_serial_sequence('services', 'id'), "
                       "  (SELECT COALESCE(MAX(id), 0) + 1 FROM services), false), "
                       "setval(pg_get_serial_sequence('sessions', 'id'), "
                       "  (SELECT COALESCE(MAX(id), 0) + 1 FROM sessions), false), "
                       "setval(pg_get_serial_sequence('logins', 'id'), "
                       "  (SELECT COALESCE(MAX(id), 0) + 1 FROM logins), false), "
                       "setval(pg_get_serial_sequence('audit', 'id'), "
                       "  (SELECT COALESCE(MAX(id), 0) + 1 FROM audit), false)",
};

/* ---- schema ---------------------------------------------------------------------------- */

/*
 * Numbered migrations with the numbers and meaning of sqlite.c's: migration i (1-based) takes
 * the schema from version i-1 to i.  Never edit a published migration; add the next one.
 * Names compare and sort bytewise (COLLATE "C"), as in SQLite.
 */
static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE accounts ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  name TEXT COLLATE \"C\" NOT NULL UNIQUE,"
    "  pwhash TEXT NOT NULL DEFAULT '',"
    "  disabled BOOLEAN NOT NULL DEFAULT false,"
    "  twofactor BOOLEAN NOT NULL DEFAULT false,"
    "  service_id BIGINT NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE totp ("
    "  account_id BIGINT PRIMARY KEY REFERENCES accounts(id),"
    "  sealed BYTEA NOT NULL,"
    "  alg INTEGER NOT NULL, digits INTEGER NOT NULL, period INTEGER NOT NULL,"
    "  confirmed BOOLEAN NOT NULL,"
    "  last_step BIGINT,"
    "  drift INTEGER NOT NULL DEFAULT 0,"
    "  created_at BIGINT NOT NULL);"
    "CREATE TABLE backup_codes ("
    "  account_id BIGINT NOT NULL REFERENCES accounts(id),"
    "  generation BIGINT NOT NULL,"
    "  hash BYTEA NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (account_id, generation));"
    "CREATE TABLE tmp_passwords ("
    "  account_id BIGINT NOT NULL REFERENCES accounts(id),"
    "  id BIGINT NOT NULL,"
    "  hash BYTEA NOT NULL,"
    "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, used_at BIGINT NOT NULL,"
    "  PRIMARY KEY (account_id, id));"
    "CREATE TABLE sessions ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  token_hash BYTEA NOT NULL UNIQUE,"
    "  account_id BIGINT NOT NULL REFERENCES accounts(id),"
    "  kind INTEGER NOT NULL, client TEXT NOT NULL, ip TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL, auth_at BIGINT NOT NULL, revoked_at BIGINT NOT NULL);"
    "CREATE INDEX sessions_account ON sessions(account_id);"
    "CREATE TABLE logins ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  id_hash BYTEA NOT NULL UNIQUE,"
    "  account_id BIGINT NOT NULL REFERENCES accounts(id),"
    "  state INTEGER NOT NULL, failures INTEGER NOT NULL,"
    "  client TEXT NOT NULL, ip TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,"
    "  session_id BIGINT NOT NULL);"
    "CREATE TABLE limits ("
    "  key TEXT COLLATE \"C\" PRIMARY KEY, blob BYTEA NOT NULL, expires_at BIGINT NOT NULL);"
    "CREATE TABLE services ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  name TEXT COLLATE \"C\" NOT NULL UNIQUE, key_hash BYTEA NOT NULL UNIQUE,"
    "  disabled BOOLEAN NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE TABLE audit ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  at BIGINT NOT NULL, account_id BIGINT NOT NULL, account_name TEXT NOT NULL,"
    "  event TEXT NOT NULL, outcome TEXT NOT NULL, ip TEXT NOT NULL, client TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX audit_account ON audit(account_id, id);"
    /* Append-only: the database itself refuses to change or remove an audit row. */
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "  $$BEGIN RAISE EXCEPTION 'audit log is append-only'; END$$;"
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
    "  FOR EACH ROW EXECUTE FUNCTION audit_append_only();"
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();",
    /* 2: indexes for housekeeping's deletes; and a throttling counter's lock and read in one
     * round trip.  The function is VOLATILE, so under READ COMMITTED its SELECT takes a new
     * snapshot after the lock is granted and sees what the lock's last holder committed. */
    "CREATE INDEX limits_expires ON limits(expires_at);"
    "CREATE INDEX logins_expires ON logins(expires_at);"
    "CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at <> 0;"
    "CREATE FUNCTION pahara_limit_lock_get(k TEXT) RETURNS BYTEA "
    "  LANGUAGE plpgsql VOLATILE STRICT AS $$BEGIN"
    "  PERFORM pg_advisory_xact_lock(hashtextextended(k, 0));"
    "  RETURN (SELECT blob FROM limits WHERE key = k);"
    "END$$;",
    /* 3: fingerprints of the key files the data was made with (store.h, key checks). */
    "CREATE TABLE key_checks ("
    "  name TEXT COLLATE \"C\" PRIMARY KEY,"
    "  value BYTEA NOT NULL,"
    "  created_at BIGINT NOT NULL);",
    /* 4: an account's pending sign-ins, which a password change or a disable ends. */
    "CREATE INDEX logins_pending ON logins(account_id) WHERE state = 0;",
};
#define MIGRATIONS_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Run on every new connection; settings the URL made (options=-c...) are kept.  The writer's
 * done callbacks promise a durable commit: synchronous_commit may not be off. */
#define SESSION_SQL                                                                                \
	"SET client_min_messages = warning;"                                                       \
	"SELECT set_config('statement_timeout', '10s', false) "                                    \
	"WHERE current_setting('statement_timeout') = '0';"                                        \
	"SELECT set_config('synchronous_commit', 'on', false) "                                    \
	"WHERE current_setting('synchronous_commit') = 'off'"
#define READER_SQL ";SET default_transaction_read_only = on"

/* libpq settings of ours: before the URL, which may override them.  (A dead server is noticed
 * by keepalives after ~25 s of silence, and by tcp_user_timeout when data goes unacknowledged
 * for 15 s.) */
static const char *const conn_defaults[][2] = {
    {"connect_timeout", "5"},       {"keepalives", "1"},       {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},   {"keepalives_count", "3"}, {"tcp_user_timeout", "15000"},
    {"application_name", "pahara"},
};
#define CONN_DEFAULTS (sizeof(conn_defaults) / sizeof(conn_defaults[0]))

/* ---- the store ------------------------------------------------------------------------- */

static const struct store_ops postgres_ops;

/* A connection and what it has prepared.  Closed (pg NULL) after any failure of its own. */
struct pg_conn {
	PGconn *pg;        /* NULL = closed */
	unsigned inflight; /* pipeline segments sent whose answers are not yet read */
	bool open_segment; /* statements sent (still in libpq's buffer) without a Sync */
	const char *what[PG_INFLIGHT_MAX]; /* their statements, for the log */
	bool prepared[ST__COUNT];          /* statements prepared on this connection */
	struct pg_conn *next_idle;         /* the pool's idle list */
};

/* The writer's context, or a thread's reader context.  A reader holds a connection only
 * inside a snapshot; otherwise each statement borrows one. */
struct pg_tx {
	struct store_tx base;        /* first: store.c dispatches through it */
	struct pg_store *s;          /* owner */
	struct pg_conn *c;           /* the writer's connection, or the snapshot's; else NULL */
	bool writer;                 /* the writer's context */
	bool failed;                 /* a statement failed: the transaction is aborted */
	bool retry;                  /* writer: deadlock or serialization failure */
	bool lost;                   /* the connection failed */
	bool careful;                /* writer: this run of the batch has a savepoint per fn */
	struct pg_consume *defer_to; /* writer: the fn may defer its consumption, kept here */
	bool deferred;               /* writer: it did (then it may call nothing more) */
	unsigned loaded_ahead;       /* writer: rows store_load sent ahead since the last drain */
	char load_sql[768];          /* writer: store_load's statement (sent ahead: kept here) */
	struct pg_tx *next_reader;   /* the store's list of reader contexts */
};

struct op {
	store_tx_fn fn;     /* what to run */
	void *arg;          /* its argument */
	store_done_fn done; /* called after commit (may be NULL) */
	enum pa_err result; /* fn's result, then the commit's */
	struct op *next;    /* queue link */
	/* store_submit_check's: */
	store_check_prepare_fn prepare; /* NULL: a plain store_submit */
	uint8_t hash[STORE_HASH_LEN];   /* the service key's hash */
	int read_row;                   /* its row in the writer's reads, or -1 */
	bool deferred;                  /* the fn deferred its consumption (w->consumes) */
	bool consumed;                  /* and the batch's statement consumed it */
	char name[];                    /* the account's name */
};

/* A consumption deferred by store_totp_consume_unthrottled: its arguments. */
struct pg_consume {
	int64_t account, step;               /* which step of whose generator */
	int drift;                           /* to record */
	uint8_t sealed[STORE_SEALED_MAX];    /* the generator as read */
	size_t sealed_len;                   /* bytes in sealed */
	char limit_key[STORE_LIMIT_KEY_MAX]; /* the counter that must not exist */
	struct store_audit au;               /* the audit row */
};

/* A writer thread, its connection and its context. */
struct pg_writer {
	struct pg_conn conn; /* its read-write connection */
	struct pg_tx tx;     /* its context */
	PGresult *reads;     /* a careless batch's check reads (ST_CHECK_READ_MANY) */
	struct pg_consume consumes[PG_BATCH_MAX]; /* its deferred consumptions */
	unsigned nconsumes;                       /* how many */
	pthread_t thread;                         /* the thread */
	bool started;                             /* the thread runs */
	struct pg_store *s;                       /* owner */
};

struct pg_store {
	struct store base;                        /* first: store.c dispatches through it */
	char *location;                           /* the URL (may hold a password: never logged) */
	const char *conn_keys[CONN_DEFAULTS + 3]; /* PQconnectdbParams: ours, the URL, NULL */
	const char *conn_vals[CONN_DEFAULTS + 3]; /* their values */
	unsigned batch_max;                       /* most ops per commit */
	unsigned nwriters;                        /* writer threads (each with its connection) */
	struct pg_writer writers[STORE_WRITERS_MAX]; /* them */
	pthread_mutex_t lock;                        /* guards queue, stopping, readers */
	pthread_cond_t wake;                         /* work queued, or stopping */
	struct op *head, *tail;                      /* queued ops */
	bool stopping;                               /* close requested */
	pthread_key_t reader_key;                    /* thread -> its reader context */
	struct pg_tx *readers;                       /* every reader context, to free at the end */
	pthread_mutex_t pool_lock;                   /* guards idle, open */
	pthread_cond_t pool_free; /* a reader connection came free (or a slot did) */
	struct pg_conn *idle;     /* reader connections not in use */
	unsigned open;            /* reader connections open or being opened */
	unsigned readers_max;     /* the most of them */
	int version;              /* schema version */
};

/* ---- connections ----------------------------------------------------------------------- */

/* What became of a statement. */
enum q_status {
	Q_OK,       /* it ran */
	Q_CONFLICT, /* it broke a constraint (SQLSTATE class 23) */
	Q_ERROR,    /* any other error the server reported */
	Q_RETRY,    /* deadlock or serialization failure: run the whole transaction again */
	Q_LOST,     /* the connection failed, or took too long (it is closed now) */
	Q_CAREFUL,  /* writer: a fn failed in a batch without savepoints: run it with them */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line on stderr: what failed (SQL cut short), and libpq's message on one line. */
static void log_msg(const char *what, const char *msg)
{
	char line[320];
	size_t n = 0;
	for (const char *m = msg ? msg : ""; *m && n < sizeof(line) - 1; m++) {
		char ch = *m == '\n' || *m == '\t' ? ' ' : *m;
		if (ch != ' ' || (n > 0 && line[n - 1] != ' '))
			line[n++] = ch;
	}
	while (n > 0 && line[n - 1] == ' ')
		n--;
	line[n] = '\0';
	fprintf(stderr, "pahara: store: %.80s: %s\n", what, line);
}

static void conn_close(struct pg_conn *c)
{
	PQfinish(c->pg);
	c->pg = NULL;
	c->inflight = 0;
	c->open_segment = false;
	memset(c->prepared, 0, sizeof(c->prepared));
}

/* Wait until a whole result can be read without blocking.  false: the connection failed or
 * the deadline passed (the caller closes it). */
static bool conn_wait(PGconn *pg, int64_t deadline)
{
	for (;;) {
		int f = PQflush(pg);
		if (f < 0)
			return false;
		if (f == 0 && !PQisBusy(pg))
			return true;
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			log_msg("no answer in time", "closing the connection");
			return false;
		}
		struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN | (f ? POLLOUT : 0)};
		if (p.fd < 0)
			return false;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return false;
		if (r > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(pg))
			return false;
	}
}

/* Every result of what was sent: the first error if there was one, else the last result.
 * NULL: the connection failed. */
static PGresult *conn_result(PGconn *pg, int64_t deadline)
{
	PGresult *keep = NULL;
	for (;;) {
		if (!conn_wait(pg, deadline)) {
			PQclear(keep);
			return NULL;
		}
		PGresult *r = PQgetResult(pg);
		if (!r)
			return keep;
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(r);
		} else {
			PQclear(keep);
			keep = r;
		}
	}
}

static enum q_status result_status(PGconn *pg, const PGresult *r, const char *what)
{
	if (!r) {
		log_msg(what, PQerrorMessage(pg));
		return Q_LOST;
	}
	ExecStatusType st = PQresultStatus(r);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return Q_OK;
	if (st == PGRES_PIPELINE_ABORTED)
		return Q_ERROR; /* an earlier statement failed, and said why */
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0))
		return Q_RETRY;
	if (state && strncmp(state, "23", 2) == 0)
		return Q_CONFLICT;
	log_msg(what, PQresultErrorMessage(r));
	/* Class 08: connection exceptions; 57P0x: the server is shutting down or restarting. */
	if (PQstatus(pg) == CONNECTION_BAD || !state || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P0", 4) == 0)
		return Q_LOST;
	return Q_ERROR;
}

struct q_params {
	int n;                           /* parameters set */
	const char *vals[PG_PARAMS_MAX]; /* text, or bytes for binary ones; NULL = SQL NULL */
	int lens[PG_PARAMS_MAX];         /* bytes of the binary ones */
	int fmts[PG_PARAMS_MAX];         /* 0 = text, 1 = binary */
	char nums[PG_PARAMS_MAX][24];    /* integers as text */
	char text[PG_TEXT_SPACE];        /* repaired copies of text that was not UTF-8 */
	size_t text_used;                /* bytes of text in use */
	bool bad;                        /* a parameter did not fit: the statement fails */
};
static const struct q_params no_params; /* for statements without any */

/* ---- statements sent ahead ----------------------------------------------------------- */

/*
 * A statement whose answer nobody needs at once (a snapshot's BEGIN and COMMIT, the writer's
 * BEGIN and, in a careless batch, its audit rows) is sent ahead in libpq's pipeline mode, in a
 * segment (statements and a Sync) of its own or shared with the statements that follow, and
 * its answer is read with the next statement's: one round trip instead of two.  Every way of
 * running a statement first reads what is in flight (conn_drain), and a failure there is that
 * statement's failure too.  Only prepared statements and single statements (store_load's INSERTs)
 * are sent ahead.
 */

/* The answers to one segment: its first error, else its last result.  NULL: the connection
 * failed (or nothing was in flight). */
static PGresult *seg_result(PGconn *pg, int64_t deadline)
{
	PGresult *keep = NULL;
	unsigned nulls = 0;
	for (;;) {
		if (!conn_wait(pg, deadline))
			break;
		PGresult *r = PQgetResult(pg);
		if (!r) {
			if (++nulls > 1)
				break; /* nothing more: a miscount, never expected */
			continue;
		}
		nulls = 0;
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			return keep;
		}
		if (keep && PQresultStatus(keep) != PGRES_COMMAND_OK &&
		    PQresultStatus(keep) != PGRES_TUPLES_OK) {
			PQclear(r);
		} else {
			PQclear(keep);
			keep = r;
		}
	}
	PQclear(keep);
	return NULL;
}

/* Statements are in flight, or waiting in libpq's buffer. */
static bool conn_ahead(const struct pg_conn *c)
{
	return c->inflight || c->open_segment;
}

static int q_rank(enum q_status st)
{
	return st == Q_OK ? 0 : st == Q_CONFLICT ? 1 : st == Q_ERROR ? 2 : st == Q_RETRY ? 3 : 4;
}

/* Read the answers to every segment in flight and leave pipeline mode.  The worst of them is
 * the result; *last (when not NULL) gets the last segment's result when all went well. */
static enum q_status conn_drain(struct pg_conn *c, PGresult **last)
{
	if (last)
		*last = NULL;
	if (!c->pg)
		return Q_LOST;
	if (c->open_segment) {
		c->open_segment = false;
		if (!PQpipelineSync(c->pg)) {
			log_msg("pipeline", PQerrorMessage(c->pg));
			conn_close(c);
			return Q_LOST;
		}
		c->inflight++;
	}
	enum q_status worst = Q_OK;
	int64_t deadline = now_ms() + PG_WAIT_MS;
	for (unsigned i = 0; i < c->inflight; i++) {
		PGresult *r = seg_result(c->pg, deadline);
		enum q_status st = result_status(c->pg, r, c->what[i]);
		if (st == Q_LOST) {
			PQclear(r);
			if (last) {
				PQclear(*last);
				*last = NULL;
			}
			conn_close(c);
			return Q_LOST;
		}
		if (q_rank(st) > q_rank(worst))
			worst = st;
		if (last && i + 1 == c->inflight && st == Q_OK)
			*last = r;
		else
			PQclear(r);
	}
	c->inflight = 0;
	if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg)) {
		log_msg("pipeline", PQerrorMessage(c->pg));
		worst = Q_LOST;
	}
	if (worst != Q_OK && last) {
		PQclear(*last);
		*last = NULL;
	}
	if (worst == Q_LOST)
		conn_close(c);
	return worst;
}

/* Send a prepared statement id (or, with ST__COUNT, sql: one statement, parsed each time)
 * without waiting.  With sync it ends a segment and goes out now; without, it stays in
 * libpq's buffer and joins the next statement's segment (whose answer then also says whether
 * this one failed).  false: not sent — not prepared here, too much in flight, or the
 * connection failed (then it is closed). */
static bool seg_send(struct pg_conn *c, enum stmt_id id, const char *sql, const struct q_params *p,
                     bool sync)
{
	if (!c->pg || c->inflight >= PG_INFLIGHT_MAX || (id != ST__COUNT && !c->prepared[id]))
		return false;
	char name[16];
	snprintf(name, sizeof(name), "pa%d", (int)id);
	bool ok = (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF || PQenterPipelineMode(c->pg)) &&
	          (id == ST__COUNT
	               ? PQsendQueryParams(c->pg, sql, p->n, NULL, p->vals, p->lens, p->fmts, 1)
	               : PQsendQueryPrepared(c->pg, name, p->n, p->vals, p->lens, p->fmts, 1)) &&
	          (!sync || PQpipelineSync(c->pg));
	if (!ok) {
		log_msg(id == ST__COUNT ? sql : stmt_sql[id], PQerrorMessage(c->pg));
		conn_close(c);
		return false;
	}
	/* A segment is named in the log by its statement, or as several. */
	c->what[c->inflight] = c->open_segment   ? "one of several statements sent together"
	                       : id == ST__COUNT ? sql
	                                         : stmt_sql[id];
	if (sync)
		c->inflight++;
	c->open_segment = !sync;
	return true;
}

/* Send sql (one or more statements, simple protocol) and wait for the outcome; *out (when
 * not NULL) gets the last result on Q_OK. */
static enum q_status conn_simple(struct pg_conn *c, const char *sql, PGresult **out)
{
	if (out)
		*out = NULL;
	if (!c->pg)
		return Q_LOST;
	if (conn_ahead(c)) {
		enum q_status st = conn_drain(c, NULL);
		if (st != Q_OK)
			return st;
	}
	PGresult *r = NULL;
	if (PQsendQuery(c->pg, sql))
		r = conn_result(c->pg, now_ms() + PG_WAIT_MS);
	enum q_status st = result_status(c->pg, r, sql);
	if (st == Q_OK && out)
		*out = r;
	else
		PQclear(r);
	if (st == Q_LOST)
		conn_close(c);
	return st;
}

/* Prepare every statement, in one round trip (the schema must be in place).  false: logged,
 * and the connection is closed. */
static bool conn_prepare_all(struct pg_conn *c)
{
	if (!PQenterPipelineMode(c->pg)) {
		log_msg("pipeline", PQerrorMessage(c->pg));
		conn_close(c);
		return false;
	}
	for (int id = 0; id < ST__COUNT; id++) {
		if (c->prepared[id])
			continue; /* by migrate() */
		char name[16];
		snprintf(name, sizeof(name), "pa%d", id);
		if (!PQsendPrepare(c->pg, name, stmt_sql[id], 0, NULL)) {
			log_msg(stmt_sql[id], PQerrorMessage(c->pg));
			conn_close(c);
			return false;
		}
	}
	if (!PQpipelineSync(c->pg)) {
		conn_close(c);
		return false;
	}
	c->what[0] = "preparing the statements";
	c->inflight = 1;
	if (conn_drain(c, NULL) != Q_OK) {
		conn_close(c);
		return false;
	}
	for (int id = 0; id < ST__COUNT; id++)
		c->prepared[id] = true;
	return true;
}

/* Open c's connection, set its session up and prepare its statements.  false: logged. */
static bool conn_open(struct pg_store *s, struct pg_conn *c, bool writer)
{
	memset(c->prepared, 0, sizeof(c->prepared));
	c->pg = PQconnectdbParams(s->conn_keys, s->conn_vals, 1);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		log_msg("cannot connect", c->pg ? PQerrorMessage(c->pg) : "out of memory");
		conn_close(c);
		return false;
	}
	/* Non-blocking, so that every wait is a poll() with a deadline (conn_wait). */
	if (PQsetnonblocking(c->pg, 1) != 0) {
		log_msg("cannot connect", PQerrorMessage(c->pg));
		conn_close(c);
		return false;
	}
	if (conn_simple(c, writer ? SESSION_SQL : SESSION_SQL READER_SQL, NULL) != Q_OK) {
		conn_close(c);
		return false;
	}
	/* Before the first migration there is nothing to prepare against (store_postgres_open
	 * prepares after migrating). */
	return s->version == 0 || conn_prepare_all(c);
}

/* ---- parameters and columns ------------------------------------------------------------ */

static bool p_slot(struct q_params *p)
{
	if (p->n < PG_PARAMS_MAX)
		return true;
	p->bad = true;
	return false;
}

static void p_int(struct q_params *p, int64_t v)
{
	if (!p_slot(p))
		return;
	snprintf(p->nums[p->n], sizeof(p->nums[0]), "%lld", (long long)v);
	p->vals[p->n] = p->nums[p->n];
	p->n++;
}

static void p_bool(struct q_params *p, bool v)
{
	if (p_slot(p))
		p->vals[p->n++] = v ? "t" : "f";
}

static void p_null(struct q_params *p)
{
	if (p_slot(p))
		p->vals[p->n++] = NULL;
}

static void p_bytes(struct q_params *p, const void *b, size_t len)
{
	if (!p_slot(p))
		return;
	if (len > INT_MAX) {
		p->bad = true;
		return;
	}
	p->vals[p->n] = len ? (const char *)b : ""; /* NULL would be SQL NULL */
	p->lens[p->n] = (int)len;
	p->fmts[p->n++] = 1;
}

/* len bytes of text at s, sent as they are if they are UTF-8, else as a copy with '?' for
 * every byte that is not part of a character. */
static void p_textn(struct q_params *p, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;
	while (i < len && (k = store_utf8_char_len(u + i, len - i)) > 0)
		i += k;
	if (i < len) {
		if (len > sizeof(p->text) - p->text_used) {
			p->bad = true;
			return;
		}
		char *out = p->text + p->text_used;
		for (i = 0; i < len; i += k) {
			k = store_utf8_char_len(u + i, len - i);
			if (k == 0) {
				out[i] = '?';
				k = 1;
			} else {
				memcpy(out + i, u + i, k);
			}
		}
		p->text_used += len;
		s = out;
	}
	p_bytes(p, s, len); /* binary format: text goes as its bytes */
}

static void p_text(struct q_params *p, const char *s)
{
	p_textn(p, s, strlen(s));
}

/* An audit row's columns, in ST_AUDIT_ADD's order. */
static void p_audit(struct q_params *p, const struct store_audit *a)
{
	p_int(p, a->at);
	p_int(p, a->account);
	p_text(p, a->account_name);
	p_text(p, a->event);
	p_text(p, a->outcome);
	p_text(p, a->ip);
	p_text(p, a->client);
	p_text(p, a->detail);
}

/* A column of a binary result as an integer (boolean, int2, int4, int8); NULL is 0. */
static int64_t col_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t u = 0;
	for (int i = 0; i < len && i < 8; i++)
		u = u << 8 | v[i];
	switch (len) {
	case 1:
		return (int8_t)u;
	case 2:
		return (int16_t)u;
	case 4:
		return (int32_t)u;
	case 8:
		return (int64_t)u;
	default:
		return 0;
	}
}

static void col_text(const PGresult *r, int row, int col, char *out, size_t size)
{
	size_t n = (size_t)PQgetlength(r, row, col);
	if (n >= size)
		n = size - 1;
	memcpy(out, PQgetvalue(r, row, col), n);
	out[n] = '\0';
}

static void col_hash(const PGresult *r, int row, int col, uint8_t out[STORE_HASH_LEN])
{
	memset(out, 0, STORE_HASH_LEN);
	if (PQgetlength(r, row, col) == STORE_HASH_LEN)
		memcpy(out, PQgetvalue(r, row, col), STORE_HASH_LEN);
}

/* ---- running statements ---------------------------------------------------------------- */

/* Run statement id on c, prepared the first time; or, when id is ST__COUNT, the text sql
 * (not prepared: made up for one use). */
static enum q_status stmt_run(struct pg_conn *c, enum stmt_id id, const char *sql,
                              const struct q_params *p, PGresult **out)
{
	*out = NULL;
	if (!c->pg)
		return Q_LOST;
	if (conn_ahead(c)) {
		/* Behind what is in flight, and read with it; else after it. */
		if (seg_send(c, id, sql, p, true))
			return conn_drain(c, out);
		enum q_status st = conn_drain(c, NULL);
		if (st != Q_OK)
			return st;
	}
	int64_t deadline = now_ms() + PG_WAIT_MS;
	char name[16];
	snprintf(name, sizeof(name), "pa%d", (int)id);
	PGresult *r = NULL;
	enum q_status st;
	if (id != ST__COUNT && !c->prepared[id]) {
		if (PQsendPrepare(c->pg, name, stmt_sql[id], 0, NULL))
			r = conn_result(c->pg, deadline);
		st = result_status(c->pg, r, stmt_sql[id]);
		PQclear(r);
		r = NULL;
		if (st == Q_LOST)
			conn_close(c);
		if (st != Q_OK)
			return st;
		c->prepared[id] = true;
	}
	int sent = id == ST__COUNT
	               ? PQsendQueryParams(c->pg, sql, p->n, NULL, p->vals, p->lens, p->fmts, 1)
	               : PQsendQueryPrepared(c->pg, name, p->n, p->vals, p->lens, p->fmts, 1);
	if (sent)
		r = conn_result(c->pg, deadline);
	st = result_status(c->pg, r, id == ST__COUNT ? sql : stmt_sql[id]);
	if (st == Q_OK)
		*out = r;
	else
		PQclear(r);
	if (st == Q_LOST)
		conn_close(c);
	return st;
}

/* Make an idle connection ready (a pooled one, or a writer's before its batch): read the
 * answer to the COMMIT its last user sent ahead (pg_read_end), and read whatever the server
 * sent since (after a restart, its goodbye and the end of the stream).  A connection found
 * broken or not idle is closed, and its user finds it so (Q_LOST) or opens a new one. */
static void conn_settle(struct pg_conn *c)
{
	if (!c->pg)
		return;
	if (conn_ahead(c) && conn_drain(c, NULL) != Q_OK) {
		conn_close(c);
		return;
	}
	/* libpq reads once per call: the server's goodbye, then (on the next call) the end of
	 * the stream, which alone marks the connection bad.  So read while there is something. */
	bool ok = PQconsumeInput(c->pg);
	for (int i = 0; ok && i < 4; i++) {
		struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			break;
		ok = PQconsumeInput(c->pg);
	}
	if (!ok || PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		conn_close(c);
}

/* A reader connection: an idle one, else a new one while there is room, else the first to come
 * free.  *fresh tells a new one.  NULL: none within PG_POOL_WAIT_MS, or cannot connect. */
static struct pg_conn *pool_get(struct pg_store *s, bool *fresh)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += PG_POOL_WAIT_MS / 1000;
	pthread_mutex_lock(&s->pool_lock);
	for (;;) {
		struct pg_conn *c = s->idle;
		if (c) {
			s->idle = c->next_idle;
			pthread_mutex_unlock(&s->pool_lock);
			*fresh = false;
			conn_settle(c);
			return c;
		}
		if (s->open < s->readers_max) {
			s->open++;
			pthread_mutex_unlock(&s->pool_lock);
			c = calloc(1, sizeof(*c));
			if (c && conn_open(s, c, false)) {
				*fresh = true;
				return c;
			}
			if (c)
				conn_close(c);
			free(c);
			pthread_mutex_lock(&s->pool_lock);
			s->open--;
			pthread_cond_signal(&s->pool_free);
			pthread_mutex_unlock(&s->pool_lock);
			return NULL;
		}
		if (pthread_cond_timedwait(&s->pool_free, &s->pool_lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&s->pool_lock);
			log_msg("reader", "no connection came free in time (pool_size too small?)");
			return NULL;
		}
	}
}

/* Give c back (closing it if it failed or is not idle). */
static void pool_put(struct pg_store *s, struct pg_conn *c)
{
	if (c->pg && !conn_ahead(c) && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		conn_close(c);
	bool keep = c->pg != NULL;
	pthread_mutex_lock(&s->pool_lock);
	if (keep) {
		c->next_idle = s->idle;
		s->idle = c;
	} else {
		s->open--;
	}
	pthread_cond_signal(&s->pool_free);
	pthread_mutex_unlock(&s->pool_lock);
	if (!keep)
		free(c);
}

/* Close the idle reader connections (one failed: after a restart they all have). */
static void pool_drain(struct pg_store *s)
{
	pthread_mutex_lock(&s->pool_lock);
	struct pg_conn *c = s->idle;
	s->idle = NULL;
	for (struct pg_conn *i = c; i; i = i->next_idle)
		s->open--;
	pthread_cond_broadcast(&s->pool_free);
	pthread_mutex_unlock(&s->pool_lock);
	while (c) {
		struct pg_conn *next = c->next_idle;
		conn_close(c);
		free(c);
		c = next;
	}
}

/* Run statement id (or sql, see stmt_run) on tx; *out gets its result (PQclear it) on PA_OK.
 * A read on its own that fails on a pooled connection the server has dropped runs once more
 * on a new connection. */
static enum pa_err tx_exec(struct pg_tx *tx, enum stmt_id id, const char *sql,
                           const struct q_params *p, PGresult **out)
{
	*out = NULL;
	if (p->bad) {
		log_msg(id == ST__COUNT ? sql : stmt_sql[id], "a parameter is too large");
		return PA_ERR_STORE;
	}
	if (tx->deferred) {
		/* store.h: nothing after a consumption sent ahead.  The careful run sends none. */
		log_msg(id == ST__COUNT ? sql : stmt_sql[id],
		        "called after a deferred consumption");
		tx->failed = true;
		return PA_ERR_STORE;
	}
	enum q_status st;
	if (tx->c || tx->writer) {
		st = tx->c ? stmt_run(tx->c, id, sql, p, out) : Q_LOST;
		if (st != Q_OK)
			tx->failed = true;
		tx->retry |= st == Q_RETRY;
		tx->lost |= st == Q_LOST;
	} else {
		for (int attempt = 0;; attempt++) {
			bool fresh;
			struct pg_conn *c = pool_get(tx->s, &fresh);
			if (!c)
				return PA_ERR_STORE;
			st = stmt_run(c, id, sql, p, out);
			pool_put(tx->s, c);
			if (st != Q_LOST || fresh || attempt > 0)
				break;
			pool_drain(tx->s);
		}
	}
	return st == Q_OK ? PA_OK : st == Q_CONFLICT ? PA_ERR_CONFLICT : PA_ERR_STORE;
}

static enum pa_err tx_run(struct pg_tx *tx, enum stmt_id id, const struct q_params *p,
                          PGresult **out)
{
	return tx_exec(tx, id, NULL, p, out);
}

/* Run a statement that changes rows; *changed (when not NULL) gets how many.  PA_ERR_CONFLICT
 * when it changed none and want_change — the conditional writes rely on this. */
static enum pa_err run_change(struct pg_tx *tx, enum stmt_id id, const struct q_params *p,
                              bool want_change, unsigned *changed)
{
	PGresult *r;
	enum pa_err e = tx_run(tx, id, p, &r);
	if (changed)
		*changed = 0;
	if (e != PA_OK)
		return e;
	unsigned n = (unsigned)strtoul(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	if (changed)
		*changed = n;
	return want_change && n == 0 ? PA_ERR_CONFLICT : PA_OK;
}

/* ---- schema migrations ----------------------------------------------------------------- */

static int migrate(struct pg_store *s, const char **why)
{
	struct pg_conn *c = &s->writers[0].conn;
	PGresult *r = NULL;
	/* Nodes that start at once: the first migrates, the others wait for its lock and then
	 * find nothing left to do.  DDL is transactional: all of it happens, or none. */
	enum q_status st = conn_simple(c,
	                               "BEGIN;"
	                               "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ");"
	                               "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                               " version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);"
	                               "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
	                               &r);
	if (st != Q_OK || PQntuples(r) != 1) {
		PQclear(r);
		*why = "cannot read the schema version (see the message above)";
		(void)conn_simple(c, "ROLLBACK", NULL);
		return -1;
	}
	int v = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (v > MIGRATIONS_COUNT) {
		*why = "the database was made by a newer Pahara (schema version too high)";
		(void)conn_simple(c, "ROLLBACK", NULL);
		return -1;
	}
	for (; v < MIGRATIONS_COUNT; v++) {
		struct q_params p = {0};
		p_int(&p, v + 1);
		if (conn_simple(c, migrations[v], NULL) != Q_OK ||
		    stmt_run(c, ST_MIGRATION_RECORD, NULL, &p, &r) != Q_OK) {
			*why = "a schema migration failed (see the message above)";
			(void)conn_simple(c, "ROLLBACK", NULL);
			return -1;
		}
		PQclear(r);
	}
	st = conn_simple(c, "COMMIT", &r);
	bool committed = st == Q_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
	PQclear(r);
	if (!committed) {
		*why = "the schema migrations did not commit";
		return -1;
	}
	s->version = v;
	return 0;
}

/* ---- the writer ------------------------------------------------------------------------ */

static enum pa_err pg_check_read(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                 const char *name, struct store_check_read *out);
static enum pa_err check_read_row(const PGresult *r, int i, struct store_check_read *out);

/* How op_run runs a store_submit_check op. */
enum op_mode {
	OP_CAREFUL, /* in a careful run: read, then prepare and fn, each waiting for its answers */
	OP_AHEAD,   /* careless, first pass: its read came ahead (o->read), and fn may defer */
	OP_AGAIN,   /* careless, second pass: its deferred consumption changed nothing */
};

/* Run o's fn (a store_submit_check op: its read and prepare first) on w's transaction.
 * Q_OK: it ran (o->result says how it went); Q_CAREFUL: it failed in a careless run; else the
 * transaction failed (Q_RETRY, Q_LOST). */
static enum q_status op_run(struct pg_writer *w, struct op *o, enum op_mode mode)
{
	struct pg_tx *tx = &w->tx;
	o->deferred = o->consumed = false;
	if (o->prepare) {
		struct store_check_read cr;
		enum pa_err e;
		if (mode == OP_AHEAD && o->read_row >= 0) {
			e = check_read_row(w->reads, o->read_row, &cr);
		} else {
			e = pg_check_read(&tx->base, o->hash, o->name, &cr);
		}
		if (tx->lost)
			return Q_LOST;
		if (tx->retry)
			return Q_RETRY;
		if (tx->failed && !tx->careful)
			return Q_CAREFUL;
		tx->failed = false;
		o->result = o->prepare(o->arg, e, &cr);
		memset(&cr, 0, sizeof(cr));
		if (o->result != PA_OK)
			return Q_OK; /* refused: no fn, nothing written */
		tx->defer_to = mode == OP_AHEAD && w->nconsumes < PG_BATCH_MAX
		                   ? &w->consumes[w->nconsumes]
		                   : NULL;
	}
	o->result = o->fn(&tx->base, o->arg);
	o->deferred = tx->deferred;
	w->nconsumes += tx->deferred;
	tx->defer_to = NULL;
	tx->deferred = false;
	if (tx->lost)
		return Q_LOST;
	if (tx->retry)
		return Q_RETRY;
	/* A statement failed and the fn went on as if not: its work is not whole. */
	if (o->result == PA_OK && tx->failed)
		o->result = PA_ERR_STORE;
	tx->failed = false;
	return !tx->careful && o->result != PA_OK ? Q_CAREFUL : Q_OK;
}

/* ---- statements for a whole batch ------------------------------------------------------ */

/*
 * A careless batch reads for all its check ops with one statement, and makes all their
 * deferred consumptions with one more: each takes arrays (one element per op, unnest()ed in
 * SQL), so the server starts its executor once per batch, not once per check.  Arrays go as
 * text literals: '{', elements separated by ',', '}'.
 */
struct arr {
	char *buf;       /* the literal so far (NUL-terminated when done) */
	size_t len, cap; /* bytes used, allocated */
	bool bad;        /* out of memory */
};

/* Room for n more bytes. */
static char *arr_room(struct arr *a, size_t n)
{
	if (a->bad)
		return NULL;
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap : 256;
		while (cap < a->len + n)
			cap *= 2;
		char *b = realloc(a->buf, cap);
		if (!b) {
			a->bad = true;
			return NULL;
		}
		a->buf = b;
		a->cap = cap;
	}
	return a->buf + a->len;
}

static void arr_put(struct arr *a, const char *s, size_t n)
{
	char *o = arr_room(a, n);
	if (o) {
		memcpy(o, s, n);
		a->len += n;
	}
}

/* Before an element: '{' for the first, else ','. */
static void arr_next(struct arr *a)
{
	arr_put(a, a->len ? "," : "{", 1);
}

/* The end: '}' and NUL; false when out of memory (then buf is freed). */
static bool arr_end(struct arr *a)
{
	arr_put(a, a->len ? "}" : "{}", a->len ? 2 : 3);
	if (a->bad) {
		free(a->buf);
		a->buf = NULL;
	}
	return !a->bad;
}

static void arr_int(struct arr *a, int64_t v)
{
	char num[24];
	arr_next(a);
	arr_put(a, num, (size_t)snprintf(num, sizeof(num), "%lld", (long long)v));
}

/* Text, quoted: a backslash before each quote and backslash, and '?' for each byte that is
 * not part of a UTF-8 character (as p_textn). */
static void arr_text(struct arr *a, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	arr_next(a);
	char *o = arr_room(a, 2 * len + 2);
	if (!o)
		return;
	*o++ = '"';
	for (size_t i = 0, k; i < len; i += k) {
		k = store_utf8_char_len(u + i, len - i);
		if (k == 0) {
			*o++ = '?';
			k = 1;
			continue;
		}
		if (u[i] == '"' || u[i] == '\\')
			*o++ = '\\';
		memcpy(o, u + i, k);
		o += k;
	}
	*o++ = '"';
	a->len = (size_t)(o - a->buf);
}

/* Bytes, as a quoted bytea in hex: "\\x...". */
static void arr_bytes(struct arr *a, const uint8_t *b, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	arr_next(a);
	char *o = arr_room(a, 2 * n + 5);
	if (!o)
		return;
	memcpy(o, "\"\\\\x", 4);
	o += 4;
	for (size_t i = 0; i < n; i++) {
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o++ = '"';
	a->len = (size_t)(o - a->buf);
}

/* Send statement id with the n arrays as its parameters, and wait for its result (*out, to
 * PQclear) with whatever is in flight.  Q_CAREFUL: the arrays could not be made, or the
 * statement failed (the transaction is aborted then). */
static enum q_status arr_run(struct pg_conn *c, enum stmt_id id, struct arr *arrs, unsigned n,
                             PGresult **out)
{
	struct q_params p = {.n = (int)n};
	bool ok = true;
	for (unsigned i = 0; i < n; i++) {
		ok &= arr_end(&arrs[i]);
		p.vals[i] = arrs[i].buf; /* text format (fmts 0) */
	}
	enum q_status st = ok ? stmt_run(c, id, NULL, &p, out) : Q_CAREFUL;
	for (unsigned i = 0; i < n; i++)
		free(arrs[i].buf);
	return st == Q_OK || st == Q_LOST || st == Q_RETRY ? st : Q_CAREFUL;
}

/* A careless batch's reads for its check ops: each op's read_row is set to its row of
 * w->reads. */
static enum q_status batch_reads(struct pg_writer *w, struct op *batch)
{
	struct op *checks[PG_BATCH_MAX];
	unsigned n = 0;
	struct arr a[2] = {{0}};
	for (struct op *o = batch; o && n < PG_BATCH_MAX; o = o->next)
		if (o->prepare) {
			checks[n++] = o;
			arr_bytes(&a[0], o->hash, STORE_HASH_LEN);
			arr_text(&a[1], o->name);
		}
	if (n == 0)
		return Q_OK;
	enum q_status st = arr_run(&w->conn, ST_CHECK_READ_MANY, a, 2, &w->reads);
	for (int row = 0; st == Q_OK && row < PQntuples(w->reads); row++) {
		int64_t k = col_int(w->reads, row, 20);
		if (k >= 1 && k <= (int64_t)n)
			checks[k - 1]->read_row = row;
	}
	return st;
}

/* A careless batch's deferred consumptions: each deferring op's consumed says whether its
 * consumption was made. */
static enum q_status batch_consumes(struct pg_writer *w, struct op *batch)
{
	if (w->nconsumes == 0)
		return Q_OK;
	struct op *ops[PG_BATCH_MAX];
	unsigned n = 0;
	for (struct op *o = batch; o && n < w->nconsumes; o = o->next)
		if (o->deferred)
			ops[n++] = o;
	struct arr a[13];
	memset(a, 0, sizeof(a));
	for (unsigned i = 0; i < n; i++) {
		const struct pg_consume *k = &w->consumes[i];
		arr_int(&a[0], k->account);
		arr_int(&a[1], k->step);
		arr_int(&a[2], k->drift);
		arr_bytes(&a[3], k->sealed, k->sealed_len);
		arr_text(&a[4], k->limit_key);
		arr_int(&a[5], k->au.at);
		arr_int(&a[6], k->au.account);
		arr_text(&a[7], k->au.account_name);
		arr_text(&a[8], k->au.event);
		arr_text(&a[9], k->au.outcome);
		arr_text(&a[10], k->au.ip);
		arr_text(&a[11], k->au.client);
		arr_text(&a[12], k->au.detail);
	}
	PGresult *r = NULL;
	enum q_status st = arr_run(&w->conn, ST_TOTP_CONSUME_MANY, a, 13, &r);
	for (int row = 0; st == Q_OK && row < PQntuples(r); row++) {
		int64_t k = col_int(r, row, 0);
		if (k >= 1 && k <= (int64_t)n)
			ops[k - 1]->consumed = true;
	}
	PQclear(r);
	return st;
}

/* One run of the batch.  Careless (the usual case): no savepoints, and the first fn that fails
 * in any way rolls the whole batch back (Q_CAREFUL) so that it runs again carefully, with a
 * savepoint per fn, where a failed fn's changes are undone alone.  A careless run reads for
 * all its store_submit_check ops in one round trip first, and reads the answers to their
 * deferred consumptions in one more at the end (running again the fns of those that changed
 * nothing), before COMMIT.  Q_OK: committed, and each op's result says whether its fn's
 * changes are in.  Q_RETRY: rolled back, run it again.  Q_LOST with *at_commit false: the
 * connection broke before COMMIT was sent, nothing is committed.  Anything else: failed —
 * committed or not, if the connection broke during COMMIT. */
static enum q_status batch_run(struct pg_writer *w, struct op *batch, bool careful, bool *at_commit)
{
	struct pg_tx *tx = &w->tx;
	struct pg_conn *c = &w->conn;
	*at_commit = false;
	PQclear(w->reads);
	w->reads = NULL;
	for (struct op *o = batch; o; o = o->next)
		o->read_row = -1;
	/* A connection the server dropped while it was idle (a restart) is found so now: a
	 * batch whose statements all go ahead with its COMMIT would otherwise first hear of it
	 * at COMMIT, whose outcome is then unknown, and fail. */
	conn_settle(c);
	if (!c->pg && !conn_open(w->s, c, true))
		return Q_LOST;
	tx->failed = tx->retry = tx->lost = tx->deferred = false;
	tx->defer_to = NULL;
	w->nconsumes = 0;
	tx->careful = careful;
	tx->loaded_ahead = 0;
	enum q_status st = Q_OK;
	if (careful)
		st = conn_simple(c, "BEGIN ISOLATION LEVEL READ COMMITTED; SAVEPOINT op", NULL);
	else if (!seg_send(c, ST__COUNT, "BEGIN ISOLATION LEVEL READ COMMITTED", &no_params, false))
		st = conn_simple(c, "BEGIN ISOLATION LEVEL READ COMMITTED", NULL);
	if (!careful && st == Q_OK)
		st = batch_reads(w, batch);
	for (struct op *o = batch; o && st == Q_OK; o = o->next) {
		st = op_run(w, o, careful ? OP_CAREFUL : OP_AHEAD);
		if (st == Q_OK && careful && o->next)
			st = conn_simple(c,
			                 o->result == PA_OK ? "RELEASE SAVEPOINT op; SAVEPOINT op"
			                                    : "ROLLBACK TO SAVEPOINT op; "
			                                      "RELEASE SAVEPOINT op; SAVEPOINT op",
			                 NULL);
	}
	if (st == Q_OK && !careful) {
		/* The deferred consumptions' answers; the fns of those that changed nothing run
		 * again (in op order), now waiting for each answer. */
		st = batch_consumes(w, batch);
		for (struct op *o = batch; o && st == Q_OK; o = o->next)
			if (o->deferred && !o->consumed)
				st = op_run(w, o, OP_AGAIN);
	}
	if (st == Q_OK) {
		*at_commit = true;
		struct op *last = batch;
		while (last->next)
			last = last->next;
		PGresult *r;
		if (careful) {
			st = conn_simple(c,
			                 last->result == PA_OK ? "RELEASE SAVEPOINT op; COMMIT"
			                                       : "ROLLBACK TO SAVEPOINT op; "
			                                         "RELEASE SAVEPOINT op; COMMIT",
			                 &r);
		} else {
			/* With the answers to what was sent ahead: if one of those failed, the
			 * transaction was aborted and nothing is committed, so run it carefully. */
			st = stmt_run(c, ST__COUNT, "COMMIT", &no_params, &r);
			if (st == Q_ERROR || st == Q_CONFLICT)
				return Q_CAREFUL;
		}
		/* COMMIT of an aborted transaction answers ROLLBACK, not an error. */
		if (st == Q_OK && strcmp(PQcmdStatus(r), "COMMIT") != 0) {
			log_msg("commit", PQcmdStatus(r));
			st = Q_ERROR;
		}
		PQclear(r);
		return st;
	}
	if (st != Q_LOST)
		(void)conn_simple(c, "ROLLBACK", NULL);
	return st == Q_OK ? Q_ERROR : st;
}

static void run_batch(struct pg_writer *w, struct op *batch)
{
	enum q_status st = Q_ERROR;
	unsigned lost = 0;
	bool careful = false;
	for (unsigned attempt = 0; attempt < PG_RETRY_MAX; attempt++) {
		bool at_commit;
		st = batch_run(w, batch, careful, &at_commit);
		if (w->conn.pg && PQtransactionStatus(w->conn.pg) != PQTRANS_IDLE)
			conn_close(&w->conn);
		if (st == Q_CAREFUL) {
			careful = true;
			attempt--; /* not a failure of the batch */
			continue;
		}
		if (st == Q_RETRY) {
			/* Let the other transaction finish; a little more each time, staggered. */
			struct timespec ts = {.tv_nsec = (long)(attempt + 1) * 2000000 +
			                                 (long)(now_ms() % 3) * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		/* Nothing was committed: once more on a new connection (the usual case: the
		 * server restarted since the last batch). */
		if (st == Q_LOST && !at_commit && lost++ == 0)
			continue;
		break;
	}
	if (st == Q_RETRY)
		log_msg("batch", "still deadlocked after retries; failing it");
	while (batch) {
		struct op *next = batch->next;
		if (st != Q_OK)
			batch->result = PA_ERR_STORE;
		if (batch->done)
			batch->done(batch->arg, batch->result);
		free(batch);
		batch = next;
	}
}

/* Each writer takes the next batch off the node's queue: while one waits for its COMMIT to be
 * flushed, another runs its fns. */
static void *writer_main(void *arg)
{
	struct pg_writer *w = arg;
	struct pg_store *s = w->s;
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
		else
			pthread_cond_signal(&s->wake); /* more for another writer */
		last->next = NULL;
		pthread_mutex_unlock(&s->lock);
		run_batch(w, batch);
	}
}

/* ---- life cycle ------------------------------------------------------------------------ */

static void pg_free(struct pg_store *s)
{
	for (unsigned i = 0; i < STORE_WRITERS_MAX; i++) {
		conn_close(&s->writers[i].conn);
		PQclear(s->writers[i].reads);
		s->writers[i].reads = NULL;
	}
	pool_drain(s);
	while (s->readers) {
		struct pg_tx *r = s->readers;
		s->readers = r->next_reader;
		free(r);
	}
	pthread_key_delete(s->reader_key);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->pool_free);
	free(s->location);
	free(s);
}

static void reader_free(void *p)
{
	/* Thread exit: the context stays on the store's list and is freed by store_close. */
	(void)p;
}

static void pg_close(struct store *base);

enum pa_err store_postgres_open(const struct store_options *opt, struct store **out,
                                const char **why)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return PA_ERR_NOMEM;
	s->location = strdup(opt->location);
	if (!s->location) {
		free(s);
		return PA_ERR_NOMEM;
	}
	/* Our defaults, then the URL (libpq: the last setting wins), then the encoding. */
	size_t k = 0;
	for (; k < CONN_DEFAULTS; k++) {
		s->conn_keys[k] = conn_defaults[k][0];
		s->conn_vals[k] = conn_defaults[k][1];
	}
	s->conn_keys[k] = "dbname";
	s->conn_vals[k++] = s->location;
	s->conn_keys[k] = "client_encoding";
	s->conn_vals[k] = "UTF8";
	s->batch_max =
	    opt->batch_max && opt->batch_max < PG_BATCH_MAX ? opt->batch_max : PG_BATCH_MAX;
	unsigned pool = opt->pool_size ? opt->pool_size : STORE_POOL_DEFAULT;
	s->nwriters = opt->writers ? opt->writers : STORE_WRITERS_DEFAULT;
	if (s->nwriters > STORE_WRITERS_MAX)
		s->nwriters = STORE_WRITERS_MAX;
	if (s->nwriters > pool - 1)
		s->nwriters = pool > 1 ? pool - 1 : 1;
	s->readers_max = pool > s->nwriters ? pool - s->nwriters : 1;
	s->base.ops = &postgres_ops;
	for (unsigned i = 0; i < s->nwriters; i++) {
		struct pg_writer *w = &s->writers[i];
		w->s = s;
		w->tx.base.ops = &postgres_ops;
		w->tx.s = s;
		w->tx.writer = true;
		w->tx.c = &w->conn;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->pool_free, &ca);
	pthread_condattr_destroy(&ca);
	pthread_key_create(&s->reader_key, reader_free);
	if (!conn_open(s, &s->writers[0].conn, true)) {
		*why = "cannot connect to PostgreSQL (see the message above)";
		pg_free(s);
		return PA_ERR_STORE;
	}
	if (migrate(s, why) != 0) {
		pg_free(s);
		return PA_ERR_STORE;
	}
	if (!conn_prepare_all(&s->writers[0].conn)) {
		*why = "cannot prepare the statements (see the message above)";
		pg_free(s);
		return PA_ERR_STORE;
	}
	for (unsigned i = 0; i < s->nwriters; i++) {
		struct pg_writer *w = &s->writers[i];
		if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
			*why = "cannot start the writer threads";
			pg_close(&s->base);
			return PA_ERR_NOMEM;
		}
		w->started = true;
	}
	*out = &s->base;
	return PA_OK;
}

static void pg_close(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nwriters; i++)
		if (s->writers[i].started)
			pthread_join(s->writers[i].thread, NULL);
	pg_free(s);
}

static int pg_schema_version(struct store *base)
{
	return ((struct pg_store *)base)->version;
}

static struct store_tx *pg_reader(struct store *base)
{
	struct pg_store *s = (struct pg_store *)base;
	struct pg_tx *r = pthread_getspecific(s->reader_key);
	if (r)
		return &r->base;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->base.ops = &postgres_ops;
	r->s = s;
	pthread_setspecific(s->reader_key, r);
	pthread_mutex_lock(&s->lock);
	r->next_reader = s->readers;
	s->readers = r;
	pthread_mutex_unlock(&s->lock);
	return &r->base;
}

static enum pa_err pg_read_begin(struct store_tx *base)
{
	struct pg_tx *rd = (struct pg_tx *)base;
	if (rd->c || rd->writer)
		return PA_ERR_STORE; /* snapshots do not nest */
	for (int attempt = 0;; attempt++) {
		bool fresh;
		struct pg_conn *c = pool_get(rd->s, &fresh);
		if (!c)
			return PA_ERR_STORE;
		/* Sent ahead: its answer comes with the first read's. */
		if (seg_send(c, ST__COUNT, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		             &no_params, false)) {
			rd->c = c;
			rd->failed = rd->lost = false;
			return PA_OK;
		}
		pool_put(rd->s, c);
		if (fresh || attempt > 0)
			return PA_ERR_STORE;
		pool_drain(rd->s);
	}
}

static void pg_read_end(struct store_tx *base)
{
	struct pg_tx *rd = (struct pg_tx *)base;
	if (!rd->c || rd->writer)
		return;
	/* The snapshot only read: nothing waits for the answer.  The connection's next user
	 * reads it first (conn_settle).  (A snapshot that read nothing sends BEGIN and COMMIT
	 * together.) */
	if (!seg_send(rd->c, ST__COUNT, "COMMIT", &no_params, true))
		conn_close(rd->c);
	pool_put(rd->s, rd->c);
	rd->c = NULL;
}

/* Queue o for the writers. */
static void op_queue(struct pg_store *s, struct op *o)
{
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = o;
	else
		s->head = o;
	s->tail = o;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* A new op with room for extra bytes of name; NULL (and done told) when out of memory. */
static struct op *op_new(size_t extra, store_tx_fn fn, void *arg, store_done_fn done)
{
	struct op *o = calloc(1, sizeof(*o) + extra);
	if (!o) {
		if (done)
			done(arg, PA_ERR_NOMEM);
		return NULL;
	}
	o->fn = fn;
	o->arg = arg;
	o->done = done;
	return o;
}

static void pg_submit(struct store *base, store_tx_fn fn, void *arg, store_done_fn done)
{
	struct op *o = op_new(0, fn, arg, done);
	if (o)
		op_queue((struct pg_store *)base, o);
}

/* The read is made by the writer, in the batch's transaction (batch_run). */
static void pg_submit_check(struct store *base, const uint8_t hash[STORE_HASH_LEN],
                            const char *name, store_check_prepare_fn prepare, store_tx_fn fn,
                            void *arg, store_done_fn done)
{
	size_t len = strlen(name);
	struct op *o = op_new(len + 1, fn, arg, done);
	if (!o)
		return;
	o->prepare = prepare;
	memcpy(o->hash, hash, STORE_HASH_LEN);
	memcpy(o->name, name, len + 1);
	op_queue((struct pg_store *)base, o);
}

/* ---- accounts -------------------------------------------------------------------------- */

#define TX(base) ((struct pg_tx *)(base))

/* An account from row i's columns c..c+6. */
static void row_account_at(const PGresult *r, int i, int c, struct store_account *a)
{
	a->id = col_int(r, i, c);
	col_text(r, i, c + 1, a->name, sizeof(a->name));
	col_text(r, i, c + 2, a->pwhash, sizeof(a->pwhash));
	a->disabled = col_int(r, i, c + 3) != 0;
	a->twofactor = col_int(r, i, c + 4) != 0;
	a->created_at = col_int(r, i, c + 5);
	a->service_id = col_int(r, i, c + 6);
}

static void row_account(const PGresult *r, int i, struct store_account *a)
{
	row_account_at(r, i, 0, a);
}

/* Run a statement that returns one row at most: PA_ERR_NOT_FOUND when it returned none. */
static enum pa_err run_one(struct pg_tx *tx, enum stmt_id id, const struct q_params *p,
                           PGresult **r)
{
	enum pa_err e = tx_run(tx, id, p, r);
	if (e == PA_OK && PQntuples(*r) == 0) {
		PQclear(*r);
		*r = NULL;
		return PA_ERR_NOT_FOUND;
	}
	return e;
}

/* Run an INSERT ... RETURNING id: PA_ERR_CONFLICT when it inserted nothing. */
static enum pa_err run_insert(struct pg_tx *tx, enum stmt_id id, const struct q_params *p,
                              int64_t *new_id)
{
	PGresult *r;
	enum pa_err e = run_one(tx, id, p, &r);
	if (e == PA_ERR_NOT_FOUND)
		return PA_ERR_CONFLICT;
	if (e == PA_OK && new_id)
		*new_id = col_int(r, 0, 0);
	PQclear(r);
	return e;
}

static enum pa_err pg_account_create(struct store_tx *base, const char *name, const char *pwhash,
                                     int64_t service_id, int64_t now, int64_t *id)
{
	struct q_params p = {0};
	p_text(&p, name);
	p_text(&p, pwhash ? pwhash : "");
	p_int(&p, service_id);
	p_int(&p, now);
	return run_insert(TX(base), ST_ACCOUNT_INSERT, &p, id);
}

static enum pa_err account_one(struct pg_tx *tx, enum stmt_id id, const struct q_params *p,
                               struct store_account *out)
{
	PGresult *r;
	enum pa_err e = run_one(tx, id, p, &r);
	if (e == PA_OK)
		row_account(r, 0, out);
	PQclear(r);
	return e;
}

static enum pa_err pg_account_by_name(struct store_tx *base, const char *name,
                                      struct store_account *out)
{
	struct q_params p = {0};
	p_text(&p, name);
	return account_one(TX(base), ST_ACCOUNT_BY_NAME, &p, out);
}

static enum pa_err pg_account_by_id(struct store_tx *base, int64_t id, struct store_account *out)
{
	struct q_params p = {0};
	p_int(&p, id);
	return account_one(TX(base), ST_ACCOUNT_BY_ID, &p, out);
}

/* READ COMMITTED: the row as the last writer before us committed it, and ours until we end. */
static enum pa_err pg_account_lock(struct store_tx *base, int64_t id, struct store_account *out)
{
	struct q_params p = {0};
	p_int(&p, id);
	return account_one(TX(base), ST_ACCOUNT_LOCK, &p, out);
}

/* An UPDATE of one account: PA_ERR_NOT_FOUND when there is no such account. */
static enum pa_err account_update(struct pg_tx *tx, enum stmt_id id, const struct q_params *p)
{
	enum pa_err e = run_change(tx, id, p, true, NULL);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err pg_account_set_password(struct store_tx *base, int64_t id, const char *pwhash)
{
	struct q_params p = {0};
	p_int(&p, id);
	p_text(&p, pwhash);
	return account_update(TX(base), ST_ACCOUNT_SET_PASSWORD, &p);
}

static enum pa_err pg_account_set_disabled(struct store_tx *base, int64_t id, bool disabled)
{
	struct q_params p = {0};
	p_int(&p, id);
	p_bool(&p, disabled);
	return account_update(TX(base), ST_ACCOUNT_SET_DISABLED, &p);
}

static enum pa_err pg_account_set_twofactor(struct store_tx *base, int64_t id, bool on)
{
	struct q_params p = {0};
	p_int(&p, id);
	p_bool(&p, on);
	return account_update(TX(base), ST_ACCOUNT_SET_TWOFACTOR, &p);
}

static enum pa_err pg_account_list(struct store_tx *base,
                                   bool (*fn)(void *arg, const struct store_account *a), void *arg)
{
	struct q_params p = {0};
	PGresult *r;
	enum pa_err e = tx_run(TX(base), ST_ACCOUNT_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++) {
		struct store_account a;
		row_account(r, i, &a);
		if (!fn(arg, &a))
			break;
	}
	PQclear(r);
	return PA_OK;
}

/* ---- TOTP ------------------------------------------------------------------------------ */

/* A code generator from row i's columns c..c+7.  false: the sealed secret is too long. */
static bool row_totp_at(const PGresult *r, int i, int c, struct store_totp *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = (size_t)PQgetlength(r, i, c);
	if (n > sizeof(out->sealed))
		return false;
	memcpy(out->sealed, PQgetvalue(r, i, c), n);
	out->sealed_len = n;
	out->alg = (int)col_int(r, i, c + 1);
	out->digits = (unsigned)col_int(r, i, c + 2);
	out->period = (unsigned)col_int(r, i, c + 3);
	out->confirmed = col_int(r, i, c + 4) != 0;
	out->has_last = !PQgetisnull(r, i, c + 5);
	out->last_step = col_int(r, i, c + 5);
	out->drift = (int)col_int(r, i, c + 6);
	out->created_at = col_int(r, i, c + 7);
	return true;
}

static enum pa_err pg_totp_get(struct store_tx *base, int64_t account, struct store_totp *out)
{
	struct q_params p = {0};
	p_int(&p, account);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_TOTP_GET, &p, &r);
	if (e != PA_OK)
		return e;
	bool ok = row_totp_at(r, 0, 0, out);
	PQclear(r);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err pg_totp_put(struct store_tx *base, int64_t account, const struct store_totp *t)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_bytes(&p, t->sealed, t->sealed_len);
	p_int(&p, t->alg);
	p_int(&p, t->digits);
	p_int(&p, t->period);
	p_bool(&p, t->confirmed);
	if (t->has_last)
		p_int(&p, t->last_step);
	else
		p_null(&p);
	p_int(&p, t->drift);
	p_int(&p, t->created_at);
	return run_change(TX(base), ST_TOTP_PUT, &p, false, NULL);
}

static enum pa_err pg_totp_consume(struct store_tx *base, int64_t account,
                                   const struct store_totp *t, int64_t step, int drift)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, step);
	p_int(&p, drift);
	p_bytes(&p, t->sealed, t->sealed_len);
	return run_change(TX(base), ST_TOTP_CONSUME, &p, true, NULL);
}

static enum pa_err pg_totp_consume_unthrottled(struct store_tx *base, int64_t account,
                                               const struct store_totp *t, int64_t step, int drift,
                                               const char *limit_key, const struct store_audit *au)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, step);
	p_int(&p, drift);
	p_bytes(&p, t->sealed, t->sealed_len);
	p_text(&p, limit_key);
	if (!au)
		return run_change(TX(base), ST_TOTP_CONSUME_UNTHROTTLED, &p, true, NULL);
	p_audit(&p, au);
	/* In a careless batch's store_submit_check fn: kept, and consumed with the batch's others
	 * in one statement (batch_consumes; store.h). */
	struct pg_tx *tx = TX(base);
	size_t klen = strlen(limit_key);
	if (tx->defer_to && !tx->deferred && !p.bad && t->sealed_len <= STORE_SEALED_MAX &&
	    klen < STORE_LIMIT_KEY_MAX) {
		struct pg_consume *k = tx->defer_to;
		k->account = account;
		k->step = step;
		k->drift = drift;
		memcpy(k->sealed, t->sealed, t->sealed_len);
		k->sealed_len = t->sealed_len;
		memcpy(k->limit_key, limit_key, klen + 1);
		k->au = *au;
		tx->deferred = true;
		return PA_OK;
	}
	return run_change(tx, ST_TOTP_CONSUME_AUDITED, &p, true, NULL);
}

static enum pa_err pg_totp_delete(struct store_tx *base, int64_t account)
{
	struct q_params p = {0};
	p_int(&p, account);
	return run_change(TX(base), ST_TOTP_DELETE, &p, false, NULL);
}

/* ---- backup codes ---------------------------------------------------------------------- */

static void row_backup(const PGresult *r, int i, struct store_backup *b)
{
	b->generation = (uint32_t)col_int(r, i, 0);
	col_hash(r, i, 1, b->hash);
	b->status = (enum store_backup_status)col_int(r, i, 2);
	b->created_at = col_int(r, i, 3);
}

static enum pa_err pg_backup_list(struct store_tx *base, int64_t account, struct store_backup *out,
                                  size_t max, size_t *n)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
	PGresult *r;
	*n = 0;
	enum pa_err e = tx_run(TX(base), ST_BACKUP_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r) && *n < max; i++)
		row_backup(r, i, &out[(*n)++]);
	PQclear(r);
	return PA_OK;
}

static enum pa_err pg_backup_find(struct store_tx *base, int64_t account,
                                  const uint8_t hash[STORE_HASH_LEN], struct store_backup *out)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_bytes(&p, hash, STORE_HASH_LEN);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_BACKUP_FIND, &p, &r);
	if (e == PA_OK)
		row_backup(r, 0, out);
	PQclear(r);
	return e;
}

static enum pa_err pg_backup_add(struct store_tx *base, int64_t account,
                                 const struct store_backup *b)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, b->generation);
	p_bytes(&p, b->hash, STORE_HASH_LEN);
	p_int(&p, b->status);
	p_int(&p, b->created_at);
	return run_change(TX(base), ST_BACKUP_ADD, &p, true, NULL);
}

static enum pa_err pg_backup_set_status(struct store_tx *base, int64_t account, uint32_t generation,
                                        enum store_backup_status status)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, generation);
	p_int(&p, status);
	return run_change(TX(base), ST_BACKUP_SET_STATUS, &p, true, NULL);
}

static enum pa_err pg_backup_trim(struct store_tx *base, int64_t account, uint32_t keep_from)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, keep_from);
	return run_change(TX(base), ST_BACKUP_TRIM, &p, false, NULL);
}

static enum pa_err pg_backup_delete_all(struct store_tx *base, int64_t account)
{
	struct q_params p = {0};
	p_int(&p, account);
	return run_change(TX(base), ST_BACKUP_DELETE_ALL, &p, false, NULL);
}

/* ---- temporary passwords --------------------------------------------------------------- */

static enum pa_err pg_tmppass_list(struct store_tx *base, int64_t account, int64_t now,
                                   struct store_tmppass *out, size_t max, size_t *n)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, now);
	p_int(&p, max > INT32_MAX ? INT32_MAX : (int64_t)max);
	PGresult *r;
	*n = 0;
	enum pa_err e = tx_run(TX(base), ST_TMPPASS_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r) && *n < max; i++) {
		struct store_tmppass *t = &out[(*n)++];
		t->id = col_int(r, i, 0);
		col_hash(r, i, 1, t->hash);
		t->created_at = col_int(r, i, 2);
		t->expires_at = col_int(r, i, 3);
		t->used_at = col_int(r, i, 4);
	}
	PQclear(r);
	return PA_OK;
}

static enum pa_err pg_tmppass_add(struct store_tx *base, int64_t account,
                                  const struct store_tmppass *t)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_bytes(&p, t->hash, STORE_HASH_LEN);
	p_int(&p, t->created_at);
	p_int(&p, t->expires_at);
	p_int(&p, t->id);
	return run_change(TX(base), ST_TMPPASS_ADD, &p, true, NULL);
}

static enum pa_err pg_tmppass_consume(struct store_tx *base, int64_t account, int64_t id,
                                      int64_t now)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, id);
	p_int(&p, now);
	return run_change(TX(base), ST_TMPPASS_CONSUME, &p, true, NULL);
}

static enum pa_err pg_tmppass_delete(struct store_tx *base, int64_t account, int64_t id)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, id);
	enum pa_err e = run_change(TX(base), ST_TMPPASS_DELETE, &p, true, NULL);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err pg_tmppass_purge(struct store_tx *base, int64_t account, int64_t before)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, before);
	return run_change(TX(base), ST_TMPPASS_PURGE, &p, false, NULL);
}

static enum pa_err pg_tmppass_delete_all(struct store_tx *base, int64_t account)
{
	struct q_params p = {0};
	p_int(&p, account);
	return run_change(TX(base), ST_TMPPASS_DELETE_ALL, &p, false, NULL);
}

/* ---- sessions -------------------------------------------------------------------------- */

static void row_session(const PGresult *r, int i, struct store_session *s)
{
	s->id = col_int(r, i, 0);
	col_hash(r, i, 1, s->token_hash);
	s->account = col_int(r, i, 2);
	s->kind = (enum store_session_kind)col_int(r, i, 3);
	col_text(r, i, 4, s->client, sizeof(s->client));
	col_text(r, i, 5, s->ip, sizeof(s->ip));
	s->created_at = col_int(r, i, 6);
	s->auth_at = col_int(r, i, 7);
	s->revoked_at = col_int(r, i, 8);
}

static enum pa_err pg_session_add(struct store_tx *base, struct store_session *s)
{
	struct q_params p = {0};
	p_bytes(&p, s->token_hash, STORE_HASH_LEN);
	p_int(&p, s->account);
	p_int(&p, s->kind);
	p_text(&p, s->client);
	p_text(&p, s->ip);
	p_int(&p, s->created_at);
	p_int(&p, s->auth_at);
	return run_insert(TX(base), ST_SESSION_ADD, &p, &s->id);
}

static enum pa_err pg_session_by_token(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                       struct store_session *out)
{
	struct q_params p = {0};
	p_bytes(&p, hash, STORE_HASH_LEN);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_SESSION_BY_TOKEN, &p, &r);
	if (e == PA_OK)
		row_session(r, 0, out);
	PQclear(r);
	return e;
}

static enum pa_err pg_session_list(struct store_tx *base, int64_t account,
                                   bool (*fn)(void *arg, const struct store_session *s), void *arg)
{
	struct q_params p = {0};
	p_int(&p, account);
	PGresult *r;
	enum pa_err e = tx_run(TX(base), ST_SESSION_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++) {
		struct store_session s;
		row_session(r, i, &s);
		if (!fn(arg, &s))
			break;
	}
	PQclear(r);
	return PA_OK;
}

static enum pa_err pg_session_revoke(struct store_tx *base, int64_t account, int64_t id,
                                     int64_t now)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, id);
	p_int(&p, now);
	enum pa_err e = run_change(TX(base), ST_SESSION_REVOKE, &p, true, NULL);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err pg_session_revoke_all(struct store_tx *base, int64_t account, int64_t keep,
                                         int64_t now, unsigned *n)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, keep);
	p_int(&p, now);
	unsigned changed = 0;
	enum pa_err e = run_change(TX(base), ST_SESSION_REVOKE_ALL, &p, false, &changed);
	if (n)
		*n = changed;
	return e;
}

static enum pa_err pg_session_set_auth(struct store_tx *base, int64_t id, int64_t now)
{
	struct q_params p = {0};
	p_int(&p, id);
	p_int(&p, now);
	return run_change(TX(base), ST_SESSION_SET_AUTH, &p, false, NULL);
}

/* ---- pending sign-ins ------------------------------------------------------------------ */

static enum pa_err pg_login_add(struct store_tx *base, struct store_login *l)
{
	struct q_params p = {0};
	p_bytes(&p, l->id_hash, STORE_HASH_LEN);
	p_int(&p, l->account);
	p_text(&p, l->client);
	p_text(&p, l->ip);
	p_int(&p, l->created_at);
	p_int(&p, l->expires_at);
	return run_insert(TX(base), ST_LOGIN_ADD, &p, &l->id);
}

static enum pa_err pg_login_by_hash(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                    struct store_login *out)
{
	struct q_params p = {0};
	p_bytes(&p, hash, STORE_HASH_LEN);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_LOGIN_BY_HASH, &p, &r);
	if (e != PA_OK)
		return e;
	out->id = col_int(r, 0, 0);
	col_hash(r, 0, 1, out->id_hash);
	out->account = col_int(r, 0, 2);
	out->state = (enum store_login_state)col_int(r, 0, 3);
	out->failures = (unsigned)col_int(r, 0, 4);
	col_text(r, 0, 5, out->client, sizeof(out->client));
	col_text(r, 0, 6, out->ip, sizeof(out->ip));
	out->created_at = col_int(r, 0, 7);
	out->expires_at = col_int(r, 0, 8);
	out->session = col_int(r, 0, 9);
	PQclear(r);
	return PA_OK;
}

static enum pa_err pg_login_fail(struct store_tx *base, int64_t id, unsigned *failures)
{
	struct q_params p = {0};
	p_int(&p, id);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_LOGIN_FAIL, &p, &r);
	if (e == PA_ERR_NOT_FOUND)
		return PA_ERR_CONFLICT;
	if (e == PA_OK)
		*failures = (unsigned)col_int(r, 0, 0);
	PQclear(r);
	return e;
}

static enum pa_err pg_login_end(struct store_tx *base, int64_t id, enum store_login_state state,
                                int64_t session)
{
	struct q_params p = {0};
	p_int(&p, id);
	p_int(&p, state);
	p_int(&p, session);
	return run_change(TX(base), ST_LOGIN_END, &p, true, NULL);
}

static enum pa_err pg_login_end_all(struct store_tx *base, int64_t account,
                                    enum store_login_state state, unsigned *n)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, state);
	return run_change(TX(base), ST_LOGIN_END_ALL, &p, false, n);
}

/* ---- throttling counters --------------------------------------------------------------- */

static enum pa_err pg_limit_get(struct store_tx *base, const char *key, void *blob, size_t size,
                                size_t *len)
{
	struct pg_tx *tx = TX(base);
	struct q_params p = {0};
	p_text(&p, key);
	*len = 0;
	memset(blob, 0, size);
	PGresult *r;
	enum pa_err e;
	/* In a write tx the caller reads to write back: the read first takes the key's lock, so
	 * that another writer's read-modify-write cannot interleave and lose an update, and then
	 * sees what that writer committed (pahara_limit_lock_get, migration 2). */
	e = tx_run(tx, tx->writer ? ST_LIMIT_LOCK_GET : ST_LIMIT_GET, &p, &r);
	if (e != PA_OK)
		return e;
	/* NULL: no row (pahara_limit_lock_get answers one row, NULL when the key has none; the
	 * column is NOT NULL). */
	if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
		size_t n = (size_t)PQgetlength(r, 0, 0);
		memcpy(blob, PQgetvalue(r, 0, 0), n < size ? n : size);
		*len = n > 0 ? n : SIZE_MAX; /* a row, even if its blob is empty */
	}
	PQclear(r);
	return PA_OK;
}

static enum pa_err pg_limit_put(struct store_tx *base, const char *key, const void *blob,
                                size_t size, int64_t expires_at)
{
	struct q_params p = {0};
	p_text(&p, key);
	p_bytes(&p, blob, size);
	p_int(&p, expires_at);
	return run_change(TX(base), ST_LIMIT_PUT, &p, false, NULL);
}

/* ---- services -------------------------------------------------------------------------- */

static void row_service(const PGresult *r, int i, struct store_service *s)
{
	/* pg_check_read relies on these being columns 0..4. */
	s->id = col_int(r, i, 0);
	col_text(r, i, 1, s->name, sizeof(s->name));
	col_hash(r, i, 2, s->key_hash);
	s->disabled = col_int(r, i, 3) != 0;
	s->created_at = col_int(r, i, 4);
}

static enum pa_err pg_service_add(struct store_tx *base, struct store_service *s)
{
	struct q_params p = {0};
	p_text(&p, s->name);
	p_bytes(&p, s->key_hash, STORE_HASH_LEN);
	p_int(&p, s->created_at);
	return run_insert(TX(base), ST_SERVICE_ADD, &p, &s->id);
}

static enum pa_err pg_service_by_key(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                     struct store_service *out)
{
	struct q_params p = {0};
	p_bytes(&p, hash, STORE_HASH_LEN);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_SERVICE_BY_KEY, &p, &r);
	if (e == PA_OK)
		row_service(r, 0, out);
	PQclear(r);
	return e;
}

static enum pa_err pg_check_read(struct store_tx *base, const uint8_t hash[STORE_HASH_LEN],
                                 const char *name, struct store_check_read *out)
{
	struct q_params p = {0};
	p_bytes(&p, hash, STORE_HASH_LEN);
	p_text(&p, name);
	memset(out, 0, sizeof(*out));
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_CHECK_READ, &p, &r);
	if (e == PA_OK) {
		e = check_read_row(r, 0, out);
		PQclear(r);
	}
	return e;
}

/* Row i of an answer to ST_CHECK_READ or ST_CHECK_READ_MANY: PA_ERR_NOT_FOUND when it has no
 * service. */
static enum pa_err check_read_row(const PGresult *r, int i, struct store_check_read *out)
{
	memset(out, 0, sizeof(*out));
	if (PQgetisnull(r, i, 0))
		return PA_ERR_NOT_FOUND;
	row_service(r, i, &out->service);
	bool ok = true;
	out->has_account = !PQgetisnull(r, i, 5);
	if (out->has_account)
		row_account_at(r, i, 5, &out->account);
	out->has_totp = !PQgetisnull(r, i, 12);
	if (out->has_totp)
		ok = row_totp_at(r, i, 12, &out->totp);
	return ok ? PA_OK : PA_ERR_STORE;
}

static enum pa_err pg_service_list(struct store_tx *base,
                                   bool (*fn)(void *arg, const struct store_service *s), void *arg)
{
	struct q_params p = {0};
	PGresult *r;
	enum pa_err e = tx_run(TX(base), ST_SERVICE_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++) {
		struct store_service s;
		row_service(r, i, &s);
		if (!fn(arg, &s))
			break;
	}
	PQclear(r);
	return PA_OK;
}

/* ---- key checks ------------------------------------------------------------------------ */

/* A check from row i.  false: a value that is empty or too long (not ours). */
static bool row_key_check(const PGresult *r, int i, struct store_key_check *k)
{
	memset(k, 0, sizeof(*k));
	col_text(r, i, 0, k->name, sizeof(k->name));
	size_t n = (size_t)PQgetlength(r, i, 1);
	k->created_at = col_int(r, i, 2);
	if (n == 0 || n > sizeof(k->value))
		return false;
	memcpy(k->value, PQgetvalue(r, i, 1), n);
	k->len = n;
	return true;
}

static enum pa_err pg_key_check_get(struct store_tx *base, const char *name,
                                    struct store_key_check *out)
{
	struct q_params p = {0};
	p_text(&p, name);
	PGresult *r;
	enum pa_err e = run_one(TX(base), ST_KEY_CHECK_GET, &p, &r);
	if (e == PA_OK && !row_key_check(r, 0, out))
		e = PA_ERR_STORE;
	PQclear(r);
	return e;
}

static enum pa_err pg_key_check_add(struct store_tx *base, const struct store_key_check *k)
{
	struct q_params p = {0};
	p_text(&p, k->name);
	p_bytes(&p, k->value, k->len);
	p_int(&p, k->created_at);
	return run_change(TX(base), ST_KEY_CHECK_ADD, &p, true, NULL);
}

static enum pa_err pg_key_check_delete(struct store_tx *base, const char *name)
{
	struct q_params p = {0};
	p_text(&p, name);
	enum pa_err e = run_change(TX(base), ST_KEY_CHECK_DELETE, &p, true, NULL);
	return e == PA_ERR_CONFLICT ? PA_ERR_NOT_FOUND : e;
}

static enum pa_err pg_key_check_list(struct store_tx *base,
                                     bool (*fn)(void *arg, const struct store_key_check *k),
                                     void *arg)
{
	struct q_params p = {0};
	PGresult *r;
	enum pa_err e = tx_run(TX(base), ST_KEY_CHECK_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++) {
		struct store_key_check k;
		if (!row_key_check(r, i, &k)) {
			e = PA_ERR_STORE;
			break;
		}
		if (!fn(arg, &k))
			break;
	}
	PQclear(r);
	return e;
}

/* ---- moving a store -------------------------------------------------------------------- */

/* "SELECT a, b FROM t ORDER BY 1, 2", or "INSERT INTO t(a, b) ... VALUES ($1, $2) ...": the
 * names come from store_tables, never from input. */
static bool table_sql(const struct store_table *t, bool insert, bool skip_conflict, char *sql,
                      size_t size)
{
	if (t->ncols == 0 || t->ncols > STORE_COLUMNS_MAX)
		return false;
	size_t n = (size_t)snprintf(sql, size, insert ? "INSERT INTO %s(" : "SELECT ", t->name);
	for (unsigned i = 0; i < t->ncols && n < size; i++)
		n += (size_t)snprintf(sql + n, size - n, "%s%s", i ? ", " : "", t->cols[i].name);
	if (insert) {
		if (n < size)
			n += (size_t)snprintf(sql + n, size - n,
			                      ") OVERRIDING SYSTEM VALUE VALUES (");
		for (unsigned i = 0; i < t->ncols && n < size; i++)
			n += (size_t)snprintf(sql + n, size - n, "%s$%u", i ? ", " : "", i + 1);
		if (n < size)
			n += (size_t)snprintf(sql + n, size - n, ")%s",
			                      skip_conflict ? " ON CONFLICT DO NOTHING" : "");
	} else if (n < size) {
		n += (size_t)snprintf(sql + n, size - n, " FROM %s ORDER BY 1%s", t->name,
		                      t->ncols > 1 ? ", 2" : "");
	}
	return n < size;
}

/* One row of a binary result as t's values (valid while r is).  false: a value of a type or
 * size that t does not allow. */
static bool dump_row(const PGresult *r, const struct store_table *t, struct store_value *row)
{
	if ((unsigned)PQnfields(r) != t->ncols)
		return false;
	for (unsigned i = 0; i < t->ncols; i++) {
		int col = (int)i;
		row[i] = (struct store_value){.null = PQgetisnull(r, 0, col)};
		if (row[i].null) {
			if (!t->cols[i].nullable)
				return false;
		} else if (t->cols[i].type == STORE_COL_INT) {
			int len = PQgetlength(r, 0, col);
			if (len != 1 && len != 2 && len != 4 && len != 8)
				return false;
			row[i].i = col_int(r, 0, col);
		} else {
			row[i].p = PQgetvalue(r, 0, col);
			row[i].len = (size_t)PQgetlength(r, 0, col);
		}
	}
	return true;
}

/* Every row of sql's result through fn, one at a time (single-row mode: a table need not fit
 * in memory). */
static enum pa_err dump_rows(struct pg_conn *c, const struct store_table *t, const char *sql,
                             bool (*fn)(void *arg, const struct store_value *row), void *arg)
{
	if (conn_ahead(c) && conn_drain(c, NULL) != Q_OK)
		return PA_ERR_STORE;
	if (!c->pg)
		return PA_ERR_STORE;
	if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 1) ||
	    !PQsetSingleRowMode(c->pg)) {
		log_msg(sql, PQerrorMessage(c->pg));
		conn_close(c);
		return PA_ERR_STORE;
	}
	enum pa_err e = PA_OK;
	bool more = true;
	for (;;) {
		if (!conn_wait(c->pg, now_ms() + PG_WAIT_MS)) {
			conn_close(c);
			return PA_ERR_STORE;
		}
		PGresult *r = PQgetResult(c->pg);
		if (!r)
			break;
		ExecStatusType st = PQresultStatus(r);
		/* After fn said stop, or a failure, the rest is read and dropped. */
		if (st == PGRES_SINGLE_TUPLE && e == PA_OK && more) {
			struct store_value row[STORE_COLUMNS_MAX];
			if (dump_row(r, t, row)) {
				more = fn(arg, row);
			} else {
				log_msg(t->name, "a value of an unexpected type");
				e = PA_ERR_STORE;
			}
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && e == PA_OK) {
			e = PA_ERR_STORE;
			if (result_status(c->pg, r, sql) == Q_LOST) {
				PQclear(r);
				conn_close(c);
				return e;
			}
		}
		PQclear(r);
	}
	return e;
}

static enum pa_err pg_dump(struct store_tx *base, const struct store_table *t,
                           bool (*fn)(void *arg, const struct store_value *row), void *arg)
{
	struct pg_tx *tx = TX(base);
	char sql[512];
	if (!table_sql(t, false, false, sql, sizeof(sql)))
		return PA_ERR_INVALID_ARGUMENT;
	bool fresh;
	struct pg_conn *c = tx->c ? tx->c : pool_get(tx->s, &fresh);
	if (!c)
		return PA_ERR_STORE;
	enum pa_err e = dump_rows(c, t, sql, fn, arg);
	if (e != PA_OK)
		tx->failed = true;
	if (c != tx->c)
		pool_put(tx->s, c);
	return e;
}

static enum pa_err pg_load(struct store_tx *base, const struct store_table *t,
                           const struct store_value *row)
{
	struct pg_tx *tx = TX(base);
	/* A careless run sends the rows ahead, PG_LOAD_AHEAD at a time, without ON CONFLICT: a
	 * duplicate row then fails the batch, and the careful run finds it row by row. */
	bool ahead = tx->writer && !tx->careful;
	char sql[sizeof(tx->load_sql)];
	if (!table_sql(t, true, !ahead, sql, sizeof(sql)))
		return PA_ERR_INVALID_ARGUMENT;
	struct q_params p = {0};
	for (unsigned i = 0; i < t->ncols; i++) {
		if (row[i].null)
			p_null(&p);
		else if (t->cols[i].type == STORE_COL_INT)
			p_int(&p, row[i].i);
		else if (t->cols[i].type == STORE_COL_TEXT)
			p_textn(&p, row[i].p, row[i].len);
		else
			p_bytes(&p, row[i].p, row[i].len);
	}
	if (ahead && !p.bad) {
		memcpy(tx->load_sql, sql, sizeof(sql)); /* named in the log if it fails */
		if (seg_send(tx->c, ST__COUNT, tx->load_sql, &p, false)) {
			if (++tx->loaded_ahead < PG_LOAD_AHEAD)
				return PA_OK;
			tx->loaded_ahead = 0;
			enum q_status st = conn_drain(tx->c, NULL);
			if (st == Q_OK)
				return PA_OK;
			tx->failed = true;
			tx->retry |= st == Q_RETRY;
			tx->lost |= st == Q_LOST;
			return st == Q_CONFLICT ? PA_ERR_CONFLICT : PA_ERR_STORE;
		}
		if (!table_sql(t, true, true, sql, sizeof(sql)))
			return PA_ERR_INVALID_ARGUMENT;
	}
	PGresult *r;
	enum pa_err e = tx_exec(tx, ST__COUNT, sql, &p, &r);
	if (e == PA_OK && strtoul(PQcmdTuples(r), NULL, 10) == 0)
		e = PA_ERR_CONFLICT;
	PQclear(r);
	return e;
}

static enum pa_err pg_load_finish(struct store_tx *base)
{
	struct q_params p = {0};
	PGresult *r;
	enum pa_err e = tx_run(TX(base), ST_LOAD_FINISH, &p, &r);
	PQclear(r);
	return e;
}

/* ---- housekeeping and audit ------------------------------------------------------------ */

static enum pa_err pg_purge(struct store_tx *base, int64_t now, int64_t logins_before,
                            int64_t sessions_before, unsigned *n)
{
	static const enum stmt_id ids[] = {ST_PURGE_LIMITS, ST_PURGE_LOGINS, ST_PURGE_SESSIONS};
	const int64_t when[] = {now, logins_before, sessions_before};
	*n = 0;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct q_params p = {0};
		p_int(&p, when[i]);
		unsigned changed;
		enum pa_err e = run_change(TX(base), ids[i], &p, false, &changed);
		if (e != PA_OK)
			return e;
		*n += changed;
	}
	return PA_OK;
}

static enum pa_err pg_audit_add(struct store_tx *base, const struct store_audit *a)
{
	struct q_params p = {0};
	p_audit(&p, a);
	/* A careless batch sends the row ahead; if it fails, the batch runs again carefully. */
	struct pg_tx *tx = TX(base);
	if (tx->writer && !tx->careful && !tx->deferred && !p.bad &&
	    seg_send(tx->c, ST_AUDIT_ADD, NULL, &p, false))
		return PA_OK;
	return run_change(tx, ST_AUDIT_ADD, &p, true, NULL);
}

static enum pa_err pg_audit_list(struct store_tx *base, int64_t account, int64_t since,
                                 bool (*fn)(void *arg, const struct store_audit *a), void *arg)
{
	struct q_params p = {0};
	p_int(&p, account);
	p_int(&p, since);
	PGresult *r;
	enum pa_err e = tx_run(TX(base), ST_AUDIT_LIST, &p, &r);
	if (e != PA_OK)
		return e;
	for (int i = 0; i < PQntuples(r); i++) {
		struct store_audit a;
		a.id = col_int(r, i, 0);
		a.at = col_int(r, i, 1);
		a.account = col_int(r, i, 2);
		col_text(r, i, 3, a.account_name, sizeof(a.account_name));
		col_text(r, i, 4, a.event, sizeof(a.event));
		col_text(r, i, 5, a.outcome, sizeof(a.outcome));
		col_text(r, i, 6, a.ip, sizeof(a.ip));
		col_text(r, i, 7, a.client, sizeof(a.client));
		col_text(r, i, 8, a.detail, sizeof(a.detail));
		if (!fn(arg, &a))
			break;
	}
	PQclear(r);
	return PA_OK;
}

/* ---- the backend ----------------------------------------------------------------------- */

static const struct store_ops postgres_ops = {
    .close = pg_close,
    .schema_version = pg_schema_version,
    .reader = pg_reader,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .submit = pg_submit,
    .write = store_write_by_submit,
    .account_create = pg_account_create,
    .account_by_name = pg_account_by_name,
    .account_by_id = pg_account_by_id,
    .account_lock = pg_account_lock,
    .account_set_password = pg_account_set_password,
    .account_set_disabled = pg_account_set_disabled,
    .account_set_twofactor = pg_account_set_twofactor,
    .account_list = pg_account_list,
    .totp_get = pg_totp_get,
    .totp_put = pg_totp_put,
    .totp_consume = pg_totp_consume,
    .totp_consume_unthrottled = pg_totp_consume_unthrottled,
    .totp_delete = pg_totp_delete,
    .backup_list = pg_backup_list,
    .backup_find = pg_backup_find,
    .backup_add = pg_backup_add,
    .backup_set_status = pg_backup_set_status,
    .backup_trim = pg_backup_trim,
    .backup_delete_all = pg_backup_delete_all,
    .tmppass_list = pg_tmppass_list,
    .tmppass_add = pg_tmppass_add,
    .tmppass_consume = pg_tmppass_consume,
    .tmppass_delete = pg_tmppass_delete,
    .tmppass_delete_all = pg_tmppass_delete_all,
    .tmppass_purge = pg_tmppass_purge,
    .session_add = pg_session_add,
    .session_by_token = pg_session_by_token,
    .session_list = pg_session_list,
    .session_revoke = pg_session_revoke,
    .session_revoke_all = pg_session_revoke_all,
    .session_set_auth = pg_session_set_auth,
    .login_add = pg_login_add,
    .login_by_hash = pg_login_by_hash,
    .login_fail = pg_login_fail,
    .login_end = pg_login_end,
    .login_end_all = pg_login_end_all,
    .limit_get = pg_limit_get,
    .limit_put = pg_limit_put,
    .service_add = pg_service_add,
    .service_by_key = pg_service_by_key,
    .check_read = pg_check_read,
    .submit_check = pg_submit_check,
    .service_list = pg_service_list,
    .key_check_get = pg_key_check_get,
    .key_check_add = pg_key_check_add,
    .key_check_delete = pg_key_check_delete,
    .key_check_list = pg_key_check_list,
    .dump = pg_dump,
    .load = pg_load,
    .load_finish = pg_load_finish,
    .purge = pg_purge,
    .audit_add = pg_audit_add,
    .audit_list = pg_audit_list,
};
