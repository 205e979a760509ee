/* Internals of netvsc (gnet*.c).
 *
 * An adapter (gnet_nic) has a primary channel and the sub-channels it
 * asked for (gnet_chan, by sub_index), each with a TAP queue of its own.
 *
 * Threads:
 * - The loop thread makes the buffers and their GPADLs, starts NVSP,
 *   opens the sub-channels, makes the TAP device and starts its readers,
 *   and stops everything.
 * - Each channel's worker takes the host's answers and notices (the
 *   primary's: engines under ch[0].lock), gives sections back (sb_lock),
 *   writes received frames to its TAP queue and completes the
 *   transfer-page packets, once per receive batch (its own lock: its
 *   copy of the NVSP engine and its gathered completions).
 * - One reader thread per TAP queue reads frames into send sections and
 *   sends them on its channel (see gnet_io.c for why threads of their
 *   own); the channel's worker does too after each receive batch, the
 *   queue's send_lock picking one of the two (taken before sb_lock and
 *   the channel's send side; the worker only tries it, its channel's
 *   lock let go). Lock order: a channel's lock, then ch[0].lock. */
#ifndef HVIS_GNET_PRIV_H
#define HVIS_GNET_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "gnet.h"
#include "net/nvsp_guest.h"
#include "net/rndis_guest.h"
#include "net/rndis_ppi.h"
#include "rt_ctr.h"
#include "rt_tapio.h"
#include "rt_tap.h"

#define GNET_RECV_SIZE (16u << 20)
#define GNET_SEND_SIZE (1u << 20)
/* Completions of transfer-page packets gathered before they go out. */
#define GNET_COMP_MAX 256u
/* Channels an adapter takes: the primary and 63 sub-channels (the most
 * a host offers is 64 queues). */
#define GNET_CHANS 64u
/* How long the sub-channels granted may take to open before RSS goes
 * on over those that did. */
#define GNET_SUBCH_WAIT_MS 5000u
/* Room for the PACKET header and one per-packet info (checksum or LSO)
 * before each frame read from the TAP. */
#define GNET_PKT_ROOM ((uint32_t)(sizeof(struct rndis_packet) + \
				  sizeof(struct rndis_ppi_hdr) + 4u))
/* TX buffers for frames larger than a send section (LSO): a 64 KiB IP
 * packet, its Ethernet header and GNET_PKT_ROOM, whole pages. */
#define GNET_BIG_BUFS 8u
#define GNET_BIG_PAGES 17u
#define GNET_BIG_SIZE (GNET_BIG_PAGES * 4096u)
/* Transaction ids of big buffers: above every section's (index + 1). */
#define GNET_BIG_XID (1ull << 32)

/* RSC: the most pieces one coalesced frame may come in (Linux's limit
 * of ranges a transfer packet has with RSC), and its largest size (a
 * 64 KiB IP packet, its Ethernet header with two tags). */
#define GNET_RSC_PIECES NVSP_RECV_MAX_RANGES_RSC
#define GNET_RSC_FRAME (65535u + 22u)

/* A coalesced frame being gathered (worker): its pieces at iov[2..],
 * iov[0] and [1] left for the virtio-net header and the fixed headers. */
struct gnet_rsc {
	bool on;                  /* a first came, the last not yet */
	bool bad;                 /* dropped (counted): wait for the last */
	uint32_t n, len;          /* pieces, bytes */
	struct rndis_pkt_meta meta; /* the first piece's PPIs */
	struct iovec iov[GNET_RSC_PIECES + 2];
};

/* A channel's offloads in force on the TAP (set before its reader
 * starts) and its big buffers, taken by its reader, given back by the
 * host's completion on its worker. */
struct gnet_offload {
	struct rndis_guest_offload on;
	uint8_t *big;              /* GNET_BIG_BUFS * GNET_BIG_SIZE, or NULL */
	_Atomic uint32_t big_free; /* bit i: buffer i is ours */
};

struct gnet_nic;

