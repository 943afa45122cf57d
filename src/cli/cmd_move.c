/*
 * cmd_move.c — moving a site between stores: `pahara admin export FILE`, `pahara admin import
 * FILE` and `pahara admin migrate`.
 *
 * The export is JSON Lines, one object per line:
 *
 *   {"pahara_export": 1, "schema": 1, "exported_at": T, "code_key_check": "..."}
 *   {"table": "accounts", "row": {"id": 1, "name": "alice", ...}}      (every row)
 *   {"end": true, "counts": {"accounts": 1, ...}}
 *
 * Rows are copied as stored (store_dump / store_load): sealed secrets stay sealed, hashes stay
 * hashes, ids and times stay as they were; blobs are base64.  The file therefore holds no
 * secret in the clear, but it is only useful with the same key files (master.key to open
 * sealed secrets, codehash.key to check backup codes and temporary passwords), and an import
 * checks that the target's key files are those: code_key_check is a keyed hash of a fixed
 * text under codehash.key, and every sealed secret must open under master.key.  The store's
 * key checks are not exported (store_tables leaves them out): the import's transaction makes
 * those of the target's key files the store's, replacing what an earlier start recorded there
 * (app_keys_adopt), so that an import refused changes none.  An import
 * goes into an empty store in one transaction, so it lands whole or not at all; the "end"
 * line's counts catch a truncated file.  Both commands write an audit event.
 *
 * An import takes only what Pahara could have written (column_rules): the file may have been
 * altered, and a value out of range would fail far from its cause (a session id at INT64_MAX
 * leaves none for the next sign-in).  Its tables come in the export's order, and an account's
 * service must be a service of the file, not whichever the target makes next with that id.
 *
 * Text is exported as UTF-8, which JSON needs.  A SQLite store written by an older version
 * may hold text that is not (a User-Agent in the audit log, which can never be mended): such
 * a value is exported with '?' for each byte that is not part of a character, as both stores
 * now store it, and the export says how many there were.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/otp.h"
#include "core/password.h"
#include "core/seal.h"
#include "core/utf8.h"
#include "server/handlers.h"

#define EXPORT_FORMAT 1
#define LINE_MAX_BYTES (1u << 20) /* far above any row */
#define KEY_CHECK_TEXT "pahara export: code key check"
#define ID_MAX (INT64_C(1) << 53) /* ids imported: far below INT64_MAX, so new ones follow */
#define BLOB_MAX (STORE_SEALED_MAX > STORE_LIMIT_BLOB_MAX ? STORE_SEALED_MAX : STORE_LIMIT_BLOB_MAX)

/* The keyed hash that shows which codehash.key a file was made under (reveals nothing). */
static void key_check(const struct app *a, char out[64])
{
	uint8_t value[SEAL_CHECK_BYTES];
	seal_key_check(a->code_key, sizeof(a->code_key), KEY_CHECK_TEXT, value);
	sodium_bin2base64(out, 64, value, sizeof(value), sodium_base64_VARIANT_ORIGINAL);
}

static void admin_audit(struct store_audit *au, struct app *a, const char *event,
                        const char *detail)
{
	app_audit_init(au, a, NULL, event, 0, "");
	snprintf(au->client, sizeof(au->client), "admin");
	snprintf(au->outcome, sizeof(au->outcome), "ok");
	utf8_repair(au->detail, sizeof(au->detail), detail, strlen(detail), UTF8_NO_CONTROLS);
}

static enum pa_err audit_tx(struct store_tx *tx, void *arg)
{
	return store_audit_add(tx, arg);
}

/* ---- export ------------------------------------------------------------------------------ */

struct exporter {
	FILE *out;                   /* the file */
	const struct store_table *t; /* the table being written */
	unsigned long long n;        /* its rows so far */
	unsigned long long repaired; /* text values that were not UTF-8 */
	bool failed;                 /* a write or an encoding failed */
	int write_errno;             /* why the write failed; 0 = a value was not encoded */
};

/* Text as UTF-8: a copy with '?' for each byte that is not part of a character, if need be. */
static json_t *text_json(struct exporter *x, const struct store_value *v)
{
	if (utf8_valid(v->p, v->len))
		return json_stringn(v->p, v->len);
	char *fixed = malloc(v->len + 1);
	if (!fixed)
		return NULL;
	size_t n = utf8_repair(fixed, v->len + 1, v->p, v->len, 0); /* as long: '?' for a byte */
	json_t *j = json_stringn(fixed, n);
	free(fixed);
	x->repaired++;
	return j;
}

