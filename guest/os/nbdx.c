/* The NBD export server: its listeners, the server thread's loop (epoll
 * over the listeners, the connections and an eventfd that completions,
 * removals and the stop wake it with), start and stop. Exports are
 * nbdx_exp.c's, connections nbdx_conn.c's, requests nbdx_req.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nbdx_priv.h"

uint64_t nbdx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void nbdx_wake(struct nbdx *s)
{
	uint64_t one = 1;

	/* Only EAGAIN can fail it (counter at its maximum): already woken. */
	(void)!write(s->efd, &one, sizeof(one));
}

/* ---- listeners ---- */

static int listener_ctl(struct nbdx *s, int op)
{
	int rc = 0;

	for (int i = 0; i < 2; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.ptr = &s->lfd[i]};

		if (s->lfd[i] >= 0 && epoll_ctl(s->ep, op, s->lfd[i], &ev))
			rc = -errno;
	}
	return rc;
}

/* Out of descriptors, a listener would stay readable and spin the loop:
 * it is left alone until the next housekeeping. */
static void accept_all(struct nbdx *s, int lfd)
{
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0 ||
	       errno == EINTR || errno == ECONNABORTED) {
		/* A reply is one sendmsg: Nagle would only hold it back
		 * for the client's delayed ACK. */
		if (fd >= 0 && lfd == s->lfd[1])
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		if (fd >= 0)
			nbdx_conn_new(s, fd);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && !s->accept_paused) {
		listener_ctl(s, EPOLL_CTL_DEL);
		s->accept_paused = true;
	}
}

static void listeners_close(struct nbdx *s)
{
	if (!s->accept_paused)
		listener_ctl(s, EPOLL_CTL_DEL);
	for (int i = 0; i < 2; i++) {
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
		s->lfd[i] = -1;
	}
}

/* The mode comes from the socket's inode at bind (less the umask):
 * fchmod before bind makes it 0600 with no window. bind refuses a path
 * that exists, socket or not. */
