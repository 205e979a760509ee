/* VMBus ring buffer and packet layouts: the shared header page of each
 * ring, the 16-byte packet descriptor and the type-specific headers that
 * follow it. All fields little-endian. */
#ifndef HVIS_VMB_RING_WIRE_H
#define HVIS_VMB_RING_WIRE_H

#include "vmb_wire.h"

#define VMB_RING_FEAT_PENDING_SEND_SZ 0x1u

/* One page. The writer owns write_index and pending_send_sz; the reader
 * owns read_index and interrupt_mask; feature_bits is set by whoever
 * created the ring before it is opened. */
struct VMB_WIRE vmb_ring_hdr {
	uint32_t write_index; /* byte offset into the data area */
	uint32_t read_index;
	uint32_t interrupt_mask;
	uint32_t pending_send_sz;
	uint32_t reserved1[12];
	uint32_t feature_bits; /* offset 0x40 */
	uint8_t reserved2[VMB_PAGE_SIZE - 0x44];
};
_Static_assert(sizeof(struct vmb_ring_hdr) == VMB_PAGE_SIZE, "ring header");

enum vmb_pkt_type {
	VMB_PKT_INBAND = 0x6,
	VMB_PKT_XFER_PAGES = 0x7,
	VMB_PKT_GPADL = 0x8,
	VMB_PKT_GPA_DIRECT = 0x9,
	VMB_PKT_COMP = 0xB
};

#define VMB_PKT_FLAG_COMPLETION_REQUESTED 0x1u

struct VMB_WIRE vmb_pktdesc {
	uint16_t type;
	uint16_t offset8; /* start of payload, in 8-byte units */
	uint16_t len8;    /* whole packet, in 8-byte units, trailer excluded */
	uint16_t flags;
	uint64_t xid; /* transaction id */
};
_Static_assert(sizeof(struct vmb_pktdesc) == 16, "packet descriptor");

/* After every packet: 8 bytes whose upper half is the packet's start
 * offset in the data area (lower half reserved, zero). */
#define VMB_PKT_TRAILER_LEN 8u
#define VMB_PKT_MAX_LEN (0xFFFFu * 8u)

/* Transfer-page packet: payload lives in a previously shared buffer. */
struct VMB_WIRE vmb_xfer_range {
	uint32_t byte_count;
	uint32_t byte_offset;
};
_Static_assert(sizeof(struct vmb_xfer_range) == 8, "transfer page range");

struct VMB_WIRE vmb_xfer_hdr {
	struct vmb_pktdesc d;
	uint16_t xfer_pageset_id;
	uint8_t sender_owns_set;
	uint8_t reserved;
	uint32_t range_count;
	/* struct vmb_xfer_range ranges[range_count] follow */
};
_Static_assert(sizeof(struct vmb_xfer_hdr) == 24, "transfer page header");

/* GPA direct packet: ranges of guest pages; each range is a
 * vmb_wire_gpa_range followed by ceil((byte_offset + byte_count) / 4096)
 * PFNs. Only the first page of a range may start mid-page and only the
 * last may end short. */
struct VMB_WIRE vmb_gpa_direct_hdr {
	struct vmb_pktdesc d;
	uint32_t reserved;
	uint32_t range_count;
	/* ranges follow */
};
_Static_assert(sizeof(struct vmb_gpa_direct_hdr) == 24, "GPA direct header");

#endif