static json_t *value_json(struct exporter *x, const struct store_column *c,
                          const struct store_value *v)
{
	if (v->null)
		return json_null();
	if (c->type == STORE_COL_INT)
		return json_integer((json_int_t)v->i);
	if (c->type == STORE_COL_TEXT)
		return text_json(x, v);
	size_t n = sodium_base64_encoded_len(v->len, sodium_base64_VARIANT_ORIGINAL);
	char *b = malloc(n);
	if (!b)
		return NULL;
	sodium_bin2base64(b, n, v->p, v->len, sodium_base64_VARIANT_ORIGINAL);
	json_t *j = json_string(b);
	free(b);
	return j;
}

/* Write j (NULL: it could not be made) as a line; on failure x says why. */
static bool write_line(struct exporter *x, json_t *j)
{
	errno = 0;
	bool ok = j && json_dumpf(j, x->out, JSON_COMPACT | JSON_ENSURE_ASCII) == 0 &&
	          fputc('\n', x->out) != EOF;
	if (!ok && !x->failed) {
		x->failed = true;
		x->write_errno = j ? (errno ? errno : EIO) : 0;
	}
	json_decref(j);
	return ok;
}

static bool export_row(void *arg, const struct store_value *row)
{
	struct exporter *x = arg;
	json_t *r = json_object();
	for (unsigned i = 0; r && i < x->t->ncols; i++) {
		json_t *v = value_json(x, &x->t->cols[i], &row[i]);
		if (!v || json_object_set_new(r, x->t->cols[i].name, v) != 0) {
			json_decref(r);
			r = NULL;
		}
	}
	if (!write_line(x, r ? json_pack("{s:s, s:o}", "table", x->t->name, "row", r) : NULL))
		return false;
	x->n++;
	return true;
}

/* The export's audit event, written once its outcome is known: ok (failed NULL), or failed and
 * why.  false: it could not be written (said on stderr). */
static bool export_audit(struct app *a, const char *prog, const char *shown, const char *failed)
{
	struct store_audit au;
	char detail[STORE_DETAIL_MAX + 1];
	snprintf(detail, sizeof(detail), "%s%s%s", shown, failed ? ": " : "", failed ? failed : "");
	admin_audit(&au, a, "store.export", detail);
	if (failed)
		snprintf(au.outcome, sizeof(au.outcome), "failed");
	enum pa_err e = store_write(a->store, audit_tx, &au);
	if (e == PA_OK)
		return true;
	if (failed)
		cli_error(prog, "the failed export's audit event cannot be written: %s",
		          pa_err_message(e));
	else
		cli_error(prog, "%s was written, but its audit event cannot be: %s", shown,
		          pa_err_message(e));
	return false;
}

int admin_export(struct app *a, const char *prog, const char *path)
{
	/* The file is new and the owner's alone: it holds hashes and sealed secrets. */
	FILE *out = stdout;
	if (strcmp(path, "-") != 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			cli_error(prog, "%s: %s%s", path, strerror(errno),
			          errno == EEXIST ? " (an export never overwrites a file)" : "");
			return CLI_EXIT_USAGE;
		}
		out = fdopen(fd, "w");
		if (!out) {
			close(fd);
			cli_error(prog, "%s: %s", path, strerror(errno));
			return CLI_EXIT_FAILURE;
		}
	}
	const char *shown = strcmp(path, "-") ? path : "(standard output)";
	struct store_tx *rd = store_reader(a->store);
	enum pa_err e = rd ? store_read_begin(rd) : PA_ERR_STORE;
	if (e != PA_OK) {
		if (out != stdout)
			fclose(out);
		cli_error(prog, "the store failed: %s", pa_err_message(e));
		export_audit(a, prog, shown, "the store failed");
		return CLI_EXIT_FAILURE;
	}
	char check[64];
	key_check(a, check);
	struct exporter x = {.out = out};
	write_line(&x, json_pack("{s:i, s:i, s:I, s:s}", "pahara_export", EXPORT_FORMAT, "schema",
	                         store_schema_version(a->store), "exported_at",
	                         (json_int_t)app_now(a), "code_key_check", check));
	json_t *counts = json_object();
	for (unsigned i = 0; !x.failed && e == PA_OK && i < store_tables_count; i++) {
		x.t = &store_tables[i];
		x.n = 0;
		e = store_dump(rd, x.t, export_row, &x);
		json_object_set_new(counts, x.t->name, json_integer((json_int_t)x.n));
	}
	store_read_end(rd);
	if (!x.failed && e == PA_OK)
		write_line(&x, json_pack("{s:b, s:o}", "end", 1, "counts", counts));
	else
		json_decref(counts);
	errno = 0;
	bool closed = out == stdout ? fflush(out) == 0 : fclose(out) == 0;
	if (!closed && !x.failed) {
		x.failed = true;
		x.write_errno = errno ? errno : EIO;
	}
	if (e != PA_OK) {
		cli_error(prog, "the store failed: %s", pa_err_message(e));
		export_audit(a, prog, shown, "the store failed");
		return CLI_EXIT_FAILURE;
	}
	if (x.failed) {
		const char *why = x.write_errno ? strerror(x.write_errno)
		                                : "a value could not be encoded: out of memory";
		cli_error(prog, "%s: cannot write the export (%s)", path, why);
		export_audit(a, prog, shown, why);
		return CLI_EXIT_FAILURE;
	}
	/* Audited once the file is whole: an export that failed is never recorded as one made. */
	if (!export_audit(a, prog, shown, NULL))
		return CLI_EXIT_FAILURE;
	if (x.repaired > 0)
		cli_error(
		    prog,
		    "note: %llu text value%s of the store %s not UTF-8 (written by an older "
		    "version): exported with '?' for each byte that is not part of a character",
		    x.repaired, x.repaired == 1 ? "" : "s", x.repaired == 1 ? "was" : "were");
	return CLI_EXIT_OK;
}

