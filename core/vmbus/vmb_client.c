/* Guest side of VMBus channel management. See vmb_client.h.
 *
 * Every request that expects an answer leaves a record here (contact
 * version index, channel open_id, GPADL state, modify flag, unload state),
 * and an answer is accepted only if it consumes such a record; so a
 * duplicate, stale or invented answer never reaches the embedder. */
#include "vmb_client.h"
#include "vmb_msg.h"
#include "../plat.h"

enum cchan_state {
	CCHAN_CLOSED,  /* offered, not open */
	CCHAN_OPENING, /* OPENCHANNEL sent, waiting for the result */
	CCHAN_OPEN
};

struct vmb_client_chan {
	struct vmb_msg_offer offer;
	enum cchan_state state;
	uint32_t open_id;    /* of the outstanding OPENCHANNEL */
	uint32_t ring_gpadl; /* while opening or open */
	bool rescinded;      /* waiting for vmb_client_release() */
	bool modify_pending; /* 5.3+: MODIFYCHANNEL_RESPONSE outstanding */
};

enum cgpadl_state {
	CGPADL_CREATING, /* header/bodies sent, waiting for GPADL_CREATED */
	CGPADL_LIVE,
	CGPADL_TEARING   /* GPADL_TEARDOWN sent, waiting for TORNDOWN */
};

struct vmb_client_gpadl {
	struct vmb_client_gpadl *next;
	uint32_t id;
	uint32_t relid;
	enum cgpadl_state state;
};

/* Largest GPADL one range can describe: range_buflen is 16 bits. */
#define CLIENT_GPADL_MAX_PFNS                                                  \
	((0xffffu - sizeof(struct vmb_wire_gpa_range)) / 8)

static int reject(struct vmb_client *c, enum vmb_bad why)
{
	vmb_bad_count(&c->bad, why);
	return VMB_EPROTO;
}

static int post(struct vmb_client *c, uint32_t conn_id,
		const union vmb_msg_buf *b, uint32_t len)
{
	if (!len)
		return VMB_EINVAL;
	return c->ops->post(c->ctx, conn_id, b->raw, len);
}

static bool connected(const struct vmb_client *c)
{
	return c->state == VMB_CLIENT_CONNECTED || c->state == VMB_CLIENT_READY;
}

static struct vmb_client_chan *chan_get(const struct vmb_client *c,
					uint32_t relid)
{
	if (!c->chans || relid == 0 || relid >= VMB_RELID_MAX)
		return NULL;
	return c->chans[relid];
}

/* chans[relid] = ch, keeping relid_end one past the highest channel, so
 * that a scan of the table costs the relids in use, not VMB_RELID_MAX. */
static void chan_set(struct vmb_client *c, uint32_t relid,
		     struct vmb_client_chan *ch)
{
	c->chans[relid] = ch;
	if (ch && relid >= c->relid_end)
		c->relid_end = relid + 1;
	while (c->relid_end && !c->chans[c->relid_end - 1])
		c->relid_end--;
}

static struct vmb_client_gpadl *gpadl_find(const struct vmb_client *c,
					   uint32_t id)
{
	for (struct vmb_client_gpadl *g = c->gpadls; g; g = g->next)
		if (g->id == id)
			return g;
	return NULL;
}

static void gpadl_unlink(struct vmb_client *c, struct vmb_client_gpadl *g)
{
	for (struct vmb_client_gpadl **pp = &c->gpadls; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			hvis_plat_free(g);
			return;
		}
	}
}

static bool relid_has_gpadls(const struct vmb_client *c, uint32_t relid)
{
	for (struct vmb_client_gpadl *g = c->gpadls; g; g = g->next)
		if (g->relid == relid)
			return true;
	return false;
}

/* The state init leaves, on the caller's empty relid table. */
static void start(struct vmb_client *c, const struct vmb_client_ops *ops,
		  void *ctx, const struct vmb_client_cfg *cfg,
		  struct vmb_client_chan **chans)
{
	vmb_memset(c, 0, sizeof(*c));
	c->chans = chans;
	c->ops = ops;
	c->ctx = ctx;
	c->cfg = *cfg;
	c->state = VMB_CLIENT_IDLE;
	c->next_gpadl = 1;
	c->next_open_id = 1;
}

