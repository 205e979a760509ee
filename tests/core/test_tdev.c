/* Test device message parsing (tdev_parse, tdev_parse_comp): every limit
 * at and one past its bound. Short messages sit in buffers that end where
 * the message ends, so that ASan sees any read past the length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testdev/tdev.h"

static uint8_t *msg(uint32_t op, uint32_t a0, uint32_t a1, uint32_t len)
{
	uint8_t *p = calloc(1, len ? len : 1);
	uint8_t full[16] = {0};

	assert_non_null(p);
	memcpy(full, &op, 4);
	memcpy(full + 8, &a0, 4);
	memcpy(full + 12, &a1, 4);
	memcpy(p, full, len < 16 ? len : 16);
	return p;
}

static enum tdev_status parse(uint32_t op, uint32_t a0, uint32_t a1,
			      uint32_t len, struct tdev_msg *m)
{
	uint8_t *p = msg(op, a0, a1, len);
	enum tdev_status st = tdev_parse(p, len, m);

	free(p);
	return st;
}

static void test_lengths(void **state)
{
	struct tdev_msg m;

	(void)state;
	assert_int_equal(tdev_parse(NULL, 16, &m), TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_QUERY, 1, 0, 2, &m), TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_QUERY, 1, 0, 12, &m), TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_QUERY, TDEV_VERSION, 0, 16, &m),
			 TDEV_ST_OK);
	assert_int_equal(m.op, TDEV_OP_QUERY);
	assert_int_equal(m.arg0, TDEV_VERSION);
	assert_int_equal(parse(0, 0, 0, 16, &m), TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_SUBCHANNELS + 1, 1, 1, 16, &m),
			 TDEV_ST_INVALID);
}

static void test_limits(void **state)
{
	struct tdev_msg m;

	(void)state;
	assert_int_equal(parse(TDEV_OP_MODE, TDEV_MODE__COUNT - 1, 0, 16, &m),
			 TDEV_ST_OK);
	assert_int_equal(parse(TDEV_OP_MODE, TDEV_MODE__COUNT, 0, 16, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_SOURCE, TDEV_SOURCE_MAX_COUNT,
			       TDEV_DATA_MAX, 16, &m), TDEV_ST_OK);
	assert_int_equal(m.arg1, TDEV_DATA_MAX);
	assert_int_equal(parse(TDEV_OP_SOURCE, TDEV_SOURCE_MAX_COUNT + 1, 1,
			       16, &m), TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_SOURCE, 1, 0, 16, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_SOURCE, 1, TDEV_DATA_MAX + 1, 16, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_SUBCHANNELS, 0, 0, 16, &m),
			 TDEV_ST_INVALID);
	assert_int_equal(parse(TDEV_OP_SUBCHANNELS, 1, 0, 16, &m), TDEV_ST_OK);
	assert_int_equal(parse(TDEV_OP_SUBCHANNELS, TDEV_MAX_SUBCHANNELS, 0,
			       16, &m), TDEV_ST_OK);
	assert_int_equal(parse(TDEV_OP_SUBCHANNELS, TDEV_MAX_SUBCHANNELS + 1,
			       0, 16, &m), TDEV_ST_INVALID);
}

static void test_data(void **state)
{
	uint32_t big = 16 + TDEV_DATA_MAX + 1;
	struct tdev_msg m;
	uint8_t *p;

	(void)state;
	/* 5 data bytes, padded up to 7 bytes more. */
	p = msg(TDEV_OP_DATA, 9, 5, 16 + 5 + 7);
	tdev_fill(p + 16, 5, 9);
	assert_int_equal(tdev_parse(p, 16 + 5 + 7, &m), TDEV_ST_OK);
	assert_ptr_equal(m.data, p + 16);
	assert_int_equal(m.data_len, 5);
	assert_int_equal(m.arg0, 9);
	assert_true(tdev_check(m.data, m.data_len, 9));
	p[18] ^= 1;
	assert_false(tdev_check(m.data, m.data_len, 9));
	assert_int_equal(tdev_parse(p, 16 + 5 + 7 - 1, &m), TDEV_ST_OK);
	assert_int_equal(tdev_parse(p, 16 + 4, &m), TDEV_ST_INVALID);
	free(p);
	/* Eight bytes of padding is more than alignment explains. */
	p = msg(TDEV_OP_DATA, 9, 5, 16 + 5 + 8);
	assert_int_equal(tdev_parse(p, 16 + 5 + 8, &m), TDEV_ST_INVALID);
	free(p);
	/* Longer than the device takes, though it all arrived. */
	p = msg(TDEV_OP_DATA, 1, TDEV_DATA_MAX + 1, big);
	assert_int_equal(tdev_parse(p, big, &m), TDEV_ST_INVALID);
	free(p);
	p = msg(TDEV_OP_DATA, 1, TDEV_DATA_MAX, big - 1);
	assert_int_equal(tdev_parse(p, big - 1, &m), TDEV_ST_OK);
	assert_int_equal(m.data_len, TDEV_DATA_MAX);
	free(p);
}

static void test_comp(void **state)
{
	struct tdev_comp c, in = {
		.op = TDEV_OP_SOURCE, .status = TDEV_ST_BAD_STATE,
		.value = 7, .value2 = 8, .packets = 1ull << 40,
		.bytes = 3, .errors = 4,
	};
	uint8_t *p = malloc(sizeof(in));

	(void)state;
	assert_non_null(p);
	memcpy(p, &in, sizeof(in));
	assert_int_equal(tdev_parse_comp(p, sizeof(in), &c), TDEV_ST_OK);
	assert_memory_equal(&c, &in, sizeof(c));
	free(p);
	p = malloc(sizeof(in) - 1);
	assert_non_null(p);
	memcpy(p, &in, sizeof(in) - 1);
	assert_int_equal(tdev_parse_comp(p, sizeof(in) - 1, &c),
			 TDEV_ST_INVALID);
	free(p);
	assert_int_equal(tdev_parse_comp(NULL, sizeof(in), &c),
			 TDEV_ST_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_comp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
