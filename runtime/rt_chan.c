/* Channel endpoint: a worker thread that drains the receive ring, and
 * senders serialized by tx_lock (none on a single-sender channel) that
 * send in bursts and wait for ring space.
 *
 * Wakeups of blocked senders (interrupt mode): a sender registers with
 * vmb_ring_want_space and sleeps on tx_cond until tx_gen changes. The peer
 * signals sig_in_fd when its reads free that much; the worker consumes the
 * signal and, if anyone waits, bumps tx_gen and broadcasts under tx_lock.
 * A sender increments tx_waiters before want_space, and the peer's signal
 * for that request is issued after it saw pending_send_sz, so the worker
 * reading tx_waiters after consuming the signal cannot miss the sleeper.
 *
 * Lifetime: rt_chan_stop sets stopping, wakes everyone, waits until no
 * sender is inside a send call, then joins the worker and frees. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "rt_chan.h"
#include "rt_ctr.h"
#include "rt_log.h"

#define CHAN_DEFAULT_MAX_PKT (64u * 1024 + 4096)
/* Polling back-off: spin this many idle rounds, then yield each round. */
#define CHAN_SPIN_ROUNDS 2048
/* Interrupt mode: how long an idle worker watches the ring before it
 * unmasks and sleeps (see linger). */
#define CHAN_LINGER_NS 20000u
/* ...spinning only for the first part of it (see linger). */
#define CHAN_LINGER_SPIN_NS 2000u
/* Fallback wait when the ring lacks the pending-send-size feature. */
#define CHAN_NOFEAT_WAIT_NS 1000000L
/* Batch forming (see form_batch): a batch smaller than this many bytes,
 * with the writer already past it, makes the worker wait up to
 * CHAN_FORM_NS before it reads again. */
#define CHAN_FORM_BYTES 2048u
#define CHAN_FORM_NS 1000u
/* A burst publishes what it has whenever this many bytes are waiting, so
 * that the reader copies large packets while the writer writes more
 * instead of waiting for the whole burst. Bursts of small packets stay
 * below it and publish once. */
#define CHAN_PUBLISH_BYTES 8192u

/* Written by whoever holds the send side. */
struct chan_tx_ctrs {
	rt_ctr packets, bytes, signals, full;
};

/* Written by the worker only. */
struct chan_rx_ctrs {
	rt_ctr packets, bytes, batches, signals, signals_in;
};

struct rt_chan {
	struct rt_chan_cfg cfg;
	char name[48]; /* cfg.name copied: the caller's may not outlive start */
	struct vmb_ring tx; /* the send side's */
	struct vmb_ring rx; /* worker only */
	uint32_t burst_pkts, burst_bytes; /* the send side's, this burst */
	uint32_t unpublished; /* the send side's: bytes put, not published */
	uint8_t *buf;       /* worker's packet copy, max_pkt bytes */
	uint32_t last_batch_bytes; /* worker's */
	uint32_t batch_bytes; /* end a read batch after this many bytes */
	pthread_t thr;
	int stop_fd; /* eventfd, written once by rt_chan_stop, never read */
	_Atomic bool stopping;
	_Atomic bool broken;
	_Atomic int cpu;
	cpu_set_t all_cpus; /* the process's affinity, for cpu = -1 */

	pthread_mutex_t tx_lock;
	pthread_cond_t tx_cond;   /* tx_gen changed, or stopping/broken */
	pthread_cond_t idle_cond; /* tx_active dropped to 0 */
	uint64_t tx_gen;
	unsigned tx_active;
	_Atomic unsigned tx_waiters;

	_Alignas(64) struct chan_tx_ctrs tx_st;
	_Alignas(64) struct chan_rx_ctrs rx_st;
	_Atomic uint64_t bad; /* several writers, rare */
};

/* The channel whose worker is the current thread, if any: a send from an
 * rx callback must not wait for the worker it runs on. */
static _Thread_local struct rt_chan *worker_of;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline bool chan_down(const struct rt_chan *ch)
{
	return atomic_load(&ch->stopping) || atomic_load(&ch->broken);
}

