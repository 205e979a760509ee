/* The file backend against real files and devices: an image on the real
 * filesystem of /var/tmp (skipped where that is tmpfs) and one on tmpfs
 * (/dev/shm), a loop device over an image (skipped where losetup cannot
 * make one). What reaches the disk is checked with plain pread and
 * fstat, not through the backend. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>

#include "hbk_test.h"

#define IMG_SIZE (16u << 20)
#define MIB (1u << 20)

struct fx {
	char dir[64];
	char img[96];
	char loop[32];      /* the loop device, if one was made */
	struct hbk *b;
	struct tq t;
	bool polled;        /* t (and queues the test opens) polled */
};

/* ---- fixtures ---- */

static bool is_tmpfs(const char *dir)
{
	struct statfs s;

	return !statfs(dir, &s) && s.f_type == TMPFS_MAGIC;
}

static void make_image(struct fx *f, const char *base, uint64_t size)
{
	int fd;

	snprintf(f->dir, sizeof(f->dir), "%s/hbk-XXXXXX", base);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
	fd = open(f->img, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* A queue of the fixture's kind. */
static void tq_like(const struct fx *f, struct tq *t, unsigned depth)
{
	if (f->polled)
		tq_open_polled(t, f->b, depth);
	else
		tq_open(t, f->b, depth);
}

static void open_backend(struct fx *f, const char *spec,
			 const struct hbk_cfg *cfg, unsigned depth)
{
	char err[256];

	assert_int_equal(hbk_open(&f->b, spec, cfg, err, sizeof(err)), 0);
	tq_like(f, &f->t, depth);
}

static int setup_at(void **state, const char *base, bool polled)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->polled = polled;
	make_image(f, base, IMG_SIZE);
	open_backend(f, f->img, NULL, 64);
	*state = f;
	return 0;
}

static int setup_real(void **state)
{
	return setup_at(state, "/var/tmp", false);
}

static int setup_shm(void **state)
{
	return setup_at(state, "/dev/shm", false);
}

static int setup_real_polled(void **state)
{
	return setup_at(state, "/var/tmp", true);
}

static int setup_shm_polled(void **state)
{
	return setup_at(state, "/dev/shm", true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	if (f->t.q)
		tq_close(&f->t);
	hbk_close(f->b);
	if (f->loop[0]) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "losetup -d %s", f->loop);
		assert_int_equal(system(cmd), 0);
	}
	unlink(f->img);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The image's bytes, read around the backend. */
static void file_read(const struct fx *f, uint64_t off, void *buf,
		      size_t len)
{
	int fd = open(f->img, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static uint64_t file_blocks(const struct fx *f)
{
	struct stat st;

	assert_int_equal(stat(f->img, &st), 0);
	return (uint64_t)st.st_blocks;
}

static struct hbk_info info_of(const struct hbk *b)
{
	struct hbk_info i;

	hbk_info(b, &i);
	return i;
}

/* ---- shared checks (any file or device) ---- */

/* Patterns written (plain and FUA) read back, through the backend and
 * around it; a flush succeeds. */
static void check_rw(struct fx *f)
{
	uint8_t *w = aligned_buf(256 << 10), *r = aligned_buf(256 << 10);

	pattern(w, 256 << 10, MIB, 1);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, MIB, w, 128 << 10, false), 0);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, MIB + (128 << 10),
			       w + (128 << 10), 128 << 10, true), 0);
	assert_int_equal(tq_op(&f->t, HBK_FLUSH, 0, 0, false), 0);
	assert_int_equal(tq_rw(&f->t, HBK_READ, MIB, r, 256 << 10, false), 0);
	assert_memory_equal(w, r, 256 << 10);
	memset(r, 0, 256 << 10);
	file_read(f, MIB, r, 256 << 10);
	assert_memory_equal(w, r, 256 << 10);
	free(w);
	free(r);
}

/* Scattered buffers: pages of one buffer in shuffled order, lengths
 * from 512 bytes to 3 pages; written gathered, read scattered
 * differently. */
