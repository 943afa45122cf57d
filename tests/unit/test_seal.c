/*
 * test_seal.c — sealed secrets: the documented byte layout, round trip, tampering, binding to
 * account, purpose and key, unknown keys, rotation, keys' check values, and the key file's text
 * format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/core.h"
#include "core/seal.h"

#define ACCOUNT 7
#define PURPOSE "totp-secret"

static const uint8_t secret[20] = "12345678901234567890"; /* RFC 4226's test secret */

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

static struct seal_keyring *ring_with(uint32_t id, uint8_t fill)
{
	struct seal_keyring *kr;
	uint8_t key[SEAL_KEY_BYTES];

	memset(key, fill, sizeof key);
	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	assert_int_equal(seal_keyring_add(kr, id, key), PA_OK);
	return kr;
}

static size_t seal_secret(const struct seal_keyring *kr, uint8_t out[SEAL_SEALED_MAX])
{
	size_t n = 0;

	assert_int_equal(
	    seal_seal(kr, PURPOSE, ACCOUNT, secret, sizeof secret, out, SEAL_SEALED_MAX, &n),
	    PA_OK);
	assert_int_equal(n, SEAL_SEALED_LEN(sizeof secret));
	return n;
}

static enum pa_err open_as(const struct seal_keyring *kr, const char *purpose, uint64_t account,
                           const uint8_t *sealed, size_t n)
{
	uint8_t plain[SEAL_PLAIN_MAX];
	size_t plain_len = 0;
	enum pa_err e = seal_open(kr, purpose, account, sealed, n, plain, sizeof plain, &plain_len);

	if (e == PA_OK) {
		assert_int_equal(plain_len, sizeof secret);
		assert_memory_equal(plain, secret, sizeof secret);
	}
	return e;
}

static void test_round_trip(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t sealed[SEAL_SEALED_MAX], plain[SEAL_PLAIN_MAX], big[SEAL_PLAIN_MAX];
	size_t n, m = 0;

	(void)state;
	n = seal_secret(kr, sealed);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n), PA_OK);

	/* empty and largest plaintexts */
	assert_int_equal(seal_seal(kr, PURPOSE, ACCOUNT, NULL, 0, sealed, sizeof sealed, &n),
	                 PA_OK);
	assert_int_equal(n, SEAL_OVERHEAD);
	assert_int_equal(seal_open(kr, PURPOSE, ACCOUNT, sealed, n, plain, sizeof plain, &m),
	                 PA_OK);
	assert_int_equal(m, 0);
	randombytes_buf(big, sizeof big);
	assert_int_equal(
	    seal_seal(kr, PURPOSE, ACCOUNT, big, sizeof big, sealed, sizeof sealed, &n), PA_OK);
	assert_int_equal(n, SEAL_SEALED_MAX);
	assert_int_equal(seal_open(kr, PURPOSE, ACCOUNT, sealed, n, plain, sizeof plain, &m),
	                 PA_OK);
	assert_int_equal(m, sizeof big);
	assert_memory_equal(plain, big, sizeof big);
	seal_keyring_free(kr);
}

/* The header is as seal.h documents, and the AEAD is XChaCha20-Poly1305 over the documented AD. */
static void test_layout_as_documented(void **state)
{
	struct seal_keyring *kr = ring_with(0x01020304, 0x22);
	uint8_t sealed[SEAL_SEALED_MAX], plain[sizeof secret], key[SEAL_KEY_BYTES];
	uint8_t ad[1 + 4 + 8 + sizeof PURPOSE - 1];
	unsigned long long mlen;
	size_t n;
	uint32_t id;

	(void)state;
	n = seal_secret(kr, sealed);
	assert_int_equal(sealed[0], 1);
	assert_memory_equal(sealed + 1, "\x01\x02\x03\x04", 4);
	assert_int_equal(seal_key_id(sealed, n, &id), PA_OK);
	assert_int_equal(id, 0x01020304);

	memcpy(ad, sealed, 5);
	memcpy(ad + 5, "\0\0\0\0\0\0\0\x07", 8);
	memcpy(ad + 13, PURPOSE, sizeof PURPOSE - 1);
	memset(key, 0x22, sizeof key);
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, sealed + 29,
	                                                            n - 29, ad, sizeof ad,
	                                                            sealed + 5, key),
	                 0);
	assert_int_equal(mlen, sizeof secret);
	assert_memory_equal(plain, secret, sizeof secret);
	seal_keyring_free(kr);
}

