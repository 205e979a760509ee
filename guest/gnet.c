/* netvsc: adapters, their buffers and the control path. The NVSP engine
 * (core/net/nvsp_guest) runs the init sequence once both buffers are
 * mapped; the RNDIS engine (core/net/rndis_guest) follows, its requests
 * sent in send sections as control messages, its answers taken from the
 * receive buffer (gnet_io.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gnet_priv.h"
#include "rt_log.h"

struct gnet_cfg gnet_cfg;

/* ---- send sections ---- */

uint32_t gnet_section_get(struct gnet_nic *n)
{
	uint32_t idx;

	pthread_mutex_lock(&n->sb_lock);
	idx = n->sb_map ? nvsp_sendbuf_alloc(&n->sb) : NVSP_SECTION_NONE;
	pthread_mutex_unlock(&n->sb_lock);
	return idx;
}

void gnet_section_put(struct gnet_nic *n, uint32_t idx)
{
	uint64_t one = 1;
	int rc;

	pthread_mutex_lock(&n->sb_lock);
	rc = n->sb_map ? nvsp_sendbuf_free(&n->sb, idx) : VMB_ENOENT;
	pthread_mutex_unlock(&n->sb_lock);
	if (rc)
		rt_ctr_add(&n->bad_comp, 1);
	else if (atomic_exchange(&n->want_room, false) &&
		 write(n->room_efd, &one, sizeof(one)) < 0)
		rt_warn("net", "reader not woken");
}

/* ---- requests (lock held) ---- */

static void give_up(struct gnet_nic *n, const char *what, uint32_t status)
{
	n->failed = true;
	rt_warn("net", "relid %u: %s failed (status %#x); adapter unused",
		n->c->relid, what, status);
}

/* An RNDIS control message in a send section; the section comes back
 * with the host's completion of its xid (index + 1). */
static void ctl_send(struct gnet_nic *n, const uint8_t *msg, uint32_t len)
{
	uint32_t idx = gnet_section_get(n);
	union nvsp_msg m;
	struct vmb_iov iov = {&m, 0};
	int rc = VMB_ENOMEM;

	if (idx != NVSP_SECTION_NONE) {
		memcpy(n->sbuf + (size_t)idx * n->ssize, msg, len);
		iov.len = nvsp_rndis_pkt(&m, NVSP_CHANNEL_CONTROL, idx, len);
		rc = gvb_send(n->c, idx + 1ull, VMB_PKT_FLAG_COMPLETION_REQUESTED,
			      &iov, 1, true);
		if (rc)
			gnet_section_put(n, idx);
	}
	if (rc)
		rt_warn("net", "relid %u: RNDIS request not sent: %s",
			n->c->relid, vmb_strerror(rc));
}

static void rndis_next(struct gnet_nic *n)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t len = rndis_guest_next(&n->rndis, out);

	if (len)
		ctl_send(n, out, len);
}

static void nvsp_next(struct gnet_nic *n)
{
	struct nvsp_guest_out o;
	struct vmb_iov iov = {&o.msg, 0};
	int rc;

	/* NDIS_CONFIG and NDIS_VERSION are not answered: send on. */
	while ((iov.len = nvsp_guest_next(&n->nvsp, &o))) {
		rc = gvb_send(n->c, o.xid, o.flags, &iov, 1, true);
		if (rc) {
			give_up(n, "NVSP request", (uint32_t)rc);
			return;
		}
		if (o.flags)
			return;
	}
}

