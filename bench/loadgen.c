/*
 * loadgen.c — the load generator behind bench/verify.sh.  One thread, epoll, keep-alive
 * HTTP/1.1 connections on loopback, one request in flight per connection.
 *
 *   loadgen setup  URL KEY ACCOUNTS CONNS FILE   make ACCOUNTS accounts with code generators
 *                                                through the service API; write "name secret"
 *   loadgen verify URL KEY FILE CONNS SECONDS [STORM_CONNS STORM_USER STORM_PASSWORD]
 *                                                POST /v1/check with valid, never-repeated
 *                                                codes; optionally a storm of password
 *                                                sign-ins from other loopback addresses
 *   loadgen get    URL CONNS SECONDS              GET URL (to measure the generator itself)
 *
 * verify measures RUNS times (environment, 1 to 9, default 1), each run after the first
 * starting on a fresh 30 s step (one at which every account has two unused steps), and with
 * more than one prints each run and then their median (of an even number, the slower middle
 * run): the machine this runs on differs from minute to minute by more than most changes.  The
 * storm comes after, on a fresh step too.  The first run relies on its caller to start it on a
 * fresh step (bench/verify.sh sleeps to one).
 *
 * Every code is for a time step after the last one the account used and inside the server's
 * ±1 window, so the server must accept every one: anything but 200 is counted and reported.
 * Latency is from the first byte written to the last byte read.
 *
 * Exit status: 0, or 1 when an answer was not 200, or 2 when it could not run (a bad argument
 * or file, which it names, checked before it connects; a connection it could not make).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/base32.h"
#include "core/core.h"
#include "core/otp.h"

#define MAX_CONNS 512
#define BUF_SIZE 16384
#define LAT_MAX (8u << 20)

enum kind {
	K_CHECK, /* POST /v1/check */
	K_STORM, /* POST /v1/login */
	K_SETUP, /* create, begin, confirm */
	K_GET,   /* GET / */
};

struct account {
	char name[24];      /* "b0000001" */
	struct otp_key key; /* its generator */
	int64_t next_step;  /* the lowest step not used yet */
};

struct conn {
	int fd;         /* socket */
	enum kind kind; /* what it sends */
	char out[2048]; /* request */
	size_t out_len, out_off;
	char in[BUF_SIZE]; /* response */
	size_t in_len;
	double t0;     /* when the request started */
	long account;  /* setup: which account; check: which account */
	int phase;     /* setup: 0 create, 1 begin, 2 confirm */
	unsigned nreq; /* responses received */
};

static struct {
	char host[64];
	int ports[8]; /* URL,URL,...: the nodes of one site (same host) */
	int nports;
	unsigned next_port; /* connections go round the nodes */
	const char *path;
	const char *key;
	struct account *acc;
	long naccounts;
	long next_account; /* round robin */
	double *lat;       /* check latencies, seconds */
	size_t nlat;
	unsigned long ok, bad, storm_ok, storm_bad, exhausted;
	const char *storm_user, *storm_pw;
	FILE *out;
	long setup_done;
} g;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_to(const char *src_ip)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src_ip) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		inet_pton(AF_INET, src_ip, &sa.sin_addr);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			perror("bind");
			exit(2);
		}
	}
	int port = g.ports[g.next_port++ % (unsigned)g.nports];
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, g.host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("connect");
		exit(2);
	}
	return fd;
}

static void set_request(struct conn *c, const char *method, const char *path, const char *auth,
                        const char *body)
{
	int n =
	    snprintf(c->out, sizeof(c->out),
	             "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%sContent-Type: application/json\r\n"
	             "Content-Length: %zu\r\n\r\n%s",
	             method, path, g.host, auth ? "Authorization: Bearer " : "", auth ? auth : "",
	             auth ? "\r\n" : "", body ? strlen(body) : 0, body ? body : "");
	if (n < 0 || (size_t)n >= sizeof(c->out)) {
		fprintf(stderr, "loadgen: request too long\n");
		exit(2);
	}
	c->out_len = (size_t)n;
	c->out_off = 0;
	c->in_len = 0;
	c->t0 = now_s();
}

static void code_for(struct account *a, int64_t step, char out[OTP_CODE_MAX])
{
	otp_format(otp_hotp(&a->key, (uint64_t)step), a->key.digits, out);
}

