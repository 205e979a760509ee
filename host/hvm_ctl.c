/* The host's control socket: one text request line per connection, one
 * text reply ("ok" or "error: why" on the first line, then the body).
 * Served on the loop thread, so it sees the VM between events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hvm.h"
#include "rt_log.h"
#include "rt_xport.h"

/* KVP values run to 2047 UTF-16 units, up to 3 bytes each in UTF-8. */
#define CTL_LINE_MAX 8192
/* A client's time to send its request, and to take each reply write:
 * the loop thread serves it, and waits no longer. */
#define CTL_CLIENT_MS 1000
/* Clients whose request is still arriving, at most. */
#define CTL_CLIENTS_MAX 32
/* Reply bytes waiting for one client, at most (a kvp list of 1024 long
 * items fits). */
#define CTL_REPLY_MAX (16 << 20)

/* A reply the client's socket did not take at once: the rest waits here
 * and goes out as the socket drains, watched by the loop. A client that
 * takes nothing for CTL_CLIENT_MS, or lets CTL_REPLY_MAX pile up, is cut
 * off (shut down, its further replies dropped) rather than waited for;
 * the socket is closed once its request is done (hvm_ctl_done). */
struct ctl_out {
	struct ctl_out *next;
	struct hvm *vm;
	int fd, timer_fd;
	bool done, dead;
	char *buf;
	size_t len, off;
};

static struct ctl_out *out_find(struct hvm *vm, int fd)
{
	struct ctl_out *o;

	for (o = vm->ctl_outs; o && o->fd != fd; o = o->next)
		;
	return o;
}

static void out_free(struct ctl_out *o)
{
	struct ctl_out **pp = &o->vm->ctl_outs;

	while (*pp != o)
		pp = &(*pp)->next;
	*pp = o->next;
	rt_loop_del(o->vm->loop, o->fd);
	rt_loop_del(o->vm->loop, o->timer_fd);
	close(o->timer_fd);
	if (o->done)
		close(o->fd);
	free(o->buf);
	free(o);
}

/* The client stopped reading or left: nothing more goes to it. */
static void out_cut(struct ctl_out *o)
{
	shutdown(o->fd, SHUT_RDWR);
	o->dead = true;
	o->len = o->off = 0;
	if (o->done)
		out_free(o);
}

/* Send what the socket takes; true while something is left. */
static bool out_push(struct ctl_out *o)
{
	while (o->off < o->len) {
		ssize_t w = send(o->fd, o->buf + o->off, o->len - o->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return true;
		if (w <= 0) {
			out_cut(o);
			return false;
		}
		o->off += (size_t)w;
	}
	o->len = o->off = 0;
	return false;
}

static void out_event(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct ctl_out *o = arg;
	size_t before = o->off;

	(void)l;
	(void)fd;
	(void)events;
	if (out_push(o)) {
		/* Progress restarts the client's second. */
		if (o->off != before)
			rt_loop_timer_reset(o->vm->loop, o->timer_fd);
		return;
	}
	if (!o->dead)
		out_free(o); /* emptied: back to sending directly */
}

static void out_timeout(struct rt_loop *l, int fd, uint32_t events,
			void *arg)
{
	struct ctl_out *o = arg;

	(void)l;
	(void)fd;
	(void)events;
	rt_warn("ctl", "a control client took no reply for %d ms: cut off",
		CTL_CLIENT_MS);
	rt_loop_del(o->vm->loop, o->fd);
	out_cut(o);
}

static struct ctl_out *out_new(struct hvm *vm, int fd)
{
	struct ctl_out *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->vm = vm;
	o->fd = fd;
	o->timer_fd = rt_loop_timer(vm->loop, CTL_CLIENT_MS, out_timeout, o);
	if (o->timer_fd < 0 ||
	    rt_loop_add(vm->loop, fd, EPOLLOUT, out_event, o)) {
		if (o->timer_fd >= 0) {
			rt_loop_del(vm->loop, o->timer_fd);
			close(o->timer_fd);
		}
		free(o);
		return NULL;
	}
	o->next = vm->ctl_outs;
	vm->ctl_outs = o;
	return o;
}

static bool out_append(struct ctl_out *o, const void *buf, size_t n)
{
	char *nb;

	if (o->len + n > CTL_REPLY_MAX)
		return false;
	nb = realloc(o->buf, o->len + n);
	if (!nb)
		return false;
	memcpy(nb + o->len, buf, n);
	o->buf = nb;
	o->len += n;
	return true;
}

/* Whatever the socket takes now; the rest waits in a ctl_out. */
void hvm_ctl_write(struct hvm *vm, int fd, const void *buf, size_t n)
{
	struct ctl_out *o = out_find(vm, fd);
	ssize_t w = 0;

	if (o && o->dead)
		return;
	if (!o) {
		do
			w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if ((w < 0 && errno != EAGAIN) || (size_t)w == n)
			return; /* gone, or all sent */
		w = w < 0 ? 0 : w;
		o = out_new(vm, fd);
		if (!o)
			return;
	}
	if (!out_append(o, (const char *)buf + w, n - (size_t)w)) {
		rt_warn("ctl", "a control client lets its reply pile up past "
			"%d bytes: cut off", CTL_REPLY_MAX);
		out_cut(o);
	}
}

void hvm_ctl_done(struct hvm *vm, int fd)
{
	struct ctl_out *o = out_find(vm, fd);

	if (!o) {
		close(fd);
		return;
	}
	o->done = true;
	if (o->dead)
		out_free(o);
}

/* A client whose request line is still arriving. Each is watched on the
 * loop by itself, so a slow client delays nobody, and a timer ends it
 * after CTL_CLIENT_MS. */
struct ctl_client {
	struct ctl_client *next;
	struct hvm *vm;
	int fd, timer_fd;
	size_t n;
	char line[CTL_LINE_MAX];
};

/* Off the list and the loop; the socket itself stays open. */
static void client_detach(struct ctl_client *cl)
{
	struct ctl_client **pp = &cl->vm->ctl_clients;

	while (*pp != cl)
		pp = &(*pp)->next;
	*pp = cl->next;
	cl->vm->ctl_nclients--;
	rt_loop_del(cl->vm->loop, cl->fd);
	rt_loop_del(cl->vm->loop, cl->timer_fd);
	close(cl->timer_fd);
}

static void client_end(struct ctl_client *cl)
{
	client_detach(cl);
	close(cl->fd);
	free(cl);
}

/* Tell the client why (a line with one number in it), then drop it. */
static void client_error(struct ctl_client *cl, const char *fmt, int arg)
{
	char why[80];
	int n = snprintf(why, sizeof(why), fmt, arg);

	client_detach(cl);
	hvm_ctl_write(cl->vm, cl->fd, why,
		      (size_t)n < sizeof(why) ? (size_t)n : 0);
	hvm_ctl_done(cl->vm, cl->fd);
	free(cl);
}

static void client_exec(struct ctl_client *cl)
{
	char *reply = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&reply, &len);
	int rc;

	if (!out) {
		client_end(cl); /* out of memory: no reply to give */
		return;
	}
	/* The request may keep the socket (HVM_CTL_LATER), and even close
	 * it before it returns: from here the loop must not know it. */
	client_detach(cl);
	rc = hvm_ctl_exec(cl->vm, cl->line, cl->fd, out);
	fclose(out);
	if (rc != HVM_CTL_LATER) {
		hvm_ctl_write(cl->vm, cl->fd, reply, len);
		hvm_ctl_done(cl->vm, cl->fd);
	}
	free(reply);
	free(cl);
}

