/* The platform interface: everything the freestanding core needs from its
 * embedder. A kernel provides these; runtime/plat_posix.c provides them in
 * user space. The core references no other external symbol except the
 * memcpy/memmove/memset/memcmp that C compilers emit on their own
 * (tests/core_symbols.sh checks the archive against this list). */
#ifndef HVIS_PLAT_H
#define HVIS_PLAT_H

#include <stddef.h>

/* Zeroed allocation; NULL on failure. May be called from any core entry
 * point, never from interrupt context in the ring data path (the ring
 * never allocates). */
void *hvis_plat_zalloc(size_t size);
void hvis_plat_free(void *p);

#endif
