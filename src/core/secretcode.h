/*
 * secretcode.h — backup codes and temporary passwords: making them, reading them back as people
 * type them, hashing them for storage, and the rules of their use (DESIGN §2, §3).
 *
 * Both are random strings over Crockford's base32 alphabet (0-9 a-z without i, l, o, u), 5 bits
 * a character: a backup code is 12 characters (60 bits) shown as "xxxx-xxxx-xxxx", a temporary
 * password 16 characters (80 bits) shown as one run of lower-case characters, since apps paste it
 * into a password field.  Reading input back is forgiving where people are: any case, spaces and
 * dashes ignored, Crockford's aliases o -> 0 and i, l -> 1.  Anything else, or the wrong number of
 * characters, is simply not a code.
 *
 * At rest only a keyed hash is kept: HMAC-SHA-256 under a 32-byte server key over
 *
 *   tag || 0x00 || account id (8 bytes, big-endian) || normalised characters (lower-case ASCII)
 *
 * where tag is "pahara backup code v1" or "pahara temporary password v1".  The tag and the
 * account id make a hash from one account or one purpose useless for any other.
 *
 * The rules are pure functions over small fixed-size structs that the store loads, changes and
 * saves back in one transaction.  Checking and consuming are split (backup_check, backup_accept;
 * tmppass_check, tmppass_accept) so that the store can commit the consumption before the answer
 * is sent.  A backup state holds only the newest codes of an account; the store keeps the older
 * ones, all used or retired, so that an old code is still told apart from a wrong one
 * (backup_check_history) while a state stays small.  Every check compares the presented hash
 * with every slot of the struct in constant time, with no early exit.  Time is always a
 * parameter: this module never reads a clock.
 * Not for: TOTP or SMS codes (otp.h), session tokens (token.h), account passwords (password.h).
 */
#ifndef PAHARA_CORE_SECRETCODE_H
#define PAHARA_CORE_SECRETCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ---- sizes -------------------------------------------------------------------------------- */

#define SECRETCODE_KEY_BYTES 32   /* the server's HMAC key */
#define SECRETCODE_HASH_BYTES 32  /* HMAC-SHA-256 output, what the store keeps */
#define SECRETCODE_INPUT_MAX 64   /* longest typed input looked at, in bytes; longer is no code */
#define SECRETCODE_NORMAL_SIZE 17 /* room for any normalised code plus its NUL */

#define BACKUP_CODE_CHARS 12     /* significant characters of a backup code */
#define BACKUP_CODE_BITS 60      /* 12 x 5 */
#define BACKUP_CODE_TEXT_SIZE 15 /* "xxxx-xxxx-xxxx" plus its NUL */
#define BACKUP_ACTIVE_MAX 5      /* DESIGN §3: at most five active at any time */
#define BACKUP_HISTORY_MAX 20    /* entries a state holds: the newest codes of the history */

#define TMPPASS_CHARS 16          /* significant characters of a temporary password */
#define TMPPASS_BITS 80           /* 16 x 5 */
#define TMPPASS_TEXT_SIZE 17      /* 16 characters plus the NUL */
#define TMPPASS_TTL 3600          /* seconds; DESIGN §3: valid one hour */
#define TMPPASS_OUTSTANDING_MAX 5 /* unused, unexpired ones per account */
#define TMPPASS_HISTORY_MAX 10    /* entries kept, so that used and expired ones are told apart */

enum secretcode_kind {
	SECRETCODE_BACKUP = 0, /* backup code, BACKUP_CODE_CHARS characters */
	SECRETCODE_TMPPASS,    /* temporary password, TMPPASS_CHARS characters */
};

/* ---- backup codes: types ------------------------------------------------------------------ */

/*
 * The backup codes of one account.  Invariants (backup_state_valid checks them, and every
 * function that changes a state refuses one that breaks them):
 *   - entries[0 .. count) are in use, sorted by generation, strictly increasing, each in
 *     1 .. next_generation - 1; slots from count on are ignored;
 *   - at most BACKUP_ACTIVE_MAX entries are BACKUP_ACTIVE.
 * Generation numbers are never reused, so "every code before k" is well defined forever.
 * The rules keep one more property: every active code is newer than every used or retired one
 * (new codes are active; accepting k retires all before it; making codes retires the oldest
 * active ones).  So the codes a state leaves out, older than its entries, are all inactive.
 * A zeroed struct is not valid (next_generation 0): start from BACKUP_STATE_INIT.
 */
