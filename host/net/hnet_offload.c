/* netvsp's offloads: between RNDIS per-packet info and the virtio-net
 * headers of the host's TAP.
 *
 * Transmit: a guest's checksum request or LSOv2 send becomes a header
 * the kernel acts on (NEEDS_CSUM with csum_start/offset; GSO TCPV4/V6
 * with gso_size the MSS), so that the kernel computes and segments. The
 * request is the guest's and untrusted: it must be one RNDIS agreed, and
 * ncsum_tx_prepare() checks it against the frame parsed from the
 * worker's copy of the message (never from guest memory, which the
 * guest may change meanwhile) and fixes the headers there; those go to
 * the TAP from the copy, the payload from guest memory. A refusal is
 * counted in tx_bad and the frame dropped.
 *
 * Receive: the TAP has TUN_F_CSUM (and TSO only where RSC is agreed,
 * hnet_rsc.c: a receive sub-allocation holds one MTU-sized frame), so
 * frames of the host's own stack come with partial checksums. Each is
 * completed here over the frame already in the guest's receive buffer;
 * then, like a frame the kernel marked DATA_VALID, it carries "checksum
 * succeeded" where the guest asked for receive checksum offload of that
 * kind.
 * Nothing goes to the guest with a checksum that does not hold. */
#include <linux/if_tun.h>
#include <stddef.h>
#include <string.h>

#include "hnet_priv.h"
#include "net/ncsum.h"
#include "rt_log.h"

/* The flags of struct rndis_offload_state, a bit each in nic->offload:
 * the primary's engine sets them, every channel's worker reads them with
 * one relaxed load a frame. */
static const size_t flag_at[] = {
	offsetof(struct rndis_offload_state, tx_ip4),
	offsetof(struct rndis_offload_state, tx_tcp4),
	offsetof(struct rndis_offload_state, tx_udp4),
	offsetof(struct rndis_offload_state, tx_tcp6),
	offsetof(struct rndis_offload_state, tx_udp6),
	offsetof(struct rndis_offload_state, rx_ip4),
	offsetof(struct rndis_offload_state, rx_tcp4),
	offsetof(struct rndis_offload_state, rx_udp4),
	offsetof(struct rndis_offload_state, rx_tcp6),
	offsetof(struct rndis_offload_state, rx_udp6),
	offsetof(struct rndis_offload_state, lso4),
	offsetof(struct rndis_offload_state, lso6),
	offsetof(struct rndis_offload_state, rsc4),
	offsetof(struct rndis_offload_state, rsc6),
};

/* Bits of RSC in nic->offload (after rx_udp6 .. lso6 in flag_at). */
#define RSC4_BIT (1u << 12)
#define RSC6_BIT (1u << 13)

/* RSC of a family only with its receive TCP checksum offload: a
 * coalesced frame carries the host's verdict, its checksum value does
 * not hold. The readers take room for coalesced frames before the TAP
 * may make them, and the TAP stops before they stop (a frame read in
 * between is dropped and counted, never cut). */
void hnet_offload_set(struct hnet_nic *nic,
		      const struct rndis_offload_state *s)
{
	struct rndis_offload_state o = *s;
	uint32_t v = 0, was;

	o.rsc4 = o.rsc4 && o.rx_tcp4;
	o.rsc6 = o.rsc6 && o.rx_tcp6;
	for (unsigned i = 0; i < VMB_ARRAY_LEN(flag_at); i++)
		if (*(const bool *)((const char *)&o + flag_at[i]))
			v |= 1u << i;
	was = atomic_load_explicit(&nic->offload, memory_order_relaxed);
	if ((v & ~was) & (RSC4_BIT | RSC6_BIT)) {
		atomic_store_explicit(&nic->offload, v, memory_order_relaxed);
		hnet_rsc_tap(nic, o.rsc4, o.rsc6);
		return;
	}
	hnet_rsc_tap(nic, o.rsc4, o.rsc6);
	atomic_store_explicit(&nic->offload, v, memory_order_relaxed);
}

bool hnet_offload_rsc_on(const struct hnet_chan *ch)
{
	return atomic_load_explicit(&ch->nic->offload, memory_order_relaxed) &
	       (RSC4_BIT | RSC6_BIT);
}

static void state(const struct hnet_chan *ch, struct rndis_offload_state *s)
{
	uint32_t v = atomic_load_explicit(&ch->nic->offload,
					  memory_order_relaxed);

	for (unsigned i = 0; i < VMB_ARRAY_LEN(flag_at); i++)
		*(bool *)((char *)s + flag_at[i]) = v >> i & 1u;
}