/* Read what the client sent; a '\n' or its end of writing ends the line. */
static void client_event(struct rt_loop *l, int fd, uint32_t events,
			 void *arg)
{
	struct ctl_client *cl = arg;
	ssize_t r;

	(void)l;
	(void)fd;
	(void)events;
	if (cl->n + 1 == sizeof(cl->line)) {
		client_error(cl, "error: request longer than %d bytes\n",
			     CTL_LINE_MAX - 1);
		return;
	}
	r = read(cl->fd, cl->line + cl->n, sizeof(cl->line) - 1 - cl->n);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r < 0 || (r == 0 && cl->n == 0)) {
		client_end(cl);
		return;
	}
	cl->line[cl->n + (size_t)r] = '\0';
	if (r == 0 || memchr(cl->line + cl->n, '\n', (size_t)r)) {
		client_exec(cl);
		return;
	}
	cl->n += (size_t)r;
}

static void client_timeout(struct rt_loop *l, int fd, uint32_t events,
			   void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	client_error(arg, "error: no whole request line within %d ms\n",
		     CTL_CLIENT_MS);
}

static void ctl_event(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct hvm *vm = arg;
	struct ctl_client *cl;
	int c;

	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	if (vm->ctl_nclients >= CTL_CLIENTS_MAX) {
		static const char busy[] = "error: too many control clients\n";

		hvm_ctl_write(vm, c, busy, sizeof(busy) - 1);
		hvm_ctl_done(vm, c);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(c);
		return;
	}
	cl->vm = vm;
	cl->fd = c;
	cl->timer_fd = rt_loop_timer(l, CTL_CLIENT_MS, client_timeout, cl);
	if (cl->timer_fd < 0 || rt_loop_add(l, c, EPOLLIN, client_event, cl)) {
		if (cl->timer_fd >= 0) {
			rt_loop_del(l, cl->timer_fd);
			close(cl->timer_fd);
		}
		close(c);
		free(cl);
		return;
	}
	cl->next = vm->ctl_clients;
	vm->ctl_clients = cl;
	vm->ctl_nclients++;
}

int hvm_ctl_start(struct hvm *vm)
{
	int fd, rc;

	fd = rt_unix_listen(vm->cfg.ctl_path, SOCK_STREAM);
	if (fd < 0) {
		rt_err("ctl", "cannot listen on %s: %s", vm->cfg.ctl_path,
		       strerror(-fd));
		return fd;
	}
	rc = rt_loop_add(vm->loop, fd, EPOLLIN, ctl_event, vm);
	if (rc) {
		close(fd);
		return rc;
	}
	vm->ctl_fd = fd;
	return 0;
}

void hvm_ctl_stop(struct hvm *vm)
{
	if (vm->ctl_fd < 0)
		return;
	rt_loop_del(vm->loop, vm->ctl_fd);
	close(vm->ctl_fd);
	vm->ctl_fd = -1;
	while (vm->ctl_clients)
		client_end(vm->ctl_clients);
	while (vm->ctl_outs) {
		vm->ctl_outs->done = true;
		out_free(vm->ctl_outs);
	}
	unlink(vm->cfg.ctl_path);
}