static void check_iov(struct fx *f)
{
	static const unsigned order[] = {5, 0, 7, 2, 6, 1, 3};
	static const size_t lens[] = {4096, 512, 8192, 3584, 12288, 4096,
				      1024};
	uint8_t *w = aligned_buf(24 * 4096), *r = aligned_buf(24 * 4096);
	uint8_t *flat = malloc(40 << 10), *back = malloc(40 << 10);
	struct iovec v[7];
	size_t total = 0;

	pattern(w, 24 * 4096, 0, 2);
	for (unsigned i = 0; i < 7; i++) {
		v[i] = (struct iovec){w + order[i] * 2 * 4096, lens[i]};
		memcpy(flat + total, v[i].iov_base, lens[i]);
		total += lens[i];
	}
	struct hbk_io io = {.op = HBK_WRITE, .offset = 3 * MIB, .len = total,
			    .iov = v, .iovcnt = 7};
	assert_int_equal(tq_run(&f->t, &io), 0);
	for (unsigned i = 0; i < 7; i++)
		v[i].iov_base = r + order[6 - i] * 2 * 4096;
	io.op = HBK_READ;
	assert_int_equal(tq_run(&f->t, &io), 0);
	total = 0;
	for (unsigned i = 0; i < 7; i++) {
		memcpy(back + total, v[i].iov_base, lens[i]);
		total += lens[i];
	}
	assert_memory_equal(flat, back, total);
	/* a block device's buffered writes sit in its own cache until then */
	assert_int_equal(tq_op(&f->t, HBK_FLUSH, 0, 0, false), 0);
	file_read(f, 3 * MIB, back, total);
	assert_memory_equal(flat, back, total);
	free(w);
	free(r);
	free(flat);
	free(back);
}

/* Buffers, lengths and offsets O_DIRECT cannot take go the buffered
 * way, and the direct way sees what they wrote. */
static void check_unaligned(struct fx *f)
{
	uint8_t *raw = malloc(20000), *w = raw + 3, *r = malloc(20000);
	uint8_t *a = aligned_buf(8192);

	pattern(w, 10001, 7, 3);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, 4 * MIB + 7, w, 10001,
			       false), 0);
	assert_int_equal(tq_rw(&f->t, HBK_READ, 4 * MIB + 7, r + 1, 10001,
			       false), 0);
	assert_memory_equal(w, r + 1, 10001);
	/* aligned: the direct descriptor, after the buffered write */
	assert_int_equal(tq_rw(&f->t, HBK_READ, 4 * MIB, a, 8192, false), 0);
	assert_memory_equal(a + 7, w, 8192 - 7);
	/* and a direct write seen by an unaligned read */
	pattern(a, 8192, 0, 4);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, 4 * MIB, a, 8192, false), 0);
	assert_int_equal(tq_rw(&f->t, HBK_READ, 4 * MIB + 1, r + 1, 8191,
			       false), 0);
	assert_memory_equal(a + 1, r + 1, 8191);
	free(raw);
	free(r);
	free(a);
}

/* A discarded range reads back as zeros and its blocks are gone. */
static void check_discard(struct fx *f)
{
	uint8_t *w = aligned_buf(MIB), *r = aligned_buf(MIB);
	uint64_t before;

	assert_true(info_of(f->b).can_discard);
	pattern(w, MIB, 0, 5);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, 8 * MIB, w, MIB, true), 0);
	before = file_blocks(f);
	assert_int_equal(tq_op(&f->t, HBK_DISCARD, 8 * MIB, MIB, false), 0);
	assert_true(file_blocks(f) + MIB / 512 <= before);
	assert_int_equal(tq_rw(&f->t, HBK_READ, 8 * MIB, r, MIB, false), 0);
	assert_true(all_zero(r, MIB));
	free(w);
	free(r);
}

/* WRITE_ZEROES: zeros either way; with may_unmap the blocks may go
 * (they do where holes can be punched), without it they stay. */
