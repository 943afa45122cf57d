/*
 * bench/otp.c — TOTP verification speed, Pahara against liboath, on the same inputs.
 *
 * The work is what a server does for one sign-in: a 20-byte secret, the current time, a 6-digit
 * code, a window of one step either side (3 candidates).  Half the codes are valid at a random
 * step of the window, half are random (so almost always wrong).  Three figures:
 *   liboath     oath_totp_validate(..., window 1, ...)
 *   per-check   otp_totp_step + otp_key_init + otp_verify + otp_key_wipe: the fair comparison,
 *               since a server opens the sealed secret for every request
 *   key reused  otp_verify alone on a key made beforehand
 * Each figure is the best of a few runs of about a second, on one thread pinned to one core.
 * Before timing, both libraries must agree on every input's verdict, and the verdict must be
 * the one the input was made to have; if not, the program says so and exits non-zero.
 * Speed never makes it fail: the target (Pahara at least twice liboath) is printed, not judged.
 */
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "core/core.h"
#include "core/otp.h"

#define BENCH_INPUTS 2048
#define BENCH_SECRET 20
#define BENCH_PERIOD 30
#define BENCH_DIGITS 6
#define BENCH_WINDOW 1
#define BENCH_RUNS 3
#define BENCH_RUN_SECONDS 1.0

struct bench_input {
	uint8_t secret[BENCH_SECRET]; /* random */
	int64_t now;                  /* unix time, random within 2001..2033 */
	char code[OTP_CODE_MAX];      /* what the user typed */
	bool valid;                   /* made to be valid (drawn from the window) */
};

struct bench_ctx {
	struct bench_input *in; /* BENCH_INPUTS inputs */
	struct otp_key *keys;   /* the key of each input, for the key-reused figure */
	volatile uint64_t sink; /* results go here so no loop is optimised away */
};

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One pass of liboath over every input; returns how many were accepted. */
static uint64_t pass_liboath(struct bench_ctx *b)
{
	uint64_t ok = 0;
	for (size_t i = 0; i < BENCH_INPUTS; i++) {
		const struct bench_input *x = &b->in[i];
		int r = oath_totp_validate((const char *)x->secret, BENCH_SECRET, (time_t)x->now,
		                           BENCH_PERIOD, 0, BENCH_WINDOW, x->code);
		ok += r >= 0;
	}
	return ok;
}

/* One pass of Pahara as a server does it: a fresh key for every check. */
static uint64_t pass_pahara_per_check(struct bench_ctx *b)
{
	uint64_t ok = 0;
	for (size_t i = 0; i < BENCH_INPUTS; i++) {
		const struct bench_input *x = &b->in[i];
		struct otp_key key;
		uint64_t step = 0, matched = 0;
		if (otp_totp_step(x->now, BENCH_PERIOD, &step) != PA_OK ||
		    otp_key_init(&key, OTP_SHA1, BENCH_DIGITS, x->secret, BENCH_SECRET) != PA_OK)
			abort();
		ok += otp_verify(&key, x->code, step, BENCH_WINDOW, BENCH_WINDOW, false, 0,
		                 &matched) == PA_OK;
		otp_key_wipe(&key);
	}
	return ok;
}

/* One pass of Pahara with the keys made beforehand. */
static uint64_t pass_pahara_key_reused(struct bench_ctx *b)
{
	uint64_t ok = 0;
	for (size_t i = 0; i < BENCH_INPUTS; i++) {
		const struct bench_input *x = &b->in[i];
		uint64_t step = 0, matched = 0;
		if (otp_totp_step(x->now, BENCH_PERIOD, &step) != PA_OK)
			abort();
		ok += otp_verify(&b->keys[i], x->code, step, BENCH_WINDOW, BENCH_WINDOW, false, 0,
		                 &matched) == PA_OK;
	}
	return ok;
}

/* Passes of pass that take about BENCH_RUN_SECONDS. */
static uint64_t calibrate(struct bench_ctx *b, uint64_t (*pass)(struct bench_ctx *))
{
	double t0 = bench_now();
	uint64_t passes = 0;
	do {
		b->sink += pass(b);
		passes++;
	} while (bench_now() - t0 < 0.1);
	uint64_t n = (uint64_t)((double)passes * BENCH_RUN_SECONDS / (bench_now() - t0));
	return n ? n : 1;
}

/* Checks per second of one run of passes passes. */
static double run(struct bench_ctx *b, uint64_t (*pass)(struct bench_ctx *), uint64_t passes)
{
	double start = bench_now();
	for (uint64_t p = 0; p < passes; p++)
		b->sink += pass(b);
	return (double)(passes * BENCH_INPUTS) / (bench_now() - start);
}

static uint32_t random_below(uint32_t n)
{
	return randombytes_uniform(n);
}

/* Make the inputs, using liboath to produce the valid codes (an oracle independent of us). */
static void make_inputs(struct bench_ctx *b)
{
	for (size_t i = 0; i < BENCH_INPUTS; i++) {
		struct bench_input *x = &b->in[i];
		randombytes_buf(x->secret, sizeof(x->secret));
		x->now = 1000000000 + (int64_t)random_below(1000000000);
		x->valid = i % 2 == 0;
		if (x->valid) {
			int offset = (int)random_below(2 * BENCH_WINDOW + 1) - BENCH_WINDOW;
			if (oath_totp_generate((const char *)x->secret, BENCH_SECRET,
			                       (time_t)(x->now + offset * BENCH_PERIOD),
			                       BENCH_PERIOD, 0, BENCH_DIGITS, x->code) != OATH_OK)
				abort();
		} else {
			int r = snprintf(x->code, sizeof(x->code), "%06u",
			                 (unsigned)random_below(1000000));
			if (r != BENCH_DIGITS)
				abort();
		}
		if (otp_key_init(&b->keys[i], OTP_SHA1, BENCH_DIGITS, x->secret, BENCH_SECRET) !=
		    PA_OK)
			abort();
	}
}

