/* Coalescing of a guest's TCP segments (core/net/ngro): a stream of
 * consecutive segments built here, over IPv4 and over IPv6, merges into
 * one GSO frame whose
 * headers parse with the whole length, whose IP checksum holds and whose
 * TCP checksum, completed from the seed as a device would, verifies over
 * the payloads in order; a lone segment stays as it came; and each thing
 * that must end a run (a gap, another id, another flow, flags other than
 * ACK and PSH, a full checksum, a tag, IP options, a longer segment, a
 * segment after a short or PSH one, the IP packet's limit, the segment
 * limit; over IPv6 an extension header, another flow label, an IPv4
 * segment in an IPv6 run) keeps the segment out. Frames sit in heap blocks of their size
 * so ASan sees a read past them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/ncsum.h"
#include "net/ngro.h"

#define MSS 1448u
#define HLEN (14u + 20u + 32u)
#define HLEN6 (14u + 40u + 32u)

struct seg_spec {
	uint32_t seq, plen;
	uint16_t id, sport;
	uint8_t flags;
	bool v6;
};

static const struct vnet_hdr csum_hdr = {
	.flags = VNET_HDR_F_NEEDS_CSUM,
	.csum_start = 34,
	.csum_offset = 16,
};
static const struct vnet_hdr csum_hdr6 = {
	.flags = VNET_HDR_F_NEEDS_CSUM,
	.csum_start = 54,
	.csum_offset = 16,
};

/* The TCP header (timestamps) and payload of s at tcp, its checksum
 * seeded with the pseudo-header's sum. */
static void tcp_fill(uint8_t *tcp, const struct seg_spec *s, uint32_t seed)
{
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 3, 232, 0, 0, 7, 208};

	vmb_put_be16(tcp, s->sport ? s->sport : 40000);
	vmb_put_be16(tcp + 2, 5201);
	vmb_put_be32(tcp + 4, s->seq);
	vmb_put_be32(tcp + 8, 77);
	tcp[12] = 8u << 4;
	tcp[13] = s->flags ? s->flags : 0x10;
	vmb_put_be16(tcp + 14, 502);
	memcpy(tcp + 20, ts, sizeof(ts));
	for (uint32_t i = 0; i < s->plen; i++)
		tcp[32 + i] = (uint8_t)(s->seq + i);
	vmb_put_be16(tcp + 16, ncsum_fold(seed));
}

/* Ethernet, IPv6 (flow label 5, hop limit 64), TCP as tcp_fill. */
static uint8_t *build6(const struct seg_spec *s, uint32_t *len)
{
	uint8_t *f = calloc(1, HLEN6 + s->plen), *ip = f + 14;

	memcpy(f, "\x00\x15\x5d\x00\x00\x01\x00\x15\x5d\x00\x00\x02\x86\xdd",
	       14);
	memcpy(ip, "\x60\x00\x00\x05", 4);
	vmb_put_be16(ip + 4, (uint16_t)(32 + s->plen));
	ip[6] = 6;
	ip[7] = 64;
	ip[8] = ip[24] = 0xfd;
	ip[23] = 2;
	ip[39] = 1;
	tcp_fill(f + 54, s, ncsum_pseudo6(ip + 8, ip + 24, 6, 32 + s->plen));
	*len = HLEN6 + s->plen;
	return f;
}

/* Ethernet, IPv4 (DF), TCP with a timestamp option, payload bytes that
 * follow the sequence number; the TCP checksum seeded as the host's
 * offload fix-up leaves it. */
static uint8_t *build(const struct seg_spec *s, uint32_t *len)
{
	uint8_t *f, *ip;

	if (s->v6)
		return build6(s, len);
	f = calloc(1, HLEN + s->plen);
	ip = f + 14;
	memcpy(f, "\x00\x15\x5d\x00\x00\x01\x00\x15\x5d\x00\x00\x02\x08\x00",
	       14);
	ip[0] = 0x45;
	vmb_put_be16(ip + 2, (uint16_t)(HLEN - 14 + s->plen));
	vmb_put_be16(ip + 4, s->id);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
	vmb_put_be16(ip + 10, ncsum_finish(ncsum_partial(ip, 20, 0)));
	tcp_fill(f + 34, s, ncsum_pseudo4(ip + 12, ip + 16, 6, 32 + s->plen));
	*len = HLEN + s->plen;
	return f;
}

static bool seg_of(const uint8_t *f, uint32_t len, struct ngro_seg *s)
{
	return ngro_seg_of(f, len, len, f[12] == 0x86 ? &csum_hdr6 : &csum_hdr,
			   s);
}

/* Offers n segments of plen from seq 1000, id 1 on, over IPv6 when v6:
 * how many joined. */
