/* The raw backend: an image file or a block device through io_uring.
 *
 * Each queue has its own ring. The channel worker fills submission
 * entries (hbk_submit, no system call) and submits them once per batch
 * (hbk_kick); the queue's completion thread waits on the completion side
 * and hands each batch to done. The two threads share the ring as
 * io_uring allows: one submitter, one reaper; in-flight accounting is a
 * counter each of them writes alone (submitted, completed).
 *
 * O_DIRECT is used when the file takes it; an I/O whose offset, length
 * or buffers do not meet the device's direct-I/O alignment goes through
 * a second, buffered descriptor instead (the kernel keeps the two views
 * coherent: direct I/O writes back and drops the cached range first).
 * Short transfers (buffered I/O near the end of the file) are finished
 * synchronously on the completion thread; a read past the end of the
 * file returns zeros for that part, as a sparse image would. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hbk_priv.h"

#define HBK_BATCH 64u
#define ZERO_CHUNK (1u << 20)

struct hbk_file {
	struct hbk b;
	int fd;          /* O_DIRECT when direct */
	int fd_buf;      /* buffered; == fd when not direct */
	uint32_t align;  /* direct-I/O alignment */
};

struct hbk_fq {
	struct hbk_queue q;
	struct hbk_file *f;
	struct io_uring ring;
	unsigned depth;
	unsigned queued;             /* prepared, not submitted (worker) */
	uint64_t submitted;          /* worker */
	_Atomic uint64_t completed;  /* completion thread */
	_Atomic bool closing;
	pthread_t thr;
};

static const uint8_t zero_page[4096];

/* ---- opening ---- */

static uint32_t dio_align(int fd, bool blk)
{
	struct statx sx;
	int ssz;

	if (!statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align)
		return sx.stx_dio_offset_align > sx.stx_dio_mem_align
			       ? sx.stx_dio_offset_align : sx.stx_dio_mem_align;
	if (blk && !ioctl(fd, BLKSSZGET, &ssz) && ssz > 0)
		return (uint32_t)ssz;
	return 512;
}

/* Punching a hole past the end changes nothing and tells whether the
 * filesystem can punch at all. */
static bool can_punch(int fd, uint64_t size)
{
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)size + (1 << 20), 4096) == 0;
}

static int file_geometry(struct hbk_file *f, const struct stat *st)
{
	uint64_t size = (uint64_t)st->st_size;
	int ssz = 512;

	if (S_ISBLK(st->st_mode)) {
		if (ioctl(f->fd, BLKGETSIZE64, &size) ||
		    ioctl(f->fd, BLKSSZGET, &ssz))
			return -errno;
		f->b.info.kind = "block";
	} else {
		f->b.info.kind = "file";
		f->b.info.can_discard = !f->b.info.read_only &&
					can_punch(f->fd_buf, size);
	}
	f->b.info.size = size;
	f->b.info.block_size = ssz == 4096 ? 4096 : 512;
	return 0;
}

static int open_fds(struct hbk_file *f, const char *path,
		    const struct hbk_cfg *cfg, struct stat *st)
{
	int mode = cfg->read_only ? O_RDONLY : O_RDWR;

	f->fd_buf = open(path, mode | O_CLOEXEC);
	if (f->fd_buf < 0 && errno == EROFS && !cfg->read_only) {
		f->b.info.read_only = true;
		mode = O_RDONLY;
		f->fd_buf = open(path, mode | O_CLOEXEC);
	}
	if (f->fd_buf < 0)
		return -errno;
	if (fstat(f->fd_buf, st))
		return -errno;
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode))
		return -EINVAL;
	f->fd = cfg->no_direct ? -1 : open(path, mode | O_CLOEXEC | O_DIRECT);
	f->b.info.direct = f->fd >= 0;
	if (f->fd < 0)
		f->fd = f->fd_buf;
	f->align = f->b.info.direct ? dio_align(f->fd, S_ISBLK(st->st_mode))
				    : 1;
	return 0;
}

static void file_close(struct hbk *b)
{
	struct hbk_file *f = (struct hbk_file *)b;

	if (f->fd >= 0 && f->fd != f->fd_buf)
		close(f->fd);
	if (f->fd_buf >= 0)
		close(f->fd_buf);
	free(f);
}

