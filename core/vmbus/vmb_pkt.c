/* VMBus packets: descriptors and type headers built on the stack and
 * handed to the ring as iovecs next to the caller's payload (which is
 * never copied here), and received packets parsed with every length,
 * count and offset checked against the packet's own bounds. */
#include "vmb_pkt.h"

#define DESC_LEN ((uint32_t)sizeof(struct vmb_pktdesc))

/* Sum of iovec lengths, or UINT64_MAX if a non-empty iovec has no base. */
static uint64_t iov_sum(const struct vmb_iov *iov, unsigned iovcnt)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].len && !iov[i].base)
			return UINT64_MAX;
		n += iov[i].len;
	}
	return n;
}

/* signal NULL: the packet joins the writer's burst (vmb_ring_put), to be
 * published by vmb_ring_commit. */
static int pkt_out(struct vmb_ring *r, const struct vmb_iov *v, unsigned n,
		   bool *signal)
{
	if (!signal)
		return vmb_ring_put(r, v, n);
	return vmb_ring_write(r, v, n, signal);
}

/* Fill the descriptor for a header of hdr_len bytes (a multiple of 8,
 * descriptor included) and payload_len bytes after it. */
static int desc_fill(struct vmb_pktdesc *d, uint16_t type, uint16_t flags,
		     uint64_t xid, uint64_t hdr_len, uint64_t payload_len)
{
	uint64_t total = hdr_len + payload_len;

	if (total > VMB_PKT_MAX_LEN)
		return VMB_EMSGSIZE;
	d->type = vmb_le16(type);
	d->offset8 = vmb_le16((uint16_t)(hdr_len / 8));
	d->len8 = vmb_le16((uint16_t)(VMB_ALIGN8((uint32_t)total) / 8));
	d->flags = vmb_le16(flags);
	d->xid = vmb_le64(xid);
	return VMB_OK;
}

int vmb_pkt_send_inband(struct vmb_ring *r, uint16_t flags, uint64_t xid,
			const struct vmb_iov *iov, unsigned iovcnt,
			bool *signal)
{
	struct vmb_iov v[VMB_PKT_MAX_IOV + 1];
	struct vmb_pktdesc d;
	uint64_t plen;
	int rc;

	if (signal)
		*signal = false;
	if (iovcnt > VMB_PKT_MAX_IOV || (iovcnt && !iov))
		return VMB_EINVAL;
	plen = iov_sum(iov, iovcnt);
	if (plen == UINT64_MAX)
		return VMB_EINVAL;
	rc = desc_fill(&d, VMB_PKT_INBAND, flags, xid, DESC_LEN, plen);
	if (rc)
		return rc;
	v[0] = (struct vmb_iov){ &d, DESC_LEN };
	for (unsigned i = 0; i < iovcnt; i++)
		v[i + 1] = iov[i];
	return pkt_out(r, v, iovcnt + 1, signal);
}

int vmb_pkt_send_comp(struct vmb_ring *r, uint64_t xid, const void *data,
		      uint32_t len, bool *signal)
{
	struct vmb_iov v[2];
	struct vmb_pktdesc d;
	int rc;

	if (signal)
		*signal = false;
	if (len && !data)
		return VMB_EINVAL;
	rc = desc_fill(&d, VMB_PKT_COMP, 0, xid, DESC_LEN, len);
	if (rc)
		return rc;
	v[0] = (struct vmb_iov){ &d, DESC_LEN };
	v[1] = (struct vmb_iov){ data, len };
	return pkt_out(r, v, 2, signal);
}

/* Header bytes of a GPA direct packet with these ranges (descriptor
 * included), or 0 if a range breaks the layout rules. */
