/* The NBD backend: a disk an NBD server serves (qemu-nbd for VHDX and
 * qcow2 images, nbdkit for anything else), through libnbd. Connections
 * run in hbk_nbd_conn.c.
 *
 * Connections: the disk opens one (the base) and learns the export from
 * it. A server that advertises multi-conn promises that a FLUSH on any
 * connection covers the writes completed on all of them, so each further
 * queue gets a connection and a thread of its own. Without multi-conn a
 * FLUSH would cover only its own connection's writes: every queue then
 * shares the base connection, whose one thread issues all of their
 * commands (each queue still gets its own completions, in batches). A
 * queue whose own connection cannot be made (a server that takes one
 * client at a time) shares the base one too.
 *
 * What the server does not offer:
 * - FUA: the write is followed by a FLUSH, and completes after it;
 * - FLUSH: a FLUSH completes at once with 0 (as qemu's NBD client does):
 *   a server without it has said it keeps no cache to write back;
 * - WRITE_ZEROES: zeros are written from one zero buffer;
 * - a DISCARD must read back as zeros, which NBD's TRIM does not promise
 *   (the data after it is unspecified): a DISCARD is a WRITE_ZEROES the
 *   server may answer by deallocating (no NO_HOLE flag), offered
 *   (can_discard) where the server both trims and zeroes.
 *
 * The size is the one the server gave at the handshake: NBD has no
 * resize for a connection's life, so hbk_resize refuses a new size and
 * size 0 returns that one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbk_nbd_priv.h"

/* libnbd 1.14 takes up to 64 MiB in one command; servers that say
 * nothing take 32 MiB (the NBD protocol's suggestion). */
#define MAX_RW_DEFAULT (32u << 20)
#define ZEROS_MAX (1u << 20)

/* ---- queues: the worker's side ---- */

static int nb_submit(struct hbk_queue *hq, struct hbk_io *io)
{
	struct hbk_nq *q = (struct hbk_nq *)hq;

	q->local[q->nlocal++] = io;
	return 0;
}

static void nb_kick(struct hbk_queue *hq)
{
	struct hbk_nq *q = (struct hbk_nq *)hq;
	struct nbd_conn *c = q->c;

	if (!q->nlocal)
		return;
	pthread_mutex_lock(&c->lock);
	memcpy(q->in + q->nin, q->local, q->nlocal * sizeof(*q->in));
	q->nin += q->nlocal;
	pthread_mutex_unlock(&c->lock);
	q->nlocal = 0;
	hbk_nbd_conn_wake(c);
}

static void nq_free(struct hbk_nq *q)
{
	free(q->local);
	free(q->in);
	free(q->take);
	free(q->slot);
	free(q->free_slot);
	free(q->fin);
	free(q->later);
	free(q);
}

/* The connection thread fails what the server cannot do any more, so
 * every io comes back and the queue leaves. */
static void nb_queue_close(struct hbk_queue *hq)
{
	struct hbk_nq *q = (struct hbk_nq *)hq;
	struct nbd_conn *c = q->c;
	struct hbk_nbd *n = c->n;

	nb_kick(hq);
	pthread_mutex_lock(&c->lock);
	atomic_store(&q->detach, true);
	pthread_mutex_unlock(&c->lock);
	hbk_nbd_conn_wake(c);
	pthread_mutex_lock(&c->lock);
	while (!q->gone)
		pthread_cond_wait(&c->cv, &c->lock);
	pthread_mutex_unlock(&c->lock);
	if (!--c->users && c != n->base)
		hbk_nbd_conn_close(c);
	nq_free(q);
}

static struct hbk_nq *nq_alloc(unsigned depth)
{
	struct hbk_nq *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->local = calloc(depth, sizeof(*q->local));
	q->in = calloc(depth, sizeof(*q->in));
	q->take = calloc(depth, sizeof(*q->take));
	q->slot = calloc(depth, sizeof(*q->slot));
	q->free_slot = calloc(depth, sizeof(*q->free_slot));
	q->fin = calloc(depth, sizeof(*q->fin));
	q->later = calloc(depth, sizeof(*q->later));
	if (!q->local || !q->in || !q->take || !q->slot || !q->free_slot ||
	    !q->fin || !q->later) {
		nq_free(q);
		return NULL;
	}
	for (unsigned i = 0; i < depth; i++)
		q->free_slot[i] = i;
	q->nfree = depth;
	return q;
}

