/*
 * http.c — see http.h.  The parts:
 *   request life: access_handler() collects the body, routes, runs or dispatches the handler,
 *     and queues the reply once it exists; the reply may come from another thread, so a
 *     request is suspended until it does (struct http_req's lock and flags order that).
 *   stopping: the server counts requests from their first byte to their reply's last, so that
 *     http_stop() can wait for every reply to be written before it stops libmicrohttpd, and
 *     never stops it while a connection is suspended (libmicrohttpd aborts the process then).
 *   pools: two small FIFO thread pools for blocking handlers.
 *   JSON: body parsing and field checks, error bodies.
 *
 * libmicrohttpd 0.9.75 (Debian 12) is what this is written against; two of its habits shape it:
 *   - Its epoll loop, when one epoll_wait() returns a full batch (128 events), waits again, with
 *     the full timeout, before handling them.  When 128 connections of one HTTP thread are ready
 *     at once (all answered by one group commit, say), nothing else comes, and the thread
 *     sleeps until a connection times out.  So the daemon runs its poll loop, which waits once.
 *   - It decodes %XX in the path in place and hands over a C string, so a decoded %00 would end
 *     the path early; unescape() keeps %00 as it is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/utf8.h"
#include "server/http.h"

#define HTTP_DISCARD_MAX (1024 * 1024) /* body bytes we read and drop before closing */
#define HTTP_COOKIES_MAX 2

/* ---- thread pools ---------------------------------------------------------------------- */

/*
 * A pool runs requests' handlers FIFO on a fixed set of threads.  Invariant: every request in
 * the queue has been suspended (or will be, before it is answered — see req_dispatch).
 */
struct pool_item {
	struct http_req *req;   /* the request whose handler to run */
	struct pool_item *next; /* FIFO link */
};

struct pool {
	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t wake;    /* signalled when an item is queued or on stop */
	struct pool_item *head; /* next to run */
	struct pool_item *tail; /* last queued */
	bool stopping;          /* set by pool_stop: threads exit once the queue is empty */
	int nice;               /* CPU priority for the threads (0 or positive = lower) */
	unsigned nthreads;      /* threads started */
	pthread_t *threads;     /* their ids */
};

/* ---- requests and the server ----------------------------------------------------------- */

enum req_phase {
	REQ_RECEIVING = 0, /* reading the body */
	REQ_HANDLING,      /* the handler has it */
	REQ_ANSWERED,      /* a reply exists (maybe not yet queued) */
	REQ_QUEUED,        /* the reply went to libmicrohttpd */
};

struct http_req {
	struct http_server *srv;        /* owner */
	struct MHD_Connection *conn;    /* the connection it came on */
	pthread_mutex_t lock;           /* orders the reply against suspension */
	enum req_phase phase;           /* see enum */
	bool suspended;                 /* MHD_suspend_connection has been called */
	bool parked;                    /* in srv->parked until libmicrohttpd takes it back */
	char method[8];                 /* "GET", "POST", ... */
	char *path;                     /* the URL path (owned) */
	char *body;                     /* collected body (owned) */
	size_t body_len;                /* bytes in body */
	size_t discarded;               /* body bytes over the cap that were dropped */
	bool too_large;                 /* the body went over HTTP_BODY_MAX */
	bool framing_conflict;          /* its head disagrees on where the body ends */
	json_t *json;                   /* parsed body (owned) */
	const struct http_route *route; /* matched route */
	unsigned nparams;               /* placeholders matched */
	const char *param_names[HTTP_PARAMS_MAX];         /* into route->pattern, not NUL-ended */
	size_t param_name_lens[HTTP_PARAMS_MAX];          /* their lengths */
	char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX + 1]; /* decoded values */
	char ip[HTTP_IP_MAX];                             /* client address */
	unsigned status;                                  /* reply status */
	char *reply;                                      /* reply body (owned) */
	size_t reply_len;                                 /* its length */
	unsigned retry_after;                             /* seconds, 0 = none */
	char *cookies[HTTP_COOKIES_MAX];                  /* Set-Cookie values (owned) */
	unsigned ncookies;                                /* how many */
	char allow[64];                                   /* methods for a 405's Allow header */
};

