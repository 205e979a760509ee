/* netvsp's packet capture (hvis-ctl nic capture): the frames crossing a
 * NIC, both ways, into a pcap file (libpcap) that tcpdump and Wireshark
 * read. The frames from the guest are taken as it sent them, before the
 * switch port's checks; the frames to the guest as it gets them.
 *
 * A channel's worker never waits for the file: it copies each frame
 * (up to the snap length) into a buffer of its channel's own, one
 * producer and one consumer, and counts the frames that find it full; a
 * writer thread empties the buffers into the file every few
 * milliseconds. With no capture running the workers pay one relaxed
 * load (hnet_cap_frame). The buffers stay until the NIC goes, so a
 * worker still inside hnet_cap_put when a capture stops writes into
 * memory that is there. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "hnet_priv.h"
#include "rt_log.h"

#define CAP_RING (1u << 20)     /* bytes buffered per channel */
#define CAP_SNAPLEN 65535u
#define CAP_FLUSH_MS 20

struct cap_rec {
	uint32_t caplen, origlen;
	uint64_t ns;            /* CLOCK_REALTIME */
};

struct cap_ring {
	_Atomic uint64_t head;  /* bytes put (the worker's) */
	_Atomic uint64_t tail;  /* bytes taken (the writer's) */
	rt_ctr dropped;         /* the worker's */
	uint8_t buf[CAP_RING];
};

struct hnet_cap {
	struct hnet_sw *sw;
	/* atomic: a worker still in hnet_cap_put from a stopped capture
	 * may read one while the next capture adds buffers */
	struct cap_ring *_Atomic ring[RT_TAP_QUEUES_MAX];
	pthread_t thread;
	bool joinable;
	_Atomic bool running;
	int stop_efd;
	pcap_t *dead;
	pcap_dumper_t *dump;
	char path[PATH_MAX];
	uint64_t max_frames, deadline_ns;
	_Atomic uint64_t frames;
	_Atomic uint64_t lost;  /* frames of a channel with no buffer */
	uint64_t dropped_base;
};

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the workers' side ---- */

static void ring_write(struct cap_ring *r, uint64_t at, const void *src,
		       uint32_t len)
{
	uint32_t off = (uint32_t)(at % CAP_RING);
	uint32_t first = CAP_RING - off < len ? CAP_RING - off : len;

	memcpy(r->buf + off, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, len - first);
}

static uint32_t rec_size(uint32_t caplen)
{
	return (uint32_t)sizeof(struct cap_rec) + ((caplen + 7u) & ~7u);
}

/* caplen bytes of the frame in iov[0..n) into r at at. */
static void ring_frame(struct cap_ring *r, uint64_t at,
		       const struct iovec *iov, unsigned n, uint32_t caplen)
{
	for (unsigned i = 0; i < n && caplen; i++) {
		uint32_t l = iov[i].iov_len < caplen ? (uint32_t)iov[i].iov_len
						     : caplen;

		ring_write(r, at, iov[i].iov_base, l);
		at += l;
		caplen -= l;
	}
}

void hnet_cap_put(struct hnet_chan *ch, const struct iovec *iov,
		  unsigned n, uint32_t len)
{
	struct hnet_cap *cap;
	struct cap_ring *r;
	struct cap_rec h = {.caplen = len < CAP_SNAPLEN ? len : CAP_SNAPLEN,
			    .origlen = len};
	uint64_t head;

	/* pairs with hnet_cap_start's release of cap_on: cap and its
	 * buffers are seen as made */
	atomic_thread_fence(memory_order_acquire);
	cap = ch->nic->sw.cap;
	r = ch->q < RT_TAP_QUEUES_MAX
		    ? atomic_load_explicit(&cap->ring[ch->q],
					   memory_order_relaxed)
		    : NULL;
	if (!r) {
		atomic_fetch_add(&cap->lost, 1);
		return;
	}
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (head + rec_size(h.caplen) -
		    atomic_load_explicit(&r->tail, memory_order_acquire) >
	    CAP_RING) {
		rt_ctr_add(&r->dropped, 1);
		return;
	}
	h.ns = now_ns(CLOCK_REALTIME);
	ring_write(r, head, &h, sizeof(h));
	ring_frame(r, head + sizeof(h), iov, n, h.caplen);
	atomic_store_explicit(&r->head, head + rec_size(h.caplen),
			      memory_order_release);
}

