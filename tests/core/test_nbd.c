/* NBD server engine (core/nbd): the handshake fed in fragments of every
 * size, EXPORT_NAME with and without zeroes, INFO and GO with each
 * information item, LIST, ABORT, every option and request refusal with
 * its reply, WRITE payload split across feeds and taken by the embedder,
 * completions out of order, the in-flight limit, DISC, shutdown and end
 * of stream. A small simulated embedder answers the engine's events the
 * way a socket loop would and records everything sent to the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nbd/nbd_server.h"

#define MiB (1u << 20)
#define OUT_CAP (1u << 18)

/* ---- the client's bytes ---- */

struct stream {
	uint8_t b[1u << 17];
	size_t n;
};

static struct stream *stream_new(void)
{
	struct stream *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	return st;
}

static void put(struct stream *st, const void *p, size_t n)
{
	assert_true(st->n + n <= sizeof(st->b));
	if (n)
		memcpy(st->b + st->n, p, n);
	st->n += n;
}

static void put16(struct stream *st, uint16_t v)
{
	uint8_t b[2];

	vmb_put_be16(b, v);
	put(st, b, 2);
}

static void put32(struct stream *st, uint32_t v)
{
	uint8_t b[4];

	vmb_put_be32(b, v);
	put(st, b, 4);
}

static void put64(struct stream *st, uint64_t v)
{
	uint8_t b[8];

	vmb_put_be64(b, v);
	put(st, b, 8);
}

static void opt(struct stream *st, uint32_t option, const void *data,
		uint32_t len)
{
	put64(st, NBD_IHAVEOPT);
	put32(st, option);
	put32(st, len);
	put(st, data, len);
}

/* INFO or GO for name, asking for the n items in infos. */
static void go(struct stream *st, uint32_t option, const char *name,
	       const uint16_t *infos, uint16_t n)
{
	uint32_t nlen = (uint32_t)strlen(name);

	put64(st, NBD_IHAVEOPT);
	put32(st, option);
	put32(st, NBD_GO_FIXED + nlen + 2u * n);
	put32(st, nlen);
	put(st, name, nlen);
	put16(st, n);
	for (uint16_t i = 0; i < n; i++)
		put16(st, infos[i]);
}

static void req(struct stream *st, uint16_t type, uint16_t flags,
		uint64_t cookie, uint64_t offset, uint32_t len)
{
	put32(st, NBD_REQUEST_MAGIC);
	put16(st, flags);
	put16(st, type);
	put64(st, cookie);
	put64(st, offset);
	put32(st, len);
}

/* ---- the simulated embedder ---- */

struct exp_entry {
	const char *name;
	struct nbd_export e;
};

static const struct exp_entry exports[] = {
	{"disk0", {.size = 1 * MiB,
		   .flags = NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
			    NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
			    NBD_FLAG_SEND_FAST_ZERO | NBD_FLAG_CAN_MULTI_CONN,
		   .desc = "scsi0 lun 0", .desc_len = 11}},
	{"ro", {.size = 64 * 1024, .flags = NBD_FLAG_READ_ONLY}},
	{"aligned", {.size = 8192, .min_block = 512, .pref_block = 4096,
		     .max_payload = 4096, .name = "canonical",
		     .name_len = 9}},
	{"", {.size = 4096}}, /* the default export */
};

struct sim {
	struct nbd_srv s;
	size_t chunk;          /* bytes offered per call; 0: all */
	uint8_t out[OUT_CAP];  /* everything sent to the client */
	size_t out_len;
	struct nbd_req reqs[64]; /* accepted, not yet replied */
	unsigned nreq;
	uint8_t wdata[1u << 16]; /* WRITE payload taken */
	size_t wlen;
	unsigned n_ev[NBD_EV_CLOSE + 1];
	struct nbd_ev last; /* the last event (CLOSE: the close) */
	enum nbd_reqerr why; /* of the last NBD_EV_REPLY */
	bool stop_full;     /* return on NBD_EV_FULL */
};

static struct sim *sim_new(size_t chunk, uint32_t max_inflight)
{
	struct sim *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	assert_int_equal(nbd_srv_init(&m->s, max_inflight), VMB_OK);
	m->chunk = chunk;
	return m;
}

static void sent(struct sim *m, const void *p, size_t n)
{
	assert_true(m->out_len + n <= sizeof(m->out));
	memcpy(m->out + m->out_len, p, n);
	m->out_len += n;
}

static const struct nbd_export *find(const char *name, uint32_t len)
{
	for (size_t i = 0; i < VMB_ARRAY_LEN(exports); i++)
		if (strlen(exports[i].name) == len &&
		    !memcmp(exports[i].name, name, len))
			return &exports[i].e;
	return NULL;
}

static void on_list(struct sim *m, uint32_t i)
{
	if (i < VMB_ARRAY_LEN(exports)) {
		const struct exp_entry *x = &exports[i];

		assert_int_equal(nbd_srv_list_entry(&m->s, x->name,
						    (uint32_t)strlen(x->name),
						    x->e.desc, x->e.desc_len),
				 VMB_OK);
	} else {
		assert_int_equal(nbd_srv_list_end(&m->s), VMB_OK);
	}
}

/* Takes WRITE payload from in (up to the chunk size). */
static size_t on_payload(struct sim *m, const struct nbd_ev *ev,
			 const uint8_t *in, size_t avail)
{
	size_t n = ev->left < avail ? (size_t)ev->left : avail;

	if (m->chunk && n > m->chunk)
		n = m->chunk;
	assert_true(m->wlen + n <= sizeof(m->wdata));
	memcpy(m->wdata + m->wlen, in, n);
	m->wlen += n;
	assert_int_equal(nbd_srv_payload(&m->s, n), VMB_OK);
	return n;
}

