/* VMBus packets: every packet type sent through a real ring, read back
 * and parsed; hand-built malformed packets rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmbus/vmb_pkt.h"

#define PG VMB_PAGE_SIZE

struct tp {
	uint8_t *mem;
	struct vmb_ring w, r;
	uint64_t buf[128 * 1024 / 8]; /* receive copy, 8-byte aligned */
	struct vmb_pkt p;
};

static int setup(void **state)
{
	struct tp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	t->mem = aligned_alloc(PG, 33 * PG);
	if (!t->mem)
		return -1;
	if (vmb_ring_attach(&t->w, t->mem, 33 * PG) ||
	    vmb_ring_attach(&t->r, t->mem, 33 * PG))
		return -1;
	vmb_ring_init_shared(&t->w, true);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tp *t = *state;

	free(t->mem);
	free(t);
	return 0;
}

/* Read the next packet from the ring and parse it. */
static void recv_pkt(struct tp *t)
{
	uint32_t len;
	bool sig;

	assert_int_equal(vmb_ring_read(&t->r, t->buf, sizeof(t->buf), &len,
				       &sig), VMB_OK);
	assert_int_equal(vmb_pkt_parse(t->buf, len, &t->p), VMB_OK);
	assert_int_equal(t->p.len, len);
	assert_false(vmb_ring_has_data(&t->r));
}

static void fill_bytes(uint8_t *b, uint32_t n, uint8_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 13u);
}

static void check_payload(const struct tp *t, uint32_t hdr_len,
			  const uint8_t *want, uint32_t n)
{
	assert_ptr_equal(t->p.payload, t->p.raw + hdr_len);
	assert_int_equal(t->p.len, VMB_ALIGN8(hdr_len + n));
	assert_int_equal(t->p.payload_len, t->p.len - hdr_len);
	assert_memory_equal(t->p.payload, want, n);
	for (uint32_t i = n; i < t->p.payload_len; i++)
		assert_int_equal(t->p.payload[i], 0);
}

static void test_inband(void **state)
{
	struct tp *t = *state;
	uint8_t a[37], b[100], all[137];
	struct vmb_iov iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	uint16_t fl = VMB_PKT_FLAG_COMPLETION_REQUESTED;
	bool sig;

	fill_bytes(a, sizeof(a), 1);
	fill_bytes(b, sizeof(b), 2);
	memcpy(all, a, sizeof(a));
	memcpy(all + sizeof(a), b, sizeof(b));
	assert_int_equal(vmb_pkt_send_inband(&t->w, fl, 0x1122334455667788ull,
					     iov, 2, &sig), VMB_OK);
	assert_true(sig);
	recv_pkt(t);
	assert_int_equal(t->p.type, VMB_PKT_INBAND);
	assert_int_equal(t->p.flags, VMB_PKT_FLAG_COMPLETION_REQUESTED);
	assert_int_equal(t->p.xid, 0x1122334455667788ull);
	check_payload(t, 16, all, sizeof(all));

	/* Empty payload: the descriptor alone. */
	assert_int_equal(vmb_pkt_send_inband(&t->w, 0, 5, NULL, 0, &sig),
			 VMB_OK);
	recv_pkt(t);
	assert_int_equal(t->p.len, 16);
	assert_int_equal(t->p.payload_len, 0);

	struct vmb_iov many[VMB_PKT_MAX_IOV + 1];
	for (unsigned i = 0; i <= VMB_PKT_MAX_IOV; i++)
		many[i] = (struct vmb_iov){ a, 1 };
	assert_int_equal(vmb_pkt_send_inband(&t->w, 0, 5, many,
					     VMB_PKT_MAX_IOV + 1, &sig),
			 VMB_EINVAL);
	assert_int_equal(vmb_pkt_send_inband(&t->w, 0, 5, many,
					     VMB_PKT_MAX_IOV, &sig), VMB_OK);
	recv_pkt(t);
	assert_int_equal(t->p.payload_len, 8);
	assert_false(vmb_ring_has_data(&t->r));
}