static void eventfd_signal(int fd)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: the peer is signalled. */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Wake every sleeping sender; tx_gen tells them a wakeup happened. */
static void wake_senders(struct rt_chan *ch)
{
	pthread_mutex_lock(&ch->tx_lock);
	ch->tx_gen++;
	pthread_cond_broadcast(&ch->tx_cond);
	pthread_mutex_unlock(&ch->tx_lock);
}

static void chan_break(struct rt_chan *ch, const char *why)
{
	atomic_fetch_add_explicit(&ch->bad, 1, memory_order_relaxed);
	if (!atomic_exchange(&ch->broken, true))
		rt_warn("chan", "%s: %s; channel disabled", ch->name, why);
}

/* ---- receive side (worker thread) ---- */

/* One rd_begin..rd_end batch; returns packets delivered, or -1 if the
 * peer corrupted the ring or sent a packet larger than max_pkt. */
static int drain_batch(struct rt_chan *ch)
{
	struct vmb_ring_rd b;
	struct vmb_pkt pkt;
	uint32_t len, taken = 0;
	int n = 0, rc = VMB_OK;

	vmb_ring_rd_begin(&ch->rx, &b);
	while (taken < ch->batch_bytes) {
		rc = vmb_ring_rd_next(&ch->rx, &b, ch->buf, ch->cfg.max_pkt,
				      &len);
		if (rc == VMB_OK)
			rc = vmb_pkt_parse(ch->buf, len, &pkt);
		if (rc != VMB_OK)
			break;
		ch->cfg.rx(ch, &pkt, ch->cfg.arg);
		taken += len;
		n++;
	}
	/* Publish what was consumed even if the next packet was bad. */
	if (vmb_ring_rd_end(&ch->rx, &b)) {
		eventfd_signal(ch->cfg.sig_out_fd);
		rt_ctr_add(&ch->rx_st.signals, 1);
	}
	ch->last_batch_bytes = taken;
	if (n) {
		rt_ctr_add(&ch->rx_st.packets, (uint64_t)n);
		rt_ctr_add(&ch->rx_st.bytes, taken);
		rt_ctr_add(&ch->rx_st.batches, 1);
		if (ch->cfg.batch_end)
			ch->cfg.batch_end(ch, ch->cfg.arg);
	}
	if (rc != VMB_OK && rc != VMB_EAGAIN) {
		chan_break(ch, rc == VMB_EMSGSIZE ? "oversize packet"
						  : "corrupt ring or packet");
		return -1;
	}
	return n;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO, no system call */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Batch forming. A small batch that ends with the writer already past it
 * means the writer streams right behind us: reading again at once takes
 * one packet per batch, and every batch moves the ring header's cache
 * line between the CPUs several times (our loads of write_index, our
 * read_index store, the writer's write_index store), which costs more
 * than copying a small packet. Waiting a little without touching the
 * ring lets several packets gather. The bound, 1 µs, is about twenty
 * such line transfers and a few percent of a wakeup by signal; it delays
 * a packet only while packets stream. A ring found empty (one request in
 * flight) or a large batch never waits, so round trips and large packets
 * are not slowed. */
static void form_batch(struct rt_chan *ch)
{
	uint64_t end;

	if (ch->last_batch_bytes >= CHAN_FORM_BYTES ||
	    !vmb_ring_has_data(&ch->rx))
		return;
	end = mono_ns() + CHAN_FORM_NS;
	do {
		for (int i = 0; i < 16; i++)
			cpu_relax();
	} while (mono_ns() < end);
}

/* After draining, keep the mask set and watch the ring a little longer:
 * under steady traffic the next packet arrives within microseconds, and
 * catching it here saves the writer's signal and our wakeup. Returns true
 * if data arrived. */
static bool linger(struct rt_chan *ch)
{
	uint64_t start = mono_ns(), end = start + CHAN_LINGER_NS, now;

	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (vmb_ring_has_data(&ch->rx))
				return true;
			cpu_relax();
		}
		now = mono_ns();
		if (atomic_load(&ch->stopping) || now >= end)
			return false;
		/* Past the first stretch, give the CPU to whoever waits for
		 * it: with fewer CPUs than busy threads, the packet we wait
		 * for may be behind a thread our spinning keeps off the CPU
		 * (the peer's worker, a kernel I/O worker). */
		if (now - start >= CHAN_LINGER_SPIN_NS)
			sched_yield();
	}
}

