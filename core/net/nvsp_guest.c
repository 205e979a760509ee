/* The guest side of NVSP: the init sequence, the host's notices and the
 * data path's message helpers. */
#include "net/nvsp_guest.h"

/* Newest first, as Linux and DPDK try them. */
static const uint32_t versions[] = {
	NVSP_VERSION_61, NVSP_VERSION_6, NVSP_VERSION_5,
	NVSP_VERSION_4, NVSP_VERSION_2, NVSP_VERSION_1,
};

static const char *const bad_names[NVSP_GBAD__COUNT] = {
	[NVSP_GBAD_SHORT] = "short",
	[NVSP_GBAD_TYPE] = "packet-type",
	[NVSP_GBAD_MSG] = "message-type",
	[NVSP_GBAD_XID] = "unknown-id",
	[NVSP_GBAD_STATE] = "state",
	[NVSP_GBAD_STATUS] = "status",
	[NVSP_GBAD_RECV_LAYOUT] = "recv-layout",
	[NVSP_GBAD_SEND_SECTION] = "send-section",
	[NVSP_GBAD_SUBCH] = "subchannels",
	[NVSP_GBAD_TABLE] = "send-table",
	[NVSP_GBAD_VALUE] = "value",
	[NVSP_GBAD_PAGESET] = "page-set",
	[NVSP_GBAD_RANGES] = "range-count",
	[NVSP_GBAD_RANGE] = "range",
};

const char *nvsp_guest_bad_name(enum nvsp_guest_bad b)
{
	return (unsigned)b < NVSP_GBAD__COUNT ? bad_names[b] : "?";
}

void nvsp_guest_init(struct nvsp_guest *g, const struct nvsp_guest_cfg *c)
{
	vmb_memset(g, 0, sizeof(*g));
	g->cfg = *c;
	g->state = NVSP_GS_INIT;
	while (g->vidx + 1 < VMB_ARRAY_LEN(versions) &&
	       versions[g->vidx] > c->max_version)
		g->vidx++;
	nvsp_guest_set_channels(g, 1);
}

void nvsp_guest_set_channels(struct nvsp_guest *g, uint32_t n)
{
	g->channels = n ? n : 1;
	for (uint32_t i = 0; i < NVSP_TX_TABLE_LEN; i++)
		g->tx_table[i] = i % g->channels;
}

/* A request the host answers: its id names its message type. */
static void out_req(struct nvsp_guest_out *o, uint32_t type)
{
	vmb_memset(o, 0, sizeof(*o));
	o->len = NVSP_MSG_LEN;
	o->flags = VMB_PKT_FLAG_COMPLETION_REQUESTED;
	o->xid = NVSP_GUEST_XID_BASE | type;
	o->msg.type = type;
}

/* Capabilities as Linux sends them: VLAN always, SR-IOV and teaming
 * (link speed updates) from V5, RSC from 6.1. */
static uint64_t ndis_caps(const struct nvsp_guest *g)
{
	uint64_t caps = NVSP_CAP_IEEE8021Q;

	if (g->version >= NVSP_VERSION_5) {
		caps |= NVSP_CAP_TEAMING;
		caps |= g->cfg.sriov ? NVSP_CAP_SRIOV : 0;
	}
	if (g->version >= NVSP_VERSION_61 && g->cfg.rsc)
		caps |= NVSP_CAP_RSC;
	return caps;
}

/* The two messages without an answer: sent without asking for one. */
static void next_unanswered(struct nvsp_guest *g, struct nvsp_guest_out *o)
{
	o->flags = 0;
	if (g->state == NVSP_GS_NDIS_CONFIG) {
		o->msg.ndis_config.mtu = g->cfg.mtu + NVSP_ETH_HLEN;
		o->msg.ndis_config.caps = ndis_caps(g);
		g->state = NVSP_GS_NDIS_VERSION;
		return;
	}
	o->msg.ndis_version.major = NVSP_NDIS_MAJOR;
	o->msg.ndis_version.minor = g->version >= NVSP_VERSION_5
					    ? NVSP_NDIS_MINOR_V5
					    : NVSP_NDIS_MINOR_V4;
	g->state = NVSP_GS_RECV_BUF;
}

