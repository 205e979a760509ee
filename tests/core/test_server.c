/* Host side of channel management (vmb_server) against a scripted guest:
 * guest messages are built with the codec (or by hand where they must be
 * malformed), the server's replies and callbacks are captured and checked,
 * and every rejection must be counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmbus/vmb_client.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_server.h"

#define MAXPOST 512
#define REDIR VMB_MSG_REDIRECT_CONNECTION_ID

struct posted {
	uint32_t len;
	union vmb_msg_buf m;
};

struct env {
	struct vmb_server s;
	struct posted *out;
	unsigned nout;
	uint32_t version;
	unsigned connected, maps, unmaps, opens, closes, releases, unloads;
	unsigned modifies, teardowns;
	bool hold; /* gpadl_teardown answers "still in use" */
	uint32_t map_status, open_status, modify_status;
	uint32_t last_close, last_release, last_modify_vp;
	uint64_t map_pfns[1100];
	uint32_t map_pfn_count, map_range_count;
	uint32_t map_range_len[4], map_range_off[4];
	struct vmb_server_open last_open;
	uint32_t last_open_ring_pages;
};

static int e_post(void *ctx, const void *msg, uint32_t len)
{
	struct env *e = ctx;

	assert_true(e->nout < MAXPOST);
	assert_true(len >= 8 && len <= VMB_MSG_MAX);
	memset(&e->out[e->nout].m, 0, sizeof(union vmb_msg_buf));
	memcpy(e->out[e->nout].m.raw, msg, len);
	e->out[e->nout++].len = len;
	return VMB_OK;
}

static void e_connected(void *ctx, uint32_t version,
			const struct vmb_msg_initiate_contact *req)
{
	struct env *e = ctx;

	assert_int_equal(req->version, version);
	e->connected++;
	e->version = version;
}

static uint32_t e_map(void *ctx, struct vmb_server_gpadl *g)
{
	struct env *e = ctx;

	e->maps++;
	assert_false(g->complete);
	assert_true(g->pfn_count <= 1100);
	e->map_pfn_count = g->pfn_count;
	e->map_range_count = g->range_count;
	memcpy(e->map_pfns, g->pfns, g->pfn_count * 8);
	for (uint32_t i = 0; i < g->range_count && i < 4; i++) {
		e->map_range_len[i] = g->range_len[i];
		e->map_range_off[i] = g->range_off[i];
	}
	return e->map_status;
}

static void e_unmap(void *ctx, struct vmb_server_gpadl *g)
{
	assert_true(g->complete);
	((struct env *)ctx)->unmaps++;
}

static bool e_teardown(void *ctx, struct vmb_server_gpadl *g)
{
	struct env *e = ctx;

	assert_true(g->complete);
	assert_false(g->tearing);
	e->teardowns++;
	return !e->hold;
}

static uint32_t e_open(void *ctx, const struct vmb_server_open *o)
{
	struct env *e = ctx;

	e->opens++;
	e->last_open = *o;
	e->last_open_ring_pages = o->ring->pfn_count;
	return e->open_status;
}

static void e_close(void *ctx, uint32_t relid)
{
	struct env *e = ctx;

	e->closes++;
	e->last_close = relid;
}

static void e_released(void *ctx, uint32_t relid)
{
	struct env *e = ctx;

	e->releases++;
	e->last_release = relid;
}

static uint32_t e_modify(void *ctx, uint32_t relid, uint32_t vp)
{
	struct env *e = ctx;

	(void)relid;
	e->modifies++;
	e->last_modify_vp = vp;
	return e->modify_status;
}

static void e_unloaded(void *ctx)
{
	((struct env *)ctx)->unloads++;
}

static const struct vmb_server_ops ops = {
	.post = e_post,
	.connected = e_connected,
	.gpadl_map = e_map,
	.gpadl_unmap = e_unmap,
	.gpadl_teardown = e_teardown,
	.open = e_open,
	.close = e_close,
	.released = e_released,
	.modify = e_modify,
	.unloaded = e_unloaded,
};

static struct env *env_new(uint32_t max_version)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->out = calloc(MAXPOST, sizeof(*e->out));
	assert_non_null(e->out);
	assert_int_equal(vmb_server_init(&e->s, &ops, e, max_version), VMB_OK);
	return e;
}

static void env_free(struct env *e)
{
	vmb_server_fini(&e->s);
	free(e->out);
	free(e);
}

static const struct posted *last(struct env *e)
{
	assert_true(e->nout > 0);
	return &e->out[e->nout - 1];
}

static uint64_t bad(struct env *e, enum vmb_bad why)
{
	return e->s.bad.n[why];
}

static uint32_t conn(struct env *e)
{
	return e->s.version >= VMB_VERSION(5, 0) ? REDIR : 1;
}

static int guest(struct env *e, const union vmb_msg_buf *b, uint32_t len)
{
	return vmb_server_input(&e->s, conn(e), b->raw, len);
}

static int contact(struct env *e, uint32_t conn_id, uint32_t version)
{
	union vmb_msg_buf b;
	uint32_t len = vmb_msg_enc_initiate_contact(&b, version, 0, 0x3000, 0,
						    0);

	return vmb_server_input(&e->s, conn_id, b.raw, len);
}

static int guest_empty(struct env *e, uint32_t type)
{
	union vmb_msg_buf b;

	return guest(e, &b, vmb_msg_enc_empty(&b, type));
}

static int guest_relid(struct env *e, uint32_t type, uint32_t relid)
{
	union vmb_msg_buf b;

	return guest(e, &b, vmb_msg_enc_relid(&b, type, relid));
}

static uint32_t add_offer(struct env *e, uint32_t relid, uint16_t sub)
{
	struct vmb_msg_offer o;

	memset(&o, 0, sizeof(o));
	o.offer.sub_channel_index = sub;
	o.offer.if_type.b[3] = 0x77;
	assert_int_equal(vmb_server_offer(&e->s, &o, &relid), VMB_OK);
	assert_int_equal(o.child_relid, relid);
	assert_int_equal(o.connection_id, relid | 0x2000);
	assert_int_equal(o.offer.sub_channel_index, sub);
	return relid;
}

/* Connected at version with offers 1..noffers delivered. */
static struct env *env_ready(uint32_t version, unsigned noffers)
{
	struct env *e = env_new(0);

	for (unsigned i = 0; i < noffers; i++)
		add_offer(e, 0, 0);
	assert_int_equal(contact(e, vmb_msg_contact_conn_id(version), version),
			 VMB_OK);
	assert_int_equal(last(e)->m.version_response.version_supported, 1);
	assert_int_equal(guest_empty(e, VMB_MSG_REQUESTOFFERS), VMB_OK);
	assert_int_equal(e->nout, noffers + 2);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_ALLOFFERS_DELIVERED);
	e->nout = 0;
	return e;
}

