/* netvsp's bench port (see hnet_port.h). The source is paused, not
 * dropping, while the guest's receive buffer is full: a port that kept
 * its eventfd readable would have the channel's worker spin making
 * frames only to count them dropped, on the CPUs the guest needs. It
 * goes on when the guest next sends anything (each completion of a
 * receive slot is such a packet). Worker thread only, but for open and
 * free on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hnet_port.h"

struct hnet_bench {
	int efd;
	bool paused;
	uint32_t rx_len;            /* 0: no source */
	uint8_t frame[HNET_MTU + 14];
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
ssize_t hnet_bench_readv(struct hnet_bench *b, const struct iovec *iov,
			 int n)
{
	uint64_t v;

	if (!b->rx_len || b->paused || n < 2 ||
	    iov[0].iov_len != RT_TAP_VNET_HDR_LEN) {
		if (b->rx_len && !b->paused && read(b->efd, &v, sizeof(v)) > 0)
			b->paused = true;
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

void hnet_bench_room(struct hnet_bench *b)
{
	uint64_t one = 1;

	if (b && b->paused && write(b->efd, &one, sizeof(one)) > 0)
		b->paused = false;
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

int hnet_bench_open(struct hnet_nic *nic, const struct hnet_nic_cfg *cfg,
		    char *why, size_t n)
{
	struct hnet_bench *b = calloc(1, sizeof(*b));
	uint64_t one = 1;

	if (!b || (b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(why, n, "bench port: %s", strerror(errno));
		free(b);
		return -1;
	}
	b->rx_len = cfg->bench_rx;
	frame_make(b);
	if (b->rx_len && write(b->efd, &one, sizeof(one)) < 0)
		b->paused = true;
	nic->bench = b;
	nic->tap = (struct rt_tap){.name = "bench", .queues = 1,
				   .fd = {b->efd}, .ns_fd = -1};
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
