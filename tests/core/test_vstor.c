/* VSTOR engines: the host's init sequence at every version, SRB
 * validation, replies, hostile requests refused, counted and answered;
 * the guest's init against the host engine at every pair of versions,
 * sub-channel counts, requests matched by id, hostile answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "scsi/scsi_disk.h"
#include "storage/vstor_guest.h"
#include "storage/vstor_host.h"

/* A received packet as the channel worker hands it over: descriptor,
 * optional GPA-direct range header, then the vstor_packet. */
struct rx {
	_Alignas(8) uint8_t buf[256];
	struct vmb_pkt pkt;
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* nrange 0: inband. Otherwise one range of len bytes at offset off. */
static const struct vmb_pkt *mk(struct rx *r, const struct vstor_packet *vp,
				uint32_t vlen, uint16_t flags, int nrange,
				uint32_t off, uint32_t len)
{
	uint32_t hdr = 16, npfn = nrange ? vmb_gpa_pfn_count(off, len) : 0;
	uint16_t w;

	memset(r->buf, 0, sizeof(r->buf));
	if (nrange) {
		put32(r->buf + 20, (uint32_t)nrange);
		put32(r->buf + 24, len);
		put32(r->buf + 28, off);
		for (uint32_t i = 0; i < npfn; i++)
			put64(r->buf + 32 + 8 * i, 0x100 + i);
		hdr = 32 + 8 * npfn;
	}
	memcpy(r->buf + hdr, vp, vlen);
	w = nrange ? VMB_PKT_GPA_DIRECT : VMB_PKT_INBAND;
	memcpy(r->buf, &w, 2);
	w = (uint16_t)(hdr / 8);
	memcpy(r->buf + 2, &w, 2);
	w = (uint16_t)((hdr + VMB_ALIGN8(vlen)) / 8);
	memcpy(r->buf + 4, &w, 2);
	memcpy(r->buf + 6, &flags, 2);
	put64(r->buf + 8, 77);
	assert_int_equal(vmb_pkt_parse(r->buf, hdr + VMB_ALIGN8(vlen), &r->pkt),
			 0);
	return &r->pkt;
}

#define REQ VMB_PKT_FLAG_COMPLETION_REQUESTED

static uint32_t reply_status(const struct vstor_host_act *a)
{
	struct vstor_packet p;

	memcpy(&p, a->reply, sizeof(p));
	return p.status;
}

static void send_op(struct vstor_host *h, struct vstor_host_act *a,
		    uint32_t op, uint32_t len)
{
	struct vstor_packet p = { .operation = op, .flags = 1 };
	struct rx r;

	vstor_host_rx(h, mk(&r, &p, len, REQ, 0, 0, 0), a);
}

static uint32_t query_version(struct vstor_host *h, uint16_t v,
			      uint32_t len)
{
	struct vstor_packet p = {
		.operation = VSTOR_OP_QUERY_PROTOCOL_VERSION,
		.flags = 1,
		.version.major_minor = v,
	};
	struct vstor_host_act a;
	struct rx r;

	vstor_host_rx(h, mk(&r, &p, len, REQ, 0, 0, 0), &a);
	assert_int_equal(a.kind, VSTOR_HA_REPLY);
	assert_int_equal(a.reply_len, len);
	return reply_status(&a);
}

static void host_new(struct vstor_host *h, uint16_t max, uint16_t nsub)
{
	struct vstor_host_cfg c = {
		.max_version = max, .max_subchannels = nsub,
		.max_transfer = 256 * 1024, .primary = true,
	};

	vstor_host_init(h, &c);
}

/* The guest's sequence down a list; returns the version agreed. */
static uint16_t init_seq(struct vstor_host *h, const uint16_t *list,
			 unsigned n)
{
	struct vstor_host_act a;
	uint16_t got = 0;

	send_op(h, &a, VSTOR_OP_BEGIN_INIT, 64);
	assert_int_equal(reply_status(&a), 0);
	for (unsigned i = 0; i < n && !got; i++) {
		uint32_t len = vstor_pkt_len(list[i]);

		if (query_version(h, list[i], len) == 0)
			got = list[i];
		else
			assert_int_equal(h->state, VSTOR_HS_BEGUN);
	}
	if (!got)
		return 0;
	send_op(h, &a, VSTOR_OP_QUERY_PROPERTIES, vstor_pkt_len(got));
	assert_int_equal(reply_status(&a), 0);
	send_op(h, &a, VSTOR_OP_END_INIT, vstor_pkt_len(got));
	assert_int_equal(reply_status(&a), 0);
	assert_int_equal(h->state, VSTOR_HS_READY);
	return got;
}

static const uint16_t bsd_list[] = {
	VSTOR_VERSION_WIN10, VSTOR_VERSION_BLUE, VSTOR_VERSION_WIN8,
	VSTOR_VERSION_WIN7, VSTOR_VERSION_WIN6,
};

static void test_versions(void **state)
{
	static const uint16_t caps[] = {
		VSTOR_VERSION_WIN6, VSTOR_VERSION_WIN7, VSTOR_VERSION_WIN8,
		VSTOR_VERSION_BLUE, VSTOR_VERSION_WIN10,
	};
	struct vstor_host h;

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		host_new(&h, caps[i], 4);
		assert_int_equal(init_seq(&h, bsd_list, 5), caps[i]);
		assert_int_equal(h.version, caps[i]);
		assert_int_equal(h.st.bad[VSTOR_HBAD_VERSION], 4 - i);
	}
	/* A Linux guest (6.2, 6.0, 5.1) against a 4.2 host agrees nothing. */
	host_new(&h, VSTOR_VERSION_WIN7, 0);
	assert_int_equal(init_seq(&h, bsd_list, 3), 0);
	/* Unknown versions between known ones are refused. */
	host_new(&h, VSTOR_VERSION_WIN10, 0);
	send_op(&h, &(struct vstor_host_act){ 0 }, VSTOR_OP_BEGIN_INIT, 64);
	assert_int_equal(query_version(&h, 0x0601, 64),
			 VSTOR_ST_REVISION_MISMATCH);
	assert_int_equal(query_version(&h, 0x0700, 64),
			 VSTOR_ST_REVISION_MISMATCH);
}

