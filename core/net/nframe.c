/* Ethernet / IP / L4 header parsing, every length checked. */
#include "net/nframe.h"

static const char *const bad_names[NFRAME_BAD__COUNT] = {
	[NFRAME_OK] = "ok",
	[NFRAME_BAD_ETH] = "ethernet-short",
	[NFRAME_BAD_TAG] = "vlan-tag-short",
	[NFRAME_BAD_IP_SHORT] = "ip-short",
	[NFRAME_BAD_IP_VERSION] = "ip-version",
	[NFRAME_BAD_IP_HLEN] = "ip-header-length",
	[NFRAME_BAD_IP_LEN] = "ip-length",
	[NFRAME_BAD_IP6_EXT] = "ipv6-extension",
	[NFRAME_BAD_L4_SHORT] = "l4-short",
	[NFRAME_BAD_TCP_DOFF] = "tcp-data-offset",
	[NFRAME_BAD_UDP_LEN] = "udp-length",
};

const char *nframe_bad_name(enum nframe_bad b)
{
	return (unsigned)b < NFRAME_BAD__COUNT ? bad_names[b] : "?";
}

#define IP6_HLEN 40u
#define IP_LEN_MAX 65535u

static enum nframe_bad parse_l2(struct nframe *f, const uint8_t *p)
{
	uint32_t off = NFRAME_ETH_TYPE;

	if (f->len < NFRAME_ETH_LEN)
		return NFRAME_BAD_ETH;
	f->ethertype = vmb_be16(p + off);
	while (nframe_is_tag(f->ethertype) && f->ntags < NFRAME_TAGS_MAX) {
		if (f->len < off + NFRAME_TAG_LEN + 2)
			return NFRAME_BAD_TAG;
		f->tpid[f->ntags] = f->ethertype;
		f->tci[f->ntags++] = vmb_be16(p + off + 2);
		off += NFRAME_TAG_LEN;
		f->ethertype = vmb_be16(p + off);
	}
	f->l2_len = off + 2;
	f->l3_off = f->l2_len;
	return NFRAME_OK;
}

/* An IP length field of 0 in an LSO frame: the rest of the frame. */
static enum nframe_bad length_from_frame(struct nframe *f, unsigned flags,
					 uint32_t avail, uint32_t *len)
{
	if (!(flags & NFRAME_F_LSO) || avail > IP_LEN_MAX)
		return NFRAME_BAD_IP_LEN;
	f->len0 = true;
	*len = avail;
	return NFRAME_OK;
}

/* An IP length past a head given alone: the head's end. */
static bool head_cut(struct nframe *f, unsigned flags, uint32_t avail,
		     uint32_t *len)
{
	if (!(flags & NFRAME_F_HEAD))
		return false;
	f->cut = true;
	*len = avail;
	return true;
}

static enum nframe_bad parse_ip4(struct nframe *f, const uint8_t *p,
				 unsigned flags)
{
	const uint8_t *ip = p + f->l3_off;
	uint32_t avail = f->len - f->l3_off, tot, hlen;
	uint16_t fo;
	enum nframe_bad b;

	if (avail < 20)
		return NFRAME_BAD_IP_SHORT;
	if (ip[0] >> 4 != 4)
		return NFRAME_BAD_IP_VERSION;
	hlen = (ip[0] & 0xFu) * 4u;
	tot = vmb_be16(ip + 2);
	if (tot == 0 && (b = length_from_frame(f, flags, avail, &tot)))
		return b;
	if (tot > avail && !head_cut(f, flags, avail, &tot))
		return NFRAME_BAD_IP_LEN;
	if (hlen < 20 || hlen > tot)
		return NFRAME_BAD_IP_HLEN;
	fo = vmb_be16(ip + 6);
	f->frag = (fo & 0x3FFFu) != 0; /* MF or an offset */
	f->frag_later = (fo & 0x1FFFu) != 0;
	f->l3 = NFRAME_L3_IPV4;
	f->l3_hlen = hlen;
	f->l3_end = f->l3_off + tot;
	f->l4_proto = ip[9];
	return NFRAME_OK;
}

/* Hop-by-hop (first only), routing and destination options: 8-byte
 * units after the first 8; the fragment header is 8 bytes. */
static enum nframe_bad ip6_ext(struct nframe *f, const uint8_t *p,
			       uint32_t *off, uint8_t *nh, bool *more)
{
	uint32_t room = f->l3_end - *off, hlen = 8;
	const uint8_t *e = p + *off;

	*more = false;
	if (*nh != 0 && *nh != 43 && *nh != 60 && *nh != 44)
		return NFRAME_OK;
	if (room < 8 || (*nh == 0 && *off != f->l3_off + IP6_HLEN))
		return NFRAME_BAD_IP6_EXT;
	if (*nh == 44) {
		uint16_t fo = vmb_be16(e + 2);

		f->frag = true;
		f->frag_later = (fo & 0xFFF8u) != 0;
	} else {
		hlen = (e[1] + 1u) * 8u;
	}
	if (hlen > room)
		return NFRAME_BAD_IP6_EXT;
	*nh = e[0];
	*off += hlen;
	*more = !f->frag_later; /* later fragments hold no more headers */
	return NFRAME_OK;
}