struct http_server {
	struct MHD_Daemon *daemon;       /* libmicrohttpd */
	const struct http_route *routes; /* route table */
	const char (*proxies)[46];       /* trusted proxies (canonical addresses) */
	unsigned nproxies;
	void *app;        /* for handlers */
	struct pool pool; /* blocking handlers */
	struct pool slow; /* password hashing */
	unsigned port;    /* bound port */
	/*
	 * What http_stop() waits on.  Lock order: a request's lock, then this one.  A connection
	 * is suspended only while its request is counted in parked, and becomes suspended only
	 * while its request is also counted in handling: once both are 0 and no handler can
	 * start, no connection is suspended and none will be.
	 */
	pthread_mutex_t lock; /* guards the counts and the two flags */
	pthread_cond_t idle;  /* broadcast when a count drops to 0 */
	unsigned handling;    /* dispatched requests not yet answered */
	unsigned parked;      /* suspended connections not yet taken back */
	unsigned open;        /* requests from first byte to reply written (or dropped) */
	bool stopping;        /* http_stop() began: replies close their connections */
	bool refusing;        /* and no handler starts: a request gets a 503 instead */
};

static void req_dispatch(struct http_req *req);

static void *pool_main(void *arg)
{
	struct pool *p = arg;

	pthread_setname_np(pthread_self(), p->nice > 0 ? "pahara-slow" : "pahara-pool");
	if (p->nice > 0) {
		/* Linux: nice values are per thread, so this lowers only this thread. */
		if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice) != 0) {
			/* Not fatal: the work still gets done, just without the priority hint. */
		}
	}
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->wake, &p->lock);
		struct pool_item *it = p->head;
		if (!it) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = it->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		struct http_req *req = it->req;
		free(it);
		req->route->handler(req);
	}
}

static int pool_start(struct pool *p, unsigned n, int nice)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->nice = nice;
	p->threads = calloc(n, sizeof(*p->threads));
	if (!p->threads)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0)
			return -1;
		p->nthreads++;
	}
	return 0;
}

static bool pool_push(struct pool *p, struct http_req *req)
{
	struct pool_item *it = malloc(sizeof(*it));
	if (!it)
		return false;
	it->req = req;
	it->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return true;
}

static void pool_stop(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
}

/* ---- replies --------------------------------------------------------------------------- */

