/*
 * test_secretcode.c — backup codes and temporary passwords: their shape, how typed input is
 * read back, the keyed hash at rest, and each rule of DESIGN §3 in a test named after it.
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
#include "core/secretcode.h"

#define ACCOUNT 42
#define T0 1700000000

static const uint8_t key[SECRETCODE_KEY_BYTES] = "0123456789abcdef0123456789abcdef";

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

static bool in_alphabet(char c)
{
	return c != '\0' && strchr("0123456789abcdefghjkmnpqrstvwxyz", c) != NULL;
}

/* Generate n codes into st, asserting success. */
static void gen(struct backup_state *st, unsigned n, struct backup_new_code *out)
{
	assert_int_equal(backup_generate(st, n, key, ACCOUNT, out), PA_OK);
	assert_true(backup_state_valid(st));
}

static enum pa_err check_text(const struct backup_state *st, const char *text, unsigned *index)
{
	return backup_check_code(st, key, ACCOUNT, text, index);
}

/* Check then accept, as the store would. */
static enum pa_err use_code(struct backup_state *st, const char *text)
{
	unsigned index = 99;
	enum pa_err e = check_text(st, text, &index);

	if (e != PA_OK)
		return e;
	return backup_accept(st, index);
}

/* ---- shape and normalising ---------------------------------------------------------------- */

static void test_backup_code_shape(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	unsigned i, j;

	(void)state;
	gen(&st, BACKUP_ACTIVE_MAX, c);
	for (i = 0; i < BACKUP_ACTIVE_MAX; i++) {
		assert_int_equal(strlen(c[i].text), 14);
		assert_int_equal(c[i].generation, i + 1);
		for (j = 0; j < 14; j++) {
			if (j == 4 || j == 9)
				assert_int_equal(c[i].text[j], '-');
			else
				assert_true(in_alphabet(c[i].text[j]));
		}
	}
	assert_int_equal(st.next_generation, 6);
}

/* Over many codes every one of the 32 characters shows up in every position: no dead bits. */
static void test_backup_code_uses_whole_alphabet(void **state)
{
	uint32_t seen[BACKUP_CODE_CHARS] = {0};
	unsigned round, i, p;

	(void)state;
	for (round = 0; round < 200; round++) {
		struct backup_state st = BACKUP_STATE_INIT;
		struct backup_new_code c[BACKUP_ACTIVE_MAX];

		gen(&st, BACKUP_ACTIVE_MAX, c);
		for (i = 0; i < BACKUP_ACTIVE_MAX; i++) {
			char norm[SECRETCODE_NORMAL_SIZE];

			assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, c[i].text, norm),
			                 PA_OK);
			for (p = 0; p < BACKUP_CODE_CHARS; p++)
				seen[p] |= 1u
				           << (strchr("0123456789abcdefghjkmnpqrstvwxyz", norm[p]) -
				               "0123456789abcdefghjkmnpqrstvwxyz");
		}
	}
	for (p = 0; p < BACKUP_CODE_CHARS; p++)
		assert_int_equal(seen[p], 0xffffffffu);
}

static void test_normalise_forgives_case_separators_and_aliases(void **state)
{
	char out[SECRETCODE_NORMAL_SIZE];

	(void)state;
	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, "abcd-efgh-jkmn", out), PA_OK);
	assert_string_equal(out, "abcdefghjkmn");
	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, " ABCD EFGH--JKMN ", out), PA_OK);
	assert_string_equal(out, "abcdefghjkmn");
	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, "oOiI-lL00-1111", out), PA_OK);
	assert_string_equal(out, "001111001111");
	assert_int_equal(secretcode_normalise(SECRETCODE_TMPPASS, "0123456789ABCDEF", out), PA_OK);
	assert_string_equal(out, "0123456789abcdef");
	assert_int_equal(secretcode_normalise(SECRETCODE_TMPPASS, "wxyz-wxyz wxyz-wxyz", out),
	                 PA_OK);
	assert_string_equal(out, "wxyzwxyzwxyzwxyz");
}

