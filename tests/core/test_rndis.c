/* RNDIS: PACKET build and parse with every PPI, the multi-packet walk and
 * aggregation, the host's device answering every OID and SET (RSS in
 * both layouts), the guest's init sequence against the host engine at
 * several NVSP versions, and hostile input on every side refused and
 * counted by reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/rndis_guest.h"
#include "net/rndis_host.h"
#include "net/rndis_ppi.h"

static uint32_t rd32(const uint8_t *p)
{
	return rndis_rd32(p);
}

static void wr32(uint8_t *p, uint32_t v)
{
	rndis_wr32(p, v);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* ---- PACKET ---- */

static const struct rndis_pkt_meta tx_meta = {
	.present = RNDIS_META_CSUM | RNDIS_META_LSO | RNDIS_META_VLAN |
		   RNDIS_META_HASH_VALUE,
	.csum = RNDIS_CSUM_TX_IPV4 | RNDIS_CSUM_TX_TCP |
		34u << RNDIS_CSUM_TX_THOFF_SHIFT,
	.lso_mss = 1448, .lso_thoff = 34, .lso_ipv6 = false,
	.vlan_tci = 5u << 13 | 1u << 12 | 100,
	.hash_value = 3,
};

static const struct rndis_pkt_meta rx_meta = {
	.present = RNDIS_META_CSUM | RNDIS_META_VLAN | RNDIS_META_HASH_VALUE |
		   RNDIS_META_HASH_INFO | RNDIS_META_RSC,
	.csum = RNDIS_CSUM_RX_TCP_OK | RNDIS_CSUM_RX_IP_OK,
	.vlan_tci = 4095,
	.hash_value = 0x51ccc178,
	.hash_info = NDIS_HASH_TOEPLITZ | NDIS_HASH_TCP_IPV4,
	.rsc_id = 0xBEEF, .rsc_flags = RNDIS_PKTID_FIRST,
};

/* A PACKET of meta m and n frame bytes (i + k) into buf; its length. */
static uint32_t mk_pkt(uint8_t *buf, uint32_t cap,
		       const struct rndis_pkt_meta *m, uint32_t n)
{
	uint32_t hl = rndis_pkt_build(buf, cap, m, n);

	assert_true(hl > 0);
	for (uint32_t i = 0; i < n; i++)
		buf[hl + i] = (uint8_t)(i + 7);
	return hl + n;
}

static void meta_equal(const struct rndis_pkt_meta *a,
		       const struct rndis_pkt_meta *b)
{
	assert_int_equal(a->present, b->present);
	if (a->present & RNDIS_META_CSUM)
		assert_int_equal(a->csum, b->csum);
	if (a->present & RNDIS_META_LSO) {
		assert_int_equal(a->lso_mss, b->lso_mss);
		assert_int_equal(a->lso_thoff, b->lso_thoff);
		assert_int_equal(a->lso_ipv6, b->lso_ipv6);
	}
	if (a->present & RNDIS_META_VLAN)
		assert_int_equal(a->vlan_tci, b->vlan_tci);
	if (a->present & RNDIS_META_HASH_VALUE)
		assert_int_equal(a->hash_value, b->hash_value);
	if (a->present & RNDIS_META_HASH_INFO)
		assert_int_equal(a->hash_info, b->hash_info);
	if (a->present & RNDIS_META_RSC) {
		assert_int_equal(a->rsc_id, b->rsc_id);
		assert_int_equal(a->rsc_flags, b->rsc_flags);
	}
}

static void roundtrip(const struct rndis_pkt_meta *m, uint32_t n)
{
	uint8_t buf[2048];
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt p;
	uint32_t len = mk_pkt(buf, sizeof(buf), m, n);

	assert_int_equal(len, rndis_pkt_hdr_len(m) + n);
	assert_int_equal(rndis_pkt_parse(buf, len, &p, &st), 0);
	assert_int_equal(p.msg_len, len);
	assert_int_equal(p.data_len, n);
	assert_ptr_equal(p.data, buf + rndis_pkt_hdr_len(m));
	assert_int_equal(p.data[0], 7);
	meta_equal(&p.meta, m);
	assert_int_equal(st.packets, 1);
	assert_int_equal(st.unknown_ppi, 0);
}

static void test_ppi_roundtrip(void **state)
{
	struct rndis_pkt_meta v6 = tx_meta;
	uint8_t buf[128];
	uint32_t lso;

	(void)state;
	roundtrip(&tx_meta, 60);
	roundtrip(&rx_meta, 1514);
	roundtrip(&(struct rndis_pkt_meta){ 0 }, 1);
	v6.lso_ipv6 = true;
	v6.lso_mss = RNDIS_LSO_MSS_MASK;
	roundtrip(&v6, 100);
	/* The wire values as the facts lay them out. */
	mk_pkt(buf, sizeof(buf), &tx_meta, 4);
	assert_int_equal(rd32(buf + 8), 44 + 4 * 16 - 8); /* data_offset */
	assert_int_equal(rd32(buf + 28), 36);              /* ppi_offset */
	assert_int_equal(rd32(buf + 32), 64);
	assert_int_equal(rd32(buf + 44), 16);              /* size */
	assert_int_equal(rd32(buf + 48), RNDIS_PPI_CSUM);
	assert_int_equal(rd32(buf + 52), 12);              /* offset */
	lso = rd32(buf + 44 + 16 + 12);
	assert_int_equal(lso, 1448u | 34u << 20 | RNDIS_LSO_V2);
	assert_int_equal(rd32(buf + 44 + 32 + 12), 5u | 8u | 100u << 4);
	assert_int_equal(rndis_csum_tx(RNDIS_CSUM_TX_IPV6, 54),
			 RNDIS_CSUM_TX_IPV6 | 54u << 16);
	assert_int_equal(rndis_pkt_build(buf, 50, &tx_meta, 4), 0);
}

/* A valid packet with one PPI (checksum) and 20 frame bytes. */
static uint32_t base_pkt(uint8_t *buf)
{
	struct rndis_pkt_meta m = { .present = RNDIS_META_CSUM, .csum = 1 };

	memset(buf, 0, 256);
	return mk_pkt(buf, 256, &m, 20);
}

static void expect_bad(const uint8_t *buf, uint32_t len,
		       enum rndis_ppi_bad why)
{
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt p;

	assert_int_equal(rndis_pkt_parse(buf, len, &p, &st), VMB_EPROTO);
	for (int i = 0; i < RNDIS_PBAD__COUNT; i++)
		assert_int_equal(st.bad[i], i == (int)why ? 1 : 0);
	assert_int_equal(st.packets, 0);
	assert_string_not_equal(rndis_ppi_bad_name(why), "?");
}

/* Sets the u32 at off of a fresh base packet and expects why. */
static void poke(uint32_t off, uint32_t v, enum rndis_ppi_bad why)
{
	uint8_t buf[256];
	uint32_t len = base_pkt(buf);

	wr32(buf + off, v);
	expect_bad(buf, len, why);
}

static void test_ppi_hostile(void **state)
{
	uint8_t buf[256];
	uint32_t len = base_pkt(buf); /* 44 + 16 + 20 = 80 */
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt p;

	(void)state;
	expect_bad(buf, 43, RNDIS_PBAD_SHORT);
	poke(0, RNDIS_MSG_INIT, RNDIS_PBAD_TYPE);
	poke(4, 40, RNDIS_PBAD_MSGLEN);
	poke(4, len + 1, RNDIS_PBAD_MSGLEN);
	poke(8, 35, RNDIS_PBAD_DATA);           /* inside the header */
	poke(8, 53, RNDIS_PBAD_DATA);           /* past msg_len */
	poke(8, 0xFFFFFFF0u, RNDIS_PBAD_DATA);  /* wraps */
	poke(12, 0, RNDIS_PBAD_DATA);
	poke(12, 0xFFFFFFFFu, RNDIS_PBAD_DATA);
	poke(20, 4, RNDIS_PBAD_OOB);
	poke(24, 1, RNDIS_PBAD_OOB);
	poke(36, 1, RNDIS_PBAD_VC);
	poke(28, 38, RNDIS_PBAD_PPI_AREA);      /* not 4-aligned */
	poke(28, 32, RNDIS_PBAD_PPI_AREA);      /* inside the header */
	poke(32, 80, RNDIS_PBAD_PPI_AREA);      /* past msg_len */
	poke(28, 0xFFFFFFFCu, RNDIS_PBAD_PPI_AREA);
	poke(44, 13, RNDIS_PBAD_PPI_SIZE);
	poke(44, 8, RNDIS_PBAD_PPI_SIZE);
	poke(44, 20, RNDIS_PBAD_PPI_SIZE);      /* past the area */
	poke(44, 0, RNDIS_PBAD_PPI_SIZE);
	poke(32, 20, RNDIS_PBAD_PPI_SIZE);      /* 4 bytes left over */
	poke(52, 16, RNDIS_PBAD_PPI_OFFSET);
	/* A known type without room for its value. */
	wr32(buf + 44, 12);
	wr32(buf + 32, 12);
	expect_bad(buf, len, RNDIS_PBAD_PPI_VALUE);
	/* Unknown types, and a PKTINFO_ID of another version, skipped. */
	len = base_pkt(buf);
	wr32(buf + 48, RNDIS_PPI_SHORT_PAD);
	assert_int_equal(rndis_pkt_parse(buf, len, &p, &st), 0);
	assert_int_equal(p.meta.present, 0);
	wr32(buf + 48, RNDIS_PPI_PKTINFO_ID);
	wr32(buf + 56, 2);
	assert_int_equal(rndis_pkt_parse(buf, len, &p, &st), 0);
	assert_int_equal(p.unknown_ppi, 1);
	assert_int_equal(st.unknown_ppi, 2);
	assert_int_equal(st.packets, 2);
	/* Trailing bytes past msg_len are not the packet's. */
	len = base_pkt(buf);
	assert_int_equal(rndis_pkt_parse(buf, len + 30, &p, &st), 0);
	assert_int_equal(p.msg_len, len);
}