static void test_contact(void **state)
{
	struct env *e = env_new(VMB_VERSION(5, 2));
	union vmb_msg_buf b;

	(void)state;
	add_offer(e, 0, 0);
	assert_int_equal(guest_empty(e, VMB_MSG_REQUESTOFFERS), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	/* Connection id rule: 5.0+ on 4, older on 1. */
	assert_int_equal(contact(e, 1, VMB_VERSION(5, 2)), VMB_EPROTO);
	assert_int_equal(contact(e, 4, VMB_VERSION(4, 1)), VMB_EPROTO);
	assert_int_equal(contact(e, 7, VMB_VERSION(1, 1)), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_VERSION), 3);
	assert_int_equal(e->nout, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(e->out[i].m.version_response.version_supported,
				 0);
	/* 5.0+ must ask for SINT 2 in VTL 0. */
	vmb_msg_enc_initiate_contact(&b, VMB_VERSION(5, 2), 0, 0, 0, 0);
	b.initiate_contact.msg_sint = 3;
	assert_int_equal(vmb_server_input(&e->s, 4, b.raw, 40), VMB_EPROTO);
	/* Monitor pages come in pairs. */
	vmb_msg_enc_initiate_contact(&b, VMB_VERSION(5, 2), 0, 0, 0x1000, 0);
	assert_int_equal(vmb_server_input(&e->s, 4, b.raw, 40), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 2);
	/* Above the cap, or unknown: refused, not counted. */
	e->nout = 0;
	assert_int_equal(contact(e, 4, VMB_VERSION(5, 3)), VMB_OK);
	assert_int_equal(contact(e, 4, VMB_VERSION(6, 0)), VMB_OK);
	assert_int_equal(contact(e, 1, VMB_VERSION(4, 2)), VMB_OK);
	assert_int_equal(e->nout, 3);
	assert_int_equal(last(e)->m.version_response.version_supported, 0);
	assert_int_equal(vmb_bad_total(&e->s.bad), 6);
	assert_int_equal(e->connected, 0);

	assert_int_equal(contact(e, 4, VMB_VERSION(5, 2)), VMB_OK);
	assert_int_equal(e->connected, 1);
	assert_int_equal(e->s.version, VMB_VERSION(5, 2));
	assert_int_equal(last(e)->m.version_response.version_supported, 1);
	assert_int_equal(last(e)->m.version_response.connection_state, 0);
	assert_int_equal(last(e)->m.version_response.msg_conn_id, REDIR);
	/* Contact again while connected: refused. */
	assert_int_equal(contact(e, 4, VMB_VERSION(5, 2)), VMB_EPROTO);
	assert_int_equal(last(e)->m.version_response.version_supported, 0);
	assert_int_equal(bad(e, VMB_BAD_STATE), 2);
	/* Later messages only on the id handed out. */
	vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS);
	assert_int_equal(vmb_server_input(&e->s, 1, b.raw, 8), VMB_EPROTO);
	assert_int_equal(vmb_server_input(&e->s, 4, b.raw, 8), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_VERSION), 5);
	e->nout = 0;
	assert_int_equal(vmb_server_input(&e->s, REDIR, b.raw, 8), VMB_OK);
	assert_int_equal(e->nout, 2);
	assert_int_equal(e->out[0].m.hdr.type, VMB_MSG_OFFERCHANNEL);
	assert_int_equal(e->out[0].m.offer.child_relid, 1);
	assert_int_equal(e->out[0].m.offer.connection_id, 0x2001);
	assert_int_equal(e->out[0].m.offer.offer.if_type.b[3], 0x77);
	assert_int_equal(e->out[1].m.hdr.type, VMB_MSG_ALLOFFERS_DELIVERED);
	assert_int_equal(vmb_server_input(&e->s, REDIR, b.raw, 8), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 3);
	/* Hot add goes out at once. */
	add_offer(e, 9, 0);
	assert_int_equal(last(e)->m.offer.child_relid, 9);
	struct vmb_msg_offer o;
	memset(&o, 0, sizeof(o));
	uint32_t relid = 9;
	assert_int_equal(vmb_server_offer(&e->s, &o, &relid), VMB_EBUSY);
	relid = VMB_RELID_MAX;
	assert_int_equal(vmb_server_offer(&e->s, &o, &relid), VMB_EINVAL);
	assert_non_null(vmb_server_chan(&e->s, 9));
	assert_null(vmb_server_chan(&e->s, 8));
	env_free(e);

	/* Below 5.0: id 1 throughout; the field echoes the version. */
	e = env_new(0);
	assert_int_equal(contact(e, 1, VMB_VERSION(3, 0)), VMB_OK);
	assert_int_equal(last(e)->m.version_response.msg_conn_id,
			 VMB_VERSION(3, 0));
	vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS);
	assert_int_equal(vmb_server_input(&e->s, REDIR, b.raw, 8), VMB_EPROTO);
	assert_int_equal(vmb_server_input(&e->s, 1, b.raw, 8), VMB_OK);
	env_free(e);
}

/* Sends a one-range GPADL of n pages as header + bodies (numbered from
 * first_number, or all 0 if first_number is 0). Returns the last rc. */
static int send_gpadl(struct env *e, uint32_t relid, uint32_t id,
		      const uint64_t *pfn, uint32_t n, uint32_t first_number)
{
	union vmb_msg_buf b;
	uint32_t k = n < 26 ? n : 26;
	int rc = guest(e, &b, vmb_msg_enc_gpadl_header(&b, relid, id, n, pfn,
						       k));

	for (uint32_t num = first_number; k < n;) {
		uint32_t c = n - k < 28 ? n - k : 28;
		rc = guest(e, &b, vmb_msg_enc_gpadl_body(&b, num, id, pfn + k,
							 c));
		k += c;
		if (first_number)
			num++;
	}
	return rc;
}

static void expect_created(struct env *e, uint32_t relid, uint32_t id,
			   bool ok)
{
	const struct posted *p = last(e);

	assert_int_equal(p->m.hdr.type, VMB_MSG_GPADL_CREATED);
	assert_int_equal(p->m.gpadl_created.child_relid, relid);
	assert_int_equal(p->m.gpadl_created.gpadl, id);
	if (ok)
		assert_int_equal(p->m.gpadl_created.status, 0);
	else
		assert_int_not_equal(p->m.gpadl_created.status, 0);
}

static void test_gpadl_sizes(void **state)
{
	static const uint32_t sizes[] = {1, 26, 27, 54, 55, 1000};
	uint64_t pfn[1000];

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		pfn[i] = 0x7000000ull + 5 * i;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (uint32_t first = 0; first <= 1; first++) {
			struct env *e = env_ready(VMB_VERSION(5, 3), 1);
			uint32_t n = sizes[i];
			assert_int_equal(send_gpadl(e, 1, 0x100 + n, pfn, n,
						    first),
					 VMB_OK);
			assert_int_equal(e->nout, 1);
			expect_created(e, 1, 0x100 + n, true);
			assert_int_equal(e->maps, 1);
			assert_int_equal(e->map_pfn_count, n);
			assert_int_equal(e->map_range_count, 1);
			assert_int_equal(e->map_range_len[0], n * 4096);
			assert_int_equal(e->map_range_off[0], 0);
			assert_memory_equal(e->map_pfns, pfn, n * 8);
			assert_int_equal(vmb_bad_total(&e->s.bad), 0);
			env_free(e); /* unmaps the live GPADL */
		}
	}
}

/* A guest cannot make the host keep GPADL descriptions without bound:
 * past the total cap the next GPADL is refused (its bodies then name an
 * unknown GPADL), and tearing one down makes room again. */
static void test_gpadl_total_cap(void **state)
{
	static uint64_t pfn[1000];
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	union vmb_msg_buf b;
	uint32_t id = 0;
	bool refused = false;

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		pfn[i] = 0x100 + i;
	while (!refused) {
		e->nout = 0;
		send_gpadl(e, 1, ++id, pfn, 1000, 1);
		refused = e->out[0].m.gpadl_created.status != 0;
		assert_true(id < 4000);
	}
	/* The cap is 16 MiB of range bytes: 2095 GPADLs of 1000 pages, each
	 * 8 bytes of range descriptor and 8000 of PFNs (about 8 GiB). */
	assert_int_equal(id - 1, (16u << 20) / (8 + 1000 * 8));
	assert_int_equal(e->out[0].m.hdr.type, VMB_MSG_GPADL_CREATED);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 1 + 35);
	e->nout = 0;
	guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 1));
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_GPADL_TORNDOWN);
	e->nout = 0;
	assert_int_equal(send_gpadl(e, 1, id, pfn, 1000, 1), VMB_OK);
	expect_created(e, 1, id, true);
	env_free(e);
}

