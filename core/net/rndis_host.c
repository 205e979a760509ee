/* The host's RNDIS device: control messages in, completions out. */
#include "net/rndis_host.h"

static const char *const bad_names[RNDIS_HBAD__COUNT] = {
	[RNDIS_HBAD_SHORT] = "short",
	[RNDIS_HBAD_MSGLEN] = "msg-len",
	[RNDIS_HBAD_TYPE] = "type",
	[RNDIS_HBAD_STATE] = "state",
	[RNDIS_HBAD_VERSION] = "version",
	[RNDIS_HBAD_BUFFER] = "oid-buffer",
	[RNDIS_HBAD_OID_LEN] = "oid-length",
	[RNDIS_HBAD_OID_VALUE] = "oid-value",
	[RNDIS_HBAD_RSS] = "rss-params",
	[RNDIS_HBAD_CONFIG] = "config-param",
};

const char *rndis_host_bad_name(enum rndis_host_bad b)
{
	return (unsigned)b < RNDIS_HBAD__COUNT ? bad_names[b] : "?";
}

static const uint32_t supported_oids[] = {
	RNDIS_OID_SUPPORTED_LIST,     RNDIS_OID_MAX_FRAME_SIZE,
	RNDIS_OID_LINK_SPEED,         RNDIS_OID_PACKET_FILTER,
	RNDIS_OID_MEDIA_CONNECT_STATUS, RNDIS_OID_CONFIG_PARAMETER,
	RNDIS_OID_RSS_CAPS,           RNDIS_OID_RSS_PARAMS,
	RNDIS_OID_MAX_LINK_SPEED,     RNDIS_OID_LINK_STATE,
	RNDIS_OID_FRIENDLY_NAME,
	RNDIS_OID_PERMANENT_ADDRESS,  RNDIS_OID_CURRENT_ADDRESS,
	RNDIS_OID_OFFLOAD_ENCAP,      RNDIS_OID_OFFLOAD_CURRENT,
	RNDIS_OID_OFFLOAD_PARAMS,     RNDIS_OID_OFFLOAD_HWCAPS,
};

/* Hyper-V's own answer, which Linux guests know not to take as the
 * interface's alias. */
static const char default_name[] = "Network Adapter";

/* What is advertised: the backend's abilities the configuration offers.
 * LSO over IPv4 needs the IPv4 header checksum as well (the guest leaves
 * it to the host in LSO packets). */
static uint32_t offered_caps(const struct rndis_host_cfg *c)
{
	uint32_t o = c->backend;

	if (!c->offer_udp_csum)
		o &= ~(RNDIS_HCAP_CSUM_UDP4 | RNDIS_HCAP_CSUM_UDP6);
	if (!c->offer_lso || !(o & RNDIS_HCAP_CSUM_IP4))
		o &= ~RNDIS_HCAP_LSO4;
	if (!c->offer_lso)
		o &= ~RNDIS_HCAP_LSO6;
	if (!c->offer_rsc)
		o &= ~RNDIS_HCAP_RSC;
	return o;
}

void rndis_host_init(struct rndis_host *h, const struct rndis_host_cfg *cfg)
{
	vmb_memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->cfg.name[RNDIS_HOST_NAME_MAX] = 0;
	if (!h->cfg.mtu)
		h->cfg.mtu = 1500;
	if (!h->cfg.max_queues)
		h->cfg.max_queues = 1;
	vmb_memcpy(h->mac, cfg->mac, 6);
	h->offered = offered_caps(&h->cfg);
	h->state = RNDIS_HS_UNINIT;
}

void rndis_host_offer_rsc(struct rndis_host *h, bool on)
{
	h->cfg.offer_rsc = on;
	h->offered = offered_caps(&h->cfg);
	if (!(h->offered & RNDIS_HCAP_RSC))
		h->offload.rsc4 = h->offload.rsc6 = false;
}

void rndis_host_set_link(struct rndis_host *h, bool up, uint32_t speed)
{
	h->cfg.link_up = up;
	h->cfg.link_speed = speed;
}

/* ---- replies ---- */

/* One request as read from the guest: its msg_len already checked. */
struct req {
	const uint8_t *msg;
	uint32_t len;     /* msg_len */
	uint32_t type;
	uint32_t req_id;  /* 0 when the message is too short to have one */
};

static void status_reply(struct rndis_host_act *a, const struct req *r,
			 uint32_t status)
{
	struct rndis_status_cmplt c = {
		.hdr = { vmb_le32(r->type | RNDIS_MSG_CMPLT),
			 vmb_le32(sizeof(c)) },
		.req_id = vmb_le32(r->req_id),
		.status = vmb_le32(status),
	};

	vmb_memcpy(a->reply, &c, sizeof(c));
	a->reply_len = sizeof(c);
}

