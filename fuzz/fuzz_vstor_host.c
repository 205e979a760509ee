/* Fuzz the VSTOR host engine (core/storage/vstor_host.h) as storvsp drives
 * it: one engine per input, a stream of whole VMBus packets from the
 * guest, each copied to an aligned private buffer and parsed, then handed
 * in. Whatever the engine accepts is checked against what it promises: an
 * SRB within its range and limits, a reply no longer than a packet, the
 * state only moving forward. Each SRB is then completed with outcome bytes
 * from the input.
 *
 * Input: byte 0 picks the configuration (bits 0-2 the highest version,
 * bits 3-5 sub-channels, bit 6 a sub-channel engine attached at once);
 * then records of [u16 length][packet bytes], little-endian. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/vstor_host.h"

static const uint16_t versions[8] = {
	VSTOR_VERSION_WIN6, VSTOR_VERSION_WIN7, VSTOR_VERSION_WIN8,
	VSTOR_VERSION_BLUE, VSTOR_VERSION_WIN10, VSTOR_VERSION_WIN10,
	0x0601, 0xFFFF,
};

static _Alignas(8) uint8_t copy[VMB_PKT_MAX_LEN / 64];

static void check_srb(const struct vstor_host *h, const struct vmb_pkt *p,
		      const struct vstor_host_srb *s)
{
	if (s->cdb_len < 1 || s->cdb_len > VSTOR_CDB_MAX ||
	    s->sense_len > vstor_sense_max(h->version) ||
	    s->xfer_len > h->cfg.max_transfer || s->dir > VSTOR_DIR_NONE ||
	    h->state != VSTOR_HS_READY)
		abort();
	if (!s->xfer_len)
		return;
	if (s->range.byte_count < s->xfer_len ||
	    s->range.byte_offset >= VMB_PAGE_SIZE ||
	    (const uint8_t *)s->range.pfn < p->raw ||
	    (const uint8_t *)(s->range.pfn + s->range.pfn_count) >
		    p->raw + p->len)
		abort();
}

static void complete(const struct vstor_host *h,
		     const struct vstor_host_srb *s, const uint8_t *d,
		     size_t n)
{
	static const uint8_t sense[VSTOR_SENSE_MAX] = { 0x70, 0, 0x05 };
	struct vstor_srb_result r = { .srb_status = n ? d[0] : 1,
				      .scsi_status = n > 1 ? d[1] : 0,
				      .moved = s->xfer_len, .sense = sense,
				      .sense_len = n > 2 ? d[2] : 0 };
	uint8_t out[VSTOR_PKT_LEN];
	struct vstor_packet rp;
	uint32_t len = vstor_host_complete(h, s, &r, out);

	if (len != vstor_pkt_len(h->version))
		abort();
	memcpy(&rp, out, sizeof(rp));
	if (rp.srb.sense_info_length > s->sense_len)
		abort();
}

static void one(struct vstor_host *h, const uint8_t *pkt, uint32_t len,
		const uint8_t *rest, size_t nrest)
{
	enum vstor_host_state before = h->state;
	struct vstor_host_act a;
	struct vmb_pkt p;

	memcpy(copy, pkt, len);
	if (vmb_pkt_parse(copy, len, &p))
		return;
	vstor_host_rx(h, &p, &a);
	if (h->state < before || a.reply_len > VSTOR_PKT_LEN)
		abort();
	if (a.kind == VSTOR_HA_SRB) {
		check_srb(h, &p, &a.srb);
		complete(h, &a.srb, rest, nrest);
	}
	if (a.kind == VSTOR_HA_SUBCHANNELS &&
	    (!a.subchannels || a.subchannels > h->cfg.max_subchannels))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vstor_host_cfg c = { .max_transfer = 256 * 1024 };
	struct vstor_host h;
	uint8_t out[VSTOR_PKT_LEN];

	if (!size)
		return 0;
	c.max_version = versions[data[0] & 7];
	c.max_subchannels = (data[0] >> 3) & 7;
	c.primary = !(data[0] & 0x40);
	vstor_host_init(&h, &c);
	if (!c.primary)
		vstor_host_attach(&h, c.max_version);
	for (size_t i = 1; i + 2 <= size;) {
		uint32_t len = data[i] | (uint32_t)data[i + 1] << 8;

		i += 2;
		if (len > size - i || len > sizeof(copy))
			break;
		one(&h, data + i, len, data + i + len, size - i - len);
		i += len;
	}
	(void)vstor_host_enumerate(&h, out);
	return 0;
}