/* Add delta to one of s's counts; wake http_stop() when it drops to 0. */
static void srv_count(struct http_server *s, unsigned *count, int delta)
{
	pthread_mutex_lock(&s->lock);
	*count = (unsigned)((int)*count + delta);
	if (*count == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static bool srv_stopping(struct http_server *s)
{
	pthread_mutex_lock(&s->lock);
	bool stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stopping;
}

/*
 * Record the reply and wake the connection.  If the handler answered before its caller got
 * round to suspending, access_handler() finds phase == REQ_ANSWERED and queues it directly.
 */
static void req_answer(struct http_req *req, unsigned status, char *text, size_t len)
{
	pthread_mutex_lock(&req->lock);
	if (req->phase >= REQ_ANSWERED) {
		/* A handler bug: answering twice.  Keep the first answer. */
		pthread_mutex_unlock(&req->lock);
		free(text);
		return;
	}
	req->status = status;
	req->reply = text;
	req->reply_len = len;
	req->phase = REQ_ANSWERED;
	bool resume = req->suspended;
	req->suspended = false;
	struct http_server *srv = req->srv;
	if (resume)
		MHD_resume_connection(req->conn);
	pthread_mutex_unlock(&req->lock);
	/* req may be gone now (written and freed by the HTTP thread): only srv from here on. */
	srv_count(srv, &srv->handling, -1);
}

static const char http_oom[] =
    "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"Out of memory.\"}}";
static const char http_internal[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"Something went wrong inside Pahara.\"}}";

/* Answer with a fixed body (an error that needs no allocation but this copy). */
static void reply_fixed(struct http_req *req, unsigned status, const char *body)
{
	char *text = strdup(body);
	req_answer(req, status, text, text ? strlen(text) : 0);
}

void http_reply_json(struct http_req *req, unsigned status, json_t *body)
{
	if (!body) {
		/* The handler's json_pack failed: out of memory, or a bug (text that is not UTF-8,
		 * a wrong format), which json_pack does not tell apart. */
		fprintf(stderr, "pahara: http: the reply to %s %.100s could not be built\n",
		        req->method, req->route ? req->route->pattern : "(no route)");
		reply_fixed(req, 500, http_internal);
		return;
	}
	char *text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(body);
	if (!text) {
		reply_fixed(req, 500, http_oom);
		return;
	}
	req_answer(req, status, text, strlen(text));
}

void http_reply_error(struct http_req *req, unsigned status, enum pa_err err, unsigned retry_after,
                      const char *message, ...)
{
	char msg[512];
	const char *m = pa_err_message(err);
	if (message) {
		/*
		 * A message may quote the request (its path, its method), which can hold anything,
		 * and json_pack refuses text that is not UTF-8.  Repaired, it always packs;
		 * formatted longer than it is kept, it is cut between two characters, never inside
		 * one.
		 */
		char raw[2 * sizeof(msg)];
		va_list ap;
		va_start(ap, message);
		int n = vsnprintf(raw, sizeof(raw), message, ap);
		va_end(ap);
		if (n >= 0) {
			/* a truncated message is still the right message, shortened */
			utf8_repair(msg, sizeof(msg), raw, strlen(raw), 0);
			m = msg;
		}
	}
	json_t *e = json_pack("{s:s, s:s}", "code", pa_err_code(err), "message", m);
	if (e && retry_after > 0)
		json_object_set_new(e, "retry_after", json_integer(retry_after));
	req->retry_after = retry_after;
	json_t *body = e ? json_pack("{s:o}", "error", e) : NULL;
	if (!body) {
		/* Every string in it is UTF-8: only an allocation can have failed. */
		reply_fixed(req, 500, http_oom);
		return;
	}
	http_reply_json(req, status, body);
}

void http_req_set_cookie(struct http_req *req, const char *cookie)
{
	if (req->ncookies < HTTP_COOKIES_MAX) {
		char *c = strdup(cookie);
		if (c)
			req->cookies[req->ncookies++] = c;
	}
}

static enum MHD_Result queue_reply(struct http_req *req)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(req->reply_len, req->reply, MHD_RESPMEM_MUST_FREE);
	if (!r)
		return MHD_NO;
	req->reply = NULL; /* libmicrohttpd frees it now */
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (req->retry_after > 0) {
		char ra[24];
		snprintf(ra, sizeof(ra), "%u", req->retry_after);
		MHD_add_response_header(r, "Retry-After", ra);
	}
	if (req->allow[0])
		MHD_add_response_header(r, "Allow", req->allow);
	for (unsigned i = 0; i < req->ncookies; i++)
		MHD_add_response_header(r, "Set-Cookie", req->cookies[i]);
	/* No more requests on this connection: the server is stopping, or what follows a request
	 * whose end was in doubt cannot be trusted to be the start of the next one. */
	if (srv_stopping(req->srv) || req->framing_conflict)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(req->conn, req->status, r);
	MHD_destroy_response(r);
	req->phase = REQ_QUEUED;
	return ret;
}

/* ---- routing --------------------------------------------------------------------------- */

/*
 * Match path against pattern; fill req's params.  A placeholder matches one segment of
 * [A-Za-z0-9._~@+-] (libmicrohttpd has already decoded percent-escapes): ids are base62 and
 * account names use only these, so anything else cannot name a thing and is not a match.
 */
static bool route_match(struct http_req *req, const char *pattern, const char *path)
{
	unsigned np = 0;
	const char *p = pattern, *u = path;
	while (*p) {
		if (*p == '{') {
			const char *close = strchr(p, '}');
			size_t n = 0;
			while (u[n] && u[n] != '/') {
				char c = u[n];
				bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				          (c >= '0' && c <= '9') || c == '-' || c == '_' ||
				          c == '.' || c == '~' || c == '@' || c == '+';
				if (!ok || n >= HTTP_PARAM_MAX)
					return false;
				n++;
			}
			if (n == 0 || np >= HTTP_PARAMS_MAX || !close)
				return false;
			req->param_names[np] = p + 1;
			req->param_name_lens[np] = (size_t)(close - p - 1);
			memcpy(req->params[np], u, n);
			req->params[np][n] = '\0';
			np++;
			u += n;
			p = close + 1;
		} else {
			if (*p != *u)
				return false;
			p++;
			u++;
		}
	}
	if (*u)
		return false;
	req->nparams = np;
	return true;
}

/* ---- request accessors ----------------------------------------------------------------- */

void *http_req_app(const struct http_req *req)
{
	return req->srv->app;
}

const char *http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *http_req_path(const struct http_req *req)
{
	return req->path;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < req->nparams; i++)
		if (req->param_name_lens[i] == n && memcmp(req->param_names[i], name, n) == 0)
			return req->params[i];
	return NULL;
}

json_t *http_req_body(const struct http_req *req)
{
	return req->json;
}

const char *http_req_ip(const struct http_req *req)
{
	return req->ip;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
	if (v && strlen(v) > HTTP_HEADER_VALUE_MAX)
		return NULL;
	return v;
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_body_str(const struct http_req *req, const char *key)
{
	json_t *v = req->json ? json_object_get(req->json, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long http_body_int(const struct http_req *req, const char *key, long long dflt)
{
	json_t *v = req->json ? json_object_get(req->json, key) : NULL;
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* ---- body checks ----------------------------------------------------------------------- */

bool http_check_fields(struct http_req *req, const struct http_field *fields)
{
	const char *key;
	json_t *val;
	json_object_foreach(req->json, key, val)
	{
		const struct http_field *f = fields;
		while (f->name && strcmp(f->name, key) != 0)
			f++;
		if (!f->name) {
			/* The key may be hostile: print a bounded, escaped prefix of it. */
			char shown[48];
			size_t j = 0;
			for (const unsigned char *k = (const unsigned char *)key;
			     *k && j + 1 < sizeof(shown); k++)
				shown[j++] =
				    (*k >= 0x20 && *k < 0x7f && *k != '\'') ? (char)*k : '?';
			shown[j] = '\0';
			http_reply_error(req, 400, PA_ERR_FIELD_UNKNOWN, 0, "unknown field '%s'",
			                 shown);
			return false;
		}
		switch (f->type) {
		case HTTP_FIELD_STRING: {
			size_t max = f->max_len ? f->max_len : 256;
			if (!json_is_string(val)) {
				http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
				                 "field '%s' must be a string", f->name);
				return false;
			}
			if (json_string_length(val) > max) {
				http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
				                 "field '%s' is longer than %zu bytes", f->name,
				                 max);
				return false;
			}
			break;
		}
		case HTTP_FIELD_INT:
			if (!json_is_integer(val)) {
				http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
				                 "field '%s' must be an integer", f->name);
				return false;
			}
			if (json_integer_value(val) < f->min || json_integer_value(val) > f->max) {
				http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
				                 "field '%s' must be between %lld and %lld",
				                 f->name, f->min, f->max);
				return false;
			}
			break;
		case HTTP_FIELD_BOOL:
			if (!json_is_boolean(val)) {
				http_reply_error(req, 400, PA_ERR_FIELD_INVALID, 0,
				                 "field '%s' must be true or false", f->name);
				return false;
			}
			break;
		}
	}
	for (const struct http_field *f = fields; f->name; f++) {
		if (f->required && !json_object_get(req->json, f->name)) {
			http_reply_error(req, 400, PA_ERR_FIELD_MISSING, 0,
			                 "field '%s' is required", f->name);
			return false;
		}
	}
	return true;
}

/* Parse the collected body; on failure answer 400 and return false. */
static bool parse_body(struct http_req *req)
{
	const char *ct =
	    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (req->body_len == 0) {
		http_reply_error(req, 400, PA_ERR_BAD_JSON, 0,
		                 "this endpoint needs a JSON object body");
		return false;
	}
	/* application/json, optionally with parameters ("; charset=utf-8"). */
	size_t n = ct ? strcspn(ct, "; \t") : 0;
	if (!ct || n != strlen("application/json") || strncasecmp(ct, "application/json", n)) {
		http_reply_error(req, 415, PA_ERR_MEDIA_TYPE, 0,
		                 "the body must be sent as Content-Type: application/json");
		return false;
	}
	json_error_t jerr;
	req->json = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req->json) {
		http_reply_error(req, 400, PA_ERR_BAD_JSON, 0, "invalid JSON at byte %d: %s",
		                 jerr.position, jerr.text);
		return false;
	}
	if (!json_is_object(req->json)) {
		http_reply_error(req, 400, PA_ERR_BAD_JSON, 0, "the body must be a JSON object");
		return false;
	}
	return true;
}

