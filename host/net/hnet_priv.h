/* Internals of netvsp (hnet*.c).
 *
 * Threads: the loop thread makes NICs and opens and closes channels; all
 * else runs on the channel's worker: NVSP and RNDIS messages (hnet.c),
 * guest frames to the TAP and TAP frames to the guest (hnet_data.c),
 * the latter when the TAP queue, the channel's aux_fd, is readable.
 * A frame read on channel q's queue goes to the channel the guest's RSS
 * table names (hnet_rss.c): q's worker puts it on that channel's ring
 * under its send side. Counters are written by the worker, or by
 * whoever holds the channel's send side (rx_*), and read racily by
 * describe.
 *
 * The NIC's shared state (the receive buffer, its partitions, the open
 * channels, RSS) is guarded by nic->lock: workers hold it for reading
 * while they read a burst from their TAP queue, and for a moment per
 * target channel of a burst and per batch of completions (never per
 * frame, and never across a put, which may wait for the target's other
 * sender and so for the guest); the loop thread (channels coming and
 * going) and the primary's worker (buffer mapped or revoked, RNDIS
 * state changed) hold it for writing. A target's users count keeps it
 * from being freed under a put. Partition
 * q of the receive buffer is touched by channel q's worker only; the
 * others hand it back the sub-allocations the guest completed on them
 * through its return box (nic->ret[q], its own mutex, once per batch). */
#ifndef HVIS_HNET_PRIV_H
#define HVIS_HNET_PRIV_H

#include <pthread.h>
#include <sys/uio.h>

#include "hnet.h"
#include "hnet_sw.h"
#include "hvm.h"
#include "net/nvsp_host.h"
#include "net/nframe.h"
#include "net/ngro.h"
#include "net/nvsp_rxbuf.h"
#include "net/rndis_host.h"
#include "net/rndis_ppi.h"
#include "net/vnet_wire.h"
#include "rt_ctr.h"
#include "rt_tap.h"
#include "rt_tapio.h"

/* The most bytes one SEND_RNDIS_PKT may carry here (an LSO frame: a
 * 64 KiB IP packet, its Ethernet header and the RNDIS header with its
 * PPIs); larger ones are refused. */
#define HNET_MSG_MAX ((64u << 10) + 1024u)
/* Pages one message's GPA ranges may span. */
#define HNET_IOV (HNET_MSG_MAX / 4096u + 2u)
/* Bytes of each frame the guest sends copied with its RNDIS header
 * (ch->msg): its Ethernet, IP and TCP/UDP headers, for offloads. */
#define HNET_PEEK 256u
/* Frames read from the TAP per wakeup: one signal to the guest each. */
#define HNET_RX_BATCH 64u
/* Frames one transfer-page packet carries at most, one RNDIS PACKET a
 * range (as Linux's netvsc_receive takes them): within every guest's
 * limit (Linux's is 64 ranges below NDIS 6.0, NVSP_RECV_MAX_RANGES from
 * it), and 576 bytes of ring packet at most (header, ranges, NVSP). */
#define HNET_XFER_RANGES 64u
_Static_assert(HNET_XFER_RANGES <= NVSP_RECV_MAX_RANGES, "ranges");
#define HNET_MTU 1500u
/* RSC: the largest frame the TAP hands over with TSO (a 64 KiB IP
 * packet and its Ethernet header with two tags), and the pieces it takes
 * at the smallest sub-allocation (MTU 1514: 1514 bytes of room). */
#define HNET_RSC_FRAME_MAX (65535u + 22u)
#define HNET_RSC_PIECES 44u
/* Reads of a receive burst with RSC on (each with a chain's iovecs:
 * rt_tapio's room for them). */
#define HNET_RSC_BURST 16u
/* Completions of data messages held until their frames are written
 * (hnet_tx_done). */
#define HNET_COMP_MAX 64u
/* A message's frames are written at its end, not the batch's, once the
 * burst holds this many bytes: an LSO frame, or a merged run near the
 * IP limit, gains nothing from waiting, and the guest gets its buffer
 * back sooner. */
#define HNET_TX_HOLD_BYTES 60000u
/* Channels (TAP queues) a NIC may have: primary + 63 sub-channels, and
 * the default's cap (Hyper-V's vRSS default of 8 queues). */
#define HNET_QUEUES_MAX 64u
#define HNET_QUEUES_DEFAULT 8u
/* Completions of other channels' sub-allocations gathered in a batch
 * before they go to their owners' return boxes. */
#define HNET_BACK_MAX 256u

struct hnet_chan;

