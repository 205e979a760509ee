/* Ethernet frame parsing for the synthetic network: the L2 header (with
 * up to two 802.1Q / 802.1ad tags), IPv4 or IPv6 (its extension headers
 * walked), TCP or UDP, and the RSS tuple the frame hashes on. The host's
 * netvsp calls it on each frame it steers to a queue or whose offloads it
 * carries out (ncsum.h); a guest driver may call it for the same.
 *
 * Every length in the frame is untrusted and checked before it is used:
 * nframe_parse() never reads past len bytes. A frame that is too short or
 * inconsistent gets one reason (enum nframe_bad) for the caller to count;
 * then only the layers before the failing one are filled in and the frame
 * has no hash. Non-IP frames parse fine (l3 NONE) and get no hash. */
#ifndef HVIS_NFRAME_H
#define HVIS_NFRAME_H

#include "net/rss.h"

#define NFRAME_ETH_LEN 14u
#define NFRAME_ETH_SRC 6u   /* offset of the source address */
#define NFRAME_ETH_TYPE 12u /* offset of the (first) ethertype */
#define NFRAME_TAG_LEN 4u   /* an 802.1Q / 802.1ad tag */
#define NFRAME_ETH_P_IPV4 0x0800u
#define NFRAME_ETH_P_IPV6 0x86DDu
#define NFRAME_ETH_P_8021Q 0x8100u
#define NFRAME_ETH_P_8021AD 0x88A8u
#define NFRAME_TAGS_MAX 2u
#define NFRAME_IP6_EXT_MAX 8u /* extension headers walked at most */

#define NFRAME_PROTO_TCP 6u
#define NFRAME_PROTO_UDP 17u

/* nframe_parse() flags. */
/* The frame is a guest's LSO send: an IPv4 total length or IPv6 payload
 * length of 0 (what Linux's netvsc sends) means "to the end of the frame",
 * which must then be at most 65535. */
#define NFRAME_F_LSO 0x1u
/* Only the frame's head is given (the first piece of a coalesced
 * receive): an IP length past it is taken to end there (f->cut), so
 * l3_end is the head's end, and only headers inside it are parsed. */
#define NFRAME_F_HEAD 0x2u

enum nframe_l3 {
	NFRAME_L3_NONE, /* not IP: ethertype says what */
	NFRAME_L3_IPV4,
	NFRAME_L3_IPV6
};

enum nframe_bad {
	NFRAME_OK,
	NFRAME_BAD_ETH,        /* shorter than an Ethernet header */
	NFRAME_BAD_TAG,        /* a VLAN tag cut short */
	NFRAME_BAD_IP_SHORT,   /* shorter than a fixed IP header */
	NFRAME_BAD_IP_VERSION, /* version disagrees with the ethertype */
	NFRAME_BAD_IP_HLEN,    /* IHL below 5 or past the total length */
	NFRAME_BAD_IP_LEN,     /* total or payload length past the frame */
	NFRAME_BAD_IP6_EXT,    /* extension header cut short, misplaced
				  hop-by-hop, or more than IP6_EXT_MAX */
	NFRAME_BAD_L4_SHORT,   /* TCP or UDP header past the packet */
	NFRAME_BAD_TCP_DOFF,   /* TCP data offset below 5 or past the packet */
	NFRAME_BAD_UDP_LEN,    /* UDP length below 8 or past the packet */
	NFRAME_BAD__COUNT
};

/* An ethertype that is an 802.1Q or 802.1ad tag's TPID. */
static inline bool nframe_is_tag(uint16_t tpid)
{
	return tpid == NFRAME_ETH_P_8021Q || tpid == NFRAME_ETH_P_8021AD;
}

const char *nframe_bad_name(enum nframe_bad b);

struct nframe_stats {
	uint64_t frames;
	uint64_t bad[NFRAME_BAD__COUNT]; /* bad[NFRAME_OK] stays 0 */
};

/* Counts one parse result. */
static inline void nframe_count(struct nframe_stats *s, enum nframe_bad b)
{
	s->frames++;
	if (b != NFRAME_OK && (unsigned)b < NFRAME_BAD__COUNT)
		s->bad[b]++;
}

struct nframe {
	uint32_t len;        /* the frame's length */
	uint32_t l2_len;     /* 14 + 4 per tag */
	uint8_t ntags;
	uint16_t tpid[NFRAME_TAGS_MAX]; /* outer first */
	uint16_t tci[NFRAME_TAGS_MAX];  /* priority 3 bits, DEI, VLAN id 12 */
	uint16_t ethertype;  /* after the tags */
	uint8_t l3;          /* enum nframe_l3 */
	uint32_t l3_off;     /* == l2_len */
	uint32_t l3_hlen;    /* IHL * 4; IPv6: 40 + extension headers */
	uint32_t l3_end;     /* end of the IP packet; Ethernet padding after */
	bool len0;           /* IP length 0 taken as the frame's (LSO) */
	bool cut;            /* IP length past the head (NFRAME_F_HEAD) */
	bool frag;           /* a fragment: more-fragments or an offset */
	bool frag_later;     /* offset non-zero: no L4 header in it */
	uint8_t l4_proto;    /* IPv4 protocol, IPv6 last next header */
	uint32_t l4_off;     /* l3_off + l3_hlen */
	uint32_t l4_hlen;    /* TCP data offset * 4, UDP 8; 0: not parsed */
	uint16_t sport, dport;
	struct rss_tuple rss; /* len 0: no hash */
};

/* Parses frame[0..len) into f. hash_types (RSS_HASH_*, as rss_cfg.types)
 * choose the tuple: L4 where its type is enabled and the packet is not a
 * fragment, else the addresses where their type is, else none. */
enum nframe_bad nframe_parse(struct nframe *f, const uint8_t *frame,
			     uint32_t len, uint32_t hash_types,
			     unsigned flags);

#endif
