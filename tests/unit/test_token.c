/*
 * test_token.c — session tokens and identifiers: length and alphabet, uniform characters, the
 * shape check for presented tokens, SHA-256 at rest and the constant-time comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/core.h"
#include "core/token.h"

static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

static void test_session_token_is_43_base62_characters(void **state)
{
	char t[TOKEN_SESSION_SIZE];

	(void)state;
	assert_int_equal(token_generate(TOKEN_SESSION, t, sizeof t), PA_OK);
	assert_int_equal(strlen(t), TOKEN_SESSION_CHARS);
	assert_int_equal(strspn(t, alphabet), TOKEN_SESSION_CHARS);
	assert_true(token_valid(TOKEN_SESSION, t));
	assert_false(token_valid(TOKEN_ID, t));
	/* 43 characters of log2(62) bits each carry at least 256 bits */
	assert_true(TOKEN_SESSION_CHARS * 5.954196 >= 256.0);
	assert_int_equal(token_chars(TOKEN_SESSION), TOKEN_SESSION_CHARS);
}

static void test_identifier_is_32_base62_characters_of_190_bits(void **state)
{
	char t[TOKEN_ID_SIZE];

	(void)state;
	assert_int_equal(token_generate(TOKEN_ID, t, sizeof t), PA_OK);
	assert_int_equal(strlen(t), TOKEN_ID_CHARS);
	assert_int_equal(strspn(t, alphabet), TOKEN_ID_CHARS);
	assert_true(token_valid(TOKEN_ID, t));
	assert_false(token_valid(TOKEN_SESSION, t));
	assert_true(TOKEN_ID_CHARS * 5.954196 >= 190.0);
}

static void test_generate_refuses_small_buffer_and_unknown_kind(void **state)
{
	char t[TOKEN_SESSION_SIZE];

	(void)state;
	memset(t, 'x', sizeof t);
	assert_int_equal(token_generate(TOKEN_SESSION, t, TOKEN_SESSION_CHARS),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(t[0], 'x');
	assert_int_equal(token_generate(TOKEN_ID, t, TOKEN_ID_CHARS), PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(token_generate((enum token_kind)9, t, sizeof t), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(token_chars((enum token_kind)9), 0);
	/* a larger buffer is fine, the token is still exactly its length */
	assert_int_equal(token_generate(TOKEN_ID, t, sizeof t), PA_OK);
	assert_int_equal(strlen(t), TOKEN_ID_CHARS);
}

/*
 * Every character equally likely: a chi-squared test over 860 000 characters.  With 61 degrees
 * of freedom a fair source exceeds 140 with probability below 1e-9; plain "byte % 62" (eight
 * characters at 5/256 instead of 4/256) scores in the thousands.
 */
static void test_characters_are_uniform(void **state)
{
	static unsigned long count[62];
	char t[TOKEN_SESSION_SIZE];
	double expected, chi2 = 0;
	unsigned long total = 0;
	unsigned i, j;

	(void)state;
	for (i = 0; i < 20000; i++) {
		assert_int_equal(token_generate(TOKEN_SESSION, t, sizeof t), PA_OK);
		for (j = 0; j < TOKEN_SESSION_CHARS; j++) {
			count[strchr(alphabet, t[j]) - alphabet]++;
			total++;
		}
	}
	expected = (double)total / 62;
	for (i = 0; i < 62; i++)
		chi2 += (count[i] - expected) * (count[i] - expected) / expected;
	assert_true(chi2 < 140.0);
}

static void test_tokens_do_not_repeat(void **state)
{
	char a[TOKEN_ID_SIZE], b[TOKEN_ID_SIZE];
	unsigned i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		assert_int_equal(token_generate(TOKEN_ID, a, sizeof a), PA_OK);
		assert_int_equal(token_generate(TOKEN_ID, b, sizeof b), PA_OK);
		assert_string_not_equal(a, b);
	}
}

static void test_presented_token_shape_checked(void **state)
{
	char t[TOKEN_SESSION_SIZE + 8];

	(void)state;
	assert_int_equal(token_generate(TOKEN_SESSION, t, sizeof t), PA_OK);
	assert_true(token_valid(TOKEN_SESSION, t));
	t[5] = '-';
	assert_false(token_valid(TOKEN_SESSION, t));
	t[5] = '=';
	assert_false(token_valid(TOKEN_SESSION, t));
	t[5] = (char)0xc3;
	assert_false(token_valid(TOKEN_SESSION, t));
	t[5] = 'a';
	t[TOKEN_SESSION_CHARS - 1] = '\0'; /* one short */
	assert_false(token_valid(TOKEN_SESSION, t));
	t[TOKEN_SESSION_CHARS - 1] = 'a';
	t[TOKEN_SESSION_CHARS] = 'a'; /* one long */
	t[TOKEN_SESSION_CHARS + 1] = '\0';
	assert_false(token_valid(TOKEN_SESSION, t));
	assert_false(token_valid(TOKEN_SESSION, ""));
	assert_false(token_valid((enum token_kind)9, t));
}

/* SHA-256("abc"), FIPS 180-2 appendix B.1. */
static void test_hash_is_sha256_of_the_characters(void **state)
{
	static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	                                0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	                                0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	                                0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	uint8_t h[TOKEN_HASH_BYTES], h2[TOKEN_HASH_BYTES];
	char t[TOKEN_SESSION_SIZE];

	(void)state;
	token_hash("abc", h);
	assert_memory_equal(h, abc, 32);

	assert_int_equal(token_generate(TOKEN_SESSION, t, sizeof t), PA_OK);
	token_hash(t, h);
	crypto_hash_sha256(h2, (const uint8_t *)t, TOKEN_SESSION_CHARS);
	assert_memory_equal(h, h2, 32);
}

static void test_hash_comparison(void **state)
{
	uint8_t a[TOKEN_HASH_BYTES], b[TOKEN_HASH_BYTES];
	unsigned i;

	(void)state;
	token_hash("one", a);
	memcpy(b, a, sizeof b);
	assert_true(token_hash_equal(a, b));
	for (i = 0; i < TOKEN_HASH_BYTES; i++) {
		b[i] ^= 0x80;
		assert_false(token_hash_equal(a, b));
		b[i] ^= 0x80;
	}
	token_hash("two", b);
	assert_false(token_hash_equal(a, b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_token_is_43_base62_characters),
	    cmocka_unit_test(test_identifier_is_32_base62_characters_of_190_bits),
	    cmocka_unit_test(test_generate_refuses_small_buffer_and_unknown_kind),
	    cmocka_unit_test(test_characters_are_uniform),
	    cmocka_unit_test(test_tokens_do_not_repeat),
	    cmocka_unit_test(test_presented_token_shape_checked),
	    cmocka_unit_test(test_hash_is_sha256_of_the_characters),
	    cmocka_unit_test(test_hash_comparison),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
