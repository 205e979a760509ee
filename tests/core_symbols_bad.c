/* Deliberately not freestanding: proves core_symbols.sh catches a libc
 * reference (the test that runs it on this archive must fail). */
#include <string.h>

size_t core_symbols_bad(const char *s)
{
	return strlen(s);
}
