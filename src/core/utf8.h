/*
 * utf8.h — checking and repairing text that came from outside as UTF-8 (a header, a path, a
 * row written by an older version).
 *
 * RFC 3629 §4: a character is well-formed when it is the shortest encoding of a code point up
 * to U+10FFFF that is not a surrogate.  NUL counts as malformed here: the text this is for
 * goes into C strings and database text, which cannot hold it.  Repairing never fails: each
 * byte that is not part of a well-formed character becomes '?', and a copy that must be cut
 * to fit ends before a character, never inside one, so what comes out is always UTF-8 (which
 * JSON, jansson and PostgreSQL insist on).
 * Not for: deciding what a name may hold (app_username_ok, otpauth's names).
 */
#ifndef PAHARA_CORE_UTF8_H
#define PAHARA_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1..4) of the well-formed character that starts s (left bytes there), or 0. */
size_t utf8_char_len(const char *s, size_t left);

/* Whether the len bytes at s are well-formed characters, all of them. */
bool utf8_valid(const char *s, size_t len);

/* utf8_repair's flags */
#define UTF8_NO_CONTROLS 1u /* control characters (C0, DEL, C1) become '?' too */

/*
 * Copy len bytes of s into out (size >= 1 bytes) as UTF-8, NUL-terminated: each byte that is
 * not part of a well-formed character becomes '?' (with UTF8_NO_CONTROLS, so does each control
 * character).  What does not fit in size - 1 bytes is left out, from the first character that
 * does not fit.  Returns the bytes written, NUL not counted.  out and s must not overlap.
 */
size_t utf8_repair(char *out, size_t size, const char *s, size_t len, unsigned flags);

#endif
