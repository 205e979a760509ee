/* Helpers shared by the hostile peers (evil_guest.c, evil_host.c,
 * evil_ic_guest.c): raw frames, receiving with a deadline, the host's
 * control socket, and looking at the other process from outside (its
 * descriptors and CPU time in /proc). */
#ifndef HVIS_EVIL_UTIL_H
#define HVIS_EVIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rt_xport.h"

/* Print where and why, then exit 1: a hostile-peer test stops at the
 * first thing the peer under test got wrong. */
#define EU_FAIL(...) eu_fail(__FILE__, __LINE__, __VA_ARGS__)
#define EU_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond))                                                   \
			EU_FAIL(__VA_ARGS__);                                  \
	} while (0)

void eu_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));
/* Log the step about to be taken (stderr, one line). */
void eu_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One datagram exactly as given (any header, any length) with nfds
 * descriptors as SCM_RIGHTS. 0 or -errno. */
int eu_send_raw(int sock, const void *buf, size_t len, const int *fds,
		unsigned nfds);
/* A frame header as rt_xport would write it, with every field chosen. */
void eu_hdr(struct rt_frame_hdr *h, uint32_t magic, uint16_t type,
	    uint16_t nfds, uint32_t conn_id, uint32_t len);
/* rt_xport_recv within timeout_ms: 0, -ETIMEDOUT or its error. */
int eu_recv(int sock, int timeout_ms, struct rt_frame *f);
void eu_frame_close(struct rt_frame *f);

pid_t eu_peer_pid(int sock);
/* Open descriptors of pid, or -1. */
int eu_fd_count(pid_t pid);
/* User + system CPU time pid has used, in seconds. */
double eu_cpu_seconds(pid_t pid);
/* CPU share of pid over ms milliseconds, calling tick every 10 ms. */
double eu_cpu_share(pid_t pid, unsigned ms, void (*tick)(void *), void *arg);

/* hvis-host's control socket: eu_ctl_send connects and writes one
 * request line (failing the test when the socket is gone) and returns the
 * connection; eu_ctl_reply reads the whole reply (malloc'd) until the
 * host closes it, or returns NULL when none came within timeout_ms.
 * eu_ctl does both. */
int eu_ctl_send(const char *path, const char *req);
char *eu_ctl_reply(int fd, int timeout_ms);
char *eu_ctl(const char *path, const char *req);

/* Overwrite a 32-bit word of a ring header (off: offsetof a field) with
 * release order, as the peer's writer would. The header struct is
 * packed, so the word is reached through its offset, not a member. */
struct vmb_ring_hdr;
void eu_ring_store(struct vmb_ring_hdr *h, size_t off, uint32_t v);
/* The same word, acquire-loaded as the peer's reader would. */
uint32_t eu_ring_load(const struct vmb_ring_hdr *h, size_t off);

/* A raw guest's VMBus connection: its guest memory shared with the host
 * (GMEM bytes), INITIATE_CONTACT at 5.3, the first offer (its eventfds)
 * and ALLOFFERS_DELIVERED. Fails the test on any step. */
struct rt_gmem;
union vmb_msg_buf;
struct eu_vmb {
	int sock;
	uint32_t conn, relid;
	int efd_tx, efd_rx;
};
void eu_vmb_attach(struct eu_vmb *v, const char *path, struct rt_gmem *gmem,
		   uint64_t size);
/* One channel message of len bytes (len 0: the encoder refused). */
void eu_vmb_post(const struct eu_vmb *v, const union vmb_msg_buf *b,
		 uint32_t len);
/* The next message, which must be of type want, within 3 s; f keeps its
 * descriptors (close it). */
void eu_vmb_expect_frame(const struct eu_vmb *v, uint32_t want,
			 union vmb_msg_buf *m, struct rt_frame *f);
void eu_vmb_expect(const struct eu_vmb *v, uint32_t want,
		   union vmb_msg_buf *m);

int eu_eventfd(void);
void eu_signal(int efd);
/* Wait up to ms for efd to be signalled and consume it. */
bool eu_wait_event(int efd, int ms);
uint64_t eu_now_ms(void);
void eu_sleep_ms(unsigned ms);

#endif
