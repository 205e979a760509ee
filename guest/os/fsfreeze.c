/* Filesystem freeze for VSS. See fsfreeze.h. */
#include "fsfreeze.h"
#include "os_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS	30000
#define REASON_SIZE		256

struct fsfreeze {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t watchdog;
	int stop;

	char **mounts;
	size_t n_mounts;
	char *mountinfo;
	char *pre_hook;
	char *post_hook;
	unsigned timeout_ms;
	unsigned hook_timeout_ms;
	void (*frozen_cb)(int on);

	/* Descriptors of the frozen filesystems, in freeze order; kept open
	 * so the thaw reaches the same superblocks whatever is mounted
	 * meanwhile. */
	int *fds;
	size_t n_frozen;
	size_t last_count;
	int frozen;
	int timed_out;
	struct timespec deadline;	/* CLOCK_MONOTONIC */

	struct fsfreeze_stats st;
	char reason[REASON_SIZE];
	char skipped[REASON_SIZE];	/* "PATH (why), ..." of this freeze */
};

static const char *const skip_types[] = {
	"proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "ramfs", "cgroup",
	"cgroup2", "securityfs", "pstore", "bpf", "debugfs", "tracefs",
	"configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc",
	"rpc_pipefs", "nsfs", "efivarfs", "selinuxfs", "overlay", "squashfs",
	"iso9660", "vfat", "fuse", "fuseblk", "nfs", "nfs4", "cifs", "smb3",
	"9p", "virtiofs",
};

static int skip_type(const char *t)
{
	if (!strncmp(t, "fuse.", 5))
		return 1;
	for (size_t i = 0; i < sizeof(skip_types) / sizeof(skip_types[0]); i++)
		if (!strcmp(t, skip_types[i]))
			return 1;
	return 0;
}

/* Decodes the \ooo escapes the kernel uses for space, tab, newline and
 * backslash in mountinfo paths. */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

static char *next_field(char **p)
{
	char *s = *p;

	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	char *e = s;

	while (*e && *e != ' ' && *e != '\n')
		e++;
	if (*e)
		*e++ = '\0';
	*p = e;
	return s;
}

int fsfreeze_parse_mountinfo_line(char *line, struct fsfreeze_mnt *m)
{
	char *p = line, *f[6], *end;

	for (int i = 0; i < 6; i++) {
		f[i] = next_field(&p);
		if (!f[i])
			return -EINVAL;
	}
	/* f: id, parent, major:minor, root, mount point, options */
	unsigned long ma = strtoul(f[2], &end, 10);

	if (end == f[2] || *end != ':')
		return -EINVAL;
	char *mi_s = end + 1;
	unsigned long mi = strtoul(mi_s, &end, 10);

	if (end == mi_s || *end || ma > 0xfffff || mi > 0xfffff)
		return -EINVAL;
	char *sep;

	do {	/* optional fields up to the lone "-" */
		sep = next_field(&p);
		if (!sep)
			return -EINVAL;
	} while (strcmp(sep, "-"));
	char *type = next_field(&p), *src = next_field(&p);

	if (!type || !src || f[4][0] != '/')
		return -EINVAL;
	unescape(f[4]);
	unescape(src);
	m->major = (unsigned)ma;
	m->minor = (unsigned)mi;
	m->mount_point = f[4];
	m->mount_opts = f[5];
	m->fstype = type;
	m->source = src;
	return 0;
}

static int opt_ro(const char *opts)
{
	return !strcmp(opts, "ro") || !strncmp(opts, "ro,", 3);
}

struct plan {
	char **paths;
	unsigned *dev;	/* major << 20 | minor, for de-duplication */
	size_t n, cap;
};

