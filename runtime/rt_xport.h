/* The synthetic-message transport between hvis-guest and hvis-host: a
 * Unix SOCK_SEQPACKET socket (or a socketpair inside one process). */
#ifndef HVIS_RT_XPORT_H
#define HVIS_RT_XPORT_H

#include <sys/types.h>

#include "rt_xport_wire.h"

int rt_xport_listen(const char *path);  /* listening socket, or -errno */
/* A listening Unix socket of type (SOCK_SEQPACKET, SOCK_STREAM) at path,
 * replacing a stale socket file; -EADDRINUSE while a live process still
 * listens there (a second host for the same VM). */
int rt_unix_listen(const char *path, int type);
int rt_xport_accept(int lfd);           /* CLOEXEC, or -errno */
int rt_xport_connect(const char *path); /* or -errno */
int rt_xport_pair(int fds[2]);          /* in-process pairing */
/* Who is at the other end of a connected Unix socket (SO_PEERCRED, as
 * of its connect or listen); either pointer may be NULL. 0 or -errno. */
int rt_unix_peer(int fd, uid_t *uid, pid_t *pid);

/* Send one frame; fds[nfds] are passed with it. 0 or -errno. */
int rt_xport_send(int sock, uint16_t type, uint32_t conn_id,
		  const void *payload, uint32_t len, const int *fds,
		  unsigned nfds);

struct rt_frame {
	struct rt_frame_hdr hdr;
	uint8_t payload[VMB_MSG_MAX];
	int fds[RT_FRAME_MAX_FDS];
	unsigned nfds; /* received descriptors, owned by the caller */
};

/* Receive one frame, checking magic, length and descriptor count (extra
 * descriptors are closed). 0, -ECONNRESET on orderly close by the peer,
 * -EPROTO on a malformed frame, -errno otherwise. */
int rt_xport_recv(int sock, struct rt_frame *f);

/* One end of a connection, as its event loop sees it. */
struct rt_xport_peer {
	const char *name;  /* the other end, for log lines: "host", "guest" */
	uint64_t *bad;     /* malformed frames dropped, counted here */
	/* A well-formed frame; descriptors it leaves in f are closed. */
	void (*frame)(void *arg, struct rt_frame *f);
	/* The connection is gone (closed by the peer or failed). */
	void (*gone)(void *arg, const char *why);
	void *arg;
};

/* The socket is readable: receive one frame and hand it on, drop and
 * count a malformed one, or report the connection gone. */
void rt_xport_on_readable(int sock, const struct rt_xport_peer *p);

#endif
