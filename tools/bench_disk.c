/* `hvis-bench disk`: the synthetic SCSI disk, measured beside the limit.
 *
 * A real hvis-host serves a RAM-backed image (a file in /dev/shm) as
 * controller 0 LUN 0; this process is the guest: the guest VMBus and
 * storvsc, driven directly (no NBD) by a closed loop of requests that
 * completions resubmit. Each case (4 KiB random read and write at queue
 * depth 1, 32 and 128; 128 KiB sequential read and write at depth 32) runs
 * on one channel and on all of them, and fio (io_uring engine, same
 * sizes and depths) runs on the image directly in the same run as the
 * limit. Then fio's nbd engine runs against the guest's export (a real
 * hvis-guest) and against qemu-nbd serving the same image: what a user
 * sees, beside what a user would pick instead. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "gstor.h"
#include "gvb.h"
#include "hvis_paths.h"
#include "nbd/nbd_wire.h"
#include "rt_log.h"

#define DQD_MAX 128u
#define LAT_CAP (1u << 22)

struct dcase {
	const char *name;
	bool write, seq;
	uint32_t bs;
	unsigned qd;
};

static const struct dcase cases[] = {
	{"randread 4k", false, false, 4096, 1},
	{"randread 4k", false, false, 4096, 32},
	{"randread 4k", false, false, 4096, 128},
	{"randwrite 4k", true, false, 4096, 1},
	{"randwrite 4k", true, false, 4096, 32},
	{"randwrite 4k", true, false, 4096, 128},
	{"read 128k seq", false, true, 131072, 32},
	{"write 128k seq", true, true, 131072, 32},
};

struct dreq {
	struct nbdx_req r; /* first: the completion chain links these */
	uint64_t t0;
	uint64_t rng;
};

/* One case under way; the completion hook runs on channel workers. */
struct drun {
	void *disk;
	uint64_t blocks; /* of the case's size */
	const struct dcase *c;
	_Atomic bool stop;
	_Atomic uint64_t done, errors, seq, inflight;
	_Atomic uint64_t nlat;
	uint32_t *lat;
	struct dreq req[DQD_MAX];
};

struct dres {
	double iops, mbps;
	uint32_t p50_us, p99_us;
	double sig_per_k;
};

struct dbench {
	const char *image, *bin_dir;
	char dir[PATH_MAX];
	uint64_t size;
	double seconds;
	pid_t host;
	struct rt_loop *loop;
	struct gvb vb;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void *disk;
	uint64_t disk_bytes;
	struct drun run;
	unsigned nchan;
};


/* ---- requests ---- */

static uint64_t next_off(struct drun *d, struct dreq *q)
{
	if (d->c->seq)
		return (atomic_fetch_add(&d->seq, 1) % d->blocks) * d->c->bs;
	q->rng ^= q->rng << 13;
	q->rng ^= q->rng >> 7;
	q->rng ^= q->rng << 17;
	return (q->rng % d->blocks) * d->c->bs;
}

static void submit(struct drun *d, struct dreq *q)
{
	q->r.type = d->c->write ? NBD_CMD_WRITE : NBD_CMD_READ;
	q->r.offset = next_off(d, q);
	q->r.len = d->c->bs;
	q->r.err = 0;
	q->t0 = bench_now_ns();
	if (gstor_disk_ops.submit(d->disk, &q->r)) {
		atomic_fetch_add(&d->errors, 1);
		atomic_fetch_sub(&d->inflight, 1);
	}
}

static void on_complete(struct nbdx_req *chain, void *arg)
{
	struct drun *d = &((struct dbench *)arg)->run;
	uint64_t now = bench_now_ns();

	while (chain) {
		struct dreq *q = (struct dreq *)chain;
		uint64_t i = atomic_fetch_add(&d->nlat, 1);

		chain = chain->next;
		if (q->r.err)
			atomic_fetch_add(&d->errors, 1);
		if (i < LAT_CAP)
			d->lat[i] = (uint32_t)((now - q->t0) / 1000);
		atomic_fetch_add(&d->done, 1);
		if (atomic_load(&d->stop))
			atomic_fetch_sub(&d->inflight, 1);
		else
			submit(d, q);
	}
}

/* ---- the guest ---- */

