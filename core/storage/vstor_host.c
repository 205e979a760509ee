/* The host side of VSTOR: the init sequence and SRB validation. */
#include "storage/vstor_host.h"
#include "scsi/scsi_disk.h"

static const char *const bad_names[VSTOR_HBAD__COUNT] = {
	[VSTOR_HBAD_SHORT] = "short",
	[VSTOR_HBAD_TYPE] = "packet-type",
	[VSTOR_HBAD_OP] = "operation",
	[VSTOR_HBAD_STATE] = "state",
	[VSTOR_HBAD_VERSION] = "version",
	[VSTOR_HBAD_SUBCH] = "subchannels",
	[VSTOR_HBAD_CDB] = "cdb-length",
	[VSTOR_HBAD_SENSE] = "sense-length",
	[VSTOR_HBAD_DIR] = "direction",
	[VSTOR_HBAD_RANGES] = "ranges",
	[VSTOR_HBAD_XFER] = "transfer-length",
};

const char *vstor_host_bad_name(enum vstor_host_bad b)
{
	return (unsigned)b < VSTOR_HBAD__COUNT ? bad_names[b] : "?";
}

static bool version_known(uint16_t v)
{
	return v == VSTOR_VERSION_WIN6 || v == VSTOR_VERSION_WIN7 ||
	       v == VSTOR_VERSION_WIN8 || v == VSTOR_VERSION_BLUE ||
	       v == VSTOR_VERSION_WIN10;
}

void vstor_host_init(struct vstor_host *h, const struct vstor_host_cfg *cfg)
{
	vmb_memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	if (h->cfg.max_version > VSTOR_VERSION_WIN10)
		h->cfg.max_version = VSTOR_VERSION_WIN10;
	h->state = VSTOR_HS_IDLE;
}

void vstor_host_attach(struct vstor_host *h, uint16_t version)
{
	h->version = version;
	h->state = VSTOR_HS_READY;
}

uint32_t vstor_ntstatus(uint8_t srb_status)
{
	switch (srb_status & VSTOR_SRB_STATUS_MASK) {
	case SCSI_SRB_SUCCESS:
		return VSTOR_ST_SUCCESS;
	case SCSI_SRB_BUSY:
		return VSTOR_ST_DEVICE_BUSY;
	case SCSI_SRB_INVALID_LUN:
	case SCSI_SRB_INVALID_TARGET:
	case SCSI_SRB_NO_DEVICE:
	case SCSI_SRB_NO_HBA:
		return VSTOR_ST_NO_SUCH_DEVICE;
	case SCSI_SRB_TIMEOUT:
		return VSTOR_ST_IO_TIMEOUT;
	case SCSI_SRB_DATA_OVERRUN:
		return VSTOR_ST_BUFFER_OVERFLOW;
	case SCSI_SRB_ABORTED:
		return VSTOR_ST_CANCELLED;
	default:
		return VSTOR_ST_IO_DEVICE_ERROR;
	}
}

/* A reply of the request's own length, as Windows guests expect: the
 * header and at most the 52 bytes of the largest union. */
static void reply(struct vstor_host_act *a, const struct vmb_pkt *pkt,
		  const struct vstor_packet *rp)
{
	uint32_t len = pkt->payload_len < VSTOR_PKT_LEN ? pkt->payload_len
							: VSTOR_PKT_LEN;

	a->kind = VSTOR_HA_REPLY;
	a->reply_len = len;
	vmb_memcpy(a->reply, rp, len);
}

static void reply_status(struct vstor_host_act *a, const struct vmb_pkt *pkt,
			 uint32_t status)
{
	struct vstor_packet rp = {
		.operation = VSTOR_OP_COMPLETE_IO,
		.status = status,
	};

	reply(a, pkt, &rp);
}

/* Count the refusal; answer it if the guest waits for an answer. */
static void refuse(struct vstor_host *h, struct vstor_host_act *a,
		   const struct vmb_pkt *pkt, enum vstor_host_bad why,
		   uint32_t status)
{
	h->st.bad[why]++;
	if (pkt->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED)
		reply_status(a, pkt, status);
}

