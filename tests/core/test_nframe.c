/* Frame parsing, checksums and offloads (core/net/nframe, ncsum, vnet):
 * frames built here (IPv4 with options, IPv6 with extension headers, TCP
 * and UDP, VLAN and QinQ tags, fragments) parsed field by field; every
 * truncation of them refused with its reason, each frame in a heap block
 * of its exact size so ASan sees any read past it; checksums against
 * values computed by hand (RFC 1071's example, a textbook IPv4 header,
 * UDP over IPv4 and IPv6) and a byte-at-a-time reference at every
 * alignment; Linux netvsc's LSO sends (length 0, seed without the length)
 * turned into what TAP takes, and TAP's partial checksums completed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/ncsum.h"
#include "net/nframe.h"
#include "net/vnet.h"

/* ---- building frames ---- */

struct fb {
	uint8_t b[4096];
	uint32_t len;
	uint32_t l3, l4; /* where the IP and L4 headers start */
	uint32_t ext_nh; /* offset of the last next-header byte (IPv6) */
};

static void put(struct fb *f, const void *p, uint32_t n)
{
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void put8(struct fb *f, uint8_t v) { put(f, &v, 1); }

static void put16(struct fb *f, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(f, b, 2);
}

static void zeros(struct fb *f, uint32_t n)
{
	memset(f->b + f->len, 0, n);
	f->len += n;
}

static const uint8_t src4[4] = { 10, 0, 0, 1 }, dst4[4] = { 10, 0, 0, 2 };
static const uint8_t src6[16] = { 0xfe, 0x80, [15] = 1 };
static const uint8_t dst6[16] = { 0xfe, 0x80, [15] = 2 };

/* Ethernet with ntags tags (tpids[i], VLAN id 100 + i). */
static void eth(struct fb *f, const uint16_t *tpids, int ntags, uint16_t type)
{
	static const uint8_t macs[12] = { 0, 0x15, 0x5d, 0, 0, 1,
					  0, 0x15, 0x5d, 0, 0, 2 };

	memset(f, 0, sizeof(*f));
	put(f, macs, 12);
	for (int i = 0; i < ntags; i++) {
		put16(f, tpids[i]);
		put16(f, (uint16_t)(0x2000 | (100 + i)));
	}
	put16(f, type);
}

/* IPv4 with optlen bytes of options (NOPs); lengths set by done(). */
static void ip4(struct fb *f, uint8_t proto, uint8_t optlen, uint16_t fo)
{
	f->l3 = f->len;
	put8(f, (uint8_t)(0x40 | (5 + optlen / 4)));
	put8(f, 0);
	put16(f, 0);
	put16(f, 0x1234);
	put16(f, fo);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put(f, src4, 4);
	put(f, dst4, 4);
	memset(f->b + f->len, 1, optlen);
	f->len += optlen;
	f->l4 = f->len;
}

static void ip6(struct fb *f, uint8_t nh)
{
	f->l3 = f->len;
	put16(f, 0x6000);
	put16(f, 0);
	put16(f, 0);
	f->ext_nh = f->len;
	put8(f, nh);
	put8(f, 64);
	put(f, src6, 16);
	put(f, dst6, 16);
	f->l4 = f->len;
}

/* An extension header of 8 * (units + 1) bytes; nh is what follows. */
static void ext6(struct fb *f, uint8_t nh, uint8_t units)
{
	f->ext_nh = f->len;
	put8(f, nh);
	put8(f, units);
	zeros(f, 6 + 8u * units);
	f->l4 = f->len;
}

static void frag6(struct fb *f, uint8_t nh, uint16_t off_m)
{
	f->ext_nh = f->len;
	put8(f, nh);
	put8(f, 0);
	put16(f, off_m);
	put16(f, 0xabcd);
	put16(f, 0x0001);
	f->l4 = f->len;
}

static void tcp(struct fb *f, uint8_t optlen, uint8_t flags)
{
	f->l4 = f->len;
	put16(f, 40000);
	put16(f, 80);
	put16(f, 0x1111);
	put16(f, 0x2222);
	put16(f, 0);
	put16(f, 0);
	put8(f, (uint8_t)((5 + optlen / 4) << 4));
	put8(f, flags);
	put16(f, 0xffff);
	put16(f, 0);
	put16(f, 0);
	memset(f->b + f->len, 1, optlen);
	f->len += optlen;
}

static void udp(struct fb *f)
{
	f->l4 = f->len;
	put16(f, 1234);
	put16(f, 80);
	put16(f, 0);
	put16(f, 0);
}

static void payload(struct fb *f, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		put8(f, (uint8_t)(i * 7 + 3));
}

/* IP and UDP lengths from what was built. */
static void done(struct fb *f)
{
	uint8_t *ip = f->b + f->l3;

	if (ip[0] >> 4 == 4) {
		ip[2] = (uint8_t)((f->len - f->l3) >> 8);
		ip[3] = (uint8_t)(f->len - f->l3);
		if (ip[9] == 17) {
			f->b[f->l4 + 4] = (uint8_t)((f->len - f->l4) >> 8);
			f->b[f->l4 + 5] = (uint8_t)(f->len - f->l4);
		}
	} else {
		ip[4] = (uint8_t)((f->len - f->l3 - 40) >> 8);
		ip[5] = (uint8_t)(f->len - f->l3 - 40);
		if (f->b[f->ext_nh] == 17) {
			f->b[f->l4 + 4] = (uint8_t)((f->len - f->l4) >> 8);
			f->b[f->l4 + 5] = (uint8_t)(f->len - f->l4);
		}
	}
}

/* The frame in a heap block of exactly len bytes (ASan's redzone after). */
static uint8_t *exact(const struct fb *f, uint32_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, f->b, len);
	return p;
}