static void on_lun(void *disk, uint64_t bytes, uint32_t bs, void *arg)
{
	struct dbench *b = arg;

	(void)bs;
	pthread_mutex_lock(&b->lock);
	if (!b->disk) {
		b->disk = disk;
		b->disk_bytes = bytes;
	}
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void on_down(struct gvb *vb, const char *why, void *arg)
{
	(void)vb;
	rt_err("bench", "host gone: %s", why);
	rt_loop_stop(((struct dbench *)arg)->loop);
}

static void *loop_thread(void *arg)
{
	rt_loop_run(arg);
	return NULL;
}

static const struct gvb_driver *const drivers[] = {&gstor_driver};

static int guest_up(struct dbench *b, int subchannels, pthread_t *t)
{
	char vmbus[PATH_MAX + 16], err[256];
	struct gstor_cfg sc = {.subchannels = subchannels, .ncpus = 2,
			       .lun_found = on_lun, .complete = on_complete,
			       .arg = b};
	struct gvb_cfg cfg = {.mem_size = 512ull << 20, .ring_size = 256 << 10,
			      .host_uid = geteuid(), .down = on_down, .arg = b,
			      .vmbus_path = vmbus};
	struct timespec until;

	snprintf(vmbus, sizeof(vmbus), "%s/" HVIS_VMBUS_SOCK, b->dir);
	b->disk = NULL;
	b->loop = rt_loop_new();
	if (!b->loop || gstor_start(&sc, err, sizeof(err)) ||
	    gvb_start(&b->vb, &cfg, b->loop, drivers, 1))
		return -1;
	pthread_create(t, NULL, loop_thread, b->loop);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&b->lock);
	while (!b->disk && pthread_cond_timedwait(&b->cond, &b->lock,
						  &until) == 0)
		;
	pthread_mutex_unlock(&b->lock);
	return b->disk ? 0 : -1;
}

static void guest_down(struct dbench *b, pthread_t t)
{
	rt_loop_stop(b->loop);
	pthread_join(t, NULL);
	gvb_shutdown(&b->vb);
	gstor_stop();
	rt_loop_free(b->loop);
}

/* ---- one case over storvsc ---- */

static void case_setup(struct dbench *b, const struct dcase *c)
{
	struct drun *d = &b->run;

	atomic_store(&d->stop, false);
	atomic_store(&d->done, 0);
	atomic_store(&d->errors, 0);
	atomic_store(&d->seq, 0);
	atomic_store(&d->nlat, 0);
	atomic_store(&d->inflight, c->qd);
	d->c = c;
	d->disk = b->disk;
	d->blocks = b->disk_bytes / c->bs;
}

/* Spread over the channels: each CPU submits its share (storvsc picks
 * the submitting CPU's channel; completions resubmit on theirs). The
 * CPUs allowed before are given back after: the programs this process
 * starts later (hvis-guest, qemu-nbd, fio) would inherit the pin. */
static void case_start(struct dbench *b, const struct dcase *c)
{
	unsigned ncpu = b->nchan > 1 ? b->nchan : 1;
	cpu_set_t all;

	sched_getaffinity(0, sizeof(all), &all);
	for (unsigned k = 0; k < ncpu; k++) {
		bench_pin_self(ncpu > 1 ? (int)k : -1);
		for (unsigned i = k; i < c->qd; i += ncpu)
			submit(&b->run, &b->run.req[i]);
	}
	sched_setaffinity(0, sizeof(all), &all);
}

static int run_case(struct dbench *b, const struct dcase *c, struct dres *r)
{
	struct drun *d = &b->run;
	uint64_t h0, g0, h1, g1, n;
	struct timespec ms = {0, 1000000};
	double t0, t;

	case_setup(b, c);
	gstor_signals(&h0, &g0);
	t0 = bench_now_s();
	case_start(b, c);
	while (bench_now_s() - t0 < b->seconds)
		nanosleep(&ms, NULL);
	n = atomic_load(&d->done);
	t = bench_now_s() - t0;
	gstor_signals(&h1, &g1);
	atomic_store(&d->stop, true);
	while (atomic_load(&d->inflight))
		nanosleep(&ms, NULL);
	r->iops = (double)n / t;
	r->mbps = r->iops * c->bs / 1e6;
	r->sig_per_k = n ? (double)(h1 - h0) * 1000.0 / (double)n : 0;
	n = atomic_load(&d->nlat) < LAT_CAP ? atomic_load(&d->nlat) : LAT_CAP;
	r->p50_us = bench_percentile(d->lat, n, 50);
	r->p99_us = bench_percentile(d->lat, n, 99);
	return atomic_load(&d->errors) ? -1 : 0;
}

