/* Host end of the IC channels: negotiation, one request at a time, and
 * checking each answer against the open request. */
#include "ic_priv.h"
#include "ic_utf.h"

int ic_host_init(struct ic_host *h, enum ic_service svc,
		 const struct ic_ver *fw, unsigned nfw,
		 const struct ic_ver *msg, unsigned nmsg)
{
	const struct ic_ver *dfw, *dmsg;
	unsigned dnfw, dnmsg;

	if (!h)
		return VMB_EINVAL;
	ic_versions(svc, &dfw, &dnfw, &dmsg, &dnmsg);
	if (!dnmsg)
		return VMB_EINVAL;
	if (!fw) {
		fw = dfw;
		nfw = dnfw;
	}
	if (!msg) {
		msg = dmsg;
		nmsg = dnmsg;
	}
	if (!nfw || nfw > IC_MAX_VERSIONS || !nmsg || nmsg > IC_MAX_VERSIONS)
		return VMB_EINVAL;
	vmb_memset(h, 0, sizeof(*h));
	h->svc = svc;
	vmb_memcpy(h->fw_offer, fw, nfw * sizeof(*fw));
	vmb_memcpy(h->msg_offer, msg, nmsg * sizeof(*msg));
	h->n_fw = nfw;
	h->n_msg = nmsg;
	return VMB_OK;
}

uint8_t *ic_host_begin(struct ic_host *h, uint16_t type, uint32_t body_len,
		       uint8_t *out, size_t cap, int *err)
{
	if (h->pending) {
		*err = VMB_EBUSY;
		return NULL;
	}
	if (type != IC_MSG_NEGOTIATE && !h->negotiated) {
		*err = VMB_ENOTSUP;
		return NULL;
	}
	if (!out || cap < IC_HDR_LEN + body_len) {
		*err = VMB_EMSGSIZE;
		return NULL;
	}
	ic_put_hdr(out, h->fw, h->msg, type, body_len, IC_S_OK, h->next_xid,
		   IC_FLAG_TRANSACTION | IC_FLAG_REQUEST);
	vmb_memset(out + IC_HDR_LEN, 0, body_len);
	return out + IC_HDR_LEN;
}

int ic_host_commit(struct ic_host *h, uint16_t type, uint8_t op,
		   uint32_t body_len, size_t *out_len)
{
	h->pending = true;
	h->pend_xid = h->next_xid++;
	h->pend_type = type;
	h->pend_op = op;
	h->st.requests++;
	*out_len = IC_HDR_LEN + body_len;
	return VMB_OK;
}

void ic_host_cancel(struct ic_host *h)
{
	h->pending = false;
}

int ic_host_negotiate(struct ic_host *h, uint8_t *out, size_t cap,
		      size_t *out_len)
{
	uint32_t len = (uint32_t)sizeof(struct ic_negotiate) +
		       4 * (h->n_fw + h->n_msg);
	struct ic_ver zero = { 0, 0 };
	uint8_t *b, *v;
	int rc;

	if (h->pending)
		return VMB_EBUSY;
	/* A new negotiation starts from scratch (header versions 0.0). */
	h->negotiated = false;
	h->fw = zero;
	h->msg = zero;
	b = ic_host_begin(h, IC_MSG_NEGOTIATE, len, out, cap, &rc);
	if (!b)
		return rc;
	ic_wr16(b + IC_OFF(struct ic_negotiate, fw_count), (uint16_t)h->n_fw);
	ic_wr16(b + IC_OFF(struct ic_negotiate, msg_count), (uint16_t)h->n_msg);
	v = b + sizeof(struct ic_negotiate);
	for (unsigned i = 0; i < h->n_fw; i++, v += 4) {
		ic_wr16(v, h->fw_offer[i].major);
		ic_wr16(v + 2, h->fw_offer[i].minor);
	}
	for (unsigned i = 0; i < h->n_msg; i++, v += 4) {
		ic_wr16(v, h->msg_offer[i].major);
		ic_wr16(v + 2, h->msg_offer[i].minor);
	}
	return ic_host_commit(h, IC_MSG_NEGOTIATE, 0, len, out_len);
}