static int file_resize(struct hbk *b, uint64_t size, uint64_t *out)
{
	struct hbk_file *f = (struct hbk_file *)b;
	struct stat st;

	if (size && (!strcmp(b->info.kind, "block") || b->info.read_only))
		return -ENOTSUP;
	if (size && ftruncate(f->fd_buf, (off_t)size))
		return -errno;
	if (fstat(f->fd_buf, &st))
		return -errno;
	if (!S_ISBLK(st.st_mode))
		b->info.size = (uint64_t)st.st_size;
	else if (ioctl(f->fd_buf, BLKGETSIZE64, &b->info.size))
		return -errno;
	*out = b->info.size;
	return 0;
}

/* ---- completion ---- */

/* Finish a short or unsupported transfer in place (rare). */
static int finish_rw(struct hbk_file *f, struct hbk_io *io, uint64_t done)
{
	while (done < io->len) {
		uint64_t skip = done;
		unsigned i = 0;
		struct iovec v[HBK_IOV_MAX];
		ssize_t n;

		while (skip >= io->iov[i].iov_len)
			skip -= io->iov[i++].iov_len;
		memcpy(v, io->iov + i, (io->iovcnt - i) * sizeof(*v));
		v[0].iov_base = (uint8_t *)v[0].iov_base + skip;
		v[0].iov_len -= skip;
		n = io->op == HBK_READ
			    ? preadv(f->fd_buf, v, (int)(io->iovcnt - i),
				     (off_t)(io->offset + done))
			    : pwritev(f->fd_buf, v, (int)(io->iovcnt - i),
				      (off_t)(io->offset + done));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && io->op == HBK_READ)
			return hbk_iov_zero(io, done);
		if (n == 0)
			return -EIO;
		done += n > 0 ? (uint64_t)n : 0;
	}
	return 0;
}

static int write_zeros(struct hbk_file *f, uint64_t off, uint64_t len)
{
	while (len) {
		size_t k = len < sizeof(zero_page) ? len : sizeof(zero_page);
		ssize_t n = pwrite(f->fd_buf, zero_page, k, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int io_result(struct hbk_file *f, struct hbk_io *io, int res)
{
	if (io->result == -EROFS)
		return -EROFS; /* refused at submission */
	switch (io->op) {
	case HBK_READ:
	case HBK_WRITE:
		if (res < 0)
			return res;
		return (uint64_t)res < io->len ? finish_rw(f, io, (uint64_t)res)
					       : 0;
	case HBK_WRITE_ZEROES:
		if (res == -EOPNOTSUPP || res == -EINVAL)
			return write_zeros(f, io->offset, io->len);
		return res;
	default:
		return res < 0 ? res : 0;
	}
}

static unsigned reap(struct hbk_fq *q, struct hbk_io **batch, bool *sentinel)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, n = 0;

	io_uring_for_each_cqe(&q->ring, head, cqe) {
		struct hbk_io *io = io_uring_cqe_get_data(cqe);

		seen++;
		if (!io) {
			*sentinel = true;
		} else {
			io->result = io_result(q->f, io, cqe->res);
			batch[n++] = io;
		}
		if (n == HBK_BATCH)
			break;
	}
	io_uring_cq_advance(&q->ring, seen);
	return n;
}

/* Runs until closing was asked (the sentinel NOP) and every io that was
 * submitted has come back. */
static void *completion_thread(void *arg)
{
	struct hbk_fq *q = arg;
	struct hbk_io *batch[HBK_BATCH];
	struct io_uring_cqe *cqe;
	uint64_t completed = 0;
	bool sentinel = false;

	for (;;) {
		unsigned n;

		if (sentinel && completed == q->submitted)
			break;
		if (io_uring_wait_cqe(&q->ring, &cqe) < 0)
			continue;
		n = reap(q, batch, &sentinel);
		if (n)
			q->q.done(batch, n, q->q.arg);
		completed += n;
		/* release: done's work on the ios happens before the worker
		 * counts their slots free */
		atomic_store_explicit(&q->completed, completed,
				      memory_order_release);
	}
	return NULL;
}

/* ---- submission ---- */

static bool aligned(const struct hbk_file *f, const struct hbk_io *io)
{
	uint64_t a = f->align - 1;

	if ((io->offset | io->len) & a)
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++)
		if (((uintptr_t)io->iov[i].iov_base | io->iov[i].iov_len) & a)
			return false;
	return true;
}

static void prep(struct hbk_fq *q, struct io_uring_sqe *sqe,
		 struct hbk_io *io)
{
	const struct hbk_file *f = q->f;
	int fd = aligned(f, io) ? f->fd : f->fd_buf;
	int mode;

	switch (io->op) {
	case HBK_READ:
		io_uring_prep_readv(sqe, fd, io->iov, io->iovcnt, io->offset);
		break;
	case HBK_WRITE:
		io_uring_prep_writev(sqe, fd, io->iov, io->iovcnt, io->offset);
		sqe->rw_flags = io->fua ? RWF_DSYNC : 0;
		break;
	case HBK_FLUSH:
		io_uring_prep_fsync(sqe, f->fd_buf, IORING_FSYNC_DATASYNC);
		break;
	default:
		mode = io->op == HBK_DISCARD || (io->may_unmap &&
						 f->b.info.can_discard)
			       ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, f->fd_buf,
					mode | FALLOC_FL_KEEP_SIZE,
					(off_t)io->offset, (off_t)io->len);
		break;
	}
}

