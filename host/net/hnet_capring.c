/* netvsp's capture buffers and their merge (see hnet_capring.h). */
#include <string.h>
#include <sys/uio.h>

#include "hnet_capring.h"
#include "rt_tap.h"

_Static_assert(sizeof(struct hnet_crec) == 24, "record header");

/* A record's bytes: its header and its frame, padded to keep the next
 * header aligned. */
static uint32_t rec_size(uint32_t caplen)
{
	return (uint32_t)sizeof(struct hnet_crec) + ((caplen + 7u) & ~7u);
}

static void ring_write(struct hnet_cring *r, uint64_t at, const void *src,
		       uint32_t len)
{
	uint32_t off = (uint32_t)(at % HNET_CRING_BYTES);
	uint32_t first = HNET_CRING_BYTES - off < len ? HNET_CRING_BYTES - off
						      : len;

	memcpy(r->buf + off, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, len - first);
}

static void ring_read(const struct hnet_cring *r, uint64_t at, void *dst,
		      uint32_t len)
{
	uint32_t off = (uint32_t)(at % HNET_CRING_BYTES);
	uint32_t first = HNET_CRING_BYTES - off < len ? HNET_CRING_BYTES - off
						      : len;

	memcpy(dst, r->buf + off, first);
	memcpy((uint8_t *)dst + first, r->buf, len - first);
}

bool hnet_cring_put(struct hnet_cring *r, const struct hnet_crec *h,
		    const struct iovec *iov, unsigned n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t at = head + sizeof(*h);
	uint32_t left = h->caplen;

	/* acquire: the consumer's reads of the bytes up to tail are done */
	if (head + rec_size(h->caplen) -
		    atomic_load_explicit(&r->tail, memory_order_acquire) >
	    HNET_CRING_BYTES) {
		rt_ctr_add(&r->dropped, 1);
		return false;
	}
	ring_write(r, head, h, sizeof(*h));
	for (unsigned i = 0; i < n && left; i++) {
		uint32_t l = iov[i].iov_len < left ? (uint32_t)iov[i].iov_len
						   : left;

		ring_write(r, at, iov[i].iov_base, l);
		at += l;
		left -= l;
	}
	/* release: the record before the head that shows it */
	atomic_store_explicit(&r->head, head + rec_size(h->caplen),
			      memory_order_release);
	return true;
}

/* ---- the merge ---- */

/* A ring's part in a merge: its records from tail to head (as loaded
 * when the merge began), h the one at tail when has. */
struct cursor {
	struct hnet_cring *r;
	uint64_t tail, head;
	struct hnet_crec h;
	bool has;
};

/* c's next record of the capture's generation into c->h; the others
 * (a stopped capture's, put late) are passed over. */
static void next(struct cursor *c, uint32_t gen)
{
	c->has = false;
	while (!c->has && c->tail != c->head) {
		ring_read(c->r, c->tail, &c->h, sizeof(c->h));
		c->has = c->h.gen == gen;
		if (!c->has)
			c->tail += rec_size(c->h.caplen);
	}
}

/* The cursor whose record goes out next, or NULL: k is at most
 * RT_TAP_QUEUES_MAX and mostly a few, so a scan beats a heap. */
static struct cursor *least(struct cursor *c, unsigned k, uint64_t upto)
{
	struct cursor *best = NULL;

	for (unsigned i = 0; i < k; i++)
		if (c[i].has && c[i].h.ns <= upto &&
		    (!best || c[i].h.ns < best->h.ns))
			best = &c[i];
	return best;
}

static void give(struct cursor *c, struct hnet_cring_merge *m)
{
	ring_read(c->r, c->tail + sizeof(c->h), m->frame, c->h.caplen);
	if (c->h.ns < m->last_ns) {
		c->h.ns = m->last_ns;
		m->late++;
	}
	m->last_ns = c->h.ns;
	m->emit(m->arg, &c->h, m->frame);
	c->tail += rec_size(c->h.caplen);
}

void hnet_cring_merge(struct hnet_cring *const *rings, unsigned k,
		      struct hnet_cring_merge *m)
{
	struct cursor c[RT_TAP_QUEUES_MAX], *b;

	k = k < RT_TAP_QUEUES_MAX ? k : RT_TAP_QUEUES_MAX;
	for (unsigned i = 0; i < k; i++) {
		c[i].r = rings[i];
		/* the consumer's own: relaxed */
		c[i].tail = atomic_load_explicit(&rings[i]->tail,
						 memory_order_relaxed);
		/* acquire: pairs with hnet_cring_put's release */
		c[i].head = atomic_load_explicit(&rings[i]->head,
						 memory_order_acquire);
		next(&c[i], m->gen);
	}
	while ((b = least(c, k, m->upto_ns))) {
		give(b, m);
		next(b, m->gen);
	}
	/* release: the bytes read are the producer's again */
	for (unsigned i = 0; i < k; i++)
		atomic_store_explicit(&rings[i]->tail, c[i].tail,
				      memory_order_release);
}