int vmb_client_init(struct vmb_client *c, const struct vmb_client_ops *ops,
		    void *ctx, const struct vmb_client_cfg *cfg)
{
	if (!c || !ops || !ops->post || !cfg)
		return VMB_EINVAL;
	/* Set up before allocating, so that fini is safe after a failure. */
	start(c, ops, ctx, cfg, NULL);
	c->chans = hvis_plat_zalloc(VMB_RELID_MAX * sizeof(*c->chans));
	return c->chans ? VMB_OK : VMB_ENOMEM;
}

/* ---- answers owed across a rescind ---- */

/* Without memory the answer is not remembered: if it comes, it is
 * counted as bad, which is all that is lost. */
static void owe(struct vmb_client *c, uint32_t type, uint32_t relid,
		uint32_t id)
{
	struct vmb_client_owed *o = hvis_plat_zalloc(sizeof(*o));

	if (!o)
		return;
	o->type = type;
	o->relid = relid;
	o->id = id;
	o->next = c->owed;
	c->owed = o;
}

/* True if the answer was owed: it is consumed and counted as late. */
static bool owed_paid(struct vmb_client *c, uint32_t type, uint32_t relid,
		      uint32_t id)
{
	for (struct vmb_client_owed **pp = &c->owed; *pp; pp = &(*pp)->next) {
		struct vmb_client_owed *o = *pp;

		if (o->type == type && o->relid == relid && o->id == id) {
			*pp = o->next;
			hvis_plat_free(o);
			c->late++;
			return true;
		}
	}
	return false;
}

/* The host answers in order, so by the time it offers relid again every
 * answer it owed for the old channel has arrived. relid 0: every one. */
static void owed_forget(struct vmb_client *c, uint32_t relid)
{
	struct vmb_client_owed **pp = &c->owed;

	while (*pp) {
		struct vmb_client_owed *o = *pp;

		if (relid && o->relid != relid) {
			pp = &o->next;
			continue;
		}
		*pp = o->next;
		hvis_plat_free(o);
	}
}

/* Forget every channel and GPADL without telling anyone. */
static void drop_all(struct vmb_client *c)
{
	owed_forget(c, 0);
	while (c->gpadls)
		gpadl_unlink(c, c->gpadls);
	for (uint32_t r = 1; r < c->relid_end; r++) {
		hvis_plat_free(c->chans[r]);
		c->chans[r] = NULL;
	}
	c->relid_end = 0;
}

void vmb_client_fini(struct vmb_client *c)
{
	if (!c)
		return;
	drop_all(c);
	hvis_plat_free(c->chans);
	c->chans = NULL;
}

void vmb_client_reinit(struct vmb_client *c)
{
	struct vmb_client keep;

	if (!c || !c->chans)
		return;
	drop_all(c);
	keep = *c;
	start(c, keep.ops, keep.ctx, &keep.cfg, keep.chans);
}

/* ---- negotiation ---- */

static int send_contact(struct vmb_client *c)
{
	union vmb_msg_buf b;
	uint32_t version = vmb_versions[c->version_idx];
	uint32_t len = vmb_msg_enc_initiate_contact(
		&b, version, c->cfg.target_vcpu, c->cfg.interrupt_page,
		c->cfg.monitor_page1, c->cfg.monitor_page2);

	return post(c, vmb_msg_contact_conn_id(version), &b, len);
}

int vmb_client_connect(struct vmb_client *c)
{
	uint32_t max = c->cfg.max_version ? c->cfg.max_version : vmb_versions[0];
	unsigned i = 0;

	if (c->state != VMB_CLIENT_IDLE && c->state != VMB_CLIENT_FAILED)
		return VMB_EBUSY;
	while (i < vmb_versions_count && vmb_versions[i] > max)
		i++;
	if (i == vmb_versions_count)
		return VMB_EINVAL;
	c->version_idx = i;
	c->version = 0;
	c->state = VMB_CLIENT_CONTACTING;
	int rc = send_contact(c);
	if (rc < 0)
		c->state = VMB_CLIENT_IDLE;
	return rc;
}

