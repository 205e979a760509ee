/* VMBus channel message codec: every encoder's size and little-endian
 * byte layout, and the receive-side checks (truncated, oversized, unknown
 * types), for every type 1-24. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmbus/vmb_client.h"
#include "vmbus/vmb_msg.h"

/* Asserts that b->raw holds v little-endian at off, width bytes. */
static void expect_le(const union vmb_msg_buf *b, uint32_t off, uint64_t v,
		      unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		assert_int_equal(b->raw[off + i], (uint8_t)(v >> (8 * i)));
}

static void expect_type(const union vmb_msg_buf *b, uint32_t type)
{
	expect_le(b, 0, type, 4);
	expect_le(b, 4, 0, 4); /* padding */
}

/* Parse what an encoder produced: same type back, same bytes. */
static void roundtrip(const union vmb_msg_buf *b, uint32_t len, int type)
{
	union vmb_msg_buf out;
	enum vmb_bad why = VMB_BAD__COUNT;

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(vmb_msg_parse(&out, b->raw, len, &why), type);
	assert_memory_equal(out.raw, b->raw, len);
	for (uint32_t i = len; i < VMB_MSG_MAX; i++)
		assert_int_equal(out.raw[i], 0);
	assert_int_equal(why, VMB_BAD__COUNT);
}

static const struct {
	uint32_t type, len;
} sizes[] = {
	{VMB_MSG_OFFERCHANNEL, 196},	    {VMB_MSG_RESCIND_CHANNELOFFER, 12},
	{VMB_MSG_REQUESTOFFERS, 8},	    {VMB_MSG_ALLOFFERS_DELIVERED, 8},
	{VMB_MSG_OPENCHANNEL, 148},	    {VMB_MSG_OPENCHANNEL_RESULT, 20},
	{VMB_MSG_CLOSECHANNEL, 12},	    {VMB_MSG_GPADL_HEADER, 20},
	{VMB_MSG_GPADL_BODY, 16},	    {VMB_MSG_GPADL_CREATED, 20},
	{VMB_MSG_GPADL_TEARDOWN, 16},	    {VMB_MSG_GPADL_TORNDOWN, 12},
	{VMB_MSG_RELID_RELEASED, 12},	    {VMB_MSG_INITIATE_CONTACT, 40},
	{VMB_MSG_VERSION_RESPONSE, 16},	    {VMB_MSG_UNLOAD, 8},
	{VMB_MSG_UNLOAD_RESPONSE, 8},	    {VMB_MSG_OPEN_RESERVED, 28},
	{VMB_MSG_CLOSE_RESERVED, 20},	    {VMB_MSG_CLOSE_RESERVED_RESPONSE, 12},
	{VMB_MSG_TL_CONNECT_REQUEST, 40},   {VMB_MSG_MODIFYCHANNEL, 16},
	{VMB_MSG_TL_CONNECT_RESULT, 44},    {VMB_MSG_MODIFYCHANNEL_RESPONSE, 16},
};

static void test_min_len(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_int_equal(vmb_msg_min_len(sizes[i].type), sizes[i].len);
	static const uint32_t unknown[] = {0, 25, 26, 0x80000001u,
					   0xffffffffu};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(vmb_msg_min_len(unknown[i]), 0);
		assert_string_equal(vmb_msg_type_name(unknown[i]), "unknown");
	}
	assert_string_equal(vmb_msg_type_name(VMB_MSG_GPADL_BODY),
			    "GPADL_BODY");
	/* Every known type has a name. */
	for (uint32_t t = 1; t < VMB_MSG__COUNT; t++)
		assert_string_not_equal(vmb_msg_type_name(t), "unknown");
	assert_int_equal(VMB_MSG__COUNT, 25);
	assert_string_equal(vmb_msg_type_name(18), "OPEN_RESERVED");
	assert_string_equal(vmb_msg_type_name(19), "CLOSE_RESERVED");
	assert_string_equal(vmb_msg_type_name(20), "CLOSE_RESERVED_RESPONSE");
}

