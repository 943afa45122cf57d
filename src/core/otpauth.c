/*
 * otpauth.c — parse and build otpauth:// key URIs.
 *
 * The format is Google Authenticator's "Key Uri Format" (no RFC of its own); the URI syntax
 * is RFC 3986.  The parser is strict because a URI usually arrives from a QR code made by
 * someone else: whatever it accepts, the builder can write back and the parser reads again to
 * the same struct (the fuzz target checks exactly that).  Every rejection says which rule
 * failed and where, with the position counted in bytes from the start of the URI.
 *
 * Rules beyond the syntax, and why:
 *  - raw characters outside RFC 3986 pchar/query must be percent-encoded (a raw space or '#'
 *    means the URI was built by hand and may not say what its author meant); raw bytes of 0x80
 *    and above are taken as UTF-8 (RFC 3987 IRIs), as some generators emit them;
 *  - the label is split at its first ':' after decoding (the spec allows a literal or encoded
 *    colon), so an issuer can never hold a ':' while an account can;
 *  - spaces after that colon are dropped ("Issuer: account"), so with an issuer the account
 *    cannot begin with a space;
 *  - decoded names must be valid UTF-8 without control characters (C0, DEL, C1): they end up
 *    on web pages and in terminals, where a control character is an escape sequence.
 * The builder refuses any struct that would not read back the same under these rules.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/base32.h"
#include "core/otpauth.h"

#define OA_SCHEME "otpauth://"
#define OA_SCHEME_LEN (sizeof(OA_SCHEME) - 1)
#define OA_QUOTE_BYTES 32                     /* input bytes quoted in an error sentence at most */
#define OA_QUOTE_MAX (OA_QUOTE_BYTES * 4 + 4) /* each byte may become \xNN; "..." and NUL */

/* Parameters by bit, to find repeats. */
enum oa_param {
	OA_P_SECRET = 1 << 0,
	OA_P_ISSUER = 1 << 1,
	OA_P_ALGORITHM = 1 << 2,
	OA_P_DIGITS = 1 << 3,
	OA_P_PERIOD = 1 << 4,
	OA_P_COUNTER = 1 << 5,
	OA_P_IMAGE = 1 << 6,
};

static const struct {
	const char *name;
	enum oa_param bit;
} oa_params[] = {
    {"secret", OA_P_SECRET}, {"issuer", OA_P_ISSUER}, {"algorithm", OA_P_ALGORITHM},
    {"digits", OA_P_DIGITS}, {"period", OA_P_PERIOD}, {"counter", OA_P_COUNTER},
    {"image", OA_P_IMAGE},
};

/* What is wrong with a name (issuer or account), if anything. */
enum oa_name_problem {
	OA_NAME_OK = 0,
	OA_NAME_UTF8,    /* not valid UTF-8 */
	OA_NAME_CONTROL, /* a C0 or C1 control character or DEL (NUL included) */
};

/* The state of one parse: where the text is and where to explain a failure. */
struct oa_parser {
	const char *uri;   /* the whole URI, NUL-terminated */
	struct otpauth *u; /* the result, wiped on failure */
	char *why;         /* the caller's sentence buffer, or NULL */
	size_t why_size;   /* bytes in why */
};

void otpauth_init(struct otpauth *u)
{
	memset(u, 0, sizeof(*u));
	u->type = OTPAUTH_TOTP;
	u->alg = OTP_SHA1;
	u->digits = OTP_DIGITS_DEFAULT;
	u->period = OTP_PERIOD_DEFAULT;
}

void otpauth_wipe(struct otpauth *u)
{
	if (u)
		sodium_memzero(u, sizeof(*u));
}