static void fail_connect(struct vmb_client *c, int status)
{
	c->state = VMB_CLIENT_FAILED;
	if (c->ops->connected)
		c->ops->connected(c->ctx, 0, status);
}

static int on_version_response(struct vmb_client *c,
			       const struct vmb_msg_version_response *m)
{
	if (c->state != VMB_CLIENT_CONTACTING)
		return reject(c, VMB_BAD_XID);
	if (!m->version_supported) {
		if (++c->version_idx == vmb_versions_count) {
			fail_connect(c, VMB_ENOTSUP);
			return VMB_OK;
		}
		int rc = send_contact(c);
		if (rc < 0)
			fail_connect(c, rc);
		return VMB_OK;
	}
	if (m->connection_state != VMB_CONN_STATE_OK) {
		/* The host knows the version but could not connect
		 * (low resources); trying older versions will not help. */
		fail_connect(c, VMB_ESHUTDOWN);
		return VMB_OK;
	}
	uint32_t version = vmb_versions[c->version_idx];
	uint32_t conn_id = VMB_MSG_CONNECTION_ID;
	if (version >= VMB_VERSION_WIN10_V5) {
		conn_id = vmb_le32(m->msg_conn_id);
		if (conn_id == 0) {
			fail_connect(c, VMB_EPROTO);
			return reject(c, VMB_BAD_FIELD);
		}
	}
	c->version = version;
	c->msg_conn_id = conn_id;
	c->state = VMB_CLIENT_CONNECTED;
	if (c->ops->connected)
		c->ops->connected(c->ctx, version, VMB_OK);

	union vmb_msg_buf b;
	int rc = post(c, c->msg_conn_id, &b,
		      vmb_msg_enc_empty(&b, VMB_MSG_REQUESTOFFERS));
	return rc < 0 ? rc : VMB_OK;
}

/* ---- offers ---- */

/* A channel the guest already holds (not rescinded) for the same device
 * and sub-channel index: drivers find channels by these, so a second one
 * would be ambiguous. */
static bool offer_duplicate(const struct vmb_client *c,
			    const struct vmb_wire_offer *o)
{
	for (uint32_t r = 1; r < c->relid_end; r++) {
		const struct vmb_client_chan *ch = c->chans[r];

		if (ch && !ch->rescinded &&
		    ch->offer.offer.sub_channel_index == o->sub_channel_index &&
		    vmb_guid_eq(&ch->offer.offer.if_type, &o->if_type) &&
		    vmb_guid_eq(&ch->offer.offer.if_instance, &o->if_instance))
			return true;
	}
	return false;
}

static int on_offer(struct vmb_client *c, const struct vmb_msg_offer *m)
{
	uint32_t relid = vmb_le32(m->child_relid);

	/* Sent before the host saw our UNLOAD, and dropped by it with the
	 * rest: nothing to take, nothing to blame. */
	if (c->state == VMB_CLIENT_UNLOADING)
		return VMB_OK;
	if (!connected(c))
		return reject(c, VMB_BAD_STATE);
	if (relid == 0 || relid >= VMB_RELID_MAX || c->chans[relid])
		return reject(c, VMB_BAD_RELID);
	if (m->offer.sub_channel_index && c->version < VMB_VERSION_WIN8)
		return reject(c, VMB_BAD_VERSION);
	if (offer_duplicate(c, &m->offer))
		return reject(c, VMB_BAD_FIELD);

	struct vmb_client_chan *ch = hvis_plat_zalloc(sizeof(*ch));
	if (!ch)
		return VMB_ENOMEM;
	owed_forget(c, relid);
	ch->offer = *m;
	ch->state = CCHAN_CLOSED;
	chan_set(c, relid, ch);
	if (c->ops->offer)
		c->ops->offer(c->ctx, &ch->offer);
	return VMB_OK;
}

static int on_all_offers(struct vmb_client *c)
{
	if (c->state != VMB_CLIENT_CONNECTED)
		return reject(c, VMB_BAD_STATE);
	c->state = VMB_CLIENT_READY;
	if (c->ops->all_offers)
		c->ops->all_offers(c->ctx);
	return VMB_OK;
}

