/* NVSP engines: wire layouts; the guest and host engines driven against
 * each other at every version and with the host's maximum below the
 * guest's; 28-, 32- and 40-byte messages; hostile values of every field
 * on both sides, refused and counted; the data path's helpers; the
 * host's receive-buffer tracker and the guest's send sections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/nvsp_guest.h"
#include "net/nvsp_host.h"
#include "net/nvsp_rxbuf.h"

#define REQ VMB_PKT_FLAG_COMPLETION_REQUESTED
#define RECV_SIZE (2u << 20)
#define SEND_SIZE (1u << 20)

/* ---- packets as the channel worker hands them over ---- */

struct rx {
	_Alignas(8) uint8_t buf[8192];
	struct vmb_pkt pkt;
};

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Descriptor, hlen - 16 bytes of type header already in r->buf + 16,
 * then the payload padded to 8. */
static const struct vmb_pkt *mk_raw(struct rx *r, uint16_t type,
				    uint16_t flags, uint64_t xid, uint32_t hlen,
				    const void *payload, uint32_t len)
{
	uint32_t total = hlen + VMB_ALIGN8(len);

	memset(r->buf + hlen, 0, VMB_ALIGN8(len));
	memcpy(r->buf + hlen, payload, len);
	put16(r->buf, type);
	put16(r->buf + 2, (uint16_t)(hlen / 8));
	put16(r->buf + 4, (uint16_t)(total / 8));
	put16(r->buf + 6, flags);
	put64(r->buf + 8, xid);
	assert_int_equal(vmb_pkt_parse(r->buf, total, &r->pkt), 0);
	return &r->pkt;
}

static const struct vmb_pkt *mk(struct rx *r, uint16_t type, uint16_t flags,
				uint64_t xid, const void *payload, uint32_t len)
{
	memset(r->buf, 0, 16);
	return mk_raw(r, type, flags, xid, 16, payload, len);
}

/* GPA direct: n ranges of one page each. */
static const struct vmb_pkt *mk_gpa(struct rx *r, uint64_t xid, uint32_t n,
				    const void *payload, uint32_t len)
{
	uint32_t hlen = 24 + 16 * n;

	memset(r->buf, 0, hlen);
	put32(r->buf + 20, n);
	for (uint32_t i = 0; i < n; i++) {
		put32(r->buf + 24 + 16 * i, 100);
		put32(r->buf + 28 + 16 * i, 8);
		put64(r->buf + 32 + 16 * i, 0x1000 + i);
	}
	return mk_raw(r, VMB_PKT_GPA_DIRECT, REQ, xid, hlen, payload, len);
}

/* Transfer pages of set id: n ranges of len bytes from off, step apart. */
static const struct vmb_pkt *mk_xfer(struct rx *r, uint16_t set, uint32_t n,
				     uint32_t off, uint32_t len,
				     uint32_t step, const void *payload,
				     uint32_t plen)
{
	uint32_t hlen = VMB_ALIGN8(24 + 8 * n);

	memset(r->buf, 0, hlen);
	put16(r->buf + 16, set);
	put32(r->buf + 20, n);
	for (uint32_t i = 0; i < n; i++) {
		put32(r->buf + 24 + 8 * i, len);
		put32(r->buf + 28 + 8 * i, off + i * step);
	}
	return mk_raw(r, VMB_PKT_XFER_PAGES, REQ, 9, hlen, payload, plen);
}

/* ---- the two engines against each other ---- */

struct pair {
	struct nvsp_guest g;
	struct nvsp_host h;
	uint32_t map_recv, map_send; /* sizes the embedder maps */
	unsigned msgs;               /* guest messages sent */
	uint32_t lens[16];           /* host reply lengths seen */
	unsigned nlens;
};

static void pair_new(struct pair *p, uint32_t gmax, uint32_t hmax)
{
	struct nvsp_guest_cfg gc = {
		.max_version = gmax, .mtu = 1500, .ncpus = 8,
		.subchannels = NVSP_GUEST_SUBCH_AUTO,
		.recv_gpadl = 11, .recv_size = RECV_SIZE,
		.send_gpadl = 12, .send_size = SEND_SIZE,
		.sriov = true, .rsc = true,
	};
	struct nvsp_host_cfg hc = {
		.max_version = hmax, .max_subchannels = 7, .primary = true,
	};

	memset(p, 0, sizeof(*p));
	nvsp_guest_init(&p->g, &gc);
	nvsp_host_init(&p->h, &hc);
	p->map_recv = RECV_SIZE;
	p->map_send = SEND_SIZE;
}

/* One guest message through the host (and the embedder's mapping). */
static void to_host(struct pair *p, const struct nvsp_guest_out *o,
		    struct nvsp_host_act *a)
{
	struct rx r;

	nvsp_host_rx(&p->h, mk(&r, VMB_PKT_INBAND, o->flags, o->xid, &o->msg,
			       o->len), a);
	p->msgs++;
	if (a->kind == NVSP_HA_MAP_RECV) {
		assert_int_equal(a->gpadl, p->g.cfg.recv_gpadl);
		nvsp_host_recv_mapped(&p->h, p->map_recv, a);
	} else if (a->kind == NVSP_HA_MAP_SEND) {
		assert_int_equal(a->gpadl, p->g.cfg.send_gpadl);
		nvsp_host_send_mapped(&p->h, p->map_send, a);
	}
}

static void to_guest(struct pair *p, const struct nvsp_host_act *a,
		     struct nvsp_guest_ev *ev)
{
	struct rx r;

	if (p->nlens < 16)
		p->lens[p->nlens++] = a->reply_len;
	nvsp_guest_rx(&p->g, mk(&r, VMB_PKT_COMP, 0, a->xid, &a->reply,
				a->reply_len), ev);
}

/* The whole init; returns the guest's final state. */
static enum nvsp_guest_state run_init(struct pair *p)
{
	struct nvsp_guest_out o;
	struct nvsp_host_act a;
	struct nvsp_guest_ev ev;

	for (int i = 0; i < 32 && nvsp_guest_next(&p->g, &o); i++) {
		to_host(p, &o, &a);
		if (o.flags & REQ) {
			assert_true(a.reply_due);
			to_guest(p, &a, &ev);
		} else {
			assert_false(a.reply_due);
		}
	}
	return p->g.state;
}

static const uint32_t all_versions[] = {
	NVSP_VERSION_1, NVSP_VERSION_2, NVSP_VERSION_4,
	NVSP_VERSION_5, NVSP_VERSION_6, NVSP_VERSION_61,
};

/* ---- wire ---- */

static void test_wire(void **state)
{
	struct vmb_guid parsed, bytes = NVSP_CLASS_GUID_BYTES;
	union nvsp_msg m;

	(void)state;
	assert_true(vmb_guid_parse(&parsed, NVSP_CLASS_GUID));
	assert_true(vmb_guid_eq(&parsed, &bytes));
	/* Each message's fields at the offsets the facts give. */
	memset(&m, 0, sizeof(m));
	m.init = (struct nvsp_init){ 1, 0x60001, 0x60001 };
	assert_int_equal(get32(m.raw + 4), 0x60001);
	assert_int_equal(get32(m.raw + 8), 0x60001);
	m.init_complete = (struct nvsp_init_complete){ 2, ~0u, 34, 1 };
	assert_int_equal(get32(m.raw + 8), 34);
	assert_int_equal(get32(m.raw + 12), 1);
	m.ndis_config = (struct nvsp_ndis_config){ .type = 125, .mtu = 1514,
						   .caps = NVSP_CAP_RSC };
	assert_int_equal(get32(m.raw + 4), 1514);
	assert_int_equal(m.raw[12], 0x80);
	m.send_buf = (struct nvsp_send_buf){ 101, 7, NVSP_RECV_BUF_ID, 0 };
	assert_int_equal(m.raw[8] | m.raw[9] << 8, 0xCAFE);
	m.recv_buf_complete = (struct nvsp_recv_buf_complete){
		102, 1, 1, { 0, 1808, 100, 180800 } };
	assert_int_equal(get32(m.raw + 12), 0);
	assert_int_equal(get32(m.raw + 16), 1808);
	assert_int_equal(get32(m.raw + 20), 100);
	assert_int_equal(get32(m.raw + 24), 180800);
	m.revoke = (struct nvsp_revoke_buf){ 103, NVSP_RECV_BUF_ID };
	assert_int_equal(m.raw[4] | m.raw[5] << 8, 0xCAFE);
	m.send_buf_complete = (struct nvsp_send_buf_complete){ 105, 1, 6144 };
	assert_int_equal(get32(m.raw + 8), 6144);
	m.rndis = (struct nvsp_rndis_pkt){ 107, 1, 5, 300 };
	assert_int_equal(get32(m.raw + 8), 5);
	assert_int_equal(get32(m.raw + 12), 300);
	m.subch_resp = (struct nvsp_subchannel_resp){ 133, 1, 3 };
	assert_int_equal(get32(m.raw + 8), 3);
	m.table = (struct nvsp_indirection_table){ 134, 16, 12 };
	assert_int_equal(get32(m.raw + 8), 12);
	m.vf = (struct nvsp_vf_association){ 128, 1, 42 };
	assert_int_equal(get32(m.raw + 8), 42);
	m.datapath = (struct nvsp_switch_data_path){ 129, 1 };
	assert_int_equal(get32(m.raw + 4), 1);
	assert_int_equal(nvsp_msg_len(NVSP_VERSION_6), 32);
	assert_int_equal(nvsp_msg_len(NVSP_VERSION_61), 40);
	assert_int_equal(nvsp_host_sub_alloc_size(1514), 1808);
	assert_false(nvsp_version_known(0x60002));
}