static int listen_unix(struct nbdx *s, const char *path, char *err,
		       unsigned errlen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	char *copy = strdup(path);
	int fd = -1;

	if (!copy || len >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "%s: %s", path,
			 copy ? "path too long for a socket" : "out of memory");
		free(copy);
		return copy ? -ENAMETOOLONG : -ENOMEM;
	}
	memcpy(a.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || fchmod(fd, 0600) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path,
			 e == EADDRINUSE ? "exists already" : strerror(e));
		if (fd >= 0)
			close(fd);
		free(copy);
		return -e;
	}
	/* Ours from here: teardown unlinks it, never a path it failed on. */
	s->lfd[0] = fd;
	s->unix_path = copy;
	if (listen(fd, NBDX_BACKLOG)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int listen_tcp(struct nbdx *s, uint16_t port, char *err,
		      unsigned errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, NBDX_BACKLOG)) {
		int e = errno;

		snprintf(err, errlen, "127.0.0.1:%u: %s", port, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	s->lfd[1] = fd;
	return 0;
}

/* ---- the thread ---- */

static void dispatch(struct nbdx *s, const struct epoll_event *ev)
{
	uint64_t v;

	if (ev->data.ptr == &s->efd)
		(void)!read(s->efd, &v, sizeof(v));
	else if (ev->data.ptr == &s->lfd[0] || ev->data.ptr == &s->lfd[1])
		accept_all(s, *(const int *)ev->data.ptr);
	else
		nbdx_conn_event(ev->data.ptr, ev->events);
}

/* Replies of the completed requests are queued; their connections, and
 * those waiting for a buffer (one may have come back), run. */
static void completions(struct nbdx *s)
{
	struct nbdx_req *r = nbdx_done_take(s), *next;

	for (; r; r = next) {
		next = r->next;
		nbdx_io_done(r);
	}
	for (struct nbdx_conn *c = s->conns; c; c = c->next)
		if (c->kick || (c->cur && c->cur->state == XR_PARKED))
			nbdx_conn_run(c);
}

/* The stop, seen once: no more connections, every one ends now; the
 * loop goes on until the disks gave back what they hold. */
static void stop_seen(struct nbdx *s)
{
	s->stopping = atomic_load(&s->stop);
	if (!s->stopping)
		return;
	listeners_close(s);
	for (struct nbdx_conn *c = s->conns; c; c = c->next)
		nbdx_conn_kill(c);
}

static void housekeep(struct nbdx *s)
{
	uint64_t now = nbdx_now_ms();
	struct nbdx_conn **pp = &s->conns;

	if (!s->stopping)
		stop_seen(s);
	if (s->accept_paused && !s->stopping && !listener_ctl(s, EPOLL_CTL_ADD))
		s->accept_paused = false;
	while (*pp) {
		struct nbdx_conn *c = *pp, *next = c->next;

		if (nbdx_conn_housekeep(c, now))
			*pp = next;
		else
			pp = &c->next;
	}
	if (atomic_load_explicit(&s->removing, memory_order_relaxed))
		nbdx_exports_release(s, false);
}

static void *server(void *arg)
{
	struct nbdx *s = arg;
	struct epoll_event ev[64];

	while (!s->stopping || s->conns) {
		int n = epoll_wait(s->ep, ev, 64, NBDX_TICK_MS);

		for (int i = 0; i < n; i++)
			dispatch(s, &ev[i]);
		completions(s);
		housekeep(s);
	}
	nbdx_done_quiesce(s);
	nbdx_exports_release(s, true);
	return NULL;
}

/* ---- start, stop ---- */

static int setup(struct nbdx *s, const struct nbdx_cfg *cfg, char *err,
		 unsigned errlen)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->efd};
	int rc = 0;

	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->ep < 0 || s->efd < 0 ||
	    epoll_ctl(s->ep, EPOLL_CTL_ADD, s->efd, &ev)) {
		snprintf(err, errlen, "epoll/eventfd: %s", strerror(errno));
		return -errno;
	}
	if (cfg->unix_path)
		rc = listen_unix(s, cfg->unix_path, err, errlen);
	if (!rc && cfg->tcp_port)
		rc = listen_tcp(s, cfg->tcp_port, err, errlen);
	if (!rc && (rc = listener_ctl(s, EPOLL_CTL_ADD)))
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
	return rc;
}

static void teardown(struct nbdx *s)
{
	for (int i = 0; i < 2; i++)
		if (s->lfd[i] >= 0)
			close(s->lfd[i]);
	if (s->unix_path)
		unlink(s->unix_path);
	if (s->ep >= 0)
		close(s->ep);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->lock);
	free(s->unix_path);
	free(s);
}

int nbdx_start(struct nbdx **out, const struct nbdx_cfg *cfg, char *err,
	       unsigned errlen)
{
	struct nbdx *s = calloc(1, sizeof(*s));
	int rc;

	if (errlen)
		err[0] = '\0';
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->ep = s->efd = s->lfd[0] = s->lfd[1] = -1;
	s->max_conns = cfg->max_conns ? cfg->max_conns : 64;
	pthread_mutex_init(&s->lock, NULL);
	atomic_init(&s->done, NULL);
	atomic_init(&s->stop, false);
	atomic_init(&s->completing, 0);
	atomic_init(&s->removing, 0);
	rc = setup(s, cfg, err, errlen);
	if (!rc && (rc = -pthread_create(&s->thr, NULL, server, s)))
		snprintf(err, errlen, "thread: %s", strerror(-rc));
	if (rc) {
		teardown(s);
		return rc;
	}
	*out = s;
	return 0;
}

void nbdx_stop(struct nbdx *s)
{
	atomic_store(&s->stop, true);
	nbdx_wake(s);
	pthread_join(s->thr, NULL);
	teardown(s);
}
