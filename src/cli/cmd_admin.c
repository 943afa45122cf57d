/*
 * cmd_admin.c — `pahara admin`: what an operator or support person does (DESIGN §1): make
 * accounts and service keys, look at accounts and the audit log, disable an account, and
 * recover one whose owner lost every second factor (DESIGN §2).
 *
 * It opens the same store and key files as `pahara serve` (app_open), and may run while the
 * server does: SQLite in WAL mode lets both read, and each change is one short store_write
 * that waits behind the server's batches.  The slow part (Argon2id) runs before the
 * transaction.  Every change is audited with client "admin" and no address.
 *
 * It never prints a password hash, a sealed secret or a code or token hash.  The one secret it
 * shows is a new service key: once, alone on the last line, written past stdio's buffer and
 * wiped.  Text read from the store is printed escaped (control characters, backslashes and
 * bytes that are not UTF-8 as \t \n \r \\ \xHH), because audit fields such as the client come
 * from request headers and must not reach the operator's terminal raw.
 *
 * Not for: anything the account holder does for themselves (that is the API), and it never
 * creates a data directory: a mistyped --data must not start a second store with its own
 * master key.
 */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/otp.h"
#include "core/password.h"
#include "core/token.h"
#include "server/app.h"
#include "server/handlers.h"

#define PROG "pahara admin"
#define ADMIN_REASON_MAX 200 /* bytes of --reason (it must fit the audit detail) */
#define ADMIN_WORDS_MAX 3    /* operands: "user add NAME" */
#define ADMIN_PROG_MAX 64    /* "pahara admin service add" with its NUL */
/* A password line: one byte more than the policy allows, so that a long one is refused by
 * the policy (with its message) rather than by the reader. */
#define ADMIN_PASSWORD_BUF (PASSWORD_MAX_BYTES + 2)

enum admin_opt {
	OPT_HELP = 1,
	OPT_CONFIG,
	OPT_DATA,
	OPT_STORE,
	OPT_USER,
	OPT_SINCE,
	OPT_REASON,
	OPT__COUNT
};

static const struct cli_option admin_options[] = {
    {"--help", false, OPT_HELP},  {"-h", false, OPT_HELP},        {"--config", true, OPT_CONFIG},
    {"--data", true, OPT_DATA},   {"--store", true, OPT_STORE},   {"--user", true, OPT_USER},
    {"--since", true, OPT_SINCE}, {"--reason", true, OPT_REASON}, {NULL, false, 0},
};

/* What the command line said.  Options may come before, between or after the words. */
struct admin_args {
	bool help;                          /* --help anywhere */
	const char *opt[OPT__COUNT];        /* value of each option that takes one; NULL = absent */
	unsigned nwords;                    /* operands in words */
	const char *words[ADMIN_WORDS_MAX]; /* "user", "add", "alice" */
};

struct admin_run;

/* One command: a row of the table below. */
struct admin_cmd {
	const char *group;               /* first word: "user" */
	const char *action;              /* second word, or NULL when the group is the command */
	const char *operand;             /* "NAME" or "FILE": one operand follows; NULL: none */
	unsigned options;                /* its own options: bits 1u << OPT_* */
	const char *synopsis;            /* after "pahara admin [OPTIONS] " */
	const char *summary;             /* one line (two at most) for the command list */
	const char *about;               /* the paragraph of its own help */
	const char *own_options;         /* help lines of its own options, or "" */
	int (*run)(struct admin_run *r); /* returns an enum cli_exit */
};

/* A command at work. */
struct admin_run {
	struct app *app;               /* opened */
	const char *prog;              /* "pahara admin user add": prefix of messages */
	const char *name;              /* the NAME operand, or NULL */
	const struct admin_args *args; /* the command line */
	int64_t since;                 /* audit: --since, parsed (0 = from the start) */
};

/* ---- help ------------------------------------------------------------------------------ */

#define COMMON_OPTIONS                                                                             \
	"  --data DIR         the data directory of 'pahara serve': SQLite file and key\n"         \
	"                     files (default ./pahara-data); it must exist already\n"              \
	"  --config FILE      read settings from FILE ('key = value' lines), as\n"                 \
	"                     'pahara serve --config FILE' does\n"                                 \
	"  --store DIR|URL    the store, when it is not the SQLite file of --data: the\n"          \
	"                     SQLite file in DIR, or a postgresql:// URL\n"

#define HELP_OPTION "  -h, --help         show this help\n"

#define HELP_FOOTER                                                                                \
	"\n"                                                                                       \
	"Options may come before or after the command words; each may also be written\n"           \
	"--option=VALUE.  The server may keep running meanwhile.\n"                                \
	"\n"                                                                                       \
	"Exit status: 0 done; 1 a system failure (the store or the key files cannot be\n"          \
	"opened, the output cannot be written); 2 bad usage or bad input (the message on\n"        \
	"stderr names the problem, and nothing was changed).\n"

static int run_user_add(struct admin_run *r);
static int run_user_list(struct admin_run *r);
static int run_user_show(struct admin_run *r);
static int run_user_disable(struct admin_run *r);
static int run_service_add(struct admin_run *r);
static int run_audit(struct admin_run *r);
static int run_recover(struct admin_run *r);
static int run_export(struct admin_run *r);
static int run_import(struct admin_run *r);
static int run_migrate(struct admin_run *r);