/* Write a sentence into why; a sentence cut short by a small buffer ends in "...". */
__attribute__((format(printf, 3, 4))) static void oa_say(char *why, size_t why_size,
                                                         const char *fmt, ...)
{
	if (!why || why_size == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	if (r < 0)
		why[0] = '\0';
	else if ((size_t)r >= why_size && why_size >= 4)
		memcpy(why + why_size - 4, "...", 4);
}

/*
 * Quote up to OA_QUOTE_BYTES bytes of s for an error sentence: printable ASCII as is, anything
 * else (control characters, bytes of UTF-8, quotes, backslash) as \xNN, "..." when cut.
 */
static const char *oa_quote(char out[OA_QUOTE_MAX], const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < n && i < OA_QUOTE_BYTES; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (n > OA_QUOTE_BYTES) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

__attribute__((format(printf, 3, 4))) static enum pa_err
oa_fail(struct oa_parser *ps, enum pa_err e, const char *fmt, ...)
{
	if (ps->why && ps->why_size) {
		char msg[OTPAUTH_WHY_MAX * 2];
		va_list ap;
		va_start(ap, fmt);
		int r = vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (r < 0)
			msg[0] = '\0';
		/* a sentence longer than msg is cut; oa_say then marks it with "..." */
		oa_say(ps->why, ps->why_size, "%s%s", msg,
		       r >= 0 && (size_t)r >= sizeof(msg) ? "..." : "");
	}
	otpauth_wipe(ps->u);
	return e;
}

static int oa_hex(unsigned char c)
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
 * RFC 3986 §2.1: decode n bytes of raw into out (room for n + 1 bytes), NUL-terminated (the
 * text itself may hold NUL bytes from %00, so *out_len is what counts).  On a '%' not followed
 * by two hex digits returns false with *bad its index in raw.
 */
static bool oa_decode(const char *raw, size_t n, char *out, size_t *out_len, size_t *bad)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (raw[i] != '%') {
			out[o++] = raw[i];
			continue;
		}
		int h = i + 1 < n ? oa_hex((unsigned char)raw[i + 1]) : -1;
		int l = i + 2 < n ? oa_hex((unsigned char)raw[i + 2]) : -1;
		if (h < 0 || l < 0) {
			*bad = i;
			return false;
		}
		out[o++] = (char)(h << 4 | l);
		i += 2;
	}
	out[o] = '\0';
	*out_len = o;
	return true;
}

/* The index in raw of the byte that decodes to decoded byte k (raw known to decode). */
static size_t oa_raw_pos(const char *raw, size_t k)
{
	size_t i = 0;
	for (; k > 0; k--)
		i += raw[i] == '%' ? 3 : 1;
	return i;
}

/*
 * RFC 3629 §4: check that s (n bytes) is valid UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF) without control characters.  *bad is the index of the first byte
 * of the offending sequence and *bad_cp the control character found.
 */
static enum oa_name_problem oa_check_name(const char *s, size_t n, size_t *bad, uint32_t *bad_cp)
{
	const unsigned char *b = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		uint32_t cp;
		size_t len;
		unsigned char c = b[i];
		if (c < 0x80) {
			cp = c;
			len = 1;
		} else if (c >= 0xc2 && c <= 0xdf) {
			cp = c & 0x1f;
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			cp = c & 0x0f;
			len = 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			cp = c & 0x07;
			len = 4;
		} else {
			*bad = i;
			return OA_NAME_UTF8;
		}
		if (len > n - i) {
			*bad = i;
			return OA_NAME_UTF8;
		}
		for (size_t j = 1; j < len; j++) {
			if ((b[i + j] & 0xc0) != 0x80) {
				*bad = i;
				return OA_NAME_UTF8;
			}
			cp = cp << 6 | (b[i + j] & 0x3f);
		}
		static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			*bad = i;
			return OA_NAME_UTF8;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			*bad = i;
			*bad_cp = cp;
			return OA_NAME_CONTROL;
		}
		i += len;
	}
	return OA_NAME_OK;
}

/*
 * RFC 3986 §3.3 and §3.4: whether c may appear raw in the path (label) or query.  That is
 * unreserved / sub-delims / ":" / "@" / "/" / "?" and '%' for escapes; bytes from 0x80 are
 * taken as IRI characters (RFC 3987) and checked as UTF-8 once decoded.
 */
static bool oa_raw_ok(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._~!$&'()*+,;=:@/?%", c) != NULL;
}

