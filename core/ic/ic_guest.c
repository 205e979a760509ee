/* Guest end of the IC channels: validation, negotiation, and the services
 * answered without the embedder (heartbeat, time sync). */
#include "ic_priv.h"
#include "ic_utf.h"

#define IC_REPLY_FLAGS (IC_FLAG_TRANSACTION | IC_FLAG_RESPONSE)

void ic_guest_init(struct ic_guest *g, enum ic_service svc)
{
	vmb_memset(g, 0, sizeof(*g));
	g->svc = svc;
}

static void hdr_versions(const uint8_t *msg, struct ic_ver *fw,
			 struct ic_ver *mv)
{
	const uint8_t *h = msg + sizeof(struct ic_pipe_hdr);

	fw->major = ic_rd16(h + IC_OFF(struct ic_msg_hdr, fw_ver.major));
	fw->minor = ic_rd16(h + IC_OFF(struct ic_msg_hdr, fw_ver.minor));
	mv->major = ic_rd16(h + IC_OFF(struct ic_msg_hdr, msg_ver.major));
	mv->minor = ic_rd16(h + IC_OFF(struct ic_msg_hdr, msg_ver.minor));
}

static uint32_t body_keep_len(uint32_t body_len)
{
	uint32_t room = IC_MSG_MAX - IC_HDR_LEN;

	return body_len < room ? body_len : room;
}

static void count_reply(struct ic_guest *g, uint32_t status)
{
	g->st.replies++;
	if (status != IC_S_OK)
		g->st.fail_replies++;
}

/* A request refused before it was kept: echo its header and (as much of)
 * its body with a failure status, as Linux answers bad requests. */
static int refuse_echo(struct ic_guest *g, const struct ic_parsed *p,
		       enum vmb_bad why, uint8_t *out, size_t *out_len)
{
	struct ic_ver fw, mv;
	uint32_t n = body_keep_len(p->body_len);

	vmb_bad_count(&g->st.bad, why);
	hdr_versions(p->msg, &fw, &mv);
	ic_put_hdr(out, fw, mv, p->type, n, IC_E_FAIL, p->xid, IC_REPLY_FLAGS);
	vmb_memcpy(out + IC_HDR_LEN, p->body, n);
	*out_len = IC_HDR_LEN + n;
	count_reply(g, IC_E_FAIL);
	return VMB_EPROTO;
}

void ic_guest_keep(struct ic_guest *g, const struct ic_parsed *p)
{
	uint32_t n = body_keep_len(p->body_len);
	uint8_t *h = g->req + sizeof(struct ic_pipe_hdr);

	vmb_memcpy(g->req, p->msg, IC_HDR_LEN);
	vmb_memcpy(g->req + IC_HDR_LEN, p->body, n);
	/* Trailing bytes past the icmsg size are not echoed. */
	ic_wr32(g->req + IC_OFF(struct ic_pipe_hdr, msgsize),
		(uint32_t)sizeof(struct ic_msg_hdr) + n);
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, size), (uint16_t)n);
	g->req_len = IC_HDR_LEN + n;
}

int ic_guest_finish(struct ic_guest *g, uint32_t status, uint8_t *out,
		    size_t cap, size_t *out_len)
{
	uint8_t *h = g->req + sizeof(struct ic_pipe_hdr);

	if (cap < g->req_len)
		return VMB_EMSGSIZE;
	ic_wr32(g->req + IC_OFF(struct ic_pipe_hdr, flags), IC_PIPE_DATA);
	ic_wr32(h + IC_OFF(struct ic_msg_hdr, status), status);
	h[IC_OFF(struct ic_msg_hdr, flags)] = IC_REPLY_FLAGS;
	vmb_memcpy(out, g->req, g->req_len);
	*out_len = g->req_len;
	g->pending = false;
	count_reply(g, status);
	return VMB_OK;
}

/* A kept request found malformed: answer it with a failure status. */
static int refuse_kept(struct ic_guest *g, enum vmb_bad why, uint8_t *out,
		       size_t cap, size_t *out_len)
{
	vmb_bad_count(&g->st.bad, why);
	ic_guest_finish(g, IC_E_FAIL, out, cap, out_len);
	return VMB_EPROTO;
}