/* ---- import ------------------------------------------------------------------------------ */

/* What a column may hold besides its type: each value one that the server itself could have
 * written, so that nothing imported fails later, far from its cause (an id at INT64_MAX leaves
 * no id for the next row, digits = 99 no code).  Columns without a rule (times) take any value
 * of their type. */
enum rule_kind {
	RULE_ANY,    /* no rule */
	RULE_RANGE,  /* INT: min .. max */
	RULE_LEN,    /* TEXT, BLOB: min .. max bytes */
	RULE_NAME,   /* TEXT: an account or service name (app_username_ok) */
	RULE_PWHASH, /* TEXT: "" (no Pahara password) or a hash password_verify takes */
};
struct column_rule {
	const char *table, *column; /* as in store_tables */
	enum rule_kind kind;        /* see enum */
	int64_t min, max;           /* RULE_RANGE: values; RULE_LEN: bytes */
};
/* clang-format off */
#define RANGE(t, c, lo, hi) {t, c, RULE_RANGE, lo, hi}
#define LEN(t, c, lo, hi) {t, c, RULE_LEN, lo, hi}
#define NAME(t, c) {t, c, RULE_NAME, 0, 0}
#define BOOL(t, c) RANGE(t, c, 0, 1)
#define ID(t, c) RANGE(t, c, 1, ID_MAX)
#define HASH(t, c) LEN(t, c, STORE_HASH_LEN, STORE_HASH_LEN)
static const struct column_rule column_rules[] = {
    ID("services", "id"),
    NAME("services", "name"),
    HASH("services", "key_hash"),
    BOOL("services", "disabled"),
    ID("accounts", "id"),
    NAME("accounts", "name"),
    {"accounts", "pwhash", RULE_PWHASH, 0, STORE_PWHASH_MAX},
    BOOL("accounts", "disabled"),
    BOOL("accounts", "twofactor"),
    RANGE("accounts", "service_id", 0, ID_MAX), /* and a service of the file (import_row) */
    ID("totp", "account_id"),
    LEN("totp", "sealed", 1, STORE_SEALED_MAX),
    RANGE("totp", "alg", OTP_SHA1, OTP_SHA512),
    RANGE("totp", "digits", OTP_DIGITS_MIN, OTP_DIGITS_MAX),
    RANGE("totp", "period", OTP_PERIOD_MIN, OTP_PERIOD_MAX),
    BOOL("totp", "confirmed"),
    RANGE("totp", "last_step", 0, INT64_MAX),
    RANGE("totp", "drift", INT32_MIN, INT32_MAX),
    ID("backup_codes", "account_id"),
    RANGE("backup_codes", "generation", 1, UINT32_MAX),
    HASH("backup_codes", "hash"),
    RANGE("backup_codes", "status", STORE_BACKUP_ACTIVE, STORE_BACKUP_RETIRED),
    ID("tmp_passwords", "account_id"),
    RANGE("tmp_passwords", "id", 1, UINT32_MAX),
    HASH("tmp_passwords", "hash"),
    ID("sessions", "id"),
    HASH("sessions", "token_hash"),
    ID("sessions", "account_id"),
    RANGE("sessions", "kind", STORE_SESSION_WEB, STORE_SESSION_APP),
    LEN("sessions", "client", 0, STORE_CLIENT_MAX),
    LEN("sessions", "ip", 0, STORE_IP_MAX),
    ID("logins", "id"),
    HASH("logins", "id_hash"),
    ID("logins", "account_id"),
    RANGE("logins", "state", STORE_LOGIN_PENDING, STORE_LOGIN_DENIED),
    RANGE("logins", "failures", 0, INT32_MAX),
    LEN("logins", "client", 0, STORE_CLIENT_MAX),
    LEN("logins", "ip", 0, STORE_IP_MAX),
    RANGE("logins", "session_id", 0, ID_MAX),
    LEN("limits", "key", 1, STORE_LIMIT_KEY_MAX),
    LEN("limits", "blob", 1, STORE_LIMIT_BLOB_MAX),
    ID("audit", "id"),
    RANGE("audit", "account_id", 0, ID_MAX),
    LEN("audit", "account_name", 0, STORE_NAME_MAX),
    LEN("audit", "event", 0, sizeof(((struct store_audit *)0)->event) - 1),
    LEN("audit", "outcome", 0, sizeof(((struct store_audit *)0)->outcome) - 1),
    LEN("audit", "ip", 0, STORE_IP_MAX),
    LEN("audit", "client", 0, STORE_CLIENT_MAX),
    LEN("audit", "detail", 0, STORE_DETAIL_MAX),
};
#undef RANGE
#undef LEN
#undef NAME
#undef BOOL
#undef ID
#undef HASH
/* clang-format on */