/* ---- fio ---- */

static int fio_parse(const char *out, const struct dcase *c,
		     struct dres *r)
{
	const char *js = out ? strchr(out, '{') : NULL;
	json_t *j = js ? json_loads(js, 0, NULL) : NULL, *io, *pct;

	if (!j)
		return -1;
	io = json_object_get(json_array_get(json_object_get(j, "jobs"), 0),
			     c->write ? "write" : "read");
	pct = json_object_get(json_object_get(io, "clat_ns"), "percentile");
	*r = (struct dres){
		.iops = json_number_value(json_object_get(io, "iops")),
		.p50_us = (uint32_t)(json_integer_value(json_object_get(
				  pct, "50.000000")) / 1000),
		.p99_us = (uint32_t)(json_integer_value(json_object_get(
				  pct, "99.000000")) / 1000),
	};
	r->mbps = r->iops * c->bs / 1e6;
	json_decref(j);
	return r->iops > 0 ? 0 : -1;
}

/* fio on target (--filename=... or --uri=...) with engine, case c. */
static int run_fio(const char *engine, const char *target,
		   const struct dcase *c, double seconds, struct dres *r)
{
	char bs[32], qd[16], rt[32], rw[32], eng[32];
	const char *argv[] = {"fio", "--name=bench", "--output-format=json",
			      "--time_based", "--norandommap", "--randrepeat=0",
			      bs, qd, rt, rw, eng, target, NULL};
	char *out;
	int rc;

	snprintf(bs, sizeof(bs), "--bs=%u", c->bs);
	snprintf(qd, sizeof(qd), "--iodepth=%u", c->qd);
	snprintf(rt, sizeof(rt), "--runtime=%.0fms", seconds * 1000);
	snprintf(rw, sizeof(rw), "--rw=%s%s", c->seq ? "" : "rand",
		 c->write ? "write" : "read");
	snprintf(eng, sizeof(eng), "--ioengine=%s", engine);
	out = bench_capture(argv);
	rc = fio_parse(out, c, r);
	free(out);
	return rc;
}

/* ---- processes ---- */

static int host_up(struct dbench *b)
{
	char exe[PATH_MAX], disk[PATH_MAX + 8], ctl[PATH_MAX + 16];
	const char *argv[] = {exe, "--dir", b->dir, "--test-devices", "0",
			      "--services", "none", "--quiet", "--disk", disk,
			      NULL};

	snprintf(exe, sizeof(exe), "%s/hvis-host", b->bin_dir);
	snprintf(disk, sizeof(disk), "%s", b->image);
	snprintf(ctl, sizeof(ctl), "%s/" HVIS_CTL_SOCK, b->dir);
	b->host = bench_spawn(argv);
	return b->host > 0 && bench_wait_path(ctl) ? 0 : -1;
}

/* RAM-backed, every block written (no hole makes reads free). */
static int image_make(const char *path, uint64_t size)
{
	static uint8_t buf[1 << 20];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	memset(buf, 0xa5, sizeof(buf));
	for (uint64_t o = 0; o < size; o += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			close(fd);
			return -1;
		}
	close(fd);
	return 0;
}

/* ---- output ---- */

static void row(const char *what, const struct dcase *c,
		const struct dres *r, const struct dres *lim, bool sig)
{
	printf("  %-15s %3u %-10s %9.0f %8.1f %7u %7u ", c->name, c->qd,
	       what, r->iops, r->mbps, r->p50_us, r->p99_us);
	if (sig)
		printf("%8.1f", r->sig_per_k);
	else
		printf("%8s", "-");
	if (lim && lim->iops > 0)
		printf(" %9.0f %5.0f%%", lim->iops, 100.0 * r->iops / lim->iops);
	putchar('\n');
}

