/* Fuzz RNDIS PACKET parsing (core/net/rndis_ppi.h) as both data paths
 * use it: the input is one NVSP message's worth of PACKETs, copied to a
 * heap buffer of exactly its length, parsed alone and walked as a
 * multi-packet message. Every packet accepted must have its frame and
 * its msg_len inside the buffer, and the walk must move forward. The
 * walk over a copy holding only each header and what rndis_pkt_spans
 * names (the rest poisoned), as netvsp copies guest memory, must take
 * the same packets with the same metadata. Then a
 * packet is built from metadata taken from the input and parsed back:
 * what comes out must be what went in; and packets of sizes taken from
 * the input are aggregated under limits taken from it and walked back.
 *
 * Input: byte 0 picks the walk's alignment (1 << (bits 0-3 mod 13));
 * the rest is the message. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/rndis_ppi.h"

static void check_pkt(const uint8_t *buf, uint32_t len,
		      const struct rndis_pkt *p)
{
	if (p->msg_len > len || p->data < buf + sizeof(struct rndis_packet) ||
	    p->data + p->data_len > buf + p->msg_len || !p->data_len)
		abort();
}

static void walk(const uint8_t *buf, uint32_t len, uint32_t align)
{
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt_iter it;
	struct rndis_pkt p;
	uint32_t n = 0, last = 0;
	int r;

	rndis_pkt_iter_init(&it, buf, len, align);
	while ((r = rndis_pkt_next(&it, &p, &st)) == 1) {
		if (p.data < buf + last || p.msg_len > len - last)
			abort();
		check_pkt(buf + last, len - last, &p);
		if (it.off <= last && it.off != len)
			abort();
		last = it.off;
		n++;
	}
	if (st.packets != n || (r < 0 && !it.failed))
		abort();
}

/* What a receiver copies before the walk reads the PACKET at off. */
static void stage(uint8_t *cp, const uint8_t *buf, uint32_t off,
		  uint32_t len)
{
	struct rndis_span s[2];
	unsigned n;

	if (off >= len || len - off < sizeof(struct rndis_packet))
		return;
	memcpy(cp + off, buf + off, sizeof(struct rndis_packet));
	n = rndis_pkt_spans(cp + off, len - off, 64, s);
	for (unsigned i = 0; i < n; i++) {
		if (s[i].off < sizeof(struct rndis_packet) ||
		    (uint64_t)s[i].off + s[i].len > len - off)
			abort();
		memcpy(cp + off + s[i].off, buf + off + s[i].off, s[i].len);
	}
}

static bool same_pkt(const uint8_t *a, const struct rndis_pkt *p,
		     const uint8_t *b, const struct rndis_pkt *q)
{
	return p->msg_len == q->msg_len && p->data_len == q->data_len &&
	       p->data - a == q->data - b &&
	       !memcmp(&p->meta, &q->meta, sizeof(p->meta));
}

static void staged(const uint8_t *buf, uint32_t len, uint32_t align)
{
	struct rndis_ppi_stats s1 = { 0 }, s2 = { 0 };
	struct rndis_pkt_iter a, b;
	struct rndis_pkt p, q;
	uint8_t *cp = malloc(len ? len : 1);
	int r1, r2;

	if (!cp)
		return;
	memset(cp, 0xCC, len);
	rndis_pkt_iter_init(&a, buf, len, align);
	rndis_pkt_iter_init(&b, cp, len, align);
	do {
		stage(cp, buf, b.off, len);
		r1 = rndis_pkt_next(&a, &p, &s1);
		r2 = rndis_pkt_next(&b, &q, &s2);
		if (r1 != r2 || (r1 == 1 && !same_pkt(buf, &p, cp, &q)))
			abort();
	} while (r1 == 1);
	free(cp);
}