/* Validate a decoded name found at raw[raw_start..] (for positions); what names the part. */
static enum pa_err oa_name(struct oa_parser *ps, const char *what, enum pa_err control_err,
                           const char *s, size_t n, const char *raw, size_t raw_start)
{
	size_t bad = 0;
	uint32_t cp = 0;
	switch (oa_check_name(s, n, &bad, &cp)) {
	case OA_NAME_OK:
		return PA_OK;
	case OA_NAME_UTF8:
		return oa_fail(ps, PA_ERR_URI_ENCODING, "invalid UTF-8 in %s at position %zu", what,
		               raw_start + oa_raw_pos(raw, bad));
	case OA_NAME_CONTROL:
		return oa_fail(ps, control_err, "control character U+%04X in %s at position %zu",
		               (unsigned)cp, what, raw_start + oa_raw_pos(raw, bad));
	}
	return oa_fail(ps, PA_ERR_INTERNAL, "internal error checking %s", what);
}

/* Parse the label uri[start..end) into u->issuer and u->account. */
static enum pa_err oa_parse_label(struct oa_parser *ps, size_t start, size_t end, char *buf)
{
	const char *raw = ps->uri + start;
	size_t n = end - start, len = 0, bad = 0;
	if (n == 0)
		return oa_fail(ps, PA_ERR_URI_LABEL, "missing label at position %zu", start);
	if (!oa_decode(raw, n, buf, &len, &bad))
		return oa_fail(ps, PA_ERR_URI_ENCODING, "bad percent-encoding at position %zu",
		               start + bad);

	/* Key Uri Format: "issuer:account", the colon literal or %3A, spaces may follow it. */
	const char *colon = memchr(buf, ':', len);
	size_t acc = 0, issuer_len = 0;
	if (colon) {
		issuer_len = (size_t)(colon - buf);
		if (issuer_len == 0)
			return oa_fail(ps, PA_ERR_URI_LABEL,
			               "label has an empty issuer before ':' at position %zu",
			               start);
		acc = issuer_len + 1;
		while (acc < len && buf[acc] == ' ')
			acc++;
	}
	if (acc == len)
		return oa_fail(ps, PA_ERR_URI_LABEL, "label has no account name");
	if (issuer_len > OTPAUTH_NAME_MAX)
		return oa_fail(ps, PA_ERR_URI_LABEL, "issuer in the label is longer than %d bytes",
		               OTPAUTH_NAME_MAX);
	if (len - acc > OTPAUTH_NAME_MAX)
		return oa_fail(ps, PA_ERR_URI_LABEL,
		               "account name in the label is longer than %d bytes",
		               OTPAUTH_NAME_MAX);
	enum pa_err e = oa_name(ps, "the label", PA_ERR_URI_LABEL, buf, len, raw, start);
	if (e != PA_OK)
		return e;
	memcpy(ps->u->issuer, buf, issuer_len);
	ps->u->issuer[issuer_len] = '\0';
	memcpy(ps->u->account, buf + acc, len - acc);
	ps->u->account[len - acc] = '\0';
	return PA_OK;
}

/* A decimal number of digits only, at most max; false for anything else. */
static bool oa_number(const char *s, size_t n, uint64_t max, uint64_t *value)
{
	uint64_t v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*value = v;
	return true;
}

