/* Test-only disk for the NBD export server (guest/os/nbdx): RAM behind
 * two exports, "disk" (read-write, TRIM and WRITE_ZEROES) and "ro" (the
 * same bytes, read-only), on a Unix socket and optionally TCP, so that
 * real clients can be run against nbdx (tests/guest/nbdx.sh).
 *
 * The disk behaves as an asynchronous one: a worker thread takes the
 * submitted requests in batches, carries them out in a shuffled order
 * and completes them in chains of 1 to 8, out of order. Buffers come
 * from a pool of --bufs buffers of the largest size nbdx asks for: a
 * small pool runs dry and makes nbdx wait for one. --eio PCT fails that share of
 * the requests with EIO, counted. --remove-after MS removes "disk" from
 * another thread after MS ms. SIGUSR1 prints the counters of each live
 * export; SIGTERM stops the server (nbdx_stop), checks that every
 * buffer came back and exits 0.
 *
 * SIGPIPE keeps its default action: nbdx must never raise it.
 *
 * Usage: nbdx_ram SOCKET [--tcp PORT] [--mib N] [--bufs N] [--eio PCT]
 *                        [--remove-after MS] [--max-conns N] */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nbd/nbd_wire.h"
#include "nbdx.h"

#define MAX_PAYLOAD (1u << 20)
#define BUF_SIZE NBDX_BUF_MAX(MAX_PAYLOAD, 512u)
#define CHAIN_MAX 8
#define BATCH_MAX 256

struct opts {
	const char *path;
	unsigned tcp, mib, bufs, eio, remove_ms, max_conns;
};

/* The RAM, the buffer pool and the worker, shared by both exports. */
struct ram {
	uint8_t *mem;
	uint64_t size;
	unsigned eio;
	/* Pool: server thread only (buf_get/buf_put). */
	void **pool;
	unsigned nfree, made, cap;
	uint64_t dry;
	/* Queue of submitted requests, linked by next. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct nbdx_req *head, *tail;
	bool quit;
	pthread_t worker;
	atomic_uint_fast64_t injected, done;
	unsigned seed;
};

struct rdisk {
	struct ram *ram;
	const char *name;
	struct nbdx_export *exp;  /* NULL once released (ram->lock) */
};

static struct ram ram;
static struct rdisk disks[2] = {{&ram, "disk", NULL}, {&ram, "ro", NULL}};

/* ---- the pool ---- */

static void *buf_get(void *disk, uint32_t len)
{
	struct ram *r = ((struct rdisk *)disk)->ram;

	if (len > BUF_SIZE)
		return NULL;
	if (r->nfree)
		return r->pool[--r->nfree];
	if (r->made < r->cap) {
		void *p = malloc(BUF_SIZE);

		r->made += p != NULL;
		return p;
	}
	r->dry++;
	return NULL;
}

static void buf_put(void *disk, void *buf, uint32_t len)
{
	struct ram *r = ((struct rdisk *)disk)->ram;

	(void)len;
	r->pool[r->nfree++] = buf;
}

/* ---- the worker ---- */