static void check_zeroes(struct fx *f, bool holes)
{
	uint8_t *w = aligned_buf(MIB), *r = aligned_buf(MIB);
	uint64_t before;

	pattern(w, MIB, 0, 6);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, 10 * MIB, w, MIB, false), 0);
	assert_int_equal(tq_op(&f->t, HBK_FLUSH, 0, 0, false), 0);
	before = file_blocks(f);
	assert_int_equal(tq_op(&f->t, HBK_WRITE_ZEROES, 10 * MIB, MIB / 2,
			       false), 0);
	assert_true(file_blocks(f) >= before);
	assert_int_equal(tq_op(&f->t, HBK_WRITE_ZEROES, 10 * MIB + MIB / 2,
			       MIB / 2, true), 0);
	if (holes)
		assert_true(file_blocks(f) + MIB / 2 / 512 <= before);
	assert_int_equal(tq_rw(&f->t, HBK_READ, 10 * MIB, r, MIB, false), 0);
	assert_true(all_zero(r, MIB));
	file_read(f, 10 * MIB, r, MIB);
	assert_true(all_zero(r, MIB));
	free(w);
	free(r);
}

/* ---- a file on a real filesystem ---- */

static void skip_unless_real(void)
{
	if (is_tmpfs("/var/tmp"))
		skip();
}

static void test_real_info(void **state)
{
	struct fx *f = *state;
	struct hbk_info i = info_of(f->b);

	skip_unless_real();
	assert_string_equal(i.kind, "file");
	assert_int_equal(i.size, IMG_SIZE);
	assert_int_equal(i.block_size, 512);
	assert_false(i.read_only);
	assert_true(i.can_discard);
	assert_true(i.direct);
}

static void test_real_rw(void **state)
{
	skip_unless_real();
	check_rw(*state);
	check_iov(*state);
}

static void test_real_unaligned(void **state)
{
	skip_unless_real();
	assert_true(info_of(((struct fx *)*state)->b).direct);
	check_unaligned(*state);
}

static void test_real_discard(void **state)
{
	skip_unless_real();
	check_discard(*state);
	check_zeroes(*state, true);
}

/* ---- a file on tmpfs: no ZERO_RANGE there, zeros are written; no
 * O_DIRECT (it bypasses nothing there) ---- */

static void test_shm(void **state)
{
	struct fx *f = *state;

	assert_string_equal(info_of(f->b).kind, "file");
	assert_false(info_of(f->b).direct); /* no O_DIRECT on tmpfs */
	check_rw(f);
	check_iov(f);
	check_unaligned(f);
	check_discard(f);
	check_zeroes(f, true);
}

/* ---- rules of every queue (on the real-filesystem fixture's image,
 * wherever /var/tmp is) ---- */

/* Read-only: reads and flushes work, every kind of write completes with
 * -EROFS and nothing reaches the file. */
static void test_read_only(void **state)
{
	struct fx *f = *state;
	struct hbk_cfg cfg = {.read_only = true};
	uint8_t *w = aligned_buf(4096), *r = aligned_buf(4096);
	struct fx ro = {0};

	pattern(w, 4096, 0, 7);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, 0, w, 4096, false), 0);
	open_backend(&ro, f->img, &cfg, 8);
	assert_true(info_of(ro.b).read_only);
	assert_false(info_of(ro.b).can_discard);
	assert_int_equal(tq_rw(&ro.t, HBK_WRITE, 0, r, 4096, true), -EROFS);
	assert_int_equal(tq_op(&ro.t, HBK_DISCARD, 0, 4096, false), -EROFS);
	assert_int_equal(tq_op(&ro.t, HBK_WRITE_ZEROES, 0, 4096, true),
			 -EROFS);
	assert_int_equal(tq_op(&ro.t, HBK_FLUSH, 0, 0, false), 0);
	assert_int_equal(tq_rw(&ro.t, HBK_READ, 0, r, 4096, false), 0);
	assert_memory_equal(w, r, 4096);
	assert_int_equal(hbk_resize(ro.b, 2 * IMG_SIZE, &(uint64_t){0}),
			 -EROFS);
	tq_close(&ro.t);
	hbk_close(ro.b);
	free(w);
	free(r);
}

/* Depth ios queued or in flight: the next is -EAGAIN until one came
 * back. Ios breaking the rules are -EINVAL. */
