/* An NBD client (libnbd) for servers that take requests at any byte:
 * CONNS connections write, at once, chunks of 1 to 1200 bytes that tile
 * [OFFSET, OFFSET + SIZE) without overlapping, so that neighbours on
 * different connections share blocks (and some chunks are whole aligned
 * blocks, some WRITE_ZEROES). Every byte has one writer, so the result
 * is known whatever the order; a server whose read-modify-write of a
 * shared block is not serialised loses a neighbour's bytes. Each round
 * reads the range back (aligned, then 300 reads at random offsets and
 * lengths crossing block edges) and compares.
 *
 * Prints "ok: W writes, Z zeroes, R reads" and exits 0, or says what
 * differs (the first offset) or failed and exits 1; 2 for bad usage.
 *
 * Usage: nbd_overlap URI OFFSET SIZE CONNS ROUNDS */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#define MAX_CONNS 16
#define CHUNK_MAX 1200u
#define READS 300u
#define PIECE (256u << 10)

struct chunk {
	uint64_t off;       /* from the range's start */
	uint32_t len;
	bool zero;
};

struct conn {
	struct nbd_handle *h;
	const struct chunk **mine;
	unsigned n;
	const uint8_t *exp;
	uint64_t base;
	pthread_barrier_t *go;
	int failed;         /* commands that completed with an error */
};

static struct chunk *chunks;
static unsigned nchunks, nwrites, nzeroes, nreads;

static int done_cb(void *user, int *error)
{
	if (*error)
		(*(int *)user)++;
	return 1; /* retired: nothing asks for it later */
}

static int64_t issue(struct conn *c, const struct chunk *k)
{
	nbd_completion_callback cb = {.callback = done_cb,
				      .user_data = &c->failed};

	if (k->zero)
		return nbd_aio_zero(c->h, k->len, c->base + k->off, cb, 0);
	return nbd_aio_pwrite(c->h, c->exp + k->off, k->len, c->base + k->off,
			      cb, 0);
}

/* All of this connection's chunks sent at once, then its replies. */
static void *writer(void *arg)
{
	struct conn *c = arg;

	pthread_barrier_wait(c->go);
	for (unsigned i = 0; i < c->n; i++)
		if (issue(c, c->mine[i]) < 0)
			c->failed++;
	while (nbd_aio_in_flight(c->h) > 0)
		if (nbd_poll(c->h, -1) < 0) {
			c->failed++;
			break;
		}
	return NULL;
}

/* Chunks tiling [0, size), each with its bytes in exp: a pattern of
 * the round, or zeros. One in 8 that starts on a block is whole
 * blocks, so aligned writes meet read-modify-writes. */
static void plan(uint8_t *exp, uint64_t size, unsigned round)
{
	uint64_t pos = 0;

	nchunks = 0;
	while (pos < size) {
		struct chunk *k = &chunks[nchunks];
		uint32_t len = 1 + (uint32_t)rand() % CHUNK_MAX;

		if (pos % 512 == 0 && rand() % 8 == 0)
			len = 512u * (1 + (uint32_t)rand() % 4);
		if (len > size - pos)
			len = (uint32_t)(size - pos);
		*k = (struct chunk){pos, len, rand() % 6 == 0};
		memset(exp + pos, k->zero ? 0 : (int)(1 + (nchunks + round) % 255),
		       len);
		nwrites += !k->zero;
		nzeroes += k->zero;
		pos += len;
		nchunks++;
	}
}

static int write_round(struct conn *c, unsigned nc)
{
	pthread_barrier_t go;
	pthread_t t[MAX_CONNS];
	int failed = 0;

	pthread_barrier_init(&go, NULL, nc);
	for (unsigned i = 0; i < nc; i++) {
		c[i].n = 0;
		c[i].go = &go;
		c[i].failed = 0;
	}
	for (unsigned j = 0; j < nchunks; j++)
		c[j % nc].mine[c[j % nc].n++] = &chunks[j];
	for (unsigned i = 0; i < nc; i++)
		pthread_create(&t[i], NULL, writer, &c[i]);
	for (unsigned i = 0; i < nc; i++) {
		pthread_join(t[i], NULL);
		failed += c[i].failed;
	}
	pthread_barrier_destroy(&go);
	return failed;
}

