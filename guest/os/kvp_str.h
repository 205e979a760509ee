/* String helper shared by the KVP adapters of the guest. */
#ifndef HVIS_GUEST_KVP_STR_H
#define HVIS_GUEST_KVP_STR_H

#include <stddef.h>
#include <string.h>

/* Copies NUL-terminated src into dst[cap] whole: 0, or -1 (dst left
 * unchanged) when it does not fit. */
static inline int kvp_str_copy(char *dst, size_t cap, const char *src)
{
	size_t l = strlen(src);

	if (l >= cap)
		return -1;
	memcpy(dst, src, l + 1);
	return 0;
}

#endif