static enum nframe_bad parse_n(struct nframe *nf, const struct fb *f,
			       uint32_t len, unsigned flags)
{
	uint8_t *p = exact(f, len);
	enum nframe_bad b = nframe_parse(nf, p, len, RSS_HASH_TYPES, flags);

	free(p);
	return b;
}

static void parse_ok(struct nframe *nf, const struct fb *f, unsigned flags)
{
	assert_int_equal(parse_n(nf, f, f->len, flags), NFRAME_OK);
}

/* ---- checksums ---- */

static uint16_t ref_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += i % 2 ? p[i] : (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void test_csum_hand(void **state)
{
	/* RFC 1071 section 3's example: the sum is 0xddf2. */
	static const uint8_t rfc[8] = { 0x00, 0x01, 0xf2, 0x03,
					0xf4, 0xf5, 0xf6, 0xf7 };
	/* A textbook IPv4 header whose checksum is 0xb861. */
	uint8_t ip[20] = { 0x45, 0, 0x00, 0x73, 0, 0, 0x40, 0, 0x40, 0x11,
			   0xb8, 0x61, 192, 168, 0, 1, 192, 168, 0, 199 };

	(void)state;
	assert_int_equal(ncsum_fold(ncsum_partial(rfc, 8, 0)), 0xddf2);
	assert_int_equal(ncsum(rfc, 8), 0x220d);
	assert_int_equal(ncsum(ip, 20), 0);
	ip[10] = ip[11] = 0;
	assert_int_equal(ncsum(ip, 20), 0xb861);
	/* An odd tail is the high half of a word. */
	assert_int_equal(ncsum_fold(ncsum_partial(rfc, 3, 0)), 0xf201);
	assert_int_equal(ncsum(rfc, 0), 0xffff);
}

static void test_csum_alignment(void **state)
{
	static uint8_t buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 151 + 29);
	buf[7] = buf[8] = 0xff;
	for (size_t start = 0; start < 8; start++)
		for (size_t n = 0; n < 280; n++)
			assert_int_equal(
				ncsum_fold(ncsum_partial(buf + start, n, 0)),
				ref_sum(buf + start, n));
	/* Sums of pieces starting at even offsets add up. */
	assert_int_equal(ncsum_fold(ncsum_partial(buf + 64, 101,
					ncsum_partial(buf, 64, 0))),
			 ref_sum(buf, 165));
	/* Carries: all ones everywhere. */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(ncsum_fold(ncsum_partial(buf, 256, 0xffff)), 0xffff);
}

/* Hand-computed UDP checksums (10.0.0.1:1234 -> 10.0.0.2:80 "hi!": 0x5d4a;
 * fe80::1 -> fe80::2, same datagram: 0x7448). */
static void test_csum_udp_hand(void **state)
{
	struct nframe nf;
	struct fb f;
	uint8_t *p;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 17, 0, 0);
	udp(&f);
	put(&f, "hi!", 3);
	done(&f);
	parse_ok(&nf, &f, 0);
	p = exact(&f, f.len);
	assert_true(ncsum_l4_fill(p, &nf));
	assert_int_equal(vmb_be16(p + nf.l4_off + 6), 0x5d4a);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	assert_true(ncsum_ip4_fill(p, &nf));
	assert_true(ncsum_ip4_ok(p, &nf));
	p[nf.l4_off + 6] = 0; /* no checksum: allowed over IPv4 */
	p[nf.l4_off + 7] = 0;
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_NONE);
	free(p);

	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 17);
	udp(&f);
	put(&f, "hi!", 3);
	done(&f);
	parse_ok(&nf, &f, 0);
	p = exact(&f, f.len);
	assert_false(ncsum_ip4_fill(p, &nf));
	assert_false(ncsum_ip4_ok(p, &nf));
	assert_memory_equal(p, f.b, f.len);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_BAD);
	assert_true(ncsum_l4_fill(p, &nf));
	assert_int_equal(vmb_be16(p + nf.l4_off + 6), 0x7448);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	p[nf.l4_off + 9] ^= 1;
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_BAD);
	free(p);
}

/* ---- parsing ---- */

