/* Drivers' GPADLs: buffers beyond the ring that a driver shares with the
 * host (a network receive or send buffer), their creation and teardown.
 *
 * Everything runs on the loop thread. The vmb_client callbacks only mark
 * a GPADL answered (gvb_gpadl_answered, gvb_gpadl_torn); gvb_process
 * tells the driver afterwards (gvb_gpadl_events), so that a driver may
 * call gvb again from its callback without re-entering the client. */
#include <stdlib.h>

#include "gvb_priv.h"
#include "rt_log.h"
#include "vmbus/vmb_msg.h"

enum gg_state { GG_CREATING, GG_LIVE, GG_TEARING };

struct gvb_gpadl {
	uint32_t id;
	enum gg_state state;
	bool answered;   /* the host answered; the driver not told yet */
	uint32_t status; /* GPADL_CREATED's */
	gvb_gpadl_fn *fn;
	void *arg;
	struct gvb_gpadl *next;
};

static struct gvb_gpadl *gg_find(const struct gvb_chan *c, uint32_t id)
{
	struct gvb_gpadl *g;

	for (g = c->gpadls; g && g->id != id; g = g->next)
		;
	return g;
}

static void gg_unlink(struct gvb_chan *c, struct gvb_gpadl *g)
{
	struct gvb_gpadl **pp;

	for (pp = &c->gpadls; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
}

/* The PFNs of buf: guest memory is one memfd, so its pages are
 * consecutive. NULL if buf is unaligned or not all in guest memory. */
static uint64_t *buf_pfns(struct gvb *vb, const void *buf, size_t len,
			  uint32_t *npfn)
{
	const uint8_t *p = buf, *base = vb->gmem.base;
	uint64_t first, n, *pfn;

	if (!p || !len || p < base || (size_t)(p - base) % VMB_PAGE_SIZE ||
	    len > vb->gmem.size - (size_t)(p - base))
		return NULL;
	first = rt_gmem_gpa(&vb->gmem, p) >> VMB_PAGE_SHIFT;
	n = (len + VMB_PAGE_SIZE - 1) >> VMB_PAGE_SHIFT;
	pfn = n <= UINT32_MAX ? malloc(n * sizeof(*pfn)) : NULL;
	for (uint64_t i = 0; pfn && i < n; i++)
		pfn[i] = first + i;
	*npfn = (uint32_t)n;
	return pfn;
}

int gvb_gpadl_create(struct gvb_chan *c, void *buf, size_t len,
		     gvb_gpadl_fn *fn, void *arg, uint32_t *id)
{
	struct gvb_gpadl *g;
	uint64_t *pfn;
	uint32_t npfn;
	int rc;

	if (!fn || !id)
		return VMB_EINVAL;
	/* A running channel only: not once stopping began (rescind, host
	 * gone), when nothing would tear the GPADL down again. */
	if (c->state != GVB_OPEN || c->rescinded || !c->rt)
		return VMB_EBUSY;
	pfn = buf_pfns(c->vb, buf, len, &npfn);
	if (!pfn)
		return VMB_EINVAL;
	g = calloc(1, sizeof(*g));
	rc = g ? vmb_client_gpadl_create(&c->vb->cl, c->relid, pfn, npfn,
					 &g->id)
	       : VMB_ENOMEM;
	free(pfn);
	if (rc != VMB_OK) {
		free(g);
		return rc;
	}
	g->state = GG_CREATING;
	g->fn = fn;
	g->arg = arg;
	g->next = c->gpadls;
	c->gpadls = g;
	*id = g->id;
	rt_info("chan", "relid %u: %s asked for GPADL %u (%zu KiB)", c->relid,
		c->drv->name, g->id, len >> 10);
	return VMB_OK;
}

static int teardown(struct gvb_chan *c, struct gvb_gpadl *g)
{
	int rc = vmb_client_gpadl_teardown(&c->vb->cl, c->relid, g->id);

	if (rc == VMB_OK)
		g->state = GG_TEARING;
	return rc;
}

int gvb_gpadl_teardown(struct gvb_chan *c, uint32_t id)
{
	struct gvb_gpadl *g = gg_find(c, id);

	if (!g)
		return VMB_ENOENT;
	if (g->state != GG_LIVE || g->answered)
		return VMB_EBUSY;
	return teardown(c, g);
}

bool gvb_gpadl_answered(struct gvb_chan *c, uint32_t id, uint32_t status)
{
	struct gvb_gpadl *g = gg_find(c, id);

	if (!g || g->state != GG_CREATING || g->answered)
		return false;
	g->answered = true;
	g->status = status;
	if (status)
		rt_warn("chan", "relid %u: GPADL %u not created (%#x)",
			c->relid, id, status);
	return true;
}

bool gvb_gpadl_torn(struct gvb *vb, uint32_t id)
{
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++) {
		struct gvb_gpadl *g = vb->chans[r] ? gg_find(vb->chans[r], id)
						   : NULL;

		if (g && g->state == GG_TEARING && !g->answered) {
			g->answered = true;
			return true;
		}
	}
	return false;
}

/* The driver hears of one answer; g is freed if that was its last. */
static void tell(struct gvb_chan *c, struct gvb_gpadl *g)
{
	enum gvb_gpadl_ev ev = GVB_GPADL_RELEASED;
	uint32_t id = g->id, status = g->status;

	g->answered = false;
	if (g->state == GG_CREATING && status == 0) {
		g->state = GG_LIVE;
		g->fn(c, id, GVB_GPADL_CREATED, 0, g->arg);
		return;
	}
	if (g->state == GG_CREATING)
		ev = GVB_GPADL_FAILED;
	/* Unlinked before the call: the driver may create another. */
	gg_unlink(c, g);
	g->fn(c, id, ev, status, g->arg);
	free(g);
}

void gvb_gpadl_events(struct gvb_chan *c)
{
	struct gvb_gpadl *g;

	do {
		for (g = c->gpadls; g && !g->answered; g = g->next)
			;
		if (g)
			tell(c, g);
	} while (g);
}

bool gvb_gpadl_teardown_all(struct gvb_chan *c)
{
	struct gvb_gpadl *g, *next;
	int rc;

	for (g = c->gpadls; g; g = next) {
		next = g->next;
		if (g->state != GG_LIVE || g->answered)
			continue;
		rc = teardown(c, g);
		if (rc == VMB_OK)
			continue;
		/* Only a host that is gone refuses: nothing maps it. */
		rt_warn("chan", "relid %u: GPADL %u teardown: %s", c->relid,
			g->id, vmb_strerror(rc));
		g->state = GG_TEARING;
		g->answered = true;
	}
	gvb_gpadl_events(c);
	return c->gpadls == NULL;
}

void gvb_gpadl_drop_all(struct gvb_chan *c)
{
	for (struct gvb_gpadl *g = c->gpadls; g; g = g->next) {
		if (g->state == GG_CREATING)
			g->status = VMB_STATUS_UNSUCCESSFUL;
		g->answered = true;
	}
	gvb_gpadl_events(c);
}
