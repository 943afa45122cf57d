/* secretcode.c — see secretcode.h. */
#include <string.h>

#include <sodium.h>

#include "core/secretcode.h"

/* Crockford's base32 alphabet in the lower case we show. */
static const char secretcode_alphabet[32] = "0123456789abcdefghjkmnpqrstvwxyz";

static const char tag_backup[] = "pahara backup code v1";
static const char tag_tmppass[] = "pahara temporary password v1";

/* Mask of all ones when cond is 1, all zeros when it is 0: selects without branching. */
static uint32_t mask_of(uint32_t cond)
{
	return (uint32_t)0 - cond;
}

static size_t kind_chars(enum secretcode_kind kind)
{
	switch (kind) {
	case SECRETCODE_BACKUP:
		return BACKUP_CODE_CHARS;
	case SECRETCODE_TMPPASS:
		return TMPPASS_CHARS;
	}
	return 0;
}

/* The canonical character for a typed one, or 0 when it is not in the alphabet or an alias. */
static char canonical_char(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (unsigned char)(c - 'A' + 'a');
	switch (c) {
	case 'o':
		return '0';
	case 'i':
	case 'l':
		return '1';
	case 'u':
		return 0; /* Crockford keeps u for check symbols; never in our codes */
	}
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))
		return (char)c;
	return 0;
}

/* secretcode_normalise over len bytes that need not be NUL-terminated. */
static enum pa_err normalise_n(enum secretcode_kind kind, const char *text, size_t len,
                               char out[SECRETCODE_NORMAL_SIZE])
{
	size_t want = kind_chars(kind), n = 0, i;

	memset(out, 0, SECRETCODE_NORMAL_SIZE);
	if (want == 0)
		return PA_ERR_INVALID_ARGUMENT;
	if (len > SECRETCODE_INPUT_MAX)
		return PA_ERR_INVALID_CODE;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		char k;

		if (c == ' ' || c == '-')
			continue;
		k = canonical_char(c);
		if (k == 0 || n == want)
			goto not_a_code;
		out[n++] = k;
	}
	if (n != want)
		goto not_a_code;
	return PA_OK;

not_a_code:
	sodium_memzero(out, SECRETCODE_NORMAL_SIZE);
	return PA_ERR_INVALID_CODE;
}

enum pa_err secretcode_normalise(enum secretcode_kind kind, const char *text,
                                 char out[SECRETCODE_NORMAL_SIZE])
{
	/* Look one byte past the limit: over-long input is told apart without scanning it all. */
	return normalise_n(kind, text, strnlen(text, SECRETCODE_INPUT_MAX + 1), out);
}

/* Whether s is exactly a normalised code of kind: want canonical characters and a NUL. */
static bool is_normalised(enum secretcode_kind kind, const char *s)
{
	size_t want = kind_chars(kind), i;

	if (want == 0 || strnlen(s, want + 1) != want)
		return false;
	for (i = 0; i < want; i++)
		if (memchr(secretcode_alphabet, s[i], sizeof secretcode_alphabet) == NULL)
			return false;
	return true;
}

enum pa_err secretcode_hash(const uint8_t key[SECRETCODE_KEY_BYTES], enum secretcode_kind kind,
                            uint64_t account_id, const char *normalised,
                            uint8_t out[SECRETCODE_HASH_BYTES])
{
	crypto_auth_hmacsha256_state h;
	const char *tag = kind == SECRETCODE_BACKUP ? tag_backup : tag_tmppass;
	uint8_t id[8];
	int i;

	if (!is_normalised(kind, normalised))
		return PA_ERR_INVALID_ARGUMENT;
	for (i = 0; i < 8; i++)
		id[i] = (uint8_t)(account_id >> (56 - 8 * i));
	crypto_auth_hmacsha256_init(&h, key, SECRETCODE_KEY_BYTES);
	/* The tag's NUL goes in too: it ends the tag, so no tag is a prefix of another message. */
	crypto_auth_hmacsha256_update(&h, (const uint8_t *)tag, strlen(tag) + 1);
	crypto_auth_hmacsha256_update(&h, id, sizeof id);
	crypto_auth_hmacsha256_update(&h, (const uint8_t *)normalised, kind_chars(kind));
	crypto_auth_hmacsha256_final(&h, out);
	sodium_memzero(&h, sizeof h);
	return PA_OK;
}

/* chars random characters, uniform: 256 is a multiple of 32, so masking a byte is unbiased. */
static void random_chars(char *out, size_t chars)
{
	uint8_t r[TMPPASS_CHARS];
	size_t i;

	randombytes_buf(r, chars);
	for (i = 0; i < chars; i++)
		out[i] = secretcode_alphabet[r[i] & 31];
	sodium_memzero(r, sizeof r);
}

