/* TAP bursts through io_uring (see rt_tapio.h). */
#include <errno.h>
#include <liburing.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_log.h"
#include "rt_tapio.h"

/* One line per process and cause, however many queues fall back. */
static void say_once(atomic_bool *said, const char *name, const char *what)
{
	if (!atomic_exchange(said, true))
		rt_info("tapio", "%s: %s", name, what);
}

/* Whether reads may carry RWF_NOWAIT (the TAP has non-blocking issue):
 * a read of no bytes asks without taking a frame. */
static bool nowait_reads(struct rt_tapio *t)
{
	struct io_uring_sqe *s = io_uring_get_sqe(t->ring);
	struct io_uring_cqe *c;
	struct iovec none = {NULL, 0};
	int res;

	io_uring_prep_readv(s, t->fd, &none, 1, 0);
	s->rw_flags = RWF_NOWAIT;
	/* no burst's op: a completion left behind is ignored by reap */
	io_uring_sqe_set_data64(s, UINT64_MAX);
	if (io_uring_submit_and_wait(t->ring, 1) != 1 ||
	    io_uring_peek_cqe(t->ring, &c))
		return false;
	res = c->res;
	io_uring_cqe_seen(t->ring, c);
	return res >= 0 || res == -EAGAIN;
}

static int ring_init(struct io_uring *r)
{
	/* the submitter also reaps, in the same call: no interrupt for
	 * task work (made on one thread, used on another: not
	 * SINGLE_ISSUER) */
	int rc = io_uring_queue_init(RT_TAPIO_OPS, r,
				     IORING_SETUP_COOP_TASKRUN);

	return rc == -EINVAL ? io_uring_queue_init(RT_TAPIO_OPS, r, 0) : rc;
}

void rt_tapio_init(struct rt_tapio *t, int fd, const char *name)
{
	static atomic_bool said_off, said_ring, said_reads;
	const char *env = getenv("HVIS_TAPIO");
	int rc;

	memset(t, 0, sizeof(*t));
	t->fd = fd;
	if (env && !strcmp(env, "off")) {
		say_once(&said_off, name, "TAP bursts off (HVIS_TAPIO=off): "
			 "one system call per frame");
		return;
	}
	t->ring = malloc(sizeof(*t->ring));
	rc = t->ring ? ring_init(t->ring) : -ENOMEM;
	if (rc) {
		free(t->ring);
		t->ring = NULL;
		say_once(&said_ring, name, rc == -ENOSYS || rc == -EPERM ?
			 "no io_uring here: one system call per frame" :
			 "io_uring not set up: one system call per frame");
		return;
	}
	t->ring_on = true;
	t->ring_reads = nowait_reads(t);
	if (!t->ring_reads)
		say_once(&said_reads, name, "the TAP takes no RWF_NOWAIT "
			 "reads: one readv per frame read, writes in bursts");
}

void rt_tapio_free(struct rt_tapio *t)
{
	if (t->ring_on)
		io_uring_queue_exit(t->ring);
	free(t->ring);
	t->ring = NULL;
	t->ring_on = false;
}

struct iovec *rt_tapio_iov(struct rt_tapio *t, unsigned n)
{
	if (t->nops == RT_TAPIO_OPS || RT_TAPIO_IOV - t->niov < n)
		return NULL;
	return t->iov + t->niov;
}

struct rt_tapio_op *rt_tapio_add(struct rt_tapio *t, unsigned n,
				 bool write)
{
	struct rt_tapio_op *o = &t->op[t->nops];

	o->iov = (uint16_t)t->niov;
	o->niov = (uint16_t)n;
	o->write = write;
	o->res = -EAGAIN;
	t->niov += n;
	return &t->op[t->nops++];
}

struct iovec *rt_tapio_more(struct rt_tapio *t, unsigned n)
{
	if (!t->nops || RT_TAPIO_IOV - t->niov < n ||
	    t->op[t->nops - 1].niov + n > UINT16_MAX)
		return NULL;
	return t->iov + t->niov;
}