int ic_hb_host_probe(struct ic_host *h, uint64_t seq, uint8_t *out,
		     size_t cap, size_t *out_len)
{
	uint8_t *b;
	int rc;

	if (h->svc != IC_SVC_HEARTBEAT)
		return VMB_EINVAL;
	b = ic_host_begin(h, IC_MSG_HEARTBEAT, sizeof(struct ic_hb_msg), out,
			  cap, &rc);
	if (!b)
		return rc;
	ic_wr64(b + IC_OFF(struct ic_hb_msg, seq), seq);
	h->pend_seq = seq;
	return ic_host_commit(h, IC_MSG_HEARTBEAT, 0, sizeof(struct ic_hb_msg),
			      out_len);
}

/* Any flags may be sent: a host may probe how a guest refuses. */
int ic_sd_host_request(struct ic_host *h, uint32_t reason,
		       uint32_t timeout_s, uint32_t flags,
		       const char *message, uint8_t *out, size_t cap,
		       size_t *out_len)
{
	uint8_t *b;
	int rc;

	if (h->svc != IC_SVC_SHUTDOWN)
		return VMB_EINVAL;
	b = ic_host_begin(h, IC_MSG_SHUTDOWN, sizeof(struct ic_sd_msg), out,
			  cap, &rc);
	if (!b)
		return rc;
	ic_wr32(b + IC_OFF(struct ic_sd_msg, reason), reason);
	ic_wr32(b + IC_OFF(struct ic_sd_msg, timeout_s), timeout_s);
	ic_wr32(b + IC_OFF(struct ic_sd_msg, flags), flags);
	if (message) {
		rc = ic_utf8_to_utf16(message, ic_strnlen(message,
							  IC_SD_MSG_UTF8_MAX),
				      b + IC_OFF(struct ic_sd_msg, message),
				      IC_SD_MSG_BYTES, NULL);
		if (rc)
			return rc;
	}
	return ic_host_commit(h, IC_MSG_SHUTDOWN, 0, sizeof(struct ic_sd_msg),
			      out_len);
}

int ic_ts_host_sample(struct ic_host *h, uint64_t parent_time,
		      uint64_t ref_time, uint64_t round_trip, uint8_t flags,
		      uint8_t *out, size_t cap, size_t *out_len)
{
	bool v4 = h->msg.major >= 4;
	uint32_t len = v4 ? sizeof(struct ic_ts4_msg) : sizeof(struct ic_ts_msg);
	uint8_t *b;
	int rc;

	if (h->svc != IC_SVC_TIMESYNC)
		return VMB_EINVAL;
	b = ic_host_begin(h, IC_MSG_TIMESYNC, len, out, cap, &rc);
	if (!b)
		return rc;
	ic_wr64(b, parent_time);
	if (v4) {
		ic_wr64(b + IC_OFF(struct ic_ts4_msg, ref_time), ref_time);
		b[IC_OFF(struct ic_ts4_msg, flags)] = flags;
	} else {
		ic_wr64(b + IC_OFF(struct ic_ts_msg, round_trip), round_trip);
		b[IC_OFF(struct ic_ts_msg, flags)] = flags;
	}
	return ic_host_commit(h, IC_MSG_TIMESYNC, 0, len, out_len);
}

static bool offered(const struct ic_ver *list, unsigned n, struct ic_ver v)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i].major == v.major && list[i].minor == v.minor)
			return true;
	return false;
}

static int host_negotiated(struct ic_host *h, const struct ic_parsed *p,
			   struct ic_host_result *res, enum vmb_bad *why)
{
	const uint8_t *b = p->body;
	unsigned nfw, nmsg;

