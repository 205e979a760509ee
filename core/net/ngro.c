/* Coalescing of a guest's TCP segments over IPv4 or IPv6 (see ngro.h). */
#include "net/ngro.h"

#include "net/ncsum.h"

#define IP_OFF NFRAME_ETH_LEN
#define IP4_HLEN 20u
#define IP6_HLEN 40u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u

static bool csum_left(const struct vnet_hdr *h, uint32_t tcp_off)
{
	return h->flags == VNET_HDR_F_NEEDS_CSUM &&
	       h->gso_type == VNET_HDR_GSO_NONE &&
	       vmb_le16(h->csum_start) == tcp_off &&
	       vmb_le16(h->csum_offset) == VNET_CSUM_OFFSET_TCP;
}

/* Untagged TCP over IPv4 without options or fragments, or over IPv6
 * without extension headers. */
static bool plain_tcp(const struct nframe *f)
{
	bool v4 = f->l3 == NFRAME_L3_IPV4 && f->l3_hlen == IP4_HLEN &&
		  !f->frag;
	bool v6 = f->l3 == NFRAME_L3_IPV6 && f->l3_hlen == IP6_HLEN;

	return (v4 || v6) && f->ntags == 0 &&
	       f->l4_proto == NFRAME_PROTO_TCP && f->l4_hlen;
}

/* The frame's length as its IP header gives it. */
static uint32_t ip_frame_len(const uint8_t *head, bool v6)
{
	const uint8_t *ip = head + IP_OFF;

	return IP_OFF + (v6 ? IP6_HLEN + vmb_be16(ip + 4) : vmb_be16(ip + 2));
}

bool ngro_seg_of(const uint8_t *head, uint32_t have, uint32_t len,
		 const struct vnet_hdr *h, struct ngro_seg *s)
{
	struct nframe f;
	const uint8_t *tcp;
	uint32_t hlen;
	bool v6;

	if (nframe_parse(&f, head, have < len ? have : len, 0,
			 NFRAME_F_HEAD) != NFRAME_OK || !plain_tcp(&f) ||
	    !csum_left(h, f.l4_off))
		return false;
	v6 = f.l3 == NFRAME_L3_IPV6;
	tcp = head + f.l4_off;
	hlen = f.l4_off + f.l4_hlen;
	/* ACK, maybe PSH, nothing else (no ECN, URG, SYN, FIN, RST) */
	if (hlen > NGRO_HDR_MAX || hlen > have || (tcp[12] & 0x0Fu) ||
	    (tcp[13] & (uint8_t)~TCP_PSH) != TCP_ACK ||
	    ip_frame_len(head, v6) != len || len <= hlen)
		return false;
	*s = (struct ngro_seg){.hlen = hlen, .plen = len - hlen,
			       .seq = vmb_be32(tcp + 4),
			       .id = v6 ? 0 : vmb_be16(head + IP_OFF + 4),
			       .v6 = v6, .psh = tcp[13] & TCP_PSH};
	return true;
}

void ngro_start(struct ngro_run *r, const uint8_t *head,
		const struct ngro_seg *s)
{
	vmb_memcpy(r->hdr, head, s->hlen);
	r->hlen = s->hlen;
	r->tcp_off = IP_OFF + (s->v6 ? IP6_HLEN : IP4_HLEN);
	r->v6 = s->v6;
	r->mss = r->bytes = s->plen;
	r->next_seq = s->seq + s->plen;
	r->next_id = (uint16_t)(s->id + 1u);
	r->segs = 1;
	r->ended = r->psh = s->psh;
}

static bool same(const uint8_t *a, const uint8_t *b, uint32_t from,
		 uint32_t to)
{
	return !vmb_memcmp(a + from, b + from, to - from);
}

