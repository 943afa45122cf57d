/*
 * err.h — the error values every Pahara module returns.
 *
 * Errors are values: a function that can fail returns an enum pa_err, PA_OK (0) on success.
 * Each value has a stable lower-case code (the "code" of an API error body, e.g.
 * "invalid_code") and a default English message.  User-facing codes map one-to-one to this
 * enum, so a new failure that a caller must be able to tell apart gets a new value here.
 */
#ifndef PAHARA_CORE_ERR_H
#define PAHARA_CORE_ERR_H

#define PA_MUST_CHECK __attribute__((warn_unused_result))

enum pa_err {
	PA_OK = 0,
	PA_ERR_INTERNAL,         /* a bug or an impossible state; logged, never shown in detail */
	PA_ERR_NOMEM,            /* an allocation failed */
	PA_ERR_RANDOM,           /* the system random source failed */
	PA_ERR_INVALID_ARGUMENT, /* a caller passed something outside the documented range */
	PA_ERR_BUFFER_TOO_SMALL, /* the output buffer cannot hold the result */

	/* input that does not parse */
	PA_ERR_BASE32_CHAR,          /* a character outside the base32 alphabet */
	PA_ERR_BASE32_LENGTH,        /* a length no base32 encoding can have */
	PA_ERR_BASE32_PADDING,       /* padding in the wrong place or of the wrong length */
	PA_ERR_BASE32_TRAILING_BITS, /* non-zero bits left over after the last whole byte */
	PA_ERR_SECRET_TOO_SHORT,     /* an OTP secret below the minimum length */
	PA_ERR_SECRET_TOO_LONG,      /* an OTP secret above the maximum length */
	PA_ERR_URI_SCHEME,           /* not an otpauth:// URI */
	PA_ERR_URI_TYPE,             /* otpauth type other than totp or hotp */
	PA_ERR_URI_LABEL,            /* missing or malformed label */
	PA_ERR_URI_PARAM,            /* a parameter that is unknown, repeated or malformed */
	PA_ERR_URI_ENCODING,         /* bad percent-encoding or invalid UTF-8 */
	PA_ERR_URI_MISSING_SECRET,   /* no secret= parameter */
	PA_ERR_URI_TOO_LONG,         /* longer than OTPAUTH_URI_MAX */
	PA_ERR_ALGORITHM,            /* unsupported hash algorithm */
	PA_ERR_DIGITS,               /* digits outside 6..8 */
	PA_ERR_PERIOD,               /* period outside the allowed range */
	PA_ERR_COUNTER,              /* counter or time outside the allowed range */

	/* the rules of the second factor */
	PA_ERR_INVALID_CODE,  /* a code that is wrong (or malformed: the same to the caller) */
	PA_ERR_REPLAYED_CODE, /* a TOTP step at or before the last accepted one */
	PA_ERR_INACTIVE_BACKUP_CODE, /* a real backup code that is used or retired */
	PA_ERR_EXPIRED,              /* a code, password or request past its lifetime */
	PA_ERR_TOO_MANY,             /* a count limit (outstanding passwords, active codes) */
	PA_ERR_RATE_LIMITED,         /* throttled or locked: try again later */
	PA_ERR_SEAL_OPEN,         /* a sealed value failed to open: wrong key, account or purpose */
	PA_ERR_SEAL_KEY_UNKNOWN,  /* a sealed value names a key id the keyring does not have */
	PA_ERR_SEAL_FORMAT,       /* a sealed value that is not of our format */
	PA_ERR_PASSWORD_HASH,     /* a stored password hash that cannot be read */
	PA_ERR_PASSWORD_MISMATCH, /* the password does not match */
	PA_ERR_PASSWORD_POLICY,   /* a new password that breaks the policy (length) */

	/* the server and its store */
	PA_ERR_STORE,     /* the database failed or is unreachable: retry later (503) */
	PA_ERR_NOT_FOUND, /* no such record */
	PA_ERR_CONFLICT,  /* the record exists already, or changed under us */
	PA_ERR_STATE,     /* out of order: the thing is not in a state that allows this */

	/* requests that are malformed: HTTP 4xx before any rule runs */
	PA_ERR_BAD_JSON,            /* the body is not one JSON object (or has duplicate keys) */
	PA_ERR_MEDIA_TYPE,          /* the body is not application/json */
	PA_ERR_BODY_TOO_LARGE,      /* the body is over the cap */
	PA_ERR_FIELD_UNKNOWN,       /* a key the endpoint does not take */
	PA_ERR_FIELD_MISSING,       /* a required key is absent */
	PA_ERR_FIELD_INVALID,       /* a value of the wrong type, length or range */
	PA_ERR_ROUTE,               /* no such endpoint */
	PA_ERR_METHOD,              /* the endpoint exists but not with this method */
	PA_ERR_UNAUTHENTICATED,     /* no valid session or service key */
	PA_ERR_FORBIDDEN,           /* authenticated, but not allowed this */
	PA_ERR_REAUTH_REQUIRED,     /* a sensitive change needs the password again */
	PA_ERR_INVALID_CREDENTIALS, /* username or password wrong (same for unknown user) */
	PA_ERR_ACCOUNT_DISABLED,    /* the account is disabled (said only after the password) */
	PA_ERR_LOGIN_ENDED,         /* the sign-in is no longer pending (done, failed, expired) */
	PA_ERR_METHOD_UNAVAILABLE,  /* the second-step method is not set up for this account */
	PA_ERR_THIRD_PARTY_BACKUP,  /* a backup code from a third-party client */

	PA_ERR_ALREADY_USED,     /* a single-use secret (temporary password) presented again */
	PA_ERR_KEY_FILE,         /* a key file whose text does not parse */
	PA_ERR_RATELIMIT_FORMAT, /* a stored rate-limit state that is not of our format */

	PA_ERR__COUNT
};

/* The stable machine-readable code, e.g. "invalid_code". Never NULL. */
const char *pa_err_code(enum pa_err e);

/* A short English sentence for people, e.g. "The code is not valid." Never NULL. */
const char *pa_err_message(enum pa_err e);

#endif
