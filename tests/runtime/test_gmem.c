/* Guest memory: allocator, host bounds checks, GPADL-style mapping. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_gmem.h"

#define PG 4096u

static int fcntl_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static void test_create_adopt(void **state)
{
	struct rt_gmem g, h;
	int fd;

	(void)state;
	assert_int_equal(rt_gmem_create(&g, 0), -EINVAL);
	assert_int_equal(rt_gmem_create(&g, PG + 1), -EINVAL);
	assert_int_equal(rt_gmem_create(&g, 16 * PG), 0);
	g.base[5 * PG + 7] = 0x5a;

	/* The host adopts a duplicate, as it would one received by
	 * SCM_RIGHTS, and sees the same bytes. */
	fd = dup(g.fd);
	assert_true(fd >= 0);
	assert_int_equal(rt_gmem_adopt(&h, fd), 0);
	assert_int_equal(h.size, 16 * PG);
	assert_int_equal(h.base[5 * PG + 7], 0x5a);
	h.base[0] = 0x11;
	assert_int_equal(g.base[0], 0x11);
	rt_gmem_destroy(&h);
	rt_gmem_destroy(&g);
}

/* A memfd of size bytes, sealed like guest memory unless seals is 0. */
static int sealed_memfd(off_t size, int seals)
{
	int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

static void test_adopt_rejects_bad_size(void **state)
{
	struct rt_gmem h;
	int fd;

	(void)state;
	fd = sealed_memfd(4 * PG + 100, F_SEAL_SHRINK | F_SEAL_GROW);
	assert_int_equal(rt_gmem_adopt(&h, fd), -EINVAL);
	/* ownership of fd was taken: it is closed */
	assert_int_equal(fcntl_closed(fd), 1);
	fd = sealed_memfd(0, F_SEAL_SHRINK | F_SEAL_GROW);
	assert_int_equal(rt_gmem_adopt(&h, fd), -EINVAL);
	assert_int_equal(fcntl_closed(fd), 1);
}

/* A guest able to shrink its memory under the host could make any host
 * access fault: the host takes only memory sealed at its size, and the
 * guest's own memory cannot be resized once created. */
static void test_adopt_requires_seals(void **state)
{
	struct rt_gmem g, h;
	int fd;

	(void)state;
	fd = sealed_memfd(4 * PG, 0);
	assert_int_equal(rt_gmem_adopt(&h, fd), -EPERM);
	assert_int_equal(fcntl_closed(fd), 1);
	fd = sealed_memfd(4 * PG, F_SEAL_GROW);
	assert_int_equal(rt_gmem_adopt(&h, fd), -EPERM);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rt_gmem_adopt(&h, fd), -EPERM);

	assert_int_equal(rt_gmem_create(&g, 4 * PG), 0);
	assert_int_equal(ftruncate(g.fd, PG), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(g.fd, 8 * PG), -1);
	rt_gmem_destroy(&g);
}

static void test_alloc_free(void **state)
{
	struct rt_gmem g;
	uint8_t *a, *b, *c, *d, *e;

	(void)state;
	assert_int_equal(rt_gmem_create(&g, 8 * PG), 0);
	a = rt_gmem_alloc(&g, 2);
	b = rt_gmem_alloc(&g, 3);
	c = rt_gmem_alloc(&g, 3);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(rt_gmem_gpa(&g, a), 0);
	assert_int_equal(rt_gmem_gpa(&g, b), 2 * PG);
	assert_int_equal(rt_gmem_gpa(&g, c), 5 * PG);
	assert_null(rt_gmem_alloc(&g, 1)); /* full */
	memset(b, 0xff, 3 * PG);

	/* Free a and c: 5 pages free, but no run of 4. */
	rt_gmem_free(&g, a, 2);
	rt_gmem_free(&g, c, 3);
	assert_null(rt_gmem_alloc(&g, 4));
	d = rt_gmem_alloc(&g, 3);
	assert_ptr_equal(d, c);
	e = rt_gmem_alloc(&g, 2);
	assert_ptr_equal(e, a);
	/* Reused pages come back zeroed. */
	rt_gmem_free(&g, b, 3);
	b = rt_gmem_alloc(&g, 3);
	for (unsigned i = 0; i < 3 * PG; i++)
		assert_int_equal(b[i], 0);
	assert_null(rt_gmem_alloc(&g, 0));
	assert_null(rt_gmem_alloc(&g, 9));
	rt_gmem_destroy(&g);
}

