/* Logging: line format, level filter, truncation of long messages, the
 * hold while filesystems are frozen. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_log.h"

/* Run fn with stderr redirected into a pipe; returns what it wrote. */
static size_t capture(void (*fn)(void), char *out, size_t cap)
{
	int p[2], saved;
	ssize_t n;

	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], out, cap - 1);
	close(p[0]);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void log_some(void)
{
	rt_log_init("/usr/bin/hvis-test", RT_LOG_INFO);
	rt_info("vmbus", "offer %d", 7);
	rt_dbg("vmbus", "filtered out");
	rt_err("kvp", "bad %s", "pool");
}

static void test_format_and_filter(void **state)
{
	char got[512], want[512];

	(void)state;
	capture(log_some, got, sizeof(got));
	snprintf(want, sizeof(want),
		 "hvis-test[%d]: vmbus: offer 7\nhvis-test[%d]: kvp: bad pool\n",
		 (int)getpid(), (int)getpid());
	assert_string_equal(got, want);
}

static void log_long(void)
{
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rt_log_init("p", RT_LOG_DEBUG);
	rt_dbg("c", "%s", big);
}

static void test_truncation(void **state)
{
	char got[4096];
	size_t n;

	(void)state;
	n = capture(log_long, got, sizeof(got));
	/* One line, cut short, still ending in a newline. */
	assert_true(n > 100 && n < 2000);
	assert_int_equal(got[n - 1], '\n');
	assert_null(memchr(got, '\n', n - 1));
}

/* Text from a peer inside a message: line breaks, escape sequences and
 * C1 controls come out as \xNN, so one event stays one line; UTF-8 text
 * passes as it is. */
static void log_hostile(void)
{
	rt_log_init("p", RT_LOG_INFO);
	rt_warn("kvp", "key '%s'", "a\nhvis-host[1]: vm: forged\r\x1b[31m\x7f"
		"\xc2\x9b" "2J \xc3\xa9" "t\xc3\xa9");
}

static void test_escape(void **state)
{
	char got[512], want[512];

	(void)state;
	capture(log_hostile, got, sizeof(got));
	snprintf(want, sizeof(want), "p[%d]: kvp: key 'a\\x0ahvis-host[1]: "
		 "vm: forged\\x0d\\x1b[31m\\x7f\\x9b2J \xc3\xa9" "t\xc3\xa9'\n",
		 (int)getpid());
	assert_string_equal(got, want);
}

/* Lines logged while held reach stderr only at the last release, in
 * order; what does not fit is counted. */
static void test_hold(void **state)
{
	char got[RT_LOG_HOLD_BYTES + 4096], big[1000], want[256];
	int p[2], saved;
	ssize_t n;

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) > 0, 1);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	rt_log_init("h", RT_LOG_INFO);
	rt_log_hold();
	rt_info("a", "one");
	rt_log_hold();
	rt_info("b", "two");
	rt_log_release();
	n = read(p[0], got, sizeof(got));
	assert_true(n < 0); /* still held */
	rt_log_release();
	n = read(p[0], got, sizeof(got) - 1);
	assert_true(n > 0);
	got[n] = '\0';
	snprintf(want, sizeof(want), "h[%d]: a: one\nh[%d]: b: two\n",
		 (int)getpid(), (int)getpid());
	assert_string_equal(got, want);

	/* 100 lines of about 1 KiB: the hold keeps as many whole lines as
	 * fit, counts the rest. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rt_log_hold();
	for (int i = 0; i < 100; i++)
		rt_info("c", "%s", big);
	rt_log_release();
	rt_info("d", "after");
	n = read(p[0], got, sizeof(got) - 1);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[0]);
	close(p[1]);
	assert_true(n > 0);
	got[n] = '\0';
	size_t lines = 0, line_len, kept;
	for (char *c = got; (c = strchr(c, '\n')); c++)
		lines++;
	line_len = (size_t)snprintf(NULL, 0, "h[%d]: c: \n", (int)getpid()) +
		   strlen(big);
	kept = RT_LOG_HOLD_BYTES / line_len;
	assert_int_equal(lines, kept + 2);
	snprintf(want, sizeof(want), "log: %zu lines dropped while held\n",
		 100 - kept);
	assert_non_null(strstr(got, want));
	assert_non_null(strstr(got, ": d: after\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_filter),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