/* Metadata from input bytes, built, parsed back and compared. */
static void roundtrip(const uint8_t *d, size_t n)
{
	struct rndis_pkt_meta m = { 0 };
	struct rndis_ppi_stats st = { 0 };
	uint8_t buf[256];
	struct rndis_pkt p;
	uint32_t hl;

	if (n < 16)
		return;
	m.present = d[0] & 0x3F;
	memcpy(&m.csum, d + 1, 4);
	m.lso_mss = (d[5] | d[6] << 8 | (uint32_t)d[7] << 16) &
		    RNDIS_LSO_MSS_MASK;
	m.lso_thoff = (uint16_t)((d[8] | d[9] << 8) & RNDIS_LSO_THOFF_MASK);
	m.lso_ipv6 = d[10] & 1;
	m.vlan_tci = (uint16_t)(d[11] | d[12] << 8);
	memcpy(&m.hash_value, d + 13, 2);
	m.hash_info = d[15];
	m.rsc_id = (uint16_t)(d[1] | d[2] << 8);
	m.rsc_flags = d[3];
	hl = rndis_pkt_build(buf, sizeof(buf), &m, 8);
	if (!hl || hl != rndis_pkt_hdr_len(&m))
		abort();
	memset(buf + hl, 0xAB, 8);
	if (rndis_pkt_parse(buf, hl + 8, &p, &st) || p.meta.present != m.present)
		abort();
	if (((m.present & RNDIS_META_CSUM) && p.meta.csum != m.csum) ||
	    ((m.present & RNDIS_META_LSO) &&
	     (p.meta.lso_mss != m.lso_mss || p.meta.lso_thoff != m.lso_thoff ||
	      p.meta.lso_ipv6 != m.lso_ipv6)) ||
	    ((m.present & RNDIS_META_VLAN) && p.meta.vlan_tci != m.vlan_tci) ||
	    ((m.present & RNDIS_META_HASH_VALUE) &&
	     p.meta.hash_value != m.hash_value) ||
	    ((m.present & RNDIS_META_HASH_INFO) &&
	     p.meta.hash_info != m.hash_info) ||
	    ((m.present & RNDIS_META_RSC) &&
	     (p.meta.rsc_id != m.rsc_id || p.meta.rsc_flags != m.rsc_flags)))
		abort();
}

/* Packets of sizes from the input aggregated with limits from it, then
 * walked back: the same packets, in order, each of its own size. */
static void aggregate(const uint8_t *d, size_t n)
{
	static const struct rndis_pkt_meta m = {
		.present = RNDIS_META_CSUM | RNDIS_META_HASH_VALUE, .csum = 5,
	};
	static uint8_t buf[4096];
	struct rndis_agg a;
	struct rndis_pkt_iter it;
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt p;
	uint32_t sizes[16], k = 0;

	if (n < 3)
		return;
	rndis_agg_init(&a, d[0] % 10, 200 + d[1] * 16u, 1u << (d[2] % 5));
	for (size_t i = 3; i < n && k < 16; i++) {
		uint32_t len = rndis_pkt_hdr_len(&m) + 1 + d[i];
		int off = rndis_agg_where(&a, len, sizeof(buf));

		if (off < 0)
			break;
		if ((uint32_t)off % a.align ||
		    !rndis_pkt_build(buf + off, sizeof(buf) - (uint32_t)off,
				     &m, 1u + d[i]))
			abort();
		rndis_agg_add(&a, buf, len);
		sizes[k++] = 1u + d[i];
	}
	rndis_pkt_iter_init(&it, buf, a.len, 1);
	for (uint32_t i = 0; i < k; i++)
		if (rndis_pkt_next(&it, &p, &st) != 1 || p.data_len != sizes[i] ||
		    p.meta.csum != 5)
			abort();
	if (rndis_pkt_next(&it, &p, &st) != 0 || k > a.max_pkts)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rndis_ppi_stats st = { 0 };
	struct rndis_pkt p;
	uint8_t *buf;
	uint32_t len;

	if (!size || size > (1u << 20))
		return 0;
	len = (uint32_t)size - 1;
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if (!rndis_pkt_parse(buf, len, &p, &st))
		check_pkt(buf, len, &p);
	walk(buf, len, 1u << ((data[0] & 0xF) % 13));
	staged(buf, len, 1u << ((data[0] & 0xF) % 13));
	free(buf);
	roundtrip(data + 1, len);
	aggregate(data + 1, len);
	return 0;
}