static int submit(void *disk, struct nbdx_req *q)
{
	struct ram *r = ((struct rdisk *)disk)->ram;

	q->next = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int carry_out(struct ram *r, struct nbdx_req *q)
{
	uint8_t *p = r->mem + q->offset;

	if (q->offset > r->size || q->len > r->size - q->offset)
		return -EINVAL;
	switch (q->type) {
	case NBD_CMD_READ:
		memcpy(q->buf, p, q->len);
		return 0;
	case NBD_CMD_WRITE:
		memcpy(p, q->buf, q->len);
		return 0;
	case NBD_CMD_FLUSH:
		return 0;
	default: /* TRIM, WRITE_ZEROES: both read back as zeros here */
		memset(p, 0, q->len);
		return 0;
	}
}

static void finish(struct ram *r, struct nbdx_req *q)
{
	if (r->eio && (unsigned)rand_r(&r->seed) % 100 < r->eio) {
		q->err = -EIO;
		atomic_fetch_add(&r->injected, 1);
	} else {
		q->err = carry_out(r, q);
	}
	atomic_fetch_add(&r->done, 1);
}

/* The queue, all of it, after a moment for more to gather; 0 once
 * told to quit with nothing left. */
static unsigned take(struct ram *r, struct nbdx_req **v)
{
	unsigned n = 0;

	pthread_mutex_lock(&r->lock);
	while (!r->head && !r->quit)
		pthread_cond_wait(&r->cond, &r->lock);
	pthread_mutex_unlock(&r->lock);
	usleep((unsigned)rand_r(&r->seed) % 200);
	pthread_mutex_lock(&r->lock);
	while (r->head && n < BATCH_MAX) {
		v[n++] = r->head;
		r->head = r->head->next;
	}
	if (!r->head)
		r->tail = NULL;
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void shuffle(struct ram *r, struct nbdx_req **v, unsigned n)
{
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)rand_r(&r->seed) % i;
		struct nbdx_req *t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Chains of 1 to CHAIN_MAX, each handed back in one nbdx_complete. */
static void complete_in_chains(struct ram *r, struct nbdx_req **v,
			       unsigned n)
{
	unsigned i = 0;

	while (i < n) {
		unsigned len = 1 + (unsigned)rand_r(&r->seed) % CHAIN_MAX;

		if (len > n - i)
			len = n - i;
		for (unsigned k = 0; k + 1 < len; k++)
			v[i + k]->next = v[i + k + 1];
		v[i + len - 1]->next = NULL;
		nbdx_complete(v[i]);
		i += len;
	}
}

static void *worker(void *arg)
{
	struct ram *r = arg;
	struct nbdx_req *v[BATCH_MAX];
	unsigned n;

	while ((n = take(r, v))) {
		shuffle(r, v, n);
		for (unsigned i = 0; i < n; i++)
			finish(r, v[i]);
		complete_in_chains(r, v, n);
	}
	return NULL;
}

/* ---- exports ---- */

static void print_stats(const char *name, struct nbdx_export *e)
{
	struct nbdx_stats st;

	nbdx_export_stats(e, &st);
	fprintf(stderr,
		"nbdx_ram: stats %s conns=%llu total=%llu reads=%llu "
		"writes=%llu flushes=%llu trims=%llu zeroes=%llu "
		"bytes_read=%llu bytes_written=%llu errors=%llu cut_off=%llu\n",
		name, (unsigned long long)st.conns,
		(unsigned long long)st.conns_total,
		(unsigned long long)st.reads, (unsigned long long)st.writes,
		(unsigned long long)st.flushes, (unsigned long long)st.trims,
		(unsigned long long)st.zeroes,
		(unsigned long long)st.bytes_read,
		(unsigned long long)st.bytes_written,
		(unsigned long long)st.errors, (unsigned long long)st.cut_off);
}

/* On the server thread; the export is valid until this returns. */
static void released(void *disk)
{
	struct rdisk *d = disk;

	pthread_mutex_lock(&d->ram->lock);
	print_stats(d->name, d->exp);
	d->exp = NULL;
	pthread_mutex_unlock(&d->ram->lock);
	fprintf(stderr, "nbdx_ram: released %s\n", d->name);
}

static void print_all(struct ram *r)
{
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < 2; i++)
		if (disks[i].exp)
			print_stats(disks[i].name, disks[i].exp);
	fprintf(stderr, "nbdx_ram: ram done=%llu injected=%llu dry=%llu\n",
		(unsigned long long)atomic_load(&r->done),
		(unsigned long long)atomic_load(&r->injected),
		(unsigned long long)r->dry);
	pthread_mutex_unlock(&r->lock);
}

static const struct nbdx_disk_ops ops = {
	.buf_get = buf_get, .buf_put = buf_put, .submit = submit,
	.released = released,
};

static int add_exports(struct nbdx *s, struct ram *r)
{
	struct nbdx_export_cfg c = {
		.name = "disk", .desc = "RAM disk", .size = r->size,
		.block_size = 512, .max_payload = MAX_PAYLOAD,
		.can_trim = true, .can_zero = true, .ops = &ops,
		.disk = &disks[0],
	};
	int rc = nbdx_add(s, &c, &disks[0].exp);

	c.name = "ro";
	c.desc = "RAM disk, read-only";
	c.read_only = true;
	c.disk = &disks[1];
	if (!rc)
		rc = nbdx_add(s, &c, &disks[1].exp);
	/* A name in use is refused. */
	if (!rc && nbdx_add(s, &c, &(struct nbdx_export *){NULL}) != -EEXIST)
		rc = -EPROTO;
	return rc;
}

/* ---- removal from another thread ---- */

/* Under the lock released takes: the export cannot be freed meanwhile
 * (a stop may be releasing it). nbdx_remove does not wait for the
 * server thread, so holding the lock is safe. */
static void *remover(void *arg)
{
	unsigned ms = *(unsigned *)arg;

	usleep(ms * 1000u);
	pthread_mutex_lock(&ram.lock);
	if (disks[0].exp) {
		fprintf(stderr, "nbdx_ram: removing disk\n");
		nbdx_remove(disks[0].exp);
	}
	pthread_mutex_unlock(&ram.lock);
	return NULL;
}

/* ---- main ---- */

static bool num(const char *s, unsigned *v)
{
	char *end;
	unsigned long n = strtoul(s, &end, 10);

	*v = (unsigned)n;
	return *s && !*end && n <= 1000000;
}

static bool parse(int argc, char **argv, struct opts *o)
{
	static const char *const names[] = {"--tcp", "--mib", "--bufs",
					    "--eio", "--remove-after",
					    "--max-conns"};
	unsigned *dst[] = {&o->tcp, &o->mib, &o->bufs, &o->eio, &o->remove_ms,
			   &o->max_conns};
	int i = 2;

	if (argc < 2)
		return false;
	o->path = argv[1];
	for (; i + 1 < argc; i += 2) {
		unsigned k = 0;

		while (k < 6 && strcmp(argv[i], names[k]))
			k++;
		if (k == 6 || !num(argv[i + 1], dst[k]))
			return false;
	}
	return i == argc && o->mib && o->bufs && o->eio <= 100 &&
	       o->tcp < 65536;
}

static int ram_init(struct ram *r, const struct opts *o)
{
	r->size = (uint64_t)o->mib << 20;
	r->mem = calloc(1, r->size);
	r->cap = o->bufs;
	r->pool = calloc(o->bufs, sizeof(*r->pool));
	r->eio = o->eio;
	r->seed = (unsigned)time(NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (!r->mem || !r->pool)
		return -ENOMEM;
	return -pthread_create(&r->worker, NULL, worker, r);
}

/* Every buffer must be back in the pool once nbdx stopped. */
static int ram_fini(struct ram *r)
{
	int rc = r->nfree == r->made ? 0 : 1;

	if (rc)
		fprintf(stderr, "nbdx_ram: %u of %u buffers not given back\n",
			r->made - r->nfree, r->made);
	pthread_mutex_lock(&r->lock);
	r->quit = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->worker, NULL);
	while (r->nfree)
		free(r->pool[--r->nfree]);
	free(r->pool);
	free(r->mem);
	return rc;
}

static void serve(struct nbdx *s, const sigset_t *set)
{
	int sig;

	fprintf(stderr, "nbdx_ram: serving\n");
	while (!sigwait(set, &sig) && sig == SIGUSR1)
		print_all(&ram);
	print_all(&ram);
	nbdx_stop(s);
	fprintf(stderr, "nbdx_ram: stopped\n");
}

static int run(const struct opts *o, const sigset_t *set)
{
	struct nbdx_cfg cfg = {.unix_path = o->path,
			       .tcp_port = (uint16_t)o->tcp,
			       .max_conns = o->max_conns};
	struct nbdx *s;
	pthread_t rm;
	char err[256];
	int rc = ram_init(&ram, o);

	if (!rc && (rc = nbdx_start(&s, &cfg, err, sizeof(err))))
		fprintf(stderr, "nbdx_ram: %s\n", err);
	else if (!rc && (rc = add_exports(s, &ram)))
		nbdx_stop(s);
	else if (!rc && o->remove_ms &&
		 !pthread_create(&rm, NULL, remover, (void *)&o->remove_ms))
		pthread_detach(rm);
	if (!rc)
		serve(s, set);
	return ram_fini(&ram) || rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = {.mib = 128, .bufs = 64};
	sigset_t set;

	if (!parse(argc, argv, &o)) {
		fprintf(stderr, "usage: nbdx_ram SOCKET [--tcp PORT] [--mib N] "
				"[--bufs N] [--eio PCT] [--remove-after MS] "
				"[--max-conns N]\n");
		return 2;
	}
	/* Blocked in every thread; main takes them with sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return run(&o, &set);
}
