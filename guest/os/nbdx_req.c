/* Requests of a connection, on the server thread: a slot each (taken
 * when the engine hands the request over, free once its reply is sent),
 * a buffer of the disk (or a wait for one), WRITE payload received
 * straight into that buffer at its place in the covering blocks, the
 * disk (nbdx_io.c), the reply. */
#include <errno.h>
#include <string.h>

#include "nbdx_priv.h"

void nbdx_req_init(struct nbdx_conn *c)
{
	for (unsigned i = NBDX_CONN_INFLIGHT; i--;) {
		c->req[i].c = c;
		c->req[i].r.owner = &c->req[i];
		c->req[i].edge[0].owner = c->req[i].edge[1].owner = &c->req[i];
		c->req[i].next = c->free;
		c->free = &c->req[i];
	}
	for (unsigned i = NBDX_RAW; i--;) {
		c->raw[i].c = c;
		c->raw[i].next = c->raw_free;
		c->raw_free = &c->raw[i];
	}
}

/* The slot is free again, and its buffer back with the disk. */
void nbdx_req_put(struct nbdx_conn *c, struct xreq *x)
{
	struct xreq **list = x >= c->raw && x < c->raw + NBDX_RAW
				     ? &c->raw_free : &c->free;

	if (x->buf) {
		const struct nbdx_export_cfg *k = &c->exp->cfg;

		k->ops->buf_put(k->disk, x->buf, x->blen);
		x->buf = NULL;
	}
	x->state = XR_FREE;
	x->next = *list;
	*list = x;
}

bool nbdx_req_gone(const struct nbdx_conn *c)
{
	return c->exp &&
	       atomic_load_explicit(&c->exp->removed, memory_order_relaxed);
}

/* ---- replies ---- */

static void account(struct nbdx_export *e, const struct xreq *x, int err)
{
	if (err)
		nbdx_stat(e, XS_ERRORS, 1);
	else if (x->nr.type == NBD_CMD_READ)
		nbdx_stat(e, XS_BREAD, x->nr.len);
	else if (x->nr.type == NBD_CMD_WRITE)
		nbdx_stat(e, XS_BWRITTEN, x->nr.len);
}

/* The reply header, queued with the READ data that follows it. The
 * engine refuses only a request it did not hand over: impossible here,
 * so a refusal means the connection's state is lost. */
void nbdx_req_reply(struct nbdx_conn *c, struct xreq *x, int err)
{
	int n = nbd_srv_reply(&c->eng, &x->nr, nbdx_nbd_err(err), x->hdr);

	if (n < 0) {
		nbdx_req_put(c, x);
		nbdx_conn_kill(c);
		return;
	}
	x->data = (uint32_t)n;
	account(c->exp, x, err);
	nbdx_out_push(c, x);
}

/* A refusal of the engine. Held while the engine drops a refused
 * WRITE's payload: a client may not match a reply to a request it is
 * still sending. */
void nbdx_req_refused(struct nbdx_conn *c, const struct nbd_ev *ev)
{
	struct xreq *x = c->raw_free;

	c->raw_free = x->next;
	memcpy(x->hdr, ev->reply, sizeof(x->hdr));
	x->data = 0;
	x->buf = NULL;
	if (c->exp)
		nbdx_stat(c->exp, XS_ERRORS, 1);
	x->state = XR_OUT;
	if (c->eng.state == NBD_SRV_DISCARD)
		c->held = x;
	else
		nbdx_out_push(c, x);
}

void nbdx_req_unhold(struct nbdx_conn *c)
{
	if (c->held && c->eng.state != NBD_SRV_DISCARD) {
		nbdx_out_push(c, c->held);
		c->held = NULL;
	}
}

/* ---- the disk ---- */

/* To the disk, or answered at once: the export is gone, or the request
 * was condemned already (its payload, if any, read and dropped). */
static void settle(struct nbdx_conn *c, struct xreq *x)
{
	if (!x->err && nbdx_req_gone(c))
		x->err = -EIO;
	if (x->err)
		nbdx_req_reply(c, x, x->err);
	else
		nbdx_io_start(x);
}

/* ---- new requests ---- */

static void count(struct nbdx_export *e, uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		nbdx_stat(e, XS_READS, 1);
		break;
	case NBD_CMD_WRITE:
		nbdx_stat(e, XS_WRITES, 1);
		break;
	case NBD_CMD_FLUSH:
		nbdx_stat(e, XS_FLUSHES, 1);
		break;
	case NBD_CMD_TRIM:
		nbdx_stat(e, XS_TRIMS, 1);
		break;
	default:
		nbdx_stat(e, XS_ZEROES, 1);
		break;
	}
}