/* One parameter's decoded value; val_start is its index in the URI (for positions). */
static enum pa_err oa_param_value(struct oa_parser *ps, enum oa_param p, const char *v, size_t n,
                                  size_t val_start, char *issuer)
{
	struct otpauth *u = ps->u;
	const char *raw = ps->uri + val_start;
	char q[OA_QUOTE_MAX];
	uint64_t num = 0;
	size_t bad = 0;
	enum pa_err e;

	switch (p) {
	case OA_P_SECRET:
		e = base32_decode(v, n, u->secret, sizeof(u->secret), &u->secret_len, &bad);
		switch (e) {
		case PA_OK:
			break;
		case PA_ERR_BASE32_CHAR:
			return oa_fail(ps, e,
			               "parameter 'secret' has '%s' at position %zu, "
			               "which is not base32 (A-Z, 2-7)",
			               oa_quote(q, v + bad, 1), val_start + oa_raw_pos(raw, bad));
		case PA_ERR_BASE32_LENGTH:
			return oa_fail(ps, e,
			               "parameter 'secret' has a length no base32 text can have");
		case PA_ERR_BASE32_PADDING:
			return oa_fail(ps, e,
			               "parameter 'secret' has misplaced padding at position %zu",
			               val_start + oa_raw_pos(raw, bad));
		case PA_ERR_BASE32_TRAILING_BITS:
			return oa_fail(
			    ps, e,
			    "parameter 'secret' has non-zero spare bits in the character "
			    "at position %zu",
			    val_start + oa_raw_pos(raw, bad));
		case PA_ERR_BUFFER_TOO_SMALL:
			return oa_fail(ps, PA_ERR_SECRET_TOO_LONG,
			               "parameter 'secret' is longer than %d bytes",
			               OTP_SECRET_MAX);
		default:
			return oa_fail(ps, PA_ERR_INTERNAL,
			               "parameter 'secret' could not be decoded");
		}
		if (u->secret_len < OTP_SECRET_MIN)
			return oa_fail(ps, PA_ERR_SECRET_TOO_SHORT, "parameter 'secret' is empty");
		return PA_OK;
	case OA_P_ISSUER:
		if (n == 0)
			return oa_fail(ps, PA_ERR_URI_PARAM, "parameter 'issuer' is empty");
		if (n > OTPAUTH_NAME_MAX)
			return oa_fail(ps, PA_ERR_URI_PARAM,
			               "parameter 'issuer' is longer than %d bytes",
			               OTPAUTH_NAME_MAX);
		e = oa_name(ps, "parameter 'issuer'", PA_ERR_URI_PARAM, v, n, raw, val_start);
		if (e != PA_OK)
			return e;
		const char *colon = memchr(v, ':', n);
		if (colon)
			return oa_fail(ps, PA_ERR_URI_PARAM,
			               "parameter 'issuer' must not contain ':' (position %zu)",
			               val_start + oa_raw_pos(raw, (size_t)(colon - v)));
		memcpy(issuer, v, n);
		issuer[n] = '\0';
		return PA_OK;
	case OA_P_ALGORITHM:
		/* strlen(v) != n: a %00 inside, which otp_alg_parse would not see */
		if (strlen(v) != n || otp_alg_parse(v, &u->alg) != PA_OK)
			return oa_fail(
			    ps, PA_ERR_ALGORITHM,
			    "parameter 'algorithm' must be SHA1, SHA256 or SHA512, not '%s'",
			    oa_quote(q, v, n));
		return PA_OK;
	case OA_P_DIGITS:
		if (n != 1 || v[0] < '0' + OTP_DIGITS_MIN || v[0] > '0' + OTP_DIGITS_MAX)
			return oa_fail(ps, PA_ERR_DIGITS,
			               "parameter 'digits' must be 6, 7 or 8, not '%s'",
			               oa_quote(q, v, n));
		u->digits = (unsigned)(v[0] - '0');
		return PA_OK;
	case OA_P_PERIOD:
		if (u->type != OTPAUTH_TOTP)
			return oa_fail(ps, PA_ERR_URI_PARAM,
			               "parameter 'period' is only for totp, not hotp");
		if (!oa_number(v, n, OTP_PERIOD_MAX, &num) || num < OTP_PERIOD_MIN)
			return oa_fail(ps, PA_ERR_PERIOD,
			               "parameter 'period' must be a number of seconds from %d to "
			               "%d, not '%s'",
			               OTP_PERIOD_MIN, OTP_PERIOD_MAX, oa_quote(q, v, n));
		u->period = (unsigned)num;
		return PA_OK;
	case OA_P_COUNTER:
		if (u->type != OTPAUTH_HOTP)
			return oa_fail(ps, PA_ERR_URI_PARAM,
			               "parameter 'counter' is only for hotp, not totp");
		if (!oa_number(v, n, UINT64_MAX, &num))
			return oa_fail(ps, PA_ERR_COUNTER,
			               "parameter 'counter' must be a whole number from 0 to "
			               "%llu, not '%s'",
			               (unsigned long long)UINT64_MAX, oa_quote(q, v, n));
		u->counter = num;
		return PA_OK;
	case OA_P_IMAGE:
		return PA_OK; /* apps add it (a logo URL); we neither need nor fetch it */
	}
	return oa_fail(ps, PA_ERR_INTERNAL, "internal error with a parameter");
}