static uint64_t gpa_hdr_len(const struct vmb_gpa_range *rg, unsigned nrg)
{
	uint64_t n = sizeof(struct vmb_gpa_direct_hdr);

	for (unsigned i = 0; i < nrg; i++) {
		if (rg[i].byte_offset >= VMB_PAGE_SIZE || !rg[i].byte_count ||
		    !rg[i].pfn ||
		    rg[i].pfn_count != vmb_gpa_pfn_count(rg[i].byte_offset,
							 rg[i].byte_count))
			return 0;
		n += sizeof(struct vmb_wire_gpa_range) +
		     (uint64_t)rg[i].pfn_count * sizeof(uint64_t);
	}
	return n;
}

int vmb_pkt_send_gpa(struct vmb_ring *r, uint16_t flags, uint64_t xid,
		     const struct vmb_gpa_range *rg, unsigned nrg,
		     const void *data, uint32_t len, bool *signal)
{
	struct vmb_iov v[2 + 2 * VMB_PKT_MAX_GPA_RANGES];
	struct vmb_wire_gpa_range wr[VMB_PKT_MAX_GPA_RANGES];
	struct vmb_gpa_direct_hdr h;
	uint64_t hlen;
	unsigned n = 0;
	int rc;

	if (signal)
		*signal = false;
	if (!nrg || nrg > VMB_PKT_MAX_GPA_RANGES || !rg || (len && !data))
		return VMB_EINVAL;
	hlen = gpa_hdr_len(rg, nrg);
	if (!hlen)
		return VMB_EINVAL;
	rc = desc_fill(&h.d, VMB_PKT_GPA_DIRECT, flags, xid, hlen, len);
	if (rc)
		return rc;
	h.reserved = 0;
	h.range_count = vmb_le32(nrg);
	v[n++] = (struct vmb_iov){ &h, sizeof(h) };
	for (unsigned i = 0; i < nrg; i++) {
		wr[i].byte_count = vmb_le32(rg[i].byte_count);
		wr[i].byte_offset = vmb_le32(rg[i].byte_offset);
		v[n++] = (struct vmb_iov){ &wr[i], sizeof(wr[i]) };
		/* PFNs go from the caller's array straight to the ring. */
		v[n++] = (struct vmb_iov){ rg[i].pfn,
					   rg[i].pfn_count * 8u };
	}
	v[n++] = (struct vmb_iov){ data, len };
	return pkt_out(r, v, n, signal);
}

int vmb_pkt_send_xfer(struct vmb_ring *r, uint16_t flags, uint64_t xid,
		      uint16_t set_id, const struct vmb_xfer_range *rg,
		      uint32_t nrg, const void *data, uint32_t len,
		      bool *signal)
{
	struct vmb_xfer_hdr h;
	struct vmb_iov v[3];
	uint64_t rlen = (uint64_t)nrg * sizeof(*rg);
	int rc;

	if (signal)
		*signal = false;
	if ((nrg && !rg) || (len && !data))
		return VMB_EINVAL;
	rc = desc_fill(&h.d, VMB_PKT_XFER_PAGES, flags, xid, sizeof(h) + rlen,
		       len);
	if (rc)
		return rc;
	h.xfer_pageset_id = vmb_le16(set_id);
	h.sender_owns_set = 0;
	h.reserved = 0;
	h.range_count = vmb_le32(nrg);
	v[0] = (struct vmb_iov){ &h, sizeof(h) };
	v[1] = (struct vmb_iov){ rg, (uint32_t)rlen };
	v[2] = (struct vmb_iov){ data, len };
	return pkt_out(r, v, 3, signal);
}

int vmb_pkt_parse(const void *buf, uint32_t len, struct vmb_pkt *p)
{
	struct vmb_pktdesc d;
	uint32_t off, plen;

	if (!buf || len < DESC_LEN)
		return VMB_EPROTO;
	vmb_memcpy(&d, buf, sizeof(d));
	off = (uint32_t)vmb_le16(d.offset8) * 8u;
	plen = (uint32_t)vmb_le16(d.len8) * 8u;
	if (off < DESC_LEN || off > plen || plen > len)
		return VMB_EPROTO;
	p->type = vmb_le16(d.type);
	p->flags = vmb_le16(d.flags);
	p->xid = vmb_le64(d.xid);
	p->raw = buf;
	p->len = plen;
	p->payload = p->raw + off;
	p->payload_len = plen - off;
	return VMB_OK;
}

