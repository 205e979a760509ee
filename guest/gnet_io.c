/* netvsc's data path, per channel: each has a TAP queue of its own.
 *
 * Receive: a transfer-page packet names ranges of the receive buffer;
 * each holds RNDIS messages (control answers, copied out and parsed, or
 * PACKETs, whose frames go to the TAP by writev straight from the
 * buffer behind a virtio-net header saying what the host checked). The
 * packet is completed either way (the buffer is the host's to reuse);
 * completions gather and go out
 * together at the end of the receive batch, one signal for all.
 *
 * Send: why a reader thread. The channel's worker sleeps on the host's
 * eventfd and cannot watch the TAP too; the loop thread serves the
 * VMBus socket and every other driver, must never wait on a full ring,
 * and would put each frame behind all of that. A thread of the queue's
 * own sleeps in poll on the TAP, its stop eventfd and a "section free"
 * eventfd (never spinning: with every section in flight it leaves the
 * TAP out of the poll until a completion frees one), reads each frame
 * straight into a send section after room for the PACKET header (and
 * on into a big buffer for an LSO frame, gnet_offload.c) and writes
 * the header in front. The frames of a burst are packed into one
 * section as Linux's, FreeBSD's and DPDK's netvsc do (each PACKET read
 * at its aligned place after the one before, within the host's limits
 * of the INITIALIZE completion and --net-tx-agg), and the section goes
 * as one SEND_RNDIS_PKT once the next frame might not fit or the burst
 * ends: one VMBus packet for up to 8 small frames, not 8. A big frame
 * goes alone by GPA-direct, after the section before it. Sends go
 * under the channel's send side (rt_chan's lock; a full ring makes it
 * wait there, not the worker, whose completions never wait). One
 * thread per queue scales to sub-channels. It is stopped before the
 * endpoint goes (stopping).
 *
 * The worker sends too, after each receive batch (gnet_io_tx_worker):
 * the ACKs it wrote to hn0 let TCP send more (in that very write, or
 * from its timers meanwhile), and the completions it took gave sections
 * and big buffers back; the frames waiting in the TAP queue by then are
 * taken there, which saves the reader a wakeup, on another CPU as often
 * as not (guest to host with TSO: docs/benchmarks.md has the
 * interleaved A/B runs). The queue's send_lock makes one of the two
 * the sender at a time; the worker only tries it, and reads no more
 * frames than the ring takes the messages of now: it must never wait,
 * as the host may be waiting for it to make room in the other ring. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "gnet_port.h"
#include "rt_log.h"

/* Frames read in one burst before the TAP is polled again. */
#define TX_BURST 64u
/* The ring bytes one send takes at most: GPA-direct with a big
 * buffer's pages (a section's in-band message takes less). */
#define TX_MSG_RING                                                        \
	vmb_ring_pkt_space(sizeof(struct vmb_gpa_direct_hdr) +             \
			   sizeof(struct vmb_wire_gpa_range) +              \
			   GNET_BIG_PAGES * sizeof(uint64_t) + NVSP_MSG_LEN)
/* The largest control message copied out of the receive buffer. */
#define CTL_MAX 1024u
/* the readers' time to finish their bursts at shutdown (gnet_io_quiesce) */
#define READER_GRACE_MS 100u

/* ---- receive (worker) ---- */

/* The channel's TAP queue; a channel opened after the TAP was made
 * (more than it has queues) writes to the primary's. */
static unsigned out_queue(const struct gnet_chan *ch)
{
	return ch->q < ch->nic->tap.queues ? ch->q : 0;
}

/* The worker's burst of writes, made on first use (the TAP is there). */
static struct rt_tapio *wio(struct gnet_chan *ch)
{
	if (!ch->wio_on && !gnet_cfg.port)
		rt_tapio_init(&ch->wio, ch->nic->tap.fd[out_queue(ch)],
			      ch->nic->tap.name);
	ch->wio_on = true;
	return &ch->wio;
}