/* The base connection while it has no queue or the server allows no
 * other, else a new one (the base again if that fails). */
static struct nbd_conn *pick_conn(struct hbk_nbd *n)
{
	struct nbd_conn *c;
	char err[8];

	if (!n->multi || !n->base->users ||
	    hbk_nbd_conn_new(n, &c, err, sizeof(err)))
		return n->base;
	if (hbk_nbd_conn_start(c)) {
		hbk_nbd_conn_close(c);
		return n->base;
	}
	return c;
}

static int nb_queue_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
			 void *arg, struct hbk_queue **out)
{
	struct hbk_nbd *n = (struct hbk_nbd *)b;
	struct hbk_nq *q = nq_alloc(depth);
	struct nbd_conn *c;

	if (!q)
		return -ENOMEM;
	hbk_queue_init(&q->q, b, depth, done, arg);
	c = q->c = pick_conn(n);
	c->users++;
	pthread_mutex_lock(&c->lock);
	q->next = c->queues;
	c->queues = q;
	pthread_mutex_unlock(&c->lock);
	*out = &q->q;
	return 0;
}

/* ---- the disk ---- */

static void nb_close(struct hbk *b)
{
	struct hbk_nbd *n = (struct hbk_nbd *)b;

	hbk_nbd_conn_close(n->base);
	free((void *)n->zeros);
	free(n->uri);
	free(n);
}

static int nb_resize(struct hbk *b, uint64_t size, uint64_t *out)
{
	if (size)
		return -ENOTSUP;
	*out = atomic_load(&b->size);
	return 0;
}

static const struct hbk_ops nb_ops = {
	.close = nb_close,
	.resize = nb_resize,
	.queue_open = nb_queue_open,
	.submit = nb_submit,
	.kick = nb_kick,
	.queue_close = nb_queue_close,
};

/* A server's minimum block size (up to 4096) is the disk's logical
 * block, so that no request is smaller than the server takes. */
static void learn_blocks(struct hbk_nbd *n, struct nbd_handle *h)
{
	int64_t min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	int64_t max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);

	n->b.info.block_size = min > 512 && min <= 4096 ? (uint32_t)min : 512;
	n->max_rw = max > 0 && max < MAX_RW_DEFAULT ? (uint64_t)max
						    : MAX_RW_DEFAULT;
}

/* What the export is and what the server takes, from the base
 * connection before its thread uses the handle. */
static int learn(struct hbk_nbd *n, struct nbd_handle *h,
		 const struct hbk_cfg *cfg)
{
	int64_t size = nbd_get_size(h);
	bool trim = nbd_can_trim(h) == 1;

	if (size < 0)
		return -EIO;
	atomic_store(&n->b.size, (uint64_t)size);
	n->b.info.kind = "nbd";
	n->b.info.read_only = cfg->read_only || nbd_is_read_only(h) == 1;
	n->multi = nbd_can_multi_conn(h) == 1;
	n->fua = nbd_can_fua(h) == 1;
	n->flush = nbd_can_flush(h) == 1;
	n->zero = nbd_can_zero(h) == 1;
	n->b.info.can_discard = trim && n->zero && !n->b.info.read_only;
	learn_blocks(n, h);
	if (n->zero)
		return 0;
	n->zeros = calloc(1, n->max_rw < ZEROS_MAX ? n->max_rw : ZEROS_MAX);
	if (n->max_rw > ZEROS_MAX)
		n->max_rw = ZEROS_MAX;
	return n->zeros ? 0 : -ENOMEM;
}

int hbk_nbd_open(struct hbk **out, const char *uri,
		 const struct hbk_cfg *cfg, char *err, size_t errlen)
{
	struct hbk_nbd *n = calloc(1, sizeof(*n));
	int rc = -ENOMEM;

	if (!n || !(n->uri = strdup(uri)))
		goto fail;
	n->b.ops = &nb_ops;
	rc = hbk_nbd_conn_new(n, &n->base, err, errlen);
	if (!rc)
		rc = learn(n, n->base->h, cfg);
	if (!rc)
		rc = hbk_nbd_conn_start(n->base);
	if (!rc) {
		*out = &n->b;
		return 0;
	}
fail:
	if (errlen && !err[0])
		snprintf(err, errlen, "%s: %s", uri, strerror(-rc));
	if (n)
		nb_close(&n->b);
	return rc;
}
