/* netvsp: the network adapter's device class, its channel and control
 * plane. The NVSP engine (core/net/nvsp_host) answers the init sequence
 * and names the guest's buffers; this file maps them (hvm_gpadl_get) and
 * runs the RNDIS control messages through core/net/rndis_host, whose
 * answers go to the guest in control sub-allocations of the receive
 * buffer. Data goes to hnet_data.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hnet_port.h"
#include "rt_log.h"

#define ST_NO_RESOURCES 0xC000009Au

static int hnet_create(struct hdev *d)
{
	struct hnet_nic *nic = calloc(1, sizeof(*nic));

	if (!nic || !(nic->rss = calloc(1, sizeof(*nic->rss)))) {
		free(nic);
		return -ENOMEM;
	}
	pthread_rwlock_init(&nic->lock, NULL);
	for (unsigned i = 0; i < HNET_QUEUES_MAX; i++)
		pthread_mutex_init(&nic->ret[i].lock, NULL);
	nic->sw.wake_efd = -1; /* until hnet_sw_init */
	nic->d = d;
	d->priv = nic;
	return 0;
}

static void hnet_destroy(struct hdev *d)
{
	struct hnet_nic *nic = d->priv;

	hnet_sw_fini(nic);
	if (nic->tap.queues)
		rt_tap_close(&nic->tap);
	hnet_bench_free(nic->bench);
	for (unsigned i = 0; i < HNET_QUEUES_MAX; i++)
		pthread_mutex_destroy(&nic->ret[i].lock);
	pthread_rwlock_destroy(&nic->lock);
	free(nic->link);
	free(nic->ret_ids);
	free(nic->rss);
	free(nic);
}

/* A sub-channel's engine starts where the primary's was when it granted
 * the sub-channels (nic->proto), with a hold of its own on the send
 * buffer (the guest's sends on it name its sections); its TAP queue
 * joins the device. */
static void sub_open(struct hnet_chan *ch)
{
	struct hnet_nic *nic = ch->nic;
	struct hvm_chan *c = ch->c;
	struct hvm_chan *p = c->dev->primary_relid
				     ? c->vm->chans[c->dev->primary_relid]
				     : NULL;
	int rc;

	pthread_rwlock_rdlock(&nic->lock);
	if (nic->have_proto)
		nvsp_host_attach(&ch->eng, &nic->proto);
	pthread_rwlock_unlock(&nic->lock);
	atomic_store(&c->dev_version, ch->eng.version);
	if (p && ch->eng.send == NVSP_HB_MAPPED &&
	    hvm_gpadl_get(p, ch->eng.send_gpadl, &ch->sbuf))
		rt_ctr_add(&ch->map_failed, 1);
	rc = hnet_port_queue_enable(nic, ch->q, true);
	if (rc)
		rt_warn("net", "%s: queue %u not attached: %s", nic->tap.name,
			ch->q, strerror(-rc));
}

/* A new guest's primary: nothing of the last one's RSS stays. */
static void primary_open(struct hnet_nic *nic)
{
	hnet_offload_tap(nic);
	atomic_store_explicit(&nic->offload, 0, memory_order_relaxed);
	pthread_rwlock_wrlock(&nic->lock);
	nic->rss_on = nic->rx_on = nic->table_sent = nic->have_proto = false;
	pthread_rwlock_unlock(&nic->lock);
}

static uint32_t hnet_open(struct hvm_chan *c)
{
	struct hnet_nic *nic = c->dev->priv;
	struct hnet_chan *ch = calloc(1, sizeof(*ch));
	struct nvsp_host_cfg cfg = {
		.max_version = NVSP_VERSION_61,
		.max_subchannels = (uint16_t)c->dev->max_sub,
		.primary = c->sub_index == 0,
	};
	struct rndis_host_cfg rcfg = {
		.mtu = HNET_MTU,
		.link_speed = 100000000u,
		.link_up = true,
		.max_queues = nic->queues,
		.backend = hnet_offload_caps(),
		.offer_udp_csum = true,
		.offer_lso = true,
	};

	if (!ch || c->sub_index >= nic->queues) {
		free(ch);
		return ST_NO_RESOURCES;
	}
	ch->c = c;
	ch->nic = nic;
	ch->q = c->sub_index;
	nvsp_host_init(&ch->eng, &cfg);
	memcpy(rcfg.mac, nic->mac, sizeof(rcfg.mac));
	rndis_host_init(&ch->rndis, &rcfg);
	if (ch->q)
		sub_open(ch);
	else
		primary_open(nic);
	c->aux_fd = nic->tap.fd[ch->q];
	c->priv = ch;
	hnet_port_open(ch);
	hnet_sw_open(ch);
	return 0;
}