/* Three packets aggregated Linux's way, then walked. */
static void test_ppi_multi(void **state)
{
	uint8_t buf[1024], one[256];
	struct rndis_agg a;
	struct rndis_pkt_iter it;
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt p;
	uint32_t sizes[3] = { 61, 1, 100 }, offs[3];
	int off;

	(void)state;
	rndis_agg_init(&a, 8, 0xEFFFFFFF, 8);
	for (int i = 0; i < 3; i++) {
		uint32_t n = mk_pkt(one, sizeof(one), &rx_meta, sizes[i]);

		off = rndis_agg_where(&a, n, sizeof(buf));
		assert_true(off >= 0);
		assert_int_equal(off % 8, 0);
		offs[i] = (uint32_t)off;
		memcpy(buf + off, one, n);
		rndis_agg_add(&a, buf, n);
	}
	/* The padding is counted in the msg_len of all but the last. */
	assert_int_equal(rd32(buf + 4), offs[1]);
	assert_int_equal(rd32(buf + offs[2] + 4), a.len - offs[2]);
	rndis_pkt_iter_init(&it, buf, a.len, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rndis_pkt_next(&it, &p, &st), 1);
		assert_int_equal(p.data_len, sizes[i]);
		assert_ptr_equal(p.data + p.data_len - sizes[i],
				 buf + offs[i] + rndis_pkt_hdr_len(&rx_meta));
		meta_equal(&p.meta, &rx_meta);
	}
	assert_int_equal(rndis_pkt_next(&it, &p, &st), 0);
	/* Unpadded msg_len with the alignment given; trailing section
	 * padding shorter than a header ends the walk. */
	wr32(buf + 4, rndis_pkt_hdr_len(&rx_meta) + 61);
	rndis_pkt_iter_init(&it, buf, a.len + 20, 8);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rndis_pkt_next(&it, &p, &st), 1);
	assert_int_equal(rndis_pkt_next(&it, &p, &st), 0);
	/* A bad second packet ends the walk. */
	wr32(buf + offs[1], 77);
	rndis_pkt_iter_init(&it, buf, a.len, 8);
	assert_int_equal(rndis_pkt_next(&it, &p, &st), 1);
	assert_int_equal(rndis_pkt_next(&it, &p, &st), VMB_EPROTO);
	assert_int_equal(rndis_pkt_next(&it, &p, &st), 0);
	assert_int_equal(st.bad[RNDIS_PBAD_TYPE], 1);
}

/* The spans a receiver copies besides the header: the PPI area and the
 * frame's first bytes, clipped; spans in the header or past the bytes
 * left are not named (the parse refuses those packets anyway). */
static void test_ppi_spans(void **state)
{
	uint8_t buf[512];
	struct rndis_span s[2];
	uint32_t hl = mk_pkt(buf, sizeof(buf), &rx_meta, 300) - 300;

	(void)state;
	assert_int_equal(rndis_pkt_spans(buf, hl + 300, 64, s), 2);
	assert_int_equal(s[0].off, sizeof(struct rndis_packet));
	assert_int_equal(s[0].len, hl - sizeof(struct rndis_packet));
	assert_int_equal(s[1].off, hl);
	assert_int_equal(s[1].len, 64);
	assert_int_equal(rndis_pkt_spans(buf, hl + 10, 64, s), 2);
	assert_int_equal(s[1].len, 10);
	assert_int_equal(rndis_pkt_spans(buf, hl, 64, s), 1);
	wr32(buf + 28, 4); /* PPIs inside the header */
	assert_int_equal(rndis_pkt_spans(buf, hl + 300, 1000, s), 1);
	assert_int_equal(s[0].len, 300);
}

static void test_agg_limits(void **state)
{
	uint8_t buf[256] = { 0 };
	struct rndis_agg a;

	(void)state;
	rndis_agg_init(&a, 2, 200, 8);
	/* Alone, a message is limited by the buffer only. */
	assert_int_equal(rndis_agg_where(&a, 201, 256), 0);
	assert_int_equal(rndis_agg_where(&a, 100, 99), VMB_EMSGSIZE);
	assert_int_equal(rndis_agg_where(&a, 50, 256), 0);
	wr32(buf + 4, 50);
	rndis_agg_add(&a, buf, 50);
	assert_int_equal(rndis_agg_where(&a, 145, 256), VMB_EMSGSIZE);
	assert_int_equal(rndis_agg_where(&a, 144, 256), 56);
	rndis_agg_add(&a, buf, 144);
	assert_int_equal(rd32(buf + 4), 56);
	assert_int_equal(a.len, 200);
	assert_int_equal(rndis_agg_where(&a, 1, 256), VMB_EMSGSIZE);
	/* No alignment and no limit on packets: max_pkts 0 means 1. */
	rndis_agg_init(&a, 0, 1000, 3);
	assert_int_equal(a.align, 1);
	rndis_agg_add(&a, buf, 10);
	assert_int_equal(rndis_agg_where(&a, 10, 256), VMB_EMSGSIZE);
}

static void test_agg_room(void **state)
{
	uint8_t buf[256] = { 0 };
	struct rndis_agg a;
	uint32_t off = 99;

	(void)state;
	rndis_agg_init(&a, 3, 120, 8);
	/* Alone: the whole buffer, whatever max_xfer says. */
	assert_int_equal(rndis_agg_room(&a, 256, &off), 256);
	assert_int_equal(off, 0);
	wr32(buf + 4, 45);
	rndis_agg_add(&a, buf, 45);
	/* Next at 48, up to max_xfer. */
	assert_int_equal(rndis_agg_room(&a, 256, &off), 72);
	assert_int_equal(off, 48);
	/* The buffer below max_xfer limits instead. */
	assert_int_equal(rndis_agg_room(&a, 100, &off), 52);
	assert_int_equal(rndis_agg_room(&a, 48, &off), 0);
	assert_int_equal(off, 48);
	rndis_agg_add(&a, buf, 30);
	assert_int_equal(rd32(buf + 4), 48);
	assert_int_equal(rndis_agg_room(&a, 256, &off), 40);
	assert_int_equal(off, 80);
	rndis_agg_add(&a, buf, 40);
	/* max_pkts reached: no room however much is left. */
	assert_int_equal(rndis_agg_room(&a, 256, &off), 0);
	assert_int_equal(rndis_agg_where(&a, 1, 256), VMB_EMSGSIZE);
	/* max_xfer reached exactly. */
	rndis_agg_init(&a, 8, 64, 8);
	rndis_agg_add(&a, buf, 64);
	assert_int_equal(rndis_agg_room(&a, 256, &off), 0);
	assert_int_equal(off, 64);
}

/* ---- host ---- */

static const uint8_t mac0[6] = { 0x00, 0x15, 0x5d, 0x01, 0x02, 0x03 };

static void host_new(struct rndis_host *h, uint32_t queues, bool mac_change)
{
	struct rndis_host_cfg c = {
		.mtu = 1500, .link_speed = 100000000, .link_up = true,
		.max_queues = queues, .mac_change = mac_change,
		.backend = 0xFF, .offer_udp_csum = true, .offer_lso = true,
		.offer_rsc = true,
	};

	memcpy(c.mac, mac0, 6);
	rndis_host_init(h, &c);
}

static uint32_t mk_init(uint8_t *b, uint32_t id, uint32_t major)
{
	struct rndis_init_req q = { { RNDIS_MSG_INIT, sizeof(q) }, id, major,
				    0, 0x4000 };

	memcpy(b, &q, sizeof(q));
	return sizeof(q);
}

/* A QUERY or SET with val at offset off (from byte 8). */
static uint32_t mk_oid(uint8_t *b, uint32_t type, uint32_t id, uint32_t oid,
		       const void *val, uint32_t n, uint32_t off)
{
	struct rndis_oid_req q = { { type, 8 + off + n }, id, oid, n, off, 0 };

	memset(b, 0, 8 + off);
	memcpy(b, &q, sizeof(q));
	if (n)
		memcpy(b + 8 + off, val, n);
	return 8 + off + n;
}

static void host_ready(struct rndis_host *h, uint32_t queues,
		       bool mac_change)
{
	struct rndis_host_act a;
	uint8_t b[64];

	host_new(h, queues, mac_change);
	rndis_host_rx(h, b, mk_init(b, 1, 1), &a);
	assert_int_equal(a.ev, RNDIS_HE_INIT);
	assert_int_equal(h->state, RNDIS_HS_READY);
}

static uint32_t reply_status(const struct rndis_host_act *a)
{
	assert_true(a->reply_len >= 16);
	return rd32(a->reply + 12);
}

