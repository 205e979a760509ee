/* The NBD backend against real nbdkit servers, each run as a child of
 * the test on a Unix socket in a temporary directory (and killed at the
 * end; --exit-with-parent should the test die first). Skipped where
 * nbdkit is not installed. What the server saw is read from nbdkit's
 * log filter where it matters (connections, flushes). */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hbk_test.h"

#define DISK (64u << 20)

struct srv {
	pid_t pid;
	char dir[64];
	char sock[96];
	char log[96];
	char uri[192];
	struct hbk *b;
	struct tq t;
};

/* ---- the server ---- */

static bool sock_ready(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	ok = fd >= 0 && !connect(fd, (struct sockaddr *)&a, sizeof(a));
	if (fd >= 0)
		close(fd);
	return ok;
}

static void srv_exec(struct srv *s, const char *const *args)
{
	const char *argv[32] = {"nbdkit", "-U", s->sock, "-f",
				"--exit-with-parent"};
	unsigned n = 5;
	char logarg[128];

	snprintf(logarg, sizeof(logarg), "logfile=%s", s->log);
	for (; *args && n < 28; args++)
		argv[n++] = strcmp(*args, "LOG") ? *args : logarg;
	argv[n] = NULL;
	if (!freopen("/dev/null", "w", stderr))
		_exit(126);
	execvp("nbdkit", (char *const *)argv);
	_exit(127);
}

/* nbdkit with args (LOG: logfile= in the test's directory); false when
 * it did not start (not installed). */
static bool srv_start(struct srv *s, const char *const *args)
{
	struct timespec ms = {0, 10000000};

	snprintf(s->dir, sizeof(s->dir), "/tmp/hbk-nbd-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/log", s->dir);
	snprintf(s->uri, sizeof(s->uri), "nbd+unix:///?socket=%s", s->sock);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (!s->pid)
		srv_exec(s, args);
	for (unsigned i = 0; i < 500; i++) {
		if (sock_ready(s->sock))
			return true;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return false;
		}
		nanosleep(&ms, NULL);
	}
	return false;
}

