/*
 * test_base32.c — RFC 4648 §10 vectors both ways, the forgiving parts of decoding (case,
 * spaces, dashes, optional padding) and every error with its position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/base32.h"
#include "core/core.h"

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

/* ---- RFC 4648 §10: one test per vector, each both ways, padded and not ---- */

static void check_vector(const char *plain, const char *padded)
{
	size_t n = strlen(plain);
	char enc[64];
	uint8_t dec[64];
	size_t len = 99, pos = 99;

	assert_int_equal(base32_encode((const uint8_t *)plain, n, true, enc, sizeof(enc)), PA_OK);
	assert_string_equal(enc, padded);
	assert_int_equal(strlen(enc), BASE32_PADDED_LEN(n));

	assert_int_equal(base32_encode((const uint8_t *)plain, n, false, enc, sizeof(enc)), PA_OK);
	size_t unpadded = strcspn(padded, "=");
	assert_int_equal(strlen(enc), unpadded);
	assert_memory_equal(enc, padded, unpadded);
	assert_int_equal(strlen(enc), BASE32_ENCODED_LEN(n));

	assert_int_equal(base32_decode(padded, strlen(padded), dec, sizeof(dec), &len, &pos),
	                 PA_OK);
	assert_int_equal(len, n);
	assert_memory_equal(dec, plain, n);
	assert_int_equal(base32_decode(padded, unpadded, dec, sizeof(dec), &len, &pos), PA_OK);
	assert_int_equal(len, n);
	assert_memory_equal(dec, plain, n);

	/* the exact output size is enough for both */
	assert_int_equal(base32_encode((const uint8_t *)plain, n, true, enc, strlen(padded) + 1),
	                 PA_OK);
	assert_int_equal(base32_decode(padded, strlen(padded), dec, n, &len, NULL), PA_OK);
}

#define VECTOR_TEST(name, plain, padded)                                                           \
	static void test_rfc4648_vector_##name(void **state)                                       \
	{                                                                                          \
		(void)state;                                                                       \
		check_vector(plain, padded);                                                       \
	}
VECTOR_TEST(empty, "", "")
VECTOR_TEST(f, "f", "MY======")
VECTOR_TEST(fo, "fo", "MZXQ====")
VECTOR_TEST(foo, "foo", "MZXW6===")
VECTOR_TEST(foob, "foob", "MZXW6YQ=")
VECTOR_TEST(fooba, "fooba", "MZXW6YTB")
VECTOR_TEST(foobar, "foobar", "MZXW6YTBOI======")

/* ---- forgiving decoding ---- */

static void check_decodes_to(const char *text, const char *want)
{
	uint8_t dec[64];
	size_t len = 0, pos = 0;
	assert_int_equal(base32_decode(text, strlen(text), dec, sizeof(dec), &len, &pos), PA_OK);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(dec, want, len);
}

static void test_decode_accepts_lower_case_spaces_and_dashes(void **state)
{
	(void)state;
	check_decodes_to("mzxw6ytboi", "foobar");
	check_decodes_to("MzXw6YtBoI", "foobar");
	check_decodes_to("mzxw 6ytb oi", "foobar");
	check_decodes_to("MZXW-6YTB-OI", "foobar");
	check_decodes_to("  - MZ XW6Y -TBOI -- ", "foobar");
	check_decodes_to("MZXW6YTBOI== ====", "foobar");
	check_decodes_to("MZXW6YTBOI======  ", "foobar");
	check_decodes_to("mzxw6yq=", "foob");
	check_decodes_to(" - ", "");
	/* the Google Authenticator example secret, as people copy it */
	check_decodes_to("jbsw y3dp ehpk 3pxp", "Hello!\xde\xad\xbe\xef");
}

