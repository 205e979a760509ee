/* The guest side of VSTOR: the init sequence, the request table and the
 * host's answers. */
#include "storage/vstor_guest.h"

/* Proposed from the top down, as the BSDs do; Linux stops at 5.1. */
static const uint16_t versions[] = {
	VSTOR_VERSION_WIN10, VSTOR_VERSION_BLUE, VSTOR_VERSION_WIN8,
	VSTOR_VERSION_WIN7, VSTOR_VERSION_WIN6,
};

static const char *const bad_names[VSTOR_GBAD__COUNT] = {
	[VSTOR_GBAD_SHORT] = "short",
	[VSTOR_GBAD_TYPE] = "packet-type",
	[VSTOR_GBAD_OP] = "operation",
	[VSTOR_GBAD_UNKNOWN] = "unknown-id",
	[VSTOR_GBAD_STALE] = "stale-id",
	[VSTOR_GBAD_DUPLICATE] = "duplicate-id",
	[VSTOR_GBAD_INIT] = "init-answer",
};

const char *vstor_guest_bad_name(enum vstor_guest_bad b)
{
	return (unsigned)b < VSTOR_GBAD__COUNT ? bad_names[b] : "?";
}

void vstor_guest_init(struct vstor_guest *g, const struct vstor_guest_cfg *c)
{
	vmb_memset(g, 0, sizeof(*g));
	g->cfg = *c;
	g->state = VSTOR_GS_BEGIN;
	while (g->vidx + 1 < VMB_ARRAY_LEN(versions) &&
	       versions[g->vidx] > c->max_version)
		g->vidx++;
}

/* Until a version is agreed, a packet has the size of the version being
 * proposed (older hosts expect 48 bytes for 4.2 and 2.0). */
static uint16_t wire_version(const struct vstor_guest *g)
{
	return g->state <= VSTOR_GS_VERSION ? versions[g->vidx] : g->version;
}

static const uint32_t step_op[] = {
	[VSTOR_GS_BEGIN] = VSTOR_OP_BEGIN_INIT,
	[VSTOR_GS_VERSION] = VSTOR_OP_QUERY_PROTOCOL_VERSION,
	[VSTOR_GS_PROPERTIES] = VSTOR_OP_QUERY_PROPERTIES,
	[VSTOR_GS_END] = VSTOR_OP_END_INIT,
	[VSTOR_GS_SUBCH] = VSTOR_OP_CREATE_SUB_CHANNELS,
};

uint32_t vstor_guest_next(struct vstor_guest *g, uint8_t out[VSTOR_PKT_LEN],
			  uint64_t *xid)
{
	struct vstor_packet p = { .flags = VSTOR_FLAG_REQUEST_COMPLETION };
	uint32_t len = vstor_pkt_len(wire_version(g));

	if (g->state >= VSTOR_GS_READY)
		return 0;
	p.operation = step_op[g->state];
	if (g->state == VSTOR_GS_VERSION)
		p.version.major_minor = versions[g->vidx];
	if (g->state == VSTOR_GS_SUBCH)
		p.sub_channel_count = g->subchannels;
	vmb_memcpy(out, &p, len);
	*xid = VSTOR_GUEST_INIT_XID;
	return len;
}

static uint16_t subch_wanted(const struct vstor_guest *g)
{
	uint32_t want = g->cfg.subchannels;

	if (!(g->props.flags & VSTOR_PROP_MULTI_CHANNEL) ||
	    g->version < VSTOR_VERSION_WIN8)
		return 0;
	if (want == VSTOR_GUEST_SUBCH_AUTO)
		want = g->cfg.ncpus ? g->cfg.ncpus - 1 : 0;
	return (uint16_t)(want < g->props.max_channel_count
				  ? want
				  : g->props.max_channel_count);
}

static void fail(struct vstor_guest *g, uint32_t status)
{
	g->fail_step = g->state;
	g->fail_status = status;
	g->state = VSTOR_GS_FAILED;
}

