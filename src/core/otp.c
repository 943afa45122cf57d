/*
 * otp.c — HOTP (RFC 4226) and TOTP (RFC 6238).
 *
 * HMAC (RFC 2104) is H((K ^ opad) || H((K ^ ipad) || m)).  The first block of each hash only
 * depends on the key, so otp_key_init runs those two compressions once and keeps the two hash
 * states; each code then copies the states (plain memory copies, no allocation) and does one
 * update and final on each — two compressions for SHA-1 and SHA-256, where a fresh HMAC would
 * do four plus its set-up.
 *
 * The states are stored as bytes in struct otp_key (the header stays free of OpenSSL types);
 * they go in and out with memcpy, which is the aliasing-safe way to move an object's
 * representation.  The states are as good as the key: every copy is wiped after use.
 */

/*
 * OpenSSL 3 deprecates SHA1_Init/SHA256_Init/SHA512_Init and friends in favour of EVP.  We use
 * them on purpose: the EVP way to reuse an absorbed state is EVP_MD_CTX_copy_ex, which
 * allocates on every copy, and the one-shot HMAC() costs about 3 µs a call here, which is most
 * of a verification.  The low-level functions are still the SHA-NI code paths and their
 * contexts are plain structs we can copy.  Only this file needs the exemption.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <assert.h>
#include <string.h>

#include <openssl/sha.h>
#include <sodium.h>

#include "core/otp.h"

/* The inner (key ^ ipad) and outer (key ^ opad) hash states of an HMAC key. */
struct otp_states_sha1 {
	SHA_CTX inner;
	SHA_CTX outer;
};
struct otp_states_sha256 {
	SHA256_CTX inner;
	SHA256_CTX outer;
};
struct otp_states_sha512 {
	SHA512_CTX inner;
	SHA512_CTX outer;
};

#define OTP_STATE_SIZE sizeof(((struct otp_key *)0)->state)
static_assert(sizeof(struct otp_states_sha1) <= OTP_STATE_SIZE, "otp_key.state too small");
static_assert(sizeof(struct otp_states_sha256) <= OTP_STATE_SIZE, "otp_key.state too small");
static_assert(sizeof(struct otp_states_sha512) <= OTP_STATE_SIZE, "otp_key.state too small");
static_assert(SHA512_CBLOCK >= SHA_CBLOCK && SHA512_CBLOCK >= SHA256_CBLOCK,
              "the key block buffer is sized for SHA-512");
static_assert(OTP_SECRET_MAX <= SHA512_CBLOCK, "SHA-512 keys are never hashed first");

/* RFC 2104 §2 */
#define OTP_IPAD 0x36
#define OTP_OPAD 0x5c

const char *otp_alg_name(enum otp_alg alg)
{
	switch (alg) {
	case OTP_SHA1:
		return "SHA1";
	case OTP_SHA256:
		return "SHA256";
	case OTP_SHA512:
		return "SHA512";
	}
	return NULL;
}

static char otp_ascii_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

enum pa_err otp_alg_parse(const char *name, enum otp_alg *alg)
{
	static const struct {
		const char *digits; /* what follows "SHA" and the optional dash */
		enum otp_alg alg;
	} known[] = {{"1", OTP_SHA1}, {"256", OTP_SHA256}, {"512", OTP_SHA512}};

	if (!name || !alg)
		return PA_ERR_ALGORITHM;
	if (otp_ascii_upper(name[0]) != 'S' || otp_ascii_upper(name[1]) != 'H' ||
	    otp_ascii_upper(name[2]) != 'A')
		return PA_ERR_ALGORITHM;
	const char *rest = name + 3 + (name[3] == '-');
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(rest, known[i].digits) == 0) {
			*alg = known[i].alg;
			return PA_OK;
		}
	}
	return PA_ERR_ALGORITHM;
}

/* Block size of alg's hash (RFC 2104 "B"). */
static size_t otp_block_size(enum otp_alg alg)
{
	return alg == OTP_SHA512 ? SHA512_CBLOCK : SHA_CBLOCK;
}