/* ---- the request life ------------------------------------------------------------------ */

/* Route, check, then run the handler here or hand it to a pool. */
static void req_dispatch(struct http_req *req)
{
	struct http_server *srv = req->srv;
	pthread_mutex_lock(&srv->lock);
	srv->handling++;
	bool refusing = srv->refusing;
	pthread_mutex_unlock(&srv->lock);
	if (refusing) {
		/* http_stop() no longer waits for handlers: this one must not start. */
		http_reply_error(req, 503, PA_ERR_STORE, 1,
		                 "the server is stopping; send the request again");
		return;
	}
	if (req->framing_conflict) {
		/* Not a request this server can tell the end of: nothing of it is acted on. */
		http_reply_error(req, 400, PA_ERR_INVALID_ARGUMENT, 0,
		                 "the body's length is given twice (Content-Length and "
		                 "Transfer-Encoding, or two different Content-Length)");
		return;
	}
	bool path_known = false;
	const struct http_route *r;
	char *allow = req->allow;
	for (r = req->srv->routes; r->method; r++) {
		if (!route_match(req, r->pattern, req->path))
			continue;
		path_known = true;
		if (strcmp(r->method, req->method) == 0)
			break;
		size_t al = strlen(allow);
		snprintf(allow + al, sizeof(req->allow) - al, "%s%s", al ? ", " : "", r->method);
	}
	if (!r->method) {
		if (path_known) {
			http_reply_error(req, 405, PA_ERR_METHOD, 0,
			                 "%s is not allowed here; use %s", req->method, allow);
			return;
		}
		char shown[201]; /* the path, as far as it is worth showing, as UTF-8 */
		utf8_repair(shown, sizeof(shown), req->path, strlen(req->path), UTF8_NO_CONTROLS);
		http_reply_error(req, 404, PA_ERR_ROUTE, 0, "no endpoint %s %s", req->method,
		                 shown);
		return;
	}
	req->route = r;
	req->allow[0] = '\0'; /* only a 405 names the allowed methods */
	if (req->too_large) {
		http_reply_error(req, 413, PA_ERR_BODY_TOO_LARGE, 0,
		                 "the body is larger than %d bytes", HTTP_BODY_MAX);
		return;
	}
	if (r->body || (r->body_optional && req->body_len > 0)) {
		if (!parse_body(req))
			return;
	} else if (req->body_len > 0) {
		http_reply_error(req, 400, PA_ERR_BAD_JSON, 0, "this endpoint takes no body");
		return;
	}
	switch (r->run) {
	case HTTP_RUN_INLINE:
		r->handler(req);
		return;
	case HTTP_RUN_POOL:
		if (pool_push(&req->srv->pool, req))
			return;
		break;
	case HTTP_RUN_SLOW:
		if (pool_push(&req->srv->slow, req))
			return;
		break;
	}
	http_reply_error(req, 503, PA_ERR_NOMEM, 1, NULL);
}