static void srv_kill(struct srv *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static int teardown(void **state)
{
	struct srv *s = *state;

	if (s->t.q)
		tq_close(&s->t);
	hbk_close(s->b);
	srv_kill(s, SIGTERM);
	unlink(s->sock);
	unlink(s->log);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* Starts nbdkit with args and opens the backend on it with one queue of
 * depth; skips the test where nbdkit is missing. */
static struct srv *start(void **state, unsigned depth, const char *const *args)
{
	struct srv *s = calloc(1, sizeof(*s));
	char err[256];

	*state = s;
	if (!srv_start(s, args))
		skip();
	assert_int_equal(hbk_open(&s->b, s->uri, NULL, err, sizeof(err)), 0);
	tq_open(&s->t, s->b, depth);
	return s;
}

static int setup(void **state)
{
	*state = NULL;
	return 0;
}

static struct hbk_info info_of(const struct hbk *b)
{
	struct hbk_info i;

	hbk_info(b, &i);
	return i;
}

/* How many lines of the server's log hold word. */
static unsigned log_count(const struct srv *s, const char *word)
{
	FILE *fp = fopen(s->log, "r");
	char line[512];
	unsigned n = 0;

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, word) != NULL;
	fclose(fp);
	return n;
}

/* ---- checks ---- */

/* Patterns (plain, FUA, gathered from scattered buffers) read back
 * scattered differently; a flush succeeds. */
static void check_rw(struct tq *t, uint64_t at)
{
	static const size_t lens[] = {4096, 512, 8192, 3584, 12288, 1024};
	uint8_t *w = aligned_buf(64 << 10), *r = aligned_buf(64 << 10);
	struct iovec v[6];
	size_t total = 0;

	pattern(w, 64 << 10, at, 11);
	assert_int_equal(tq_rw(t, HBK_WRITE, at, w, 16384, false), 0);
	assert_int_equal(tq_rw(t, HBK_WRITE, at + 16384, w + 16384, 16384,
			       true), 0);
	assert_int_equal(tq_op(t, HBK_FLUSH, 0, 0, false), 0);
	assert_int_equal(tq_rw(t, HBK_READ, at, r, 32768, false), 0);
	assert_memory_equal(w, r, 32768);
	for (unsigned i = 0; i < 6; i++) {
		v[i] = (struct iovec){w + total + i * 512, lens[i]};
		total += lens[i];
	}
	struct hbk_io io = {.op = HBK_WRITE, .offset = at + 65536,
			    .len = total, .iov = v, .iovcnt = 6};
	assert_int_equal(tq_run(t, &io), 0);
	assert_int_equal(tq_rw(t, HBK_READ, at + 65536, r, total, false), 0);
	for (unsigned i = 0, k = 0; i < 6; k += lens[i++])
		assert_memory_equal(v[i].iov_base, r + k, lens[i]);
	free(w);
	free(r);
}

/* DISCARD and WRITE_ZEROES (either way) read back as zeros. */
static void check_zero(struct tq *t, uint64_t at, bool discard)
{
	uint8_t *w = aligned_buf(1 << 20), *r = aligned_buf(1 << 20);

	pattern(w, 1 << 20, at, 12);
	assert_int_equal(tq_rw(t, HBK_WRITE, at, w, 1 << 20, false), 0);
	if (discard)
		assert_int_equal(tq_op(t, HBK_DISCARD, at, 256 << 10, false),
				 0);
	else
		assert_int_equal(tq_op(t, HBK_WRITE_ZEROES, at, 256 << 10,
				       true), 0);
	assert_int_equal(tq_op(t, HBK_WRITE_ZEROES, at + (256 << 10),
			       256 << 10, false), 0);
	assert_int_equal(tq_op(t, HBK_WRITE_ZEROES, at + (512 << 10),
			       256 << 10, true), 0);
	assert_int_equal(tq_rw(t, HBK_READ, at, r, 1 << 20, false), 0);
	assert_true(all_zero(r, 768 << 10));
	assert_memory_equal(w + (768 << 10), r + (768 << 10), 256 << 10);
	free(w);
	free(r);
}

/* ---- tests ---- */

static void test_basic(void **state)
{
	const char *const args[] = {"memory", "64M", NULL};
	struct srv *s = start(state, 32, args);
	struct hbk_info i = info_of(s->b);
	uint64_t now = 0;
	uint8_t buf[4096];

	assert_string_equal(i.kind, "nbd");
	assert_int_equal(i.size, DISK);
	assert_int_equal(i.block_size, 512);
	assert_false(i.read_only);
	assert_true(i.can_discard);
	check_rw(&s->t, 1 << 20);
	check_zero(&s->t, 4 << 20, true);
	/* past the end: libnbd refuses it, the io fails */
	assert_true(tq_rw(&s->t, HBK_READ, DISK, buf, 4096, false) < 0);
	assert_int_equal(hbk_resize(s->b, 2 * DISK, &now), -ENOTSUP);
	assert_int_equal(hbk_resize(s->b, 0, &now), 0);
	assert_int_equal(now, DISK);
}

/* Several queues at once, on a server with multi-conn (a connection of
 * their own each) and without (one shared): each writes its range, the
 * others read it back. */
static void check_queues(struct srv *s, unsigned conns)
{
	struct tq t[3];
	uint8_t *w = aligned_buf(3 << 20), *r = aligned_buf(1 << 20);
	struct iovec v[3];
	struct hbk_io io[3];

	pattern(w, 3 << 20, 0, 13);
	for (unsigned i = 0; i < 3; i++) {
		tq_open(&t[i], s->b, 16);
		v[i] = (struct iovec){w + (i << 20), 1 << 20};
		io[i] = (struct hbk_io){.op = HBK_WRITE, .offset = i << 20,
					.len = 1 << 20, .iov = &v[i],
					.iovcnt = 1};
		assert_int_equal(hbk_submit(t[i].q, &io[i]), 0);
	}
	for (unsigned i = 0; i < 3; i++)
		hbk_kick(t[i].q);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(tq_wait(&t[i], 1));
		assert_int_equal(io[i].result, 0);
	}
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(tq_rw(&t[(i + 1) % 3], HBK_READ, i << 20, r,
				       1 << 20, false), 0);
		assert_memory_equal(w + (i << 20), r, 1 << 20);
	}
	assert_int_equal(tq_op(&t[1], HBK_FLUSH, 0, 0, false), 0);
	tq_close(&t[1]);
	tq_close(&t[0]);
	check_rw(&t[2], 8 << 20);
	tq_close(&t[2]);
	assert_int_equal(log_count(s, "Connect"), conns);
	free(w);
	free(r);
}

static void test_multi_conn(void **state)
{
	const char *const args[] = {"--filter=log", "memory", "64M", "LOG",
				    NULL};
	struct srv *s = start(state, 8, args);

	tq_close(&s->t);
	s->t.q = NULL;
	/* the base connection, then one for each queue after the first */
	check_queues(s, 3);
}

static void test_shared_conn(void **state)
{
	const char *const args[] = {"--filter=log", "--filter=multi-conn",
				    "memory", "64M", "LOG",
				    "multi-conn-mode=disable", NULL};
	struct srv *s = start(state, 8, args);

	tq_close(&s->t);
	s->t.q = NULL;
	check_queues(s, 1);
}

/* A server without FUA nor WRITE_ZEROES: a FUA write is followed by a
 * flush, zeros are written, and DISCARD is not offered. */
