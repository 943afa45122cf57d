/*
 * otp.h — HOTP (RFC 4226) and TOTP (RFC 6238): computing and verifying one-time codes.
 *
 * A struct otp_key holds a secret already absorbed into the HMAC's inner and outer hash states,
 * so each code costs two compression rounds and no allocation; make one per secret and reuse
 * it for every candidate of a window.  Verification computes every candidate of the window and
 * compares each in constant time with no early exit, so its timing says nothing about which
 * candidate (if any) matched.  Time is always a parameter: this module never reads a clock.
 * Not for: deciding replay (the caller passes the last accepted step) or storing anything.
 */
#ifndef PAHARA_CORE_OTP_H
#define PAHARA_CORE_OTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define OTP_SECRET_MIN 1      /* bytes; the server itself always makes OTP_SECRET_DEFAULT */
#define OTP_SECRET_MAX 128    /* bytes; one SHA-512 block */
#define OTP_SECRET_DEFAULT 20 /* 160 bits, RFC 4226 §4 R6 recommendation */
#define OTP_DIGITS_MIN 6
#define OTP_DIGITS_MAX 8
#define OTP_DIGITS_DEFAULT 6
#define OTP_PERIOD_MIN 1 /* seconds */
#define OTP_PERIOD_MAX 3600
#define OTP_PERIOD_DEFAULT 30
#define OTP_WINDOW_MAX 10                 /* steps on either side */
#define OTP_CODE_MAX (OTP_DIGITS_MAX + 1) /* a formatted code with its NUL */

enum otp_alg {
	OTP_SHA1 = 0,
	OTP_SHA256,
	OTP_SHA512,
};

/* An HMAC key ready for use: opaque; fill with otp_key_init, wipe with otp_key_wipe. */
struct otp_key {
	enum otp_alg alg;                      /* the HMAC hash */
	unsigned digits;                       /* code length, OTP_DIGITS_MIN..OTP_DIGITS_MAX */
	_Alignas(16) unsigned char state[512]; /* inner and outer hash states after the pads */
};

/* "SHA1", "SHA256", "SHA512" (the otpauth spelling); NULL for a value outside the enum. */
const char *otp_alg_name(enum otp_alg alg);
/* Parse an algorithm name, case-insensitively, with or without the dash ("sha-256"). */
enum pa_err otp_alg_parse(const char *name, enum otp_alg *alg) PA_MUST_CHECK;

/*
 * Absorb secret (len bytes, OTP_SECRET_MIN..OTP_SECRET_MAX) into key for alg and digits.
 * Errors: PA_ERR_ALGORITHM, PA_ERR_DIGITS, PA_ERR_SECRET_TOO_SHORT, PA_ERR_SECRET_TOO_LONG,
 * PA_ERR_INVALID_ARGUMENT (key is NULL).  On error the key is all zeros.
 */
enum pa_err otp_key_init(struct otp_key *key, enum otp_alg alg, unsigned digits,
                         const uint8_t *secret, size_t len) PA_MUST_CHECK;
/* Wipe the key's states; safe to call on a key that failed to initialise. */
void otp_key_wipe(struct otp_key *key);

/* RFC 4226 §5.3: the HOTP value for counter, already reduced modulo 10^digits. */
uint32_t otp_hotp(const struct otp_key *key, uint64_t counter);

/*
 * Write value as exactly digits decimal digits with leading zeros and a NUL into out (only the
 * low digits of a larger value are written).  digits outside 6..8 writes an empty string.
 */
void otp_format(uint32_t value, unsigned digits, char out[OTP_CODE_MAX]);

/*
 * RFC 6238 §4.2: the time step of unix_time for period seconds (T0 = 0).
 * Errors: PA_ERR_PERIOD, PA_ERR_COUNTER for a negative time.
 */
enum pa_err otp_totp_step(int64_t unix_time, unsigned period, uint64_t *step) PA_MUST_CHECK;

/*
 * Parse a code as a person typed it: exactly key digits decimal digits once spaces are removed.
 * Anything else is PA_ERR_INVALID_CODE (a malformed code is simply a wrong code).
 * PA_ERR_DIGITS when digits itself is outside OTP_DIGITS_MIN..OTP_DIGITS_MAX (a caller bug).
 */
enum pa_err otp_parse_code(const char *code, unsigned digits, uint32_t *value) PA_MUST_CHECK;

/*
 * Verify code over counters center-behind .. center+ahead (each at most OTP_WINDOW_MAX,
 * clamped at 0 and UINT64_MAX).  Every candidate is computed and compared in constant time.
 * Candidates at or below last are never accepted: pass the last accepted
 * counter/step (RFC 6238 §5.2: accept once) and has_last = true, or has_last = false when
 * nothing has been accepted yet.  When the code matches more than one candidate, the
 * highest is taken.  On PA_OK *matched is the accepted counter (or step).
 * Errors: PA_ERR_INVALID_CODE (no candidate matches, or malformed code),
 * PA_ERR_REPLAYED_CODE (the code matches only candidates at or below the last accepted one),
 * PA_ERR_INVALID_ARGUMENT (behind or ahead above OTP_WINDOW_MAX, or a key that failed to
 * initialise).  matched may be NULL.
 */
enum pa_err otp_verify(const struct otp_key *key, const char *code, uint64_t center,
                       unsigned behind, unsigned ahead, bool has_last, uint64_t last,
                       uint64_t *matched) PA_MUST_CHECK;

#endif
