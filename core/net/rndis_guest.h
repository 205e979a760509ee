/* The guest's RNDIS engine (netvsc's control path), sans-I/O.
 *
 * Init: rndis_guest_next() gives the next request of the sequence Linux
 * follows: INITIALIZE (max transfer 0x4000), QUERY of the permanent MAC,
 * the frame size, the media state, the link speed, the offload
 * capabilities (at the revision the NVSP version allows) and, when NDIS
 * 6.20 is spoken and several channels are wanted, the RSS capabilities;
 * then SET of the packet filter to NONE (some hosts do not start there),
 * of the offload parameters chosen from the capabilities, and of the RSS
 * parameters. Each completion, given to rndis_guest_rx(), moves it on,
 * until READY (the event carries what was learnt) or FAILED. The
 * embedder sends each request as an RNDIS control message (NVSP
 * SEND_RNDIS_PKT, channel type 1) and feeds back the host's control
 * messages, completions and INDICATE_STATUS alike.
 *
 * Later requests (the filter on open and close, a new RSS table, a
 * keepalive) come from the rndis_guest_set_* builders. Request ids are
 * never 0 and are matched on completion: an id never sent, one already
 * answered and one abandoned are told apart, refused and counted, as is
 * any completion whose lengths or offsets do not hold. One thread calls
 * in at a time. */
#ifndef HVIS_RNDIS_GUEST_H
#define HVIS_RNDIS_GUEST_H

#include "net/nvsp_wire.h"
#include "net/rndis_wire.h"

#define RNDIS_GUEST_MAX_XFER 0x4000u
/* The filter Linux sets on open (0 on close; PROMISCUOUS alone when the
 * interface is promiscuous). */
#define RNDIS_GUEST_FILTER_OPEN (RNDIS_FILTER_DIRECTED | \
				 RNDIS_FILTER_ALL_MULTICAST | \
				 RNDIS_FILTER_BROADCAST)
/* The largest request: SET of RSS parameters with a 128-entry table. */
#define RNDIS_GUEST_MSG_MAX 640u
#define RNDIS_GUEST_PENDING 8u   /* requests outstanding at once */
#define RNDIS_GUEST_RECENT 8u    /* answered ids remembered */

/* Microsoft's standard Toeplitz key (Linux and FreeBSD use it). */
extern const uint8_t rndis_default_rss_key[NDIS_RSS_KEY_LEN];

struct rndis_guest_cfg {
	uint32_t nvsp_version;  /* agreed with the host */
	uint32_t channels;      /* receive queues wanted; >= 2 asks for RSS */
	bool want_rsc;
};

enum rndis_guest_state {
	RNDIS_GS_INIT,
	RNDIS_GS_MAC,
	RNDIS_GS_MTU,
	RNDIS_GS_LINK,
	RNDIS_GS_SPEED,
	RNDIS_GS_OFFLOAD_CAPS,
	RNDIS_GS_RSS_CAPS,
	RNDIS_GS_FILTER,
	RNDIS_GS_OFFLOAD,
	RNDIS_GS_RSS,
	RNDIS_GS_READY,
	RNDIS_GS_FAILED
};

/* Why a message from the host was refused. */
enum rndis_guest_bad {
	RNDIS_GBAD_SHORT,     /* shorter than its kind's fixed part */
	RNDIS_GBAD_MSGLEN,    /* msg_len below that or past the bytes given */
	RNDIS_GBAD_TYPE,      /* a type the host does not send, or the
				 completion of another kind of request */
	RNDIS_GBAD_UNKNOWN,   /* request id never sent */
	RNDIS_GBAD_STALE,     /* request id sent, then abandoned */
	RNDIS_GBAD_DUPLICATE, /* request id already answered */
	RNDIS_GBAD_BUFFER,    /* a completion's or status's buffer outside
				 the message */
	RNDIS_GBAD_VALUE,     /* an answer of the wrong size or range */
	RNDIS_GBAD__COUNT
};

const char *rndis_guest_bad_name(enum rndis_guest_bad b);

struct rndis_guest_stats {
	uint64_t completions;   /* accepted */
	uint64_t indications;   /* INDICATE_STATUS accepted */
	uint64_t bad[RNDIS_GBAD__COUNT];
};

