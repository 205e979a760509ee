/* One NBD client connection of the export server, on the server thread:
 * a non-blocking socket driven through the core/nbd engine. Requests
 * take a slot of the connection (NBDX_CONN_INFLIGHT, the engine's limit
 * too) and a buffer of the disk; WRITE payload is received straight into
 * that buffer; replies leave in batches (one sendmsg for many), READ data
 * straight from the buffer. A slot whose request is with the disk stays
 * taken until the disk completes it, even after the client went away. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nbdx_priv.h"

/* ---- slots ---- */

static void slot_put(struct nbdx_conn *c, struct xreq *x)
{
	if (x >= c->raw && x < c->raw + NBDX_RAW) {
		x->next = c->raw_free;
		c->raw_free = x;
		return;
	}
	if (x->r.buf)
		c->exp->cfg.ops->buf_put(c->exp->cfg.disk, x->r.buf, x->r.len);
	x->r.buf = NULL;
	x->state = XR_FREE;
	x->next = c->free;
	c->free = x;
}

void nbdx_conn_free(struct nbdx_conn *c)
{
	struct nbdx_conn **pp;

	for (pp = &c->s->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	if (c->exp) {
		c->exp->conns--;
		nbdx_stat(c->exp, XS_CONNS, (uint64_t)-1);
	}
	c->s->nconns--;
	free(c);
}

static void out_drop(struct nbdx_conn *c)
{
	while (c->out_head) {
		struct xreq *x = c->out_head;

		c->out_head = x->next;
		slot_put(c, x);
	}
	c->out_tail = NULL;
	if (c->parked)
		slot_put(c, c->parked);
	if (c->payload)
		slot_put(c, c->payload);
	if (c->held)
		slot_put(c, c->held);
	c->parked = c->payload = c->held = NULL;
}

/* The socket goes now; the connection itself once the disk gave back
 * every request it holds (the server's reaping pass frees it). */
void nbdx_conn_kill(struct nbdx_conn *c, const char *why)
{
	if (c->dead)
		return;
	(void)why;
	epoll_ctl(c->s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->dead = true;
	out_drop(c);
}

/* ---- output ---- */

static int nbd_err(int err)
{
	switch (-err) {
	case 0: return 0;
	case ENOSPC: case EDQUOT: return NBD_ENOSPC;
	case EPERM: case EROFS: case EACCES: return NBD_EPERM;
	case EINVAL: return NBD_EINVAL;
	case ENOMEM: case EAGAIN: return NBD_ENOMEM;
	case ESHUTDOWN: return NBD_ESHUTDOWN;
	case ENOTSUP: return NBD_ENOTSUP;
	default: return NBD_EIO;
	}
}

static void queue(struct nbdx_conn *c, struct xreq *x);

static void reply(struct nbdx_conn *c, struct xreq *x, int err)
{
	int n = nbd_srv_reply(&c->eng, &x->nr, (uint32_t)nbd_err(err), x->hdr);

	x->data_len = n > 0 ? (uint32_t)n : 0;
	if (err)
		atomic_fetch_add_explicit(&c->exp->errors, 1,
					  memory_order_relaxed);
	else if (x->nr.type == NBD_CMD_READ)
		nbdx_stat(c->exp, XS_BREAD, x->nr.len);
	else if (x->nr.type == NBD_CMD_WRITE)
		nbdx_stat(c->exp, XS_BWRITTEN, x->nr.len);
	queue(c, x);
}

static void queue(struct nbdx_conn *c, struct xreq *x)
{
	x->sent = 0;
	x->state = XR_OUT;
	x->next = NULL;
	if (c->out_tail)
		c->out_tail->next = x;
	else
		c->out_head = x;
	c->out_tail = x;
}

static unsigned gather(struct nbdx_conn *c, struct iovec *v)
{
	unsigned n = 0;

	for (struct xreq *x = c->out_head; x && n + 2 <= NBDX_IOV;
	     x = x->next) {
		size_t hl = sizeof(x->hdr);

		if (x->sent < hl)
			v[n++] = (struct iovec){x->hdr + x->sent, hl - x->sent};
		if (x->data_len)
			v[n++] = (struct iovec){
				(uint8_t *)x->r.buf + (x->sent > hl
							       ? x->sent - hl : 0),
				x->data_len - (x->sent > hl ? x->sent - hl : 0)};
	}
	return n;
}

static void consumed(struct nbdx_conn *c, size_t n)
{
	while (n && c->out_head) {
		struct xreq *x = c->out_head;
		size_t left = sizeof(x->hdr) + x->data_len - x->sent;

		if (n < left) {
			x->sent += n;
			return;
		}
		n -= left;
		c->out_head = x->next;
		if (!c->out_head)
			c->out_tail = NULL;
		slot_put(c, x);
	}
}

/* Sends what it can; false if the connection was cut. */
static bool flush(struct nbdx_conn *c)
{
	struct iovec v[NBDX_IOV];
	struct msghdr m = {.msg_iov = v};
	ssize_t n;

	while ((m.msg_iovlen = gather(c, v))) {
		n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->stall_since)
				c->stall_since = nbdx_now_ms();
			return true;
		}
		if (n <= 0) {
			nbdx_conn_kill(c, "send failed");
			return false;
		}
		c->stall_since = 0;
		consumed(c, (size_t)n);
	}
	c->stall_since = 0;
	return true;
}

