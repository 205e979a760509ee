/* Internals of netvsc (gnet*.c).
 *
 * Threads:
 * - The loop thread makes the buffers and their GPADLs, starts NVSP,
 *   makes the TAP device and starts its reader, and stops everything.
 * - The channel's worker takes the host's answers and notices (engines
 *   under lock), gives sections back (sb_lock), writes received frames
 *   to the TAP and completes the transfer-page packets, once per
 *   receive batch.
 * - The reader thread reads frames from the TAP into send sections and
 *   sends them (see gnet_io.c for why a thread of its own). */
#ifndef HVIS_GNET_PRIV_H
#define HVIS_GNET_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "gnet.h"
#include "net/nvsp_guest.h"
#include "net/rndis_guest.h"
#include "net/rndis_ppi.h"
#include "rt_ctr.h"
#include "rt_tap.h"

#define GNET_RECV_SIZE (16u << 20)
#define GNET_SEND_SIZE (1u << 20)
/* Completions of transfer-page packets gathered before they go out. */
#define GNET_COMP_MAX 256u
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

/* Offloads in force on the TAP (set before the reader starts) and the
 * big buffers, taken by the reader, given back by the host's completion
 * on the worker. */
struct gnet_offload {
	struct rndis_guest_offload on;
	uint8_t *big;              /* GNET_BIG_BUFS * GNET_BIG_SIZE, or NULL */
	_Atomic uint32_t big_free; /* bit i: buffer i is ours */
};

struct gnet_nic {
	struct gvb_chan *c;       /* NULL once stopped */
	struct gvb *vb;
	unsigned refs;            /* the channel + GPADLs not ended (loop) */
	bool open;                /* loop thread: between opened, stopping */
	uint8_t *rbuf, *sbuf;     /* guest memory */
	uint32_t rgpadl, sgpadl;
	unsigned created;         /* GPADLs the host mapped */
	/* engines and gathered completions */
	pthread_mutex_t lock;
	struct nvsp_guest nvsp;
	struct rndis_guest rndis;
	bool failed;
	uint64_t comp[GNET_COMP_MAX];
	unsigned ncomp;
	struct rndis_ppi_stats ppi; /* worker */
	/* send sections */
	pthread_mutex_t sb_lock;
	struct nvsp_sendbuf sb;
	uint64_t *sb_map;
	uint32_t ssize;           /* section size, once NVSP is ready */
	_Atomic bool want_room;   /* the reader waits for a section */
	/* the TAP and its reader */
	_Atomic bool tap_due;     /* RNDIS ready: make the TAP (tick) */
	bool tap_tried;
	_Atomic bool have_tap;
	struct rt_tap tap;
	pthread_t reader;
	bool reader_on;
	int stop_efd, room_efd;
	struct gnet_offload off;
	rt_ctr tx_frames, tx_drops;  /* reader */
	rt_ctr tx_csum, tx_lso, tx_big, tx_sw_csum, tx_refused;
	rt_ctr rx_frames, rx_drops;  /* worker */
	rt_ctr rx_csum_ok;
	rt_ctr bad_comp;
};

/* gnet.c: a section out of the allocator (NVSP_SECTION_NONE when all
 * are in use) and back. Any thread. */
uint32_t gnet_section_get(struct gnet_nic *n);
void gnet_section_put(struct gnet_nic *n, uint32_t idx);
/* Wake the reader if it waits for a section or a big buffer. */
void gnet_room_wake(struct gnet_nic *n);

/* gnet_io.c */
/* A transfer-page packet from the host (worker, or the drain). */
void gnet_io_recv(struct gnet_nic *n, const struct vmb_pkt *pkt);
/* Send the gathered completions (lock held); false if some must wait
 * for ring room. */
bool gnet_io_flush(struct gnet_nic *n);
int gnet_io_start(struct gnet_nic *n);
void gnet_io_stop(struct gnet_nic *n);
/* gnet_offload.c */
/* The offloads RNDIS agreed turned on at the TAP, and the big buffers
 * made when LSO is among them (loop thread, before the reader starts). */
void gnet_offload_start(struct gnet_nic *n);
void gnet_offload_free(struct gnet_nic *n);
/* One log line of the offload counters. */
void gnet_offload_log(const struct gnet_nic *n);
/* A frame read from the TAP with virtio-net header vh (len bytes at
 * frame, writable): the PPIs it needs in m, its headers fixed as the
 * host's contract has them, or its checksum completed here where the
 * host was not asked to. false: dropped (counted). Reader. */
bool gnet_offload_tx(struct gnet_nic *n, const uint8_t *vh, uint8_t *frame,
		     uint32_t len, struct rndis_pkt_meta *m);
/* The virtio-net header for a received frame whose PPIs are m. */
void gnet_offload_rx(struct gnet_nic *n, const struct rndis_pkt_meta *m,
		     uint8_t vh[RT_TAP_VNET_HDR_LEN]);
/* A big buffer (its index), or -1 when none is free or there are none. */
int gnet_big_get(struct gnet_nic *n);
/* Buffer i back (xid of its send, from the host's completion), the
 * reader woken if it waits for one; false when i is no buffer in
 * flight. */
bool gnet_big_put(struct gnet_nic *n, uint64_t xid);
/* A buffer the reader took and did not send back, without waking it
 * (it would wake itself, and spin while it waits for a section). */
void gnet_big_back(struct gnet_nic *n, int big);

/* gnet.c: one RNDIS control message from the host (lock held). */
void gnet_control(struct gnet_nic *n, const uint8_t *msg, uint32_t len);

#endif
