/* The guest's VMBus: transport, negotiation and the life of each channel.
 *
 * The vmb_client callbacks only record what the host said; gvb_process()
 * acts on it once vmb_client_input() has returned, so that no client call
 * is made from inside the client. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "gvb_priv.h"
#include "rt_log.h"

#define GVB_TICK_MS 10
/* How long a shutting-down guest waits for UNLOAD_RESPONSE. */
#define GVB_UNLOAD_MS 250u
#define GVB_MAX_PKT (64u * 1024 + 4096)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct gvb_chan *chan_get(const struct gvb *vb, uint32_t relid)
{
	if (!vb->chans || relid == 0 || relid >= VMB_RELID_MAX)
		return NULL;
	return vb->chans[relid];
}

/* ---- channel teardown ---- */

/* Packets the host wrote before the worker stopped are still in the
 * inbound ring; hand them to the driver so nothing the host sent is lost.
 * Runs after the worker was joined, so this thread is the only reader.
 * At most one ring's worth: a host that keeps writing (it is still alive
 * when the guest shuts down) must not keep this loop going forever. */
static void drain_inbound(struct gvb_chan *c)
{
	uint32_t in_len = (c->ring_pages - c->out_pages) << VMB_PAGE_SHIFT;
	uint64_t taken = 0;
	struct vmb_ring r;
	struct vmb_pkt pkt;
	uint8_t *buf = malloc(GVB_MAX_PKT);
	uint32_t len;
	bool sig;

	if (!buf)
		return;
	if (vmb_ring_attach(&r, c->ring + (c->out_pages << VMB_PAGE_SHIFT),
			    in_len) == VMB_OK) {
		while (taken < in_len &&
		       vmb_ring_read(&r, buf, GVB_MAX_PKT, &len, &sig) ==
			       VMB_OK &&
		       vmb_pkt_parse(buf, len, &pkt) == VMB_OK) {
			taken += len;
			c->drv->rx(c, &pkt);
		}
	}
	free(buf);
}

static void stop_chan(struct gvb_chan *c, const char *why)
{
	if (!c->rt)
		return;
	if (c->drv->stopping)
		c->drv->stopping(c);
	rt_chan_stop(c->rt);
	c->rt = NULL;
	c->draining = true;
	drain_inbound(c);
	c->draining = false;
	c->drv->stopped(c, why);
}

static void close_fds(struct gvb_chan *c)
{
	if (c->efd_g2h >= 0)
		close(c->efd_g2h);
	if (c->efd_h2g >= 0)
		close(c->efd_h2g);
	c->efd_g2h = c->efd_h2g = -1;
}

static void free_ring(struct gvb_chan *c)
{
	if (!c->ring)
		return;
	rt_gmem_free(&c->vb->gmem, c->ring, c->ring_pages);
	c->ring = NULL;
}

static void chan_free(struct gvb_chan *c)
{
	stop_chan(c, "host gone");
	gvb_gpadl_drop_all(c);
	free_ring(c);
	close_fds(c);
	c->vb->chans[c->relid] = NULL;
	free(c);
}

/* ---- opening ---- */

static int start_gpadl(struct gvb_chan *c)
{
	struct gvb *vb = c->vb;
	uint32_t pages = vb->cfg.ring_size >> VMB_PAGE_SHIFT;
	struct vmb_ring r;
	uint64_t *pfn, first;
	int rc;

	c->out_pages = pages;
	c->ring_pages = 2 * pages;
	c->ring = rt_gmem_alloc(&vb->gmem, c->ring_pages);
	if (!c->ring) {
		rt_warn("chan", "relid %u: no %u KiB of guest memory left for "
			"its rings (--memory, --ring-size)", c->relid,
			c->ring_pages * (VMB_PAGE_SIZE / 1024));
		return VMB_ENOMEM;
	}
	/* Both rings are ours to create: zero indices, and ask for the
	 * pending-send-size protocol so blocked writers sleep. */
	vmb_ring_attach(&r, c->ring, (uint64_t)pages << VMB_PAGE_SHIFT);
	vmb_ring_init_shared(&r, true);
	vmb_ring_attach(&r, c->ring + ((size_t)pages << VMB_PAGE_SHIFT),
			(uint64_t)pages << VMB_PAGE_SHIFT);
	vmb_ring_init_shared(&r, true);
	pfn = malloc(sizeof(*pfn) * c->ring_pages);
	if (!pfn)
		return VMB_ENOMEM;
	first = rt_gmem_gpa(&vb->gmem, c->ring) >> VMB_PAGE_SHIFT;
	for (uint32_t i = 0; i < c->ring_pages; i++)
		pfn[i] = first + i;
	rc = vmb_client_gpadl_create(&vb->cl, c->relid, pfn, c->ring_pages,
				     &c->gpadl);
	free(pfn);
	return rc;
}