static void test_parse_rejects(void **state)
{
	union vmb_msg_buf in, out;
	enum vmb_bad why;

	(void)state;
	memset(&in, 0, sizeof(in));
	/* Shorter than a header, whatever the type. */
	for (uint32_t len = 0; len < 8; len++) {
		assert_int_equal(vmb_msg_parse(&out, in.raw, len, &why),
				 VMB_EPROTO);
		assert_int_equal(why, VMB_BAD_TRUNCATED);
	}
	/* One byte short of each type's fixed part; then exactly it. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		in.hdr.type = sizes[i].type;
		if (sizes[i].len > 8) {
			assert_int_equal(vmb_msg_parse(&out, in.raw,
						       sizes[i].len - 1, &why),
					 VMB_EPROTO);
			assert_int_equal(why, VMB_BAD_TRUNCATED);
		}
		assert_int_equal(vmb_msg_parse(&out, in.raw, sizes[i].len,
					       &why),
				 (int)sizes[i].type);
		/* Longer is fine up to the SynIC limit, not past it. */
		assert_int_equal(vmb_msg_parse(&out, in.raw, VMB_MSG_MAX, &why),
				 (int)sizes[i].type);
	}
	uint8_t big[VMB_MSG_MAX + 16] = {VMB_MSG_UNLOAD};
	assert_int_equal(vmb_msg_parse(&out, big, VMB_MSG_MAX + 1, &why),
			 VMB_EPROTO);
	assert_int_equal(why, VMB_BAD_OVERSIZE);
	assert_int_equal(vmb_msg_parse(&out, big, 0xffffffffu, &why),
			 VMB_EPROTO);
	assert_int_equal(why, VMB_BAD_OVERSIZE);

	static const uint32_t unknown[] = {0, 25, 26, 0xffffffffu};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		in.hdr.type = unknown[i];
		assert_int_equal(vmb_msg_parse(&out, in.raw, 64, &why),
				 VMB_EPROTO);
		assert_int_equal(why, VMB_BAD_TYPE);
	}
}

static void test_enc_empty_and_relid(void **state)
{
	union vmb_msg_buf b;
	static const uint32_t empty[] = {VMB_MSG_REQUESTOFFERS,
					 VMB_MSG_ALLOFFERS_DELIVERED,
					 VMB_MSG_UNLOAD,
					 VMB_MSG_UNLOAD_RESPONSE};
	static const uint32_t relid[] = {VMB_MSG_RESCIND_CHANNELOFFER,
					 VMB_MSG_CLOSECHANNEL,
					 VMB_MSG_RELID_RELEASED,
					 VMB_MSG_CLOSE_RESERVED_RESPONSE};

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		memset(&b, 0xff, sizeof(b));
		assert_int_equal(vmb_msg_enc_empty(&b, empty[i]), 8);
		expect_type(&b, empty[i]);
		roundtrip(&b, 8, (int)empty[i]);
	}
	for (size_t i = 0; i < sizeof(relid) / sizeof(relid[0]); i++) {
		memset(&b, 0xff, sizeof(b));
		assert_int_equal(vmb_msg_enc_relid(&b, relid[i], 0x01020304),
				 12);
		expect_type(&b, relid[i]);
		expect_le(&b, 8, 0x01020304, 4);
		roundtrip(&b, 12, (int)relid[i]);
	}
	/* Types of another layout are refused. */
	assert_int_equal(vmb_msg_enc_empty(&b, VMB_MSG_CLOSECHANNEL), 0);
	assert_int_equal(vmb_msg_enc_relid(&b, VMB_MSG_UNLOAD, 1), 0);
	assert_int_equal(vmb_msg_enc_relid(&b, VMB_MSG_CLOSE_RESERVED, 1), 0);
	assert_int_equal(vmb_msg_enc_empty(&b, VMB_MSG_CLOSE_RESERVED_RESPONSE),
			 0);
}