/* A QUERY; returns the status, the value in val (*n bytes). */
static uint32_t query(struct rndis_host *h, uint32_t oid, uint32_t inlen,
		      uint8_t *val, uint32_t *n)
{
	uint8_t b[512] = { 0 }, in[256] = { 0 };
	struct rndis_host_act a;

	rndis_host_rx(h, b, mk_oid(b, RNDIS_MSG_QUERY, 9, oid, in, inlen, 20),
		      &a);
	assert_int_equal(rd32(a.reply), RNDIS_MSG_QUERY_C);
	assert_int_equal(rd32(a.reply + 4), a.reply_len);
	assert_int_equal(rd32(a.reply + 8), 9);
	*n = rd32(a.reply + 16);
	assert_int_equal(24 + *n, a.reply_len);
	if (*n)
		assert_int_equal(rd32(a.reply + 20), 16);
	memcpy(val, a.reply + 24, *n);
	return rd32(a.reply + 12);
}

static uint32_t query_u32(struct rndis_host *h, uint32_t oid)
{
	uint8_t v[256];
	uint32_t n;

	assert_int_equal(query(h, oid, 0, v, &n), RNDIS_ST_SUCCESS);
	assert_int_equal(n, 4);
	return rd32(v);
}

static void test_host_init(void **state)
{
	struct rndis_host h;
	struct rndis_host_act a;
	struct rndis_init_cmplt c;
	uint8_t b[64];

	(void)state;
	host_new(&h, 4, false);
	rndis_host_rx(&h, b, mk_init(b, 77, 1), &a);
	assert_int_equal(a.reply_len, 52);
	memcpy(&c, a.reply, sizeof(c));
	assert_int_equal(c.hdr.type, RNDIS_MSG_INIT_C);
	assert_int_equal(c.hdr.msg_len, 52);
	assert_int_equal(c.req_id, 77);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.major, 1);
	assert_int_equal(c.minor, 0);
	assert_int_equal(c.dev_flags, 1);
	assert_int_equal(c.medium, 0);
	assert_int_equal(c.max_pkts, 8);
	assert_int_equal(c.max_xfer, 0xEFFFFFFF);
	assert_int_equal(c.align_factor, 3);
	assert_int_equal(h.guest_max_xfer, 0x4000);
	/* Another major version: refused, state kept. */
	host_new(&h, 4, false);
	rndis_host_rx(&h, b, mk_init(b, 2, 2), &a);
	assert_int_equal(reply_status(&a), RNDIS_ST_NOT_SUPPORTED);
	assert_int_equal(h.state, RNDIS_HS_UNINIT);
	assert_int_equal(h.st.bad[RNDIS_HBAD_VERSION], 1);
}

static void check_offload(struct rndis_host *h, uint32_t inlen, uint32_t want)
{
	uint8_t v[256];
	uint32_t n;
	struct ndis_offload o;

	assert_int_equal(query(h, RNDIS_OID_OFFLOAD_HWCAPS, inlen, v, &n),
			 RNDIS_ST_SUCCESS);
	assert_int_equal(n, want);
	memset(&o, 0, sizeof(o));
	memcpy(&o, v, n);
	assert_int_equal(o.hdr.type, NDIS_OBJ_OFFLOAD);
	assert_int_equal(o.hdr.size, want);
	assert_int_equal(o.hdr.revision, want == 112 ? 1 : want == 144 ? 2 : 3);
	assert_int_equal(o.csum.ip4_tx_encap, NDIS_ENCAP_802_3);
	assert_true(o.csum.ip4_tx_flags & NDIS_CSUM_TCP);
	assert_true(o.csum.ip4_tx_flags & NDIS_CSUM_UDP);
	assert_true(o.csum.ip6_rx_flags & NDIS_CSUM_TCP);
	assert_int_equal(o.lsov2.ip4_maxsz, RNDIS_LSO_MAX_SIZE);
	assert_int_equal(o.lsov2.ip6_minsg, 2);
	if (want == 156)
		assert_int_equal(o.rsc_ip4 & o.rsc_ip6, 1);
}

