/* One NBD connection and the thread that alone drives it: it takes the
 * ios its queues handed over (one lock and one eventfd write per kick),
 * issues them as libnbd commands, runs libnbd's event loop (poll on the
 * eventfd and the socket in the direction libnbd asks, then
 * nbd_aio_notify_read/write), and hands each queue its finished ios in
 * batches. Only this thread calls libnbd on the handle once it runs, so
 * no libnbd call waits on another thread's.
 *
 * A READ or WRITE becomes one command per iovec (split further where an
 * iovec is more than the server takes in one command); the io completes
 * when all its commands did, with the first error. A connection that
 * dies (the server went away) makes libnbd fail every command in flight;
 * from then on every io fails at once: all with -EIO, nothing waits. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hbk_nbd_priv.h"

/* NBD lengths are 32-bit: zero and trim go in pieces of this */
#define ZERO_PIECE (1ull << 30)
/* socket events handled in a row before the replies are delivered */
#define BURST 64u

/* errno of a failed command: the connection's own failures are -EIO,
 * the server's errors as they are. */
static int nb_err(int e)
{
	switch (e) {
	case 0:
	case ENOTCONN:
	case ECONNRESET:
	case EPIPE:
	case ESHUTDOWN:
		return -EIO;
	default:
		return -e;
	}
}

/* ---- completion (libnbd callbacks and our own) ---- */

static void finish(struct nbd_slot *s)
{
	struct hbk_nq *q = s->q;

	q->fin[q->nfin++] = s->io;
	q->free_slot[q->nfree++] = (unsigned)(s - q->slot);
}

static void part_done(struct nbd_slot *s)
{
	if (--s->parts)
		return;
	/* libnbd takes no command from inside its callbacks: the flush is
	 * issued when the call that ran this one has returned. */
	if (s->flush_after && !s->io->result) {
		s->flush_after = false;
		s->q->later[s->q->nlater++] = s;
		return;
	}
	finish(s);
}

static int cmd_done(void *user, int *error)
{
	struct nbd_slot *s = user;

	if (*error && !s->io->result)
		s->io->result = nb_err(*error);
	part_done(s);
	return 1;
}

/* ---- issuing ---- */

/* The callback of one more command of s, counted before libnbd has it:
 * a command can complete inside the call that issues it (the server
 * went away as it was sent). */
static nbd_completion_callback cb(struct nbd_slot *s)
{
	s->parts++;
	return (nbd_completion_callback){.callback = cmd_done, .user_data = s};
}

/* A command was just asked of libnbd (rc, its cookie or -1). One that
 * libnbd refused at once never calls back: it fails the io here. */
static void sent(struct nbd_conn *c, struct nbd_slot *s, int64_t rc)
{
	if (rc >= 0)
		return;
	if (!s->io->result)
		s->io->result = nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)
					? -EIO : nb_err(nbd_get_errno());
	part_done(s);
}

static void issue_rw(struct nbd_conn *c, struct nbd_slot *s)
{
	const struct hbk_io *io = s->io;
	uint32_t fl = io->fua && c->n->fua ? LIBNBD_CMD_FLAG_FUA : 0;
	uint64_t off = io->offset;

	s->flush_after = io->fua && !c->n->fua && c->n->flush;
	for (unsigned i = 0; i < io->iovcnt && !io->result; i++) {
		uint8_t *p = io->iov[i].iov_base;

		for (size_t k = 0, len = io->iov[i].iov_len; k < len;) {
			size_t m = len - k < c->n->max_rw ? len - k
							  : c->n->max_rw;

			sent(c, s, io->op == HBK_READ
				? nbd_aio_pread(c->h, p + k, m, off, cb(s), 0)
				: nbd_aio_pwrite(c->h, p + k, m, off, cb(s),
						 fl));
			k += m;
			off += m;
		}
	}
}

/* WRITE_ZEROES and DISCARD where the server zeroes; hole: it may
 * deallocate (a DISCARD, or may_unmap). */
static void issue_zero(struct nbd_conn *c, struct nbd_slot *s, bool hole)
{
	const struct hbk_io *io = s->io;
	uint32_t fl = hole ? 0 : LIBNBD_CMD_FLAG_NO_HOLE;

	for (uint64_t o = 0; o < io->len && !io->result; o += ZERO_PIECE) {
		uint64_t m = io->len - o < ZERO_PIECE ? io->len - o
						      : ZERO_PIECE;

		sent(c, s, nbd_aio_zero(c->h, m, io->offset + o, cb(s), fl));
	}
}

