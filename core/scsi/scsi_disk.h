/* A SCSI disk target as a sans-I/O engine: a CDB and the SRB's transfer
 * facts in; either a finished answer (status, sense, data-in bytes) or an
 * I/O for the embedder ("read these bytes of the disk into the request's
 * buffer") out. The embedder moves the data directly between its backend
 * and the guest's ranges, then scsi_disk_complete() turns the I/O's error
 * class into the final status and sense.
 *
 * What the guest sees follows Hyper-V's synthetic disk (vendor "Msft",
 * product "Virtual Disk", SPC-3) as OpenVMM's scsidisk reproduces it:
 * which VPD pages exist, the identifiers, the unit attention after a
 * resize and its SRB status, answers for absent LUNs, the SRB status of
 * each failure. Where Hyper-V departs from SPC-4/SBC-3 in a way no guest
 * relies on (zero-length transfers, allocation lengths shorter than the
 * data, READ(6) length 0) the standard is followed; each such place says
 * so where it is handled.
 *
 * Every CDB byte, the SRB's direction and transfer length, and UNMAP's
 * parameter list are untrusted: anything malformed is answered with
 * CHECK CONDITION and fixed-format sense, counted by reason in the
 * queue's stats, and leaves the disk as it was.
 *
 * Threads: several channel workers may call scsi_disk_exec() and
 * scsi_disk_complete() on one disk at once, each with its own queue
 * index (each queue's counters have one writer). scsi_disk_resize() may
 * run meanwhile (calls to it are serialized by the embedder). The common
 * path takes no lock and does no atomic read-modify-write: the capacity
 * is one atomic load, and only a pending unit attention is claimed with
 * an exchange, so that it is reported once. */
#ifndef HVIS_SCSI_DISK_H
#define HVIS_SCSI_DISK_H

#include "scsi_wire.h"

/* ---- description, set by the embedder ---- */

#define SCSI_SERIAL_MAX 64
#define SCSI_ID_LEN 16

struct scsi_disk_desc {
	uint32_t block_size;  /* 512 or 4096 */
	uint64_t block_count; /* >= 1; block_count * block_size fits in 64 bits */
	uint32_t max_xfer;    /* most bytes one command moves; 0: no limit */
	uint32_t unmap_gran;  /* optimal unmap granularity, blocks; 0 means 1 */
	bool read_only;
	bool write_cache;     /* WCE in the caching page */
	/* The backend can punch holes: thin provisioning is advertised (VPD
	 * 0xB0/0xB1/0xB2, LBPME), UNMAP and WRITE SAME's UNMAP bit work.
	 * Without it UNMAP is an unsupported operation code. */
	bool unmap;
	uint8_t serial_len;   /* 0: no VPD 0x80 page */
	char serial[SCSI_SERIAL_MAX]; /* printable ASCII */
	uint8_t id[SCSI_ID_LEN];      /* VPD 0x83 identifier */
};

/* ---- counters ---- */

/* Commands by class, counted when the operation code is known. */
enum scsi_cls {
	SCSI_CLS_READ,
	SCSI_CLS_WRITE,
	SCSI_CLS_FLUSH,       /* SYNCHRONIZE CACHE */
	SCSI_CLS_UNMAP,
	SCSI_CLS_WRITE_SAME,
	SCSI_CLS_INQUIRY,     /* standard and VPD */
	SCSI_CLS_CAPACITY,    /* READ CAPACITY 10 and 16 */
	SCSI_CLS_MODE_SENSE,
	SCSI_CLS_REPORT_LUNS,
	SCSI_CLS_OTHER,       /* TEST UNIT READY, REQUEST SENSE, START STOP */
	SCSI_CLS__COUNT
};

/* Why a command was refused by the engine (not the backend). */
enum scsi_err {
	SCSI_ERR_CDB,      /* CDB length, reserved or unsupported field */
	SCSI_ERR_OPCODE,   /* unsupported operation code */
	SCSI_ERR_PAGE,     /* unsupported VPD page, mode page or saved values */
	SCSI_ERR_RANGE,    /* LBA range outside the disk */
	SCSI_ERR_XFER,     /* SRB buffer or direction does not fit the CDB */
	SCSI_ERR_TOO_LONG, /* over max_xfer or the WRITE SAME limit */
	SCSI_ERR_PARAM,    /* malformed UNMAP parameter list */
	SCSI_ERR_READ_ONLY, /* write to a read-only disk */
	SCSI_ERR_UA,       /* unit attention reported (not a fault) */
	SCSI_ERR_ABSENT,   /* command to a LUN with no disk */
	SCSI_ERR__COUNT
};