static const uint32_t step_type[] = {
	[NVSP_GS_INIT] = NVSP_TYPE_INIT,
	[NVSP_GS_NDIS_CONFIG] = NVSP_TYPE_NDIS_CONFIG,
	[NVSP_GS_NDIS_VERSION] = NVSP_TYPE_NDIS_VERSION,
	[NVSP_GS_RECV_BUF] = NVSP_TYPE_SEND_RECV_BUF,
	[NVSP_GS_SEND_BUF] = NVSP_TYPE_SEND_SEND_BUF,
};

uint32_t nvsp_guest_next(struct nvsp_guest *g, struct nvsp_guest_out *o)
{
	if (g->waiting || g->state >= NVSP_GS_READY)
		return 0;
	out_req(o, step_type[g->state]);
	switch (g->state) {
	case NVSP_GS_INIT:
		o->msg.init.min_ver = versions[g->vidx];
		o->msg.init.max_ver = versions[g->vidx];
		break;
	case NVSP_GS_RECV_BUF:
		o->msg.send_buf.gpadl = g->cfg.recv_gpadl;
		o->msg.send_buf.id = NVSP_RECV_BUF_ID;
		break;
	case NVSP_GS_SEND_BUF:
		/* Linux's id (0); OpenVMM ignores it. */
		o->msg.send_buf.gpadl = g->cfg.send_gpadl;
		break;
	default:
		next_unanswered(g, o);
		return o->len;
	}
	g->waiting = true;
	return o->len;
}

uint32_t nvsp_guest_subchannels(struct nvsp_guest *g, uint32_t rx_queues,
				struct nvsp_guest_out *o)
{
	uint32_t want = g->cfg.subchannels, most = rx_queues;

	if (g->state != NVSP_GS_READY || g->version < NVSP_VERSION_5 ||
	    g->subch_asked || g->subch_waiting)
		return 0;
	if (want == NVSP_GUEST_SUBCH_AUTO) {
		most = g->cfg.ncpus < most ? g->cfg.ncpus : most;
		want = most ? most - 1 : 0;
	} else if (rx_queues && want > rx_queues - 1) {
		want = rx_queues - 1;
	}
	want = want < NVSP_MAX_SUBCHANNELS ? want : NVSP_MAX_SUBCHANNELS;
	if (!want || !rx_queues)
		return 0;
	out_req(o, NVSP_TYPE_SUBCHANNEL);
	o->msg.subch_req.op = NVSP_SUBCHANNEL_ALLOCATE;
	o->msg.subch_req.num = want;
	g->subch_asked = (uint16_t)want;
	g->subch_waiting = true;
	return o->len;
}

uint32_t nvsp_guest_switch_datapath(struct nvsp_guest *g, bool vf,
				    struct nvsp_guest_out *o)
{
	if (g->state != NVSP_GS_READY || g->version < NVSP_VERSION_4 ||
	    g->datapath_waiting)
		return 0;
	out_req(o, NVSP_TYPE_SWITCH_DATA_PATH);
	o->msg.datapath.active_datapath = vf ? NVSP_DATAPATH_VF
					     : NVSP_DATAPATH_SYNTHETIC;
	g->datapath_waiting = true;
	g->datapath_vf = vf;
	return o->len;
}

/* ---- answers to the init sequence ---- */

static void fail(struct nvsp_guest *g, struct nvsp_guest_ev *ev,
		 enum nvsp_guest_bad why, uint32_t status)
{
	g->st.bad[why]++;
	g->fail_step = g->state;
	g->fail_status = status;
	g->state = NVSP_GS_FAILED;
	g->waiting = false;
	ev->kind = NVSP_GE_FAILED;
	ev->status = status;
}

/* A refused version moves to the next older one, if any. */
static void on_init(struct nvsp_guest *g, const union nvsp_msg *m,
		    struct nvsp_guest_ev *ev)
{
	uint32_t status = m->init_complete.status;

	g->waiting = false;
	ev->kind = NVSP_GE_INIT;
	if (status == NVSP_STATUS_SUCCESS) {
		g->version = versions[g->vidx];
		g->state = g->version >= NVSP_VERSION_2 ? NVSP_GS_NDIS_CONFIG
						       : NVSP_GS_NDIS_VERSION;
	} else if (g->vidx + 1 < VMB_ARRAY_LEN(versions)) {
		g->vidx++;
	} else {
		fail(g, ev, NVSP_GBAD_STATUS, status);
	}
}