/* ---- sessions ---- */

static void check_ready(const struct pair *p, uint32_t v)
{
	assert_int_equal(p->g.state, NVSP_GS_READY);
	assert_int_equal(p->g.version, v);
	assert_int_equal(p->h.version, v);
	assert_int_equal(p->h.mtu, 1514);
	assert_int_equal(p->g.recv.sub_alloc_size, 1808);
	assert_int_equal(p->g.recv.num_sub_allocs, RECV_SIZE / 1808);
	assert_int_equal(p->h.layout.num_sub_allocs, RECV_SIZE / 1808);
	assert_int_equal(p->g.send_section_size, 6144);
	assert_int_equal(p->g.send_sections, SEND_SIZE / 6144);
	assert_int_equal(p->h.send_sections, SEND_SIZE / 6144);
	assert_int_equal(p->h.have_config, v >= NVSP_VERSION_2);
	assert_true(p->h.have_ndis_version);
	assert_int_equal(p->h.ndis_minor, v >= NVSP_VERSION_5 ? 30 : 1);
	/* SR-IOV asked from V5 (Linux), honoured from V4; RSC at 6.1. */
	assert_int_equal(p->h.sriov, v >= NVSP_VERSION_5);
	assert_int_equal(p->h.rsc, v >= NVSP_VERSION_61);
	for (unsigned i = 0; i < NVSP_HBAD__COUNT; i++)
		if (i != NVSP_HBAD_VERSION)
			assert_int_equal(p->h.st.bad[i], 0);
	for (unsigned i = 0; i < NVSP_GBAD__COUNT; i++)
		assert_int_equal(p->g.st.bad[i], 0);
}

static void test_every_version(void **state)
{
	struct pair p;

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		uint32_t v = all_versions[i];

		pair_new(&p, NVSP_VERSION_61, v);
		assert_int_equal(run_init(&p), NVSP_GS_READY);
		check_ready(&p, v);
		/* Versions refused on the way down, each with NONE. */
		assert_int_equal(p.h.st.bad[NVSP_HBAD_VERSION], 5 - i);
		/* Host answers are 32 bytes below 6.1, 40 from it. */
		for (unsigned k = 5 - i; k < p.nlens; k++)
			assert_int_equal(p.lens[k], nvsp_msg_len(v));
		/* INIT, NDIS_CONFIG from V2, NDIS_VERSION, two buffers. */
		assert_int_equal(p.msgs, 6 - i + (v >= NVSP_VERSION_2) + 3);
		/* The guest capped at the same version agrees at once. */
		pair_new(&p, v, NVSP_VERSION_61);
		assert_int_equal(run_init(&p), NVSP_GS_READY);
		check_ready(&p, v);
		assert_int_equal(p.h.st.bad[NVSP_HBAD_VERSION], 0);
	}
}

/* A host whose maximum is below the guest's; a guest maximum that is no
 * known version starts at the next one below. */
static void test_downward(void **state)
{
	struct pair p;

	(void)state;
	pair_new(&p, NVSP_VERSION_61, NVSP_VERSION_4);
	assert_int_equal(run_init(&p), NVSP_GS_READY);
	check_ready(&p, NVSP_VERSION_4);
	pair_new(&p, 0x50005, 0x50005);
	assert_int_equal(run_init(&p), NVSP_GS_READY);
	check_ready(&p, NVSP_VERSION_5);
	/* A host that knows nothing the guest proposes: FAILED at V1. */
	pair_new(&p, NVSP_VERSION_61, 1);
	assert_int_equal(run_init(&p), NVSP_GS_FAILED);
	assert_int_equal(p.g.fail_step, NVSP_GS_INIT);
	assert_int_equal(p.g.fail_status, NVSP_STATUS_NONE);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_VERSION], 6);
}

/* What the guest sends at each step, byte for byte. */
static void test_guest_messages(void **state)
{
	struct pair p;
	struct nvsp_guest_out o;
	struct nvsp_host_act a;
	struct nvsp_guest_ev ev;

	(void)state;
	pair_new(&p, NVSP_VERSION_61, NVSP_VERSION_61);
	assert_int_equal(nvsp_guest_next(&p.g, &o), NVSP_MSG_LEN);
	assert_int_equal(o.msg.init.min_ver, NVSP_VERSION_61);
	assert_int_equal(o.msg.init.max_ver, NVSP_VERSION_61);
	assert_int_equal(o.flags, REQ);
	/* Nothing more until the answer. */
	assert_int_equal(nvsp_guest_next(&p.g, &o), 0);
	memset(&o, 0, sizeof(o));
	o.len = 40;
	o.flags = REQ;
	o.xid = NVSP_GUEST_XID_BASE | NVSP_TYPE_INIT;
	o.msg.init = (struct nvsp_init){ 1, NVSP_VERSION_61, NVSP_VERSION_61 };
	to_host(&p, &o, &a);
	to_guest(&p, &a, &ev);
	assert_int_equal(ev.kind, NVSP_GE_INIT);
	assert_int_equal(nvsp_guest_next(&p.g, &o), NVSP_MSG_LEN);
	assert_int_equal(o.msg.type, NVSP_TYPE_NDIS_CONFIG);
	assert_int_equal(o.flags, 0);
	assert_int_equal(o.msg.ndis_config.mtu, 1514);
	assert_true(o.msg.ndis_config.caps ==
		    (NVSP_CAP_IEEE8021Q | NVSP_CAP_TEAMING | NVSP_CAP_SRIOV |
		     NVSP_CAP_RSC));
	assert_int_equal(nvsp_guest_next(&p.g, &o), NVSP_MSG_LEN);
	assert_int_equal(o.msg.ndis_version.major, 6);
	assert_int_equal(o.msg.ndis_version.minor, 30);
	assert_int_equal(nvsp_guest_next(&p.g, &o), NVSP_MSG_LEN);
	assert_int_equal(o.msg.send_buf.gpadl, 11);
	assert_int_equal(o.msg.send_buf.id, NVSP_RECV_BUF_ID);
}

/* ---- multi-channel ---- */

static void ready_pair(struct pair *p, uint32_t v)
{
	pair_new(p, NVSP_VERSION_61, v);
	assert_int_equal(run_init(p), NVSP_GS_READY);
}

static void test_subchannels(void **state)
{
	struct pair p;
	struct nvsp_guest_out o;
	struct nvsp_host_act a;
	struct nvsp_guest_ev ev;

	(void)state;
	/* Automatic: min(4 queues, 8 CPUs) - 1. */
	ready_pair(&p, NVSP_VERSION_5);
	assert_int_equal(nvsp_guest_subchannels(&p.g, 4, &o), NVSP_MSG_LEN);
	assert_int_equal(o.msg.subch_req.op, NVSP_SUBCHANNEL_ALLOCATE);
	assert_int_equal(o.msg.subch_req.num, 3);
	assert_int_equal(nvsp_guest_subchannels(&p.g, 4, &o), 0);
	to_host(&p, &o, &a);
	assert_int_equal(a.kind, NVSP_HA_SUBCHANNELS);
	assert_int_equal(a.subchannels, 3);
	to_guest(&p, &a, &ev);
	assert_int_equal(ev.kind, NVSP_GE_SUBCH);
	assert_int_equal(ev.count, 3);
	/* Once only. */
	o.xid = NVSP_GUEST_XID_BASE | NVSP_TYPE_SUBCHANNEL;
	to_host(&p, &o, &a);
	assert_int_equal(a.kind, NVSP_HA_REPLY);
	assert_int_equal(a.reply.subch_resp.status, NVSP_STATUS_FAIL);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_SUBCH], 1);
	/* The answer again: no request in flight. */
	to_guest(&p, &a, &ev);
	assert_int_equal(ev.kind, NVSP_GE_NONE);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_XID], 1);
	/* More CPUs than queues and a fixed wish above the queues. */
	ready_pair(&p, NVSP_VERSION_6);
	p.g.cfg.subchannels = 20;
	assert_int_equal(nvsp_guest_subchannels(&p.g, 8, &o), NVSP_MSG_LEN);
	assert_int_equal(o.msg.subch_req.num, 7);
	/* Below V5, or one queue: none. */
	ready_pair(&p, NVSP_VERSION_4);
	assert_int_equal(nvsp_guest_subchannels(&p.g, 4, &o), 0);
	ready_pair(&p, NVSP_VERSION_5);
	assert_int_equal(nvsp_guest_subchannels(&p.g, 1, &o), 0);
	assert_int_equal(nvsp_guest_subchannels(&p.g, 0, &o), 0);
}

