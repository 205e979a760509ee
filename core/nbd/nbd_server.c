/* NBD server engine: the connection's life, output, and the input loop
 * that splits the client's stream into headers and option data whatever
 * its fragmentation. Options are handled in nbd_opt.c, requests in
 * nbd_xmit.c. */
#include "nbd_priv.h"

_Static_assert(NBD_SRV_OUT_MAX >= sizeof(struct nbd_opt_reply) +
				   sizeof(struct nbd_rep_server) +
				   2 * NBD_STRING_MAX,
	       "an NBD_REP_SERVER with name and description fits");
_Static_assert(NBD_SRV_OUT_MAX >= sizeof(struct nbd_export_name_reply),
	       "the EXPORT_NAME answer fits");
_Static_assert(NBD_OPT_DATA_MAX >= NBD_STRING_MAX,
	       "every EXPORT_NAME a client may send is kept");

/* ---- names ---- */

static const char *const cls_names[NBD_CLS__COUNT] = {
	[NBD_CLS_READ] = "read",
	[NBD_CLS_WRITE] = "write",
	[NBD_CLS_FLUSH] = "flush",
	[NBD_CLS_TRIM] = "trim",
	[NBD_CLS_WRITE_ZEROES] = "write-zeroes",
};

static const char *const opterr_names[NBD_OPTERR__COUNT] = {
	[NBD_OPTERR_UNSUP] = "unsupported",
	[NBD_OPTERR_INVALID] = "invalid",
	[NBD_OPTERR_TOO_BIG] = "too-big",
	[NBD_OPTERR_UNKNOWN] = "unknown-export",
	[NBD_OPTERR_SHUTDOWN] = "shutdown",
};

static const char *const reqerr_names[NBD_REQERR__COUNT] = {
	[NBD_REQERR_TYPE] = "command",
	[NBD_REQERR_FLAGS] = "flags",
	[NBD_REQERR_READ_ONLY] = "read-only",
	[NBD_REQERR_LENGTH] = "length",
	[NBD_REQERR_TOO_BIG] = "too-big",
	[NBD_REQERR_ALIGN] = "alignment",
	[NBD_REQERR_RANGE] = "range",
	[NBD_REQERR_SHUTDOWN] = "shutdown",
};

static const char *const fatal_names[NBD_FATAL__COUNT] = {
	[NBD_FATAL_CLIENT_FLAGS] = "client-flags",
	[NBD_FATAL_OPT_MAGIC] = "option-magic",
	[NBD_FATAL_EXPORT_NAME] = "export-name",
	[NBD_FATAL_REQ_MAGIC] = "request-magic",
	[NBD_FATAL_TRUNCATED] = "truncated",
};

const char *nbd_cls_name(enum nbd_cls c)
{
	return (unsigned)c < NBD_CLS__COUNT ? cls_names[c] : "?";
}

const char *nbd_opterr_name(enum nbd_opterr e)
{
	return (unsigned)e < NBD_OPTERR__COUNT ? opterr_names[e] : "?";
}

const char *nbd_reqerr_name(enum nbd_reqerr e)
{
	return (unsigned)e < NBD_REQERR__COUNT ? reqerr_names[e] : "?";
}

const char *nbd_fatal_name(enum nbd_fatal f)
{
	return (unsigned)f < NBD_FATAL__COUNT ? fatal_names[f] : "?";
}

/* ---- life ---- */

