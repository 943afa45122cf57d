/*
 * args.c — option parsing and messages shared by every `pahara` subcommand; see cli.h.
 *
 * Not getopt_long: it accepts abbreviations ("--dig 8"), keeps its state in globals that each
 * subcommand would have to reset, and words its messages its own way.  This parser is small,
 * exact and re-entrant.
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>

#include "cli/cli.h"

int cli_next_arg(struct cli_parser *p, const struct cli_option *opts, const char **value)
{
	const char *arg, *eq;
	size_t name_len;

	*value = NULL;
	if (p->next >= p->argc)
		return CLI_ARG_END;
	arg = p->argv[p->next++];
	if (!p->operands_only && strcmp(arg, "--") == 0) {
		p->operands_only = true;
		return cli_next_arg(p, opts, value);
	}
	if (p->operands_only || arg[0] != '-' || arg[1] == '\0') {
		*value = arg;
		return CLI_ARG_OPERAND;
	}
	eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
	name_len = eq ? (size_t)(eq - arg) : strlen(arg);
	for (const struct cli_option *o = opts; o->name; o++) {
		if (strlen(o->name) != name_len || memcmp(o->name, arg, name_len) != 0)
			continue;
		if (!o->has_value) {
			if (eq) {
				cli_usage_error(p->prog, "%s takes no value", o->name);
				return CLI_ARG_ERROR;
			}
			return o->id;
		}
		if (eq) {
			*value = eq + 1;
		} else if (p->next < p->argc) {
			*value = p->argv[p->next++];
		} else {
			cli_usage_error(p->prog, "%s needs a value", o->name);
			return CLI_ARG_ERROR;
		}
		return o->id;
	}
	cli_usage_error(p->prog, "unknown option '%.*s'", (int)name_len, arg);
	return CLI_ARG_ERROR;
}

bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return false;
		d = (unsigned)(*s - '0');
		/* n * 10 + d <= max, asked without overflowing */
		if (d > max || n > (max - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

bool cli_read_line(FILE *in, char *buf, size_t size)
{
	size_t len = 0;
	int c;

	if (size == 0)
		return false;
	/* byte by byte: a NUL inside the line must be seen, not silently end the string */
	while ((c = getc(in)) != EOF && c != '\n') {
		if (c == '\0' || len + 1 >= size) {
			sodium_memzero(buf, size);
			return false;
		}
		buf[len++] = (char)c;
	}
	if (ferror(in) || (c == EOF && len == 0)) {
		sodium_memzero(buf, size);
		return false;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return true;
}

void cli_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return CLI_EXIT_USAGE;
}

static int write_failed(const char *prog)
{
	cli_error(prog, "cannot write the output: %s", strerror(errno ? errno : EIO));
	return CLI_EXIT_FAILURE;
}

int cli_write_stdout(const char *prog, const char *text)
{
	errno = 0;
	if (fputs(text, stdout) == EOF)
		return write_failed(prog);
	return cli_flush_stdout(prog);
}

int cli_flush_stdout(const char *prog)
{
	/* ferror also catches a failure of an earlier, unchecked write */
	errno = 0;
	if (fflush(stdout) == EOF || ferror(stdout))
		return write_failed(prog);
	return CLI_EXIT_OK;
}
