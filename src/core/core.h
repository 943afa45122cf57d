/*
 * core.h — start-up of the core library.
 *
 * pa_core_init must run once, before any other core function, from the main thread: it
 * initialises libsodium (randomness, constant-time helpers) and checks the CPU features it
 * picked.  It is idempotent.
 */
#ifndef PAHARA_CORE_CORE_H
#define PAHARA_CORE_CORE_H

#include "core/err.h"

enum pa_err pa_core_init(void) PA_MUST_CHECK;

#endif
