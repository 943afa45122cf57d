/*
 * keyfile.h — the server's key files in the data directory.
 *
 *   master.key    sealing keys (core/seal.h key-file text): TOTP secrets are sealed under them
 *   codehash.key  one line "pahara-codehash v1 HEX64": the HMAC key for backup codes and
 *                 temporary passwords (core/secretcode.h)
 *
 * Both are created on first run, mode 0600, whole (written to a new file beside, then linked
 * into place, never over an existing file: processes starting at once on a new directory all
 * use the one that got there first), and refused later if they are links, not regular files,
 * or readable by group or others.  Several nodes share the same files (copy them; never let
 * each node make its own).
 */
#ifndef PAHARA_SERVER_KEYFILE_H
#define PAHARA_SERVER_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/seal.h"
#include "core/secretcode.h"

/* Load both files in dir, creating them if absent and may_create (a new store: nothing can
 * have been sealed or hashed under keys that are lost, and no node has recorded its keys in
 * it).  *kr is frozen; free it with seal_keyring_free.  why (why_size bytes) names a
 * failure. */
enum pa_err keyfile_load(const char *dir, bool may_create, struct seal_keyring **kr,
                         uint8_t code_key[SECRETCODE_KEY_BYTES], char *why,
                         size_t why_size) PA_MUST_CHECK;

#endif
