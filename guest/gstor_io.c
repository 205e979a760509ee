/* storvsc's data path: NBD requests (nbdx) as SRBs on the channel of the
 * submitting CPU, with their data in guest memory described by one GPA
 * range; completions matched by the channel's request table, gathered
 * per receive batch and handed back to nbdx in one chain.
 *
 * A request carries its LUN in disk_priv and in disk_pos the bytes done
 * so far (zeroing longer than one WRITE SAME goes in parts) and, above
 * bit 40, how often it was retried (BUSY, unit attention). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "gstor_priv.h"
#include "nbd/nbd_wire.h"
#include "rt_log.h"
#include "scsi/scsi_disk.h"

#define POS_MASK ((1ull << 40) - 1)
#define RETRY_ONE (1ull << 40)
#define GSTOR_RETRIES 8u

/* ---- lists, under the channel's lock ---- */

static void pend_add(struct gstor_chan *sc, struct nbdx_req *r)
{
	r->next = NULL;
	if (sc->pend_tail)
		sc->pend_tail->next = r;
	else
		sc->pend_head = r;
	sc->pend_tail = r;
}

static void done_add(struct gstor_chan *sc, struct nbdx_req *r, int err)
{
	r->err = err;
	r->next = NULL;
	if (err)
		rt_ctr_add(&sc->errors, 1);
	if (sc->done_tail)
		sc->done_tail->next = r;
	else
		sc->done_head = r;
	sc->done_tail = r;
}

/* ---- SRBs ---- */

struct srb_plan {
	struct vstor_srb_req s;
	uint8_t cdb[16];
	void *data;
	uint32_t len;
};

static bool zero_by_unmap(const struct gstor_lun *l, const struct nbdx_req *r)
{
	return r->type == NBD_CMD_TRIM ||
	       (r->type == NBD_CMD_WRITE_ZEROES && r->may_unmap && l->unmap);
}

/* Whether r goes in parts, one SRB after the other: data beyond one
 * SRB's transfer, zeroing beyond one WRITE SAME. */
static bool in_parts(const struct gstor_lun *l, const struct nbdx_req *r)
{
	return r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE ||
	       (r->type == NBD_CMD_WRITE_ZEROES && !zero_by_unmap(l, r));
}

/* Bytes of r the next SRB covers. */
static uint32_t part_len(const struct gstor_lun *l, const struct nbdx_req *r)
{
	uint32_t left = r->len - (uint32_t)(r->disk_pos & POS_MASK);
	uint32_t max = l->ctrl->max_xfer;

	return in_parts(l, r) && left > max ? max : left;
}

static void plan_rw(const struct gstor_lun *l, const struct nbdx_req *r,
		    struct srb_plan *p)
{
	bool rd = r->type == NBD_CMD_READ;
	uint32_t pos = (uint32_t)(r->disk_pos & POS_MASK);

	p->cdb[0] = rd ? SCSI_OP_READ16 : SCSI_OP_WRITE16;
	p->cdb[1] = !rd && r->fua ? 0x08 : 0; /* FUA */
	p->len = part_len(l, r);
	vmb_put_be64(p->cdb + 2, (r->offset + pos) / l->block_size);
	vmb_put_be32(p->cdb + 10, p->len / l->block_size);
	p->s.cdb_len = 16;
	p->s.dir = rd ? VSTOR_DIR_READ : VSTOR_DIR_WRITE;
	p->data = (uint8_t *)r->buf + pos;
}

/* UNMAP's parameter list, one block descriptor, in the slot's own
 * 32 bytes of the channel's page (never crossing a page). */
static void plan_unmap(const struct gstor_lun *l, const struct nbdx_req *r,
		       uint8_t *param, struct srb_plan *p)
{
	memset(param, 0, 24);
	vmb_put_be16(param, 22);
	vmb_put_be16(param + 2, 16);
	vmb_put_be64(param + 8, r->offset / l->block_size);
	vmb_put_be32(param + 16, r->len / l->block_size);
	p->cdb[0] = SCSI_OP_UNMAP;
	vmb_put_be16(p->cdb + 7, 24);
	p->s.cdb_len = 10;
	p->s.dir = VSTOR_DIR_WRITE;
	p->data = param;
	p->len = 24;
}