static void query_reply(struct rndis_host_act *a, const struct req *r,
			uint32_t status, const void *val, uint32_t n)
{
	struct rndis_query_cmplt c = {
		.hdr = { vmb_le32(RNDIS_MSG_QUERY_C), vmb_le32(sizeof(c) + n) },
		.req_id = vmb_le32(r->req_id),
		.status = vmb_le32(status),
		.buflen = vmb_le32(n),
		.buf_offset = vmb_le32(sizeof(c) - RNDIS_OFF_BASE),
	};

	vmb_memcpy(a->reply, &c, sizeof(c));
	if (n)
		vmb_memcpy(a->reply + sizeof(c), val, n);
	a->reply_len = sizeof(c) + n;
}

static void init_reply(struct rndis_host_act *a, const struct req *r,
		       uint32_t status)
{
	struct rndis_init_cmplt c = {
		.hdr = { vmb_le32(RNDIS_MSG_INIT_C), vmb_le32(sizeof(c)) },
		.req_id = vmb_le32(r->req_id),
		.status = vmb_le32(status),
		.major = vmb_le32(RNDIS_MAJOR),
		.minor = vmb_le32(RNDIS_MINOR),
		.dev_flags = vmb_le32(RNDIS_DF_CONNECTIONLESS),
		.medium = vmb_le32(RNDIS_MEDIUM_802_3),
		.max_pkts = vmb_le32(RNDIS_HOST_MAX_PKTS),
		.max_xfer = vmb_le32(RNDIS_HOST_MAX_XFER),
		.align_factor = vmb_le32(RNDIS_HOST_ALIGN_SHIFT),
	};

	vmb_memcpy(a->reply, &c, sizeof(c));
	a->reply_len = sizeof(c);
}

static void reset_reply(struct rndis_host_act *a, uint32_t status)
{
	struct rndis_reset_cmplt c = {
		.hdr = { vmb_le32(RNDIS_MSG_RESET_C), vmb_le32(sizeof(c)) },
		.status = vmb_le32(status),
	};

	vmb_memcpy(a->reply, &c, sizeof(c));
	a->reply_len = sizeof(c);
}

/* The failure answer of r's kind (none for HALT and unknown types). */
static void fail_reply(struct rndis_host_act *a, const struct req *r,
		       uint32_t status)
{
	switch (r->type) {
	case RNDIS_MSG_INIT:
		init_reply(a, r, status);
		break;
	case RNDIS_MSG_QUERY:
		query_reply(a, r, status, NULL, 0);
		break;
	case RNDIS_MSG_SET:
	case RNDIS_MSG_KEEPALIVE:
		status_reply(a, r, status);
		break;
	case RNDIS_MSG_RESET:
		reset_reply(a, status);
		break;
	default:
		break;
	}
}

static void refuse(struct rndis_host *h, struct rndis_host_act *a,
		   const struct req *r, enum rndis_host_bad why,
		   uint32_t status)
{
	h->st.bad[why]++;
	fail_reply(a, r, status);
}

/* ---- QUERY ---- */

static uint32_t name_utf16(const struct rndis_host *h, uint8_t *out)
{
	const char *s = h->cfg.name[0] ? h->cfg.name : default_name;
	uint32_t i = 0;

	for (;; i++) {
		out[2 * i] = (uint8_t)(s[i] & 0x7F);
		out[2 * i + 1] = 0;
		if (!s[i])
			break;
	}
	return 2 * (i + 1);
}

/* The largest revision of a variable-size answer whose size fits the
 * guest's buffer (0: the guest did not say, the largest). 0 if none. */
static uint32_t pick_size(uint32_t buflen, const uint32_t *sizes, unsigned n)
{
	for (unsigned i = n; i-- > 0;)
		if (!buflen || buflen >= sizes[i])
			return sizes[i];
	return 0;
}

static void csum_caps(const struct rndis_host *h, struct ndis_csum_caps *c)
{
	uint32_t o = h->offered, f4 = 0, f6 = 0;

	if (o & RNDIS_HCAP_CSUM_IP4)
		f4 |= NDIS_CSUM_IP4HDR | NDIS_CSUM_IPOPT;
	if (o & RNDIS_HCAP_CSUM_TCP4)
		f4 |= NDIS_CSUM_TCP | NDIS_CSUM_TCPOPT;
	if (o & RNDIS_HCAP_CSUM_UDP4)
		f4 |= NDIS_CSUM_UDP;
	if (o & RNDIS_HCAP_CSUM_TCP6)
		f6 |= NDIS_CSUM_TCP | NDIS_CSUM_TCPOPT | NDIS_CSUM_IPOPT;
	if (o & RNDIS_HCAP_CSUM_UDP6)
		f6 |= NDIS_CSUM_UDP | NDIS_CSUM_IPOPT;
	c->ip4_tx_encap = c->ip4_rx_encap = vmb_le32(NDIS_ENCAP_802_3);
	c->ip6_tx_encap = c->ip6_rx_encap = vmb_le32(NDIS_ENCAP_802_3);
	c->ip4_tx_flags = c->ip4_rx_flags = vmb_le32(f4);
	c->ip6_tx_flags = c->ip6_rx_flags = vmb_le32(f6);
}