struct gnet_chan {
	struct gnet_nic *nic;
	struct gvb_chan *c;       /* NULL once stopped (or never prepared) */
	unsigned q;               /* sub_index: TAP queue and RSS queue */
	bool open;                /* loop thread: between opened, stopping */
	pthread_mutex_t lock;
	/* the primary's: the init engine; a sub-channel's: a copy of it
	 * once READY, for the data path */
	struct nvsp_guest nvsp;
	uint64_t comp[GNET_COMP_MAX];
	unsigned ncomp;
	struct rndis_ppi_stats ppi; /* worker */
	/* the reader waits for a section or a big buffer: set and cleared
	 * by the reader only, else cleared by a wake that writes room_efd */
	_Atomic bool want_room;
	pthread_t reader;
	bool reader_on;
	_Atomic bool reader_done; /* its thread is about to end */
	int stop_efd, room_efd;
	/* The queue's send side: taken by the reader for each burst and
	 * by the worker for one after a receive batch (gnet_io_tx_worker);
	 * its holder owns rio, stage, tx_want and the tx_ counters.
	 * send_open: frames may be taken from the TAP queue (loop thread
	 * sets it; cleared at quiesce, and under send_lock before the stage
	 * goes). */
	pthread_mutex_t send_lock;
	_Atomic bool send_open;
	struct gnet_offload off;
	struct gnet_rsc rsc;      /* worker */
	/* TAP bursts: the worker's writes, the send side's reads (made on
	 * first use, freed when the channel stops) */
	struct rt_tapio wio, rio;
	bool wio_on, rio_on;
	rt_ctr rx_calls, tx_calls;   /* their system calls */
	/* the send side's: the slots a read burst's frames come into (each
	 * stage_slot bytes, room for the largest the MTU allows), and the
	 * frames the next burst asks for */
	uint8_t *stage;
	uint32_t stage_slot;
	unsigned tx_want;
	rt_ctr tx_frames, tx_drops;  /* send side */
	rt_ctr tx_msgs;              /* send side: sections and big sends */
	rt_ctr tx_worker;            /* send side: frames the worker sent */
	rt_ctr tx_csum, tx_lso, tx_big, tx_sw_csum, tx_refused;
	rt_ctr rx_frames, rx_drops, rx_csum_ok;  /* worker */
	rt_ctr rx_rsc, rx_rsc_bad;               /* worker */
};

struct gnet_nic {
	struct gvb_chan *c;       /* the primary; NULL once stopped */
	struct gvb *vb;
	struct vmb_guid instance;
	struct gnet_nic *next;    /* all adapters (loop thread) */
	unsigned refs;            /* channels + GPADLs not ended (loop) */
	unsigned live;            /* channels prepared, not stopped (loop) */
	bool open;                /* loop thread: between opened, stopping */
	uint8_t *rbuf, *sbuf;     /* guest memory */
	uint32_t rgpadl, sgpadl;
	unsigned created;         /* GPADLs the host mapped */
	struct gnet_chan ch[GNET_CHANS]; /* by sub_index */
	/* engines (ch[0].lock) */
	struct rndis_guest rndis;
	bool failed;
	/* sub-channels: asked for (set before the request goes out: an
	 * offer past it is the host's doing and refused), granted, opened;
	 * nchan channels (primary included) carry RSS and have a TAP
	 * queue once RSS is set */
	_Atomic uint16_t asked;
	uint16_t granted;         /* ch[0].lock */
	bool subch_wait;          /* ch[0].lock: RSS waits for the opens */
	uint64_t subch_until;     /* loop thread: ms, give up waiting */
	unsigned table_gen;       /* gnet_cfg.table_gen last set (loop) */
	_Atomic uint32_t nchan;
	rt_ctr unasked;           /* sub-channel offers refused (loop) */
	_Atomic uint64_t bad_comp; /* any thread: atomic_fetch_add */
	/* send sections */
	pthread_mutex_t sb_lock;
	struct nvsp_sendbuf sb;
	uint64_t *sb_map;
	uint32_t ssize;           /* section size, once NVSP is ready */
	/* TX aggregation (set before the readers start): the limits, an
	 * empty aggregate each section starts from, and the room a
	 * section must have left to take one more frame (the largest the
	 * MTU lets the TAP give, and a byte to tell one cut short) */
	struct rndis_agg tx_agg;
	uint32_t tx_need;
	unsigned tx_per_sec;      /* frames of tx_need bytes a section takes */
	/* the TAP */
	_Atomic bool tap_due;     /* RNDIS ready: make the TAP (tick) */
	bool tap_tried;
	_Atomic bool have_tap;
	/* the host's link indications (worker), the TAP's carrier made to
	 * follow on the loop thread (tick) */
	_Atomic bool link_up, link_due;
	struct rt_tap tap;
};

/* gnet.c: a section out of the allocator (NVSP_SECTION_NONE when all
 * are in use) and back. Any thread. */
uint32_t gnet_section_get(struct gnet_nic *n);
void gnet_section_put(struct gnet_nic *n, uint32_t idx);
/* Wake ch's reader if it waits for a section or a big buffer. */
void gnet_room_wake(struct gnet_chan *ch);
/* gnet.c: one RNDIS control message from the host (ch[0].lock held). */
void gnet_control(struct gnet_nic *n, const uint8_t *msg, uint32_t len);
/* gnet.c: the next RNDIS init request, if one is due (ch[0].lock). */
void gnet_rndis_next(struct gnet_nic *n);
/* gnet.c: an RNDIS control message to the host (ch[0].lock). */
void gnet_ctl_send(struct gnet_nic *n, const uint8_t *msg, uint32_t len);

/* gnet.c: a channel of n set up for c (refs and live counted), and a
 * reference dropped (the last frees). Loop thread. */
int gnet_chan_init(struct gnet_nic *n, struct gvb_chan *c);
void gnet_nic_put(struct gnet_nic *n);

