/* Guest memory: a memfd shared by guest and host, a first-fit page
 * allocator for the guest, bounds-checked access and GPADL mapping for
 * the host. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_gmem.h"
#include "vmb_base.h"

#define GMEM_PAGE ((uint64_t)VMB_PAGE_SIZE)

static int gmem_map(struct rt_gmem *m, int fd, uint64_t size)
{
	void *p;

	if (size == 0 || size % GMEM_PAGE || size > (uint64_t)SIZE_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	m->fd = fd;
	m->base = p;
	m->size = size;
	m->npages = size / GMEM_PAGE;
	return 0;
}

static void gmem_reset(struct rt_gmem *m)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

/* Guest memory never changes size once shared. */
#define GMEM_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

int rt_gmem_create(struct rt_gmem *m, uint64_t size)
{
	int fd, rc;

	gmem_reset(m);
	if (size == 0 || size % GMEM_PAGE || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	fd = memfd_create("hvis-guest-memory", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, GMEM_SEALS | F_SEAL_SEAL) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = gmem_map(m, fd, size);
	if (rc)
		goto fail;
	m->bitmap = calloc((m->npages + 63) / 64, sizeof(uint64_t));
	if (!m->bitmap) {
		rc = -ENOMEM;
		munmap(m->base, (size_t)size);
		goto fail;
	}
	pthread_mutex_init(&m->lock, NULL);
	return 0;
fail:
	close(fd);
	gmem_reset(m);
	return rc;
}

int rt_gmem_adopt(struct rt_gmem *m, int fd)
{
	struct stat st;
	int rc, seals;

	gmem_reset(m);
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	/* Guest memory that its owner could still shrink would turn any host
	 * access to it into a SIGBUS: only a memfd sealed at its size will
	 * do. (F_GET_SEALS also fails on anything that is not a memfd.) */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & GMEM_SEALS) != GMEM_SEALS) {
		rc = -EPERM;
		goto fail;
	}
	if (st.st_size <= 0) {
		rc = -EINVAL;
		goto fail;
	}
	rc = gmem_map(m, fd, (uint64_t)st.st_size);
	if (rc)
		goto fail;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
fail:
	close(fd); /* ownership was taken either way */
	gmem_reset(m);
	return rc;
}

void rt_gmem_destroy(struct rt_gmem *m)
{
	if (m->base) {
		munmap(m->base, (size_t)m->size);
		pthread_mutex_destroy(&m->lock);
	}
	if (m->fd >= 0)
		close(m->fd);
	free(m->bitmap);
	gmem_reset(m);
}

static bool page_used(const struct rt_gmem *m, uint64_t i)
{
	return m->bitmap[i / 64] >> (i % 64) & 1;
}

static void mark_pages(struct rt_gmem *m, uint64_t first, uint64_t n,
		       bool used)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (used)
			m->bitmap[i / 64] |= 1ull << (i % 64);
		else
			m->bitmap[i / 64] &= ~(1ull << (i % 64));
	}
}

/* First fit; returns the first page of a free run of n, or npages. */
static uint64_t find_run(const struct rt_gmem *m, uint64_t n)
{
	uint64_t run = 0;

	for (uint64_t i = 0; i < m->npages; i++) {
		if (!(i % 64) && m->bitmap[i / 64] == ~0ull) {
			run = 0;
			i += 63; /* whole word used */
			continue;
		}
		run = page_used(m, i) ? 0 : run + 1;
		if (run == n)
			return i + 1 - n;
	}
	return m->npages;
}

void *rt_gmem_alloc(struct rt_gmem *m, uint32_t npages)
{
	uint64_t first;
	uint8_t *p = NULL;

	if (!m->bitmap || npages == 0 || npages > m->npages)
		return NULL;
	pthread_mutex_lock(&m->lock);
	first = find_run(m, npages);
	if (first < m->npages) {
		mark_pages(m, first, npages, true);
		p = m->base + first * GMEM_PAGE;
	}
	pthread_mutex_unlock(&m->lock);
	if (p)
		memset(p, 0, (size_t)npages * GMEM_PAGE);
	return p;
}

void rt_gmem_free(struct rt_gmem *m, void *p, uint32_t npages)
{
	uint64_t off, first;

	if (!p || !m->bitmap || (uintptr_t)p < (uintptr_t)m->base)
		return;
	off = (uint64_t)((uintptr_t)p - (uintptr_t)m->base);
	first = off / GMEM_PAGE;
	/* A pointer or count outside the allocator is a caller bug; leave
	 * the bitmap alone rather than free someone else's pages. */
	if (off % GMEM_PAGE || first >= m->npages || npages > m->npages - first)
		return;
	pthread_mutex_lock(&m->lock);
	mark_pages(m, first, npages, false);
	pthread_mutex_unlock(&m->lock);
}

uint64_t rt_gmem_gpa(const struct rt_gmem *m, const void *p)
{
	return (uint64_t)((const uint8_t *)p - m->base);
}

void *rt_gmem_ptr(const struct rt_gmem *m, uint64_t gpa, uint64_t len)
{
	/* Written so that gpa + len is never computed: it may wrap. */
	if (gpa >= m->size || len > m->size - gpa)
		return NULL;
	return m->base + gpa;
}

/* Pages from pfn[i] on that are consecutive in guest memory too. */
static uint32_t run_len(const uint64_t *pfn, uint32_t npfn, uint32_t i)
{
	uint32_t run = 1;

	while (i + run < npfn && pfn[i + run] == pfn[i] + run)
		run++;
	return run;
}

uint32_t rt_gmem_pfn_runs(const uint64_t *pfn, uint32_t npfn)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < npfn; i += run_len(pfn, npfn, i))
		n++;
	return n;
}

int rt_gmem_map_pfns(const struct rt_gmem *m, const uint64_t *pfn,
		     uint32_t npfn, struct rt_gmap *out)
{
	uint8_t *va;
	uint64_t len;
	uint32_t i, run;
	int rc;

	out->va = NULL;
	out->len = 0;
	out->runs = 0;
	if (npfn == 0 || m->fd < 0)
		return -EINVAL;
	for (i = 0; i < npfn; i++)
		if (pfn[i] >= m->npages)
			return -EFAULT;
	len = (uint64_t)npfn * GMEM_PAGE;
	/* Reserve the whole range first so that the runs below land in one
	 * contiguous window nobody else can take in between. */
	va = mmap(NULL, (size_t)len, PROT_NONE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (va == MAP_FAILED)
		return -errno;
	for (i = 0; i < npfn; i += run) {
		run = run_len(pfn, npfn, i);
		if (mmap(va + (uint64_t)i * GMEM_PAGE,
			 (size_t)run * GMEM_PAGE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, m->fd,
			 (off_t)(pfn[i] * GMEM_PAGE)) == MAP_FAILED) {
			rc = -errno;
			munmap(va, (size_t)len);
			return rc;
		}
	}
	out->va = va;
	out->len = len;
	out->runs = rt_gmem_pfn_runs(pfn, npfn);
	return 0;
}

void rt_gmem_unmap(struct rt_gmap *g)
{
	if (g->va)
		munmap(g->va, (size_t)g->len);
	g->va = NULL;
	g->len = 0;
}
