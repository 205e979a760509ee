/* VMBus ring buffer: copy in and out of one direction of a channel, with
 * every index and descriptor the peer controls checked before use.
 *
 * Shared words are accessed through C11 atomics on naturally aligned
 * 32-bit locations only, so compilers inline them (no libatomic). The data
 * area is copied with plain memcpy; its visibility is ordered by the
 * index stores and loads around it, as each contract below explains. */
#include <stdatomic.h>

#include "vmb_ring.h"

_Static_assert(offsetof(struct vmb_ring_hdr, write_index) == 0x00, "wi");
_Static_assert(offsetof(struct vmb_ring_hdr, read_index) == 0x04, "ri");
_Static_assert(offsetof(struct vmb_ring_hdr, interrupt_mask) == 0x08, "im");
_Static_assert(offsetof(struct vmb_ring_hdr, pending_send_sz) == 0x0C, "ps");
_Static_assert(offsetof(struct vmb_ring_hdr, feature_bits) == 0x40, "fb");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "32-bit atomics");

/* The header is a packed wire struct; its words are reached by offset so
 * that no pointer to a packed member is formed. attach() guarantees the
 * header is 8-byte aligned, hence every word below is 4-byte aligned. */
static inline _Atomic uint32_t *ring_word(const struct vmb_ring *r,
					  size_t off)
{
	return (_Atomic uint32_t *)((uint8_t *)r->hdr + off);
}

#define W_WRITE offsetof(struct vmb_ring_hdr, write_index)
#define W_READ offsetof(struct vmb_ring_hdr, read_index)
#define W_MASK offsetof(struct vmb_ring_hdr, interrupt_mask)
#define W_PEND offsetof(struct vmb_ring_hdr, pending_send_sz)
#define W_FEAT offsetof(struct vmb_ring_hdr, feature_bits)

static inline uint32_t ld_relaxed(const struct vmb_ring *r, size_t off)
{
	return atomic_load_explicit(ring_word(r, off), memory_order_relaxed);
}

static inline uint32_t ld_acquire(const struct vmb_ring *r, size_t off)
{
	return atomic_load_explicit(ring_word(r, off), memory_order_acquire);
}

static inline void st_relaxed(struct vmb_ring *r, size_t off, uint32_t v)
{
	atomic_store_explicit(ring_word(r, off), v, memory_order_relaxed);
}

static inline void st_release(struct vmb_ring *r, size_t off, uint32_t v)
{
	atomic_store_explicit(ring_word(r, off), v, memory_order_release);
}

static inline void full_fence(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}

/* An index from shared memory is usable only inside the data area and on
 * a packet boundary (every packet occupies a multiple of 8 bytes). */
static inline bool idx_ok(const struct vmb_ring *r, uint32_t i)
{
	return i < r->size && (i & 7u) == 0;
}

/* Bytes from read index rd up to write index wr (both valid). */
static inline uint32_t ring_used(const struct vmb_ring *r, uint32_t wr,
				 uint32_t rd)
{
	return wr >= rd ? wr - rd : r->size - rd + wr;
}

static inline uint32_t ring_adv(const struct vmb_ring *r, uint32_t pos,
				uint32_t n)
{
	uint32_t to_end = r->size - pos;

	return n < to_end ? pos + n : n - to_end;
}

/* Copy n (<= size) bytes into the data area at pos, wrapping at the end. */
static uint32_t ring_put(struct vmb_ring *r, uint32_t pos, const void *src,
			 uint32_t n)
{
	uint32_t first = r->size - pos;

	if (n <= first) {
		vmb_memcpy(r->data + pos, src, n);
	} else {
		vmb_memcpy(r->data + pos, src, first);
		vmb_memcpy(r->data, (const uint8_t *)src + first, n - first);
	}
	return ring_adv(r, pos, n);
}

static void ring_get(const struct vmb_ring *r, uint32_t pos, void *dst,
		     uint32_t n)
{
	uint32_t first = r->size - pos;

	if (n <= first) {
		vmb_memcpy(dst, r->data + pos, n);
	} else {
		vmb_memcpy(dst, r->data + pos, first);
		vmb_memcpy((uint8_t *)dst + first, r->data, n - first);
	}
}

int vmb_ring_attach(struct vmb_ring *r, void *mem, uint64_t len)
{
	if (!r || !mem || ((uintptr_t)mem & 7u) || len % VMB_PAGE_SIZE ||
	    len < 2u * VMB_PAGE_SIZE || len - VMB_PAGE_SIZE > UINT32_MAX / 2)
		return VMB_EINVAL;
	vmb_memset(r, 0, sizeof(*r));
	r->hdr = mem;
	r->data = (uint8_t *)mem + VMB_PAGE_SIZE;
	r->size = (uint32_t)(len - VMB_PAGE_SIZE);
	return VMB_OK;
}

