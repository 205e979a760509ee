/* The guest's GPADLs as the host maps them, and the holds devices take on
 * them (hvm_gpadl_get) for buffers beyond the ring.
 *
 * Threads: the vmb_server callbacks (map, teardown, unmap) run on the loop
 * thread; hvm_gpadl_get and hvm_gpadl_put on any thread. They meet under
 * vm->gpadl_lock, which guards the list, every hold count and mark, and
 * vm->map_runs.
 *
 * Lifetime: memory is unmapped only when no device holds it. A teardown
 * the guest asks for while a device holds the GPADL is held back in
 * vmb_server, answer included; the last put queues the release for the
 * loop thread, which unmaps and answers. A GPADL the server drops while
 * held (its channel released, the guest gone) is orphaned: off the list,
 * unmapped by the last put, no answer owed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hvm_priv.h"
#include "rt_log.h"

struct hvm_gpadl {
	struct rt_gmap map;
	struct hvm *vm;
	uint32_t id, relid;
	unsigned holds;
	bool tearing;   /* the guest asked to tear it down: no new holds */
	bool orphan;    /* dropped by the server while held */
	/* Made at map time, so that the last put never allocates: queued
	 * by it when tearing, else freed with the GPADL. */
	struct hvm_work *release;
	struct hvm_gpadl *next;
};

static struct hvm_gpadl *hg_of(const struct vmb_server_gpadl *g)
{
	return g->host;
}

const struct rt_gmap *hvm_gpadl_gmap(const struct vmb_server_gpadl *g)
{
	return g->host ? &hg_of(g)->map : NULL;
}

void hvm_gpadl_counts(struct hvm *vm, uint32_t *map_runs,
		      uint64_t *refused)
{
	pthread_mutex_lock(&vm->gpadl_lock);
	*map_runs = vm->map_runs;
	*refused = vm->gpadl_refused;
	pthread_mutex_unlock(&vm->gpadl_lock);
}

/* Within the guest's share of the host's mappings? Reserved if so,
 * counted if not. Under gpadl_lock. */
static bool map_reserve(struct hvm *vm, const struct vmb_server_gpadl *g,
			uint32_t runs)
{
	if (runs <= HVM_GUEST_MAP_RUNS - vm->map_runs) {
		vm->map_runs += runs;
		return true;
	}
	vm->map_refused++;
	vm->map_capped++;
	rt_warn("gpadl", "GPADL %u of relid %u refused: its %u runs of pages "
		"would take the guest past %u mappings (%u held)", g->id,
		g->relid, runs, HVM_GUEST_MAP_RUNS, vm->map_runs);
	return false;
}

static void map_unreserve(struct hvm *vm, uint32_t runs)
{
	pthread_mutex_lock(&vm->gpadl_lock);
	vm->map_runs -= runs;
	pthread_mutex_unlock(&vm->gpadl_lock);
}

/* Loop thread: the guest's answer, once the last hold is gone. The check
 * is repeated here: the id may name a newer GPADL by now. */
static void release_work(struct hvm *vm, struct hdev *d, uint32_t id)
{
	struct hvm_gpadl *hg;
	bool due;

	(void)d;
	pthread_mutex_lock(&vm->gpadl_lock);
	for (hg = vm->gpadls; hg && hg->id != id; hg = hg->next)
		;
	due = hg && hg->tearing && hg->holds == 0;
	pthread_mutex_unlock(&vm->gpadl_lock);
	if (due && vmb_server_gpadl_release(&vm->srv, id) == VMB_OK)
		rt_info("gpadl", "GPADL %u torn down after its device let go",
			id);
}

static struct hvm_gpadl *hg_new(struct hvm *vm,
				const struct vmb_server_gpadl *g)
{
	const struct hvm_chan *c = vm->chans[g->relid];
	struct hvm_gpadl *hg = calloc(1, sizeof(*hg));

	if (!hg)
		return NULL;
	hg->release = calloc(1, sizeof(*hg->release));
	if (!hg->release) {
		free(hg);
		return NULL;
	}
	hg->vm = vm;
	hg->id = g->id;
	hg->relid = g->relid;
	/* The server maps GPADLs of offered channels only, so c is set. */
	*hg->release = (struct hvm_work){ .fn = release_work,
					  .dev_id = c ? c->dev->id : 0,
					  .gen = vm->gen, .arg = g->id };
	return hg;
}

static void hg_free(struct hvm_gpadl *hg)
{
	free(hg->release);
	free(hg);
}

static uint32_t map_refused(struct hvm *vm, const struct vmb_server_gpadl *g,
			    int rc)
{
	vm->map_refused++;
	rt_warn("gpadl", "GPADL %u of relid %u refused: %s", g->id, g->relid,
		rc == -EFAULT ? "PFN outside guest memory" : strerror(-rc));
	return rc == -EFAULT ? HVM_ST_INVALID_PARAMETER : HVM_ST_NO_RESOURCES;
}