static void test_round_trip_every_byte_value_and_length(void **state)
{
	(void)state;
	uint8_t in[256], dec[256];
	char enc[BASE32_PADDED_LEN(256) + 1];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(255 - i);
	for (size_t n = 0; n <= sizeof(in); n++) {
		for (int pad = 0; pad <= 1; pad++) {
			size_t len = 0;
			assert_int_equal(base32_encode(in, n, pad, enc, sizeof(enc)), PA_OK);
			assert_int_equal(
			    base32_decode(enc, strlen(enc), dec, sizeof(dec), &len, NULL), PA_OK);
			assert_int_equal(len, n);
			assert_memory_equal(dec, in, n);
		}
	}
}

/* ---- errors ---- */

static void check_error(const char *text, size_t text_len, enum pa_err want, size_t want_pos)
{
	uint8_t dec[64];
	size_t len = 99, pos = 99;
	memset(dec, 0xaa, sizeof(dec));
	assert_int_equal(base32_decode(text, text_len, dec, sizeof(dec), &len, &pos), want);
	assert_int_equal(pos, want_pos);
	assert_int_equal(len, 0);
	for (size_t i = 0; i < sizeof(dec); i++)
		assert_int_equal(dec[i], 0); /* out is wiped */
}

static void test_decode_character_outside_alphabet(void **state)
{
	(void)state;
	check_error("MZXW1YTB", 8, PA_ERR_BASE32_CHAR, 4);
	check_error("0ZXW6YTB", 8, PA_ERR_BASE32_CHAR, 0);
	check_error("MZXW6YT8", 8, PA_ERR_BASE32_CHAR, 7);
	check_error("MZXW9YTB", 8, PA_ERR_BASE32_CHAR, 4);
	check_error("MZ_W6YTB", 8, PA_ERR_BASE32_CHAR, 2);
	check_error("MZ\tW6YTB", 8, PA_ERR_BASE32_CHAR, 2);
	check_error("MZ\0W6YTB", 8, PA_ERR_BASE32_CHAR, 2);
	check_error("MZ\xc3\x89W6YTB", 9, PA_ERR_BASE32_CHAR, 2);
	check_error("MZXW6YTB@", 9, PA_ERR_BASE32_CHAR, 8);
	/* every byte outside the alphabet and the ignored characters */
	for (int c = 0; c < 256; c++) {
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		          (c >= '2' && c <= '7') || c == ' ' || c == '-' || c == '=';
		char text[9] = "MZXW6YTB";
		text[3] = (char)c;
		uint8_t dec[8];
		size_t pos = 0;
		enum pa_err e = base32_decode(text, 8, dec, sizeof(dec), NULL, &pos);
		if (ok)
			assert_int_not_equal(e, PA_ERR_BASE32_CHAR);
		else
			assert_true(e == PA_ERR_BASE32_CHAR && pos == 3);
	}
	/* a bad character is reported before a bad length */
	check_error("M!", 2, PA_ERR_BASE32_CHAR, 1);
}

static void test_decode_impossible_length(void **state)
{
	(void)state;
	/* RFC 4648 §6: a final group has 2, 4, 5, 7 or 8 symbols, never 1, 3 or 6 */
	check_error("M", 1, PA_ERR_BASE32_LENGTH, 1);
	check_error("MZX", 3, PA_ERR_BASE32_LENGTH, 3);
	check_error("MZXW6Y", 6, PA_ERR_BASE32_LENGTH, 6);
	check_error("MZXW6YTBO", 9, PA_ERR_BASE32_LENGTH, 9);
	check_error("M=======", 8, PA_ERR_BASE32_LENGTH, 8);
	check_error("MZ x", 4, PA_ERR_BASE32_LENGTH, 4);
}

