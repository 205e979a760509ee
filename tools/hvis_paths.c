/* Runtime paths and small option parsers shared by the hvis tools. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvis_paths.h"

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int hvis_vm_dir(char *out, size_t cap, const char *dir, const char *name,
		bool create)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (dir)
		n = snprintf(out, cap, "%s", dir);
	else if (xdg && *xdg)
		n = snprintf(out, cap, "%s/hvis/%s", xdg, name);
	else
		n = snprintf(out, cap, "/tmp/hvis-%u/%s", (unsigned)getuid(),
			     name);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	return create ? mkdirs(out) : 0;
}

int hvis_path(char *out, size_t cap, const char *dir, const char *file)
{
	int n = snprintf(out, cap, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

bool hvis_parse_version(const char *s, unsigned *version)
{
	unsigned major, minor;
	char tail;

	if (sscanf(s, "%u.%u%c", &major, &minor, &tail) != 2 ||
	    major > 0xffff || minor > 0xffff)
		return false;
	*version = major << 16 | minor;
	return true;
}

bool hvis_parse_ulong(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	/* strtoul would also take blanks, a sign ("-1" wraps) and, past
	 * ULONG_MAX, ERANGE: only plain digits are a count here. */
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return !*end && !errno && *v <= max;
}