/* Sub-allocations completed on other channels, for owner q. */
struct hnet_ret {
	pthread_mutex_t lock;
	_Atomic uint32_t n;
	uint32_t cap;
	uint32_t *id;          /* cap entries (a slice of nic->ret_ids) */
	rt_ctr dropped;        /* more than the partition holds: refused */
};

struct hnet_nic {
	struct hdev *d;
	unsigned index;
	uint8_t mac[6];
	struct rt_tap tap;
	unsigned queues;          /* TAP queues = channels offered */
	pthread_rwlock_t lock;    /* see above */
	struct hnet_chan *chan[HNET_QUEUES_MAX]; /* running, by sub_index */
	/* the receive buffer, mapped by the primary, one for all channels */
	struct hvm_gpadl_ref rbuf;
	struct nvsp_rxbuf rxb;
	uint32_t *link;           /* rxb's, one per sub-allocation */
	uint32_t *ret_ids;        /* the return boxes' entries */
	struct hnet_ret ret[HNET_QUEUES_MAX];
	bool rx_ready;            /* receive buffer laid out */
	uint32_t rx_gen;          /* bumped when laid out again or taken */
	bool rx_on;               /* RNDIS ready with a packet filter */
	bool rss_on;              /* the guest's RSS in force */
	bool table_sent;          /* SEND_INDIRECTION_TABLE went */
	bool have_proto;          /* sub-channels granted: */
	struct nvsp_host proto;   /* the primary's engine then */
	struct rss_cfg *rss;      /* the guest's key, types and table */
	_Atomic uint32_t offload; /* hnet_offload_set's flags */
	_Atomic unsigned tun_flags; /* TUN_F_* on the TAP (hnet_rsc_tap) */
	struct hnet_bench *bench; /* the bench port (hnet_port.h), or NULL */
	struct hnet_sw sw;
};

struct hnet_chan {
	struct hvm_chan *c;
	struct hnet_nic *nic;
	struct nvsp_host eng;
	struct rndis_host rndis;
	/* other channels' workers putting frames on this one now: its
	 * quiesce waits for none */
	_Atomic unsigned users;
	unsigned q;              /* sub_index: queue and partition */
	struct hvm_gpadl_ref sbuf;
	/* completions of this batch not yet given back (xids as sent) */
	uint64_t back[HNET_BACK_MAX];
	unsigned nback;
	/* frames of this burst, to be put on the channels they go to */
	struct hnet_steer {
		uint32_t id, off, len, flen;
		uint8_t to;
		uint8_t npieces;  /* RSC: ranges at rsc_rng[rng]; 0: one */
		uint16_t rng;
	} out[HNET_RX_BATCH];
	unsigned nout;
	/* the burst's RSC pieces, as ranges of their transfer packets */
	struct vmb_xfer_range rsc_rng[HNET_RX_BATCH * HNET_RSC_PIECES];
	unsigned nrng;
	/* the transfer packets of the burst's frames for one target: a
	 * chain of plain frames each (their ranges at rng, their ids at
	 * jid), or a coalesced frame */
	struct hnet_xpkt {
		const struct vmb_xfer_range *rng;
		uint32_t id, bytes;
		uint16_t nrng, frames;
	} pk[HNET_RX_BATCH];
	unsigned npk;
	struct vmb_xfer_range rng[HNET_RX_BATCH];
	uint32_t jid[HNET_RX_BATCH];
	uint32_t rsc_id;         /* PKTINFO_ID of the next coalesced frame */
	/* the chains of a burst's reads (hnet_rsc_queue) */
	uint32_t rsc_ids[HNET_RSC_BURST][HNET_RSC_PIECES];
	uint32_t unsent[HNET_RX_BATCH]; /* to give back after the puts */
	unsigned nunsent;
	uint32_t out_gen;        /* nic->rx_gen of the burst */
	/* worker scratch: the message's places in guest memory, and what
	 * of it was copied out, at the same offsets (a control message
	 * whole; of data, what hnet_tx's walk reads) */
	struct iovec giov[HNET_IOV];
	unsigned ngiov;
	uint8_t msg[HNET_MSG_MAX];
	struct rndis_ppi_stats ppi;
	/* the TAP queue's bursts (hnet_port.h), and the frames the next
	 * receive burst asks for (what the last found, and one more) */
	struct rt_tapio tio;
	unsigned rx_want;
	/* a transmit burst's requests outlive the message they came from:
	 * what they would write from ch->msg is copied here (the head of a
	 * merged run is its run's), the guest frames each stands for, the
	 * open run (ngro.h, of request run_op), and the completions owed
	 * once the burst is written */
	uint8_t tx_head[RT_TAPIO_OPS][HNET_PEEK];
	uint16_t tx_segs[RT_TAPIO_OPS];
	uint32_t tx_held;        /* bytes the burst's writes hold */
	struct ngro_run run;
	unsigned run_op;
	struct hnet_comp {
		uint64_t xid;
		uint32_t status;
	} comp[HNET_COMP_MAX];
	unsigned ncomp;
	/* counters */
	rt_ctr tx_frames, tx_bytes, tx_err, tx_bad;
	rt_ctr tx_msgs;          /* SEND_RNDIS_PKT data messages walked */
	rt_ctr tx_calls, rx_calls; /* system calls on the TAP queue */
	rt_ctr rx_frames, rx_bytes, rx_full, rx_idle, rx_ring_full, rx_long;
	rt_ctr rx_msgs;          /* transfer packets of data frames sent */
	rt_ctr tx_gro;           /* guest frames merged into the one before */
	rt_ctr tx_csum, tx_lso, rx_csum_ok, rx_csum_sw, rx_csum_bad;
	rt_ctr ctl_msgs, ctl_dropped, map_failed;
	rt_ctr rx_steered;       /* read here, sent on another channel */
	rt_ctr rsc_frames, rsc_pieces, rsc_bad; /* read here */
	struct hnet_sw_chan sw;
};

