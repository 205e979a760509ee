/* Memory use of the host state machine (vmb_server), with this file as the
 * platform allocator: it counts live bytes and can refuse the next
 * allocations. An idle server must cost a table of pointers, not a table
 * of channels; a channel costs its own allocation from offer to release;
 * an allocation failure leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plat.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_server.h"

/* Each block carries its size in front so that free can count it. */
struct blk {
	size_t size;
	max_align_t align[];
};

static size_t live_bytes;
static unsigned live_blocks;
static unsigned fail_after = ~0u; /* allocations still allowed */

void *hvis_plat_zalloc(size_t size)
{
	struct blk *b;

	if (fail_after == 0)
		return NULL;
	fail_after--;
	b = calloc(1, sizeof(*b) + size);
	if (!b)
		return NULL;
	b->size = size;
	live_bytes += size;
	live_blocks++;
	return b->align;
}

void hvis_plat_free(void *p)
{
	struct blk *b;

	if (!p)
		return;
	b = (struct blk *)((uint8_t *)p - offsetof(struct blk, align));
	live_bytes -= b->size;
	live_blocks--;
	free(b);
}

static int m_post(void *ctx, const void *msg, uint32_t len)
{
	(void)ctx;
	(void)msg;
	(void)len;
	return VMB_OK;
}

static unsigned released;

static void m_released(void *ctx, uint32_t relid)
{
	(void)ctx;
	(void)relid;
	released++;
}

static const struct vmb_server_ops ops = {
	.post = m_post,
	.released = m_released,
};

static int setup(void **state)
{
	(void)state;
	live_bytes = 0;
	live_blocks = 0;
	fail_after = ~0u;
	released = 0;
	return 0;
}

static void connect_guest(struct vmb_server *s)
{
	union vmb_msg_buf b;
	uint32_t len;

	len = vmb_msg_enc_initiate_contact(&b, VMB_VERSION_WIN10_V5_3, 0, 0, 0,
					   0);
	assert_int_equal(vmb_server_input(s, VMB_MSG_CONNECTION_ID_4, b.raw,
					  len),
			 VMB_OK);
	len = vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS);
	assert_int_equal(vmb_server_input(s, VMB_MSG_REDIRECT_CONNECTION_ID,
					  b.raw, len),
			 VMB_OK);
}

static void idle_server_costs_pointers(void **state)
{
	struct vmb_server s;

	(void)state;
	assert_int_equal(vmb_server_init(&s, &ops, NULL, 0), VMB_OK);
	assert_int_equal(live_blocks, 1);
	assert_int_equal(live_bytes, VMB_RELID_MAX * sizeof(void *));
	for (uint32_t r = 0; r < VMB_RELID_MAX; r++)
		assert_null(vmb_server_chan(&s, r));
	vmb_server_fini(&s);
	assert_int_equal(live_blocks, 0);
}

/* Offer, rescind, release, offer again: one channel's memory at a time,
 * and the relid reusable once released. */
static void channel_lives_from_offer_to_release(void **state)
{
	struct vmb_server s;
	struct vmb_msg_offer o = { 0 };
	union vmb_msg_buf b;
	uint32_t relid = 0;
	size_t base;

	(void)state;
	assert_int_equal(vmb_server_init(&s, &ops, NULL, 0), VMB_OK);
	base = live_bytes;
	assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_OK);
	assert_int_equal(relid, 1);
	assert_int_equal(live_bytes, base + sizeof(struct vmb_server_chan));
	assert_int_equal(vmb_server_chan(&s, 1)->state, VMB_SCHAN_OFFERED);

	connect_guest(&s);
	assert_int_equal(vmb_server_rescind(&s, 1), VMB_OK);
	assert_int_equal(vmb_server_chan(&s, 1)->state, VMB_SCHAN_RESCINDED);
	relid = 1;
	assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_EBUSY);

	vmb_msg_enc_relid(&b, VMB_MSG_RELID_RELEASED, 1);
	assert_int_equal(vmb_server_input(&s, VMB_MSG_REDIRECT_CONNECTION_ID,
					  b.raw, sizeof(struct vmb_msg_relid)),
			 VMB_OK);
	assert_int_equal(released, 1);
	assert_null(vmb_server_chan(&s, 1));
	assert_int_equal(live_bytes, base);

	relid = 0;
	assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_OK);
	assert_int_equal(relid, 1);
	vmb_server_fini(&s);
	assert_int_equal(live_blocks, 0);
}

