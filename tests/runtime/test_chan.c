/* Two rt_chan endpoints in one process over one memfd: echo traffic in
 * both modes, signal counts, blocked senders, stop, corrupt rings. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan_pair.h"

/* Each test payload: this header, then len bytes derived from seq. The
 * received payload_len includes padding, so the length travels too. */
struct tp_hdr {
	uint32_t seq;
	uint32_t len;
};

static uint8_t tp_byte(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 31u + i * 7u + (i >> 8));
}

static uint32_t tp_make(uint8_t *buf, uint32_t seq, uint32_t len)
{
	struct tp_hdr h = { seq, len };

	memcpy(buf, &h, sizeof(h));
	for (uint32_t i = 0; i < len; i++)
		buf[sizeof(h) + i] = tp_byte(seq, i);
	return (uint32_t)sizeof(h) + len;
}

/* true if pkt carries test payload seq, intact */
static bool tp_check(const struct vmb_pkt *pkt, uint32_t seq)
{
	struct tp_hdr h;

	if (pkt->type != VMB_PKT_INBAND || pkt->xid != seq ||
	    pkt->payload_len < sizeof(h))
		return false;
	memcpy(&h, pkt->payload, sizeof(h));
	if (h.seq != seq || pkt->payload_len < sizeof(h) + h.len ||
	    pkt->payload_len - sizeof(h) - h.len >= 8)
		return false;
	for (uint32_t i = 0; i < h.len; i++)
		if (pkt->payload[sizeof(h) + i] != tp_byte(seq, i))
			return false;
	return true;
}

/* Receiver state of one endpoint. */
struct rx_side {
	_Atomic uint32_t count;
	_Atomic uint32_t errors;
	bool echo;
	/* gate: the callback blocks while closed, after setting entered */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool gate_closed;
	_Atomic bool entered;
};