static void test_nonce_fresh_each_time(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t a[SEAL_SEALED_MAX], b[SEAL_SEALED_MAX];
	size_t n;

	(void)state;
	n = seal_secret(kr, a);
	assert_int_equal(seal_secret(kr, b), n);
	assert_memory_not_equal(a + 5, b + 5, SEAL_NONCE_BYTES);
	assert_memory_not_equal(a + SEAL_HEADER_BYTES, b + SEAL_HEADER_BYTES,
	                        n - SEAL_HEADER_BYTES);
	seal_keyring_free(kr);
}

static void test_tampering_any_byte_fails(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t sealed[SEAL_SEALED_MAX];
	size_t n, i;
	unsigned bit;

	(void)state;
	n = seal_secret(kr, sealed);
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			enum pa_err e;

			sealed[i] ^= (uint8_t)(1u << bit);
			e = open_as(kr, PURPOSE, ACCOUNT, sealed, n);
			if (i == 0)
				assert_int_equal(e, PA_ERR_SEAL_FORMAT);
			else if (i < 5)
				assert_true(e == PA_ERR_SEAL_KEY_UNKNOWN ||
				            e == PA_ERR_SEAL_FORMAT);
			else
				assert_int_equal(e, PA_ERR_SEAL_OPEN);
			sealed[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* truncated or extended */
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n - 1), PA_ERR_SEAL_OPEN);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n + 1), PA_ERR_SEAL_OPEN);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, SEAL_OVERHEAD - 1),
	                 PA_ERR_SEAL_FORMAT);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, 0), PA_ERR_SEAL_FORMAT);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n), PA_OK);
	seal_keyring_free(kr);
}

static void test_other_account_fails(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t sealed[SEAL_SEALED_MAX];
	size_t n;

	(void)state;
	n = seal_secret(kr, sealed);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT + 1, sealed, n), PA_ERR_SEAL_OPEN);
	assert_int_equal(open_as(kr, PURPOSE, (uint64_t)ACCOUNT << 32, sealed, n),
	                 PA_ERR_SEAL_OPEN);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n), PA_OK);
	seal_keyring_free(kr);
}

