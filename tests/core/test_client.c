/* Guest side of channel management (vmb_client) against a scripted host:
 * every message the client posts is captured and checked; host messages
 * are built with the codec and fed in, including bad, stale and duplicate
 * ones, each of which must be rejected with the right counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmbus/vmb_client.h"
#include "vmbus/vmb_msg.h"

#define MAXPOST 512

struct posted {
	uint32_t conn_id, len;
	union vmb_msg_buf m;
};

struct env {
	struct vmb_client c;
	struct posted *out;
	unsigned nout;
	int post_rc;
	int connected_calls, connected_status;
	uint32_t connected_version;
	unsigned offers, all_offers, rescinds, unloaded;
	uint32_t last_offer_relid, rescind_relid;
	unsigned gpadl_calls, torndown_calls, open_calls, modify_calls;
	uint32_t gpadl_relid, gpadl_id, gpadl_status, torndown_id;
	uint32_t open_relid, open_status, modify_status;
	bool release_in_rescind; /* embedder releases from the callback */
};

static int e_post(void *ctx, uint32_t conn_id, const void *msg, uint32_t len)
{
	struct env *e = ctx;

	if (e->post_rc)
		return e->post_rc;
	assert_true(e->nout < MAXPOST);
	assert_true(len >= 8 && len <= VMB_MSG_MAX);
	e->out[e->nout].conn_id = conn_id;
	e->out[e->nout].len = len;
	memset(&e->out[e->nout].m, 0, sizeof(union vmb_msg_buf));
	memcpy(e->out[e->nout].m.raw, msg, len);
	e->nout++;
	return VMB_OK;
}

static void e_connected(void *ctx, uint32_t version, int status)
{
	struct env *e = ctx;

	e->connected_calls++;
	e->connected_version = version;
	e->connected_status = status;
}

static void e_offer(void *ctx, const struct vmb_msg_offer *o)
{
	struct env *e = ctx;

	e->offers++;
	e->last_offer_relid = o->child_relid;
}

static void e_all_offers(void *ctx)
{
	((struct env *)ctx)->all_offers++;
}

static void e_rescind(void *ctx, uint32_t relid)
{
	struct env *e = ctx;

	e->rescinds++;
	e->rescind_relid = relid;
	if (e->release_in_rescind)
		assert_int_equal(vmb_client_release(&e->c, relid), VMB_OK);
}

static void e_gpadl_created(void *ctx, uint32_t relid, uint32_t gpadl,
			    uint32_t status)
{
	struct env *e = ctx;

	e->gpadl_calls++;
	e->gpadl_relid = relid;
	e->gpadl_id = gpadl;
	e->gpadl_status = status;
}

static void e_gpadl_torndown(void *ctx, uint32_t gpadl)
{
	struct env *e = ctx;

	e->torndown_calls++;
	e->torndown_id = gpadl;
}

static void e_open_result(void *ctx, uint32_t relid, uint32_t status)
{
	struct env *e = ctx;

	e->open_calls++;
	e->open_relid = relid;
	e->open_status = status;
}

static void e_modify_result(void *ctx, uint32_t relid, uint32_t status)
{
	struct env *e = ctx;

	(void)relid;
	e->modify_calls++;
	e->modify_status = status;
}

static void e_unloaded(void *ctx)
{
	((struct env *)ctx)->unloaded++;
}

static const struct vmb_client_ops ops = {
	.post = e_post,
	.connected = e_connected,
	.offer = e_offer,
	.all_offers = e_all_offers,
	.rescind = e_rescind,
	.gpadl_created = e_gpadl_created,
	.gpadl_torndown = e_gpadl_torndown,
	.open_result = e_open_result,
	.modify_result = e_modify_result,
	.unloaded = e_unloaded,
};

#define HOST_CONN 0x5a5a01u /* what this scripted host hands out */

static struct env *env_new(uint32_t max_version)
{
	struct env *e = calloc(1, sizeof(*e));
	struct vmb_client_cfg cfg = {.max_version = max_version};

	assert_non_null(e);
	e->out = calloc(MAXPOST, sizeof(*e->out));
	assert_non_null(e->out);
	assert_int_equal(vmb_client_init(&e->c, &ops, e, &cfg), VMB_OK);
	return e;
}

static void env_free(struct env *e)
{
	vmb_client_fini(&e->c);
	free(e->out);
	free(e);
}

static int host(struct env *e, const union vmb_msg_buf *b, uint32_t len)
{
	return vmb_client_input(&e->c, b->raw, len);
}

static int host_version(struct env *e, bool ok, uint32_t conn_id)
{
	union vmb_msg_buf b;

	return host(e, &b, vmb_msg_enc_version_response(&b, ok, 0, conn_id));
}

/* An offer of device instance inst (first byte of the instance GUID). */
static int host_offer_dev(struct env *e, uint32_t relid, uint8_t inst,
			  uint16_t sub)
{
	struct vmb_msg_offer o;
	union vmb_msg_buf b;

	memset(&o, 0, sizeof(o));
	o.child_relid = relid;
	o.offer.sub_channel_index = sub;
	o.offer.if_instance.b[0] = inst;
	o.connection_id = 0x2000 | relid;
	return host(e, &b, vmb_msg_enc_offer(&b, &o));
}