static unsigned stream_ip(struct ngro_run *r, unsigned n, uint32_t plen,
			  bool v6, uint8_t *whole, uint32_t *wlen)
{
	uint32_t hlen = v6 ? HLEN6 : HLEN;
	unsigned joined = 0;

	for (unsigned i = 0; i < n; i++) {
		struct seg_spec sp = {1000 + i * plen, plen, (uint16_t)(1 + i),
				      0, 0, v6};
		struct ngro_seg s;
		uint32_t len;
		uint8_t *f = build(&sp, &len);

		assert_true(seg_of(f, len, &s));
		if (!i) {
			ngro_start(r, f, &s);
			memcpy(whole, f, len);
			*wlen = len;
		} else if (ngro_join(r, f, &s)) {
			memcpy(whole + *wlen, f + hlen, plen);
			*wlen += plen;
			joined++;
		}
		free(f);
	}
	return joined;
}

static unsigned stream(struct ngro_run *r, unsigned n, uint32_t plen,
		       uint8_t *whole, uint32_t *wlen)
{
	return stream_ip(r, n, plen, false, whole, wlen);
}

/* Three MSS segments over IPv6 when v6 merged: the GSO header, and the
 * whole frame parsing, its checksums good once completed. */
static void merge_three(bool v6)
{
	static uint8_t whole[HLEN6 + 3 * MSS];
	uint32_t hlen = v6 ? HLEN6 : HLEN, wlen;
	struct ngro_run r = {0};
	struct vnet_hdr h;
	struct nframe f;

	assert_int_equal(stream_ip(&r, 3, MSS, v6, whole, &wlen), 2);
	assert_int_equal(r.segs, 3);
	ngro_end(&r, &h);
	assert_int_equal(r.hlen, 0);
	assert_int_equal(h.gso_type, v6 ? VNET_HDR_GSO_TCPV6
					: VNET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, MSS);
	assert_int_equal(h.hdr_len, hlen);
	assert_int_equal(h.csum_start, hlen - 32);
	memcpy(whole, r.hdr, hlen);
	assert_int_equal(nframe_parse(&f, whole, wlen, 0, 0), NFRAME_OK);
	assert_int_equal(f.l3_end, hlen + 3 * MSS);
	assert_true(v6 || ncsum_ip4_ok(whole, &f));
	assert_int_equal(ncsum_rx_complete(whole, &f, &h), NCSUM_L4_GOOD);
	assert_int_equal(ncsum_l4_verify(whole, &f), NCSUM_L4_GOOD);
}

static void merges_three(void **state)
{
	(void)state;
	merge_three(false);
}

static void merges_three_v6(void **state)
{
	(void)state;
	merge_three(true);
}

static void lone_stays(void **state)
{
	struct seg_spec sp = {.seq = 5, .plen = 100, .id = 9, .flags = 0x18};
	struct ngro_run r = {0};
	struct ngro_seg s;
	struct vnet_hdr h;
	uint32_t len;
	uint8_t *f = build(&sp, &len);

	(void)state;
	assert_true(seg_of(f, len, &s));
	assert_true(s.psh);
	ngro_start(&r, f, &s);
	assert_true(r.ended);
	ngro_end(&r, &h);
	assert_memory_equal(r.hdr, f, HLEN);
	assert_int_equal(h.gso_type, VNET_HDR_GSO_NONE);
	assert_int_equal(h.flags, VNET_HDR_F_NEEDS_CSUM);
	free(f);
}

/* A run of two MSS segments from seq 1000, then sp offered. */
static bool joins_after_two(const struct seg_spec *sp)
{
	static uint8_t whole[HLEN + 2 * MSS];
	struct ngro_run r = {0};
	struct ngro_seg s;
	uint32_t wlen, len;
	uint8_t *f = build(sp, &len);
	bool ok;

	stream(&r, 2, MSS, whole, &wlen);
	ok = seg_of(f, len, &s) && ngro_join(&r, f, &s);
	free(f);
	return ok;
}

/* An IPv4 segment offered after joins_after_two's run. */
static bool next_joins(uint32_t seq, uint32_t plen, uint16_t id,
		       uint16_t sport, uint8_t flags)
{
	struct seg_spec sp = {.seq = seq, .plen = plen, .id = id,
			      .sport = sport, .flags = flags};

	return joins_after_two(&sp);
}

static void refuses_others(void **state)
{
	const uint32_t next = 1000 + 2 * MSS;

	(void)state;
	assert_true(next_joins(next, MSS, 3, 0, 0));
	assert_true(next_joins(next, 10, 3, 0, 0x18));
	assert_false(next_joins(next + 1, MSS, 3, 0, 0));
	assert_false(next_joins(next, MSS, 4, 0, 0));
	assert_false(next_joins(next, MSS, 3, 1, 0));
	assert_false(next_joins(next, MSS + 1, 3, 0, 0));
	assert_false(next_joins(next, MSS, 3, 0, 0x11));
	assert_false(next_joins(next, MSS, 3, 0, 0x50));
}