static void test_properties(void **state)
{
	struct vstor_host h;
	struct vstor_host_act a;
	struct vstor_packet p;

	(void)state;
	host_new(&h, VSTOR_VERSION_WIN10, 7);
	send_op(&h, &a, VSTOR_OP_BEGIN_INIT, 64);
	query_version(&h, VSTOR_VERSION_WIN10, 64);
	send_op(&h, &a, VSTOR_OP_QUERY_PROPERTIES, 64);
	memcpy(&p, a.reply, sizeof(p));
	assert_int_equal(p.props.flags, VSTOR_PROP_MULTI_CHANNEL);
	assert_int_equal(p.props.max_channel_count, 7);
	assert_int_equal(p.props.max_transfer_bytes, 256 * 1024);
	/* Before 5.1: no multi-channel. */
	host_new(&h, VSTOR_VERSION_WIN7, 7);
	send_op(&h, &a, VSTOR_OP_BEGIN_INIT, 48);
	query_version(&h, VSTOR_VERSION_WIN7, 48);
	send_op(&h, &a, VSTOR_OP_QUERY_PROPERTIES, 48);
	memcpy(&p, a.reply, sizeof(p));
	assert_int_equal(a.reply_len, 48);
	assert_int_equal(p.props.flags, 0);
	assert_int_equal(p.props.max_channel_count, 0);
}

static void subch(struct vstor_host *h, struct vstor_host_act *a, uint16_t n)
{
	struct vstor_packet p = {
		.operation = VSTOR_OP_CREATE_SUB_CHANNELS, .flags = 1,
		.sub_channel_count = n,
	};
	struct rx r;

	vstor_host_rx(h, mk(&r, &p, 64, REQ, 0, 0, 0), a);
}

static void test_subchannels(void **state)
{
	struct vstor_host h;
	struct vstor_host_act a;

	(void)state;
	host_new(&h, VSTOR_VERSION_WIN10, 4);
	subch(&h, &a, 2); /* before the version: refused */
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	init_seq(&h, bsd_list, 5);
	subch(&h, &a, 0);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_PARAMETER);
	subch(&h, &a, 5);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_PARAMETER);
	subch(&h, &a, 4);
	assert_int_equal(a.kind, VSTOR_HA_SUBCHANNELS);
	assert_int_equal(a.subchannels, 4);
	assert_int_equal(reply_status(&a), 0);
	subch(&h, &a, 1); /* twice */
	assert_int_equal(a.kind, VSTOR_HA_REPLY);
	assert_int_equal(h.st.bad[VSTOR_HBAD_SUBCH], 3);
	assert_int_equal(h.st.bad[VSTOR_HBAD_STATE], 1);
}

