/* Files that requests name (see rt_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_file.h"

static void open_why(int err, int flags, char *why, size_t n)
{
	if (err == ELOOP && (flags & O_NOFOLLOW))
		snprintf(why, n, "a symbolic link, which is not followed: "
			 "name the file itself");
	else if (err == ENXIO)
		snprintf(why, n, "a FIFO, socket or device with no peer, not "
			 "a regular file: name a regular file");
	else
		snprintf(why, n, "%s", strerror(err));
}

/* What rules fd out, or 0 with why empty. */
static int check(int fd, unsigned opts, char *why, size_t n)
{
	struct stat st;

	if (fstat(fd, &st)) {
		snprintf(why, n, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "not a regular file (a FIFO, socket, device "
			 "or directory): name a regular file");
		return -1;
	}
	if ((opts & RT_FILE_MINE) && st.st_uid != geteuid()) {
		snprintf(why, n, "owned by uid %u, not by uid %u (this "
			 "process): remove it or name another file",
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/* Whatever path names now, if anything, is a regular file: a device is
 * not even opened (opening one may act: a watchdog arms, a tape
 * rewinds). The check on the descriptor after the open still decides. */
static int pre_check(const char *path, int flags, char *why, size_t n)
{
	struct stat st;
	int at = (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0;

	if (fstatat(AT_FDCWD, path, &st, at) || S_ISREG(st.st_mode) ||
	    S_ISLNK(st.st_mode))
		return 0;
	snprintf(why, n, "not a regular file (a FIFO, socket, device or "
		 "directory): name a regular file");
	return -1;
}

int rt_file_open(const char *path, int flags, mode_t mode, unsigned opts,
		 char *why, size_t n)
{
	int fd, fl;

	if (pre_check(path, flags, why, n))
		return -1;
	fd = open(path, (flags & ~O_TRUNC) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
		  mode);
	if (fd < 0) {
		open_why(errno, flags, why, n);
		return -1;
	}
	if (check(fd, opts, why, n))
		goto bad;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) ||
	    ((flags & O_TRUNC) && ftruncate(fd, 0))) {
		snprintf(why, n, "%s", strerror(errno));
		goto bad;
	}
	return fd;
bad:
	close(fd);
	return -1;
}