/* The frames queued to the TAP, one system call for all, counted. */
static void frames_flush(struct gnet_chan *ch)
{
	unsigned n = ch->wio.nops;
	uint64_t ok = 0;

	if (!n)
		return;
	gnet_port_run(out_queue(ch), &ch->wio, &ch->rx_calls);
	for (unsigned i = 0; i < n; i++)
		ok += ch->wio.op[i].res >= 0;
	rt_ctr_add(&ch->rx_frames, ok);
	rt_ctr_add(&ch->rx_drops, n - ok);
}

/* A frame queued behind its virtio-net header, straight from the
 * receive buffer (the host's until the packet is completed, after the
 * burst ran). */
static void frame_out(struct gnet_chan *ch, const struct rndis_pkt *pk)
{
	struct rt_tapio *t;
	struct iovec *v;
	struct rt_tapio_op *o;

	if (!atomic_load_explicit(&ch->nic->have_tap, memory_order_acquire)) {
		rt_ctr_add(&ch->rx_drops, 1);
		return;
	}
	t = wio(ch);
	if (!(v = rt_tapio_iov(t, 2))) {
		frames_flush(ch);
		v = rt_tapio_iov(t, 2);
	}
	o = rt_tapio_add(t, 2, true);
	gnet_offload_rx(ch, &pk->meta, o->hdr);
	v[0] = (struct iovec){o->hdr, RT_TAP_VNET_HDR_LEN};
	v[1] = (struct iovec){(void *)pk->data, pk->data_len};
}

ssize_t gnet_io_writev(struct gnet_chan *ch, const struct iovec *iov,
		       unsigned n)
{
	struct rt_tapio *t;
	struct iovec *v;

	if (!atomic_load_explicit(&ch->nic->have_tap, memory_order_acquire))
		return -1;
	/* the frames queued before it go first */
	frames_flush(ch);
	t = wio(ch);
	v = rt_tapio_iov(t, n);
	if (!v)
		return -1;
	memcpy(v, iov, n * sizeof(*iov));
	rt_tapio_add(t, n, true);
	gnet_port_run(out_queue(ch), t, &ch->rx_calls);
	return t->op[0].res;
}

void gnet_io_log(const struct gnet_chan *ch)
{
	rt_info("net", "relid %u (queue %u): TAP: %llu frames read in %llu "
		"calls, %llu written in %llu calls; %llu frames sent by the "
		"worker", ch->c->relid, ch->q,
		(unsigned long long)(rt_ctr_get(&ch->tx_frames) +
				     rt_ctr_get(&ch->tx_drops)),
		(unsigned long long)rt_ctr_get(&ch->tx_calls),
		(unsigned long long)rt_ctr_get(&ch->rx_frames),
		(unsigned long long)rt_ctr_get(&ch->rx_calls),
		(unsigned long long)rt_ctr_get(&ch->tx_worker));
}

void gnet_io_free(struct gnet_chan *ch)
{
	if (ch->wio_on && !gnet_cfg.port)
		rt_tapio_free(&ch->wio);
	if (ch->rio_on && !gnet_cfg.port)
		rt_tapio_free(&ch->rio);
	ch->wio_on = ch->rio_on = false;
}

static void data_range(struct gnet_chan *ch, const uint8_t *p, uint32_t len)
{
	struct rndis_pkt_iter it;
	struct rndis_pkt pk;

	/* Senders count their padding in msg_len (as Linux): no rounding. */
	rndis_pkt_iter_init(&it, p, len, 1);
	while (rndis_pkt_next(&it, &pk, &ch->ppi) == 1)
		if (!gnet_rsc_piece(ch, &pk))
			frame_out(ch, &pk);
	if (it.failed)
		rt_ctr_add(&ch->rx_drops, 1);
}

/* A control answer is copied first: the host may change the buffer
 * under the parser. */
static void control_range(struct gnet_nic *n, const uint8_t *p,
			  uint32_t len)
{
	uint8_t msg[CTL_MAX];
	uint32_t l = len < CTL_MAX ? len : CTL_MAX;

	memcpy(msg, p, l);
	gnet_control(n, msg, l);
}

static void comp_add(struct gnet_chan *ch, uint64_t xid)
{
	if (ch->ncomp == GNET_COMP_MAX && !gnet_io_flush(ch)) {
		/* ring full: the host waits */
		atomic_fetch_add(&ch->nic->bad_comp, 1);
		return;
	}
	ch->comp[ch->ncomp++] = xid;
}