/* Header of a one-range GPADL, hand-built so that fields can be wrong. */
static uint32_t raw_header(union vmb_msg_buf *b, uint32_t relid, uint32_t id,
			   uint16_t buflen, uint16_t count, uint32_t byte_count,
			   uint32_t byte_offset, uint32_t npfn_in_msg)
{
	memset(b, 0, sizeof(*b));
	b->gpadl_header.hdr.type = VMB_MSG_GPADL_HEADER;
	b->gpadl_header.child_relid = relid;
	b->gpadl_header.gpadl = id;
	b->gpadl_header.range_buflen = buflen;
	b->gpadl_header.range_count = count;
	memcpy(b->raw + 20, &byte_count, 4);
	memcpy(b->raw + 24, &byte_offset, 4);
	for (uint32_t i = 0; i < npfn_in_msg; i++) {
		uint64_t v = 100 + i;
		memcpy(b->raw + 28 + 8 * i, &v, 8);
	}
	return 28 + 8 * npfn_in_msg;
}

static void test_gpadl_bad(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	union vmb_msg_buf b;
	uint64_t pfn[60] = {0};
	uint32_t len;

	(void)state;
	/* Too few PFNs for the range: 3 pages, buffer holds 2. */
	len = raw_header(&b, 1, 10, 8 + 16, 1, 3 * 4096, 0, 2);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	expect_created(e, 1, 10, false);
	/* Too many: 2 pages, buffer holds 3. */
	len = raw_header(&b, 1, 11, 8 + 24, 1, 2 * 4096, 0, 3);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	expect_created(e, 1, 11, false);
	/* Offset pushes the range onto a third page. */
	len = raw_header(&b, 1, 12, 8 + 16, 1, 2 * 4096, 1, 2);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	/* byte_offset must be inside the first page; byte_count > 0. */
	len = raw_header(&b, 1, 13, 8 + 16, 1, 4096, 4096, 2);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	len = raw_header(&b, 1, 14, 8 + 8, 1, 0, 0, 1);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	/* range_count 0, more ranges than bytes, odd buflen. */
	len = raw_header(&b, 1, 15, 16, 0, 4096, 0, 1);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	len = raw_header(&b, 1, 16, 16, 2, 4096, 0, 1);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	len = raw_header(&b, 1, 17, 17, 1, 4096, 0, 1);
	assert_int_equal(guest(e, &b, len + 1), VMB_EPROTO);
	/* More data in the header than range_buflen; ragged length. */
	len = raw_header(&b, 1, 18, 16, 1, 4096, 0, 2);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	len = raw_header(&b, 1, 19, 24, 1, 8192, 0, 2);
	assert_int_equal(guest(e, &b, len - 3), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 10);
	/* Unknown relid. */
	len = raw_header(&b, 5, 20, 16, 1, 4096, 0, 1);
	assert_int_equal(guest(e, &b, len), VMB_EPROTO);
	expect_created(e, 5, 20, false);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);
	assert_int_equal(e->maps, 0);
	assert_int_equal(e->s.gpadl_count, 0);

	/* Bodies: unknown gpadl, wrong numbers, too many PFNs. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 99, pfn,
							     2)),
			 VMB_EPROTO);
	assert_int_equal(send_gpadl(e, 1, 30, pfn, 60, 2), VMB_EPROTO);
	expect_created(e, 1, 30, false);
	/* 1 then 3 (the second body is refused, the third is unknown). */
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 31, 60, pfn, 26));
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 31, pfn,
							     28)),
			 VMB_OK);
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 3, 31, pfn,
							     6)),
			 VMB_EPROTO);
	expect_created(e, 1, 31, false);
	/* Unnumbered then numbered. */
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 32, 60, pfn, 26));
	guest(e, &b, vmb_msg_enc_gpadl_body(&b, 0, 32, pfn, 28));
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 2, 32, pfn,
							     6)),
			 VMB_EPROTO);
	/* A body with more PFNs than the header announced. */
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 33, 30, pfn, 26));
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 33, pfn,
							     5)),
			 VMB_EPROTO);
	/* An empty body. */
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 34, 30, pfn, 26));
	vmb_msg_enc_gpadl_body(&b, 1, 34, pfn, 1);
	assert_int_equal(guest(e, &b, 16), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 17);
	assert_int_equal(e->s.gpadl_count, 0);

	/* Duplicate id: the second is refused, the first stays. */
	assert_int_equal(send_gpadl(e, 1, 40, pfn, 4, 1), VMB_OK);
	expect_created(e, 1, 40, true);
	assert_int_equal(send_gpadl(e, 2, 40, pfn, 4, 1), VMB_EPROTO);
	expect_created(e, 2, 40, false);
	assert_int_equal(e->s.gpadl_count, 1);
	/* A body for a complete GPADL. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 40, pfn,
							     1)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 19);
	/* The embedder refuses to map. */
	e->map_status = 0xc000009au;
	assert_int_equal(send_gpadl(e, 1, 41, pfn, 4, 1), VMB_OK);
	assert_int_equal(last(e)->m.gpadl_created.status, 0xc000009au);
	assert_int_equal(e->s.gpadl_count, 1);
	e->map_status = 0;
	/* Incomplete GPADL left dangling: freed at fini (ASan checks). */
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 42, 60, pfn, 26));
	env_free(e);
}

/* Two ranges, the first starting mid-page; descriptors split across the
 * header and a body. */
static void test_gpadl_multirange(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	union vmb_msg_buf b;
	uint8_t ranges[8 + 16 + 8 + 8];
	uint32_t v;
	uint64_t p;

	(void)state;
	v = 5000; memcpy(ranges + 0, &v, 4);   /* 2 pages from offset 100 */
	v = 100; memcpy(ranges + 4, &v, 4);
	p = 0x111; memcpy(ranges + 8, &p, 8);
	p = 0x222; memcpy(ranges + 16, &p, 8);
	v = 4096; memcpy(ranges + 24, &v, 4);  /* 1 page */
	v = 0; memcpy(ranges + 28, &v, 4);
	p = 0x333; memcpy(ranges + 32, &p, 8);

	memset(&b, 0, sizeof(b));
	b.gpadl_header.hdr.type = VMB_MSG_GPADL_HEADER;
	b.gpadl_header.child_relid = 1;
	b.gpadl_header.gpadl = 7;
	b.gpadl_header.range_buflen = sizeof(ranges);
	b.gpadl_header.range_count = 2;
	memcpy(b.raw + 20, ranges, 24);
	assert_int_equal(guest(e, &b, 44), VMB_OK);
	assert_int_equal(e->nout, 0);
	memset(&b, 0, sizeof(b));
	b.gpadl_body.hdr.type = VMB_MSG_GPADL_BODY;
	b.gpadl_body.msg_number = 1;
	b.gpadl_body.gpadl = 7;
	memcpy(b.raw + 16, ranges + 24, 16);
	assert_int_equal(guest(e, &b, 32), VMB_OK);
	expect_created(e, 1, 7, true);
	assert_int_equal(e->map_range_count, 2);
	assert_int_equal(e->map_pfn_count, 3);
	assert_int_equal(e->map_range_len[0], 5000);
	assert_int_equal(e->map_range_off[0], 100);
	assert_int_equal(e->map_range_len[1], 4096);
	assert_int_equal(e->map_pfns[0], 0x111);
	assert_int_equal(e->map_pfns[2], 0x333);
	/* Not usable as a ring (two ranges). */
	assert_int_equal(guest(e, &b, vmb_msg_enc_open(&b, 1, 1, 7, 0, 1, NULL,
						       0)),
			 VMB_EPROTO);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_OPENCHANNEL_RESULT);
	assert_int_not_equal(last(e)->m.open_result.status, 0);
	env_free(e);
}