/* Interrupt mode: mask, drain, unmask; data that slipped in while the
 * mask was set raises no signal, so unmask reports it and we go again.
 * Only a wakeup that found packets lingers: a peer signalling an empty
 * ring must not buy 20 µs of our CPU per signal. */
static int drain_irq(struct rt_chan *ch)
{
	bool got = false;
	int n;

	do {
		vmb_ring_mask(&ch->rx);
		do {
			n = drain_batch(ch);
			if (n < 0)
				return -1;
			got |= n > 0;
			if (n)
				form_batch(ch);
			else if (got && linger(ch))
				n = 1;
		} while (n && !atomic_load(&ch->stopping));
		if (atomic_load(&ch->stopping))
			return 0;
	} while (vmb_ring_unmask(&ch->rx));
	return 0;
}

static void run_aux(struct rt_chan *ch, const struct pollfd *p)
{
	uint64_t v;

	if ((p->revents & POLLIN) &&
	    (ch->cfg.aux_level ||
	     read(ch->cfg.aux_fd, &v, sizeof(v)) == sizeof(v)))
		ch->cfg.aux(ch, ch->cfg.arg);
}

static void worker_irq(struct rt_chan *ch)
{
	struct pollfd pfd[3] = {
		{ .fd = ch->cfg.sig_in_fd, .events = POLLIN },
		{ .fd = ch->stop_fd, .events = POLLIN },
		{ .fd = ch->cfg.aux ? ch->cfg.aux_fd : -1, .events = POLLIN },
	};
	uint64_t v;

	while (!atomic_load(&ch->stopping)) {
		if (!atomic_load(&ch->broken) && drain_irq(ch) < 0)
			wake_senders(ch); /* they must see broken */
		if (atomic_load(&ch->broken))
			pfd[0].events = pfd[2].events = 0; /* nothing more */
		if (poll(pfd, 3, -1) < 0)
			continue; /* EINTR */
		if (pfd[1].revents)
			break;
		run_aux(ch, &pfd[2]);
		if (!(pfd[0].revents & POLLIN) ||
		    read(ch->cfg.sig_in_fd, &v, sizeof(v)) < 0)
			continue;
		rt_ctr_add(&ch->rx_st.signals_in, 1);
		if (atomic_load(&ch->tx_waiters))
			wake_senders(ch);
	}
}

/* Polling mode: interrupt_mask stays set (from rt_chan_start on), so the
 * peer never signals us; we spin on the ring and back off to sched_yield when idle. */
static void worker_poll(struct rt_chan *ch)
{
	unsigned idle = 0;
	int n;

	/* A broken channel (the peer corrupted our send ring) must not keep
	 * this CPU spinning: fall through to the sleep below. */
	while (!chan_down(ch)) {
		n = drain_batch(ch);
		if (n < 0) {
			wake_senders(ch);
			break;
		}
		if (n) {
			idle = 0;
			form_batch(ch);
			continue;
		}
		if (ch->cfg.aux)
			ch->cfg.aux(ch, ch->cfg.arg);
		if (++idle < CHAN_SPIN_ROUNDS) {
			cpu_relax();
		} else {
			sched_yield();
		}
	}
	if (atomic_load(&ch->broken)) {
		struct pollfd pfd = { .fd = ch->stop_fd, .events = POLLIN };

		while (!atomic_load(&ch->stopping))
			poll(&pfd, 1, -1);
	}
}

static void *chan_worker(void *arg)
{
	struct rt_chan *ch = arg;

	worker_of = ch;
	if (ch->cfg.mode == RT_CHAN_POLL)
		worker_poll(ch);
	else
		worker_irq(ch);
	return NULL;
}

/* ---- send side ---- */

enum chan_op_type { OP_INBAND, OP_COMP, OP_GPA, OP_XFER };

