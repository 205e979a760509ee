/* SCSI disk target (core/scsi): every supported command with its data and
 * sense checked byte by byte, the LBA bounds (last block, one past, count
 * overflow), the SRB buffer and direction rules, UNMAP parameter lists
 * good and malformed, unit attention after a resize, LUNs with no disk,
 * how backend errors complete, and the counters. Each CDB, parameter list
 * and answer buffer sits in a heap block of its exact size, so ASan sees
 * any read or write past what the engine was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "scsi/scsi_disk.h"

#define NQ 4
#define BLOCKS 2048u /* 1 MiB of 512-byte blocks */

static struct scsi_disk disk;
static struct scsi_stats stats[NQ];
static struct scsi_result res;
static struct scsi_extent ext[SCSI_UNMAP_MAX_DESC];
static uint8_t *out;
static uint32_t ext_cap = SCSI_UNMAP_MAX_DESC;
/* Set by run_q: a WRITE SAME pattern pointed at the param copy given. */
static bool pattern_is_param;
static const uint8_t lun_list[] = {3, 0, 3, 200};
static const uint8_t disk_id[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
				    0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
				    0x1c, 0x1d, 0x1e, 0x1f};

static struct scsi_disk_desc desc_default(void)
{
	struct scsi_disk_desc d = {
		.block_size = 512,
		.block_count = BLOCKS,
		.max_xfer = 1u << 20,
		.write_cache = true,
		.unmap = true,
		.serial_len = 6,
	};

	memcpy(d.serial, "SER123", 6);
	memcpy(d.id, disk_id, sizeof(d.id));
	return d;
}

static void make_disk(const struct scsi_disk_desc *d)
{
	memset(stats, 0, sizeof(stats));
	assert_int_equal(scsi_disk_init(&disk, d, stats, NQ), VMB_OK);
}

static int setup(void **state)
{
	struct scsi_disk_desc d = desc_default();

	(void)state;
	out = malloc(SCSI_RESP_MAX);
	assert_non_null(out);
	memset(out, 0xEE, SCSI_RESP_MAX);
	ext_cap = SCSI_UNMAP_MAX_DESC;
	make_disk(&d);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(out);
	return 0;
}

/* Runs a command on queue 0; cdb and param are copied to exact-size heap
 * blocks. */
static int run_q(uint32_t q, const uint8_t *cdb, uint32_t cdb_len,
		 uint8_t dir, uint32_t xfer, const uint8_t *param,
		 uint32_t plen)
{
	uint8_t *c = malloc(cdb_len ? cdb_len : 1);
	uint8_t *p = malloc(plen ? plen : 1);
	struct scsi_cmd cmd = {
		.cdb = c, .cdb_len = cdb_len, .dir = dir, .xfer_len = xfer,
		.param = plen ? p : NULL, .param_len = plen,
		.luns = lun_list, .nluns = sizeof(lun_list),
		.ext = ext, .ext_cap = ext_cap, .out = out,
	};
	int rc;

	assert_true(c && p);
	memcpy(c, cdb, cdb_len);
	if (plen)
		memcpy(p, param, plen);
	rc = scsi_disk_exec(&disk, q, &cmd, &res);
	free(c);
	pattern_is_param = res.kind == SCSI_RES_IO &&
			   res.io.op == SCSI_IO_WRITE_SAME &&
			   res.io.pattern == p;
	if (res.kind == SCSI_RES_IO && res.io.op == SCSI_IO_WRITE_SAME)
		res.io.pattern = NULL; /* freed below */
	free(p);
	return rc;
}

static int run(const uint8_t *cdb, uint32_t len, uint8_t dir, uint32_t xfer)
{
	return run_q(0, cdb, len, dir, xfer, NULL, 0);
}

#define RUN_IN(cdb, xfer) \
	assert_int_equal(run(cdb, sizeof(cdb), SCSI_DIR_IN, xfer), VMB_OK)
#define RUN_NONE(cdb) \
	assert_int_equal(run(cdb, sizeof(cdb), SCSI_DIR_NONE, 0), VMB_OK)

static void expect_good(uint32_t moved)
{
	assert_int_equal(res.kind, SCSI_RES_DONE);
	assert_int_equal(res.status, SCSI_ST_GOOD);
	assert_int_equal(res.srb_status, SCSI_SRB_SUCCESS);
	assert_int_equal(res.sense_len, 0);
	assert_int_equal(res.data_len, moved);
	assert_int_equal(res.residual, res.xfer_len - moved);
}

static void expect_sense_bytes(const uint8_t *s, uint8_t key, uint8_t asc,
			       uint8_t ascq)
{
	assert_int_equal(s[0], 0x70);
	assert_int_equal(s[2], key);
	assert_int_equal(s[7], 10);
	assert_int_equal(s[12], asc);
	assert_int_equal(s[13], ascq);
}

static void expect_cc(uint8_t srb, uint8_t key, uint8_t asc,
			 uint8_t ascq)
{
	assert_int_equal(res.kind, SCSI_RES_DONE);
	assert_int_equal(res.status, SCSI_ST_CHECK_CONDITION);
	assert_int_equal(res.srb_status, srb);
	assert_int_equal(res.sense_len, SCSI_SENSE_LEN);
	assert_int_equal(res.data_len, 0);
	assert_int_equal(res.residual, res.xfer_len);
	expect_sense_bytes(res.sense, key, asc, ascq);
}

static void expect_illegal(uint8_t asc)
{
	expect_cc(SCSI_SRB_INVALID_REQUEST, SCSI_SK_ILLEGAL_REQUEST, asc, 0);
}

static void expect_io(enum scsi_io_op op, uint64_t off, uint64_t len,
		      uint32_t moved)
{
	assert_int_equal(res.kind, SCSI_RES_IO);
	assert_int_equal(res.io.op, op);
	assert_int_equal(res.io.offset, off);
	assert_int_equal(res.io.len, len);
	assert_int_equal(res.data_len, moved);
	assert_int_equal(res.residual, res.xfer_len - moved);
}