static void test_parse_ip4_tcp(void **state)
{
	struct nframe nf;
	struct fb f;
	uint8_t *p;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 6, 8, 0);
	tcp(&f, 12, 0x18);
	payload(&f, 100);
	done(&f);
	zeros(&f, 6); /* Ethernet padding past the IP packet */
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.l2_len, 14);
	assert_int_equal(nf.ntags, 0);
	assert_int_equal(nf.l3, NFRAME_L3_IPV4);
	assert_int_equal(nf.l3_off, 14);
	assert_int_equal(nf.l3_hlen, 28);
	assert_int_equal(nf.l3_end, f.len - 6);
	assert_false(nf.frag);
	assert_int_equal(nf.l4_proto, 6);
	assert_int_equal(nf.l4_off, 42);
	assert_int_equal(nf.l4_hlen, 32);
	assert_int_equal(nf.sport, 40000);
	assert_int_equal(nf.dport, 80);
	assert_int_equal(nf.rss.type, RSS_HASH_TCP_IPV4);
	assert_int_equal(nf.rss.len, 12);
	assert_memory_equal(nf.rss.in, src4, 4);
	assert_memory_equal(nf.rss.in + 4, dst4, 4);
	assert_memory_equal(nf.rss.in + 8, f.b + f.l4, 4);
	p = exact(&f, f.len);
	assert_true(ncsum_l4_fill(p, &nf));
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	/* The padding is not summed. */
	p[f.len - 1] = 0x55;
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	p[nf.l4_off + 40] ^= 0x10;
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_BAD);
	free(p);
	/* Only L3 enabled: the addresses alone. */
	assert_int_equal(nframe_parse(&nf, f.b, f.len, RSS_HASH_IPV4, 0),
			 NFRAME_OK);
	assert_int_equal(nf.rss.type, RSS_HASH_IPV4);
	assert_int_equal(nf.rss.len, 8);
}

static void test_parse_vlan(void **state)
{
	static const uint16_t q[1] = { NFRAME_ETH_P_8021Q };
	static const uint16_t qinq[2] = { NFRAME_ETH_P_8021AD,
					  NFRAME_ETH_P_8021Q };
	static const uint16_t three[3] = { NFRAME_ETH_P_8021AD,
					   NFRAME_ETH_P_8021Q,
					   NFRAME_ETH_P_8021Q };
	struct nframe nf;
	struct fb f;

	(void)state;
	eth(&f, q, 1, NFRAME_ETH_P_IPV4);
	ip4(&f, 17, 0, 0);
	udp(&f);
	payload(&f, 5);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.ntags, 1);
	assert_int_equal(nf.tpid[0], NFRAME_ETH_P_8021Q);
	assert_int_equal(nf.tci[0], 0x2064);
	assert_int_equal(nf.l2_len, 18);
	assert_int_equal(nf.l4_off, 38);
	assert_int_equal(nf.rss.type, RSS_HASH_UDP_IPV4);

	eth(&f, qinq, 2, NFRAME_ETH_P_IPV6);
	ip6(&f, 6);
	tcp(&f, 0, 0x10);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.ntags, 2);
	assert_int_equal(nf.tpid[0], NFRAME_ETH_P_8021AD);
	assert_int_equal(nf.tci[1], 0x2065);
	assert_int_equal(nf.l3_off, 22);
	assert_int_equal(nf.rss.type, RSS_HASH_TCP_IPV6);
	assert_int_equal(nf.rss.len, 36);

	/* A third tag is not parsed: its TPID is the ethertype. */
	eth(&f, three, 3, NFRAME_ETH_P_IPV4);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.ethertype, NFRAME_ETH_P_8021Q);
	assert_int_equal(nf.l3, NFRAME_L3_NONE);
	assert_int_equal(nf.rss.len, 0);
}

static void test_parse_non_ip(void **state)
{
	struct nframe nf;
	struct fb f;

	(void)state;
	eth(&f, NULL, 0, 0x0806);
	zeros(&f, 28);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.ethertype, 0x0806);
	assert_int_equal(nf.l3, NFRAME_L3_NONE);
	assert_int_equal(nf.rss.len, 0);
	assert_int_equal(nf.rss.type, 0);
	/* ICMP: IP, no ports: the addresses. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 1, 0, 0);
	payload(&f, 8);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.l4_proto, 1);
	assert_int_equal(nf.l4_hlen, 0);
	assert_int_equal(nf.rss.type, RSS_HASH_IPV4);
}

static void test_parse_ip4_frag(void **state)
{
	struct nframe nf;
	struct fb f;
	uint8_t *p;

	(void)state;
	/* First fragment (MF): ports parsed, hashed on L3 only. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 17, 0, 0x2000);
	udp(&f);
	payload(&f, 16);
	done(&f);
	f.b[f.l4 + 5] = 200; /* the whole datagram's length */
	parse_ok(&nf, &f, 0);
	assert_true(nf.frag);
	assert_false(nf.frag_later);
	assert_int_equal(nf.l4_hlen, 8);
	assert_int_equal(nf.sport, 1234);
	assert_int_equal(nf.rss.type, RSS_HASH_IPV4);
	p = exact(&f, f.len);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_NONE);
	assert_false(ncsum_l4_fill(p, &nf));
	free(p);
	/* A later fragment: no L4 header. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 6, 0, 0x0010);
	payload(&f, 3);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_true(nf.frag_later);
	assert_int_equal(nf.l4_hlen, 0);
	assert_int_equal(nf.rss.type, RSS_HASH_IPV4);
}

static void test_parse_ip6_ext(void **state)
{
	struct nframe nf;
	struct fb f;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 0);
	ext6(&f, 43, 0);
	ext6(&f, 60, 1);
	ext6(&f, 6, 0);
	tcp(&f, 4, 0x02);
	payload(&f, 9);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.l3, NFRAME_L3_IPV6);
	assert_int_equal(nf.l3_hlen, 40 + 8 + 16 + 8);
	assert_int_equal(nf.l4_proto, 6);
	assert_int_equal(nf.l4_hlen, 24);
	assert_int_equal(nf.rss.type, RSS_HASH_TCP_IPV6);
	assert_memory_equal(nf.rss.in, src6, 16);
	assert_memory_equal(nf.rss.in + 16, dst6, 16);

	/* First fragment: hashed on L3, ports still read. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 44);
	frag6(&f, 60, 0x0001);
	ext6(&f, 17, 0);
	udp(&f);
	payload(&f, 8);
	done(&f);
	f.b[f.l4 + 5] = 200;
	parse_ok(&nf, &f, 0);
	assert_true(nf.frag);
	assert_false(nf.frag_later);
	assert_int_equal(nf.l4_proto, 17);
	assert_int_equal(nf.dport, 80);
	assert_int_equal(nf.rss.type, RSS_HASH_IPV6);
	assert_int_equal(nf.rss.len, 32);

	/* A later fragment: the walk stops at the fragment header. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 44);
	frag6(&f, 6, 0x0100);
	payload(&f, 8);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_true(nf.frag_later);
	assert_int_equal(nf.l4_proto, 6);
	assert_int_equal(nf.l4_hlen, 0);
	assert_int_equal(nf.l3_hlen, 48);

	/* No next header: nothing after, still hashed on addresses. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 59);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_int_equal(nf.l4_proto, 59);
	assert_int_equal(nf.rss.type, RSS_HASH_IPV6);
}

/* IPv6 whose first next header is first, then n destination-options
 * headers with last after them, nothing else. */