static int host_offer(struct env *e, uint32_t relid, uint16_t sub)
{
	return host_offer_dev(e, relid, (uint8_t)relid, sub);
}

static int host_relid(struct env *e, uint32_t type, uint32_t relid)
{
	union vmb_msg_buf b;

	return host(e, &b, vmb_msg_enc_relid(&b, type, relid));
}

static int host_empty(struct env *e, uint32_t type)
{
	union vmb_msg_buf b;

	return host(e, &b, vmb_msg_enc_empty(&b, type));
}

static int host_gpadl_created(struct env *e, uint32_t relid, uint32_t id,
			      uint32_t status)
{
	union vmb_msg_buf b;

	return host(e, &b, vmb_msg_enc_gpadl_created(&b, relid, id, status));
}

static int host_torndown(struct env *e, uint32_t id)
{
	union vmb_msg_buf b;

	return host(e, &b, vmb_msg_enc_gpadl_torndown(&b, id));
}

static int host_open_result(struct env *e, uint32_t relid, uint32_t open_id,
			    uint32_t status)
{
	union vmb_msg_buf b;

	return host(e, &b,
		    vmb_msg_enc_open_result(&b, relid, open_id, status));
}

static const struct posted *last(struct env *e)
{
	assert_true(e->nout > 0);
	return &e->out[e->nout - 1];
}

static uint64_t bad(struct env *e, enum vmb_bad why)
{
	return e->c.bad.n[why];
}

/* Connected at version (tried from 5.3 down), offers 1..noffers, READY. */
static struct env *env_ready(uint32_t version, unsigned noffers)
{
	struct env *e = env_new(0);

	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	for (unsigned i = 0; vmb_versions[i] != version; i++)
		assert_int_equal(host_version(e, false, 0), VMB_OK);
	assert_int_equal(host_version(e, true, HOST_CONN), VMB_OK);
	assert_int_equal(e->connected_version, version);
	for (unsigned r = 1; r <= noffers; r++)
		assert_int_equal(host_offer(e, r, 0), VMB_OK);
	assert_int_equal(host_empty(e, VMB_MSG_ALLOFFERS_DELIVERED), VMB_OK);
	assert_int_equal(e->c.state, VMB_CLIENT_READY);
	e->nout = 0;
	return e;
}

static uint32_t expect_conn(uint32_t version)
{
	return version >= VMB_VERSION(5, 0) ? HOST_CONN : 1;
}

