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

/* The bytes an iovec of request i would write from ch->msg, which the
 * next message overwrites, copied to the request's own scratch: at most
 * HNET_PEEK, the head hnet_offload_tx fixed (never more than HNET_PEEK)
 * or the 12 address bytes a VLAN tag follows (within that head, or
 * alone); the rest of a frame lies in guest memory. */
static void keep_head(struct hnet_chan *ch, unsigned i, struct iovec *v,
		      unsigned n)
{
	const uint8_t *msg = ch->msg;
	size_t used = 0;

	for (unsigned k = 1; k < n; k++) {
		const uint8_t *b = v[k].iov_base;

		if (b < msg || b >= msg + sizeof(ch->msg) ||
		    used + v[k].iov_len > HNET_PEEK)
			continue;
		memcpy(ch->tx_head[i] + used, b, v[k].iov_len);
		v[k].iov_base = ch->tx_head[i] + used;
		used += v[k].iov_len;
	}
}

/* The open run's request made whole: its headers and virtio-net header
 * as ngro_end() fixes them. */
static void run_end(struct hnet_chan *ch)
{
	struct rt_tapio_op *o = &ch->tio.op[ch->run_op];
	uint32_t hlen = ch->run.hlen;
	struct vnet_hdr h;

	if (!hlen)
		return;
	ngro_end(&ch->run, &h);
	memcpy(ch->tx_head[ch->run_op], ch->run.hdr, hlen);
	memcpy(o->hdr, &h, sizeof(h));
}

/* iov[1..n) from byte skip on into v: their count. */
static unsigned iov_from(struct iovec *v, const struct iovec *iov,
			 unsigned n, size_t skip)
{
	unsigned j = 1, k = 0;

	while (j < n && iov[j].iov_len <= skip)
		skip -= iov[j++].iov_len;
	for (; j < n; j++, skip = 0)
		v[k++] = (struct iovec){(uint8_t *)iov[j].iov_base + skip,
					iov[j].iov_len - skip};
	return k;
}

/* The frame's iovecs into the channel's burst behind its virtio-net
 * header, kept in the request; with a VLAN the tag goes in the request
 * too, between the addresses (from the worker's copy of the frame's
 * start) and the rest. false when the burst is full. */
static bool tx_queue(struct hnet_chan *ch, const struct iovec *iov,
		     unsigned n, const struct rndis_pkt *p, int32_t vlan)
{
	struct iovec *v = rt_tapio_iov(&ch->tio, n + 2);
	uint8_t *tag = NULL;
	struct rt_tapio_op *o;
	unsigned k = 1;

	if (!v)
		return false;
	run_end(ch);
	if (vlan) {
		v[1] = (struct iovec){(void *)p->data, NFRAME_ETH_TYPE};
		k = 3;
	}
	k += iov_from(v + k, iov, n, vlan ? NFRAME_ETH_TYPE : 0);
	o = rt_tapio_add(&ch->tio, k, true);
	memcpy(o->hdr, iov[0].iov_base, RT_TAP_VNET_HDR_LEN);
	v[0] = (struct iovec){o->hdr, RT_TAP_VNET_HDR_LEN};
	if (vlan) {
		tag = o->hdr + RT_TAP_VNET_HDR_LEN;
		vmb_put_be16(tag, NFRAME_ETH_P_8021Q);
		vmb_put_be16(tag + 2, (uint16_t)vlan); /* priority 0 */
		v[2] = (struct iovec){tag, NFRAME_TAG_LEN};
	}
	keep_head(ch, (unsigned)(o - ch->tio.op), v, k);
	ch->tx_segs[o - ch->tio.op] = 1;
	o->want = RT_TAP_VNET_HDR_LEN + p->data_len +
		  (vlan ? NFRAME_TAG_LEN : 0);
	o->cookie = p->data_len;
	ch->tx_held += o->want;
	return true;
}

/* The burst's frames to the TAP, counted (a merged run as the guest
 * frames it holds). */
