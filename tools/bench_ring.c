/* `hvis-bench ring`: one channel between two processes, as between guest
 * and host. The parent ("host") creates a memfd holding a guest->host and
 * a host->guest ring and forks the child ("guest"); each side runs the
 * runtime's channel code (rt_chan) on its own CPU when there are two.
 *
 * Throughput: the child sends packets of one size as fast as the ring
 * takes them; the host's worker copies each out of the ring, as for every
 * device, and checks its sequence, length and last byte.
 * Latency: one packet in flight; the host's worker echoes it from its
 * receive callback and the guest's worker times the round trip and sends
 * the next, so the figure is the channel's, not a thread handoff's. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "hvis_paths.h"
#include "rt_chan.h"
#include "rt_gmem.h"
#include "rt_log.h"

#define END_XID UINT64_MAX
#define MAX_SIZES 16
#define MEMCPY_BIG (64u << 20)
#define LAT_MAX_SAMPLES (4u << 20)

enum bench_kind { BK_STREAM, BK_PING };

/* After the two rings: what the child measured, read by the parent once
 * the child has exited. */
struct bench_result {
	uint64_t packets;
	uint64_t bytes; /* payload */
	double seconds;
	uint64_t signals_out; /* child -> parent eventfd writes */
	uint64_t tx_full;
	uint32_t p50_ns, p99_ns, max_ns; /* BK_PING */
	int status; /* 0 ok */
};

struct bench {
	struct rt_gmem mem;
	uint64_t ring_len;
	int to_host, to_guest; /* eventfds */
	enum rt_chan_mode mode;
	enum bench_kind kind;
	uint32_t size;
	unsigned burst; /* packets per burst in BK_STREAM */
	double seconds;
	int host_cpu, guest_cpu;
};

static struct bench_result *bench_result(struct bench *b)
{
	return (struct bench_result *)(b->mem.base + 2 * b->ring_len);
}

static void bench_cfg(struct bench *b, bool host, struct rt_chan_cfg *c)
{
	uint8_t *g2h = b->mem.base, *h2g = b->mem.base + b->ring_len;

	memset(c, 0, sizeof(*c));
	c->name = host ? "bench-host" : "bench-guest";
	c->tx_ring = host ? h2g : g2h;
	c->rx_ring = host ? g2h : h2g;
	c->tx_len = c->rx_len = b->ring_len;
	c->sig_out_fd = host ? b->to_guest : b->to_host;
	c->sig_in_fd = host ? b->to_host : b->to_guest;
	c->mode = b->mode;
	c->cpu = host ? b->host_cpu : b->guest_cpu;
	/* One thread sends at a time on either side: the guest's main
	 * thread or, for latency, its worker; the host's worker, then its
	 * main thread for the end marker once the worker has stopped
	 * sending. */
	c->single_sender = true;
}

/* ---- guest (child) ---- */

struct guest_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool acked; /* the host answered the end marker */
	bool done;  /* BK_PING: the worker took its last sample */
	/* BK_PING, the worker's own until done */
	struct vmb_iov iov;
	uint64_t seq, sent_ns, end_ns;
	uint32_t *lat;
	size_t nlat;
	int rc;
};