static int guest_open(struct env *e, uint32_t relid, uint32_t open_id,
		      uint32_t gpadl, uint32_t pgoff)
{
	union vmb_msg_buf b;

	return guest(e, &b, vmb_msg_enc_open(&b, relid, open_id, gpadl, 3,
					     pgoff, "u", 1));
}

static void expect_open_result(struct env *e, uint32_t relid,
			       uint32_t open_id, bool ok)
{
	const struct posted *p = last(e);

	assert_int_equal(p->m.hdr.type, VMB_MSG_OPENCHANNEL_RESULT);
	assert_int_equal(p->m.open_result.child_relid, relid);
	assert_int_equal(p->m.open_result.open_id, open_id);
	if (ok)
		assert_int_equal(p->m.open_result.status, 0);
	else
		assert_int_not_equal(p->m.open_result.status, 0);
}

static void test_open_close_teardown(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	union vmb_msg_buf b;

	(void)state;
	send_gpadl(e, 1, 50, pfn, 8, 1);
	send_gpadl(e, 2, 51, pfn, 8, 1);
	send_gpadl(e, 1, 52, pfn, 3, 1);
	/* Unknown relid, foreign GPADL, unknown GPADL, bad offsets. */
	assert_int_equal(guest_open(e, 3, 1, 50, 4), VMB_EPROTO);
	expect_open_result(e, 3, 1, false);
	assert_int_equal(guest_open(e, 1, 2, 51, 4), VMB_EPROTO);
	assert_int_equal(guest_open(e, 1, 3, 99, 4), VMB_EPROTO);
	assert_int_equal(guest_open(e, 1, 4, 50, 0), VMB_EPROTO);
	assert_int_equal(guest_open(e, 1, 5, 50, 1), VMB_EPROTO);
	assert_int_equal(guest_open(e, 1, 6, 50, 7), VMB_EPROTO);
	assert_int_equal(guest_open(e, 1, 7, 50, 8), VMB_EPROTO);
	assert_int_equal(guest_open(e, 1, 8, 52, 2), VMB_EPROTO);
	expect_open_result(e, 1, 8, false);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 2);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 5);
	assert_int_equal(e->opens, 0);
	/* The embedder refuses. */
	e->open_status = 0xc0000001u;
	assert_int_equal(guest_open(e, 1, 9, 50, 4), VMB_OK);
	expect_open_result(e, 1, 9, false);
	assert_int_equal(vmb_server_chan(&e->s, 1)->state, VMB_SCHAN_OFFERED);
	e->open_status = 0;
	/* Both rings of 2 pages: the smallest allowed. */
	send_gpadl(e, 2, 53, pfn, 4, 1);
	assert_int_equal(guest_open(e, 2, 10, 53, 2), VMB_OK);
	expect_open_result(e, 2, 10, true);
	assert_int_equal(guest_open(e, 1, 11, 50, 6), VMB_OK);
	expect_open_result(e, 1, 11, true);
	assert_int_equal(e->last_open.relid, 1);
	assert_int_equal(e->last_open.open_id, 11);
	assert_int_equal(e->last_open.target_vp, 3);
	assert_int_equal(e->last_open.downstream_pgoff, 6);
	assert_int_equal(e->last_open.user_data[0], 'u');
	assert_int_equal(e->last_open_ring_pages, 8);
	assert_int_equal(vmb_server_chan(&e->s, 1)->state, VMB_SCHAN_OPEN);
	assert_int_equal(vmb_server_chan(&e->s, 1)->ring_gpadl, 50);
	/* Open twice. */
	assert_int_equal(guest_open(e, 1, 12, 50, 6), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	/* Ring in use: teardown refused, no reply. */
	e->nout = 0;
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 50)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 2);
	assert_int_equal(e->nout, 0);
	/* Teardown naming the wrong relid, or an unknown GPADL. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 2, 50)),
			 VMB_EPROTO);
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 77)),
			 VMB_EPROTO);
	/* Close; close again; then the teardown goes through. */
	assert_int_equal(guest_relid(e, VMB_MSG_CLOSECHANNEL, 1), VMB_OK);
	assert_int_equal(e->closes, 1);
	assert_int_equal(e->last_close, 1);
	assert_int_equal(guest_relid(e, VMB_MSG_CLOSECHANNEL, 1), VMB_EPROTO);
	assert_int_equal(guest_relid(e, VMB_MSG_CLOSECHANNEL, 9), VMB_EPROTO);
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 50)),
			 VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_GPADL_TORNDOWN);
	assert_int_equal(last(e)->m.gpadl_torndown.gpadl, 50);
	assert_int_equal(e->unmaps, 1);
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 50)),
			 VMB_EPROTO);
	/* RELID_RELEASED for a channel that was not rescinded. */
	assert_int_equal(guest_relid(e, VMB_MSG_RELID_RELEASED, 1),
			 VMB_EPROTO);
	assert_int_equal(e->releases, 0);
	env_free(e);
}

static int guest_teardown(struct env *e, uint32_t relid, uint32_t id)
{
	union vmb_msg_buf b;

	return guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, relid, id));
}

/* The embedder still uses a GPADL the guest tears down: it stays mapped,
 * is no ring, and the answer waits for vmb_server_gpadl_release. */
static void test_teardown_held(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[4] = {1, 2, 3, 4};

	(void)state;
	send_gpadl(e, 1, 60, pfn, 4, 1);
	send_gpadl(e, 1, 61, pfn, 4, 1);
	e->hold = true;
	e->nout = 0;
	assert_int_equal(guest_teardown(e, 1, 60), VMB_OK);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->unmaps, 0);
	/* Twice, or as a ring: refused. */
	assert_int_equal(guest_teardown(e, 1, 60), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	assert_int_equal(e->teardowns, 1);
	assert_int_equal(guest_open(e, 1, 1, 60, 2), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 1);
	e->nout = 0;
	/* Only a held-back GPADL is released. */
	assert_int_equal(vmb_server_gpadl_release(&e->s, 61), VMB_ENOENT);
	assert_int_equal(vmb_server_gpadl_release(&e->s, 99), VMB_ENOENT);
	assert_int_equal(vmb_server_gpadl_release(&e->s, 60), VMB_OK);
	assert_int_equal(e->unmaps, 1);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_GPADL_TORNDOWN);
	assert_int_equal(last(e)->m.gpadl_torndown.gpadl, 60);
	assert_int_equal(vmb_server_gpadl_release(&e->s, 60), VMB_ENOENT);
	/* Held across a rescind: the relid's release unmaps it, unanswered. */
	assert_int_equal(guest_teardown(e, 1, 61), VMB_OK);
	assert_int_equal(vmb_server_rescind(&e->s, 1), VMB_OK);
	e->nout = 0;
	assert_int_equal(guest_relid(e, VMB_MSG_RELID_RELEASED, 1), VMB_OK);
	assert_int_equal(e->unmaps, 2);
	assert_int_equal(e->nout, 0);
	assert_int_equal(vmb_server_gpadl_release(&e->s, 61), VMB_ENOENT);
	/* Held when the guest goes: reset unmaps it. */
	send_gpadl(e, 2, 62, pfn, 4, 1);
	assert_int_equal(guest_teardown(e, 2, 62), VMB_OK);
	vmb_server_reset(&e->s);
	assert_int_equal(e->unmaps, 3);
	assert_int_equal(vmb_server_gpadl_release(&e->s, 62), VMB_ENOENT);
	env_free(e);
}