/* Control answers come on the primary (its lock is the engines'); on a
 * sub-channel one is dropped and counted. */
static void range_in(struct gnet_chan *ch, const uint8_t *p, uint32_t len,
		     uint32_t ctype)
{
	if (ctype != NVSP_CHANNEL_CONTROL)
		data_range(ch, p, len);
	else if (ch->q)
		rt_ctr_add(&ch->rx_drops, 1);
	else if (!ch->c->draining)
		control_range(ch->nic, p, len);
}

void gnet_io_recv(struct gnet_chan *ch, const struct vmb_pkt *pkt)
{
	struct nvsp_range rg[NVSP_RECV_MAX_RANGES_RSC];
	uint32_t cnt, ctype;
	int rc;

	pthread_mutex_lock(&ch->lock);
	/* the engine allows 562 ranges only where RSC was asked for */
	rc = nvsp_guest_recv(&ch->nvsp, pkt, rg, NVSP_RECV_MAX_RANGES_RSC,
			     &cnt, &ctype);
	for (uint32_t i = 0; rc == VMB_OK && i < cnt; i++)
		range_in(ch, ch->nic->rbuf + rg[i].offset, rg[i].len, ctype);
	gnet_rsc_end(ch);
	/* the packet's frames to hn0, one system call, before it is
	 * completed */
	frames_flush(ch);
	if (!ch->c->draining)
		comp_add(ch, pkt->xid);
	pthread_mutex_unlock(&ch->lock);
}

bool gnet_io_flush(struct gnet_chan *ch)
{
	union nvsp_msg m;
	uint32_t len = nvsp_rndis_complete(&m, NVSP_STATUS_SUCCESS);
	unsigned done = 0;

	if (!ch->ncomp || !gvb_tx_begin(ch->c))
		return ch->ncomp == 0;
	while (done < ch->ncomp &&
	       gvb_put_comp(ch->c, ch->comp[done], &m, len, true) == VMB_OK)
		done++;
	gvb_tx_end(ch->c);
	memmove(ch->comp, ch->comp + done,
		(ch->ncomp - done) * sizeof(*ch->comp));
	ch->ncomp -= done;
	return ch->ncomp == 0;
}

/* ---- send (the reader thread, or the worker after a batch) ---- */

/* A free section, or NONE with want_room set: the next completion
 * wakes the reader. Tried again after setting it, so that a section
 * freed in between is not missed. The reader's only: the store that
 * clears the flag again wakes nobody, and a reader that saw it set in
 * between would sleep with the TAP out of its poll and nothing to wake
 * it (the worker's burst takes no part in want_room). */
static uint32_t section_wait(struct gnet_chan *ch)
{
	uint32_t idx = gnet_section_get(ch->nic);

	if (idx != NVSP_SECTION_NONE)
		return idx;
	atomic_store(&ch->want_room, true);
	idx = gnet_section_get(ch->nic);
	if (idx != NVSP_SECTION_NONE)
		atomic_store(&ch->want_room, false);
	return idx;
}

/* A big buffer when there are any: NONE_BIG with want_room set when
 * all are out (as section_wait). */
#define NONE_BIG (-2)
static int big_wait(struct gnet_chan *ch)
{
	int b;

	if (!ch->off.big)
		return -1;
	b = gnet_big_get(ch);
	if (b >= 0)
		return b;
	atomic_store(&ch->want_room, true);
	b = gnet_big_get(ch);
	if (b >= 0)
		atomic_store(&ch->want_room, false);
	return b >= 0 ? b : NONE_BIG;
}

static uint8_t *big_at(const struct gnet_chan *ch, int big)
{
	return ch->off.big + (size_t)big * GNET_BIG_SIZE;
}

/* A send section being filled: frames packed into it as RNDIS PACKETs
 * (struct rndis_agg), sent when the next does not fit or the burst
 * ends. */
struct tx_sec {
	uint32_t idx;        /* NVSP_SECTION_NONE: none open */
	struct rndis_agg a;
	/* taken for the frames of a read burst, before it is read: no
	 * frame is read that has no place to go */
	uint32_t res[TX_BURST];
	unsigned nres;
	bool worker; /* the worker's burst: none free ends it, no want_room */
};

