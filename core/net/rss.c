/* Toeplitz hashing and the indirection table. */
#include "net/rss.h"

/* Key bits 8*pos .. 8*pos+63 as a big-endian number, zero past the key. */
static uint64_t key_bits(const struct rss_cfg *c, unsigned pos)
{
	uint64_t w = 0;

	for (unsigned i = 0; i < 8; i++) {
		unsigned k = pos + i;

		w = w << 8 | (k < c->key_len ? c->key[k] : 0);
	}
	return w;
}

/* Input bit j of byte pos (j 0 = most significant) selects the 32 key
 * bits starting at bit 8*pos+j; a byte value selects the XOR of those of
 * its set bits, built from the value with its lowest bit cleared. */
static void build_row(struct rss_cfg *c, unsigned pos)
{
	uint64_t w = key_bits(c, pos);
	uint32_t *row = c->lut[pos];

	row[0] = 0;
	for (unsigned v = 1; v < 256; v++) {
		unsigned j = 7u - (unsigned)__builtin_ctz(v);

		row[v] = row[v & (v - 1)] ^ (uint32_t)(w >> (32 - j));
	}
}

int rss_cfg_set_key(struct rss_cfg *c, const uint8_t *key, size_t len)
{
	if (len > RSS_KEY_MAX)
		return VMB_EINVAL;
	vmb_memset(c->key, 0, sizeof(c->key));
	if (len)
		vmb_memcpy(c->key, key, len);
	c->key_len = (uint8_t)len;
	for (unsigned pos = 0; pos < RSS_INPUT_MAX; pos++)
		build_row(c, pos);
	return 0;
}

void rss_cfg_set_types(struct rss_cfg *c, uint32_t hash_info)
{
	uint32_t t = hash_info & RSS_HASH_TYPES;

	if (t & RSS_HASH_IPV6_EX)
		t |= RSS_HASH_IPV6;
	if (t & RSS_HASH_TCP_IPV6_EX)
		t |= RSS_HASH_TCP_IPV6;
	if (t & RSS_HASH_UDP_IPV6_EX)
		t |= RSS_HASH_UDP_IPV6;
	c->types = t & ~(RSS_HASH_IPV6_EX | RSS_HASH_TCP_IPV6_EX |
			 RSS_HASH_UDP_IPV6_EX);
}

int rss_cfg_set_table(struct rss_cfg *c, const uint16_t *entries, size_t n)
{
	if (n == 0 || n > RSS_TABLE_SIZE)
		return VMB_EINVAL;
	for (unsigned i = 0; i < RSS_TABLE_SIZE; i++)
		c->table[i] = entries[i % n];
	return 0;
}

void rss_cfg_spread(struct rss_cfg *c, uint16_t queues)
{
	for (unsigned i = 0; i < RSS_TABLE_SIZE; i++)
		c->table[i] = (uint16_t)(queues ? i % queues : 0);
}

uint32_t rss_toeplitz(const struct rss_cfg *c, const uint8_t *in,
		      size_t len)
{
	uint32_t h = 0;

	if (len > RSS_INPUT_MAX)
		len = RSS_INPUT_MAX;
	for (size_t i = 0; i < len; i++)
		h ^= c->lut[i][in[i]];
	return h;
}

uint32_t rss_hash(const struct rss_cfg *c, const struct rss_tuple *t)
{
	return rss_toeplitz(c, t->in, t->len);
}

/* The L4 type of proto for the address family, 0 when none. */
static uint32_t l4_type(unsigned alen, uint8_t proto)
{
	if (proto == 6)
		return alen == 4 ? RSS_HASH_TCP_IPV4 : RSS_HASH_TCP_IPV6;
	if (proto == 17)
		return alen == 4 ? RSS_HASH_UDP_IPV4 : RSS_HASH_UDP_IPV6;
	return 0;
}

void rss_tuple_make(struct rss_tuple *t, uint32_t types, unsigned alen,
		    const uint8_t *src, const uint8_t *dst, uint8_t proto,
		    const uint8_t *ports)
{
	uint32_t l3 = alen == 4 ? RSS_HASH_IPV4 : RSS_HASH_IPV6;
	uint32_t l4 = ports ? l4_type(alen, proto) & types : 0;

	t->type = 0;
	t->len = 0;
	if ((alen != 4 && alen != 16) || !(l4 || (types & l3)))
		return;
	vmb_memcpy(t->in, src, alen);
	vmb_memcpy(t->in + alen, dst, alen);
	t->len = (uint8_t)(2 * alen);
	t->type = l3;
	if (l4) {
		vmb_memcpy(t->in + 2 * alen, ports, 4);
		t->len = (uint8_t)(t->len + 4);
		t->type = l4;
	}
}
