/* The virtio-net header (struct virtio_net_hdr) that Linux's TAP device
 * puts before each frame with IFF_VNET_HDR: how the host hands a guest's
 * checksum and segmentation offloads to the kernel, and learns about the
 * kernel's. 10 bytes, or 12 with num_buffers (VIRTIO_NET_F_MRG_RXBUF, or
 * TUNSETVNETHDRSZ 12). Fields are little-endian (virtio 1.0, and TAP on
 * the little-endian machines hvis supports).
 *
 * Sources (facts only): the virtio 1.x specification, section "Device
 * Operation" of the network device; Linux include/uapi/linux/virtio_net.h,
 * include/linux/virtio_net.h (virtio_net_hdr_to_skb) and
 * drivers/net/tun.c. */
#ifndef HVIS_VNET_WIRE_H
#define HVIS_VNET_WIRE_H

#include "vmb_base.h"

/* flags */
#define VNET_HDR_F_NEEDS_CSUM 0x01u /* checksum from csum_start to the end,
				       stored at csum_start + csum_offset;
				       the field holds the pseudo-header
				       seed */
#define VNET_HDR_F_DATA_VALID 0x02u /* received: checksum already checked */
#define VNET_HDR_F_RSC_INFO 0x04u   /* received: coalesced (not used) */

/* gso_type */
#define VNET_HDR_GSO_NONE 0x00u
#define VNET_HDR_GSO_TCPV4 0x01u
#define VNET_HDR_GSO_UDP 0x03u    /* UFO, obsolete */
#define VNET_HDR_GSO_TCPV6 0x04u
#define VNET_HDR_GSO_UDP_L4 0x05u /* USO */
#define VNET_HDR_GSO_ECN 0x80u    /* TCP segments carry CWR (TUN_F_TSO_ECN) */

/* Where the checksum goes from the transport header's start. */
#define VNET_CSUM_OFFSET_TCP 16u
#define VNET_CSUM_OFFSET_UDP 6u

struct __attribute__((packed)) vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;     /* bytes of headers each segment repeats */
	uint16_t gso_size;    /* payload bytes per segment (the MSS) */
	uint16_t csum_start;  /* from the start of the frame */
	uint16_t csum_offset; /* from csum_start */
};
_Static_assert(sizeof(struct vnet_hdr) == 10, "virtio_net_hdr size");
_Static_assert(offsetof(struct vnet_hdr, hdr_len) == 2, "hdr_len");
_Static_assert(offsetof(struct vnet_hdr, csum_offset) == 8, "csum_offset");

struct __attribute__((packed)) vnet_hdr_mrg {
	struct vnet_hdr hdr;
	uint16_t num_buffers; /* 1 from TAP */
};
_Static_assert(sizeof(struct vnet_hdr_mrg) == 12,
	       "virtio_net_hdr_mrg_rxbuf size");

#endif
