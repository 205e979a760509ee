/* The NBD export server: listeners, the server thread's loop, exports
 * and the completion stack. Connections are nbdx_conn.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#define NBDX_TICK_MS 1000

uint64_t nbdx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One writer (the server thread): a plain add, read by anyone. */
void nbdx_stat(struct nbdx_export *e, unsigned k, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&e->st.v[k], memory_order_relaxed);

	atomic_store_explicit(&e->st.v[k], v + n, memory_order_relaxed);
}

static void wake(struct nbdx *s)
{
	uint64_t one = 1;

	(void)!write(s->efd, &one, sizeof(one));
}

/* ---- exports ---- */

struct nbdx_export *nbdx_lookup(struct nbdx *s, const char *name,
				uint32_t len)
{
	struct nbdx_export *e;

	pthread_mutex_lock(&s->lock);
	for (e = s->exports; e; e = e->next)
		if (!atomic_load(&e->removed) &&
		    (!len || (strlen(e->cfg.name) == len &&
			      !memcmp(e->cfg.name, name, len))))
			break;
	pthread_mutex_unlock(&s->lock);
	return e;
}

static bool cfg_ok(const struct nbdx_export_cfg *c)
{
	return c->name && *c->name && strlen(c->name) <= NBD_STRING_MAX &&
	       (!c->desc || strlen(c->desc) <= NBD_STRING_MAX) && c->ops &&
	       c->ops->buf_get && c->ops->buf_put && c->ops->submit &&
	       (c->block_size == 512 || c->block_size == 4096) &&
	       c->max_payload >= 4096 && c->max_payload <= NBD_SRV_MAX_PAYLOAD &&
	       !(c->max_payload % c->block_size);
}

int nbdx_add(struct nbdx *s, const struct nbdx_export_cfg *cfg,
	     struct nbdx_export **out)
{
	struct nbdx_export *e, **pp;

	if (!cfg_ok(cfg))
		return -EINVAL;
	if (nbdx_lookup(s, cfg->name, (uint32_t)strlen(cfg->name)))
		return -EEXIST;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->s = s;
	e->cfg = *cfg;
	e->cfg.name = strdup(cfg->name);
	e->cfg.desc = cfg->desc ? strdup(cfg->desc) : NULL;
	atomic_init(&e->size, cfg->size);
	pthread_mutex_lock(&s->lock);
	for (pp = &s->exports; *pp; pp = &(*pp)->next)
		;
	*pp = e;
	pthread_mutex_unlock(&s->lock);
	*out = e;
	return 0;
}

void nbdx_remove(struct nbdx_export *e)
{
	atomic_store(&e->removed, true);
	wake(e->s);
}

void nbdx_resize(struct nbdx_export *e, uint64_t size)
{
	atomic_store(&e->size, size);
}

void nbdx_export_stats(struct nbdx_export *e, struct nbdx_stats *st)
{
	uint64_t v[9];

	for (unsigned i = 0; i < 9; i++)
		v[i] = atomic_load_explicit(&e->st.v[i], memory_order_relaxed);
	*st = (struct nbdx_stats){
		.conns = v[XS_CONNS], .conns_total = v[XS_TOTAL],
		.reads = v[XS_READS], .writes = v[XS_WRITES],
		.flushes = v[XS_FLUSHES], .trims = v[XS_TRIMS],
		.zeroes = v[XS_ZEROES], .bytes_read = v[XS_BREAD],
		.bytes_written = v[XS_BWRITTEN],
		.errors = atomic_load_explicit(&e->errors,
					       memory_order_relaxed),
	};
}

/* Removed (or, when stopping, every) exports that nothing uses any more
 * are released to their disks and freed. */
static void exports_release(struct nbdx *s, bool all)
{
	struct nbdx_export **pp = &s->exports, *e;

	pthread_mutex_lock(&s->lock);
	while ((e = *pp)) {
		if ((!all && !atomic_load(&e->removed)) || e->conns ||
		    e->with_disk) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		pthread_mutex_unlock(&s->lock);
		if (e->cfg.ops->released)
			e->cfg.ops->released(e->cfg.disk);
		free((char *)e->cfg.name);
		free((char *)e->cfg.desc);
		free(e);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ---- completions ---- */

void nbdx_complete(struct nbdx_req *first)
{
	struct nbdx *s;
	struct nbdx_req *last = first, *old;

	if (!first)
		return;
	s = ((struct xreq *)first)->c->s;
	while (last->next)
		last = last->next;
	old = atomic_load_explicit(&s->done, memory_order_relaxed);
	do
		last->next = old;
	while (!atomic_compare_exchange_weak_explicit(
		&s->done, &old, first, memory_order_release,
		memory_order_relaxed));
	if (!old)
		wake(s);
}

static void completions(struct nbdx *s)
{
	struct nbdx_req *r = atomic_exchange_explicit(&s->done, NULL,
						      memory_order_acquire);

	while (r) {
		struct nbdx_req *next = r->next;
		struct xreq *x = (struct xreq *)r;

		nbdx_conn_done(x);
		r = next;
	}
	for (struct nbdx_conn *c = s->conns; c; c = c->next)
		if (!c->dead)
			nbdx_conn_run(c);
}

/* ---- the thread ---- */

static void accept_all(struct nbdx *s, int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		nbdx_conn_new(s, fd);
}

static void reap(struct nbdx *s)
{
	struct nbdx_conn *c = s->conns, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->dead && !c->with_disk)
			nbdx_conn_free(c);
	}
}

