/* The guest's RNDIS engine: the init sequence, later requests, and the
 * host's completions and status indications. */
#include "net/rndis_guest.h"

const uint8_t rndis_default_rss_key[NDIS_RSS_KEY_LEN] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
	0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
	0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
	0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static const char *const bad_names[RNDIS_GBAD__COUNT] = {
	[RNDIS_GBAD_SHORT] = "short",
	[RNDIS_GBAD_MSGLEN] = "msg-len",
	[RNDIS_GBAD_TYPE] = "type",
	[RNDIS_GBAD_UNKNOWN] = "unknown-id",
	[RNDIS_GBAD_STALE] = "stale-id",
	[RNDIS_GBAD_DUPLICATE] = "duplicate-id",
	[RNDIS_GBAD_BUFFER] = "buffer",
	[RNDIS_GBAD_VALUE] = "value",
};

const char *rndis_guest_bad_name(enum rndis_guest_bad b)
{
	return (unsigned)b < RNDIS_GBAD__COUNT ? bad_names[b] : "?";
}

/* The hash types Linux asks for. */
#define GUEST_HASH (NDIS_HASH_TOEPLITZ | NDIS_HASH_IPV4 | NDIS_HASH_TCP_IPV4 | \
		    NDIS_HASH_IPV6 | NDIS_HASH_TCP_IPV6)

/* Above this the alignment factor is nonsense (4 KiB). */
#define ALIGN_SHIFT_MAX 12u

void rndis_guest_init(struct rndis_guest *g, const struct rndis_guest_cfg *c)
{
	vmb_memset(g, 0, sizeof(*g));
	g->cfg = *c;
	g->state = RNDIS_GS_INIT;
	g->next_id = 1;
	g->info.mtu = 1500;
	g->info.link_up = true;
	g->info.rss_queues = 1;
	g->info.max_pkts = 1;
	g->info.align = 4;
}

/* ---- request ids ---- */

static struct rndis_guest_pending *pend_add(struct rndis_guest *g,
					    uint32_t type, uint32_t oid,
					    bool init)
{
	for (unsigned i = 0; i < RNDIS_GUEST_PENDING; i++) {
		struct rndis_guest_pending *p = &g->pend[i];

		if (p->id)
			continue;
		p->id = g->next_id++;
		if (!g->next_id)
			g->next_id = 1;
		p->type = type;
		p->oid = oid;
		p->init = init;
		return p;
	}
	return NULL;
}

static void retire(struct rndis_guest *g, struct rndis_guest_pending *p)
{
	g->recent[g->recent_pos++ % RNDIS_GUEST_RECENT] = p->id;
	p->id = 0;
}

/* The outstanding request id names; NULL (counted) if none. */
static struct rndis_guest_pending *match(struct rndis_guest *g, uint32_t id)
{
	for (unsigned i = 0; id && i < RNDIS_GUEST_PENDING; i++)
		if (g->pend[i].id == id)
			return &g->pend[i];
	for (unsigned i = 0; id && i < RNDIS_GUEST_RECENT; i++) {
		if (g->recent[i] == id) {
			g->st.bad[RNDIS_GBAD_DUPLICATE]++;
			return NULL;
		}
	}
	/* Ids count up from 1: one below next_id was sent once. */
	if (id && id < g->next_id)
		g->st.bad[RNDIS_GBAD_STALE]++;
	else
		g->st.bad[RNDIS_GBAD_UNKNOWN]++;
	return NULL;
}

void rndis_guest_abandon(struct rndis_guest *g)
{
	for (unsigned i = 0; i < RNDIS_GUEST_PENDING; i++) {
		if (g->pend[i].id && g->pend[i].init) {
			g->fail_step = g->state;
			g->state = RNDIS_GS_FAILED;
		}
		g->pend[i].id = 0;
	}
	g->waiting = false;
}

/* ---- requests ---- */

/* A QUERY or SET with n bytes of buf at offset 20 (Hyper-V fails a
 * query whose offset is 0, even without a buffer). */
