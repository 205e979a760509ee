/* KVP pool files, hv_kvp_daemon compatible. See kvp_pool.h. */
#include "kvp_pool.h"
#include "kvp_str.h"
#include "ic/ic_utf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct kvp_pool_file {
	int fd;
	pthread_mutex_t mu;
	uint8_t *buf;		/* records as last read from disk */
	size_t buf_cap;		/* in records */
	size_t n;		/* records in buf */
};

struct kvp_pool_set {
	struct kvp_pool_file pool[KVP_POOL_COUNT];
	int last_errno;
	struct kvp_pool_stats st;
};

int kvp_pool_utf8_valid(const char *s, size_t len)
{
	return ic_utf8_check(s, len) == IC_UTF_OK;
}

int kvp_pool_record_parse(const uint8_t rec[KVP_POOL_RECORD_SIZE],
			  const char **key, const char **value)
{
	const char *k = (const char *)rec;
	const char *v = k + KVP_POOL_KEY_SIZE;
	size_t kl = strnlen(k, KVP_POOL_KEY_SIZE);
	size_t vl = strnlen(v, KVP_POOL_VALUE_SIZE);

	if (kl == 0 || kl == KVP_POOL_KEY_SIZE || vl == KVP_POOL_VALUE_SIZE)
		return KVP_POOL_EBADREC;
	if (!kvp_pool_utf8_valid(k, kl) || !kvp_pool_utf8_valid(v, vl))
		return KVP_POOL_EBADREC;
	*key = k;
	*value = v;
	return KVP_POOL_OK;
}

const char *kvp_pool_strerror(int err)
{
	switch (err) {
	case KVP_POOL_OK:
		return "ok";
	case KVP_POOL_ENOTFOUND:
		return "not found";
	case KVP_POOL_EKEYLEN:
		return "key empty or too long";
	case KVP_POOL_EVALLEN:
		return "value too long";
	case KVP_POOL_EIO:
		return "pool file I/O error";
	case KVP_POOL_EINVAL:
		return "invalid argument";
	case KVP_POOL_EBADREC:
		return "malformed record in pool file";
	case KVP_POOL_ENOMEM:
		return "out of memory";
	case KVP_POOL_ESPACE:
		return "buffer too small";
	}
	return "unknown error";
}

static int io_fail(struct kvp_pool_set *set)
{
	set->last_errno = errno;
	set->st.io_errors++;
	return KVP_POOL_EIO;
}

/* Open-file-description locks conflict with the classic fcntl record
 * locks hv_kvp_daemon takes, and also between two pool sets of one
 * process; they are not dropped when some other descriptor of the file
 * is closed. Kernels without them get classic locks. */
