/* `hvis-bench net`'s frames part: netvsc to netvsp between two processes,
 * no TAP. A real hvis-host with the bench port (--nic bench: a sink
 * that counts and drops the guest's frames; bench,rx=SIZE: a source of
 * SIZE-byte frames toward the guest as fast as its receive buffer takes
 * them); this process is the guest, the guest VMBus and netvsc with a
 * port of its own in place of hn0 (gnet_cfg.port): a source of frames
 * of one size as fast as send sections come back, and a sink. Frames
 * and signals are the host's counts (hvis-ctl channels) over the run.
 * The limit, measured in the same run: `hvis-bench ring`'s rate of
 * 64-byte packets (one VMBus channel between two processes, workers that
 * sleep until signalled). Each frame costs netvsc and netvsp one packet
 * of about that size in the ring (SEND_RNDIS_PKT, or a transfer-page
 * packet), its bytes going through the shared buffers: no more frames
 * than that can cross one channel. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_net.h"
#include "gnet.h"
#include "gvb.h"
#include "hvis_paths.h"
#include "net/ncsum.h"
#include "rt_log.h"

#define VNET_LEN 12u /* rt_tap's virtio-net header */
#define LSO_LEN 65536u /* an LSO send: Ethernet, IPv4, TCP, payload */
#define LSO_MSS 1448u
#define LSO_SPAN (8u * LSO_LEN)

/* The guest's side of the frames: the port netvsc sends from and
 * delivers to. An LSO send is one TCP frame of LSO_LEN bytes behind a
 * GSO header, as the kernel gives hn0's TAP with TSO on. */
struct fport {
	struct gnet_port port;
	_Atomic bool up, sending;
	uint32_t tx_len;
	uint8_t vnet[VNET_LEN];
	uint8_t frame[LSO_LEN];
	_Atomic uint64_t tx, rx;
	_Atomic uint64_t rx_bad; /* not of the size the host sends */
	uint32_t rx_len;
};

struct fbench {
	const char *dir, *bin_dir;
	double seconds;
	uint32_t queues;  /* gnet_cfg.queues: 1, or 0 for one per CPU */
	int host;
	struct rt_loop *loop;
	struct gvb vb;
	pthread_t loop_t;
	bool loop_running;  /* loop_t was made: both_down joins it */
	struct fport fp;
};

/* ---- the port (netvsc's send thread and worker) ---- */

static ssize_t fp_readv(void *arg, unsigned q, const struct iovec *iov,
			int n)
{
	struct fport *p = arg;

	size_t room = 0, at = 0;

	(void)q; /* every queue sends the same frames */
	for (int i = 1; i < n; i++)
		room += iov[i].iov_len;
	if (!atomic_load_explicit(&p->sending, memory_order_relaxed) ||
	    n < 2 || iov[0].iov_len != VNET_LEN || room < p->tx_len) {
		errno = EAGAIN;
		return -1;
	}
	/* the one copy a TAP read makes */
	memcpy(iov[0].iov_base, p->vnet, VNET_LEN);
	for (int i = 1; i < n && at < p->tx_len; i++) {
		size_t c = p->tx_len - at < iov[i].iov_len ? p->tx_len - at
							   : iov[i].iov_len;

		memcpy(iov[i].iov_base, p->frame + at, c);
		at += c;
	}
	atomic_fetch_add_explicit(&p->tx, 1, memory_order_relaxed);
	return (ssize_t)(VNET_LEN + p->tx_len);
}

static ssize_t fp_writev(void *arg, unsigned q, const struct iovec *iov,
			 int n)
{
	struct fport *p = arg;
	size_t t = 0;

	(void)q;
	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	atomic_fetch_add_explicit(t == VNET_LEN + p->rx_len ? &p->rx
							      : &p->rx_bad,
				  1, memory_order_relaxed);
	return (ssize_t)t;
}

/* The frame sent: broadcast from the adapter's own address. */
static void fp_up(void *arg, const uint8_t mac[6], uint32_t mtu)
{
	struct fport *p = arg;

	(void)mtu;
	for (size_t i = 0; i < sizeof(p->frame); i++)
		p->frame[i] = (uint8_t)i;
	memset(p->frame, 0xff, 6);
	memcpy(p->frame + 6, mac, 6);
	p->frame[12] = 0x08;
	p->frame[13] = 0x00;
	atomic_store(&p->up, true);
}

