/* A request with the disk, on the server thread: a write's place in its
 * export's lock set (nbdx_span.c), the blocks it covers in part read
 * first, then its I/Os on whole blocks, then its reply once the last
 * came back.
 *
 * Read-modify-write: a WRITE's payload was received at its place inside
 * the covering blocks (x->buf) before the request got here; its partial
 * blocks are read into scratch blocks after them in the same buffer, and
 * only their bytes outside the payload are copied around it. Reading the
 * partial blocks into place before the payload would make the client's
 * stream wait for the disk (and for the lock) before its next request
 * could be parsed; reading them into scratch afterwards costs a copy of
 * less than two blocks, never of the payload. The reads come after the
 * lock is taken, so no other write to those blocks lies between them and
 * the write back. */
#include <errno.h>
#include <stddef.h>

#include "nbdx_priv.h"

/* Scratch block i: after the covering blocks of a WRITE; a
 * WRITE_ZEROES has no data, its buffer is scratch only. */
static uint8_t *scratch(const struct xreq *x, unsigned i)
{
	uint64_t base = x->nr.type == NBD_CMD_WRITE ? x->sp.len : 0;

	return (uint8_t *)x->buf + base + (uint64_t)i * x->sp.bs;
}

static void io_set(struct nbdx_req *r, uint16_t type, uint64_t off,
		   uint64_t len, void *buf, bool fua)
{
	*r = (struct nbdx_req){.type = type, .offset = off,
			       .len = (uint32_t)len, .buf = buf, .fua = fua,
			       .owner = r->owner};
}

/* A refusal of the disk is the request's error; the I/Os it took still
 * come back before the request is answered. */
static void io_submit(struct xreq *x, struct nbdx_req *r)
{
	const struct nbdx_export_cfg *k = &x->c->exp->cfg;
	int rc = k->ops->submit(k->disk, r);

	if (!rc)
		x->pend++;
	else if (!x->err)
		x->err = rc;
}

static bool fua(const struct xreq *x)
{
	return x->nr.flags & NBD_CMD_FLAG_FUA;
}

static void read_edges(struct xreq *x)
{
	const struct nbdx_span *sp = &x->sp;

	x->edges_read = true;
	for (unsigned i = 0; i < sp->nedge; i++) {
		io_set(&x->edge[i], NBD_CMD_READ, sp->start + sp->edge[i],
		       sp->bs, scratch(x, i), false);
		io_submit(x, &x->edge[i]);
	}
}

/* The partial blocks zeroed where the request covers them and written
 * back, the whole blocks zeroed by the disk's own command. */
static void zero_ios(struct xreq *x)
{
	const struct nbdx_span *sp = &x->sp;

	for (unsigned i = 0; i < sp->nedge; i++) {
		nbdx_span_zero(sp, sp->edge[i], scratch(x, i));
		io_set(&x->edge[i], NBD_CMD_WRITE, sp->start + sp->edge[i],
		       sp->bs, scratch(x, i), fua(x));
		io_submit(x, &x->edge[i]);
	}
	if (!sp->in_len)
		return;
	io_set(&x->r, NBD_CMD_WRITE_ZEROES, sp->in_start, sp->in_len, NULL,
	       fua(x));
	x->r.may_unmap = !(x->nr.flags & NBD_CMD_FLAG_NO_HOLE);
	io_submit(x, &x->r);
}

/* TRIM is advisory: only the whole blocks inside it, maybe none. */
static void main_ios(struct xreq *x)
{
	const struct nbdx_span *sp = &x->sp;
	uint16_t t = x->nr.type;

	x->main_io = true;
	if (t == NBD_CMD_WRITE_ZEROES) {
		zero_ios(x);
		return;
	}
	if (t == NBD_CMD_TRIM && !sp->in_len)
		return;
	for (unsigned i = 0; t == NBD_CMD_WRITE && i < sp->nedge; i++)
		nbdx_span_keep(sp, x->buf, sp->edge[i], scratch(x, i));
	if (t == NBD_CMD_TRIM)
		io_set(&x->r, t, sp->in_start, sp->in_len, NULL, false);
	else
		io_set(&x->r, t, sp->start, sp->len, x->buf, fua(x));
	io_submit(x, &x->r);
}

