/* Commands that become backend I/O: READ/WRITE 6/10/12/16, SYNCHRONIZE
 * CACHE, START STOP UNIT, WRITE SAME, UNMAP. Each checks its CDB, the LBA
 * range against this command's capacity, write protection, the length
 * limits and the SRB buffer, in that order, then hands out one I/O whose
 * byte range lies inside the disk. */
#include "scsi_priv.h"

static bool range_ok(const struct scsi_ctx *c, uint64_t lba, uint64_t n)
{
	return lba < c->blocks && n <= c->blocks - lba;
}

static int out_of_range(struct scsi_ctx *c)
{
	return scsi_illegal(c, SCSI_ERR_RANGE, SCSI_ASC_LBA_OUT_OF_RANGE);
}

static int bad_cdb(struct scsi_ctx *c)
{
	return scsi_illegal(c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
}

/* Hyper-V: DATA PROTECT / WRITE PROTECTED with SRB status ERROR. */
static int write_protected(struct scsi_ctx *c)
{
	return scsi_fail(c, SCSI_ERR_READ_ONLY, SCSI_SRB_ERROR,
			 SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED, 0);
}

/* The SRB's buffer must hold bytes moving in direction dir. A shorter
 * buffer is a field the CDB got wrong for this request: INVALID FIELD IN
 * CDB (Hyper-V says LBA OUT OF RANGE for reads and writes; no guest sends
 * either). */
static bool buffer_ok(const struct scsi_ctx *c, uint64_t bytes, uint8_t dir)
{
	return bytes <= c->cmd->xfer_len && (!bytes || c->cmd->dir == dir);
}

static int bad_buffer(struct scsi_ctx *c)
{
	return scsi_illegal(c, SCSI_ERR_XFER, SCSI_ASC_INVALID_FIELD_CDB);
}

/* An I/O over blocks [lba, lba + n) that uses moved bytes of the request's
 * buffer when it succeeds. */
static int start_io(struct scsi_ctx *c, enum scsi_io_op op, uint64_t lba,
		    uint64_t n, uint32_t moved)
{
	struct scsi_result *r = c->res;

	r->kind = SCSI_RES_IO;
	r->io.op = op;
	r->io.offset = lba << c->d->block_shift;
	r->io.len = n << c->d->block_shift;
	r->data_len = moved;
	r->residual = r->xfer_len - moved;
	return VMB_OK;
}

/* ---- READ / WRITE ---- */

struct rw_args {
	uint64_t lba;
	uint32_t blocks;
	uint8_t flags; /* byte 1 of the 10/12/16-byte forms */
};

/* False for fields this target refuses: protection information (it has
 * none) and the obsolete RELADR of the 10- and 12-byte forms
 * (refused by Hyper-V). READ/WRITE(6) has neither; its length 0 means
 * 256 blocks (SBC-3; Hyper-V refuses it instead). */
static bool rw_decode(const uint8_t *cdb, struct rw_args *a)
{
	a->flags = cdb[1];
	switch (scsi_cdb_group_len(cdb[0])) {
	case 6:
		a->lba = scsi_be24(cdb + 1) & SCSI_RW6_LBA_MASK;
		a->blocks = cdb[4] ? cdb[4] : SCSI_RW6_ZERO_LEN;
		a->flags = 0;
		return true;
	case 10:
		a->lba = scsi_be32(cdb + 2);
		a->blocks = scsi_be16(cdb + 7);
		break;
	case 12:
		a->lba = scsi_be32(cdb + 2);
		a->blocks = scsi_be32(cdb + 6);
		break;
	default:
		a->lba = scsi_be64(cdb + 2);
		a->blocks = scsi_be32(cdb + 10);
		return !(a->flags & SCSI_RW_PROTECT_MASK);
	}
	return !(a->flags & (SCSI_RW_PROTECT_MASK | SCSI_RW_RELADR));
}

static bool is_write(uint8_t op)
{
	return op == SCSI_OP_WRITE6 || op == SCSI_OP_WRITE10 ||
	       op == SCSI_OP_WRITE12 || op == SCSI_OP_WRITE16;
}

/* A transfer length of 0 moves nothing and is no error (SBC-3;
 * Hyper-V refuses it), but its LBA must still lie inside the disk. */
int scsi_h_rw(struct scsi_ctx *c)
{
	bool write = is_write(c->cdb[0]);
	struct rw_args a;
	uint64_t bytes;

	if (!rw_decode(c->cdb, &a))
		return bad_cdb(c);
	if (!range_ok(c, a.lba, a.blocks))
		return out_of_range(c);
	if (write && c->d->desc.read_only)
		return write_protected(c);
	if (!a.blocks)
		return scsi_good(c);
	bytes = (uint64_t)a.blocks << c->d->block_shift;
	if (c->d->desc.max_xfer && bytes > c->d->desc.max_xfer)
		return scsi_illegal(c, SCSI_ERR_TOO_LONG,
				    SCSI_ASC_INVALID_FIELD_CDB);
	if (!buffer_ok(c, bytes, write ? SCSI_DIR_OUT : SCSI_DIR_IN))
		return bad_buffer(c);
	c->res->io.fua = a.flags & SCSI_RW_FUA;
	return start_io(c, write ? SCSI_IO_WRITE : SCSI_IO_READ, a.lba,
			a.blocks, (uint32_t)bytes);
}

/* ---- SYNCHRONIZE CACHE, START STOP UNIT ---- */

/* The range is checked as SBC-3 asks (0 blocks: to the last LBA); the
 * FLUSH carries it, though flushing everything is what Hyper-V does.
 * IMMED (GOOD before the flush ends) is answered after it instead, which
 * no initiator can tell from a quick flush. */
int scsi_h_sync_cache(struct scsi_ctx *c)
{
	const uint8_t *cdb = c->cdb;
	bool sixteen = cdb[0] == SCSI_OP_SYNC_CACHE16;
	uint64_t lba = sixteen ? scsi_be64(cdb + 2) : scsi_be32(cdb + 2);
	uint64_t n = sixteen ? scsi_be32(cdb + 10) : scsi_be16(cdb + 7);

	if (lba >= c->blocks)
		return out_of_range(c);
	if (!n)
		n = c->blocks - lba;
	if (!range_ok(c, lba, n))
		return out_of_range(c);
	return start_io(c, SCSI_IO_FLUSH, lba, n, 0);
}

/* SBC-3 power conditions: START_VALID, ACTIVE, IDLE, STANDBY,
 * LU_CONTROL, FORCE_IDLE_0, FORCE_STANDBY_0; the others are reserved. */
static bool power_condition_ok(uint8_t pc)
{
	return pc <= 3 || pc == 7 || pc == 0xA || pc == 0xB;
}

/* As Hyper-V: IMMED is refused, a stop flushes the write cache (unless
 * NO_FLUSH), a start does nothing, LOEJ is ignored (the medium of a
 * virtual disk cannot leave it). Power conditions are accepted and need
 * nothing. */
int scsi_h_start_stop(struct scsi_ctx *c)
{
	uint8_t b4 = c->cdb[4], pc = b4 >> SCSI_SSU_PC_SHIFT;

	if ((c->cdb[1] & SCSI_SSU_IMMED) || !power_condition_ok(pc))
		return bad_cdb(c);
	if (pc || (b4 & (SCSI_SSU_START | SCSI_SSU_NO_FLUSH)))
		return scsi_good(c);
	return start_io(c, SCSI_IO_FLUSH, 0, c->blocks, 0);
}

/* ---- WRITE SAME ---- */

static bool all_zero(const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (p[i])
			return false;
	}
	return true;
}

