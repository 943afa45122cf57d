/*
 * base32.c — RFC 4648 §6 base32 for OTP secrets.
 *
 * The text being converted is usually a secret, so the mapping between symbols and values is
 * done with arithmetic masks rather than a lookup table: a table index would leave the secret's
 * symbols in the cache access pattern.  Only errors branch, and an error is about text the user
 * typed, not about a secret that was accepted.
 *
 * Decoding is two passes over the input: the first finds every error and counts the data
 * symbols (so errors are reported in the order they appear, and the output size is known
 * before anything is written), the second writes bytes.
 */
#include <sodium.h>

#include "core/base32.h"

/* All ones when lo <= c <= hi, else zero; c, lo, hi in 0..255. */
static unsigned b32_in_range(unsigned c, unsigned lo, unsigned hi)
{
	/* (c - lo) and (hi - c) both non-negative <=> no borrow into bit 8 and above */
	return 0u - (~(((c - lo) | (hi - c)) >> 8) & 1u);
}

/* The 5-bit value of a base32 character, or -1 when it is not in the alphabet (either case). */
static int b32_value(unsigned char ch)
{
	unsigned c = ch;
	unsigned upper = b32_in_range(c, 'A', 'Z');
	unsigned lower = b32_in_range(c, 'a', 'z');
	unsigned digit = b32_in_range(c, '2', '7');
	unsigned v = (upper & (c - 'A')) | (lower & (c - 'a')) | (digit & (c - '2' + 26));
	unsigned valid = upper | lower | digit;

	return (int)(v & valid) | (int)~valid;
}

/* The upper-case base32 character of a 5-bit value. */
static char b32_char(unsigned v)
{
	unsigned is_digit = b32_in_range(v, 26, 31);

	/* 'A' + v for 0..25, '2' + (v - 26) for 26..31 */
	return (char)('A' + v + (is_digit & (unsigned)('2' - 26 - 'A')));
}

static bool b32_ignored(char c)
{
	return c == ' ' || c == '-';
}

enum pa_err base32_encode(const uint8_t *in, size_t n, bool pad, char *out, size_t out_size)
{
	if (n > (SIZE_MAX - 8) / 8)
		return PA_ERR_BUFFER_TOO_SMALL;
	size_t len = pad ? BASE32_PADDED_LEN(n) : BASE32_ENCODED_LEN(n);
	if (!out || out_size < len + 1)
		return PA_ERR_BUFFER_TOO_SMALL;

	size_t o = 0;
	uint32_t acc = 0; /* bits not yet written, right-aligned */
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_char((acc >> bits) & 31);
		}
	}
	if (bits > 0)
		out[o++] = b32_char((acc << (5 - bits)) & 31);
	while (o < len)
		out[o++] = '=';
	out[o] = '\0';
	return PA_OK;
}

/*
 * Symbols in the last (partial) group → bytes they carry; 0 for counts no encoding has.
 * RFC 4648 §6: a final quantum of 8, 16, 24 or 32 bits becomes 2, 4, 5 or 7 symbols.
 */
static size_t b32_tail_bytes(size_t symbols)
{
	static const unsigned char bytes[8] = {0, 0, 1, 0, 2, 3, 0, 4};
	return bytes[symbols % 8];
}

/* Whether a partial group of this many symbols is one an encoder can produce. */
static bool b32_tail_ok(size_t symbols)
{
	return symbols % 8 == 0 || b32_tail_bytes(symbols) != 0;
}

static enum pa_err b32_fail(enum pa_err e, size_t pos, size_t *err_pos, uint8_t *out,
                            size_t out_size)
{
	if (err_pos)
		*err_pos = pos;
	if (out && out_size)
		sodium_memzero(out, out_size);
	return e;
}

enum pa_err base32_decode(const char *in, size_t in_len, uint8_t *out, size_t out_size,
                          size_t *out_len, size_t *err_pos)
{
	if (out_len)
		*out_len = 0;
	if (!in && in_len)
		return b32_fail(PA_ERR_BASE32_LENGTH, 0, err_pos, out, out_size);

	/* Pass 1: validate, count data symbols, remember where padding starts. */
	size_t symbols = 0, pads = 0;
	size_t pad_pos = 0, last_pos = 0;
	int last_val = 0;
	for (size_t i = 0; i < in_len; i++) {
		char c = in[i];
		if (b32_ignored(c))
			continue;
		if (c == '=') {
			if (pads == 0)
				pad_pos = i;
			pads++;
			continue;
		}
		int v = b32_value((unsigned char)c);
		if (v < 0)
			return b32_fail(PA_ERR_BASE32_CHAR, i, err_pos, out, out_size);
		if (pads > 0) /* data after padding: the padding is what is misplaced */
			return b32_fail(PA_ERR_BASE32_PADDING, pad_pos, err_pos, out, out_size);
		symbols++;
		last_pos = i;
		last_val = v;
	}
	if (!b32_tail_ok(symbols))
		return b32_fail(PA_ERR_BASE32_LENGTH, in_len, err_pos, out, out_size);
	/* RFC 4648 §6: padding only completes a partial final group to 8 symbols. */
	if (pads > 0 && (symbols % 8 == 0 || (symbols + pads) % 8 != 0 || pads >= 8))
		return b32_fail(PA_ERR_BASE32_PADDING, pad_pos, err_pos, out, out_size);
	/* RFC 4648 §3.5: the bits of the last symbol beyond the last whole byte must be zero. */
	static const unsigned char spare_bits[8] = {0, 0, 2, 0, 4, 1, 0, 3};
	unsigned spare = spare_bits[symbols % 8];
	if (spare && ((unsigned)last_val & ((1u << spare) - 1)))
		return b32_fail(PA_ERR_BASE32_TRAILING_BITS, last_pos, err_pos, out, out_size);

	size_t n = symbols / 8 * 5 + b32_tail_bytes(symbols);
	if (n > out_size || (n && !out))
		return b32_fail(PA_ERR_BUFFER_TOO_SMALL, in_len, err_pos, out, out_size);

	/* Pass 2: everything is known to be valid. */
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < in_len && o < n; i++) {
		char c = in[i];
		if (b32_ignored(c) || c == '=')
			continue;
		acc = (acc << 5) | (unsigned)b32_value((unsigned char)c);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (out_len)
		*out_len = n;
	return PA_OK;
}
