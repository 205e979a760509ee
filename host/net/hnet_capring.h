/* netvsp's capture buffers (hnet_capture.c): a ring of frame records per
 * channel, one producer (the channel's worker) and one consumer (the
 * capture's writer thread), and the writer's merge of the rings into
 * one stream in time order.
 *
 * The contract, in bytes counted from the ring's making (never reset):
 * - Only the producer writes head and the bytes from head up to
 *   tail + HNET_CRING_BYTES; only the consumer writes tail and reads the
 *   bytes from tail up to head.
 * - The producer writes a record (header, then frame) and only then
 *   stores head past it with release; the consumer loads head with
 *   acquire, so the record's bytes are visible before it reads them.
 * - The consumer stores tail with release once it has read the records
 *   before it; the producer loads tail with acquire before it writes
 *   there, so it never overwrites a record still being read.
 * - One consumer at a time: a writer thread is joined before the next
 *   starts (the join orders the two). Nobody else touches head or tail,
 *   so no reset can race a producer halfway through a record.
 * - A producer that saw the capture on may still be writing when the
 *   capture has stopped and the next one started: each record carries
 *   the generation of the capture its producer saw, and the merge skips
 *   records of any other, so a new capture starts clean. */
#ifndef HVIS_HNET_CAPRING_H
#define HVIS_HNET_CAPRING_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include "rt_ctr.h"

struct iovec;

#define HNET_CRING_BYTES (1u << 20)   /* per channel */
#define HNET_CAP_SNAPLEN 65535u

struct hnet_crec {
	uint64_t ns;            /* CLOCK_MONOTONIC */
	uint32_t caplen, origlen;
	uint32_t gen, pad;
};

struct hnet_cring {
	_Atomic uint64_t head;  /* bytes put (the producer's) */
	rt_ctr dropped;         /* the producer's: frames that found it full */
	/* the consumer's, on a cache line of its own */
	alignas(64) _Atomic uint64_t tail;  /* bytes taken */
	alignas(64) uint8_t buf[HNET_CRING_BYTES];
};

/* Producer: the record h (caplen <= HNET_CAP_SNAPLEN) and the first
 * h->caplen bytes of the frame in iov[0..n); false when it does not fit
 * (counted in dropped). Never waits. */
bool hnet_cring_put(struct hnet_cring *r, const struct hnet_crec *h,
		    const struct iovec *iov, unsigned n);

/* Consumer: what one merge gives out, and its state across merges. */
struct hnet_cring_merge {
	uint32_t gen;           /* the capture's; other records are skipped */
	uint64_t upto_ns;       /* records stamped later wait for a later call */
	uint64_t last_ns;       /* the latest stamp given out */
	uint64_t late;          /* records stamped before it, given it */
	uint8_t *frame;         /* HNET_CAP_SNAPLEN bytes of scratch */
	void (*emit)(void *arg, const struct hnet_crec *h,
		     const uint8_t *frame);
	void *arg;
};

/* The records of rings[0..k) stamped up to m->upto_ns, to m->emit in
 * stamp order (ties in ring order): a k-way merge of what each ring held
 * when the call began. A record found after others stamped later went
 * out (its producer was held up between stamping and putting it for
 * longer than the caller's margin below upto_ns) goes out stamped
 * m->last_ns, so that the stream never goes back in time, and counts in
 * m->late. */
void hnet_cring_merge(struct hnet_cring *const *rings, unsigned k,
		      struct hnet_cring_merge *m);

#endif