/* How a backend I/O ended: an errno reduced to what the guest is told. */
enum scsi_ioerr {
	SCSI_IOERR_NONE,     /* success */
	SCSI_IOERR_IO,       /* EIO and anything unlisted: MEDIUM ERROR 03/00/00 */
	SCSI_IOERR_READ,     /* unreadable data (EBADMSG): 03/11/00 */
	SCSI_IOERR_WRITE,    /* write fault: 03/0C/00 */
	SCSI_IOERR_NOSPACE,  /* ENOSPC, EDQUOT: DATA PROTECT 07/27/07 */
	SCSI_IOERR_READONLY, /* EROFS, EPERM, EACCES: DATA PROTECT 07/27/00 */
	SCSI_IOERR_RANGE,    /* backend shorter than the disk: 05/21/00 */
	SCSI_IOERR_MEMORY,   /* guest buffer not accessible (EFAULT): 05/24/00 */
	SCSI_IOERR_BUSY,     /* EAGAIN, ENOMEM, EINTR: status BUSY, retried */
	SCSI_IOERR_ABORTED,  /* ECANCELED (reset, shutdown): TASK ABORTED */
	SCSI_IOERR__COUNT
};

/* One queue's counters. Only that queue's worker writes them (plain
 * 64-bit stores); scsi_stats_add() may read them from another thread. */
struct scsi_stats {
	uint64_t cmds[SCSI_CLS__COUNT];
	uint64_t err[SCSI_ERR__COUNT];
	uint64_t io_err[SCSI_IOERR__COUNT]; /* completed I/Os by outcome */
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t unmap_ignored; /* failed UNMAPs answered GOOD, as Hyper-V */
};

const char *scsi_cls_name(enum scsi_cls c);
const char *scsi_err_name(enum scsi_err e);
const char *scsi_ioerr_name(enum scsi_ioerr e);

/* sum += s, each counter read once (relaxed). */
void scsi_stats_add(struct scsi_stats *sum, const struct scsi_stats *s);

/* ---- the disk ---- */

struct scsi_disk {
	struct scsi_disk_desc desc; /* block_count: see blocks */
	_Atomic uint64_t blocks;    /* current capacity */
	_Atomic uint32_t ua;        /* CAPACITY DATA HAS CHANGED pending */
	uint8_t block_shift;
	struct scsi_stats *st;      /* nq queues' counters, caller-owned */
	uint32_t nq;
};

/* Checks desc (block size 512/4096, count, serial printable) and keeps a
 * copy. st: nq >= 1 zeroed counter sets, one per queue (channel) that
 * will call in; owned by the caller, kept until the disk is dropped.
 * VMB_EINVAL if anything is off. */
int scsi_disk_init(struct scsi_disk *d, const struct scsi_disk_desc *desc,
		   struct scsi_stats *st, uint32_t nq);

/* New capacity. A change raises unit attention CAPACITY DATA HAS CHANGED
 * (06/2A/09): the next command other than INQUIRY and REPORT LUNS gets it
 * once, with SRB status ERROR (REQUEST SENSE returns it as its data).
 * Same count: nothing. VMB_EINVAL for 0 or a size beyond 64 bits. */
int scsi_disk_resize(struct scsi_disk *d, uint64_t blocks);

/* Sum of all queues' counters. */
void scsi_disk_stats(const struct scsi_disk *d, struct scsi_stats *sum);

/* The capacity now, in blocks (after the last resize). */
uint64_t scsi_disk_blocks(const struct scsi_disk *d);

/* ---- one command ---- */

/* SRB data_in values: the direction the initiator says data moves. */
enum scsi_dir {
	SCSI_DIR_OUT = 0,  /* to the disk (write) */
	SCSI_DIR_IN = 1,   /* to the initiator (read) */
	SCSI_DIR_NONE = 2
};

/* SRB status codes (the low six bits of VSTOR's srb_status; VSTOR adds
 * the flag bits, 0x80 AUTOSENSE_VALID when sense_len > 0). The disk
 * answers with some; the others are the controller's. */
enum scsi_srb {
	SCSI_SRB_SUCCESS = 0x01,
	SCSI_SRB_ABORTED = 0x02,
	SCSI_SRB_ERROR = 0x04,
	SCSI_SRB_BUSY = 0x05,
	SCSI_SRB_INVALID_REQUEST = 0x06,
	SCSI_SRB_NO_DEVICE = 0x08,
	SCSI_SRB_TIMEOUT = 0x09,
	SCSI_SRB_NO_HBA = 0x11,
	SCSI_SRB_DATA_OVERRUN = 0x12,
	SCSI_SRB_INVALID_LUN = 0x20,
	SCSI_SRB_INVALID_TARGET = 0x21
};

/* A byte range of the disk. */
struct scsi_extent {
	uint64_t offset;
	uint64_t len;
};

/* Most UNMAP block descriptors one command may carry (VPD 0xB0), as
 * Hyper-V; with ext_cap smaller, a longer list is refused instead. */
#define SCSI_UNMAP_MAX_DESC 4096u
/* Largest data-in answer: REPORT LUNS with all 256 LUNs. out must hold
 * this many bytes. */
#define SCSI_RESP_MAX (8u + 256u * SCSI_LUN_ENTRY_LEN)
/* Hyper-V's cap on one WRITE SAME (VHDMP_MAX_WRITE_SAME_LENGTH_BYTES). */
#define SCSI_WRITE_SAME_MAX_BYTES (8u << 20)