static void test_normalise_refuses_what_is_not_a_code(void **state)
{
	static const char *bad[] = {
	    "",
	    "abcd-efgh-jkm",         /* 11 characters */
	    "abcd-efgh-jkmnp",       /* 13 */
	    "abcd-efgh-jkmu",        /* u is not in the alphabet */
	    "abcd_efgh_jkmn",        /* only spaces and dashes are separators */
	    "abcd\tefgh-jkmn",       /* a tab is not a space */
	    "abcd-efgh-jkm\xc3\xa9", /* non-ASCII */
	    "abcd-efgh-jkm!",
	    "                                                                 abcdefghjkmn",
	};
	char out[SECRETCODE_NORMAL_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(out, 'x', sizeof out);
		assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, bad[i], out),
		                 PA_ERR_INVALID_CODE);
		assert_int_equal(out[0], '\0'); /* wiped */
	}
	/* a backup code is not a temporary password and the other way round */
	assert_int_equal(secretcode_normalise(SECRETCODE_TMPPASS, "abcd-efgh-jkmn", out),
	                 PA_ERR_INVALID_CODE);
	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, "0123456789abcdef", out),
	                 PA_ERR_INVALID_CODE);
	assert_int_equal(secretcode_normalise((enum secretcode_kind)7, "abcdefghjkmn", out),
	                 PA_ERR_INVALID_ARGUMENT);
}

/* The hash is exactly the documented HMAC layout, so another implementation can reproduce it. */
static void test_hash_layout_as_documented(void **state)
{
	static const char msg_b[] = "pahara backup code v1\0\0\0\0\0\0\0\0\x2a"
	                            "abcdefghjkmn";
	static const char msg_t[] = "pahara temporary password v1\0\x01\x02\x03\x04\x05\x06\x07\x08"
	                            "0123456789abcdef";
	uint8_t want[32], got[32];

	(void)state;
	crypto_auth_hmacsha256(want, (const uint8_t *)msg_b, sizeof msg_b - 1, key);
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, 42, "abcdefghjkmn", got), PA_OK);
	assert_memory_equal(got, want, 32);

	crypto_auth_hmacsha256(want, (const uint8_t *)msg_t, sizeof msg_t - 1, key);
	assert_int_equal(secretcode_hash(key, SECRETCODE_TMPPASS, 0x0102030405060708ull,
	                                 "0123456789abcdef", got),
	                 PA_OK);
	assert_memory_equal(got, want, 32);

	/* only normalised input */
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, 42, "ABCDEFGHJKMN", got),
	                 PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, 42, "abcd-efgh-jkmn", got),
	                 PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(secretcode_hash(key, SECRETCODE_TMPPASS, 42, "abcdefghjkmn", got),
	                 PA_ERR_INVALID_ARGUMENT);
}

/* ---- backup-code rules -------------------------------------------------------------------- */

