/* netvsp's bench port (see hnet_port.h). The source is paused, not
 * dropping, while the guest's receive buffer is full: a port that kept
 * its eventfd readable would have the channel's worker spin making
 * frames only to count them dropped, on the CPUs the guest needs. It
 * goes on when the guest next sends anything on that channel (each
 * completion of a receive slot is such a packet). Queue q is channel q's
 * worker's only, but for open and free on the loop thread. The frames
 * do not parse as IP: vRSS leaves each on the channel of its queue. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hnet_port.h"

struct hnet_bench {
	uint32_t rx_len;            /* 0: no source */
	uint8_t frame[HNET_MTU + 14];
	bool paused[HNET_QUEUES_MAX];
	int efd[HNET_QUEUES_MAX];   /* nic->tap's fds, closed with it */
};

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* The frame behind a zero virtio-net header; a read that is not given
 * room for a frame is a discard: the source pauses instead. */
ssize_t hnet_bench_readv(struct hnet_bench *b, unsigned q,
			 const struct iovec *iov, int n)
{
	uint64_t v;

	if (!b->rx_len || b->paused[q] || n < 2 ||
	    iov[0].iov_len != RT_TAP_VNET_HDR_LEN) {
		if (b->rx_len && !b->paused[q] &&
		    read(b->efd[q], &v, sizeof(v)) > 0)
			b->paused[q] = true;
		errno = EAGAIN;
		return -1;
	}
	memset(iov[0].iov_base, 0, RT_TAP_VNET_HDR_LEN);
	if (iov[1].iov_len < b->rx_len)
		return (ssize_t)(RT_TAP_VNET_HDR_LEN + iov[1].iov_len + 1);
	memcpy(iov[1].iov_base, b->frame, b->rx_len);
	return (ssize_t)(RT_TAP_VNET_HDR_LEN + b->rx_len);
}

ssize_t hnet_bench_writev(struct hnet_bench *b, const struct iovec *iov,
			  int n)
{
	(void)b;
	return (ssize_t)iov_total(iov, n);
}

void hnet_bench_room(struct hnet_bench *b, unsigned q)
{
	uint64_t one = 1;

	if (b && b->paused[q] && write(b->efd[q], &one, sizeof(one)) > 0)
		b->paused[q] = false;
}

/* Broadcast from a locally administered address, IPv4's type, the rest
 * a pattern: the guest's filter takes it, nothing parses further. */
static void frame_make(struct hnet_bench *b)
{
	static const uint8_t hdr[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0x02, 0, 0, 0, 0, 1, 0x08, 0x00};

	for (size_t i = 0; i < sizeof(b->frame); i++)
		b->frame[i] = (uint8_t)i;
	memcpy(b->frame, hdr, sizeof(hdr));
}

/* Queue q's eventfd, readable while its source makes frames. */
static int queue_open(struct hnet_bench *b, unsigned q)
{
	uint64_t one = 1;

	b->efd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd[q] < 0)
		return -1;
	b->paused[q] = b->rx_len && write(b->efd[q], &one, sizeof(one)) < 0;
	return 0;
}

int hnet_bench_open(struct hnet_nic *nic, const struct hnet_nic_cfg *cfg,
		    char *why, size_t n)
{
	struct hnet_bench *b = calloc(1, sizeof(*b));
	unsigned q = 0;

	nic->tap = (struct rt_tap){.name = "bench", .ns_fd = -1};
	if (b) {
		b->rx_len = cfg->bench_rx;
		frame_make(b);
		for (; q < nic->queues && !queue_open(b, q); q++)
			nic->tap.fd[q] = b->efd[q];
	}
	nic->tap.queues = q;
	nic->bench = b;
	if (!b || q < nic->queues) {
		snprintf(why, n, "bench port: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void hnet_bench_free(struct hnet_bench *b)
{
	free(b); /* its eventfd is nic->tap's, closed with it */
}

bool hnet_bench_opt(const char *o, struct hnet_nic_cfg *cfg)
{
	char *end;
	unsigned long v;

	if (!strcmp(o, "bench")) {
		cfg->bench = true;
		return true;
	}
	if (!cfg->bench || strncmp(o, "rx=", 3) || o[3] < '0' || o[3] > '9')
		return false;
	v = strtoul(o + 3, &end, 10);
	if (*end || v < 14 || v > HNET_MTU + 14)
		return false;
	cfg->bench_rx = (uint32_t)v;
	return true;
}
