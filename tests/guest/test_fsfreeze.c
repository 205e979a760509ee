/* fsfreeze on a real ext4 filesystem on a loop device (root only). The
 * freeze set is always restricted to that one mount: the machine's own
 * filesystems are never frozen. The mountinfo selection is tested on a
 * fake mountinfo file, without freezing anything. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "fsfreeze.h"
#include "guest_util.h"

struct ffx {
	char dir[64];
	char img[128];
	char mnt[128];
	char loopdev[64];
	int mounted;
};

static struct ffx *g_fx;	/* for the emergency thaw at exit */

static int run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");

	if (!p)
		return -1;
	size_t n = out ? fread(out, 1, cap - 1, p) : 0;

	if (out)
		out[n] = '\0';
	return pclose(p);
}

/* Whatever happens to the test, the loop filesystem must not stay
 * frozen (it would hang the umount and anything touching it). */
static void emergency_thaw(void)
{
	if (!g_fx || !g_fx->mounted)
		return;
	int fd = open(g_fx->mnt, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		ioctl(fd, FITHAW, 0);
		close(fd);
	}
}

static int cleanup(struct ffx *fx)
{
	char cmd[256];

	emergency_thaw();
	if (fx->mounted && umount2(fx->mnt, MNT_DETACH) == 0)
		fx->mounted = 0;
	if (fx->loopdev[0]) {
		snprintf(cmd, sizeof(cmd), "losetup -d %s", fx->loopdev);
		run(cmd, NULL, 0);
		fx->loopdev[0] = '\0';
	}
	gt_rm_rf(fx->dir);
	return 0;
}

static int group_setup(void **state)
{
	char cmd[512];

	*state = NULL;
	if (geteuid() != 0 || access("/dev/loop-control", F_OK) ||
	    access("/sbin/mkfs.ext4", X_OK)) {
		print_message("needs root, loop devices and mkfs.ext4\n");
		return 0;
	}
	struct ffx *fx = calloc(1, sizeof(*fx));

	if (!fx || gt_mkdtemp("fsfreeze", fx->dir, sizeof(fx->dir)))
		return -1;
	g_fx = fx;
	atexit(emergency_thaw);
	snprintf(fx->img, sizeof(fx->img), "%s/img", fx->dir);
	snprintf(fx->mnt, sizeof(fx->mnt), "%s/mnt", fx->dir);
	mkdir(fx->mnt, 0755);
	snprintf(cmd, sizeof(cmd), "truncate -s 32M %s && mkfs.ext4 -q %s",
		 fx->img, fx->img);
	if (run(cmd, NULL, 0))
		goto skip;
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s", fx->img);
	if (run(cmd, fx->loopdev, sizeof(fx->loopdev)) || !fx->loopdev[0])
		goto skip;
	fx->loopdev[strcspn(fx->loopdev, "\n")] = '\0';
	if (mount(fx->loopdev, fx->mnt, "ext4", 0, NULL))
		goto skip;
	fx->mounted = 1;
	*state = fx;
	return 0;
skip:
	print_message("no loop device / mount available: skipped\n");
	cleanup(fx);
	free(fx);
	g_fx = NULL;
	return 0;
}

static int group_teardown(void **state)
{
	struct ffx *fx = *state;

	if (fx) {
		cleanup(fx);
		g_fx = NULL;
		free(fx);
	}
	return 0;
}

#define NEED_LOOP(fx) do { if (!(fx)) skip(); } while (0)

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A child that writes and fsyncs a file on the loop fs, then reports on
 * a pipe. Returns the read end; *pid the child. */