static const struct admin_cmd admin_commands[] = {
    {"user", "add", "NAME", 0, "user add NAME", "create an account with a password",
     "Create the account NAME (1 to 64 of A-Z a-z 0-9 . _ @ + -) with a password.\n"
     "When standard input is not a terminal, the password is its first line; on a\n"
     "terminal it is asked for twice, without echo, and both must match.  A password\n"
     "is 8 to 1024 bytes of UTF-8 (sign-in takes no other); it is hashed with\n"
     "Argon2id under the configured parameters (argon2_passes, argon2_memory_kib).\n"
     "Prints 'created NAME'.  Audited as account.create.\n",
     "", run_user_add},
    {"user", "list", NULL, 0, "user list",
     "one line per account: NAME, two-factor on|off,\n"
     "                     enabled|disabled, created (UTC), tab-separated",
     "Print one line per account, in name order, with four tab-separated fields: the\n"
     "name, 'two-factor on' or 'two-factor off', 'enabled' or 'disabled', and when it\n"
     "was created (ISO 8601, UTC: 2025-01-31T14:05:00Z).  No accounts, no lines.\n",
     "", run_user_list},
    {"user", "show", "NAME", 0, "user show NAME",
     "an account's state: two-factor, code generator,\n"
     "                     backup codes, sessions (never a secret)",
     "Print the state of account NAME, one 'field: value' line each: name, id,\n"
     "created, disabled, two-factor, service (the relying site that made it, if any),\n"
     "code generator (none, pending confirmation, or confirmed with the last accepted\n"
     "time step and the drift seen then), active backup codes, live sessions.\n"
     "Secrets, password hashes and code hashes are never printed.\n",
     "", run_user_show},
    {"user", "disable", "NAME", 0, "user disable NAME",
     "refuse the account at sign-in; end all its sessions\n"
     "                     and pending sign-ins",
     "Disable account NAME: sign-in is refused from now on, and every session and\n"
     "pending sign-in of the account ends at once.  On an account that is disabled\n"
     "already, it ends any left.  Audited as account.disable.\n",
     "", run_user_disable},
    {"service", "add", "NAME", 0, "service add NAME",
     "register a relying site; its key is printed once,\n"
     "                     alone on the last line",
     "Register the relying site NAME (1 to 64 of A-Z a-z 0-9 . _ @ + -) and make its\n"
     "service key, which the site sends as 'Authorization: Bearer KEY' to\n"
     "/v1/service/... and /v1/check.  The key is printed once, alone on the last line,\n"
     "so that 'pahara admin service add NAME | tail -n1' gives just the key.  Pahara\n"
     "keeps only its SHA-256 hash: a lost key cannot be shown again.  Audited as\n"
     "service.create.\n",
     "", run_service_add},
    {"audit", NULL, NULL, (1u << OPT_USER) | (1u << OPT_SINCE),
     "audit [--user NAME] [--since TIME]",
     "the audit log, oldest first, one tab-separated line\n"
     "                     per event",
     "Print the audit log, oldest first, one line per event with seven tab-separated\n"
     "fields: time (ISO 8601, UTC), event, outcome, account name, IP address, client,\n"
     "detail.  An empty field is printed as '-'; tabs, newlines, backslashes, other\n"
     "control characters, Unicode format characters (such as bidirectional controls\n"
     "and zero-width spaces), line and paragraph separators, and bytes that are not\n"
     "UTF-8 are printed as \\t \\n \\\\ \\xHH.\n",
     "  --user NAME        audit: only the events of account NAME\n"
     "  --since TIME       audit: only the events at or after TIME: unix seconds,\n"
     "                     YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ (UTC)\n",
     run_audit},
    {"recover", NULL, "NAME", 1u << OPT_REASON, "recover NAME --reason TEXT",
     "support recovery: remove every second factor, turn\n"
     "                     two-factor off, end all sessions and temporary passwords",
     "Support recovery, for a person who lost their phone and has no active backup\n"
     "code; run it only after checking their identity out of band.  In one\n"
     "transaction the code generator is removed, every backup code retired, every\n"
     "temporary password revoked, two-factor turned off, every session and pending\n"
     "sign-in ended and the failed-code lockout cleared; it is audited as\n"
     "account.recover with the reason.  The person then signs in with username and\n"
     "password alone and sets two-factor up again.  Pahara has no channel to notify\n"
     "them yet (text messages come later): tell them yourself.\n",
     "  --reason TEXT      recover: why, for the audit log (required): 1 to 200 bytes\n"
     "                     of UTF-8 without control characters, e.g. a ticket number\n",
     run_recover},
    {"export", NULL, "FILE", 0, "export FILE",
     "copy the whole store into FILE (new, mode 0600),\n"
     "                     for 'import' into another store",
     "Copy every row of the store, as stored, into FILE (which must not exist; '-' is\n"
     "standard output), one JSON object per line, from one consistent snapshot: the\n"
     "server may keep running.  Sealed secrets stay sealed and hashes stay hashes, so\n"
     "the file is useful only with this data directory's master.key and codehash.key.\n"
     "Audited as store.export.\n",
     "", run_export},
    {"import", NULL, "FILE", 0, "import FILE",
     "load an export into this store, which must be empty",
     "Load FILE, made by 'export' (from SQLite or PostgreSQL), into this store, which\n"
     "must be empty and at the same schema version; copy master.key and codehash.key\n"
     "from the source data directory into this one first (the import checks them).  It\n"
     "is one transaction: a truncated or altered file changes nothing.  Audited as\n"
     "store.import.\n",
     "", run_import},
    {"migrate", NULL, NULL, 0, "migrate", "bring the store's schema up to this version of Pahara",
     "Apply every schema migration the store lacks (opening a store does this too;\n"
     "run it before starting new server nodes on a shared PostgreSQL store) and print\n"
     "the schema version.\n",
     "", run_migrate},
};
#define ADMIN_COMMAND_COUNT (sizeof admin_commands / sizeof admin_commands[0])