/* Running: the other channels' workers may steer frames onto it (c->rt
 * is theirs to read once they find it under the lock). */
static void hnet_started(struct hvm_chan *c)
{
	struct hnet_chan *ch = c->priv;

	pthread_rwlock_wrlock(&ch->nic->lock);
	ch->nic->chan[ch->q] = ch;
	pthread_rwlock_unlock(&ch->nic->lock);
}

/* Its sends fail from now: no other worker starts one, and those under
 * way end (their waits for its ring end with the sends). */
static void hnet_quiesce(struct hvm_chan *c)
{
	struct hnet_chan *ch = c->priv;

	if (!ch)
		return;
	pthread_rwlock_wrlock(&ch->nic->lock);
	if (ch->nic->chan[ch->q] == ch)
		ch->nic->chan[ch->q] = NULL;
	pthread_rwlock_unlock(&ch->nic->lock);
	hnet_rss_unused(ch);
}

/* The primary's close takes the receive buffer from every channel. */
static void hnet_close(struct hvm_chan *c)
{
	struct hnet_chan *ch = c->priv;
	struct hnet_nic *nic;

	if (!ch)
		return;
	nic = ch->nic;
	hnet_quiesce(c);
	if (ch->q == 0) {
		pthread_rwlock_wrlock(&nic->lock);
		nic->rx_ready = nic->rx_on = nic->rss_on = false;
		nic->rx_gen++;
		hvm_gpadl_put(&nic->rbuf);
		pthread_rwlock_unlock(&nic->lock);
	} else if (hnet_port_queue_enable(nic, ch->q, false)) {
		rt_warn("net", "%s: queue %u not detached", nic->tap.name,
			ch->q);
	}
	hnet_sw_close(ch);
	hnet_port_close(ch);
	hvm_gpadl_put(&ch->sbuf);
	free(ch);
	c->priv = NULL;
}

void hnet_send_comp(struct hnet_chan *ch, uint64_t xid, const void *buf,
		    uint32_t len)
{
	int rc = rt_chan_send_comp(ch->c->rt, xid, buf, len, false);

	if (rc && rc != VMB_ESHUTDOWN)
		rt_warn("net", "relid %u: completion not sent: %d",
			ch->c->relid, rc);
}

static void reply(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	hnet_send_comp(ch, a->xid, &a->reply, a->reply_len);
}

/* The receive buffer's sub-allocations as RECV_BUF_COMPLETE laid them
 * out, all on the primary's queue until sub-channels are granted (a
 * guest that asks for none has the whole buffer); nic->lock held to
 * write. */
static bool rxbuf_setup(struct hnet_chan *ch)
{
	const struct nvsp_recv_section *l = &ch->eng.layout;
	struct hnet_nic *nic = ch->nic;

	free(nic->link);
	nic->link = calloc(l->num_sub_allocs ? l->num_sub_allocs : 1,
			   sizeof(*nic->link));
	return nic->link &&
	       nvsp_rxbuf_init(&nic->rxb, nic->link, l->num_sub_allocs,
			       l->sub_alloc_size, 1) == VMB_OK &&
	       hnet_rss_boxes(nic);
}

static uint32_t map(struct hnet_chan *ch, uint32_t gpadl,
		    struct hvm_gpadl_ref *ref)
{
	hvm_gpadl_put(ref);
	if (hvm_gpadl_get(ch->c, gpadl, ref)) {
		rt_ctr_add(&ch->map_failed, 1);
		return 0;
	}
	return ref->len > UINT32_MAX ? UINT32_MAX : (uint32_t)ref->len;
}

