/* Disk backends: the kind is chosen by the spec; the rules every kind
 * shares (what a valid io is, the depth limit, read-only refusals) are
 * checked here once, then each call goes to the kind's operations. */
#include <errno.h>
#include <string.h>

#include "hbk_priv.h"

#define HBK_DEPTH_MAX 1024u

static bool is_nbd_uri(const char *spec)
{
	static const char *const schemes[] = {
		"nbd://", "nbds://", "nbd+unix://", "nbds+unix://",
		"nbd+vsock://", "nbds+vsock://"};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncmp(spec, schemes[i], strlen(schemes[i])))
			return true;
	return false;
}

int hbk_open(struct hbk **out, const char *spec, const struct hbk_cfg *cfg,
	     char *err, size_t errlen)
{
	static const struct hbk_cfg none;

	if (errlen)
		err[0] = '\0';
	if (!cfg)
		cfg = &none;
	if (is_nbd_uri(spec))
		return hbk_nbd_open(out, spec, cfg, err, errlen);
	return hbk_file_open(out, spec, cfg, err, errlen);
}

void hbk_close(struct hbk *b)
{
	if (b)
		b->ops->close(b);
}

void hbk_info(const struct hbk *b, struct hbk_info *out)
{
	*out = b->info;
	out->size = atomic_load_explicit(&b->size, memory_order_relaxed);
}

int hbk_resize(struct hbk *b, uint64_t size, uint64_t *out)
{
	uint64_t now = 0;
	int rc = b->ops->resize(b, size, &now);

	if (!rc) {
		atomic_store_explicit(&b->size, now, memory_order_relaxed);
		*out = now;
	}
	return rc;
}

void hbk_queue_init(struct hbk_queue *q, struct hbk *b, unsigned depth,
		    hbk_done_fn *done, void *arg)
{
	q->b = b;
	q->depth = depth;
	q->done = done;
	q->arg = arg;
	q->issued = 0;
	atomic_init(&q->completed, 0);
}

int hbk_queue_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
		   void *arg, struct hbk_queue **out)
{
	if (!depth || depth > HBK_DEPTH_MAX || !done)
		return -EINVAL;
	return b->ops->queue_open(b, depth, done, arg, out);
}

int hbk_queue_open_polled(struct hbk *b, unsigned depth, hbk_done_fn *done,
			  void *arg, int notify_fd, struct hbk_queue **out)
{
	if (!depth || depth > HBK_DEPTH_MAX || !done || notify_fd < 0)
		return -EINVAL;
	if (!b->ops->queue_open_polled)
		return -ENOTSUP;
	return b->ops->queue_open_polled(b, depth, done, arg, notify_fd, out);
}

unsigned hbk_reap(struct hbk_queue *q)
{
	return q->b->ops->reap ? q->b->ops->reap(q) : 0;
}

static bool rw_ok(const struct hbk_io *io)
{
	uint64_t sum = 0;

	if (!io->iov || !io->iovcnt || io->iovcnt > HBK_IOV_MAX)
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++) {
		if (io->iov[i].iov_len > UINT64_MAX - sum)
			return false;
		sum += io->iov[i].iov_len;
	}
	return sum == io->len;
}

static bool io_ok(const struct hbk_io *io)
{
	switch (io->op) {
	case HBK_FLUSH:
		return true;
	case HBK_READ:
	case HBK_WRITE:
		if (!rw_ok(io))
			return false;
		break;
	case HBK_DISCARD:
	case HBK_WRITE_ZEROES:
		break;
	default:
		return false;
	}
	/* offsets travel as off_t to the kernel */
	return io->len && io->len <= INT64_MAX &&
	       io->offset <= (uint64_t)INT64_MAX - io->len;
}

/* What an io completes with without reaching the backend, or 0. */
static int refusal(const struct hbk *b, const struct hbk_io *io)
{
	bool writes = io->op != HBK_READ && io->op != HBK_FLUSH;

	if (writes && b->info.read_only)
		return -EROFS;
	return io->op == HBK_DISCARD && !b->info.can_discard ? -EOPNOTSUPP : 0;
}

int hbk_submit(struct hbk_queue *q, struct hbk_io *io)
{
	uint64_t done = atomic_load_explicit(&q->completed,
					     memory_order_acquire);
	int rc;

	if (!io_ok(io))
		return -EINVAL;
	if (q->issued - done >= q->depth)
		return -EAGAIN;
	io->result = refusal(q->b, io);
	rc = q->b->ops->submit(q, io);
	if (!rc)
		q->issued++;
	return rc;
}

void hbk_kick(struct hbk_queue *q)
{
	q->b->ops->kick(q);
}

void hbk_queue_close(struct hbk_queue *q)
{
	if (q)
		q->b->ops->queue_close(q);
}

void hbk_deliver(struct hbk_queue *q, struct hbk_io **ios, unsigned n)
{
	if (!n)
		return;
	q->done(ios, n, q->arg);
	/* release: done is through with the ios before their slots are
	 * seen free by hbk_submit (acquire) */
	atomic_fetch_add_explicit(&q->completed, n, memory_order_release);
}
