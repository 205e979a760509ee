/* Internals of the disk backends (hbk*.c): each kind fills struct hbk's
 * operations; every kind's queue starts with struct hbk_queue, which
 * keeps the depth accounting common to all of them. */
#ifndef HVIS_HBK_PRIV_H
#define HVIS_HBK_PRIV_H

#include <stdatomic.h>

#include "hbk.h"

struct hbk_ops {
	void (*close)(struct hbk *b);
	/* size != 0: a new size; 0: read the backend's again. */
	int (*resize)(struct hbk *b, uint64_t size, uint64_t *out);
	/* Allocates the kind's queue, calls hbk_queue_init on it before
	 * starting its completion thread. */
	int (*queue_open)(struct hbk *b, unsigned depth, hbk_done_fn *done,
			  void *arg, struct hbk_queue **out);
	/* NULL: the kind has no polled queues (-ENOTSUP). */
	int (*queue_open_polled)(struct hbk *b, unsigned depth,
				 hbk_done_fn *done, void *arg, int notify_fd,
				 struct hbk_queue **out);
	unsigned (*reap)(struct hbk_queue *q); /* NULL: never polled */
	/* io is valid and the depth has room; io->result is 0, or the
	 * refusal to complete it with (-EROFS, -EOPNOTSUPP) untried. */
	int (*submit)(struct hbk_queue *q, struct hbk_io *io);
	void (*kick)(struct hbk_queue *q);
	void (*queue_close)(struct hbk_queue *q);
};

struct hbk {
	const struct hbk_ops *ops;
	struct hbk_info info;   /* size: see below */
	/* hbk_info() runs on any thread while the owner resizes. */
	_Atomic uint64_t size;
};

struct hbk_queue {
	struct hbk *b;
	hbk_done_fn *done;
	void *arg;
	unsigned depth;
	uint64_t issued;              /* the submitting thread's */
	_Atomic uint64_t completed;   /* the reaper's */
};

void hbk_queue_init(struct hbk_queue *q, struct hbk *b, unsigned depth,
		    hbk_done_fn *done, void *arg);
/* Hands a batch of finished ios to done, then frees their depth slots. */
void hbk_deliver(struct hbk_queue *q, struct hbk_io **ios, unsigned n);

int hbk_file_open(struct hbk **out, const char *path,
		  const struct hbk_cfg *cfg, char *err, size_t errlen);

/* The file backend (hbk_file.c opens, hbk_file_io.c moves the data). */
struct hbk_file {
	struct hbk b;
	int fd;              /* for I/O: O_DIRECT when b.info.direct */
	int fd_buf;          /* buffered: unaligned I/O, fallocate, fsync */
	uint32_t mem_align;  /* O_DIRECT: buffer addresses */
	uint32_t off_align;  /* O_DIRECT: offsets and lengths */
	bool blk;            /* a block device */
};

int hbk_file_queue_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
			void *arg, struct hbk_queue **out);
int hbk_file_queue_open_polled(struct hbk *b, unsigned depth,
			       hbk_done_fn *done, void *arg, int notify_fd,
			       struct hbk_queue **out);
unsigned hbk_file_reap(struct hbk_queue *q);
int hbk_file_submit(struct hbk_queue *q, struct hbk_io *io);
void hbk_file_kick(struct hbk_queue *q);
void hbk_file_queue_close(struct hbk_queue *q);

int hbk_nbd_open(struct hbk **out, const char *uri,
		 const struct hbk_cfg *cfg, char *err, size_t errlen);

#endif