struct chan_op {
	enum chan_op_type type;
	uint64_t xid;
	uint16_t flags;
	const struct vmb_iov *iov;
	unsigned iovcnt;
	const struct vmb_gpa_range *rg;
	unsigned nrg;
	uint16_t set_id;
	const struct vmb_xfer_range *xrg;
	const void *data;
	uint32_t len;
	uint32_t pkt_len; /* bytes the packet takes before padding */
};

/* Into the burst; published by tx_publish. */
static int op_put(struct rt_chan *ch, const struct chan_op *op)
{
	switch (op->type) {
	case OP_INBAND:
		return vmb_pkt_send_inband(&ch->tx, op->flags, op->xid, op->iov,
					   op->iovcnt, NULL);
	case OP_COMP:
		return vmb_pkt_send_comp(&ch->tx, op->xid, op->data, op->len,
					 NULL);
	case OP_GPA:
		return vmb_pkt_send_gpa(&ch->tx, op->flags, op->xid, op->rg,
					op->nrg, op->data, op->len, NULL);
	case OP_XFER:
		return vmb_pkt_send_xfer(&ch->tx, op->flags, op->xid,
					 op->set_id, op->xrg, op->nrg, op->data,
					 op->len, NULL);
	}
	return VMB_EINVAL;
}

/* Only the worker may consume sig_in_fd; a sender running on the worker
 * (from an rx callback) waits there itself, then wakes the others. It
 * sleeps without tx_lock, as cond_wait does for the others: a sender
 * that must not wait (nowait) would otherwise wait for the guest in
 * tx_begin behind it. */
static int wait_on_worker(struct rt_chan *ch)
{
	struct pollfd pfd[2] = {
		{ .fd = ch->cfg.sig_in_fd, .events = POLLIN },
		{ .fd = ch->stop_fd, .events = POLLIN },
	};
	uint64_t v;

	pthread_mutex_unlock(&ch->tx_lock);
	while (poll(pfd, 2, -1) < 0)
		;
	pthread_mutex_lock(&ch->tx_lock);
	if (pfd[1].revents)
		return VMB_ESHUTDOWN;
	if ((pfd[0].revents & POLLIN) &&
	    read(ch->cfg.sig_in_fd, &v, sizeof(v)) == sizeof(v))
		rt_ctr_add(&ch->rx_st.signals_in, 1);
	ch->tx_gen++;
	pthread_cond_broadcast(&ch->tx_cond);
	return VMB_OK;
}

/* Sleep (tx_lock held) until the peer frees need bytes or the channel
 * goes down. Returns VMB_OK to retry the write, or VMB_ESHUTDOWN. */
static int wait_irq(struct rt_chan *ch, uint32_t need)
{
	bool on_worker = worker_of == ch;
	uint64_t gen = ch->tx_gen;
	struct timespec ts;
	int rc = VMB_OK;

	atomic_fetch_add(&ch->tx_waiters, 1);
	if (!(vmb_le32(ch->tx.hdr->feature_bits) &
	      VMB_RING_FEAT_PENDING_SEND_SZ)) {
		/* The peer will not signal space: poll for it, slowly. */
		if (on_worker) {
			sched_yield();
			goto out;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += CHAN_NOFEAT_WAIT_NS;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ch->tx_cond, &ch->tx_lock, &ts);
		goto out;
	}
	if (vmb_ring_want_space(&ch->tx, need))
		goto out; /* freed meanwhile */
	if (on_worker) {
		rc = wait_on_worker(ch);
		goto out;
	}
	while (gen == ch->tx_gen && !chan_down(ch))
		pthread_cond_wait(&ch->tx_cond, &ch->tx_lock);
out:
	atomic_fetch_sub(&ch->tx_waiters, 1);
	return chan_down(ch) ? VMB_ESHUTDOWN : rc;
}

/* Polling mode: the peer's worker spins too; wait for space without
 * pending_send_sz, with the same back-off as the worker. With several
 * senders, tx_lock is let go between looks at the ring (looked at only
 * under it), as wait_irq sleeps without it: a sender that may not wait
 * (a worker's completions) must not be held behind one that does. */