static void test_other_purpose_fails(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t sealed[SEAL_SEALED_MAX], plain[64];
	size_t n, m;

	(void)state;
	n = seal_secret(kr, sealed);
	assert_int_equal(open_as(kr, "device-secret", ACCOUNT, sealed, n), PA_ERR_SEAL_OPEN);
	assert_int_equal(open_as(kr, "totp-secre", ACCOUNT, sealed, n), PA_ERR_SEAL_OPEN);
	assert_int_equal(open_as(kr, "totp-secret2", ACCOUNT, sealed, n), PA_ERR_SEAL_OPEN);
	/* purposes must be short printable tags */
	assert_int_equal(open_as(kr, "", ACCOUNT, sealed, n), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(open_as(kr, "totp secret", ACCOUNT, sealed, n), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(
	    seal_seal(kr, "x\n", ACCOUNT, secret, sizeof secret, sealed, sizeof sealed, &n),
	    PA_ERR_INVALID_ARGUMENT);
	{
		char longp[SEAL_PURPOSE_MAX + 2];

		memset(longp, 'p', sizeof longp);
		longp[SEAL_PURPOSE_MAX] = '\0';
		assert_int_equal(
		    seal_seal(kr, longp, ACCOUNT, secret, sizeof secret, sealed, sizeof sealed, &n),
		    PA_OK);
		assert_int_equal(seal_open(kr, longp, ACCOUNT, sealed, n, plain, sizeof plain, &m),
		                 PA_OK);
		longp[SEAL_PURPOSE_MAX] = 'p';
		longp[SEAL_PURPOSE_MAX + 1] = '\0';
		assert_int_equal(
		    seal_seal(kr, longp, ACCOUNT, secret, sizeof secret, sealed, sizeof sealed, &n),
		    PA_ERR_INVALID_ARGUMENT);
	}
	seal_keyring_free(kr);
}

static void test_unknown_key_id(void **state)
{
	struct seal_keyring *a = ring_with(1, 0x11), *b = ring_with(2, 0x11), *empty;
	uint8_t sealed[SEAL_SEALED_MAX];
	size_t n;

	(void)state;
	n = seal_secret(a, sealed);
	assert_int_equal(open_as(b, PURPOSE, ACCOUNT, sealed, n), PA_ERR_SEAL_KEY_UNKNOWN);
	/* same id, different key: fails to open */
	{
		struct seal_keyring *c = ring_with(1, 0x33);

		assert_int_equal(open_as(c, PURPOSE, ACCOUNT, sealed, n), PA_ERR_SEAL_OPEN);
		seal_keyring_free(c);
	}
	/* sealing needs a key */
	assert_int_equal(seal_keyring_new(&empty), PA_OK);
	assert_int_equal(seal_keyring_current(empty), 0);
	assert_int_equal(
	    seal_seal(empty, PURPOSE, ACCOUNT, secret, sizeof secret, sealed, sizeof sealed, &n),
	    PA_ERR_SEAL_KEY_UNKNOWN);
	seal_keyring_free(empty);
	seal_keyring_free(a);
	seal_keyring_free(b);
}

static void test_malformed(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t sealed[SEAL_SEALED_MAX + 1], plain[SEAL_PLAIN_MAX];
	size_t n, m;
	uint32_t id;

	(void)state;
	n = seal_secret(kr, sealed);
	sealed[0] = 2; /* a future version */
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n), PA_ERR_SEAL_FORMAT);
	assert_int_equal(seal_key_id(sealed, n, &id), PA_ERR_SEAL_FORMAT);
	sealed[0] = 1;
	memset(sealed + 1, 0, 4); /* key id 0 */
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n), PA_ERR_SEAL_FORMAT);
	/* longer than any sealed value */
	memset(sealed, 0, sizeof sealed);
	sealed[0] = 1;
	sealed[4] = 1;
	assert_int_equal(
	    seal_open(kr, PURPOSE, ACCOUNT, sealed, sizeof sealed, plain, sizeof plain, &m),
	    PA_ERR_SEAL_FORMAT);
	/* too small buffers */
	n = seal_secret(kr, sealed);
	memset(plain, 'x', sizeof plain);
	assert_int_equal(seal_open(kr, PURPOSE, ACCOUNT, sealed, n, plain, sizeof secret - 1, &m),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(plain[0], 0);
	assert_int_equal(seal_seal(kr, PURPOSE, ACCOUNT, secret, sizeof secret, sealed,
	                           SEAL_SEALED_LEN(sizeof secret) - 1, &n),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(
	    seal_seal(kr, PURPOSE, ACCOUNT, plain, SEAL_PLAIN_MAX + 1, sealed, sizeof sealed, &n),
	    PA_ERR_INVALID_ARGUMENT);
	seal_keyring_free(kr);
}

static void test_rotation_old_values_open_new_use_new_key(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t old[SEAL_SEALED_MAX], fresh[SEAL_SEALED_MAX], again[SEAL_SEALED_MAX];
	size_t n_old, n_fresh, n_again;
	uint32_t id;

	(void)state;
	n_old = seal_secret(kr, old);
	assert_false(seal_needs_reseal(kr, old, n_old));

	assert_int_equal(seal_keyring_add_new(kr, &id), PA_OK);
	assert_int_equal(id, 2);
	assert_int_equal(seal_keyring_current(kr), 2);
	assert_int_equal(seal_keyring_count(kr), 2);

	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, old, n_old), PA_OK);
	assert_true(seal_needs_reseal(kr, old, n_old));
	n_fresh = seal_secret(kr, fresh);
	assert_int_equal(seal_key_id(fresh, n_fresh, &id), PA_OK);
	assert_int_equal(id, 2);
	assert_false(seal_needs_reseal(kr, fresh, n_fresh));

	assert_int_equal(
	    seal_reseal(kr, PURPOSE, ACCOUNT, old, n_old, again, sizeof again, &n_again), PA_OK);
	assert_int_equal(seal_key_id(again, n_again, &id), PA_OK);
	assert_int_equal(id, 2);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, again, n_again), PA_OK);
	/* re-sealing keeps the binding: another account cannot re-seal it */
	assert_int_equal(
	    seal_reseal(kr, PURPOSE, ACCOUNT + 1, old, n_old, again, sizeof again, &n_again),
	    PA_ERR_SEAL_OPEN);

	/* going back to key 1 by hand */
	assert_int_equal(seal_keyring_set_current(kr, 1), PA_OK);
	assert_int_equal(seal_keyring_set_current(kr, 9), PA_ERR_SEAL_KEY_UNKNOWN);
	n_fresh = seal_secret(kr, fresh);
	assert_int_equal(seal_key_id(fresh, n_fresh, &id), PA_OK);
	assert_int_equal(id, 1);
	seal_keyring_free(kr);
}