uint32_t hnet_offload_caps(void)
{
	return RNDIS_HCAP_CSUM_IP4 | RNDIS_HCAP_CSUM_TCP4 |
	       RNDIS_HCAP_CSUM_UDP4 | RNDIS_HCAP_CSUM_TCP6 |
	       RNDIS_HCAP_CSUM_UDP6 | RNDIS_HCAP_LSO4 | RNDIS_HCAP_LSO6 |
	       RNDIS_HCAP_RSC;
}

void hnet_offload_tap(struct hnet_nic *nic)
{
	int rc = nic->bench ? 0 : rt_tap_set_offload(&nic->tap, TUN_F_CSUM);

	atomic_store(&nic->tun_flags, TUN_F_CSUM);
	if (rc)
		rt_warn("net", "%s: checksum offload not turned on: %s",
			nic->tap.name, strerror(-rc));
}

/* ---- transmit ---- */

/* Whether RNDIS agreed to what the guest asks (VNET_CSUM_* in o). */
static bool agreed(const struct rndis_offload_state *s,
		   const struct vnet_offload *o)
{
	bool v6 = o->csum & VNET_CSUM_IPV6;

	if (o->mss)
		return o->lso_v6 ? s->lso6 : s->lso4;
	if ((o->csum & VNET_CSUM_IP_HDR) && !s->tx_ip4)
		return false;
	if (o->csum & VNET_CSUM_TCP)
		return v6 ? s->tx_tcp6 : s->tx_tcp4;
	if (o->csum & VNET_CSUM_UDP)
		return v6 ? s->tx_udp6 : s->tx_udp4;
	return true;
}

static void offload_of(const struct rndis_pkt_meta *m, struct vnet_offload *o)
{
	memset(o, 0, sizeof(*o));
	if (m->present & RNDIS_META_LSO) {
		o->mss = m->lso_mss ? m->lso_mss : UINT32_MAX; /* 0: refused */
		o->l4_off = m->lso_thoff;
		o->lso_v6 = m->lso_ipv6;
		o->csum = m->lso_ipv6 ? VNET_CSUM_IPV6 : VNET_CSUM_IPV4;
	} else if (m->present & RNDIS_META_CSUM) {
		o->csum = (uint8_t)(m->csum & VNET_CSUM_ALL);
		o->l4_off = (m->csum >> RNDIS_CSUM_TX_THOFF_SHIFT) &
			    RNDIS_CSUM_TX_THOFF_MASK;
	}
}

/* The bytes at the frame's start that ncsum_tx_prepare() may write: the
 * IP header and the transport header it found. */
static uint32_t fixed_len(const struct nframe *f)
{
	return f->l4_hlen ? f->l4_off + f->l4_hlen : f->l4_off;
}

int hnet_offload_tx(struct hnet_chan *ch, const struct rndis_pkt *p,
		    struct vnet_hdr *h)
{
	uint8_t *frame = ch->msg + (p->data - ch->msg);
	struct rndis_offload_state s;
	struct vnet_offload o;
	struct nframe f;

	memset(h, 0, sizeof(*h));
	if (!(p->meta.present & (RNDIS_META_CSUM | RNDIS_META_LSO)))
		return 0;
	offload_of(&p->meta, &o);
	if (!o.mss && !(o.csum & (VNET_CSUM_TCP | VNET_CSUM_UDP |
				  VNET_CSUM_IP_HDR)))
		return 0;
	state(ch, &s);
	/* only the first HNET_PEEK bytes of the frame were copied: headers
	 * past them are refused, never read from the copy's stale bytes */
	if (!agreed(&s, &o) ||
	    nframe_parse(&f, frame, p->data_len, 0,
			 o.mss ? NFRAME_F_LSO : 0) != NFRAME_OK ||
	    fixed_len(&f) > HNET_PEEK ||
	    ncsum_tx_prepare(frame, &f, &o, h) != NCSUM_OK) {
		rt_ctr_add(&ch->tx_bad, 1);
		return -1;
	}
	rt_ctr_add(o.mss ? &ch->tx_lso : &ch->tx_csum, 1);
	return (int)fixed_len(&f);
}

/* ---- receive ---- */

/* "Checksum succeeded" for f's TCP or UDP, where the guest asked. */
static void rx_ppi(const struct hnet_chan *ch, const struct nframe *f,
		   struct rndis_pkt_meta *m)
{
	struct rndis_offload_state st, *s = &st;
	bool v6 = f->l3 == NFRAME_L3_IPV6;
	bool tcp = f->l4_proto == NFRAME_PROTO_TCP;