/* Acts on one event; false when the run must end there. */
static bool on_event(struct sim *m, const struct nbd_ev *ev)
{
	const uint8_t *p;
	size_t n;

	switch (ev->kind) {
	case NBD_EV_SEND:
		p = nbd_srv_out(&m->s, &n);
		sent(m, p, n);
		nbd_srv_out_done(&m->s, n);
		return true;
	case NBD_EV_EXPORT:
		nbd_srv_export(&m->s, find(ev->name, ev->name_len));
		return true;
	case NBD_EV_LIST:
		on_list(m, ev->index);
		return true;
	case NBD_EV_REQUEST:
		assert_true(m->nreq < VMB_ARRAY_LEN(m->reqs));
		m->reqs[m->nreq++] = ev->req;
		return true;
	case NBD_EV_REPLY:
		m->why = ev->why;
		sent(m, ev->reply, sizeof(ev->reply));
		return true;
	case NBD_EV_FULL:
		return !m->stop_full;
	case NBD_EV_CLOSE:
		return false;
	default:
		return true;
	}
}

/* Feeds in[0..len) in chunks, acting on every event; returns the bytes
 * the engine and the embedder took. */
static size_t run(struct sim *m, const uint8_t *in, size_t len)
{
	size_t pos = 0;
	struct nbd_ev ev;

	for (;;) {
		size_t n = len - pos;

		if (m->chunk && n > m->chunk)
			n = m->chunk;
		pos += nbd_srv_input(&m->s, in + pos, n, &ev);
		m->n_ev[ev.kind]++;
		m->last = ev;
		if (ev.kind == NBD_EV_PAYLOAD) {
			if (pos == len)
				return pos;
			pos += on_payload(m, &ev, in + pos, len - pos);
		} else if (ev.kind == NBD_EV_NONE) {
			if (pos == len)
				return pos;
		} else if (!on_event(m, &ev)) {
			return pos;
		}
	}
}

static size_t run_stream(struct sim *m, const struct stream *st)
{
	return run(m, st->b, st->n);
}

/* The greeting and client flags every session starts with. */
static void hello(struct stream *st, uint32_t cflags)
{
	put32(st, cflags);
}

static const uint8_t greeting[18] = {'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
				     'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',
				     0, 3};

/* ---- reading what the client got ---- */

struct rep {
	uint32_t opt;
	uint32_t type;
	uint32_t len;
	const uint8_t *data;
};

/* The option reply at *off in the output; advances *off. */
static struct rep rep_at(const struct sim *m, size_t *off)
{
	const uint8_t *p = m->out + *off;
	struct rep r;

	assert_true(*off + 20 <= m->out_len);
	assert_true(vmb_be64(p) == NBD_REP_MAGIC);
	r.opt = vmb_be32(p + 8);
	r.type = vmb_be32(p + 12);
	r.len = vmb_be32(p + 16);
	r.data = p + 20;
	assert_true(*off + 20 + r.len <= m->out_len);
	*off += 20 + r.len;
	return r;
}

/* The simple reply at *off: its error; checks the cookie. */
static uint32_t reply_at(const struct sim *m, size_t *off, uint64_t cookie)
{
	const uint8_t *p = m->out + *off;

	assert_true(*off + 16 <= m->out_len);
	assert_int_equal(vmb_be32(p), NBD_SIMPLE_REPLY_MAGIC);
	assert_true(vmb_be64(p + 8) == cookie);
	*off += 16;
	return vmb_be32(p + 4);
}

