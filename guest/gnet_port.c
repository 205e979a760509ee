/* netvsc with a port of the embedder's instead of a TAP (gnet_port.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

static ssize_t port_call(void *arg, const struct rt_tapio_op *o,
			 const struct iovec *iov)
{
	const struct gnet_port *p = gnet_cfg.port;
	unsigned q = (unsigned)(uintptr_t)arg;

	return o->write ? p->writev(p->arg, q, iov, o->niov)
			: p->readv(p->arg, q, iov, o->niov);
}

void gnet_port_run(unsigned q, struct rt_tapio *t, rt_ctr *calls)
{
	uint64_t before = rt_ctr_get(&t->calls);

	if (gnet_cfg.port)
		rt_tapio_run_fn(t, port_call, (void *)(uintptr_t)q);
	else
		rt_tapio_run(t);
	rt_ctr_add(calls, rt_ctr_get(&t->calls) - before);
}
