/* The host side of VSTOR on one channel, as a sans-I/O engine: each packet
 * the guest sent (already copied out of the ring) goes in, one action comes
 * out: a reply to send, a validated SRB to execute, sub-channels to offer,
 * or nothing. The embedder (storvsp on the channel's worker) does the I/O
 * and turns each SRB's outcome into its reply with vstor_host_complete().
 *
 * Every field from the guest is untrusted. A malformed or untimely
 * request is counted by reason; if the guest asked for a completion it
 * gets a failure reply (so it never waits for one), and the engine stays
 * as it was. Only the channel's worker calls in; the counters have that
 * one writer. */
#ifndef HVIS_VSTOR_HOST_H
#define HVIS_VSTOR_HOST_H

#include "storage/vstor_wire.h"
#include "vmbus/vmb_pkt.h"

struct vstor_host_cfg {
	uint16_t max_version;     /* highest version accepted (VSTOR_VERSION_*) */
	uint16_t max_subchannels; /* offered from 5.1; 0: no multi-channel */
	uint32_t max_transfer;    /* bytes one SRB may move */
	bool primary;             /* sub-channels carry only SRBs and resets */
};

enum vstor_host_state {
	VSTOR_HS_IDLE,    /* waiting for BEGIN_INITIALIZATION */
	VSTOR_HS_BEGUN,   /* waiting for an acceptable version */
	VSTOR_HS_VERSION, /* version agreed: properties, END_INITIALIZATION */
	VSTOR_HS_READY    /* SRBs accepted */
};

/* Why a request was refused. */
enum vstor_host_bad {
	VSTOR_HBAD_SHORT,      /* packet shorter than its operation needs */
	VSTOR_HBAD_TYPE,       /* wrong packet type, or no completion asked */
	VSTOR_HBAD_OP,         /* operation a guest does not send */
	VSTOR_HBAD_STATE,      /* valid operation at the wrong time or place */
	VSTOR_HBAD_VERSION,    /* version not supported (not a fault) */
	VSTOR_HBAD_SUBCH,      /* sub-channel count 0, too many, or twice */
	VSTOR_HBAD_CDB,        /* cdb_length 0 or above 16 */
	VSTOR_HBAD_SENSE,      /* sense_info_length above the version's buffer */
	VSTOR_HBAD_DIR,        /* data_in not 0, 1 or 2, or none with data */
	VSTOR_HBAD_RANGES,     /* data without exactly one valid range */
	VSTOR_HBAD_XFER,       /* length past the range or above max_transfer */
	VSTOR_HBAD__COUNT
};

const char *vstor_host_bad_name(enum vstor_host_bad b);

struct vstor_host_stats {
	uint64_t srbs;    /* SRBs handed to the embedder */
	uint64_t resets;  /* RESET_LUN/BUS/ADAPTER answered */
	uint64_t bad[VSTOR_HBAD__COUNT];
};

struct vstor_host {
	struct vstor_host_cfg cfg;
	enum vstor_host_state state;
	uint16_t version;     /* agreed, once state >= VERSION */
	bool subch_done;
	struct vstor_host_stats st;
};

/* A validated SRB: what the embedder needs to execute it and reply. */
struct vstor_host_srb {
	uint64_t xid;
	uint8_t path, target, lun;
	uint8_t cdb_len;            /* 1..16 */
	uint8_t cdb[VSTOR_CDB_MAX];
	uint8_t dir;                /* VSTOR_DIR_*; NONE when xfer_len is 0 */
	uint8_t sense_len;          /* the guest's room, <= the version's */
	uint32_t xfer_len;          /* <= range.byte_count, <= max_transfer */
	struct vmb_gpa_range range; /* when xfer_len > 0; pfn points into the
				       packet the embedder passed in */
};

enum vstor_host_act_kind {
	VSTOR_HA_NONE,        /* nothing to send */
	VSTOR_HA_REPLY,       /* send reply as a completion of xid */
	VSTOR_HA_SRB,         /* execute srb, then vstor_host_complete() */
	VSTOR_HA_SUBCHANNELS  /* offer subchannels, then send reply */
};

struct vstor_host_act {
	enum vstor_host_act_kind kind;
	uint64_t xid;
	uint32_t reply_len;
	uint8_t reply[VSTOR_PKT_LEN];
	uint16_t subchannels;
	struct vstor_host_srb srb;
};

/* cfg.max_version is clamped to the versions this engine knows. */
void vstor_host_init(struct vstor_host *h, const struct vstor_host_cfg *cfg);

/* A sub-channel's engine starts where its primary ended: ready at the
 * primary's version. */
void vstor_host_attach(struct vstor_host *h, uint16_t version);

void vstor_host_rx(struct vstor_host *h, const struct vmb_pkt *pkt,
		   struct vstor_host_act *a);

/* How an SRB ended, as the SCSI target said. */
struct vstor_srb_result {
	uint8_t srb_status;   /* enum scsi_srb */
	uint8_t scsi_status;
	uint32_t moved;       /* bytes transferred */
	const uint8_t *sense; /* may be NULL */
	uint32_t sense_len;
};

/* The COMPLETE_IO reply for s; returns its length (the version's packet
 * length). Sense is cut to s->sense_len; AUTOSENSE_VALID set when any is
 * left. */
uint32_t vstor_host_complete(const struct vstor_host *h,
			     const struct vstor_host_srb *s,
			     const struct vstor_srb_result *r,
			     uint8_t out[VSTOR_PKT_LEN]);

/* The unsolicited ENUMERATE_BUS telling the guest the LUNs changed (send
 * inband, transaction id 0, no completion). Returns its length, or 0
 * before 4.2, where the message does not exist. */
uint32_t vstor_host_enumerate(const struct vstor_host *h,
			      uint8_t out[VSTOR_PKT_LEN]);

/* The packet status (NTSTATUS) Hyper-V pairs with an SRB status code. */
uint32_t vstor_ntstatus(uint8_t srb_status);

#endif