static void plan(const struct gstor_lun *l, const struct nbdx_req *r,
		 uint8_t *param, struct srb_plan *p)
{
	uint64_t off = r->offset + (r->disk_pos & POS_MASK);

	memset(p, 0, sizeof(*p));
	p->s.lun = l->lun;
	p->s.cdb = p->cdb;
	p->s.dir = VSTOR_DIR_NONE;
	p->s.cdb_len = 10;
	if (r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) {
		plan_rw(l, r, p);
	} else if (r->type == NBD_CMD_FLUSH) {
		p->cdb[0] = SCSI_OP_SYNC_CACHE10;
	} else if (zero_by_unmap(l, r)) {
		plan_unmap(l, r, param, p);
	} else {
		p->cdb[0] = SCSI_OP_WRITE_SAME16;
		p->cdb[1] = 0x01; /* NDOB: no data-out buffer, zeros */
		vmb_put_be64(p->cdb + 2, off / l->block_size);
		vmb_put_be32(p->cdb + 10, part_len(l, r) / l->block_size);
		p->s.cdb_len = 16;
	}
	p->s.xfer_len = p->len;
}

/* One GPA range: buffers come from whole contiguous guest pages. */
static int send_srb(struct gstor_chan *sc, const struct srb_plan *p,
		    uint64_t xid)
{
	uint8_t pkt[VSTOR_PKT_LEN];
	struct vmb_iov iov = {pkt, vstor_guest_srb(&sc->eng, &p->s, pkt)};
	uint64_t pfn[GSTOR_MAX_XFER / 4096 + 1], gpa;
	struct vmb_gpa_range rg;

	if (!p->len)
		return gvb_send(sc->c, xid, VMB_PKT_FLAG_COMPLETION_REQUESTED,
				&iov, 1, true);
	gpa = rt_gmem_gpa(&sc->ctrl->vb->gmem, p->data);
	rg.byte_offset = (uint32_t)(gpa & 4095);
	rg.byte_count = p->len;
	rg.pfn_count = vmb_gpa_pfn_count(rg.byte_offset, p->len);
	for (uint32_t i = 0; i < rg.pfn_count; i++)
		pfn[i] = (gpa >> 12) + i;
	rg.pfn = pfn;
	return gvb_send_gpa(sc->c, xid, VMB_PKT_FLAG_COMPLETION_REQUESTED, &rg,
			    1, pkt, iov.len, true);
}

/* VMB_OK: sent; VMB_EAGAIN: no slot or no ring room, try later; else the
 * request cannot go on this channel. */
static int start(struct gstor_chan *sc, struct nbdx_req *r)
{
	const struct gstor_lun *l = r->disk_priv;
	struct srb_plan p;
	uint64_t xid;
	int rc;

	if (!sc->open)
		return VMB_ESHUTDOWN;
	if (vstor_req_alloc(&sc->tab, r, 0, &xid))
		return VMB_EAGAIN;
	plan(l, r, sc->ubuf + ((uint32_t)xid - 1) * 32u, &p);
	sc->tab.slot[(uint32_t)xid - 1].xfer_len = p.len;
	rc = send_srb(sc, &p, xid);
	if (rc)
		vstor_req_cancel(&sc->tab, xid);
	else
		rt_ctr_add(&sc->srbs, 1);
	return rc == VMB_EAGAIN || rc == VMB_OK ? rc : VMB_ESHUTDOWN;
}

/* Sends what waits, in order, until the channel is full again. */
static void pend_run(struct gstor_chan *sc)
{
	struct nbdx_req *r;
	int rc;

	while ((r = sc->pend_head)) {
		rc = start(sc, r);
		if (rc == VMB_EAGAIN)
			return;
		sc->pend_head = r->next;
		if (!sc->pend_head)
			sc->pend_tail = NULL;
		if (rc)
			done_add(sc, r, -EIO);
	}
}

/* ---- completions (worker, lock held) ---- */

static int sense_err(const struct vstor_guest_ev *ev, bool *ua)
{
	uint8_t key = ev->sense[2] & 0x0F;

	if (key == SCSI_SK_UNIT_ATTENTION) {
		*ua = true;
		return -EAGAIN;
	}
	if (key == SCSI_SK_DATA_PROTECT)
		return ev->sense[12] == 0x27 && ev->sense[13] == 0x07 ? -ENOSPC
								     : -EROFS;
	if (key == SCSI_SK_ILLEGAL_REQUEST)
		return -EINVAL;
	return -EIO;
}