static void test_order(void **state)
{
	struct vstor_host h;
	struct vstor_host_act a;

	(void)state;
	host_new(&h, VSTOR_VERSION_WIN10, 0);
	send_op(&h, &a, VSTOR_OP_END_INIT, 64);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	send_op(&h, &a, VSTOR_OP_EXECUTE_SRB, 64);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	send_op(&h, &a, VSTOR_OP_QUERY_PROPERTIES, 64);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	send_op(&h, &a, VSTOR_OP_ENUMERATE_BUS, 64);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_PARAMETER);
	assert_int_equal(h.st.bad[VSTOR_HBAD_STATE], 3);
	assert_int_equal(h.st.bad[VSTOR_HBAD_OP], 1);
	/* After all that, the sequence still works. */
	assert_int_equal(init_seq(&h, bsd_list, 5), VSTOR_VERSION_WIN10);
	send_op(&h, &a, VSTOR_OP_BEGIN_INIT, 64); /* again: refused */
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	send_op(&h, &a, VSTOR_OP_RESET_BUS, 64);
	assert_int_equal(reply_status(&a), 0);
	assert_int_equal(h.st.resets, 1);
}

static void test_packet_shape(void **state)
{
	struct vstor_packet p = { .operation = VSTOR_OP_BEGIN_INIT };
	struct vstor_host h;
	struct vstor_host_act a;
	struct rx r;

	(void)state;
	host_new(&h, VSTOR_VERSION_WIN10, 0);
	vstor_host_rx(&h, mk(&r, &p, 64, 0, 0, 0, 0), &a); /* no completion */
	assert_int_equal(a.kind, VSTOR_HA_NONE);
	assert_int_equal(a.reply_len, 0);
	vstor_host_rx(&h, mk(&r, &p, 40, REQ, 0, 0, 0), &a); /* short */
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_PARAMETER);
	assert_int_equal(a.reply_len, 40);
	assert_int_equal(h.st.bad[VSTOR_HBAD_TYPE], 1);
	assert_int_equal(h.st.bad[VSTOR_HBAD_SHORT], 1);
	assert_int_equal(h.state, VSTOR_HS_IDLE);
}

static struct vstor_packet srb_pkt(uint8_t dir, uint32_t len)
{
	struct vstor_packet p = {
		.operation = VSTOR_OP_EXECUTE_SRB, .flags = 1,
		.srb = { .length = 52, .lun = 3, .cdb_length = 10,
			 .sense_info_length = 20, .data_in = dir,
			 .data_transfer_length = len,
			 .cdb = { SCSI_OP_READ10 } },
	};

	return p;
}

static void ready_host(struct vstor_host *h, uint16_t v)
{
	host_new(h, v, 0);
	assert_int_equal(init_seq(h, bsd_list, 5), v);
}

static void test_srb_ok(void **state)
{
	struct vstor_packet p = srb_pkt(VSTOR_DIR_READ, 8192);
	struct vstor_host h;
	struct vstor_host_act a;
	struct rx r;

	(void)state;
	ready_host(&h, VSTOR_VERSION_WIN10);
	vstor_host_rx(&h, mk(&r, &p, 64, REQ, 1, 512, 8192), &a);
	assert_int_equal(a.kind, VSTOR_HA_SRB);
	assert_int_equal(a.srb.lun, 3);
	assert_int_equal(a.srb.cdb_len, 10);
	assert_int_equal(a.srb.cdb[0], SCSI_OP_READ10);
	assert_int_equal(a.srb.dir, VSTOR_DIR_READ);
	assert_int_equal(a.srb.xfer_len, 8192);
	assert_int_equal(a.srb.range.byte_offset, 512);
	assert_int_equal(a.srb.range.pfn_count, 3);
	assert_int_equal(a.srb.range.pfn[2], 0x102);
	/* Without data: inband, direction none. */
	p = srb_pkt(VSTOR_DIR_NONE, 0);
	vstor_host_rx(&h, mk(&r, &p, 64, REQ, 0, 0, 0), &a);
	assert_int_equal(a.kind, VSTOR_HA_SRB);
	assert_int_equal(a.srb.dir, VSTOR_DIR_NONE);
	assert_int_equal(h.st.srbs, 2);
}

/* One hostile SRB: refused as INVALID_REQUEST, counted under why. */
static void bad_srb(struct vstor_host *h, struct vstor_packet p, int nrange,
		    uint32_t rlen, enum vstor_host_bad why)
{
	uint64_t before = h->st.bad[why];
	struct vstor_host_act a;
	struct vstor_packet rp;
	struct rx r;

	vstor_host_rx(h, mk(&r, &p, 64, REQ, nrange, 0, rlen), &a);
	assert_int_equal(a.kind, VSTOR_HA_REPLY);
	memcpy(&rp, a.reply, sizeof(rp));
	assert_int_equal(rp.operation, VSTOR_OP_COMPLETE_IO);
	assert_int_equal(rp.srb.srb_status, SCSI_SRB_INVALID_REQUEST);
	assert_int_equal(rp.srb.lun, p.srb.lun);
	assert_int_equal(rp.status, VSTOR_ST_IO_DEVICE_ERROR);
	assert_int_equal(h->st.bad[why], before + 1);
}

