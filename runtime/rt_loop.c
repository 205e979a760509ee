/* Control-plane event loop over epoll. A handler may add or delete
 * watches (its own included) while events are being dispatched: deleted
 * watches are only marked dead and freed after the current batch. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "rt_loop.h"

struct loop_watch {
	struct loop_watch *next;
	int fd;
	bool timer; /* read the expiration count before calling fn */
	bool dead;
	rt_loop_fn *fn;
	void *arg;
};

/* A deferred call, run once after the current batch. */
struct loop_call {
	struct loop_call *next;
	uint64_t token;
	rt_loop_fn *fn;
	void *arg;
};

struct rt_loop {
	int epfd;
	int stopfd; /* eventfd: rt_loop_stop only writes to it */
	struct loop_watch *live;
	struct loop_watch *dead;
	struct loop_call *calls; /* in order of rt_loop_defer */
	uint64_t next_token;
};

struct rt_loop *rt_loop_new(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct rt_loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev.data.ptr = NULL; /* NULL marks the stop event */
	if (l->epfd < 0 || l->stopfd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stopfd, &ev) < 0) {
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->stopfd >= 0)
			close(l->stopfd);
		free(l);
		return NULL;
	}
	return l;
}

static void free_list(struct loop_watch *w)
{
	while (w) {
		struct loop_watch *next = w->next;

		free(w);
		w = next;
	}
}

static void free_calls(struct loop_call *c)
{
	while (c) {
		struct loop_call *next = c->next;

		free(c);
		c = next;
	}
}

void rt_loop_free(struct rt_loop *l)
{
	if (!l)
		return;
	close(l->epfd);
	close(l->stopfd);
	free_list(l->live);
	free_list(l->dead);
	free_calls(l->calls);
	free(l);
}

static int loop_watch(struct rt_loop *l, int fd, uint32_t events,
		      rt_loop_fn *fn, void *arg, bool timer)
{
	struct epoll_event ev = { .events = events };
	struct loop_watch *w;

	if (fd < 0 || !fn)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->timer = timer;
	w->fn = fn;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int rc = -errno;

		free(w);
		return rc;
	}
	w->next = l->live;
	l->live = w;
	return 0;
}

int rt_loop_add(struct rt_loop *l, int fd, uint32_t events, rt_loop_fn *fn,
		void *arg)
{
	return loop_watch(l, fd, events, fn, arg, false);
}

void rt_loop_del(struct rt_loop *l, int fd)
{
	struct loop_watch **pp, *w;

	for (pp = &l->live; (w = *pp); pp = &w->next) {
		if (w->fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		*pp = w->next;
		w->dead = true;
		w->next = l->dead;
		l->dead = w;
		return;
	}
}

int rt_loop_mod(struct rt_loop *l, int fd, uint32_t events)
{
	for (struct loop_watch *w = l->live; w; w = w->next) {
		struct epoll_event ev = { .events = events, .data.ptr = w };

		if (w->fd == fd)
			return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0
				       ? -errno : 0;
	}
	return -ENOENT;
}

uint64_t rt_loop_defer(struct rt_loop *l, rt_loop_fn *fn, void *arg)
{
	struct loop_call *c = calloc(1, sizeof(*c)), **pp;

	if (!c)
		return 0;
	c->token = ++l->next_token;
	c->fn = fn;
	c->arg = arg;
	for (pp = &l->calls; *pp; pp = &(*pp)->next)
		;
	*pp = c;
	return c->token;
}

void rt_loop_cancel(struct rt_loop *l, uint64_t token)
{
	for (struct loop_call **pp = &l->calls; *pp; pp = &(*pp)->next) {
		struct loop_call *c = *pp;

		if (c->token == token) {
			*pp = c->next;
			free(c);
			return;
		}
	}
}

/* Each call is taken off the list before it runs, so it may defer or
 * cancel others; calls deferred meanwhile run in this round too. */
static void run_calls(struct rt_loop *l)
{
	struct loop_call *c;

	while ((c = l->calls)) {
		l->calls = c->next;
		c->fn(l, -1, 0, c->arg);
		free(c);
	}
}

int rt_loop_timer(struct rt_loop *l, uint64_t period_ms, rt_loop_fn *fn,
		  void *arg)
{
	struct itimerspec its = { 0 };
	int fd, rc;

	if (period_ms == 0)
		return -EINVAL;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	its.it_interval.tv_sec = (time_t)(period_ms / 1000);
	its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = loop_watch(l, fd, EPOLLIN, fn, arg, true);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

int rt_loop_timer_reset(struct rt_loop *l, int fd)
{
	struct itimerspec its;

	(void)l;
	if (timerfd_gettime(fd, &its) < 0)
		return -errno;
	its.it_value = its.it_interval;
	return timerfd_settime(fd, 0, &its, NULL) < 0 ? -errno : 0;
}

static bool loop_dispatch(struct rt_loop *l, struct epoll_event *ev, int n)
{
	bool stop = false;
	uint64_t v;

	for (int i = 0; i < n; i++) {
		struct loop_watch *w = ev[i].data.ptr;

		if (!w) {
			if (read(l->stopfd, &v, sizeof(v)) < 0)
				continue; /* EAGAIN: already consumed */
			stop = true;
			continue;
		}
		if (w->dead)
			continue;
		/* Expirations are counted by the kernel; the handler runs
		 * once per wakeup however many passed. */
		if (w->timer && read(w->fd, &v, sizeof(v)) < 0)
			continue;
		w->fn(l, w->fd, ev[i].events, w->arg);
	}
	run_calls(l);
	free_list(l->dead);
	l->dead = NULL;
	return stop;
}

int rt_loop_run(struct rt_loop *l)
{
	struct epoll_event ev[32];

	run_calls(l);
	for (;;) {
		int n = epoll_wait(l->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])),
				   l->calls ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (loop_dispatch(l, ev, n))
			return 0;
	}
}