static void lso_caps(const struct rndis_host *h, struct ndis_lsov2_caps *l)
{
	if (h->offered & RNDIS_HCAP_LSO4) {
		l->ip4_encap = vmb_le32(NDIS_ENCAP_802_3);
		l->ip4_maxsz = vmb_le32(RNDIS_LSO_MAX_SIZE);
		l->ip4_minsg = vmb_le32(RNDIS_LSO_MIN_SEGS);
	}
	if (h->offered & RNDIS_HCAP_LSO6) {
		l->ip6_encap = vmb_le32(NDIS_ENCAP_802_3);
		l->ip6_maxsz = vmb_le32(RNDIS_LSO_MAX_SIZE);
		l->ip6_minsg = vmb_le32(RNDIS_LSO_MIN_SEGS);
		l->ip6_opts = vmb_le32(NDIS_LSO6_EXTHDR | NDIS_LSO6_TCPOPT);
	}
}

static void q_offload(struct rndis_host *h, struct rndis_host_act *a,
		      const struct req *r, uint32_t buflen)
{
	static const uint32_t sizes[] = { NDIS_OFFLOAD_SIZE_1,
					  NDIS_OFFLOAD_SIZE_2,
					  NDIS_OFFLOAD_SIZE_3 };
	uint32_t n = pick_size(buflen, sizes, 3);
	struct ndis_offload o = { .hdr.type = NDIS_OBJ_OFFLOAD };

	if (!n) {
		refuse(h, a, r, RNDIS_HBAD_OID_LEN, RNDIS_ST_BUFFER_TOO_SHORT);
		return;
	}
	o.hdr.revision = n == NDIS_OFFLOAD_SIZE_1 ? 1
			 : n == NDIS_OFFLOAD_SIZE_2 ? 2 : 3;
	o.hdr.size = vmb_le16((uint16_t)n);
	csum_caps(h, &o.csum);
	lso_caps(h, &o.lsov2);
	o.rsc_ip4 = o.rsc_ip6 = (h->offered & RNDIS_HCAP_RSC) ? 1 : 0;
	query_reply(a, r, RNDIS_ST_SUCCESS, &o, n);
}

static void q_rss_caps(struct rndis_host *h, struct rndis_host_act *a,
		       const struct req *r, uint32_t buflen)
{
	static const uint32_t sizes[] = { NDIS_RSS_CAPS_SIZE_1,
					  NDIS_RSS_CAPS_SIZE_2 };
	uint32_t n = pick_size(buflen, sizes, 2);
	struct ndis_rss_caps c = {
		.hdr = { NDIS_OBJ_RSS_CAPS, 2, vmb_le16(NDIS_RSS_CAPS_SIZE_2) },
		.caps = vmb_le32(NDIS_RSS_CAP_TOEPLITZ | NDIS_RSS_CAP_TCP4 |
				 NDIS_RSS_CAP_TCP6),
		.num_msi = vmb_le32(1),
		.num_rx_queues = vmb_le32(h->cfg.max_queues),
		.num_entries = vmb_le16(NDIS_RSS_TABLE_MAX),
	};

	if (!n) {
		refuse(h, a, r, RNDIS_HBAD_OID_LEN, RNDIS_ST_BUFFER_TOO_SHORT);
		return;
	}
	if (n == NDIS_RSS_CAPS_SIZE_1) {
		c.hdr.revision = 1;
		c.hdr.size = vmb_le16(NDIS_RSS_CAPS_SIZE_1);
	}
	query_reply(a, r, RNDIS_ST_SUCCESS, &c, n);
}

static void q_encap(struct rndis_host_act *a, const struct req *r)
{
	struct ndis_offload_encap e = {
		.hdr = { NDIS_OBJ_OFFLOAD_ENCAP, 1, vmb_le16(sizeof(e)) },
		.ip4_enabled = vmb_le32(1),
		.ip4_type = vmb_le32(NDIS_ENCAP_802_3),
		.ip4_hdr_size = vmb_le32(14),
		.ip6_enabled = vmb_le32(1),
		.ip6_type = vmb_le32(NDIS_ENCAP_802_3),
		.ip6_hdr_size = vmb_le32(14),
	};

	query_reply(a, r, RNDIS_ST_SUCCESS, &e, sizeof(e));
}