static enum nframe_bad ip6_chain(uint8_t first, unsigned n, uint8_t last)
{
	struct nframe nf;
	struct fb f;

	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, first);
	for (unsigned i = 1; i < n; i++)
		ext6(&f, 60, 0);
	ext6(&f, last, 0);
	done(&f);
	return parse_n(&nf, &f, f.len, 0);
}

static void test_parse_ip6_ext_bad(void **state)
{
	struct nframe nf;
	struct fb f;

	(void)state;
	/* Hop-by-hop after another header. */
	assert_int_equal(ip6_chain(60, 1, 0), NFRAME_BAD_IP6_EXT);
	assert_int_equal(ip6_chain(0, 1, 0), NFRAME_BAD_IP6_EXT);
	assert_int_equal(ip6_chain(0, 1, 59), NFRAME_OK);
	/* Exactly the most the walk takes, and one more. */
	assert_int_equal(ip6_chain(60, NFRAME_IP6_EXT_MAX, 59), NFRAME_OK);
	assert_int_equal(ip6_chain(60, NFRAME_IP6_EXT_MAX + 1, 59),
			 NFRAME_BAD_IP6_EXT);
	/* A header whose length runs past the payload length. */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 43);
	ext6(&f, 59, 0);
	done(&f);
	f.b[f.l3 + 41] = 1;
	assert_int_equal(parse_n(&nf, &f, f.len, 0), NFRAME_BAD_IP6_EXT);
}

/* Every prefix of a good frame is refused with a reason, never read past;
 * the reason names the layer cut. */
static void truncations(const struct fb *f)
{
	struct nframe nf;

	for (uint32_t n = 0; n < f->len; n++) {
		enum nframe_bad b = parse_n(&nf, f, n, 0);

		assert_int_not_equal(b, NFRAME_OK);
		if (n < NFRAME_ETH_LEN)
			assert_int_equal(b, NFRAME_BAD_ETH);
		else if (n < f->l3)
			assert_int_equal(b, NFRAME_BAD_TAG);
		else if (n < f->l3 + 20)
			assert_int_equal(b, NFRAME_BAD_IP_SHORT);
		else
			assert_true(b == NFRAME_BAD_IP_LEN ||
				    b == NFRAME_BAD_IP_SHORT);
		assert_int_equal(nf.rss.len, 0);
	}
}

static void test_parse_truncated(void **state)
{
	static const uint16_t q[1] = { NFRAME_ETH_P_8021Q };
	struct nframe nf;
	struct fb f;

	(void)state;
	eth(&f, q, 1, NFRAME_ETH_P_IPV4);
	ip4(&f, 6, 4, 0);
	tcp(&f, 8, 0x10);
	payload(&f, 3);
	done(&f);
	truncations(&f);
	assert_int_equal(parse_n(&nf, &f, 16, 0), NFRAME_BAD_TAG);
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 0);
	ext6(&f, 17, 1);
	udp(&f);
	payload(&f, 1);
	done(&f);
	truncations(&f);
}

/* The head of a coalesced frame: IP lengths past it end there with
 * NFRAME_F_HEAD (and only then); headers cut short are still refused. */