/* An LSO send: a TCP frame to a unicast address, as the kernel gives
 * hn0's TAP with TSO on. */
static void fp_lso(struct fport *p)
{
	struct vnet_hdr h;

	p->frame[0] = 0x02;
	ncsum_tcp4_gso_make(p->frame, LSO_LEN, LSO_MSS, &h);
	memset(p->vnet, 0, VNET_LEN);
	memcpy(p->vnet, &h, sizeof(h));
}

/* The port's fd is readable exactly while it sends: else netvsc's send
 * thread would wake for nothing. */
static void fp_send(struct fport *p, uint32_t len)
{
	uint64_t v = 1;

	if (len == LSO_LEN)
		fp_lso(p);
	else
		memset(p->vnet, 0, VNET_LEN);
	p->tx_len = len;
	atomic_store(&p->sending, len != 0);
	if ((len ? write(p->port.fd, &v, sizeof(v))
		 : read(p->port.fd, &v, sizeof(v))) < 0 && errno != EAGAIN)
		rt_warn("bench", "port eventfd: %s", strerror(errno));
}

/* ---- host and guest ---- */

static void on_down(struct gvb *vb, const char *why, void *arg)
{
	(void)vb;
	rt_err("bench", "host gone: %s", why);
	rt_loop_stop(((struct fbench *)arg)->loop);
}

static void *loop_main(void *arg)
{
	rt_loop_run(arg);
	return NULL;
}

static const struct gvb_driver *const drivers[] = {&gnet_driver};

/* hvis-host with the bench port (rx frames of rx bytes toward the
 * guest, 0: none). */
static int host_up(struct fbench *b, uint32_t rx)
{
	char exe[PATH_MAX], nic[32], ctl[PATH_MAX + 16];
	/* --once: a host whose guest (this program) died goes too */
	const char *argv[] = {exe, "--dir", b->dir, "--test-devices", "0",
			      "--services", "none", "--quiet", "--once",
			      "--nic", nic, NULL};

	snprintf(exe, sizeof(exe), "%s/hvis-host", b->bin_dir);
	snprintf(nic, sizeof(nic), rx ? "bench,rx=%u" : "bench", rx);
	snprintf(ctl, sizeof(ctl), "%s/" HVIS_CTL_SOCK, b->dir);
	unlink(ctl);
	b->host = bench_spawn(argv);
	return b->host > 0 && bench_wait_path(ctl) ? 0 : -1;
}

static int guest_up(struct fbench *b)
{
	char vmbus[PATH_MAX + 16];
	struct gvb_cfg cfg = {.mem_size = 256ull << 20, .ring_size = 256 << 10,
			      .host_uid = geteuid(), .down = on_down, .arg = b,
			      .vmbus_path = vmbus};
	struct timespec ms = {0, 10000000};

	snprintf(vmbus, sizeof(vmbus), "%s/" HVIS_VMBUS_SOCK, b->dir);
	memset(&b->vb, 0, sizeof(b->vb));
	atomic_store(&b->fp.up, false);
	gnet_cfg.queues = b->queues;
	b->loop = rt_loop_new();
	if (!b->loop || gvb_start(&b->vb, &cfg, b->loop, drivers, 1))
		return -1;
	b->loop_running = !pthread_create(&b->loop_t, NULL, loop_main,
					  b->loop);
	if (!b->loop_running)
		return -1;
	for (int i = 0; i < 1000 && !atomic_load(&b->fp.up); i++)
		nanosleep(&ms, NULL);
	return atomic_load(&b->fp.up) ? 0 : -1;
}

static void both_down(struct fbench *b)
{
	if (b->loop) {
		rt_loop_stop(b->loop);
		if (b->loop_running)
			pthread_join(b->loop_t, NULL);
		b->loop_running = false;
		gvb_shutdown(&b->vb);
		rt_loop_free(b->loop);
		b->loop = NULL;
	}
	/* --once: it ends by itself now; a SIGTERM in the middle of that
	 * (LeakSanitizer's check at exit, in a sanitized build) can keep it
	 * from ending at all */
	if (b->host > 0 && !bench_wait_exit(b->host, 10))
		bench_reap(b->host);
	b->host = 0;
}

/* ---- one run ---- */

struct fres {
	double pps, hsig_k, gsig_k;
	unsigned chans;
};

