/* Test helper: the shared memory and eventfds of one channel between two
 * rt_chan endpoints, as the host and guest would set it up. Ring A is
 * written by endpoint A, ring B by endpoint B. */
#ifndef HVIS_TEST_CHAN_PAIR_H
#define HVIS_TEST_CHAN_PAIR_H

#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rt_chan.h"
#include "rt_gmem.h"

struct chan_pair {
	struct rt_gmem mem;
	uint64_t ring_len;
	int to_a, to_b; /* eventfds: signals for A, for B */
};

/* 0 on success; rings are initialised with the pending-send-size bit. */
static inline int chan_pair_init(struct chan_pair *p, uint64_t ring_len)
{
	struct vmb_ring r;

	p->ring_len = ring_len;
	if (rt_gmem_create(&p->mem, 2 * ring_len))
		return -1;
	for (int i = 0; i < 2; i++) {
		if (vmb_ring_attach(&r, p->mem.base + i * ring_len, ring_len))
			return -1;
		vmb_ring_init_shared(&r, true);
	}
	p->to_a = eventfd(0, EFD_CLOEXEC);
	p->to_b = eventfd(0, EFD_CLOEXEC);
	return p->to_a < 0 || p->to_b < 0 ? -1 : 0;
}

static inline void *chan_pair_ring(struct chan_pair *p, int which)
{
	return p->mem.base + (uint64_t)which * p->ring_len;
}

/* cfg for endpoint A (side 0) or B (side 1); caller sets rx/arg/mode. */
static inline void chan_pair_cfg(struct chan_pair *p, int side,
				 struct rt_chan_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->name = side ? "B" : "A";
	c->tx_ring = chan_pair_ring(p, side);
	c->tx_len = p->ring_len;
	c->rx_ring = chan_pair_ring(p, !side);
	c->rx_len = p->ring_len;
	c->sig_out_fd = side ? p->to_a : p->to_b;
	c->sig_in_fd = side ? p->to_b : p->to_a;
	c->cpu = -1;
}

static inline void chan_pair_destroy(struct chan_pair *p)
{
	close(p->to_a);
	close(p->to_b);
	rt_gmem_destroy(&p->mem);
}

#endif
