/* Fuzz the NBD server engine (core/nbd/nbd_server.h) as a socket loop
 * drives it: the client's stream in chunks of a chosen size, every event
 * answered (exports found, unknown or described wrongly; LIST entries;
 * WRITE payload taken in pieces; requests completed in a pseudo-random
 * order with pseudo-random errors). The embedder's side of the contract
 * is kept, so every call must succeed, and what the engine does must
 * hold:
 * - input is taken only up to an event; NBD_EV_NONE means all of it;
 * - handshake output is whole messages: the greeting, option replies
 *   (magic, length inside what was sent), or the EXPORT_NAME answer;
 * - every request handed over is one the export offers, with allowed
 *   flags, a non-zero aligned length inside the export and under the
 *   payload cap, never a write to a read-only export;
 * - refusals carry a defined error; the in-flight count matches.
 *
 * Input: [0] chunk size (0: all at once), [1] settings (bits below),
 * [2..3] export flags (little-endian), [4] export size in 4 KiB units
 * (0: 1 MiB), [5..6] pseudo-random seed, [7] reserved, then the
 * client's stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/nbd_server.h"

#define HDR 8
#define MAX_INFLIGHT 16

enum {
	F_BLOCKS = 0x01,   /* min 512, pref 4096, max 64 KiB */
	F_SHUTDOWN = 0x02, /* shut down after the first lookup or request */
	F_LIST3 = 0x04,    /* three exports listed, else one */
	F_SMALL_Q = 0x08,  /* max_inflight 2 */
};

struct fz {
	struct nbd_srv s;
	uint8_t settings;
	size_t chunk;
	struct nbd_export exp;
	uint32_t rng;
	struct nbd_req q[MAX_INFLIGHT];
	uint32_t nq;
	bool sent_any;
	bool in_xmit;
};

static uint32_t rnd(struct fz *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 17;
	f->rng ^= f->rng << 5;
	return f->rng;
}

static void check_out(struct fz *f, const uint8_t *p, size_t n)
{
	size_t off = 0;

	if (!f->sent_any) {
		if (n < 18 || memcmp(p, "NBDMAGICIHAVEOPT", 16))
			abort();
		off = 18;
		f->sent_any = true;
	}
	while (off < n) {
		size_t left = n - off;

		if (left >= 20 && vmb_be64(p + off) == NBD_REP_MAGIC) {
			off += 20 + (size_t)vmb_be32(p + off + 16);
			continue;
		}
		/* The EXPORT_NAME answer, alone and last. */
		if ((left != 10 && left != 134) || vmb_be64(p + off) != f->exp.size)
			abort();
		off = n;
	}
	if (off != n || n > NBD_SRV_OUT_MAX)
		abort();
}

static void send_out(struct fz *f)
{
	size_t n;
	const uint8_t *p = nbd_srv_out(&f->s, &n);

	if (!n)
		abort();
	check_out(f, p, n);
	/* Sent in two parts, as a short write would leave it. */
	nbd_srv_out_done(&f->s, n / 2);
	nbd_srv_out_done(&f->s, n);
}

static void on_export(struct fz *f, const struct nbd_ev *ev)
{
	struct nbd_export bad = f->exp;

	if (ev->name_len && ev->name[0] == 'x') {
		if (nbd_srv_export(&f->s, NULL) != VMB_OK)
			abort();
		return;
	}
	if (ev->name_len && ev->name[0] == 'y') {
		bad.flags = NBD_FLAG_SEND_DF;
		if (nbd_srv_export(&f->s, &bad) != VMB_EINVAL)
			abort();
		return;
	}
	if (nbd_srv_export(&f->s, &f->exp) != VMB_OK)
		abort();
	if (f->settings & F_SHUTDOWN)
		nbd_srv_shutdown(&f->s);
}

static void on_list(struct fz *f, uint32_t i)
{
	static const char *const names[] = {"disk0", "", "scsi1-lun63"};
	uint32_t n = (f->settings & F_LIST3) ? 3 : 1;

	if (nbd_srv_list_entry(&f->s, "a\0", 2, NULL, 0) != VMB_EINVAL)
		abort();
	if (i >= n) {
		if (nbd_srv_list_end(&f->s) != VMB_OK)
			abort();
		return;
	}
	if (nbd_srv_list_entry(&f->s, names[i], (uint32_t)strlen(names[i]),
			       "desc", i) != VMB_OK)
		abort();
}