bool http_ip_normalize(const char *text, char *out, size_t size)
{
	unsigned char bin[sizeof(struct in6_addr)];
	char t[64];
	if (snprintf(t, sizeof(t), "%s", text) >= (int)sizeof(t))
		return false;
	if (inet_pton(AF_INET, t, bin) == 1)
		return inet_ntop(AF_INET, bin, out, (socklen_t)size) != NULL;
	if (inet_pton(AF_INET6, t, bin) == 1)
		return inet_ntop(AF_INET6, bin, out, (socklen_t)size) != NULL;
	return false;
}

static bool is_proxy(const struct http_server *srv, const char *ip)
{
	for (unsigned i = 0; i < srv->nproxies; i++)
		if (strcmp(srv->proxies[i], ip) == 0)
			return true;
	return false;
}

#define HTTP_XFF_LINES_MAX 16 /* X-Forwarded-For lines kept, the last ones */

/* A request's X-Forwarded-For lines, in the order they came; the last HTTP_XFF_LINES_MAX. */
struct xff_lines {
	const char *v[HTTP_XFF_LINES_MAX]; /* line i (from 0) is v[i % HTTP_XFF_LINES_MAX] */
	unsigned n;                        /* lines seen */
};

static enum MHD_Result xff_line(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
	(void)kind;
	struct xff_lines *l = cls;
	if (strcasecmp(key, "X-Forwarded-For") == 0) {
		l->v[l->n % HTTP_XFF_LINES_MAX] = value ? value : "";
		l->n++;
	}
	return MHD_YES;
}

