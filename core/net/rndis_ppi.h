/* RNDIS PACKET messages: the data path of the synthetic NIC, both ways.
 *
 * Parsing (host for guest TX, guest for host RX): rndis_pkt_parse()
 * checks one PACKET against the bytes it was given and decodes its
 * per-packet info into struct rndis_pkt_meta; rndis_pkt_iter walks the
 * PACKETs a sender packed back to back into one NVSP message. Every
 * length and offset is the peer's and is checked before use; a refusal
 * is counted by reason in the caller's struct rndis_ppi_stats.
 *
 * Building: rndis_pkt_build() writes a PACKET header and the PPIs the
 * meta names into a caller buffer, the frame to follow it; struct
 * rndis_agg packs several into one message the way Linux does (each
 * padded to the alignment when another follows, at most max_pkts and
 * max_xfer bytes). Nothing here allocates or keeps state of its own. */
#ifndef HVIS_RNDIS_PPI_H
#define HVIS_RNDIS_PPI_H

#include "net/rndis_wire.h"

/* Why a PACKET was refused. */
enum rndis_ppi_bad {
	RNDIS_PBAD_SHORT,      /* shorter than the 44-byte header */
	RNDIS_PBAD_TYPE,       /* not a PACKET */
	RNDIS_PBAD_MSGLEN,     /* msg_len below 44 or past the bytes given */
	RNDIS_PBAD_DATA,       /* data empty, before byte 44 or past msg_len */
	RNDIS_PBAD_OOB,        /* out-of-band data (no guest sends it) */
	RNDIS_PBAD_VC,         /* a virtual-circuit handle */
	RNDIS_PBAD_PPI_AREA,   /* PPI area misaligned or outside the message */
	RNDIS_PBAD_PPI_SIZE,   /* a PPI not a multiple of 4, < 12, past area */
	RNDIS_PBAD_PPI_OFFSET, /* a PPI's value not at 12 */
	RNDIS_PBAD_PPI_VALUE,  /* a known PPI's value too short */
	RNDIS_PBAD__COUNT
};

const char *rndis_ppi_bad_name(enum rndis_ppi_bad b);

struct rndis_ppi_stats {
	uint64_t packets;      /* PACKETs accepted */
	uint64_t unknown_ppi;  /* PPIs of types not decoded, skipped */
	uint64_t bad[RNDIS_PBAD__COUNT];
};

/* rndis_pkt_meta.present bits. */
#define RNDIS_META_CSUM 0x01u
#define RNDIS_META_LSO 0x02u
#define RNDIS_META_VLAN 0x04u
#define RNDIS_META_HASH_VALUE 0x08u
#define RNDIS_META_HASH_INFO 0x10u
#define RNDIS_META_RSC 0x20u

struct rndis_pkt_meta {
	uint32_t present;
	uint32_t csum;        /* RNDIS_CSUM_TX_* or RNDIS_CSUM_RX_* bits */
	uint32_t lso_mss;     /* < 2^20 */
	uint16_t lso_thoff;   /* TCP header offset, < 2^10 */
	bool lso_ipv6;
	uint16_t vlan_tci;    /* priority, CFI, VLAN id as 802.1Q has them */
	uint32_t hash_value;
	uint32_t hash_info;   /* NDIS_HASH_* */
	uint16_t rsc_id;
	uint8_t rsc_flags;    /* RNDIS_PKTID_* */
};

struct rndis_pkt {
	const uint8_t *data;  /* the frame, inside the message */
	uint32_t data_len;
	uint32_t msg_len;
	uint32_t unknown_ppi; /* PPIs skipped in this packet */
	struct rndis_pkt_meta meta;
};

/* One PACKET at msg (len bytes available; the message is msg_len long).
 * 0 and *p filled, or VMB_EPROTO with the reason counted in st. */
int rndis_pkt_parse(const uint8_t *msg, uint32_t len, struct rndis_pkt *p,
		    struct rndis_ppi_stats *st);

