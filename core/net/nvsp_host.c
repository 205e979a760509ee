/* The host side of NVSP: the init sequence, buffers, RNDIS packets and
 * the messages the host starts. */
#include "net/nvsp_host.h"
#include "net/nvsp_rxbuf.h"

static const char *const bad_names[NVSP_HBAD__COUNT] = {
	[NVSP_HBAD_SHORT] = "short",
	[NVSP_HBAD_TYPE] = "packet-type",
	[NVSP_HBAD_MSG] = "message-type",
	[NVSP_HBAD_STATE] = "state",
	[NVSP_HBAD_VERSION] = "version",
	[NVSP_HBAD_MTU] = "mtu",
	[NVSP_HBAD_BUF_ID] = "buffer-id",
	[NVSP_HBAD_MAP] = "buffer-size",
	[NVSP_HBAD_CHANNEL] = "channel-type",
	[NVSP_HBAD_SECTION] = "send-section",
	[NVSP_HBAD_RANGES] = "ranges",
	[NVSP_HBAD_SUBCH] = "subchannels",
	[NVSP_HBAD_DATAPATH] = "data-path",
	[NVSP_HBAD_COMPLETION] = "completion",
};

const char *nvsp_host_bad_name(enum nvsp_host_bad b)
{
	return (unsigned)b < NVSP_HBAD__COUNT ? bad_names[b] : "?";
}

void nvsp_host_init(struct nvsp_host *h, const struct nvsp_host_cfg *cfg)
{
	vmb_memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	if (h->cfg.max_version > NVSP_VERSION_61)
		h->cfg.max_version = NVSP_VERSION_61;
	if (h->cfg.max_subchannels > NVSP_MAX_SUBCHANNELS)
		h->cfg.max_subchannels = NVSP_MAX_SUBCHANNELS;
	h->mtu = NVSP_MTU_DEFAULT;
}

void nvsp_host_attach(struct nvsp_host *h, const struct nvsp_host *primary)
{
	*h = *primary;
	h->cfg.primary = false;
	h->subch_done = true;
	vmb_memset(&h->st, 0, sizeof(h->st));
}

/* ---- replies ---- */

static void reply_empty(struct nvsp_host_act *a)
{
	a->kind = NVSP_HA_REPLY;
	a->reply_due = true;
	a->reply_len = 0;
}

/* A message of the version's length (OpenVMM's 32 or 40 bytes). */
static void reply_msg(const struct nvsp_host *h, struct nvsp_host_act *a,
		      uint32_t type)
{
	a->kind = NVSP_HA_REPLY;
	a->reply_due = true;
	a->reply_len = nvsp_msg_len(h->version);
	vmb_memset(&a->reply, 0, sizeof(a->reply));
	a->reply.type = type;
}

/* The answer a request of this type gets when refused: its completion
 * message with status FAIL, or an empty completion for those that have
 * none. */
static void reply_fail(const struct nvsp_host *h, struct nvsp_host_act *a,
		       uint32_t type)
{
	switch (type) {
	case NVSP_TYPE_INIT:
		reply_msg(h, a, NVSP_TYPE_INIT_COMPLETE);
		a->reply.init_complete.negotiated_ver = 0xFFFFFFFFu;
		a->reply.init_complete.max_mdl_chain_len =
			NVSP_HOST_MAX_MDL_CHAIN;
		a->reply.init_complete.status = NVSP_STATUS_FAIL;
		break;
	case NVSP_TYPE_SEND_RECV_BUF:
	case NVSP_TYPE_SEND_SEND_BUF:
	case NVSP_TYPE_RNDIS_PKT:
	case NVSP_TYPE_SUBCHANNEL:
		/* Status at 4 in each of their completions. */
		reply_msg(h, a, type + (type == NVSP_TYPE_SUBCHANNEL ? 0 : 1));
		a->reply.rndis_complete.status = NVSP_STATUS_FAIL;
		break;
	default:
		reply_empty(a);
	}
}

