/* storvsc: controllers and their channels. The VSTOR engine
 * (core/storage/vstor_guest) runs the init sequence on the primary
 * channel; sub-channels start ready at the agreed version. I/O is
 * gstor_io.c's, the LUN scan gstor_scan.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gstor_priv.h"
#include "rt_log.h"

struct nbdx *gstor_nbd;
static struct gstor_cfg gcfg = {.subchannels = -1, .ncpus = 1};
/* Controllers: the list and every refs count. Not on the data path. */
static pthread_mutex_t ctrl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gstor_ctrl *ctrls;

int gstor_start(const struct gstor_cfg *cfg, char *err, unsigned errlen)
{
	struct nbdx_cfg nc = {.unix_path = cfg->nbd_path,
			      .tcp_port = cfg->nbd_port};

	gcfg = *cfg;
	if (!cfg->nbd_path)
		return 0;
	return nbdx_start(&gstor_nbd, &nc, err, errlen);
}

void gstor_stop(void)
{
	if (gstor_nbd)
		nbdx_stop(gstor_nbd);
	gstor_nbd = NULL;
}

void gstor_done(struct nbdx_req *chain)
{
	if (gcfg.complete)
		gcfg.complete(chain, gcfg.arg);
	else
		nbdx_complete(chain);
}

void gstor_lun_out(struct gstor_lun *l)
{
	if (gcfg.lun_found)
		gcfg.lun_found(l, l->blocks * l->block_size, l->block_size,
			       gcfg.arg);
	else
		gstor_lun_export(l);
}

void gstor_signals(uint64_t *host_to_guest, uint64_t *guest_to_host)
{
	struct rt_chan_stats st;

	*host_to_guest = *guest_to_host = 0;
	pthread_mutex_lock(&ctrl_lock);
	for (struct gstor_ctrl *k = ctrls; k; k = k->next) {
		for (unsigned i = 0; i < GSTOR_CHANS; i++) {
			struct gstor_chan *sc = &k->ch[i];

			if (!sc->ctrl)
				continue;
			pthread_mutex_lock(&sc->lock);
			if (sc->open && sc->c->rt) {
				rt_chan_get_stats(sc->c->rt, &st);
				*host_to_guest += st.signals_in;
				*guest_to_host += st.signals_out;
			}
			pthread_mutex_unlock(&sc->lock);
		}
	}
	pthread_mutex_unlock(&ctrl_lock);
}

/* ---- controllers ---- */

static struct gstor_ctrl *ctrl_find(const struct vmb_guid *inst)
{
	for (struct gstor_ctrl *k = ctrls; k; k = k->next)
		if (k->alive && !memcmp(&k->instance, inst, sizeof(*inst)))
			return k;
	return NULL;
}

/* Numbered in the order offered, the lowest free number first. */
static unsigned ctrl_index(void)
{
	unsigned i = 0;

	for (bool used = true; used; i += used) {
		used = false;
		for (struct gstor_ctrl *k = ctrls; k; k = k->next)
			used |= k->index == i;
	}
	return i;
}

static struct gstor_ctrl *ctrl_new(struct gvb_chan *c)
{
	struct gstor_ctrl *ctrl = calloc(1, sizeof(*ctrl));

	if (!ctrl)
		return NULL;
	ctrl->sbuf = rt_gmem_alloc(&c->vb->gmem, 1);
	if (!ctrl->sbuf) {
		free(ctrl);
		return NULL;
	}
	ctrl->vb = c->vb;
	ctrl->instance = c->offer.offer.if_instance;
	ctrl->alive = true;
	ctrl->refs = 1;
	pthread_mutex_lock(&ctrl_lock);
	ctrl->index = ctrl_index();
	ctrl->next = ctrls;
	ctrls = ctrl;
	pthread_mutex_unlock(&ctrl_lock);
	return ctrl;
}

static void ctrl_free(struct gstor_ctrl *ctrl)
{
	struct rt_gmem *m = &ctrl->vb->gmem;

	for (unsigned i = 0; i < ctrl->nsmall; i++)
		rt_gmem_free(m, ctrl->small[i], GSTOR_SMALL >> 12);
	for (unsigned i = 0; i < ctrl->nbig; i++)
		rt_gmem_free(m, ctrl->big[i], GSTOR_MAX_XFER >> 12);
	rt_gmem_free(m, ctrl->sbuf, 1);
	for (unsigned i = 0; i < GSTOR_CHANS; i++) {
		rt_gmem_free(m, ctrl->ch[i].ubuf, 1);
		if (ctrl->ch[i].ctrl)
			pthread_mutex_destroy(&ctrl->ch[i].lock);
	}
	free(ctrl);
}

void gstor_ctrl_get(struct gstor_ctrl *ctrl)
{
	pthread_mutex_lock(&ctrl_lock);
	ctrl->refs++;
	pthread_mutex_unlock(&ctrl_lock);
}

