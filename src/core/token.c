/* token.c — see token.h. */
#include <string.h>

#include <sodium.h>

#include "core/token.h"

static const char token_alphabet[62] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* The largest multiple of 62 that fits a byte: bytes from here up would favour low characters. */
#define TOKEN_BYTE_LIMIT 248

size_t token_chars(enum token_kind kind)
{
	switch (kind) {
	case TOKEN_SESSION:
		return TOKEN_SESSION_CHARS;
	case TOKEN_ID:
		return TOKEN_ID_CHARS;
	}
	return 0;
}

enum pa_err token_generate(enum token_kind kind, char *out, size_t out_size)
{
	/* 64 bytes give 43 accepted ones with overwhelming probability; more are drawn if not. */
	uint8_t r[64];
	size_t want = token_chars(kind), n = 0, i = sizeof r;

	if (want == 0)
		return PA_ERR_INVALID_ARGUMENT;
	if (out_size < want + 1)
		return PA_ERR_BUFFER_TOO_SMALL;
	while (n < want) {
		if (i == sizeof r) {
			randombytes_buf(r, sizeof r);
			i = 0;
		}
		if (r[i] < TOKEN_BYTE_LIMIT)
			out[n++] = token_alphabet[r[i] % 62];
		i++;
	}
	out[n] = '\0';
	sodium_memzero(r, sizeof r);
	return PA_OK;
}

static bool token_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool token_valid(enum token_kind kind, const char *text)
{
	size_t want = token_chars(kind), i;

	if (want == 0 || strnlen(text, want + 1) != want)
		return false;
	for (i = 0; i < want; i++)
		if (!token_char((unsigned char)text[i]))
			return false;
	return true;
}

void token_hash(const char *token, uint8_t out[TOKEN_HASH_BYTES])
{
	crypto_hash_sha256(out, (const uint8_t *)token, strlen(token));
}

bool token_hash_equal(const uint8_t a[TOKEN_HASH_BYTES], const uint8_t b[TOKEN_HASH_BYTES])
{
	return sodium_memcmp(a, b, TOKEN_HASH_BYTES) == 0;
}
