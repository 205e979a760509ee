/* Why the last IP or backup request failed, published for the host in
 * the KVP auto pool (see gic.h). One process-wide board: the VSS and KVP
 * services run on different channel workers, and the mutex is held only
 * to copy a line, never across any I/O. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gic.h"

static const char *const keys[GIC_REASON__COUNT] = {
	[GIC_REASON_VSS] = "HvisVssLastFailure",
	[GIC_REASON_KVP] = "HvisKvpLastFailure",
};

static pthread_mutex_t board_lock = PTHREAD_MUTEX_INITIALIZER;
static char board[GIC_REASON__COUNT][GIC_REASON_MAX];

void gic_reason_set(enum gic_reason slot, const char *fmt, ...)
{
	char line[GIC_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&board_lock);
	memcpy(board[slot], line, sizeof(line));
	pthread_mutex_unlock(&board_lock);
}

void gic_reason_clear(enum gic_reason slot)
{
	pthread_mutex_lock(&board_lock);
	board[slot][0] = '\0';
	pthread_mutex_unlock(&board_lock);
}

bool gic_reason_get(const char *key, char *value, size_t cap)
{
	for (unsigned i = 0; i < GIC_REASON__COUNT; i++)
		if (!strcmp(key, keys[i])) {
			pthread_mutex_lock(&board_lock);
			snprintf(value, cap, "%s", board[i]);
			pthread_mutex_unlock(&board_lock);
			return true;
		}
	return false;
}

bool gic_reason_enum(uint32_t index, char *key, size_t key_cap,
		     char *value, size_t value_cap)
{
	if (index >= GIC_REASON__COUNT)
		return false;
	snprintf(key, key_cap, "%s", keys[index]);
	return gic_reason_get(keys[index], value, value_cap);
}