/* A receive buffer without a sub-allocation for data after the control
 * reserve is refused as if unmapped (the guest gets a failure, not a
 * device that answers nothing). */
static void map_recv(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t size;
	struct nvsp_host_act r;

	pthread_rwlock_wrlock(&nic->lock);
	nic->rx_ready = false;
	nic->rx_gen++;
	size = map(ch, a->gpadl, &nic->rbuf);
	if (size / nvsp_host_sub_alloc_size(ch->eng.mtu) <=
	    NVSP_RXBUF_CONTROL)
		size = 0;
	nvsp_host_recv_mapped(&ch->eng, size, &r);
	nic->rx_ready = ch->eng.recv == NVSP_HB_MAPPED && rxbuf_setup(ch);
	if (!nic->rx_ready)
		hvm_gpadl_put(&nic->rbuf);
	pthread_rwlock_unlock(&nic->lock);
	reply(ch, &r);
}

static void map_send(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	struct nvsp_host_act r;

	nvsp_host_send_mapped(&ch->eng, map(ch, a->gpadl, &ch->sbuf), &r);
	if (ch->eng.send != NVSP_HB_MAPPED)
		hvm_gpadl_put(&ch->sbuf);
	reply(ch, &r);
}

bool hnet_ctl_answer(struct hnet_chan *ch, const uint8_t *msg, uint32_t len)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t id, n;
	bool sent;

	/* the primary's worker: the only one to change the buffer */
	if (!nic->rx_ready || len > nic->rxb.sub_size ||
	    nvsp_rxbuf_alloc_control(&nic->rxb, &id)) {
		rt_ctr_add(&ch->ctl_dropped, 1);
		return false;
	}
	memcpy(nic->rbuf.va + (uint64_t)id * nic->rxb.sub_size, msg, len);
	rt_chan_tx_begin(ch->c->rt);
	sent = hnet_put_xfer(ch, id, 0, len, NVSP_CHANNEL_CONTROL);
	if (!sent) {
		rt_ctr_add(&ch->ctl_dropped, 1);
		nvsp_rxbuf_free(&nic->rxb, 0, id, &n);
	}
	rt_chan_tx_end(ch->c->rt);
	return sent;
}

static uint32_t rndis_control(struct hnet_chan *ch, uint32_t len)
{
	struct rndis_host_act ra;

	/* RSC offered where the guest's NDIS_CONFIG asked for it (on the
	 * bench port only if it makes frames past the MTU) */
	rndis_host_offer_rsc(&ch->rndis,
			     ch->eng.rsc && (!ch->nic->bench ||
					     hnet_bench_rsc(ch->nic->bench)));
	rndis_host_rx(&ch->rndis, ch->msg, len, &ra);
	rt_ctr_add(&ch->ctl_msgs, 1);
	if (ra.reply_len)
		hnet_ctl_answer(ch, ra.reply, ra.reply_len);
	/* the NIC's filter, offloads and RSS are the primary's engine's: no
	 * netvsc sets them on a sub-channel, where a hostile guest's INIT
	 * or HALT would turn receive off for all */
	if (ra.ev != RNDIS_HE_NONE && ch->q == 0) {
		hnet_rss_update(ch);
		hnet_sw_rndis(ch);
	}
	return NVSP_STATUS_SUCCESS;
}

static void rndis_msg(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	int64_t len = hnet_msg_get(ch, &a->rndis);
	uint32_t status = NVSP_STATUS_INVALID_RNDIS_PKT;

	if (len >= 0 && a->rndis.channel_type == NVSP_CHANNEL_CONTROL) {
		hnet_msg_copy(ch, 0, (uint32_t)len);
		status = rndis_control(ch, (uint32_t)len);
	}
	else if (len >= 0 && hnet_tx(ch, (uint32_t)len))
		status = NVSP_STATUS_SUCCESS;
	if (a->completion)
		hnet_tx_done(ch, a->xid, status);
}

static void revoke(struct hnet_chan *ch, const struct nvsp_host_act *a,
		   struct hvm_gpadl_ref *ref)
{
	struct hnet_nic *nic = ch->nic;