/* ---- backup codes ------------------------------------------------------------------------- */

bool backup_state_valid(const struct backup_state *st)
{
	unsigned i, active = 0;
	uint32_t prev = 0;

	if (st->next_generation == 0 || st->count > BACKUP_HISTORY_MAX)
		return false;
	for (i = 0; i < st->count; i++) {
		const struct backup_entry *e = &st->entries[i];

		if (e->generation <= prev || e->generation >= st->next_generation)
			return false;
		prev = e->generation;
		switch (e->status) {
		case BACKUP_ACTIVE:
			active++;
			break;
		case BACKUP_USED:
		case BACKUP_RETIRED:
			break;
		default:
			return false;
		}
	}
	return active <= BACKUP_ACTIVE_MAX;
}

/* Drop entry i, keeping the order of the rest. */
static void backup_drop(struct backup_state *st, unsigned i)
{
	memmove(&st->entries[i], &st->entries[i + 1], (st->count - i - 1) * sizeof st->entries[0]);
	st->count--;
	sodium_memzero(&st->entries[st->count], sizeof st->entries[0]);
}

enum pa_err backup_generate(struct backup_state *st, unsigned n,
                            const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                            struct backup_new_code out[BACKUP_ACTIVE_MAX])
{
	struct backup_state next;
	char code[SECRETCODE_NORMAL_SIZE];
	unsigned i, active;
	enum pa_err e;

	if (n < 1 || n > BACKUP_ACTIVE_MAX || !backup_state_valid(st))
		return PA_ERR_INVALID_ARGUMENT;
	if (st->next_generation > UINT32_MAX - n)
		return PA_ERR_COUNTER;

	/* Work on a copy so that st and out stay unchanged on error. */
	next = *st;
	/* Retire the oldest active codes so that the new ones fit under the cap. */
	active = backup_active_count(&next);
	for (i = 0; i < next.count && active + n > BACKUP_ACTIVE_MAX; i++) {
		if (next.entries[i].status == BACKUP_ACTIVE) {
			next.entries[i].status = BACKUP_RETIRED;
			active--;
		}
	}
	/* Make room by dropping the oldest inactive entries (enough exist: active + n <= 5). */
	for (i = 0; i < next.count && next.count + n > BACKUP_HISTORY_MAX;) {
		if (next.entries[i].status != BACKUP_ACTIVE)
			backup_drop(&next, i);
		else
			i++;
	}
	if (next.count + n > BACKUP_HISTORY_MAX) {
		sodium_memzero(&next, sizeof next);
		return PA_ERR_INTERNAL;
	}

	for (i = 0; i < n; i++) {
		struct backup_entry *en = &next.entries[next.count];

		memset(code, 0, sizeof code);
		random_chars(code, BACKUP_CODE_CHARS);
		e = secretcode_hash(key, SECRETCODE_BACKUP, account_id, code, en->hash);
		if (e != PA_OK)
			goto fail;
		en->generation = next.next_generation++;
		en->status = BACKUP_ACTIVE;
		next.count++;
		out[i].generation = en->generation;
		memcpy(out[i].text, code, 4);
		out[i].text[4] = '-';
		memcpy(out[i].text + 5, code + 4, 4);
		out[i].text[9] = '-';
		memcpy(out[i].text + 10, code + 8, 4);
		out[i].text[14] = '\0';
	}
	*st = next;
	sodium_memzero(&next, sizeof next);
	sodium_memzero(code, sizeof code);
	return PA_OK;

fail:
	sodium_memzero(out, i * sizeof out[0]);
	sodium_memzero(&next, sizeof next);
	sodium_memzero(code, sizeof code);
	return e;
}

enum pa_err backup_check(const struct backup_state *st, const uint8_t hash[SECRETCODE_HASH_BYTES],
                         unsigned *index)
{
	uint32_t found = 0, at = 0, i;

	if (!backup_state_valid(st))
		return PA_ERR_INVALID_ARGUMENT;
	/* Every slot, in use or not, is compared: the time taken says nothing about a match. */
	for (i = 0; i < BACKUP_HISTORY_MAX; i++) {
		uint32_t eq = (uint32_t)(sodium_memcmp(st->entries[i].hash, hash,
		                                       SECRETCODE_HASH_BYTES) == 0);
		uint32_t m = mask_of(eq & (uint32_t)(i < st->count));

		found |= m;
		at = (at & ~m) | (i & m);
	}
	if (!found)
		return PA_ERR_INVALID_CODE;
	*index = at;
	return st->entries[at].status == BACKUP_ACTIVE ? PA_OK : PA_ERR_INACTIVE_BACKUP_CODE;
}

