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

/* A plain load first: most puts find no reader waiting, and pay no
 * read-modify-write for it. */
void gnet_room_wake(struct gnet_chan *ch)
{
	uint64_t one = 1;

	if (atomic_load(&ch->want_room) &&
	    atomic_exchange(&ch->want_room, false) &&
	    write(ch->room_efd, &one, sizeof(one)) < 0)
		rt_warn("net", "reader not woken");
}

void gnet_section_put(struct gnet_nic *n, uint32_t idx)
{
	int rc;

	pthread_mutex_lock(&n->sb_lock);
	rc = n->sb_map ? nvsp_sendbuf_free(&n->sb, idx) : VMB_ENOENT;
	pthread_mutex_unlock(&n->sb_lock);
	if (rc) {
		atomic_fetch_add(&n->bad_comp, 1);
		return;
	}
	/* any reader may be the one waiting: sections are shared */
	for (uint32_t q = 0; q < atomic_load(&n->nchan); q++)
		gnet_room_wake(&n->ch[q]);
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
void gnet_ctl_send(struct gnet_nic *n, const uint8_t *msg, uint32_t len)
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

void gnet_rndis_next(struct gnet_nic *n)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t len = rndis_guest_next(&n->rndis, out);

	if (len)
		gnet_ctl_send(n, out, len);
}

static void nvsp_next(struct gnet_nic *n)
{
	struct nvsp_guest_out o;
	struct vmb_iov iov = {&o.msg, 0};
	int rc;

	/* NDIS_CONFIG and NDIS_VERSION are not answered: send on. */
	while ((iov.len = nvsp_guest_next(&n->ch[0].nvsp, &o))) {
		rc = gvb_send(n->c, o.xid, o.flags, &iov, 1, true);
		if (rc) {
			give_up(n, "NVSP request", (uint32_t)rc);
			return;
		}
		if (o.flags)
			return;
	}
}

/* Channels wanted: --net-queues, else one per CPU; never more than an
 * adapter here takes. */
static uint32_t channels_wanted(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t n = gnet_cfg.queues ? gnet_cfg.queues
				     : cpus > 0 ? (uint32_t)cpus : 1;

	return n < GNET_CHANS ? n : GNET_CHANS;
}

/* NVSP ready: sections as the host cut them, then RNDIS. */
static void nvsp_ready(struct gnet_nic *n)
{
	const struct nvsp_guest *g = &n->ch[0].nvsp;
	struct rndis_guest_cfg rc = {.nvsp_version = g->version,
				     .channels = channels_wanted(),
				     .want_rsc = g->cfg.rsc};
	uint32_t count = g->send_sections;

	n->sb_map = calloc(NVSP_SENDBUF_WORDS(count), sizeof(uint64_t));
	if (!n->sb_map) {
		give_up(n, "send sections", 0);
		return;
	}
	n->ssize = g->send_section_size;
	pthread_mutex_lock(&n->sb_lock);
	nvsp_sendbuf_init(&n->sb, n->sb_map, count);
	pthread_mutex_unlock(&n->sb_lock);
	rt_info("net", "relid %u: NVSP %u.%u, %u receive sub-allocations of "
		"%u bytes, %u send sections of %u", n->c->relid,
		g->version >> 16, g->version & 0xffff,
		g->recv.num_sub_allocs, g->recv.sub_alloc_size, count,
		n->ssize);
	rndis_guest_init(&n->rndis, &rc);
	gnet_rndis_next(n);
}

static void send_done(struct gnet_chan *ch, const struct nvsp_guest_ev *ev)
{
	bool ok;

	if (ev->xid >= GNET_BIG_XID)
		ok = gnet_big_put(ch, ev->xid);
	else if ((ok = ev->xid != 0))
		gnet_section_put(ch->nic, (uint32_t)(ev->xid - 1));
	if (!ok)
		atomic_fetch_add(&ch->nic->bad_comp, 1);
}

/* The primary's events (its lock held: the engines' too). */
static void primary_ev(struct gnet_chan *ch, const struct nvsp_guest_ev *ev)
{
	struct gnet_nic *n = ch->nic;

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
		send_done(ch, ev);
		break;
	case NVSP_GE_SUBCH:
		gnet_chan_granted(n, ev->count);
		break;
	case NVSP_GE_TX_TABLE:
		rt_info("net", "relid %u: the host's send indirection table "
			"taken (%u channels)", n->c->relid, ch->nvsp.channels);
		break;
	default:
		break;
	}
}