static void test_parse_head(void **state)
{
	struct nframe nf;
	struct fb f;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 6, 0, 0);
	tcp(&f, 12, 0x10);
	payload(&f, 3000);
	done(&f);
	assert_int_equal(parse_n(&nf, &f, 1514, 0), NFRAME_BAD_IP_LEN);
	assert_int_equal(nframe_parse(&nf, f.b, 1514, RSS_HASH_TCP_IPV4,
				      NFRAME_F_HEAD), NFRAME_OK);
	assert_true(nf.cut);
	assert_int_equal(nf.l3_end, 1514);
	assert_int_equal(nf.l4_off, 34);
	assert_int_equal(nf.l4_hlen, 32);
	assert_int_equal(nf.rss.type, RSS_HASH_TCP_IPV4);
	assert_int_equal(nframe_parse(&nf, f.b, 40, 0, NFRAME_F_HEAD),
			 NFRAME_BAD_L4_SHORT);
	assert_int_equal(nframe_parse(&nf, f.b, f.len, 0, NFRAME_F_HEAD),
			 NFRAME_OK);
	assert_false(nf.cut);
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 6);
	tcp(&f, 0, 0x10);
	payload(&f, 3000);
	done(&f);
	assert_int_equal(parse_n(&nf, &f, 1514, 0), NFRAME_BAD_IP_LEN);
	assert_int_equal(nframe_parse(&nf, f.b, 1514, 0, NFRAME_F_HEAD),
			 NFRAME_OK);
	assert_true(nf.cut);
	assert_int_equal(nf.l4_off, 54);
	assert_int_equal(nf.l4_hlen, 20);
}

/* Each inconsistency in a header that fits the frame. */
static void test_parse_bad_fields(void **state)
{
	struct nframe nf;
	struct fb f, g;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 6, 0, 0);
	tcp(&f, 0, 0x10);
	payload(&f, 20);
	done(&f);
	g = f;
	g.b[g.l3] = 0x65; /* version 6 under the IPv4 ethertype */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_VERSION);
	g = f;
	g.b[g.l3] = 0x44; /* IHL 4 */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_HLEN);
	g = f;
	g.b[g.l3] = 0x4f; /* a 60-byte header in a 40-byte packet */
	g.b[g.l3 + 3] = 40;
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_HLEN);
	g = f;
	g.b[g.l3 + 3]++; /* total length past the frame */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_LEN);
	g = f;
	g.b[g.l3 + 2] = g.b[g.l3 + 3] = 0; /* length 0: only for LSO */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_LEN);
	assert_int_equal(parse_n(&nf, &g, g.len, NFRAME_F_LSO), NFRAME_OK);
	assert_true(nf.len0);
	assert_int_equal(nf.l3_end, g.len);
	g = f;
	g.b[g.l4 + 12] = 0x40; /* data offset 4 */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_TCP_DOFF);
	g = f;
	g.b[g.l4 + 12] = 0xb0; /* 44 bytes: past the 40 there are */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_TCP_DOFF);
	g = f;
	g.b[g.l3 + 3] = 20 + 19; /* TCP header cut by the IP length */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_L4_SHORT);

	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 17);
	udp(&f);
	payload(&f, 4);
	done(&f);
	g = f;
	g.b[g.l4 + 5] = 7;
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_UDP_LEN);
	g.b[g.l4 + 5] = 13;
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_UDP_LEN);
	g.b[g.l4 + 5] = 12;
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_OK);
	g.b[g.l3] = 0x45;
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_VERSION);
	g = f;
	g.b[g.l3 + 5] = 13; /* payload length past the frame */
	assert_int_equal(parse_n(&nf, &g, g.len, 0), NFRAME_BAD_IP_LEN);
}

static void test_names(void **state)
{
	struct nframe_stats st = { 0 };

	(void)state;
	for (int i = 0; i < NFRAME_BAD__COUNT; i++) {
		assert_string_not_equal(nframe_bad_name(i), "?");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(nframe_bad_name(i),
						nframe_bad_name(j));
		nframe_count(&st, (enum nframe_bad)i);
	}
	for (int i = 0; i < NCSUM_BAD__COUNT; i++)
		assert_string_not_equal(ncsum_bad_name(i), "?");
	for (int i = 0; i < VNET_BAD__COUNT; i++)
		assert_string_not_equal(vnet_bad_name(i), "?");
	assert_string_equal(nframe_bad_name(NFRAME_BAD__COUNT), "?");
	assert_int_equal(st.frames, NFRAME_BAD__COUNT);
	assert_int_equal(st.bad[NFRAME_OK], 0);
	assert_int_equal(st.bad[NFRAME_BAD_TCP_DOFF], 1);
}

/* ---- offloads ---- */

/* A send as Linux netvsc makes it with LSO: IP length 0, IPv4 header
 * checksum 0, TCP checksum the pseudo-header sum without the length. */
static void lso_frame(struct fb *f, bool v6, uint8_t tcp_flags)
{
	struct nframe nf;

	eth(f, NULL, 0, v6 ? NFRAME_ETH_P_IPV6 : NFRAME_ETH_P_IPV4);
	if (v6)
		ip6(f, 6);
	else
		ip4(f, 6, 0, 0x4000);
	tcp(f, 12, tcp_flags);
	payload(f, 3000);
	assert_int_equal(nframe_parse(&nf, f->b, f->len, 0, NFRAME_F_LSO),
			 NFRAME_OK);
	vmb_put_be16(f->b + f->l4 + 16,
		     ncsum_fold(ncsum_pseudo(f->b, &nf, 0)));
}