/* Flags the request may carry on this export. */
static uint16_t allowed(uint16_t ef, uint16_t type)
{
	uint16_t ok = (ef & NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;

	if (type == NBD_CMD_WRITE_ZEROES)
		ok |= NBD_CMD_FLAG_NO_HOLE |
		      ((ef & NBD_FLAG_SEND_FAST_ZERO) ? NBD_CMD_FLAG_FAST_ZERO
						      : 0);
	return ok;
}

static void check_req(const struct fz *f, const struct nbd_req *r)
{
	const struct nbd_srv_export *x = &f->s.exp;
	bool rw = r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE;

	if (!f->in_xmit || (r->flags & ~allowed(x->flags, r->type)))
		abort();
	if (r->type == NBD_CMD_FLUSH) {
		if (r->offset || r->len || !(x->flags & NBD_FLAG_SEND_FLUSH))
			abort();
		return;
	}
	if (r->type != NBD_CMD_READ && (x->flags & NBD_FLAG_READ_ONLY))
		abort();
	if (!r->len || (rw && r->len > x->max_payload) ||
	    (r->offset | r->len) % x->min_block ||
	    r->offset + r->len > x->size || r->offset + r->len < r->offset)
		abort();
	if ((r->type == NBD_CMD_TRIM && !(x->flags & NBD_FLAG_SEND_TRIM)) ||
	    (r->type == NBD_CMD_WRITE_ZEROES &&
	     !(x->flags & NBD_FLAG_SEND_WRITE_ZEROES)) ||
	    r->type > NBD_CMD_WRITE_ZEROES || r->type == NBD_CMD_DISC ||
	    r->type == NBD_CMD_CACHE)
		abort();
}

static void complete_one(struct fz *f)
{
	static const uint32_t errs[] = {0, 0, 0, NBD_EIO, NBD_ENOSPC,
					NBD_EPERM, NBD_ESHUTDOWN};
	uint32_t i = rnd(f) % f->nq;
	uint32_t err = errs[rnd(f) % VMB_ARRAY_LEN(errs)];
	uint8_t hdr[16];
	int n = nbd_srv_reply(&f->s, &f->q[i], err, hdr);
	int want = !err && f->q[i].type == NBD_CMD_READ ? (int)f->q[i].len : 0;

	if (n != want || vmb_be32(hdr) != NBD_SIMPLE_REPLY_MAGIC ||
	    vmb_be32(hdr + 4) != err)
		abort();
	f->q[i] = f->q[--f->nq];
	if (f->s.inflight != f->nq)
		abort();
}

static void on_request(struct fz *f, const struct nbd_ev *ev)
{
	check_req(f, &ev->req);
	if (f->nq >= MAX_INFLIGHT || f->s.inflight != f->nq + 1)
		abort();
	f->q[f->nq++] = ev->req;
	if (f->settings & F_SHUTDOWN)
		nbd_srv_shutdown(&f->s);
	if (rnd(f) & 1)
		complete_one(f);
}

static void on_reply(const struct nbd_ev *ev)
{
	uint32_t err = vmb_be32(ev->reply + 4);

	if (vmb_be32(ev->reply) != NBD_SIMPLE_REPLY_MAGIC ||
	    (err != NBD_EINVAL && err != NBD_EPERM && err != NBD_ENOSPC &&
	     err != NBD_ESHUTDOWN) ||
	    (unsigned)ev->why >= NBD_REQERR__COUNT)
		abort();
}

/* Acts on one event; false when the session is over. */
static bool on_event(struct fz *f, const struct nbd_ev *ev)
{
	switch (ev->kind) {
	case NBD_EV_SEND:
		send_out(f);
		break;
	case NBD_EV_EXPORT:
		on_export(f, ev);
		break;
	case NBD_EV_LIST:
		on_list(f, ev->index);
		break;
	case NBD_EV_READY:
		f->in_xmit = true;
		break;
	case NBD_EV_REQUEST:
		on_request(f, ev);
		break;
	case NBD_EV_REPLY:
		on_reply(ev);
		break;
	case NBD_EV_FULL:
		if (!f->nq)
			abort();
		complete_one(f);
		break;
	case NBD_EV_CLOSE:
		while (f->nq)
			complete_one(f);
		return false;
	default:
		abort();
	}
	return true;
}

/* Takes WRITE payload as the embedder would; 0 when the stream ended. */
static size_t take_payload(struct fz *f, const struct nbd_ev *ev,
			   size_t avail)
{
	size_t n = ev->left < avail ? (size_t)ev->left : avail;

	if (n > f->chunk)
		n = f->chunk;
	if (n && nbd_srv_payload(&f->s, n) != VMB_OK)
		abort();
	return n;
}

static void run(struct fz *f, const uint8_t *in, size_t len)
{
	size_t pos = 0;
	struct nbd_ev ev;

	for (unsigned guard = 0; guard < 1u << 20; guard++) {
		size_t n = len - pos < f->chunk ? len - pos : f->chunk;
		size_t used = nbd_srv_input(&f->s, in + pos, n, &ev);

		if (used > n || (ev.kind == NBD_EV_NONE && used != n))
			abort();
		pos += used;
		if (ev.kind == NBD_EV_PAYLOAD) {
			size_t t = take_payload(f, &ev, len - pos);

			if (!t)
				return;
			pos += t;
		} else if (ev.kind == NBD_EV_NONE) {
			if (pos == len)
				return;
		} else if (!on_event(f, &ev)) {
			return;
		}
	}
	abort();
}

static void setup(struct fz *f, const uint8_t *in)
{
	f->settings = in[1];
	f->chunk = in[0] ? in[0] : SIZE_MAX;
	f->exp.flags = (uint16_t)(in[2] | in[3] << 8) & NBD_SRV_EXPORT_FLAGS;
	if (!(f->exp.flags & NBD_FLAG_SEND_WRITE_ZEROES))
		f->exp.flags &= (uint16_t)~NBD_FLAG_SEND_FAST_ZERO;
	f->exp.size = in[4] ? (uint64_t)in[4] << 12 : 1u << 20;
	if (f->settings & F_BLOCKS) {
		f->exp.min_block = 512;
		f->exp.pref_block = 4096;
		f->exp.max_payload = 64 * 1024;
	}
	f->exp.desc = "fuzz";
	f->exp.desc_len = 4;
	f->rng = (uint32_t)(in[5] | in[6] << 8) | 1u << 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct fz *f;

	if (size < HDR)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	setup(f, in);
	if (nbd_srv_init(&f->s, (f->settings & F_SMALL_Q) ? 2 : MAX_INFLIGHT))
		abort();
	run(f, in + HDR, size - HDR);
	while (f->nq)
		complete_one(f);
	if (f->s.state != NBD_SRV_CLOSED && f->s.state != NBD_SRV_DISC &&
	    nbd_srv_eof(&f->s) != VMB_OK && !f->s.st.fatal[NBD_FATAL_TRUNCATED])
		abort();
	free(f);
	return 0;
}
