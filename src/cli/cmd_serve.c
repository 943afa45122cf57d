/*
 * cmd_serve.c — `pahara serve`: run the HTTP API until SIGTERM or SIGINT.
 *
 * Settings come from the embedded defaults, then the config file (--config), then the command
 * line (--listen, --data, --store).  Shutdown is clean: stop accepting, answer every request in
 * flight, commit what the store has queued, close.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/app.h"
#include "server/handlers.h"
#include "server/http.h"

#define PROG "pahara serve"

enum serve_opt {
	OPT_HELP = 1,
	OPT_CONFIG,
	OPT_LISTEN,
	OPT_DATA,
	OPT_STORE,
	OPT_TEST_CLOCK,
};

static const struct cli_option serve_options[] = {
    {"--help", false, OPT_HELP},
    {"-h", false, OPT_HELP},
    {"--config", true, OPT_CONFIG},
    {"--listen", true, OPT_LISTEN},
    {"--data", true, OPT_DATA},
    {"--store", true, OPT_STORE},
    {"--test-clock", false, OPT_TEST_CLOCK},
    {NULL, false, 0},
};

void cli_serve_help(FILE *out)
{
	fputs("usage: pahara serve [--config FILE] [--listen ADDR:PORT] [--data DIR]\n"
	      "                    [--store DIR|URL]\n"
	      "\n"
	      "Run the Pahara JSON API (see docs/api.md) until SIGTERM or SIGINT.\n"
	      "\n"
	      "Options:\n"
	      "  --config FILE       read settings from FILE ('key = value' lines; see\n"
	      "                      docs/operations.md for every key)\n"
	      "  --listen ADDR:PORT  where to listen (default 127.0.0.1:8080; port 0 picks a\n"
	      "                      free port and prints it)\n"
	      "  --data DIR          the data directory: SQLite file, key files (default\n"
	      "                      ./pahara-data; created 0700 on first run)\n"
	      "  --store DIR|URL     the store, when it is not the SQLite file of --data: the\n"
	      "                      SQLite file in DIR, or a postgresql:// URL (the key\n"
	      "                      files stay in the --data directory)\n"
	      "  -h, --help          show this help\n"
	      "\n"
	      "On start it prints one line 'pahara: listening on http://ADDR:PORT'.\n",
	      out);
}

static int set(char *dst, size_t size, const char *v, const char *what)
{
	if ((size_t)snprintf(dst, size, "%s", v) >= size) {
		cli_error(PROG, "%s is too long", what);
		return -1;
	}
	return 0;
}

/* Take an option's value; each at most once, as `pahara admin` and `pahara code` have it: a
 * second --config would silently drop the first file's settings. */
static bool once(const char **dst, const char *v, const char *name)
{
	if (*dst) {
		cli_usage_error(PROG, "%s is given twice", name);
		return false;
	}
	*dst = v;
	return true;
}

int cli_serve_main(int argc, char **argv)
{
	struct cli_parser p = CLI_PARSER_INIT(PROG, argc, argv);
	const char *v, *config = NULL, *listen = NULL, *data = NULL, *store = NULL;
	bool test_clock = false;
	int id;
	while ((id = cli_next_arg(&p, serve_options, &v)) != CLI_ARG_END) {
		switch (id) {
		case OPT_HELP:
			cli_serve_help(stdout);
			return cli_flush_stdout(PROG);
		case OPT_CONFIG:
			if (!once(&config, v, "--config"))
				return CLI_EXIT_USAGE;
			break;
		case OPT_LISTEN:
			if (!once(&listen, v, "--listen"))
				return CLI_EXIT_USAGE;
			break;
		case OPT_DATA:
			if (!once(&data, v, "--data"))
				return CLI_EXIT_USAGE;
			break;
		case OPT_STORE:
			if (!once(&store, v, "--store"))
				return CLI_EXIT_USAGE;
			break;
		case OPT_TEST_CLOCK:
			test_clock = true;
			break;
		case CLI_ARG_OPERAND:
			return cli_usage_error(PROG, "unexpected argument '%s'", v);
		default:
			return CLI_EXIT_USAGE;
		}
	}
	static struct app app; /* large; lives for the whole run */
	app_config_defaults(&app.cfg);
	char why[512];
	if (config && app_config_load(&app.cfg, config, why, sizeof(why)) != PA_OK)
		return cli_usage_error(PROG, "%s", why);
	if ((listen && set(app.cfg.listen, sizeof(app.cfg.listen), listen, "--listen")) ||
	    (data && set(app.cfg.data_dir, sizeof(app.cfg.data_dir), data, "--data")) ||
	    (store && set(app.cfg.store, sizeof(app.cfg.store), store, "--store")))
		return CLI_EXIT_USAGE;
	if (test_clock) {
#ifdef PAHARA_TESTING
		app.cfg.test_clock = true;
#else
		return cli_usage_error(PROG, "--test-clock exists only in test builds");
#endif
	}
	/* Block the signals in every thread; the main thread waits for them below. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (app_open(&app, why, sizeof(why)) != PA_OK) {
		cli_error(PROG, "%s", why);
		return CLI_EXIT_FAILURE;
	}
	struct http_options ho = {.listen = app.cfg.listen,
	                          .threads = app.cfg.threads,
	                          .routes = app_routes,
	                          .proxies = app.cfg.trusted_proxies,
	                          .nproxies = app.cfg.nproxies,
	                          .app = &app};
	struct http_server *srv = NULL;
	const char *w = NULL;
	if (http_start(&ho, &srv, &w) != PA_OK) {
		cli_error(PROG, "%s: %s", app.cfg.listen, w);
		app_close(&app);
		return CLI_EXIT_FAILURE;
	}
	char host[128];
	snprintf(host, sizeof(host), "%s", app.cfg.listen);
	char *colon = strrchr(host, ':');
	if (colon)
		*colon = '\0';
	printf("pahara: listening on http://%s:%u\n", host, http_port(srv));
	fflush(stdout);
	/* Wait for a signal; housekeeping runs in between (on this thread: it only waits for
	 * the store's writer). */
	int sig = -1;
	while (sig < 0) {
		struct timespec ts = {.tv_sec = HOUSEKEEP_INTERVAL};
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig < 0 && errno == EAGAIN) {
			unsigned n = 0;
			if (app_housekeep(&app, &n) != PA_OK)
				fprintf(stderr, "pahara: housekeeping failed; will try again\n");
		} else if (sig < 0 && errno != EINTR) {
			cli_error(PROG, "waiting for signals: %s", strerror(errno));
			sig = SIGTERM;
		}
	}
	fprintf(stderr, "pahara: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	http_stop(srv);
	app_close(&app);
	return CLI_EXIT_OK;
}
