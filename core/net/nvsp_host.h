/* The host side of NVSP (netvsp) on one channel, primary or
 * sub-channel, as a sans-I/O engine: each packet the guest sent (already
 * copied out of the ring) goes in, one action comes out: a reply to
 * send, a GPADL to map as the receive or send buffer, a buffer to
 * unmap, RNDIS bytes to hand to the rndis layer, sub-channels to offer,
 * a data-path switch, or a receive buffer given back.
 *
 * The init sequence follows OpenVMM: INIT (the guest's first version
 * field against the known versions, status NONE when none matches),
 * NDIS_CONFIG (MTU 1514..9216, else 1514; SR-IOV and RSC wishes) and
 * NDIS_VERSION once each, SEND_RECV_BUF (NDIS_CONFIG first from V2),
 * SEND_SEND_BUF. A buffer is mapped by the embedder, which then calls
 * nvsp_host_recv_mapped() / nvsp_host_send_mapped() for the answer.
 * Messages of 28, 32 and 40 bytes are taken alike: each needs only the
 * fields it has. Replies are 32 bytes below 6.1 and 40 from it.
 *
 * Every field from the guest is untrusted. A malformed or untimely
 * message is counted by reason; if the guest asked for a completion it
 * gets a failure answer (so it never waits for one), and the engine
 * stays as it was. Sub-channels take only RNDIS packets and
 * completions. Only the channel's worker calls in. */
#ifndef HVIS_NVSP_HOST_H
#define HVIS_NVSP_HOST_H

#include "net/nvsp_wire.h"
#include "vmbus/vmb_pkt.h"

/* Send-buffer section size (OpenVMM's and Linux's default). */
#define NVSP_HOST_SEND_SECTION 6144u

/* Receive sub-allocation: 256 bytes for the RNDIS header and its
 * per-packet info, the frame (MTU with the Ethernet header), and 36 that
 * newer Windows netvsc overwrites at the end (OpenVMM), rounded up to 8
 * so that every sub-allocation, and so every RNDIS header the guest
 * parses, starts 8-byte aligned (the alignment the RNDIS layer
 * advertises). 1808 for a 1514-byte MTU. */
#define NVSP_HOST_RX_HEADER 256u
#define NVSP_HOST_RX_FOOTER 36u
static inline uint32_t nvsp_host_sub_alloc_size(uint32_t mtu)
{
	return VMB_ALIGN8(NVSP_HOST_RX_HEADER + mtu + NVSP_HOST_RX_FOOTER);
}

/* Max MDL chain length OpenVMM reports in INIT_COMPLETE. */
#define NVSP_HOST_MAX_MDL_CHAIN 34u

struct nvsp_host_cfg {
	uint32_t max_version;      /* highest version accepted */
	uint16_t max_subchannels;  /* from V5; 0: one queue only */
	bool primary;              /* sub-channels carry only data */
};

/* Why a message was refused. */
enum nvsp_host_bad {
	NVSP_HBAD_SHORT,      /* shorter than its message's fields */
	NVSP_HBAD_TYPE,       /* packet type the guest does not send here */
	NVSP_HBAD_MSG,        /* message type a guest does not send */
	NVSP_HBAD_STATE,      /* valid message at the wrong time or place */
	NVSP_HBAD_VERSION,    /* no version matched (not a fault) */
	NVSP_HBAD_MTU,        /* NDIS_CONFIG MTU out of range: 1514 used */
	NVSP_HBAD_BUF_ID,     /* receive buffer id not 0xCAFE */
	NVSP_HBAD_MAP,        /* the mapped buffer too small for a section */
	NVSP_HBAD_CHANNEL,    /* RNDIS channel type not data or control */
	NVSP_HBAD_SECTION,    /* send section index or size out of range */
	NVSP_HBAD_RANGES,     /* GPA ranges missing, malformed, too many */
	NVSP_HBAD_SUBCH,      /* sub-channel op, count 0, too many, twice */
	NVSP_HBAD_DATAPATH,   /* data path neither synthetic nor VF */
	NVSP_HBAD_COMPLETION, /* completion short or not RNDIS_PKT_COMPLETE */
	NVSP_HBAD__COUNT
};

const char *nvsp_host_bad_name(enum nvsp_host_bad b);

struct nvsp_host_stats {
	uint64_t rndis;        /* RNDIS messages handed on */
	uint64_t rx_done;      /* receive buffers given back */
	uint64_t bad[NVSP_HBAD__COUNT];
};

/* A buffer's life: none, map asked of the embedder, mapped. */
enum nvsp_host_buf {
	NVSP_HB_NONE,
	NVSP_HB_MAPPING,
	NVSP_HB_MAPPED
};

struct nvsp_host {
	struct nvsp_host_cfg cfg;
	uint32_t version;        /* agreed; 0 before INIT */
	bool have_config, have_ndis_version;
	uint32_t mtu;            /* NDIS_CONFIG's, clamped; 1514 without */
	uint64_t caps;           /* NDIS_CONFIG's, as the guest sent them */
	bool sriov, rsc;         /* wishes honoured: SR-IOV from V4, RSC 6.1 */
	uint32_t ndis_major, ndis_minor;
	enum nvsp_host_buf recv, send;
	uint32_t recv_gpadl, send_gpadl;
	uint32_t recv_size;      /* the mapped buffer's bytes */
	struct nvsp_recv_section layout; /* what RECV_BUF_COMPLETE said */
	uint32_t send_sections;  /* send buffer size / section size */
	uint64_t recv_xid, send_xid; /* of the SEND_*_BUF being mapped */
	bool subch_done;
	struct nvsp_host_stats st;
};

