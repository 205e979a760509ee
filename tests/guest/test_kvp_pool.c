/* KVP pool files: real files in a temp dir, the daemon's on-disk format
 * written and read independently, cross-process locking. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "guest_util.h"
#include "kvp_pool.h"

struct fx {
	char dir[64];
	char path[KVP_POOL_COUNT][128];
	struct kvp_pool_set *set;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	assert_int_equal(gt_mkdtemp("kvp", fx->dir, sizeof(fx->dir)), 0);
	for (int i = 0; i < KVP_POOL_COUNT; i++)
		snprintf(fx->path[i], sizeof(fx->path[i]), "%s/.kvp_pool_%d",
			 fx->dir, i);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	kvp_pool_close(fx->set);
	gt_rm_rf(fx->dir);
	free(fx);
	return 0;
}

/* One record exactly as hv_kvp_daemon stores it: zero-padded fields. */
static void raw_record(uint8_t *rec, const char *key, const char *value)
{
	memset(rec, 0, KVP_POOL_RECORD_SIZE);
	memcpy(rec, key, strlen(key));
	memcpy(rec + 512, value, strlen(value));
}

static void open_set(struct fx *fx)
{
	assert_int_equal(kvp_pool_open(fx->dir, &fx->set), KVP_POOL_OK);
}

static void test_files_created(void **state)
{
	struct fx *fx = *state;
	struct stat sb;

	open_set(fx);
	for (int i = 0; i < KVP_POOL_COUNT; i++) {
		assert_int_equal(stat(fx->path[i], &sb), 0);
		assert_int_equal(sb.st_size, 0);
		assert_int_equal(sb.st_mode & 0777, 0644);
	}
}

