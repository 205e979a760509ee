/* netvsc's receive segment coalescing (RSC): a TCP frame of up to 64 KiB
 * the host coalesced comes as RNDIS PACKETs in several ranges of one
 * transfer-page packet, each with the PKTINFO_ID PPI (SUBALLOC, first
 * and last fragment flags); the first carries the checksum verdict.
 *
 * The pieces are gathered as iovecs into the receive buffer (the packet
 * is ours until completed, after its ranges are done) and go to the
 * channel's TAP queue with one writev behind a GSO virtio-net header, so
 * the kernel takes the frame as one GRO'd packet: gso_type TCPV4/TCPV6,
 * gso_size derived from the MTU and the frame's own IP and TCP headers
 * (the contract carries no MSS: Linux netvsc gives none either; a sender
 * on this MTU sends segments of that size), NEEDS_CSUM over the TCP
 * segment with the pseudo-header sum (the host vouched for the data:
 * "TCP checksum succeeded", whose value it leaves invalid), the IPv4
 * header checksum made again (RSC rewrote the length). The headers are
 * fixed in a copy (the host may change the buffer meanwhile), written
 * from there; the payload goes from where it lies.
 *
 * A malformed sequence is dropped whole and counted once (rx_rsc_bad):
 * a piece without a first, a first before the last of the one before,
 * a plain packet inside a sequence, a sequence left open at the end of
 * its transfer packet, more pieces or bytes than a frame has, headers
 * that do not say the frame (not TCP over IP, an IP length other than
 * the bytes gathered), a frame without the host's checksum verdict. */
#include <string.h>
#include <sys/uio.h>

#include "gnet_port.h"
#include "gnet_priv.h"
#include "net/ncsum.h"
#include "rt_log.h"

/* Bytes of the first piece copied to find and fix the headers in. */
#define HEAD_MAX 256u

static void rsc_drop(struct gnet_chan *ch)
{
	struct gnet_rsc *r = &ch->rsc;

	if (r->on && !r->bad)
		rt_ctr_add(&ch->rx_rsc_bad, 1);
	r->on = r->bad = false;
}

/* The header for frame f (total bytes, headers in head): GSO above one
 * segment of the MTU, a partial checksum either way. */
static bool rsc_hdr(struct gnet_chan *ch, uint8_t *head, struct nframe *f,
		    uint32_t total, struct vnet_hdr *h)
{
	bool v6 = f->l3 == NFRAME_L3_IPV6;
	uint32_t hdrs = f->l4_off + f->l4_hlen;
	uint32_t mss = ch->nic->rndis.info.mtu - (hdrs - f->l3_off);
	struct vnet_offload o = {
		.csum = (uint8_t)(VNET_CSUM_TCP |
				  (v6 ? VNET_CSUM_IPV6
				      : VNET_CSUM_IPV4 | VNET_CSUM_IP_HDR)),
		.l4_off = f->l4_off,
		.lso_v6 = v6,
	};

	if (mss < ch->nic->rndis.info.mtu && total - hdrs > mss)
		o.mss = mss;
	/* the lengths are the whole frame's; only headers are written */
	f->len = f->l3_end = total;
	return ncsum_tx_prepare(head, f, &o, h) == NCSUM_OK;
}

/* The first piece's headers parsed from head (hl bytes of it) and
 * checked against the frame gathered and the host's verdict. */
static bool rsc_head(struct gnet_chan *ch, uint8_t *head, uint32_t hl,
		     struct nframe *f)
{
	const struct gnet_rsc *r = &ch->rsc;
	const uint32_t bad = RNDIS_CSUM_RX_TCP_FAILED | RNDIS_CSUM_RX_IP_FAILED;
	uint32_t iplen;

	if (!(r->meta.present & RNDIS_META_CSUM) ||
	    !(r->meta.csum & RNDIS_CSUM_RX_TCP_OK) || (r->meta.csum & bad) ||
	    nframe_parse(f, head, hl, 0, NFRAME_F_HEAD) != NFRAME_OK ||
	    f->l3 == NFRAME_L3_NONE || f->frag ||
	    f->l4_proto != NFRAME_PROTO_TCP || !f->l4_hlen)
		return false;
	iplen = f->l3 == NFRAME_L3_IPV4 ? vmb_be16(head + f->l3_off + 2)
					: 40u + vmb_be16(head + f->l3_off + 4);
	return iplen == r->len - f->l3_off;
}

static void rsc_out(struct gnet_chan *ch)
{
	struct gnet_rsc *r = &ch->rsc;
	uint8_t head[HEAD_MAX], vh[RT_TAP_VNET_HDR_LEN] = {0};
	uint32_t hl = r->iov[2].iov_len < HEAD_MAX ? (uint32_t)r->iov[2].iov_len
						   : HEAD_MAX, hdrs;
	struct nframe f;

	memcpy(head, r->iov[2].iov_base, hl);
	if (!rsc_head(ch, head, hl, &f) ||
	    !rsc_hdr(ch, head, &f, r->len, (struct vnet_hdr *)vh)) {
		rt_ctr_add(&ch->rx_rsc_bad, 1);
		return;
	}
	hdrs = f.l4_off + f.l4_hlen;
	r->iov[0] = (struct iovec){vh, sizeof(vh)};
	r->iov[1] = (struct iovec){head, hdrs};
	r->iov[2].iov_base = (uint8_t *)r->iov[2].iov_base + hdrs;
	r->iov[2].iov_len -= hdrs;
	if (gnet_io_writev(ch, r->iov, r->n + 2) < 0) {
		rt_ctr_add(&ch->rx_drops, 1);
		return;
	}
	rt_ctr_add(&ch->rx_frames, 1);
	rt_ctr_add(&ch->rx_rsc, 1);
}

/* A piece joins the frame (or spoils it: dropped at its last). */
static void rsc_add(struct gnet_chan *ch, const struct rndis_pkt *pk)
{
	struct gnet_rsc *r = &ch->rsc;

	if (r->bad)
		return;
	if (r->n == GNET_RSC_PIECES || r->len + pk->data_len > GNET_RSC_FRAME) {
		rt_ctr_add(&ch->rx_rsc_bad, 1);
		r->bad = true;
		return;
	}
	r->iov[2 + r->n++] = (struct iovec){(void *)pk->data, pk->data_len};
	r->len += pk->data_len;
}

bool gnet_rsc_piece(struct gnet_chan *ch, const struct rndis_pkt *pk)
{
	struct gnet_rsc *r = &ch->rsc;
	uint8_t fl = pk->meta.rsc_flags;

	if (!(pk->meta.present & RNDIS_META_RSC) ||
	    !(fl & RNDIS_PKTID_SUBALLOC)) {
		rsc_drop(ch); /* a plain frame inside a sequence */
		return false;
	}
	if (fl & RNDIS_PKTID_FIRST) {
		rsc_drop(ch);
		r->on = true;
		r->n = r->len = 0;
		r->meta = pk->meta;
	} else if (!r->on) {
		rt_ctr_add(&ch->rx_rsc_bad, 1);
		r->on = r->bad = true;
	}
	rsc_add(ch, pk);
	if (fl & RNDIS_PKTID_LAST) {
		if (!r->bad)
			rsc_out(ch);
		r->on = r->bad = false;
	}
	return true;
}

void gnet_rsc_end(struct gnet_chan *ch)
{
	rsc_drop(ch);
}
