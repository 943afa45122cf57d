/*
 * cmd_code.c — `pahara code`: an authenticator on the command line.
 *
 * It prints the code an authenticator app would show for a secret, from the same core code the
 * server verifies with, so its output is checked against oathtool and pyotp by the CLI tests.
 * This is the one place that reads the clock: the core takes time as a parameter.
 * Every copy of the secret (decoded bytes, HMAC states, a line read from stdin) is wiped
 * before the command returns, on every path.
 */
#include <ctype.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "core/base32.h"
#include "core/otp.h"
#include "core/otpauth.h"

#define PROG "pahara code"

enum code_opt_id {
	OPT_HELP = 1,
	OPT_TOTP,
	OPT_HOTP,
	OPT_ALGORITHM,
	OPT_DIGITS,
	OPT_PERIOD,
	OPT_TIME,
	OPT_COUNTER,
};

static const struct cli_option code_options[] = {
    {"--help", false, OPT_HELP},          {"-h", false, OPT_HELP},
    {"--totp", false, OPT_TOTP},          {"--hotp", false, OPT_HOTP},
    {"--algorithm", true, OPT_ALGORITHM}, {"--digits", true, OPT_DIGITS},
    {"--period", true, OPT_PERIOD},       {"--time", true, OPT_TIME},
    {"--counter", true, OPT_COUNTER},     {NULL, false, 0},
};

/* What the command line asked for; a has_ flag per option, so repeats and conflicts show. */
struct code_args {
	bool help;
	bool has_totp, has_hotp, has_alg, has_digits, has_period, has_time, has_counter;
	enum otp_alg alg;  /* --algorithm */
	unsigned digits;   /* --digits */
	unsigned period;   /* --period */
	int64_t time;      /* --time */
	uint64_t counter;  /* --counter */
	const char *input; /* the operand: a base32 secret, an otpauth URI, or "-" for stdin */
};

void cli_code_help(FILE *out)
{
	fputs("usage: pahara code [OPTIONS] SECRET_BASE32\n"
	      "       pahara code [--time UNIX_SECONDS | --counter N] OTPAUTH_URI\n"
	      "\n"
	      "Print the one-time code an authenticator app would show: TOTP (RFC 6238) by\n"
	      "default, or HOTP (RFC 4226).\n"
	      "\n"
	      "SECRET_BASE32 is the secret in base32 (A-Z, 2-7; lower case, spaces, dashes and\n"
	      "'=' padding are accepted).  OTPAUTH_URI is an otpauth://totp/... or\n"
	      "otpauth://hotp/... URI, as in an enrolment QR code; its parameters are used.\n"
	      "Either may be given as '-' to read it from the first line of standard input,\n"
	      "which keeps the secret out of the process list and the shell history.\n"
	      "\n"
	      "Options:\n"
	      "  --totp                 time-based code (the default)\n"
	      "  --hotp                 counter-based code; needs --counter\n"
	      "  --algorithm ALG        HMAC hash: sha1 (default), sha256 or sha512\n"
	      "  --digits N             code length: 6 (default), 7 or 8\n"
	      "  --period SECONDS       TOTP time step, 1 to 3600 (default 30)\n"
	      "  --time UNIX_SECONDS    TOTP: the moment to make the code for, in seconds since\n"
	      "                         1970-01-01 UTC (default: now)\n"
	      "  --counter N            HOTP: the counter, 0 to 18446744073709551615\n"
	      "  -h, --help             show this help\n"
	      "\n"
	      "Every option may also be written --option=VALUE.  With a URI, --time may be\n"
	      "given (TOTP) and --counter replaces the URI's counter (HOTP); any other option\n"
	      "must agree with the URI, and is an error if it does not.  --counter with TOTP,\n"
	      "and --time or --period with HOTP, are errors.\n"
	      "\n"
	      "Exit status: 0 the code was printed; 1 it could not be written; 2 bad usage or\n"
	      "bad input (the message on stderr names the problem).\n"
	      "\n"
	      "Examples:\n"
	      "  $ pahara code --time 59 --digits 8 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
	      "  94287082\n"
	      "  $ pahara code --hotp --counter 1 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
	      "  287082\n"
	      "  $ pahara code 'otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP'\n",
	      out);
}

/* A bounded number option: "--digits must be 6, 7 or 8" names the option and the range. */
static bool parse_number(const char *opt, const char *value, uint64_t min, uint64_t max,
                         const char *range, uint64_t *out)
{
	if (cli_parse_u64(value, max, out) && *out >= min)
		return true;
	cli_error(PROG, "%s must be %s, not '%s'", opt, range, value);
	return false;
}

static const char *option_name(int id)
{
	for (const struct cli_option *o = code_options; o->name; o++)
		if (o->id == id)
			return o->name;
	return "an option";
}

