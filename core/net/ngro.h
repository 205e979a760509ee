/* Receive-side coalescing of a guest's sends: consecutive in-order
 * TCP segments of one flow over IPv4 or IPv6, each with a partial checksum for the
 * host to complete, merged into one frame behind a GSO header, so that
 * the host's stack takes one large packet (as GRO would hand it) instead
 * of one per MSS. A guest without TSO sends MSS-sized frames; the
 * host's TCP receive per frame, not the bytes, bounds that path.
 *
 * Sans-I/O: the caller keeps a run (the first segment's headers, copied
 * here and rewritten at the end) and the payloads of the segments
 * wherever they lie; the engine says whether a segment may start a run
 * or join the open one and, at the end, fixes the headers and writes the
 * virtio-net header for the whole. A segment joins only when it is the
 * next byte of the same flow with the same headers but for the lengths,
 * IPv4 id (one more), checksums and PSH, no more payload than the first,
 * and the run is not ended (a shorter or a PSH segment ends it) and
 * stays within an IP packet. Everything read is from the caller's copy
 * of the headers and checked before use. */
#ifndef HVIS_NGRO_H
#define HVIS_NGRO_H

#include "net/nframe.h"
#include "net/vnet_wire.h"

/* Segments in one run at most. */
#define NGRO_SEGS_MAX 64u
/* Ethernet, IPv6 without extension headers, TCP with options. */
#define NGRO_HDR_MAX (NFRAME_ETH_LEN + 40u + 60u)

/* A segment that may merge, as ngro_seg_of() found it. */
struct ngro_seg {
	uint32_t hlen;  /* Ethernet, IP and TCP headers */
	uint32_t plen;  /* TCP payload, > 0 */
	uint32_t seq;
	uint16_t id;    /* IPv4 identification (IPv6: 0) */
	bool v6;
	bool psh;
};

struct ngro_run {
	uint8_t hdr[NGRO_HDR_MAX]; /* the first segment's headers */
	uint32_t hlen;             /* 0: no run */
	uint32_t tcp_off;          /* where TCP's header starts */
	bool v6;
	uint32_t mss;              /* the first segment's payload */
	uint32_t bytes;            /* payload of all */
	uint32_t next_seq;
	uint16_t next_id;
	uint16_t segs;
	bool ended;                /* a shorter or PSH segment came */
	bool psh;
};

/* Whether the frame of len bytes, whose first have bytes are at head,
 * sent behind virtio-net header h, may start or join a run: IPv4
 * without options or fragments or IPv6 without extension headers,
 * untagged, TCP with ACK (and PSH) only,
 * payload, the IP length the frame's, the TCP checksum left for the host
 * (NEEDS_CSUM at the TCP checksum, no GSO). Its figures in s. */
bool ngro_seg_of(const uint8_t *head, uint32_t have, uint32_t len,
		 const struct vnet_hdr *h, struct ngro_seg *s);

/* A new run of the segment whose headers are at head. */
void ngro_start(struct ngro_run *r, const uint8_t *head,
		const struct ngro_seg *s);

/* Whether the segment joins r (counted in r when it does). */
bool ngro_join(struct ngro_run *r, const uint8_t *head,
	       const struct ngro_seg *s);

/* The run ended: r->hdr made the headers of the whole (IP length and
 * checksum, PSH when a segment had it, the TCP checksum seeded for the
 * new length) and h its virtio-net header (GSO TCPV4 or TCPV6 at the first
 * segment's size when there are several; as the segment's own when
 * alone). r is empty after it. */
void ngro_end(struct ngro_run *r, struct vnet_hdr *h);

#endif
