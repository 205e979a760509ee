/* Host side of VMBus channel management. See vmb_server.h.
 *
 * Offer connection ids: relid | VMB_MSG_SINT << 12, the layout OpenVMM
 * uses for the id a guest signals (channel id in bits 0-11, SINT in bits
 * 12-15, VTL 0 in bits 16-19). relids stay below VMB_RELID_MAX = 4096 so
 * the channel id never spills into the SINT bits.
 *
 * GPADLs are reassembled from the raw range buffer (range descriptors and
 * PFNs may be split anywhere across GPADL_HEADER and GPADL_BODY) and
 * parsed only when range_buflen bytes have arrived. */
#include "vmb_server.h"
#include "vmb_msg.h"
#include "../plat.h"

#define SERVER_CONN_ID_SHIFT 12
#define SERVER_GPADL_MAX 4096u          /* GPADLs alive at once */
#define SERVER_GPADL_MAX_INCOMPLETE 64u /* being reassembled at once */
/* Range bytes (descriptors and PFNs) held for all GPADLs together: 16 MiB
 * describe about 8 GiB of guest memory, far more than the rings and buffers of
 * any device set need, and bound what a guest can make the host keep. */
#define SERVER_GPADL_MAX_BYTES (16u << 20)
#define SERVER_RING_MIN_PAGES 2u        /* header page + one data page */

_Static_assert(VMB_RELID_MAX <= (1u << SERVER_CONN_ID_SHIFT),
	       "relid fits below the SINT bits of a connection id");

/* A GPADL with its reassembly state. s->gpadls holds &pub. */
struct sgpadl {
	struct vmb_server_gpadl pub;
	uint8_t *buf;        /* range bytes received so far; NULL once parsed */
	uint32_t buflen;     /* range_buflen from the header */
	uint32_t filled;
	uint32_t bodies;     /* GPADL_BODY messages received */
	bool unnumbered;     /* the guest sends msg_number 0 in every body */
};

static struct sgpadl *sg_of(struct vmb_server_gpadl *g)
{
	return (struct sgpadl *)g; /* pub is the first member */
}

static int reject(struct vmb_server *s, enum vmb_bad why)
{
	vmb_bad_count(&s->bad, why);
	return VMB_EPROTO;
}

static int post(struct vmb_server *s, const union vmb_msg_buf *b,
		uint32_t len)
{
	return s->ops->post(s->ctx, b->raw, len);
}

static uint32_t msg_conn_id(const struct vmb_server *s)
{
	return s->version >= VMB_VERSION_WIN10_V5
		       ? VMB_MSG_REDIRECT_CONNECTION_ID
		       : VMB_MSG_CONNECTION_ID;
}

static struct vmb_server_chan *chan_of(const struct vmb_server *s,
				       uint32_t relid)
{
	if (!s->chans || relid == 0 || relid >= VMB_RELID_MAX)
		return NULL;
	return s->chans[relid];
}

/* chans[relid] = ch, keeping relid_end one past the highest channel, so
 * that a scan of the table costs the relids in use, not VMB_RELID_MAX. */
static void chan_set(struct vmb_server *s, uint32_t relid,
		     struct vmb_server_chan *ch)
{
	s->chans[relid] = ch;
	if (ch && relid >= s->relid_end)
		s->relid_end = relid + 1;
	while (s->relid_end && !s->chans[s->relid_end - 1])
		s->relid_end--;
}

/* Offered (open or not) and known to the current guest. */
static bool chan_live(const struct vmb_server_chan *ch)
{
	return ch && ch->sent &&
	       (ch->state == VMB_SCHAN_OFFERED || ch->state == VMB_SCHAN_OPEN);
}

/* Rescinded while the guest still holds the offer: a request of its may
 * cross our RESCIND on the bus, which is no fault of the guest's. */
static bool rescind_unseen(const struct vmb_server_chan *ch)
{
	return ch && ch->sent && ch->state == VMB_SCHAN_RESCINDED;
}

/* The request crossed the RESCIND: counted as raced, to be refused. */
static bool chan_raced(struct vmb_server *s, const struct vmb_server_chan *ch)
{
	if (!rescind_unseen(ch))
		return false;
	s->raced++;
	return true;
}

/* ---- GPADL table ---- */

static struct vmb_server_gpadl *gpadl_find(const struct vmb_server *s,
					   uint32_t id)
{
	for (uint32_t i = 0; i < s->gpadl_count; i++)
		if (s->gpadls[i]->id == id)
			return s->gpadls[i];
	return NULL;
}