struct scsi_cmd {
	const uint8_t *cdb;
	uint32_t cdb_len;       /* SRB cdb_length: untrusted, bytes at cdb */
	uint8_t dir;            /* SRB data_in: untrusted, any value */
	uint32_t xfer_len;      /* SRB data_transfer_length: untrusted */
	/* Data-out the engine must read (UNMAP's list, WRITE SAME's block):
	 * the first min(scsi_param_len(), xfer_len) bytes of the request's
	 * buffer, copied by the caller (the guest can change its memory at
	 * any time; the engine checks the copy it is given). */
	const uint8_t *param;
	uint32_t param_len;
	/* REPORT LUNS: the LUNs present at this path and target. */
	const uint8_t *luns;
	uint32_t nluns;
	/* UNMAP: room for the extents out (SCSI_UNMAP_MAX_DESC entries take
	 * every list Hyper-V accepts). Must stay valid until completion. */
	struct scsi_extent *ext;
	uint32_t ext_cap;
	uint8_t *out;           /* data-in answer, SCSI_RESP_MAX bytes */
};

/* How many data-out bytes to copy into cmd->param for this CDB (cut to
 * xfer_len): UNMAP's parameter list length, one block for WRITE SAME
 * without NDOB, else 0. Reads only bytes below cdb_len. */
uint32_t scsi_param_len(const struct scsi_disk *d, const uint8_t *cdb,
			uint32_t cdb_len);

enum scsi_res_kind {
	SCSI_RES_DONE, /* answer complete: status, sense, data */
	SCSI_RES_IO    /* do io, then scsi_disk_complete() */
};

enum scsi_io_op {
	SCSI_IO_READ,        /* disk [offset, +len) -> request buffer [0, len) */
	SCSI_IO_WRITE,       /* request buffer [0, len) -> disk; fua */
	SCSI_IO_FLUSH,       /* make [offset, +len) durable (all of it will do) */
	SCSI_IO_UNMAP,       /* deallocate ext[0..n_ext); advisory */
	/* zeros over [offset, +len); unmap: holes may replace them, if
	 * they read back as zeros */
	SCSI_IO_WRITE_ZEROES,
	SCSI_IO_WRITE_SAME   /* pattern (one block) repeated over [offset, +len) */
};

struct scsi_io {
	enum scsi_io_op op;
	bool fua;      /* WRITE: durable before completion; READ: may be ignored */
	bool unmap;    /* WRITE_ZEROES: holes may replace the zeros */
	uint64_t offset; /* bytes; block aligned, inside the disk */
	uint64_t len;
	const uint8_t *pattern; /* WRITE_SAME: cmd->param, block_size bytes */
	struct scsi_extent *ext; /* UNMAP: cmd->ext, each inside the disk */
	uint32_t n_ext;          /* 1..ext_cap, none empty */
};

struct scsi_result {
	enum scsi_res_kind kind;
	uint8_t status;     /* SCSI_ST_* */
	uint8_t srb_status; /* enum scsi_srb */
	uint8_t sense_len;  /* 0 or SCSI_SENSE_LEN */
	uint8_t sense[SCSI_SENSE_LEN]; /* fixed format */
	/* Bytes the command moves: data-in from cmd->out (DONE), or the
	 * request buffer bytes the I/O reads or fills on success. Never more
	 * than xfer_len nor the CDB's allocation length. */
	uint32_t data_len;
	uint32_t residual;  /* xfer_len - data_len */
	uint32_t xfer_len;
	struct scsi_io io;  /* IO only */
};

/* Runs one command for queue q. Returns VMB_OK with res filled (a refused
 * command is a DONE result with CHECK CONDITION, never an error code);
 * VMB_EINVAL for an impossible call (q out of range, no out buffer, a
 * count without its pointer, less param data than the contract above):
 * res (if given) then says CHECK CONDITION 05/24/00, so the guest still
 * gets a sane answer, and no refusal is counted. */
int scsi_disk_exec(struct scsi_disk *d, uint32_t q,
		   const struct scsi_cmd *cmd, struct scsi_result *res);

/* The I/O of an IO result ended with err: res becomes DONE with the
 * status, SRB status and sense Hyper-V gives for it (data_len 0 unless
 * err is NONE). UNMAP answers GOOD whatever err says, as Hyper-V ignores
 * failed unmaps (counted in unmap_ignored). VMB_EINVAL if res is not an
 * IO result or q is out of range. */
int scsi_disk_complete(struct scsi_disk *d, uint32_t q,
		       struct scsi_result *res, enum scsi_ioerr err);

/* ---- target level ---- */

/* A command addressed to a LUN with no disk, answered as Hyper-V does:
 * REPORT LUNS lists cmd->luns; a standard INQUIRY gets GOOD with
 * peripheral byte 0x7F (vendor and product only for LUN 0); an INQUIRY
 * for a VPD page, or with an allocation length under 5 or beyond the
 * buffer, gets 05/24/00; anything else CHECK CONDITION with SRB status
 * INVALID_LUN and no sense. st: the controller's counters. */
int scsi_target_absent(struct scsi_stats *st, uint8_t lun,
		       const struct scsi_cmd *cmd, struct scsi_result *res);

#endif