/* NVSP ready: sections as the host cut them, then RNDIS. */
static void nvsp_ready(struct gnet_nic *n)
{
	struct rndis_guest_cfg rc = {.nvsp_version = n->nvsp.version,
				     .channels = 1};
	uint32_t count = n->nvsp.send_sections;

	n->sb_map = calloc(NVSP_SENDBUF_WORDS(count), sizeof(uint64_t));
	if (!n->sb_map) {
		give_up(n, "send sections", 0);
		return;
	}
	n->ssize = n->nvsp.send_section_size;
	pthread_mutex_lock(&n->sb_lock);
	nvsp_sendbuf_init(&n->sb, n->sb_map, count);
	pthread_mutex_unlock(&n->sb_lock);
	rt_info("net", "relid %u: NVSP %u.%u, %u receive sub-allocations of "
		"%u bytes, %u send sections of %u", n->c->relid,
		n->nvsp.version >> 16, n->nvsp.version & 0xffff,
		n->nvsp.recv.num_sub_allocs, n->nvsp.recv.sub_alloc_size,
		count, n->ssize);
	rndis_guest_init(&n->rndis, &rc);
	rndis_next(n);
}

static void on_nvsp(struct gnet_nic *n, const struct nvsp_guest_ev *ev)
{
	union nvsp_msg m;

	switch (ev->kind) {
	case NVSP_GE_INIT:
		nvsp_next(n);
		break;
	case NVSP_GE_READY:
		nvsp_ready(n);
		break;
	case NVSP_GE_FAILED:
		give_up(n, "NVSP init", ev->status);
		break;
	case NVSP_GE_SEND_DONE:
		if (ev->xid == 0 || ev->xid > UINT32_MAX)
			rt_ctr_add(&n->bad_comp, 1);
		else
			gnet_section_put(n, (uint32_t)(ev->xid - 1));
		break;
	default:
		break;
	}
	/* A notice the host wants completed (nothing more is done with
	 * tables or VFs with one channel and no VF). */
	if (ev->complete && ev->kind != NVSP_GE_NONE)
		gvb_send_comp(n->c, ev->xid, &m,
			      nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS),
			      true);
}

static void rndis_ready(struct gnet_nic *n)
{
	const struct rndis_guest_info *i = &n->rndis.info;

	rt_info("net", "relid %u: RNDIS ready: MAC %02x:%02x:%02x:%02x:%02x:"
		"%02x, MTU %u, link %s", n->c->relid, i->mac[0], i->mac[1],
		i->mac[2], i->mac[3], i->mac[4], i->mac[5], i->mtu,
		i->link_up ? "up" : "down");
	atomic_store(&n->link_up, i->link_up);
	atomic_store(&n->tap_due, true);
}

void gnet_control(struct gnet_nic *n, const uint8_t *msg, uint32_t len)
{
	struct rndis_guest_ev ev;

	rndis_guest_rx(&n->rndis, msg, len, &ev);
	switch (ev.kind) {
	case RNDIS_GE_INIT:
		rndis_next(n);
		break;
	case RNDIS_GE_READY:
		rndis_ready(n);
		break;
	case RNDIS_GE_FAILED:
		give_up(n, "RNDIS init", ev.status);
		break;
	case RNDIS_GE_DONE:
		if (ev.status)
			rt_warn("net", "relid %u: RNDIS OID %#x refused (%#x)",
				n->c->relid, ev.oid, ev.status);
		break;
	case RNDIS_GE_LINK_UP:
	case RNDIS_GE_LINK_DOWN:
		atomic_store(&n->link_up, ev.kind == RNDIS_GE_LINK_UP);
		atomic_store(&n->link_due, true);
		break;
	default:
		break;
	}
}

/* ---- the adapter's life ---- */

static void nic_free(struct gnet_nic *n)
{
	rt_gmem_free(&n->vb->gmem, n->rbuf, GNET_RECV_SIZE >> 12);
	rt_gmem_free(&n->vb->gmem, n->sbuf, GNET_SEND_SIZE >> 12);
	free(n->sb_map);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->sb_lock);
	close(n->stop_efd);
	close(n->room_efd);
	free(n);
}

static void nic_put(struct gnet_nic *n)
{
	if (--n->refs == 0)
		nic_free(n);
}

