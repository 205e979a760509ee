/* The blocks an NBD request touches and the lock set of an export's
 * writes (guest/os/nbdx_span.c), alone: covering blocks, partial ones
 * and whole ones inside, the merge of a partial block around a payload
 * and its zeroing, and who waits for whom (qemu's serialising requests:
 * a write holding partial blocks and any write touching them are never
 * with the disk at once, the earlier one goes first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nbdx_priv.h"

/* ---- spans ---- */

struct span_case {
	uint64_t off;
	uint32_t len, bs;
	uint64_t start, slen;
	unsigned nedge;
	uint64_t e0, e1, in_start, in_len;
};

static const struct span_case spans[] = {
	/* both ends partial, whole blocks between */
	{1000, 3000, 512, 512, 3584, 2, 0, 3072, 1024, 2560},
	/* aligned: nothing partial, all inside */
	{512, 512, 512, 512, 512, 0, 0, 0, 512, 512},
	/* one byte: one partial block, listed once */
	{1, 1, 512, 0, 512, 1, 0, 0, 512, 0},
	/* ends on a block boundary: the head only */
	{100, 412, 512, 0, 512, 1, 0, 0, 512, 0},
	/* starts on one: the tail only */
	{512, 100, 512, 512, 512, 1, 0, 0, 512, 0},
	/* across one boundary, no whole block */
	{500, 24, 512, 0, 1024, 2, 0, 512, 512, 0},
	/* 4 KiB blocks */
	{4095, 4098, 4096, 0, 12288, 2, 0, 8192, 4096, 4096},
	/* the largest WRITE_ZEROES, unaligned: 64-bit sizes */
	{1, 0xffffffffu, 4096, 0, 0x100000000ull, 1, 0, 0, 4096,
	 0xfffff000ull},
};

static void test_span_of(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		const struct span_case *c = &spans[i];
		struct nbdx_span sp;

		nbdx_span_of(c->off, c->len, c->bs, &sp);
		assert_int_equal(sp.start, c->start);
		assert_int_equal(sp.len, c->slen);
		assert_int_equal(sp.skew, c->off - c->start);
		assert_int_equal(sp.nedge, c->nedge);
		if (c->nedge > 0)
			assert_int_equal(sp.edge[0], c->e0);
		if (c->nedge > 1)
			assert_int_equal(sp.edge[1], c->e1);
		assert_int_equal(sp.in_start, c->in_start);
		assert_int_equal(sp.in_len, c->in_len);
	}
}

/* A payload of 0xab at 1000..3999 in its covering blocks (512..4095),
 * the old blocks 0x11 (head) and 0x22 (tail): only the bytes outside
 * the payload change. */
static void test_span_keep(void **state)
{
	uint8_t span[3584], head[512], tail[512];
	struct nbdx_span sp;

	(void)state;
	nbdx_span_of(1000, 3000, 512, &sp);
	memset(span, 0xee, sizeof(span));
	memset(span + sp.skew, 0xab, 3000);
	memset(head, 0x11, sizeof(head));
	memset(tail, 0x22, sizeof(tail));
	nbdx_span_keep(&sp, span, sp.edge[0], head);
	nbdx_span_keep(&sp, span, sp.edge[1], tail);
	for (unsigned i = 0; i < sizeof(span); i++) {
		uint8_t want = i < sp.skew ? 0x11 : i < sp.skew + 3000 ? 0xab
								  : 0x22;

		assert_int_equal(span[i], want);
	}
}

/* One block holding the whole request: both sides from the old block. */
static void test_span_keep_one_block(void **state)
{
	uint8_t span[512], blk[512];
	struct nbdx_span sp;

	(void)state;
	nbdx_span_of(4096 + 10, 20, 512, &sp);
	assert_int_equal(sp.nedge, 1);
	memset(span, 0xab, sizeof(span));
	memset(blk, 0x11, sizeof(blk));
	nbdx_span_keep(&sp, span, sp.edge[0], blk);
	for (unsigned i = 0; i < sizeof(span); i++)
		assert_int_equal(span[i], i >= 10 && i < 30 ? 0xab : 0x11);
}

static void test_span_zero(void **state)
{
	uint8_t head[512], tail[512];
	struct nbdx_span sp;

	(void)state;
	nbdx_span_of(1000, 3000, 512, &sp);
	memset(head, 0x11, sizeof(head));
	memset(tail, 0x22, sizeof(tail));
	nbdx_span_zero(&sp, sp.edge[0], head);
	nbdx_span_zero(&sp, sp.edge[1], tail);
	for (unsigned i = 0; i < 512; i++) {
		assert_int_equal(head[i], i < 488 ? 0x11 : 0);
		assert_int_equal(tail[i], i < 4000 - 3584 ? 0 : 0x22);
	}
}

/* ---- the lock set ---- */

/* A write of [off, off + len) as nbdx enters it. */
static struct nbdx_lk lk(uint64_t off, uint32_t len)
{
	struct nbdx_span sp;
	struct nbdx_lk k = {.lbs = 512};

	nbdx_span_of(off, len, 512, &sp);
	k.a = sp.start;
	k.b = sp.start + sp.len;
	k.nl = sp.nedge;
	for (unsigned i = 0; i < sp.nedge; i++)
		k.la[i] = sp.start + sp.edge[i];
	return k;
}