/* An NVSP event of channel ch (its lock held). A sub-channel's engine
 * is a copy for the data path: only its sends' completions count. */
static void on_nvsp(struct gnet_chan *ch, const struct nvsp_guest_ev *ev)
{
	union nvsp_msg m;

	if (!ch->q)
		primary_ev(ch, ev);
	else if (ev->kind == NVSP_GE_SEND_DONE)
		send_done(ch, ev);
	/* A notice the host wants completed (the send table is kept by
	 * the engine: each reader sends on its own channel; no VF). */
	if (ev->complete && ev->kind != NVSP_GE_NONE)
		gvb_send_comp(ch->c, ev->xid, &m,
			      nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS),
			      true);
}

static void rndis_ready(struct gnet_nic *n)
{
	const struct rndis_guest_info *i = &n->rndis.info;

	rt_info("net", "relid %u: RNDIS ready: MAC %02x:%02x:%02x:%02x:%02x:"
		"%02x, MTU %u, link %s, %u channel%s%s", n->c->relid, i->mac[0],
		i->mac[1], i->mac[2], i->mac[3], i->mac[4], i->mac[5], i->mtu,
		i->link_up ? "up" : "down", atomic_load(&n->nchan),
		atomic_load(&n->nchan) > 1 ? "s" : "",
		i->rss_queues > 1 ? " (RSS)" : "");
	atomic_store(&n->link_up, i->link_up);
	atomic_store(&n->tap_due, true);
}

void gnet_control(struct gnet_nic *n, const uint8_t *msg, uint32_t len)
{
	struct rndis_guest_ev ev;

	rndis_guest_rx(&n->rndis, msg, len, &ev);
	switch (ev.kind) {
	case RNDIS_GE_INIT:
		/* the sub-channels open before RSS is set over them */
		if (n->rndis.state == RNDIS_GS_RSS)
			gnet_chan_ask(n);
		else
			gnet_rndis_next(n);
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
		else if (ev.oid == RNDIS_OID_RSS_PARAMS)
			rt_info("net", "relid %u: RSS indirection table set",
				n->c->relid);
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
	gnet_offload_free(n);
	free(n->sb_map);
	for (unsigned q = 0; q < GNET_CHANS; q++) {
		struct gnet_chan *ch = &n->ch[q];

		pthread_mutex_destroy(&ch->lock);
		pthread_mutex_destroy(&ch->send_lock);
		if (ch->stop_efd >= 0)
			close(ch->stop_efd);
		if (ch->room_efd >= 0)
			close(ch->room_efd);
	}
	pthread_mutex_destroy(&n->sb_lock);
	free(n);
}

void gnet_nic_put(struct gnet_nic *n)
{
	if (--n->refs == 0)
		nic_free(n);
}

int gnet_chan_init(struct gnet_nic *n, struct gvb_chan *c)
{
	struct gnet_chan *ch = &n->ch[c->sub_index];

	if (ch->stop_efd < 0)
		ch->stop_efd = eventfd(0, EFD_CLOEXEC);
	if (ch->room_efd < 0)
		ch->room_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->stop_efd < 0 || ch->room_efd < 0)
		return -1;
	ch->c = c;
	ch->ncomp = 0;
	n->refs++;
	n->live++;
	c->priv = ch;
	return 0;
}

static struct gnet_nic *nic_new(struct gvb_chan *c)
{
	struct gnet_nic *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	for (unsigned q = 0; q < GNET_CHANS; q++) {
		n->ch[q].nic = n;
		n->ch[q].q = q;
		n->ch[q].stop_efd = n->ch[q].room_efd = -1;
		pthread_mutex_init(&n->ch[q].lock, NULL);
		pthread_mutex_init(&n->ch[q].send_lock, NULL);
	}
	pthread_mutex_init(&n->sb_lock, NULL);
	n->rbuf = rt_gmem_alloc(&c->vb->gmem, GNET_RECV_SIZE >> 12);
	n->sbuf = rt_gmem_alloc(&c->vb->gmem, GNET_SEND_SIZE >> 12);
	n->vb = c->vb;
	n->c = c;
	n->instance = c->offer.offer.if_instance;
	atomic_store(&n->nchan, 1);
	if (!n->rbuf || !n->sbuf || gnet_chan_init(n, c)) {
		rt_warn("net", "relid %u: no room for the buffers (--memory)",
			c->relid);
		nic_free(n);
		return NULL;
	}
	return n;
}