static void test_srb_hostile(void **state)
{
	struct vstor_packet p;
	struct vstor_host h;

	(void)state;
	ready_host(&h, VSTOR_VERSION_WIN10);
	p = srb_pkt(VSTOR_DIR_READ, 4096);
	p.srb.cdb_length = 17;
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_CDB);
	p.srb.cdb_length = 0;
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_CDB);
	p = srb_pkt(VSTOR_DIR_READ, 4096);
	p.srb.sense_info_length = 21;
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_SENSE);
	p = srb_pkt(7, 4096);
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_DIR);
	p = srb_pkt(VSTOR_DIR_NONE, 4096);
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_DIR);
	p = srb_pkt(VSTOR_DIR_WRITE, 8192); /* past its range */
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_XFER);
	p = srb_pkt(VSTOR_DIR_WRITE, 512 * 1024); /* above max_transfer */
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_XFER);
	p = srb_pkt(VSTOR_DIR_WRITE, 4096); /* data but inband */
	bad_srb(&h, p, 0, 0, VSTOR_HBAD_RANGES);
	p = srb_pkt(VSTOR_DIR_WRITE, 4096); /* two ranges claimed */
	bad_srb(&h, p, 2, 4096, VSTOR_HBAD_RANGES);
	assert_int_equal(h.st.srbs, 0);
	/* The channel still serves. */
	p = srb_pkt(VSTOR_DIR_WRITE, 4096);
	{
		struct vstor_host_act a;
		struct rx r;

		vstor_host_rx(&h, mk(&r, &p, 64, REQ, 1, 0, 4096), &a);
		assert_int_equal(a.kind, VSTOR_HA_SRB);
	}
}

static void test_srb_win7(void **state)
{
	struct vstor_packet p = srb_pkt(VSTOR_DIR_READ, 4096);
	struct vstor_host h;
	struct vstor_host_act a;
	struct rx r;

	(void)state;
	ready_host(&h, VSTOR_VERSION_WIN7);
	p.srb.sense_info_length = 18;
	vstor_host_rx(&h, mk(&r, &p, 48, REQ, 1, 0, 4096), &a);
	assert_int_equal(a.kind, VSTOR_HA_SRB);
	p.srb.sense_info_length = 20; /* larger than 4.2's buffer */
	bad_srb(&h, p, 1, 4096, VSTOR_HBAD_SENSE);
	/* At 5.1 and later a 48-byte SRB is short. */
	ready_host(&h, VSTOR_VERSION_WIN8);
	p = srb_pkt(VSTOR_DIR_READ, 4096);
	vstor_host_rx(&h, mk(&r, &p, 48, REQ, 1, 0, 4096), &a);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_PARAMETER);
	assert_int_equal(h.st.bad[VSTOR_HBAD_SHORT], 1);
}

