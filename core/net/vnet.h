/* Offload requests between their RNDIS form and the virtio-net header.
 *
 * A guest asks for checksum offload and LSO in per-packet info (decoded by
 * the RNDIS layer into a struct vnet_offload: the TX checksum-info bits
 * and transport offset, or the LSOv2 MSS, TCP offset and IPv6 bit); the
 * host's TAP backend wants a struct vnet_hdr. vnet_from_offload() maps
 * one to the other without looking at the frame; ncsum_tx_prepare()
 * (ncsum.h) checks the request against the parsed frame and fixes what
 * the kernel needs fixed. vnet_to_offload() goes back, for the headers
 * TAP puts before received frames. */
#ifndef HVIS_VNET_H
#define HVIS_VNET_H

#include "net/vnet_wire.h"

/* vnet_offload.csum: the bit positions of RNDIS's TX checksum info. */
#define VNET_CSUM_IPV4 0x01u
#define VNET_CSUM_IPV6 0x02u
#define VNET_CSUM_TCP 0x04u
#define VNET_CSUM_UDP 0x08u
#define VNET_CSUM_IP_HDR 0x10u /* fill the IPv4 header checksum */
#define VNET_CSUM_ALL 0x1Fu

#define VNET_MSS_MAX 0xFFFFu /* gso_size is 16 bits */

struct vnet_offload {
	uint8_t csum;     /* VNET_CSUM_* */
	bool csum_valid;  /* received: checksum already checked */
	uint32_t l4_off;  /* transport header from the frame start; 0: not
			     given (OpenBSD sends none) */
	uint32_t mss;     /* LSO segment payload; 0: no LSO */
	bool lso_v6;      /* LSO over IPv6 */
};

enum vnet_bad {
	VNET_OK,
	VNET_BAD_FLAGS,       /* unknown header flag or checksum bit, or
				 both TCP and UDP */
	VNET_BAD_GSO_TYPE,    /* segmentation other than TCP */
	VNET_BAD_CSUM_OFFSET, /* checksum not at TCP's or UDP's place */
	VNET_BAD_GSO_CSUM,    /* segmentation without NEEDS_CSUM */
	VNET_BAD_MSS,         /* MSS 0 or above 65535 */
	VNET_BAD_OFFSET,      /* transport offset missing or above 65535 */
	VNET_BAD__COUNT
};

const char *vnet_bad_name(enum vnet_bad b);

/* o as a virtio-net header; hdr_len is left 0 (the kernel derives it;
 * ncsum_tx_prepare() sets it from the frame). */
enum vnet_bad vnet_from_offload(const struct vnet_offload *o,
				struct vnet_hdr *h);

/* h as an offload request (o is meaningful only on VNET_OK). Checksum
 * family bits are set only where the segmentation type says them; the
 * frame tells the rest. */
enum vnet_bad vnet_to_offload(const struct vnet_hdr *h,
			      struct vnet_offload *o);

#endif