static void test_comp(void **state)
{
	struct tp *t = *state;
	uint8_t d[24];
	bool sig;

	fill_bytes(d, sizeof(d), 9);
	assert_int_equal(vmb_pkt_send_comp(&t->w, 77, d, sizeof(d), &sig),
			 VMB_OK);
	recv_pkt(t);
	assert_int_equal(t->p.type, VMB_PKT_COMP);
	assert_int_equal(t->p.flags, 0);
	assert_int_equal(t->p.xid, 77);
	check_payload(t, 16, d, sizeof(d));
}

/* Send ranges rg[0..n) with payload, receive and compare. */
static void gpa_round_trip(struct tp *t, const struct vmb_gpa_range *rg,
			   unsigned n)
{
	struct vmb_gpa_range out[8];
	uint8_t pay[50];
	uint32_t hlen = 24;
	unsigned got;
	bool sig;

	fill_bytes(pay, sizeof(pay), 4);
	for (unsigned i = 0; i < n; i++)
		hlen += 8 + rg[i].pfn_count * 8;
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 3, rg, n, pay,
					  sizeof(pay), &sig), VMB_OK);
	recv_pkt(t);
	assert_int_equal(t->p.type, VMB_PKT_GPA_DIRECT);
	check_payload(t, hlen, pay, sizeof(pay));
	assert_int_equal(vmb_pkt_gpa_ranges(&t->p, out, 8, &got), VMB_OK);
	assert_int_equal(got, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(out[i].byte_count, rg[i].byte_count);
		assert_int_equal(out[i].byte_offset, rg[i].byte_offset);
		assert_int_equal(out[i].pfn_count, rg[i].pfn_count);
		assert_memory_equal(out[i].pfn, rg[i].pfn,
				    rg[i].pfn_count * 8u);
		assert_true((const uint8_t *)out[i].pfn >= t->p.raw + 24);
		assert_true((const uint8_t *)(out[i].pfn + out[i].pfn_count) <=
			    t->p.payload);
	}
}

static const uint64_t pfns[] = { 0x1000, 0x2345, 0xABCDEF, 0x7, 0x99,
				 0x123456789ull, 0x42, 0x43 };

static struct vmb_gpa_range mk(uint32_t off, uint32_t count,
			       const uint64_t *pfn)
{
	return (struct vmb_gpa_range){ count, off,
				       vmb_gpa_pfn_count(off, count), pfn };
}

static void test_gpa(void **state)
{
	struct tp *t = *state;
	struct vmb_gpa_range rg[4];

	assert_int_equal(vmb_gpa_pfn_count(0, 4096), 1);
	assert_int_equal(vmb_gpa_pfn_count(0, 4097), 2);
	assert_int_equal(vmb_gpa_pfn_count(4095, 1), 1);
	assert_int_equal(vmb_gpa_pfn_count(4095, 2), 2);
	assert_int_equal(vmb_gpa_pfn_count(100, 8000), 2);
	assert_int_equal(vmb_gpa_pfn_count(100, 8093), 3);
	assert_int_equal(vmb_gpa_pfn_count(4095, 0xFFFFFFFFu), 1048577);

	rg[0] = mk(0, 4096, pfns); /* one whole page */
	gpa_round_trip(t, rg, 1);
	rg[0] = mk(1000, 200, pfns + 3); /* inside a single page */
	gpa_round_trip(t, rg, 1);
	rg[0] = mk(100, 8093, pfns); /* unaligned first and last page */
	assert_int_equal(rg[0].pfn_count, 3);
	gpa_round_trip(t, rg, 1);
	rg[0] = mk(4000, 20000, pfns); /* 6 pages, both ends partial */
	assert_int_equal(rg[0].pfn_count, 6);
	rg[1] = mk(0, 1, pfns + 6);
	rg[2] = mk(4095, 2, pfns + 3);
	rg[3] = mk(512, 4096 - 512, pfns + 5);
	gpa_round_trip(t, rg, 4);
}

