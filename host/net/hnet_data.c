/* netvsp's data plane on one channel. Guest to host: the RNDIS PACKETs of
 * a SEND_RNDIS_PKT, parsed from a copy of their headers (the guest may
 * change its memory meanwhile), each frame written to the channel's TAP
 * queue straight from guest memory behind a virtio-net header. Host to
 * guest: frames read from the channel's TAP queue straight into
 * sub-allocations of its partition of the receive buffer, past the RNDIS
 * header room, the header written in front, then steered (hnet_rss.c):
 * the frames of a burst for one channel in transfer-page packets of
 * several ranges, one signal per channel and batch. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hnet_port.h"

/* A GPA range's bytes as iovecs into guest memory, appended to ch->giov;
 * false when a page is outside guest memory or there are too many. */
static bool range_iov(struct hnet_chan *ch, const struct vmb_gpa_range *r)
{
	const struct rt_gmem *m = &ch->c->vm->gmem;
	uint32_t off = r->byte_offset, left = r->byte_count;

	for (uint32_t i = 0; left && i < r->pfn_count; i++) {
		uint32_t chunk = 4096u - off < left ? 4096u - off : left;
		uint8_t *p = rt_gmem_ptr(m, (r->pfn[i] << 12) + off, chunk);

		if (!p || ch->ngiov == HNET_IOV)
			return false;
		ch->giov[ch->ngiov++] = (struct iovec){p, chunk};
		left -= chunk;
		off = 0;
	}
	return left == 0;
}

static int64_t ranges_get(struct hnet_chan *ch, const struct nvsp_host_rndis *r)
{
	uint64_t len = 0;

	for (uint32_t i = 0; i < r->nranges; i++) {
		len += r->ranges[i].byte_count;
		if (len > HNET_MSG_MAX || !range_iov(ch, &r->ranges[i]))
			return -1;
	}
	return (int64_t)len;
}

static int64_t section_get(struct hnet_chan *ch,
			   const struct nvsp_host_rndis *r)
{
	if (!ch->sbuf.va || r->size > HNET_MSG_MAX ||
	    (uint64_t)r->offset + r->size > ch->sbuf.len)
		return -1;
	ch->giov[ch->ngiov++] = (struct iovec){ch->sbuf.va + r->offset,
					       r->size};
	return r->size;
}

int64_t hnet_msg_get(struct hnet_chan *ch, const struct nvsp_host_rndis *r)
{
	int64_t len;

	ch->ngiov = 0;
	len = r->section != NVSP_SECTION_NONE ? section_get(ch, r)
					      : ranges_get(ch, r);
	if (len < 0)
		rt_ctr_add(&ch->tx_bad, 1);
	return len;
}

void hnet_msg_copy(struct hnet_chan *ch, uint32_t off, uint32_t len)
{
	uint64_t pos = 0;

	for (unsigned i = 0; len && i < ch->ngiov; i++) {
		uint64_t l = ch->giov[i].iov_len, skip, n;

		if (off >= pos + l) {
			pos += l;
			continue;
		}
		skip = off - pos;
		n = l - skip < len ? l - skip : len;
		memcpy(ch->msg + off, (uint8_t *)ch->giov[i].iov_base + skip, n);
		off += (uint32_t)n;
		len -= (uint32_t)n;
		pos += l;
	}
}

/* len bytes from offset off of the message, as iovecs into guest memory
 * after out[0]; their count plus one. */
static unsigned slice(const struct hnet_chan *ch, uint64_t off, uint32_t len,
		      struct iovec *out)
{
	unsigned n = 1;

	for (unsigned i = 0; len && i < ch->ngiov; i++) {
		uint64_t l = ch->giov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l = l - off < len ? l - off : len;
		out[n++] = (struct iovec){(uint8_t *)ch->giov[i].iov_base + off,
					  l};
		len -= (uint32_t)l;
		off = 0;
	}
	return n;
}

/* The frame behind its offloads' virtio-net header; the bytes the
 * offloads fixed come from the worker's copy, the rest from guest
 * memory. */
