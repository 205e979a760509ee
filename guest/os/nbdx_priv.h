/* Internals of the NBD export server (nbdx*.c).
 *
 * Threads: everything here belongs to the server thread, except
 *  - the export list (s->exports, each export's next), under s->lock,
 *    taken by nbdx_add from any thread and by the server thread for
 *    lookups, LIST and releases (never on the data path);
 *  - an export's size and removed flag and s->stop, atomics set from
 *    any thread;
 *  - the completion stack s->done, pushed from any thread;
 *  - the counters, relaxed atomics written by the server thread only.
 *
 * Life of a request slot (struct xreq), on the server thread:
 *   FREE -> PARKED (waiting for buf_get) -> PAYLOAD (WRITE data
 *   arriving) -> WAIT (a write waiting for an earlier one, see
 *   nbdx_span.c) -> DISK (its I/Os submitted) -> OUT (reply queued) ->
 *   FREE.
 * Requests without a buffer (FLUSH, TRIM, a WRITE_ZEROES of whole
 * blocks) skip PARKED, refusals go straight to OUT. A slot in WAIT or
 * DISK belongs to the disk's side until its last I/O came back, even
 * after its connection died: a dead connection is freed only once its
 * last slot came back. */
#ifndef HVIS_NBDX_PRIV_H
#define HVIS_NBDX_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "nbd/nbd_server.h"
#include "nbdx.h"

/* Receive buffer of a connection: request headers and the first bytes of
 * WRITE payload; the rest of a payload goes straight into its buffer. */
#define NBDX_RX 65536u
/* Refusals of the engine in the output queue at once: a client sending
 * nothing but bad requests stops being read when they are all queued. */
#define NBDX_RAW 16u
/* iovecs per sendmsg: header and data of up to 32 replies. */
#define NBDX_IOV 64u
/* Housekeeping period (stalls, handshake timeouts) when nothing happens. */
#define NBDX_TICK_MS 250
/* Pending connections a listener keeps. */
#define NBDX_BACKLOG 64

enum xr_state { XR_FREE, XR_PARKED, XR_PAYLOAD, XR_WAIT, XR_DISK, XR_OUT };

/* The blocks of a request at offset off, rlen bytes (nbdx_span.c);
 * positions are from start. */
struct nbdx_span {
	uint64_t start;     /* first covering block */
	uint64_t len;       /* covering blocks, bytes */
	uint32_t skew;      /* off - start */
	uint32_t rlen;
	uint32_t bs;
	unsigned nedge;     /* blocks covered in part: 0, 1 or 2 */
	uint64_t edge[2];
	uint64_t in_start;  /* the whole blocks inside the request */
	uint64_t in_len;
};

/* A write in the lock set of its export. */
struct nbdx_lk {
	uint64_t a, b;           /* the bytes it writes on the disk */
	uint64_t la[2];          /* the blocks it holds (partial ones) */
	uint32_t lbs;
	unsigned nl;             /* 0: holds none, not serialising */
	struct nbdx_lk *prev, *next;     /* the set, in arrival order */
	struct nbdx_lk *waiters, *wnext; /* waiting for it; next such */
};

struct nbdx_lkset {
	struct nbdx_lk *head, *tail;
	unsigned serial;         /* entries holding blocks */
};

struct nbdx_conn;

struct xreq {
	/* The I/O of the request on whole blocks: the covering blocks of
	 * a READ or WRITE, a FLUSH, the whole blocks inside a TRIM or
	 * WRITE_ZEROES. */
	struct nbdx_req r;
	/* Partial blocks of a WRITE or WRITE_ZEROES: read into the
	 * scratch blocks of buf, then (WRITE_ZEROES) written back. */
	struct nbdx_req edge[2];
	struct nbdx_conn *c;
	struct nbd_req nr;      /* as the engine handed it over */
	struct nbdx_span sp;
	struct nbdx_lk lk;      /* WRITE, WRITE_ZEROES: from WAIT to done */
	enum xr_state state;
	bool edges_read;        /* their reads were started */
	bool main_io;           /* the I/Os on whole blocks were started */
	unsigned pend;          /* I/Os with the disk */
	int err;                /* -errno decided before the disk saw it,
				 * or the first failed I/O's */
	void *buf;              /* from buf_get: covering blocks (READ,
				 * WRITE), then scratch blocks */
	uint32_t blen;
	uint32_t got;           /* WRITE payload taken so far */
	uint32_t data;          /* READ data following the header */
	uint32_t sent;          /* of header and data */
	uint8_t hdr[sizeof(struct nbd_simple_reply)];
	struct xreq *next;      /* free list or output queue */
};

/* Counters of an export (struct nbdx_stats). */
enum xs {
	XS_CONNS, XS_TOTAL, XS_READS, XS_WRITES, XS_FLUSHES, XS_TRIMS,
	XS_ZEROES, XS_BREAD, XS_BWRITTEN, XS_ERRORS, XS_CUT, XS__COUNT
};

struct nbdx_export {
	struct nbdx *s;
	struct nbdx_export_cfg cfg;  /* name and desc: copies owned */
	uint32_t name_len, desc_len;
	_Atomic uint64_t size;
	_Atomic bool removed;
	unsigned conns;              /* connections bound, dead ones too */
	unsigned with_disk;          /* requests in WAIT or DISK */
	struct nbdx_lkset locks;     /* its writes in WAIT or DISK */
	struct nbdx_lk *ready;       /* no longer waiting: to be started */
	bool starting;               /* ready being run */
	_Atomic uint64_t st[XS__COUNT];
	struct nbdx_export *next;
};

