/* The guest side of VSTOR (storvsc), as a sans-I/O engine.
 *
 * Init: vstor_guest_next() gives the next request of the init sequence
 * (BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION from the highest version
 * down, QUERY_PROPERTIES, END_INITIALIZATION, then CREATE_SUB_CHANNELS
 * when the host offers multi-channel and some are wanted); each answer,
 * given to vstor_guest_rx(), moves it on, until READY or FAILED.
 *
 * I/O: a request table per channel over memory the caller provides. A
 * slot's transaction id carries its index and a generation, so that an
 * answer for an id never sent, one already answered or one from an
 * earlier use of the slot is told apart from the real one, refused and
 * counted. Every byte of the host's answers is untrusted: lengths, sense
 * and residuals are clamped to what was asked.
 *
 * One channel's table is used by one thread at a time. */
#ifndef HVIS_VSTOR_GUEST_H
#define HVIS_VSTOR_GUEST_H

#include "storage/vstor_wire.h"
#include "vmbus/vmb_pkt.h"

/* The init sequence's transaction id (never a slot's: slots have a
 * non-zero generation in the upper half and an index below 2^31). */
#define VSTOR_GUEST_INIT_XID 0xFFFFFFFFFFFFFFFDull

/* Sub-channels wanted: this asks for min(host maximum, CPUs - 1). */
#define VSTOR_GUEST_SUBCH_AUTO 0xFFFFu

struct vstor_guest_cfg {
	uint16_t max_version;  /* first version proposed */
	uint16_t subchannels;  /* wanted, or VSTOR_GUEST_SUBCH_AUTO */
	uint32_t ncpus;        /* for the automatic count */
};

enum vstor_guest_state {
	VSTOR_GS_BEGIN,      /* BEGIN_INITIALIZATION to send or sent */
	VSTOR_GS_VERSION,    /* proposing versions[vidx] */
	VSTOR_GS_PROPERTIES,
	VSTOR_GS_END,
	VSTOR_GS_SUBCH,
	VSTOR_GS_READY,
	VSTOR_GS_FAILED
};

/* Why an answer from the host was refused. */
enum vstor_guest_bad {
	VSTOR_GBAD_SHORT,     /* shorter than the version's packet */
	VSTOR_GBAD_TYPE,      /* not a completion or an unsolicited inband */
	VSTOR_GBAD_OP,        /* not COMPLETE_IO, nor a known notification */
	VSTOR_GBAD_UNKNOWN,   /* id never handed out */
	VSTOR_GBAD_STALE,     /* id of an earlier use of the slot */
	VSTOR_GBAD_DUPLICATE, /* id already answered */
	VSTOR_GBAD_INIT,      /* init answer while not initialising */
	VSTOR_GBAD__COUNT
};

const char *vstor_guest_bad_name(enum vstor_guest_bad b);

struct vstor_guest_stats {
	uint64_t completed;
	uint64_t rescans;
	uint64_t bad[VSTOR_GBAD__COUNT];
};

struct vstor_guest {
	struct vstor_guest_cfg cfg;
	enum vstor_guest_state state;
	unsigned vidx;          /* index into the version list */
	uint16_t version;       /* agreed, from PROPERTIES on */
	uint16_t subchannels;   /* asked for and granted */
	struct vstor_props props;
	uint32_t fail_status;   /* the host's status when FAILED */
	enum vstor_guest_state fail_step;
	struct vstor_guest_stats st;
};

void vstor_guest_init(struct vstor_guest *g, const struct vstor_guest_cfg *c);

/* The next init request into out, its transaction id in *xid; returns
 * its length, or 0 when none is due (READY, FAILED). */
uint32_t vstor_guest_next(struct vstor_guest *g, uint8_t out[VSTOR_PKT_LEN],
			  uint64_t *xid);

/* ---- requests ---- */

struct vstor_slot {
	uint32_t gen;   /* bumped when freed; the id's upper half */
	uint32_t next;  /* free list */
	bool busy;
	uint32_t xfer_len; /* what the request may move */
	void *cookie;
};

struct vstor_reqtab {
	struct vstor_slot *slot;
	uint32_t cap;
	uint32_t free_head;  /* cap: none free */
	uint32_t busy;
};

/* slot: cap zeroed-or-not entries, kept by the caller; cap >= 1, < 2^31. */
void vstor_reqtab_init(struct vstor_reqtab *t, struct vstor_slot *slot,
		       uint32_t cap);

/* A slot for cookie, whose SRB moves at most xfer_len bytes; its
 * transaction id in *xid. VMB_EAGAIN when full. */
int vstor_req_alloc(struct vstor_reqtab *t, void *cookie, uint32_t xfer_len,
		    uint64_t *xid);

/* Gives back the slot of xid, a request that was never sent (the ring
 * refused it) or will never be answered (the channel is gone). VMB_ENOENT
 * if xid names no busy slot. */
int vstor_req_cancel(struct vstor_reqtab *t, uint64_t xid);

/* What one SRB asks. */
struct vstor_srb_req {
	uint8_t path, target, lun;
	uint8_t cdb_len;               /* 1..16 */
	const uint8_t *cdb;
	uint8_t dir;                   /* VSTOR_DIR_* */
	uint32_t xfer_len;
};

/* EXECUTE_SRB for r at the agreed version into out; returns its length
 * (send it inband without data, GPA-direct with one range with data). */
uint32_t vstor_guest_srb(const struct vstor_guest *g,
			 const struct vstor_srb_req *r,
			 uint8_t out[VSTOR_PKT_LEN]);

/* ---- answers ---- */

enum vstor_guest_ev_kind {
	VSTOR_GE_NONE,     /* refused (counted) or nothing to do */
	VSTOR_GE_INIT,     /* the init sequence moved: call vstor_guest_next */
	VSTOR_GE_DONE,     /* a request finished: cookie and result */
	VSTOR_GE_RESCAN    /* the host says the LUNs changed */
};

struct vstor_guest_ev {
	enum vstor_guest_ev_kind kind;
	void *cookie;
	uint32_t status;       /* the packet's NTSTATUS */
	uint8_t srb_status;    /* code, flags removed */
	uint8_t scsi_status;
	uint32_t moved;        /* <= the request's xfer_len */
	uint8_t sense_len;     /* <= VSTOR_SENSE_MAX and the version's */
	uint8_t sense[VSTOR_SENSE_MAX];
};

/* One packet from the host on a channel whose table is t (NULL before
 * any I/O). The slot of a DONE request is free again on return. */
void vstor_guest_rx(struct vstor_guest *g, struct vstor_reqtab *t,
		    const struct vmb_pkt *pkt, struct vstor_guest_ev *ev);

/* The channel a CPU submits on: each CPU keeps to one channel, spread
 * evenly (cpu modulo the channel count, primary included). */
static inline uint32_t vstor_guest_channel(uint32_t cpu, uint32_t nchan)
{
	return nchan ? cpu % nchan : 0;
}

#endif