static bool pick(const uint8_t *list, unsigned n, const struct ic_ver *mine,
		 unsigned nmine, struct ic_ver *out)
{
	for (unsigned i = 0; i < nmine; i++) {
		for (unsigned j = 0; j < n; j++) {
			if (ic_rd16(list + 4 * j) == mine[i].major &&
			    ic_rd16(list + 4 * j + 2) == mine[i].minor) {
				*out = mine[i];
				return true;
			}
		}
	}
	return false;
}

static void put_negotiate_reply(const struct ic_parsed *p, bool ok,
				struct ic_ver fw, struct ic_ver mv,
				uint8_t *out, size_t *out_len)
{
	struct ic_ver hfw, hmv;
	uint8_t *b = out + IC_HDR_LEN;

	hdr_versions(p->msg, &hfw, &hmv);
	ic_put_hdr(out, hfw, hmv, IC_MSG_NEGOTIATE, IC_NEGOTIATE_REPLY_LEN,
		   IC_S_OK, p->xid, IC_REPLY_FLAGS);
	vmb_memset(b, 0, IC_NEGOTIATE_REPLY_LEN);
	ic_wr16(b + IC_OFF(struct ic_negotiate, fw_count), ok ? 1 : 0);
	ic_wr16(b + IC_OFF(struct ic_negotiate, msg_count), ok ? 1 : 0);
	if (ok) {
		ic_wr16(b + 8, fw.major);
		ic_wr16(b + 10, fw.minor);
		ic_wr16(b + 12, mv.major);
		ic_wr16(b + 14, mv.minor);
	}
	*out_len = IC_HDR_LEN + IC_NEGOTIATE_REPLY_LEN;
}

/* A (re)negotiation resets the channel: an unanswered request is dropped
 * because the host no longer waits for it. */
static int guest_negotiate(struct ic_guest *g, const struct ic_parsed *p,
			   struct ic_action *act, uint8_t *out,
			   size_t *out_len)
{
	const struct ic_ver *myfw, *mymsg;
	unsigned nmyfw, nmymsg, nfw, nmsg;
	struct ic_ver fw = { 0, 0 }, mv = { 0, 0 };
	bool ok;

	if (p->body_len < sizeof(struct ic_negotiate))
		return refuse_echo(g, p, VMB_BAD_TRUNCATED, out, out_len);
	nfw = ic_rd16(p->body + IC_OFF(struct ic_negotiate, fw_count));
	nmsg = ic_rd16(p->body + IC_OFF(struct ic_negotiate, msg_count));
	if (nfw > IC_NEGOTIATE_MAX_VERSIONS || nmsg > IC_NEGOTIATE_MAX_VERSIONS)
		return refuse_echo(g, p, VMB_BAD_OVERSIZE, out, out_len);
	if (sizeof(struct ic_negotiate) + 4 * (nfw + nmsg) > p->body_len)
		return refuse_echo(g, p, VMB_BAD_TRUNCATED, out, out_len);
	ic_versions(g->svc, &myfw, &nmyfw, &mymsg, &nmymsg);
	const uint8_t *list = p->body + sizeof(struct ic_negotiate);
	ok = pick(list, nfw, myfw, nmyfw, &fw) &&
	     pick(list + 4 * nfw, nmsg, mymsg, nmymsg, &mv);
	put_negotiate_reply(p, ok, fw, mv, out, out_len);
	count_reply(g, IC_S_OK);
	g->pending = false;
	g->negotiated = ok;
	g->fw = fw;
	g->msg = mv;
	if (!ok) {
		g->st.negotiate_failed++;
		return VMB_ENOTSUP;
	}
	g->st.negotiations++;
	act->kind = IC_ACT_NEGOTIATED;
	act->neg.fw = fw;
	act->neg.msg = mv;
	return VMB_OK;
}

