/* Internet checksums and the checksum/LSO fix-ups of the offload paths. */
#include "net/ncsum.h"

static const char *const bad_names[NCSUM_BAD__COUNT] = {
	[NCSUM_OK] = "ok",
	[NCSUM_BAD_REQUEST] = "request",
	[NCSUM_BAD_NOT_IP] = "not-ip",
	[NCSUM_BAD_FAMILY] = "family",
	[NCSUM_BAD_L4] = "l4",
	[NCSUM_BAD_FRAG] = "fragment",
	[NCSUM_BAD_OFFSET] = "transport-offset",
	[NCSUM_BAD_LEN0] = "length-0",
};

const char *ncsum_bad_name(enum ncsum_bad b)
{
	return (unsigned)b < NCSUM_BAD__COUNT ? bad_names[b] : "?";
}

static uint64_t add_carry(uint64_t a, uint64_t b)
{
	a += b;
	return a + (a < b);
}

uint16_t ncsum_fold(uint32_t sum)
{
	sum = (sum & 0xFFFFu) + (sum >> 16);
	sum = (sum & 0xFFFFu) + (sum >> 16);
	return (uint16_t)sum;
}

/* The ones' complement sum does not depend on byte order (RFC 1071
 * 2(B)): words are summed as the machine loads them and the folded sum
 * swapped once to the big-endian value. */
uint32_t ncsum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = 0, w8;
	uint32_t w4;
	uint16_t w2;

	for (; len >= 8; p += 8, len -= 8) {
		vmb_memcpy(&w8, p, 8);
		acc = add_carry(acc, w8);
	}
	if (len >= 4) {
		vmb_memcpy(&w4, p, 4);
		acc = add_carry(acc, w4);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		vmb_memcpy(&w2, p, 2);
		acc = add_carry(acc, w2);
		p += 2;
		len -= 2;
	}
	if (len)
		acc = add_carry(acc, p[0]); /* the low byte, as loaded */
	acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
	acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
	return ncsum_fold(sum) +
	       __builtin_bswap16(ncsum_fold((uint32_t)acc));
}

uint16_t ncsum(const void *data, size_t len)
{
	return ncsum_finish(ncsum_partial(data, len, 0));
}

static uint32_t length_words(uint8_t proto, uint32_t l4_len)
{
	return proto + (l4_len >> 16) + (l4_len & 0xFFFFu);
}

uint32_t ncsum_pseudo4(const uint8_t src[4], const uint8_t dst[4],
		       uint8_t proto, uint32_t l4_len)
{
	uint32_t s = ncsum_partial(src, 4, length_words(proto, l4_len));

	return ncsum_partial(dst, 4, s);
}

uint32_t ncsum_pseudo6(const uint8_t src[16], const uint8_t dst[16],
		       uint8_t proto, uint32_t l4_len)
{
	uint32_t s = ncsum_partial(src, 16, length_words(proto, l4_len));

	return ncsum_partial(dst, 16, s);
}

uint32_t ncsum_pseudo(const uint8_t *frame, const struct nframe *f,
		      uint32_t l4_len)
{
	const uint8_t *ip = frame + f->l3_off;

	if (f->l3 == NFRAME_L3_IPV4)
		return ncsum_pseudo4(ip + 12, ip + 16, f->l4_proto, l4_len);
	return ncsum_pseudo6(ip + 8, ip + 24, f->l4_proto, l4_len);
}

bool ncsum_ip4_fill(uint8_t *frame, const struct nframe *f)
{
	uint8_t *ip = frame + f->l3_off;

	if (f->l3 != NFRAME_L3_IPV4)
		return false;
	vmb_put_be16(ip + 10, 0);
	vmb_put_be16(ip + 10, ncsum(ip, f->l3_hlen));
	return true;
}

bool ncsum_ip4_ok(const uint8_t *frame, const struct nframe *f)
{
	return f->l3 == NFRAME_L3_IPV4 &&
	       ncsum(frame + f->l3_off, f->l3_hlen) == 0;
}