static int wait_poll(struct rt_chan *ch, uint32_t need)
{
	bool multi = !ch->cfg.single_sender;
	unsigned spins = 0;

	while (vmb_ring_free(&ch->tx) <= need) {
		if (chan_down(ch))
			return VMB_ESHUTDOWN;
		if (multi)
			pthread_mutex_unlock(&ch->tx_lock);
		if (++spins < CHAN_SPIN_ROUNDS)
			cpu_relax();
		else
			sched_yield();
		if (multi)
			pthread_mutex_lock(&ch->tx_lock);
	}
	return VMB_OK;
}

static uint32_t op_need(const struct chan_op *op)
{
	uint32_t n = op->pkt_len;

	/* Beyond any ring: the write fails with EMSGSIZE before this. */
	if (n > VMB_PKT_MAX_LEN)
		n = VMB_PKT_MAX_LEN;
	return vmb_ring_pkt_space(n);
}

/* A single sender waits without holding tx_lock on its fast path; the
 * wakeup protocol (tx_gen, tx_cond) needs it while sleeping. */
static int wait_space(struct rt_chan *ch, uint32_t need)
{
	int rc;

	if (ch->cfg.mode == RT_CHAN_POLL)
		return wait_poll(ch, need);
	if (ch->cfg.single_sender)
		pthread_mutex_lock(&ch->tx_lock);
	rc = wait_irq(ch, need);
	if (ch->cfg.single_sender)
		pthread_mutex_unlock(&ch->tx_lock);
	return rc;
}

static void tx_broken(struct rt_chan *ch)
{
	chan_break(ch, "peer corrupted the send ring");
	if (ch->cfg.single_sender)
		wake_senders(ch);
	else
		pthread_cond_broadcast(&ch->tx_cond);
}

/* Publish the burst so far; signal the peer if the ring rules say so. The
 * signal goes out before a multi-sender's tx_active drops: rt_chan_stop
 * returns once it is 0, and the owner may then close sig_out_fd; a later
 * write could hit whatever reuses the number. */
static void tx_publish(struct rt_chan *ch)
{
	bool sig;

	ch->unpublished = 0;
	if (vmb_ring_commit(&ch->tx, &sig) == VMB_EPROTO)
		tx_broken(ch);
	if (sig) {
		rt_ctr_add(&ch->tx_st.signals, 1);
		eventfd_signal(ch->cfg.sig_out_fd);
	}
}

void rt_chan_tx_begin(struct rt_chan *ch)
{
	if (ch->cfg.single_sender)
		return;
	pthread_mutex_lock(&ch->tx_lock);
	ch->tx_active++;
}

void rt_chan_tx_end(struct rt_chan *ch)
{
	tx_publish(ch);
	if (ch->burst_pkts) {
		rt_ctr_add(&ch->tx_st.packets, ch->burst_pkts);
		rt_ctr_add(&ch->tx_st.bytes, ch->burst_bytes);
		ch->burst_pkts = ch->burst_bytes = 0;
	}
	if (ch->cfg.single_sender)
		return;
	if (--ch->tx_active == 0 && atomic_load(&ch->stopping))
		pthread_cond_broadcast(&ch->idle_cond);
	pthread_mutex_unlock(&ch->tx_lock);
}

uint32_t rt_chan_tx_room(const struct rt_chan *ch)
{
	uint32_t f = vmb_ring_free(&ch->tx);

	/* a put needs more than its space free: the ring is never full */
	return f ? f - 1 : 0;
}

/* One packet into the burst, waiting for space unless nowait. Before a
 * wait the burst so far is published: the reader cannot free space for
 * packets it cannot see. */
