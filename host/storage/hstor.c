/* storvsp: the SCSI controller device class and its channels. The VSTOR
 * engine (core/storage/vstor_host) answers the init sequence; SRBs go to
 * hstor_srb.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hstor_priv.h"
#include "rt_log.h"

#define ST_NO_RESOURCES 0xC000009Au

static int hstor_create(struct hdev *d)
{
	struct hstor_ctrl *ctrl = calloc(1, sizeof(*ctrl));

	if (!ctrl)
		return -ENOMEM;
	ctrl->d = d;
	ctrl->gone_timer = -1;
	d->priv = ctrl;
	return 0;
}

static void hstor_destroy(struct hdev *d)
{
	struct hstor_ctrl *ctrl = d->priv;

	hstor_gone_fini(ctrl);
	for (unsigned i = 0; i < HSTOR_LUNS; i++)
		hstor_lun_free(atomic_load(&ctrl->luns[i]));
	free(ctrl);
}

/* The version the primary channel agreed (major << 16 | minor). */
static uint32_t primary_version(const struct hvm_chan *c)
{
	const struct hvm_chan *p = c->dev->primary_relid
					   ? c->vm->chans[c->dev->primary_relid]
					   : NULL;

	return p ? atomic_load(&p->dev_version) : 0;
}

static uint32_t hstor_open(struct hvm_chan *c)
{
	struct hstor_chan *ch = calloc(1, sizeof(*ch));
	struct vstor_host_cfg cfg = {
		.max_version = VSTOR_VERSION_WIN10,
		.max_subchannels = (uint16_t)c->dev->max_sub,
		.max_transfer = HSTOR_MAX_TRANSFER,
		.primary = c->sub_index == 0,
	};

	if (!ch)
		return ST_NO_RESOURCES;
	ch->c = c;
	ch->ctrl = c->dev->priv;
	ch->cq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->cq_fd < 0) {
		free(ch);
		return ST_NO_RESOURCES;
	}
	c->aux_fd = ch->cq_fd;
	pthread_mutex_init(&ch->lock, NULL);
	vstor_host_init(&ch->eng, &cfg);
	if (c->sub_index) {
		uint32_t v = primary_version(c);

		vstor_host_attach(&ch->eng, (uint16_t)((v >> 16) << 8 |
						       (v & 0xff)));
		atomic_store(&c->dev_version, v);
	}
	c->priv = ch;
	return 0;
}

/* Take every queue away from the worker (between two of its batches),
 * then let those with a completion thread finish what they hold (the
 * channel's senders are stopped: nothing waits for the guest). Polled
 * queues are reaped by the worker, which may still be running: they
 * close with the channel. */
static void hstor_quiesce(struct hvm_chan *c)
{
	struct hstor_chan *ch = c->priv;

	if (!ch)
		return;
	pthread_mutex_lock(&ch->lock);
	ch->closing = true;
	for (unsigned i = 0; i < HSTOR_LUNS; i++) {
		if (ch->q[i]) {
			ch->q[i]->gone_next = ch->gone;
			ch->gone = ch->q[i];
			ch->q[i] = NULL;
		}
	}
	pthread_mutex_unlock(&ch->lock);
	hstor_gone_quiesce(ch);
}

/* The worker is joined: the rest closes here, and replies that waited
 * for room are forgotten with their queues. */
static void hstor_close(struct hvm_chan *c)
{
	struct hstor_chan *ch = c->priv;

	if (!ch)
		return;
	hstor_quiesce(c);
	ch->unsent = NULL;
	hstor_gone_close(ch);
	close(ch->cq_fd);
	pthread_mutex_destroy(&ch->lock);
	free(ch);
	c->priv = NULL;
}

static void offer_work(struct hvm *vm, struct hdev *d, uint32_t count)
{
	if (hvm_offer_subchannels(vm, d, count))
		rt_warn("scsi", "controller %u: offering %u sub-channels "
			"failed", ((struct hstor_ctrl *)d->priv)->index,
			count);
}