/* Where f's TCP or UDP checksum field is; 0 when f has none to use. */
static uint32_t csum_field(const struct nframe *f)
{
	if (f->l3 == NFRAME_L3_NONE || f->frag || !f->l4_hlen)
		return 0;
	return f->l4_off + (f->l4_proto == NFRAME_PROTO_TCP
				    ? VNET_CSUM_OFFSET_TCP
				    : VNET_CSUM_OFFSET_UDP);
}

static uint32_t l4_sum(const uint8_t *frame, const struct nframe *f)
{
	uint32_t l4_len = f->l3_end - f->l4_off;

	return ncsum_partial(frame + f->l4_off, l4_len,
			     ncsum_pseudo(frame, f, l4_len));
}

enum ncsum_l4 ncsum_l4_verify(const uint8_t *frame, const struct nframe *f)
{
	uint32_t at = csum_field(f);

	if (!at)
		return NCSUM_L4_NONE;
	/* UDP over IPv4 may go without; over IPv6 it may not. */
	if (f->l4_proto == NFRAME_PROTO_UDP && f->l3 == NFRAME_L3_IPV4 &&
	    vmb_be16(frame + at) == 0)
		return NCSUM_L4_NONE;
	return ncsum_fold(l4_sum(frame, f)) == 0xFFFFu ? NCSUM_L4_GOOD
						       : NCSUM_L4_BAD;
}

/* A computed 0 goes out as 0xFFFF: the same in ones' complement, and
 * UDP's 0 would mean "no checksum". */
static void store_csum(uint8_t *at, uint32_t sum)
{
	uint16_t c = ncsum_finish(sum);

	vmb_put_be16(at, c ? c : 0xFFFFu);
}

bool ncsum_l4_fill(uint8_t *frame, const struct nframe *f)
{
	uint32_t at = csum_field(f);

	if (!at)
		return false;
	vmb_put_be16(frame + at, 0);
	store_csum(frame + at, l4_sum(frame, f));
	return true;
}

bool ncsum_lso_contract(uint8_t *frame, const struct nframe *f)
{
	uint8_t *ip = frame + f->l3_off;

	if (f->l3 == NFRAME_L3_NONE || f->frag ||
	    f->l4_proto != NFRAME_PROTO_TCP || !f->l4_hlen)
		return false;
	if (f->l3 == NFRAME_L3_IPV4) {
		vmb_put_be16(ip + 2, 0);
		vmb_put_be16(ip + 10, 0);
	} else {
		vmb_put_be16(ip + 4, 0);
	}
	vmb_put_be16(frame + f->l4_off + VNET_CSUM_OFFSET_TCP,
		     ncsum_fold(ncsum_pseudo(frame, f, 0)));
	return true;
}

/* The request against the frame, before anything is written. */
static enum ncsum_bad tx_check(const struct nframe *f,
			       const struct vnet_offload *o)
{
	bool v4 = f->l3 == NFRAME_L3_IPV4, v6 = f->l3 == NFRAME_L3_IPV6;
	bool udp = o->csum & VNET_CSUM_UDP;

	/* Whatever the frame: UDP never goes with TCP or LSO. */
	if (udp && (o->mss || (o->csum & VNET_CSUM_TCP)))
		return NCSUM_BAD_REQUEST;
	if (!v4 && !v6)
		return NCSUM_BAD_NOT_IP;
	if (f->len0 && !o->mss)
		return NCSUM_BAD_LEN0;
	if (((o->csum & (VNET_CSUM_IPV4 | VNET_CSUM_IP_HDR)) && !v4) ||
	    ((o->csum & VNET_CSUM_IPV6) && !v6) ||
	    (o->mss && o->lso_v6 != v6))
		return NCSUM_BAD_FAMILY;
	if (!o->mss && !(o->csum & (VNET_CSUM_TCP | VNET_CSUM_UDP)))
		return NCSUM_OK;
	if (f->frag)
		return NCSUM_BAD_FRAG;
	if (f->l4_proto != (udp ? NFRAME_PROTO_UDP : NFRAME_PROTO_TCP) ||
	    !f->l4_hlen)
		return NCSUM_BAD_L4;
	if (o->l4_off && o->l4_off != f->l4_off)
		return NCSUM_BAD_OFFSET;
	return NCSUM_OK;
}