/* A refused version moves to the next older one, if any. */
static void init_step(struct vstor_guest *g, const struct vstor_packet *p)
{
	if (p->status && g->state == VSTOR_GS_VERSION &&
	    g->vidx + 1 < VMB_ARRAY_LEN(versions)) {
		g->vidx++;
		return;
	}
	if (p->status) {
		fail(g, p->status);
		return;
	}
	switch (g->state) {
	case VSTOR_GS_VERSION:
		g->version = versions[g->vidx];
		break;
	case VSTOR_GS_PROPERTIES:
		g->props = p->props;
		break;
	case VSTOR_GS_END:
		g->subchannels = subch_wanted(g);
		if (!g->subchannels)
			g->state = VSTOR_GS_SUBCH;
		break;
	default:
		break;
	}
	g->state++;
}

void vstor_reqtab_init(struct vstor_reqtab *t, struct vstor_slot *slot,
		       uint32_t cap)
{
	t->slot = slot;
	t->cap = cap;
	t->busy = 0;
	for (uint32_t i = 0; i < cap; i++)
		slot[i] = (struct vstor_slot){ .gen = 1, .next = i + 1 };
	t->free_head = 0;
}

/* Index + 1 in the lower half (0 is the host's unsolicited id), the
 * generation in the upper half. */
int vstor_req_alloc(struct vstor_reqtab *t, void *cookie, uint32_t xfer_len,
		    uint64_t *xid)
{
	uint32_t i = t->free_head;
	struct vstor_slot *s;

	if (i >= t->cap)
		return VMB_EAGAIN;
	s = &t->slot[i];
	t->free_head = s->next;
	s->busy = true;
	s->cookie = cookie;
	s->xfer_len = xfer_len;
	t->busy++;
	*xid = (uint64_t)s->gen << 32 | (i + 1);
	return VMB_OK;
}

static void req_free(struct vstor_reqtab *t, uint32_t i)
{
	struct vstor_slot *s = &t->slot[i];

	s->busy = false;
	s->cookie = NULL;
	/* Generation 0 never appears in an id, so stays unused on wrap. */
	s->gen = s->gen + 1 ? s->gen + 1 : 1;
	s->next = t->free_head;
	t->free_head = i;
	t->busy--;
}

/* The slot xid names, or why not. */
static enum vstor_guest_bad req_find(const struct vstor_reqtab *t,
				     uint64_t xid, uint32_t *idx)
{
	uint32_t i = (uint32_t)xid, gen = (uint32_t)(xid >> 32);
	const struct vstor_slot *s;

	if (!t || i == 0 || i > t->cap || gen == 0)
		return VSTOR_GBAD_UNKNOWN;
	s = &t->slot[i - 1];
	*idx = i - 1;
	if (s->busy && s->gen == gen)
		return VSTOR_GBAD__COUNT;
	/* Freed and not reused since: this id was answered already. */
	if (!s->busy && gen + 1 == s->gen)
		return VSTOR_GBAD_DUPLICATE;
	return VSTOR_GBAD_STALE;
}

int vstor_req_cancel(struct vstor_reqtab *t, uint64_t xid)
{
	uint32_t i;

	if (req_find(t, xid, &i) != VSTOR_GBAD__COUNT)
		return VMB_ENOENT;
	req_free(t, i);
	return VMB_OK;
}

uint32_t vstor_guest_srb(const struct vstor_guest *g,
			 const struct vstor_srb_req *r,
			 uint8_t out[VSTOR_PKT_LEN])
{
	struct vstor_packet p = {
		.operation = VSTOR_OP_EXECUTE_SRB,
		.flags = VSTOR_FLAG_REQUEST_COMPLETION,
	};
	uint32_t len = vstor_pkt_len(g->version);
	uint8_t n = r->cdb_len <= VSTOR_CDB_MAX ? r->cdb_len : VSTOR_CDB_MAX;

	p.srb.length = (uint16_t)(len - VSTOR_PKT_HDR_LEN);
	p.srb.path = r->path;
	p.srb.target = r->target;
	p.srb.lun = r->lun;
	p.srb.cdb_length = n;
	p.srb.sense_info_length = (uint8_t)vstor_sense_max(g->version);
	p.srb.data_in = r->xfer_len ? r->dir : VSTOR_DIR_NONE;
	p.srb.data_transfer_length = r->xfer_len;
	vmb_memcpy(p.srb.cdb, r->cdb, n);
	/* The Win8 extension as Linux fills it: 60 s, no synchronous
	 * transfer negotiation, the direction as a flag. */
	p.win8.time_out_value = 60;
	p.win8.srb_flags = VSTOR_SRB_FL_DISABLE_SYNCH_TRANSFER;
	if (r->xfer_len && r->dir == VSTOR_DIR_READ)
		p.win8.srb_flags |= VSTOR_SRB_FL_DATA_IN;
	else if (r->xfer_len && r->dir == VSTOR_DIR_WRITE)
		p.win8.srb_flags |= VSTOR_SRB_FL_DATA_OUT;
	vmb_memcpy(out, &p, len);
	return len;
}

