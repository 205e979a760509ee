/* Channel endpoint: a worker thread that drains the receive ring, and
 * senders serialized by tx_lock that wait for ring space.
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
#include "rt_log.h"

#define CHAN_DEFAULT_MAX_PKT (64u * 1024 + 4096)
/* Polling back-off: spin this many idle rounds, then yield each round. */
#define CHAN_SPIN_ROUNDS 2048
/* Interrupt mode: how long an idle worker watches the ring before it
 * unmasks and sleeps (see linger). */
#define CHAN_LINGER_NS 20000u
/* Fallback wait when the ring lacks the pending-send-size feature. */
#define CHAN_NOFEAT_WAIT_NS 1000000L

struct chan_stats {
	_Atomic uint64_t tx_packets, tx_bytes;
	_Atomic uint64_t rx_packets, rx_bytes, rx_batches;
	_Atomic uint64_t signals_out, signals_in, tx_full, bad;
};

struct rt_chan {
	struct rt_chan_cfg cfg;
	char name[48]; /* cfg.name copied: the caller's may not outlive start */
	struct vmb_ring tx; /* under tx_lock */
	struct vmb_ring rx; /* worker only */
	uint8_t *buf;       /* worker's packet copy, max_pkt bytes */
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

	struct chan_stats st;
};

/* The channel whose worker is the current thread, if any: a send from an
 * rx callback must not wait for the worker it runs on. */
static _Thread_local struct rt_chan *worker_of;

static inline void st_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t st_get(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

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
	st_add(&ch->st.bad, 1);
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
		st_add(&ch->st.signals_out, 1);
	}
	if (n) {
		st_add(&ch->st.rx_packets, (uint64_t)n);
		st_add(&ch->st.rx_bytes, taken);
		st_add(&ch->st.rx_batches, 1);
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

/* After draining, keep the mask set and watch the ring a little longer:
 * under steady traffic the next packet arrives within microseconds, and
 * catching it here saves the writer's signal and our wakeup. Returns true
 * if data arrived. */
static bool linger(struct rt_chan *ch)
{
	uint64_t end = mono_ns() + CHAN_LINGER_NS;

	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (vmb_ring_has_data(&ch->rx))
				return true;
			cpu_relax();
		}
		if (atomic_load(&ch->stopping) || mono_ns() >= end)
			return false;
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
			if (!n && got && linger(ch))
				n = 1;
		} while (n && !atomic_load(&ch->stopping));
		if (atomic_load(&ch->stopping))
			return 0;
	} while (vmb_ring_unmask(&ch->rx));
	return 0;
}