static void test_complete(void **state)
{
	static const uint8_t sense[18] = { 0x70, 0, 0x06, [12] = 0x2A,
					   [13] = 0x09 };
	struct vstor_srb_result res = {
		.srb_status = SCSI_SRB_ERROR, .scsi_status = 2,
		.moved = 0, .sense = sense, .sense_len = sizeof(sense),
	};
	struct vstor_packet p = srb_pkt(VSTOR_DIR_READ, 4096);
	struct vstor_host h;
	struct vstor_host_act a;
	uint8_t out[VSTOR_PKT_LEN];
	struct rx r;

	(void)state;
	ready_host(&h, VSTOR_VERSION_WIN10);
	p.srb.sense_info_length = 14; /* the guest's room cuts the sense */
	vstor_host_rx(&h, mk(&r, &p, 64, REQ, 1, 0, 4096), &a);
	assert_int_equal(vstor_host_complete(&h, &a.srb, &res, out), 64);
	memcpy(&p, out, sizeof(p));
	assert_int_equal(p.operation, VSTOR_OP_COMPLETE_IO);
	assert_int_equal(p.status, VSTOR_ST_IO_DEVICE_ERROR);
	assert_int_equal(p.srb.srb_status,
			 SCSI_SRB_ERROR | VSTOR_SRB_AUTOSENSE_VALID);
	assert_int_equal(p.srb.scsi_status, 2);
	assert_int_equal(p.srb.sense_info_length, 14);
	assert_int_equal(p.srb.sense[12], 0x2A);
	assert_int_equal(p.srb.lun, 3);
	res = (struct vstor_srb_result){ .srb_status = SCSI_SRB_SUCCESS,
					 .moved = 4096 };
	vstor_host_complete(&h, &a.srb, &res, out);
	memcpy(&p, out, sizeof(p));
	assert_int_equal(p.status, 0);
	assert_int_equal(p.srb.srb_status, SCSI_SRB_SUCCESS);
	assert_int_equal(p.srb.data_transfer_length, 4096);
	assert_int_equal(vstor_ntstatus(SCSI_SRB_INVALID_LUN),
			 VSTOR_ST_NO_SUCH_DEVICE);
	assert_int_equal(vstor_ntstatus(SCSI_SRB_DATA_OVERRUN),
			 VSTOR_ST_BUFFER_OVERFLOW);
	assert_int_equal(vstor_ntstatus(SCSI_SRB_BUSY), VSTOR_ST_DEVICE_BUSY);
	assert_int_equal(vstor_host_enumerate(&h, out), 64);
	memcpy(&p, out, sizeof(p));
	assert_int_equal(p.operation, VSTOR_OP_ENUMERATE_BUS);
}

static void test_subchannel_engine(void **state)
{
	struct vstor_host_cfg c = { .max_version = VSTOR_VERSION_WIN10,
				    .max_transfer = 65536 };
	struct vstor_packet p = srb_pkt(VSTOR_DIR_NONE, 0);
	struct vstor_host h;
	struct vstor_host_act a;
	struct rx r;

	(void)state;
	vstor_host_init(&h, &c);
	vstor_host_rx(&h, mk(&r, &p, 64, REQ, 0, 0, 0), &a);
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	send_op(&h, &a, VSTOR_OP_BEGIN_INIT, 64); /* not on a sub-channel */
	assert_int_equal(reply_status(&a), VSTOR_ST_INVALID_DEVICE_STATE);
	vstor_host_attach(&h, VSTOR_VERSION_WIN10);
	vstor_host_rx(&h, mk(&r, &p, 64, REQ, 0, 0, 0), &a);
	assert_int_equal(a.kind, VSTOR_HA_SRB);
	assert_string_equal(vstor_host_bad_name(VSTOR_HBAD_XFER),
			    "transfer-length");
}

/* ---- guest engine, against the host engine ---- */

/* A completion packet carrying payload, as the guest receives it. */
static const struct vmb_pkt *mk_comp(struct rx *r, const void *payload,
				     uint32_t len, uint64_t xid)
{
	uint16_t w = VMB_PKT_COMP;

	memset(r->buf, 0, sizeof(r->buf));
	memcpy(r->buf, &w, 2);
	w = 2;
	memcpy(r->buf + 2, &w, 2);
	w = (uint16_t)((16 + VMB_ALIGN8(len)) / 8);
	memcpy(r->buf + 4, &w, 2);
	put64(r->buf + 8, xid);
	memcpy(r->buf + 16, payload, len);
	assert_int_equal(vmb_pkt_parse(r->buf, 16 + VMB_ALIGN8(len), &r->pkt),
			 0);
	return &r->pkt;
}

/* Runs the guest's init against h; returns the guest's final state. */
static enum vstor_guest_state handshake(struct vstor_guest *g,
					struct vstor_host *h, uint16_t *nsub)
{
	uint8_t out[VSTOR_PKT_LEN];
	struct vstor_guest_ev ev;
	struct vstor_host_act a;
	uint32_t len;
	uint64_t xid;
	struct rx r;

	*nsub = 0;
	for (int i = 0; i < 16 && (len = vstor_guest_next(g, out, &xid)); i++) {
		struct vstor_packet p;

		memcpy(&p, out, sizeof(p));
		vstor_host_rx(h, mk(&r, &p, len, REQ, 0, 0, 0), &a);
		assert_int_not_equal(a.kind, VSTOR_HA_NONE);
		if (a.kind == VSTOR_HA_SUBCHANNELS)
			*nsub = a.subchannels;
		vstor_guest_rx(g, NULL, mk_comp(&r, a.reply, a.reply_len, xid),
			       &ev);
		assert_int_equal(ev.kind, VSTOR_GE_INIT);
	}
	return g->state;
}