static void test_negotiation(void **state)
{
	struct env *e = env_new(0);

	(void)state;
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(vmb_client_connect(&e->c), VMB_EBUSY);
	/* Every version refused: walk the whole list, then fail. */
	for (unsigned i = 0; i < vmb_versions_count; i++) {
		const struct posted *p = last(e);
		assert_int_equal(e->nout, i + 1);
		assert_int_equal(p->m.hdr.type, VMB_MSG_INITIATE_CONTACT);
		assert_int_equal(p->m.initiate_contact.version,
				 vmb_versions[i]);
		if (vmb_versions[i] >= VMB_VERSION(5, 0)) {
			assert_int_equal(p->conn_id, 4);
			assert_int_equal(p->m.initiate_contact.msg_sint, 2);
		} else {
			assert_int_equal(p->conn_id, 1);
		}
		assert_int_equal(host_version(e, false, 0), VMB_OK);
	}
	assert_int_equal(e->connected_calls, 1);
	assert_true(e->connected_status < 0);
	assert_int_equal(e->c.state, VMB_CLIENT_FAILED);
	/* A late answer is stale. */
	assert_int_equal(host_version(e, true, 7), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 1);
	assert_int_equal(e->connected_calls, 1);

	/* Try again; the host knows 5.3 but cannot connect. */
	e->nout = 0;
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	union vmb_msg_buf b;
	assert_int_equal(host(e, &b, vmb_msg_enc_version_response(&b, true, 1,
								  7)),
			 VMB_OK);
	assert_int_equal(e->connected_calls, 2);
	assert_true(e->connected_status < 0);
	assert_int_equal(e->nout, 1);
	/* 5.0+ with no connection id to post to. */
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(host_version(e, true, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 1);
	assert_int_equal(e->c.state, VMB_CLIENT_FAILED);
	env_free(e);

	/* Accepted at 4.1: REQUESTOFFERS goes to id 1 whatever the field. */
	e = env_new(VMB_VERSION(4, 1));
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(last(e)->conn_id, 1);
	assert_int_equal(host_version(e, true, 0x41), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_REQUESTOFFERS);
	assert_int_equal(last(e)->conn_id, 1);
	assert_int_equal(vmb_bad_total(&e->c.bad), 0);
	env_free(e);

	/* max_version below every known version. */
	e = env_new(VMB_VERSION(0, 1));
	assert_int_equal(vmb_client_connect(&e->c), VMB_EINVAL);
	env_free(e);
}

static void test_offers(void **state)
{
	struct env *e = env_new(0);

	(void)state;
	/* Before contact, an offer is out of place. */
	assert_int_equal(host_offer(e, 3, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(host_version(e, true, HOST_CONN), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_REQUESTOFFERS);
	assert_int_equal(last(e)->conn_id, HOST_CONN);

	assert_int_equal(host_offer(e, 3, 0), VMB_OK);
	assert_int_equal(host_offer(e, 4, 1), VMB_OK); /* sub-channel, 5.3 */
	assert_int_equal(e->offers, 2);
	assert_int_equal(e->last_offer_relid, 4);
	const struct vmb_msg_offer *o = vmb_client_offer(&e->c, 3);
	assert_non_null(o);
	assert_int_equal(o->offer.if_instance.b[0], 3);
	assert_int_equal(o->connection_id, 0x2003);
	assert_null(vmb_client_offer(&e->c, 5));
	assert_null(vmb_client_offer(&e->c, 0));
	assert_null(vmb_client_offer(&e->c, 1u << 31));

	/* relid 0, out of range, duplicate. */
	assert_int_equal(host_offer(e, 0, 0), VMB_EPROTO);
	assert_int_equal(host_offer(e, VMB_RELID_MAX, 0), VMB_EPROTO);
	assert_int_equal(host_offer(e, 0xffffffffu, 0), VMB_EPROTO);
	assert_int_equal(host_offer(e, 3, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_RELID), 4);
	assert_int_equal(e->offers, 2);

	assert_int_equal(host_empty(e, VMB_MSG_ALLOFFERS_DELIVERED), VMB_OK);
	assert_int_equal(e->all_offers, 1);
	assert_int_equal(host_empty(e, VMB_MSG_ALLOFFERS_DELIVERED),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 2);
	/* Hot add after READY. */
	assert_int_equal(host_offer(e, VMB_RELID_MAX - 1, 0), VMB_OK);
	assert_int_equal(e->offers, 3);
	/* The same device and sub-channel index twice is ambiguous; another
	 * index of it is a sub-channel. Once the first is rescinded, the
	 * device may come back on a new relid before the old is released. */
	assert_int_equal(host_offer_dev(e, 10, 3, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 1);
	assert_int_equal(host_offer_dev(e, 10, 3, 2), VMB_OK);
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 3),
			 VMB_OK);
	assert_int_equal(host_offer_dev(e, 11, 3, 0), VMB_OK);
	assert_int_equal(e->offers, 5);
	env_free(e);

	/* Sub-channel offers need 2.4. */
	e = env_ready(VMB_VERSION(1, 1), 0);
	assert_int_equal(host_offer(e, 2, 1), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_VERSION), 1);
	assert_int_equal(host_offer(e, 2, 0), VMB_OK);
	env_free(e);
	e = env_ready(VMB_VERSION(2, 4), 0);
	assert_int_equal(host_offer(e, 2, 1), VMB_OK);
	env_free(e);
}

/* One GPADL of n pages: a header with up to 26 PFNs, then bodies of up to
 * 28 numbered from 1, all PFNs in order; then created and torn down. */
static void gpadl_case(uint32_t n, uint32_t version)
{
	struct env *e = env_ready(version, 2);
	uint64_t *pfn = calloc(n, sizeof(*pfn));
	uint32_t id = 0, got = 0;

	assert_non_null(pfn);
	for (uint32_t i = 0; i < n; i++)
		pfn[i] = 0xabc00000ull + 3 * i;
	assert_int_equal(vmb_client_gpadl_create(&e->c, 2, pfn, n, &id),
			 VMB_OK);
	assert_int_not_equal(id, 0);
	uint32_t bodies = n > 26 ? (n - 26 + 27) / 28 : 0;
	assert_int_equal(e->nout, 1 + bodies);

	const struct posted *h = &e->out[0];
	assert_int_equal(h->conn_id, expect_conn(version));
	assert_int_equal(h->m.hdr.type, VMB_MSG_GPADL_HEADER);
	assert_int_equal(h->m.gpadl_header.child_relid, 2);
	assert_int_equal(h->m.gpadl_header.gpadl, id);
	assert_int_equal(h->m.gpadl_header.range_count, 1);
	assert_int_equal(h->m.gpadl_header.range_buflen, 8 + 8 * n);
	struct vmb_wire_gpa_range r;
	memcpy(&r, h->m.raw + 20, 8);
	assert_int_equal(r.byte_count, n * 4096);
	assert_int_equal(r.byte_offset, 0);
	uint32_t in_hdr = n < 26 ? n : 26;
	assert_int_equal(h->len, 28 + 8 * in_hdr);
	assert_memory_equal(h->m.raw + 28, pfn, 8 * in_hdr);
	got = in_hdr;
	for (uint32_t k = 1; k <= bodies; k++) {
		const struct posted *p = &e->out[k];
		uint32_t cnt = n - got < 28 ? n - got : 28;
		assert_int_equal(p->m.hdr.type, VMB_MSG_GPADL_BODY);
		assert_int_equal(p->m.gpadl_body.msg_number, k);
		assert_int_equal(p->m.gpadl_body.gpadl, id);
		assert_int_equal(p->len, 16 + 8 * cnt);
		assert_memory_equal(p->m.raw + 16, pfn + got, 8 * cnt);
		got += cnt;
	}
	assert_int_equal(got, n);

	/* Created: only for the right relid, and only once. */
	assert_int_equal(host_gpadl_created(e, 1, id, 0), VMB_EPROTO);
	assert_int_equal(host_gpadl_created(e, 2, id + 1000, 0), VMB_EPROTO);
	assert_int_equal(e->gpadl_calls, 0);
	assert_int_equal(host_gpadl_created(e, 2, id, 0), VMB_OK);
	assert_int_equal(e->gpadl_calls, 1);
	assert_int_equal(e->gpadl_id, id);
	assert_int_equal(host_gpadl_created(e, 2, id, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 3);

	/* Torn down: also once; no TORNDOWN before the request. */
	assert_int_equal(host_torndown(e, id), VMB_EPROTO);
	e->nout = 0;
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, id), VMB_ENOENT);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 2, id), VMB_OK);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 2, id), VMB_EBUSY);
	assert_int_equal(e->nout, 1);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_GPADL_TEARDOWN);
	assert_int_equal(last(e)->m.gpadl_teardown.child_relid, 2);
	assert_int_equal(last(e)->m.gpadl_teardown.gpadl, id);
	assert_int_equal(host_torndown(e, id), VMB_OK);
	assert_int_equal(e->torndown_calls, 1);
	assert_int_equal(e->torndown_id, id);
	assert_int_equal(host_torndown(e, id), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 5);
	free(pfn);
	env_free(e);
}

