/*
 * seal.h — secrets at rest (TOTP secrets, device secrets): XChaCha20-Poly1305 under a master key
 * that has an id, so keys can rotate while old values still open.
 *
 * A sealed value, byte by byte:
 *
 *   offset  size  content
 *   0       1     version, SEAL_VERSION (1)
 *   1       4     key id, big-endian, never 0
 *   5       24    nonce, random for every sealing
 *   29      n     ciphertext of the n-byte plaintext
 *   29 + n  16    Poly1305 tag
 *
 * so it is SEAL_OVERHEAD (45) bytes longer than the plaintext.  The associated data binds it to
 * where it belongs:
 *
 *   version (1) || key id (4, big-endian) || account id (8, big-endian) || purpose (its bytes)
 *
 * where purpose is a short tag such as "totp-secret" or "device-secret".  A sealed value copied to
 * another account, another purpose or another key id therefore fails to open.
 *
 * The keyring lives in sodium_malloc memory (guard pages, locked against swapping where the
 * system allows) and is wiped when freed; seal_keyring_freeze makes it read-only once loaded, after
 * which it may be shared by threads.  The key file's text format is parsed and written here; the
 * file itself (created O_EXCL, mode 0600, opened O_NOFOLLOW) is read and written by the caller.
 *
 *   # comments and blank lines are ignored
 *   pahara-key v1 ID HEX
 *
 * one key a line: ID in decimal (1 .. 4294967295, no leading zeros), HEX the 32-byte key as 64 hex
 * digits, single spaces between the fields.  The key with the highest id is current: rotating a
 * key appends a line with a higher id (seal_keyring_add_new, seal_keyfile_format).
 * Not for: hashes that only need comparing (secretcode.h, token.h, password.h).
 */
#ifndef PAHARA_CORE_SEAL_H
#define PAHARA_CORE_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SEAL_VERSION 1
#define SEAL_KEY_BYTES 32 /* XChaCha20-Poly1305 key */
#define SEAL_KEYS_MAX 16  /* keys in one keyring */
#define SEAL_NONCE_BYTES 24
#define SEAL_TAG_BYTES 16
#define SEAL_HEADER_BYTES 29                               /* version, key id, nonce */
#define SEAL_OVERHEAD (SEAL_HEADER_BYTES + SEAL_TAG_BYTES) /* 45 */
#define SEAL_PLAIN_MAX 4096                                /* longest plaintext sealed or opened */
#define SEAL_SEALED_LEN(n) ((n) + SEAL_OVERHEAD)           /* sealed size of an n-byte plaintext */
#define SEAL_SEALED_MAX SEAL_SEALED_LEN(SEAL_PLAIN_MAX)
#define SEAL_PURPOSE_MAX 64 /* bytes of a purpose tag: printable ASCII, no spaces */
#define SEAL_CHECK_BYTES 16 /* a key's check value (seal_keyring_check) */

#define SEAL_KEYFILE_LINE_MAX 90    /* "pahara-key v1 4294967295 " + 64 hex digits + "\n" */
#define SEAL_KEYFILE_TEXT_MAX 65536 /* longest key file text parsed */
/* Room for seal_keyfile_format of a full keyring, NUL included. */
#define SEAL_KEYFILE_FORMAT_SIZE (SEAL_KEYS_MAX * SEAL_KEYFILE_LINE_MAX + 1)

/* Up to SEAL_KEYS_MAX (id, key) pairs, one current.  Opaque: it holds keys. */
struct seal_keyring;

/* ---- life cycle --------------------------------------------------------------------------- */

/* A new empty keyring in locked memory, to *out.  Errors: PA_ERR_NOMEM. */
enum pa_err seal_keyring_new(struct seal_keyring **out) PA_MUST_CHECK;

/* Wipe and free kr (NULL is fine), frozen or not. */
void seal_keyring_free(struct seal_keyring *kr);

/*
 * Make kr read-only: later changes are refused, and where the system allows, writing to its
 * memory faults.  For sharing between threads after start-up.
 */
void seal_keyring_freeze(struct seal_keyring *kr);

/* ---- keys --------------------------------------------------------------------------------- */

/*
 * Add key under id; the first key added becomes current.
 * Errors: PA_ERR_INVALID_ARGUMENT (id 0, id already present, or kr frozen), PA_ERR_TOO_MANY.
 */
enum pa_err seal_keyring_add(struct seal_keyring *kr, uint32_t id,
                             const uint8_t key[SEAL_KEY_BYTES]) PA_MUST_CHECK;

/*
 * Rotation: add a fresh random key with an id one above the highest present (1 for an empty
 * keyring), make it current and tell its id in *id.
 * Errors: PA_ERR_INVALID_ARGUMENT (kr frozen), PA_ERR_TOO_MANY, PA_ERR_COUNTER (ids exhausted).
 */
enum pa_err seal_keyring_add_new(struct seal_keyring *kr, uint32_t *id) PA_MUST_CHECK;

/* Errors: PA_ERR_SEAL_KEY_UNKNOWN, PA_ERR_INVALID_ARGUMENT (kr frozen). */
enum pa_err seal_keyring_set_current(struct seal_keyring *kr, uint32_t id) PA_MUST_CHECK;

/* The current key's id, 0 when the keyring is empty. */
uint32_t seal_keyring_current(const struct seal_keyring *kr);

/* How many keys kr holds. */
unsigned seal_keyring_count(const struct seal_keyring *kr);