/* WRITE_ZEROES on a server without NBD_CMD_WRITE_ZEROES. */
static void issue_zero_writes(struct nbd_conn *c, struct nbd_slot *s)
{
	const struct hbk_io *io = s->io;

	for (uint64_t o = 0; o < io->len && !io->result; o += c->n->max_rw) {
		uint64_t m = io->len - o < c->n->max_rw ? io->len - o
							: c->n->max_rw;

		sent(c, s, nbd_aio_pwrite(c->h, c->n->zeros, m,
					  io->offset + o, cb(s), 0));
	}
}

static void issue_cmds(struct nbd_conn *c, struct nbd_slot *s)
{
	struct hbk_io *io = s->io;

	switch (io->op) {
	case HBK_READ:
	case HBK_WRITE:
		issue_rw(c, s);
		break;
	case HBK_FLUSH:
		/* none offered: the server has no cache to write back */
		if (c->n->flush)
			sent(c, s, nbd_aio_flush(c->h, cb(s), 0));
		break;
	case HBK_DISCARD:
		issue_zero(c, s, true);
		break;
	case HBK_WRITE_ZEROES:
		if (c->n->zero)
			issue_zero(c, s, io->may_unmap);
		else
			issue_zero_writes(c, s);
		break;
	}
}

static void issue(struct nbd_conn *c, struct hbk_nq *q, struct hbk_io *io)
{
	struct nbd_slot *s = &q->slot[q->free_slot[--q->nfree]];

	*s = (struct nbd_slot){.io = io, .q = q, .parts = 1};
	if (!io->result && c->dead)
		io->result = -EIO;
	if (!io->result)
		issue_cmds(c, s);
	part_done(s); /* the part held while issuing */
}

static void issue_later(struct nbd_conn *c)
{
	for (unsigned i = 0; i < c->nsnap; i++) {
		struct hbk_nq *q = c->snap[i];

		for (unsigned k = 0; k < q->nlater; k++) {
			struct nbd_slot *s = q->later[k];

			s->parts = 1;
			if (!c->dead)
				sent(c, s, nbd_aio_flush(c->h, cb(s), 0));
			else
				s->io->result = -EIO;
			part_done(s);
		}
		q->nlater = 0;
	}
}

static void deliver_all(struct nbd_conn *c)
{
	for (unsigned i = 0; i < c->nsnap; i++) {
		struct hbk_nq *q = c->snap[i];
		unsigned n = q->nfin;

		q->nfin = 0;
		q->outstanding -= n;
		hbk_deliver(&q->q, q->fin, n);
	}
}

/* ---- taking work (under the lock) ---- */

static bool snap_add(struct nbd_conn *c, struct hbk_nq *q)
{
	if (c->nsnap == c->snap_cap) {
		unsigned cap = c->snap_cap ? 2 * c->snap_cap : 8;
		struct hbk_nq **p = realloc(c->snap, cap * sizeof(*p));

		if (!p)
			return false;
		c->snap = p;
		c->snap_cap = cap;
	}
	c->snap[c->nsnap++] = q;
	return true;
}

/* Leaves when it asked to and nothing of it is left here. */
static bool leave(struct nbd_conn *c, struct hbk_nq **link)
{
	struct hbk_nq *q = *link;

	if (!q->detach || q->nin || q->outstanding)
		return false;
	*link = q->next;
	q->gone = true;
	pthread_cond_broadcast(&c->cv);
	return true;
}

/* A new snapshot of the queues, each one's handed-over ios swapped
 * into its take (both arrays hold depth). Returns stop. */
static bool take_in(struct nbd_conn *c)
{
	bool stop;

	pthread_mutex_lock(&c->lock);
	c->nsnap = 0;
	for (struct hbk_nq **l = &c->queues; *l;) {
		struct hbk_nq *q = *l;
		struct hbk_io **t = q->take;

		if (leave(c, l))
			continue;
		l = &q->next;
		/* without room to remember a queue (no memory), its ios
		 * wait for the next look */
		if (!snap_add(c, q))
			continue;
		q->take = q->in;
		q->ntake = q->nin;
		q->in = t;
		q->nin = 0;
		q->outstanding += q->ntake;
	}
	stop = c->stop;
	pthread_mutex_unlock(&c->lock);
	return stop;
}

static void issue_taken(struct nbd_conn *c)
{
	for (unsigned i = 0; i < c->nsnap; i++) {
		struct hbk_nq *q = c->snap[i];

		for (unsigned k = 0; k < q->ntake; k++)
			issue(c, q, q->take[k]);
		q->ntake = 0;
	}
}

