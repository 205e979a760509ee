/* netvsp's switch port: where the guest's frames go and the host's come
 * from. A TAP device (runtime/rt_tap) by default; or the bench port
 * (--nic bench[,rx=SIZE]), a sink that counts and drops what the guest
 * sends and, with rx=SIZE, a source of SIZE-byte frames toward the guest
 * as fast as its receive buffer takes them (hvis-bench net, no kernel in
 * the way). Both look like TAP queues to hnet_data.c: a descriptor the
 * channel's worker polls (nic->tap.fd[q], the bench port's an eventfd
 * per queue) and reads and writes of one frame behind a virtio-net
 * header, queued as a burst in the channel's rt_tapio and run together:
 * one system call for the burst on a TAP, one bench call each on the
 * bench port. */
#ifndef HVIS_HNET_PORT_H
#define HVIS_HNET_PORT_H

#include <sys/types.h>
#include <sys/uio.h>

#include "hnet_priv.h"

struct hnet_bench;

/* The bench port's frames on queue q, as readv and writev of a TAP
 * queue would. */
ssize_t hnet_bench_readv(struct hnet_bench *b, unsigned q,
			 const struct iovec *iov, int n);
ssize_t hnet_bench_writev(struct hnet_bench *b, const struct iovec *iov,
			  int n);
/* Its frames are TCP frames longer than the MTU (bench,rx=SIZE past
 * it), for a guest that agreed RSC. */
bool hnet_bench_rsc(const struct hnet_bench *b);
/* The guest sent something on channel q (a completion gave a receive
 * slot back, a filter was set): its source, paused on a full buffer,
 * goes on. b NULL: nothing. */
void hnet_bench_room(struct hnet_bench *b, unsigned q);

/* The bench port's NIC name (nic list, nic remove). */
#define HNET_BENCH_NAME "bench"

/* Make the bench port as nic->tap, nic->queues eventfds. 0 or -1 with
 * why. */
int hnet_bench_open(struct hnet_nic *nic, const struct hnet_nic_cfg *cfg,
		    char *why, size_t n);
void hnet_bench_free(struct hnet_bench *b);
/* bench[,rx=SIZE] in a --nic spec: true when o was one of those. */
bool hnet_bench_opt(const char *o, struct hnet_nic_cfg *cfg);

/* The channel's bursts, made when it opens and freed when it closes
 * (worker or loop thread, not at the same time). */
void hnet_port_open(struct hnet_chan *ch);
void hnet_port_close(struct hnet_chan *ch);
/* The requests queued in ch->tio (rt_tapio_iov, rt_tapio_add), in
 * order; each one's result in ch->tio.op[i].res. The system calls it
 * took are counted in calls. */
void hnet_port_run(struct hnet_chan *ch, rt_ctr *calls);

/* A TAP queue taken into or out of the kernel's choice; the bench
 * port's are always in. 0 or -errno. */
static inline int hnet_port_queue_enable(struct hnet_nic *nic, unsigned q,
					 bool on)
{
	return nic->bench ? 0 : rt_tap_queue_enable(&nic->tap, q, on);
}

#endif
