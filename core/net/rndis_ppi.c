/* RNDIS PACKET messages: parse, walk, build, aggregate. */
#include "net/rndis_ppi.h"

static const char *const bad_names[RNDIS_PBAD__COUNT] = {
	[RNDIS_PBAD_SHORT] = "short",
	[RNDIS_PBAD_TYPE] = "type",
	[RNDIS_PBAD_MSGLEN] = "msg-len",
	[RNDIS_PBAD_DATA] = "data",
	[RNDIS_PBAD_OOB] = "oob",
	[RNDIS_PBAD_VC] = "vc-handle",
	[RNDIS_PBAD_PPI_AREA] = "ppi-area",
	[RNDIS_PBAD_PPI_SIZE] = "ppi-size",
	[RNDIS_PBAD_PPI_OFFSET] = "ppi-offset",
	[RNDIS_PBAD_PPI_VALUE] = "ppi-value",
};

const char *rndis_ppi_bad_name(enum rndis_ppi_bad b)
{
	return (unsigned)b < RNDIS_PBAD__COUNT ? bad_names[b] : "?";
}

/* The first byte a data or PPI offset may name: past the header. */
#define BODY_OFF (sizeof(struct rndis_packet) - RNDIS_OFF_BASE)

/* Whether [RNDIS_OFF_BASE + off, + len) lies past the header and inside
 * msg_len; 64-bit so that no sum wraps. */
static bool area_ok(uint32_t off, uint32_t len, uint32_t msg_len)
{
	return off >= BODY_OFF &&
	       (uint64_t)RNDIS_OFF_BASE + off + len <= msg_len;
}

static uint16_t vlan_from_ppi(uint32_t v)
{
	uint32_t prio = v & RNDIS_VLAN_PRIO_MASK;
	uint32_t cfi = (v & RNDIS_VLAN_CFI) ? 1 : 0;
	uint32_t vid = (v >> RNDIS_VLAN_VID_SHIFT) & RNDIS_VLAN_VID_MASK;

	return (uint16_t)(prio << 13 | cfi << 12 | vid);
}

static uint32_t vlan_to_ppi(uint16_t tci)
{
	return (uint32_t)(tci >> 13) | ((tci >> 12) & 1u) << 3 |
	       (uint32_t)(tci & RNDIS_VLAN_VID_MASK) << RNDIS_VLAN_VID_SHIFT;
}

static void set_lso(struct rndis_pkt_meta *m, uint32_t v)
{
	m->lso_mss = v & RNDIS_LSO_MSS_MASK;
	m->lso_thoff = (uint16_t)((v >> RNDIS_LSO_THOFF_SHIFT) &
				  RNDIS_LSO_THOFF_MASK);
	m->lso_ipv6 = (v & RNDIS_LSO_IPV6) != 0;
}

static uint32_t get_lso(const struct rndis_pkt_meta *m)
{
	return (m->lso_mss & RNDIS_LSO_MSS_MASK) |
	       (uint32_t)(m->lso_thoff & RNDIS_LSO_THOFF_MASK)
		       << RNDIS_LSO_THOFF_SHIFT |
	       RNDIS_LSO_V2 | (m->lso_ipv6 ? RNDIS_LSO_IPV6 : 0);
}

