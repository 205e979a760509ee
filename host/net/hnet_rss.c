/* netvsp's vRSS: which channel a frame from the TAP goes to, and the
 * hand-offs between channels that sharing one receive buffer needs.
 *
 * Steering: a frame read on channel q's TAP queue is parsed (nframe),
 * hashed under the guest's key over the tuple its enabled types make
 * (core/net/rss) and goes to the channel the guest's indirection table
 * names; without RSS, without a hash, or to a channel not running, it
 * stays on q (the primary if q is not running yet). The frames of one
 * burst are gathered and put on each target's ring in one burst of its
 * send side (one signal per target and burst), in the order read, so a
 * flow's frames stay in order: as real hosts do, the plain frames for a
 * target go as transfer-page packets of several ranges, one frame a
 * range, their sub-allocations joined into one chain under the first's
 * index (nvsp_rxbuf_join), which the guest gives back with one
 * completion; a coalesced frame goes as a packet of its own.
 *
 * Giving back: the frame's sub-allocation is q's; the guest completes it
 * on the channel it arrived on. That channel's worker gathers its
 * batch's completions, frees its own and puts the others in their
 * owners' return boxes, one mutex each per batch; an owner empties its
 * box before each receive burst. A box holds at most its partition's
 * size: a guest completing more than it holds is refused (counted). */
#include <stdlib.h>
#include <time.h>

#include "hnet_priv.h"
#include "rt_log.h"

/* The channel a frame read on ch goes to (its put may find it gone). */
static unsigned pick(struct hnet_chan *ch, const uint8_t *frame, uint32_t len)
{
	struct hnet_nic *nic = ch->nic;
	unsigned to = ch->q;
	struct nframe f;

	/* a frame that does not parse has no hash: it stays (a coalesced
	 * one is given by its head) */
	if (nic->rss_on &&
	    nframe_parse(&f, frame, len, nic->rss->types, NFRAME_F_HEAD) ==
		    NFRAME_OK &&
	    f.rss.len)
		to = rss_queue(nic->rss, rss_hash(nic->rss, &f.rss));
	if (to >= HNET_QUEUES_MAX || !nic->chan[to])
		to = nic->chan[ch->q] ? ch->q : 0;
	return to;
}

void hnet_rss_add(struct hnet_chan *ch, uint32_t id, uint32_t off,
		  uint32_t len, const uint8_t *frame, uint32_t flen)
{
	unsigned to = pick(ch, frame, flen);
	uint32_t k;

	if (!ch->nic->chan[to] || ch->nout == HNET_RX_BATCH) {
		nvsp_rxbuf_free(&ch->nic->rxb, ch->q, id, &k);
		rt_ctr_add(&ch->rx_idle, 1);
		return;
	}
	if (to != ch->q)
		rt_ctr_add(&ch->rx_steered, 1);
	ch->out[ch->nout++] = (struct hnet_steer){id, off, len, flen,
						  (uint8_t)to, 0, 0};
}

void hnet_rss_add_rsc(struct hnet_chan *ch, uint32_t id, uint16_t npieces,
		      const uint8_t *head, uint32_t hlen, uint32_t flen)
{
	unsigned n = ch->nout;

	hnet_rss_add(ch, id, 0, 0, head, hlen);
	if (ch->nout == n)
		return;
	ch->out[n].flen = flen;
	ch->out[n].npieces = (uint8_t)npieces;
	ch->out[n].rng = (uint16_t)ch->nrng;
	ch->nrng += npieces;
}

/* The open packet's frames as one chain under its first id. Refused
 * (a bug: they were all taken in this burst), its frames are not sent
 * but given back one by one. */
static void pk_close(struct hnet_chan *ch, struct hnet_xpkt *p)
{
	const uint32_t *ids;

	if (!p || p->nrng < 2)
		return;
	ids = ch->jid + (p->rng - ch->rng);
	if (nvsp_rxbuf_join(&ch->nic->rxb, ch->q, ids, p->nrng) == VMB_OK)
		return;
	rt_warn("net", "relid %u: %u frames not joined: not sent",
		ch->c->relid, p->nrng);
	for (unsigned i = 0; i < p->nrng; i++)
		ch->unsent[ch->nunsent++] = ids[i];
	ch->npk--;
}

/* Plain frame s into the open packet p, or a new one (returned); its
 * range the r-th of ch->rng. */
static struct hnet_xpkt *pk_add(struct hnet_chan *ch, struct hnet_xpkt *p,
				const struct hnet_steer *s, unsigned r,
				unsigned max)
{
	if (!p || p->nrng == max) {
		pk_close(ch, p);
		p = &ch->pk[ch->npk++];
		*p = (struct hnet_xpkt){ch->rng + r, s->id, 0, 0, 0};
	}
	ch->rng[r] = (struct vmb_xfer_range){
		vmb_le32(s->len),
		vmb_le32(s->id * ch->nic->rxb.sub_size + s->off)};
	ch->jid[r] = s->id;
	p->nrng++;
	p->frames++;
	p->bytes += s->flen;
	return p;
}

