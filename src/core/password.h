/*
 * password.h — account passwords: Argon2id hashing (libsodium), verification, rehash on
 * parameter change, the length policy, and a dummy hash so that an unknown user costs the same.
 *
 * Hashes are libsodium's self-describing strings ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"),
 * NUL-terminated and shorter than PASSWORD_HASH_SIZE, so the store keeps them as text and old
 * hashes keep verifying after the parameters change; password_needs_rehash says when to replace
 * one at the next successful sign-in.  libsodium fixes the parallelism at 1.
 *
 * Passwords are byte strings with a length (they may hold any byte, NUL included).  The policy
 * (PASSWORD_MIN_BYTES .. PASSWORD_MAX_BYTES) applies to new passwords; verifying accepts any
 * length up to PASSWORD_MAX_BYTES, so a policy change never locks anybody out.
 *
 * Timing (DESIGN §3): for an unknown user call password_verify_dummy with the struct
 * password_dummy made once at start-up; it runs one Argon2id verification with the current
 * parameters and always answers PA_ERR_PASSWORD_MISMATCH, as a known user with a wrong password
 * gets.  Argon2id is slow on purpose (tens of milliseconds, 19 MiB): call these from a worker
 * thread, never from the thread that answers code checks.
 * Not for: temporary passwords, backup codes (secretcode.h) or tokens (token.h).
 */
#ifndef PAHARA_CORE_PASSWORD_H
#define PAHARA_CORE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PASSWORD_MIN_BYTES 8    /* policy for new passwords */
#define PASSWORD_MAX_BYTES 1024 /* policy, and the most verification looks at */
#define PASSWORD_HASH_SIZE 128  /* a hash string with its NUL fits (crypto_pwhash_STRBYTES) */

/* OWASP's Argon2id profile, DESIGN §3: m = 19 MiB, t = 2, p = 1. */
#define PASSWORD_OPSLIMIT_DEFAULT 2ULL
#define PASSWORD_MEMLIMIT_DEFAULT ((size_t)19 * 1024 * 1024)
/* libsodium's limits for Argon2id; anything below is refused.  Tests use the minimum. */
#define PASSWORD_OPSLIMIT_MIN 1ULL
#define PASSWORD_MEMLIMIT_MIN ((size_t)8192)
/* Our ceilings, far above any sane setting, so a typo cannot make every sign-in take minutes. */
#define PASSWORD_OPSLIMIT_MAX 64ULL
#define PASSWORD_MEMLIMIT_MAX ((size_t)1024 * 1024 * 1024)

struct password_params {
	unsigned long long opslimit; /* Argon2id passes (t) */
	size_t memlimit;             /* bytes of memory (m, rounded down to KiB by libsodium) */
};

#define PASSWORD_PARAMS_DEFAULT                                                                    \
	{                                                                                          \
		.opslimit = PASSWORD_OPSLIMIT_DEFAULT, .memlimit = PASSWORD_MEMLIMIT_DEFAULT       \
	}

/* A hash of a random password made with the current parameters; see the opening comment. */
struct password_dummy {
	char hash[PASSWORD_HASH_SIZE];
};

/* ---- parameters and policy ---------------------------------------------------------------- */

/* Errors: PA_ERR_INVALID_ARGUMENT when p is outside the MIN .. MAX limits above. */
enum pa_err password_params_check(const struct password_params *p) PA_MUST_CHECK;

/* Errors: PA_ERR_PASSWORD_POLICY when len is outside PASSWORD_MIN_BYTES .. PASSWORD_MAX_BYTES. */
enum pa_err password_policy_check(const char *password, size_t len) PA_MUST_CHECK;

/* ---- hashing and verifying ---------------------------------------------------------------- */

/*
 * Hash a new password (len bytes) with p into out, NUL-terminated; a fresh random salt each time.
 * Errors: PA_ERR_PASSWORD_POLICY, PA_ERR_INVALID_ARGUMENT (p), PA_ERR_NOMEM (Argon2id could not
 * get its memory).  On error out is wiped.
 */
enum pa_err password_hash(const struct password_params *p, const char *password, size_t len,
                          char out[PASSWORD_HASH_SIZE]) PA_MUST_CHECK;

/*
 * Verify password (len bytes) against a stored hash string (NUL-terminated).
 * Errors: PA_ERR_PASSWORD_MISMATCH (wrong password, or longer than PASSWORD_MAX_BYTES),
 * PA_ERR_PASSWORD_HASH (hash is not password_hash_usable — log it: the store is bad).
 */
enum pa_err password_verify(const char *hash, const char *password, size_t len) PA_MUST_CHECK;
/* Whether hash is one password_verify verifies against: an Argon2 hash string (argon2id or
 * argon2i) that libsodium reads, whose costs are within PASSWORD_OPSLIMIT_MAX and
 * PASSWORD_MEMLIMIT_MAX (a hash made elsewhere may name any). */
bool password_hash_usable(const char *hash);
#ifdef PAHARA_TESTING
/* Test builds: how many Argon2id runs password_hash and password_verify have made in this
 * process (a test tells "no Argon2id work" by it, not by the clock). */
unsigned long password_argon2id_runs(void);
#endif

/*
 * Whether hash was made with parameters other than p (or with Argon2i, or cannot be read) and
 * should be replaced by password_hash of the password just verified.
 */
bool password_needs_rehash(const char *hash, const struct password_params *p);

/* ---- unknown users ------------------------------------------------------------------------ */

/*
 * Make d: the hash of a random password under p.  Call once at start-up (and again if the
 * parameters change); d is then read-only and may be shared between threads.
 * Errors: PA_ERR_INVALID_ARGUMENT (p), PA_ERR_NOMEM.
 */
enum pa_err password_dummy_init(struct password_dummy *d,
                                const struct password_params *p) PA_MUST_CHECK;

/*
 * Spend the time of one verification against d, and answer as for a wrong password: always
 * PA_ERR_PASSWORD_MISMATCH.
 */
enum pa_err password_verify_dummy(const struct password_dummy *d, const char *password,
                                  size_t len) PA_MUST_CHECK;

#endif