static void guest_new(struct vstor_guest *g, uint16_t max, uint16_t sub,
		      uint32_t ncpus)
{
	struct vstor_guest_cfg c = { .max_version = max, .subchannels = sub,
				     .ncpus = ncpus };

	vstor_guest_init(g, &c);
}

static void test_guest_versions(void **state)
{
	static const uint16_t all[] = {
		VSTOR_VERSION_WIN6, VSTOR_VERSION_WIN7, VSTOR_VERSION_WIN8,
		VSTOR_VERSION_BLUE, VSTOR_VERSION_WIN10,
	};
	struct vstor_guest g;
	struct vstor_host h;
	uint16_t n;

	(void)state;
	for (unsigned gi = 0; gi < 5; gi++) {
		for (unsigned hi = 0; hi < 5; hi++) {
			uint16_t want = all[gi < hi ? gi : hi];

			host_new(&h, all[hi], 8);
			guest_new(&g, all[gi], VSTOR_GUEST_SUBCH_AUTO, 4);
			assert_int_equal(handshake(&g, &h, &n), VSTOR_GS_READY);
			assert_int_equal(g.version, want);
			assert_int_equal(h.version, want);
			/* Multi-channel from 5.1: CPUs - 1 = 3. */
			assert_int_equal(n, want >= VSTOR_VERSION_WIN8 ? 3 : 0);
			assert_int_equal(g.subchannels, n);
		}
	}
}

static void test_guest_subchannels(void **state)
{
	struct vstor_guest g;
	struct vstor_host h;
	uint16_t n;

	(void)state;
	host_new(&h, VSTOR_VERSION_WIN10, 2); /* the host's cap wins */
	guest_new(&g, VSTOR_VERSION_WIN10, VSTOR_GUEST_SUBCH_AUTO, 16);
	assert_int_equal(handshake(&g, &h, &n), VSTOR_GS_READY);
	assert_int_equal(n, 2);
	host_new(&h, VSTOR_VERSION_WIN10, 8); /* overridden */
	guest_new(&g, VSTOR_VERSION_WIN10, 5, 2);
	assert_int_equal(handshake(&g, &h, &n), VSTOR_GS_READY);
	assert_int_equal(n, 5);
	host_new(&h, VSTOR_VERSION_WIN10, 0); /* no multi-channel */
	guest_new(&g, VSTOR_VERSION_WIN10, VSTOR_GUEST_SUBCH_AUTO, 8);
	assert_int_equal(handshake(&g, &h, &n), VSTOR_GS_READY);
	assert_int_equal(n, 0);
	host_new(&h, VSTOR_VERSION_WIN10, 8); /* one CPU: none wanted */
	guest_new(&g, VSTOR_VERSION_WIN10, VSTOR_GUEST_SUBCH_AUTO, 1);
	assert_int_equal(handshake(&g, &h, &n), VSTOR_GS_READY);
	assert_int_equal(n, 0);
}

static void test_guest_fails(void **state)
{
	struct vstor_packet p = { .operation = VSTOR_OP_COMPLETE_IO,
				  .status = VSTOR_ST_UNSUCCESSFUL };
	uint8_t out[VSTOR_PKT_LEN];
	struct vstor_guest_ev ev;
	struct vstor_guest g;
	uint64_t xid;
	struct rx r;

	(void)state;
	guest_new(&g, VSTOR_VERSION_WIN10, 0, 1);
	vstor_guest_next(&g, out, &xid);
	vstor_guest_rx(&g, NULL, mk_comp(&r, &p, 64, xid), &ev);
	assert_int_equal(g.state, VSTOR_GS_FAILED);
	assert_int_equal(g.fail_step, VSTOR_GS_BEGIN);
	assert_int_equal(g.fail_status, VSTOR_ST_UNSUCCESSFUL);
	assert_int_equal(vstor_guest_next(&g, out, &xid), 0);
	/* Every version refused: failed at the version step. */
	guest_new(&g, VSTOR_VERSION_WIN10, 0, 1);
	p.status = 0;
	vstor_guest_next(&g, out, &xid);
	vstor_guest_rx(&g, NULL, mk_comp(&r, &p, 64, xid), &ev);
	p.status = VSTOR_ST_REVISION_MISMATCH;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(g.state, VSTOR_GS_VERSION);
		vstor_guest_next(&g, out, &xid);
		vstor_guest_rx(&g, NULL, mk_comp(&r, &p, 64, xid), &ev);
	}
	assert_int_equal(g.state, VSTOR_GS_FAILED);
	assert_int_equal(g.fail_step, VSTOR_GS_VERSION);
	/* Init answers after READY, short answers: refused. */
	vstor_guest_rx(&g, NULL, mk_comp(&r, &p, 64, xid), &ev);
	assert_int_equal(g.st.bad[VSTOR_GBAD_INIT], 1);
	vstor_guest_rx(&g, NULL, mk_comp(&r, &p, 24, xid), &ev);
	assert_int_equal(g.st.bad[VSTOR_GBAD_SHORT], 1);
	assert_int_equal(ev.kind, VSTOR_GE_NONE);
}

