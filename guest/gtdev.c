/* Test device driver, guest side. Sends from the loop thread (tick), with
 * nowait so that a full ring only defers the rest to the next tick;
 * receives on the channel worker. Counters shared between the two are
 * atomics. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gtdev.h"
#include "rt_ctr.h"
#include "rt_log.h"
#include "testdev/tdev.h"

struct gtdev_cfg gtdev_cfg = {
	.traffic = GTDEV_ECHO,
	.size = 64,
	.burst = 8,
	.window = 256,
	.subchannels = -1,
};

/* Transaction ids of requests; DATA uses GTDEV_XID_DATA | seq. */
enum {
	GTDEV_XID_QUERY = 1,
	GTDEV_XID_MODE,
	GTDEV_XID_SUBCHANNELS,
	GTDEV_XID_SOURCE,
	GTDEV_XID_DATA = 1ull << 32,
};

/* Set-up requests after QUERY, sent in this order from the tick. */
enum { SETUP_SUBCHANNELS, SETUP_MODE, SETUP_SOURCE, SETUP_DONE };

struct gtdev_chan {
	_Atomic bool query_done;
	_Atomic uint32_t max_sub;
	bool query_sent;      /* loop thread */
	unsigned setup_step;  /* loop thread: next SETUP_* to send */
	uint64_t sent;        /* loop thread */
	uint8_t *buf;         /* loop thread: DATA being sent */
	/* receive side (worker, then the drain after it was joined) */
	uint32_t next_seq;
	rt_ctr received, errors; /* single writer: see rt_ctr.h */
	_Atomic bool done;
};

static const char *const traffic_names[] = {
	[GTDEV_NONE] = "none", [GTDEV_ECHO] = "echo",
	[GTDEV_SINK] = "sink", [GTDEV_SOURCE] = "source",
};

static int send_req(struct gvb_chan *c, uint64_t xid, uint32_t op,
		    uint32_t a0, uint32_t a1)
{
	struct tdev_query m = {
		.h.op = vmb_le32(op), .version = vmb_le32(a0),
		.reserved = vmb_le32(a1),
	};
	struct vmb_iov iov = { &m, sizeof(m) };

	/* Every request is a header and two words (tdev_wire.h). nowait:
	 * this is the loop thread, which must never sleep on a full ring
	 * (a host that stops reading would stall the whole guest). */
	return gvb_send(c, xid, VMB_PKT_FLAG_COMPLETION_REQUESTED, &iov, 1,
			true);
}

/* Sends QUERY unless it went out already; false while the ring is full. */
static bool send_query(struct gvb_chan *c, struct gtdev_chan *s)
{
	int rc;

	if (s->query_sent)
		return true;
	rc = send_req(c, GTDEV_XID_QUERY, TDEV_OP_QUERY, TDEV_VERSION, 0);
	if (rc == VMB_EAGAIN)
		return false;
	if (rc)
		rt_warn("test", "relid %u: QUERY not sent: %s", c->relid,
			vmb_strerror(rc));
	s->query_sent = true;
	return true;
}

static void gtdev_opened(struct gvb_chan *c)
{
	struct gtdev_chan *s = calloc(1, sizeof(*s));

	if (s)
		s->buf = malloc(sizeof(struct tdev_data) + TDEV_DATA_MAX);
	if (!s || !s->buf) {
		free(s);
		rt_err("test", "relid %u: out of memory", c->relid);
		return;
	}
	c->priv = s;
	send_query(c, s);
}

