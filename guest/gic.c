/* Guest integration services: the service instance around the IC engine
 * and the five gvb drivers. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gic.h"
#include "rt_log.h"

/* Refused input is logged this many times per channel, then only
 * counted (the counters are logged when the channel goes). */
#define GIC_REFUSED_LOG_MAX 8

struct gic_cfg gic_cfg = {
	.ts = { .mode = TSYNC_REPORT },
};

static const char *const svc_names[] = {
	[IC_SVC_HEARTBEAT] = "heartbeat", [IC_SVC_KVP] = "kvp",
	[IC_SVC_SHUTDOWN] = "shutdown", [IC_SVC_TIMESYNC] = "timesync",
	[IC_SVC_VSS] = "vss",
};

void gic_reply(struct gic_svc *s, uint64_t xid, size_t len)
{
	int rc = s->send(s->arg, xid, s->out, len);

	if (rc == VMB_OK)
		return;
	s->st.send_errors++;
	rt_warn(s->name, "reply to transaction %llu not sent: %s",
		(unsigned long long)xid, vmb_strerror(rc));
}

static int svc_open(struct gic_svc *s)
{
	switch (s->svc) {
	case IC_SVC_TIMESYNC:
		return gic_ts_open(s);
	case IC_SVC_KVP:
		return gic_kvp_open(s);
	case IC_SVC_VSS:
		return gic_vss_open(s);
	default:
		return 0;
	}
}

struct gic_svc *gic_svc_new(enum ic_service svc, const struct gic_cfg *cfg,
			    gic_send_fn *send, gic_stop_fn *stop, void *arg)
{
	struct gic_svc *s;

	if ((unsigned)svc >= VMB_ARRAY_LEN(svc_names) || !svc_names[svc])
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		rt_err(svc_names[svc], "out of memory");
		return NULL;
	}
	s->svc = svc;
	s->name = svc_names[svc];
	s->cfg = cfg;
	s->send = send;
	s->stop = stop;
	s->arg = arg;
	ic_guest_init(&s->eng, svc);
	if (svc_open(s)) {
		gic_svc_free(s, "open failed");
		return NULL;
	}
	return s;
}

/* The engine counts every answer as a reply, negotiations and refused
 * messages included, but only accepted service messages as requests:
 * the words say so, or one negotiation reads as an extra reply. */
static void log_counters(const struct gic_svc *s, const char *why)
{
	const struct ic_guest_stats *e = &s->eng.st;

	rt_info(s->name, "channel closed (%s): %llu negotiations, %llu "
		"requests, %llu replies in all (%llu failed), %llu refused, "
		"%llu not sent, %llu dropped, %llu truncated", why,
		(unsigned long long)(e->negotiations + e->negotiate_failed),
		(unsigned long long)e->requests,
		(unsigned long long)e->replies,
		(unsigned long long)e->fail_replies,
		(unsigned long long)vmb_bad_total(&e->bad),
		(unsigned long long)s->st.send_errors,
		(unsigned long long)s->st.dropped,
		(unsigned long long)s->st.truncated);
	for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
		if (e->bad.n[i])
			rt_warn(s->name, "refused from host: %llu %s",
				(unsigned long long)e->bad.n[i],
				vmb_bad_name((enum vmb_bad)i));
}

void gic_svc_free(struct gic_svc *s, const char *why)
{
	if (!s)
		return;
	/* VSS first: nothing may be logged while a filesystem is frozen
	 * (gic_vss.c), and closing it thaws. */
	gic_vss_close(s);
	if (s->eng.pending)
		rt_warn(s->name, "%s with a request unanswered", why);
	log_counters(s, why);
	gic_ts_close(s);
	gic_kvp_close(s);
	free(s);
}

static void log_refused(struct gic_svc *s, int rc, bool answered)
{
	if (rc == VMB_ENOTSUP) {
		rt_warn(s->name, "host offered no version in common");
		return;
	}
	if (s->refused_logged >= GIC_REFUSED_LOG_MAX)
		return;
	s->refused_logged++;
	rt_warn(s->name, "malformed or out-of-order message refused%s%s",
		answered ? " (failure reply sent)" : "",
		s->refused_logged == GIC_REFUSED_LOG_MAX
			? "; further ones only counted" : "");
}