static void test_modify(void **state)
{
	uint64_t pfn[4] = {1, 2, 3, 4};
	union vmb_msg_buf b;

	(void)state;
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	send_gpadl(e, 1, 1, pfn, 4, 1);
	guest_open(e, 1, 1, 1, 2);
	e->nout = 0;
	assert_int_equal(guest(e, &b, vmb_msg_enc_modify(&b, 1, 6)), VMB_OK);
	assert_int_equal(e->modifies, 1);
	assert_int_equal(e->last_modify_vp, 6);
	assert_int_equal(vmb_server_chan(&e->s, 1)->target_vp, 6);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_MODIFYCHANNEL_RESPONSE);
	assert_int_equal(last(e)->m.modify_response.child_relid, 1);
	assert_int_equal(last(e)->m.modify_response.status, 0);
	/* Not open: counted, failure answer. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_modify(&b, 2, 6)),
			 VMB_EPROTO);
	assert_int_equal(last(e)->m.modify_response.child_relid, 2);
	assert_int_not_equal(last(e)->m.modify_response.status, 0);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	env_free(e);

	/* 4.1: applied, no answer. */
	e = env_ready(VMB_VERSION(4, 1), 1);
	send_gpadl(e, 1, 1, pfn, 4, 1);
	guest_open(e, 1, 1, 1, 2);
	e->nout = 0;
	assert_int_equal(guest(e, &b, vmb_msg_enc_modify(&b, 1, 2)), VMB_OK);
	assert_int_equal(e->modifies, 1);
	assert_int_equal(e->nout, 0);
	env_free(e);

	/* 4.0: no such message. */
	e = env_ready(VMB_VERSION(4, 0), 1);
	assert_int_equal(guest(e, &b, vmb_msg_enc_modify(&b, 1, 2)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_VERSION), 1);
	assert_int_equal(e->modifies, 0);
	env_free(e);
}

static void test_rescind(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 3);
	uint64_t pfn[4] = {1, 2, 3, 4};

	(void)state;
	send_gpadl(e, 1, 1, pfn, 4, 1);
	send_gpadl(e, 1, 2, pfn, 4, 1);
	guest_open(e, 1, 1, 1, 2);
	e->nout = 0;
	/* Open channel: closed by the host, then RESCIND. */
	assert_int_equal(vmb_server_rescind(&e->s, 1), VMB_OK);
	assert_int_equal(e->closes, 1);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_RESCIND_CHANNELOFFER);
	assert_int_equal(last(e)->m.relid.child_relid, 1);
	assert_int_equal(vmb_server_chan(&e->s, 1)->state,
			 VMB_SCHAN_RESCINDED);
	assert_int_equal(vmb_server_rescind(&e->s, 1), VMB_ENOENT);
	/* Not reusable until released. */
	uint32_t relid = 1;
	struct vmb_msg_offer o;
	memset(&o, 0, sizeof(o));
	assert_int_equal(vmb_server_offer(&e->s, &o, &relid), VMB_EBUSY);
	/* The guest's close crossing the rescind is harmless. */
	assert_int_equal(guest_relid(e, VMB_MSG_CLOSECHANNEL, 1), VMB_OK);
	assert_int_equal(e->closes, 1);
	/* No new work on a rescinded channel. Requests that crossed the
	 * RESCIND are refused with a failure answer and counted as raced,
	 * not as bad: the guest could not know. */
	assert_int_equal(guest_open(e, 1, 2, 1, 2), VMB_OK);
	expect_open_result(e, 1, 2, false);
	assert_int_equal(send_gpadl(e, 1, 3, pfn, 4, 1), VMB_OK);
	expect_created(e, 1, 3, false);
	assert_int_equal(e->s.raced, 2);
	assert_int_equal(vmb_bad_total(&e->s.bad), 0);
	/* The guest tears one GPADL down and releases; the other goes
	 * with the relid. */
	union vmb_msg_buf b;
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 1)),
			 VMB_OK);
	assert_int_equal(guest_relid(e, VMB_MSG_RELID_RELEASED, 1), VMB_OK);
	assert_int_equal(e->releases, 1);
	assert_int_equal(e->unmaps, 2);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_null(vmb_server_chan(&e->s, 1));
	assert_int_equal(guest_relid(e, VMB_MSG_RELID_RELEASED, 1),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);
	assert_int_equal(vmb_server_offer(&e->s, &o, &relid), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_OFFERCHANNEL);
	/* Idle channel, a GPADL half sent when the RESCIND goes out: its
	 * last body and a MODIFYCHANNEL cross the RESCIND. */
	uint64_t many[30] = {1, 2, 3, 4};
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_header(&b, 2, 7, 30,
							       many, 26)),
			 VMB_OK);
	assert_int_equal(vmb_server_rescind(&e->s, 2), VMB_OK);
	assert_int_equal(e->closes, 1);
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_body(&b, 1, 7,
							     many + 26, 4)),
			 VMB_OK);
	expect_created(e, 2, 7, false);
	assert_int_equal(e->s.gpadl_count, 0);
	/* A GPADL sent whole after the RESCIND: its body is no stray. */
	assert_int_equal(send_gpadl(e, 2, 8, many, 30, 1), VMB_OK);
	expect_created(e, 2, 8, false);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_int_equal(guest(e, &b, vmb_msg_enc_modify(&b, 2, 1)), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_MODIFYCHANNEL_RESPONSE);
	assert_int_not_equal(last(e)->m.modify_response.status, 0);
	assert_int_equal(e->s.raced, 5);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 0);
	assert_int_equal(guest_relid(e, VMB_MSG_RELID_RELEASED, 2), VMB_OK);
	env_free(e);

	/* Never sent to a guest: free at once. */
	e = env_new(0);
	add_offer(e, 0, 0);
	assert_int_equal(vmb_server_rescind(&e->s, 1), VMB_OK);
	assert_int_equal(e->releases, 1);
	assert_int_equal(e->nout, 0);
	assert_null(vmb_server_chan(&e->s, 1));
	assert_int_equal(vmb_server_rescind(&e->s, 0), VMB_ENOENT);
	assert_int_equal(vmb_server_rescind(&e->s, VMB_RELID_MAX), VMB_ENOENT);
	env_free(e);
}

/* Offers 1-3 delivered at version; GPADLs 1 and 2 mapped on relids 1 and
 * 2, GPADL 3 of relid 3 half sent; relid 1 open on GPADL 1; relid 3
 * rescinded. */
static struct env *env_busy(uint32_t version)
{
	struct env *e = env_ready(version, 3);
	uint64_t pfn[26] = {1, 2, 3, 4};
	union vmb_msg_buf b;

	send_gpadl(e, 1, 1, pfn, 4, 1);
	send_gpadl(e, 2, 2, pfn, 4, 1);
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 3, 3, 60, pfn, 26));
	guest_open(e, 1, 1, 1, 2);
	assert_int_equal(vmb_server_rescind(&e->s, 3), VMB_OK);
	e->nout = 0;
	return e;
}

