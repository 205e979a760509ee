/* The NBD backend: a disk served by an NBD server (qemu-nbd for VHDX and
 * qcow2 images, nbdkit for anything else), through libnbd.
 *
 * One connection and one thread per disk: every queue's ios go to that
 * thread, which alone calls libnbd (so a FLUSH covers every write the
 * disk took, whichever channel sent it, without relying on the server's
 * multi-conn). Queues hand their ios over once per kick (a lock and one
 * eventfd write per batch); the thread issues them as libnbd commands
 * (one per iovec of a scattered READ/WRITE), runs the connection, and
 * delivers each queue's finished ios in batches. A connection that dies
 * fails every io in flight and every later one with its error. */
#include <errno.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hbk_priv.h"

#define NBD_BATCH 64u
#define ZERO_LEN (64u << 10)
/* ios one disk has in flight over all its queues */
#define NBD_SLOTS 16384u

struct hbk_nq;

struct nbd_slot {
	struct hbk_io *io;
	struct hbk_nq *q;
	unsigned parts;
	bool flush_after;    /* FUA on a server without it */
	uint32_t next_free;
};

struct hbk_nbd {
	struct hbk b;
	struct nbd_handle *h;
	bool fua, flush, trim, zero;
	int efd;
	pthread_t thr;
	bool thr_live;
	pthread_mutex_t lock;    /* in, nin, stop, depth */
	struct hbk_io **in;      /* handed over, not issued */
	struct hbk_nq **in_q;
	uint32_t nin;
	uint32_t depth;          /* the queues' depths added up */
	bool stop;
	/* the thread's own */
	struct nbd_slot *slot;
	uint32_t free_slot;
	struct hbk_nq **dirty;   /* queues with finished ios to deliver */
	uint32_t ndirty;
	struct nbd_slot **later; /* writes whose flush is still to issue */
	uint32_t nlater;
	int dead;                /* errno once the connection died */
};

struct hbk_nq {
	struct hbk_queue q;
	struct hbk_nbd *n;
	unsigned depth;
	struct hbk_io **local;   /* submitted, not kicked (worker) */
	unsigned nlocal;
	uint64_t submitted;      /* worker */
	_Atomic uint64_t completed; /* thread */
	struct hbk_io *done[NBD_BATCH]; /* thread */
	unsigned ndone;
};

static const uint8_t zeros[ZERO_LEN];

/* ---- the thread: completion of commands ---- */

static void deliver(struct hbk_nq *q)
{
	uint64_t c;

	if (!q->ndone)
		return;
	q->q.done(q->done, q->ndone, q->q.arg);
	c = atomic_load_explicit(&q->completed, memory_order_relaxed);
	atomic_store_explicit(&q->completed, c + q->ndone,
			      memory_order_release);
	q->ndone = 0;
}

static void io_finish(struct hbk_nbd *n, struct nbd_slot *s)
{
	struct hbk_nq *q = s->q;

	if (q->ndone == NBD_BATCH)
		deliver(q);
	if (!q->ndone)
		n->dirty[n->ndirty++] = q;
	q->done[q->ndone++] = s->io;
	s->io = NULL;
	s->next_free = n->free_slot;
	n->free_slot = (uint32_t)(s - n->slot);
}

static int cmd_done(void *user, int *error)
{
	struct nbd_slot *s = user;
	struct hbk_nbd *n = s->q->n;

	if (*error && !s->io->result)
		s->io->result = -*error;
	if (--s->parts)
		return 1;
	/* libnbd takes no command from inside its callbacks: the flush
	 * goes out once the call that ran this one returned. */
	if (s->flush_after && !s->io->result) {
		s->flush_after = false;
		n->later[n->nlater++] = s;
		return 1;
	}
	io_finish(n, s);
	return 1;
}

static void issue_later(struct hbk_nbd *n)
{
	for (uint32_t i = 0; i < n->nlater; i++) {
		struct nbd_slot *s = n->later[i];

		s->parts = 1;
		if (nbd_aio_flush(n->h, (nbd_completion_callback){
				  .callback = cmd_done, .user_data = s}, 0) < 0) {
			s->io->result = -EIO;
			io_finish(n, s);
		}
	}
	n->nlater = 0;
}

