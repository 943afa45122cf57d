/*
 * cli.h — the `pahara` command line: its subcommands and the helpers they share.
 *
 * main() (pahara.c) looks the first argument up in a table of struct cli_command and hands over
 * the rest.  Adding a subcommand is one row in that table, a file cmd_NAME.c and its two
 * prototypes below.  A subcommand parses its own options with cli_next_arg, reports problems
 * with cli_error / cli_usage_error (which name the command, so every message is
 * "pahara code: ..."), and returns an exit status.
 *
 * Conventions every subcommand keeps: long options only, each also as --option=VALUE, options
 * and operands in any order, "--" ends the options; help goes to stdout with status 0; every
 * problem goes to stderr, leaves stdout empty and exits CLI_EXIT_USAGE when the input was wrong
 * or CLI_EXIT_FAILURE when the system failed.
 */
#ifndef PAHARA_CLI_CLI_H
#define PAHARA_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef PAHARA_VERSION
#define PAHARA_VERSION "0.1.0"
#endif

/* Exit statuses of `pahara` and all of its subcommands. */
enum cli_exit {
	CLI_EXIT_OK = 0,      /* done */
	CLI_EXIT_FAILURE = 1, /* the system failed: out of memory, cannot write the output */
	CLI_EXIT_USAGE = 2,   /* bad usage or bad input: the message says what to change */
};

/* One subcommand: a row of the table in pahara.c. */
struct cli_command {
	const char *name;                  /* as typed: "code" */
	const char *summary;               /* one line for `pahara help` */
	int (*run)(int argc, char **argv); /* argv[0] is the name; returns an enum cli_exit */
	void (*help)(FILE *out);           /* the full help text */
};

/* ---- the subcommands ---- */

int cli_admin_main(int argc, char **argv);
struct app;
/* cmd_move.c: `pahara admin export FILE`, `import FILE`, `migrate` on an opened app. */
int admin_export(struct app *a, const char *prog, const char *path);
int admin_import(struct app *a, const char *prog, const char *path);
int admin_migrate(struct app *a, const char *prog);
void cli_admin_help(FILE *out);
int cli_code_main(int argc, char **argv);
void cli_code_help(FILE *out);
int cli_qr_main(int argc, char **argv);
void cli_qr_help(FILE *out);
int cli_serve_main(int argc, char **argv);
void cli_serve_help(FILE *out);

/* ---- option parsing (args.c) ---- */

/* One accepted option; a table of them ends with a row whose name is NULL. */
struct cli_option {
	const char *name; /* spelled in full with its dashes: "--digits", "-h" */
	bool has_value;   /* takes a value: "--digits 8" or "--digits=8" */
	int id;           /* what cli_next_arg returns for it; > 0 */
};

/* Where a parser stands in argv.  Start it with CLI_PARSER_INIT; it allocates nothing. */
struct cli_parser {
	const char *prog;   /* prefix of its messages: "pahara code" */
	int argc;           /* the command's argc */
	char **argv;        /* the command's argv; argv[0] is the command name */
	int next;           /* index of the next argument to look at */
	bool operands_only; /* a "--" was seen: everything after it is an operand */
};
#define CLI_PARSER_INIT(prog, argc, argv)                                                          \
	{                                                                                          \
		(prog), (argc), (argv), 1, false                                                   \
	}

/* What cli_next_arg found besides an option id. */
#define CLI_ARG_END 0      /* no arguments left */
#define CLI_ARG_OPERAND -1 /* an operand, in *value */
#define CLI_ARG_ERROR -2   /* an unknown option or a missing value; a message went to stderr */

/*
 * The next argument of p: an option's id (its value, if it takes one, in *value), an operand
 * (in *value), the end, or an error.  A lone "-" is an operand (it means standard input).
 * Options are matched exactly: no abbreviations.
 */
int cli_next_arg(struct cli_parser *p, const struct cli_option *opts, const char **value);

/*
 * Parse s as a decimal number 0..max: digits only, no sign, no spaces, no trailing text, no
 * overflow.  Returns false (and leaves *out alone) when s is anything else.
 */
bool cli_parse_u64(const char *s, uint64_t max, uint64_t *out);

/*
 * Read one line of in into buf (size bytes, NUL included), without its "\n" or "\r\n".
 * Fails (false, buf wiped) when the line does not fit, holds a NUL byte, or nothing can be
 * read.  Used to take secrets from standard input instead of the process list.
 */
bool cli_read_line(FILE *in, char *buf, size_t size);

/* ---- messages ---- */

/* Print "PROG: MESSAGE\n" to stderr. */
__attribute__((format(printf, 2, 3))) void cli_error(const char *prog, const char *fmt, ...);
/* Print "PROG: MESSAGE\n" and a pointer to --help to stderr; returns CLI_EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int cli_usage_error(const char *prog, const char *fmt, ...);

/*
 * Write text to stdout and flush it.  Returns CLI_EXIT_OK, or reports the failure (a full
 * disk, a closed pipe) as PROG's error and returns CLI_EXIT_FAILURE.
 */
int cli_write_stdout(const char *prog, const char *text);
/* Flush stdout and check that everything written to it so far arrived; same results. */
int cli_flush_stdout(const char *prog);

#endif