static int start_writer(struct ffx *fx, const char *name, pid_t *pid)
{
	int p[2];
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", fx->mnt, name);
	assert_int_equal(pipe(p), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		close(p[0]);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || write(fd, "data", 4) != 4 || fsync(fd))
			_exit(1);
		close(fd);
		if (write(p[1], "k", 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	return p[0];
}

/* 1 when the writer reported within ms. */
static int writer_done(int fd, int ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&pf, 1, ms) == 1 && read(fd, &c, 1) == 1;
}

static void reap(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The freeze-window callback's calls, "1" and "0" in order; read after a
 * call that takes the module's lock (the watchdog calls it too). */
static char window[16];

static void record_window(int on)
{
	size_t n = strlen(window);

	if (n + 1 < sizeof(window))
		window[n] = on ? '1' : '0';
}

static struct fsfreeze *make(struct ffx *fx, unsigned timeout_ms,
			     const char *pre, const char *post)
{
	const char *mounts[] = { fx->mnt };
	struct fsfreeze_config cfg = {
		.mounts = mounts, .n_mounts = 1, .timeout_ms = timeout_ms,
		.pre_freeze_hook = pre, .post_thaw_hook = post,
		.hook_timeout_ms = 5000, .frozen = record_window,
	};
	struct fsfreeze *f = NULL;

	memset(window, 0, sizeof(window));
	assert_int_equal(fsfreeze_create(&cfg, &f), 0);
	return f;
}

static void test_freeze_blocks_writer_until_thaw(void **state)
{
	struct ffx *fx = *state;
	struct fsfreeze_stats st;
	pid_t pid;

	NEED_LOOP(fx);
	struct fsfreeze *f = make(fx, 20000, NULL, NULL);

	assert_int_equal(fsfreeze_freeze(f), 0);
	assert_true(fsfreeze_is_frozen(f));
	assert_int_equal(fsfreeze_frozen_count(f), 1);
	assert_int_equal(fsfreeze_freeze(f), -EALREADY);
	assert_string_equal(window, "1");
	int rd = start_writer(fx, "blocked", &pid);

	assert_false(writer_done(rd, 500));
	assert_int_equal(fsfreeze_thaw(f), 0);
	assert_true(writer_done(rd, 10000));
	reap(pid);
	close(rd);
	assert_false(fsfreeze_is_frozen(f));
	assert_int_equal(fsfreeze_thaw(f), 0);
	assert_string_equal(window, "10");
	fsfreeze_get_stats(f, &st);
	assert_int_equal(st.freezes, 1);
	assert_int_equal(st.thaws, 1);
	assert_int_equal(st.auto_thaws, 0);
	fsfreeze_destroy(f);
}

static void test_timeout_auto_thaw(void **state)
{
	struct ffx *fx = *state;
	struct fsfreeze_stats st;
	char why[256];
	pid_t pid;

	NEED_LOOP(fx);
	struct fsfreeze *f = make(fx, 600, NULL, NULL);

	assert_int_equal(fsfreeze_freeze(f), 0);
	int64_t t0 = mono_ms();
	int rd = start_writer(fx, "auto", &pid);

	/* Nobody thaws: the watchdog does, and the write completes. */
	assert_true(writer_done(rd, 10000));
	assert_true(mono_ms() - t0 >= 400);
	reap(pid);
	close(rd);
	assert_false(fsfreeze_is_frozen(f));
	assert_string_equal(window, "10"); /* the watchdog closed it */
	fsfreeze_get_stats(f, &st);
	assert_int_equal(st.auto_thaws, 1);
	fsfreeze_reason(f, why, sizeof(why));
	assert_non_null(strstr(why, "thawed automatically"));
	/* The late thaw is told the snapshot window was broken, once. */
	assert_int_equal(fsfreeze_thaw(f), -ETIMEDOUT);
	assert_int_equal(fsfreeze_thaw(f), 0);
	fsfreeze_destroy(f);
}

static void test_failing_pre_hook_aborts(void **state)
{
	struct ffx *fx = *state;
	char hook[256], why[256];
	pid_t pid;

	NEED_LOOP(fx);
	snprintf(hook, sizeof(hook), "%s/pre-fail", fx->dir);
	assert_int_equal(gt_write_file(hook, "#!/bin/sh\nexit 3\n", 17, 0755),
			 0);
	struct fsfreeze *f = make(fx, 20000, hook, NULL);

	assert_int_equal(fsfreeze_freeze(f), -ECANCELED);
	assert_false(fsfreeze_is_frozen(f));
	assert_string_equal(window, ""); /* nothing was ever frozen */
	fsfreeze_reason(f, why, sizeof(why));
	assert_non_null(strstr(why, "pre-freeze hook"));
	assert_non_null(strstr(why, "status 3"));
	int rd = start_writer(fx, "free", &pid);

	assert_true(writer_done(rd, 5000));
	reap(pid);
	close(rd);
	fsfreeze_destroy(f);
}

static void test_hooks_run_in_order(void **state)
{
	struct ffx *fx = *state;
	char pre[256], post[256], log[256], body[512], got[256];

	NEED_LOOP(fx);
	snprintf(log, sizeof(log), "%s/hooks.log", fx->dir);
	snprintf(pre, sizeof(pre), "%s/pre", fx->dir);
	snprintf(post, sizeof(post), "%s/post", fx->dir);
	snprintf(body, sizeof(body), "#!/bin/sh\necho pre:$1 >> %s\n", log);
	assert_int_equal(gt_write_file(pre, body, strlen(body), 0755), 0);
	snprintf(body, sizeof(body), "#!/bin/sh\necho post:$1 >> %s\n", log);
	assert_int_equal(gt_write_file(post, body, strlen(body), 0755), 0);
	struct fsfreeze *f = make(fx, 20000, pre, post);

	assert_int_equal(fsfreeze_freeze(f), 0);
	assert_int_equal(fsfreeze_thaw(f), 0);
	assert_true(gt_read_file(log, got, sizeof(got)) > 0);
	assert_string_equal(got, "pre:freeze\npost:thaw\n");
	fsfreeze_destroy(f);
}

/* One bad mount in the set: what was frozen before it is thawed. */
static void test_failure_thaws_everything(void **state)
{
	struct ffx *fx = *state;
	char why[256];
	pid_t pid;

	NEED_LOOP(fx);
	const char *mounts[] = { fx->mnt, "/nonexistent-hvis-mount" };
	struct fsfreeze_config cfg = { .mounts = mounts, .n_mounts = 2,
				       .frozen = record_window };
	struct fsfreeze *f;

	memset(window, 0, sizeof(window));
	assert_int_equal(fsfreeze_create(&cfg, &f), 0);
	assert_int_equal(fsfreeze_freeze(f), -ENOENT);
	assert_false(fsfreeze_is_frozen(f));
	assert_string_equal(window, "10");
	fsfreeze_reason(f, why, sizeof(why));
	assert_non_null(strstr(why, "/nonexistent-hvis-mount"));
	int rd = start_writer(fx, "after-fail", &pid);

	assert_true(writer_done(rd, 5000));
	reap(pid);
	close(rd);
	fsfreeze_destroy(f);
}

/* Two paths on one filesystem: the second FIFREEZE finds it frozen
 * (EBUSY). That is not a failure, and only one thaw is owed. */
static void test_same_filesystem_twice(void **state)
{
	struct ffx *fx = *state;
	char again[sizeof(fx->mnt) + 2];
	pid_t pid;

	NEED_LOOP(fx);
	snprintf(again, sizeof(again), "%s/.", fx->mnt);
	const char *mounts[] = { fx->mnt, again };
	struct fsfreeze_config cfg = { .mounts = mounts, .n_mounts = 2 };
	struct fsfreeze *f;

	assert_int_equal(fsfreeze_create(&cfg, &f), 0);
	assert_int_equal(fsfreeze_freeze(f), 0);
	assert_int_equal(fsfreeze_frozen_count(f), 1);
	int rd = start_writer(fx, "twice", &pid);

	assert_false(writer_done(rd, 300));
	assert_int_equal(fsfreeze_thaw(f), 0);
	assert_true(writer_done(rd, 10000));
	reap(pid);
	close(rd);
	fsfreeze_destroy(f);
}

/* destroy while frozen thaws. */
static void test_destroy_thaws(void **state)
{
	struct ffx *fx = *state;
	pid_t pid;

	NEED_LOOP(fx);
	struct fsfreeze *f = make(fx, 20000, NULL, NULL);

	assert_int_equal(fsfreeze_freeze(f), 0);
	fsfreeze_destroy(f);
	int rd = start_writer(fx, "after-destroy", &pid);

	assert_true(writer_done(rd, 5000));
	reap(pid);
	close(rd);
}

static const char fake_mountinfo[] =
	"22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
	"1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"30 1 8:2 / /home rw - xfs /dev/sda2 rw\n"
	"31 1 8:3 / /srv\\040data rw master:2 shared:3 - ext4 /dev/sda3 rw\n"
	"32 1 8:4 / /ro ro,relatime - ext4 /dev/sda4 rw\n"
	"33 1 8:2 /sub /home2 rw - xfs /dev/sda2 rw\n"
	"34 1 0:40 / /tmp rw - tmpfs tmpfs rw\n"
	"35 1 0:41 / /net rw - nfs4 srv:/x rw\n"
	"36 1 8:5 / /boot/efi rw - vfat /dev/sda5 rw\n"
	"garbage line\n"
	"37 1 8:6 / relative rw - ext4 /dev/sda6 rw\n"
	"38 1 7:0 / /mnt/loop rw - ext4 /dev/loop0 rw\n";

static void test_plan_from_mountinfo(void **state)
{
	char dir[64], path[128];
	char **paths;
	size_t n;

	(void)state;
	assert_int_equal(gt_mkdtemp("mi", dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/mountinfo", dir);
	assert_int_equal(gt_write_file(path, fake_mountinfo,
				       strlen(fake_mountinfo), 0644), 0);
	struct fsfreeze_config cfg = { .mountinfo = path };

	assert_int_equal(fsfreeze_plan(&cfg, &paths, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(paths[0], "/home");
	assert_string_equal(paths[1], "/srv data");
	assert_string_equal(paths[2], "/mnt/loop");
	assert_string_equal(paths[3], "/");
	fsfreeze_plan_free(paths, n);
	gt_rm_rf(dir);
}

static void test_parse_mountinfo_line(void **state)
{
	char l1[] = "36 35 98:0 /mnt1 /mnt/par\\134ent rw,noatime master:1 "
		    "- ext3 /dev/root rw,errors=continue\n";
	char l2[] = "36 35 98:0 /mnt1 /mnt rw,noatime master:1 ext3";
	char l3[] = "36 35 98x0 /mnt1 /mnt rw - ext3 /dev/root rw";
	struct fsfreeze_mnt m;

	(void)state;
	assert_int_equal(fsfreeze_parse_mountinfo_line(l1, &m), 0);
	assert_int_equal(m.major, 98);
	assert_int_equal(m.minor, 0);
	assert_string_equal(m.mount_point, "/mnt/par\\ent");
	assert_string_equal(m.fstype, "ext3");
	assert_string_equal(m.source, "/dev/root");
	assert_string_equal(m.mount_opts, "rw,noatime");
	assert_int_equal(fsfreeze_parse_mountinfo_line(l2, &m), -EINVAL);
	assert_int_equal(fsfreeze_parse_mountinfo_line(l3, &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test(test_plan_from_mountinfo),
		cmocka_unit_test(test_parse_mountinfo_line),
	};
	const struct CMUnitTest loop[] = {
		cmocka_unit_test(test_freeze_blocks_writer_until_thaw),
		cmocka_unit_test(test_timeout_auto_thaw),
		cmocka_unit_test(test_failing_pre_hook_aborts),
		cmocka_unit_test(test_hooks_run_in_order),
		cmocka_unit_test(test_failure_thaws_everything),
		cmocka_unit_test(test_same_filesystem_twice),
		cmocka_unit_test(test_destroy_thaws),
	};
	int rc = cmocka_run_group_tests_name("mountinfo", plain, NULL, NULL);

	rc |= cmocka_run_group_tests_name("loop-ext4", loop, group_setup,
					  group_teardown);
	return rc;
}