static void host_subch(struct nvsp_host *h, struct nvsp_host_act *a,
		       uint32_t op, uint32_t n)
{
	union nvsp_msg q = { .subch_req = { NVSP_TYPE_SUBCHANNEL, op, n } };
	struct rx r;

	nvsp_host_rx(h, mk(&r, VMB_PKT_INBAND, REQ, 5, &q, 32), a);
}

static void test_host_subchannels_hostile(void **state)
{
	struct pair p;
	struct nvsp_host_act a;

	(void)state;
	ready_pair(&p, NVSP_VERSION_5);
	host_subch(&p.h, &a, 2, 1);
	host_subch(&p.h, &a, NVSP_SUBCHANNEL_ALLOCATE, 0);
	host_subch(&p.h, &a, NVSP_SUBCHANNEL_ALLOCATE, 8);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_SUBCH], 3);
	assert_int_equal(a.reply.subch_resp.status, NVSP_STATUS_FAIL);
	assert_int_equal(a.reply.subch_resp.num, 0);
	host_subch(&p.h, &a, NVSP_SUBCHANNEL_ALLOCATE, 7);
	assert_int_equal(a.kind, NVSP_HA_SUBCHANNELS);
	assert_int_equal(a.subchannels, 7);
	/* Below V5: a state error. */
	ready_pair(&p, NVSP_VERSION_4);
	host_subch(&p.h, &a, NVSP_SUBCHANNEL_ALLOCATE, 1);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_STATE], 1);
	/* A configured maximum above 64 is lowered. */
	nvsp_host_init(&p.h, &(struct nvsp_host_cfg){
		.max_version = 0x7FFFFFFF, .max_subchannels = 100 });
	assert_int_equal(p.h.cfg.max_subchannels, NVSP_MAX_SUBCHANNELS);
	assert_int_equal(p.h.cfg.max_version, NVSP_VERSION_61);
}

/* The guest's answer handling of a SUBCHANNEL response. */
static void test_guest_subch_answers(void **state)
{
	struct pair p;
	struct nvsp_guest_out o;
	struct nvsp_guest_ev ev;
	struct nvsp_subchannel_resp r = { NVSP_TYPE_SUBCHANNEL, 1, 4 };
	uint64_t xid = NVSP_GUEST_XID_BASE | NVSP_TYPE_SUBCHANNEL;
	struct rx x;

	(void)state;
	ready_pair(&p, NVSP_VERSION_5);
	nvsp_guest_subchannels(&p.g, 4, &o);
	/* Short, wrong type: ignored, still waiting. */
	nvsp_guest_rx(&p.g, mk(&x, VMB_PKT_COMP, 0, xid, &r, 8), &ev);
	r.type = NVSP_TYPE_INIT_COMPLETE;
	nvsp_guest_rx(&p.g, mk(&x, VMB_PKT_COMP, 0, xid, &r, 12), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_MSG], 1);
	assert_true(p.g.subch_waiting);
	/* More than asked: none taken. */
	r.type = NVSP_TYPE_SUBCHANNEL;
	nvsp_guest_rx(&p.g, mk(&x, VMB_PKT_COMP, 0, xid, &r, 12), &ev);
	assert_int_equal(ev.kind, NVSP_GE_SUBCH);
	assert_int_equal(ev.count, 0);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SUBCH], 1);
	/* A refusal: none. */
	ready_pair(&p, NVSP_VERSION_5);
	nvsp_guest_subchannels(&p.g, 4, &o);
	r.status = NVSP_STATUS_FAIL;
	nvsp_guest_rx(&p.g, mk(&x, VMB_PKT_COMP, 0, xid, &r, 12), &ev);
	assert_int_equal(ev.count, 0);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_STATUS], 1);
	/* Fewer than asked: taken. */
	ready_pair(&p, NVSP_VERSION_5);
	nvsp_guest_subchannels(&p.g, 4, &o);
	r = (struct nvsp_subchannel_resp){ NVSP_TYPE_SUBCHANNEL, 1, 2 };
	nvsp_guest_rx(&p.g, mk(&x, VMB_PKT_COMP, 0, xid, &r, 12), &ev);
	assert_int_equal(ev.count, 2);
}

/* ---- the send indirection table ---- */

static void guest_table(struct pair *p, const void *msg, uint32_t len,
			struct nvsp_guest_ev *ev)
{
	struct rx r;

	nvsp_guest_rx(&p->g, mk(&r, VMB_PKT_INBAND, 0, 0, msg, len), ev);
}

static void test_send_table(void **state)
{
	uint8_t t[NVSP_TX_TABLE_MSG_LEN], big[112];
	struct nvsp_guest_ev ev;
	struct pair p;

	(void)state;
	ready_pair(&p, NVSP_VERSION_5);
	assert_int_equal(nvsp_host_send_table(&p.h, 1, t), 0);
	assert_int_equal(nvsp_host_send_table(&p.h, 3, t), 76);
	assert_int_equal(get32(t + 8), 12);
	assert_int_equal(get32(t + 12 + 4 * 5), 5 % 3);
	/* Entries past the channels open: refused, table kept. */
	guest_table(&p, t, 76, &ev);
	assert_int_equal(ev.kind, NVSP_GE_NONE);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_TABLE], 1);
	assert_int_equal(p.g.tx_table[2], 0);
	nvsp_guest_set_channels(&p.g, 3);
	guest_table(&p, t, 76, &ev);
	assert_int_equal(ev.kind, NVSP_GE_TX_TABLE);
	assert_int_equal(p.g.tx_table[5], 2);
	/* Count not 16; offset past the end; offset inside the header. */
	put32(t + 4, 15);
	guest_table(&p, t, 76, &ev);
	put32(t + 4, 16);
	put32(t + 8, 20);
	guest_table(&p, t, 76, &ev);
	put32(t + 8, 4);
	guest_table(&p, t, 76, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_TABLE], 4);
	guest_table(&p, t, 8, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	/* The host bug: up to V6 a long message has the table at 40,
	 * whatever the offset says. */
	memset(big, 0, sizeof(big));
	put32(big, NVSP_TYPE_SEND_INDIRECTION_TABLE);
	put32(big + 4, 16);
	put32(big + 8, 12);
	for (uint32_t i = 0; i < 16; i++)
		put32(big + 12 + 4 * i, 7);       /* would be refused */
	for (uint32_t i = 0; i < 16; i++)
		put32(big + 40 + 4 * i, (i + 1) % 3);
	guest_table(&p, big, 104, &ev);
	assert_int_equal(ev.kind, NVSP_GE_TX_TABLE);
	assert_int_equal(p.g.tx_table[0], 1);
	/* At 6.1 the offset holds. */
	ready_pair(&p, NVSP_VERSION_61);
	nvsp_guest_set_channels(&p.g, 8);
	guest_table(&p, big, 104, &ev);
	assert_int_equal(p.g.tx_table[0], 7);
	/* Before READY: refused. */
	pair_new(&p, NVSP_VERSION_61, NVSP_VERSION_61);
	guest_table(&p, big, 104, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_TABLE], 1);
}

/* ---- RNDIS packets, guest to host ---- */

static void host_rndis(struct nvsp_host *h, struct nvsp_host_act *a,
		       uint32_t ctype, uint32_t idx, uint32_t size)
{
	union nvsp_msg m;
	struct rx r;

	nvsp_host_rx(h, mk(&r, VMB_PKT_INBAND, REQ, 77, &m,
			   nvsp_rndis_pkt(&m, ctype, idx, size)), a);
}

static void test_rndis_to_host(void **state)
{
	struct pair p;
	struct nvsp_host_act a;
	union nvsp_msg m;
	struct rx r;
	uint32_t sections = SEND_SIZE / 6144;

	(void)state;
	ready_pair(&p, NVSP_VERSION_61);
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, 3, 100);
	assert_int_equal(a.kind, NVSP_HA_RNDIS);
	assert_true(a.completion);
	assert_false(a.reply_due);
	assert_int_equal(a.rndis.section, 3);
	assert_int_equal(a.rndis.offset, 3 * 6144);
	assert_int_equal(a.rndis.size, 100);
	assert_int_equal(nvsp_host_rndis_done(&p.h, NVSP_STATUS_SUCCESS, &m), 40);
	assert_int_equal(m.rndis_complete.type, NVSP_TYPE_RNDIS_PKT_COMPLETE);
	host_rndis(&p.h, &a, NVSP_CHANNEL_CONTROL, sections - 1, 6144);
	assert_int_equal(a.kind, NVSP_HA_RNDIS);
	/* Section past the buffer, size 0 or above a section, type 2. */
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, sections, 100);
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, 0, 0);
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, 0, 6145);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_SECTION], 3);
	assert_int_equal(a.kind, NVSP_HA_REPLY);
	assert_int_equal(a.reply.rndis_complete.type,
			 NVSP_TYPE_RNDIS_PKT_COMPLETE);
	assert_int_equal(a.reply.rndis_complete.status, NVSP_STATUS_FAIL);
	host_rndis(&p.h, &a, 2, 0, 100);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_CHANNEL], 1);
	/* No section: GPA ranges needed, 1..32 of them. */
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, NVSP_SECTION_NONE, 0);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_RANGES], 1);
	nvsp_rndis_pkt(&m, NVSP_CHANNEL_CONTROL, NVSP_SECTION_NONE, 55);
	assert_int_equal(m.rndis.section_size, 0);
	nvsp_host_rx(&p.h, mk_gpa(&r, 78, 2, &m, 40), &a);
	assert_int_equal(a.kind, NVSP_HA_RNDIS);
	assert_int_equal(a.rndis.nranges, 2);
	assert_int_equal(a.rndis.ranges[1].pfn[0], 0x1001);
	nvsp_host_rx(&p.h, mk_gpa(&r, 78, 33, &m, 40), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_RANGES], 2);
	/* A section named in a GPA-direct packet. */
	nvsp_rndis_pkt(&m, NVSP_CHANNEL_DATA, 1, 55);
	nvsp_host_rx(&p.h, mk_gpa(&r, 78, 1, &m, 40), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_RANGES], 3);
	/* A 16-byte message is enough; 8 is short. */
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, 1, 1);
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_INBAND, REQ, 1, &m, 8), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_SHORT], 1);
	/* Before the receive buffer: refused. */
	pair_new(&p, NVSP_VERSION_61, NVSP_VERSION_61);
	host_rndis(&p.h, &a, NVSP_CHANNEL_DATA, 0, 100);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_STATE], 1);
	assert_int_equal(p.h.st.rndis, 0);
}

