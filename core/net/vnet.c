/* Offload requests to and from virtio-net headers. */
#include "net/vnet.h"

static const char *const bad_names[VNET_BAD__COUNT] = {
	[VNET_OK] = "ok",
	[VNET_BAD_FLAGS] = "flags",
	[VNET_BAD_GSO_TYPE] = "gso-type",
	[VNET_BAD_CSUM_OFFSET] = "csum-offset",
	[VNET_BAD_GSO_CSUM] = "gso-without-csum",
	[VNET_BAD_MSS] = "mss",
	[VNET_BAD_OFFSET] = "transport-offset",
};

const char *vnet_bad_name(enum vnet_bad b)
{
	return (unsigned)b < VNET_BAD__COUNT ? bad_names[b] : "?";
}

static enum vnet_bad check_offload(const struct vnet_offload *o)
{
	bool tcp = o->csum & VNET_CSUM_TCP, udp = o->csum & VNET_CSUM_UDP;

	if ((o->csum & ~VNET_CSUM_ALL) || (tcp && udp) ||
	    (o->mss && (udp || (o->csum & (o->lso_v6 ? VNET_CSUM_IPV4
							: VNET_CSUM_IPV6)))))
		return VNET_BAD_FLAGS;
	if (o->mss > VNET_MSS_MAX)
		return VNET_BAD_MSS;
	if ((o->mss || tcp || udp) && (o->l4_off == 0 || o->l4_off > 0xFFFFu))
		return VNET_BAD_OFFSET;
	return VNET_OK;
}

enum vnet_bad vnet_from_offload(const struct vnet_offload *o,
				struct vnet_hdr *h)
{
	enum vnet_bad b = check_offload(o);

	vmb_memset(h, 0, sizeof(*h));
	if (b)
		return b;
	if (o->csum_valid)
		h->flags = VNET_HDR_F_DATA_VALID;
	if (!o->mss && !(o->csum & (VNET_CSUM_TCP | VNET_CSUM_UDP)))
		return VNET_OK;
	h->flags = VNET_HDR_F_NEEDS_CSUM;
	h->csum_start = vmb_le16((uint16_t)o->l4_off);
	h->csum_offset = vmb_le16(o->csum & VNET_CSUM_UDP
					  ? VNET_CSUM_OFFSET_UDP
					  : VNET_CSUM_OFFSET_TCP);
	if (o->mss) {
		h->gso_type = o->lso_v6 ? VNET_HDR_GSO_TCPV6
					: VNET_HDR_GSO_TCPV4;
		h->gso_size = vmb_le16((uint16_t)o->mss);
	}
	return VNET_OK;
}

static enum vnet_bad gso_to_offload(const struct vnet_hdr *h,
				    struct vnet_offload *o)
{
	uint8_t t = h->gso_type & (uint8_t)~VNET_HDR_GSO_ECN;

	if (t == VNET_HDR_GSO_NONE)
		return VNET_OK;
	if (t != VNET_HDR_GSO_TCPV4 && t != VNET_HDR_GSO_TCPV6)
		return VNET_BAD_GSO_TYPE;
	if (!(h->flags & VNET_HDR_F_NEEDS_CSUM))
		return VNET_BAD_GSO_CSUM;
	if (o->csum != VNET_CSUM_TCP)
		return VNET_BAD_CSUM_OFFSET;
	if (vmb_le16(h->gso_size) == 0)
		return VNET_BAD_MSS;
	o->mss = vmb_le16(h->gso_size);
	o->lso_v6 = t == VNET_HDR_GSO_TCPV6;
	o->csum |= o->lso_v6 ? VNET_CSUM_IPV6 : VNET_CSUM_IPV4;
	return VNET_OK;
}

enum vnet_bad vnet_to_offload(const struct vnet_hdr *h,
			      struct vnet_offload *o)
{
	uint16_t off = vmb_le16(h->csum_offset);

	vmb_memset(o, 0, sizeof(*o));
	if (h->flags & ~(VNET_HDR_F_NEEDS_CSUM | VNET_HDR_F_DATA_VALID |
			 VNET_HDR_F_RSC_INFO))
		return VNET_BAD_FLAGS;
	o->csum_valid = h->flags & VNET_HDR_F_DATA_VALID;
	if (h->flags & VNET_HDR_F_NEEDS_CSUM) {
		if (off != VNET_CSUM_OFFSET_TCP && off != VNET_CSUM_OFFSET_UDP)
			return VNET_BAD_CSUM_OFFSET;
		if (vmb_le16(h->csum_start) == 0)
			return VNET_BAD_OFFSET;
		o->csum = off == VNET_CSUM_OFFSET_TCP ? VNET_CSUM_TCP
						      : VNET_CSUM_UDP;
		o->l4_off = vmb_le16(h->csum_start);
	}
	return gso_to_offload(h, o);
}