static void act(struct gic_svc *s, const struct ic_action *a, uint64_t xid)
{
	switch (a->kind) {
	case IC_ACT_NEGOTIATED:
		rt_info(s->name, "negotiated: framework %u.%u, message %u.%u",
			a->neg.fw.major, a->neg.fw.minor, a->neg.msg.major,
			a->neg.msg.minor);
		break;
	case IC_ACT_SHUTDOWN:
		gic_sd_act(s, &a->sd, xid);
		break;
	case IC_ACT_TIME:
		gic_ts_act(s, &a->ts);
		break;
	case IC_ACT_KVP:
		gic_kvp_act(s, &a->kvp, xid);
		break;
	case IC_ACT_VSS:
		if (a->reply_pending)
			gic_vss_act(s, a->vss.op, xid);
		break;
	case IC_ACT_NONE:
		break;
	}
}

void gic_svc_input(struct gic_svc *s, uint64_t xid, const void *payload,
		   size_t len)
{
	struct ic_action a;
	size_t out_len = 0;
	int rc;

	/* Read the clocks before anything else: a time sample is worth
	 * most at the instant it arrived. */
	clock_gettime(CLOCK_REALTIME, &s->rx_real);
	clock_gettime(CLOCK_MONOTONIC, &s->rx_mono);
	rc = ic_guest_input(&s->eng, payload, len, &a, s->out,
			    sizeof(s->out), &out_len);
	/* Immediate answers (negotiation, heartbeat, time sync, failure
	 * replies) go out before any OS work starts. */
	if (out_len)
		gic_reply(s, xid, out_len);
	if (rc != VMB_OK) {
		log_refused(s, rc, out_len > 0);
		return;
	}
	act(s, &a, xid);
}

/* ---- gvb glue ---- */

/* Every reply is sent from the channel worker (the rx callback), where a
 * full ring waits for the host's space signal or for the channel's stop;
 * the loop thread, which stops channels, never sends here. */
static int chan_send(void *arg, uint64_t xid, const void *buf, size_t len)
{
	struct vmb_iov iov = { buf, (uint32_t)len };

	return gvb_send(arg, xid, 0, &iov, 1, false);
}

static void chan_stop(void *arg)
{
	struct gvb_chan *c = arg;

	rt_loop_stop(c->vb->loop);
}

static int drv_prepare(struct gvb_chan *c, enum ic_service svc)
{
	c->priv = gic_svc_new(svc, &gic_cfg, chan_send, chan_stop, c);
	return c->priv ? 0 : -1;
}

static int prep_hb(struct gvb_chan *c)
{
	return drv_prepare(c, IC_SVC_HEARTBEAT);
}

static int prep_sd(struct gvb_chan *c)
{
	return drv_prepare(c, IC_SVC_SHUTDOWN);
}

static int prep_ts(struct gvb_chan *c)
{
	return drv_prepare(c, IC_SVC_TIMESYNC);
}

static int prep_kvp(struct gvb_chan *c)
{
	return drv_prepare(c, IC_SVC_KVP);
}

static int prep_vss(struct gvb_chan *c)
{
	return drv_prepare(c, IC_SVC_VSS);
}

static void drv_opened(struct gvb_chan *c)
{
	struct gic_svc *s = c->priv;

	/* The worker may have negotiated already: only the open is news. */
	rt_info(s->name, "relid %u: service channel open", c->relid);
}

static void drv_rx(struct gvb_chan *c, const struct vmb_pkt *pkt)
{
	struct gic_svc *s = c->priv;

	/* Drained after the worker stopped: nothing can be answered, so no
	 * OS work (a freeze above all) may start. */
	if (c->draining) {
		s->st.dropped++;
		return;
	}
	if (pkt->type != VMB_PKT_INBAND) {
		vmb_bad_count(&s->eng.st.bad, VMB_BAD_TYPE);
		return;
	}
	gic_svc_input(s, pkt->xid, pkt->payload, pkt->payload_len);
}

static void drv_stopped(struct gvb_chan *c, const char *why)
{
	gic_svc_free(c->priv, why);
	c->priv = NULL;
}

#define GIC_DRIVER(nm, guid, prep)                                          \
	{                                                                   \
		.name = nm, .class_guid = guid, .prepare = prep,            \
		.opened = drv_opened, .rx = drv_rx, .stopped = drv_stopped, \
	}

const struct gvb_driver gic_heartbeat_driver =
	GIC_DRIVER("heartbeat", GIC_HEARTBEAT_GUID, prep_hb);
const struct gvb_driver gic_shutdown_driver =
	GIC_DRIVER("shutdown", GIC_SHUTDOWN_GUID, prep_sd);
const struct gvb_driver gic_timesync_driver =
	GIC_DRIVER("timesync", GIC_TIMESYNC_GUID, prep_ts);
const struct gvb_driver gic_kvp_driver =
	GIC_DRIVER("kvp", GIC_KVP_GUID, prep_kvp);
const struct gvb_driver gic_vss_driver =
	GIC_DRIVER("vss", GIC_VSS_GUID, prep_vss);