/* ---- the writer thread ---- */

static void ring_read(const struct cap_ring *r, uint64_t at, void *dst,
		      uint32_t len)
{
	uint32_t off = (uint32_t)(at % CAP_RING);
	uint32_t first = CAP_RING - off < len ? CAP_RING - off : len;

	memcpy(dst, r->buf + off, first);
	memcpy((uint8_t *)dst + first, r->buf, len - first);
}

static void dump_one(struct hnet_cap *cap, const struct cap_rec *h,
		     const uint8_t *frame)
{
	struct pcap_pkthdr ph = {
		.ts = {.tv_sec = (time_t)(h->ns / 1000000000u),
		       .tv_usec = (suseconds_t)(h->ns % 1000000000u / 1000u)},
		.caplen = h->caplen,
		.len = h->origlen,
	};
	uint64_t n = atomic_load(&cap->frames);

	if (cap->max_frames && n >= cap->max_frames)
		return;
	pcap_dump((u_char *)cap->dump, &ph, frame);
	atomic_store(&cap->frames, n + 1);
}

static void drain(struct hnet_cap *cap, struct cap_ring *r, uint8_t *frame)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	struct cap_rec h;

	while (tail != head) {
		ring_read(r, tail, &h, sizeof(h));
		ring_read(r, tail + sizeof(h), frame, h.caplen);
		dump_one(cap, &h, frame);
		tail += rec_size(h.caplen);
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
}

static bool done(const struct hnet_cap *cap)
{
	return (cap->max_frames && atomic_load(&cap->frames) >=
		cap->max_frames) ||
	       (cap->deadline_ns && now_ns(CLOCK_MONOTONIC) >= cap->deadline_ns);
}

static void *writer(void *arg)
{
	struct hnet_cap *cap = arg;
	struct pollfd pfd = {.fd = cap->stop_efd, .events = POLLIN};
	uint8_t *frame = malloc(CAP_SNAPLEN);
	bool stop = !frame;

	while (!stop) {
		stop = poll(&pfd, 1, CAP_FLUSH_MS) > 0;
		for (unsigned i = 0; i < RT_TAP_QUEUES_MAX; i++)
			if (cap->ring[i])
				drain(cap, cap->ring[i], frame);
		pcap_dump_flush(cap->dump);
		stop = stop || done(cap);
	}
	atomic_store(&cap->sw->cap_on, false);
	pcap_dump_close(cap->dump);
	cap->dump = NULL;
	free(frame);
	atomic_store(&cap->running, false);
	return NULL;
}

/* ---- the loop thread's side ---- */

static uint64_t dropped_sum(const struct hnet_cap *cap)
{
	uint64_t n = atomic_load(&cap->lost);

	for (unsigned i = 0; i < RT_TAP_QUEUES_MAX; i++)
		if (cap->ring[i])
			n += rt_ctr_get(&cap->ring[i]->dropped);
	return n;
}