/* hnet.c */
void hnet_send_comp(struct hnet_chan *ch, uint64_t xid, const void *buf,
		    uint32_t len);
/* hnet_offload.c */
/* What the TAP backend can do, as RNDIS offers it. */
uint32_t hnet_offload_caps(void);
/* TUN_F_CSUM on the NIC's TAP (frames may come with partial checksums). */
void hnet_offload_tap(struct hnet_nic *nic);
/* What the guest agreed to (the primary's RNDIS engine), for every
 * channel of the NIC. */
void hnet_offload_set(struct hnet_nic *nic,
		      const struct rndis_offload_state *s);
/* The guest's offload request for PACKET p (parsed from ch->msg) as a
 * virtio-net header in h, the frame's headers fixed in ch->msg: how many
 * bytes at the frame's start must be written from there (0: none), or
 * -1 when the request is refused (counted in tx_bad; drop the frame). */
int hnet_offload_tx(struct hnet_chan *ch, const struct rndis_pkt *p,
		    struct vnet_hdr *h);
/* A frame read from the TAP with virtio-net header vh into the guest's
 * receive buffer (len bytes at frame): a partial checksum completed in
 * place, the PPIs to send with it in m. false: drop it (counted). */
bool hnet_offload_rx(struct hnet_chan *ch, const uint8_t *vh, uint8_t *frame,
		     uint32_t len, struct rndis_pkt_meta *m);
/* Whether the guest agreed RSC for either family (TAP reads then offer
 * room for a 64 KiB frame). */
bool hnet_offload_rsc_on(const struct hnet_chan *ch);
/* A GSO frame read from the TAP (len bytes, the first have of them at
 * head): checked against what the guest agreed and the frame's headers
 * (TCP of an agreed family, the partial checksum TCP's, IP lengths the
 * whole frame's), the IPv4 header checksum made valid, the first
 * piece's checksum verdict in m. false: drop it (counted in rsc_bad). */
bool hnet_offload_rsc(struct hnet_chan *ch, const uint8_t *vh, uint8_t *head,
		      uint32_t len, uint32_t have, struct rndis_pkt_meta *m);
/* hnet_rsc.c */
/* TUN_F_CSUM and the TSO of each family RSC is agreed for on the TAP
 * (an ioctl only when they change). */
void hnet_rsc_tap(struct hnet_nic *nic, bool rsc4, bool rsc6);
/* The i-th read of a receive burst queued in ch->tio (i < HNET_RSC_BURST),
 * with room for 64 KiB in a chain of sub-allocations (the first read
 * may take a shorter one when the partition is short of room, the
 * others not); false when it cannot be. */
bool hnet_rsc_queue(struct hnet_chan *ch, unsigned i);
/* That read done (o its request): the frame to the guest, as RSC
 * pieces or as one frame, or dropped, or the chain given back. 1 when
 * it found a frame. */
unsigned hnet_rsc_done(struct hnet_chan *ch, unsigned i,
		       struct rt_tapio_op *o);
extern const struct hdev_class hnet_class;
/* The NIC of vm whose port is called name (its TAP, or "bench"), or
 * NULL; removing: it is being removed (hnet_ctl.c). Loop thread. */
