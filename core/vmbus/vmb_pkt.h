/* VMBus packets on top of the ring: building and sending each packet type,
 * and parsing received packets with every length and count checked. */
#ifndef HVIS_VMB_PKT_H
#define HVIS_VMB_PKT_H

#include "vmb_ring.h"

/* A received packet, parsed from a private copy (never from the ring). */
struct vmb_pkt {
	uint16_t type;
	uint16_t flags;
	uint64_t xid;
	const uint8_t *raw;     /* descriptor first */
	uint32_t len;           /* len8 * 8 */
	const uint8_t *payload; /* raw + offset8 * 8 */
	uint32_t payload_len;   /* len - offset8 * 8, tail padding included */
};

/* Checks the descriptor against len: offset8 covers at least the
 * descriptor, offset8 <= len8, len8 * 8 <= len. VMB_EPROTO if not. */
int vmb_pkt_parse(const void *buf, uint32_t len, struct vmb_pkt *p);

/* A range of guest pages as sent in GPA direct packets. */
struct vmb_gpa_range {
	uint32_t byte_count;
	uint32_t byte_offset; /* into the first page, < 4096 */
	uint32_t pfn_count;   /* = ceil((byte_offset + byte_count) / 4096) */
	const uint64_t *pfn;
};

static inline uint32_t vmb_gpa_pfn_count(uint32_t off, uint32_t count)
{
	return (uint32_t)(((uint64_t)off + count + VMB_PAGE_SIZE - 1) >>
			  VMB_PAGE_SHIFT);
}

#define VMB_PKT_MAX_IOV 8

/* Each send function writes one packet and publishes it, *signal as
 * vmb_ring_write says. With signal NULL it only puts the packet into the
 * writer's current burst (vmb_ring_put), for vmb_ring_commit to publish
 * with the rest. */

/* Inband: payload is the concatenation of iov (at most VMB_PKT_MAX_IOV). */
int vmb_pkt_send_inband(struct vmb_ring *r, uint16_t flags, uint64_t xid,
			const struct vmb_iov *iov, unsigned iovcnt,
			bool *signal);
/* Completion of transaction xid carrying data. */
int vmb_pkt_send_comp(struct vmb_ring *r, uint64_t xid, const void *data,
		      uint32_t len, bool *signal);
/* Ranges one GPA direct send takes (each range costs two iovecs on the
 * sender's stack; Linux sends at most 32 page buffers per packet too). */
#define VMB_PKT_MAX_GPA_RANGES 32

/* GPA direct: ranges (each validated) then an inband payload. */
int vmb_pkt_send_gpa(struct vmb_ring *r, uint16_t flags, uint64_t xid,
		     const struct vmb_gpa_range *rg, unsigned nrg,
		     const void *data, uint32_t len, bool *signal);
/* Transfer pages: ranges of the page set set_id, then a payload. */
int vmb_pkt_send_xfer(struct vmb_ring *r, uint16_t flags, uint64_t xid,
		      uint16_t set_id, const struct vmb_xfer_range *rg,
		      uint32_t nrg, const void *data, uint32_t len,
		      bool *signal);

/* Parse a GPA direct packet's ranges into out (pointers into the packet
 * copy). Each range: byte_offset < 4096, byte_count > 0, its PFNs inside
 * the header area. VMB_EPROTO if malformed, VMB_EMSGSIZE if more than max
 * ranges. */
int vmb_pkt_gpa_ranges(const struct vmb_pkt *p, struct vmb_gpa_range *out,
		       unsigned max, unsigned *n);
/* Parse a transfer-page packet's header. */
int vmb_pkt_xfer_ranges(const struct vmb_pkt *p, uint16_t *set_id,
			const struct vmb_xfer_range **rg, uint32_t *n);

#endif
