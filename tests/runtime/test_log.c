/* Logging: line format, level filter, truncation of long messages. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_filter),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
