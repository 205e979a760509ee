/* The file backend, data half: one io_uring per queue.
 *
 * The ring has one submitter and one reaper, as io_uring allows without
 * a lock: the channel worker fills submission entries (hbk_submit, no
 * system call) and submits them once per batch (hbk_kick); the reaper
 * (the queue's completion thread, or the owner of a polled queue) takes
 * every completion there is and hands them to done as one batch.
 *
 * Reads and writes go straight between the file and the caller's iovecs:
 * through the O_DIRECT descriptor when every buffer address, length and
 * the offset meet its alignment, else through the buffered one. FUA is
 * RWF_DSYNC on the write, FLUSH an fdatasync, DISCARD a punched hole,
 * WRITE_ZEROES fallocate(ZERO_RANGE) or, with may_unmap where holes can
 * be punched, a punched hole.
 *
 * The rare cases io_uring leaves to us are finished by the reaper (the
 * completion thread, or a polled queue's owner), synchronously, through
 * the buffered descriptor (the ring is not resubmitted to from there):
 * - a short read or write (buffered I/O near the end of the file or hit
 *   by a signal): the remainder is transferred until done;
 * - a read past the end of the file (an image shorter than its
 *   advertised size, truncated behind our back): the part past the end
 *   reads as zeros, as the unwritten part of a sparse image would;
 * - WRITE_ZEROES where the filesystem has no ZERO_RANGE (EOPNOTSUPP, as
 *   on tmpfs) or the device refuses the range (EINVAL): zeros are
 *   written from one shared zero page.
 *
 * A polled queue has no completion thread: its owner reaps, woken by
 * the eventfd registered with the ring. While kick submits, that eventfd
 * is off (the completions io_uring finishes inside the submission are
 * delivered right after it, with no wakeup); it is on again before the
 * last look, so a completion that comes later signals it.
 *
 * Closing submits a NOP with IOSQE_IO_DRAIN: it completes only after
 * every io before it, so when the reaper sees it, it has delivered them
 * all and stops. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "hbk_priv.h"

/* iovecs of one zero-filling pwritev: 1 MiB from one page */
#define ZERO_IOVS 256u

struct hbk_fq {
	struct hbk_queue q;
	struct hbk_file *f;
	struct io_uring ring;
	pthread_t thr;           /* unless polled */
	bool polled;
	struct hbk_io **batch;   /* depth: one completion batch */
};

static const char stop_mark;
static const uint8_t zero_page[4096];

/* ---- the rare cases, on the reaper ---- */

/* v = io's iovecs from byte done on; their count. */
static unsigned iov_tail(const struct hbk_io *io, uint64_t done,
			 struct iovec *v)
{
	unsigned i = 0;

	while (done >= io->iov[i].iov_len)
		done -= io->iov[i++].iov_len;
	memcpy(v, io->iov + i, (io->iovcnt - i) * sizeof(*v));
	v[0].iov_base = (uint8_t *)v[0].iov_base + done;
	v[0].iov_len -= done;
	return io->iovcnt - i;
}

static void iov_zero(struct iovec *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		memset(v[i].iov_base, 0, v[i].iov_len);
}

static int finish_rw(const struct hbk_file *f, struct hbk_io *io,
		     uint64_t done)
{
	int flags = io->op == HBK_WRITE && io->fua ? RWF_DSYNC : 0;
	struct iovec v[HBK_IOV_MAX];

	while (done < io->len) {
		unsigned n = iov_tail(io, done, v);
		off_t at = (off_t)(io->offset + done);
		ssize_t k = io->op == HBK_READ
				    ? preadv2(f->fd_buf, v, (int)n, at, flags)
				    : pwritev2(f->fd_buf, v, (int)n, at, flags);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (!k && io->op == HBK_READ) {
			iov_zero(v, n); /* past the end of the file */
			return 0;
		}
		if (!k)
			return -EIO;
		done += (uint64_t)k;
	}
	return 0;
}