static uint64_t err_count(enum scsi_err e)
{
	struct scsi_stats sum;

	scsi_disk_stats(&disk, &sum);
	return sum.err[e];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* ---- CDB builders ---- */

static void rw10(uint8_t *c, uint8_t op, uint32_t lba, uint16_t n,
		 uint8_t flags)
{
	memset(c, 0, 10);
	c[0] = op;
	c[1] = flags;
	c[2] = lba >> 24; c[3] = lba >> 16; c[4] = lba >> 8; c[5] = lba;
	c[7] = n >> 8; c[8] = n;
}

static void rw16(uint8_t *c, uint8_t op, uint64_t lba, uint32_t n,
		 uint8_t flags)
{
	memset(c, 0, 16);
	c[0] = op;
	c[1] = flags;
	for (int i = 0; i < 8; i++)
		c[2 + i] = (uint8_t)(lba >> (56 - 8 * i));
	c[10] = n >> 24; c[11] = n >> 16; c[12] = n >> 8; c[13] = n;
}

static void inquiry(uint8_t *c, uint8_t b1, uint8_t page, uint16_t alloc)
{
	memset(c, 0, 6);
	c[0] = SCSI_OP_INQUIRY;
	c[1] = b1;
	c[2] = page;
	c[3] = alloc >> 8;
	c[4] = alloc;
}

static void unmap_cdb(uint8_t *c, uint16_t len)
{
	memset(c, 0, 10);
	c[0] = SCSI_OP_UNMAP;
	c[7] = len >> 8;
	c[8] = len;
}

/* ---- basic rules ---- */

static void test_init_checks(void **state)
{
	struct scsi_disk_desc d = desc_default();
	struct scsi_disk x;

	(void)state;
	d.block_size = 1024;
	assert_int_equal(scsi_disk_init(&x, &d, stats, 1), VMB_EINVAL);
	d = desc_default();
	d.block_count = 0;
	assert_int_equal(scsi_disk_init(&x, &d, stats, 1), VMB_EINVAL);
	d.block_count = UINT64_MAX / 512 + 1;
	assert_int_equal(scsi_disk_init(&x, &d, stats, 1), VMB_EINVAL);
	d.block_count = UINT64_MAX / 512;
	assert_int_equal(scsi_disk_init(&x, &d, stats, 1), VMB_OK);
	d.serial[2] = '\n';
	assert_int_equal(scsi_disk_init(&x, &d, stats, 1), VMB_EINVAL);
	d = desc_default();
	d.serial_len = SCSI_SERIAL_MAX + 1;
	assert_int_equal(scsi_disk_init(&x, &d, stats, 1), VMB_EINVAL);
	d = desc_default();
	assert_int_equal(scsi_disk_init(&x, &d, stats, 0), VMB_EINVAL);
	assert_int_equal(scsi_disk_init(&x, &d, NULL, 1), VMB_EINVAL);
	assert_int_equal(scsi_disk_resize(&disk, 0), VMB_EINVAL);
	assert_int_equal(scsi_disk_resize(&disk, UINT64_MAX / 256),
			 VMB_EINVAL);
}

static void test_cdb_length_and_opcodes(void **state)
{
	static const uint8_t unsupported[] = {0x15, 0x2F, 0x55, 0x7F, 0xA3,
					      0x9F, 0xC0, 0x04, 0x85};
	uint8_t c[17] = {0}; /* one past the SRB field */

	(void)state;
	rw10(c, SCSI_OP_READ10, 0, 1, 0);
	assert_int_equal(run(c, 0, SCSI_DIR_IN, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(run(c, 9, SCSI_DIR_IN, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_CDB), 2);
	memset(c + 10, 0, 6);
	assert_int_equal(run(c, 16, SCSI_DIR_IN, 512), VMB_OK);
	expect_io(SCSI_IO_READ, 0, 512, 512);
	assert_int_equal(run(c, 17, SCSI_DIR_IN, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c[9] = SCSI_CTL_NACA;
	assert_int_equal(run(c, 10, SCSI_DIR_IN, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c[9] = SCSI_CTL_LINK;
	assert_int_equal(run(c, 10, SCSI_DIR_IN, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c[9] = 0xC0; /* vendor-specific control bits are ignored */
	assert_int_equal(run(c, 10, SCSI_DIR_IN, 512), VMB_OK);
	assert_int_equal(res.kind, SCSI_RES_IO);
	for (size_t i = 0; i < sizeof(unsupported); i++) {
		memset(c, 0, sizeof(c));
		c[0] = unsupported[i];
		assert_int_equal(run(c, 16, SCSI_DIR_NONE, 0), VMB_OK);
		expect_illegal(SCSI_ASC_INVALID_OPCODE);
	}
	assert_int_equal(err_count(SCSI_ERR_OPCODE), sizeof(unsupported));
}

static void test_bad_calls(void **state)
{
	uint8_t c[6] = {SCSI_OP_TEST_UNIT_READY};
	struct scsi_cmd cmd = {.cdb = c, .cdb_len = 6, .out = NULL};

	(void)state;
	assert_int_equal(scsi_disk_exec(&disk, 0, &cmd, &res), VMB_EINVAL);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	cmd.out = out;
	assert_int_equal(scsi_disk_exec(&disk, NQ, &cmd, &res), VMB_EINVAL);
	cmd.nluns = 1;
	assert_int_equal(scsi_disk_exec(&disk, 0, &cmd, &res), VMB_EINVAL);
	cmd.nluns = 0;
	cmd.cdb = NULL;
	assert_int_equal(scsi_disk_exec(&disk, 0, &cmd, &res), VMB_EINVAL);
	assert_int_equal(scsi_disk_exec(&disk, 0, NULL, &res), VMB_EINVAL);
	assert_int_equal(scsi_disk_exec(&disk, 0, &cmd, NULL), VMB_EINVAL);
	cmd.cdb = c;
	assert_int_equal(scsi_disk_exec(&disk, NQ - 1, &cmd, &res), VMB_OK);
	expect_good(0);
	assert_int_equal(scsi_disk_complete(&disk, 0, &res, SCSI_IOERR_NONE),
			 VMB_EINVAL);
}

/* ---- INQUIRY ---- */

static void test_inquiry_standard(void **state)
{
	uint8_t c[6];

	(void)state;
	inquiry(c, 0, 0, 255);
	RUN_IN(c, 255);
	expect_good(104);
	assert_int_equal(out[0], 0x00);
	assert_int_equal(out[1], 0x00);
	assert_int_equal(out[2], 0x05);
	assert_int_equal(out[3], 0x02);
	assert_int_equal(out[4], 99);
	assert_int_equal(out[7], 0x02);
	assert_memory_equal(out + 8, "Msft    Virtual Disk    1.0 ", 28);
	inquiry(c, 0, 0, 36);
	RUN_IN(c, 36);
	expect_good(36);
	RUN_IN(c, 20); /* a buffer shorter than the allocation length */
	expect_good(20);
	inquiry(c, 0, 0, 0);
	RUN_IN(c, 36);
	expect_good(0);
	inquiry(c, 0, 0, 36);
	assert_int_equal(run(c, 6, SCSI_DIR_OUT, 36), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_XFER), 1);
	inquiry(c, SCSI_INQ_CMDDT, 0, 36);
	RUN_IN(c, 36);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	inquiry(c, 0, 0x80, 36);
	RUN_IN(c, 36);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
}

static void vpd(uint8_t page, uint16_t alloc)
{
	uint8_t c[6];

	inquiry(c, SCSI_INQ_EVPD, page, alloc);
	RUN_IN(c, alloc);
}

static void expect_vpd(uint8_t page, uint32_t body)
{
	expect_good(4 + body);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], page);
	assert_int_equal(out[2] << 8 | out[3], body);
}

static void test_vpd_pages(void **state)
{
	static const uint8_t all[] = {0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2};
	static const uint8_t naa[] = {0x01, 0x03, 0x00, 0x10, 0x60, 0x02,
				      0x24, 0x80, 0x10, 0x11, 0x12, 0x13,
				      0x14, 0x15, 0x1a, 0x1b, 0x1c, 0x1d,
				      0x1e, 0x1f};

	(void)state;
	vpd(0x00, 255);
	expect_vpd(0x00, sizeof(all));
	assert_memory_equal(out + 4, all, sizeof(all));
	vpd(0x80, 255);
	expect_vpd(0x80, 6);
	assert_memory_equal(out + 4, "SER123", 6);
	vpd(0x83, 255);
	expect_vpd(0x83, 48);
	assert_memory_equal(out + 4, "\x01\x01\x00\x18Msft    ", 12);
	assert_memory_equal(out + 16, disk_id, 16);
	assert_memory_equal(out + 32, naa, sizeof(naa));
	vpd(0x83, 10); /* cut to the allocation length */
	expect_good(10);
	assert_int_equal(out[3], 48);
	vpd(0xB9, 255);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	vpd(0x89, 255);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_PAGE), 2);
}

static void test_vpd_thin(void **state)
{
	struct scsi_disk_desc d = desc_default();

	(void)state;
	d.unmap_gran = 8;
	d.max_xfer = 1u << 20;
	make_disk(&d);
	vpd(0xB0, 255);
	expect_vpd(0xB0, 0x3C);
	assert_int_equal(out[4], SCSI_B0_WSNZ);
	assert_int_equal(be32(out + 8), 0); /* no transfer limit reported */
	assert_int_equal(be32(out + 20), UINT32_MAX);
	assert_int_equal(be32(out + 24), 4096);
	assert_int_equal(be32(out + 28), 8);
	assert_int_equal(out[32], 0x80);
	assert_int_equal(be64(out + 36), (1u << 20) / 512);
	vpd(0xB1, 255);
	expect_vpd(0xB1, 0x3C);
	assert_int_equal(out[4] << 8 | out[5], 1);
	vpd(0xB2, 255);
	expect_vpd(0xB2, 4);
	assert_int_equal(out[4], 1);
	assert_int_equal(out[5], SCSI_B2_LBPU);
	assert_int_equal(out[6], SCSI_B2_TYPE_THIN);
	/* Without hole punching: no thin provisioning pages, no serial. */
	d.unmap = false;
	d.serial_len = 0;
	make_disk(&d);
	vpd(0x00, 255);
	expect_vpd(0x00, 2);
	assert_memory_equal(out + 4, "\x00\x83", 2);
	for (uint8_t p = 0xB0; p <= 0xB2; p++) {
		vpd(p, 255);
		expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	}
	vpd(0x80, 255);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
}

static void test_vpd_big_disk(void **state)
{
	struct scsi_disk_desc d = desc_default();

	(void)state;
	d.block_size = 4096;
	d.block_count = 3ull << 32; /* 48 TiB */
	d.max_xfer = 0;
	make_disk(&d);
	vpd(0xB2, 255);
	assert_int_equal(out[4], 2); /* (3 << 32) >> 2 < 2^32 */
	vpd(0xB0, 255);
	assert_int_equal(be64(out + 36), (8u << 20) / 4096);
}

/* ---- READ CAPACITY ---- */

static void test_read_capacity(void **state)
{
	uint8_t c10[10] = {SCSI_OP_READ_CAPACITY10};
	uint8_t c16[16] = {SCSI_OP_SERVICE_ACTION_IN16, SCSI_SA_READ_CAPACITY16};

	(void)state;
	RUN_IN(c10, 8);
	expect_good(8);
	assert_int_equal(be32(out), BLOCKS - 1);
	assert_int_equal(be32(out + 4), 512);
	assert_int_equal(run(c10, 10, SCSI_DIR_IN, 4), VMB_OK);
	expect_cc(SCSI_SRB_DATA_OVERRUN, SCSI_SK_ILLEGAL_REQUEST,
		     SCSI_ASC_INVALID_FIELD_CDB, 0);
	c10[5] = 1; /* LBA without PMI */
	RUN_IN(c10, 8);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c10[8] = SCSI_RC_PMI;
	RUN_IN(c10, 8);
	expect_good(8);
	c16[13] = 32;
	RUN_IN(c16, 32);
	expect_good(32);
	assert_int_equal(be64(out), BLOCKS - 1);
	assert_int_equal(be32(out + 8), 512);
	assert_int_equal(out[14], SCSI_RC16_LBPME);
	c16[13] = 12;
	RUN_IN(c16, 32);
	expect_good(12);
	c16[13] = 32;
	c16[9] = 1;
	RUN_IN(c16, 32);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c16[9] = 0;
	c16[1] = 0x12; /* GET LBA STATUS */
	RUN_IN(c16, 32);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
}

static void test_read_capacity_large(void **state)
{
	struct scsi_disk_desc d = desc_default();
	uint8_t c10[10] = {SCSI_OP_READ_CAPACITY10};
	uint8_t c16[16] = {SCSI_OP_SERVICE_ACTION_IN16, SCSI_SA_READ_CAPACITY16,
			   [13] = 32};

	(void)state;
	d.block_size = 4096;
	d.block_count = (1ull << 32) + 5;
	d.unmap = false;
	make_disk(&d);
	RUN_IN(c10, 8);
	assert_int_equal(be32(out), UINT32_MAX);
	assert_int_equal(be32(out + 4), 4096);
	RUN_IN(c16, 32);
	assert_int_equal(be64(out), (1ull << 32) + 4);
	assert_int_equal(be32(out + 8), 4096);
	assert_int_equal(out[14], 0); /* no LBPME without unmap */
}

/* ---- READ / WRITE ---- */

static void test_rw_bounds(void **state)
{
	uint8_t c[16] = {0};

	(void)state;
	rw10(c, SCSI_OP_READ10, BLOCKS - 1, 1, 0);
	RUN_IN(c, 512);
	expect_io(SCSI_IO_READ, (BLOCKS - 1) * 512ull, 512, 512);
	assert_false(res.io.fua);
	rw10(c, SCSI_OP_READ10, BLOCKS - 1, 2, 0);
	RUN_IN(c, 1024);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	rw10(c, SCSI_OP_READ10, BLOCKS, 1, 0);
	RUN_IN(c, 512);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	rw16(c, SCSI_OP_READ16, UINT64_MAX, 2, 0); /* lba + n wraps */
	RUN_IN(c, 1024);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	rw16(c, SCSI_OP_READ16, 1, UINT32_MAX, 0);
	RUN_IN(c, UINT32_MAX);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(err_count(SCSI_ERR_RANGE), 4);
	/* Zero blocks: GOOD, nothing moved, but the LBA must exist. */
	rw10(c, SCSI_OP_READ10, BLOCKS - 1, 0, 0);
	RUN_IN(c, 512);
	expect_good(0);
	rw10(c, SCSI_OP_WRITE10, BLOCKS, 0, 0);
	RUN_IN(c, 0);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	/* A bigger buffer than needed leaves a residual. */
	rw16(c, SCSI_OP_READ16, 7, 2, 0);
	RUN_IN(c, 4096);
	expect_io(SCSI_IO_READ, 7 * 512, 1024, 1024);
	assert_int_equal(res.residual, 4096 - 1024);
}

static void test_rw_forms(void **state)
{
	uint8_t c6[6] = {SCSI_OP_READ6, 0xE0, 0x01, 0x03, 0, 0};
	uint8_t c12[12] = {SCSI_OP_WRITE12, SCSI_RW_FUA, 0, 0, 0, 9,
			   0, 0, 0, 3, 0, 0};
	uint8_t c[16] = {0};

	(void)state;
	/* READ(6): 21-bit LBA (top bits of byte 1 are not LBA), 0 = 256. */
	RUN_IN(c6, 256 * 512);
	expect_io(SCSI_IO_READ, 0x0103ull * 512, 256 * 512, 256 * 512);
	c6[0] = SCSI_OP_WRITE6;
	c6[1] = c6[2] = 0;
	c6[3] = 4;
	c6[4] = 1;
	assert_int_equal(run(c6, 6, SCSI_DIR_OUT, 512), VMB_OK);
	expect_io(SCSI_IO_WRITE, 4 * 512, 512, 512);
	assert_false(res.io.fua);
	assert_int_equal(run(c12, 12, SCSI_DIR_OUT, 3 * 512), VMB_OK);
	expect_io(SCSI_IO_WRITE, 9 * 512, 3 * 512, 3 * 512);
	assert_true(res.io.fua);
	c12[0] = SCSI_OP_READ12;
	RUN_IN(c12, 3 * 512);
	expect_io(SCSI_IO_READ, 9 * 512, 3 * 512, 3 * 512);
	rw16(c, SCSI_OP_WRITE16, 100, 8, SCSI_RW_FUA);
	assert_int_equal(run(c, 16, SCSI_DIR_OUT, 4096), VMB_OK);
	expect_io(SCSI_IO_WRITE, 100 * 512, 4096, 4096);
	assert_true(res.io.fua);
	rw10(c, SCSI_OP_WRITE10, 1, 1, SCSI_RW_FUA);
	assert_int_equal(run(c, 10, SCSI_DIR_OUT, 512), VMB_OK);
	assert_true(res.io.fua);
}

static void test_rw_refused_fields(void **state)
{
	uint8_t c[16] = {0};

	(void)state;
	rw10(c, SCSI_OP_READ10, 0, 1, 0x20); /* RDPROTECT */
	RUN_IN(c, 512);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	rw10(c, SCSI_OP_READ10, 0, 1, SCSI_RW_RELADR);
	RUN_IN(c, 512);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	rw16(c, SCSI_OP_WRITE16, 0, 1, 0x40); /* WRPROTECT */
	assert_int_equal(run(c, 16, SCSI_DIR_OUT, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	/* Buffer shorter than the blocks, or the wrong direction. */
	rw10(c, SCSI_OP_READ10, 0, 2, 0);
	RUN_IN(c, 1023);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(run(c, 10, SCSI_DIR_OUT, 1024), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	rw10(c, SCSI_OP_WRITE10, 0, 2, 0);
	RUN_IN(c, 1024);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_XFER), 3);
	/* Over max_xfer (1 MiB = 2048 blocks). */
	rw10(c, SCSI_OP_READ10, 0, 2048, 0);
	RUN_IN(c, 1u << 20);
	assert_int_equal(res.kind, SCSI_RES_IO);
	rw16(c, SCSI_OP_READ16, 0, 2049, 0);
	RUN_IN(c, 2049 * 512);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE); /* range comes first */
	assert_int_equal(scsi_disk_resize(&disk, 4096), VMB_OK);
	RUN_NONE(((uint8_t[6]){SCSI_OP_TEST_UNIT_READY}));
	RUN_IN(c, 2049 * 512);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_TOO_LONG), 1);
}

static void test_read_only(void **state)
{
	static const uint8_t writes[] = {SCSI_OP_WRITE10, SCSI_OP_WRITE16,
					 SCSI_OP_WRITE_SAME10,
					 SCSI_OP_WRITE_SAME16};
	struct scsi_disk_desc d = desc_default();
	uint8_t c[16] = {0}, blk[512] = {0};

	(void)state;
	d.read_only = true;
	make_disk(&d);
	for (size_t i = 0; i < sizeof(writes); i++) {
		if (writes[i] == SCSI_OP_WRITE10 ||
		    writes[i] == SCSI_OP_WRITE_SAME10)
			rw10(c, writes[i], 0, 1, 0);
		else
			rw16(c, writes[i], 0, 1, 0);
		assert_int_equal(run_q(0, c, 16, SCSI_DIR_OUT, 512, blk, 512),
				 VMB_OK);
		expect_cc(SCSI_SRB_ERROR, SCSI_SK_DATA_PROTECT,
			     SCSI_ASC_WRITE_PROTECTED, 0);
	}
	memset(c, 0, 6);
	c[0] = SCSI_OP_WRITE6;
	c[4] = 1;
	assert_int_equal(run(c, 6, SCSI_DIR_OUT, 512), VMB_OK);
	expect_cc(SCSI_SRB_ERROR, SCSI_SK_DATA_PROTECT,
		     SCSI_ASC_WRITE_PROTECTED, 0);
	unmap_cdb(c, 24);
	assert_int_equal(run(c, 10, SCSI_DIR_OUT, 24), VMB_OK);
	expect_cc(SCSI_SRB_ERROR, SCSI_SK_DATA_PROTECT,
		     SCSI_ASC_WRITE_PROTECTED, 0);
	assert_int_equal(err_count(SCSI_ERR_READ_ONLY), 6);
	rw10(c, SCSI_OP_READ10, 0, 1, 0);
	RUN_IN(c, 512);
	expect_io(SCSI_IO_READ, 0, 512, 512);
}

/* ---- SYNCHRONIZE CACHE, START STOP UNIT, TEST UNIT READY ---- */

static void test_sync_start_stop(void **state)
{
	uint8_t c[16] = {0}, ss[6] = {SCSI_OP_START_STOP_UNIT};

	(void)state;
	rw10(c, SCSI_OP_SYNC_CACHE10, 10, 0, 0);
	RUN_NONE(c);
	expect_io(SCSI_IO_FLUSH, 10 * 512, (BLOCKS - 10) * 512ull, 0);
	rw16(c, SCSI_OP_SYNC_CACHE16, 0, BLOCKS, 0);
	RUN_NONE(c);
	expect_io(SCSI_IO_FLUSH, 0, BLOCKS * 512ull, 0);
	rw16(c, SCSI_OP_SYNC_CACHE16, 1, BLOCKS, 0);
	RUN_NONE(c);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	rw10(c, SCSI_OP_SYNC_CACHE10, BLOCKS, 0, 0);
	RUN_NONE(c);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	ss[4] = SCSI_SSU_START;
	RUN_NONE(ss);
	expect_good(0);
	ss[4] = 0; /* stop: the cache is flushed */
	RUN_NONE(ss);
	expect_io(SCSI_IO_FLUSH, 0, BLOCKS * 512ull, 0);
	ss[4] = SCSI_SSU_NO_FLUSH;
	RUN_NONE(ss);
	expect_good(0);
	ss[4] = 3 << SCSI_SSU_PC_SHIFT; /* STANDBY */
	RUN_NONE(ss);
	expect_good(0);
	ss[4] = 4 << SCSI_SSU_PC_SHIFT; /* reserved */
	RUN_NONE(ss);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	ss[4] = SCSI_SSU_START;
	ss[1] = SCSI_SSU_IMMED;
	RUN_NONE(ss);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	RUN_NONE(((uint8_t[6]){SCSI_OP_TEST_UNIT_READY}));
	expect_good(0);
	/* No data phase: a buffer is not an error, all of it is residual. */
	assert_int_equal(run(((uint8_t[6]){SCSI_OP_TEST_UNIT_READY}), 6,
			     SCSI_DIR_IN, 100), VMB_OK);
	expect_good(0);
	assert_int_equal(res.residual, 100);
}

/* ---- WRITE SAME ---- */

static void test_write_same(void **state)
{
	uint8_t c[16] = {0}, blk[512] = {0};

	(void)state;
	rw10(c, SCSI_OP_WRITE_SAME10, 5, 10, 0);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_io(SCSI_IO_WRITE_ZEROES, 5 * 512, 10 * 512, 512);
	assert_false(res.io.unmap);
	assert_false(res.io.fua);
	rw16(c, SCSI_OP_WRITE_SAME16, 5, 10, SCSI_WS_UNMAP);
	assert_int_equal(run_q(0, c, 16, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_io(SCSI_IO_WRITE_ZEROES, 5 * 512, 10 * 512, 512);
	assert_true(res.io.unmap);
	blk[100] = 0x5A;
	assert_int_equal(run_q(0, c, 16, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_io(SCSI_IO_WRITE_SAME, 5 * 512, 10 * 512, 512);
	assert_true(pattern_is_param);
	assert_false(res.io.unmap);
	rw16(c, SCSI_OP_WRITE_SAME16, 0, 1, SCSI_WS16_NDOB);
	RUN_NONE(c);
	expect_io(SCSI_IO_WRITE_ZEROES, 0, 512, 0);
	/* Refused: 0 blocks (WSNZ), ANCHOR, beyond the disk, beyond the
	 * WRITE SAME limit (max_xfer, 1 MiB, here). */
	rw10(c, SCSI_OP_WRITE_SAME10, 0, 0, 0);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	rw10(c, SCSI_OP_WRITE_SAME10, 0, 1, SCSI_WS_ANCHOR);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	rw10(c, SCSI_OP_WRITE_SAME10, BLOCKS - 1, 2, 0);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(scsi_disk_resize(&disk, 1u << 20), VMB_OK);
	RUN_NONE(((uint8_t[6]){SCSI_OP_TEST_UNIT_READY}));
	rw16(c, SCSI_OP_WRITE_SAME16, 0, (1u << 20) / 512 + 1, 0);
	assert_int_equal(run_q(0, c, 16, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	/* The block must be in the buffer, and copied by the caller. */
	rw10(c, SCSI_OP_WRITE_SAME10, 0, 1, 0);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, 511, blk, 511), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, 512, blk, 100),
			 VMB_EINVAL);
	assert_int_equal(scsi_param_len(&disk, c, 10), 512);
	assert_int_equal(scsi_param_len(&disk, c, 9), 0);
	assert_int_equal(scsi_param_len(NULL, c, 10), 0);
	c[0] = SCSI_OP_WRITE10;
	assert_int_equal(scsi_param_len(&disk, c, 10), 0);
	c[0] = SCSI_OP_WRITE_SAME16;
	c[1] = SCSI_WS16_NDOB;
	assert_int_equal(scsi_param_len(&disk, c, 16), 0);
	assert_int_equal(scsi_param_len(&disk, c, 10), 0);
}

static void test_write_same_no_unmap(void **state)
{
	struct scsi_disk_desc d = desc_default();
	uint8_t c[16] = {0}, blk[512] = {0};

	(void)state;
	d.unmap = false;
	make_disk(&d);
	rw16(c, SCSI_OP_WRITE_SAME16, 5, 10, SCSI_WS_UNMAP);
	assert_int_equal(run_q(0, c, 16, SCSI_DIR_OUT, 512, blk, 512), VMB_OK);
	expect_io(SCSI_IO_WRITE_ZEROES, 5 * 512, 10 * 512, 512);
	assert_false(res.io.unmap);
	unmap_cdb(c, 24);
	assert_int_equal(run(c, 10, SCSI_DIR_OUT, 24), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_OPCODE);
}

/* ---- UNMAP ---- */

static uint32_t unmap_list(uint8_t *p, const uint64_t (*d)[2], uint32_t n)
{
	uint32_t len = 8 + 16 * n;

	memset(p, 0, len);
	p[0] = (len - 2) >> 8;
	p[1] = (uint8_t)(len - 2);
	p[2] = (16 * n) >> 8;
	p[3] = (uint8_t)(16 * n);
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *e = p + 8 + 16 * i;

		for (int b = 0; b < 8; b++)
			e[b] = (uint8_t)(d[i][0] >> (56 - 8 * b));
		e[8] = d[i][1] >> 24;
		e[9] = d[i][1] >> 16;
		e[10] = d[i][1] >> 8;
		e[11] = (uint8_t)d[i][1];
	}
	return len;
}

static int run_unmap(const uint8_t *p, uint32_t len, uint32_t xfer)
{
	uint8_t c[10];

	unmap_cdb(c, (uint16_t)len);
	return run_q(0, c, 10, SCSI_DIR_OUT, xfer, p,
		     len < xfer ? len : xfer);
}

static void test_unmap_good(void **state)
{
	static const uint64_t d[][2] = {{0, 8}, {100, 0}, {BLOCKS - 1, 1}};
	uint8_t p[64], c[10];
	uint32_t len = unmap_list(p, d, 3);
	struct scsi_stats sum;

	(void)state;
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_io(SCSI_IO_UNMAP, 0, 0, len);
	assert_int_equal(res.io.n_ext, 2);
	assert_ptr_equal(res.io.ext, ext);
	assert_int_equal(ext[0].offset, 0);
	assert_int_equal(ext[0].len, 8 * 512);
	assert_int_equal(ext[1].offset, (BLOCKS - 1) * 512ull);
	assert_int_equal(ext[1].len, 512);
	/* A failed unmap is answered GOOD, as Hyper-V, and counted. */
	assert_int_equal(scsi_disk_complete(&disk, 1, &res, SCSI_IOERR_IO),
			 VMB_OK);
	expect_good(len);
	scsi_disk_stats(&disk, &sum);
	assert_int_equal(sum.unmap_ignored, 1);
	assert_int_equal(sum.io_err[SCSI_IOERR_IO], 1);
	assert_int_equal(sum.cmds[SCSI_CLS_UNMAP], 1);
	/* Only empty descriptors; a parameter list length of 0. */
	assert_int_equal(run_unmap(p, unmap_list(p, d + 1, 1), 24), VMB_OK);
	expect_good(24);
	unmap_cdb(c, 0);
	assert_int_equal(run(c, 10, SCSI_DIR_NONE, 0), VMB_OK);
	expect_good(0);
	assert_int_equal(scsi_param_len(&disk, c, 10), 0);
	/* A descriptor length that is not a multiple of 16: tail ignored. */
	len = unmap_list(p, d, 1);
	p[3] += 4;
	p[1] += 4;
	assert_int_equal(run_unmap(p, len + 4, len + 4), VMB_OK);
	expect_io(SCSI_IO_UNMAP, 0, 0, len + 4);
	assert_int_equal(res.io.n_ext, 1);
}

static void test_unmap_malformed(void **state)
{
	static const uint64_t d[][2] = {{0, 8}, {16, 8}, {32, 8}};
	uint8_t p[64], c[10];
	uint32_t len = unmap_list(p, d, 3);

	(void)state;
	assert_int_equal(run_unmap(p, 5, 5), VMB_OK);
	expect_illegal(SCSI_ASC_PARAM_LIST_LENGTH);
	p[1] += 1; /* UNMAP DATA LENGTH beyond what arrived */
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_illegal(SCSI_ASC_PARAM_LIST_LENGTH);
	p[1] -= 1;
	p[3] += 16; /* descriptors beyond what arrived */
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_illegal(SCSI_ASC_PARAM_LIST_LENGTH);
	p[3] -= 16;
	p[1] -= 1; /* data length short of the descriptors */
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_PARAM);
	p[1] += 1;
	assert_int_equal(err_count(SCSI_ERR_PARAM), 4);
	ext_cap = 2; /* more descriptors than the caller has room for */
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_PARAM);
	ext_cap = SCSI_UNMAP_MAX_DESC;
	p[8 + 16 * 2 + 6] = (BLOCKS - 7) >> 8; /* third: one block over */
	p[8 + 16 * 2 + 7] = (uint8_t)(BLOCKS - 7);
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_illegal(SCSI_ASC_LBA_OUT_OF_RANGE);
	p[8 + 16 * 2 + 6] = 0;
	p[8 + 16 * 2 + 7] = 32;
	assert_int_equal(run_unmap(p, len, len - 1), VMB_OK); /* short buffer */
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_XFER), 1);
	unmap_cdb(c, (uint16_t)len);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, len, p, len - 1),
			 VMB_EINVAL);
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_IN, len, p, len), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c[1] = SCSI_UNMAP_ANCHOR;
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, len, p, len), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	c[1] = 0;
	assert_int_equal(run_q(0, c, 10, SCSI_DIR_OUT, len, p, len), VMB_OK);
	expect_io(SCSI_IO_UNMAP, 0, 0, len);
	assert_int_equal(res.io.n_ext, 3);
	assert_int_equal(scsi_param_len(&disk, c, 10), len);
}