/* The next account that still has an unused step in the window; -1 if none has. */
static long pick_account(int64_t cur)
{
	for (long tries = 0; tries < g.naccounts; tries++) {
		long i = g.next_account;
		g.next_account = (g.next_account + 1) % g.naccounts;
		struct account *a = &g.acc[i];
		/* The server's clock is at cur or just past it: cur and cur + 1 are inside its
		 * window either way. */
		if (a->next_step < cur)
			a->next_step = cur;
		if (a->next_step <= cur + 1)
			return i;
	}
	return -1;
}

/* Prepare c's next request; false when there is nothing to send now. */
static bool next_request(struct conn *c)
{
	char body[512], code[OTP_CODE_MAX], path[160];
	switch (c->kind) {
	case K_GET:
		c->out_len = (size_t)snprintf(
		    c->out, sizeof(c->out), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", g.path, g.host);
		c->out_off = 0;
		c->in_len = 0;
		c->t0 = now_s();
		return true;
	case K_CHECK: {
		int64_t cur = (int64_t)time(NULL) / 30;
		long i;
		struct account *a;
		for (;;) {
			i = pick_account(cur);
			if (i < 0) {
				g.exhausted++;
				return false;
			}
			a = &g.acc[i];
			/* A step whose code is the previous step's too (about one in a million) may
			 * have been taken already: the server takes the latest step a code matches,
			 * and so refuses the same digits in the next period.  Skip it. */
			if (otp_hotp(&a->key, (uint64_t)a->next_step) !=
			    otp_hotp(&a->key, (uint64_t)a->next_step - 1))
				break;
			a->next_step++;
		}
		code_for(a, a->next_step++, code);
		snprintf(body, sizeof(body),
		         "{\"username\":\"%s\",\"method\":\"totp\",\"code\":\"%s\"}", a->name,
		         code);
		set_request(c, "POST", "/v1/check", g.key, body);
		return true;
	}
	case K_STORM:
		snprintf(body, sizeof(body),
		         "{\"username\":\"%s\",\"password\":\"%s\",\"client\":\"web\"}",
		         g.storm_user, g.storm_pw);
		set_request(c, "POST", "/v1/login", NULL, body);
		return true;
	case K_SETUP:
		if (c->phase == 0) {
			if (g.next_account >= g.naccounts)
				return false;
			c->account = g.next_account++;
			snprintf(g.acc[c->account].name, sizeof(g.acc[0].name), "b%07ld",
			         c->account);
			snprintf(body, sizeof(body), "{\"username\":\"%s\"}",
			         g.acc[c->account].name);
			set_request(c, "POST", "/v1/service/accounts", g.key, body);
		} else if (c->phase == 1) {
			snprintf(path, sizeof(path), "/v1/service/accounts/%s/totp",
			         g.acc[c->account].name);
			set_request(c, "POST", path, g.key, NULL);
		} else {
			struct account *a = &g.acc[c->account];
			int64_t cur = (int64_t)time(NULL) / 30;
			/* Confirm with the step before now: now and now+1 stay for the bench. */
			code_for(a, cur - 1, code);
			a->next_step = cur;
			snprintf(path, sizeof(path), "/v1/service/accounts/%s/totp/confirm",
			         a->name);
			snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
			set_request(c, "POST", path, g.key, body);
		}
		return true;
	}
	return false;
}

/* A whole response in c->in?  Returns its length (headers + body) and the status. */
static size_t response_done(struct conn *c, int *status, const char **body, size_t *blen)
{
	c->in[c->in_len] = '\0';
	char *end = strstr(c->in, "\r\n\r\n");
	if (!end)
		return 0;
	size_t hdr = (size_t)(end - c->in) + 4;
	const char *cl = strcasestr(c->in, "\r\nContent-Length:");
	size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
	if (c->in_len < hdr + len)
		return 0;
	*status = atoi(c->in + 9);
	*body = c->in + hdr;
	*blen = len;
	return hdr + len;
}

static void setup_response(struct conn *c, int status, const char *body, size_t blen)
{
	struct account *a = &g.acc[c->account];
	if (c->phase == 0 && status == 201) {
		c->phase = 1;
		return;
	}
	if (c->phase == 1 && status == 200) {
		json_t *j = json_loadb(body, blen, 0, NULL);
		const char *sec = json_string_value(json_object_get(j, "secret"));
		uint8_t raw[64];
		size_t n = 0;
		if (!sec || base32_decode(sec, strlen(sec), raw, sizeof(raw), &n, NULL) != PA_OK ||
		    otp_key_init(&a->key, OTP_SHA1, 6, raw, n) != PA_OK) {
			fprintf(stderr, "loadgen: bad enrolment answer\n");
			exit(2);
		}
		fprintf(g.out, "%s %s\n", a->name, sec);
		json_decref(j);
		c->phase = 2;
		return;
	}
	if (c->phase == 2 && status == 200) {
		c->phase = 0;
		g.setup_done++;
		return;
	}
	if (c->phase == 2 && status == 401 && c->nreq++ < 3)
		return; /* crossed a step boundary: confirm again with the new previous step */
	fprintf(stderr, "loadgen: setup of %s failed at phase %d: HTTP %d %.*s\n", a->name,
	        c->phase, status, (int)blen, body);
	exit(2);
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* Write c's request whole (small, loopback: a blocking write is fine). */
static void send_request(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			perror("loadgen: write");
			exit(2);
		}
		c->out_off += (size_t)w;
	}
}

