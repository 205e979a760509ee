/* netvsp: the network adapter's device class, its channel and control
 * plane. The NVSP engine (core/net/nvsp_host) answers the init sequence
 * and names the guest's buffers; this file maps them (hvm_gpadl_get) and
 * runs the RNDIS control messages through core/net/rndis_host, whose
 * answers go to the guest in control sub-allocations of the receive
 * buffer. Data goes to hnet_data.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hnet_priv.h"
#include "rt_log.h"

#define ST_NO_RESOURCES 0xC000009Au

static int hnet_create(struct hdev *d)
{
	struct hnet_nic *nic = calloc(1, sizeof(*nic));

	if (!nic)
		return -ENOMEM;
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
	free(nic);
}

static uint32_t hnet_open(struct hvm_chan *c)
{
	struct hnet_nic *nic = c->dev->priv;
	struct hnet_chan *ch = calloc(1, sizeof(*ch));
	struct nvsp_host_cfg cfg = {
		.max_version = NVSP_VERSION_61,
		.primary = c->sub_index == 0,
	};
	struct rndis_host_cfg rcfg = {
		.mtu = HNET_MTU,
		.link_speed = 100000000u,
		.link_up = true,
		.max_queues = 1,
	};

	if (!ch)
		return ST_NO_RESOURCES;
	ch->c = c;
	ch->nic = nic;
	nvsp_host_init(&ch->eng, &cfg);
	memcpy(rcfg.mac, nic->mac, sizeof(rcfg.mac));
	rndis_host_init(&ch->rndis, &rcfg);
	c->aux_fd = nic->tap.fd[0];
	c->priv = ch;
	hnet_sw_open(ch);
	return 0;
}

static void hnet_close(struct hvm_chan *c)
{
	struct hnet_chan *ch = c->priv;

	if (!ch)
		return;
	hnet_sw_close(ch);
	hvm_gpadl_put(&ch->rbuf);
	hvm_gpadl_put(&ch->sbuf);
	free(ch->link);
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
 * out, all on this (the only) queue. */