static int chan_put(struct rt_chan *ch, const struct chan_op *op,
		    bool nowait)
{
	bool wanted = false, full = false;
	int rc;

	for (;;) {
		if (chan_down(ch))
			return VMB_ESHUTDOWN;
		rc = op_put(ch, op);
		if (rc == VMB_EPROTO) {
			tx_broken(ch);
			return VMB_ESHUTDOWN;
		}
		if (rc != VMB_EAGAIN)
			break;
		if (!full)
			rt_ctr_add(&ch->tx_st.full, 1);
		full = true;
		if (nowait)
			break;
		tx_publish(ch);
		wanted = ch->cfg.mode == RT_CHAN_INTERRUPT;
		rc = wait_space(ch, op_need(op));
		if (rc != VMB_OK)
			break;
	}
	/* Another sleeper may still rely on pending_send_sz. */
	if (wanted && !atomic_load(&ch->tx_waiters))
		vmb_ring_clear_want(&ch->tx);
	if (rc == VMB_OK) {
		ch->burst_pkts++;
		ch->burst_bytes += VMB_ALIGN8(op->pkt_len);
		ch->unpublished += VMB_ALIGN8(op->pkt_len);
		if (ch->unpublished >= CHAN_PUBLISH_BYTES)
			tx_publish(ch);
	}
	return rc;
}

static uint64_t clamp_len(uint64_t n)
{
	return n > UINT32_MAX ? UINT32_MAX : n;
}

static int op_inband(struct chan_op *op, uint64_t xid, uint16_t flags,
		     const struct vmb_iov *iov, unsigned iovcnt)
{
	uint64_t n = sizeof(struct vmb_pktdesc);

	*op = (struct chan_op){ .type = OP_INBAND, .xid = xid, .flags = flags,
				.iov = iov, .iovcnt = iovcnt };
	/* The size is summed here, before vmb_pkt checks the arguments. */
	if (iovcnt && !iov)
		return VMB_EINVAL;
	for (unsigned i = 0; i < iovcnt && i < VMB_PKT_MAX_IOV; i++)
		n += iov[i].len;
	op->pkt_len = (uint32_t)clamp_len(n);
	return VMB_OK;
}

static void op_comp(struct chan_op *op, uint64_t xid, const void *data,
		    uint32_t len)
{
	*op = (struct chan_op){ .type = OP_COMP, .xid = xid, .data = data,
				.len = len };
	op->pkt_len = (uint32_t)clamp_len(sizeof(struct vmb_pktdesc) +
					  (uint64_t)len);
}

static int op_gpa(struct chan_op *op, uint64_t xid, uint16_t flags,
		  const struct vmb_gpa_range *rg, unsigned nrg,
		  const void *data, uint32_t len)
{
	uint64_t n = sizeof(struct vmb_gpa_direct_hdr) + (uint64_t)len;

	*op = (struct chan_op){ .type = OP_GPA, .xid = xid, .flags = flags,
				.rg = rg, .nrg = nrg, .data = data,
				.len = len };
	if (nrg > VMB_PKT_MAX_GPA_RANGES || (nrg && !rg))
		return VMB_EINVAL;
	for (unsigned i = 0; i < nrg; i++)
		n += sizeof(struct vmb_wire_gpa_range) +
		     (uint64_t)rg[i].pfn_count * sizeof(uint64_t);
	op->pkt_len = (uint32_t)clamp_len(n);
	return VMB_OK;
}

static void op_xfer(struct chan_op *op, uint64_t xid, uint16_t flags,
		    uint16_t set_id, const struct vmb_xfer_range *rg,
		    unsigned nrg, const void *data, uint32_t len)
{
	*op = (struct chan_op){ .type = OP_XFER, .xid = xid, .flags = flags,
				.set_id = set_id, .xrg = rg, .nrg = nrg,
				.data = data, .len = len };
	op->pkt_len = (uint32_t)clamp_len(sizeof(struct vmb_xfer_hdr) +
					  (uint64_t)nrg * sizeof(*rg) +
					  (uint64_t)len);
}

int rt_chan_put_inband(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		       const struct vmb_iov *iov, unsigned iovcnt, bool nowait)
{
	struct chan_op op;
	int rc = op_inband(&op, xid, flags, iov, iovcnt);

	return rc ? rc : chan_put(ch, &op, nowait);
}

int rt_chan_put_comp(struct rt_chan *ch, uint64_t xid, const void *data,
		     uint32_t len, bool nowait)
{
	struct chan_op op;

	op_comp(&op, xid, data, len);
	return chan_put(ch, &op, nowait);
}

