/*
 * http.h — Pahara's HTTP front: libmicrohttpd underneath, JSON in and out, strict limits.
 *
 * The server owns a libmicrohttpd daemon (internal thread pool, poll) and two worker pools.
 * Requests are matched against a route table; a route says where its handler runs:
 *
 *   HTTP_RUN_INLINE  on the HTTP thread itself.  For handlers that never block: they read,
 *                    decide, and either reply at once or hand a write to the store and reply
 *                    from its completion callback.  The connection is suspended meanwhile,
 *                    so no HTTP thread waits for a commit.
 *   HTTP_RUN_POOL    on the general worker pool; the handler may block (synchronous writes).
 *   HTTP_RUN_SLOW    on the slow pool (password hashing): few threads, lower CPU priority,
 *                    so Argon2id never starves code checks of HTTP threads or CPU.
 *
 * Every handler must end its request by calling http_reply_json() or http_reply_error()
 * exactly once, from any thread, at any later time.  Until then the connection is suspended.
 *
 * Request bodies are collected here with a hard cap (HTTP_BODY_MAX), must be application/json,
 * are parsed with duplicate keys rejected, and must be one JSON object; errors are answered
 * here, before any handler runs, as {"error": {"code", "message"}}.
 */
#ifndef PAHARA_SERVER_HTTP_H
#define PAHARA_SERVER_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define HTTP_BODY_MAX (64 * 1024) /* bytes of request body accepted */
#define HTTP_PARAMS_MAX 4         /* {placeholders} in one route */
#define HTTP_PARAM_MAX 128        /* bytes in one path parameter */
#define HTTP_IP_MAX 46            /* INET6_ADDRSTRLEN */
#define HTTP_HEADER_VALUE_MAX 512 /* longest Authorization / User-Agent kept */
#define HTTP_STOP_DRAIN_SECONDS 5 /* http_stop(): time left to open connections */

struct http_server;
struct http_req;

enum http_run {
	HTTP_RUN_INLINE = 0,
	HTTP_RUN_POOL,
	HTTP_RUN_SLOW,
};

typedef void (*http_handler)(struct http_req *req);

struct http_route {
	const char *method;   /* "GET", "POST", "DELETE" */
	const char *pattern;  /* "/v1/login/{id}/verify": a {name} matches one non-empty segment */
	http_handler handler; /* runs as run says */
	enum http_run run;    /* where the handler runs */
	bool body;            /* true: a JSON object body is required; false: no body allowed */
	bool body_optional;   /* with body false: a JSON object body may still be sent;
	                       * without one, http_req_body() is NULL */
};

struct http_options {
	const char *listen;              /* "127.0.0.1:8080", "[::1]:8080" */
	unsigned threads;                /* HTTP threads; 0 = number of CPUs */
	unsigned pool_threads;           /* general pool; 0 = 16 */
	unsigned slow_threads;           /* slow pool; 0 = number of CPUs */
	unsigned connection_limit;       /* 0 = 1024 */
	unsigned timeout_seconds;        /* idle connection timeout; 0 = 30 */
	const struct http_route *routes; /* the table, ended by a route with method NULL */
	const char (*proxies)[46];       /* peers whose X-Forwarded-For names the client */
	unsigned nproxies;               /* how many */
	void *app;                       /* handed to handlers through http_req_app() */
};

/* Write the IPv4 or IPv6 address text in canonical form (inet_ntop's) to out; false if text
 * is not an address. */
bool http_ip_normalize(const char *text, char *out, size_t size);

/* ---- life cycle ---- */

/* Start listening and serving.  On failure, *why names the problem (static string). */
enum pa_err http_start(const struct http_options *opt, struct http_server **out,
                       const char **why) PA_MUST_CHECK;
/* The port actually bound (useful when listen asked for port 0). */
unsigned http_port(const struct http_server *s);
/*
 * Stop: refuse new connections at once (the listening socket is shut down: a connection
 * attempt is reset, and so is one still waiting to be accepted); keep serving the connections
 * already accepted, each reply closing its connection, until every request begun has its
 * reply written (at most HTTP_STOP_DRAIN_SECONDS: for clients slow to send or to read); then
 * start no more handlers (a request gets 503 unavailable), wait for the ones running to
 * answer, close every connection and free s.
 */
void http_stop(struct http_server *s);

/* ---- reading a request (valid until the request is answered) ---- */

void *http_req_app(const struct http_req *req);
const char *http_req_method(const struct http_req *req);
const char *http_req_path(const struct http_req *req);
/* The value of the route's {name} placeholder, or NULL. */
const char *http_req_param(const struct http_req *req, const char *name);
/* The parsed JSON object body (borrowed), or NULL for routes without a body. */
json_t *http_req_body(const struct http_req *req);
/* The client's address as text ("127.0.0.1", "::1"). */
const char *http_req_ip(const struct http_req *req);
/* A request header (borrowed, may be NULL); only for headers captured: Authorization,
 * User-Agent, Cookie, X-CSRF-Token. */
const char *http_req_header(const struct http_req *req, const char *name);
/* A query-string argument (borrowed, may be NULL).  Only valid on the HTTP thread for
 * HTTP_RUN_INLINE handlers and before any await; pool handlers get it the same way. */
const char *http_req_query(const struct http_req *req, const char *name);

/* ---- answering (exactly one of these per request, from any thread) ---- */

/* Reply with status and the JSON value body (ownership of body passes to the reply).  A NULL
 * body (a json_pack that failed) is answered 500 internal, and logged. */
void http_reply_json(struct http_req *req, unsigned status, json_t *body);
/*
 * Reply {"error": {"code": pa_err_code(err), "message": ...}} with status.  message may be
 * NULL for pa_err_message(err); it is printf-style, and may quote anything the client sent:
 * the text is made UTF-8 ('?' for each byte that is not part of a character) and cut, between
 * two characters, at 511 bytes.  retry_after > 0 adds a Retry-After header and "retry_after"
 * to the error object.
 */
void http_reply_error(struct http_req *req, unsigned status, enum pa_err err, unsigned retry_after,
                      const char *message, ...) __attribute__((format(printf, 5, 6)));
/* Add a Set-Cookie header to the reply to come (before replying). */
void http_req_set_cookie(struct http_req *req, const char *cookie);

/* ---- validating a JSON body ---- */

enum http_field_type {
	HTTP_FIELD_STRING = 0,
	HTTP_FIELD_INT,
	HTTP_FIELD_BOOL,
};

struct http_field {
	const char *name;          /* the key */
	enum http_field_type type; /* what its value must be */
	bool required;             /* absent is an error */
	size_t max_len;            /* strings: longest in bytes; 0 = 256 */
	long long min, max;        /* integers: inclusive range */
};

/*
 * Check body against fields (ended by a field with name NULL): every key known, every
 * required key present, every value of its type, strings within max_len (and without NUL,
 * which the parser already refuses), integers in range.  On failure answers the request
 * with 400 and a message naming the field, and returns false: the handler just returns.
 */
bool http_check_fields(struct http_req *req, const struct http_field *fields) PA_MUST_CHECK;

/* The string value of key in the body, or NULL. */
const char *http_body_str(const struct http_req *req, const char *key);
/* The integer value of key in the body, or dflt when absent. */
long long http_body_int(const struct http_req *req, const char *key, long long dflt);

#endif
