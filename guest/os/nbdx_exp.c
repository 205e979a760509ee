/* Exports of the NBD server (the list, lookups for the handshake, their
 * release to the disk), their counters, and the completion stack. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "nbdx_priv.h"

/* ---- counters ---- */

/* The server thread is the only writer: a relaxed load and store make
 * the add, without a locked read-modify-write on the data path. */
void nbdx_stat(struct nbdx_export *e, enum xs k, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&e->st[k], memory_order_relaxed);

	atomic_store_explicit(&e->st[k], v + n, memory_order_relaxed);
}

static uint64_t get(struct nbdx_export *e, enum xs k)
{
	return atomic_load_explicit(&e->st[k], memory_order_relaxed);
}

void nbdx_export_stats(struct nbdx_export *e, struct nbdx_stats *st)
{
	*st = (struct nbdx_stats){
		.conns = get(e, XS_CONNS), .conns_total = get(e, XS_TOTAL),
		.reads = get(e, XS_READS), .writes = get(e, XS_WRITES),
		.flushes = get(e, XS_FLUSHES), .trims = get(e, XS_TRIMS),
		.zeroes = get(e, XS_ZEROES), .bytes_read = get(e, XS_BREAD),
		.bytes_written = get(e, XS_BWRITTEN),
		.errors = get(e, XS_ERRORS), .cut_off = get(e, XS_CUT),
	};
}

/* ---- what the client is told ---- */

/* A disk's -errno as one of the error values NBD allows. */
uint32_t nbdx_nbd_err(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return 0;
	case ENOSPC:
		return NBD_ENOSPC;
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOMEM:
	case EAGAIN:
		return NBD_ENOMEM;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EIO;
	}
}

/* FLUSH and FUA always (the disk makes them durable); TRIM and
 * WRITE_ZEROES when the disk takes them and the export is writable.
 * Not FAST_ZERO: a fast zero must fail at once when zeroing would cost
 * as much as writing, and nbdx cannot know that of a disk. CAN_MULTI_CONN:
 * every connection reaches the same disk and a FLUSH covers all of it. */
uint16_t nbdx_export_flags(const struct nbdx_export_cfg *k)
{
	uint16_t f = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
		     NBD_FLAG_CAN_MULTI_CONN;

	if (k->read_only)
		return f | NBD_FLAG_READ_ONLY;
	if (k->can_trim)
		f |= NBD_FLAG_SEND_TRIM;
	if (k->can_zero)
		f |= NBD_FLAG_SEND_WRITE_ZEROES;
	return f;
}

static bool pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

/* What the engine accepts as size constraints, with the block size as
 * preferred block. */
bool nbdx_cfg_ok(const struct nbdx_export_cfg *k)
{
	return k->name && *k->name && strlen(k->name) <= NBD_STRING_MAX &&
	       (!k->desc || strlen(k->desc) <= NBD_STRING_MAX) && k->ops &&
	       k->ops->buf_get && k->ops->buf_put && k->ops->submit &&
	       pow2(k->block_size) && k->block_size >= NBD_PREF_BLOCK_MIN &&
	       k->block_size <= NBD_MIN_BLOCK_MAX &&
	       k->max_payload >= k->block_size &&
	       k->max_payload <= NBD_SRV_MAX_PAYLOAD &&
	       !(k->max_payload % k->block_size);
}

static void answer(struct nbdx_export *e, struct nbd_export *ne)
{
	const struct nbdx_export_cfg *k = &e->cfg;

	*ne = (struct nbd_export){
		.size = atomic_load(&e->size),
		.flags = nbdx_export_flags(k),
		/* Any byte: nbdx carries unaligned requests out on
		 * whole blocks (nbdx_io.c). */
		.min_block = 1, .pref_block = k->block_size,
		.max_payload = k->max_payload,
		.name = k->name, .name_len = e->name_len,
		.desc = k->desc, .desc_len = e->desc_len,
	};
}

/* ---- the list ---- */

static struct nbdx_export *find(struct nbdx *s, const char *name,
				uint32_t len)
{
	struct nbdx_export *e;

	for (e = s->exports; e; e = e->next)
		if (!atomic_load(&e->removed) &&
		    (!len || (e->name_len == len &&
			      !memcmp(e->cfg.name, name, len))))
			break;
	return e;
}

/* Exports are freed on the server thread only, so the one returned
 * stays valid there after the lock is left. */
struct nbdx_export *nbdx_lookup(struct nbdx *s, const char *name,
				uint32_t len, struct nbd_export *ne)
{
	struct nbdx_export *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, name, len);
	if (e)
		answer(e, ne);
	pthread_mutex_unlock(&s->lock);
	return e;
}

