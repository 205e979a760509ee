/* Integration components (heartbeat, shutdown, time sync, KVP, VSS) as
 * sans-I/O engines for both ends of the channel.
 *
 * A payload is what travels inside one VMBus inband packet: pipe header,
 * icmsg header, body. The embedder moves payloads between these engines
 * and its channel; it owns the clocks, the files and the OS actions.
 *
 * Guest: ic_guest_input() takes each payload from the host. Negotiation,
 * heartbeat, time sync and the VSS operations that need nothing from the
 * OS are answered at once (a reply in out). Shutdown, KVP and the VSS
 * freeze/thaw/hot-backup requests become an action the embedder carries
 * out and then answers with ic_sd_guest_reply(), kvp_guest_reply() or
 * vss_guest_reply(); the host keeps one transaction open at a time.
 *
 * Host: ic_host_negotiate() then one request at a time (heartbeat probe,
 * shutdown, time sample, KVP, VSS); ic_host_input() checks the answer
 * against the open request and decodes it into an ic_host_result.
 *
 * Bad input never crashes: it is counted in the engine's stats by reason,
 * answered with a failure status when the request could be identified,
 * and leaves the engine usable. */
#ifndef HVIS_IC_H
#define HVIS_IC_H

#include "ic_wire.h"
#include "kvp.h"
#include "vss_wire.h"

/* Channel services; the values are the icmsg types they use. */
enum ic_service {
	IC_SVC_HEARTBEAT = IC_MSG_HEARTBEAT,
	IC_SVC_KVP = IC_MSG_KVP,
	IC_SVC_SHUTDOWN = IC_MSG_SHUTDOWN,
	IC_SVC_TIMESYNC = IC_MSG_TIMESYNC,
	IC_SVC_VSS = IC_MSG_VSS
};

struct ic_ver {
	uint16_t major;
	uint16_t minor;
};

static inline uint32_t ic_ver_u32(struct ic_ver v)
{
	return (uint32_t)v.major << 16 | v.minor;
}

/* Largest payload the engines build or keep: the KVP IP message. */
#define IC_MSG_MAX (IC_HDR_LEN + KVP_IP_BODY_LEN)

#define IC_MAX_VERSIONS 8

/* The versions this implementation speaks for svc, highest first: what a
 * guest accepts and what a host offers by default. */
void ic_versions(enum ic_service svc, const struct ic_ver **fw,
		 unsigned *nfw, const struct ic_ver **msg, unsigned *nmsg);

/* ---- guest ---- */

struct ic_guest_stats {
	struct vmb_badstats bad;
	uint64_t requests;      /* payloads accepted as requests */
	uint64_t replies;       /* replies built */
	uint64_t fail_replies;  /* of which carried a failure status */
	uint64_t negotiations;  /* successful negotiations */
	uint64_t negotiate_failed; /* no common version */
};

struct ic_guest {
	enum ic_service svc;
	bool negotiated;
	struct ic_ver fw; /* negotiated versions */
	struct ic_ver msg;
	bool pending; /* request handed to the embedder, not answered yet */
	uint8_t pending_op; /* KVP / VSS operation of the pending request */
	uint32_t req_len; /* bytes of the pending request kept in req */
	uint8_t req[IC_MSG_MAX];
	struct ic_guest_stats st;
};

enum ic_action_kind {
	IC_ACT_NONE,       /* nothing for the embedder (maybe a reply) */
	IC_ACT_NEGOTIATED, /* versions agreed: neg */
	IC_ACT_SHUTDOWN,   /* sd; answer with ic_sd_guest_reply() */
	IC_ACT_TIME,       /* ts; already answered */
	IC_ACT_KVP,        /* kvp; answer with kvp_guest_reply() */
	IC_ACT_VSS         /* vss; answer with vss_guest_reply() if pending */
};

#define IC_SD_MSG_UTF8_MAX (((IC_SD_MSG_BYTES) / 2 - 1) * 3 + 1)

struct ic_sd_req {
	uint32_t reason;
	uint32_t timeout_s;
	uint32_t flags;
	bool force;
	bool reboot;
	bool hibernate;
	char message[IC_SD_MSG_UTF8_MAX];
};

struct ic_ts_sample {
	bool v4;              /* ref_time valid (else round_trip) */
	uint64_t parent_time; /* host UTC, 100 ns units since 1601 */
	uint64_t ref_time;    /* v4: guest reference counter at parent_time */
	uint64_t round_trip;  /* below v4: host-measured round trip, 100 ns */
	uint8_t flags;        /* IC_TS_FLAG_* */
	bool sync;            /* set the clock now (after boot/restore) */
	bool sample;          /* a periodic sample to discipline with */
	uint8_t leap;
	uint8_t stratum;
};

struct ic_vss_req {
	uint8_t op; /* VSS_OP_* */
};

struct ic_action {
	enum ic_action_kind kind;
	bool reply_pending; /* the embedder must answer this request */
	union {
		struct {
			struct ic_ver fw;
			struct ic_ver msg;
		} neg;
		struct ic_sd_req sd;
		struct ic_ts_sample ts;
		struct kvp_data kvp;
		struct ic_vss_req vss;
	};
};

void ic_guest_init(struct ic_guest *g, enum ic_service svc);