static void ready_pair(struct vstor_guest *g, struct vstor_host *h,
		       uint16_t v)
{
	uint16_t n;

	host_new(h, v, 0);
	guest_new(g, v, 0, 1);
	assert_int_equal(handshake(g, h, &n), VSTOR_GS_READY);
}

/* One SRB of xfer bytes guest -> host -> guest, completed with res. */
static void srb_trip(struct vstor_guest *g, struct vstor_host *h,
		     struct vstor_reqtab *t, void *cookie, uint32_t xfer,
		     const struct vstor_srb_result *res,
		     struct vstor_guest_ev *ev)
{
	static const uint8_t cdb[10] = { SCSI_OP_READ10 };
	struct vstor_srb_req q = { .lun = 2, .cdb_len = 10, .cdb = cdb,
				   .dir = VSTOR_DIR_READ, .xfer_len = xfer };
	uint8_t out[VSTOR_PKT_LEN], rep[VSTOR_PKT_LEN];
	struct vstor_host_act a;
	struct vstor_packet p;
	uint32_t len, rlen;
	uint64_t xid;
	struct rx r;

	assert_int_equal(vstor_req_alloc(t, cookie, xfer, &xid), 0);
	len = vstor_guest_srb(g, &q, out);
	memcpy(&p, out, sizeof(p));
	vstor_host_rx(h, mk(&r, &p, len, REQ, xfer ? 1 : 0, 0, xfer), &a);
	assert_int_equal(a.kind, VSTOR_HA_SRB);
	assert_int_equal(a.srb.lun, 2);
	assert_int_equal(a.srb.xfer_len, xfer);
	rlen = vstor_host_complete(h, &a.srb, res, rep);
	vstor_guest_rx(g, t, mk_comp(&r, rep, rlen, xid), ev);
}

static void test_guest_io(void **state)
{
	static const uint8_t sense[20] = { 0x70, 0, 0x03, [12] = 0x11 };
	struct vstor_srb_result ok = { .srb_status = SCSI_SRB_SUCCESS,
				       .moved = 4096 };
	struct vstor_srb_result err = { .srb_status = SCSI_SRB_ERROR,
					.scsi_status = 2, .sense = sense,
					.sense_len = 20 };
	struct vstor_slot slots[4];
	struct vstor_guest_ev ev;
	struct vstor_reqtab t;
	struct vstor_guest g;
	struct vstor_host h;
	int cookie[2];

	(void)state;
	vstor_reqtab_init(&t, slots, 4);
	ready_pair(&g, &h, VSTOR_VERSION_WIN10);
	srb_trip(&g, &h, &t, &cookie[0], 4096, &ok, &ev);
	assert_int_equal(ev.kind, VSTOR_GE_DONE);
	assert_ptr_equal(ev.cookie, &cookie[0]);
	assert_int_equal(ev.srb_status, SCSI_SRB_SUCCESS);
	assert_int_equal(ev.moved, 4096);
	assert_int_equal(ev.sense_len, 0);
	srb_trip(&g, &h, &t, &cookie[1], 512, &err, &ev);
	assert_ptr_equal(ev.cookie, &cookie[1]);
	assert_int_equal(ev.srb_status, SCSI_SRB_ERROR);
	assert_int_equal(ev.scsi_status, 2);
	assert_int_equal(ev.sense_len, 20);
	assert_int_equal(ev.sense[12], 0x11);
	assert_int_equal(t.busy, 0);
	/* 4.2: 48-byte packets, sense cut to 18. */
	ready_pair(&g, &h, VSTOR_VERSION_WIN7);
	srb_trip(&g, &h, &t, &cookie[1], 512, &err, &ev);
	assert_int_equal(ev.kind, VSTOR_GE_DONE);
	assert_int_equal(ev.sense_len, 18);
	assert_int_equal(g.st.completed, 1);
}

