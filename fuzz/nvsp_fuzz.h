/* Shared by the NVSP fuzz targets: the guest and host engines run
 * against each other through the init, so that a target can start the
 * engine it fuzzes in any state. */
#ifndef HVIS_FUZZ_NVSP_H
#define HVIS_FUZZ_NVSP_H

#include <stdlib.h>
#include <string.h>

#include "net/nvsp_guest.h"
#include "net/nvsp_host.h"

/* A packet of type around the message m into buf (aligned, room for 16 +
 * len rounded up to 8), parsed into p. */
static inline void nvsp_fz_wrap(uint8_t *buf, uint16_t type, uint16_t flags,
				uint64_t xid, const void *m, uint32_t len,
				struct vmb_pkt *p)
{
	uint16_t w[4] = { type, 2, (uint16_t)((16 + VMB_ALIGN8(len)) / 8),
			  flags };

	memset(buf, 0, 16 + VMB_ALIGN8(len));
	memcpy(buf, w, 8);
	memcpy(buf + 8, &xid, 8);
	memcpy(buf + 16, m, len);
	if (vmb_pkt_parse(buf, 16 + VMB_ALIGN8(len), p))
		abort();
}

/* One init message of the guest through the host (a mapping asked for
 * gets recv or send bytes; map false leaves it pending), the answer
 * back to the guest. */
static inline void nvsp_fz_exchange(struct nvsp_guest *g, struct nvsp_host *h,
				    const struct nvsp_guest_out *o,
				    uint32_t recv, uint32_t send, bool map,
				    uint8_t *buf)
{
	struct nvsp_host_act a;
	struct nvsp_guest_ev ev;
	struct vmb_pkt p;

	nvsp_fz_wrap(buf, VMB_PKT_INBAND, o->flags, o->xid, &o->msg, o->len,
		     &p);
	nvsp_host_rx(h, &p, &a);
	if (!map)
		return;
	if (a.kind == NVSP_HA_MAP_RECV)
		nvsp_host_recv_mapped(h, recv, &a);
	else if (a.kind == NVSP_HA_MAP_SEND)
		nvsp_host_send_mapped(h, send, &a);
	if (!a.reply_due)
		return;
	nvsp_fz_wrap(buf, VMB_PKT_COMP, 0, a.xid, &a.reply, a.reply_len, &p);
	nvsp_guest_rx(g, &p, &ev);
}

/* Each record [u8 sel][u16 length][packet bytes] after byte 0 of data,
 * up to the first that does not fit in data or in max bytes, to fn. */
static inline void nvsp_fz_records(const uint8_t *data, size_t size,
				   size_t max,
				   void (*fn)(void *ctx, uint8_t sel,
					      const uint8_t *pkt, uint32_t len),
				   void *ctx)
{
	for (size_t i = 1; i + 3 <= size;) {
		uint32_t len = data[i + 1] | (uint32_t)data[i + 2] << 8;
		uint8_t sel = data[i];

		i += 3;
		if (len > size - i || len > max)
			return;
		fn(ctx, sel, data + i, len);
		i += len;
	}
}

#endif