static void rx_init(struct rx_side *s, bool echo, bool gated)
{
	memset(s, 0, sizeof(*s));
	s->echo = echo;
	s->gate_closed = gated;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

static void gate_open(struct rx_side *s)
{
	pthread_mutex_lock(&s->lock);
	s->gate_closed = false;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_rx(struct rt_chan *ch, const struct vmb_pkt *pkt, void *arg)
{
	struct rx_side *s = arg;
	uint32_t n = atomic_load(&s->count);
	struct vmb_iov iov;

	atomic_store(&s->entered, true);
	pthread_mutex_lock(&s->lock);
	while (s->gate_closed)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (!tp_check(pkt, n))
		atomic_fetch_add(&s->errors, 1);
	if (s->echo) {
		/* Echo from the worker thread; may block on a full ring. */
		iov.base = pkt->payload;
		iov.len = pkt->payload_len;
		if (rt_chan_send_inband(ch, pkt->xid, 0, &iov, 1, false))
			atomic_fetch_add(&s->errors, 1);
	}
	atomic_store(&s->count, n + 1);
}

static bool wait_for(_Atomic uint32_t *v, uint32_t want, int seconds)
{
	for (int i = 0; i < seconds * 1000; i++) {
		if (atomic_load(v) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

struct fixture {
	struct chan_pair p;
	struct rx_side ra, rb;
	struct rt_chan *a, *b;
};

static void fx_start_ex(struct fixture *f, uint64_t ring_len,
			enum rt_chan_mode mode, bool b_echo, bool b_gated,
			bool a_single)
{
	struct rt_chan_cfg c;

	assert_int_equal(chan_pair_init(&f->p, ring_len), 0);
	rx_init(&f->ra, false, false);
	rx_init(&f->rb, b_echo, b_gated);
	chan_pair_cfg(&f->p, 0, &c);
	c.mode = mode;
	c.rx = on_rx;
	c.arg = &f->ra;
	c.single_sender = a_single;
	assert_int_equal(rt_chan_start(&f->a, &c), 0);
	chan_pair_cfg(&f->p, 1, &c);
	c.mode = mode;
	c.rx = on_rx;
	c.arg = &f->rb;
	assert_int_equal(rt_chan_start(&f->b, &c), 0);
}

static void fx_start(struct fixture *f, uint64_t ring_len,
		     enum rt_chan_mode mode, bool b_echo, bool b_gated)
{
	fx_start_ex(f, ring_len, mode, b_echo, b_gated, false);
}

static void fx_stop(struct fixture *f)
{
	rt_chan_stop(f->a);
	rt_chan_stop(f->b);
	chan_pair_destroy(&f->p);
}

static int send_seq(struct rt_chan *ch, uint32_t seq, uint32_t len,
		    bool nowait)
{
	static _Thread_local uint8_t buf[8 + 65536];
	struct vmb_iov iov = { buf, tp_make(buf, seq, len) };

	return rt_chan_send_inband(ch, seq, 0, &iov, 1, nowait);
}

static void echo_run(enum rt_chan_mode mode, uint32_t n)
{
	struct rt_chan_stats sa, sb;
	struct fixture f;

	fx_start(&f, 64 * 1024, mode, true, false);
	srand(7);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(send_seq(f.a, i, (uint32_t)rand() % 3000,
					  false), 0);
	assert_true(wait_for(&f.ra.count, n, 60));
	assert_int_equal(atomic_load(&f.rb.errors), 0);
	assert_int_equal(atomic_load(&f.ra.errors), 0);
	rt_chan_get_stats(f.a, &sa);
	rt_chan_get_stats(f.b, &sb);
	assert_int_equal(sa.tx_packets, n);
	assert_int_equal(sb.rx_packets, n);
	assert_int_equal(sb.tx_packets, n);
	assert_int_equal(sa.rx_packets, n);
	assert_int_equal(sa.tx_bytes, sb.rx_bytes);
	assert_int_equal(sa.bad + sb.bad, 0);
	assert_true(sb.rx_batches >= 1 && sb.rx_batches <= n);
	print_message("mode %d: A sig out %llu in %llu, B sig out %llu in "
		      "%llu, B batches %llu, A full %llu B full %llu\n",
		      mode, (unsigned long long)sa.signals_out,
		      (unsigned long long)sa.signals_in,
		      (unsigned long long)sb.signals_out,
		      (unsigned long long)sb.signals_in,
		      (unsigned long long)sb.rx_batches,
		      (unsigned long long)sa.tx_full,
		      (unsigned long long)sb.tx_full);
	if (mode == RT_CHAN_POLL) {
		/* Both masks stay set and polling senders never ask for
		 * space: not a single signal either way. */
		assert_int_equal(sa.signals_out + sb.signals_out, 0);
		assert_int_equal(sa.signals_in + sb.signals_in, 0);
	} else {
		assert_true(sa.signals_out >= 1);
		assert_true(sa.signals_out <= n);
	}
	fx_stop(&f);
}

static void test_echo_interrupt(void **state)
{
	(void)state;
	echo_run(RT_CHAN_INTERRUPT, 20000);
}

static void test_echo_poll(void **state)
{
	(void)state;
	echo_run(RT_CHAN_POLL, 5000);
}

/* Bursts from a single sender, 1 to 40 packets of up to 6,000 bytes into
 * a 64 KiB ring, so that many bursts outgrow the ring and must publish
 * what they have before waiting for space. B echoes; every packet comes
 * back once, in order. A signals at most once per publish: once per burst,
 * plus once per wait for space. */
static void burst_run(enum rt_chan_mode mode, uint32_t n)
{
	static uint8_t buf[8 + 6000];
	struct rt_chan_stats sa, sb;
	uint32_t seq = 0, bursts = 0;
	struct fixture f;

	fx_start_ex(&f, 64 * 1024, mode, true, false, true);
	srand(11);
	while (seq < n) {
		uint32_t k = 1 + (uint32_t)rand() % 40;

		rt_chan_tx_begin(f.a);
		for (; k && seq < n; k--, seq++) {
			struct vmb_iov iov = {
				buf, tp_make(buf, seq, (uint32_t)rand() % 6000)
			};

			assert_int_equal(rt_chan_put_inband(f.a, seq, 0, &iov,
							    1, false), 0);
		}
		rt_chan_tx_end(f.a);
		bursts++;
	}
	assert_true(wait_for(&f.ra.count, n, 60));
	assert_int_equal(atomic_load(&f.ra.errors), 0);
	assert_int_equal(atomic_load(&f.rb.errors), 0);
	rt_chan_get_stats(f.a, &sa);
	rt_chan_get_stats(f.b, &sb);
	assert_int_equal(sa.tx_packets, n);
	assert_int_equal(sb.rx_packets, n);
	assert_int_equal(sa.tx_bytes, sb.rx_bytes);
	assert_true(sa.signals_out <= bursts + sa.signals_in + sa.tx_full +
				      sa.tx_bytes / 8192);
	if (mode == RT_CHAN_POLL)
		assert_int_equal(sa.signals_out + sb.signals_out, 0);
	fx_stop(&f);
}

static void test_burst_interrupt(void **state)
{
	(void)state;
	burst_run(RT_CHAN_INTERRUPT, 20000);
}

static void test_burst_poll(void **state)
{
	(void)state;
	burst_run(RT_CHAN_POLL, 5000);
}

/* While B's worker is inside its drain (mask set), A's writes raise no
 * signal: 100 packets written then cost no signal at all. */
static void test_signal_batching(void **state)
{
	struct rt_chan_stats sa, sb;
	struct fixture f;

	(void)state;
	fx_start(&f, 256 * 1024, RT_CHAN_INTERRUPT, false, true);
	assert_int_equal(send_seq(f.a, 0, 10, false), 0);
	assert_true(wait_for((_Atomic uint32_t *)&f.rb.entered, 1, 10));
	for (uint32_t i = 1; i <= 100; i++)
		assert_int_equal(send_seq(f.a, i, 100, false), 0);
	rt_chan_get_stats(f.a, &sa);
	assert_true(sa.signals_out <= 1);
	gate_open(&f.rb);
	assert_true(wait_for(&f.rb.count, 101, 10));
	rt_chan_get_stats(f.a, &sa);
	rt_chan_get_stats(f.b, &sb);
	assert_true(sa.signals_out <= 1);
	assert_true(sb.signals_in <= 1);
	assert_int_equal(sb.signals_out, 0); /* A never waited for space */
	assert_int_equal(atomic_load(&f.rb.errors), 0);
	fx_stop(&f);
}

struct sender {
	struct rt_chan *ch;
	uint32_t n, len;
	/* nowait and retry: waiting would need A's worker, which the test
	 * may hold in a callback */
	bool poll_retry;
	int rc;
	_Atomic uint32_t sent;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	s->rc = 0;
	for (uint32_t i = 0; i < s->n && !s->rc; i++) {
		s->rc = send_seq(s->ch, i, s->len, s->poll_retry);
		while (s->rc == VMB_EAGAIN) {
			usleep(1000);
			s->rc = send_seq(s->ch, i, s->len, true);
		}
		if (!s->rc)
			atomic_fetch_add(&s->sent, 1);
	}
	return NULL;
}

/* Ring of 4 KiB of data; B holds its first packet, the sender fills the
 * ring and sleeps until B's drain frees space and signals. */
static void blocked_run(bool stop_instead)
{
	struct sender s = { .n = 60, .len = 500 };
	struct rt_chan_stats sa, sb;
	struct fixture f;
	pthread_t t;
	uint32_t sent;

	fx_start(&f, 2 * 4096, RT_CHAN_INTERRUPT, false, true);
	s.ch = f.a;
	assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
	assert_true(wait_for((_Atomic uint32_t *)&f.rb.entered, 1, 10));
	usleep(100 * 1000);
	sent = atomic_load(&s.sent);
	assert_true(sent < s.n); /* blocked */
	assert_true(sent >= 6);
	rt_chan_get_stats(f.a, &sa);
	assert_int_equal(sa.tx_full, 1);
	if (stop_instead) {
		rt_chan_stop(f.a);
		f.a = NULL;
		pthread_join(t, NULL);
		assert_int_equal(s.rc, VMB_ESHUTDOWN);
		assert_int_equal(atomic_load(&s.sent), sent);
		gate_open(&f.rb);
		assert_true(wait_for(&f.rb.count, sent, 10));
	} else {
		gate_open(&f.rb);
		pthread_join(t, NULL);
		assert_int_equal(s.rc, 0);
		assert_true(wait_for(&f.rb.count, s.n, 10));
		rt_chan_get_stats(f.a, &sa);
		rt_chan_get_stats(f.b, &sb);
		/* The sender slept: B's reads had to signal it. */
		assert_true(sb.signals_out >= 1);
		assert_true(sa.signals_in >= 1);
		assert_true(sa.tx_full >= 1);
	}
	assert_int_equal(atomic_load(&f.rb.errors), 0);
	fx_stop(&f);
}

static void test_blocked_sender_released(void **state)
{
	(void)state;
	blocked_run(false);
}

static void test_stop_blocked_sender(void **state)
{
	(void)state;
	blocked_run(true);
}

/* B echoes from its worker thread into a ring A does not drain (A's
 * callback holds its first packet): B's worker must wait for space itself,
 * on its own eventfd, and resume when A drains. */
static void test_worker_send_blocks(void **state)
{
	struct sender s = { .n = 14, .len = 500, .poll_retry = true };
	struct rt_chan_stats sb;
	struct fixture f;
	pthread_t t;

	(void)state;
	fx_start(&f, 2 * 4096, RT_CHAN_INTERRUPT, true, false);
	pthread_mutex_lock(&f.ra.lock);
	f.ra.gate_closed = true;
	pthread_mutex_unlock(&f.ra.lock);
	s.ch = f.a;
	assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
	assert_true(wait_for((_Atomic uint32_t *)&f.ra.entered, 1, 10));
	usleep(100 * 1000);
	rt_chan_get_stats(f.b, &sb);
	assert_int_equal(sb.tx_full, 1); /* B's worker is waiting */
	assert_true(atomic_load(&f.rb.count) < s.n);
	gate_open(&f.ra);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_true(wait_for(&f.ra.count, s.n, 10));
	rt_chan_get_stats(f.b, &sb);
	assert_true(sb.signals_in >= 1);
	assert_int_equal(atomic_load(&f.ra.errors), 0);
	assert_int_equal(atomic_load(&f.rb.errors), 0);
	fx_stop(&f);
}

static void test_nowait_full(void **state)
{
	struct rt_chan_stats sa;
	struct fixture f;
	uint32_t i;
	int rc = 0;

	(void)state;
	fx_start(&f, 2 * 4096, RT_CHAN_INTERRUPT, false, true);
	for (i = 0; i < 100 && rc == 0; i++)
		rc = send_seq(f.a, i, 500, true);
	assert_int_equal(rc, VMB_EAGAIN);
	rt_chan_get_stats(f.a, &sa);
	assert_int_equal(sa.tx_full, 1);
	assert_int_equal(sa.tx_packets, i - 1);
	gate_open(&f.rb);
	assert_true(wait_for(&f.rb.count, i - 1, 10));
	fx_stop(&f);
}

/* A nowait send from a thread of its own, and what it returned. */
struct nowait_try {
	struct rt_chan *ch;
	_Atomic int rc;
	_Atomic bool done;
};

static void *nowait_main(void *arg)
{
	struct nowait_try *t = arg;

	atomic_store(&t->rc, send_seq(t->ch, 999, 500, true));
	atomic_store(&t->done, true);
	return NULL;
}

/* Polling mode: a sender waiting for space (B holds its first packet,
 * so A's ring stays full) must not keep the send side from a sender
 * that may not wait (a worker's completions): that one is told at once
 * that the ring is full, as in interrupt mode. */
static void test_poll_wait_lets_nowait_by(void **state)
{
	struct sender s = { .n = 60, .len = 500 };
	struct nowait_try nw = { .rc = 1 };
	struct fixture f;
	pthread_t t, u;

	(void)state;
	fx_start(&f, 2 * 4096, RT_CHAN_POLL, false, true);
	s.ch = nw.ch = f.a;
	assert_int_equal(pthread_create(&t, NULL, sender_main, &s), 0);
	assert_true(wait_for((_Atomic uint32_t *)&f.rb.entered, 1, 10));
	usleep(100 * 1000);
	assert_true(atomic_load(&s.sent) < s.n); /* waiting for space */
	assert_int_equal(pthread_create(&u, NULL, nowait_main, &nw), 0);
	for (int i = 0; i < 200 && !atomic_load(&nw.done); i++)
		usleep(10 * 1000);
	assert_true(atomic_load(&nw.done));
	assert_int_equal(atomic_load(&nw.rc), VMB_EAGAIN);
	gate_open(&f.rb);
	pthread_join(u, NULL);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_true(wait_for(&f.rb.count, s.n, 10));
	assert_int_equal(atomic_load(&f.rb.errors), 0);
	fx_stop(&f);
}

/* Impossible arguments are refused before anything is read through
 * them, and the channel stays usable. */
static void test_bad_send_args(void **state)
{
	struct vmb_gpa_range rg[VMB_PKT_MAX_GPA_RANGES + 1] = { 0 };
	struct fixture f;

	(void)state;
	fx_start(&f, 4 * 4096, RT_CHAN_INTERRUPT, false, false);
	assert_int_equal(rt_chan_send_inband(f.a, 1, 0, NULL, 2, true),
			 VMB_EINVAL);
	assert_int_equal(rt_chan_send_gpa(f.a, 1, 0, NULL, 1, NULL, 0, true),
			 VMB_EINVAL);
	assert_int_equal(rt_chan_send_gpa(f.a, 1, 0, rg, VMB_ARRAY_LEN(rg),
					  NULL, 0, true),
			 VMB_EINVAL);
	assert_int_equal(send_seq(f.a, 0, 100, false), VMB_OK);
	assert_true(wait_for(&f.rb.count, 1, 10));
	fx_stop(&f);
}

/* Transfer-page packets: B checks each one's page set, ranges and
 * payload and completes it; A counts the completions of its xids. */
struct xfer_side {
	_Atomic uint32_t count, errors;
};

static bool xfer_ok(const struct vmb_pkt *pkt)
{
	const struct vmb_xfer_range *rg;
	uint32_t n, off, cnt;
	uint16_t set;

	if (vmb_pkt_xfer_ranges(pkt, &set, &rg, &n) || set != 0xcafe ||
	    n != 1 + pkt->xid % 3 || pkt->payload_len < 4 ||
	    memcmp(pkt->payload, "RNDS", 4))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&cnt, &rg[i].byte_count, 4);
		memcpy(&off, &rg[i].byte_offset, 4);
		if (vmb_le32(off) != i * 4096 + (uint32_t)pkt->xid ||
		    vmb_le32(cnt) != 60 + i)
			return false;
	}
	return true;
}

static void on_xfer(struct rt_chan *ch, const struct vmb_pkt *pkt, void *arg)
{
	struct xfer_side *s = arg;
	uint32_t st = 1;

	if (!xfer_ok(pkt) ||
	    rt_chan_send_comp(ch, pkt->xid, &st, sizeof(st), false))
		atomic_fetch_add(&s->errors, 1);
	atomic_fetch_add(&s->count, 1);
}

static void on_xfer_comp(struct rt_chan *ch, const struct vmb_pkt *pkt,
			 void *arg)
{
	struct xfer_side *s = arg;

	(void)ch;
	if (pkt->type != VMB_PKT_COMP || pkt->xid != atomic_load(&s->count))
		atomic_fetch_add(&s->errors, 1);
	atomic_fetch_add(&s->count, 1);
}

static int send_xfer(struct rt_chan *ch, uint32_t xid, bool burst)
{
	const uint16_t fl = VMB_PKT_FLAG_COMPLETION_REQUESTED;
	struct vmb_xfer_range rg[3];
	unsigned n = 1 + xid % 3;

	for (unsigned i = 0; i < n; i++)
		rg[i] = (struct vmb_xfer_range){
			.byte_count = vmb_le32(60 + i),
			.byte_offset = vmb_le32(i * 4096 + xid) };
	if (!burst)
		return rt_chan_send_xfer(ch, xid, fl, 0xcafe, rg, n, "RNDS", 4,
					 false);
	return rt_chan_put_xfer(ch, xid, fl, 0xcafe, rg, n, "RNDS", 4, false);
}

static void test_xfer_pages(void **state)
{
	struct xfer_side sa = { 0 }, sb = { 0 };
	struct chan_pair p;
	struct rt_chan *a, *b;
	struct rt_chan_cfg c;
	uint32_t xid = 0;

	(void)state;
	assert_int_equal(chan_pair_init(&p, 16 * 4096), 0);
	chan_pair_cfg(&p, 0, &c);
	c.rx = on_xfer_comp;
	c.arg = &sa;
	assert_int_equal(rt_chan_start(&a, &c), 0);
	chan_pair_cfg(&p, 1, &c);
	c.rx = on_xfer;
	c.arg = &sb;
	assert_int_equal(rt_chan_start(&b, &c), 0);
	/* Bursts of 16 (more than the ring holds at once in all: the put
	 * waits for B), then single sends. */
	for (int burst = 0; burst < 50; burst++) {
		rt_chan_tx_begin(a);
		for (int i = 0; i < 16; i++)
			assert_int_equal(send_xfer(a, xid++, true), VMB_OK);
		rt_chan_tx_end(a);
	}
	for (int i = 0; i < 100; i++)
		assert_int_equal(send_xfer(a, xid++, false), VMB_OK);
	assert_int_equal(rt_chan_send_xfer(a, 1, 0, 1, NULL, 1, NULL, 0, true),
			 VMB_EINVAL);
	assert_true(wait_for(&sa.count, xid, 30));
	assert_int_equal(atomic_load(&sb.count), xid);
	assert_int_equal(atomic_load(&sa.errors) + atomic_load(&sb.errors), 0);
	rt_chan_stop(a);
	rt_chan_stop(b);
	chan_pair_destroy(&p);
}

/* The peer (here: the test, writing A's ring by hand) corrupts the ring
 * B reads: B counts it, marks itself broken and refuses to send. */
static void corrupt_run(bool bad_index)
{
	struct fixture f;
	uint8_t *ring;
	struct vmb_pktdesc d = { .type = VMB_PKT_INBAND, .offset8 = 1,
				 .len8 = 2 };
	struct rt_chan_stats sb;
	uint64_t one = 1;
	uint32_t *wi, w;

	fx_start(&f, 2 * 4096, RT_CHAN_INTERRUPT, false, false);
	/* One good packet first. */
	assert_int_equal(send_seq(f.a, 0, 20, false), 0);
	assert_true(wait_for(&f.rb.count, 1, 10));
	/* Ring A's write_index is A's to change, and A is idle: we act as
	 * a hostile writer. Atomic stores, as B reads the word concurrently. */
	ring = chan_pair_ring(&f.p, 0);
	wi = (uint32_t *)(ring + offsetof(struct vmb_ring_hdr, write_index));
	w = __atomic_load_n(wi, __ATOMIC_RELAXED);
	if (bad_index) {
		w += 4; /* not a packet boundary */
	} else {
		/* offset8 = 1 would put the payload inside the descriptor */
		memcpy(ring + 4096 + w, &d, sizeof(d));
		w += 24;
	}
	__atomic_store_n(wi, w, __ATOMIC_RELEASE);
	assert_int_equal(write(f.p.to_b, &one, 8), 8);
	for (int i = 0; i < 10000 && !rt_chan_broken(f.b); i++)
		usleep(1000);
	assert_true(rt_chan_broken(f.b));
	rt_chan_get_stats(f.b, &sb);
	assert_int_equal(sb.bad, 1);
	assert_int_equal(sb.rx_packets, 1);
	assert_int_equal(send_seq(f.b, 0, 20, false), VMB_ESHUTDOWN);
	/* More signals are ignored, not re-counted. */
	assert_int_equal(write(f.p.to_b, &one, 8), 8);
	usleep(20 * 1000);
	rt_chan_get_stats(f.b, &sb);
	assert_int_equal(sb.bad, 1);
	assert_false(rt_chan_broken(f.a));
	fx_stop(&f);
}

static void test_corrupt_index(void **state)
{
	(void)state;
	corrupt_run(true);
}

static void test_corrupt_descriptor(void **state)
{
	(void)state;
	corrupt_run(false);
}

static void test_set_cpu(void **state)
{
	struct fixture f;

	(void)state;
	fx_start(&f, 2 * 4096, RT_CHAN_INTERRUPT, false, false);
	assert_int_equal(rt_chan_cpu(f.a), -1);
	assert_int_equal(rt_chan_set_cpu(f.a, 0), 0);
	assert_int_equal(rt_chan_cpu(f.a), 0);
	assert_int_not_equal(rt_chan_set_cpu(f.a, 100000), 0);
	assert_int_equal(rt_chan_cpu(f.a), 0);
	assert_int_equal(rt_chan_set_cpu(f.a, -1), 0);
	assert_int_equal(rt_chan_cpu(f.a), -1);
	/* Still delivers after moving. */
	assert_int_equal(send_seq(f.a, 0, 20, false), 0);
	assert_true(wait_for(&f.rb.count, 1, 10));
	fx_stop(&f);
}

static void test_bad_cfg(void **state)
{
	struct chan_pair p;
	struct rt_chan_cfg c;
	struct rt_chan *ch;

	(void)state;
	assert_int_equal(chan_pair_init(&p, 2 * 4096), 0);
	chan_pair_cfg(&p, 0, &c);
	assert_int_equal(rt_chan_start(&ch, &c), -EINVAL); /* no rx */
	c.rx = on_rx;
	c.tx_len = 4096; /* header page only */
	assert_int_equal(rt_chan_start(&ch, &c), -EINVAL);
	assert_null(ch);
	chan_pair_destroy(&p);
}

/* An aux descriptor that is not an eventfd (aux_level): the worker only
 * polls it; every byte reaches the callback, which reads it itself. */
struct aux_side {
	int fd;
	_Atomic uint32_t bytes;
};

static void on_rx_none(struct rt_chan *ch, const struct vmb_pkt *pkt,
		       void *arg)
{
	(void)ch;
	(void)pkt;
	(void)arg;
}

static void on_aux_read(struct rt_chan *ch, void *arg)
{
	struct aux_side *s = arg;
	char buf[16];
	ssize_t n;

	(void)ch;
	while ((n = read(s->fd, buf, sizeof(buf))) > 0)
		atomic_fetch_add(&s->bytes, (uint32_t)n);
}

static void aux_level_run(enum rt_chan_mode mode)
{
	struct aux_side s = {0};
	struct chan_pair p;
	struct rt_chan_cfg c;
	struct rt_chan *ch;
	int pfd[2];

	assert_int_equal(chan_pair_init(&p, 2 * 4096), 0);
	assert_int_equal(pipe2(pfd, O_NONBLOCK | O_CLOEXEC), 0);
	s.fd = pfd[0];
	chan_pair_cfg(&p, 0, &c);
	c.mode = mode;
	c.rx = on_rx_none;
	c.aux = on_aux_read;
	c.aux_fd = pfd[0];
	c.aux_level = true;
	c.arg = &s;
	assert_int_equal(rt_chan_start(&ch, &c), 0);
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(write(pfd[1], "abc", 3), 3);
		assert_true(wait_for(&s.bytes, 3 * i, 10));
	}
	rt_chan_stop(ch);
	assert_int_equal(atomic_load(&s.bytes), 9);
	close(pfd[0]);
	close(pfd[1]);
	chan_pair_destroy(&p);
}

static void test_aux_level_interrupt(void **state)
{
	(void)state;
	aux_level_run(RT_CHAN_INTERRUPT);
}

static void test_aux_level_poll(void **state)
{
	(void)state;
	aux_level_run(RT_CHAN_POLL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_interrupt),
		cmocka_unit_test(test_echo_poll),
		cmocka_unit_test(test_burst_interrupt),
		cmocka_unit_test(test_burst_poll),
		cmocka_unit_test(test_signal_batching),
		cmocka_unit_test(test_blocked_sender_released),
		cmocka_unit_test(test_stop_blocked_sender),
		cmocka_unit_test(test_worker_send_blocks),
		cmocka_unit_test(test_nowait_full),
		cmocka_unit_test(test_poll_wait_lets_nowait_by),
		cmocka_unit_test(test_bad_send_args),
		cmocka_unit_test(test_xfer_pages),
		cmocka_unit_test(test_corrupt_index),
		cmocka_unit_test(test_corrupt_descriptor),
		cmocka_unit_test(test_set_cpu),
		cmocka_unit_test(test_bad_cfg),
		cmocka_unit_test(test_aux_level_interrupt),
		cmocka_unit_test(test_aux_level_poll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
