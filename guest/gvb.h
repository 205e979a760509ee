/* The guest's VMBus in user space: the transport to the host, guest
 * memory, vmb_client negotiation, drivers matched by class GUID, and each
 * channel's rings, GPADL and rt_chan.
 *
 * Threads: everything runs on the loop thread except the drivers' rx
 * callbacks, which run on each channel's worker (or, for packets left in
 * the ring when a channel stops, on the loop thread after the worker was
 * joined). */
#ifndef HVIS_GVB_H
#define HVIS_GVB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "rt_chan.h"
#include "rt_gmem.h"
#include "rt_loop.h"
#include "rt_xport.h"
#include "vmbus/vmb_client.h"

struct gvb;
struct gvb_chan;
struct gvb_gpadl;

/* What became of a driver's GPADL (gvb_gpadl_create). */
enum gvb_gpadl_ev {
	GVB_GPADL_CREATED,  /* the host mapped it: usable */
	GVB_GPADL_FAILED,   /* never created (status: the host's NTSTATUS,
			     * or unsuccessful if the channel went first) */
	GVB_GPADL_RELEASED, /* the host no longer sees the buffer: torn
			     * down, or the host gone */
};
/* Loop thread. FAILED and RELEASED are the last call for id: the buffer
 * is the driver's again. They may come after the driver's stopped(). */
typedef void gvb_gpadl_fn(struct gvb_chan *c, uint32_t id,
			  enum gvb_gpadl_ev ev, uint32_t status, void *arg);

struct gvb_driver {
	const char *name;
	const char *class_guid;
	/* Optional: before the channel's worker starts, so before the
	 * first rx (the host may send as soon as the channel is open): set
	 * up c->priv. Non-zero leaves the channel unused. Loop thread. */
	int (*prepare)(struct gvb_chan *c);
	/* Channel open and its worker running: set up, start traffic.
	 * Loop thread. */
	void (*opened)(struct gvb_chan *c);
	/* A packet from the host. */
	void (*rx)(struct gvb_chan *c, const struct vmb_pkt *pkt);
	/* Optional: after each receive batch on the worker (not after the
	 * drain), e.g. to hand on what the batch completed. */
	void (*batch_end)(struct gvb_chan *c);
	/* Optional, an orderly shutdown only, before any channel stops
	 * taking sends: a driver with threads of its own that take work
	 * from the OS (a TAP's reader) stops them taking more and lets them
	 * send what they took. Loop thread, bounded. */
	void (*quiesce)(struct gvb_chan *c);
	/* Optional: the channel is about to stop; a driver that sends from
	 * threads of its own stops them from sending on c before this
	 * returns (the endpoint is freed next). Loop thread. */
	void (*stopping)(struct gvb_chan *c);
	/* The channel's worker is stopped and the inbound ring drained
	 * into rx; anything still in flight is the driver's to account for
	 * (why: "rescinded", "host gone", "shutdown"). Loop thread. */
	void (*stopped)(struct gvb_chan *c, const char *why);
	/* Called on the loop thread every tick while open. */
	void (*tick)(struct gvb_chan *c);
};

enum gvb_chan_state {
	GVB_OFFERED,      /* no driver, or waiting to start */
	GVB_GPADL_WAIT,   /* GPADL_HEADER sent */
	GVB_OPEN_WAIT,    /* OPENCHANNEL sent */
	GVB_OPEN,
	GVB_TEARDOWN,     /* rescinded: waiting for GPADL_TORNDOWN */
	GVB_FAILED,       /* open failed; kept until rescinded */
};

struct gvb_chan {
	struct gvb *vb;
	uint32_t relid;
	struct vmb_msg_offer offer;
	uint16_t sub_index;
	const struct gvb_driver *drv;
	enum gvb_chan_state state;
	bool rescinded;
	bool draining;            /* rx called from the drain after the
				   * worker stopped: nothing can be sent */
	bool gpadl_done, open_done;   /* answers recorded by the callbacks */
	uint32_t gpadl_status, open_status;
	uint64_t open_at_ms;      /* open_delay test hook: not before this */
	int efd_g2h, efd_h2g;     /* from the offer frame */
	uint8_t *ring;            /* outbound then inbound, in guest memory */
	uint32_t ring_pages;      /* both rings */
	uint32_t out_pages;       /* outbound ring incl. header page */
	uint32_t gpadl;
	bool gpadl_live;          /* created and not torn down */
	struct gvb_gpadl *gpadls; /* the driver's, until FAILED or RELEASED */
	int cpu;
	/* MODIFYCHANNEL (5.3+) waiting for the host, then its answer */
	bool modify_pending, modify_done;
	uint32_t modify_vp, modify_status;
	struct rt_chan *rt;
	void *priv;               /* driver's */
};

struct gvb_cfg {
	const char *vmbus_path;
	uint64_t mem_size;
	uint32_t max_version;  /* 0 = newest */
	uint32_t ring_size;    /* bytes per ring incl. header page */
	bool poll;
	uint32_t open_delay_ms; /* test hook: hold OPENCHANNEL back */
	/* test hook: this long after start, move every open channel to
	 * the next VP (gvb_modify); 0 = never */
	uint32_t retarget_ms;
	/* Whose host to trust: the uid the host process must run as (a host
	 * of another user would receive guest memory and give orders). */
	uid_t host_uid;
	/* The host connection died (not called by gvb_stop). */
	void (*down)(struct gvb *vb, const char *why, void *arg);
	void *arg;
};

