/* The core's platform interface (core/plat.h) in POSIX user space. */
#include <stdlib.h>

#include "plat.h"

void *hvis_plat_zalloc(size_t size)
{
	return calloc(1, size);
}

void hvis_plat_free(void *p)
{
	free(p);
}
