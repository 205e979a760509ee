/* The host's receive-buffer sub-allocations (netvsp side), over memory
 * the caller provides.
 *
 * The guest's receive buffer is split into count sub-allocations of the
 * layout RECV_BUF_COMPLETE announced. The host writes one RNDIS message
 * into each it sends (or one larger message across a contiguous run of
 * them) and names those of one packet by one transaction id: the index of
 * the first (a bare index, as OpenVMM uses it and as DPDK requires: it
 * refuses an id not below its section count). The guest gives them all
 * back with one completion of that id.
 *
 * As OpenVMM does, the first NVSP_RXBUF_CONTROL sub-allocations are kept
 * for RNDIS control answers, and the rest is split evenly among K queues
 * (the last takes the remainder); queue 0 owns the control ones too.
 * Each queue is used by its channel's thread only and has its own free
 * list (FIFO, so that an index comes back into use as late as possible:
 * a bare index cannot tell a late duplicate completion from the next
 * use's). A completion naming another queue's index is not touched: the
 * caller forwards it to the owner (nvsp_rxbuf_owner).
 *
 * Refused and counted: an id past the buffer, an index the guest does
 * not hold (never sent, or given back already), an index inside another
 * id's chain. An index is never freed twice nor handed out while the
 * guest holds it. */
#ifndef HVIS_NVSP_RXBUF_H
#define HVIS_NVSP_RXBUF_H

#include "vmb_base.h"

#define NVSP_RXBUF_CONTROL 16u     /* OpenVMM's reserve for control */
#define NVSP_RXBUF_MAX_QUEUES 65u  /* primary + 64 sub-channels */

enum nvsp_rxbuf_bad {
	NVSP_RXB_BAD_RANGE,    /* id past the buffer */
	NVSP_RXB_BAD_NOT_HELD, /* not held: never sent, or a duplicate */
	NVSP_RXB_BAD_NOT_HEAD, /* inside another id's chain */
	NVSP_RXB_BAD__COUNT
};

const char *nvsp_rxbuf_bad_name(enum nvsp_rxbuf_bad b);

struct nvsp_rxq {
	uint32_t first, end;   /* owned indices [first, end) */
	uint32_t head, tail;   /* free list (FIFO); head == NONE: empty */
	uint32_t nfree;
	uint32_t held;         /* sub-allocations the guest holds */
	uint64_t allocs, frees; /* chains taken (joined: one), given back */
	uint64_t bad[NVSP_RXB_BAD__COUNT];
};

struct nvsp_rxbuf {
	uint32_t *link;        /* count entries: free-list or chain links */
	uint32_t count;
	uint32_t sub_size;
	uint32_t nqueues;
	struct nvsp_rxq ctl;   /* the control reserve (queue 0's thread) */
	struct nvsp_rxq q[NVSP_RXBUF_MAX_QUEUES];
};

/* link: count entries kept by the caller. VMB_EINVAL unless count leaves
 * at least one data sub-allocation per queue after the reserve and
 * 1 <= nqueues <= NVSP_RXBUF_MAX_QUEUES. */
int nvsp_rxbuf_init(struct nvsp_rxbuf *rb, uint32_t *link, uint32_t count,
		    uint32_t sub_size, uint32_t nqueues);

/* The data sub-allocations split anew among nqueues queues (the
 * control reserve kept as it is): when the guest's channels are known,
 * after the buffer was laid out for fewer. VMB_EBUSY while the guest
 * holds any data sub-allocation, VMB_EINVAL as for init; the queues'
 * counters start again, but for the refusals (bad). */
int nvsp_rxbuf_split(struct nvsp_rxbuf *rb, uint32_t nqueues);

/* Takes n sub-allocations of queue q (n >= 1), chained under one id,
 * into ids[0..n) (ids[0] is the transaction id; offsets are
 * ids[i] * sub_size). VMB_EAGAIN when fewer than n are free (nothing
 * taken). */
int nvsp_rxbuf_alloc(struct nvsp_rxbuf *rb, uint32_t q, uint32_t n,
		     uint32_t *ids);

/* Shortens the chain just taken by nvsp_rxbuf_alloc (ids as it gave
 * them, n long, never sent) to its first keep (1 <= keep <= n): the
 * rest go back to the front of q's free list (the guest never saw them:
 * no late completion can name them), for a receive that took room for
 * the largest frame and read a smaller one. */
void nvsp_rxbuf_trim(struct nvsp_rxbuf *rb, uint32_t q, const uint32_t *ids,
		     uint32_t n, uint32_t keep);

/* Takes n contiguous sub-allocations of queue q, for one message larger
 * than a sub-allocation (the range then spans them), as one chain; the
 * first index in *first is the transaction id. Linear in the queue's
 * size: the rare message only (each is sized for the MTU). VMB_EAGAIN
 * when no run of n is free. */
int nvsp_rxbuf_alloc_run(struct nvsp_rxbuf *rb, uint32_t q, uint32_t n,
			 uint32_t *first);

/* Links the chains ids[1..n) behind the chain of ids[0], in that order,
 * into one chain under the id ids[0]: the sub-allocations of one
 * transfer-page packet of several ranges (a frame each, as Linux's
 * netvsc_receive takes them), which the guest gives back with one
 * completion of ids[0]. Each id must be the head of a chain of queue q
 * the host holds and has not sent (taken by nvsp_rxbuf_alloc or
 * alloc_run in this burst: the caller's to vouch for; a sent one may be
 * completed meanwhile), each once; VMB_EINVAL (nothing changed)
 * otherwise. allocs counts the n chains as one from then on. */
int nvsp_rxbuf_join(struct nvsp_rxbuf *rb, uint32_t q, const uint32_t *ids,
		    uint32_t n);

/* Takes control sub-allocation (queue 0's reserve, for RNDIS control
 * answers, which must not wait for data buffers to come back). */
int nvsp_rxbuf_alloc_control(struct nvsp_rxbuf *rb, uint32_t *id);

/* Gives back the chain of xid on queue q: VMB_OK and *n freed; VMB_EAGAIN
 * when another queue owns it (nvsp_rxbuf_owner); VMB_ENOENT when refused
 * (counted on q). Also the way to give back a chain that was never sent
 * (the ring refused it). */
int nvsp_rxbuf_free(struct nvsp_rxbuf *rb, uint32_t q, uint64_t xid,
		    uint32_t *n);

/* The queue owning index id (id < count). */
uint32_t nvsp_rxbuf_owner(const struct nvsp_rxbuf *rb, uint32_t id);

/* Sub-allocations the guest holds, all queues. */
uint32_t nvsp_rxbuf_held(const struct nvsp_rxbuf *rb);

#endif