static uint32_t gpadl_incomplete(const struct vmb_server *s)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->gpadl_count; i++)
		n += !s->gpadls[i]->complete;
	return n;
}

static int gpadl_add(struct vmb_server *s, struct vmb_server_gpadl *g)
{
	if (s->gpadl_count == s->gpadl_cap) {
		uint32_t cap = s->gpadl_cap ? 2 * s->gpadl_cap : 16;
		struct vmb_server_gpadl **n =
			hvis_plat_zalloc(cap * sizeof(*n));
		if (!n)
			return VMB_ENOMEM;
		if (s->gpadl_count)
			vmb_memcpy(n, s->gpadls,
				   s->gpadl_count * sizeof(*n));
		hvis_plat_free(s->gpadls);
		s->gpadls = n;
		s->gpadl_cap = cap;
	}
	s->gpadls[s->gpadl_count++] = g;
	return VMB_OK;
}

static void gpadl_free(struct vmb_server_gpadl *g)
{
	struct sgpadl *sg = sg_of(g);

	hvis_plat_free(sg->buf);
	hvis_plat_free(g->pfns);
	hvis_plat_free(g->range_len);
	hvis_plat_free(g->range_off);
	hvis_plat_free(sg);
}

/* Remove g from the table; unmap it first if the embedder mapped it. */
static void gpadl_remove(struct vmb_server *s, struct vmb_server_gpadl *g)
{
	for (uint32_t i = 0; i < s->gpadl_count; i++) {
		if (s->gpadls[i] != g)
			continue;
		s->gpadls[i] = s->gpadls[--s->gpadl_count];
		break;
	}
	if (g->complete && s->ops->gpadl_unmap)
		s->ops->gpadl_unmap(s->ctx, g);
	s->gpadl_bytes -= sg_of(g)->buflen;
	gpadl_free(g);
}

static void gpadls_remove_relid(struct vmb_server *s, uint32_t relid)
{
	for (uint32_t i = 0; i < s->gpadl_count;) {
		if (s->gpadls[i]->relid == relid)
			gpadl_remove(s, s->gpadls[i]);
		else
			i++;
	}
}

/* ---- lifecycle ---- */

/* The state init leaves, on the caller's empty relid table. */
static void start(struct vmb_server *s, const struct vmb_server_ops *ops,
		  void *ctx, uint32_t max_version,
		  struct vmb_server_chan **chans)
{
	vmb_memset(s, 0, sizeof(*s));
	s->chans = chans;
	s->ops = ops;
	s->ctx = ctx;
	s->max_version = max_version ? max_version : VMB_VERSION_WIN10_V5_3;
	s->state = VMB_SERVER_DISCONNECTED;
}

int vmb_server_init(struct vmb_server *s, const struct vmb_server_ops *ops,
		    void *ctx, uint32_t max_version)
{
	if (!s || !ops || !ops->post)
		return VMB_EINVAL;
	/* Set up before allocating, so that fini is safe after a failure. */
	start(s, ops, ctx, max_version, NULL);
	s->chans = hvis_plat_zalloc(VMB_RELID_MAX * sizeof(*s->chans));
	return s->chans ? VMB_OK : VMB_ENOMEM;
}

static void close_chan(struct vmb_server *s, uint32_t relid)
{
	struct vmb_server_chan *ch = s->chans[relid];
	struct vmb_server_gpadl *ring = gpadl_find(s, ch->ring_gpadl);

	ch->state = VMB_SCHAN_OFFERED;
	if (ring && ring->relid == relid && ring->users)
		ring->users--;
	if (s->ops->close)
		s->ops->close(s->ctx, relid);
}

/* The channel is gone after this; the embedder may offer on relid again
 * from inside ops->released. */
static void free_relid(struct vmb_server *s, uint32_t relid)
{
	gpadls_remove_relid(s, relid);
	hvis_plat_free(s->chans[relid]);
	chan_set(s, relid, NULL);
	if (s->ops->released)
		s->ops->released(s->ctx, relid);
}

/* What UNLOAD and a vanished guest have in common: every channel closed,
 * every GPADL unmapped, rescinds no longer awaited, offers kept. */