static uint8_t *sec_at(const struct gnet_nic *n, uint32_t idx)
{
	return n->sbuf + (size_t)idx * n->ssize;
}

/* The RNDIS header for the frame at buf + GNET_PKT_ROOM, the message
 * starting at buf; the message's length, or 0 when the frame was
 * dropped. A frame with no offload's PPI carries its queue's number as
 * a hash value PPI (as FreeBSD's hn and DPDK's netvsc send) in the room
 * one would take: every header is GNET_PKT_ROOM long, so no frame is
 * moved to meet its header and each message starts where it was put,
 * at the section's alignment. */
static uint32_t tx_frame(struct gnet_chan *ch, const uint8_t *vh,
			 uint8_t *buf, uint32_t flen)
{
	struct rndis_pkt_meta m;

	if (!gnet_offload_tx(ch, vh, buf + GNET_PKT_ROOM, flen, &m))
		return 0;
	if (!m.present) {
		m.present = RNDIS_META_HASH_VALUE;
		m.hash_value = ch->q;
	}
	if (rndis_pkt_build(buf, GNET_PKT_ROOM, &m, flen) != GNET_PKT_ROOM) {
		rt_ctr_add(&ch->tx_refused, 1);
		return 0;
	}
	return GNET_PKT_ROOM + flen;
}

static int send_section(struct gnet_chan *ch, uint32_t idx, uint32_t len)
{
	union nvsp_msg m;
	struct vmb_iov mi = {&m, nvsp_rndis_pkt(&m, NVSP_CHANNEL_DATA, idx, len)};

	return gvb_put(ch->c, idx + 1ull, VMB_PKT_FLAG_COMPLETION_REQUESTED,
		       &mi, 1, false);
}

/* The open section sent (or given back when it holds nothing); its
 * frames counted as sent or, when the send failed, dropped. */
static int tx_flush(struct gnet_chan *ch, struct tx_sec *s)
{
	uint32_t idx = s->idx, k = s->a.npkts;
	int rc = VMB_OK;

	if (idx == NVSP_SECTION_NONE)
		return VMB_OK;
	s->idx = NVSP_SECTION_NONE;
	if (k && !(rc = send_section(ch, idx, s->a.len))) {
		rt_ctr_add(&ch->tx_frames, k);
		rt_ctr_add(&ch->tx_msgs, 1);
		return VMB_OK;
	}
	gnet_section_put(ch->nic, idx);
	rt_ctr_add(&ch->tx_drops, k);
	return rc;
}

/* A section with room for one more frame of any size the MTU allows:
 * the open one, or (that one sent) one of those taken for the burst.
 * false when the send failed. */
static bool tx_open(struct gnet_chan *ch, struct tx_sec *s)
{
	struct gnet_nic *n = ch->nic;
	uint32_t off;

	if (s->idx != NVSP_SECTION_NONE &&
	    rndis_agg_room(&s->a, n->ssize, &off) >= n->tx_need)
		return true;
	if (tx_flush(ch, s) || !s->nres)
		return false;
	s->idx = s->res[--s->nres];
	s->a = n->tx_agg;
	return true;
}

/* GPA-direct: the buffer's pages, the host reading them in place. */
static int send_big(struct gnet_chan *ch, int big, uint32_t len)
{
	uint64_t pfn[GNET_BIG_PAGES];
	uint64_t gpa = rt_gmem_gpa(&ch->nic->vb->gmem, big_at(ch, big));
	struct vmb_gpa_range rg = {.byte_count = len,
				   .pfn_count = vmb_gpa_pfn_count(0, len),
				   .pfn = pfn};
	union nvsp_msg m;
	uint32_t mlen = nvsp_rndis_pkt(&m, NVSP_CHANNEL_DATA,
				       NVSP_SECTION_NONE, 0);

	for (uint32_t i = 0; i < rg.pfn_count; i++)
		pfn[i] = (gpa >> 12) + i;
	return gvb_put_gpa(ch->c, GNET_BIG_XID + (uint64_t)big,
			   VMB_PKT_FLAG_COMPLETION_REQUESTED, &rg, 1, &m, mlen,
			   false);
}

