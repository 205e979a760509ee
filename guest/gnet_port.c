/* netvsc with a port of the embedder's instead of a TAP (gnet_port.h). */
#include <stdio.h>
#include <string.h>

#include "gnet_port.h"

int gnet_port_start(struct gnet_nic *n)
{
	const struct gnet_port *p = gnet_cfg.port;

	/* queues 0 and no namespace: rt_tap_close closes nothing of it */
	n->tap = (struct rt_tap){.queues = 0, .fd = {p->fd}, .ns_fd = -1};
	snprintf(n->tap.name, sizeof(n->tap.name), "port");
	if (p->up)
		p->up(p->arg, n->rndis.info.mac, n->rndis.info.mtu);
	return 0;
}