/* The help of every command of group (NULL: of all), with the options they take. */
static void help_list(FILE *out, const char *group)
{
	const char *lead = "usage:";
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT; i++) {
		const struct admin_cmd *c = &admin_commands[i];
		if (group && strcmp(c->group, group) != 0)
			continue;
		fprintf(out, "%-6s pahara admin [OPTIONS] %s\n", lead, c->synopsis);
		lead = "";
	}
	fputs("\n"
	      "Operator and support tasks on the store that 'pahara serve' uses.\n"
	      "Every change is written to the audit log with client 'admin'.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT; i++) {
		const struct admin_cmd *c = &admin_commands[i];
		char words[32];
		if (group && strcmp(c->group, group) != 0)
			continue;
		snprintf(words, sizeof(words), "%s%s%s%s%s", c->group, c->action ? " " : "",
		         c->action ? c->action : "", c->operand ? " " : "",
		         c->operand ? c->operand : "");
		fprintf(out, "  %-18s %s\n", words, c->summary);
	}
	fputs("\nOptions:\n" COMMON_OPTIONS, out);
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT; i++)
		if (!group || strcmp(admin_commands[i].group, group) == 0)
			fputs(admin_commands[i].own_options, out);
	fputs(HELP_OPTION, out);
	fputs("\n'pahara admin COMMAND --help' explains one command.\n" HELP_FOOTER, out);
	if (!group)
		fputs(
		    "\n"
		    "Examples:\n"
		    "  $ pahara admin --data /var/lib/pahara user add alice < password-file\n"
		    "  created alice\n"
		    "  $ KEY=$(pahara admin --data /var/lib/pahara service add site1 | tail -n1)\n"
		    "  $ pahara admin audit --user alice --since 2025-01-31\n"
		    "  $ pahara admin recover alice --reason 'ticket 4711: lost phone, ID seen'\n",
		    out);
}

static void help_one(FILE *out, const struct admin_cmd *c)
{
	fprintf(out,
	        "usage: pahara admin [OPTIONS] %s\n\n%s\nOptions:\n%s" COMMON_OPTIONS HELP_OPTION
	            HELP_FOOTER,
	        c->synopsis, c->about, c->own_options);
}

void cli_admin_help(FILE *out)
{
	help_list(out, NULL);
}

/* ---- small helpers --------------------------------------------------------------------- */

/* Length (1..4) of the well-formed UTF-8 sequence that starts s (n bytes left), and its code
 * point; 0 if none does (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* A control character, C0, DEL or C1: what may not go to a terminal raw. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/*
 * A Unicode format character (general category Cf) or the line or paragraph separator (Zl,
 * Zp), as of Unicode 15.  Invisible, they still change what a terminal shows: bidirectional
 * embeddings, overrides and isolates reorder the text after them, even into the next column;
 * zero-width characters and tags hide text; the separators may end a line.
 */
static bool is_format(uint32_t cp)
{
	static const struct {
		uint32_t first, last;
	} ranges[] = {
	    {0x00ad, 0x00ad},   {0x0600, 0x0605},   {0x061c, 0x061c},   {0x06dd, 0x06dd},
	    {0x070f, 0x070f},   {0x0890, 0x0891},   {0x08e2, 0x08e2},   {0x180e, 0x180e},
	    {0x200b, 0x200f},   {0x2028, 0x202e},   {0x2060, 0x2064},   {0x2066, 0x206f},
	    {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
	    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001},
	    {0xe0020, 0xe007f},
	};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (cp >= ranges[i].first && cp <= ranges[i].last)
			return true;
	return false;
}

/* Print s to stdout so that it cannot break a line or a column, reorder what follows, nor
 * drive the terminal: "-" when empty; \t \n \r \\, and \xHH for each byte of the other
 * control characters and of the format characters and separators (is_format), and for bytes
 * that are not UTF-8. */
static void put_field(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	if (n == 0) {
		fputc('-', stdout);
		return;
	}
	while (n > 0) {
		uint32_t cp = 0;
		size_t len = utf8_seq(p, n, &cp);
		if (len > 0 && !is_control(cp) && !is_format(cp) && cp != '\\') {
			fwrite(p, 1, len, stdout);
		} else if (len == 1 && (cp == '\t' || cp == '\n' || cp == '\r' || cp == '\\')) {
			fputc('\\', stdout);
			fputc(cp == '\t'   ? 't'
			      : cp == '\n' ? 'n'
			      : cp == '\r' ? 'r'
			                   : '\\',
			      stdout);
		} else {
			/* a control or format character (every byte of it) or a byte that is not
			 * UTF-8 */
			if (len == 0)
				len = 1;
			for (size_t i = 0; i < len; i++)
				printf("\\x%02X", p[i]);
		}
		p += len;
		n -= len;
	}
}

/* t as ISO 8601 UTC, "2025-01-31T14:05:00Z"; "@T" if the calendar cannot hold it. */
static void iso_time(int64_t t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "@%lld", (long long)t);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s, as a number. */
static bool digits(const char *s, unsigned n, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* --since: unix seconds, "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ". */
static bool parse_time(const char *s, int64_t *out)
{
	static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	uint64_t secs;
	unsigned y, mo, d, h = 0, mi = 0, sec = 0;
	size_t len = strlen(s);

	if (cli_parse_u64(s, INT64_MAX, &secs)) {
		*out = (int64_t)secs;
		return true;
	}
	if (len != 10 && len != 20)
		return false;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d))
		return false;
	if (len == 20 &&
	    (s[10] != 'T' || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	     s[16] != ':' || !digits(s + 17, 2, &sec) || s[19] != 'Z'))
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
	    mi > 59 || sec > 59)
		return false;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return true;
}

/* The offset of the first byte of s that does not begin a valid UTF-8 sequence; SIZE_MAX when
 * s is UTF-8 throughout. */
static size_t utf8_invalid_at(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), off = 0;
	while (off < n) {
		uint32_t cp;
		size_t len = utf8_seq(p + off, n - off, &cp);
		if (len == 0)
			return off;
		off += len;
	}
	return SIZE_MAX;
}

/* --reason: 1..ADMIN_REASON_MAX bytes of UTF-8 without control characters. */
static bool reason_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	if (n == 0 || n > ADMIN_REASON_MAX)
		return false;
	while (n > 0) {
		uint32_t cp;
		size_t len = utf8_seq(p, n, &cp);
		if (len == 0 || is_control(cp))
			return false;
		p += len;
		n -= len;
	}
	return true;
}

/* An audit record of an admin action: client "admin", no address. */
static void audit_init(struct store_audit *au, struct app *a, const char *event, int64_t account,
                       const char *account_name)
{
	app_audit_init(au, a, NULL, event, account, account_name);
	snprintf(au->client, sizeof(au->client), "admin");
}

static int store_failed(const char *prog, enum pa_err e)
{
	cli_error(prog, "the store failed: %s", pa_err_message(e));
	return CLI_EXIT_FAILURE;
}