/* A frame too big for a section, whole in big buffer big (its first
 * stage_slot bytes copied there from the slot it was read into): the
 * frames packed before it go first (order kept), then it goes alone. */
static int tx_big(struct gnet_chan *ch, const uint8_t *vh, struct tx_sec *s,
		  const uint8_t *slot, int big, uint32_t flen)
{
	uint8_t *bb = big_at(ch, big);
	uint32_t len;
	int rc;

	memcpy(bb + GNET_PKT_ROOM, slot, ch->stage_slot);
	rc = tx_flush(ch, s);
	len = rc ? 0 : tx_frame(ch, vh, bb, flen);
	if (len && !(rc = send_big(ch, big, len))) {
		rt_ctr_add(&ch->tx_big, 1);
		rt_ctr_add(&ch->tx_frames, 1);
		rt_ctr_add(&ch->tx_msgs, 1);
		return VMB_OK;
	}
	gnet_big_back(ch, big);
	if (rc)
		rt_ctr_add(&ch->tx_drops, 1);
	return rc;
}

/* The frame read into slot (and on into big buffer big, if any) packed
 * into the open section at its next place, or sent on its own. false:
 * a send failed (the channel going). */
static bool tx_place(struct gnet_chan *ch, struct tx_sec *s,
		     const uint8_t *vh, const uint8_t *slot, int big,
		     uint32_t flen)
{
	struct gnet_nic *n = ch->nic;
	uint32_t off, len;
	uint8_t *at;

	if (flen > ch->stage_slot)
		return tx_big(ch, vh, s, slot, big, flen) == VMB_OK;
	if (big >= 0)
		gnet_big_back(ch, big);
	if (!tx_open(ch, s)) {
		rt_ctr_add(&ch->tx_drops, 1);
		return false;
	}
	rndis_agg_room(&s->a, n->ssize, &off);
	at = sec_at(n, s->idx) + off;
	memcpy(at + GNET_PKT_ROOM, slot, flen);
	len = tx_frame(ch, vh, at, flen);
	if (len)
		rndis_agg_add(&s->a, sec_at(n, s->idx), len);
	return true;
}

/* Sections for k frames taken beforehand, as many as the worst case
 * needs: each frame as long as the MTU allows, or, where big buffers
 * are (a frame sent alone closes the open section), one a frame. The
 * frames they make room for (0: none free, the reader waits). */
static unsigned tx_reserve(struct gnet_chan *ch, struct tx_sec *s,
			   unsigned k, bool big)
{
	unsigned per = big ? 1 : ch->nic->tx_per_sec;
	uint32_t idx;

	while (s->nres * per < k &&
	       (idx = gnet_section_get(ch->nic)) != NVSP_SECTION_NONE)
		s->res[s->nres++] = idx;
	if (!s->nres && s->idx == NVSP_SECTION_NONE && !s->worker &&
	    (idx = section_wait(ch)) != NVSP_SECTION_NONE)
		s->res[s->nres++] = idx;
	return s->nres * per < k ? s->nres * per : k;
}

/* Big buffers for up to k reads (a frame may be an LSO one): as many
 * as are free, each read one; -1 in bigs when there are none. The
 * reads they allow (0: all out, the reader waits; the worker's burst
 * ends). */
static unsigned tx_bigs(struct gnet_chan *ch, unsigned k, int *bigs,
			bool worker)
{
	unsigned i = 0;
	int b;

	if (!ch->off.big) {
		for (; i < k; i++)
			bigs[i] = -1;
		return k;
	}
	while (i < k &&
	       (b = i || worker ? gnet_big_get(ch) : big_wait(ch)) >= 0)
		bigs[i++] = b;
	return i;
}

/* Read i of a burst queued: the frame into slot i of the stage (room
 * for any frame the MTU allows) and on into big buffer big, after the
 * place its first part is copied to. */