static void test_ptr_bounds(void **state)
{
	struct rt_gmem g;
	uint64_t sz = 4 * PG;

	(void)state;
	assert_int_equal(rt_gmem_create(&g, sz), 0);
	assert_ptr_equal(rt_gmem_ptr(&g, 0, 1), g.base);
	assert_ptr_equal(rt_gmem_ptr(&g, 0, sz), g.base);
	assert_ptr_equal(rt_gmem_ptr(&g, sz - 1, 1), g.base + sz - 1);
	assert_null(rt_gmem_ptr(&g, sz - 1, 2));
	assert_null(rt_gmem_ptr(&g, sz, 1));
	assert_null(rt_gmem_ptr(&g, 0, sz + 1));
	/* gpa + len wraps to a small number */
	assert_null(rt_gmem_ptr(&g, 16, UINT64_MAX - 8));
	assert_null(rt_gmem_ptr(&g, UINT64_MAX, 2));
	assert_null(rt_gmem_ptr(&g, UINT64_MAX - PG, PG + 2));
	rt_gmem_destroy(&g);
}

static void fill_pages(struct rt_gmem *g)
{
	for (uint64_t p = 0; p < g->npages; p++)
		memset(g->base + p * PG, (int)(0x40 + p), PG);
}

static void check_map(struct rt_gmem *g, const uint64_t *pfn, uint32_t n)
{
	struct rt_gmap m;
	uint8_t *va;

	fill_pages(g);
	assert_int_equal(rt_gmem_map_pfns(g, pfn, n, &m), 0);
	assert_int_equal(m.len, (uint64_t)n * PG);
	assert_int_equal(m.runs, rt_gmem_pfn_runs(pfn, n));
	va = m.va;
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(va[i * PG], 0x40 + pfn[i]);
		assert_int_equal(va[i * PG + PG - 1], 0x40 + pfn[i]);
		/* Write through the mapping, read through base. */
		va[i * PG + 100] = (uint8_t)(0x80 + i);
		assert_int_equal(g->base[pfn[i] * PG + 100], 0x80 + i);
	}
	rt_gmem_unmap(&m);
	assert_null(m.va);
}

static void test_map_pfns(void **state)
{
	struct rt_gmem g;
	const uint64_t scattered[] = { 3, 4, 5, 9, 1, 2, 15 };
	const uint64_t reversed[] = { 7, 6, 5, 4, 3, 2, 1, 0 };
	const uint64_t single[] = { 15 };
	const uint64_t outside[] = { 1, 2, 16 };
	const uint64_t huge[] = { 0, UINT64_MAX };
	struct rt_gmap m;

	(void)state;
	/* One mapping per run of consecutive PFNs: what the host caps. */
	assert_int_equal(rt_gmem_pfn_runs(scattered, 7), 4);
	assert_int_equal(rt_gmem_pfn_runs(reversed, 8), 8);
	assert_int_equal(rt_gmem_pfn_runs(single, 1), 1);
	assert_int_equal(rt_gmem_create(&g, 16 * PG), 0);
	check_map(&g, scattered, 7);
	check_map(&g, reversed, 8);
	check_map(&g, single, 1);
	assert_int_equal(rt_gmem_map_pfns(&g, outside, 3, &m), -EFAULT);
	assert_null(m.va);
	assert_int_equal(rt_gmem_map_pfns(&g, huge, 2, &m), -EFAULT);
	assert_int_equal(rt_gmem_map_pfns(&g, single, 0, &m), -EINVAL);
	rt_gmem_destroy(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_adopt),
		cmocka_unit_test(test_adopt_rejects_bad_size),
		cmocka_unit_test(test_adopt_requires_seals),
		cmocka_unit_test(test_alloc_free),
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_map_pfns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