enum backup_status {
	BACKUP_ACTIVE = 1, /* may be used to sign in */
	BACKUP_USED,       /* accepted once; never again */
	BACKUP_RETIRED,    /* made inactive by a later code's use or by newer codes */
};

struct backup_entry {
	uint32_t generation;                 /* 1, 2, 3, ... in the order generated */
	enum backup_status status;           /* active, used or retired */
	uint8_t hash[SECRETCODE_HASH_BYTES]; /* secretcode_hash of the code */
};

struct backup_state {
	uint32_t next_generation;                        /* the number the next code gets; >= 1 */
	unsigned count;                                  /* entries in use, <= BACKUP_HISTORY_MAX */
	struct backup_entry entries[BACKUP_HISTORY_MAX]; /* oldest first */
};

#define BACKUP_STATE_INIT                                                                          \
	{                                                                                          \
		.next_generation = 1, .count = 0                                                   \
	}

/* A code just made, to be shown once.  Secret: the caller wipes it after showing it. */
struct backup_new_code {
	uint32_t generation;              /* its number, for "use them in order" */
	char text[BACKUP_CODE_TEXT_SIZE]; /* "xxxx-xxxx-xxxx", lower case */
};

/* ---- temporary passwords: types ----------------------------------------------------------- */

/*
 * The temporary passwords of one account.  Invariants (tmppass_state_valid):
 *   - entries[0 .. count) are in use, sorted by id, strictly increasing, each in
 *     1 .. next_id - 1, with created_at <= expires_at; slots from count on are ignored.
 * "Outstanding" at time now means unused and now < expires_at.
 * A zeroed struct is not valid (next_id 0): start from TMPPASS_STATE_INIT.
 */
struct tmppass_entry {
	uint32_t id;        /* 1, 2, 3, ... in the order created; for listing, audit */
	bool used;          /* accepted once */
	int64_t created_at; /* unix seconds */
	int64_t expires_at; /* unix seconds; expired when now >= expires_at */
	uint8_t hash[SECRETCODE_HASH_BYTES]; /* secretcode_hash of the password */
};

struct tmppass_state {
	uint32_t next_id;                                  /* the id the next one gets; >= 1 */
	unsigned count;                                    /* entries in use */
	struct tmppass_entry entries[TMPPASS_HISTORY_MAX]; /* oldest first */
};

#define TMPPASS_STATE_INIT                                                                         \
	{                                                                                          \
		.next_id = 1, .count = 0                                                           \
	}

/* ---- reading and hashing ------------------------------------------------------------------ */

/*
 * Normalise typed text (NUL-terminated) to the kind's canonical form: its significant characters
 * in lower case, aliases resolved, no separators, NUL-terminated, into out.
 * Errors: PA_ERR_INVALID_CODE when text is not a code of this kind (a character outside the
 * alphabet other than ' ' and '-', the wrong number of characters, or longer than
 * SECRETCODE_INPUT_MAX bytes); out is wiped.  PA_ERR_INVALID_ARGUMENT for an unknown kind.
 */
enum pa_err secretcode_normalise(enum secretcode_kind kind, const char *text,
                                 char out[SECRETCODE_NORMAL_SIZE]) PA_MUST_CHECK;

/*
 * The keyed hash at rest (layout in the opening comment) of a normalised code of this kind.
 * Errors: PA_ERR_INVALID_ARGUMENT when normalised is not exactly a normalised code of the kind.
 */
enum pa_err secretcode_hash(const uint8_t key[SECRETCODE_KEY_BYTES], enum secretcode_kind kind,
                            uint64_t account_id, const char *normalised,
                            uint8_t out[SECRETCODE_HASH_BYTES]) PA_MUST_CHECK;

/* ---- backup codes: rules ------------------------------------------------------------------ */

/* Whether st keeps the invariants above (use after loading from storage). */
bool backup_state_valid(const struct backup_state *st);

