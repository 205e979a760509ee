/* The NBD export server (guest/os/nbdx) in pieces: the errno mapping,
 * the flags an export advertises, the checks of nbdx_add, the completion
 * stack under concurrent pushes; then a real server with a disk the test
 * drives by hand (requests held until the test completes them, buffers
 * given only when the test says) and a raw client, for what the usual
 * clients cannot make happen on purpose: removal of an export with a
 * WRITE waiting for a buffer, a client gone while the disk holds its
 * requests, a stop waiting for the disk, DISC with requests in flight,
 * refusals of the engine and of the disk, resize, max_conns, a socket
 * path that exists; requests at any byte (the blocks the disk sees, the
 * read-modify-write of partial blocks and its serialisation across
 * connections, a failed read of a partial block). */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <cmocka.h>

#include "guest_util.h"
#include "nbdx_priv.h"

/* ---- pieces ---- */

static void test_errno_map(void **state)
{
	static const int in[] = {0, -EIO, -ENOSPC, -EPERM, -EROFS, -EINVAL,
				 -ENOMEM, -EAGAIN, -ESHUTDOWN, -ENOTSUP,
				 -EBADMSG, EIO};
	static const uint32_t out[] = {0, NBD_EIO, NBD_ENOSPC, NBD_EPERM,
				       NBD_EPERM, NBD_EINVAL, NBD_ENOMEM,
				       NBD_ENOMEM, NBD_ESHUTDOWN, NBD_EIO,
				       NBD_EIO, NBD_EIO};

	(void)state;
	for (unsigned i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_int_equal(nbdx_nbd_err(in[i]), out[i]);
}

static const struct nbdx_disk_ops dummy_ops;

static void test_flags(void **state)
{
	struct nbdx_export_cfg k = {.can_trim = true, .can_zero = true};
	uint16_t base = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			NBD_FLAG_CAN_MULTI_CONN;

	(void)state;
	assert_int_equal(nbdx_export_flags(&k),
			 base | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES);
	k.can_zero = false;
	assert_int_equal(nbdx_export_flags(&k), base | NBD_FLAG_SEND_TRIM);
	k.read_only = true;
	assert_int_equal(nbdx_export_flags(&k), base | NBD_FLAG_READ_ONLY);
}

static void *nop_get(void *d, uint32_t len)
{
	(void)d;
	(void)len;
	return NULL;
}

static void nop_put(void *d, void *b, uint32_t len)
{
	(void)d;
	(void)b;
	(void)len;
}

static int nop_submit(void *d, struct nbdx_req *r)
{
	(void)d;
	(void)r;
	return -EIO;
}

static const struct nbdx_disk_ops nop_ops = {nop_get, nop_put, nop_submit,
					     NULL};

static void test_cfg_checks(void **state)
{
	static char big[NBD_STRING_MAX + 2];
	struct nbdx_export_cfg ok = {.name = "a", .block_size = 512,
				     .max_payload = 1 << 20, .ops = &nop_ops};
	struct nbdx_export_cfg k;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	assert_true(nbdx_cfg_ok(&ok));
	k = ok, k.name = "";
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.name = big;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.desc = big;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.block_size = 256;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.block_size = 1000;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.max_payload = 1000;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.max_payload = 64u << 20;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.ops = &dummy_ops;
	assert_false(nbdx_cfg_ok(&k));
	k = ok, k.block_size = 4096, k.max_payload = 4096;
	assert_true(nbdx_cfg_ok(&k));
}

/* ---- the completion stack ---- */

#define PUSHERS 4
#define CHAINS 64
#define CHAIN 4
#define NREQ (PUSHERS * CHAINS * CHAIN)

struct stack_fix {
	struct nbdx s;
	struct nbdx_conn *c;
	struct xreq x[NREQ];
	unsigned seen[NREQ];
	atomic_bool go;
};

static void *pusher(void *arg)
{
	struct xreq *x = arg;

	for (unsigned k = 0; k < CHAINS; k++, x += CHAIN) {
		for (unsigned i = 0; i + 1 < CHAIN; i++)
			x[i].r.next = &x[i + 1].r;
		x[CHAIN - 1].r.next = NULL;
		nbdx_complete(&x[0].r);
	}
	return NULL;
}

static unsigned take_all(struct stack_fix *f)
{
	unsigned n = 0;

	for (struct nbdx_req *r = nbdx_done_take(&f->s); r; r = r->next) {
		f->seen[(struct xreq *)r - f->x]++;
		n++;
	}
	return n;
}

static uint64_t wakes(struct stack_fix *f)
{
	uint64_t v = 0;

	return read(f->s.efd, &v, sizeof(v)) == sizeof(v) ? v : 0;
}

static struct stack_fix *stack_fix(void)
{
	struct stack_fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->c);
	f->c->s = &f->s;
	f->s.efd = eventfd(0, EFD_NONBLOCK);
	atomic_init(&f->s.done, NULL);
	for (unsigned i = 0; i < NREQ; i++) {
		f->x[i].c = f->c;
		f->x[i].r.owner = &f->x[i];
	}
	return f;
}