static unsigned count(const struct nbdx_lk *ready)
{
	unsigned n = 0;

	for (; ready; ready = ready->wnext)
		n++;
	return n;
}

/* Two read-modify-writes of one block: the second waits for the first,
 * then goes. Writes elsewhere never wait. */
static void test_lk_two_rmw(void **state)
{
	struct nbdx_lkset s = {0};
	struct nbdx_lk a = lk(1000, 10), b = lk(1020, 10), c = lk(8192, 512),
		       d = lk(9000, 10), *ready = NULL;

	(void)state;
	assert_true(nbdx_lk_enter(&s, &a));
	assert_false(nbdx_lk_enter(&s, &b));
	assert_true(nbdx_lk_enter(&s, &c));
	assert_true(nbdx_lk_enter(&s, &d));
	nbdx_lk_leave(&s, &c, &ready);
	assert_null(ready);
	nbdx_lk_leave(&s, &a, &ready);
	assert_ptr_equal(ready, &b);
	assert_int_equal(count(ready), 1);
	nbdx_lk_leave(&s, &b, &ready);
	nbdx_lk_leave(&s, &d, &ready);
	assert_null(s.head);
	assert_null(s.tail);
	assert_int_equal(s.serial, 0);
}

/* An aligned write in flight on the block: the read-modify-write waits
 * for it (else it would read the block before that write and put the
 * old bytes back after it); one arriving after waits for the RMW. */
static void test_lk_aligned_around(void **state)
{
	struct nbdx_lkset s = {0};
	struct nbdx_lk w1 = lk(0, 4096), r = lk(1000, 100), w2 = lk(512, 512),
		       *ready = NULL;

	(void)state;
	assert_true(nbdx_lk_enter(&s, &w1));
	assert_false(nbdx_lk_enter(&s, &r));
	assert_false(nbdx_lk_enter(&s, &w2));
	nbdx_lk_leave(&s, &w1, &ready);
	assert_ptr_equal(ready, &r);
	assert_int_equal(count(ready), 1);
	ready = NULL;
	nbdx_lk_leave(&s, &r, &ready);
	assert_ptr_equal(ready, &w2);
	nbdx_lk_leave(&s, &w2, &ready);
	assert_null(s.head);
}

/* Aligned writes alone never wait for each other, overlapping or not
 * (as before: the disk orders them, NBD promises nothing between
 * concurrent overlapping writes). */
static void test_lk_aligned_only(void **state)
{
	struct nbdx_lkset s = {0};
	struct nbdx_lk a = lk(0, 4096), b = lk(0, 4096), *ready = NULL;

	(void)state;
	assert_true(nbdx_lk_enter(&s, &a));
	assert_true(nbdx_lk_enter(&s, &b));
	nbdx_lk_leave(&s, &a, &ready);
	nbdx_lk_leave(&s, &b, &ready);
	assert_null(ready);
}

/* A chain: each waits for the one before; when the first leaves, the
 * second goes and the third moves on to wait for the second, in
 * arrival order. */
static void test_lk_chain(void **state)
{
	struct nbdx_lkset s = {0};
	struct nbdx_lk k[4] = {lk(1000, 10), lk(1010, 10), lk(0, 2048),
			       lk(1020, 10)};
	struct nbdx_lk *ready = NULL;

	(void)state;
	assert_true(nbdx_lk_enter(&s, &k[0]));
	for (unsigned i = 1; i < 4; i++)
		assert_false(nbdx_lk_enter(&s, &k[i]));
	for (unsigned i = 0; i < 3; i++) {
		ready = NULL;
		nbdx_lk_leave(&s, &k[i], &ready);
		assert_ptr_equal(ready, &k[i + 1]);
		assert_int_equal(count(ready), 1);
	}
	ready = NULL;
	nbdx_lk_leave(&s, &k[3], &ready);
	assert_null(ready);
	assert_null(s.head);
}

/* Two waiters of one write that do not conflict with each other both
 * go when it leaves. */
static void test_lk_two_ready(void **state)
{
	struct nbdx_lkset s = {0};
	struct nbdx_lk big = lk(100, 8000), a = lk(1000, 10),
		       b = lk(5000, 10), *ready = NULL;

	(void)state;
	assert_true(nbdx_lk_enter(&s, &big));
	assert_false(nbdx_lk_enter(&s, &a));
	assert_false(nbdx_lk_enter(&s, &b));
	nbdx_lk_leave(&s, &big, &ready);
	assert_int_equal(count(ready), 2);
	nbdx_lk_leave(&s, &a, &ready);
	nbdx_lk_leave(&s, &b, &ready);
	assert_null(s.head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span_of),
		cmocka_unit_test(test_span_keep),
		cmocka_unit_test(test_span_keep_one_block),
		cmocka_unit_test(test_span_zero),
		cmocka_unit_test(test_lk_two_rmw),
		cmocka_unit_test(test_lk_aligned_around),
		cmocka_unit_test(test_lk_aligned_only),
		cmocka_unit_test(test_lk_chain),
		cmocka_unit_test(test_lk_two_ready),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