/* Linux's rules: exactly one section, at offset 0, its sub-allocations
 * inside the buffer. */
static bool recv_layout_ok(const struct nvsp_guest *g,
			   const struct nvsp_recv_buf_complete *c)
{
	const struct nvsp_recv_section *s = &c->section;
	uint64_t used = (uint64_t)s->sub_alloc_size * s->num_sub_allocs;

	return c->num_sections == 1 && s->offset == 0 &&
	       s->sub_alloc_size > 0 && s->num_sub_allocs > 0 &&
	       used <= g->cfg.recv_size && s->end_offset <= g->cfg.recv_size;
}

static void on_recv_buf(struct nvsp_guest *g, const union nvsp_msg *m,
			struct nvsp_guest_ev *ev)
{
	const struct nvsp_recv_buf_complete *c = &m->recv_buf_complete;

	if (c->status != NVSP_STATUS_SUCCESS) {
		fail(g, ev, NVSP_GBAD_STATUS, c->status);
		return;
	}
	if (!recv_layout_ok(g, c)) {
		fail(g, ev, NVSP_GBAD_RECV_LAYOUT, c->status);
		return;
	}
	g->recv.sub_alloc_size = c->section.sub_alloc_size;
	g->recv.num_sub_allocs = c->section.num_sub_allocs;
	g->recv.end_offset = c->section.end_offset;
	g->waiting = false;
	g->state = NVSP_GS_SEND_BUF;
	ev->kind = NVSP_GE_INIT;
}

/* FreeBSD's rules: non-zero, a multiple of 4, inside the buffer. */
static void on_send_buf(struct nvsp_guest *g, const union nvsp_msg *m,
			struct nvsp_guest_ev *ev)
{
	uint32_t size = m->send_buf_complete.section_size;

	if (m->send_buf_complete.status != NVSP_STATUS_SUCCESS) {
		fail(g, ev, NVSP_GBAD_STATUS, m->send_buf_complete.status);
		return;
	}
	if (size == 0 || size % 4 || size > g->cfg.send_size) {
		fail(g, ev, NVSP_GBAD_SEND_SECTION, NVSP_STATUS_SUCCESS);
		return;
	}
	g->send_section_size = size;
	g->send_sections = g->cfg.send_size / size;
	g->waiting = false;
	g->state = NVSP_GS_READY;
	ev->kind = NVSP_GE_READY;
}

/* Linux's minimum lengths of the answers. */
static uint32_t answer_min(uint32_t type)
{
	switch (type) {
	case NVSP_TYPE_INIT:
		return sizeof(struct nvsp_init_complete);
	case NVSP_TYPE_SEND_RECV_BUF:
		return sizeof(struct nvsp_recv_buf_complete);
	default: /* SEND_SEND_BUF */
		return sizeof(struct nvsp_send_buf_complete);
	}
}

static void on_step_answer(struct nvsp_guest *g, uint32_t req,
			   const union nvsp_msg *m, uint32_t len,
			   struct nvsp_guest_ev *ev)
{
	if (!g->waiting || g->state >= NVSP_GS_READY ||
	    step_type[g->state] != req) {
		g->st.bad[NVSP_GBAD_XID]++;
		return;
	}
	if (len < answer_min(req)) {
		g->st.bad[NVSP_GBAD_SHORT]++;
		return;
	}
	if (m->type != req + 1) {
		g->st.bad[NVSP_GBAD_MSG]++;
		return;
	}
	if (req == NVSP_TYPE_INIT)
		on_init(g, m, ev);
	else if (req == NVSP_TYPE_SEND_RECV_BUF)
		on_recv_buf(g, m, ev);
	else
		on_send_buf(g, m, ev);
}

