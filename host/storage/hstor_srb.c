/* storvsp's data path. On the channel worker: an SRB the VSTOR engine
 * validated goes through the SCSI target; an answer it gives at once is
 * sent at once, an I/O is queued on the LUN's backend queue for this
 * channel and started at the end of the receive batch (hstor_kick). On
 * the queue's completion thread: finished I/O becomes COMPLETE_IO
 * packets, one burst and at most one signal per completion batch. Data
 * moves between the backend and guest memory directly. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hstor_priv.h"
#include "rt_log.h"

static uint32_t qidx(const struct hstor_chan *ch)
{
	return ch->c->sub_index;
}

/* ---- the free ring (see hstor_priv.h) ---- */

static struct hstor_req *req_get(struct hstor_q *q)
{
	uint32_t cons = atomic_load_explicit(&q->free_cons,
					     memory_order_relaxed);
	struct hstor_req *r;

	/* acquire: the completion thread's last writes to the request
	 * happen before we reuse it */
	if (cons == atomic_load_explicit(&q->free_prod, memory_order_acquire))
		return NULL;
	r = &q->req[q->free_ring[cons % HSTOR_DEPTH]];
	atomic_store_explicit(&q->free_cons, cons + 1, memory_order_release);
	return r;
}

/* A request the worker took and never handed to the backend: the ring
 * slot it came from still holds its index (the producer reaches that
 * slot only after every other request came back), so the worker only
 * steps back. */
static void req_unget(struct hstor_q *q, struct hstor_req *r)
{
	uint32_t cons = atomic_load_explicit(&q->free_cons,
					     memory_order_relaxed);

	free(r->expanded);
	r->expanded = NULL;
	atomic_store_explicit(&q->free_cons, cons - 1, memory_order_release);
}

/* The completion thread is the only producer; the ring never overflows,
 * as it holds every request index at most once. */
static void req_put(struct hstor_q *q, struct hstor_req *r)
{
	uint32_t prod = atomic_load_explicit(&q->free_prod,
					     memory_order_relaxed);

	free(r->expanded);
	r->expanded = NULL;
	q->free_ring[prod % HSTOR_DEPTH] = r->index;
	atomic_store_explicit(&q->free_prod, prod + 1, memory_order_release);
}

/* ---- replies ---- */

static uint32_t build_reply(const struct hstor_chan *ch,
			    const struct vstor_host_srb *s,
			    const struct scsi_result *res,
			    uint8_t out[VSTOR_PKT_LEN])
{
	struct vstor_srb_result r = {
		.srb_status = res->srb_status,
		.scsi_status = res->status,
		.moved = res->data_len,
		.sense = res->sense,
		.sense_len = res->sense_len,
	};

	return vstor_host_complete(&ch->eng, s, &r, out);
}

static void reply_now(struct hstor_chan *ch, const struct vstor_host_srb *s,
		      const struct scsi_result *res)
{
	uint8_t out[VSTOR_PKT_LEN];

	hstor_send(ch, s->xid, out, build_reply(ch, s, res, out));
}

static void reply_srb(struct hstor_chan *ch, const struct vstor_host_srb *s,
		      uint8_t srb_status)
{
	struct scsi_result res = {.srb_status = srb_status};

	rt_ctr_add(srb_status == SCSI_SRB_BUSY ? &ch->busy : &ch->bad_target,
		   1);
	reply_now(ch, s, &res);
}

/* ---- completions ---- */

/* On the completion thread; for a polled queue on the worker (or, once
 * its LUN is gone, the loop thread), which must not wait for the guest
 * here: a reply without room waits on ch->unsent for
 * hstor_flush_unsent. nowait: the LUN is gone, a reply without room is
 * dropped. rt is NULL once the channel stopped. */
