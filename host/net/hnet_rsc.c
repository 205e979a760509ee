/* netvsp's receive segment coalescing (RSC), host to guest, as Hyper-V
 * hands coalesced TCP to a netvsc that asked for it (NDIS_CONFIG's RSC
 * bit from NVSP 6.1, then rsc_ip4/rsc_ip6 in the offload parameters).
 *
 * Where the guest agreed RSC (and receive TCP checksum offload, whose
 * verdict a coalesced frame carries) for a family, the TAP gets that
 * family's TSO, so the kernel hands over TCP frames of up to 64 KiB
 * (GSO, with a partial checksum); without it, it gets none (a frame
 * larger than a sub-allocation cannot reach such a guest).
 *
 * Each read then offers the kernel room for the largest frame: a chain
 * of sub-allocations of the channel's partition, one iovec each past
 * its RNDIS header room, read into by one readv (no bounce copy) of a
 * burst (up to HNET_RSC_BURST chains, one system call), each chain's
 * unused tail given back once it is read. A frame that is not GSO goes
 * on as any frame (dropped as too long past one piece); a GSO frame
 * goes to the guest as one transfer-page packet with a range per
 * piece, each piece an RNDIS
 * PACKET with the PKTINFO_ID PPI (SUBALLOC, first and last fragment
 * flags, one id for all its pieces), the first also with the checksum
 * verdict: TCP succeeded with its value invalid (the kernel's partial
 * sum stays in the TCP header, as Linux netvsc then trusts the verdict),
 * IP succeeded (the IPv4 header checksum made valid here). The IP
 * length is the whole frame's, as the kernel wrote it (checked). The
 * switch port (hnet_sw.h) has its say as on any frame: the VLAN tag
 * taken out, the guest's filter, the link, a capture of the whole
 * frame. It is steered like any frame: by the head's tuple. */
#include <linux/if_tun.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hnet_port.h"
#include "hnet_priv.h"
#include "net/ncsum.h"
#include "rt_log.h"

static uint32_t room_of(const struct hnet_nic *nic)
{
	return nic->rxb.sub_size - NVSP_HOST_RX_HEADER - NVSP_HOST_RX_FOOTER;
}

static uint8_t *data_of(const struct hnet_nic *nic, uint32_t id)
{
	return nic->rbuf.va + (uint64_t)id * nic->rxb.sub_size +
	       NVSP_HOST_RX_HEADER;
}

void hnet_rsc_tap(struct hnet_nic *nic, bool rsc4, bool rsc6)
{
	unsigned f = TUN_F_CSUM | (rsc4 ? TUN_F_TSO4 : 0u) |
		     (rsc6 ? TUN_F_TSO6 : 0u);
	int rc;

	if (atomic_exchange(&nic->tun_flags, f) == f || nic->bench)
		return;
	rc = rt_tap_set_offload(&nic->tap, f);
	if (rc)
		rt_warn("net", "%s: TSO for RSC not set (%#x): %s",
			nic->tap.name, f, strerror(-rc));
	else
		rt_info("net", "%s: RSC ipv4 %d ipv6 %d (TAP TSO)",
			nic->tap.name, rsc4, rsc6);
}

/* Sub-allocations the largest frame takes. */
static uint32_t want_of(const struct hnet_nic *nic)
{
	uint32_t room = room_of(nic);
	uint32_t want = (HNET_RSC_FRAME_MAX + room - 1) / room;

	return want < HNET_RSC_PIECES ? want : HNET_RSC_PIECES;
}

/* Sub-allocations for the largest frame, fewer when the partition has
 * fewer free (a frame larger than they hold is dropped, counted as
 * rx_full). */
static uint32_t take(struct hnet_chan *ch, uint32_t want, uint32_t *ids)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t free = nic->rxb.q[ch->q].nfree;

	if (free < want)
		want = free;
	return want && !nvsp_rxbuf_alloc(&nic->rxb, ch->q, want, ids) ? want
								      : 0;
}

bool hnet_rsc_queue(struct hnet_chan *ch, unsigned i)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t room = room_of(nic), want = want_of(nic), k;
	uint32_t vlan = hnet_sw_rx_vlan(ch), lead = vlan ? 4 : 0;
	uint32_t *ids = ch->rsc_ids[i];
	struct rt_tapio_op *o;
	struct iovec *iov;

	if (i >= HNET_RSC_BURST ||
	    (i && nic->rxb.q[ch->q].nfree < want) ||
	    !(iov = rt_tapio_iov(&ch->tio, want + 2)))
		return false;
	k = take(ch, want, ids);
	if (!k)
		return false;
	o = rt_tapio_add(&ch->tio, k + 2, false);
	iov[0] = (struct iovec){o->hdr, RT_TAP_VNET_HDR_LEN};
	for (uint32_t j = 0; j < k; j++)
		iov[j + 1] = (struct iovec){data_of(nic, ids[j]), room};
	iov[1] = (struct iovec){data_of(nic, ids[0]) - lead, room + lead};
	iov[k + 1] = (struct iovec){o->hdr + RT_TAP_VNET_HDR_LEN, 1};
	o->cookie = k;
	o->want = vlan;
	return true;
}

