/* The transport connection that never blocks: over real socketpairs
 * and a real event loop, frames keep their order when the socket is
 * full, descriptors of queued frames survive the caller closing its own,
 * a peer that never reads is dropped from the loop (not waited for) once
 * the queue is full, a paused connection reads nothing, and a callback
 * may close the connection under its feet. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_loop.h"
#include "rt_xport.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

struct side {
	struct rt_loop *loop;
	struct rt_xport_conn *x;
	uint64_t bad;
	unsigned frames;
	uint32_t last_seq;
	bool in_order;
	bool close_on_frame;
	char gone[160];
	unsigned gone_calls;
};

static void on_frame(void *arg, struct rt_frame *f)
{
	struct side *s = arg;
	uint32_t seq;

	memcpy(&seq, f->payload, sizeof(seq));
	s->in_order = s->in_order && seq == s->last_seq + 1;
	s->last_seq = seq;
	s->frames++;
	if (s->close_on_frame) {
		rt_xport_close(s->x);
		s->x = NULL;
	}
}

static void on_gone(void *arg, const char *why)
{
	struct side *s = arg;

	snprintf(s->gone, sizeof(s->gone), "%s", why);
	s->gone_calls++;
	rt_xport_close(s->x);
	s->x = NULL;
	rt_loop_stop(s->loop);
}

static void side_open(struct side *s, int sock)
{
	const struct rt_xport_peer p = { .name = "peer", .bad = &s->bad,
					 .frame = on_frame, .gone = on_gone,
					 .arg = s };

	memset(s, 0, sizeof(*s));
	s->in_order = true;
	s->loop = rt_loop_new();
	assert_non_null(s->loop);
	s->x = rt_xport_open(sock, s->loop, &p);
	assert_non_null(s->x);
}

static void side_close(struct side *s)
{
	rt_xport_close(s->x);
	rt_loop_free(s->loop);
}

/* Run the loop until stopped (by on_gone) or until it has nothing to do
 * for a while: a timer stops it after ms. */
static void stop_cb(struct rt_loop *l, int fd, uint32_t ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	rt_loop_stop(l);
}

static void run_for(struct side *s, unsigned ms)
{
	int t = rt_loop_timer(s->loop, ms, stop_cb, NULL);

	assert_true(t >= 0);
	assert_int_equal(rt_loop_run(s->loop), 0);
	rt_loop_del(s->loop, t);
	close(t);
}

static void post_seq(struct side *s, uint32_t seq, const int *fds,
		     unsigned nfds)
{
	assert_int_equal(rt_xport_post(s->x, RT_FRAME_MSG, 1, &seq,
				       sizeof(seq), fds, nfds), 0);
}

/* More frames than the socket takes: the rest wait, go out in order as
 * the reader drains, with the descriptors of the queued ones intact. */
static void test_queue_order_and_fds(void **state)
{
	struct side a, b;
	int sp[2], before, efd;
	struct rt_xport_stats st;

	(void)state;
	before = count_fds();
	assert_int_equal(rt_xport_pair(sp), 0);
	side_open(&a, sp[0]);
	side_open(&b, sp[1]);
	for (uint32_t i = 1; i <= 1000; i++)
		post_seq(&a, i, NULL, 0);
	rt_xport_get_stats(a.x, &st);
	assert_true(st.queued > 0); /* the socket held only some */
	efd = eventfd(0, EFD_CLOEXEC);
	post_seq(&a, 1001, &efd, 1);
	close(efd); /* the queue holds its own copy */
	for (unsigned round = 0; round < 200 && b.frames < 1001; round++) {
		run_for(&a, 1);
		run_for(&b, 1);
	}
	assert_int_equal(b.frames, 1001);
	assert_true(b.in_order);
	rt_xport_get_stats(a.x, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.queued_bytes, 0);
	assert_int_equal(st.tx_frames, 1001);
	assert_true(st.queued_max > 0);
	side_close(&a);
	side_close(&b);
	assert_int_equal(count_fds(), before);
}

/* A peer that never reads: the queue reaches its bound, the post that
 * does not fit fails, and the loop (not the post) reports the peer gone
 * with the reason; nothing leaks. */
static void test_overflow_drops_peer(void **state)
{
	struct side a;
	int sp[2], before, rc = 0, efd;
	struct rt_xport_stats st;
	uint32_t n = 0;

	(void)state;
	before = count_fds();
	efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(rt_xport_pair(sp), 0);
	side_open(&a, sp[0]);
	while (rc == 0 && n < 2 * RT_XPORT_QUEUE_FRAMES) {
		n++;
		rc = rt_xport_post(a.x, RT_FRAME_MSG, 1, &n, sizeof(n),
				   n % 1000 ? NULL : &efd, n % 1000 ? 0 : 1);
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_int_equal(a.gone_calls, 0); /* not from inside the post */
	rt_xport_get_stats(a.x, &st);
	assert_int_equal(st.overflows, 1);
	assert_int_equal(st.queued, RT_XPORT_QUEUE_FRAMES);
	assert_int_equal(rt_xport_post(a.x, RT_FRAME_MSG, 1, &n, sizeof(n),
				       NULL, 0), -ECONNRESET);
	run_for(&a, 1000);
	assert_int_equal(a.gone_calls, 1);
	assert_non_null(strstr(a.gone, "peer stopped reading"));
	close(efd);
	close(sp[1]);
	rt_loop_free(a.loop);
	assert_int_equal(count_fds(), before);
}

/* Paused: nothing is read (sending goes on); resumed: all arrives. A
 * callback closing the connection is safe; the frames after it stay
 * unread. */
static void test_pause_and_close_in_callback(void **state)
{
	struct side a, b;
	int sp[2];

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	side_open(&a, sp[0]);
	side_open(&b, sp[1]);
	rt_xport_pause(b.x, true);
	for (uint32_t i = 1; i <= 5; i++)
		post_seq(&a, i, NULL, 0);
	run_for(&b, 20);
	assert_int_equal(b.frames, 0);
	rt_xport_pause(b.x, false);
	run_for(&b, 20);
	assert_int_equal(b.frames, 5);
	b.close_on_frame = true;
	post_seq(&a, 6, NULL, 0);
	post_seq(&a, 7, NULL, 0);
	run_for(&b, 20);
	assert_int_equal(b.frames, 6);
	assert_null(b.x);
	side_close(&a);
	rt_loop_free(b.loop);
}

/* Outside the loop (a program on its way out), rt_xport_wait sends what
 * is queued and reads what comes. */
static void test_wait_outside_loop(void **state)
{
	struct side a, b;
	int sp[2], n;

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	side_open(&a, sp[0]);
	side_open(&b, sp[1]);
	for (uint32_t i = 1; i <= 100; i++)
		post_seq(&a, i, NULL, 0);
	while (b.frames < 100) {
		n = rt_xport_wait(a.x, 10);
		assert_true(n >= 0);
		n = rt_xport_wait(b.x, 10);
		assert_true(n >= 0);
	}
	assert_true(b.in_order);
	side_close(&b);
	assert_int_equal(rt_xport_wait(a.x, 1000), 1); /* the hang-up */
	assert_int_equal(a.gone_calls, 1);
	rt_loop_free(a.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_order_and_fds),
		cmocka_unit_test(test_overflow_drops_peer),
		cmocka_unit_test(test_pause_and_close_in_callback),
		cmocka_unit_test(test_wait_outside_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