static void on_subch(struct nvsp_guest *g, const union nvsp_msg *m,
		     uint32_t len, struct nvsp_guest_ev *ev)
{
	const struct nvsp_subchannel_resp *r = &m->subch_resp;
	enum nvsp_guest_bad why = NVSP_GBAD__COUNT;

	if (!g->subch_waiting)
		why = NVSP_GBAD_XID;
	else if (len < sizeof(*r))
		why = NVSP_GBAD_SHORT;
	else if (r->type != NVSP_TYPE_SUBCHANNEL)
		why = NVSP_GBAD_MSG;
	if (why != NVSP_GBAD__COUNT) {
		g->st.bad[why]++;
		return;
	}
	/* A refusal or a count above the request leaves one channel. */
	g->subch_waiting = false;
	g->subch_granted = 0;
	if (r->status != NVSP_STATUS_SUCCESS)
		g->st.bad[NVSP_GBAD_STATUS]++;
	else if (r->num > g->subch_asked)
		g->st.bad[NVSP_GBAD_SUBCH]++;
	else
		g->subch_granted = (uint16_t)r->num;
	ev->kind = NVSP_GE_SUBCH;
	ev->status = r->status;
	ev->count = g->subch_granted;
}

/* Linux completes SWITCH_DATA_PATH with no payload; any payload is
 * taken. */
static void on_datapath_done(struct nvsp_guest *g, struct nvsp_guest_ev *ev)
{
	if (!g->datapath_waiting) {
		g->st.bad[NVSP_GBAD_XID]++;
		return;
	}
	g->datapath_waiting = false;
	ev->kind = NVSP_GE_DATAPATH;
	ev->count = g->datapath_vf;
}

static void on_answer(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		      const union nvsp_msg *m, struct nvsp_guest_ev *ev)
{
	uint32_t req = (uint32_t)(pkt->xid - NVSP_GUEST_XID_BASE);

	/* OpenVMM completes these (empty) even unasked: nothing to do. */
	if (req == NVSP_TYPE_NDIS_CONFIG || req == NVSP_TYPE_NDIS_VERSION)
		return;
	if (req == NVSP_TYPE_SWITCH_DATA_PATH)
		on_datapath_done(g, ev);
	else if (req == NVSP_TYPE_SUBCHANNEL)
		on_subch(g, m, pkt->payload_len, ev);
	else
		on_step_answer(g, req, m, pkt->payload_len, ev);
}

/* A completion of a data send: the embedder matches the id. */
static void on_send_done(struct nvsp_guest *g, const struct vmb_pkt *pkt,
			 const union nvsp_msg *m, struct nvsp_guest_ev *ev)
{
	enum nvsp_guest_bad why = NVSP_GBAD__COUNT;

	if (g->state != NVSP_GS_READY)
		why = NVSP_GBAD_XID;
	else if (pkt->payload_len < sizeof(struct nvsp_rndis_pkt_complete))
		why = NVSP_GBAD_SHORT;
	else if (m->type != NVSP_TYPE_RNDIS_PKT_COMPLETE)
		why = NVSP_GBAD_MSG;
	if (why != NVSP_GBAD__COUNT) {
		g->st.bad[why]++;
		return;
	}
	g->st.send_done++;
	ev->kind = NVSP_GE_SEND_DONE;
	ev->status = m->rndis_complete.status;
}

/* ---- the host's notices ---- */

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	vmb_memcpy(&v, p, 4);
	return vmb_le32(v);
}

/* Linux's rules, with its fix for hosts that put the table at 40 up to
 * NVSP 6 whatever the offset says; every entry must name an open
 * channel. */
static bool on_table(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		     const union nvsp_msg *m)
{
	uint32_t len = pkt->payload_len, off = m->table.offset;
	uint32_t need = NVSP_TX_TABLE_LEN * 4, tab[NVSP_TX_TABLE_LEN];

	if (g->state != NVSP_GS_READY || m->table.count != NVSP_TX_TABLE_LEN)
		return false;
	if (g->version <= NVSP_VERSION_6 &&
	    len >= NVSP_TX_TABLE_BUGGY_OFFSET + need)
		off = NVSP_TX_TABLE_BUGGY_OFFSET;
	if (len < need || off > len - need || off < sizeof(m->table))
		return false;
	for (uint32_t i = 0; i < NVSP_TX_TABLE_LEN; i++) {
		tab[i] = get32(pkt->payload + off + 4 * i);
		if (tab[i] >= g->channels)
			return false;
	}
	vmb_memcpy(g->tx_table, tab, sizeof(tab));
	return true;
}