/*
 * Behind trusted proxies the client is the right-most address of X-Forwarded-For that is not
 * a trusted proxy (each proxy appends the address it was called from; anything to the left of
 * that may be the client's own invention).  ip is the peer; it changes only when the peer is
 * a trusted proxy and the header holds such an address.
 *
 * RFC 9110 §5.3: several X-Forwarded-For lines are one list, in their order, and a proxy may
 * add a line of its own (HAProxy does) after the one the client sent, so every line counts,
 * the last one first.  libmicrohttpd's lookup gives only the first.  Read from the right, a
 * line may be of any length (what the client wrote, further left, may be long).  Empty
 * elements are skipped (§5.6.1); anything else that is not an address ends the walk, as does
 * running out of kept lines: nothing further left is believed, and the client is the proxy.
 */
static void client_behind_proxy(const struct http_server *srv, struct MHD_Connection *conn,
                                char *ip, size_t size)
{
	if (!is_proxy(srv, ip))
		return;
	struct xff_lines lines = {.n = 0};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, xff_line, &lines);
	unsigned kept = lines.n < HTTP_XFF_LINES_MAX ? lines.n : HTTP_XFF_LINES_MAX;
	for (unsigned k = 0; k < kept; k++) {
		const char *xff = lines.v[(lines.n - 1 - k) % HTTP_XFF_LINES_MAX];
		size_t n = strlen(xff);
		while (n > 0) {
			size_t from = n, to = n; /* the element after the last comma before n */
			while (from > 0 && xff[from - 1] != ',')
				from--;
			n = from > 0 ? from - 1 : 0; /* the element before: up to its comma */
			while (from < to && (xff[from] == ' ' || xff[from] == '\t'))
				from++;
			while (to > from && (xff[to - 1] == ' ' || xff[to - 1] == '\t'))
				to--;
			if (from == to)
				continue;
			char one[64], canon[46];
			if (to - from >= sizeof(one))
				return;
			memcpy(one, xff + from, to - from);
			one[to - from] = '\0';
			if (!http_ip_normalize(one, canon, sizeof(canon)))
				return; /* not an address: believe nothing further left */
			if (!is_proxy(srv, canon)) {
				snprintf(ip, size, "%s", canon);
				return;
			}
		}
	}
}

/* What a request's head says about where its body ends. */
struct framing {
	const char *length; /* the first Content-Length */
	bool conflict;      /* another, different one, or a Transfer-Encoding as well */
	bool chunked;       /* a Transfer-Encoding came */
};

static enum MHD_Result framing_line(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind;
	struct framing *f = cls;
	value = value ? value : "";
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (f->length && strcmp(f->length, value) != 0)
			f->conflict = true;
		f->length = f->length ? f->length : value;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->chunked = true;
	}
	if (f->length && f->chunked)
		f->conflict = true;
	return MHD_YES;
}

/*
 * RFC 9112 §6.3: a request with two different Content-Length, or with both Content-Length and
 * Transfer-Encoding, does not say for sure where it ends.  libmicrohttpd takes the first
 * Content-Length, or the chunked coding, and goes on to read the next request after it; a
 * proxy in front that reads the other one would see a different next request (request
 * smuggling).  Such a request is refused, and its connection closed after the answer.
 */
static bool framing_conflict(struct MHD_Connection *conn)
{
	struct framing f = {NULL, false, false};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_line, &f);
	return f.conflict;
}