static void test_depth(void **state)
{
	struct fx *f = *state;
	struct tq t;
	uint8_t *buf = aligned_buf(4 * 4096);
	struct iovec v[4];
	struct hbk_io io[5];

	tq_open(&t, f->b, 4);
	for (unsigned i = 0; i < 5; i++) {
		if (i < 4)
			v[i] = (struct iovec){buf + i * 4096, 4096};
		io[i] = (struct hbk_io){.op = HBK_READ, .offset = i * 4096,
					.len = 4096, .iov = &v[i % 4],
					.iovcnt = 1};
	}
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(hbk_submit(t.q, &io[i]), 0);
	assert_int_equal(hbk_submit(t.q, &io[4]), -EAGAIN);
	hbk_kick(t.q);
	assert_true(tq_wait(&t, 4));
	assert_int_equal(tq_submit(&t, &io[4]), 0);
	hbk_kick(t.q);
	assert_true(tq_wait(&t, 5));
	assert_int_equal(t.failed, 0);

	io[0].len = 4095; /* not the iovecs' total */
	assert_int_equal(hbk_submit(t.q, &io[0]), -EINVAL);
	io[0].len = 4096;
	io[0].iovcnt = 0;
	assert_int_equal(hbk_submit(t.q, &io[0]), -EINVAL);
	io[0].iovcnt = HBK_IOV_MAX + 1;
	assert_int_equal(hbk_submit(t.q, &io[0]), -EINVAL);
	io[0] = (struct hbk_io){.op = HBK_DISCARD, .offset = 0, .len = 0};
	assert_int_equal(hbk_submit(t.q, &io[0]), -EINVAL);
	io[0] = (struct hbk_io){.op = (enum hbk_op)9};
	assert_int_equal(hbk_submit(t.q, &io[0]), -EINVAL);
	assert_int_equal(hbk_queue_open(f->b, 0, tq_done, &t, &(struct
			 hbk_queue *){0}), -EINVAL);
	assert_int_equal(hbk_queue_open(f->b, 1025, tq_done, &t, &(struct
			 hbk_queue *){0}), -EINVAL);
	tq_close(&t);
	free(buf);
}

/* Closing with ios in flight and others never kicked: every one still
 * completes, before close returns. */
static void test_close_in_flight(void **state)
{
	struct fx *f = *state;
	struct tq t;
	uint8_t *buf = aligned_buf(128 * 65536);
	struct iovec v[128];
	struct hbk_io io[128];

	tq_like(f, &t, 128);
	for (unsigned i = 0; i < 128; i++) {
		v[i] = (struct iovec){buf + i * 65536, 65536};
		io[i] = (struct hbk_io){.op = i % 2 ? HBK_WRITE : HBK_READ,
					.offset = i * 65536ull, .len = 65536,
					.iov = &v[i], .iovcnt = 1,
					.fua = i % 4 == 1};
		assert_int_equal(hbk_submit(t.q, &io[i]), 0);
		if (i == 95)
			hbk_kick(t.q);
	}
	tq_close(&t);
	assert_int_equal(t.done, 128);
	assert_int_equal(t.failed, 0);
	free(buf);
}

/* Two queues (two rings, two completion threads) on one file at once:
 * each writes its half, the other reads it back. */
static void test_two_queues(void **state)
{
	struct fx *f = *state;
	struct tq t2;
	uint8_t *w = aligned_buf(2 * MIB), *r = aligned_buf(MIB);
	struct iovec v[2] = {{w, MIB}, {w + MIB, MIB}};
	struct hbk_io io[2];

	pattern(w, 2 * MIB, 0, 18);
	tq_open(&t2, f->b, 8);
	for (unsigned i = 0; i < 2; i++) {
		io[i] = (struct hbk_io){.op = HBK_WRITE, .offset = i * MIB,
					.len = MIB, .iov = &v[i], .iovcnt = 1};
		assert_int_equal(hbk_submit(i ? t2.q : f->t.q, &io[i]), 0);
	}
	hbk_kick(f->t.q);
	hbk_kick(t2.q);
	assert_true(tq_wait(&f->t, 1) && tq_wait(&t2, 1));
	assert_int_equal(io[0].result | io[1].result, 0);
	assert_int_equal(tq_rw(&t2, HBK_READ, 0, r, MIB, false), 0);
	assert_memory_equal(w, r, MIB);
	assert_int_equal(tq_rw(&f->t, HBK_READ, MIB, r, MIB, false), 0);
	assert_memory_equal(w + MIB, r, MIB);
	tq_close(&t2);
	free(w);
	free(r);
}