/* A session in transmission on export name (GO, no items). */
static struct sim *xmit(const char *name, size_t chunk,
			uint32_t max_inflight)
{
	struct sim *m = sim_new(chunk, max_inflight);
	struct stream *st = stream_new();

	hello(st, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	go(st, NBD_OPT_GO, name, NULL, 0);
	assert_int_equal(run_stream(m, st), st->n);
	assert_int_equal(m->n_ev[NBD_EV_READY], 1);
	assert_int_equal(m->s.state, NBD_SRV_REQ_HDR);
	m->out_len = 0;
	free(st);
	return m;
}

/* Runs one request stream on a fresh session to name; the error of its
 * only reply (-1 if the request was handed over instead). */
static long one_request(const char *name, uint16_t type, uint16_t flags,
			uint64_t offset, uint32_t len, enum nbd_reqerr *why)
{
	struct sim *m = xmit(name, 0, 8);
	struct stream *st = stream_new();
	long err = -1;
	size_t off = 0;

	req(st, type, flags, 0x1122334455667788ull, offset, len);
	if (type == NBD_CMD_WRITE && len <= sizeof(st->b) - st->n - 28)
		st->n += len; /* zeros */
	req(st, NBD_CMD_READ, 0, 7, 0, 512); /* still framed after it */
	assert_int_equal(run_stream(m, st), st->n);
	if (m->n_ev[NBD_EV_REPLY]) {
		err = reply_at(m, &off, 0x1122334455667788ull);
		*why = m->why;
		assert_int_equal(m->s.st.req_err[*why], 1);
	}
	assert_int_equal(m->reqs[m->nreq - 1].cookie, 7);
	free(st);
	free(m);
	return err;
}

/* ---- tests ---- */

static void test_greeting(void **state)
{
	struct nbd_srv *s = calloc(1, sizeof(*s));
	size_t n;
	const uint8_t *p;

	(void)state;
	assert_int_equal(nbd_srv_init(s, 0), VMB_EINVAL);
	assert_int_equal(nbd_srv_init(s, 1), VMB_OK);
	p = nbd_srv_out(s, &n);
	assert_int_equal(n, sizeof(greeting));
	assert_memory_equal(p, greeting, n);
	nbd_srv_out_done(s, 5);
	p = nbd_srv_out(s, &n);
	assert_int_equal(n, sizeof(greeting) - 5);
	assert_memory_equal(p, greeting + 5, n);
	nbd_srv_out_done(s, 100);
	nbd_srv_out(s, &n);
	assert_int_equal(n, 0);
	free(s);
}

/* A whole session: GO with items, a READ, a split WRITE, FLUSH, DISC. */
static void session(struct stream *st)
{
	static const uint16_t infos[] = {NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME,
					 NBD_INFO_DESCRIPTION, 77};

	hello(st, NBD_FLAG_C_FIXED_NEWSTYLE);
	opt(st, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
	go(st, NBD_OPT_INFO, "disk0", infos, 4);
	go(st, NBD_OPT_GO, "disk0", infos, 4);
	req(st, NBD_CMD_READ, 0, 1, 4096, 4096);
	req(st, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 2, 512, 1000);
	for (int i = 0; i < 1000; i++)
		put(st, &(uint8_t){(uint8_t)i}, 1);
	req(st, NBD_CMD_FLUSH, 0, 3, 0, 0);
	req(st, NBD_CMD_DISC, 0, 4, 0, 0);
}

static void check_session(struct sim *m)
{
	size_t off = sizeof(greeting);
	struct rep r;

	assert_memory_equal(m->out, greeting, sizeof(greeting));
	r = rep_at(m, &off);
	assert_int_equal(r.type, NBD_REP_ERR_UNSUP);
	for (int pass = 0; pass < 2; pass++) {
		r = rep_at(m, &off); /* INFO_EXPORT */
		assert_int_equal(r.type, NBD_REP_INFO);
		assert_int_equal(r.len, 12);
		assert_int_equal(vmb_be16(r.data), NBD_INFO_EXPORT);
		assert_true(vmb_be64(r.data + 2) == 1 * MiB);
		assert_int_equal(vmb_be16(r.data + 10),
				 exports[0].e.flags | NBD_FLAG_HAS_FLAGS);
		r = rep_at(m, &off); /* INFO_NAME: the name asked for */
		assert_int_equal(r.len, 2 + 5);
		assert_memory_equal(r.data + 2, "disk0", 5);
		r = rep_at(m, &off);
		assert_int_equal(vmb_be16(r.data), NBD_INFO_DESCRIPTION);
		assert_memory_equal(r.data + 2, "scsi0 lun 0", 11);
		r = rep_at(m, &off);
		assert_int_equal(r.len, 14);
		assert_int_equal(vmb_be32(r.data + 2), 1);
		assert_int_equal(vmb_be32(r.data + 6), 4096);
		assert_int_equal(vmb_be32(r.data + 10), 32 * MiB);
		r = rep_at(m, &off);
		assert_int_equal(r.type, NBD_REP_ACK);
		assert_int_equal(r.opt, pass ? NBD_OPT_GO : NBD_OPT_INFO);
	}
	assert_int_equal(off, m->out_len);
	assert_int_equal(m->n_ev[NBD_EV_READY], 1);
	assert_int_equal(m->nreq, 3);
	assert_int_equal(m->reqs[0].type, NBD_CMD_READ);
	assert_true(m->reqs[0].offset == 4096);
	assert_int_equal(m->reqs[1].type, NBD_CMD_WRITE);
	assert_int_equal(m->reqs[1].flags, NBD_CMD_FLAG_FUA);
	assert_int_equal(m->wlen, 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(m->wdata[i], (uint8_t)i);
	assert_int_equal(m->reqs[2].type, NBD_CMD_FLUSH);
	assert_int_equal(m->last.kind, NBD_EV_CLOSE);
	assert_int_equal(m->last.close, NBD_CLOSE_DISC);
	assert_int_equal(m->last.inflight, 3);
}

static void test_fragments(void **state)
{
	struct stream *st = stream_new();

	(void)state;
	session(st);
	for (size_t chunk = 0; chunk <= st->n; chunk++) {
		struct sim *m = sim_new(chunk, 16);

		run_stream(m, st);
		check_session(m);
		free(m);
	}
	free(st);
}

static void export_name(uint32_t cflags, size_t reply_len)
{
	struct sim *m = sim_new(0, 4);
	struct stream *st = stream_new();
	const uint8_t *r;

	hello(st, cflags);
	opt(st, NBD_OPT_EXPORT_NAME, "ro", 2);
	req(st, NBD_CMD_READ, 0, 9, 0, 512);
	assert_int_equal(run_stream(m, st), st->n);
	assert_int_equal(m->out_len, sizeof(greeting) + reply_len);
	r = m->out + sizeof(greeting);
	assert_true(vmb_be64(r) == 64 * 1024);
	assert_int_equal(vmb_be16(r + 8),
			 NBD_FLAG_READ_ONLY | NBD_FLAG_HAS_FLAGS);
	for (size_t i = 10; i < reply_len; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(m->nreq, 1);
	free(st);
	free(m);
}

static void test_export_name(void **state)
{
	struct sim *m = sim_new(0, 4);
	struct stream *st = stream_new();

	(void)state;
	export_name(NBD_FLAG_C_FIXED_NEWSTYLE, 134);
	export_name(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, 10);
	export_name(0, 134); /* a non-fixed newstyle client */
	/* Unknown: no error reply exists, the session ends. */
	hello(st, 1);
	opt(st, NBD_OPT_EXPORT_NAME, "nope", 4);
	run_stream(m, st);
	assert_int_equal(m->last.kind, NBD_EV_CLOSE);
	assert_int_equal(m->last.close, NBD_CLOSE_UNKNOWN);
	assert_int_equal(m->out_len, sizeof(greeting));
	assert_int_equal(m->s.st.opt_err[NBD_OPTERR_UNKNOWN], 1);
	/* A closed engine takes nothing more. */
	assert_int_equal(run(m, (const uint8_t *)"x", 1), 0);
	free(st);
	free(m);
}

static void test_info_go(void **state)
{
	static const uint16_t name_only[] = {NBD_INFO_NAME};
	struct sim *m = sim_new(0, 4);
	struct stream *st = stream_new();
	size_t off = sizeof(greeting);
	struct rep r;

	(void)state;
	hello(st, 3);
	go(st, NBD_OPT_INFO, "nope", NULL, 0);
	go(st, NBD_OPT_GO, "aligned", name_only, 1);
	assert_int_equal(run_stream(m, st), st->n);
	r = rep_at(m, &off);
	assert_int_equal(r.type, NBD_REP_ERR_UNKNOWN);
	assert_memory_equal(r.data, "no such export", r.len);
	r = rep_at(m, &off);
	assert_int_equal(vmb_be16(r.data), NBD_INFO_EXPORT);
	r = rep_at(m, &off); /* the canonical name */
	assert_int_equal(vmb_be16(r.data), NBD_INFO_NAME);
	assert_int_equal(r.len, 2 + 9);
	assert_memory_equal(r.data + 2, "canonical", 9);
	r = rep_at(m, &off); /* block sizes, asked for or not */
	assert_int_equal(vmb_be32(r.data + 2), 512);
	assert_int_equal(vmb_be32(r.data + 6), 4096);
	assert_int_equal(vmb_be32(r.data + 10), 4096);
	r = rep_at(m, &off);
	assert_int_equal(r.type, NBD_REP_ACK);
	assert_int_equal(off, m->out_len);
	assert_int_equal(m->s.state, NBD_SRV_REQ_HDR);
	assert_int_equal(m->n_ev[NBD_EV_READY], 1);
	free(st);
	free(m);
}

static void test_default_export(void **state)
{
	struct sim *m = sim_new(1, 4);
	struct stream *st = stream_new();

	(void)state;
	hello(st, 3);
	go(st, NBD_OPT_GO, "", NULL, 0);
	run_stream(m, st);
	assert_true(m->s.exp.size == 4096);
	assert_int_equal(m->s.exp.min_block, 1);
	assert_int_equal(m->s.exp.max_payload, 32 * MiB);
	free(st);
	free(m);
}

/* Malformed INFO/GO data, each answered ERR_INVALID. */
static void test_info_invalid(void **state)
{
	struct sim *m = sim_new(0, 4);
	struct stream *st = stream_new();
	uint8_t d[32] = {0};
	size_t off = sizeof(greeting);

	(void)state;
	hello(st, 3);
	opt(st, NBD_OPT_GO, d, 5);           /* shorter than its fixed part */
	vmb_put_be32(d, 100);
	opt(st, NBD_OPT_GO, d, 10);          /* name past the data */
	vmb_put_be32(d, 2);
	memcpy(d + 4, "ab", 2);
	vmb_put_be16(d + 6, 2);
	opt(st, NBD_OPT_INFO, d, 10);        /* two requests, one sent */
	vmb_put_be16(d + 6, 0);
	opt(st, NBD_OPT_INFO, d, 9);         /* a stray byte */
	memcpy(d + 4, "a\0", 2);
	opt(st, NBD_OPT_GO, d, 8);           /* a NUL in the name */
	opt(st, NBD_OPT_LIST, d, 1);         /* LIST with data */
	assert_int_equal(run_stream(m, st), st->n);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rep_at(m, &off).type, NBD_REP_ERR_INVALID);
	assert_int_equal(off, m->out_len);
	assert_int_equal(m->s.st.opt_err[NBD_OPTERR_INVALID], 6);
	assert_int_equal(m->s.state, NBD_SRV_OPT_HDR);
	free(st);
	free(m);
}

static void test_list(void **state)
{
	struct sim *m = sim_new(3, 4);
	struct stream *st = stream_new();
	size_t off = sizeof(greeting);
	struct rep r;

	(void)state;
	hello(st, 3);
	opt(st, NBD_OPT_LIST, NULL, 0);
	opt(st, NBD_OPT_ABORT, NULL, 0);
	run_stream(m, st);
	for (size_t i = 0; i < VMB_ARRAY_LEN(exports); i++) {
		const struct exp_entry *x = &exports[i];
		uint32_t nlen = (uint32_t)strlen(x->name);

		r = rep_at(m, &off);
		assert_int_equal(r.opt, NBD_OPT_LIST);
		assert_int_equal(r.type, NBD_REP_SERVER);
		assert_int_equal(r.len, 4 + nlen + x->e.desc_len);
		assert_int_equal(vmb_be32(r.data), nlen);
		assert_memory_equal(r.data + 4, x->name, nlen);
		assert_memory_equal(r.data + 4 + nlen, x->e.desc,
				    x->e.desc_len);
	}
	assert_int_equal(rep_at(m, &off).type, NBD_REP_ACK);
	r = rep_at(m, &off);
	assert_int_equal(r.opt, NBD_OPT_ABORT);
	assert_int_equal(r.type, NBD_REP_ACK);
	assert_int_equal(off, m->out_len);
	assert_int_equal(m->last.kind, NBD_EV_CLOSE);
	assert_int_equal(m->last.close, NBD_CLOSE_ABORT);
	free(st);
	free(m);
}

static void test_list_misuse(void **state)
{
	struct nbd_srv *s = calloc(1, sizeof(*s));
	char big[NBD_STRING_MAX + 1];
	struct nbd_ev ev;
	uint8_t in[20];
	size_t n;

	(void)state;
	memset(big, 'a', sizeof(big));
	nbd_srv_init(s, 1);
	assert_int_equal(nbd_srv_list_entry(s, "a", 1, NULL, 0), VMB_EBUSY);
	assert_int_equal(nbd_srv_list_end(s), VMB_EBUSY);
	assert_int_equal(nbd_srv_export(s, NULL), VMB_EBUSY);
	nbd_srv_out_done(s, 18);
	vmb_put_be32(in, 1);
	vmb_put_be64(in + 4, NBD_IHAVEOPT);
	vmb_put_be32(in + 12, NBD_OPT_LIST);
	vmb_put_be32(in + 16, 0);
	assert_int_equal(nbd_srv_input(s, in, 20, &ev), 20);
	assert_int_equal(ev.kind, NBD_EV_LIST);
	assert_int_equal(nbd_srv_list_entry(s, big, sizeof(big), NULL, 0),
			 VMB_EINVAL);
	assert_int_equal(nbd_srv_list_entry(s, "a\0b", 3, NULL, 0),
			 VMB_EINVAL);
	assert_int_equal(nbd_srv_list_entry(s, NULL, 2, NULL, 0), VMB_EINVAL);
	/* Entries may be given ahead of the events while they fit. */
	while (nbd_srv_list_entry(s, big, NBD_STRING_MAX, NULL, 0) == VMB_OK)
		;
	nbd_srv_out(s, &n);
	assert_true(n <= NBD_SRV_OUT_MAX);
	assert_int_equal(s->index, NBD_SRV_OUT_MAX / (24 + NBD_STRING_MAX));
	free(s);
}

static void test_refused_options(void **state)
{
	struct sim *m = sim_new(7, 4);
	struct stream *st = stream_new();
	static uint8_t big[NBD_OPT_DATA_MAX + 1];
	static const uint32_t unsup[] = {
		NBD_OPT_STARTTLS, NBD_OPT_STRUCTURED_REPLY,
		NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT,
		NBD_OPT_EXTENDED_HEADERS, 4, 0, 0xffffffffu};
	size_t off = sizeof(greeting);
	struct rep r;

	(void)state;
	hello(st, 3);
	for (size_t i = 0; i < VMB_ARRAY_LEN(unsup); i++)
		opt(st, unsup[i], "xy", i & 1 ? 2 : 0);
	opt(st, NBD_OPT_GO, big, sizeof(big)); /* skipped whole */
	go(st, NBD_OPT_GO, "disk0", NULL, 0);
	run_stream(m, st);
	for (size_t i = 0; i < VMB_ARRAY_LEN(unsup); i++) {
		r = rep_at(m, &off);
		assert_int_equal(r.opt, unsup[i]);
		assert_int_equal(r.type, NBD_REP_ERR_UNSUP);
	}
	r = rep_at(m, &off);
	assert_int_equal(r.type, NBD_REP_ERR_TOO_BIG);
	assert_int_equal(m->s.st.opt_err[NBD_OPTERR_UNSUP],
			 VMB_ARRAY_LEN(unsup));
	assert_int_equal(m->s.st.opt_err[NBD_OPTERR_TOO_BIG], 1);
	assert_int_equal(m->n_ev[NBD_EV_READY], 1);
	free(st);
	free(m);
}

/* Input that cannot be answered ends the session, counted by reason. */
static void fatal(const struct stream *st, enum nbd_fatal why)
{
	struct sim *m = sim_new(0, 4);

	run_stream(m, st);
	assert_int_equal(m->last.kind, NBD_EV_CLOSE);
	assert_int_equal(m->last.close, NBD_CLOSE_PROTOCOL);
	assert_int_equal(m->last.fatal, why);
	assert_int_equal(m->s.st.fatal[why], 1);
	free(m);
}

static void test_fatal(void **state)
{
	static uint8_t big[NBD_STRING_MAX + 1];
	struct stream *st = stream_new();

	(void)state;
	hello(st, 4);
	fatal(st, NBD_FATAL_CLIENT_FLAGS);
	st->n = 0;
	hello(st, 3);
	put64(st, NBD_IHAVEOPT + 1);
	put64(st, 0);
	fatal(st, NBD_FATAL_OPT_MAGIC);
	st->n = 0;
	hello(st, 3);
	opt(st, NBD_OPT_EXPORT_NAME, big, sizeof(big));
	fatal(st, NBD_FATAL_EXPORT_NAME);
	st->n = 0;
	hello(st, 3);
	opt(st, NBD_OPT_EXPORT_NAME, "ro\0", 3);
	fatal(st, NBD_FATAL_EXPORT_NAME);
	st->n = 0;
	hello(st, 3);
	go(st, NBD_OPT_GO, "ro", NULL, 0);
	put32(st, NBD_EXTENDED_REQUEST_MAGIC);
	put(st, big, 28);
	fatal(st, NBD_FATAL_REQ_MAGIC);
	free(st);
}

static void test_request_refusals(void **state)
{
	enum nbd_reqerr why = NBD_REQERR__COUNT;

	(void)state;
	/* Commands not offered: unknown, CACHE, BLOCK_STATUS, and FLUSH,
	 * TRIM, WRITE_ZEROES on an export without their flags. */
	assert_int_equal(one_request("disk0", 99, 0, 0, 512, &why), NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_TYPE);
	assert_int_equal(one_request("disk0", NBD_CMD_CACHE, 0, 0, 512, &why),
			 NBD_EINVAL);
	assert_int_equal(one_request("disk0", NBD_CMD_BLOCK_STATUS, 0, 0, 512,
				     &why), NBD_EINVAL);
	assert_int_equal(one_request("ro", NBD_CMD_FLUSH, 0, 0, 0, &why),
			 NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_TYPE);
	assert_int_equal(one_request("", NBD_CMD_TRIM, 0, 0, 512, &why),
			 NBD_EINVAL);
	assert_int_equal(one_request("", NBD_CMD_WRITE_ZEROES, 0, 0, 512, &why),
			 NBD_EINVAL);
	/* Flags: DF without structured replies, FUA without SEND_FUA,
	 * NO_HOLE off WRITE_ZEROES, FAST_ZERO not advertised, unknown. */
	assert_int_equal(one_request("disk0", NBD_CMD_READ, NBD_CMD_FLAG_DF, 0,
				     512, &why), NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_FLAGS);
	assert_int_equal(one_request("ro", NBD_CMD_READ, NBD_CMD_FLAG_FUA, 0,
				     512, &why), NBD_EINVAL);
	assert_int_equal(one_request("disk0", NBD_CMD_WRITE,
				     NBD_CMD_FLAG_NO_HOLE, 0, 512, &why),
			 NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_FLAGS);
	assert_int_equal(one_request("disk0", NBD_CMD_READ, 0x8000, 0, 512,
				     &why), NBD_EINVAL);
	/* Writes to a read-only export. */
	assert_int_equal(one_request("ro", NBD_CMD_WRITE, 0, 0, 512, &why),
			 NBD_EPERM);
	assert_int_equal(why, NBD_REQERR_READ_ONLY);
	/* Lengths: zero, FLUSH with a range, over the payload cap (the
	 * refused WRITE's payload is dropped: the READ after it is found). */
	assert_int_equal(one_request("disk0", NBD_CMD_READ, 0, 0, 0, &why),
			 NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_LENGTH);
	assert_int_equal(one_request("disk0", NBD_CMD_FLUSH, 0, 0, 1, &why),
			 NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_LENGTH);
	assert_int_equal(one_request("aligned", NBD_CMD_WRITE, 0, 0, 8192,
				     &why), NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_TOO_BIG);
	assert_int_equal(one_request("aligned", NBD_CMD_READ, 0, 0, 4097, &why),
			 NBD_EINVAL);
	/* Alignment to the minimum block. */
	assert_int_equal(one_request("aligned", NBD_CMD_READ, 0, 1, 512, &why),
			 NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_ALIGN);
	assert_int_equal(one_request("aligned", NBD_CMD_WRITE, 0, 0, 100, &why),
			 NBD_EINVAL);
	/* Range: reads EINVAL, writes ENOSPC, offset + length wrapping. */
	assert_int_equal(one_request("disk0", NBD_CMD_READ, 0, MiB - 511, 512,
				     &why), NBD_EINVAL);
	assert_int_equal(why, NBD_REQERR_RANGE);
	assert_int_equal(one_request("disk0", NBD_CMD_WRITE, 0, MiB, 1, &why),
			 NBD_ENOSPC);
	assert_int_equal(one_request("disk0", NBD_CMD_WRITE_ZEROES, 0,
				     UINT64_MAX - 10, 512, &why), NBD_ENOSPC);
	assert_int_equal(one_request("disk0", NBD_CMD_TRIM, 0, MiB + 1, 0x10,
				     &why), NBD_EINVAL);
}

static void test_request_accepted(void **state)
{
	enum nbd_reqerr why;

	(void)state;
	/* The last byte; FUA everywhere once SEND_FUA is offered; the
	 * WRITE_ZEROES flags; TRIM and WRITE_ZEROES past the payload cap. */
	assert_int_equal(one_request("disk0", NBD_CMD_READ, 0, MiB - 1, 1, &why),
			 -1);
	assert_int_equal(one_request("disk0", NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA,
				     0, 0, &why), -1);
	assert_int_equal(one_request("disk0", NBD_CMD_WRITE_ZEROES,
				     NBD_CMD_FLAG_NO_HOLE |
				     NBD_CMD_FLAG_FAST_ZERO |
				     NBD_CMD_FLAG_FUA, 0, MiB, &why), -1);
	assert_int_equal(one_request("aligned", NBD_CMD_READ, 0, 4096, 4096,
				     &why), -1);
	assert_int_equal(one_request("ro", NBD_CMD_READ, 0, 0, 64 * 1024,
				     &why), -1);
}

/* WRITE payload in pieces: the embedder takes part of it, the engine
 * waits for the rest, and misuse of nbd_srv_payload() is refused. */
static void test_payload(void **state)
{
	struct sim *m = xmit("disk0", 0, 4);
	struct stream *st = stream_new();
	struct nbd_ev ev;
	size_t used;

	(void)state;
	assert_int_equal(nbd_srv_payload(&m->s, 1), VMB_EINVAL);
	req(st, NBD_CMD_WRITE, 0, 5, 0, 100);
	for (int i = 0; i < 100; i++)
		put(st, &(uint8_t){(uint8_t)(i + 1)}, 1);
	req(st, NBD_CMD_READ, 0, 6, 0, 100);
	used = nbd_srv_input(&m->s, st->b, st->n, &ev);
	assert_int_equal(used, 28);
	assert_int_equal(ev.kind, NBD_EV_REQUEST);
	assert_int_equal(ev.req.len, 100);
	/* Nothing is read past the header while payload is owed. */
	assert_int_equal(nbd_srv_input(&m->s, st->b + 28, 50, &ev), 0);
	assert_int_equal(ev.kind, NBD_EV_PAYLOAD);
	assert_true(ev.left == 100);
	assert_true(ev.req.cookie == 5);
	assert_int_equal(nbd_srv_payload(&m->s, 101), VMB_EINVAL);
	assert_int_equal(nbd_srv_payload(&m->s, 40), VMB_OK);
	nbd_srv_input(&m->s, NULL, 0, &ev);
	assert_true(ev.left == 60);
	assert_int_equal(nbd_srv_payload(&m->s, 60), VMB_OK);
	used = nbd_srv_input(&m->s, st->b + 128, st->n - 128, &ev);
	assert_int_equal(used, 28);
	assert_int_equal(ev.kind, NBD_EV_REQUEST);
	assert_true(ev.req.cookie == 6);
	free(st);
	free(m);
}

/* Replies in any order, each header for its own cookie; the in-flight
 * limit holds input back until a reply frees a place. */
static void test_out_of_order(void **state)
{
	struct sim *m = xmit("disk0", 0, 3);
	struct stream *st = stream_new();
	uint8_t hdr[16];
	size_t used;

	(void)state;
	m->stop_full = true;
	for (uint64_t i = 0; i < 4; i++)
		req(st, NBD_CMD_READ, 0, 100 + i, i * 512, 512 * (1 + i));
	used = run_stream(m, st);
	assert_int_equal(used, 3 * 28);
	assert_int_equal(m->last.kind, NBD_EV_FULL);
	assert_int_equal(m->s.inflight, 3);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[2], 0, hdr), 1536);
	assert_int_equal(vmb_be32(hdr), NBD_SIMPLE_REPLY_MAGIC);
	assert_int_equal(vmb_be32(hdr + 4), 0);
	assert_true(vmb_be64(hdr + 8) == 102);
	assert_int_equal(run(m, st->b + used, st->n - used), 28);
	assert_int_equal(m->nreq, 4);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[0], NBD_EIO, hdr), 0);
	assert_int_equal(vmb_be32(hdr + 4), NBD_EIO);
	assert_true(vmb_be64(hdr + 8) == 100);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[3], 0, hdr), 2048);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[1], 3, hdr), VMB_EINVAL);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[1], 0, hdr), 1024);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[1], 0, hdr), VMB_EINVAL);
	assert_int_equal(m->s.st.replies, 4);
	assert_int_equal(m->s.st.replies_err, 1);
	assert_true(m->s.st.bytes_read == 1536 + 2048 + 1024);
	assert_int_equal(m->s.st.cmds[NBD_CLS_READ], 4);
	free(st);
	free(m);
}

