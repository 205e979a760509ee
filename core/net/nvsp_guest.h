/* The guest side of NVSP (netvsc), as a sans-I/O engine.
 *
 * Init: nvsp_guest_next() gives the next message of the init sequence:
 * INIT from the highest version down (min = max = the candidate), then
 * from V2 NDIS_CONFIG (MTU + 14), NDIS_VERSION (6.1 up to V4, 6.30 from
 * V5), SEND_RECV_BUF and SEND_SEND_BUF. NDIS_CONFIG and NDIS_VERSION get
 * no answer (OpenVMM's empty completions of them are dropped), so next()
 * moves past them at once; for the others it gives
 * nothing more until nvsp_guest_rx() has the host's answer. After the
 * send buffer the engine is READY: RNDIS initialisation is the rndis
 * layer's. Then, once the rndis layer knows the host's receive queues,
 * nvsp_guest_subchannels() builds the SUBCHANNEL request (V5+).
 *
 * Every answer is checked before use: the receive buffer's layout (one
 * section at offset 0, sub-allocations inside the buffer), the send
 * buffer's section size, the granted sub-channel count, the host's send
 * indirection table, VF and data-path notices. A short or misdirected
 * packet is counted and ignored; a well-formed answer the guest cannot
 * use (a failure status, an impossible layout) is counted and ends the
 * init in FAILED, as the host will not answer again.
 *
 * Data path helpers: SEND_RNDIS_PKT, the receive side's transfer-page
 * packets parsed into ranges of the receive buffer, their completion,
 * and a send-buffer section allocator. One channel's engine and
 * allocator are used by one thread at a time. */
#ifndef HVIS_NVSP_GUEST_H
#define HVIS_NVSP_GUEST_H

#include "net/nvsp_wire.h"
#include "vmbus/vmb_pkt.h"

/* Transaction ids from here up are the engine's own requests (the low
 * bits name the request's message type); data sends must use lower
 * ones. */
#define NVSP_GUEST_XID_BASE 0xFFFFFFFFFFFF0000ull

/* Sub-channels wanted: min(host receive queues, CPUs) - 1. */
#define NVSP_GUEST_SUBCH_AUTO 0xFFFFu

struct nvsp_guest_cfg {
	uint32_t max_version;  /* first version proposed */
	uint32_t mtu;          /* IP MTU; NDIS_CONFIG carries mtu + 14 */
	uint16_t subchannels;  /* wanted, or NVSP_GUEST_SUBCH_AUTO */
	uint32_t ncpus;        /* for the automatic count */
	uint32_t recv_gpadl, recv_size; /* the receive buffer's GPADL, bytes */
	uint32_t send_gpadl, send_size; /* the send buffer's */
	bool sriov;            /* ask for a VF (sent from V5, as Linux) */
	bool rsc;              /* ask for RSC (sent from 6.1) */
};

enum nvsp_guest_state {
	NVSP_GS_INIT,        /* proposing versions[vidx] */
	NVSP_GS_NDIS_CONFIG, /* V2+ */
	NVSP_GS_NDIS_VERSION,
	NVSP_GS_RECV_BUF,
	NVSP_GS_SEND_BUF,
	NVSP_GS_READY,
	NVSP_GS_FAILED
};

/* Why a packet from the host was refused. */
enum nvsp_guest_bad {
	NVSP_GBAD_SHORT,      /* shorter than its message needs */
	NVSP_GBAD_TYPE,       /* packet type the host does not send here */
	NVSP_GBAD_MSG,        /* NVSP message type not expected */
	NVSP_GBAD_XID,        /* answer to no request in flight */
	NVSP_GBAD_STATE,      /* valid message at the wrong time */
	NVSP_GBAD_STATUS,     /* a request refused by the host */
	NVSP_GBAD_RECV_LAYOUT,/* receive buffer sections unusable */
	NVSP_GBAD_SEND_SECTION,/* send section size unusable */
	NVSP_GBAD_SUBCH,      /* more sub-channels granted than asked */
	NVSP_GBAD_TABLE,      /* send indirection table malformed */
	NVSP_GBAD_VALUE,      /* VF / data-path field out of range */
	NVSP_GBAD_PAGESET,    /* transfer pages not of the receive buffer */
	NVSP_GBAD_RANGES,     /* range count 0 or above the limit */
	NVSP_GBAD_RANGE,      /* a range outside the buffer or a section */
	NVSP_GBAD__COUNT
};

const char *nvsp_guest_bad_name(enum nvsp_guest_bad b);

struct nvsp_guest_stats {
	uint64_t recvs;      /* transfer-page packets accepted */
	uint64_t send_done;  /* RNDIS_PKT completions passed on */
	uint64_t bad[NVSP_GBAD__COUNT];
};

/* The receive buffer as the host laid it out. */
struct nvsp_recv_layout {
	uint32_t sub_alloc_size;
	uint32_t num_sub_allocs;
	uint32_t end_offset;
};

struct nvsp_guest {
	struct nvsp_guest_cfg cfg;
	enum nvsp_guest_state state;
	bool waiting;          /* a request of the init sequence in flight */
	unsigned vidx;         /* index into the version list */
	uint32_t version;      /* agreed, once past INIT */
	struct nvsp_recv_layout recv;
	uint32_t send_section_size, send_sections;
	uint16_t subch_asked, subch_granted; /* SUBCHANNEL's request, answer */
	bool subch_waiting;
	bool datapath_waiting; /* SWITCH_DATA_PATH sent, not completed */
	bool datapath_vf;      /* what it asked for */
	uint32_t channels;     /* open, primary included: checks the table */
	uint32_t tx_table[NVSP_TX_TABLE_LEN]; /* from the host, else i % ch */
	uint32_t fail_status;  /* the host's status when FAILED */
	enum nvsp_guest_state fail_step;
	struct nvsp_guest_stats st;
};

