/* Fuzz the SCSI disk target (core/scsi/scsi_disk.h) as a VSTOR host runs
 * it: a disk description, the SRB's CDB, direction and transfer length,
 * and the data-out bytes the guest's buffer holds. The caller's side of
 * the contract is kept exactly (the parameter copy is min(scsi_param_len,
 * xfer_len) bytes; CDB, copy, extents and answer buffer are exact-size
 * heap blocks so ASan sees any access past them), so the engine must
 * return VMB_OK every time, and its answers must hold:
 * - never more bytes moved than xfer_len, than the CDB's allocation or
 *   parameter list length, or than the answer buffer; residual exact;
 * - sense present exactly for CHECK CONDITION (save INVALID_LUN), fixed
 *   format, well-formed; GOOD always with SRB SUCCESS;
 * - every I/O block aligned and inside the disk, in the SRB's direction,
 *   and its completion (with an error class from the input) as well.
 *
 * Input: [0] flags, [1..8] block count, [9..12] max_xfer, [13] SRB dir,
 * [14..17] xfer_len, [18] cdb_len, [19..34] CDB, [35] completion error
 * class, [36] LUN, then the data-out bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/scsi_disk.h"

#define HDR 37

enum {
	F_4K = 0x01,
	F_RO = 0x02,
	F_WCE = 0x04,
	F_UNMAP = 0x08,
	F_SERIAL = 0x10,
	F_ABSENT = 0x20,
	F_RESIZE = 0x40,
	F_SMALL_EXT = 0x80,
};

static const uint8_t luns[] = {0, 1, 7, 1, 255};

struct input {
	const uint8_t *in;
	uint8_t flags;
	uint8_t dir;
	uint32_t xfer;
	uint32_t cdb_len;
	const uint8_t *cdb16;
	uint8_t err;
	uint8_t lun;
	const uint8_t *data;
	size_t data_len;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void make_desc(const struct input *x, struct scsi_disk_desc *d)
{
	uint64_t count = le64(x->in + 1);

	memset(d, 0, sizeof(*d));
	d->block_size = (x->flags & F_4K) ? 4096 : 512;
	if (!count)
		count = 1;
	if (count > UINT64_MAX / d->block_size)
		count = UINT64_MAX / d->block_size;
	d->block_count = count;
	d->max_xfer = le32(x->in + 9);
	d->read_only = x->flags & F_RO;
	d->write_cache = x->flags & F_WCE;
	d->unmap = x->flags & F_UNMAP;
	d->unmap_gran = x->in[9];
	if (x->flags & F_SERIAL) {
		d->serial_len = 8;
		memcpy(d->serial, "HVIS0001", 8);
	}
	memcpy(d->id, x->in + 1, 8);
}

/* Bytes the CDB lets the engine move at most, by the CDB's own fields. */
static uint64_t cdb_limit(const uint8_t *c, uint32_t block_size)
{
	switch (c[0]) {
	case SCSI_OP_INQUIRY:
		return (uint32_t)c[3] << 8 | c[4];
	case SCSI_OP_REQUEST_SENSE:
	case SCSI_OP_MODE_SENSE6:
		return c[4];
	case SCSI_OP_MODE_SENSE10:
	case SCSI_OP_UNMAP:
		return (uint32_t)c[7] << 8 | c[8];
	case SCSI_OP_READ_CAPACITY10:
		return 8;
	case SCSI_OP_SERVICE_ACTION_IN16:
		return (uint32_t)c[10] << 24 | (uint32_t)c[11] << 16 |
		       (uint32_t)c[12] << 8 | c[13];
	case SCSI_OP_REPORT_LUNS:
		return (uint32_t)c[6] << 24 | (uint32_t)c[7] << 16 |
		       (uint32_t)c[8] << 8 | c[9];
	case SCSI_OP_WRITE_SAME10:
	case SCSI_OP_WRITE_SAME16:
		return block_size;
	default:
		return UINT64_MAX; /* READ/WRITE: checked against io.len */
	}
}

static void check_sense(const struct scsi_result *r)
{
	if (r->status == SCSI_ST_GOOD) {
		if (r->sense_len || r->srb_status != SCSI_SRB_SUCCESS)
			abort();
		return;
	}
	if (r->srb_status == SCSI_SRB_SUCCESS || r->data_len)
		abort();
	if (r->status == SCSI_ST_BUSY ||
	    (r->status == SCSI_ST_CHECK_CONDITION &&
	     r->srb_status == SCSI_SRB_INVALID_LUN)) {
		if (r->sense_len)
			abort();
		return;
	}
	if (r->sense_len != SCSI_SENSE_LEN || r->sense[0] != 0x70 ||
	    r->sense[7] != 10 || (r->sense[2] & 0xF0) || !r->sense[2])
		abort();
}

static void check_done(const struct scsi_result *r)
{
	if (r->kind != SCSI_RES_DONE || r->data_len > r->xfer_len ||
	    r->residual != r->xfer_len - r->data_len)
		abort();
	check_sense(r);
}

/* An answer exec finished itself: data moves only for an accepted CDB
 * (so its fields are readable), from the answer buffer to the initiator,
 * or (UNMAP with nothing to unmap) as its consumed parameter list. */
static void check_answer(const struct scsi_result *r, const struct input *x,
			 const uint8_t *cdb, uint32_t bs)
{
	bool unmap;

	check_done(r);
	if (!r->data_len)
		return;
	unmap = cdb[0] == SCSI_OP_UNMAP;
	if (x->dir != (unmap ? SCSI_DIR_OUT : SCSI_DIR_IN) ||
	    (!unmap && r->data_len > SCSI_RESP_MAX) ||
	    r->data_len > cdb_limit(cdb, bs))
		abort();
}