/* DISC with requests in flight: their replies still go out, nothing
 * after DISC is read. */
static void test_disc(void **state)
{
	struct sim *m = xmit("disk0", 1, 4);
	struct stream *st = stream_new();
	uint8_t hdr[16];
	size_t used;

	(void)state;
	req(st, NBD_CMD_WRITE, 0, 1, 0, 4);
	put32(st, 0xdeadbeef);
	req(st, NBD_CMD_DISC, 0, 2, 0, 0);
	req(st, NBD_CMD_READ, 0, 3, 0, 4);
	used = run_stream(m, st);
	assert_int_equal(used, 28 + 4 + 28);
	assert_int_equal(m->last.close, NBD_CLOSE_DISC);
	assert_int_equal(m->last.inflight, 1);
	assert_int_equal(nbd_srv_reply(&m->s, &m->reqs[0], 0, hdr), 0);
	assert_true(m->s.st.bytes_written == 4);
	run(m, (const uint8_t *)"", 0);
	assert_int_equal(m->last.kind, NBD_EV_CLOSE);
	assert_int_equal(m->last.inflight, 0);
	assert_int_equal(nbd_srv_eof(&m->s), VMB_OK);
	free(st);
	free(m);
}

static void test_shutdown(void **state)
{
	struct sim *m = sim_new(0, 4);
	struct stream *st = stream_new();
	size_t off = sizeof(greeting);

	(void)state;
	nbd_srv_shutdown(&m->s);
	hello(st, 3);
	opt(st, NBD_OPT_LIST, NULL, 0);
	opt(st, NBD_OPT_ABORT, NULL, 0);
	run_stream(m, st);
	assert_int_equal(rep_at(m, &off).type, NBD_REP_ERR_SHUTDOWN);
	assert_int_equal(rep_at(m, &off).type, NBD_REP_ACK);
	assert_int_equal(m->last.close, NBD_CLOSE_ABORT);
	free(m);
	m = sim_new(0, 4);
	nbd_srv_shutdown(&m->s);
	st->n = 0;
	hello(st, 3);
	opt(st, NBD_OPT_EXPORT_NAME, "ro", 2);
	run_stream(m, st);
	assert_int_equal(m->last.close, NBD_CLOSE_SHUTDOWN);
	free(m);
	/* In transmission: ESHUTDOWN, a WRITE's payload dropped. */
	m = xmit("disk0", 0, 4);
	nbd_srv_shutdown(&m->s);
	st->n = 0;
	off = 0;
	req(st, NBD_CMD_WRITE, 0, 8, 0, 16);
	st->n += 16;
	req(st, NBD_CMD_READ, 0, 9, 0, 16);
	assert_int_equal(run_stream(m, st), st->n);
	assert_int_equal(reply_at(m, &off, 8), NBD_ESHUTDOWN);
	assert_int_equal(reply_at(m, &off, 9), NBD_ESHUTDOWN);
	assert_int_equal(m->s.st.req_err[NBD_REQERR_SHUTDOWN], 2);
	free(st);
	free(m);
}