static void test_unmap_lba_total(void **state)
{
	static const uint64_t d[][2] = {{0, UINT32_MAX}, {1ull << 32, 1}};
	struct scsi_disk_desc dd = desc_default();
	uint8_t p[64];
	uint32_t len = unmap_list(p, d, 2);

	(void)state;
	dd.block_count = 1ull << 33;
	make_disk(&dd);
	assert_int_equal(run_unmap(p, len, len), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_PARAM);
	assert_int_equal(run_unmap(p, unmap_list(p, d, 1), 24), VMB_OK);
	expect_io(SCSI_IO_UNMAP, 0, 0, 24);
	assert_int_equal(ext[0].len, (uint64_t)UINT32_MAX * 512);
}

/* ---- MODE SENSE ---- */

static void mode_sense(bool ten, uint8_t b1, uint8_t pcpage, uint8_t sub,
		       uint16_t alloc)
{
	uint8_t c[10] = {0};

	c[0] = ten ? SCSI_OP_MODE_SENSE10 : SCSI_OP_MODE_SENSE6;
	c[1] = b1;
	c[2] = pcpage;
	c[3] = sub;
	if (ten) {
		c[7] = alloc >> 8;
		c[8] = (uint8_t)alloc;
	} else {
		c[4] = (uint8_t)alloc;
	}
	assert_int_equal(run(c, ten ? 10 : 6, SCSI_DIR_IN, alloc), VMB_OK);
}