static bool send_handshake(struct nbdx_conn *c)
{
	size_t len;
	const uint8_t *p = nbd_srv_out(&c->eng, &len);
	ssize_t n = len ? send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		nbdx_conn_kill(c, "send failed");
		return false;
	}
	if (n > 0)
		nbd_srv_out_done(&c->eng, (size_t)n);
	nbd_srv_out(&c->eng, &len);
	return len == 0;
}

/* ---- requests ---- */

static void submit(struct nbdx_conn *c, struct xreq *x)
{
	struct nbdx_export *e = c->exp;
	int rc;

	if (e->removed) {
		reply(c, x, -EIO);
		return;
	}
	x->state = XR_DISK;
	c->with_disk++;
	e->with_disk++;
	rc = e->cfg.ops->submit(e->cfg.disk, &x->r);
	if (rc) {
		c->with_disk--;
		e->with_disk--;
		reply(c, x, rc);
	}
}

static const unsigned type_stat[] = {
	[NBD_CMD_READ] = XS_READS, [NBD_CMD_WRITE] = XS_WRITES,
	[NBD_CMD_FLUSH] = XS_FLUSHES, [NBD_CMD_TRIM] = XS_TRIMS,
	[NBD_CMD_WRITE_ZEROES] = XS_ZEROES,
};

/* A buffer for x, or it waits (parked) until a request of the export
 * gives one back. */
static bool take_buf(struct nbdx_conn *c, struct xreq *x)
{
	x->r.buf = c->exp->cfg.ops->buf_get(c->exp->cfg.disk, x->r.len);
	if (!x->r.buf) {
		x->state = XR_PARKED;
		c->parked = x;
		return false;
	}
	if (x->nr.type == NBD_CMD_WRITE) {
		x->state = XR_PAYLOAD;
		x->got = 0;
		c->payload = x;
	} else {
		submit(c, x);
	}
	return true;
}

static void request(struct nbdx_conn *c, const struct nbd_req *nr)
{
	struct xreq *x = c->free;

	c->free = x->next;
	x->nr = *nr;
	x->r = (struct nbdx_req){
		.type = nr->type, .offset = nr->offset, .len = nr->len,
		.fua = nr->flags & NBD_CMD_FLAG_FUA,
		.may_unmap = nr->type == NBD_CMD_WRITE_ZEROES &&
			     !(nr->flags & NBD_CMD_FLAG_NO_HOLE),
	};
	if (nr->type < sizeof(type_stat) / sizeof(type_stat[0]))
		nbdx_stat(c->exp, type_stat[nr->type], 1);
	if (nr->type != NBD_CMD_READ && nr->type != NBD_CMD_WRITE)
		submit(c, x);
	else
		take_buf(c, x);
}