static void test_unload_and_reset(void **state)
{
	struct env *e = env_busy(VMB_VERSION(5, 0));
	uint64_t pfn[26] = {1, 2, 3, 4};

	(void)state;
	assert_int_equal(guest_empty(e, VMB_MSG_UNLOAD), VMB_OK);
	assert_int_equal(e->closes, 1);
	assert_int_equal(e->unmaps, 2);
	assert_int_equal(e->releases, 1);
	assert_int_equal(e->unloads, 1);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_int_equal(e->s.state, VMB_SERVER_DISCONNECTED);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_UNLOAD_RESPONSE);
	assert_int_equal(vmb_server_chan(&e->s, 1)->state, VMB_SCHAN_OFFERED);
	assert_null(vmb_server_chan(&e->s, 3));
	/* Nothing but contact now; then a new guest sees the offers. */
	assert_int_equal(guest_empty(e, VMB_MSG_UNLOAD), VMB_EPROTO);
	assert_int_equal(contact(e, 1, VMB_VERSION(4, 0)), VMB_OK);
	e->nout = 0;
	assert_int_equal(guest_empty(e, VMB_MSG_REQUESTOFFERS), VMB_OK);
	assert_int_equal(e->nout, 3);

	/* A guest that vanishes: reset closes and unmaps, keeps offers. */
	send_gpadl(e, 2, 5, pfn, 4, 1);
	guest_open(e, 2, 1, 5, 2);
	vmb_server_reset(&e->s);
	assert_int_equal(e->closes, 2);
	assert_int_equal(e->unmaps, 3);
	assert_int_equal(e->s.state, VMB_SERVER_DISCONNECTED);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_non_null(vmb_server_chan(&e->s, 2));
	assert_int_equal(vmb_server_chan(&e->s, 2)->sent, false);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	env_free(e);
}

/* The relid table is scanned only up to the highest channel: one on the
 * last relid is offered to the guest and dropped by the UNLOAD if
 * rescinded; releasing it lowers the end of the scans again. */
static void test_high_relid_scans(void **state)
{
	struct env *e = env_new(0);
	uint32_t top = VMB_RELID_MAX - 1;

	(void)state;
	add_offer(e, 1, 0);
	add_offer(e, top, 0);
	assert_int_equal(e->s.relid_end, VMB_RELID_MAX);
	assert_int_equal(contact(e, 4, VMB_VERSION(5, 3)), VMB_OK);
	e->nout = 0;
	assert_int_equal(guest_empty(e, VMB_MSG_REQUESTOFFERS), VMB_OK);
	assert_int_equal(e->nout, 3);
	assert_int_equal(e->out[1].m.offer.child_relid, top);
	assert_int_equal(vmb_server_rescind(&e->s, top), VMB_OK);
	assert_int_equal(guest_relid(e, VMB_MSG_RELID_RELEASED, top), VMB_OK);
	assert_int_equal(e->s.relid_end, 2);
	add_offer(e, top, 0);
	assert_int_equal(vmb_server_rescind(&e->s, top), VMB_OK);
	assert_int_equal(guest_empty(e, VMB_MSG_UNLOAD), VMB_OK);
	assert_int_equal(e->releases, 2);
	assert_int_equal(e->last_release, top);
	assert_null(vmb_server_chan(&e->s, top));
	assert_int_equal(e->s.relid_end, 2);
	env_free(e);
}

/* reinit does to channels and GPADLs what fini does (closes, unmaps,
 * releases through ops), drops the offers and counters, and the server
 * starts over as a new one: offers from relid 1, a guest at any version. */
static void test_reinit(void **state)
{
	struct env *e = env_busy(VMB_VERSION(5, 3));
	uint64_t pfn[4] = {1, 2, 3, 4};

	(void)state;
	add_offer(e, VMB_RELID_MAX - 1, 0);
	assert_int_equal(guest_relid(e, VMB_MSG_CLOSECHANNEL, 9), VMB_EPROTO);
	e->nout = 0;

	vmb_server_reinit(&e->s);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->closes, 1);
	assert_int_equal(e->unmaps, 2);
	assert_int_equal(e->releases, 1);
	assert_int_equal(e->unloads, 0);
	assert_int_equal(e->s.state, VMB_SERVER_DISCONNECTED);
	assert_int_equal(e->s.version, 0);
	assert_int_equal(e->s.max_version, VMB_VERSION(5, 3));
	assert_int_equal(vmb_bad_total(&e->s.bad), 0);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_null(e->s.gpadls);
	assert_int_equal(e->s.relid_end, 0);
	for (uint32_t r = 0; r < VMB_RELID_MAX; r++)
		assert_null(vmb_server_chan(&e->s, r));
	assert_ptr_equal(e->s.ops, &ops);
	assert_ptr_equal(e->s.ctx, e);

	assert_int_equal(add_offer(e, 0, 0), 1);
	assert_int_equal(contact(e, 1, VMB_VERSION(4, 0)), VMB_OK);
	assert_int_equal(last(e)->m.version_response.version_supported, 1);
	e->nout = 0;
	assert_int_equal(guest_empty(e, VMB_MSG_REQUESTOFFERS), VMB_OK);
	assert_int_equal(e->nout, 2);
	assert_int_equal(send_gpadl(e, 1, 1, pfn, 4, 1), VMB_OK);
	expect_created(e, 1, 1, true);
	vmb_server_reinit(&e->s);
	vmb_server_reinit(&e->s);
	assert_int_equal(e->unmaps, 3);
	env_free(e);
}

static void test_tl_connect(void **state)
{
	struct vmb_guid ep, svc;
	union vmb_msg_buf b;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 16; i++) {
		ep.b[i] = (uint8_t)i;
		svc.b[i] = (uint8_t)(0xf0 + i);
	}
	struct env *e = env_ready(VMB_VERSION(5, 3), 0);
	assert_int_equal(guest(e, &b, vmb_msg_enc_tl_connect_request(&b, &ep,
								     &svc)),
			 VMB_OK);
	const struct posted *p = last(e);
	assert_int_equal(p->len, 44);
	assert_int_equal(p->m.hdr.type, VMB_MSG_TL_CONNECT_RESULT);
	assert_memory_equal(p->m.tl_connect_result.endpoint_id.b, ep.b, 16);
	assert_memory_equal(p->m.tl_connect_result.service_id.b, svc.b, 16);
	assert_int_equal(p->m.tl_connect_result.status,
			 VMB_STATUS_CONNECTION_REFUSED);
	/* The 5.2 form with a silo id is longer; also answered. */
	assert_int_equal(guest(e, &b, 56), VMB_OK);
	assert_int_equal(e->nout, 2);
	assert_int_equal(vmb_bad_total(&e->s.bad), 0);
	env_free(e);

	e = env_ready(VMB_VERSION(4, 0), 0);
	assert_int_equal(guest(e, &b, vmb_msg_enc_tl_connect_request(&b, &ep,
								     &svc)),
			 VMB_OK);
	assert_int_equal(e->nout, 0);
	env_free(e);
	e = env_ready(VMB_VERSION(3, 0), 0);
	assert_int_equal(guest(e, &b, vmb_msg_enc_tl_connect_request(&b, &ep,
								     &svc)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_VERSION), 1);
	env_free(e);
}

/* 5.0+ contact must also ask for VTL 0. */
static void test_contact_vtl(void **state)
{
	struct env *e = env_new(0);
	union vmb_msg_buf b;

	(void)state;
	vmb_msg_enc_initiate_contact(&b, VMB_VERSION(5, 2), 0, 0, 0, 0);
	b.initiate_contact.msg_vtl = 1;
	assert_int_equal(vmb_server_input(&e->s, 4, b.raw, 40), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 1);
	assert_int_equal(last(e)->m.version_response.version_supported, 0);
	assert_int_equal(e->connected, 0);
	assert_int_equal(e->s.state, VMB_SERVER_DISCONNECTED);
	env_free(e);
}

