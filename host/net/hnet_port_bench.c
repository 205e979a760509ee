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
#include "net/ncsum.h"

struct hnet_bench {
	uint32_t rx_len;            /* 0: no source */
	/* zero, or for a frame longer than the MTU a GSO header: a TCP
	 * frame as the TAP with TSO gives (coalesced, for a guest that
	 * agreed RSC) */
	uint8_t vnet[RT_TAP_VNET_HDR_LEN];
	uint8_t frame[HNET_RSC_FRAME_MAX];
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

/* The frame behind its virtio-net header, spread over iov as a TAP
 * read spreads it (longer than the room: the room and one byte more, as
 * a TAP says a frame was cut); a read that is not given room for a
 * frame is a discard: the source pauses instead. */
ssize_t hnet_bench_readv(struct hnet_bench *b, unsigned q,
			 const struct iovec *iov, int n)
{
	size_t at = 0, room = n > 1 ? iov_total(iov + 1, n - 1) : 0;
	uint64_t v;

	if (!b->rx_len || b->paused[q] || n < 2 ||
	    iov[0].iov_len != RT_TAP_VNET_HDR_LEN) {
		if (b->rx_len && !b->paused[q] &&
		    read(b->efd[q], &v, sizeof(v)) > 0)
			b->paused[q] = true;
		errno = EAGAIN;
		return -1;
	}
	memcpy(iov[0].iov_base, b->vnet, RT_TAP_VNET_HDR_LEN);
	if (room < b->rx_len)
		return (ssize_t)(RT_TAP_VNET_HDR_LEN + room + 1);
	for (int i = 1; at < b->rx_len; i++) {
		size_t c = b->rx_len - at < iov[i].iov_len ? b->rx_len - at
							   : iov[i].iov_len;

		memcpy(iov[i].iov_base, b->frame + at, c);
		at += c;
	}
	return (ssize_t)(RT_TAP_VNET_HDR_LEN + b->rx_len);
}

bool hnet_bench_rsc(const struct hnet_bench *b)
{
	return b->rx_len > HNET_MTU + 14;
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
 * a pattern: the guest's filter takes it, nothing parses further; or,
 * longer than the MTU, TCP headers over the pattern and their GSO
 * header. */
static void frame_make(struct hnet_bench *b)
{
	static const uint8_t hdr[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
	struct vnet_hdr h;

	for (size_t i = 0; i < sizeof(b->frame); i++)
		b->frame[i] = (uint8_t)i;
	memcpy(b->frame, hdr, sizeof(hdr));
	if (!hnet_bench_rsc(b))
		return;
	/* segments of 1448 bytes: TCP's over a 1500-byte MTU with
	 * timestamps, what Linux's TSO frames carry */
	ncsum_tcp4_gso_make(b->frame, b->rx_len, 1448, &h);
	memcpy(b->vnet, &h, sizeof(h));
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

	nic->tap = (struct rt_tap){.name = HNET_BENCH_NAME, .ns_fd = -1};
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
	/* past the MTU: a TCP/IPv4 frame of at most 64 KiB of IP */
	if (*end || v < 14 || v > 14 + 65535u)
		return false;
	cfg->bench_rx = (uint32_t)v;
	return true;
}
