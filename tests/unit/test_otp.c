/*
 * test_otp.c — HOTP and TOTP against every vector of RFC 4226 Appendix D and RFC 6238
 * Appendix B, then the rules of verification: window edges, clamping, replay, malformed codes.
 * Values not in the RFCs (long keys, colliding codes) were computed with Python's hmac module
 * and checked with oathtool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/otp.h"

/* RFC 4226 Appendix D and RFC 6238 Appendix B */
static const char rfc4226_secret[] = "12345678901234567890";
static const char rfc6238_seed20[] = "12345678901234567890";
static const char rfc6238_seed32[] = "12345678901234567890123456789012";
static const char rfc6238_seed64[] =
    "1234567890123456789012345678901234567890123456789012345678901234";

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

static void key_for(struct otp_key *key, enum otp_alg alg, unsigned digits, const char *secret)
{
	assert_int_equal(otp_key_init(key, alg, digits, (const uint8_t *)secret, strlen(secret)),
	                 PA_OK);
}

static const char *code_of(const struct otp_key *key, uint64_t counter, char out[OTP_CODE_MAX])
{
	otp_format(otp_hotp(key, counter), key->digits, out);
	return out;
}

/* ---- RFC 4226 Appendix D: one test per count ---- */

static const struct {
	uint32_t truncated; /* "Truncated Value" (decimal), before reduction */
	uint32_t hotp;      /* the 6-digit HOTP value */
} rfc4226_d[10] = {
    {1284755224, 755224}, {1094287082, 287082}, {137359152, 359152},  {1726969429, 969429},
    {1640338314, 338314}, {868254676, 254676},  {1918287922, 287922}, {82162583, 162583},
    {673399871, 399871},  {645520489, 520489},
};

static void check_rfc4226(uint64_t count)
{
	struct otp_key key;
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);
	assert_int_equal(otp_hotp(&key, count), rfc4226_d[count].hotp);
	/* The truncated value also shows through with 7 and 8 digits. */
	key_for(&key, OTP_SHA1, 7, rfc4226_secret);
	assert_int_equal(otp_hotp(&key, count), rfc4226_d[count].truncated % 10000000u);
	key_for(&key, OTP_SHA1, 8, rfc4226_secret);
	assert_int_equal(otp_hotp(&key, count), rfc4226_d[count].truncated % 100000000u);
	otp_key_wipe(&key);
}

#define RFC4226_TEST(n)                                                                            \
	static void test_rfc4226_appendix_d_count_##n(void **state)                                \
	{                                                                                          \
		(void)state;                                                                       \
		check_rfc4226(n);                                                                  \
	}
RFC4226_TEST(0)
RFC4226_TEST(1)
RFC4226_TEST(2)
RFC4226_TEST(3)
RFC4226_TEST(4)
RFC4226_TEST(5)
RFC4226_TEST(6)
RFC4226_TEST(7)
RFC4226_TEST(8)
RFC4226_TEST(9)

static void test_rfc4226_formatted_codes(void **state)
{
	(void)state;
	static const char *const codes[10] = {"755224", "287082", "359152", "969429", "338314",
	                                      "254676", "287922", "162583", "399871", "520489"};
	struct otp_key key;
	char out[OTP_CODE_MAX];
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);
	for (uint64_t c = 0; c < 10; c++)
		assert_string_equal(code_of(&key, c, out), codes[c]);
	otp_key_wipe(&key);
}

/* ---- RFC 6238 Appendix B: one test per row and algorithm ---- */

static void check_rfc6238(int64_t time, uint64_t want_step, enum otp_alg alg, const char *want)
{
	const char *seed = alg == OTP_SHA1     ? rfc6238_seed20
	                   : alg == OTP_SHA256 ? rfc6238_seed32
	                                       : rfc6238_seed64;
	struct otp_key key;
	uint64_t step = 0, matched = 0;
	char out[OTP_CODE_MAX];

	assert_int_equal(otp_totp_step(time, 30, &step), PA_OK);
	assert_int_equal(step, want_step);
	key_for(&key, alg, 8, seed);
	assert_string_equal(code_of(&key, step, out), want);
	/* and the code verifies at that time, with no window at all */
	assert_int_equal(otp_verify(&key, want, step, 0, 0, false, 0, &matched), PA_OK);
	assert_int_equal(matched, step);
	otp_key_wipe(&key);
}

