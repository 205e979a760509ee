/* netvsp's capture buffers (hnet_capring.c): records come out of the
 * merge in stamp order across rings, whole and intact across the ring's
 * wrap; those stamped after upto wait; one found late keeps the stream
 * in order; records of another capture's generation are passed over; a
 * full ring drops and counts; and two producer threads against a
 * merging consumer give every frame once, in order. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include <cmocka.h>

#include "hnet_capring.h"

#define OUT_MAX 400000u

struct out {
	unsigned n;
	uint64_t ns[OUT_MAX];
	uint32_t len[OUT_MAX];
	uint32_t tag[OUT_MAX];    /* the frame's first 4 bytes */
	bool bad;                 /* a frame not as put */
};

static void emit(void *arg, const struct hnet_crec *h, const uint8_t *f)
{
	struct out *o = arg;
	uint32_t tag;

	memcpy(&tag, f, sizeof(tag));
	for (uint32_t i = sizeof(tag); i < h->caplen; i++)
		o->bad |= f[i] != (uint8_t)(tag + i);
	o->bad |= o->n >= OUT_MAX;
	if (o->bad)
		return;
	o->ns[o->n] = h->ns;
	o->len[o->n] = h->caplen;
	o->tag[o->n++] = tag;
}

static struct hnet_cring *ring_new(void)
{
	struct hnet_cring *r = aligned_alloc(64, sizeof(*r));

	assert_non_null(r);
	memset(r, 0, sizeof(*r));
	return r;
}

/* A frame of len bytes tagged tag (then bytes tag + i), in two pieces
 * as a worker may have it. */
static bool put(struct hnet_cring *r, uint32_t gen, uint64_t ns,
		uint32_t tag, uint32_t len)
{
	static _Thread_local uint8_t f[HNET_CAP_SNAPLEN];
	struct hnet_crec h = {.ns = ns, .caplen = len, .origlen = len,
			      .gen = gen};
	struct iovec iov[2] = {{f, len / 3}, {f + len / 3, len - len / 3}};

	memcpy(f, &tag, sizeof(tag));
	for (uint32_t i = sizeof(tag); i < len; i++)
		f[i] = (uint8_t)(tag + i);
	return hnet_cring_put(r, &h, iov, 2);
}

struct fix {
	struct hnet_cring *r[2];
	struct out *o;
	struct hnet_cring_merge m;
};

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	x->r[0] = ring_new();
	x->r[1] = ring_new();
	x->o = calloc(1, sizeof(*x->o));
	x->m = (struct hnet_cring_merge){.gen = 1, .upto_ns = UINT64_MAX,
					 .frame = malloc(HNET_CAP_SNAPLEN),
					 .emit = emit, .arg = x->o};
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	free(x->r[0]);
	free(x->r[1]);
	free(x->o);
	free(x->m.frame);
	free(x);
	return 0;
}

static void merge(struct fix *x)
{
	hnet_cring_merge(x->r, 2, &x->m);
	assert_false(x->o->bad);
}