static void test_gpa_send_invalid(void **state)
{
	struct tp *t = *state;
	struct vmb_gpa_range rg[VMB_PKT_MAX_GPA_RANGES + 1];
	bool sig;

	for (unsigned i = 0; i <= VMB_PKT_MAX_GPA_RANGES; i++)
		rg[i] = mk(0, 4096, pfns + (i % 8));
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg,
					  VMB_PKT_MAX_GPA_RANGES + 1, NULL, 0,
					  &sig), VMB_EINVAL);
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg, 0, NULL, 0, &sig),
			 VMB_EINVAL);
	rg[1] = mk(4096, 100, pfns); /* PFN count consistent, offset not */
	assert_int_equal(rg[1].pfn_count, 2);
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg, 2, NULL, 0, &sig),
			 VMB_EINVAL);
	rg[1] = mk(0, 0, pfns);
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg, 2, NULL, 0, &sig),
			 VMB_EINVAL);
	rg[1] = mk(0, 4096, pfns);
	rg[1].pfn_count = 2; /* does not match offset and length */
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg, 2, NULL, 0, &sig),
			 VMB_EINVAL);
	rg[1] = mk(0, 4096, NULL);
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg, 2, NULL, 0, &sig),
			 VMB_EINVAL);
	/* Header larger than a packet can describe. */
	rg[1] = mk(0, 0xFFFFFFFFu, pfns);
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg, 2, NULL, 0, &sig),
			 VMB_EMSGSIZE);
	assert_false(vmb_ring_has_data(&t->r));
	rg[1] = mk(0, 4096, pfns + 1);
	assert_int_equal(vmb_pkt_send_gpa(&t->w, 0, 1, rg,
					  VMB_PKT_MAX_GPA_RANGES, NULL, 0,
					  &sig), VMB_OK);
	recv_pkt(t);
	{
		struct vmb_gpa_range out[4];
		unsigned n;

		assert_int_equal(vmb_pkt_gpa_ranges(&t->p, out, 4, &n),
				 VMB_EMSGSIZE);
		assert_int_equal(n, VMB_PKT_MAX_GPA_RANGES);
		assert_int_equal(out[3].pfn[0], pfns[3]);
	}
	assert_false(vmb_ring_has_data(&t->r));
}

static void test_xfer(void **state)
{
	struct tp *t = *state;
	struct vmb_xfer_range rg[3] = {
		{ 1514, 0 }, { 60, 6144 }, { 9000, 12288 }
	};
	const struct vmb_xfer_range *got;
	uint8_t pay[40];
	uint16_t set;
	uint32_t n;
	bool sig;

	fill_bytes(pay, sizeof(pay), 6);
	assert_int_equal(vmb_pkt_send_xfer(&t->w, 0, 99, 0xcafe, rg, 3, pay,
					   sizeof(pay), &sig), VMB_OK);
	recv_pkt(t);
	assert_int_equal(t->p.type, VMB_PKT_XFER_PAGES);
	assert_int_equal(t->p.xid, 99);
	check_payload(t, 24 + 3 * 8, pay, sizeof(pay));
	assert_int_equal(vmb_pkt_xfer_ranges(&t->p, &set, &got, &n), VMB_OK);
	assert_int_equal(set, 0xcafe);
	assert_int_equal(n, 3);
	assert_memory_equal(got, rg, sizeof(rg));
	/* The GPA parser refuses another type. */
	{
		struct vmb_gpa_range out[1];
		unsigned k;

		assert_int_equal(vmb_pkt_gpa_ranges(&t->p, out, 1, &k),
				 VMB_EINVAL);
	}
}

/* ---- malformed packets, built by hand ---- */

static uint64_t raw[64];

static struct vmb_pktdesc *rawd(void)
{
	return (struct vmb_pktdesc *)raw;
}

static void raw_reset(uint16_t type, uint16_t off8, uint16_t len8)
{
	memset(raw, 0, sizeof(raw));
	rawd()->type = type;
	rawd()->offset8 = off8;
	rawd()->len8 = len8;
}

static void raw_u32(uint32_t at, uint32_t v)
{
	memcpy((uint8_t *)raw + at, &v, 4);
}

static int raw_gpa(void)
{
	struct vmb_gpa_range out[4];
	struct vmb_pkt p;
	unsigned n;
	int rc = vmb_pkt_parse(raw, sizeof(raw), &p);

	assert_int_equal(rc, VMB_OK);
	return vmb_pkt_gpa_ranges(&p, out, 4, &n);
}

static int raw_xfer(void)
{
	const struct vmb_xfer_range *rg;
	struct vmb_pkt p;
	uint16_t set;
	uint32_t n;

	assert_int_equal(vmb_pkt_parse(raw, sizeof(raw), &p), VMB_OK);
	return vmb_pkt_xfer_ranges(&p, &set, &rg, &n);
}

