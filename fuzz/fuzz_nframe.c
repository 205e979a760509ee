/* Fuzz the frame parser (core/net/nframe.h) and what the host runs on a
 * parsed frame: the RSS hash, checksum verification and fill, the TX
 * offload fix-up (ncsum_tx_prepare) and the virtio-net header conversions
 * both ways, and the completion of a partial checksum. Each frame sits
 * in a heap block of its exact size, so a read past it is caught.
 * Properties checked: a parsed frame's offsets nest inside it; a bad one
 * has no hash; a filled checksum verifies; a TX fix-up the parser accepts
 * again (lengths fixed) and, once the "device" completes the checksum,
 * verifies; a frame made a guest's LSO send (ncsum_lso_contract) parses
 * as one at the same offsets, and the host's fix-up of it holds as
 * above; a header made from a request converts back to it; a sum
 * does not depend on alignment or on where it is split; the head of a
 * coalesced frame takes netvsc's RSC fix-up touching its headers only.
 *
 * Input: byte 0 parse flags (bit 0 LSO, bit 4 HEAD: the frame is the
 * head of a longer one, as a coalesced frame's first piece) and hash
 * types (bits 1-3 pick IPv4, TCP/IPv4, UDP/IPv4 ... see types[]); byte 1 checksum request
 * bits; bytes 2-3 MSS (little-endian, 0: no LSO; bit 15 of it IPv6);
 * byte 4 transport offset given (0: none); bytes 5-14 a virtio-net header
 * as TAP would hand it; then the frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ncsum.h"

#define HDR 15u

static const uint32_t types[8] = {
	0, RSS_HASH_IPV4, RSS_HASH_TCP_IPV4 | RSS_HASH_IPV4,
	RSS_HASH_TYPES, RSS_HASH_IPV6 | RSS_HASH_TCP_IPV6,
	RSS_HASH_UDP_IPV4 | RSS_HASH_UDP_IPV6, RSS_HASH_TCP_IPV4,
	RSS_HASH_IPV6_EX | RSS_HASH_TCP_IPV6_EX,
};

static struct rss_cfg cfg;

/* The sum of len bytes at an odd address equals that of an aligned copy
 * and that of two pieces split at an even offset. */
static void sums(const uint8_t *p, uint32_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	uint32_t k = (len / 3) & ~1u;
	uint16_t whole = ncsum_fold(ncsum_partial(p, len, 0));

	memcpy(copy, p, len);
	if (whole != ncsum_fold(ncsum_partial(copy, len, 0)) ||
	    whole != ncsum_fold(ncsum_partial(p + k, len - k,
					      ncsum_partial(p, k, 0))))
		abort();
	free(copy);
}

static void check_parsed(const struct nframe *f, enum nframe_bad b)
{
	if (b != NFRAME_OK) {
		if (f->rss.len || (unsigned)b >= NFRAME_BAD__COUNT)
			abort();
		return;
	}
	if (f->l3 == NFRAME_L3_NONE) {
		if (f->rss.len || f->l2_len > f->len)
			abort();
		return;
	}
	if (f->l3_off != f->l2_len || f->l4_off != f->l3_off + f->l3_hlen ||
	    f->l4_off > f->l3_end || f->l3_end > f->len ||
	    f->l4_off + f->l4_hlen > f->l3_end ||
	    (f->frag_later && f->l4_hlen) || (f->frag && f->rss.len > 32))
		abort();
	if (f->rss.len != 0 && f->rss.len != 8 && f->rss.len != 12 &&
	    f->rss.len != 32 && f->rss.len != 36)
		abort();
}

/* Fill, then the fill must verify. */
static void csums(const uint8_t *frame, const struct nframe *f)
{
	uint8_t *p = malloc(f->len ? f->len : 1);

	memcpy(p, frame, f->len);
	(void)ncsum_l4_verify(p, f);
	if (ncsum_ip4_fill(p, f) != (f->l3 == NFRAME_L3_IPV4) ||
	    ncsum_ip4_ok(p, f) != (f->l3 == NFRAME_L3_IPV4))
		abort();
	if (ncsum_l4_fill(p, f) && ncsum_l4_verify(p, f) != NCSUM_L4_GOOD)
		abort();
	free(p);
}

static void check_back(const struct vnet_hdr *h, const struct nframe *f,
		       const struct vnet_offload *o)
{
	struct vnet_offload back;

	if (vnet_to_offload(h, &back) != VNET_OK || back.mss != o->mss ||
	    (h->flags && back.l4_off != f->l4_off))
		abort();
}

