/* A transport connection on the event loop that never blocks on its peer.
 *
 * Sends go straight to the socket while it takes them; once it does not
 * (the peer is slow to read, or posts a burst at us while we post one at
 * it), frames wait in a bounded queue, in order, and are written when the
 * socket turns writable. A peer that lets the queue reach its bound has
 * stopped reading: the connection is ended and counted rather than waited
 * for, since a thread that waits on a peer serves nobody else meanwhile.
 *
 * Receives are read in batches of at most RX_BATCH frames per wakeup, so a
 * peer that floods us cannot starve the loop's other watches.
 *
 * The owner's callbacks may close the connection from inside themselves:
 * busy counts the frames of this file on the stack, and the memory is
 * freed when the last one returns. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt_log.h"
#include "rt_xport.h"

#define RX_BATCH 32

struct xq_frame {
	struct xq_frame *next;
	uint32_t len; /* header + payload */
	unsigned nfds;
	int fds[RT_FRAME_MAX_FDS]; /* our own duplicates */
	uint8_t data[];
};

struct rt_xport_conn {
	int sock;
	struct rt_loop *loop;
	struct rt_xport_peer peer;
	char name[16];
	uint32_t events;  /* what the loop watches now */
	bool paused;      /* not reading (the owner asked) */
	bool dead;        /* failed: gone reported or about to be */
	bool closed;      /* rt_xport_close called while busy */
	unsigned busy;
	uint64_t gone_call; /* deferred gone report, 0 if none */
	char why[128];
	struct xq_frame *head, **tail;
	struct rt_xport_stats st;
};

static void conn_free(struct rt_xport_conn *x)
{
	struct xq_frame *f, *next;

	for (f = x->head; f; f = next) {
		next = f->next;
		for (unsigned i = 0; i < f->nfds; i++)
			close(f->fds[i]);
		free(f);
	}
	free(x);
}

/* ---- end of the connection ---- */

static void gone_now(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct rt_xport_conn *x = arg;

	(void)l;
	(void)fd;
	(void)events;
	x->gone_call = 0;
	if (x->closed)
		return;
	x->busy++;
	x->peer.gone(x->peer.arg, x->why);
	if (--x->busy == 0 && x->closed)
		conn_free(x);
}

/* The connection failed while sending (the owner is on the stack, maybe
 * inside a state machine): say so from the loop, not from here. */