uint32_t hvm_gpadl_map(void *ctx, struct vmb_server_gpadl *g)
{
	struct hvm *vm = ctx;
	uint32_t runs = rt_gmem_pfn_runs(g->pfns, g->pfn_count);
	struct hvm_gpadl *hg;
	bool ok;
	int rc;

	if (!vm->have_gmem) {
		vm->map_refused++;
		return HVM_ST_UNSUCCESSFUL;
	}
	hg = hg_new(vm, g);
	if (!hg)
		return HVM_ST_NO_RESOURCES;
	pthread_mutex_lock(&vm->gpadl_lock);
	ok = map_reserve(vm, g, runs);
	pthread_mutex_unlock(&vm->gpadl_lock);
	if (!ok) {
		hg_free(hg);
		return HVM_ST_NO_RESOURCES;
	}
	rc = rt_gmem_map_pfns(&vm->gmem, g->pfns, g->pfn_count, &hg->map);
	if (rc) {
		map_unreserve(vm, runs);
		hg_free(hg);
		return map_refused(vm, g, rc);
	}
	/* Listed (visible to hvm_gpadl_get) only once mapped. */
	pthread_mutex_lock(&vm->gpadl_lock);
	hg->next = vm->gpadls;
	vm->gpadls = hg;
	pthread_mutex_unlock(&vm->gpadl_lock);
	g->host = hg;
	return 0;
}

/* No hold is left and none can come: under gpadl_lock, or unlisted. */
static void hg_unmap(struct hvm_gpadl *hg)
{
	uint32_t runs = hg->map.runs;

	rt_gmem_unmap(&hg->map);
	map_unreserve(hg->vm, runs);
	hg_free(hg);
}

static void hg_unlist(struct hvm *vm, struct hvm_gpadl *hg)
{
	struct hvm_gpadl **pp;

	for (pp = &vm->gpadls; *pp && *pp != hg; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = hg->next;
}

bool hvm_gpadl_teardown(void *ctx, struct vmb_server_gpadl *g)
{
	struct hvm *vm = ctx;
	struct hvm_gpadl *hg = hg_of(g);
	bool now;

	if (!hg)
		return true;
	pthread_mutex_lock(&vm->gpadl_lock);
	/* From here no hold is granted: unmapped now, or by the release
	 * the last put queues. */
	hg->tearing = true;
	now = hg->holds == 0;
	if (!now)
		vm->gpadl_held++;
	pthread_mutex_unlock(&vm->gpadl_lock);
	if (!now)
		rt_info("gpadl", "GPADL %u of relid %u: teardown waits for its "
			"device to let go", g->id, g->relid);
	return now;
}

void hvm_gpadl_unmap(void *ctx, struct vmb_server_gpadl *g)
{
	struct hvm *vm = ctx;
	struct hvm_gpadl *hg = hg_of(g);
	bool held;

	if (!hg)
		return;
	g->host = NULL;
	pthread_mutex_lock(&vm->gpadl_lock);
	hg_unlist(vm, hg);
	held = hg->holds > 0;
	hg->orphan = held;
	pthread_mutex_unlock(&vm->gpadl_lock);
	if (!held)
		hg_unmap(hg);
	else
		rt_warn("gpadl", "GPADL %u of relid %u dropped while its "
			"device holds it: unmapped when it lets go", hg->id,
			hg->relid);
}

int hvm_gpadl_get(struct hvm_chan *c, uint32_t id, struct hvm_gpadl_ref *out)
{
	struct hvm *vm = c->vm;
	struct hvm_gpadl *hg;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->gpadl_lock);
	for (hg = vm->gpadls; hg && hg->id != id; hg = hg->next)
		;
	if (!hg || hg->relid != c->relid || hg->tearing) {
		int rc = hg && hg->relid == c->relid ? -EBUSY : -ENOENT;

		vm->gpadl_refused++;
		pthread_mutex_unlock(&vm->gpadl_lock);
		return rc;
	}
	hg->holds++;
	pthread_mutex_unlock(&vm->gpadl_lock);
	*out = (struct hvm_gpadl_ref){ .va = hg->map.va, .len = hg->map.len,
				       .id = id, .g = hg };
	return 0;
}

void hvm_gpadl_put(struct hvm_gpadl_ref *ref)
{
	struct hvm_gpadl *hg = ref->g;
	struct hvm *vm;
	bool unmap = false;

	if (!hg)
		return;
	vm = hg->vm;
	memset(ref, 0, sizeof(*ref));
	pthread_mutex_lock(&vm->gpadl_lock);
	if (--hg->holds == 0) {
		unmap = hg->orphan;
		/* Queued under the lock: the loop thread cannot unmap hg
		 * before release_work sees no hold. */
		if (hg->tearing && !hg->orphan && hg->release) {
			hvm_work_queue(vm, hg->release);
			hg->release = NULL;
		}
	}
	pthread_mutex_unlock(&vm->gpadl_lock);
	if (unmap)
		hg_unmap(hg);
}