/* Fields refused: protection information, ANCHOR (ANC_SUP is 0),
 * PBDATA/LBDATA, the 10-byte form's RELADR. 0 blocks ("to the end of
 * the medium") is refused too, as VPD 0xB0's WSNZ says. */
static bool ws_fields_ok(const uint8_t *cdb, uint64_t n)
{
	uint8_t bad = SCSI_RW_PROTECT_MASK | SCSI_WS_ANCHOR | SCSI_WS_PBDATA |
		      SCSI_WS_LBDATA;

	if (cdb[0] == SCSI_OP_WRITE_SAME10)
		bad |= SCSI_WS10_RELADR;
	return n && !(cdb[1] & bad);
}

/* The block to repeat is the caller's copy (NDOB: none, zeros). A zero
 * block becomes WRITE_ZEROES, which may deallocate when the UNMAP bit
 * asks for it and the backend can: SBC-3 lets a device server unmap
 * only when the blocks then read back as the data written, which holes
 * punched in a file do (they read as zeros). WRITE SAME has no FUA bit
 * (bit 3 is UNMAP). */
static int ws_start(struct scsi_ctx *c, uint64_t lba, uint64_t n, bool ndob)
{
	uint32_t bs = c->d->desc.block_size;

	if (ndob || all_zero(c->cmd->param, bs)) {
		c->res->io.unmap = (c->cdb[1] & SCSI_WS_UNMAP) && c->d->desc.unmap;
		return start_io(c, SCSI_IO_WRITE_ZEROES, lba, n, ndob ? 0 : bs);
	}
	c->res->io.pattern = c->cmd->param;
	return start_io(c, SCSI_IO_WRITE_SAME, lba, n, bs);
}

