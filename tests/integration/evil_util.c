/* Helpers of the hostile peers; see evil_util.h. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evil_util.h"
#include "rt_gmem.h"
#include "vmbus/vmb_msg.h"
#include "vmbus/vmb_ring_wire.h"

void eu_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL (%s:%d): ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void eu_step(const char *fmt, ...)
{
	va_list ap;

	fputs("step: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int eu_send_raw(int sock, const void *buf, size_t len, const int *fds,
		unsigned nfds)
{
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(int) * 8)];
	} c;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 8)
		return -EINVAL;
	if (nfds) {
		memset(&c, 0, sizeof(c));
		msg.msg_control = c.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(&c.h), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

void eu_hdr(struct rt_frame_hdr *h, uint32_t magic, uint16_t type,
	    uint16_t nfds, uint32_t conn_id, uint32_t len)
{
	h->magic = vmb_le32(magic);
	h->type = vmb_le16(type);
	h->nfds = vmb_le16(nfds);
	h->conn_id = vmb_le32(conn_id);
	h->len = vmb_le32(len);
}

int eu_recv(int sock, int timeout_ms, struct rt_frame *f)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int n;

	f->nfds = 0;
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return rt_xport_recv(sock, f);
}

void eu_frame_close(struct rt_frame *f)
{
	for (unsigned i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	f->nfds = 0;
}

pid_t eu_peer_pid(int sock)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	return cr.pid;
}

int eu_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

double eu_cpu_seconds(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces; the fields after it do not:
	 * state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			 "%*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double eu_cpu_share(pid_t pid, unsigned ms, void (*tick)(void *), void *arg)
{
	double c0 = eu_cpu_seconds(pid), c1;
	uint64_t t0 = eu_now_ms(), t1;

	while (eu_now_ms() - t0 < ms) {
		if (tick)
			tick(arg);
		eu_sleep_ms(10);
	}
	c1 = eu_cpu_seconds(pid);
	t1 = eu_now_ms();
	if (c0 < 0 || c1 < 0)
		return -1;
	return (c1 - c0) * 1000.0 / (double)(t1 - t0);
}

int eu_ctl_send(const char *path, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(req);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	EU_CHECK(fd >= 0, "control socket: %s", strerror(errno));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	EU_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		 "host control socket gone (host dead?): %s", strerror(errno));
	EU_CHECK(write(fd, req, len) == (ssize_t)len, "control request: %s",
		 strerror(errno));
	return fd;
}

char *eu_ctl_reply(int fd, int timeout_ms)
{
	uint64_t end = eu_now_ms() + (uint64_t)timeout_ms;
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap);
	ssize_t n = 1;

	EU_CHECK(buf, "out of memory");
	while (n > 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = eu_now_ms();

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0) {
			free(buf);
			close(fd);
			return NULL;
		}
		if (len + 1 == cap) {
			buf = realloc(buf, cap *= 2);
			EU_CHECK(buf, "out of memory");
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n > 0)
			len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	/* Progress lines come before the status line, as hvis-ctl shows. */
	char *p = buf;

	while (strncmp(p, "progress: ", 10) == 0 && strchr(p, '\n'))
		p = strchr(p, '\n') + 1;
	memmove(buf, p, strlen(p) + 1);
	return buf;
}

char *eu_ctl(const char *path, const char *req)
{
	char *r = eu_ctl_reply(eu_ctl_send(path, req), 10000);

	EU_CHECK(r, "no reply to %s", req);
	return r;
}

int eu_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	EU_CHECK(fd >= 0, "eventfd: %s", strerror(errno));
	return fd;
}

void eu_ring_store(struct vmb_ring_hdr *h, size_t off, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)((uint8_t *)h + off), v,
			      memory_order_release);
}

uint32_t eu_ring_load(const struct vmb_ring_hdr *h, size_t off)
{
	return atomic_load_explicit(
		(const _Atomic uint32_t *)((const uint8_t *)h + off),
		memory_order_acquire);
}

void eu_signal(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		EU_FAIL("eventfd write: %s", strerror(errno));
}

bool eu_wait_event(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) <= 0)
		return false;
	return read(efd, &v, sizeof(v)) == sizeof(v);
}

uint64_t eu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void eu_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void eu_vmb_post(const struct eu_vmb *v, const union vmb_msg_buf *b,
		 uint32_t len)
{
	int rc = rt_xport_send(v->sock, RT_FRAME_MSG, v->conn, b->raw, len,
			       NULL, 0);

	EU_CHECK(len && rc == 0, "send: %s", strerror(-rc));
}

void eu_vmb_expect_frame(const struct eu_vmb *v, uint32_t want,
			 union vmb_msg_buf *m, struct rt_frame *f)
{
	enum vmb_bad why;
	int rc = eu_recv(v->sock, 3000, f), type;

	EU_CHECK(rc == 0, "no %s: %s", vmb_msg_type_name(want), strerror(-rc));
	type = vmb_msg_parse(m, f->payload, vmb_le32(f->hdr.len), &why);
	EU_CHECK(type == (int)want, "got %d, want %s", type,
		 vmb_msg_type_name(want));
}

void eu_vmb_expect(const struct eu_vmb *v, uint32_t want,
		   union vmb_msg_buf *m)
{
	struct rt_frame f;

	eu_vmb_expect_frame(v, want, m, &f);
	eu_frame_close(&f);
}

void eu_vmb_attach(struct eu_vmb *v, const char *path, struct rt_gmem *gmem,
		   uint64_t size)
{
	struct rt_frame_memory mem = {.version = vmb_le32(RT_XPORT_VERSION),
				      .size = vmb_le64(size)};
	union vmb_msg_buf b, m;
	struct rt_frame f;

	EU_CHECK(rt_gmem_create(gmem, size) == 0, "guest memory");
	v->sock = rt_xport_connect(path);
	EU_CHECK(v->sock >= 0, "connect: %s", strerror(-v->sock));
	EU_CHECK(rt_xport_send(v->sock, RT_FRAME_MEMORY, 0, &mem, sizeof(mem),
			       &gmem->fd, 1) == 0, "memory frame");
	v->conn = VMB_MSG_CONNECTION_ID_4;
	eu_vmb_post(v, &b, vmb_msg_enc_initiate_contact(
				   &b, VMB_VERSION_WIN10_V5_3, 0, 0, 0, 0));
	eu_vmb_expect(v, VMB_MSG_VERSION_RESPONSE, &m);
	v->conn = vmb_le32(m.version_response.msg_conn_id);
	eu_vmb_post(v, &b, vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS));
	eu_vmb_expect_frame(v, VMB_MSG_OFFERCHANNEL, &m, &f);
	EU_CHECK(f.nfds == 2, "offer without eventfds");
	v->relid = vmb_le32(m.offer.child_relid);
	v->efd_tx = f.fds[0];
	v->efd_rx = f.fds[1];
	eu_vmb_expect(v, VMB_MSG_ALLOFFERS_DELIVERED, &m);
}