/* What the device does with NEEDS_CSUM: sum from csum_start to the end,
 * store the complement; then the frame must verify. */
static void device_csum(uint8_t *p, const struct nframe *nf,
			const struct vnet_hdr *h)
{
	uint32_t start = h->csum_start;

	vmb_put_be16(p + start + h->csum_offset,
		     ncsum_finish(ncsum_partial(p + start,
						nf->l3_end - start, 0)));
}

static void lso_case(bool v6)
{
	struct vnet_offload o = { .mss = 1448, .lso_v6 = v6 };
	struct nframe nf, after;
	struct vnet_hdr h;
	struct fb f;
	uint8_t *p, *q;

	lso_frame(&f, v6, 0x98); /* CWR|ACK|PSH */
	p = exact(&f, f.len);
	q = exact(&f, f.len);
	assert_int_equal(nframe_parse(&nf, p, f.len, 0, NFRAME_F_LSO),
			 NFRAME_OK);
	assert_true(nf.len0);
	o.l4_off = nf.l4_off;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_OK);
	assert_int_equal(h.flags, VNET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, (v6 ? VNET_HDR_GSO_TCPV6
					 : VNET_HDR_GSO_TCPV4) |
					     VNET_HDR_GSO_ECN);
	assert_int_equal(h.gso_size, 1448);
	assert_int_equal(h.csum_start, nf.l4_off);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.hdr_len, nf.l4_off + 32);
	/* The lengths are the packet's now, and the IPv4 header sums. */
	assert_int_equal(nframe_parse(&after, p, f.len, RSS_HASH_TYPES, 0),
			 NFRAME_OK);
	assert_int_equal(after.l3_end, f.len);
	if (!v6)
		assert_true(ncsum_ip4_ok(p, &after));
	/* The seed has the length: the device's sum makes a good segment. */
	device_csum(p, &after, &h);
	assert_int_equal(ncsum_l4_verify(p, &after), NCSUM_L4_GOOD);
	/* Linux's seed as it came would not. */
	memcpy(q + nf.l3_off, p + nf.l3_off, nf.l4_off - nf.l3_off);
	device_csum(q, &after, &h);
	assert_int_equal(ncsum_l4_verify(q, &after), NCSUM_L4_BAD);
	free(p);
	free(q);
}

static void test_tx_lso(void **state)
{
	(void)state;
	lso_case(false);
	lso_case(true);
}

/* The kernel's GSO frame (lengths set, IPv4 header summed, seed with the
 * length) made into Linux netvsc's LSO send, byte for byte; a UDP frame
 * and a fragment left alone. */
static void contract_case(bool v6)
{
	struct fb f, want;
	struct nframe nf;
	uint8_t *p, *q;

	lso_frame(&want, v6, 0x18);
	eth(&f, NULL, 0, v6 ? NFRAME_ETH_P_IPV6 : NFRAME_ETH_P_IPV4);
	if (v6)
		ip6(&f, 6);
	else
		ip4(&f, 6, 0, 0x4000);
	tcp(&f, 12, 0x18);
	payload(&f, 3000);
	done(&f);
	p = exact(&f, f.len);
	assert_int_equal(nframe_parse(&nf, p, f.len, 0, 0), NFRAME_OK);
	(void)ncsum_ip4_fill(p, &nf);
	vmb_put_be16(p + nf.l4_off + 16,
		     ncsum_fold(ncsum_pseudo(p, &nf, nf.l3_end - nf.l4_off)));
	assert_true(ncsum_lso_contract(p, &nf));
	assert_int_equal(f.len, want.len);
	assert_memory_equal(p, want.b, f.len);
	free(p);
	/* not TCP, or a fragment: untouched */
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 17, 0, 0);
	udp(&f);
	payload(&f, 100);
	done(&f);
	q = exact(&f, f.len);
	assert_int_equal(nframe_parse(&nf, q, f.len, 0, 0), NFRAME_OK);
	assert_false(ncsum_lso_contract(q, &nf));
	nf.l4_proto = NFRAME_PROTO_TCP;
	nf.frag = true;
	assert_false(ncsum_lso_contract(q, &nf));
	assert_memory_equal(q, f.b, f.len);
	free(q);
}

static void test_lso_contract(void **state)
{
	(void)state;
	contract_case(false);
	contract_case(true);
}