static void disconnect_all(struct vmb_server *s)
{
	if (s->ops->closing_all)
		s->ops->closing_all(s->ctx);
	for (uint32_t relid = 1; relid < s->relid_end; relid++) {
		struct vmb_server_chan *ch = s->chans[relid];

		if (!ch)
			continue;
		ch->sent = false;
		if (ch->state == VMB_SCHAN_OPEN)
			close_chan(s, relid);
		else if (ch->state == VMB_SCHAN_RESCINDED)
			free_relid(s, relid);
	}
	while (s->gpadl_count)
		gpadl_remove(s, s->gpadls[0]);
	s->state = VMB_SERVER_DISCONNECTED;
	s->version = 0;
}

void vmb_server_reset(struct vmb_server *s)
{
	disconnect_all(s);
}

/* disconnect_all, then every offer and the GPADL table freed too. */
static void drop_all(struct vmb_server *s)
{
	disconnect_all(s);
	for (uint32_t relid = 1; relid < s->relid_end; relid++) {
		hvis_plat_free(s->chans[relid]);
		s->chans[relid] = NULL;
	}
	s->relid_end = 0;
	hvis_plat_free(s->gpadls);
	s->gpadls = NULL;
	s->gpadl_count = s->gpadl_cap = 0;
}

void vmb_server_fini(struct vmb_server *s)
{
	if (!s)
		return;
	drop_all(s);
	hvis_plat_free(s->chans);
	s->chans = NULL;
}

void vmb_server_reinit(struct vmb_server *s)
{
	struct vmb_server keep;

	if (!s || !s->chans)
		return;
	drop_all(s);
	keep = *s;
	start(s, keep.ops, keep.ctx, keep.max_version, keep.chans);
}

/* ---- offers ---- */

static bool offer_allowed(const struct vmb_server *s,
			  const struct vmb_server_chan *ch)
{
	/* sub_channel_index is reserved (zero) before 2.4. */
	return !ch->offer.offer.sub_channel_index ||
	       s->version >= VMB_VERSION_WIN8;
}

static int send_offer(struct vmb_server *s, struct vmb_server_chan *ch)
{
	union vmb_msg_buf b;

	if (!offer_allowed(s, ch))
		return VMB_OK;
	ch->sent = true;
	return post(s, &b, vmb_msg_enc_offer(&b, &ch->offer));
}

int vmb_server_offer(struct vmb_server *s, struct vmb_msg_offer *offer,
		     uint32_t *relid)
{
	uint32_t r = relid ? *relid : 0;

	if (!s || !s->chans || !offer || r >= VMB_RELID_MAX)
		return VMB_EINVAL;
	if (r == 0) {
		for (r = 1; r < VMB_RELID_MAX && s->chans[r]; r++)
			;
		if (r == VMB_RELID_MAX)
			return VMB_EBUSY;
	} else if (s->chans[r]) {
		return VMB_EBUSY;
	}
	struct vmb_server_chan *ch = hvis_plat_zalloc(sizeof(*ch));
	if (!ch)
		return VMB_ENOMEM;

	offer->hdr.type = vmb_le32(VMB_MSG_OFFERCHANNEL);
	offer->hdr.padding = 0;
	offer->child_relid = vmb_le32(r);
	offer->connection_id =
		vmb_le32(r | VMB_MSG_SINT << SERVER_CONN_ID_SHIFT);

	ch->state = VMB_SCHAN_OFFERED;
	ch->offer = *offer;
	chan_set(s, r, ch);
	if (relid)
		*relid = r;
	if (s->state == VMB_SERVER_OFFERED)
		return send_offer(s, ch);
	return VMB_OK;
}

int vmb_server_rescind(struct vmb_server *s, uint32_t relid)
{
	struct vmb_server_chan *ch = chan_of(s, relid);

	if (!ch || (ch->state != VMB_SCHAN_OFFERED &&
		    ch->state != VMB_SCHAN_OPEN))
		return VMB_ENOENT;
	if (ch->state == VMB_SCHAN_OPEN)
		close_chan(s, relid);
	if (!ch->sent) {
		/* The guest never heard of it: no release to wait for. */
		free_relid(s, relid);
		return VMB_OK;
	}
	ch->state = VMB_SCHAN_RESCINDED;

	union vmb_msg_buf b;
	return post(s, &b,
		    vmb_msg_enc_relid(&b, VMB_MSG_RESCIND_CHANNELOFFER, relid));
}

const struct vmb_server_chan *vmb_server_chan(const struct vmb_server *s,
					      uint32_t relid)
{
	return chan_of(s, relid);
}