static int no_account(const char *prog, const char *name)
{
	cli_error(prog, "no account named '%s'", name);
	return CLI_EXIT_USAGE;
}

/* Look name up in the calling thread's read context. */
static enum pa_err account_get(struct admin_run *r, const char *name, struct store_account *acct)
{
	struct store_tx *rd = store_reader(r->app->store);
	return rd ? store_account_by_name(rd, name, acct) : PA_ERR_STORE;
}

/* The same, with the message of a failure out and its exit status in *rc. */
static bool account_lookup(struct admin_run *r, const char *name, struct store_account *acct,
                           int *rc)
{
	enum pa_err e = account_get(r, name, acct);
	if (e == PA_OK)
		return true;
	*rc = e == PA_ERR_NOT_FOUND ? no_account(r->prog, name) : store_failed(r->prog, e);
	return false;
}

/* ---- passwords from a terminal --------------------------------------------------------- */

/*
 * While a password is typed with echo off, a signal that ends the process must first turn
 * echo back on, or the operator's shell is left blind.  The handler needs the saved settings,
 * so they are the one piece of global state here, set before the flag that arms it.
 */
static struct termios tty_saved;
static volatile sig_atomic_t tty_echo_off;

static void tty_on_signal(int sig)
{
	if (tty_echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
		(void)!write(STDERR_FILENO, "\n", 1);
	}
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when the handler returns: the process ends as it would have */
}

static const int tty_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define TTY_SIGNAL_COUNT (sizeof tty_signals / sizeof tty_signals[0])

/* Ask twice with echo off; both answers must match.  pw holds ADMIN_PASSWORD_BUF bytes. */
static int tty_password(const char *prog, const char *name, char *pw, char *again)
{
	struct sigaction sa = {.sa_handler = tty_on_signal}, old[TTY_SIGNAL_COUNT];
	struct termios off;
	if (tcgetattr(STDIN_FILENO, &tty_saved) != 0) {
		cli_error(prog, "cannot read the terminal's settings: %s", strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < TTY_SIGNAL_COUNT; i++)
		sigaction(tty_signals[i], &sa, &old[i]);
	off = tty_saved;
	off.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	off.c_lflag |= ECHONL;
	tty_echo_off = 1;
	bool set = tcsetattr(STDIN_FILENO, TCSAFLUSH, &off) == 0;
	int rc = CLI_EXIT_OK;
	if (!set) {
		cli_error(prog, "cannot turn the terminal's echo off: %s", strerror(errno));
		rc = CLI_EXIT_FAILURE;
	}
	if (rc == CLI_EXIT_OK) {
		fprintf(stderr, "Password for %s: ", name);
		if (!cli_read_line(stdin, pw, ADMIN_PASSWORD_BUF))
			rc = CLI_EXIT_USAGE;
	}
	if (rc == CLI_EXIT_OK) {
		fputs("Same password again: ", stderr);
		if (!cli_read_line(stdin, again, ADMIN_PASSWORD_BUF))
			rc = CLI_EXIT_USAGE;
	}
	if (set)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty_saved);
	tty_echo_off = 0;
	for (size_t i = 0; i < TTY_SIGNAL_COUNT; i++)
		sigaction(tty_signals[i], &old[i], NULL);
	if (rc == CLI_EXIT_USAGE) {
		cli_error(prog, "no password given (or one longer than %d bytes)",
		          PASSWORD_MAX_BYTES);
		return rc;
	}
	if (rc == CLI_EXIT_OK && strcmp(pw, again) != 0) {
		cli_error(prog, "the two passwords differ; nothing was changed");
		return CLI_EXIT_USAGE;
	}
	return rc;
}