/* rx: frames toward the guest (the host's rx_frames) or from it. NULL,
 * or why there is no figure. */
static const char *run(struct fbench *b, uint32_t len, bool rx,
		       struct fres *r)
{
	_Atomic uint64_t *moved = rx ? &b->fp.rx : &b->fp.tx;
	struct bench_nctr a, z;
	struct timespec ms = {0, 20000000};
	uint64_t f, g, bad;
	double t0, t;

	b->fp.rx_len = len;
	fp_send(&b->fp, rx ? 0 : len);
	nanosleep(&ms, NULL); /* under way before the count starts */
	g = atomic_load(moved);
	bad = atomic_load(&b->fp.rx_bad);
	a = bench_net_counters(b->dir, b->bin_dir);
	t0 = bench_now_s();
	while (bench_now_s() - t0 < b->seconds)
		nanosleep(&ms, NULL);
	z = bench_net_counters(b->dir, b->bin_dir);
	t = bench_now_s() - t0;
	g = atomic_load(moved) - g;
	bad = atomic_load(&b->fp.rx_bad) - bad;
	fp_send(&b->fp, 0);
	f = rx ? z.rx_frames - a.rx_frames : z.tx_frames - a.tx_frames;
	if (!a.ok || !z.ok)
		return "the host's counters not read: hvis-ctl channels failed";
	if (!f)
		return g ? "netvsc moved frames, the host counted none"
			 : "no frame crossed";
	/* the port's count lags the host's by what is in flight */
	if (rx && (g < f / 2 || bad))
		return "netvsc passed on fewer or other frames than the host "
		       "sent";
	r->pps = (double)f / t;
	r->chans = z.open;
	r->hsig_k = (double)(z.hsig - a.hsig) * 1000.0 / (double)f;
	r->gsig_k = (double)(z.gsig - a.gsig) * 1000.0 / (double)f;
	return NULL;
}

/* ---- output ---- */

static void header(const char *limit)
{
	bench_net_say("\n%-14s %6s %3s %11s %8s %8s %8s %11s %6s\n",
		      "direction", "bytes", "ch", "frames/s", "Gb/s", "hsig/1k",
		      "gsig/1k", limit, "ratio");
}

/* lim: ring packets/s for plain frames, memcpy Gb/s for LSO sends; the
 * ratio is of frames/s, or of Gb/s, to it. */
static void row(const char *dir, uint32_t len, const struct fres *r,
		double lim)
{
	bool lso = len == LSO_LEN;
	double gbps = r->pps * len * 8 / 1e9, v = lso ? gbps : r->pps;

	if (bench_net_row("frames", json_pack(
		    "{s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:o}", "direction",
		    dir, "bytes", (json_int_t)len, "channels",
		    (json_int_t)r->chans, "frames_per_s", r->pps, "gbps", gbps,
		    "host_signals_per_1000", r->hsig_k,
		    "guest_signals_per_1000", r->gsig_k,
		    lso ? "limit_memcpy_gbps" : "limit_ring_pps",
		    lim > 0 ? json_real(lim) : json_null())))
		return;
	printf("%-14s %6u %3u %11.0f %8.2f %8.1f %8.1f ", dir, len, r->chans,
	       r->pps, gbps, r->hsig_k, r->gsig_k);
	if (lim > 0)
		printf(lso ? "%11.2f %5.0f%%\n" : "%11.0f %5.0f%%\n", lim,
		       100.0 * v / lim);
	else
		printf("%11s\n", "-");
}

static void failed(const char *dir, uint32_t len, const char *why)
{
	if (!bench_net_row("frames", json_pack("{s:s, s:i, s:s}", "direction",
					       dir, "bytes", (json_int_t)len,
					       "not_measured", why)))
		printf("%-14s %6u %3s %11s (%s)\n", dir, len, "-", "-", why);
}

/* ---- the phases ---- */

static const uint32_t sizes[] = {64, 1500};

static int tx_phase(struct fbench *b, double lim)
{
	const char *why;
	struct fres r;
	int rc = 0;

	if (host_up(b, 0) || guest_up(b)) {
		failed("guest to host", 0, "host or netvsc did not come up");
		both_down(b);
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		if ((why = run(b, sizes[i], false, &r))) {
			failed("guest to host", sizes[i], why);
			rc = -1;
			continue;
		}
		row("guest to host", sizes[i], &r, lim);
	}
	both_down(b);
	return rc;
}

