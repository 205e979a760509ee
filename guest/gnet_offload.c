/* netvsc's offloads: between the virtio-net headers of hn0 and the
 * per-packet info of RNDIS.
 *
 * What RNDIS agreed with the host (core/net/rndis_guest asks for every
 * checksum and LSOv2 offload the host offers) is turned on at the TAP,
 * so the kernel hands over frames with partial checksums and, with LSO,
 * TCP frames of up to 64 KiB to segment. Send: a partial TCP/UDP
 * checksum becomes the checksum-request PPI where the host was asked to
 * compute it for that family and protocol, and is completed here
 * otherwise (the TAP's TUN_F_CSUM covers every protocol, the host's
 * offload perhaps not); a GSO frame becomes the LSOv2 PPI with its MSS,
 * its headers as the contract asks (ncsum_lso_contract). Receive: a
 * host's "checksum succeeded" becomes DATA_VALID.
 *
 * Big buffers: a frame larger than a send section cannot go in one; it
 * is read into one of a few page-aligned buffers of guest memory owned
 * by the channel and sent GPA-direct on it, the buffer taken by its
 * reader and given back by its worker when the host completes the send
 * (a bitmap of atomics: no lock between the two). */
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>

#include "gnet_priv.h"
#include "net/ncsum.h"
#include "rt_log.h"

static unsigned tun_flags(const struct rndis_guest_offload *o)
{
	unsigned f = 0;

	if (o->tcp4 || o->tcp6 || o->udp4 || o->udp6)
		f |= TUN_F_CSUM;
	if (o->lso4)
		f |= TUN_F_TSO4;
	if (o->lso6)
		f |= TUN_F_TSO6;
	return f;
}

/* Every reading channel's big buffers, or none (LSO then off: the TAP's
 * segmentation is the device's, any queue may get a big frame). */
static bool bigs_alloc(struct gnet_nic *n)
{
	for (unsigned q = 0; q < n->tap.queues; q++) {
		struct gnet_chan *ch = &n->ch[q];

		if (!ch->open)
			continue;
		ch->off.big = rt_gmem_alloc(&n->vb->gmem,
					    GNET_BIG_BUFS * GNET_BIG_PAGES);
		if (!ch->off.big) {
			rt_warn("net", "relid %u: no guest memory for LSO "
				"buffers: LSO off", n->c->relid);
			gnet_offload_free(n);
			return false;
		}
		atomic_store(&ch->off.big_free, (1u << GNET_BIG_BUFS) - 1u);
	}
	return true;
}

/* The host's LSO size limit on the kernel's GSO frames, as Linux netvsc
 * sets gso_max_size (the legacy 64 KiB at most); LSO off where the limit
 * is below its minimum segment count of MTU-sized frames, as FreeBSD. */
static uint32_t lso_limit(struct gnet_nic *n, struct rndis_guest_offload *o)
{
	const struct rndis_guest_caps *c = &n->rndis.info.caps;
	uint32_t max = 65536u, mtu = n->rndis.info.mtu;
	int rc;

	o->lso4 = o->lso4 && c->lso4_max >= c->lso4_minsg * (uint64_t)mtu;
	o->lso6 = o->lso6 && c->lso6_max >= c->lso6_minsg * (uint64_t)mtu;
	if (o->lso4 && c->lso4_max < max)
		max = c->lso4_max;
	if (o->lso6 && c->lso6_max < max)
		max = c->lso6_max;
	if ((o->lso4 || o->lso6) && !gnet_cfg.port &&
	    (rc = rt_tap_set_gso_max(&n->tap, max)))
		rt_warn("net", "%s: GSO limit %u not set: %s", n->tap.name,
			max, strerror(-rc));
	return max;
}