/* The new password: the first line of stdin, or asked for on the terminal.  Policy-checked. */
static int read_password(const char *prog, const char *name, char *pw, char *again)
{
	int rc;
	if (isatty(STDIN_FILENO)) {
		rc = tty_password(prog, name, pw, again);
		if (rc != CLI_EXIT_OK)
			return rc;
	} else if (!cli_read_line(stdin, pw, ADMIN_PASSWORD_BUF)) {
		if (ferror(stdin)) {
			cli_error(prog, "cannot read standard input: %s", strerror(errno));
			return CLI_EXIT_FAILURE;
		}
		if (feof(stdin))
			cli_error(prog, "no password on standard input: give it as its first line");
		else
			cli_error(prog,
			          "the password on standard input is longer than %d bytes or "
			          "holds a NUL byte",
			          PASSWORD_MAX_BYTES);
		return CLI_EXIT_USAGE;
	}
	if (password_policy_check(pw, strlen(pw)) != PA_OK) {
		cli_error(prog, "the password must be %d to %d bytes, not %zu", PASSWORD_MIN_BYTES,
		          PASSWORD_MAX_BYTES, strlen(pw));
		return CLI_EXIT_USAGE;
	}
	/* Sign-in carries the password in JSON, which holds UTF-8 only: other bytes (a Latin-1
	 * terminal or file) would make a password that can never be entered. */
	size_t bad = utf8_invalid_at(pw);
	if (bad != SIZE_MAX) {
		cli_error(prog,
		          "the password is not UTF-8 (byte %zu of it is 0x%02X): sign-in takes "
		          "UTF-8 only, so it could never be entered; nothing was changed",
		          bad + 1, (unsigned char)pw[bad]);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* ---- user add -------------------------------------------------------------------------- */

struct user_add {
	struct app *app;                 /* opened */
	const char *name;                /* the new account */
	char pwhash[PASSWORD_HASH_SIZE]; /* its password hash */
	int64_t id;                      /* out */
};

static enum pa_err user_add_tx(struct store_tx *tx, void *arg)
{
	struct user_add *ua = arg;
	enum pa_err e =
	    store_account_create(tx, ua->name, ua->pwhash, 0, app_now(ua->app), &ua->id);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	audit_init(&au, ua->app, "account.create", ua->id, ua->name);
	return store_audit_add(tx, &au);
}

static int name_taken(const char *prog, const char *what, const char *name)
{
	cli_error(prog, "%s named '%s' exists already", what, name);
	return CLI_EXIT_USAGE;
}

static int run_user_add(struct admin_run *r)
{
	struct store_account acct;
	int rc = CLI_EXIT_OK;
	/* Asked before the password is: a taken name should not cost the operator a typing.  The
	 * transaction asks again (the server may make the same name meanwhile). */
	enum pa_err e = account_get(r, r->name, &acct);
	if (e == PA_OK)
		return name_taken(r->prog, "an account", r->name);
	if (e != PA_ERR_NOT_FOUND)
		return store_failed(r->prog, e);
	char *pw = sodium_malloc(ADMIN_PASSWORD_BUF), *again = sodium_malloc(ADMIN_PASSWORD_BUF);
	struct user_add ua = {.app = r->app, .name = r->name};
	if (!pw || !again) {
		cli_error(r->prog, "out of memory");
		rc = CLI_EXIT_FAILURE;
	} else {
		rc = read_password(r->prog, r->name, pw, again);
	}
	if (rc == CLI_EXIT_OK) {
		struct password_params pp = {.opslimit = r->app->cfg.argon_ops,
		                             .memlimit = (size_t)r->app->cfg.argon_mem_kib * 1024};
		e = password_hash(&pp, pw, strlen(pw), ua.pwhash);
		if (e != PA_OK) {
			cli_error(r->prog, "cannot hash the password: %s", pa_err_message(e));
			rc = CLI_EXIT_FAILURE;
		}
	}
	if (pw)
		sodium_free(pw); /* wipes */
	if (again)
		sodium_free(again);
	if (rc != CLI_EXIT_OK)
		return rc;
	e = store_write(r->app->store, user_add_tx, &ua);
	sodium_memzero(ua.pwhash, sizeof(ua.pwhash));
	if (e == PA_ERR_CONFLICT)
		return name_taken(r->prog, "an account", r->name);
	if (e != PA_OK)
		return store_failed(r->prog, e);
	printf("created %s\n", r->name);
	return cli_flush_stdout(r->prog);
}

/* ---- user list ------------------------------------------------------------------------- */

static bool list_one(void *arg, const struct store_account *a)
{
	char created[40];
	(void)arg;
	iso_time(a->created_at, created, sizeof(created));
	put_field(a->name);
	printf("\ttwo-factor %s\t%s\t%s\n", a->twofactor ? "on" : "off",
	       a->disabled ? "disabled" : "enabled", created);
	return !ferror(stdout);
}

static int run_user_list(struct admin_run *r)
{
	struct store_tx *rd = store_reader(r->app->store);
	enum pa_err e = rd ? store_account_list(rd, list_one, NULL) : PA_ERR_STORE;
	if (e != PA_OK)
		return store_failed(r->prog, e);
	return cli_flush_stdout(r->prog);
}

/* ---- user show ------------------------------------------------------------------------- */

static bool count_session(void *arg, const struct store_session *s)
{
	(void)s;
	(*(unsigned *)arg)++;
	return true;
}

struct service_find {
	int64_t id;                    /* wanted */
	char name[STORE_NAME_MAX + 1]; /* out: "" if none */
};

static bool service_match(void *arg, const struct store_service *s)
{
	struct service_find *sf = arg;
	if (s->id != sf->id)
		return true;
	snprintf(sf->name, sizeof(sf->name), "%s", s->name);
	return false;
}

static void show_line(const char *field, const char *value)
{
	printf("%-16s", field);
	put_field(value);
	fputc('\n', stdout);
}

static int run_user_show(struct admin_run *r)
{
	struct store_account acct;
	struct store_totp t;
	struct service_find sf = {0};
	unsigned backup = 0, sessions = 0;
	int rc = CLI_EXIT_OK;
	if (!account_lookup(r, r->name, &acct, &rc))
		return rc;
	struct store_tx *rd = store_reader(r->app->store);
	enum pa_err te = store_totp_get(rd, acct.id, &t);
	enum pa_err e = te == PA_ERR_NOT_FOUND ? PA_OK : te;
	if (e == PA_OK)
		e = factors_backup_active(rd, acct.id, &backup);
	if (e == PA_OK)
		e = store_session_list(rd, acct.id, count_session, &sessions);
	if (e == PA_OK && acct.service_id != 0) {
		sf.id = acct.service_id;
		e = store_service_list(rd, service_match, &sf);
	}
	if (e != PA_OK)
		return store_failed(r->prog, e);

	char buf[160], when[40];
	show_line("name:", acct.name);
	printf("%-16s%lld\n", "id:", (long long)acct.id);
	iso_time(acct.created_at, when, sizeof(when));
	show_line("created:", when);
	show_line("disabled:", acct.disabled ? "yes" : "no");
	show_line("two-factor:", acct.twofactor ? "on" : "off");
	if (acct.service_id != 0) {
		if (sf.name[0])
			snprintf(buf, sizeof(buf), "%s (id %lld)", sf.name, (long long)sf.id);
		else
			snprintf(buf, sizeof(buf), "id %lld (no longer listed)", (long long)sf.id);
		show_line("service:", buf);
	}
	if (te == PA_ERR_NOT_FOUND) {
		show_line("code generator:", "none");
	} else {
		const char *alg = otp_alg_name((enum otp_alg)t.alg);
		snprintf(buf, sizeof(buf), "%s, %s, %u digits, %u s",
		         t.confirmed ? "confirmed" : "pending confirmation",
		         alg ? alg : "unknown algorithm", t.digits, t.period);
		show_line("code generator:", buf);
		if (t.has_last) {
			iso_time(t.last_step * (int64_t)t.period, when, sizeof(when));
			snprintf(buf, sizeof(buf), "step %lld (%s), drift %+d step%s",
			         (long long)t.last_step, when, t.drift,
			         t.drift == 1 || t.drift == -1 ? "" : "s");
		} else {
			snprintf(buf, sizeof(buf), "none yet");
		}
		show_line("last accepted:", buf);
	}
	printf("%-16s%u active\n", "backup codes:", backup);
	printf("%-16s%u live\n", "sessions:", sessions);
	return cli_flush_stdout(r->prog);
}

/* ---- user disable ---------------------------------------------------------------------- */

struct user_disable {
	struct app *app;   /* opened */
	const char *name;  /* which */
	bool was_disabled; /* out */
	unsigned ended;    /* out: sessions revoked */
};

static enum pa_err user_disable_tx(struct store_tx *tx, void *arg)
{
	struct user_disable *ud = arg;
	struct store_account acct;
	int64_t now = app_now(ud->app);
	enum pa_err e = store_account_by_name(tx, ud->name, &acct);
	if (e != PA_OK)
		return e;
	ud->was_disabled = acct.disabled;
	e = store_account_set_disabled(tx, acct.id, true);
	if (e == PA_OK)
		e = store_session_revoke_all(tx, acct.id, 0, now, &ud->ended);
	if (e == PA_OK)
		e = store_login_end_all(tx, acct.id, STORE_LOGIN_FAILED, NULL);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	audit_init(&au, ud->app, "account.disable", acct.id, acct.name);
	snprintf(au.detail, sizeof(au.detail), "sessions_ended=%u%s", ud->ended,
	         ud->was_disabled ? " already_disabled" : "");
	return store_audit_add(tx, &au);
}

static int run_user_disable(struct admin_run *r)
{
	struct user_disable ud = {.app = r->app, .name = r->name};
	enum pa_err e = store_write(r->app->store, user_disable_tx, &ud);
	if (e == PA_ERR_NOT_FOUND)
		return no_account(r->prog, r->name);
	if (e != PA_OK)
		return store_failed(r->prog, e);
	printf("%s %s; %u session%s ended\n", ud.was_disabled ? "already disabled:" : "disabled",
	       r->name, ud.ended, ud.ended == 1 ? "" : "s");
	return cli_flush_stdout(r->prog);
}

/* ---- service add ----------------------------------------------------------------------- */

struct service_add {
	struct app *app;        /* opened */
	struct store_service s; /* the new service (key hash only) */
};

static enum pa_err service_add_tx(struct store_tx *tx, void *arg)
{
	struct service_add *sa = arg;
	enum pa_err e = store_service_add(tx, &sa->s);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	audit_init(&au, sa->app, "service.create", 0, NULL);
	snprintf(au.detail, sizeof(au.detail), "service=%s id=%lld", sa->s.name,
	         (long long)sa->s.id);
	return store_audit_add(tx, &au);
}

/* All of buf to fd, straight: a secret that never sits in stdio's buffer. */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static int run_service_add(struct admin_run *r)
{
	struct service_add sa = {.app = r->app};
	char key[TOKEN_SESSION_SIZE + 1]; /* with its "\n" */
	snprintf(sa.s.name, sizeof(sa.s.name), "%s", r->name);
	sa.s.created_at = app_now(r->app);
	if (token_generate(TOKEN_SESSION, key, TOKEN_SESSION_SIZE) != PA_OK) {
		cli_error(r->prog, "cannot make a key: the system random source failed");
		return CLI_EXIT_FAILURE;
	}
	token_hash(key, sa.s.key_hash);
	enum pa_err e = store_write(r->app->store, service_add_tx, &sa);
	if (e != PA_OK) {
		sodium_memzero(key, sizeof(key));
		if (e == PA_ERR_CONFLICT)
			return name_taken(r->prog, "a service", r->name);
		return store_failed(r->prog, e);
	}
	printf("created service %s (id %lld)\n"
	       "Its key is on the next line, shown this once: Pahara keeps only its hash.\n"
	       "The site sends it as 'Authorization: Bearer KEY'.\n",
	       r->name, (long long)sa.s.id);
	int rc = cli_flush_stdout(r->prog);
	size_t len = strlen(key);
	key[len++] = '\n';
	if (rc == CLI_EXIT_OK && !write_all(STDOUT_FILENO, key, len)) {
		cli_error(r->prog, "cannot write the key: %s", strerror(errno ? errno : EIO));
		rc = CLI_EXIT_FAILURE;
	}
	sodium_memzero(key, sizeof(key));
	if (rc != CLI_EXIT_OK)
		cli_error(r->prog,
		          "service '%s' exists but its key was not shown; it cannot be "
		          "shown again",
		          r->name);
	return rc;
}

/* ---- audit ----------------------------------------------------------------------------- */

static bool audit_one(void *arg, const struct store_audit *a)
{
	char when[40];
	(void)arg;
	iso_time(a->at, when, sizeof(when));
	fputs(when, stdout);
	const char *fields[] = {a->event, a->outcome, a->account_name, a->ip, a->client, a->detail};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		fputc('\t', stdout);
		put_field(fields[i]);
	}
	fputc('\n', stdout);
	return !ferror(stdout);
}

static int run_audit(struct admin_run *r)
{
	const char *user = r->args->opt[OPT_USER];
	struct store_account acct = {0};
	int rc = CLI_EXIT_OK;
	if (user && !account_lookup(r, user, &acct, &rc))
		return rc;
	struct store_tx *rd = store_reader(r->app->store);
	enum pa_err e =
	    rd ? store_audit_list(rd, acct.id, r->since, audit_one, NULL) : PA_ERR_STORE;
	if (e != PA_OK)
		return store_failed(r->prog, e);
	return cli_flush_stdout(r->prog);
}

/* ---- recover --------------------------------------------------------------------------- */

struct recover {
	struct app *app;           /* opened */
	const char *name;          /* whose */
	const char *reason;        /* for the audit log */
	struct store_account acct; /* out: as it was */
	bool had_totp;             /* out: a code generator was removed */
	unsigned retired;          /* out: backup codes retired */
	unsigned ended;            /* out: sessions revoked */
};

/* DESIGN §2: reset two-factor and end every session, in one transaction, audited. */
static enum pa_err recover_tx(struct store_tx *tx, void *arg)
{
	struct recover *rc = arg;
	struct store_totp t;
	int64_t now = app_now(rc->app);
	enum pa_err e = store_account_by_name(tx, rc->name, &rc->acct);
	if (e == PA_OK)
		e = store_account_lock(tx, rc->acct.id, &rc->acct);
	if (e != PA_OK)
		return e;
	e = store_totp_get(tx, rc->acct.id, &t);
	rc->had_totp = e == PA_OK;
	if (e != PA_OK && e != PA_ERR_NOT_FOUND)
		return e;
	e = factors_backup_active(tx, rc->acct.id, &rc->retired);
	if (e == PA_OK)
		e = factors_reset(tx, rc->acct.id);
	if (e == PA_OK)
		e = store_session_revoke_all(tx, rc->acct.id, 0, now, &rc->ended);
	if (e == PA_OK)
		e = store_login_end_all(tx, rc->acct.id, STORE_LOGIN_FAILED, NULL);
	if (e == PA_OK)
		e = limits_account_reset(tx, rc->acct.id);
	if (e != PA_OK)
		return e;
	struct store_audit au;
	audit_init(&au, rc->app, "account.recover", rc->acct.id, rc->acct.name);
	/* "totp=1 backup_retired=5 sessions_ended=4294967295 reason=" + 200 bytes fits 256 */
	int n = snprintf(au.detail, sizeof(au.detail),
	                 "totp=%d backup_retired=%u sessions_ended=%u "
	                 "reason=%s",
	                 rc->had_totp, rc->retired, rc->ended, rc->reason);
	if (n < 0 || (size_t)n >= sizeof(au.detail))
		return PA_ERR_INTERNAL;
	return store_audit_add(tx, &au);
}

static int run_recover(struct admin_run *r)
{
	struct recover rc = {.app = r->app, .name = r->name, .reason = r->args->opt[OPT_REASON]};
	enum pa_err e = store_write(r->app->store, recover_tx, &rc);
	if (e == PA_ERR_NOT_FOUND)
		return no_account(r->prog, r->name);
	if (e != PA_OK)
		return store_failed(r->prog, e);
	printf("recovered %s:\n", r->name);
	printf("  code generator: %s\n", rc.had_totp ? "removed" : "none was set up");
	printf("  backup codes:   %u retired\n", rc.retired);
	printf("  two-factor:     off (was %s)\n", rc.acct.twofactor ? "on" : "off");
	printf("  sessions:       %u ended\n", rc.ended);
	printf("  temporary passwords: all revoked; failed-code lockout: cleared\n");
	if (rc.acct.disabled)
		printf("  account:        still disabled\n");
	printf("  audited as account.recover\n"
	       "no notification channel on file (text messages come later): tell %s\n"
	       "yourself that two-factor is off and that they should turn it on again.\n",
	       r->name);
	return cli_flush_stdout(r->prog);
}

/* ---- the command line ------------------------------------------------------------------ */

static const char *option_name(int id)
{
	for (const struct cli_option *o = admin_options; o->name; o++)
		if (o->id == id)
			return o->name;
	return "an option";
}

/* Fill a from argv; returns CLI_EXIT_OK or the exit status of a message already printed. */
static int parse_args(int argc, char **argv, struct admin_args *a)
{
	struct cli_parser p = CLI_PARSER_INIT(PROG, argc, argv);
	const char *v;
	int id;
	while ((id = cli_next_arg(&p, admin_options, &v)) != CLI_ARG_END) {
		switch (id) {
		case CLI_ARG_ERROR:
			return CLI_EXIT_USAGE;
		case CLI_ARG_OPERAND:
			if (a->nwords == ADMIN_WORDS_MAX)
				return cli_usage_error(PROG, "unexpected argument '%s'", v);
			a->words[a->nwords++] = v;
			break;
		case OPT_HELP:
			a->help = true;
			break;
		default:
			if (id <= 0 || id >= OPT__COUNT)
				return CLI_EXIT_USAGE;
			if (a->opt[id])
				return cli_usage_error(PROG, "%s is given twice", option_name(id));
			a->opt[id] = v;
			break;
		}
	}
	return CLI_EXIT_OK;
}

static bool is_group(const char *word)
{
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT; i++)
		if (strcmp(admin_commands[i].group, word) == 0)
			return true;
	return false;
}

