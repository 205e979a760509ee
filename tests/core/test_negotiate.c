/* Guest (vmb_client) and host (vmb_server) paired in one process: each
 * side's post() queues the message for the other, and pump() delivers the
 * queue until both are quiet. Checks version negotiation against a host
 * capped at every version, the connection ids each message went to, and
 * a GPADL/open/close/unload round trip between the real peers. */
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

#define QMAX 4096

struct qmsg {
	bool to_host;
	uint32_t conn_id;
	uint32_t len;
	uint8_t data[VMB_MSG_MAX];
};

struct pair {
	struct vmb_client c;
	struct vmb_server s;
	struct qmsg *q;
	unsigned head, tail;
	/* every guest->host message, in order: type and connection id */
	uint32_t sent_type[QMAX], sent_conn[QMAX];
	unsigned nsent;
	/* client events */
	int connected_calls, connected_status;
	uint32_t connected_version;
	unsigned offers, all_offers, unloaded;
	uint32_t gpadl_status, gpadl_id, open_status;
	unsigned gpadl_calls, torndown_calls, open_calls;
	/* server events */
	uint32_t host_version;
	struct vmb_server_gpadl mapped; /* copy of the last mapped GPADL */
	uint64_t mapped_pfns[1024];
	unsigned host_opens, host_closes, host_unloads;
};

static void enqueue(struct pair *p, bool to_host, uint32_t conn_id,
		    const void *msg, uint32_t len)
{
	assert_true(p->tail - p->head < QMAX);
	assert_true(len <= VMB_MSG_MAX);
	struct qmsg *m = &p->q[p->tail++ % QMAX];
	m->to_host = to_host;
	m->conn_id = conn_id;
	m->len = len;
	memcpy(m->data, msg, len);
}

static int c_post(void *ctx, uint32_t conn_id, const void *msg, uint32_t len)
{
	struct pair *p = ctx;
	uint32_t type;

	memcpy(&type, msg, 4);
	assert_true(p->nsent < QMAX);
	p->sent_type[p->nsent] = type;
	p->sent_conn[p->nsent++] = conn_id;
	enqueue(p, true, conn_id, msg, len);
	return VMB_OK;
}

static void c_connected(void *ctx, uint32_t version, int status)
{
	struct pair *p = ctx;

	p->connected_calls++;
	p->connected_version = version;
	p->connected_status = status;
}

static void c_offer(void *ctx, const struct vmb_msg_offer *o)
{
	(void)o;
	((struct pair *)ctx)->offers++;
}

static void c_all_offers(void *ctx)
{
	((struct pair *)ctx)->all_offers++;
}

static void c_gpadl_created(void *ctx, uint32_t relid, uint32_t gpadl,
			    uint32_t status)
{
	struct pair *p = ctx;

	(void)relid;
	p->gpadl_calls++;
	p->gpadl_id = gpadl;
	p->gpadl_status = status;
}

static void c_gpadl_torndown(void *ctx, uint32_t gpadl)
{
	(void)gpadl;
	((struct pair *)ctx)->torndown_calls++;
}

static void c_open_result(void *ctx, uint32_t relid, uint32_t status)
{
	struct pair *p = ctx;

	(void)relid;
	p->open_calls++;
	p->open_status = status;
}

static void c_unloaded(void *ctx)
{
	((struct pair *)ctx)->unloaded++;
}

static const struct vmb_client_ops client_ops = {
	.post = c_post,
	.connected = c_connected,
	.offer = c_offer,
	.all_offers = c_all_offers,
	.gpadl_created = c_gpadl_created,
	.gpadl_torndown = c_gpadl_torndown,
	.open_result = c_open_result,
	.unloaded = c_unloaded,
};

static int s_post(void *ctx, const void *msg, uint32_t len)
{
	enqueue(ctx, false, 0, msg, len);
	return VMB_OK;
}

static void s_connected(void *ctx, uint32_t version,
			const struct vmb_msg_initiate_contact *req)
{
	(void)req;
	((struct pair *)ctx)->host_version = version;
}

static uint32_t s_gpadl_map(void *ctx, struct vmb_server_gpadl *g)
{
	struct pair *p = ctx;

	p->mapped = *g;
	assert_true(g->pfn_count <= 1024);
	memcpy(p->mapped_pfns, g->pfns, g->pfn_count * sizeof(uint64_t));
	return 0;
}

static uint32_t s_open(void *ctx, const struct vmb_server_open *o)
{
	(void)o;
	((struct pair *)ctx)->host_opens++;
	return 0;
}