static int send_open(struct gvb_chan *c)
{
	c->cpu = (int)(c->sub_index % (uint32_t)c->vb->ncpu);
	return vmb_client_open(&c->vb->cl, c->relid, c->gpadl, c->out_pages,
			       (uint32_t)c->cpu, NULL, 0);
}

/* The channel whose rx callback runs on this worker, and its endpoint:
 * rt_chan_start stores c->rt only after the worker started, so a reply
 * sent from rx uses the endpoint the worker was handed instead. */
static _Thread_local struct gvb_chan *rx_chan;
static _Thread_local struct rt_chan *rx_rt;

static void guest_rx(struct rt_chan *ch, const struct vmb_pkt *pkt, void *arg)
{
	struct gvb_chan *c = arg;

	rx_chan = c;
	rx_rt = ch;
	c->drv->rx(c, pkt);
	rx_chan = NULL;
	rx_rt = NULL;
}

static void guest_batch_end(struct rt_chan *ch, void *arg)
{
	struct gvb_chan *c = arg;

	rx_chan = c;
	rx_rt = ch;
	c->drv->batch_end(c);
	rx_chan = NULL;
	rx_rt = NULL;
}

static int start_chan(struct gvb_chan *c)
{
	uint64_t out_len = (uint64_t)c->out_pages << VMB_PAGE_SHIFT;
	uint64_t in_len = (uint64_t)(c->ring_pages - c->out_pages)
			  << VMB_PAGE_SHIFT;
	struct rt_chan_cfg cfg;
	char name[32];

	snprintf(name, sizeof(name), "g-relid%u", c->relid);
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = name;
	cfg.tx_ring = c->ring;
	cfg.tx_len = out_len;
	cfg.rx_ring = c->ring + out_len;
	cfg.rx_len = in_len;
	cfg.sig_out_fd = c->efd_g2h;
	cfg.sig_in_fd = c->efd_h2g;
	cfg.mode = c->vb->cfg.poll ? RT_CHAN_POLL : RT_CHAN_INTERRUPT;
	cfg.cpu = c->cpu;
	cfg.max_pkt = GVB_MAX_PKT;
	cfg.rx = guest_rx;
	cfg.batch_end = c->drv->batch_end ? guest_batch_end : NULL;
	cfg.arg = c;
	return rt_chan_start(&c->rt, &cfg);
}

static void chan_failed(struct gvb_chan *c, const char *what, long code)
{
	rt_warn("chan", "relid %u: %s (%#lx); channel left unused", c->relid,
		what, code);
	c->state = GVB_FAILED;
	/* Give the ring back if the host has no mapping of it. */
	if (!c->gpadl_live)
		free_ring(c);
}

static void deafen(struct gvb *vb, uint64_t until_ms);
static void hear_again(struct gvb *vb);

static void step_gpadl(struct gvb_chan *c)
{
	struct gvb *vb = c->vb;

	if (!c->gpadl_done)
		return;
	if (c->gpadl_status) {
		chan_failed(c, "GPADL refused by host", c->gpadl_status);
		return;
	}
	if (vb->cfg.open_delay_ms && !c->open_at_ms) {
		c->open_at_ms = now_ms() + vb->cfg.open_delay_ms;
		rt_info("chan", "relid %u: holding OPENCHANNEL for %u ms, "
			"reading nothing from the host", c->relid,
			vb->cfg.open_delay_ms);
		deafen(vb, c->open_at_ms);
	}
	if (c->open_at_ms && now_ms() < c->open_at_ms)
		return;
	int rc = send_open(c);

	/* The last hold is over and its OPEN is on the bus: whatever the
	 * host sent meanwhile now crosses it. */
	if (vb->deaf_until && c->open_at_ms >= vb->deaf_until)
		hear_again(vb);
	if (rc) {
		chan_failed(c, "OPENCHANNEL not sent", rc);
		return;
	}
	c->state = GVB_OPEN_WAIT;
}