/* One payload from the host. cap must be at least IC_MSG_MAX. On return
 * *out_len > 0 means out holds a reply to send now. Returns VMB_OK;
 * VMB_ENOTSUP when a negotiation found no common version (answered with
 * counts 0/0, counted in negotiate_failed); VMB_EPROTO for input that was
 * refused (counted in g->st.bad; answered with IC_E_FAIL when the request
 * could be identified); VMB_EINVAL for an impossible call. */
int ic_guest_input(struct ic_guest *g, const void *payload, size_t len,
		   struct ic_action *act, uint8_t *out, size_t cap,
		   size_t *out_len);

/* Answers the pending shutdown request (IC_S_OK to accept). VMB_ENOENT if
 * none is pending. */
int ic_sd_guest_reply(struct ic_guest *g, uint32_t status, uint8_t *out,
		      size_t cap, size_t *out_len);

/* Answers the pending VSS request; flags go back for HOT_BACKUP (Linux
 * sends VSS_HBU_NO_AUTO_RECOVERY). */
int vss_guest_reply(struct ic_guest *g, uint32_t status, uint32_t flags,
		    uint8_t *out, size_t cap, size_t *out_len);

/* The guest's clock offset from a sample: host time now minus guest_now
 * (both 100 ns units since 1601). guest_ref_now is the guest reference
 * counter now (v4: the host time is parent_time plus the reference time
 * elapsed since the sample); below v4 half the round trip is added. */
int64_t ic_ts_offset(const struct ic_ts_sample *s, uint64_t guest_now,
		     uint64_t guest_ref_now);

/* ---- host ---- */

struct ic_host_stats {
	struct vmb_badstats bad;
	uint64_t requests;
	uint64_t responses;      /* responses matched to the open request */
	uint64_t status_fail;    /* responses with a failure status */
	uint64_t hb_seq_bad;     /* heartbeat answers not sent seq + 1 */
	uint64_t negotiate_failed;
};

struct ic_host {
	enum ic_service svc;
	struct ic_ver fw_offer[IC_MAX_VERSIONS];
	unsigned n_fw;
	struct ic_ver msg_offer[IC_MAX_VERSIONS];
	unsigned n_msg;
	bool negotiated;
	struct ic_ver fw;
	struct ic_ver msg;
	bool pending;
	uint8_t next_xid;
	uint8_t pend_xid;
	uint16_t pend_type;
	uint8_t pend_op;  /* KVP / VSS operation */
	uint64_t pend_seq; /* heartbeat sequence sent */
	struct ic_host_stats st;
};

struct ic_host_result {
	uint16_t type;   /* IC_MSG_* answered */
	uint32_t status; /* the guest's status */
	struct ic_ver fw; /* NEGOTIATE: agreed versions when negotiated */
	struct ic_ver msg;
	bool negotiated;
	uint64_t hb_seq;   /* HEARTBEAT: the sequence the guest returned */
	uint8_t vss_op;
	uint32_t vss_flags; /* VSS HOT_BACKUP / GET_DM_INFO */
	struct kvp_data kvp; /* KVP: op, pool, and GET/ENUMERATE/GET_IP data */
};

/* Versions to offer (NULL for the ic_versions() defaults); at most
 * IC_MAX_VERSIONS each. */
int ic_host_init(struct ic_host *h, enum ic_service svc,
		 const struct ic_ver *fw, unsigned nfw,
		 const struct ic_ver *msg, unsigned nmsg);

/* Each builder writes one request payload into out and opens its
 * transaction: VMB_EBUSY while one is open, VMB_ENOTSUP before
 * negotiation or when the negotiated version lacks the request. */
int ic_host_negotiate(struct ic_host *h, uint8_t *out, size_t cap,
		      size_t *out_len);
int ic_hb_host_probe(struct ic_host *h, uint64_t seq, uint8_t *out,
		     size_t cap, size_t *out_len);
int ic_sd_host_request(struct ic_host *h, uint32_t reason,
		       uint32_t timeout_s, uint32_t flags,
		       const char *message, uint8_t *out, size_t cap,
		       size_t *out_len);
/* parent_time: host UTC in 100 ns units since 1601; ref_time: the guest
 * reference counter at that instant (v4); round_trip: v1-v3 only. */
int ic_ts_host_sample(struct ic_host *h, uint64_t parent_time,
		      uint64_t ref_time, uint64_t round_trip, uint8_t flags,
		      uint8_t *out, size_t cap, size_t *out_len);
int vss_host_request(struct ic_host *h, uint8_t op, uint8_t *out,
		     size_t cap, size_t *out_len);

/* Forget the open transaction (the embedder timed it out); a late answer
 * is then counted as VMB_BAD_XID. */
void ic_host_cancel(struct ic_host *h);

/* One payload from the guest. VMB_OK: res holds the answer to the open
 * request, every field rewritten (res->status may be a failure, counted
 * in status_fail; a failed answer carries no data).
 * VMB_ENOTSUP: the guest answered a negotiation with no common version.
 * VMB_EPROTO: refused and counted; if it answered the open request (same
 * id and type) the transaction is closed, otherwise it stays open. */
int ic_host_input(struct ic_host *h, const void *payload, size_t len,
		  struct ic_host_result *res);

#endif