static void on_comp(struct gvb_chan *c, struct gtdev_chan *s,
		    const struct vmb_pkt *pkt)
{
	struct tdev_comp r;

	if (tdev_parse_comp(pkt->payload, pkt->payload_len, &r)) {
		rt_ctr_add(&s->errors, 1);
		return;
	}
	if (r.status != TDEV_ST_OK) {
		rt_ctr_add(&s->errors, 1);
		rt_warn("test", "relid %u: request %u failed: status %u",
			c->relid, r.op, r.status);
		return;
	}
	switch (pkt->xid) {
	case GTDEV_XID_QUERY:
		atomic_store(&s->max_sub, r.value2);
		atomic_store(&s->query_done, true);
		rt_info("test", "relid %u: protocol %u.%u, host allows %u "
			"sub-channels", c->relid, r.value >> 16,
			r.value & 0xffff, r.value2);
		break;
	case GTDEV_XID_SUBCHANNELS:
		rt_info("test", "relid %u: host offers %u sub-channels",
			c->relid, r.value);
		break;
	case GTDEV_XID_SOURCE:
		rt_info("test", "relid %u: source done: host sent %u, "
			"received %llu", c->relid, r.value,
			(unsigned long long)rt_ctr_get(&s->received));
		atomic_store(&s->done, true);
		break;
	case GTDEV_XID_MODE:
		break;
	default:
		/* the sink's tally */
		rt_info("test", "relid %u: sink done: host counted %llu "
			"packets, %llu bytes, %llu errors", c->relid,
			(unsigned long long)r.packets,
			(unsigned long long)r.bytes,
			(unsigned long long)r.errors);
		if (r.errors)
			rt_ctr_add(&s->errors, 1);
		atomic_store(&s->done, true);
		break;
	}
}

/* Echoes and source packets come back in order, seq 0, 1, 2, ... */
static void on_data(struct gvb_chan *c, struct gtdev_chan *s,
		    const struct vmb_pkt *pkt)
{
	struct tdev_msg m;

	if (tdev_parse(pkt->payload, pkt->payload_len, &m) != TDEV_ST_OK ||
	    m.op != TDEV_OP_DATA || m.arg0 != s->next_seq ||
	    !tdev_check(m.data, m.data_len, m.arg0)) {
		if (rt_ctr_get(&s->errors) == 0)
			rt_warn("test", "relid %u: bad DATA (expected seq %u)",
				c->relid, s->next_seq);
		rt_ctr_add(&s->errors, 1);
		return;
	}
	s->next_seq++;
	rt_ctr_add(&s->received, 1);
}

static void gtdev_rx(struct gvb_chan *c, const struct vmb_pkt *pkt)
{
	struct gtdev_chan *s = c->priv;

	if (!s)
		return;
	if (pkt->type == VMB_PKT_COMP)
		on_comp(c, s, pkt);
	else if (pkt->type == VMB_PKT_INBAND)
		on_data(c, s, pkt);
	else
		rt_ctr_add(&s->errors, 1);
}

static int setup_send(struct gvb_chan *c, struct gtdev_chan *s)
{
	enum gtdev_traffic t = gtdev_cfg.traffic;
	uint32_t want = atomic_load(&s->max_sub);

	if (gtdev_cfg.subchannels >= 0 && (uint32_t)gtdev_cfg.subchannels < want)
		want = (uint32_t)gtdev_cfg.subchannels;
	switch (s->setup_step) {
	case SETUP_SUBCHANNELS:
		if (c->sub_index == 0 && want)
			return send_req(c, GTDEV_XID_SUBCHANNELS,
					TDEV_OP_SUBCHANNELS, want, 0);
		break;
	case SETUP_MODE:
		if (t == GTDEV_SINK || t == GTDEV_SOURCE)
			return send_req(c, GTDEV_XID_MODE, TDEV_OP_MODE,
					t == GTDEV_SINK ? TDEV_MODE_SINK
							: TDEV_MODE_SOURCE,
					0);
		break;
	case SETUP_SOURCE:
		if (t == GTDEV_SOURCE)
			return send_req(c, GTDEV_XID_SOURCE, TDEV_OP_SOURCE,
					(uint32_t)gtdev_cfg.count,
					gtdev_cfg.size);
		break;
	}
	return VMB_OK;
}