static void worker_irq(struct rt_chan *ch)
{
	struct pollfd pfd[2] = {
		{ .fd = ch->cfg.sig_in_fd, .events = POLLIN },
		{ .fd = ch->stop_fd, .events = POLLIN },
	};
	uint64_t v;

	while (!atomic_load(&ch->stopping)) {
		if (!atomic_load(&ch->broken) && drain_irq(ch) < 0)
			wake_senders(ch); /* they must see broken */
		if (atomic_load(&ch->broken))
			pfd[0].events = 0; /* deliver nothing more */
		if (poll(pfd, 2, -1) < 0)
			continue; /* EINTR */
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN) ||
		    read(ch->cfg.sig_in_fd, &v, sizeof(v)) < 0)
			continue;
		st_add(&ch->st.signals_in, 1);
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
		} else if (++idle < CHAN_SPIN_ROUNDS) {
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

enum chan_op_type { OP_INBAND, OP_COMP, OP_GPA };

struct chan_op {
	enum chan_op_type type;
	uint64_t xid;
	uint16_t flags;
	const struct vmb_iov *iov;
	unsigned iovcnt;
	const struct vmb_gpa_range *rg;
	unsigned nrg;
	const void *data;
	uint32_t len;
	uint32_t pkt_len; /* bytes the packet takes before padding */
};

static int op_write(struct rt_chan *ch, const struct chan_op *op, bool *sig)
{
	switch (op->type) {
	case OP_INBAND:
		return vmb_pkt_send_inband(&ch->tx, op->flags, op->xid, op->iov,
					   op->iovcnt, sig);
	case OP_COMP:
		return vmb_pkt_send_comp(&ch->tx, op->xid, op->data, op->len,
					 sig);
	case OP_GPA:
		return vmb_pkt_send_gpa(&ch->tx, op->flags, op->xid, op->rg,
					op->nrg, op->data, op->len, sig);
	}
	return VMB_EINVAL;
}

/* Only the worker may consume sig_in_fd; a sender running on the worker
 * (from an rx callback) waits there itself, then wakes the others. */
static int wait_on_worker(struct rt_chan *ch)
{
	struct pollfd pfd[2] = {
		{ .fd = ch->cfg.sig_in_fd, .events = POLLIN },
		{ .fd = ch->stop_fd, .events = POLLIN },
	};
	uint64_t v;

	while (poll(pfd, 2, -1) < 0)
		;
	if (pfd[1].revents)
		return VMB_ESHUTDOWN;
	if ((pfd[0].revents & POLLIN) &&
	    read(ch->cfg.sig_in_fd, &v, sizeof(v)) == sizeof(v))
		st_add(&ch->st.signals_in, 1);
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
 * pending_send_sz, with the same back-off as the worker. */
static int wait_poll(struct rt_chan *ch, uint32_t need)
{
	unsigned spins = 0;

	while (vmb_ring_free(&ch->tx) <= need) {
		if (chan_down(ch))
			return VMB_ESHUTDOWN;
		if (++spins < CHAN_SPIN_ROUNDS)
			cpu_relax();
		else
			sched_yield();
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

static int chan_send(struct rt_chan *ch, const struct chan_op *op,
		     bool nowait)
{
	bool sig = false, wanted = false, full = false;
	int rc;

	pthread_mutex_lock(&ch->tx_lock);
	ch->tx_active++;
	for (;;) {
		if (chan_down(ch)) {
			rc = VMB_ESHUTDOWN;
			break;
		}
		rc = op_write(ch, op, &sig);
		if (rc == VMB_EPROTO) {
			chan_break(ch, "peer corrupted the send ring");
			pthread_cond_broadcast(&ch->tx_cond);
			rc = VMB_ESHUTDOWN;
			break;
		}
		if (rc != VMB_EAGAIN || nowait)
			break;
		if (!full)
			st_add(&ch->st.tx_full, 1);
		full = true;
		if (ch->cfg.mode == RT_CHAN_POLL) {
			rc = wait_poll(ch, op_need(op));
		} else {
			wanted = true;
			rc = wait_irq(ch, op_need(op));
		}
		if (rc != VMB_OK)
			break;
	}
	if (nowait && rc == VMB_EAGAIN && !full)
		st_add(&ch->st.tx_full, 1);
	/* Another sleeper may still rely on pending_send_sz. */
	if (wanted && !atomic_load(&ch->tx_waiters))
		vmb_ring_clear_want(&ch->tx);
	if (rc == VMB_OK) {
		st_add(&ch->st.tx_packets, 1);
		st_add(&ch->st.tx_bytes, VMB_ALIGN8(op->pkt_len));
		if (sig) {
			st_add(&ch->st.signals_out, 1);
			/* Before tx_active drops: rt_chan_stop returns once it
			 * is 0, and the owner may then close sig_out_fd; a
			 * later write could hit whatever reuses the number.
			 * At most one write per batch, by the ring rules. */
			eventfd_signal(ch->cfg.sig_out_fd);
		}
	}
	if (--ch->tx_active == 0 && atomic_load(&ch->stopping))
		pthread_cond_broadcast(&ch->idle_cond);
	pthread_mutex_unlock(&ch->tx_lock);
	return rc;
}

static uint64_t clamp_len(uint64_t n)
{
	return n > UINT32_MAX ? UINT32_MAX : n;
}

int rt_chan_send_inband(struct rt_chan *ch, uint64_t xid, uint16_t flags,
			const struct vmb_iov *iov, unsigned iovcnt,
			bool nowait)
{
	struct chan_op op = { .type = OP_INBAND, .xid = xid, .flags = flags,
			      .iov = iov, .iovcnt = iovcnt };
	uint64_t n = sizeof(struct vmb_pktdesc);

	/* The size is summed here, before vmb_pkt checks the arguments. */
	if (iovcnt && !iov)
		return VMB_EINVAL;
	for (unsigned i = 0; i < iovcnt && i < VMB_PKT_MAX_IOV; i++)
		n += iov[i].len;
	op.pkt_len = (uint32_t)clamp_len(n);
	return chan_send(ch, &op, nowait);
}

int rt_chan_send_comp(struct rt_chan *ch, uint64_t xid, const void *data,
		      uint32_t len, bool nowait)
{
	struct chan_op op = { .type = OP_COMP, .xid = xid, .data = data,
			      .len = len };

	op.pkt_len = (uint32_t)clamp_len(sizeof(struct vmb_pktdesc) +
					 (uint64_t)len);
	return chan_send(ch, &op, nowait);
}

int rt_chan_send_gpa(struct rt_chan *ch, uint64_t xid, uint16_t flags,
		     const struct vmb_gpa_range *rg, unsigned nrg,
		     const void *data, uint32_t len, bool nowait)
{
	struct chan_op op = { .type = OP_GPA, .xid = xid, .flags = flags,
			      .rg = rg, .nrg = nrg, .data = data, .len = len };
	uint64_t n = sizeof(struct vmb_gpa_direct_hdr) + (uint64_t)len;

	if (nrg > VMB_PKT_MAX_GPA_RANGES || (nrg && !rg))
		return VMB_EINVAL;
	for (unsigned i = 0; i < nrg; i++)
		n += sizeof(struct vmb_wire_gpa_range) +
		     (uint64_t)rg[i].pfn_count * sizeof(uint64_t);
	op.pkt_len = (uint32_t)clamp_len(n);
	return chan_send(ch, &op, nowait);
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
	 * leaves when it sees the flag. */
	if (!atomic_exchange(&ch->stopping, true))
		eventfd_signal(ch->stop_fd);
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
	st->tx_packets = st_get(&ch->st.tx_packets);
	st->tx_bytes = st_get(&ch->st.tx_bytes);
	st->rx_packets = st_get(&ch->st.rx_packets);
	st->rx_bytes = st_get(&ch->st.rx_bytes);
	st->rx_batches = st_get(&ch->st.rx_batches);
	st->signals_out = st_get(&ch->st.signals_out);
	st->signals_in = st_get(&ch->st.signals_in);
	st->tx_full = st_get(&ch->st.tx_full);
	st->bad = st_get(&ch->st.bad);
}

bool rt_chan_broken(const struct rt_chan *ch)
{
	return atomic_load(&ch->broken);
}