static void test_at_most_five_backup_codes_active(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code first[BACKUP_ACTIVE_MAX], more[BACKUP_ACTIVE_MAX];
	uint32_t gens[BACKUP_ACTIVE_MAX];
	unsigned i, index;

	(void)state;
	gen(&st, 5, first);
	assert_int_equal(backup_active_count(&st), 5);
	gen(&st, 3, more);
	assert_int_equal(backup_active_count(&st), 5);
	/* the three oldest were retired to make room: 4, 5, 6, 7, 8 are active */
	assert_int_equal(backup_active_generations(&st, gens), 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(gens[i], 4 + i);
	for (i = 0; i < 3; i++)
		assert_int_equal(check_text(&st, first[i].text, &index),
		                 PA_ERR_INACTIVE_BACKUP_CODE);
	for (i = 3; i < 5; i++)
		assert_int_equal(check_text(&st, first[i].text, &index), PA_OK);
	for (i = 0; i < 3; i++)
		assert_int_equal(check_text(&st, more[i].text, &index), PA_OK);

	/* one at a time, many times over: never more than five */
	for (i = 0; i < 40; i++) {
		gen(&st, 1 + i % 5, more);
		assert_true(backup_active_count(&st) <= BACKUP_ACTIVE_MAX);
		assert_true(st.count <= BACKUP_HISTORY_MAX);
	}
	assert_int_equal(backup_generate(&st, 0, key, ACCOUNT, more), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_generate(&st, 6, key, ACCOUNT, more), PA_ERR_INVALID_ARGUMENT);
}

static void test_accepting_code_k_retires_every_code_before_it(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	uint32_t gens[BACKUP_ACTIVE_MAX];
	unsigned index;

	(void)state;
	gen(&st, 5, c);
	assert_int_equal(use_code(&st, c[2].text), PA_OK); /* number 3 */
	assert_int_equal(backup_active_generations(&st, gens), 2);
	assert_int_equal(gens[0], 4);
	assert_int_equal(gens[1], 5);
	assert_int_equal(check_text(&st, c[0].text, &index), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(st.entries[index].status, BACKUP_RETIRED);
	assert_int_equal(check_text(&st, c[1].text, &index), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(check_text(&st, c[2].text, &index), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(st.entries[index].status, BACKUP_USED);
	/* later codes stay usable, in any order among themselves */
	assert_int_equal(use_code(&st, c[4].text), PA_OK);
	assert_int_equal(use_code(&st, c[3].text), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(backup_active_count(&st), 0);
}

static void test_inactive_backup_code_told_apart_from_wrong_one(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	unsigned index = 99;

	(void)state;
	gen(&st, 2, c);
	assert_int_equal(use_code(&st, c[1].text), PA_OK);
	assert_int_equal(check_text(&st, c[0].text, &index), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(st.entries[index].generation, 1);
	/* a well-formed code that was never generated, and a malformed one: both plainly wrong */
	assert_int_equal(check_text(&st, "zzzz-zzzz-zzzz", &index), PA_ERR_INVALID_CODE);
	assert_int_equal(check_text(&st, "not a code", &index), PA_ERR_INVALID_CODE);
	/* an empty state knows no code */
	{
		struct backup_state empty = BACKUP_STATE_INIT;

		assert_int_equal(check_text(&empty, c[0].text, &index), PA_ERR_INVALID_CODE);
	}
	/* codes pushed out of the state are not in it: the state alone says wrong, and the
	 * store's history has to tell (test_inactive_backup_code_told_apart_however_old) */
	{
		struct backup_new_code more[BACKUP_ACTIVE_MAX];
		unsigned i;

		for (i = 0; i < 5; i++)
			gen(&st, 5, more);
		assert_int_equal(check_text(&st, c[0].text, &index), PA_ERR_INVALID_CODE);
	}
}

/* What the store keeps: every code's number, hash and status, long after a state dropped it. */
struct history {
	struct backup_entry by_gen[64]; /* indexed by generation */
};

/* Copy st's entries into the history (as backup_save writes them back). */
static void remember(struct history *h, const struct backup_state *st)
{
	unsigned i;

	for (i = 0; i < st->count; i++) {
		assert_true(st->entries[i].generation < 64);
		h->by_gen[st->entries[i].generation] = st->entries[i];
	}
}

/* The answer for typed text: the state first, then the history older than the state. */
static enum pa_err check_with_history(const struct backup_state *st, const struct history *h,
                                      const char *text)
{
	uint8_t hash[SECRETCODE_HASH_BYTES];
	unsigned index, g;
	enum pa_err e = check_text(st, text, &index);

	if (e != PA_ERR_INVALID_CODE)
		return e;
	if (backup_code_hash(key, ACCOUNT, text, hash) != PA_OK)
		return PA_ERR_INVALID_CODE;
	for (g = 1; g < st->entries[0].generation; g++)
		if (memcmp(h->by_gen[g].hash, hash, sizeof hash) == 0)
			return backup_check_history(st, g, h->by_gen[g].status);
	return PA_ERR_INVALID_CODE;
}

static void test_inactive_backup_code_told_apart_however_old(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code first[BACKUP_ACTIVE_MAX], later[BACKUP_ACTIVE_MAX];
	char texts[64][BACKUP_CODE_TEXT_SIZE];
	struct history h;
	unsigned i, j;

	(void)state;
	memset(&h, 0, sizeof h);
	memset(texts, 0, sizeof texts);
	gen(&st, 5, first); /* 1..5 */
	for (i = 0; i < 5; i++)
		memcpy(texts[first[i].generation], first[i].text, BACKUP_CODE_TEXT_SIZE);
	assert_int_equal(use_code(&st, first[2].text), PA_OK); /* 3 used, 1 and 2 retired */
	remember(&h, &st);
	for (i = 0; i < 10; i++) { /* 6..55: 4 and 5 retired by newer codes, then dropped */
		gen(&st, 5, later);
		for (j = 0; j < 5; j++)
			memcpy(texts[later[j].generation], later[j].text, BACKUP_CODE_TEXT_SIZE);
		remember(&h, &st);
	}
	assert_int_equal(st.entries[0].generation, 36);
	for (i = 1; i < 36; i++) {
		unsigned index;

		/* the state forgot it ... */
		assert_int_equal(check_text(&st, texts[i], &index), PA_ERR_INVALID_CODE);
		/* ... the history tells it apart, whether used or retired */
		assert_int_equal(check_with_history(&st, &h, texts[i]),
		                 PA_ERR_INACTIVE_BACKUP_CODE);
	}
	for (i = 36; i < 51; i++)
		assert_int_equal(check_with_history(&st, &h, texts[i]),
		                 PA_ERR_INACTIVE_BACKUP_CODE);
	for (i = 51; i < 56; i++)
		assert_int_equal(check_with_history(&st, &h, texts[i]), PA_OK);
	assert_int_equal(check_with_history(&st, &h, "zzzz-zzzz-zzzz"), PA_ERR_INVALID_CODE);
	assert_int_equal(check_with_history(&st, &h, "not a code"), PA_ERR_INVALID_CODE);
}

static void test_backup_history_refuses_what_cannot_be(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT, empty = BACKUP_STATE_INIT, bad;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++)
		gen(&st, 5, c); /* 1..25, the state holds 6..25 */
	assert_int_equal(st.entries[0].generation, 6);
	assert_int_equal(backup_check_history(&st, 5, BACKUP_USED), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(backup_check_history(&st, 1, BACKUP_RETIRED), PA_ERR_INACTIVE_BACKUP_CODE);
	/* an old code cannot be active: active codes are always the newest */
	assert_int_equal(backup_check_history(&st, 5, BACKUP_ACTIVE), PA_ERR_INVALID_ARGUMENT);
	/* nor can the history hold a number the state has, or a later one, or 0 */
	assert_int_equal(backup_check_history(&st, 6, BACKUP_USED), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_check_history(&st, 30, BACKUP_RETIRED), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_check_history(&st, 0, BACKUP_RETIRED), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_check_history(&st, 5, (enum backup_status)7),
	                 PA_ERR_INVALID_ARGUMENT);
	/* an empty state: below next_generation */
	empty.next_generation = 9;
	assert_int_equal(backup_check_history(&empty, 8, BACKUP_RETIRED),
	                 PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(backup_check_history(&empty, 9, BACKUP_RETIRED), PA_ERR_INVALID_ARGUMENT);
	/* a corrupt state */
	bad = st;
	bad.next_generation = 0;
	assert_int_equal(backup_check_history(&bad, 1, BACKUP_RETIRED), PA_ERR_INVALID_ARGUMENT);
}

static void test_backup_code_hash_as_checked(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	char norm[SECRETCODE_NORMAL_SIZE];
	uint8_t h[SECRETCODE_HASH_BYTES], want[SECRETCODE_HASH_BYTES], zero[SECRETCODE_HASH_BYTES];
	char loose[32];
	unsigned i;

	(void)state;
	gen(&st, 1, c);
	assert_int_equal(backup_code_hash(key, ACCOUNT, c[0].text, h), PA_OK);
	assert_memory_equal(h, st.entries[0].hash, sizeof h);
	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, c[0].text, norm), PA_OK);
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, ACCOUNT, norm, want), PA_OK);
	assert_memory_equal(h, want, sizeof h);
	/* typed loosely: the same hash */
	for (i = 0; c[0].text[i]; i++)
		loose[i] = c[0].text[i] == '-' ? ' '
		           : (c[0].text[i] >= 'a' && c[0].text[i] <= 'z')
		               ? (char)(c[0].text[i] - 32)
		               : c[0].text[i];
	loose[i] = '\0';
	assert_int_equal(backup_code_hash(key, ACCOUNT, loose, h), PA_OK);
	assert_memory_equal(h, want, sizeof h);
	/* not a code: refused, and nothing left in out */
	memset(zero, 0, sizeof zero);
	memset(h, 0xa5, sizeof h);
	assert_int_equal(backup_code_hash(key, ACCOUNT, "not a code", h), PA_ERR_INVALID_CODE);
	assert_memory_equal(h, zero, sizeof h);
	memset(h, 0xa5, sizeof h);
	assert_int_equal(backup_code_hash(key, ACCOUNT, "abcd-efgh-jkm", h), PA_ERR_INVALID_CODE);
	assert_memory_equal(h, zero, sizeof h);
}

static void test_backup_code_usable_once(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	unsigned index;

	(void)state;
	gen(&st, 3, c);
	assert_int_equal(check_text(&st, c[0].text, &index), PA_OK);
	assert_int_equal(backup_accept(&st, index), PA_OK);
	assert_int_equal(check_text(&st, c[0].text, &index), PA_ERR_INACTIVE_BACKUP_CODE);
	/* a second accept of the same index (a racing request that checked first) is refused */
	assert_int_equal(backup_accept(&st, index), PA_ERR_INACTIVE_BACKUP_CODE);
	assert_int_equal(backup_active_count(&st), 2);
	assert_int_equal(backup_accept(&st, st.count), PA_ERR_INVALID_ARGUMENT);
}

static void test_backup_code_typed_loosely_still_matches(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	char typed[40];
	unsigned index, i, j = 0;

	(void)state;
	gen(&st, 1, c);
	/* upper case, no dashes, spaces between every character */
	for (i = 0; c[0].text[i]; i++) {
		if (c[0].text[i] == '-')
			continue;
		typed[j++] = (char)(c[0].text[i] >= 'a' ? c[0].text[i] - 'a' + 'A' : c[0].text[i]);
		typed[j++] = ' ';
	}
	typed[j] = '\0';
	assert_int_equal(check_text(&st, typed, &index), PA_OK);
}

static void test_backup_hash_bound_to_account(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	char norm[SECRETCODE_NORMAL_SIZE];
	uint8_t h1[32], h2[32];
	uint8_t other_key[SECRETCODE_KEY_BYTES];
	unsigned index;

	(void)state;
	gen(&st, 1, c);
	/* the same state presented under another account id: nothing matches */
	assert_int_equal(backup_check_code(&st, key, ACCOUNT + 1, c[0].text, &index),
	                 PA_ERR_INVALID_CODE);
	assert_int_equal(backup_check_code(&st, key, ACCOUNT, c[0].text, &index), PA_OK);
	/* nor under another server key */
	memcpy(other_key, key, sizeof other_key);
	other_key[0] ^= 1;
	assert_int_equal(backup_check_code(&st, other_key, ACCOUNT, c[0].text, &index),
	                 PA_ERR_INVALID_CODE);

	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, c[0].text, norm), PA_OK);
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, 1, norm, h1), PA_OK);
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, 1ull << 32, norm, h2), PA_OK);
	assert_memory_not_equal(h1, h2, 32);
}