struct nbdx_conn {
	struct nbdx *s;
	struct nbdx_export *exp;  /* bound by GO or EXPORT_NAME */
	int fd;
	uint32_t events;          /* epoll mask armed */
	bool dead;                /* socket closed; slots with the disk stay */
	bool closing;             /* DISC or end of stream: end when idle */
	bool kick;                /* a completion arrived: run it */
	struct nbd_srv eng;
	struct xreq *free, *raw_free;
	struct xreq *out_head, *out_tail;
	struct xreq *cur;         /* PARKED or PAYLOAD: the stream waits */
	struct xreq *held;        /* a refused WRITE's reply, queued once
				   * the engine dropped its payload */
	unsigned with_disk;       /* its requests in WAIT or DISK */
	uint64_t born_ms;
	uint64_t stall_ms;        /* output blocked since, 0: moving */
	uint64_t park_ms;         /* c->cur waits for a buffer since */
	size_t roff, rlen;
	struct nbdx_conn *next;
	uint8_t rx[NBDX_RX];
	struct xreq req[NBDX_CONN_INFLIGHT];
	struct xreq raw[NBDX_RAW];
};

struct nbdx {
	int ep, efd, lfd[2];
	char *unix_path;
	unsigned max_conns, nconns;
	bool stopping;            /* server thread's copy of stop */
	bool accept_paused;       /* out of descriptors: listeners off */
	pthread_t thr;
	pthread_mutex_t lock;
	struct nbdx_export *exports;
	_Atomic bool stop;
	_Atomic(struct nbdx_req *) done;
	_Atomic unsigned completing;  /* nbdx_complete calls under way */
	_Atomic unsigned removing;    /* removed exports not released yet */
	struct nbdx_conn *conns;
};

/* nbdx.c */
uint64_t nbdx_now_ms(void);
void nbdx_wake(struct nbdx *s);

/* nbdx_exp.c */
void nbdx_stat(struct nbdx_export *e, enum xs k, uint64_t n);
uint32_t nbdx_nbd_err(int err);
uint16_t nbdx_export_flags(const struct nbdx_export_cfg *k);
bool nbdx_cfg_ok(const struct nbdx_export_cfg *k);
/* Export name[0..len) (empty: the first one) and its answer in ne. */
struct nbdx_export *nbdx_lookup(struct nbdx *s, const char *name,
				uint32_t len, struct nbd_export *ne);
/* Answers NBD_EV_LIST for entry index; VMB_OK or the engine's error. */
int nbdx_list(struct nbdx *s, struct nbd_srv *eng, uint32_t index);
/* Releases and frees removed exports nothing uses (all: every one). */
void nbdx_exports_release(struct nbdx *s, bool all);
/* Takes the completion stack: the chain nbdx_complete pushed. */
struct nbdx_req *nbdx_done_take(struct nbdx *s);
/* Waits for nbdx_complete calls still using s (after their push). */
void nbdx_done_quiesce(struct nbdx *s);

/* nbdx_conn.c */
void nbdx_conn_new(struct nbdx *s, int fd);
void nbdx_conn_run(struct nbdx_conn *c);
void nbdx_conn_event(struct nbdx_conn *c, uint32_t events);
void nbdx_conn_kill(struct nbdx_conn *c);
/* Stalls, handshakes too long, removed exports; frees c if it is dead
 * and the disk has nothing of it (true). */
bool nbdx_conn_housekeep(struct nbdx_conn *c, uint64_t now_ms);
void nbdx_out_push(struct nbdx_conn *c, struct xreq *x);
/* Up to len bytes from the client: > 0 taken, 0 none now, -1 the end of
 * the stream (told to the engine), -2 a failure (c cut). */
ssize_t nbdx_recv(struct nbdx_conn *c, void *dst, size_t len);

/* nbdx_span.c */
void nbdx_span_of(uint64_t off, uint32_t len, uint32_t bs,
		  struct nbdx_span *sp);
/* Into span (the covering blocks) at pos: the bytes of blk (the block
 * read from the disk) the request does not cover. */
void nbdx_span_keep(const struct nbdx_span *sp, uint8_t *span, uint64_t pos,
		    const uint8_t *blk);
/* Zeros the bytes of blk (the block at pos) the request covers. */
void nbdx_span_zero(const struct nbdx_span *sp, uint64_t pos, uint8_t *blk);
/* Adds k (a, b, la, lbs, nl set) last; true if it may go now, false if
 * it waits (a nbdx_lk_leave of an earlier entry puts it on ready). */
bool nbdx_lk_enter(struct nbdx_lkset *s, struct nbdx_lk *k);
/* k is done: removed; its waiters that may go now pushed on *ready,
 * linked by wnext. */
void nbdx_lk_leave(struct nbdx_lkset *s, struct nbdx_lk *k,
		   struct nbdx_lk **ready);

/* nbdx_io.c */
/* x (with its buffer and payload, if any) to the disk: its lock, then
 * its I/Os, then its reply. */
void nbdx_io_start(struct xreq *x);
/* An I/O of a request came back from nbdx_complete. */
void nbdx_io_done(struct nbdx_req *r);

/* nbdx_req.c */
/* The reply of x (READ data from its buffer) queued. */
void nbdx_req_reply(struct nbdx_conn *c, struct xreq *x, int err);
void nbdx_req_init(struct nbdx_conn *c);
bool nbdx_req_gone(const struct nbdx_conn *c);
void nbdx_req_new(struct nbdx_conn *c, const struct nbd_req *nr);
/* Moves c->cur on; false while it waits (buffer, payload bytes). */
bool nbdx_req_step(struct nbdx_conn *c);
void nbdx_req_refused(struct nbdx_conn *c, const struct nbd_ev *ev);
void nbdx_req_unhold(struct nbdx_conn *c);
void nbdx_req_put(struct nbdx_conn *c, struct xreq *x);

#endif