static void on_version(struct vstor_host *h, struct vstor_host_act *a,
		       const struct vmb_pkt *pkt, const struct vstor_packet *p)
{
	struct vstor_packet rp = {
		.operation = VSTOR_OP_COMPLETE_IO,
		.version = p->version,
	};
	uint16_t v = p->version.major_minor;

	if (h->state != VSTOR_HS_BEGUN && h->state != VSTOR_HS_VERSION) {
		refuse(h, a, pkt, VSTOR_HBAD_STATE,
		       VSTOR_ST_INVALID_DEVICE_STATE);
		return;
	}
	if (!version_known(v) || v > h->cfg.max_version) {
		/* The guest tries an older one next: state unchanged. */
		h->st.bad[VSTOR_HBAD_VERSION]++;
		rp.status = VSTOR_ST_REVISION_MISMATCH;
	} else {
		h->version = v;
		h->state = VSTOR_HS_VERSION;
	}
	reply(a, pkt, &rp);
}

static void on_properties(struct vstor_host *h, struct vstor_host_act *a,
			  const struct vmb_pkt *pkt)
{
	struct vstor_packet rp = { .operation = VSTOR_OP_COMPLETE_IO };

	if (h->state != VSTOR_HS_VERSION) {
		refuse(h, a, pkt, VSTOR_HBAD_STATE,
		       VSTOR_ST_INVALID_DEVICE_STATE);
		return;
	}
	rp.props.max_transfer_bytes = h->cfg.max_transfer;
	/* Multi-channel exists from 5.1 (Windows 8). */
	if (h->version >= VSTOR_VERSION_WIN8 && h->cfg.max_subchannels) {
		rp.props.flags = VSTOR_PROP_MULTI_CHANNEL;
		rp.props.max_channel_count = h->cfg.max_subchannels;
	}
	reply(a, pkt, &rp);
}

/* Accepted after the version is agreed (before or after END_INIT, as
 * guests differ), on the primary, once, from 5.1. */
static void on_subchannels(struct vstor_host *h, struct vstor_host_act *a,
			   const struct vmb_pkt *pkt,
			   const struct vstor_packet *p)
{
	uint16_t n = p->sub_channel_count;

	if (h->state < VSTOR_HS_VERSION || !h->cfg.primary ||
	    h->version < VSTOR_VERSION_WIN8) {
		refuse(h, a, pkt, VSTOR_HBAD_STATE,
		       VSTOR_ST_INVALID_DEVICE_STATE);
		return;
	}
	if (n == 0 || n > h->cfg.max_subchannels || h->subch_done) {
		refuse(h, a, pkt, VSTOR_HBAD_SUBCH,
		       VSTOR_ST_INVALID_PARAMETER);
		return;
	}
	h->subch_done = true;
	reply_status(a, pkt, VSTOR_ST_SUCCESS);
	a->kind = VSTOR_HA_SUBCHANNELS;
	a->subchannels = n;
}

/* Where the state allows op on this channel; init steps are checked by
 * their handlers. */
static bool op_allowed(const struct vstor_host *h, uint32_t op)
{
	switch (op) {
	case VSTOR_OP_EXECUTE_SRB:
	case VSTOR_OP_RESET_LUN:
	case VSTOR_OP_RESET_ADAPTER:
	case VSTOR_OP_RESET_BUS:
		return h->state == VSTOR_HS_READY;
	default:
		return h->cfg.primary;
	}
}

