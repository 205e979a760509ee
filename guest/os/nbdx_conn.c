/* One NBD client connection on the server thread: a non-blocking socket
 * driven through the core/nbd engine. Input is parsed while request
 * slots are free; replies leave from a queue bounded by the slots, many
 * per sendmsg, READ data straight from the disk's buffers. A connection
 * whose replies stop moving for NBDX_STALL_MS is cut off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "nbdx_priv.h"

/* ---- life ---- */

void nbdx_conn_new(struct nbdx *s, int fd)
{
	struct nbdx_conn *c = NULL;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};

	if (s->nconns < s->max_conns)
		c = calloc(1, sizeof(*c));
	if (!c || nbd_srv_init(&c->eng, NBDX_CONN_INFLIGHT) != VMB_OK) {
		free(c);
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	c->events = ev.events;
	c->born_ms = nbdx_now_ms();
	nbdx_req_init(c);
	ev.data.ptr = c;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
}

static void drop(struct nbdx_conn *c, struct xreq **pp)
{
	if (*pp)
		nbdx_req_put(c, *pp);
	*pp = NULL;
}

/* The socket goes now, with every reply not sent and every buffer not
 * with the disk; the slots the disk holds come back later (the
 * connection is freed by housekeeping once they all did). */
void nbdx_conn_kill(struct nbdx_conn *c)
{
	if (c->dead)
		return;
	epoll_ctl(c->s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->dead = true;
	if (c->exp)
		nbdx_stat(c->exp, XS_CONNS, (uint64_t)-1);
	while (c->out_head) {
		struct xreq *x = c->out_head;

		c->out_head = x->next;
		nbdx_req_put(c, x);
	}
	c->out_tail = NULL;
	drop(c, &c->cur);
	drop(c, &c->held);
}

static void conn_free(struct nbdx_conn *c)
{
	if (c->exp)
		c->exp->conns--;
	c->s->nconns--;
	free(c);
}

/* ---- output ---- */

void nbdx_out_push(struct nbdx_conn *c, struct xreq *x)
{
	x->state = XR_OUT;
	x->sent = 0;
	x->next = NULL;
	if (c->out_tail)
		c->out_tail->next = x;
	else
		c->out_head = x;
	c->out_tail = x;
}

/* What is left of the queued replies, in order, as iovecs. */
static unsigned gather(const struct nbdx_conn *c, struct iovec *v)
{
	const uint32_t hl = sizeof(c->out_head->hdr);
	unsigned n = 0;

	for (struct xreq *x = c->out_head; x && n + 2 <= NBDX_IOV;
	     x = x->next) {
		uint32_t d = x->sent > hl ? x->sent - hl : 0;

		if (x->sent < hl)
			v[n++] = (struct iovec){x->hdr + x->sent, hl - x->sent};
		if (x->data)
			v[n++] = (struct iovec){
				(uint8_t *)x->buf + x->sp.skew + d,
				x->data - d};
	}
	return n;
}

/* n bytes went out: whole replies leave the queue (their slots and
 * buffers are free), a partly sent one remembers how far it got. */
static void consumed(struct nbdx_conn *c, size_t n)
{
	while (n) {
		struct xreq *x = c->out_head;
		size_t left = sizeof(x->hdr) + x->data - x->sent;

		if (n < left) {
			x->sent += (uint32_t)n;
			return;
		}
		n -= left;
		c->out_head = x->next;
		if (!c->out_head)
			c->out_tail = NULL;
		nbdx_req_put(c, x);
	}
}

/* Sends what the socket takes; false if the connection was cut. The
 * stall clock runs from the first refusal after the last byte moved. */
static bool out_flush(struct nbdx_conn *c)
{
	struct iovec v[NBDX_IOV];
	struct msghdr m = {.msg_iov = v};
	ssize_t n;

	while (c->out_head) {
		m.msg_iovlen = gather(c, v);
		n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			consumed(c, (size_t)n);
			c->stall_ms = 0;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->stall_ms)
				c->stall_ms = nbdx_now_ms();
			return true;
		} else if (n == 0 || errno != EINTR) {
			nbdx_conn_kill(c);
			return false;
		}
	}
	c->stall_ms = 0;
	return true;
}

/* ---- input ---- */

ssize_t nbdx_recv(struct nbdx_conn *c, void *dst, size_t len)
{
	ssize_t n;

	do
		n = recv(c->fd, dst, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 0) {
		nbd_srv_eof(&c->eng);
		return -1;
	}
	nbdx_conn_kill(c);
	return -2;
}

/* The engine took every byte (NBD_EV_NONE): more. True if the engine
 * has something new to look at (bytes, or the end of the stream). */
static bool fill(struct nbdx_conn *c)
{
	ssize_t n;

	memmove(c->rx, c->rx + c->roff, c->rlen - c->roff);
	c->rlen -= c->roff;
	c->roff = 0;
	n = nbdx_recv(c, c->rx + c->rlen, NBDX_RX - c->rlen);
	if (n > 0)
		c->rlen += (size_t)n;
	return n > 0 || n == -1;
}

static bool hs_send(struct nbdx_conn *c)
{
	size_t len;
	const uint8_t *p = nbd_srv_out(&c->eng, &len);
	ssize_t n;

	do
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		nbd_srv_out_done(&c->eng, (size_t)n);
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	nbdx_conn_kill(c);
	return false;
}

