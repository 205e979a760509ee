/* Guest memory of the emulated VM: one memfd that the guest creates and
 * hands to the host. A guest physical address is an offset into it and a
 * PFN is that offset >> 12. The host maps the whole memfd and refuses any
 * GPA, PFN or range that is not entirely inside it. */
#ifndef HVIS_RT_GMEM_H
#define HVIS_RT_GMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct rt_gmem {
	int fd;
	uint8_t *base;
	uint64_t size; /* bytes, multiple of 4096 */
	/* guest side: page allocator over the memfd */
	pthread_mutex_t lock;
	uint64_t *bitmap; /* one bit per page, 1 = used */
	uint64_t npages;
};

/* Guest: create size bytes of guest memory (memfd, shared mapping). */
int rt_gmem_create(struct rt_gmem *m, uint64_t size);
/* Host: take ownership of the guest's memfd and map it. The memfd must be
 * sealed against shrinking and growing (-EPERM otherwise). */
int rt_gmem_adopt(struct rt_gmem *m, int fd);
void rt_gmem_destroy(struct rt_gmem *m);

/* Guest: npages physically contiguous zeroed pages; NULL if none. */
void *rt_gmem_alloc(struct rt_gmem *m, uint32_t npages);
void rt_gmem_free(struct rt_gmem *m, void *p, uint32_t npages);
uint64_t rt_gmem_gpa(const struct rt_gmem *m, const void *p);

/* Host: pointer to [gpa, gpa + len), or NULL if any byte is outside. */
void *rt_gmem_ptr(const struct rt_gmem *m, uint64_t gpa, uint64_t len);

/* Host: a GPADL's pages (any order, any PFNs inside guest memory) mapped
 * as one virtually contiguous range, as Hyper-V maps a ring. */
struct rt_gmap {
	void *va;
	uint64_t len;
	uint32_t runs; /* mappings it took: one per run of consecutive PFNs */
};
/* The mappings rt_gmem_map_pfns would make for pfn[npfn]. */
uint32_t rt_gmem_pfn_runs(const uint64_t *pfn, uint32_t npfn);
/* 0, or -EFAULT if a PFN is outside guest memory, -errno otherwise. */
int rt_gmem_map_pfns(const struct rt_gmem *m, const uint64_t *pfn,
		     uint32_t npfn, struct rt_gmap *out);
void rt_gmem_unmap(struct rt_gmap *g);

#endif