static inline uint32_t rd_le32(const uint8_t *p)
{
	uint32_t v;

	vmb_memcpy(&v, p, sizeof(v));
	return vmb_le32(v);
}

/* Check one GPA range at byte pos of the header area [0, end) and fill
 * out; returns the position after its PFNs, or 0 if malformed. */
static uint64_t gpa_range_at(const struct vmb_pkt *p, uint64_t pos,
			     uint32_t end, struct vmb_gpa_range *out)
{
	struct vmb_gpa_range g;

	if (pos + sizeof(struct vmb_wire_gpa_range) > end)
		return 0;
	g.byte_count = rd_le32(p->raw + pos);
	g.byte_offset = rd_le32(p->raw + pos + 4);
	if (g.byte_offset >= VMB_PAGE_SIZE || !g.byte_count)
		return 0;
	g.pfn_count = vmb_gpa_pfn_count(g.byte_offset, g.byte_count);
	pos += sizeof(struct vmb_wire_gpa_range);
	if (pos + (uint64_t)g.pfn_count * 8u > end)
		return 0;
	g.pfn = (const uint64_t *)(const void *)(p->raw + pos);
	if (out)
		*out = g;
	return pos + (uint64_t)g.pfn_count * 8u;
}

int vmb_pkt_gpa_ranges(const struct vmb_pkt *p, struct vmb_gpa_range *out,
		       unsigned max, unsigned *n)
{
	uint32_t end = p->len - p->payload_len; /* offset8 * 8 */
	uint32_t cnt;
	uint64_t pos = sizeof(struct vmb_gpa_direct_hdr);

	*n = 0;
	/* PFNs are read as uint64_t in place: the copy must be aligned. */
	if (p->type != VMB_PKT_GPA_DIRECT || ((uintptr_t)p->raw & 7u))
		return VMB_EINVAL;
	if (end < pos)
		return VMB_EPROTO;
	cnt = rd_le32(p->raw + offsetof(struct vmb_gpa_direct_hdr,
					range_count));
	/* No bound on cnt needed here: every range takes at least 16 bytes
	 * and is checked against end, so an overlarge count fails within
	 * (end - pos) / 16 ranges. */
	if (!cnt)
		return VMB_EPROTO;
	for (uint32_t i = 0; i < cnt; i++) {
		pos = gpa_range_at(p, pos, end, i < max ? &out[i] : NULL);
		if (!pos)
			return VMB_EPROTO;
	}
	*n = cnt;
	return cnt > max ? VMB_EMSGSIZE : VMB_OK;
}

int vmb_pkt_xfer_ranges(const struct vmb_pkt *p, uint16_t *set_id,
			const struct vmb_xfer_range **rg, uint32_t *n)
{
	uint32_t end = p->len - p->payload_len;
	const struct vmb_xfer_hdr *h = (const void *)p->raw;
	const struct vmb_xfer_range *r;
	uint32_t cnt;

	*n = 0;
	if (p->type != VMB_PKT_XFER_PAGES)
		return VMB_EINVAL;
	if (end < sizeof(*h))
		return VMB_EPROTO;
	cnt = vmb_le32(h->range_count);
	if ((uint64_t)cnt * sizeof(*r) > end - sizeof(*h))
		return VMB_EPROTO;
	r = (const void *)(p->raw + sizeof(*h));
	/* A range whose end does not fit 32 bits cannot lie in any buffer;
	 * the device checks the rest against its own buffer size. */
	for (uint32_t i = 0; i < cnt; i++)
		if ((uint64_t)vmb_le32(r[i].byte_offset) +
		    vmb_le32(r[i].byte_count) > UINT32_MAX)
			return VMB_EPROTO;
	*set_id = vmb_le16(h->xfer_pageset_id);
	*rg = r;
	*n = cnt;
	return VMB_OK;
}