bool gstor_lun_unref(struct gstor_lun *l, bool from_nbdx)
{
	bool last;

	pthread_mutex_lock(&ctrl_lock);
	if (from_nbdx)
		l->released = true;
	else
		l->dropped = true;
	last = l->dropped && (l->released || !l->exp);
	pthread_mutex_unlock(&ctrl_lock);
	if (last)
		free(l);
	return last;
}

/* Dropped by the primary's stop and by each export's release (on the
 * NBD server thread); the last one frees. */
void gstor_ctrl_put(struct gstor_ctrl *ctrl)
{
	struct gstor_ctrl **pp;
	bool last;

	pthread_mutex_lock(&ctrl_lock);
	last = --ctrl->refs == 0;
	for (pp = &ctrls; last && *pp; pp = &(*pp)->next) {
		if (*pp == ctrl) {
			*pp = ctrl->next;
			break;
		}
	}
	pthread_mutex_unlock(&ctrl_lock);
	if (last)
		ctrl_free(ctrl);
}

/* ---- channels ---- */

static int chan_init(struct gstor_chan *sc, struct gvb_chan *c,
		     struct gstor_ctrl *ctrl)
{
	_Static_assert(GSTOR_DEPTH * 32u <= 4096u, "UNMAP lists in a page");
	if (!sc->ubuf && !(sc->ubuf = rt_gmem_alloc(&c->vb->gmem, 1)))
		return -1;
	if (!sc->ctrl)
		pthread_mutex_init(&sc->lock, NULL);
	sc->c = c;
	sc->ctrl = ctrl;
	sc->open = false;
	sc->locked = false;
	sc->pend_head = sc->pend_tail = NULL;
	sc->done_head = sc->done_tail = NULL;
	vstor_reqtab_init(&sc->tab, sc->slot, GSTOR_DEPTH);
	return 0;
}

/* A sub-channel the guest never asked for (its index past the count
 * CREATE_SUB_CHANNELS named, or none asked): refused, counted, said once
 * per controller. */
static bool unasked(struct gstor_ctrl *ctrl, const struct gvb_chan *c)
{
	if (c->sub_index <= atomic_load(&ctrl->asked))
		return false;
	if (atomic_fetch_add(&ctrl->unasked, 1) == 0)
		rt_warn("scsi", "controller %u: the host offers sub-channel %u, "
			"not asked for: refused (and any more)", ctrl->index,
			c->sub_index);
	return true;
}

static int gstor_prepare(struct gvb_chan *c)
{
	struct gstor_ctrl *ctrl;

	pthread_mutex_lock(&ctrl_lock);
	ctrl = ctrl_find(&c->offer.offer.if_instance);
	pthread_mutex_unlock(&ctrl_lock);
	if (c->sub_index == 0 && !ctrl)
		ctrl = ctrl_new(c);
	else if (c->sub_index == 0 || !ctrl)
		return -1; /* a second primary, or an orphan sub-channel */
	else if (c->sub_index >= GSTOR_CHANS || unasked(ctrl, c))
		return -1;
	if (!ctrl || chan_init(&ctrl->ch[c->sub_index], c, ctrl))
		return -1;
	/* each sub-channel holds the controller too: it may stop after
	 * the primary */
	if (c->sub_index)
		gstor_ctrl_get(ctrl);
	c->priv = &ctrl->ch[c->sub_index];
	return 0;
}

static void init_send(struct gstor_chan *sc)
{
	uint8_t out[VSTOR_PKT_LEN];
	struct vmb_iov iov = {out, 0};
	uint64_t xid;
	int rc;

	iov.len = vstor_guest_next(&sc->eng, out, &xid);
	if (!iov.len)
		return;
	rc = gvb_send(sc->c, xid, VMB_PKT_FLAG_COMPLETION_REQUESTED, &iov, 1,
		      true);
	if (rc)
		rt_warn("scsi", "relid %u: init request not sent: %s",
			sc->c->relid, vmb_strerror(rc));
}

static void chan_count(struct gstor_ctrl *ctrl)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < GSTOR_CHANS; i++)
		if (ctrl->ch[i].open)
			n = i + 1;
	atomic_store(&ctrl->nchan, n);
}

static void gstor_opened(struct gvb_chan *c)
{
	struct gstor_chan *sc = c->priv;
	/* never more than the channels a controller here holds */
	struct vstor_guest_cfg ec = {
		.max_version = VSTOR_VERSION_WIN10,
		.subchannels = gcfg.subchannels < 0 ? VSTOR_GUEST_SUBCH_AUTO
			       : gcfg.subchannels < (int)GSTOR_CHANS
				       ? (uint16_t)gcfg.subchannels
				       : GSTOR_CHANS - 1,
		.ncpus = gcfg.ncpus < GSTOR_CHANS ? gcfg.ncpus : GSTOR_CHANS,
	};

	vstor_guest_init(&sc->eng, &ec);
	if (c->sub_index) {
		sc->eng.version = atomic_load(&sc->ctrl->version);
		sc->eng.state = VSTOR_GS_READY;
	}
	pthread_mutex_lock(&sc->lock);
	sc->open = true;
	pthread_mutex_unlock(&sc->lock);
	chan_count(sc->ctrl);
	if (!c->sub_index)
		init_send(sc);
}