static void test_tx_csum(void **state)
{
	struct vnet_offload o = { .csum = VNET_CSUM_IPV4 | VNET_CSUM_UDP |
					  VNET_CSUM_IP_HDR };
	struct nframe nf;
	struct vnet_hdr h;
	struct fb f;
	uint8_t *p;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 17, 4, 0);
	udp(&f);
	payload(&f, 33);
	done(&f);
	p = exact(&f, f.len);
	vmb_put_be16(p + f.l4 + 6, 0x1234); /* whatever the guest put */
	assert_int_equal(nframe_parse(&nf, p, f.len, 0, 0), NFRAME_OK);
	/* No transport offset given (OpenBSD): the frame's. */
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_OK);
	assert_int_equal(h.flags, VNET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.gso_type, VNET_HDR_GSO_NONE);
	assert_int_equal(h.csum_start, 38);
	assert_int_equal(h.csum_offset, 6);
	assert_true(ncsum_ip4_ok(p, &nf));
	device_csum(p, &nf, &h);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	/* Refusals leave the frame as it was and h zero. */
	memcpy(p, f.b, f.len);
	o.l4_off = 34;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_BAD_OFFSET);
	assert_memory_equal(p, f.b, f.len);
	assert_int_equal(h.flags, 0);
	o.l4_off = 38;
	o.csum = VNET_CSUM_IPV6 | VNET_CSUM_UDP;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_BAD_FAMILY);
	o.csum = VNET_CSUM_TCP;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_BAD_L4);
	o.csum = VNET_CSUM_TCP | VNET_CSUM_UDP;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_BAD_REQUEST);
	o.csum = VNET_CSUM_UDP;
	o.mss = 1000;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_BAD_REQUEST);
	o.csum = 0;
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_BAD_L4);
	assert_memory_equal(p, f.b, f.len);
	/* Nothing asked: nothing done. */
	o = (struct vnet_offload){ 0 };
	assert_int_equal(ncsum_tx_prepare(p, &nf, &o, &h), NCSUM_OK);
	assert_int_equal(h.flags, 0);
	assert_memory_equal(p, f.b, f.len);
	free(p);
}

static void test_tx_refused(void **state)
{
	struct vnet_offload o = { .csum = VNET_CSUM_TCP };
	struct nframe nf;
	struct vnet_hdr h;
	struct fb f;

	(void)state;
	eth(&f, NULL, 0, 0x0806);
	zeros(&f, 40);
	parse_ok(&nf, &f, 0);
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h), NCSUM_BAD_NOT_IP);
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV4);
	ip4(&f, 6, 0, 0x2000);
	tcp(&f, 0, 0);
	done(&f);
	parse_ok(&nf, &f, 0);
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h), NCSUM_BAD_FRAG);
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 6);
	tcp(&f, 0, 0);
	done(&f);
	parse_ok(&nf, &f, 0);
	o.csum = VNET_CSUM_IP_HDR | VNET_CSUM_TCP;
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h), NCSUM_BAD_FAMILY);
	o = (struct vnet_offload){ .mss = 500, .lso_v6 = false };
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h), NCSUM_BAD_FAMILY);
	o = (struct vnet_offload){ .mss = 0x10000, .lso_v6 = true };
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h),
			 NCSUM_BAD_REQUEST);
	o = (struct vnet_offload){ .csum = 0x20 };
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h),
			 NCSUM_BAD_REQUEST);
	/* Length 0 taken as the frame's, but no LSO asked. */
	f.b[f.l3 + 4] = f.b[f.l3 + 5] = 0;
	assert_int_equal(nframe_parse(&nf, f.b, f.len, 0, NFRAME_F_LSO),
			 NFRAME_OK);
	o = (struct vnet_offload){ .csum = VNET_CSUM_TCP };
	assert_int_equal(ncsum_tx_prepare(f.b, &nf, &o, &h), NCSUM_BAD_LEN0);
}

static void test_vnet(void **state)
{
	struct vnet_offload o = { .csum = VNET_CSUM_IPV6 | VNET_CSUM_TCP,
				  .l4_off = 54 }, back;
	struct vnet_hdr h;

	(void)state;
	assert_int_equal(vnet_from_offload(&o, &h), VNET_OK);
	assert_int_equal(h.flags, VNET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, 54);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(vnet_to_offload(&h, &back), VNET_OK);
	assert_int_equal(back.csum, VNET_CSUM_TCP);
	assert_int_equal(back.l4_off, 54);
	o = (struct vnet_offload){ .mss = 1440, .lso_v6 = true, .l4_off = 54 };
	assert_int_equal(vnet_from_offload(&o, &h), VNET_OK);
	assert_int_equal(h.gso_type, VNET_HDR_GSO_TCPV6);
	assert_int_equal(h.gso_size, 1440);
	assert_int_equal(h.hdr_len, 0);
	assert_int_equal(vnet_to_offload(&h, &back), VNET_OK);
	assert_int_equal(back.mss, 1440);
	assert_true(back.lso_v6);
	assert_int_equal(back.csum, VNET_CSUM_TCP | VNET_CSUM_IPV6);
	h.gso_type = VNET_HDR_GSO_TCPV4 | VNET_HDR_GSO_ECN;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_OK);
	assert_false(back.lso_v6);
	/* Refused headers. */
	h.gso_type = VNET_HDR_GSO_UDP_L4;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_GSO_TYPE);
	h.gso_type = VNET_HDR_GSO_TCPV4;
	h.gso_size = 0;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_MSS);
	h.gso_size = 100;
	h.csum_offset = 6;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_CSUM_OFFSET);
	h.csum_offset = 5;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_CSUM_OFFSET);
	h.flags = 0;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_GSO_CSUM);
	h.flags = 0x08;
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_FLAGS);
	h = (struct vnet_hdr){ .flags = VNET_HDR_F_NEEDS_CSUM,
			       .csum_offset = 16 };
	assert_int_equal(vnet_to_offload(&h, &back), VNET_BAD_OFFSET);
	h = (struct vnet_hdr){ .flags = VNET_HDR_F_DATA_VALID };
	assert_int_equal(vnet_to_offload(&h, &back), VNET_OK);
	assert_true(back.csum_valid);
	assert_int_equal(vnet_from_offload(&back, &h), VNET_OK);
	assert_int_equal(h.flags, VNET_HDR_F_DATA_VALID);
	/* Refused requests. */
	o = (struct vnet_offload){ .csum = VNET_CSUM_TCP | VNET_CSUM_UDP,
				   .l4_off = 34 };
	assert_int_equal(vnet_from_offload(&o, &h), VNET_BAD_FLAGS);
	o = (struct vnet_offload){ .mss = 100, .lso_v6 = true,
				   .csum = VNET_CSUM_IPV4, .l4_off = 34 };
	assert_int_equal(vnet_from_offload(&o, &h), VNET_BAD_FLAGS);
	o = (struct vnet_offload){ .mss = 100 };
	assert_int_equal(vnet_from_offload(&o, &h), VNET_BAD_OFFSET);
	o = (struct vnet_offload){ .csum = VNET_CSUM_UDP, .l4_off = 0x10000 };
	assert_int_equal(vnet_from_offload(&o, &h), VNET_BAD_OFFSET);
	assert_int_equal(h.flags, 0);
}