/* Start c's next request if there is one; false leaves c idle. */
static bool start(struct conn *c)
{
	c->out_len = 0;
	if (!next_request(c))
		return false;
	send_request(c);
	return true;
}

/*
 * Keep conns[0..n) busy for seconds (until every one is idle when seconds is 0).  Returns the
 * time it measured, from before the first request was written to after the last answer was
 * read: answers read after the nominal end still count, and so does their time.
 */
static double run(struct conn *conns, int n, double seconds)
{
	double t_start = now_s();
	int ep = epoll_create1(0);
	bool idle[MAX_CONNS];
	int nidle = 0;
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
		idle[i] = !start(&conns[i]);
		nidle += idle[i];
	}
	double t_end = seconds > 0 ? t_start + seconds : 1e300;
	struct epoll_event evs[64];
	while (now_s() < t_end) {
		if (seconds <= 0 && nidle == n)
			break; /* setup: all done */
		if (nidle > 0 && seconds > 0) {
			for (int i = 0; i < n; i++)
				if (idle[i] && start(&conns[i])) {
					idle[i] = false;
					nidle--;
				}
		}
		int k = epoll_wait(ep, evs, 64, nidle > 0 ? 5 : 100);
		for (int i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
			if (r <= 0) {
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				fprintf(
				    stderr,
				    "loadgen: a %s connection was closed by the server (%s; %zu "
				    "bytes of an answer read)\n",
				    c->kind == K_STORM   ? "sign-in"
				    : c->kind == K_CHECK ? "check"
				                         : "setup",
				    r < 0 ? strerror(errno) : "end of file", c->in_len);
				exit(2);
			}
			c->in_len += (size_t)r;
			int status;
			const char *body;
			size_t blen;
			if (!response_done(c, &status, &body, &blen))
				continue;
			double lat = now_s() - c->t0;
			if (c->kind == K_CHECK || c->kind == K_GET) {
				if (status == 200)
					g.ok++;
				else if (g.bad++ < 5)
					fprintf(stderr,
					        "loadgen: HTTP %d %.*s (at %.3f, for %.*s)\n",
					        status, (int)blen, body, c->t0, (int)c->out_len,
					        c->out);
				if (g.nlat < LAT_MAX)
					g.lat[g.nlat++] = lat;
			} else if (c->kind == K_STORM) {
				if (status == 200)
					g.storm_ok++;
				else if (g.storm_bad++ < 3)
					fprintf(stderr, "loadgen: storm HTTP %d %.*s\n", status,
					        (int)blen, body);
			} else {
				setup_response(c, status, body, blen);
			}
			if (!start(c)) {
				int idx = (int)(c - conns);
				idle[idx] = true;
				nidle++;
			}
		}
	}
	close(ep);
	return now_s() - t_start;
}

/* http://IP:PORT[/path], or several joined by commas (nodes of one site on one host). */
static void parse_url(const char *url)
{
	const char *u = url;
	for (g.nports = 0; u && g.nports < 8; g.nports++) {
		char host[64];
		if (sscanf(u, "http://%63[^:]:%d", host, &g.ports[g.nports]) != 2 ||
		    (g.nports > 0 && strcmp(host, g.host) != 0)) {
			fprintf(stderr,
			        "loadgen: URL must be http://IP:PORT[/path][,http://IP:PORT]...\n");
			exit(2);
		}
		memcpy(g.host, host, sizeof(host));
		u = strchr(u, ',');
		if (u)
			u++;
	}
	const char *p = strchr(url + 7, '/');
	const char *comma = strchr(url, ',');
	g.path = p && (!comma || p < comma) ? p : "/";
}

