/* Internet checksums (RFC 1071) and the offloads built on them: IPv4
 * header checksums, TCP/UDP pseudo-header seeds, full verification of a
 * received TCP/UDP checksum, and the fix-ups that turn a guest's checksum
 * or LSO send into what Linux's TAP (a virtio-net header) expects, and a
 * TAP frame with a partial checksum into one a guest accepts.
 *
 * Sums: a partial sum is a 32-bit accumulator of the data's big-endian
 * 16-bit words (the value a checksum field holds, read with vmb_be16), so
 * seeds and sums add with plain +. ncsum_partial() reads the data in
 * 64-bit loads at any alignment; data must start at an even offset of
 * what it sums (every header here does), and an odd length ends with the
 * last byte as the high half of a word padded with zero.
 *
 * The host's netvsp calls these for each frame whose offloads it carries
 * out, with the frame already parsed by nframe_parse(); they never read
 * or write outside f's frame. */
#ifndef HVIS_NCSUM_H
#define HVIS_NCSUM_H

#include "net/nframe.h"
#include "net/vnet.h"

uint32_t ncsum_partial(const void *data, size_t len, uint32_t sum);

/* End-around carries down to 16 bits. */
uint16_t ncsum_fold(uint32_t sum);

/* The checksum field's value: the complement of the folded sum. */
static inline uint16_t ncsum_finish(uint32_t sum)
{
	return (uint16_t)~ncsum_fold(sum);
}

/* The checksum of len bytes (0 for data summing to 0xFFFF). */
uint16_t ncsum(const void *data, size_t len);

/* Pseudo-header sums (RFC 793/768 for IPv4, RFC 8200 8.1 for IPv6) with
 * l4_len the TCP/UDP length; 0 leaves the length out, as the seed of
 * Linux netvsc's LSO sends is computed. */
uint32_t ncsum_pseudo4(const uint8_t src[4], const uint8_t dst[4],
		       uint8_t proto, uint32_t l4_len);
uint32_t ncsum_pseudo6(const uint8_t src[16], const uint8_t dst[16],
		       uint8_t proto, uint32_t l4_len);

/* The pseudo-header of f's IP packet (IPv4 or IPv6) and l4_proto. */
uint32_t ncsum_pseudo(const uint8_t *frame, const struct nframe *f,
		      uint32_t l4_len);

/* IPv4 header checksum of f: computed into the header, and checked
 * (neither does anything for a frame that is not IPv4: false). */
bool ncsum_ip4_fill(uint8_t *frame, const struct nframe *f);
bool ncsum_ip4_ok(const uint8_t *frame, const struct nframe *f);

enum ncsum_l4 {
	NCSUM_L4_NONE, /* nothing to check: not TCP/UDP, a fragment, or
			  UDP over IPv4 without a checksum */
	NCSUM_L4_GOOD,
	NCSUM_L4_BAD
};

/* The received TCP/UDP checksum of f checked over the whole segment (for
 * the host's RX checksum-succeeded / failed flags). */
enum ncsum_l4 ncsum_l4_verify(const uint8_t *frame, const struct nframe *f);

/* The TCP/UDP checksum of f computed in software; false (frame untouched)
 * where ncsum_l4_verify() says NONE for want of a TCP/UDP header. */
bool ncsum_l4_fill(uint8_t *frame, const struct nframe *f);

/* A TCP frame the guest's stack segmented nothing of yet (lengths set,
 * as the kernel hands a GSO frame over), made what Hyper-V's LSOv2
 * contract asks of a sender, as Linux and FreeBSD netvsc send it: the
 * IPv4 total length and header checksum or the IPv6 payload length 0,
 * the TCP checksum the pseudo-header sum without the length (the host
 * puts the lengths back: ncsum_tx_prepare). false (frame untouched) for
 * a frame that is not unfragmented TCP over IP. */
bool ncsum_lso_contract(uint8_t *frame, const struct nframe *f);

enum ncsum_bad {
	NCSUM_OK,
	NCSUM_BAD_REQUEST, /* the request itself: vnet_from_offload() says
			      why */
	NCSUM_BAD_NOT_IP,  /* offload asked for a frame that is not IP */
	NCSUM_BAD_FAMILY,  /* IPv4/IPv6 bits disagree with the frame */
	NCSUM_BAD_L4,      /* TCP/UDP offload or LSO without that header */
	NCSUM_BAD_FRAG,    /* L4 offload asked for a fragment */
	NCSUM_BAD_OFFSET,  /* transport offset given is not the frame's */
	NCSUM_BAD_LEN0,    /* IP length 0 (parsed as LSO) without LSO */
	NCSUM_BAD__COUNT
};

const char *ncsum_bad_name(enum ncsum_bad b);

/* A guest's send with offload request o, as TAP takes it. f: frame parsed
 * with NFRAME_F_LSO when o->mss. Checks o against the frame (a transport
 * offset of 0 means the frame's), then:
 *  - LSO: the IPv4 total length or IPv6 payload length set to the
 *    packet's (Linux netvsc sends 0), the IPv4 header checksum filled,
 *    gso_type TCPV4/TCPV6 (with ECN when CWR is set, so that only the
 *    first segment keeps it), gso_size the MSS, hdr_len through the TCP
 *    header;
 *  - TCP/UDP checksum or LSO: the checksum field seeded with the
 *    pseudo-header sum including the length, whatever the guest put
 *    there (Linux's LSO seed leaves it out, and segmentation adjusts a
 *    seed that has it), NEEDS_CSUM with csum_start/csum_offset;
 *  - IP header checksum asked: filled.
 * On an error, nothing is written and h is zero. */
enum ncsum_bad ncsum_tx_prepare(uint8_t *frame, const struct nframe *f,
				const struct vnet_offload *o,
				struct vnet_hdr *h);

/* A frame TAP handed over with header h: a partial checksum (NEEDS_CSUM)
 * is completed in place, as virtio defines it, over csum_start to the end
 * of f's IP packet. GOOD: completed, or DATA_VALID; NONE: nothing said;
 * BAD: csum_start/offset outside the packet (frame untouched). A header
 * with segmentation is the embedder's to refuse: a netvsc guest takes no
 * frame above its MTU without RSC, so the TAP gets TUN_F_CSUM and none of
 * the TUN_F_TSO* offloads. */
enum ncsum_l4 ncsum_rx_complete(uint8_t *frame, const struct nframe *f,
				const struct vnet_hdr *h);

/* A TCP/IPv4 frame of len bytes (54 to 65549) as the kernel hands a
 * TAP reader one with TSO on: after the caller's Ethernet addresses, the
 * IPv4 header (10.0.0.1 to 10.0.0.2, its checksum) and a TCP header
 * (port 40000 to 5201, ACK) whose checksum field holds the
 * pseudo-header's sum, and h for segments of mss payload bytes, the
 * checksum the device's. The payload is left as it is. For sources of
 * coalesced or LSO frames that stand in for a TAP (hvis-bench). */
void ncsum_tcp4_gso_make(uint8_t *frame, uint32_t len, uint16_t mss,
			 struct vnet_hdr *h);

#endif
