/* The test device, host side (formats in core/testdev/tdev_wire.h). Runs
 * on the channel's worker thread; replies go out on the same channel. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hvm.h"
#include "rt_ctr.h"
#include "rt_log.h"
#include "testdev/tdev.h"

struct htdev_chan {
	_Atomic uint32_t mode;
	bool sub_requested;
	uint8_t *src_buf;     /* SOURCE packet being built */
	/* written by the worker only, read by hvis-ctl on the loop thread */
	rt_ctr echoed, sunk, sunk_bytes, sourced, errors;
};

static const char *const mode_names[TDEV_MODE__COUNT] = {
	[TDEV_MODE_ECHO] = "echo",
	[TDEV_MODE_SINK] = "sink",
	[TDEV_MODE_SOURCE] = "source",
};

static int htdev_create(struct hdev *d)
{
	if (d->max_sub > TDEV_MAX_SUBCHANNELS)
		return -EINVAL;
	return 0;
}

static void htdev_destroy(struct hdev *d)
{
	(void)d;
}

static uint32_t htdev_open(struct hvm_chan *c)
{
	struct htdev_chan *s = calloc(1, sizeof(*s));

	if (!s)
		return 0xC000009Au; /* STATUS_INSUFFICIENT_RESOURCES */
	s->src_buf = malloc(sizeof(struct tdev_data) + TDEV_DATA_MAX);
	if (!s->src_buf) {
		free(s);
		return 0xC000009Au;
	}
	atomic_init(&s->mode, TDEV_MODE_ECHO);
	c->priv = s;
	return 0;
}

static void htdev_close(struct hvm_chan *c)
{
	struct htdev_chan *s = c->priv;

	if (!s)
		return;
	rt_info("test", "relid %u: echoed %llu, sunk %llu, sourced %llu, "
		"errors %llu", c->relid,
		(unsigned long long)rt_ctr_get(&s->echoed),
		(unsigned long long)rt_ctr_get(&s->sunk),
		(unsigned long long)rt_ctr_get(&s->sourced),
		(unsigned long long)rt_ctr_get(&s->errors));
	free(s->src_buf);
	free(s);
	c->priv = NULL;
}

static void reply(struct rt_chan *ch, const struct vmb_pkt *pkt,
		  struct tdev_comp *r)
{
	if (!(pkt->flags & VMB_PKT_FLAG_COMPLETION_REQUESTED))
		return;
	rt_chan_send_comp(ch, pkt->xid, r, sizeof(*r), false);
}

static void sink(struct htdev_chan *s, const struct tdev_msg *m,
		 struct tdev_comp *r)
{
	if (!tdev_check(m->data, m->data_len, m->arg0))
		rt_ctr_add(&s->errors, 1);
	rt_ctr_add(&s->sunk, 1);
	rt_ctr_add(&s->sunk_bytes, m->data_len);
	r->packets = rt_ctr_get(&s->sunk);
	r->bytes = rt_ctr_get(&s->sunk_bytes);
	r->errors = rt_ctr_get(&s->errors);
}

/* SOURCE: count DATA packets in bursts of SOURCE_BURST, each put
 * waiting for space so that the guest's reading paces us; a stopped
 * channel ends the run early. */
#define SOURCE_BURST 32u

static uint32_t source(struct rt_chan *ch, struct htdev_chan *s,
		       const struct tdev_msg *m)
{
	struct tdev_data *d = (struct tdev_data *)s->src_buf;
	struct vmb_iov iov = { s->src_buf, (uint32_t)sizeof(*d) + m->arg1 };
	uint32_t i;
	int rc = VMB_OK;

	for (i = 0; i < m->arg0 && rc == VMB_OK;) {
		rt_chan_tx_begin(ch);
		for (uint32_t k = 0; k < SOURCE_BURST && i < m->arg0; k++) {
			d->h.op = vmb_le32(TDEV_OP_DATA);
			d->h.reserved = 0;
			d->seq = vmb_le32(i);
			d->len = vmb_le32(m->arg1);
			tdev_fill(s->src_buf + sizeof(*d), m->arg1, i);
			rc = rt_chan_put_inband(ch, 0, 0, &iov, 1, false);
			if (rc != VMB_OK)
				break;
			i++;
		}
		rt_chan_tx_end(ch);
	}
	rt_ctr_add(&s->sourced, i);
	return i;
}

