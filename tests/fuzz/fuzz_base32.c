/*
 * fuzz_base32.c — base32_decode on arbitrary bytes.  Whatever decodes must survive a round
 * trip: encoding the bytes (padded and not) and decoding again gives the same bytes.  A failed
 * decode must wipe the output and report a position inside the input (or in_len).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base32.h"

#define FUZZ_OUT_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[FUZZ_OUT_MAX], again[FUZZ_OUT_MAX];
	static char text[BASE32_PADDED_LEN(FUZZ_OUT_MAX) + 1];
	size_t len = 0, pos = 0;

	memset(out, 0xa5, sizeof(out));
	enum pa_err e = base32_decode((const char *)data, size, out, sizeof(out), &len, &pos);
	if (e != PA_OK) {
		if (len != 0 || pos > size || !all_zero(out, sizeof(out)))
			abort();
		return 0;
	}
	if (len > sizeof(out))
		abort();
	/* one byte less room is PA_ERR_BUFFER_TOO_SMALL, with the output wiped */
	if (len > 0) {
		size_t len1 = 99;
		memset(again, 0xa5, sizeof(again));
		e = base32_decode((const char *)data, size, again, len - 1, &len1, &pos);
		if (e != PA_ERR_BUFFER_TOO_SMALL || len1 != 0 || pos != size ||
		    !all_zero(again, len - 1) || again[len - 1] != 0xa5)
			abort();
	}
	for (int pad = 0; pad <= 1; pad++) {
		size_t len2 = 0;
		if (base32_encode(out, len, pad, text, sizeof(text)) != PA_OK)
			abort();
		if (strlen(text) != (pad ? BASE32_PADDED_LEN(len) : BASE32_ENCODED_LEN(len)))
			abort();
		if (base32_decode(text, strlen(text), again, sizeof(again), &len2, NULL) != PA_OK)
			abort();
		if (len2 != len || memcmp(out, again, len) != 0)
			abort();
	}
	return 0;
}
