/* Host integration services: the five device classes, the per-VM
 * registry, the receive path from the channel workers and the periodic
 * work (heartbeat probes, time samples, timeouts). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hic_priv.h"
#include "rt_log.h"

#define ST_UNSUCCESSFUL 0xC0000001u

#define NS_PER_MS 1000000ull

/* Malformed NEGOTIATE answers before the host gives up on a session. */
#define HIC_NEG_TRIES 3

static int hic_create(struct hdev *d);
static void hic_destroy(struct hdev *d);
static uint32_t hic_open(struct hvm_chan *c);
static void hic_close(struct hvm_chan *c);
static void hic_rx(struct rt_chan *ch, const struct vmb_pkt *pkt, void *arg);
static void hic_describe(struct hvm_chan *c, FILE *out);

#define HIC_CLASS(nm, guid)                                              \
	{ .name = nm, .class_guid = guid, .create = hic_create,          \
	  .destroy = hic_destroy, .open = hic_open, .close = hic_close,  \
	  .rx = hic_rx, .describe = hic_describe }

/* Class GUIDs: Linux hv_util.c / hv_kvp.c / hv_snapshot.c device ids. */
static const struct hdev_class hic_classes[HIC__COUNT] = {
	[HIC_HEARTBEAT] = HIC_CLASS("heartbeat",
				    "57164f39-9115-4e78-ab55-382f3bd5422d"),
	[HIC_SHUTDOWN] = HIC_CLASS("shutdown",
				   "0e0b6031-5213-4934-818b-38d90ced39db"),
	[HIC_TIMESYNC] = HIC_CLASS("timesync",
				   "9527e630-d0ae-497b-adce-e80ab0175caf"),
	[HIC_KVP] = HIC_CLASS("kvp", "a9a0f4e7-5a45-4d96-b827-8a841e8c03e6"),
	[HIC_VSS] = HIC_CLASS("vss", "35fa2e29-ea23-4236-96ae-3a6ebacba440"),
};

const struct hic_info hic_infos[HIC__COUNT] = {
	[HIC_HEARTBEAT] = { "Heartbeat", "heartbeat",
			    &hic_classes[HIC_HEARTBEAT], IC_SVC_HEARTBEAT },
	[HIC_SHUTDOWN] = { "Shutdown", "shutdown",
			   &hic_classes[HIC_SHUTDOWN], IC_SVC_SHUTDOWN },
	[HIC_TIMESYNC] = { "Time Synchronization", "timesync",
			   &hic_classes[HIC_TIMESYNC], IC_SVC_TIMESYNC },
	[HIC_KVP] = { "Key-Value Pair Exchange", "kvp",
		      &hic_classes[HIC_KVP], IC_SVC_KVP },
	[HIC_VSS] = { "VSS", "vss", &hic_classes[HIC_VSS], IC_SVC_VSS },
};

uint64_t hic_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Disabled services read "OK" as in Get-VMIntegrationService. */
const char *hic_status(const struct hic_svc *s)
{
	if (!s->enabled)
		return "OK";
	if (!s->answered)
		return "No Contact";
	if (s->lost)
		return "Lost Communication";
	return "OK";
}

const char *hic_status_detail(const struct hic_svc *s)
{
	if (!s->enabled)
		return "";
	if (!s->dev || !hvm_dev_live(s->ic->vm, s->dev))
		return "Device removed: vm service enable offers it again";
	if (!s->ic->vm->xc)
		return "No guest attached";
	if (!s->chan)
		return "The guest has not opened the service's channel";
	if (s->mismatch)
		return "Protocol version mismatch";
	if (!s->negotiated)
		return s->neg_bad >= HIC_NEG_TRIES
			       ? "Malformed negotiation answers"
			       : "Negotiating";
	return s->lost ? s->lost_why : "";
}

bool hic_ready(const struct hic_svc *s)
{
	return s->enabled && s->chan && s->chan->rt && s->negotiated;
}

static int kind_find(const char *name)
{
	for (unsigned k = 0; k < HIC__COUNT; k++)
		if (strcasecmp(name, hic_infos[k].name) == 0 ||
		    strcasecmp(name, hic_infos[k].alias) == 0)
			return (int)k;
	return -1;
}

struct hic_svc *hic_svc_find(struct hic *ic, const char *name)
{
	int k = kind_find(name);