#define TABLES_MAX 16

struct importer {
	struct app *app;                       /* the target */
	FILE *in;                              /* the file, after the header */
	long data_at;                          /* where the rows start (a rerun seeks back) */
	unsigned long line;                    /* for messages */
	unsigned long long counts[TABLES_MAX]; /* rows per table, as read */
	unsigned table;                        /* the last row's table */
	int64_t *services;                     /* the services' ids, as read */
	size_t nservices, services_cap;        /* in services, room there */
	bool services_sorted;                  /* ascending (bsearch) */
	char why[320];                         /* out: what is wrong */
	const struct column_rule *rules[TABLES_MAX][STORE_COLUMNS_MAX]; /* NULL: none */
};

/* Each column's rule, looked up once. */
static void rules_find(struct importer *im)
{
	for (unsigned t = 0; t < store_tables_count && t < TABLES_MAX; t++)
		for (unsigned c = 0; c < store_tables[t].ncols; c++)
			for (size_t r = 0; r < sizeof(column_rules) / sizeof(column_rules[0]); r++)
				if (strcmp(column_rules[r].table, store_tables[t].name) == 0 &&
				    strcmp(column_rules[r].column, store_tables[t].cols[c].name) ==
				        0)
					im->rules[t][c] = &column_rules[r];
}

/* Whether v keeps rule; else what is wrong, in bad (bad_size bytes). */
static bool rule_kept(const struct column_rule *r, const struct store_value *v, char *bad,
                      size_t bad_size)
{
	if (!r || v->null)
		return true;
	switch (r->kind) {
	case RULE_RANGE:
		if (v->i >= r->min && v->i <= r->max)
			return true;
		snprintf(bad, bad_size, "is %lld, not in %lld .. %lld", (long long)v->i,
		         (long long)r->min, (long long)r->max);
		return false;
	case RULE_LEN:
		if (v->len >= (size_t)r->min && v->len <= (size_t)r->max)
			return true;
		if (r->min == r->max)
			snprintf(bad, bad_size, "has %zu bytes, not %lld", v->len,
			         (long long)r->min);
		else
			snprintf(bad, bad_size, "has %zu bytes, not %lld .. %lld", v->len,
			         (long long)r->min, (long long)r->max);
		return false;
	case RULE_PWHASH:
		if (v->len <= (size_t)r->max &&
		    (!v->len || (!memchr(v->p, 0, v->len) && password_hash_usable(v->p))))
			return true;
		snprintf(bad, bad_size,
		         "is not an Argon2 hash a sign-in can check (Argon2id or Argon2i, at most "
		         "t=%llu and m=%llu KiB)",
		         (unsigned long long)PASSWORD_OPSLIMIT_MAX,
		         (unsigned long long)(PASSWORD_MEMLIMIT_MAX / 1024));
		return false;
	case RULE_NAME:
		if (app_username_ok(v->p))
			return true;
		snprintf(bad, bad_size, "is not a name (1 to %d of A-Z a-z 0-9 . _ @ + -)",
		         APP_USERNAME_MAX);
		return false;
	default:
		return true;
	}
}