/* cfg.max_version is lowered to the first version this engine knows. */
void nvsp_guest_init(struct nvsp_guest *g, const struct nvsp_guest_cfg *c);

/* One outgoing message: send it inband with flags and xid. */
struct nvsp_guest_out {
	uint32_t len;
	uint16_t flags;  /* VMB_PKT_FLAG_COMPLETION_REQUESTED or 0 */
	uint64_t xid;
	union nvsp_msg msg;
};

/* The next init message into o; returns its length, or 0 when none is
 * due (an answer awaited, READY, FAILED). */
uint32_t nvsp_guest_next(struct nvsp_guest *g, struct nvsp_guest_out *o);

/* The SUBCHANNEL request once READY, for a host with rx_queues receive
 * queues (the rndis layer's RSS capabilities); returns its length, or 0
 * when none is wanted or possible (below V5, one queue, asked already). */
uint32_t nvsp_guest_subchannels(struct nvsp_guest *g, uint32_t rx_queues,
				struct nvsp_guest_out *o);

/* The channels opened (primary included) after the sub-channel offers:
 * the host's send table must name only these. Resets the table to
 * i mod n. */
void nvsp_guest_set_channels(struct nvsp_guest *g, uint32_t n);

/* SWITCH_DATA_PATH to the VF or back (V4+ when READY); returns its
 * length, or 0. */
uint32_t nvsp_guest_switch_datapath(struct nvsp_guest *g, bool vf,
				    struct nvsp_guest_out *o);

enum nvsp_guest_ev_kind {
	NVSP_GE_NONE,      /* refused (counted) or nothing to do */
	NVSP_GE_INIT,      /* the init sequence moved: call next() */
	NVSP_GE_READY,     /* buffers agreed: the rndis layer starts */
	NVSP_GE_FAILED,    /* init failed: fail_step, fail_status */
	NVSP_GE_SUBCH,     /* count sub-channels granted (0: none) */
	NVSP_GE_SEND_DONE, /* a data send (xid) completed with status; the
			      embedder checks xid against its own sends */
	NVSP_GE_TX_TABLE,  /* g->tx_table replaced by the host's */
	NVSP_GE_VF,        /* VF allocated (count 1) or gone (0), serial */
	NVSP_GE_DATAPATH,  /* data path is now VF (count 1) or synthetic */
};

struct nvsp_guest_ev {
	enum nvsp_guest_ev_kind kind;
	uint64_t xid;
	uint32_t status;
	uint32_t count;
	uint32_t serial;
	bool complete;     /* the host asked for a completion of xid */
};

/* One completion or inband packet from the host (transfer-page packets
 * go to nvsp_guest_recv). */
void nvsp_guest_rx(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		   struct nvsp_guest_ev *ev);

/* ---- data path ---- */

/* SEND_RNDIS_PKT: the RNDIS bytes in send section index (size bytes), or
 * with index NVSP_SECTION_NONE and size 0 in the GPA ranges of the
 * packet. Returns its length (NVSP_MSG_LEN). */
uint32_t nvsp_rndis_pkt(union nvsp_msg *m, uint32_t channel_type,
			uint32_t index, uint32_t size);

/* One RNDIS message of a receive: offset and length in the buffer. */
struct nvsp_range {
	uint32_t offset;
	uint32_t len;
};

/* A transfer-page packet (type 7) from the host: page set 0xCAFE, an
 * inner SEND_RNDIS_PKT, 1..375 ranges (562 with RSC, and no more than
 * max), each inside the receive buffer and no larger than a
 * sub-allocation. Fills out[0..*n) and *channel_type; VMB_OK, or
 * VMB_EPROTO (counted): give it back with nvsp_rndis_complete either
 * way (its xid is the host's, the buffer its to reuse). */
int nvsp_guest_recv(struct nvsp_guest *g, const struct vmb_pkt *pkt,
		    struct nvsp_range *out, uint32_t max, uint32_t *n,
		    uint32_t *channel_type);

/* RNDIS_PKT_COMPLETE with status: the payload of the completion packet
 * (transaction id of the receive) that gives the buffer back. Returns
 * its length (8, as Linux sends). */
uint32_t nvsp_rndis_complete(union nvsp_msg *m, uint32_t status);

/* ---- send-buffer sections ---- */

#define NVSP_SENDBUF_WORDS(n) (((n) + 63u) / 64u)

/* A bitmap over caller memory: a set bit is a section in use. */
struct nvsp_sendbuf {
	uint64_t *map;     /* NVSP_SENDBUF_WORDS(count) words */
	uint32_t count;
	uint32_t used;
	uint32_t hint;     /* word to search first */
};

void nvsp_sendbuf_init(struct nvsp_sendbuf *s, uint64_t *map,
		       uint32_t count);
/* A free section's index, or NVSP_SECTION_NONE when all are in use. */
uint32_t nvsp_sendbuf_alloc(struct nvsp_sendbuf *s);
/* VMB_ENOENT if index is out of range or not in use. */
int nvsp_sendbuf_free(struct nvsp_sendbuf *s, uint32_t index);

#endif