static int srb_err(const struct vstor_guest_ev *ev, bool *ua)
{
	*ua = false;
	if (ev->srb_status == SCSI_SRB_SUCCESS &&
	    ev->scsi_status == SCSI_ST_GOOD)
		return 0;
	if (ev->srb_status == SCSI_SRB_BUSY ||
	    ev->scsi_status == SCSI_ST_BUSY)
		return -EAGAIN;
	if (ev->scsi_status == SCSI_ST_CHECK_CONDITION && ev->sense_len >= 14)
		return sense_err(ev, ua);
	if (ev->srb_status == SCSI_SRB_INVALID_LUN ||
	    ev->srb_status == SCSI_SRB_NO_DEVICE ||
	    ev->srb_status == SCSI_SRB_INVALID_TARGET)
		return -ENXIO;
	return -EIO;
}

static void sio_done(struct gstor_ctrl *ctrl, const struct vstor_guest_ev *ev)
{
	struct gstor_sio *s = &ctrl->sio;

	s->srb_status = ev->srb_status;
	s->scsi_status = ev->scsi_status;
	s->key = ev->sense_len >= 14 ? ev->sense[2] & 0x0F : 0;
	s->asc = ev->sense_len >= 14 ? ev->sense[12] : 0;
	s->ascq = ev->sense_len >= 14 ? ev->sense[13] : 0;
	s->moved = ev->moved;
	/* release: the results and the data in sbuf before done */
	atomic_store_explicit(&s->done, true, memory_order_release);
}

static void io_done(struct gstor_chan *sc, struct nbdx_req *r,
		    const struct vstor_guest_ev *ev)
{
	const struct gstor_lun *l = r->disk_priv;
	bool ua;
	int err = srb_err(ev, &ua);

	if (!err && (r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) &&
	    ev->moved != part_len(l, r))
		err = -EIO; /* a short transfer the host did not explain */
	if (ua || err == -ENXIO)
		atomic_store(&sc->ctrl->rescan, true);
	if (err == -EAGAIN && r->disk_pos >> 40 < GSTOR_RETRIES) {
		r->disk_pos += RETRY_ONE;
		rt_ctr_add(&sc->retries, 1);
		pend_add(sc, r);
		return;
	}
	if (!err && in_parts(l, r)) {
		r->disk_pos += part_len(l, r);
		if ((r->disk_pos & POS_MASK) < r->len) {
			pend_add(sc, r);
			return;
		}
	}
	done_add(sc, r, err == -EAGAIN ? -EIO : err);
}

void gstor_io_rx(struct gstor_chan *sc, const struct vstor_guest_ev *ev)
{
	if (ev->cookie == &sc->ctrl->sio)
		sio_done(sc->ctrl, ev);
	else
		io_done(sc, ev->cookie, ev);
}

/* Sends what waits; takes the finished requests. Lock held. */
static struct nbdx_req *flush_locked(struct gstor_chan *sc)
{
	struct nbdx_req *chain;

	pend_run(sc);
	chain = sc->done_head;
	sc->done_head = sc->done_tail = NULL;
	return chain;
}

/* End of a receive batch (worker, which took the lock at the batch's
 * first packet; or the loop thread after the stop's drain): send what
 * waits, leave the lock, hand the batch's finished requests to nbdx at
 * once. */
void gstor_io_batch_end(struct gstor_chan *sc)
{
	struct nbdx_req *chain = flush_locked(sc);

	sc->locked = false;
	pthread_mutex_unlock(&sc->lock);
	if (chain)
		nbdx_complete(chain);
}

/* The loop thread's tick: what waits for ring room. */
void gstor_io_retry(struct gstor_chan *sc)
{
	struct nbdx_req *chain;

	pthread_mutex_lock(&sc->lock);
	chain = flush_locked(sc);
	pthread_mutex_unlock(&sc->lock);
	if (chain)
		nbdx_complete(chain);
}

/* The channel stopped and its ring was drained: nothing in flight will
 * be answered. */
void gstor_io_fail_all(struct gstor_chan *sc)
{
	struct nbdx_req *chain;

	pthread_mutex_lock(&sc->lock);
	for (uint32_t i = 0; i < GSTOR_DEPTH; i++) {
		struct vstor_slot *s = &sc->tab.slot[i];

		if (!s->busy)
			continue;
		if (s->cookie == &sc->ctrl->sio)
			atomic_store(&sc->ctrl->sio.done, true);
		else
			done_add(sc, s->cookie, -EIO);
		vstor_req_cancel(&sc->tab, (uint64_t)s->gen << 32 | (i + 1));
	}
	for (struct nbdx_req *r = sc->pend_head, *n; r; r = n) {
		n = r->next;
		done_add(sc, r, -EIO);
	}
	sc->pend_head = sc->pend_tail = NULL;
	chain = sc->done_head;
	sc->done_head = sc->done_tail = NULL;
	pthread_mutex_unlock(&sc->lock);
	if (chain)
		nbdx_complete(chain);
}