static void test_host_queries(void **state)
{
	struct rndis_host h;
	uint8_t v[256];
	uint32_t n;
	struct ndis_rss_caps rc;
	struct ndis_link_speed ls;
	struct ndis_link_state lst;
	struct ndis_offload o;

	(void)state;
	host_ready(&h, 4, false);
	assert_int_equal(query(&h, RNDIS_OID_SUPPORTED_LIST, 0, v, &n), 0);
	assert_int_equal(n, 17 * 4);
	assert_int_equal(rd32(v), RNDIS_OID_SUPPORTED_LIST);
	assert_int_equal(query_u32(&h, RNDIS_OID_MAX_FRAME_SIZE), 1500);
	assert_int_equal(query_u32(&h, RNDIS_OID_LINK_SPEED), 100000000);
	assert_int_equal(query_u32(&h, RNDIS_OID_MEDIA_CONNECT_STATUS), 0);
	assert_int_equal(query_u32(&h, RNDIS_OID_PACKET_FILTER), 0);
	rndis_host_set_link(&h, false, 10000);
	assert_int_equal(query_u32(&h, RNDIS_OID_MEDIA_CONNECT_STATUS), 1);
	assert_int_equal(query(&h, RNDIS_OID_MAX_LINK_SPEED, 0, v, &n), 0);
	memcpy(&ls, v, sizeof(ls));
	assert_int_equal(n, 16);
	assert_int_equal(ls.xmit, 1000000);
	assert_int_equal(query(&h, RNDIS_OID_LINK_STATE, 0, v, &n), 0);
	assert_int_equal(n, 40);
	memcpy(&lst, v, sizeof(lst));
	assert_int_equal(lst.hdr.type, NDIS_OBJ_DEFAULT);
	assert_int_equal(lst.hdr.size, 40);
	assert_int_equal(lst.media_state, NDIS_MEDIA_STATE_DISCONNECTED);
	assert_int_equal(lst.rcv_speed, 1000000);
	assert_int_equal(query(&h, RNDIS_OID_PERMANENT_ADDRESS, 0, v, &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(v, mac0, 6);
	assert_int_equal(query(&h, RNDIS_OID_CURRENT_ADDRESS, 0, v, &n), 0);
	assert_memory_equal(v, mac0, 6);
	assert_int_equal(query(&h, RNDIS_OID_FRIENDLY_NAME, 0, v, &n), 0);
	assert_int_equal(n, 2 * (strlen("Network Adapter") + 1));
	assert_int_equal(v[0], 'N');
	strcpy(h.cfg.name, "uplink");
	assert_int_equal(query(&h, RNDIS_OID_FRIENDLY_NAME, 0, v, &n), 0);
	assert_int_equal(n, 14);
	assert_memory_equal(v, "u\0p\0l\0i\0n\0k\0\0", 14);
	assert_int_equal(v[n - 1] | v[n - 2], 0);
	assert_int_equal(query(&h, RNDIS_OID_OFFLOAD_ENCAP, 0, v, &n), 0);
	assert_int_equal(n, 28);
	assert_int_equal(v[0], NDIS_OBJ_OFFLOAD_ENCAP);
	/* Offload capabilities at the revision the buffer allows. */
	check_offload(&h, 0, 156);
	check_offload(&h, 156, 156);
	check_offload(&h, 150, 144);
	check_offload(&h, 144, 144);
	check_offload(&h, 112, 112);
	assert_int_equal(query(&h, RNDIS_OID_OFFLOAD_HWCAPS, 100, v, &n),
			 RNDIS_ST_BUFFER_TOO_SHORT);
	assert_int_equal(h.st.bad[RNDIS_HBAD_OID_LEN], 1);
	/* RSS capabilities. */
	assert_int_equal(query(&h, RNDIS_OID_RSS_CAPS, 20, v, &n), 0);
	assert_int_equal(n, 18);
	memcpy(&rc, v, sizeof(rc));
	assert_int_equal(rc.hdr.type, NDIS_OBJ_RSS_CAPS);
	assert_int_equal(rc.hdr.revision, 2);
	assert_int_equal(rc.hdr.size, 18);
	assert_int_equal(rc.caps, NDIS_RSS_CAP_TOEPLITZ | NDIS_RSS_CAP_TCP4 |
					  NDIS_RSS_CAP_TCP6);
	assert_int_equal(rc.num_rx_queues, 4);
	assert_int_equal(rc.num_entries, 128);
	assert_int_equal(query(&h, RNDIS_OID_RSS_CAPS, 18, v, &n), 0);
	assert_int_equal(n, 18);
	assert_int_equal(query(&h, RNDIS_OID_RSS_CAPS, 16, v, &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(v[1], 1);
	assert_int_equal(query(&h, RNDIS_OID_RSS_CAPS, 8, v, &n),
			 RNDIS_ST_BUFFER_TOO_SHORT);
	/* Unknown and unanswered OIDs. */
	assert_int_equal(query(&h, 0x12345678, 0, v, &n),
			 RNDIS_ST_NOT_SUPPORTED);
	assert_int_equal(query(&h, RNDIS_OID_RSS_PARAMS, 0, v, &n),
			 RNDIS_ST_NOT_SUPPORTED);
	assert_int_equal(h.st.unsupported, 2);
	/* What is not offered is not advertised. */
	h.offered = RNDIS_HCAP_CSUM_TCP4 | RNDIS_HCAP_LSO6;
	assert_int_equal(query(&h, RNDIS_OID_OFFLOAD_HWCAPS, 0, v, &n), 0);
	memcpy(&o, v, sizeof(o));
	assert_int_equal(o.lsov2.ip4_maxsz, 0);
	assert_int_equal(o.lsov2.ip6_maxsz, RNDIS_LSO_MAX_SIZE);
	assert_int_equal(o.csum.ip4_tx_flags & NDIS_CSUM_UDP, 0);
	assert_int_equal(o.rsc_ip4, 0);
}

static void test_host_offered(void **state)
{
	struct rndis_host h;
	struct rndis_host_cfg c = { .backend = 0xFF, .offer_lso = true };

	(void)state;
	rndis_host_init(&h, &c);
	assert_int_equal(h.offered, 0xFF & ~(RNDIS_HCAP_CSUM_UDP4 |
					     RNDIS_HCAP_CSUM_UDP6 |
					     RNDIS_HCAP_RSC));
	c.backend = RNDIS_HCAP_LSO4 | RNDIS_HCAP_LSO6;
	rndis_host_init(&h, &c);
	assert_int_equal(h.offered, RNDIS_HCAP_LSO6);
	assert_int_equal(h.cfg.mtu, 1500);
	assert_int_equal(h.cfg.max_queues, 1);
}

/* A SET; returns the completion's status and the event. */
static uint32_t set(struct rndis_host *h, uint32_t oid, const void *val,
		    uint32_t n, enum rndis_host_ev *ev)
{
	static uint8_t b[1024];
	struct rndis_host_act a;

	rndis_host_rx(h, b, mk_oid(b, RNDIS_MSG_SET, 5, oid, val, n, 20), &a);
	assert_int_equal(a.reply_len, 16);
	assert_int_equal(rd32(a.reply), RNDIS_MSG_SET_C);
	assert_int_equal(rd32(a.reply + 8), 5);
	if (ev)
		*ev = a.ev;
	return rd32(a.reply + 12);
}

static void test_host_filter(void **state)
{
	struct rndis_host h;
	enum rndis_host_ev ev;
	uint32_t f = RNDIS_FILTER_DIRECTED | RNDIS_FILTER_BROADCAST;
	uint8_t b[64] = { 0 };
	struct rndis_host_act a;

	(void)state;
	host_ready(&h, 1, false);
	assert_int_equal(set(&h, RNDIS_OID_PACKET_FILTER, &f, 4, &ev), 0);
	assert_int_equal(ev, RNDIS_HE_FILTER);
	assert_int_equal(h.filter, f);
	assert_int_equal(query_u32(&h, RNDIS_OID_PACKET_FILTER), f);
	assert_int_equal(set(&h, RNDIS_OID_PACKET_FILTER, &f, 2, &ev),
			 RNDIS_ST_INVALID_LENGTH);
	assert_int_equal(ev, RNDIS_HE_NONE);
	assert_int_equal(set(&h, RNDIS_OID_PACKET_FILTER, b, 8, NULL),
			 RNDIS_ST_INVALID_LENGTH);
	assert_int_equal(h.st.bad[RNDIS_HBAD_OID_LEN], 2);
	assert_int_equal(set(&h, 0x12345678, &f, 4, NULL),
			 RNDIS_ST_NOT_SUPPORTED);
	assert_int_equal(set(&h, RNDIS_OID_OFFLOAD_ENCAP, b, 28, NULL), 0);
	/* A guest reloaded starts over at filter 0, offloads and RSS off. */
	h.offload.lso4 = h.rss.enabled = true;
	rndis_host_rx(&h, b, mk_init(b, 3, 1), &a);
	assert_int_equal(a.ev, RNDIS_HE_INIT);
	assert_int_equal(h.filter, 0);
	assert_false(h.offload.lso4 || h.rss.enabled);
}

static uint32_t set_offp(struct rndis_host *h, const struct ndis_offload_params *p,
			 uint32_t n)
{
	return set(h, RNDIS_OID_OFFLOAD_PARAMS, p, n, NULL);
}

static void test_host_offload(void **state)
{
	struct rndis_host h;
	struct ndis_offload_params p = {
		.hdr = { NDIS_OBJ_DEFAULT, 3, 28 },
		.ip4csum = NDIS_OFFP_CSUM_OFF, .tcp4csum = NDIS_OFFP_CSUM_TXRX,
		.udp4csum = NDIS_OFFP_CSUM_TX, .tcp6csum = NDIS_OFFP_CSUM_RX,
		.udp6csum = NDIS_OFFP_NOCHG, .lsov2_ip4 = NDIS_OFFP_ON,
		.lsov2_ip6 = NDIS_OFFP_OFF, .rsc_ip4 = NDIS_OFFP_ON,
		.rsc_ip6 = NDIS_OFFP_ON,
	};
	const struct rndis_offload_state *s = &h.offload;
	struct ndis_offload_params q;

	(void)state;
	host_ready(&h, 1, false);
	h.offload.tx_udp6 = true; /* to see NOCHG keep it */
	assert_int_equal(set_offp(&h, &p, 28), 0);
	assert_false(s->tx_ip4 || s->rx_ip4);
	assert_true(s->tx_tcp4 && s->rx_tcp4);
	assert_true(s->tx_udp4 && !s->rx_udp4);
	assert_true(!s->tx_tcp6 && s->rx_tcp6);
	assert_true(s->tx_udp6);
	assert_true(s->lso4 && !s->lso6 && s->rsc4 && s->rsc6);
	/* 22 bytes under a revision-3 header (Linux, NVSP 4): RSC beyond
	 * the buffer is not read. */
	p.rsc_ip4 = NDIS_OFFP_OFF;
	p.lsov2_ip4 = NDIS_OFFP_OFF;
	assert_int_equal(set_offp(&h, &p, 22), 0);
	assert_true(s->rsc4 && !s->lso4);
	assert_int_equal(set_offp(&h, &p, 20), 0);
	assert_int_equal(set_offp(&h, &p, 19), RNDIS_ST_INVALID_LENGTH);
	/* Values out of range, a wrong object type. */
	q = p;
	q.tcp6csum = 5;
	assert_int_equal(set_offp(&h, &q, 28), RNDIS_ST_INVALID_DATA);
	q = p;
	q.lsov2_ip6 = 3;
	assert_int_equal(set_offp(&h, &q, 28), RNDIS_ST_INVALID_DATA);
	q = p;
	q.rsc_ip6 = 9;
	assert_int_equal(set_offp(&h, &q, 28), RNDIS_ST_INVALID_DATA);
	q = p;
	q.hdr.type = NDIS_OBJ_OFFLOAD;
	assert_int_equal(set_offp(&h, &q, 28), RNDIS_ST_INVALID_DATA);
	assert_int_equal(h.st.bad[RNDIS_HBAD_OID_VALUE], 4);
	assert_int_equal(h.st.bad[RNDIS_HBAD_OID_LEN], 1);
	assert_true(s->rsc4);
	/* Nothing beyond what is offered. */
	h.offered = 0;
	p.tcp4csum = NDIS_OFFP_CSUM_TXRX;
	assert_int_equal(set_offp(&h, &p, 28), 0);
	assert_false(s->tx_tcp4 || s->rx_tcp4);
}

/* RSS parameters with the table of n entries and the key in the given
 * order; returns the message's value length. */
static uint32_t mk_rss(uint8_t *b, uint32_t n, uint32_t queues,
		       bool key_first, uint16_t flags)
{
	struct ndis_rss_params p = {
		.hdr = { NDIS_OBJ_RSS_PARAMS, 2, 40 },
		.flags = flags,
		.hash_info = NDIS_HASH_TOEPLITZ | NDIS_HASH_IPV4 |
			     NDIS_HASH_TCP_IPV4,
		.table_size = (uint16_t)(4 * n),
		.key_size = 40,
	};

	p.key_offset = key_first ? 40 : 40 + 4 * n;
	p.table_offset = key_first ? 80 : 40;
	memcpy(b, &p, sizeof(p));
	memcpy(b + p.key_offset, rndis_default_rss_key, 40);
	for (uint32_t i = 0; i < n; i++)
		wr32(b + p.table_offset + 4 * i, (i * 7) % queues);
	return 80 + 4 * n;
}

static void check_table(const struct rndis_host *h, uint32_t n,
			uint32_t queues)
{
	assert_true(h->rss.enabled);
	assert_int_equal(h->rss.entries, n);
	assert_memory_equal(h->rss.key, rndis_default_rss_key, 40);
	for (uint32_t i = 0; i < NDIS_RSS_TABLE_MAX; i++)
		assert_int_equal(h->rss.table[i], ((i % n) * 7) % queues);
}

static void rss_bad(struct rndis_host *h, uint8_t *b, uint32_t len,
		    uint32_t status)
{
	struct rndis_rss_state before = h->rss;

	assert_int_equal(set(h, RNDIS_OID_RSS_PARAMS, b, len, NULL), status);
	assert_memory_equal(&before, &h->rss, sizeof(before));
}

static void test_host_rss(void **state)
{
	struct rndis_host h;
	enum rndis_host_ev ev;
	uint8_t b[1024];
	uint32_t len;
	uint64_t bad;

	(void)state;
	host_ready(&h, 4, false);
	/* Both layouts, and a table shorter than 128 repeated. */
	len = mk_rss(b, 128, 4, false, 0);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, &ev), 0);
	assert_int_equal(ev, RNDIS_HE_RSS);
	check_table(&h, 128, 4);
	assert_int_equal(h.rss.hash_info, NDIS_HASH_TOEPLITZ | NDIS_HASH_IPV4 |
						  NDIS_HASH_TCP_IPV4);
	len = mk_rss(b, 16, 4, true, 0);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, NULL), 0);
	check_table(&h, 16, 4);
	len = mk_rss(b, 20, 3, true, 0);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, NULL), 0);
	check_table(&h, 20, 3);
	/* TABLE_UNCHANGED keeps the table even when it is malformed. */
	len = mk_rss(b, 64, 4, false, NDIS_RSS_FLAG_TABLE_UNCHANGED);
	wr32(b + 12, 3);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, NULL), 0);
	check_table(&h, 20, 3);
	/* Hostile: each refused, counted, the state kept. */
	bad = h.st.bad[RNDIS_HBAD_RSS];
	len = mk_rss(b, 16, 4, false, 0);
	rss_bad(&h, b, 27, RNDIS_ST_INVALID_LENGTH);
	b[0] = NDIS_OBJ_RSS_CAPS;
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 4, false, 0);
	wr32(b + 8, NDIS_HASH_IPV4 | 2);                /* not Toeplitz */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 4, false, 0);
	b[20] = 32;                                     /* key size */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 4, false, 0);
	wr32(b + 24, len - 39);                         /* key past */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 4, false, 0);
	b[12] = 62;                                     /* not 4 × n */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 8, 4, false, 0);                /* too few */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 129, 4, false, 0);              /* too many */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 5, false, 0);               /* queue 4 of 4 */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 4, true, 0);
	wr32(b + 16, 0xFFFFFFF0u);                      /* table wraps */
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	assert_int_equal(h.st.bad[RNDIS_HBAD_RSS] - bad, 10);
	/* DISABLE, or no hash function, turns RSS off. */
	len = mk_rss(b, 16, 4, false, NDIS_RSS_FLAG_DISABLE);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, &ev), 0);
	assert_int_equal(ev, RNDIS_HE_RSS);
	assert_false(h.rss.enabled);
	/* UNCHANGED flags with nothing enabled to keep: all must be there. */
	len = mk_rss(b, 16, 4, false, NDIS_RSS_FLAG_KEY_UNCHANGED);
	b[20] = 0;
	rss_bad(&h, b, len, RNDIS_ST_INVALID_DATA);
	len = mk_rss(b, 16, 4, false, 0);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, NULL), 0);
	wr32(b + 8, 0);
	assert_int_equal(set(&h, RNDIS_OID_RSS_PARAMS, b, len, NULL), 0);
	assert_false(h.rss.enabled);
}

