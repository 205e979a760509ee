/* Time sync sinks: the clock decision as a pure function and the clock
 * sink's system call refused without privilege (this machine's clock is
 * never touched), chrony's sample layout, statistics, and the
 * chrony sink against the real chronyd (-x: it never steers the clock)
 * when installed and running as root. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <grp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_util.h"
#include "timesync_sink.h"

#define MS 1000000LL

static void test_plan(void **state)
{
	struct tsync_adjust a;

	(void)state;
	tsync_plan(0, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_NONE);
	tsync_plan(5 * MS, 0, 10 * MS, &a);
	assert_int_equal(a.action, TSYNC_ACT_NONE);

	tsync_plan(3 * MS, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_SLEW);
	assert_int_equal(a.tx.modes, ADJ_OFFSET | ADJ_NANO | ADJ_STATUS);
	assert_int_equal(a.tx.offset, 3 * MS);
	assert_int_equal(a.tx.status, STA_PLL);
	tsync_plan(-499 * MS, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_SLEW);
	assert_int_equal(a.tx.offset, -499 * MS);

	/* Default threshold 500 ms: step, relative, ns in [0, 1e9). */
	tsync_plan(500 * MS, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_STEP);
	assert_int_equal(a.tx.modes, ADJ_SETOFFSET | ADJ_NANO);
	assert_int_equal(a.tx.time.tv_sec, 0);
	assert_int_equal(a.tx.time.tv_usec, 500 * MS);
	tsync_plan(-2500 * MS, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_STEP);
	assert_int_equal(a.tx.time.tv_sec, -3);
	assert_int_equal(a.tx.time.tv_usec, 500 * MS);
	tsync_plan(-3000 * MS, 0, 0, &a);
	assert_int_equal(a.tx.time.tv_sec, -3);
	assert_int_equal(a.tx.time.tv_usec, 0);

	/* A larger threshold slews, clamped to what the PLL takes. */
	tsync_plan(800 * MS, 2000 * MS, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_SLEW);
	assert_int_equal(a.tx.offset, 500 * MS - 1);
	tsync_plan(-800 * MS, 2000 * MS, 0, &a);
	assert_int_equal(a.tx.offset, -(500 * MS - 1));
	/* Nothing to do: apply does not touch the clock. */
	tsync_plan(0, 0, 0, &a);
	assert_int_equal(tsync_apply(&a), 0);
}

static void test_sock_sample_layout(void **state)
{
	struct tsync_sock_sample s;
	struct timespec at = { .tv_sec = 1700000000, .tv_nsec = 123456789 };

	(void)state;
	/* chrony's struct sock_sample on LP64. */
	assert_int_equal(sizeof(s), 40);
	assert_int_equal(offsetof(struct tsync_sock_sample, offset), 16);
	assert_int_equal(offsetof(struct tsync_sock_sample, pulse), 24);
	assert_int_equal(offsetof(struct tsync_sock_sample, leap), 28);
	assert_int_equal(offsetof(struct tsync_sock_sample, magic), 36);
	tsync_sock_sample_build(&s, &at, -1500000, 0);
	assert_int_equal(s.tv.tv_sec, 1700000000);
	assert_int_equal(s.tv.tv_usec, 123456);
	assert_true(fabs(s.offset - (-0.0015)) < 1e-12);
	assert_int_equal(s.pulse, 0);
	assert_int_equal(s.magic, 0x534f434b);
}

static void test_report_stats(void **state)
{
	struct tsync_config cfg = { .mode = TSYNC_REPORT };
	struct tsync_sink *s;
	struct tsync_status st;
	struct timespec at = { 100, 5 };

	(void)state;
	assert_int_equal(tsync_sink_open(&cfg, &s), 0);
	assert_int_equal(tsync_sink_sample(s, 10 * MS, NULL), 0);
	assert_int_equal(tsync_sink_sample(s, -4 * MS, NULL), 0);
	assert_int_equal(tsync_sink_sample(s, 3 * MS, &at), 0);
	tsync_sink_status(s, &st);
	assert_int_equal(st.samples, 3);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.last_ns, 3 * MS);
	assert_int_equal(st.min_ns, -4 * MS);
	assert_int_equal(st.max_ns, 10 * MS);
	assert_int_equal(st.mean_ns, 3 * MS);
	assert_int_equal(st.last_at.tv_sec, 100);
	assert_int_equal(st.steps + st.slews, 0);
	tsync_sink_close(s);

	struct tsync_config bad = { .mode = TSYNC_CHRONY };

	assert_int_equal(tsync_sink_open(&bad, &s), -EINVAL);
}

