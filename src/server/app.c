/*
 * app.c — configuration, start-up, the clock, and what every handler shares.  See app.h.
 */
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <strings.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/otpauth.h"
#include "core/password.h"
#include "core/token.h"
#include "core/utf8.h"
#include "server/app.h"
#include "server/handlers.h"
#include "server/keyfile.h"

/* ---- configuration --------------------------------------------------------------------- */

void app_config_defaults(struct app_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	snprintf(c->data_dir, sizeof(c->data_dir), "./pahara-data");
	snprintf(c->issuer, sizeof(c->issuer), "Pahara");
	snprintf(c->first_party[0], sizeof(c->first_party[0]), "web");
	snprintf(c->first_party[1], sizeof(c->first_party[1]), "app");
	c->nclients = 2;
	c->argon_ops = 2;
	c->argon_mem_kib = 19 * 1024;
	c->ip_attempts = 20;
	c->ip_window = 300;
	c->code_limits = (struct ratelimit_config)RATELIMIT_CONFIG_DEFAULT;
	c->signin_lifetime = APP_LOGIN_TTL;
	c->tmppass_lifetime = TMPPASS_TTL;
	c->reauth_window = APP_REAUTH_SECONDS;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static bool set_str(char *dst, size_t size, const char *v)
{
	int n = snprintf(dst, size, "%s", v);
	return n >= 0 && (size_t)n < size;
}

/* A plain decimal number (no sign, no spaces, no base prefix). */
static bool parse_number(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)v[0]))
		return false;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || *end)
		return false;
	*out = n;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return false;
	return true;
}

/*
 * Whether issuer can stand in an enrolment's otpauth:// URI.  The URI's builder refuses a ':'
 * (it would split the label "ISSUER:ACCOUNT" elsewhere), a control character and bytes that
 * are not UTF-8; a server started with such an issuer failed every enrolment instead.  The
 * builder itself decides, so that the two rules cannot drift apart.
 */
static bool issuer_ok(const char *issuer)
{
	struct otpauth u;
	char uri[OTPAUTH_URI_MAX + 1];
	otpauth_init(&u);
	if (!*issuer || !set_str(u.issuer, sizeof(u.issuer), issuer))
		return false;
	snprintf(u.account, sizeof(u.account), "a");
	u.secret_len = OTP_SECRET_DEFAULT; /* zeros: nothing secret here */
	return otpauth_build(&u, uri, sizeof(uri)) == PA_OK;
}

/* "ADDR, ADDR": IP addresses, kept in the form inet_ntop gives (what the server compares). */
static bool parse_proxies(struct app_config *c, char *v)
{
	c->nproxies = 0;
	for (char *save = NULL, *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = trim(t);
		if (!*t || c->nproxies >= APP_PROXIES_MAX ||
		    !http_ip_normalize(t, c->trusted_proxies[c->nproxies],
		                       sizeof(c->trusted_proxies[0])))
			return false;
		c->nproxies++;
	}
	return true;
}

static bool parse_clients(struct app_config *c, char *v)
{
	c->nclients = 0;
	for (char *save = NULL, *t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = trim(t);
		if (!*t || c->nclients >= APP_CLIENTS_MAX ||
		    !set_str(c->first_party[c->nclients], sizeof(c->first_party[0]), t))
			return false;
		c->nclients++;
	}
	return true;
}

/* What config_line found. */
enum config_line {
	CONFIG_LINE_OK,   /* a line, in buf */
	CONFIG_LINE_END,  /* no more lines: the end of the file, or a read error (ferror) */
	CONFIG_LINE_LONG, /* longer than the buffer holds */
	CONFIG_LINE_NUL,  /* holds a NUL byte */
};

/*
 * The next line of f into buf (size bytes), without its '\n'.  Byte by byte, as
 * cli_read_line does: with fgets a NUL byte silently ends the line's text, and the rest of
 * a value is dropped unseen.
 */
static enum config_line config_line(FILE *f, char *buf, size_t size)
{
	size_t n = 0;
	int ch;
	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0')
			return CONFIG_LINE_NUL;
		if (n + 1 >= size)
			return CONFIG_LINE_LONG;
		buf[n++] = (char)ch;
	}
	if (ch == EOF && (n == 0 || ferror(f)))
		return CONFIG_LINE_END;
	buf[n] = '\0';
	return CONFIG_LINE_OK;
}

/* A numeric setting: its key, its bounds, and the one field it sets (u, u32 or i64). */
struct num_setting {
	const char *key;   /* as in the file */
	uint64_t min, max; /* inclusive */
	unsigned *u;       /* the field, when unsigned */
	uint32_t *u32;     /* the field, when uint32_t */
	int64_t *i64;      /* the field, when int64_t */
};

