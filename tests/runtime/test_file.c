/* rt_file_open against real files in a directory of the test's own: a
 * new file gets mode 0600, a FIFO is refused at once (no reader needed
 * to return), a symbolic link with O_NOFOLLOW and a file of another
 * user (as root) are refused and not truncated, the descriptor given
 * back blocks. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_file.h"

#define W_FLAGS (O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW)

static char dir[64], path[128], why[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/hvis-file-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static const char *at(const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void test_new_file(void **state)
{
	struct stat st;
	int fd;

	(void)state;
	fd = rt_file_open(at("new"), W_FLAGS, 0600, RT_FILE_MINE, why,
			  sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	/* again: truncated, as asked */
	fd = rt_file_open(at("new"), W_FLAGS, 0600, RT_FILE_MINE, why,
			  sizeof(why));
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
}

static void test_fifo(void **state)
{
	int fd;

	(void)state;
	assert_int_equal(mkfifo(at("fifo"), 0600), 0);
	/* no reader: a blocking open would never return */
	fd = rt_file_open(path, W_FLAGS, 0600, RT_FILE_MINE, why, sizeof(why));
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "not a regular file"));
	fd = rt_file_open(path, O_RDONLY, 0, 0, why, sizeof(why));
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "not a regular file"));
	fd = rt_file_open(dir, O_RDONLY, 0, 0, why, sizeof(why));
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "not a regular file"));
}

static void test_symlink(void **state)
{
	char target[128];
	struct stat st;
	int fd;

	(void)state;
	snprintf(target, sizeof(target), "%s", at("target"));
	fd = open(target, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(symlink(target, at("link")), 0);
	fd = rt_file_open(path, W_FLAGS, 0600, RT_FILE_MINE, why, sizeof(why));
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "symbolic link"));
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 4);
}

static void test_other_owner(void **state)
{
	struct stat st;
	int fd;

	(void)state;
	if (geteuid() != 0) {
		skip(); /* chown needs root */
		return;
	}
	fd = open(at("planted"), O_WRONLY | O_CREAT, 0666);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "planted", 7), 7);
	assert_int_equal(fchown(fd, 65534, 65534), 0);
	close(fd);
	fd = rt_file_open(path, W_FLAGS, 0600, RT_FILE_MINE, why, sizeof(why));
	assert_int_equal(fd, -1);
	assert_non_null(strstr(why, "owned by uid 65534, not by uid 0"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 7);
	/* without RT_FILE_MINE (a file read, not written) it passes */
	fd = rt_file_open(path, O_RDONLY, 0, 0, why, sizeof(why));
	assert_true(fd >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_file),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_other_owner),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