/* The minimum length of each notice, and whether it is valid now. */
static enum nvsp_guest_bad notice_check(const struct nvsp_guest *g,
					const union nvsp_msg *m, uint32_t len)
{
	switch (m->type) {
	case NVSP_TYPE_SEND_INDIRECTION_TABLE:
		return len < sizeof(m->table) ? NVSP_GBAD_SHORT
					      : NVSP_GBAD__COUNT;
	case NVSP_TYPE_VF_ASSOCIATION:
		if (len < sizeof(m->vf))
			return NVSP_GBAD_SHORT;
		if (g->state != NVSP_GS_READY || !(ndis_caps(g) & NVSP_CAP_SRIOV))
			return NVSP_GBAD_STATE;
		return m->vf.allocated > 1 ? NVSP_GBAD_VALUE : NVSP_GBAD__COUNT;
	case NVSP_TYPE_SWITCH_DATA_PATH:
		if (len < sizeof(m->datapath))
			return NVSP_GBAD_SHORT;
		if (g->state != NVSP_GS_READY)
			return NVSP_GBAD_STATE;
		return m->datapath.active_datapath > NVSP_DATAPATH_VF
			       ? NVSP_GBAD_VALUE
			       : NVSP_GBAD__COUNT;
	default:
		return NVSP_GBAD_MSG;
	}
}

static void on_notice(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		      const union nvsp_msg *m, struct nvsp_guest_ev *ev)
{
	enum nvsp_guest_bad why = notice_check(g, m, pkt->payload_len);

	if (why == NVSP_GBAD__COUNT && m->type == NVSP_TYPE_SEND_INDIRECTION_TABLE &&
	    !on_table(g, pkt, m))
		why = NVSP_GBAD_TABLE;
	if (why != NVSP_GBAD__COUNT) {
		g->st.bad[why]++;
		return;
	}
	ev->complete = pkt->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED;
	if (m->type == NVSP_TYPE_SEND_INDIRECTION_TABLE) {
		ev->kind = NVSP_GE_TX_TABLE;
	} else if (m->type == NVSP_TYPE_VF_ASSOCIATION) {
		ev->kind = NVSP_GE_VF;
		ev->count = m->vf.allocated;
		ev->serial = m->vf.serial;
	} else {
		ev->kind = NVSP_GE_DATAPATH;
		ev->count = m->datapath.active_datapath;
	}
}

void nvsp_guest_rx(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		   struct nvsp_guest_ev *ev)
{
	union nvsp_msg m = { .type = 0 };

	vmb_memset(ev, 0, sizeof(*ev));
	ev->xid = pkt->xid;
	vmb_memcpy(&m, pkt->payload, pkt->payload_len < sizeof(m)
					     ? pkt->payload_len
					     : sizeof(m));
	if (pkt->type == VMB_PKT_COMP && pkt->xid >= NVSP_GUEST_XID_BASE)
		on_answer(g, pkt, &m, ev);
	else if (pkt->type == VMB_PKT_COMP)
		on_send_done(g, pkt, &m, ev);
	else if (pkt->type != VMB_PKT_INBAND)
		g->st.bad[NVSP_GBAD_TYPE]++;
	else if (pkt->payload_len < sizeof(m.type))
		g->st.bad[NVSP_GBAD_SHORT]++;
	else
		on_notice(g, pkt, &m, ev);
}

/* ---- data path ---- */

uint32_t nvsp_rndis_pkt(union nvsp_msg *m, uint32_t channel_type,
			uint32_t index, uint32_t size)
{
	vmb_memset(m, 0, sizeof(*m));
	m->rndis.type = NVSP_TYPE_RNDIS_PKT;
	m->rndis.channel_type = channel_type;
	m->rndis.section_index = index;
	m->rndis.section_size = index == NVSP_SECTION_NONE ? 0 : size;
	return NVSP_MSG_LEN;
}

uint32_t nvsp_rndis_complete(union nvsp_msg *m, uint32_t status)
{
	vmb_memset(m, 0, sizeof(*m));
	m->rndis_complete.type = NVSP_TYPE_RNDIS_PKT_COMPLETE;
	m->rndis_complete.status = status;
	return sizeof(m->rndis_complete);
}