	return k < 0 ? NULL : &ic->svc[k];
}

/* ---- sending ---- */

int hic_send(struct hic_svc *s, hic_build_fn *build, const void *arg)
{
	struct vmb_iov iov;
	size_t len = 0;
	uint64_t xid = 0;
	int rc;

	if (!s->chan || !s->chan->rt)
		return VMB_ESHUTDOWN;
	pthread_mutex_lock(&s->lock);
	rc = build(&s->eng, arg, s->buf, sizeof(s->buf), &len);
	if (rc == VMB_OK)
		xid = s->pend_pkt_xid = s->next_pkt_xid++;
	pthread_mutex_unlock(&s->lock);
	if (rc != VMB_OK)
		return rc;
	iov.base = s->buf;
	iov.len = (uint32_t)len;
	s->sent_ns = hic_now_ns();
	s->requests++;
	/* Never wait on the loop thread: a guest that stopped reading
	 * must not stall the host. */
	rc = rt_chan_send_inband(s->chan->rt, xid, 0, &iov, 1, true);
	if (rc != VMB_OK) {
		pthread_mutex_lock(&s->lock);
		ic_host_cancel(&s->eng);
		pthread_mutex_unlock(&s->lock);
		s->sent_ns = 0;
		s->send_errors++;
		rt_warn("ic", "%s: send failed: %s", s->info->name,
			vmb_strerror(rc));
	}
	return rc;
}

static int build_negotiate(struct ic_host *h, const void *arg, uint8_t *out,
			   size_t cap, size_t *len)
{
	(void)arg;
	return ic_host_negotiate(h, out, cap, len);
}

static int build_probe(struct ic_host *h, const void *arg, uint8_t *out,
		       size_t cap, size_t *len)
{
	return ic_hb_host_probe(h, *(const uint64_t *)arg, out, cap, len);
}

struct ts_args {
	uint64_t parent_time, ref_time, round_trip;
	uint8_t flags;
};

static int build_sample(struct ic_host *h, const void *arg, uint8_t *out,
			size_t cap, size_t *len)
{
	const struct ts_args *a = arg;

	return ic_ts_host_sample(h, a->parent_time, a->ref_time,
				 a->round_trip, a->flags, out, cap, len);
}

static void send_negotiate(struct hic_svc *s)
{
	s->started = true;
	hic_send(s, build_negotiate, NULL);
}

static void send_probe(struct hic_svc *s)
{
	uint64_t seq = ++s->hb_seq;

	s->hb_missed = 0;
	hic_send(s, build_probe, &seq);
}

/* Host time (UTC, 100 ns since 1601, plus the skew) and the reference
 * counter at the same instant. */
static void ts_now(int64_t skew, struct ts_args *a)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &rt);
	a->ref_time = (uint64_t)mono.tv_sec * 10000000ull +
		      (uint64_t)mono.tv_nsec / 100;
	/* Unsigned wrap-around adds a negative skew correctly. */
	a->parent_time = (uint64_t)rt.tv_sec * 10000000ull +
			 (uint64_t)rt.tv_nsec / 100 + IC_TS_UNIX_EPOCH_DELTA +
			 (uint64_t)skew;
}

void hic_ts_send(struct hic_svc *s)
{
	struct ts_args a;

	if (!hic_ready(s) || s->sent_ns)
		return;
	ts_now(s->ic->skew, &a);
	a.round_trip = s->ts_rtt;
	a.flags = s->ts_sync_due ? IC_TS_FLAG_SYNC : IC_TS_FLAG_SAMPLE;
	if (hic_send(s, build_sample, &a) != VMB_OK)
		return;
	s->ts_sync_due = false;
	s->ts_last_ms = s->sent_ns / NS_PER_MS;
	s->ts_last_parent = a.parent_time;
	s->ts_samples++;
}

/* ---- answers ---- */

/* "No common version" is the guest's final word for the session. A
 * malformed answer (counted by the engine) may be a passing fault: the
 * host proposes again at the next period, HIC_NEG_TRIES times at most.
 * Giving up leaves started set, so nothing proposes again until the
 * channel opens anew. */