static void q_u32(struct rndis_host_act *a, const struct req *r, uint32_t v)
{
	v = vmb_le32(v);
	query_reply(a, r, RNDIS_ST_SUCCESS, &v, 4);
}

static void q_max_speed(const struct rndis_host *h, struct rndis_host_act *a,
			const struct req *r)
{
	uint64_t bps = (uint64_t)h->cfg.link_speed * 100;
	struct ndis_link_speed s = { vmb_le64(bps), vmb_le64(bps) };

	query_reply(a, r, RNDIS_ST_SUCCESS, &s, sizeof(s));
}

static void q_link_state(const struct rndis_host *h,
			 struct rndis_host_act *a, const struct req *r)
{
	uint64_t bps = (uint64_t)h->cfg.link_speed * 100;
	struct ndis_link_state s = {
		.hdr = { NDIS_OBJ_DEFAULT, 1, vmb_le16(sizeof(s)) },
		.media_state = vmb_le32(h->cfg.link_up
						? NDIS_MEDIA_STATE_CONNECTED
						: NDIS_MEDIA_STATE_DISCONNECTED),
		.duplex = vmb_le32(NDIS_DUPLEX_FULL),
		.xmit_speed = vmb_le64(bps),
		.rcv_speed = vmb_le64(bps),
	};

	query_reply(a, r, RNDIS_ST_SUCCESS, &s, sizeof(s));
}

static void q_list(struct rndis_host_act *a, const struct req *r)
{
	uint32_t v[VMB_ARRAY_LEN(supported_oids)];

	for (unsigned i = 0; i < VMB_ARRAY_LEN(v); i++)
		v[i] = vmb_le32(supported_oids[i]);
	query_reply(a, r, RNDIS_ST_SUCCESS, v, sizeof(v));
}

static void q_name(const struct rndis_host *h, struct rndis_host_act *a,
		   const struct req *r)
{
	uint8_t s[2 * (RNDIS_HOST_NAME_MAX + 1)];

	query_reply(a, r, RNDIS_ST_SUCCESS, s, name_utf16(h, s));
}

/* Queries whose answer does not depend on the guest's buffer. */
static bool q_simple(struct rndis_host *h, struct rndis_host_act *a,
		     const struct req *r, uint32_t oid)
{
	switch (oid) {
	case RNDIS_OID_MAX_FRAME_SIZE:
		q_u32(a, r, h->cfg.mtu);
		return true;
	case RNDIS_OID_LINK_SPEED:
		q_u32(a, r, h->cfg.link_speed);
		return true;
	case RNDIS_OID_PACKET_FILTER:
		q_u32(a, r, h->filter);
		return true;
	case RNDIS_OID_MEDIA_CONNECT_STATUS:
		q_u32(a, r, h->cfg.link_up ? RNDIS_MEDIA_CONNECTED
					   : RNDIS_MEDIA_DISCONNECTED);
		return true;
	case RNDIS_OID_PERMANENT_ADDRESS:
		query_reply(a, r, RNDIS_ST_SUCCESS, h->cfg.mac, 6);
		return true;
	case RNDIS_OID_CURRENT_ADDRESS:
		query_reply(a, r, RNDIS_ST_SUCCESS, h->mac, 6);
		return true;
	default:
		return false;
	}
}

static void on_query(struct rndis_host *h, struct rndis_host_act *a,
		     const struct req *r, uint32_t oid, uint32_t buflen)
{
	if (q_simple(h, a, r, oid))
		return;
	switch (oid) {
	case RNDIS_OID_SUPPORTED_LIST:
		q_list(a, r);
		break;
	case RNDIS_OID_MAX_LINK_SPEED:
		q_max_speed(h, a, r);
		break;
	case RNDIS_OID_LINK_STATE:
		q_link_state(h, a, r);
		break;
	case RNDIS_OID_FRIENDLY_NAME:
		q_name(h, a, r);
		break;
	case RNDIS_OID_OFFLOAD_ENCAP:
		q_encap(a, r);
		break;
	case RNDIS_OID_OFFLOAD_HWCAPS:
	case RNDIS_OID_OFFLOAD_CURRENT:
		q_offload(h, a, r, buflen);
		break;
	case RNDIS_OID_RSS_CAPS:
		q_rss_caps(h, a, r, buflen);
		break;
	default:
		h->st.unsupported++;
		query_reply(a, r, RNDIS_ST_NOT_SUPPORTED, NULL, 0);
		return;
	}
}

/* ---- SET ---- */

/* One checksum setting: 0 keeps both, 1 neither, 2 TX, 3 RX, 4 both;
 * only what is offered can be on. */
