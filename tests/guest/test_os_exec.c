/* The helper-script runner with real scripts run by /bin/sh: what the
 * script inherits (signals, descriptors), its output, its exit status and
 * the deadline that kills its whole process group. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "guest_util.h"
#include "os_exec.h"

static int run_sh(const char *script, char *out, size_t cap, int timeout_ms,
		  struct os_exec_result *res)
{
	char *const argv[] = { "sh", "-c", (char *)script, NULL };

	return os_exec_run("/bin/sh", argv, out, cap, timeout_ms, res);
}

/* The hex mask of field ("SigBlk", "SigIgn") in the script's
 * /proc/self/status, as printed into out. */
static uint64_t mask_of(const char *out, const char *field)
{
	const char *p = strstr(out, field);

	assert_non_null(p);
	return strtoull(p + strlen(field) + 2, NULL, 16);
}

/* hvis-guest ignores SIGPIPE and may run a script from a thread that
 * blocks signals: the script must see neither. */
static void test_signals_reset(void **state)
{
	struct os_exec_result res;
	sigset_t block, old;
	char out[512];
	int rc;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = run_sh("grep -E '^Sig(Blk|Ign):' /proc/self/status", out,
		    sizeof(out), 5000, &res);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(rc, 0);
	assert_int_equal(res.exit_status, 0);
	assert_int_equal(mask_of(out, "SigBlk"), 0);
	assert_int_equal(mask_of(out, "SigIgn") & (1ull << (SIGPIPE - 1)), 0);
}

/* Descriptors of this process above 2 that an exec keeps (none, unless
 * the test's own parent handed some down). */
static int inheritable_fds(void)
{
	int n = 0;

	for (int fd = 3; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFD);

		if (fl >= 0 && !(fl & FD_CLOEXEC))
			n++;
	}
	return n;
}

/* The runner's own descriptors (the pipe's ends) stay out of the
 * script: it holds 0, 1, 2 and what this process would leak anyway. */
static void test_no_fd_leak(void **state)
{
	struct os_exec_result res;
	char out[256];

	(void)state;
	assert_int_equal(run_sh("ls /proc/self/fd | wc -l", out, sizeof(out),
				5000, &res), 0);
	/* 0, 1, 2 and the directory ls reads */
	assert_int_equal(atoi(out), 4 + inheritable_fds());
}

static void test_output_and_status(void **state)
{
	struct os_exec_result res;
	char out[8];

	(void)state;
	assert_int_equal(run_sh("printf abc; exit 3", out, sizeof(out), 5000,
				&res), 0);
	assert_int_equal(res.exit_status, 3);
	assert_string_equal(out, "abc");
	assert_false(res.truncated);
	/* more than fits: kept up to cap - 1, the rest drained */
	assert_int_equal(run_sh("head -c 100000 /dev/zero | tr '\\0' x", out,
				sizeof(out), 5000, &res), 0);
	assert_int_equal(res.exit_status, 0);
	assert_int_equal(res.out_len, 7);
	assert_string_equal(out, "xxxxxxx");
	assert_true(res.truncated);
	assert_int_equal(run_sh("kill -TERM $$", NULL, 0, 5000, &res), 0);
	assert_int_equal(res.exit_status, 128 + SIGTERM);
	assert_int_equal(os_exec_run("/nonexistent/script",
				     (char *const[]){ "x", NULL }, NULL, 0,
				     1000, &res), -ENOENT);
}

/* Running, not gone or a zombie waiting for its new parent. */
static bool alive(int pid)
{
	char path[64], stat[512], *rp;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (gt_read_file(path, stat, sizeof(stat)) <= 0)
		return false;
	rp = strrchr(stat, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

/* A script that hangs and leaves a child holding its stdout: both die
 * at the deadline. */
static void test_deadline_kills_group(void **state)
{
	struct os_exec_result res;
	struct timespec t0, t1;
	char out[64];
	double dt;
	int rc;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = run_sh("sleep 30 & echo $!; sleep 30", out, sizeof(out), 300,
		    &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) +
	     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(dt < 5);
	int child = atoi(out);

	assert_true(child > 0);
	for (int i = 0; i < 100 && alive(child); i++)
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	assert_false(alive(child));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signals_reset),
		cmocka_unit_test(test_no_fd_leak),
		cmocka_unit_test(test_output_and_status),
		cmocka_unit_test(test_deadline_kills_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