void gnet_offload_start(struct gnet_nic *n)
{
	struct rndis_guest_offload o = n->rndis.info.offload;
	uint32_t lso_max;
	int rc;

	/* an embedder's port (hvis-bench) sends plain frames unless it
	 * asks for offloads; it has no TAP to set them on */
	if (gnet_cfg.port && !gnet_cfg.port->offload)
		return;
	lso_max = lso_limit(n, &o);
	if ((o.lso4 || o.lso6) && !bigs_alloc(n))
		o.lso4 = o.lso6 = false;
	rc = gnet_cfg.port ? 0 : rt_tap_set_offload(&n->tap, tun_flags(&o));
	if (rc) {
		rt_warn("net", "%s: offloads not turned on: %s", n->tap.name,
			strerror(-rc));
		memset(&o, 0, sizeof(o));
	}
	for (unsigned q = 0; q < n->tap.queues; q++)
		n->ch[q].off.on = o;
	rt_info("net", "%s: offloads: checksum tcp4 %d udp4 %d tcp6 %d "
		"udp6 %d, LSO ipv4 %d ipv6 %d (up to %u bytes), RSC %d",
		n->tap.name, o.tcp4, o.udp4, o.tcp6, o.udp6, o.lso4, o.lso6,
		lso_max, o.rsc);
}

void gnet_offload_free(struct gnet_nic *n)
{
	for (unsigned q = 0; q < GNET_CHANS; q++) {
		struct gnet_chan *ch = &n->ch[q];

		if (ch->off.big)
			rt_gmem_free(&n->vb->gmem, ch->off.big,
				     GNET_BIG_BUFS * GNET_BIG_PAGES);
		ch->off.big = NULL;
	}
}

void gnet_offload_log(const struct gnet_chan *ch)
{
	const struct {
		const char *name;
		const rt_ctr *c;
	} ctr[] = {
		{"tx_csum", &ch->tx_csum},       {"tx_lso", &ch->tx_lso},
		{"tx_big", &ch->tx_big},         {"tx_sw_csum", &ch->tx_sw_csum},
		{"tx_refused", &ch->tx_refused}, {"rx_csum_ok", &ch->rx_csum_ok},
		{"rx_rsc", &ch->rx_rsc},         {"rx_rsc_bad", &ch->rx_rsc_bad},
	};
	char buf[224];
	size_t k = 0;

	for (unsigned i = 0; i < VMB_ARRAY_LEN(ctr) && k < sizeof(buf); i++)
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, " %s=%llu",
				      ctr[i].name,
				      (unsigned long long)rt_ctr_get(ctr[i].c));
	rt_info("net", "relid %u (queue %u): offloads:%s", ch->c->relid, ch->q,
		buf);
}

int gnet_big_get(struct gnet_chan *ch)
{
	uint32_t v = atomic_load(&ch->off.big_free);

	while (v && !atomic_compare_exchange_weak(&ch->off.big_free, &v,
						   v & (v - 1)))
		;
	return v ? __builtin_ctz(v) : -1;
}

void gnet_big_back(struct gnet_chan *ch, int big)
{
	atomic_fetch_or(&ch->off.big_free, 1u << big);
}

bool gnet_big_put(struct gnet_chan *ch, uint64_t xid)
{
	uint64_t i = xid - GNET_BIG_XID;
	uint32_t bit = 1u << (i & 31);

	if (xid < GNET_BIG_XID || i >= GNET_BIG_BUFS || !ch->off.big ||
	    (atomic_fetch_or(&ch->off.big_free, bit) & bit))
		return false;
	gnet_room_wake(ch);
	return true;
}

/* ---- send ---- */

/* Whether the host computes checksums of this kind (csum: VNET_CSUM_*
 * family and protocol). */
static bool csum_agreed(const struct rndis_guest_offload *o, bool v6,
			bool udp)
{
	if (v6)
		return udp ? o->udp6 : o->tcp6;
	return udp ? o->udp4 : o->tcp4;
}

/* The TAP's partial checksum as a request to the host, where it was
 * agreed and the frame is what the request can say (the checksum at
 * TCP's or UDP's place in the frame's own transport header). */
static bool csum_ppi(const struct nframe *f, const struct vnet_offload *o,
		     const struct rndis_guest_offload *on,
		     struct rndis_pkt_meta *m)
{
	bool v6 = f->l3 == NFRAME_L3_IPV6, udp = o->csum & VNET_CSUM_UDP;

