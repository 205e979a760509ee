/* UTF-16LE <-> UTF-8 conversion used by the IC engines: every rejection
 * rule, surrogate pairs, and the exact field limits of KVP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ic/ic_utf.h"
#include "ic/kvp.h"

static int to16(const char *s, uint8_t *dst, size_t cap, uint32_t *n)
{
	return ic_utf8_to_utf16(s, strlen(s), dst, cap, n);
}

static void test_ascii_roundtrip(void **state)
{
	uint8_t w[64];
	char u[64];
	uint32_t n;
	size_t len;

	(void)state;
	assert_int_equal(to16("Key1", w, sizeof(w), &n), IC_UTF_OK);
	assert_int_equal(n, 10); /* 4 units + NUL, in bytes */
	assert_memory_equal(w, "K\0e\0y\0001\0\0\0", 10);
	assert_int_equal(ic_utf16_to_utf8(w, n, u, sizeof(u), &len),
			 IC_UTF_OK);
	assert_int_equal(len, 4);
	assert_string_equal(u, "Key1");
}

static void test_multibyte_and_pairs(void **state)
{
	/* 2-, 3- and 4-byte sequences: U+00E9, U+20AC, U+1F600, U+10FFFF */
	const char *s = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
	static const uint8_t want[] = { 0xe9, 0x00, 0xac, 0x20, 0x3d, 0xd8,
					0x00, 0xde, 0xff, 0xdb, 0xff, 0xdf,
					0x00, 0x00 };
	uint8_t w[64];
	char u[64];
	uint32_t n;

	(void)state;
	assert_int_equal(to16(s, w, sizeof(w), &n), IC_UTF_OK);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(w, want, sizeof(want));
	assert_int_equal(ic_utf16_to_utf8(w, n, u, sizeof(u), NULL),
			 IC_UTF_OK);
	assert_string_equal(u, s);
}

static void test_utf8_rejections(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		int err;
	} cases[] = {
		{ "\x80", 1, IC_UTF_EBYTE },           /* lone follower */
		{ "\xf8\x88\x80\x80\x80", 5, IC_UTF_EBYTE }, /* 5-byte form */
		{ "\xff", 1, IC_UTF_EBYTE },
		{ "\xc3", 1, IC_UTF_ETRUNC },          /* cut short */
		{ "\xe2\x82", 2, IC_UTF_ETRUNC },
		{ "\xc3\xa9", 1, IC_UTF_ETRUNC },      /* length cuts it */
		{ "a\xe2\x82\xac", 3, IC_UTF_ETRUNC },
		{ "\xe2\x28\xa1", 3, IC_UTF_ETRUNC },  /* bad follower */
		{ "\xc0\xaf", 2, IC_UTF_EOVERLONG },   /* overlong '/' */
		{ "\xc1\xbf", 2, IC_UTF_EOVERLONG },
		{ "\xe0\x80\xaf", 3, IC_UTF_EOVERLONG },
		{ "\xf0\x8f\xbf\xbf", 4, IC_UTF_EOVERLONG },
		{ "\xed\xa0\x80", 3, IC_UTF_ESURROGATE }, /* U+D800 */
		{ "\xed\xbf\xbf", 3, IC_UTF_ESURROGATE }, /* U+DFFF */
		{ "\xf4\x90\x80\x80", 4, IC_UTF_ERANGE }, /* U+110000 */
		{ "\xf7\xbf\xbf\xbf", 4, IC_UTF_ERANGE },
		{ "a\0b", 3, IC_UTF_ENUL },
	};
	uint8_t w[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = ic_utf8_to_utf16(cases[i].s, cases[i].len, w,
					  sizeof(w), NULL);
		if (rc != cases[i].err)
			fail_msg("case %zu: got %d (%s) want %d", i, rc,
				 ic_utf_strerror(rc), cases[i].err);
	}
	/* The limits themselves are accepted. */
	assert_int_equal(ic_utf8_to_utf16("\xed\x9f\xbf\xee\x80\x80", 6, w,
					  sizeof(w), NULL), IC_UTF_OK);
}