static void test_rx_complete(void **state)
{
	struct vnet_hdr h = { .flags = VNET_HDR_F_NEEDS_CSUM };
	struct nframe nf;
	struct fb f;
	uint8_t *p;

	(void)state;
	eth(&f, NULL, 0, NFRAME_ETH_P_IPV6);
	ip6(&f, 6);
	tcp(&f, 0, 0x10);
	payload(&f, 77);
	done(&f);
	parse_ok(&nf, &f, 0);
	p = exact(&f, f.len);
	/* The kernel left the seed with the length in the field. */
	vmb_put_be16(p + nf.l4_off + 16,
		     ncsum_fold(ncsum_pseudo(p, &nf, nf.l3_end - nf.l4_off)));
	h.csum_start = (uint16_t)nf.l4_off;
	h.csum_offset = 16;
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_BAD);
	assert_int_equal(ncsum_rx_complete(p, &nf, &h), NCSUM_L4_GOOD);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	h.csum_offset = (uint16_t)(nf.l3_end - nf.l4_off - 1);
	assert_int_equal(ncsum_rx_complete(p, &nf, &h), NCSUM_L4_BAD);
	h.csum_start = 10;
	h.csum_offset = 0;
	assert_int_equal(ncsum_rx_complete(p, &nf, &h), NCSUM_L4_BAD);
	h = (struct vnet_hdr){ .flags = VNET_HDR_F_DATA_VALID };
	assert_int_equal(ncsum_rx_complete(p, &nf, &h), NCSUM_L4_GOOD);
	h.flags = 0;
	assert_int_equal(ncsum_rx_complete(p, &nf, &h), NCSUM_L4_NONE);
	free(p);
}

/* A bench source's TCP GSO frame: it parses, its IPv4 header checks,
 * its GSO header asks for what the frame is, and completing the checksum
 * as a device would makes it good. */
static void test_tcp4_gso_make(void **state)
{
	const uint32_t len = 65536;
	uint8_t *p = calloc(1, len);
	struct vnet_offload o;
	struct vnet_hdr h;
	struct nframe nf;

	(void)state;
	assert_non_null(p);
	ncsum_tcp4_gso_make(p, len, 1448, &h);
	assert_int_equal(nframe_parse(&nf, p, len, 0, 0), NFRAME_OK);
	assert_int_equal(nf.l3, NFRAME_L3_IPV4);
	assert_int_equal(nf.l4_proto, NFRAME_PROTO_TCP);
	assert_int_equal(nf.l4_off, 34);
	assert_int_equal(nf.l3_end, len);
	assert_true(ncsum_ip4_ok(p, &nf));
	assert_int_equal(vnet_to_offload(&h, &o), VNET_OK);
	assert_int_equal(o.mss, 1448);
	assert_int_equal(o.l4_off, 34);
	assert_int_equal(vmb_le16(h.hdr_len), 54);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_BAD);
	assert_int_equal(ncsum_rx_complete(p, &nf, &h), NCSUM_L4_GOOD);
	assert_int_equal(ncsum_l4_verify(p, &nf), NCSUM_L4_GOOD);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_hand),
		cmocka_unit_test(test_csum_alignment),
		cmocka_unit_test(test_csum_udp_hand),
		cmocka_unit_test(test_parse_ip4_tcp),
		cmocka_unit_test(test_parse_vlan),
		cmocka_unit_test(test_parse_non_ip),
		cmocka_unit_test(test_parse_ip4_frag),
		cmocka_unit_test(test_parse_ip6_ext),
		cmocka_unit_test(test_parse_ip6_ext_bad),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_head),
		cmocka_unit_test(test_parse_bad_fields),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tx_lso),
		cmocka_unit_test(test_lso_contract),
		cmocka_unit_test(test_tx_csum),
		cmocka_unit_test(test_tx_refused),
		cmocka_unit_test(test_vnet),
		cmocka_unit_test(test_rx_complete),
		cmocka_unit_test(test_tcp4_gso_make),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