static void tx_queue(struct gnet_chan *ch, unsigned i, int big)
{
	struct rt_tapio *t = &ch->rio;
	uint32_t room = ch->stage_slot;
	struct iovec *v = rt_tapio_iov(t, 3);
	struct rt_tapio_op *o = rt_tapio_add(t, big >= 0 ? 3 : 2, false);

	v[0] = (struct iovec){o->hdr, RT_TAP_VNET_HDR_LEN};
	v[1] = (struct iovec){ch->stage + (size_t)i * room, room};
	if (big >= 0)
		v[2] = (struct iovec){big_at(ch, big) + GNET_PKT_ROOM + room,
				      GNET_BIG_SIZE - GNET_PKT_ROOM - room};
	o->want = big >= 0 ? GNET_BIG_SIZE - GNET_PKT_ROOM : room;
}

/* The burst's reads done, in order: each frame placed. The frames found
 * (a read past the queue's end found none); *more when each found one
 * and nothing failed. */
static unsigned tx_done(struct gnet_chan *ch, struct tx_sec *s,
			unsigned k, const int *bigs, bool *more)
{
	unsigned got = 0;
	bool ok = true;

	for (unsigned i = 0; i < k; i++) {
		struct rt_tapio_op *o = &ch->rio.op[i];
		uint32_t flen = o->res > (int32_t)RT_TAP_VNET_HDR_LEN
					? (uint32_t)o->res - RT_TAP_VNET_HDR_LEN
					: 0;

		got += o->res >= 0;
		if (!ok || !flen || flen >= o->want) {
			if (bigs[i] >= 0)
				gnet_big_back(ch, bigs[i]);
			/* empty, too long, or no longer sent */
			if (o->res >= 0)
				rt_ctr_add(&ch->tx_drops, 1);
			continue;
		}
		ok = tx_place(ch, s, o->hdr, ch->stage + (size_t)i *
						     ch->stage_slot,
			      bigs[i], flen);
	}
	*more = ok && got == k;
	return got;
}

/* One read burst of up to k frames, one system call: its frames'
 * places (sections, big buffers) taken first, those not used given
 * back after. The frames found. */
static unsigned tx_read(struct gnet_chan *ch, struct tx_sec *s, unsigned k,
			bool *more)
{
	int bigs[TX_BURST];
	unsigned n, got;

	*more = false;
	k = tx_bigs(ch, k, bigs, s->worker);
	n = k ? tx_reserve(ch, s, k, ch->off.big != NULL) : 0;
	for (unsigned i = n; i < k; i++)
		if (bigs[i] >= 0)
			gnet_big_back(ch, bigs[i]);
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++)
		tx_queue(ch, i, bigs[i]);
	gnet_port_run(ch->q, &ch->rio, &ch->tx_calls);
	got = tx_done(ch, s, n, bigs, more);
	while (s->nres)
		gnet_section_put(ch->nic, s->res[--s->nres]);
	return got;
}

/* The frames the worker may take: as many as the ring holds the
 * messages of without waiting (the burst holds the send side: nobody
 * else takes room meanwhile). */
static unsigned worker_room(struct gnet_chan *ch)
{
	uint32_t k = gvb_tx_room(ch->c) / TX_MSG_RING;

	return k < TX_BURST ? k : TX_BURST;
}

/* Up to TX_BURST frames (on the worker, as many as worker_room) in read
 * bursts, packed into as few sections as they fit; what is open at the
 * end goes then. One signal for it all. Each burst asks for as many
 * frames as the last found and one more (twice as many when it found
 * all). send_lock held. */
static void tx_burst(struct gnet_chan *ch, bool worker)
{
	struct tx_sec s = {.idx = NVSP_SECTION_NONE, .worker = worker};
	unsigned left, k, got;
	bool more = true;

	if (!gvb_tx_begin(ch->c))
		return;
	left = worker ? worker_room(ch) : TX_BURST;
	if (!ch->rio_on && !gnet_cfg.port)
		rt_tapio_init(&ch->rio, ch->nic->tap.fd[ch->q],
			      ch->nic->tap.name);
	ch->rio_on = true;
	while (left && more) {
		k = ch->tx_want < left ? ch->tx_want : left;
		got = tx_read(ch, &s, k, &more);
		left -= got < left ? got : left;
		ch->tx_want = more ? 2 * k : got + 1;
		if (ch->tx_want < 2)
			ch->tx_want = 2;
		if (ch->tx_want > TX_BURST)
			ch->tx_want = TX_BURST;
	}
	tx_flush(ch, &s);
	gvb_tx_end(ch->c);
}