/* Parse the query uri[start..end) (after the '?'); buf has room for the decoded text. */
static enum pa_err oa_parse_query(struct oa_parser *ps, size_t start, size_t end, char *buf,
                                  unsigned *seen, char *issuer)
{
	char q[OA_QUOTE_MAX];
	size_t i = start;
	for (;;) {
		const char *seg = ps->uri + i;
		size_t seg_end = i + strcspn(seg, "&");
		if (seg_end > end)
			seg_end = end;
		if (seg_end == i)
			return oa_fail(ps, PA_ERR_URI_PARAM, "empty parameter at position %zu", i);
		const char *eq = memchr(seg, '=', seg_end - i);
		size_t name_end = eq ? (size_t)(eq - ps->uri) : seg_end;

		size_t len = 0, bad = 0;
		if (!oa_decode(seg, name_end - i, buf, &len, &bad))
			return oa_fail(ps, PA_ERR_URI_ENCODING,
			               "bad percent-encoding at position %zu", i + bad);
		enum oa_param p = 0;
		for (size_t k = 0; k < sizeof(oa_params) / sizeof(oa_params[0]); k++)
			if (strlen(oa_params[k].name) == len &&
			    memcmp(oa_params[k].name, buf, len) == 0)
				p = oa_params[k].bit;
		if (p == 0)
			return oa_fail(ps, PA_ERR_URI_PARAM, "unknown parameter '%s'",
			               oa_quote(q, buf, len));
		if (*seen & p)
			return oa_fail(ps, PA_ERR_URI_PARAM,
			               "parameter '%s' appears more than once", buf);
		*seen |= p;
		if (!eq)
			return oa_fail(ps, PA_ERR_URI_PARAM, "parameter '%s' has no '=' and value",
			               buf);

		size_t val_start = name_end + 1;
		if (!oa_decode(ps->uri + val_start, seg_end - val_start, buf, &len, &bad))
			return oa_fail(ps, PA_ERR_URI_ENCODING,
			               "bad percent-encoding at position %zu", val_start + bad);
		enum pa_err e = oa_param_value(ps, p, buf, len, val_start, issuer);
		if (e != PA_OK)
			return e;
		if (seg_end == end)
			return PA_OK;
		i = seg_end + 1;
	}
}

enum pa_err otpauth_parse(const char *uri, struct otpauth *u, char *why, size_t why_size)
{
	struct oa_parser ps = {.uri = uri, .u = u, .why = why, .why_size = why_size};
	char q[OA_QUOTE_MAX];

	if (why && why_size)
		why[0] = '\0';
	if (!u) {
		oa_say(why, why_size, "no struct to parse into");
		return PA_ERR_INVALID_ARGUMENT;
	}
	otpauth_init(u);
	if (!uri)
		return oa_fail(&ps, PA_ERR_INVALID_ARGUMENT, "no URI");

	size_t len = strnlen(uri, OTPAUTH_URI_MAX + 1);
	if (len > OTPAUTH_URI_MAX)
		return oa_fail(&ps, PA_ERR_URI_TOO_LONG, "the URI is longer than %d bytes",
		               OTPAUTH_URI_MAX);
	/* RFC 3986 §3.1: the scheme is case-insensitive */
	if (len < OA_SCHEME_LEN || strncasecmp(uri, OA_SCHEME, OA_SCHEME_LEN) != 0)
		return oa_fail(&ps, PA_ERR_URI_SCHEME, "the URI must start with '" OA_SCHEME "'");

