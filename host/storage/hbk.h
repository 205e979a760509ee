/* Disk backends of the emulated host's storvsp: where a virtual disk's
 * bytes live. A raw image file or block device through io_uring, or an NBD
 * server through libnbd (so that qemu-nbd serves VHDX and qcow2 images and
 * nbdkit anything else). Data moves straight between the backend and the
 * caller's iovecs (mapped guest memory): no bounce buffer.
 *
 * Queues: each channel worker opens its own queue. hbk_submit() only
 * queues; hbk_kick() starts everything queued with one system call, so a
 * receive batch of requests costs one submission. Completions are
 * delivered in batches, through the done callback given at open: on the
 * queue's own completion thread (hbk_queue_open), or on the owner's
 * thread (hbk_queue_open_polled: no thread to wake, so an I/O that
 * completes at once costs no thread switch at all).
 *
 * Threads: hbk_submit(), hbk_kick() and hbk_reap() of one queue come
 * from one thread at a time (the channel worker); done runs on the
 * queue's completion thread, or inside hbk_kick/hbk_reap of a polled
 * queue; hbk_info() from any thread; hbk_open/close,
 * hbk_queue_open/close and hbk_resize from the owner, never inside
 * done. */
#ifndef HVIS_HBK_H
#define HVIS_HBK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Most iovecs one I/O may carry (one per run of guest pages: a 2 MiB
 * transfer over scattered pages). */
#define HBK_IOV_MAX 513u

enum hbk_op {
	HBK_READ,         /* backend [offset, +len) -> iov; past the end
			   * of an image file shorter than its size: 0s */
	HBK_WRITE,        /* iov -> backend; fua: durable at completion */
	HBK_FLUSH,        /* every completed write durable (offset/len 0) */
	HBK_DISCARD,      /* deallocate; reads back zeros (can_discard only:
			   * elsewhere it completes with -EOPNOTSUPP) */
	HBK_WRITE_ZEROES  /* zeros; may_unmap: holes may replace them */
};

struct hbk_io {
	enum hbk_op op;
	bool fua;
	bool may_unmap;
	uint64_t offset;          /* bytes */
	uint64_t len;             /* READ/WRITE: the iovecs' total */
	const struct iovec *iov;  /* READ/WRITE; kept until completion */
	unsigned iovcnt;          /* 1..HBK_IOV_MAX */
	int result;               /* at completion: 0 or -errno */
	void *cookie;             /* the caller's */
};

struct hbk_info {
	uint64_t size;        /* bytes, as last read (hbk_resize, open) */
	uint32_t block_size;  /* logical block: 512, or 4096 (4Kn device) */
	bool read_only;       /* asked for, or the backend allows no writes */
	bool can_discard;     /* HBK_DISCARD punches holes that read as 0 */
	bool direct;          /* O_DIRECT in use (file backends) */
	const char *kind;     /* "file", "block", "nbd" */
};

struct hbk_cfg {
	bool read_only;
	bool no_direct;       /* never O_DIRECT, even where it works */
};

struct hbk;
struct hbk_queue;

/* Open spec: "nbd://...", "nbds://...", "nbd+unix://..." (libnbd URIs)
 * or a path to a regular file or block device. 0 or -errno, with a
 * one-line reason in err (what is wrong and what to do). */
int hbk_open(struct hbk **out, const char *spec, const struct hbk_cfg *cfg,
	     char *err, size_t errlen);
/* Every queue must be closed first. */
void hbk_close(struct hbk *b);
void hbk_info(const struct hbk *b, struct hbk_info *out);
/* Grow or shrink the disk to size bytes (a file: ftruncate, to whole
 * blocks, else -EINVAL; shrinking drops the data past the new end; a
 * read-only one: -EROFS; others: -ENOTSUP), or with size 0 re-read the
 * backend's size (NBD: the size the server gave when connecting). The
 * new size in *out. 0 or -errno. */
int hbk_resize(struct hbk *b, uint64_t size, uint64_t *out);

/* The ios of one completion batch, each with result set. The caller owns
 * them again as soon as done returns. */
typedef void hbk_done_fn(struct hbk_io *const *ios, unsigned n, void *arg);

/* A queue for up to depth ios in flight (1..1024). 0 or -errno. */
int hbk_queue_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
		   void *arg, struct hbk_queue **out);
/* A queue whose completions the owner takes: notify_fd (an eventfd)
 * becomes readable when some may be waiting, and hbk_reap() delivers
 * them; hbk_kick() delivers those already finished when it returns.
 * -ENOTSUP for a backend that completes on threads of its own (NBD):
 * use hbk_queue_open. */
int hbk_queue_open_polled(struct hbk *b, unsigned depth, hbk_done_fn *done,
			  void *arg, int notify_fd, struct hbk_queue **out);
/* Polled queues: deliver every completion there is; how many. Others:
 * 0. */
unsigned hbk_reap(struct hbk_queue *q);
/* Queue io (not started before hbk_kick). -EAGAIN when depth ios are
 * queued or in flight; -EINVAL for an io breaking the rules above (a
 * write on a read-only backend is not refused here: it completes with
 * -EROFS). */
int hbk_submit(struct hbk_queue *q, struct hbk_io *io);
/* Start everything queued. */
void hbk_kick(struct hbk_queue *q);
/* Wait for every io in flight (each still reaches done: a polled
 * queue's on the caller's thread), stop the completion thread, free the
 * queue. Queued ios never kicked are started first. */
void hbk_queue_close(struct hbk_queue *q);

#endif