int nbd_srv_init(struct nbd_srv *s, uint32_t max_inflight)
{
	struct nbd_greeting *g;

	if (!s || !max_inflight)
		return VMB_EINVAL;
	vmb_memset(s, 0, sizeof(*s));
	s->state = NBD_SRV_CLIENT_FLAGS;
	s->max_inflight = max_inflight;
	g = (struct nbd_greeting *)nbd_out_reserve(s, sizeof(*g));
	vmb_put_be64(g->magic, NBD_MAGIC);
	vmb_put_be64(g->ihaveopt, NBD_IHAVEOPT);
	vmb_put_be16(g->flags, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	return VMB_OK;
}

void nbd_close_now(struct nbd_srv *s, enum nbd_close why)
{
	s->state = NBD_SRV_CLOSED;
	s->close = why;
	s->out_off = s->out_len = 0;
}

void nbd_fatal_close(struct nbd_srv *s, enum nbd_fatal why)
{
	s->st.fatal[why]++;
	s->fatal = why;
	nbd_close_now(s, NBD_CLOSE_PROTOCOL);
}

void nbd_srv_shutdown(struct nbd_srv *s)
{
	s->shutdown = true;
}

/* Inside a message: part of a header or of data the stream still owes. */
static bool mid_message(const struct nbd_srv *s)
{
	switch (s->state) {
	case NBD_SRV_OPT_DATA:
	case NBD_SRV_OPT_SKIP:
	case NBD_SRV_PAYLOAD:
	case NBD_SRV_DISCARD:
		return true;
	case NBD_SRV_CLIENT_FLAGS:
	case NBD_SRV_OPT_HDR:
	case NBD_SRV_REQ_HDR:
		return s->have != 0;
	default:
		return false;
	}
}

int nbd_srv_eof(struct nbd_srv *s)
{
	bool cut = mid_message(s);

	if (cut)
		nbd_fatal_close(s, NBD_FATAL_TRUNCATED);
	else if (s->state != NBD_SRV_CLOSED)
		nbd_close_now(s, NBD_CLOSE_EOF);
	return cut ? VMB_EPROTO : VMB_OK;
}

/* ---- output ---- */

uint8_t *nbd_out_reserve(struct nbd_srv *s, uint32_t n)
{
	uint8_t *p = s->out + s->out_len;

	s->out_len += n;
	return p;
}

uint32_t nbd_out_room(const struct nbd_srv *s)
{
	return (uint32_t)sizeof(s->out) - s->out_len;
}

const uint8_t *nbd_srv_out(const struct nbd_srv *s, size_t *len)
{
	*len = s->out_len - s->out_off;
	return s->out + s->out_off;
}

void nbd_srv_out_done(struct nbd_srv *s, size_t n)
{
	if (n >= s->out_len - s->out_off) {
		s->out_off = s->out_len = 0;
		return;
	}
	s->out_off += (uint32_t)n;
}

bool nbd_has_nul(const void *p, uint32_t n)
{
	const uint8_t *b = p;

	for (uint32_t i = 0; i < n; i++)
		if (!b[i])
			return true;
	return false;
}

/* ---- input ---- */

static void ev_close(const struct nbd_srv *s, struct nbd_ev *ev)
{
	ev->kind = NBD_EV_CLOSE;
	ev->close = s->close;
	ev->fatal = s->fatal;
	ev->inflight = s->inflight;
}

/* The event of a state that waits for the embedder, if any. */
static bool waiting(struct nbd_srv *s, struct nbd_ev *ev)
{
	switch (s->state) {
	case NBD_SRV_LOOKUP:
		ev->kind = NBD_EV_EXPORT;
		ev->name = (const char *)s->opt_buf + s->name_off;
		ev->name_len = s->name_len;
		ev->go = s->opt != NBD_OPT_INFO;
		return true;
	case NBD_SRV_LIST:
		ev->kind = NBD_EV_LIST;
		ev->index = s->index;
		return true;
	case NBD_SRV_PAYLOAD:
		ev->kind = NBD_EV_PAYLOAD;
		ev->req = s->wreq;
		ev->left = s->left;
		return true;
	case NBD_SRV_REQ_HDR:
		if (s->have || s->inflight < s->max_inflight)
			return false;
		ev->kind = NBD_EV_FULL;
		return true;
	default:
		return false;
	}
}

/* Whether input must wait; ev says for what. Output goes first, so a
 * closing ABORT or the start of transmission are reported only once
 * the client has been sent every reply before them. */
static bool stopped(struct nbd_srv *s, struct nbd_ev *ev)
{
	if (s->state == NBD_SRV_CLOSED || s->state == NBD_SRV_DISC) {
		ev_close(s, ev);
		return true;
	}
	if (s->out_off < s->out_len) {
		ev->kind = NBD_EV_SEND;
		return true;
	}
	if (s->abort_due) {
		nbd_close_now(s, NBD_CLOSE_ABORT);
		ev_close(s, ev);
		return true;
	}
	if (s->ready_due) {
		s->ready_due = false;
		ev->kind = NBD_EV_READY;
		return true;
	}
	return waiting(s, ev);
}

/* Gathers a fixed-size part into dst (s->have bytes so far); true once
 * all need bytes are there. */
static bool gather(struct nbd_srv *s, uint8_t *dst, uint32_t need,
		   const uint8_t *in, size_t len, size_t *used)
{
	size_t n = need - s->have;

	if (n > len)
		n = len;
	vmb_memcpy(dst + s->have, in, n);
	s->have += (uint32_t)n;
	*used = n;
	if (s->have < need)
		return false;
	s->have = 0;
	return true;
}

/* Drops up to len bytes of s->left; true once none are left. */
static bool drop(struct nbd_srv *s, size_t len, size_t *used)
{
	*used = len < s->left ? len : (size_t)s->left;
	s->left -= *used;
	return !s->left;
}

/* Unknown client flags MUST drop the connection ("Client flags"); a
 * client without FIXED_NEWSTYLE is still served fixed newstyle (the
 * server MAY), as it will send nothing but EXPORT_NAME anyway. */
static void client_flags(struct nbd_srv *s)
{
	uint32_t f = vmb_be32(s->hdr);

	if (f & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		nbd_fatal_close(s, NBD_FATAL_CLIENT_FLAGS);
		return;
	}
	s->no_zeroes = f & NBD_FLAG_C_NO_ZEROES;
	s->state = NBD_SRV_OPT_HDR;
}

/* One step of the current state over in[0..len) (len > 0); returns the
 * bytes taken. */
static size_t step(struct nbd_srv *s, const uint8_t *in, size_t len,
		   struct nbd_ev *ev)
{
	size_t used = 0;

	switch (s->state) {
	case NBD_SRV_CLIENT_FLAGS:
		if (gather(s, s->hdr, sizeof(struct nbd_client_flags), in,
			   len, &used))
			client_flags(s);
		break;
	case NBD_SRV_OPT_HDR:
		if (gather(s, s->hdr, sizeof(struct nbd_opt_hdr), in, len,
			   &used))
			nbd_opt_header(s);
		break;
	case NBD_SRV_OPT_DATA:
		if (gather(s, s->opt_buf, s->opt_len, in, len, &used))
			nbd_opt_handle(s);
		break;
	case NBD_SRV_OPT_SKIP:
		if (drop(s, len, &used))
			nbd_opt_too_big(s);
		break;
	case NBD_SRV_REQ_HDR:
		if (gather(s, s->hdr, sizeof(struct nbd_request), in, len,
			   &used))
			nbd_req_header(s, ev);
		break;
	case NBD_SRV_DISCARD:
		if (drop(s, len, &used))
			s->state = NBD_SRV_REQ_HDR;
		break;
	default:
		break;
	}
	return used;
}

size_t nbd_srv_input(struct nbd_srv *s, const uint8_t *in, size_t len,
		     struct nbd_ev *ev)
{
	size_t used = 0;

	vmb_memset(ev, 0, sizeof(*ev));
	for (;;) {
		if (stopped(s, ev) || used == len)
			return used;
		used += step(s, in + used, len - used, ev);
		if (ev->kind != NBD_EV_NONE)
			return used;
	}
}
