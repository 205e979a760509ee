/* Test-only NBD server: a RAM disk exported through the core/nbd engine
 * on a Unix socket, with plain blocking POSIX I/O and a thread per
 * connection, so that real clients (nbdinfo, nbdcopy, qemu-img, qemu-io)
 * can be run against the engine (tests/integration/nbd-clients.sh).
 *
 * Exports: "disk" (read-write; FLUSH, FUA, TRIM, WRITE_ZEROES with fast
 * zero, multi-connection, as the RAM is shared by every connection), the
 * same memory as "ro" (read-only), and the default export "" as "disk".
 * WRITE payload goes from the socket straight into the RAM (what is
 * already buffered is copied, the rest read in place). Requests are held
 * while more are buffered and then answered newest first, so that
 * clients see replies out of order. Each connection prints its counters
 * to stderr when it ends.
 *
 * Usage: nbd_loopback SOCKET MIB */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbd/nbd_server.h"

#define HOLD 16
#define RX (64u * 1024)

static uint8_t *ram;
static uint64_t ram_size;
static struct nbd_export exp_rw, exp_ro; /* set before any thread starts */

struct conn {
	int fd;
	struct nbd_srv s;
	uint8_t rx[RX];
	size_t off;
	size_t len;
	struct nbd_req held[HOLD];
	unsigned nheld;
};

static void exports(uint64_t size)
{
	exp_rw = (struct nbd_export){
		.size = size, .desc = "RAM disk", .desc_len = 8,
		.flags = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			 NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
			 NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN,
	};
	exp_ro = (struct nbd_export){.size = size, .name = "ro",
				     .name_len = 2,
				     .flags = NBD_FLAG_READ_ONLY};
}

static const struct nbd_export *lookup(const char *name, uint32_t len)
{
	if (!len || (len == 4 && !memcmp(name, "disk", 4)))
		return &exp_rw;
	if (len == 2 && !memcmp(name, "ro", 2))
		return &exp_ro;
	return NULL;
}

static bool write_all(int fd, struct iovec *iov, int n)
{
	while (n) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		for (; n && (size_t)w >= iov->iov_len; iov++, n--)
			w -= (ssize_t)iov->iov_len;
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return true;
}

static bool send_out(struct conn *c)
{
	size_t n;
	struct iovec iov = {.iov_base = (void *)nbd_srv_out(&c->s, &n)};

	iov.iov_len = n;
	nbd_srv_out_done(&c->s, n);
	return write_all(c->fd, &iov, 1);
}

/* Reads into dst; false at the end of the stream (reported). */
static bool read_some(struct conn *c, void *dst, size_t cap, size_t *got)
{
	ssize_t r;

	do
		r = read(c->fd, dst, cap);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		nbd_srv_eof(&c->s);
		return false;
	}
	*got = (size_t)r;
	return true;
}

static bool complete(struct conn *c, const struct nbd_req *r)
{
	uint8_t hdr[sizeof(struct nbd_simple_reply)];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {ram + r->offset, 0}};
	int n;

	if (r->type == NBD_CMD_TRIM || r->type == NBD_CMD_WRITE_ZEROES)
		memset(ram + r->offset, 0, r->len);
	n = nbd_srv_reply(&c->s, r, 0, hdr);
	if (n < 0)
		return false;
	iov[1].iov_len = (size_t)n;
	return write_all(c->fd, iov, n ? 2 : 1);
}

/* Answers the held requests, newest first. */
static bool flush_held(struct conn *c)
{
	bool ok = true;

	while (c->nheld)
		ok = complete(c, &c->held[--c->nheld]) && ok;
	return ok;
}

/* The WRITE's payload into the RAM: what is buffered, then the rest
 * read in place. */
static bool payload(struct conn *c, const struct nbd_req *r)
{
	uint8_t *dst = ram + r->offset;
	size_t left = r->len, n = c->len - c->off;

	if (n > left)
		n = left;
	memcpy(dst, c->rx + c->off, n);
	c->off += n;
	for (;;) {
		nbd_srv_payload(&c->s, n);
		dst += n;
		left -= n;
		if (!left)
			return true;
		if (!read_some(c, dst, left, &n))
			return false;
	}
}