int scsi_h_write_same(struct scsi_ctx *c)
{
	const uint8_t *cdb = c->cdb;
	bool sixteen = cdb[0] == SCSI_OP_WRITE_SAME16;
	bool ndob = sixteen && (cdb[1] & SCSI_WS16_NDOB);
	uint64_t lba = sixteen ? scsi_be64(cdb + 2) : scsi_be32(cdb + 2);
	uint64_t n = sixteen ? scsi_be32(cdb + 10) : scsi_be16(cdb + 7);
	uint32_t bs = c->d->desc.block_size;

	if (!ws_fields_ok(cdb, n))
		return bad_cdb(c);
	if (!range_ok(c, lba, n))
		return out_of_range(c);
	if (c->d->desc.read_only)
		return write_protected(c);
	if (n > scsi_ws_max_blocks(c->d))
		return scsi_illegal(c, SCSI_ERR_TOO_LONG,
				    SCSI_ASC_INVALID_FIELD_CDB);
	if (!ndob && !buffer_ok(c, bs, SCSI_DIR_OUT))
		return bad_buffer(c);
	if (!ndob && c->cmd->param_len < bs)
		return scsi_refuse_call(c->res);
	return ws_start(c, lba, n, ndob);
}

/* ---- UNMAP ---- */

static int bad_param(struct scsi_ctx *c, uint8_t asc)
{
	return scsi_illegal(c, SCSI_ERR_PARAM, asc);
}

/* The descriptors into cmd->ext as byte extents, empty ones dropped
 * (SBC-3: 0 blocks is no error). Each must lie inside the disk;
 * together they may cover MAXIMUM UNMAP LBA COUNT blocks. False when
 * refused (res says why). */
static bool unmap_extents(struct scsi_ctx *c, uint32_t n, uint32_t *n_ext)
{
	const struct scsi_unmap_desc *u = (const struct scsi_unmap_desc *)
		(c->cmd->param + sizeof(struct scsi_unmap_hdr));
	uint8_t shift = c->d->block_shift;
	uint64_t total = 0;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t lba = scsi_be64(u[i].lba), cnt = scsi_be32(u[i].blocks);

		if (!cnt)
			continue;
		total += cnt;
		if (!range_ok(c, lba, cnt)) {
			out_of_range(c);
			return false;
		}
		if (total > UINT32_MAX) {
			bad_param(c, SCSI_ASC_INVALID_FIELD_PARAM);
			return false;
		}
		c->cmd->ext[k].offset = lba << shift;
		c->cmd->ext[k++].len = cnt << shift;
	}
	*n_ext = k;
	return true;
}