/* Header carrying range bytes given verbatim (little-endian host). */
static uint32_t ranges_header(union vmb_msg_buf *b, uint32_t relid,
			      uint32_t id, uint16_t buflen, uint16_t count,
			      const void *bytes, uint32_t nbytes)
{
	memset(b, 0, sizeof(*b));
	b->gpadl_header.hdr.type = VMB_MSG_GPADL_HEADER;
	b->gpadl_header.child_relid = relid;
	b->gpadl_header.gpadl = id;
	b->gpadl_header.range_buflen = buflen;
	b->gpadl_header.range_count = count;
	memcpy(b->raw + 20, bytes, nbytes);
	return 20 + nbytes;
}

static void put_range(uint32_t *w, uint32_t byte_count, uint32_t byte_offset)
{
	w[0] = byte_count;
	w[1] = byte_offset;
}

/* Two ranges announced, and the first one's PFNs fill (or overrun) the
 * buffer, or the first is empty: the whole GPADL is refused without the
 * parser reading past the reassembled bytes (ASan watches). */
static void test_gpadl_ranges_overrun(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint32_t w[8];
	union vmb_msg_buf b;

	(void)state;
	/* 3 pages use all 32 bytes: no room for the second descriptor. */
	memset(w, 0, sizeof(w));
	put_range(w, 3 * 4096, 0);
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 1, 32, 2, w, 32)),
			 VMB_EPROTO);
	expect_created(e, 1, 1, false);
	/* 5 pages claimed where 3 PFNs fit. */
	put_range(w, 5 * 4096, 0);
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 2, 32, 2, w, 32)),
			 VMB_EPROTO);
	expect_created(e, 1, 2, false);
	/* An empty first range before a good one. */
	memset(w, 0, sizeof(w));
	put_range(w, 0, 0);
	put_range(w + 2, 2 * 4096, 0);
	w[4] = 0x10;
	w[6] = 0x11;
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 3, 32, 2, w, 32)),
			 VMB_EPROTO);
	expect_created(e, 1, 3, false);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 3);
	assert_int_equal(e->maps, 0);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_int_equal(e->s.gpadl_bytes, 0);
	env_free(e);
}

/* A header whose counts cannot describe a valid GPADL is refused at once,
 * even if only a prefix of the range bytes has arrived: nothing is kept
 * waiting for bodies. */
static void test_gpadl_header_refused_early(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint32_t w[4] = {4 * 4096, 0, 0x10, 0};
	union vmb_msg_buf b;

	(void)state;
	/* range_count 0. */
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 1, 40, 0, w, 16)),
			 VMB_EPROTO);
	expect_created(e, 1, 1, false);
	/* range_buflen not a whole number of 8-byte units. */
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 2, 36, 1, w, 16)),
			 VMB_EPROTO);
	expect_created(e, 1, 2, false);
	/* Three ranges need at least 48 bytes. */
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 3, 40, 3, w, 16)),
			 VMB_EPROTO);
	expect_created(e, 1, 3, false);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 3);
	assert_int_equal(e->s.gpadl_count, 0);
	assert_int_equal(e->s.gpadl_bytes, 0);
	/* The same prefix with sane counts waits for its body. */
	e->nout = 0;
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 4, 40, 1, w, 16)),
			 VMB_OK);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->s.gpadl_count, 1);
	env_free(e);
}

/* A body whose length is not a whole number of PFNs is refused and the
 * GPADL dropped. */
static void test_gpadl_body_ragged(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint64_t pfn[60] = {0};
	union vmb_msg_buf b;

	(void)state;
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 9, 60, pfn, 26));
	uint32_t len = vmb_msg_enc_gpadl_body(&b, 1, 9, pfn, 28);
	assert_int_equal(guest(e, &b, len - 4), VMB_EPROTO);
	expect_created(e, 1, 9, false);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 1);
	assert_int_equal(e->s.gpadl_count, 0);
	env_free(e);
}

/* GPADL_TEARDOWN only for a complete GPADL of the relid it names, and
 * OPENCHANNEL only on a complete ring GPADL. */
static void test_gpadl_incomplete_or_foreign(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[60] = {0};
	union vmb_msg_buf b;

	(void)state;
	guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 5, 60, pfn, 26));
	assert_int_equal(send_gpadl(e, 1, 6, pfn, 4, 1), VMB_OK);
	e->nout = 0;
	/* Teardown while the bodies are still missing. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 5)),
			 VMB_EPROTO);
	/* Teardown of an idle GPADL naming another relid. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 2, 6)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 2);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->s.gpadl_count, 2);
	assert_int_equal(e->unmaps, 0);
	/* Open on the GPADL still being reassembled. */
	assert_int_equal(guest_open(e, 1, 1, 5, 2), VMB_EPROTO);
	expect_open_result(e, 1, 1, false);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 3);
	assert_int_equal(e->opens, 0);
	/* Both still work afterwards. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_teardown(&b, 1, 6)),
			 VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_GPADL_TORNDOWN);
	env_free(e);
}

/* A ring GPADL must be whole pages: a one-page GPADL, or one whose range
 * ends short of its last page, is no ring. */
static void test_ring_layout(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint64_t pfn[4] = {1, 2, 3, 4};
	uint32_t w[10];
	union vmb_msg_buf b;

	(void)state;
	memset(w, 0, sizeof(w));
	put_range(w, 4 * 4096 - 8, 0);
	for (unsigned i = 0; i < 4; i++)
		w[2 + 2 * i] = 0x20 + i;
	assert_int_equal(guest(e, &b, ranges_header(&b, 1, 1, 40, 1, w, 40)),
			 VMB_OK);
	expect_created(e, 1, 1, true);
	assert_int_equal(guest_open(e, 1, 1, 1, 2), VMB_EPROTO);
	expect_open_result(e, 1, 1, false);
	assert_int_equal(send_gpadl(e, 1, 2, pfn, 1, 1), VMB_OK);
	assert_int_equal(guest_open(e, 1, 2, 2, 2), VMB_EPROTO);
	expect_open_result(e, 1, 2, false);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 2);
	assert_int_equal(e->opens, 0);
	env_free(e);
}

/* A channel offered but not (yet) sent to this guest does not exist for
 * it: before REQUESTOFFERS, and a sub-channel below 2.4. */
static void test_unsent_channel(void **state)
{
	uint64_t pfn[4] = {1, 2, 3, 4};
	struct env *e = env_new(0);

	(void)state;
	add_offer(e, 0, 0);
	assert_int_equal(contact(e, 4, VMB_VERSION(5, 3)), VMB_OK);
	assert_int_equal(send_gpadl(e, 1, 1, pfn, 4, 1), VMB_EPROTO);
	expect_created(e, 1, 1, false);
	assert_int_equal(guest_relid(e, VMB_MSG_CLOSECHANNEL, 1), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_RELID), 2);
	assert_int_equal(e->s.gpadl_count, 0);
	env_free(e);

	e = env_new(0);
	add_offer(e, 0, 1);
	assert_int_equal(contact(e, 1, VMB_VERSION(1, 1)), VMB_OK);
	e->nout = 0;
	assert_int_equal(guest_empty(e, VMB_MSG_REQUESTOFFERS), VMB_OK);
	assert_int_equal(e->nout, 1);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_ALLOFFERS_DELIVERED);
	assert_int_equal(send_gpadl(e, 1, 1, pfn, 4, 1), VMB_EPROTO);
	expect_created(e, 1, 1, false);
	assert_int_equal(guest_open(e, 1, 1, 1, 2), VMB_EPROTO);
	expect_open_result(e, 1, 1, false);
	assert_int_equal(bad(e, VMB_BAD_RELID), 2);
	env_free(e);
}