/* RNDIS_CONFIG_PARAMETER with name and value as UTF-16. */
static uint32_t mk_config(uint8_t *b, const char *name, const char *value,
			  uint32_t type)
{
	struct rndis_config_param c = { .type = type };
	uint32_t nl = (uint32_t)strlen(name), vl = (uint32_t)strlen(value);

	c.name_offset = 20;
	c.name_len = 2 * nl;
	c.value_offset = 20 + 2 * nl;
	c.value_len = 2 * vl;
	memcpy(b, &c, sizeof(c));
	for (uint32_t i = 0; i < nl; i++) {
		b[20 + 2 * i] = (uint8_t)name[i];
		b[21 + 2 * i] = 0;
	}
	for (uint32_t i = 0; i < vl; i++) {
		b[c.value_offset + 2 * i] = (uint8_t)value[i];
		b[c.value_offset + 2 * i + 1] = 0;
	}
	return c.value_offset + c.value_len;
}

static void test_host_config(void **state)
{
	static const uint8_t want[6] = { 0x02, 0x11, 0x22, 0xaa, 0xbb, 0xcc };
	struct rndis_host h;
	enum rndis_host_ev ev;
	uint8_t b[256], v[16];
	uint32_t len, n;

	(void)state;
	/* Not allowed: accepted, ignored. */
	host_ready(&h, 1, false);
	len = mk_config(b, "NetworkAddress", "021122AABBCC", 2);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, &ev), 0);
	assert_int_equal(ev, RNDIS_HE_NONE);
	assert_memory_equal(h.mac, mac0, 6);
	/* Allowed. */
	host_ready(&h, 1, true);
	len = mk_config(b, "networkaddress", "021122aabbcc", 2);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, &ev), 0);
	assert_int_equal(ev, RNDIS_HE_MAC);
	assert_memory_equal(h.mac, want, 6);
	assert_int_equal(query(&h, RNDIS_OID_CURRENT_ADDRESS, 0, v, &n), 0);
	assert_memory_equal(v, want, 6);
	assert_int_equal(query(&h, RNDIS_OID_PERMANENT_ADDRESS, 0, v, &n), 0);
	assert_memory_equal(v, mac0, 6);
	/* Other parameters: accepted, ignored. */
	len = mk_config(b, "NetworkAddres", "021122AABBCD", 2);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, &ev), 0);
	assert_int_equal(ev, RNDIS_HE_NONE);
	/* Hostile. */
	len = mk_config(b, "NetworkAddress", "021122AABBC", 2);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	len = mk_config(b, "NetworkAddress", "02112GAABBCC", 2);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	len = mk_config(b, "NetworkAddress", "031122AABBCC", 2); /* multicast */
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	len = mk_config(b, "NetworkAddress", "021122AABBCC", 0);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	len = mk_config(b, "NetworkAddress", "021122AABBCC", 2);
	wr32(b + 12, len - 23);                          /* value past */
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	len = mk_config(b, "NetworkAddress", "021122AABBCC", 2);
	wr32(b + 4, 27);                                 /* odd */
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	wr32(b, 0xFFFFFFFFu);                            /* wraps */
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, len, NULL),
			 RNDIS_ST_INVALID_DATA);
	assert_int_equal(set(&h, RNDIS_OID_CONFIG_PARAMETER, b, 19, NULL),
			 RNDIS_ST_INVALID_LENGTH);
	assert_int_equal(h.st.bad[RNDIS_HBAD_CONFIG], 8);
	assert_memory_equal(h.mac, want, 6);
}

static void test_host_hostile(void **state)
{
	struct rndis_host h;
	struct rndis_host_act a;
	uint8_t b[256] = { 0 };
	uint32_t f = 1, len;

	(void)state;
	host_new(&h, 1, false);
	/* Before INITIALIZE: refused with a failure completion. */
	len = mk_oid(b, RNDIS_MSG_QUERY, 4, RNDIS_OID_LINK_SPEED, NULL, 0, 20);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(reply_status(&a), RNDIS_ST_FAILURE);
	assert_int_equal(rd32(a.reply + 8), 4);
	assert_int_equal(h.st.bad[RNDIS_HBAD_STATE], 1);
	/* Too short for anything, msg_len past the bytes, unknown types. */
	rndis_host_rx(&h, b, 7, &a);
	assert_int_equal(a.reply_len, 0);
	wr32(b + 4, len + 1);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(a.reply_len, 0);
	wr32(b + 4, 4);
	rndis_host_rx(&h, b, len, &a);
	wr32(b, RNDIS_MSG_PACKET);
	rndis_host_rx(&h, b, len, &a);
	wr32(b, RNDIS_MSG_QUERY_C);
	rndis_host_rx(&h, b, len, &a);
	wr32(b, RNDIS_MSG_SET_EX);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(a.reply_len, 0);
	assert_int_equal(h.st.bad[RNDIS_HBAD_SHORT], 1);
	assert_int_equal(h.st.bad[RNDIS_HBAD_MSGLEN], 2);
	assert_int_equal(h.st.bad[RNDIS_HBAD_TYPE], 3);
	/* A QUERY shorter than its header: answered, with its id. */
	len = mk_oid(b, RNDIS_MSG_QUERY, 6, RNDIS_OID_LINK_SPEED, NULL, 0, 20);
	wr32(b + 4, 24);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(reply_status(&a), RNDIS_ST_INVALID_LENGTH);
	assert_int_equal(rd32(a.reply + 8), 6);
	assert_int_equal(h.st.bad[RNDIS_HBAD_SHORT], 2);
	wr32(b + 4, 11); /* too short for an id */
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(rd32(a.reply + 8), 0);
	/* Buffers: inside the header, past msg_len, wrapping. */
	host_ready(&h, 1, false);
	len = mk_oid(b, RNDIS_MSG_SET, 7, RNDIS_OID_PACKET_FILTER, &f, 4, 16);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(reply_status(&a), RNDIS_ST_INVALID_DATA);
	len = mk_oid(b, RNDIS_MSG_SET, 7, RNDIS_OID_PACKET_FILTER, &f, 4, 20);
	wr32(b + 16, 5);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(reply_status(&a), RNDIS_ST_INVALID_DATA);
	wr32(b + 16, 4);
	wr32(b + 20, 0xFFFFFFFEu);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(reply_status(&a), RNDIS_ST_INVALID_DATA);
	assert_int_equal(h.st.bad[RNDIS_HBAD_BUFFER], 3);
	assert_int_equal(h.filter, 0);
	/* No buffer: its offset is not looked at. */
	len = mk_oid(b, RNDIS_MSG_QUERY, 8, RNDIS_OID_LINK_SPEED, NULL, 0, 20);
	wr32(b + 20, 0);
	rndis_host_rx(&h, b, len, &a);
	assert_int_equal(reply_status(&a), 0);
	assert_string_not_equal(rndis_host_bad_name(RNDIS_HBAD_CONFIG), "?");
	assert_string_equal(rndis_host_bad_name(RNDIS_HBAD__COUNT), "?");
}