/* Every input: both libraries agree, with each other and with how the input was made. */
static size_t cross_check(const struct bench_ctx *b, size_t *accepted)
{
	size_t bad = 0;
	*accepted = 0;
	for (size_t i = 0; i < BENCH_INPUTS; i++) {
		const struct bench_input *x = &b->in[i];
		struct otp_key key;
		uint64_t step = 0, matched = 0;
		bool oath_ok =
		    oath_totp_validate((const char *)x->secret, BENCH_SECRET, (time_t)x->now,
		                       BENCH_PERIOD, 0, BENCH_WINDOW, x->code) >= 0;
		if (otp_totp_step(x->now, BENCH_PERIOD, &step) != PA_OK ||
		    otp_key_init(&key, OTP_SHA1, BENCH_DIGITS, x->secret, BENCH_SECRET) != PA_OK)
			abort();
		bool pa_ok = otp_verify(&key, x->code, step, BENCH_WINDOW, BENCH_WINDOW, false, 0,
		                        &matched) == PA_OK;
		otp_key_wipe(&key);
		*accepted += pa_ok;
		bool pa_reused = otp_verify(&b->keys[i], x->code, step, BENCH_WINDOW, BENCH_WINDOW,
		                            false, 0, &matched) == PA_OK;
		/* a random code may happen to be right (3 in 10^6): then both must say so */
		if (oath_ok != pa_ok || pa_ok != pa_reused || (x->valid && !pa_ok)) {
			fprintf(stderr,
			        "VERDICTS DISAGREE on input %zu (time %lld, code %s, made %s): "
			        "liboath %s, pahara %s, pahara key reused %s\n",
			        i, (long long)x->now, x->code, x->valid ? "valid" : "random",
			        oath_ok ? "valid" : "invalid", pa_ok ? "valid" : "invalid",
			        pa_reused ? "valid" : "invalid");
			bad++;
		}
	}
	return bad;
}

static void pin_to_one_core(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		fprintf(stderr, "note: could not pin to CPU 0; timing may be noisier\n");
}

int main(void)
{
	if (pa_core_init() != PA_OK || oath_init() != OATH_OK) {
		fprintf(stderr, "bench/otp: cannot initialise libsodium or liboath\n");
		return 2;
	}
	pin_to_one_core();

	static struct bench_input inputs[BENCH_INPUTS];
	static struct otp_key keys[BENCH_INPUTS];
	struct bench_ctx b = {.in = inputs, .keys = keys};
	make_inputs(&b);

	size_t accepted = 0;
	size_t bad = cross_check(&b, &accepted);
	if (bad) {
		fprintf(stderr, "bench/otp: FAILED: %zu of %d verdicts disagree\n", bad,
		        BENCH_INPUTS);
		return 1;
	}

	printf("TOTP verification: SHA-1, %d digits, %d s, window +-%d (%d candidates), "
	       "%d random 20-byte secrets, half valid at a random step of the window, half random; "
	       "best of %d runs of ~%.0f s, one thread on CPU 0\n",
	       BENCH_DIGITS, BENCH_PERIOD, BENCH_WINDOW, 2 * BENCH_WINDOW + 1, BENCH_INPUTS,
	       BENCH_RUNS, BENCH_RUN_SECONDS);
	printf("verdicts: liboath and pahara agree on all %d inputs (%zu accepted)\n", BENCH_INPUTS,
	       accepted);

	/*
	 * The runs of the three are interleaved, so that a slow spell of the machine (another
	 * process, frequency scaling) hits all three rather than one; each keeps its best run.
	 */
	static const char *const names[3] = {
	    "liboath oath_totp_validate:", "pahara  otp_key_init per check:",
	    "pahara  key reused:"};
	uint64_t (*const passes[3])(struct bench_ctx *) = {pass_liboath, pass_pahara_per_check,
	                                                   pass_pahara_key_reused};
	uint64_t n[3];
	double best[3] = {0, 0, 0};
	for (int k = 0; k < 3; k++)
		n[k] = calibrate(&b, passes[k]);
	for (int r = 0; r < BENCH_RUNS; r++) {
		for (int k = 0; k < 3; k++) {
			double rate = run(&b, passes[k], n[k]);
			if (rate > best[k])
				best[k] = rate;
		}
	}
	for (int k = 0; k < 3; k++)
		printf("  %-32s %10.0f checks/s  %7.3f us/check\n", names[k], best[k],
		       1e6 / best[k]);
	double oath = best[0], per_check = best[1], reused = best[2];
	printf("pahara/liboath: %.1fx (target >= 2x), key reused: %.1fx\n", per_check / oath,
	       reused / oath);
	if (b.sink == 42) /* never true in practice; makes the sink observable */
		printf("\n");
	for (size_t i = 0; i < BENCH_INPUTS; i++)
		otp_key_wipe(&keys[i]);
	oath_done();
	return 0;
}