static void step_open(struct gvb_chan *c)
{
	int rc;

	if (!c->open_done)
		return;
	if (c->open_status) {
		chan_failed(c, "open refused by host", c->open_status);
		return;
	}
	/* From here the host has the channel open: a failure must close it
	 * there too, or the host keeps its end (worker, device) running for
	 * a guest that will never use it. */
	if (c->drv->prepare && c->drv->prepare(c)) {
		vmb_client_close(&c->vb->cl, c->relid);
		chan_failed(c, "driver set-up failed", 0);
		return;
	}
	rc = start_chan(c);
	if (rc) {
		if (c->drv->prepare)
			c->drv->stopped(c, "start failed");
		vmb_client_close(&c->vb->cl, c->relid);
		chan_failed(c, "channel start failed", rc);
		return;
	}
	c->state = GVB_OPEN;
	rt_info("chan", "relid %u open: %s sub-channel %u, target VP %d, "
		"rings %u/%u KiB", c->relid, c->drv->name, c->sub_index,
		c->cpu, c->out_pages * 4, (c->ring_pages - c->out_pages) * 4);
	c->drv->opened(c);
}

/* ---- MODIFYCHANNEL ---- */

/* The host now signals on vp: run the worker where the interrupt lands. */
static void move_worker(struct gvb_chan *c, uint32_t vp)
{
	int cpu = (int)(vp % (uint32_t)c->vb->ncpu);
	int rc = c->rt ? rt_chan_set_cpu(c->rt, cpu) : -ESHUTDOWN;

	if (rc) {
		rt_warn("chan", "relid %u: worker not moved to CPU %d: %s",
			c->relid, cpu, strerror(-rc));
		return;
	}
	c->cpu = cpu;
	rt_info("chan", "relid %u: worker moved to CPU %d", c->relid, cpu);
}

static void step_modify(struct gvb_chan *c)
{
	if (!c->modify_done)
		return;
	c->modify_done = false;
	if (c->modify_status) {
		rt_warn("chan", "relid %u: host refused MODIFYCHANNEL to VP %u "
			"(%#x); channel stays on VP %d", c->relid,
			c->modify_vp, c->modify_status, c->cpu);
		return;
	}
	rt_info("chan", "relid %u: host accepted MODIFYCHANNEL to VP %u",
		c->relid, c->modify_vp);
	move_worker(c, c->modify_vp);
}

int gvb_modify(struct gvb_chan *c, uint32_t target_vp)
{
	struct gvb *vb = c->vb;
	int rc;

	if (c->state != GVB_OPEN || !c->rt || c->modify_pending)
		return VMB_EBUSY;
	rc = vmb_client_modify(&vb->cl, c->relid, target_vp);
	if (rc == VMB_ENOTSUP) {
		rt_info("chan", "relid %u: MODIFYCHANNEL not sent: VMBus %s "
			"lacks it (4.1+); channel stays on VP %d", c->relid,
			vmb_version_name(vb->cl.version), c->cpu);
		return rc;
	}
	if (rc != VMB_OK) {
		rt_warn("chan", "relid %u: MODIFYCHANNEL not sent: %s",
			c->relid, vmb_strerror(rc));
		return rc;
	}
	if (vb->cl.version < VMB_VERSION_WIN10_V5_3) {
		rt_info("chan", "relid %u: MODIFYCHANNEL to VP %u sent (no "
			"response below 5.3)", c->relid, target_vp);
		move_worker(c, target_vp);
		return VMB_OK;
	}
	c->modify_pending = true;
	c->modify_vp = target_vp;
	rt_info("chan", "relid %u: MODIFYCHANNEL to VP %u sent", c->relid,
		target_vp);
	return VMB_OK;
}

/* The --retarget-after test hook: every open channel to the next VP. */
static void retarget_all(struct gvb *vb)
{
	vb->retarget_at = 0;
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++) {
		struct gvb_chan *c = vb->chans[r];

		if (c && c->state == GVB_OPEN && !c->rescinded)
			gvb_modify(c, (uint32_t)(c->cpu + 1) %
					      (uint32_t)vb->ncpu);
	}
}

/* Rescinded: stop, close, tear the GPADL down, then give the relid back.
 * Each step waits for the host where the protocol has an answer. */