/* 10000 random 4 KiB writes at depth 128, then each block checked in
 * the file. */
static void test_many(void **state)
{
	enum { N = 10000, SIZE = 64 << 20, DEPTH = 128 };
	struct fx *f = *state;
	uint8_t *img = malloc(SIZE);
	struct many m;

	assert_int_equal(hbk_resize(f->b, SIZE, &(uint64_t){0}), 0);
	tq_close(&f->t);
	tq_like(f, &f->t, DEPTH);
	many_writes(&m, &f->t, N, SIZE / 4096, 8);
	file_read(f, 0, img, SIZE);
	for (unsigned i = 0; i < N; i++)
		assert_memory_equal(m.v[i].iov_base, img + m.blk[i] * 4096ull,
				    4096);
	many_free(&m);
	free(img);
}

/* An image shorter than its advertised size (cut behind the backend's
 * back): the part past its end reads as zeros, the rest as written. */
static void test_short_image(void **state)
{
	struct fx *f = *state;
	uint8_t *w = aligned_buf(MIB), *r = aligned_buf(MIB);

	pattern(w, MIB, 0, 9);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, 0, w, MIB, false), 0);
	assert_int_equal(truncate(f->img, 300000), 0);
	memset(r, 0xAA, MIB);
	assert_int_equal(tq_rw(&f->t, HBK_READ, 0, r, MIB, false), 0);
	assert_memory_equal(w, r, 300000);
	assert_true(all_zero(r + 300000, MIB - 300000));
	/* wholly past the end */
	memset(r, 0xAA, 4096);
	assert_int_equal(tq_rw(&f->t, HBK_READ, 8 * MIB, r, 4096, false), 0);
	assert_true(all_zero(r, 4096));
	free(w);
	free(r);
}

/* A write cut short (the file size limit falls inside it): the rest is
 * tried again, and the io fails with that attempt's error (EFBIG) after
 * the part before the limit was written. */
static void test_short_write(void **state)
{
	struct fx *f = *state;
	struct rlimit old, lim;
	uint8_t *w = aligned_buf(8192), *r = aligned_buf(8192);

	pattern(w, 8192, 0, 10);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){IMG_SIZE, old.rlim_max};
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(tq_rw(&f->t, HBK_WRITE, IMG_SIZE - 4096, w, 8192,
			       false), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	file_read(f, IMG_SIZE - 4096, r, 4096);
	assert_memory_equal(w, r, 4096);
	free(w);
	free(r);
}

/* A file grows and shrinks; a size not in whole blocks is refused; size
 * 0 reads what the file says now. */
static void test_resize(void **state)
{
	struct fx *f = *state;
	uint64_t now = 0;

	assert_int_equal(hbk_resize(f->b, 2 * IMG_SIZE, &now), 0);
	assert_int_equal(now, 2 * IMG_SIZE);
	assert_int_equal(info_of(f->b).size, 2 * IMG_SIZE);
	assert_int_equal(hbk_resize(f->b, IMG_SIZE / 2, &now), 0);
	assert_int_equal(now, IMG_SIZE / 2);
	assert_int_equal(hbk_resize(f->b, 1000, &now), -EINVAL);
	assert_int_equal(truncate(f->img, 3 * MIB), 0);
	assert_int_equal(hbk_resize(f->b, 0, &now), 0);
	assert_int_equal(now, 3 * MIB);
	assert_int_equal(info_of(f->b).size, 3 * MIB);
}

static void test_no_direct(void **state)
{
	struct fx *f = *state;
	struct hbk_cfg cfg = {.no_direct = true};
	struct fx nd = {0};

	open_backend(&nd, f->img, &cfg, 8);
	assert_false(info_of(nd.b).direct);
	check_unaligned(&nd);
	tq_close(&nd.t);
	hbk_close(nd.b);
}