static void finish(struct hstor_q *q, struct hstor_req *r, struct rt_chan *rt,
		   bool nowait)
{
	struct hstor_chan *ch = q->ch;
	int rc = VMB_ESHUTDOWN;

	scsi_disk_complete(&q->lun->disk, qidx(ch), &r->res,
			   hstor_ioerr(r->err));
	r->reply_len = build_reply(ch, &r->srb, &r->res, r->reply);
	if (rt)
		rc = rt_chan_put_comp(rt, r->srb.xid, r->reply, r->reply_len,
				      nowait || q->polled);
	if (rc == VMB_EAGAIN && q->polled && !nowait) {
		r->next_unsent = ch->unsent;
		ch->unsent = r;
		return;
	}
	if (rc == VMB_EAGAIN)
		rt_ctr_add(&q->lun->dropped, 1);
	req_put(q, r);
}

/* A request of several ios ends with the first error among them. */
static void hstor_done(struct hbk_io *const *ios, unsigned n, void *arg)
{
	struct hstor_q *q = arg;
	struct rt_chan *rt = q->ch->c->rt;
	bool nowait = atomic_load_explicit(&q->removing, memory_order_relaxed);

	if (rt)
		rt_chan_tx_begin(rt);
	for (unsigned i = 0; i < n; i++) {
		struct hstor_req *r = ios[i]->cookie;

		if (ios[i]->result && !r->err)
			r->err = ios[i]->result;
		if (--r->pending == 0)
			finish(q, r, rt, nowait);
	}
	if (rt)
		rt_chan_tx_end(rt);
}

/* Worker, ch->lock held: what the polled queues finished. */
void hstor_reap(struct hstor_chan *ch)
{
	for (unsigned i = 0; i < HSTOR_LUNS; i++) {
		struct hstor_q *q = ch->q[i];

		if (q && q->polled)
			hbk_reap(q->bq);
	}
}

/* Worker, ch->lock held: replies that found the guest's ring full, now
 * that this batch's I/O is started (hstor_send waits for room without
 * the lock). A request's queue outlives it: a queue is closed only once
 * every request came back. */
void hstor_flush_unsent(struct hstor_chan *ch)
{
	struct hstor_req *r;

	while ((r = ch->unsent)) {
		ch->unsent = r->next_unsent;
		hstor_send(ch, r->srb.xid, r->reply, r->reply_len);
		req_put(r->q, r);
	}
}

/* ---- queues ---- */

/* A polled queue where the backend allows it: its completions are
 * reaped by the worker, with no thread between. */
static int q_backend(struct hstor_chan *ch, struct hstor_lun *l,
		     struct hstor_q *q)
{
	/* UNMAP takes up to HSTOR_UNMAP_EXT backend ios per request */
	unsigned depth = HSTOR_DEPTH * 4;

	q->polled = !hbk_queue_open_polled(l->bk, depth, hstor_done, q,
					   ch->cq_fd, &q->bq);
	return q->polled ? 0 : hbk_queue_open(l->bk, depth, hstor_done, q,
					      &q->bq);
}

static struct hstor_q *q_open(struct hstor_chan *ch, struct hstor_lun *l)
{
	struct hstor_q *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->req = calloc(HSTOR_DEPTH, sizeof(*q->req));
	if (!q->req || q_backend(ch, l, q)) {
		free(q->req);
		free(q);
		return NULL;
	}
	q->ch = ch;
	q->lun = l;
	for (uint16_t i = 0; i < HSTOR_DEPTH; i++) {
		q->req[i].q = q;
		q->req[i].index = i;
		q->free_ring[i] = i;
	}
	atomic_init(&q->free_prod, HSTOR_DEPTH);
	return q;
}

void hstor_q_close(struct hstor_q *q)
{
	hbk_queue_close(q->bq);
	free(q->req);
	free(q);
}

void hstor_kick(struct hstor_chan *ch)
{
	for (unsigned i = 0; i < HSTOR_LUNS; i++) {
		struct hstor_q *q = ch->q[i];

		if (q && q->queued) {
			q->queued = false;
			hbk_kick(q->bq);
		}
	}
}

/* ---- starting the I/O ---- */