static void s_close(void *ctx, uint32_t relid)
{
	(void)relid;
	((struct pair *)ctx)->host_closes++;
}

static void s_unloaded(void *ctx)
{
	((struct pair *)ctx)->host_unloads++;
}

static const struct vmb_server_ops server_ops = {
	.post = s_post,
	.connected = s_connected,
	.gpadl_map = s_gpadl_map,
	.open = s_open,
	.close = s_close,
	.unloaded = s_unloaded,
};

static void pump(struct pair *p)
{
	while (p->head != p->tail) {
		struct qmsg m = p->q[p->head++ % QMAX];
		if (m.to_host)
			vmb_server_input(&p->s, m.conn_id, m.data, m.len);
		else
			vmb_client_input(&p->c, m.data, m.len);
	}
}

static struct pair *pair_new(uint32_t client_max, uint32_t server_max)
{
	struct pair *p = calloc(1, sizeof(*p));
	struct vmb_client_cfg cfg = {
		.max_version = client_max,
		.interrupt_page = 0x5000,
	};

	assert_non_null(p);
	p->q = calloc(QMAX, sizeof(*p->q));
	assert_non_null(p->q);
	assert_int_equal(vmb_client_init(&p->c, &client_ops, p, &cfg), VMB_OK);
	assert_int_equal(vmb_server_init(&p->s, &server_ops, p, server_max),
			 VMB_OK);
	return p;
}

static void pair_free(struct pair *p)
{
	vmb_client_fini(&p->c);
	vmb_server_fini(&p->s);
	free(p->q);
	free(p);
}

static void add_offer(struct pair *p, uint16_t sub_index)
{
	struct vmb_msg_offer o;
	uint32_t relid = 0;

	memset(&o, 0, sizeof(o));
	o.offer.if_type.b[0] = 0x39;
	o.offer.sub_channel_index = sub_index;
	assert_int_equal(vmb_server_offer(&p->s, &o, &relid), VMB_OK);
}

static unsigned version_index(uint32_t v)
{
	for (unsigned i = 0; i < vmb_versions_count; i++)
		if (vmb_versions[i] == v)
			return i;
	fail();
	return 0;
}

/* A host capped at each version: the guest walks down to exactly it,
 * contacting on id 4 for 5.0+ and id 1 below, then posts everything else
 * to the id the host returned (5.0+) or 1. */
static void test_server_cap_each_version(void **state)
{
	(void)state;
	for (unsigned i = 0; i < vmb_versions_count; i++) {
		uint32_t cap = vmb_versions[i];
		struct pair *p = pair_new(0, cap);

		add_offer(p, 0);
		assert_int_equal(vmb_client_connect(&p->c), VMB_OK);
		pump(p);
		assert_int_equal(p->connected_calls, 1);
		assert_int_equal(p->connected_status, VMB_OK);
		assert_int_equal(p->connected_version, cap);
		assert_int_equal(p->c.version, cap);
		assert_int_equal(p->host_version, cap);
		assert_int_equal(p->c.state, VMB_CLIENT_READY);
		assert_int_equal(p->s.state, VMB_SERVER_OFFERED);
		assert_int_equal(p->offers, 1);
		assert_int_equal(p->all_offers, 1);

		/* i + 1 contacts (5.3 down to cap), then REQUESTOFFERS. */
		assert_int_equal(p->nsent, i + 2);
		for (unsigned k = 0; k <= i; k++) {
			assert_int_equal(p->sent_type[k],
					 VMB_MSG_INITIATE_CONTACT);
			assert_int_equal(p->sent_conn[k],
					 vmb_versions[k] >= VMB_VERSION(5, 0)
						 ? 4 : 1);
		}
		uint32_t want = cap >= VMB_VERSION(5, 0)
					? VMB_MSG_REDIRECT_CONNECTION_ID
					: VMB_MSG_CONNECTION_ID;
		assert_int_equal(p->c.msg_conn_id, want);
		assert_int_equal(p->sent_type[i + 1], VMB_MSG_REQUESTOFFERS);
		assert_int_equal(p->sent_conn[i + 1], want);
		/* Refusing newer versions is normal negotiation. */
		assert_int_equal(vmb_bad_total(&p->s.bad), 0);
		assert_int_equal(vmb_bad_total(&p->c.bad), 0);
		pair_free(p);
	}
}