/* A sub-channel: RNDIS packets and completions only. */
static void test_host_subchannel_engine(void **state)
{
	struct pair p;
	struct nvsp_host sub;
	struct nvsp_host_act a;
	struct nvsp_rndis_pkt_complete c = { NVSP_TYPE_RNDIS_PKT_COMPLETE, 1 };
	struct rx r;

	(void)state;
	ready_pair(&p, NVSP_VERSION_5);
	nvsp_host_attach(&sub, &p.h);
	host_rndis(&sub, &a, NVSP_CHANNEL_DATA, 2, 64);
	assert_int_equal(a.kind, NVSP_HA_RNDIS);
	host_subch(&sub, &a, NVSP_SUBCHANNEL_ALLOCATE, 1);
	assert_int_equal(sub.st.bad[NVSP_HBAD_STATE], 1);
	assert_int_equal(a.reply.subch_resp.status, NVSP_STATUS_FAIL);
	nvsp_host_rx(&sub, mk(&r, VMB_PKT_COMP, 0, 20, &c, 8), &a);
	assert_int_equal(a.kind, NVSP_HA_RX_DONE);
	assert_int_equal(a.xid, 20);
}

/* ---- receives, host to guest ---- */

static void test_receive(void **state)
{
	struct nvsp_guest_ev ev;
	struct pair p;
	struct nvsp_range out[600];
	union nvsp_msg m;
	uint32_t n, ct;
	struct rx r;
	struct nvsp_host_act a;

	(void)state;
	ready_pair(&p, NVSP_VERSION_61);
	assert_int_equal(nvsp_host_rndis_pkt(&p.h, NVSP_CHANNEL_DATA, &m), 40);
	assert_int_equal(m.rndis.section_index, NVSP_SECTION_NONE);
	assert_int_equal(nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 3, 1808, 1808,
						       1808, &m, 40),
					 out, 600, &n, &ct), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[2].offset, 3 * 1808);
	assert_int_equal(out[2].len, 1808);
	assert_int_equal(ct, NVSP_CHANNEL_DATA);
	/* Give it back: the host sees the id. */
	assert_int_equal(nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS), 8);
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_COMP, 0, 9, &m, 8), &a);
	assert_int_equal(a.kind, NVSP_HA_RX_DONE);
	assert_int_equal(a.xid, 9);
	/* Hostile: page set, inner type, a range past the buffer, one
	 * larger than a sub-allocation, an empty one, no ranges, more than
	 * the caller's room, more than 562 even with RSC. */
	nvsp_host_rndis_pkt(&p.h, NVSP_CHANNEL_DATA, &m);
	assert_int_equal(nvsp_guest_recv(&p.g, mk_xfer(&r, 0xBEEF, 1, 0, 10, 0,
						       &m, 40),
					 out, 600, &n, &ct), VMB_EPROTO);
	assert_int_equal(n, 0);
	m.type = NVSP_TYPE_RNDIS_PKT_COMPLETE;
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 1, 0, 10, 0, &m, 40), out,
			600, &n, &ct);
	nvsp_host_rndis_pkt(&p.h, NVSP_CHANNEL_DATA, &m);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 1, RECV_SIZE - 10, 11, 0,
				      &m, 40), out, 600, &n, &ct);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 1, 0, 1809, 0, &m, 40), out,
			600, &n, &ct);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 1, 0, 0, 0, &m, 40), out,
			600, &n, &ct);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 0, 0, 0, 0, &m, 40), out,
			600, &n, &ct);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 5, 0, 8, 8, &m, 40), out,
			4, &n, &ct);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 563, 0, 8, 8, &m, 40), out,
			600, &n, &ct);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_PAGESET], 1);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_MSG], 1);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_RANGE], 3);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_RANGES], 3);
	/* 562 with RSC at 6.1; 375 without. */
	assert_int_equal(nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 562, 0, 8, 8,
						       &m, 40),
					 out, 600, &n, &ct), 0);
	ready_pair(&p, NVSP_VERSION_6);
	nvsp_host_rndis_pkt(&p.h, NVSP_CHANNEL_CONTROL, &m);
	assert_int_equal(nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 376, 0, 8, 8,
						       &m, 32),
					 out, 600, &n, &ct), VMB_EPROTO);
	assert_int_equal(nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 375, 0, 8, 8,
						       &m, 32),
					 out, 600, &n, &ct), 0);
	assert_int_equal(ct, NVSP_CHANNEL_CONTROL);
	/* Not a transfer-page packet; a header whose ranges overrun it. */
	nvsp_guest_recv(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 32), out, 600,
			&n, &ct);
	mk_xfer(&r, 0xCAFE, 1, 0, 8, 0, &m, 32);
	put32(r.buf + 20, 2);
	nvsp_guest_recv(&p.g, &r.pkt, out, 600, &n, &ct);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_TYPE], 1);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_RANGES], 2);
	/* No NVSP message after the ranges. */
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 1, 0, 8, 0, &m, 0), out, 600,
			&n, &ct);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	/* Before READY. */
	pair_new(&p, NVSP_VERSION_61, NVSP_VERSION_61);
	nvsp_guest_recv(&p.g, mk_xfer(&r, 0xCAFE, 1, 0, 8, 0, &m, 32), out, 600,
			&n, &ct);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_STATE], 1);
	m.datapath = (struct nvsp_switch_data_path){ 129, 0 };
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 8), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_STATE], 2);
}

/* Completions the host gets: receive buffers, its own messages'. */
static void test_host_completions(void **state)
{
	struct pair p;
	struct nvsp_host_act a;
	struct nvsp_rndis_pkt_complete c = { NVSP_TYPE_RNDIS_PKT, 1 };
	struct rx r;

	(void)state;
	ready_pair(&p, NVSP_VERSION_5);
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_COMP, 0, 3, &c, 8), &a);
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_COMP, 0, 3, &c, 0), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_COMPLETION], 2);
	assert_int_equal(a.kind, NVSP_HA_NONE);
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_COMP, 0, NVSP_XID_VF_ASSOCIATION,
			      &c, 0), &a);
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_COMP, 0, NVSP_XID_SWITCH_DATA_PATH,
			      &c, 8), &a);
	assert_int_equal(a.kind, NVSP_HA_NONE);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_COMPLETION], 2);
	/* Before the receive buffer. */
	pair_new(&p, NVSP_VERSION_5, NVSP_VERSION_5);
	c.type = NVSP_TYPE_RNDIS_PKT_COMPLETE;
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_COMP, 0, 3, &c, 8), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_STATE], 1);
}

/* ---- VF and data path ---- */