static void expect_caching(const uint8_t *p, bool wce)
{
	assert_int_equal(p[0], 0x08);
	assert_int_equal(p[1], 0x12);
	assert_int_equal(p[2], wce ? SCSI_CACHING_WCE : 0);
}

static void test_mode_sense6(void **state)
{
	(void)state;
	mode_sense(false, SCSI_MS_DBD, 0x08, 0, 255);
	expect_good(24);
	assert_memory_equal(out, "\x17\x00\x10\x00", 4);
	expect_caching(out + 4, true);
	mode_sense(false, 0, 0x3F, 0, 255); /* with a block descriptor */
	expect_good(32);
	assert_memory_equal(out, "\x1f\x00\x10\x08", 4);
	assert_int_equal(be32(out + 4), BLOCKS);
	assert_memory_equal(out + 9, "\x00\x02\x00", 3);
	expect_caching(out + 12, true);
	mode_sense(false, SCSI_MS_DBD, 0x3F, 0xFF, 255);
	expect_good(24);
	mode_sense(false, SCSI_MS_DBD, 0x08, 0, 4); /* header only */
	expect_good(4);
	assert_int_equal(out[0], 0x17);
	mode_sense(false, SCSI_MS_DBD, 0x08, 0, 0);
	expect_good(0);
	mode_sense(false, SCSI_MS_DBD, 0x48, 0, 255); /* changeable values */
	expect_good(24);
	expect_caching(out + 4, false);
	mode_sense(false, SCSI_MS_DBD, 0x88, 0, 255); /* default values */
	expect_caching(out + 4, true);
	mode_sense(false, SCSI_MS_DBD, 0xC8, 0, 255); /* saved values */
	expect_illegal(SCSI_ASC_SAVING_NOT_SUPPORTED);
	mode_sense(false, SCSI_MS_DBD, 0x0A, 0, 255);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	mode_sense(false, SCSI_MS_DBD, 0x08, 1, 255);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(err_count(SCSI_ERR_PAGE), 3);
}