/* The actions of group, "add, list, show or disable", into buf. */
static const char *actions_of(const char *group, char *buf, size_t size)
{
	size_t n = 0, count = 0, done = 0;
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT; i++)
		count += strcmp(admin_commands[i].group, group) == 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT && n < size; i++) {
		const struct admin_cmd *c = &admin_commands[i];
		if (strcmp(c->group, group) != 0)
			continue;
		done++;
		n += (size_t)snprintf(buf + n, size - n, "%s%s",
		                      done == 1       ? ""
		                      : done == count ? " or "
		                                      : ", ",
		                      c->action);
	}
	return buf;
}

/* The command the words name.  NULL with *rc set when there is none: help was printed (a
 * group's, or all of it, *rc = OK) or a message (*rc = USAGE). */
static const struct admin_cmd *resolve(const struct admin_args *a, int *rc)
{
	char buf[80];
	*rc = CLI_EXIT_USAGE;
	if (a->nwords == 0) {
		if (a->help) {
			cli_admin_help(stdout);
			*rc = cli_flush_stdout(PROG);
			return NULL;
		}
		cli_usage_error(
		    PROG,
		    "say which command: user, service, audit, recover, export, import or migrate");
		return NULL;
	}
	const char *group = a->words[0];
	if (!is_group(group)) {
		cli_usage_error(PROG, "unknown command '%s'", group);
		return NULL;
	}
	for (size_t i = 0; i < ADMIN_COMMAND_COUNT; i++) {
		const struct admin_cmd *c = &admin_commands[i];
		if (strcmp(c->group, group) != 0)
			continue;
		if (!c->action)
			return c;
		if (a->nwords >= 2 && strcmp(c->action, a->words[1]) == 0)
			return c;
	}
	if (a->nwords < 2 && a->help) {
		help_list(stdout, group);
		*rc = cli_flush_stdout(PROG);
		return NULL;
	}
	if (a->nwords < 2)
		cli_usage_error(PROG, "'%s' needs one of: %s", group,
		                actions_of(group, buf, sizeof(buf)));
	else
		cli_usage_error(PROG, "unknown command '%s %s': '%s' takes %s", group, a->words[1],
		                group, actions_of(group, buf, sizeof(buf)));
	return NULL;
}

