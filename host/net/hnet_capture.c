/* netvsp's packet capture (hvis-ctl nic capture): the frames crossing a
 * NIC, both ways, into a pcap file (libpcap) that tcpdump and Wireshark
 * read. The frames from the guest are taken as it sent them, before the
 * switch port's checks; the frames to the guest as it gets them.
 *
 * A channel's worker never waits for the file: it copies each frame
 * (up to the snap length) into a buffer of its channel's own, one
 * producer and one consumer, and counts the frames that find it full; a
 * writer thread merges the buffers into the file in time order every
 * few milliseconds (hnet_capring.h: the buffers, their contract and the
 * merge). The file is opened on the loop thread, which must never wait:
 * without blocking, and only a new file or a regular one of this user's
 * (rt_file.h). With no capture running the workers pay one relaxed
 * load (hnet_cap_frame). The buffers stay until the NIC goes, so a
 * worker still inside hnet_cap_put when a capture stops writes into
 * memory that is there. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "hnet_capring.h"
#include "hnet_priv.h"
#include "rt_file.h"
#include "rt_log.h"

#define CAP_FLUSH_MS 20
/* Records stamped less than this before a pass stay in their ring
 * until the next one: another channel's worker may have stamped a frame
 * before them and not have put it yet. Well under the flush interval,
 * so the rings hold little more than they did. */
#define CAP_HOLD_NS 2000000u