int nbdx_list(struct nbdx *s, struct nbd_srv *eng, uint32_t index)
{
	struct nbdx_export *e;
	int rc;

	pthread_mutex_lock(&s->lock);
	for (e = s->exports; e; e = e->next)
		if (!atomic_load(&e->removed) && !index--)
			break;
	if (e)
		rc = nbd_srv_list_entry(eng, e->cfg.name, e->name_len,
					e->cfg.desc, e->desc_len);
	else
		rc = nbd_srv_list_end(eng);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static struct nbdx_export *export_new(struct nbdx *s,
				      const struct nbdx_export_cfg *cfg)
{
	struct nbdx_export *e = calloc(1, sizeof(*e));
	char *name = strdup(cfg->name);
	char *desc = cfg->desc ? strdup(cfg->desc) : NULL;

	if (!e || !name || (cfg->desc && !desc)) {
		free(e);
		free(name);
		free(desc);
		return NULL;
	}
	e->s = s;
	e->cfg = *cfg;
	e->cfg.name = name;
	e->cfg.desc = desc;
	e->name_len = (uint32_t)strlen(name);
	e->desc_len = desc ? (uint32_t)strlen(desc) : 0;
	atomic_init(&e->size, cfg->size);
	return e;
}

static void export_free(struct nbdx_export *e)
{
	free((char *)e->cfg.name);
	free((char *)e->cfg.desc);
	free(e);
}

/* Appended, so that the first export added is the default one. */
int nbdx_add(struct nbdx *s, const struct nbdx_export_cfg *cfg,
	     struct nbdx_export **out)
{
	struct nbdx_export *e, **pp;

	if (!nbdx_cfg_ok(cfg))
		return -EINVAL;
	e = export_new(s, cfg);
	if (!e)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	if (find(s, e->cfg.name, e->name_len)) {
		pthread_mutex_unlock(&s->lock);
		export_free(e);
		return -EEXIST;
	}
	for (pp = &s->exports; *pp; pp = &(*pp)->next)
		;
	*pp = e;
	pthread_mutex_unlock(&s->lock);
	*out = e;
	return 0;
}

/* The server thread acts on it: lookups skip it at once, its
 * connections are told at the next turn of the loop. Once the flag is
 * set the server may free e at any moment: e is not read after it, and
 * the count of removals is raised before it (so the server, which looks
 * for removed exports only while it is not 0, cannot miss this one). */
void nbdx_remove(struct nbdx_export *e)
{
	struct nbdx *s = e->s;

	atomic_fetch_add(&s->removing, 1);
	if (atomic_exchange(&e->removed, true))
		atomic_fetch_sub(&s->removing, 1); /* removed already */
	nbdx_wake(s);
}

void nbdx_resize(struct nbdx_export *e, uint64_t size)
{
	atomic_store(&e->size, size);
}

static bool releasable(struct nbdx_export *e, bool all)
{
	return (all || atomic_load(&e->removed)) && !e->conns &&
	       !e->with_disk;
}

/* Unlinks one export that may go, or NULL. */
static struct nbdx_export *unlink_one(struct nbdx *s, bool all)
{
	struct nbdx_export **pp, *e = NULL;

	pthread_mutex_lock(&s->lock);
	for (pp = &s->exports; *pp; pp = &(*pp)->next) {
		if (releasable(*pp, all)) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

/* No connection is bound to such an export (each holds a reference
 * until freed), so none of its requests is with the disk and every
 * buffer went back: the disk may go. released runs without the lock. */
void nbdx_exports_release(struct nbdx *s, bool all)
{
	struct nbdx_export *e;

	while ((e = unlink_one(s, all))) {
		if (atomic_load(&e->removed))
			atomic_fetch_sub(&s->removing, 1);
		if (e->cfg.ops->released)
			e->cfg.ops->released(e->cfg.disk);
		export_free(e);
	}
}

/* ---- completions ---- */

/* A Treiber stack push of the whole chain: its last request is linked to
 * the old top and the top swung to its first in one compare-exchange
 * (release: the disk's writes to the requests, err included, are seen by
 * the server thread's acquire in nbdx_done_take). Only a push onto an
 * empty stack wakes the server: a non-empty one has a wake-up pending
 * that has not been consumed yet (the server takes the stack after
 * reading the eventfd). */
void nbdx_complete(struct nbdx_req *first)
{
	struct nbdx *s;
	struct nbdx_req *last = first, *old;

	if (!first)
		return;
	/* s lives while the disk holds a request; after the push it is
	 * kept by s->completing (the count is ordered before the push by
	 * its release, so a server that took the chain sees it). */
	s = ((struct xreq *)first->owner)->c->s;
	atomic_fetch_add_explicit(&s->completing, 1, memory_order_relaxed);
	while (last->next)
		last = last->next;
	old = atomic_load_explicit(&s->done, memory_order_relaxed);
	do
		last->next = old;
	while (!atomic_compare_exchange_weak_explicit(
		&s->done, &old, first, memory_order_release,
		memory_order_relaxed));
	if (!old)
		nbdx_wake(s);
	atomic_fetch_sub_explicit(&s->completing, 1, memory_order_release);
}

struct nbdx_req *nbdx_done_take(struct nbdx *s)
{
	return atomic_exchange_explicit(&s->done, NULL, memory_order_acquire);
}

/* Every request came back (the server took them all), but the last
 * callers may still be between their push and their wake-up. */
void nbdx_done_quiesce(struct nbdx *s)
{
	while (atomic_load_explicit(&s->completing, memory_order_acquire))
		sched_yield();
}