static void header(const char *title, const char *lim)
{
	printf("\n%s\n  %-15s %3s %-10s %9s %8s %7s %7s %8s %9s %6s\n", title,
	       "case", "qd", "path", "IOPS", "MB/s", "p50 us", "p99 us",
	       "sig/1k", lim, "ratio");
}

/* ---- phases ---- */

static int bufs_alloc(struct dbench *b)
{
	for (unsigned i = 0; i < DQD_MAX; i++) {
		b->run.req[i].r.buf = rt_gmem_alloc(&b->vb.gmem, 32);
		b->run.req[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		if (!b->run.req[i].r.buf)
			return -1;
	}
	return 0;
}

static int phase_storvsc(struct dbench *b, int sub, const char *title,
			 const struct dres *lim)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	struct dres r;
	pthread_t t;
	int rc = 0;

	header(title, "fio IOPS");
	memset(&b->vb, 0, sizeof(b->vb));
	if (guest_up(b, sub, &t) || bufs_alloc(b)) {
		fprintf(stderr, "hvis-bench: storvsc did not find the disk\n");
		return -1;
	}
	b->nchan = sub == 0 || n < 2 ? 1 : (unsigned)(n > 9 ? 9 : n);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (run_case(b, &cases[i], &r))
			rc = -1;
		row("storvsc", &cases[i], &r, &lim[i], true);
	}
	guest_down(b, t);
	return rc;
}

static void nbd_rows(const char *uri_hvis, const char *uri_qemu,
		     double seconds)
{
	static const size_t pick[] = {1, 4, 6};
	char a[PATH_MAX + 128], q[PATH_MAX + 128];
	struct dres rh, rq;

	snprintf(a, sizeof(a), "--uri=%s", uri_hvis);
	snprintf(q, sizeof(q), "--uri=%s", uri_qemu);
	/* Not measured: both servers' first second (the guest finishes
	 * opening its sub-channels and making its buffers while its socket
	 * already answers). */
	run_fio("nbd", a, &cases[pick[0]], 1.0, &rh);
	run_fio("nbd", q, &cases[pick[0]], 1.0, &rq);
	for (size_t i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
		const struct dcase *c = &cases[pick[i]];

		if (run_fio("nbd", a, c, seconds, &rh) ||
		    run_fio("nbd", q, c, seconds, &rq)) {
			printf("  %-15s %3u fio's nbd engine failed\n", c->name,
			       c->qd);
			continue;
		}
		row("qemu-nbd", c, &rq, NULL, false);
		row("hvis NBD", c, &rh, &rq, false);
	}
}

/* fio's nbd engine on the guest's export, then on qemu-nbd serving the
 * same image (qemu-nbd runs while no guest writes the image). */
static void phase_nbd(struct dbench *b)
{
	char exe[PATH_MAX], sock[PATH_MAX + 16], qsock[PATH_MAX + 16];
	char uh[PATH_MAX + 64], uq[PATH_MAX + 64];
	const char *guest[] = {exe, "--dir", b->dir, "--no-services",
			       "--quiet", NULL};
	const char *qemu[] = {"qemu-nbd", "-f", "raw", "-k", qsock, "-t",
			      "-e", "8", b->image, NULL};
	pid_t g, qn;

	header("fio's nbd engine: the guest's export beside qemu-nbd on the "
	       "same image", "qemu-nbd");
	snprintf(exe, sizeof(exe), "%s/hvis-guest", b->bin_dir);
	snprintf(sock, sizeof(sock), "%s/" HVIS_NBD_SOCK, b->dir);
	snprintf(qsock, sizeof(qsock), "%s/qemu-nbd.sock", b->dir);
	snprintf(uh, sizeof(uh), "nbd+unix:///scsi0-lun0?socket=%s", sock);
	snprintf(uq, sizeof(uq), "nbd+unix:///?socket=%s", qsock);
	g = bench_spawn(guest);
	qn = bench_spawn(qemu);
	if (g > 0 && qn > 0 && bench_wait_path(sock) && bench_wait_path(qsock))
		nbd_rows(uh, uq, b->seconds);
	else
		printf("  hvis-guest or qemu-nbd did not start\n");
	bench_reap(g);
	bench_reap(qn);
}