void rt_tapio_grow(struct rt_tapio *t, unsigned n)
{
	t->op[t->nops - 1].niov = (uint16_t)(t->op[t->nops - 1].niov + n);
	t->niov += n;
}

/* One request by its own system call. */
static int32_t one(struct rt_tapio *t, const struct rt_tapio_op *o)
{
	const struct iovec *v = t->iov + o->iov;
	ssize_t n = o->write ? writev(t->fd, v, o->niov)
			     : readv(t->fd, v, o->niov);

	rt_ctr_add(&t->calls, 1);
	return n < 0 ? -errno : (int32_t)n;
}

/* The ops one call each, in order (the writes only when writes_too);
 * reads after an empty one are not tried (the queue had no more frames
 * a moment ago). */
static void each(struct rt_tapio *t, bool writes_too)
{
	bool empty = false;

	for (unsigned i = 0; i < t->nops; i++) {
		struct rt_tapio_op *o = &t->op[i];

		if (o->write && !writes_too)
			continue;
		if (!o->write && empty) {
			o->res = -EAGAIN;
			continue;
		}
		o->res = one(t, o);
		empty = !o->write && o->res == -EAGAIN;
	}
}

static void queue_ops(struct rt_tapio *t, unsigned *n)
{
	for (unsigned i = 0; i < t->nops; i++) {
		struct rt_tapio_op *o = &t->op[i];
		struct io_uring_sqe *s;

		if (!o->write && !t->ring_reads)
			continue;
		s = io_uring_get_sqe(t->ring);
		if (o->write)
			io_uring_prep_writev(s, t->fd, t->iov + o->iov,
					     o->niov, 0);
		else
			io_uring_prep_readv(s, t->fd, t->iov + o->iov,
					    o->niov, 0);
		/* a read never waits for a frame (see the header) */
		s->rw_flags = o->write ? 0 : RWF_NOWAIT;
		io_uring_sqe_set_data64(s, i);
		(*n)++;
	}
}

/* Every completion of the n submitted; false if the ring failed (the
 * ring is given up, the ops not completed keep -EIO). */
static bool reap(struct rt_tapio *t, unsigned n)
{
	struct io_uring_cqe *c;

	while (n) {
		int rc = io_uring_wait_cqe(t->ring, &c);

		if (rc == -EINTR)
			continue;
		if (rc)
			return false;
		if (c->user_data < t->nops)
			t->op[c->user_data].res = c->res;
		io_uring_cqe_seen(t->ring, c);
		n--;
	}
	return true;
}

static void ring_run(struct rt_tapio *t)
{
	unsigned n = 0;
	int rc;

	queue_ops(t, &n);
	if (!n)
		return;
	for (unsigned i = 0; i < t->nops; i++)
		if (t->op[i].write || t->ring_reads)
			t->op[i].res = -EIO;
	/* submits all and waits for all: they finish at submission */
	rc = io_uring_submit_and_wait(t->ring, n);
	rt_ctr_add(&t->calls, 1);
	if (rc != (int)n || !reap(t, n)) {
		rt_warn("tapio", "io_uring burst failed (%d of %u): one "
			"system call per frame from now on", rc, n);
		rt_tapio_free(t);
	}
}

unsigned rt_tapio_run(struct rt_tapio *t)
{
	unsigned n = t->nops;

	if (!t->ring_on) {
		each(t, true);
	} else {
		/* a failed ring's ops are not tried again: some may have
		 * been done */
		ring_run(t);
		if (!t->ring_reads)
			each(t, false);
	}
	t->nops = 0;
	t->niov = 0;
	return n;
}

unsigned rt_tapio_run_fn(struct rt_tapio *t, rt_tapio_fn *fn, void *arg)
{
	unsigned n = t->nops;

	for (unsigned i = 0; i < n; i++) {
		struct rt_tapio_op *o = &t->op[i];
		ssize_t r = fn(arg, o, t->iov + o->iov);

		o->res = r < 0 ? -errno : (int32_t)r;
	}
	rt_ctr_add(&t->calls, n);
	t->nops = 0;
	t->niov = 0;
	return n;
}