struct gvb {
	struct gvb_cfg cfg;
	struct rt_loop *loop;
	struct rt_xport_conn *xc; /* to the host; NULL when none */
	struct rt_gmem gmem;
	struct vmb_client cl;
	bool cl_live;
	bool connected;           /* version agreed */
	bool unloading;           /* UNLOAD sent: only the client reads */
	bool unloaded;            /* UNLOAD answered, or the host gone */
	uint64_t deaf_until;      /* open-delay hook: socket unwatched */
	int ncpu;
	struct gvb_chan **chans;  /* by relid */
	const struct gvb_driver *const *drivers;
	unsigned ndrivers;
	int rx_fds[RT_FRAME_MAX_FDS]; /* descriptors of the frame in input */
	unsigned rx_nfds;
	int tick_fd;
	uint64_t retarget_at;    /* ms, CLOCK_MONOTONIC; 0 = done */
	uint64_t xport_bad;
};

/* Connect to the host and start negotiating; 0 or -errno. */
int gvb_start(struct gvb *vb, const struct gvb_cfg *cfg, struct rt_loop *l,
	      const struct gvb_driver *const *drivers, unsigned ndrivers);
/* Stop every channel and drop the connection (no messages sent). Safe
 * on a stopped or half-started gvb. */
void gvb_stop(struct gvb *vb, const char *why);
/* A clean exit: stop every channel, UNLOAD and wait briefly for the
 * host's answer (it releases every channel and GPADL), then gvb_stop. */
void gvb_shutdown(struct gvb *vb);

/* Send from the loop thread, or from the driver's rx on the channel's
 * worker (nowait: VMB_EAGAIN if the ring is full). */
int gvb_send(struct gvb_chan *c, uint64_t xid, uint16_t flags,
	     const struct vmb_iov *iov, unsigned iovcnt, bool nowait);
/* A burst, from the same places and within one call of the driver:
 * packets put between begin and end are published together with at most
 * one signal (rt_chan_tx_begin). begin returns false if the channel is
 * not open; then neither put nor end may follow. Like gvb_send_gpa, a
 * burst (and gvb_send) may also come from a thread of the driver's own
 * that it stops in gvb_driver.stopping (netvsc's TAP reader). */
bool gvb_tx_begin(struct gvb_chan *c);
/* A GPA-direct packet (data described by guest page ranges), from the
 * same places as gvb_send, or from a thread of the driver's own that
 * the driver keeps out of the way of stopping (gvb_driver.stopping). */
int gvb_send_gpa(struct gvb_chan *c, uint64_t xid, uint16_t flags,
		 const struct vmb_gpa_range *rg, unsigned nrg,
		 const void *data, uint32_t len, bool nowait);
int gvb_put(struct gvb_chan *c, uint64_t xid, uint16_t flags,
	    const struct vmb_iov *iov, unsigned iovcnt, bool nowait);
int gvb_put_gpa(struct gvb_chan *c, uint64_t xid, uint16_t flags,
		const struct vmb_gpa_range *rg, unsigned nrg,
		const void *data, uint32_t len, bool nowait);
void gvb_tx_end(struct gvb_chan *c);
/* Within a burst: the ring bytes its puts can take without waiting
 * (rt_chan_tx_room). */
uint32_t gvb_tx_room(struct gvb_chan *c);

/* A completion of the host's transaction xid carrying data (e.g. for a
 * transfer-page packet), from the same places as gvb_send. */
int gvb_send_comp(struct gvb_chan *c, uint64_t xid, const void *data,
		  uint32_t len, bool nowait);
int gvb_put_comp(struct gvb_chan *c, uint64_t xid, const void *data,
		 uint32_t len, bool nowait);

/* Share len bytes at buf (page-aligned, in guest memory: rt_gmem_alloc
 * of c->vb->gmem) with the host as one GPADL of c, for buffers beyond the
 * ring (e.g. a receive buffer the host writes, named to the device by
 * *id). fn(arg) hears CREATED or FAILED, later RELEASED; the buffer must
 * stay allocated until FAILED or RELEASED. Loop thread, channel open
 * and running. VMB_EINVAL for a buffer outside guest memory or
 * unaligned, VMB_EBUSY if the channel is not open. */
int gvb_gpadl_create(struct gvb_chan *c, void *buf, size_t len,
		     gvb_gpadl_fn *fn, void *arg, uint32_t *id);
/* Ask the host to let go of a CREATED GPADL; RELEASED follows once it
 * has (it may wait for the host's device). A channel rescinded or
 * stopped tears every one down by itself. Loop thread. VMB_ENOENT if id
 * is no live GPADL of c, VMB_EBUSY if not created yet or already going. */
int gvb_gpadl_teardown(struct gvb_chan *c, uint32_t id);

/* MODIFYCHANNEL: ask the host to signal an open channel on target_vp and
 * move the channel's worker to that CPU (modulo the CPUs present) once
 * the host accepted: at once below 5.3 (no answer comes), on the
 * host's MODIFYCHANNEL_RESPONSE from 5.3 on. VMB_ENOTSUP below 4.1 (not
 * sent), VMB_EBUSY if not open or a request is pending. Loop thread. */
int gvb_modify(struct gvb_chan *c, uint32_t target_vp);

#endif