/* gnet_io.c */
/* A transfer-page packet from the host (worker, or the drain). */
void gnet_io_recv(struct gnet_chan *ch, const struct vmb_pkt *pkt);
/* Send the gathered completions (ch->lock held); false if some must
 * wait for ring room. */
bool gnet_io_flush(struct gnet_chan *ch);
/* One frame (n iovecs, the virtio-net header first) to the channel's
 * TAP queue now, after the frames queued before it (worker): writev's
 * result. */
ssize_t gnet_io_writev(struct gnet_chan *ch, const struct iovec *iov,
		       unsigned n);
/* After a receive batch (worker): the frames the TAP queue holds sent
 * from here, unless the reader is sending; never waits. */
void gnet_io_tx_worker(struct gnet_chan *ch);
/* The channel's TAP bursts freed (its reader and worker stopped). */
void gnet_io_free(struct gnet_chan *ch);
/* One line: the frames the channel read from and wrote to its TAP
 * queue, and the system calls that took. */
void gnet_io_log(const struct gnet_chan *ch);
/* The TAP with a queue per RSS channel, a reader on each. */
int gnet_io_start(struct gnet_nic *n);
/* Channel ch's reader stopped (loop thread). */
void gnet_io_stop(struct gnet_chan *ch);
/* Shutting down: every reader of the NIC told to stop, given up to
 * READER_GRACE_MS together to send what it read from hn0 while the
 * channels take sends (a frame read and not sent is lost), then
 * stopped. Loop thread. */
void gnet_io_quiesce(struct gnet_nic *n);
/* gnet_offload.c */
/* The offloads RNDIS agreed turned on at the TAP, and each reading
 * channel's big buffers made when LSO is among them (loop thread,
 * before the readers start). */
void gnet_offload_start(struct gnet_nic *n);
void gnet_offload_free(struct gnet_nic *n);
/* One log line of a channel's offload counters. */
void gnet_offload_log(const struct gnet_chan *ch);
/* A frame read from the TAP with virtio-net header vh (len bytes at
 * frame, writable): the PPIs it needs in m, its headers fixed as the
 * host's contract has them, or its checksum completed here where the
 * host was not asked to. false: dropped (counted). Reader. */
bool gnet_offload_tx(struct gnet_chan *ch, const uint8_t *vh,
		     uint8_t *frame, uint32_t len, struct rndis_pkt_meta *m);
/* The virtio-net header for a received frame whose PPIs are m. */
void gnet_offload_rx(struct gnet_chan *ch, const struct rndis_pkt_meta *m,
		     uint8_t vh[RT_TAP_VNET_HDR_LEN]);
/* A big buffer of ch (its index), or -1 when none is free or there are
 * none. */
int gnet_big_get(struct gnet_chan *ch);
/* Buffer i back (xid of its send, from the host's completion), the
 * reader woken if it waits for one; false when i is no buffer in
 * flight. */
bool gnet_big_put(struct gnet_chan *ch, uint64_t xid);
/* A buffer the reader took and did not send back, without waking it
 * (it would wake itself, and spin while it waits for a section). */
void gnet_big_back(struct gnet_chan *ch, int big);

/* gnet_rsc.c (worker) */
/* A PACKET of a transfer packet: true when it is an RSC piece (taken:
 * gathered, the frame written at its last), false when it is a frame of
 * its own (a sequence left open before it dropped). */
bool gnet_rsc_piece(struct gnet_chan *ch, const struct rndis_pkt *pk);
/* The transfer packet's ranges are done: a sequence still open is
 * dropped (pieces never span packets). */
void gnet_rsc_end(struct gnet_chan *ch);

/* gnet_chan.c: sub-channels and RSS */
/* Adapters by instance (loop thread). */
void gnet_nic_link(struct gnet_nic *n);
void gnet_nic_unlink(struct gnet_nic *n);
/* A sub-channel's offer: its adapter's slot, or -1 (refused). */
int gnet_chan_prepare(struct gvb_chan *c);
/* A sub-channel opened (loop thread). */
void gnet_chan_opened(struct gnet_chan *ch);
/* RNDIS reached its RSS step (ch[0].lock): ask for sub-channels, or
 * go on with one. */
void gnet_chan_ask(struct gnet_nic *n);
/* The host granted count sub-channels (ch[0].lock). */
void gnet_chan_granted(struct gnet_nic *n, uint32_t count);
/* Primary's tick (loop thread): stop waiting for sub-channels that do
 * not open; once RNDIS is ready, set the table --net-rss-table asks for
 * (again after each reload). */
void gnet_chan_tick(struct gnet_nic *n);
/* A sub-channel's counters into the log (the primary's line has its
 * own with the adapter's tally). */
void gnet_chan_log(const struct gnet_chan *ch);
/* gnet_lookup.c: an adapter's TAP device is made / is about to go
 * (loop thread), for gnet_lookup_mac. */
void gnet_lookup_add(const struct gnet_nic *n);
void gnet_lookup_del(const struct gnet_nic *n);

#endif