static bool all_zero(const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static unsigned io_write_same(struct hstor_req *r, uint32_t block)
{
	const struct scsi_io *io = &r->res.io;

	if (all_zero(io->pattern, block)) {
		r->io[0] = (struct hbk_io){.op = HBK_WRITE_ZEROES,
					   .offset = io->offset,
					   .len = io->len};
		return 1;
	}
	/* Rare (Linux zeroes with it, or never sends it): the repeated
	 * pattern is built, at most SCSI_WRITE_SAME_MAX_BYTES. */
	r->expanded = malloc(io->len);
	if (!r->expanded)
		return 0;
	for (uint64_t o = 0; o < io->len; o += block)
		memcpy(r->expanded + o, io->pattern, block);
	r->iov[0] = (struct iovec){r->expanded, io->len};
	r->io[0] = (struct hbk_io){.op = HBK_WRITE, .offset = io->offset,
				   .len = io->len, .iov = r->iov, .iovcnt = 1};
	return 1;
}

/* The backend ios for r's SCSI I/O; how many. */
static unsigned io_build(struct hstor_req *r, uint32_t block)
{
	const struct scsi_io *io = &r->res.io;

	switch (io->op) {
	case SCSI_IO_READ:
	case SCSI_IO_WRITE:
		r->io[0] = (struct hbk_io){
			.op = io->op == SCSI_IO_READ ? HBK_READ : HBK_WRITE,
			.fua = io->fua, .offset = io->offset, .len = io->len,
			.iov = r->iov, .iovcnt = r->niov};
		return 1;
	case SCSI_IO_FLUSH:
		r->io[0] = (struct hbk_io){.op = HBK_FLUSH};
		return 1;
	case SCSI_IO_UNMAP:
		for (uint32_t i = 0; i < io->n_ext; i++)
			r->io[i] = (struct hbk_io){.op = HBK_DISCARD,
						   .offset = io->ext[i].offset,
						   .len = io->ext[i].len};
		return io->n_ext;
	case SCSI_IO_WRITE_ZEROES:
		r->io[0] = (struct hbk_io){.op = HBK_WRITE_ZEROES,
					   .may_unmap = io->unmap,
					   .offset = io->offset, .len = io->len};
		return 1;
	case SCSI_IO_WRITE_SAME:
		return io_write_same(r, block);
	}
	return 0;
}

/* Only the iovecs covering the I/O's own length (a command may move
 * less than the SRB's buffer). */
static unsigned iov_cut(const struct iovec *in, unsigned n, uint64_t len,
			struct iovec *out)
{
	unsigned k = 0;

	for (; k < n && len; k++) {
		out[k] = in[k];
		if (out[k].iov_len > len)
			out[k].iov_len = len;
		len -= out[k].iov_len;
	}
	return k;
}

/* Submits r's ios; if the backend takes none, r ends BUSY at once. */
static void io_start(struct hstor_chan *ch, struct hstor_q *q,
		     struct hstor_req *r, unsigned niov)
{
	unsigned n, ok = 0;

	if (r->res.io.op == SCSI_IO_READ || r->res.io.op == SCSI_IO_WRITE)
		r->niov = iov_cut(ch->iov, niov, r->res.io.len, r->iov);
	n = io_build(r, q->lun->disk.desc.block_size);
	for (unsigned i = 0; i < n; i++) {
		r->io[i].cookie = r;
		if (hbk_submit(q->bq, &r->io[i]))
			break;
		ok++;
	}
	r->pending = ok;
	r->err = ok == n ? 0 : -EAGAIN;
	if (ok) {
		q->queued = true;
		return;
	}
	scsi_disk_complete(&q->lun->disk, qidx(ch), &r->res, SCSI_IOERR_BUSY);
	rt_ctr_add(&ch->busy, 1);
	reply_now(ch, &r->srb, &r->res);
	req_unget(q, r);
}

/* ---- one SRB ---- */

static struct hstor_q *q_get(struct hstor_chan *ch, struct hstor_lun *l)
{
	struct hstor_q *q = ch->q[l->lun];

	if (!q) {
		q = q_open(ch, l);
		ch->q[l->lun] = q;
		if (!q)
			rt_warn("scsi", "relid %u: no backend queue for LUN %u",
				ch->c->relid, l->lun);
	}
	return q;
}

static void cmd_fill(struct hstor_chan *ch, const struct hstor_lun *l,
		     const struct vstor_host_srb *s, unsigned niov,
		     struct scsi_cmd *cmd)
{
	uint32_t plen = l ? scsi_param_len(&l->disk, s->cdb, s->cdb_len) : 0;

	*cmd = (struct scsi_cmd){.cdb = s->cdb, .cdb_len = s->cdb_len,
				 .dir = s->dir, .xfer_len = s->xfer_len,
				 .out = ch->out};
	if (plen > s->xfer_len)
		plen = s->xfer_len;
	if (plen > sizeof(ch->param))
		plen = sizeof(ch->param);
	hstor_iov_copy_out(ch->iov, niov, ch->param, plen);
	cmd->param = ch->param;
	cmd->param_len = plen;
}

static uint32_t lun_list(struct hstor_ctrl *ctrl, uint8_t *luns)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < HSTOR_LUNS; i++)
		if (atomic_load_explicit(&ctrl->luns[i], memory_order_acquire))
			luns[n++] = (uint8_t)i;
	return n;
}