static int run_export(struct admin_run *r)
{
	return admin_export(r->app, r->prog, r->name);
}

static int run_import(struct admin_run *r)
{
	return admin_import(r->app, r->prog, r->name);
}

static int run_migrate(struct admin_run *r)
{
	return admin_migrate(r->app, r->prog);
}

/* Everything that can be checked before the store is opened.  r->name and r->since are set. */
static int check_args(const struct admin_cmd *c, struct admin_run *r)
{
	const struct admin_args *a = r->args;
	unsigned used = c->action ? 2 : 1;
	if (c->operand) {
		if (a->nwords <= used)
			return cli_usage_error(r->prog, "missing %s", c->operand);
		r->name = a->words[used++];
	}
	bool file = c->operand && strcmp(c->operand, "FILE") == 0;
	if (a->nwords > used)
		return cli_usage_error(r->prog, "unexpected argument '%s'", a->words[used]);
	for (int id = OPT_USER; id < OPT__COUNT; id++)
		if (a->opt[id] && !(c->options & (1u << id)))
			return cli_usage_error(r->prog, "%s is not an option of this command",
			                       option_name(id));
	bool creates = c->action && strcmp(c->action, "add") == 0;
	if (creates && !app_username_ok(r->name))
		return cli_usage_error(
		    r->prog, "'%s' is not a valid name: use 1 to %d of A-Z a-z 0-9 . _ @ + -",
		    r->name, APP_USERNAME_MAX);
	if (!creates && !file && r->name && !app_username_ok(r->name))
		return no_account(r->prog, r->name);
	if (a->opt[OPT_USER] && !app_username_ok(a->opt[OPT_USER]))
		return no_account(r->prog, a->opt[OPT_USER]);
	if (a->opt[OPT_SINCE] && !parse_time(a->opt[OPT_SINCE], &r->since))
		return cli_usage_error(r->prog,
		                       "--since must be unix seconds, YYYY-MM-DD or "
		                       "YYYY-MM-DDTHH:MM:SSZ (UTC), not '%s'",
		                       a->opt[OPT_SINCE]);
	if (c->options & (1u << OPT_REASON)) {
		if (!a->opt[OPT_REASON])
			return cli_usage_error(r->prog, "--reason TEXT is required: say why, for "
			                                "the audit log");
		if (!reason_ok(a->opt[OPT_REASON]))
			return cli_usage_error(r->prog,
			                       "--reason must be 1 to %d bytes of UTF-8 "
			                       "without control characters",
			                       ADMIN_REASON_MAX);
	}
	return CLI_EXIT_OK;
}

