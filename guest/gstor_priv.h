/* Internals of storvsc (gstor*.c).
 *
 * Threads:
 * - The loop thread opens and stops channels, runs the LUN scan and
 *   adds, resizes and removes the NBD exports.
 * - The NBD server thread (nbdx) submits requests: it takes a channel's
 *   lock once per request, allocates a slot and sends the SRB.
 * - A channel's worker takes the channel's lock once per receive batch
 *   (first packet to batch end), matches each completion to its slot and
 *   gathers the finished NBD requests into one chain, handed to nbdx at
 *   the batch's end.
 * A request that finds the slots or the ring full waits in the channel's
 * pending list and is sent at the next batch end or tick. */
#ifndef HVIS_GSTOR_PRIV_H
#define HVIS_GSTOR_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "gstor.h"
#include "nbdx.h"
#include "rt_ctr.h"
#include "storage/vstor_guest.h"

#define GSTOR_LUNS 64u
#define GSTOR_CHANS 9u          /* primary and up to 8 sub-channels */
/* SRBs in flight per channel: no more than the host queues per channel
 * and LUN, so a busy LUN is not answered BUSY. */
#define GSTOR_DEPTH 128u
/* Largest READ/WRITE one SRB carries (the host may allow less), and
 * the part size of longer zeroing: a disk of Hyper-V caps WRITE SAME at
 * 8 MiB and at the transfer size. */
#define GSTOR_MAX_XFER (512u << 10)
/* The largest NBD READ/WRITE taken (in SRBs of max_xfer each): clients
 * are told max_xfer is preferred, some send more. */
#define GSTOR_NBD_MAX (4u << 20)
/* NBD request buffers in guest memory: small ones and largest ones. */
#define GSTOR_SMALL (64u << 10)
#define GSTOR_NSMALL 128u
#define GSTOR_NBIG 32u

struct gstor_ctrl;

struct gstor_lun {
	struct gstor_ctrl *ctrl;
	uint8_t lun;
	uint32_t block_size;
	uint64_t blocks;
	bool read_only;
	bool unmap;              /* thin provisioned: UNMAP works */
	bool seen;               /* found by the scan under way */
	/* ctrl_lock: the scan let go of it, nbdx let go of it; freed by
	 * the second (or by the scan when it has no export) */
	bool dropped, released;
	struct nbdx_export *exp;
	char name[24];
};

struct gstor_chan {
	struct gvb_chan *c;
	struct gstor_ctrl *ctrl;
	struct vstor_guest eng;  /* primary: the init sequence */
	pthread_mutex_t lock;
	bool locked;             /* worker: held for this batch */
	bool open;               /* SRBs may be sent */
	struct vstor_reqtab tab;
	struct vstor_slot slot[GSTOR_DEPTH];
	uint8_t *ubuf;           /* guest page: 32 bytes of UNMAP list a slot */
	struct nbdx_req *pend_head, *pend_tail;
	struct nbdx_req *done_head, *done_tail;
	rt_ctr srbs, retries, errors;
};

/* The scanner's SRB: one at a time, loop thread, answered on a worker. */
struct gstor_sio {
	uint8_t lun;
	uint8_t cdb[16];
	uint8_t cdb_len;
	uint32_t len;            /* data-in wanted, into ctrl->sbuf */
	_Atomic bool done;
	uint8_t srb_status, scsi_status, key, asc, ascq;
	uint32_t moved;
};

enum gstor_scan {
	GSCAN_IDLE,
	GSCAN_REPORT,
	GSCAN_INQUIRY,
	GSCAN_CAPACITY,
	GSCAN_MODE
};

struct gstor_ctrl {
	struct gvb *vb;
	struct vmb_guid instance;
	unsigned index;
	struct gstor_chan ch[GSTOR_CHANS]; /* by sub_index */
	_Atomic uint32_t nchan;  /* sub_index of the last open one + 1 */
	_Atomic uint16_t version; /* agreed */
	/* sub-channels asked for (set before CREATE_SUB_CHANNELS goes out):
	 * an offer past them is the host's doing and refused */
	_Atomic uint16_t asked;
	_Atomic uint32_t unasked; /* such offers refused */
	_Atomic bool ready;       /* init done: the scan may run */
	_Atomic bool rescan;
	bool alive;              /* primary open */
	unsigned refs;           /* primary + exports not released */
	uint32_t max_xfer;
	/* scan, loop thread */
	enum gstor_scan scan;
	struct gstor_sio sio;
	uint8_t *sbuf;           /* one page of guest memory */
	uint8_t found[GSTOR_LUNS];
	unsigned nfound, at;
	unsigned attempts;
	struct gstor_lun *lun[GSTOR_LUNS];
	/* buffers, NBD server thread */
	void *small[GSTOR_NSMALL], *big[GSTOR_NBIG];
	unsigned nsmall, nbig, small_made, big_made;
	struct gstor_ctrl *next;
};

/* gstor_io.c */
void gstor_io_rx(struct gstor_chan *sc, const struct vstor_guest_ev *ev);
void gstor_io_batch_end(struct gstor_chan *sc);
void gstor_io_retry(struct gstor_chan *sc);
void gstor_io_fail_all(struct gstor_chan *sc);
int gstor_sio_send(struct gstor_ctrl *ctrl);
/* gstor_scan.c */
void gstor_scan_tick(struct gstor_ctrl *ctrl);
void gstor_scan_stop(struct gstor_ctrl *ctrl);
void gstor_lun_export(struct gstor_lun *l);
/* gstor.c */
extern struct nbdx *gstor_nbd;
/* Finished requests to their owner (nbdx, or the cfg's complete). */
void gstor_done(struct nbdx_req *chain);
/* A LUN found: its NBD export, or the cfg's lun_found. */
void gstor_lun_out(struct gstor_lun *l);
void gstor_ctrl_get(struct gstor_ctrl *ctrl);
/* Let go of l: the scan (from_nbdx false) or nbdx; true if l is freed. */
bool gstor_lun_unref(struct gstor_lun *l, bool from_nbdx);
void gstor_ctrl_put(struct gstor_ctrl *ctrl);

#endif