static void test_host_misc(void **state)
{
	struct rndis_host h;
	struct rndis_host_act a;
	struct rndis_id_req k = { { RNDIS_MSG_KEEPALIVE, 12 }, 33 };
	struct rndis_reset_req r = { { RNDIS_MSG_RESET, 12 }, 0 };
	struct rndis_id_req halt = { { RNDIS_MSG_HALT, 12 }, 34 };

	(void)state;
	host_new(&h, 1, false);
	rndis_host_rx(&h, (uint8_t *)&r, 12, &a);
	assert_int_equal(a.reply_len, 16);
	assert_int_equal(rd32(a.reply + 8), RNDIS_ST_FAILURE);
	rndis_host_rx(&h, (uint8_t *)&halt, 12, &a);
	assert_int_equal(a.reply_len, 0);
	assert_int_equal(h.st.bad[RNDIS_HBAD_STATE], 2);
	host_ready(&h, 1, false);
	rndis_host_rx(&h, (uint8_t *)&k, 12, &a);
	assert_int_equal(a.reply_len, 16);
	assert_int_equal(rd32(a.reply), RNDIS_MSG_KEEPALIVE_C);
	assert_int_equal(rd32(a.reply + 8), 33);
	assert_int_equal(rd32(a.reply + 12), 0);
	rndis_host_rx(&h, (uint8_t *)&r, 12, &a);
	assert_int_equal(a.ev, RNDIS_HE_RESET);
	assert_int_equal(rd32(a.reply), RNDIS_MSG_RESET_C);
	assert_int_equal(rd32(a.reply + 8), 0);
	assert_int_equal(rd32(a.reply + 12), 0);
	rndis_host_rx(&h, (uint8_t *)&halt, 12, &a);
	assert_int_equal(a.ev, RNDIS_HE_HALT);
	assert_int_equal(a.reply_len, 0);
	assert_int_equal(h.state, RNDIS_HS_HALTED);
	rndis_host_rx(&h, (uint8_t *)&k, 12, &a);
	assert_int_equal(rd32(a.reply + 12), RNDIS_ST_FAILURE);
	assert_int_equal(h.st.requests, 3);
}

/* RSC only while NVSP asked for it, and off after RESET and HALT until
 * the guest asks again. */
static void test_host_rsc(void **state)
{
	struct rndis_host h;
	struct rndis_host_act a;
	struct ndis_offload_params p = {
		.hdr = { NDIS_OBJ_DEFAULT, 3, 28 },
		.rsc_ip4 = NDIS_OFFP_ON, .rsc_ip6 = NDIS_OFFP_ON,
	};
	struct rndis_reset_req r = { { RNDIS_MSG_RESET, 12 }, 0 };
	struct rndis_id_req halt = { { RNDIS_MSG_HALT, 12 }, 34 };

	(void)state;
	host_ready(&h, 1, false);
	rndis_host_offer_rsc(&h, false);
	assert_false(h.offered & RNDIS_HCAP_RSC);
	assert_int_equal(set_offp(&h, &p, 28), 0);
	assert_false(h.offload.rsc4 || h.offload.rsc6);
	rndis_host_offer_rsc(&h, true);
	assert_int_equal(set_offp(&h, &p, 28), 0);
	assert_true(h.offload.rsc4 && h.offload.rsc6);
	rndis_host_offer_rsc(&h, false);
	assert_false(h.offload.rsc4 || h.offload.rsc6);
	rndis_host_offer_rsc(&h, true);
	assert_int_equal(set_offp(&h, &p, 28), 0);
	rndis_host_rx(&h, (uint8_t *)&r, 12, &a);
	assert_int_equal(a.ev, RNDIS_HE_RESET);
	assert_false(h.offload.rsc4 || h.offload.rsc6);
	assert_int_equal(set_offp(&h, &p, 28), 0);
	assert_true(h.offload.rsc4);
	rndis_host_rx(&h, (uint8_t *)&halt, 12, &a);
	assert_int_equal(a.ev, RNDIS_HE_HALT);
	assert_false(h.offload.rsc4 || h.offload.rsc6);
}

/* ---- guest against host ---- */

static void drive(struct rndis_guest *g, struct rndis_host *h)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	struct rndis_host_act a;
	struct rndis_guest_ev ev = { 0 };

	for (int i = 0; i < 20 && g->state < RNDIS_GS_READY; i++) {
		uint32_t n = rndis_guest_next(g, out);

		assert_true(n > 0);
		assert_int_equal(rndis_guest_next(g, out), 0);
		rndis_host_rx(h, out, n, &a);
		assert_true(a.reply_len > 0);
		rndis_guest_rx(g, a.reply, a.reply_len, &ev);
		assert_true(ev.kind == RNDIS_GE_INIT ||
			    ev.kind == RNDIS_GE_READY);
	}
	assert_int_equal(ev.kind, RNDIS_GE_READY);
	assert_int_equal(g->state, RNDIS_GS_READY);
	for (int i = 0; i < RNDIS_GBAD__COUNT; i++)
		assert_int_equal(g->st.bad[i], 0);
	for (int i = 0; i < RNDIS_HBAD__COUNT; i++)
		assert_int_equal(h->st.bad[i], 0);
}

static void guest_new(struct rndis_guest *g, uint32_t nvsp,
		      uint32_t channels, bool rsc)
{
	struct rndis_guest_cfg c = { .nvsp_version = nvsp,
				     .channels = channels, .want_rsc = rsc };

	rndis_guest_init(g, &c);
}

static void test_engines(void **state)
{
	struct rndis_guest g;
	struct rndis_host h;
	const struct rndis_guest_info *i = &g.info;

	(void)state;
	/* NVSP 6.1, 4 queues wanted of 8, RSC. */
	host_new(&h, 8, false);
	guest_new(&g, NVSP_VERSION_61, 4, true);
	drive(&g, &h);
	assert_memory_equal(i->mac, mac0, 6);
	assert_int_equal(i->mtu, 1500);
	assert_true(i->link_up);
	assert_int_equal(i->speed, 100000000);
	assert_int_equal(i->max_pkts, 8);
	assert_int_equal(i->max_xfer, 0xEFFFFFFF);
	assert_int_equal(i->align, 8);
	assert_true(i->offload.tcp4 && i->offload.udp4 && i->offload.tcp6 &&
		    i->offload.udp6 && i->offload.lso4 && i->offload.lso6 &&
		    i->offload.rsc);
	assert_int_equal(i->caps.lso4_max, RNDIS_LSO_MAX_SIZE);
	assert_int_equal(i->rss_queues, 4);
	assert_int_equal(i->rss_entries, 128);
	assert_true(h.offload.tx_tcp4 && h.offload.rx_tcp4);
	assert_false(h.offload.tx_ip4);
	assert_true(h.offload.lso4 && h.offload.rsc4 && h.offload.rsc6);
	assert_true(h.rss.enabled);
	assert_memory_equal(h.rss.key, rndis_default_rss_key, 40);
	for (uint32_t k = 0; k < 128; k++)
		assert_int_equal(h.rss.table[k], k % 4);
	assert_int_equal(h.rss.hash_info,
			 NDIS_HASH_TOEPLITZ | NDIS_HASH_IPV4 |
				 NDIS_HASH_TCP_IPV4 | NDIS_HASH_IPV6 |
				 NDIS_HASH_TCP_IPV6);
	assert_int_equal(h.filter, 0);
	/* NVSP 4: no RSS capabilities asked, no UDP, no RSC, 22 bytes. */
	host_new(&h, 8, false);
	guest_new(&g, NVSP_VERSION_4, 4, true);
	drive(&g, &h);
	assert_int_equal(i->rss_queues, 1);
	assert_false(i->offload.udp4 || i->offload.rsc);
	assert_true(i->offload.tcp4 && i->offload.lso4);
	assert_false(h.rss.enabled || h.offload.rsc4 || h.offload.tx_udp4);
	/* NVSP 5, one host queue: no RSS; no RSC wanted. */
	host_new(&h, 1, false);
	guest_new(&g, NVSP_VERSION_5, 8, false);
	drive(&g, &h);
	assert_int_equal(i->rss_queues, 1);
	assert_false(i->offload.rsc);
	assert_true(i->offload.udp6);
	/* NVSP 2: revision-1 capabilities (no RSC field). */
	host_new(&h, 4, false);
	guest_new(&g, 0x30002, 4, true);
	drive(&g, &h);
	assert_false(i->caps.rsc);
	assert_true(i->offload.tcp6);
}