void vmb_ring_init_shared(struct vmb_ring *r, bool pendsz_feature)
{
	vmb_memset(r->hdr, 0, sizeof(*r->hdr));
	st_relaxed(r, W_FEAT,
		   pendsz_feature ? VMB_RING_FEAT_PENDING_SEND_SZ : 0);
}

/* The writer's private view starts from the header at its first write
 * (the ring's creator may be the peer). The read_index load is an acquire
 * here and wherever the writer takes the reader's progress: it pairs with
 * the reader's release store in rd_end, so the reader's copies out of the
 * freed bytes are complete before we overwrite them. */
static int wr_sync(struct vmb_ring *r)
{
	uint32_t wr, rd;

	if (r->w_synced)
		return VMB_OK;
	wr = ld_relaxed(r, W_WRITE);
	rd = ld_acquire(r, W_READ);
	if (!idx_ok(r, wr) || !idx_ok(r, rd)) {
		r->st.bad++;
		return VMB_EPROTO;
	}
	r->w_next = r->w_pub = wr;
	r->w_rd = rd;
	r->w_synced = true;
	return VMB_OK;
}

static int wr_take_rd(struct vmb_ring *r, uint32_t rd)
{
	if (!idx_ok(r, rd)) {
		r->st.bad++;
		return VMB_EPROTO;
	}
	r->w_rd = rd;
	return VMB_OK;
}

/* A stale w_rd lies behind the reader's real position, so the free space
 * computed from it is never more than the truth. */
static uint32_t wr_free(const struct vmb_ring *r)
{
	return r->size - ring_used(r, r->w_next, r->w_rd);
}

uint32_t vmb_ring_free(const struct vmb_ring *r)
{
	uint32_t wr = r->w_synced ? r->w_next : ld_relaxed(r, W_WRITE);
	uint32_t rd = ld_acquire(r, W_READ);

	if (!idx_ok(r, wr) || !idx_ok(r, rd))
		return 0;
	return r->size - ring_used(r, wr, rd);
}

static int iov_total(const struct vmb_iov *iov, unsigned iovcnt,
		     uint32_t *total)
{
	uint64_t n = 0;

	if (!iov || !iovcnt)
		return VMB_EINVAL;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].len && !iov[i].base)
			return VMB_EINVAL;
		n += iov[i].len;
	}
	if (!n)
		return VMB_EINVAL;
	if (n > VMB_PKT_MAX_LEN)
		return VMB_EMSGSIZE;
	*total = (uint32_t)n;
	return VMB_OK;
}

/* Headers (descriptors, 16 bytes; with a type header, 24 or 32) are
 * copied with a size the compiler knows, which it inlines as a few
 * moves: a call into memcpy costs more than such a copy. */
static inline void copy_piece(uint8_t *dst, const void *src, uint32_t n)
{
	switch (n) {
	case 16:
		vmb_memcpy(dst, src, 16);
		break;
	case 24:
		vmb_memcpy(dst, src, 24);
		break;
	case 32:
		vmb_memcpy(dst, src, 32);
		break;
	default:
		vmb_memcpy(dst, src, n);
	}
}

/* Gather the iovecs, zero padding and trailer into the ring at wr. A
 * packet that does not reach the end of the data area (the common case)
 * is written straight, without the wraparound checks of ring_put. */
static uint32_t wr_copy(struct vmb_ring *r, uint32_t wr,
			const struct vmb_iov *iov, unsigned iovcnt,
			uint32_t total)
{
	static const uint8_t zero[8];
	uint64_t trailer = vmb_le64((uint64_t)wr << 32);
	uint32_t len8 = VMB_ALIGN8(total), pos = wr;
	uint8_t *p = r->data + wr;

	if (len8 + VMB_PKT_TRAILER_LEN < r->size - wr) {
		for (unsigned i = 0; i < iovcnt; i++) {
			if (iov[i].len)
				copy_piece(p, iov[i].base, iov[i].len);
			p += iov[i].len;
		}
		/* Padding: up to 7 zero bytes; the 8 written here end
		 * inside the trailer, which is written next. */
		vmb_memcpy(p, zero, sizeof(zero));
		vmb_memcpy(r->data + wr + len8, &trailer, sizeof(trailer));
		return wr + len8 + VMB_PKT_TRAILER_LEN;
	}
	for (unsigned i = 0; i < iovcnt; i++)
		if (iov[i].len)
			pos = ring_put(r, pos, iov[i].base, iov[i].len);
	pos = ring_put(r, pos, zero, len8 - total);
	return ring_put(r, pos, &trailer, sizeof(trailer));
}

