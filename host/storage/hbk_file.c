/* The file backend, opening half: a raw image file or a block device,
 * its geometry, whether O_DIRECT and hole punching work on it. The data
 * moves in hbk_file_io.c.
 *
 * Two descriptors: fd with O_DIRECT where the file takes it (and it
 * helps: not on a memory filesystem), and fd_buf,
 * buffered, for I/O the direct one cannot do (unaligned buffers, offsets
 * or lengths), for fallocate and fsync. The kernel keeps the two views
 * coherent: a direct read writes back the cached range first, a direct
 * write drops it.
 *
 * Discard is offered (can_discard) only where punching a hole is known
 * to work, without touching the disk's data to find out:
 * - a regular file: a hole is punched 1 MiB past the end of the file
 *   with KEEP_SIZE, which neither changes the size nor any byte in it,
 *   while the filesystem still checks that it can deallocate at all
 *   (EOPNOTSUPP where it cannot);
 * - a block device: fallocate(PUNCH_HOLE) becomes a write-zeroes request
 *   that may unmap and never falls back to writing, so it works exactly
 *   when the device takes write-zeroes: its queue's
 *   write_zeroes_max_bytes in sysfs is not 0. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "hbk_priv.h"

#define DEFAULT_ALIGN 512u

static int say(char *err, size_t errlen, const char *path, int rc,
	       const char *hint)
{
	snprintf(err, errlen, "%s: %s%s", path, strerror(-rc), hint);
	return rc;
}

/* ---- discard ---- */

static bool file_can_punch(int fd, uint64_t size)
{
	const uint64_t mib = 1u << 20;
	uint64_t at = (size + mib - 1) / mib * mib + mib;

	if (size > (uint64_t)INT64_MAX / 2)
		return false;
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 (off_t)at, 4096) == 0;
}

static uint64_t sysfs_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *fp = fopen(path, "re");

	if (!fp)
		return 0;
	if (fscanf(fp, "%llu", &v) != 1)
		v = 0;
	fclose(fp);
	return v;
}

/* A partition has no queue of its own: its disk's is one level up. */
static bool blk_can_punch(dev_t rdev)
{
	char p[96];
	unsigned ma = major(rdev), mi = minor(rdev);

	snprintf(p, sizeof(p),
		 "/sys/dev/block/%u:%u/queue/write_zeroes_max_bytes", ma, mi);
	if (!access(p, R_OK))
		return sysfs_u64(p) > 0;
	snprintf(p, sizeof(p),
		 "/sys/dev/block/%u:%u/../queue/write_zeroes_max_bytes", ma,
		 mi);
	return sysfs_u64(p) > 0;
}

/* ---- geometry ---- */

static int blk_geometry(struct hbk_file *f)
{
	uint64_t size;
	int ssz;

	if (ioctl(f->fd_buf, BLKGETSIZE64, &size) ||
	    ioctl(f->fd_buf, BLKSSZGET, &ssz))
		return -errno;
	if (ssz < 512 || (ssz & (ssz - 1)))
		return -EINVAL;
	f->b.info.block_size = (uint32_t)ssz;
	atomic_store(&f->b.size, size);
	return 0;
}

static int geometry(struct hbk_file *f, const struct stat *st)
{
	int rc = 0;

	f->b.info.block_size = 512;
	if (f->blk)
		rc = blk_geometry(f);
	else
		atomic_store(&f->b.size, (uint64_t)st->st_size);
	if (rc || f->b.info.read_only)
		return rc;
	f->b.info.can_discard =
		f->blk ? blk_can_punch(st->st_rdev)
		       : file_can_punch(f->fd_buf, (uint64_t)st->st_size);
	return 0;
}

/* ---- O_DIRECT ---- */

/* statx tells a file's direct-I/O alignment (Linux 6.1 on); without it
 * a block device's logical block, else 512. false: no direct I/O on
 * this file after all. */
static bool dio_align(struct hbk_file *f)
{
	struct statx sx;
	int ssz;

	if (!statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) &&
	    (sx.stx_mask & STATX_DIOALIGN)) {
		f->mem_align = sx.stx_dio_mem_align;
		f->off_align = sx.stx_dio_offset_align;
		return f->mem_align && f->off_align;
	}
	f->mem_align = f->off_align = DEFAULT_ALIGN;
	if (f->blk && !ioctl(f->fd, BLKSSZGET, &ssz) && ssz > 0)
		f->mem_align = f->off_align = (uint32_t)ssz;
	return true;
}

/* A file whose pages are its storage (tmpfs, ramfs): O_DIRECT bypasses
 * nothing there, and io_uring cannot finish such a read inside the
 * submission, so every I/O would go through a kernel worker thread. */