/* ---- connection ---- */

static int refuse_contact(struct vmb_server *s, enum vmb_bad why)
{
	union vmb_msg_buf b;

	post(s, &b, vmb_msg_enc_version_response(&b, false, 0, 0));
	return reject(s, why);
}

static int on_contact(struct vmb_server *s, uint32_t conn_id,
		      const struct vmb_msg_initiate_contact *m)
{
	uint32_t version = vmb_le32(m->version);
	bool mp1 = m->monitor_page1 != 0, mp2 = m->monitor_page2 != 0;
	union vmb_msg_buf b;

	if (s->state != VMB_SERVER_DISCONNECTED)
		return refuse_contact(s, VMB_BAD_STATE);
	if (conn_id != vmb_msg_contact_conn_id(version))
		return refuse_contact(s, VMB_BAD_VERSION);
	if (version >= VMB_VERSION_WIN10_V5 &&
	    (m->msg_sint != VMB_MSG_SINT || m->msg_vtl != 0))
		return refuse_contact(s, VMB_BAD_FIELD);
	if (mp1 != mp2)
		return refuse_contact(s, VMB_BAD_FIELD);
	/* An unknown or too new version is ordinary negotiation: the guest
	 * tries the next lower one. Not counted. */
	if (!vmb_msg_version_known(version) || version > s->max_version)
		return post(s, &b, vmb_msg_enc_version_response(&b, false, 0, 0));

	s->version = version;
	s->state = VMB_SERVER_CONNECTED;
	if (s->ops->connected)
		s->ops->connected(s->ctx, version, m);
	/* Below 5.0 the field is unused; OpenVMM echoes the version. */
	uint32_t id = version >= VMB_VERSION_WIN10_V5 ? msg_conn_id(s)
						      : version;
	return post(s, &b, vmb_msg_enc_version_response(&b, true,
							VMB_CONN_STATE_OK, id));
}

static int on_request_offers(struct vmb_server *s)
{
	union vmb_msg_buf b;

	if (s->state != VMB_SERVER_CONNECTED)
		return reject(s, VMB_BAD_STATE);
	for (uint32_t relid = 1; relid < s->relid_end; relid++) {
		struct vmb_server_chan *ch = s->chans[relid];

		if (ch && ch->state == VMB_SCHAN_OFFERED && !ch->sent) {
			int rc = send_offer(s, ch);
			if (rc < 0)
				return rc;
		}
	}
	s->state = VMB_SERVER_OFFERED;
	return post(s, &b, vmb_msg_enc_empty(&b, VMB_MSG_ALLOFFERS_DELIVERED));
}

static int on_unload(struct vmb_server *s)
{
	union vmb_msg_buf b;

	disconnect_all(s);
	if (s->ops->unloaded)
		s->ops->unloaded(s->ctx);
	return post(s, &b, vmb_msg_enc_empty(&b, VMB_MSG_UNLOAD_RESPONSE));
}

/* ---- GPADL messages ---- */

static int gpadl_reply(struct vmb_server *s, uint32_t relid, uint32_t id,
		       uint32_t status)
{
	union vmb_msg_buf b;

	return post(s, &b, vmb_msg_enc_gpadl_created(&b, relid, id, status));
}

static int gpadl_refuse(struct vmb_server *s, uint32_t relid, uint32_t id,
			enum vmb_bad why)
{
	gpadl_reply(s, relid, id, VMB_STATUS_UNSUCCESSFUL);
	return reject(s, why);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	vmb_memcpy(&v, p, sizeof(v));
	return vmb_le32(v);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	vmb_memcpy(&v, p, sizeof(v));
	return vmb_le64(v);
}

/* PFNs of a range: whole pages from the one holding byte_offset to the
 * one holding the last byte. */
static uint64_t range_pages(uint32_t byte_count, uint32_t byte_offset)
{
	return ((uint64_t)byte_offset + byte_count + VMB_PAGE_SIZE - 1) >>
	       VMB_PAGE_SHIFT;
}

/* First pass over the reassembled buffer: every range well-formed and
 * together exactly range_buflen bytes. Returns the PFN total or 0. */