enum pa_err backup_code_hash(const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                             const char *text, uint8_t out[SECRETCODE_HASH_BYTES])
{
	char code[SECRETCODE_NORMAL_SIZE];
	enum pa_err e;

	e = secretcode_normalise(SECRETCODE_BACKUP, text, code);
	if (e == PA_OK)
		e = secretcode_hash(key, SECRETCODE_BACKUP, account_id, code, out);
	if (e != PA_OK) {
		sodium_memzero(out, SECRETCODE_HASH_BYTES);
		e = PA_ERR_INVALID_CODE;
	}
	sodium_memzero(code, sizeof code);
	return e;
}

enum pa_err backup_check_code(const struct backup_state *st,
                              const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                              const char *text, unsigned *index)
{
	uint8_t hash[SECRETCODE_HASH_BYTES];
	enum pa_err e;

	e = backup_code_hash(key, account_id, text, hash);
	if (e == PA_OK)
		e = backup_check(st, hash, index);
	sodium_memzero(hash, sizeof hash);
	return e;
}

enum pa_err backup_check_history(const struct backup_state *st, uint32_t generation,
                                 enum backup_status status)
{
	uint32_t oldest;

	if (!backup_state_valid(st))
		return PA_ERR_INVALID_ARGUMENT;
	oldest = st->count > 0 ? st->entries[0].generation : st->next_generation;
	if (generation == 0 || generation >= oldest)
		return PA_ERR_INVALID_ARGUMENT;
	switch (status) {
	case BACKUP_USED:
	case BACKUP_RETIRED:
		return PA_ERR_INACTIVE_BACKUP_CODE;
	case BACKUP_ACTIVE:
		break;
	}
	return PA_ERR_INVALID_ARGUMENT;
}

enum pa_err backup_accept(struct backup_state *st, unsigned index)
{
	unsigned i;

	if (!backup_state_valid(st) || index >= st->count)
		return PA_ERR_INVALID_ARGUMENT;
	if (st->entries[index].status != BACKUP_ACTIVE)
		return PA_ERR_INACTIVE_BACKUP_CODE;
	st->entries[index].status = BACKUP_USED;
	/* Entries are sorted by generation: every one before index is of a lower number. */
	for (i = 0; i < index; i++)
		if (st->entries[i].status == BACKUP_ACTIVE)
			st->entries[i].status = BACKUP_RETIRED;
	return PA_OK;
}

void backup_retire_all(struct backup_state *st)
{
	unsigned i;

	for (i = 0; i < st->count && i < BACKUP_HISTORY_MAX; i++)
		if (st->entries[i].status == BACKUP_ACTIVE)
			st->entries[i].status = BACKUP_RETIRED;
}

unsigned backup_active_count(const struct backup_state *st)
{
	uint32_t gens[BACKUP_ACTIVE_MAX];

	return backup_active_generations(st, gens);
}

unsigned backup_active_generations(const struct backup_state *st, uint32_t out[BACKUP_ACTIVE_MAX])
{
	unsigned i, n = 0;

	if (!backup_state_valid(st))
		return 0;
	for (i = 0; i < st->count; i++)
		if (st->entries[i].status == BACKUP_ACTIVE)
			out[n++] = st->entries[i].generation;
	return n;
}

/* ---- temporary passwords ------------------------------------------------------------------ */

bool tmppass_state_valid(const struct tmppass_state *st)
{
	unsigned i;
	uint32_t prev = 0;

	if (st->next_id == 0 || st->count > TMPPASS_HISTORY_MAX)
		return false;
	for (i = 0; i < st->count; i++) {
		const struct tmppass_entry *e = &st->entries[i];

		if (e->id <= prev || e->id >= st->next_id || e->created_at > e->expires_at)
			return false;
		prev = e->id;
	}
	return true;
}

static bool tmppass_outstanding(const struct tmppass_entry *e, int64_t now)
{
	return !e->used && now < e->expires_at;
}

unsigned tmppass_outstanding_count(const struct tmppass_state *st, int64_t now)
{
	unsigned i, n = 0;

	if (!tmppass_state_valid(st))
		return 0;
	for (i = 0; i < st->count; i++)
		n += tmppass_outstanding(&st->entries[i], now);
	return n;
}

enum pa_err tmppass_create(struct tmppass_state *st, const uint8_t key[SECRETCODE_KEY_BYTES],
                           uint64_t account_id, int64_t now, char out[TMPPASS_TEXT_SIZE],
                           uint32_t *id)
{
	return tmppass_create_ttl(st, key, account_id, now, TMPPASS_TTL, out, id);
}