/* A known PPI's 4-byte value into m; false for a type not decoded. */
static bool decode_one(struct rndis_pkt_meta *m, uint32_t type,
		       const uint8_t *val)
{
	uint32_t v = rndis_rd32(val);

	switch (type) {
	case RNDIS_PPI_CSUM:
		m->csum = v;
		m->present |= RNDIS_META_CSUM;
		return true;
	case RNDIS_PPI_LSO:
		set_lso(m, v);
		m->present |= RNDIS_META_LSO;
		return true;
	case RNDIS_PPI_8021Q:
		m->vlan_tci = vlan_from_ppi(v);
		m->present |= RNDIS_META_VLAN;
		return true;
	case RNDIS_PPI_HASH_VALUE:
		m->hash_value = v;
		m->present |= RNDIS_META_HASH_VALUE;
		return true;
	case RNDIS_PPI_HASH_INFO:
		m->hash_info = v;
		m->present |= RNDIS_META_HASH_INFO;
		return true;
	case RNDIS_PPI_PKTINFO_ID:
		if (val[0] != RNDIS_PKTID_VERSION)
			return false;
		m->rsc_flags = val[1];
		m->rsc_id = (uint16_t)(val[2] | val[3] << 8);
		m->present |= RNDIS_META_RSC;
		return true;
	default:
		return false;
	}
}

static bool type_known(uint32_t type)
{
	return type == RNDIS_PPI_CSUM || type == RNDIS_PPI_LSO ||
	       type == RNDIS_PPI_8021Q || type == RNDIS_PPI_HASH_VALUE ||
	       type == RNDIS_PPI_HASH_INFO || type == RNDIS_PPI_PKTINFO_ID;
}

/* The PPI area at a (n bytes, already inside the message). */
static int decode_ppis(const uint8_t *a, uint32_t n, struct rndis_pkt *p,
		       enum rndis_ppi_bad *why)
{
	while (n) {
		uint32_t size = n >= 12 ? rndis_rd32(a) : 0;
		uint32_t type = n >= 12 ? rndis_rd32(a + 4) : 0;

		if (size < sizeof(struct rndis_ppi_hdr) || size % 4 ||
		    size > n) {
			*why = RNDIS_PBAD_PPI_SIZE;
			return VMB_EPROTO;
		}
		if (rndis_rd32(a + 8) != sizeof(struct rndis_ppi_hdr)) {
			*why = RNDIS_PBAD_PPI_OFFSET;
			return VMB_EPROTO;
		}
		if (type_known(type) && size < sizeof(struct rndis_ppi_hdr) + 4) {
			*why = RNDIS_PBAD_PPI_VALUE;
			return VMB_EPROTO;
		}
		if (!type_known(type) || !decode_one(&p->meta, type, a + 12))
			p->unknown_ppi++;
		a += size;
		n -= size;
	}
	return 0;
}

static int check_hdr(const struct rndis_packet *h, uint32_t len,
		     enum rndis_ppi_bad *why)
{
	uint32_t ml = vmb_le32(h->hdr.msg_len);
	uint32_t dlen = vmb_le32(h->data_len);
	uint32_t poff = vmb_le32(h->ppi_offset), plen = vmb_le32(h->ppi_len);

	if (vmb_le32(h->hdr.type) != RNDIS_MSG_PACKET)
		*why = RNDIS_PBAD_TYPE;
	else if (ml < sizeof(*h) || ml > len)
		*why = RNDIS_PBAD_MSGLEN;
	else if (!dlen || !area_ok(vmb_le32(h->data_offset), dlen, ml))
		*why = RNDIS_PBAD_DATA;
	else if (h->num_oob || h->oob_len)
		*why = RNDIS_PBAD_OOB;
	else if (h->vc_handle)
		*why = RNDIS_PBAD_VC;
	else if (plen && (poff % 4 || !area_ok(poff, plen, ml)))
		*why = RNDIS_PBAD_PPI_AREA;
	else
		return 0;
	return VMB_EPROTO;
}

static int parse(const uint8_t *msg, uint32_t len, struct rndis_pkt *p,
		 enum rndis_ppi_bad *why)
{
	struct rndis_packet h;

	if (len < sizeof(h)) {
		*why = RNDIS_PBAD_SHORT;
		return VMB_EPROTO;
	}
	vmb_memcpy(&h, msg, sizeof(h));
	if (check_hdr(&h, len, why))
		return VMB_EPROTO;
	vmb_memset(p, 0, sizeof(*p));
	p->msg_len = vmb_le32(h.hdr.msg_len);
	p->data = msg + RNDIS_OFF_BASE + vmb_le32(h.data_offset);
	p->data_len = vmb_le32(h.data_len);
	return decode_ppis(msg + RNDIS_OFF_BASE + vmb_le32(h.ppi_offset),
			   vmb_le32(h.ppi_len), p, why);
}