static int plan_add(struct plan *pl, const char *path, unsigned dev)
{
	for (size_t i = 0; i < pl->n; i++)
		if ((dev && pl->dev[i] == dev) || !strcmp(pl->paths[i], path))
			return 0;
	if (pl->n == pl->cap) {
		size_t nc = pl->cap ? pl->cap * 2 : 16;
		char **np = realloc(pl->paths, nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		pl->paths = np;
		unsigned *nd = realloc(pl->dev, nc * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		pl->dev = nd;
		pl->cap = nc;
	}
	pl->paths[pl->n] = strdup(path);
	if (!pl->paths[pl->n])
		return -ENOMEM;
	pl->dev[pl->n++] = dev;
	return 0;
}

static int plan_mountinfo(const char *path, struct plan *pl)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t lcap = 0;
	int rc = 0;

	if (!f)
		return -errno;
	while (!rc && getline(&line, &lcap, f) > 0) {
		struct fsfreeze_mnt m;

		if (fsfreeze_parse_mountinfo_line(line, &m) ||
		    opt_ro(m.mount_opts) || skip_type(m.fstype) ||
		    strncmp(m.source, "/dev/", 5))
			continue;
		rc = plan_add(pl, m.mount_point, m.major << 20 | m.minor);
	}
	free(line);
	fclose(f);
	return rc;
}

int fsfreeze_plan(const struct fsfreeze_config *cfg, char ***paths,
		  size_t *n)
{
	struct plan pl = { 0 };
	int rc = 0;

	if (cfg->mounts) {
		for (size_t i = 0; !rc && i < cfg->n_mounts; i++)
			rc = plan_add(&pl, cfg->mounts[i], 0);
	} else {
		rc = plan_mountinfo(cfg->mountinfo ? cfg->mountinfo
				    : "/proc/self/mountinfo", &pl);
	}
	free(pl.dev);
	if (rc) {
		fsfreeze_plan_free(pl.paths, pl.n);
		return rc;
	}
	/* "/" last: freezing it first would block writes the other freezes
	 * and the hooks may still need (logs, journals on /). */
	for (size_t i = 0; i + 1 < pl.n; i++) {
		if (strcmp(pl.paths[i], "/"))
			continue;
		char *root = pl.paths[i];

		memmove(&pl.paths[i], &pl.paths[i + 1],
			(pl.n - i - 1) * sizeof(char *));
		pl.paths[pl.n - 1] = root;
		break;
	}
	*paths = pl.paths;
	*n = pl.n;
	return 0;
}

void fsfreeze_plan_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

static void set_reason(struct fsfreeze *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
	va_end(ap);
}

/* Runs a hook; 0 when it exited 0. */
static int run_hook(struct fsfreeze *f, const char *hook, const char *arg,
		    int *status)
{
	char *argv[3] = { (char *)hook, (char *)arg, NULL };
	struct os_exec_result res;
	int rc = os_exec_run(hook, argv, NULL, 0, (int)f->hook_timeout_ms,
			     &res);

	*status = rc ? rc : res.exit_status;
	return rc ? rc : (res.exit_status ? -ECANCELED : 0);
}

/* Thaws everything frozen, newest first. Caller holds f->mu. Returns 0
 * or the first FITHAW errno. */
static int thaw_locked(struct fsfreeze *f)
{
	int first_err = 0;

	while (f->n_frozen) {
		int fd = f->fds[--f->n_frozen];

		/* EINVAL: someone else thawed it already; nothing is lost. */
		if (ioctl(fd, FITHAW, 0) && errno != EINVAL && !first_err) {
			first_err = -errno;
			set_reason(f, "FITHAW failed: %s", strerror(errno));
		}
		close(fd);
	}
	if (f->frozen && f->frozen_cb)
		f->frozen_cb(0);
	f->frozen = 0;
	if (f->post_hook) {
		int st;

		if (run_hook(f, f->post_hook, "thaw", &st) && !first_err)
			set_reason(f, "post-thaw hook %s failed (status %d)",
				   f->post_hook, st);
	}
	return first_err;
}

/* Notes a mount point that was not frozen, for the reason of a freeze
 * that froze nothing. */
static int skip(struct fsfreeze *f, const char *path, const char *why)
{
	size_t n = strlen(f->skipped);

	snprintf(f->skipped + n, sizeof(f->skipped) - n, "%s%s (%s)",
		 n ? ", " : "", path, why);
	return 0;
}

/* Freezes one mount point: 1 frozen (fd kept), 0 skipped, -errno. */
static int freeze_one(struct fsfreeze *f, const char *path)
{
	struct statvfs sv;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		set_reason(f, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		close(fd);
		return skip(f, path, "read-only");
	}
	if (ioctl(fd, FIFREEZE, 0) == 0) {
		f->fds[f->n_frozen++] = fd;
		return 1;
	}
	int e = errno;

	close(fd);
	/* EBUSY: already frozen, by an earlier path of this set on the same
	 * filesystem (a second mount, a btrfs subvolume) or by someone else.
	 * It is frozen for the snapshot either way, and we must not thaw
	 * what we did not freeze; hv_vss_daemon skips it too. */
	if (e == EBUSY)
		return skip(f, path, "frozen by someone else");
	if (e == EOPNOTSUPP || e == ENOTTY)
		return skip(f, path, "its file system cannot be frozen");
	set_reason(f, "FIFREEZE %s failed: %s", path, strerror(e));
	return -e;
}

static void arm_watchdog(struct fsfreeze *f)
{
	clock_gettime(CLOCK_MONOTONIC, &f->deadline);
	f->deadline.tv_sec += f->timeout_ms / 1000;
	f->deadline.tv_nsec += (long)(f->timeout_ms % 1000) * 1000000;
	if (f->deadline.tv_nsec >= 1000000000) {
		f->deadline.tv_sec++;
		f->deadline.tv_nsec -= 1000000000;
	}
	pthread_cond_signal(&f->cv);
}

static int freeze_locked(struct fsfreeze *f)
{
	struct fsfreeze_config cfg = {
		.mounts = (const char *const *)f->mounts,
		.n_mounts = f->n_mounts, .mountinfo = f->mountinfo,
	};
	char **paths;
	size_t n;
	int rc, st;

	f->reason[0] = '\0';
	f->skipped[0] = '\0';
	if (f->frozen) {
		set_reason(f, "already frozen");
		return -EALREADY;
	}
	rc = fsfreeze_plan(&cfg, &paths, &n);
	if (rc) {
		set_reason(f, "cannot list mounts: %s", strerror(-rc));
		return rc;
	}
	free(f->fds);
	f->fds = calloc(n ? n : 1, sizeof(int));
	if (!f->fds) {
		fsfreeze_plan_free(paths, n);
		set_reason(f, "out of memory");
		return -ENOMEM;
	}
	if (f->pre_hook && run_hook(f, f->pre_hook, "freeze", &st)) {
		fsfreeze_plan_free(paths, n);
		set_reason(f, "pre-freeze hook %s failed (status %d)",
			   f->pre_hook, st);
		return -ECANCELED;
	}
	f->frozen = 1;	/* from here on a thaw (and the post hook) is due */
	if (f->frozen_cb)
		f->frozen_cb(1);
	rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = freeze_one(f, paths[i]);
	fsfreeze_plan_free(paths, n);
	if (rc < 0) {
		char why[REASON_SIZE];

		memcpy(why, f->reason, sizeof(why));
		thaw_locked(f);
		memcpy(f->reason, why, sizeof(why));
		return rc;
	}
	f->last_count = f->n_frozen;
	f->timed_out = 0;
	if (!f->n_frozen)
		set_reason(f, n ? "nothing frozen: %s" : "no file system to "
			   "freeze", f->skipped);
	arm_watchdog(f);
	return 0;
}

int fsfreeze_freeze(struct fsfreeze *f)
{
	pthread_mutex_lock(&f->mu);
	int rc = freeze_locked(f);

	if (rc)
		f->st.failures++;
	else
		f->st.freezes++;
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int fsfreeze_thaw(struct fsfreeze *f)
{
	int rc = 0;

	pthread_mutex_lock(&f->mu);
	if (f->frozen) {
		rc = thaw_locked(f);
		if (rc)
			f->st.failures++;
		else
			f->st.thaws++;
	} else if (f->timed_out) {
		f->timed_out = 0;
		rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static int deadline_passed(const struct timespec *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->tv_sec ||
	       (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

static void *watchdog_main(void *arg)
{
	struct fsfreeze *f = arg;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		if (!f->frozen) {
			pthread_cond_wait(&f->cv, &f->mu);
			continue;
		}
		if (!deadline_passed(&f->deadline)) {
			pthread_cond_timedwait(&f->cv, &f->mu, &f->deadline);
			continue;
		}
		thaw_locked(f);
		f->timed_out = 1;
		f->st.auto_thaws++;
		set_reason(f, "no thaw within %u ms: thawed automatically",
			   f->timeout_ms);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

static char *dup_opt(const char *s, int *fail)
{
	if (!s)
		return NULL;
	char *d = strdup(s);

	if (!d)
		*fail = 1;
	return d;
}

static void free_cfg(struct fsfreeze *f)
{
	for (size_t i = 0; f->mounts && i < f->n_mounts; i++)
		free(f->mounts[i]);
	free(f->mounts);
	free(f->mountinfo);
	free(f->pre_hook);
	free(f->post_hook);
	free(f->fds);
}

static int copy_cfg(struct fsfreeze *f, const struct fsfreeze_config *cfg)
{
	int fail = 0;

	f->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	f->hook_timeout_ms = cfg->hook_timeout_ms ? cfg->hook_timeout_ms
						  : DEFAULT_TIMEOUT_MS;
	f->frozen_cb = cfg->frozen;
	f->mountinfo = dup_opt(cfg->mountinfo, &fail);
	f->pre_hook = dup_opt(cfg->pre_freeze_hook, &fail);
	f->post_hook = dup_opt(cfg->post_thaw_hook, &fail);
	if (cfg->mounts) {
		f->mounts = calloc(cfg->n_mounts ? cfg->n_mounts : 1,
				   sizeof(char *));
		if (!f->mounts)
			return -ENOMEM;
		f->n_mounts = cfg->n_mounts;
		for (size_t i = 0; i < cfg->n_mounts; i++)
			f->mounts[i] = dup_opt(cfg->mounts[i], &fail);
	}
	return fail ? -ENOMEM : 0;
}

int fsfreeze_create(const struct fsfreeze_config *cfg, struct fsfreeze **out)
{
	struct fsfreeze *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;
	int rc;

	if (!f)
		return -ENOMEM;
	rc = copy_cfg(f, cfg);
	if (rc)
		goto fail;
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = -pthread_create(&f->watchdog, NULL, watchdog_main, f);
	if (rc) {
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		goto fail;
	}
	*out = f;
	return 0;
fail:
	free_cfg(f);
	free(f);
	return rc;
}

void fsfreeze_destroy(struct fsfreeze *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	if (f->frozen)
		thaw_locked(f);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->watchdog, NULL);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free_cfg(f);
	free(f);
}

int fsfreeze_is_frozen(struct fsfreeze *f)
{
	pthread_mutex_lock(&f->mu);
	int r = f->frozen;

	pthread_mutex_unlock(&f->mu);
	return r;
}

size_t fsfreeze_frozen_count(struct fsfreeze *f)
{
	pthread_mutex_lock(&f->mu);
	size_t n = f->last_count;

	pthread_mutex_unlock(&f->mu);
	return n;
}

void fsfreeze_get_stats(struct fsfreeze *f, struct fsfreeze_stats *st)
{
	pthread_mutex_lock(&f->mu);
	*st = f->st;
	pthread_mutex_unlock(&f->mu);
}

void fsfreeze_reason(struct fsfreeze *f, char *buf, size_t cap)
{
	if (!cap)
		return;
	pthread_mutex_lock(&f->mu);
	snprintf(buf, cap, "%s", f->reason);
	pthread_mutex_unlock(&f->mu);
}
