/* The guest's disks exported over NBD, so that every NBD tool (qemu-img,
 * qemu-io, nbdcopy, nbdinfo, fio's nbd engine, nbdfuse) works against a
 * disk of the guest. One server thread runs the sockets (a Unix socket,
 * optionally TCP on localhost) and the core/nbd engine of each
 * connection; a disk (storvsc's LUN, or a RAM disk in tests) does the I/O
 * through the nbdx_disk_ops it registers with its export.
 *
 * Data path: a request's data lives in memory the disk hands out
 * (buf_get: guest memory, that the host reads and writes by GPA), so WRITE
 * payload goes from the socket into it once and READ data goes from it to
 * the socket; nothing is copied in between.
 *
 * Clients may address any byte (minimum block 1; the disk's block is the
 * preferred one), the disk sees whole blocks only: a READ reads its
 * covering blocks and the client gets its bytes from inside them; a
 * WRITE's payload is received at its place inside its covering blocks,
 * the blocks it covers in part are read into scratch blocks of the same
 * buffer and only their bytes outside the payload copied around it,
 * then all is written (read-modify-write, serialised against the other
 * writes to those blocks: nbdx_span.c); WRITE_ZEROES zeroes its whole
 * blocks and read-modify-writes its partial ones; TRIM trims the whole
 * blocks inside it (it is advisory), none if there are none.
 *
 * Sockets are non-blocking. A client that stops reading its replies stops
 * being read (its requests in flight are bounded), and one whose replies
 * have not moved for NBDX_STALL_MS is cut off. Every request is checked by
 * the engine before it reaches the disk. */
#ifndef HVIS_NBDX_H
#define HVIS_NBDX_H

#include <stdbool.h>
#include <stdint.h>

#define NBDX_STALL_MS 10000u
/* Requests one connection has with the disk at once. */
#define NBDX_CONN_INFLIGHT 64u

struct nbdx;
struct nbdx_export;

/* One I/O as the disk sees it (a client's request is one or a few).
 * The disk fills err and may use next while it holds the I/O; the rest
 * is nbdx's. */
struct nbdx_req {
	uint16_t type;     /* NBD_CMD_READ, WRITE, FLUSH, TRIM, WRITE_ZEROES */
	bool fua;          /* WRITE, WRITE_ZEROES: durable at completion */
	bool may_unmap;    /* WRITE_ZEROES: holes may replace the zeros */
	uint64_t offset;   /* bytes, multiple of the export's block size */
	uint32_t len;      /* bytes, multiple of the block size; FLUSH: 0 */
	void *buf;         /* READ/WRITE: len bytes inside a buffer of
			    * buf_get, at a multiple of the block size */
	int err;           /* set by the disk: 0 or -errno */
	struct nbdx_req *next; /* chain for nbdx_complete() */
	void *disk_priv;   /* the disk's, free for its use */
	uint64_t disk_pos; /* the disk's, free for its use */
	void *owner;       /* nbdx's: the request the I/O is part of */
};

/* The largest buffer buf_get is asked for: a payload of max_payload at
 * an unaligned offset covers one block more, and a read-modify-write
 * adds up to two scratch blocks. */
#define NBDX_BUF_MAX(max_payload, block_size) \
	((max_payload) + 3u * (block_size))

/* What a disk provides. Called on the server thread, never with a lock
 * of nbdx held: a disk may call nbdx_add, nbdx_remove or nbdx_complete
 * from inside them. */
