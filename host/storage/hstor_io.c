/* storvsp's glue between the SCSI target and the world: guest ranges as
 * iovecs over the mapped guest memory, backend errors as SCSI error
 * classes, and replies on the channel. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "hstor_priv.h"

/* len bytes of r as iovecs straight into guest memory, consecutive pages
 * merged (the host maps the guest's memory as one range, so a run of
 * consecutive frames is one iovec). The host engine checked that len
 * fits in the range; a frame outside guest memory ends the list early:
 * the result then covers less than len and the caller refuses the I/O. */
unsigned hstor_iov(const struct rt_gmem *m, const struct vmb_gpa_range *r,
		   uint32_t len, struct iovec *iov)
{
	uint32_t off = r->byte_offset, left = len;
	unsigned n = 0;

	for (uint32_t i = 0; left && i < r->pfn_count; i++) {
		uint32_t chunk = 4096u - off;
		uint8_t *p;

		if (chunk > left)
			chunk = left;
		p = rt_gmem_ptr(m, (r->pfn[i] << 12) + off, chunk);
		if (!p)
			break;
		if (n && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p)
			iov[n - 1].iov_len += chunk;
		else
			iov[n++] = (struct iovec){p, chunk};
		left -= chunk;
		off = 0;
	}
	return left ? 0 : n;
}

/* The guest may change its memory at any time: what the target parses
 * is a private copy (copy before validate). */
void hstor_iov_copy_out(const struct iovec *iov, unsigned n, void *dst,
			uint32_t len)
{
	uint8_t *d = dst;

	for (unsigned i = 0; i < n && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(d, iov[i].iov_base, k);
		d += k;
		len -= (uint32_t)k;
	}
}

void hstor_iov_copy_in(const struct iovec *iov, unsigned n, const void *src,
		       uint32_t len)
{
	const uint8_t *s = src;

	for (unsigned i = 0; i < n && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(iov[i].iov_base, s, k);
		s += k;
		len -= (uint32_t)k;
	}
}

enum scsi_ioerr hstor_ioerr(int err)
{
	switch (-err) {
	case 0:
		return SCSI_IOERR_NONE;
	case EBADMSG:
		return SCSI_IOERR_READ;
	case ENOSPC:
	case EDQUOT:
		return SCSI_IOERR_NOSPACE;
	case EROFS:
	case EPERM:
	case EACCES:
		return SCSI_IOERR_READONLY;
	case EFAULT:
		return SCSI_IOERR_MEMORY;
	case EAGAIN:
	case ENOMEM:
	case EINTR:
		return SCSI_IOERR_BUSY;
	case ECANCELED:
		return SCSI_IOERR_ABORTED;
	default:
		return SCSI_IOERR_IO;
	}
}

/* A reply the guest's full ring cannot take now is waited for without
 * ch->lock: the loop thread takes queues away under it (hot remove) and
 * must never wait on a guest that does not read. The I/O this batch
 * queued is started first, as its queue may be gone when the lock is
 * back; callers use nothing they read under the lock after this. */
void hstor_send(struct hstor_chan *ch, uint64_t xid, const void *buf,
		uint32_t len)
{
	struct rt_chan *rt = ch->c->rt;

	if (!rt || rt_chan_send_comp(rt, xid, buf, len, true) != VMB_EAGAIN)
		return;
	if (!ch->locked) {
		rt_chan_send_comp(rt, xid, buf, len, false);
		return;
	}
	hstor_kick(ch);
	pthread_mutex_unlock(&ch->lock);
	rt_chan_send_comp(rt, xid, buf, len, false);
	pthread_mutex_lock(&ch->lock);
}