static void apply_csum(uint8_t v, bool *tx, bool *rx, bool offered)
{
	if (v == NDIS_OFFP_NOCHG)
		return;
	*tx = offered && (v == NDIS_OFFP_CSUM_TX || v == NDIS_OFFP_CSUM_TXRX);
	*rx = offered && (v == NDIS_OFFP_CSUM_RX || v == NDIS_OFFP_CSUM_TXRX);
}

static void apply_onoff(uint8_t v, bool *on, bool offered)
{
	if (v != NDIS_OFFP_NOCHG)
		*on = offered && v == NDIS_OFFP_ON;
}

static bool offp_valid(const struct ndis_offload_params *p)
{
	return p->ip4csum <= NDIS_OFFP_CSUM_TXRX &&
	       p->tcp4csum <= NDIS_OFFP_CSUM_TXRX &&
	       p->udp4csum <= NDIS_OFFP_CSUM_TXRX &&
	       p->tcp6csum <= NDIS_OFFP_CSUM_TXRX &&
	       p->udp6csum <= NDIS_OFFP_CSUM_TXRX &&
	       p->lsov2_ip4 <= NDIS_OFFP_ON && p->lsov2_ip6 <= NDIS_OFFP_ON &&
	       p->rsc_ip4 <= NDIS_OFFP_ON && p->rsc_ip6 <= NDIS_OFFP_ON;
}

static void apply_offload(struct rndis_offload_state *s, uint32_t o,
			  const struct ndis_offload_params *p)
{
	apply_csum(p->ip4csum, &s->tx_ip4, &s->rx_ip4, o & RNDIS_HCAP_CSUM_IP4);
	apply_csum(p->tcp4csum, &s->tx_tcp4, &s->rx_tcp4,
		   o & RNDIS_HCAP_CSUM_TCP4);
	apply_csum(p->udp4csum, &s->tx_udp4, &s->rx_udp4,
		   o & RNDIS_HCAP_CSUM_UDP4);
	apply_csum(p->tcp6csum, &s->tx_tcp6, &s->rx_tcp6,
		   o & RNDIS_HCAP_CSUM_TCP6);
	apply_csum(p->udp6csum, &s->tx_udp6, &s->rx_udp6,
		   o & RNDIS_HCAP_CSUM_UDP6);
	apply_onoff(p->lsov2_ip4, &s->lso4, o & RNDIS_HCAP_LSO4);
	apply_onoff(p->lsov2_ip6, &s->lso6, o & RNDIS_HCAP_LSO6);
	apply_onoff(p->rsc_ip4, &s->rsc4, o & RNDIS_HCAP_RSC);
	apply_onoff(p->rsc_ip6, &s->rsc6, o & RNDIS_HCAP_RSC);
}

/* Revision 1 (20 bytes), 2 (22) or 3 (28): Linux writes a revision-3
 * header but sends 22 bytes to older hosts, so the length rules. */
static void set_offload(struct rndis_host *h, struct rndis_host_act *a,
			const struct req *r, const uint8_t *buf, uint32_t n)
{
	struct ndis_offload_params p = { 0 };

	if (n < NDIS_OFFP_SIZE_1) {
		refuse(h, a, r, RNDIS_HBAD_OID_LEN, RNDIS_ST_INVALID_LENGTH);
		return;
	}
	vmb_memcpy(&p, buf, n < sizeof(p) ? n : sizeof(p));
	if (p.hdr.type != NDIS_OBJ_DEFAULT || !offp_valid(&p)) {
		refuse(h, a, r, RNDIS_HBAD_OID_VALUE, RNDIS_ST_INVALID_DATA);
		return;
	}
	apply_offload(&h->offload, h->offered, &p);
	a->ev = RNDIS_HE_OFFLOAD;
	status_reply(a, r, RNDIS_ST_SUCCESS);
}

/* Where [off, off + len) lies inside an n-byte object. */
static bool inside(uint32_t off, uint32_t len, uint32_t n)
{
	return (uint64_t)off + len <= n;
}

static bool rss_table(struct rndis_rss_state *s, const uint8_t *buf,
		      uint32_t n, const struct ndis_rss_params *p,
		      uint32_t queues)
{
	uint32_t size = vmb_le16(p->table_size), off = vmb_le32(p->table_offset);
	uint32_t cnt = size / 4;

	if (size % 4 || cnt < NDIS_RSS_TABLE_MIN || cnt > NDIS_RSS_TABLE_MAX ||
	    !inside(off, size, n))
		return false;
	for (uint32_t i = 0; i < cnt; i++)
		if (rndis_rd32(buf + off + 4 * i) >= queues)
			return false;
	for (uint32_t i = 0; i < NDIS_RSS_TABLE_MAX; i++)
		s->table[i] = rndis_rd32(buf + off + 4 * (i % cnt));
	s->entries = cnt;
	return true;
}