static void act(struct hstor_chan *ch, const struct vstor_host_act *a)
{
	struct hvm_chan *c = ch->c;

	switch (a->kind) {
	case VSTOR_HA_NONE:
		break;
	case VSTOR_HA_SUBCHANNELS:
		/* the answer follows the offers' queueing */
		if (hvm_defer(c->vm, offer_work, c->dev, c->gen,
			      a->subchannels))
			rt_warn("scsi", "relid %u: sub-channels not offered",
				c->relid);
		hstor_send(ch, a->xid, a->reply, a->reply_len);
		break;
	case VSTOR_HA_REPLY:
		hstor_send(ch, a->xid, a->reply, a->reply_len);
		break;
	case VSTOR_HA_SRB:
		hstor_srb(ch, &a->srb);
		break;
	}
}

static void hstor_rx(struct rt_chan *rt, const struct vmb_pkt *pkt,
		     void *arg)
{
	struct hvm_chan *c = arg;
	struct hstor_chan *ch = c->priv;
	struct vstor_host_act a;
	uint16_t before = ch->eng.version;

	(void)rt;
	if (!ch->locked) {
		pthread_mutex_lock(&ch->lock);
		ch->locked = true;
	}
	vstor_host_rx(&ch->eng, pkt, &a);
	/* shown as major.minor by hvis-ctl, as every device's */
	if (ch->eng.state >= VSTOR_HS_VERSION && ch->eng.version != before)
		atomic_store(&c->dev_version, (uint32_t)(ch->eng.version >> 8)
						      << 16 |
						      (ch->eng.version & 0xff));
	act(ch, &a);
}

static void hstor_batch_end(struct rt_chan *rt, void *arg)
{
	struct hvm_chan *c = arg;
	struct hstor_chan *ch = c->priv;

	(void)rt;
	hstor_kick(ch);
	hstor_flush_unsent(ch);
	if (ch->locked) {
		ch->locked = false;
		pthread_mutex_unlock(&ch->lock);
	}
}

/* Completions of polled queues that did not finish inside their kick. */
static void hstor_aux(struct rt_chan *rt, void *arg)
{
	struct hvm_chan *c = arg;
	struct hstor_chan *ch = c->priv;

	(void)rt;
	pthread_mutex_lock(&ch->lock);
	ch->locked = true;
	hstor_reap(ch);
	hstor_flush_unsent(ch);
	ch->locked = false;
	pthread_mutex_unlock(&ch->lock);
}

/* The engine's refusals are read racily (plain counters of the worker):
 * a figure for people, not a sum to balance. */
static void hstor_describe(struct hvm_chan *c, FILE *out)
{
	struct hstor_chan *ch = c->priv;
	uint64_t bad = 0;

	if (!ch)
		return;
	for (unsigned i = 0; i < VSTOR_HBAD__COUNT; i++)
		bad += i == VSTOR_HBAD_VERSION ? 0 : ch->eng.st.bad[i];
	fprintf(out, "controller=%u srbs=%llu busy=%llu no_target=%llu "
		"refused=%llu", ch->ctrl->index,
		(unsigned long long)rt_ctr_get(&ch->srbs),
		(unsigned long long)rt_ctr_get(&ch->busy),
		(unsigned long long)rt_ctr_get(&ch->bad_target),
		(unsigned long long)bad);
}

const struct hdev_class hstor_class = {
	.name = VSTOR_CLASS_NAME,
	.class_guid = VSTOR_CLASS_GUID,
	.create = hstor_create,
	.destroy = hstor_destroy,
	.open = hstor_open,
	.close = hstor_close,
	.rx = hstor_rx,
	.batch_end = hstor_batch_end,
	.aux = hstor_aux,
	.quiesce = hstor_quiesce,
	.describe = hstor_describe,
};