static struct vmb_client_gpadl *gpadl_creating(const struct vmb_client *c,
					       uint32_t relid)
{
	for (struct vmb_client_gpadl *g = c->gpadls; g; g = g->next)
		if (g->relid == relid && g->state == CGPADL_CREATING)
			return g;
	return NULL;
}

/* Complete every request of relid that is still waiting for the host with
 * a failure, so that no embedder waiter hangs on a rescinded channel.
 * State changes come before each callback and nothing is read from the
 * channel after one: the embedder may close, tear down or release from
 * inside it. */
static void fail_pending(struct vmb_client *c, uint32_t relid)
{
	struct vmb_client_chan *ch = c->chans[relid];
	struct vmb_client_gpadl *g;
	bool open_failed = false, modify_failed = false;

	if (ch && ch->state == CCHAN_OPENING) {
		ch->state = CCHAN_CLOSED;
		open_failed = true;
		owe(c, VMB_MSG_OPENCHANNEL_RESULT, relid, ch->open_id);
	}
	if (ch && ch->modify_pending) {
		ch->modify_pending = false;
		modify_failed = true;
		owe(c, VMB_MSG_MODIFYCHANNEL_RESPONSE, relid, 0);
	}
	if (open_failed && c->ops->open_result)
		c->ops->open_result(c->ctx, relid, VMB_STATUS_UNSUCCESSFUL);
	if (modify_failed && c->ops->modify_result)
		c->ops->modify_result(c->ctx, relid, VMB_STATUS_UNSUCCESSFUL);
	while ((g = gpadl_creating(c, relid))) {
		uint32_t id = g->id;
		gpadl_unlink(c, g);
		owe(c, VMB_MSG_GPADL_CREATED, relid, id);
		if (c->ops->gpadl_created)
			c->ops->gpadl_created(c->ctx, relid, id,
					      VMB_STATUS_UNSUCCESSFUL);
	}
}

static int on_rescind(struct vmb_client *c, const struct vmb_msg_relid *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	struct vmb_client_chan *ch = chan_get(c, relid);

	/* dispatch() runs only connected or unloading, and a rescind is
	 * welcome in each of those states. */
	if (!ch || ch->rescinded)
		return reject(c, VMB_BAD_RELID);
	ch->rescinded = true;
	/* The embedder hears of the rescind first, so that it stops using
	 * the channel before its waiters wake with errors. */
	if (c->ops->rescind)
		c->ops->rescind(c->ctx, relid);
	fail_pending(c, relid);
	return VMB_OK;
}

/* ---- GPADL ---- */

static uint32_t gpadl_alloc_id(struct vmb_client *c)
{
	for (;;) {
		uint32_t id = c->next_gpadl++;
		if (id != 0 && !gpadl_find(c, id))
			return id;
	}
}

static int send_gpadl(struct vmb_client *c, uint32_t relid, uint32_t id,
		      const uint64_t *pfn, uint32_t npfn)
{
	union vmb_msg_buf b;
	uint32_t n = npfn < VMB_GPADL_HEADER_PFNS ? npfn : VMB_GPADL_HEADER_PFNS;
	int rc = post(c, c->msg_conn_id, &b,
		      vmb_msg_enc_gpadl_header(&b, relid, id, npfn, pfn, n));

	for (uint32_t msgno = 1, done = n; rc == VMB_OK && done < npfn;
	     msgno++, done += n) {
		n = npfn - done;
		if (n > VMB_GPADL_BODY_PFNS)
			n = VMB_GPADL_BODY_PFNS;
		rc = post(c, c->msg_conn_id, &b,
			  vmb_msg_enc_gpadl_body(&b, msgno, id, pfn + done, n));
	}
	return rc;
}