/* ---- main ---- */

void bench_disk_usage(FILE *f)
{
	fprintf(f,
"usage: hvis-bench disk [options]\n"
"  --seconds S     each case's run (default 2)\n"
"  --size MIB      the RAM image (default 256)\n"
"  --image PATH    the image, on a RAM filesystem (default\n"
"                  /dev/shm/hvis-bench-disk-PID.img, removed after)\n"
"  --no-nbd        leave out fio's nbd engine runs\n"
"  --help          print this help and exit\n");
}

static int disk_opts(int argc, char **argv, struct dbench *b, bool *nbd)
{
	static const struct option lo[] = {
		{"seconds", required_argument, NULL, 's'},
		{"size", required_argument, NULL, 'S'},
		{"image", required_argument, NULL, 'i'},
		{"no-nbd", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	unsigned long v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		if (c == 's' && (b->seconds = strtod(optarg, NULL)) > 0)
			continue;
		if (c == 'S' && hvis_parse_ulong(optarg, 1u << 20, &v) && v) {
			b->size = (uint64_t)v << 20;
			continue;
		}
		if (c == 'i' || c == 'N') {
			if (c == 'i')
				b->image = optarg;
			else
				*nbd = false;
			continue;
		}
		if (c == 'h') {
			bench_disk_usage(stdout);
			exit(0);
		}
		return c == '?' || c == ':' ? hvis_refuse_getopt(BENCH_PROG, c,
								 argv)
			: hvis_refuse(BENCH_PROG, "disk: bad value '%s' (see "
				      "hvis-bench disk --help)", optarg);
	}
	return 0;
}

static int setup(struct dbench *b, char *img, size_t cap, char *exe)
{
	if (bench_dirs(exe, b->dir, sizeof(b->dir)))
		return -1;
	b->bin_dir = exe;
	if (!b->image) {
		snprintf(img, cap, "/dev/shm/hvis-bench-disk-%d.img",
			 (int)getpid());
		b->image = img;
	}
	if (image_make(b->image, b->size)) {
		fprintf(stderr, "hvis-bench: cannot make %s: %s\n", b->image,
			strerror(errno));
		rmdir(b->dir);
		return -1;
	}
	return 0;
}

static void limits(struct dbench *b, struct dres *lim)
{
	char f[PATH_MAX + 16];

	snprintf(f, sizeof(f), "--filename=%s", b->image);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (run_fio("io_uring", f, &cases[i], b->seconds, &lim[i]))
			lim[i].iops = 0;
	header("the limit: fio (io_uring) on the image directly", "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		row("fio", &cases[i], &lim[i], NULL, false);
}

static void cleanup(struct dbench *b, const char *own_image)
{
	char p[PATH_MAX + 32];

	bench_reap(b->host);
	if (own_image)
		unlink(own_image);
	snprintf(p, sizeof(p), "%s/qemu-nbd.sock", b->dir);
	unlink(p);
	rmdir(b->dir);
}

int bench_disk_main(int argc, char **argv)
{
	static struct dbench b = {.seconds = 2, .size = 256ull << 20,
				  .lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER};
	struct dres lim[sizeof(cases) / sizeof(cases[0])];
	char img[PATH_MAX], exe[PATH_MAX];
	bool nbd = true, own;
	int rc;

	if (disk_opts(argc, argv, &b, &nbd))
		return 2;
	own = !b.image;
	b.run.lat = calloc(LAT_CAP, sizeof(uint32_t));
	if (!b.run.lat || setup(&b, img, sizeof(img), exe))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	printf("hvis-bench disk: %s, %llu MiB RAM-backed image %s, %.1f s a "
	       "case\n", "storvsc to storvsp between two processes",
	       (unsigned long long)(b.size >> 20), b.image, b.seconds);
	limits(&b, lim);
	rc = host_up(&b);
	if (!rc)
		rc = phase_storvsc(&b, 0, "storvsc, 1 channel", lim);
	if (!rc)
		rc = phase_storvsc(&b, -1, "storvsc, all channels", lim);
	if (!rc && nbd)
		phase_nbd(&b);
	cleanup(&b, own ? b.image : NULL);
	free(b.run.lat);
	return rc ? 1 : 0;
}
