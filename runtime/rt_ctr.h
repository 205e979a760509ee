/* Counters that cost nothing on a data path: each has one writer (a
 * channel's worker, or whoever holds its send side), which adds with a
 * relaxed load and store (no atomic read-modify-write: on x86 a plain add
 * to memory), while any thread may read it with a relaxed load. A counter
 * with several writers must use atomic_fetch_add instead. */
#ifndef HVIS_RT_CTR_H
#define HVIS_RT_CTR_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t rt_ctr;

static inline void rt_ctr_add(rt_ctr *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed)
				 + n, memory_order_relaxed);
}

static inline uint64_t rt_ctr_get(const rt_ctr *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
