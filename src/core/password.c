/* password.c — see password.h. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/password.h"

#ifdef PAHARA_TESTING
#include <stdatomic.h>
static atomic_ulong argon2id_runs;
#define COUNT_RUN() atomic_fetch_add(&argon2id_runs, 1)
unsigned long password_argon2id_runs(void)
{
	return atomic_load(&argon2id_runs);
}
#else
#define COUNT_RUN() ((void)0)
#endif

_Static_assert(PASSWORD_HASH_SIZE == crypto_pwhash_STRBYTES, "hash string size");
_Static_assert(PASSWORD_OPSLIMIT_MIN >= crypto_pwhash_argon2id_OPSLIMIT_MIN, "opslimit floor");
_Static_assert(PASSWORD_MEMLIMIT_MIN >= crypto_pwhash_argon2id_MEMLIMIT_MIN, "memlimit floor");
_Static_assert(PASSWORD_MAX_BYTES <= crypto_pwhash_argon2id_PASSWD_MAX, "password ceiling");

enum pa_err password_params_check(const struct password_params *p)
{
	if (p->opslimit < PASSWORD_OPSLIMIT_MIN || p->opslimit > PASSWORD_OPSLIMIT_MAX ||
	    p->memlimit < PASSWORD_MEMLIMIT_MIN || p->memlimit > PASSWORD_MEMLIMIT_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	return PA_OK;
}

enum pa_err password_policy_check(const char *password, size_t len)
{
	(void)password; /* only the length is policy; kept for a future character rule */
	if (len < PASSWORD_MIN_BYTES || len > PASSWORD_MAX_BYTES)
		return PA_ERR_PASSWORD_POLICY;
	return PA_OK;
}

/* Hash without the policy check: the dummy's random password is binary. */
static enum pa_err hash_any(const struct password_params *p, const char *password, size_t len,
                            char out[PASSWORD_HASH_SIZE])
{
	enum pa_err e = password_params_check(p);

	if (e != PA_OK) {
		sodium_memzero(out, PASSWORD_HASH_SIZE);
		return e;
	}
	COUNT_RUN();
	if (crypto_pwhash_str_alg(out, password, len, p->opslimit, p->memlimit,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
		/* the only failure left once lengths and limits are in range is the allocation */
		sodium_memzero(out, PASSWORD_HASH_SIZE);
		return PA_ERR_NOMEM;
	}
	return PA_OK;
}

enum pa_err password_hash(const struct password_params *p, const char *password, size_t len,
                          char out[PASSWORD_HASH_SIZE])
{
	enum pa_err e = password_policy_check(password, len);

	if (e != PA_OK) {
		sodium_memzero(out, PASSWORD_HASH_SIZE);
		return e;
	}
	return hash_any(p, password, len, out);
}

/* The m= (KiB) and t= of an Argon2 hash string, "$argon2id$v=19$m=19456,t=2,p=1$...", as
 * libsodium writes them; false when they are not there. */
static bool hash_costs(const char *hash, unsigned long long *m_kib, unsigned long long *t)
{
	const char *p = strstr(hash, "$m=");
	if (!p)
		return false;
	char *end;
	*m_kib = strtoull(p + 3, &end, 10);
	if (end == p + 3 || strncmp(end, ",t=", 3) != 0)
		return false;
	p = end + 3;
	*t = strtoull(p, &end, 10);
	return end != p && *end == ',';
}

bool password_hash_usable(const char *hash)
{
	if (strnlen(hash, PASSWORD_HASH_SIZE) >= PASSWORD_HASH_SIZE)
		return false;
	/* needs_rehash decodes the whole string, answering -1 when it cannot (any params do) */
	if (crypto_pwhash_str_needs_rehash(hash, PASSWORD_OPSLIMIT_DEFAULT,
	                                   PASSWORD_MEMLIMIT_DEFAULT) < 0)
		return false;
	/* libsodium would verify against any costs the string names: one written elsewhere (an
	 * import) with t=4294967295 would hold a thread for hours at each sign-in. */
	unsigned long long m_kib, t;
	return hash_costs(hash, &m_kib, &t) && t <= PASSWORD_OPSLIMIT_MAX &&
	       m_kib <= PASSWORD_MEMLIMIT_MAX / 1024;
}

enum pa_err password_verify(const char *hash, const char *password, size_t len)
{
	if (!password_hash_usable(hash))
		return PA_ERR_PASSWORD_HASH;
	/* No password this long was ever accepted by the policy; spare the hashing of megabytes. */
	if (len > PASSWORD_MAX_BYTES)
		return PA_ERR_PASSWORD_MISMATCH;
	COUNT_RUN();
	if (crypto_pwhash_str_verify(hash, password, len) != 0)
		return PA_ERR_PASSWORD_MISMATCH;
	return PA_OK;
}

bool password_needs_rehash(const char *hash, const struct password_params *p)
{
	static const char id_prefix[] = crypto_pwhash_argon2id_STRPREFIX;

	if (strnlen(hash, PASSWORD_HASH_SIZE) >= PASSWORD_HASH_SIZE)
		return true;
	/* libsodium compares only the parameters: an Argon2i hash with ours would be kept */
	if (strncmp(hash, id_prefix, sizeof id_prefix - 1) != 0)
		return true;
	return crypto_pwhash_str_needs_rehash(hash, p->opslimit, p->memlimit) != 0;
}

enum pa_err password_dummy_init(struct password_dummy *d, const struct password_params *p)
{
	uint8_t pw[32];
	enum pa_err e;

	randombytes_buf(pw, sizeof pw);
	e = hash_any(p, (const char *)pw, sizeof pw, d->hash);
	sodium_memzero(pw, sizeof pw);
	return e;
}

enum pa_err password_verify_dummy(const struct password_dummy *d, const char *password, size_t len)
{
	/* Same path as password_verify, including its shortcut, so both cost the same. */
	enum pa_err e = password_verify(d->hash, password, len);

	(void)e; /* a match is impossible (32 random bytes), and would still be a mismatch here */
	return PA_ERR_PASSWORD_MISMATCH;
}
