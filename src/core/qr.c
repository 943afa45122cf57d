/*
 * qr.c — see qr.h.  libqrencode makes the module matrix; this file only draws it.
 *
 * The matrix encodes a secret (an otpauth:// URI carries it), so every buffer that holds the
 * matrix or a drawing of it is wiped before it is freed.  Output sizes are computed up front
 * from the symbol width, so each rendering is one allocation and every write is bounds-checked.
 */
#include <errno.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qr.h"

#define QR_QUIET 4 /* modules of light margin on each side (ISO/IEC 18004 §6.3.8) */

/* A fixed-capacity output buffer: appending past the end is an error, never an overflow. */
struct qr_buf {
	char *data; /* NUL-terminated text written so far */
	size_t len; /* bytes used, without the NUL */
	size_t cap; /* bytes allocated, NUL included */
};

#define QR_ECI_UTF8 26 /* ECI designator of UTF-8 (AIM ECI specification) */

static bool qr_is_ascii(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] >= 0x80)
			return false;
	return true;
}

static enum pa_err qr_encode(const char *text, QRcode **code_out)
{
	size_t len = strlen(text);
	QRinput *input;
	QRcode *code = NULL;
	int saved_errno;

	if (len == 0 || len > QR_TEXT_MAX)
		return PA_ERR_INVALID_ARGUMENT;
	/* Version 0: libqrencode picks the smallest symbol that holds the text. */
	input = QRinput_new2(0, QR_ECLEVEL_M);
	if (!input)
		return PA_ERR_NOMEM;
	/* Byte mode: the text goes in exactly as given, so a scanner gives back the same bytes.
	 * Without an ECI, scanners guess the charset of bytes >= 0x80 and often guess wrong
	 * (zbar reads UTF-8 as Shift-JIS); the UTF-8 designator settles it.  Pure ASCII, which
	 * every percent-encoded URI is, goes without one, for the oldest scanners. */
	errno = 0;
	if ((qr_is_ascii(text, len) || QRinput_appendECIheader(input, QR_ECI_UTF8) == 0) &&
	    QRinput_append(input, QR_MODE_8, (int)len, (const unsigned char *)text) == 0)
		code = QRcode_encodeInput(input);
	saved_errno = errno;
	/* QRinput_free cannot wipe libqrencode's copy of the text; nothing we can do about it */
	QRinput_free(input);
	if (!code)
		return saved_errno == ENOMEM ? PA_ERR_NOMEM : PA_ERR_INVALID_ARGUMENT;
	*code_out = code;
	return PA_OK;
}

static void qr_code_free(QRcode *code)
{
	sodium_memzero(code->data, (size_t)code->width * (size_t)code->width);
	QRcode_free(code);
}

/* Whether the module at (x, y) of the quiet-zone-padded grid is dark. */
static bool qr_dark(const QRcode *code, int x, int y)
{
	x -= QR_QUIET;
	y -= QR_QUIET;
	if (x < 0 || y < 0 || x >= code->width || y >= code->width)
		return false;
	/* libqrencode: bit 0 of each byte is the module colour, 1 = dark */
	return code->data[(size_t)y * (size_t)code->width + (size_t)x] & 1;
}

static enum pa_err qr_buf_init(struct qr_buf *b, size_t cap)
{
	b->data = malloc(cap);
	if (!b->data)
		return PA_ERR_NOMEM;
	b->data[0] = '\0';
	b->len = 0;
	b->cap = cap;
	return PA_OK;
}

static void qr_buf_wipe(struct qr_buf *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
}

__attribute__((format(printf, 2, 3))) static enum pa_err qr_buf_printf(struct qr_buf *b,
                                                                       const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	/* The capacity is computed from the width; running out of it is a bug in that sum. */
	if (n < 0 || (size_t)n >= b->cap - b->len)
		return PA_ERR_INTERNAL;
	b->len += (size_t)n;
	return PA_OK;
}

static enum pa_err qr_buf_put(struct qr_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n >= b->cap - b->len)
		return PA_ERR_INTERNAL;
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
	return PA_OK;
}

/* The SVG's fixed text, with the side length (grid modules) printed twice into the header. */
#define QR_SVG_HEAD                                                                                \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                             \
	"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" viewBox=\"0 0 %d %d\" "         \
	"shape-rendering=\"crispEdges\">\n"                                                        \
	"<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n"                                 \
	"<path fill=\"#000\" d=\""
#define QR_SVG_TAIL "\"/>\n</svg>\n"
/* One run of dark modules: "M%d,%dh%dv1h-%dz" with numbers of at most 3 digits. */
#define QR_SVG_RUN_MAX (1 + 3 + 1 + 3 + 1 + 3 + 2 + 2 + 3 + 1)

enum pa_err qr_svg_new(const char *text, char **svg_out)
{
	QRcode *code = NULL;
	struct qr_buf b = {0};
	enum pa_err err;
	int side, x, y;

	*svg_out = NULL;
	err = qr_encode(text, &code);
	if (err)
		return err;
	side = code->width + 2 * QR_QUIET;
	/* A row of width w has at most (w + 1) / 2 runs of dark modules. */
	err = qr_buf_init(&b,
	                  sizeof QR_SVG_HEAD + 2 * 3 + sizeof QR_SVG_TAIL +
	                      (size_t)code->width * (size_t)(code->width + 1) / 2 * QR_SVG_RUN_MAX);
	if (!err)
		err = qr_buf_printf(&b, QR_SVG_HEAD, side, side);
	/* Each horizontal run of dark modules is one closed rectangle of the single path. */
	for (y = QR_QUIET; !err && y < side - QR_QUIET; y++) {
		for (x = QR_QUIET; !err && x < side - QR_QUIET; x++) {
			int run = 0;

			while (qr_dark(code, x + run, y))
				run++;
			if (run == 0)
				continue;
			err = qr_buf_printf(&b, "M%d,%dh%dv1h-%dz", x, y, run, run);
			x += run;
		}
	}
	if (!err)
		err = qr_buf_put(&b, QR_SVG_TAIL);
	qr_code_free(code);
	if (err) {
		qr_buf_wipe(&b);
		return err;
	}
	*svg_out = b.data;
	return PA_OK;
}

enum pa_err qr_utf8_new(const char *text, bool invert, char **out)
{
	/* Indexed by (top drawn) << 1 | (bottom drawn): each text cell shows two module rows. */
	static const char *const cells[4] = {" ", "\u2584", "\u2580", "\u2588"};
	QRcode *code = NULL;
	struct qr_buf b = {0};
	enum pa_err err;
	int side, x, y;

	*out = NULL;
	err = qr_encode(text, &code);
	if (err)
		return err;
	side = code->width + 2 * QR_QUIET;
	/* side is odd, so the last line's lower half is one extra row of quiet zone. */
	err = qr_buf_init(&b, (size_t)(side + 1) / 2 * ((size_t)side * 3 + 1) + 1);
	for (y = 0; !err && y < side; y += 2) {
		for (x = 0; !err && x < side; x++) {
			/* A module is drawn as a block when it is light, or dark when inverted. */
			bool top = qr_dark(code, x, y) == invert;
			bool bottom = qr_dark(code, x, y + 1) == invert;

			err = qr_buf_put(&b, cells[top << 1 | bottom]);
		}
		if (!err)
			err = qr_buf_put(&b, "\n");
	}
	qr_code_free(code);
	if (err) {
		qr_buf_wipe(&b);
		return err;
	}
	*out = b.data;
	return PA_OK;
}