int vmb_client_gpadl_create(struct vmb_client *c, uint32_t relid,
			    const uint64_t *pfn, uint32_t npfn,
			    uint32_t *gpadl)
{
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!pfn || !gpadl || npfn == 0 || npfn > CLIENT_GPADL_MAX_PFNS)
		return VMB_EINVAL;
	if (!connected(c))
		return VMB_ESHUTDOWN;
	if (!ch)
		return VMB_ENOENT;
	if (ch->rescinded)
		return VMB_ESHUTDOWN;

	struct vmb_client_gpadl *g = hvis_plat_zalloc(sizeof(*g));
	if (!g)
		return VMB_ENOMEM;
	g->id = gpadl_alloc_id(c);
	g->relid = relid;
	g->state = CGPADL_CREATING;
	/* Linked before sending: the answer may arrive from inside post(). */
	g->next = c->gpadls;
	c->gpadls = g;

	uint32_t id = g->id;
	int rc = send_gpadl(c, relid, id, pfn, npfn);
	if (rc < 0) {
		g = gpadl_find(c, id);
		if (g)
			gpadl_unlink(c, g);
		return rc;
	}
	*gpadl = id;
	return VMB_OK;
}

static int on_gpadl_created(struct vmb_client *c,
			    const struct vmb_msg_gpadl_created *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	uint32_t id = vmb_le32(m->gpadl);
	uint32_t status = vmb_le32(m->status);
	struct vmb_client_gpadl *g = gpadl_find(c, id);

	if (!g || g->state != CGPADL_CREATING || g->relid != relid)
		return owed_paid(c, VMB_MSG_GPADL_CREATED, relid, id)
			       ? VMB_OK
			       : reject(c, VMB_BAD_XID);
	if (status == VMB_STATUS_SUCCESS)
		g->state = CGPADL_LIVE;
	else
		gpadl_unlink(c, g);
	if (c->ops->gpadl_created)
		c->ops->gpadl_created(c->ctx, relid, id, status);
	return VMB_OK;
}

int vmb_client_gpadl_teardown(struct vmb_client *c, uint32_t relid,
			      uint32_t gpadl)
{
	struct vmb_client_gpadl *g = gpadl_find(c, gpadl);
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!connected(c))
		return VMB_ESHUTDOWN;
	if (!g || g->relid != relid)
		return VMB_ENOENT;
	if (g->state != CGPADL_LIVE)
		return VMB_EBUSY;
	/* A host refuses to tear down a ring in use and sends no answer. */
	if (ch && ch->state != CCHAN_CLOSED && ch->ring_gpadl == gpadl)
		return VMB_EBUSY;

	union vmb_msg_buf b;
	g->state = CGPADL_TEARING;
	int rc = post(c, c->msg_conn_id, &b,
		      vmb_msg_enc_gpadl_teardown(&b, relid, gpadl));
	if (rc < 0) {
		g = gpadl_find(c, gpadl);
		if (g && g->state == CGPADL_TEARING)
			g->state = CGPADL_LIVE;
	}
	return rc;
}

static int on_gpadl_torndown(struct vmb_client *c,
			     const struct vmb_msg_gpadl_torndown *m)
{
	uint32_t id = vmb_le32(m->gpadl);
	struct vmb_client_gpadl *g = gpadl_find(c, id);

	if (!g || g->state != CGPADL_TEARING)
		return reject(c, VMB_BAD_XID);
	gpadl_unlink(c, g);
	if (c->ops->gpadl_torndown)
		c->ops->gpadl_torndown(c->ctx, id);
	return VMB_OK;
}

/* ---- open, close, modify, release ---- */

int vmb_client_open(struct vmb_client *c, uint32_t relid, uint32_t gpadl,
		    uint32_t downstream_pgoff, uint32_t target_vp,
		    const void *user, uint32_t user_len)
{
	struct vmb_client_chan *ch = chan_get(c, relid);
	struct vmb_client_gpadl *g = gpadl_find(c, gpadl);

	if (user_len > VMB_USERDEF_LEN || (user_len && !user) ||
	    downstream_pgoff == 0)
		return VMB_EINVAL;
	if (!connected(c))
		return VMB_ESHUTDOWN;
	if (!ch || !g || g->relid != relid || g->state != CGPADL_LIVE)
		return VMB_ENOENT;
	if (ch->rescinded)
		return VMB_ESHUTDOWN;
	if (ch->state != CCHAN_CLOSED)
		return VMB_EBUSY;

	uint32_t open_id = c->next_open_id++;
	union vmb_msg_buf b;
	uint32_t len = vmb_msg_enc_open(&b, relid, open_id, gpadl, target_vp,
					downstream_pgoff, user, user_len);
	ch->state = CCHAN_OPENING;
	ch->open_id = open_id;
	ch->ring_gpadl = gpadl;
	int rc = post(c, c->msg_conn_id, &b, len);
	if (rc < 0 && ch->state == CCHAN_OPENING && ch->open_id == open_id)
		ch->state = CCHAN_CLOSED;
	return rc;
}