void gnet_io_tx_worker(struct gnet_chan *ch)
{
	if (!atomic_load_explicit(&ch->send_open, memory_order_relaxed) ||
	    atomic_load(&ch->want_room) ||
	    pthread_mutex_trylock(&ch->send_lock))
		return;
	if (atomic_load(&ch->send_open)) {
		uint64_t before = rt_ctr_get(&ch->tx_frames);

		tx_burst(ch, true);
		rt_ctr_add(&ch->tx_worker,
			   rt_ctr_get(&ch->tx_frames) - before);
	}
	pthread_mutex_unlock(&ch->send_lock);
}

static void reader_send(struct gnet_chan *ch)
{
	pthread_mutex_lock(&ch->send_lock);
	if (atomic_load(&ch->send_open))
		tx_burst(ch, false);
	pthread_mutex_unlock(&ch->send_lock);
}

static void *reader_main(void *arg)
{
	struct gnet_chan *ch = arg;
	int tap = ch->nic->tap.fd[ch->q];
	struct pollfd p[3] = {
		{.fd = tap, .events = POLLIN},
		{.fd = ch->stop_efd, .events = POLLIN},
		{.fd = ch->room_efd, .events = POLLIN},
	};
	uint64_t v;

	for (;;) {
		p[0].fd = atomic_load(&ch->want_room) ? -1 : tap;
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if ((p[2].revents & POLLIN) &&
		    read(ch->room_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			break;
		if (p[0].revents & POLLIN)
			reader_send(ch);
	}
	atomic_store_explicit(&ch->reader_done, true, memory_order_release);
	return NULL;
}

/* No more frames taken from the TAP queue, and the stage freed: after
 * the worker's burst, if it is in one (it never waits there). */
static void send_close(struct gnet_chan *ch)
{
	pthread_mutex_lock(&ch->send_lock);
	atomic_store(&ch->send_open, false);
	pthread_mutex_unlock(&ch->send_lock);
	free(ch->stage);
	ch->stage = NULL;
}

/* A reader for each open channel with a queue; false if none runs. */
static bool readers_start(struct gnet_nic *n)
{
	unsigned on = 0;

	for (unsigned q = 0; q < n->tap.queues; q++) {
		struct gnet_chan *ch = &n->ch[q];

		if (!ch->open)
			continue;
		ch->stage_slot = n->tx_need - GNET_PKT_ROOM;
		ch->stage = malloc((size_t)TX_BURST * ch->stage_slot);
		ch->tx_want = 2;
		atomic_store(&ch->reader_done, false);
		atomic_store(&ch->send_open, ch->stage != NULL);
		ch->reader_on = ch->stage &&
				pthread_create(&ch->reader, NULL, reader_main,
					       ch) == 0;
		if (!ch->reader_on)
			send_close(ch);
		on += ch->reader_on;
	}
	return on > 0;
}

/* How many frames of tx_need bytes a section takes, as tx_open packs
 * them (the bookkeeping of rndis_agg_add, nothing written). */
static unsigned per_section(const struct gnet_nic *n)
{
	struct rndis_agg a = n->tx_agg;
	unsigned k = 0;
	uint32_t off;

	while (k < TX_BURST && rndis_agg_room(&a, n->ssize, &off) >= n->tx_need) {
		a.last = off;
		a.len = off + n->tx_need;
		a.npkts++;
		k++;
	}
	return k ? k : 1;
}

/* The aggregation limits: the host's, --net-tx-agg's, and an MTU-sized
 * frame's room (a frame the TAP gives is at most the MTU, an Ethernet
 * header and a VLAN tag; the byte more tells one cut short). false
 * when the host's sections cannot hold a header and an Ethernet frame
 * header (nothing is sent). */
static bool tx_agg_start(struct gnet_nic *n)
{
	const struct rndis_guest_info *i = &n->rndis.info;
	uint32_t want = gnet_cfg.tx_agg ? gnet_cfg.tx_agg : GNET_TX_AGG_DEFAULT;
	uint64_t need = (uint64_t)GNET_PKT_ROOM + i->mtu + 18u + 1u;

	if (n->ssize <= GNET_PKT_ROOM + 14u) {
		rt_warn("net", "relid %u: send sections of %u bytes hold no "
			"frame", n->c->relid, n->ssize);
		return false;
	}
	rndis_agg_init(&n->tx_agg, want < i->max_pkts ? want : i->max_pkts,
		       i->max_xfer, i->align);
	n->tx_need = need < n->ssize ? (uint32_t)need : n->ssize;
	n->tx_per_sec = per_section(n);
	rt_info("net", "relid %u: send aggregation: up to %u frames and %u "
		"bytes a section, aligned to %u", n->c->relid,
		n->tx_agg.max_pkts, i->max_xfer < n->ssize ? i->max_xfer
							     : n->ssize,
		n->tx_agg.align);
	return true;
}

int gnet_io_start(struct gnet_nic *n)
{
	const struct rndis_guest_info *i = &n->rndis.info;
	struct rt_tap_cfg tc = {.name = "hn%d", .netns = gnet_cfg.netns,
				.queues = atomic_load(&n->nchan),
				.vnet_hdr = true, .have_mac = true,
				.mtu = i->mtu};
	char why[256];
	int rc;

	memcpy(tc.mac, i->mac, 6);
	rc = gnet_cfg.port ? gnet_port_start(n, why, sizeof(why))
			   : rt_tap_open(&n->tap, &tc, why, sizeof(why));
	if (rc) {
		rt_warn("net", "relid %u: %s", n->c->relid, why);
		return rc;
	}
	if (!gnet_cfg.port && (rc = rt_tap_set_carrier(&n->tap, true)))
		rt_warn("net", "%s: carrier not set: %s", n->tap.name,
			strerror(-rc));
	gnet_offload_start(n);
	atomic_store_explicit(&n->have_tap, true, memory_order_release);
	rc = tx_agg_start(n) && readers_start(n);
	rt_info("net", "relid %u: %s in network namespace %s, MTU %u, %u "
		"queue%s%s", n->c->relid, n->tap.name,
		gnet_cfg.netns ? gnet_cfg.netns : "(none)", i->mtu,
		n->tap.queues, n->tap.queues > 1 ? "s" : "",
		rc ? "" : " (no reader thread: nothing is sent)");
	return 0;
}

static bool readers_running(const struct gnet_nic *n)
{
	for (unsigned q = 0; q < n->tap.queues; q++)
		if (n->ch[q].reader_on &&
		    !atomic_load_explicit(&n->ch[q].reader_done,
					  memory_order_acquire))
			return true;
	return false;
}

void gnet_io_quiesce(struct gnet_nic *n)
{
	struct timespec ms = {0, 1000000};
	uint64_t one = 1;

	/* the worker takes no more frames either (one in a burst ends it
	 * at once: it never waits) */
	for (unsigned q = 0; q < n->tap.queues; q++)
		atomic_store(&n->ch[q].send_open, false);
	for (unsigned q = 0; q < n->tap.queues; q++)
		if (n->ch[q].reader_on &&
		    write(n->ch[q].stop_efd, &one, sizeof(one)) < 0)
			rt_warn("net", "reader not told to stop");
	for (unsigned i = 0; i < READER_GRACE_MS && readers_running(n); i++)
		nanosleep(&ms, NULL);
	for (unsigned q = 0; q < n->tap.queues; q++)
		gnet_io_stop(&n->ch[q]);
}

void gnet_io_stop(struct gnet_chan *ch)
{
	uint64_t one = 1;

	if (!ch->reader_on)
		return;
	/* A reader waiting in a send for ring room returns now. */
	if (ch->c->rt)
		rt_chan_stop_begin(ch->c->rt);
	if (write(ch->stop_efd, &one, sizeof(one)) < 0)
		rt_warn("net", "reader not told to stop");
	pthread_join(ch->reader, NULL);
	ch->reader_on = false;
	send_close(ch);
}
