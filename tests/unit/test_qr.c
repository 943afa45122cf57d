/*
 * test_qr.c — the shapes of the two QR renderings: sizes, quiet zone, finder patterns, and
 * that the SVG and the terminal drawing show the same modules.  Whether the codes scan back to
 * their text is tested end to end with zbarimg in tests/cli/test_qr.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"
#include "core/qr.h"

#define QUIET 4
#define GRID_MAX (177 + 2 * QUIET) /* version 40 plus the quiet zone */
#define LEVEL_M_BYTES_MAX 2331     /* byte-mode capacity of version 40 at level M */

/* A decoded rendering: dark[y][x] for the padded grid of side modules. */
struct grid {
	int side;
	bool dark[GRID_MAX + 1][GRID_MAX];
};

static const char uri[] = "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP"
                          "&issuer=Example&algorithm=SHA1&digits=6&period=30";

static int setup(void **state)
{
	(void)state;
	return pa_core_init() == PA_OK ? 0 : -1;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Read the SVG's single path ("M x,y h n v1 h-n z" runs) back into a grid. */
static void svg_to_grid(const char *svg, struct grid *g)
{
	const char *p;
	int n, side2, x, y, run, run2;

	memset(g, 0, sizeof *g);
	p = strstr(svg, "viewBox=\"0 0 ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "viewBox=\"0 0 %d %d\"", &g->side, &side2), 2);
	assert_int_equal(g->side, side2);
	assert_true(g->side > 2 * QUIET && g->side <= GRID_MAX);
	p = strstr(svg, " d=\"");
	assert_non_null(p);
	p += 4;
	while (*p != '"') {
		assert_int_equal(sscanf(p, "M%d,%dh%dv1h-%dz%n", &x, &y, &run, &run2, &n), 4);
		assert_int_equal(run, run2);
		assert_true(run > 0 && x >= 0 && y >= 0 && x + run <= g->side && y < g->side);
		while (run-- > 0) {
			assert_false(g->dark[y][x]); /* runs never overlap */
			g->dark[y][x++] = true;
		}
		p += n;
	}
}

/* Read UTF-8 half blocks back into a grid; blocks are light modules unless inverted. */
static void utf8_to_grid(const char *text, bool invert, struct grid *g)
{
	int x = 0, y = 0, width = -1;

	memset(g, 0, sizeof *g);
	while (*text) {
		bool top, bottom;

		if (*text == '\n') {
			assert_true(width < 0 || width == x);
			width = x;
			x = 0;
			y += 2;
			text++;
			continue;
		}
		if (*text == ' ') {
			top = bottom = false;
			text++;
		} else if (strncmp(text, "\u2588", 3) == 0) {
			top = bottom = true;
			text += 3;
		} else if (strncmp(text, "\u2580", 3) == 0) {
			top = true, bottom = false;
			text += 3;
		} else if (strncmp(text, "\u2584", 3) == 0) {
			top = false, bottom = true;
			text += 3;
		} else {
			fail_msg("unexpected byte 0x%02x", (unsigned char)*text);
			return;
		}
		assert_true(x < GRID_MAX && y < GRID_MAX);
		g->dark[y][x] = top == invert;
		g->dark[y + 1][x] = bottom == invert;
		x++;
	}
	assert_int_equal(x, 0); /* the last line ends in '\n' too */
	g->side = width;
	/* an odd side: the last line's lower half is the extra quiet row */
	assert_int_equal(y, g->side + 1);
	for (x = 0; x < g->side; x++)
		assert_false(g->dark[g->side][x]);
}

static void assert_finder(const struct grid *g, int x0, int y0)
{
	for (int y = 0; y < 7; y++) {
		for (int x = 0; x < 7; x++) {
			/* dark ring, light ring, dark 3x3 centre */
			bool ring = x == 0 || y == 0 || x == 6 || y == 6;
			bool centre = x >= 2 && x <= 4 && y >= 2 && y <= 4;

			assert_int_equal(g->dark[y0 + y][x0 + x], ring || centre);
		}
	}
}

