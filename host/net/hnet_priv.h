/* Internals of netvsp (hnet*.c).
 *
 * Threads: the loop thread makes NICs and opens and closes channels; all
 * else runs on the channel's worker: NVSP and RNDIS messages (hnet.c),
 * guest frames to the TAP and TAP frames to the guest (hnet_data.c),
 * the latter when the TAP queue, the channel's aux_fd, is readable.
 * Counters are written by the worker only and read racily by describe. */
#ifndef HVIS_HNET_PRIV_H
#define HVIS_HNET_PRIV_H

#include <sys/uio.h>

#include "hnet.h"
#include "hnet_sw.h"
#include "hvm.h"
#include "net/nvsp_host.h"
#include "net/nvsp_rxbuf.h"
#include "net/rndis_host.h"
#include "net/rndis_ppi.h"
#include "rt_ctr.h"
#include "rt_tap.h"

/* The most bytes one SEND_RNDIS_PKT may carry here (a 64 KiB frame and
 * its headers); larger ones are refused. */
#define HNET_MSG_MAX (64u << 10)
/* Pages one message's GPA ranges may span. */
#define HNET_IOV (HNET_MSG_MAX / 4096u + 2u)
/* Frames read from the TAP per wakeup: one signal to the guest each. */
#define HNET_RX_BATCH 64u
#define HNET_MTU 1500u

struct hnet_nic {
	struct hdev *d;
	unsigned index;
	uint8_t mac[6];
	struct rt_tap tap;
	struct hnet_sw sw;
};

struct hnet_chan {
	struct hvm_chan *c;
	struct hnet_nic *nic;
	struct nvsp_host eng;
	struct rndis_host rndis;
	struct hvm_gpadl_ref rbuf, sbuf;
	struct nvsp_rxbuf rxb;
	uint32_t *link;          /* rxb's, one per sub-allocation */
	bool rx_ready;           /* receive buffer laid out */
	/* worker scratch: the message as copied out, and its iovecs in
	 * guest memory */
	struct iovec giov[HNET_IOV];
	unsigned ngiov;
	uint8_t msg[HNET_MSG_MAX];
	struct rndis_ppi_stats ppi;
	/* counters */
	rt_ctr tx_frames, tx_bytes, tx_err, tx_bad;
	rt_ctr rx_frames, rx_bytes, rx_full, rx_idle, rx_ring_full, rx_long;
	rt_ctr ctl_msgs, ctl_dropped, map_failed;
	struct hnet_sw_chan sw;
};

/* hnet.c */
void hnet_send_comp(struct hnet_chan *ch, uint64_t xid, const void *buf,
		    uint32_t len);
extern const struct hdev_class hnet_class;

/* An RNDIS control message (an answer, an indication) to the guest in a
 * control sub-allocation; dropped and counted when none is free. */
void hnet_ctl_answer(struct hnet_chan *ch, const uint8_t *msg, uint32_t len);
/* hnet_data.c */
/* Copy the RNDIS bytes of a (section or GPA ranges) into ch->msg and
 * their places in guest memory into ch->giov: their length, or -1
 * (counted) when they are not all in guest memory or too long. */
int64_t hnet_msg_get(struct hnet_chan *ch, const struct nvsp_host_rndis *r);
/* The guest's RNDIS PACKETs of len bytes to the TAP. false if malformed. */
bool hnet_tx(struct hnet_chan *ch, uint32_t len);
/* Frames waiting on the TAP to the guest. */
void hnet_rx(struct hnet_chan *ch);
/* One RNDIS message (len bytes at offset off of sub-allocation id,
 * written there by the caller) to the guest as a transfer-page packet
 * inside a burst; false (id given back) when the ring is full and the
 * caller would not wait (data: dropped) or the channel is stopping.
 * Control answers wait: the guest waits for them. */
bool hnet_put_xfer(struct hnet_chan *ch, uint32_t id, uint32_t off,
		   uint32_t len, uint32_t channel_type);

#endif