static bool rxbuf_setup(struct hnet_chan *ch)
{
	const struct nvsp_recv_section *l = &ch->eng.layout;

	free(ch->link);
	ch->link = calloc(l->num_sub_allocs ? l->num_sub_allocs : 1,
			  sizeof(*ch->link));
	return ch->link && nvsp_rxbuf_init(&ch->rxb, ch->link,
					   l->num_sub_allocs,
					   l->sub_alloc_size, 1) == VMB_OK;
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
	uint32_t size = map(ch, a->gpadl, &ch->rbuf);
	struct nvsp_host_act r;

	if (size / nvsp_host_sub_alloc_size(ch->eng.mtu) <=
	    NVSP_RXBUF_CONTROL)
		size = 0;
	nvsp_host_recv_mapped(&ch->eng, size, &r);
	ch->rx_ready = ch->eng.recv == NVSP_HB_MAPPED && rxbuf_setup(ch);
	if (!ch->rx_ready)
		hvm_gpadl_put(&ch->rbuf);
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

void hnet_ctl_answer(struct hnet_chan *ch, const uint8_t *msg, uint32_t len)
{
	uint32_t id;

	if (!ch->rx_ready || len > ch->rxb.sub_size ||
	    nvsp_rxbuf_alloc_control(&ch->rxb, &id)) {
		rt_ctr_add(&ch->ctl_dropped, 1);
		return;
	}
	memcpy(ch->rbuf.va + (uint64_t)id * ch->rxb.sub_size, msg, len);
	rt_chan_tx_begin(ch->c->rt);
	if (!hnet_put_xfer(ch, id, 0, len, NVSP_CHANNEL_CONTROL))
		rt_ctr_add(&ch->ctl_dropped, 1);
	rt_chan_tx_end(ch->c->rt);
}

static uint32_t rndis_control(struct hnet_chan *ch, uint32_t len)
{
	struct rndis_host_act ra;

	rndis_host_rx(&ch->rndis, ch->msg, len, &ra);
	rt_ctr_add(&ch->ctl_msgs, 1);
	if (ra.reply_len)
		hnet_ctl_answer(ch, ra.reply, ra.reply_len);
	return NVSP_STATUS_SUCCESS;
}

static void rndis_msg(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	int64_t len = hnet_msg_get(ch, &a->rndis);
	uint32_t status = NVSP_STATUS_INVALID_RNDIS_PKT;
	union nvsp_msg m;

	if (len >= 0 && a->rndis.channel_type == NVSP_CHANNEL_CONTROL)
		status = rndis_control(ch, (uint32_t)len);
	else if (len >= 0 && hnet_tx(ch, (uint32_t)len))
		status = NVSP_STATUS_SUCCESS;
	if (a->completion)
		hnet_send_comp(ch, a->xid, &m,
			       nvsp_host_rndis_done(&ch->eng, status, &m));
}

static void rx_done(struct hnet_chan *ch, uint64_t xid)
{
	uint32_t n;

	if (ch->rx_ready)
		nvsp_rxbuf_free(&ch->rxb, 0, xid, &n);
}

static void revoke(struct hnet_chan *ch, const struct nvsp_host_act *a,
		   struct hvm_gpadl_ref *ref)
{
	if (ref == &ch->rbuf)
		ch->rx_ready = false;
	hvm_gpadl_put(ref);
	if (a->reply_due || a->completion)
		reply(ch, a);
}

static void act(struct hnet_chan *ch, const struct nvsp_host_act *a)
{
	switch (a->kind) {
	case NVSP_HA_MAP_RECV: map_recv(ch, a); break;
	case NVSP_HA_MAP_SEND: map_send(ch, a); break;
	case NVSP_HA_REVOKE_RECV: revoke(ch, a, &ch->rbuf); break;
	case NVSP_HA_REVOKE_SEND: revoke(ch, a, &ch->sbuf); break;
	case NVSP_HA_RNDIS: rndis_msg(ch, a); break;
	case NVSP_HA_RX_DONE: rx_done(ch, a->xid); break;
	case NVSP_HA_REPLY:
	case NVSP_HA_SUBCHANNELS: /* max_subchannels 0: a refusal */
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
}

static void hnet_aux(struct rt_chan *rt, void *arg)
{
	struct hvm_chan *c = arg;

	(void)rt;
	hnet_sw_work(c->priv);
	hnet_rx(c->priv);
}

static uint64_t refused(const struct hnet_chan *ch)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < NVSP_HBAD__COUNT; i++)
		bad += i == NVSP_HBAD_VERSION ? 0 : ch->eng.st.bad[i];
	for (unsigned i = 0; i < RNDIS_HBAD__COUNT; i++)
		bad += ch->rndis.st.bad[i];
	for (unsigned i = 0; i < NVSP_RXB_BAD__COUNT; i++)
		bad += ch->rxb.q[0].bad[i] + ch->rxb.ctl.bad[i];
	return bad + rt_ctr_get(&ch->tx_bad);
}

#define CTR(x) (unsigned long long)rt_ctr_get(&ch->x)

/* Read racily (the worker's plain counters): figures for people. */
static void hnet_describe(struct hvm_chan *c, FILE *out)
{
	struct hnet_chan *ch = c->priv;

	if (!ch)
		return;
	fprintf(out, "tap=%s tx_frames=%llu tx_bytes=%llu tx_err=%llu "
		"rx_frames=%llu rx_bytes=%llu rx_full=%llu rx_idle=%llu "
		"rx_ring_full=%llu rx_long=%llu ctl=%llu ctl_dropped=%llu "
		"map_failed=%llu refused=%llu", ch->nic->tap.name,
		CTR(tx_frames), CTR(tx_bytes), CTR(tx_err), CTR(rx_frames),
		CTR(rx_bytes), CTR(rx_full), CTR(rx_idle), CTR(rx_ring_full),
		CTR(rx_long), CTR(ctl_msgs),
		CTR(ctl_dropped), CTR(map_failed),
		(unsigned long long)refused(ch));
	hnet_sw_describe(ch, out);
}

const struct hdev_class hnet_class = {
	.name = NVSP_CLASS_NAME,
	.class_guid = NVSP_CLASS_GUID,
	.create = hnet_create,
	.destroy = hnet_destroy,
	.open = hnet_open,
	.close = hnet_close,
	.rx = hnet_rx_pkt,
	.aux = hnet_aux,
	.aux_level = true,
	.describe = hnet_describe,
};