	size_t type_start = OA_SCHEME_LEN;
	size_t type_len = strcspn(uri + type_start, "/?#");
	const char *type = uri + type_start;
	if (type_len == 4 && strncasecmp(type, "totp", 4) == 0)
		u->type = OTPAUTH_TOTP;
	else if (type_len == 4 && strncasecmp(type, "hotp", 4) == 0)
		u->type = OTPAUTH_HOTP;
	else
		return oa_fail(&ps, PA_ERR_URI_TYPE, "the type must be 'totp' or 'hotp', not '%s'",
		               oa_quote(q, type, type_len));
	size_t slash = type_start + type_len;
	if (uri[slash] != '/')
		return oa_fail(&ps, PA_ERR_URI_LABEL, "missing label: expected '/' at position %zu",
		               slash);

	size_t label_start = slash + 1;
	for (size_t i = label_start; i < len; i++) {
		unsigned char c = (unsigned char)uri[i];
		if (oa_raw_ok(c))
			continue;
		if (c == ' ')
			return oa_fail(&ps, PA_ERR_URI_ENCODING,
			               "unencoded space at position %zu (write %%20)", i);
		if (c < 0x20 || c == 0x7f)
			return oa_fail(&ps, PA_ERR_URI_ENCODING,
			               "control character 0x%02x at position %zu", c, i);
		return oa_fail(&ps, PA_ERR_URI_ENCODING,
		               "unencoded '%c' at position %zu (write %%%02X)", c, i, c);
	}

	/* One buffer serves every decoded part in turn: nothing decodes longer than the URI. */
	char buf[OTPAUTH_URI_MAX + 1];
	char issuer[OTPAUTH_NAME_MAX + 1] = "";
	unsigned seen = 0;
	size_t label_end = label_start + strcspn(uri + label_start, "?");
	enum pa_err e = oa_parse_label(&ps, label_start, label_end, buf);
	if (e == PA_OK && label_end < len)
		e = oa_parse_query(&ps, label_end + 1, len, buf, &seen, issuer);
	sodium_memzero(buf, sizeof(buf)); /* it held the secret's text */
	if (e != PA_OK)
		return e;

	if (!(seen & OA_P_SECRET))
		return oa_fail(&ps, PA_ERR_URI_MISSING_SECRET, "missing parameter 'secret'");
	if (u->type == OTPAUTH_HOTP && !(seen & OA_P_COUNTER))
		return oa_fail(&ps, PA_ERR_URI_PARAM,
		               "missing parameter 'counter' (hotp needs it)");
	if (seen & OA_P_ISSUER) {
		if (u->issuer[0] == '\0') {
			/* An issuer makes the label "issuer:account", which drops spaces before the
			 * account: one that begins with a space could not be written back. */
			if (u->account[0] == ' ')
				return oa_fail(
				    &ps, PA_ERR_URI_LABEL,
				    "account name begins with a space, which a label with an "
				    "issuer cannot hold");
			memcpy(u->issuer, issuer, sizeof(u->issuer));
		} else if (strcmp(u->issuer, issuer) != 0) {
			char q2[OA_QUOTE_MAX];
			return oa_fail(
			    &ps, PA_ERR_URI_PARAM,
			    "parameter 'issuer' ('%s') disagrees with the label's issuer "
			    "('%s')",
			    oa_quote(q, issuer, strlen(issuer)),
			    oa_quote(q2, u->issuer, strlen(u->issuer)));
		}
	}
	return PA_OK;
}

/* A bounded output buffer: once something does not fit, everything after is dropped. */
struct oa_out {
	char *p;    /* the caller's buffer */
	size_t cap; /* bytes usable, NUL included */
	size_t len; /* bytes written, NUL excluded */
	bool full;  /* something did not fit */
};

static void oa_put(struct oa_out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void oa_puts(struct oa_out *o, const char *s)
{
	oa_put(o, s, strlen(s));
}

/* RFC 3986 §2.3: everything but unreserved characters is percent-encoded. */
static void oa_put_encoded(struct oa_out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			oa_put(o, (const char *)p, 1);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			oa_put(o, esc, 3);
		}
	}
}