enum pa_err otp_key_init(struct otp_key *key, enum otp_alg alg, unsigned digits,
                         const uint8_t *secret, size_t len)
{
	enum pa_err err = PA_OK;

	if (!key)
		return PA_ERR_INVALID_ARGUMENT;
	sodium_memzero(key, sizeof(*key));
	if (alg != OTP_SHA1 && alg != OTP_SHA256 && alg != OTP_SHA512)
		return PA_ERR_ALGORITHM;
	if (digits < OTP_DIGITS_MIN || digits > OTP_DIGITS_MAX)
		return PA_ERR_DIGITS;
	if (len < OTP_SECRET_MIN || !secret)
		return PA_ERR_SECRET_TOO_SHORT;
	if (len > OTP_SECRET_MAX)
		return PA_ERR_SECRET_TOO_LONG;

	/* RFC 2104 §2: K is zero-padded to B bytes; a key longer than B is hashed first. */
	size_t block = otp_block_size(alg);
	unsigned char k0[SHA512_CBLOCK] = {0};
	unsigned char pad[SHA512_CBLOCK];
	if (len > block) {
		if (alg == OTP_SHA1)
			SHA1(secret, len, k0);
		else if (alg == OTP_SHA256)
			SHA256(secret, len, k0);
		else
			err = PA_ERR_INTERNAL; /* SHA-512's block is OTP_SECRET_MAX: unreachable */
	} else {
		memcpy(k0, secret, len);
	}

	union {
		struct otp_states_sha1 s1;
		struct otp_states_sha256 s256;
		struct otp_states_sha512 s512;
	} st;
	size_t st_size = 0;
	for (int outer = 0; err == PA_OK && outer <= 1; outer++) {
		unsigned char x = outer ? OTP_OPAD : OTP_IPAD;
		for (size_t i = 0; i < block; i++)
			pad[i] = k0[i] ^ x;
		switch (alg) {
		case OTP_SHA1: {
			SHA_CTX *c = outer ? &st.s1.outer : &st.s1.inner;
			SHA1_Init(c);
			SHA1_Update(c, pad, block);
			st_size = sizeof(st.s1);
			break;
		}
		case OTP_SHA256: {
			SHA256_CTX *c = outer ? &st.s256.outer : &st.s256.inner;
			SHA256_Init(c);
			SHA256_Update(c, pad, block);
			st_size = sizeof(st.s256);
			break;
		}
		case OTP_SHA512: {
			SHA512_CTX *c = outer ? &st.s512.outer : &st.s512.inner;
			SHA512_Init(c);
			SHA512_Update(c, pad, block);
			st_size = sizeof(st.s512);
			break;
		}
		}
	}
	if (err == PA_OK) {
		memcpy(key->state, &st, st_size);
		key->alg = alg;
		key->digits = digits;
	}
	sodium_memzero(k0, sizeof(k0));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(&st, sizeof(st));
	return err;
}

void otp_key_wipe(struct otp_key *key)
{
	if (key)
		sodium_memzero(key, sizeof(*key));
}

/* All ones when a == b, else zero, without a branch. */
static uint64_t otp_ct_eq32(uint32_t a, uint32_t b)
{
	uint64_t x = (uint64_t)(a ^ b); /* < 2^32; x - 1 borrows into bit 63 only when x == 0 */
	return 0 - ((x - 1) >> 63);
}

/* All ones when a < b, else zero, without a branch (Hacker's Delight §2-12). */
static uint64_t otp_ct_lt64(uint64_t a, uint64_t b)
{
	return 0 - ((a ^ ((a ^ b) | ((a - b) ^ b))) >> 63);
}

/*
 * RFC 4226 §5.3 dynamic truncation: the 31-bit big-endian word at offset (low nibble of the
 * last byte).  The offset is secret, so instead of indexing with it every one of the 16
 * possible words is read and the right one selected with a mask.
 */
static uint32_t otp_truncate(const unsigned char *mac, size_t mac_len)
{
	unsigned offset = mac[mac_len - 1] & 0x0f;
	uint32_t word = 0;
	for (unsigned i = 0; i < 16; i++) {
		uint32_t w = (uint32_t)mac[i] << 24 | (uint32_t)mac[i + 1] << 16 |
		             (uint32_t)mac[i + 2] << 8 | (uint32_t)mac[i + 3];
		word |= w & (uint32_t)otp_ct_eq32(i, offset);
	}
	return word & 0x7fffffff;
}

/* value mod 10^digits; constant divisors so the compiler multiplies instead of dividing. */
static uint32_t otp_reduce(uint32_t value, unsigned digits)
{
	switch (digits) {
	case 6:
		return value % 1000000u;
	case 7:
		return value % 10000000u;
	case 8:
		return value % 100000000u;
	}
	return 0;
}

/*
 * The working memory of one HMAC: a state copied from the key and the MAC.  One struct so that
 * one wipe covers both.
 */
#define OTP_HMAC(name, CTX, Update, Final, len)                                                    \
	static uint32_t name(const struct otp_key *key, const unsigned char msg[8])                \
	{                                                                                          \
		struct {                                                                           \
			CTX c;                                                                     \
			unsigned char mac[len];                                                    \
		} w;                                                                               \
		memcpy(&w.c, key->state, sizeof(w.c)); /* inner state at offset 0 */               \
		Update(&w.c, msg, 8);                                                              \
		Final(w.mac, &w.c);                                                                \
		memcpy(&w.c, key->state + sizeof(w.c), sizeof(w.c)); /* then the outer */          \
		Update(&w.c, w.mac, len);                                                          \
		Final(w.mac, &w.c);                                                                \
		uint32_t value = otp_reduce(otp_truncate(w.mac, len), key->digits);                \
		sodium_memzero(&w, sizeof(w));                                                     \
		return value;                                                                      \
	}