static void test_vf_datapath(void **state)
{
	struct pair p;
	struct nvsp_guest_out o;
	struct nvsp_host_act a;
	struct nvsp_guest_ev ev;
	union nvsp_msg m;
	struct rx r;

	(void)state;
	ready_pair(&p, NVSP_VERSION_5);
	assert_int_equal(nvsp_host_vf_association(&p.h, true, 42, &m), 32);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, REQ, NVSP_XID_VF_ASSOCIATION,
			       &m, 32), &ev);
	assert_int_equal(ev.kind, NVSP_GE_VF);
	assert_int_equal(ev.count, 1);
	assert_int_equal(ev.serial, 42);
	assert_true(ev.complete);
	/* The guest switches to the VF; the host completes it empty. */
	assert_int_equal(nvsp_guest_switch_datapath(&p.g, true, &o), 40);
	assert_int_equal(nvsp_guest_switch_datapath(&p.g, false, &o), 0);
	o.msg.datapath.active_datapath = NVSP_DATAPATH_VF;
	to_host(&p, &o, &a);
	assert_int_equal(a.kind, NVSP_HA_DATAPATH);
	assert_true(a.vf);
	assert_true(a.reply_due);
	assert_int_equal(a.reply_len, 0);
	to_guest(&p, &a, &ev);
	assert_int_equal(ev.kind, NVSP_GE_DATAPATH);
	assert_int_equal(ev.count, 1);
	to_guest(&p, &a, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_XID], 1);
	/* The host takes the VF away. */
	assert_int_equal(nvsp_host_switch_datapath(&p.h, false, &m), 32);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, REQ,
			       NVSP_XID_SWITCH_DATA_PATH, &m, 32), &ev);
	assert_int_equal(ev.kind, NVSP_GE_DATAPATH);
	assert_int_equal(ev.count, 0);
	/* Hostile values both ways. */
	m.datapath.active_datapath = 2;
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 32), &ev);
	nvsp_host_vf_association(&p.h, true, 1, &m);
	m.vf.allocated = 2;
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 32), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_VALUE], 2);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 8), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	m.type = 130;
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 32), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_MSG], 1);
	m.datapath = (struct nvsp_switch_data_path){ 129, 3 };
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_INBAND, REQ, 1, &m, 32), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_DATAPATH], 1);
	assert_int_equal(a.reply_len, 0);
	/* Without SR-IOV (V4 guest): no VF messages, no switch to it. */
	ready_pair(&p, NVSP_VERSION_4);
	assert_int_equal(nvsp_host_vf_association(&p.h, true, 1, &m), 0);
	m.vf = (struct nvsp_vf_association){ 128, 1, 1 };
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &m, 32), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_STATE], 1);
	m.datapath = (struct nvsp_switch_data_path){ 129, 1 };
	nvsp_host_rx(&p.h, mk(&r, VMB_PKT_INBAND, REQ, 1, &m, 32), &a);
	assert_int_equal(p.h.st.bad[NVSP_HBAD_STATE], 1);
	ready_pair(&p, NVSP_VERSION_2);
	assert_int_equal(nvsp_host_switch_datapath(&p.h, false, &m), 0);
	assert_int_equal(nvsp_guest_switch_datapath(&p.g, false, &o), 0);
}

/* ---- the host's init, hostile ---- */

/* The first size bytes of msg, zero-padded to len. */
static void host_msg_n(struct nvsp_host *h, struct nvsp_host_act *a,
		       const void *msg, size_t size, uint32_t len,
		       uint16_t flags)
{
	uint8_t buf[64] = { 0 };
	struct rx r;

	memcpy(buf, msg, size < len ? size : len);
	nvsp_host_rx(h, mk(&r, VMB_PKT_INBAND, flags, 4, buf, len), a);
}

#define host_msg(h, a, msg, len, flags) \
	host_msg_n(h, a, msg, sizeof(*(msg)), len, flags)

static void host_new(struct nvsp_host *h, uint32_t max)
{
	nvsp_host_init(h, &(struct nvsp_host_cfg){ .max_version = max,
						   .max_subchannels = 4,
						   .primary = true });
}

/* INIT of 28 (legacy), 32 and 40 bytes; 12 is enough, 8 is not. */
static void test_host_init_forms(void **state)
{
	struct nvsp_init q = { NVSP_TYPE_INIT, NVSP_VERSION_5, NVSP_VERSION_5 };
	uint32_t lens[] = { 12, 28, 32, 40 };
	struct nvsp_host h;
	struct nvsp_host_act a;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		uint8_t buf[40] = { 0 };

		memcpy(buf, &q, sizeof(q));
		host_new(&h, NVSP_VERSION_61);
		host_msg_n(&h, &a, buf, sizeof(buf), lens[i], REQ);
		assert_int_equal(a.reply.init_complete.status,
				 NVSP_STATUS_SUCCESS);
		assert_int_equal(a.reply.init_complete.max_mdl_chain_len, 34);
		assert_int_equal(a.reply.init_complete.negotiated_ver,
				 0xFFFFFFFFu);
		assert_int_equal(a.reply_len, 32);
		assert_int_equal(h.version, NVSP_VERSION_5);
	}
	host_new(&h, NVSP_VERSION_61);
	host_msg(&h, &a, &q, 8, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_SHORT], 1);
	assert_int_equal(a.reply.init_complete.status, NVSP_STATUS_FAIL);
	host_msg(&h, &a, &q, 2, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_SHORT], 2);
	/* V1 reports 2 in the deprecated field. */
	q.min_ver = NVSP_VERSION_1;
	host_msg(&h, &a, &q, 32, REQ);
	assert_int_equal(a.reply.init_complete.negotiated_ver, 2);
	/* A range: only the first field counts (OpenVMM). */
	host_new(&h, NVSP_VERSION_61);
	q = (struct nvsp_init){ NVSP_TYPE_INIT, 0x4, NVSP_VERSION_61 };
	host_msg(&h, &a, &q, 32, REQ);
	assert_int_equal(a.reply.init_complete.status, NVSP_STATUS_NONE);
	assert_int_equal(h.version, 0);
}

static void test_host_init_hostile(void **state)
{
	struct nvsp_init q = { NVSP_TYPE_INIT, NVSP_VERSION_5, NVSP_VERSION_5 };
	struct nvsp_ndis_config c = { NVSP_TYPE_NDIS_CONFIG, 1514, 0, 0 };
	struct nvsp_ndis_version v = { NVSP_TYPE_NDIS_VERSION, 6, 30 };
	struct nvsp_send_buf b = { NVSP_TYPE_SEND_RECV_BUF, 9, 0xCAFE, 0 };
	struct nvsp_send_buf s = { NVSP_TYPE_SEND_SEND_BUF, 10, 0, 0 };
	struct nvsp_revoke_buf rv = { NVSP_TYPE_REVOKE_RECV_BUF, 0xCAFE };
	struct nvsp_host h;
	struct nvsp_host_act a;

	(void)state;
	host_new(&h, NVSP_VERSION_61);
	/* Before INIT: everything else is out of place. */
	host_msg(&h, &a, &c, 32, REQ);
	assert_int_equal(a.reply_len, 0);
	assert_true(a.reply_due);
	host_msg(&h, &a, &v, 32, 0);
	assert_false(a.reply_due);
	host_msg(&h, &a, &b, 32, REQ);
	assert_int_equal(a.reply.recv_buf_complete.type,
			 NVSP_TYPE_SEND_RECV_BUF_COMPLETE);
	assert_int_equal(a.reply.recv_buf_complete.status, NVSP_STATUS_FAIL);
	host_msg(&h, &a, &s, 32, REQ);
	assert_int_equal(a.reply.send_buf_complete.status, NVSP_STATUS_FAIL);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 4);
	/* INIT without a completion asked; then twice. */
	host_msg(&h, &a, &q, 32, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_TYPE], 1);
	assert_int_equal(h.version, 0);
	host_msg(&h, &a, &q, 32, REQ);
	host_msg(&h, &a, &q, 32, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 5);
	assert_int_equal(a.reply.init_complete.status, NVSP_STATUS_FAIL);
	/* RECV_BUF before NDIS_CONFIG (V2+). */
	host_msg(&h, &a, &b, 32, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 6);
	/* MTU out of range: 1514; a second NDIS_CONFIG refused. */
	c.mtu = 9217;
	host_msg(&h, &a, &c, 32, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_MTU], 1);
	assert_int_equal(h.mtu, 1514);
	host_msg(&h, &a, &c, 32, 0);
	host_msg(&h, &a, &c, 16, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 7);
	assert_int_equal(h.st.bad[NVSP_HBAD_SHORT], 1);
	host_msg(&h, &a, &v, 32, 0);
	host_msg(&h, &a, &v, 32, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 8);
	/* Wrong receive buffer id; then the buffer too small to map. */
	b.id = 0xCAFF;
	host_msg(&h, &a, &b, 32, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_BUF_ID], 1);
	b.id = 0xCAFE;
	host_msg(&h, &a, &b, 32, REQ);
	assert_int_equal(a.kind, NVSP_HA_MAP_RECV);
	host_msg(&h, &a, &b, 32, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 9);
	nvsp_host_recv_mapped(&h, 1808 * 16, &a);
	assert_int_equal(h.st.bad[NVSP_HBAD_MAP], 1);
	assert_int_equal(a.xid, 4);
	assert_int_equal(a.reply.recv_buf_complete.status, NVSP_STATUS_FAIL);
	assert_int_equal(h.recv, NVSP_HB_NONE);
	/* A completion not asked for is no action. */
	nvsp_host_recv_mapped(&h, RECV_SIZE, &a);
	assert_int_equal(a.kind, NVSP_HA_NONE);
	host_msg(&h, &a, &b, 32, REQ);
	nvsp_host_recv_mapped(&h, 1808 * 17, &a);
	assert_int_equal(a.reply.recv_buf_complete.status, NVSP_STATUS_SUCCESS);
	assert_int_equal(a.reply.recv_buf_complete.section.num_sub_allocs, 17);
	assert_int_equal(a.reply.recv_buf_complete.section.end_offset,
			 17 * 1808);
	/* Send buffer: too small, then right, then twice. */
	host_msg(&h, &a, &s, 32, REQ);
	nvsp_host_send_mapped(&h, 6143, &a);
	assert_int_equal(h.st.bad[NVSP_HBAD_MAP], 2);
	host_msg(&h, &a, &s, 32, REQ);
	nvsp_host_send_mapped(&h, 6144 * 3 + 5, &a);
	assert_int_equal(h.send_sections, 3);
	host_msg(&h, &a, &s, 32, REQ);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 10);
	nvsp_host_send_mapped(&h, SEND_SIZE, &a);
	assert_int_equal(a.kind, NVSP_HA_NONE);
	assert_int_equal(h.send_sections, 3);
	/* Revoke: wrong id, right, twice; the send buffer's any id. */
	rv.id = 1;
	host_msg(&h, &a, &rv, 8, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_BUF_ID], 2);
	rv.id = 0xCAFE;
	host_msg(&h, &a, &rv, 8, REQ);
	assert_int_equal(a.kind, NVSP_HA_REVOKE_RECV);
	assert_true(a.reply_due);
	host_msg(&h, &a, &rv, 8, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 11);
	rv = (struct nvsp_revoke_buf){ NVSP_TYPE_REVOKE_SEND_BUF, 77 };
	host_msg(&h, &a, &rv, 8, 0);
	assert_int_equal(a.kind, NVSP_HA_REVOKE_SEND);
	assert_int_equal(h.send_sections, 0);
	host_msg(&h, &a, &rv, 0, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_SHORT], 2);
}

