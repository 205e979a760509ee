/* Shared by the SCSI target's source files (not part of the embedder
 * API): the per-command context and the ways a command ends. */
#ifndef HVIS_SCSI_PRIV_H
#define HVIS_SCSI_PRIV_H

#include "scsi_disk.h"

/* One command in progress. */
struct scsi_ctx {
	struct scsi_disk *d;        /* NULL: a LUN with no disk */
	struct scsi_stats *st;
	const struct scsi_cmd *cmd;
	const uint8_t *cdb;         /* at least the opcode group's length */
	struct scsi_result *res;
	uint64_t blocks;            /* capacity this command is checked against */
};

/* Counters have one writer (the queue's worker); a relaxed load and store
 * (no read-modify-write) keeps a concurrent reader's view untorn. */
_Static_assert(__GCC_ATOMIC_LLONG_LOCK_FREE == 2, "inline 64-bit atomics");

static inline void scsi_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/* GOOD with no data moved; with moved bytes of the request's buffer. */
int scsi_good(struct scsi_ctx *c);
int scsi_done_moved(struct scsi_ctx *c, uint32_t moved);
/* GOOD with data-in: the answer of full bytes is in cmd->out; moves
 * min(full, alloc, xfer_len). A buffer that would move data the wrong
 * way is refused (SCSI_ERR_XFER). */
int scsi_data_in(struct scsi_ctx *c, uint32_t full, uint32_t alloc);
/* Whether the SRB may carry data-in: no buffer, or direction IN. */
bool scsi_in_dir_ok(const struct scsi_ctx *c);
/* CHECK CONDITION with fixed sense, counted under why. */
int scsi_fail(struct scsi_ctx *c, enum scsi_err why, uint8_t srb,
	      uint8_t key, uint8_t asc, uint8_t ascq);
/* ILLEGAL REQUEST / asc / 0 with SRB status INVALID_REQUEST, as Hyper-V
 * answers every CDB it refuses. */
int scsi_illegal(struct scsi_ctx *c, enum scsi_err why, uint8_t asc);
/* An impossible call: a refusal in res all the same; VMB_EINVAL. */
int scsi_refuse_call(struct scsi_result *res);
void scsi_sense_build(uint8_t *s, uint8_t key, uint8_t asc, uint8_t ascq);
/* Claims a pending unit attention: true for exactly one caller. */
bool scsi_ua_claim(struct scsi_disk *d);

/* MAXIMUM WRITE SAME LENGTH in blocks (VPD 0xB0). */
uint64_t scsi_ws_max_blocks(const struct scsi_disk *d);

/* Command handlers (scsi_info.c). Each returns VMB_OK with res filled. */
int scsi_h_inquiry(struct scsi_ctx *c);
int scsi_h_report_luns(struct scsi_ctx *c);
int scsi_h_mode_sense(struct scsi_ctx *c);
int scsi_h_read_capacity10(struct scsi_ctx *c);
int scsi_h_service_action_in16(struct scsi_ctx *c);
int scsi_h_request_sense(struct scsi_ctx *c);
/* Commands that become I/O (scsi_io.c). */
int scsi_h_rw(struct scsi_ctx *c);
int scsi_h_sync_cache(struct scsi_ctx *c);
int scsi_h_start_stop(struct scsi_ctx *c);
int scsi_h_write_same(struct scsi_ctx *c);
int scsi_h_unmap(struct scsi_ctx *c);
/* A standard INQUIRY to a LUN with no disk (scsi_target_absent). */
int scsi_absent_inquiry(struct scsi_ctx *c, uint8_t lun);

#endif