/* Count the refusal; answer it if the guest waits for an answer. */
static void refuse(struct nvsp_host *h, struct nvsp_host_act *a,
		   enum nvsp_host_bad why, uint32_t type)
{
	h->st.bad[why]++;
	a->kind = NVSP_HA_NONE;
	if (a->completion)
		reply_fail(h, a, type);
}

static void reply_ok_empty(struct nvsp_host_act *a)
{
	if (a->completion)
		reply_empty(a);
}

/* ---- the init sequence ---- */

/* OpenVMM: the first version field against the known ones; NONE when
 * it matches none (the guest tries an older one next). */
static void on_init(struct nvsp_host *h, struct nvsp_host_act *a,
		    const union nvsp_msg *m)
{
	uint32_t v = m->init.min_ver;
	bool ok = nvsp_version_known(v) && v <= h->cfg.max_version;

	if (h->version) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	if (ok)
		h->version = v;
	else
		h->st.bad[NVSP_HBAD_VERSION]++;
	reply_msg(h, a, NVSP_TYPE_INIT_COMPLETE);
	a->reply.init_complete.negotiated_ver =
		v == NVSP_VERSION_1 && ok ? NVSP_VERSION_1 : 0xFFFFFFFFu;
	a->reply.init_complete.max_mdl_chain_len = NVSP_HOST_MAX_MDL_CHAIN;
	a->reply.init_complete.status = ok ? NVSP_STATUS_SUCCESS
					   : NVSP_STATUS_NONE;
}

/* Once, before the receive buffer (whose layout the MTU sets). */
static void on_config(struct nvsp_host *h, struct nvsp_host_act *a,
		      const union nvsp_msg *m)
{
	uint32_t mtu = m->ndis_config.mtu;

	if (h->version < NVSP_VERSION_2 || h->have_config ||
	    h->recv != NVSP_HB_NONE) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	if (mtu < NVSP_MTU_MIN || mtu > NVSP_MTU_MAX) {
		h->st.bad[NVSP_HBAD_MTU]++;
		mtu = NVSP_MTU_DEFAULT;
	}
	h->have_config = true;
	h->mtu = mtu;
	h->caps = m->ndis_config.caps;
	h->sriov = (h->caps & NVSP_CAP_SRIOV) && h->version >= NVSP_VERSION_4;
	h->rsc = (h->caps & NVSP_CAP_RSC) && h->version >= NVSP_VERSION_61;
	reply_ok_empty(a);
}

static void on_ndis_version(struct nvsp_host *h, struct nvsp_host_act *a,
			    const union nvsp_msg *m)
{
	if (!h->version || h->have_ndis_version) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	h->have_ndis_version = true;
	h->ndis_major = m->ndis_version.major;
	h->ndis_minor = m->ndis_version.minor;
	reply_ok_empty(a);
}

static void on_recv_buf(struct nvsp_host *h, struct nvsp_host_act *a,
			const union nvsp_msg *m)
{
	if (!h->version || h->recv != NVSP_HB_NONE ||
	    (h->version >= NVSP_VERSION_2 && !h->have_config)) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	if (m->send_buf.id != NVSP_RECV_BUF_ID) {
		refuse(h, a, NVSP_HBAD_BUF_ID, m->type);
		return;
	}
	h->recv = NVSP_HB_MAPPING;
	h->recv_gpadl = m->send_buf.gpadl;
	h->recv_xid = a->xid;
	a->kind = NVSP_HA_MAP_RECV;
	a->gpadl = m->send_buf.gpadl;
}

/* The id is not checked: Linux sends 0, the BSDs and DPDK 0xFACE. */
static void on_send_buf(struct nvsp_host *h, struct nvsp_host_act *a,
			const union nvsp_msg *m)
{
	if (!h->version || h->send != NVSP_HB_NONE) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	h->send = NVSP_HB_MAPPING;
	h->send_gpadl = m->send_buf.gpadl;
	h->send_xid = a->xid;
	a->kind = NVSP_HA_MAP_SEND;
	a->gpadl = m->send_buf.gpadl;
}

