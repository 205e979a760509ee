/* Internals of the NBD export server (nbdx*.c). Everything here belongs
 * to the server thread, except what the export list's lock guards and
 * the completion stack (nbdx_complete, any thread). */
#ifndef HVIS_NBDX_PRIV_H
#define HVIS_NBDX_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "nbd/nbd_server.h"
#include "nbdx.h"

#define NBDX_RX 65536u
/* Refusals of the engine waiting for the socket (in the same queue as
 * the replies, so that no reply is ever cut by another). */
#define NBDX_RAW 16u
/* Replies gathered into one writev. */
#define NBDX_IOV 64u

struct nbdx_conn;

enum xreq_state { XR_FREE, XR_PARKED, XR_PAYLOAD, XR_DISK, XR_OUT };

struct xreq {
	struct nbdx_req r;       /* first: nbdx_complete gets &r */
	struct nbdx_conn *c;
	struct nbd_req nr;
	enum xreq_state state;
	uint8_t hdr[sizeof(struct nbd_simple_reply)];
	uint32_t data_len;       /* READ data following hdr */
	size_t sent;             /* of hdr + data */
	uint64_t got;            /* WRITE payload so far */
	struct xreq *next;       /* free list or output queue */
};

/* Counters: written by the server thread only, read by any. */
struct xstats {
	_Atomic uint64_t v[9];
};

enum { XS_CONNS, XS_TOTAL, XS_READS, XS_WRITES, XS_FLUSHES, XS_TRIMS,
       XS_ZEROES, XS_BREAD, XS_BWRITTEN };

struct nbdx_export {
	struct nbdx *s;
	struct nbdx_export_cfg cfg;  /* name and desc owned */
	_Atomic uint64_t size;
	_Atomic bool removed;
	unsigned with_disk;          /* server thread */
	unsigned conns;              /* server thread */
	struct xstats st;
	_Atomic uint64_t errors;
	struct nbdx_export *next;
};

struct nbdx_conn {
	struct nbdx *s;
	int fd;
	bool dead;               /* socket closed; waiting for the disk */
	bool closing;            /* end once the replies are out */
	bool eof;
	bool want_out;           /* EPOLLOUT armed */
	struct nbd_srv eng;
	struct nbdx_export *exp;
	struct xreq *free;
	struct xreq *out_head, *out_tail;
	struct xreq *payload;    /* WRITE whose payload is arriving */
	struct xreq *parked;     /* waiting for a buffer */
	unsigned with_disk;
	uint64_t stall_since;    /* ms: output pending and not moving */
	struct xreq *raw_free;
	struct xreq *held;       /* a refused WRITE's reply: its payload is
				  * still being dropped */
	size_t roff, rlen;
	uint8_t rx[NBDX_RX];
	struct xreq req[NBDX_CONN_INFLIGHT];
	struct xreq raw[NBDX_RAW];
	struct nbdx_conn *next;
};

struct nbdx {
	int ep, efd, lfd[2];
	char *unix_path;
	unsigned max_conns, nconns;
	pthread_t thr;
	pthread_mutex_t lock;     /* exports list, stopping */
	struct nbdx_export *exports;
	bool stopping;
	_Atomic(struct nbdx_req *) done;
	struct nbdx_conn *conns;
};

/* nbdx_conn.c */
void nbdx_conn_new(struct nbdx *s, int fd);
void nbdx_conn_run(struct nbdx_conn *c);
void nbdx_conn_done(struct xreq *x);
void nbdx_conn_kill(struct nbdx_conn *c, const char *why);
void nbdx_conn_free(struct nbdx_conn *c);
void nbdx_conn_housekeep(struct nbdx_conn *c, uint64_t now_ms);
/* nbdx.c */
struct nbdx_export *nbdx_lookup(struct nbdx *s, const char *name,
				uint32_t len);
uint64_t nbdx_now_ms(void);
void nbdx_stat(struct nbdx_export *e, unsigned k, uint64_t n);

#endif
