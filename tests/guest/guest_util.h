/* Small helpers shared by the guest adapter tests (header-only). */
#ifndef HVIS_TESTS_GUEST_UTIL_H
#define HVIS_TESTS_GUEST_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory /tmp/hvis-<tag>-XXXXXX in dir[cap]; 0 on success. */
static inline int gt_mkdtemp(const char *tag, char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/hvis-%s-XXXXXX", tag);
	return mkdtemp(dir) ? 0 : -1;
}

static inline int gt_write_file(const char *path, const void *data,
				size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return -1;
	ssize_t w = write(fd, data, len);

	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

/* Reads up to cap-1 bytes of path into buf, NUL-terminated; returns the
 * length or -1. */
static inline ssize_t gt_read_file(const char *path, void *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -1;
	while (len + 1 < cap) {
		ssize_t r = read(fd, (char *)buf + len, cap - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	((char *)buf)[len] = '\0';
	return (ssize_t)len;
}

static inline int gt_rm_rf(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

#endif
