/* Opening a file that a request or an option names, on a thread that
 * must not wait (an event loop) and for data that must not leak:
 * - O_NONBLOCK on the open, as a FIFO with no peer would hold it (and
 *   every request behind it) until one comes; cleared again after.
 * - Only a regular file passes: a FIFO, socket or device is refused.
 * - With RT_FILE_MINE, only a file the effective user owns: one planted
 *   by another user (to read what is written, or to make us write
 *   where they choose) is refused.
 * - O_TRUNC, if asked, is done after those checks, so that a file
 *   refused keeps its bytes.
 * O_CLOEXEC and O_NOCTTY are added; the caller adds O_NOFOLLOW where a
 * symbolic link must not be followed either. */
#ifndef HVIS_RT_FILE_H
#define HVIS_RT_FILE_H

#include <stddef.h>
#include <sys/types.h>

#define RT_FILE_MINE 1u     /* refuse a file another user owns */

/* The descriptor (blocking), or -1 with why: what is wrong with path and
 * what to do, without the path itself. */
int rt_file_open(const char *path, int flags, mode_t mode, unsigned opts,
		 char *why, size_t n);

#endif