static void test_decode_misplaced_padding(void **state)
{
	(void)state;
	check_error("MY=A", 4, PA_ERR_BASE32_PADDING, 2);              /* data after padding */
	check_error("MY======MY======", 16, PA_ERR_BASE32_PADDING, 2); /* two padded groups */
	check_error("MY=====", 7, PA_ERR_BASE32_PADDING, 2);           /* too short */
	check_error("MY=======", 9, PA_ERR_BASE32_PADDING, 2);         /* too long */
	check_error("MZXW6==", 7, PA_ERR_BASE32_PADDING, 5);           /* 2 of 3 */
	check_error("MZXW6YTB========", 16, PA_ERR_BASE32_PADDING, 8); /* a whole group of it */
	check_error("========", 8, PA_ERR_BASE32_PADDING, 0);
	check_error("=", 1, PA_ERR_BASE32_PADDING, 0);
}

static void test_decode_nonzero_trailing_bits(void **state)
{
	(void)state;
	/* RFC 4648 §3.5: "MY" is 'f'; "MZ" has the two spare bits 01 */
	check_error("MZ", 2, PA_ERR_BASE32_TRAILING_BITS, 1);
	check_error("MZ======", 8, PA_ERR_BASE32_TRAILING_BITS, 1);
	check_error("MZXR", 4, PA_ERR_BASE32_TRAILING_BITS, 3);    /* 4 spare bits */
	check_error("MZXW7", 5, PA_ERR_BASE32_TRAILING_BITS, 4);   /* 1 spare bit */
	check_error("MZXW6YR", 7, PA_ERR_BASE32_TRAILING_BITS, 6); /* 3 spare bits */
	check_error("mzxw6yr- ", 9, PA_ERR_BASE32_TRAILING_BITS, 6);
}

static void test_buffer_too_small(void **state)
{
	(void)state;
	char enc[17];
	uint8_t dec[6];
	size_t len = 99, pos = 99;

	memset(enc, 'x', sizeof(enc));
	assert_int_equal(base32_encode((const uint8_t *)"foobar", 6, true, enc, 16),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(enc[0], 'x'); /* nothing written */
	assert_int_equal(base32_encode((const uint8_t *)"foobar", 6, false, enc, 10),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(base32_encode((const uint8_t *)"foobar", 6, false, enc, 11), PA_OK);
	assert_int_equal(base32_encode((const uint8_t *)"", 0, false, enc, 0),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(base32_encode((const uint8_t *)"f", 1, false, NULL, 10),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(base32_encode((const uint8_t *)"f", SIZE_MAX, false, enc, sizeof(enc)),
	                 PA_ERR_BUFFER_TOO_SMALL);

	memset(dec, 0xaa, sizeof(dec));
	assert_int_equal(base32_decode("MZXW6YTBOI", 10, dec, 5, &len, &pos),
	                 PA_ERR_BUFFER_TOO_SMALL);
	assert_int_equal(pos, 10);
	assert_int_equal(len, 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(dec[i], 0);
	assert_int_equal(base32_decode("MZXW6YTBOI", 10, dec, 6, &len, &pos), PA_OK);
	assert_int_equal(base32_decode("", 0, NULL, 0, &len, &pos), PA_OK);
	assert_int_equal(len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vector_empty),
	    cmocka_unit_test(test_rfc4648_vector_f),
	    cmocka_unit_test(test_rfc4648_vector_fo),
	    cmocka_unit_test(test_rfc4648_vector_foo),
	    cmocka_unit_test(test_rfc4648_vector_foob),
	    cmocka_unit_test(test_rfc4648_vector_fooba),
	    cmocka_unit_test(test_rfc4648_vector_foobar),
	    cmocka_unit_test(test_decode_accepts_lower_case_spaces_and_dashes),
	    cmocka_unit_test(test_round_trip_every_byte_value_and_length),
	    cmocka_unit_test(test_decode_character_outside_alphabet),
	    cmocka_unit_test(test_decode_impossible_length),
	    cmocka_unit_test(test_decode_misplaced_padding),
	    cmocka_unit_test(test_decode_nonzero_trailing_bits),
	    cmocka_unit_test(test_buffer_too_small),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