static void test_enc_offer(void **state)
{
	struct vmb_msg_offer o;
	union vmb_msg_buf b;

	(void)state;
	memset(&o, 0, sizeof(o));
	for (int i = 0; i < 16; i++) {
		o.offer.if_type.b[i] = (uint8_t)(0x10 + i);
		o.offer.if_instance.b[i] = (uint8_t)(0x30 + i);
	}
	o.offer.chn_flags = 0x2011;
	o.offer.mmio_megabytes = 0x0203;
	o.offer.user_def[0] = 0xaa;
	o.offer.user_def[119] = 0xbb;
	o.offer.sub_channel_index = 0x0405;
	o.child_relid = 0x0a0b0c0d;
	o.monitor_id = 0x42;
	o.monitor_allocated = 1;
	o.dedicated_interrupt = 1;
	o.connection_id = 0x11223344;
	assert_int_equal(vmb_msg_enc_offer(&b, &o), 196);
	expect_type(&b, VMB_MSG_OFFERCHANNEL);
	assert_int_equal(b.raw[8], 0x10);
	assert_int_equal(b.raw[24], 0x30);
	expect_le(&b, 56, 0x2011, 2);
	expect_le(&b, 58, 0x0203, 2);
	assert_int_equal(b.raw[60], 0xaa);
	assert_int_equal(b.raw[179], 0xbb);
	expect_le(&b, 180, 0x0405, 2);
	expect_le(&b, 184, 0x0a0b0c0d, 4);
	assert_int_equal(b.raw[188], 0x42);
	assert_int_equal(b.raw[189], 1);
	expect_le(&b, 190, 1, 2);
	expect_le(&b, 192, 0x11223344, 4);
	roundtrip(&b, 196, VMB_MSG_OFFERCHANNEL);
}

static void test_enc_open(void **state)
{
	union vmb_msg_buf b;
	uint8_t user[VMB_USERDEF_LEN + 1];

	(void)state;
	for (unsigned i = 0; i < sizeof(user); i++)
		user[i] = (uint8_t)(i + 1);
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(vmb_msg_enc_open(&b, 0x11, 0x22334455, 0x66, 7,
					  0x01020304, user, 4),
			 148);
	expect_type(&b, VMB_MSG_OPENCHANNEL);
	expect_le(&b, 8, 0x11, 4);
	expect_le(&b, 12, 0x22334455, 4);
	expect_le(&b, 16, 0x66, 4);
	expect_le(&b, 20, 7, 4);
	expect_le(&b, 24, 0x01020304, 4);
	assert_memory_equal(b.raw + 28, user, 4);
	for (unsigned i = 32; i < 148; i++)
		assert_int_equal(b.raw[i], 0);
	roundtrip(&b, 148, VMB_MSG_OPENCHANNEL);
	assert_int_equal(vmb_msg_enc_open(&b, 1, 1, 1, 0, 1, user,
					  VMB_USERDEF_LEN),
			 148);
	assert_int_equal(b.raw[28 + 119], 120);
	assert_int_equal(vmb_msg_enc_open(&b, 1, 1, 1, 0, 1, user,
					  VMB_USERDEF_LEN + 1),
			 0);
	assert_int_equal(vmb_msg_enc_open(&b, 1, 1, 1, 0, 1, NULL, 4), 0);

	assert_int_equal(vmb_msg_enc_open_result(&b, 0x11, 0x22, 0xc0000001u),
			 20);
	expect_type(&b, VMB_MSG_OPENCHANNEL_RESULT);
	expect_le(&b, 8, 0x11, 4);
	expect_le(&b, 12, 0x22, 4);
	expect_le(&b, 16, 0xc0000001u, 4);
	roundtrip(&b, 20, VMB_MSG_OPENCHANNEL_RESULT);
}

