/* The blocks an NBD request touches, and which writes may be with the
 * disk at once. Pure functions of nbdx (no sockets, no disk), so that
 * tests/guest/test_nbdx.c checks them alone.
 *
 * The disk takes whole blocks only; a request at any byte is carried out
 * on its covering blocks. A WRITE that covers a block only in part must
 * read that block and write it back whole (read-modify-write), and two
 * such writes to one block, or one of them and any other write to it,
 * would lose bytes if they overlapped in time: qemu's "serialising
 * requests". So a write holding partial blocks (serialising) locks them:
 * a later write touching them waits until it is done, and it waits for
 * every earlier write touching them. Waits only ever point to earlier
 * writes, so they cannot form a cycle, and the first one never waits. */
#include <string.h>

#include "nbdx_priv.h"

static uint64_t down(uint64_t v, uint32_t bs)
{
	return v & ~(uint64_t)(bs - 1);
}

static uint64_t up(uint64_t v, uint32_t bs)
{
	return down(v + bs - 1, bs);
}

/* A single partial block is both edges of the request: listed once. */
void nbdx_span_of(uint64_t off, uint32_t len, uint32_t bs,
		  struct nbdx_span *sp)
{
	uint64_t end = off + len;
	uint64_t in_start = up(off, bs), in_end = down(end, bs);

	sp->start = down(off, bs);
	sp->len = up(end, bs) - sp->start;
	sp->skew = (uint32_t)(off - sp->start);
	sp->rlen = len;
	sp->bs = bs;
	sp->nedge = 0;
	if (off != in_start)
		sp->edge[sp->nedge++] = 0;
	if (end != in_end && !(sp->nedge && sp->len == bs))
		sp->edge[sp->nedge++] = sp->len - bs;
	sp->in_start = in_start;
	sp->in_len = in_end > in_start ? in_end - in_start : 0;
}

/* The part of the block at pos (from sp->start; a partial block of the
 * request) that the request covers: [*lo, *hi) of the block. */
static void inside(const struct nbdx_span *sp, uint64_t pos, uint32_t *lo,
		   uint32_t *hi)
{
	uint64_t end = (uint64_t)sp->skew + sp->rlen;

	*lo = sp->skew > pos ? (uint32_t)(sp->skew - pos) : 0;
	*hi = end - pos < sp->bs ? (uint32_t)(end - pos) : sp->bs;
}

/* Only the bytes the client did not send are copied: its payload
 * stays where it was received. */
void nbdx_span_keep(const struct nbdx_span *sp, uint8_t *span, uint64_t pos,
		    const uint8_t *blk)
{
	uint32_t lo, hi;

	inside(sp, pos, &lo, &hi);
	memcpy(span + pos, blk, lo);
	memcpy(span + pos + hi, blk + hi, sp->bs - hi);
}

void nbdx_span_zero(const struct nbdx_span *sp, uint64_t pos, uint8_t *blk)
{
	uint32_t lo, hi;

	inside(sp, pos, &lo, &hi);
	memset(blk + lo, 0, hi - lo);
}

/* ---- the lock set ---- */

static bool overlap(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	return a < d && c < b;
}

/* Whether range [a, b) touches a block k holds. */
static bool touches(const struct nbdx_lk *k, uint64_t a, uint64_t b)
{
	for (unsigned i = 0; i < k->nl; i++)
		if (overlap(a, b, k->la[i], k->la[i] + k->lbs))
			return true;
	return false;
}

static bool conflict(const struct nbdx_lk *early, const struct nbdx_lk *k)
{
	return touches(early, k->a, k->b) || touches(k, early->a, early->b);
}

/* The first earlier entry k must wait for, or NULL. Without a
 * serialising entry in the set none can conflict: a write of whole
 * blocks finds nothing to look at. */
static struct nbdx_lk *blocker(const struct nbdx_lkset *s,
			       const struct nbdx_lk *k)
{
	if (!s->serial)
		return NULL;
	for (struct nbdx_lk *e = s->head; e != k; e = e->next)
		if (conflict(e, k))
			return e;
	return NULL;
}

/* k waits on b: b's leave looks at it again. */
static bool wait_on(struct nbdx_lk *b, struct nbdx_lk *k)
{
	if (!b)
		return false;
	k->wnext = b->waiters;
	b->waiters = k;
	return true;
}

bool nbdx_lk_enter(struct nbdx_lkset *s, struct nbdx_lk *k)
{
	k->next = NULL;
	k->prev = s->tail;
	k->waiters = NULL;
	if (s->tail)
		s->tail->next = k;
	else
		s->head = k;
	s->tail = k;
	s->serial += k->nl != 0;
	return !wait_on(blocker(s, k), k);
}

static void unlink_lk(struct nbdx_lkset *s, struct nbdx_lk *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		s->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		s->tail = k->prev;
	s->serial -= k->nl != 0;
}

/* Each waiter of k looks for another earlier entry to wait for; those
 * that find none may go, pushed on *ready (their order does not matter:
 * one that conflicts with another waiter waits for it). */
void nbdx_lk_leave(struct nbdx_lkset *s, struct nbdx_lk *k,
		   struct nbdx_lk **ready)
{
	struct nbdx_lk *w = k->waiters, *next;

	unlink_lk(s, k);
	k->waiters = NULL;
	for (; w; w = next) {
		next = w->wnext;
		if (!wait_on(blocker(s, w), w)) {
			w->wnext = *ready;
			*ready = w;
		}
	}
}