static void test_backup_history_drops_oldest_inactive(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	unsigned i;

	(void)state;
	for (i = 0; i < 4; i++)
		gen(&st, 5, c); /* 20 entries, 15 retired */
	assert_int_equal(st.count, BACKUP_HISTORY_MAX);
	gen(&st, 2, c); /* retires 2 more, drops generations 1 and 2 */
	assert_int_equal(st.count, BACKUP_HISTORY_MAX);
	assert_int_equal(st.entries[0].generation, 3);
	assert_int_equal(st.entries[BACKUP_HISTORY_MAX - 1].generation, 22);
	assert_int_equal(backup_active_count(&st), 5);
	assert_int_equal(st.next_generation, 23);
}

static void test_backup_generation_numbers_strictly_increase(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	uint32_t last = 0;
	unsigned i, j;

	(void)state;
	for (i = 0; i < 30; i++) {
		unsigned n = 1 + i % 5, index;

		gen(&st, n, c);
		for (j = 0; j < n; j++) {
			assert_true(c[j].generation > last);
			last = c[j].generation;
		}
		/* use the newest now and then: numbers still never go back */
		if (i % 4 == 0) {
			assert_int_equal(check_text(&st, c[n - 1].text, &index), PA_OK);
			assert_int_equal(backup_accept(&st, index), PA_OK);
		}
	}
	/* exhausted numbers are an error, not a wrap-around */
	st.next_generation = UINT32_MAX - 2;
	assert_int_equal(backup_generate(&st, 3, key, ACCOUNT, c), PA_ERR_COUNTER);
	assert_int_equal(st.next_generation, UINT32_MAX - 2);
	assert_int_equal(backup_generate(&st, 2, key, ACCOUNT, c), PA_OK);
	assert_int_equal(st.next_generation, UINT32_MAX);
}