static void neg_refused(struct hic_svc *s, int rc)
{
	if (rc == VMB_ENOTSUP) {
		rt_warn("ic", "%s: negotiation failed: no common version",
			s->info->name);
		s->mismatch = true;
		return;
	}
	if (++s->neg_bad >= HIC_NEG_TRIES) {
		rt_warn("ic", "%s: negotiation failed: malformed answer (%u "
			"of %u); giving up", s->info->name, s->neg_bad,
			HIC_NEG_TRIES);
		return;
	}
	s->started = false;
	rt_warn("ic", "%s: negotiation failed: malformed answer (%u of %u); "
		"proposing again", s->info->name, s->neg_bad, HIC_NEG_TRIES);
}

static void on_negotiated(struct hic_svc *s, int rc,
			  const struct ic_host_result *r)
{
	if (rc != VMB_OK || !r->negotiated) {
		neg_refused(s, rc);
		return;
	}
	s->answered = true;
	s->negotiated = true;
	s->fw = r->fw;
	s->msg = r->msg;
	atomic_store(&s->chan->dev_version, ic_ver_u32(r->msg));
	rt_info("ic", "%s: framework %u.%u, message %u.%u", s->info->name,
		r->fw.major, r->fw.minor, r->msg.major, r->msg.minor);
	if (s->kind == HIC_HEARTBEAT)
		send_probe(s);
	else if (s->kind == HIC_TIMESYNC)
		hic_ts_send(s);
	else if (s->kind == HIC_KVP)
		hic_kvp_refresh(s);
}

static void on_result(struct hic_svc *s, int rc,
		      const struct ic_host_result *r)
{
	uint64_t now = hic_now_ns();

	if (s->kind == HIC_TIMESYNC && s->sent_ns)
		s->ts_rtt = (now - s->sent_ns) / 100;
	s->sent_ns = 0;
	s->answers++;
	if (rc != VMB_OK || (r->status != IC_S_OK &&
			     r->status != IC_E_NO_MORE_ITEMS))
		s->failures++;
	if (r->type == IC_MSG_NEGOTIATE) {
		on_negotiated(s, rc, r);
		return;
	}
	/* A malformed answer is no proof of life: it must not turn a
	 * service OK (a heartbeat with the wrong sequence number least of
	 * all). The request it answered still ends, with a failure. */
	if (rc == VMB_EPROTO) {
		hic_answer_bad(s);
	} else {
		if (s->lost)
			rt_info("ic", "%s: guest answers again",
				s->info->name);
		s->answered = true;
		s->lost = false;
		s->hb_missed = 0;
	}
	if (s->kind == HIC_HEARTBEAT || s->kind == HIC_TIMESYNC) {
		if (s->kind == HIC_TIMESYNC && s->ts_sync_due)
			hic_ts_send(s);
		return;
	}
	hic_job_result(s, rc, r);
}

void hic_answer_bad(struct hic_svc *s)
{
	if (s->answered && !s->lost)
		rt_warn("ic", "%s: Lost Communication (malformed answer)",
			s->info->name);
	s->lost = s->answered;
	s->lost_why = "Malformed answer from the guest";
}

void hic_answer_refuse(struct hic_svc *s, enum vmb_bad why)
{
	pthread_mutex_lock(&s->lock);
	vmb_bad_count(&s->rxbad, why);
	pthread_mutex_unlock(&s->lock);
	s->failures++;
	hic_answer_bad(s);
}

static void drain(struct hic_svc *s)
{
	struct hic_res *n, *next;

	pthread_mutex_lock(&s->lock);
	n = s->rq;
	s->rq = NULL;
	pthread_mutex_unlock(&s->lock);
	for (; n; n = next) {
		next = n->next;
		if (n->session == s->session && s->chan)
			on_result(s, n->rc, &n->r);
		free(n);
	}
	hic_job_kick(s);
}

static void res_work(struct hvm *vm, struct hdev *d, uint32_t session)
{
	struct hic_svc *s = d->priv;

	(void)vm;
	(void)session;
	if (s && s->dev == d)
		drain(s);
}

static void start_work(struct hvm *vm, struct hdev *d, uint32_t session)
{
	struct hic_svc *s = d->priv;

	(void)vm;
	if (s && s->dev == d && s->chan && s->chan->rt && !s->started &&
	    s->session == session)
		send_negotiate(s);
}

/* ---- device class ---- */

