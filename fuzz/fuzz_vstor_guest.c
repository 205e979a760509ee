/* Fuzz the VSTOR guest engine (core/storage/vstor_guest.h) as storvsc
 * drives it: the init sequence, then requests in flight on a table of
 * eight slots, and a stream of host packets, each copied to an aligned
 * private buffer and parsed, then handed in. Every answer accepted must
 * name a request in flight, stay within what that request asked, and
 * free exactly its slot.
 *
 * Input: byte 0 picks the configuration (bits 0-2 the first version,
 * bits 3-6 the sub-channels wanted, 15 meaning automatic); then records
 * of [u8 requests to start][u16 length][packet bytes], little-endian. A
 * packet's transaction id may name a live request: if its top byte is
 * 0xEE, its low byte picks one of the ids handed out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/vstor_guest.h"

#define SLOTS 8

static const uint16_t versions[8] = {
	VSTOR_VERSION_WIN6, VSTOR_VERSION_WIN7, VSTOR_VERSION_WIN8,
	VSTOR_VERSION_BLUE, VSTOR_VERSION_WIN10, VSTOR_VERSION_WIN10,
	0x0601, 0xFFFF,
};

static _Alignas(8) uint8_t copy[VMB_PKT_MAX_LEN / 64];

struct fz {
	struct vstor_guest g;
	struct vstor_reqtab t;
	struct vstor_slot slots[SLOTS];
	uint64_t ids[64];
	unsigned nids;
	uint32_t cookie[SLOTS * 64];
	unsigned ncookie;
};

static void start(struct fz *f, unsigned n)
{
	for (unsigned i = 0; i < n && f->ncookie < SLOTS * 64; i++) {
		uint64_t xid;
		uint32_t *c = &f->cookie[f->ncookie];

		*c = 4096u * (f->ncookie % 5);
		if (vstor_req_alloc(&f->t, c, *c, &xid))
			return;
		f->ncookie++;
		f->ids[f->nids++ % 64] = xid;
	}
}

static void check(const struct fz *f, const struct vstor_guest_ev *ev,
		  uint32_t busy_before)
{
	const uint32_t *c = ev->cookie;

	if (ev->kind != VSTOR_GE_DONE) {
		if (f->t.busy != busy_before)
			abort();
		return;
	}
	if (c < f->cookie || c >= f->cookie + f->ncookie ||
	    ev->moved > *c || f->t.busy + 1 != busy_before ||
	    ev->sense_len > vstor_sense_max(f->g.version) ||
	    ev->srb_status & ~VSTOR_SRB_STATUS_MASK)
		abort();
}

static void one(struct fz *f, const uint8_t *pkt, uint32_t len)
{
	uint32_t busy = f->t.busy;
	struct vstor_guest_ev ev;
	struct vmb_pkt p;

	memcpy(copy, pkt, len);
	if (len >= 16 && copy[15] == 0xEE && f->nids) {
		uint64_t xid = f->ids[copy[8] % (f->nids < 64 ? f->nids : 64)];

		memcpy(copy + 8, &xid, 8);
	}
	if (vmb_pkt_parse(copy, len, &p))
		return;
	vstor_guest_rx(&f->g, &f->t, &p, &ev);
	check(f, &ev, busy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vstor_guest_cfg c = { .ncpus = 4 };
	static struct fz f;
	uint8_t out[VSTOR_PKT_LEN];
	uint64_t xid;

	if (!size)
		return 0;
	c.max_version = versions[data[0] & 7];
	c.subchannels = (data[0] >> 3 & 15) == 15 ? VSTOR_GUEST_SUBCH_AUTO
						  : data[0] >> 3 & 15;
	memset(&f, 0, sizeof(f));
	vstor_guest_init(&f.g, &c);
	vstor_reqtab_init(&f.t, f.slots, SLOTS);
	for (size_t i = 1; i + 3 <= size;) {
		uint32_t len = data[i + 1] | (uint32_t)data[i + 2] << 8;

		start(&f, data[i] & 7);
		i += 3;
		if (len > size - i || len > sizeof(copy))
			break;
		one(&f, data + i, len);
		(void)vstor_guest_next(&f.g, out, &xid);
		i += len;
	}
	return 0;
}