static void test_backup_retire_all(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	unsigned index;

	(void)state;
	gen(&st, 3, c);
	backup_retire_all(&st);
	assert_int_equal(backup_active_count(&st), 0);
	assert_int_equal(check_text(&st, c[2].text, &index), PA_ERR_INACTIVE_BACKUP_CODE);
}

static void test_backup_state_refused_when_corrupt(void **state)
{
	struct backup_state st = BACKUP_STATE_INIT, bad;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	uint8_t h[32] = {0};
	unsigned index;

	(void)state;
	gen(&st, 5, c);
	assert_true(backup_state_valid(&st));

	bad = st;
	bad.count = BACKUP_HISTORY_MAX + 1;
	assert_false(backup_state_valid(&bad));
	bad = st;
	bad.entries[1].generation = 1; /* not increasing */
	assert_false(backup_state_valid(&bad));
	bad = st;
	bad.next_generation = 5; /* an entry at or past the next number */
	assert_false(backup_state_valid(&bad));
	bad = st;
	bad.entries[0].status = (enum backup_status)0;
	assert_false(backup_state_valid(&bad));
	bad = st;
	bad.entries[5] = bad.entries[4];
	bad.entries[5].generation = 6;
	bad.next_generation = 7;
	bad.count = 6; /* six active */
	assert_false(backup_state_valid(&bad));
	assert_int_equal(backup_generate(&bad, 1, key, ACCOUNT, c), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_check(&bad, h, &index), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_accept(&bad, 0), PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(backup_active_count(&bad), 0);

	{
		struct backup_state zero;

		memset(&zero, 0, sizeof zero);
		assert_false(backup_state_valid(&zero));
	}
}

/* ---- temporary-password rules ------------------------------------------------------------- */

static enum pa_err tp_check(const struct tmppass_state *st, const char *pw, int64_t now,
                            unsigned *index)
{
	return tmppass_check_password(st, key, ACCOUNT, pw, strlen(pw), now, index);
}

static enum pa_err tp_use(struct tmppass_state *st, const char *pw, int64_t now)
{
	unsigned index = 99;
	enum pa_err e = tp_check(st, pw, now, &index);

	if (e != PA_OK)
		return e;
	return tmppass_accept(st, index, now);
}

static void test_tmppass_shape(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned i;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0, pw, &id), PA_OK);
	assert_int_equal(id, 1);
	assert_int_equal(strlen(pw), TMPPASS_CHARS);
	for (i = 0; i < TMPPASS_CHARS; i++)
		assert_true(in_alphabet(pw[i]));
	assert_int_equal(st.entries[0].created_at, T0);
	assert_int_equal(st.entries[0].expires_at, T0 + TMPPASS_TTL);
	assert_true(tmppass_state_valid(&st));
}