static void test_no_fua_no_zero(void **state)
{
	const char *const args[] = {"--filter=log", "--filter=fua",
				    "--filter=nozero", "memory", "64M", "LOG",
				    NULL};
	struct srv *s = start(state, 8, args);
	uint8_t *w = aligned_buf(4096);

	assert_false(info_of(s->b).can_discard);
	pattern(w, 4096, 0, 14);
	assert_int_equal(log_count(s, " Flush id"), 0);
	assert_int_equal(tq_rw(&s->t, HBK_WRITE, 0, w, 4096, true), 0);
	assert_int_equal(log_count(s, " Flush id"), 1);
	check_rw(&s->t, 1 << 20);
	check_zero(&s->t, 4 << 20, false);
	assert_int_equal(log_count(s, " Zero id"), 0);
	assert_int_equal(tq_op(&s->t, HBK_DISCARD, 0, 4096, false),
			 -EOPNOTSUPP);
	free(w);
}

static void test_read_only(void **state)
{
	const char *const args[] = {"-r", "memory", "64M", NULL};
	struct srv *s = start(state, 8, args);
	uint8_t buf[4096];

	assert_true(info_of(s->b).read_only);
	assert_false(info_of(s->b).can_discard);
	assert_int_equal(tq_rw(&s->t, HBK_WRITE, 0, buf, 4096, false), -EROFS);
	assert_int_equal(tq_op(&s->t, HBK_WRITE_ZEROES, 0, 4096, false),
			 -EROFS);
	assert_int_equal(tq_op(&s->t, HBK_DISCARD, 0, 4096, false), -EROFS);
	assert_int_equal(tq_rw(&s->t, HBK_READ, 0, buf, 4096, false), 0);
	assert_true(all_zero(buf, 4096));
	assert_int_equal(tq_op(&s->t, HBK_FLUSH, 0, 0, false), 0);
}

/* Half of all requests fail with EIO: those ios fail with -EIO (a
 * scattered one as soon as one of its parts did), every other one
 * succeeds, and what was written is what is read. */
static void test_errors(void **state)
{
	enum { BLOCKS = 64 };
	const char *const args[] = {"--filter=error", "memory", "64M",
				    "error-rate=50%", "error=EIO", NULL};
	struct srv *s = start(state, 8, args);
	uint8_t *w = aligned_buf(BLOCKS * 4096), *r = aligned_buf(8192);
	unsigned failed = 0;
	int rc;

	pattern(w, BLOCKS * 4096, 0, 15);
	for (unsigned i = 0; i < BLOCKS; i++) {
		while ((rc = tq_rw(&s->t, HBK_WRITE, i * 4096, w + i * 4096,
				   4096, false)))
			assert_int_equal(rc, -EIO), failed++;
	}
	for (unsigned i = 0; i < BLOCKS; i++) {
		while ((rc = tq_rw(&s->t, HBK_READ, i * 4096, r, 4096, false)))
			assert_int_equal(rc, -EIO), failed++;
		assert_memory_equal(w + i * 4096, r, 4096);
	}
	assert_true(failed > BLOCKS / 4);
	for (unsigned i = 0; i < 32; i++) {
		struct iovec v[2] = {{r, 4096}, {r + 4096, 4096}};
		struct hbk_io io = {.op = HBK_READ, .offset = 0, .len = 8192,
				    .iov = v, .iovcnt = 2};

		rc = tq_run(&s->t, &io);
		if (rc)
			assert_int_equal(rc, -EIO);
		else
			assert_memory_equal(w, r, 8192);
	}
	free(w);
	free(r);
}

/* The server killed with ios in flight (each read delayed a second):
 * every one completes with -EIO at once, and so does every io after;
 * nothing hangs, the queue and the disk close. */
static void test_killed(void **state)
{
	enum { N = 32 };
	const char *const args[] = {"--filter=delay", "memory", "64M",
				    "delay-read=1", NULL};
	struct srv *s = start(state, N, args);
	uint8_t *buf = aligned_buf(N * 4096);
	struct iovec v[N];
	struct hbk_io io[N];
	struct timespec ms50 = {0, 50000000};

	for (unsigned i = 0; i < N; i++) {
		v[i] = (struct iovec){buf + i * 4096, 4096};
		io[i] = (struct hbk_io){.op = i % 4 ? HBK_READ : HBK_WRITE,
					.offset = i * 4096, .len = 4096,
					.iov = &v[i], .iovcnt = 1};
		assert_int_equal(hbk_submit(s->t.q, &io[i]), 0);
	}
	hbk_kick(s->t.q);
	nanosleep(&ms50, NULL);
	srv_kill(s, SIGKILL);
	assert_true(tq_wait(&s->t, N));
	for (unsigned i = 0; i < N; i++)
		if (io[i].op == HBK_READ)
			assert_int_equal(io[i].result, -EIO);
	assert_int_equal(tq_rw(&s->t, HBK_READ, 0, buf, 4096, false), -EIO);
	assert_int_equal(tq_op(&s->t, HBK_FLUSH, 0, 0, false), -EIO);
	free(buf);
}