static int file_submit(struct hbk_queue *hq, struct hbk_io *io)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;
	uint64_t done = atomic_load_explicit(&q->completed,
					     memory_order_acquire);
	struct io_uring_sqe *sqe;

	if (q->submitted + q->queued - done >= q->depth)
		return -EAGAIN;
	sqe = io_uring_get_sqe(&q->ring);
	if (!sqe)
		return -EAGAIN;
	io->result = 0;
	if (q->f->b.info.read_only && io->op != HBK_READ &&
	    io->op != HBK_FLUSH) {
		io->result = -EROFS;
		io_uring_prep_nop(sqe);
	} else {
		prep(q, sqe, io);
	}
	io_uring_sqe_set_data(sqe, io);
	q->queued++;
	return 0;
}

static void file_kick(struct hbk_queue *hq)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;
	int n;

	while (q->queued) {
		n = io_uring_submit(&q->ring);
		if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY)
			break;
		if (n > 0) {
			q->submitted += (unsigned)n;
			q->queued -= (unsigned)n;
		}
	}
}

static void file_queue_close(struct hbk_queue *hq)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;
	struct io_uring_sqe *sqe;

	file_kick(hq);
	/* The sentinel has room: the ring has one entry beyond depth. */
	sqe = io_uring_get_sqe(&q->ring);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, NULL);
	io_uring_submit(&q->ring);
	pthread_join(q->thr, NULL);
	io_uring_queue_exit(&q->ring);
	free(q);
}

static int file_queue_open(struct hbk *b, unsigned depth,
			   struct hbk_queue **out)
{
	struct hbk_fq *q = calloc(1, sizeof(*q));
	int rc;

	if (!q)
		return -ENOMEM;
	q->f = (struct hbk_file *)b;
	q->depth = depth;
	rc = io_uring_queue_init(depth + 1, &q->ring, 0);
	if (rc) {
		free(q);
		return rc;
	}
	rc = -pthread_create(&q->thr, NULL, completion_thread, q);
	if (rc) {
		io_uring_queue_exit(&q->ring);
		free(q);
		return rc;
	}
	*out = &q->q;
	return 0;
}

static const struct hbk_ops file_ops = {
	.close = file_close,
	.resize = file_resize,
	.queue_open = file_queue_open,
	.submit = file_submit,
	.kick = file_kick,
	.queue_close = file_queue_close,
};

int hbk_file_open(struct hbk **out, const char *path,
		  const struct hbk_cfg *cfg, char *err, size_t errlen)
{
	struct hbk_file *f = calloc(1, sizeof(*f));
	struct stat st;
	int rc;

	if (!f)
		return -ENOMEM;
	f->fd = f->fd_buf = -1;
	f->b.ops = &file_ops;
	f->b.info.read_only = cfg->read_only;
	rc = open_fds(f, path, cfg, &st);
	if (!rc)
		rc = file_geometry(f, &st);
	if (rc) {
		snprintf(err, errlen, "%s: %s", path, rc == -EINVAL
			 ? "not a regular file or block device"
			 : strerror(-rc));
		file_close(&f->b);
		return rc;
	}
	*out = &f->b;
	return 0;
}
