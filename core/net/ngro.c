/* Coalescing of a guest's TCP/IPv4 segments (see ngro.h). */
#include "net/ngro.h"

#include "net/ncsum.h"

#define IP_OFF NFRAME_ETH_LEN
#define TCP_OFF (IP_OFF + 20u)
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u

static bool csum_left(const struct vnet_hdr *h)
{
	return h->flags == VNET_HDR_F_NEEDS_CSUM &&
	       h->gso_type == VNET_HDR_GSO_NONE &&
	       vmb_le16(h->csum_start) == TCP_OFF &&
	       vmb_le16(h->csum_offset) == VNET_CSUM_OFFSET_TCP;
}

static bool plain_tcp4(const struct nframe *f)
{
	return f->l3 == NFRAME_L3_IPV4 && f->ntags == 0 &&
	       f->l3_hlen == 20u && !f->frag &&
	       f->l4_proto == NFRAME_PROTO_TCP && f->l4_hlen;
}

bool ngro_seg_of(const uint8_t *head, uint32_t have, uint32_t len,
		 const struct vnet_hdr *h, struct ngro_seg *s)
{
	struct nframe f;
	const uint8_t *tcp = head + TCP_OFF;
	uint32_t hlen;

	if (!csum_left(h) || nframe_parse(&f, head, have < len ? have : len, 0,
					  NFRAME_F_HEAD) != NFRAME_OK ||
	    !plain_tcp4(&f))
		return false;
	hlen = f.l4_off + f.l4_hlen;
	/* ACK, maybe PSH, nothing else (no ECN, URG, SYN, FIN, RST) */
	if (hlen > NGRO_HDR_MAX || hlen > have || (tcp[12] & 0x0Fu) ||
	    (tcp[13] & (uint8_t)~TCP_PSH) != TCP_ACK ||
	    IP_OFF + (uint32_t)vmb_be16(head + IP_OFF + 2) != len ||
	    len <= hlen)
		return false;
	*s = (struct ngro_seg){.hlen = hlen, .plen = len - hlen,
			       .seq = vmb_be32(tcp + 4),
			       .id = vmb_be16(head + IP_OFF + 4),
			       .psh = tcp[13] & TCP_PSH};
	return true;
}

void ngro_start(struct ngro_run *r, const uint8_t *head,
		const struct ngro_seg *s)
{
	vmb_memcpy(r->hdr, head, s->hlen);
	r->hlen = s->hlen;
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

/* The headers agree but for the IP length, id and checksum, the TCP
 * sequence number, PSH and checksum. */
static bool same_flow(const uint8_t *a, const uint8_t *b, uint32_t hlen)
{
	const uint32_t ip = IP_OFF, tcp = TCP_OFF;

	return same(a, b, 0, ip + 2) && same(a, b, ip + 6, ip + 10) &&
	       same(a, b, ip + 12, tcp + 4) && same(a, b, tcp + 8, tcp + 13) &&
	       ((a[tcp + 13] ^ b[tcp + 13]) & (uint8_t)~TCP_PSH) == 0 &&
	       same(a, b, tcp + 14, tcp + 16) && same(a, b, tcp + 18, hlen);
}

bool ngro_join(struct ngro_run *r, const uint8_t *head,
	       const struct ngro_seg *s)
{
	if (!r->hlen || r->ended || s->hlen != r->hlen ||
	    s->seq != r->next_seq || s->id != r->next_id ||
	    s->plen > r->mss || r->segs >= NGRO_SEGS_MAX ||
	    r->hlen - IP_OFF + r->bytes + s->plen > 65535u ||
	    !same_flow(r->hdr, head, r->hlen))
		return false;
	r->bytes += s->plen;
	r->next_seq += s->plen;
	r->next_id++;
	r->segs++;
	r->psh = s->psh;
	r->ended = s->psh || s->plen < r->mss;
	return true;
}

void ngro_end(struct ngro_run *r, struct vnet_hdr *h)
{
	uint8_t *ip = r->hdr + IP_OFF, *tcp = r->hdr + TCP_OFF;
	uint32_t l4_len = r->hlen - TCP_OFF + r->bytes;

	*h = (struct vnet_hdr){.flags = VNET_HDR_F_NEEDS_CSUM,
			       .csum_start = vmb_le16(TCP_OFF),
			       .csum_offset = vmb_le16(VNET_CSUM_OFFSET_TCP)};
	if (r->segs > 1) {
		vmb_put_be16(ip + 2, (uint16_t)(20u + l4_len));
		vmb_put_be16(ip + 10, 0);
		vmb_put_be16(ip + 10, ncsum_finish(ncsum_partial(ip, 20, 0)));
		tcp[13] = (uint8_t)(r->psh ? tcp[13] | TCP_PSH : tcp[13]);
		vmb_put_be16(tcp + VNET_CSUM_OFFSET_TCP,
			     ncsum_fold(ncsum_pseudo4(ip + 12, ip + 16,
						      NFRAME_PROTO_TCP,
						      l4_len)));
		h->gso_type = VNET_HDR_GSO_TCPV4;
		h->gso_size = vmb_le16((uint16_t)r->mss);
		h->hdr_len = vmb_le16((uint16_t)r->hlen);
	}
	r->hlen = 0;
}