static void test_host_messages_hostile(void **state)
{
	struct nvsp_init q = { NVSP_TYPE_INIT, NVSP_VERSION_1, NVSP_VERSION_1 };
	struct nvsp_ndis_config c = { NVSP_TYPE_NDIS_CONFIG, 1514, 0, 0 };
	union nvsp_msg m = { .type = 110 };
	struct nvsp_host h;
	struct nvsp_host_act a;
	struct rx r;

	(void)state;
	host_new(&h, NVSP_VERSION_61);
	host_msg(&h, &a, &q, 32, REQ);
	/* V1 has no NDIS_CONFIG. */
	host_msg(&h, &a, &c, 32, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_STATE], 1);
	/* Unknown and host-only messages. */
	host_msg(&h, &a, &m, 32, REQ);
	m.type = NVSP_TYPE_VF_ASSOCIATION;
	host_msg(&h, &a, &m, 32, 0);
	m.type = NVSP_TYPE_INIT_COMPLETE;
	host_msg(&h, &a, &m, 32, 0);
	assert_int_equal(h.st.bad[NVSP_HBAD_MSG], 3);
	/* Packet types: GPA direct for anything but RNDIS, transfer pages. */
	nvsp_host_rx(&h, mk_gpa(&r, 1, 1, &c, 20), &a);
	nvsp_host_rx(&h, mk_xfer(&r, 0xCAFE, 1, 0, 8, 0, &c, 20), &a);
	assert_int_equal(h.st.bad[NVSP_HBAD_TYPE], 2);
}

/* ---- the guest's init, hostile answers ---- */

/* A guest waiting for the answer to step; the answer msg of len. */
static void guest_answer(struct pair *p, uint32_t req, const void *msg,
			 uint32_t len, struct nvsp_guest_ev *ev)
{
	struct rx r;

	nvsp_guest_rx(&p->g, mk(&r, VMB_PKT_COMP, 0, NVSP_GUEST_XID_BASE | req,
				msg, len), ev);
}

/* Runs the init until the guest waits for req's answer. */
static void guest_at(struct pair *p, uint32_t req)
{
	struct nvsp_guest_out o;
	struct nvsp_host_act a;
	struct nvsp_guest_ev ev;

	pair_new(p, NVSP_VERSION_61, NVSP_VERSION_61);
	while (nvsp_guest_next(&p->g, &o)) {
		if (o.msg.type == req)
			return;
		to_host(p, &o, &a);
		if (a.reply_due)
			to_guest(p, &a, &ev);
	}
	fail();
}

static void test_guest_init_hostile(void **state)
{
	struct nvsp_init_complete ic = { NVSP_TYPE_INIT_COMPLETE, 0, 34, 1 };
	struct pair p;
	struct nvsp_guest_ev ev;
	struct nvsp_guest_out o;
	struct rx r;

	(void)state;
	guest_at(&p, NVSP_TYPE_INIT);
	/* Short (8 < 16), wrong type, wrong step, wrong packet type. */
	guest_answer(&p, NVSP_TYPE_INIT, &ic, 8, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	ic.type = NVSP_TYPE_SEND_RECV_BUF_COMPLETE;
	guest_answer(&p, NVSP_TYPE_INIT, &ic, 16, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_MSG], 1);
	ic.type = NVSP_TYPE_INIT_COMPLETE;
	guest_answer(&p, NVSP_TYPE_SEND_RECV_BUF, &ic, 16, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_XID], 1);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_GPA_DIRECT, 0, 1, &ic, 16), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_TYPE], 1);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_INBAND, 0, 1, &ic, 0), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 2);
	/* A data completion before READY. */
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_COMP, 0, 1, &ic, 16), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_XID], 2);
	assert_int_equal(p.g.state, NVSP_GS_INIT);
	assert_true(p.g.waiting);
	/* Still takes the real answer (16 bytes are enough). */
	guest_answer(&p, NVSP_TYPE_INIT, &ic, 16, &ev);
	assert_int_equal(ev.kind, NVSP_GE_INIT);
	assert_int_equal(p.g.version, NVSP_VERSION_61);
	assert_int_equal(nvsp_guest_next(&p.g, &o), 40);
	/* OpenVMM's empty completions of NDIS_CONFIG and NDIS_VERSION. */
	guest_answer(&p, NVSP_TYPE_NDIS_CONFIG, &ic, 0, &ev);
	guest_answer(&p, NVSP_TYPE_NDIS_VERSION, &ic, 0, &ev);
	assert_int_equal(ev.kind, NVSP_GE_NONE);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_XID], 2);
	/* Once READY nothing more is sent. */
	ready_pair(&p, NVSP_VERSION_61);
	assert_int_equal(nvsp_guest_next(&p.g, &o), 0);
}

static void recv_case(struct nvsp_recv_buf_complete c, enum nvsp_guest_bad why)
{
	struct pair p;
	struct nvsp_guest_ev ev;

	guest_at(&p, NVSP_TYPE_SEND_RECV_BUF);
	assert_int_equal(nvsp_guest_next(&p.g, &(struct nvsp_guest_out){ 0 }),
			 0);
	guest_answer(&p, NVSP_TYPE_SEND_RECV_BUF, &c, 28, &ev);
	assert_int_equal(ev.kind, NVSP_GE_FAILED);
	assert_int_equal(p.g.state, NVSP_GS_FAILED);
	assert_int_equal(p.g.fail_step, NVSP_GS_RECV_BUF);
	assert_int_equal(p.g.st.bad[why], 1);
}

static void test_guest_recv_layout(void **state)
{
	struct nvsp_recv_buf_complete ok = {
		NVSP_TYPE_SEND_RECV_BUF_COMPLETE, 1, 1,
		{ 0, 1808, RECV_SIZE / 1808, RECV_SIZE / 1808 * 1808 } };
	struct nvsp_recv_buf_complete c;
	struct pair p;
	struct nvsp_guest_ev ev;

	(void)state;
	c = ok;
	c.status = NVSP_STATUS_FAIL;
	recv_case(c, NVSP_GBAD_STATUS);
	c = ok;
	c.num_sections = 2;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.num_sections = 0;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.section.offset = 8;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.section.sub_alloc_size = 0;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.section.num_sub_allocs = 0;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.section.num_sub_allocs++;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.section.sub_alloc_size = 0x80000000u;
	c.section.num_sub_allocs = 2;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	c = ok;
	c.section.end_offset = RECV_SIZE + 1;
	recv_case(c, NVSP_GBAD_RECV_LAYOUT);
	/* Short (24 < 28): ignored, still waiting. */
	guest_at(&p, NVSP_TYPE_SEND_RECV_BUF);
	guest_answer(&p, NVSP_TYPE_SEND_RECV_BUF, &ok, 24, &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	assert_int_equal(p.g.state, NVSP_GS_RECV_BUF);
	guest_answer(&p, NVSP_TYPE_SEND_RECV_BUF, &ok, 28, &ev);
	assert_int_equal(p.g.state, NVSP_GS_SEND_BUF);
}

static void send_case(uint32_t status, uint32_t size, enum nvsp_guest_bad why)
{
	struct nvsp_send_buf_complete c = {
		NVSP_TYPE_SEND_SEND_BUF_COMPLETE, status, size };
	struct pair p;
	struct nvsp_guest_ev ev;

	guest_at(&p, NVSP_TYPE_SEND_SEND_BUF);
	guest_answer(&p, NVSP_TYPE_SEND_SEND_BUF, &c, 12, &ev);
	if (why == NVSP_GBAD__COUNT) {
		assert_int_equal(ev.kind, NVSP_GE_READY);
		assert_int_equal(p.g.send_sections, SEND_SIZE / size);
		return;
	}
	assert_int_equal(ev.kind, NVSP_GE_FAILED);
	assert_int_equal(p.g.fail_step, NVSP_GS_SEND_BUF);
	assert_int_equal(p.g.st.bad[why], 1);
}

static void test_guest_send_section(void **state)
{
	(void)state;
	send_case(NVSP_STATUS_FAIL, 6144, NVSP_GBAD_STATUS);
	send_case(NVSP_STATUS_SUCCESS, 0, NVSP_GBAD_SEND_SECTION);
	send_case(NVSP_STATUS_SUCCESS, 6146, NVSP_GBAD_SEND_SECTION);
	send_case(NVSP_STATUS_SUCCESS, SEND_SIZE + 4, NVSP_GBAD_SEND_SECTION);
	send_case(NVSP_STATUS_SUCCESS, SEND_SIZE, NVSP_GBAD__COUNT);
	send_case(NVSP_STATUS_SUCCESS, 4096, NVSP_GBAD__COUNT);
}

/* A data send's completion once READY; short and wrong ones refused. */
static void test_guest_send_done(void **state)
{
	struct nvsp_rndis_pkt_complete c = { NVSP_TYPE_RNDIS_PKT_COMPLETE, 1 };
	struct pair p;
	struct nvsp_guest_ev ev;
	struct rx r;

	(void)state;
	ready_pair(&p, NVSP_VERSION_61);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_COMP, 0, 1234, &c, 8), &ev);
	assert_int_equal(ev.kind, NVSP_GE_SEND_DONE);
	assert_int_equal(ev.xid, 1234);
	assert_int_equal(ev.status, 1);
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_COMP, 0, 1234, &c, 0), &ev);
	c.type = NVSP_TYPE_RNDIS_PKT;
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_COMP, 0, 1234, &c, 8), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_SHORT], 1);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_MSG], 1);
	assert_int_equal(p.g.st.send_done, 1);
	/* An engine id with no request behind it. */
	nvsp_guest_rx(&p.g, mk(&r, VMB_PKT_COMP, 0, NVSP_GUEST_XID_BASE | 77,
			       &c, 8), &ev);
	assert_int_equal(p.g.st.bad[NVSP_GBAD_XID], 1);
}