/* After the read into the chain (k of want sub-allocations): the
 * frame's length (the unused tail given back), 0 when dropped (longer
 * than the chain: too long, or the partition short of room; not of the
 * port's VLAN), -1 when the TAP had none (chain freed). */
static ssize_t chain_read(struct hnet_chan *ch, const uint32_t *ids,
			  struct rt_tapio_op *o)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t room = room_of(nic), k = o->cookie, n;
	uint32_t lead = o->want ? 4 : 0;
	ssize_t got = (ssize_t)o->res - (ssize_t)RT_TAP_VNET_HDR_LEN;

	if (lead && got > 0 && got <= (ssize_t)(k * room + lead))
		got = hnet_sw_untag(ch, o->want, o->hdr,
				    data_of(nic, ids[0]) - lead, got);
	if (got > 0 && got <= (ssize_t)k * room) {
		nvsp_rxbuf_trim(&nic->rxb, ch->q, ids, k,
				(uint32_t)((got + room - 1) / room));
		return got;
	}
	if (got > 0)
		rt_ctr_add(k < want_of(nic) ? &ch->rx_full : &ch->rx_long, 1);
	nvsp_rxbuf_free(&nic->rxb, ch->q, ids[0], &n);
	return o->res < 0 ? -1 : 0;
}

/* Piece i's RNDIS PACKET written in front of it; its range. */
static struct vmb_xfer_range piece(struct hnet_chan *ch, uint32_t id,
				   uint32_t len, struct rndis_pkt_meta *m)
{
	struct hnet_nic *nic = ch->nic;
	uint32_t hl = rndis_pkt_hdr_len(m);

	rndis_pkt_build(data_of(nic, id) - hl, hl, m, len);
	return (struct vmb_xfer_range){
		.byte_count = vmb_le32(hl + len),
		.byte_offset = vmb_le32(id * nic->rxb.sub_size +
					NVSP_HOST_RX_HEADER - hl),
	};
}

/* The GSO frame of len bytes in ids' sub-allocations as RSC pieces,
 * gathered for its channel. */
static void pieces(struct hnet_chan *ch, const uint32_t *ids, uint32_t len,
		   struct rndis_pkt_meta *m)
{
	uint32_t room = room_of(ch->nic), k = (len + room - 1) / room, n;
	struct vmb_xfer_range *r = ch->rsc_rng + ch->nrng;
	/* k >= 1 (len > 0); set for the compiler, which cannot tell */
	struct iovec iov[HNET_RSC_PIECES] = {{0}};
	uint16_t pid;

	for (uint32_t i = 0; i < k; i++)
		iov[i] = (struct iovec){data_of(ch->nic, ids[i]),
					i + 1 < k ? room : len - i * room};
	if (!hnet_sw_rx_iov(ch, iov, k, len)) {
		nvsp_rxbuf_free(&ch->nic->rxb, ch->q, ids[0], &n);
		return;
	}
	pid = (uint16_t)ch->rsc_id++;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t l = (uint32_t)iov[i].iov_len;

		m->present |= RNDIS_META_RSC;
		m->rsc_id = pid;
		m->rsc_flags = RNDIS_PKTID_SUBALLOC |
			       (i == 0 ? RNDIS_PKTID_FIRST : 0) |
			       (i + 1 == k ? RNDIS_PKTID_LAST : 0);
		r[i] = piece(ch, ids[i], l, m);
		m->present = RNDIS_META_RSC; /* the verdict on the first */
	}
	rt_ctr_add(&ch->rsc_frames, 1);
	rt_ctr_add(&ch->rsc_pieces, k);
	hnet_rss_add_rsc(ch, ids[0], (uint16_t)k, data_of(ch->nic, ids[0]),
			 k > 1 ? room : len, len);
}

unsigned hnet_rsc_done(struct hnet_chan *ch, unsigned i,
		       struct rt_tapio_op *o)
{
	const uint32_t *ids = ch->rsc_ids[i];
	const uint8_t *vnet = o->hdr;
	struct rndis_pkt_meta m;
	ssize_t len = chain_read(ch, ids, o);
	uint32_t n;

	if (len <= 0)
		return len == 0;
	if (((const struct vnet_hdr *)vnet)->gso_type == VNET_HDR_GSO_NONE) {
		if ((uint32_t)len <= room_of(ch->nic))
			return (unsigned)hnet_rx_frame(ch, ids[0], vnet,
						       (uint32_t)len);
		/* longer than the guest's MTU, not coalesced: as ever */
		rt_ctr_add(&ch->rx_long, 1);
		nvsp_rxbuf_free(&ch->nic->rxb, ch->q, ids[0], &n);
		return 1;
	}
	if (!hnet_offload_rsc(ch, vnet, data_of(ch->nic, ids[0]),
			      (uint32_t)len, room_of(ch->nic), &m)) {
		nvsp_rxbuf_free(&ch->nic->rxb, ch->q, ids[0], &n);
		return 1;
	}
	pieces(ch, ids, (uint32_t)len, &m);
	return 1;
}
