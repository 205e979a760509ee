/* NBD transmission phase: each request header checked against the export
 * in use and the flags it advertised, then handed to the embedder or
 * refused with the error the protocol names ("Error values" and
 * "Request types" in doc/proto.md); WRITE payload accounting; simple
 * reply headers. */
#include "nbd_priv.h"

enum { REQ_OK = -1 };

static bool cmd_offered(uint16_t eflags, uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
		return true;
	case NBD_CMD_FLUSH:
		return eflags & NBD_FLAG_SEND_FLUSH;
	case NBD_CMD_TRIM:
		return eflags & NBD_FLAG_SEND_TRIM;
	case NBD_CMD_WRITE_ZEROES:
		return eflags & NBD_FLAG_SEND_WRITE_ZEROES;
	default:
		return false; /* CACHE, BLOCK_STATUS, unknown: EINVAL */
	}
}

/* Command flags valid for type ("Command flags"): FUA on every command
 * once SEND_FUA is advertised (the server MUST accept it, even if only
 * to ignore it); NO_HOLE with WRITE_ZEROES; FAST_ZERO with it when
 * advertised. DF and REQ_ONE need structured replies. */
static uint16_t cmd_flags(uint16_t eflags, uint16_t type)
{
	uint16_t ok = (eflags & NBD_FLAG_SEND_FUA) ? NBD_CMD_FLAG_FUA : 0;

	if (type == NBD_CMD_WRITE_ZEROES) {
		ok |= NBD_CMD_FLAG_NO_HOLE;
		if (eflags & NBD_FLAG_SEND_FAST_ZERO)
			ok |= NBD_CMD_FLAG_FAST_ZERO;
	}
	return ok;
}

static bool cmd_writes(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
	       type == NBD_CMD_WRITE_ZEROES;
}

static enum nbd_cls cmd_cls(uint16_t type)
{
	switch (type) {
	case NBD_CMD_READ:
		return NBD_CLS_READ;
	case NBD_CMD_WRITE:
		return NBD_CLS_WRITE;
	case NBD_CMD_FLUSH:
		return NBD_CLS_FLUSH;
	case NBD_CMD_TRIM:
		return NBD_CLS_TRIM;
	default:
		return NBD_CLS_WRITE_ZEROES;
	}
}

/* Length, payload cap, alignment to the minimum block and range ("Size
 * constraints"). A zero length is unspecified by the protocol (the
 * server SHOULD NOT disconnect): refused with EINVAL. */
static int check_range(const struct nbd_srv *s, const struct nbd_req *r)
{
	const struct nbd_srv_export *x = &s->exp;

	if (!r->len)
		return NBD_REQERR_LENGTH;
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) &&
	    r->len > x->max_payload)
		return NBD_REQERR_TOO_BIG;
	if ((r->offset | r->len) & (x->min_block - 1u))
		return NBD_REQERR_ALIGN;
	if (r->offset > x->size || r->len > x->size - r->offset)
		return NBD_REQERR_RANGE;
	return REQ_OK;
}

/* REQ_OK or the enum nbd_reqerr the request is refused for. */
static int check(const struct nbd_srv *s, const struct nbd_req *r)
{
	uint16_t ef = s->exp.flags;

	if (s->shutdown)
		return NBD_REQERR_SHUTDOWN;
	if (!cmd_offered(ef, r->type))
		return NBD_REQERR_TYPE;
	if (r->flags & ~cmd_flags(ef, r->type))
		return NBD_REQERR_FLAGS;
	if ((ef & NBD_FLAG_READ_ONLY) && cmd_writes(r->type))
		return NBD_REQERR_READ_ONLY;
	/* FLUSH: offset and length are reserved, MUST be zero. */
	if (r->type == NBD_CMD_FLUSH)
		return r->offset || r->len ? NBD_REQERR_LENGTH : REQ_OK;
	return check_range(s, r);
}

/* The error a refusal carries: ENOSPC for writes past the end, EPERM for
 * writes to a read-only export, ESHUTDOWN while shutting down ("Error
 * values", "Terminating the transmission phase"), else EINVAL. */
static uint32_t refusal_errno(enum nbd_reqerr why, uint16_t type)
{
	switch (why) {
	case NBD_REQERR_RANGE:
		return type == NBD_CMD_WRITE || type == NBD_CMD_WRITE_ZEROES
			       ? NBD_ENOSPC : NBD_EINVAL;
	case NBD_REQERR_READ_ONLY:
		return NBD_EPERM;
	case NBD_REQERR_SHUTDOWN:
		return NBD_ESHUTDOWN;
	default:
		return NBD_EINVAL;
	}
}