static void join(struct hnet_cap *cap)
{
	uint64_t one = 1;

	if (!cap->joinable)
		return;
	if (write(cap->stop_efd, &one, sizeof(one)) != sizeof(one))
		rt_warn("net", "capture writer not told to stop");
	pthread_join(cap->thread, NULL);
	cap->joinable = false;
	/* a stop the writer has not seen yet stays for the next one */
	if (read(cap->stop_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		rt_warn("net", "capture: %s", strerror(errno));
}

static struct hnet_cap *cap_get(struct hnet_nic *nic, char *why, size_t n)
{
	struct hnet_cap *cap = nic->sw.cap;

	if (cap)
		return cap;
	cap = calloc(1, sizeof(*cap));
	if (cap) {
		cap->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		cap->dead = pcap_open_dead(DLT_EN10MB, (int)CAP_SNAPLEN);
		cap->sw = &nic->sw;
	}
	if (!cap || cap->stop_efd < 0 || !cap->dead) {
		snprintf(why, n, "out of memory for a capture");
		nic->sw.cap = cap;
		hnet_cap_free(nic);
		return NULL;
	}
	nic->sw.cap = cap;
	return cap;
}

/* Buffers for the channels the NIC may have (its queues), each
 * emptied of what a stopped capture left. */
static bool rings(struct hnet_nic *nic, struct hnet_cap *cap)
{
	unsigned q = nic->queues < RT_TAP_QUEUES_MAX ? nic->queues
						     : RT_TAP_QUEUES_MAX;

	for (unsigned i = 0; i < q; i++) {
		struct cap_ring *r = cap->ring[i];

		if (!r && !(r = calloc(1, sizeof(*r))))
			return false;
		cap->ring[i] = r;
		atomic_store(&r->tail, atomic_load(&r->head));
	}
	return true;
}

static int open_file(struct hnet_cap *cap, const char *path, char *why,
		     size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
			    O_NOFOLLOW, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f)
		cap->dump = pcap_dump_fopen(cap->dead, f);
	if (cap->dump)
		return 0;
	snprintf(why, n, "cannot write %s: %s", path,
		 fd < 0 ? strerror(errno) : pcap_geterr(cap->dead));
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	return -1;
}

static int go(struct hnet_nic *nic, struct hnet_cap *cap, char *why,
	      size_t n)
{
	int rc;

	cap->dropped_base = dropped_sum(cap);
	atomic_store(&cap->frames, 0);
	atomic_store(&cap->running, true);
	/* the buffers and the file before a worker may see cap_on */
	atomic_store_explicit(&nic->sw.cap_on, true, memory_order_release);
	rc = pthread_create(&cap->thread, NULL, writer, cap);
	if (rc) {
		atomic_store(&nic->sw.cap_on, false);
		atomic_store(&cap->running, false);
		pcap_dump_close(cap->dump);
		cap->dump = NULL;
		snprintf(why, n, "no capture thread: %s", strerror(rc));
		return -1;
	}
	cap->joinable = true;
	return 0;
}

int hnet_cap_start(struct hnet_nic *nic, const struct hnet_cap_cfg *cfg,
		   char *why, size_t n)
{
	struct hnet_cap *cap = cap_get(nic, why, n);

	if (!cap)
		return -1;
	if (atomic_load(&cap->running)) {
		snprintf(why, n, "%s is being captured to %s already: 'nic "
			 "capture %s --stop' ends that", nic->tap.name,
			 cap->path, nic->tap.name);
		return -1;
	}
	join(cap);
	if (strlen(cfg->path) >= sizeof(cap->path)) {
		snprintf(why, n, "capture file path too long");
		return -1;
	}
	if (!rings(nic, cap)) {
		snprintf(why, n, "out of memory for the capture's buffers");
		return -1;
	}
	if (open_file(cap, cfg->path, why, n))
		return -1;
	strcpy(cap->path, cfg->path);
	cap->max_frames = cfg->count;
	cap->deadline_ns = cfg->seconds ? now_ns(CLOCK_MONOTONIC) +
						  cfg->seconds * 1000000000u
					: 0;
	return go(nic, cap, why, n);
}

void hnet_cap_info(struct hnet_nic *nic, struct hnet_cap_info *info)
{
	struct hnet_cap *cap = nic->sw.cap;

	memset(info, 0, sizeof(*info));
	if (!cap || !cap->path[0])
		return;
	info->running = atomic_load(&cap->running);
	info->path = cap->path;
	info->frames = atomic_load(&cap->frames);
	info->dropped = dropped_sum(cap) - cap->dropped_base;
}

bool hnet_cap_stop(struct hnet_nic *nic, struct hnet_cap_info *info)
{
	struct hnet_cap *cap = nic->sw.cap;
	bool ran = cap && atomic_load(&cap->running);

	if (cap)
		join(cap);
	hnet_cap_info(nic, info);
	return ran;
}

void hnet_cap_free(struct hnet_nic *nic)
{
	struct hnet_cap *cap = nic->sw.cap;

	if (!cap)
		return;
	join(cap);
	for (unsigned i = 0; i < RT_TAP_QUEUES_MAX; i++)
		free(cap->ring[i]);
	if (cap->dead)
		pcap_close(cap->dead);
	if (cap->stop_efd >= 0)
		close(cap->stop_efd);
	free(cap);
	nic->sw.cap = NULL;
}
