/* netvsp's data plane on one channel. Guest to host: the RNDIS PACKETs of
 * a SEND_RNDIS_PKT, parsed from a copy (the guest may change its memory
 * meanwhile), each frame written to the TAP straight from guest memory
 * behind a virtio-net header. Host to guest: frames read from the TAP
 * straight into receive-buffer sub-allocations, past the RNDIS header
 * room, the header written in front, one transfer-page packet each and
 * one signal per batch. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hnet_priv.h"

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
	uint8_t *dst = ch->msg;

	ch->ngiov = 0;
	len = r->section != NVSP_SECTION_NONE ? section_get(ch, r)
					      : ranges_get(ch, r);
	if (len < 0) {
		rt_ctr_add(&ch->tx_bad, 1);
		return -1;
	}
	for (unsigned i = 0; i < ch->ngiov; i++) {
		memcpy(dst, ch->giov[i].iov_base, ch->giov[i].iov_len);
		dst += ch->giov[i].iov_len;
	}
	return len;
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

static void tx_frame(struct hnet_chan *ch, const struct rndis_pkt *p)
{
	static const uint8_t vnet[RT_TAP_VNET_HDR_LEN];
	struct iovec iov[HNET_IOV + 1] = {{(void *)vnet, sizeof(vnet)}};
	unsigned n = slice(ch, (uint64_t)(p->data - ch->msg), p->data_len, iov);
	uint32_t len = hnet_sw_tx(ch, p->data, p->data_len, iov, &n);
	ssize_t w = len ? writev(ch->nic->tap.fd[0], iov, (int)n) : 0;

	if (!len)
		return;
	if (w != (ssize_t)(sizeof(vnet) + len)) {
		rt_ctr_add(&ch->tx_err, 1);
		return;
	}
	rt_ctr_add(&ch->tx_frames, 1);
	rt_ctr_add(&ch->tx_bytes, p->data_len);
}

bool hnet_tx(struct hnet_chan *ch, uint32_t len)
{
	struct rndis_pkt_iter it;
	struct rndis_pkt p;
	int rc;

	rndis_pkt_iter_init(&it, ch->msg, len, 1u << RNDIS_HOST_ALIGN_SHIFT);
	while ((rc = rndis_pkt_next(&it, &p, &ch->ppi)) == 1)
		tx_frame(ch, &p);
	if (rc < 0)
		rt_ctr_add(&ch->tx_bad, 1);
	return rc == 0;
}

bool hnet_put_xfer(struct hnet_chan *ch, uint32_t id, uint32_t off,
		   uint32_t len, uint32_t channel_type)
{
	struct vmb_xfer_range r = {
		.byte_count = vmb_le32(len),
		.byte_offset = vmb_le32(id * ch->rxb.sub_size + off),
	};
	union nvsp_msg m;
	uint32_t mlen = nvsp_host_rndis_pkt(&ch->eng, channel_type, &m), n;

	if (rt_chan_put_xfer(ch->c->rt, id, VMB_PKT_FLAG_COMPLETION_REQUESTED,
			     NVSP_RECV_BUF_ID, &r, 1, &m, mlen,
			     channel_type == NVSP_CHANNEL_DATA) == VMB_OK)
		return true;
	nvsp_rxbuf_free(&ch->rxb, 0, id, &n);
	return false;
}

/* A frame nobody takes (no buffer, no filter, no room): read and drop,
 * so that the TAP does not stay readable. false once it is empty. */
static bool discard(struct hnet_chan *ch, rt_ctr *why)
{
	if (read(ch->nic->tap.fd[0], ch->msg, sizeof(ch->msg)) < 0)
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
static ssize_t rx_read(struct hnet_chan *ch, uint32_t id)
{
	uint8_t vnet[RT_TAP_VNET_HDR_LEN], over;
	uint8_t *base = ch->rbuf.va + (uint64_t)id * ch->rxb.sub_size;
	uint32_t room = ch->rxb.sub_size - NVSP_HOST_RX_HEADER -
			NVSP_HOST_RX_FOOTER, k;
	uint32_t vlan = hnet_sw_rx_vlan(ch), lead = vlan ? 4 : 0;
	struct iovec iov[3] = {
		{vnet, sizeof(vnet)},
		{base + NVSP_HOST_RX_HEADER - lead, room + lead},
		{&over, 1},
	};
	ssize_t n = readv(ch->nic->tap.fd[0], iov, 3) - (ssize_t)sizeof(vnet);

	if (lead && n > 0 && n <= (ssize_t)(room + lead))
		n = hnet_sw_untag(ch, vlan, iov[1].iov_base, n);
	if (n > 0 && n <= (ssize_t)room)
		return n;
	if (n > (ssize_t)room)
		rt_ctr_add(&ch->rx_long, 1);
	nvsp_rxbuf_free(&ch->rxb, 0, id, &k);
	return n < -(ssize_t)sizeof(vnet) ? -1 : 0;
}

/* 1: a frame went (or was dropped), 0: the TAP is empty. */
static int rx_one(struct hnet_chan *ch, bool *burst)
{
	static const struct rndis_pkt_meta meta;
	uint32_t id, hlen = rndis_pkt_hdr_len(&meta);
	ssize_t n;

	/* the engine's filter is 0 until the guest sets one, again after
	 * HALT and RESET */
	if (!ch->rx_ready || ch->rndis.state != RNDIS_HS_READY ||
	    !ch->rndis.filter)
		return discard(ch, &ch->rx_idle);
	if (nvsp_rxbuf_alloc(&ch->rxb, 0, 1, &id))
		return discard(ch, &ch->rx_full);
	n = rx_read(ch, id);
	if (n <= 0)
		return n == 0;
	if (!hnet_sw_rx(ch, id, (uint32_t)n))
		return 1;
	rndis_pkt_build(ch->rbuf.va + (uint64_t)id * ch->rxb.sub_size +
				NVSP_HOST_RX_HEADER - hlen,
			hlen, &meta, (uint32_t)n);
	if (!*burst)
		rt_chan_tx_begin(ch->c->rt);
	*burst = true;
	if (hnet_put_xfer(ch, id, NVSP_HOST_RX_HEADER - hlen,
			  hlen + (uint32_t)n, NVSP_CHANNEL_DATA)) {
		rt_ctr_add(&ch->rx_frames, 1);
		rt_ctr_add(&ch->rx_bytes, (uint64_t)n);
	} else {
		rt_ctr_add(&ch->rx_ring_full, 1);
	}
	return 1;
}

void hnet_rx(struct hnet_chan *ch)
{
	bool burst = false;

	for (unsigned i = 0; i < HNET_RX_BATCH && rx_one(ch, &burst); i++)
		;
	if (burst)
		rt_chan_tx_end(ch->c->rt);
}