/* At most 4096 GPADLs alive and 64 being reassembled at once. */
static void test_gpadl_count_caps(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint64_t pfn[60] = {0};
	union vmb_msg_buf b;

	(void)state;
	for (uint32_t id = 1; id <= 64; id++) {
		assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_header(
						      &b, 1, id, 60, pfn, 26)),
				 VMB_OK);
	}
	assert_int_equal(e->nout, 0);
	assert_int_equal(guest(e, &b, vmb_msg_enc_gpadl_header(&b, 1, 65, 60,
							       pfn, 26)),
			 VMB_EPROTO);
	expect_created(e, 1, 65, false);
	assert_int_equal(e->s.gpadl_count, 64);
	env_free(e);

	e = env_ready(VMB_VERSION(5, 3), 1);
	for (uint32_t id = 1; id <= 4096; id++) {
		e->nout = 0;
		assert_int_equal(send_gpadl(e, 1, id, pfn, 1, 1), VMB_OK);
	}
	assert_int_equal(e->s.gpadl_count, 4096);
	assert_int_equal(send_gpadl(e, 1, 4097, pfn, 1, 1), VMB_EPROTO);
	expect_created(e, 1, 4097, false);
	assert_int_equal(e->s.gpadl_count, 4096);
	assert_int_equal(bad(e, VMB_BAD_GPADL), 1);
	env_free(e);
}

/* No reserved channels here: OPEN_RESERVED is answered as a failed open
 * (open_id 0), CLOSE_RESERVED not at all; neither is counted when it names
 * a channel the guest may use. */
static void test_reserved(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 3);
	uint64_t pfn[4] = {1, 2, 3, 4};
	union vmb_msg_buf b;

	(void)state;
	send_gpadl(e, 1, 1, pfn, 4, 1);
	send_gpadl(e, 2, 2, pfn, 4, 1);
	e->nout = 0;
	assert_int_equal(guest(e, &b, vmb_msg_enc_open_reserved(&b, 1, 0, 2, 1,
								2)),
			 VMB_OK);
	assert_int_equal(e->nout, 1);
	expect_open_result(e, 1, 0, false);
	assert_int_equal(last(e)->len, sizeof(struct vmb_msg_open_result));
	assert_int_equal(e->opens, 0);
	assert_int_equal(vmb_server_chan(&e->s, 1)->state, VMB_SCHAN_OFFERED);
	/* The channel is still there to open the ordinary way. */
	assert_int_equal(guest_open(e, 1, 7, 1, 2), VMB_OK);
	expect_open_result(e, 1, 7, true);
	e->nout = 0;
	assert_int_equal(guest(e, &b, vmb_msg_enc_close_reserved(&b, 1, 0, 2)),
			 VMB_OK);
	assert_int_equal(guest(e, &b, vmb_msg_enc_close_reserved(&b, 3, 0, 2)),
			 VMB_OK);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->closes, 0);
	assert_int_equal(vmb_server_chan(&e->s, 1)->state, VMB_SCHAN_OPEN);
	assert_int_equal(vmb_bad_total(&e->s.bad), 0);

	/* An open channel, unknown relids, a short message. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_open_reserved(&b, 1, 0, 2, 1,
								2)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	assert_int_equal(guest(e, &b, vmb_msg_enc_open_reserved(&b, 9, 0, 2, 1,
								2)),
			 VMB_EPROTO);
	assert_int_equal(guest(e, &b, vmb_msg_enc_close_reserved(&b, 0, 0, 2)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_RELID), 2);
	vmb_msg_enc_open_reserved(&b, 2, 0, 2, 2, 2);
	assert_int_equal(guest(e, &b, 27), VMB_EPROTO);
	vmb_msg_enc_close_reserved(&b, 2, 0, 2);
	assert_int_equal(guest(e, &b, 19), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_TRUNCATED), 2);
	/* A host->guest type from the guest. */
	assert_int_equal(guest(e, &b, vmb_msg_enc_relid(
					    &b, VMB_MSG_CLOSE_RESERVED_RESPONSE,
					    2)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_TYPE), 1);
	assert_int_equal(e->nout, 0);

	/* Crossing a RESCIND: answered and counted as raced. */
	assert_int_equal(vmb_server_rescind(&e->s, 2), VMB_OK);
	e->nout = 0;
	assert_int_equal(guest(e, &b, vmb_msg_enc_open_reserved(&b, 2, 0, 2, 2,
								2)),
			 VMB_OK);
	expect_open_result(e, 2, 0, false);
	assert_int_equal(guest(e, &b, vmb_msg_enc_close_reserved(&b, 2, 0, 2)),
			 VMB_OK);
	assert_int_equal(e->s.raced, 2);
	assert_int_equal(vmb_bad_total(&e->s.bad), 6);
	env_free(e);

	/* OPEN_RESERVED is a 4.0 message; CLOSE_RESERVED has no minimum. */
	e = env_ready(VMB_VERSION(3, 0), 1);
	assert_int_equal(guest(e, &b, vmb_msg_enc_open_reserved(&b, 1, 0, 2, 1,
								2)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_VERSION), 1);
	assert_int_equal(guest(e, &b, vmb_msg_enc_close_reserved(&b, 1, 0, 2)),
			 VMB_OK);
	assert_int_equal(e->nout, 0);
	assert_int_equal(vmb_bad_total(&e->s.bad), 1);
	env_free(e);
}

static void test_bad_input(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint8_t m[300];

	(void)state;
	memset(m, 0, sizeof(m));
	m[0] = VMB_MSG_OPENCHANNEL;
	assert_int_equal(vmb_server_input(&e->s, REDIR, m, 147), VMB_EPROTO);
	m[0] = VMB_MSG_GPADL_HEADER;
	assert_int_equal(vmb_server_input(&e->s, REDIR, m, 19), VMB_EPROTO);
	assert_int_equal(vmb_server_input(&e->s, REDIR, m, 7), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_TRUNCATED), 3);
	assert_int_equal(vmb_server_input(&e->s, REDIR, m, 241), VMB_EPROTO);
	assert_int_equal(vmb_server_input(&e->s, REDIR, m, 300), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_OVERSIZE), 2);
	static const uint32_t types[] = {0,  25, 26, 0xffffffffu,
					 1,  2,  4,  6,  10, 12,
					 15, 17, 20, 23, 24};
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memcpy(m, &types[i], 4);
		assert_int_equal(vmb_server_input(&e->s, REDIR, m, 200),
				 VMB_EPROTO);
	}
	assert_int_equal(bad(e, VMB_BAD_TYPE), 15);
	assert_int_equal(vmb_bad_total(&e->s.bad), 20);
	assert_int_equal(e->nout, 0);
	assert_int_equal(vmb_server_input(&e->s, REDIR, NULL, 8), VMB_EINVAL);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contact),
		cmocka_unit_test(test_gpadl_sizes),
		cmocka_unit_test(test_gpadl_bad),
		cmocka_unit_test(test_gpadl_multirange),
		cmocka_unit_test(test_gpadl_total_cap),
		cmocka_unit_test(test_open_close_teardown),
		cmocka_unit_test(test_teardown_held),
		cmocka_unit_test(test_modify),
		cmocka_unit_test(test_rescind),
		cmocka_unit_test(test_unload_and_reset),
		cmocka_unit_test(test_tl_connect),
		cmocka_unit_test(test_reserved),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_contact_vtl),
		cmocka_unit_test(test_gpadl_ranges_overrun),
		cmocka_unit_test(test_gpadl_header_refused_early),
		cmocka_unit_test(test_gpadl_body_ragged),
		cmocka_unit_test(test_gpadl_incomplete_or_foreign),
		cmocka_unit_test(test_ring_layout),
		cmocka_unit_test(test_unsent_channel),
		cmocka_unit_test(test_gpadl_count_caps),
		cmocka_unit_test(test_high_relid_scans),
		cmocka_unit_test(test_reinit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