/*
 * Make n (1 .. BACKUP_ACTIVE_MAX) new codes for account_id: they get the next generation
 * numbers, the oldest active codes are retired so that at most BACKUP_ACTIVE_MAX stay active,
 * and the oldest used or retired entries are dropped from st when it is full (the store keeps
 * them: see backup_check_history).  The codes are
 * written to out[0 .. n) (out has room for BACKUP_ACTIVE_MAX) for showing once; only their
 * hashes stay in st.  On error st is unchanged and out holds no code.
 * Errors: PA_ERR_INVALID_ARGUMENT (n out of range, or st not valid), PA_ERR_COUNTER (generation
 * numbers exhausted).
 */
enum pa_err backup_generate(struct backup_state *st, unsigned n,
                            const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                            struct backup_new_code out[BACKUP_ACTIVE_MAX]) PA_MUST_CHECK;

/*
 * Find hash (from secretcode_hash) among st's entries, comparing it with every slot in constant
 * time.  *index is set on PA_OK and on PA_ERR_INACTIVE_BACKUP_CODE (so the audit log can name the
 * generation); st is not changed — call backup_accept to consume.
 * Errors: PA_ERR_INACTIVE_BACKUP_CODE (a real code of this account, used or retired: "this backup
 * code is no longer active"), PA_ERR_INVALID_CODE (no entry matches), PA_ERR_INVALID_ARGUMENT
 * (st not valid: corrupt storage, to be logged).
 */
enum pa_err backup_check(const struct backup_state *st, const uint8_t hash[SECRETCODE_HASH_BYTES],
                         unsigned *index) PA_MUST_CHECK;

/*
 * Normalise and hash typed text as a backup code of account_id: what backup_check_code looks
 * for, and what to look for among the older codes a state leaves out.
 * Errors: PA_ERR_INVALID_CODE when text is not a backup code at all (out is wiped).
 */
enum pa_err backup_code_hash(const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                             const char *text, uint8_t out[SECRETCODE_HASH_BYTES]) PA_MUST_CHECK;

/*
 * Normalise, hash and check typed text in one call; as backup_check, and a text that is not a
 * backup code at all is PA_ERR_INVALID_CODE.
 */
enum pa_err backup_check_code(const struct backup_state *st,
                              const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                              const char *text, unsigned *index) PA_MUST_CHECK;

/*
 * The answer for a code that backup_check did not find in st (PA_ERR_INVALID_CODE) but that the
 * account's older history holds as number generation with status: DESIGN §3 wants an inactive
 * code told apart from a wrong one however long ago it was made, and st holds only the newest
 * BACKUP_HISTORY_MAX.  PA_ERR_INACTIVE_BACKUP_CODE when the code is older than every entry of
 * st (or than next_generation, for an empty st) and used or retired: that is the only way a
 * code leaves a state.
 * Errors: PA_ERR_INVALID_ARGUMENT for a record that cannot be (active, or not older than st's
 * entries) or st not valid: corrupt storage, to be logged.
 */
enum pa_err backup_check_history(const struct backup_state *st, uint32_t generation,
                                 enum backup_status status) PA_MUST_CHECK;

/*
 * Consume the active entry at index (from backup_check): it becomes used and every active entry
 * of a lower generation is retired (DESIGN §3: accepting number k retires all numbers < k).
 * Errors: PA_ERR_INVALID_ARGUMENT (index out of range, or st not valid),
 * PA_ERR_INACTIVE_BACKUP_CODE (the entry is no longer active: st changed since the check).
 */
enum pa_err backup_accept(struct backup_state *st, unsigned index) PA_MUST_CHECK;

/* Retire every active code (two-factor turned off, account recovered). */
void backup_retire_all(struct backup_state *st);

/* How many codes are active (0 for a state that is not valid). */
unsigned backup_active_count(const struct backup_state *st);

/*
 * Write the generation numbers of the active codes, oldest first, to out and return how many
 * there are (0 .. BACKUP_ACTIVE_MAX; 0 for a state that is not valid).
 */
unsigned backup_active_generations(const struct backup_state *st, uint32_t out[BACKUP_ACTIVE_MAX]);

/* ---- temporary passwords: rules ----------------------------------------------------------- */