static bool rss_key(struct rndis_rss_state *s, const uint8_t *buf,
		    uint32_t n, const struct ndis_rss_params *p)
{
	uint32_t off = vmb_le32(p->key_offset);

	if (vmb_le16(p->key_size) != NDIS_RSS_KEY_LEN ||
	    !inside(off, NDIS_RSS_KEY_LEN, n))
		return false;
	vmb_memcpy(s->key, buf + off, NDIS_RSS_KEY_LEN);
	return true;
}

/* A new configuration in *s from p; the UNCHANGED flags keep parts of
 * an enabled one. Both layouts (key or table first) follow the offsets. */
static bool rss_build(struct rndis_rss_state *s, const uint8_t *buf,
		      uint32_t n, const struct ndis_rss_params *p,
		      uint32_t queues)
{
	uint16_t fl = vmb_le16(p->flags);
	uint32_t hi = vmb_le32(p->hash_info);

	if ((hi & NDIS_HASH_FUNC_MASK) != NDIS_HASH_TOEPLITZ)
		return false;
	if (!(fl & NDIS_RSS_FLAG_HASH_INFO_UNCHANGED) || !s->enabled)
		s->hash_info = hi & (NDIS_HASH_FUNC_MASK | NDIS_HASH_TYPE_MASK);
	if ((!(fl & NDIS_RSS_FLAG_KEY_UNCHANGED) || !s->enabled) &&
	    !rss_key(s, buf, n, p))
		return false;
	if ((!(fl & NDIS_RSS_FLAG_TABLE_UNCHANGED) || !s->enabled) &&
	    !rss_table(s, buf, n, p, queues))
		return false;
	s->enabled = true;
	return true;
}

static void set_rss(struct rndis_host *h, struct rndis_host_act *a,
		    const struct req *r, const uint8_t *buf, uint32_t n)
{
	struct ndis_rss_params p;
	struct rndis_rss_state s = h->rss;

	if (n < NDIS_RSS_PARAMS_MIN) {
		refuse(h, a, r, RNDIS_HBAD_RSS, RNDIS_ST_INVALID_LENGTH);
		return;
	}
	vmb_memset(&p, 0, sizeof(p));
	vmb_memcpy(&p, buf, n < sizeof(p) ? n : sizeof(p));
	if (p.hdr.type != NDIS_OBJ_RSS_PARAMS) {
		refuse(h, a, r, RNDIS_HBAD_RSS, RNDIS_ST_INVALID_DATA);
		return;
	}
	if ((vmb_le16(p.flags) & NDIS_RSS_FLAG_DISABLE) ||
	    !(vmb_le32(p.hash_info) & NDIS_HASH_FUNC_MASK))
		s.enabled = false;
	else if (!rss_build(&s, buf, n, &p, h->cfg.max_queues)) {
		refuse(h, a, r, RNDIS_HBAD_RSS, RNDIS_ST_INVALID_DATA);
		return;
	}
	h->rss = s;
	a->ev = RNDIS_HE_RSS;
	status_reply(a, r, RNDIS_ST_SUCCESS);
}

/* ---- RNDIS_CONFIG_PARAMETER ---- */

static const char net_addr[] = "NetworkAddress";

static bool name_is(const uint8_t *s, uint32_t len, const char *want)
{
	uint32_t i = 0;

	for (; want[i]; i++) {
		uint32_t c = 2 * i + 1 < len ? s[2 * i] | s[2 * i + 1] << 8 : 0;

		if ((c | 0x20) != ((uint32_t)want[i] | 0x20))
			return false;
	}
	return len == 2 * i;
}