static void mapped_act(struct nvsp_host_act *a, uint64_t xid)
{
	vmb_memset(a, 0, sizeof(*a));
	a->xid = xid;
	a->completion = true;
}

void nvsp_host_recv_mapped(struct nvsp_host *h, uint32_t size,
			   struct nvsp_host_act *a)
{
	uint32_t sub = nvsp_host_sub_alloc_size(h->mtu);
	uint32_t n = size / sub;

	mapped_act(a, h->recv_xid);
	if (h->recv != NVSP_HB_MAPPING)
		return;
	/* Room for the control reserve and at least one for data. */
	if (n <= NVSP_RXBUF_CONTROL) {
		h->recv = NVSP_HB_NONE;
		refuse(h, a, NVSP_HBAD_MAP, NVSP_TYPE_SEND_RECV_BUF);
		return;
	}
	h->recv = NVSP_HB_MAPPED;
	h->recv_size = size;
	h->layout = (struct nvsp_recv_section){
		.offset = 0, .sub_alloc_size = sub, .num_sub_allocs = n,
		.end_offset = n * sub,
	};
	reply_msg(h, a, NVSP_TYPE_SEND_RECV_BUF_COMPLETE);
	a->reply.recv_buf_complete.status = NVSP_STATUS_SUCCESS;
	a->reply.recv_buf_complete.num_sections = 1;
	a->reply.recv_buf_complete.section = h->layout;
}

void nvsp_host_send_mapped(struct nvsp_host *h, uint32_t size,
			   struct nvsp_host_act *a)
{
	uint32_t n = size / NVSP_HOST_SEND_SECTION;

	mapped_act(a, h->send_xid);
	if (h->send != NVSP_HB_MAPPING)
		return;
	if (n == 0) {
		h->send = NVSP_HB_NONE;
		refuse(h, a, NVSP_HBAD_MAP, NVSP_TYPE_SEND_SEND_BUF);
		return;
	}
	h->send = NVSP_HB_MAPPED;
	h->send_sections = n;
	reply_msg(h, a, NVSP_TYPE_SEND_SEND_BUF_COMPLETE);
	a->reply.send_buf_complete.status = NVSP_STATUS_SUCCESS;
	a->reply.send_buf_complete.section_size = NVSP_HOST_SEND_SECTION;
}

static void on_revoke(struct nvsp_host *h, struct nvsp_host_act *a,
		      const union nvsp_msg *m)
{
	bool recv = m->type == NVSP_TYPE_REVOKE_RECV_BUF;
	enum nvsp_host_buf *b = recv ? &h->recv : &h->send;

	if (*b != NVSP_HB_MAPPED) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	if (recv && m->revoke.id != NVSP_RECV_BUF_ID) {
		refuse(h, a, NVSP_HBAD_BUF_ID, m->type);
		return;
	}
	*b = NVSP_HB_NONE;
	if (!recv)
		h->send_sections = 0;
	reply_ok_empty(a);
	a->kind = recv ? NVSP_HA_REVOKE_RECV : NVSP_HA_REVOKE_SEND;
}

/* ---- RNDIS packets ---- */

/* In a send section (sent inband), or in the packet's page ranges. */
static enum nvsp_host_bad rndis_where(const struct nvsp_host *h,
				      const struct vmb_pkt *pkt,
				      const struct nvsp_rndis_pkt *r,
				      struct nvsp_host_rndis *o)
{
	unsigned n = 0;