static uint32_t ranges_check(const struct sgpadl *sg)
{
	uint32_t off = 0;
	uint64_t total = 0;

	for (uint32_t i = 0; i < sg->pub.range_count; i++) {
		if (sg->buflen - off < sizeof(struct vmb_wire_gpa_range))
			return 0;
		uint32_t count = rd32(sg->buf + off);
		uint32_t boff = rd32(sg->buf + off + 4);
		off += sizeof(struct vmb_wire_gpa_range);
		if (count == 0 || boff >= VMB_PAGE_SIZE)
			return 0;
		uint64_t n = range_pages(count, boff);
		if (n > (sg->buflen - off) / 8)
			return 0;
		off += (uint32_t)n * 8;
		total += n;
	}
	if (off != sg->buflen)
		return 0;
	return (uint32_t)total;
}

/* Second pass: fill the public description. */
static int ranges_fill(struct sgpadl *sg, uint32_t total)
{
	struct vmb_server_gpadl *g = &sg->pub;
	uint32_t off = 0, k = 0;

	g->pfns = hvis_plat_zalloc((size_t)total * sizeof(*g->pfns));
	g->range_len = hvis_plat_zalloc(g->range_count * sizeof(uint32_t));
	g->range_off = hvis_plat_zalloc(g->range_count * sizeof(uint32_t));
	if (!g->pfns || !g->range_len || !g->range_off)
		return VMB_ENOMEM;
	for (uint32_t i = 0; i < g->range_count; i++) {
		g->range_len[i] = rd32(sg->buf + off);
		g->range_off[i] = rd32(sg->buf + off + 4);
		off += sizeof(struct vmb_wire_gpa_range);
		uint32_t n = (uint32_t)range_pages(g->range_len[i],
						   g->range_off[i]);
		for (uint32_t j = 0; j < n; j++, off += 8)
			g->pfns[k++] = rd64(sg->buf + off);
	}
	g->pfn_count = total;
	hvis_plat_free(sg->buf);
	sg->buf = NULL;
	return VMB_OK;
}

/* All range bytes are in: parse, let the embedder map, answer. */
static int gpadl_finish(struct vmb_server *s, struct sgpadl *sg)
{
	struct vmb_server_gpadl *g = &sg->pub;
	uint32_t relid = g->relid, id = g->id;
	uint32_t total = ranges_check(sg);

	/* The last body crossed our RESCIND: the guest gave the GPADL up. */
	if (chan_raced(s, chan_of(s, relid))) {
		gpadl_remove(s, g);
		return gpadl_reply(s, relid, id, VMB_STATUS_UNSUCCESSFUL);
	}
	if (!total) {
		gpadl_remove(s, g);
		return gpadl_refuse(s, relid, id, VMB_BAD_GPADL);
	}
	if (ranges_fill(sg, total) < 0) {
		gpadl_remove(s, g);
		gpadl_reply(s, relid, id, VMB_STATUS_UNSUCCESSFUL);
		return VMB_ENOMEM;
	}
	uint32_t status = s->ops->gpadl_map ? s->ops->gpadl_map(s->ctx, g)
					    : VMB_STATUS_SUCCESS;
	if (status != VMB_STATUS_SUCCESS)
		gpadl_remove(s, g);
	else
		g->complete = true;
	return gpadl_reply(s, relid, id, status);
}

static int on_gpadl_header(struct vmb_server *s,
			   const union vmb_msg_buf *m, uint32_t len)
{
	const struct vmb_msg_gpadl_header *h = &m->gpadl_header;
	uint32_t relid = vmb_le32(h->child_relid);
	uint32_t id = vmb_le32(h->gpadl);
	uint32_t buflen = vmb_le16(h->range_buflen);
	uint32_t count = vmb_le16(h->range_count);
	uint32_t data = len - sizeof(*h);
	const struct vmb_server_chan *ch = chan_of(s, relid);

	/* One that crossed our RESCIND is still taken in whole, so that its
	 * bodies are not stray, and refused in gpadl_finish. */
	if (!chan_live(ch) && !rescind_unseen(ch))
		return gpadl_refuse(s, relid, id, VMB_BAD_RELID);
	if (gpadl_find(s, id))
		return gpadl_refuse(s, relid, id, VMB_BAD_GPADL);
	/* Each range needs its descriptor and at least one PFN. */
	if (count == 0 || buflen % 8 || buflen < 16 * count || data % 8 ||
	    data > buflen)
		return gpadl_refuse(s, relid, id, VMB_BAD_GPADL);
	if (s->gpadl_count >= SERVER_GPADL_MAX ||
	    gpadl_incomplete(s) >= SERVER_GPADL_MAX_INCOMPLETE ||
	    buflen > SERVER_GPADL_MAX_BYTES - s->gpadl_bytes)
		return gpadl_refuse(s, relid, id, VMB_BAD_GPADL);

	struct sgpadl *sg = hvis_plat_zalloc(sizeof(*sg));
	uint8_t *buf = hvis_plat_zalloc(buflen);
	if (!sg || !buf || gpadl_add(s, &sg->pub) < 0) {
		hvis_plat_free(sg);
		hvis_plat_free(buf);
		gpadl_reply(s, relid, id, VMB_STATUS_UNSUCCESSFUL);
		return VMB_ENOMEM;
	}
	sg->pub.id = id;
	sg->pub.relid = relid;
	sg->pub.range_count = count;
	sg->buf = buf;
	sg->buflen = buflen;
	s->gpadl_bytes += buflen;
	vmb_memcpy(buf, m->raw + sizeof(*h), data);
	sg->filled = data;
	if (sg->filled == sg->buflen)
		return gpadl_finish(s, sg);
	return VMB_OK;
}