static void test_parse_bad(void **state)
{
	struct vmb_pkt p;

	(void)state;
	raw_reset(VMB_PKT_INBAND, 2, 4);
	assert_int_equal(vmb_pkt_parse(raw, 32, &p), VMB_OK);
	assert_int_equal(vmb_pkt_parse(raw, 31, &p), VMB_EPROTO);
	assert_int_equal(vmb_pkt_parse(raw, 15, &p), VMB_EPROTO);
	raw_reset(VMB_PKT_INBAND, 1, 4);
	assert_int_equal(vmb_pkt_parse(raw, 32, &p), VMB_EPROTO);
	raw_reset(VMB_PKT_INBAND, 5, 4);
	assert_int_equal(vmb_pkt_parse(raw, 64, &p), VMB_EPROTO);
	raw_reset(VMB_PKT_INBAND, 4, 4);
	assert_int_equal(vmb_pkt_parse(raw, 64, &p), VMB_OK);
	assert_int_equal(p.payload_len, 0);
	raw_reset(VMB_PKT_INBAND, 0, 0);
	assert_int_equal(vmb_pkt_parse(raw, 64, &p), VMB_EPROTO);
	raw_reset(VMB_PKT_INBAND, 2, 0xFFFF);
	assert_int_equal(vmb_pkt_parse(raw, sizeof(raw), &p), VMB_EPROTO);
}

static void test_gpa_bad(void **state)
{
	(void)state;
	/* Valid: header area 48 = 24 + one range (8) + 2 PFNs. */
	raw_reset(VMB_PKT_GPA_DIRECT, 6, 8);
	raw_u32(20, 1);
	raw_u32(24, 5000);
	raw_u32(28, 100);
	assert_int_equal(raw_gpa(), VMB_OK);

	raw_u32(24, 8093); /* needs 3 PFNs: past the header area */
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(24, 5000);
	raw_u32(28, 4096); /* offset must stay inside the first page */
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(28, 0xFFFFFFFFu);
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(28, 100);
	raw_u32(24, 0); /* byte_count 0 */
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(24, 0xFFFFFFFFu); /* huge count: PFN count must not wrap */
	raw_u32(28, 4095);
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(24, 5000);
	raw_u32(28, 100);
	raw_u32(20, 2); /* range count too large for the header area */
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(20, 0xFFFFFFFFu);
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(20, 0x10000001u); /* * 16 would wrap 32 bits to 16 */
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(20, 0);
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(20, 1);
	assert_int_equal(raw_gpa(), VMB_OK);

	/* Offset past the first page although the PFNs would fit. */
	raw_reset(VMB_PKT_GPA_DIRECT, 9, 9);
	raw_u32(20, 1);
	raw_u32(24, 100);
	raw_u32(28, 4000);
	assert_int_equal(raw_gpa(), VMB_OK);
	raw_u32(28, 4096);
	assert_int_equal(raw_gpa(), VMB_EPROTO);

	/* Header area shorter than the GPA direct header. */
	raw_reset(VMB_PKT_GPA_DIRECT, 2, 8);
	raw_u32(20, 1);
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	{
		/* A bare descriptor: nothing past its 16 bytes is read. */
		uint64_t *bare = malloc(16);
		struct vmb_gpa_range out[1];
		const struct vmb_xfer_range *xr;
		struct vmb_pkt p;
		uint16_t set;
		uint32_t xn;
		unsigned n;

		assert_non_null(bare);
		memcpy(bare, raw, 16);
		((struct vmb_pktdesc *)bare)->len8 = 2;
		assert_int_equal(vmb_pkt_parse(bare, 16, &p), VMB_OK);
		assert_int_equal(vmb_pkt_gpa_ranges(&p, out, 1, &n),
				 VMB_EPROTO);
		p.type = VMB_PKT_XFER_PAGES;
		assert_int_equal(vmb_pkt_xfer_ranges(&p, &set, &xr, &xn),
				 VMB_EPROTO);
		free(bare);
	}

	/* PFNs past the header area although the packet is long enough:
	 * the range reads into the payload. */
	raw_reset(VMB_PKT_GPA_DIRECT, 5, 16);
	raw_u32(20, 1);
	raw_u32(24, 5000);
	raw_u32(28, 0);
	assert_int_equal(raw_gpa(), VMB_EPROTO);

	/* Second range broken, first fine. */
	raw_reset(VMB_PKT_GPA_DIRECT, 7, 9);
	raw_u32(20, 2);
	raw_u32(24, 4096);
	raw_u32(28, 0);
	raw_u32(40, 10);
	raw_u32(44, 4090); /* 2 PFNs needed, 1 present */
	assert_int_equal(raw_gpa(), VMB_EPROTO);
	raw_u32(44, 4086);
	assert_int_equal(raw_gpa(), VMB_OK);

	/* An unaligned packet copy cannot hand out PFN pointers. */
	{
		struct vmb_gpa_range out[2];
		struct vmb_pkt p;
		unsigned n;
		static uint8_t un[80];

		memcpy(un + 1, raw, 72);
		assert_int_equal(vmb_pkt_parse(un + 1, 72, &p), VMB_OK);
		assert_int_equal(vmb_pkt_gpa_ranges(&p, out, 2, &n),
				 VMB_EINVAL);
	}
}