static int hic_create(struct hdev *d)
{
	struct hic *ic = d->vm->ic;

	if (!ic)
		return -EINVAL;
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		if (hic_infos[k].cls == d->cls) {
			d->priv = &ic->svc[k];
			ic->svc[k].dev = d;
			return 0;
		}
	}
	return -EINVAL;
}

static void hic_destroy(struct hdev *d)
{
	struct hic_svc *s = d->priv;

	if (s && s->dev == d)
		s->dev = NULL;
	d->priv = NULL;
}

static void free_results(struct hic_svc *s)
{
	struct hic_res *n, *next;

	pthread_mutex_lock(&s->lock);
	n = s->rq;
	s->rq = NULL;
	pthread_mutex_unlock(&s->lock);
	for (; n; n = next) {
		next = n->next;
		free(n);
	}
}

static void session_reset(struct hic_svc *s)
{
	s->started = false;
	s->mismatch = false;
	s->neg_bad = 0;
	s->answered = false;
	s->lost = false;
	s->negotiated = false;
	s->sent_ns = 0;
	s->hb_missed = 0;
	s->ts_sync_due = true;
	s->ts_rtt = 0;
}

/* The versions s offers: all the engine knows, or those up to the
 * configured cap. No framework newer than the message cap either: a
 * WS2008 host offered framework 1.0 with its 1.0 messages, later hosts
 * 3.0 (Linux hv_util.c and hv_kvp.c choose by host the same way). */
static int engine_init(struct hic_svc *s)
{
	struct ic_ver fw[IC_MAX_VERSIONS], msg[IC_MAX_VERSIONS];
	uint32_t cap = s->ic->cfg.msg_cap[s->kind];
	const struct ic_ver *dfw, *dmsg;
	unsigned dnfw, dnmsg, nfw = 0, nmsg = 0;

	if (!cap)
		return ic_host_init(&s->eng, s->info->svc, NULL, 0, NULL, 0);
	ic_versions(s->info->svc, &dfw, &dnfw, &dmsg, &dnmsg);
	for (unsigned i = 0; i < dnmsg && nmsg < IC_MAX_VERSIONS; i++)
		if (ic_ver_u32(dmsg[i]) <= cap)
			msg[nmsg++] = dmsg[i];
	for (unsigned i = 0; i < dnfw && nfw < IC_MAX_VERSIONS; i++)
		if (dfw[i].major <= cap >> 16)
			fw[nfw++] = dfw[i];
	return ic_host_init(&s->eng, s->info->svc, fw, nfw, msg, nmsg);
}

/* Runs before the worker starts: nothing races on the engine yet. */
static uint32_t hic_open(struct hvm_chan *c)
{
	struct hic_svc *s = c->dev->priv;

	/* A rescinded device of a service that was enabled again. */
	if (!s || s->dev != c->dev || s->chan)
		return ST_UNSUCCESSFUL;
	free_results(s);
	pthread_mutex_lock(&s->lock);
	engine_init(s); /* checked by hic_init: cannot fail here */
	s->session++;
	pthread_mutex_unlock(&s->lock);
	session_reset(s);
	c->priv = s;
	s->chan = c;
	/* NEGOTIATE once the channel runs (c->rt is set after open). */
	if (hvm_defer(c->vm, start_work, c->dev, c->gen, s->session))
		rt_warn("ic", "%s: deferred start failed; next tick",
			s->info->name);
	return 0;
}

/* The service lets go of its channel (closed, or rescinded by a
 * disable). A rescinded channel's worker may still run until the guest
 * closes it: its answers then match no request and count as late. */
static void detach(struct hic_svc *s, const char *why)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
		s->bad_prev.n[i] += s->eng.st.bad.n[i];
	memset(&s->eng.st.bad, 0, sizeof(s->eng.st.bad));
	ic_host_cancel(&s->eng);
	pthread_mutex_unlock(&s->lock);
	free_results(s);
	s->chan = NULL;
	session_reset(s);
	hic_job_abort_all(s, why);
}

/* Runs after the worker was joined. */
static void hic_close(struct hvm_chan *c)
{
	struct hic_svc *s = c->priv;

	c->priv = NULL;
	if (s && s->chan == c)
		detach(s, "the guest closed the service's channel");
}