/* The header against what arrived (len bytes): both lengths must fit in
 * it (else PARAMETER LIST LENGTH ERROR) and agree with each other; a
 * descriptor length that is not a multiple of 16 has its tail ignored
 * (SBC-3); more descriptors than VPD 0xB0 allows (or cmd->ext
 * holds) are INVALID FIELD IN PARAMETER LIST. */
static bool unmap_list(struct scsi_ctx *c, uint32_t len, uint32_t *n_ext)
{
	const struct scsi_unmap_hdr *h =
		(const struct scsi_unmap_hdr *)c->cmd->param;
	uint32_t data_len = scsi_be16(h->data_len);
	uint32_t bd_len = scsi_be16(h->bd_len);
	uint32_t n = bd_len / sizeof(struct scsi_unmap_desc);
	uint32_t cap = c->cmd->ext_cap < SCSI_UNMAP_MAX_DESC
			       ? c->cmd->ext_cap : SCSI_UNMAP_MAX_DESC;

	uint8_t asc = 0;

	if (data_len + 2 > len || bd_len + sizeof(*h) > len)
		asc = SCSI_ASC_PARAM_LIST_LENGTH;
	else if (data_len < bd_len + sizeof(*h) - 2 || n > cap)
		asc = SCSI_ASC_INVALID_FIELD_PARAM;
	if (asc) {
		bad_param(c, asc);
		return false;
	}
	return unmap_extents(c, n, n_ext);
}

/* Without a backend that deallocates there is no UNMAP (LBPU is 0), so
 * its operation code is unsupported (Hyper-V: INVALID FIELD IN CDB). A
 * parameter list length of 0 is no error; 1-7 is (SBC-3). */
int scsi_h_unmap(struct scsi_ctx *c)
{
	uint32_t len = scsi_be16(c->cdb + 7), n_ext;

	if (!c->d->desc.unmap)
		return scsi_illegal(c, SCSI_ERR_OPCODE, SCSI_ASC_INVALID_OPCODE);
	if (c->cdb[1] & SCSI_UNMAP_ANCHOR)
		return bad_cdb(c);
	if (!len)
		return scsi_good(c);
	if (len < sizeof(struct scsi_unmap_hdr))
		return bad_param(c, SCSI_ASC_PARAM_LIST_LENGTH);
	if (c->d->desc.read_only)
		return write_protected(c);
	if (!buffer_ok(c, len, SCSI_DIR_OUT))
		return bad_buffer(c);
	if (c->cmd->param_len < len)
		return scsi_refuse_call(c->res);
	if (!unmap_list(c, len, &n_ext))
		return VMB_OK;
	if (!n_ext)
		return scsi_done_moved(c, len);
	c->res->io.ext = c->cmd->ext;
	c->res->io.n_ext = n_ext;
	return start_io(c, SCSI_IO_UNMAP, 0, 0, len);
}

/* ---- parameter data ---- */

uint32_t scsi_param_len(const struct scsi_disk *d, const uint8_t *cdb,
			uint32_t cdb_len)
{
	if (!d || !cdb || cdb_len < 1 || cdb_len > SCSI_CDB_MAX ||
	    cdb_len < scsi_cdb_group_len(cdb[0]))
		return 0;
	switch (cdb[0]) {
	case SCSI_OP_UNMAP:
		return scsi_be16(cdb + 7);
	case SCSI_OP_WRITE_SAME10:
		return d->desc.block_size;
	case SCSI_OP_WRITE_SAME16:
		return (cdb[1] & SCSI_WS16_NDOB) ? 0 : d->desc.block_size;
	default:
		return 0;
	}
}