struct hnet_cap {
	struct hnet_sw *sw;
	/* atomic: a worker still in hnet_cap_put from a stopped capture
	 * may read one while the next capture adds buffers */
	struct hnet_cring *_Atomic ring[RT_TAP_QUEUES_MAX];
	/* the running capture's generation (hnet_capring.h): written by
	 * the loop thread before cap_on's release, read by workers */
	_Atomic uint32_t gen;
	pthread_t thread;
	bool joinable;
	_Atomic bool running;
	int stop_efd;
	pcap_t *dead;
	pcap_dumper_t *dump;
	char path[PATH_MAX];
	uint64_t max_frames, deadline_ns;
	/* the wall clock less the monotonic one when the capture began:
	 * records are stamped and merged on the monotonic clock (a step of
	 * the wall clock must not hold them back), written in wall time */
	int64_t wall_off_ns;
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

void hnet_cap_put(struct hnet_chan *ch, const struct iovec *iov,
		  unsigned n, uint32_t len)
{
	struct hnet_cap *cap;
	struct hnet_cring *r;
	struct hnet_crec h = {
		.caplen = len < HNET_CAP_SNAPLEN ? len : HNET_CAP_SNAPLEN,
		.origlen = len};

	/* pairs with hnet_cap_start's release of cap_on: cap, its buffers
	 * and the generation are seen as made */
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
	/* the generation before the stamp: a frame stamped after the next
	 * capture began may go to it, never one stamped before */
	h.gen = atomic_load_explicit(&cap->gen, memory_order_relaxed);
	h.ns = now_ns(CLOCK_MONOTONIC);
	hnet_cring_put(r, &h, iov, n);
}

/* ---- the writer thread ---- */

static void dump_one(void *arg, const struct hnet_crec *h,
		     const uint8_t *frame)
{
	struct hnet_cap *cap = arg;
	uint64_t ns = h->ns + (uint64_t)cap->wall_off_ns;
	struct pcap_pkthdr ph = {
		.ts = {.tv_sec = (time_t)(ns / 1000000000u),
		       .tv_usec = (suseconds_t)(ns % 1000000000u / 1000u)},
		.caplen = h->caplen,
		.len = h->origlen,
	};
	uint64_t n = atomic_load(&cap->frames);

	if (cap->max_frames && n >= cap->max_frames)
		return;
	pcap_dump((u_char *)cap->dump, &ph, frame);
	atomic_store(&cap->frames, n + 1);
}

/* The channels' records up to m->upto_ns into the file, in time order. */
static void drain(struct hnet_cap *cap, struct hnet_cring_merge *m)
{
	struct hnet_cring *r[RT_TAP_QUEUES_MAX];
	unsigned k = 0;

	for (unsigned i = 0; i < RT_TAP_QUEUES_MAX; i++)
		if ((r[k] = atomic_load_explicit(&cap->ring[i],
						 memory_order_relaxed)))
			k++;
	hnet_cring_merge(r, k, m);
	pcap_dump_flush(cap->dump);
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
	struct hnet_cring_merge m = {.gen = atomic_load(&cap->gen),
				     .frame = malloc(HNET_CAP_SNAPLEN),
				     .emit = dump_one, .arg = cap};
	bool stop = !m.frame;

	while (!stop) {
		stop = poll(&pfd, 1, CAP_FLUSH_MS) > 0 || done(cap);
		/* the last pass takes all that is there */
		m.upto_ns = stop ? UINT64_MAX
				 : now_ns(CLOCK_MONOTONIC) - CAP_HOLD_NS;
		drain(cap, &m);
	}
	atomic_store(&cap->sw->cap_on, false);
	pcap_dump_close(cap->dump);
	cap->dump = NULL;
	free(m.frame);
	if (m.late)
		rt_info("net", "capture to %s: %llu frames put late by their "
			"channel's worker, written with the time of the frame "
			"before them",
			cap->path, (unsigned long long)m.late);
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
		cap->dead = pcap_open_dead(DLT_EN10MB, (int)HNET_CAP_SNAPLEN);
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

/* Buffers for the channels the NIC may have (its queues). What a
 * stopped capture left in them is not emptied here (that would race a
 * worker still putting a record): the next capture's generation passes
 * over it. */
static bool rings(struct hnet_nic *nic, struct hnet_cap *cap)
{
	unsigned q = nic->queues < RT_TAP_QUEUES_MAX ? nic->queues
						     : RT_TAP_QUEUES_MAX;

	for (unsigned i = 0; i < q; i++) {
		struct hnet_cring *r;

		if (cap->ring[i])
			continue;
		r = aligned_alloc(alignof(struct hnet_cring), sizeof(*r));
		if (!r)
			return false;
		memset(r, 0, sizeof(*r));
		cap->ring[i] = r;
	}
	return true;
}

/* On the loop thread, so nothing here may wait (rt_file_open): the
 * file is new (mode 0600: the guest's traffic is for its owner) or a
 * regular file of this user's, not a link, FIFO or device. */
static int open_file(struct hnet_cap *cap, const char *path, char *why,
		     size_t n)
{
	char bad[160];
	int fd = rt_file_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
			      0600, RT_FILE_MINE, bad, sizeof(bad));
	FILE *f;

	/* an existing file of this user's too: the traffic is its owner's */
	if (fd >= 0 && fchmod(fd, 0600)) {
		snprintf(bad, sizeof(bad), "%s", strerror(errno));
		close(fd);
		fd = -1;
	}
	f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f)
		cap->dump = pcap_dump_fopen(cap->dead, f);
	if (cap->dump)
		return 0;
	snprintf(why, n, "cannot capture to %s: %s", path,
		 fd < 0 ? bad : f ? pcap_geterr(cap->dead) : strerror(errno));
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
	cap->wall_off_ns = (int64_t)(now_ns(CLOCK_REALTIME) -
				     now_ns(CLOCK_MONOTONIC));
	atomic_store(&cap->frames, 0);
	atomic_store(&cap->running, true);
	atomic_store_explicit(&cap->gen, atomic_load(&cap->gen) + 1,
			      memory_order_relaxed);
	/* the buffers, the file and the generation before a worker may see
	 * cap_on */
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
	if (cfg->seconds > HNET_CAP_SECONDS_MAX) {
		snprintf(why, n, "--seconds %llu: want at most %u (a year)",
			 (unsigned long long)cfg->seconds, HNET_CAP_SECONDS_MAX);
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