static void rx_refuse(struct hic_svc *s, enum vmb_bad why)
{
	pthread_mutex_lock(&s->lock);
	vmb_bad_count(&s->rxbad, why);
	pthread_mutex_unlock(&s->lock);
}

/* Channel worker: match the answer to the open request, decode it and
 * queue the result for the loop thread. */
static void hic_rx(struct rt_chan *ch, const struct vmb_pkt *pkt, void *arg)
{
	struct hvm_chan *c = arg;
	struct hic_svc *s = c->priv;
	struct hic_res *n, **pp;
	bool closed;

	(void)ch;
	if (pkt->type != VMB_PKT_INBAND) {
		rx_refuse(s, VMB_BAD_TYPE);
		return;
	}
	n = calloc(1, sizeof(*n));
	pthread_mutex_lock(&s->lock);
	if (!s->eng.pending || pkt->xid != s->pend_pkt_xid) {
		if (pkt->xid && pkt->xid < s->next_pkt_xid)
			s->late++;
		else
			vmb_bad_count(&s->rxbad, VMB_BAD_XID);
		pthread_mutex_unlock(&s->lock);
		free(n);
		return;
	}
	if (!n) {
		/* Keep the request open; the loop times it out. */
		pthread_mutex_unlock(&s->lock);
		return;
	}
	n->rc = ic_host_input(&s->eng, pkt->payload, pkt->payload_len,
			      &n->r);
	closed = !s->eng.pending;
	if (closed) {
		n->session = s->session;
		for (pp = &s->rq; *pp; pp = &(*pp)->next)
			;
		*pp = n;
	}
	pthread_mutex_unlock(&s->lock);
	if (!closed) {
		free(n);
		return;
	}
	/* If this fails the next tick drains the queue. */
	hvm_defer(c->vm, res_work, c->dev, c->gen, 0);
}

uint64_t hic_bad_total(struct hic_svc *s, struct vmb_badstats *out)
{
	uint64_t sum = 0;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < VMB_BAD__COUNT; i++) {
		out->n[i] = s->bad_prev.n[i] + s->eng.st.bad.n[i] +
			    s->rxbad.n[i];
		sum += out->n[i];
	}
	pthread_mutex_unlock(&s->lock);
	return sum;
}

