/* hvis-bench: measurements of the runtime.
 *
 * `hvis-bench ring` runs one channel between two processes, as between
 * guest and host: a child ("guest") writes packets into the guest->host
 * ring of a shared memfd, the parent ("host") drains them on its channel
 * worker, which copies every packet out of the ring as the ring API does.
 * Each side runs on its own CPU when there are two. For comparison the same
 * run measures single-core memcpy bandwidth. */
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
#include <time.h>
#include <unistd.h>

#include "hvis_paths.h"
#include "rt_chan.h"
#include "rt_gmem.h"
#include "rt_log.h"

#define END_XID UINT64_MAX
#define MAX_SIZES 16
#define MEMCPY_BIG (64u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- memcpy reference ---- */

/* Copy len bytes between two buffers repeatedly for about secs seconds;
 * returns GB/s (1e9 bytes). The destination is read back once so that
 * the copies cannot be dropped. */
static double memcpy_gbps(size_t len, double secs)
{
	/* dst - src is not a multiple of 4 KiB: such aliasing would stall
	 * the loads on false dependencies and understate memcpy. */
	uint8_t *buf = malloc(2 * (size_t)len + 4096), *src = buf;
	uint8_t *dst = buf + len + 2048;
	volatile uint8_t sink;
	uint64_t bytes = 0, rounds = 1;
	double t0, dt;

	if (!buf)
		return 0;
	memset(src, 0x5a, len);
	memset(dst, 0, len); /* fault the pages in before timing */
	t0 = now_s();
	do {
		for (uint64_t i = 0; i < rounds; i++) {
			memcpy(dst, src, len);
			src[bytes % len] ^= (uint8_t)i;
			bytes += len;
		}
		rounds *= 2;
		dt = now_s() - t0;
	} while (dt < secs);
	sink = dst[len / 2];
	(void)sink;
	free(buf);
	return (double)bytes / dt / 1e9;
}

/* ---- shared layout ---- */

/* After the two rings: what the child measured, read by the parent once
 * the child has exited. */
struct bench_result {
	uint64_t packets;
	uint64_t bytes; /* payload */
	double seconds;
	uint64_t signals_out; /* child -> parent eventfd writes */
	uint64_t tx_full;
	int status; /* 0 ok */
};

struct bench {
	struct rt_gmem mem;
	uint64_t ring_len;
	int to_host, to_guest; /* eventfds */
	enum rt_chan_mode mode;
	uint32_t size;
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
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		rt_warn("bench", "cannot pin to CPU %d: %s", cpu,
			strerror(errno));
}

/* ---- guest (child): the writer ---- */

struct guest_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool acked;
};

static void guest_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		     void *arg)
{
	struct guest_state *g = arg;

	(void)ch;
	if (pkt->xid != END_XID)
		return;
	pthread_mutex_lock(&g->lock);
	g->acked = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static int guest_main(struct bench *b)
{
	struct bench_result *res = bench_result(b);
	struct guest_state g = { .acked = false };
	struct rt_chan_stats st;
	struct rt_chan_cfg c;
	struct rt_chan *ch;
	struct vmb_iov iov;
	uint8_t *payload;
	uint64_t n = 0;
	double t0, end;
	int rc = 0;

	pin_self(b->guest_cpu);
	payload = malloc(b->size ? b->size : 1);
	if (!payload)
		return 1;
	for (uint32_t i = 0; i < b->size; i++)
		payload[i] = (uint8_t)(i * 13);
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	bench_cfg(b, false, &c);
	c.rx = guest_rx;
	c.arg = &g;
	if (rt_chan_start(&ch, &c))
		return 2;
	iov.base = payload;
	iov.len = b->size;
	t0 = now_s();
	end = t0 + b->seconds;
	/* The clock is read once per 64 packets: not a syscall (vDSO). */
	do {
		for (int k = 0; k < 64 && !rc; k++, n++)
			rc = rt_chan_send_inband(ch, n, 0, &iov, 1, false);
	} while (!rc && now_s() < end);
	if (!rc)
		rc = rt_chan_send_inband(ch, END_XID, 0, &iov, 0, false);
	if (!rc) {
		pthread_mutex_lock(&g.lock);
		while (!g.acked)
			pthread_cond_wait(&g.cond, &g.lock);
		pthread_mutex_unlock(&g.lock);
	}
	res->seconds = now_s() - t0;
	rt_chan_get_stats(ch, &st);
	rt_chan_stop(ch);
	res->packets = n;
	res->bytes = n * b->size;
	res->signals_out = st.signals_out;
	res->tx_full = st.tx_full;
	res->status = rc ? 3 : 0;
	free(payload);
	return res->status;
}

/* ---- host (parent): the reader ---- */

struct host_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool ended;
	uint64_t packets;
	uint64_t bad; /* packets of the wrong size or sequence */
	uint32_t size;
};