static int guest_heartbeat(struct ic_guest *g, uint8_t *out, size_t cap,
			   size_t *out_len)
{
	uint8_t *b = g->req + IC_HDR_LEN;

	if (g->req_len - IC_HDR_LEN < IC_HB_MIN_LEN)
		return refuse_kept(g, VMB_BAD_TRUNCATED, out, cap, out_len);
	ic_wr64(b, ic_rd64(b) + 1);
	return ic_guest_finish(g, IC_S_OK, out, cap, out_len);
}

static int guest_timesync(struct ic_guest *g, struct ic_action *act,
			  uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *b = g->req + IC_HDR_LEN;
	uint32_t n = g->req_len - IC_HDR_LEN;
	struct ic_ts_sample *s = &act->ts;

	vmb_memset(s, 0, sizeof(*s));
	s->v4 = g->msg.major >= 4;
	if (n < (s->v4 ? IC_TS4_MIN_LEN : IC_TS_MIN_LEN))
		return refuse_kept(g, VMB_BAD_TRUNCATED, out, cap, out_len);
	s->parent_time = ic_rd64(b);
	if (s->v4) {
		s->ref_time = ic_rd64(b + IC_OFF(struct ic_ts4_msg, ref_time));
		s->flags = b[IC_OFF(struct ic_ts4_msg, flags)];
		s->leap = b[IC_OFF(struct ic_ts4_msg, leap)];
		s->stratum = b[IC_OFF(struct ic_ts4_msg, stratum)];
	} else {
		s->round_trip = ic_rd64(b + IC_OFF(struct ic_ts_msg, round_trip));
		s->flags = b[IC_OFF(struct ic_ts_msg, flags)];
	}
	s->sync = s->flags & IC_TS_FLAG_SYNC;
	s->sample = s->flags & IC_TS_FLAG_SAMPLE;
	act->kind = IC_ACT_TIME;
	return ic_guest_finish(g, IC_S_OK, out, cap, out_len);
}

/* Valid flag values: shutdown, restart or hibernate, each optionally
 * forced (Linux hv_util.c accepts 0-5 and refuses the rest). */
static bool sd_flags_ok(uint32_t f)
{
	return !(f & ~IC_SD_FLAGS_KNOWN) &&
	       (f & (IC_SD_FLAG_RESTART | IC_SD_FLAG_HIBERNATE)) !=
		       (IC_SD_FLAG_RESTART | IC_SD_FLAG_HIBERNATE);
}

/* Bytes of the display message to convert, of avail present. The field
 * holds at most 1023 units and a NUL (IC_SD_MSG_UTF8_MAX): a host that
 * fills it without a NUL loses the last unit, not its shutdown. A host
 * that sends a short message area ends it where it likes; a pair cut by
 * either end is dropped whole. */
static uint32_t sd_msg_len(const uint8_t *m, uint32_t avail)
{
	uint32_t len = avail < IC_SD_MSG_BYTES - 2 ? avail : IC_SD_MSG_BYTES - 2;
	uint16_t last;

	len &= ~1u;
	if (len < 2)
		return len;
	last = ic_rd16(m + len - 2);
	return last >= 0xd800 && last <= 0xdbff ? len - 2 : len;
}

static int guest_shutdown(struct ic_guest *g, struct ic_action *act,
			  uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *b = g->req + IC_HDR_LEN;
	uint32_t n = g->req_len - IC_HDR_LEN, mlen;
	struct ic_sd_req *sd = &act->sd;

	if (n < IC_SD_MIN_LEN)
		return refuse_kept(g, VMB_BAD_TRUNCATED, out, cap, out_len);
	sd->reason = ic_rd32(b + IC_OFF(struct ic_sd_msg, reason));
	sd->timeout_s = ic_rd32(b + IC_OFF(struct ic_sd_msg, timeout_s));
	sd->flags = ic_rd32(b + IC_OFF(struct ic_sd_msg, flags));
	if (!sd_flags_ok(sd->flags))
		return refuse_kept(g, VMB_BAD_FIELD, out, cap, out_len);
	sd->force = sd->flags & IC_SD_FLAG_FORCE;
	sd->reboot = sd->flags & IC_SD_FLAG_RESTART;
	sd->hibernate = sd->flags & IC_SD_FLAG_HIBERNATE;
	mlen = sd_msg_len(b + IC_OFF(struct ic_sd_msg, message),
			  n - IC_SD_MIN_LEN);
	if (ic_utf16_to_utf8(b + IC_OFF(struct ic_sd_msg, message), mlen,
			     sd->message, sizeof(sd->message), NULL))
		return refuse_kept(g, VMB_BAD_FIELD, out, cap, out_len);
	act->kind = IC_ACT_SHUTDOWN;
	act->reply_pending = true;
	g->pending = true;
	return VMB_OK;
}

