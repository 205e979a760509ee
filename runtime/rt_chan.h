/* One open VMBus channel endpoint in user space, the same on guest and
 * host: a ring to send on, a ring to receive from, an eventfd to signal
 * the peer and one the peer signals, and a worker thread that drains the
 * receive ring and hands each packet to the device.
 *
 * Hyper-V has one signal per channel and direction; it means both "data
 * in your receive ring" and "space in your send ring". The worker waits on
 * sig_in_fd for both and wakes blocked senders.
 *
 * Interrupt mode: the worker sleeps on sig_in_fd; the ring rules keep
 * signals to one per batch. Polling mode: the worker spins with
 * interrupt_mask set, so the peer never signals it. */
#ifndef HVIS_RT_CHAN_H
#define HVIS_RT_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "vmbus/vmb_pkt.h"

enum rt_chan_mode { RT_CHAN_INTERRUPT, RT_CHAN_POLL };

struct rt_chan;
/* A packet received; pkt points into the worker's private buffer, valid
 * until the callback returns. Runs on the worker thread. */
typedef void rt_chan_rx_fn(struct rt_chan *ch, const struct vmb_pkt *pkt,
			   void *arg);
/* After each receive batch (e.g. to flush work the batch queued). */
typedef void rt_chan_batch_fn(struct rt_chan *ch, void *arg);
/* The owner's other work on the worker thread (e.g. I/O completions it
 * reaps itself): called when aux_fd (an eventfd, read first) was
 * signalled, and in polling mode on every idle round, so it must be
 * cheap when there is nothing to do. */
typedef void rt_chan_aux_fn(struct rt_chan *ch, void *arg);

struct rt_chan_cfg {
	const char *name;
	void *tx_ring; /* header page + data, as vmb_ring_attach wants */
	uint64_t tx_len;
	void *rx_ring;
	uint64_t rx_len;
	int sig_out_fd; /* eventfd: written to signal the peer */
	int sig_in_fd;  /* eventfd: the peer's signals; not owned */
	enum rt_chan_mode mode;
	int cpu;          /* bind the worker to this CPU; -1 = unbound */
	uint32_t max_pkt; /* largest packet accepted; 0 = 64 KiB + 4 KiB */
	/* The owner promises that at most one thread is inside a send call
	 * or burst at any time, and none once it calls rt_chan_stop (it may
	 * call rt_chan_stop_begin to make a waiting sender return first):
	 * then the send path takes no lock. */
	bool single_sender;
	rt_chan_rx_fn *rx;
	rt_chan_batch_fn *batch_end; /* optional */
	rt_chan_aux_fn *aux;         /* optional, with aux_fd */
	int aux_fd;
	/* aux_fd is not an eventfd but a descriptor aux itself reads (a
	 * TAP queue): the worker only polls it, and aux must drain it (or
	 * discard) while it stays readable, or the worker spins. */
	bool aux_level;
	void *arg;
};

struct rt_chan_stats {
	uint64_t tx_packets, tx_bytes;
	uint64_t rx_packets, rx_bytes, rx_batches;
	uint64_t signals_out; /* eventfd writes to the peer */
	uint64_t signals_in;  /* wakeups by the peer's eventfd */
	uint64_t tx_full;     /* sends that found the ring full */
	uint64_t bad;         /* corrupt ring or packet from the peer */
};

/* Attach to both rings (already initialised by their creator) and start
 * the worker. 0 or -errno. */
int rt_chan_start(struct rt_chan **out, const struct rt_chan_cfg *cfg);
/* Stop and join the worker, free. Safe from any thread but the worker. */
void rt_chan_stop(struct rt_chan *ch);
/* Tell the worker and senders to stop without waiting for them; the
 * channel delivers nothing more. rt_chan_stop must still follow: with
 * many channels, beginning every stop first lets the workers end at the
 * same time instead of one after another. */
void rt_chan_stop_begin(struct rt_chan *ch);

/* A burst: rt_chan_tx_begin, any number of rt_chan_put_*, rt_chan_tx_end.
 * The packets are published together with one write_index store and at
 * most one signal to the peer, at tx_end; earlier only when 8 KiB wait
 * unpublished (so that the reader copies large packets while more are
 * written) or before a put waits for ring space. In between the caller holds the send side: other senders wait,
 * so a burst should not wait on anything but the ring. Puts return what
 * the sends below return; tx_end must follow tx_begin in every case. */
void rt_chan_tx_begin(struct rt_chan *ch);
int rt_chan_put_inband(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		       const struct vmb_iov *iov, unsigned iovcnt, bool nowait);
int rt_chan_put_comp(struct rt_chan *ch, uint64_t xid, const void *data,
		     uint32_t len, bool nowait);
int rt_chan_put_gpa(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		    const struct vmb_gpa_range *rg, unsigned nrg,
		    const void *data, uint32_t len, bool nowait);
/* Transfer pages: nrg ranges (wire format, little-endian) of the buffer
 * the peer registered as page set set_id, then data. */
int rt_chan_put_xfer(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		     uint16_t set_id, const struct vmb_xfer_range *rg,
		     unsigned nrg, const void *data, uint32_t len, bool nowait);
void rt_chan_tx_end(struct rt_chan *ch);
/* Within a burst: the bytes of ring its puts can still take without
 * waiting (a packet takes vmb_ring_pkt_space of its length; the burst's
 * unpublished packets count as taken). Only the peer's reads change it
 * while the burst holds the send side, and they add to it. */
uint32_t rt_chan_tx_room(const struct rt_chan *ch);

/* One packet, a burst of one. Senders, from any thread (serialized
 * internally unless single_sender). If the ring is full,
 * wait for the peer (pending-send-size, or polling) unless nowait, in
 * which case return VMB_EAGAIN. Returns VMB_ESHUTDOWN once the channel is
 * broken, or to a sender still inside the call when rt_chan_stop begins;
 * the owner must not start a send once it has called rt_chan_stop (the
 * channel is freed when stop returns). */
int rt_chan_send_inband(struct rt_chan *ch, uint64_t xid, uint16_t flags,
			const struct vmb_iov *iov, unsigned iovcnt,
			bool nowait);
int rt_chan_send_comp(struct rt_chan *ch, uint64_t xid, const void *data,
		      uint32_t len, bool nowait);
int rt_chan_send_gpa(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		     const struct vmb_gpa_range *rg, unsigned nrg,
		     const void *data, uint32_t len, bool nowait);

int rt_chan_send_xfer(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		      uint16_t set_id, const struct vmb_xfer_range *rg,
		      unsigned nrg, const void *data, uint32_t len,
		      bool nowait);

/* Move the worker to another CPU (MODIFYCHANNEL). */
int rt_chan_set_cpu(struct rt_chan *ch, int cpu);
int rt_chan_cpu(const struct rt_chan *ch);
void rt_chan_get_stats(const struct rt_chan *ch, struct rt_chan_stats *st);
/* True once the peer corrupted a ring; the channel stops delivering. */
bool rt_chan_broken(const struct rt_chan *ch);

#endif
