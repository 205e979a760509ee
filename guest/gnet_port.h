/* netvsc's frames go to and come from hn0's TAP queue, or, with
 * gnet_cfg.port set (hvis-bench net), that port's functions: the same
 * frames behind the same virtio-net header, no kernel in the way.
 * Either way they are queued as bursts (rt_tapio) and run together. */
#ifndef HVIS_GNET_PORT_H
#define HVIS_GNET_PORT_H

#include <sys/uio.h>

#include "gnet_priv.h"

/* The port in place of the TAP, once RNDIS is ready: n->tap as it, a
 * queue per channel, each a duplicate of the port's fd (closed with the
 * TAP; the port's own stays the embedder's). 0, or -errno with why.
 * Loop thread. */
int gnet_port_start(struct gnet_nic *n, char *why, size_t len);

/* The requests queued in t (a burst of queue q's), in order: one
 * system call for all on a TAP, one call of the port's each on a
 * port. Counted in calls. */
void gnet_port_run(unsigned q, struct rt_tapio *t, rt_ctr *calls);

#endif