int rt_chan_put_gpa(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		    const struct vmb_gpa_range *rg, unsigned nrg,
		    const void *data, uint32_t len, bool nowait)
{
	struct chan_op op;
	int rc = op_gpa(&op, xid, flags, rg, nrg, data, len);

	return rc ? rc : chan_put(ch, &op, nowait);
}

int rt_chan_put_xfer(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		     uint16_t set_id, const struct vmb_xfer_range *rg,
		     unsigned nrg, const void *data, uint32_t len, bool nowait)
{
	struct chan_op op;

	op_xfer(&op, xid, flags, set_id, rg, nrg, data, len);
	return chan_put(ch, &op, nowait);
}

int rt_chan_send_inband(struct rt_chan *ch, uint64_t xid, uint16_t flags,
			const struct vmb_iov *iov, unsigned iovcnt,
			bool nowait)
{
	int rc;

	rt_chan_tx_begin(ch);
	rc = rt_chan_put_inband(ch, xid, flags, iov, iovcnt, nowait);
	rt_chan_tx_end(ch);
	return rc;
}

int rt_chan_send_comp(struct rt_chan *ch, uint64_t xid, const void *data,
		      uint32_t len, bool nowait)
{
	int rc;

	rt_chan_tx_begin(ch);
	rc = rt_chan_put_comp(ch, xid, data, len, nowait);
	rt_chan_tx_end(ch);
	return rc;
}

int rt_chan_send_gpa(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		     const struct vmb_gpa_range *rg, unsigned nrg,
		     const void *data, uint32_t len, bool nowait)
{
	int rc;

	rt_chan_tx_begin(ch);
	rc = rt_chan_put_gpa(ch, xid, flags, rg, nrg, data, len, nowait);
	rt_chan_tx_end(ch);
	return rc;
}

int rt_chan_send_xfer(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		      uint16_t set_id, const struct vmb_xfer_range *rg,
		      unsigned nrg, const void *data, uint32_t len, bool nowait)
{
	int rc;

	rt_chan_tx_begin(ch);
	rc = rt_chan_put_xfer(ch, xid, flags, set_id, rg, nrg, data, len,
			      nowait);
	rt_chan_tx_end(ch);
	return rc;
}

/* ---- lifetime, affinity, stats ---- */

static int cpu_mask(const struct rt_chan *ch, int cpu, cpu_set_t *set)
{
	if (cpu < 0) {
		*set = ch->all_cpus;
		return 0;
	}
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(set);
	CPU_SET(cpu, set);
	return 0;
}

static int chan_init(struct rt_chan *ch, const struct rt_chan_cfg *cfg)
{
	pthread_condattr_t ca;

	if (!cfg->rx || cfg->sig_out_fd < 0 || cfg->sig_in_fd < 0 ||
	    vmb_ring_attach(&ch->tx, cfg->tx_ring, cfg->tx_len) ||
	    vmb_ring_attach(&ch->rx, cfg->rx_ring, cfg->rx_len))
		return -EINVAL;
	ch->cfg = *cfg;
	snprintf(ch->name, sizeof(ch->name), "%s", cfg->name ? cfg->name : "?");
	ch->cfg.name = ch->name;
	/* Masked before the worker runs, so that not even the first
	 * packet after rt_chan_start signals a polling reader. */
	if (cfg->mode == RT_CHAN_POLL)
		vmb_ring_mask(&ch->rx);
	if (!ch->cfg.max_pkt)
		ch->cfg.max_pkt = CHAN_DEFAULT_MAX_PKT;
	ch->cfg.max_pkt = VMB_ALIGN8(ch->cfg.max_pkt);
	/* Publish read_index a few times per ring's worth so that the
	 * writer refills while we copy. */
	ch->batch_bytes = ch->rx.size / 4;
	if (ch->batch_bytes < ch->cfg.max_pkt)
		ch->batch_bytes = ch->cfg.max_pkt;
	ch->buf = malloc(ch->cfg.max_pkt);
	if (!ch->buf)
		return -ENOMEM;
	ch->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->stop_fd < 0)
		return -errno;
	if (sched_getaffinity(0, sizeof(ch->all_cpus), &ch->all_cpus) < 0)
		return -errno;
	pthread_mutex_init(&ch->tx_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ch->tx_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&ch->idle_cond, NULL);
	atomic_store(&ch->cpu, cfg->cpu < 0 ? -1 : cfg->cpu);
	return 0;
}