	o->section = r->section_index;
	if (r->section_index != NVSP_SECTION_NONE) {
		if (pkt->type != VMB_PKT_INBAND)
			return NVSP_HBAD_RANGES;
		if (h->send != NVSP_HB_MAPPED ||
		    r->section_index >= h->send_sections ||
		    r->section_size == 0 ||
		    r->section_size > NVSP_HOST_SEND_SECTION)
			return NVSP_HBAD_SECTION;
		o->offset = r->section_index * NVSP_HOST_SEND_SECTION;
		o->size = r->section_size;
		return NVSP_HBAD__COUNT;
	}
	if (pkt->type != VMB_PKT_GPA_DIRECT ||
	    vmb_pkt_gpa_ranges(pkt, o->ranges, VMB_PKT_MAX_GPA_RANGES, &n) ||
	    n == 0)
		return NVSP_HBAD_RANGES;
	o->nranges = n;
	return NVSP_HBAD__COUNT;
}

static void on_rndis(struct nvsp_host *h, struct nvsp_host_act *a,
		     const struct vmb_pkt *pkt, const union nvsp_msg *m)
{
	enum nvsp_host_bad why = NVSP_HBAD__COUNT;

	if (h->recv != NVSP_HB_MAPPED)
		why = NVSP_HBAD_STATE;
	else if (m->rndis.channel_type > NVSP_CHANNEL_CONTROL)
		why = NVSP_HBAD_CHANNEL;
	else
		why = rndis_where(h, pkt, &m->rndis, &a->rndis);
	if (why != NVSP_HBAD__COUNT) {
		refuse(h, a, why, m->type);
		return;
	}
	a->rndis.channel_type = m->rndis.channel_type;
	a->kind = NVSP_HA_RNDIS;
	h->st.rndis++;
}

/* ---- multi-channel and the data path ---- */

static void on_subch(struct nvsp_host *h, struct nvsp_host_act *a,
		     const union nvsp_msg *m)
{
	uint32_t n = m->subch_req.num;

	if (h->version < NVSP_VERSION_5 || h->recv != NVSP_HB_MAPPED) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	if (m->subch_req.op != NVSP_SUBCHANNEL_ALLOCATE || n == 0 ||
	    n > h->cfg.max_subchannels || h->subch_done) {
		refuse(h, a, NVSP_HBAD_SUBCH, m->type);
		return;
	}
	h->subch_done = true;
	reply_msg(h, a, NVSP_TYPE_SUBCHANNEL);
	a->reply.subch_resp.status = NVSP_STATUS_SUCCESS;
	a->reply.subch_resp.num = n;
	a->kind = NVSP_HA_SUBCHANNELS;
	a->subchannels = (uint16_t)n;
}

/* Linux waits for an empty completion. To the VF only when the guest
 * asked for SR-IOV. */
static void on_datapath(struct nvsp_host *h, struct nvsp_host_act *a,
			const union nvsp_msg *m)
{
	uint32_t dp = m->datapath.active_datapath;

	if (h->version < NVSP_VERSION_4 || h->recv != NVSP_HB_MAPPED ||
	    (dp == NVSP_DATAPATH_VF && !h->sriov)) {
		refuse(h, a, NVSP_HBAD_STATE, m->type);
		return;
	}
	if (dp > NVSP_DATAPATH_VF) {
		refuse(h, a, NVSP_HBAD_DATAPATH, m->type);
		return;
	}
	reply_ok_empty(a);
	a->kind = NVSP_HA_DATAPATH;
	a->vf = dp == NVSP_DATAPATH_VF;
}

/* The guest's completions: receive buffers given back, and answers to
 * the host's own VF and data-path messages (any payload). */
static void on_completion(struct nvsp_host *h, struct nvsp_host_act *a,
			  const struct vmb_pkt *pkt)
{
	uint32_t type = 0;

	if (pkt->xid == NVSP_XID_VF_ASSOCIATION ||
	    pkt->xid == NVSP_XID_SWITCH_DATA_PATH)
		return;
	if (pkt->payload_len >= sizeof(struct nvsp_rndis_pkt_complete))
		vmb_memcpy(&type, pkt->payload, sizeof(type));
	if (type != NVSP_TYPE_RNDIS_PKT_COMPLETE) {
		h->st.bad[NVSP_HBAD_COMPLETION]++;
		return;
	}
	if (h->recv != NVSP_HB_MAPPED) {
		h->st.bad[NVSP_HBAD_STATE]++;
		return;
	}
	h->st.rx_done++;
	a->kind = NVSP_HA_RX_DONE;
}

