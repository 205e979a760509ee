/* The SCSI disk engine: description, capacity and unit attention, the
 * dispatch of one CDB, how a command ends, the completion of backend
 * I/O, and LUNs with no disk. The handlers live in scsi_info.c (answers
 * from the description) and scsi_io.c (commands that become I/O). */
#include <stdatomic.h>

#include "scsi_priv.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "capacity load is inline");

/* ---- names and counters ---- */

static const char *const cls_names[SCSI_CLS__COUNT] = {
	[SCSI_CLS_READ] = "read",
	[SCSI_CLS_WRITE] = "write",
	[SCSI_CLS_FLUSH] = "flush",
	[SCSI_CLS_UNMAP] = "unmap",
	[SCSI_CLS_WRITE_SAME] = "write-same",
	[SCSI_CLS_INQUIRY] = "inquiry",
	[SCSI_CLS_CAPACITY] = "capacity",
	[SCSI_CLS_MODE_SENSE] = "mode-sense",
	[SCSI_CLS_REPORT_LUNS] = "report-luns",
	[SCSI_CLS_OTHER] = "other",
};

static const char *const err_names[SCSI_ERR__COUNT] = {
	[SCSI_ERR_CDB] = "bad-cdb",
	[SCSI_ERR_OPCODE] = "bad-opcode",
	[SCSI_ERR_PAGE] = "bad-page",
	[SCSI_ERR_RANGE] = "bad-range",
	[SCSI_ERR_XFER] = "bad-xfer",
	[SCSI_ERR_TOO_LONG] = "too-long",
	[SCSI_ERR_PARAM] = "bad-param",
	[SCSI_ERR_READ_ONLY] = "read-only",
	[SCSI_ERR_UA] = "unit-attention",
	[SCSI_ERR_ABSENT] = "absent-lun",
};

static const char *const ioerr_names[SCSI_IOERR__COUNT] = {
	[SCSI_IOERR_NONE] = "ok",
	[SCSI_IOERR_IO] = "io",
	[SCSI_IOERR_READ] = "read",
	[SCSI_IOERR_WRITE] = "write",
	[SCSI_IOERR_NOSPACE] = "no-space",
	[SCSI_IOERR_READONLY] = "read-only",
	[SCSI_IOERR_RANGE] = "range",
	[SCSI_IOERR_MEMORY] = "memory",
	[SCSI_IOERR_BUSY] = "busy",
	[SCSI_IOERR_ABORTED] = "aborted",
};

const char *scsi_cls_name(enum scsi_cls c)
{
	return (unsigned)c < SCSI_CLS__COUNT ? cls_names[c] : "?";
}

const char *scsi_err_name(enum scsi_err e)
{
	return (unsigned)e < SCSI_ERR__COUNT ? err_names[e] : "?";
}

const char *scsi_ioerr_name(enum scsi_ioerr e)
{
	return (unsigned)e < SCSI_IOERR__COUNT ? ioerr_names[e] : "?";
}