static void step_rescinded(struct gvb_chan *c)
{
	struct gvb *vb = c->vb;
	bool drv_done;
	int rc;

	stop_chan(c, "rescinded");
	if (c->state == GVB_OPEN)
		vmb_client_close(&vb->cl, c->relid);
	/* The driver's GPADLs go down beside the ring; the relid is given
	 * back only once the host answered for every one. */
	drv_done = gvb_gpadl_teardown_all(c);
	if (c->state == GVB_TEARDOWN && c->gpadl_live)
		return; /* waiting for GPADL_TORNDOWN */
	if (c->gpadl_live) {
		rc = vmb_client_gpadl_teardown(&vb->cl, c->relid, c->gpadl);
		if (rc == VMB_OK) {
			c->state = GVB_TEARDOWN;
			return;
		}
		rt_warn("chan", "relid %u: GPADL %u teardown: %s", c->relid,
			c->gpadl, vmb_strerror(rc));
		c->gpadl_live = false;
	}
	if (c->state == GVB_GPADL_WAIT && !c->gpadl_done)
		return; /* the client fails it before we get here */
	if (!drv_done)
		return; /* waiting for the driver's GPADL_TORNDOWNs */
	rc = vmb_client_release(&vb->cl, c->relid);
	if (rc != VMB_OK)
		rt_warn("chan", "relid %u: release: %s", c->relid,
			vmb_strerror(rc));
	else
		rt_info("chan", "relid %u released", c->relid);
	chan_free(c);
}

static void step(struct gvb_chan *c)
{
	gvb_gpadl_events(c);
	if (c->rescinded) {
		step_rescinded(c);
		return;
	}
	switch (c->state) {
	case GVB_OFFERED:
		if (!c->drv || c->efd_g2h < 0)
			return;
		if (start_gpadl(c) != VMB_OK) {
			chan_failed(c, "GPADL not created", 0);
			return;
		}
		c->state = GVB_GPADL_WAIT;
		break;
	case GVB_GPADL_WAIT:
		step_gpadl(c);
		break;
	case GVB_OPEN_WAIT:
		step_open(c);
		break;
	case GVB_OPEN:
		step_modify(c);
		break;
	default:
		break;
	}
}

static void gvb_process(struct gvb *vb)
{
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++)
		if (vb->chans[r])
			step(vb->chans[r]);
}

/* ---- vmb_client callbacks: record only ---- */

static int cl_post(void *ctx, uint32_t conn_id, const void *msg, uint32_t len)
{
	struct gvb *vb = ctx;
	int rc;

	if (!vb->xc)
		return VMB_ESHUTDOWN;
	/* Never blocks: a host that stops reading ends the connection. */
	rc = rt_xport_post(vb->xc, RT_FRAME_MSG, conn_id, msg, len, NULL, 0);
	return rc ? VMB_ESHUTDOWN : VMB_OK;
}

static void cl_connected(void *ctx, uint32_t version, int status)
{
	struct gvb *vb = ctx;

	if (status < 0) {
		rt_err("vmbus", "host accepted no VMBus version");
		return;
	}
	vb->connected = true;
	rt_info("vmbus", "connected: VMBus version %s",
		vmb_version_name(version));
}

static const struct gvb_driver *find_driver(const struct gvb *vb,
					    const struct vmb_guid *type)
{
	struct vmb_guid g;

	for (unsigned i = 0; i < vb->ndrivers; i++)
		if (vmb_guid_parse(&g, vb->drivers[i]->class_guid) &&
		    vmb_guid_eq(&g, type))
			return vb->drivers[i];
	return NULL;
}

/* A channel signal must be an eventfd the host opened non-blocking: the
 * worker writes to signal and sleeps in poll() for POLLIN, and from a
 * pipe or socket (a write that blocks on a full buffer, or a hang-up that
 * poll() reports forever) either would hang or spin. */
static bool is_signal_fd(int fd)
{
	char path[64], what[32];
	int fl = fcntl(fd, F_GETFL);
	ssize_t n;

	if (fl < 0 || !(fl & O_NONBLOCK))
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, what, sizeof(what));
	return n == (ssize_t)strlen("anon_inode:[eventfd]") &&
	       memcmp(what, "anon_inode:[eventfd]", (size_t)n) == 0;
}

/* The channel's two eventfds, attached by the host to its offer. */
static void take_signal_fds(struct gvb *vb, struct gvb_chan *c)
{
	if (vb->rx_nfds != 2)
		return;
	if (!is_signal_fd(vb->rx_fds[0]) || !is_signal_fd(vb->rx_fds[1])) {
		vb->xport_bad++;
		rt_warn("vmbus", "offer relid %u: its descriptors are not "
			"non-blocking eventfds", c->relid);
		return; /* handle_frame closes them */
	}
	c->efd_g2h = vb->rx_fds[0];
	c->efd_h2g = vb->rx_fds[1];
	vb->rx_nfds = 0;
}