	*why = VMB_BAD_TRUNCATED;
	if (p->body_len < sizeof(struct ic_negotiate))
		return VMB_EPROTO;
	nfw = ic_rd16(b + IC_OFF(struct ic_negotiate, fw_count));
	nmsg = ic_rd16(b + IC_OFF(struct ic_negotiate, msg_count));
	if (nfw == 0 && nmsg == 0) {
		h->st.negotiate_failed++;
		return VMB_ENOTSUP;
	}
	*why = VMB_BAD_FIELD;
	if (nfw != 1 || nmsg != 1)
		return VMB_EPROTO;
	*why = VMB_BAD_TRUNCATED;
	if (p->body_len < IC_NEGOTIATE_REPLY_LEN)
		return VMB_EPROTO;
	res->fw.major = ic_rd16(b + 8);
	res->fw.minor = ic_rd16(b + 10);
	res->msg.major = ic_rd16(b + 12);
	res->msg.minor = ic_rd16(b + 14);
	*why = VMB_BAD_VERSION;
	if (!offered(h->fw_offer, h->n_fw, res->fw) ||
	    !offered(h->msg_offer, h->n_msg, res->msg))
		return VMB_EPROTO;
	h->negotiated = res->negotiated = true;
	h->fw = res->fw;
	h->msg = res->msg;
	return VMB_OK;
}

static int host_heartbeat(struct ic_host *h, const struct ic_parsed *p,
			  struct ic_host_result *res, enum vmb_bad *why)
{
	if (p->status != IC_S_OK)
		return VMB_OK;
	if (p->body_len < IC_HB_MIN_LEN) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	res->hb_seq = ic_rd64(p->body);
	if (res->hb_seq != h->pend_seq + 1) {
		h->st.hb_seq_bad++;
		*why = VMB_BAD_FIELD;
		return VMB_EPROTO;
	}
	return VMB_OK;
}

static int host_decode(struct ic_host *h, const struct ic_parsed *p,
		       struct ic_host_result *res, enum vmb_bad *why)
{
	switch (p->type) {
	case IC_MSG_NEGOTIATE:
		return host_negotiated(h, p, res, why);
	case IC_MSG_HEARTBEAT:
		return host_heartbeat(h, p, res, why);
	case IC_MSG_KVP:
		return kvp_host_decode(h, p, res, why);
	case IC_MSG_VSS:
		return vss_host_decode(h, p, res, why);
	default: /* shutdown and time sync answers carry only a status */
		return VMB_OK;
	}
}

static bool status_is_failure(const struct ic_parsed *p, uint8_t op)
{
	/* NO_MORE_ITEMS is how a guest ends a KVP enumeration. */
	if (p->type == IC_MSG_KVP && op == KVP_OP_ENUMERATE &&
	    p->status == IC_E_NO_MORE_ITEMS)
		return false;
	return p->status != IC_S_OK;
}

static int host_refuse(struct ic_host *h, enum vmb_bad why)
{
	vmb_bad_count(&h->st.bad, why);
	return VMB_EPROTO;
}

int ic_host_input(struct ic_host *h, const void *payload, size_t len,
		  struct ic_host_result *res)
{
	struct ic_parsed p;
	enum vmb_bad why = VMB_BAD_FIELD;
	int rc;

	if (!h || !res || (!payload && len))
		return VMB_EINVAL;
	if (ic_parse(payload, len, &p, &why))
		return host_refuse(h, why);
	if (!(p.flags & IC_FLAG_RESPONSE))
		return host_refuse(h, VMB_BAD_FIELD);
	/* Late, duplicate or invented answers leave the open request be. */
	if (!h->pending || p.xid != h->pend_xid)
		return host_refuse(h, VMB_BAD_XID);
	if (p.type != h->pend_type)
		return host_refuse(h, VMB_BAD_TYPE);
	h->pending = false;
	h->st.responses++;
	/* Every field is this answer's: nothing left from an earlier one. */
	vmb_memset(res, 0, sizeof(*res));
	res->type = p.type;
	res->status = p.status;
	if (status_is_failure(&p, h->pend_op))
		h->st.status_fail++;
	rc = host_decode(h, &p, res, &why);
	if (rc == VMB_EPROTO)
		return host_refuse(h, why);
	return rc;
}