	pthread_rwlock_wrlock(&nic->lock);
	if (ref == &nic->rbuf) {
		nic->rx_ready = false;
		nic->rx_gen++;
	}
	hvm_gpadl_put(ref);
	pthread_rwlock_unlock(&nic->lock);
	if (a->reply_due || a->completion)
		reply(ch, a);
}

static void offer_work(struct hvm *vm, struct hdev *d, uint32_t count)
{
	if (hvm_offer_subchannels(vm, d, count))
		rt_warn("net", "NIC %u: offering %u sub-channels failed",
			((struct hnet_nic *)d->priv)->index, count);
}

/* The data sub-allocations split among the channels granted: only
 * while the guest holds none (it sets no filter before it asks, as
 * Linux), else they stay the primary's (counted: frames read on the
 * other queues are dropped). nic->lock held to write. */
static void rxbuf_split(struct hnet_chan *ch, uint32_t channels)
{
	struct hnet_nic *nic = ch->nic;

	if (!nic->rx_ready)
		return;
	hnet_rss_reclaim(ch);
	nic->rx_gen++;
	if (nvsp_rxbuf_split(&nic->rxb, channels) || !hnet_rss_boxes(nic))
		rt_warn("net", "relid %u: receive buffer not split among %u "
			"channels (the guest holds some of it): the primary's "
			"alone", ch->c->relid, channels);
}

/* Granted: the sub-channels start from this engine; the answer follows
 * the offers' queueing. */
static void subchannels(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	struct hnet_nic *nic = ch->nic;

	if (a->kind == NVSP_HA_SUBCHANNELS) {
		pthread_rwlock_wrlock(&nic->lock);
		nic->proto = ch->eng;
		nic->have_proto = true;
		rxbuf_split(ch, 1u + a->subchannels);
		pthread_rwlock_unlock(&nic->lock);
		if (hvm_defer(ch->c->vm, offer_work, ch->c->dev, ch->c->gen,
			      a->subchannels))
			rt_warn("net", "relid %u: sub-channels not offered",
				ch->c->relid);
	}
	if (a->reply_due || a->completion)
		reply(ch, a);
}

static void act(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	/* frames queued from send sections (written at the batch's end)
	 * go before a message that may let go of the send buffer's view
	 * (REVOKE_SEND, MAP_SEND of another), as before any but data */
	if (a->kind != NVSP_HA_RNDIS && a->kind != NVSP_HA_RX_DONE &&
	    a->kind != NVSP_HA_NONE)
		hnet_tx_flush(ch);
	switch (a->kind) {
	case NVSP_HA_MAP_RECV: map_recv(ch, a); break;
	case NVSP_HA_MAP_SEND: map_send(ch, a); break;
	case NVSP_HA_REVOKE_RECV: revoke(ch, a, &ch->nic->rbuf); break;
	case NVSP_HA_REVOKE_SEND: revoke(ch, a, &ch->sbuf); break;
	case NVSP_HA_RNDIS: rndis_msg(ch, a); break;
	case NVSP_HA_RX_DONE: hnet_rss_back(ch, a->xid); break;
	case NVSP_HA_SUBCHANNELS: subchannels(ch, a); break;
	case NVSP_HA_REPLY:
	case NVSP_HA_DATAPATH:
		if (a->reply_due || a->completion)
			reply(ch, a);
		break;
	case NVSP_HA_NONE:
		break;
	}
}

static void hnet_rx_pkt(struct rt_chan *rt, const struct vmb_pkt *pkt,
			void *arg)
{
	struct hvm_chan *c = arg;
	struct hnet_chan *ch = c->priv;
	struct nvsp_host_act a;
	uint32_t before = ch->eng.version;

	(void)rt;
	nvsp_host_rx(&ch->eng, pkt, &a);
	if (ch->eng.version != before)
		atomic_store(&c->dev_version, ch->eng.version);
	act(ch, &a);
	hnet_bench_room(ch->nic->bench, ch->q);
}

static void hnet_batch_end(struct rt_chan *rt, void *arg)
{
	struct hvm_chan *c = arg;

	(void)rt;
	/* the batch's frames written in one burst, then its completions */
	hnet_tx_flush(c->priv);
	hnet_rss_back_flush(c->priv);
	hnet_sw_link_retry(c->priv);
}