static void test_gpadl_sizes(void **state)
{
	static const uint32_t sizes[] = {1, 26, 27, 54, 55, 1000, 8190};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		gpadl_case(sizes[i], VMB_VERSION(5, 3));
		gpadl_case(sizes[i], VMB_VERSION(3, 0));
	}
}

static void test_gpadl_misc(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[4] = {1, 2, 3, 4};
	uint32_t a = 0, b = 0;

	(void)state;
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 0, &a),
			 VMB_EINVAL);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 8191, &a),
			 VMB_EINVAL);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 9, pfn, 4, &a),
			 VMB_ENOENT);
	assert_int_equal(e->nout, 0);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &a),
			 VMB_OK);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &b),
			 VMB_OK);
	assert_int_not_equal(a, b);
	/* A refused GPADL is gone: no open on it, no teardown. */
	assert_int_equal(host_gpadl_created(e, 1, a, 0xc0000001u), VMB_OK);
	assert_int_equal(e->gpadl_status, 0xc0000001u);
	assert_int_equal(vmb_client_open(&e->c, 1, a, 2, 0, NULL, 0),
			 VMB_ENOENT);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, a), VMB_ENOENT);
	/* Still pending: not usable yet. */
	assert_int_equal(vmb_client_open(&e->c, 1, b, 2, 0, NULL, 0),
			 VMB_ENOENT);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, b), VMB_EBUSY);
	/* A post failure leaves nothing behind. */
	e->post_rc = VMB_EAGAIN;
	uint32_t c = 0;
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &c),
			 VMB_EAGAIN);
	e->post_rc = 0;
	assert_int_equal(host_gpadl_created(e, 1, b, 0), VMB_OK);
	env_free(e); /* b still live: fini frees it */
}

/* A channel opened on a fresh 4-page GPADL; returns the GPADL id. */
static uint32_t open_chan(struct env *e, uint32_t relid)
{
	uint64_t pfn[4] = {10, 11, 12, 13};
	uint32_t g = 0;

	assert_int_equal(vmb_client_gpadl_create(&e->c, relid, pfn, 4, &g),
			 VMB_OK);
	assert_int_equal(host_gpadl_created(e, relid, g, 0), VMB_OK);
	assert_int_equal(vmb_client_open(&e->c, relid, g, 2, 1, "hi", 2),
			 VMB_OK);
	const struct posted *p = last(e);
	assert_int_equal(p->m.hdr.type, VMB_MSG_OPENCHANNEL);
	assert_int_equal(host_open_result(e, relid, p->m.open.open_id, 0),
			 VMB_OK);
	return g;
}

static void test_open_close(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[4] = {10, 11, 12, 13};
	uint32_t g = 0;
	uint8_t user[121] = {0};

	(void)state;
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &g),
			 VMB_OK);
	assert_int_equal(host_gpadl_created(e, 1, g, 0), VMB_OK);
	assert_int_equal(vmb_client_open(&e->c, 1, g, 2, 0, user, 121),
			 VMB_EINVAL);
	assert_int_equal(vmb_client_open(&e->c, 1, g, 0, 0, NULL, 0),
			 VMB_EINVAL);
	assert_int_equal(vmb_client_open(&e->c, 2, g, 2, 0, NULL, 0),
			 VMB_ENOENT); /* GPADL of another channel */
	e->nout = 0;
	assert_int_equal(vmb_client_open(&e->c, 1, g, 2, 3, "xyz", 3), VMB_OK);
	const struct posted *p = last(e);
	uint32_t id1 = p->m.open.open_id;
	assert_int_equal(p->conn_id, HOST_CONN);
	assert_int_equal(p->m.open.child_relid, 1);
	assert_int_equal(p->m.open.ring_gpadl, g);
	assert_int_equal(p->m.open.target_vp, 3);
	assert_int_equal(p->m.open.downstream_page_offset, 2);
	assert_memory_equal(p->m.open.user_data, "xyz", 3);
	assert_int_equal(vmb_client_open(&e->c, 1, g, 2, 0, NULL, 0),
			 VMB_EBUSY);
	/* Wrong open id, unknown relid, channel not opening. */
	assert_int_equal(host_open_result(e, 1, id1 + 1, 0), VMB_EPROTO);
	assert_int_equal(host_open_result(e, 7, id1, 0), VMB_EPROTO);
	assert_int_equal(host_open_result(e, 2, id1, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 2);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);
	assert_int_equal(e->open_calls, 0);
	/* The host refuses: the channel can be opened again, new id. */
	assert_int_equal(host_open_result(e, 1, id1, 0xc000000du), VMB_OK);
	assert_int_equal(e->open_calls, 1);
	assert_int_equal(e->open_status, 0xc000000du);
	assert_int_equal(host_open_result(e, 1, id1, 0), VMB_EPROTO);
	assert_int_equal(vmb_client_open(&e->c, 1, g, 2, 0, NULL, 0), VMB_OK);
	uint32_t id2 = last(e)->m.open.open_id;
	assert_int_not_equal(id1, id2);
	assert_int_equal(host_open_result(e, 1, id2, 0), VMB_OK);
	assert_int_equal(e->open_status, 0);
	assert_int_equal(host_open_result(e, 1, id2, 0), VMB_EPROTO);

	/* The ring cannot be torn down while open. */
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, g), VMB_EBUSY);
	e->nout = 0;
	assert_int_equal(vmb_client_close(&e->c, 2), VMB_EBUSY);
	assert_int_equal(vmb_client_close(&e->c, 9), VMB_ENOENT);
	assert_int_equal(vmb_client_close(&e->c, 1), VMB_OK);
	assert_int_equal(e->nout, 1);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_CLOSECHANNEL);
	assert_int_equal(last(e)->m.relid.child_relid, 1);
	assert_int_equal(vmb_client_close(&e->c, 1), VMB_EBUSY);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, g), VMB_OK);
	/* Release is only for rescinded channels. */
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_EBUSY);
	env_free(e);
}

