/* Filesystem freeze for VSS (the guest side of FREEZE/THAW): FIFREEZE on
 * each configured filesystem, "/" last, FITHAW in reverse order. Never
 * leaves a filesystem frozen: a failure part-way thaws what was frozen,
 * and a watchdog thread owned by the module thaws everything when the
 * thaw does not come within the timeout.
 *
 * The default set is every mount of /proc/self/mountinfo that is backed
 * by a /dev/ block device (as Linux's hv_vss_daemon selects), not
 * mounted read-only, not of a type that cannot be frozen (pseudo, FUSE,
 * vfat, iso9660...), once per device. Filesystems answering FIFREEZE with
 * EOPNOTSUPP or ENOTTY, or read-only at freeze time, are skipped.
 *
 * Hooks (optional): the pre-freeze hook runs with argument "freeze"
 * before anything is frozen, and a non-zero exit aborts the freeze; the
 * post-thaw hook runs with argument "thaw" after every thaw (requested,
 * failure clean-up or timeout). */
#ifndef HVIS_GUEST_FSFREEZE_H
#define HVIS_GUEST_FSFREEZE_H

#include <stddef.h>
#include <stdint.h>

struct fsfreeze_config {
	const char *const *mounts;	/* explicit mount points; NULL: all */
	size_t n_mounts;
	const char *mountinfo;		/* "/proc/self/mountinfo" */
	const char *pre_freeze_hook;	/* NULL: none */
	const char *post_thaw_hook;	/* NULL: none */
	unsigned timeout_ms;		/* auto-thaw after; 0: 30000 */
	unsigned hook_timeout_ms;	/* 0: 30000 */
	/* Called with 1 before the first FIFREEZE and with 0 once all is
	 * thawed again (on request, after a failure or by the watchdog),
	 * from the thread doing it: e.g. to keep log lines off the frozen
	 * filesystems meanwhile. NULL: none. */
	void (*frozen)(int on);
};

struct fsfreeze_stats {
	uint64_t freezes;	/* successful freezes */
	uint64_t thaws;		/* requested thaws that thawed something */
	uint64_t auto_thaws;	/* thaws done by the watchdog */
	uint64_t failures;	/* failed freezes and thaws */
};

struct fsfreeze;

/* Copies cfg (strings included) and starts the watchdog. 0 or -errno. */
int fsfreeze_create(const struct fsfreeze_config *cfg, struct fsfreeze **out);
/* Thaws whatever is still frozen, stops the watchdog, frees. */
void fsfreeze_destroy(struct fsfreeze *f);

/* 0, or -errno with the reason in fsfreeze_reason: -EALREADY when frozen,
 * -ECANCELED when the pre-freeze hook failed, the FIFREEZE errno
 * otherwise. On failure nothing is left frozen. 0 with nothing frozen
 * (fsfreeze_frozen_count 0: every mount skipped, or none to freeze) sets
 * the reason too, naming each mount skipped and why; a thaw is still due
 * (the post-thaw hook). */
int fsfreeze_freeze(struct fsfreeze *f);
/* 0; -ETIMEDOUT (once) when the watchdog had to thaw since the last
 * freeze, so the snapshot taken meanwhile must not be trusted; or the
 * FITHAW errno (the remaining filesystems are still thawed). Thawing
 * when nothing is frozen is not an error. */
int fsfreeze_thaw(struct fsfreeze *f);

int fsfreeze_is_frozen(struct fsfreeze *f);
/* Number of filesystems the last successful freeze froze. */
size_t fsfreeze_frozen_count(struct fsfreeze *f);
void fsfreeze_get_stats(struct fsfreeze *f, struct fsfreeze_stats *st);
/* Text of the last failure ("" if none). */
void fsfreeze_reason(struct fsfreeze *f, char *buf, size_t cap);

/* One parsed /proc/self/mountinfo line. Strings point into the line,
 * which is modified (octal escapes such as \040 decoded in place). */
struct fsfreeze_mnt {
	unsigned major, minor;
	const char *mount_point;
	const char *mount_opts;
	const char *fstype;
	const char *source;
};

/* 0 or -EINVAL for a malformed line. */
int fsfreeze_parse_mountinfo_line(char *line, struct fsfreeze_mnt *m);

/* The mount points a freeze with cfg would try, in freeze order. The
 * caller frees with fsfreeze_plan_free. 0 or -errno. */
int fsfreeze_plan(const struct fsfreeze_config *cfg, char ***paths,
		  size_t *n);
void fsfreeze_plan_free(char **paths, size_t n);

#endif