/* Everything a scanner needs from the layout: quiet zone, three finder patterns. */
static void assert_layout(const struct grid *g, int expect_side)
{
	int s = g->side;

	assert_int_equal(s, expect_side);
	for (int y = 0; y < s; y++)
		for (int x = 0; x < s; x++)
			if (x < QUIET || y < QUIET || x >= s - QUIET || y >= s - QUIET)
				assert_false(g->dark[y][x]);
	assert_finder(g, QUIET, QUIET);
	assert_finder(g, s - QUIET - 7, QUIET);
	assert_finder(g, QUIET, s - QUIET - 7);
}

static void assert_same_grid(const struct grid *a, const struct grid *b)
{
	assert_int_equal(a->side, b->side);
	for (int y = 0; y < a->side; y++)
		assert_memory_equal(a->dark[y], b->dark[y], (size_t)a->side);
}

static void test_svg_structure(void **state)
{
	char *svg = NULL;
	const char *p;
	int paths = 0;

	(void)state;
	assert_int_equal(qr_svg_new(uri, &svg), PA_OK);
	assert_non_null(svg);
	assert_true(strncmp(svg, "<?xml ", 6) == 0);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(svg, "shape-rendering=\"crispEdges\""));
	for (p = svg; (p = strstr(p, "<path")) != NULL; p++)
		paths++;
	assert_int_equal(paths, 1);
	assert_int_equal(strcmp(svg + strlen(svg) - 7, "</svg>\n"), 0);
	free(svg);
}

static void test_svg_layout(void **state)
{
	static struct grid g;
	char *svg = NULL;

	(void)state;
	/* "HELLO" fits version 1: 21 modules */
	assert_int_equal(qr_svg_new("HELLO", &svg), PA_OK);
	svg_to_grid(svg, &g);
	assert_layout(&g, 21 + 2 * QUIET);
	free(svg);
}

static void test_utf8_layout(void **state)
{
	static struct grid g;
	char *out = NULL;

	(void)state;
	assert_int_equal(qr_utf8_new("HELLO", false, &out), PA_OK);
	/* light-on-dark: the quiet zone is all blocks */
	assert_true(strncmp(out, "\u2588\u2588\u2588\u2588", 12) == 0);
	utf8_to_grid(out, false, &g);
	assert_layout(&g, 21 + 2 * QUIET);
	free(out);
	assert_int_equal(qr_utf8_new("HELLO", true, &out), PA_OK);
	/* dark-on-light: the quiet zone is blank */
	assert_true(strncmp(out, "    ", 4) == 0);
	utf8_to_grid(out, true, &g);
	assert_layout(&g, 21 + 2 * QUIET);
	free(out);
}

/* Inverting swaps every cell for its complement, the extra quiet row included. */
static void test_utf8_invert_is_complement(void **state)
{
	char *normal = NULL, *inverted = NULL;
	const char *a, *b;

	(void)state;
	assert_int_equal(qr_utf8_new(uri, false, &normal), PA_OK);
	assert_int_equal(qr_utf8_new(uri, true, &inverted), PA_OK);
	a = normal;
	b = inverted;
	while (*a && *b) {
		if (*a == '\n') {
			assert_int_equal(*b, '\n');
			a++, b++;
		} else if (*a == ' ') {
			assert_true(strncmp(b, "\u2588", 3) == 0);
			a++, b += 3;
		} else if (strncmp(a, "\u2588", 3) == 0) {
			assert_int_equal(*b, ' ');
			a += 3, b++;
		} else if (strncmp(a, "\u2580", 3) == 0) {
			assert_true(strncmp(b, "\u2584", 3) == 0);
			a += 3, b += 3;
		} else {
			assert_true(strncmp(a, "\u2584", 3) == 0);
			assert_true(strncmp(b, "\u2580", 3) == 0);
			a += 3, b += 3;
		}
	}
	assert_int_equal(*a, '\0');
	assert_int_equal(*b, '\0');
	free(normal);
	free(inverted);
}