static void test_eof(void **state)
{
	struct sim *m = sim_new(0, 4);
	struct nbd_ev ev;
	static const uint8_t half[] = {0, 0};

	(void)state;
	nbd_srv_out_done(&m->s, 18);
	assert_int_equal(nbd_srv_eof(&m->s), VMB_OK);
	assert_int_equal(nbd_srv_input(&m->s, half, 2, &ev), 0);
	assert_int_equal(ev.close, NBD_CLOSE_EOF);
	free(m);
	m = sim_new(0, 4);
	nbd_srv_out_done(&m->s, 18);
	assert_int_equal(nbd_srv_input(&m->s, half, 2, &ev), 2);
	assert_int_equal(nbd_srv_eof(&m->s), VMB_EPROTO);
	assert_int_equal(m->s.st.fatal[NBD_FATAL_TRUNCATED], 1);
	free(m);
	m = xmit("disk0", 0, 4);
	nbd_srv_input(&m->s, NULL, 0, &ev);
	assert_int_equal(ev.kind, NBD_EV_NONE);
	assert_int_equal(nbd_srv_eof(&m->s), VMB_OK);
	free(m);
}

/* An answer breaking the rules of struct nbd_export is taken as "no such
 * export". */
static void bad_export(const struct nbd_export *e)
{
	struct nbd_srv *s = calloc(1, sizeof(*s));
	uint8_t in[4 + 16 + 6] = {0, 0, 0, 3};
	struct nbd_ev ev;
	size_t n;
	const uint8_t *p;

	nbd_srv_init(s, 1);
	nbd_srv_out_done(s, 18);
	vmb_put_be64(in + 4, NBD_IHAVEOPT);
	vmb_put_be32(in + 12, NBD_OPT_GO);
	vmb_put_be32(in + 16, 6);
	assert_int_equal(nbd_srv_input(s, in, sizeof(in), &ev), sizeof(in));
	assert_int_equal(ev.kind, NBD_EV_EXPORT);
	assert_int_equal(ev.name_len, 0);
	assert_true(ev.go);
	assert_int_equal(nbd_srv_export(s, e), VMB_EINVAL);
	p = nbd_srv_out(s, &n);
	assert_int_equal(vmb_be32(p + 12), NBD_REP_ERR_UNKNOWN);
	free(s);
}

