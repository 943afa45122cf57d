/*
 * token.h — random bearer tokens and identifiers, and their form at rest.
 *
 * Two kinds, both over the 62 characters 0-9 A-Z a-z (URL-, cookie- and header-safe, no
 * escaping anywhere):
 *   - a session token (web cookie, app bearer token, CSRF token): 43 characters carrying at least
 *     256 random bits (43 x log2 62 = 256.03 bits);
 *   - an identifier (login id, login-request id, challenge; DESIGN §3): 32 characters carrying at
 *     least 190 random bits (32 x log2 62 = 190.5 bits).
 * Every character is uniform over the 62: a random byte is taken only when it is below 248
 * (4 x 62) and reduced modulo 62, so no character is likelier than another.
 *
 * At rest a token is kept only as SHA-256 of its characters (token_hash): a stolen database
 * gives no usable session.  A presented token is first checked for shape (token_valid, which
 * looks at no more than one byte past the expected length), then hashed and looked up.
 * Not for: backup codes or temporary passwords (secretcode.h), which people type.
 */
#ifndef PAHARA_CORE_TOKEN_H
#define PAHARA_CORE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define TOKEN_SESSION_CHARS 43                       /* >= 256 bits */
#define TOKEN_ID_CHARS 32                            /* >= 190 bits */
#define TOKEN_SESSION_SIZE (TOKEN_SESSION_CHARS + 1) /* with the NUL */
#define TOKEN_ID_SIZE (TOKEN_ID_CHARS + 1)           /* with the NUL */
#define TOKEN_SIZE_MAX TOKEN_SESSION_SIZE            /* room for either kind */
#define TOKEN_HASH_BYTES 32                          /* SHA-256 */

enum token_kind {
	TOKEN_SESSION = 0, /* TOKEN_SESSION_CHARS characters */
	TOKEN_ID,          /* TOKEN_ID_CHARS characters */
};

/* The number of characters of a kind; 0 for an unknown kind. */
size_t token_chars(enum token_kind kind);

/*
 * Write a new random token of kind, NUL-terminated, into out (out_size bytes: TOKEN_SESSION_SIZE
 * or TOKEN_ID_SIZE is enough).  A session token is a secret: the caller wipes its copy once it
 * is sent and hashed.
 * Errors: PA_ERR_INVALID_ARGUMENT (unknown kind), PA_ERR_BUFFER_TOO_SMALL (nothing written).
 */
enum pa_err token_generate(enum token_kind kind, char *out, size_t out_size) PA_MUST_CHECK;

/*
 * Whether text (NUL-terminated) has the shape of a token of kind: exactly its number of
 * characters, all from the alphabet.  Cheap; use it before hashing anything presented.
 */
bool token_valid(enum token_kind kind, const char *text);

/* SHA-256 of the token's characters (up to its NUL), the only form kept at rest. */
void token_hash(const char *token, uint8_t out[TOKEN_HASH_BYTES]);

/* Whether two token hashes are equal, compared in constant time. */
bool token_hash_equal(const uint8_t a[TOKEN_HASH_BYTES], const uint8_t b[TOKEN_HASH_BYTES]);

#endif
