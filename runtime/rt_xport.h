/* The synthetic-message transport between hvis-guest and hvis-host: a
 * Unix SOCK_SEQPACKET socket (or a socketpair inside one process). */
#ifndef HVIS_RT_XPORT_H
#define HVIS_RT_XPORT_H

#include <stdbool.h>
#include <sys/types.h>

#include "rt_loop.h"
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

/* sendmsg of iov with fds as SCM_RIGHTS (at most RT_FRAME_MAX_FDS),
 * MSG_NOSIGNAL | flags, retried on EINTR: sendmsg's return and errno. */
struct iovec;
ssize_t rt_unix_sendmsg(int sock, const struct iovec *iov, unsigned iovcnt,
			const int *fds, unsigned nfds, int flags);
/* The same without waiting: -EAGAIN if the socket is full. */
int rt_xport_send_nowait(int sock, uint16_t type, uint32_t conn_id,
			 const void *payload, uint32_t len);

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

struct rt_xport_stats {
	uint64_t tx_frames, rx_frames;
	uint64_t queued, queued_bytes; /* waiting to be sent now */
	uint64_t queued_max;           /* most frames ever waiting */
	uint64_t overflows;            /* the peer let the queue fill */
};

/* The socket is readable: receive one frame and hand it on, drop and
 * count a malformed one, or report the connection gone. */
void rt_xport_on_readable(int sock, const struct rt_xport_peer *p);
/* The same; true if the caller may read again (a frame was taken or
 * dropped), false when nothing was there or the connection is gone.
 * Received frames are counted in st (may be NULL). */
bool rt_xport_read_one(int sock, const struct rt_xport_peer *p,
		       struct rt_xport_stats *st);
/* A frame header for type, conn_id, len payload bytes and nfds. */
void rt_xport_hdr(struct rt_frame_hdr *h, uint16_t type, uint32_t conn_id,
		  uint32_t len, unsigned nfds);

/* A connection on the event loop (rt_xport_conn.c): frames in through p,
 * frames out without ever blocking. Frames the socket does not take at
 * once wait in a queue of at most RT_XPORT_QUEUE_FRAMES frames and
 * RT_XPORT_QUEUE_BYTES bytes; a peer that lets it fill has stopped
 * reading, and the connection ends (p->gone, from the loop) instead of
 * waiting for it. Every callback of p may close the connection. */
#define RT_XPORT_QUEUE_FRAMES 65536u
#define RT_XPORT_QUEUE_BYTES (16u << 20)
struct rt_xport_conn;
/* Takes sock (made non-blocking; closed by rt_xport_close). NULL on
 * failure (sock left open). */
struct rt_xport_conn *rt_xport_open(int sock, struct rt_loop *l,
				    const struct rt_xport_peer *p);
/* Send or queue one frame; fds are duplicated if it must wait. 0, or
 * -errno when the connection failed (p->gone follows from the loop). */
int rt_xport_post(struct rt_xport_conn *x, uint16_t type, uint32_t conn_id,
		  const void *payload, uint32_t len, const int *fds,
		  unsigned nfds);
/* Stop or resume reading (sending goes on). */
void rt_xport_pause(struct rt_xport_conn *x, bool paused);
/* Closes the socket and drops what is queued. */
void rt_xport_close(struct rt_xport_conn *x);
/* Outside the loop (a program on its way out): wait up to timeout_ms
 * for the socket, then read and send what it allows. 1 if something
 * happened, 0 on timeout, -errno (-ECONNRESET: the connection failed). */
int rt_xport_wait(struct rt_xport_conn *x, int timeout_ms);
void rt_xport_get_stats(const struct rt_xport_conn *x,
			struct rt_xport_stats *st);
int rt_xport_fd(const struct rt_xport_conn *x);

#endif