static int gnet_prepare(struct gvb_chan *c)
{
	struct gnet_nic *n;

	if (c->sub_index)
		return gnet_chan_prepare(c);
	n = nic_new(c);
	if (!n)
		return -1;
	gnet_nic_link(n);
	return 0;
}

static void start_nvsp(struct gnet_nic *n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint32_t want = gnet_cfg.queues;
	struct nvsp_guest_cfg cfg = {
		.max_version = NVSP_VERSION_61,
		.mtu = NVSP_MTU_DEFAULT - NVSP_ETH_HLEN,
		/* one per CPU beyond the primary, as Linux asks */
		.subchannels = want ? (uint16_t)(want - 1)
				    : NVSP_GUEST_SUBCH_AUTO,
		.ncpus = cpus > 0 ? (uint32_t)cpus : 1,
		.recv_gpadl = n->rgpadl, .recv_size = GNET_RECV_SIZE,
		.send_gpadl = n->sgpadl, .send_size = GNET_SEND_SIZE,
		/* NDIS_CONFIG's RSC bit (6.1), then RNDIS asks (Linux) */
		.rsc = !gnet_cfg.no_rsc,
	};

	if (cfg.ncpus > GNET_CHANS)
		cfg.ncpus = GNET_CHANS;
	pthread_mutex_lock(&n->ch[0].lock);
	nvsp_guest_init(&n->ch[0].nvsp, &cfg);
	nvsp_next(n);
	pthread_mutex_unlock(&n->ch[0].lock);
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
	gnet_nic_put(n);
}

static void gnet_opened(struct gvb_chan *c)
{
	struct gnet_chan *ch = c->priv;
	struct gnet_nic *n = ch->nic;
	int rc;

	if (ch->q) {
		gnet_chan_opened(ch);
		return;
	}
	ch->open = true;
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
	struct gnet_chan *ch = c->priv;
	struct nvsp_guest_ev ev;

	if (pkt->type == VMB_PKT_XFER_PAGES) {
		gnet_io_recv(ch, pkt);
		return;
	}
	pthread_mutex_lock(&ch->lock);
	nvsp_guest_rx(&ch->nvsp, pkt, &ev);
	if (!c->draining)
		on_nvsp(ch, &ev);
	pthread_mutex_unlock(&ch->lock);
}

static void gnet_batch_end(struct gvb_chan *c)
{
	struct gnet_chan *ch = c->priv;

	pthread_mutex_lock(&ch->lock);
	gnet_io_flush(ch);
	pthread_mutex_unlock(&ch->lock);
	gnet_io_tx_worker(ch);
}

/* The TAP, once RNDIS is ready: its MAC and MTU the host's. */
static void make_tap(struct gnet_nic *n)
{
	uint8_t msg[RNDIS_GUEST_MSG_MAX];
	uint32_t len;

	n->tap_tried = true;
	if (!gnet_cfg.netns && !gnet_cfg.port) {
		rt_info("net", "relid %u: no --netns: no TAP device made (this "
			"machine's interfaces are left alone)", n->c->relid);
		return;
	}
	if (gnet_io_start(n))
		return;
	atomic_store(&n->link_due, true);
	if (!gnet_cfg.port) /* a port has no interface for KVP to find */
		gnet_lookup_add(n);
	pthread_mutex_lock(&n->ch[0].lock);
	len = rndis_guest_set_filter(&n->rndis, RNDIS_GUEST_FILTER_OPEN, msg);
	if (len)
		gnet_ctl_send(n, msg, len);
	pthread_mutex_unlock(&n->ch[0].lock);
}

/* The TAP's carrier as the host's last link indication says (NO-CARRIER
 * in `ip link` while the host's cable is out). */
static void follow_link(struct gnet_nic *n)
{
	bool up;
	int rc;

	/* a port (gnet_cfg.port) has no carrier */
	if (gnet_cfg.port || !atomic_load(&n->have_tap) ||
	    !atomic_exchange(&n->link_due, false))
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
	struct gnet_chan *ch = c->priv;
	struct gnet_nic *n = ch->nic;

	/* the table goes before hn0 is made: no flow starts on the
	 * default one */
	if (!ch->q)
		gnet_chan_tick(n);
	if (!ch->q && atomic_load(&n->tap_due) && !n->tap_tried)
		make_tap(n);
	if (!ch->q)
		follow_link(n);
	pthread_mutex_lock(&ch->lock);
	if (ch->ncomp)
		gnet_io_flush(ch);
	pthread_mutex_unlock(&ch->lock);
}