static void tx_frame(struct hnet_chan *ch, const struct rndis_pkt *p)
{
	uint8_t vnet[RT_TAP_VNET_HDR_LEN] = {0};
	/* room for the switch port's VLAN tag (hnet_sw_tx) */
	struct iovec iov[HNET_IOV + 4] = {{vnet, sizeof(vnet)}};
	int fixed = hnet_offload_tx(ch, p, (struct vnet_hdr *)vnet);
	uint64_t off = (uint64_t)(p->data - ch->msg);
	unsigned n;
	uint32_t len;
	ssize_t w;

	if (fixed < 0)
		return;
	iov[1] = (struct iovec){(void *)p->data, (size_t)fixed};
	n = slice(ch, off + (uint32_t)fixed, p->data_len - (uint32_t)fixed,
		  iov + 1) + 1;
	len = hnet_sw_tx(ch, p->data, p->data_len, iov, &n);
	if (!len)
		return;
	w = hnet_port_writev(ch->nic, ch->q, iov, (int)n);
	if (w != (ssize_t)(sizeof(vnet) + len)) {
		rt_ctr_add(&ch->tx_err, 1);
		return;
	}
	rt_ctr_add(&ch->tx_frames, 1);
	rt_ctr_add(&ch->tx_bytes, p->data_len);
}

/* Before the walk reads the PACKET at off: its header, its PPIs and the
 * first HNET_PEEK bytes of its frame copied out of guest memory (the
 * guest may change them while they are checked); the rest of the frame
 * goes to the TAP from where it lies. */
static void stage(struct hnet_chan *ch, uint32_t off, uint32_t len)
{
	struct rndis_span s[2];
	unsigned n;

	if (len - off < sizeof(struct rndis_packet))
		return;
	hnet_msg_copy(ch, off, sizeof(struct rndis_packet));
	n = rndis_pkt_spans(ch->msg + off, len - off, HNET_PEEK, s);
	for (unsigned i = 0; i < n; i++)
		hnet_msg_copy(ch, off + s[i].off, s[i].len);
}

bool hnet_tx(struct hnet_chan *ch, uint32_t len)
{
	struct rndis_pkt_iter it;
	struct rndis_pkt p;
	int rc;

	/* One message, however many frames it packs (tx_frames). */
	rt_ctr_add(&ch->tx_msgs, 1);
	rndis_pkt_iter_init(&it, ch->msg, len, 1u << RNDIS_HOST_ALIGN_SHIFT);
	do {
		stage(ch, it.off, len);
		rc = rndis_pkt_next(&it, &p, &ch->ppi);
		if (rc == 1)
			tx_frame(ch, &p);
	} while (rc == 1);
	if (rc < 0)
		rt_ctr_add(&ch->tx_bad, 1);
	return rc == 0;
}

bool hnet_put_ranges(struct hnet_chan *ch, uint32_t id,
		     const struct vmb_xfer_range *r, unsigned n,
		     uint32_t channel_type)
{
	union nvsp_msg m;
	uint32_t mlen = nvsp_host_rndis_pkt(&ch->eng, channel_type, &m);

	return rt_chan_put_xfer(ch->c->rt, id,
				VMB_PKT_FLAG_COMPLETION_REQUESTED,
				NVSP_RECV_BUF_ID, r, n, &m, mlen,
				channel_type == NVSP_CHANNEL_DATA) == VMB_OK;
}

bool hnet_put_xfer(struct hnet_chan *ch, uint32_t id, uint32_t off,
		   uint32_t len, uint32_t channel_type)
{
	struct vmb_xfer_range r = {
		.byte_count = vmb_le32(len),
		.byte_offset = vmb_le32(id * ch->nic->rxb.sub_size + off),
	};

	return hnet_put_ranges(ch, id, &r, 1, channel_type);
}

/* A frame nobody takes (no buffer, no filter, no room): read and drop,
 * so that the TAP does not stay readable. false once it is empty. */
bool hnet_rx_discard(struct hnet_chan *ch, rt_ctr *why)
{
	struct iovec all = {ch->msg, sizeof(ch->msg)};

	if (hnet_port_readv(ch->nic, ch->q, &all, 1) < 0)
		return false;
	rt_ctr_add(why, 1);
	return true;
}

