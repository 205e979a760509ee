/* VMBus ring under load: a writer thread and a reader thread, each with
 * its own struct vmb_ring on one shared mapping, move 10 million packets
 * of random sizes, written in bursts of 1 to 16. Signals go through condition variables standing in for
 * the hypervisor's event: the writer sleeps on a full ring via
 * pending_send_sz, the reader drains in batches with interrupts masked.
 * Every byte is checked; a lost wakeup shows up as a timed-out wait.
 * Signal counts are printed, not asserted: how often the reader finds the
 * ring dry depends on scheduling (a loaded machine doubles them). The
 * exact counts under the rules are asserted in test_ring.c, the figures
 * under saturation measured by hvis-bench.
 * HVIS_STRESS_PACKETS overrides the packet count (for quick runs). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vmbus/vmb_ring.h"

#define PG VMB_PAGE_SIZE
#define RING_PAGES 17 /* 64 KiB of data */
#define MAX_PLEN 4096u
#define BATCH_MAX 32
#define WAIT_LIMIT_S 30 /* no progress for this long = a lost signal */

/* One direction of the hypervisor's per-channel event. */
struct event {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool pending;
};

struct stress {
	uint8_t *mem;
	uint64_t npkts;
	struct event to_reader; /* "data in your ring" */
	struct event to_writer; /* "space in the ring you write" */
	atomic_bool stop;
	struct vmb_ring_stats wst, rst;
	uint64_t wsleeps, rsleeps, received;
	char err[160]; /* first failure, set by the thread that saw it */
};

static void ev_init(struct event *e)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, &a);
	pthread_condattr_destroy(&a);
	e->pending = false;
}

static void ev_destroy(struct event *e)
{
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
}

static void ev_post(struct event *e)
{
	pthread_mutex_lock(&e->mu);
	e->pending = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* false if nothing arrived within WAIT_LIMIT_S */
static bool ev_wait(struct event *e, struct stress *s)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += WAIT_LIMIT_S;
	pthread_mutex_lock(&e->mu);
	while (!e->pending && !atomic_load(&s->stop) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&e->cv, &e->mu, &dl);
	e->pending = false;
	pthread_mutex_unlock(&e->mu);
	return rc != ETIMEDOUT;
}

static void fail_run(struct stress *s, const char *fmt, ...)
{
	va_list ap;

	if (!atomic_exchange(&s->stop, true)) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
	}
	ev_post(&s->to_reader);
	ev_post(&s->to_writer);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* Mostly small packets, some up to a few KiB; a function of seq so the
 * reader knows what to expect. */
static uint32_t plen_of(uint64_t seq)
{
	uint64_t h = mix(seq);
	uint32_t k = (uint32_t)(h % 1000);

	if (k < 900)
		return (uint32_t)((h >> 16) % 128);
	if (k < 990)
		return (uint32_t)((h >> 16) % 1024);
	return (uint32_t)((h >> 16) % MAX_PLEN);
}

static uint64_t word_of(uint64_t seq, uint32_t i)
{
	return (seq << 24) ^ ((uint64_t)i * 0x9E3779B97F4A7C15ull) ^ i;
}

static void fill_payload(uint64_t *p, uint64_t seq, uint32_t plen)
{
	for (uint32_t i = 0; i < (plen + 7) / 8; i++)
		p[i] = word_of(seq, i);
}

/* Publish the burst; the reader is signalled as the ring rules say. */
static bool commit(struct stress *s, struct vmb_ring *w)
{
	bool sig;
	int rc = vmb_ring_commit(w, &sig);

	if (rc != VMB_OK) {
		fail_run(s, "commit: %d", rc);
		return false;
	}
	if (sig)
		ev_post(&s->to_reader);
	return true;
}

/* One packet into the burst. A full ring makes the writer publish the
 * burst so far (the reader cannot free what it cannot see) and sleep. */
static bool write_one(struct stress *s, struct vmb_ring *w, uint64_t seq,
		      uint64_t *payload)
{
	uint32_t plen = plen_of(seq);
	struct vmb_pktdesc d = {
		.type = VMB_PKT_INBAND,
		.offset8 = 2,
		.len8 = (uint16_t)(VMB_ALIGN8(16 + plen) / 8),
		.xid = seq,
	};
	struct vmb_iov iov[2] = { { &d, sizeof(d) }, { payload, plen } };
	bool wanted = false;
	int rc;

	fill_payload(payload, seq, plen);
	for (;;) {
		rc = vmb_ring_put(w, iov, 2);
		if (rc == VMB_OK)
			break;
		if (rc != VMB_EAGAIN) {
			fail_run(s, "write seq %llu: %d",
				 (unsigned long long)seq, rc);
			return false;
		}
		if (!commit(s, w))
			return false;
		wanted = true;
		if (vmb_ring_want_space(w, vmb_ring_pkt_space(16 + plen)))
			continue;
		s->wsleeps++;
		if (!ev_wait(&s->to_writer, s)) {
			fail_run(s, "writer: no space signal (seq %llu)",
				 (unsigned long long)seq);
			return false;
		}
		if (atomic_load(&s->stop))
			return false;
	}
	if (wanted)
		vmb_ring_clear_want(w);
	return true;
}

/* Bursts of 1 to 16 packets, the length drawn from the sequence. */
static unsigned burst_len(uint64_t seq)
{
	return 1u + (unsigned)((seq * 0x9E3779B97F4A7C15ull) >> 60);
}