static void put_reply(uint8_t *hdr, uint32_t err, uint64_t cookie)
{
	struct nbd_simple_reply *r = (struct nbd_simple_reply *)hdr;

	vmb_put_be32(r->magic, NBD_SIMPLE_REPLY_MAGIC);
	vmb_put_be32(r->error, err);
	vmb_put_be64(r->cookie, cookie);
}

/* A refused WRITE's payload still follows in the stream: it is read and
 * dropped so that the next request header is found. */
static void refuse(struct nbd_srv *s, const struct nbd_req *r,
		   enum nbd_reqerr why, struct nbd_ev *ev)
{
	s->st.req_err[why]++;
	ev->kind = NBD_EV_REPLY;
	ev->why = why;
	ev->req = *r;
	put_reply(ev->reply, refusal_errno(why, r->type), r->cookie);
	if (r->type == NBD_CMD_WRITE && r->len) {
		s->left = r->len;
		s->state = NBD_SRV_DISCARD;
	}
}

static void hand_over(struct nbd_srv *s, const struct nbd_req *r,
		   struct nbd_ev *ev)
{
	s->inflight++;
	s->st.cmds[cmd_cls(r->type)]++;
	ev->kind = NBD_EV_REQUEST;
	ev->req = *r;
	if (r->type == NBD_CMD_WRITE) {
		s->wreq = *r;
		s->left = r->len;
		s->state = NBD_SRV_PAYLOAD;
	}
}

/* DISC: the server MUST handle the requests in flight, then close; no
 * reply. Offset and length MUST be zero: counted if not, the client is
 * leaving either way. */
static void disc(struct nbd_srv *s, const struct nbd_req *r)
{
	if (r->offset || r->len)
		s->st.req_err[NBD_REQERR_LENGTH]++;
	s->close = NBD_CLOSE_DISC;
	s->state = NBD_SRV_DISC;
}

void nbd_req_header(struct nbd_srv *s, struct nbd_ev *ev)
{
	const struct nbd_request *h = (const struct nbd_request *)s->hdr;
	struct nbd_req r;
	int why;

	/* A request without its magic cannot be framed: the stream is
	 * lost (the extended-header magic included, never negotiated). */
	if (vmb_be32(h->magic) != NBD_REQUEST_MAGIC) {
		nbd_fatal_close(s, NBD_FATAL_REQ_MAGIC);
		return;
	}
	r.flags = vmb_be16(h->flags);
	r.type = vmb_be16(h->type);
	r.cookie = vmb_be64(h->cookie);
	r.offset = vmb_be64(h->offset);
	r.len = vmb_be32(h->length);
	if (r.type == NBD_CMD_DISC) {
		disc(s, &r);
		return;
	}
	why = check(s, &r);
	if (why == REQ_OK)
		hand_over(s, &r, ev);
	else
		refuse(s, &r, (enum nbd_reqerr)why, ev);
}

int nbd_srv_payload(struct nbd_srv *s, uint64_t n)
{
	if (s->state != NBD_SRV_PAYLOAD || n > s->left)
		return VMB_EINVAL;
	s->left -= n;
	if (!s->left)
		s->state = NBD_SRV_REQ_HDR;
	return VMB_OK;
}

static bool errno_ok(uint32_t err)
{
	switch (err) {
	case 0:
	case NBD_EPERM:
	case NBD_EIO:
	case NBD_ENOMEM:
	case NBD_EINVAL:
	case NBD_ENOSPC:
	case NBD_EOVERFLOW:
	case NBD_ENOTSUP:
	case NBD_ESHUTDOWN:
		return true;
	default:
		return false;
	}
}

int nbd_srv_reply(struct nbd_srv *s, const struct nbd_req *req,
		  uint32_t err, uint8_t hdr[sizeof(struct nbd_simple_reply)])
{
	bool is_read = req->type == NBD_CMD_READ;

	if (!s->inflight || !errno_ok(err) ||
	    (is_read && req->len > NBD_SRV_MAX_PAYLOAD))
		return VMB_EINVAL;
	s->inflight--;
	s->st.replies++;
	put_reply(hdr, err, req->cookie);
	if (err) {
		s->st.replies_err++;
		return 0;
	}
	if (is_read) {
		s->st.bytes_read += req->len;
		return (int)req->len;
	}
	if (req->type == NBD_CMD_WRITE)
		s->st.bytes_written += req->len;
	return 0;
}