static void offer_work(struct hvm *vm, struct hdev *d, uint32_t count)
{
	int rc = hvm_offer_subchannels(vm, d, count);

	if (rc)
		rt_warn("test", "device %u: offering %u sub-channels failed",
			d->id, count);
}

static void request(struct rt_chan *ch, struct hvm_chan *c,
		    struct htdev_chan *s, const struct vmb_pkt *pkt,
		    const struct tdev_msg *m, struct tdev_comp *r)
{
	switch (m->op) {
	case TDEV_OP_QUERY:
		if (m->arg0 >> 16 != TDEV_VERSION >> 16) {
			r->status = TDEV_ST_VERSION;
			break;
		}
		atomic_store(&c->dev_version, TDEV_VERSION);
		r->value = TDEV_VERSION;
		/* Sub-channels exist from VMBus 2.4 (Windows 8) on. The
		 * version was set before this channel's worker started. */
		r->value2 = c->sub_index || c->vm->version < VMB_VERSION_WIN8
				    ? 0 : c->dev->max_sub;
		break;
	case TDEV_OP_MODE:
		atomic_store(&s->mode, m->arg0);
		break;
	case TDEV_OP_DATA:
		if (atomic_load(&s->mode) == TDEV_MODE_SINK) {
			sink(s, m, r);
			break;
		}
		if (atomic_load(&s->mode) == TDEV_MODE_ECHO) {
			struct vmb_iov iov = { pkt->payload, pkt->payload_len };

			if (rt_chan_send_inband(ch, pkt->xid, 0, &iov, 1,
						false) == VMB_OK)
				rt_ctr_add(&s->echoed, 1);
			return; /* the echo is the answer */
		}
		r->status = TDEV_ST_BAD_STATE;
		break;
	case TDEV_OP_SOURCE:
		if (atomic_load(&s->mode) != TDEV_MODE_SOURCE) {
			r->status = TDEV_ST_BAD_STATE;
			break;
		}
		r->value = source(ch, s, m);
		r->packets = r->value;
		break;
	case TDEV_OP_SUBCHANNELS:
		if (c->sub_index || s->sub_requested ||
		    m->arg0 > c->dev->max_sub) {
			r->status = TDEV_ST_BAD_STATE;
			break;
		}
		s->sub_requested = true;
		if (hvm_defer(c->vm, offer_work, c->dev, c->gen, m->arg0)) {
			r->status = TDEV_ST_NO_RESOURCES;
			break;
		}
		r->value = m->arg0;
		break;
	}
	if (r->status != TDEV_ST_OK)
		rt_ctr_add(&s->errors, 1);
	reply(ch, pkt, r);
}

static void htdev_rx(struct rt_chan *ch, const struct vmb_pkt *pkt,
		     void *arg)
{
	struct hvm_chan *c = arg;
	struct htdev_chan *s = c->priv;
	struct tdev_comp r;
	struct tdev_msg m;

	memset(&r, 0, sizeof(r));
	if (pkt->type != VMB_PKT_INBAND) {
		rt_ctr_add(&s->errors, 1);
		return;
	}
	if (tdev_parse(pkt->payload, pkt->payload_len, &m) != TDEV_ST_OK) {
		rt_ctr_add(&s->errors, 1);
		r.op = m.op;
		r.status = TDEV_ST_INVALID;
		reply(ch, pkt, &r);
		return;
	}
	r.op = m.op;
	request(ch, c, s, pkt, &m, &r);
}

static void htdev_describe(struct hvm_chan *c, FILE *out)
{
	struct htdev_chan *s = c->priv;
	uint32_t mode;

	if (!s)
		return;
	mode = atomic_load(&s->mode);
	fprintf(out, "mode=%s echoed=%llu sunk=%llu sourced=%llu errors=%llu",
		mode < TDEV_MODE__COUNT ? mode_names[mode] : "?",
		(unsigned long long)rt_ctr_get(&s->echoed),
		(unsigned long long)rt_ctr_get(&s->sunk),
		(unsigned long long)rt_ctr_get(&s->sourced),
		(unsigned long long)rt_ctr_get(&s->errors));
}

const struct hdev_class htdev_class = {
	.name = TDEV_CLASS_NAME,
	.class_guid = TDEV_CLASS_GUID,
	.create = htdev_create,
	.destroy = htdev_destroy,
	.open = htdev_open,
	.close = htdev_close,
	.rx = htdev_rx,
	.describe = htdev_describe,
};
