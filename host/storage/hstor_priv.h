/* Internals of storvsp (hstor*.c): controllers, their LUNs, and each
 * channel's I/O queues.
 *
 * Threads and ownership:
 * - The loop thread adds, removes and resizes LUNs and opens and closes
 *   channels.
 * - A channel's worker parses its packets, runs each SRB through the
 *   SCSI target and queues backend I/O; it holds hstor_chan.lock from the
 *   first packet of a receive batch to the batch's end (one lock per
 *   batch, never per packet), so that the loop thread can take a queue
 *   away between batches; it lets go of it while it waits for room in
 *   the guest's ring (hstor_send), so the loop thread never waits on a
 *   guest. Queues taken away finish on their own (hstor_gone.c).
 * - Each (channel, LUN) queue's finished I/O becomes COMPLETE_IO
 *   packets, one burst per batch: on the worker itself where the backend
 *   allows (a polled queue: reaped at the end of each receive batch, and
 *   when the channel's cq_fd wakes the worker; a reply the guest's ring
 *   has no room for waits on the channel's unsent list, so the worker
 *   never waits for the guest holding the lock), else on the queue's
 *   backend completion thread.
 * - A request is taken from its queue's free ring by the worker and put
 *   back by the completion side: a single-producer single-consumer ring,
 *   no lock and no read-modify-write (for a polled queue both sides run
 *   under the channel's lock). */
#ifndef HVIS_HSTOR_PRIV_H
#define HVIS_HSTOR_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "hbk.h"
#include "hstor.h"
#include "hvm.h"
#include "rt_ctr.h"
#include "scsi/scsi_disk.h"
#include "storage/vstor_host.h"

/* Largest transfer of one SRB, told to the guest in QUERY_PROPERTIES
 * (Linux sizes its requests and scatter lists from it). */
#define HSTOR_MAX_TRANSFER (512u << 10)
#define HSTOR_IOV (HSTOR_MAX_TRANSFER / 4096u + 1u)
/* Sub-channels a guest may ask for per controller. */
#define HSTOR_MAX_SUB 8u
#define HSTOR_QUEUES (HSTOR_MAX_SUB + 1u)
/* Requests in flight per channel and LUN (a power of 2). */
#define HSTOR_DEPTH 128u
/* UNMAP block descriptors one command may carry here (Linux sends one). */
#define HSTOR_UNMAP_EXT 16u
/* UNMAP's parameter list is at most 64 KiB (a 16-bit length). */
#define HSTOR_PARAM_MAX 65536u

struct hstor_ctrl;

struct hstor_lun {
	struct hstor_ctrl *ctrl;
	uint8_t lun;
	char *path;
	struct hbk *bk;
	struct hbk_info info;
	struct scsi_disk disk;
	struct scsi_stats st[HSTOR_QUEUES]; /* by channel sub_index */
	/* completions dropped while the LUN was removed under a guest that
	 * did not read its ring */
	rt_ctr dropped;
	/* loop thread, once removed: the remover's reference and one per
	 * queue still parked (hstor_gone.c); freed at 0 */
	unsigned refs;
};

struct hstor_req;
struct hstor_chan;

struct hstor_q {
	struct hstor_chan *ch;
	struct hstor_lun *lun;
	struct hbk_queue *bq;
	bool queued;             /* worker: submissions since the last kick */
	bool polled;             /* completions reaped by the worker */
	_Atomic bool removing;   /* the LUN is going: never wait on the ring */
	/* free request indexes: the completion side produces, the worker
	 * consumes */
	_Atomic uint32_t free_prod, free_cons;
	uint16_t free_ring[HSTOR_DEPTH];
	struct hstor_req *req;   /* HSTOR_DEPTH */
	struct hstor_q *gone_next; /* on the channel's gone list */
};

struct hstor_req {
	struct hstor_q *q;
	uint16_t index;
	unsigned pending;        /* backend ios not completed yet */
	int err;                 /* the first of their errors, or 0 */
	struct vstor_host_srb srb; /* range.pfn cleared: the packet is gone */
	struct scsi_result res;
	uint8_t *expanded;       /* WRITE SAME with a pattern: the data */
	unsigned niov;
	struct hbk_io io[HSTOR_UNMAP_EXT];
	struct scsi_extent ext[HSTOR_UNMAP_EXT];
	struct iovec iov[HSTOR_IOV];
	/* polled queues: a completion the guest's ring had no room for */
	struct hstor_req *next_unsent;
	uint32_t reply_len;
	uint8_t reply[VSTOR_PKT_LEN];
};

struct hstor_chan {
	struct hvm_chan *c;
	struct hstor_ctrl *ctrl;
	struct vstor_host eng;
	pthread_mutex_t lock;
	bool locked;             /* worker: lock held for this batch */
	bool closing;            /* channel stopping: no more I/O */
	struct hstor_q *q[HSTOR_LUNS];
	struct hstor_q *gone;    /* loop thread: queues of removed LUNs */
	int cq_fd;               /* eventfd: polled queues' completions */
	struct hstor_req *unsent; /* under lock: replies waiting for room */
	/* worker scratch */
	uint8_t param[HSTOR_PARAM_MAX];
	uint8_t out[SCSI_RESP_MAX];
	struct iovec iov[HSTOR_IOV];
	/* counters: written by the worker only */
	rt_ctr srbs, busy, bad_target;
};

struct hstor_ctrl {
	struct hdev *d;
	unsigned index;
	_Atomic(struct hstor_lun *) luns[HSTOR_LUNS];
	struct scsi_stats absent_st[HSTOR_QUEUES];
	int gone_timer;          /* loop thread: -1, or polling gone queues */
};

/* hstor_srb.c: one SRB on the worker; the completion callback. */
void hstor_srb(struct hstor_chan *ch, const struct vstor_host_srb *s);
void hstor_kick(struct hstor_chan *ch);
void hstor_reap(struct hstor_chan *ch);
void hstor_flush_unsent(struct hstor_chan *ch);
void hstor_q_close(struct hstor_q *q);
/* hstor_io.c: guest ranges and backend errors. */
unsigned hstor_iov(const struct rt_gmem *m, const struct vmb_gpa_range *r,
		   uint32_t len, struct iovec *iov);
void hstor_iov_copy_out(const struct iovec *iov, unsigned n, void *dst,
			uint32_t len);
void hstor_iov_copy_in(const struct iovec *iov, unsigned n, const void *src,
		       uint32_t len);
enum scsi_ioerr hstor_ioerr(int err);
void hstor_send(struct hstor_chan *ch, uint64_t xid, const void *buf,
		uint32_t len);
/* hstor_gone.c: queues of removed LUNs, closed once idle. */
void hstor_gone_add(struct hstor_chan *ch, struct hstor_q *q);
void hstor_gone_quiesce(struct hstor_chan *ch);
void hstor_gone_close(struct hstor_chan *ch);
void hstor_gone_fini(struct hstor_ctrl *ctrl);
/* hstor.c, hstor_lun.c */
struct hstor_ctrl *hstor_ctrl_of(struct hvm *vm, unsigned index);
void hstor_lun_free(struct hstor_lun *l);
void hstor_lun_put(struct hstor_lun *l);

#endif