void rt_loop_stop(struct rt_loop *l)
{
	uint64_t one = 1;
	int saved = errno; /* may run in a signal handler */
	ssize_t r;

	/* EAGAIN only if the counter is saturated: a stop is pending. */
	r = write(l->stopfd, &one, sizeof(one));
	(void)r;
	errno = saved;
}

static struct rt_loop *signal_loop;

static void on_stop_signal(int sig)
{
	(void)sig;
	rt_loop_stop(signal_loop);
}

/* Signals a loop handles as events: the handler only writes to an
 * eventfd (async-signal-safe); the callback runs on the loop thread. */
#define RT_LOOP_SIGS 4
static struct rt_loop_sig {
	int sig, fd;
	rt_loop_fn *fn;
	void *arg;
} loop_sigs[RT_LOOP_SIGS];

static void on_loop_signal(int sig)
{
	uint64_t one = 1;
	int saved = errno;

	for (unsigned i = 0; i < RT_LOOP_SIGS; i++)
		if (loop_sigs[i].fn && loop_sigs[i].sig == sig &&
		    write(loop_sigs[i].fd, &one, sizeof(one)) < 0)
			break;
	errno = saved;
}

/* Several signals before the loop's turn are one call. */
static void loop_sig_event(struct rt_loop *l, int fd, uint32_t events,
			   void *arg)
{
	struct rt_loop_sig *s = arg;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) == sizeof(n))
		s->fn(l, -1, 0, s->arg);
}

int rt_loop_on_signal(struct rt_loop *l, int sig, rt_loop_fn *fn, void *arg)
{
	struct sigaction sa = { .sa_handler = on_loop_signal,
				.sa_flags = SA_RESTART };
	struct rt_loop_sig *s = NULL;
	int rc;

	for (unsigned i = 0; !s && i < RT_LOOP_SIGS; i++)
		s = loop_sigs[i].fn ? NULL : &loop_sigs[i];
	if (!s)
		return -ENOSPC;
	s->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->fd < 0)
		return -errno;
	rc = rt_loop_add(l, s->fd, EPOLLIN, loop_sig_event, s);
	if (rc < 0) {
		close(s->fd);
		return rc;
	}
	*s = (struct rt_loop_sig){sig, s->fd, fn, arg};
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	return 0;
}

void rt_raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

void rt_loop_stop_on_signals(struct rt_loop *l)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };

	signal_loop = l;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