static void oa_put_number(struct oa_out *o, uint64_t v)
{
	char num[24];
	int r = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	if (r < 0 || (size_t)r >= sizeof(num)) {
		o->full = true; /* cannot happen: 20 digits fit; never write a cut number */
		return;
	}
	oa_put(o, num, (size_t)r);
}

/* Whether name (a NUL-terminated array of cap bytes) is one the parser would give back. */
static bool oa_name_ok(const char *name, size_t cap)
{
	size_t n = strnlen(name, cap), bad;
	uint32_t cp;
	return n < cap && n <= OTPAUTH_NAME_MAX && oa_check_name(name, n, &bad, &cp) == OA_NAME_OK;
}

enum pa_err otpauth_build(const struct otpauth *u, char *out, size_t out_size)
{
	if (!u || !out || out_size == 0)
		return PA_ERR_INVALID_ARGUMENT;
	out[0] = '\0';

	/* Refuse what would not read back the same (see the rules at the top). */
	const char *type = u->type == OTPAUTH_TOTP   ? "totp"
	                   : u->type == OTPAUTH_HOTP ? "hotp"
	                                             : NULL;
	const char *alg = otp_alg_name(u->alg);
	if (!type || !alg || u->digits < OTP_DIGITS_MIN || u->digits > OTP_DIGITS_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	if (u->type == OTPAUTH_TOTP && (u->period < OTP_PERIOD_MIN || u->period > OTP_PERIOD_MAX))
		return PA_ERR_INVALID_ARGUMENT;
	if (u->secret_len < OTP_SECRET_MIN || u->secret_len > OTP_SECRET_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	if (!oa_name_ok(u->issuer, sizeof(u->issuer)) ||
	    !oa_name_ok(u->account, sizeof(u->account)))
		return PA_ERR_INVALID_ARGUMENT;
	bool has_issuer = u->issuer[0] != '\0';
	if (u->account[0] == '\0' || strchr(u->issuer, ':'))
		return PA_ERR_INVALID_ARGUMENT;
	if (!has_issuer && strchr(u->account, ':'))
		return PA_ERR_INVALID_ARGUMENT; /* would read back as "issuer:account" */
	if (has_issuer && u->account[0] == ' ')
		return PA_ERR_INVALID_ARGUMENT; /* the space would be read as after the colon */

	struct oa_out o = {
	    .p = out,
	    .cap = out_size < OTPAUTH_URI_MAX + 1 ? out_size : OTPAUTH_URI_MAX + 1,
	};
	oa_puts(&o, OA_SCHEME);
	oa_puts(&o, type);
	oa_puts(&o, "/");
	if (has_issuer) {
		oa_put_encoded(&o, u->issuer);
		oa_puts(&o, ":");
	}
	oa_put_encoded(&o, u->account);

	char secret[BASE32_ENCODED_LEN(OTP_SECRET_MAX) + 1];
	if (base32_encode(u->secret, u->secret_len, false, secret, sizeof(secret)) != PA_OK) {
		sodium_memzero(out, out_size);
		return PA_ERR_INTERNAL; /* cannot happen: sized for OTP_SECRET_MAX */
	}
	oa_puts(&o, "?secret=");
	oa_puts(&o, secret);
	sodium_memzero(secret, sizeof(secret));
	if (has_issuer) {
		oa_puts(&o, "&issuer=");
		oa_put_encoded(&o, u->issuer);
	}
	oa_puts(&o, "&algorithm=");
	oa_puts(&o, alg);
	oa_puts(&o, "&digits=");
	oa_put_number(&o, u->digits);
	if (u->type == OTPAUTH_TOTP) {
		oa_puts(&o, "&period=");
		oa_put_number(&o, u->period);
	} else {
		oa_puts(&o, "&counter=");
		oa_put_number(&o, u->counter);
	}
	if (o.full) {
		sodium_memzero(out, out_size); /* a cut URI may hold part of the secret */
		return PA_ERR_BUFFER_TOO_SMALL;
	}
	return PA_OK;
}