static int gnet_prepare(struct gvb_chan *c)
{
	struct gnet_nic *n;

	if (c->sub_index)
		return -1; /* never asked for: one channel only */
	n = calloc(1, sizeof(*n));
	if (!n)
		return -1;
	n->stop_efd = eventfd(0, EFD_CLOEXEC);
	n->room_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	n->rbuf = rt_gmem_alloc(&c->vb->gmem, GNET_RECV_SIZE >> 12);
	n->sbuf = rt_gmem_alloc(&c->vb->gmem, GNET_SEND_SIZE >> 12);
	n->vb = c->vb;
	n->c = c;
	n->refs = 1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->sb_lock, NULL);
	if (n->stop_efd < 0 || n->room_efd < 0 || !n->rbuf || !n->sbuf) {
		rt_warn("net", "relid %u: no room for the buffers (--memory)",
			c->relid);
		nic_free(n);
		return -1;
	}
	c->priv = n;
	return 0;
}

static void start_nvsp(struct gnet_nic *n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct nvsp_guest_cfg cfg = {
		.max_version = NVSP_VERSION_61,
		.mtu = NVSP_MTU_DEFAULT - NVSP_ETH_HLEN,
		.subchannels = 0,
		.ncpus = cpus > 0 ? (uint32_t)cpus : 1,
		.recv_gpadl = n->rgpadl, .recv_size = GNET_RECV_SIZE,
		.send_gpadl = n->sgpadl, .send_size = GNET_SEND_SIZE,
	};

	pthread_mutex_lock(&n->lock);
	nvsp_guest_init(&n->nvsp, &cfg);
	nvsp_next(n);
	pthread_mutex_unlock(&n->lock);
}

static void on_gpadl(struct gvb_chan *c, uint32_t id, enum gvb_gpadl_ev ev,
		     uint32_t status, void *arg)
{
	struct gnet_nic *n = arg;

	(void)c;
	if (ev == GVB_GPADL_CREATED) {
		if (++n->created == 2 && n->open)
			start_nvsp(n);
		return;
	}
	if (ev == GVB_GPADL_FAILED)
		rt_warn("net", "GPADL %u refused (%#x); adapter unused", id,
			status);
	nic_put(n);
}

static void gnet_opened(struct gvb_chan *c)
{
	struct gnet_nic *n = c->priv;
	int rc;

	n->open = true;
	rc = gvb_gpadl_create(c, n->rbuf, GNET_RECV_SIZE, on_gpadl, n,
			      &n->rgpadl);
	n->refs += rc == VMB_OK;
	if (rc == VMB_OK) {
		rc = gvb_gpadl_create(c, n->sbuf, GNET_SEND_SIZE, on_gpadl, n,
				      &n->sgpadl);
		n->refs += rc == VMB_OK;
	}
	if (rc)
		rt_warn("net", "relid %u: buffers not shared: %s; adapter "
			"unused", c->relid, vmb_strerror(rc));
}

static void gnet_rx(struct gvb_chan *c, const struct vmb_pkt *pkt)
{
	struct gnet_nic *n = c->priv;
	struct nvsp_guest_ev ev;

	if (pkt->type == VMB_PKT_XFER_PAGES) {
		gnet_io_recv(n, pkt);
		return;
	}
	pthread_mutex_lock(&n->lock);
	nvsp_guest_rx(&n->nvsp, pkt, &ev);
	if (!c->draining)
		on_nvsp(n, &ev);
	pthread_mutex_unlock(&n->lock);
}

static void gnet_batch_end(struct gvb_chan *c)
{
	struct gnet_nic *n = c->priv;

	pthread_mutex_lock(&n->lock);
	gnet_io_flush(n);
	pthread_mutex_unlock(&n->lock);
}

/* The TAP, once RNDIS is ready: its MAC and MTU the host's. */
static void make_tap(struct gnet_nic *n)
{
	uint8_t msg[RNDIS_GUEST_MSG_MAX];
	uint32_t len;

	n->tap_tried = true;
	if (!gnet_cfg.netns) {
		rt_info("net", "relid %u: no --netns: no TAP device made (this "
			"machine's interfaces are left alone)", n->c->relid);
		return;
	}
	if (gnet_io_start(n))
		return;
	atomic_store(&n->link_due, true);
	pthread_mutex_lock(&n->lock);
	len = rndis_guest_set_filter(&n->rndis, RNDIS_GUEST_FILTER_OPEN, msg);
	if (len)
		ctl_send(n, msg, len);
	pthread_mutex_unlock(&n->lock);
}