static int on_open_result(struct vmb_client *c,
			  const struct vmb_msg_open_result *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	uint32_t status = vmb_le32(m->status);
	uint32_t open_id = vmb_le32(m->open_id);
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!ch || ch->state != CCHAN_OPENING || open_id != ch->open_id) {
		if (owed_paid(c, VMB_MSG_OPENCHANNEL_RESULT, relid, open_id))
			return VMB_OK;
		return reject(c, ch ? VMB_BAD_XID : VMB_BAD_RELID);
	}
	ch->state = status == VMB_STATUS_SUCCESS ? CCHAN_OPEN : CCHAN_CLOSED;
	if (c->ops->open_result)
		c->ops->open_result(c->ctx, relid, status);
	return VMB_OK;
}

int vmb_client_close(struct vmb_client *c, uint32_t relid)
{
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!ch)
		return VMB_ENOENT;
	if (ch->state != CCHAN_OPEN)
		return VMB_EBUSY;
	ch->state = CCHAN_CLOSED;
	/* The host closed a rescinded channel on its own; nothing to say. */
	if (ch->rescinded || !connected(c))
		return VMB_OK;

	union vmb_msg_buf b;
	return post(c, c->msg_conn_id, &b,
		    vmb_msg_enc_relid(&b, VMB_MSG_CLOSECHANNEL, relid));
}

int vmb_client_release(struct vmb_client *c, uint32_t relid)
{
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!ch)
		return VMB_ENOENT;
	if (!ch->rescinded || ch->state != CCHAN_CLOSED ||
	    relid_has_gpadls(c, relid))
		return VMB_EBUSY;
	hvis_plat_free(ch);
	chan_set(c, relid, NULL);
	if (!connected(c))
		return VMB_OK;

	union vmb_msg_buf b;
	return post(c, c->msg_conn_id, &b,
		    vmb_msg_enc_relid(&b, VMB_MSG_RELID_RELEASED, relid));
}

int vmb_client_modify(struct vmb_client *c, uint32_t relid,
		      uint32_t target_vp)
{
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!connected(c))
		return VMB_ESHUTDOWN;
	if (c->version < VMB_VERSION_WIN10_V4_1)
		return VMB_ENOTSUP;
	if (!ch)
		return VMB_ENOENT;
	if (ch->rescinded)
		return VMB_ESHUTDOWN;
	if (ch->state != CCHAN_OPEN || ch->modify_pending)
		return VMB_EBUSY;

	bool answered = c->version >= VMB_VERSION_WIN10_V5_3;
	union vmb_msg_buf b;
	ch->modify_pending = answered;
	int rc = post(c, c->msg_conn_id, &b,
		      vmb_msg_enc_modify(&b, relid, target_vp));
	if (rc < 0 && c->chans[relid] == ch)
		ch->modify_pending = false;
	return rc;
}

static int on_modify_response(struct vmb_client *c,
			      const struct vmb_msg_modify_response *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	struct vmb_client_chan *ch = chan_get(c, relid);

	if (!ch || !ch->modify_pending) {
		if (owed_paid(c, VMB_MSG_MODIFYCHANNEL_RESPONSE, relid, 0))
			return VMB_OK;
		return reject(c, ch ? VMB_BAD_XID : VMB_BAD_RELID);
	}
	ch->modify_pending = false;
	if (c->ops->modify_result)
		c->ops->modify_result(c->ctx, relid, vmb_le32(m->status));
	return VMB_OK;
}

/* ---- unload ---- */