static int rx_phase(struct fbench *b, double lim)
{
	const char *why;
	struct fres r;
	int rc = 0;

	for (size_t i = 0; i < 2; i++) {
		why = host_up(b, sizes[i]) || guest_up(b)
			? "host or netvsc did not come up"
			: run(b, sizes[i], true, &r);
		if (why) {
			failed("host to guest", sizes[i], why);
			rc = -1;
		} else {
			row("host to guest", sizes[i], &r, lim);
		}
		both_down(b);
	}
	return rc;
}

/* 64 KiB frames, guest to host (rx false: LSO sends through a port
 * with the offloads on) or host to guest (coalesced TCP frames of the
 * bench port, to a guest that agreed RSC). */
static int lso_phase(struct fbench *b, bool rx, double lim)
{
	const char *dir = rx ? "host to guest" : "guest to host", *why;
	struct fres r;

	b->fp.port.offload = true;
	if (host_up(b, rx ? LSO_LEN : 0) || guest_up(b))
		why = "host or netvsc did not come up";
	else
		why = run(b, LSO_LEN, rx, &r);
	both_down(b);
	b->fp.port.offload = false;
	if (why)
		failed(dir, LSO_LEN, why);
	else
		row(dir, LSO_LEN, &r, lim);
	return why ? -1 : 0;
}

/* The limit: hvis-bench ring's 64-byte packets/s; 0 when it did not
 * say. */
static double ring_limit(const struct fbench *b)
{
	char exe[PATH_MAX], secs[32], *out, *l;
	const char *argv[] = {exe, "ring", "--mode", "interrupt", "--measure",
			      "throughput", "--sizes", "64", "--seconds", secs,
			      NULL};
	double pps = 0;

	snprintf(exe, sizeof(exe), "%s/hvis-bench", b->bin_dir);
	snprintf(secs, sizeof(secs), "%.2f", b->seconds);
	out = bench_capture(argv);
	l = out ? strstr(out, "\ninterrupt ") : NULL;
	if (!l || sscanf(l, " interrupt 64 %lf", &pps) != 1)
		pps = 0;
	free(out);
	return pps;
}

int bench_net_frames(const char *dir, const char *bin_dir, double seconds)
{
	static struct fbench b;
	double lim;
	int rc;

	b = (struct fbench){.dir = dir, .bin_dir = bin_dir, .seconds = seconds};
	b.fp.port = (struct gnet_port){
		.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
		.readv = fp_readv, .writev = fp_writev, .up = fp_up,
		.arg = &b.fp};
	if (b.fp.port.fd < 0)
		return -1;
	gnet_cfg.port = &b.fp.port;
	lim = ring_limit(&b);
	bench_net_say("\nframes: netvsc in this process to netvsp's bench port "
		      "(no TAP), on 1 channel, then on one per CPU (ch: those "
		      "open); the limit: one channel of hvis-bench ring, "
		      "64-byte packets/s (interrupt mode), as each frame is "
		      "one VMBus packet of about that size\n");
	header("ring pkt/s");
	rc = 0;
	for (size_t i = 0; i < 2; i++) {
		b.queues = i ? 0 : 1; /* 1 channel, then one per CPU */
		rc |= tx_phase(&b, lim);
		rc |= rx_phase(&b, lim);
	}
	/* the port's one copy a send, over as much memory as netvsc's big
	 * buffers span (8 of 64 KiB a channel) */
	lim = 8 * bench_memcpy_gbps(LSO_SPAN, 0.5);
	bench_net_say("\n64 KiB TCP frames: netvsc's LSO sends (GSO frames "
		      "from its port, copied once into guest memory as a TAP "
		      "read would, then GPA-direct) to netvsp's bench port, "
		      "and the bench port's coalesced frames (read into the "
		      "receive buffer, sent as RSC pieces) to netvsc's port; "
		      "the limit: memcpy of 512 KiB blocks (the span of a "
		      "channel's big buffers) on one core, Gb/s\n");
	header("memcpy Gb/s");
	for (size_t i = 0; i < 2; i++) {
		b.queues = i ? 0 : 1;
		rc |= lso_phase(&b, false, lim);
		rc |= lso_phase(&b, true, lim);
	}
	gnet_cfg.port = NULL;
	gnet_cfg.queues = 0;
	close(b.fp.port.fd);
	return rc;
}
