/* Disk backends: the kind is chosen by the spec, then every call goes to
 * the kind's operations. */
#include <errno.h>
#include <string.h>

#include "hbk_priv.h"

static bool is_nbd_uri(const char *spec)
{
	static const char *const schemes[] = {"nbd://", "nbds://",
					      "nbd+unix://", "nbds+unix://",
					      "nbd+vsock://", "nbds+vsock://"};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncmp(spec, schemes[i], strlen(schemes[i])))
			return true;
	return false;
}

int hbk_open(struct hbk **out, const char *spec, const struct hbk_cfg *cfg,
	     char *err, size_t errlen)
{
	if (is_nbd_uri(spec))
		return hbk_nbd_open(out, spec, cfg, err, errlen);
	return hbk_file_open(out, spec, cfg, err, errlen);
}

void hbk_close(struct hbk *b)
{
	b->ops->close(b);
}

void hbk_info(const struct hbk *b, struct hbk_info *out)
{
	*out = b->info;
}

int hbk_resize(struct hbk *b, uint64_t size, uint64_t *out)
{
	return b->ops->resize(b, size, out);
}

int hbk_queue_open(struct hbk *b, unsigned depth, hbk_done_fn *done,
		   void *arg, struct hbk_queue **out)
{
	int rc;

	if (!depth || depth > 1024 || !done)
		return -EINVAL;
	rc = b->ops->queue_open(b, depth, out);
	if (rc)
		return rc;
	(*out)->b = b;
	(*out)->done = done;
	(*out)->arg = arg;
	return 0;
}

static bool io_ok(const struct hbk_io *io)
{
	uint64_t sum = 0;

	if (io->op > HBK_WRITE_ZEROES)
		return false;
	if (io->op != HBK_READ && io->op != HBK_WRITE)
		return io->op == HBK_FLUSH || io->len;
	if (!io->iovcnt || io->iovcnt > HBK_IOV_MAX || !io->iov)
		return false;
	for (unsigned i = 0; i < io->iovcnt; i++)
		sum += io->iov[i].iov_len;
	return sum == io->len && sum;
}

int hbk_submit(struct hbk_queue *q, struct hbk_io *io)
{
	if (!io_ok(io))
		return -EINVAL;
	return q->b->ops->submit(q, io);
}

void hbk_kick(struct hbk_queue *q)
{
	q->b->ops->kick(q);
}

void hbk_queue_close(struct hbk_queue *q)
{
	q->b->ops->queue_close(q);
}

int hbk_iov_zero(struct hbk_io *io, uint64_t done)
{
	for (unsigned i = 0; i < io->iovcnt; i++) {
		uint64_t len = io->iov[i].iov_len;

		if (done >= len) {
			done -= len;
			continue;
		}
		memset((uint8_t *)io->iov[i].iov_base + done, 0, len - done);
		done = 0;
	}
	return 0;
}