static void test_utf16_rejections(void **state)
{
	static const uint8_t lone_hi[] = { 0x3d, 0xd8, 0x41, 0x00 };
	static const uint8_t lone_hi_end[] = { 0x41, 0x00, 0x3d, 0xd8 };
	static const uint8_t lone_lo[] = { 0x00, 0xde, 0x41, 0x00 };
	static const uint8_t hi_hi[] = { 0x3d, 0xd8, 0x3d, 0xd8 };
	static const uint8_t after_nul[] = { 0x41, 0x00, 0x00, 0x00, 0x00,
					     0xde };
	char u[16];
	size_t len;

	(void)state;
	assert_int_equal(ic_utf16_to_utf8(lone_hi, 4, u, sizeof(u), NULL),
			 IC_UTF_EUNPAIRED);
	assert_int_equal(ic_utf16_to_utf8(lone_hi_end, 4, u, sizeof(u), NULL),
			 IC_UTF_EUNPAIRED);
	assert_int_equal(ic_utf16_to_utf8(lone_lo, 4, u, sizeof(u), NULL),
			 IC_UTF_EUNPAIRED);
	assert_int_equal(ic_utf16_to_utf8(hi_hi, 4, u, sizeof(u), NULL),
			 IC_UTF_EUNPAIRED);
	assert_int_equal(ic_utf16_to_utf8(lone_lo, 3, u, sizeof(u), NULL),
			 IC_UTF_EODD);
	/* Whatever follows the NUL is not part of the string. */
	assert_int_equal(ic_utf16_to_utf8(after_nul, 6, u, sizeof(u), &len),
			 IC_UTF_OK);
	assert_int_equal(len, 1);
	/* Output room: "A" needs 2 bytes with its NUL. */
	assert_int_equal(ic_utf16_to_utf8(after_nul, 6, u, 1, NULL),
			 IC_UTF_ENOSPACE);
	assert_int_equal(ic_utf16_to_utf8(after_nul, 6, u, 2, NULL),
			 IC_UTF_OK);
}

/* A KVP key holds 255 units and a NUL in 512 bytes; a value 1023 and a
 * NUL in 2048. One more unit (or a pair where one unit is left) does not
 * fit. */