static bool in_memory(int fd)
{
	struct statfs s;

	return !fstatfs(fd, &s) &&
	       (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

/* The same file again with O_DIRECT (checked to be the same inode: the
 * path may have changed hands in between), or the buffered one. */
static void open_direct(struct hbk_file *f, const char *path, int mode,
			const struct stat *st)
{
	struct stat d;

	/* a device node's filesystem (devtmpfs) says nothing of the device */
	f->fd = S_ISREG(st->st_mode) && in_memory(f->fd_buf)
			? -1 : open(path, mode | O_DIRECT | O_CLOEXEC);
	if (f->fd >= 0 && (fstat(f->fd, &d) || d.st_dev != st->st_dev ||
			   d.st_ino != st->st_ino || !dio_align(f))) {
		close(f->fd);
		f->fd = -1;
	}
	f->b.info.direct = f->fd >= 0;
	if (f->fd < 0)
		f->fd = f->fd_buf;
}

/* ---- open ---- */

static int open_buffered(struct hbk_file *f, const char *path,
			 const struct hbk_cfg *cfg, int *mode)
{
	*mode = cfg->read_only ? O_RDONLY : O_RDWR;
	f->fd_buf = open(path, *mode | O_CLOEXEC);
	/* a read-only filesystem or device: the disk is read-only too */
	if (f->fd_buf < 0 && errno == EROFS && !cfg->read_only) {
		*mode = O_RDONLY;
		f->fd_buf = open(path, *mode | O_CLOEXEC);
	}
	f->b.info.read_only = *mode == O_RDONLY;
	return f->fd_buf < 0 ? -errno : 0;
}

static const char *open_hint(int rc)
{
	switch (rc) {
	case -ENOENT:
		return " (give an existing image file or block device)";
	case -EACCES:
	case -EPERM:
		return " (fix its permissions, or attach it read-only)";
	case -EISDIR:
		return " (not a regular file or block device)";
	case -EBUSY:
		return " (the device is in use: mounted or held by another)";
	default:
		return "";
	}
}

static int open_fds(struct hbk_file *f, const char *path,
		    const struct hbk_cfg *cfg, char *err, size_t errlen)
{
	struct stat st;
	int mode, rc = open_buffered(f, path, cfg, &mode);

	if (rc)
		return say(err, errlen, path, rc, open_hint(rc));
	if (fstat(f->fd_buf, &st))
		return say(err, errlen, path, -errno, "");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return say(err, errlen, path, -EINVAL,
			   " (not a regular file or block device)");
	f->blk = S_ISBLK(st.st_mode);
	f->b.info.kind = f->blk ? "block" : "file";
	if (cfg->no_direct)
		f->fd = f->fd_buf;
	else
		open_direct(f, path, mode, &st);
	rc = geometry(f, &st);
	return rc ? say(err, errlen, path, rc, " (size or block size)") : 0;
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

/* A file takes any size that is whole blocks (shrinking drops the data
 * past the new end: the caller asked for it); a block device's size is
 * its own. size 0: what the file or device says now. */
static int file_resize(struct hbk *b, uint64_t size, uint64_t *out)
{
	struct hbk_file *f = (struct hbk_file *)b;
	struct stat st;

	if (size && f->blk)
		return -ENOTSUP;
	if (size && b->info.read_only)
		return -EROFS;
	if (size % b->info.block_size || size > INT64_MAX)
		return -EINVAL;
	if (size && ftruncate(f->fd_buf, (off_t)size))
		return -errno;
	if (f->blk)
		return ioctl(f->fd_buf, BLKGETSIZE64, out) ? -errno : 0;
	if (fstat(f->fd_buf, &st))
		return -errno;
	*out = (uint64_t)st.st_size;
	return 0;
}

static const struct hbk_ops file_ops = {
	.close = file_close,
	.resize = file_resize,
	.queue_open = hbk_file_queue_open,
	.queue_open_polled = hbk_file_queue_open_polled,
	.reap = hbk_file_reap,
	.submit = hbk_file_submit,
	.kick = hbk_file_kick,
	.queue_close = hbk_file_queue_close,
};

int hbk_file_open(struct hbk **out, const char *path,
		  const struct hbk_cfg *cfg, char *err, size_t errlen)
{
	struct hbk_file *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return say(err, errlen, path, -ENOMEM, "");
	f->b.ops = &file_ops;
	f->fd = f->fd_buf = -1;
	rc = open_fds(f, path, cfg, err, errlen);
	if (rc) {
		file_close(&f->b);
		return rc;
	}
	*out = &f->b;
	return 0;
}