static void test_mode_sense10(void **state)
{
	struct scsi_disk_desc d = desc_default();

	(void)state;
	mode_sense(true, SCSI_MS_DBD, 0x08, 0, 255);
	expect_good(28);
	assert_memory_equal(out, "\x00\x1a\x00\x10\x00\x00\x00\x00", 8);
	expect_caching(out + 8, true);
	mode_sense(true, SCSI_MS10_LLBAA, 0x3F, 0, 255);
	expect_good(44);
	assert_memory_equal(out, "\x00\x2a\x00\x10\x01\x00\x00\x10", 8);
	assert_int_equal(be64(out + 8), BLOCKS);
	assert_int_equal(be32(out + 20), 512);
	expect_caching(out + 24, true);
	mode_sense(true, 0, 0x08, 0, 255);
	expect_good(36);
	assert_int_equal(out[4], 0);
	assert_int_equal(out[7], 8);
	d.read_only = true;
	d.write_cache = false;
	make_disk(&d);
	mode_sense(true, SCSI_MS_DBD, 0x08, 0, 255);
	assert_int_equal(out[3], SCSI_DSP_WP | SCSI_DSP_DPOFUA);
	expect_caching(out + 8, false);
	mode_sense(false, SCSI_MS_DBD, 0x3F, 0, 255);
	assert_int_equal(out[2], SCSI_DSP_WP | SCSI_DSP_DPOFUA);
}

