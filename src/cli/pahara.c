/*
 * pahara.c — main() of `pahara`: start the core, then hand the arguments to a subcommand.
 *
 * The subcommands are rows of the table below; main knows nothing else about them.  To add
 * one (`serve`, `admin`), write src/cli/cmd_NAME.c with its run and help functions, declare
 * them in cli.h and add a row here.
 */
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"

static const struct cli_command commands[] = {
    {"admin", "accounts, service keys, the audit log, support recovery", cli_admin_main,
     cli_admin_help},
    {"code", "print the one-time code of a base32 secret or an otpauth:// URI", cli_code_main,
     cli_code_help},
    {"qr", "print the QR code of an otpauth:// URI, for a terminal or as SVG", cli_qr_main,
     cli_qr_help},
    {"serve", "run the HTTP API", cli_serve_main, cli_serve_help},
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fputs("usage: pahara COMMAND [ARGUMENTS]\n"
	      "       pahara help [COMMAND]\n"
	      "       pahara --version\n"
	      "\n"
	      "Pahara is a two-factor authentication service.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("  help     show this help, or with COMMAND that command's help\n"
	      "\n"
	      "Options:\n"
	      "  -h, --help     show this help\n"
	      "  -V, --version  print the version\n"
	      "\n"
	      "'pahara COMMAND --help' explains every option of COMMAND.\n"
	      "Exit status: 0 done, 1 a system failure, 2 bad usage or bad input.\n",
	      out);
}

/* `pahara help [COMMAND]` */
static int help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 3) {
		usage(stdout);
		return cli_flush_stdout("pahara");
	}
	cmd = find_command(argv[2]);
	if (argc > 3 || !cmd) {
		cli_error("pahara help", "no such command '%s'", argv[argc > 3 ? 3 : 2]);
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	cmd->help(stdout);
	return cli_flush_stdout("pahara");
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (pa_core_init() != PA_OK) {
		cli_error("pahara", "cannot start: the system random source failed");
		return CLI_EXIT_FAILURE;
	}
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return help(argc, argv);
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
		return cli_write_stdout("pahara", "pahara " PAHARA_VERSION "\n");
	cmd = find_command(argv[1]);
	if (!cmd) {
		if (argv[1][0] == '-')
			cli_error("pahara", "unknown option '%s'", argv[1]);
		else
			cli_error("pahara", "unknown command '%s'", argv[1]);
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return cmd->run(argc - 1, argv + 1);
}