/* The fix-up; then TAP's side: reparse, complete, verify. */
static void tx(uint8_t *p, const struct nframe *f,
	       const struct vnet_offload *o)
{
	struct nframe again;
	struct vnet_hdr h;

	if (ncsum_tx_prepare(p, f, o, &h) != NCSUM_OK)
		return;
	check_back(&h, f, o);
	if (!(h.flags & VNET_HDR_F_NEEDS_CSUM))
		return;
	if (nframe_parse(&again, p, f->len, 0, 0) != NFRAME_OK ||
	    again.l4_off != f->l4_off || again.l3_end != f->l3_end)
		abort();
	if (ncsum_rx_complete(p, &again, &h) != NCSUM_L4_GOOD ||
	    ncsum_l4_verify(p, &again) != NCSUM_L4_GOOD)
		abort();
}

/* The head of a coalesced frame (parsed with NFRAME_F_HEAD, its IP
 * length past it): netvsc's RSC fix-up writes the whole frame's lengths
 * and checksum seed into the head's headers only (the exact-size block
 * catches a touch past them). */
static void rsc_head(const uint8_t *frame, const struct nframe *f)
{
	struct nframe whole = *f;
	struct vnet_offload o = {
		.csum = VNET_CSUM_TCP | (f->l3 == NFRAME_L3_IPV6
						 ? VNET_CSUM_IPV6
						 : VNET_CSUM_IPV4 |
							   VNET_CSUM_IP_HDR),
		.l4_off = f->l4_off,
		.mss = 1448,
		.lso_v6 = f->l3 == NFRAME_L3_IPV6,
	};
	uint8_t *p = malloc(f->len ? f->len : 1);
	struct vnet_hdr h;

	memcpy(p, frame, f->len);
	whole.len = whole.l3_end = f->l3_end + 3000u;
	if (ncsum_tx_prepare(p, &whole, &o, &h) == NCSUM_OK &&
	    vmb_le16(h.gso_size) != 1448)
		abort();
	free(p);
}

/* A guest's LSO send made of f, then the host's side of it. */
static void contract(uint8_t *p, const struct nframe *f)
{
	struct vnet_offload o = {.mss = 536, .lso_v6 = f->l3 == NFRAME_L3_IPV6};
	struct nframe lso;

	if (!ncsum_lso_contract(p, f))
		return;
	if (nframe_parse(&lso, p, f->len, 0, NFRAME_F_LSO) != NFRAME_OK ||
	    lso.l4_off != f->l4_off || lso.l4_hlen != f->l4_hlen)
		abort();
	o.l4_off = lso.l4_off;
	tx(p, &lso, &o);
}

static void offloads(const uint8_t *in, const uint8_t *frame,
		     const struct nframe *f)
{
	struct vnet_offload o = {
		.csum = in[1],
		.mss = (uint32_t)(in[2] | (in[3] & 0x7F) << 8),
		.lso_v6 = in[3] & 0x80,
		.l4_off = in[4],
	};
	struct vnet_hdr h;
	uint8_t *p = malloc(f->len ? f->len : 1);

	memcpy(p, frame, f->len);
	tx(p, f, &o);
	memcpy(p, frame, f->len);
	contract(p, f);
	memcpy(p, frame, f->len);
	memcpy(&h, in + 5, sizeof(h));
	(void)ncsum_rx_complete(p, f, &h);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nframe f;
	enum nframe_bad b;
	uint8_t *frame;
	uint32_t len;

	if (!cfg.key_len) {
		static const uint8_t key[RSS_KEY_MAX] = { 0x6d, 0x5a, 0x56 };

		rss_cfg_set_key(&cfg, key, sizeof(key));
		rss_cfg_spread(&cfg, 5);
	}
	if (size < HDR || size - HDR > 0x20000)
		return 0;
	len = (uint32_t)(size - HDR);
	frame = malloc(len ? len : 1);
	memcpy(frame, data + HDR, len);
	if (len > 1)
		sums(frame + 1, len - 1);
	b = nframe_parse(&f, frame, len, types[(data[0] >> 1) & 7],
			 (data[0] & 1 ? NFRAME_F_LSO : 0) |
				 (data[0] & 0x10 ? NFRAME_F_HEAD : 0));
	check_parsed(&f, b);
	if (rss_queue(&cfg, rss_hash(&cfg, &f.rss)) >= 5)
		abort();
	if (b == NFRAME_OK && f.cut) {
		rsc_head(frame, &f);
	} else if (b == NFRAME_OK) {
		csums(frame, &f);
		offloads(data, frame, &f);
	}
	free(frame);
	return 0;
}