/* A directory that must exist: admin never makes a new store or new keys by mistake. */
static int check_dir(const char *prog, const char *dir, const char *what)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return CLI_EXIT_OK;
		cli_error(prog, "%s '%s' is not a directory", what, dir);
		return CLI_EXIT_USAGE;
	}
	if (errno == ENOENT || errno == ENOTDIR) {
		cli_error(prog,
		          "%s '%s' does not exist: give --data DIR of the server ('pahara "
		          "serve' makes it on its first run)",
		          what, dir);
		return CLI_EXIT_USAGE;
	}
	cli_error(prog, "%s '%s': %s", what, dir, strerror(errno));
	return CLI_EXIT_FAILURE;
}

static int set(const char *prog, char *dst, size_t size, const char *v, const char *what)
{
	if ((size_t)snprintf(dst, size, "%s", v) >= size)
		return cli_usage_error(prog, "%s is too long", what);
	return CLI_EXIT_OK;
}

/* Settings as `pahara serve` reads them: defaults, --config, then --data and --store.  An
 * import may make this data directory's keys the store's while it has no account (app.h). */
static int open_app(struct admin_run *r, bool import)
{
	struct app *app = r->app;
	const struct admin_args *a = r->args;
	char why[512];
	int rc;
	app_config_defaults(&app->cfg);
	if (a->opt[OPT_CONFIG] &&
	    app_config_load(&app->cfg, a->opt[OPT_CONFIG], why, sizeof(why)) != PA_OK)
		return cli_usage_error(r->prog, "%s", why);
	app->cfg.import_keys = import;
	if (a->opt[OPT_DATA] && (rc = set(r->prog, app->cfg.data_dir, sizeof(app->cfg.data_dir),
	                                  a->opt[OPT_DATA], "--data")) != CLI_EXIT_OK)
		return rc;
	if (a->opt[OPT_STORE] && (rc = set(r->prog, app->cfg.store, sizeof(app->cfg.store),
	                                   a->opt[OPT_STORE], "--store")) != CLI_EXIT_OK)
		return rc;
	if ((rc = check_dir(r->prog, app->cfg.data_dir, "the data directory")) != CLI_EXIT_OK)
		return rc;
	if (app->cfg.store[0] && !strstr(app->cfg.store, "://") &&
	    (rc = check_dir(r->prog, app->cfg.store, "the store directory")) != CLI_EXIT_OK)
		return rc;
	if (app_open(app, why, sizeof(why)) != PA_OK) {
		cli_error(r->prog, "%s", why);
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

int cli_admin_main(int argc, char **argv)
{
	static struct app app; /* large */
	struct admin_args a = {0};
	char prog[ADMIN_PROG_MAX];
	int rc = parse_args(argc, argv, &a);
	if (rc != CLI_EXIT_OK)
		return rc;
	const struct admin_cmd *c = resolve(&a, &rc);
	if (!c)
		return rc;
	if (a.help) {
		help_one(stdout, c);
		return cli_flush_stdout(PROG);
	}
	snprintf(prog, sizeof(prog), PROG " %s%s%s", c->group, c->action ? " " : "",
	         c->action ? c->action : "");
	struct admin_run r = {.app = &app, .prog = prog, .args = &a};
	rc = check_args(c, &r);
	if (rc != CLI_EXIT_OK)
		return rc;
	/* A closed pipe is a write error that is reported, not a silent death mid-way. */
	signal(SIGPIPE, SIG_IGN);
	rc = open_app(&r, c->run == run_import);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = c->run(&r);
	app_close(&app);
	return rc;
}