static int lock_file(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	for (;;) {
		if (fcntl(fd, F_OFD_SETLKW, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EINVAL)
			return -1;
		fl.l_pid = 0;
		if (fcntl(fd, F_SETLKW, &fl) == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static void unlock_file(int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_SETLK, &fl) != 0)
		fcntl(fd, F_SETLK, &fl);
}

static int grow(struct kvp_pool_file *p, size_t records)
{
	if (records <= p->buf_cap)
		return 0;
	size_t cap = p->buf_cap ? p->buf_cap : 16;

	while (cap < records)
		cap *= 2;
	uint8_t *nb = realloc(p->buf, cap * KVP_POOL_RECORD_SIZE);

	if (!nb)
		return -1;
	p->buf = nb;
	p->buf_cap = cap;
	return 0;
}

/* Reads the whole file into p->buf. A trailing partial record (a torn
 * write by someone else) is ignored, as the daemon's fread does. */
static int load(struct kvp_pool_set *set, struct kvp_pool_file *p)
{
	struct stat sb;

	set->st.loads++;
	if (fstat(p->fd, &sb))
		return io_fail(set);
	size_t want = (size_t)sb.st_size / KVP_POOL_RECORD_SIZE;

	if (grow(p, want + 1))
		return KVP_POOL_ENOMEM;
	size_t bytes = want * KVP_POOL_RECORD_SIZE, got = 0;

	while (got < bytes) {
		ssize_t r = pread(p->fd, p->buf + got, bytes - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return io_fail(set);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	p->n = got / KVP_POOL_RECORD_SIZE;
	return KVP_POOL_OK;
}

static int write_all(struct kvp_pool_set *set, int fd, const uint8_t *b,
		     size_t len, off_t off)
{
	while (len) {
		ssize_t w = pwrite(fd, b, len, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return io_fail(set);
		b += w;
		len -= (size_t)w;
		off += w;
	}
	return KVP_POOL_OK;
}

static uint8_t *rec_at(struct kvp_pool_file *p, size_t i)
{
	return p->buf + i * KVP_POOL_RECORD_SIZE;
}

/* Index of the record whose key equals key, or -1. Malformed records are
 * counted and never match. */
static long find_key(struct kvp_pool_set *set, struct kvp_pool_file *p,
		     const char *key)
{
	for (size_t i = 0; i < p->n; i++) {
		const char *k, *v;

		if (kvp_pool_record_parse(rec_at(p, i), &k, &v)) {
			set->st.bad_records++;
			continue;
		}
		if (strcmp(k, key) == 0)
			return (long)i;
	}
	return -1;
}

static int check_key(const char *key)
{
	size_t kl = strnlen(key, KVP_POOL_KEY_SIZE);

	if (kl == 0 || kl >= KVP_POOL_KEY_SIZE)
		return KVP_POOL_EKEYLEN;
	if (!kvp_pool_utf8_valid(key, kl))
		return KVP_POOL_EINVAL;
	return KVP_POOL_OK;
}

/* Locks pool number `pool` of set (mutex, then file lock of `type`) and
 * loads it. On success the caller must call end_op. */
static int begin_op(struct kvp_pool_set *set, unsigned pool, short type,
		    struct kvp_pool_file **out)
{
	if (!set || pool >= KVP_POOL_COUNT)
		return KVP_POOL_EINVAL;
	struct kvp_pool_file *p = &set->pool[pool];

	pthread_mutex_lock(&p->mu);
	if (lock_file(p->fd, type)) {
		int rc = io_fail(set);

		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	int rc = load(set, p);

	if (rc) {
		unlock_file(p->fd);
		pthread_mutex_unlock(&p->mu);
		return rc;
	}
	*out = p;
	return KVP_POOL_OK;
}

static void end_op(struct kvp_pool_file *p)
{
	unlock_file(p->fd);
	pthread_mutex_unlock(&p->mu);
}

static int copy_out(char *dst, size_t cap, const char *src)
{
	return kvp_str_copy(dst, cap, src) ? KVP_POOL_ESPACE : KVP_POOL_OK;
}

int kvp_pool_get(struct kvp_pool_set *set, unsigned pool, const char *key,
		 char *value, size_t value_cap)
{
	struct kvp_pool_file *p;
	int rc = check_key(key);

	if (rc)
		return rc;
	rc = begin_op(set, pool, F_RDLCK, &p);
	if (rc)
		return rc;
	long i = find_key(set, p, key);

	if (i < 0)
		rc = KVP_POOL_ENOTFOUND;
	else
		rc = copy_out(value, value_cap,
			      (const char *)rec_at(p, (size_t)i) +
			      KVP_POOL_KEY_SIZE);
	end_op(p);
	return rc;
}

int kvp_pool_set(struct kvp_pool_set *set, unsigned pool, const char *key,
		 const char *value)
{
	struct kvp_pool_file *p;
	int rc = check_key(key);

	if (rc)
		return rc;
	size_t vl = strnlen(value, KVP_POOL_VALUE_SIZE);

	if (vl >= KVP_POOL_VALUE_SIZE)
		return KVP_POOL_EVALLEN;
	if (!kvp_pool_utf8_valid(value, vl))
		return KVP_POOL_EINVAL;
	rc = begin_op(set, pool, F_WRLCK, &p);
	if (rc)
		return rc;
	long i = find_key(set, p, key);
	size_t at = i < 0 ? p->n : (size_t)i;
	uint8_t *r = rec_at(p, at);	/* load() left room for one more */

	memset(r, 0, KVP_POOL_RECORD_SIZE);
	memcpy(r, key, strlen(key));
	memcpy(r + KVP_POOL_KEY_SIZE, value, vl);
	rc = write_all(set, p->fd, r, KVP_POOL_RECORD_SIZE,
		       (off_t)at * KVP_POOL_RECORD_SIZE);
	/* Appending over a torn tail record: cut what is left of it. */
	if (!rc && i < 0 &&
	    ftruncate(p->fd, (off_t)(p->n + 1) * KVP_POOL_RECORD_SIZE))
		rc = io_fail(set);
	end_op(p);
	return rc;
}

int kvp_pool_delete(struct kvp_pool_set *set, unsigned pool, const char *key)
{
	struct kvp_pool_file *p;
	int rc = check_key(key);

	if (rc)
		return rc;
	rc = begin_op(set, pool, F_WRLCK, &p);
	if (rc)
		return rc;
	long i = find_key(set, p, key);

	if (i < 0) {
		end_op(p);
		return KVP_POOL_ENOTFOUND;
	}
	size_t tail = p->n - (size_t)i - 1;

	memmove(rec_at(p, (size_t)i), rec_at(p, (size_t)i + 1),
		tail * KVP_POOL_RECORD_SIZE);
	rc = write_all(set, p->fd, rec_at(p, (size_t)i),
		       tail * KVP_POOL_RECORD_SIZE,
		       (off_t)i * KVP_POOL_RECORD_SIZE);
	if (!rc && ftruncate(p->fd, (off_t)(p->n - 1) * KVP_POOL_RECORD_SIZE))
		rc = io_fail(set);
	end_op(p);
	return rc;
}

/* One load, then a scan in memory: the cost of a request does not grow
 * with the index beyond reading the file once, as in hv_kvp_daemon. */
int kvp_pool_enumerate(struct kvp_pool_set *set, unsigned pool,
		       uint32_t index, char *key, size_t key_cap,
		       char *value, size_t value_cap)
{
	struct kvp_pool_file *p;
	const char *k, *v;
	uint32_t seen = 0;
	int rc = begin_op(set, pool, F_RDLCK, &p);

	if (rc)
		return rc;
	rc = KVP_POOL_ENOTFOUND;
	for (size_t i = 0; i < p->n; i++) {
		if (kvp_pool_record_parse(rec_at(p, i), &k, &v)) {
			set->st.bad_records++;
			continue;
		}
		if (seen++ < index)
			continue;
		rc = copy_out(key, key_cap, k);
		if (!rc)
			rc = copy_out(value, value_cap, v);
		break;
	}
	end_op(p);
	return rc;
}

int kvp_pool_count(struct kvp_pool_set *set, unsigned pool, uint32_t *count)
{
	struct kvp_pool_file *p;
	int rc = begin_op(set, pool, F_RDLCK, &p);

	if (rc)
		return rc;
	*count = (uint32_t)p->n;
	end_op(p);
	return KVP_POOL_OK;
}

int kvp_pool_last_errno(const struct kvp_pool_set *set)
{
	return set->last_errno;
}

void kvp_pool_get_stats(const struct kvp_pool_set *set,
			struct kvp_pool_stats *st)
{
	*st = set->st;
}

int kvp_pool_open(const char *root, struct kvp_pool_set **out)
{
	struct kvp_pool_set *set = calloc(1, sizeof(*set));
	char path[4096];
	int i;

	if (!set)
		return KVP_POOL_ENOMEM;
	for (i = 0; i < KVP_POOL_COUNT; i++) {
		set->pool[i].fd = -1;
		pthread_mutex_init(&set->pool[i].mu, NULL);
	}
	if (!root)
		root = KVP_POOL_DEFAULT_ROOT;
	if (mkdir(root, 0755) && errno != EEXIST)
		goto fail_io;
	for (i = 0; i < KVP_POOL_COUNT; i++) {
		if (snprintf(path, sizeof(path), "%s/.kvp_pool_%d", root, i) >=
		    (int)sizeof(path)) {
			errno = ENAMETOOLONG;
			goto fail_io;
		}
		set->pool[i].fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
				       0644);
		if (set->pool[i].fd < 0)
			goto fail_io;
	}
	*out = set;
	return KVP_POOL_OK;

fail_io:
	i = errno;
	kvp_pool_close(set);
	errno = i;	/* the caller's only way to learn why */
	return KVP_POOL_EIO;
}

void kvp_pool_close(struct kvp_pool_set *set)
{
	if (!set)
		return;
	for (int i = 0; i < KVP_POOL_COUNT; i++) {
		struct kvp_pool_file *p = &set->pool[i];

		if (p->fd >= 0)
			close(p->fd);
		free(p->buf);
		pthread_mutex_destroy(&p->mu);
	}
	free(set);
}