static void guest_wake(struct guest_state *g, bool *flag)
{
	pthread_mutex_lock(&g->lock);
	*flag = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void guest_wait(struct guest_state *g, const bool *flag)
{
	pthread_mutex_lock(&g->lock);
	while (!*flag)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

/* The echo of the packet in flight: time it, send the next. */
static void guest_echo(struct rt_chan *ch, struct guest_state *g)
{
	uint64_t now = bench_now_ns(), d = now - g->sent_ns;

	g->lat[g->nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	if (now >= g->end_ns || g->nlat == LAT_MAX_SAMPLES) {
		guest_wake(g, &g->done);
		return;
	}
	g->sent_ns = bench_now_ns();
	g->rc = rt_chan_send_inband(ch, ++g->seq, 0, &g->iov, 1, false);
	if (g->rc)
		guest_wake(g, &g->done);
}

static void guest_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		     void *arg)
{
	struct guest_state *g = arg;

	if (pkt->xid == END_XID)
		guest_wake(g, &g->acked);
	else if (g->lat && !g->done && pkt->xid == g->seq)
		guest_echo(ch, g);
}

/* Send bursts as fast as the ring takes them until the time is up. The
 * clock is read once per 64 packets or per burst if larger. */
static int guest_stream(struct bench *b, struct rt_chan *ch,
			struct guest_state *g, uint64_t *n)
{
	double end = bench_now_s() + b->seconds;
	unsigned k = 0;
	int rc = 0;

	do {
		rt_chan_tx_begin(ch);
		for (unsigned i = 0; i < b->burst && !rc; i++, (*n)++)
			rc = rt_chan_put_inband(ch, *n, 0, &g->iov, 1, false);
		rt_chan_tx_end(ch);
		k += b->burst;
		if (k < 64)
			continue;
		k = 0;
		if (bench_now_s() >= end)
			break;
	} while (!rc);
	return rc;
}

static int guest_ping(struct bench *b, struct rt_chan *ch,
		      struct guest_state *g, uint64_t *n)
{
	struct bench_result *res = bench_result(b);
	int rc;

	g->lat = malloc(LAT_MAX_SAMPLES * sizeof(*g->lat));
	if (!g->lat)
		return -1;
	g->end_ns = bench_now_ns() + (uint64_t)(b->seconds * 1e9);
	g->sent_ns = bench_now_ns();
	rc = rt_chan_send_inband(ch, g->seq, 0, &g->iov, 1, false);
	if (!rc) {
		guest_wait(g, &g->done);
		rc = g->rc;
	}
	*n = g->seq + 1;
	res->p50_ns = bench_percentile(g->lat, g->nlat, 50);
	res->p99_ns = bench_percentile(g->lat, g->nlat, 99);
	res->max_ns = bench_percentile(g->lat, g->nlat, 100);
	return rc;
}

static int guest_run(struct bench *b, struct rt_chan *ch,
		     struct guest_state *g, uint64_t *n)
{
	int rc = b->kind == BK_PING ? guest_ping(b, ch, g, n)
				    : guest_stream(b, ch, g, n);

	if (!rc)
		rc = rt_chan_send_inband(ch, END_XID, 0, &g->iov, 0, false);
	if (!rc)
		guest_wait(g, &g->acked);
	return rc;
}

static int guest_main(struct bench *b)
{
	struct bench_result *res = bench_result(b);
	struct guest_state g = { .rc = 0 };
	struct rt_chan_stats st;
	struct rt_chan_cfg c;
	struct rt_chan *ch;
	uint8_t *payload;
	uint64_t n = 0;
	double t0;
	int rc;

	bench_pin_self(b->guest_cpu);
	payload = malloc(b->size ? b->size : 1);
	if (!payload)
		return 1;
	for (uint32_t i = 0; i < b->size; i++)
		payload[i] = (uint8_t)(i * 13);
	g.iov.base = payload;
	g.iov.len = b->size;
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	bench_cfg(b, false, &c);
	c.rx = guest_rx;
	c.arg = &g;
	if (rt_chan_start(&ch, &c))
		return 2;
	t0 = bench_now_s();
	rc = guest_run(b, ch, &g, &n);
	res->seconds = bench_now_s() - t0;
	rt_chan_get_stats(ch, &st);
	rt_chan_stop(ch);
	res->packets = n;
	res->bytes = n * b->size;
	res->signals_out = st.signals_out;
	res->tx_full = st.tx_full;
	res->status = rc ? 3 : 0;
	free(g.lat);
	free(payload);
	return res->status;
}

/* ---- host (parent) ---- */

struct host_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ended;
	bool echo;
	uint64_t packets;
	uint64_t bad; /* packets of the wrong size or sequence */
	uint32_t size;
};

static void host_end(struct host_state *h)
{
	pthread_mutex_lock(&h->lock);
	h->ended = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void host_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		    void *arg)
{
	struct host_state *h = arg;
	struct vmb_iov iov = { pkt->payload, h->size };

	if (pkt->xid == END_XID) {
		host_end(h);
		return;
	}
	/* The worker already copied the whole packet out of the ring; the
	 * payload check reads its last byte as well. */
	if (pkt->xid != h->packets ||
	    pkt->payload_len != VMB_ALIGN8(h->size) ||
	    (h->size && pkt->payload[h->size - 1] !=
				(uint8_t)((h->size - 1) * 13)))
		h->bad++;
	h->packets++;
	if (h->echo && rt_chan_send_inband(ch, pkt->xid, 0, &iov, 1, false))
		h->bad++;
}

struct point {
	double pps, gbps;
	double gsig_per_k; /* guest->host signals (data) per 1,000 packets */
	double hsig_per_k; /* host->guest signals (space, end marker) */
	double per_batch;  /* packets per host read batch */
	uint64_t packets, tx_full;
	uint32_t p50_ns, p99_ns, max_ns;
};

static int wait_end(struct host_state *h, pid_t pid, double limit)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* h->cond waits on it */
	ts.tv_sec += (time_t)limit;
	pthread_mutex_lock(&h->lock);
	while (!h->ended && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	pthread_mutex_unlock(&h->lock);
	if (rc == ETIMEDOUT) {
		kill(pid, SIGKILL);
		return -1;
	}
	return 0;
}

static double per_k(uint64_t n, uint64_t packets)
{
	return packets ? 1000.0 * (double)n / (double)packets : 0;
}

static void host_state_init(struct host_state *h, const struct bench *b)
{
	pthread_condattr_t ca;

	memset(h, 0, sizeof(*h));
	h->size = b->size;
	h->echo = b->kind == BK_PING;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
}

static void point_fill(struct point *pt, const struct bench_result *res,
		       const struct rt_chan_stats *st)
{
	pt->packets = res->packets;
	pt->pps = (double)res->packets / res->seconds;
	pt->gbps = (double)res->bytes / res->seconds / 1e9;
	pt->gsig_per_k = per_k(res->signals_out, res->packets);
	pt->hsig_per_k = per_k(st->signals_out, res->packets);
	pt->per_batch = st->rx_batches ? (double)st->rx_packets /
						 (double)st->rx_batches : 0;
	pt->tx_full = res->tx_full;
	pt->p50_ns = res->p50_ns;
	pt->p99_ns = res->p99_ns;
	pt->max_ns = res->max_ns;
}

/* Fork the guest, serve it, collect both sides' figures. */
static int run_point(struct bench *b, struct point *pt)
{
	struct bench_result *res = bench_result(b);
	struct host_state h;
	struct rt_chan_stats st;
	struct rt_chan_cfg c;
	struct vmb_ring r;
	struct rt_chan *ch;
	int status, rc;
	pid_t pid;

	for (int i = 0; i < 2; i++) {
		vmb_ring_attach(&r, b->mem.base + i * b->ring_len,
				b->ring_len);
		vmb_ring_init_shared(&r, true);
	}
	memset(res, 0, sizeof(*res));
	res->status = -1;
	/* Fork before any thread exists; packets the child writes before
	 * the host worker starts wait in the ring. */
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(guest_main(b));
	host_state_init(&h, b);
	bench_cfg(b, true, &c);
	c.rx = host_rx;
	c.arg = &h;
	rc = rt_chan_start(&ch, &c);
	if (rc) {
		rt_err("bench", "rt_chan_start: %s", strerror(-rc));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	rc = wait_end(&h, pid, b->seconds + 60);
	if (!rc)
		rc = rt_chan_send_comp(ch, END_XID, NULL, 0, false);
	waitpid(pid, &status, 0);
	rt_chan_get_stats(ch, &st);
	rt_chan_stop(ch);
	if (rc || !WIFEXITED(status) || WEXITSTATUS(status) ||
	    res->status || h.bad || h.packets != res->packets || st.bad) {
		rt_err("bench", "size %u: run failed (status %d, bad %llu, "
		       "received %llu of %llu)", b->size, status,
		       (unsigned long long)h.bad,
		       (unsigned long long)h.packets,
		       (unsigned long long)res->packets);
		return -1;
	}
	point_fill(pt, res, &st);
	return 0;
}

/* ---- the two tables ---- */

static const char *mode_name(int m)
{
	return m ? "poll" : "interrupt";
}

static void stream_header(void)
{
	printf("%-9s %6s %12s %8s %9s %9s %9s %9s %11s %7s %8s\n", "mode",
	       "size", "packets/s", "GB/s", "pkt/batch", "gsig/1000",
	       "hsig/1000", "vs memcpy", "memcpy-hot", "vs hot", "full");
}

/* Two ratios: against DRAM-bound memcpy and against memcpy of the payload
 * in cache, the stricter one while the ring itself stays in cache. */
static void stream_row(int m, uint32_t size, const struct point *pt,
		       double big)
{
	double hot = size ? bench_memcpy_gbps(size, 0.1) : 0;

	printf("%-9s %6u %12.0f %8.3f %9.1f %9.2f %9.2f %9.2f %11.2f %7.2f "
	       "%8llu\n", mode_name(m), size, pt->pps, pt->gbps,
	       pt->per_batch, pt->gsig_per_k, pt->hsig_per_k, pt->gbps / big,
	       hot, hot > 0 ? pt->gbps / hot : 0,
	       (unsigned long long)pt->tx_full);
}

/* Returns the floor's p50 in ns, or 0 if not measured. */
static uint32_t ping_header(const struct bench *b, uint32_t size)
{
	uint32_t p50 = 0, p99;

	printf("round trip, one %u B packet in flight (guest -> host echo -> "
	       "guest):\n", size);
	/* Pinned as host and guest are; then back on the host's CPU. */
	if (b->host_cpu >= 0 &&
	    !bench_pingpong(b->guest_cpu, b->host_cpu, 200000, &p50, &p99))
		printf("floor, one cache line between the two CPUs and back: "
		       "p50 %.2f us, p99 %.2f us\n", p50 / 1e3, p99 / 1e3);
	bench_pin_self(b->host_cpu);
	printf("%-9s %10s %9s %9s %9s %11s %10s\n", "mode", "samples",
	       "p50 us", "p99 us", "max us", "hsig/1000", "p50/floor");
	return p50;
}

static void ping_row(int m, const struct point *pt, uint32_t floor)
{
	printf("%-9s %10llu %9.2f %9.2f %9.1f %11.2f %10.1f\n", mode_name(m),
	       (unsigned long long)pt->packets, pt->p50_ns / 1e3,
	       pt->p99_ns / 1e3, pt->max_ns / 1e3, pt->hsig_per_k,
	       floor ? (double)pt->p50_ns / floor : 0);
}

/* ---- command line ---- */

struct ring_opts {
	uint32_t sizes[MAX_SIZES];
	unsigned nsizes, ring_kib;
	bool modes[2]; /* interrupt, poll */
	bool stream, ping;
	uint32_t ping_size;
	unsigned burst;
	double seconds;
};

static int parse_sizes(const char *s, uint32_t *out, unsigned *n)
{
	char *end;

	*n = 0;
	while (*s) {
		unsigned long v = strtoul(s, &end, 10);

		/* digits only: strtoul would take a sign ("-0") or blanks */
		if (*s < '0' || *s > '9' || v > 65536 || *n == MAX_SIZES)
			return -1;
		out[(*n)++] = (uint32_t)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return *n ? 0 : -1;
}

void bench_ring_usage(FILE *f)
{
	fprintf(f,
"usage: hvis-bench ring [--mode poll|interrupt|both]\n"
"                       [--measure throughput|latency|both]\n"
"                       [--sizes 64,256,...] [--latency-size N]\n"
"                       [--burst N] [--seconds N] [--ring-kib N]\n");
}

static int pick_both(const char *opt, const char *v, const char *a,
		     const char *b, bool out[2])
{
	out[0] = !strcmp(v, a) || !strcmp(v, "both");
	out[1] = !strcmp(v, b) || !strcmp(v, "both");
	if (out[0] || out[1])
		return 0;
	return hvis_refuse(BENCH_PROG, "%s: '%s' is not %s, %s or both", opt,
			   v, a, b);
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0 && v <= 3600))
		return hvis_refuse(BENCH_PROG, "--seconds: '%s' is not a "
				   "number of seconds in (0, 3600]", s);
	*out = v;
	return 0;
}

static int parse_ring_kib(const char *s, unsigned *out)
{
	unsigned long v;

	if (!hvis_parse_ulong(s, 1024 * 1024, &v) || v < 8 || v % 4)
		return hvis_refuse(BENCH_PROG, "--ring-kib: '%s' is not a "
				   "multiple of 4 from 8 to 1048576", s);
	*out = (unsigned)v;
	return 0;
}

static int parse_opt(int o, struct ring_opts *ro, char **argv)
{
	bool what[2];
	unsigned long v;
	unsigned n;

	switch (o) {
	case 'm':
		return pick_both("--mode", optarg, "interrupt", "poll",
				 ro->modes);
	case 'M':
		if (pick_both("--measure", optarg, "throughput", "latency",
			      what))
			return -1;
		ro->stream = what[0];
		ro->ping = what[1];
		return 0;
	case 's':
		if (!parse_sizes(optarg, ro->sizes, &ro->nsizes))
			return 0;
		return hvis_refuse(BENCH_PROG, "--sizes: '%s' is not a "
				   "comma-separated list of sizes from 0 to "
				   "65536 (at most %d)", optarg, MAX_SIZES);
	case 'l':
		if (!parse_sizes(optarg, &ro->ping_size, &n) && n == 1)
			return 0;
		return hvis_refuse(BENCH_PROG, "--latency-size: '%s' is not "
				   "a size from 0 to 65536", optarg);
	case 'b':
		if (hvis_parse_ulong(optarg, 1024, &v) && v) {
			ro->burst = (unsigned)v;
			return 0;
		}
		return hvis_refuse(BENCH_PROG, "--burst: '%s' is not a number "
				   "of packets from 1 to 1024", optarg);
	case 't':
		return parse_seconds(optarg, &ro->seconds);
	case 'r':
		return parse_ring_kib(optarg, &ro->ring_kib);
	case 'h':
		bench_ring_usage(stdout);
		exit(0);
	default:
		return hvis_refuse_getopt(BENCH_PROG, o, argv);
	}
}

static int parse_ring(int argc, char **argv, struct ring_opts *ro)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "measure", required_argument, NULL, 'M' },
		{ "sizes", required_argument, NULL, 's' },
		{ "latency-size", required_argument, NULL, 'l' },
		{ "burst", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 't' },
		{ "ring-kib", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t ring;
	int o;

	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		if (parse_opt(o, ro, argv))
			return -1;
	if (optind < argc)
		return hvis_refuse(BENCH_PROG, "ring: unexpected argument "
				   "'%s'", argv[optind]);
	ring = (uint64_t)ro->ring_kib * 1024;
	for (unsigned i = 0; i <= ro->nsizes; i++) {
		uint32_t s = i < ro->nsizes ? ro->sizes[i] : ro->ping_size;

		/* descriptor + payload + trailer must fit the data area */
		if ((uint64_t)s + 64 > ring - 4096)
			return hvis_refuse(BENCH_PROG, "size %u does not fit "
					   "a %u KiB ring (see --ring-kib)",
					   s, ro->ring_kib);
	}
	return 0;
}