static void *writer_main(void *arg)
{
	struct stress *s = arg;
	uint64_t *payload = malloc(MAX_PLEN);
	struct vmb_ring w;

	if (!payload ||
	    vmb_ring_attach(&w, s->mem, (uint64_t)RING_PAGES * PG)) {
		fail_run(s, "writer setup");
		free(payload);
		return NULL;
	}
	for (uint64_t seq = 0, left = 0; seq < s->npkts; seq++) {
		if (!left)
			left = burst_len(seq);
		if (!write_one(s, &w, seq, payload))
			break;
		if (--left == 0 || seq + 1 == s->npkts)
			if (!commit(s, &w))
				break;
	}
	s->wst = w.st;
	free(payload);
	return NULL;
}

static bool check_one(struct stress *s, const uint64_t *buf, uint32_t len)
{
	uint64_t seq = s->received;
	uint32_t plen = plen_of(seq);
	struct vmb_pktdesc d;
	uint64_t last = 0;

	memcpy(&d, buf, sizeof(d));
	if (d.xid != seq || len != VMB_ALIGN8(16 + plen)) {
		fail_run(s, "got xid %llu len %u, want %llu len %u",
			 (unsigned long long)d.xid, len,
			 (unsigned long long)seq, VMB_ALIGN8(16 + plen));
		return false;
	}
	for (uint32_t i = 0; i < plen / 8; i++) {
		if (buf[2 + i] != word_of(seq, i)) {
			fail_run(s, "seq %llu word %u corrupt",
				 (unsigned long long)seq, i);
			return false;
		}
	}
	if (plen % 8) {
		/* Last partial word: payload bytes, then zero padding. */
		uint64_t want = word_of(seq, plen / 8);

		memcpy(&last, &want, plen % 8);
		if (buf[2 + plen / 8] != last) {
			fail_run(s, "seq %llu tail corrupt",
				 (unsigned long long)seq);
			return false;
		}
	}
	s->received++;
	return true;
}

/* One batch of at most BATCH_MAX packets; how many it consumed, or -1. */
static int read_batch(struct stress *s, struct vmb_ring *r, uint64_t *buf)
{
	struct vmb_ring_rd b;
	uint32_t len;
	int n = 0, rc = VMB_OK;

	vmb_ring_rd_begin(r, &b);
	while (n < BATCH_MAX &&
	       (rc = vmb_ring_rd_next(r, &b, buf, MAX_PLEN + 16, &len)) ==
		       VMB_OK) {
		if (!check_one(s, buf, len))
			return -1;
		n++;
	}
	if (rc != VMB_OK && rc != VMB_EAGAIN) {
		fail_run(s, "read: %d", rc);
		return -1;
	}
	if (vmb_ring_rd_end(r, &b))
		ev_post(&s->to_writer);
	return n;
}

static void *reader_main(void *arg)
{
	struct stress *s = arg;
	uint64_t *buf = malloc(MAX_PLEN + 16);
	struct vmb_ring r;
	int n;

	if (!buf || vmb_ring_attach(&r, s->mem, (uint64_t)RING_PAGES * PG)) {
		fail_run(s, "reader setup");
		free(buf);
		return NULL;
	}
	while (s->received < s->npkts && !atomic_load(&s->stop)) {
		vmb_ring_mask(&r);
		while ((n = read_batch(s, &r, buf)) > 0)
			;
		if (n < 0 || s->received == s->npkts)
			break;
		if (vmb_ring_unmask(&r))
			continue;
		s->rsleeps++;
		if (!ev_wait(&s->to_reader, s)) {
			fail_run(s, "reader: no data signal after %llu",
				 (unsigned long long)s->received);
			break;
		}
	}
	s->rst = r.st;
	free(buf);
	return NULL;
}

static void test_stress(void **state)
{
	const char *env = getenv("HVIS_STRESS_PACKETS");
	struct stress *s = calloc(1, sizeof(*s));
	struct vmb_ring init;
	pthread_t wt, rt;

	(void)state;
	assert_non_null(s);
	s->npkts = env ? strtoull(env, NULL, 0) : 10000000ull;
	s->mem = aligned_alloc(PG, (size_t)RING_PAGES * PG);
	assert_non_null(s->mem);
	assert_int_equal(vmb_ring_attach(&init, s->mem,
					 (uint64_t)RING_PAGES * PG), VMB_OK);
	vmb_ring_init_shared(&init, true);
	ev_init(&s->to_reader);
	ev_init(&s->to_writer);
	atomic_init(&s->stop, false);

	assert_int_equal(pthread_create(&rt, NULL, reader_main, s), 0);
	assert_int_equal(pthread_create(&wt, NULL, writer_main, s), 0);
	pthread_join(wt, NULL);
	pthread_join(rt, NULL);

	print_message("%llu packets, %llu bytes, %llu batches; signals: "
		      "%llu to reader, %llu to writer; sleeps: reader %llu, "
		      "writer %llu; ring full %llu times\n",
		      (unsigned long long)s->rst.packets,
		      (unsigned long long)s->rst.bytes,
		      (unsigned long long)s->rst.batches,
		      (unsigned long long)s->wst.signals,
		      (unsigned long long)s->rst.signals,
		      (unsigned long long)s->rsleeps,
		      (unsigned long long)s->wsleeps,
		      (unsigned long long)s->wst.full);
	if (s->err[0])
		fail_msg("%s", s->err);
	assert_int_equal(s->received, s->npkts);
	assert_int_equal(s->wst.packets, s->npkts);
	assert_int_equal(s->rst.packets, s->npkts);
	assert_int_equal(s->wst.bytes, s->rst.bytes);
	assert_int_equal(s->wst.bad + s->rst.bad, 0);
	assert_false(vmb_ring_has_data(&init));

	ev_destroy(&s->to_reader);
	ev_destroy(&s->to_writer);
	free(s->mem);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