static void test_modify(void **state)
{
	struct env *e = env_ready(VMB_VERSION(4, 0), 1);
	union vmb_msg_buf b;

	(void)state;
	open_chan(e, 1);
	assert_int_equal(vmb_client_modify(&e->c, 1, 2), VMB_ENOTSUP);
	env_free(e);

	/* 4.1: sent, no answer expected; an answer is stale. */
	e = env_ready(VMB_VERSION(4, 1), 2);
	open_chan(e, 1);
	assert_int_equal(vmb_client_modify(&e->c, 2, 2), VMB_EBUSY);
	assert_int_equal(vmb_client_modify(&e->c, 1, 2), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_MODIFYCHANNEL);
	assert_int_equal(last(e)->m.modify.child_relid, 1);
	assert_int_equal(last(e)->m.modify.target_vp, 2);
	assert_int_equal(vmb_client_modify(&e->c, 1, 3), VMB_OK);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 1, 0)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 1);
	assert_int_equal(e->modify_calls, 0);
	env_free(e);

	/* 5.3: one at a time, answered once. */
	e = env_ready(VMB_VERSION(5, 3), 1);
	open_chan(e, 1);
	assert_int_equal(vmb_client_modify(&e->c, 1, 2), VMB_OK);
	assert_int_equal(vmb_client_modify(&e->c, 1, 3), VMB_EBUSY);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 5, 0)),
			 VMB_EPROTO);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 1, 0)),
			 VMB_OK);
	assert_int_equal(e->modify_calls, 1);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 1, 0)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 1);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);
	env_free(e);
}

static void test_unload(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[2] = {5, 6};
	uint32_t g = 0;

	(void)state;
	open_chan(e, 1);
	assert_int_equal(vmb_client_modify(&e->c, 1, 1), VMB_OK);
	uint32_t t = 0;
	assert_int_equal(vmb_client_gpadl_create(&e->c, 2, pfn, 2, &t),
			 VMB_OK);
	assert_int_equal(host_gpadl_created(e, 2, t, 0), VMB_OK);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 2, t), VMB_OK);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 2, pfn, 2, &g),
			 VMB_OK);
	assert_int_equal(vmb_client_open(&e->c, 2, 1, 2, 0, NULL, 0),
			 VMB_ENOENT);
	assert_int_equal(host_empty(e, VMB_MSG_UNLOAD_RESPONSE), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 1);
	e->nout = 0;
	assert_int_equal(vmb_client_unload(&e->c), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_UNLOAD);
	assert_int_equal(last(e)->conn_id, HOST_CONN);
	assert_int_equal(vmb_client_unload(&e->c), VMB_EBUSY);
	assert_int_equal(host_empty(e, VMB_MSG_UNLOAD_RESPONSE), VMB_OK);
	assert_int_equal(e->unloaded, 1);
	/* Waiters were answered. */
	assert_int_equal(e->modify_calls, 1);
	assert_int_not_equal(e->modify_status, 0);
	assert_int_equal(e->gpadl_id, g);
	assert_int_not_equal(e->gpadl_status, 0);
	assert_int_equal(e->torndown_calls, 1);
	assert_int_equal(e->torndown_id, t);
	assert_int_equal(e->c.state, VMB_CLIENT_IDLE);
	assert_null(vmb_client_offer(&e->c, 1));
	assert_int_equal(host_empty(e, VMB_MSG_UNLOAD_RESPONSE), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	/* Connect again after unload. */
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(host_version(e, true, HOST_CONN), VMB_OK);
	assert_int_equal(host_offer(e, 1, 0), VMB_OK);
	env_free(e);
}

