/* Internals of the NBD backend: hbk_nbd.c opens the disk and its queues,
 * hbk_nbd_conn.c runs each connection on its own thread. */
#ifndef HVIS_HBK_NBD_PRIV_H
#define HVIS_HBK_NBD_PRIV_H

#include <libnbd.h>
#include <pthread.h>

#include "hbk_priv.h"

struct nbd_conn;

struct hbk_nbd {
	struct hbk b;
	char *uri;
	bool multi;              /* the server allows a connection per queue */
	bool fua, flush, zero;   /* what the server takes */
	uint64_t max_rw;         /* bytes one READ/WRITE command carries */
	const uint8_t *zeros;    /* max_rw of them: WRITE_ZEROES without zero */
	struct nbd_conn *base;   /* opened with the disk; shared unless multi */
};

/* One io being carried out as one or more NBD commands. */
struct nbd_slot {
	struct hbk_io *io;
	struct hbk_nq *q;
	unsigned parts;          /* commands in flight, + 1 while issuing */
	bool flush_after;        /* FUA on a server without it */
};

struct hbk_nq {
	struct hbk_queue q;
	struct nbd_conn *c;
	/* the worker's: submitted, not kicked */
	struct hbk_io **local;
	unsigned nlocal;
	/* handed over at each kick (c->lock) */
	struct hbk_io **in;
	unsigned nin;
	/* closing: leave once nothing is in flight (set under the lock,
	 * also read without it by the thread, to look again) */
	_Atomic bool detach;
	bool gone;               /* left: the thread no longer looks at it */
	struct hbk_nq *next;     /* the connection's queues */
	/* the connection thread's */
	struct hbk_io **take;    /* swapped with in: to issue */
	unsigned ntake;
	struct nbd_slot *slot;   /* depth of them */
	unsigned *free_slot;
	unsigned nfree;
	unsigned outstanding;    /* taken from in, not yet delivered */
	struct hbk_io **fin;     /* finished, to deliver */
	unsigned nfin;
	struct nbd_slot **later; /* whose flush is still to issue */
	unsigned nlater;
};

struct nbd_conn {
	struct hbk_nbd *n;
	struct nbd_handle *h;
	int efd;                 /* wakes the thread: a kick, a close */
	pthread_t thr;
	bool thr_live;
	unsigned users;          /* queues on it (the owner's) */
	pthread_mutex_t lock;    /* queues, their in/detach/gone; stop */
	pthread_cond_t cv;       /* a queue is gone */
	struct hbk_nq *queues;
	bool stop;
	/* the thread's */
	bool dead;               /* every io fails with -EIO from now on */
	struct hbk_nq **snap;    /* the queues, as of the last look */
	unsigned nsnap, snap_cap;
};

/* Connect to n->uri. 0 or -errno, with libnbd's reason in err. */
int hbk_nbd_conn_new(struct hbk_nbd *n, struct nbd_conn **out, char *err,
		     size_t errlen);
/* Start the connection's thread: from then on only it calls libnbd on
 * the handle. */
int hbk_nbd_conn_start(struct nbd_conn *c);
void hbk_nbd_conn_close(struct nbd_conn *c);
void hbk_nbd_conn_wake(struct nbd_conn *c);

#endif
