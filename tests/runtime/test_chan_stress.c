/* Two processes, one channel: the child sends 10 million packets of
 * pseudo-random sizes (mostly up to 256 bytes, one in a hundred up to
 * 4 KiB) through a shared memfd and inherited eventfds, the parent checks
 * every byte against what the sequence number predicts and answers the
 * end marker with its totals, which the child compares with its own.
 * Interrupt mode on both sides; then 2 million in polling mode. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan_pair.h"

#define STRESS_SMALL_LEN 256u
#define STRESS_MAX_LEN 4096u
#define END_XID UINT64_MAX

struct stress_run {
	enum rt_chan_mode mode;
	uint32_t packets;
};

/* Set before the fork, so the child runs the same. */
static const struct stress_run *run;

/* Byte i of packet seq is pattern[pat_off(seq) + i]: the sender sends
 * straight from the table, the receiver compares against it. */
static uint8_t pattern[256 + STRESS_MAX_LEN];

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	return x ^ (x >> 16);
}

static uint32_t pkt_len(uint32_t seq)
{
	uint32_t h = mix(seq);

	if (h % 100 == 0)
		return mix(h) % (STRESS_MAX_LEN + 1);
	return mix(h) % (STRESS_SMALL_LEN + 1);
}

static uint32_t pat_off(uint32_t seq)
{
	return (seq * 131u) & 0xff;
}

struct stress_hdr {
	uint32_t seq;
	uint32_t len;
};

struct totals {
	uint64_t packets;
	uint64_t bytes;
	uint64_t errors;
};

/* ---- parent: receiver ---- */

struct rx_state {
	uint32_t next;
	struct totals t;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	struct totals claimed; /* from the child's end marker */
};

static void parent_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		      void *arg)
{
	struct rx_state *s = arg;
	struct stress_hdr h;

	(void)ch;
	if (pkt->xid == END_XID) {
		pthread_mutex_lock(&s->lock);
		if (pkt->payload_len >= sizeof(s->claimed))
			memcpy(&s->claimed, pkt->payload,
			       sizeof(s->claimed));
		else
			s->t.errors++;
		s->done = true;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (pkt->payload_len < sizeof(h)) {
		s->t.errors++;
		return;
	}
	memcpy(&h, pkt->payload, sizeof(h));
	if (pkt->xid != s->next || h.seq != s->next ||
	    h.len != pkt_len(h.seq) ||
	    pkt->payload_len - sizeof(h) < h.len ||
	    pkt->payload_len - sizeof(h) - h.len >= 8 ||
	    memcmp(pkt->payload + sizeof(h), pattern + pat_off(h.seq),
		   h.len))
		s->t.errors++;
	s->next++;
	s->t.packets++;
	s->t.bytes += h.len;
}

/* ---- child: sender ---- */

struct tx_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool got;
	struct totals reply;
};

static void child_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		     void *arg)
{
	struct tx_state *s = arg;

	(void)ch;
	pthread_mutex_lock(&s->lock);
	if (pkt->type == VMB_PKT_COMP && pkt->xid == END_XID &&
	    pkt->payload_len >= sizeof(s->reply))
		memcpy(&s->reply, pkt->payload, sizeof(s->reply));
	else
		s->reply.errors = ~0ull;
	s->got = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int child_main(struct chan_pair *p)
{
	struct tx_state s = { .got = false };
	struct totals mine = { 0 };
	struct rt_chan_cfg c;
	struct rt_chan *ch;
	struct stress_hdr h;
	struct vmb_iov iov[2] = { { &h, sizeof(h) } };
	int rc = 0;

	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	chan_pair_cfg(p, 0, &c);
	c.rx = child_rx;
	c.arg = &s;
	c.mode = run->mode;
	if (rt_chan_start(&ch, &c))
		return 10;
	for (uint32_t seq = 0; seq < run->packets && !rc; seq++) {
		h.seq = seq;
		h.len = pkt_len(seq);
		iov[1].base = pattern + pat_off(seq);
		iov[1].len = h.len;
		rc = rt_chan_send_inband(ch, seq, 0, iov, 2, false);
		mine.packets++;
		mine.bytes += h.len;
	}
	if (rc)
		return 11;
	iov[0] = (struct vmb_iov){ &mine, sizeof(mine) };
	if (rt_chan_send_inband(ch, END_XID, 0, iov, 1, false))
		return 12;
	pthread_mutex_lock(&s.lock);
	while (!s.got)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	rt_chan_stop(ch);
	if (s.reply.errors || s.reply.packets != mine.packets ||
	    s.reply.bytes != mine.bytes)
		return 13;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_two_process_stress(void **state)
{
	const uint32_t npkts = ((const struct stress_run *)*state)->packets;
	struct rx_state s = { .next = 0 };
	struct rt_chan_stats st;
	struct rt_chan_cfg c;
	struct chan_pair p;
	struct rt_chan *ch;
	double t0 = now_s(), dt;
	pid_t pid;
	int status;

	run = *state;
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 8));
	assert_int_equal(chan_pair_init(&p, 256 * 1024), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_main(&p));

	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	chan_pair_cfg(&p, 1, &c);
	c.rx = parent_rx;
	c.arg = &s;
	c.mode = run->mode;
	assert_int_equal(rt_chan_start(&ch, &c), 0);
	pthread_mutex_lock(&s.lock);
	while (!s.done)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	/* The worker is past the last data packet: s.t is final. */
	assert_int_equal(rt_chan_send_comp(ch, END_XID, &s.t, sizeof(s.t),
					   false), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	dt = now_s() - t0;
	rt_chan_get_stats(ch, &st);
	rt_chan_stop(ch);
	print_message("%s: %u packets in %.1f s; parent: %llu batches, "
		      "%llu signals in, %llu out\n",
		      run->mode == RT_CHAN_POLL ? "poll" : "interrupt", npkts,
		      dt, (unsigned long long)st.rx_batches,
		      (unsigned long long)st.signals_in,
		      (unsigned long long)st.signals_out);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(s.t.errors, 0);
	assert_int_equal(s.t.packets, npkts);
	assert_int_equal(s.claimed.packets, npkts);
	assert_int_equal(s.claimed.bytes, s.t.bytes);
	assert_int_equal(st.bad, 0);
	assert_int_equal(st.rx_packets, npkts + 1);
	chan_pair_destroy(&p);
}

int main(void)
{
	static const struct stress_run irq = { RT_CHAN_INTERRUPT, 10000000 };
	static const struct stress_run poll = { RT_CHAN_POLL, 2000000 };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_two_process_stress,
					  (void *)&irq),
		cmocka_unit_test_prestate(test_two_process_stress,
					  (void *)&poll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