int rndis_pkt_parse(const uint8_t *msg, uint32_t len, struct rndis_pkt *p,
		    struct rndis_ppi_stats *st)
{
	enum rndis_ppi_bad why;

	if (parse(msg, len, p, &why)) {
		st->bad[why]++;
		return VMB_EPROTO;
	}
	st->packets++;
	st->unknown_ppi += p->unknown_ppi;
	return 0;
}

/* ---- multi-packet messages ---- */

static uint64_t align_up(uint64_t v, uint32_t align)
{
	return align > 1 ? (v + align - 1) & ~(uint64_t)(align - 1) : v;
}

void rndis_pkt_iter_init(struct rndis_pkt_iter *it, const uint8_t *buf,
			 uint32_t len, uint32_t align)
{
	it->buf = buf;
	it->len = len;
	it->off = 0;
	it->align = align && !(align & (align - 1)) ? align : 1;
	it->failed = false;
}

int rndis_pkt_next(struct rndis_pkt_iter *it, struct rndis_pkt *p,
		   struct rndis_ppi_stats *st)
{
	uint64_t next;

	if (it->failed || it->off >= it->len ||
	    it->len - it->off < sizeof(struct rndis_packet))
		return 0;
	if (rndis_pkt_parse(it->buf + it->off, it->len - it->off, p, st)) {
		it->failed = true;
		return VMB_EPROTO;
	}
	next = align_up((uint64_t)it->off + p->msg_len, it->align);
	it->off = next < it->len ? (uint32_t)next : it->len;
	return 1;
}

static unsigned span_clip(uint64_t off, uint64_t len, uint32_t avail,
			  struct rndis_span *s)
{
	if (off < sizeof(struct rndis_packet) || off >= avail || !len)
		return 0;
	s->off = (uint32_t)off;
	s->len = (uint32_t)(len < avail - off ? len : avail - off);
	return 1;
}

unsigned rndis_pkt_spans(const uint8_t *hdr, uint32_t avail, uint32_t peek,
			 struct rndis_span out[2])
{
	struct rndis_packet h;
	uint32_t dlen;
	unsigned n;

	vmb_memcpy(&h, hdr, sizeof(h));
	dlen = vmb_le32(h.data_len);
	n = span_clip(RNDIS_OFF_BASE + (uint64_t)vmb_le32(h.ppi_offset),
		      vmb_le32(h.ppi_len), avail, &out[0]);
	return n + span_clip(RNDIS_OFF_BASE + (uint64_t)vmb_le32(h.data_offset),
			     dlen < peek ? dlen : peek, avail, &out[n]);
}

/* ---- building ---- */

#define PPI_LEN (sizeof(struct rndis_ppi_hdr) + 4)

static const uint32_t build_order[][2] = {
	{ RNDIS_META_CSUM, RNDIS_PPI_CSUM },
	{ RNDIS_META_LSO, RNDIS_PPI_LSO },
	{ RNDIS_META_VLAN, RNDIS_PPI_8021Q },
	{ RNDIS_META_HASH_VALUE, RNDIS_PPI_HASH_VALUE },
	{ RNDIS_META_HASH_INFO, RNDIS_PPI_HASH_INFO },
	{ RNDIS_META_RSC, RNDIS_PPI_PKTINFO_ID },
};

uint32_t rndis_pkt_hdr_len(const struct rndis_pkt_meta *m)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < VMB_ARRAY_LEN(build_order); i++)
		n += (m->present & build_order[i][0]) ? 1 : 0;
	return (uint32_t)(sizeof(struct rndis_packet) + n * PPI_LEN);
}

