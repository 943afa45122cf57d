/*
 * base32.h — RFC 4648 §6 base32, the encoding of OTP secrets.
 *
 * Encoding writes upper case, with or without '=' padding.  Decoding is forgiving where people
 * are (lower case, spaces and dashes anywhere, padding optional) and exact everywhere else: a
 * character outside the alphabet, a length no encoding can have, misplaced padding or non-zero
 * leftover bits are each a distinct error, with the offending position reported.
 * Not for: backup codes and temporary passwords, which use their own alphabet (secretcode.h).
 */
#ifndef PAHARA_CORE_BASE32_H
#define PAHARA_CORE_BASE32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Characters needed to encode n bytes, without padding and without the NUL. */
#define BASE32_ENCODED_LEN(n) (((n)*8 + 4) / 5)
/* Characters needed to encode n bytes with padding, without the NUL. */
#define BASE32_PADDED_LEN(n) ((((n) + 4) / 5) * 8)

/*
 * Encode n bytes of in as NUL-terminated base32 into out (out_size bytes, NUL included).
 * Returns PA_ERR_BUFFER_TOO_SMALL (and writes nothing) if out cannot hold it.
 */
enum pa_err base32_encode(const uint8_t *in, size_t n, bool pad, char *out,
                          size_t out_size) PA_MUST_CHECK;

/*
 * Decode in_len characters of in into out (out_size bytes); the byte count goes to *out_len.
 * Accepts upper and lower case, ignores ' ' and '-', accepts trailing '=' padding when it is
 * of the right length for the data (or none).  On error, *err_pos (if not NULL) is the index in
 * in of the offending character (or in_len for a length error) and out is wiped.
 * Errors: PA_ERR_BASE32_CHAR, PA_ERR_BASE32_LENGTH, PA_ERR_BASE32_PADDING,
 * PA_ERR_BASE32_TRAILING_BITS, PA_ERR_BUFFER_TOO_SMALL.
 */
enum pa_err base32_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size,
                          size_t *out_len, size_t *err_pos) PA_MUST_CHECK;

#endif