/* The clock sink's real system call, without touching the clock: a
 * process without CAP_SYS_TIME (root drops to nobody in a child) is
 * refused by the kernel, and the sink reports and counts it; a sample
 * inside the deadband makes no call at all. Returns the child's verdict:
 * 0, or the number of the check that failed. */
static int clock_child(void)
{
	struct tsync_config cfg = { .mode = TSYNC_CLOCK, .deadband_ns = MS };
	struct tsync_sink *s;
	struct tsync_status st;

	if (geteuid() == 0 &&
	    (setgroups(0, NULL) || setgid(65534) || setuid(65534)))
		return 1;
	if (tsync_sink_open(&cfg, &s))
		return 2;
	if (tsync_sink_sample(s, 2000 * MS, NULL) != -EPERM) /* step */
		return 3;
	if (tsync_sink_sample(s, 20 * MS, NULL) != -EPERM) /* slew */
		return 4;
	if (tsync_sink_sample(s, MS / 2, NULL) != 0) /* deadband */
		return 5;
	tsync_sink_status(s, &st);
	tsync_sink_close(s);
	if (st.samples != 3 || st.errors != 2 || st.last_errno != EPERM ||
	    st.steps + st.slews != 0)
		return 6;
	return 0;
}

static void test_clock_sink_unprivileged(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(clock_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The extremes a hostile host can produce (gic_ts passes offsets up to
 * INT64_MAX / 100 * 100): the step splits without overflow, and the mean
 * stays on the side of its samples, where a double of 2^63 converted
 * back to int64_t would not. */
static void test_extremes(void **state)
{
	struct tsync_config cfg = { .mode = TSYNC_REPORT };
	struct tsync_adjust a;
	struct tsync_status st;
	struct tsync_sink *s;

	(void)state;
	tsync_plan(INT64_MIN, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_STEP);
	assert_int_equal(a.tx.time.tv_sec, INT64_MIN / 1000000000 - 1);
	assert_int_equal(a.tx.time.tv_usec,
			 1000000000 + INT64_MIN % 1000000000);
	tsync_plan(INT64_MIN + 2, 0, INT64_MAX, &a);
	assert_int_equal(a.action, TSYNC_ACT_NONE);
	tsync_plan(INT64_MAX, 0, 0, &a);
	assert_int_equal(a.action, TSYNC_ACT_STEP);
	assert_int_equal(a.tx.time.tv_sec, INT64_MAX / 1000000000);

	assert_int_equal(tsync_sink_open(&cfg, &s), 0);
	assert_int_equal(tsync_sink_sample(s, INT64_MAX / 100 * 100, NULL), 0);
	tsync_sink_status(s, &st);
	assert_true(st.mean_ns > INT64_MAX / 2);
	assert_int_equal(tsync_sink_sample(s, INT64_MAX, NULL), 0);
	tsync_sink_status(s, &st);
	assert_true(st.mean_ns > INT64_MAX / 2);
	tsync_sink_close(s);
	assert_int_equal(tsync_sink_open(&cfg, &s), 0);
	assert_int_equal(tsync_sink_sample(s, INT64_MIN, NULL), 0);
	tsync_sink_status(s, &st);
	assert_int_equal(st.mean_ns, INT64_MIN);
	tsync_sink_close(s);
}

/* Nobody listening: a counted error, not a hang or crash. */
static void test_chrony_without_daemon(void **state)
{
	struct tsync_config cfg = { .mode = TSYNC_CHRONY,
				    .chrony_socket = "/nonexistent/hvis.sock" };
	struct tsync_sink *s;
	struct tsync_status st;

	(void)state;
	assert_int_equal(tsync_sink_open(&cfg, &s), 0);
	assert_true(tsync_sink_sample(s, MS, NULL) < 0);
	tsync_sink_status(s, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.last_errno, ENOENT);
	tsync_sink_close(s);
}

static int find_chronyd(char *path, size_t cap)
{
	static const char *const cand[] = { "/usr/sbin/chronyd",
					    "/sbin/chronyd" };

	for (size_t i = 0; i < 2; i++) {
		if (access(cand[i], X_OK) == 0) {
			snprintf(path, cap, "%s", cand[i]);
			return 0;
		}
	}
	return -1;
}

/* Reach column (octal) of refid HV in `chronyc -c sources`, or -1. */
static int hv_reach(const char *dir)
{
	char cmd[300], line[512];
	int reach = -1;

	snprintf(cmd, sizeof(cmd),
		 "chronyc -h %s/chronyd.sock -c sources 2>/dev/null", dir);
	FILE *p = popen(cmd, "r");

	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char name[64];
		unsigned r;

		/* mode,state,name,stratum,poll,reach,... */
		if (sscanf(line, "%*[^,],%*[^,],%63[^,],%*[^,],%*[^,],%o",
			   name, &r) == 2 && !strcmp(name, "HV"))
			reach = (int)r;
	}
	pclose(p);
	return reach;
}

static void test_chrony_refclock(void **state)
{
	char chronyd[64], dir[64], conf[128], body[1024], sock[128];
	char path[160], logbuf[8192];

	(void)state;
	if (geteuid() != 0 || find_chronyd(chronyd, sizeof(chronyd)) ||
	    access("/usr/bin/chronyc", X_OK))
		skip();
	assert_int_equal(gt_mkdtemp("chrony", dir, sizeof(dir)), 0);
	/* chronyd refuses a command socket in a directory others can
	 * enter. */
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(sock, sizeof(sock), "%s/hvis.sock", dir);
	snprintf(conf, sizeof(conf), "%s/chrony.conf", dir);
	snprintf(body, sizeof(body),
		 "refclock SOCK %s refid HV poll 0\n"
		 "bindcmdaddress %s/chronyd.sock\ncmdport 0\nport 0\n"
		 "pidfile %s/chronyd.pid\ndriftfile %s/drift\n"
		 "logdir %s\nlog refclocks\n", sock, dir, dir, dir, dir);
	assert_int_equal(gt_write_file(conf, body, strlen(body), 0644), 0);

	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		snprintf(path, sizeof(path), "%s/chronyd.out", dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(chronyd, "chronyd", "-x", "-d", "-u", "root", "-f", conf,
		      (char *)NULL);
		_exit(127);
	}
	/* Wait for the refclock socket. */
	for (int i = 0; i < 100 && access(sock, F_OK); i++)
		usleep(50 * 1000);

	struct tsync_config cfg = { .mode = TSYNC_CHRONY,
				    .chrony_socket = sock };
	struct tsync_sink *s;
	struct tsync_status st;
	int reach = -1;

	assert_int_equal(tsync_sink_open(&cfg, &s), 0);
	/* 2.5 ms: the guest is behind the host. */
	for (int i = 0; i < 60 && reach <= 0; i++) {
		tsync_sink_sample(s, 2500000, NULL);
		usleep(100 * 1000);
		if (i >= 25 && i % 5 == 0)
			reach = hv_reach(dir);
	}
	tsync_sink_status(s, &st);
	tsync_sink_close(s);
	kill(pid, SIGTERM);
	int wst;

	waitpid(pid, &wst, 0);
	snprintf(path, sizeof(path), "%s/refclocks.log", dir);
	ssize_t n = gt_read_file(path, logbuf, sizeof(logbuf));

	if (reach <= 0) {
		snprintf(path, sizeof(path), "%s/chronyd.out", dir);
		gt_read_file(path, logbuf, sizeof(logbuf));
		print_error("chronyd output:\n%s\n", logbuf);
	}
	gt_rm_rf(dir);
	assert_true(reach > 0);
	assert_true(st.samples >= 25);
	assert_true(st.errors <= 2);	/* chronyd may start slowly */
	/* chronyd logged our raw samples: refid HV, offset 2.5e-3 s. */
	assert_true(n > 0);
	assert_non_null(strstr(logbuf, " HV "));
	assert_non_null(strstr(logbuf, "2.500000e-03"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_sock_sample_layout),
		cmocka_unit_test(test_report_stats),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_clock_sink_unprivileged),
		cmocka_unit_test(test_chrony_without_daemon),
		cmocka_unit_test(test_chrony_refclock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