/* Fill a from argv; false when a message has been printed. */
static bool parse_args(int argc, char **argv, struct code_args *a)
{
	struct cli_parser p = CLI_PARSER_INIT(PROG, argc, argv);
	const char *v;
	uint64_t n;
	int id;

	while ((id = cli_next_arg(&p, code_options, &v)) != CLI_ARG_END) {
		bool *seen = NULL;

		switch (id) {
		case CLI_ARG_ERROR:
			return false;
		case CLI_ARG_OPERAND:
			if (a->input) {
				cli_usage_error(
				    PROG, "unexpected argument '%s': give one secret or URI", v);
				return false;
			}
			a->input = v;
			break;
		case OPT_HELP:
			a->help = true;
			return true;
		case OPT_TOTP:
			seen = &a->has_totp;
			break;
		case OPT_HOTP:
			seen = &a->has_hotp;
			break;
		case OPT_ALGORITHM:
			seen = &a->has_alg;
			if (otp_alg_parse(v, &a->alg) != PA_OK) {
				cli_error(PROG,
				          "--algorithm must be sha1, sha256 or sha512, not '%s'",
				          v);
				return false;
			}
			break;
		case OPT_DIGITS:
			seen = &a->has_digits;
			if (!parse_number("--digits", v, OTP_DIGITS_MIN, OTP_DIGITS_MAX,
			                  "6, 7 or 8", &n))
				return false;
			a->digits = (unsigned)n;
			break;
		case OPT_PERIOD:
			seen = &a->has_period;
			if (!parse_number("--period", v, OTP_PERIOD_MIN, OTP_PERIOD_MAX,
			                  "a whole number of seconds from 1 to 3600", &n))
				return false;
			a->period = (unsigned)n;
			break;
		case OPT_TIME:
			seen = &a->has_time;
			if (!parse_number("--time", v, 0, INT64_MAX,
			                  "a whole number of seconds from 0 to 9223372036854775807",
			                  &n))
				return false;
			a->time = (int64_t)n;
			break;
		case OPT_COUNTER:
			seen = &a->has_counter;
			if (!parse_number("--counter", v, 0, UINT64_MAX,
			                  "a whole number from 0 to 18446744073709551615", &n))
				return false;
			a->counter = n;
			break;
		}
		if (seen && *seen) {
			cli_usage_error(PROG, "%s is given more than once", option_name(id));
			return false;
		}
		if (seen)
			*seen = true;
	}
	if (!a->input) {
		cli_usage_error(PROG, "missing the secret (SECRET_BASE32 or OTPAUTH_URI)");
		return false;
	}
	if (a->has_totp && a->has_hotp) {
		cli_usage_error(PROG, "--totp and --hotp cannot be used together");
		return false;
	}
	return true;
}

/* Name one byte of a secret for a message: 'x' when printable, 0xNN otherwise. */
static void describe_char(unsigned char c, char out[8])
{
	int n =
	    isprint(c) && c < 0x80 ? snprintf(out, 8, "'%c'", c) : snprintf(out, 8, "0x%02X", c);

	if (n < 0 || n >= 8)
		out[0] = '\0'; /* cannot happen: at most 6 bytes; but never print garbage */
}

/* Decode a base32 secret into u->secret, or say exactly what is wrong with it. */
static bool decode_secret(const char *s, struct otpauth *u)
{
	size_t len = strlen(s), pos = 0;
	enum pa_err err;
	char ch[8] = "";

	err = base32_decode(s, len, u->secret, sizeof u->secret, &u->secret_len, &pos);
	if (pos < len)
		describe_char((unsigned char)s[pos], ch);
	switch (err) {
	case PA_OK:
		if (u->secret_len >= OTP_SECRET_MIN)
			return true;
		cli_error(PROG, "secret: it is empty");
		return false;
	case PA_ERR_BASE32_CHAR:
		cli_error(PROG, "secret: character %s at position %zu is not base32 (A-Z, 2-7)", ch,
		          pos + 1);
		return false;
	case PA_ERR_BASE32_LENGTH:
		cli_error(PROG, "secret: its length cannot be base32 (a character is missing or "
		                "one too many)");
		return false;
	case PA_ERR_BASE32_PADDING:
		cli_error(PROG, "secret: the '=' padding at position %zu is malformed", pos + 1);
		return false;
	case PA_ERR_BASE32_TRAILING_BITS:
		cli_error(PROG,
		          "secret: its last character %s (position %zu) has bits left over "
		          "that are not zero; is a character missing?",
		          ch, pos + 1);
		return false;
	case PA_ERR_BUFFER_TOO_SMALL:
		cli_error(PROG, "secret: longer than %d bytes", OTP_SECRET_MAX);
		return false;
	default:
		cli_error(PROG, "secret: %s", pa_err_message(err));
		return false;
	}
}