static void test_bad_export(void **state)
{
	static const char nul[] = "a\0b";
	struct nbd_export e = {.size = 4096};

	(void)state;
	e.flags = NBD_FLAG_SEND_DF;
	bad_export(&e);
	e.flags = NBD_FLAG_SEND_FAST_ZERO;
	bad_export(&e);
	e.flags = 0;
	e.min_block = 3, e.pref_block = 4096, e.max_payload = 4096;
	bad_export(&e);
	e.min_block = 128 * 1024, e.pref_block = 128 * 1024;
	bad_export(&e);
	e.min_block = 512, e.pref_block = 256, e.max_payload = 4096;
	bad_export(&e);
	e.pref_block = 4096, e.max_payload = 2048;
	bad_export(&e);
	e.max_payload = 64 * MiB;
	bad_export(&e);
	e.max_payload = 4096;
	e.name = nul, e.name_len = 3;
	bad_export(&e);
	e.name = NULL, e.name_len = 1;
	bad_export(&e);
	e.name_len = 0;
	e.desc_len = NBD_STRING_MAX + 1, e.desc = nul;
	bad_export(&e);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(nbd_cls_name(NBD_CLS_WRITE_ZEROES), "write-zeroes");
	assert_string_equal(nbd_cls_name(NBD_CLS__COUNT), "?");
	assert_string_equal(nbd_opterr_name(NBD_OPTERR_TOO_BIG), "too-big");
	assert_string_equal(nbd_opterr_name(NBD_OPTERR__COUNT), "?");
	assert_string_equal(nbd_reqerr_name(NBD_REQERR_RANGE), "range");
	assert_string_equal(nbd_reqerr_name(NBD_REQERR__COUNT), "?");
	assert_string_equal(nbd_fatal_name(NBD_FATAL_REQ_MAGIC),
			    "request-magic");
	assert_string_equal(nbd_fatal_name(NBD_FATAL__COUNT), "?");
	for (int i = 0; i < NBD_REQERR__COUNT; i++)
		assert_string_not_equal(nbd_reqerr_name(i), "?");
	for (int i = 0; i < NBD_OPTERR__COUNT; i++)
		assert_string_not_equal(nbd_opterr_name(i), "?");
	for (int i = 0; i < NBD_FATAL__COUNT; i++)
		assert_string_not_equal(nbd_fatal_name(i), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_fragments),
		cmocka_unit_test(test_export_name),
		cmocka_unit_test(test_info_go),
		cmocka_unit_test(test_default_export),
		cmocka_unit_test(test_info_invalid),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_list_misuse),
		cmocka_unit_test(test_refused_options),
		cmocka_unit_test(test_fatal),
		cmocka_unit_test(test_request_refusals),
		cmocka_unit_test(test_request_accepted),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_disc),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_bad_export),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