/* The covering blocks (READ, WRITE) and a scratch block for each
 * partial one (WRITE, WRITE_ZEROES): see nbdx_io.c. */
static uint32_t buf_len(const struct xreq *x)
{
	uint32_t scratch = x->sp.nedge * x->sp.bs;

	switch (x->nr.type) {
	case NBD_CMD_READ:
		return (uint32_t)x->sp.len;
	case NBD_CMD_WRITE:
		return (uint32_t)x->sp.len + scratch;
	case NBD_CMD_WRITE_ZEROES:
		return scratch;
	default:
		return 0;
	}
}

/* A free slot exists: parsing stops when none does. A request that
 * needs a buffer becomes c->cur (the stream waits for it, and a WRITE's
 * payload is the next bytes of it); the others go on at once. */
void nbdx_req_new(struct nbdx_conn *c, const struct nbd_req *nr)
{
	struct xreq *x = c->free;

	c->free = x->next;
	x->nr = *nr;
	x->err = 0;
	x->got = x->data = 0;
	x->sp = (struct nbdx_span){0};
	if (nr->type != NBD_CMD_FLUSH)
		nbdx_span_of(nr->offset, nr->len, c->exp->cfg.block_size,
			     &x->sp);
	x->blen = buf_len(x);
	count(c->exp, nr->type);
	if (!x->blen) {
		settle(c, x);
		return;
	}
	x->state = XR_PARKED;
	c->cur = x;
	c->park_ms = 0;
}

/* A buffer from the disk. None for NBDX_STALL_MS while the export has
 * nothing with the disk (no completion will bring one: a disk that
 * cannot give one at all) is ENOMEM. */
static bool buffer(struct nbdx_conn *c, struct xreq *x)
{
	const struct nbdx_export_cfg *k = &c->exp->cfg;
	uint64_t now;

	x->buf = k->ops->buf_get(k->disk, x->blen);
	if (x->buf)
		return true;
	now = nbdx_now_ms();
	if (!c->park_ms)
		c->park_ms = now;
	if (c->exp->with_disk || now - c->park_ms < NBDX_STALL_MS)
		return false;
	x->err = -ENOMEM;
	return true;
}

/* A buffer for x, or none needed: the export is gone (EIO), or no
 * buffer came (ENOMEM); a WRITE's payload is then read and dropped. False while the disk has none: the
 * server tries again whenever a request completes. */
static bool unpark(struct nbdx_conn *c, struct xreq *x)
{
	if (nbdx_req_gone(c))
		x->err = -EIO;
	else if (!buffer(c, x))
		return false;
	if (x->nr.type == NBD_CMD_WRITE) {
		x->state = XR_PAYLOAD;
		return true;
	}
	c->cur = NULL;
	settle(c, x);
	return true;
}

/* Payload bytes: what rx holds first, then straight from the socket
 * into the buffer. Without a buffer rx (then empty) takes them, to be
 * dropped. > 0 taken, 0 none now, < 0 the stream ended or failed. */
static ssize_t payload_part(struct nbdx_conn *c, struct xreq *x)
{
	size_t want = x->nr.len - x->got, have = c->rlen - c->roff;
	uint8_t *dst = x->buf ? (uint8_t *)x->buf + x->sp.skew + x->got
			      : NULL;

	if (have) {
		size_t n = have < want ? have : want;

		if (dst)
			memcpy(dst, c->rx + c->roff, n);
		c->roff += n;
		return (ssize_t)n;
	}
	c->roff = c->rlen = 0;
	if (!dst)
		return nbdx_recv(c, c->rx, want < NBDX_RX ? want : NBDX_RX);
	return nbdx_recv(c, dst, want);
}

static bool payload(struct nbdx_conn *c, struct xreq *x)
{
	while (x->got < x->nr.len) {
		ssize_t n = payload_part(c, x);

		if (n < 0)
			nbdx_conn_kill(c); /* cut inside a WRITE */
		if (n <= 0)
			return false;
		nbd_srv_payload(&c->eng, (uint64_t)n);
		x->got += (uint32_t)n;
	}
	c->cur = NULL;
	settle(c, x);
	return true;
}

bool nbdx_req_step(struct nbdx_conn *c)
{
	struct xreq *x = c->cur;

	if (!x)
		return true;
	if (x->state == XR_PARKED && !unpark(c, x))
		return false;
	if (x->state == XR_PAYLOAD)
		return payload(c, x);
	return true;
}