enum nvsp_host_act_kind {
	NVSP_HA_NONE,         /* nothing to send */
	NVSP_HA_REPLY,        /* send reply (maybe empty) as completion */
	NVSP_HA_MAP_RECV,     /* map gpadl, then nvsp_host_recv_mapped() */
	NVSP_HA_MAP_SEND,     /* map gpadl, then nvsp_host_send_mapped() */
	NVSP_HA_REVOKE_RECV,  /* unmap the receive buffer; then reply */
	NVSP_HA_REVOKE_SEND,  /* unmap the send buffer; then reply */
	NVSP_HA_RNDIS,        /* RNDIS bytes: send section or GPA ranges */
	NVSP_HA_SUBCHANNELS,  /* offer subchannels, then send reply */
	NVSP_HA_DATAPATH,     /* the guest switched data path; then reply */
	NVSP_HA_RX_DONE       /* the guest gave back receive xid */
};

/* Where the RNDIS bytes of a SEND_RNDIS_PKT are. */
struct nvsp_host_rndis {
	uint32_t channel_type;   /* NVSP_CHANNEL_* */
	uint32_t section;        /* index, or NVSP_SECTION_NONE */
	uint32_t offset, size;   /* in the send buffer, with a section */
	uint32_t nranges;        /* without: GPA ranges, pfns pointing into
				    the packet the embedder passed in */
	struct vmb_gpa_range ranges[VMB_PKT_MAX_GPA_RANGES];
};

struct nvsp_host_act {
	enum nvsp_host_act_kind kind;
	uint64_t xid;
	bool completion;         /* the guest asked for a completion */
	bool reply_due;          /* send reply as a completion of xid now */
	uint32_t reply_len;      /* 0: an empty completion */
	union nvsp_msg reply;
	uint32_t gpadl;          /* MAP_* */
	uint16_t subchannels;    /* SUBCHANNELS */
	bool vf;                 /* DATAPATH: true for the VF */
	struct nvsp_host_rndis rndis;
};

/* cfg.max_version is lowered to the newest known version below it;
 * max_subchannels to 64. */
void nvsp_host_init(struct nvsp_host *h, const struct nvsp_host_cfg *cfg);

/* A sub-channel's engine (h need not be initialised) starts where its
 * primary is: configuration, version, MTU, buffers. */
void nvsp_host_attach(struct nvsp_host *h, const struct nvsp_host *primary);

void nvsp_host_rx(struct nvsp_host *h, const struct vmb_pkt *pkt,
		  struct nvsp_host_act *a);

/* The receive buffer asked for by MAP_RECV is mapped, size bytes (0: the
 * map failed). Writes the RECV_BUF_COMPLETE into a (REPLY): one section
 * of sub-allocations of nvsp_host_sub_alloc_size(mtu), as many as fit;
 * h->layout keeps it for nvsp_rxbuf_init. */
void nvsp_host_recv_mapped(struct nvsp_host *h, uint32_t size,
			   struct nvsp_host_act *a);

/* The send buffer asked for by MAP_SEND is mapped, size bytes (0:
 * failed): SEND_BUF_COMPLETE, sections of 6144. */
void nvsp_host_send_mapped(struct nvsp_host *h, uint32_t size,
			   struct nvsp_host_act *a);

/* RNDIS_PKT_COMPLETE for a SEND_RNDIS_PKT the rndis layer is done with
 * (status NVSP_STATUS_SUCCESS, or INVALID_RNDIS_PKT). Returns its
 * length. */
uint32_t nvsp_host_rndis_done(const struct nvsp_host *h, uint32_t status,
			      union nvsp_msg *m);

/* ---- host-initiated messages ---- */

/* The SEND_RNDIS_PKT of a transfer-page packet (page set 0xCAFE) whose
 * ranges hold RNDIS messages in the receive buffer. Returns its length. */
uint32_t nvsp_host_rndis_pkt(const struct nvsp_host *h, uint32_t channel_type,
			     union nvsp_msg *m);

/* SEND_INDIRECTION_TABLE over channels (primary included): entry i is
 * i mod channels, the table at 12 (76 bytes into out). Returns its
 * length, or 0 below V5 or with one channel (OpenVMM sends none). */
uint32_t nvsp_host_send_table(const struct nvsp_host *h, uint32_t channels,
			      uint8_t out[NVSP_TX_TABLE_MSG_LEN]);

/* VF_ASSOCIATION (inband, xid NVSP_XID_VF_ASSOCIATION, completion
 * requested). Returns its length, or 0 when the guest did not ask for
 * SR-IOV. */
uint32_t nvsp_host_vf_association(const struct nvsp_host *h, bool allocated,
				  uint32_t serial, union nvsp_msg *m);

/* SWITCH_DATA_PATH to the guest (inband, xid
 * NVSP_XID_SWITCH_DATA_PATH, completion requested), as when the VF goes.
 * Returns its length, or 0 below V4. */
uint32_t nvsp_host_switch_datapath(const struct nvsp_host *h, bool vf,
				   union nvsp_msg *m);

#endif
