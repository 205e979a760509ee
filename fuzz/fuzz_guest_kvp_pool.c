/* Pool file records as found on disk (written by anyone): every 2560-byte
 * chunk of the input is parsed as a record; the whole input also goes
 * through the UTF-8 check. */
#include <stdint.h>
#include <string.h>

#include "kvp_pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rec[KVP_POOL_RECORD_SIZE];
	const char *k, *v;

	kvp_pool_utf8_valid((const char *)data, size);
	while (size) {
		size_t n = size < sizeof(rec) ? size : sizeof(rec);

		/* A short tail is padded with a pattern, not zeros, so
		 * unterminated fields get exercised too. */
		memset(rec, 'A', sizeof(rec));
		memcpy(rec, data, n);
		if (kvp_pool_record_parse(rec, &k, &v) == KVP_POOL_OK &&
		    (strlen(k) >= KVP_POOL_KEY_SIZE ||
		     strlen(v) >= KVP_POOL_VALUE_SIZE ||
		     !kvp_pool_utf8_valid(k, strlen(k))))
			__builtin_trap();
		data += n;
		size -= n;
	}
	return 0;
}