static void check_limit(size_t field, size_t utf8_max)
{
	size_t units = field / 2 - 1;
	char s[4096];
	uint8_t w[4096];
	char back[4096];
	uint32_t n;

	memset(s, 'k', units);
	s[units] = 0;
	assert_int_equal(ic_utf8_to_utf16(s, units, w, field, &n), IC_UTF_OK);
	assert_int_equal(n, field);
	assert_int_equal(ic_utf8_to_utf16(s, units + 0, w, field - 1, &n),
			 IC_UTF_ENOSPACE);
	s[units] = 'k';
	assert_int_equal(ic_utf8_to_utf16(s, units + 1, w, field, &n),
			 IC_UTF_ENOSPACE);
	/* Widest case: every unit 3 UTF-8 bytes fills the UTF-8 buffer. */
	for (size_t i = 0; i < units; i++)
		memcpy(w + 2 * i, "\xac\x20", 2); /* U+20AC */
	memset(w + 2 * units, 0, 2);
	assert_int_equal(ic_utf16_to_utf8(w, field, back, utf8_max, NULL),
			 IC_UTF_OK);
	assert_int_equal(strlen(back), utf8_max - 1);
	assert_int_equal(ic_utf16_to_utf8(w, field, back, utf8_max - 1, NULL),
			 IC_UTF_ENOSPACE);
	/* A surrogate pair needs two units: with one unit left it fails. */
	memset(s, 'k', units - 1);
	memcpy(s + units - 1, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(ic_utf8_to_utf16(s, units + 3, w, field, &n),
			 IC_UTF_ENOSPACE);
	assert_int_equal(ic_utf8_to_utf16(s, units + 3, w, field + 2, &n),
			 IC_UTF_OK);
	assert_int_equal(n, field + 2);
}

static void test_kvp_limits(void **state)
{
	(void)state;
	check_limit(KVP_KEY_BYTES, KVP_KEY_UTF8_MAX);
	check_limit(KVP_VALUE_BYTES, KVP_VALUE_UTF8_MAX);
}

static void test_empty(void **state)
{
	uint8_t w[2];
	char u[1];
	uint32_t n;

	(void)state;
	assert_int_equal(ic_utf8_to_utf16("", 0, w, 2, &n), IC_UTF_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ic_utf8_to_utf16("", 0, w, 1, &n), IC_UTF_ENOSPACE);
	assert_int_equal(ic_utf16_to_utf8(w, 0, u, 1, NULL), IC_UTF_OK);
	assert_string_equal(u, "");
	assert_int_equal(ic_utf16_to_utf8(w, 0, u, 0, NULL), IC_UTF_ENOSPACE);
	assert_string_not_equal(ic_utf_strerror(IC_UTF_ERANGE), "ok");
}

/* The cutting conversion keeps the longest prefix of whole characters
 * that fits with its NUL, and still refuses invalid UTF-8 anywhere. */
static void test_cut(void **state)
{
	static const char jp[] = "\xe6\x97\xa5"; /* U+65E5 */
	char s[4096];
	uint8_t w[KVP_VALUE_BYTES + 8];
	uint32_t n;
	bool cut;

	(void)state;
	/* 511 ASCII bytes into a key field: 255 units and the NUL. */
	memset(s, 'k', 511);
	assert_int_equal(ic_utf8_to_utf16_cut(s, 511, w, KVP_KEY_BYTES, &n,
					      &cut), IC_UTF_OK);
	assert_true(cut);
	assert_int_equal(n, KVP_KEY_BYTES);
	assert_memory_equal(w + 508, "k\0\0\0", 4);
	/* 2047 into a value field: 1023 units. */
	memset(s, 'v', 2047);
	assert_int_equal(ic_utf8_to_utf16_cut(s, 2047, w, KVP_VALUE_BYTES, &n,
					      &cut), IC_UTF_OK);
	assert_true(cut);
	assert_int_equal(n, KVP_VALUE_BYTES);
	/* 170 x U+65E5 is 510 bytes but 170 units: whole, not cut. */
	for (size_t i = 0; i < 256; i++)
		memcpy(s + 3 * i, jp, 3);
	assert_int_equal(ic_utf8_to_utf16_cut(s, 510, w, KVP_KEY_BYTES, &n,
					      &cut), IC_UTF_OK);
	assert_false(cut);
	assert_int_equal(n, 2 * 171);
	assert_memory_equal(w + 2 * 169, "\xe5\x65\0\0", 4);
	/* 256 of them: 255 kept, the last one whole. */
	assert_int_equal(ic_utf8_to_utf16_cut(s, 768, w, KVP_KEY_BYTES, &n,
					      &cut), IC_UTF_OK);
	assert_true(cut);
	assert_int_equal(n, KVP_KEY_BYTES);
	assert_memory_equal(w + 2 * 254, "\xe5\x65\0\0", 4);
	/* A pair with one unit left is dropped whole, never half-written. */
	memset(s, 'k', 254);
	memcpy(s + 254, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(ic_utf8_to_utf16_cut(s, 258, w, KVP_KEY_BYTES, &n,
					      &cut), IC_UTF_OK);
	assert_true(cut);
	assert_int_equal(n, 2 * 255);
	assert_memory_equal(w + 2 * 253, "k\0\0\0", 4);
	/* With two units left it fits exactly. */
	assert_int_equal(ic_utf8_to_utf16_cut(s + 1, 257, w, KVP_KEY_BYTES,
					      &n, &cut), IC_UTF_OK);
	assert_false(cut);
	assert_int_equal(n, KVP_KEY_BYTES);
	assert_memory_equal(w + 2 * 253, "\x3d\xd8\x00\xde\0\0", 6);
	/* Invalid UTF-8 before or after the cut is refused; *cut false. */
	memset(s, 'k', 511);
	s[400] = (char)0xff;
	cut = true;
	assert_int_equal(ic_utf8_to_utf16_cut(s, 511, w, KVP_KEY_BYTES, &n,
					      &cut), IC_UTF_EBYTE);
	assert_false(cut);
	s[400] = 'k';
	memcpy(s + 508, "\xed\xa0\x80", 3); /* encoded surrogate, at the end */
	assert_int_equal(ic_utf8_to_utf16_cut(s, 511, w, KVP_KEY_BYTES, &n,
					      NULL), IC_UTF_ESURROGATE);
	memcpy(s + 508, "kk\xe2", 3); /* sequence cut short by len */
	assert_int_equal(ic_utf8_to_utf16_cut(s, 511, w, KVP_KEY_BYTES, &n,
					      NULL), IC_UTF_ETRUNC);
	s[3] = 0;
	assert_int_equal(ic_utf8_to_utf16_cut(s, 511, w, KVP_KEY_BYTES, &n,
					      NULL), IC_UTF_ENUL);
	/* Room for the NUL alone: an empty string, cut. Not even that:
	 * refused. */
	assert_int_equal(ic_utf8_to_utf16_cut("ab", 2, w, 3, &n, &cut),
			 IC_UTF_OK);
	assert_true(cut);
	assert_int_equal(n, 2);
	assert_memory_equal(w, "\0\0", 2);
	assert_int_equal(ic_utf8_to_utf16_cut("ab", 2, w, 1, &n, &cut),
			 IC_UTF_ENOSPACE);
	assert_false(cut);
	assert_int_equal(ic_utf8_to_utf16_cut("", 0, w, 2, &n, &cut),
			 IC_UTF_OK);
	assert_false(cut);
	/* The strict form still refuses what the cutting one shortens. */
	memset(s, 'k', 511);
	assert_int_equal(ic_utf8_to_utf16(s, 511, w, KVP_KEY_BYTES, &n),
			 IC_UTF_ENOSPACE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii_roundtrip),
		cmocka_unit_test(test_multibyte_and_pairs),
		cmocka_unit_test(test_utf8_rejections),
		cmocka_unit_test(test_utf16_rejections),
		cmocka_unit_test(test_kvp_limits),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