/* What the host offers, from its NDIS_OFFLOAD. */
struct rndis_guest_caps {
	uint32_t ip4_tx, ip6_tx;     /* NDIS_CSUM_* the host computes */
	bool lso4, lso6;             /* LSOv2 over 802.3 */
	uint32_t lso4_max, lso6_max; /* bytes */
	uint32_t lso4_minsg, lso6_minsg;
	uint32_t lso6_opts;          /* NDIS_LSO6_* */
	bool rsc;                    /* for IPv4 and IPv6 */
};

/* What the guest asked for (and the host accepted). */
struct rndis_guest_offload {
	bool tcp4, udp4, tcp6, udp6; /* checksums, TX and RX */
	bool lso4, lso6;
	bool rsc;
};

struct rndis_guest_info {
	uint8_t mac[6];
	uint32_t mtu;
	bool link_up;
	uint32_t speed;          /* units of 100 bps */
	struct rndis_guest_caps caps;
	struct rndis_guest_offload offload;
	uint32_t rss_queues;     /* 1: no RSS */
	uint32_t rss_entries;    /* indirection table size */
	uint32_t max_pkts;       /* aggregation limits, >= 1 */
	uint32_t max_xfer;
	uint32_t align;          /* a power of two, >= 4 */
};

struct rndis_guest_pending {
	uint32_t id;    /* 0: free */
	uint32_t type;  /* RNDIS_MSG_* of the request */
	uint32_t oid;
	bool init;      /* a step of the init sequence */
};

struct rndis_guest {
	struct rndis_guest_cfg cfg;
	enum rndis_guest_state state;
	bool waiting;          /* an init request is out */
	bool have_caps;        /* the offload capabilities were answered */
	uint32_t next_id;
	uint32_t fail_status;  /* the host's status when FAILED */
	enum rndis_guest_state fail_step;
	struct rndis_guest_pending pend[RNDIS_GUEST_PENDING];
	uint32_t recent[RNDIS_GUEST_RECENT];
	uint32_t recent_pos;
	struct rndis_guest_info info;
	struct rndis_guest_stats st;
};

void rndis_guest_init(struct rndis_guest *g, const struct rndis_guest_cfg *c);

/* The next init request into out; returns its length, or 0 when none is
 * due (one is out, READY, FAILED). When state reaches RNDIS_GS_RSS,
 * info.rss_queues is known: open the sub-channels before sending it. */
uint32_t rndis_guest_next(struct rndis_guest *g,
			  uint8_t out[RNDIS_GUEST_MSG_MAX]);

/* Later requests; each returns its length, or 0 when not READY, the
 * arguments are impossible or RNDIS_GUEST_PENDING are outstanding. */
uint32_t rndis_guest_set_filter(struct rndis_guest *g, uint32_t filter,
				uint8_t out[RNDIS_GUEST_MSG_MAX]);
/* table: info.rss_entries queue numbers below info.rss_queues, or NULL
 * for entry i = i mod queues. */
uint32_t rndis_guest_set_rss(struct rndis_guest *g, const uint32_t *table,
			     uint8_t out[RNDIS_GUEST_MSG_MAX]);
uint32_t rndis_guest_keepalive(struct rndis_guest *g,
			       uint8_t out[RNDIS_GUEST_MSG_MAX]);

/* Forget every outstanding request (the host did not answer in time);
 * answers for them are counted as stale. An init step abandoned fails
 * the init. */
void rndis_guest_abandon(struct rndis_guest *g);

enum rndis_guest_ev_kind {
	RNDIS_GE_NONE,      /* refused (counted) or nothing to do */
	RNDIS_GE_INIT,      /* the init sequence moved: call next() */
	RNDIS_GE_READY,     /* init done: see g->info */
	RNDIS_GE_FAILED,    /* init failed: fail_step, fail_status */
	RNDIS_GE_DONE,      /* a later request answered: oid, status */
	RNDIS_GE_LINK_UP,
	RNDIS_GE_LINK_DOWN,
	RNDIS_GE_SPEED,     /* speed (units of 100 bps) */
	RNDIS_GE_NETWORK_CHANGE /* take the carrier down and up again */
};

struct rndis_guest_ev {
	enum rndis_guest_ev_kind kind;
	uint32_t oid;
	uint32_t status;
	uint32_t speed;
};

/* One control message from the host (len bytes). */
void rndis_guest_rx(struct rndis_guest *g, const uint8_t *msg, uint32_t len,
		    struct rndis_guest_ev *ev);

#endif