static void test_rescind_opening(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint64_t pfn[4] = {1, 2, 3, 4};
	uint32_t g = 0, g2 = 0;

	(void)state;
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &g),
			 VMB_OK);
	assert_int_equal(host_gpadl_created(e, 1, g, 0), VMB_OK);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &g2),
			 VMB_OK);
	assert_int_equal(vmb_client_open(&e->c, 1, g, 2, 0, NULL, 0), VMB_OK);
	uint32_t open_id = last(e)->m.open.open_id;
	unsigned gpadl_calls = e->gpadl_calls;

	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 1),
			 VMB_OK);
	assert_int_equal(e->rescinds, 1);
	assert_int_equal(e->open_calls, 1);
	assert_int_not_equal(e->open_status, 0);
	assert_int_equal(e->gpadl_calls, gpadl_calls + 1);
	assert_int_equal(e->gpadl_id, g2);
	assert_int_not_equal(e->gpadl_status, 0);
	/* The requests crossed the RESCIND: the host still answers each
	 * once. Those answers are late, not bad, and reach nobody; a
	 * second copy, or one for a request never made, is bad. */
	assert_int_equal(host_open_result(e, 1, open_id, 0), VMB_OK);
	assert_int_equal(host_gpadl_created(e, 1, g2, 0), VMB_OK);
	assert_int_equal(e->c.late, 2);
	assert_int_equal(vmb_bad_total(&e->c.bad), 0);
	assert_int_equal(e->open_calls, 1);
	assert_int_equal(e->gpadl_calls, gpadl_calls + 1);
	assert_int_equal(host_open_result(e, 1, open_id, 0), VMB_EPROTO);
	assert_int_equal(host_gpadl_created(e, 1, g2, 0), VMB_EPROTO);
	assert_int_equal(host_open_result(e, 1, open_id + 1, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 3);
	assert_int_equal(e->c.late, 2);
	/* Rescinded twice, or a relid nobody offered. */
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 1),
			 VMB_EPROTO);
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 77),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_RELID), 2);
	assert_int_equal(vmb_client_open(&e->c, 1, g, 2, 0, NULL, 0),
			 VMB_ESHUTDOWN);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 1, pfn, 4, &g2),
			 VMB_ESHUTDOWN);
	/* The live GPADL must go first. */
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_EBUSY);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, g), VMB_OK);
	assert_int_equal(host_torndown(e, g), VMB_OK);
	e->nout = 0;
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_OK);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_RELID_RELEASED);
	assert_int_equal(last(e)->m.relid.child_relid, 1);
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_ENOENT);
	/* The relid may be offered again. */
	assert_int_equal(host_offer(e, 1, 0), VMB_OK);
	assert_int_equal(e->offers, 2);
	env_free(e);
}

static void test_rescind_open_and_idle(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 3);

	(void)state;
	uint32_t g = open_chan(e, 1);
	assert_int_equal(vmb_client_modify(&e->c, 1, 4), VMB_OK);
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 1),
			 VMB_OK);
	assert_int_equal(e->rescind_relid, 1);
	assert_int_equal(e->modify_calls, 1);
	assert_int_not_equal(e->modify_status, 0);
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_EBUSY); /* open */
	e->nout = 0;
	/* The host already closed it: no CLOSECHANNEL. */
	assert_int_equal(vmb_client_close(&e->c, 1), VMB_OK);
	assert_int_equal(e->nout, 0);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, 1, g), VMB_OK);
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_EBUSY);
	assert_int_equal(host_torndown(e, g), VMB_OK);
	assert_int_equal(vmb_client_release(&e->c, 1), VMB_OK);
	/* Idle channel, released from inside the callback. */
	e->release_in_rescind = true;
	e->nout = 0;
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 2),
			 VMB_OK);
	assert_int_equal(e->nout, 1);
	assert_int_equal(last(e)->m.hdr.type, VMB_MSG_RELID_RELEASED);
	assert_null(vmb_client_offer(&e->c, 2));
	/* Idle channel released later. */
	e->release_in_rescind = false;
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 3),
			 VMB_OK);
	assert_non_null(vmb_client_offer(&e->c, 3));
	assert_int_equal(vmb_client_release(&e->c, 3), VMB_OK);
	assert_int_equal(vmb_bad_total(&e->c.bad), 0);
	env_free(e);
}

/* Rescind an open channel with a MODIFYCHANNEL outstanding and give the
 * relid back; the host's answer still comes. */
static void rescind_modifying(struct env *e, uint32_t relid)
{
	uint32_t g = open_chan(e, relid);

	assert_int_equal(vmb_client_modify(&e->c, relid, 4), VMB_OK);
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, relid),
			 VMB_OK);
	assert_int_equal(vmb_client_close(&e->c, relid), VMB_OK);
	assert_int_equal(vmb_client_gpadl_teardown(&e->c, relid, g), VMB_OK);
	assert_int_equal(host_torndown(e, g), VMB_OK);
	assert_int_equal(vmb_client_release(&e->c, relid), VMB_OK);
}