/* The WRITE's payload: what is buffered, then straight from the socket
 * into the disk's buffer. False while more must arrive. */
static bool payload(struct nbdx_conn *c)
{
	struct xreq *x = c->payload;
	uint8_t *dst = x->r.buf;

	while (x->got < x->r.len) {
		size_t want = x->r.len - x->got, n = c->rlen - c->roff;
		ssize_t r;

		if (n) {
			n = n < want ? n : want;
			memcpy(dst + x->got, c->rx + c->roff, n);
			c->roff += n;
		} else {
			r = recv(c->fd, dst + x->got, want, MSG_DONTWAIT);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return false;
			if (r <= 0) {
				nbd_srv_eof(&c->eng);
				nbdx_conn_kill(c, "end of stream in a WRITE");
				return false;
			}
			n = (size_t)r;
		}
		nbd_srv_payload(&c->eng, n);
		x->got += n;
	}
	c->payload = NULL;
	submit(c, x);
	return true;
}

/* ---- the handshake ---- */

static void export_answer(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	struct nbdx_export *e = nbdx_lookup(c->s, ev->name, ev->name_len);
	struct nbd_export ne = {0};

	if (e) {
		const struct nbdx_export_cfg *k = &e->cfg;

		ne.size = atomic_load(&e->size);
		ne.flags = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			   NBD_FLAG_CAN_MULTI_CONN |
			   (k->read_only ? NBD_FLAG_READ_ONLY : 0) |
			   (k->can_trim ? NBD_FLAG_SEND_TRIM : 0) |
			   (k->can_zero ? NBD_FLAG_SEND_WRITE_ZEROES : 0);
		ne.min_block = k->block_size;
		ne.pref_block = k->block_size > 4096 ? k->block_size : 4096;
		ne.max_payload = k->max_payload;
		ne.desc = k->desc;
		ne.desc_len = k->desc ? (uint32_t)strlen(k->desc) : 0;
	}
	if (e && ev->go && c->exp != e) {
		if (c->exp)
			c->exp->conns--;
		e->conns++;
		c->exp = e;
	}
	nbd_srv_export(&c->eng, e ? &ne : NULL);
}

static void list_answer(struct nbdx_conn *c, uint32_t index)
{
	struct nbdx_export *e;

	pthread_mutex_lock(&c->s->lock);
	for (e = c->s->exports; e; e = e->next)
		if (!e->removed && index-- == 0)
			break;
	if (e)
		nbd_srv_list_entry(&c->eng, e->cfg.name,
				   (uint32_t)strlen(e->cfg.name), e->cfg.desc,
				   e->cfg.desc ? (uint32_t)strlen(e->cfg.desc)
					       : 0);
	else
		nbd_srv_list_end(&c->eng);
	pthread_mutex_unlock(&c->s->lock);
}

/* ---- the loop ---- */

/* A client still sending a refused WRITE's payload is not answered
 * before the last byte of it arrived (it could not match the reply). */
static void refused(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	struct xreq *x = c->raw_free;

	c->raw_free = x->next;
	memcpy(x->hdr, ev->reply, sizeof(x->hdr));
	x->data_len = 0;
	x->r.buf = NULL;
	if (c->exp)
		atomic_fetch_add_explicit(&c->exp->errors, 1,
					  memory_order_relaxed);
	if (c->eng.state == NBD_SRV_DISCARD)
		c->held = x;
	else
		queue(c, x);
}

static void release_held(struct nbdx_conn *c)
{
	if (c->held && c->eng.state != NBD_SRV_DISCARD) {
		queue(c, c->held);
		c->held = NULL;
	}
}

static bool can_read(const struct nbdx_conn *c)
{
	return !c->dead && !c->eof && !c->closing && !c->parked &&
	       !c->payload && c->free && c->raw_free;
}

