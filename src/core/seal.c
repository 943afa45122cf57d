/* seal.c — see seal.h. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "core/seal.h"

_Static_assert(SEAL_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(SEAL_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(SEAL_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(SEAL_HEADER_BYTES == 1 + 4 + SEAL_NONCE_BYTES, "header layout");
_Static_assert(SEAL_CHECK_BYTES <= crypto_auth_hmacsha256_BYTES, "check value size");

#define KEYFILE_PREFIX "pahara-key v1 "
#define CHECK_TEXT "pahara seal key check v1"
#define AD_MAX (1 + 4 + 8 + SEAL_PURPOSE_MAX)

struct seal_key {
	uint32_t id;                 /* never 0 */
	uint8_t key[SEAL_KEY_BYTES]; /* the secret */
};

/*
 * Invariants: keys[0 .. count) hold distinct non-zero ids in the order added; current is 0 when
 * count is 0 and otherwise one of those ids.  Once frozen, nothing changes.
 */
struct seal_keyring {
	unsigned count;                      /* keys in use */
	uint32_t current;                    /* id that seals; 0 = none */
	bool frozen;                         /* read-only from now on */
	struct seal_key keys[SEAL_KEYS_MAX]; /* in the order added */
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- life cycle --------------------------------------------------------------------------- */

enum pa_err seal_keyring_new(struct seal_keyring **out)
{
	struct seal_keyring *kr = sodium_malloc(sizeof *kr);

	*out = NULL;
	if (kr == NULL)
		return PA_ERR_NOMEM;
	/* sodium_malloc fills with a canary pattern, not zeros */
	memset(kr, 0, sizeof *kr);
	*out = kr;
	return PA_OK;
}

void seal_keyring_free(struct seal_keyring *kr)
{
	/* sodium_free makes the pages writable again, wipes them and unlocks them */
	if (kr != NULL)
		sodium_free(kr);
}

void seal_keyring_freeze(struct seal_keyring *kr)
{
	kr->frozen = true;
	/* best effort: where mprotect is unavailable the flag alone still refuses changes */
	(void)sodium_mprotect_readonly(kr);
}

/* ---- keys --------------------------------------------------------------------------------- */

static const struct seal_key *find_key(const struct seal_keyring *kr, uint32_t id)
{
	unsigned i;

	if (id == 0)
		return NULL;
	for (i = 0; i < kr->count; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

enum pa_err seal_keyring_add(struct seal_keyring *kr, uint32_t id,
                             const uint8_t key[SEAL_KEY_BYTES])
{
	struct seal_key *k;

	if (kr->frozen || id == 0 || find_key(kr, id) != NULL)
		return PA_ERR_INVALID_ARGUMENT;
	if (kr->count == SEAL_KEYS_MAX)
		return PA_ERR_TOO_MANY;
	k = &kr->keys[kr->count++];
	k->id = id;
	memcpy(k->key, key, SEAL_KEY_BYTES);
	if (kr->current == 0)
		kr->current = id;
	return PA_OK;
}

static uint32_t highest_id(const struct seal_keyring *kr)
{
	uint32_t max = 0;
	unsigned i;

	for (i = 0; i < kr->count; i++)
		if (kr->keys[i].id > max)
			max = kr->keys[i].id;
	return max;
}

enum pa_err seal_keyring_add_new(struct seal_keyring *kr, uint32_t *id)
{
	uint32_t next;
	struct seal_key *k;

	if (kr->frozen)
		return PA_ERR_INVALID_ARGUMENT;
	if (kr->count == SEAL_KEYS_MAX)
		return PA_ERR_TOO_MANY;
	next = highest_id(kr);
	if (next == UINT32_MAX)
		return PA_ERR_COUNTER;
	next++;
	/* generate in place: the key never sits in unlocked memory */
	k = &kr->keys[kr->count++];
	k->id = next;
	crypto_aead_xchacha20poly1305_ietf_keygen(k->key);
	kr->current = next;
	*id = next;
	return PA_OK;
}

enum pa_err seal_keyring_set_current(struct seal_keyring *kr, uint32_t id)
{
	if (kr->frozen)
		return PA_ERR_INVALID_ARGUMENT;
	if (find_key(kr, id) == NULL)
		return PA_ERR_SEAL_KEY_UNKNOWN;
	kr->current = id;
	return PA_OK;
}

uint32_t seal_keyring_current(const struct seal_keyring *kr)
{
	return kr->current;
}

unsigned seal_keyring_count(const struct seal_keyring *kr)
{
	return kr->count;
}

unsigned seal_keyring_ids(const struct seal_keyring *kr, uint32_t ids[SEAL_KEYS_MAX])
{
	uint32_t last = 0;
	unsigned done, i;

	/* by increasing id: pick the smallest id above the last one, count times */
	for (done = 0; done < kr->count; done++) {
		uint32_t next = 0;

		for (i = 0; i < kr->count; i++)
			if (kr->keys[i].id > last && (next == 0 || kr->keys[i].id < next))
				next = kr->keys[i].id;
		ids[done] = next;
		last = next;
	}
	return kr->count;
}

void seal_key_check(const uint8_t *key, size_t key_len, const char *text,
                    uint8_t out[SEAL_CHECK_BYTES])
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)text, strlen(text));
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, mac, SEAL_CHECK_BYTES);
	/* the state holds the key's inner and outer pads, hashed */
	sodium_memzero(&st, sizeof st);
	sodium_memzero(mac, sizeof mac);
}