static void test_svg_and_utf8_agree(void **state)
{
	static struct grid from_svg, from_utf8, from_inverted;
	const char *texts[] = {"HELLO", uri,
	                       "otpauth://totp/%E0%A4%AA%E0%A4%B9%E0%A4%BE%E0%A4%B0%E0%A4%BE:"
	                       "r%C4%81m?secret=JBSWY3DPEHPK3PXP&issuer=पहारा",
	                       "a"};

	(void)state;
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char *svg = NULL, *blocks = NULL, *inverted = NULL;

		assert_int_equal(qr_svg_new(texts[i], &svg), PA_OK);
		assert_int_equal(qr_utf8_new(texts[i], false, &blocks), PA_OK);
		assert_int_equal(qr_utf8_new(texts[i], true, &inverted), PA_OK);
		svg_to_grid(svg, &from_svg);
		utf8_to_grid(blocks, false, &from_utf8);
		utf8_to_grid(inverted, true, &from_inverted);
		assert_layout(&from_svg, from_svg.side);
		/* versions 1..40 are 21..177 modules in steps of 4 */
		assert_int_equal((from_svg.side - 2 * QUIET - 21) % 4, 0);
		assert_same_grid(&from_svg, &from_utf8);
		assert_same_grid(&from_svg, &from_inverted);
		free(svg);
		free(blocks);
		free(inverted);
	}
}

/* The largest text level M holds is version 40: 177 modules. */
static void test_largest(void **state)
{
	static struct grid g;
	char *text = repeat('x', LEVEL_M_BYTES_MAX);
	char *svg = NULL, *blocks = NULL;

	(void)state;
	assert_int_equal(qr_svg_new(text, &svg), PA_OK);
	svg_to_grid(svg, &g);
	assert_layout(&g, 177 + 2 * QUIET);
	assert_int_equal(qr_utf8_new(text, false, &blocks), PA_OK);
	utf8_to_grid(blocks, false, &g);
	assert_layout(&g, 177 + 2 * QUIET);
	free(svg);
	free(blocks);
	free(text);
}

/* Raw UTF-8 costs the ECI designator: one byte less fits. */
static void test_largest_utf8(void **state)
{
	char *text = repeat('x', LEVEL_M_BYTES_MAX);
	char *svg = NULL;

	(void)state;
	memcpy(text, "\u00e9", 2);
	assert_int_equal(qr_svg_new(text, &svg), PA_ERR_INVALID_ARGUMENT);
	assert_null(svg);
	text[LEVEL_M_BYTES_MAX - 1] = '\0';
	assert_int_equal(qr_svg_new(text, &svg), PA_OK);
	free(svg);
	free(text);
}

static void test_errors(void **state)
{
	char *out = (char *)"untouched";
	char *too_big = repeat('x', LEVEL_M_BYTES_MAX + 1);
	char *too_long = repeat('x', QR_TEXT_MAX + 1);

	(void)state;
	assert_int_equal(qr_svg_new("", &out), PA_ERR_INVALID_ARGUMENT);
	assert_null(out);
	out = (char *)"untouched";
	assert_int_equal(qr_utf8_new("", false, &out), PA_ERR_INVALID_ARGUMENT);
	assert_null(out);
	/* within QR_TEXT_MAX but beyond what any QR code holds at level M */
	assert_int_equal(qr_svg_new(too_big, &out), PA_ERR_INVALID_ARGUMENT);
	assert_null(out);
	assert_int_equal(qr_utf8_new(too_big, true, &out), PA_ERR_INVALID_ARGUMENT);
	assert_null(out);
	assert_int_equal(qr_svg_new(too_long, &out), PA_ERR_INVALID_ARGUMENT);
	assert_null(out);
	assert_int_equal(qr_utf8_new(too_long, false, &out), PA_ERR_INVALID_ARGUMENT);
	assert_null(out);
	free(too_big);
	free(too_long);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_svg_structure),
	    cmocka_unit_test(test_svg_layout),
	    cmocka_unit_test(test_utf8_layout),
	    cmocka_unit_test(test_utf8_invert_is_complement),
	    cmocka_unit_test(test_svg_and_utf8_agree),
	    cmocka_unit_test(test_largest),
	    cmocka_unit_test(test_largest_utf8),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests_name("qr", tests, setup, NULL);
}