/* ---- running ---- */

static void pick_cpus(struct bench *b)
{
	cpu_set_t set;
	int found = 0;

	b->host_cpu = b->guest_cpu = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (int i = 0; i < CPU_SETSIZE && found < 2; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (found++ == 0)
			b->host_cpu = i;
		else
			b->guest_cpu = i;
	}
	if (found < 2)
		b->host_cpu = -1; /* one CPU: leave both unbound */
}

static int run_stream(struct bench *b, const struct ring_opts *ro,
		      double big)
{
	int fails = 0;

	stream_header();
	b->kind = BK_STREAM;
	for (int m = 0; m < 2; m++) {
		if (!ro->modes[m])
			continue;
		b->mode = m ? RT_CHAN_POLL : RT_CHAN_INTERRUPT;
		for (unsigned i = 0; i < ro->nsizes; i++) {
			struct point pt;

			b->size = ro->sizes[i];
			if (run_point(b, &pt)) {
				fails++;
				continue;
			}
			stream_row(m, b->size, &pt, big);
			fflush(stdout);
		}
	}
	return fails;
}

static int run_ping(struct bench *b, const struct ring_opts *ro)
{
	uint32_t floor = ping_header(b, ro->ping_size);
	int fails = 0;

	b->kind = BK_PING;
	b->size = ro->ping_size;
	for (int m = 0; m < 2; m++) {
		struct point pt;

		if (!ro->modes[m])
			continue;
		b->mode = m ? RT_CHAN_POLL : RT_CHAN_INTERRUPT;
		if (run_point(b, &pt)) {
			fails++;
			continue;
		}
		ping_row(m, &pt, floor);
		fflush(stdout);
	}
	return fails;
}