static void run_pushers(struct stack_fix *f, pthread_t *t)
{
	for (unsigned i = 0; i < PUSHERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, pusher,
						&f->x[i * CHAINS * CHAIN]), 0);
}

/* Nobody takes: only the first push finds the stack empty and wakes. */
static void test_stack_one_wake(void **state)
{
	struct stack_fix *f = stack_fix();
	pthread_t t[PUSHERS];

	(void)state;
	run_pushers(f, t);
	for (unsigned i = 0; i < PUSHERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(wakes(f), 1);
	assert_int_equal(take_all(f), NREQ);
	for (unsigned i = 0; i < NREQ; i++)
		assert_int_equal(f->seen[i], 1);
	assert_int_equal(atomic_load(&f->s.completing), 0);
	close(f->s.efd);
	free(f->c);
	free(f);
}

/* A taker racing the pushers, as the server does: the eventfd first,
 * then the stack. Every request comes out once, and while any is still
 * to come a wake-up is pending (none lost). */
static void test_stack_racing_taker(void **state)
{
	struct stack_fix *f = stack_fix();
	struct pollfd p = {.fd = f->s.efd, .events = POLLIN};
	pthread_t t[PUSHERS];
	unsigned got = 0;

	(void)state;
	run_pushers(f, t);
	while (got < NREQ) {
		assert_int_equal(poll(&p, 1, 2000), 1);
		wakes(f);
		got += take_all(f);
	}
	for (unsigned i = 0; i < PUSHERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(take_all(f), 0);
	for (unsigned i = 0; i < NREQ; i++)
		assert_int_equal(f->seen[i], 1);
	close(f->s.efd);
	free(f->c);
	free(f);
}

/* ---- a server with a disk driven by the test ---- */

#define SIZE (8u << 20)
#define MAXP (1u << 20)

struct tdisk {
	pthread_mutex_t lock;
	unsigned give;          /* buffers it may still hand out */
	unsigned out;           /* handed out, not back */
	unsigned gets_null;
	struct nbdx_req *held[NBDX_CONN_INFLIGHT * 2];
	unsigned nheld, submitted;
	int refuse;             /* submit's answer when non-zero */
	unsigned released;
	uint8_t *mem;
};

struct fix {
	char dir[64], path[96];
	struct nbdx *s;
	struct nbdx_export *e;
	struct tdisk d;
};

static void *t_get(void *disk, uint32_t len)
{
	struct tdisk *d = disk;
	void *p = NULL;

	pthread_mutex_lock(&d->lock);
	if (d->give) {
		d->give--;
		d->out++;
		p = malloc(len);
	} else {
		d->gets_null++;
	}
	pthread_mutex_unlock(&d->lock);
	return p;
}

static void t_put(void *disk, void *buf, uint32_t len)
{
	struct tdisk *d = disk;

	(void)len;
	free(buf);
	pthread_mutex_lock(&d->lock);
	d->out--;
	d->give++;
	pthread_mutex_unlock(&d->lock);
}

static int t_submit(void *disk, struct nbdx_req *r)
{
	struct tdisk *d = disk;
	int rc;

	pthread_mutex_lock(&d->lock);
	rc = d->refuse;
	if (!rc)
		d->held[d->nheld++] = r;
	d->submitted++;
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static void t_released(void *disk)
{
	struct tdisk *d = disk;

	pthread_mutex_lock(&d->lock);
	d->released++;
	pthread_mutex_unlock(&d->lock);
}

static const struct nbdx_disk_ops t_ops = {t_get, t_put, t_submit,
					   t_released};

static unsigned dget(struct tdisk *d, const unsigned *field)
{
	unsigned v;

	pthread_mutex_lock(&d->lock);
	v = *field;
	pthread_mutex_unlock(&d->lock);
	return v;
}

static void dset(struct tdisk *d, void *field, int v)
{
	pthread_mutex_lock(&d->lock);
	memcpy(field, &v, sizeof(v));
	pthread_mutex_unlock(&d->lock);
}

/* Waits up to 5 s for *field >= want. */
static bool wait_for(struct tdisk *d, const unsigned *field, unsigned want)
{
	for (int i = 0; i < 1000; i++) {
		if (dget(d, field) >= want)
			return true;
		usleep(5000);
	}
	return false;
}

/* Completes every held request with err, in one chain; READ data is the
 * disk's memory. */
static void complete_held(struct tdisk *d, int err)
{
	struct nbdx_req *chain = NULL;

	pthread_mutex_lock(&d->lock);
	while (d->nheld) {
		struct nbdx_req *r = d->held[--d->nheld];

		if (!err && r->type == NBD_CMD_READ)
			memcpy(r->buf, d->mem + r->offset, r->len);
		if (!err && r->type == NBD_CMD_WRITE)
			memcpy(d->mem + r->offset, r->buf, r->len);
		if (!err && (r->type == NBD_CMD_WRITE_ZEROES ||
			     r->type == NBD_CMD_TRIM))
			memset(d->mem + r->offset, 0, r->len);
		r->err = err;
		r->next = chain;
		chain = r;
	}
	pthread_mutex_unlock(&d->lock);
	nbdx_complete(chain);
}

static int fix_start(struct fix *f, unsigned max_conns)
{
	struct nbdx_cfg cfg = {.unix_path = f->path, .max_conns = max_conns};
	struct nbdx_export_cfg k = {
		.name = "t", .desc = "test disk", .size = SIZE,
		.block_size = 512, .max_payload = MAXP, .can_trim = true,
		.can_zero = true, .ops = &t_ops, .disk = &f->d,
	};
	char err[128];

	if (nbdx_start(&f->s, &cfg, err, sizeof(err)))
		return -1;
	return nbdx_add(f->s, &k, &f->e);
}

static int setup_n(void **state, unsigned max_conns)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f || gt_mkdtemp("nbdx", f->dir, sizeof(f->dir)))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/s", f->dir);
	pthread_mutex_init(&f->d.lock, NULL);
	f->d.give = 1000;
	f->d.mem = calloc(1, SIZE);
	*state = f;
	return f->d.mem ? fix_start(f, max_conns) : -1;
}

static int setup(void **state)
{
	return setup_n(state, 0);
}

static int setup_one_conn(void **state)
{
	return setup_n(state, 1);
}

static int teardown(void **state)
{
	struct fix *f = *state;

	complete_held(&f->d, 0);
	if (f->s)
		nbdx_stop(f->s);
	assert_int_equal(f->d.out, 0);
	rmdir(f->dir);
	free(f->d.mem);
	free(f);
	return 0;
}

/* ---- a raw client ---- */

static void put16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

struct info {
	uint64_t size;
	uint16_t flags;
	uint32_t min, pref, max;
};

static void cl_read(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);

		assert_true(r > 0);
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
}