/* Buffers that end where the packet ends, so that ASan sees any read
 * past it: a buffer shorter than a descriptor, and a GPA direct packet
 * whose first range's PFNs fill the header area although two ranges are
 * announced (the second descriptor would lie past the buffer). */
static void test_parse_exact_buffers(void **state)
{
	struct vmb_gpa_range out[2];
	struct vmb_pkt p;
	unsigned n;

	(void)state;
	uint64_t *small = malloc(8);
	assert_non_null(small);
	memcpy(small, raw, 8);
	assert_int_equal(vmb_pkt_parse(small, 8, &p), VMB_EPROTO);
	free(small);

	raw_reset(VMB_PKT_GPA_DIRECT, 7, 7);
	raw_u32(20, 2);
	raw_u32(24, 3 * 4096);
	raw_u32(28, 0);
	uint64_t *gpa = malloc(56);
	assert_non_null(gpa);
	memcpy(gpa, raw, 56);
	assert_int_equal(vmb_pkt_parse(gpa, 56, &p), VMB_OK);
	assert_int_equal(vmb_pkt_gpa_ranges(&p, out, 2, &n), VMB_EPROTO);
	/* The same with one range announced is whole. */
	raw_u32(20, 1);
	memcpy(gpa, raw, 56);
	assert_int_equal(vmb_pkt_parse(gpa, 56, &p), VMB_OK);
	assert_int_equal(vmb_pkt_gpa_ranges(&p, out, 2, &n), VMB_OK);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].pfn_count, 3);
	free(gpa);
}

static void test_xfer_bad(void **state)
{
	(void)state;
	raw_reset(VMB_PKT_XFER_PAGES, 5, 6);
	raw_u32(20, 2);
	assert_int_equal(raw_xfer(), VMB_OK);
	raw_u32(20, 3); /* one range too many for the header area */
	assert_int_equal(raw_xfer(), VMB_EPROTO);
	raw_u32(20, 0xFFFFFFFFu);
	assert_int_equal(raw_xfer(), VMB_EPROTO);
	raw_u32(20, 0x20000002u); /* * 8 wraps 32 bits to 16 */
	assert_int_equal(raw_xfer(), VMB_EPROTO);
	raw_u32(20, 2);
	raw_u32(32, 0x10);        /* byte_count of range 1 */
	raw_u32(36, 0xFFFFFFF8u); /* offset + count wraps */
	assert_int_equal(raw_xfer(), VMB_EPROTO);
	raw_u32(36, 0xFFFFFFEFu);
	assert_int_equal(raw_xfer(), VMB_OK);
	raw_reset(VMB_PKT_XFER_PAGES, 2, 6);
	assert_int_equal(raw_xfer(), VMB_EPROTO);
	raw_reset(VMB_PKT_INBAND, 5, 6);
	assert_int_equal(raw_xfer(), VMB_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inband),
		cmocka_unit_test(test_comp),
		cmocka_unit_test(test_gpa),
		cmocka_unit_test(test_gpa_send_invalid),
		cmocka_unit_test(test_xfer),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_gpa_bad),
		cmocka_unit_test(test_xfer_bad),
		cmocka_unit_test(test_parse_exact_buffers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
