/* A burst of reads or writes on one TAP queue in one system call: the
 * requests are queued (readv or writev, each with its iovecs and a few
 * header bytes kept here until the burst runs) and go to the kernel
 * with one io_uring_enter that also waits for them all.
 *
 * Nothing waits: a TAP write completes at submission; a read is sent
 * with RWF_NOWAIT, so a read past the last queued frame completes there
 * with -EAGAIN instead of waiting for one (without it, io_uring would
 * arm a poll and the read would finish whenever a frame came). The
 * kernel issues a submission's requests in order, each finished before
 * the next starts, so the frames come in the queue's order, one per
 * read, the reads after the first -EAGAIN all -EAGAIN unless a frame
 * came meanwhile (still in order).
 *
 * A TAP that does not take RWF_NOWAIT (kernels before the TAP driver
 * had non-blocking issue, e.g. 6.1) keeps its reads one readv each;
 * where io_uring cannot be set up at all (an old kernel, seccomp, or
 * HVIS_TAPIO=off in the environment) every request is one readv or
 * writev, in order, the reads stopping at the first -EAGAIN. Either
 * way one log line says so. One thread per rt_tapio. */
#ifndef HVIS_RT_TAPIO_H
#define HVIS_RT_TAPIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "rt_ctr.h"

/* Requests in one burst, and their iovecs together. */
#define RT_TAPIO_OPS 64u
#define RT_TAPIO_IOV 1024u
#define RT_TAPIO_HDR 16u

struct rt_tapio_op {
	uint8_t hdr[RT_TAPIO_HDR]; /* the caller's, kept for the burst */
	uint16_t iov, niov;        /* its iovecs in iov[] */
	bool write;
	int32_t res;               /* bytes, or -errno, after the run */
	uint32_t want, cookie;     /* the caller's, for the results */
};

struct rt_tapio {
	int fd;
	bool ring_on;              /* writes go through the ring */
	bool ring_reads;           /* and reads (RWF_NOWAIT taken) */
	unsigned nops, niov;
	struct io_uring *ring;     /* liburing's, kept out of this header */
	struct rt_tapio_op op[RT_TAPIO_OPS];
	struct iovec iov[RT_TAPIO_IOV];
	rt_ctr calls;              /* system calls the bursts made */
};

/* For TAP queue fd (non-blocking); what is used is logged once under
 * name. Never fails: without io_uring, one call per request. */
void rt_tapio_init(struct rt_tapio *t, int fd, const char *name);
void rt_tapio_free(struct rt_tapio *t);

/* The next request's n iovecs (filled by the caller, kept here), or
 * NULL when the burst has no room (run it first). */
struct iovec *rt_tapio_iov(struct rt_tapio *t, unsigned n);
/* Queues the request whose n iovecs rt_tapio_iov gave; it, to fill
 * in hdr, want and cookie. */
struct rt_tapio_op *rt_tapio_add(struct rt_tapio *t, unsigned n,
				 bool write);

/* Room for n more iovecs of the last request queued (after its own),
 * or NULL; rt_tapio_grow adds them to it once filled. */
struct iovec *rt_tapio_more(struct rt_tapio *t, unsigned n);
void rt_tapio_grow(struct rt_tapio *t, unsigned n);

/* The queued requests, in order; each op[i].res is set. Their count;
 * the burst is empty again after the caller read the results (the
 * next rt_tapio_iov starts a new one). */
unsigned rt_tapio_run(struct rt_tapio *t);
/* The same through fn, one call a request (a port that is not a TAP):
 * fn's result as readv's or writev's. */
typedef ssize_t rt_tapio_fn(void *arg, const struct rt_tapio_op *o,
			    const struct iovec *iov);
unsigned rt_tapio_run_fn(struct rt_tapio *t, rt_tapio_fn *fn, void *arg);

#endif