struct hnet_nic *hnet_nic_named(struct hvm *vm, const char *name,
				bool *removing);

/* An RNDIS control message (an answer, an indication) to the guest in a
 * control sub-allocation; dropped and counted when none is free. */
bool hnet_ctl_answer(struct hnet_chan *ch, const uint8_t *msg, uint32_t len);
/* hnet_data.c */
/* A frame read into sub-allocation id (n bytes past its header room)
 * to the guest: the switch port's say, offloads, RNDIS header,
 * steering. 1. */
int hnet_rx_frame(struct hnet_chan *ch, uint32_t id,
		  const uint8_t vnet[RT_TAP_VNET_HDR_LEN], uint32_t n);
/* The places in guest memory of the RNDIS bytes of r (a section or GPA
 * ranges) into ch->giov: their length, or -1 (counted) when they are not
 * all in guest memory or too long. Nothing is copied yet. */
int64_t hnet_msg_get(struct hnet_chan *ch, const struct nvsp_host_rndis *r);
/* Bytes [off, off + len) of that message into ch->msg at offset off. */
void hnet_msg_copy(struct hnet_chan *ch, uint32_t off, uint32_t len);
/* The guest's RNDIS PACKETs of len bytes queued for the TAP (written
 * by hnet_tx_flush, at the latest at the end of the ring batch). false
 * if malformed. */
bool hnet_tx(struct hnet_chan *ch, uint32_t len);
/* The completion of data message xid, sent once the frames queued
 * before it are written (at once when none are). */
void hnet_tx_done(struct hnet_chan *ch, uint64_t xid, uint32_t status);
/* The queued frames to the TAP, then the completions owed. */
void hnet_tx_flush(struct hnet_chan *ch);
/* Frames waiting on the TAP to the guest, read and gathered for
 * hnet_rss_flush (nic->lock held to read). */
void hnet_rx(struct hnet_chan *ch);
/* One RNDIS message (len bytes at offset off of sub-allocation id,
 * written there by the caller) to the guest on ch as a transfer-page
 * packet inside a burst; false (id still the caller's to give back)
 * when the ring is full and the caller would not wait (data: dropped)
 * or the channel is stopping. Control answers wait: the guest waits for
 * them. */
bool hnet_put_xfer(struct hnet_chan *ch, uint32_t id, uint32_t off,
		   uint32_t len, uint32_t channel_type);
/* The same for n ranges of the receive buffer under chain id (data:
 * the frames of a burst joined, or a coalesced frame's pieces). */
bool hnet_put_ranges(struct hnet_chan *ch, uint32_t id,
		     const struct vmb_xfer_range *r, unsigned n,
		     uint32_t channel_type);

/* hnet_rss.c */
/* nic->lock held for reading, on ch's worker: */
/* The frame of sub-allocation id (len bytes at off) to the channel RSS
 * names, gathered until hnet_rss_flush. */
void hnet_rss_add(struct hnet_chan *ch, uint32_t id, uint32_t off,
		  uint32_t len, const uint8_t *frame, uint32_t flen);
/* A coalesced frame: chain id, its npieces ranges at
 * ch->rsc_rng[ch->nrng], its head (hlen bytes) for the hash. */
void hnet_rss_add_rsc(struct hnet_chan *ch, uint32_t id, uint16_t npieces,
		      const uint8_t *head, uint32_t hlen, uint32_t flen);
/* The burst's frames onto their channels: one burst (and at most one
 * signal) per channel. nic->lock NOT held: a put may wait for another
 * sender of the target (takes the lock itself, briefly). */
void hnet_rss_flush(struct hnet_chan *ch);
/* Waits until no other worker puts frames on ch (loop thread, ch's
 * sends already failing). */
void hnet_rss_unused(struct hnet_chan *ch);
/* Sub-allocations of ch's partition the other channels gave back. */
void hnet_rss_reclaim(struct hnet_chan *ch);
/* RX_DONE of xid on ch: gathered, given back at hnet_rss_back_flush. */
void hnet_rss_back(struct hnet_chan *ch, uint64_t xid);
/* Takes nic->lock itself. */
void hnet_rss_back_flush(struct hnet_chan *ch);
/* The primary's RNDIS state into the NIC's (takes nic->lock to write);
 * sends the send indirection table the first time RSS comes on. */
void hnet_rss_update(struct hnet_chan *ch);
/* Return boxes over the laid-out buffer (nic->lock held to write). */
bool hnet_rss_boxes(struct hnet_nic *nic);

#endif