static void check_extents(const struct scsi_io *io, uint32_t ext_cap,
			  uint64_t bytes, uint32_t bs)
{
	if (!io->n_ext || io->n_ext > ext_cap)
		abort();
	for (uint32_t i = 0; i < io->n_ext; i++) {
		const struct scsi_extent *e = &io->ext[i];

		if (!e->len || e->offset % bs || e->len % bs ||
		    e->offset >= bytes || e->len > bytes - e->offset)
			abort();
	}
}

static void check_io(const struct scsi_result *r, const struct input *x,
		     uint64_t bytes, uint32_t bs, uint32_t ext_cap)
{
	const struct scsi_io *io = &r->io;

	if (r->data_len > r->xfer_len ||
	    r->residual != r->xfer_len - r->data_len)
		abort();
	if (r->data_len &&
	    x->dir != (io->op == SCSI_IO_READ ? SCSI_DIR_IN : SCSI_DIR_OUT))
		abort();
	if (io->op == SCSI_IO_UNMAP) {
		check_extents(io, ext_cap, bytes, bs);
		return;
	}
	if (!io->len || io->offset % bs || io->len % bs ||
	    io->offset >= bytes || io->len > bytes - io->offset)
		abort();
	if ((io->op == SCSI_IO_READ || io->op == SCSI_IO_WRITE) &&
	    io->len != r->data_len)
		abort();
	if (io->op == SCSI_IO_WRITE_SAME && (!io->pattern || r->data_len != bs))
		abort();
}

static struct scsi_stats stats[1];

static void run_disk(const struct input *x, struct scsi_cmd *cmd,
		     const struct scsi_disk_desc *desc)
{
	struct scsi_disk d;
	struct scsi_result r;
	uint64_t bytes;
	uint32_t moved;

	if (scsi_disk_init(&d, desc, stats, 1) != VMB_OK)
		abort();
	if ((x->flags & F_RESIZE) &&
	    scsi_disk_resize(&d, desc->block_count > 1
				     ? desc->block_count - 1 : 2) != VMB_OK)
		abort();
	bytes = d.blocks * (uint64_t)desc->block_size;
	if (scsi_disk_exec(&d, 0, cmd, &r) != VMB_OK)
		abort();
	if (r.kind == SCSI_RES_DONE) {
		check_answer(&r, x, cmd->cdb, desc->block_size);
		return;
	}
	check_io(&r, x, bytes, desc->block_size, cmd->ext_cap);
	moved = r.data_len;
	if (scsi_disk_complete(&d, 0, &r, x->err % SCSI_IOERR__COUNT) != VMB_OK)
		abort();
	check_done(&r);
	if (r.status == SCSI_ST_GOOD && r.data_len != moved)
		abort();
}

static void parse(struct input *x, const uint8_t *in, size_t size)
{
	x->in = in;
	x->flags = in[0];
	x->dir = in[13];
	x->xfer = le32(in + 14);
	x->cdb_len = in[18];
	x->cdb16 = in + 19;
	x->err = in[35];
	x->lun = in[36];
	x->data = in + HDR;
	x->data_len = size - HDR;
}

/* The caller's half of the contract, each buffer of exact size: the CDB
 * as cdb_len bytes, the copy of min(scsi_param_len, xfer_len) data-out
 * bytes (zeros where the input ends), room for the extents and the
 * answer. */
static void make_cmd(const struct input *x, const struct scsi_disk_desc *desc,
		     struct scsi_cmd *cmd)
{
	uint32_t ext_cap = (x->flags & F_SMALL_EXT) ? 2 : SCSI_UNMAP_MAX_DESC;
	uint8_t *cdb = calloc(1, x->cdb_len ? x->cdb_len : 1);
	struct scsi_disk probe;
	uint32_t need;
	uint8_t *param;

	if (!cdb || scsi_disk_init(&probe, desc, stats, 1) != VMB_OK)
		abort();
	memcpy(cdb, x->cdb16, x->cdb_len < 16 ? x->cdb_len : 16);
	need = scsi_param_len(&probe, cdb, x->cdb_len);
	if (need > x->xfer)
		need = x->xfer;
	param = need ? calloc(1, need) : NULL;
	if (need)
		memcpy(param, x->data, need < x->data_len ? need : x->data_len);
	*cmd = (struct scsi_cmd){
		.cdb = cdb, .cdb_len = x->cdb_len, .dir = x->dir,
		.xfer_len = x->xfer, .param = param, .param_len = need,
		.luns = luns, .nluns = sizeof(luns),
		.ext = malloc(ext_cap * sizeof(struct scsi_extent)),
		.ext_cap = ext_cap, .out = malloc(SCSI_RESP_MAX),
	};
	if ((need && !param) || !cmd->ext || !cmd->out)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct scsi_disk_desc desc;
	struct scsi_cmd cmd;
	struct scsi_result r;
	struct input x;

	if (size < HDR)
		return 0;
	parse(&x, in, size);
	make_desc(&x, &desc);
	make_cmd(&x, &desc, &cmd);
	if (x.flags & F_ABSENT) {
		if (scsi_target_absent(stats, x.lun, &cmd, &r) != VMB_OK)
			abort();
		check_answer(&r, &x, cmd.cdb, desc.block_size);
	} else {
		run_disk(&x, &cmd, &desc);
	}
	free((void *)cmd.cdb);
	free((void *)cmd.param);
	free(cmd.ext);
	free(cmd.out);
	return 0;
}