static uint64_t rd(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void add_n(uint64_t *sum, const uint64_t *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sum[i] += rd(&s[i]);
}

void scsi_stats_add(struct scsi_stats *sum, const struct scsi_stats *s)
{
	add_n(sum->cmds, s->cmds, SCSI_CLS__COUNT);
	add_n(sum->err, s->err, SCSI_ERR__COUNT);
	add_n(sum->io_err, s->io_err, SCSI_IOERR__COUNT);
	sum->bytes_read += rd(&s->bytes_read);
	sum->bytes_written += rd(&s->bytes_written);
	sum->unmap_ignored += rd(&s->unmap_ignored);
}

void scsi_disk_stats(const struct scsi_disk *d, struct scsi_stats *sum)
{
	vmb_memset(sum, 0, sizeof(*sum));
	for (uint32_t i = 0; i < d->nq; i++)
		scsi_stats_add(sum, &d->st[i]);
}

/* ---- description and capacity ---- */

/* Byte offsets of every block must fit in 64 bits. */
static bool blocks_ok(uint64_t blocks, uint32_t block_size)
{
	return blocks && blocks <= UINT64_MAX / block_size;
}

/* VPD 0x80 carries ASCII data (SPC-4). */
static bool serial_ok(const struct scsi_disk_desc *desc)
{
	if (desc->serial_len > SCSI_SERIAL_MAX)
		return false;
	for (uint32_t i = 0; i < desc->serial_len; i++) {
		if (desc->serial[i] < 0x20 || desc->serial[i] > 0x7E)
			return false;
	}
	return true;
}

int scsi_disk_init(struct scsi_disk *d, const struct scsi_disk_desc *desc,
		   struct scsi_stats *st, uint32_t nq)
{
	if (!d || !desc || !st || !nq)
		return VMB_EINVAL;
	if (desc->block_size != 512 && desc->block_size != 4096)
		return VMB_EINVAL;
	if (!blocks_ok(desc->block_count, desc->block_size) ||
	    !serial_ok(desc))
		return VMB_EINVAL;
	vmb_memset(d, 0, sizeof(*d));
	d->desc = *desc;
	d->block_shift = desc->block_size == 512 ? 9 : 12;
	atomic_init(&d->blocks, desc->block_count);
	atomic_init(&d->ua, 0);
	d->st = st;
	d->nq = nq;
	return VMB_OK;
}

int scsi_disk_resize(struct scsi_disk *d, uint64_t blocks)
{
	if (!d || !blocks_ok(blocks, d->desc.block_size))
		return VMB_EINVAL;
	if (atomic_load_explicit(&d->blocks, memory_order_relaxed) == blocks)
		return VMB_OK;
	atomic_store_explicit(&d->blocks, blocks, memory_order_release);
	/* Raised after the new capacity is stored: a command that claims the
	 * attention (acquire) and then loads the capacity sees the new one. */
	atomic_store_explicit(&d->ua, 1, memory_order_release);
	return VMB_OK;
}

uint64_t scsi_disk_blocks(const struct scsi_disk *d)
{
	return atomic_load_explicit(&d->blocks, memory_order_acquire);
}

/* The load keeps the common path free of read-modify-write; only while an
 * attention is pending do callers race for it, and one wins. */
bool scsi_ua_claim(struct scsi_disk *d)
{
	if (!atomic_load_explicit(&d->ua, memory_order_relaxed))
		return false;
	return atomic_exchange_explicit(&d->ua, 0, memory_order_acq_rel) != 0;
}

/* ---- how a command ends ---- */

void scsi_sense_build(uint8_t *s, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct scsi_sense_fixed *f = (struct scsi_sense_fixed *)s;

	vmb_memset(f, 0, sizeof(*f));
	f->response_code = SCSI_SENSE_FIXED_CURRENT;
	f->key = key;
	f->additional_len = (uint8_t)(sizeof(*f) - 8);
	f->asc = asc;
	f->ascq = ascq;
}

static void finish(struct scsi_result *res, uint8_t status, uint8_t srb,
		   uint32_t moved)
{
	res->kind = SCSI_RES_DONE;
	res->status = status;
	res->srb_status = srb;
	res->sense_len = 0;
	res->data_len = moved;
	res->residual = res->xfer_len - moved;
}

static void set_sense(struct scsi_result *res, uint8_t key, uint8_t asc,
		      uint8_t ascq)
{
	res->sense_len = SCSI_SENSE_LEN;
	scsi_sense_build(res->sense, key, asc, ascq);
}

int scsi_done_moved(struct scsi_ctx *c, uint32_t moved)
{
	finish(c->res, SCSI_ST_GOOD, SCSI_SRB_SUCCESS, moved);
	return VMB_OK;
}

int scsi_good(struct scsi_ctx *c)
{
	return scsi_done_moved(c, 0);
}

bool scsi_in_dir_ok(const struct scsi_ctx *c)
{
	return !c->cmd->xfer_len || c->cmd->dir == SCSI_DIR_IN;
}

int scsi_data_in(struct scsi_ctx *c, uint32_t full, uint32_t alloc)
{
	uint32_t n = full < alloc ? full : alloc;

	if (!scsi_in_dir_ok(c))
		return scsi_illegal(c, SCSI_ERR_XFER, SCSI_ASC_INVALID_FIELD_CDB);
	if (n > c->cmd->xfer_len)
		n = c->cmd->xfer_len;
	return scsi_done_moved(c, n);
}

int scsi_fail(struct scsi_ctx *c, enum scsi_err why, uint8_t srb,
	      uint8_t key, uint8_t asc, uint8_t ascq)
{
	scsi_add(&c->st->err[why], 1);
	finish(c->res, SCSI_ST_CHECK_CONDITION, srb, 0);
	set_sense(c->res, key, asc, ascq);
	return VMB_OK;
}

int scsi_illegal(struct scsi_ctx *c, enum scsi_err why, uint8_t asc)
{
	return scsi_fail(c, why, SCSI_SRB_INVALID_REQUEST,
			 SCSI_SK_ILLEGAL_REQUEST, asc, 0);
}

/* The caller broke the API contract: res still holds a well-formed
 * refusal, so even a careless embedder answers the guest sanely. */
int scsi_refuse_call(struct scsi_result *res)
{
	finish(res, SCSI_ST_CHECK_CONDITION, SCSI_SRB_INVALID_REQUEST, 0);
	set_sense(res, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_CDB, 0);
	return VMB_EINVAL;
}

/* ---- dispatch ---- */

typedef int (*scsi_handler)(struct scsi_ctx *c);

struct scsi_opdef {
	scsi_handler fn;
	uint8_t cls;
};

static int h_test_unit_ready(struct scsi_ctx *c)
{
	return scsi_good(c);
}

/* Everything else gets INVALID COMMAND OPERATION CODE. */
static const struct scsi_opdef ops[256] = {
	[SCSI_OP_TEST_UNIT_READY] = {h_test_unit_ready, SCSI_CLS_OTHER},
	[SCSI_OP_REQUEST_SENSE] = {scsi_h_request_sense, SCSI_CLS_OTHER},
	[SCSI_OP_READ6] = {scsi_h_rw, SCSI_CLS_READ},
	[SCSI_OP_WRITE6] = {scsi_h_rw, SCSI_CLS_WRITE},
	[SCSI_OP_INQUIRY] = {scsi_h_inquiry, SCSI_CLS_INQUIRY},
	[SCSI_OP_MODE_SENSE6] = {scsi_h_mode_sense, SCSI_CLS_MODE_SENSE},
	[SCSI_OP_START_STOP_UNIT] = {scsi_h_start_stop, SCSI_CLS_OTHER},
	[SCSI_OP_READ_CAPACITY10] = {scsi_h_read_capacity10,
				     SCSI_CLS_CAPACITY},
	[SCSI_OP_READ10] = {scsi_h_rw, SCSI_CLS_READ},
	[SCSI_OP_WRITE10] = {scsi_h_rw, SCSI_CLS_WRITE},
	[SCSI_OP_SYNC_CACHE10] = {scsi_h_sync_cache, SCSI_CLS_FLUSH},
	[SCSI_OP_WRITE_SAME10] = {scsi_h_write_same, SCSI_CLS_WRITE_SAME},
	[SCSI_OP_UNMAP] = {scsi_h_unmap, SCSI_CLS_UNMAP},
	[SCSI_OP_MODE_SENSE10] = {scsi_h_mode_sense, SCSI_CLS_MODE_SENSE},
	[SCSI_OP_READ16] = {scsi_h_rw, SCSI_CLS_READ},
	[SCSI_OP_WRITE16] = {scsi_h_rw, SCSI_CLS_WRITE},
	[SCSI_OP_SYNC_CACHE16] = {scsi_h_sync_cache, SCSI_CLS_FLUSH},
	[SCSI_OP_WRITE_SAME16] = {scsi_h_write_same, SCSI_CLS_WRITE_SAME},
	[SCSI_OP_SERVICE_ACTION_IN16] = {scsi_h_service_action_in16,
					 SCSI_CLS_CAPACITY},
	[SCSI_OP_REPORT_LUNS] = {scsi_h_report_luns, SCSI_CLS_REPORT_LUNS},
	[SCSI_OP_READ12] = {scsi_h_rw, SCSI_CLS_READ},
	[SCSI_OP_WRITE12] = {scsi_h_rw, SCSI_CLS_WRITE},
};

/* Pointers the caller must supply for the counts it gives. */
static bool call_ok(const struct scsi_cmd *cmd)
{
	return cmd->out && (cmd->cdb || !cmd->cdb_len) &&
	       (cmd->param || !cmd->param_len) &&
	       (cmd->luns || !cmd->nluns) && (cmd->ext || !cmd->ext_cap);
}

static void res_start(struct scsi_result *res, const struct scsi_cmd *cmd)
{
	vmb_memset(res, 0, sizeof(*res));
	res->xfer_len = cmd ? cmd->xfer_len : 0;
}

/* The SRB's CDB length: the opcode at least, the SRB's 16 bytes at most,
 * and not shorter than the opcode's group fixes. Longer is accepted, as
 * guests may hand over the whole 16-byte field; bytes past the group's
 * length are never read. */
static bool cdb_len_ok(const struct scsi_cmd *cmd)
{
	if (cmd->cdb_len < 1 || cmd->cdb_len > SCSI_CDB_MAX)
		return false;
	return cmd->cdb_len >= scsi_cdb_group_len(cmd->cdb[0]);
}

/* The last byte of every supported CDB is the control byte. */
static bool control_ok(const uint8_t *cdb)
{
	uint8_t ctl = cdb[scsi_cdb_group_len(cdb[0]) - 1];

	return !(ctl & (SCSI_CTL_NACA | SCSI_CTL_LINK));
}

/* SAM-5: INQUIRY, REPORT LUNS and REQUEST SENSE do not report a
 * pending unit attention as CHECK CONDITION (REQUEST SENSE returns it as
 * its data). Hyper-V reports it ahead of everything else, unknown
 * operation codes included. */
static bool ua_reported(uint8_t op)
{
	return op != SCSI_OP_INQUIRY && op != SCSI_OP_REPORT_LUNS &&
	       op != SCSI_OP_REQUEST_SENSE;
}

int scsi_disk_exec(struct scsi_disk *d, uint32_t q,
		   const struct scsi_cmd *cmd, struct scsi_result *res)
{
	struct scsi_ctx c;
	const struct scsi_opdef *op;

	if (!res)
		return VMB_EINVAL;
	res_start(res, cmd);
	if (!d || !cmd || q >= d->nq || !call_ok(cmd))
		return scsi_refuse_call(res);
	c = (struct scsi_ctx){d, &d->st[q], cmd, cmd->cdb, res, 0};
	if (!cdb_len_ok(cmd))
		return scsi_illegal(&c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	if (ua_reported(cmd->cdb[0]) && scsi_ua_claim(d))
		return scsi_fail(&c, SCSI_ERR_UA, SCSI_SRB_ERROR,
				 SCSI_SK_UNIT_ATTENTION, SCSI_ASC_PARAMS_CHANGED,
				 SCSI_ASCQ_CAPACITY_CHANGED);
	c.blocks = scsi_disk_blocks(d);
	op = &ops[cmd->cdb[0]];
	if (!op->fn)
		return scsi_illegal(&c, SCSI_ERR_OPCODE, SCSI_ASC_INVALID_OPCODE);
	scsi_add(&c.st->cmds[op->cls], 1);
	if (!control_ok(cmd->cdb))
		return scsi_illegal(&c, SCSI_ERR_CDB, SCSI_ASC_INVALID_FIELD_CDB);
	return op->fn(&c);
}

/* ---- completion ---- */

struct ioerr_answer {
	uint8_t status;
	uint8_t srb;
	uint8_t key; /* SCSI_SK_NO_SENSE: no sense data */
	uint8_t asc;
	uint8_t ascq;
};

/* What Hyper-V (OpenVMM's scsidisk) answers for each backend outcome:
 * DiskError::Io is MEDIUM ERROR with no additional code; the read and
 * write medium errors name themselves; a read-only backend is DATA
 * PROTECT; an offset past the backend is LBA OUT OF RANGE; an unreachable
 * buffer is INVALID FIELD IN CDB with SRB INVALID_REQUEST; an abort is
 * TASK ABORTED. A full backend has no Hyper-V answer (it pauses the VM):
 * SBC-3's SPACE ALLOCATION FAILED WRITE PROTECT says it to a
 * thin-provisioning-aware guest. BUSY has the guest retry. */
static const struct ioerr_answer ioerr_map[SCSI_IOERR__COUNT] = {
	[SCSI_IOERR_NONE] = {SCSI_ST_GOOD, SCSI_SRB_SUCCESS, 0, 0, 0},
	[SCSI_IOERR_IO] = {SCSI_ST_CHECK_CONDITION, SCSI_SRB_ERROR,
			   SCSI_SK_MEDIUM_ERROR, SCSI_ASC_NONE, 0},
	[SCSI_IOERR_READ] = {SCSI_ST_CHECK_CONDITION, SCSI_SRB_ERROR,
			     SCSI_SK_MEDIUM_ERROR, SCSI_ASC_UNRECOVERED_READ, 0},
	[SCSI_IOERR_WRITE] = {SCSI_ST_CHECK_CONDITION, SCSI_SRB_ERROR,
			      SCSI_SK_MEDIUM_ERROR, SCSI_ASC_WRITE_ERROR, 0},
	[SCSI_IOERR_NOSPACE] = {SCSI_ST_CHECK_CONDITION, SCSI_SRB_ERROR,
				SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED,
				SCSI_ASCQ_SPACE_ALLOC_FAILED_WP},
	[SCSI_IOERR_READONLY] = {SCSI_ST_CHECK_CONDITION, SCSI_SRB_ERROR,
				 SCSI_SK_DATA_PROTECT,
				 SCSI_ASC_WRITE_PROTECTED, 0},
	[SCSI_IOERR_RANGE] = {SCSI_ST_CHECK_CONDITION, SCSI_SRB_ERROR,
			      SCSI_SK_ILLEGAL_REQUEST,
			      SCSI_ASC_LBA_OUT_OF_RANGE, 0},
	[SCSI_IOERR_MEMORY] = {SCSI_ST_CHECK_CONDITION,
			       SCSI_SRB_INVALID_REQUEST,
			       SCSI_SK_ILLEGAL_REQUEST,
			       SCSI_ASC_INVALID_FIELD_CDB, 0},
	[SCSI_IOERR_BUSY] = {SCSI_ST_BUSY, SCSI_SRB_BUSY, 0, 0, 0},
	[SCSI_IOERR_ABORTED] = {SCSI_ST_TASK_ABORTED, SCSI_SRB_ABORTED,
				SCSI_SK_ABORTED_COMMAND, SCSI_ASC_NONE, 0},
};

static void count_bytes(struct scsi_stats *st, const struct scsi_io *io)
{
	if (io->op == SCSI_IO_READ)
		scsi_add(&st->bytes_read, io->len);
	else if (io->op != SCSI_IO_FLUSH && io->op != SCSI_IO_UNMAP)
		scsi_add(&st->bytes_written, io->len);
}

int scsi_disk_complete(struct scsi_disk *d, uint32_t q,
		       struct scsi_result *res, enum scsi_ioerr err)
{
	const struct ioerr_answer *a;
	struct scsi_stats *st;

	if (!d || !res || q >= d->nq || res->kind != SCSI_RES_IO ||
	    (unsigned)err >= SCSI_IOERR__COUNT)
		return VMB_EINVAL;
	st = &d->st[q];
	scsi_add(&st->io_err[err], 1);
	/* UNMAP is advisory (SBC-3): Hyper-V ignores its failures. */
	if (res->io.op == SCSI_IO_UNMAP && err != SCSI_IOERR_NONE) {
		scsi_add(&st->unmap_ignored, 1);
		err = SCSI_IOERR_NONE;
	}
	if (err == SCSI_IOERR_NONE) {
		count_bytes(st, &res->io);
		finish(res, SCSI_ST_GOOD, SCSI_SRB_SUCCESS, res->data_len);
		return VMB_OK;
	}
	a = &ioerr_map[err];
	finish(res, a->status, a->srb, 0);
	if (a->key != SCSI_SK_NO_SENSE)
		set_sense(res, a->key, a->asc, a->ascq);
	return VMB_OK;
}

/* ---- LUNs with no disk ---- */

int scsi_target_absent(struct scsi_stats *st, uint8_t lun,
		       const struct scsi_cmd *cmd, struct scsi_result *res)
{
	struct scsi_ctx c;
	uint8_t op;

	if (!res)
		return VMB_EINVAL;
	res_start(res, cmd);
	if (!st || !cmd || !call_ok(cmd))
		return scsi_refuse_call(res);
	c = (struct scsi_ctx){NULL, st, cmd, cmd->cdb, res, 0};
	op = cdb_len_ok(cmd) ? cmd->cdb[0] : SCSI_OP_TEST_UNIT_READY;
	if (op == SCSI_OP_REPORT_LUNS) {
		scsi_add(&st->cmds[SCSI_CLS_REPORT_LUNS], 1);
		return scsi_h_report_luns(&c);
	}
	if (op == SCSI_OP_INQUIRY) {
		scsi_add(&st->cmds[SCSI_CLS_INQUIRY], 1);
		return scsi_absent_inquiry(&c, lun);
	}
	/* Hyper-V: CHECK CONDITION, SRB INVALID_LUN, no sense. Linux removes
	 * the device on INVALID_LUN; FreeBSD calls it CAM_DEV_NOT_THERE. */
	scsi_add(&st->err[SCSI_ERR_ABSENT], 1);
	finish(res, SCSI_ST_CHECK_CONDITION, SCSI_SRB_INVALID_LUN, 0);
	return VMB_OK;
}
