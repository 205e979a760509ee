/* Host side of VMBus channel management, as a sans-I/O state machine.
 *
 * The host application registers offers; guest messages go in through
 * vmb_server_input() with the connection id they were posted to; replies
 * and requests to the host application go out through one table of
 * callbacks. Every field from the guest is checked before use: relids,
 * gpadl ids, PFN counts, ring offsets, versions and connection ids. */
#ifndef HVIS_VMB_SERVER_H
#define HVIS_VMB_SERVER_H

#include "vmb_wire.h"

/* The connection id this host tells 5.0+ guests to post messages to after
 * VERSION_RESPONSE. Guests must use whatever the host returns. OpenVMM's
 * VTL0 server returns 1 (its ordinary message port); 0x800074 is OpenVMM's
 * redirect id (4 | SINT 7 << 4 | VTL 2 << 22). We return the latter so that
 * a guest that ignores msg_conn_id is caught by the tests. */
#define VMB_MSG_REDIRECT_CONNECTION_ID 0x800074u

/* A GPADL as the guest described it: ranges with their PFNs. */
struct vmb_server_gpadl {
	uint32_t id;
	uint32_t relid;
	uint32_t range_count;
	uint32_t pfn_count;
	uint64_t *pfns;   /* all ranges' PFNs, in order */
	uint32_t *range_len;   /* byte_count of each range */
	uint32_t *range_off;   /* byte_offset of each range */
	bool complete;    /* all body messages received and mapped */
	uint32_t users;   /* open channels using it as their ring */
	bool tearing;     /* teardown asked, answer held (ops->gpadl_teardown) */
	void *host;       /* embedder's mapping, from ops->gpadl_map */
};

struct vmb_server_open {
	uint32_t relid;
	uint32_t open_id;
	uint32_t target_vp;
	uint32_t downstream_pgoff; /* checked: 0 < off < gpadl pages */
	const struct vmb_server_gpadl *ring;
	uint8_t user_data[VMB_USERDEF_LEN];
};

struct vmb_server_ops {
	/* Send a channel message to the guest. */
	int (*post)(void *ctx, const void *msg, uint32_t len);
	/* Guest connected at version (INITIATE_CONTACT accepted). */
	void (*connected)(void *ctx, uint32_t version,
			  const struct vmb_msg_initiate_contact *req);
	/* Validate and map a complete GPADL; return 0 or an NTSTATUS-like
	 * nonzero status for GPADL_CREATED. May set g->host. */
	uint32_t (*gpadl_map)(void *ctx, struct vmb_server_gpadl *g);
	void (*gpadl_unmap)(void *ctx, struct vmb_server_gpadl *g);
	/* Optional: the guest asked to tear g down (not a ring in use).
	 * true: unmap now and answer. false: the embedder still uses g's
	 * memory; g stays mapped, refused as a ring, and the guest's
	 * GPADL_TORNDOWN waits for vmb_server_gpadl_release(). A channel
	 * released or a guest gone still unmaps it (no answer is owed). */
	bool (*gpadl_teardown)(void *ctx, struct vmb_server_gpadl *g);
	/* Open a channel on its ring; return 0 or a failure status. */
	uint32_t (*open)(void *ctx, const struct vmb_server_open *o);
	void (*close)(void *ctx, uint32_t relid);
	/* Guest acknowledged a rescind; relid is free again. */
	void (*released)(void *ctx, uint32_t relid);
	/* MODIFYCHANNEL: return 0 or a failure status. */
	uint32_t (*modify)(void *ctx, uint32_t relid, uint32_t target_vp);
	/* Guest unloaded: every channel was closed, every GPADL unmapped. */
	void (*unloaded)(void *ctx);
	/* Optional: every open channel is about to be closed, one close at
	 * a time (UNLOAD, reset): a host may begin stopping them all at once
	 * so that the closes do not wait for each other. */
	void (*closing_all)(void *ctx);
};

enum vmb_server_state {
	VMB_SERVER_DISCONNECTED,
	VMB_SERVER_CONNECTED,   /* version agreed */
	VMB_SERVER_OFFERED      /* offers requested and delivered */
};

enum vmb_server_chan_state {
	VMB_SCHAN_OFFERED,
	VMB_SCHAN_OPEN,
	VMB_SCHAN_RESCINDED   /* waiting for RELID_RELEASED */
};

struct vmb_server_chan {
	enum vmb_server_chan_state state;
	struct vmb_msg_offer offer;
	bool sent;          /* offer delivered to the current guest */
	uint32_t ring_gpadl;
	uint32_t target_vp;
};

struct vmb_server {
	const struct vmb_server_ops *ops;
	void *ctx;
	enum vmb_server_state state;
	uint32_t max_version;  /* cap: versions above are refused */
	uint32_t version;
	/* Indexed by relid, 1..VMB_RELID_MAX-1; NULL = relid free. A channel
	 * is allocated when offered and freed when its relid is released,
	 * so an idle server costs one pointer per relid. */
	struct vmb_server_chan **chans;
	uint32_t relid_end; /* one past the highest relid in chans, or 0 */
	struct vmb_server_gpadl **gpadls;
	uint32_t gpadl_count, gpadl_cap;
	uint32_t gpadl_bytes; /* range bytes held for all GPADLs (capped) */
	struct vmb_badstats bad;
	/* Requests for a channel rescinded before the guest could know:
	 * refused with a failure reply, not counted as bad. */
	uint64_t raced;
};

int vmb_server_init(struct vmb_server *s, const struct vmb_server_ops *ops,
		    void *ctx, uint32_t max_version);
void vmb_server_fini(struct vmb_server *s);
/* Back to the state vmb_server_init() left: what fini does to the channels
 * and GPADLs (open ones closed, mapped ones unmapped, rescinded relids
 * released, through ops), then every offer dropped and the counters
 * zeroed; ops, ctx, max_version and the relid table are kept. Costs the
 * channels and GPADLs held, not a new table: for an embedder (or a fuzzer)
 * that starts over often. */
void vmb_server_reinit(struct vmb_server *s);

/* A message the guest posted to connection id conn_id. VMB_OK, or
 * VMB_EPROTO if rejected (counted in bad; a failure reply is sent where
 * the protocol has one). */
int vmb_server_input(struct vmb_server *s, uint32_t conn_id, const void *msg,
		     uint32_t len);

/* Add a channel. relid 0 = pick the lowest free one. The offer's relid and
 * connection id fields are filled in; it is sent at once if the guest has
 * already requested offers. */
int vmb_server_offer(struct vmb_server *s, struct vmb_msg_offer *offer,
		     uint32_t *relid);
/* Withdraw a channel: closes it if open (ops->close), sends RESCIND; the
 * relid is reused only after the guest's RELID_RELEASED. */
int vmb_server_rescind(struct vmb_server *s, uint32_t relid);
/* Guest went away without UNLOAD: drop all channel and GPADL state as
 * UNLOAD would, keep the offers for the next guest. */
void vmb_server_reset(struct vmb_server *s);

/* The embedder let go of GPADL id whose teardown it held back: unmap it
 * and answer the guest. VMB_ENOENT if id is not held back (any more). */
int vmb_server_gpadl_release(struct vmb_server *s, uint32_t id);

/* The channel offered on relid (in any state but FREE), or NULL. */
const struct vmb_server_chan *vmb_server_chan(const struct vmb_server *s,
					      uint32_t relid);

#endif