static bool request(struct conn *c, const struct nbd_req *r)
{
	if (r->type == NBD_CMD_WRITE && !payload(c, r))
		return false;
	c->held[c->nheld++] = *r;
	return true;
}

static void list(struct conn *c, uint32_t i)
{
	static const char *const names[] = {"disk", "ro"};

	if (i < 2)
		nbd_srv_list_entry(&c->s, names[i], (uint32_t)strlen(names[i]),
				   "RAM disk", 8);
	else
		nbd_srv_list_end(&c->s);
}

/* More bytes from the client, after answering what is held (nothing
 * more is buffered, so the client may be waiting for those replies). */
static bool fill(struct conn *c)
{
	if (!flush_held(c))
		return false;
	c->off = 0;
	return read_some(c, c->rx, sizeof(c->rx), &c->len);
}

static bool handle(struct conn *c, const struct nbd_ev *ev)
{
	switch (ev->kind) {
	case NBD_EV_NONE:
		return fill(c);
	case NBD_EV_SEND:
		return send_out(c);
	case NBD_EV_EXPORT:
		nbd_srv_export(&c->s, lookup(ev->name, ev->name_len));
		return true;
	case NBD_EV_LIST:
		list(c, ev->index);
		return true;
	case NBD_EV_REQUEST:
		return request(c, &ev->req);
	case NBD_EV_REPLY:
		return write_all(c->fd, &(struct iovec){(void *)ev->reply,
							 sizeof(ev->reply)}, 1);
	case NBD_EV_FULL:
		return flush_held(c);
	case NBD_EV_CLOSE:
		flush_held(c);
		return false;
	default:
		return true;
	}
}

static uint64_t sum(const uint64_t *v, unsigned n)
{
	uint64_t t = 0;

	while (n--)
		t += v[n];
	return t;
}

static void report(const struct conn *c)
{
	const struct nbd_srv_stats *st = &c->s.st;

	fprintf(stderr,
		"conn: options=%llu opt_err=%llu requests=%llu req_err=%llu "
		"fatal=%llu read=%llu written=%llu\n",
		(unsigned long long)st->options,
		(unsigned long long)sum(st->opt_err, NBD_OPTERR__COUNT),
		(unsigned long long)sum(st->cmds, NBD_CLS__COUNT),
		(unsigned long long)sum(st->req_err, NBD_REQERR__COUNT),
		(unsigned long long)sum(st->fatal, NBD_FATAL__COUNT),
		(unsigned long long)st->bytes_read,
		(unsigned long long)st->bytes_written);
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	struct nbd_ev ev;

	for (;;) {
		c->off += nbd_srv_input(&c->s, c->rx + c->off, c->len - c->off,
					&ev);
		if (!handle(c, &ev))
			break;
	}
	report(c);
	close(c->fd);
	free(c);
	return NULL;
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16))
		return -1;
	return fd;
}

static void start(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_t t;

	if (!c || nbd_srv_init(&c->s, HOLD) != VMB_OK) {
		close(fd);
		free(c);
		return;
	}
	c->fd = fd;
	if (pthread_create(&t, NULL, serve, c)) {
		close(fd);
		free(c);
		return;
	}
	pthread_detach(t);
}

int main(int argc, char **argv)
{
	int lfd;

	if (argc != 3 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: nbd_loopback SOCKET MIB\n");
		return 2;
	}
	ram_size = (uint64_t)atoi(argv[2]) << 20;
	ram = calloc(1, ram_size);
	exports(ram_size);
	/* A client may hang up before reading its last reply (ABORT). */
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(argv[1]);
	if (!ram || lfd < 0) {
		perror("nbd_loopback");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd >= 0)
			start(fd);
		else if (errno != EINTR)
			return 1;
	}
}