static void test_enc_gpadl(void **state)
{
	union vmb_msg_buf b;
	uint64_t pfn[40];

	(void)state;
	for (unsigned i = 0; i < 40; i++)
		pfn[i] = 0x0102030405060000ull + i;

	/* 27 pages: the header carries 26, range_buflen covers all 27. */
	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 0xe1e10, 27, pfn, 26),
			 236);
	expect_type(&b, VMB_MSG_GPADL_HEADER);
	expect_le(&b, 8, 5, 4);
	expect_le(&b, 12, 0xe1e10, 4);
	expect_le(&b, 16, 8 + 27 * 8, 2);
	expect_le(&b, 18, 1, 2);
	expect_le(&b, 20, 27 * 4096, 4);
	expect_le(&b, 24, 0, 4);
	expect_le(&b, 28, pfn[0], 8);
	expect_le(&b, 28 + 25 * 8, pfn[25], 8);
	roundtrip(&b, 236, VMB_MSG_GPADL_HEADER);

	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 9, 1, pfn, 1), 36);
	expect_le(&b, 16, 16, 2);
	expect_le(&b, 20, 4096, 4);
	/* The largest GPADL one range can describe, and one page more. */
	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 9, 8190, pfn, 26),
			 236);
	expect_le(&b, 16, 8 + 8190 * 8, 2);
	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 9, 8191, pfn, 26), 0);
	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 9, 30, pfn, 27), 0);
	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 9, 0, pfn, 0), 0);
	assert_int_equal(vmb_msg_enc_gpadl_header(&b, 5, 9, 2, pfn, 3), 0);

	assert_int_equal(vmb_msg_enc_gpadl_body(&b, 3, 0xe1e10, pfn, 28), 240);
	expect_type(&b, VMB_MSG_GPADL_BODY);
	expect_le(&b, 8, 3, 4);
	expect_le(&b, 12, 0xe1e10, 4);
	expect_le(&b, 16, pfn[0], 8);
	expect_le(&b, 16 + 27 * 8, pfn[27], 8);
	roundtrip(&b, 240, VMB_MSG_GPADL_BODY);
	assert_int_equal(vmb_msg_enc_gpadl_body(&b, 1, 1, pfn, 1), 24);
	assert_int_equal(vmb_msg_enc_gpadl_body(&b, 1, 1, pfn, 29), 0);
	assert_int_equal(vmb_msg_enc_gpadl_body(&b, 1, 1, pfn, 0), 0);

	assert_int_equal(vmb_msg_enc_gpadl_created(&b, 4, 0x1234, 0x8000ffffu),
			 20);
	expect_type(&b, VMB_MSG_GPADL_CREATED);
	expect_le(&b, 8, 4, 4);
	expect_le(&b, 12, 0x1234, 4);
	expect_le(&b, 16, 0x8000ffffu, 4);
	roundtrip(&b, 20, VMB_MSG_GPADL_CREATED);

	assert_int_equal(vmb_msg_enc_gpadl_teardown(&b, 4, 0x1234), 16);
	expect_type(&b, VMB_MSG_GPADL_TEARDOWN);
	expect_le(&b, 8, 4, 4);
	expect_le(&b, 12, 0x1234, 4);
	roundtrip(&b, 16, VMB_MSG_GPADL_TEARDOWN);

	assert_int_equal(vmb_msg_enc_gpadl_torndown(&b, 0x1234), 12);
	expect_type(&b, VMB_MSG_GPADL_TORNDOWN);
	expect_le(&b, 8, 0x1234, 4);
	roundtrip(&b, 12, VMB_MSG_GPADL_TORNDOWN);
}