/* What cannot be a disk is refused, with the path and a reason. */
static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct hbk *b = NULL;
	char err[256], path[128];

	snprintf(path, sizeof(path), "%s/none", f->dir);
	assert_int_equal(hbk_open(&b, path, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, path));
	assert_int_equal(hbk_open(&b, f->dir, NULL, err, sizeof(err)),
			 -EISDIR);
	assert_non_null(strstr(err, "not a regular file or block device"));
	assert_int_equal(hbk_open(&b, f->dir, &(struct hbk_cfg){
			 .read_only = true}, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file or block device"));
	assert_int_equal(hbk_open(&b, "/dev/null", NULL, err, sizeof(err)),
			 -EINVAL);
	assert_null(b);
}

/* ---- a loop device (root, and a kernel with loop devices) ---- */

/* The loop device over the fixture's image, opened as the backend; false
 * where losetup cannot make one. */
static bool open_loop(struct fx *f, unsigned block)
{
	char cmd[160];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "losetup -f --show -b %u %s 2>/dev/null",
		 block, f->img);
	p = popen(cmd, "r");
	if (!p)
		return false;
	if (!fgets(f->loop, sizeof(f->loop), p))
		f->loop[0] = '\0';
	if (pclose(p) != 0 || strncmp(f->loop, "/dev/loop", 9)) {
		f->loop[0] = '\0';
		return false;
	}
	f->loop[strcspn(f->loop, "\n")] = '\0';
	open_backend(f, f->loop, NULL, 64);
	return true;
}

static int setup_loop(void **state, unsigned block)
{
	struct fx *f = calloc(1, sizeof(*f));

	make_image(f, is_tmpfs("/var/tmp") ? "/tmp" : "/var/tmp", IMG_SIZE);
	*state = f;
	if (!open_loop(f, block))
		f->loop[0] = '\0';
	return 0;
}

static int setup_loop512(void **state)
{
	return setup_loop(state, 512);
}

static int setup_loop4k(void **state)
{
	return setup_loop(state, 4096);
}

static void check_loop(struct fx *f, unsigned block)
{
	struct hbk_info i;
	uint64_t now = 0;

	if (!f->loop[0])
		skip();
	i = info_of(f->b);
	assert_string_equal(i.kind, "block");
	assert_int_equal(i.size, IMG_SIZE);
	assert_int_equal(i.block_size, block);
	assert_true(i.direct);
	check_rw(f);
	check_iov(f);
	check_unaligned(f);
	if (i.can_discard)
		check_discard(f);
	check_zeroes(f, i.can_discard);
	assert_int_equal(hbk_resize(f->b, 2 * IMG_SIZE, &now), -ENOTSUP);
	assert_int_equal(hbk_resize(f->b, 0, &now), 0);
	assert_int_equal(now, IMG_SIZE);
}

static void test_loop512(void **state)
{
	check_loop(*state, 512);
}

static void test_loop4k(void **state)
{
	check_loop(*state, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_real_info, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_real_rw, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_real_unaligned,
						setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_real_discard, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_shm, setup_shm, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_depth, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_in_flight,
						setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_two_queues, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_many, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_image, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_write, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_resize, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_direct, setup_real,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup_real,
						teardown),
		/* the same on queues the test thread reaps */
		cmocka_unit_test_setup_teardown(test_real_rw,
						setup_real_polled, teardown),
		cmocka_unit_test_setup_teardown(test_real_unaligned,
						setup_real_polled, teardown),
		cmocka_unit_test_setup_teardown(test_real_discard,
						setup_real_polled, teardown),
		cmocka_unit_test_setup_teardown(test_shm, setup_shm_polled,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_in_flight,
						setup_real_polled, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup_real_polled,
						teardown),
		cmocka_unit_test_setup_teardown(test_short_image,
						setup_real_polled, teardown),
		cmocka_unit_test_setup_teardown(test_short_write,
						setup_real_polled, teardown),
		cmocka_unit_test_setup_teardown(test_loop512, setup_loop512,
						teardown),
		cmocka_unit_test_setup_teardown(test_loop4k, setup_loop4k,
						teardown),
	};

	return cmocka_run_group_tests_name("hbk_file", tests, NULL, NULL);
}
