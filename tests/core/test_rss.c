/* RSS (core/net/rss): every Microsoft verification vector (IPv4 and IPv6,
 * with and without ports), the hash against DPDK's rte_softrss on 10,000
 * random tuples per key and tuple kind (Microsoft's key and DPDK's MLX5
 * key), short keys, the indirection table and the choice of tuple by the
 * enabled hash types. Nothing here is timed: rss.h says what a hash
 * costs and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef HVIS_HAVE_DPDK
#include <rte_thash.h>
#endif

#include "net/rss.h"

static _Alignas(4) const uint8_t ms_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67,
	0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
	0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
	0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static _Alignas(4) const uint8_t mlx5_key[40] = {
	0x2c, 0xc6, 0x81, 0xd1, 0x5b, 0xdb, 0xf4, 0xf7, 0xfc, 0xa2,
	0x83, 0x19, 0xdb, 0x1a, 0x3e, 0x94, 0x6b, 0x9e, 0x38, 0xd9,
	0x2c, 0x9c, 0x03, 0xd1, 0xad, 0x99, 0x44, 0xa7, 0xd9, 0x56,
	0x3d, 0x59, 0x06, 0x3c, 0x25, 0xf3, 0xfc, 0x1f, 0xdc, 0x2a,
};

static struct rss_cfg *cfg_new(const uint8_t *key, size_t len)
{
	struct rss_cfg *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(rss_cfg_set_key(c, key, len), 0);
	return c;
}

struct v4_vec {
	uint8_t src[4], dst[4];
	uint16_t sport, dport;
	uint32_t l3, l4;
};

/* Microsoft "Verifying the RSS Hash Calculation" (facts map, section 9). */
static const struct v4_vec v4_vecs[] = {
	{ {66, 9, 149, 187}, {161, 142, 100, 80}, 2794, 1766,
	  0x323e8fc2, 0x51ccc178 },
	{ {199, 92, 111, 2}, {65, 69, 140, 83}, 14230, 4739,
	  0xd718262a, 0xc626b0ea },
	{ {24, 19, 198, 95}, {12, 22, 207, 184}, 12898, 38024,
	  0xd2d0a5de, 0x5c2b394a },
	{ {38, 27, 205, 30}, {209, 142, 163, 6}, 48228, 2217,
	  0x82989176, 0xafc7327f },
	{ {153, 39, 163, 191}, {202, 188, 127, 2}, 44251, 1303,
	  0x5d1809c5, 0x10e828a2 },
};

struct v6_vec {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t l3, l4;
};

static const struct v6_vec v6_vecs[] = {
	{ { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff,
	    0, 0, 0, 0, 0, 0, 0, 0x07 },
	  { 0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03,
	    0, 0, 0, 0, 0, 0, 0, 0x01 },
	  2794, 1766, 0x2cc18cd5, 0x40207d3d },
	{ { 0x3f, 0xfe, 0x05, 0x01, 0x00, 0x08, 0, 0,
	    0x02, 0x60, 0x97, 0xff, 0xfe, 0x40, 0xef, 0xab },
	  { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 },
	  14230, 4739, 0x0f0c461c, 0xdde51bbf },
	{ { 0x3f, 0xfe, 0x19, 0x00, 0x45, 0x45, 0x00, 0x03,
	    0x02, 0x00, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf },
	  { 0xfe, 0x80, 0, 0, 0, 0, 0, 0,
	    0x02, 0x00, 0xf8, 0xff, 0xfe, 0x21, 0x67, 0xcf },
	  44251, 38024, 0x4b61e985, 0x02d1feef },
};

static void ports_be(uint8_t out[4], uint16_t sport, uint16_t dport)
{
	out[0] = (uint8_t)(sport >> 8);
	out[1] = (uint8_t)sport;
	out[2] = (uint8_t)(dport >> 8);
	out[3] = (uint8_t)dport;
}