static uint32_t ppi_value(const struct rndis_pkt_meta *m, uint32_t type)
{
	switch (type) {
	case RNDIS_PPI_CSUM:
		return m->csum;
	case RNDIS_PPI_LSO:
		return get_lso(m);
	case RNDIS_PPI_8021Q:
		return vlan_to_ppi(m->vlan_tci);
	case RNDIS_PPI_HASH_VALUE:
		return m->hash_value;
	case RNDIS_PPI_HASH_INFO:
		return m->hash_info;
	default:
		return RNDIS_PKTID_VERSION | (uint32_t)m->rsc_flags << 8 |
		       (uint32_t)m->rsc_id << 16;
	}
}

uint32_t rndis_pkt_build(uint8_t *out, uint32_t cap,
			 const struct rndis_pkt_meta *m, uint32_t data_len)
{
	uint32_t hl = rndis_pkt_hdr_len(m);
	struct rndis_packet h = { .hdr.type = vmb_le32(RNDIS_MSG_PACKET) };
	uint8_t *ppi = out + sizeof(h);

	if (cap < hl || (uint64_t)hl + data_len > UINT32_MAX)
		return 0;
	h.hdr.msg_len = vmb_le32(hl + data_len);
	h.data_offset = vmb_le32(hl - RNDIS_OFF_BASE);
	h.data_len = vmb_le32(data_len);
	if (hl > sizeof(h)) {
		h.ppi_offset = vmb_le32((uint32_t)BODY_OFF);
		h.ppi_len = vmb_le32(hl - (uint32_t)sizeof(h));
	}
	vmb_memcpy(out, &h, sizeof(h));
	for (unsigned i = 0; i < VMB_ARRAY_LEN(build_order); i++) {
		if (!(m->present & build_order[i][0]))
			continue;
		rndis_wr32(ppi, PPI_LEN);
		rndis_wr32(ppi + 4, build_order[i][1]);
		rndis_wr32(ppi + 8, sizeof(struct rndis_ppi_hdr));
		rndis_wr32(ppi + 12, ppi_value(m, build_order[i][1]));
		ppi += PPI_LEN;
	}
	return hl;
}

/* ---- aggregation ---- */

void rndis_agg_init(struct rndis_agg *a, uint32_t max_pkts,
		    uint32_t max_xfer, uint32_t align)
{
	vmb_memset(a, 0, sizeof(*a));
	a->max_pkts = max_pkts ? max_pkts : 1;
	a->max_xfer = max_xfer;
	a->align = align && !(align & (align - 1)) ? align : 1;
}

uint32_t rndis_agg_room(const struct rndis_agg *a, uint32_t cap,
			uint32_t *off)
{
	uint32_t limit = a->npkts && a->max_xfer < cap ? a->max_xfer : cap;
	uint64_t at = a->npkts ? align_up(a->len, a->align) : 0;

	*off = at < limit ? (uint32_t)at : limit;
	if (a->npkts >= a->max_pkts || at >= limit)
		return 0;
	return limit - (uint32_t)at;
}

int rndis_agg_where(const struct rndis_agg *a, uint32_t msg_len,
		    uint32_t cap)
{
	uint32_t off, room = rndis_agg_room(a, cap, &off);

	if (!room || msg_len > room || off > INT32_MAX)
		return VMB_EMSGSIZE;
	return (int)off;
}

void rndis_agg_add(struct rndis_agg *a, uint8_t *buf, uint32_t msg_len)
{
	uint32_t off = a->npkts ? (uint32_t)align_up(a->len, a->align) : 0;

	if (a->npkts) {
		uint8_t *prev_len = buf + a->last + 4;

		vmb_memset(buf + a->len, 0, off - a->len);
		rndis_wr32(prev_len, rndis_rd32(prev_len) + off - a->len);
	}
	a->last = off;
	a->len = off + msg_len;
	a->npkts++;
}