/* One burst: under the NIC's lock what other channels gave back, then
 * the frames waiting on this channel's queue; their puts after it (a
 * put may wait for a target's other sender, which may wait for the
 * guest: the loop thread's write lock must not wait behind that). */
static void hnet_aux(struct rt_chan *rt, void *arg)
{
	struct hvm_chan *c = arg;
	struct hnet_chan *ch = c->priv;

	(void)rt;
	hnet_sw_work(ch);
	pthread_rwlock_rdlock(&ch->nic->lock);
	hnet_rss_reclaim(ch);
	ch->out_gen = ch->nic->rx_gen;
	hnet_rx(ch);
	pthread_rwlock_unlock(&ch->nic->lock);
	hnet_rss_flush(ch);
}

static uint64_t refused(const struct hnet_chan *ch)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < NVSP_HBAD__COUNT; i++)
		bad += i == NVSP_HBAD_VERSION ? 0 : ch->eng.st.bad[i];
	for (unsigned i = 0; i < RNDIS_HBAD__COUNT; i++)
		bad += ch->rndis.st.bad[i];
	for (unsigned i = 0; i < NVSP_RXB_BAD__COUNT; i++)
		bad += ch->nic->rxb.q[ch->q].bad[i] +
		       (ch->q ? 0 : ch->nic->rxb.ctl.bad[i]);
	return bad + rt_ctr_get(&ch->tx_bad) +
	       rt_ctr_get(&ch->nic->ret[ch->q].dropped);
}

#define CTR(x) (unsigned long long)rt_ctr_get(&ch->x)

/* Read racily (the worker's plain counters): figures for people. */
static void hnet_describe(struct hvm_chan *c, FILE *out)
{
	struct hnet_chan *ch = c->priv;

	if (!ch)
		return;
	fprintf(out, "tap=%s queue=%u rss=%s tx_frames=%llu tx_msgs=%llu "
		"tx_calls=%llu tx_bytes=%llu tx_err=%llu rx_frames=%llu "
		"rx_msgs=%llu rx_calls=%llu rx_bytes=%llu rx_steered=%llu "
		"rx_full=%llu rx_idle=%llu "
		"rx_ring_full=%llu rx_long=%llu ctl=%llu ctl_dropped=%llu "
		"map_failed=%llu refused=%llu tx_csum=%llu tx_lso=%llu "
		"rx_csum_ok=%llu rx_csum_sw=%llu rx_csum_bad=%llu "
		"rsc_frames=%llu rsc_pieces=%llu rsc_bad=%llu tx_gro=%llu",
		ch->nic->tap.name, ch->q, ch->nic->rss_on ? "on" : "off",
		CTR(tx_frames), CTR(tx_msgs), CTR(tx_calls), CTR(tx_bytes),
		CTR(tx_err), CTR(rx_frames), CTR(rx_msgs), CTR(rx_calls),
		CTR(rx_bytes), CTR(rx_steered), CTR(rx_full), CTR(rx_idle),
		CTR(rx_ring_full), CTR(rx_long), CTR(ctl_msgs),
		CTR(ctl_dropped), CTR(map_failed),
		(unsigned long long)refused(ch), CTR(tx_csum), CTR(tx_lso),
		CTR(rx_csum_ok), CTR(rx_csum_sw), CTR(rx_csum_bad),
		CTR(rsc_frames), CTR(rsc_pieces), CTR(rsc_bad), CTR(tx_gro));
	hnet_sw_describe(ch, out);
}

const struct hdev_class hnet_class = {
	.name = NVSP_CLASS_NAME,
	.class_guid = NVSP_CLASS_GUID,
	.create = hnet_create,
	.destroy = hnet_destroy,
	.open = hnet_open,
	.started = hnet_started,
	.close = hnet_close,
	.rx = hnet_rx_pkt,
	.batch_end = hnet_batch_end,
	.aux = hnet_aux,
	.aux_level = true,
	.quiesce = hnet_quiesce,
	.describe = hnet_describe,
};
