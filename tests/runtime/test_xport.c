/* Transport framing over real SOCK_SEQPACKET socketpairs: valid frames
 * with and without descriptors, and every malformed case the receiver
 * must reject without leaking a descriptor. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "rt_xport.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static struct rt_frame frame;

static void test_frame_no_fds(void **state)
{
	int sp[2];
	const char msg[] = "hello host";

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	assert_int_equal(rt_xport_send(sp[0], RT_FRAME_MSG, 4, msg,
				       sizeof(msg), NULL, 0), 0);
	assert_int_equal(rt_xport_recv(sp[1], &frame), 0);
	assert_int_equal(frame.hdr.magic, RT_XPORT_MAGIC);
	assert_int_equal(frame.hdr.type, RT_FRAME_MSG);
	assert_int_equal(frame.hdr.conn_id, 4);
	assert_int_equal(frame.hdr.len, sizeof(msg));
	assert_int_equal(frame.nfds, 0);
	assert_memory_equal(frame.payload, msg, sizeof(msg));

	/* An empty payload and the largest one */
	assert_int_equal(rt_xport_send(sp[1], RT_FRAME_MSG, 1, NULL, 0,
				       NULL, 0), 0);
	assert_int_equal(rt_xport_recv(sp[0], &frame), 0);
	assert_int_equal(frame.hdr.len, 0);
	memset(frame.payload, 0xab, VMB_MSG_MAX);
	assert_int_equal(rt_xport_send(sp[1], RT_FRAME_MSG, 1, frame.payload,
				       VMB_MSG_MAX, NULL, 0), 0);
	memset(frame.payload, 0, VMB_MSG_MAX);
	assert_int_equal(rt_xport_recv(sp[0], &frame), 0);
	assert_int_equal(frame.hdr.len, VMB_MSG_MAX);
	assert_int_equal(frame.payload[VMB_MSG_MAX - 1], 0xab);
	close(sp[0]);
	close(sp[1]);
}

static void test_frame_with_fds(void **state)
{
	struct rt_frame_memory mem = { .version = RT_XPORT_VERSION,
				       .size = 1 << 20 };
	int sp[2], efd[2];
	uint64_t v = 42;

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	efd[0] = eventfd(0, EFD_CLOEXEC);
	efd[1] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(rt_xport_send(sp[0], RT_FRAME_MEMORY, 0, &mem,
				       sizeof(mem), efd, 2), 0);
	assert_int_equal(rt_xport_recv(sp[1], &frame), 0);
	assert_int_equal(frame.nfds, 2);
	assert_int_equal(frame.hdr.nfds, 2);
	assert_memory_equal(frame.payload, &mem, sizeof(mem));
	/* The received descriptor is the same eventfd, and close-on-exec. */
	assert_int_equal(write(frame.fds[1], &v, 8), 8);
	v = 0;
	assert_int_equal(read(efd[1], &v, 8), 8);
	assert_int_equal(v, 42);
	for (unsigned i = 0; i < 2; i++) {
		close(frame.fds[i]);
		close(efd[i]);
	}
	assert_int_equal(rt_xport_send(sp[0], 1, 0, NULL, 0, efd,
				       RT_FRAME_MAX_FDS + 1), -EINVAL);
	assert_int_equal(rt_xport_send(sp[0], 1, 0, &mem, VMB_MSG_MAX + 1,
				       NULL, 0), -EINVAL);
	close(sp[0]);
	close(sp[1]);
}

/* Raw datagram with descriptors attached, bypassing rt_xport_send. */
static void raw_send(int s, const void *buf, size_t len, const int *fds,
		     unsigned nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 8)];
	} c;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		memset(&c, 0, sizeof(c));
		m.msg_control = c.b;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(&c.h), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(s, &m, 0), (ssize_t)len);
}

struct bad_case {
	const char *what;
	uint32_t magic;
	uint16_t nfds_claimed;
	uint32_t len_claimed;
	size_t len_sent; /* payload bytes actually sent */
	unsigned nfds_sent;
	size_t total; /* 0: header + len_sent; else the datagram size */
};