static void on_simple(struct vstor_host *h, struct vstor_host_act *a,
		      const struct vmb_pkt *pkt, uint32_t op)
{
	enum vstor_host_state need = op == VSTOR_OP_BEGIN_INIT
					     ? VSTOR_HS_IDLE
					     : VSTOR_HS_VERSION;

	if (op == VSTOR_OP_BEGIN_INIT || op == VSTOR_OP_END_INIT) {
		if (h->state != need) {
			refuse(h, a, pkt, VSTOR_HBAD_STATE,
			       VSTOR_ST_INVALID_DEVICE_STATE);
			return;
		}
		h->state = need == VSTOR_HS_IDLE ? VSTOR_HS_BEGUN
						 : VSTOR_HS_READY;
	} else {
		/* Resets: nothing is queued in the engine; storvsp has
		 * always answered them without doing anything. */
		h->st.resets++;
	}
	reply_status(a, pkt, VSTOR_ST_SUCCESS);
}

/* The data range: exactly one, covering the transfer. */
static enum vstor_host_bad srb_range(const struct vmb_pkt *pkt,
				     struct vstor_host_srb *s)
{
	unsigned n;

	if (pkt->type != VMB_PKT_GPA_DIRECT ||
	    vmb_pkt_gpa_ranges(pkt, &s->range, 1, &n) || n != 1)
		return VSTOR_HBAD_RANGES;
	if (s->range.byte_count < s->xfer_len)
		return VSTOR_HBAD_XFER;
	return VSTOR_HBAD__COUNT;
}

static enum vstor_host_bad srb_check(const struct vstor_host *h,
				     const struct vmb_pkt *pkt,
				     const struct vstor_srb *r,
				     struct vstor_host_srb *s)
{
	/* Who the SRB is for, so that even a refusal names it. */
	*s = (struct vstor_host_srb){
		.xid = pkt->xid, .path = r->path, .target = r->target,
		.lun = r->lun, .cdb_len = r->cdb_length, .dir = VSTOR_DIR_NONE,
	};
	if (r->cdb_length == 0 || r->cdb_length > VSTOR_CDB_MAX)
		return VSTOR_HBAD_CDB;
	if (r->sense_info_length > vstor_sense_max(h->version))
		return VSTOR_HBAD_SENSE;
	if (r->data_in > VSTOR_DIR_NONE ||
	    (r->data_in == VSTOR_DIR_NONE && r->data_transfer_length))
		return VSTOR_HBAD_DIR;
	if (r->data_transfer_length > h->cfg.max_transfer)
		return VSTOR_HBAD_XFER;
	vmb_memcpy(s->cdb, r->cdb, VSTOR_CDB_MAX);
	s->sense_len = r->sense_info_length;
	s->xfer_len = r->data_transfer_length;
	s->dir = s->xfer_len ? r->data_in : VSTOR_DIR_NONE;
	return s->xfer_len ? srb_range(pkt, s) : VSTOR_HBAD__COUNT;
}

/* A refused SRB completes as INVALID_REQUEST, so the guest's command
 * ends with an error instead of waiting. */
static void on_srb(struct vstor_host *h, struct vstor_host_act *a,
		   const struct vmb_pkt *pkt, const struct vstor_packet *p)
{
	struct vstor_srb_result res = { .srb_status = SCSI_SRB_INVALID_REQUEST };
	enum vstor_host_bad why;

	if (pkt->payload_len < vstor_pkt_len(h->version)) {
		refuse(h, a, pkt, VSTOR_HBAD_SHORT, VSTOR_ST_INVALID_PARAMETER);
		return;
	}
	why = srb_check(h, pkt, &p->srb, &a->srb);
	if (why == VSTOR_HBAD__COUNT) {
		h->st.srbs++;
		a->kind = VSTOR_HA_SRB;
		return;
	}
	h->st.bad[why]++;
	a->srb.sense_len = 0;
	a->kind = VSTOR_HA_REPLY;
	a->reply_len = vstor_host_complete(h, &a->srb, &res, a->reply);
}