uint64_t hic_late(struct hic_svc *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->late;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void hic_describe(struct hvm_chan *c, FILE *out)
{
	struct hic_svc *s = c->priv;
	struct vmb_badstats b;

	if (!s)
		return;
	fprintf(out, "status=%s requests=%llu answers=%llu failures=%llu "
		"timeouts=%llu bad=%llu", hic_status(s),
		(unsigned long long)s->requests,
		(unsigned long long)s->answers,
		(unsigned long long)s->failures,
		(unsigned long long)s->timeouts,
		(unsigned long long)hic_bad_total(s, &b));
}

/* ---- periodic work ---- */

static void timed_out(struct hic_svc *s)
{
	bool answered;

	/* The answer may have closed the request on the worker since the
	 * tick drained: then it waits in rq, and taking it now is right;
	 * a timeout would hand it to the next request. */
	pthread_mutex_lock(&s->lock);
	answered = !s->eng.pending;
	if (!answered)
		ic_host_cancel(&s->eng);
	pthread_mutex_unlock(&s->lock);
	if (answered) {
		drain(s);
		return;
	}
	s->sent_ns = 0;
	s->timeouts++;
	if (s->answered && !s->lost)
		rt_warn("ic", "%s: Lost Communication (no answer in %u ms)",
			s->info->name, s->ic->cfg.timeout_ms);
	if (s->answered) {
		s->lost = true;
		s->lost_why = "No answer in time";
	}
	if (s->negotiated)
		hic_job_timeout(s);
	else
		s->started = false; /* negotiate again */
}

static void heartbeat_tick(struct hic_svc *s)
{
	if (!s->sent_ns) {
		send_probe(s);
		return;
	}
	/* Keep the one probe open: a stopped guest finds only it when it
	 * runs again, and its answer is the proof of life. */
	if (++s->hb_missed >= HIC_HB_LOST_PERIODS && s->answered &&
	    !s->lost) {
		s->lost = true;
		s->lost_why = "No heartbeat answer in time";
		rt_warn("ic", "Heartbeat: Lost Communication (%u periods "
			"without answer)", s->hb_missed);
	}
}

static void svc_tick(struct hic_svc *s)
{
	struct hic *ic = s->ic;
	uint64_t now;

	/* Answers first, and the clock read after them: an answer may send
	 * the next request, whose sent_ns must not lie ahead of now. */
	drain(s);
	now = hic_now_ns();
	if (!s->chan || !s->chan->rt)
		return;
	s->ticks++;
	if (!s->started) {
		send_negotiate(s);
		return;
	}
	if (s->kind == HIC_HEARTBEAT && s->negotiated) {
		heartbeat_tick(s);
		return;
	}
	if (s->sent_ns && now - s->sent_ns >= ic->cfg.timeout_ms * NS_PER_MS)
		timed_out(s);
	if (!s->negotiated)
		return;
	if (s->kind == HIC_TIMESYNC &&
	    now / NS_PER_MS - s->ts_last_ms >= ic->cfg.sample_ms)
		hic_ts_send(s);
	if (s->kind == HIC_KVP && s->ticks % HIC_REFRESH_PERIODS == 0)
		hic_kvp_refresh(s);
	if (s->kind == HIC_VSS)
		hic_vss_tick(s, now);
	hic_job_kick(s);
}

static void tick(struct rt_loop *l, int fd, uint32_t events, void *arg)
{
	struct hic *ic = arg;

	(void)l;
	(void)fd;
	(void)events;
	for (unsigned k = 0; k < HIC__COUNT; k++)
		svc_tick(&ic->svc[k]);
	hic_vss_reap(ic);
}

/* ---- registry ---- */

/* Forget the service's device: its channel goes when the guest releases
 * it, and the next enable offers a new one. */
static void forget_dev(struct hic_svc *s, bool rescind)
{
	struct hdev *d = s->dev;
	uint32_t gone[2];

	s->dev = NULL;
	if (rescind && d && d->primary_relid)
		hvm_remove_channel(s->ic->vm, d->primary_relid, gone, 2);
}

static int disable(struct hic_svc *s)
{
	s->enabled = false;
	session_reset(s);
	if (s->chan)
		detach(s, "the service was disabled");
	hic_job_abort_all(s, "the service was disabled");
	forget_dev(s, true);
	rt_info("ic", "%s disabled", s->info->name);
	return 0;
}

/* The service's instance GUID, the same each time it is offered (as on
 * Hyper-V, a disable and enable do not make a new device). */
static void svc_instance(const struct hic_svc *s, struct vmb_guid *g)
{
	vmb_guid_parse(g, HIC_INSTANCE_BASE);
	g->b[15] = (uint8_t)s->kind;
}

int hic_enable(struct hic_svc *s, bool on)
{
	struct hvm *vm = s->ic->vm;
	struct vmb_guid inst;
	struct hdev *d;
	int rc;

	if (!on)
		return s->enabled ? disable(s) : 0;
	/* Enabled with its device in place; or enabled, but its device was
	 * rescinded by hand (device remove): offer it again. */
	if (s->enabled && s->dev && hvm_dev_live(vm, s->dev))
		return 0;
	if (s->chan)
		detach(s, "the service's device was removed");
	forget_dev(s, false);
	s->enabled = true;
	session_reset(s);
	svc_instance(s, &inst);
	rc = hvm_add_device(vm, s->info->cls, 0, &inst, &d);
	if (rc) {
		s->enabled = false;
		rt_err("ic", "%s: cannot offer: %s", s->info->name,
		       strerror(-rc));
		return rc;
	}
	rt_info("ic", "%s enabled: relid %u", s->info->name,
		d->primary_relid);
	return 0;
}

#define HIC_NAMES "heartbeat, shutdown, timesync, kvp, vss"

int hic_parse_services(const char *list, unsigned *mask, char *why,
		       size_t cap)
{
	char buf[256], *save = NULL;

	if (strcmp(list, "all") == 0) {
		*mask = HIC_ALL;
		return 0;
	}
	*mask = 0;
	if (strcmp(list, "none") == 0)
		return 0;
	snprintf(why, cap, "too long");
	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (char *w = strtok_r(buf, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		int k = kind_find(w);

		if (k < 0) {
			snprintf(why, cap, "unknown service '%s' (known: all, "
				 "none, or a list of " HIC_NAMES ")", w);
			return -EINVAL;
		}
		*mask |= 1u << k;
	}
	return 0;
}

int hic_parse_ic_version(const char *arg, enum hic_kind *kind,
			 uint32_t *ver, char *why, size_t cap)
{
	const char *eq = strchr(arg, '=');
	const struct ic_ver *fw, *msg;
	unsigned nfw, nmsg;
	char name[32], v[16], known[96] = "";
	size_t n = 0;
	int k = -1;

	if (eq && (size_t)(eq - arg) < sizeof(name)) {
		memcpy(name, arg, (size_t)(eq - arg));
		name[eq - arg] = '\0';
		k = kind_find(name);
	}
	if (k < 0) {
		snprintf(why, cap, "not SERVICE=X.Y with SERVICE one of "
			 HIC_NAMES);
		return -EINVAL;
	}
	ic_versions(hic_infos[k].svc, &fw, &nfw, &msg, &nmsg);
	/* Compared as text: only the exact spelling "X.Y" of a known
	 * version, no blanks, signs or leading zeros. */
	for (unsigned i = 0; i < nmsg; i++) {
		snprintf(v, sizeof(v), "%u.%u", msg[i].major, msg[i].minor);
		if (strcmp(v, eq + 1) == 0) {
			*kind = (enum hic_kind)k;
			*ver = ic_ver_u32(msg[i]);
			return 0;
		}
		if (n < sizeof(known))
			n += (size_t)snprintf(known + n, sizeof(known) - n,
					      "%s%s", n ? ", " : "", v);
	}
	snprintf(why, cap, "%s has no message version '%s' (known: %s)",
		 hic_infos[k].alias, eq + 1, known);
	return -EINVAL;
}

static int svc_init(struct hic *ic, enum hic_kind k)
{
	struct hic_svc *s = &ic->svc[k];

	s->ic = ic;
	s->kind = k;
	s->info = &hic_infos[k];
	s->next_pkt_xid = 1;
	pthread_mutex_init(&s->lock, NULL);
	return engine_init(s);
}

int hic_init(struct hvm *vm, const struct hic_cfg *cfg)
{
	struct hic *ic = calloc(1, sizeof(*ic));
	bool bad_cap = false;
	int rc;

	if (!ic)
		return -ENOMEM;
	ic->vm = vm;
	ic->timer_fd = -1;
	ic->cfg = *cfg;
	if (!ic->cfg.probe_ms)
		ic->cfg.probe_ms = 1000;
	if (!ic->cfg.sample_ms)
		ic->cfg.sample_ms = 5000;
	if (!ic->cfg.timeout_ms)
		ic->cfg.timeout_ms = 10000;
	if (!ic->cfg.backup_timeout_ms)
		ic->cfg.backup_timeout_ms = 120000;
	vm->ic = ic;
	/* A cap below every version leaves nothing to offer. */
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		uint32_t cap = cfg->msg_cap[k];

		if (svc_init(ic, (enum hic_kind)k))
			bad_cap = true;
		else if (cap)
			rt_info("ic", "%s: message versions up to %u.%u "
				"offered", hic_infos[k].name, cap >> 16,
				cap & 0xffff);
	}
	if (bad_cap)
		return -EINVAL;
	ic->timer_fd = rt_loop_timer(vm->loop, ic->cfg.probe_ms, tick, ic);
	if (ic->timer_fd < 0)
		return ic->timer_fd;
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		if (!(cfg->enable & (1u << k)))
			continue;
		rc = hic_enable(&ic->svc[k], true);
		if (rc)
			return rc;
	}
	return 0;
}

void hic_fini(struct hvm *vm)
{
	struct hic *ic = vm->ic;

	if (!ic)
		return;
	if (ic->timer_fd >= 0) {
		rt_loop_del(vm->loop, ic->timer_fd);
		close(ic->timer_fd);
	}
	for (unsigned k = 0; k < HIC__COUNT; k++) {
		struct hic_svc *s = &ic->svc[k];

		hic_job_abort_all(s, "the host is shutting down");
		free_results(s);
	}
	hic_vss_fini(ic);
	for (unsigned k = 0; k < HIC__COUNT; k++)
		pthread_mutex_destroy(&ic->svc[k].lock);
	hic_intrinsic_clear(ic);
	free(ic);
	vm->ic = NULL;
}