static void test_enc_contact(void **state)
{
	union vmb_msg_buf b;

	(void)state;
	/* Before 5.0: third field is the interrupt page. */
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(vmb_msg_enc_initiate_contact(&b, VMB_VERSION_WIN10_V4_1,
						      3, 0x1122334455667000ull,
						      0xa000, 0xb000),
			 40);
	expect_type(&b, VMB_MSG_INITIATE_CONTACT);
	expect_le(&b, 8, 0x00040001, 4);
	expect_le(&b, 12, 3, 4);
	expect_le(&b, 16, 0x1122334455667000ull, 8);
	expect_le(&b, 24, 0xa000, 8);
	expect_le(&b, 32, 0xb000, 8);
	roundtrip(&b, 40, VMB_MSG_INITIATE_CONTACT);
	/* From 5.0: msg_sint 2, VTL 0, reserved zero; no interrupt page. */
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(vmb_msg_enc_initiate_contact(&b, VMB_VERSION_WIN10_V5,
						      0, 0x1122334455667000ull,
						      0, 0),
			 40);
	expect_le(&b, 8, 0x00050000, 4);
	assert_int_equal(b.raw[16], 2);
	for (unsigned i = 17; i < 24; i++)
		assert_int_equal(b.raw[i], 0);

	assert_int_equal(vmb_msg_enc_version_response(&b, true, 0, 0x800074),
			 16);
	expect_type(&b, VMB_MSG_VERSION_RESPONSE);
	assert_int_equal(b.raw[8], 1);
	assert_int_equal(b.raw[9], 0);
	expect_le(&b, 10, 0, 2);
	expect_le(&b, 12, 0x800074, 4);
	roundtrip(&b, 16, VMB_MSG_VERSION_RESPONSE);
	assert_int_equal(vmb_msg_enc_version_response(&b, false, 2, 0), 16);
	assert_int_equal(b.raw[8], 0);
	assert_int_equal(b.raw[9], 2);
}

static void test_enc_tl_and_modify(void **state)
{
	union vmb_msg_buf b;
	struct vmb_guid ep, svc;

	(void)state;
	for (int i = 0; i < 16; i++) {
		ep.b[i] = (uint8_t)(0x40 + i);
		svc.b[i] = (uint8_t)(0x80 + i);
	}
	assert_int_equal(vmb_msg_enc_tl_connect_request(&b, &ep, &svc), 40);
	expect_type(&b, VMB_MSG_TL_CONNECT_REQUEST);
	assert_memory_equal(b.raw + 8, ep.b, 16);
	assert_memory_equal(b.raw + 24, svc.b, 16);
	roundtrip(&b, 40, VMB_MSG_TL_CONNECT_REQUEST);

	assert_int_equal(vmb_msg_enc_tl_connect_result(&b, &ep, &svc,
						       0xc0000236u),
			 44);
	expect_type(&b, VMB_MSG_TL_CONNECT_RESULT);
	assert_memory_equal(b.raw + 8, ep.b, 16);
	assert_memory_equal(b.raw + 24, svc.b, 16);
	expect_le(&b, 40, 0xc0000236u, 4);
	roundtrip(&b, 44, VMB_MSG_TL_CONNECT_RESULT);

	assert_int_equal(vmb_msg_enc_modify(&b, 9, 0x01020304), 16);
	expect_type(&b, VMB_MSG_MODIFYCHANNEL);
	expect_le(&b, 8, 9, 4);
	expect_le(&b, 12, 0x01020304, 4);
	roundtrip(&b, 16, VMB_MSG_MODIFYCHANNEL);

	assert_int_equal(vmb_msg_enc_modify_response(&b, 9, 0x8000ffffu), 16);
	expect_type(&b, VMB_MSG_MODIFYCHANNEL_RESPONSE);
	expect_le(&b, 8, 9, 4);
	expect_le(&b, 12, 0x8000ffffu, 4);
	roundtrip(&b, 16, VMB_MSG_MODIFYCHANNEL_RESPONSE);
}

/* Parse of len bytes of b fails as truncated. */
static void expect_truncated(const union vmb_msg_buf *b, uint32_t len)
{
	union vmb_msg_buf out;
	enum vmb_bad why = VMB_BAD__COUNT;

	assert_int_equal(vmb_msg_parse(&out, b->raw, len, &why), VMB_EPROTO);
	assert_int_equal(why, VMB_BAD_TRUNCATED);
}

