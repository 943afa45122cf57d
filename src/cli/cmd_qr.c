/*
 * cmd_qr.c — `pahara qr`: the QR code of an otpauth:// URI, for an authenticator app to scan.
 *
 * Only otpauth URIs are drawn, and only ones that parse: a QR code an authenticator cannot enrol
 * (a bare secret pasted by mistake, a URI with a typo) is always a mistake, and it is better
 * caught here than by the person holding the phone.  The URI is encoded exactly as given, not
 * rebuilt, so a scanner reads back the very same text.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/otpauth.h"
#include "core/qr.h"

#define PROG "pahara qr"
/* byte-mode capacity of the largest QR code at level M; the UTF-8 designator (ECI) that raw
 * UTF-8 needs (core/qr.c) takes the room of one byte */
#define QR_LEVEL_M_BYTES_MAX 2331
#define QR_LEVEL_M_UTF8_BYTES_MAX 2330

enum qr_opt_id {
	OPT_HELP = 1,
	OPT_INVERT,
	OPT_SVG,
};

static const struct cli_option qr_options[] = {
    {"--help", false, OPT_HELP}, {"-h", false, OPT_HELP}, {"--invert", false, OPT_INVERT},
    {"--svg", false, OPT_SVG},   {NULL, false, 0},
};

void cli_qr_help(FILE *out)
{
	fputs("usage: pahara qr [--invert] OTPAUTH_URI\n"
	      "       pahara qr --svg OTPAUTH_URI\n"
	      "\n"
	      "Print the QR code of an otpauth:// URI for an authenticator app (Google\n"
	      "Authenticator, Aegis, FreeOTP) to scan.  The URI must parse (the same checks\n"
	      "as 'pahara code'); it is encoded exactly as given.  Other text is refused: a\n"
	      "QR code that no authenticator can enrol is always a mistake.  A QR code holds\n"
	      "at most 2331 bytes at the error correction level used (M), or 2330 when the\n"
	      "URI has UTF-8 that is not percent-encoded.\n"
	      "\n"
	      "By default the code is drawn in the terminal with UTF-8 half blocks, light\n"
	      "modules as blocks: right for light text on a dark background.\n"
	      "\n"
	      "Options:\n"
	      "  --invert     draw dark modules as blocks instead, for dark text on a light\n"
	      "               background (if your phone does not scan the code, try this)\n"
	      "  --svg        print an SVG document instead, for a web page or a file; it\n"
	      "               has no fixed size, so give it one (CSS width, or\n"
	      "               rsvg-convert -w 400)\n"
	      "  -h, --help   show this help\n"
	      "\n"
	      "OTPAUTH_URI may be given as '-' to read it from the first line of standard\n"
	      "input, which keeps its secret out of the process list and the shell history.\n"
	      "\n"
	      "Exit status: 0 the code was printed; 1 it could not be written; 2 bad usage or\n"
	      "bad input (the message on stderr names the problem).\n"
	      "\n"
	      "Examples:\n"
	      "  $ pahara qr 'otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP'\n"
	      "  $ pahara qr --svg 'otpauth://totp/Example:alice?secret=JBSWY3DP' > qr.svg\n",
	      out);
}

/* Say that uri is too long for a QR code, and how long it may be. */
static void too_long(const char *uri)
{
	bool utf8 = false;

	for (const char *c = uri; *c; c++)
		utf8 |= (unsigned char)*c >= 0x80;
	if (utf8)
		cli_error(PROG,
		          "URI: %zu bytes is too long for a QR code (at most %d when it has "
		          "UTF-8 that is not percent-encoded)",
		          strlen(uri), QR_LEVEL_M_UTF8_BYTES_MAX);
	else
		cli_error(PROG, "URI: %zu bytes is too long for a QR code (at most %d)",
		          strlen(uri), QR_LEVEL_M_BYTES_MAX);
}

/* Check that uri is an otpauth URI worth drawing; false when a message has been printed. */
static bool check_uri(const char *uri)
{
	struct otpauth u;
	char why[OTPAUTH_WHY_MAX] = "";
	enum pa_err err = otpauth_parse(uri, &u, why, sizeof why);

	otpauth_wipe(&u);
	if (err != PA_OK) {
		cli_error(PROG, "URI: %s", why[0] ? why : pa_err_message(err));
		return false;
	}
	if (strlen(uri) > QR_LEVEL_M_BYTES_MAX) {
		too_long(uri);
		return false;
	}
	return true;
}

static int draw(const char *uri, bool svg, bool invert)
{
	char *out = NULL;
	enum pa_err err;
	int status;

	if (!check_uri(uri))
		return CLI_EXIT_USAGE;
	err = svg ? qr_svg_new(uri, &out) : qr_utf8_new(uri, invert, &out);
	if (err == PA_ERR_INVALID_ARGUMENT) {
		/* the URI parsed, so it is not empty: it is longer than a QR code holds (2331
		 * bytes of raw UTF-8 get here) */
		too_long(uri);
		return CLI_EXIT_USAGE;
	}
	if (err) {
		cli_error(PROG, "cannot draw the QR code: %s", pa_err_message(err));
		return CLI_EXIT_FAILURE;
	}
	status = cli_write_stdout(PROG, out);
	/* the drawing encodes the secret as much as the URI does */
	sodium_memzero(out, strlen(out));
	free(out);
	return status;
}

int cli_qr_main(int argc, char **argv)
{
	struct cli_parser p = CLI_PARSER_INIT(PROG, argc, argv);
	char line[OTPAUTH_URI_MAX + 2]; /* a URI, its NUL, and one byte to notice a longer one */
	const char *uri = NULL, *v;
	bool svg = false, invert = false;
	int id, status;

	while ((id = cli_next_arg(&p, qr_options, &v)) != CLI_ARG_END) {
		switch (id) {
		case CLI_ARG_ERROR:
			return CLI_EXIT_USAGE;
		case CLI_ARG_OPERAND:
			if (uri)
				return cli_usage_error(PROG,
				                       "unexpected argument '%s': give one URI "
				                       "(quote it for the shell)",
				                       v);
			uri = v;
			break;
		case OPT_HELP:
			cli_qr_help(stdout);
			return cli_flush_stdout(PROG);
		case OPT_INVERT:
			invert = true;
			break;
		case OPT_SVG:
			svg = true;
			break;
		}
	}
	if (svg && invert)
		return cli_usage_error(PROG, "--invert is for the terminal drawing, not --svg");
	if (!uri)
		return cli_usage_error(PROG, "missing the otpauth:// URI");
	if (strcmp(uri, "-") != 0)
		return draw(uri, svg, invert);
	if (!cli_read_line(stdin, line, sizeof line)) {
		cli_error(PROG,
		          "cannot read a URI from standard input (one line of at most %d bytes)",
		          OTPAUTH_URI_MAX);
		return CLI_EXIT_USAGE;
	}
	status = draw(line, svg, invert);
	sodium_memzero(line, sizeof line);
	return status;
}