OTP_HMAC(otp_hotp_sha1, SHA_CTX, SHA1_Update, SHA1_Final, SHA_DIGEST_LENGTH)
OTP_HMAC(otp_hotp_sha256, SHA256_CTX, SHA256_Update, SHA256_Final, SHA256_DIGEST_LENGTH)
OTP_HMAC(otp_hotp_sha512, SHA512_CTX, SHA512_Update, SHA512_Final, SHA512_DIGEST_LENGTH)
static_assert(offsetof(struct otp_states_sha1, outer) == sizeof(SHA_CTX), "states layout");
static_assert(offsetof(struct otp_states_sha256, outer) == sizeof(SHA256_CTX), "states layout");
static_assert(offsetof(struct otp_states_sha512, outer) == sizeof(SHA512_CTX), "states layout");

uint32_t otp_hotp(const struct otp_key *key, uint64_t counter)
{
	/* RFC 4226 §5.2: the counter is 8 bytes, big-endian. */
	unsigned char msg[8];
	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)counter;
		counter >>= 8;
	}
	switch (key->alg) {
	case OTP_SHA1:
		return otp_hotp_sha1(key, msg);
	case OTP_SHA256:
		return otp_hotp_sha256(key, msg);
	case OTP_SHA512:
		return otp_hotp_sha512(key, msg);
	}
	return 0;
}

void otp_format(uint32_t value, unsigned digits, char out[OTP_CODE_MAX])
{
	if (digits < OTP_DIGITS_MIN || digits > OTP_DIGITS_MAX) {
		out[0] = '\0';
		return;
	}
	for (unsigned i = digits; i > 0; i--) {
		out[i - 1] = (char)('0' + value % 10);
		value /= 10;
	}
	out[digits] = '\0';
}

enum pa_err otp_totp_step(int64_t unix_time, unsigned period, uint64_t *step)
{
	if (period < OTP_PERIOD_MIN || period > OTP_PERIOD_MAX)
		return PA_ERR_PERIOD;
	if (unix_time < 0)
		return PA_ERR_COUNTER;
	/* RFC 6238 §4.2: T = floor((Current Unix time - T0) / X), T0 = 0 */
	*step = (uint64_t)unix_time / period;
	return PA_OK;
}

enum pa_err otp_parse_code(const char *code, unsigned digits, uint32_t *value)
{
	if (digits < OTP_DIGITS_MIN || digits > OTP_DIGITS_MAX)
		return PA_ERR_DIGITS;
	if (!code)
		return PA_ERR_INVALID_CODE;
	uint32_t v = 0;
	unsigned n = 0;
	for (const char *p = code; *p; p++) {
		if (*p == ' ')
			continue;
		if (*p < '0' || *p > '9' || n == digits)
			return PA_ERR_INVALID_CODE;
		v = v * 10 + (uint32_t)(*p - '0');
		n++;
	}
	if (n != digits)
		return PA_ERR_INVALID_CODE;
	*value = v;
	return PA_OK;
}

enum pa_err otp_verify(const struct otp_key *key, const char *code, uint64_t center,
                       unsigned behind, unsigned ahead, bool has_last, uint64_t last,
                       uint64_t *matched)
{
	if (!key || behind > OTP_WINDOW_MAX || ahead > OTP_WINDOW_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	if (key->digits < OTP_DIGITS_MIN || key->digits > OTP_DIGITS_MAX)
		return PA_ERR_INVALID_ARGUMENT;

	/*
	 * A malformed code returns at once: its shape is what the client sent, so the early
	 * return says nothing the client does not know, and nothing about the key.
	 */
	uint32_t want;
	if (otp_parse_code(code, key->digits, &want) != PA_OK)
		return PA_ERR_INVALID_CODE;

	/* The window's bounds depend only on public values (the time and the window). */
	uint64_t lo = center >= behind ? center - behind : 0;
	uint64_t hi = center <= UINT64_MAX - ahead ? center + ahead : UINT64_MAX;

	/*
	 * Every candidate is computed and compared; the outcome is accumulated in masks so that
	 * neither the loop's length nor any branch depends on which candidate matched.
	 * Candidates rise, so the last match that is fresh is the highest one.
	 */
	uint64_t fresh_only = has_last ? 0 : ~(uint64_t)0; /* public: no step accepted yet */
	uint64_t any = 0, fresh = 0, best = 0;
	for (uint64_t c = lo;; c++) {
		uint64_t eq = otp_ct_eq32(otp_hotp(key, c), want);
		/* RFC 6238 §5.2: a step at or before the last accepted one is not accepted again */
		uint64_t ok = eq & (fresh_only | otp_ct_lt64(last, c));
		any |= eq;
		fresh |= ok;
		best = (best & ~ok) | (c & ok);
		if (c == hi)
			break;
	}

	if (fresh) {
		if (matched)
			*matched = best;
		return PA_OK;
	}
	return any ? PA_ERR_REPLAYED_CODE : PA_ERR_INVALID_CODE;
}
