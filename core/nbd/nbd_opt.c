/* NBD option haggling (fixed newstyle): EXPORT_NAME, ABORT, LIST, INFO
 * and GO; everything else is answered NBD_REP_ERR_UNSUP, which the
 * protocol's baseline requires of options a server does not implement
 * (STARTTLS: NOTLS mode; STRUCTURED_REPLY, which clients must accept
 * being refused; the metadata contexts, which need structured replies;
 * the experimental EXTENDED_HEADERS). Section names quoted are those of
 * the NBD protocol document (doc/proto.md). */
#include "nbd_priv.h"

/* Each refusal's reply type, with a message for the user (error replies
 * MAY carry one, "Option reply types"). */
#define MSG(s) s, sizeof(s) - 1

static const struct {
	uint32_t type;
	const char *msg;
	uint32_t len;
} refusals[NBD_OPTERR__COUNT] = {
	[NBD_OPTERR_UNSUP] = {NBD_REP_ERR_UNSUP,
			      MSG("option not supported by this server")},
	[NBD_OPTERR_INVALID] = {NBD_REP_ERR_INVALID,
				MSG("malformed option data")},
	[NBD_OPTERR_TOO_BIG] = {NBD_REP_ERR_TOO_BIG,
				MSG("option data too long")},
	[NBD_OPTERR_UNKNOWN] = {NBD_REP_ERR_UNKNOWN, MSG("no such export")},
	[NBD_OPTERR_SHUTDOWN] = {NBD_REP_ERR_SHUTDOWN,
				 MSG("server shutting down")},
};

/* The reply header to the option being handled; len data bytes follow. */
static void rep_hdr(struct nbd_srv *s, uint32_t type, uint32_t len)
{
	struct nbd_opt_reply *r =
		(struct nbd_opt_reply *)nbd_out_reserve(s, sizeof(*r));

	vmb_put_be64(r->magic, NBD_REP_MAGIC);
	vmb_put_be32(r->option, s->opt);
	vmb_put_be32(r->type, type);
	vmb_put_be32(r->length, len);
}

static void out_bytes(struct nbd_srv *s, const void *p, uint32_t n)
{
	if (n)
		vmb_memcpy(nbd_out_reserve(s, n), p, n);
}

static void refuse(struct nbd_srv *s, enum nbd_opterr why)
{
	s->st.opt_err[why]++;
	rep_hdr(s, refusals[why].type, refusals[why].len);
	out_bytes(s, refusals[why].msg, refusals[why].len);
	s->state = NBD_SRV_OPT_HDR;
}

void nbd_opt_too_big(struct nbd_srv *s)
{
	refuse(s, NBD_OPTERR_TOO_BIG);
}

void nbd_opt_header(struct nbd_srv *s)
{
	const struct nbd_opt_hdr *h = (const struct nbd_opt_hdr *)s->hdr;

	if (vmb_be64(h->magic) != NBD_IHAVEOPT) {
		nbd_fatal_close(s, NBD_FATAL_OPT_MAGIC);
		return;
	}
	s->st.options++;
	s->opt = vmb_be32(h->option);
	s->opt_len = vmb_be32(h->length);
	if (!s->opt_len) {
		nbd_opt_handle(s);
	} else if (s->opt_len <= NBD_OPT_DATA_MAX) {
		s->state = NBD_SRV_OPT_DATA;
	} else if (s->opt == NBD_OPT_EXPORT_NAME) {
		/* Longer than any string may be, and EXPORT_NAME has no
		 * error reply: the session MUST end. */
		nbd_fatal_close(s, NBD_FATAL_EXPORT_NAME);
	} else {
		s->left = s->opt_len;
		s->state = NBD_SRV_OPT_SKIP;
	}
}

static void lookup(struct nbd_srv *s, uint32_t off, uint32_t len)
{
	s->name_off = off;
	s->name_len = len;
	s->state = NBD_SRV_LOOKUP;
}

static void opt_export_name(struct nbd_srv *s)
{
	if (nbd_has_nul(s->opt_buf, s->opt_len)) {
		nbd_fatal_close(s, NBD_FATAL_EXPORT_NAME);
		return;
	}
	lookup(s, 0, s->opt_len);
}

/* INFO/GO data ("Option types"): name length, name, request count,
 * requests; anything else in length is malformed. Requests the server
 * does not know are ignored, as the protocol says. */