static void test_tmppass_single_use(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned index;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0, pw, &id), PA_OK);
	assert_int_equal(tp_use(&st, pw, T0 + 10), PA_OK);
	assert_int_equal(tp_check(&st, pw, T0 + 11, &index), PA_ERR_ALREADY_USED);
	assert_int_equal(st.entries[index].id, id);
	assert_int_equal(tmppass_accept(&st, index, T0 + 11), PA_ERR_ALREADY_USED);
	assert_int_equal(tmppass_public_error(PA_ERR_ALREADY_USED), PA_ERR_PASSWORD_MISMATCH);
}

static void test_tmppass_expires_at_exactly_expires_at(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned index;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0, pw, &id), PA_OK);
	assert_int_equal(tp_check(&st, pw, T0 + TMPPASS_TTL - 1, &index), PA_OK);
	assert_int_equal(tp_check(&st, pw, T0 + TMPPASS_TTL, &index), PA_ERR_EXPIRED);
	assert_int_equal(tmppass_accept(&st, index, T0 + TMPPASS_TTL), PA_ERR_EXPIRED);
	assert_int_equal(tp_use(&st, pw, T0 + TMPPASS_TTL - 1), PA_OK);
	assert_int_equal(tmppass_public_error(PA_ERR_EXPIRED), PA_ERR_PASSWORD_MISMATCH);
}

static void test_tmppass_at_most_five_outstanding(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[6][TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0 + i, pw[i], &id), PA_OK);
	assert_int_equal(tmppass_outstanding_count(&st, T0 + 5), 5);
	memset(pw[5], 'x', sizeof pw[5]);
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0 + 5, pw[5], &id), PA_ERR_TOO_MANY);
	assert_int_equal(pw[5][0], 'x'); /* nothing written */
	assert_int_equal(st.count, 5);
	/* using one frees a place */
	assert_int_equal(tp_use(&st, pw[2], T0 + 6), PA_OK);
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0 + 7, pw[5], &id), PA_OK);
	assert_int_equal(id, 6);
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0 + 8, pw[2], &id), PA_ERR_TOO_MANY);
	/* and so does expiry: at T0 + TTL the first one has expired */
	assert_int_equal(tmppass_outstanding_count(&st, T0 + TMPPASS_TTL), 4);
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0 + TMPPASS_TTL, pw[2], &id), PA_OK);
}