/* The ids of kr's keys, by increasing id, into ids; returns how many (seal_keyring_count). */
unsigned seal_keyring_ids(const struct seal_keyring *kr, uint32_t ids[SEAL_KEYS_MAX]);

/*
 * The check value of any key of key_len bytes for a fixed text: HMAC-SHA-256 of text under the
 * key, cut to SEAL_CHECK_BYTES.  Another text gives unrelated values, so each use has its own
 * text; the value tells nothing of the key.
 */
void seal_key_check(const uint8_t *key, size_t key_len, const char *text,
                    uint8_t out[SEAL_CHECK_BYTES]);

/*
 * The check value of the key with that id (seal_key_check) for the fixed text
 * "pahara seal key check v1", cut to SEAL_CHECK_BYTES.  The same key gives the same value in
 * any keyring, another key (all but certainly) another value, and the value tells nothing of
 * the key: it may be kept beside the sealed values, so that a node can tell whether its key
 * file holds the keys they were sealed under (server/app.c) without anyone seeing a key.
 * Errors: PA_ERR_SEAL_KEY_UNKNOWN (no key with that id; out is zeroed).
 */
enum pa_err seal_keyring_check(const struct seal_keyring *kr, uint32_t id,
                               uint8_t out[SEAL_CHECK_BYTES]) PA_MUST_CHECK;

/* ---- sealing and opening ------------------------------------------------------------------ */

/*
 * Seal plain (plain_len bytes, 0 .. SEAL_PLAIN_MAX) for account_id and purpose under the current
 * key into out (out_size bytes; SEAL_SEALED_LEN(plain_len) needed); the length to *out_len.
 * Errors: PA_ERR_SEAL_KEY_UNKNOWN (empty keyring), PA_ERR_INVALID_ARGUMENT (purpose not 1 ..
 * SEAL_PURPOSE_MAX printable characters, or plain_len too large), PA_ERR_BUFFER_TOO_SMALL.
 */
enum pa_err seal_seal(const struct seal_keyring *kr, const char *purpose, uint64_t account_id,
                      const uint8_t *plain, size_t plain_len, uint8_t *out, size_t out_size,
                      size_t *out_len) PA_MUST_CHECK;

/*
 * Open sealed (sealed_len bytes) made for account_id and purpose into plain (plain_size bytes;
 * sealed_len - SEAL_OVERHEAD needed); the length to *plain_len.  The plaintext is a secret: the
 * caller wipes it after use.  On error plain is wiped.
 * Errors: PA_ERR_SEAL_FORMAT (too short or long, or an unknown version), PA_ERR_SEAL_KEY_UNKNOWN
 * (a key id the keyring lacks), PA_ERR_SEAL_OPEN (tampered, or made for another account, purpose
 * or key), PA_ERR_INVALID_ARGUMENT (purpose), PA_ERR_BUFFER_TOO_SMALL.
 */
enum pa_err seal_open(const struct seal_keyring *kr, const char *purpose, uint64_t account_id,
                      const uint8_t *sealed, size_t sealed_len, uint8_t *plain, size_t plain_size,
                      size_t *plain_len) PA_MUST_CHECK;

/* The key id a sealed value names.  Errors: PA_ERR_SEAL_FORMAT. */
enum pa_err seal_key_id(const uint8_t *sealed, size_t sealed_len, uint32_t *id) PA_MUST_CHECK;

/* Whether sealed is well-formed and under a key other than the current one (re-seal it). */
bool seal_needs_reseal(const struct seal_keyring *kr, const uint8_t *sealed, size_t sealed_len);

/*
 * Rotation: open sealed under whichever key it names and seal the plaintext again, under the
 * current key with a fresh nonce, into out (out_size >= sealed_len bytes).
 * Errors: those of seal_open and seal_seal.
 */
enum pa_err seal_reseal(const struct seal_keyring *kr, const char *purpose, uint64_t account_id,
                        const uint8_t *sealed, size_t sealed_len, uint8_t *out, size_t out_size,
                        size_t *out_len) PA_MUST_CHECK;

/* ---- the key file's text ------------------------------------------------------------------ */

/*
 * Parse a key file's text (len bytes, at most SEAL_KEYFILE_TEXT_MAX) into kr, which must be
 * empty and not frozen; the highest id becomes current.  On error kr is left empty and, when
 * err_line is not NULL, *err_line is the 1-based line at fault (0 when the fault is the file as a
 * whole: too long, or no key).
 * Errors: PA_ERR_KEY_FILE (a line that is not a comment, blank or a key line; a duplicate id;
 * more than SEAL_KEYS_MAX keys; no key at all; too long), PA_ERR_INVALID_ARGUMENT (kr).
 */
enum pa_err seal_keyfile_parse(struct seal_keyring *kr, const char *text, size_t len,
                               size_t *err_line) PA_MUST_CHECK;

/*
 * Write every key of kr as key-file lines, by increasing id, NUL-terminated, into out (out_size
 * bytes; SEAL_KEYFILE_FORMAT_SIZE always suffices); the length without the NUL to *out_len.
 * The text holds the keys: the caller wipes it once written.
 * Errors: PA_ERR_BUFFER_TOO_SMALL (out wiped).
 */
enum pa_err seal_keyfile_format(const struct seal_keyring *kr, char *out, size_t out_size,
                                size_t *out_len) PA_MUST_CHECK;

#endif
