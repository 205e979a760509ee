/* Fuzz the packet parsers on arbitrary bytes: the descriptor check, then
 * GPA direct and transfer-page range parsing whatever the type field
 * says. Every range handed back is read in full, so a bound that lets a
 * range escape the packet copy is caught by the sanitizer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbus/vmb_pkt.h"

static volatile uint64_t sink;

static void gpa(const struct vmb_pkt *p, unsigned max)
{
	struct vmb_gpa_range g[8];
	unsigned n;
	int rc = vmb_pkt_gpa_ranges(p, g, max, &n);

	if (rc != VMB_OK && rc != VMB_EMSGSIZE)
		return;
	for (unsigned i = 0; i < n && i < max; i++) {
		if (g[i].byte_offset >= VMB_PAGE_SIZE || !g[i].byte_count ||
		    g[i].pfn_count != vmb_gpa_pfn_count(g[i].byte_offset,
							g[i].byte_count) ||
		    (const uint8_t *)(g[i].pfn + g[i].pfn_count) >
			    p->payload)
			abort();
		for (uint32_t k = 0; k < g[i].pfn_count; k++)
			sink += g[i].pfn[k];
	}
}

static void xfer(const struct vmb_pkt *p)
{
	const struct vmb_xfer_range *r;
	uint16_t set;
	uint32_t n;

	if (vmb_pkt_xfer_ranges(p, &set, &r, &n) != VMB_OK)
		return;
	if ((const uint8_t *)(r + n) > p->payload)
		abort();
	for (uint32_t i = 0; i < n; i++)
		sink += r[i].byte_count + r[i].byte_offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmb_pkt p, q;
	uint64_t *buf;

	if (size > VMB_PKT_MAX_LEN + 64)
		return 0;
	/* An exact-size, 8-byte-aligned copy, as a reader would hold. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (vmb_pkt_parse(buf, (uint32_t)size, &p) == VMB_OK) {
		if (p.len > size || p.payload + p.payload_len != p.raw + p.len)
			abort();
		for (uint32_t i = 0; i < p.payload_len; i++)
			sink += p.payload[i];
		q = p;
		q.type = VMB_PKT_GPA_DIRECT;
		gpa(&q, 8);
		gpa(&q, size & 7);
		q.type = VMB_PKT_XFER_PAGES;
		xfer(&q);
	}
	free(buf);
	return 0;
}