/* The PACKETs of one NVSP message: each starts where the previous one's
 * msg_len ends, rounded up to align (a power of two; 1 when the sender
 * counts its padding in msg_len, as Linux does). Fewer bytes left than a
 * PACKET header after rounding ends the walk (section padding). */
struct rndis_pkt_iter {
	const uint8_t *buf;
	uint32_t len;
	uint32_t off;
	uint32_t align;
	bool failed;
};

void rndis_pkt_iter_init(struct rndis_pkt_iter *it, const uint8_t *buf,
			 uint32_t len, uint32_t align);

/* 1 and the next packet in *p; 0 at the end; VMB_EPROTO (counted) on a
 * bad packet, after which the walk is over (its length cannot be
 * trusted to find the next one). */
int rndis_pkt_next(struct rndis_pkt_iter *it, struct rndis_pkt *p,
		   struct rndis_ppi_stats *st);

/* Where a PACKET's parser reads past its 44-byte header, relative to the
 * PACKET's start: its PPI area and the first peek bytes of its frame,
 * each clipped to the avail bytes left in the message (spans starting
 * inside the header or past avail are left out). For a receiver that
 * copies out of shared memory only what rndis_pkt_next() will read (the
 * header and these) and sends the rest of the frame from where it lies.
 * hdr's values are the peer's and unchecked: the parse that follows
 * judges them from the copy. Returns the number of spans in out. */
struct rndis_span {
	uint32_t off;
	uint32_t len;
};

unsigned rndis_pkt_spans(const uint8_t *hdr, uint32_t avail, uint32_t peek,
			 struct rndis_span out[2]);

/* The header length rndis_pkt_build() writes for m. */
uint32_t rndis_pkt_hdr_len(const struct rndis_pkt_meta *m);

/* A PACKET header and the PPIs m->present names into out (cap bytes),
 * for a frame of data_len bytes to be put right after it. Returns the
 * header's length (the frame goes at out + that), or 0 if cap is too
 * small. msg_len is header + data_len. */
uint32_t rndis_pkt_build(uint8_t *out, uint32_t cap,
			 const struct rndis_pkt_meta *m, uint32_t data_len);

/* Checksum info a guest sends for a frame whose transport header starts
 * at thoff (RNDIS_CSUM_TX_* flags in what). */
static inline uint32_t rndis_csum_tx(uint32_t what, uint32_t thoff)
{
	return what | (thoff & RNDIS_CSUM_TX_THOFF_MASK)
			      << RNDIS_CSUM_TX_THOFF_SHIFT;
}

/* ---- aggregation ---- */
struct rndis_agg {
	uint32_t max_pkts;
	uint32_t max_xfer;
	uint32_t align;    /* a power of two */
	uint32_t npkts;
	uint32_t len;      /* bytes used, the last message unpadded */
	uint32_t last;     /* offset of the last message */
};

/* Limits from the INITIALIZE completion (and the section size in cap). */
void rndis_agg_init(struct rndis_agg *a, uint32_t max_pkts,
		    uint32_t max_xfer, uint32_t align);

/* The next message's place in buf (cap bytes) in *off, and the most
 * bytes it may take there (0: the message is full, send it). For a
 * sender that writes each PACKET at its place before it knows its
 * length (a frame read there); alone, a message has cap to itself. */
uint32_t rndis_agg_room(const struct rndis_agg *a, uint32_t cap,
			uint32_t *off);

/* Where a message of msg_len bytes would go in buf (cap bytes), or
 * VMB_EMSGSIZE when it does not fit (too many packets, past max_xfer or
 * cap): then send what is there and start again. A message alone is
 * limited by cap only: it has to go anyway. */
int rndis_agg_where(const struct rndis_agg *a, uint32_t msg_len,
		    uint32_t cap);

/* Takes the message just written at rndis_agg_where(): pads the one
 * before it to the alignment, counting the padding in its msg_len. */
void rndis_agg_add(struct rndis_agg *a, uint8_t *buf, uint32_t msg_len);

#endif