static void test_rescind_late_answers(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	union vmb_msg_buf b;

	(void)state;
	/* The answer may follow the release, once. */
	rescind_modifying(e, 1);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 1, 0)),
			 VMB_OK);
	assert_int_equal(e->c.late, 1);
	assert_int_equal(e->modify_calls, 1); /* only the rescind's failure */
	assert_int_equal(vmb_bad_total(&e->c.bad), 0);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 1, 0)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_RELID), 1);

	/* The host answers in order, so an answer it still owed for relid 2
	 * cannot follow a new offer of relid 2: then it is bad. */
	rescind_modifying(e, 2);
	assert_int_equal(host_offer(e, 2, 0), VMB_OK);
	assert_int_equal(host(e, &b, vmb_msg_enc_modify_response(&b, 2, 0)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 1);
	assert_int_equal(e->c.late, 1);

	/* Every request a rescind failed is remembered, however many (a
	 * device with sub-channels has one per channel): each answer is
	 * taken once, in any order. Those never answered go with the client
	 * (ASan's leak check sees to it). */
	enum { NREQ = 100 };
	uint32_t g[NREQ];
	uint64_t pfn[4] = {1, 2, 3, 4};
	for (unsigned i = 0; i < NREQ; i++)
		assert_int_equal(vmb_client_gpadl_create(&e->c, 2, pfn, 4,
							 &g[i]), VMB_OK);
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 2),
			 VMB_OK);
	for (unsigned i = NREQ; i-- > 0;)
		if (i % 2 == 0)
			assert_int_equal(host_gpadl_created(e, 2, g[i], 0),
					 VMB_OK);
	assert_int_equal(e->c.late, 1 + NREQ / 2);
	assert_int_equal(host_gpadl_created(e, 2, g[0], 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 2);
	env_free(e);
}

/* The relid table is scanned only up to the highest channel: one on the
 * last relid is still seen by the duplicate check and by UNLOAD, and
 * once it is released the duplicate is welcome. */
static void test_high_relid_scans(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	uint32_t top = VMB_RELID_MAX - 1;
	uint64_t pfn[2] = {5, 6};
	uint32_t g = 0;

	(void)state;
	assert_int_equal(host_offer_dev(e, top, 9, 0), VMB_OK);
	assert_int_equal(host_offer_dev(e, 9, 9, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_FIELD), 1);
	e->release_in_rescind = true;
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, top),
			 VMB_OK);
	assert_null(vmb_client_offer(&e->c, top));
	assert_int_equal(e->c.relid_end, 2);
	assert_int_equal(host_offer_dev(e, 9, 9, 0), VMB_OK);
	assert_int_equal(e->c.relid_end, 10);

	/* A request on the last relid is answered by the UNLOAD. */
	assert_int_equal(host_offer_dev(e, top, 8, 0), VMB_OK);
	assert_int_equal(vmb_client_gpadl_create(&e->c, top, pfn, 2, &g),
			 VMB_OK);
	assert_int_equal(vmb_client_unload(&e->c), VMB_OK);
	assert_int_equal(host_empty(e, VMB_MSG_UNLOAD_RESPONSE), VMB_OK);
	assert_int_equal(e->gpadl_relid, top);
	assert_int_equal(e->gpadl_id, g);
	assert_int_not_equal(e->gpadl_status, 0);
	assert_int_equal(e->c.relid_end, 0);
	env_free(e);
}

/* reinit forgets channels, GPADLs, owed answers and counters without a
 * message or a callback, and the client starts over exactly as a new one:
 * the same first contact, GPADL id 1, open id 1. */
static void test_reinit(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 2);
	uint64_t pfn[4] = {1, 2, 3, 4};
	uint32_t g = 0;
	unsigned nout, callbacks;

	(void)state;
	rescind_modifying(e, 1);              /* an answer owed */
	assert_int_equal(host_offer_dev(e, VMB_RELID_MAX - 1, 7, 0), VMB_OK);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 2, pfn, 4, &g),
			 VMB_OK);             /* being created */
	assert_int_equal(host_offer(e, 0, 0), VMB_EPROTO);
	assert_non_null(e->c.owed);
	nout = e->nout;
	callbacks = e->offers + e->rescinds + e->gpadl_calls +
		    e->torndown_calls + e->open_calls + e->modify_calls +
		    e->unloaded + (unsigned)e->connected_calls;

	vmb_client_reinit(&e->c);
	assert_int_equal(e->nout, nout);
	assert_int_equal(e->offers + e->rescinds + e->gpadl_calls +
				 e->torndown_calls + e->open_calls +
				 e->modify_calls + e->unloaded +
				 (unsigned)e->connected_calls,
			 callbacks);
	assert_int_equal(e->c.state, VMB_CLIENT_IDLE);
	assert_int_equal(e->c.version, 0);
	assert_int_equal(vmb_bad_total(&e->c.bad), 0);
	assert_int_equal(e->c.late, 0);
	assert_null(e->c.gpadls);
	assert_null(e->c.owed);
	assert_int_equal(e->c.relid_end, 0);
	for (uint32_t r = 0; r < VMB_RELID_MAX; r++)
		assert_null(vmb_client_offer(&e->c, r));
	assert_ptr_equal(e->c.ops, &ops);
	assert_ptr_equal(e->c.ctx, e);
	/* Out of place again before contact. */
	assert_int_equal(host_offer(e, 1, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);

	e->nout = 0;
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(last(e)->m.initiate_contact.version,
			 VMB_VERSION(5, 3));
	assert_int_equal(host_version(e, true, HOST_CONN), VMB_OK);
	assert_int_equal(host_offer_dev(e, 3, 7, 0), VMB_OK);
	assert_int_equal(vmb_client_gpadl_create(&e->c, 3, pfn, 4, &g),
			 VMB_OK);
	assert_int_equal(g, 1);
	assert_int_equal(host_gpadl_created(e, 3, g, 0), VMB_OK);
	assert_int_equal(vmb_client_open(&e->c, 3, g, 2, 0, NULL, 0), VMB_OK);
	assert_int_equal(last(e)->m.open.open_id, 1);
	vmb_client_reinit(&e->c);
	vmb_client_reinit(&e->c);
	env_free(e);
}