/* With a URI, options may only restate what it says (--time and --counter excepted). */
static bool check_against_uri(const struct code_args *a, const struct otpauth *u)
{
	const char *type = u->type == OTPAUTH_HOTP ? "hotp" : "totp";

	if ((a->has_totp && u->type != OTPAUTH_TOTP) || (a->has_hotp && u->type != OTPAUTH_HOTP))
		cli_error(PROG, "--%s conflicts with the URI, which is %s",
		          a->has_totp ? "totp" : "hotp", type);
	else if (a->has_alg && a->alg != u->alg)
		cli_error(PROG, "--algorithm %s conflicts with the URI's algorithm %s",
		          otp_alg_name(a->alg), otp_alg_name(u->alg));
	else if (a->has_digits && a->digits != u->digits)
		cli_error(PROG, "--digits %u conflicts with the URI's digits %u", a->digits,
		          u->digits);
	else if (a->has_period && u->type == OTPAUTH_TOTP && a->period != u->period)
		cli_error(PROG, "--period %u conflicts with the URI's period %u", a->period,
		          u->period);
	else
		return true;
	return false;
}

/* Turn the operand and the options into one complete description of the key; u is wiped by
 * the caller on every path. */
static bool resolve(const struct code_args *a, const char *input, struct otpauth *u)
{
	char why[OTPAUTH_WHY_MAX] = "";
	enum pa_err err;

	otpauth_init(u);
	if (strstr(input, "://") || strncasecmp(input, "otpauth:", 8) == 0) {
		err = otpauth_parse(input, u, why, sizeof why);
		if (err) {
			cli_error(PROG, "URI: %s", why[0] ? why : pa_err_message(err));
			return false;
		}
		if (!check_against_uri(a, u))
			return false;
	} else {
		if (!decode_secret(input, u))
			return false;
		u->type = a->has_hotp ? OTPAUTH_HOTP : OTPAUTH_TOTP;
		u->alg = a->has_alg ? a->alg : u->alg;
		u->digits = a->has_digits ? a->digits : u->digits;
		u->period = a->has_period ? a->period : u->period;
		if (u->type == OTPAUTH_HOTP && !a->has_counter) {
			cli_usage_error(PROG, "--hotp needs --counter N");
			return false;
		}
	}
	if (u->type == OTPAUTH_TOTP && a->has_counter)
		cli_usage_error(PROG, "--counter is for HOTP; a TOTP code takes --time");
	else if (u->type == OTPAUTH_HOTP && a->has_time)
		cli_usage_error(PROG, "--time is for TOTP; an HOTP code takes --counter");
	else if (u->type == OTPAUTH_HOTP && a->has_period)
		cli_usage_error(PROG, "--period is for TOTP; HOTP has no time step");
	else
		return true;
	return false;
}

/* The code for u at the moment or counter asked for, into out. */
static bool compute(const struct code_args *a, const struct otpauth *u, char out[OTP_CODE_MAX])
{
	struct otp_key key;
	uint64_t counter = a->has_counter ? a->counter : u->counter;
	enum pa_err err;

	if (u->type == OTPAUTH_TOTP) {
		/* the only clock read in Pahara's code generator: the core takes time as input */
		int64_t now = a->has_time ? a->time : (int64_t)time(NULL);

		err = otp_totp_step(now, u->period, &counter);
		if (err) {
			cli_error(PROG, "--time: %s", pa_err_message(err));
			return false;
		}
	}
	err = otp_key_init(&key, u->alg, u->digits, u->secret, u->secret_len);
	if (err) {
		otp_key_wipe(&key);
		cli_error(PROG, "%s", pa_err_message(err));
		return false;
	}
	otp_format(otp_hotp(&key, counter), u->digits, out);
	otp_key_wipe(&key);
	return true;
}

int cli_code_main(int argc, char **argv)
{
	struct code_args a = {0};
	struct otpauth u;
	char line[OTPAUTH_URI_MAX + 2]; /* a URI, its NUL, and one byte to notice a longer one */
	char code[OTP_CODE_MAX + 1];    /* the code and its newline */
	const char *input;
	bool ok;

	if (!parse_args(argc, argv, &a))
		return CLI_EXIT_USAGE;
	if (a.help) {
		cli_code_help(stdout);
		return cli_flush_stdout(PROG);
	}
	input = a.input;
	if (strcmp(input, "-") == 0) {
		if (!cli_read_line(stdin, line, sizeof line)) {
			cli_error(PROG,
			          "cannot read a secret or URI from standard input (one line of "
			          "at most %d bytes)",
			          OTPAUTH_URI_MAX);
			return CLI_EXIT_USAGE;
		}
		input = line;
	}
	ok = resolve(&a, input, &u) && compute(&a, &u, code);
	otpauth_wipe(&u);
	if (input == line)
		sodium_memzero(line, sizeof line);
	if (!ok)
		return CLI_EXIT_USAGE;
	strcat(code, "\n");
	return cli_write_stdout(PROG, code);
}