/* The settings that depend on each other, checked once the whole file is read. */
static bool config_consistent(const struct app_config *c, const char *path, char *why,
                              size_t why_size)
{
	const struct ratelimit_config *rl = &c->code_limits;
	if (rl->backoff_max < rl->backoff_base) {
		snprintf(why, why_size,
		         "%s: 'code_backoff_max' (%lld) must not be less than 'code_backoff_base' "
		         "(%lld)",
		         path, (long long)rl->backoff_max, (long long)rl->backoff_base);
		return false;
	}
	unsigned conns = c->store_connections ? c->store_connections : STORE_POOL_DEFAULT;
	unsigned writers = c->store_writers ? c->store_writers : STORE_WRITERS_DEFAULT;
	if (writers >= conns) {
		snprintf(why, why_size,
		         "%s: 'store_writers' (%u) must be less than 'store_connections' (%u): the "
		         "rest are for reading",
		         path, writers, conns);
		return false;
	}
	/* The bounds in app_config_load and the check above imply the rules' own check; this
	 * keeps the two from drifting apart. */
	if (ratelimit_config_check(rl) != PA_OK) {
		snprintf(why, why_size, "%s: the code_* settings do not fit together", path);
		return false;
	}
	return true;
}

enum pa_err app_config_load(struct app_config *c, const char *path, char *why, size_t why_size)
{
	struct ratelimit_config *rl = &c->code_limits;
	const struct num_setting nums[] = {
	    {"threads", 0, 256, .u = &c->threads},
	    {"store_connections", 0, 256, .u = &c->store_connections},
	    {"store_writers", 0, STORE_WRITERS_MAX, .u = &c->store_writers},
	    {"argon2_passes", 1, 64, .u = &c->argon_ops},
	    {"argon2_memory_kib", 8, 1024 * 1024, .u = &c->argon_mem_kib},
	    {"password_attempts_per_ip", 1, RATELIMIT_EVENTS_MAX, .u = &c->ip_attempts},
	    {"password_attempts_window", 1, 86400, .u = &c->ip_window},
	    {"code_failures_per_signin", 1, 100, .u32 = &rl->signin_codes_max},
	    {"code_failures_per_account", 1, 1000, .u32 = &rl->lockout_failures},
	    {"code_failures_window", 60, 86400, .i64 = &rl->lockout_window},
	    {"code_lockout_duration", 60, 86400, .i64 = &rl->lockout_duration},
	    {"code_backoff_grace", 0, 100, .u32 = &rl->backoff_grace},
	    {"code_backoff_base", 1, 3600, .i64 = &rl->backoff_base},
	    {"code_backoff_max", 1, 86400, .i64 = &rl->backoff_max},
	    {"signin_lifetime", 60, 3600, .u = &c->signin_lifetime},
	    {"temporary_password_lifetime", 60, 7 * 86400, .u = &c->tmppass_lifetime},
	    {"reauth_window", 60, 86400, .u = &c->reauth_window},
	};
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return PA_ERR_INVALID_ARGUMENT;
	}
	char line[1024]; /* docs/operations.md §4: at most 1023 characters */
	unsigned lineno = 0;
	/* The keys set so far, and where: a key given twice is refused, since a later line that
	 * quietly undoes an earlier one (a limit raised again further down) is a mistake. */
	struct {
		char key[32];  /* every known key fits */
		unsigned line; /* where it was set */
	} seen[40];
	size_t nseen = 0;
	enum pa_err e = PA_OK;
	enum config_line got;
	while ((got = config_line(f, line, sizeof(line))) != CONFIG_LINE_END) {
		lineno++;
		if (got != CONFIG_LINE_OK) {
			snprintf(why, why_size, "%s:%u: %s", path, lineno,
			         got == CONFIG_LINE_NUL ? "the line holds a NUL byte"
			                                : "line too long");
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(why, why_size, "%s:%u: expected 'key = value'", path, lineno);
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		unsigned first = 0;
		for (size_t i = 0; i < nseen && !first; i++)
			if (!strcmp(seen[i].key, k))
				first = seen[i].line;
		if (first) {
			snprintf(why, why_size, "%s:%u: '%s' is set twice (first on line %u)", path,
			         lineno, k, first);
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
		if (strlen(k) < sizeof(seen[0].key) && nseen < sizeof(seen) / sizeof(seen[0])) {
			snprintf(seen[nseen].key, sizeof(seen[nseen].key), "%s", k);
			seen[nseen++].line = lineno;
		}
		const struct num_setting *num = NULL;
		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
			if (!strcmp(k, nums[i].key))
				num = &nums[i];
		bool ok;
		if (num) {
			uint64_t n;
			ok = parse_number(v, &n) && n >= num->min && n <= num->max;
			if (!ok) {
				snprintf(why, why_size,
				         "%s:%u: bad value for '%s': expected a whole number from "
				         "%llu to %llu",
				         path, lineno, k, (unsigned long long)num->min,
				         (unsigned long long)num->max);
				e = PA_ERR_INVALID_ARGUMENT;
				break;
			}
			if (num->u)
				*num->u = (unsigned)n;
			else if (num->u32)
				*num->u32 = (uint32_t)n;
			else
				*num->i64 = (int64_t)n;
			continue;
		}
		if (!strcmp(k, "listen"))
			ok = *v && set_str(c->listen, sizeof(c->listen), v);
		else if (!strcmp(k, "data"))
			ok = *v && set_str(c->data_dir, sizeof(c->data_dir), v);
		else if (!strcmp(k, "store"))
			ok = *v && set_str(c->store, sizeof(c->store), v);
		else if (!strcmp(k, "issuer"))
			ok = issuer_ok(v) && set_str(c->issuer, sizeof(c->issuer), v);
		else if (!strcmp(k, "self_registration"))
			ok = parse_bool(v, &c->self_registration);
		else if (!strcmp(k, "first_party_clients"))
			ok = parse_clients(c, v);
		else if (!strcmp(k, "trusted_proxies"))
			ok = parse_proxies(c, v);
		else {
			snprintf(why, why_size, "%s:%u: unknown setting '%.60s'", path, lineno, k);
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
		if (!ok && !strcmp(k, "issuer")) {
			snprintf(why, why_size,
			         "%s:%u: bad value for 'issuer': expected 1 to %zu bytes of UTF-8 "
			         "without ':' or control characters",
			         path, lineno, sizeof(c->issuer) - 1);
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
		if (!ok) {
			snprintf(why, why_size, "%s:%u: bad value for '%s'", path, lineno, k);
			e = PA_ERR_INVALID_ARGUMENT;
			break;
		}
	}
	/* The end of the lines may be a read error: a directory opens, and then every read
	 * fails with EISDIR; it is not an empty file */
	if (e == PA_OK && ferror(f)) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		e = PA_ERR_INVALID_ARGUMENT;
	}
	fclose(f);
	if (e == PA_OK && !config_consistent(c, path, why, why_size))
		e = PA_ERR_INVALID_ARGUMENT;
	return e;
}

/* ---- life cycle ------------------------------------------------------------------------ */

static bool first_account(void *arg, const struct store_account *acct)
{
	(void)acct;
	*(bool *)arg = true;
	return false;
}

static bool first_check(void *arg, const struct store_key_check *k)
{
	(void)k;
	*(bool *)arg = true;
	return false;
}

/*
 * The key files against the store.  The store keeps a check value of every key the nodes use
 * (store.h, key checks): "code" for codehash.key, "master:ID" for each sealing key of
 * master.key.  At start a node compares its own with them, in one write transaction: a key the
 * store has no value for is recorded (the first node to use a key, or a store made before these
 * records existed: trust on first use); a key whose value differs, or a sealing key the store
 * has a value for and this node lacks, makes it refuse to start, and the transaction changes
 * nothing.  Without this, such a node would start and then fail to open sealed secrets, or find
 * no code.  One exception: `pahara admin import` (cfg.import_keys).  It opens the store without
 * writing to it (a refused import changes nothing): over a store that holds no account yet,
 * so nothing sealed or hashed under any key, it takes the store's values as they are, whatever
 * they are, and only the import's own transaction makes them this node's (app_keys_adopt), with
 * the rows, which it checks were made under exactly these keys.  Over a store with accounts it
 * is checked as any node is, but records nothing (the import is refused there anyway).
 */

#define APP_CODE_CHECK_TEXT "pahara codehash key check v1"
#define APP_KEY_NAMES (SEAL_KEYS_MAX + 1) /* "code" and every sealing key */
#define APP_STRAYS_MAX 16                 /* recorded sealing keys this node lacks, per pass */
#define APP_MASTER_PREFIX "master:"

_Static_assert(SEAL_CHECK_BYTES <= STORE_KEY_CHECK_MAX, "a check value fits the store");

/* What keys_verify_tx works with; the outputs are set again on every run (store.h). */
struct key_verify {
	struct app *a;                              /* the node */
	bool import;                                /* cfg.import_keys: the store is not written */
	bool audit;                                 /* the store holds accounts: audit a record */
	struct store_key_check mine[APP_KEY_NAMES]; /* this node's keys' check values */
	unsigned n;                                 /* how many */
	char why[1536];                             /* out: why the node may not start */
};

/* Sealing keys recorded in the store that this node lacks (a pass of store_key_check_list). */
struct key_strays {
	const struct key_verify *v;                               /* whose keys */
	char names[APP_STRAYS_MAX][STORE_KEY_CHECK_NAME_MAX + 1]; /* "master:ID" */
	unsigned n;                                               /* how many */
	bool more;                                                /* more than fit */
};

/* k was recorded: an audit event, where the store has accounts. */
static enum pa_err key_recorded(struct store_tx *tx, const struct key_verify *v,
                                const struct store_key_check *k)
{
	/* On a store without accounts nothing was made with any key yet, and an audit row would
	 * make it a store that `pahara admin import` refuses. */
	if (!v->audit)
		return PA_OK;
	struct store_audit au;
	app_audit_init(&au, v->a, NULL, "store.key_recorded", 0, "");
	bool code = strcmp(k->name, "code") == 0;
	snprintf(au.detail, sizeof(au.detail), "%s%s%s, first seen by the store (in %.160s)",
	         code ? "codehash.key" : "master.key", code ? "" : " key ",
	         code ? "" : k->name + strlen(APP_MASTER_PREFIX), v->a->cfg.data_dir);
	return store_audit_add(tx, &au);
}

/* One of this node's keys against the store's value for it. */
static enum pa_err key_verify_one(struct store_tx *tx, struct key_verify *v,
                                  const struct store_key_check *mine, bool adopt)
{
	struct store_key_check got;
	enum pa_err e = store_key_check_get(tx, mine->name, &got);
	if (e == PA_ERR_NOT_FOUND && v->import && !adopt)
		return PA_OK; /* an import's open records nothing */
	if (e == PA_ERR_NOT_FOUND) {
		e = store_key_check_add(tx, mine);
		if (e == PA_OK)
			return key_recorded(tx, v, mine);
		/* Another node recorded it first, just now (PostgreSQL): compare with that. */
		if (e == PA_ERR_CONFLICT)
			e = store_key_check_get(tx, mine->name, &got);
	}
	if (e != PA_OK)
		return e;
	if (got.len == mine->len && memcmp(got.value, mine->value, got.len) == 0)
		return PA_OK;
	if (adopt) {
		e = store_key_check_delete(tx, mine->name);
		if (e == PA_OK)
			e = store_key_check_add(tx, mine);
		return e;
	}
	const char *dir = v->a->cfg.data_dir;
	if (strcmp(mine->name, "code") == 0) {
		snprintf(v->why, sizeof(v->why),
		         "%s/codehash.key: the key differs from the one that this store's backup "
		         "codes and temporary passwords are hashed with (as recorded by the first "
		         "node that used the store): copy master.key and codehash.key from that "
		         "node into %s",
		         dir, dir);
	} else {
		const char *id = mine->name + strlen(APP_MASTER_PREFIX);
		snprintf(v->why, sizeof(v->why),
		         "%s/master.key: key %s differs from the key %s that this store's "
		         "secrets are sealed with (as recorded by the first node that used the "
		         "store): copy master.key and codehash.key from that node into %s",
		         dir, id, id, dir);
	}
	return PA_ERR_KEY_FILE;
}

static bool key_stray(void *arg, const struct store_key_check *k)
{
	struct key_strays *st = arg;
	if (strncmp(k->name, APP_MASTER_PREFIX, strlen(APP_MASTER_PREFIX)) != 0)
		return true; /* "code", or a name of a newer Pahara */
	for (unsigned i = 0; i < st->v->n; i++)
		if (strcmp(st->v->mine[i].name, k->name) == 0)
			return true;
	if (st->n == APP_STRAYS_MAX) {
		st->more = true;
		return false;
	}
	snprintf(st->names[st->n++], sizeof(st->names[0]), "%s", k->name);
	return true;
}

/* The sealing keys the store recorded and this node lacks: refused, or forgotten (adopt). */
static enum pa_err key_verify_strays(struct store_tx *tx, struct key_verify *v, bool adopt)
{
	struct key_strays st;
	do {
		st = (struct key_strays){.v = v};
		enum pa_err e = store_key_check_list(tx, key_stray, &st);
		if (e != PA_OK)
			return e;
		if (st.n > 0 && !adopt) {
			snprintf(v->why, sizeof(v->why),
			         "%s/master.key lacks key %s, which this store uses: copy "
			         "master.key from a node that has it",
			         v->a->cfg.data_dir, st.names[0] + strlen(APP_MASTER_PREFIX));
			return PA_ERR_KEY_FILE;
		}
		for (unsigned i = 0; i < st.n; i++) {
			e = store_key_check_delete(tx, st.names[i]);
			if (e != PA_OK)
				return e;
		}
	} while (st.more);
	return PA_OK;
}

static enum pa_err keys_verify_tx(struct store_tx *tx, void *arg)
{
	struct key_verify *v = arg;
	v->why[0] = '\0';
	if (v->import) {
		/* Nothing made under any key yet: the import's transaction adopts this node's keys
		 * (app_keys_adopt), and until then the store's stay as they are. */
		bool any = false;
		enum pa_err e = store_account_list(tx, first_account, &any);
		if (e != PA_OK || !any)
			return e;
	}
	for (unsigned i = 0; i < v->n; i++) {
		enum pa_err e = key_verify_one(tx, v, &v->mine[i], false);
		if (e != PA_OK)
			return e;
	}
	return key_verify_strays(tx, v, false);
}

/* A new key_verify in *out (the caller frees it) with a's keys' check values. */
static enum pa_err key_verify_new(struct app *a, bool any, struct key_verify **out)
{
	struct key_verify *v = calloc(1, sizeof(*v));
	*out = NULL;
	if (!v)
		return PA_ERR_NOMEM;
	*v = (struct key_verify){.a = a, .import = a->cfg.import_keys, .audit = any};
	uint32_t ids[SEAL_KEYS_MAX];
	unsigned nids = seal_keyring_ids(a->keys, ids);
	enum pa_err e = PA_OK;
	for (unsigned i = 0; i < nids && e == PA_OK; i++) {
		struct store_key_check *k = &v->mine[v->n++];
		snprintf(k->name, sizeof(k->name), APP_MASTER_PREFIX "%lu", (unsigned long)ids[i]);
		e = seal_keyring_check(a->keys, ids[i], k->value);
		k->len = SEAL_CHECK_BYTES;
		k->created_at = app_now(a);
	}
	struct store_key_check *k = &v->mine[v->n++];
	snprintf(k->name, sizeof(k->name), "code");
	/* Its own text: it never meets a sealing key's check value. */
	seal_key_check(a->code_key, SECRETCODE_KEY_BYTES, APP_CODE_CHECK_TEXT, k->value);
	k->len = SEAL_CHECK_BYTES;
	k->created_at = app_now(a);
	if (e != PA_OK)
		free(v);
	else
		*out = v;
	return e;
}

/* Check a's keys against the store's values, and record what it lacks; any: the store holds
 * accounts. */
static enum pa_err keys_verify(struct app *a, bool any, char *why, size_t why_size)
{
	struct key_verify *v;
	enum pa_err e = key_verify_new(a, any, &v);
	if (e == PA_OK)
		e = store_write(a->store, keys_verify_tx, v);
	if (e == PA_ERR_KEY_FILE)
		snprintf(why, why_size, "%s", v->why);
	else if (e != PA_OK)
		snprintf(why, why_size, "cannot check the key files against the store: %s",
		         pa_err_message(e));
	free(v);
	return e;
}

enum pa_err app_keys_adopt(struct app *a, struct store_tx *tx)
{
	/* No account, and so no audit record: an empty store has no history to keep. */
	struct key_verify *v;
	enum pa_err e = key_verify_new(a, false, &v);
	for (unsigned i = 0; e == PA_OK && i < v->n; i++)
		e = key_verify_one(tx, v, &v->mine[i], true);
	if (e == PA_OK)
		e = key_verify_strays(tx, v, true);
	free(v);
	return e;
}

/* A store location fit for messages: a password in it (scheme://user:PASSWORD@host, or
 * ?password=PASSWORD) is replaced by "***". */
static void redact_url(const char *loc, char *out, size_t size)
{
	const char *scheme = strstr(loc, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	if (colon)
		snprintf(out, size, "%.*s:***%s", (int)(colon - loc), loc, at);
	else
		snprintf(out, size, "%s", loc);
	char *q = strchr(out, '?');
	for (char *p = q ? strstr(q, "password=") : NULL; p; p = strstr(p + 1, "password=")) {
		if (p[-1] != '?' && p[-1] != '&')
			continue;
		char *v = p + 9, *end = strchr(v, '&');
		size_t tail = end ? strlen(end) + 1 : 1;
		if ((size_t)(v - out) + 3 + tail > size)
			break;
		memmove(v + 3, end ? end : v + strlen(v), tail);
		memcpy(v, "***", 3);
	}
}

enum pa_err app_open(struct app *a, char *why, size_t why_size)
{
	const char *w = NULL;
	struct store_options so = {.location = a->cfg.store[0] ? a->cfg.store : a->cfg.data_dir,
	                           .pool_size = a->cfg.store_connections,
	                           .writers = a->cfg.store_writers};
	enum pa_err e = store_open(&so, &a->store, &w);
	if (e != PA_OK) {
		char shown[sizeof(a->cfg.store)];
		redact_url(so.location, shown, sizeof(shown));
		snprintf(why, why_size, "store %s: %s", shown, w ? w : pa_err_message(e));
		return e;
	}
	/* Keys may be made only while the store has no account: over existing data a missing
	 * key file is a restore gone wrong, and a fresh key would make every sealed secret and
	 * stored code unusable.  Nor once a node recorded its keys in the store: they are the
	 * site's, and another node's files must be copied, not made anew. */
	bool any = false, recorded = false;
	struct store_tx *rd = store_reader(a->store);
	e = rd ? store_account_list(rd, first_account, &any) : PA_ERR_STORE;
	if (e == PA_OK)
		e = store_key_check_list(rd, first_check, &recorded);
	if (e == PA_ERR_STORE) {
		char shown[sizeof(a->cfg.store)];
		redact_url(so.location, shown, sizeof(shown));
		snprintf(why, why_size, "store %s: cannot read it", shown);
	}
	if (e == PA_OK)
		e = keyfile_load(a->cfg.data_dir, !any && !recorded, &a->keys, a->code_key, why,
		                 why_size);
	if (e == PA_OK)
		e = keys_verify(a, any, why, why_size);
	if (e != PA_OK) {
		app_close(a);
		return e;
	}
	struct password_params pp = {.opslimit = a->cfg.argon_ops,
	                             .memlimit = (size_t)a->cfg.argon_mem_kib * 1024};
	struct password_dummy d;
	e = password_dummy_init(&d, &pp);
	if (e != PA_OK) {
		snprintf(why, why_size, "password parameters: %s", pa_err_message(e));
		app_close(a);
		return e;
	}
	memcpy(a->dummy_hash, d.hash, sizeof(d.hash));
	return PA_OK;
}

void app_close(struct app *a)
{
	store_close(a->store);
	a->store = NULL;
	seal_keyring_free(a->keys);
	a->keys = NULL;
	sodium_memzero(a->code_key, sizeof(a->code_key));
}

/* ---- shared helpers -------------------------------------------------------------------- */

int64_t app_now(struct app *a)
{
	int64_t now = (int64_t)time(NULL);
#ifdef PAHARA_TESTING
	now += a->clock_offset;
#else
	(void)a;
#endif
	return now;
}

#ifdef PAHARA_TESTING
void app_test_pause(struct app *a)
{
	unsigned ms = atomic_exchange(&a->test_pause_ms, 0); /* the next request only */
	if (ms > 0) {
		/* Counted before the wait: a test waits for this rather than for some time to pass
		 * (GET /v1/test/counters). */
		atomic_fetch_add(&a->test_paused, 1);
		nanosleep(
		    &(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000},
		    NULL);
	}
}
#endif

bool app_first_party(const struct app *a, const char *client)
{
	for (unsigned i = 0; i < a->cfg.nclients; i++)
		if (strcmp(a->cfg.first_party[i], client) == 0)
			return true;
	return false;
}

unsigned app_status(enum pa_err e)
{
	switch (e) {
	case PA_OK:
		return 200;
	case PA_ERR_INVALID_CODE:
	case PA_ERR_REPLAYED_CODE:
	case PA_ERR_INVALID_CREDENTIALS:
	case PA_ERR_PASSWORD_MISMATCH:
	case PA_ERR_UNAUTHENTICATED:
		return 401;
	case PA_ERR_INACTIVE_BACKUP_CODE:
	case PA_ERR_LOGIN_ENDED:
		return 410;
	case PA_ERR_FORBIDDEN:
	case PA_ERR_REAUTH_REQUIRED:
	case PA_ERR_ACCOUNT_DISABLED:
	case PA_ERR_THIRD_PARTY_BACKUP:
		return 403;
	case PA_ERR_NOT_FOUND:
	case PA_ERR_ROUTE:
		return 404;
	case PA_ERR_CONFLICT:
	case PA_ERR_STATE:
	case PA_ERR_TOO_MANY:
	case PA_ERR_METHOD_UNAVAILABLE:
		return 409;
	case PA_ERR_RATE_LIMITED:
		return 429;
	case PA_ERR_METHOD:
		return 405;
	case PA_ERR_BODY_TOO_LARGE:
		return 413;
	case PA_ERR_MEDIA_TYPE:
		return 415;
	case PA_ERR_EXPIRED:
	case PA_ERR_ALREADY_USED:
		return 401;
	case PA_ERR_STORE:
		return 503;
	case PA_ERR_PASSWORD_POLICY:
	case PA_ERR_FIELD_INVALID:
	case PA_ERR_FIELD_MISSING:
	case PA_ERR_FIELD_UNKNOWN:
	case PA_ERR_BAD_JSON:
	case PA_ERR_INVALID_ARGUMENT:
		return 400;
	default:
		return 500;
	}
}

void app_fail(struct http_req *req, enum pa_err e)
{
	/* Replay is a wrong code to the caller: nothing tells an attacker the code was right. */
	if (e == PA_ERR_REPLAYED_CODE)
		e = PA_ERR_INVALID_CODE;
	if (e == PA_ERR_PASSWORD_MISMATCH)
		e = PA_ERR_INVALID_CREDENTIALS;
	http_reply_error(req, app_status(e), e, e == PA_ERR_STORE ? 1 : 0, NULL);
}

void app_audit_verdict(struct store_audit *au, enum pa_err verdict)
{
	snprintf(au->outcome, sizeof(au->outcome), "%s",
	         verdict == PA_ERR_REPLAYED_CODE ? "replayed_code" : pa_err_code(verdict));
}

void app_audit_init(struct store_audit *au, struct app *a, struct http_req *req, const char *event,
                    int64_t account, const char *account_name)
{
	memset(au, 0, sizeof(*au));
	au->at = app_now(a);
	au->account = account;
	/* The name as asked at sign-in (an unknown user's) and the User-Agent are the client's
	 * bytes: kept as UTF-8 without control characters, cut between two characters. */
	if (!account_name)
		account_name = "";
	utf8_repair(au->account_name, sizeof(au->account_name), account_name, strlen(account_name),
	            UTF8_NO_CONTROLS);
	snprintf(au->event, sizeof(au->event), "%s", event);
	snprintf(au->outcome, sizeof(au->outcome), "ok");
	if (req) {
		snprintf(au->ip, sizeof(au->ip), "%s", http_req_ip(req));
		const char *ua = http_req_header(req, "User-Agent");
		if (!ua)
			ua = "";
		utf8_repair(au->client, sizeof(au->client), ua, strlen(ua), UTF8_NO_CONTROLS);
	}
}

void app_audit_client(struct store_audit *au, const char *client)
{
	utf8_repair(au->client, sizeof(au->client), client, strlen(client), UTF8_NO_CONTROLS);
}

/* "Bearer TOKEN" -> TOKEN, or NULL. */
static const char *bearer(struct http_req *req)
{
	const char *h = http_req_header(req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	return h + 7;
}

/*
 * A revoked session's token used again: its holder did not end it (the account's owner ended
 * it elsewhere, or changed the password), so perhaps the token was stolen.  Audited
 * (session.revoked_use) the first time only: a throttling counter "revuse:HASH" (the first 16
 * bytes of the token's hash, in hex: a session id may be given again once its row is purged)
 * marks it done, kept as long as the session itself, so that whoever holds the token cannot
 * grow the log.
 * The caller's answer is the same 401 as for any ended session, and the audit is queued
 * without a wait: it holds up no thread.
 */
struct revoked_use {
	char key[STORE_LIMIT_KEY_MAX];
	int64_t keep_until;
	struct store_audit au;
};

static void revoked_use_key(const uint8_t token_hash[STORE_HASH_LEN], char key[STORE_LIMIT_KEY_MAX])
{
	static const char prefix[] = "revuse:";
	_Static_assert(sizeof(prefix) - 1 + 2 * 16 + 1 <= STORE_LIMIT_KEY_MAX, "key fits");
	memcpy(key, prefix, sizeof(prefix) - 1);
	sodium_bin2hex(key + sizeof(prefix) - 1, 2 * 16 + 1, token_hash, 16);
}

/* Whether the use is audited already (a marker of any size counts); false on a store error. */
static bool revoked_use_audited(struct store_tx *tx, const char *key, enum pa_err *e)
{
	uint8_t mark;
	size_t len = 0;
	*e = store_limit_get(tx, key, &mark, sizeof(mark), &len);
	return *e == PA_OK && len != 0;
}

static enum pa_err revoked_use_tx(struct store_tx *tx, void *arg)
{
	struct revoked_use *r = arg;
	enum pa_err e;
	if (revoked_use_audited(tx, r->key, &e) || e != PA_OK)
		return e; /* another request got here first */
	const uint8_t mark = 1;
	e = store_limit_put(tx, r->key, &mark, sizeof(mark), r->keep_until);
	return e == PA_OK ? store_audit_add(tx, &r->au) : e;
}

static void revoked_use_done(void *arg, enum pa_err result)
{
	struct revoked_use *r = arg;
	if (result != PA_OK)
		fprintf(stderr,
		        "pahara: audit: the use of a revoked session was not recorded (%s): %s\n",
		        r->au.detail, pa_err_code(result));
	free(r);
}

static void revoked_use(struct http_req *req, struct store_tx *rd, const struct store_session *s)
{
	struct app *a = http_req_app(req);
	char key[STORE_LIMIT_KEY_MAX];
	revoked_use_key(s->token_hash, key);
	enum pa_err e;
	if (revoked_use_audited(rd, key, &e) || e != PA_OK)
		return; /* a store error here leaves the audit to the next use */
	struct store_account acct;
	if (store_account_by_id(rd, s->account, &acct) != PA_OK)
		return;
	struct revoked_use *r = malloc(sizeof(*r));
	if (!r)
		return;
	memcpy(r->key, key, sizeof(key));
	app_audit_init(&r->au, a, req, "session.revoked_use", acct.id, acct.name);
	snprintf(r->au.outcome, sizeof(r->au.outcome), "refused");
	snprintf(r->au.detail, sizeof(r->au.detail), "session=%lld revoked_at=%lld",
	         (long long)s->id, (long long)s->revoked_at);
	/* Past the session's own purge, and never in the past (a clock set back). */
	r->keep_until = s->revoked_at + APP_KEEP_REVOKED_SESSIONS + 86400;
	if (r->keep_until < r->au.at + 86400)
		r->keep_until = r->au.at + 86400;
	store_submit(a->store, revoked_use_tx, r, revoked_use_done);
}

bool app_auth_session(struct http_req *req, struct store_session *out, struct store_account *acct)
{
	struct app *a = http_req_app(req);
	const char *tok = bearer(req);
	if (!tok || !token_valid(TOKEN_SESSION, tok)) {
		http_reply_error(req, 401, PA_ERR_UNAUTHENTICATED, 0,
		                 "send 'Authorization: Bearer TOKEN' with a session token");
		return false;
	}
	uint8_t h[TOKEN_HASH_BYTES];
	token_hash(tok, h);
	struct store_tx *rd = store_reader(a->store);
	enum pa_err e = rd ? store_session_by_token(rd, h, out) : PA_ERR_STORE;
	if (e == PA_OK && out->revoked_at != 0) {
		revoked_use(req, rd, out);
		e = PA_ERR_NOT_FOUND;
	}
	if (e == PA_OK)
		e = store_account_by_id(rd, out->account, acct);
	if (e == PA_OK && acct->disabled)
		e = PA_ERR_NOT_FOUND;
	if (e == PA_ERR_NOT_FOUND) {
		http_reply_error(req, 401, PA_ERR_UNAUTHENTICATED, 0,
		                 "the session has ended; sign in again");
		return false;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return false;
	}
	return true;
}

enum pa_err app_session_live(struct store_tx *tx, const struct store_session *s)
{
	if (!s)
		return PA_OK;
	struct store_session cur;
	enum pa_err e = store_session_by_token(tx, s->token_hash, &cur);
	if (e == PA_OK && cur.revoked_at != 0)
		e = PA_ERR_NOT_FOUND;
	struct store_account acct;
	if (e == PA_OK)
		e = store_account_by_id(tx, cur.account, &acct);
	if (e == PA_OK && acct.disabled)
		e = PA_ERR_NOT_FOUND;
	return e == PA_ERR_NOT_FOUND ? PA_ERR_UNAUTHENTICATED : e;
}

bool app_service_key(struct http_req *req, uint8_t h[TOKEN_HASH_BYTES])
{
	const char *tok = bearer(req);
	if (!tok || !token_valid(TOKEN_SESSION, tok)) {
		http_reply_error(req, 401, PA_ERR_UNAUTHENTICATED, 0,
		                 "send 'Authorization: Bearer KEY' with a service key");
		return false;
	}
	token_hash(tok, h);
	return true;
}

bool app_auth_service(struct http_req *req, struct store_service *out)
{
	struct app *a = http_req_app(req);
	uint8_t h[TOKEN_HASH_BYTES];
	if (!app_service_key(req, h))
		return false;
	struct store_tx *rd = store_reader(a->store);
	return app_service_found(req, rd ? store_service_by_key(rd, h, out) : PA_ERR_STORE, out);
}

bool app_service_found(struct http_req *req, enum pa_err e, const struct store_service *out)
{
	if (e == PA_OK && out->disabled)
		e = PA_ERR_NOT_FOUND;
	if (e == PA_ERR_NOT_FOUND) {
		http_reply_error(req, 401, PA_ERR_UNAUTHENTICATED, 0, "unknown service key");
		return false;
	}
	if (e != PA_OK) {
		app_fail(req, e);
		return false;
	}
	return true;
}