static uint32_t oid_req(struct rndis_guest *g, uint8_t *out, uint32_t type,
			uint32_t oid, const void *buf, uint32_t n, bool init)
{
	struct rndis_guest_pending *p;
	struct rndis_oid_req q = {
		.hdr = { vmb_le32(type), vmb_le32(sizeof(q) + n) },
		.oid = vmb_le32(oid),
		.buflen = vmb_le32(n),
		.buf_offset = vmb_le32(sizeof(q) - RNDIS_OFF_BASE),
	};

	if (sizeof(q) + n > RNDIS_GUEST_MSG_MAX)
		return 0;
	p = pend_add(g, type, oid, init);
	if (!p)
		return 0;
	q.req_id = vmb_le32(p->id);
	vmb_memcpy(out, &q, sizeof(q));
	if (n)
		vmb_memcpy(out + sizeof(q), buf, n);
	return sizeof(q) + n;
}

static uint32_t init_req(struct rndis_guest *g, uint8_t *out)
{
	struct rndis_guest_pending *p = pend_add(g, RNDIS_MSG_INIT, 0, true);
	struct rndis_init_req q = {
		.hdr = { vmb_le32(RNDIS_MSG_INIT), vmb_le32(sizeof(q)) },
		.major = vmb_le32(RNDIS_MAJOR),
		.minor = vmb_le32(RNDIS_MINOR),
		.max_xfer = vmb_le32(RNDIS_GUEST_MAX_XFER),
	};

	if (!p)
		return 0;
	q.req_id = vmb_le32(p->id);
	vmb_memcpy(out, &q, sizeof(q));
	return sizeof(q);
}

/* The offload capabilities' size Linux asks for by NVSP version. */
static uint32_t hwcaps_size(const struct rndis_guest *g)
{
	if (g->cfg.nvsp_version >= NVSP_VERSION_5)
		return NDIS_OFFLOAD_SIZE_3;
	return g->cfg.nvsp_version >= NVSP_VERSION_4 ? NDIS_OFFLOAD_SIZE_2
						    : NDIS_OFFLOAD_SIZE_1;
}

static uint32_t q_hwcaps(struct rndis_guest *g, uint8_t *out)
{
	struct ndis_offload o = { .hdr.type = NDIS_OBJ_OFFLOAD };
	uint32_t n = hwcaps_size(g);

	o.hdr.revision = n == NDIS_OFFLOAD_SIZE_1 ? 1
			 : n == NDIS_OFFLOAD_SIZE_2 ? 2 : 3;
	o.hdr.size = vmb_le16((uint16_t)n);
	return oid_req(g, out, RNDIS_MSG_QUERY, RNDIS_OID_OFFLOAD_HWCAPS, &o,
		       n, true);
}

/* 18 bytes, as Linux (whose structure is packed) asks: a host answers
 * no more than that. */
static uint32_t q_rsscaps(struct rndis_guest *g, uint8_t *out)
{
	struct ndis_rss_caps c = {
		.hdr = { NDIS_OBJ_RSS_CAPS, 2, vmb_le16(NDIS_RSS_CAPS_SIZE_2) },
	};

	return oid_req(g, out, RNDIS_MSG_QUERY, RNDIS_OID_RSS_CAPS, &c,
		       NDIS_RSS_CAPS_SIZE_2, true);
}

static uint8_t csum_value(bool on)
{
	return on ? NDIS_OFFP_CSUM_TXRX : NDIS_OFFP_NOCHG;
}

static uint8_t lso_value(bool on)
{
	return on ? NDIS_OFFP_ON : NDIS_OFFP_NOCHG;
}

/* As Linux asks: what was chosen on, the rest left alone, except the
 * IPv4 header checksum, which the guest always computes itself, and
 * RSC, turned off when offered and not wanted. Up to NVSP 4 the message
 * is the 22 bytes older hosts take, under a revision-3 header. */