/* Shutting down: the NIC's readers, all at once, from its primary. */
static void gnet_quiesce(struct gvb_chan *c)
{
	struct gnet_chan *ch = c->priv;

	if (ch && !ch->q)
		gnet_io_quiesce(ch->nic);
}

/* Before the endpoint goes: its reader must not send on it again. */
static void gnet_stopping(struct gvb_chan *c)
{
	struct gnet_chan *ch = c->priv;

	pthread_mutex_lock(&ch->nic->ch[0].lock);
	ch->open = false;
	pthread_mutex_unlock(&ch->nic->ch[0].lock);
	if (!ch->q)
		ch->nic->open = false;
	gnet_io_stop(ch);
	/* a queue nobody reads would keep the flows the kernel puts on it */
	if (ch->q && atomic_load(&ch->nic->have_tap) &&
	    ch->q < ch->nic->tap.queues)
		rt_tap_queue_enable(&ch->nic->tap, ch->q, false);
}

static void log_refusals(const struct gnet_nic *n)
{
	const struct nvsp_guest *g = &n->ch[0].nvsp;
	char buf[256];
	size_t k = 0;

	for (unsigned i = 0; i < NVSP_GBAD__COUNT && k < sizeof(buf); i++)
		if (g->st.bad[i])
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, " %s %llu",
					      nvsp_guest_bad_name(i),
					      (unsigned long long)g->st.bad[i]);
	for (unsigned i = 0; i < RNDIS_GBAD__COUNT && k < sizeof(buf); i++)
		if (n->rndis.st.bad[i])
			k += (size_t)snprintf(buf + k, sizeof(buf) - k,
					      " rndis-%s %llu",
					      rndis_guest_bad_name(i),
					      (unsigned long long)n->rndis.st.bad[i]);
	for (unsigned i = 0; i < RNDIS_PBAD__COUNT && k < sizeof(buf); i++)
		if (n->ch[0].ppi.bad[i])
			k += (size_t)snprintf(buf + k, sizeof(buf) - k,
					      " packet-%s %llu",
					      rndis_ppi_bad_name(i),
					      (unsigned long long)n->ch[0].ppi.bad[i]);
	if (rt_ctr_get(&n->unasked) && k < sizeof(buf))
		k += (size_t)snprintf(buf + k, sizeof(buf) - k,
				      " unasked-subchannels %llu",
				      (unsigned long long)rt_ctr_get(&n->unasked));
	rt_info("net", "relid %u: sent %llu frames in %llu messages (%llu "
		"dropped), received %llu (%llu dropped), bad completions "
		"%llu; refused from host:%s", n->c->relid,
		(unsigned long long)rt_ctr_get(&n->ch[0].tx_frames),
		(unsigned long long)rt_ctr_get(&n->ch[0].tx_msgs),
		(unsigned long long)rt_ctr_get(&n->ch[0].tx_drops),
		(unsigned long long)rt_ctr_get(&n->ch[0].rx_frames),
		(unsigned long long)rt_ctr_get(&n->ch[0].rx_drops),
		(unsigned long long)atomic_load(&n->bad_comp), k ? buf : " none");
}

/* The TAP goes with the last channel: every queue's reader and worker
 * is stopped by then. */
static void gnet_stopped(struct gvb_chan *c, const char *why)
{
	struct gnet_chan *ch = c->priv;
	struct gnet_nic *n = ch->nic;

	if (ch->q)
		gnet_chan_log(ch);
	gnet_offload_log(ch);
	gnet_io_log(ch);
	gnet_io_free(ch);
	if (!ch->q) {
		log_refusals(n);
		rt_info("net", "relid %u: adapter %s", c->relid, why);
		gnet_lookup_del(n);
		gnet_nic_unlink(n);
		n->c = NULL;
	}
	if (--n->live == 0 && atomic_load(&n->have_tap)) {
		atomic_store(&n->have_tap, false);
		rt_tap_close(&n->tap);
	}
	ch->c = NULL;
	c->priv = NULL;
	gnet_nic_put(n);
}

const struct gvb_driver gnet_driver = {
	.name = NVSP_CLASS_NAME,
	.class_guid = NVSP_CLASS_GUID,
	.prepare = gnet_prepare,
	.opened = gnet_opened,
	.rx = gnet_rx,
	.batch_end = gnet_batch_end,
	.quiesce = gnet_quiesce,
	.stopping = gnet_stopping,
	.stopped = gnet_stopped,
	.tick = gnet_tick,
};