static int guest_dispatch(struct ic_guest *g, struct ic_action *act,
			  uint8_t *out, size_t cap, size_t *out_len)
{
	enum vmb_bad why;
	bool now = false;

	switch (g->svc) {
	case IC_SVC_HEARTBEAT:
		return guest_heartbeat(g, out, cap, out_len);
	case IC_SVC_TIMESYNC:
		return guest_timesync(g, act, out, cap, out_len);
	case IC_SVC_SHUTDOWN:
		return guest_shutdown(g, act, out, cap, out_len);
	case IC_SVC_KVP:
		if (kvp_guest_decode(g, act, &why))
			return refuse_kept(g, why, out, cap, out_len);
		g->pending = true;
		return VMB_OK;
	case IC_SVC_VSS:
		if (vss_guest_decode(g, act, &why, &now))
			return refuse_kept(g, why, out, cap, out_len);
		if (now)
			return ic_guest_finish(g, IC_S_OK, out, cap, out_len);
		g->pending = true;
		return VMB_OK;
	}
	return refuse_kept(g, VMB_BAD_TYPE, out, cap, out_len);
}

int ic_guest_input(struct ic_guest *g, const void *payload, size_t len,
		   struct ic_action *act, uint8_t *out, size_t cap,
		   size_t *out_len)
{
	struct ic_parsed p;
	enum vmb_bad why;

	if (!g || !act || !out || !out_len || cap < IC_MSG_MAX ||
	    (!payload && len))
		return VMB_EINVAL;
	*out_len = 0;
	act->kind = IC_ACT_NONE;
	act->reply_pending = false;
	if (ic_parse(payload, len, &p, &why)) {
		vmb_bad_count(&g->st.bad, why);
		return VMB_EPROTO;
	}
	/* Never answer something that is itself an answer. */
	if (p.flags & IC_FLAG_RESPONSE) {
		vmb_bad_count(&g->st.bad, VMB_BAD_FIELD);
		return VMB_EPROTO;
	}
	if (p.type == IC_MSG_NEGOTIATE)
		return guest_negotiate(g, &p, act, out, out_len);
	if (p.type != (uint16_t)g->svc)
		return refuse_echo(g, &p, VMB_BAD_TYPE, out, out_len);
	/* The host keeps one transaction open; a second one, or a request
	 * before the versions are agreed, is out of order. */
	if (g->pending || !g->negotiated)
		return refuse_echo(g, &p, VMB_BAD_STATE, out, out_len);
	g->st.requests++;
	ic_guest_keep(g, &p);
	return guest_dispatch(g, act, out, cap, out_len);
}

int ic_sd_guest_reply(struct ic_guest *g, uint32_t status, uint8_t *out,
		      size_t cap, size_t *out_len)
{
	if (!g->pending || g->svc != IC_SVC_SHUTDOWN)
		return VMB_ENOENT;
	return ic_guest_finish(g, status, out, cap, out_len);
}

int64_t ic_ts_offset(const struct ic_ts_sample *s, uint64_t guest_now,
		     uint64_t guest_ref_now)
{
	uint64_t host_now = s->parent_time;

	/* Modular arithmetic: the result is right whenever the true offset
	 * fits in 64 signed bits, whichever clock is ahead. */
	if (s->v4)
		host_now += guest_ref_now - s->ref_time;
	else
		host_now += s->round_trip / 2;
	return (int64_t)(host_now - guest_now);
}