static void test_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "bad magic", 0x12345678, 0, 4, 4, 0, 0 },
		{ "bad magic with fds", 0x12345678, 2, 4, 4, 2, 0 },
		{ "len beyond datagram", RT_XPORT_MAGIC, 0, 20, 4, 0, 0 },
		{ "len short of datagram", RT_XPORT_MAGIC, 1, 2, 4, 1, 0 },
		{ "oversize", RT_XPORT_MAGIC, 0, VMB_MSG_MAX + 8,
		  VMB_MSG_MAX + 8, 0, 0 },
		{ "oversize with fds", RT_XPORT_MAGIC, 3, VMB_MSG_MAX + 8,
		  VMB_MSG_MAX + 8, 3, 0 },
		{ "more fds than claimed", RT_XPORT_MAGIC, 1, 0, 0, 3, 0 },
		{ "fewer fds than claimed", RT_XPORT_MAGIC, 2, 0, 0, 1, 0 },
		{ "too many fds", RT_XPORT_MAGIC, 6, 0, 0, 6, 0 },
		{ "truncated header", RT_XPORT_MAGIC, 0, 0, 0, 0, 7 },
		{ "truncated header with fds", RT_XPORT_MAGIC, 2, 0, 0, 2, 9 },
	};
	static uint8_t buf[RT_FRAME_MAX + 64];
	struct rt_frame_hdr h;
	int sp[2], fds[8], before;

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	before = count_fds();
	for (size_t i = 0; i < VMB_ARRAY_LEN(cases); i++) {
		const struct bad_case *c = &cases[i];
		size_t total = c->total ? c->total : sizeof(h) + c->len_sent;

		for (unsigned k = 0; k < c->nfds_sent; k++)
			fds[k] = eventfd(0, EFD_CLOEXEC);
		h = (struct rt_frame_hdr){ .magic = c->magic, .type = 2,
					   .nfds = c->nfds_claimed,
					   .len = c->len_claimed };
		memset(buf, 0x77, sizeof(buf));
		memcpy(buf, &h, sizeof(h));
		raw_send(sp[0], buf, total, fds, c->nfds_sent);
		for (unsigned k = 0; k < c->nfds_sent; k++)
			close(fds[k]);
		print_message("case: %s\n", c->what);
		assert_int_equal(rt_xport_recv(sp[1], &frame), -EPROTO);
		assert_int_equal(frame.nfds, 0);
		/* Every received descriptor was closed. */
		assert_int_equal(count_fds(), before);
	}
	/* The stream is still usable after rejected frames. */
	assert_int_equal(rt_xport_send(sp[0], RT_FRAME_MSG, 9, "ok", 2, NULL,
				       0), 0);
	assert_int_equal(rt_xport_recv(sp[1], &frame), 0);
	assert_int_equal(frame.hdr.conn_id, 9);
	close(sp[0]);
	close(sp[1]);
}

static void test_eof(void **state)
{
	int sp[2], before;

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	assert_int_equal(rt_xport_send(sp[0], RT_FRAME_MSG, 1, "x", 1, NULL,
				       0), 0);
	close(sp[0]);
	/* Queued frames are still delivered, then EOF. */
	assert_int_equal(rt_xport_recv(sp[1], &frame), 0);
	before = count_fds();
	assert_int_equal(rt_xport_recv(sp[1], &frame), -ECONNRESET);
	assert_int_equal(rt_xport_recv(sp[1], &frame), -ECONNRESET);
	assert_int_equal(count_fds(), before);
	close(sp[1]);
}

/* What an event-loop handler sees through rt_xport_on_readable. */
struct seen {
	unsigned frames;
	uint32_t last_len;
	char gone[64];
};

static void seen_frame(void *arg, struct rt_frame *f)
{
	struct seen *s = arg;

	s->frames++;
	s->last_len = f->hdr.len;
}

static void seen_gone(void *arg, const char *why)
{
	snprintf(((struct seen *)arg)->gone, sizeof(((struct seen *)arg)->gone),
		 "%s", why);
}

static void test_on_readable(void **state)
{
	struct seen s = { 0 };
	uint64_t bad = 0;
	const struct rt_xport_peer p = {
		.name = "tester", .bad = &bad, .frame = seen_frame,
		.gone = seen_gone, .arg = &s,
	};
	uint8_t junk[8] = { 1, 2, 3 };
	int sp[2], efd[2], before;

	(void)state;
	assert_int_equal(rt_xport_pair(sp), 0);
	before = count_fds();
	/* A good frame is handed on; descriptors it left are closed. */
	efd[0] = eventfd(0, EFD_CLOEXEC);
	efd[1] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(rt_xport_send(sp[0], RT_FRAME_MSG, 1, "abc", 3, efd,
				       2), 0);
	close(efd[0]);
	close(efd[1]);
	rt_xport_on_readable(sp[1], &p);
	assert_int_equal(s.frames, 1);
	assert_int_equal(s.last_len, 3);
	assert_int_equal(count_fds(), before);
	/* A malformed one is counted and dropped. */
	assert_int_equal(write(sp[0], junk, sizeof(junk)), sizeof(junk));
	rt_xport_on_readable(sp[1], &p);
	assert_int_equal(s.frames, 1);
	assert_int_equal(bad, 1);
	assert_string_equal(s.gone, "");
	/* The peer closing is reported with its name. */
	close(sp[0]);
	rt_xport_on_readable(sp[1], &p);
	assert_string_equal(s.gone, "connection closed by tester");
	assert_int_equal(s.frames, 1);
	close(sp[1]);
}

static void test_listen_connect(void **state)
{
	char path[64];
	int l, c, a;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/hvis-xport-test-%d.sock",
		 (int)getpid());
	l = rt_xport_listen(path);
	assert_true(l >= 0);
	c = rt_xport_connect(path);
	assert_true(c >= 0);
	a = rt_xport_accept(l);
	assert_true(a >= 0);
	assert_int_equal(rt_xport_send(c, RT_FRAME_MSG, 3, "abc", 3, NULL, 0),
			 0);
	assert_int_equal(rt_xport_recv(a, &frame), 0);
	assert_memory_equal(frame.payload, "abc", 3);
	close(a);
	close(c);
	close(l);
	/* A stale socket file from a previous run does not block listen. */
	l = rt_xport_listen(path);
	assert_true(l >= 0);
	/* ... but a live listener keeps its path, whatever the type asked. */
	assert_int_equal(rt_xport_listen(path), -EADDRINUSE);
	assert_int_equal(rt_unix_listen(path, SOCK_STREAM), -EADDRINUSE);
	close(l);
	unlink(path);
	assert_int_equal(rt_xport_connect(path), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_no_fds),
		cmocka_unit_test(test_frame_with_fds),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_on_readable),
		cmocka_unit_test(test_listen_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
