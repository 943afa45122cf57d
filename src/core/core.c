/* core.c — see core.h. */
#include <sodium.h>

#include "core/core.h"

enum pa_err pa_core_init(void)
{
	/* 0 = initialised now, 1 = already initialised, -1 = failure */
	if (sodium_init() < 0)
		return PA_ERR_RANDOM;
	return PA_OK;
}