/* Guests number bodies 1, 2, ... (this client) or leave the field 0 in
 * all of them (Linux; OpenVMM ignores it). The first body decides. */
static bool body_number_ok(struct sgpadl *sg, uint32_t msg_number)
{
	if (sg->bodies == 0) {
		sg->unnumbered = msg_number == 0;
		return msg_number <= 1;
	}
	return sg->unnumbered ? msg_number == 0 : msg_number == sg->bodies + 1;
}

static int on_gpadl_body(struct vmb_server *s, const union vmb_msg_buf *m,
			 uint32_t len)
{
	const struct vmb_msg_gpadl_body *h = &m->gpadl_body;
	struct vmb_server_gpadl *g = gpadl_find(s, vmb_le32(h->gpadl));
	uint32_t data = len - sizeof(*h);

	/* Without a pending GPADL there is no relid to answer to. */
	if (!g || g->complete)
		return reject(s, VMB_BAD_GPADL);

	struct sgpadl *sg = sg_of(g);
	uint32_t relid = g->relid, id = g->id;
	if (data == 0 || data % 8 || data > sg->buflen - sg->filled ||
	    !body_number_ok(sg, vmb_le32(h->msg_number))) {
		gpadl_remove(s, g);
		return gpadl_refuse(s, relid, id, VMB_BAD_GPADL);
	}
	vmb_memcpy(sg->buf + sg->filled, m->raw + sizeof(*h), data);
	sg->filled += data;
	sg->bodies++;
	if (sg->filled == sg->buflen)
		return gpadl_finish(s, sg);
	return VMB_OK;
}

static int on_gpadl_teardown(struct vmb_server *s,
			     const struct vmb_msg_gpadl_teardown *m)
{
	uint32_t id = vmb_le32(m->gpadl);
	struct vmb_server_gpadl *g = gpadl_find(s, id);
	union vmb_msg_buf b;

	if (!g || !g->complete || g->relid != vmb_le32(m->child_relid))
		return reject(s, VMB_BAD_GPADL);
	if (g->users || g->tearing)
		return reject(s, VMB_BAD_STATE);
	if (s->ops->gpadl_teardown && !s->ops->gpadl_teardown(s->ctx, g)) {
		g->tearing = true;
		return VMB_OK;
	}
	gpadl_remove(s, g);
	return post(s, &b, vmb_msg_enc_gpadl_torndown(&b, id));
}

int vmb_server_gpadl_release(struct vmb_server *s, uint32_t id)
{
	struct vmb_server_gpadl *g = gpadl_find(s, id);
	union vmb_msg_buf b;

	if (!g || !g->tearing)
		return VMB_ENOENT;
	gpadl_remove(s, g);
	return post(s, &b, vmb_msg_enc_gpadl_torndown(&b, id));
}

/* ---- channel messages ---- */

static int open_reply(struct vmb_server *s, const struct vmb_msg_open *m,
		      uint32_t status)
{
	union vmb_msg_buf b;

	return post(s, &b, vmb_msg_enc_open_result(
				   &b, vmb_le32(m->child_relid),
				   vmb_le32(m->open_id), status));
}

static int open_refuse(struct vmb_server *s, const struct vmb_msg_open *m,
		       enum vmb_bad why)
{
	open_reply(s, m, VMB_STATUS_UNSUCCESSFUL);
	return reject(s, why);
}