static void test_engines_later(void **state)
{
	struct rndis_guest g;
	struct rndis_host h;
	struct rndis_host_act a;
	struct rndis_guest_ev ev;
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t table[128], n;

	(void)state;
	host_new(&h, 8, false);
	guest_new(&g, NVSP_VERSION_61, 3, false);
	assert_int_equal(rndis_guest_set_filter(&g, 1, out), 0);
	drive(&g, &h);
	n = rndis_guest_set_filter(&g, RNDIS_GUEST_FILTER_OPEN, out);
	rndis_host_rx(&h, out, n, &a);
	assert_int_equal(a.ev, RNDIS_HE_FILTER);
	assert_int_equal(h.filter, 0xD);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_DONE);
	assert_int_equal(ev.oid, RNDIS_OID_PACKET_FILTER);
	assert_int_equal(ev.status, 0);
	/* A new table; one naming a queue not there is not built. */
	for (uint32_t k = 0; k < 128; k++)
		table[k] = 2 - k % 3;
	n = rndis_guest_set_rss(&g, table, out);
	rndis_host_rx(&h, out, n, &a);
	assert_int_equal(a.ev, RNDIS_HE_RSS);
	assert_int_equal(h.rss.table[0], 2);
	assert_int_equal(h.rss.table[1], 1);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(ev.oid, RNDIS_OID_RSS_PARAMS);
	table[5] = 3;
	assert_int_equal(rndis_guest_set_rss(&g, table, out), 0);
	n = rndis_guest_keepalive(&g, out);
	rndis_host_rx(&h, out, n, &a);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_DONE);
	/* Status indications. */
	n = rndis_host_indicate(RNDIS_ST_MEDIA_DISCONNECT, 0, a.reply);
	rndis_guest_rx(&g, a.reply, n, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_LINK_DOWN);
	assert_false(g.info.link_up);
	n = rndis_host_indicate(RNDIS_ST_MEDIA_CONNECT, 0, a.reply);
	rndis_guest_rx(&g, a.reply, n, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_LINK_UP);
	n = rndis_host_indicate(RNDIS_ST_LINK_SPEED_CHANGE, 400000, a.reply);
	assert_int_equal(n, 24);
	rndis_guest_rx(&g, a.reply, n, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_SPEED);
	assert_int_equal(ev.speed, 400000);
	/* Pre-Fe vSwitches: the buffer outside msg_len. */
	wr32(a.reply + 4, 20);
	rndis_guest_rx(&g, a.reply, n, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_SPEED);
	n = rndis_host_indicate(RNDIS_ST_NETWORK_CHANGE, 0, a.reply);
	rndis_guest_rx(&g, a.reply, n, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_NETWORK_CHANGE);
	n = rndis_host_indicate(RNDIS_ST_OFFLOAD_CURRENT_CONFIG, 0, a.reply);
	rndis_guest_rx(&g, a.reply, n, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_NONE);
	assert_int_equal(g.st.indications, 6);
}

/* One init step answered by a reply the test shapes. */
static void guest_step(struct rndis_guest *g, struct rndis_host *h,
		       struct rndis_host_act *a)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t n = rndis_guest_next(g, out);

	assert_true(n > 0);
	rndis_host_rx(h, out, n, a);
}

static void rx_bad(struct rndis_guest *g, const uint8_t *m, uint32_t len,
		   enum rndis_guest_bad why)
{
	struct rndis_guest_ev ev;
	uint64_t before = g->st.bad[why];
	enum rndis_guest_state s = g->state;

	rndis_guest_rx(g, m, len, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_NONE);
	assert_int_equal(g->st.bad[why], before + 1);
	assert_int_equal(g->state, s);
	assert_string_not_equal(rndis_guest_bad_name(why), "?");
}

static void test_guest_hostile(void **state)
{
	struct rndis_guest g;
	struct rndis_host h;
	struct rndis_host_act a;
	struct rndis_guest_ev ev;
	uint8_t m[256];

	(void)state;
	host_new(&h, 4, false);
	guest_new(&g, NVSP_VERSION_61, 4, false);
	guest_step(&g, &h, &a);
	memcpy(m, a.reply, a.reply_len);
	rx_bad(&g, m, 7, RNDIS_GBAD_SHORT);
	rx_bad(&g, m, 51, RNDIS_GBAD_MSGLEN);
	wr32(m + 4, 48);
	rx_bad(&g, m, 52, RNDIS_GBAD_SHORT);
	wr32(m + 4, 52);
	wr32(m + 40, 13);                                  /* alignment */
	rx_bad(&g, m, 52, RNDIS_GBAD_VALUE);
	wr32(m + 40, 0);
	wr32(m, RNDIS_MSG_SET_C);                          /* wrong kind */
	rx_bad(&g, m, 52, RNDIS_GBAD_TYPE);
	wr32(m, RNDIS_MSG_RESET_C);
	rx_bad(&g, m, 52, RNDIS_GBAD_TYPE);
	wr32(m, RNDIS_MSG_INIT_C);
	wr32(m + 8, 99);                                   /* never sent */
	rx_bad(&g, m, 52, RNDIS_GBAD_UNKNOWN);
	wr32(m + 8, 0);
	rx_bad(&g, m, 52, RNDIS_GBAD_UNKNOWN);
	wr32(m + 8, 1);
	rndis_guest_rx(&g, m, 52, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_INIT);
	assert_int_equal(g.info.align, 4);  /* factor 0, raised to 4 */
	rx_bad(&g, m, 52, RNDIS_GBAD_DUPLICATE);
	/* The MAC: buffer checks, then its size. */
	guest_step(&g, &h, &a);
	memcpy(m, a.reply, a.reply_len);
	wr32(m + 20, 12);                                  /* in header */
	rx_bad(&g, m, 30, RNDIS_GBAD_BUFFER);
	wr32(m + 20, 17);                                  /* past */
	rx_bad(&g, m, 30, RNDIS_GBAD_BUFFER);
	wr32(m + 20, 0xFFFFFFFFu);
	rx_bad(&g, m, 30, RNDIS_GBAD_BUFFER);
	wr32(m + 20, 16);
	wr32(m + 16, 4);
	rx_bad(&g, m, 30, RNDIS_GBAD_VALUE);
	wr32(m + 16, 6);
	rndis_guest_rx(&g, m, 30, &ev);
	assert_int_equal(g.state, RNDIS_GS_MTU);
	/* An MTU out of range, then the query failing: the default. */
	guest_step(&g, &h, &a);
	memcpy(m, a.reply, a.reply_len);
	wr32(m + 24, 20);
	rx_bad(&g, m, 28, RNDIS_GBAD_VALUE);
	wr32(m + 12, RNDIS_ST_NOT_SUPPORTED);
	rndis_guest_rx(&g, m, 28, &ev);
	assert_int_equal(g.info.mtu, 1500);
	/* A media state of 2, an INDICATE_STATUS without room. */
	guest_step(&g, &h, &a);
	memcpy(m, a.reply, a.reply_len);
	wr32(m + 24, 2);
	rx_bad(&g, m, 28, RNDIS_GBAD_VALUE);
	rndis_host_indicate(RNDIS_ST_LINK_SPEED_CHANGE, 5, m);
	rx_bad(&g, m, 23, RNDIS_GBAD_MSGLEN);
	wr32(m + 4, 20);                      /* pre-Fe, but cut short */
	rx_bad(&g, m, 23, RNDIS_GBAD_BUFFER);
	wr32(m + 16, 8);
	rx_bad(&g, m, 24, RNDIS_GBAD_BUFFER);
	wr32(m + 16, 12);
	wr32(m + 12, 2);
	rx_bad(&g, m, 24, RNDIS_GBAD_BUFFER);
	wr32(m + 4, 16);
	rx_bad(&g, m, 24, RNDIS_GBAD_SHORT);
	wr32(m, RNDIS_MSG_PACKET);
	rx_bad(&g, m, 24, RNDIS_GBAD_TYPE);
	/* Abandoned: the late answer is stale and the init failed. */
	rndis_guest_abandon(&g);
	assert_int_equal(g.state, RNDIS_GS_FAILED);
	memcpy(m, a.reply, a.reply_len);
	rx_bad(&g, m, 28, RNDIS_GBAD_STALE);
}

/* Drives the init through the host engine up to state s. */
static void guest_until(struct rndis_guest *g, struct rndis_host *h,
			enum rndis_guest_state s)
{
	struct rndis_host_act a;
	struct rndis_guest_ev ev;

	while (g->state < s) {
		guest_step(g, h, &a);
		rndis_guest_rx(g, a.reply, a.reply_len, &ev);
	}
	assert_int_equal(g->state, s);
}

/* The capabilities' answer in a refused with another object type,
 * then too short; left as it was. */
static void caps_refused(struct rndis_guest *g, struct rndis_host_act *a,
			 uint8_t bad_type, uint32_t short_len)
{
	uint8_t type = a->reply[24];
	uint32_t len = rd32(a->reply + 16);

	a->reply[24] = bad_type;
	rx_bad(g, a->reply, a->reply_len, RNDIS_GBAD_VALUE);
	a->reply[24] = type;
	wr32(a->reply + 16, short_len);
	rx_bad(g, a->reply, a->reply_len, RNDIS_GBAD_VALUE);
	wr32(a->reply + 16, len);
}

/* A fresh pair up to the host's answer to the step s. */
static void answer_of(struct rndis_guest *g, struct rndis_host *h,
		      struct rndis_host_act *a, enum rndis_guest_state s)
{
	host_new(h, 8, false);
	guest_new(g, NVSP_VERSION_61, 4, true);
	guest_until(g, h, s);
	guest_step(g, h, a);
}

/* The capabilities the host answers, altered: refused when malformed,
 * clamped when out of range. */