static void dispatch(struct vstor_host *h, struct vstor_host_act *a,
		     const struct vmb_pkt *pkt, const struct vstor_packet *p)
{
	switch (p->operation) {
	case VSTOR_OP_EXECUTE_SRB:
		on_srb(h, a, pkt, p);
		break;
	case VSTOR_OP_QUERY_PROTOCOL_VERSION:
		on_version(h, a, pkt, p);
		break;
	case VSTOR_OP_QUERY_PROPERTIES:
		on_properties(h, a, pkt);
		break;
	case VSTOR_OP_CREATE_SUB_CHANNELS:
		on_subchannels(h, a, pkt, p);
		break;
	case VSTOR_OP_BEGIN_INIT:
	case VSTOR_OP_END_INIT:
	case VSTOR_OP_RESET_LUN:
	case VSTOR_OP_RESET_ADAPTER:
	case VSTOR_OP_RESET_BUS:
		on_simple(h, a, pkt, p->operation);
		break;
	default:
		refuse(h, a, pkt, VSTOR_HBAD_OP, VSTOR_ST_INVALID_PARAMETER);
	}
}

void vstor_host_rx(struct vstor_host *h, const struct vmb_pkt *pkt,
		   struct vstor_host_act *a)
{
	struct vstor_packet p = { .operation = 0 };

	a->kind = VSTOR_HA_NONE;
	a->xid = pkt->xid;
	a->reply_len = 0;
	if (!(pkt->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED) ||
	    (pkt->type != VMB_PKT_INBAND && pkt->type != VMB_PKT_GPA_DIRECT)) {
		h->st.bad[VSTOR_HBAD_TYPE]++;
		return;
	}
	/* The smallest packet any version sends is 48 bytes. */
	if (pkt->payload_len < VSTOR_PKT_LEN_WIN7) {
		refuse(h, a, pkt, VSTOR_HBAD_SHORT, VSTOR_ST_INVALID_PARAMETER);
		return;
	}
	vmb_memcpy(&p, pkt->payload, pkt->payload_len < sizeof(p)
					     ? pkt->payload_len
					     : sizeof(p));
	if (!op_allowed(h, p.operation)) {
		refuse(h, a, pkt, VSTOR_HBAD_STATE,
		       VSTOR_ST_INVALID_DEVICE_STATE);
		return;
	}
	dispatch(h, a, pkt, &p);
}

uint32_t vstor_host_complete(const struct vstor_host *h,
			     const struct vstor_host_srb *s,
			     const struct vstor_srb_result *r,
			     uint8_t out[VSTOR_PKT_LEN])
{
	struct vstor_packet p = { .operation = VSTOR_OP_COMPLETE_IO };
	uint32_t sense = r->sense ? r->sense_len : 0;
	uint32_t len = vstor_pkt_len(h->version);

	if (sense > s->sense_len)
		sense = s->sense_len;
	p.status = vstor_ntstatus(r->srb_status);
	p.srb.length = (uint16_t)(len - VSTOR_PKT_HDR_LEN);
	p.srb.srb_status = (uint8_t)(r->srb_status & VSTOR_SRB_STATUS_MASK);
	p.srb.srb_status |= sense ? VSTOR_SRB_AUTOSENSE_VALID : 0;
	p.srb.scsi_status = r->scsi_status;
	p.srb.path = s->path;
	p.srb.target = s->target;
	p.srb.lun = s->lun;
	p.srb.cdb_length = s->cdb_len;
	p.srb.sense_info_length = (uint8_t)sense;
	p.srb.data_in = s->dir;
	p.srb.data_transfer_length = r->moved;
	if (sense)
		vmb_memcpy(p.srb.sense, r->sense, sense);
	vmb_memcpy(out, &p, len);
	return len;
}

uint32_t vstor_host_enumerate(const struct vstor_host *h,
			      uint8_t out[VSTOR_PKT_LEN])
{
	struct vstor_packet p = { .operation = VSTOR_OP_ENUMERATE_BUS };
	uint32_t len = vstor_pkt_len(h->version);

	if (h->version < VSTOR_VERSION_WIN7)
		return 0;
	vmb_memcpy(out, &p, len);
	return len;
}
