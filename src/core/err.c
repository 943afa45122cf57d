/*
 * err.c — codes and messages for enum pa_err.  The codes are part of the API contract: once
 * published, a code string never changes meaning.
 */
#include "core/err.h"

struct err_entry {
	const char *code;    /* stable machine-readable code */
	const char *message; /* default English message */
};

static const struct err_entry err_table[PA_ERR__COUNT] = {
    [PA_OK] = {"ok", "Success."},
    [PA_ERR_INTERNAL] = {"internal", "Something went wrong inside Pahara."},
    [PA_ERR_NOMEM] = {"out_of_memory", "Out of memory."},
    [PA_ERR_RANDOM] = {"random_failed", "The system random source failed."},
    [PA_ERR_INVALID_ARGUMENT] = {"invalid_argument", "An argument is out of range."},
    [PA_ERR_BUFFER_TOO_SMALL] = {"buffer_too_small", "The output does not fit."},
    [PA_ERR_BASE32_CHAR] = {"base32_character",
                            "The secret has a character outside the base32 alphabet (A-Z, 2-7)."},
    [PA_ERR_BASE32_LENGTH] = {"base32_length", "The secret has a length no base32 text can have."},
    [PA_ERR_BASE32_PADDING] = {"base32_padding", "The secret's '=' padding is malformed."},
    [PA_ERR_BASE32_TRAILING_BITS] = {"base32_trailing_bits",
                                     "The secret's last character has bits that are not zero."},
    [PA_ERR_SECRET_TOO_SHORT] = {"secret_too_short", "The secret is too short."},
    [PA_ERR_SECRET_TOO_LONG] = {"secret_too_long", "The secret is too long."},
    [PA_ERR_URI_SCHEME] = {"uri_scheme", "The URI does not start with otpauth://."},
    [PA_ERR_URI_TYPE] = {"uri_type", "The URI's type must be totp or hotp."},
    [PA_ERR_URI_LABEL] = {"uri_label", "The URI's label is missing or malformed."},
    [PA_ERR_URI_PARAM] = {"uri_parameter",
                          "The URI has an unknown, repeated or malformed parameter."},
    [PA_ERR_URI_ENCODING] = {"uri_encoding", "The URI has bad percent-encoding or invalid UTF-8."},
    [PA_ERR_URI_MISSING_SECRET] = {"uri_missing_secret", "The URI has no secret parameter."},
    [PA_ERR_URI_TOO_LONG] = {"uri_too_long", "The URI is too long."},
    [PA_ERR_ALGORITHM] = {"unsupported_algorithm", "The algorithm must be SHA1, SHA256 or SHA512."},
    [PA_ERR_DIGITS] = {"unsupported_digits", "The number of digits must be 6, 7 or 8."},
    [PA_ERR_PERIOD] = {"unsupported_period", "The period must be between 1 and 3600 seconds."},
    [PA_ERR_COUNTER] = {"invalid_counter", "The counter or time is out of range."},
    [PA_ERR_INVALID_CODE] = {"invalid_code", "The code is not valid."},
    [PA_ERR_REPLAYED_CODE] = {"invalid_code", "The code is not valid."},
    [PA_ERR_INACTIVE_BACKUP_CODE] = {"inactive_backup_code",
                                     "This backup code is no longer active. Generate a new one."},
    [PA_ERR_EXPIRED] = {"expired", "It has expired."},
    [PA_ERR_TOO_MANY] = {"too_many", "The limit has been reached."},
    [PA_ERR_RATE_LIMITED] = {"rate_limited", "Too many attempts. Try again later."},
    [PA_ERR_SEAL_OPEN] = {"seal_open_failed", "A sealed secret failed to open."},
    [PA_ERR_SEAL_KEY_UNKNOWN] = {"seal_key_unknown", "A sealed secret names an unknown key."},
    [PA_ERR_SEAL_FORMAT] = {"seal_format", "A sealed secret is malformed."},
    [PA_ERR_PASSWORD_HASH] = {"password_hash", "A stored password hash is malformed."},
    [PA_ERR_PASSWORD_MISMATCH] = {"invalid_credentials", "The username or password is wrong."},
    [PA_ERR_PASSWORD_POLICY] = {"password_policy", "The password must be 8 to 1024 bytes long."},
    [PA_ERR_STORE] = {"unavailable", "The service is unavailable. Try again shortly."},
    [PA_ERR_NOT_FOUND] = {"not_found", "Not found."},
    [PA_ERR_CONFLICT] = {"conflict", "It exists already."},
    [PA_ERR_STATE] = {"invalid_state", "This cannot be done now."},
    [PA_ERR_BAD_JSON] = {"invalid_json", "The body is not a valid JSON object."},
    [PA_ERR_MEDIA_TYPE] = {"unsupported_media_type", "The body must be application/json."},
    [PA_ERR_BODY_TOO_LARGE] = {"payload_too_large", "The body is too large."},
    [PA_ERR_FIELD_UNKNOWN] = {"unknown_field", "The body has a field this endpoint does not take."},
    [PA_ERR_FIELD_MISSING] = {"missing_field", "A required field is missing."},
    [PA_ERR_FIELD_INVALID] = {"invalid_field", "A field has a value of the wrong type or size."},
    [PA_ERR_ROUTE] = {"not_found", "No such endpoint."},
    [PA_ERR_METHOD] = {"method_not_allowed", "The endpoint does not take this method."},
    [PA_ERR_UNAUTHENTICATED] = {"unauthenticated", "Sign in first."},
    [PA_ERR_FORBIDDEN] = {"forbidden", "This is not allowed."},
    [PA_ERR_REAUTH_REQUIRED] = {"reauthentication_required",
                                "Enter your password again to make this change."},
    [PA_ERR_INVALID_CREDENTIALS] = {"invalid_credentials", "The username or password is wrong."},
    [PA_ERR_ACCOUNT_DISABLED] = {"account_disabled", "This account is disabled."},
    [PA_ERR_LOGIN_ENDED] = {"login_ended", "This sign-in has ended. Start again."},
    [PA_ERR_METHOD_UNAVAILABLE] = {"method_unavailable",
                                   "This method is not set up for the account."},
    [PA_ERR_THIRD_PARTY_BACKUP] = {"backup_code_not_allowed",
                                   "Backup codes work only on the web and in the Pahara app. "
                                   "Use a temporary password for other apps."},
    [PA_ERR_ALREADY_USED] = {"already_used", "It has already been used."},
    [PA_ERR_KEY_FILE] = {"key_file", "The key file is malformed."},
    [PA_ERR_RATELIMIT_FORMAT] = {"ratelimit_format", "A stored rate-limit state is malformed."},
};

const char *pa_err_code(enum pa_err e)
{
	if ((unsigned)e >= PA_ERR__COUNT || !err_table[e].code)
		return "internal";
	return err_table[e].code;
}

const char *pa_err_message(enum pa_err e)
{
	if ((unsigned)e >= PA_ERR__COUNT || !err_table[e].message)
		return "Something went wrong inside Pahara.";
	return err_table[e].message;
}