static int write_zeros(const struct hbk_file *f, uint64_t off, uint64_t len)
{
	struct iovec v[ZERO_IOVS];

	for (unsigned i = 0; i < ZERO_IOVS; i++)
		v[i] = (struct iovec){(void *)zero_page, sizeof(zero_page)};
	while (len) {
		uint64_t k = len < sizeof(zero_page) * ZERO_IOVS
				     ? len : sizeof(zero_page) * ZERO_IOVS;
		unsigned n = (unsigned)((k + sizeof(zero_page) - 1) /
					sizeof(zero_page));
		ssize_t w;

		v[n - 1].iov_len = k - (uint64_t)(n - 1) * sizeof(zero_page);
		w = pwritev(f->fd_buf, v, (int)n, (off_t)off);
		v[n - 1].iov_len = sizeof(zero_page);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

static int io_result(const struct hbk_file *f, struct hbk_io *io, int res)
{
	if (io->result)
		return io->result; /* refused at submission (a NOP ran) */
	switch (io->op) {
	case HBK_READ:
	case HBK_WRITE:
		if (res >= 0 && (uint64_t)res < io->len)
			return finish_rw(f, io, (uint64_t)res);
		return res < 0 ? res : 0;
	case HBK_WRITE_ZEROES:
		if (res == -EOPNOTSUPP || res == -EINVAL)
			return write_zeros(f, io->offset, io->len);
		return res;
	default:
		return res < 0 ? res : 0;
	}
}

/* ---- reaping: the completion thread, or a polled queue's owner ---- */

/* Every completion there is, as one batch; *stop once the NOP of
 * closing came back. */
static unsigned reap(struct hbk_fq *q, bool *stop)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, n = 0;

	io_uring_for_each_cqe(&q->ring, head, cqe) {
		struct hbk_io *io = io_uring_cqe_get_data(cqe);

		seen++;
		if (io == (void *)&stop_mark) {
			*stop = true;
			continue;
		}
		io->result = io_result(q->f, io, cqe->res);
		q->batch[n++] = io;
	}
	io_uring_cq_advance(&q->ring, seen);
	return n;
}

/* Until the NOP of closing came back. */
static void reap_to_stop(struct hbk_fq *q)
{
	bool stop = false;

	while (!stop) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&q->ring, &cqe) < 0)
			continue; /* EINTR */
		hbk_deliver(&q->q, q->batch, reap(q, &stop));
	}
}

static void *fq_thread(void *arg)
{
	reap_to_stop(arg);
	return NULL;
}

unsigned hbk_file_reap(struct hbk_queue *hq)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;
	bool stop = false;
	unsigned n;

	if (!q->polled || !io_uring_cq_ready(&q->ring))
		return 0;
	n = reap(q, &stop);
	hbk_deliver(&q->q, q->batch, n);
	return n;
}

/* ---- submission, on the worker ---- */

static bool aligned(const struct hbk_file *f, const struct hbk_io *io)
{
	uint64_t m = f->mem_align - 1, o = f->off_align - 1;

	if (!f->b.info.direct || (io->offset & o))
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++)
		if (((uintptr_t)io->iov[i].iov_base & m) ||
		    (io->iov[i].iov_len & o))
			return false;
	return true;
}

static void prep_zeroes(const struct hbk_file *f, struct io_uring_sqe *sqe,
			const struct hbk_io *io)
{
	bool hole = io->op == HBK_DISCARD ||
		    (io->may_unmap && f->b.info.can_discard);
	int mode = hole ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;

	io_uring_prep_fallocate(sqe, f->fd_buf, mode | FALLOC_FL_KEEP_SIZE,
				(off_t)io->offset, (off_t)io->len);
}

/* One buffer goes as a plain READ/WRITE: io_uring finishes those on a
 * page-cache file (tmpfs among them) inside the submission, where it
 * hands the vectored forms to a kernel worker (twice the latency, by
 * fio's nonvectored=0 against 1 on tmpfs). */
static void prep_rw(struct io_uring_sqe *sqe, int fd, const struct hbk_io *io,
		    bool write)
{
	const struct iovec *v = io->iov;
	bool vec = io->iovcnt > 1 || v->iov_len > UINT32_MAX;

	if (vec && write)
		io_uring_prep_writev(sqe, fd, v, io->iovcnt, io->offset);
	else if (vec)
		io_uring_prep_readv(sqe, fd, v, io->iovcnt, io->offset);
	else if (write)
		io_uring_prep_write(sqe, fd, v->iov_base, (unsigned)v->iov_len,
				    io->offset);
	else
		io_uring_prep_read(sqe, fd, v->iov_base, (unsigned)v->iov_len,
				   io->offset);
}