	if (f->l3 == NFRAME_L3_NONE || f->frag || !f->l4_hlen ||
	    o->l4_off != f->l4_off || f->l4_off > RNDIS_CSUM_TX_THOFF_MASK ||
	    f->l4_proto != (udp ? NFRAME_PROTO_UDP : NFRAME_PROTO_TCP) ||
	    !csum_agreed(on, v6, udp))
		return false;
	m->present = RNDIS_META_CSUM;
	m->csum = rndis_csum_tx((v6 ? RNDIS_CSUM_TX_IPV6 : RNDIS_CSUM_TX_IPV4) |
				(udp ? RNDIS_CSUM_TX_UDP : RNDIS_CSUM_TX_TCP),
				f->l4_off);
	return true;
}

/* A GSO frame: LSOv2 where agreed for its family; nothing else can
 * send it (the host takes no frame above the MTU unsegmented). */
static bool lso_ppi(uint8_t *frame, const struct nframe *f,
		    const struct vnet_offload *o,
		    const struct rndis_guest_offload *on,
		    struct rndis_pkt_meta *m)
{
	bool v6 = f->l3 == NFRAME_L3_IPV6;

	if (!(v6 ? on->lso6 : on->lso4) || o->lso_v6 != v6 ||
	    o->l4_off != f->l4_off || f->l4_off > RNDIS_LSO_THOFF_MASK ||
	    !ncsum_lso_contract(frame, f))
		return false;
	m->present = RNDIS_META_LSO;
	m->lso_mss = o->mss;
	m->lso_thoff = (uint16_t)f->l4_off;
	m->lso_ipv6 = v6;
	return true;
}

bool gnet_offload_tx(struct gnet_chan *ch, const uint8_t *vh,
		     uint8_t *frame, uint32_t len, struct rndis_pkt_meta *m)
{
	struct vnet_hdr h;
	struct vnet_offload o;
	struct nframe f;
	bool parsed, ok;

	memcpy(&h, vh, sizeof(h));
	memset(m, 0, sizeof(*m));
	if (!(h.flags & VNET_HDR_F_NEEDS_CSUM) &&
	    h.gso_type == VNET_HDR_GSO_NONE)
		return true;
	parsed = nframe_parse(&f, frame, len, 0, 0) == NFRAME_OK;
	ok = parsed && vnet_to_offload(&h, &o) == VNET_OK;
	if (h.gso_type != VNET_HDR_GSO_NONE) {
		if (ok && lso_ppi(frame, &f, &o, &ch->off.on, m)) {
			rt_ctr_add(&ch->tx_lso, 1);
			return true;
		}
	} else if (ok && csum_ppi(&f, &o, &ch->off.on, m)) {
		rt_ctr_add(&ch->tx_csum, 1);
		return true;
	} else if (parsed &&
		   ncsum_rx_complete(frame, &f, &h) == NCSUM_L4_GOOD) {
		rt_ctr_add(&ch->tx_sw_csum, 1);
		return true;
	}
	rt_ctr_add(&ch->tx_refused, 1);
	return false;
}

/* ---- receive ---- */

void gnet_offload_rx(struct gnet_chan *ch, const struct rndis_pkt_meta *m,
		     uint8_t vh[RT_TAP_VNET_HDR_LEN])
{
	const uint32_t ok = RNDIS_CSUM_RX_TCP_OK | RNDIS_CSUM_RX_UDP_OK;
	const uint32_t bad = RNDIS_CSUM_RX_TCP_FAILED |
			     RNDIS_CSUM_RX_UDP_FAILED |
			     RNDIS_CSUM_RX_IP_FAILED;

	memset(vh, 0, RT_TAP_VNET_HDR_LEN);
	if ((m->present & RNDIS_META_CSUM) && (m->csum & ok) &&
	    !(m->csum & bad)) {
		vh[0] = VNET_HDR_F_DATA_VALID;
		rt_ctr_add(&ch->rx_csum_ok, 1);
	}
}