/* The burst's frames for channel j as transfer packets (ch->pk), in the
 * order read; plain ones joined where join (the buffer as the burst
 * found it: nic->lock held to read), else one a packet. */
static void pack(struct hnet_chan *ch, unsigned j, bool join)
{
	unsigned max = join ? HNET_XFER_RANGES : 1, nr = 0;
	struct hnet_xpkt *open = NULL;

	ch->npk = 0;
	for (unsigned i = 0; i < ch->nout; i++) {
		const struct hnet_steer *s = &ch->out[i];

		if (s->to != j)
			continue;
		if (!s->npieces) {
			open = pk_add(ch, open, s, nr++, max);
			continue;
		}
		pk_close(ch, open);
		open = NULL;
		ch->pk[ch->npk++] = (struct hnet_xpkt){
			ch->rsc_rng + s->rng, s->id, s->flen, s->npieces, 1};
	}
	pk_close(ch, open);
}

/* Channel j, held for this worker's puts, and the burst's frames for
 * it packed (or NULL: gone since). The buffer laid out again meanwhile
 * (its ids stale, its links maybe new), nothing is joined. */
static struct hnet_chan *target_get(struct hnet_chan *ch, unsigned j)
{
	struct hnet_nic *nic = ch->nic;
	struct hnet_chan *to;

	pthread_rwlock_rdlock(&nic->lock);
	to = nic->chan[j];
	if (to) {
		atomic_fetch_add_explicit(&to->users, 1, memory_order_relaxed);
		pack(ch, j, nic->rx_gen == ch->out_gen);
	}
	pthread_rwlock_unlock(&nic->lock);
	return to;
}

/* Packet p on channel to (held, under its send side, which makes this
 * worker the one writer of its rx counters meanwhile); not sent, its
 * chain is given back after. */
static void put_pk(struct hnet_chan *ch, struct hnet_chan *to,
		   const struct hnet_xpkt *p)
{
	if (hnet_put_ranges(to, p->id, p->rng, p->nrng, NVSP_CHANNEL_DATA)) {
		rt_ctr_add(&to->rx_msgs, 1);
		rt_ctr_add(&to->rx_frames, p->frames);
		rt_ctr_add(&to->rx_bytes, p->bytes);
		return;
	}
	rt_ctr_add(&to->rx_ring_full, p->frames);
	ch->unsent[ch->nunsent++] = p->id;
}

/* The burst's frames for channel j; those for a channel gone are given
 * back after. */
static void put_all(struct hnet_chan *ch, unsigned j)
{
	struct hnet_chan *to = target_get(ch, j);

	if (!to) {
		for (unsigned i = 0; i < ch->nout; i++)
			if (ch->out[i].to == j)
				ch->unsent[ch->nunsent++] = ch->out[i].id;
		return;
	}
	rt_chan_tx_begin(to->c->rt);
	for (unsigned i = 0; i < ch->npk; i++)
		put_pk(ch, to, &ch->pk[i]);
	rt_chan_tx_end(to->c->rt);
	atomic_fetch_sub_explicit(&to->users, 1, memory_order_release);
}

/* Unless the buffer was laid out again meanwhile (its ids are gone). */
static void unsent_back(struct hnet_chan *ch)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t k;

	pthread_rwlock_rdlock(&nic->lock);
	for (unsigned i = 0; nic->rx_gen == ch->out_gen && i < ch->nunsent;
	     i++)
		nvsp_rxbuf_free(&nic->rxb, ch->q, ch->unsent[i], &k);
	pthread_rwlock_unlock(&nic->lock);
	ch->nunsent = 0;
}

void hnet_rss_flush(struct hnet_chan *ch)
{
	uint64_t todo = 0;

	for (unsigned i = 0; i < ch->nout; i++)
		todo |= 1ull << ch->out[i].to;
	for (; todo; todo &= todo - 1)
		put_all(ch, (unsigned)__builtin_ctzll(todo));
	ch->nout = 0;
	ch->nrng = 0;
	if (ch->nunsent)
		unsent_back(ch);
}

void hnet_rss_unused(struct hnet_chan *ch)
{
	struct timespec ts = {0, 100000};

	while (atomic_load_explicit(&ch->users, memory_order_acquire))
		nanosleep(&ts, NULL);
}

void hnet_rss_reclaim(struct hnet_chan *ch)
{
	struct hnet_nic *nic = ch->nic;
	struct hnet_ret *r = &nic->ret[ch->q];
	uint32_t k;

	if (!nic->rx_ready ||
	    !atomic_load_explicit(&r->n, memory_order_acquire))
		return;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->n; i++)
		nvsp_rxbuf_free(&nic->rxb, ch->q, r->id[i], &k);
	atomic_store_explicit(&r->n, 0, memory_order_relaxed);
	pthread_mutex_unlock(&r->lock);
}

void hnet_rss_back(struct hnet_chan *ch, uint64_t xid)
{
	if (ch->nback == HNET_BACK_MAX)
		hnet_rss_back_flush(ch);
	ch->back[ch->nback++] = xid;
}