#define RFC6238_TEST(name, time, step, alg, code)                                                  \
	static void test_rfc6238_appendix_b_##name(void **state)                                   \
	{                                                                                          \
		(void)state;                                                                       \
		check_rfc6238(time, step, alg, code);                                              \
	}
RFC6238_TEST(59_sha1, 59, 0x1, OTP_SHA1, "94287082")
RFC6238_TEST(59_sha256, 59, 0x1, OTP_SHA256, "46119246")
RFC6238_TEST(59_sha512, 59, 0x1, OTP_SHA512, "90693936")
RFC6238_TEST(1111111109_sha1, 1111111109, 0x23523EC, OTP_SHA1, "07081804")
RFC6238_TEST(1111111109_sha256, 1111111109, 0x23523EC, OTP_SHA256, "68084774")
RFC6238_TEST(1111111109_sha512, 1111111109, 0x23523EC, OTP_SHA512, "25091201")
RFC6238_TEST(1111111111_sha1, 1111111111, 0x23523ED, OTP_SHA1, "14050471")
RFC6238_TEST(1111111111_sha256, 1111111111, 0x23523ED, OTP_SHA256, "67062674")
RFC6238_TEST(1111111111_sha512, 1111111111, 0x23523ED, OTP_SHA512, "99943326")
RFC6238_TEST(1234567890_sha1, 1234567890, 0x273EF07, OTP_SHA1, "89005924")
RFC6238_TEST(1234567890_sha256, 1234567890, 0x273EF07, OTP_SHA256, "91819424")
RFC6238_TEST(1234567890_sha512, 1234567890, 0x273EF07, OTP_SHA512, "93441116")
RFC6238_TEST(2000000000_sha1, 2000000000, 0x3F940AA, OTP_SHA1, "69279037")
RFC6238_TEST(2000000000_sha256, 2000000000, 0x3F940AA, OTP_SHA256, "90698825")
RFC6238_TEST(2000000000_sha512, 2000000000, 0x3F940AA, OTP_SHA512, "38618901")
RFC6238_TEST(20000000000_sha1, 20000000000, 0x27BC86AA, OTP_SHA1, "65353130")
RFC6238_TEST(20000000000_sha256, 20000000000, 0x27BC86AA, OTP_SHA256, "77737706")
RFC6238_TEST(20000000000_sha512, 20000000000, 0x27BC86AA, OTP_SHA512, "47863826")

/* ---- keys ---- */

/* RFC 2104 §2: keys longer than the block are hashed; a block-long key is used as is. */
static void test_key_longer_than_block_is_hashed_first(void **state)
{
	(void)state;
	static const struct {
		size_t len;
		enum otp_alg alg;
		uint32_t codes[3]; /* counters 0, 1, 123456789; 8 digits */
	} v[] = {
	    {64, OTP_SHA1, {10139151, 48689130, 13692938}},
	    {65, OTP_SHA1, {23523868, 98319609, 48401612}},
	    {100, OTP_SHA1, {59648721, 29221636, 77960429}},
	    {128, OTP_SHA1, {25740003, 61947995, 31658903}},
	    {65, OTP_SHA256, {27882997, 90542840, 73293538}},
	    {128, OTP_SHA256, {15859219, 65317961, 27089255}},
	    {128, OTP_SHA512, {13097388, 9327955, 34783426}},
	};
	uint8_t secret[OTP_SECRET_MAX];
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct otp_key key;
		assert_int_equal(otp_key_init(&key, v[i].alg, 8, secret, v[i].len), PA_OK);
		assert_int_equal(otp_hotp(&key, 0), v[i].codes[0]);
		assert_int_equal(otp_hotp(&key, 1), v[i].codes[1]);
		assert_int_equal(otp_hotp(&key, 123456789), v[i].codes[2]);
		otp_key_wipe(&key);
	}
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void test_key_init_rejects_bad_arguments(void **state)
{
	(void)state;
	uint8_t secret[OTP_SECRET_MAX + 1] = {1, 2, 3};
	struct otp_key key;

	assert_int_equal(otp_key_init(&key, (enum otp_alg)3, 6, secret, 20), PA_ERR_ALGORITHM);
	assert_true(all_zero(&key, sizeof(key)));
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 5, secret, 20), PA_ERR_DIGITS);
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 9, secret, 20), PA_ERR_DIGITS);
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 6, secret, 0), PA_ERR_SECRET_TOO_SHORT);
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 6, NULL, 20), PA_ERR_SECRET_TOO_SHORT);
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 6, secret, OTP_SECRET_MAX + 1),
	                 PA_ERR_SECRET_TOO_LONG);
	assert_true(all_zero(&key, sizeof(key)));
	assert_int_equal(otp_key_init(NULL, OTP_SHA1, 6, secret, 20), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 6, secret, OTP_SECRET_MIN), PA_OK);
	assert_int_equal(otp_key_init(&key, OTP_SHA512, 6, secret, OTP_SECRET_MAX), PA_OK);
	/* a failed key verifies nothing */
	assert_int_equal(otp_key_init(&key, OTP_SHA1, 5, secret, 20), PA_ERR_DIGITS);
	assert_int_equal(otp_verify(&key, "000000", 0, 1, 1, false, 0, NULL),
	                 PA_ERR_INVALID_ARGUMENT);
}