static enum nvsp_guest_bad recv_head(const struct nvsp_guest *g,
				     const struct vmb_pkt *pkt,
				     const struct vmb_xfer_range **rg,
				     uint32_t *cnt, uint32_t *ctype)
{
	struct nvsp_rndis_pkt r = { .type = 0 };
	uint16_t set;

	if (pkt->type != VMB_PKT_XFER_PAGES)
		return NVSP_GBAD_TYPE;
	if (g->state != NVSP_GS_READY)
		return NVSP_GBAD_STATE;
	if (vmb_pkt_xfer_ranges(pkt, &set, rg, cnt))
		return NVSP_GBAD_RANGES;
	if (set != NVSP_RECV_BUF_ID)
		return NVSP_GBAD_PAGESET;
	if (pkt->payload_len < 8)
		return NVSP_GBAD_SHORT;
	vmb_memcpy(&r, pkt->payload, pkt->payload_len < sizeof(r)
					     ? pkt->payload_len
					     : sizeof(r));
	if (r.type != NVSP_TYPE_RNDIS_PKT)
		return NVSP_GBAD_MSG;
	*ctype = r.channel_type;
	return NVSP_GBAD__COUNT;
}

static enum nvsp_guest_bad recv_ranges(const struct nvsp_guest *g,
				       const struct vmb_xfer_range *rg,
				       uint32_t cnt, struct nvsp_range *out,
				       uint32_t max)
{
	bool rsc = g->cfg.rsc && g->version >= NVSP_VERSION_61;
	uint32_t limit = rsc ? NVSP_RECV_MAX_RANGES_RSC : NVSP_RECV_MAX_RANGES;

	if (cnt == 0 || cnt > limit || cnt > max)
		return NVSP_GBAD_RANGES;
	for (uint32_t i = 0; i < cnt; i++) {
		uint32_t off = vmb_le32(rg[i].byte_offset);
		uint32_t len = vmb_le32(rg[i].byte_count);

		if (len == 0 || len > g->recv.sub_alloc_size ||
		    (uint64_t)off + len > g->cfg.recv_size)
			return NVSP_GBAD_RANGE;
		out[i] = (struct nvsp_range){ .offset = off, .len = len };
	}
	return NVSP_GBAD__COUNT;
}

int nvsp_guest_recv(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		    struct nvsp_range *out, uint32_t max, uint32_t *n,
		    uint32_t *channel_type)
{
	const struct vmb_xfer_range *rg = NULL;
	enum nvsp_guest_bad why;
	uint32_t cnt = 0;

	*n = 0;
	*channel_type = NVSP_CHANNEL_DATA;
	why = recv_head(g, pkt, &rg, &cnt, channel_type);
	if (why == NVSP_GBAD__COUNT)
		why = recv_ranges(g, rg, cnt, out, max);
	if (why != NVSP_GBAD__COUNT) {
		g->st.bad[why]++;
		return VMB_EPROTO;
	}
	*n = cnt;
	g->st.recvs++;
	return VMB_OK;
}

/* ---- send-buffer sections ---- */

void nvsp_sendbuf_init(struct nvsp_sendbuf *s, uint64_t *map, uint32_t count)
{
	uint32_t words = NVSP_SENDBUF_WORDS(count);

	s->map = map;
	s->count = count;
	s->used = 0;
	s->hint = 0;
	vmb_memset(map, 0, words * sizeof(*map));
	/* Bits past count stay set, so that they are never handed out. */
	if (count % 64)
		map[words - 1] = ~0ull << (count % 64);
}

uint32_t nvsp_sendbuf_alloc(struct nvsp_sendbuf *s)
{
	uint32_t words = NVSP_SENDBUF_WORDS(s->count);

	for (uint32_t k = 0; k < words; k++) {
		uint32_t w = (s->hint + k) % words;
		uint64_t free = ~s->map[w];

		if (!free)
			continue;
		s->map[w] |= free & -free;
		s->hint = w;
		s->used++;
		return w * 64 + (uint32_t)__builtin_ctzll(free);
	}
	return NVSP_SECTION_NONE;
}

int nvsp_sendbuf_free(struct nvsp_sendbuf *s, uint32_t index)
{
	uint64_t bit;

	if (index >= s->count)
		return VMB_ENOENT;
	bit = 1ull << (index % 64);
	if (!(s->map[index / 64] & bit))
		return VMB_ENOENT;
	s->map[index / 64] &= ~bit;
	s->used--;
	return VMB_OK;
}
