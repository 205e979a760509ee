/* Internals of the disk backends (hbk*.c): each kind fills struct hbk's
 * operations; struct hbk_queue starts every kind's queue. */
#ifndef HVIS_HBK_PRIV_H
#define HVIS_HBK_PRIV_H

#include "hbk.h"

struct hbk_ops {
	void (*close)(struct hbk *b);
	int (*resize)(struct hbk *b, uint64_t size, uint64_t *out);
	int (*queue_open)(struct hbk *b, unsigned depth,
			  struct hbk_queue **out);
	int (*submit)(struct hbk_queue *q, struct hbk_io *io);
	void (*kick)(struct hbk_queue *q);
	void (*queue_close)(struct hbk_queue *q);
};

struct hbk {
	const struct hbk_ops *ops;
	struct hbk_info info;
};

struct hbk_queue {
	struct hbk *b;
	hbk_done_fn *done;
	void *arg;
};

int hbk_file_open(struct hbk **out, const char *path,
		  const struct hbk_cfg *cfg, char *err, size_t errlen);
int hbk_nbd_open(struct hbk **out, const char *uri,
		 const struct hbk_cfg *cfg, char *err, size_t errlen);

/* Zeros into io's iovecs from byte done on (a read past the end). */
int hbk_iov_zero(struct hbk_io *io, uint64_t done);

#endif