/* The ring GPADL: one page-aligned range of whole pages, split into an
 * outbound ring of pgoff pages and an inbound ring of the rest. The first
 * range covering every PFN as whole pages implies both: a nonzero offset
 * or a further range would need at least one PFN more. (range_buflen is
 * 16 bits, so pfn_count * VMB_PAGE_SIZE cannot wrap.) */
static bool ring_ok(const struct vmb_server_gpadl *g, uint32_t pgoff)
{
	if (g->range_len[0] != g->pfn_count * VMB_PAGE_SIZE)
		return false;
	return pgoff >= SERVER_RING_MIN_PAGES &&
	       g->pfn_count >= 2 * SERVER_RING_MIN_PAGES &&
	       pgoff <= g->pfn_count - SERVER_RING_MIN_PAGES;
}

static int on_open(struct vmb_server *s, const struct vmb_msg_open *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	struct vmb_server_chan *ch = chan_of(s, relid);
	struct vmb_server_gpadl *g = gpadl_find(s, vmb_le32(m->ring_gpadl));
	struct vmb_server_open o = {
		.relid = relid,
		.open_id = vmb_le32(m->open_id),
		.target_vp = vmb_le32(m->target_vp),
		.downstream_pgoff = vmb_le32(m->downstream_page_offset),
		.ring = g,
	};

	if (chan_raced(s, ch))
		return open_reply(s, m, VMB_STATUS_UNSUCCESSFUL);
	if (!chan_live(ch))
		return open_refuse(s, m, VMB_BAD_RELID);
	if (ch->state == VMB_SCHAN_OPEN)
		return open_refuse(s, m, VMB_BAD_STATE);
	if (!g || !g->complete || g->tearing || g->relid != relid)
		return open_refuse(s, m, VMB_BAD_GPADL);
	if (!ring_ok(g, o.downstream_pgoff))
		return open_refuse(s, m, VMB_BAD_FIELD);

	vmb_memcpy(o.user_data, m->user_data, VMB_USERDEF_LEN);
	uint32_t status = s->ops->open ? s->ops->open(s->ctx, &o)
				       : VMB_STATUS_SUCCESS;
	if (status == VMB_STATUS_SUCCESS) {
		ch->state = VMB_SCHAN_OPEN;
		ch->ring_gpadl = g->id;
		ch->target_vp = o.target_vp;
		g->users++;
	}
	return open_reply(s, m, status);
}

static int on_close(struct vmb_server *s, const struct vmb_msg_relid *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	struct vmb_server_chan *ch = chan_of(s, relid);

	/* A guest may close before it sees the rescind; the host already
	 * closed the channel then. */
	if (ch && ch->state == VMB_SCHAN_RESCINDED)
		return VMB_OK;
	if (!chan_live(ch))
		return reject(s, VMB_BAD_RELID);
	if (ch->state != VMB_SCHAN_OPEN)
		return reject(s, VMB_BAD_STATE);
	close_chan(s, relid);
	return VMB_OK;
}

static int on_released(struct vmb_server *s, const struct vmb_msg_relid *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	struct vmb_server_chan *ch = chan_of(s, relid);

	if (!ch || ch->state != VMB_SCHAN_RESCINDED)
		return reject(s, VMB_BAD_RELID);
	free_relid(s, relid);
	return VMB_OK;
}

static int on_modify(struct vmb_server *s, const struct vmb_msg_modify *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	uint32_t vp = vmb_le32(m->target_vp);
	struct vmb_server_chan *ch = chan_of(s, relid);
	uint32_t status = VMB_STATUS_UNSUCCESSFUL;
	int rc = VMB_OK;
	union vmb_msg_buf b;

	if (s->version < VMB_VERSION_WIN10_V4_1)
		return reject(s, VMB_BAD_VERSION);
	if (!chan_live(ch) || ch->state != VMB_SCHAN_OPEN) {
		if (!chan_raced(s, ch))
			rc = reject(s, ch && ch->sent ? VMB_BAD_STATE
						      : VMB_BAD_RELID);
	} else {
		status = s->ops->modify ? s->ops->modify(s->ctx, relid, vp)
					: VMB_STATUS_SUCCESS;
		if (status == VMB_STATUS_SUCCESS)
			ch->target_vp = vp;
	}
	if (s->version >= VMB_VERSION_WIN10_V5_3)
		post(s, &b, vmb_msg_enc_modify_response(&b, relid, status));
	return rc;
}