/* Killed while idle: the next io finds out, with -EIO. */
static void test_killed_idle(void **state)
{
	const char *const args[] = {"memory", "64M", NULL};
	struct srv *s = start(state, 4, args);
	uint8_t buf[4096];

	assert_int_equal(tq_rw(&s->t, HBK_READ, 0, buf, 4096, false), 0);
	srv_kill(s, SIGKILL);
	assert_int_equal(tq_rw(&s->t, HBK_READ, 0, buf, 4096, false), -EIO);
	assert_int_equal(tq_rw(&s->t, HBK_WRITE, 0, buf, 4096, true), -EIO);
}

/* Closing with ios in flight (reads slowed down) and others not kicked:
 * each completes, and succeeds, before close returns. */
static void test_close_in_flight(void **state)
{
	enum { N = 24 };
	const char *const args[] = {"--filter=delay", "memory", "64M",
				    "delay-read=100ms", NULL};
	struct srv *s = start(state, N, args);
	uint8_t *buf = aligned_buf(N * 4096);
	struct iovec v[N];
	struct hbk_io io[N];

	for (unsigned i = 0; i < N; i++) {
		v[i] = (struct iovec){buf + i * 4096, 4096};
		io[i] = (struct hbk_io){.op = i % 3 ? HBK_READ : HBK_WRITE,
					.offset = i * 4096, .len = 4096,
					.iov = &v[i], .iovcnt = 1,
					.fua = i % 2};
		assert_int_equal(hbk_submit(s->t.q, &io[i]), 0);
		if (i == 15)
			hbk_kick(s->t.q);
	}
	tq_close(&s->t);
	s->t.q = NULL;
	assert_int_equal(s->t.done, N);
	assert_int_equal(s->t.failed, 0);
	free(buf);
}

/* A server that takes 4 KiB blocks and at most 64 KiB a request (and
 * refuses anything else): the disk has 4 KiB blocks, and a 1 MiB write
 * and read go in pieces the server takes. */
static void test_block_limits(void **state)
{
	const char *const args[] = {"--filter=blocksize-policy", "memory",
				    "64M", "blocksize-minimum=4096",
				    "blocksize-preferred=4096",
				    "blocksize-maximum=65536",
				    "blocksize-error-policy=error", NULL};
	struct srv *s = start(state, 8, args);
	uint8_t *w = aligned_buf(1 << 20), *r = aligned_buf(1 << 20);

	assert_int_equal(info_of(s->b).block_size, 4096);
	pattern(w, 1 << 20, 0, 17);
	assert_int_equal(tq_rw(&s->t, HBK_WRITE, 1 << 20, w, 1 << 20, true),
			 0);
	assert_int_equal(tq_rw(&s->t, HBK_READ, 1 << 20, r, 1 << 20, false),
			 0);
	assert_memory_equal(w, r, 1 << 20);
	check_zero(&s->t, 4 << 20, true);
	free(w);
	free(r);
}

/* 2000 random 4 KiB writes at depth 64, every seventh block read back
 * after. */
static void test_many(void **state)
{
	enum { N = 2000, DEPTH = 64 };
	const char *const args[] = {"memory", "64M", NULL};
	struct srv *s = start(state, DEPTH, args);
	uint8_t *r = aligned_buf(4096);
	struct many m;

	many_writes(&m, &s->t, N, DISK / 4096, 16);
	for (unsigned i = 0; i < N; i += 7) {
		assert_int_equal(tq_rw(&s->t, HBK_READ, m.blk[i] * 4096ull, r,
				       4096, false), 0);
		assert_memory_equal(m.v[i].iov_base, r, 4096);
	}
	many_free(&m);
	free(r);
}

/* No server at the socket: refused, with the URI and libnbd's reason. */
static void test_open_error(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct hbk *b = NULL;
	char err[256];

	*state = s;
	snprintf(s->dir, sizeof(s->dir), "/tmp/hbk-nbd-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->uri, sizeof(s->uri), "nbd+unix:///?socket=%s/none",
		 s->dir);
	assert_true(hbk_open(&b, s->uri, NULL, err, sizeof(err)) < 0);
	assert_null(b);
	assert_non_null(strstr(err, s->uri));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_conn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shared_conn, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_fua_no_zero, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_idle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_in_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_block_limits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error, setup,
						teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("hbk_nbd", tests, NULL, NULL);
}
