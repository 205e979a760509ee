/* netvsc: the guest's driver for Hyper-V's synthetic network adapter.
 * On each adapter offered it registers a receive buffer (16 MiB) and a
 * send buffer (1 MiB) by GPADL, negotiates NVSP and RNDIS, and (with a
 * network namespace named) makes a TAP device "hn%d" there with the
 * host's MAC and MTU; frames cross between the TAP and the channel. */
#ifndef HVIS_GNET_H
#define HVIS_GNET_H

#include <sys/types.h>
#include <sys/uio.h>

#include "gvb.h"

/* Frames to and from an embedder (hvis-bench) in place of a TAP: calls
 * as readv and writev of a TAP queue with a virtio-net header in front,
 * readv -1 (EAGAIN) when there is nothing to send; fd is polled for
 * POLLIN before readv is tried; up (optional) is told the host's MAC and
 * MTU. readv on the adapter's send thread, writev on its channel's
 * worker. */
struct gnet_port {
	int fd;
	ssize_t (*readv)(void *arg, const struct iovec *iov, int n);
	ssize_t (*writev)(void *arg, const struct iovec *iov, int n);
	void (*up)(void *arg, const uint8_t mac[6], uint32_t mtu);
	void *arg;
};

struct gnet_cfg {
	/* Network namespace (/run/netns/NAME) of the TAP devices; NULL:
	 * none is made (nothing of this machine's interfaces is touched). */
	const char *netns;
	const struct gnet_port *port; /* NULL: TAP devices */
};

extern struct gnet_cfg gnet_cfg;
extern const struct gvb_driver gnet_driver;

#endif
