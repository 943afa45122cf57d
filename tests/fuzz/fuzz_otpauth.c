/*
 * fuzz_otpauth.c — otpauth_parse on arbitrary NUL-terminated text.  Whatever parses must be
 * buildable, and the built URI must parse back to an equal struct; a failure must leave the
 * struct wiped and a sentence saying why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/otpauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static int same(const struct otpauth *a, const struct otpauth *b)
{
	return a->type == b->type && strcmp(a->issuer, b->issuer) == 0 &&
	       strcmp(a->account, b->account) == 0 && a->secret_len == b->secret_len &&
	       memcmp(a->secret, b->secret, a->secret_len) == 0 && a->alg == b->alg &&
	       a->digits == b->digits && a->period == b->period && a->counter == b->counter;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char uri[OTPAUTH_URI_MAX + 2], built[OTPAUTH_URI_MAX + 1];
	static struct otpauth u, back;
	char why[OTPAUTH_WHY_MAX];

	/* a longer input is cut one byte over the limit, so PA_ERR_URI_TOO_LONG is reached */
	if (size > OTPAUTH_URI_MAX + 1)
		size = OTPAUTH_URI_MAX + 1;
	memcpy(uri, data, size);
	uri[size] = '\0';

	enum pa_err e = otpauth_parse(uri, &u, why, sizeof(why));
	if (e != PA_OK) {
		if (why[0] == '\0' || strlen(why) >= sizeof(why) || !all_zero(&u, sizeof(u)))
			abort();
		return 0;
	}
	if (why[0] != '\0' || u.account[0] == '\0')
		abort();
	if (otpauth_build(&u, built, sizeof(built)) != PA_OK)
		abort();
	if (otpauth_parse(built, &back, why, sizeof(why)) != PA_OK)
		abort();
	if (!same(&u, &back))
		abort();
	/* building is deterministic: the rebuilt text is the same */
	static char again[OTPAUTH_URI_MAX + 1];
	if (otpauth_build(&back, again, sizeof(again)) != PA_OK || strcmp(built, again) != 0)
		abort();
	return 0;
}