	if (f->l3 == NFRAME_L3_NONE || f->frag || !f->l4_hlen)
		return;
	state(ch, s);
	if (tcp ? !(v6 ? s->rx_tcp6 : s->rx_tcp4)
		: !(v6 ? s->rx_udp6 : s->rx_udp4))
		return;
	m->present |= RNDIS_META_CSUM;
	m->csum = tcp ? RNDIS_CSUM_RX_TCP_OK : RNDIS_CSUM_RX_UDP_OK;
}

/* A partial checksum is the TCP or UDP one when it sits there. */
static bool is_l4_csum(const struct nframe *f, const struct vnet_hdr *h)
{
	uint16_t at = f->l4_proto == NFRAME_PROTO_TCP ? VNET_CSUM_OFFSET_TCP
						      : VNET_CSUM_OFFSET_UDP;

	return vmb_le16(h->csum_start) == f->l4_off &&
	       vmb_le16(h->csum_offset) == at;
}

bool hnet_offload_rx(struct hnet_chan *ch, const uint8_t *vh, uint8_t *frame,
		     uint32_t len, struct rndis_pkt_meta *m)
{
	struct vnet_hdr h;
	struct nframe f;
	bool parsed;

	memcpy(&h, vh, sizeof(h));
	memset(m, 0, sizeof(*m));
	if (h.gso_type != VNET_HDR_GSO_NONE) {
		/* read before RSC went off (or never asked for) */
		rt_ctr_add(&ch->rx_csum_bad, 1);
		return false;
	}
	if (!(h.flags & (VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID)))
		return true;
	parsed = nframe_parse(&f, frame, len, 0, 0) == NFRAME_OK;
	if (!parsed || ncsum_rx_complete(frame, &f, &h) != NCSUM_L4_GOOD) {
		rt_ctr_add(&ch->rx_csum_bad, 1);
		return !(h.flags & VNET_HDR_F_NEEDS_CSUM);
	}
	if (h.flags & VNET_HDR_F_NEEDS_CSUM) {
		rt_ctr_add(&ch->rx_csum_sw, 1);
		if (!is_l4_csum(&f, &h))
			return true;
	}
	rx_ppi(ch, &f, m);
	if (m->present)
		rt_ctr_add(&ch->rx_csum_ok, 1);
	return true;
}

/* The IP length field of f's packet, as bytes from l3_off. */
static uint32_t ip_len(const uint8_t *frame, const struct nframe *f)
{
	const uint8_t *ip = frame + f->l3_off;

	return f->l3 == NFRAME_L3_IPV4 ? vmb_be16(ip + 2)
				       : 40u + vmb_be16(ip + 4);
}

static bool rsc_frame_ok(const struct hnet_chan *ch, const struct vnet_hdr *h,
			 const struct nframe *f, const uint8_t *head,
			 uint32_t len)
{
	uint8_t gso = h->gso_type & (uint8_t)~VNET_HDR_GSO_ECN;
	bool v6 = gso == VNET_HDR_GSO_TCPV6;
	uint32_t v = atomic_load_explicit(&ch->nic->offload,
					  memory_order_relaxed);

	return (v6 || gso == VNET_HDR_GSO_TCPV4) &&
	       (v & (v6 ? RSC6_BIT : RSC4_BIT)) &&
	       (h->flags & VNET_HDR_F_NEEDS_CSUM) &&
	       f->l3 == (v6 ? NFRAME_L3_IPV6 : NFRAME_L3_IPV4) && !f->frag &&
	       f->l4_proto == NFRAME_PROTO_TCP && f->l4_hlen &&
	       is_l4_csum(f, h) && ip_len(head, f) == len - f->l3_off;
}

bool hnet_offload_rsc(struct hnet_chan *ch, const uint8_t *vh, uint8_t *head,
		      uint32_t len, uint32_t have, struct rndis_pkt_meta *m)
{
	struct vnet_hdr h;
	struct nframe f;

	memcpy(&h, vh, sizeof(h));
	memset(m, 0, sizeof(*m));
	if (nframe_parse(&f, head, have < len ? have : len, 0,
			 NFRAME_F_HEAD) != NFRAME_OK ||
	    !rsc_frame_ok(ch, &h, &f, head, len)) {
		rt_ctr_add(&ch->rsc_bad, 1);
		return false;
	}
	if (f.l3 == NFRAME_L3_IPV4 && !ncsum_ip4_ok(head, &f))
		ncsum_ip4_fill(head, &f);
	m->present = RNDIS_META_CSUM;
	m->csum = RNDIS_CSUM_RX_TCP_OK | RNDIS_CSUM_RX_TCP_INVALID |
		  (f.l3 == NFRAME_L3_IPV4 ? RNDIS_CSUM_RX_IP_OK : 0u);
	return true;
}
