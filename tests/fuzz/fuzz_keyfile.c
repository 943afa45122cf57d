/*
 * fuzz_keyfile.c — seal_keyfile_parse (core/seal.h) on arbitrary text, as a key file edited by
 * hand may hold.  A refused text leaves the keyring empty and names a line the text has (or 0);
 * an accepted one has its highest id current, and formats to a text that parses to the same keys
 * and formats again to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/seal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* sodium_malloc, which a keyring lives in, needs libsodium initialised */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (pa_core_init() != PA_OK)
		abort();
	return 0;
}

static size_t lines_in(const uint8_t *data, size_t size)
{
	size_t n = 1;
	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[SEAL_KEYFILE_FORMAT_SIZE], again[SEAL_KEYFILE_FORMAT_SIZE];
	struct seal_keyring *kr = NULL, *kr2 = NULL;
	uint32_t ids[SEAL_KEYS_MAX], ids2[SEAL_KEYS_MAX];
	uint8_t check[SEAL_CHECK_BYTES], check2[SEAL_CHECK_BYTES];
	size_t line = 0, len = 0, len2 = 0;

	if (seal_keyring_new(&kr) != PA_OK || seal_keyring_new(&kr2) != PA_OK)
		abort();
	enum pa_err e = seal_keyfile_parse(kr, (const char *)data, size, &line);
	if (e != PA_OK) {
		if (e != PA_ERR_KEY_FILE || seal_keyring_count(kr) != 0 ||
		    seal_keyring_current(kr) != 0 || line > lines_in(data, size))
			abort();
		goto out;
	}
	unsigned n = seal_keyring_ids(kr, ids);
	if (line != 0 || n == 0 || n > SEAL_KEYS_MAX || seal_keyring_current(kr) != ids[n - 1])
		abort();
	if (seal_keyfile_format(kr, text, sizeof text, &len) != PA_OK || len != strlen(text) ||
	    seal_keyfile_parse(kr2, text, len, &line) != PA_OK ||
	    seal_keyring_ids(kr2, ids2) != n || memcmp(ids, ids2, n * sizeof ids[0]) != 0 ||
	    seal_keyfile_format(kr2, again, sizeof again, &len2) != PA_OK || len2 != len ||
	    memcmp(text, again, len) != 0)
		abort();
	for (unsigned i = 0; i < n; i++)
		if (seal_keyring_check(kr, ids[i], check) != PA_OK ||
		    seal_keyring_check(kr2, ids[i], check2) != PA_OK ||
		    memcmp(check, check2, sizeof check) != 0)
			abort();
out:
	seal_keyring_free(kr);
	seal_keyring_free(kr2);
	return 0;
}