static int compare(const uint8_t *got, const uint8_t *exp, uint64_t off,
		   uint64_t len, uint64_t base)
{
	for (uint64_t i = 0; i < len; i++) {
		if (got[i] != exp[off + i]) {
			fprintf(stderr,
				"nbd_overlap: byte %" PRIu64 " is 0x%02x, "
				"not 0x%02x\n", base + off + i, got[i],
				exp[off + i]);
			return -1;
		}
	}
	return 0;
}

static int read_check(struct nbd_handle *h, uint8_t *buf, const uint8_t *exp,
		      uint64_t base, uint64_t off, uint64_t len)
{
	nreads++;
	if (nbd_pread(h, buf, len, base + off, 0) < 0) {
		fprintf(stderr, "nbd_overlap: read: %s\n", nbd_get_error());
		return -1;
	}
	return compare(buf, exp, off, len, base);
}

/* The whole range in pieces, then reads at any byte. */
static int verify(struct nbd_handle *h, const uint8_t *exp, uint64_t base,
		  uint64_t size)
{
	static uint8_t buf[PIECE];

	for (uint64_t off = 0; off < size; off += PIECE) {
		uint64_t n = size - off < PIECE ? size - off : PIECE;

		if (read_check(h, buf, exp, base, off, n))
			return -1;
	}
	for (unsigned i = 0; i < READS; i++) {
		uint64_t off = (uint64_t)rand() % size;
		uint64_t n = 1 + (uint64_t)rand() % 5000;

		if (n > size - off)
			n = size - off;
		if (read_check(h, buf, exp, base, off, n))
			return -1;
	}
	return 0;
}

static int connect_all(struct conn *c, unsigned nc, const char *uri)
{
	for (unsigned i = 0; i < nc; i++) {
		c[i].h = nbd_create();
		if (!c[i].h || nbd_connect_uri(c[i].h, uri) < 0) {
			fprintf(stderr, "nbd_overlap: %s\n", nbd_get_error());
			return -1;
		}
	}
	return 0;
}

static int run(struct conn *c, unsigned nc, uint8_t *exp, uint64_t size,
	       unsigned rounds)
{
	for (unsigned r = 0; r < rounds; r++) {
		int failed;

		plan(exp, size, r);
		failed = write_round(c, nc);
		if (failed) {
			fprintf(stderr, "nbd_overlap: %d commands failed\n",
				failed);
			return -1;
		}
		if (verify(c[r % nc].h, exp, c[0].base, size))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct conn c[MAX_CONNS] = {0};
	uint64_t base, size;
	unsigned nc, rounds;
	uint8_t *exp;
	int rc = 1;

	if (argc != 6)
		goto usage;
	base = strtoull(argv[2], NULL, 0);
	size = strtoull(argv[3], NULL, 0);
	nc = (unsigned)atoi(argv[4]);
	rounds = (unsigned)atoi(argv[5]);
	if (!size || size > (4u << 20) || !nc || nc > MAX_CONNS || !rounds)
		goto usage;
	srand(12345);
	exp = malloc(size);
	chunks = calloc(size, sizeof(*chunks));
	for (unsigned i = 0; i < nc; i++) {
		c[i].mine = calloc(size, sizeof(*c[i].mine));
		c[i].exp = exp;
		c[i].base = base;
	}
	if (exp && chunks && !connect_all(c, nc, argv[1]) &&
	    !run(c, nc, exp, size, rounds)) {
		printf("ok: %u writes, %u zeroes, %u reads\n", nwrites,
		       nzeroes, nreads);
		rc = 0;
	}
	for (unsigned i = 0; i < nc; i++) {
		if (c[i].h)
			nbd_shutdown(c[i].h, 0);
		nbd_close(c[i].h);
		free(c[i].mine);
	}
	free(chunks);
	free(exp);
	return rc;
usage:
	fprintf(stderr, "usage: nbd_overlap URI OFFSET SIZE CONNS ROUNDS\n");
	return 2;
}
