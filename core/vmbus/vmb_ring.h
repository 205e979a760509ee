/* VMBus ring buffer: one direction of a channel.
 *
 * A ring is a header page (struct vmb_ring_hdr) followed by a data area.
 * Indices are byte offsets into the data area. Each packet is its
 * descriptor and payload padded to 8 bytes, then an 8-byte trailer. The
 * writer never fills the ring completely, so read == write means empty.
 *
 * A struct vmb_ring is one side's view of the shared memory: writer and
 * reader each attach their own instance, and all fields of this struct are
 * private to that side. Only the header page and data area are shared.
 *
 * Signalling rules (both directions, identical for guest and host):
 *  - The writer signals the reader only if, after publishing write_index,
 *    interrupt_mask is 0 and the reader's read_index equals the write
 *    index from before this write (the ring was empty as the reader saw
 *    it). A batch of writes into a non-empty ring therefore signals once.
 *  - The reader signals the writer only if feature_bits has the
 *    pending-send-size bit, pending_send_sz != 0, and this batch moved the
 *    free space from <= pending_send_sz to > pending_send_sz.
 *  - A draining reader masks interrupts, reads, unmasks, then checks for
 *    data again (vmb_ring_unmask) to close the race with a writer that saw
 *    the mask set.
 */
#ifndef HVIS_VMB_RING_H
#define HVIS_VMB_RING_H

#include "vmb_ring_wire.h"

struct vmb_iov {
	const void *base;
	uint32_t len;
};

struct vmb_ring_stats {
	uint64_t packets; /* written (writer) or read (reader) */
	uint64_t bytes;   /* packet bytes, descriptors included */
	uint64_t signals; /* times this side had to signal the peer */
	uint64_t full;    /* writes refused for lack of space */
	uint64_t batches; /* read batches that consumed >= 1 packet */
	uint64_t bad;     /* corrupt index or descriptor from the peer */
};

struct vmb_ring {
	struct vmb_ring_hdr *hdr; /* shared */
	uint8_t *data;            /* shared, size bytes */
	uint32_t size;
	/* Writer's private view, taken from the header at its first write:
	 * where the next packet goes, the write_index it last published and
	 * the read_index it last saw. It never reads write_index back (the
	 * peer may scribble on it) and reloads read_index only when this
	 * view says the ring is too full, or to decide on a signal. */
	uint32_t w_next, w_pub, w_rd;
	bool w_synced;
	struct vmb_ring_stats st;
};

/* A read batch: packets are consumed privately and read_index is
 * published once, at vmb_ring_rd_end. */
struct vmb_ring_rd {
	uint32_t start; /* read_index when the batch began */
	uint32_t pos;   /* private read position */
	uint32_t avail; /* bytes readable at begin, minus those consumed */
};

/* Attach to a ring of len bytes (header page + data, len a multiple of
 * the page size, at least two pages). Does not touch shared memory. */
int vmb_ring_attach(struct vmb_ring *r, void *mem, uint64_t len);

/* Creator only, before the ring is shared: zero indices and mask, set the
 * pending-send-size feature bit if wanted. */
void vmb_ring_init_shared(struct vmb_ring *r, bool pendsz_feature);

/* Writer, one packet of a burst: copies the concatenation of iov (the
 * caller's descriptor first) padded to 8 bytes, then the trailer, into the
 * ring without publishing it. Returns VMB_OK, VMB_EAGAIN (no room now;
 * nothing written), VMB_EMSGSIZE (can never fit) or VMB_EPROTO (the peer
 * corrupted an index). A writer that gets VMB_EAGAIN must commit what it
 * put before it waits for space: the reader cannot free what it cannot
 * see. */
int vmb_ring_put(struct vmb_ring *r, const struct vmb_iov *iov,
		 unsigned iovcnt);
/* Writer: publish every packet put since the last commit with one
 * write_index store. *signal tells whether the reader must be signalled
 * (the burst made the ring non-empty as the reader saw it, with its mask
 * clear): at most one signal per burst. VMB_OK, or VMB_EPROTO if the
 * peer's read_index is corrupt (the packets are published all the same). */
int vmb_ring_commit(struct vmb_ring *r, bool *signal);
/* One packet: put, then commit. */
int vmb_ring_write(struct vmb_ring *r, const struct vmb_iov *iov,
		   unsigned iovcnt, bool *signal);

/* Bytes a write of payload length n occupies in the ring. */
static inline uint32_t vmb_ring_pkt_space(uint32_t n)
{
	return VMB_ALIGN8(n) + VMB_PKT_TRAILER_LEN;
}

/* Free bytes as the writer sees them, packets put but not committed
 * counted as used (0 if the peer corrupted an index). */
uint32_t vmb_ring_free(const struct vmb_ring *r);

/* Writer, before sleeping on a full ring: ask to be signalled once need
 * bytes are free. Returns true if that much is already free (retry now
 * instead of sleeping). No-op returning false if the feature bit is off:
 * the writer must poll. */
bool vmb_ring_want_space(struct vmb_ring *r, uint32_t need);
/* Writer, after a write succeeded: withdraw the request. */
void vmb_ring_clear_want(struct vmb_ring *r);

/* Reader: batched read. */
void vmb_ring_rd_begin(struct vmb_ring *r, struct vmb_ring_rd *b);
/* Validated descriptor of the next packet without consuming it.
 * VMB_OK, VMB_EAGAIN (none left in this batch) or VMB_EPROTO. */
int vmb_ring_rd_peek(struct vmb_ring *r, const struct vmb_ring_rd *b,
		     struct vmb_pktdesc *d);
/* Copy the next packet (descriptor included, len8 * 8 bytes, trailer
 * excluded) into buf and consume it. VMB_EMSGSIZE leaves it in place and
 * sets *len to the size needed. buf should be 8-byte aligned. */
int vmb_ring_rd_next(struct vmb_ring *r, struct vmb_ring_rd *b, void *buf,
		     uint32_t cap, uint32_t *len);
/* Publish read_index for everything consumed. Returns true if the writer
 * must be signalled (pending-send-size crossing). */
bool vmb_ring_rd_end(struct vmb_ring *r, struct vmb_ring_rd *b);

/* One-packet read: begin + next + end. */
int vmb_ring_read(struct vmb_ring *r, void *buf, uint32_t cap, uint32_t *len,
		  bool *signal);

bool vmb_ring_has_data(const struct vmb_ring *r);
/* Reader: stop the writer's signals while draining. */
void vmb_ring_mask(struct vmb_ring *r);
/* Reader: allow signals again; returns true if data is waiting, in which
 * case the caller must drain again (no signal will come for it). */
bool vmb_ring_unmask(struct vmb_ring *r);

#endif