static uint32_t s_offload(struct rndis_guest *g, uint8_t *out)
{
	const struct rndis_guest_offload *o = &g->info.offload;
	bool v5 = g->cfg.nvsp_version >= NVSP_VERSION_5;
	struct ndis_offload_params p = {
		.hdr = { NDIS_OBJ_DEFAULT, 3, vmb_le16(NDIS_OFFP_SIZE_3) },
		.ip4csum = NDIS_OFFP_CSUM_OFF,
		.tcp4csum = csum_value(o->tcp4),
		.tcp6csum = csum_value(o->tcp6),
		.udp4csum = csum_value(o->udp4),
		.udp6csum = csum_value(o->udp6),
		.lsov2_ip4 = lso_value(o->lso4),
		.lsov2_ip6 = lso_value(o->lso6),
	};

	if (g->info.caps.rsc)
		p.rsc_ip4 = p.rsc_ip6 = o->rsc ? NDIS_OFFP_ON : NDIS_OFFP_OFF;
	return oid_req(g, out, RNDIS_MSG_SET, RNDIS_OID_OFFLOAD_PARAMS, &p,
		       v5 ? NDIS_OFFP_SIZE_3 : NDIS_OFFP_SIZE_2, true);
}

/* RSS parameters as Linux lays them out: the table right after the
 * 40-byte object, the key after the table. */
static uint32_t rss_req(struct rndis_guest *g, const uint32_t *table,
			uint8_t *out, bool init)
{
	uint32_t ent = g->info.rss_entries, q = g->info.rss_queues;
	uint8_t buf[sizeof(struct ndis_rss_params) +
		    4 * NDIS_RSS_TABLE_MAX + NDIS_RSS_KEY_LEN];
	struct ndis_rss_params p = {
		.hdr = { NDIS_OBJ_RSS_PARAMS, 2, vmb_le16(sizeof(p)) },
		.hash_info = vmb_le32(GUEST_HASH),
		.table_size = vmb_le16((uint16_t)(4 * ent)),
		.table_offset = vmb_le32(sizeof(p)),
		.key_size = vmb_le16(NDIS_RSS_KEY_LEN),
		.key_offset = vmb_le32(sizeof(p) + 4 * ent),
	};

	for (uint32_t i = 0; i < ent; i++) {
		uint32_t v = vmb_le32(table ? table[i] : i % q);

		if (table && table[i] >= q)
			return 0;
		vmb_memcpy(buf + sizeof(p) + 4 * i, &v, 4);
	}
	vmb_memcpy(buf, &p, sizeof(p));
	vmb_memcpy(buf + sizeof(p) + 4 * ent, rndis_default_rss_key,
		   NDIS_RSS_KEY_LEN);
	return oid_req(g, out, RNDIS_MSG_SET, RNDIS_OID_RSS_PARAMS, buf,
		       (uint32_t)sizeof(p) + 4 * ent + NDIS_RSS_KEY_LEN, init);
}

static uint32_t step_req(struct rndis_guest *g, uint8_t *out)
{
	static const uint32_t zero;

	switch (g->state) {
	case RNDIS_GS_INIT:
		return init_req(g, out);
	case RNDIS_GS_MAC:
		return oid_req(g, out, RNDIS_MSG_QUERY,
			       RNDIS_OID_PERMANENT_ADDRESS, NULL, 0, true);
	case RNDIS_GS_MTU:
		return oid_req(g, out, RNDIS_MSG_QUERY,
			       RNDIS_OID_MAX_FRAME_SIZE, NULL, 0, true);
	case RNDIS_GS_LINK:
		return oid_req(g, out, RNDIS_MSG_QUERY,
			       RNDIS_OID_MEDIA_CONNECT_STATUS, NULL, 0, true);
	case RNDIS_GS_SPEED:
		return oid_req(g, out, RNDIS_MSG_QUERY, RNDIS_OID_LINK_SPEED,
			       NULL, 0, true);
	case RNDIS_GS_OFFLOAD_CAPS:
		return q_hwcaps(g, out);
	case RNDIS_GS_RSS_CAPS:
		return q_rsscaps(g, out);
	case RNDIS_GS_FILTER:
		return oid_req(g, out, RNDIS_MSG_SET, RNDIS_OID_PACKET_FILTER,
			       &zero, 4, true);
	case RNDIS_GS_OFFLOAD:
		return s_offload(g, out);
	case RNDIS_GS_RSS:
		return rss_req(g, NULL, out, true);
	default:
		return 0;
	}
}