struct nbdx_disk_ops {
	/* Memory for len bytes (at most NBDX_BUF_MAX) of request data
	 * that the disk can move directly, aligned to its block; NULL if
	 * none now: the connection waits (reads nothing
	 * more) and asks again whenever a request completes, and at least
	 * every 250 ms. After NBDX_STALL_MS with none while nothing of the
	 * export is with the disk, the request is answered ENOMEM. */
	void *(*buf_get)(void *disk, uint32_t len);
	void (*buf_put)(void *disk, void *buf, uint32_t len);
	/* Start r; the disk completes it later with nbdx_complete(), from
	 * any thread. A non-zero -errno return refuses it at once (that
	 * error is the reply; nbdx_complete must not follow). */
	int (*submit)(void *disk, struct nbdx_req *r);
	/* The export is removed (nbdx_remove, or nbdx_stop for every
	 * export) and nothing of it is with the disk any more: no request
	 * in submit, no buffer from buf_get. The disk may go. The export
	 * is still valid during the call (nbdx_export_stats works) and is
	 * freed after it. Optional. */
	void (*released)(void *disk);
};

struct nbdx_export_cfg {
	const char *name;       /* export name, e.g. "scsi0-lun0" */
	const char *desc;       /* NBD_INFO_DESCRIPTION, or NULL */
	uint64_t size;          /* bytes */
	uint32_t block_size;    /* 512 or 4096 */
	uint32_t max_payload;   /* largest READ/WRITE of a client; the
				 * disk gets up to one block more */
	bool read_only;
	bool can_trim;          /* NBD_CMD_TRIM reaches the disk */
	bool can_zero;          /* NBD_CMD_WRITE_ZEROES reaches the disk */
	const struct nbdx_disk_ops *ops;
	void *disk;
};

struct nbdx_cfg {
	const char *unix_path;  /* socket created 0600; must not exist */
	uint16_t tcp_port;      /* 0: none; else listen on 127.0.0.1 */
	unsigned max_conns;     /* 0: 64 */
};

/* Per export, read with nbdx_export_stats(). Each counter is written
 * by the server thread alone and read with relaxed atomics: every value
 * is one the counter had, but the set is not one snapshot. */
struct nbdx_stats {
	uint64_t conns;          /* connections now */
	uint64_t conns_total;
	/* Requests handed to the disk's side, by command (refusals of
	 * the protocol engine not included). */
	uint64_t reads, writes, flushes, trims, zeroes;
	uint64_t bytes_read, bytes_written; /* successful READ/WRITE data */
	uint64_t errors;         /* replies that carried an error */
	uint64_t cut_off;        /* connections whose replies did not move
				  * for NBDX_STALL_MS */
};

/* Bind the sockets and start the server thread. 0 or -errno, with a
 * one-line reason in err. */
int nbdx_start(struct nbdx **out, const struct nbdx_cfg *cfg, char *err,
	       unsigned errlen);
/* Refuse new connections, end every connection (requests the disks hold
 * are waited for: a disk must complete everything it was given), join
 * the thread, release every export, free. */
void nbdx_stop(struct nbdx *s);

/* Add an export; from any thread. -EEXIST for a name in use. */
int nbdx_add(struct nbdx *s, const struct nbdx_export_cfg *cfg,
	     struct nbdx_export **out);
/* Remove e; from any thread: new connections cannot open it, requests
 * not yet with the disk and any that arrive get EIO (those with the
 * disk get the disk's answer), its connections end once their replies
 * are out (a client not reading them is cut off after NBDX_STALL_MS),
 * and ops->released follows when the disk holds none of its requests.
 * e is gone after released; a new export may take its name at once. */
void nbdx_remove(struct nbdx_export *e);
/* A new size for e: connections opened from now on see it. */
void nbdx_resize(struct nbdx_export *e, uint64_t size);
void nbdx_export_stats(struct nbdx_export *e, struct nbdx_stats *st);

/* Complete a chain of requests (linked by next, NULL-terminated), each
 * with err set; from any thread, also from inside submit. The chain may
 * mix exports and connections of one server. It is pushed with one
 * compare-exchange, and the server thread is woken (an eventfd write)
 * only when nothing else was waiting, so a disk that gathers a batch of
 * completions pays once. */
void nbdx_complete(struct nbdx_req *first);

#endif
