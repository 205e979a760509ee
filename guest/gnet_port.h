/* netvsc's frames go to and come from hn0's TAP queue, or, with
 * gnet_cfg.port set (hvis-bench net), that port's functions: the same
 * frames behind the same virtio-net header, no kernel in the way. */
#ifndef HVIS_GNET_PORT_H
#define HVIS_GNET_PORT_H

#include <sys/uio.h>

#include "gnet_priv.h"

/* The port in place of the TAP, once RNDIS is ready: n->tap as it, a
 * queue per channel, each a duplicate of the port's fd (closed with the
 * TAP; the port's own stays the embedder's). 0, or -errno with why.
 * Loop thread. */
int gnet_port_start(struct gnet_nic *n, char *why, size_t len);

static inline ssize_t gnet_port_readv(struct gnet_nic *n, unsigned q,
				      const struct iovec *iov, int cnt)
{
	const struct gnet_port *p = gnet_cfg.port;

	return p ? p->readv(p->arg, q, iov, cnt)
		 : readv(n->tap.fd[q], iov, cnt);
}

static inline ssize_t gnet_port_writev(struct gnet_nic *n, unsigned q,
				       const struct iovec *iov, int cnt)
{
	const struct gnet_port *p = gnet_cfg.port;

	return p ? p->writev(p->arg, q, iov, cnt)
		 : writev(n->tap.fd[q], iov, cnt);
}

#endif