struct figures {
	double rate, p50, p99; /* ok checks/s, latencies in ms */
};

/*
 * The p-th percentile (nearest rank) of the n sorted latencies: the smallest one that at least
 * p% of them do not exceed, the ceil(p n / 100)-th.  (n * p / 100 as an index is one past it:
 * for 100 latencies it gave the largest as the 99th percentile.)
 */
static double percentile(const double *sorted, size_t n, unsigned p)
{
	if (n == 0)
		return 0;
	size_t rank = (n * p + 99) / 100;
	return sorted[rank > 0 ? rank - 1 : 0];
}

static struct figures report(const char *what, double secs)
{
	qsort(g.lat, g.nlat, sizeof(double), cmp_double);
	double p50 = percentile(g.lat, g.nlat, 50), p99 = percentile(g.lat, g.nlat, 99);
	printf("%s: %.0f req/s ok, p50 %.2f ms, p99 %.2f ms (%lu ok in %.3f s, %lu not 200, %lu "
	       "waits for a fresh step)",
	       what, g.ok / secs, p50 * 1e3, p99 * 1e3, g.ok, secs, g.bad, g.exhausted);
	if (g.storm_ok || g.storm_bad)
		printf("; storm: %.1f sign-ins/s (%lu not 200)", g.storm_ok / secs, g.storm_bad);
	printf("\n");
	fflush(stdout);
	return (struct figures){g.ok / secs, p50 * 1e3, p99 * 1e3};
}

static int cmp_figures(const void *a, const void *b)
{
	double x = ((const struct figures *)a)->rate, y = ((const struct figures *)b)->rate;
	return (x > y) - (x < y);
}

/* Wait for a 30 s step at which every account has two unused steps again (the step and the
 * next): the next step, or the one after it when the last run used some account's next step
 * too (above 20,000 checks/s for 5 s over 100,000 accounts: a run on the next step would find
 * one code, not two, for each such account, and could run out).  Then connect conns[0..n)
 * anew (the server closes connections idle that long). */
static void fresh_step(struct conn *c, int n)
{
	int64_t need = 0;
	for (long i = 0; i < g.naccounts; i++)
		if (g.acc[i].next_step > need)
			need = g.acc[i].next_step;
	do
		sleep((unsigned)(30 - time(NULL) % 30));
	while ((int64_t)time(NULL) / 30 < need);
	for (int i = 0; i < n; i++) {
		close(c[i].fd);
		c[i] = (struct conn){.fd = connect_to(NULL), .kind = K_CHECK};
	}
	g.ok = g.bad = g.exhausted = 0;
	g.nlat = 0;
}

/* argv's number named what, whole and from lo to hi; else say so and exit 2. */
static long arg_long(const char *what, const char *arg, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < lo || v > hi) {
		fprintf(stderr, "loadgen: %s must be a whole number from %ld to %ld, not '%s'\n",
		        what, lo, hi, arg);
		exit(2);
	}
	return v;
}

static void *calloc_or_exit(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(2);
	}
	return p;
}