static void test_tmppass_history_keeps_outstanding(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE], keep[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned i, index;
	int64_t now = T0;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, now, keep, &id), PA_OK);
	for (i = 0; i < 3 * TMPPASS_HISTORY_MAX; i++) {
		now++;
		assert_int_equal(tmppass_create(&st, key, ACCOUNT, now, pw, &id), PA_OK);
		assert_int_equal(tp_use(&st, pw, now), PA_OK);
		assert_true(st.count <= TMPPASS_HISTORY_MAX);
	}
	/* the first, never used, is still there and still works; the oldest used ones went */
	assert_int_equal(tp_check(&st, keep, now, &index), PA_OK);
	assert_int_equal(st.entries[index].id, 1);
	assert_int_equal(st.count, TMPPASS_HISTORY_MAX);
}

static void test_tmppass_wrong_answers_like_wrong_password(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned index;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0, pw, &id), PA_OK);
	assert_int_equal(tp_check(&st, "zzzzzzzzzzzzzzzz", T0, &index), PA_ERR_PASSWORD_MISMATCH);
	assert_int_equal(tp_check(&st, "hunter22", T0, &index), PA_ERR_PASSWORD_MISMATCH);
	/* a NUL inside the password field makes it no temporary password */
	{
		char with_nul[TMPPASS_CHARS];

		memcpy(with_nul, pw, TMPPASS_CHARS);
		with_nul[3] = '\0';
		assert_int_equal(
		    tmppass_check_password(&st, key, ACCOUNT, with_nul, TMPPASS_CHARS, T0, &index),
		    PA_ERR_PASSWORD_MISMATCH);
	}
	/* typed with dashes and upper case it still is one */
	{
		char typed[TMPPASS_TEXT_SIZE + 4];
		unsigned i, j = 0;

		for (i = 0; i < TMPPASS_CHARS; i++) {
			if (i && i % 4 == 0)
				typed[j++] = '-';
			typed[j++] = (char)(pw[i] >= 'a' ? pw[i] - 'a' + 'A' : pw[i]);
		}
		assert_int_equal(tmppass_check_password(&st, key, ACCOUNT, typed, j, T0, &index),
		                 PA_OK);
	}
	assert_int_equal(tmppass_public_error(PA_ERR_PASSWORD_MISMATCH), PA_ERR_PASSWORD_MISMATCH);
	assert_int_equal(tmppass_public_error(PA_OK), PA_OK);
	assert_int_equal(tmppass_public_error(PA_ERR_INVALID_ARGUMENT), PA_ERR_INVALID_ARGUMENT);
}

static void test_tmppass_bound_to_account(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned index;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, T0, pw, &id), PA_OK);
	assert_int_equal(tmppass_check_password(&st, key, ACCOUNT + 1, pw, strlen(pw), T0, &index),
	                 PA_ERR_PASSWORD_MISMATCH);
}

static void test_tmppass_and_backup_codes_kept_apart(void **state)
{
	struct backup_state bs = BACKUP_STATE_INIT;
	struct tmppass_state ts = TMPPASS_STATE_INIT;
	struct backup_new_code c[BACKUP_ACTIVE_MAX];
	char pw[TMPPASS_TEXT_SIZE], norm[SECRETCODE_NORMAL_SIZE];
	uint8_t h[32];
	uint32_t id;
	unsigned index;

	(void)state;
	gen(&bs, 1, c);
	assert_int_equal(tmppass_create(&ts, key, ACCOUNT, T0, pw, &id), PA_OK);
	/* each presented in the other's place is simply wrong */
	assert_int_equal(check_text(&bs, pw, &index), PA_ERR_INVALID_CODE);
	assert_int_equal(tp_check(&ts, c[0].text, T0, &index), PA_ERR_PASSWORD_MISMATCH);
	/* and a hash made for one purpose matches nothing of the other */
	assert_int_equal(secretcode_normalise(SECRETCODE_BACKUP, c[0].text, norm), PA_OK);
	assert_int_equal(secretcode_hash(key, SECRETCODE_BACKUP, ACCOUNT, norm, h), PA_OK);
	assert_int_equal(tmppass_check(&ts, h, T0, &index), PA_ERR_PASSWORD_MISMATCH);
	assert_int_equal(secretcode_normalise(SECRETCODE_TMPPASS, pw, norm), PA_OK);
	assert_int_equal(secretcode_hash(key, SECRETCODE_TMPPASS, ACCOUNT, norm, h), PA_OK);
	assert_int_equal(backup_check(&bs, h, &index), PA_ERR_INVALID_CODE);
}