/* Host messages other than VERSION_RESPONSE are out of place while not
 * connected (contacting, failed). An offer that crosses the UNLOAD is
 * dropped without blame: the host drops the channel with the rest. */
static void test_state_gates(void **state)
{
	struct env *e = env_new(0);

	(void)state;
	assert_int_equal(vmb_client_connect(&e->c), VMB_OK);
	assert_int_equal(host_open_result(e, 1, 1, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 1);
	for (unsigned i = 0; i < vmb_versions_count; i++)
		assert_int_equal(host_version(e, false, 0), VMB_OK);
	assert_int_equal(e->c.state, VMB_CLIENT_FAILED);
	assert_int_equal(host_gpadl_created(e, 1, 1, 0), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_STATE), 2);
	assert_int_equal(vmb_bad_total(&e->c.bad), 2);
	assert_int_equal(e->gpadl_calls, 0);
	assert_int_equal(e->open_calls, 0);
	env_free(e);

	e = env_ready(VMB_VERSION(5, 3), 1);
	assert_int_equal(vmb_client_unload(&e->c), VMB_OK);
	assert_int_equal(host_offer(e, 2, 0), VMB_OK);
	assert_int_equal(vmb_bad_total(&e->c.bad), 0);
	assert_int_equal(e->offers, 1);
	assert_null(vmb_client_offer(&e->c, 2));
	/* A rescind crossing the UNLOAD is still taken. */
	assert_int_equal(host_relid(e, VMB_MSG_RESCIND_CHANNELOFFER, 1),
			 VMB_OK);
	assert_int_equal(e->rescinds, 1);
	env_free(e);
}

static void test_bad_input(void **state)
{
	struct env *e = env_ready(VMB_VERSION(5, 3), 1);
	union vmb_msg_buf b;
	uint8_t big[300];

	(void)state;
	memset(big, 0, sizeof(big));
	big[0] = VMB_MSG_ALLOFFERS_DELIVERED;
	assert_int_equal(vmb_client_input(&e->c, big, 4), VMB_EPROTO);
	assert_int_equal(vmb_client_input(&e->c, big, 0), VMB_EPROTO);
	vmb_msg_enc_relid(&b, VMB_MSG_RESCIND_CHANNELOFFER, 1);
	assert_int_equal(vmb_client_input(&e->c, b.raw, 11), VMB_EPROTO);
	vmb_msg_enc_offer(&b, vmb_client_offer(&e->c, 1));
	assert_int_equal(vmb_client_input(&e->c, b.raw, 195), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_TRUNCATED), 4);
	assert_int_equal(vmb_client_input(&e->c, big, 241), VMB_EPROTO);
	assert_int_equal(vmb_client_input(&e->c, big, 300), VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_OVERSIZE), 2);
	static const uint32_t types[] = {0, 25, 26, 0xffffffffu};
	for (unsigned i = 0; i < 4; i++) {
		big[0] = (uint8_t)types[i];
		memcpy(big, &types[i], 4);
		assert_int_equal(vmb_client_input(&e->c, big, 64), VMB_EPROTO);
	}
	/* Guest->host types from the host. */
	static const uint32_t g2h[] = {3,  5,  7,  8,  9,  11, 13,
				       14, 16, 18, 19, 21, 22};
	for (unsigned i = 0; i < 13; i++) {
		memcpy(big, &g2h[i], 4);
		assert_int_equal(vmb_client_input(&e->c, big, 200), VMB_EPROTO);
	}
	assert_int_equal(bad(e, VMB_BAD_TYPE), 17);
	/* Answers to requests this guest never makes. */
	struct vmb_guid z = {{0}};
	assert_int_equal(host(e, &b, vmb_msg_enc_tl_connect_result(&b, &z, &z,
								   1)),
			 VMB_EPROTO);
	assert_int_equal(host(e, &b, vmb_msg_enc_relid(
					     &b, VMB_MSG_CLOSE_RESERVED_RESPONSE,
					     1)),
			 VMB_EPROTO);
	assert_int_equal(bad(e, VMB_BAD_XID), 2);
	assert_int_equal(vmb_bad_total(&e->c.bad), 25);
	assert_int_equal(e->nout, 0);
	assert_int_equal(e->offers, 1);
	assert_int_equal(vmb_client_input(&e->c, NULL, 8), VMB_EINVAL);
	env_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_offers),
		cmocka_unit_test(test_gpadl_sizes),
		cmocka_unit_test(test_gpadl_misc),
		cmocka_unit_test(test_open_close),
		cmocka_unit_test(test_modify),
		cmocka_unit_test(test_unload),
		cmocka_unit_test(test_rescind_opening),
		cmocka_unit_test(test_rescind_open_and_idle),
		cmocka_unit_test(test_rescind_late_answers),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_state_gates),
		cmocka_unit_test(test_high_relid_scans),
		cmocka_unit_test(test_reinit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