static int on_tl_connect(struct vmb_server *s,
			 const struct vmb_msg_tl_connect_request *m)
{
	union vmb_msg_buf b;

	if (s->version < VMB_VERSION_WIN10)
		return reject(s, VMB_BAD_VERSION);
	/* No hv_sock services here. 4.0 has no result message: the guest
	 * times out. */
	if (s->version < VMB_VERSION_WIN10_V4_1)
		return VMB_OK;
	return post(s, &b, vmb_msg_enc_tl_connect_result(
				   &b, &m->guest_endpoint_id,
				   &m->host_service_id,
				   VMB_STATUS_CONNECTION_REFUSED));
}

/* This host offers no reserved channels (vmb_wire.h): a guest asking for
 * one gets the answer of a failed open, so it is not left waiting; on the
 * ordinary message connection, as post() has no other VP or SINT. */
static int on_open_reserved(struct vmb_server *s,
			    const struct vmb_msg_open_reserved *m)
{
	uint32_t relid = vmb_le32(m->child_relid);
	struct vmb_server_chan *ch = chan_of(s, relid);
	union vmb_msg_buf b;

	if (s->version < VMB_VERSION_WIN10)
		return reject(s, VMB_BAD_VERSION);
	if (!chan_raced(s, ch)) {
		if (!chan_live(ch))
			return reject(s, VMB_BAD_RELID);
		if (ch->state == VMB_SCHAN_OPEN)
			return reject(s, VMB_BAD_STATE);
	}
	return post(s, &b, vmb_msg_enc_open_result(&b, relid, 0,
						   VMB_STATUS_UNSUCCESSFUL));
}

/* No reserved channel is ever open here, so there is nothing to close;
 * OpenVMM sends CLOSE_RESERVED_RESPONSE only for a channel it closed, so
 * nothing is answered either. */
static int on_close_reserved(struct vmb_server *s,
			     const struct vmb_msg_close_reserved *m)
{
	struct vmb_server_chan *ch = chan_of(s, vmb_le32(m->child_relid));

	if (chan_live(ch) || chan_raced(s, ch))
		return VMB_OK;
	return reject(s, VMB_BAD_RELID);
}

static int dispatch(struct vmb_server *s, int type,
		    const union vmb_msg_buf *m, uint32_t len)
{
	switch (type) {
	case VMB_MSG_REQUESTOFFERS:
		return on_request_offers(s);
	case VMB_MSG_OPENCHANNEL:
		return on_open(s, &m->open);
	case VMB_MSG_CLOSECHANNEL:
		return on_close(s, &m->relid);
	case VMB_MSG_GPADL_HEADER:
		return on_gpadl_header(s, m, len);
	case VMB_MSG_GPADL_BODY:
		return on_gpadl_body(s, m, len);
	case VMB_MSG_GPADL_TEARDOWN:
		return on_gpadl_teardown(s, &m->gpadl_teardown);
	case VMB_MSG_RELID_RELEASED:
		return on_released(s, &m->relid);
	case VMB_MSG_UNLOAD:
		return on_unload(s);
	case VMB_MSG_TL_CONNECT_REQUEST:
		return on_tl_connect(s, &m->tl_connect_request);
	case VMB_MSG_MODIFYCHANNEL:
		return on_modify(s, &m->modify);
	case VMB_MSG_OPEN_RESERVED:
		return on_open_reserved(s, &m->open_reserved);
	case VMB_MSG_CLOSE_RESERVED:
		return on_close_reserved(s, &m->close_reserved);
	default:
		/* A host->guest message type coming from the guest. */
		return reject(s, VMB_BAD_TYPE);
	}
}

int vmb_server_input(struct vmb_server *s, uint32_t conn_id, const void *msg,
		     uint32_t len)
{
	union vmb_msg_buf m;
	enum vmb_bad why;
	int type;

	if (!s || !s->chans || (!msg && len))
		return VMB_EINVAL;
	type = vmb_msg_parse(&m, msg, len, &why);
	if (type < 0)
		return reject(s, why);
	if (type == VMB_MSG_INITIATE_CONTACT)
		return on_contact(s, conn_id, &m.initiate_contact);
	if (s->state == VMB_SERVER_DISCONNECTED)
		return reject(s, VMB_BAD_STATE);
	if (conn_id != msg_conn_id(s))
		return reject(s, VMB_BAD_VERSION);
	return dispatch(s, type, &m, len);
}