static void tx_flush(struct hnet_chan *ch)
{
	unsigned n = ch->tio.nops;
	uint64_t frames = 0, bytes = 0;

	if (!n)
		return;
	run_end(ch);
	ch->tx_held = 0;
	hnet_port_run(ch, &ch->tx_calls);
	for (unsigned i = 0; i < n; i++) {
		const struct rt_tapio_op *o = &ch->tio.op[i];

		if (o->res != (int32_t)o->want) {
			rt_ctr_add(&ch->tx_err, ch->tx_segs[i]);
			continue;
		}
		frames += ch->tx_segs[i];
		bytes += o->cookie;
	}
	rt_ctr_add(&ch->tx_frames, frames);
	rt_ctr_add(&ch->tx_bytes, bytes);
}

void hnet_tx_flush(struct hnet_chan *ch)
{
	union nvsp_msg m;

	tx_flush(ch);
	for (unsigned i = 0; i < ch->ncomp; i++)
		hnet_send_comp(ch, ch->comp[i].xid, &m,
			       nvsp_host_rndis_done(&ch->eng,
						    ch->comp[i].status, &m));
	ch->ncomp = 0;
}

void hnet_tx_done(struct hnet_chan *ch, uint64_t xid, uint32_t status)
{
	union nvsp_msg m;

	if (ch->ncomp == HNET_COMP_MAX)
		hnet_tx_flush(ch);
	if (!ch->tio.nops) {
		hnet_send_comp(ch, xid, &m,
			       nvsp_host_rndis_done(&ch->eng, status, &m));
		return;
	}
	ch->comp[ch->ncomp++] = (struct hnet_comp){xid, status};
}

/* The frame (iov[2..n) its payload) merged into the open run when it
 * continues it and is the burst's last request; the run started with
 * it when it is queued alone but might take the next. */
static bool tx_merge(struct hnet_chan *ch, const struct rndis_pkt *p,
		     const struct vnet_hdr *h, uint32_t fixed,
		     const struct iovec *iov, unsigned n)
{
	struct ngro_seg s;
	struct rt_tapio_op *o;
	struct iovec *v;

	if (!fixed || n < 3 ||
	    !ngro_seg_of(p->data, fixed, p->data_len, h, &s) ||
	    s.hlen != fixed)
		return false;
	v = rt_tapio_more(&ch->tio, n - 2);
	if (!v || ch->run_op != ch->tio.nops - 1 ||
	    !ngro_join(&ch->run, p->data, &s))
		return false;
	memcpy(v, iov + 2, (n - 2) * sizeof(*v));
	rt_tapio_grow(&ch->tio, n - 2);
	o = &ch->tio.op[ch->run_op];
	o->want += s.plen;
	o->cookie += p->data_len;
	ch->tx_held += s.plen;
	ch->tx_segs[ch->run_op]++;
	rt_ctr_add(&ch->tx_gro, 1);
	return true;
}

/* A frame that may start a run, just queued as request nops - 1. */
static void run_start(struct hnet_chan *ch, const struct rndis_pkt *p,
		      const struct vnet_hdr *h, uint32_t fixed, unsigned n)
{
	struct ngro_seg s;

	if (fixed && n >= 3 &&
	    ngro_seg_of(p->data, fixed, p->data_len, h, &s) &&
	    s.hlen == fixed) {
		ngro_start(&ch->run, p->data, &s);
		ch->run_op = ch->tio.nops - 1;
	}
}

/* The frame behind its offloads' virtio-net header, queued; the bytes
 * the offloads fixed come from the worker's copy (kept with the
 * request), the rest from guest memory. Untagged TCP/IPv4 segments
 * that continue the one queued before join it (ngro.h). */