static void go(struct xreq *x);

static struct xreq *of_lk(struct nbdx_lk *k)
{
	return (struct xreq *)(void *)((char *)k - offsetof(struct xreq, lk));
}

static bool writes(const struct xreq *x)
{
	return x->nr.type == NBD_CMD_WRITE ||
	       x->nr.type == NBD_CMD_WRITE_ZEROES;
}

/* Writes that waited for x start now. One started here may finish at
 * once (refused) and unlock more: those are run by the outermost call,
 * not by recursion. A connection whose request finished here is run by
 * the server's next turn: the wake-up makes it come now. */
static void unlock(struct nbdx_export *e, struct xreq *x)
{
	nbdx_lk_leave(&e->locks, &x->lk, &e->ready);
	if (e->starting || !e->ready)
		return;
	e->starting = true;
	nbdx_wake(e->s);
	while (e->ready) {
		struct nbdx_lk *k = e->ready;

		e->ready = k->wnext;
		go(of_lk(k));
	}
	e->starting = false;
}

static void finish(struct xreq *x)
{
	struct nbdx_conn *c = x->c;
	struct nbdx_export *e = c->exp;

	c->with_disk--;
	e->with_disk--;
	if (writes(x))
		unlock(e, x);
	if (c->dead) {
		nbdx_req_put(c, x);
		return;
	}
	nbdx_req_reply(c, x, x->err);
	c->kick = true;
}

/* Whether x stops before its main I/Os: its export went (EIO, as a
 * request not yet with the disk), or its client did (no reply is
 * owed, and a chain of writes waiting for each other at a stop then
 * ends without a round trip to the disk each). */
static bool stopped(const struct xreq *x)
{
	return !x->main_io && (x->c->dead || nbdx_req_gone(x->c));
}

/* After the I/Os so far came back (or none was needed): the partial
 * blocks, the main I/Os, or the end. */
static void next_step(struct xreq *x)
{
	while (!x->pend) {
		if (!x->err && stopped(x))
			x->err = -EIO;
		if (x->err || x->main_io) {
			finish(x);
			return;
		}
		if (writes(x) && x->sp.nedge && !x->edges_read)
			read_edges(x);
		else
			main_ios(x);
	}
}

static void go(struct xreq *x)
{
	x->state = XR_DISK;
	next_step(x);
}

static void lock_fill(struct xreq *x)
{
	const struct nbdx_span *sp = &x->sp;
	struct nbdx_lk *k = &x->lk;

	k->a = sp->start;
	k->b = sp->start + sp->len;
	k->lbs = sp->bs;
	k->nl = sp->nedge;
	for (unsigned i = 0; i < sp->nedge; i++)
		k->la[i] = sp->start + sp->edge[i];
}

/* TRIM is not in the lock set: a read-modify-write that puts back the
 * old bytes of a block being trimmed leaves it as a trim that did
 * nothing would, which a trim may do. */
void nbdx_io_start(struct xreq *x)
{
	struct nbdx_export *e = x->c->exp;

	x->c->with_disk++;
	e->with_disk++;
	x->pend = 0;
	x->edges_read = x->main_io = false;
	if (writes(x)) {
		lock_fill(x);
		if (!nbdx_lk_enter(&e->locks, &x->lk)) {
			x->state = XR_WAIT;
			return;
		}
	}
	go(x);
}

void nbdx_io_done(struct nbdx_req *r)
{
	struct xreq *x = r->owner;

	x->pend--;
	if (r->err && !x->err)
		x->err = r->err;
	next_step(x);
}