/* The scanner's SRB on the primary channel (loop thread). */
int gstor_sio_send(struct gstor_ctrl *ctrl)
{
	struct gstor_chan *sc = &ctrl->ch[0];
	struct gstor_sio *s = &ctrl->sio;
	struct srb_plan p = {.s = {.lun = s->lun, .cdb = s->cdb,
				   .cdb_len = s->cdb_len,
				   .dir = VSTOR_DIR_READ, .xfer_len = s->len},
			     .data = ctrl->sbuf, .len = s->len};
	uint64_t xid;
	int rc = VMB_ESHUTDOWN;

	atomic_store(&s->done, false);
	pthread_mutex_lock(&sc->lock);
	if (sc->open && !vstor_req_alloc(&sc->tab, s, s->len, &xid)) {
		rc = send_srb(sc, &p, xid);
		if (rc)
			vstor_req_cancel(&sc->tab, xid);
	}
	pthread_mutex_unlock(&sc->lock);
	return rc;
}

/* ---- what nbdx calls (its server thread) ---- */

static struct gstor_chan *pick(struct gstor_ctrl *ctrl)
{
	uint32_t n = atomic_load_explicit(&ctrl->nchan, memory_order_relaxed);
	int cpu = sched_getcpu();

	return &ctrl->ch[vstor_guest_channel(cpu < 0 ? 0 : (uint32_t)cpu,
					     n ? n : 1)];
}

static int gstor_submit(void *disk, struct nbdx_req *r)
{
	struct gstor_lun *l = disk;
	struct gstor_chan *sc = pick(l->ctrl);
	int rc = VMB_OK;

	r->disk_priv = l;
	r->disk_pos = 0;
	pthread_mutex_lock(&sc->lock);
	if (!sc->open && sc != &l->ctrl->ch[0]) {
		pthread_mutex_unlock(&sc->lock);
		sc = &l->ctrl->ch[0];
		pthread_mutex_lock(&sc->lock);
	}
	if (sc->open && (sc->pend_head || (rc = start(sc, r)) == VMB_EAGAIN))
		pend_add(sc, r);
	else if (!sc->open)
		rc = VMB_ESHUTDOWN;
	pthread_mutex_unlock(&sc->lock);
	return rc == VMB_OK || rc == VMB_EAGAIN ? 0 : -EIO;
}

static void *pool_get(struct gstor_ctrl *k, void **pool, unsigned *n,
		      unsigned *made, unsigned cap, uint32_t size)
{
	void *p;

	if (*n)
		return pool[--*n];
	if (*made == cap)
		return NULL;
	p = rt_gmem_alloc(&k->vb->gmem, size >> 12);
	if (p)
		(*made)++;
	return p;
}

static void *gstor_buf_get(void *disk, uint32_t len)
{
	struct gstor_ctrl *k = ((struct gstor_lun *)disk)->ctrl;

	if (len <= GSTOR_SMALL)
		return pool_get(k, k->small, &k->nsmall, &k->small_made,
				GSTOR_NSMALL, GSTOR_SMALL);
	if (len <= GSTOR_MAX_XFER)
		return pool_get(k, k->big, &k->nbig, &k->big_made, GSTOR_NBIG,
				GSTOR_MAX_XFER);
	/* Rare: a client beyond the preferred size; memory of its own. */
	return rt_gmem_alloc(&k->vb->gmem, (len + 4095) >> 12);
}

static void gstor_buf_put(void *disk, void *buf, uint32_t len)
{
	struct gstor_ctrl *k = ((struct gstor_lun *)disk)->ctrl;

	if (len <= GSTOR_SMALL)
		k->small[k->nsmall++] = buf;
	else if (len <= GSTOR_MAX_XFER)
		k->big[k->nbig++] = buf;
	else
		rt_gmem_free(&k->vb->gmem, buf, (len + 4095) >> 12);
}

static void gstor_released(void *disk)
{
	struct gstor_lun *l = disk;
	struct gstor_ctrl *ctrl = l->ctrl;

	gstor_lun_unref(l, true);
	gstor_ctrl_put(ctrl);
}

const struct nbdx_disk_ops gstor_nbd_ops = {
	.buf_get = gstor_buf_get,
	.buf_put = gstor_buf_put,
	.submit = gstor_submit,
	.released = gstor_released,
};
