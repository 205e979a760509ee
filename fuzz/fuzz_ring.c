/* Fuzz the VMBus ring against a hostile peer: the input sets the shared
 * header (indices, mask, pending size, feature bit) and the data area,
 * then a few op bytes drive the reader and a writer on the same ring.
 *
 * Input: u32 write_index, u32 read_index, u32 pending_send_sz, u8 flags
 * (bit 0 feature, bit 1 mask), u8 op count n, n op bytes, data area. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbus/vmb_pkt.h"

#define PG VMB_PAGE_SIZE
#define RING_LEN (2u * PG)
#define HDR_IN 14u

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return vmb_le32(v);
}

/* Hand what the reader copied out to the packet parsers too. */
static void parse_all(const void *buf, uint32_t len)
{
	struct vmb_gpa_range g[4];
	const struct vmb_xfer_range *x;
	volatile uint64_t sink = 0;
	struct vmb_pkt p;
	uint16_t set;
	uint32_t xn;
	unsigned gn;

	if (vmb_pkt_parse(buf, len, &p))
		return;
	if (vmb_pkt_gpa_ranges(&p, g, 4, &gn) == VMB_OK)
		for (unsigned i = 0; i < gn; i++)
			for (uint32_t k = 0; k < g[i].pfn_count; k++)
				sink += g[i].pfn[k];
	if (vmb_pkt_xfer_ranges(&p, &set, &x, &xn) == VMB_OK)
		for (uint32_t i = 0; i < xn; i++)
			sink += x[i].byte_count;
	(void)sink;
}

/* A read into a heap buffer of exactly cap bytes, so that any write past
 * it is caught. */
static void op_read(struct vmb_ring *r, uint32_t cap)
{
	uint64_t *buf = malloc(cap ? cap : 1);
	uint32_t len;
	bool sig;

	if (!buf)
		return;
	if (vmb_ring_read(r, buf, cap, &len, &sig) == VMB_OK)
		parse_all(buf, len);
	free(buf);
}

static void op_batch(struct vmb_ring *r, unsigned max)
{
	static uint64_t buf[VMB_PKT_MAX_LEN / 8 + 1];
	struct vmb_ring_rd b;
	struct vmb_pktdesc d;
	uint32_t len;

	vmb_ring_rd_begin(r, &b);
	for (unsigned i = 0; i < max; i++) {
		if (vmb_ring_rd_peek(r, &b, &d))
			break;
		if (vmb_ring_rd_next(r, &b, buf, sizeof(buf), &len))
			break;
		parse_all(buf, len);
	}
	vmb_ring_rd_end(r, &b);
}

/* In a burst (signal NULL) the packet waits for a later commit. */
static void op_write(struct vmb_ring *w, uint32_t plen, unsigned kind,
		     bool burst)
{
	static const uint64_t pfn[1] = { 0x1234 };
	static uint8_t pay[2048];
	/* plen < 2048: the range stays inside one page */
	struct vmb_gpa_range g = { plen + 1, 7, 1, pfn };
	struct vmb_xfer_range x[2] = { { plen, 0 }, { 1, plen } };
	struct vmb_iov iov = { pay, plen };
	bool one;
	bool *sig = burst ? NULL : &one;

	memset(pay, (int)plen, plen);
	switch (kind) {
	case 0:
		vmb_pkt_send_inband(w, 1, plen, &iov, 1, sig);
		break;
	case 1:
		vmb_pkt_send_comp(w, plen, pay, plen, sig);
		break;
	case 2:
		vmb_pkt_send_gpa(w, 0, plen, &g, 1, pay, plen, sig);
		break;
	default:
		vmb_pkt_send_xfer(w, 0, plen, 7, x, 2, pay, plen, sig);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmb_ring r, w;
	struct vmb_ring_hdr *h;
	const uint8_t *ops;
	uint8_t *mem;
	size_t nops;

	if (size < HDR_IN)
		return 0;
	nops = data[13];
	if (size < HDR_IN + nops)
		nops = size - HDR_IN;
	ops = data + HDR_IN;
	mem = aligned_alloc(PG, RING_LEN);
	if (!mem)
		return 0;
	if (vmb_ring_attach(&r, mem, RING_LEN) ||
	    vmb_ring_attach(&w, mem, RING_LEN)) {
		free(mem);
		return 0;
	}
	vmb_ring_init_shared(&w, data[12] & 1);
	h = (struct vmb_ring_hdr *)mem;
	h->write_index = le32_at(data);
	h->read_index = le32_at(data + 4);
	h->pending_send_sz = le32_at(data + 8);
	h->interrupt_mask = (data[12] >> 1) & 1;
	memset(mem + PG, 0, PG);
	if (size - HDR_IN - nops)
		memcpy(mem + PG, ops + nops,
		       size - HDR_IN - nops < PG ? size - HDR_IN - nops : PG);

	if (!nops)
		op_batch(&r, 64);
	for (size_t i = 0; i < nops; i++) {
		unsigned op = ops[i] & 7, arg = ops[i] >> 3;

		switch (op) {
		case 0: {
			struct vmb_ring_rd b;
			struct vmb_pktdesc d;

			vmb_ring_rd_begin(&r, &b);
			vmb_ring_rd_peek(&r, &b, &d);
			break;
		}
		case 1:
			op_read(&r, arg * 64u);
			break;
		case 2:
			op_batch(&r, arg + 1);
			break;
		case 3:
		case 4:
			op_write(&w, arg * 61u, op - 3 + 2 * (arg & 1),
				 arg >> 4);
			break;
		case 5:
			if (arg & 1)
				vmb_ring_clear_want(&w);
			else
				vmb_ring_want_space(&w, arg * 128u);
			break;
		case 6:
			vmb_ring_mask(&r);
			break;
		default: {
			bool sig;

			(void)vmb_ring_commit(&w, &sig);
			if (vmb_ring_unmask(&r))
				op_batch(&r, 4);
			(void)vmb_ring_free(&w);
			break;
		}
		}
	}
	free(mem);
	return 0;
}