/* ---- the thread ---- */

static void check_dead(struct nbd_conn *c)
{
	if (!c->dead && (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)))
		c->dead = true;
}

static short events(struct nbd_conn *c, int *fd)
{
	unsigned dir;
	short ev = 0;

	*fd = c->dead ? -1 : nbd_aio_get_fd(c->h);
	dir = *fd >= 0 ? nbd_aio_get_direction(c->h) : 0;
	if (dir & LIBNBD_AIO_DIRECTION_READ)
		ev |= POLLIN;
	if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		ev |= POLLOUT;
	return ev;
}

/* Lets libnbd move on what the socket is ready for. A hang-up or an
 * error goes to notify_read too: the read sees it, and libnbd fails
 * what is in flight. */
static void notify(struct nbd_conn *c, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		nbd_aio_notify_read(c->h);
	else if (revents & POLLOUT)
		nbd_aio_notify_write(c->h);
	check_dead(c);
}

/* Waits for a wake-up or the socket, then goes on as long as the socket
 * is ready at once (up to a bound), so that the replies of a burst are
 * delivered as one batch. */
static void wait_io(struct nbd_conn *c)
{
	struct pollfd p[2] = {{.fd = c->efd, .events = POLLIN}};
	uint64_t v;

	p[1].events = events(c, &p[1].fd);
	if (poll(p, p[1].fd >= 0 ? 2 : 1, -1) <= 0)
		return;
	if (p[0].revents & POLLIN)
		(void)!read(c->efd, &v, sizeof(v));
	for (unsigned i = 0; i < BURST && p[1].fd >= 0 && p[1].revents; i++) {
		notify(c, p[1].revents);
		p[1].events = events(c, &p[1].fd);
		p[1].revents = 0;
		if (p[1].fd < 0 || poll(&p[1], 1, 0) <= 0)
			break;
	}
}

static bool leaving(const struct nbd_conn *c)
{
	for (unsigned i = 0; i < c->nsnap; i++)
		if (c->snap[i]->detach && !c->snap[i]->outstanding)
			return true;
	return false;
}

static void *conn_thread(void *arg)
{
	struct nbd_conn *c = arg;

	/* stop comes after every queue left: nothing is in flight then */
	while (!take_in(c)) {
		issue_taken(c);
		issue_later(c);
		check_dead(c);
		deliver_all(c);
		/* a queue that asked to leave may go now: look again first
		 * (a detach not seen yet comes with its own wake-up) */
		if (leaving(c))
			continue;
		wait_io(c);
		issue_later(c);
		deliver_all(c);
	}
	return NULL;
}

/* ---- open, close ---- */

void hbk_nbd_conn_wake(struct nbd_conn *c)
{
	uint64_t one = 1;

	(void)!write(c->efd, &one, sizeof(one));
}

void hbk_nbd_conn_close(struct nbd_conn *c)
{
	if (!c)
		return;
	if (c->thr_live) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_mutex_unlock(&c->lock);
		hbk_nbd_conn_wake(c);
		pthread_join(c->thr, NULL);
	}
	if (c->h) {
		/* tell the server, without waiting on it */
		if (!nbd_aio_is_dead(c->h) && !nbd_aio_is_closed(c->h))
			nbd_aio_disconnect(c->h, 0);
		nbd_close(c->h);
	}
	if (c->efd >= 0)
		close(c->efd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cv);
	free(c->snap);
	free(c);
}

static int conn_connect(struct nbd_conn *c, const char *uri, char *err,
			size_t errlen)
{
	c->h = nbd_create();
	if (!c->h || nbd_connect_uri(c->h, uri) == -1) {
		int e = nbd_get_errno();

		snprintf(err, errlen, "%s: %s", uri,
			 nbd_get_error() ? nbd_get_error() : strerror(e));
		return -(e ? e : EIO);
	}
	return 0;
}

int hbk_nbd_conn_new(struct hbk_nbd *n, struct nbd_conn **out, char *err,
		     size_t errlen)
{
	struct nbd_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->n = n;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = c->efd < 0 ? -errno : conn_connect(c, n->uri, err, errlen);
	if (rc) {
		hbk_nbd_conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int hbk_nbd_conn_start(struct nbd_conn *c)
{
	int rc = -pthread_create(&c->thr, NULL, conn_thread, c);

	c->thr_live = !rc;
	return rc;
}
