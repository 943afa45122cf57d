/*
 * utf8.c — see utf8.h.  The checks are byte by byte and branch freely: the text is never a
 * secret.
 */
#include <string.h>

#include "core/utf8.h"

size_t utf8_char_len(const char *s, size_t left)
{
	const unsigned char *u = (const unsigned char *)s;
	if (left == 0)
		return 0;
	size_t n = u[0] == 0     ? 0
	           : u[0] < 0x80 ? 1
	           : u[0] < 0xc2 ? 0 /* a continuation byte, or an overlong 2-byte form */
	           : u[0] < 0xe0 ? 2
	           : u[0] < 0xf0 ? 3
	           : u[0] < 0xf5 ? 4
	                         : 0; /* past U+10FFFF */
	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((u[i] & 0xc0) != 0x80)
			return 0;
	if ((u[0] == 0xe0 && u[1] < 0xa0) || (u[0] == 0xed && u[1] >= 0xa0) ||
	    (u[0] == 0xf0 && u[1] < 0x90) || (u[0] == 0xf4 && u[1] >= 0x90))
		return 0; /* overlong, a surrogate, or past U+10FFFF */
	return n;
}

bool utf8_valid(const char *s, size_t len)
{
	size_t i = 0, k;
	while (i < len && (k = utf8_char_len(s + i, len - i)) > 0)
		i += k;
	return i == len;
}

/* C0, DEL or C1 (U+0080..U+009F, which UTF-8 writes as C2 80..C2 9F). */
static bool is_control(const unsigned char *u, size_t k)
{
	return (k == 1 && (u[0] < 0x20 || u[0] == 0x7f)) || (k == 2 && u[0] == 0xc2 && u[1] < 0xa0);
}

size_t utf8_repair(char *out, size_t size, const char *s, size_t len, unsigned flags)
{
	size_t w = 0;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_char_len(s + i, len - i);
		bool bad = k == 0 || ((flags & UTF8_NO_CONTROLS) &&
		                      is_control((const unsigned char *)s + i, k));
		size_t put = bad ? 1 : k;
		if (w + put > size - 1)
			break;
		if (bad)
			out[w] = '?';
		else
			memcpy(out + w, s + i, k);
		w += put;
		/* A malformed byte is replaced alone: the next one may begin a character. */
		i += k == 0 ? 1 : k;
	}
	out[w] = '\0';
	return w;
}