static struct vmb_client_gpadl *gpadl_tearing(const struct vmb_client *c)
{
	for (struct vmb_client_gpadl *g = c->gpadls; g; g = g->next)
		if (g->state == CGPADL_TEARING)
			return g;
	return NULL;
}

int vmb_client_unload(struct vmb_client *c)
{
	if (!connected(c))
		return VMB_EBUSY;

	union vmb_msg_buf b;
	enum vmb_client_state prev = c->state;
	c->state = VMB_CLIENT_UNLOADING;
	int rc = post(c, c->msg_conn_id, &b,
		      vmb_msg_enc_empty(&b, VMB_MSG_UNLOAD));
	if (rc < 0 && c->state == VMB_CLIENT_UNLOADING)
		c->state = prev;
	return rc;
}

static int on_unload_response(struct vmb_client *c)
{
	if (c->state != VMB_CLIENT_UNLOADING)
		return reject(c, VMB_BAD_XID);
	/* The host dropped every channel and GPADL: answer whatever was
	 * still waiting (a teardown in flight is done), then forget
	 * everything; live GPADLs and channels end with ops->unloaded. */
	for (uint32_t relid = 1; relid < c->relid_end; relid++)
		if (c->chans[relid])
			fail_pending(c, relid);
	struct vmb_client_gpadl *g;
	while ((g = gpadl_tearing(c))) {
		uint32_t id = g->id;
		gpadl_unlink(c, g);
		if (c->ops->gpadl_torndown)
			c->ops->gpadl_torndown(c->ctx, id);
	}
	drop_all(c);
	c->state = VMB_CLIENT_IDLE;
	c->version = 0;
	if (c->ops->unloaded)
		c->ops->unloaded(c->ctx);
	return VMB_OK;
}

/* ---- input ---- */

/* Messages other than these, while connected or unloading. */
static int dispatch(struct vmb_client *c, int type,
		    const union vmb_msg_buf *m)
{
	switch (type) {
	case VMB_MSG_OFFERCHANNEL:
		return on_offer(c, &m->offer);
	case VMB_MSG_RESCIND_CHANNELOFFER:
		return on_rescind(c, &m->relid);
	case VMB_MSG_ALLOFFERS_DELIVERED:
		return on_all_offers(c);
	case VMB_MSG_OPENCHANNEL_RESULT:
		return on_open_result(c, &m->open_result);
	case VMB_MSG_GPADL_CREATED:
		return on_gpadl_created(c, &m->gpadl_created);
	case VMB_MSG_GPADL_TORNDOWN:
		return on_gpadl_torndown(c, &m->gpadl_torndown);
	case VMB_MSG_UNLOAD_RESPONSE:
		return on_unload_response(c);
	case VMB_MSG_MODIFYCHANNEL_RESPONSE:
		return on_modify_response(c, &m->modify_response);
	case VMB_MSG_TL_CONNECT_RESULT:
	case VMB_MSG_CLOSE_RESERVED_RESPONSE:
		/* This guest never asks for hv_sock connections and never
		 * opens reserved channels: no such answer is awaited. */
		return reject(c, VMB_BAD_XID);
	default:
		/* A guest->host message type coming from the host. */
		return reject(c, VMB_BAD_TYPE);
	}
}

int vmb_client_input(struct vmb_client *c, const void *msg, uint32_t len)
{
	union vmb_msg_buf m;
	enum vmb_bad why;
	int type;

	if (!c || !c->chans || (!msg && len))
		return VMB_EINVAL;
	type = vmb_msg_parse(&m, msg, len, &why);
	if (type < 0)
		return reject(c, why);
	if (type == VMB_MSG_VERSION_RESPONSE)
		return on_version_response(c, &m.version_response);
	if (c->state == VMB_CLIENT_IDLE || c->state == VMB_CLIENT_FAILED ||
	    c->state == VMB_CLIENT_CONTACTING)
		return reject(c, VMB_BAD_STATE);
	return dispatch(c, type, &m);
}

const struct vmb_msg_offer *vmb_client_offer(const struct vmb_client *c,
					     uint32_t relid)
{
	const struct vmb_client_chan *ch = chan_get(c, relid);

	return ch ? &ch->offer : NULL;
}