/* The bytes each message's fields need. */
static uint32_t msg_min(uint32_t type)
{
	switch (type) {
	case NVSP_TYPE_NDIS_CONFIG:
		return sizeof(struct nvsp_ndis_config);
	case NVSP_TYPE_REVOKE_RECV_BUF:
	case NVSP_TYPE_REVOKE_SEND_BUF:
		return sizeof(struct nvsp_revoke_buf);
	case NVSP_TYPE_RNDIS_PKT:
		return sizeof(struct nvsp_rndis_pkt);
	case NVSP_TYPE_SWITCH_DATA_PATH:
		return sizeof(struct nvsp_switch_data_path);
	default: /* INIT, NDIS_VERSION, SEND_*_BUF, SUBCHANNEL; others */
		return sizeof(struct nvsp_init);
	}
}

/* Requests whose answer carries what the guest needs: useless without a
 * completion. */
static bool needs_completion(uint32_t type)
{
	return type == NVSP_TYPE_INIT || type == NVSP_TYPE_SEND_RECV_BUF ||
	       type == NVSP_TYPE_SEND_SEND_BUF || type == NVSP_TYPE_SUBCHANNEL;
}

static void dispatch(struct nvsp_host *h, struct nvsp_host_act *a,
		     const struct vmb_pkt *pkt, const union nvsp_msg *m)
{
	switch (m->type) {
	case NVSP_TYPE_INIT:
		on_init(h, a, m);
		break;
	case NVSP_TYPE_NDIS_CONFIG:
		on_config(h, a, m);
		break;
	case NVSP_TYPE_NDIS_VERSION:
		on_ndis_version(h, a, m);
		break;
	case NVSP_TYPE_SEND_RECV_BUF:
		on_recv_buf(h, a, m);
		break;
	case NVSP_TYPE_SEND_SEND_BUF:
		on_send_buf(h, a, m);
		break;
	case NVSP_TYPE_REVOKE_RECV_BUF:
	case NVSP_TYPE_REVOKE_SEND_BUF:
		on_revoke(h, a, m);
		break;
	case NVSP_TYPE_RNDIS_PKT:
		on_rndis(h, a, pkt, m);
		break;
	case NVSP_TYPE_SUBCHANNEL:
		on_subch(h, a, m);
		break;
	case NVSP_TYPE_SWITCH_DATA_PATH:
		on_datapath(h, a, m);
		break;
	default:
		refuse(h, a, NVSP_HBAD_MSG, m->type);
	}
}

/* Before dispatch: the packet type, the length, and the channel. */
static enum nvsp_host_bad precheck(const struct nvsp_host *h,
				   const struct vmb_pkt *pkt,
				   const union nvsp_msg *m)
{
	if (pkt->type != VMB_PKT_INBAND && pkt->type != VMB_PKT_GPA_DIRECT)
		return NVSP_HBAD_TYPE;
	if (pkt->payload_len < sizeof(m->type))
		return NVSP_HBAD_SHORT;
	if (pkt->type == VMB_PKT_GPA_DIRECT && m->type != NVSP_TYPE_RNDIS_PKT)
		return NVSP_HBAD_TYPE;
	if (needs_completion(m->type) &&
	    !(pkt->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED))
		return NVSP_HBAD_TYPE;
	if (pkt->payload_len < msg_min(m->type))
		return NVSP_HBAD_SHORT;
	if (!h->cfg.primary && m->type != NVSP_TYPE_RNDIS_PKT)
		return NVSP_HBAD_STATE;
	return NVSP_HBAD__COUNT;
}