static void cl_write(int fd, const void *p, size_t n)
{
	assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static int cl_connect(const struct fix *f)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(a.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void cl_info(int fd, uint32_t len, struct info *in)
{
	uint8_t d[64];
	uint16_t type;

	assert_true(len <= sizeof(d));
	cl_read(fd, d, len);
	type = get16(d);
	if (type == NBD_INFO_EXPORT) {
		in->size = get64(d + 2);
		in->flags = get16(d + 10);
	} else if (type == NBD_INFO_BLOCK_SIZE) {
		in->min = get32(d + 2);
		in->pref = get32(d + 6);
		in->max = get32(d + 10);
	}
}

/* The handshake and GO for name; false if the server refused it. */
static bool cl_go(int fd, const char *name, struct info *in)
{
	uint8_t greet[18], hdr[20], opt[16 + 4 + 64 + 2], flags[4];
	uint32_t n = (uint32_t)strlen(name), t;

	cl_read(fd, greet, sizeof(greet));
	put32(flags, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	cl_write(fd, flags, 4);
	put64(opt, NBD_IHAVEOPT);
	put32(opt + 8, NBD_OPT_GO);
	put32(opt + 12, n + 6);
	put32(opt + 16, n);
	memcpy(opt + 20, name, n);
	put16(opt + 20 + n, 0);
	cl_write(fd, opt, 22 + n);
	for (;;) {
		cl_read(fd, hdr, sizeof(hdr));
		t = get32(hdr + 12);
		if (t == NBD_REP_ACK)
			return true;
		if (t & NBD_REP_FLAG_ERROR)
			return false;
		cl_info(fd, get32(hdr + 16), in);
	}
}

static void cl_reqf(int fd, uint16_t type, uint16_t flags, uint64_t cookie,
		    uint64_t off, uint32_t len)
{
	uint8_t h[28];

	put32(h, NBD_REQUEST_MAGIC);
	put16(h + 4, flags);
	put16(h + 6, type);
	put64(h + 8, cookie);
	put64(h + 16, off);
	put32(h + 24, len);
	cl_write(fd, h, sizeof(h));
}

static void cl_req(int fd, uint16_t type, uint64_t cookie, uint64_t off,
		   uint32_t len)
{
	cl_reqf(fd, type, 0, cookie, off, len);
}

/* A simple reply's error; its cookie in *cookie. */
static uint32_t cl_reply(int fd, uint64_t *cookie)
{
	uint8_t h[16];

	cl_read(fd, h, sizeof(h));
	assert_int_equal(get32(h), NBD_SIMPLE_REPLY_MAGIC);
	*cookie = get64(h + 8);
	return get32(h + 4);
}

static void cl_write_req(int fd, uint64_t cookie, uint64_t off,
			 uint32_t len, uint8_t fill)
{
	uint8_t *p = malloc(len);

	memset(p, fill, len);
	cl_req(fd, NBD_CMD_WRITE, cookie, off, len);
	cl_write(fd, p, len);
	free(p);
}

static bool cl_eof(int fd)
{
	uint8_t b;

	return recv(fd, &b, 1, 0) == 0;
}

/* ---- the server ---- */

static void test_go_info_resize(void **state)
{
	struct fix *f = *state;
	struct info in = {0};
	int fd = cl_connect(f);

	assert_true(cl_go(fd, "t", &in));
	assert_int_equal(in.size, SIZE);
	assert_int_equal(in.flags, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
			 NBD_FLAG_SEND_FUA | NBD_FLAG_CAN_MULTI_CONN |
			 NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES);
	assert_int_equal(in.min, 1);
	assert_int_equal(in.pref, 512);
	assert_int_equal(in.max, MAXP);
	close(fd);
	nbdx_resize(f->e, 2 * SIZE);
	fd = cl_connect(f);
	assert_true(cl_go(fd, "", &in)); /* the default export */
	assert_int_equal(in.size, 2 * SIZE);
	close(fd);
	fd = cl_connect(f);
	assert_false(cl_go(fd, "nope", &in));
	close(fd);
}

static void test_add_remove_names(void **state)
{
	struct fix *f = *state;
	struct nbdx_export_cfg k = {.name = "t", .block_size = 512,
				    .max_payload = MAXP, .ops = &t_ops,
				    .disk = &f->d};
	struct nbdx_export *e2;

	assert_int_equal(nbdx_add(f->s, &k, &e2), -EEXIST);
	k.block_size = 3;
	assert_int_equal(nbdx_add(f->s, &k, &e2), -EINVAL);
	nbdx_remove(f->e);
	assert_true(wait_for(&f->d, &f->d.released, 1));
	k.block_size = 512;
	assert_int_equal(nbdx_add(f->s, &k, &f->e), 0);
}

/* A WRITE waits for a buffer; the export goes: EIO once its payload is
 * read, the connection ends, the disk never saw it and is released. */
static void test_remove_parked_write(void **state)
{
	struct fix *f = *state;
	struct info in;
	uint64_t cookie;
	int fd = cl_connect(f);

	dset(&f->d, &f->d.give, 0);
	assert_true(cl_go(fd, "t", &in));
	cl_write_req(fd, 11, 0, 65536, 0xaa);
	assert_true(wait_for(&f->d, &f->d.gets_null, 1));
	nbdx_remove(f->e);
	assert_int_equal(cl_reply(fd, &cookie), NBD_EIO);
	assert_int_equal(cookie, 11);
	assert_true(cl_eof(fd));
	assert_true(wait_for(&f->d, &f->d.released, 1));
	assert_int_equal(dget(&f->d, &f->d.submitted), 0);
	close(fd);
}

/* The client leaves while the disk holds its requests: the export is
 * not released (nor its buffers taken back) until they complete. */
static void test_dead_client_slots(void **state)
{
	struct fix *f = *state;
	struct info in;
	int fd = cl_connect(f);

	assert_true(cl_go(fd, "t", &in));
	for (unsigned i = 0; i < 8; i++)
		cl_req(fd, NBD_CMD_READ, i, i * 4096, 4096);
	assert_true(wait_for(&f->d, &f->d.nheld, 8));
	close(fd);
	nbdx_remove(f->e);
	usleep(100000);
	assert_int_equal(dget(&f->d, &f->d.released), 0);
	assert_int_equal(dget(&f->d, &f->d.out), 8);
	complete_held(&f->d, 0);
	assert_true(wait_for(&f->d, &f->d.released, 1));
	assert_int_equal(dget(&f->d, &f->d.out), 0);
}

static void *complete_later(void *arg)
{
	struct tdisk *d = arg;

	usleep(200000);
	complete_held(d, 0);
	return NULL;
}

/* nbdx_stop waits for the disk, then releases the export. */
static void test_stop_waits_for_disk(void **state)
{
	struct fix *f = *state;
	struct info in;
	pthread_t t;
	int fd = cl_connect(f);
	uint64_t t0;

	assert_true(cl_go(fd, "t", &in));
	for (unsigned i = 0; i < 4; i++)
		cl_write_req(fd, i, i * 4096, 4096, (uint8_t)i);
	assert_true(wait_for(&f->d, &f->d.nheld, 4));
	pthread_create(&t, NULL, complete_later, &f->d);
	t0 = nbdx_now_ms();
	nbdx_stop(f->s);
	f->s = NULL;
	assert_true(nbdx_now_ms() - t0 >= 150);
	assert_true(nbdx_now_ms() - t0 < 1000);
	assert_int_equal(dget(&f->d, &f->d.released), 1);
	assert_true(access(f->path, F_OK) != 0);
	pthread_join(t, NULL);
	close(fd);
}

/* DISC with requests in flight: their replies first, then the end. */
static void test_disc_replies_first(void **state)
{
	struct fix *f = *state;
	struct info in;
	uint8_t data[4096];
	uint64_t cookie;
	int fd = cl_connect(f);

	assert_true(cl_go(fd, "t", &in));
	cl_req(fd, NBD_CMD_READ, 1, 0, 4096);
	cl_req(fd, NBD_CMD_FLUSH, 2, 0, 0);
	cl_req(fd, NBD_CMD_DISC, 3, 0, 0);
	assert_true(wait_for(&f->d, &f->d.nheld, 2));
	complete_held(&f->d, 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(cl_reply(fd, &cookie), 0);
		if (cookie == 1)
			cl_read(fd, data, sizeof(data));
	}
	assert_true(cl_eof(fd));
	close(fd);
}

/* The engine's refusal of a WRITE comes after its payload; the disk's
 * refusals carry the mapped error; the connection goes on. */
static void test_refusals(void **state)
{
	struct fix *f = *state;
	struct info in;
	uint64_t cookie;
	int fd = cl_connect(f);

	assert_true(cl_go(fd, "t", &in));
	cl_write_req(fd, 1, SIZE, 4096, 1);
	assert_int_equal(cl_reply(fd, &cookie), NBD_ENOSPC);
	assert_int_equal(cookie, 1);
	dset(&f->d, &f->d.refuse, -EROFS);
	cl_write_req(fd, 2, 0, 4096, 2);
	assert_int_equal(cl_reply(fd, &cookie), NBD_EPERM);
	dset(&f->d, &f->d.refuse, -ENOSPC);
	cl_req(fd, NBD_CMD_TRIM, 3, 0, 4096);
	assert_int_equal(cl_reply(fd, &cookie), NBD_ENOSPC);
	dset(&f->d, &f->d.refuse, 0);
	cl_req(fd, NBD_CMD_READ, 4, 0, 512);
	assert_true(wait_for(&f->d, &f->d.nheld, 1));
	complete_held(&f->d, -EIO);
	assert_int_equal(cl_reply(fd, &cookie), NBD_EIO);
	assert_int_equal(cookie, 4);
	close(fd);
}

static void test_max_conns(void **state)
{
	struct fix *f = *state;
	struct info in;
	int a = cl_connect(f), b;

	assert_true(cl_go(a, "t", &in));
	b = cl_connect(f);
	assert_true(cl_eof(b));
	close(b);
	close(a);
}

/* A path that exists is refused, and left alone. */
static void test_path_exists(void **state)
{
	struct fix *f = *state;
	struct nbdx_cfg cfg = {.unix_path = f->path};
	struct nbdx *s2;
	char err[128], file[128];

	assert_int_equal(nbdx_start(&s2, &cfg, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "exists already"));
	assert_int_equal(access(f->path, F_OK), 0);
	snprintf(file, sizeof(file), "%s/plain", f->dir);
	assert_int_equal(gt_write_file(file, "x", 1, 0644), 0);
	cfg.unix_path = file;
	assert_int_equal(nbdx_start(&s2, &cfg, err, sizeof(err)), -EADDRINUSE);
	assert_int_equal(access(file, F_OK), 0);
	unlink(file);
}

/* ---- requests at any byte ---- */

static void fill_pattern(struct tdisk *d)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < 65536; i++)
		d->mem[i] = (uint8_t)(i * 7 + 3);
	pthread_mutex_unlock(&d->lock);
}

/* The disk's memory at [off, off + len) is fill (0: the pattern). */
static bool mem_is(struct tdisk *d, uint64_t off, uint32_t len, int fill)
{
	bool ok = true;

	pthread_mutex_lock(&d->lock);
	for (uint64_t i = off; ok && i < off + len; i++)
		ok = d->mem[i] == (fill < 0 ? (uint8_t)(i * 7 + 3)
					    : (uint8_t)fill);
	pthread_mutex_unlock(&d->lock);
	return ok;
}

/* Whether the disk holds an I/O of that type, offset and length. */
static bool holds(struct tdisk *d, uint16_t type, uint64_t off, uint32_t len)
{
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->nheld; i++)
		found |= d->held[i]->type == type && d->held[i]->offset == off &&
			 d->held[i]->len == len;
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* Exactly n I/Os held after a moment for more to arrive. */
static void held_now(struct tdisk *d, unsigned n)
{
	assert_true(wait_for(d, &d->nheld, n));
	usleep(50000);
	assert_int_equal(dget(d, &d->nheld), n);
}

/* A connection to "t" over the disk's memory set to the pattern. */
static int open_t(struct fix *f)
{
	struct info in;
	int fd = cl_connect(f);

	fill_pattern(&f->d);
	assert_true(cl_go(fd, "t", &in));
	return fd;
}

/* A read-modify-write of one block: its read, then its write. */
static void rmw_one(struct tdisk *d)
{
	held_now(d, 1);
	complete_held(d, 0);
	held_now(d, 1);
	complete_held(d, 0);
}

static void expect_reply(int fd, uint64_t want_cookie, uint32_t want_err)
{
	uint64_t cookie;

	assert_int_equal(cl_reply(fd, &cookie), want_err);
	assert_int_equal(cookie, want_cookie);
}

/* A READ at 1000 of 3000 bytes reads blocks 512..4095; the client gets
 * its bytes from inside them. */
static void test_unaligned_read(void **state)
{
	struct fix *f = *state;
	struct info in;
	uint8_t got[3000];
	int fd = cl_connect(f);

	fill_pattern(&f->d);
	assert_true(cl_go(fd, "t", &in));
	assert_int_equal(in.min, 1);
	cl_req(fd, NBD_CMD_READ, 1, 1000, sizeof(got));
	held_now(&f->d, 1);
	assert_true(holds(&f->d, NBD_CMD_READ, 512, 3584));
	complete_held(&f->d, 0);
	expect_reply(fd, 1, 0);
	cl_read(fd, got, sizeof(got));
	assert_memory_equal(got, f->d.mem + 1000, sizeof(got));
	close(fd);
}

/* A WRITE at 1000 of 3000 bytes with FUA: its two partial blocks read
 * first, then all its blocks written once, with FUA; the bytes around
 * the payload kept. */
static void test_rmw_write(void **state)
{
	struct fix *f = *state;
	uint8_t p[3000];
	int fd = open_t(f);

	memset(p, 0xab, sizeof(p));
	cl_reqf(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 1, 1000, sizeof(p));
	cl_write(fd, p, sizeof(p));
	held_now(&f->d, 2);
	assert_true(holds(&f->d, NBD_CMD_READ, 512, 512));
	assert_true(holds(&f->d, NBD_CMD_READ, 3584, 512));
	complete_held(&f->d, 0);
	held_now(&f->d, 1);
	assert_true(holds(&f->d, NBD_CMD_WRITE, 512, 3584));
	assert_true(f->d.held[0]->fua);
	complete_held(&f->d, 0);
	expect_reply(fd, 1, 0);
	assert_true(mem_is(&f->d, 0, 1000, -1));
	assert_true(mem_is(&f->d, 1000, 3000, 0xab));
	assert_true(mem_is(&f->d, 4000, 8192 - 4000, -1));
	close(fd);
}

/* Two connections write into one block: the second waits (its partial
 * block not even read) until the first wrote it; a READ of the block
 * and a write elsewhere do not wait. Neither loses the other's bytes. */
static void test_rmw_serialised(void **state)
{
	struct fix *f = *state;
	struct info in;
	uint8_t data[512];
	int a = cl_connect(f), b = cl_connect(f), c = cl_connect(f);

	fill_pattern(&f->d);
	assert_true(cl_go(a, "t", &in) && cl_go(b, "t", &in) &&
		    cl_go(c, "t", &in));
	cl_write_req(a, 1, 600, 100, 0xaa);
	held_now(&f->d, 1);
	cl_write_req(b, 2, 800, 100, 0xbb);
	cl_req(c, NBD_CMD_READ, 3, 512, 512);
	cl_write_req(c, 4, 2048, 512, 0xcc);
	held_now(&f->d, 3);
	assert_true(holds(&f->d, NBD_CMD_READ, 512, 512));
	assert_true(holds(&f->d, NBD_CMD_WRITE, 2048, 512));
	complete_held(&f->d, 0);
	for (unsigned i = 0; i < 2; i++) {
		uint64_t cookie;

		assert_int_equal(cl_reply(c, &cookie), 0);
		if (cookie == 3)
			cl_read(c, data, sizeof(data));
	}
	held_now(&f->d, 1);
	assert_true(holds(&f->d, NBD_CMD_WRITE, 512, 512));
	complete_held(&f->d, 0);
	expect_reply(a, 1, 0);
	held_now(&f->d, 1);
	rmw_one(&f->d);
	expect_reply(b, 2, 0);
	assert_true(mem_is(&f->d, 512, 88, -1));
	assert_true(mem_is(&f->d, 600, 100, 0xaa));
	assert_true(mem_is(&f->d, 700, 100, -1));
	assert_true(mem_is(&f->d, 800, 100, 0xbb));
	assert_true(mem_is(&f->d, 900, 124, -1));
	close(a);
	close(b);
	close(c);
}

/* A client gone while its write waits for another's block: nothing of
 * it reaches the disk, and its slot comes back (the export is released
 * once removed). */
static void test_rmw_waiter_gone(void **state)
{
	struct fix *f = *state;
	struct info in;
	int a = open_t(f), b = cl_connect(f);

	assert_true(cl_go(b, "t", &in));
	cl_write_req(a, 1, 600, 100, 0xaa);
	held_now(&f->d, 1);
	cl_write_req(b, 2, 800, 100, 0xbb);
	usleep(50000);
	close(b);
	rmw_one(&f->d);
	expect_reply(a, 1, 0);
	held_now(&f->d, 0);
	assert_int_equal(dget(&f->d, &f->d.submitted), 2);
	assert_true(mem_is(&f->d, 800, 100, -1));
	close(a);
	nbdx_remove(f->e);
	assert_true(wait_for(&f->d, &f->d.released, 1));
}

/* The read of a partial block fails: the client gets EIO, nothing is
 * written, the block is free again for the next write. */
static void test_rmw_edge_eio(void **state)
{
	struct fix *f = *state;
	unsigned before;
	int fd = open_t(f);

	cl_write_req(fd, 1, 1000, 100, 0xaa);
	held_now(&f->d, 2);
	before = dget(&f->d, &f->d.submitted);
	complete_held(&f->d, -EIO);
	expect_reply(fd, 1, NBD_EIO);
	assert_int_equal(dget(&f->d, &f->d.submitted), before);
	assert_true(mem_is(&f->d, 0, 8192, -1));
	cl_write_req(fd, 2, 1000, 10, 0xbb);
	rmw_one(&f->d);
	expect_reply(fd, 2, 0);
	assert_true(mem_is(&f->d, 1000, 10, 0xbb));
	assert_true(mem_is(&f->d, 1010, 14, -1));
	close(fd);
}

/* WRITE_ZEROES at 1000 of 5000 bytes: partial blocks read, zeroed where
 * covered and written back, the whole ones zeroed by the disk. TRIM
 * trims the whole blocks inside it, none if there are none. */
static void test_unaligned_zero_trim(void **state)
{
	struct fix *f = *state;
	unsigned before;
	int fd = open_t(f);

	cl_req(fd, NBD_CMD_WRITE_ZEROES, 1, 1000, 5000);
	held_now(&f->d, 2);
	assert_true(holds(&f->d, NBD_CMD_READ, 512, 512));
	assert_true(holds(&f->d, NBD_CMD_READ, 5632, 512));
	complete_held(&f->d, 0);
	held_now(&f->d, 3);
	assert_true(holds(&f->d, NBD_CMD_WRITE, 512, 512));
	assert_true(holds(&f->d, NBD_CMD_WRITE, 5632, 512));
	assert_true(holds(&f->d, NBD_CMD_WRITE_ZEROES, 1024, 4608));
	complete_held(&f->d, 0);
	expect_reply(fd, 1, 0);
	assert_true(mem_is(&f->d, 0, 1000, -1));
	assert_true(mem_is(&f->d, 1000, 5000, 0));
	assert_true(mem_is(&f->d, 6000, 8192, -1));
	before = dget(&f->d, &f->d.submitted);
	cl_req(fd, NBD_CMD_TRIM, 2, 8193, 100);
	expect_reply(fd, 2, 0);
	assert_int_equal(dget(&f->d, &f->d.submitted), before);
	cl_req(fd, NBD_CMD_TRIM, 3, 8300, 1000);
	held_now(&f->d, 1);
	assert_true(holds(&f->d, NBD_CMD_TRIM, 8704, 512));
	complete_held(&f->d, 0);
	expect_reply(fd, 3, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errno_map),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_cfg_checks),
		cmocka_unit_test(test_stack_one_wake),
		cmocka_unit_test(test_stack_racing_taker),
		cmocka_unit_test_setup_teardown(test_go_info_resize, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_add_remove_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_remove_parked_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dead_client_slots, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_waits_for_disk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_disc_replies_first, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_conns, setup_one_conn,
						teardown),
		cmocka_unit_test_setup_teardown(test_path_exists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rmw_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rmw_serialised, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rmw_edge_eio, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rmw_waiter_gone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unaligned_zero_trim, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
