/* Fuzz the coalescing of a guest's TCP segments (core/net/ngro.h) as the
 * host runs it: each frame is offered to the open run, else starts one
 * (the run before it ended), and every ended run is checked. Properties:
 * a run holds at most NGRO_SEGS_MAX segments and one IP packet; the
 * headers ngro_end() made parse as IPv4/TCP (with a good IP checksum)
 * or IPv6/TCP, as the run's first segment, with the run's length, and
 * the whole frame (headers and the payloads the
 * run took, in order) has a TCP checksum that verifies once the
 * "device" completes it from the seed (several segments); a lone
 * segment's headers come back as they went in. Each frame sits in a heap block of its size.
 *
 * Input: records of a 2-byte little-endian length, one byte of
 * virtio-net flags (bit 0: NEEDS_CSUM at the TCP checksum, as the host
 * makes it, behind IPv4, or with bit 2 behind IPv6; bit 1: DATA_VALID
 * instead) and the frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ncsum.h"
#include "net/ngro.h"

static struct ngro_run run;
static uint8_t whole[NGRO_HDR_MAX + 65536];
static uint32_t whole_len;
static uint8_t first[NGRO_HDR_MAX];

static void check_end(void)
{
	struct vnet_hdr h;
	struct nframe f;
	uint32_t hlen = run.hlen, segs = run.segs, bytes = run.bytes;
	bool v6 = run.v6;
	/* the IP length field: IPv4's counts its header, IPv6's not */
	uint32_t ip_len = hlen - (v6 ? run.tcp_off : 14u) + bytes;

	if (!hlen)
		return;
	if (segs > NGRO_SEGS_MAX || ip_len > 65535u ||
	    whole_len != hlen + bytes)
		abort();
	ngro_end(&run, &h);
	if (run.hlen || (segs == 1 && (memcmp(run.hdr, first, hlen) ||
				       h.gso_type != VNET_HDR_GSO_NONE)) ||
	    (segs > 1 && (h.gso_type != (v6 ? VNET_HDR_GSO_TCPV6
					      : VNET_HDR_GSO_TCPV4) ||
			  vmb_le16(h.hdr_len) != hlen)))
		abort();
	if (segs == 1)
		return; /* the guest's own headers, checked as they came */
	memcpy(whole, run.hdr, hlen);
	if (nframe_parse(&f, whole, whole_len, 0, 0) != NFRAME_OK ||
	    f.l4_off + f.l4_hlen != hlen || f.l3_end != whole_len ||
	    (f.l3 == NFRAME_L3_IPV6) != v6 || (!v6 && !ncsum_ip4_ok(whole, &f)) ||
	    ncsum_rx_complete(whole, &f, &h) != NCSUM_L4_GOOD ||
	    ncsum_l4_verify(whole, &f) != NCSUM_L4_GOOD)
		abort();
}

static void offer(const uint8_t *fr, uint32_t len, uint8_t flags)
{
	struct vnet_hdr h = {0};
	struct ngro_seg s;

	if (flags & 1u)
		h = (struct vnet_hdr){.flags = VNET_HDR_F_NEEDS_CSUM,
				      .csum_start = vmb_le16(flags & 4u ? 54
									 : 34),
				      .csum_offset = vmb_le16(16)};
	else if (flags & 2u)
		h.flags = VNET_HDR_F_DATA_VALID;
	if (!ngro_seg_of(fr, len, len, &h, &s)) {
		check_end();
		return;
	}
	if (s.hlen + s.plen != len || s.hlen > NGRO_HDR_MAX || !s.plen)
		abort();
	if (ngro_join(&run, fr, &s)) {
		memcpy(whole + whole_len, fr + s.hlen, s.plen);
		whole_len += s.plen;
		return;
	}
	check_end();
	ngro_start(&run, fr, &s);
	memcpy(first, fr, s.hlen);
	memcpy(whole, fr, len);
	whole_len = len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&run, 0, sizeof(run));
	whole_len = 0;
	while (size >= 3) {
		uint32_t len = (uint32_t)data[0] | (uint32_t)data[1] << 8;
		uint8_t flags = data[2], *fr;

		data += 3;
		size -= 3;
		if (len > size)
			len = (uint32_t)size;
		fr = malloc(len ? len : 1);
		memcpy(fr, data, len);
		offer(fr, len, flags);
		free(fr);
		data += len;
		size -= len;
	}
	check_end();
	return 0;
}
