/* The test device's message parser: every limit of tdev_wire.h enforced,
 * and the data pattern checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testdev/tdev.h"

static enum tdev_status parse16(uint32_t op, uint32_t a0, uint32_t a1,
				struct tdev_msg *m)
{
	struct tdev_source b = { .h.op = op, .count = a0, .size = a1 };

	return tdev_parse(&b, sizeof(b), m);
}

static void test_requests(void **state)
{
	struct tdev_msg m;

	(void)state;
	assert_int_equal(parse16(TDEV_OP_QUERY, TDEV_VERSION, 0, &m), 0);
	assert_int_equal(m.arg0, TDEV_VERSION);
	assert_int_equal(parse16(TDEV_OP_MODE, TDEV_MODE_SOURCE, 0, &m), 0);
	assert_int_equal(parse16(TDEV_OP_MODE, TDEV_MODE__COUNT, 0, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse16(TDEV_OP_SOURCE, 10, TDEV_DATA_MAX, &m), 0);
	assert_int_equal(parse16(TDEV_OP_SOURCE, 10, TDEV_DATA_MAX + 1, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse16(TDEV_OP_SOURCE, 10, 0, &m), TDEV_ST_INVALID);
	assert_int_equal(parse16(TDEV_OP_SOURCE, TDEV_SOURCE_MAX_COUNT + 1, 8,
				 &m), TDEV_ST_INVALID);
	assert_int_equal(parse16(TDEV_OP_SUBCHANNELS, 0, 0, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse16(TDEV_OP_SUBCHANNELS, TDEV_MAX_SUBCHANNELS, 0,
				 &m), 0);
	assert_int_equal(parse16(TDEV_OP_SUBCHANNELS,
				 TDEV_MAX_SUBCHANNELS + 1, 0, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse16(99, 0, 0, &m), TDEV_ST_INVALID);
	assert_int_equal(parse16(0, 0, 0, &m), TDEV_ST_INVALID);
}

static void test_truncated(void **state)
{
	struct tdev_query q = { .h.op = TDEV_OP_QUERY };
	struct tdev_msg m;

	(void)state;
	for (uint32_t len = 0; len < sizeof(q); len++)
		assert_int_equal(tdev_parse(&q, len, &m), TDEV_ST_INVALID);
	assert_int_equal(tdev_parse(NULL, 16, &m), TDEV_ST_INVALID);
}

static void test_data(void **state)
{
	uint8_t buf[sizeof(struct tdev_data) + 64];
	struct tdev_data *d = (struct tdev_data *)buf;
	struct tdev_msg m;

	(void)state;
	d->h.op = TDEV_OP_DATA;
	d->seq = 250;
	d->len = 41; /* packet padded to 8: up to 7 bytes may follow */
	tdev_fill(buf + sizeof(*d), 41, 250);
	assert_int_equal(tdev_parse(buf, sizeof(*d) + 48, &m), 0);
	assert_int_equal(m.data_len, 41);
	assert_ptr_equal(m.data, buf + sizeof(*d));
	assert_true(tdev_check(m.data, m.data_len, 250));
	assert_false(tdev_check(m.data, m.data_len, 251));
	/* longer than what arrived */
	assert_int_equal(tdev_parse(buf, sizeof(*d) + 40, &m),
			 TDEV_ST_INVALID);
	/* more than padding after it */
	assert_int_equal(tdev_parse(buf, sizeof(*d) + 49, &m),
			 TDEV_ST_INVALID);
	d->len = TDEV_DATA_MAX + 1;
	assert_int_equal(tdev_parse(buf, sizeof(buf), &m), TDEV_ST_INVALID);
	d->len = UINT32_MAX;
	assert_int_equal(tdev_parse(buf, sizeof(buf), &m), TDEV_ST_INVALID);
}

static void test_comp(void **state)
{
	struct tdev_comp c = { .op = TDEV_OP_QUERY, .value = 7, .bytes = 9 };
	struct tdev_comp out;

	(void)state;
	assert_int_equal(tdev_parse_comp(&c, sizeof(c), &out), 0);
	assert_int_equal(out.value, 7);
	assert_int_equal(out.bytes, 9);
	assert_int_equal(tdev_parse_comp(&c, sizeof(c) - 1, &out),
			 TDEV_ST_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_comp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