static const struct store_table *table_named(const char *name, unsigned *idx)
{
	for (unsigned i = 0; i < store_tables_count; i++)
		if (strcmp(store_tables[i].name, name) == 0) {
			*idx = i;
			return &store_tables[i];
		}
	return NULL;
}

/* Read one line (with its '\n', if it has one) into *buf, growing it up to max + 1 bytes and no
 * further: a longer line is read no further than that (*too_long), so that a file of one huge
 * line costs no more memory than a line may have.  Returns the bytes read, or -1 at the end of
 * the file before any byte, on a read error, or when memory ran out (errno ENOMEM). */
static ssize_t read_bounded(FILE *in, char **buf, size_t *cap, size_t max, bool *too_long)
{
	size_t n = 0;
	int ch = 0;
	*too_long = false;
	flockfile(in);
	while ((ch = getc_unlocked(in)) != EOF) {
		if (n + 1 >= *cap) {
			size_t want = *cap ? *cap * 2 : 4096;
			if (want > max + 2)
				want = max + 2;
			char *p = n + 1 < want ? realloc(*buf, want) : NULL;
			if (!p) {
				funlockfile(in);
				errno = ENOMEM;
				return -1;
			}
			*buf = p;
			*cap = want;
		}
		(*buf)[n++] = (char)ch;
		if (ch == '\n')
			break;
		if (n > max) {
			*too_long = true;
			break;
		}
	}
	funlockfile(in);
	if (n == 0)
		return -1;
	(*buf)[n] = '\0';
	return (ssize_t)n;
}

/* Read one line into a JSON object; NULL at the end of the file (*eof) or on an error (in
 * why). */
