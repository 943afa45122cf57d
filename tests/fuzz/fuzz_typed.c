/*
 * fuzz_typed.c — what people type, on arbitrary bytes: backup codes and temporary passwords
 * (secretcode_normalise, tmppass_check_password), TOTP codes (otp_parse_code) and text repaired
 * for logs and JSON (utf8_repair).  A normalised code is exactly its kind's number of alphabet
 * characters and normalises to itself; a refused one leaves the output wiped; a temporary
 * password typed with a NUL in it never matches; a parsed TOTP code formats back to its digits;
 * repaired text is always UTF-8.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/otp.h"
#include "core/secretcode.h"
#include "core/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TEXT_MAX 4096

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

static void typed_code(enum secretcode_kind kind, size_t chars, const char *text,
                       const uint8_t *raw, size_t size)
{
	static const uint8_t key[SECRETCODE_KEY_BYTES] = {1, 2, 3};
	char out[SECRETCODE_NORMAL_SIZE], again[SECRETCODE_NORMAL_SIZE];
	enum pa_err e = secretcode_normalise(kind, text, out);

	if (e != PA_OK) {
		for (size_t i = 0; i < sizeof out; i++)
			if (out[i] != 0 || e != PA_ERR_INVALID_CODE)
				abort();
	} else {
		if (strlen(out) != chars || strspn(out, alphabet) != chars ||
		    secretcode_normalise(kind, out, again) != PA_OK || strcmp(out, again) != 0)
			abort();
	}
	if (kind != SECRETCODE_TMPPASS)
		return;
	/* The password field is bytes with a length: it matches exactly when it has no NUL and
	 * normalises to the stored password. */
	struct tmppass_state st = TMPPASS_STATE_INIT;
	unsigned index;
	st.next_id = 2;
	st.count = 1;
	st.entries[0] = (struct tmppass_entry){.id = 1, .created_at = 0, .expires_at = 10};
	if (e == PA_OK &&
	    secretcode_hash(key, SECRETCODE_TMPPASS, 7, out, st.entries[0].hash) != PA_OK)
		abort();
	bool match = e == PA_OK && memchr(raw, 0, size) == NULL;
	e = tmppass_check_password(&st, key, 7, (const char *)raw, size, 5, &index);
	if ((e == PA_OK) != match || (e != PA_OK && e != PA_ERR_PASSWORD_MISMATCH))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_TEXT_MAX + 1], out[FUZZ_TEXT_MAX + 1];

	if (size > FUZZ_TEXT_MAX)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	typed_code(SECRETCODE_BACKUP, BACKUP_CODE_CHARS, text, data, size);
	typed_code(SECRETCODE_TMPPASS, TMPPASS_CHARS, text, data, size);

	for (unsigned digits = OTP_DIGITS_MIN; digits <= OTP_DIGITS_MAX; digits++) {
		uint32_t v = 0;
		char code[OTP_CODE_MAX], bare[FUZZ_TEXT_MAX + 1];
		size_t n = 0;
		if (otp_parse_code(text, digits, &v) != PA_OK)
			continue;
		for (const char *p = text; *p; p++)
			if (*p != ' ')
				bare[n++] = *p;
		bare[n] = '\0';
		otp_format(v, digits, code);
		if (strcmp(code, bare) != 0)
			abort();
	}

	for (unsigned flags = 0; flags <= UTF8_NO_CONTROLS; flags++) {
		size_t room = 1 + (size ? data[0] % (size + 1) : 0);
		size_t w = utf8_repair(out, room, (const char *)data, size, flags);
		if (w >= room || out[w] != '\0' || !utf8_valid(out, w))
			abort();
		for (size_t i = 0; flags && i < w; i++)
			if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
				abort();
	}
	return 0;
}
