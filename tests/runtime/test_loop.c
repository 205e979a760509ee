/* Event loop: fd watches, timers, deleting a watch from a handler while
 * its event is pending in the same batch, stop from a signal handler. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_loop.h"

struct ctx {
	int ticks;
	int a_calls, b_calls;
	int efd_a, efd_b;
};

static void on_tick(struct rt_loop *l, int fd, uint32_t ev, void *arg)
{
	struct ctx *c = arg;

	(void)fd;
	(void)ev;
	if (++c->ticks == 3)
		rt_loop_stop(l);
}

static void test_timer(void **state)
{
	struct rt_loop *l = rt_loop_new();
	struct ctx c = { 0 };
	int tfd;

	(void)state;
	assert_non_null(l);
	assert_int_equal(rt_loop_timer(l, 0, on_tick, &c), -EINVAL);
	tfd = rt_loop_timer(l, 5, on_tick, &c);
	assert_true(tfd >= 0);
	assert_int_equal(rt_loop_run(l), 0);
	assert_int_equal(c.ticks, 3);
	rt_loop_del(l, tfd);
	close(tfd);
	rt_loop_free(l);
}

/* Whichever of a and b runs first deletes the other and closes it; the
 * other's event, already returned by epoll_wait, must not run. */
static void on_a(struct rt_loop *l, int fd, uint32_t ev, void *arg);
static void on_b(struct rt_loop *l, int fd, uint32_t ev, void *arg);

static void drop_other(struct rt_loop *l, int self, int other)
{
	uint64_t v;

	assert_int_equal(read(self, &v, sizeof(v)), sizeof(v));
	rt_loop_del(l, other);
	rt_loop_stop(l);
}

static void on_a(struct rt_loop *l, int fd, uint32_t ev, void *arg)
{
	struct ctx *c = arg;

	assert_true(ev & EPOLLIN);
	c->a_calls++;
	drop_other(l, fd, c->efd_b);
}

static void on_b(struct rt_loop *l, int fd, uint32_t ev, void *arg)
{
	struct ctx *c = arg;

	(void)ev;
	c->b_calls++;
	drop_other(l, fd, c->efd_a);
}

static void test_del_in_handler(void **state)
{
	struct rt_loop *l = rt_loop_new();
	struct ctx c = { 0 };
	uint64_t one = 1;

	(void)state;
	c.efd_a = eventfd(0, EFD_CLOEXEC);
	c.efd_b = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(rt_loop_add(l, c.efd_a, EPOLLIN, on_a, &c), 0);
	assert_int_equal(rt_loop_add(l, c.efd_b, EPOLLIN, on_b, &c), 0);
	assert_int_equal(rt_loop_add(l, c.efd_b, EPOLLIN, on_b, &c), -EEXIST);
	assert_int_equal(write(c.efd_a, &one, 8), 8);
	assert_int_equal(write(c.efd_b, &one, 8), 8);
	assert_int_equal(rt_loop_run(l), 0);
	assert_int_equal(c.a_calls + c.b_calls, 1);
	close(c.efd_a);
	close(c.efd_b);
	rt_loop_free(l);
}

static struct rt_loop *sig_loop;

static void on_alarm(int sig)
{
	(void)sig;
	rt_loop_stop(sig_loop);
}

static void test_stop_from_signal(void **state)
{
	struct itimerval it = { .it_value = { .tv_usec = 20000 } };
	struct sigaction sa = { .sa_handler = on_alarm };

	(void)state;
	sig_loop = rt_loop_new();
	assert_non_null(sig_loop);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* Nothing watched but the stop event: only the signal ends it. */
	assert_int_equal(rt_loop_run(sig_loop), 0);
	rt_loop_free(sig_loop);
	signal(SIGALRM, SIG_DFL);
}

static void send_sigterm(struct rt_loop *l, int fd, uint32_t events,
			 void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	(void)arg;
	raise(SIGTERM);
}

/* The programs' SIGTERM/SIGINT handling: the loop ends and run returns
 * instead of the process dying; SIGPIPE no longer kills. */
static void test_stop_on_signals(void **state)
{
	struct rt_loop *l = rt_loop_new();
	struct sigaction old;
	int fd;

	(void)state;
	assert_non_null(l);
	rt_loop_stop_on_signals(l);
	fd = rt_loop_timer(l, 10, send_sigterm, NULL);
	assert_true(fd >= 0);
	assert_int_equal(rt_loop_run(l), 0);
	assert_int_equal(sigaction(SIGPIPE, NULL, &old), 0);
	assert_ptr_equal(old.sa_handler, SIG_IGN);
	rt_loop_del(l, fd);
	close(fd);
	rt_loop_free(l);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
}

/* Two SIGUSR1 on the first tick only. */
static void send_two_usr1(struct rt_loop *l, int fd, uint32_t events,
			  void *arg)
{
	(void)l, (void)fd, (void)events;
	if ((*(int *)arg)++)
		return;
	raise(SIGUSR1);
	raise(SIGUSR1);
}

static void on_usr1(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	(void)l, (void)events;
	assert_int_equal(fd, -1);
	++*(int *)arg;
}

static void stop_loop(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	(void)fd, (void)events, (void)arg;
	rt_loop_stop(l);
}

/* A signal handled as an event: its callback runs on the loop thread,
 * once for the two raised before the loop's next turn (the loop runs
 * on for several ticks after them). */
static void test_on_signal(void **state)
{
	struct rt_loop *l = rt_loop_new();
	int calls = 0, ticks = 0, fd, stop;

	(void)state;
	assert_non_null(l);
	assert_int_equal(rt_loop_on_signal(l, SIGUSR1, on_usr1, &calls), 0);
	fd = rt_loop_timer(l, 10, send_two_usr1, &ticks);
	stop = rt_loop_timer(l, 80, stop_loop, NULL);
	assert_true(fd >= 0 && stop >= 0);
	assert_int_equal(rt_loop_run(l), 0);
	assert_true(ticks >= 2);
	assert_int_equal(calls, 1);
	rt_loop_del(l, fd);
	rt_loop_del(l, stop);
	close(fd);
	close(stop);
	rt_loop_free(l);
	signal(SIGUSR1, SIG_IGN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer),
		cmocka_unit_test(test_del_in_handler),
		cmocka_unit_test(test_stop_from_signal),
		cmocka_unit_test(test_stop_on_signals),
		cmocka_unit_test(test_on_signal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