static void test_guest_ids(void **state)
{
	struct vstor_packet p = { .operation = VSTOR_OP_COMPLETE_IO,
				  .srb = { .data_transfer_length = 1 << 20,
					   .srb_status = 0x81,
					   .sense_info_length = 200 } };
	struct vstor_slot slots[2];
	struct vstor_guest_ev ev;
	struct vstor_reqtab t;
	struct vstor_guest g;
	struct vstor_host h;
	uint64_t a, b, c;
	struct rx r;

	(void)state;
	ready_pair(&g, &h, VSTOR_VERSION_WIN10);
	vstor_reqtab_init(&t, slots, 2);
	assert_int_equal(vstor_req_alloc(&t, &a, 4096, &a), 0);
	assert_int_equal(vstor_req_alloc(&t, &b, 0, &b), 0);
	assert_int_equal(vstor_req_alloc(&t, &c, 0, &c), VMB_EAGAIN);
	/* A lying answer: moved and sense clamped. */
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, a), &ev);
	assert_int_equal(ev.kind, VSTOR_GE_DONE);
	assert_int_equal(ev.moved, 4096);
	assert_int_equal(ev.sense_len, 20);
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, a), &ev); /* again */
	assert_int_equal(ev.kind, VSTOR_GE_NONE);
	assert_int_equal(vstor_req_alloc(&t, NULL, 0, &c), 0); /* reuses a */
	assert_int_equal((uint32_t)c, (uint32_t)a);
	assert_int_not_equal(c, a);
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, a), &ev); /* stale */
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, 99), &ev); /* unknown */
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, 3), &ev);  /* index 3 */
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 40, b), &ev);  /* short */
	p.operation = VSTOR_OP_EXECUTE_SRB;
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, b), &ev);  /* not an answer */
	assert_int_equal(g.st.bad[VSTOR_GBAD_DUPLICATE], 1);
	assert_int_equal(g.st.bad[VSTOR_GBAD_STALE], 1);
	assert_int_equal(g.st.bad[VSTOR_GBAD_UNKNOWN], 2);
	assert_int_equal(g.st.bad[VSTOR_GBAD_SHORT], 1);
	assert_int_equal(g.st.bad[VSTOR_GBAD_OP], 1);
	assert_int_equal(t.busy, 2); /* b and c still wait */
	p.operation = VSTOR_OP_COMPLETE_IO;
	vstor_guest_rx(&g, &t, mk_comp(&r, &p, 64, b), &ev);
	assert_int_equal(ev.kind, VSTOR_GE_DONE);
	assert_int_equal(ev.moved, 0);
	assert_string_equal(vstor_guest_bad_name(VSTOR_GBAD_STALE), "stale-id");
}

/* An unsolicited inband packet: transaction id 0, no completion. */
static const struct vmb_pkt *notice(struct rx *r,
				    const struct vstor_packet *p, uint32_t len)
{
	mk(r, p, len, 0, 0, 0, 0);
	r->pkt.xid = 0;
	return &r->pkt;
}

static void test_guest_rescan(void **state)
{
	struct vstor_packet p = { .operation = VSTOR_OP_ENUMERATE_BUS };
	uint8_t out[VSTOR_PKT_LEN];
	struct vstor_guest_ev ev;
	struct vstor_guest g;
	struct vstor_host h;
	struct rx r;

	(void)state;
	ready_pair(&g, &h, VSTOR_VERSION_WIN10);
	assert_int_equal(vstor_host_enumerate(&h, out), 64);
	memcpy(&p, out, sizeof(p));
	vstor_guest_rx(&g, NULL, notice(&r, &p, 64), &ev);
	assert_int_equal(ev.kind, VSTOR_GE_RESCAN);
	p.operation = VSTOR_OP_REMOVE_DEVICE;
	vstor_guest_rx(&g, NULL, notice(&r, &p, 8), &ev);
	assert_int_equal(ev.kind, VSTOR_GE_RESCAN);
	p.operation = VSTOR_OP_RESET_BUS;
	vstor_guest_rx(&g, NULL, notice(&r, &p, 64), &ev);
	assert_int_equal(ev.kind, VSTOR_GE_NONE);
	assert_int_equal(g.st.rescans, 2);
	assert_int_equal(vstor_guest_channel(5, 4), 1);
	assert_int_equal(vstor_guest_channel(5, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_subchannels),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_packet_shape),
		cmocka_unit_test(test_srb_ok),
		cmocka_unit_test(test_srb_hostile),
		cmocka_unit_test(test_srb_win7),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_subchannel_engine),
		cmocka_unit_test(test_guest_versions),
		cmocka_unit_test(test_guest_subchannels),
		cmocka_unit_test(test_guest_fails),
		cmocka_unit_test(test_guest_io),
		cmocka_unit_test(test_guest_ids),
		cmocka_unit_test(test_guest_rescan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