static int hexval(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

/* Twelve UTF-16 hex digits into mac; false if anything else. */
static bool parse_mac(const uint8_t *s, uint32_t len, uint8_t mac[6])
{
	if (len != 24)
		return false;
	for (unsigned i = 0; i < 12; i++) {
		int v = s[2 * i + 1] ? -1 : hexval(s[2 * i]);

		if (v < 0)
			return false;
		mac[i / 2] = (uint8_t)(i % 2 ? mac[i / 2] | v : v << 4);
	}
	return true;
}

/* The parameter's header, its offsets in host order; false if a name
 * or value lies outside the n bytes or the name is not UTF-16. */
static bool config_read(struct rndis_config_param *c, const uint8_t *buf,
			uint32_t n)
{
	vmb_memcpy(c, buf, sizeof(*c));
	c->name_offset = vmb_le32(c->name_offset);
	c->name_len = vmb_le32(c->name_len);
	c->type = vmb_le32(c->type);
	c->value_offset = vmb_le32(c->value_offset);
	c->value_len = vmb_le32(c->value_len);
	return inside(c->name_offset, c->name_len, n) &&
	       inside(c->value_offset, c->value_len, n) && !(c->name_len % 2);
}

/* A new current MAC: a string of twelve hex digits, not multicast. */
static bool config_mac(struct rndis_host *h, const uint8_t *buf,
		       const struct rndis_config_param *c)
{
	uint8_t mac[6];

	if (c->type != RNDIS_CONFIG_TYPE_STRING ||
	    !parse_mac(buf + c->value_offset, c->value_len, mac) ||
	    (mac[0] & 1))
		return false;
	vmb_memcpy(h->mac, mac, 6);
	return true;
}

/* Only "NetworkAddress" is looked at, and only when MAC changes are
 * allowed; any other well-formed parameter is accepted and ignored. */
static void set_config(struct rndis_host *h, struct rndis_host_act *a,
		       const struct req *r, const uint8_t *buf, uint32_t n)
{
	struct rndis_config_param c;
	bool mac;

	if (n < sizeof(c)) {
		refuse(h, a, r, RNDIS_HBAD_CONFIG, RNDIS_ST_INVALID_LENGTH);
		return;
	}
	if (!config_read(&c, buf, n)) {
		refuse(h, a, r, RNDIS_HBAD_CONFIG, RNDIS_ST_INVALID_DATA);
		return;
	}
	mac = h->cfg.mac_change &&
	      name_is(buf + c.name_offset, c.name_len, net_addr);
	if (mac && !config_mac(h, buf, &c)) {
		refuse(h, a, r, RNDIS_HBAD_CONFIG, RNDIS_ST_INVALID_DATA);
		return;
	}
	if (mac)
		a->ev = RNDIS_HE_MAC;
	status_reply(a, r, RNDIS_ST_SUCCESS);
}

static void set_filter(struct rndis_host *h, struct rndis_host_act *a,
		       const struct req *r, const uint8_t *buf, uint32_t n)
{
	if (n != 4) {
		refuse(h, a, r, RNDIS_HBAD_OID_LEN, RNDIS_ST_INVALID_LENGTH);
		return;
	}
	h->filter = rndis_rd32(buf);
	a->ev = RNDIS_HE_FILTER;
	status_reply(a, r, RNDIS_ST_SUCCESS);
}

static void on_set(struct rndis_host *h, struct rndis_host_act *a,
		   const struct req *r, uint32_t oid, const uint8_t *buf,
		   uint32_t n)
{
	switch (oid) {
	case RNDIS_OID_PACKET_FILTER:
		set_filter(h, a, r, buf, n);
		break;
	case RNDIS_OID_OFFLOAD_PARAMS:
		set_offload(h, a, r, buf, n);
		break;
	case RNDIS_OID_RSS_PARAMS:
		set_rss(h, a, r, buf, n);
		break;
	case RNDIS_OID_CONFIG_PARAMETER:
		set_config(h, a, r, buf, n);
		break;
	case RNDIS_OID_OFFLOAD_ENCAP:
		/* Windows guests set 802.3, the only encapsulation. */
		status_reply(a, r, RNDIS_ST_SUCCESS);
		break;
	default:
		h->st.unsupported++;
		status_reply(a, r, RNDIS_ST_NOT_SUPPORTED);
		break;
	}
}

/* QUERY and SET share a layout; the buffer must lie past the request's
 * header and inside msg_len (its offset is not looked at when empty). */
static void on_oid(struct rndis_host *h, struct rndis_host_act *a,
		   const struct req *r)
{
	struct rndis_oid_req q;
	uint32_t off, n;

	vmb_memcpy(&q, r->msg, sizeof(q));
	off = vmb_le32(q.buf_offset);
	n = vmb_le32(q.buflen);
	if (n && (off < sizeof(q) - RNDIS_OFF_BASE ||
		  (uint64_t)RNDIS_OFF_BASE + off + n > r->len)) {
		refuse(h, a, r, RNDIS_HBAD_BUFFER, RNDIS_ST_INVALID_DATA);
		return;
	}
	if (r->type == RNDIS_MSG_QUERY)
		on_query(h, a, r, vmb_le32(q.oid), n);
	else
		on_set(h, a, r, vmb_le32(q.oid),
		       r->msg + RNDIS_OFF_BASE + (n ? off : 0), n);
}

/* ---- the other messages ---- */

static void on_init(struct rndis_host *h, struct rndis_host_act *a,
		    const struct req *r)
{
	struct rndis_init_req q;

	vmb_memcpy(&q, r->msg, sizeof(q));
	if (vmb_le32(q.major) != RNDIS_MAJOR) {
		refuse(h, a, r, RNDIS_HBAD_VERSION, RNDIS_ST_NOT_SUPPORTED);
		return;
	}
	/* A guest driver loaded again starts over: receive held back,
	 * offloads and RSS off until it sets them again. */
	h->state = RNDIS_HS_READY;
	h->filter = 0;
	h->guest_max_xfer = vmb_le32(q.max_xfer);
	vmb_memset(&h->offload, 0, sizeof(h->offload));
	vmb_memset(&h->rss, 0, sizeof(h->rss));
	a->ev = RNDIS_HE_INIT;
	init_reply(a, r, RNDIS_ST_SUCCESS);
}

static void on_ready_msg(struct rndis_host *h, struct rndis_host_act *a,
			 const struct req *r)
{
	switch (r->type) {
	case RNDIS_MSG_QUERY:
	case RNDIS_MSG_SET:
		on_oid(h, a, r);
		break;
	case RNDIS_MSG_KEEPALIVE:
		status_reply(a, r, RNDIS_ST_SUCCESS);
		break;
	case RNDIS_MSG_RESET:
		/* coalesced frames only to a driver that asked since */
		h->offload.rsc4 = h->offload.rsc6 = false;
		a->ev = RNDIS_HE_RESET;
		reset_reply(a, RNDIS_ST_SUCCESS);
		break;
	default: /* HALT: no answer */
		h->state = RNDIS_HS_HALTED;
		h->filter = 0;
		h->offload.rsc4 = h->offload.rsc6 = false;
		a->ev = RNDIS_HE_HALT;
		break;
	}
}

/* The fixed part of each message a guest sends on the control path. */
static uint32_t min_len(uint32_t type)
{
	switch (type) {
	case RNDIS_MSG_INIT:
		return sizeof(struct rndis_init_req);
	case RNDIS_MSG_QUERY:
	case RNDIS_MSG_SET:
		return sizeof(struct rndis_oid_req);
	case RNDIS_MSG_HALT:
	case RNDIS_MSG_KEEPALIVE:
		return sizeof(struct rndis_id_req);
	case RNDIS_MSG_RESET:
		return sizeof(struct rndis_reset_req);
	default:
		return 0;
	}
}

static bool read_req(struct rndis_host *h, struct rndis_host_act *a,
		     const uint8_t *msg, uint32_t len, struct req *r)
{
	uint32_t need;

	if (len < sizeof(struct rndis_hdr)) {
		h->st.bad[RNDIS_HBAD_SHORT]++;
		return false;
	}
	r->msg = msg;
	r->type = rndis_rd32(msg);
	r->len = rndis_rd32(msg + 4);
	need = min_len(r->type);
	if (!need) {
		h->st.bad[RNDIS_HBAD_TYPE]++;
		return false;
	}
	if (r->len < sizeof(struct rndis_hdr) || r->len > len) {
		h->st.bad[RNDIS_HBAD_MSGLEN]++;
		return false;
	}
	/* RESET has no request id; the others have it at byte 8. */
	r->req_id = r->type != RNDIS_MSG_RESET && r->len >= 12 ? rndis_rd32(msg + 8)
							       : 0;
	if (r->len < need) {
		refuse(h, a, r, RNDIS_HBAD_SHORT, RNDIS_ST_INVALID_LENGTH);
		return false;
	}
	return true;
}

void rndis_host_rx(struct rndis_host *h, const uint8_t *msg, uint32_t len,
		   struct rndis_host_act *a)
{
	struct req r;

	a->ev = RNDIS_HE_NONE;
	a->reply_len = 0;
	if (!read_req(h, a, msg, len, &r))
		return;
	if (r.type == RNDIS_MSG_INIT)
		on_init(h, a, &r);
	else if (h->state != RNDIS_HS_READY)
		refuse(h, a, &r, RNDIS_HBAD_STATE, RNDIS_ST_FAILURE);
	else
		on_ready_msg(h, a, &r);
	/* Every completion but RESET's has its status at byte 12. */
	if (a->reply_len &&
	    !rndis_rd32(a->reply + (r.type == RNDIS_MSG_RESET ? 8 : 12)))
		h->st.requests++;
}

uint32_t rndis_host_indicate(uint32_t status, uint32_t speed,
			     uint8_t out[RNDIS_HOST_REPLY_MAX])
{
	bool with_speed = status == RNDIS_ST_LINK_SPEED_CHANGE;
	struct rndis_indicate m = {
		.hdr = { vmb_le32(RNDIS_MSG_INDICATE),
			 vmb_le32(sizeof(m) + (with_speed ? 4 : 0)) },
		.status = vmb_le32(status),
		.buflen = vmb_le32(with_speed ? 4 : 0),
		.buf_offset = vmb_le32(with_speed ? sizeof(m) - RNDIS_OFF_BASE
						  : 0),
	};

	vmb_memcpy(out, &m, sizeof(m));
	if (!with_speed)
		return sizeof(m);
	speed = vmb_le32(speed);
	vmb_memcpy(out + sizeof(m), &speed, 4);
	return sizeof(m) + 4;
}
