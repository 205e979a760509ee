/* Synthetic-message transport: one frame per SOCK_SEQPACKET datagram,
 * descriptors as SCM_RIGHTS. Everything received is checked before the
 * caller sees it; descriptors of a rejected frame are closed. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rt_log.h"
#include "rt_xport.h"

static int xport_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Is a live process listening at path? Only a socket file whose owner is
 * gone refuses connections (ECONNREFUSED); any other answer, a listener
 * of another socket type (EPROTOTYPE) or a full backlog included, means
 * someone still owns it. */
static bool unix_path_live(const struct sockaddr_un *sa, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool live;

	if (fd < 0)
		return true;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	       errno != ECONNREFUSED;
	close(fd);
	return live;
}

int rt_unix_listen(const char *path, int type)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	rc = xport_addr(&sa, path);
	if (rc)
		return rc;
	/* A socket left by a previous run would make bind fail: replace it,
	 * unless its owner still runs. Anything that is not a socket is not
	 * ours to remove. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (unix_path_live(&sa, type))
			return -EADDRINUSE;
		unlink(path);
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Owner only; nobody can connect before listen, so the mode is
	 * right before the socket takes its first connection. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int rt_xport_listen(const char *path)
{
	return rt_unix_listen(path, SOCK_SEQPACKET);
}

int rt_xport_accept(int lfd)
{
	int fd;

	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int rt_xport_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, rc;

	rc = xport_addr(&sa, path);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	/* An interrupted connect completes on its own; a retry then
	 * reports EISCONN. */
	while (rc < 0 && errno == EINTR) {
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		if (rc < 0 && errno == EISCONN)
			rc = 0;
	}
	if (rc < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int rt_unix_peer(int fd, uid_t *uid, pid_t *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (uid)
		*uid = cr.uid;
	if (pid)
		*pid = cr.pid;
	return 0;
}

int rt_xport_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	return 0;
}

union xport_cmsg {
	struct cmsghdr h;
	uint8_t buf[CMSG_SPACE(sizeof(int) * RT_FRAME_MAX_FDS)];
};

void rt_xport_hdr(struct rt_frame_hdr *h, uint16_t type, uint32_t conn_id,
		  uint32_t len, unsigned nfds)
{
	h->magic = vmb_le32(RT_XPORT_MAGIC);
	h->type = vmb_le16(type);
	h->nfds = vmb_le16((uint16_t)nfds);
	h->conn_id = vmb_le32(conn_id);
	h->len = vmb_le32(len);
}

ssize_t rt_unix_sendmsg(int sock, const struct iovec *iov, unsigned iovcnt,
			const int *fds, unsigned nfds, int flags)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov,
			      .msg_iovlen = iovcnt };
	union xport_cmsg c;
	ssize_t n;

	if (nfds > RT_FRAME_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		memset(&c, 0, sizeof(c));
		msg.msg_control = c.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(&c.h), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	return n;
}

static int send_frame(int sock, uint16_t type, uint32_t conn_id,
		      const void *payload, uint32_t len, const int *fds,
		      unsigned nfds, int flags)
{
	struct rt_frame_hdr h;
	struct iovec iov[2];
	ssize_t n;

	if (len > VMB_MSG_MAX || nfds > RT_FRAME_MAX_FDS || (len && !payload))
		return -EINVAL;
	rt_xport_hdr(&h, type, conn_id, len, nfds);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	n = rt_unix_sendmsg(sock, iov, 2, fds, nfds, flags);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(h) + len)
		return -EIO; /* a datagram socket sends all or nothing */
	return 0;
}

int rt_xport_send(int sock, uint16_t type, uint32_t conn_id,
		  const void *payload, uint32_t len, const int *fds,
		  unsigned nfds)
{
	return send_frame(sock, type, conn_id, payload, len, fds, nfds, 0);
}

int rt_xport_send_nowait(int sock, uint16_t type, uint32_t conn_id,
			 const void *payload, uint32_t len)
{
	return send_frame(sock, type, conn_id, payload, len, NULL, 0,
			  MSG_DONTWAIT);
}

/* Collect every descriptor that arrived, even from unexpected control
 * messages, so that none can leak. Returns how many; more than max means
 * the frame is malformed (the surplus is closed here). */
static unsigned take_fds(struct msghdr *msg, int *out, unsigned max)
{
	struct cmsghdr *cm;
	unsigned n = 0;

	for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		size_t k, cnt;

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++, n++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int),
			       sizeof(fd));
			if (n < max)
				out[n] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int rt_xport_recv(int sock, struct rt_frame *f)
{
	struct iovec iov[2];
	struct msghdr msg;
	union xport_cmsg c;
	unsigned got, total;
	ssize_t n;

	f->nfds = 0;
	iov[0].iov_base = &f->hdr;
	iov[0].iov_len = sizeof(f->hdr);
	iov[1].iov_base = f->payload;
	iov[1].iov_len = sizeof(f->payload);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = c.buf;
	msg.msg_controllen = sizeof(c.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	total = take_fds(&msg, f->fds, RT_FRAME_MAX_FDS);
	/* the surplus beyond RT_FRAME_MAX_FDS is closed already */
	got = total < RT_FRAME_MAX_FDS ? total : RT_FRAME_MAX_FDS;
	/* A zero-length datagram is how SOCK_SEQPACKET reports the peer's
	 * close; hvis never sends an empty frame. */
	if (n == 0) {
		close_fds(f->fds, got);
		return -ECONNRESET;
	}
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(f->hdr) ||
	    vmb_le32(f->hdr.magic) != RT_XPORT_MAGIC ||
	    vmb_le32(f->hdr.len) != (size_t)n - sizeof(f->hdr) ||
	    total > RT_FRAME_MAX_FDS || vmb_le16(f->hdr.nfds) != total) {
		close_fds(f->fds, got);
		return -EPROTO;
	}
	f->nfds = got;
	return 0;
}

bool rt_xport_read_one(int sock, const struct rt_xport_peer *p,
		       struct rt_xport_stats *st)
{
	struct rt_frame f;
	char why[64];
	int rc = rt_xport_recv(sock, &f);

	if (rc == -EAGAIN)
		return false;
	if (rc == -EPROTO) {
		(*p->bad)++;
		rt_warn("xport", "malformed frame from %s dropped", p->name);
		return true;
	}
	if (rc) {
		if (rc == -ECONNRESET)
			snprintf(why, sizeof(why), "connection closed by %s",
				 p->name);
		else
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		p->gone(p->arg, why);
		return false;
	}
	if (st)
		st->rx_frames++;
	p->frame(p->arg, &f);
	for (unsigned i = 0; i < f.nfds; i++)
		close(f.fds[i]);
	return true;
}

void rt_xport_on_readable(int sock, const struct rt_xport_peer *p)
{
	rt_xport_read_one(sock, p, NULL);
}
