/* `hvis-bench net`'s TAP relay: two TAP devices with virtio-net headers
 * and the kernel's TSO and checksum offloads, one in each of two network
 * namespaces, joined by a thread each way that reads frames from one and
 * writes them to the other: one read and one write a frame, the two
 * copies netvsc's read from hn0 and netvsp's write to its port make, and
 * nothing between them. Both threads run on the CPU hvis-host and
 * hvis-guest give the primary channel's workers (the first this process
 * may use). The rows it gives are what hvis's end-to-end path would do
 * if VMBus cost nothing: a bound, on this machine, of any user-space
 * path between two TAPs. */
#include <errno.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench_net.h"
#include "rt_tap.h"

/* Room for a frame of 64 KiB and its header. */
#define RELAY_FRAME (RT_TAP_VNET_HDR_LEN + 65536u + 64u)

struct relay_dir {
	int in, out, stop;
	uint8_t *buf;
	pthread_t thr;
	bool on;
};

struct bench_relay {
	struct rt_tap tap[2];
	int stop;
	struct relay_dir dir[2];
};

/* Every frame the queue holds now, each written on as it came. */
static void relay_drain(struct relay_dir *d)
{
	ssize_t n;

	while ((n = read(d->in, d->buf, RELAY_FRAME)) > 0)
		if (write(d->out, d->buf, (size_t)n) < 0 && errno != EAGAIN)
			break;
}

static void *relay_main(void *arg)
{
	struct relay_dir *d = arg;
	struct pollfd p[2] = {{.fd = d->in, .events = POLLIN},
			      {.fd = d->stop, .events = POLLIN}};

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			relay_drain(d);
	}
	return NULL;
}

/* The first CPU this process may run on. */
static int first_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			return c;
	return -1;
}

static int dir_start(struct relay_dir *d, int in, int out, int stop, int cpu)
{
	cpu_set_t set;
	pthread_attr_t a;
	int rc;

	*d = (struct relay_dir){.in = in, .out = out, .stop = stop,
				.buf = malloc(RELAY_FRAME)};
	if (!d->buf)
		return -ENOMEM;
	pthread_attr_init(&a);
	CPU_ZERO(&set);
	if (cpu >= 0) {
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&a, sizeof(set), &set);
	}
	rc = pthread_create(&d->thr, &a, relay_main, d);
	pthread_attr_destroy(&a);
	d->on = rc == 0;
	return -rc;
}

static int tap_up(struct rt_tap *t, const char *name, const char *ns,
		  char *why, size_t n)
{
	struct rt_tap_cfg c = {.name = name, .netns = ns, .queues = 1,
			       .vnet_hdr = true};
	int rc = rt_tap_open(t, &c, why, n);

	if (rc)
		return rc;
	rc = rt_tap_set_offload(t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	if (rc)
		snprintf(why, n, "%s: offloads not set: %s", name,
			 strerror(-rc));
	return rc;
}

void bench_relay_stop(struct bench_relay *r)
{
	uint64_t one = 1;

	if (!r)
		return;
	if (r->stop >= 0 && write(r->stop, &one, sizeof(one)) < 0)
		perror("hvis-bench: relay stop");
	for (unsigned i = 0; i < 2; i++) {
		if (r->dir[i].on)
			pthread_join(r->dir[i].thr, NULL);
		free(r->dir[i].buf);
		rt_tap_close(&r->tap[i]);
	}
	if (r->stop >= 0)
		close(r->stop);
	free(r);
}

int bench_relay_start(struct bench_relay **out, const char *const ns[2],
		      const char *const name[2], char *why, size_t n)
{
	struct bench_relay *r = calloc(1, sizeof(*r));
	int cpu = first_cpu(), rc = 0;

	*out = r;
	if (!r) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	r->tap[0].ns_fd = r->tap[1].ns_fd = -1;
	r->stop = eventfd(0, EFD_CLOEXEC);
	if (r->stop < 0) {
		rc = -errno;
		snprintf(why, n, "eventfd: %s", strerror(-rc));
		return rc;
	}
	for (unsigned i = 0; i < 2 && !rc; i++)
		rc = tap_up(&r->tap[i], name[i], ns[i], why, n);
	for (unsigned i = 0; i < 2 && !rc; i++)
		if ((rc = dir_start(&r->dir[i], r->tap[i].fd[0],
				    r->tap[1 - i].fd[0], r->stop, cpu)))
			snprintf(why, n, "relay thread: %s", strerror(-rc));
	return rc;
}
