/* VSS (live backup): the guest hands freeze, thaw and the hot-backup
 * feature check to the embedder and answers the rest itself, as Linux
 * hv_snapshot.c does; the host side builds operations and reads the
 * answers. */
#include "ic_priv.h"

#define VSS_FLAGS_OFF IC_OFF(struct vss_msg, flags)

static bool vss_needs_embedder(uint8_t op)
{
	return op == VSS_OP_HOT_BACKUP || op == VSS_OP_FREEZE ||
	       op == VSS_OP_THAW;
}

int vss_guest_decode(struct ic_guest *g, struct ic_action *act,
		     enum vmb_bad *why, bool *answer_now)
{
	uint8_t *b = g->req + IC_HDR_LEN;
	uint8_t op;

	if (g->req_len - IC_HDR_LEN < sizeof(struct vss_msg)) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	op = b[IC_OFF(struct vss_msg, op)];
	if (op >= VSS_OP_COUNT) {
		*why = VMB_BAD_FIELD;
		return VMB_EPROTO;
	}
	act->kind = IC_ACT_VSS;
	act->vss.op = op;
	g->pending_op = op;
	/* No direct-mapped devices: the flags answer is 0. */
	if (op == VSS_OP_GET_DM_INFO)
		ic_wr32(b + VSS_FLAGS_OFF, 0);
	*answer_now = !vss_needs_embedder(op);
	act->reply_pending = !*answer_now;
	return VMB_OK;
}

int vss_guest_reply(struct ic_guest *g, uint32_t status, uint32_t flags,
		    uint8_t *out, size_t cap, size_t *out_len)
{
	if (!g->pending || g->svc != IC_SVC_VSS)
		return VMB_ENOENT;
	if (g->pending_op == VSS_OP_HOT_BACKUP)
		ic_wr32(g->req + IC_HDR_LEN + VSS_FLAGS_OFF, flags);
	return ic_guest_finish(g, status, out, cap, out_len);
}

int vss_host_request(struct ic_host *h, uint8_t op, uint8_t *out,
		     size_t cap, size_t *out_len)
{
	uint8_t *b;
	int rc;

	if (h->svc != IC_SVC_VSS || op >= VSS_OP_COUNT)
		return VMB_EINVAL;
	b = ic_host_begin(h, IC_MSG_VSS, sizeof(struct vss_msg), out, cap, &rc);
	if (!b)
		return rc;
	b[IC_OFF(struct vss_msg, op)] = op;
	return ic_host_commit(h, IC_MSG_VSS, op, sizeof(struct vss_msg),
			      out_len);
}

int vss_host_decode(struct ic_host *h, const struct ic_parsed *p,
		    struct ic_host_result *res, enum vmb_bad *why)
{
	res->vss_op = h->pend_op;
	res->vss_flags = 0;
	if (p->status != IC_S_OK)
		return VMB_OK;
	if (p->body_len < sizeof(struct vss_msg)) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	if (p->body[IC_OFF(struct vss_msg, op)] != h->pend_op) {
		*why = VMB_BAD_FIELD;
		return VMB_EPROTO;
	}
	res->vss_flags = ic_rd32(p->body + VSS_FLAGS_OFF);
	return VMB_OK;
}