static json_t *read_line(struct importer *im, char **buf, size_t *cap, bool *eof)
{
	errno = 0;
	bool too_long = false;
	ssize_t n = read_bounded(im->in, buf, cap, LINE_MAX_BYTES, &too_long);
	*eof = n < 0 && feof(im->in) && !ferror(im->in);
	if (n < 0) {
		if (!*eof)
			snprintf(im->why, sizeof(im->why), "cannot read: %s",
			         strerror(errno ? errno : EIO));
		return NULL;
	}
	im->line++;
	if (too_long) {
		snprintf(im->why, sizeof(im->why), "line %lu is too long (more than %u bytes)",
		         im->line, LINE_MAX_BYTES);
		return NULL;
	}
	json_error_t err;
	json_t *j = json_loadb(*buf, (size_t)n, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(j)) {
		snprintf(im->why, sizeof(im->why), "line %lu is not a JSON object%s%s", im->line,
		         j ? "" : ": ", j ? "" : err.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Check one row object against t and turn it into values (blobs decoded into bufs). */
static bool row_values(struct importer *im, unsigned idx, json_t *row, struct store_value *v,
                       uint8_t bufs[][BLOB_MAX])
{
	const struct store_table *t = &store_tables[idx];
	if (json_object_size(row) != t->ncols) {
		snprintf(im->why, sizeof(im->why), "line %lu: a %s row has %zu fields, not %u",
		         im->line, t->name, json_object_size(row), t->ncols);
		return false;
	}
	for (unsigned i = 0; i < t->ncols; i++) {
		const struct store_column *c = &t->cols[i];
		json_t *j = json_object_get(row, c->name);
		v[i] = (struct store_value){0};
		const char *bad = NULL;
		char why[96];
		if (!j) {
			bad = "is missing";
		} else if (json_is_null(j)) {
			v[i].null = true;
			if (!c->nullable)
				bad = "may not be null";
		} else if (c->type == STORE_COL_INT) {
			if (!json_is_integer(j))
				bad = "must be an integer";
			else
				v[i].i = (int64_t)json_integer_value(j);
		} else if (!json_is_string(j)) {
			bad = "must be a string";
		} else if (c->type == STORE_COL_TEXT) {
			v[i].p = json_string_value(j);
			v[i].len = json_string_length(j);
			if (strlen(v[i].p) != v[i].len)
				bad = "contains a NUL";
		} else {
			const char *s = json_string_value(j);
			size_t len = 0;
			if (sodium_base642bin(bufs[i], BLOB_MAX, s, strlen(s), NULL, &len, NULL,
			                      sodium_base64_VARIANT_ORIGINAL) != 0) {
				snprintf(why, sizeof(why), "is not base64 of at most %d bytes",
				         BLOB_MAX);
				bad = why;
			}
			v[i].p = bufs[i];
			v[i].len = len;
		}
		if (!bad && !rule_kept(im->rules[idx][i], &v[i], why, sizeof(why)))
			bad = why;
		if (bad) {
			snprintf(im->why, sizeof(im->why), "line %lu: %s.%s %s", im->line, t->name,
			         c->name, bad);
			return false;
		}
	}
	return true;
}

/* A sealed TOTP secret must open under the target's master key. */
static bool sealed_opens(struct importer *im, const struct store_value *v)
{
	uint8_t plain[STORE_SEALED_MAX];
	size_t len = 0;
	enum pa_err e = seal_open(im->app->keys, FACTORS_TOTP_PURPOSE, (uint64_t)v[0].i, v[1].p,
	                          v[1].len, plain, sizeof(plain), &len);
	sodium_memzero(plain, sizeof(plain));
	if (e == PA_OK)
		return true;
	snprintf(im->why, sizeof(im->why),
	         "line %lu: the code generator of account %lld does not open with this data "
	         "directory's master.key: copy master.key and codehash.key from the source",
	         im->line, (long long)v[0].i);
	return false;
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* A services row's id, kept for the accounts that name it. */
static bool service_keep(struct importer *im, int64_t id)
{
	if (im->nservices == im->services_cap) {
		size_t cap = im->services_cap ? im->services_cap * 2 : 64;
		int64_t *p = realloc(im->services, cap * sizeof(*p));
		if (!p)
			return false;
		im->services = p;
		im->services_cap = cap;
	}
	if (im->nservices > 0 && im->services[im->nservices - 1] >= id)
		im->services_sorted = false;
	im->services[im->nservices++] = id;
	return true;
}

/* Whether the file's services (all read by now: the tables come in order) hold id. */
static bool service_known(struct importer *im, int64_t id)
{
	if (!im->services_sorted) {
		qsort(im->services, im->nservices, sizeof(*im->services), id_cmp);
		im->services_sorted = true;
	}
	return im->nservices > 0 &&
	       bsearch(&id, im->services, im->nservices, sizeof(*im->services), id_cmp);
}

/* Check one row of table idx and load it. */
static enum pa_err import_row(struct store_tx *tx, struct importer *im, unsigned idx, json_t *row,
                              uint8_t bufs[][BLOB_MAX])
{
	const struct store_table *t = &store_tables[idx];
	struct store_value v[STORE_COLUMNS_MAX];
	/* In the export's order: parents before children, services before their accounts. */
	if (idx < im->table) {
		snprintf(im->why, sizeof(im->why),
		         "line %lu: a %s row after %s rows (an export has its tables in the order "
		         "%s, %s, ...)",
		         im->line, t->name, store_tables[im->table].name, store_tables[0].name,
		         store_tables[1].name);
		return PA_ERR_INVALID_ARGUMENT;
	}
	im->table = idx;
	if (!row_values(im, idx, row, v, bufs))
		return PA_ERR_INVALID_ARGUMENT;
	if (strcmp(t->name, "totp") == 0 && !sealed_opens(im, v))
		return PA_ERR_INVALID_ARGUMENT;
	if (strcmp(t->name, "services") == 0 && !service_keep(im, v[0].i)) {
		snprintf(im->why, sizeof(im->why), "line %lu: out of memory", im->line);
		return PA_ERR_NOMEM;
	}
	/* An account of a service that is not in the file would be the account of whichever
	 * service the target makes next with that id (its key would pass POST /v1/check). */
	for (unsigned i = 0; strcmp(t->name, "accounts") == 0 && i < t->ncols; i++)
		if (strcmp(t->cols[i].name, "service_id") == 0 && v[i].i != 0 &&
		    !service_known(im, v[i].i)) {
			snprintf(im->why, sizeof(im->why),
			         "line %lu: accounts.service_id is %lld, which no services row "
			         "before it has (0: no service)",
			         im->line, (long long)v[i].i);
			return PA_ERR_INVALID_ARGUMENT;
		}
	enum pa_err e = store_load(tx, t, v);
	if (e == PA_ERR_CONFLICT)
		snprintf(im->why, sizeof(im->why),
		         "line %lu: the %s row conflicts with another (a duplicate, or a reference "
		         "to a row that is not there)",
		         im->line, t->name);
	else if (e != PA_OK)
		snprintf(im->why, sizeof(im->why), "line %lu: the store could not load the %s row",
		         im->line, t->name);
	im->counts[idx]++;
	return e;
}

static bool count_one(void *arg, const struct store_value *row)
{
	(void)row;
	*(bool *)arg = true;
	return false;
}

/* The first table of the store that has a row, in *full (NULL: none). */
static enum pa_err store_full_table(struct store_tx *tx, const struct store_table **full)
{
	*full = NULL;
	for (unsigned i = 0; i < store_tables_count; i++) {
		bool any = false;
		enum pa_err e = store_dump(tx, &store_tables[i], count_one, &any);
		if (e != PA_OK)
			return e;
		if (any) {
			*full = &store_tables[i];
			return PA_OK;
		}
	}
	return PA_OK;
}

static enum pa_err import_tx(struct store_tx *tx, void *arg)
{
	struct importer *im = arg;
	/* May run again (a store may retry a transaction): start from the first row. */
	if (fseek(im->in, im->data_at, SEEK_SET) != 0) {
		snprintf(im->why, sizeof(im->why), "cannot seek: %s", strerror(errno));
		return PA_ERR_INVALID_ARGUMENT;
	}
	im->line = 1;
	memset(im->counts, 0, sizeof(im->counts));
	im->table = 0;
	im->nservices = 0;
	im->services_sorted = true;
	im->why[0] = '\0';
	/* Only into an empty store, read again here where nothing can come between; and only then
	 * are this data directory's keys made the store's, with the rows (app.c). */
	const struct store_table *full = NULL;
	enum pa_err e = store_full_table(tx, &full);
	if (e == PA_OK && full) {
		snprintf(im->why, sizeof(im->why),
		         "the target store is not empty (it has %s rows): import only into a new "
		         "store",
		         full->name);
		return PA_ERR_CONFLICT;
	}
	if (e == PA_OK)
		e = app_keys_adopt(im->app, tx);
	if (e != PA_OK)
		return e;
	char *buf = NULL;
	size_t cap = 0;
	bool ended = false, eof = false;
	static uint8_t bufs[STORE_COLUMNS_MAX][BLOB_MAX];
	for (;;) {
		json_t *j = read_line(im, &buf, &cap, &eof);
		if (!j) {
			e = PA_ERR_INVALID_ARGUMENT;
			if (eof && !ended)
				snprintf(im->why, sizeof(im->why),
				         "the file ends before its \"end\" line: it is truncated");
			if (eof && ended)
				e = PA_OK;
			break;
		}
		if (ended) {
			json_decref(j);
			snprintf(im->why, sizeof(im->why), "line %lu comes after the \"end\" line",
			         im->line);
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
		json_t *end = json_object_get(j, "end");
		if (end) {
			json_t *counts = json_object_get(j, "counts");
			ended = json_is_true(end) && json_is_object(counts) &&
			        json_object_size(j) == 2 &&
			        json_object_size(counts) == store_tables_count;
			for (unsigned i = 0; ended && i < store_tables_count; i++) {
				json_t *c = json_object_get(counts, store_tables[i].name);
				ended = json_is_integer(c) &&
				        (unsigned long long)json_integer_value(c) == im->counts[i];
			}
			json_decref(j);
			if (!ended) {
				snprintf(
				    im->why, sizeof(im->why),
				    "line %lu: the \"end\" line's counts do not match the rows",
				    im->line);
				e = PA_ERR_INVALID_ARGUMENT;
				break;
			}
			continue;
		}
		const char *name = json_string_value(json_object_get(j, "table"));
		json_t *row = json_object_get(j, "row");
		unsigned idx = 0;
		const struct store_table *t = name ? table_named(name, &idx) : NULL;
		if (!t || !json_is_object(row) || json_object_size(j) != 2) {
			snprintf(im->why, sizeof(im->why),
			         "line %lu is not {\"table\": KNOWN_TABLE, \"row\": {...}}",
			         im->line);
			e = PA_ERR_INVALID_ARGUMENT;
		} else {
			e = import_row(tx, im, idx, row, bufs);
		}
		json_decref(j);
		if (e != PA_OK)
			break;
	}
	free(buf);
	if (e == PA_OK)
		e = store_load_finish(tx);
	if (e == PA_OK) {
		struct store_audit au;
		admin_audit(&au, im->app, "store.import", "");
		snprintf(au.detail, sizeof(au.detail), "%llu accounts, %llu audit events",
		         im->counts[1], im->counts[store_tables_count - 1]);
		e = store_audit_add(tx, &au);
	}
	return e;
}

int admin_import(struct app *a, const char *prog, const char *path)
{
	if (store_tables_count > TABLES_MAX)
		return CLI_EXIT_FAILURE; /* a table too many for struct importer */
	/* Only into an empty store: an import never mixes two sites' rows. */
	struct store_tx *rd = store_reader(a->store);
	const struct store_table *full = NULL;
	enum pa_err fe = rd ? store_full_table(rd, &full) : PA_ERR_STORE;
	if (fe != PA_OK) {
		cli_error(prog, "the store failed: %s", pa_err_message(fe));
		return CLI_EXIT_FAILURE;
	}
	if (full) {
		cli_error(prog,
		          "the target store is not empty (it has %s rows): import only into a new "
		          "store",
		          full->name);
		return CLI_EXIT_USAGE;
	}
	FILE *in = strcmp(path, "-") == 0 ? NULL : fopen(path, "r");
	if (!in) {
		cli_error(prog, "%s: %s", path,
		          strcmp(path, "-") == 0 ? "import needs a file it can read twice, not "
		                                   "standard input"
		                                 : strerror(errno));
		return CLI_EXIT_USAGE;
	}
	struct importer im = {.app = a, .in = in};
	rules_find(&im);
	char *buf = NULL;
	size_t cap = 0;
	bool eof = false;
	json_t *h = read_line(&im, &buf, &cap, &eof);
	free(buf);
	int rc = CLI_EXIT_USAGE;
	char check[64];
	key_check(a, check);
	json_t *f = h ? json_object_get(h, "pahara_export") : NULL;
	json_t *sc = h ? json_object_get(h, "schema") : NULL;
	const char *kc = h ? json_string_value(json_object_get(h, "code_key_check")) : NULL;
	if (!h) {
		cli_error(prog, "%s: %s", path, eof ? "the file is empty" : im.why);
	} else if (!json_is_integer(f) || json_integer_value(f) != EXPORT_FORMAT) {
		cli_error(prog, "%s: not a Pahara export (format %d)", path, EXPORT_FORMAT);
	} else if (!json_is_integer(sc) ||
	           json_integer_value(sc) != store_schema_version(a->store)) {
		cli_error(prog,
		          "%s: made at schema version %lld, but this store is at %d: run the same "
		          "Pahara version on both sides",
		          path, (long long)json_integer_value(sc), store_schema_version(a->store));
	} else if (!kc || strcmp(kc, check) != 0) {
		cli_error(prog,
		          "%s: made under another codehash.key: copy master.key and codehash.key "
		          "from the source data directory into this one first",
		          path);
	} else {
		im.data_at = ftell(in);
		enum pa_err e = store_write(a->store, import_tx, &im);
		if (e == PA_OK) {
			printf("imported %llu accounts, %llu audit events\n", im.counts[1],
			       im.counts[store_tables_count - 1]);
			rc = cli_flush_stdout(prog);
		} else if (im.why[0] && e != PA_ERR_STORE && e != PA_ERR_NOMEM) {
			cli_error(prog, "%s: %s; nothing was imported", path, im.why);
		} else {
			/* A row the store could not take (the line, where one is to blame). */
			cli_error(prog, "%s%s%s: %s; nothing was imported", im.why[0] ? path : "",
			          im.why[0] ? ": " : "", im.why[0] ? im.why : "the store failed",
			          pa_err_message(e));
			rc = CLI_EXIT_FAILURE;
		}
	}
	free(im.services);
	json_decref(h);
	fclose(in);
	return rc;
}

/* ---- migrate ----------------------------------------------------------------------------- */

int admin_migrate(struct app *a, const char *prog)
{
	/* Opening the store applied every missing migration already (under a lock where the
	 * store is shared); say where it stands. */
	printf("the store is at schema version %d\n", store_schema_version(a->store));
	return cli_flush_stdout(prog);
}