/* The TAP's carrier as the host's last link indication says (NO-CARRIER
 * in `ip link` while the host's cable is out). */
static void follow_link(struct gnet_nic *n)
{
	bool up;
	int rc;

	if (!atomic_load(&n->have_tap) || !atomic_exchange(&n->link_due, false))
		return;
	up = atomic_load(&n->link_up);
	rc = rt_tap_set_carrier(&n->tap, up);
	if (rc)
		rt_warn("net", "%s: carrier not set: %s", n->tap.name,
			strerror(-rc));
	else
		rt_info("net", "relid %u: %s: link %s", n->c->relid,
			n->tap.name, up ? "up" : "down");
}

static void gnet_tick(struct gvb_chan *c)
{
	struct gnet_nic *n = c->priv;

	if (atomic_load(&n->tap_due) && !n->tap_tried)
		make_tap(n);
	follow_link(n);
	pthread_mutex_lock(&n->lock);
	if (n->ncomp)
		gnet_io_flush(n);
	pthread_mutex_unlock(&n->lock);
}

/* Before the endpoint goes: the reader must not send on it again. */
static void gnet_stopping(struct gvb_chan *c)
{
	struct gnet_nic *n = c->priv;

	n->open = false;
	gnet_io_stop(n);
}

static void log_refusals(const struct gnet_nic *n)
{
	char buf[256];
	size_t k = 0;

	for (unsigned i = 0; i < NVSP_GBAD__COUNT && k < sizeof(buf); i++)
		if (n->nvsp.st.bad[i])
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, " %s %llu",
					      nvsp_guest_bad_name(i),
					      (unsigned long long)n->nvsp.st.bad[i]);
	for (unsigned i = 0; i < RNDIS_GBAD__COUNT && k < sizeof(buf); i++)
		if (n->rndis.st.bad[i])
			k += (size_t)snprintf(buf + k, sizeof(buf) - k,
					      " rndis-%s %llu",
					      rndis_guest_bad_name(i),
					      (unsigned long long)n->rndis.st.bad[i]);
	for (unsigned i = 0; i < RNDIS_PBAD__COUNT && k < sizeof(buf); i++)
		if (n->ppi.bad[i])
			k += (size_t)snprintf(buf + k, sizeof(buf) - k,
					      " packet-%s %llu",
					      rndis_ppi_bad_name(i),
					      (unsigned long long)n->ppi.bad[i]);
	rt_info("net", "relid %u: sent %llu frames (%llu dropped), received "
		"%llu (%llu dropped), bad completions %llu; refused from "
		"host:%s", n->c->relid,
		(unsigned long long)rt_ctr_get(&n->tx_frames),
		(unsigned long long)rt_ctr_get(&n->tx_drops),
		(unsigned long long)rt_ctr_get(&n->rx_frames),
		(unsigned long long)rt_ctr_get(&n->rx_drops),
		(unsigned long long)rt_ctr_get(&n->bad_comp), k ? buf : " none");
}

static void gnet_stopped(struct gvb_chan *c, const char *why)
{
	struct gnet_nic *n = c->priv;

	if (atomic_load(&n->have_tap))
		rt_tap_close(&n->tap);
	atomic_store(&n->have_tap, false);
	log_refusals(n);
	rt_info("net", "relid %u: adapter %s", c->relid, why);
	n->c = NULL;
	c->priv = NULL;
	nic_put(n);
}

const struct gvb_driver gnet_driver = {
	.name = NVSP_CLASS_NAME,
	.class_guid = NVSP_CLASS_GUID,
	.prepare = gnet_prepare,
	.opened = gnet_opened,
	.rx = gnet_rx,
	.batch_end = gnet_batch_end,
	.stopping = gnet_stopping,
	.stopped = gnet_stopped,
	.tick = gnet_tick,
};
