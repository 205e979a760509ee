/* Runtime paths and small option parsers shared by the hvis tools. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hvis_paths.h"

static int say(char *why, size_t cap, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why && cap) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* The directory open as fd (O_PATH: search permission is enough on the
 * way; path names it in messages) is trusted: a
 * directory, the caller's, writable by nobody else. O_NOFOLLOW on the open
 * already refused a symlink in its place. */
static int dir_trusted(int fd, const char *path, char *why, size_t cap)
{
	struct stat st;
	struct passwd *pw;

	if (fstat(fd, &st) < 0)
		return say(why, cap, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return say(why, cap, -ENOTDIR, "%s is not a directory", path);
	if (st.st_uid != geteuid()) {
		pw = getpwuid(st.st_uid);
		return say(why, cap, -EPERM, "%s belongs to %s (uid %u), not "
			   "to you (uid %u): another user may have planted it",
			   path, pw ? pw->pw_name : "?", (unsigned)st.st_uid,
			   (unsigned)geteuid());
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return say(why, cap, -EACCES, "%s is writable by group or "
			   "others (mode %04o): chmod 700 it or remove it",
			   path, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* One component under dfd: opened, made first if missing and create.
 * checked: it must be trusted (a component the programs own); a made one
 * always is checked. Returns the new fd or -errno. */
static int step(int dfd, const char *comp, const char *path, bool create,
		bool checked, bool *made, char *why, size_t cap)
{
	int fl = O_PATH | O_DIRECTORY | O_CLOEXEC, fd, rc;

	*made = false;
	fd = openat(dfd, comp, fl | (checked ? O_NOFOLLOW : 0));
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dfd, comp, 0700) == 0)
			*made = true;
		else if (errno != EEXIST)
			return say(why, cap, -errno, "cannot make %s: %s",
				   path, strerror(errno));
		checked = true;
		fd = openat(dfd, comp, fl | O_NOFOLLOW);
	}
	if (fd < 0) {
		rc = -errno;
		if (rc == -ELOOP || rc == -ENOTDIR)
			return say(why, cap, rc, "%s is a symlink or not a "
				   "directory: refusing it", path);
		return say(why, cap, rc, "%s: %s", path, strerror(-rc));
	}
	rc = checked ? dir_trusted(fd, path, why, cap) : 0;
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

/* Walk path from "/" (or "." when relative). Components from index
 * check_from on, and every one made here, must be trusted. */
static int walk(const char *path, unsigned check_from, bool create,
		bool *created, char *why, size_t cap)
{
	char buf[4096], *save = NULL, *comp;
	int dfd, fd = -1;
	unsigned i = 0;
	bool made = false;

	if (strlen(path) >= sizeof(buf))
		return say(why, cap, -ENAMETOOLONG, "path too long: %s", path);
	strcpy(buf, path);
	dfd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return say(why, cap, -errno, "%s: %s", path, strerror(errno));
	for (comp = strtok_r(buf, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save), i++) {
		bool last = !save || !save[strspn(save, "/")];

		fd = step(dfd, comp, path, create, i >= check_from || last,
			  &made, why, cap);
		close(dfd);
		if (fd < 0)
			return fd;
		dfd = fd;
	}
	close(dfd);
	if (created)
		*created = made;
	return 0;
}

static unsigned components(const char *path)
{
	unsigned n = 0;

	for (const char *p = path; *p; p++)
		if (*p != '/' && (p == path || p[-1] == '/'))
			n++;
	return n;
}

int hvis_secure_dir(const char *path, bool create, bool *created, char *why,
		    size_t why_cap)
{
	/* Only the last component of a directory named by the user is
	 * checked, and every parent made on the way. */
	return walk(path, components(path), create, created, why, why_cap);
}

int hvis_vm_base(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *tmp = getenv("TMPDIR");
	int n;

	if (xdg && *xdg)
		n = snprintf(out, cap, "%s/hvis", xdg);
	else
		n = snprintf(out, cap, "%s/hvis-%u", tmp && *tmp ? tmp : "/tmp",
			     (unsigned)geteuid());
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int hvis_vm_dir(char *out, size_t cap, const char *dir, const char *name,
		bool create, bool *created, char *why, size_t why_cap)
{
	char base[4096];
	int n;

	if (created)
		*created = false;
	if (dir) {
		n = snprintf(out, cap, "%s", dir);
		if (n < 0 || (size_t)n >= cap)
			return say(why, why_cap, -ENAMETOOLONG,
				   "path too long: %s", dir);
		return hvis_secure_dir(out, create, created, why, why_cap);
	}
	if (!*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return say(why, why_cap, -EINVAL, "bad VM name '%s'", name);
	if (hvis_vm_base(base, sizeof(base)) ||
	    hvis_path(out, cap, base, name))
		return say(why, why_cap, -ENAMETOOLONG, "path too long");
	/* The base's own folder (hvis, hvis-UID) and the VM's are ours. */
	return walk(out, components(base) - 1, create, created, why, why_cap);
}

void hvis_vm_names(const char *base, char *out, size_t cap, size_t *n)
{
	DIR *d = opendir(base);
	struct dirent *e;
	size_t len = 0;
	char sock[4096];
	struct stat st;

	*n = 0;
	out[0] = '\0';
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    (size_t)snprintf(sock, sizeof(sock), "%s/%s/%s", base,
				     e->d_name, HVIS_CTL_SOCK) >= sizeof(sock) ||
		    stat(sock, &st) || !S_ISSOCK(st.st_mode))
			continue;
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, "%s%s",
						*n ? ", " : "", e->d_name);
		(*n)++;
	}
	if (d)
		closedir(d);
}

int hvis_refuse(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

int hvis_refuse_getopt(const char *prog, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		return hvis_refuse(prog, "%s needs a value", arg);
	return hvis_refuse(prog, "unknown option %s (see %s --help)", arg,
			   prog);
}

/* $XDG_STATE_HOME when absolute (the XDG rule: a relative one is
 * ignored), else ~/.local/state. */
static int state_base(char *out, size_t cap, char *why, size_t why_cap)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if (xdg && xdg[0] == '/') {
		n = snprintf(out, cap, "%s/hvis", xdg);
	} else {
		if (!home || home[0] != '/') {
			pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/')
			return say(why, why_cap, -ENOENT, "no home directory "
				   "for the state directory: set "
				   "XDG_STATE_HOME or HOME");
		n = snprintf(out, cap, "%s/.local/state/hvis", home);
	}
	if (n < 0 || (size_t)n >= cap)
		return say(why, why_cap, -ENAMETOOLONG, "path too long");
	return 0;
}

int hvis_state_dir(char *out, size_t cap, const char *name, bool create,
		   char *why, size_t why_cap)
{
	char base[4096];
	int rc;

	if (!*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return say(why, why_cap, -EINVAL, "bad VM name '%s'", name);
	rc = state_base(base, sizeof(base), why, why_cap);
	if (rc)
		return rc;
	if (hvis_path(out, cap, base, name))
		return say(why, why_cap, -ENAMETOOLONG, "path too long");
	return walk(out, components(base) - 1, create, NULL, why, why_cap);
}

int hvis_path(char *out, size_t cap, const char *dir, const char *file)
{
	int n = snprintf(out, cap, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

bool hvis_parse_user(const char *s, uid_t *uid)
{
	struct passwd *pw = getpwnam(s);
	unsigned long v;

	if (pw) {
		*uid = pw->pw_uid;
		return true;
	}
	if (!hvis_parse_ulong(s, 0xfffffffeul, &v))
		return false;
	*uid = (uid_t)v;
	return true;
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