static void check_vec(struct rss_cfg *c, unsigned alen, const uint8_t *src,
		      const uint8_t *dst, uint16_t sport, uint16_t dport,
		      uint32_t l3, uint32_t l4)
{
	struct rss_tuple t;
	uint8_t ports[4];

	ports_be(ports, sport, dport);
	rss_tuple_make(&t, c->types, alen, src, dst, 17, NULL);
	assert_int_equal(t.len, 2 * alen);
	assert_int_equal(rss_hash(c, &t), l3);
	rss_tuple_make(&t, c->types, alen, src, dst, 6, ports);
	assert_int_equal(t.len, 2 * alen + 4);
	assert_int_equal(rss_hash(c, &t), l4);
	/* UDP hashes the same bytes (no published UDP vectors). */
	rss_tuple_make(&t, c->types, alen, src, dst, 17, ports);
	assert_int_equal(rss_hash(c, &t), l4);
}

static void test_ms_vectors(void **state)
{
	struct rss_cfg *c = cfg_new(ms_key, sizeof(ms_key));

	(void)state;
	rss_cfg_set_types(c, RSS_HASH_TYPES);
	for (size_t i = 0; i < sizeof(v4_vecs) / sizeof(v4_vecs[0]); i++) {
		const struct v4_vec *v = &v4_vecs[i];

		check_vec(c, 4, v->src, v->dst, v->sport, v->dport, v->l3,
			  v->l4);
	}
	for (size_t i = 0; i < sizeof(v6_vecs) / sizeof(v6_vecs[0]); i++) {
		const struct v6_vec *v = &v6_vecs[i];

		check_vec(c, 16, v->src, v->dst, v->sport, v->dport, v->l3,
			  v->l4);
	}
	free(c);
}

/* The definition, one bit at a time: the reference the tables must
 * match for keys of any length. */
static uint32_t toeplitz_ref(const uint8_t *key, size_t klen,
			     const uint8_t *in, size_t len)
{
	uint32_t h = 0;

	for (size_t bit = 0; bit < 8 * len; bit++) {
		uint32_t w = 0;

		if (!(in[bit / 8] & (0x80u >> (bit % 8))))
			continue;
		for (size_t k = 0; k < 32; k++) {
			size_t kb = bit + k;
			unsigned b = kb / 8 < klen ? key[kb / 8] : 0;

			w = w << 1 | ((b >> (7 - kb % 8)) & 1u);
		}
		h ^= w;
	}
	return h;
}

static uint32_t rnd_state = 0x12345678u;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void fill_rnd(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void test_short_keys(void **state)
{
	uint8_t key[RSS_KEY_MAX + 1], in[RSS_INPUT_MAX];
	struct rss_cfg *c;

	(void)state;
	for (size_t klen = 0; klen <= RSS_KEY_MAX; klen++) {

		fill_rnd(key, sizeof(key));
		c = cfg_new(key, klen);
		for (int i = 0; i < 50; i++) {
			size_t len = rnd() % (RSS_INPUT_MAX + 1);

			fill_rnd(in, len);
			assert_int_equal(rss_toeplitz(c, in, len),
					 toeplitz_ref(key, klen, in, len));
		}
		free(c);
	}
	c = cfg_new(key, 0);
	assert_int_equal(rss_cfg_set_key(c, key, RSS_KEY_MAX + 1), VMB_EINVAL);
	free(c);
}

#ifdef HVIS_HAVE_DPDK
/* rte_softrss takes the input as host-order 32-bit words. */
static uint32_t dpdk_hash(const uint8_t *key, const uint8_t *in, size_t len)
{
	uint32_t words[RSS_INPUT_MAX / 4];

	for (size_t i = 0; i < len / 4; i++)
		words[i] = (uint32_t)in[4 * i] << 24 |
			   (uint32_t)in[4 * i + 1] << 16 |
			   (uint32_t)in[4 * i + 2] << 8 | in[4 * i + 3];
	return rte_softrss(words, (uint32_t)(len / 4), key);
}

static void against_dpdk(const uint8_t *key, unsigned alen, bool l4)
{
	struct rss_cfg *c = cfg_new(key, 40);
	uint8_t src[16], dst[16], ports[4];
	struct rss_tuple t;

	rss_cfg_set_types(c, RSS_HASH_TYPES);
	for (int i = 0; i < 10000; i++) {
		fill_rnd(src, alen);
		fill_rnd(dst, alen);
		fill_rnd(ports, 4);
		rss_tuple_make(&t, c->types, alen, src, dst, 6,
			       l4 ? ports : NULL);
		assert_int_equal(t.len, 2 * alen + (l4 ? 4 : 0));
		assert_int_equal(rss_hash(c, &t), dpdk_hash(key, t.in, t.len));
	}
	free(c);
}

static void test_dpdk(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		const uint8_t *key = k ? mlx5_key : ms_key;

		against_dpdk(key, 4, false);
		against_dpdk(key, 4, true);
		against_dpdk(key, 16, false);
		against_dpdk(key, 16, true);
	}
}
#else
static void test_dpdk(void **state)
{
	(void)state;
	print_message("skipped: DPDK's rte_thash.h not found (Debian 12: "
		      "apt-get install libdpdk-dev, then reconfigure)\n");
	skip();
}
#endif

