/* hvis-bench: clocks, the memcpy reference, CPU pinning, percentiles. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "rt_log.h"

double bench_now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The copies run in rounds that double, so the clock is read rarely; the
 * destination is read back once so that they cannot be dropped. */
double bench_memcpy_gbps(size_t len, double secs)
{
	/* dst - src is not a multiple of 4 KiB: such aliasing would stall
	 * the loads on false dependencies and understate memcpy. */
	uint8_t *buf = malloc(2 * (size_t)len + 4096), *src = buf;
	uint8_t *dst = buf + len + 2048;
	volatile uint8_t sink;
	uint64_t bytes = 0, rounds = 1;
	double t0, dt;

	if (!buf)
		return 0;
	memset(src, 0x5a, len);
	memset(dst, 0, len); /* fault the pages in before timing */
	t0 = bench_now_s();
	do {
		for (uint64_t i = 0; i < rounds; i++) {
			memcpy(dst, src, len);
			src[bytes % len] ^= (uint8_t)i;
			bytes += len;
		}
		rounds *= 2;
		dt = bench_now_s() - t0;
	} while (dt < secs);
	sink = dst[len / 2];
	(void)sink;
	free(buf);
	return (double)bytes / dt / 1e9;
}

void bench_pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		rt_warn("bench", "cannot pin to CPU %d: %s", cpu,
			strerror(errno));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least pct% at or below it. */
uint32_t bench_percentile(uint32_t *v, size_t n, double pct)
{
	size_t rank;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	rank = (size_t)((pct / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return v[(rank > n ? n : rank) - 1];
}

/* ---- the floor of a round trip: one cache line between two CPUs ---- */

struct pingpong {
	_Alignas(64) _Atomic uint32_t turn; /* odd: B's move, even: A's */
	int cpu_b;
	uint32_t rounds;
};

static void *pong_main(void *arg)
{
	struct pingpong *p = arg;

	bench_pin_self(p->cpu_b);
	for (uint32_t i = 0; i < p->rounds; i++) {
		while (atomic_load_explicit(&p->turn, memory_order_acquire) !=
		       2 * i + 1)
			;
		atomic_store_explicit(&p->turn, 2 * i + 2,
				      memory_order_release);
	}
	return NULL;
}

int bench_pingpong(int cpu_a, int cpu_b, uint32_t rounds, uint32_t *p50,
		   uint32_t *p99)
{
	struct pingpong p = { .cpu_b = cpu_b, .rounds = rounds };
	uint32_t *lat = malloc(rounds * sizeof(*lat));
	pthread_t t;

	if (!lat || pthread_create(&t, NULL, pong_main, &p)) {
		free(lat);
		return -1;
	}
	bench_pin_self(cpu_a);
	for (uint32_t i = 0; i < rounds; i++) {
		uint64_t t0 = bench_now_ns();

		atomic_store_explicit(&p.turn, 2 * i + 1, memory_order_release);
		while (atomic_load_explicit(&p.turn, memory_order_acquire) !=
		       2 * i + 2)
			;
		lat[i] = (uint32_t)(bench_now_ns() - t0);
	}
	pthread_join(t, NULL);
	*p50 = bench_percentile(lat, rounds, 50);
	*p99 = bench_percentile(lat, rounds, 99);
	free(lat);
	return 0;
}