uint32_t rndis_guest_next(struct rndis_guest *g,
			  uint8_t out[RNDIS_GUEST_MSG_MAX])
{
	uint32_t n;

	if (g->waiting || g->state >= RNDIS_GS_READY)
		return 0;
	n = step_req(g, out);
	g->waiting = n != 0;
	return n;
}

uint32_t rndis_guest_set_filter(struct rndis_guest *g, uint32_t filter,
				uint8_t out[RNDIS_GUEST_MSG_MAX])
{
	filter = vmb_le32(filter);
	if (g->state != RNDIS_GS_READY)
		return 0;
	return oid_req(g, out, RNDIS_MSG_SET, RNDIS_OID_PACKET_FILTER,
		       &filter, 4, false);
}

uint32_t rndis_guest_set_rss(struct rndis_guest *g, const uint32_t *table,
			     uint8_t out[RNDIS_GUEST_MSG_MAX])
{
	if (g->state != RNDIS_GS_READY || g->info.rss_queues < 2)
		return 0;
	return rss_req(g, table, out, false);
}

uint32_t rndis_guest_keepalive(struct rndis_guest *g,
			       uint8_t out[RNDIS_GUEST_MSG_MAX])
{
	struct rndis_guest_pending *p;
	struct rndis_id_req q = {
		.hdr = { vmb_le32(RNDIS_MSG_KEEPALIVE), vmb_le32(sizeof(q)) },
	};

	if (g->state != RNDIS_GS_READY)
		return 0;
	p = pend_add(g, RNDIS_MSG_KEEPALIVE, 0, false);
	if (!p)
		return 0;
	q.req_id = vmb_le32(p->id);
	vmb_memcpy(out, &q, sizeof(q));
	return sizeof(q);
}

/* ---- init answers ---- */

/* Whether a step is taken at all, given what was learnt before it. */
static bool step_due(const struct rndis_guest *g, enum rndis_guest_state s)
{
	switch (s) {
	case RNDIS_GS_RSS_CAPS:
		/* RSS capabilities need NDIS 6.20, spoken from NVSP 5. */
		return g->cfg.nvsp_version >= NVSP_VERSION_5 &&
		       g->cfg.channels >= 2;
	case RNDIS_GS_OFFLOAD:
		return g->have_caps;
	case RNDIS_GS_RSS:
		return g->info.rss_queues >= 2;
	default:
		return true;
	}
}

static void advance(struct rndis_guest *g, struct rndis_guest_ev *ev)
{
	do
		g->state++;
	while (g->state < RNDIS_GS_READY && !step_due(g, g->state));
	ev->kind = g->state == RNDIS_GS_READY ? RNDIS_GE_READY : RNDIS_GE_INIT;
}

static void fail(struct rndis_guest *g, uint32_t status,
		 struct rndis_guest_ev *ev)
{
	g->fail_step = g->state;
	g->fail_status = status;
	g->state = RNDIS_GS_FAILED;
	ev->kind = RNDIS_GE_FAILED;
	ev->status = status;
}

/* An answer's value: a status and, for a QUERY, its buffer. */
struct answer {
	const uint8_t *msg;
	uint32_t len;      /* msg_len */
	uint32_t status;
	const uint8_t *val;
	uint32_t vlen;
};

static bool on_init_cmplt(struct rndis_guest *g, const struct answer *an)
{
	struct rndis_init_cmplt c;
	struct rndis_guest_info *i = &g->info;

	if (an->len < sizeof(c))
		return false;
	vmb_memcpy(&c, an->msg, sizeof(c));
	if (vmb_le32(c.align_factor) > ALIGN_SHIFT_MAX)
		return false;
	i->max_pkts = vmb_le32(c.max_pkts) ? vmb_le32(c.max_pkts) : 1;
	i->max_xfer = vmb_le32(c.max_xfer);
	i->align = 1u << vmb_le32(c.align_factor);
	if (i->align < 4)
		i->align = 4;
	return true;
}