enum pa_err tmppass_create_ttl(struct tmppass_state *st, const uint8_t key[SECRETCODE_KEY_BYTES],
                               uint64_t account_id, int64_t now, int64_t ttl,
                               char out[TMPPASS_TEXT_SIZE], uint32_t *id)
{
	char code[SECRETCODE_NORMAL_SIZE];
	uint8_t hash[SECRETCODE_HASH_BYTES];
	struct tmppass_entry *en;
	unsigned i;
	enum pa_err e;

	if (!tmppass_state_valid(st) || ttl < 1)
		return PA_ERR_INVALID_ARGUMENT;
	if (now < 0 || now > INT64_MAX - ttl || st->next_id == UINT32_MAX)
		return PA_ERR_COUNTER;
	if (tmppass_outstanding_count(st, now) >= TMPPASS_OUTSTANDING_MAX)
		return PA_ERR_TOO_MANY;

	memset(code, 0, sizeof code);
	random_chars(code, TMPPASS_CHARS);
	e = secretcode_hash(key, SECRETCODE_TMPPASS, account_id, code, hash);
	if (e != PA_OK)
		goto out; /* unreachable: code is made of the alphabet */
	if (st->count == TMPPASS_HISTORY_MAX) {
		/* At most OUTSTANDING_MAX - 1 are outstanding, so one of the others can go. */
		for (i = 0; i < st->count && tmppass_outstanding(&st->entries[i], now); i++)
			;
		if (i == st->count) {
			e = PA_ERR_INTERNAL;
			goto out;
		}
		memmove(&st->entries[i], &st->entries[i + 1],
		        (st->count - i - 1) * sizeof st->entries[0]);
		st->count--;
	}
	en = &st->entries[st->count];
	memset(en, 0, sizeof *en);
	memcpy(en->hash, hash, sizeof hash);
	en->id = st->next_id++;
	en->used = false;
	en->created_at = now;
	en->expires_at = now + ttl;
	st->count++;
	memcpy(out, code, TMPPASS_TEXT_SIZE);
	*id = en->id;
out:
	sodium_memzero(code, sizeof code);
	sodium_memzero(hash, sizeof hash);
	return e;
}

enum pa_err tmppass_check(const struct tmppass_state *st, const uint8_t hash[SECRETCODE_HASH_BYTES],
                          int64_t now, unsigned *index)
{
	uint32_t found = 0, at = 0, i;
	const struct tmppass_entry *e;

	if (!tmppass_state_valid(st))
		return PA_ERR_INVALID_ARGUMENT;
	for (i = 0; i < TMPPASS_HISTORY_MAX; i++) {
		uint32_t eq = (uint32_t)(sodium_memcmp(st->entries[i].hash, hash,
		                                       SECRETCODE_HASH_BYTES) == 0);
		uint32_t m = mask_of(eq & (uint32_t)(i < st->count));

		found |= m;
		at = (at & ~m) | (i & m);
	}
	if (!found)
		return PA_ERR_PASSWORD_MISMATCH;
	*index = at;
	e = &st->entries[at];
	if (e->used)
		return PA_ERR_ALREADY_USED;
	if (now >= e->expires_at)
		return PA_ERR_EXPIRED;
	return PA_OK;
}

enum pa_err tmppass_check_password(const struct tmppass_state *st,
                                   const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                                   const char *password, size_t password_len, int64_t now,
                                   unsigned *index)
{
	char code[SECRETCODE_NORMAL_SIZE];
	uint8_t hash[SECRETCODE_HASH_BYTES];
	enum pa_err e;

	/* A NUL inside the password is not in the alphabet, so normalise_n refuses it. */
	e = normalise_n(SECRETCODE_TMPPASS, password, password_len, code);
	if (e == PA_OK)
		e = secretcode_hash(key, SECRETCODE_TMPPASS, account_id, code, hash);
	if (e == PA_OK)
		e = tmppass_check(st, hash, now, index);
	else
		e = PA_ERR_PASSWORD_MISMATCH;
	sodium_memzero(code, sizeof code);
	sodium_memzero(hash, sizeof hash);
	return e;
}

enum pa_err tmppass_accept(struct tmppass_state *st, unsigned index, int64_t now)
{
	struct tmppass_entry *e;

	if (!tmppass_state_valid(st) || index >= st->count)
		return PA_ERR_INVALID_ARGUMENT;
	e = &st->entries[index];
	if (e->used)
		return PA_ERR_ALREADY_USED;
	if (now >= e->expires_at)
		return PA_ERR_EXPIRED;
	e->used = true;
	return PA_OK;
}

enum pa_err tmppass_public_error(enum pa_err e)
{
	switch (e) {
	case PA_ERR_ALREADY_USED:
	case PA_ERR_EXPIRED:
	case PA_ERR_PASSWORD_MISMATCH:
	case PA_ERR_INVALID_CODE:
		return PA_ERR_PASSWORD_MISMATCH;
	default:
		return e;
	}
}