static bool same_ip(const uint8_t *a, const uint8_t *b, uint32_t tcp,
		    bool v6)
{
	const uint32_t ip = IP_OFF;

	if (v6)
		return same(a, b, 0, ip + 4) && same(a, b, ip + 6, tcp);
	return same(a, b, 0, ip + 2) && same(a, b, ip + 6, ip + 10) &&
	       same(a, b, ip + 12, tcp);
}

/* The headers agree but for the IP length (IPv4: and id and checksum),
 * the TCP sequence number, PSH and checksum. */
static bool same_flow(const uint8_t *a, const uint8_t *b, uint32_t tcp,
		      uint32_t hlen, bool v6)
{
	return same_ip(a, b, tcp, v6) && same(a, b, tcp, tcp + 4) &&
	       same(a, b, tcp + 8, tcp + 13) &&
	       ((a[tcp + 13] ^ b[tcp + 13]) & (uint8_t)~TCP_PSH) == 0 &&
	       same(a, b, tcp + 14, tcp + 16) && same(a, b, tcp + 18, hlen);
}

bool ngro_join(struct ngro_run *r, const uint8_t *head,
	       const struct ngro_seg *s)
{
	/* the IP length field's bound: IPv4 counts its header, IPv6 not */
	uint32_t ip_len = r->hlen - (r->v6 ? r->tcp_off : IP_OFF) + r->bytes;

	if (!r->hlen || r->ended || s->hlen != r->hlen || s->v6 != r->v6 ||
	    s->seq != r->next_seq || (!r->v6 && s->id != r->next_id) ||
	    s->plen > r->mss || r->segs >= NGRO_SEGS_MAX ||
	    ip_len + s->plen > 65535u ||
	    !same_flow(r->hdr, head, r->tcp_off, r->hlen, r->v6))
		return false;
	r->bytes += s->plen;
	r->next_seq += s->plen;
	r->next_id++;
	r->segs++;
	r->psh = s->psh;
	r->ended = s->psh || s->plen < r->mss;
	return true;
}

/* The IP header of the whole: its length, the IPv4 checksum; the TCP
 * checksum's seed, the pseudo-header's sum. */
static uint32_t ip_whole(struct ngro_run *r, uint32_t l4_len)
{
	uint8_t *ip = r->hdr + IP_OFF;

	if (r->v6) {
		vmb_put_be16(ip + 4, (uint16_t)l4_len);
		return ncsum_pseudo6(ip + 8, ip + 24, NFRAME_PROTO_TCP, l4_len);
	}
	vmb_put_be16(ip + 2, (uint16_t)(IP4_HLEN + l4_len));
	vmb_put_be16(ip + 10, 0);
	vmb_put_be16(ip + 10, ncsum_finish(ncsum_partial(ip, IP4_HLEN, 0)));
	return ncsum_pseudo4(ip + 12, ip + 16, NFRAME_PROTO_TCP, l4_len);
}

void ngro_end(struct ngro_run *r, struct vnet_hdr *h)
{
	uint8_t *tcp = r->hdr + r->tcp_off;
	uint32_t l4_len = r->hlen - r->tcp_off + r->bytes;

	*h = (struct vnet_hdr){.flags = VNET_HDR_F_NEEDS_CSUM,
			       .csum_start = vmb_le16((uint16_t)r->tcp_off),
			       .csum_offset = vmb_le16(VNET_CSUM_OFFSET_TCP)};
	if (r->segs > 1) {
		uint32_t seed = ip_whole(r, l4_len);

		tcp[13] = (uint8_t)(r->psh ? tcp[13] | TCP_PSH : tcp[13]);
		vmb_put_be16(tcp + VNET_CSUM_OFFSET_TCP, ncsum_fold(seed));
		h->gso_type = r->v6 ? VNET_HDR_GSO_TCPV6 : VNET_HDR_GSO_TCPV4;
		h->gso_size = vmb_le16((uint16_t)r->mss);
		h->hdr_len = vmb_le16((uint16_t)r->hlen);
	}
	r->hlen = 0;
}