static void decode_done(const struct vstor_guest *g, const struct vstor_slot *s,
			const struct vstor_packet *p, struct vstor_guest_ev *ev)
{
	uint32_t sense = p->srb.sense_info_length;

	ev->kind = VSTOR_GE_DONE;
	ev->cookie = s->cookie;
	ev->status = p->status;
	ev->srb_status = p->srb.srb_status & VSTOR_SRB_STATUS_MASK;
	ev->scsi_status = p->srb.scsi_status;
	ev->moved = p->srb.data_transfer_length < s->xfer_len
			    ? p->srb.data_transfer_length
			    : s->xfer_len;
	if (!(p->srb.srb_status & VSTOR_SRB_AUTOSENSE_VALID))
		sense = 0;
	if (sense > vstor_sense_max(g->version))
		sense = vstor_sense_max(g->version);
	ev->sense_len = (uint8_t)sense;
	vmb_memcpy(ev->sense, p->srb.sense, sense);
}

static void on_io(struct vstor_guest *g, struct vstor_reqtab *t,
		  const struct vmb_pkt *pkt, const struct vstor_packet *p,
		  struct vstor_guest_ev *ev)
{
	enum vstor_guest_bad why;
	uint32_t i = 0;

	why = req_find(t, pkt->xid, &i);
	if (why == VSTOR_GBAD__COUNT && p->operation != VSTOR_OP_COMPLETE_IO)
		why = VSTOR_GBAD_OP;
	if (why != VSTOR_GBAD__COUNT) {
		g->st.bad[why]++;
		return;
	}
	decode_done(g, &t->slot[i], p, ev);
	req_free(t, i);
	g->st.completed++;
}

static void on_init(struct vstor_guest *g, const struct vstor_packet *p,
		    struct vstor_guest_ev *ev)
{
	if (g->state >= VSTOR_GS_READY || p->operation != VSTOR_OP_COMPLETE_IO) {
		g->st.bad[g->state >= VSTOR_GS_READY ? VSTOR_GBAD_INIT
						     : VSTOR_GBAD_OP]++;
		return;
	}
	init_step(g, p);
	ev->kind = VSTOR_GE_INIT;
}

/* Notifications come inband with id 0; Linux and FreeBSD rescan on
 * either. */
static void on_notice(struct vstor_guest *g, const struct vstor_packet *p,
		      struct vstor_guest_ev *ev)
{
	if (p->operation != VSTOR_OP_ENUMERATE_BUS &&
	    p->operation != VSTOR_OP_REMOVE_DEVICE) {
		g->st.bad[VSTOR_GBAD_OP]++;
		return;
	}
	g->st.rescans++;
	ev->kind = VSTOR_GE_RESCAN;
}

void vstor_guest_rx(struct vstor_guest *g, struct vstor_reqtab *t,
		    const struct vmb_pkt *pkt, struct vstor_guest_ev *ev)
{
	struct vstor_packet p = { .operation = 0 };
	bool notice = pkt->type == VMB_PKT_INBAND && pkt->xid == 0;
	/* A notification needs only its operation; answers carry the
	 * whole packet of the version in use. */
	uint32_t need = notice ? 4 : vstor_pkt_len(wire_version(g));

	ev->kind = VSTOR_GE_NONE;
	if (!notice && pkt->type != VMB_PKT_COMP) {
		g->st.bad[VSTOR_GBAD_TYPE]++;
		return;
	}
	if (pkt->payload_len < need) {
		g->st.bad[VSTOR_GBAD_SHORT]++;
		return;
	}
	vmb_memcpy(&p, pkt->payload, pkt->payload_len < sizeof(p)
					     ? pkt->payload_len
					     : sizeof(p));
	if (notice)
		on_notice(g, &p, ev);
	else if (pkt->xid == VSTOR_GUEST_INIT_XID)
		on_init(g, &p, ev);
	else
		on_io(g, t, pkt, &p, ev);
}