/* A reset frees the rescinded channels the guest will never release and
 * keeps the offered ones; fini frees the rest. */
static void reset_and_fini_free_channels(void **state)
{
	struct vmb_server s;
	struct vmb_msg_offer o = { 0 };
	size_t base;

	(void)state;
	assert_int_equal(vmb_server_init(&s, &ops, NULL, 0), VMB_OK);
	base = live_bytes;
	for (int i = 0; i < 3; i++) {
		uint32_t relid = 0;

		assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_OK);
	}
	connect_guest(&s);
	assert_int_equal(vmb_server_rescind(&s, 2), VMB_OK);
	vmb_server_reset(&s);
	assert_int_equal(released, 1);
	assert_null(vmb_server_chan(&s, 2));
	assert_non_null(vmb_server_chan(&s, 1));
	assert_non_null(vmb_server_chan(&s, 3));
	assert_int_equal(live_bytes,
			 base + 2 * sizeof(struct vmb_server_chan));
	vmb_server_fini(&s);
	assert_int_equal(live_blocks, 0);
}

static void offer_without_memory_leaves_relid_free(void **state)
{
	struct vmb_server s;
	struct vmb_msg_offer o = { 0 };
	uint32_t relid = 0;
	size_t base;

	(void)state;
	assert_int_equal(vmb_server_init(&s, &ops, NULL, 0), VMB_OK);
	base = live_bytes;
	fail_after = 0;
	assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_ENOMEM);
	assert_int_equal(relid, 0);
	assert_null(vmb_server_chan(&s, 1));
	assert_int_equal(live_bytes, base);
	fail_after = ~0u;
	assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_OK);
	assert_int_equal(relid, 1);
	vmb_server_fini(&s);
	assert_int_equal(live_blocks, 0);
}

/* reinit frees every channel, GPADL and the GPADL table, and keeps only
 * the relid table: no new table per start. */
static void reinit_keeps_only_the_table(void **state)
{
	struct vmb_server s;
	struct vmb_msg_offer o = { 0 };
	union vmb_msg_buf b;
	uint64_t pfn[4] = { 1, 2, 3, 4 };
	void *table;
	uint32_t len;

	(void)state;
	assert_int_equal(vmb_server_init(&s, &ops, NULL, 0), VMB_OK);
	table = s.chans;
	for (int i = 0; i < 3; i++) {
		uint32_t relid = 0;

		assert_int_equal(vmb_server_offer(&s, &o, &relid), VMB_OK);
	}
	connect_guest(&s);
	len = vmb_msg_enc_gpadl_header(&b, 1, 1, 4, pfn, 4);
	assert_int_equal(vmb_server_input(&s, VMB_MSG_REDIRECT_CONNECTION_ID,
					  b.raw, len),
			 VMB_OK);
	len = vmb_msg_enc_gpadl_header(&b, 2, 2, 30, pfn, 4);
	assert_int_equal(vmb_server_input(&s, VMB_MSG_REDIRECT_CONNECTION_ID,
					  b.raw, len),
			 VMB_OK);  /* incomplete: its buffer is held */
	assert_int_equal(vmb_server_rescind(&s, 3), VMB_OK);
	assert_true(live_blocks > 5);

	vmb_server_reinit(&s);
	assert_int_equal(live_blocks, 1);
	assert_int_equal(live_bytes, VMB_RELID_MAX * sizeof(void *));
	assert_ptr_equal(s.chans, table);
	assert_int_equal(s.gpadl_bytes, 0);
	assert_int_equal(released, 1);
	vmb_server_fini(&s);
	assert_int_equal(live_blocks, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(idle_server_costs_pointers, setup),
		cmocka_unit_test_setup(channel_lives_from_offer_to_release,
				       setup),
		cmocka_unit_test_setup(reset_and_fini_free_channels, setup),
		cmocka_unit_test_setup(offer_without_memory_leaves_relid_free,
				       setup),
		cmocka_unit_test_setup(reinit_keeps_only_the_table, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
