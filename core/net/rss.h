/* vRSS steering: the Toeplitz hash of a flow's addresses and ports under
 * the guest's key, and the indirection table that maps a hash to a queue
 * (a VMBus sub-channel). The host's network device keeps one rss_cfg per
 * vNIC, rebuilt when the guest sets OID_GEN_RECEIVE_SCALE_PARAMETERS; the
 * frame parser (nframe.h) builds the tuple each received frame hashes on.
 *
 * Hashing cost: rss_cfg_set_key() precomputes, for each of the 36 input
 * byte positions, a 256-entry table of the XOR of the key windows that a
 * byte value selects, so rss_hash() is one table load and one XOR per
 * input byte (12 for TCP/IPv4, 36 for TCP/IPv6) with no loop over bits.
 * The tables take 36 KiB per configuration; a hash touches only the rows
 * of its input length (12 KiB for IPv4). A nibble split (2 x 16 entries
 * per position, 4.5 KiB) would halve the table reach at two loads per
 * byte; one vNIC's configuration is allocated once, so the byte tables
 * win. Keys shorter than 40 bytes hash as if padded with zero bytes.
 *
 * Facts: the project's network facts map, sections 3 (hash-info bits), 4
 * (inputs, indirection) and 9 (Microsoft's verification vectors). */
#ifndef HVIS_RSS_H
#define HVIS_RSS_H

#include "vmb_base.h"

#define RSS_KEY_MAX 40u
#define RSS_INPUT_MAX 36u   /* IPv6 addresses and two ports */
#define RSS_TABLE_SIZE 128u /* the hash's low 7 bits index it */

/* NDIS_HASH_* bits of the RSS parameters' hash_info. The _EX types would
 * hash the home address option and the type-2 routing header's address
 * in place of the IPv6 source and destination; hvis does not parse those,
 * so an _EX bit is taken as its plain type (IPV6_EX as IPV6 and so on),
 * which hashes the same for every packet without them. */
#define RSS_HASH_FUNC_TOEPLITZ 0x00000001u
#define RSS_HASH_IPV4 0x00000100u
#define RSS_HASH_TCP_IPV4 0x00000200u
#define RSS_HASH_IPV6 0x00000400u
#define RSS_HASH_IPV6_EX 0x00000800u
#define RSS_HASH_TCP_IPV6 0x00001000u
#define RSS_HASH_TCP_IPV6_EX 0x00002000u
#define RSS_HASH_UDP_IPV4 0x00004000u
#define RSS_HASH_UDP_IPV6 0x00008000u
#define RSS_HASH_UDP_IPV6_EX 0x00010000u
#define RSS_HASH_TYPES 0x0001FF00u

/* What one frame hashes on: the input bytes in network order (source
 * address, destination address, then source port and destination port
 * when the type covers L4) and the one RSS_HASH_* type they make. len 0
 * (type 0): the frame gets no hash. */
struct rss_tuple {
	uint32_t type;
	uint8_t len;
	uint8_t in[RSS_INPUT_MAX];
};

struct rss_cfg {
	uint32_t types;   /* RSS_HASH_* enabled, _EX folded into plain */
	uint8_t key_len;
	uint8_t key[RSS_KEY_MAX];
	uint16_t table[RSS_TABLE_SIZE];
	uint32_t lut[RSS_INPUT_MAX][256];
};

/* Keys longer than RSS_KEY_MAX are refused (VMB_EINVAL); 0 on success. */
int rss_cfg_set_key(struct rss_cfg *c, const uint8_t *key, size_t len);

/* Enabled hash types from the guest's hash_info; other bits ignored. */
void rss_cfg_set_types(struct rss_cfg *c, uint32_t hash_info);

/* Table entry i = entries[i mod n], as OpenVMM repeats a short table;
 * n 0 or above RSS_TABLE_SIZE is refused (VMB_EINVAL). */
int rss_cfg_set_table(struct rss_cfg *c, const uint16_t *entries, size_t n);

/* Entry i = i mod queues, as every guest fills it first; queues >= 1. */
void rss_cfg_spread(struct rss_cfg *c, uint16_t queues);

/* The Toeplitz hash of len (<= RSS_INPUT_MAX) input bytes. */
uint32_t rss_toeplitz(const struct rss_cfg *c, const uint8_t *in,
		      size_t len);

/* The hash of t; 0 for a tuple without input. */
uint32_t rss_hash(const struct rss_cfg *c, const struct rss_tuple *t);

static inline uint16_t rss_queue(const struct rss_cfg *c, uint32_t hash)
{
	return c->table[hash & (RSS_TABLE_SIZE - 1)];
}

/* The tuple of an IPv4 (alen 4) or IPv6 (alen 16) packet under the
 * enabled types: src and dst addresses, and the ports (network order,
 * source then destination) when ports is non-NULL and the type of proto
 * (6 TCP, 17 UDP) is enabled; L3 alone when only the address type is;
 * none otherwise. Fragments pass ports NULL. */
void rss_tuple_make(struct rss_tuple *t, uint32_t types, unsigned alen,
		    const uint8_t *src, const uint8_t *dst, uint8_t proto,
		    const uint8_t *ports);

#endif
