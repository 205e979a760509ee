/* Common IC framework: the version tables and the header codec. */
#include "ic_priv.h"

/* Framework 1.0 (WS2008) and 3.0: Linux hv_util.c fw_versions, OpenVMM
 * hyperv_ic common.rs FRAMEWORK_VERSIONS. VSS uses 3.0 only
 * (hv_snapshot.c). */
static const struct ic_ver fw_all[] = { { 3, 0 }, { 1, 0 } };
static const struct ic_ver fw_vss[] = { { 3, 0 } };

/* Linux hv_util.c hb_versions. */
static const struct ic_ver hb_vers[] = { { 3, 0 }, { 1, 0 } };
/* Linux hv_util.c sd_versions, OpenVMM shutdown.rs. */
static const struct ic_ver sd_vers[] = { { 3, 2 }, { 3, 1 }, { 3, 0 },
					 { 1, 0 } };
/* Linux hv_util.c ts_versions, OpenVMM timesync.rs. */
static const struct ic_ver ts_vers[] = { { 4, 0 }, { 3, 0 }, { 1, 0 } };
/* Linux hv_kvp.c kvp_versions (1.0 WS2008, 3.0 WIN7/WS2008 R2, 4.0 WIN8) and
 * OpenVMM kvp.rs KVP_VERSIONS (3.0, 4.0, 5.0 with binary IP info). */
static const struct ic_ver kvp_vers[] = { { 5, 0 }, { 4, 0 }, { 3, 0 },
					  { 1, 0 } };
/* Linux hv_snapshot.c vss_versions. */
static const struct ic_ver vss_vers[] = { { 5, 0 } };

void ic_versions(enum ic_service svc, const struct ic_ver **fw,
		 unsigned *nfw, const struct ic_ver **msg, unsigned *nmsg)
{
	*fw = fw_all;
	*nfw = VMB_ARRAY_LEN(fw_all);
	switch (svc) {
	case IC_SVC_HEARTBEAT:
		*msg = hb_vers;
		*nmsg = VMB_ARRAY_LEN(hb_vers);
		break;
	case IC_SVC_SHUTDOWN:
		*msg = sd_vers;
		*nmsg = VMB_ARRAY_LEN(sd_vers);
		break;
	case IC_SVC_TIMESYNC:
		*msg = ts_vers;
		*nmsg = VMB_ARRAY_LEN(ts_vers);
		break;
	case IC_SVC_KVP:
		*msg = kvp_vers;
		*nmsg = VMB_ARRAY_LEN(kvp_vers);
		break;
	case IC_SVC_VSS:
		*fw = fw_vss;
		*nfw = VMB_ARRAY_LEN(fw_vss);
		*msg = vss_vers;
		*nmsg = VMB_ARRAY_LEN(vss_vers);
		break;
	default:
		*nfw = 0;
		*msg = NULL;
		*nmsg = 0;
		break;
	}
}

int ic_parse(const void *payload, size_t len, struct ic_parsed *p,
	     enum vmb_bad *why)
{
	const uint8_t *b = payload;
	uint32_t msgsize;

	if (len < IC_HDR_LEN) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	msgsize = ic_rd32(b + IC_OFF(struct ic_pipe_hdr, msgsize));
	if (msgsize > len - sizeof(struct ic_pipe_hdr) ||
	    msgsize < sizeof(struct ic_msg_hdr)) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	const uint8_t *h = b + sizeof(struct ic_pipe_hdr);
	p->msg = b;
	p->msg_len = (uint32_t)sizeof(struct ic_pipe_hdr) + msgsize;
	p->type = ic_rd16(h + IC_OFF(struct ic_msg_hdr, type));
	p->body_len = ic_rd16(h + IC_OFF(struct ic_msg_hdr, size));
	p->status = ic_rd32(h + IC_OFF(struct ic_msg_hdr, status));
	p->xid = h[IC_OFF(struct ic_msg_hdr, xid)];
	p->flags = h[IC_OFF(struct ic_msg_hdr, flags)];
	p->body = b + IC_HDR_LEN;
	if (p->body_len > msgsize - sizeof(struct ic_msg_hdr)) {
		*why = VMB_BAD_TRUNCATED;
		return VMB_EPROTO;
	}
	return VMB_OK;
}

void ic_put_hdr(uint8_t *out, struct ic_ver fw, struct ic_ver msg,
		uint16_t type, uint32_t body_len, uint32_t status, uint8_t xid,
		uint8_t flags)
{
	uint8_t *h = out + sizeof(struct ic_pipe_hdr);

	ic_wr32(out + IC_OFF(struct ic_pipe_hdr, flags), IC_PIPE_DATA);
	ic_wr32(out + IC_OFF(struct ic_pipe_hdr, msgsize),
		(uint32_t)sizeof(struct ic_msg_hdr) + body_len);
	vmb_memset(h, 0, sizeof(struct ic_msg_hdr));
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, fw_ver.major), fw.major);
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, fw_ver.minor), fw.minor);
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, type), type);
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, msg_ver.major), msg.major);
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, msg_ver.minor), msg.minor);
	ic_wr16(h + IC_OFF(struct ic_msg_hdr, size), (uint16_t)body_len);
	ic_wr32(h + IC_OFF(struct ic_msg_hdr, status), status);
	h[IC_OFF(struct ic_msg_hdr, xid)] = xid;
	h[IC_OFF(struct ic_msg_hdr, flags)] = flags;
}