static void test_set_get_enumerate_delete(void **state)
{
	struct fx *fx = *state;
	char k[KVP_POOL_KEY_SIZE], v[KVP_POOL_VALUE_SIZE];
	uint32_t n;

	open_set(fx);
	assert_int_equal(kvp_pool_set(fx->set, 1, "alpha", "1"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "beta", "2"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "gamma", "3"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "beta", "two"), 0);
	assert_int_equal(kvp_pool_count(fx->set, 1, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(kvp_pool_get(fx->set, 1, "beta", v, sizeof(v)), 0);
	assert_string_equal(v, "two");
	/* Other pools are separate files. */
	assert_int_equal(kvp_pool_get(fx->set, 0, "beta", v, sizeof(v)),
			 KVP_POOL_ENOTFOUND);

	assert_int_equal(kvp_pool_delete(fx->set, 1, "alpha"), 0);
	assert_int_equal(kvp_pool_enumerate(fx->set, 1, 0, k, sizeof(k), v,
					    sizeof(v)), 0);
	assert_string_equal(k, "beta");
	assert_string_equal(v, "two");
	assert_int_equal(kvp_pool_enumerate(fx->set, 1, 1, k, sizeof(k), v,
					    sizeof(v)), 0);
	assert_string_equal(k, "gamma");
	assert_int_equal(kvp_pool_enumerate(fx->set, 1, 2, k, sizeof(k), v,
					    sizeof(v)), KVP_POOL_ENOTFOUND);
	assert_int_equal(kvp_pool_delete(fx->set, 1, "alpha"),
			 KVP_POOL_ENOTFOUND);
	/* Key compare is exact: no prefix matches. */
	assert_int_equal(kvp_pool_get(fx->set, 1, "gam", v, sizeof(v)),
			 KVP_POOL_ENOTFOUND);
	assert_int_equal(kvp_pool_get(fx->set, 1, "gamma2", v, sizeof(v)),
			 KVP_POOL_ENOTFOUND);
}

static void test_errors(void **state)
{
	struct fx *fx = *state;
	char key[600], val[2100], small[2];

	open_set(fx);
	memset(key, 'k', sizeof(key));
	key[511] = '\0';
	memset(val, 'v', sizeof(val));
	val[2047] = '\0';
	/* 511 and 2047 bytes plus NUL fill the fields exactly. */
	assert_int_equal(kvp_pool_set(fx->set, 0, key, val), 0);
	assert_int_equal(kvp_pool_get(fx->set, 0, key, val, sizeof(val)), 0);
	assert_int_equal(strlen(val), 2047);
	key[511] = 'k';
	key[512] = '\0';
	assert_int_equal(kvp_pool_set(fx->set, 0, key, "x"), KVP_POOL_EKEYLEN);
	assert_int_equal(kvp_pool_get(fx->set, 0, key, val, sizeof(val)),
			 KVP_POOL_EKEYLEN);
	assert_int_equal(kvp_pool_set(fx->set, 0, "", "x"), KVP_POOL_EKEYLEN);
	val[2047] = 'v';
	val[2048] = '\0';
	assert_int_equal(kvp_pool_set(fx->set, 0, "k", val), KVP_POOL_EVALLEN);
	assert_int_equal(kvp_pool_set(fx->set, 5, "k", "v"), KVP_POOL_EINVAL);
	assert_int_equal(kvp_pool_set(fx->set, 0, "bad\xc3(", "v"),
			 KVP_POOL_EINVAL);
	assert_int_equal(kvp_pool_set(fx->set, 0, "k", "\xed\xa0\x80"),
			 KVP_POOL_EINVAL);
	assert_int_equal(kvp_pool_set(fx->set, 0, "k", "h\xc3\xa9llo"), 0);
	assert_int_equal(kvp_pool_get(fx->set, 0, "k", small, sizeof(small)),
			 KVP_POOL_ESPACE);
	assert_string_equal(kvp_pool_strerror(KVP_POOL_EKEYLEN),
			    "key empty or too long");
}

static void test_open_fails_cleanly(void **state)
{
	struct fx *fx = *state;
	struct kvp_pool_set *s = NULL;
	char path[128];

	snprintf(path, sizeof(path), "%s/notadir", fx->dir);
	assert_int_equal(gt_write_file(path, "x", 1, 0644), 0);
	errno = 0;
	assert_int_equal(kvp_pool_open(path, &s), KVP_POOL_EIO);
	assert_null(s);
	assert_int_not_equal(errno, 0);
}

/* A pool written by an independent writer in the daemon's format. */
static void test_reads_daemon_format(void **state)
{
	struct fx *fx = *state;
	uint8_t recs[3 * KVP_POOL_RECORD_SIZE];
	char k[KVP_POOL_KEY_SIZE], v[KVP_POOL_VALUE_SIZE];
	uint32_t n;

	raw_record(recs, "VirtualMachineName", "vm-01");
	raw_record(recs + KVP_POOL_RECORD_SIZE, "HostName", "host.example");
	raw_record(recs + 2 * KVP_POOL_RECORD_SIZE, "Emoji", "\xf0\x9f\x98\x80");
	assert_int_equal(gt_write_file(fx->path[0], recs, sizeof(recs), 0644),
			 0);
	open_set(fx);
	assert_int_equal(kvp_pool_count(fx->set, 0, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(kvp_pool_get(fx->set, 0, "HostName", v, sizeof(v)), 0);
	assert_string_equal(v, "host.example");
	assert_int_equal(kvp_pool_enumerate(fx->set, 0, 2, k, sizeof(k), v,
					    sizeof(v)), 0);
	assert_string_equal(k, "Emoji");
	assert_string_equal(v, "\xf0\x9f\x98\x80");

	/* Changed behind our back: the next operation sees it. */
	raw_record(recs, "Replaced", "yes");
	assert_int_equal(gt_write_file(fx->path[0], recs, KVP_POOL_RECORD_SIZE,
				       0644), 0);
	assert_int_equal(kvp_pool_count(fx->set, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kvp_pool_get(fx->set, 0, "Replaced", v, sizeof(v)), 0);
}

/* What we write is byte for byte what the daemon's layout holds. */
static void test_writes_daemon_layout(void **state)
{
	struct fx *fx = *state;
	static uint8_t want[3 * KVP_POOL_RECORD_SIZE];
	static uint8_t have[4 * KVP_POOL_RECORD_SIZE];

	open_set(fx);
	assert_int_equal(kvp_pool_set(fx->set, 1, "a", "first"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "b", "second value"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "c", "third"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "d", "fourth"), 0);
	assert_int_equal(kvp_pool_set(fx->set, 1, "b", "2"), 0);
	assert_int_equal(kvp_pool_delete(fx->set, 1, "a"), 0);
	raw_record(want, "b", "2");
	raw_record(want + KVP_POOL_RECORD_SIZE, "c", "third");
	raw_record(want + 2 * KVP_POOL_RECORD_SIZE, "d", "fourth");
	ssize_t n = gt_read_file(fx->path[1], have, sizeof(have));

	assert_int_equal(n, sizeof(want));
	assert_memory_equal(have, want, sizeof(want));
}

/* A torn trailing record is ignored, as fread does in the daemon, and
 * cut off by the next append. */
static void test_torn_tail(void **state)
{
	struct fx *fx = *state;
	uint8_t recs[KVP_POOL_RECORD_SIZE + 100];
	char v[64];
	uint32_t n;
	struct stat sb;

	raw_record(recs, "whole", "1");
	memset(recs + KVP_POOL_RECORD_SIZE, 'z', 100);
	assert_int_equal(gt_write_file(fx->path[3], recs, sizeof(recs), 0644),
			 0);
	open_set(fx);
	assert_int_equal(kvp_pool_count(fx->set, 3, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kvp_pool_set(fx->set, 3, "next", "2"), 0);
	assert_int_equal(stat(fx->path[3], &sb), 0);
	assert_int_equal(sb.st_size, 2 * KVP_POOL_RECORD_SIZE);
	assert_int_equal(kvp_pool_get(fx->set, 3, "next", v, sizeof(v)), 0);
	assert_string_equal(v, "2");
}

static void test_malformed_records(void **state)
{
	struct fx *fx = *state;
	uint8_t recs[3 * KVP_POOL_RECORD_SIZE];
	char k[KVP_POOL_KEY_SIZE], v[KVP_POOL_VALUE_SIZE];
	struct kvp_pool_stats st;
	uint32_t n;

	raw_record(recs, "good", "1");
	memset(recs + KVP_POOL_RECORD_SIZE, 'x', KVP_POOL_RECORD_SIZE);
	raw_record(recs + 2 * KVP_POOL_RECORD_SIZE, "bad\xff", "2");
	assert_int_equal(gt_write_file(fx->path[4], recs, sizeof(recs), 0644),
			 0);
	open_set(fx);
	/* Enumeration counts well-formed records only. */
	assert_int_equal(kvp_pool_enumerate(fx->set, 4, 0, k, sizeof(k), v,
					    sizeof(v)), 0);
	assert_string_equal(k, "good");
	kvp_pool_get_stats(fx->set, &st);
	assert_int_equal(st.bad_records, 0);
	assert_int_equal(kvp_pool_enumerate(fx->set, 4, 1, k, sizeof(k), v,
					    sizeof(v)), KVP_POOL_ENOTFOUND);
	kvp_pool_get_stats(fx->set, &st);
	assert_int_equal(st.bad_records, 2);
	assert_int_equal(kvp_pool_get(fx->set, 4, "good", v, sizeof(v)), 0);
	/* Setting a new key appends after the bad ones, keeping them. */
	assert_int_equal(kvp_pool_set(fx->set, 4, "new", "3"), 0);
	assert_int_equal(kvp_pool_count(fx->set, 4, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(kvp_pool_enumerate(fx->set, 4, 1, k, sizeof(k), v,
					    sizeof(v)), 0);
	assert_string_equal(k, "new");
	assert_string_equal(v, "3");
}

#define MANY 1000

/* A big pool with malformed records here and there: the answer for index
 * i is the i-th well-formed record, and each call reads the file once,
 * whatever the index (the host may ask for any index, 0xFFFFFFFF too). */
static void test_enumerate_one_load(void **state)
{
	struct fx *fx = *state;
	uint8_t *recs = calloc(MANY, KVP_POOL_RECORD_SIZE);
	char k[KVP_POOL_KEY_SIZE], v[KVP_POOL_VALUE_SIZE], want[32];
	static const uint32_t idx[] = { 0, 1, 499, 500, 998, 899 };
	struct kvp_pool_stats st0, st;
	uint32_t good = 0;

	assert_non_null(recs);
	for (uint32_t i = 0; i < MANY; i++) {
		uint8_t *r = recs + (size_t)i * KVP_POOL_RECORD_SIZE;

		if (i % 10 == 3) {	/* 100 records without a key */
			raw_record(r, "", "x");
			continue;
		}
		snprintf(k, sizeof(k), "key-%u", good);
		snprintf(v, sizeof(v), "value %u at %u", good, i);
		raw_record(r, k, v);
		good++;
	}
	assert_int_equal(good, 900);
	assert_int_equal(gt_write_file(fx->path[0], recs,
				       (size_t)MANY * KVP_POOL_RECORD_SIZE,
				       0644), 0);
	free(recs);
	open_set(fx);
	for (size_t j = 0; j < sizeof(idx) / sizeof(idx[0]); j++) {
		uint32_t i = idx[j];
		uint32_t at = i + (i + 6) / 9; /* file position of good i */
		int rc;

		kvp_pool_get_stats(fx->set, &st0);
		rc = kvp_pool_enumerate(fx->set, 0, i, k, sizeof(k), v,
					sizeof(v));
		kvp_pool_get_stats(fx->set, &st);
		assert_int_equal(st.loads - st0.loads, 1);
		if (i >= good) {
			assert_int_equal(rc, KVP_POOL_ENOTFOUND);
			assert_int_equal(st.bad_records - st0.bad_records, 100);
			continue;
		}
		assert_int_equal(rc, 0);
		snprintf(want, sizeof(want), "key-%u", i);
		assert_string_equal(k, want);
		snprintf(want, sizeof(want), "value %u at %u", i, at);
		assert_string_equal(v, want);
	}
	kvp_pool_get_stats(fx->set, &st0);
	assert_int_equal(kvp_pool_enumerate(fx->set, 0, 0xffffffffu, k,
					    sizeof(k), v, sizeof(v)),
			 KVP_POOL_ENOTFOUND);
	assert_int_equal(kvp_pool_enumerate(fx->set, 0, 900, k, sizeof(k), v,
					    sizeof(v)), KVP_POOL_ENOTFOUND);
	kvp_pool_get_stats(fx->set, &st);
	assert_int_equal(st.loads - st0.loads, 2);
}

#define WRITERS 2
#define PER_WRITER 150

static void writer(const char *dir, int id)
{
	struct kvp_pool_set *s;
	char key[32], val[32];

	if (kvp_pool_open(dir, &s))
		_exit(2);
	for (int i = 0; i < PER_WRITER; i++) {
		snprintf(key, sizeof(key), "w%d-%d", id, i);
		snprintf(val, sizeof(val), "%d", i);
		if (kvp_pool_set(s, 2, key, val))
			_exit(3);
		/* Deleting and re-adding shifts everyone's records. */
		if (i % 10 == 9) {
			snprintf(key, sizeof(key), "w%d-%d", id, i - 5);
			if (kvp_pool_delete(s, 2, key) ||
			    kvp_pool_set(s, 2, key, "again"))
				_exit(4);
		}
	}
	kvp_pool_close(s);
	_exit(0);
}

static void test_concurrent_writers(void **state)
{
	struct fx *fx = *state;
	pid_t pid[WRITERS];
	char key[32], v[32];
	uint32_t n;
	int status;

	for (int w = 0; w < WRITERS; w++) {
		pid[w] = fork();
		assert_true(pid[w] >= 0);
		if (pid[w] == 0)
			writer(fx->dir, w);
	}
	for (int w = 0; w < WRITERS; w++) {
		assert_int_equal(waitpid(pid[w], &status, 0), pid[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	open_set(fx);
	assert_int_equal(kvp_pool_count(fx->set, 2, &n), 0);
	assert_int_equal(n, WRITERS * PER_WRITER);
	for (int w = 0; w < WRITERS; w++) {
		for (int i = 0; i < PER_WRITER; i++) {
			snprintf(key, sizeof(key), "w%d-%d", w, i);
			assert_int_equal(kvp_pool_get(fx->set, 2, key, v,
						      sizeof(v)), 0);
		}
	}
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A process holding the daemon's kind of lock (classic fcntl F_WRLCK on
 * the whole file) holds us off until it lets go. */
static void test_respects_daemon_lock(void **state)
{
	struct fx *fx = *state;
	int go[2];
	char v[16], c;

	open_set(fx);
	assert_int_equal(kvp_pool_set(fx->set, 0, "k", "before"), 0);
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(fx->path[0], O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		uint8_t rec[KVP_POOL_RECORD_SIZE];

		if (fd < 0 || fcntl(fd, F_SETLKW, &fl))
			_exit(2);
		if (write(go[1], "x", 1) != 1)
			_exit(3);
		usleep(400 * 1000);
		raw_record(rec, "k", "after");
		if (pwrite(fd, rec, sizeof(rec), 0) != sizeof(rec))
			_exit(4);
		_exit(0);	/* exit releases the lock */
	}
	assert_int_equal(read(go[0], &c, 1), 1);
	int64_t t0 = mono_ms();

	assert_int_equal(kvp_pool_get(fx->set, 0, "k", v, sizeof(v)), 0);
	assert_true(mono_ms() - t0 >= 300);
	assert_string_equal(v, "after");
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	close(go[0]);
	close(go[1]);
}

static void test_record_parse(void **state)
{
	uint8_t rec[KVP_POOL_RECORD_SIZE];
	const char *k, *v;

	(void)state;
	raw_record(rec, "key", "value");
	assert_int_equal(kvp_pool_record_parse(rec, &k, &v), 0);
	assert_string_equal(k, "key");
	assert_string_equal(v, "value");
	memset(rec, 0, sizeof(rec));
	assert_int_equal(kvp_pool_record_parse(rec, &k, &v), KVP_POOL_EBADREC);
	raw_record(rec, "key", "");
	memset(rec + 512, 'v', 2048);
	assert_int_equal(kvp_pool_record_parse(rec, &k, &v), KVP_POOL_EBADREC);
	assert_true(kvp_pool_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_false(kvp_pool_utf8_valid("\xf4\x90\x80\x80", 4));
	assert_false(kvp_pool_utf8_valid("\xc0\xaf", 2));
	assert_false(kvp_pool_utf8_valid("\xe0\x80\xaf", 3));
	assert_false(kvp_pool_utf8_valid("a\0b", 3));
	assert_true(kvp_pool_utf8_valid("a\xc3\xa9", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_files_created, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_get_enumerate_delete,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reads_daemon_format, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writes_daemon_layout,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_malformed_records, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_enumerate_one_load, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_respects_daemon_lock,
						setup, teardown),
		cmocka_unit_test(test_record_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