enum pa_err seal_keyring_check(const struct seal_keyring *kr, uint32_t id,
                               uint8_t out[SEAL_CHECK_BYTES])
{
	const struct seal_key *k = find_key(kr, id);

	memset(out, 0, SEAL_CHECK_BYTES);
	if (k == NULL)
		return PA_ERR_SEAL_KEY_UNKNOWN;
	seal_key_check(k->key, SEAL_KEY_BYTES, CHECK_TEXT, out);
	return PA_OK;
}

/* ---- sealing and opening ------------------------------------------------------------------ */

/* Purpose tags are short printable ASCII without spaces; returns the length or 0 if not one. */
static size_t purpose_len(const char *purpose)
{
	size_t n = strnlen(purpose, SEAL_PURPOSE_MAX + 1), i;

	if (n == 0 || n > SEAL_PURPOSE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (purpose[i] <= ' ' || purpose[i] > '~')
			return 0;
	return n;
}

/* The associated data for a value whose first five bytes (version, key id) are header. */
static size_t make_ad(uint8_t ad[AD_MAX], const uint8_t *header, uint64_t account_id,
                      const char *purpose, size_t plen)
{
	int i;

	memcpy(ad, header, 5);
	for (i = 0; i < 8; i++)
		ad[5 + i] = (uint8_t)(account_id >> (56 - 8 * i));
	memcpy(ad + 13, purpose, plen);
	return 13 + plen;
}

/* Seal under a given key; the caller has checked everything. */
static void seal_with(const struct seal_key *k, const char *purpose, size_t plen,
                      uint64_t account_id, const uint8_t *plain, size_t plain_len, uint8_t *out)
{
	uint8_t ad[AD_MAX];
	size_t ad_len;
	unsigned long long clen;

	out[0] = SEAL_VERSION;
	put_be32(out + 1, k->id);
	randombytes_buf(out + 5, SEAL_NONCE_BYTES);
	ad_len = make_ad(ad, out, account_id, purpose, plen);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + SEAL_HEADER_BYTES, &clen, plain, plain_len,
	                                           ad, ad_len, NULL, out + 5, k->key);
}

enum pa_err seal_seal(const struct seal_keyring *kr, const char *purpose, uint64_t account_id,
                      const uint8_t *plain, size_t plain_len, uint8_t *out, size_t out_size,
                      size_t *out_len)
{
	const struct seal_key *k = find_key(kr, kr->current);
	size_t plen = purpose_len(purpose);

	if (plen == 0 || plain_len > SEAL_PLAIN_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	if (k == NULL)
		return PA_ERR_SEAL_KEY_UNKNOWN;
	if (out_size < SEAL_SEALED_LEN(plain_len))
		return PA_ERR_BUFFER_TOO_SMALL;
	seal_with(k, purpose, plen, account_id, plain, plain_len, out);
	*out_len = SEAL_SEALED_LEN(plain_len);
	return PA_OK;
}

enum pa_err seal_key_id(const uint8_t *sealed, size_t sealed_len, uint32_t *id)
{
	if (sealed_len < SEAL_OVERHEAD || sealed_len > SEAL_SEALED_MAX ||
	    sealed[0] != SEAL_VERSION || get_be32(sealed + 1) == 0)
		return PA_ERR_SEAL_FORMAT;
	*id = get_be32(sealed + 1);
	return PA_OK;
}

enum pa_err seal_open(const struct seal_keyring *kr, const char *purpose, uint64_t account_id,
                      const uint8_t *sealed, size_t sealed_len, uint8_t *plain, size_t plain_size,
                      size_t *plain_len)
{
	const struct seal_key *k;
	size_t plen = purpose_len(purpose), ad_len, n;
	uint8_t ad[AD_MAX];
	uint32_t id;
	unsigned long long mlen;
	enum pa_err e;

	if (plen == 0)
		return PA_ERR_INVALID_ARGUMENT;
	e = seal_key_id(sealed, sealed_len, &id);
	if (e != PA_OK)
		return e;
	k = find_key(kr, id);
	if (k == NULL)
		return PA_ERR_SEAL_KEY_UNKNOWN;
	n = sealed_len - SEAL_OVERHEAD;
	if (plain_size < n) {
		sodium_memzero(plain, plain_size);
		return PA_ERR_BUFFER_TOO_SMALL;
	}
	ad_len = make_ad(ad, sealed, account_id, purpose, plen);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        plain, &mlen, NULL, sealed + SEAL_HEADER_BYTES, sealed_len - SEAL_HEADER_BYTES, ad,
	        ad_len, sealed + 5, k->key) != 0) {
		sodium_memzero(plain, plain_size);
		return PA_ERR_SEAL_OPEN;
	}
	*plain_len = (size_t)mlen;
	return PA_OK;
}