static void test_guest_caps(void **state)
{
	struct rndis_guest g;
	struct rndis_host h;
	struct rndis_host_act a;
	struct rndis_guest_ev ev;

	(void)state;
	answer_of(&g, &h, &a, RNDIS_GS_OFFLOAD_CAPS);
	assert_int_equal(rd32(a.reply + 16), 156);
	caps_refused(&g, &a, NDIS_OBJ_DEFAULT, 111);
	/* Revision 1 only (no RSC field): accepted, RSC not chosen. TCP
	 * over IPv4 without its options, LSO over IPv6 without extension
	 * headers: neither chosen, nor what depends on them. */
	wr32(a.reply + 16, 112);
	wr32(a.reply + 24 + 8, NDIS_CSUM_TCP | NDIS_CSUM_UDP);
	wr32(a.reply + 24 + 104, NDIS_LSO6_TCPOPT);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_INIT);
	assert_false(g.info.caps.rsc || g.info.offload.rsc);
	assert_false(g.info.offload.tcp4 || g.info.offload.udp4 ||
		     g.info.offload.lso4 || g.info.offload.lso6);
	assert_true(g.info.offload.tcp6 && g.info.offload.udp6);
	assert_true(g.info.caps.lso4 && g.info.caps.lso6);
	assert_int_equal(g.info.caps.lso6_max, RNDIS_LSO_MAX_SIZE);
	/* RSS capabilities. */
	guest_step(&g, &h, &a);
	assert_int_equal(rd32(a.reply + 16), 18);
	caps_refused(&g, &a, NDIS_OBJ_RSS_PARAMS, 15);
	wr32(a.reply + 24 + 12, 2);         /* queues */
	wr16(a.reply + 24 + 16, 300);       /* entries */
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(g.info.rss_queues, 2);
	assert_int_equal(g.info.rss_entries, 128);
	/* Few entries raised to 16; one queue: no RSS. */
	answer_of(&g, &h, &a, RNDIS_GS_RSS_CAPS);
	wr16(a.reply + 24 + 16, 4);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(g.info.rss_entries, 16);
	answer_of(&g, &h, &a, RNDIS_GS_RSS_CAPS);
	wr32(a.reply + 24 + 12, 1);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(g.info.rss_queues, 1);
	guest_until(&g, &h, RNDIS_GS_READY);
	assert_false(h.rss.enabled);
}

/* The offload parameters as Linux sets them, by NVSP version. */
static void test_guest_offload_msg(void **state)
{
	static const struct {
		uint32_t nvsp, len;
		bool rsc;
		uint8_t udp, rsc_value;
	} cases[] = {
		{ NVSP_VERSION_61, 28, true, NDIS_OFFP_CSUM_TXRX, NDIS_OFFP_ON },
		{ NVSP_VERSION_61, 28, false, NDIS_OFFP_CSUM_TXRX, NDIS_OFFP_OFF },
		{ NVSP_VERSION_5, 28, true, NDIS_OFFP_CSUM_TXRX, NDIS_OFFP_OFF },
		{ NVSP_VERSION_4, 22, true, NDIS_OFFP_NOCHG, 0 },
	};
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	struct ndis_offload_params p;

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rndis_guest g;
		struct rndis_host h;

		host_new(&h, 8, false);
		guest_new(&g, cases[i].nvsp, 1, cases[i].rsc);
		guest_until(&g, &h, RNDIS_GS_OFFLOAD);
		assert_int_equal(rndis_guest_next(&g, out), 28 + cases[i].len);
		assert_int_equal(rd32(out + 12), RNDIS_OID_OFFLOAD_PARAMS);
		memset(&p, 0, sizeof(p));
		memcpy(&p, out + 28, cases[i].len);
		assert_int_equal(p.hdr.type, NDIS_OBJ_DEFAULT);
		assert_int_equal(p.hdr.revision, 3);
		assert_int_equal(p.hdr.size, 28);
		assert_int_equal(p.ip4csum, NDIS_OFFP_CSUM_OFF);
		assert_int_equal(p.tcp4csum, NDIS_OFFP_CSUM_TXRX);
		assert_int_equal(p.tcp6csum, NDIS_OFFP_CSUM_TXRX);
		assert_int_equal(p.udp4csum, cases[i].udp);
		assert_int_equal(p.udp6csum, cases[i].udp);
		assert_int_equal(p.lsov2_ip4, NDIS_OFFP_ON);
		assert_int_equal(p.lsov2_ip6, NDIS_OFFP_ON);
		assert_int_equal(p.rsc_ip4, cases[i].rsc_value);
		assert_int_equal(p.rsc_ip6, cases[i].rsc_value);
	}
}

/* The steps a host may refuse: which end the init and which do not. */
static void test_guest_failures(void **state)
{
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	struct rndis_guest g;
	struct rndis_host h;
	struct rndis_host_act a;
	struct rndis_guest_ev ev;

	(void)state;
	host_new(&h, 4, false);
	guest_new(&g, NVSP_VERSION_61, 4, false);
	guest_step(&g, &h, &a);
	wr32(a.reply + 12, RNDIS_ST_FAILURE);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_FAILED);
	assert_int_equal(g.fail_step, RNDIS_GS_INIT);
	assert_int_equal(g.fail_status, RNDIS_ST_FAILURE);
	assert_int_equal(rndis_guest_next(&g, out), 0);
	/* Offload and RSS capabilities refused: neither is set. */
	host_new(&h, 4, false);
	guest_new(&g, NVSP_VERSION_61, 4, false);
	while (g.state < RNDIS_GS_READY) {
		guest_step(&g, &h, &a);
		if (g.state == RNDIS_GS_OFFLOAD_CAPS ||
		    g.state == RNDIS_GS_RSS_CAPS)
			wr32(a.reply + 12, RNDIS_ST_NOT_SUPPORTED);
		assert_true(g.state != RNDIS_GS_OFFLOAD &&
			    g.state != RNDIS_GS_RSS);
		rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	}
	assert_int_equal(g.info.rss_queues, 1);
	assert_false(g.info.offload.tcp4);
	/* The filter refused: failed; RSS refused: one queue. */
	host_new(&h, 4, false);
	guest_new(&g, NVSP_VERSION_61, 4, false);
	while (g.state < RNDIS_GS_READY) {
		guest_step(&g, &h, &a);
		if (g.state == RNDIS_GS_RSS || g.state == RNDIS_GS_OFFLOAD)
			wr32(a.reply + 12, RNDIS_ST_INVALID_DATA);
		rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	}
	assert_int_equal(g.info.rss_queues, 1);
	assert_false(g.info.offload.tcp4);
	host_new(&h, 4, false);
	guest_new(&g, NVSP_VERSION_61, 4, false);
	guest_until(&g, &h, RNDIS_GS_FILTER);
	guest_step(&g, &h, &a);
	wr32(a.reply + 12, RNDIS_ST_FAILURE);
	rndis_guest_rx(&g, a.reply, a.reply_len, &ev);
	assert_int_equal(ev.kind, RNDIS_GE_FAILED);
	assert_int_equal(g.fail_step, RNDIS_GS_FILTER);
}

/* Requests beyond what the table holds are not built. */
static void test_guest_pending(void **state)
{
	struct rndis_guest g;
	struct rndis_host h;
	uint8_t out[RNDIS_GUEST_MSG_MAX];
	uint32_t ids[RNDIS_GUEST_PENDING];

	(void)state;
	host_new(&h, 4, false);
	guest_new(&g, NVSP_VERSION_61, 1, false);
	drive(&g, &h);
	for (unsigned i = 0; i < RNDIS_GUEST_PENDING; i++) {
		assert_int_equal(rndis_guest_keepalive(&g, out), 12);
		ids[i] = rd32(out + 8);
		assert_true(ids[i] != 0);
		for (unsigned k = 0; k < i; k++)
			assert_true(ids[k] != ids[i]);
	}
	assert_int_equal(rndis_guest_keepalive(&g, out), 0);
	assert_int_equal(rndis_guest_set_filter(&g, 1, out), 0);
	assert_int_equal(rndis_guest_set_rss(&g, NULL, out), 0); /* 1 queue */
	/* Ids never 0, even past the wrap. */
	g.next_id = 0xFFFFFFFFu;
	rndis_guest_abandon(&g);
	assert_int_equal(rndis_guest_keepalive(&g, out), 12);
	assert_int_equal(rd32(out + 8), 0xFFFFFFFFu);
	assert_int_equal(rndis_guest_keepalive(&g, out), 12);
	assert_int_equal(rd32(out + 8), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ppi_roundtrip),
		cmocka_unit_test(test_ppi_hostile),
		cmocka_unit_test(test_ppi_multi),
		cmocka_unit_test(test_ppi_spans),
		cmocka_unit_test(test_agg_limits),
		cmocka_unit_test(test_agg_room),
		cmocka_unit_test(test_host_init),
		cmocka_unit_test(test_host_queries),
		cmocka_unit_test(test_host_offered),
		cmocka_unit_test(test_host_filter),
		cmocka_unit_test(test_host_offload),
		cmocka_unit_test(test_host_rss),
		cmocka_unit_test(test_host_config),
		cmocka_unit_test(test_host_hostile),
		cmocka_unit_test(test_host_misc),
		cmocka_unit_test(test_host_rsc),
		cmocka_unit_test(test_engines),
		cmocka_unit_test(test_engines_later),
		cmocka_unit_test(test_guest_hostile),
		cmocka_unit_test(test_guest_caps),
		cmocka_unit_test(test_guest_offload_msg),
		cmocka_unit_test(test_guest_failures),
		cmocka_unit_test(test_guest_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