static struct http_req *req_new(struct http_server *srv, struct MHD_Connection *conn,
                                const char *url, const char *method)
{
	struct http_req *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->srv = srv;
	req->conn = conn;
	pthread_mutex_init(&req->lock, NULL);
	/* Any bytes up to a space: kept as UTF-8 to be quoted in a 404's or 405's message. */
	utf8_repair(req->method, sizeof(req->method), method, strlen(method), UTF8_NO_CONTROLS);
	req->path = strdup(url);
	if (!req->path) {
		free(req);
		return NULL;
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                         : sizeof(struct sockaddr_in);
		if (getnameinfo(sa, sl, req->ip, sizeof(req->ip), NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(req->ip, sizeof(req->ip), "unknown");
	}
	client_behind_proxy(srv, conn, req->ip, sizeof(req->ip));
	srv_count(srv, &srv->open, 1); /* until completed() */
	return req;
}

static void req_free(struct http_req *req)
{
	free(req->path);
	free(req->body);
	free(req->reply);
	for (unsigned i = 0; i < req->ncookies; i++)
		free(req->cookies[i]);
	json_decref(req->json);
	pthread_mutex_destroy(&req->lock);
	free(req);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
	(void)version;
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	if (!req) {
		req = req_new(srv, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		req->framing_conflict = framing_conflict(conn);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > HTTP_BODY_MAX)
			req->too_large = true; /* answered once the (dropped) body is read */
		return MHD_YES;
	}
	if (req->parked) {
		/* Resumed: libmicrohttpd has the connection back among its active ones. */
		req->parked = false;
		srv_count(srv, &srv->parked, -1);
	}
	if (req->phase == REQ_RECEIVING && *upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->too_large || req->body_len + n > HTTP_BODY_MAX) {
			req->too_large = true;
			req->discarded += n;
			/* A client that keeps sending after the cap loses the connection. */
			return req->discarded > HTTP_DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		char *nb = realloc(req->body, req->body_len + n + 1);
		if (!nb)
			return MHD_NO;
		memcpy(nb + req->body_len, upload_data, n);
		req->body = nb;
		req->body_len += n;
		req->body[req->body_len] = '\0';
		return MHD_YES;
	}
	if (req->phase == REQ_RECEIVING) {
		req->phase = REQ_HANDLING;
		req_dispatch(req);
	}
	/* The handler may have answered already (inline), or will from another thread. */
	pthread_mutex_lock(&req->lock);
	enum MHD_Result ret = MHD_YES;
	if (req->phase == REQ_ANSWERED) {
		ret = queue_reply(req);
	} else if (req->phase == REQ_HANDLING && !req->suspended) {
		/* Counted before the handler can answer (it needs req->lock to), so that
		 * http_stop() never sees handling and parked both at 0 while this is suspended. */
		req->suspended = true;
		req->parked = true;
		srv_count(srv, &srv->parked, 1);
		MHD_suspend_connection(conn);
	}
	pthread_mutex_unlock(&req->lock);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct http_req *req = *con_cls;
	if (req) {
		/* A request that a handler still owns cannot complete: it is suspended until
		 * answered, and libmicrohttpd does not end suspended connections.  A resumed one
		 * can end here without access_handler() seeing it again (the client left, or
		 * half-closed its side, while it waited), and at once: req_answer() resumes the
		 * connection while it holds req->lock, so its thread may not have let go of the
		 * lock yet.  Freed under it, req would be written after it is freed (the unlock),
		 * which corrupted the heap when a hostile client closed right after its request. */
		struct http_server *srv = req->srv;
		pthread_mutex_lock(&req->lock);
		pthread_mutex_unlock(&req->lock);
		if (req->parked)
			srv_count(srv, &srv->parked, -1);
		req_free(req);
		*con_cls = NULL;
		srv_count(srv, &srv->open, -1);
	}
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * MHD_OPTION_UNESCAPE_CALLBACK: decode %XX in place, as libmicrohttpd's own unescaper does,
 * except "%00", which stays as it is.  libmicrohttpd hands the path over as a C string, so a
 * decoded NUL would cut it short ("/v1/health%00junk" routed as "/v1/health"); kept, it matches
 * no route (a placeholder takes no '%'), and the request is a 404.  Query arguments come
 * through here too and keep their "%00" the same way.  Returns the new length.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	char *w = s;
	for (const char *r = s; *r;) {
		int hi, lo;
		if (r[0] == '%' && (hi = hex_digit(r[1])) >= 0 && (lo = hex_digit(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("pahara: http: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* ---- life cycle ------------------------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || strlen(listen) >= sizeof(host))
		return -1;
	size_t hl = (size_t)(colon - listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return -1;
		*sl = sizeof(*a6);
		return AF_INET6;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -1;
	*sl = sizeof(*a4);
	return AF_INET;
}

enum pa_err http_start(const struct http_options *opt, struct http_server **out, const char **why)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fam = parse_listen(opt->listen, &ss, &sl);
	if (fam < 0) {
		*why = "the listen address must be HOST:PORT with a numeric IPv4 address, "
		       "[IPv6] or localhost";
		return PA_ERR_INVALID_ARGUMENT;
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return PA_ERR_NOMEM;
	s->routes = opt->routes;
	s->proxies = opt->proxies;
	s->nproxies = opt->nproxies;
	s->app = opt->app;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* http_stop()'s deadline */
	pthread_cond_init(&s->idle, &ca);
	pthread_condattr_destroy(&ca);
	if (pool_start(&s->pool, opt->pool_threads ? opt->pool_threads : 16, 0) != 0 ||
	    pool_start(&s->slow, opt->slow_threads ? opt->slow_threads : (unsigned)ncpu, 10) != 0) {
		*why = "cannot start worker threads";
		return PA_ERR_NOMEM;
	}
	/* poll(), not epoll: see the top of this file. */
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	if (fam == AF_INET6)
		flags |= MHD_USE_IPv6;
	unsigned threads = opt->threads ? opt->threads : (unsigned)ncpu;
	/* A pool only for more than one thread: one is the daemon's own, and libmicrohttpd warns
	 * that it ignores a pool of 1 (or of 0). */
	struct MHD_OptionItem pool_opt[] = {
	    {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, access_handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_ARRAY, pool_opt,
	    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(opt->connection_limit ? opt->connection_limit : 1024),
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)(opt->timeout_seconds ? opt->timeout_seconds : 30),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
	    (unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
	if (!s->daemon) {
		*why = "cannot listen on that address (in use, or not an address of this machine)";
		pool_stop(&s->pool);
		pool_stop(&s->slow);
		free(s);
		return PA_ERR_INVALID_ARGUMENT;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	*out = s;
	return PA_OK;
}

unsigned http_port(const struct http_server *s)
{
	return s->port;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	/*
	 * Refuse new connections from now on.  A connection the kernel accepted during the stop
	 * would be reset at its end, and a proxy that sent a request on it cannot know whether the
	 * request was acted on (nginx answers 502); a refused connection it safely tries on another
	 * node.  libmicrohttpd stops polling the listen socket and leaves it to us, but its threads
	 * may use the descriptor until MHD_stop_daemon() returns, so it is closed only then.  Shut
	 * down, it stops listening now: Linux answers a connection attempt with RST, and resets
	 * the connections still in the accept queue (libmicrohttpd had not taken them yet).
	 */
	MHD_socket listener = MHD_quiesce_daemon(s->daemon);
	if (listener != MHD_INVALID_SOCKET && shutdown(listener, SHUT_RDWR) != 0) {
		/* Not fatal: connections are then taken by the kernel and reset at the end. */
	}
	pthread_mutex_lock(&s->lock);
	/*
	 * Serve what comes on the connections already open, each reply closing its connection,
	 * until every request begun has its reply written; a client that is slow to send or to
	 * read gets HTTP_STOP_DRAIN_SECONDS.
	 */
	s->stopping = true;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += HTTP_STOP_DRAIN_SECONDS;
	while (s->open > 0)
		if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == ETIMEDOUT)
			break;
	/*
	 * Then no handler starts any more, and the ones running are waited for: each answers in
	 * bounded time, and an answered connection is resumed at once.  After that no connection
	 * is suspended, and none will be, when libmicrohttpd stops.
	 */
	s->refusing = true;
	while (s->handling > 0 || s->parked > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	MHD_stop_daemon(s->daemon); /* closes idle keep-alive connections, and any late ones */
	if (listener != MHD_INVALID_SOCKET)
		close(listener);
	pool_stop(&s->pool);
	pool_stop(&s->slow);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s);
}