static enum nframe_bad walk_ip6(struct nframe *f, const uint8_t *p,
				uint8_t nh)
{
	uint32_t off = f->l3_off + IP6_HLEN;
	bool more = true;
	enum nframe_bad b;

	for (unsigned n = 0; more; n++) {
		if (n > NFRAME_IP6_EXT_MAX)
			return NFRAME_BAD_IP6_EXT;
		if ((b = ip6_ext(f, p, &off, &nh, &more)))
			return b;
	}
	f->l3_hlen = off - f->l3_off;
	f->l4_proto = nh;
	return NFRAME_OK;
}

static enum nframe_bad parse_ip6(struct nframe *f, const uint8_t *p,
				 unsigned flags)
{
	const uint8_t *ip = p + f->l3_off;
	uint32_t avail = f->len - f->l3_off, pl;
	enum nframe_bad b;

	if (avail < IP6_HLEN)
		return NFRAME_BAD_IP_SHORT;
	if (ip[0] >> 4 != 6)
		return NFRAME_BAD_IP_VERSION;
	pl = vmb_be16(ip + 4);
	if (pl == 0 && (flags & NFRAME_F_LSO) &&
	    (b = length_from_frame(f, flags, avail - IP6_HLEN, &pl)))
		return b;
	if (pl > avail - IP6_HLEN && !head_cut(f, flags, avail - IP6_HLEN, &pl))
		return NFRAME_BAD_IP_LEN;
	f->l3_end = f->l3_off + IP6_HLEN + pl;
	if ((b = walk_ip6(f, p, ip[6])))
		return b;
	f->l3 = NFRAME_L3_IPV6;
	return NFRAME_OK;
}

static enum nframe_bad parse_tcp(struct nframe *f, const uint8_t *l4,
				 uint32_t room)
{
	uint32_t hlen;

	if (room < 20)
		return NFRAME_BAD_L4_SHORT;
	hlen = (l4[12] >> 4) * 4u;
	if (hlen < 20 || hlen > room)
		return NFRAME_BAD_TCP_DOFF;
	f->l4_hlen = hlen;
	return NFRAME_OK;
}

static enum nframe_bad parse_udp(struct nframe *f, const uint8_t *l4,
				 uint32_t room)
{
	uint32_t ulen;

	if (room < 8)
		return NFRAME_BAD_L4_SHORT;
	ulen = vmb_be16(l4 + 4);
	/* An LSO frame's UDP length is no more trustworthy than its IP one;
	 * a first fragment's covers the fragments still to come. */
	if (!f->len0 && (ulen < 8 || (!f->frag && !f->cut && ulen > room)))
		return NFRAME_BAD_UDP_LEN;
	f->l4_hlen = 8;
	return NFRAME_OK;
}

static enum nframe_bad parse_l4(struct nframe *f, const uint8_t *p)
{
	const uint8_t *l4 = p + f->l4_off;
	uint32_t room = f->l3_end - f->l4_off;
	enum nframe_bad b;

	if (f->frag_later)
		return NFRAME_OK;
	if (f->l4_proto == NFRAME_PROTO_TCP)
		b = parse_tcp(f, l4, room);
	else if (f->l4_proto == NFRAME_PROTO_UDP)
		b = parse_udp(f, l4, room);
	else
		return NFRAME_OK;
	if (b == NFRAME_OK) {
		f->sport = vmb_be16(l4);
		f->dport = vmb_be16(l4 + 2);
	}
	return b;
}

static void make_tuple(struct nframe *f, const uint8_t *p, uint32_t types)
{
	const uint8_t *ip = p + f->l3_off;
	const uint8_t *ports = f->l4_hlen && !f->frag ? p + f->l4_off : NULL;

	if (f->l3 == NFRAME_L3_IPV4)
		rss_tuple_make(&f->rss, types, 4, ip + 12, ip + 16,
			       f->l4_proto, ports);
	else
		rss_tuple_make(&f->rss, types, 16, ip + 8, ip + 24,
			       f->l4_proto, ports);
}

enum nframe_bad nframe_parse(struct nframe *f, const uint8_t *frame,
			     uint32_t len, uint32_t hash_types,
			     unsigned flags)
{
	enum nframe_bad b;

	vmb_memset(f, 0, sizeof(*f));
	f->len = len;
	if ((b = parse_l2(f, frame)))
		return b;
	if (f->ethertype == NFRAME_ETH_P_IPV4)
		b = parse_ip4(f, frame, flags);
	else if (f->ethertype == NFRAME_ETH_P_IPV6)
		b = parse_ip6(f, frame, flags);
	else
		return NFRAME_OK;
	if (b)
		return b;
	f->l4_off = f->l3_off + f->l3_hlen;
	if ((b = parse_l4(f, frame)))
		return b;
	make_tuple(f, frame, hash_types);
	return NFRAME_OK;
}