/* A finished answer: data-in copied to the guest, then the reply. */
static void done_now(struct hstor_chan *ch, const struct vstor_host_srb *s,
		     const struct scsi_result *res, unsigned niov)
{
	if (res->data_len && s->dir == VSTOR_DIR_READ)
		hstor_iov_copy_in(ch->iov, niov, ch->out, res->data_len);
	reply_now(ch, s, res);
}

static void srb_absent(struct hstor_chan *ch, const struct vstor_host_srb *s,
		       struct scsi_cmd *cmd, unsigned niov)
{
	struct scsi_result res;
	uint8_t luns[HSTOR_LUNS];

	cmd->luns = luns;
	cmd->nluns = lun_list(ch->ctrl, luns);
	scsi_target_absent(&ch->ctrl->absent_st[qidx(ch)], s->lun, cmd, &res);
	done_now(ch, s, &res, niov);
}

static void srb_disk(struct hstor_chan *ch, struct hstor_lun *l,
		     const struct vstor_host_srb *s, struct scsi_cmd *cmd,
		     unsigned niov)
{
	struct hstor_q *q = q_get(ch, l);
	struct hstor_req *r = q ? req_get(q) : NULL;
	uint8_t luns[HSTOR_LUNS];
	struct scsi_result res;

	if (!r) {
		reply_srb(ch, s, SCSI_SRB_BUSY);
		return;
	}
	if (s->cdb[0] == SCSI_OP_REPORT_LUNS) {
		cmd->luns = luns;
		cmd->nluns = lun_list(ch->ctrl, luns);
	}
	cmd->ext = r->ext;
	cmd->ext_cap = HSTOR_UNMAP_EXT;
	scsi_disk_exec(&l->disk, qidx(ch), cmd, &r->res);
	r->srb = *s;
	r->srb.range.pfn = NULL;
	if (r->res.kind == SCSI_RES_IO) {
		io_start(ch, q, r, niov);
		return;
	}
	res = r->res;
	req_unget(q, r);
	done_now(ch, s, &res, niov);
}

void hstor_srb(struct hstor_chan *ch, const struct vstor_host_srb *s)
{
	struct hstor_lun *l = NULL;
	struct scsi_cmd cmd;
	unsigned niov = 0;

	rt_ctr_add(&ch->srbs, 1);
	if (ch->closing)
		return; /* the channel is going: nothing can be answered */
	if (s->path || s->target || s->lun >= HSTOR_LUNS) {
		reply_srb(ch, s, s->lun >= HSTOR_LUNS ? SCSI_SRB_INVALID_LUN
						      : SCSI_SRB_INVALID_TARGET);
		return;
	}
	if (s->xfer_len) {
		niov = hstor_iov(&ch->c->vm->gmem, &s->range, s->xfer_len,
				 ch->iov);
		if (!niov) {
			reply_srb(ch, s, SCSI_SRB_INVALID_REQUEST);
			return;
		}
	}
	l = atomic_load_explicit(&ch->ctrl->luns[s->lun], memory_order_acquire);
	cmd_fill(ch, l, s, niov, &cmd);
	if (l)
		srb_disk(ch, l, s, &cmd, niov);
	else
		srb_absent(ch, s, &cmd, niov);
}