/* The server's configured lifetime replaces the default one hour, to the second. */
static void test_tmppass_lifetime_configurable(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;
	unsigned index;

	(void)state;
	assert_int_equal(tmppass_create_ttl(&st, key, ACCOUNT, T0, 0, pw, &id),
	                 PA_ERR_INVALID_ARGUMENT);
	assert_int_equal(tmppass_create_ttl(&st, key, ACCOUNT, INT64_MAX - 599, 600, pw, &id),
	                 PA_ERR_COUNTER);
	assert_int_equal(st.count, 0);
	assert_int_equal(tmppass_create_ttl(&st, key, ACCOUNT, T0, 600, pw, &id), PA_OK);
	assert_int_equal(st.entries[0].expires_at, T0 + 600);
	assert_int_equal(tp_check(&st, pw, T0 + 599, &index), PA_OK);
	assert_int_equal(tp_check(&st, pw, T0 + 600, &index), PA_ERR_EXPIRED);
	assert_int_equal(tmppass_create_ttl(&st, key, ACCOUNT, T0, 7 * 86400, pw, &id), PA_OK);
	assert_int_equal(tp_check(&st, pw, T0 + TMPPASS_TTL, &index), PA_OK);
	assert_int_equal(tp_check(&st, pw, T0 + 7 * 86400, &index), PA_ERR_EXPIRED);
}

static void test_tmppass_time_out_of_range(void **state)
{
	struct tmppass_state st = TMPPASS_STATE_INIT;
	char pw[TMPPASS_TEXT_SIZE];
	uint32_t id;

	(void)state;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, -1, pw, &id), PA_ERR_COUNTER);
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, INT64_MAX - TMPPASS_TTL + 1, pw, &id),
	                 PA_ERR_COUNTER);
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, INT64_MAX - TMPPASS_TTL, pw, &id),
	                 PA_OK);
	assert_int_equal(st.entries[0].expires_at, INT64_MAX);
	st.next_id = UINT32_MAX;
	st.entries[0].id = 1;
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, 0, pw, &id), PA_ERR_COUNTER);
	st.next_id = 0;
	assert_false(tmppass_state_valid(&st));
	assert_int_equal(tmppass_create(&st, key, ACCOUNT, 0, pw, &id), PA_ERR_INVALID_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backup_code_shape),
	    cmocka_unit_test(test_backup_code_uses_whole_alphabet),
	    cmocka_unit_test(test_normalise_forgives_case_separators_and_aliases),
	    cmocka_unit_test(test_normalise_refuses_what_is_not_a_code),
	    cmocka_unit_test(test_hash_layout_as_documented),
	    cmocka_unit_test(test_at_most_five_backup_codes_active),
	    cmocka_unit_test(test_accepting_code_k_retires_every_code_before_it),
	    cmocka_unit_test(test_inactive_backup_code_told_apart_from_wrong_one),
	    cmocka_unit_test(test_inactive_backup_code_told_apart_however_old),
	    cmocka_unit_test(test_backup_history_refuses_what_cannot_be),
	    cmocka_unit_test(test_backup_code_hash_as_checked),
	    cmocka_unit_test(test_backup_code_usable_once),
	    cmocka_unit_test(test_backup_code_typed_loosely_still_matches),
	    cmocka_unit_test(test_backup_hash_bound_to_account),
	    cmocka_unit_test(test_backup_history_drops_oldest_inactive),
	    cmocka_unit_test(test_backup_generation_numbers_strictly_increase),
	    cmocka_unit_test(test_backup_retire_all),
	    cmocka_unit_test(test_backup_state_refused_when_corrupt),
	    cmocka_unit_test(test_tmppass_shape),
	    cmocka_unit_test(test_tmppass_single_use),
	    cmocka_unit_test(test_tmppass_expires_at_exactly_expires_at),
	    cmocka_unit_test(test_tmppass_at_most_five_outstanding),
	    cmocka_unit_test(test_tmppass_history_keeps_outstanding),
	    cmocka_unit_test(test_tmppass_wrong_answers_like_wrong_password),
	    cmocka_unit_test(test_tmppass_bound_to_account),
	    cmocka_unit_test(test_tmppass_and_backup_codes_kept_apart),
	    cmocka_unit_test(test_tmppass_time_out_of_range),
	    cmocka_unit_test(test_tmppass_lifetime_configurable),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