/* A guest capped at each version against a full host: first try wins. */
static void test_client_cap_each_version(void **state)
{
	(void)state;
	for (unsigned i = 0; i < vmb_versions_count; i++) {
		struct pair *p = pair_new(vmb_versions[i], 0);

		assert_int_equal(vmb_client_connect(&p->c), VMB_OK);
		pump(p);
		assert_int_equal(p->connected_version, vmb_versions[i]);
		assert_int_equal(p->nsent, 2);
		assert_int_equal(p->sent_conn[0],
				 vmb_msg_contact_conn_id(vmb_versions[i]));
		pair_free(p);
	}
}

/* A cap between known versions starts at the next lower one. */
static void test_client_cap_between(void **state)
{
	struct pair *p = pair_new(VMB_VERSION(4, 7), 0);

	(void)state;
	assert_int_equal(vmb_client_connect(&p->c), VMB_OK);
	pump(p);
	assert_int_equal(p->connected_version, VMB_VERSION(4, 1));
	assert_int_equal(p->sent_conn[0], 1);
	assert_int_equal(version_index(p->c.version), 4);
	pair_free(p);
}

/* Sub-channel offers reach only 2.4+ guests. */
static void test_subchannel_offer_needs_win8(void **state)
{
	(void)state;
	for (unsigned i = 0; i < vmb_versions_count; i++) {
		struct pair *p = pair_new(0, vmb_versions[i]);

		add_offer(p, 0);
		add_offer(p, 1);
		assert_int_equal(vmb_client_connect(&p->c), VMB_OK);
		pump(p);
		unsigned want = vmb_versions[i] >= VMB_VERSION(2, 4) ? 2 : 1;
		assert_int_equal(p->offers, want);
		/* Hot-added sub-channel: same rule. */
		add_offer(p, 2);
		pump(p);
		assert_int_equal(p->offers, want == 2 ? 3 : 1);
		assert_int_equal(vmb_bad_total(&p->c.bad), 0);
		pair_free(p);
	}
}

/* GPADL of 1000 pages, ring open, close, teardown and unload through the
 * real host; then the guest connects again. */
static void test_roundtrip(void **state)
{
	struct pair *p = pair_new(0, 0);
	uint64_t pfn[1000];
	uint32_t g = 0;

	(void)state;
	for (unsigned i = 0; i < 1000; i++)
		pfn[i] = 0x100000 + 7 * i;
	add_offer(p, 0);
	assert_int_equal(vmb_client_connect(&p->c), VMB_OK);
	pump(p);
	assert_int_equal(vmb_client_gpadl_create(&p->c, 1, pfn, 1000, &g),
			 VMB_OK);
	pump(p);
	assert_int_equal(p->gpadl_calls, 1);
	assert_int_equal(p->gpadl_status, 0);
	assert_int_equal(p->gpadl_id, g);
	assert_int_equal(p->mapped.pfn_count, 1000);
	assert_int_equal(p->mapped.range_count, 1);
	assert_memory_equal(p->mapped_pfns, pfn, sizeof(pfn));

	assert_int_equal(vmb_client_open(&p->c, 1, g, 500, 0, "ab", 2),
			 VMB_OK);
	pump(p);
	assert_int_equal(p->open_calls, 1);
	assert_int_equal(p->open_status, 0);
	assert_int_equal(p->host_opens, 1);
	assert_int_equal(vmb_server_chan(&p->s, 1)->state, VMB_SCHAN_OPEN);

	assert_int_equal(vmb_client_close(&p->c, 1), VMB_OK);
	assert_int_equal(vmb_client_gpadl_teardown(&p->c, 1, g), VMB_OK);
	pump(p);
	assert_int_equal(p->host_closes, 1);
	assert_int_equal(p->torndown_calls, 1);
	assert_int_equal(p->s.gpadl_count, 0);

	assert_int_equal(vmb_client_unload(&p->c), VMB_OK);
	pump(p);
	assert_int_equal(p->unloaded, 1);
	assert_int_equal(p->host_unloads, 1);
	assert_int_equal(p->c.state, VMB_CLIENT_IDLE);
	assert_int_equal(p->s.state, VMB_SERVER_DISCONNECTED);

	assert_int_equal(vmb_client_connect(&p->c), VMB_OK);
	pump(p);
	assert_int_equal(p->connected_calls, 2);
	assert_int_equal(p->offers, 2);
	assert_int_equal(vmb_bad_total(&p->s.bad), 0);
	assert_int_equal(vmb_bad_total(&p->c.bad), 0);
	pair_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_cap_each_version),
		cmocka_unit_test(test_client_cap_each_version),
		cmocka_unit_test(test_client_cap_between),
		cmocka_unit_test(test_subchannel_offer_needs_win8),
		cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