static void cl_offer(void *ctx, const struct vmb_msg_offer *o)
{
	struct gvb *vb = ctx;
	uint32_t relid = vmb_le32(o->child_relid);
	char type[VMB_GUID_STRLEN];
	struct gvb_chan *c;

	if (chan_get(vb, relid) || !vb->chans || relid >= VMB_RELID_MAX)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->vb = vb;
	c->relid = relid;
	c->offer = *o;
	c->sub_index = vmb_le16(o->offer.sub_channel_index);
	c->efd_g2h = c->efd_h2g = -1;
	c->cpu = -1;
	c->drv = find_driver(vb, &o->offer.if_type);
	take_signal_fds(vb, c);
	vb->chans[relid] = c;
	vmb_guid_format(&o->offer.if_type, type);
	if (!c->drv)
		rt_info("vmbus", "offer relid %u: class %s: no driver", relid,
			type);
	else if (c->efd_g2h < 0)
		rt_warn("vmbus", "offer relid %u came without its eventfds",
			relid);
	else
		rt_info("vmbus", "offer relid %u: %s sub-channel %u", relid,
			c->drv->name, c->sub_index);
}

static void cl_all_offers(void *ctx)
{
	(void)ctx;
	rt_info("vmbus", "all offers delivered");
}

static void cl_rescind(void *ctx, uint32_t relid)
{
	struct gvb_chan *c = chan_get(ctx, relid);

	rt_info("vmbus", "relid %u rescinded by host", relid);
	if (c)
		c->rescinded = true;
}

static void cl_gpadl_created(void *ctx, uint32_t relid, uint32_t gpadl,
			     uint32_t status)
{
	struct gvb_chan *c = chan_get(ctx, relid);

	if (c && gvb_gpadl_answered(c, gpadl, status))
		return;
	if (!c || c->gpadl != gpadl || c->state != GVB_GPADL_WAIT)
		return;
	c->gpadl_done = true;
	c->gpadl_status = status;
	c->gpadl_live = status == 0;
}

static void cl_gpadl_torndown(void *ctx, uint32_t gpadl)
{
	struct gvb *vb = ctx;

	for (uint32_t r = 1; r < VMB_RELID_MAX; r++) {
		struct gvb_chan *c = vb->chans[r];

		if (c && c->gpadl_live && c->gpadl == gpadl) {
			c->gpadl_live = false;
			return;
		}
	}
	gvb_gpadl_torn(vb, gpadl);
}

static void cl_open_result(void *ctx, uint32_t relid, uint32_t status)
{
	struct gvb_chan *c = chan_get(ctx, relid);

	if (!c || c->state != GVB_OPEN_WAIT)
		return;
	c->open_done = true;
	c->open_status = status;
}

static void cl_modify_result(void *ctx, uint32_t relid, uint32_t status)
{
	struct gvb_chan *c = chan_get(ctx, relid);

	if (!c || !c->modify_pending)
		return;
	c->modify_pending = false;
	c->modify_done = true;
	c->modify_status = status;
}

static void cl_unloaded(void *ctx)
{
	struct gvb *vb = ctx;

	vb->unloaded = true;
	rt_info("vmbus", "unloaded");
}

static const struct vmb_client_ops cl_ops = {
	.post = cl_post,
	.connected = cl_connected,
	.offer = cl_offer,
	.all_offers = cl_all_offers,
	.rescind = cl_rescind,
	.gpadl_created = cl_gpadl_created,
	.gpadl_torndown = cl_gpadl_torndown,
	.open_result = cl_open_result,
	.modify_result = cl_modify_result,
	.unloaded = cl_unloaded,
};

/* ---- transport ---- */

static void host_gone(struct gvb *vb, const char *why)
{
	void (*down)(struct gvb *, const char *, void *) = vb->cfg.down;
	void *arg = vb->cfg.arg;

	rt_err("vmbus", "host connection lost: %s", why);
	gvb_stop(vb, "host gone");
	if (down)
		down(vb, why, arg);
}

/* The host turned this guest away, and said why (its words, which the
 * log escapes). */
static void refusal_text(const struct rt_frame *f, char *why, size_t cap)
{
	uint32_t n = vmb_le32(f->hdr.len);

	snprintf(why, cap, "host refused us: %.*s", (int)(n < cap ? n : cap),
		 (const char *)f->payload);
}

static void refused(struct gvb *vb, const struct rt_frame *f)
{
	char why[200];

	refusal_text(f, why, sizeof(why));
	host_gone(vb, why);
}