/* ---- the host's receive buffer ---- */

static void test_rxbuf_basic(void **state)
{
	static uint32_t link[100];
	struct nvsp_rxbuf rb;
	uint32_t ids[8], n;

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 16, 1808, 1), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 100, 1808, 0), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 100, 1808, 66), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 17, 1808, 1), VMB_OK);
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 100, 1808, 1), VMB_OK);
	assert_int_equal(rb.q[0].first, 16);
	assert_int_equal(rb.q[0].nfree, 84);
	/* A chain of three under the first's id; FIFO order. */
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 3, ids), VMB_OK);
	assert_int_equal(ids[0], 16);
	assert_int_equal(ids[2], 18);
	assert_int_equal(nvsp_rxbuf_held(&rb), 3);
	/* Inside the chain; past the buffer; never sent. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 17, &n), VMB_ENOENT);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 100, &n), VMB_ENOENT);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 1ull << 32 | 16, &n),
			 VMB_ENOENT);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 40, &n), VMB_ENOENT);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HEAD], 1);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_RANGE], 2);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HELD], 1);
	assert_int_equal(nvsp_rxbuf_held(&rb), 3);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 16, &n), VMB_OK);
	assert_int_equal(n, 3);
	assert_int_equal(nvsp_rxbuf_held(&rb), 0);
	/* The duplicate: refused, nothing freed twice. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 16, &n), VMB_ENOENT);
	assert_int_equal(n, 0);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HELD], 2);
	assert_int_equal(rb.q[0].nfree, 84);
	/* The freed ones come back last. */
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, ids), VMB_OK);
	assert_int_equal(ids[0], 19);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 1, 1, ids), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 0, ids), VMB_EAGAIN);
}

static void test_rxbuf_exhaustion(void **state)
{
	static uint32_t link[40];
	static uint32_t ids[40];
	struct nvsp_rxbuf rb;
	uint32_t n, id;

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 40, 100, 1), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 25, ids), VMB_EAGAIN);
	assert_int_equal(rb.q[0].nfree, 24);
	for (uint32_t i = 0; i < 24; i++)
		assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, ids + i), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, &id), VMB_EAGAIN);
	/* The control reserve is apart from data. */
	for (uint32_t i = 0; i < 16; i++) {
		assert_int_equal(nvsp_rxbuf_alloc_control(&rb, &id), VMB_OK);
		assert_true(id < 16);
	}
	assert_int_equal(nvsp_rxbuf_alloc_control(&rb, &id), VMB_EAGAIN);
	assert_int_equal(nvsp_rxbuf_held(&rb), 40);
	/* Every one given back once; then all free again. */
	for (uint32_t i = 0; i < 40; i++)
		assert_int_equal(nvsp_rxbuf_free(&rb, 0, i, &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_held(&rb), 0);
	assert_int_equal(rb.q[0].nfree + rb.ctl.nfree, 40);
	for (uint32_t i = 0; i < 40; i++)
		assert_int_equal(nvsp_rxbuf_free(&rb, 0, i, &n), VMB_ENOENT);
}

/* Room taken for the largest frame, a smaller one read: the tail of the
 * chain goes back first in line, the rest of the chain is one id. */
static void test_rxbuf_trim(void **state)
{
	static uint32_t link[40];
	struct nvsp_rxbuf rb;
	uint32_t ids[8], more[3], n;

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 40, 100, 1), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 5, ids), VMB_OK);
	nvsp_rxbuf_trim(&rb, 0, ids, 5, 2);
	assert_int_equal(nvsp_rxbuf_held(&rb), 2);
	assert_int_equal(rb.q[0].nfree, 22);
	/* keep out of range, or the whole chain: nothing changes */
	nvsp_rxbuf_trim(&rb, 0, ids, 2, 0);
	nvsp_rxbuf_trim(&rb, 0, ids, 2, 2);
	nvsp_rxbuf_trim(&rb, 1, ids, 2, 1);
	assert_int_equal(nvsp_rxbuf_held(&rb), 2);
	/* the trimmed ones are not the guest's to give back */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[2], &n), VMB_ENOENT);
	/* they come next, in the order first taken */
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 3, more), VMB_OK);
	assert_int_equal(more[0], ids[2]);
	assert_int_equal(more[2], ids[4]);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[0], &n), VMB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, more[0], &n), VMB_OK);
	assert_int_equal(n, 3);
	assert_int_equal(rb.q[0].nfree, 24);
	assert_int_equal(nvsp_rxbuf_held(&rb), 0);
}

/* Split among queues as OpenVMM does; each frees its own. */
static void test_rxbuf_queues(void **state)
{
	static uint32_t link[16 + 3 * 10 + 2];
	struct nvsp_rxbuf rb;
	uint32_t ids[12], n, id;

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 48, 100, 3), VMB_OK);
	assert_int_equal(rb.q[0].first, 16);
	assert_int_equal(rb.q[0].end, 26);
	assert_int_equal(rb.q[1].first, 26);
	assert_int_equal(rb.q[2].first, 36);
	assert_int_equal(rb.q[2].end, 48); /* the remainder */
	assert_int_equal(nvsp_rxbuf_owner(&rb, 3), 0);
	assert_int_equal(nvsp_rxbuf_owner(&rb, 25), 0);
	assert_int_equal(nvsp_rxbuf_owner(&rb, 26), 1);
	assert_int_equal(nvsp_rxbuf_owner(&rb, 47), 2);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 2, 12, ids), VMB_OK);
	assert_int_equal(ids[11], 47);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 1, 2, ids), VMB_OK);
	assert_int_equal(ids[0], 26);
	/* Given back on another queue: forwarded, not touched. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 26, &n), VMB_EAGAIN);
	assert_int_equal(nvsp_rxbuf_held(&rb), 14);
	assert_int_equal(nvsp_rxbuf_free(&rb, 1, 26, &n), VMB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rb.q[1].nfree, 10);
	assert_int_equal(rb.q[2].held, 12);
	assert_int_equal(nvsp_rxbuf_alloc_control(&rb, &id), VMB_OK);
	assert_int_equal(nvsp_rxbuf_free(&rb, 1, id, &n), VMB_EAGAIN);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, id, &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_free(&rb, 3, 26, &n), VMB_EINVAL);
	assert_string_equal(nvsp_rxbuf_bad_name(NVSP_RXB_BAD_NOT_HEAD),
			    "not-head");
}

/* Contiguous runs, among chains and frees. */
/* Laid out for one queue, split for three once the channels are known:
 * not while the guest holds data, the control reserve kept throughout. */
static void test_rxbuf_split(void **state)
{
	uint32_t link[100], id, ctl, n;
	struct nvsp_rxbuf rb;

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 100, 1808, 1), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc_control(&rb, &ctl), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, &id), VMB_OK);
	assert_int_equal(nvsp_rxbuf_split(&rb, 3), VMB_EBUSY);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, id, &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, id, &n), VMB_ENOENT);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HELD], 1);
	assert_int_equal(nvsp_rxbuf_split(&rb, 0), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_split(&rb, 85), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_split(&rb, 3), VMB_OK);
	assert_int_equal(rb.nqueues, 3);
	/* 84 data sub-allocations: 28 each */
	assert_int_equal(rb.q[1].first, 44);
	assert_int_equal(rb.q[2].end, 100);
	assert_int_equal(rb.q[2].nfree, 28);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HELD], 1);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 2, 1, &id), VMB_OK);
	assert_int_equal(nvsp_rxbuf_owner(&rb, id), 2);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, id, &n), VMB_EAGAIN);
	assert_int_equal(nvsp_rxbuf_free(&rb, 2, id, &n), VMB_OK);
	/* the control answer still held comes back */
	assert_int_equal(nvsp_rxbuf_held(&rb), 1);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ctl, &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_held(&rb), 0);
}

