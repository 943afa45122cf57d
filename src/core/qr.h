/*
 * qr.h — QR codes of a text (an otpauth:// URI), rendered for the web and for a terminal.
 *
 * Encoding is libqrencode's: byte mode, error correction level M, the smallest version that
 * holds the text; a text with any byte >= 0x80 is marked UTF-8 with an ECI designator (26), so
 * scanners do not guess its charset (zbar, for one, guesses Shift-JIS).  A scanner reads back
 * exactly the bytes given.  Two renderings: an SVG document (one <path>, crisp at any size, a
 * 4-module quiet zone) for web pages, and UTF-8 half blocks (two module rows per text line) for
 * a terminal, with the quiet zone drawn light so that the code scans on dark and light
 * terminals alike.
 *
 * Every buffer this module fills with the code is wiped before it is freed, since the code of
 * an otpauth URI carries its secret; the caller should wipe the rendering it gets likewise.
 */
#ifndef PAHARA_CORE_QR_H
#define PAHARA_CORE_QR_H

#include <stdbool.h>

#include "core/err.h"

/* Longest text accepted, in bytes.  The largest QR code (version 40) at level M holds 2331
 * bytes of ASCII and 2330 with the UTF-8 designator: longer texts fail with
 * PA_ERR_INVALID_ARGUMENT even below this limit. */
#define QR_TEXT_MAX 4096

/*
 * Render text as an SVG document into a newly allocated NUL-terminated string *svg_out
 * (the caller frees it with free()).  The SVG has a viewBox and no width or height: size it
 * where it is shown.  The light background is a <rect> under the path, so the code scans on
 * any page colour.  Errors: PA_ERR_INVALID_ARGUMENT (empty, or too long for a QR code),
 * PA_ERR_NOMEM.  *svg_out is NULL on error.
 */
enum pa_err qr_svg_new(const char *text, char **svg_out) PA_MUST_CHECK;

/*
 * Render text as lines of UTF-8 half blocks ("█", "▀", "▄", " "), each line ending in '\n'.
 * By default light modules (and the quiet zone) are drawn as blocks, which is right for the
 * usual light-on-dark terminal; invert = true draws dark modules as blocks instead, for
 * dark-on-light terminals.  Same ownership and errors as qr_svg_new.
 */
enum pa_err qr_utf8_new(const char *text, bool invert, char **out) PA_MUST_CHECK;

#endif