static void prep(const struct hbk_file *f, struct io_uring_sqe *sqe,
		 const struct hbk_io *io)
{
	int fd = aligned(f, io) ? f->fd : f->fd_buf;

	switch (io->op) {
	case HBK_READ:
		prep_rw(sqe, fd, io, false);
		break;
	case HBK_WRITE:
		prep_rw(sqe, fd, io, true);
		sqe->rw_flags = io->fua ? RWF_DSYNC : 0;
		break;
	case HBK_FLUSH:
		io_uring_prep_fsync(sqe, f->fd_buf, IORING_FSYNC_DATASYNC);
		break;
	default:
		prep_zeroes(f, sqe, io);
		break;
	}
}

int hbk_file_submit(struct hbk_queue *hq, struct hbk_io *io)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe)
		return -EAGAIN; /* not reached: the ring holds depth + 1 */
	if (io->result)
		io_uring_prep_nop(sqe);
	else
		prep(q->f, sqe, io);
	io_uring_sqe_set_data(sqe, io);
	return 0;
}

static void submit_all(struct hbk_fq *q)
{
	while (io_uring_sq_ready(&q->ring)) {
		int rc = io_uring_submit(&q->ring);

		/* out of kernel memory for a moment: try again */
		if (rc == -EAGAIN || rc == -EBUSY)
			sched_yield();
		else if (rc < 0 && rc != -EINTR)
			break;
	}
}

void hbk_file_kick(struct hbk_queue *hq)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;

	if (!q->polled) {
		submit_all(q);
		return;
	}
	if (!io_uring_sq_ready(&q->ring))
		return;
	io_uring_cq_eventfd_toggle(&q->ring, false);
	submit_all(q);
	hbk_file_reap(hq);
	io_uring_cq_eventfd_toggle(&q->ring, true);
	hbk_file_reap(hq);
}

void hbk_file_queue_close(struct hbk_queue *hq)
{
	struct hbk_fq *q = (struct hbk_fq *)hq;
	struct io_uring_sqe *sqe;

	submit_all(q);
	/* the ring's extra entry, free once the kernel took the rest */
	while (!(sqe = io_uring_get_sqe(&q->ring))) {
		sched_yield();
		submit_all(q);
	}
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, (void *)&stop_mark);
	sqe->flags |= IOSQE_IO_DRAIN;
	submit_all(q);
	if (q->polled)
		reap_to_stop(q);
	else
		pthread_join(q->thr, NULL);
	io_uring_queue_exit(&q->ring);
	free(q->batch);
	free(q);
}

/* notify_fd < 0: a completion thread; else polled through it. */
static int fq_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
		   void *arg, int notify_fd, struct hbk_queue **out)
{
	struct hbk_fq *q = calloc(1, sizeof(*q));
	int rc = -ENOMEM;

	if (!q || !(q->batch = calloc(depth, sizeof(*q->batch))))
		goto fail;
	hbk_queue_init(&q->q, b, depth, done, arg);
	q->f = (struct hbk_file *)b;
	q->polled = notify_fd >= 0;
	rc = io_uring_queue_init(depth + 1, &q->ring, 0);
	if (rc)
		goto fail;
	rc = q->polled ? io_uring_register_eventfd(&q->ring, notify_fd)
		       : -pthread_create(&q->thr, NULL, fq_thread, q);
	if (rc) {
		io_uring_queue_exit(&q->ring);
		goto fail;
	}
	*out = &q->q;
	return 0;
fail:
	if (q)
		free(q->batch);
	free(q);
	return rc;
}

int hbk_file_queue_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
			void *arg, struct hbk_queue **out)
{
	return fq_open(b, depth, done, arg, -1, out);
}

int hbk_file_queue_open_polled(struct hbk *b, unsigned depth,
			       hbk_done_fn *done, void *arg, int notify_fd,
			       struct hbk_queue **out)
{
	return fq_open(b, depth, done, arg, notify_fd, out);
}