static int bench_setup(struct bench *b, const struct ring_opts *ro)
{
	b->seconds = ro->seconds;
	b->burst = ro->burst;
	b->ring_len = (uint64_t)ro->ring_kib * 1024;
	pick_cpus(b);
	if (rt_gmem_create(&b->mem, 2 * b->ring_len + 4096))
		return -1;
	b->to_host = eventfd(0, EFD_CLOEXEC);
	b->to_guest = eventfd(0, EFD_CLOEXEC);
	return b->to_host < 0 || b->to_guest < 0 ? -1 : 0;
}

int bench_ring_main(int argc, char **argv)
{
	struct ring_opts ro = {
		.sizes = { 64, 256, 1500, 4096, 65536 }, .nsizes = 5,
		.ring_kib = 1024, .modes = { true, true }, .stream = true,
		.ping = true, .ping_size = 64, .burst = 16, .seconds = 1.0,
	};
	struct bench b = { .to_host = -1, .to_guest = -1 };
	double big;
	int fails = 0;

	if (parse_ring(argc, argv, &ro))
		return 2;
	if (bench_setup(&b, &ro)) {
		rt_err("bench", "cannot set up the rings: %s", strerror(errno));
		return 1;
	}
	bench_pin_self(b.host_cpu);
	big = bench_memcpy_gbps(MEMCPY_BIG, 1.0);
	printf("hvis-bench ring: %u KiB rings, %.1f s per point, bursts of %u, "
	       "host CPU %d, guest CPU %d, %ld online CPUs\n", ro.ring_kib,
	       b.seconds, b.burst, b.host_cpu, b.guest_cpu,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("memcpy, one core, %u MiB buffers: %.2f GB/s\n",
	       MEMCPY_BIG >> 20, big);
	if (ro.stream)
		fails += run_stream(&b, &ro, big);
	if (ro.ping)
		fails += run_ping(&b, &ro);
	close(b.to_host);
	close(b.to_guest);
	rt_gmem_destroy(&b.mem);
	return fails ? 1 : 0;
}