/*
 * How an app learns the outcome of a temporary password: it stands in the password slot, so an
 * expired, used or wrong one must be answered exactly as a wrong password (and cost the same
 * time: verify the dummy password hash as well, see password.h).  tmppass_check and
 * tmppass_accept still return distinct values so that the audit log can say which; pass them
 * through tmppass_public_error before answering.
 */

/* Whether st keeps the invariants above (use after loading from storage). */
bool tmppass_state_valid(const struct tmppass_state *st);

/*
 * Make a temporary password for account_id at time now, valid until now + TMPPASS_TTL.  The
 * text goes to out for showing once (secret: the caller wipes it), its id to *id; only the hash
 * stays in st.  When the history is full the oldest entry that is not outstanding is dropped.
 * On error st and out are unchanged.
 * Errors: PA_ERR_TOO_MANY (TMPPASS_OUTSTANDING_MAX are outstanding), PA_ERR_COUNTER (now
 * negative or too large to add the lifetime, or ids exhausted), PA_ERR_INVALID_ARGUMENT (st not
 * valid).
 */
enum pa_err tmppass_create(struct tmppass_state *st, const uint8_t key[SECRETCODE_KEY_BYTES],
                           uint64_t account_id, int64_t now, char out[TMPPASS_TEXT_SIZE],
                           uint32_t *id) PA_MUST_CHECK;

/* As tmppass_create, valid for ttl seconds instead of TMPPASS_TTL (the server's configured
 * lifetime).  Errors also: PA_ERR_INVALID_ARGUMENT (ttl < 1). */
enum pa_err tmppass_create_ttl(struct tmppass_state *st, const uint8_t key[SECRETCODE_KEY_BYTES],
                               uint64_t account_id, int64_t now, int64_t ttl,
                               char out[TMPPASS_TEXT_SIZE], uint32_t *id) PA_MUST_CHECK;

/*
 * Find hash among st's entries at time now, comparing it with every slot in constant time.
 * *index is set whenever an entry matches (PA_OK, PA_ERR_ALREADY_USED, PA_ERR_EXPIRED); st is not
 * changed — call tmppass_accept to consume.
 * Errors: PA_ERR_ALREADY_USED (it was used), PA_ERR_EXPIRED (now >= its expires_at),
 * PA_ERR_PASSWORD_MISMATCH (no entry matches), PA_ERR_INVALID_ARGUMENT (st not valid: corrupt
 * storage, to be logged).
 */
enum pa_err tmppass_check(const struct tmppass_state *st, const uint8_t hash[SECRETCODE_HASH_BYTES],
                          int64_t now, unsigned *index) PA_MUST_CHECK;

/*
 * Normalise, hash and check typed text (a password of password_len bytes, not NUL-terminated:
 * it comes from the password field) in one call; as tmppass_check, and a text that is not a
 * temporary password at all is PA_ERR_PASSWORD_MISMATCH.
 */
enum pa_err tmppass_check_password(const struct tmppass_state *st,
                                   const uint8_t key[SECRETCODE_KEY_BYTES], uint64_t account_id,
                                   const char *password, size_t password_len, int64_t now,
                                   unsigned *index) PA_MUST_CHECK;

/*
 * Consume the entry at index (from tmppass_check) at time now: it becomes used.
 * Errors: PA_ERR_INVALID_ARGUMENT (index out of range, or st not valid), PA_ERR_ALREADY_USED,
 * PA_ERR_EXPIRED (st or the time changed since the check).
 */
enum pa_err tmppass_accept(struct tmppass_state *st, unsigned index, int64_t now) PA_MUST_CHECK;

/* How many are outstanding (unused, unexpired) at time now; 0 for a state that is not valid. */
unsigned tmppass_outstanding_count(const struct tmppass_state *st, int64_t now);

/*
 * The answer to give the client for a tmppass_check / tmppass_accept result: PA_OK stays PA_OK;
 * PA_ERR_ALREADY_USED, PA_ERR_EXPIRED, PA_ERR_PASSWORD_MISMATCH and PA_ERR_INVALID_CODE all become
 * PA_ERR_PASSWORD_MISMATCH ("invalid_credentials"); anything else is passed through.
 */
enum pa_err tmppass_public_error(enum pa_err e);

#endif