static void fail_later(struct rt_xport_conn *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail_later(struct rt_xport_conn *x, const char *fmt, ...)
{
	va_list ap;

	if (x->dead)
		return;
	x->dead = true;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	x->gone_call = rt_loop_defer(x->loop, gone_now, x);
	if (!x->gone_call) /* out of memory: the next event reports it */
		rt_loop_mod(x->loop, x->sock, EPOLLOUT);
}

/* ---- sending ---- */

static void set_events(struct rt_xport_conn *x)
{
	uint32_t ev = (x->paused ? 0 : EPOLLIN) | (x->head ? EPOLLOUT : 0);

	if (ev != x->events && rt_loop_mod(x->loop, x->sock, ev) == 0)
		x->events = ev;
}

static ssize_t send_raw(int sock, const void *buf, uint32_t len,
			const int *fds, unsigned nfds)
{
	struct iovec iov = { (void *)buf, len };

	return rt_unix_sendmsg(sock, &iov, 1, fds, nfds, MSG_DONTWAIT);
}

/* Write queued frames until the socket is full or the queue empty. */
static void flush(struct rt_xport_conn *x)
{
	struct xq_frame *f;

	while (!x->dead && (f = x->head)) {
		if (send_raw(x->sock, f->data, f->len, f->fds, f->nfds) < 0) {
			if (errno != EAGAIN)
				fail_later(x, "send to %s failed: %s",
					   x->peer.name, strerror(errno));
			break;
		}
		x->head = f->next;
		if (!x->head)
			x->tail = &x->head;
		x->st.queued--;
		x->st.queued_bytes -= f->len;
		x->st.tx_frames++;
		for (unsigned i = 0; i < f->nfds; i++)
			close(f->fds[i]);
		free(f);
	}
	set_events(x);
}

/* A copy of the frame, with duplicates of its descriptors: the caller
 * may close its own as soon as the post returns. */
static struct xq_frame *frame_copy(const void *buf, uint32_t len,
				   const int *fds, unsigned nfds)
{
	struct xq_frame *f = malloc(sizeof(*f) + len);

	if (!f)
		return NULL;
	f->next = NULL;
	f->len = len;
	memcpy(f->data, buf, len);
	for (f->nfds = 0; f->nfds < nfds; f->nfds++) {
		f->fds[f->nfds] = fcntl(fds[f->nfds], F_DUPFD_CLOEXEC, 0);
		if (f->fds[f->nfds] < 0) {
			for (unsigned i = 0; i < f->nfds; i++)
				close(f->fds[i]);
			free(f);
			return NULL;
		}
	}
	return f;
}

static int enqueue(struct rt_xport_conn *x, const void *buf, uint32_t len,
		   const int *fds, unsigned nfds)
{
	struct xq_frame *f;

	if (x->st.queued >= RT_XPORT_QUEUE_FRAMES ||
	    x->st.queued_bytes + len > RT_XPORT_QUEUE_BYTES) {
		x->st.overflows++;
		fail_later(x, "%s stopped reading: %llu frames (%llu bytes) "
			   "waiting to be sent", x->peer.name,
			   (unsigned long long)x->st.queued,
			   (unsigned long long)x->st.queued_bytes);
		return -ENOBUFS;
	}
	f = frame_copy(buf, len, fds, nfds);
	if (!f) {
		fail_later(x, "cannot queue a frame for %s: %s", x->peer.name,
			   strerror(errno));
		return -ENOMEM;
	}
	*x->tail = f;
	x->tail = &f->next;
	if (++x->st.queued > x->st.queued_max)
		x->st.queued_max = x->st.queued;
	x->st.queued_bytes += len;
	set_events(x);
	return 0;
}

int rt_xport_post(struct rt_xport_conn *x, uint16_t type, uint32_t conn_id,
		  const void *payload, uint32_t len, const int *fds,
		  unsigned nfds)
{
	uint8_t buf[RT_FRAME_MAX];
	struct rt_frame_hdr h;

	if (len > VMB_MSG_MAX || nfds > RT_FRAME_MAX_FDS || (len && !payload))
		return -EINVAL;
	if (x->dead)
		return -ECONNRESET;
	rt_xport_hdr(&h, type, conn_id, len, nfds);
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	len += sizeof(h);
	/* In order: nothing overtakes a queued frame. */
	if (!x->head) {
		if (send_raw(x->sock, buf, len, fds, nfds) >= 0) {
			x->st.tx_frames++;
			return 0;
		}
		if (errno != EAGAIN) {
			fail_later(x, "send to %s failed: %s", x->peer.name,
				   strerror(errno));
			return -ECONNRESET;
		}
	}
	return enqueue(x, buf, len, fds, nfds);
}

/* ---- receiving ---- */

static void on_event(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct rt_xport_conn *x = arg;

	(void)l;
	(void)fd;
	x->busy++;
	if ((events & EPOLLOUT) && !x->dead)
		flush(x);
	if (x->dead && !x->gone_call && !x->closed) {
		x->gone_call = rt_loop_defer(x->loop, gone_now, x);
	} else if (x->paused && (events & (EPOLLHUP | EPOLLERR))) {
		fail_later(x, "connection closed by %s", x->peer.name);
	} else {
		for (unsigned i = 0; i < RX_BATCH && !x->closed && !x->dead &&
				     !x->paused && (events & EPOLLIN); i++)
			if (!rt_xport_read_one(x->sock, &x->peer, &x->st))
				break;
	}
	if (--x->busy == 0 && x->closed)
		conn_free(x);
}

struct rt_xport_conn *rt_xport_open(int sock, struct rt_loop *l,
				    const struct rt_xport_peer *p)
{
	struct rt_xport_conn *x = calloc(1, sizeof(*x));
	int fl = fcntl(sock, F_GETFL);

	if (!x || fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(x);
		return NULL;
	}
	x->sock = sock;
	x->loop = l;
	x->peer = *p;
	snprintf(x->name, sizeof(x->name), "%s", p->name);
	x->peer.name = x->name;
	x->tail = &x->head;
	x->events = EPOLLIN;
	if (rt_loop_add(l, sock, EPOLLIN, on_event, x)) {
		free(x);
		return NULL;
	}
	return x;
}

void rt_xport_pause(struct rt_xport_conn *x, bool paused)
{
	x->paused = paused;
	set_events(x);
}

void rt_xport_close(struct rt_xport_conn *x)
{
	if (!x || x->closed)
		return;
	rt_loop_del(x->loop, x->sock);
	if (x->gone_call)
		rt_loop_cancel(x->loop, x->gone_call);
	x->gone_call = 0;
	close(x->sock);
	x->sock = -1;
	x->closed = true;
	if (!x->busy)
		conn_free(x);
}

int rt_xport_wait(struct rt_xport_conn *x, int timeout_ms)
{
	struct pollfd p = { .fd = x->sock };
	int n;

	if (x->dead)
		return -ECONNRESET;
	p.events = (x->paused ? 0 : POLLIN) | (x->head ? POLLOUT : 0);
	n = poll(&p, 1, timeout_ms);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	on_event(x->loop, x->sock,
		 (p.revents & POLLIN ? EPOLLIN : 0) |
		 (p.revents & POLLOUT ? EPOLLOUT : 0) |
		 (p.revents & POLLHUP ? EPOLLHUP : 0) |
		 (p.revents & POLLERR ? EPOLLERR : 0), x);
	return 1;
}

void rt_xport_get_stats(const struct rt_xport_conn *x,
			struct rt_xport_stats *st)
{
	*st = x->st;
}

int rt_xport_fd(const struct rt_xport_conn *x)
{
	return x->sock;
}