/* More bytes from the client; false if none now. */
static bool fill(struct nbdx_conn *c)
{
	ssize_t n;

	if (c->roff == c->rlen)
		c->roff = c->rlen = 0;
	if (c->rlen == NBDX_RX) {
		memmove(c->rx, c->rx + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	do
		n = recv(c->fd, c->rx + c->rlen, NBDX_RX - c->rlen,
			 MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->rlen += (size_t)n;
		return true;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
		nbd_srv_eof(&c->eng);
		c->eof = c->closing = true;
	}
	return false;
}

/* One event of the engine; false to stop reading for now. */
static bool event(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	switch (ev->kind) {
	case NBD_EV_NONE:
		return fill(c);
	case NBD_EV_SEND:
		return send_handshake(c);
	case NBD_EV_EXPORT:
		export_answer(c, ev);
		return true;
	case NBD_EV_LIST:
		list_answer(c, ev->index);
		return true;
	case NBD_EV_READY:
		nbdx_stat(c->exp, XS_CONNS, 1);
		nbdx_stat(c->exp, XS_TOTAL, 1);
		return true;
	case NBD_EV_REQUEST:
		request(c, &ev->req);
		return true;
	case NBD_EV_REPLY:
		refused(c, ev);
		return true;
	case NBD_EV_CLOSE:
		if (ev->close == NBD_CLOSE_DISC)
			c->closing = true;
		else
			nbdx_conn_kill(c, "closed by the protocol");
		return false;
	default:
		return false;
	}
}

static void arm(struct nbdx_conn *c)
{
	size_t hs;
	struct epoll_event ev = {.data.ptr = c};

	nbd_srv_out(&c->eng, &hs);
	if (can_read(c) || c->payload)
		ev.events |= EPOLLIN;
	if (c->out_head || hs)
		ev.events |= EPOLLOUT;
	epoll_ctl(c->s->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static bool finished(const struct nbdx_conn *c)
{
	return c->closing && !c->out_head && !c->with_disk &&
	       !c->payload && !c->parked;
}

static bool unpark(struct nbdx_conn *c)
{
	struct xreq *x = c->parked;

	c->parked = NULL;
	return !x || take_buf(c, x);
}

void nbdx_conn_run(struct nbdx_conn *c)
{
	struct nbd_ev ev;

	if (c->dead || !flush(c))
		return;
	for (;;) {
		if (!unpark(c))
			break;
		if (c->payload && !payload(c))
			break;
		if (c->dead || !can_read(c))
			break;
		c->roff += nbd_srv_input(&c->eng, c->rx + c->roff,
					 c->rlen - c->roff, &ev);
		release_held(c);
		if (!event(c, &ev) || c->dead)
			break;
	}
	if (c->dead || !flush(c))
		return;
	if (finished(c))
		nbdx_conn_kill(c, "done");
	else
		arm(c);
}

void nbdx_conn_done(struct xreq *x)
{
	struct nbdx_conn *c = x->c;

	c->with_disk--;
	c->exp->with_disk--;
	if (c->dead)
		slot_put(c, x);
	else
		reply(c, x, x->r.err);
}

void nbdx_conn_housekeep(struct nbdx_conn *c, uint64_t now_ms)
{
	if (c->dead)
		return;
	if (c->stall_since && now_ms - c->stall_since > NBDX_STALL_MS) {
		nbdx_conn_kill(c, "client stopped reading");
		return;
	}
	if (c->exp && c->exp->removed && !c->closing) {
		c->closing = true;
		nbdx_conn_run(c);
	}
}

void nbdx_conn_new(struct nbdx *s, int fd)
{
	struct nbdx_conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT};

	if (!c || s->nconns >= s->max_conns ||
	    nbd_srv_init(&c->eng, NBDX_CONN_INFLIGHT)) {
		free(c);
		close(fd);
		return;
	}
	c->s = s;
	c->fd = fd;
	for (unsigned i = 0; i < NBDX_CONN_INFLIGHT; i++) {
		c->req[i].c = c;
		c->req[i].next = c->free;
		c->free = &c->req[i];
	}
	for (unsigned i = 0; i < NBDX_RAW; i++) {
		c->raw[i].c = c;
		c->raw[i].next = c->raw_free;
		c->raw_free = &c->raw[i];
	}
	ev.data.ptr = c;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		free(c);
		return;
	}
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	nbdx_conn_run(c);
}