static void host_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		    void *arg)
{
	struct host_state *h = arg;

	(void)ch;
	if (pkt->xid == END_XID) {
		pthread_mutex_lock(&h->lock);
		h->ended = true;
		pthread_cond_signal(&h->cond);
		pthread_mutex_unlock(&h->lock);
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
}

struct point {
	double pps, gbps;
	double gsig_per_k; /* guest->host signals (data) per 1,000 packets */
	double hsig_per_k; /* host->guest signals (space, end marker) */
	uint64_t packets, host_batches, tx_full;
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

static int run_point(struct bench *b, struct point *pt)
{
	struct host_state h = { .ended = false, .size = b->size };
	struct bench_result *res = bench_result(b);
	struct rt_chan_stats st;
	struct rt_chan_cfg c;
	struct vmb_ring r;
	struct rt_chan *ch;
	pthread_condattr_t ca;
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
	pthread_mutex_init(&h.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h.cond, &ca);
	pthread_condattr_destroy(&ca);
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
	pt->packets = res->packets;
	pt->pps = (double)res->packets / res->seconds;
	pt->gbps = (double)res->bytes / res->seconds / 1e9;
	pt->gsig_per_k = per_k(res->signals_out, res->packets);
	pt->hsig_per_k = per_k(st.signals_out, res->packets);
	pt->host_batches = st.rx_batches;
	pt->tx_full = res->tx_full;
	return 0;
}

/* ---- command line ---- */

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

static void usage(FILE *f)
{
	fprintf(f, "usage: hvis-bench ring [--mode poll|interrupt|both] "
		   "[--sizes 64,256,...] [--seconds N] [--ring-kib N]\n");
}

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

static int ring_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "sizes", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "ring-kib", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint32_t sizes[MAX_SIZES] = { 64, 256, 1500, 4096, 65536 };
	unsigned nsizes = 5, ring_kib = 1024;
	bool modes[2] = { true, true }; /* interrupt, poll */
	struct bench b = { .seconds = 1.0 };
	double big, hot;
	unsigned long v;
	char *end;
	int o, fails = 0;

	while ((o = getopt_long(argc, argv, "m:s:t:r:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			modes[0] = !strcmp(optarg, "interrupt") ||
				   !strcmp(optarg, "both");
			modes[1] = !strcmp(optarg, "poll") ||
				   !strcmp(optarg, "both");
			if (!modes[0] && !modes[1]) {
				usage(stderr);
				return 2;
			}
			break;
		case 's':
			if (parse_sizes(optarg, sizes, &nsizes)) {
				fprintf(stderr, "bad --sizes (0..65536)\n");
				return 2;
			}
			break;
		case 't':
			b.seconds = strtod(optarg, &end);
			if (end == optarg || *end ||
			    !(b.seconds > 0 && b.seconds <= 3600)) {
				fprintf(stderr, "bad --seconds\n");
				return 2;
			}
			break;
		case 'r':
			if (!hvis_parse_ulong(optarg, 1024 * 1024, &v) ||
			    v < 8 || v % 4) {
				fprintf(stderr, "bad --ring-kib (multiple of "
						"4, >= 8)\n");
				return 2;
			}
			ring_kib = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	b.ring_len = (uint64_t)ring_kib * 1024;
	for (unsigned i = 0; i < nsizes; i++) {
		/* descriptor + payload + trailer must fit the data area */
		if ((uint64_t)sizes[i] + 64 > b.ring_len - 4096) {
			fprintf(stderr, "size %u does not fit a %u KiB ring\n",
				sizes[i], ring_kib);
			return 2;
		}
	}
	pick_cpus(&b);
	if (rt_gmem_create(&b.mem, 2 * b.ring_len + 4096))
		return 1;
	b.to_host = eventfd(0, EFD_CLOEXEC);
	b.to_guest = eventfd(0, EFD_CLOEXEC);
	if (b.to_host < 0 || b.to_guest < 0)
		return 1;

	pin_self(b.host_cpu);
	big = memcpy_gbps(MEMCPY_BIG, 1.0);
	printf("hvis-bench ring: %u KiB rings, %.1f s per point, host CPU "
	       "%d, guest CPU %d, %ld online CPUs\n",
	       ring_kib, b.seconds, b.host_cpu, b.guest_cpu,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("memcpy, one core, %u MiB buffers: %.2f GB/s\n",
	       MEMCPY_BIG >> 20, big);
	printf("%-9s %6s %12s %8s %9s %9s %9s %11s %7s %8s\n", "mode",
	       "size", "packets/s", "GB/s", "gsig/1000", "hsig/1000",
	       "vs memcpy", "memcpy-hot", "vs hot", "full");
	for (int m = 0; m < 2; m++) {
		if (!modes[m])
			continue;
		b.mode = m ? RT_CHAN_POLL : RT_CHAN_INTERRUPT;
		for (unsigned i = 0; i < nsizes; i++) {
			struct point pt;

			b.size = sizes[i];
			if (run_point(&b, &pt)) {
				fails++;
				continue;
			}
			hot = sizes[i] ? memcpy_gbps(sizes[i], 0.1) : 0;
			/* Two ratios: against DRAM-bound memcpy (the
			 * issue's limit) and against memcpy of the payload
			 * in cache, the stricter one while the ring itself
			 * stays in cache. */
			printf("%-9s %6u %12.0f %8.3f %9.2f %9.2f %9.2f "
			       "%11.2f %7.2f %8llu\n",
			       m ? "poll" : "interrupt", sizes[i], pt.pps,
			       pt.gbps, pt.gsig_per_k, pt.hsig_per_k,
			       pt.gbps / big, hot,
			       hot > 0 ? pt.gbps / hot : 0,
			       (unsigned long long)pt.tx_full);
			fflush(stdout);
		}
	}
	close(b.to_host);
	close(b.to_guest);
	rt_gmem_destroy(&b.mem);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	rt_log_init(argv[0], RT_LOG_WARN);
	if (argc < 2 || strcmp(argv[1], "ring")) {
		usage(stderr);
		return 2;
	}
	return ring_cmd(argc - 1, argv + 1);
}