static bool parse_info(struct nbd_srv *s, uint32_t *nlen)
{
	const uint8_t *d = s->opt_buf;
	uint32_t len = s->opt_len, n;

	if (len < NBD_GO_FIXED)
		return false;
	*nlen = vmb_be32(d);
	if (*nlen > len - NBD_GO_FIXED)
		return false;
	n = vmb_be16(d + 4 + *nlen);
	if (len != NBD_GO_FIXED + *nlen + 2u * n || nbd_has_nul(d + 4, *nlen))
		return false;
	s->infos = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint16_t t = vmb_be16(d + NBD_GO_FIXED + *nlen + 2 * i);

		if (t <= NBD_INFO_BLOCK_SIZE)
			s->infos |= (uint8_t)(1u << t);
	}
	return true;
}

static void opt_info(struct nbd_srv *s)
{
	uint32_t nlen;

	if (parse_info(s, &nlen))
		lookup(s, 4, nlen);
	else
		refuse(s, NBD_OPTERR_INVALID);
}

static void opt_list(struct nbd_srv *s)
{
	if (s->opt_len) {
		refuse(s, NBD_OPTERR_INVALID);
		return;
	}
	s->index = 0;
	s->state = NBD_SRV_LIST;
}

static void opt_shutdown(struct nbd_srv *s)
{
	if (s->opt == NBD_OPT_EXPORT_NAME)
		nbd_close_now(s, NBD_CLOSE_SHUTDOWN);
	else
		refuse(s, NBD_OPTERR_SHUTDOWN);
}

void nbd_opt_handle(struct nbd_srv *s)
{
	s->state = NBD_SRV_OPT_HDR;
	if (s->shutdown && s->opt != NBD_OPT_ABORT) {
		opt_shutdown(s);
		return;
	}
	switch (s->opt) {
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(s);
		break;
	case NBD_OPT_ABORT:
		/* The server MUST reply with ACK (any data is ignored). */
		rep_hdr(s, NBD_REP_ACK, 0);
		s->abort_due = true;
		break;
	case NBD_OPT_LIST:
		opt_list(s);
		break;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info(s);
		break;
	default:
		refuse(s, NBD_OPTERR_UNSUP);
		break;
	}
}

/* ---- export answers ---- */

static bool pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

/* "Size constraints": all zero (the defaults) or each within its rules. */
static bool sizes_ok(const struct nbd_export *e)
{
	if (!e->min_block && !e->pref_block && !e->max_payload)
		return true;
	return pow2(e->min_block) && e->min_block <= NBD_MIN_BLOCK_MAX &&
	       pow2(e->pref_block) && e->pref_block >= NBD_PREF_BLOCK_MIN &&
	       e->pref_block >= e->min_block &&
	       e->max_payload >= e->pref_block &&
	       e->max_payload <= NBD_SRV_MAX_PAYLOAD;
}

static bool str_ok(const char *p, uint32_t n)
{
	return n <= NBD_STRING_MAX && (p || !n) && !(p && nbd_has_nul(p, n));
}

static bool export_ok(const struct nbd_export *e)
{
	if (e->flags & ~NBD_SRV_EXPORT_FLAGS)
		return false;
	if ((e->flags & NBD_FLAG_SEND_FAST_ZERO) &&
	    !(e->flags & NBD_FLAG_SEND_WRITE_ZEROES))
		return false;
	return sizes_ok(e) && str_ok(e->name, e->name_len) &&
	       str_ok(e->desc, e->desc_len);
}

static void use_export(struct nbd_srv *s, const struct nbd_export *e)
{
	bool dflt = !e->min_block;

	s->exp.size = e->size;
	s->exp.flags = e->flags | NBD_FLAG_HAS_FLAGS;
	s->exp.min_block = dflt ? NBD_DEFAULT_MIN_BLOCK : e->min_block;
	s->exp.max_payload = dflt ? NBD_DEFAULT_MAX_PAYLOAD : e->max_payload;
	s->state = NBD_SRV_REQ_HDR;
	s->have = 0;
	s->ready_due = true;
}

/* EXPORT_NAME's answer has no error form: an unknown export MUST end
 * the session. */
static void export_name_answer(struct nbd_srv *s, const struct nbd_export *e)
{
	struct nbd_export_name_reply *r;

	if (!e) {
		s->st.opt_err[NBD_OPTERR_UNKNOWN]++;
		nbd_close_now(s, NBD_CLOSE_UNKNOWN);
		return;
	}
	use_export(s, e);
	r = (struct nbd_export_name_reply *)nbd_out_reserve(
		s, s->no_zeroes ? NBD_EXPORT_NAME_SHORT : sizeof(*r));
	vmb_put_be64(r->size, s->exp.size);
	vmb_put_be16(r->flags, s->exp.flags);
	if (!s->no_zeroes)
		vmb_memset(r->zeroes, 0, sizeof(r->zeroes));
}