static void handle_frame(struct gvb *vb, struct rt_frame *f)
{
	if (vmb_le16(f->hdr.type) == RT_FRAME_REFUSED && !vb->connected) {
		refused(vb, f);
		return;
	}
	if (vmb_le16(f->hdr.type) != RT_FRAME_MSG ||
	    vmb_le32(f->hdr.conn_id) != VMB_MSG_SINT) {
		vb->xport_bad++;
		rt_warn("xport", "dropped frame type %u for SINT %u",
			vmb_le16(f->hdr.type), vmb_le32(f->hdr.conn_id));
		return;
	}
	if (vb->unloading) { /* only the client reads while unloading */
		vmb_client_input(&vb->cl, f->payload, vmb_le32(f->hdr.len));
		return;
	}
	memcpy(vb->rx_fds, f->fds, sizeof(int) * f->nfds);
	vb->rx_nfds = f->nfds;
	f->nfds = 0;
	vmb_client_input(&vb->cl, f->payload, vmb_le32(f->hdr.len));
	/* Descriptors no offer took (rejected or unexpected) are closed. */
	for (unsigned i = 0; i < vb->rx_nfds; i++)
		close(vb->rx_fds[i]);
	vb->rx_nfds = 0;
	if (vb->cl.state == VMB_CLIENT_FAILED)
		host_gone(vb, "VMBus negotiation failed");
	else
		gvb_process(vb);
}

static void on_frame(void *arg, struct rt_frame *f)
{
	handle_frame(arg, f);
}

/* A host that refuses us writes why, then closes; closing with our
 * first frame unread in its socket resets ours, and the reset is
 * reported before the frame, which a second read still finds. */
static bool pending_refusal(struct gvb *vb, char *why, size_t cap)
{
	struct rt_frame f;
	bool is;

	if (rt_xport_recv(rt_xport_fd(vb->xc), &f) != 0)
		return false;
	for (unsigned i = 0; i < f.nfds; i++)
		close(f.fds[i]);
	is = vmb_le16(f.hdr.type) == RT_FRAME_REFUSED;
	if (is)
		refusal_text(&f, why, cap);
	return is;
}

static void on_gone(void *arg, const char *why)
{
	struct gvb *vb = arg;
	char refusal[200];

	if (!vb->connected && pending_refusal(vb, refusal, sizeof(refusal)))
		why = refusal;
	if (!vb->unloading) {
		host_gone(vb, why);
		return;
	}
	rt_warn("vmbus", "host gone while unloading: %s", why);
	vb->unloaded = true;
}

/* The open-delay test hook: the host's messages stay unread until every
 * held OPENCHANNEL went out, so that a RESCIND sent meanwhile crosses
 * it on the bus as on a busy real machine. */
static void deafen(struct gvb *vb, uint64_t until_ms)
{
	rt_xport_pause(vb->xc, true);
	if (until_ms > vb->deaf_until)
		vb->deaf_until = until_ms;
}

static void hear_again(struct gvb *vb)
{
	vb->deaf_until = 0;
	rt_xport_pause(vb->xc, false);
}

static void tick_event(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct gvb *vb = arg;

	(void)l;
	(void)fd;
	(void)events;
	gvb_process(vb);
	if (vb->retarget_at && now_ms() >= vb->retarget_at)
		retarget_all(vb);
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++) {
		struct gvb_chan *c = vb->chans[r];

		if (c && c->state == GVB_OPEN && c->rt && c->drv->tick)
			c->drv->tick(c);
	}
}

/* ---- life cycle ---- */

/* The host turned us away at once: if it said why first, say it too. */
static int why_refused(struct gvb *vb, int rc)
{
	char why[200];

	if (!pending_refusal(vb, why, sizeof(why)))
		return rc;
	rt_err("vmbus", "%s", why);
	return -ECONNREFUSED;
}

static int send_memory(struct gvb *vb)
{
	struct rt_frame_memory m = {
		.version = vmb_le32(RT_XPORT_VERSION),
		.size = vmb_le64(vb->gmem.size),
	};

	return rt_xport_post(vb->xc, RT_FRAME_MEMORY, 0, &m, sizeof(m),
			     &vb->gmem.fd, 1);
}

static int start_client(struct gvb *vb)
{
	struct vmb_client_cfg cc = { .max_version = vb->cfg.max_version };
	uint8_t *pages = rt_gmem_alloc(&vb->gmem, 3);
	int rc;

	/* Before 5.0 the guest names an interrupt page and two monitor
	 * pages by GPA; hvis signals through eventfds but keeps the pages
	 * real. */
	if (!pages)
		return -ENOMEM;
	cc.interrupt_page = rt_gmem_gpa(&vb->gmem, pages);
	cc.monitor_page1 = cc.interrupt_page + VMB_PAGE_SIZE;
	cc.monitor_page2 = cc.interrupt_page + 2 * VMB_PAGE_SIZE;
	if (vmb_client_init(&vb->cl, &cl_ops, vb, &cc) != VMB_OK)
		return -ENOMEM;
	vb->cl_live = true;
	rc = vmb_client_connect(&vb->cl);
	return rc == VMB_OK ? 0 : -EIO;
}

