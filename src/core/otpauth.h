/*
 * otpauth.h — otpauth:// key URIs (the "Key Uri Format" that authenticator apps scan).
 *
 *   otpauth://TYPE/LABEL?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
 *   otpauth://hotp/LABEL?secret=BASE32&counter=N
 *
 * LABEL is "ISSUER:ACCOUNT" or "ACCOUNT", percent-encoded, split at the first colon (so an
 * issuer never holds ':' and an account may); spaces after the colon are dropped ("Issuer:
 * account").  Issuer and account are UTF-8 without control characters.  Parsing is strict:
 * every parameter at most once, known names only (image= is tolerated and ignored, as apps add
 * it), values in range, valid percent-encoding and UTF-8, characters outside RFC 3986 (a space,
 * '#') percent-encoded, an issuer parameter that agrees with the label's issuer.  Each failure
 * is a distinct enum pa_err plus a sentence naming the problem.
 * Building percent-encodes everything outside RFC 3986 unreserved characters.
 */
#ifndef PAHARA_CORE_OTPAUTH_H
#define PAHARA_CORE_OTPAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/otp.h"

#define OTPAUTH_URI_MAX 4096 /* longest URI accepted or built, without the NUL */
#define OTPAUTH_NAME_MAX 255 /* longest issuer or account name in bytes (decoded) */
#define OTPAUTH_WHY_MAX 160  /* room for the explanation of a parse error */

enum otpauth_type {
	OTPAUTH_TOTP = 0,
	OTPAUTH_HOTP,
};

struct otpauth {
	enum otpauth_type type;             /* totp or hotp */
	char issuer[OTPAUTH_NAME_MAX + 1];  /* UTF-8, may be empty */
	char account[OTPAUTH_NAME_MAX + 1]; /* UTF-8, never empty once parsed */
	uint8_t secret[OTP_SECRET_MAX];     /* raw secret bytes */
	size_t secret_len;                  /* bytes used in secret */
	enum otp_alg alg;                   /* default OTP_SHA1 */
	unsigned digits;                    /* default 6 */
	unsigned period;                    /* totp only; default 30 */
	uint64_t counter;                   /* hotp only; required for hotp */
};

/* Fill defaults: totp, SHA1, 6 digits, 30 s, everything else empty. */
void otpauth_init(struct otpauth *u);

/*
 * Parse the NUL-terminated uri into *u.  On error, u is wiped and, when why is not NULL,
 * a sentence naming the problem (e.g. "parameter 'digits' must be 6, 7 or 8, not '9'", with
 * positions counted in bytes from 0) is written to why (why_size bytes; OTPAUTH_WHY_MAX is
 * enough, a shorter sentence buffer gets a cut sentence ending in "..."); on success why is "".
 * Errors: PA_ERR_URI_*, PA_ERR_BASE32_*, PA_ERR_ALGORITHM, PA_ERR_DIGITS, PA_ERR_PERIOD,
 * PA_ERR_COUNTER, PA_ERR_SECRET_TOO_SHORT/LONG, PA_ERR_INVALID_ARGUMENT (uri or u NULL).
 */
enum pa_err otpauth_parse(const char *uri, struct otpauth *u, char *why,
                          size_t why_size) PA_MUST_CHECK;

/*
 * Build the URI of u into out (out_size bytes, NUL included).  The secret is written without
 * padding; algorithm, digits and period are always written (some apps ignore defaults wrongly).
 * The issuer, when not empty, is written both in the label and as issuer=.  Only a struct that
 * otpauth_parse would give back is built; anything else is PA_ERR_INVALID_ARGUMENT: empty
 * account, a name that is not NUL-terminated, longer than OTPAUTH_NAME_MAX, not UTF-8 or with
 * a control character, an issuer with ':', an account with ':' but no issuer, an account
 * starting with a space after an issuer, fields out of range.  On error out is wiped to "".
 * Errors: PA_ERR_BUFFER_TOO_SMALL, PA_ERR_INVALID_ARGUMENT.
 */
enum pa_err otpauth_build(const struct otpauth *u, char *out, size_t out_size) PA_MUST_CHECK;

/* Wipe the secret (and everything else) of u. */
void otpauth_wipe(struct otpauth *u);

#endif