static void test_enc_reserved(void **state)
{
	union vmb_msg_buf b;

	(void)state;
	memset(&b, 0xff, sizeof(b));
	assert_int_equal(vmb_msg_enc_open_reserved(&b, 0x11, 0x22334455,
						   0x66778899, 0xe1e10,
						   0x01020304),
			 28);
	expect_type(&b, VMB_MSG_OPEN_RESERVED);
	expect_le(&b, 8, 0x11, 4);
	expect_le(&b, 12, 0x22334455, 4);
	expect_le(&b, 16, 0x66778899, 4);
	expect_le(&b, 20, 0xe1e10, 4);
	expect_le(&b, 24, 0x01020304, 4);
	roundtrip(&b, 28, VMB_MSG_OPEN_RESERVED);
	/* Fields appended by a later revision are carried, not refused. */
	roundtrip(&b, 40, VMB_MSG_OPEN_RESERVED);
	for (uint32_t len = 8; len < 28; len++)
		expect_truncated(&b, len);

	memset(&b, 0xff, sizeof(b));
	assert_int_equal(vmb_msg_enc_close_reserved(&b, 0x11, 0x22334455,
						    0x66778899),
			 20);
	expect_type(&b, VMB_MSG_CLOSE_RESERVED);
	expect_le(&b, 8, 0x11, 4);
	expect_le(&b, 12, 0x22334455, 4);
	expect_le(&b, 16, 0x66778899, 4);
	roundtrip(&b, 20, VMB_MSG_CLOSE_RESERVED);
	for (uint32_t len = 8; len < 20; len++)
		expect_truncated(&b, len);

	assert_int_equal(vmb_msg_enc_relid(&b, VMB_MSG_CLOSE_RESERVED_RESPONSE,
					   0x0a0b0c0d),
			 12);
	expect_type(&b, VMB_MSG_CLOSE_RESERVED_RESPONSE);
	expect_le(&b, 8, 0x0a0b0c0d, 4);
	roundtrip(&b, 12, VMB_MSG_CLOSE_RESERVED_RESPONSE);
	for (uint32_t len = 8; len < 12; len++)
		expect_truncated(&b, len);
}

static void test_versions(void **state)
{
	(void)state;
	assert_int_equal(vmb_versions_count, 10);
	assert_int_equal(vmb_versions[0], VMB_VERSION(5, 3));
	assert_int_equal(vmb_versions[9], VMB_VERSION(0, 13));
	for (unsigned i = 1; i < vmb_versions_count; i++)
		assert_true(vmb_versions[i] < vmb_versions[i - 1]);
	for (unsigned i = 0; i < vmb_versions_count; i++) {
		assert_true(vmb_msg_version_known(vmb_versions[i]));
		assert_string_not_equal(vmb_version_name(vmb_versions[i]),
					"unknown");
		assert_int_equal(vmb_msg_contact_conn_id(vmb_versions[i]),
				 vmb_versions[i] >= VMB_VERSION(5, 0) ? 4 : 1);
	}
	assert_false(vmb_msg_version_known(VMB_VERSION(6, 0)));
	assert_false(vmb_msg_version_known(VMB_VERSION(4, 2)));
	assert_string_equal(vmb_version_name(VMB_VERSION(5, 3)),
			    "5.3 (WS2022)");
	assert_string_equal(vmb_version_name(VMB_VERSION(9, 9)), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_min_len),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_enc_empty_and_relid),
		cmocka_unit_test(test_enc_offer),
		cmocka_unit_test(test_enc_open),
		cmocka_unit_test(test_enc_gpadl),
		cmocka_unit_test(test_enc_contact),
		cmocka_unit_test(test_enc_tl_and_modify),
		cmocka_unit_test(test_enc_reserved),
		cmocka_unit_test(test_versions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