static void ready(struct gstor_chan *sc)
{
	struct gstor_ctrl *ctrl = sc->ctrl;
	uint32_t max = sc->eng.props.max_transfer_bytes & ~4095u;

	ctrl->max_xfer = max && max < GSTOR_MAX_XFER ? max : GSTOR_MAX_XFER;
	atomic_store(&ctrl->ready, true);
	atomic_store(&ctrl->rescan, true);
	rt_info("scsi", "controller %u (relid %u): VSTOR %u.%u, %u "
		"sub-channels, transfers up to %u KiB", ctrl->index,
		sc->c->relid, sc->eng.version >> 8, sc->eng.version & 0xff,
		sc->eng.subchannels, ctrl->max_xfer >> 10);
}

static void on_init(struct gstor_chan *sc)
{
	/* Agreed before CREATE_SUB_CHANNELS goes out: a sub-channel may
	 * open before its answer is read. */
	if (sc->eng.state > VSTOR_GS_VERSION)
		atomic_store(&sc->ctrl->version, sc->eng.version);
	if (sc->eng.state == VSTOR_GS_SUBCH)
		atomic_store(&sc->ctrl->asked, sc->eng.subchannels);
	init_send(sc);
	if (sc->eng.state == VSTOR_GS_READY)
		ready(sc);
	else if (sc->eng.state == VSTOR_GS_FAILED)
		rt_warn("scsi", "relid %u: host refused VSTOR init (step %d, "
			"status %#x); controller unused", sc->c->relid,
			sc->eng.fail_step, sc->eng.fail_status);
}

static void gstor_rx(struct gvb_chan *c, const struct vmb_pkt *pkt)
{
	struct gstor_chan *sc = c->priv;
	struct vstor_guest_ev ev;

	if (!sc->locked) {
		pthread_mutex_lock(&sc->lock);
		sc->locked = true;
	}
	vstor_guest_rx(&sc->eng, &sc->tab, pkt, &ev);
	switch (ev.kind) {
	case VSTOR_GE_NONE:
		break;
	case VSTOR_GE_INIT:
		on_init(sc);
		break;
	case VSTOR_GE_DONE:
		gstor_io_rx(sc, &ev);
		break;
	case VSTOR_GE_RESCAN:
		atomic_store(&sc->ctrl->rescan, true);
		break;
	}
}

static void gstor_batch_end(struct gvb_chan *c)
{
	gstor_io_batch_end(c->priv);
}

static void gstor_stopping(struct gvb_chan *c)
{
	struct gstor_chan *sc = c->priv;

	pthread_mutex_lock(&sc->lock);
	sc->open = false;
	pthread_mutex_unlock(&sc->lock);
	chan_count(sc->ctrl);
}

/* What the host sent that the engine refused, by reason. */
static void log_refusals(const struct gstor_chan *sc)
{
	const struct vstor_guest_stats *st = &sc->eng.st;
	char buf[256];
	size_t n = 0;

	for (unsigned i = 0; i < VSTOR_GBAD__COUNT && n < sizeof(buf); i++)
		if (st->bad[i])
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %s %llu",
					      vstor_guest_bad_name(i),
					      (unsigned long long)st->bad[i]);
	rt_info("scsi", "relid %u: %llu completed, %llu rescans, refused "
		"from host:%s", sc->c->relid,
		(unsigned long long)st->completed,
		(unsigned long long)st->rescans, n ? buf : " none");
}

static void gstor_stopped(struct gvb_chan *c, const char *why)
{
	struct gstor_chan *sc = c->priv;
	struct gstor_ctrl *ctrl = sc->ctrl;

	/* the drain's answers (the worker is joined: its flag is ours) */
	if (sc->locked)
		gstor_io_batch_end(sc);
	gstor_io_fail_all(sc);
	log_refusals(sc);
	c->priv = NULL;
	if (c->sub_index) {
		gstor_ctrl_put(ctrl);
		return;
	}
	rt_info("scsi", "controller %u (relid %u) %s", ctrl->index, c->relid,
		why);
	ctrl->alive = false;
	gstor_scan_stop(ctrl);
	gstor_ctrl_put(ctrl);
}

static void gstor_tick(struct gvb_chan *c)
{
	struct gstor_chan *sc = c->priv;

	if (!c->sub_index)
		gstor_scan_tick(sc->ctrl);
	gstor_io_retry(sc);
}

const struct gvb_driver gstor_driver = {
	.name = VSTOR_CLASS_NAME,
	.class_guid = VSTOR_CLASS_GUID,
	.prepare = gstor_prepare,
	.opened = gstor_opened,
	.rx = gstor_rx,
	.batch_end = gstor_batch_end,
	.stopping = gstor_stopping,
	.stopped = gstor_stopped,
	.tick = gstor_tick,
};
