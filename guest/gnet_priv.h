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
	/* the host's link indications (worker), the TAP's carrier made to
	 * follow on the loop thread (tick) */
	_Atomic bool link_up, link_due;
	struct rt_tap tap;
	pthread_t reader;
	bool reader_on;
	int stop_efd, room_efd;
	rt_ctr tx_frames, tx_drops;  /* reader */
	rt_ctr rx_frames, rx_drops;  /* worker */
	rt_ctr bad_comp;
};

/* gnet.c: a section out of the allocator (NVSP_SECTION_NONE when all
 * are in use) and back. Any thread. */
uint32_t gnet_section_get(struct gnet_nic *n);
void gnet_section_put(struct gnet_nic *n, uint32_t idx);

/* gnet_io.c */
/* A transfer-page packet from the host (worker, or the drain). */
void gnet_io_recv(struct gnet_nic *n, const struct vmb_pkt *pkt);
/* Send the gathered completions (lock held); false if some must wait
 * for ring room. */
bool gnet_io_flush(struct gnet_nic *n);
int gnet_io_start(struct gnet_nic *n);
void gnet_io_stop(struct gnet_nic *n);
/* gnet.c: one RNDIS control message from the host (lock held). */
void gnet_control(struct gnet_nic *n, const uint8_t *msg, uint32_t len);

#endif