static void housekeep(struct nbdx *s, bool stopping)
{
	uint64_t now = nbdx_now_ms();

	for (struct nbdx_conn *c = s->conns; c; c = c->next)
		if (stopping)
			nbdx_conn_kill(c, "server stopping");
		else
			nbdx_conn_housekeep(c, now);
	reap(s);
	exports_release(s, stopping && !s->conns);
}

static void dispatch(struct nbdx *s, struct epoll_event *ev)
{
	uint64_t v;

	if (ev->data.ptr == &s->efd)
		(void)!read(s->efd, &v, sizeof(v));
	else if (ev->data.ptr == &s->lfd[0] || ev->data.ptr == &s->lfd[1])
		accept_all(s, *(int *)ev->data.ptr);
	else
		nbdx_conn_run(ev->data.ptr);
}

static void *server(void *arg)
{
	struct nbdx *s = arg;
	struct epoll_event ev[64];
	bool stopping = false;

	while (!stopping || s->conns) {
		int n = epoll_wait(s->ep, ev, 64, NBDX_TICK_MS);

		for (int i = 0; i < n; i++)
			dispatch(s, &ev[i]);
		completions(s);
		pthread_mutex_lock(&s->lock);
		stopping = s->stopping;
		pthread_mutex_unlock(&s->lock);
		housekeep(s, stopping);
	}
	exports_release(s, true);
	return NULL;
}

/* ---- start, stop ---- */

static int listen_unix(struct nbdx *s, const char *path, char *err,
		       unsigned errlen)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a socket", path);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* 0600 from the start: fchmod before bind, no window with the
	 * process umask's mode */
	if (fd < 0 || fchmod(fd, 0600) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64)) {
		int e = errno;

		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
			 e == EADDRINUSE ? " (remove it if no guest uses it)"
					 : "");
		if (fd >= 0)
			close(fd);
		return -e;
	}
	s->lfd[0] = fd;
	s->unix_path = strdup(path);
	return 0;
}

static int listen_tcp(struct nbdx *s, uint16_t port, char *err,
		      unsigned errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
						     SOCK_CLOEXEC, 0);

	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64)) {
		int e = errno;

		snprintf(err, errlen, "127.0.0.1:%u: %s", port, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	s->lfd[1] = fd;
	return 0;
}

static int watch(struct nbdx *s, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return fd < 0 || !epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) ? 0 : -errno;
}

static int setup(struct nbdx *s, const struct nbdx_cfg *cfg, char *err,
		 unsigned errlen)
{
	int rc;

	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->ep < 0 || s->efd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	rc = cfg->unix_path ? listen_unix(s, cfg->unix_path, err, errlen) : 0;
	if (!rc && cfg->tcp_port)
		rc = listen_tcp(s, cfg->tcp_port, err, errlen);
	if (!rc)
		rc = watch(s, s->efd, &s->efd);
	if (!rc)
		rc = watch(s, s->lfd[0], &s->lfd[0]);
	if (!rc)
		rc = watch(s, s->lfd[1], &s->lfd[1]);
	if (rc && !*err)
		snprintf(err, errlen, "%s", strerror(-rc));
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

	if (!s)
		return -ENOMEM;
	err[0] = '\0';
	s->ep = s->efd = s->lfd[0] = s->lfd[1] = -1;
	s->max_conns = cfg->max_conns ? cfg->max_conns : 64;
	pthread_mutex_init(&s->lock, NULL);
	rc = setup(s, cfg, err, errlen);
	if (!rc && (rc = -pthread_create(&s->thr, NULL, server, s)))
		snprintf(err, errlen, "%s", strerror(-rc));
	if (rc) {
		teardown(s);
		return rc;
	}
	*out = s;
	return 0;
}

void nbdx_stop(struct nbdx *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	wake(s);
	pthread_join(s->thr, NULL);
	teardown(s);
}