_Static_assert(offsetof(struct nvsp_host_act, rndis.ranges) +
		       sizeof(((struct nvsp_host_act *)0)->rndis.ranges) ==
	       sizeof(struct nvsp_host_act),
	       "the ranges end the action");

void nvsp_host_rx(struct nvsp_host *h, const struct vmb_pkt *pkt,
		  struct nvsp_host_act *a)
{
	union nvsp_msg m = { .type = 0 };
	enum nvsp_host_bad why;

	/* The ranges (last) are written only for an RNDIS action: 768
	 * bytes not cleared per packet. */
	vmb_memset(a, 0, sizeof(*a) - sizeof(a->rndis.ranges));
	a->xid = pkt->xid;
	a->completion = pkt->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED;
	if (pkt->type == VMB_PKT_COMP) {
		a->completion = false;
		on_completion(h, a, pkt);
		return;
	}
	vmb_memcpy(&m, pkt->payload, pkt->payload_len < sizeof(m)
					     ? pkt->payload_len
					     : sizeof(m));
	why = precheck(h, pkt, &m);
	if (why != NVSP_HBAD__COUNT)
		refuse(h, a, why, m.type);
	else
		dispatch(h, a, pkt, &m);
}

/* ---- messages the host sends ---- */

static uint32_t host_msg(const struct nvsp_host *h, union nvsp_msg *m,
			 uint32_t type)
{
	vmb_memset(m, 0, sizeof(*m));
	m->type = type;
	return nvsp_msg_len(h->version);
}

uint32_t nvsp_host_rndis_done(const struct nvsp_host *h, uint32_t status,
			      union nvsp_msg *m)
{
	uint32_t len = host_msg(h, m, NVSP_TYPE_RNDIS_PKT_COMPLETE);

	m->rndis_complete.status = status;
	return len;
}

uint32_t nvsp_host_rndis_pkt(const struct nvsp_host *h, uint32_t channel_type,
			     union nvsp_msg *m)
{
	uint32_t len = host_msg(h, m, NVSP_TYPE_RNDIS_PKT);

	m->rndis.channel_type = channel_type;
	m->rndis.section_index = NVSP_SECTION_NONE;
	return len;
}

uint32_t nvsp_host_send_table(const struct nvsp_host *h, uint32_t channels,
			      uint8_t out[NVSP_TX_TABLE_MSG_LEN])
{
	struct nvsp_indirection_table t = {
		.type = NVSP_TYPE_SEND_INDIRECTION_TABLE,
		.count = NVSP_TX_TABLE_LEN,
		.offset = NVSP_TX_TABLE_OFFSET,
	};

	if (h->version < NVSP_VERSION_5 || channels < 2)
		return 0;
	vmb_memcpy(out, &t, sizeof(t));
	for (uint32_t i = 0; i < NVSP_TX_TABLE_LEN; i++) {
		uint32_t e = vmb_le32(i % channels);

		vmb_memcpy(out + NVSP_TX_TABLE_OFFSET + 4 * i, &e, 4);
	}
	return NVSP_TX_TABLE_MSG_LEN;
}

uint32_t nvsp_host_vf_association(const struct nvsp_host *h, bool allocated,
				  uint32_t serial, union nvsp_msg *m)
{
	uint32_t len = host_msg(h, m, NVSP_TYPE_VF_ASSOCIATION);

	if (!h->sriov)
		return 0;
	m->vf.allocated = allocated;
	m->vf.serial = serial;
	return len;
}

uint32_t nvsp_host_switch_datapath(const struct nvsp_host *h, bool vf,
				   union nvsp_msg *m)
{
	uint32_t len = host_msg(h, m, NVSP_TYPE_SWITCH_DATA_PATH);

	if (h->version < NVSP_VERSION_4)
		return 0;
	m->datapath.active_datapath = vf ? NVSP_DATAPATH_VF
					 : NVSP_DATAPATH_SYNTHETIC;
	return len;
}