/* ---- the thread: issuing ---- */

static nbd_completion_callback cb(struct nbd_slot *s)
{
	return (nbd_completion_callback){.callback = cmd_done, .user_data = s};
}

/* A part that libnbd refused at once fails the io; the parts already
 * issued still complete through cmd_done. */
static void part(struct nbd_slot *s, int64_t rc)
{
	if (rc >= 0)
		return;
	if (!s->io->result)
		s->io->result = -(nbd_get_errno() ? nbd_get_errno() : EIO);
	s->parts--;
}

static void issue_rw(struct hbk_nbd *n, struct nbd_slot *s)
{
	const struct hbk_io *io = s->io;
	uint32_t fl = io->fua && n->fua ? LIBNBD_CMD_FLAG_FUA : 0;
	uint64_t off = io->offset;

	s->flush_after = io->fua && !n->fua;
	s->parts = io->iovcnt + 1; /* + 1 held until all are issued */
	for (unsigned i = 0; i < io->iovcnt; i++) {
		const struct iovec *v = &io->iov[i];

		part(s, io->op == HBK_READ
				? nbd_aio_pread(n->h, v->iov_base, v->iov_len,
						off, cb(s), 0)
				: nbd_aio_pwrite(n->h, v->iov_base, v->iov_len,
						 off, cb(s), fl));
		off += v->iov_len;
	}
}

static void issue_zero(struct hbk_nbd *n, struct nbd_slot *s)
{
	const struct hbk_io *io = s->io;

	if (n->zero) {
		s->parts = 2;
		part(s, nbd_aio_zero(n->h, io->len, io->offset, cb(s),
				     io->may_unmap ? 0
						   : LIBNBD_CMD_FLAG_NO_HOLE));
		return;
	}
	s->parts = 1;
	for (uint64_t o = 0; o < io->len; o += ZERO_LEN) {
		uint64_t k = io->len - o < ZERO_LEN ? io->len - o : ZERO_LEN;

		s->parts++;
		part(s, nbd_aio_pwrite(n->h, zeros, k, io->offset + o, cb(s),
				       0));
	}
}

static void issue_one(struct hbk_nbd *n, struct nbd_slot *s)
{
	struct hbk_io *io = s->io;

	s->parts = 2;
	if (io->op == HBK_READ || io->op == HBK_WRITE)
		issue_rw(n, s);
	else if (io->op == HBK_WRITE_ZEROES)
		issue_zero(n, s);
	else if (io->op == HBK_FLUSH && n->flush)
		part(s, nbd_aio_flush(n->h, cb(s), 0));
	else if (io->op == HBK_DISCARD && n->trim)
		part(s, nbd_aio_trim(n->h, io->len, io->offset, cb(s), 0));
	else
		s->parts = 1; /* nothing to send */
	if (io->op == HBK_DISCARD && !n->trim)
		io->result = -EOPNOTSUPP;
	cmd_done(s, &(int){0}); /* the part held while issuing */
}

static void issue(struct hbk_nbd *n, struct hbk_nq *q, struct hbk_io *io)
{
	struct nbd_slot *s = &n->slot[n->free_slot];

	n->free_slot = s->next_free;
	*s = (struct nbd_slot){.io = io, .q = q};
	io->result = 0;
	if (n->b.info.read_only && io->op != HBK_READ && io->op != HBK_FLUSH)
		io->result = -EROFS;
	else if (n->dead)
		io->result = -n->dead;
	if (io->result) {
		io_finish(n, s);
		return;
	}
	issue_one(n, s);
}

/* ---- the thread ---- */

static bool take_in(struct hbk_nbd *n, struct hbk_io **io, struct hbk_nq **q,
		    uint32_t *count)
{
	bool stop;

	pthread_mutex_lock(&n->lock);
	memcpy(io, n->in, n->nin * sizeof(*io));
	memcpy(q, n->in_q, n->nin * sizeof(*q));
	*count = n->nin;
	n->nin = 0;
	stop = n->stop;
	pthread_mutex_unlock(&n->lock);
	return stop;
}