/* GO and EXPORT_NAME bind the connection to the export: from then on it
 * holds the export (not released while bound). */
static void export_answer(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	struct nbd_export ne;
	struct nbdx_export *e = nbdx_lookup(c->s, ev->name, ev->name_len, &ne);

	if (nbd_srv_export(&c->eng, e ? &ne : NULL) != VMB_OK || !e || !ev->go)
		return;
	c->exp = e;
	e->conns++;
	nbdx_stat(e, XS_CONNS, 1);
	nbdx_stat(e, XS_TOTAL, 1);
}

/* An entry that does not fit waits for the output to drain (the engine
 * asks again); one that cannot fit even then is a bug: cut. */
static bool list_answer(struct nbdx_conn *c, uint32_t index)
{
	size_t pending;

	if (nbdx_list(c->s, &c->eng, index) == VMB_OK)
		return true;
	nbd_srv_out(&c->eng, &pending);
	if (!pending)
		nbdx_conn_kill(c);
	return pending != 0;
}

/* DISC and the end of the stream leave the replies of the requests in
 * flight to be sent; anything else (ABORT acknowledged, unknown export,
 * a protocol violation) ends the connection now. */
static void closed(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	if (ev->close == NBD_CLOSE_DISC || ev->close == NBD_CLOSE_EOF)
		c->closing = true;
	else
		nbdx_conn_kill(c);
}

/* One event of the engine; false to stop reading for now. */
static bool event(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	switch (ev->kind) {
	case NBD_EV_NONE:
		return fill(c);
	case NBD_EV_SEND:
		return hs_send(c);
	case NBD_EV_EXPORT:
		export_answer(c, ev);
		return true;
	case NBD_EV_LIST:
		return list_answer(c, ev->index);
	case NBD_EV_READY:
		return true;
	case NBD_EV_REQUEST:
		nbdx_req_new(c, &ev->req);
		return true;
	case NBD_EV_REPLY:
		nbdx_req_refused(c, ev);
		return true;
	case NBD_EV_CLOSE:
		closed(c, ev);
		return false;
	case NBD_EV_FULL:
		return false;
	default:
		/* PAYLOAD: c->cur takes it before the engine is asked. */
		nbdx_conn_kill(c);
		return false;
	}
}

/* Requests are parsed only while a slot is free for them (and one for a
 * refusal): a client that does not read its replies is not read. */
static bool may_parse(const struct nbdx_conn *c)
{
	return !c->dead && !c->closing && !c->cur && c->free && c->raw_free;
}

static bool step(struct nbdx_conn *c)
{
	struct nbd_ev ev;

	if (!nbdx_req_step(c) || !may_parse(c))
		return false;
	c->roff += nbd_srv_input(&c->eng, c->rx + c->roff, c->rlen - c->roff,
				 &ev);
	nbdx_req_unhold(c);
	return event(c, &ev) && !c->dead;
}

/* Done: closing (or its export removed) with nothing owed either way. */
static bool finished(const struct nbdx_conn *c)
{
	return (c->closing || nbdx_req_gone(c)) && !c->out_head &&
	       !c->with_disk && !c->cur && !c->held;
}

static void arm(struct nbdx_conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	size_t hs;

	nbd_srv_out(&c->eng, &hs);
	if (c->out_head || hs)
		ev.events |= EPOLLOUT;
	if (c->cur ? c->cur->state == XR_PAYLOAD : may_parse(c) && !hs)
		ev.events |= EPOLLIN;
	if (ev.events != c->events &&
	    !epoll_ctl(c->s->ep, EPOLL_CTL_MOD, c->fd, &ev))
		c->events = ev.events;
}

void nbdx_conn_run(struct nbdx_conn *c)
{
	c->kick = false;
	if (c->dead || !out_flush(c))
		return;
	while (step(c))
		;
	if (c->dead || !out_flush(c))
		return;
	if (finished(c))
		nbdx_conn_kill(c);
	else
		arm(c);
}

/* A hang-up (both ways shut) after whatever could still be read: no
 * reply can reach the client any more. */
void nbdx_conn_event(struct nbdx_conn *c, uint32_t events)
{
	if (events & EPOLLERR) {
		nbdx_conn_kill(c);
		return;
	}
	nbdx_conn_run(c);
	if (events & EPOLLHUP)
		nbdx_conn_kill(c);
}

/* ---- housekeeping ---- */

static void cut_off(struct nbdx_conn *c)
{
	if (c->exp)
		nbdx_stat(c->exp, XS_CUT, 1);
	nbdx_conn_kill(c);
}

bool nbdx_conn_housekeep(struct nbdx_conn *c, uint64_t now_ms)
{
	if (!c->dead && c->out_head && c->stall_ms &&
	    now_ms - c->stall_ms >= NBDX_STALL_MS)
		cut_off(c);
	/* A handshake gets as long as a stalled reply. */
	if (!c->dead && !c->exp && now_ms - c->born_ms >= NBDX_STALL_MS)
		nbdx_conn_kill(c);
	if (!c->dead && nbdx_req_gone(c))
		nbdx_conn_run(c);
	if (!c->dead || c->with_disk)
		return false;
	conn_free(c);
	return true;
}