/* ---- REPORT LUNS, REQUEST SENSE ---- */

static void report_luns(uint8_t sel, uint32_t alloc)
{
	uint8_t c[12] = {SCSI_OP_REPORT_LUNS, 0, sel};

	c[6] = alloc >> 24;
	c[7] = alloc >> 16;
	c[8] = alloc >> 8;
	c[9] = (uint8_t)alloc;
	RUN_IN(c, alloc);
}

static void test_report_luns(void **state)
{
	static const uint8_t want[] = {0, 0, 0, 24, 0, 0, 0, 0,
				       0, 0, 0, 0, 0, 0, 0, 0,
				       0, 3, 0, 0, 0, 0, 0, 0,
				       0, 200, 0, 0, 0, 0, 0, 0};

	(void)state;
	report_luns(0, 4096); /* sorted, each once */
	expect_good(sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	report_luns(2, 16);
	expect_good(16);
	assert_memory_equal(out, want, 16);
	report_luns(1, 16); /* well-known LUNs: none */
	expect_good(8);
	assert_memory_equal(out, "\0\0\0\0\0\0\0\0", 8);
	report_luns(0, 15);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	report_luns(3, 64);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
}

static void test_request_sense(void **state)
{
	uint8_t c[6] = {SCSI_OP_REQUEST_SENSE, 0, 0, 0, 252, 0};

	(void)state;
	RUN_IN(c, 252);
	expect_good(SCSI_SENSE_LEN);
	expect_sense_bytes(out, SCSI_SK_NO_SENSE, 0, 0);
	c[4] = 8;
	RUN_IN(c, 252);
	expect_good(8);
	c[1] = SCSI_RS_DESC;
	RUN_IN(c, 252);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	/* A buffer for data-out is refused before a unit attention is
	 * claimed: the attention stays for the next command. */
	c[1] = 0;
	assert_int_equal(scsi_disk_resize(&disk, BLOCKS + 8), VMB_OK);
	assert_int_equal(run(c, 6, SCSI_DIR_OUT, 252), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	RUN_IN(c, 252);
	expect_good(8);
	expect_sense_bytes(out, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_PARAMS_CHANGED,
			   SCSI_ASCQ_CAPACITY_CHANGED);
}

/* ---- unit attention ---- */

static void expect_ua(void)
{
	expect_cc(SCSI_SRB_ERROR, SCSI_SK_UNIT_ATTENTION,
		     SCSI_ASC_PARAMS_CHANGED, SCSI_ASCQ_CAPACITY_CHANGED);
}

static void test_unit_attention(void **state)
{
	uint8_t tur[6] = {SCSI_OP_TEST_UNIT_READY}, inq[6], rc[10] = {0x25};
	uint8_t rs[6] = {SCSI_OP_REQUEST_SENSE, 0, 0, 0, 18, 0};

	(void)state;
	inquiry(inq, 0, 0, 36);
	assert_int_equal(scsi_disk_resize(&disk, BLOCKS), VMB_OK);
	RUN_NONE(tur);
	expect_good(0); /* same size: no attention */
	assert_int_equal(scsi_disk_resize(&disk, BLOCKS * 2), VMB_OK);
	RUN_IN(inq, 36);
	expect_good(36);
	report_luns(0, 64);
	expect_good(8 + 3 * 8);
	RUN_NONE(tur);
	expect_ua();
	assert_int_equal(err_count(SCSI_ERR_UA), 1);
	RUN_NONE(tur);
	expect_good(0);
	RUN_IN(rc, 8);
	assert_int_equal(be32(out), BLOCKS * 2 - 1);
	assert_int_equal(scsi_disk_blocks(&disk), BLOCKS * 2);
	/* REQUEST SENSE takes it as its data, once. */
	assert_int_equal(scsi_disk_resize(&disk, BLOCKS), VMB_OK);
	RUN_IN(rs, 18);
	expect_good(18);
	expect_sense_bytes(out, SCSI_SK_UNIT_ATTENTION, SCSI_ASC_PARAMS_CHANGED,
			   SCSI_ASCQ_CAPACITY_CHANGED);
	RUN_NONE(tur);
	expect_good(0);
	RUN_IN(rs, 18);
	expect_sense_bytes(out, SCSI_SK_NO_SENSE, 0, 0);
	/* Reported ahead of an unsupported operation code. */
	assert_int_equal(scsi_disk_resize(&disk, BLOCKS + 1), VMB_OK);
	RUN_NONE(((uint8_t[10]){0x2F}));
	expect_ua();
	RUN_NONE(((uint8_t[10]){0x2F}));
	expect_illegal(SCSI_ASC_INVALID_OPCODE);
}

struct ua_race {
	pthread_barrier_t *go;
	uint32_t q;
	int rc;
	int ua;
};

static void *ua_racer(void *arg)
{
	struct ua_race *r = arg;
	uint8_t tur[6] = {SCSI_OP_TEST_UNIT_READY};
	uint8_t o[SCSI_RESP_MAX];
	struct scsi_cmd cmd = {.cdb = tur, .cdb_len = 6, .out = o};
	struct scsi_result rr;

	pthread_barrier_wait(r->go);
	r->rc = scsi_disk_exec(&disk, r->q, &cmd, &rr);
	r->ua = rr.status == SCSI_ST_CHECK_CONDITION;
	return NULL;
}

/* Queues on several threads: each attention reaches exactly one. */
static void test_unit_attention_once(void **state)
{
	pthread_barrier_t go;
	struct ua_race r[NQ];
	pthread_t t[NQ];

	(void)state;
	pthread_barrier_init(&go, NULL, NQ);
	for (int round = 0; round < 200; round++) {
		int n = 0;

		assert_int_equal(scsi_disk_resize(&disk, BLOCKS + 1 +
						  (round & 1)), VMB_OK);
		for (uint32_t i = 0; i < NQ; i++) {
			r[i] = (struct ua_race){&go, i, -1, 0};
			assert_int_equal(pthread_create(&t[i], NULL, ua_racer,
							&r[i]), 0);
		}
		for (uint32_t i = 0; i < NQ; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(r[i].rc, VMB_OK);
			n += r[i].ua;
		}
		assert_int_equal(n, 1);
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(err_count(SCSI_ERR_UA), 200);
}

/* ---- LUNs with no disk ---- */

static int absent(uint8_t lun, const uint8_t *cdb, uint32_t len,
		  uint8_t dir, uint32_t xfer, struct scsi_stats *st)
{
	struct scsi_cmd cmd = {
		.cdb = cdb, .cdb_len = len, .dir = dir, .xfer_len = xfer,
		.luns = lun_list, .nluns = sizeof(lun_list), .out = out,
	};

	return scsi_target_absent(st, lun, &cmd, &res);
}

static void test_absent_lun(void **state)
{
	struct scsi_stats st = {0};
	uint8_t c[16] = {0};

	(void)state;
	inquiry(c, 0, 0, 36);
	assert_int_equal(absent(0, c, 6, SCSI_DIR_IN, 36, &st), VMB_OK);
	expect_good(36);
	assert_int_equal(out[0], SCSI_PERIPH_NO_LUN);
	assert_int_equal(out[7], 0);
	assert_memory_equal(out + 8, "Msft    Virtual Disk    1.0 ", 28);
	assert_int_equal(absent(5, c, 6, SCSI_DIR_IN, 36, &st), VMB_OK);
	expect_good(36);
	assert_int_equal(out[0], 0x7F);
	assert_memory_equal(out + 8, "\0\0\0\0\0\0\0\0", 8);
	assert_int_equal(absent(5, c, 6, SCSI_DIR_IN, 35, &st), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(absent(5, c, 6, SCSI_DIR_OUT, 36, &st), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	inquiry(c, 0, 0, 4);
	assert_int_equal(absent(5, c, 6, SCSI_DIR_IN, 36, &st), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	inquiry(c, SCSI_INQ_EVPD, 0x83, 36);
	assert_int_equal(absent(5, c, 6, SCSI_DIR_IN, 36, &st), VMB_OK);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	memset(c, 0, sizeof(c));
	c[0] = SCSI_OP_REPORT_LUNS;
	c[9] = 64;
	assert_int_equal(absent(7, c, 12, SCSI_DIR_IN, 64, &st), VMB_OK);
	expect_good(32);
	assert_int_equal(out[3], 24);
	rw10(c, SCSI_OP_READ10, 0, 1, 0);
	assert_int_equal(absent(7, c, 10, SCSI_DIR_IN, 512, &st), VMB_OK);
	assert_int_equal(res.kind, SCSI_RES_DONE);
	assert_int_equal(res.status, SCSI_ST_CHECK_CONDITION);
	assert_int_equal(res.srb_status, SCSI_SRB_INVALID_LUN);
	assert_int_equal(res.sense_len, 0);
	assert_int_equal(res.data_len, 0);
	assert_int_equal(absent(7, c, 0, SCSI_DIR_IN, 512, &st), VMB_OK);
	assert_int_equal(res.srb_status, SCSI_SRB_INVALID_LUN);
	assert_int_equal(st.err[SCSI_ERR_ABSENT], 2);
	assert_int_equal(st.cmds[SCSI_CLS_INQUIRY], 6);
	assert_int_equal(st.cmds[SCSI_CLS_REPORT_LUNS], 1);
	assert_int_equal(absent(7, c, 10, SCSI_DIR_IN, 512, NULL), VMB_EINVAL);
	assert_int_equal(scsi_target_absent(&st, 7, NULL, &res), VMB_EINVAL);
	assert_int_equal(scsi_target_absent(&st, 7, NULL, NULL), VMB_EINVAL);
}

/* ---- completion ---- */

struct ioerr_case {
	enum scsi_ioerr err;
	uint8_t status, srb, key, asc, ascq;
};

static void test_completion_errors(void **state)
{
	static const struct ioerr_case cases[] = {
		{SCSI_IOERR_IO, 2, SCSI_SRB_ERROR, 0x3, 0x00, 0},
		{SCSI_IOERR_READ, 2, SCSI_SRB_ERROR, 0x3, 0x11, 0},
		{SCSI_IOERR_WRITE, 2, SCSI_SRB_ERROR, 0x3, 0x0C, 0},
		{SCSI_IOERR_NOSPACE, 2, SCSI_SRB_ERROR, 0x7, 0x27, 7},
		{SCSI_IOERR_READONLY, 2, SCSI_SRB_ERROR, 0x7, 0x27, 0},
		{SCSI_IOERR_RANGE, 2, SCSI_SRB_ERROR, 0x5, 0x21, 0},
		{SCSI_IOERR_MEMORY, 2, SCSI_SRB_INVALID_REQUEST, 0x5, 0x24, 0},
		{SCSI_IOERR_ABORTED, 0x40, SCSI_SRB_ABORTED, 0xB, 0x00, 0},
	};
	struct scsi_stats sum;
	uint8_t c[10];

	(void)state;
	rw10(c, SCSI_OP_READ10, 0, 4, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		RUN_IN(c, 4096);
		assert_int_equal(scsi_disk_complete(&disk, 2, &res,
						    cases[i].err), VMB_OK);
		assert_int_equal(res.status, cases[i].status);
		if (cases[i].status == SCSI_ST_CHECK_CONDITION)
			expect_cc(cases[i].srb, cases[i].key, cases[i].asc,
				     cases[i].ascq);
		assert_int_equal(res.srb_status, cases[i].srb);
		assert_int_equal(res.sense_len, SCSI_SENSE_LEN);
		expect_sense_bytes(res.sense, cases[i].key, cases[i].asc,
				   cases[i].ascq);
		assert_int_equal(res.data_len, 0);
		assert_int_equal(res.residual, 4096);
	}
	RUN_IN(c, 4096);
	assert_int_equal(scsi_disk_complete(&disk, 2, &res, SCSI_IOERR_BUSY),
			 VMB_OK);
	assert_int_equal(res.status, SCSI_ST_BUSY);
	assert_int_equal(res.srb_status, SCSI_SRB_BUSY);
	assert_int_equal(res.sense_len, 0);
	RUN_IN(c, 4096);
	assert_int_equal(scsi_disk_complete(&disk, 2, &res, SCSI_IOERR_NONE),
			 VMB_OK);
	expect_good(2048);
	assert_int_equal(scsi_disk_complete(&disk, 2, &res, SCSI_IOERR_NONE),
			 VMB_EINVAL); /* already done */
	rw10(c, SCSI_OP_WRITE10, 0, 2, 0);
	assert_int_equal(run(c, 10, SCSI_DIR_OUT, 1024), VMB_OK);
	assert_int_equal(scsi_disk_complete(&disk, 2, &res, SCSI_IOERR__COUNT),
			 VMB_EINVAL);
	assert_int_equal(scsi_disk_complete(&disk, NQ, &res, SCSI_IOERR_NONE),
			 VMB_EINVAL);
	assert_int_equal(scsi_disk_complete(&disk, 3, &res, SCSI_IOERR_NONE),
			 VMB_OK);
	scsi_disk_stats(&disk, &sum);
	assert_int_equal(sum.bytes_read, 2048);
	assert_int_equal(sum.bytes_written, 1024);
	assert_int_equal(sum.io_err[SCSI_IOERR_NONE], 2);
	assert_int_equal(sum.io_err[SCSI_IOERR_NOSPACE], 1);
	assert_int_equal(sum.cmds[SCSI_CLS_READ], 10);
	assert_int_equal(sum.cmds[SCSI_CLS_WRITE], 1);
	assert_int_equal(stats[2].cmds[SCSI_CLS_READ], 0); /* ran on queue 0 */
	assert_int_equal(stats[2].io_err[SCSI_IOERR_NONE], 1);
}

static void test_4k_disk(void **state)
{
	struct scsi_disk_desc d = desc_default();
	uint8_t c[10];

	(void)state;
	d.block_size = 4096;
	d.block_count = 256;
	make_disk(&d);
	rw10(c, SCSI_OP_READ10, 255, 1, 0);
	RUN_IN(c, 4096);
	expect_io(SCSI_IO_READ, 255 * 4096ull, 4096, 4096);
	rw10(c, SCSI_OP_READ10, 255, 1, 0);
	RUN_IN(c, 4095);
	expect_illegal(SCSI_ASC_INVALID_FIELD_CDB);
	assert_int_equal(scsi_param_len(&disk, (uint8_t[10]){0x41}, 10), 4096);
}

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < SCSI_CLS__COUNT; i++)
		assert_string_not_equal(scsi_cls_name(i), "?");
	for (int i = 0; i < SCSI_ERR__COUNT; i++)
		assert_string_not_equal(scsi_err_name(i), "?");
	for (int i = 0; i < SCSI_IOERR__COUNT; i++)
		assert_string_not_equal(scsi_ioerr_name(i), "?");
	assert_string_equal(scsi_cls_name(SCSI_CLS__COUNT), "?");
	assert_string_equal(scsi_err_name(SCSI_ERR__COUNT), "?");
	assert_string_equal(scsi_ioerr_name(SCSI_IOERR__COUNT), "?");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_checks),
		T(test_cdb_length_and_opcodes),
		T(test_bad_calls),
		T(test_inquiry_standard),
		T(test_vpd_pages),
		T(test_vpd_thin),
		T(test_vpd_big_disk),
		T(test_read_capacity),
		T(test_read_capacity_large),
		T(test_rw_bounds),
		T(test_rw_forms),
		T(test_rw_refused_fields),
		T(test_read_only),
		T(test_sync_start_stop),
		T(test_write_same),
		T(test_write_same_no_unmap),
		T(test_unmap_good),
		T(test_unmap_malformed),
		T(test_unmap_lba_total),
		T(test_mode_sense6),
		T(test_mode_sense10),
		T(test_report_luns),
		T(test_request_sense),
		T(test_unit_attention),
		T(test_unit_attention_once),
		T(test_absent_lun),
		T(test_completion_errors),
		T(test_4k_disk),
		T(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