static void refuses_shapes(void **state)
{
	struct seg_spec sp = {.seq = 1, .plen = MSS, .id = 1};
	struct vnet_hdr full = {0}, gso = csum_hdr;
	struct ngro_seg s;
	uint32_t len;
	uint8_t *f = build(&sp, &len);

	(void)state;
	gso.gso_type = VNET_HDR_GSO_TCPV4;
	assert_false(ngro_seg_of(f, len, len, &full, &s));
	assert_false(ngro_seg_of(f, len, len, &gso, &s));
	assert_false(ngro_seg_of(f, HLEN - 1, len, &csum_hdr, &s));
	assert_false(ngro_seg_of(f, len, len + 2, &csum_hdr, &s));
	assert_false(ngro_seg_of(f, HLEN, HLEN, &csum_hdr, &s));
	f[14] = 0x46; /* IP options */
	assert_false(ngro_seg_of(f, len, len, &csum_hdr, &s));
	f[14] = 0x45;
	f[12] = 0x81; /* a VLAN tag */
	assert_false(ngro_seg_of(f, len, len, &csum_hdr, &s));
	f[12] = 0x08;
	f[46] |= 1; /* AccECN's bit */
	assert_false(ngro_seg_of(f, len, len, &csum_hdr, &s));
	free(f);
}

static void ends_after_short(void **state)
{
	static uint8_t whole[HLEN + 3 * MSS];
	struct seg_spec sp = {.seq = 1000 + MSS + 100, .plen = MSS, .id = 3};
	struct ngro_run r = {0};
	struct ngro_seg s;
	uint32_t wlen, len;
	uint8_t *f;

	(void)state;
	stream(&r, 1, MSS, whole, &wlen);
	f = build(&(struct seg_spec){.seq = 1000 + MSS, .plen = 100, .id = 2},
		  &len);
	assert_true(seg_of(f, len, &s) && ngro_join(&r, f, &s));
	free(f);
	assert_true(r.ended);
	f = build(&sp, &len);
	assert_true(seg_of(f, len, &s));
	assert_false(ngro_join(&r, f, &s));
	free(f);
}

static void limits(void **state)
{
	static uint8_t whole[HLEN + 70 * 1000];
	struct ngro_run r = {0};
	struct vnet_hdr h;
	uint32_t wlen;

	(void)state;
	/* 44 of 1448 fill an IP packet (65535 less 52 header bytes) */
	assert_int_equal(stream(&r, 50, MSS, whole, &wlen), 44);
	assert_true(r.hlen - 14 + r.bytes <= 65535);
	ngro_end(&r, &h);
	/* segments of 500: the count limit first */
	assert_int_equal(stream(&r, 70, 500, whole, &wlen),
			 NGRO_SEGS_MAX - 1);
	ngro_end(&r, &h);
	assert_int_equal(h.gso_size, 500);
}

/* A run of two IPv6 MSS segments, then the next one changed at byte at
 * to v (or, at 0, an IPv4 segment): whether it joined. */
static bool v6_joins(uint32_t at, uint8_t v)
{
	static uint8_t whole[HLEN6 + 2 * MSS];
	struct seg_spec sp = {1000 + 2 * MSS, MSS, 3, 0, 0, at != 0};
	struct ngro_run r = {0};
	struct ngro_seg s;
	uint32_t wlen, len;
	uint8_t *f = build(&sp, &len);
	bool ok;

	stream_ip(&r, 2, MSS, true, whole, &wlen);
	if (at)
		f[at] = v;
	ok = seg_of(f, len, &s) && ngro_join(&r, f, &s);
	free(f);
	return ok;
}

static void refuses_v6(void **state)
{
	static uint8_t whole[HLEN6 + 70 * 1000];
	struct ngro_run r = {0};
	struct vnet_hdr h;
	uint32_t wlen;

	(void)state;
	assert_true(v6_joins(14 + 7, 64));  /* as it was */
	assert_false(v6_joins(0, 0));       /* IPv4 */
	assert_false(v6_joins(14 + 3, 6));  /* another flow label */
	assert_false(v6_joins(14 + 7, 63)); /* another hop limit */
	assert_false(v6_joins(14 + 6, 0));  /* hop-by-hop header */
	/* 45 of 1448 fill the payload length (65535 less 32 of TCP) */
	assert_int_equal(stream_ip(&r, 50, MSS, true, whole, &wlen), 44);
	ngro_end(&r, &h);
	assert_int_equal(h.gso_type, VNET_HDR_GSO_TCPV6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(merges_three),
		cmocka_unit_test(lone_stays),
		cmocka_unit_test(refuses_others),
		cmocka_unit_test(refuses_shapes),
		cmocka_unit_test(ends_after_short),
		cmocka_unit_test(limits),
		cmocka_unit_test(merges_three_v6),
		cmocka_unit_test(refuses_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