static void test_keyring_limits(void **state)
{
	struct seal_keyring *kr;
	uint8_t key[SEAL_KEY_BYTES] = {0};
	uint32_t id, i;

	(void)state;
	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	assert_int_equal(seal_keyring_add(kr, 0, key), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(seal_keyring_add(kr, 5, key), PA_OK);
	assert_int_equal(seal_keyring_add(kr, 5, key), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(seal_keyring_add(kr, 3, key), PA_OK);
	assert_int_equal(seal_keyring_current(kr), 5); /* the first added stays current */
	for (i = 0; i < SEAL_KEYS_MAX - 2; i++)
		assert_int_equal(seal_keyring_add_new(kr, &id), PA_OK);
	assert_int_equal(id, 5 + SEAL_KEYS_MAX - 2);
	assert_int_equal(seal_keyring_add(kr, 1000, key), PA_ERR_TOO_MANY);
	assert_int_equal(seal_keyring_add_new(kr, &id), PA_ERR_TOO_MANY);
	seal_keyring_free(kr);

	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	assert_int_equal(seal_keyring_add(kr, UINT32_MAX, key), PA_OK);
	assert_int_equal(seal_keyring_add_new(kr, &id), PA_ERR_COUNTER);
	seal_keyring_free(kr);
	seal_keyring_free(NULL);
}

static void test_frozen_keyring_refuses_changes_but_works(void **state)
{
	struct seal_keyring *kr = ring_with(1, 0x11);
	uint8_t key[SEAL_KEY_BYTES] = {0}, sealed[SEAL_SEALED_MAX];
	char text[SEAL_KEYFILE_FORMAT_SIZE];
	size_t n;
	uint32_t id;

	(void)state;
	seal_keyring_freeze(kr);
	assert_int_equal(seal_keyring_add(kr, 2, key), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(seal_keyring_add_new(kr, &id), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(seal_keyring_set_current(kr, 1), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(seal_keyfile_parse(kr, "", 0, NULL), PA_ERR_INVALID_ARGUMENT);
	n = seal_secret(kr, sealed);
	assert_int_equal(open_as(kr, PURPOSE, ACCOUNT, sealed, n), PA_OK);
	assert_int_equal(seal_keyfile_format(kr, text, sizeof text, &n), PA_OK);
	seal_keyring_free(kr);
}

/* ---- check values ------------------------------------------------------------------------- */

/* The documented construction, computed here on its own. */
static void expected_check(uint8_t fill, uint8_t out[SEAL_CHECK_BYTES])
{
	static const char text[] = "pahara seal key check v1";
	uint8_t key[SEAL_KEY_BYTES], mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	memset(key, fill, sizeof key);
	crypto_auth_hmacsha256_init(&st, key, sizeof key);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)text, sizeof text - 1);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, mac, SEAL_CHECK_BYTES);
}

/* seal_key_check against a value from another implementation (Python's hmac):
 * HMAC-SHA-256(bytes 1..32, "pahara export: code key check")[:16].  The export file's
 * code_key_check is this value, so it must never change. */
static void test_key_check_fixed_vector(void **state)
{
	static const uint8_t want[SEAL_CHECK_BYTES] = {0x02, 0x26, 0x32, 0xae, 0x0f, 0x38,
	                                               0x8c, 0xf7, 0x22, 0x86, 0xea, 0x4c,
	                                               0xa0, 0x5e, 0xc6, 0xbc};
	uint8_t key[32], got[SEAL_CHECK_BYTES];

	(void)state;
	for (unsigned i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)(i + 1);
	seal_key_check(key, sizeof key, "pahara export: code key check", got);
	assert_memory_equal(got, want, SEAL_CHECK_BYTES);
}

static void test_check_value_as_documented_and_per_key(void **state)
{
	struct seal_keyring *a = ring_with(1, 0x11), *b = ring_with(7, 0x11),
	                    *c = ring_with(1, 0x12);
	uint8_t want[SEAL_CHECK_BYTES], got[SEAL_CHECK_BYTES], other[SEAL_CHECK_BYTES];
	uint8_t key[SEAL_KEY_BYTES];

	(void)state;
	expected_check(0x11, want);
	assert_int_equal(seal_keyring_check(a, 1, got), PA_OK);
	assert_memory_equal(got, want, SEAL_CHECK_BYTES);
	/* the same key under another id, in another keyring: the same value */
	assert_int_equal(seal_keyring_check(b, 7, other), PA_OK);
	assert_memory_equal(other, want, SEAL_CHECK_BYTES);
	/* another key under the same id: another value */
	assert_int_equal(seal_keyring_check(c, 1, other), PA_OK);
	assert_memory_not_equal(other, want, SEAL_CHECK_BYTES);
	/* the value is not the key, nor a prefix of it */
	memset(key, 0x11, sizeof key);
	assert_memory_not_equal(got, key, SEAL_CHECK_BYTES);

	/* an id the keyring lacks: an error, and nothing left in out */
	memset(got, 0xa5, sizeof got);
	assert_int_equal(seal_keyring_check(a, 2, got), PA_ERR_SEAL_KEY_UNKNOWN);
	assert_int_equal(seal_keyring_check(a, 0, got), PA_ERR_SEAL_KEY_UNKNOWN);
	memset(other, 0, sizeof other);
	assert_memory_equal(got, other, SEAL_CHECK_BYTES);

	/* a frozen keyring answers too */
	seal_keyring_freeze(a);
	assert_int_equal(seal_keyring_check(a, 1, got), PA_OK);
	assert_memory_equal(got, want, SEAL_CHECK_BYTES);
	seal_keyring_free(a);
	seal_keyring_free(b);
	seal_keyring_free(c);
}

static void test_keyring_ids_in_increasing_order(void **state)
{
	struct seal_keyring *kr;
	uint8_t key[SEAL_KEY_BYTES] = {0};
	uint32_t ids[SEAL_KEYS_MAX], id;
	uint8_t check[SEAL_CHECK_BYTES];
	unsigned i;

	(void)state;
	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	assert_int_equal(seal_keyring_ids(kr, ids), 0);
	assert_int_equal(seal_keyring_add(kr, 9, key), PA_OK);
	assert_int_equal(seal_keyring_add(kr, 2, key), PA_OK);
	assert_int_equal(seal_keyring_add(kr, UINT32_MAX - 1, key), PA_OK);
	assert_int_equal(seal_keyring_add(kr, 5, key), PA_OK);
	assert_int_equal(seal_keyring_add_new(kr, &id), PA_OK);
	assert_int_equal(id, UINT32_MAX);
	assert_int_equal(seal_keyring_ids(kr, ids), 5);
	assert_int_equal(ids[0], 2);
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[2], 9);
	assert_int_equal(ids[3], UINT32_MAX - 1);
	assert_int_equal(ids[4], UINT32_MAX);
	/* every listed id has a check value */
	for (i = 0; i < 5; i++)
		assert_int_equal(seal_keyring_check(kr, ids[i], check), PA_OK);
	seal_keyring_free(kr);

	/* a full keyring */
	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	for (i = 0; i < SEAL_KEYS_MAX; i++)
		assert_int_equal(seal_keyring_add(kr, SEAL_KEYS_MAX - i, key), PA_OK);
	assert_int_equal(seal_keyring_ids(kr, ids), SEAL_KEYS_MAX);
	for (i = 0; i < SEAL_KEYS_MAX; i++)
		assert_int_equal(ids[i], i + 1);
	seal_keyring_free(kr);
}

/* ---- key file ----------------------------------------------------------------------------- */

static void test_keyfile_round_trip(void **state)
{
	struct seal_keyring *kr, *back;
	char text[SEAL_KEYFILE_FORMAT_SIZE], text2[SEAL_KEYFILE_FORMAT_SIZE];
	uint8_t sealed[SEAL_SEALED_MAX];
	size_t n, len, len2, line = 99;
	uint32_t id;
	unsigned i;

	(void)state;
	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	for (i = 0; i < SEAL_KEYS_MAX; i++)
		assert_int_equal(seal_keyring_add_new(kr, &id), PA_OK);
	assert_int_equal(seal_keyring_set_current(kr, 3), PA_OK);
	n = seal_secret(kr, sealed);

	assert_int_equal(seal_keyfile_format(kr, text, sizeof text, &len), PA_OK);
	assert_int_equal(strlen(text), len);
	assert_true(strncmp(text, "pahara-key v1 1 ", 16) == 0);
	assert_int_equal(len, 9 * (14 + 1 + 1 + 64 + 1) + 7 * (14 + 2 + 1 + 64 + 1));

	assert_int_equal(seal_keyring_new(&back), PA_OK);
	assert_int_equal(seal_keyfile_parse(back, text, len, &line), PA_OK);
	assert_int_equal(line, 0);
	assert_int_equal(seal_keyring_count(back), SEAL_KEYS_MAX);
	assert_int_equal(seal_keyring_current(back), SEAL_KEYS_MAX); /* the highest id */
	assert_int_equal(open_as(back, PURPOSE, ACCOUNT, sealed, n), PA_OK);
	assert_int_equal(seal_keyfile_format(back, text2, sizeof text2, &len2), PA_OK);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);

	/* too small an output buffer */
	assert_int_equal(seal_keyfile_format(kr, text2, len, &len2), PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(text2[0], '\0');
	assert_int_equal(seal_keyfile_format(kr, text2, 0, &len2), PA_ERR_BUFFER_TOO_SMALL);
	seal_keyring_free(kr);
	seal_keyring_free(back);
}

static void test_keyfile_comments_order_and_highest_current(void **state)
{
	static const char text[] =
	    "# pahara seal keys\n"
	    "\n"
	    "pahara-key v1 7 000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n"
	    "# the old one\n"
	    "pahara-key v1 4294967295 "
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n"
	    "pahara-key v1 3 0000000000000000000000000000000000000000000000000000000000000000";
	struct seal_keyring *kr;
	char out[SEAL_KEYFILE_FORMAT_SIZE];
	size_t line, len;

	(void)state;
	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	assert_int_equal(seal_keyfile_parse(kr, text, sizeof text - 1, &line), PA_OK);
	assert_int_equal(seal_keyring_count(kr), 3);
	assert_int_equal(seal_keyring_current(kr), 4294967295u);
	assert_int_equal(seal_keyfile_format(kr, out, sizeof out, &len), PA_OK);
	assert_string_equal(
	    out,
	    "pahara-key v1 3 0000000000000000000000000000000000000000000000000000000000000000\n"
	    "pahara-key v1 7 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	    "pahara-key v1 4294967295 "
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n");
	/* parsing needs an empty keyring */
	assert_int_equal(seal_keyfile_parse(kr, text, sizeof text - 1, &line),
	                 PA_ERR_INVALID_ARGUMENT);
	seal_keyring_free(kr);
}

static void expect_bad_keyfile(const char *text, size_t want_line)
{
	struct seal_keyring *kr;
	size_t line = 99;

	assert_int_equal(seal_keyring_new(&kr), PA_OK);
	assert_int_equal(seal_keyfile_parse(kr, text, strlen(text), &line), PA_ERR_KEY_FILE);
	assert_int_equal(line, want_line);
	assert_int_equal(seal_keyring_count(kr), 0); /* left empty */
	assert_int_equal(seal_keyring_current(kr), 0);
	seal_keyring_free(kr);
}

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void test_keyfile_malformed(void **state)
{
	(void)state;
	expect_bad_keyfile("", 0);
	expect_bad_keyfile("# only a comment\n\n", 0);
	expect_bad_keyfile("pahara-key v1 1 " HEX64 "\npahara-key v2 2 " HEX64 "\n", 2);
	expect_bad_keyfile("pahara-key v1 0 " HEX64 "\n", 1);          /* id 0 */
	expect_bad_keyfile("pahara-key v1 01 " HEX64 "\n", 1);         /* leading zero */
	expect_bad_keyfile("pahara-key v1 4294967296 " HEX64 "\n", 1); /* > 32 bits */
	expect_bad_keyfile("pahara-key v1 -1 " HEX64 "\n", 1);
	expect_bad_keyfile("pahara-key v1 1  " HEX64 "\n", 1);  /* two spaces */
	expect_bad_keyfile("pahara-key v1 1 " HEX64 "0\n", 1);  /* 65 digits */
	expect_bad_keyfile("pahara-key v1 1 " HEX64 " \n", 1);  /* trailing space */
	expect_bad_keyfile("pahara-key v1 1 " HEX64 "\r\n", 1); /* CR */
	expect_bad_keyfile("pahara-key v1 1 00112233445566778899aabbccddeeff"
	                   "00112233445566778899aabbccddeefg\n",
	                   1); /* not hex */
	expect_bad_keyfile("pahara-key v1 1 " HEX64 "\n pahara-key v1 2 " HEX64 "\n", 2);
	expect_bad_keyfile("pahara-key v1 1 " HEX64 "\npahara-key v1 1 " HEX64 "\n", 2);
	expect_bad_keyfile("pahara-key v1 1\n", 1);
	{
		/* one key too many */
		char text[(SEAL_KEYS_MAX + 1) * SEAL_KEYFILE_LINE_MAX + 1];
		size_t used = 0;
		unsigned i;

		for (i = 1; i <= SEAL_KEYS_MAX + 1; i++)
			used += (size_t)snprintf(text + used, sizeof text - used,
			                         "pahara-key v1 %u " HEX64 "\n", i);
		expect_bad_keyfile(text, SEAL_KEYS_MAX + 1);
	}
	{
		/* too long as a whole, however harmless */
		static char text[SEAL_KEYFILE_TEXT_MAX + 2];
		struct seal_keyring *kr;
		size_t line = 99;

		memset(text, '\n', sizeof text);
		assert_int_equal(seal_keyring_new(&kr), PA_OK);
		assert_int_equal(seal_keyfile_parse(kr, text, SEAL_KEYFILE_TEXT_MAX + 1, &line),
		                 PA_ERR_KEY_FILE);
		assert_int_equal(line, 0);
		seal_keyring_free(kr);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_layout_as_documented),
	    cmocka_unit_test(test_nonce_fresh_each_time),
	    cmocka_unit_test(test_tampering_any_byte_fails),
	    cmocka_unit_test(test_other_account_fails),
	    cmocka_unit_test(test_other_purpose_fails),
	    cmocka_unit_test(test_unknown_key_id),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_rotation_old_values_open_new_use_new_key),
	    cmocka_unit_test(test_keyring_limits),
	    cmocka_unit_test(test_frozen_keyring_refuses_changes_but_works),
	    cmocka_unit_test(test_check_value_as_documented_and_per_key),
	    cmocka_unit_test(test_key_check_fixed_vector),
	    cmocka_unit_test(test_keyring_ids_in_increasing_order),
	    cmocka_unit_test(test_keyfile_round_trip),
	    cmocka_unit_test(test_keyfile_comments_order_and_highest_current),
	    cmocka_unit_test(test_keyfile_malformed),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
