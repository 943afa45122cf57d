/*
 * test_utf8.c — RFC 3629's well-formed characters and what is not one (overlong forms,
 * surrogates, past U+10FFFF, cut sequences, NUL), and repairing: '?' per bad byte, control
 * characters on request, and a cut that never splits a character.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/utf8.h"

static void test_char_len_of_well_formed_characters(void **state)
{
	(void)state;
	assert_int_equal(utf8_char_len("a", 1), 1);
	assert_int_equal(utf8_char_len("\x7f", 1), 1);
	assert_int_equal(utf8_char_len("\xc2\x80", 2), 2);         /* U+0080 */
	assert_int_equal(utf8_char_len("\xc3\xa9xyz", 5), 2);      /* é, then more */
	assert_int_equal(utf8_char_len("\xe0\xa0\x80", 3), 3);     /* U+0800 */
	assert_int_equal(utf8_char_len("\xed\x9f\xbf", 3), 3);     /* U+D7FF */
	assert_int_equal(utf8_char_len("\xef\xbf\xbf", 3), 3);     /* U+FFFF */
	assert_int_equal(utf8_char_len("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
	assert_int_equal(utf8_char_len("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
}

static void test_char_len_of_what_is_not_a_character(void **state)
{
	(void)state;
	assert_int_equal(utf8_char_len("", 0), 0);
	assert_int_equal(utf8_char_len("\0", 1), 0);               /* NUL */
	assert_int_equal(utf8_char_len("\x80", 1), 0);             /* continuation */
	assert_int_equal(utf8_char_len("\xc0\x80", 2), 0);         /* overlong NUL */
	assert_int_equal(utf8_char_len("\xc1\xbf", 2), 0);         /* overlong */
	assert_int_equal(utf8_char_len("\xe0\x9f\xbf", 3), 0);     /* overlong */
	assert_int_equal(utf8_char_len("\xf0\x8f\xbf\xbf", 4), 0); /* overlong */
	assert_int_equal(utf8_char_len("\xed\xa0\x80", 3), 0);     /* U+D800 */
	assert_int_equal(utf8_char_len("\xed\xbf\xbf", 3), 0);     /* U+DFFF */
	assert_int_equal(utf8_char_len("\xf4\x90\x80\x80", 4), 0); /* U+110000 */
	assert_int_equal(utf8_char_len("\xf5\x80\x80\x80", 4), 0); /* past U+10FFFF */
	assert_int_equal(utf8_char_len("\xff", 1), 0);
	assert_int_equal(utf8_char_len("\xc3\xa9", 1), 0);      /* cut */
	assert_int_equal(utf8_char_len("\xe2\x82\xac", 2), 0);  /* cut */
	assert_int_equal(utf8_char_len("\xc3(", 2), 0);         /* no continuation */
	assert_int_equal(utf8_char_len("\xf0\x90\x80(", 4), 0); /* no continuation */
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid("Mozilla/5.0 caf\xc3\xa9 \xe2\x82\xac", 18));
	assert_false(utf8_valid("Mozilla/5.0 \xff", 13));
	assert_false(utf8_valid("caf\xc3", 4));
	assert_false(utf8_valid("a\0b", 3));
}

static void repaired(const char *in, size_t len, size_t size, unsigned flags, const char *want)
{
	char out[128];
	memset(out, 'Z', sizeof(out));
	assert_true(size <= sizeof(out));
	size_t n = utf8_repair(out, size, in, len, flags);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	assert_true(utf8_valid(out, n));
}

static void test_repair_replaces_each_bad_byte(void **state)
{
	(void)state;
	repaired("plain", 5, 64, 0, "plain");
	repaired("", 0, 1, 0, "");
	repaired("agent \xff\xfe 1 \xc3\xa9", 13, 64, 0, "agent ?? 1 \xc3\xa9");
	/* a lead byte without its continuation: the next byte starts over */
	repaired("\xc3(\xe2\x82x", 5, 64, 0, "?(??x");
	repaired("a\0b", 3, 64, 0, "a?b");
	repaired("\xed\xa0\x80", 3, 64, 0, "???");
}

static void test_repair_controls_only_when_asked(void **state)
{
	(void)state;
	repaired("a\tb\x1b[0m\x7f\xc2\x85z", 11, 64, 0, "a\tb\x1b[0m\x7f\xc2\x85z");
	repaired("a\tb\x1b[0m\x7f\xc2\x85z", 11, 64, UTF8_NO_CONTROLS, "a?b?[0m??z");
}

static void test_repair_cuts_between_characters(void **state)
{
	(void)state;
	char in[70];
	memset(in, 'A', 63);
	memcpy(in + 63, "\xc3\xa9", 2);
	/* 65 bytes into 64: the é that does not fit is left out, not cut in half */
	char want[64];
	memset(want, 'A', 63);
	want[63] = '\0';
	repaired(in, 65, 65, 0, want);
	repaired(in, 65, 66, 0,
	         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\xa9");
	/* nothing after the first character that does not fit, even one that would */
	repaired("ab\xe2\x82\xac"
	         "c",
	         6, 5, 0, "ab");
	repaired("\xf0\x9f\x98\x80", 4, 4, 0, "");
	repaired("abc", 3, 1, 0, "");
	repaired("a\xff\xff", 3, 3, 0, "a?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_char_len_of_well_formed_characters),
	    cmocka_unit_test(test_char_len_of_what_is_not_a_character),
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_repair_replaces_each_bad_byte),
	    cmocka_unit_test(test_repair_controls_only_when_asked),
	    cmocka_unit_test(test_repair_cuts_between_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