/* Sends what is left of the set-up; false while the ring is full. */
static bool setup(struct gvb_chan *c, struct gtdev_chan *s)
{
	while (s->setup_step < SETUP_DONE) {
		int rc = setup_send(c, s);

		if (rc == VMB_EAGAIN)
			return false;
		if (rc)
			rt_warn("test", "relid %u: set-up request %u not sent: "
				"%s", c->relid, s->setup_step,
				vmb_strerror(rc));
		s->setup_step++;
	}
	return true;
}

static int send_data(struct gvb_chan *c, struct gtdev_chan *s, bool last)
{
	struct tdev_data *d = (struct tdev_data *)s->buf;
	uint32_t seq = (uint32_t)s->sent;
	struct vmb_iov iov = { s->buf, (uint32_t)sizeof(*d) + gtdev_cfg.size };

	d->h.op = vmb_le32(TDEV_OP_DATA);
	d->h.reserved = 0;
	d->seq = vmb_le32(seq);
	d->len = vmb_le32(gtdev_cfg.size);
	tdev_fill(s->buf + sizeof(*d), gtdev_cfg.size, seq);
	return gvb_put(c, GTDEV_XID_DATA | seq,
		       last ? VMB_PKT_FLAG_COMPLETION_REQUESTED : 0, &iov, 1,
		       true);
}

/* Whether the next DATA packet may go: the count and the echo window. */
static bool may_send(const struct gtdev_chan *s)
{
	uint64_t limit = gtdev_cfg.count;
	/* A host that echoes what was never sent pushes received past
	 * sent: then nothing is in flight, and the window must not wrap
	 * into "full" for good. */
	uint64_t rx = rt_ctr_get(&s->received);

	if (limit && s->sent >= limit)
		return false;
	return gtdev_cfg.traffic != GTDEV_ECHO || rx >= s->sent ||
	       s->sent - rx < gtdev_cfg.window;
}

static void gtdev_tick(struct gvb_chan *c)
{
	struct gtdev_chan *s = c->priv;

	if (!s || !send_query(c, s) || !atomic_load(&s->query_done) ||
	    !setup(c, s))
		return;
	if (gtdev_cfg.traffic != GTDEV_ECHO && gtdev_cfg.traffic != GTDEV_SINK)
		return;
	/* One tick's packets go out as one burst: one signal at most. */
	if (!gvb_tx_begin(c))
		return;
	for (uint32_t i = 0; i < gtdev_cfg.burst && may_send(s); i++) {
		if (send_data(c, s, gtdev_cfg.traffic == GTDEV_SINK &&
					    s->sent + 1 == gtdev_cfg.count))
			break; /* ring full: next tick */
		s->sent++;
	}
	gvb_tx_end(c);
}

/* The worker is joined and the inbound ring drained: whatever was sent
 * and not answered will never be; report it as handed back. */
static void gtdev_stopped(struct gvb_chan *c, const char *why)
{
	struct gtdev_chan *s = c->priv;
	uint64_t rx;

	if (!s)
		return;
	rx = rt_ctr_get(&s->received);
	rt_info("test", "relid %u %s: traffic %s, sent %llu, received %llu, "
		"in flight %llu, errors %llu", c->relid, why,
		traffic_names[gtdev_cfg.traffic],
		(unsigned long long)s->sent, (unsigned long long)rx,
		gtdev_cfg.traffic == GTDEV_ECHO
			? (unsigned long long)(s->sent - rx) : 0ull,
		(unsigned long long)rt_ctr_get(&s->errors));
	free(s->buf);
	free(s);
	c->priv = NULL;
}

const struct gvb_driver gtdev_driver = {
	.name = TDEV_CLASS_NAME,
	.class_guid = TDEV_CLASS_GUID,
	.opened = gtdev_opened,
	.rx = gtdev_rx,
	.stopped = gtdev_stopped,
	.tick = gtdev_tick,
};