static void tx_frame(struct hnet_chan *ch, const struct rndis_pkt *p)
{
	uint8_t vnet[RT_TAP_VNET_HDR_LEN] = {0};
	struct iovec iov[HNET_IOV + 2] = {{vnet, sizeof(vnet)}};
	int fixed = hnet_offload_tx(ch, p, (struct vnet_hdr *)vnet);
	uint64_t off = (uint64_t)(p->data - ch->msg);
	unsigned n;
	int32_t vlan;

	if (fixed < 0)
		return;
	iov[1] = (struct iovec){(void *)p->data, (size_t)fixed};
	n = slice(ch, off + (uint32_t)fixed, p->data_len - (uint32_t)fixed,
		  iov + 1) + 1;
	vlan = hnet_sw_tx(ch, p->data, p->data_len, iov, n);
	if (vlan < 0)
		return;
	if (!vlan &&
	    tx_merge(ch, p, (struct vnet_hdr *)vnet, (uint32_t)fixed, iov, n))
		return;
	if (!tx_queue(ch, iov, n, p, vlan)) {
		tx_flush(ch);
		tx_queue(ch, iov, n, p, vlan);
	}
	if (!vlan)
		run_start(ch, p, (struct vnet_hdr *)vnet, (uint32_t)fixed, n);
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

	/* One message, however many frames it packs (tx_frames), written
	 * with the others of its ring batch, up to HNET_TX_HOLD_BYTES, in
	 * one system call (tx_calls). */
	rt_ctr_add(&ch->tx_msgs, 1);
	rndis_pkt_iter_init(&it, ch->msg, len, 1u << RNDIS_HOST_ALIGN_SHIFT);
	do {
		stage(ch, it.off, len);
		rc = rndis_pkt_next(&it, &p, &ch->ppi);
		if (rc == 1)
			tx_frame(ch, &p);
	} while (rc == 1);
	/* written later (hnet_tx_flush, at the batch's end or here once
	 * the burst is big), but before the guest hears the message is
	 * done (hnet_tx_done) */
	if (ch->tx_held >= HNET_TX_HOLD_BYTES)
		hnet_tx_flush(ch);
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

void hnet_port_open(struct hnet_chan *ch)
{
	ch->run.hlen = 0;
	ch->ncomp = 0;
	ch->tx_held = 0;
	if (!ch->nic->bench)
		rt_tapio_init(&ch->tio, ch->nic->tap.fd[ch->q],
			      ch->nic->tap.name);
	ch->rx_want = 2;
}

void hnet_port_close(struct hnet_chan *ch)
{
	if (!ch->nic->bench)
		rt_tapio_free(&ch->tio);
}

static ssize_t bench_call(void *arg, const struct rt_tapio_op *o,
			  const struct iovec *iov)
{
	struct hnet_chan *ch = arg;

	return o->write ? hnet_bench_writev(ch->nic->bench, iov, o->niov)
			: hnet_bench_readv(ch->nic->bench, ch->q, iov,
					   o->niov);
}

void hnet_port_run(struct hnet_chan *ch, rt_ctr *calls)
{
	uint64_t before = rt_ctr_get(&ch->tio.calls);

	if (ch->nic->bench)
		rt_tapio_run_fn(&ch->tio, bench_call, ch);
	else
		rt_tapio_run(&ch->tio);
	rt_ctr_add(calls, rt_ctr_get(&ch->tio.calls) - before);
}

/* Up to k frames nobody takes (no buffer, no filter, no room): read and
 * dropped, counted in why, so that the TAP does not stay readable.
 * Their count; *more when each read found one. */
static unsigned rx_discard(struct hnet_chan *ch, unsigned k, rt_ctr *why,
			   bool *more)
{
	struct iovec *v;
	unsigned n = 0, got = 0;

	/* one buffer for all: they are read one after the other */
	while (n < k && (v = rt_tapio_iov(&ch->tio, 1))) {
		*v = (struct iovec){ch->msg, sizeof(ch->msg)};
		rt_tapio_add(&ch->tio, 1, false);
		n++;
	}
	hnet_port_run(ch, &ch->rx_calls);
	for (unsigned i = 0; i < n; i++)
		got += ch->tio.op[i].res >= 0;
	rt_ctr_add(why, got);
	*more = n && got == n;
	return got;
}

/* A read of one frame into a sub-allocation queued: false when none is
 * free or the burst is full. A read fills what it is given and drops
 * the rest of the frame without a word, so one byte more than the room
 * (in the request's header bytes) tells a frame too long for it (a
 * tagged frame a bridge passed on, say), dropped and counted, never
 * handed on cut short. On a VLAN port the frame is read 4 bytes early
 * and its tag taken out (hnet_sw_untag). */
static bool rx_queue(struct hnet_chan *ch)
{
	struct hnet_nic *nic = ch->nic;
	struct iovec *v = rt_tapio_iov(&ch->tio, 3);
	uint32_t room = nic->rxb.sub_size - NVSP_HOST_RX_HEADER -
			NVSP_HOST_RX_FOOTER, id;
	uint32_t vlan = hnet_sw_rx_vlan(ch), lead = vlan ? 4 : 0;
	struct rt_tapio_op *o;

	if (!v || nvsp_rxbuf_alloc(&nic->rxb, ch->q, 1, &id))
		return false;
	o = rt_tapio_add(&ch->tio, 3, false);
	v[0] = (struct iovec){o->hdr, RT_TAP_VNET_HDR_LEN};
	v[1] = (struct iovec){nic->rbuf.va + (uint64_t)id * nic->rxb.sub_size +
				      NVSP_HOST_RX_HEADER - lead,
			      room + lead};
	v[2] = (struct iovec){o->hdr + RT_TAP_VNET_HDR_LEN, 1};
	o->cookie = id;
	o->want = vlan;
	return true;
}

/* The read of o done: its frame to the guest, or dropped, or (when the
 * TAP had none) its sub-allocation given back. 1 when it found a
 * frame. */
static unsigned rx_done(struct hnet_chan *ch, struct rt_tapio_op *o)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t room = nic->rxb.sub_size - NVSP_HOST_RX_HEADER -
			NVSP_HOST_RX_FOOTER, k;
	uint32_t id = o->cookie, lead = o->want ? 4 : 0;
	uint8_t *data = nic->rbuf.va + (uint64_t)id * nic->rxb.sub_size +
			NVSP_HOST_RX_HEADER;
	ssize_t n = (ssize_t)o->res - (ssize_t)RT_TAP_VNET_HDR_LEN;

	if (lead && n > 0 && n <= (ssize_t)(room + lead))
		n = hnet_sw_untag(ch, o->want, o->hdr, data - lead, n);
	if (n > 0 && n <= (ssize_t)room)
		return (unsigned)hnet_rx_frame(ch, id, o->hdr, (uint32_t)n);
	if (n > (ssize_t)room)
		rt_ctr_add(&ch->rx_long, 1);
	nvsp_rxbuf_free(&nic->rxb, ch->q, id, &k);
	return o->res >= 0;
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

/* One burst of up to k reads (fewer when the partition is short), one
 * system call for all; the frames it found. *more when each read found
 * one (the queue may hold more). */
static unsigned rx_burst(struct hnet_chan *ch, unsigned k, bool *more)
{
	bool rsc = hnet_offload_rsc_on(ch);
	unsigned n = 0, got = 0;

	while (n < k && (rsc ? hnet_rsc_queue(ch, n) : rx_queue(ch)))
		n++;
	if (!n)
		return rx_discard(ch, k, &ch->rx_full, more);
	hnet_port_run(ch, &ch->rx_calls);
	for (unsigned i = 0; i < n; i++)
		got += rsc ? hnet_rsc_done(ch, i, &ch->tio.op[i])
			   : rx_done(ch, &ch->tio.op[i]);
	*more = got == n;
	return got;
}

/* Bursts until the queue is empty or HNET_RX_BATCH frames came. Each
 * asks for as many frames as the last one found and one more (twice
 * as many when it found all): a read past the queue's end costs little
 * but is not free, nor is the sub-allocation it holds meanwhile. */
void hnet_rx(struct hnet_chan *ch)
{
	struct hnet_nic *nic = ch->nic;
	unsigned left = HNET_RX_BATCH, k, got;
	bool more = true;

	while (left && more) {
		k = ch->rx_want < left ? ch->rx_want : left;
		/* rx_on is off until the guest sets a filter, again after
		 * HALT and RESET */
		got = !nic->rx_ready || !nic->rx_on
			      ? rx_discard(ch, k, &ch->rx_idle, &more)
			      : rx_burst(ch, k, &more);
		left -= got;
		ch->rx_want = more ? 2 * k : got + 1;
		if (ch->rx_want < 2)
			ch->rx_want = 2;
		if (ch->rx_want > HNET_RX_BATCH)
			ch->rx_want = HNET_RX_BATCH;
	}
}
