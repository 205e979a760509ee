/* netvsc: the guest's driver for Hyper-V's synthetic network adapter.
 * On each adapter offered it registers a receive buffer (16 MiB) and a
 * send buffer (1 MiB) by GPADL, negotiates NVSP and RNDIS, asks for a
 * sub-channel per CPU (up to the host's receive queues), sets RSS over
 * them (the default Toeplitz key, entry i to channel i mod n) and (with
 * a network namespace named) makes a TAP device "hn%d" there with the
 * host's MAC and MTU and a queue per channel; frames cross between each
 * TAP queue and its channel. */
#ifndef HVIS_GNET_H
#define HVIS_GNET_H

#include <sys/types.h>
#include <sys/uio.h>

#include "gvb.h"

/* Frames to and from an embedder (hvis-bench) in place of a TAP: calls
 * as readv and writev of TAP queue q (the channel's) with a virtio-net
 * header in front, readv -1 (EAGAIN) when there is nothing to send; fd
 * (the embedder's, kept open) is polled for POLLIN by every queue's
 * reader thread while it has nothing to send; up (optional) is told the
 * host's MAC and MTU. readv on queue q's reader thread, or on channel
 * q's worker after a receive batch (never both at once); writev on
 * channel q's worker. */
struct gnet_port {
	int fd;
	ssize_t (*readv)(void *arg, unsigned q, const struct iovec *iov,
			 int n);
	ssize_t (*writev)(void *arg, unsigned q, const struct iovec *iov,
			  int n);
	void (*up)(void *arg, const uint8_t mac[6], uint32_t mtu);
	void *arg;
	/* the offloads the host offers, as hn0 would get them: readv may
	 * give frames of up to 64 KiB with a GSO header (else plain ones) */
	bool offload;
};

struct gnet_cfg {
	/* Network namespace (/run/netns/NAME) of the TAP devices; NULL:
	 * none is made (nothing of this machine's interfaces is touched). */
	const char *netns;
	/* Channels wanted, primary included; 0: one per CPU (as Linux's
	 * netvsc), never more than the host's receive queues. */
	uint32_t queues;
	/* --net-rss-table: the indirection table set once RSS is on,
	 * entries repeated to fill it (ntable 0: i mod channels); each
	 * adapter sets it again when table_gen moves (loop thread: a
	 * reload of its file on SIGHUP). */
	unsigned ntable;
	uint32_t table[128];
	unsigned table_gen;
	const char *table_file;  /* --net-rss-table @FILE */
	/* --net-tx-agg: most frames packed into one send section (1:
	 * one each, no aggregation); 0: the host's limit, at most
	 * GNET_TX_AGG_DEFAULT. */
	uint32_t tx_agg;
	/* --net-rsc off: no receive segment coalescing asked for */
	bool no_rsc;
	const struct gnet_port *port; /* NULL: TAP devices */
};

/* --net-rss-table Q[,Q...]: up to 128 channel numbers, separated by
 * commas or white space (a file's lines). 0, or -1 with the reason in
 * why. */
int gnet_parse_table(const char *arg, char *why, size_t n);
/* The table from gnet_cfg.table_file (a regular file, as
 * gnet_parse_table takes it); the one before is kept when it does not
 * parse. 0, or -1 with the reason in why. */
int gnet_table_load(char *why, size_t n);

/* Frames per send section by default: Linux's netvsc's 8 (FreeBSD's
 * hn takes the host's limit, which Hyper-V gives as 8). */
#define GNET_TX_AGG_DEFAULT 8u
/* The most --net-tx-agg takes (the host's limit applies too). */
#define GNET_TX_AGG_MAX 64u

extern struct gnet_cfg gnet_cfg;
extern const struct gvb_driver gnet_driver;

/* Where a netvsc adapter's TAP device is (gnet_lookup.c). */
struct gnet_where {
	int ns_fd;   /* its network namespace: the caller's to close */
	int ifindex; /* the device in that namespace */
};

/* The adapter whose MAC (the host's) is mac (NULL: any adapter), if it
 * has its TAP device: 0 and *w, or -ENOENT. Any thread. */
int gnet_lookup_mac(const uint8_t mac[6], struct gnet_where *w);

#endif