static void test_rxbuf_runs(void **state)
{
	static uint32_t link[30];
	struct nvsp_rxbuf rb;
	uint32_t ids[4], n, first, again;

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 30, 100, 1), VMB_OK);
	/* Singles 16..19 taken, 17 given back: a hole. */
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, ids + i), VMB_OK);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 17, &n), VMB_OK);
	/* Free now: 17, 20..29 (list order 20..29, 17). */
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 0, 11, &first), VMB_EAGAIN);
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 0, 0, &first), VMB_EAGAIN);
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 0, 4, &first), VMB_OK);
	assert_int_equal(first, 20);
	assert_int_equal(rb.q[0].nfree, 7);
	assert_int_equal(nvsp_rxbuf_held(&rb), 7);
	/* The rest of the list keeps its order: 24.., then 17. */
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, ids), VMB_OK);
	assert_int_equal(ids[0], 24);
	/* Inside the run: refused; the run comes back whole. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 21, &n), VMB_ENOENT);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, 20, &n), VMB_OK);
	assert_int_equal(n, 4);
	/* A run at the tail of the list: the tail moves back. */
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 0, 1, &first), VMB_OK);
	assert_int_equal(first, 17);
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 0, 5, &again), VMB_OK);
	assert_int_equal(again, 25);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, first, &n), VMB_OK);
	assert_int_equal(rb.q[0].tail, 17);
	assert_int_equal(rb.q[0].nfree + rb.q[0].held, 14);
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 1, 1, &first), VMB_EINVAL);
}

/* Frames of one burst joined for one transfer-page packet of several
 * ranges: one completion of the first id gives every one back, once. */
static void test_rxbuf_join(void **state)
{
	static uint32_t link[48];
	struct nvsp_rxbuf rb;
	uint32_t ids[6], n, run, j[4];

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 48, 100, 2), VMB_OK);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, ids + i), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 2, ids + 4), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc_run(&rb, 0, 2, &run), VMB_OK);
	assert_int_equal(rb.q[0].allocs, 6);
	/* ids: 16..19 singles, 20 (chain 20, 21), run 22..23 */
	assert_int_equal(ids[4], 20);
	assert_int_equal(run, 22);
	/* Joined: 16, 17, the chain of 20 and the run; 18 and 19 stay. */
	j[0] = ids[0], j[1] = ids[1], j[2] = ids[4], j[3] = run;
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 4), VMB_OK);
	assert_int_equal(rb.q[0].allocs, 3);
	assert_int_equal(nvsp_rxbuf_held(&rb), 8);
	/* Members other than the first are no transaction ids now. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[1], &n), VMB_ENOENT);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, run, &n), VMB_ENOENT);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HEAD], 2);
	/* One completion: every member back, exactly once. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[0], &n), VMB_OK);
	assert_int_equal(n, 6);
	assert_int_equal(nvsp_rxbuf_held(&rb), 2);
	assert_int_equal(rb.q[0].nfree, rb.q[0].end - rb.q[0].first - 2);
	assert_int_equal(rb.q[0].frees, 1);
	/* The duplicate completion: refused and counted, nothing freed. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[0], &n), VMB_ENOENT);
	assert_int_equal(n, 0);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HELD], 1);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[4], &n), VMB_ENOENT);
	assert_int_equal(rb.q[0].bad[NVSP_RXB_BAD_NOT_HELD], 2);
	assert_int_equal(rb.q[0].nfree, rb.q[0].end - rb.q[0].first - 2);
	/* The two left come back one by one. */
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[2], &n), VMB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ids[3], &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_held(&rb), 0);
	assert_int_equal(rb.q[0].allocs, rb.q[0].frees);
}

/* What a join refuses, each leaving every chain as it was. */
static void test_rxbuf_join_bad(void **state)
{
	static uint32_t link[48];
	struct nvsp_rxbuf rb;
	uint32_t a[3], ch[2], o, ctl, n, j[3];

	(void)state;
	assert_int_equal(nvsp_rxbuf_init(&rb, link, 48, 100, 2), VMB_OK);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 1, a + i), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 0, 2, ch), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc(&rb, 1, 1, &o), VMB_OK);
	assert_int_equal(nvsp_rxbuf_alloc_control(&rb, &ctl), VMB_OK);
	/* no queue, none, past the buffer, free, inside a chain, another
	 * queue's, the control reserve, named twice (first and later) */
	assert_int_equal(nvsp_rxbuf_join(&rb, 2, a, 2), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, a, 0), VMB_EINVAL);
	j[0] = a[0], j[1] = 48;
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 2), VMB_EINVAL);
	j[1] = rb.q[0].end - 1;
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 2), VMB_EINVAL);
	j[1] = ch[1];
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 2), VMB_EINVAL);
	j[1] = o;
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 2), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_join(&rb, 1, &o, 1), VMB_OK);
	j[1] = ctl;
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 2), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, &ctl, 1), VMB_EINVAL);
	j[1] = a[1], j[2] = a[0];
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 3), VMB_EINVAL);
	j[2] = a[1];
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, j, 3), VMB_EINVAL);
	/* Nothing changed: each a chain of its own still. */
	assert_int_equal(rb.q[0].allocs, 4);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, a[0], &n), VMB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, a[1], &n), VMB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ch[0], &n), VMB_OK);
	assert_int_equal(n, 2);
	/* Given back already: not held, no join. */
	assert_int_equal(nvsp_rxbuf_join(&rb, 0, a, 3), VMB_EINVAL);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, a[2], &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_free(&rb, 1, o, &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_free(&rb, 0, ctl, &n), VMB_OK);
	assert_int_equal(nvsp_rxbuf_held(&rb), 0);
}

/* ---- the guest's send sections ---- */

static void test_sendbuf(void **state)
{
	uint64_t map[NVSP_SENDBUF_WORDS(70)];
	struct nvsp_sendbuf s;
	uint32_t got[70];

	(void)state;
	nvsp_sendbuf_init(&s, map, 70);
	for (uint32_t i = 0; i < 70; i++) {
		got[i] = nvsp_sendbuf_alloc(&s);
		assert_true(got[i] < 70);
		for (uint32_t k = 0; k < i; k++)
			assert_true(got[k] != got[i]);
	}
	assert_int_equal(nvsp_sendbuf_alloc(&s), NVSP_SECTION_NONE);
	assert_int_equal(s.used, 70);
	assert_int_equal(nvsp_sendbuf_free(&s, 70), VMB_ENOENT);
	assert_int_equal(nvsp_sendbuf_free(&s, 65), VMB_OK);
	assert_int_equal(nvsp_sendbuf_free(&s, 65), VMB_ENOENT);
	assert_int_equal(nvsp_sendbuf_alloc(&s), 65);
	nvsp_sendbuf_init(&s, map, 0);
	assert_int_equal(nvsp_sendbuf_alloc(&s), NVSP_SECTION_NONE);
}

static void test_names(void **state)
{
	(void)state;
	for (unsigned i = 0; i < NVSP_GBAD__COUNT; i++)
		assert_string_not_equal(nvsp_guest_bad_name(i), "?");
	for (unsigned i = 0; i < NVSP_HBAD__COUNT; i++)
		assert_string_not_equal(nvsp_host_bad_name(i), "?");
	assert_string_equal(nvsp_guest_bad_name(NVSP_GBAD__COUNT), "?");
	assert_string_equal(nvsp_host_bad_name(NVSP_HBAD__COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_every_version),
		cmocka_unit_test(test_downward),
		cmocka_unit_test(test_guest_messages),
		cmocka_unit_test(test_subchannels),
		cmocka_unit_test(test_host_subchannels_hostile),
		cmocka_unit_test(test_guest_subch_answers),
		cmocka_unit_test(test_send_table),
		cmocka_unit_test(test_rndis_to_host),
		cmocka_unit_test(test_host_subchannel_engine),
		cmocka_unit_test(test_receive),
		cmocka_unit_test(test_host_completions),
		cmocka_unit_test(test_vf_datapath),
		cmocka_unit_test(test_host_init_forms),
		cmocka_unit_test(test_host_init_hostile),
		cmocka_unit_test(test_host_messages_hostile),
		cmocka_unit_test(test_guest_init_hostile),
		cmocka_unit_test(test_guest_recv_layout),
		cmocka_unit_test(test_guest_send_section),
		cmocka_unit_test(test_guest_send_done),
		cmocka_unit_test(test_rxbuf_basic),
		cmocka_unit_test(test_rxbuf_exhaustion),
		cmocka_unit_test(test_rxbuf_trim),
		cmocka_unit_test(test_rxbuf_queues),
		cmocka_unit_test(test_rxbuf_split),
		cmocka_unit_test(test_rxbuf_runs),
		cmocka_unit_test(test_rxbuf_join),
		cmocka_unit_test(test_rxbuf_join_bad),
		cmocka_unit_test(test_sendbuf),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
