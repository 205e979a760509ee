/* LD_PRELOAD shim that lets Linux's hv_kvp_daemon run without Hyper-V,
 * for tests/integration/test_kvpd.c only.
 *
 * - open("/dev/vmbus/hv_kvp") returns a SOCK_SEQPACKET Unix socket
 *   connected to $HVIS_KVPD_SOCK. Each message keeps its boundary, as on
 *   the character device, so the daemon's read/write/poll work unchanged.
 * - Paths under /var/lib/hyperv (the daemon's fixed pool directory) are
 *   moved under $HVIS_KVPD_ROOT, for open, fopen, access and mkdir: the
 *   calls the daemon makes on that directory (it imports no openat,
 *   open64, stat or fopen64).
 * - system() and popen() fail: the daemon only runs them for the IP
 *   ops, which a test must never reach with the machine's real scripts.
 *
 * Built without sanitizers: the daemon is not an ASan program. The
 * macros below would rename open/fopen to their 64-bit or fortified
 * aliases; the shim must define the plain symbols the daemon imports. */
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEV_PATH	"/dev/vmbus/hv_kvp"
#define POOL_DIR	"/var/lib/hyperv"

static void *real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f)
		abort();
	return f;
}

/* Maps path into buf when it lies under POOL_DIR; else returns path.
 * NULL (errno set) when the mapped name does not fit or the variable is
 * missing: the daemon must never fall back to the real directory. */
static const char *map(const char *path, char *buf, size_t cap)
{
	size_t n = sizeof(POOL_DIR) - 1;
	const char *root = getenv("HVIS_KVPD_ROOT");

	if (strncmp(path, POOL_DIR, n) ||
	    (path[n] != '\0' && path[n] != '/'))
		return path;
	if (!root || !*root) {
		errno = EACCES;
		return NULL;
	}
	if ((size_t)snprintf(buf, cap, "%s%s", root, path + n) >= cap) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return buf;
}

static int dev_open(void)
{
	const char *p = getenv("HVIS_KVPD_SOCK");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!p || strlen(p) >= sizeof(sa.sun_path)) {
		errno = ENOENT;
		return -1;
	}
	strcpy(sa.sun_path, p);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int open(const char *path, int flags, ...)
{
	int (*o)(const char *, int, ...) = real("open");
	char buf[4096];
	mode_t mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (strcmp(path, DEV_PATH) == 0)
		return dev_open();
	path = map(path, buf, sizeof(buf));
	if (!path)
		return -1;
	return o(path, flags, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	FILE *(*f)(const char *, const char *) = real("fopen");
	char buf[4096];

	path = map(path, buf, sizeof(buf));
	return path ? f(path, mode) : NULL;
}

int access(const char *path, int how)
{
	int (*a)(const char *, int) = real("access");
	char buf[4096];

	path = map(path, buf, sizeof(buf));
	return path ? a(path, how) : -1;
}

int mkdir(const char *path, mode_t mode)
{
	int (*m)(const char *, mode_t) = real("mkdir");
	char buf[4096];

	path = map(path, buf, sizeof(buf));
	return path ? m(path, mode) : -1;
}

int system(const char *cmd)
{
	(void)cmd;
	errno = EPERM;
	return -1;
}

FILE *popen(const char *cmd, const char *type)
{
	(void)cmd;
	(void)type;
	errno = EPERM;
	return NULL;
}