/* Connect; the host must run as the user we trust before it sees guest
 * memory. */
static int connect_host(struct gvb *vb)
{
	const struct rt_xport_peer host = {
		.name = "host", .bad = &vb->xport_bad, .frame = on_frame,
		.gone = on_gone, .arg = vb,
	};
	int sock = rt_xport_connect(vb->cfg.vmbus_path);
	uid_t uid = (uid_t)-1;

	if (sock < 0)
		return sock;
	if (rt_unix_peer(sock, &uid, NULL) || uid != vb->cfg.host_uid) {
		rt_err("vmbus", "the host at %s runs as uid %u, not uid %u: "
		       "refusing to attach", vb->cfg.vmbus_path,
		       (unsigned)uid, (unsigned)vb->cfg.host_uid);
		close(sock);
		return -EPERM;
	}
	vb->xc = rt_xport_open(sock, vb->loop, &host);
	if (!vb->xc) {
		close(sock);
		return -ENOMEM;
	}
	return 0;
}

int gvb_start(struct gvb *vb, const struct gvb_cfg *cfg, struct rt_loop *l,
	      const struct gvb_driver *const *drivers, unsigned ndrivers)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	memset(vb, 0, sizeof(*vb));
	vb->cfg = *cfg;
	vb->loop = l;
	vb->tick_fd = -1;
	vb->gmem.fd = -1;
	vb->ncpu = n > 0 ? (int)n : 1;
	vb->drivers = drivers;
	vb->ndrivers = ndrivers;
	if ((cfg->ring_size & (VMB_PAGE_SIZE - 1)) ||
	    cfg->ring_size < 2 * VMB_PAGE_SIZE)
		return -EINVAL;
	vb->chans = calloc(VMB_RELID_MAX, sizeof(*vb->chans));
	if (!vb->chans)
		return -ENOMEM;
	rc = connect_host(vb);
	if (rc)
		return rc;
	rc = rt_gmem_create(&vb->gmem, cfg->mem_size);
	if (rc)
		return rc;
	rc = send_memory(vb);
	if (rc)
		return why_refused(vb, rc);
	vb->tick_fd = rt_loop_timer(l, GVB_TICK_MS, tick_event, vb);
	if (vb->tick_fd < 0) {
		rc = vb->tick_fd;
		vb->tick_fd = -1;
		return rc;
	}
	if (cfg->retarget_ms)
		vb->retarget_at = now_ms() + cfg->retarget_ms;
	rt_info("vmbus", "attached to %s with %llu MiB of guest memory",
		cfg->vmbus_path, (unsigned long long)(cfg->mem_size >> 20));
	/* A host that refuses us may have closed before INITIATE_CONTACT
	 * went out: its reason is still waiting to be read. */
	rc = start_client(vb);
	return rc ? why_refused(vb, rc) : 0;
}

/* ---- unload ---- */

/* UNLOAD, as a guest does on its way down: the host drops every channel
 * and GPADL at once and answers. Waits GVB_UNLOAD_MS at most, sending
 * what is queued meanwhile (the UNLOAD itself may wait in the queue).
 * Only the client reads frames now: channel state no longer moves, and
 * a vanished host just ends the wait. */
static void unload(struct gvb *vb)
{
	uint64_t end = now_ms() + GVB_UNLOAD_MS;

	vb->unloading = true;
	if (vmb_client_unload(&vb->cl) != VMB_OK)
		return;
	while (!vb->unloaded) {
		uint64_t now = now_ms();
		int n = now < end ? rt_xport_wait(vb->xc, (int)(end - now)) : 0;

		if (n == -EINTR)
			continue; /* another SIGTERM: the wait is short anyway */
		if (n < 0)
			return; /* the connection failed */
		if (n == 0) {
			rt_warn("vmbus", "no UNLOAD_RESPONSE within %u ms",
				GVB_UNLOAD_MS);
			return;
		}
	}
}

/* Every worker told to stop before any is waited for. */
static void stop_begin_all(struct gvb *vb)
{
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++)
		if (vb->chans[r] && vb->chans[r]->rt)
			rt_chan_stop_begin(vb->chans[r]->rt);
}