/* LSO: the IP length the guest left 0, and what segmentation needs. */
static void tx_lso(uint8_t *frame, const struct nframe *f,
		   struct vnet_hdr *h)
{
	uint8_t *ip = frame + f->l3_off;
	uint32_t len = f->l3_end - f->l3_off;

	if (f->l3 == NFRAME_L3_IPV4)
		vmb_put_be16(ip + 2, (uint16_t)len);
	else
		vmb_put_be16(ip + 4, (uint16_t)(len - 40u));
	h->hdr_len = vmb_le16((uint16_t)(f->l4_off + f->l4_hlen));
	if (frame[f->l4_off + 13] & 0x80u) /* CWR */
		h->gso_type |= VNET_HDR_GSO_ECN;
}

enum ncsum_bad ncsum_tx_prepare(uint8_t *frame, const struct nframe *f,
				const struct vnet_offload *o,
				struct vnet_hdr *h)
{
	struct vnet_offload fixed = *o;
	enum ncsum_bad b = tx_check(f, o);

	vmb_memset(h, 0, sizeof(*h));
	if (!o->mss && !(o->csum & (VNET_CSUM_TCP | VNET_CSUM_UDP |
				    VNET_CSUM_IP_HDR)))
		return vnet_from_offload(o, h) ? NCSUM_BAD_REQUEST : NCSUM_OK;
	if (b)
		return b;
	if (o->mss || (o->csum & (VNET_CSUM_TCP | VNET_CSUM_UDP)))
		fixed.l4_off = f->l4_off;
	if (vnet_from_offload(&fixed, h))
		return NCSUM_BAD_REQUEST;
	if (o->mss)
		tx_lso(frame, f, h);
	if (o->mss || (o->csum & VNET_CSUM_IP_HDR))
		(void)ncsum_ip4_fill(frame, f); /* IPv4 only */
	if (h->flags & VNET_HDR_F_NEEDS_CSUM)
		vmb_put_be16(frame + csum_field(f),
			     ncsum_fold(ncsum_pseudo(
				     frame, f, f->l3_end - f->l4_off)));
	return NCSUM_OK;
}

enum ncsum_l4 ncsum_rx_complete(uint8_t *frame, const struct nframe *f,
				const struct vnet_hdr *h)
{
	uint32_t start = vmb_le16(h->csum_start);
	uint32_t at = start + vmb_le16(h->csum_offset);
	uint32_t end = f->l3 == NFRAME_L3_NONE ? f->len : f->l3_end;

	if (!(h->flags & VNET_HDR_F_NEEDS_CSUM))
		return h->flags & VNET_HDR_F_DATA_VALID ? NCSUM_L4_GOOD
							: NCSUM_L4_NONE;
	if (start < f->l2_len || at + 2 > end)
		return NCSUM_L4_BAD;
	store_csum(frame + at, ncsum_partial(frame + start, end - start, 0));
	return NCSUM_L4_GOOD;
}

void ncsum_tcp4_gso_make(uint8_t *frame, uint32_t len, uint16_t mss,
			 struct vnet_hdr *h)
{
	static const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
	uint8_t *ip = frame + 14, *tcp = ip + 20;

	vmb_put_be16(frame + 12, 0x0800);
	vmb_memset(ip, 0, 40);
	ip[0] = 0x45;
	vmb_put_be16(ip + 2, (uint16_t)(len - 14));
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = 6;
	vmb_memcpy(ip + 12, src, 4);
	vmb_memcpy(ip + 16, dst, 4);
	vmb_put_be16(ip + 10, ncsum(ip, 20));
	vmb_put_be16(tcp, 40000);
	vmb_put_be16(tcp + 2, 5201);
	tcp[12] = 5 << 4;
	tcp[13] = 0x10; /* ACK */
	vmb_put_be16(tcp + 14, 0xffff);
	vmb_put_be16(tcp + 16, ncsum_fold(ncsum_pseudo4(src, dst, 6,
							len - 34)));
	*h = (struct vnet_hdr){
		.flags = VNET_HDR_F_NEEDS_CSUM,
		.gso_type = VNET_HDR_GSO_TCPV4,
		.hdr_len = vmb_le16(54),
		.gso_size = vmb_le16(mss),
		.csum_start = vmb_le16(34),
		.csum_offset = vmb_le16(VNET_CSUM_OFFSET_TCP),
	};
}
