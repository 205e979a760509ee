/* Guest side of VMBus channel management, as a sans-I/O state machine.
 *
 * Messages from the host go in through vmb_client_input(); everything the
 * client wants done (post a message, tell the embedder about an offer or a
 * completed request) goes out through one table of callbacks. No threads,
 * no clocks, no allocation except through hvis_plat_zalloc. The embedder
 * serializes all calls on one instance.
 *
 * Every response from the host is matched to a request the client made
 * (version, gpadl id, relid + open id, modify); unknown, duplicate or stale
 * responses are rejected and counted in bad, never passed on. The one
 * exception is an answer still owed for a request a rescind failed early
 * (see struct vmb_client_owed): it is dropped and counted in late. */
#ifndef HVIS_VMB_CLIENT_H
#define HVIS_VMB_CLIENT_H

#include "vmb_wire.h"

struct vmb_client_ops {
	/* Post a channel message to the host on connection id conn_id.
	 * Returns VMB_OK or a negative error (then the request fails). */
	int (*post)(void *ctx, uint32_t conn_id, const void *msg,
		    uint32_t len);
	/* Negotiation finished: version agreed, or status < 0 if the host
	 * accepted none of the versions tried. */
	void (*connected)(void *ctx, uint32_t version, int status);
	/* A validated offer (primary or sub-channel). */
	void (*offer)(void *ctx, const struct vmb_msg_offer *offer);
	void (*all_offers)(void *ctx);
	/* The host withdrew relid. The embedder stops using the channel,
	 * closes it and tears down its GPADLs, then calls
	 * vmb_client_release(). */
	void (*rescind)(void *ctx, uint32_t relid);
	void (*gpadl_created)(void *ctx, uint32_t relid, uint32_t gpadl,
			      uint32_t status);
	void (*gpadl_torndown)(void *ctx, uint32_t gpadl);
	void (*open_result)(void *ctx, uint32_t relid, uint32_t status);
	void (*modify_result)(void *ctx, uint32_t relid, uint32_t status);
	void (*unloaded)(void *ctx);
};

struct vmb_client_cfg {
	uint32_t max_version; /* highest version to try; 0 = newest known */
	uint32_t target_vcpu;
	uint64_t interrupt_page; /* GPA, versions < 5.0 */
	uint64_t monitor_page1;  /* GPAs */
	uint64_t monitor_page2;
};

enum vmb_client_state {
	VMB_CLIENT_IDLE,
	VMB_CLIENT_CONTACTING,
	VMB_CLIENT_CONNECTED, /* offers requested */
	VMB_CLIENT_READY,     /* all offers delivered */
	VMB_CLIENT_UNLOADING,
	VMB_CLIENT_FAILED
};

struct vmb_client_chan; /* private */
struct vmb_client_gpadl;

/* An answer the host may still send for a request that a rescind failed
 * early: the request crossed the RESCIND on the bus. Accepted once, as
 * late, instead of counted as bad. There is one per request the guest
 * made, so the host cannot make the list grow. */
struct vmb_client_owed {
	struct vmb_client_owed *next;
	uint32_t type; /* VMB_MSG_*: the answer's type */
	uint32_t relid;
	uint32_t id;   /* open id or GPADL id; 0 for MODIFYCHANNEL */
};

struct vmb_client {
	const struct vmb_client_ops *ops;
	void *ctx;
	struct vmb_client_cfg cfg;
	enum vmb_client_state state;
	uint32_t version;      /* negotiated; valid from CONNECTED on */
	uint32_t msg_conn_id;  /* where messages go after contact */
	unsigned version_idx;  /* index into the version list being tried */
	uint32_t next_gpadl;
	uint32_t next_open_id;
	struct vmb_client_chan **chans; /* indexed by relid */
	uint32_t relid_end;    /* one past the highest relid in chans, or 0 */
	struct vmb_client_gpadl *gpadls; /* pending and live */
	struct vmb_client_owed *owed;
	uint64_t late; /* owed answers that arrived */
	struct vmb_badstats bad;
};

/* Versions the client knows, newest first. */
extern const uint32_t vmb_versions[];
extern const unsigned vmb_versions_count;
const char *vmb_version_name(uint32_t version); /* "5.3 (WS2022)" */

int vmb_client_init(struct vmb_client *c, const struct vmb_client_ops *ops,
		    void *ctx, const struct vmb_client_cfg *cfg);
void vmb_client_fini(struct vmb_client *c);
/* Back to the state vmb_client_init() left (idle; no channels, GPADLs or
 * owed answers; counters zero), keeping ops, ctx, cfg and the relid table,
 * and telling the embedder nothing. Costs the channels and GPADLs held,
 * not a new table: for an embedder (or a fuzzer) that starts over often. */
void vmb_client_reinit(struct vmb_client *c);

/* Start negotiation at the highest version <= cfg.max_version. */
int vmb_client_connect(struct vmb_client *c);
/* A message from the host. VMB_OK, or VMB_EPROTO if rejected (counted). */
int vmb_client_input(struct vmb_client *c, const void *msg, uint32_t len);

/* Describe npfn guest pages as one GPADL of relid; sends GPADL_HEADER and
 * as many GPADL_BODY messages as the PFNs need. *gpadl is the new id;
 * completion arrives through ops->gpadl_created. */
int vmb_client_gpadl_create(struct vmb_client *c, uint32_t relid,
			    const uint64_t *pfn, uint32_t npfn,
			    uint32_t *gpadl);
int vmb_client_gpadl_teardown(struct vmb_client *c, uint32_t relid,
			      uint32_t gpadl);
/* Open relid on ring GPADL gpadl; the host->guest ring starts
 * downstream_pgoff pages into it. user data up to VMB_USERDEF_LEN. */
int vmb_client_open(struct vmb_client *c, uint32_t relid, uint32_t gpadl,
		    uint32_t downstream_pgoff, uint32_t target_vp,
		    const void *user, uint32_t user_len);
int vmb_client_close(struct vmb_client *c, uint32_t relid);
/* After a rescind, once the channel is closed: RELID_RELEASED. */
int vmb_client_release(struct vmb_client *c, uint32_t relid);
/* MODIFYCHANNEL (4.1+): move the host->guest interrupt to target_vp.
 * Only 5.3+ hosts answer (ops->modify_result); below 5.3 no answer comes
 * and the call is complete once it returns VMB_OK. */
int vmb_client_modify(struct vmb_client *c, uint32_t relid,
		      uint32_t target_vp);
int vmb_client_unload(struct vmb_client *c);

/* The offer of relid, or NULL. */
const struct vmb_msg_offer *vmb_client_offer(const struct vmb_client *c,
					     uint32_t relid);

#endif
