/* Helpers of the disk backend tests: a queue whose completions the test
 * thread waits for (never forever: 10 s, then the test fails), and ios
 * built over plain buffers. A polled queue (tq_open_polled) is reaped
 * by the waiting thread, woken by its eventfd. Included by one test file
 * each. */
#ifndef HVIS_TEST_HBK_H
#define HVIS_TEST_HBK_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbk.h"

#define TQ_WAIT_S 10

struct tq {
	struct hbk_queue *q;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned done;      /* ios completed */
	unsigned batches;   /* done calls */
	unsigned failed;    /* ios with result != 0 */
	int efd;            /* polled: the queue's eventfd; else -1 */
};

static inline void tq_done(struct hbk_io *const *ios, unsigned n,
			   void *arg)
{
	struct tq *t = arg;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < n; i++)
		t->failed += ios[i]->result != 0;
	t->done += n;
	t->batches++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
}

static inline void tq_open(struct tq *t, struct hbk *b, unsigned depth)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->efd = -1;
	assert_int_equal(hbk_queue_open(b, depth, tq_done, t, &t->q), 0);
}

static inline void tq_open_polled(struct tq *t, struct hbk *b,
				  unsigned depth)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(t->efd >= 0);
	assert_int_equal(hbk_queue_open_polled(b, depth, tq_done, t, t->efd,
					       &t->q), 0);
}

static inline void tq_close(struct tq *t)
{
	hbk_queue_close(t->q);
	if (t->efd >= 0)
		close(t->efd);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cv);
}

/* A polled queue: reap whenever its eventfd says so. */
static inline bool tq_wait_polled(struct tq *t, unsigned n)
{
	struct pollfd p = {.fd = t->efd, .events = POLLIN};
	uint64_t v;

	for (unsigned i = 0; i < TQ_WAIT_S * 10u; i++) {
		hbk_reap(t->q);
		if (t->done >= n)
			return true;
		if (poll(&p, 1, 100) > 0)
			assert_int_equal(read(t->efd, &v, sizeof(v)),
					 sizeof(v));
	}
	return false;
}

/* Until n ios in all have completed; false after TQ_WAIT_S. */
static inline bool tq_wait(struct tq *t, unsigned n)
{
	struct timespec end;
	int rc = 0;

	if (t->efd >= 0)
		return tq_wait_polled(t, n);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += TQ_WAIT_S;
	pthread_mutex_lock(&t->lock);
	while (t->done < n && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&t->cv, &t->lock, &end);
	rc = t->done >= n;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* hbk_submit, waiting out -EAGAIN: a slot is free again only once done
 * has returned, a moment after tq_done counted the io. */
static inline int tq_submit(struct tq *t, struct hbk_io *io)
{
	struct timespec ms = {0, 1000000};
	int rc;

	for (unsigned i = 0; i < TQ_WAIT_S * 1000u; i++) {
		rc = hbk_submit(t->q, io);
		if (rc != -EAGAIN)
			return rc;
		hbk_kick(t->q);
		if (t->efd >= 0)
			hbk_reap(t->q);
		nanosleep(&ms, NULL);
	}
	return rc;
}

static inline unsigned tq_count(struct tq *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->done;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* One io, submitted, kicked and waited for: its result. */
static inline int tq_run(struct tq *t, struct hbk_io *io)
{
	unsigned want = tq_count(t) + 1;

	assert_int_equal(tq_submit(t, io), 0);
	hbk_kick(t->q);
	assert_true(tq_wait(t, want));
	return io->result;
}

static inline int tq_rw(struct tq *t, enum hbk_op op, uint64_t off,
			void *buf, size_t len, bool fua)
{
	struct iovec v = {buf, len};
	struct hbk_io io = {.op = op, .offset = off, .len = len, .iov = &v,
			    .iovcnt = 1, .fua = fua};

	return tq_run(t, &io);
}

static inline int tq_op(struct tq *t, enum hbk_op op, uint64_t off,
			uint64_t len, bool may_unmap)
{
	struct hbk_io io = {.op = op, .offset = off, .len = len,
			    .may_unmap = may_unmap};

	return tq_run(t, &io);
}

/* A pattern no other (off, seed) gives: each 8 bytes their offset. */
static inline void pattern(uint8_t *p, size_t len, uint64_t off,
			   uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = (off + i) * 0x9E3779B97F4A7C15ull ^ seed;

		memcpy(p + i, &v, len - i < 8 ? len - i : 8);
	}
}

static inline bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static inline void *aligned_buf(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 4096, len), 0);
	return p;
}

/* n random 4 KiB writes to distinct blocks of [0, blocks) (so that the
 * last writer of each is known), kicked 16 at a time, all waited for:
 * none fails, and completions came in batches. The caller checks each
 * block (blk[i] holds buf + i * 4096) and frees with many_free. */
struct many {
	uint32_t *blk;
	uint8_t *buf;
	struct iovec *v;
	struct hbk_io *io;
};

static inline void many_writes(struct many *m, struct tq *t, unsigned n,
			       uint32_t blocks, unsigned seed)
{
	m->blk = malloc(blocks * sizeof(*m->blk));
	m->buf = aligned_buf(n * 4096ul);
	m->v = calloc(n, sizeof(*m->v));
	m->io = calloc(n, sizeof(*m->io));
	for (uint32_t i = 0; i < blocks; i++)
		m->blk[i] = i;
	for (uint32_t i = blocks - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rand_r(&seed) % (i + 1), x = m->blk[i];

		m->blk[i] = m->blk[j];
		m->blk[j] = x;
	}
	for (unsigned i = 0; i < n; i++) {
		m->v[i] = (struct iovec){m->buf + i * 4096ul, 4096};
		pattern(m->v[i].iov_base, 4096, m->blk[i] * 4096ull, seed);
		m->io[i] = (struct hbk_io){.op = HBK_WRITE, .len = 4096,
					   .offset = m->blk[i] * 4096ull,
					   .iov = &m->v[i], .iovcnt = 1};
		assert_int_equal(tq_submit(t, &m->io[i]), 0);
		if (i % 16 == 15 || i == n - 1)
			hbk_kick(t->q);
	}
	assert_true(tq_wait(t, n));
	assert_int_equal(t->failed, 0);
	assert_true(t->batches < n);
}

static inline void many_free(struct many *m)
{
	free(m->blk);
	free(m->buf);
	free(m->v);
	free(m->io);
}

#endif