/* The batch's completions of owner o's sub-allocations into its box. */
static void box_put(struct hnet_chan *ch, unsigned o)
{
	struct hnet_nic *nic = ch->nic;
	struct hnet_ret *r = &nic->ret[o];
	uint32_t n;

	pthread_mutex_lock(&r->lock);
	n = atomic_load_explicit(&r->n, memory_order_relaxed);
	for (unsigned i = 0; i < ch->nback; i++) {
		uint64_t x = ch->back[i];

		if (x >= nic->rxb.count ||
		    nvsp_rxbuf_owner(&nic->rxb, (uint32_t)x) != o)
			continue;
		if (n < r->cap)
			r->id[n++] = (uint32_t)x;
		else
			rt_ctr_add(&r->dropped, 1);
	}
	atomic_store_explicit(&r->n, n, memory_order_release);
	pthread_mutex_unlock(&r->lock);
}

static void give_back(struct hnet_chan *ch)
{
	struct hnet_nic *nic = ch->nic;
	uint64_t others = 0;
	uint32_t k;

	for (unsigned i = 0; i < ch->nback; i++) {
		uint64_t x = ch->back[i];
		unsigned o = x < nic->rxb.count
				     ? nvsp_rxbuf_owner(&nic->rxb, (uint32_t)x)
				     : ch->q;

		if (o != ch->q)
			others |= 1ull << o;
		else
			nvsp_rxbuf_free(&nic->rxb, ch->q, x, &k);
	}
	for (; others; others &= others - 1)
		box_put(ch, (unsigned)__builtin_ctzll(others));
}

void hnet_rss_back_flush(struct hnet_chan *ch)
{
	if (!ch->nback)
		return;
	pthread_rwlock_rdlock(&ch->nic->lock);
	if (ch->nic->rx_ready)
		give_back(ch);
	pthread_rwlock_unlock(&ch->nic->lock);
	ch->nback = 0;
}

/* Without memory the old boxes stay: smaller than the new partitions
 * at worst (more is refused), never freed under a worker. */
bool hnet_rss_boxes(struct hnet_nic *nic)
{
	const struct nvsp_rxbuf *rb = &nic->rxb;
	uint32_t *ids = calloc(rb->count, sizeof(*ids)), at = 0;

	if (!ids)
		return false;
	free(nic->ret_ids);
	nic->ret_ids = ids;
	/* every box, those of queues the buffer no longer has too: a
	 * sub-channel past them (not split for it) reclaims nothing, never
	 * the old ids */
	for (unsigned q = 0; q < HNET_QUEUES_MAX; q++) {
		struct hnet_ret *r = &nic->ret[q];

		/* queue 0 owns the control reserve too */
		r->cap = q >= rb->nqueues ? 0
			 : rb->q[q].end - rb->q[q].first +
				   (q ? 0 : NVSP_RXBUF_CONTROL);
		r->id = nic->ret_ids + at;
		atomic_store(&r->n, 0);
		at += r->cap;
	}
	return true;
}

/* The guest's key, hash types and table as the Toeplitz tables want. */
static void set_cfg(struct rss_cfg *c, const struct rndis_rss_state *s)
{
	uint16_t t[RSS_TABLE_SIZE];

	rss_cfg_set_key(c, s->key, NDIS_RSS_KEY_LEN);
	rss_cfg_set_types(c, s->hash_info);
	for (unsigned i = 0; i < RSS_TABLE_SIZE; i++)
		t[i] = (uint16_t)s->table[i];
	rss_cfg_set_table(c, t, RSS_TABLE_SIZE);
}

/* The channels running from the primary on: what the send table may
 * name. */
static uint32_t running(const struct hnet_nic *nic)
{
	uint32_t n = 0;

	while (n < nic->queues && nic->chan[n])
		n++;
	return n;
}

static void send_table(struct hnet_chan *ch, uint32_t channels)
{
	uint8_t m[NVSP_TX_TABLE_MSG_LEN];
	struct vmb_iov iov = {m, nvsp_host_send_table(&ch->eng, channels, m)};
	int rc;

	if (!iov.len)
		return;
	rc = rt_chan_send_inband(ch->c->rt, 0, 0, &iov, 1, true);
	if (rc)
		rt_warn("net", "relid %u: send indirection table not sent: %s",
			ch->c->relid, vmb_strerror(rc));
}

void hnet_rss_update(struct hnet_chan *ch)
{
	const struct rndis_host *h = &ch->rndis;
	struct hnet_nic *nic = ch->nic;
	uint32_t channels;
	bool send;

	hnet_offload_set(nic, &h->offload);
	pthread_rwlock_wrlock(&nic->lock);
	nic->rx_on = h->state == RNDIS_HS_READY && h->filter;
	nic->rss_on = h->rss.enabled;
	if (nic->rss_on)
		set_cfg(nic->rss, &h->rss);
	send = nic->rss_on && !nic->table_sent;
	nic->table_sent |= send;
	channels = running(nic);
	pthread_rwlock_unlock(&nic->lock);
	if (send)
		send_table(ch, channels);
}