int vmb_ring_put(struct vmb_ring *r, const struct vmb_iov *iov,
		 unsigned iovcnt)
{
	uint32_t total, need;
	int rc;

	rc = iov_total(iov, iovcnt, &total);
	if (rc)
		return rc;
	need = vmb_ring_pkt_space(total);
	/* A write may never leave zero free bytes, so an empty ring takes at
	 * most size - 8 (the free space stays a multiple of 8). */
	if (need >= r->size)
		return VMB_EMSGSIZE;
	rc = wr_sync(r);
	if (rc)
		return rc;
	if (wr_free(r) <= need) {
		rc = wr_take_rd(r, ld_acquire(r, W_READ));
		if (rc)
			return rc;
		if (wr_free(r) <= need) {
			r->st.full++;
			return VMB_EAGAIN;
		}
	}
	r->w_next = wr_copy(r, r->w_next, iov, iovcnt, total);
	r->st.packets++;
	r->st.bytes += VMB_ALIGN8(total);
	return VMB_OK;
}

/* Ordering contract of a commit:
 *  1. the packets' bytes were copied into the data area by put;
 *  2. write_index is published with a release store, so a reader that
 *     acquire-loads the new index sees every byte of step 1;
 *  3. a full fence orders that store before the loads of interrupt_mask
 *     and read_index. It pairs with the full fence in vmb_ring_unmask
 *     (mask store, fence, write_index load): either we see the mask
 *     cleared and signal, or the reader's re-check sees our packets. The
 *     same holds for the reader publishing read_index == our old index.
 * One commit per burst is what makes a burst cheap: one store and one
 * fence on the shared header instead of one per packet. */
int vmb_ring_commit(struct vmb_ring *r, bool *signal)
{
	uint32_t old = r->w_pub;
	int rc;

	*signal = false;
	if (!r->w_synced || r->w_next == old)
		return VMB_OK;
	st_release(r, W_WRITE, r->w_next);
	r->w_pub = r->w_next;
	full_fence();
	if (ld_relaxed(r, W_MASK) != 0)
		return VMB_OK;
	rc = wr_take_rd(r, ld_acquire(r, W_READ));
	if (rc)
		return rc;
	if (r->w_rd == old) {
		*signal = true;
		r->st.signals++;
	}
	return VMB_OK;
}

int vmb_ring_write(struct vmb_ring *r, const struct vmb_iov *iov,
		   unsigned iovcnt, bool *signal)
{
	int rc;

	*signal = false;
	rc = vmb_ring_put(r, iov, iovcnt);
	if (rc)
		return rc;
	return vmb_ring_commit(r, signal);
}

/* Ordering contract of want_space: pending_send_sz is stored, then a full
 * fence, then read_index is loaded. It pairs with rd_end (read_index
 * store, full fence, pending_send_sz load): either the reader sees our
 * request and signals when it frees enough, or we see its progress here
 * and retry instead of sleeping. */
bool vmb_ring_want_space(struct vmb_ring *r, uint32_t need)
{
	if (!(ld_relaxed(r, W_FEAT) & VMB_RING_FEAT_PENDING_SEND_SZ))
		return false;
	st_relaxed(r, W_PEND, need);
	full_fence();
	return vmb_ring_free(r) > need;
}

void vmb_ring_clear_want(struct vmb_ring *r)
{
	st_relaxed(r, W_PEND, 0);
}

/* Reader's snapshot. write_index is acquire-loaded: it pairs with the
 * writer's release store, so every packet byte below it is visible. An
 * index the peer corrupted leaves a batch that fails at the first peek. */
void vmb_ring_rd_begin(struct vmb_ring *r, struct vmb_ring_rd *b)
{
	uint32_t rd = ld_relaxed(r, W_READ);
	uint32_t wr = ld_acquire(r, W_WRITE);

	if (!idx_ok(r, wr) || !idx_ok(r, rd)) {
		b->start = b->pos = UINT32_MAX;
		b->avail = 0;
		return;
	}
	b->start = b->pos = rd;
	b->avail = ring_used(r, wr, rd);
}

static int rd_bad(struct vmb_ring *r)
{
	r->st.bad++;
	return VMB_EPROTO;
}

/* The descriptor is copied out once and checked on that copy, so a peer
 * rewriting the ring meanwhile cannot change what was validated. */
int vmb_ring_rd_peek(struct vmb_ring *r, const struct vmb_ring_rd *b,
		     struct vmb_pktdesc *d)
{
	uint32_t off, len;