static void chan_free(struct rt_chan *ch, bool sync)
{
	if (sync) {
		pthread_mutex_destroy(&ch->tx_lock);
		pthread_cond_destroy(&ch->tx_cond);
		pthread_cond_destroy(&ch->idle_cond);
	}
	if (ch->stop_fd >= 0)
		close(ch->stop_fd);
	free(ch->buf);
	free(ch);
}

int rt_chan_start(struct rt_chan **out, const struct rt_chan_cfg *cfg)
{
	struct rt_chan *ch = calloc(1, sizeof(*ch));
	pthread_attr_t attr;
	cpu_set_t set;
	int rc;

	*out = NULL;
	if (!ch)
		return -ENOMEM;
	ch->stop_fd = -1;
	rc = chan_init(ch, cfg);
	if (rc) {
		chan_free(ch, false);
		return rc;
	}
	pthread_attr_init(&attr);
	rc = cpu_mask(ch, cfg->cpu, &set);
	if (!rc && cfg->cpu >= 0)
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (!rc)
		rc = pthread_create(&ch->thr, &attr, chan_worker, ch);
	pthread_attr_destroy(&attr);
	if (rc) {
		chan_free(ch, true);
		return rc > 0 ? -rc : rc;
	}
	*out = ch;
	return 0;
}

void rt_chan_stop_begin(struct rt_chan *ch)
{
	/* stopping first: a polling sender spins holding tx_lock and
	 * leaves when it sees the flag; a sleeping one needs the wakeup
	 * (the owner may join a thread that sends before rt_chan_stop). */
	if (atomic_exchange(&ch->stopping, true))
		return;
	eventfd_signal(ch->stop_fd);
	wake_senders(ch);
}

void rt_chan_stop(struct rt_chan *ch)
{
	if (!ch)
		return;
	rt_chan_stop_begin(ch);
	pthread_mutex_lock(&ch->tx_lock);
	pthread_cond_broadcast(&ch->tx_cond);
	while (ch->tx_active)
		pthread_cond_wait(&ch->idle_cond, &ch->tx_lock);
	pthread_mutex_unlock(&ch->tx_lock);
	pthread_join(ch->thr, NULL);
	chan_free(ch, true);
}

int rt_chan_set_cpu(struct rt_chan *ch, int cpu)
{
	cpu_set_t set;
	int rc;

	rc = cpu_mask(ch, cpu, &set);
	if (rc)
		return rc;
	rc = pthread_setaffinity_np(ch->thr, sizeof(set), &set);
	if (rc)
		return -rc;
	atomic_store(&ch->cpu, cpu < 0 ? -1 : cpu);
	return 0;
}

int rt_chan_cpu(const struct rt_chan *ch)
{
	return atomic_load(&ch->cpu);
}

void rt_chan_get_stats(const struct rt_chan *ch, struct rt_chan_stats *st)
{
	st->tx_packets = rt_ctr_get(&ch->tx_st.packets);
	st->tx_bytes = rt_ctr_get(&ch->tx_st.bytes);
	st->rx_packets = rt_ctr_get(&ch->rx_st.packets);
	st->rx_bytes = rt_ctr_get(&ch->rx_st.bytes);
	st->rx_batches = rt_ctr_get(&ch->rx_st.batches);
	st->signals_out = rt_ctr_get(&ch->tx_st.signals) +
			  rt_ctr_get(&ch->rx_st.signals);
	st->signals_in = rt_ctr_get(&ch->rx_st.signals_in);
	st->tx_full = rt_ctr_get(&ch->tx_st.full);
	st->bad = atomic_load_explicit(&ch->bad, memory_order_relaxed);
}

bool rt_chan_broken(const struct rt_chan *ch)
{
	return atomic_load(&ch->broken);
}