static void test_table(void **state)
{
	struct rss_cfg *c = cfg_new(ms_key, 40);
	uint16_t e[3] = { 7, 1, 4 };

	(void)state;
	rss_cfg_spread(c, 3);
	for (unsigned i = 0; i < RSS_TABLE_SIZE; i++)
		assert_int_equal(c->table[i], i % 3);
	/* The low 7 bits index the table. */
	assert_int_equal(rss_queue(c, 0xffffff80u | 5), 2);
	assert_int_equal(rss_cfg_set_table(c, e, 3), 0);
	assert_int_equal(rss_queue(c, 0x51ccc178), e[0x78 % 3]);
	assert_int_equal(rss_cfg_set_table(c, e, 0), VMB_EINVAL);
	assert_int_equal(rss_cfg_set_table(c, e, RSS_TABLE_SIZE + 1),
			 VMB_EINVAL);
	rss_cfg_spread(c, 1);
	assert_int_equal(rss_queue(c, 0xffffffffu), 0);
	free(c);
}

static void test_types(void **state)
{
	const struct v4_vec *v = &v4_vecs[0];
	uint8_t src6[16] = { 0xfe, 0x80 }, dst6[16] = { 0xfe, 0x80, 1 };
	uint8_t ports[4];
	struct rss_tuple t;
	struct rss_cfg c;

	(void)state;
	ports_be(ports, v->sport, v->dport);
	rss_cfg_set_types(&c, RSS_HASH_IPV4 | RSS_HASH_TCP_IPV4 |
				      RSS_HASH_FUNC_TOEPLITZ);
	assert_int_equal(c.types, RSS_HASH_IPV4 | RSS_HASH_TCP_IPV4);
	/* UDP without UDP_IPV4 hashes on addresses, as older hosts do. */
	rss_tuple_make(&t, c.types, 4, v->src, v->dst, 17, ports);
	assert_int_equal(t.type, RSS_HASH_IPV4);
	assert_int_equal(t.len, 8);
	rss_tuple_make(&t, c.types, 4, v->src, v->dst, 6, ports);
	assert_int_equal(t.type, RSS_HASH_TCP_IPV4);
	/* No IPv6 type enabled: no hash. */
	rss_tuple_make(&t, c.types, 16, src6, dst6, 6, ports);
	assert_int_equal(t.len, 0);
	assert_int_equal(t.type, 0);
	/* _EX types count as their plain ones. */
	rss_cfg_set_types(&c, RSS_HASH_IPV6_EX | RSS_HASH_TCP_IPV6_EX |
				      RSS_HASH_UDP_IPV6_EX);
	assert_int_equal(c.types, RSS_HASH_IPV6 | RSS_HASH_TCP_IPV6 |
					  RSS_HASH_UDP_IPV6);
	rss_tuple_make(&t, c.types, 16, src6, dst6, 17, ports);
	assert_int_equal(t.type, RSS_HASH_UDP_IPV6);
	assert_int_equal(t.len, 36);
	/* Only TCP enabled: UDP and fragments (no ports) get no hash. */
	rss_cfg_set_types(&c, RSS_HASH_TCP_IPV4);
	rss_tuple_make(&t, c.types, 4, v->src, v->dst, 17, ports);
	assert_int_equal(t.len, 0);
	rss_tuple_make(&t, c.types, 4, v->src, v->dst, 6, NULL);
	assert_int_equal(t.len, 0);
	rss_tuple_make(&t, RSS_HASH_TYPES, 8, v->src, v->dst, 6, NULL);
	assert_int_equal(t.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ms_vectors),
		cmocka_unit_test(test_short_keys),
		cmocka_unit_test(test_dpdk),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