static bool on_u32(const struct answer *an, uint32_t lo, uint32_t hi,
		   uint32_t *out)
{
	uint32_t v;

	if (an->vlen != 4)
		return false;
	v = rndis_rd32(an->val);
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static void parse_lso(struct rndis_guest_caps *c, const struct ndis_offload *o)
{
	c->lso4 = (vmb_le32(o->lsov2.ip4_encap) & NDIS_ENCAP_802_3) != 0;
	c->lso4_max = vmb_le32(o->lsov2.ip4_maxsz);
	c->lso4_minsg = vmb_le32(o->lsov2.ip4_minsg);
	c->lso6 = (vmb_le32(o->lsov2.ip6_encap) & NDIS_ENCAP_802_3) != 0;
	c->lso6_max = vmb_le32(o->lsov2.ip6_maxsz);
	c->lso6_minsg = vmb_le32(o->lsov2.ip6_minsg);
	c->lso6_opts = vmb_le32(o->lsov2.ip6_opts);
}

static bool all(uint32_t have, uint32_t want)
{
	return (have & want) == want;
}

/* The choice Linux makes from the capabilities: TCP checksums only with
 * TCP options (and IPv6 extension headers), UDP and LSO only with TCP,
 * LSO over IPv6 only with both its options, UDP not before NVSP 5, RSC
 * from 6.1 when wanted. */
static void choose_offload(struct rndis_guest *g)
{
	const struct rndis_guest_caps *c = &g->info.caps;
	struct rndis_guest_offload *o = &g->info.offload;
	bool v5 = g->cfg.nvsp_version >= NVSP_VERSION_5;

	o->tcp4 = all(c->ip4_tx, NDIS_CSUM_TCP | NDIS_CSUM_TCPOPT);
	o->tcp6 = all(c->ip6_tx,
		      NDIS_CSUM_TCP | NDIS_CSUM_TCPOPT | NDIS_CSUM_IPOPT);
	o->udp4 = v5 && o->tcp4 && (c->ip4_tx & NDIS_CSUM_UDP);
	o->udp6 = v5 && o->tcp6 && (c->ip6_tx & NDIS_CSUM_UDP);
	o->lso4 = o->tcp4 && c->lso4;
	o->lso6 = o->tcp6 && c->lso6 &&
		  all(c->lso6_opts, NDIS_LSO6_EXTHDR | NDIS_LSO6_TCPOPT);
	o->rsc = g->cfg.nvsp_version >= NVSP_VERSION_61 && g->cfg.want_rsc &&
		 c->rsc;
}

static bool on_hwcaps(struct rndis_guest *g, const struct answer *an)
{
	struct ndis_offload o;
	struct rndis_guest_caps *c = &g->info.caps;

	if (an->vlen < NDIS_OFFLOAD_SIZE_1 || an->val[0] != NDIS_OBJ_OFFLOAD)
		return false;
	vmb_memset(&o, 0, sizeof(o));
	vmb_memcpy(&o, an->val, an->vlen < sizeof(o) ? an->vlen : sizeof(o));
	vmb_memset(c, 0, sizeof(*c));
	c->ip4_tx = vmb_le32(o.csum.ip4_tx_flags);
	c->ip6_tx = vmb_le32(o.csum.ip6_tx_flags);
	parse_lso(c, &o);
	c->rsc = an->vlen > __builtin_offsetof(struct ndis_offload, rsc_ip6) &&
		 o.rsc_ip4 && o.rsc_ip6;
	g->have_caps = true;
	choose_offload(g);
	return true;
}

static bool on_rsscaps(struct rndis_guest *g, const struct answer *an)
{
	struct ndis_rss_caps c;
	uint32_t q, ent = NDIS_RSS_TABLE_MAX;

	if (an->vlen < NDIS_RSS_CAPS_SIZE_1 || an->val[0] != NDIS_OBJ_RSS_CAPS)
		return false;
	vmb_memset(&c, 0, sizeof(c));
	vmb_memcpy(&c, an->val, an->vlen < sizeof(c) ? an->vlen : sizeof(c));
	if (c.hdr.revision >= 2 && an->vlen >= NDIS_RSS_CAPS_SIZE_2 &&
	    vmb_le16(c.num_entries))
		ent = vmb_le16(c.num_entries);
	q = vmb_le32(c.num_rx_queues);
	if (q > g->cfg.channels)
		q = g->cfg.channels;
	g->info.rss_queues = q >= 2 ? q : 1;
	g->info.rss_entries = ent < NDIS_RSS_TABLE_MIN   ? NDIS_RSS_TABLE_MIN
			      : ent > NDIS_RSS_TABLE_MAX ? NDIS_RSS_TABLE_MAX
							 : ent;
	return true;
}

/* A successful answer to the current step; false if its value is bad. */
static bool step_ok(struct rndis_guest *g, const struct answer *an)
{
	struct rndis_guest_info *i = &g->info;
	uint32_t v;

	switch (g->state) {
	case RNDIS_GS_INIT:
		return on_init_cmplt(g, an);
	case RNDIS_GS_MAC:
		if (an->vlen != 6)
			return false;
		vmb_memcpy(i->mac, an->val, 6);
		return true;
	case RNDIS_GS_MTU:
		return on_u32(an, 68, 0xFFFF, &i->mtu);
	case RNDIS_GS_LINK:
		if (!on_u32(an, 0, RNDIS_MEDIA_DISCONNECTED, &v))
			return false;
		i->link_up = v == RNDIS_MEDIA_CONNECTED;
		return true;
	case RNDIS_GS_SPEED:
		return on_u32(an, 0, UINT32_MAX, &i->speed);
	case RNDIS_GS_OFFLOAD_CAPS:
		return on_hwcaps(g, an);
	case RNDIS_GS_RSS_CAPS:
		return on_rsscaps(g, an);
	default:
		return true;
	}
}

/* A failed step: the MAC, the INITIALIZE and the filter are needed;
 * without the others the defaults stand. */
static bool step_failed(struct rndis_guest *g)
{
	switch (g->state) {
	case RNDIS_GS_INIT:
	case RNDIS_GS_MAC:
	case RNDIS_GS_FILTER:
		return true;
	case RNDIS_GS_OFFLOAD:
		vmb_memset(&g->info.offload, 0, sizeof(g->info.offload));
		return false;
	case RNDIS_GS_RSS:
		g->info.rss_queues = 1;
		return false;
	default:
		return false;
	}
}

static bool on_step(struct rndis_guest *g, const struct answer *an,
		    struct rndis_guest_ev *ev)
{
	if (an->status == RNDIS_ST_SUCCESS && !step_ok(g, an)) {
		g->st.bad[RNDIS_GBAD_VALUE]++;
		return false;
	}
	g->waiting = false;
	if (an->status != RNDIS_ST_SUCCESS && step_failed(g))
		fail(g, an->status, ev);
	else
		advance(g, ev);
	return true;
}

/* ---- completions ---- */

static uint32_t cmplt_min(uint32_t type)
{
	switch (type) {
	case RNDIS_MSG_INIT_C:
		return sizeof(struct rndis_init_cmplt);
	case RNDIS_MSG_QUERY_C:
		return sizeof(struct rndis_query_cmplt);
	case RNDIS_MSG_SET_C:
	case RNDIS_MSG_KEEPALIVE_C:
		return sizeof(struct rndis_status_cmplt);
	default:
		return 0;
	}
}

/* A QUERY completion's buffer: past its header, inside msg_len. */
static bool query_buf(const uint8_t *msg, struct answer *an)
{
	struct rndis_query_cmplt c;
	uint32_t off, n;

	vmb_memcpy(&c, msg, sizeof(c));
	off = vmb_le32(c.buf_offset);
	n = vmb_le32(c.buflen);
	if (n && (off < sizeof(c) - RNDIS_OFF_BASE ||
		  (uint64_t)RNDIS_OFF_BASE + off + n > an->len))
		return false;
	an->val = msg + RNDIS_OFF_BASE + off;
	an->vlen = n;
	return true;
}

static void on_cmplt(struct rndis_guest *g, const struct answer *an,
		     uint32_t type, struct rndis_guest_ev *ev)
{
	struct rndis_guest_pending *p = match(g, rndis_rd32(an->msg + 8));

	if (!p)
		return;
	if ((p->type | RNDIS_MSG_CMPLT) != type) {
		g->st.bad[RNDIS_GBAD_TYPE]++;
		return;
	}
	if (p->init && !on_step(g, an, ev))
		return;
	if (!p->init) {
		ev->kind = RNDIS_GE_DONE;
		ev->oid = p->oid;
		ev->status = an->status;
	}
	g->st.completions++;
	retire(g, p);
}

static void completion(struct rndis_guest *g, const uint8_t *msg,
		       uint32_t ml, uint32_t type, struct rndis_guest_ev *ev)
{
	struct answer an = { .msg = msg, .len = ml };

	if (ml < cmplt_min(type)) {
		g->st.bad[RNDIS_GBAD_SHORT]++;
		return;
	}
	an.status = rndis_rd32(msg + 12);
	if (type == RNDIS_MSG_QUERY_C && !query_buf(msg, &an)) {
		g->st.bad[RNDIS_GBAD_BUFFER]++;
		return;
	}
	on_cmplt(g, &an, type, ev);
}

/* ---- status indications ---- */

/* The speed's buffer is checked against the bytes received, not
 * msg_len: pre-Fe vSwitches left the buffer out of msg_len. */
static void on_indicate(struct rndis_guest *g, const uint8_t *msg,
			uint32_t len, struct rndis_guest_ev *ev)
{
	struct rndis_indicate m;
	uint32_t off;

	vmb_memcpy(&m, msg, sizeof(m));
	off = vmb_le32(m.buf_offset);
	switch (vmb_le32(m.status)) {
	case RNDIS_ST_MEDIA_CONNECT:
		g->info.link_up = true;
		ev->kind = RNDIS_GE_LINK_UP;
		break;
	case RNDIS_ST_MEDIA_DISCONNECT:
		g->info.link_up = false;
		ev->kind = RNDIS_GE_LINK_DOWN;
		break;
	case RNDIS_ST_NETWORK_CHANGE:
		ev->kind = RNDIS_GE_NETWORK_CHANGE;
		break;
	case RNDIS_ST_LINK_SPEED_CHANGE:
		if (vmb_le32(m.buflen) < 4 ||
		    off < sizeof(m) - RNDIS_OFF_BASE ||
		    (uint64_t)RNDIS_OFF_BASE + off + 4 > len) {
			g->st.bad[RNDIS_GBAD_BUFFER]++;
			return;
		}
		g->info.speed = ev->speed = rndis_rd32(msg + RNDIS_OFF_BASE + off);
		ev->kind = RNDIS_GE_SPEED;
		break;
	default:
		break;
	}
	g->st.indications++;
}

void rndis_guest_rx(struct rndis_guest *g, const uint8_t *msg, uint32_t len,
		    struct rndis_guest_ev *ev)
{
	uint32_t type, ml;

	vmb_memset(ev, 0, sizeof(*ev));
	if (len < sizeof(struct rndis_hdr)) {
		g->st.bad[RNDIS_GBAD_SHORT]++;
		return;
	}
	type = rndis_rd32(msg);
	ml = rndis_rd32(msg + 4);
	if (type != RNDIS_MSG_INDICATE && !cmplt_min(type)) {
		g->st.bad[RNDIS_GBAD_TYPE]++;
		return;
	}
	if (ml < sizeof(struct rndis_hdr) || ml > len) {
		g->st.bad[RNDIS_GBAD_MSGLEN]++;
		return;
	}
	if (type != RNDIS_MSG_INDICATE)
		completion(g, msg, ml, type, ev);
	else if (ml < sizeof(struct rndis_indicate))
		g->st.bad[RNDIS_GBAD_SHORT]++;
	else
		on_indicate(g, msg, len, ev);
}