/* Every driver's own senders done, while the channels take sends. */
static void quiesce_all(struct gvb *vb)
{
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++) {
		struct gvb_chan *c = vb->chans[r];

		if (c && c->rt && c->drv->quiesce)
			c->drv->quiesce(c);
	}
}

void gvb_shutdown(struct gvb *vb)
{
	quiesce_all(vb);
	/* Channels first: no worker may touch a ring the host drops. */
	stop_begin_all(vb);
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++)
		if (vb->chans[r])
			stop_chan(vb->chans[r], "shutdown");
	if (vb->cl_live && vb->xc)
		unload(vb);
	gvb_stop(vb, "shutdown");
}

void gvb_stop(struct gvb *vb, const char *why)
{
	stop_begin_all(vb);
	for (uint32_t r = 1; vb->chans && r < VMB_RELID_MAX; r++) {
		if (vb->chans[r]) {
			stop_chan(vb->chans[r], why);
			chan_free(vb->chans[r]);
		}
	}
	free(vb->chans);
	vb->chans = NULL;
	if (vb->cl_live) {
		if (vb->cl.late)
			rt_info("vmbus", "%llu answers arrived after the "
				"rescind that failed their request",
				(unsigned long long)vb->cl.late);
		for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
			if (vb->cl.bad.n[i])
				rt_warn("vmbus", "rejected from host: %llu %s",
					(unsigned long long)vb->cl.bad.n[i],
					vmb_bad_name((enum vmb_bad)i));
		vmb_client_fini(&vb->cl);
		vb->cl_live = false;
	}
	if (vb->tick_fd >= 0) {
		rt_loop_del(vb->loop, vb->tick_fd);
		close(vb->tick_fd);
		vb->tick_fd = -1;
	}
	rt_xport_close(vb->xc);
	vb->xc = NULL;
	rt_gmem_destroy(&vb->gmem);
}

/* In the driver's rx, the channel's endpoint may not be stored in c->rt
 * yet (see rx_rt). */
static struct rt_chan *tx_rt(struct gvb_chan *c)
{
	return rx_chan == c ? rx_rt : c->rt;
}

int gvb_send(struct gvb_chan *c, uint64_t xid, uint16_t flags,
	     const struct vmb_iov *iov, unsigned iovcnt, bool nowait)
{
	struct rt_chan *rt = tx_rt(c);

	if (!rt)
		return VMB_ESHUTDOWN;
	return rt_chan_send_inband(rt, xid, flags, iov, iovcnt, nowait);
}

int gvb_send_gpa(struct gvb_chan *c, uint64_t xid, uint16_t flags,
		 const struct vmb_gpa_range *rg, unsigned nrg,
		 const void *data, uint32_t len, bool nowait)
{
	struct rt_chan *rt = tx_rt(c);

	if (!rt)
		return VMB_ESHUTDOWN;
	return rt_chan_send_gpa(rt, xid, flags, rg, nrg, data, len, nowait);
}

int gvb_send_comp(struct gvb_chan *c, uint64_t xid, const void *data,
		  uint32_t len, bool nowait)
{
	struct rt_chan *rt = tx_rt(c);

	if (!rt)
		return VMB_ESHUTDOWN;
	return rt_chan_send_comp(rt, xid, data, len, nowait);
}

int gvb_put_comp(struct gvb_chan *c, uint64_t xid, const void *data,
		 uint32_t len, bool nowait)
{
	return rt_chan_put_comp(tx_rt(c), xid, data, len, nowait);
}

bool gvb_tx_begin(struct gvb_chan *c)
{
	struct rt_chan *rt = tx_rt(c);

	if (rt)
		rt_chan_tx_begin(rt);
	return rt != NULL;
}

int gvb_put(struct gvb_chan *c, uint64_t xid, uint16_t flags,
	    const struct vmb_iov *iov, unsigned iovcnt, bool nowait)
{
	return rt_chan_put_inband(tx_rt(c), xid, flags, iov, iovcnt, nowait);
}

int gvb_put_gpa(struct gvb_chan *c, uint64_t xid, uint16_t flags,
		const struct vmb_gpa_range *rg, unsigned nrg,
		const void *data, uint32_t len, bool nowait)
{
	return rt_chan_put_gpa(tx_rt(c), xid, flags, rg, nrg, data, len,
			       nowait);
}

void gvb_tx_end(struct gvb_chan *c)
{
	rt_chan_tx_end(tx_rt(c));
}

uint32_t gvb_tx_room(struct gvb_chan *c)
{
	return rt_chan_tx_room(tx_rt(c));
}