static void test_key_wipe_zeroes_the_states(void **state)
{
	(void)state;
	struct otp_key key;
	key_for(&key, OTP_SHA512, 8, rfc6238_seed64);
	assert_false(all_zero(key.state, sizeof(key.state)));
	otp_key_wipe(&key);
	assert_true(all_zero(&key, sizeof(key)));
	otp_key_wipe(NULL);
}

static void test_alg_names_and_parsing(void **state)
{
	(void)state;
	enum otp_alg alg = OTP_SHA1;
	assert_string_equal(otp_alg_name(OTP_SHA1), "SHA1");
	assert_string_equal(otp_alg_name(OTP_SHA256), "SHA256");
	assert_string_equal(otp_alg_name(OTP_SHA512), "SHA512");
	assert_null(otp_alg_name((enum otp_alg)7));
	assert_int_equal(otp_alg_parse("sha256", &alg), PA_OK);
	assert_int_equal(alg, OTP_SHA256);
	assert_int_equal(otp_alg_parse("SHA-512", &alg), PA_OK);
	assert_int_equal(alg, OTP_SHA512);
	assert_int_equal(otp_alg_parse("Sha1", &alg), PA_OK);
	assert_int_equal(alg, OTP_SHA1);
	static const char *const bad[] = {"",       "SHA",   "SHA-",   "MD5",   "SHA384",
	                                  "SHA--1", "SHA1 ", " SHA1",  "SHA2",  "SHA-2567",
	                                  "SH",     "sha_1", "SHA-1-", "SHA1\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(otp_alg_parse(bad[i], &alg), PA_ERR_ALGORITHM);
	assert_int_equal(otp_alg_parse(NULL, &alg), PA_ERR_ALGORITHM);
}

/* ---- formatting, steps and codes ---- */

static void test_format_pads_with_zeros_for_6_7_8_digits(void **state)
{
	(void)state;
	char out[OTP_CODE_MAX];
	otp_format(42, 6, out);
	assert_string_equal(out, "000042");
	otp_format(42, 7, out);
	assert_string_equal(out, "0000042");
	otp_format(42, 8, out);
	assert_string_equal(out, "00000042");
	otp_format(99999999, 8, out);
	assert_string_equal(out, "99999999");
	otp_format(0, 6, out);
	assert_string_equal(out, "000000");
	otp_format(123, 9, out);
	assert_string_equal(out, "");
	otp_format(123, 5, out);
	assert_string_equal(out, "");
}

static void test_totp_step(void **state)
{
	(void)state;
	uint64_t step = 99;
	assert_int_equal(otp_totp_step(0, 30, &step), PA_OK);
	assert_int_equal(step, 0);
	assert_int_equal(otp_totp_step(29, 30, &step), PA_OK);
	assert_int_equal(step, 0);
	assert_int_equal(otp_totp_step(30, 30, &step), PA_OK);
	assert_int_equal(step, 1);
	assert_int_equal(otp_totp_step(INT64_MAX, 1, &step), PA_OK);
	assert_int_equal(step, (uint64_t)INT64_MAX);
	assert_int_equal(otp_totp_step(7200, OTP_PERIOD_MAX, &step), PA_OK);
	assert_int_equal(step, 2);
	assert_int_equal(otp_totp_step(-1, 30, &step), PA_ERR_COUNTER);
	assert_int_equal(otp_totp_step(100, 0, &step), PA_ERR_PERIOD);
	assert_int_equal(otp_totp_step(100, OTP_PERIOD_MAX + 1, &step), PA_ERR_PERIOD);
}

static void test_parse_code(void **state)
{
	(void)state;
	uint32_t v = 0;
	assert_int_equal(otp_parse_code("012345", 6, &v), PA_OK);
	assert_int_equal(v, 12345);
	assert_int_equal(otp_parse_code(" 012 345 ", 6, &v), PA_OK);
	assert_int_equal(v, 12345);
	assert_int_equal(otp_parse_code("1234567", 7, &v), PA_OK);
	assert_int_equal(v, 1234567);
	assert_int_equal(otp_parse_code("9999 9999", 8, &v), PA_OK);
	assert_int_equal(v, 99999999);
	static const char *const bad[] = {
	    "",         "12345",   "1234567",      "12a456",  "+12345",  "-12345",
	    "123\t456", "12345\n", "１２３４５６", "       ", "123-456", "0x1234"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(otp_parse_code(bad[i], 6, &v), PA_ERR_INVALID_CODE);
	assert_int_equal(otp_parse_code(NULL, 6, &v), PA_ERR_INVALID_CODE);
	assert_int_equal(otp_parse_code("12345", 5, &v), PA_ERR_DIGITS);
}

/* ---- verification ---- */

static void test_verify_window_edges(void **state)
{
	(void)state;
	struct otp_key key;
	char code[OTP_CODE_MAX];
	uint64_t m = 0;
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);

	/* ±1 around 1000: 999, 1000, 1001 accepted, 998 and 1002 not */
	assert_int_equal(otp_verify(&key, code_of(&key, 999, code), 1000, 1, 1, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, 999);
	assert_int_equal(otp_verify(&key, code_of(&key, 1000, code), 1000, 1, 1, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, 1000);
	assert_int_equal(otp_verify(&key, code_of(&key, 1001, code), 1000, 1, 1, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, 1001);
	assert_int_equal(otp_verify(&key, code_of(&key, 998, code), 1000, 1, 1, false, 0, &m),
	                 PA_ERR_INVALID_CODE);
	assert_int_equal(otp_verify(&key, code_of(&key, 1002, code), 1000, 1, 1, false, 0, &m),
	                 PA_ERR_INVALID_CODE);

	/* asymmetric: 2 behind, none ahead */
	assert_int_equal(otp_verify(&key, code_of(&key, 998, code), 1000, 2, 0, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, 998);
	assert_int_equal(otp_verify(&key, code_of(&key, 1001, code), 1000, 2, 0, false, 0, &m),
	                 PA_ERR_INVALID_CODE);

	/* the widest window */
	assert_int_equal(otp_verify(&key, code_of(&key, 1000 + OTP_WINDOW_MAX, code), 1000,
	                            OTP_WINDOW_MAX, OTP_WINDOW_MAX, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, 1000 + OTP_WINDOW_MAX);
	assert_int_equal(otp_verify(&key, code_of(&key, 1000 - OTP_WINDOW_MAX, code), 1000,
	                            OTP_WINDOW_MAX, OTP_WINDOW_MAX, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, 1000 - OTP_WINDOW_MAX);
	assert_int_equal(otp_verify(&key, code, 1000, OTP_WINDOW_MAX + 1, 0, false, 0, &m),
	                 PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(otp_verify(&key, code, 1000, 0, OTP_WINDOW_MAX + 1, false, 0, &m),
	                 PA_ERR_INVALID_ARGUMENT);

	/* the RFC 4226 codes, with matched not wanted */
	assert_int_equal(otp_verify(&key, "520489", 9, 0, 0, false, 0, NULL), PA_OK);
	otp_key_wipe(&key);
}

/* DESIGN.md §3: a time step at or before the last accepted one is refused (replay). */
static void test_totp_step_at_or_before_last_accepted_is_refused(void **state)
{
	(void)state;
	struct otp_key key;
	char code[OTP_CODE_MAX];
	uint64_t m = 0;
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);

	/* step 1000 accepted before: its code again, or the one before, is a replay */
	assert_int_equal(otp_verify(&key, code_of(&key, 1000, code), 1000, 1, 1, true, 1000, &m),
	                 PA_ERR_REPLAYED_CODE);
	assert_int_equal(otp_verify(&key, code_of(&key, 999, code), 1000, 1, 1, true, 1000, &m),
	                 PA_ERR_REPLAYED_CODE);
	/* the next step is fine */
	assert_int_equal(otp_verify(&key, code_of(&key, 1001, code), 1000, 1, 1, true, 1000, &m),
	                 PA_OK);
	assert_int_equal(m, 1001);
	/* a later step was accepted (client clock ahead): the current one is now a replay */
	assert_int_equal(otp_verify(&key, code_of(&key, 1000, code), 1000, 1, 1, true, 1001, &m),
	                 PA_ERR_REPLAYED_CODE);
	/* a replay outside the window is just wrong */
	assert_int_equal(otp_verify(&key, code_of(&key, 990, code), 1000, 1, 1, true, 1000, &m),
	                 PA_ERR_INVALID_CODE);
	/* nothing accepted yet: last is ignored */
	assert_int_equal(otp_verify(&key, code_of(&key, 999, code), 1000, 1, 1, false, 5000, &m),
	                 PA_OK);
	assert_int_equal(m, 999);
	/* last at the very top: nothing can ever be accepted again */
	assert_int_equal(otp_verify(&key, code_of(&key, UINT64_MAX, code), UINT64_MAX, 1, 1, true,
	                            UINT64_MAX, &m),
	                 PA_ERR_REPLAYED_CODE);
	otp_key_wipe(&key);
}

/*
 * With the RFC 4226 secret, counters 2386 and 2394 share the code 709847: a window holding
 * both takes the higher, and a stale match does not hide a fresh one.
 */
static void test_verify_takes_the_highest_matching_counter(void **state)
{
	(void)state;
	struct otp_key key;
	uint64_t m = 0;
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);
	assert_int_equal(otp_hotp(&key, 2386), 709847);
	assert_int_equal(otp_hotp(&key, 2394), 709847);

	assert_int_equal(otp_verify(&key, "709847", 2390, 4, 4, false, 0, &m), PA_OK);
	assert_int_equal(m, 2394);
	assert_int_equal(otp_verify(&key, "709847", 2390, 4, 4, true, 2386, &m), PA_OK);
	assert_int_equal(m, 2394);
	assert_int_equal(otp_verify(&key, "709847", 2390, 4, 4, true, 2393, &m), PA_OK);
	assert_int_equal(m, 2394);
	assert_int_equal(otp_verify(&key, "709847", 2390, 4, 4, true, 2394, &m),
	                 PA_ERR_REPLAYED_CODE);
	assert_int_equal(otp_verify(&key, "709847", 2390, 4, 3, false, 0, &m), PA_OK);
	assert_int_equal(m, 2386);
	otp_key_wipe(&key);
}

static void test_verify_clamps_at_counter_zero_and_max(void **state)
{
	(void)state;
	struct otp_key key;
	char code[OTP_CODE_MAX];
	uint64_t m = 99;
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);

	assert_int_equal(otp_verify(&key, "755224", 0, 5, 1, false, 0, &m), PA_OK);
	assert_int_equal(m, 0);
	assert_int_equal(otp_verify(&key, "755224", 2, OTP_WINDOW_MAX, 0, false, 0, &m), PA_OK);
	assert_int_equal(m, 0);
	assert_int_equal(otp_verify(&key, "287082", 0, OTP_WINDOW_MAX, 1, false, 0, &m), PA_OK);
	assert_int_equal(m, 1);
	/* counter 0 can be refused as a replay too */
	assert_int_equal(otp_verify(&key, "755224", 0, 1, 1, true, 0, &m), PA_ERR_REPLAYED_CODE);

	assert_int_equal(otp_verify(&key, code_of(&key, UINT64_MAX, code), UINT64_MAX - 1, 1,
	                            OTP_WINDOW_MAX, false, 0, &m),
	                 PA_OK);
	assert_int_equal(m, UINT64_MAX);
	assert_int_equal(otp_verify(&key, code_of(&key, UINT64_MAX - 2, code), UINT64_MAX,
	                            OTP_WINDOW_MAX, OTP_WINDOW_MAX, true, UINT64_MAX - 3, &m),
	                 PA_OK);
	assert_int_equal(m, UINT64_MAX - 2);
	otp_key_wipe(&key);
}

static void test_verify_malformed_code_is_invalid(void **state)
{
	(void)state;
	struct otp_key key;
	uint64_t m = 0;
	key_for(&key, OTP_SHA1, 6, rfc4226_secret);
	static const char *const bad[] = {"",         "75522",    "7552240", "75522a",
	                                  "755 22",   "755224 1", "+755224", "-55224",
	                                  "755224\n", "x",        "0755224"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(otp_verify(&key, bad[i], 0, 1, 1, false, 0, &m),
		                 PA_ERR_INVALID_CODE);
	assert_int_equal(otp_verify(&key, NULL, 0, 1, 1, false, 0, &m), PA_ERR_INVALID_CODE);
	/* but spaces people type are fine */
	assert_int_equal(otp_verify(&key, "755 224", 0, 1, 1, false, 0, &m), PA_OK);
	assert_int_equal(otp_verify(&key, " 755224 ", 0, 1, 1, false, 0, &m), PA_OK);
	otp_key_wipe(&key);
}

static void test_verify_7_and_8_digit_codes(void **state)
{
	(void)state;
	struct otp_key key;
	uint64_t m = 0;

	/* RFC 4226 count 1: truncated 1094287082 */
	key_for(&key, OTP_SHA1, 7, rfc4226_secret);
	assert_int_equal(otp_verify(&key, "4287082", 1, 0, 0, false, 0, &m), PA_OK);
	assert_int_equal(otp_verify(&key, "287082", 1, 0, 0, false, 0, &m), PA_ERR_INVALID_CODE);
	assert_int_equal(otp_verify(&key, "94287082", 1, 0, 0, false, 0, &m), PA_ERR_INVALID_CODE);
	key_for(&key, OTP_SHA1, 8, rfc4226_secret);
	assert_int_equal(otp_verify(&key, "94287082", 1, 0, 0, false, 0, &m), PA_OK);
	assert_int_equal(otp_verify(&key, "4287082", 1, 0, 0, false, 0, &m), PA_ERR_INVALID_CODE);
	/* RFC 6238, T = 1111111109 with SHA-256, one step late */
	key_for(&key, OTP_SHA256, 8, rfc6238_seed32);
	assert_int_equal(otp_verify(&key, "68084774", 0x23523EC + 1, 1, 1, false, 0, &m), PA_OK);
	assert_int_equal(m, 0x23523EC);
	otp_key_wipe(&key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4226_appendix_d_count_0),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_1),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_2),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_3),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_4),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_5),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_6),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_7),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_8),
	    cmocka_unit_test(test_rfc4226_appendix_d_count_9),
	    cmocka_unit_test(test_rfc4226_formatted_codes),
	    cmocka_unit_test(test_rfc6238_appendix_b_59_sha1),
	    cmocka_unit_test(test_rfc6238_appendix_b_59_sha256),
	    cmocka_unit_test(test_rfc6238_appendix_b_59_sha512),
	    cmocka_unit_test(test_rfc6238_appendix_b_1111111109_sha1),
	    cmocka_unit_test(test_rfc6238_appendix_b_1111111109_sha256),
	    cmocka_unit_test(test_rfc6238_appendix_b_1111111109_sha512),
	    cmocka_unit_test(test_rfc6238_appendix_b_1111111111_sha1),
	    cmocka_unit_test(test_rfc6238_appendix_b_1111111111_sha256),
	    cmocka_unit_test(test_rfc6238_appendix_b_1111111111_sha512),
	    cmocka_unit_test(test_rfc6238_appendix_b_1234567890_sha1),
	    cmocka_unit_test(test_rfc6238_appendix_b_1234567890_sha256),
	    cmocka_unit_test(test_rfc6238_appendix_b_1234567890_sha512),
	    cmocka_unit_test(test_rfc6238_appendix_b_2000000000_sha1),
	    cmocka_unit_test(test_rfc6238_appendix_b_2000000000_sha256),
	    cmocka_unit_test(test_rfc6238_appendix_b_2000000000_sha512),
	    cmocka_unit_test(test_rfc6238_appendix_b_20000000000_sha1),
	    cmocka_unit_test(test_rfc6238_appendix_b_20000000000_sha256),
	    cmocka_unit_test(test_rfc6238_appendix_b_20000000000_sha512),
	    cmocka_unit_test(test_key_longer_than_block_is_hashed_first),
	    cmocka_unit_test(test_key_init_rejects_bad_arguments),
	    cmocka_unit_test(test_key_wipe_zeroes_the_states),
	    cmocka_unit_test(test_alg_names_and_parsing),
	    cmocka_unit_test(test_format_pads_with_zeros_for_6_7_8_digits),
	    cmocka_unit_test(test_totp_step),
	    cmocka_unit_test(test_parse_code),
	    cmocka_unit_test(test_verify_window_edges),
	    cmocka_unit_test(test_totp_step_at_or_before_last_accepted_is_refused),
	    cmocka_unit_test(test_verify_takes_the_highest_matching_counter),
	    cmocka_unit_test(test_verify_clamps_at_counter_zero_and_max),
	    cmocka_unit_test(test_verify_malformed_code_is_invalid),
	    cmocka_unit_test(test_verify_7_and_8_digit_codes),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
