/* netvsc with a port of the embedder's instead of a TAP (gnet_port.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gnet_port.h"

int gnet_port_start(struct gnet_nic *n, char *why, size_t len)
{
	const struct gnet_port *p = gnet_cfg.port;
	unsigned nq = atomic_load(&n->nchan);

	n->tap = (struct rt_tap){.ns_fd = -1};
	snprintf(n->tap.name, sizeof(n->tap.name), "port");
	for (; n->tap.queues < nq && n->tap.queues < RT_TAP_QUEUES_MAX;
	     n->tap.queues++) {
		n->tap.fd[n->tap.queues] = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
		if (n->tap.fd[n->tap.queues] < 0) {
			int e = errno;

			snprintf(why, len, "port: %s", strerror(e));
			rt_tap_close(&n->tap);
			return -e;
		}
	}
	if (p->up)
		p->up(p->arg, n->rndis.info.mac, n->rndis.info.mtu);
	return 0;
}