static FILE *open_or_exit(const char *path, const char *mode)
{
	FILE *f = fopen(path, mode);
	if (!f) {
		fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return f;
}

int main(int argc, char **argv)
{
	g.lat = malloc(sizeof(double) * LAT_MAX);
	if (pa_core_init() != PA_OK || !g.lat) {
		fprintf(stderr, "loadgen: cannot start (core library, or memory)\n");
		return 2;
	}
	static struct conn conns[MAX_CONNS];
	if (argc >= 7 && strcmp(argv[1], "setup") == 0) {
		parse_url(argv[2]);
		g.key = argv[3];
		g.naccounts = arg_long("ACCOUNTS", argv[4], 1, 1 << 20);
		int n = (int)arg_long("CONNS", argv[5], 1, MAX_CONNS);
		g.acc = calloc_or_exit((size_t)g.naccounts, sizeof(*g.acc));
		g.out = open_or_exit(argv[6], "w");
		for (int i = 0; i < n; i++)
			conns[i] = (struct conn){.fd = connect_to(NULL), .kind = K_SETUP};
		double t0 = now_s();
		run(conns, n, 0);
		fclose(g.out);
		printf("setup: %ld accounts with code generators in %.1f s\n", g.setup_done,
		       now_s() - t0);
		return g.setup_done == g.naccounts ? 0 : 1;
	}
	if (argc >= 7 && strcmp(argv[1], "verify") == 0) {
		parse_url(argv[2]);
		g.key = argv[3];
		int n = (int)arg_long("CONNS", argv[5], 1, MAX_CONNS);
		double secs = (double)arg_long("SECONDS", argv[6], 1, 3600);
		int storm =
		    argc >= 10 ? (int)arg_long("STORM_CONNS", argv[7], 0, MAX_CONNS - n) : 0;
		g.storm_user = argc >= 10 ? argv[8] : NULL;
		g.storm_pw = argc >= 10 ? argv[9] : NULL;
		const char *r = getenv("RUNS");
		int runs = r ? (int)arg_long("RUNS", r, 1, 9) : 1;
		FILE *f = open_or_exit(argv[4], "r");
		g.acc = calloc_or_exit(1 << 20, sizeof(*g.acc));
		char name[64], sec[128];
		int64_t cur = (int64_t)time(NULL) / 30;
		while (g.naccounts < (1 << 20) && fscanf(f, "%63s %127s", name, sec) == 2) {
			struct account *a = &g.acc[g.naccounts++];
			uint8_t raw[64];
			size_t len = 0;
			snprintf(a->name, sizeof(a->name), "%.23s", name);
			if (base32_decode(sec, strlen(sec), raw, sizeof(raw), &len, NULL) !=
			        PA_OK ||
			    otp_key_init(&a->key, OTP_SHA1, 6, raw, len) != PA_OK) {
				fprintf(stderr, "loadgen: %s: line %ld: '%s' is not a secret\n",
				        argv[4], g.naccounts, sec);
				return 2;
			}
			a->next_step = cur; /* setup confirmed cur - 1 or earlier */
		}
		fclose(f);
		if (g.naccounts == 0) {
			fprintf(stderr, "loadgen: %s: no accounts in it\n", argv[4]);
			return 2;
		}
		for (int i = 0; i < n; i++)
			conns[i] = (struct conn){.fd = connect_to(NULL), .kind = K_CHECK};
		/* First verifications alone, then the same with the storm's connections added. */
		struct figures fig[9];
		unsigned long bad = 0;
		for (int i = 0; i < runs; i++) {
			if (i > 0)
				fresh_step(conns, n);
			double took = run(conns, n, secs);
			char what[32];
			snprintf(what, sizeof(what), runs > 1 ? "verify, run %d" : "verify", i + 1);
			fig[i] = report(what, took);
			bad += g.bad;
		}
		if (runs > 1) {
			qsort(fig, (size_t)runs, sizeof(fig[0]), cmp_figures);
			/* Of an even number of runs, the slower of the two middle ones: the
			 * latencies are one run's, so the two cannot be averaged, and the faster
			 * one would flatter (runs / 2 took it). */
			const struct figures *m = &fig[(runs - 1) / 2];
			printf(
			    "verify, median run of %d%s: %.0f req/s ok, p50 %.2f ms, p99 %.2f ms "
			    "(runs from %.0f to %.0f req/s)\n",
			    runs, runs % 2 ? "" : " (the slower middle one)", m->rate, m->p50,
			    m->p99, fig[0].rate, fig[runs - 1].rate);
		}
		g.bad = bad;
		if (storm > 0) {
			fresh_step(conns, n);
			for (int i = 0; i < storm; i++) {
				/* Each from its own loopback address, as a botnet's would be. */
				char src[32];
				snprintf(src, sizeof(src), "127.0.%d.%d", 1 + i / 250, 1 + i % 250);
				conns[n + i] =
				    (struct conn){.fd = connect_to(src), .kind = K_STORM};
			}
			report("verify during sign-in storm", run(conns, n + storm, secs));
			g.bad += bad;
		}
		return g.bad ? 1 : 0;
	}
	if (argc >= 5 && strcmp(argv[1], "get") == 0) {
		parse_url(argv[2]);
		int n = (int)arg_long("CONNS", argv[3], 1, MAX_CONNS);
		double secs = (double)arg_long("SECONDS", argv[4], 1, 3600);
		for (int i = 0; i < n; i++)
			conns[i] = (struct conn){.fd = connect_to(NULL), .kind = K_GET};
		report("get", run(conns, n, secs));
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of bench/loadgen.c\n");
	return 2;
}