static void want(const struct out *o, const uint64_t *ns, unsigned n)
{
	assert_int_equal(o->n, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(o->ns[i], ns[i]);
}

/* Records of 64 bytes, each tagged with its stamp. */
struct rec {
	unsigned ring;
	uint32_t gen;
	uint64_t ns;
};

static void put_all(struct fix *x, const struct rec *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		assert_true(put(x->r[r[i].ring], r[i].gen, r[i].ns,
				(uint32_t)r[i].ns, 64));
}

static void all_taken(const struct fix *x)
{
	assert_int_equal(x->r[0]->tail, x->r[0]->head);
	assert_int_equal(x->r[1]->tail, x->r[1]->head);
}

static void test_order(void **state)
{
	struct fix *x = *state;
	static const uint64_t w[] = {10, 20, 30, 40, 50, 60};

	/* put ring by ring, as a drain ring after ring would write them */
	for (unsigned i = 0; i < 3; i++)
		assert_true(put(x->r[0], 1, 10 + 20 * i, 10 + 20 * i, 60 + i));
	for (unsigned i = 0; i < 3; i++)
		assert_true(put(x->r[1], 1, 20 + 20 * i, 20 + 20 * i, 1500));
	merge(x);
	want(x->o, w, 6);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(x->o->tag[i], w[i]);
	assert_int_equal(x->o->len[0], 60);
	assert_int_equal(x->o->len[1], 1500);
	all_taken(x);
}

static void test_upto(void **state)
{
	struct fix *x = *state;
	static const struct rec r[] = {{0, 1, 10}, {0, 1, 100}, {1, 1, 50}},
				later = {1, 1, 70};
	static const uint64_t w[] = {10, 50, 70, 100};

	put_all(x, r, 3);
	x->m.upto_ns = 60;
	merge(x);
	want(x->o, w, 2);
	/* ring 0's 100 waited: ring 1's 70, put since, goes before it */
	put_all(x, &later, 1);
	x->m.upto_ns = UINT64_MAX;
	merge(x);
	want(x->o, w, 4);
	assert_int_equal(x->m.late, 0);
}

static void test_late(void **state)
{
	struct fix *x = *state;
	/* ring 1's 40: its worker was held up */
	static const struct rec first = {0, 1, 50},
				r[] = {{1, 1, 40}, {0, 1, 60}};
	static const uint64_t w[] = {50, 50, 60};

	put_all(x, &first, 1);
	merge(x);
	put_all(x, r, 2);
	merge(x);
	want(x->o, w, 3);
	assert_int_equal(x->m.late, 1);
}

static void test_generation(void **state)
{
	struct fix *x = *state;
	/* a stopped capture's records (1), some put after the next began */
	static const struct rec r[] = {{0, 1, 10}, {0, 2, 20}, {0, 1, 30},
				       {1, 1, 15}, {1, 2, 40}},
				old = {1, 1, 50};
	static const uint64_t w[] = {20, 40};

	put_all(x, r, 5);
	x->m.gen = 2;
	merge(x);
	want(x->o, w, 2);
	all_taken(x);
	/* a record of the old one alone in a ring: passed over too */
	put_all(x, &old, 1);
	merge(x);
	want(x->o, w, 2);
	all_taken(x);
}

static void test_full_and_wrap(void **state)
{
	struct fix *x = *state;
	unsigned put_n = 0, rounds = 0;
	uint64_t ns = 1;

	/* fill, drop, empty, again: the records cross the ring's end */
	while (rounds < 5) {
		if (put(x->r[0], 1, ns, (uint32_t)ns, 9000 + (uint32_t)ns % 7)) {
			ns++;
			put_n++;
			continue;
		}
		merge(x);
		rounds++;
	}
	assert_int_equal(x->r[0]->dropped, 5);
	assert_int_equal(x->o->n, put_n);
	for (unsigned i = 0; i < put_n; i++) {
		assert_int_equal(x->o->ns[i], i + 1);
		assert_int_equal(x->o->tag[i], i + 1);
	}
	assert_true(x->r[0]->head > 4 * HNET_CRING_BYTES);
}

/* ---- two producers against a merging consumer ---- */

#define PER_THREAD 100000u

struct prod {
	struct hnet_cring *r;
	uint32_t id;
	unsigned dropped;
};

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *producer(void *arg)
{
	struct prod *p = arg;

	for (uint32_t i = 0; i < PER_THREAD; i++)
		if (!put(p->r, 1, now(), p->id << 24 | i, 64 + i % 200))
			p->dropped++;
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fix *x = *state;
	struct prod p[2] = {{x->r[0], 0, 0}, {x->r[1], 1, 0}};
	pthread_t t[2];
	uint32_t next[2] = {0, 0};

	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, producer, &p[i]), 0);
	for (unsigned i = 0; i < 200; i++) {
		x->m.upto_ns = now() - 2000000u;
		merge(x);
		nanosleep(&(struct timespec){0, 200000}, NULL);
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	x->m.upto_ns = UINT64_MAX;
	merge(x);
	assert_int_equal(x->o->n, 2 * PER_THREAD - p[0].dropped - p[1].dropped);
	for (unsigned i = 0; i < x->o->n; i++) {
		uint32_t id = x->o->tag[i] >> 24, seq = x->o->tag[i] & 0xffffff;

		assert_true(!i || x->o->ns[i] >= x->o->ns[i - 1]);
		assert_true(id < 2 && seq >= next[id]);
		next[id] = seq + 1;
	}
	print_message("%u frames, %u and %u dropped, %llu late\n", x->o->n,
		      p[0].dropped, p[1].dropped,
		      (unsigned long long)x->m.late);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_order), T(test_upto), T(test_late), T(test_generation),
		T(test_full_and_wrap), T(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