bool seal_needs_reseal(const struct seal_keyring *kr, const uint8_t *sealed, size_t sealed_len)
{
	uint32_t id;

	return seal_key_id(sealed, sealed_len, &id) == PA_OK && id != kr->current;
}

enum pa_err seal_reseal(const struct seal_keyring *kr, const char *purpose, uint64_t account_id,
                        const uint8_t *sealed, size_t sealed_len, uint8_t *out, size_t out_size,
                        size_t *out_len)
{
	uint8_t plain[SEAL_PLAIN_MAX];
	size_t n = 0;
	enum pa_err e;

	e = seal_open(kr, purpose, account_id, sealed, sealed_len, plain, sizeof plain, &n);
	if (e == PA_OK)
		e = seal_seal(kr, purpose, account_id, plain, n, out, out_size, out_len);
	sodium_memzero(plain, sizeof plain);
	return e;
}

/* ---- the key file's text ------------------------------------------------------------------ */

/* Parse a decimal id 1 .. UINT32_MAX of exactly len digits, no leading zero. */
static bool parse_id(const char *s, size_t len, uint32_t *id)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10 || s[0] == '0')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

/* Parse one key line (without its newline) into id and key. */
static bool parse_key_line(const char *line, size_t len, uint32_t *id, uint8_t key[SEAL_KEY_BYTES])
{
	const size_t pre = sizeof KEYFILE_PREFIX - 1;
	const char *sp;
	size_t id_len, bin_len = 0;

	if (len < pre || memcmp(line, KEYFILE_PREFIX, pre) != 0)
		return false;
	line += pre;
	len -= pre;
	sp = memchr(line, ' ', len);
	if (sp == NULL)
		return false;
	id_len = (size_t)(sp - line);
	if (!parse_id(line, id_len, id))
		return false;
	line += id_len + 1;
	len -= id_len + 1;
	/* exactly 64 hex digits and nothing after; sodium_hex2bin runs in constant time */
	if (len != 2 * SEAL_KEY_BYTES ||
	    sodium_hex2bin(key, SEAL_KEY_BYTES, line, len, NULL, &bin_len, NULL) != 0 ||
	    bin_len != SEAL_KEY_BYTES)
		return false;
	return true;
}

static void keyring_clear(struct seal_keyring *kr)
{
	sodium_memzero(kr->keys, sizeof kr->keys);
	kr->count = 0;
	kr->current = 0;
}

enum pa_err seal_keyfile_parse(struct seal_keyring *kr, const char *text, size_t len,
                               size_t *err_line)
{
	uint8_t key[SEAL_KEY_BYTES];
	size_t pos = 0, line_no = 0;
	enum pa_err e = PA_OK;

	if (err_line != NULL)
		*err_line = 0;
	if (kr->frozen || kr->count != 0)
		return PA_ERR_INVALID_ARGUMENT;
	if (len > SEAL_KEYFILE_TEXT_MAX)
		return PA_ERR_KEY_FILE;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
		uint32_t id;

		line_no++;
		pos += n + (nl != NULL);
		if (n == 0 || line[0] == '#')
			continue;
		if (!parse_key_line(line, n, &id, key)) {
			e = PA_ERR_KEY_FILE;
			break;
		}
		e = seal_keyring_add(kr, id, key);
		if (e != PA_OK) {
			e = PA_ERR_KEY_FILE; /* a duplicate id, or too many keys */
			break;
		}
	}
	sodium_memzero(key, sizeof key);
	if (e == PA_OK && kr->count == 0) {
		line_no = 0;
		e = PA_ERR_KEY_FILE;
	}
	if (e != PA_OK) {
		keyring_clear(kr);
		if (err_line != NULL)
			*err_line = line_no;
		return e;
	}
	kr->current = highest_id(kr);
	return PA_OK;
}

enum pa_err seal_keyfile_format(const struct seal_keyring *kr, char *out, size_t out_size,
                                size_t *out_len)
{
	size_t used = 0;
	uint32_t last = 0;
	unsigned done;

	if (out_size == 0)
		return PA_ERR_BUFFER_TOO_SMALL;
	out[0] = '\0';
	/* by increasing id: pick the smallest id above the last one written, count times */
	for (done = 0; done < kr->count; done++) {
		const struct seal_key *k = NULL;
		char hex[2 * SEAL_KEY_BYTES + 1];
		unsigned i;
		int w;

		for (i = 0; i < kr->count; i++)
			if (kr->keys[i].id > last && (k == NULL || kr->keys[i].id < k->id))
				k = &kr->keys[i];
		sodium_bin2hex(hex, sizeof hex, k->key, SEAL_KEY_BYTES);
		w = snprintf(out + used, out_size - used, KEYFILE_PREFIX "%lu %s\n",
		             (unsigned long)k->id, hex);
		sodium_memzero(hex, sizeof hex);
		if (w < 0 || (size_t)w >= out_size - used) {
			sodium_memzero(out, out_size);
			return PA_ERR_BUFFER_TOO_SMALL;
		}
		used += (size_t)w;
		last = k->id;
	}
	*out_len = used;
	return PA_OK;
}