static void run_io(struct hbk_nbd *n)
{
	unsigned dir = nbd_aio_get_direction(n->h);
	int fd = nbd_aio_get_fd(n->h);
	struct pollfd p[2] = {{.fd = n->efd, .events = POLLIN},
			      {.fd = fd, .events = 0}};
	uint64_t v;

	if (dir & LIBNBD_AIO_DIRECTION_READ)
		p[1].events |= POLLIN;
	if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		p[1].events |= POLLOUT;
	if (poll(p, fd >= 0 ? 2 : 1, -1) < 0)
		return;
	if (p[0].revents)
		(void)!read(n->efd, &v, sizeof(v));
	if (fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		nbd_aio_notify_read(n->h);
	else if (fd >= 0 && (p[1].revents & POLLOUT))
		nbd_aio_notify_write(n->h);
	if (!n->dead && nbd_aio_is_dead(n->h))
		n->dead = nbd_get_errno() ? nbd_get_errno() : EIO;
}

static void deliver_all(struct hbk_nbd *n)
{
	for (uint32_t i = 0; i < n->ndirty; i++)
		deliver(n->dirty[i]);
	n->ndirty = 0;
}

static void *nb_thread(void *arg)
{
	struct hbk_nbd *n = arg;
	struct hbk_io **io = calloc(NBD_SLOTS, sizeof(*io));
	struct hbk_nq **q = calloc(NBD_SLOTS, sizeof(*q));
	uint32_t cnt;

	for (bool stop = false; io && q;) {
		stop = take_in(n, io, q, &cnt);
		for (uint32_t i = 0; i < cnt; i++)
			issue(n, q[i], io[i]);
		issue_later(n);
		deliver_all(n);
		if (stop && nbd_aio_in_flight(n->h) <= 0)
			break;
		run_io(n);
		issue_later(n);
		deliver_all(n);
	}
	free(io);
	free(q);
	return NULL;
}

/* ---- queues (the worker) ---- */

static int nb_submit(struct hbk_queue *hq, struct hbk_io *io)
{
	struct hbk_nq *q = (struct hbk_nq *)hq;
	uint64_t done = atomic_load_explicit(&q->completed,
					     memory_order_acquire);

	if (q->submitted + q->nlocal - done >= q->depth)
		return -EAGAIN;
	q->local[q->nlocal++] = io;
	return 0;
}

static void nb_kick(struct hbk_queue *hq)
{
	struct hbk_nq *q = (struct hbk_nq *)hq;
	struct hbk_nbd *n = q->n;
	uint64_t one = 1;

	if (!q->nlocal)
		return;
	pthread_mutex_lock(&n->lock);
	for (unsigned i = 0; i < q->nlocal; i++) {
		n->in[n->nin] = q->local[i];
		n->in_q[n->nin++] = q;
	}
	pthread_mutex_unlock(&n->lock);
	q->submitted += q->nlocal;
	q->nlocal = 0;
	(void)!write(n->efd, &one, sizeof(one));
}

static void nb_queue_close(struct hbk_queue *hq)
{
	struct hbk_nq *q = (struct hbk_nq *)hq;
	struct timespec ms = {0, 1000000};

	nb_kick(hq);
	/* Every io comes back: the thread fails them if the server is gone. */
	while (atomic_load_explicit(&q->completed, memory_order_acquire) !=
	       q->submitted)
		nanosleep(&ms, NULL);
	pthread_mutex_lock(&q->n->lock);
	q->n->depth -= q->depth;
	pthread_mutex_unlock(&q->n->lock);
	free(q->local);
	free(q);
}

static int nb_queue_open(struct hbk *b, unsigned depth,
			  struct hbk_queue **out)
{
	struct hbk_nbd *n = (struct hbk_nbd *)b;
	struct hbk_nq *q = calloc(1, sizeof(*q));
	int rc = 0;

	if (!q || !(q->local = calloc(depth, sizeof(*q->local)))) {
		free(q);
		return -ENOMEM;
	}
	q->n = n;
	q->depth = depth;
	pthread_mutex_lock(&n->lock);
	if (n->depth + depth > NBD_SLOTS)
		rc = -ENOSPC;
	else
		n->depth += depth;
	pthread_mutex_unlock(&n->lock);
	if (rc) {
		free(q->local);
		free(q);
		return rc;
	}
	*out = &q->q;
	return 0;
}

/* ---- the disk ---- */

static void nb_close(struct hbk *b)
{
	struct hbk_nbd *n = (struct hbk_nbd *)b;
	uint64_t one = 1;

	if (n->thr_live) {
		pthread_mutex_lock(&n->lock);
		n->stop = true;
		pthread_mutex_unlock(&n->lock);
		(void)!write(n->efd, &one, sizeof(one));
		pthread_join(n->thr, NULL);
	}
	if (n->h) {
		nbd_shutdown(n->h, 0);
		nbd_close(n->h);
	}
	if (n->efd >= 0)
		close(n->efd);
	pthread_mutex_destroy(&n->lock);
	free(n->in);
	free(n->in_q);
	free(n->slot);
	free(n->dirty);
	free(n->later);
	free(n);
}

static int nb_resize(struct hbk *b, uint64_t size, uint64_t *out)
{
	(void)size;
	(void)out;
	(void)b;
	return -ENOTSUP;
}

static const struct hbk_ops nb_ops = {
	.close = nb_close,
	.resize = nb_resize,
	.queue_open = nb_queue_open,
	.submit = nb_submit,
	.kick = nb_kick,
	.queue_close = nb_queue_close,
};

static int connect_uri(struct hbk_nbd *n, const char *uri,
		       const struct hbk_cfg *cfg)
{
	int64_t size;

	n->h = nbd_create();
	if (!n->h || nbd_connect_uri(n->h, uri) == -1)
		return -(nbd_get_errno() ? nbd_get_errno() : EIO);
	size = nbd_get_size(n->h);
	if (size < 0)
		return -EIO;
	n->b.info = (struct hbk_info){
		.size = (uint64_t)size, .block_size = 512, .kind = "nbd",
		.read_only = cfg->read_only || nbd_is_read_only(n->h) == 1,
	};
	n->fua = nbd_can_fua(n->h) == 1;
	n->flush = nbd_can_flush(n->h) == 1;
	n->trim = nbd_can_trim(n->h) == 1;
	n->zero = nbd_can_zero(n->h) == 1;
	/* A trimmed range must read back as zeros, which NBD's TRIM does not
	 * promise: UNMAP is offered only where zeroing may punch holes. */
	n->b.info.can_discard = n->trim && n->zero && !n->b.info.read_only;
	return 0;
}

static int nb_alloc(struct hbk_nbd *n)
{
	n->in = calloc(NBD_SLOTS, sizeof(*n->in));
	n->in_q = calloc(NBD_SLOTS, sizeof(*n->in_q));
	n->slot = calloc(NBD_SLOTS, sizeof(*n->slot));
	n->dirty = calloc(NBD_SLOTS, sizeof(*n->dirty));
	n->later = calloc(NBD_SLOTS, sizeof(*n->later));
	if (!n->in || !n->in_q || !n->slot || !n->dirty || !n->later)
		return -ENOMEM;
	for (uint32_t i = 0; i < NBD_SLOTS; i++)
		n->slot[i].next_free = i + 1;
	n->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return n->efd < 0 ? -errno : 0;
}

int hbk_nbd_open(struct hbk **out, const char *uri,
		 const struct hbk_cfg *cfg, char *err, size_t errlen)
{
	struct hbk_nbd *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	err[0] = '\0';
	n->efd = -1;
	n->b.ops = &nb_ops;
	pthread_mutex_init(&n->lock, NULL);
	rc = nb_alloc(n);
	if (!rc && (rc = connect_uri(n, uri, cfg)))
		snprintf(err, errlen, "%s: %s", uri, nbd_get_error()
			 ? nbd_get_error() : strerror(-rc));
	if (!rc && (rc = -pthread_create(&n->thr, NULL, nb_thread, n)) == 0)
		n->thr_live = true;
	if (rc) {
		if (!*err)
			snprintf(err, errlen, "%s: %s", uri, strerror(-rc));
		nb_close(&n->b);
		return rc;
	}
	*out = &n->b;
	return 0;
}