	if (b->pos >= r->size)
		return rd_bad(r);
	if (!b->avail)
		return VMB_EAGAIN;
	/* Always inside the data area; if fewer than 16 bytes are
	 * available, the length check below rejects the packet. */
	if (b->pos <= r->size - sizeof(*d))
		vmb_memcpy(d, r->data + b->pos, sizeof(*d)); /* inlined */
	else
		ring_get(r, b->pos, d, sizeof(*d));
	off = (uint32_t)vmb_le16(d->offset8) * 8u;
	len = (uint32_t)vmb_le16(d->len8) * 8u;
	if (off < sizeof(*d) || off > len ||
	    len + VMB_PKT_TRAILER_LEN > b->avail)
		return rd_bad(r);
	return VMB_OK;
}

int vmb_ring_rd_next(struct vmb_ring *r, struct vmb_ring_rd *b, void *buf,
		     uint32_t cap, uint32_t *len)
{
	struct vmb_pktdesc d;
	uint32_t n;
	int rc;

	rc = vmb_ring_rd_peek(r, b, &d);
	if (rc)
		return rc;
	n = (uint32_t)vmb_le16(d.len8) * 8u;
	*len = n;
	if (n > cap)
		return VMB_EMSGSIZE;
	/* The caller parses the descriptor in buf: it is the copy checked
	 * above, whatever the peer wrote since; the rest follows it. */
	vmb_memcpy(buf, &d, sizeof(d));
	ring_get(r, ring_adv(r, b->pos, sizeof(d)), (uint8_t *)buf + sizeof(d),
		 n - (uint32_t)sizeof(d));
	b->pos = ring_adv(r, b->pos, n + VMB_PKT_TRAILER_LEN);
	b->avail -= n + VMB_PKT_TRAILER_LEN;
	r->st.packets++;
	r->st.bytes += n;
	return VMB_OK;
}

/* Did this batch move the free space from <= pending_send_sz to above
 * it? Free space is measured against the current write_index (a blocked
 * writer does not move it), before and after the bytes consumed. */
static bool rd_crossed(struct vmb_ring *r, const struct vmb_ring_rd *b)
{
	uint32_t pend, wr, now, freed;

	pend = ld_relaxed(r, W_PEND);
	if (!pend)
		return false;
	wr = ld_relaxed(r, W_WRITE);
	if (!idx_ok(r, wr))
		return false;
	now = r->size - ring_used(r, wr, b->pos);
	freed = ring_used(r, b->pos, b->start);
	if (freed > now)
		return false;
	return now - freed <= pend && now > pend;
}

/* Ordering contract of rd_end:
 *  1. read_index is published with a release store, once per batch: all
 *     copies out of the consumed bytes happen before the writer can see
 *     them free and overwrite them (it acquire-loads read_index);
 *  2. a full fence, then feature_bits and pending_send_sz are loaded. It
 *     pairs with vmb_ring_want_space (pending store, fence, read_index
 *     load), so a writer going to sleep is either seen here or sees the
 *     space itself.
 */
bool vmb_ring_rd_end(struct vmb_ring *r, struct vmb_ring_rd *b)
{
	bool sig;

	if (b->pos >= r->size || b->pos == b->start)
		return false;
	st_release(r, W_READ, b->pos);
	r->st.batches++;
	full_fence();
	sig = (ld_relaxed(r, W_FEAT) & VMB_RING_FEAT_PENDING_SEND_SZ) &&
	      rd_crossed(r, b);
	b->start = b->pos;
	if (sig)
		r->st.signals++;
	return sig;
}

int vmb_ring_read(struct vmb_ring *r, void *buf, uint32_t cap, uint32_t *len,
		  bool *signal)
{
	struct vmb_ring_rd b;
	int rc;

	vmb_ring_rd_begin(r, &b);
	rc = vmb_ring_rd_next(r, &b, buf, cap, len);
	*signal = vmb_ring_rd_end(r, &b);
	return rc;
}

bool vmb_ring_has_data(const struct vmb_ring *r)
{
	return ld_acquire(r, W_WRITE) != ld_relaxed(r, W_READ);
}

/* Masking is only an optimisation (it saves the writer's signals), so a
 * relaxed store is enough: a writer that misses it merely signals. */
void vmb_ring_mask(struct vmb_ring *r)
{
	st_relaxed(r, W_MASK, 1);
}

/* Ordering contract of unmask: the mask is cleared, then a full fence,
 * then write_index is loaded. It pairs with the fence in vmb_ring_write:
 * a writer that still saw the mask set published its packet before its
 * fence, so our load sees it and the caller drains instead of sleeping. */
bool vmb_ring_unmask(struct vmb_ring *r)
{
	st_relaxed(r, W_MASK, 0);
	full_fence();
	return vmb_ring_has_data(r);
}