static void info_export(struct nbd_srv *s, const struct nbd_export *e)
{
	struct nbd_info_export *i;

	rep_hdr(s, NBD_REP_INFO, sizeof(*i));
	i = (struct nbd_info_export *)nbd_out_reserve(s, sizeof(*i));
	vmb_put_be16(i->type, NBD_INFO_EXPORT);
	vmb_put_be64(i->size, e->size);
	vmb_put_be16(i->flags, e->flags | NBD_FLAG_HAS_FLAGS);
}

static void info_string(struct nbd_srv *s, uint16_t type, const void *p,
			uint32_t n)
{
	struct nbd_info_string *i;

	rep_hdr(s, NBD_REP_INFO, (uint32_t)sizeof(*i) + n);
	i = (struct nbd_info_string *)nbd_out_reserve(s, sizeof(*i));
	vmb_put_be16(i->type, type);
	out_bytes(s, p, n);
}

static void info_block_size(struct nbd_srv *s, const struct nbd_export *e)
{
	struct nbd_info_block_size *i;
	bool dflt = !e->min_block;

	rep_hdr(s, NBD_REP_INFO, sizeof(*i));
	i = (struct nbd_info_block_size *)nbd_out_reserve(s, sizeof(*i));
	vmb_put_be16(i->type, NBD_INFO_BLOCK_SIZE);
	vmb_put_be32(i->min, dflt ? NBD_DEFAULT_MIN_BLOCK : e->min_block);
	vmb_put_be32(i->pref, dflt ? NBD_DEFAULT_PREF_BLOCK : e->pref_block);
	vmb_put_be32(i->max, dflt ? NBD_DEFAULT_MAX_PAYLOAD : e->max_payload);
}

/* INFO/GO success: NBD_INFO_EXPORT (mandatory), the name and description
 * if asked for, the block sizes always (a server MAY send items not asked
 * for, and these are the constraints requests are held to), then ACK; GO
 * then enters transmission. */
static void info_answer(struct nbd_srv *s, const struct nbd_export *e)
{
	const uint8_t *asked = s->opt_buf + s->name_off;

	if (!e) {
		refuse(s, NBD_OPTERR_UNKNOWN);
		return;
	}
	info_export(s, e);
	if (s->infos & (1u << NBD_INFO_NAME))
		info_string(s, NBD_INFO_NAME,
			    e->name ? (const void *)e->name : asked,
			    e->name ? e->name_len : s->name_len);
	if ((s->infos & (1u << NBD_INFO_DESCRIPTION)) && e->desc)
		info_string(s, NBD_INFO_DESCRIPTION, e->desc, e->desc_len);
	info_block_size(s, e);
	rep_hdr(s, NBD_REP_ACK, 0);
	if (s->opt == NBD_OPT_GO)
		use_export(s, e);
	else
		s->state = NBD_SRV_OPT_HDR;
}

int nbd_srv_export(struct nbd_srv *s, const struct nbd_export *e)
{
	int rc = VMB_OK;

	if (s->state != NBD_SRV_LOOKUP)
		return VMB_EBUSY;
	if (e && !export_ok(e)) {
		e = NULL;
		rc = VMB_EINVAL;
	}
	if (s->opt == NBD_OPT_EXPORT_NAME)
		export_name_answer(s, e);
	else
		info_answer(s, e);
	return rc;
}

/* ---- LIST ---- */

int nbd_srv_list_entry(struct nbd_srv *s, const char *name,
		       uint32_t name_len, const char *desc,
		       uint32_t desc_len)
{
	struct nbd_rep_server *r;
	uint32_t len;

	if (s->state != NBD_SRV_LIST)
		return VMB_EBUSY;
	if (!str_ok(name, name_len) || !str_ok(desc, desc_len))
		return VMB_EINVAL;
	len = (uint32_t)sizeof(*r) + name_len + desc_len;
	if (nbd_out_room(s) < sizeof(struct nbd_opt_reply) + len)
		return VMB_EBUSY;
	rep_hdr(s, NBD_REP_SERVER, len);
	r = (struct nbd_rep_server *)nbd_out_reserve(s, sizeof(*r));
	vmb_put_be32(r->name_len, name_len);
	out_bytes(s, name, name_len);
	out_bytes(s, desc, desc_len);
	s->index++;
	return VMB_OK;
}

int nbd_srv_list_end(struct nbd_srv *s)
{
	if (s->state != NBD_SRV_LIST)
		return VMB_EBUSY;
	if (nbd_out_room(s) < sizeof(struct nbd_opt_reply))
		return VMB_EBUSY;
	rep_hdr(s, NBD_REP_ACK, 0);
	s->state = NBD_SRV_OPT_HDR;
	return VMB_OK;
}