/* One frame into sub-allocation id; its length, 0 when it was dropped,
 * or -1 when the TAP had none (id given back in both). A read fills
 * what it is given and drops the rest of the frame without a word, so
 * one byte more than the room tells a frame too long for it (a tagged
 * frame a bridge passed on, say), dropped and counted, never handed on
 * cut short. On a VLAN port the frame is read 4 bytes early and its tag
 * taken out (hnet_sw_untag). */
static ssize_t rx_read(struct hnet_chan *ch, uint32_t id,
		       uint8_t vnet[RT_TAP_VNET_HDR_LEN])
{
	uint8_t over;
	uint8_t *base = ch->nic->rbuf.va + (uint64_t)id * ch->nic->rxb.sub_size;
	uint32_t room = ch->nic->rxb.sub_size - NVSP_HOST_RX_HEADER -
			NVSP_HOST_RX_FOOTER, k;
	uint32_t vlan = hnet_sw_rx_vlan(ch), lead = vlan ? 4 : 0;
	struct iovec iov[3] = {
		{vnet, RT_TAP_VNET_HDR_LEN},
		{base + NVSP_HOST_RX_HEADER - lead, room + lead},
		{&over, 1},
	};
	ssize_t n = hnet_port_readv(ch->nic, ch->q, iov, 3) -
		    (ssize_t)RT_TAP_VNET_HDR_LEN;

	if (lead && n > 0 && n <= (ssize_t)(room + lead))
		n = hnet_sw_untag(ch, vlan, vnet, iov[1].iov_base, n);
	if (n > 0 && n <= (ssize_t)room)
		return n;
	if (n > (ssize_t)room)
		rt_ctr_add(&ch->rx_long, 1);
	nvsp_rxbuf_free(&ch->nic->rxb, ch->q, id, &k);
	return n < -(ssize_t)RT_TAP_VNET_HDR_LEN ? -1 : 0;
}

int hnet_rx_frame(struct hnet_chan *ch, uint32_t id,
		  const uint8_t vnet[RT_TAP_VNET_HDR_LEN], uint32_t n)
{
	struct hnet_nic *nic = ch->nic;
	uint8_t *base = nic->rbuf.va + (uint64_t)id * nic->rxb.sub_size;
	struct rndis_pkt_meta meta;
	uint32_t hlen, k;

	if (!hnet_sw_rx(ch, id, n))
		return 1;
	if (!hnet_offload_rx(ch, vnet, base + NVSP_HOST_RX_HEADER, n, &meta)) {
		nvsp_rxbuf_free(&nic->rxb, ch->q, id, &k);
		return 1;
	}
	hlen = rndis_pkt_hdr_len(&meta);
	rndis_pkt_build(base + NVSP_HOST_RX_HEADER - hlen, hlen, &meta, n);
	hnet_rss_add(ch, id, NVSP_HOST_RX_HEADER - hlen, hlen + n,
		     base + NVSP_HOST_RX_HEADER, n);
	return 1;
}

/* 1: a frame went (or was dropped), 0: the TAP is empty. */
static int rx_one(struct hnet_chan *ch)
{
	uint8_t vnet[RT_TAP_VNET_HDR_LEN];
	struct hnet_nic *nic = ch->nic;
	uint32_t id;
	ssize_t n;

	/* rx_on is off until the guest sets a filter, again after HALT and
	 * RESET */
	if (!nic->rx_ready || !nic->rx_on)
		return hnet_rx_discard(ch, &ch->rx_idle);
	if (hnet_offload_rsc_on(ch))
		return hnet_rsc_rx(ch);
	if (nvsp_rxbuf_alloc(&nic->rxb, ch->q, 1, &id))
		return hnet_rx_discard(ch, &ch->rx_full);
	n = rx_read(ch, id, vnet);
	if (n <= 0)
		return n == 0;
	return hnet_rx_frame(ch, id, vnet, (uint32_t)n);
}

void hnet_rx(struct hnet_chan *ch)
{
	for (unsigned i = 0; i < HNET_RX_BATCH && rx_one(ch); i++)
		;
}
