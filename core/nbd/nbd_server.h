/* An NBD server connection as a sans-I/O engine: bytes from the client
 * in, events and bytes for the client out. The embedder owns the socket,
 * the exports and the data; the engine owns the protocol: the fixed
 * newstyle handshake, option haggling (EXPORT_NAME, INFO, GO, LIST,
 * ABORT; every other option refused with NBD_REP_ERR_UNSUP, structured
 * replies included), and the transmission phase with simple replies.
 *
 * The loop an embedder runs:
 *   1. send what nbd_srv_out() holds (the greeting first), report it with
 *      nbd_srv_out_done();
 *   2. nbd_srv_input() with the bytes received (any fragmentation: one
 *      byte at a time works); it consumes what it can and stops at the
 *      first event, returning how many bytes it took. Bytes not taken are
 *      offered again on the next call; a call with no bytes only reports
 *      the event due, if any.
 *   3. act on the event (below), then go to 1.
 *
 * Handshake output goes through nbd_srv_out(); input is not read while
 * any of it is unsent, so that the replies to one option are on their
 * way before the next option is parsed (a client may not send another
 * option before the last reply anyway) and a client that stops reading
 * stops being read. In the transmission phase the engine keeps no output
 * of its own: each reply header is handed to the embedder (an
 * NBD_EV_REPLY event, or nbd_srv_reply()), which sends headers and READ
 * data in the order it chooses, each header immediately followed by its
 * data.
 *
 * WRITE payload is never copied by the engine: after an NBD_EV_REQUEST
 * for a WRITE, the next req.len bytes of the stream are that write's
 * data; the embedder moves them into its own buffer (from what it
 * already received, or straight from the socket) and reports each part
 * with nbd_srv_payload(). The payload of a WRITE the engine refuses is
 * read and dropped inside nbd_srv_input().
 *
 * Every byte from the client is untrusted. A refused option is answered
 * with an error reply and a refused request with an error in its simple
 * reply, each counted by reason, and the connection goes on; a message
 * that cannot be answered or framed (bad magic, unknown client flags,
 * EXPORT_NAME for an unknown export) ends the connection (NBD_EV_CLOSE),
 * counted under its reason in st.fatal.
 *
 * Threads: one engine serves one connection and is not thread-safe;
 * every call for an engine comes from one thread at a time (the
 * connection's event loop). Requests may complete in any order. The
 * engine allocates nothing; its size is dominated by the largest option
 * (NBD_OPT_DATA_MAX) and the largest answer it builds (NBD_SRV_OUT_MAX). */
#ifndef HVIS_NBD_SERVER_H
#define HVIS_NBD_SERVER_H

#include "nbd_wire.h"

/* Option data kept for parsing: every option this server acts on fits
 * (INFO/GO with a name up to NBD_OPT_DATA_MAX - 6 bytes and no requests);
 * longer option data is skipped and answered NBD_REP_ERR_TOO_BIG, an
 * EXPORT_NAME longer than a string may be (NBD_STRING_MAX) ends the
 * connection, as it cannot be answered with an error. */
#define NBD_OPT_DATA_MAX 4096u
/* The largest payload an export may advertise (and the default). */
#define NBD_SRV_MAX_PAYLOAD NBD_DEFAULT_MAX_PAYLOAD

/* Largest handshake output at once: an INFO/GO answer with every item
 * (export, name and description strings, block sizes) and its ACK. */
#define NBD_SRV_OUT_MAX                                                   \
	(5 * sizeof(struct nbd_opt_reply) + sizeof(struct nbd_info_export) + \
	 2 * (sizeof(struct nbd_info_string) + NBD_STRING_MAX) +              \
	 sizeof(struct nbd_info_block_size))

/* Transmission flags an export may set (HAS_FLAGS is always added).
 * SEND_FAST_ZERO needs SEND_WRITE_ZEROES; SEND_DF (structured replies),
 * SEND_CACHE and the experimental bits are not offered. */
#define NBD_SRV_EXPORT_FLAGS                                               \
	(NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH |   \
	 NBD_FLAG_SEND_FUA | NBD_FLAG_ROTATIONAL | NBD_FLAG_SEND_TRIM |    \
	 NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_CAN_MULTI_CONN |            \
	 NBD_FLAG_SEND_FAST_ZERO)

/* ---- counters ---- */

/* Requests handed to the embedder, by command. */
enum nbd_cls {
	NBD_CLS_READ,
	NBD_CLS_WRITE,
	NBD_CLS_FLUSH,
	NBD_CLS_TRIM,
	NBD_CLS_WRITE_ZEROES,
	NBD_CLS__COUNT
};

/* Why an option was refused (the connection goes on). */
enum nbd_opterr {
	NBD_OPTERR_UNSUP,    /* not implemented here: ERR_UNSUP */
	NBD_OPTERR_INVALID,  /* malformed data: ERR_INVALID */
	NBD_OPTERR_TOO_BIG,  /* data over NBD_OPT_DATA_MAX, skipped: ERR_TOO_BIG */
	NBD_OPTERR_UNKNOWN,  /* INFO/GO for no such export: ERR_UNKNOWN */
	NBD_OPTERR_SHUTDOWN, /* after nbd_srv_shutdown(): ERR_SHUTDOWN */
	NBD_OPTERR__COUNT
};

/* Why the engine refused a request itself (the reply carries the error;
 * the connection goes on). */
enum nbd_reqerr {
	NBD_REQERR_TYPE,      /* unknown, or not advertised: EINVAL */
	NBD_REQERR_FLAGS,     /* command flag not allowed here: EINVAL */
	NBD_REQERR_READ_ONLY, /* WRITE, TRIM, WRITE_ZEROES, read-only: EPERM */
	NBD_REQERR_LENGTH,    /* length 0, or FLUSH/DISC with offset/length */
	NBD_REQERR_TOO_BIG,   /* READ/WRITE over the maximum payload: EINVAL */
	NBD_REQERR_ALIGN,     /* not a multiple of the minimum block: EINVAL */
	NBD_REQERR_RANGE,     /* past the end: ENOSPC (writes), EINVAL */
	NBD_REQERR_SHUTDOWN,  /* after nbd_srv_shutdown(): ESHUTDOWN */
	NBD_REQERR__COUNT
};

/* Why the engine ended the connection: the client broke a MUST. */
enum nbd_fatal {
	NBD_FATAL_CLIENT_FLAGS, /* unknown client flag */
	NBD_FATAL_OPT_MAGIC,    /* option header without IHAVEOPT */
	NBD_FATAL_EXPORT_NAME,  /* EXPORT_NAME too long or holding a NUL */
	NBD_FATAL_REQ_MAGIC,    /* request without NBD_REQUEST_MAGIC */
	NBD_FATAL_TRUNCATED,    /* end of stream inside a message */
	NBD_FATAL__COUNT
};

struct nbd_srv_stats {
	uint64_t options;  /* option headers received */
	uint64_t opt_err[NBD_OPTERR__COUNT];
	uint64_t cmds[NBD_CLS__COUNT];
	uint64_t req_err[NBD_REQERR__COUNT];
	uint64_t fatal[NBD_FATAL__COUNT];
	uint64_t replies;      /* nbd_srv_reply() headers built */
	uint64_t replies_err;  /* of which carried an error */
	uint64_t bytes_read;   /* successful READ data */
	uint64_t bytes_written; /* successful WRITE data */
};

const char *nbd_cls_name(enum nbd_cls c);
const char *nbd_opterr_name(enum nbd_opterr e);
const char *nbd_reqerr_name(enum nbd_reqerr e);
const char *nbd_fatal_name(enum nbd_fatal f);

/* ---- exports ---- */

/* The embedder's answer to an export lookup. Strings need live only for
 * the call (the engine copies what it sends). */
struct nbd_export {
	uint64_t size;       /* bytes */
	uint16_t flags;      /* within NBD_SRV_EXPORT_FLAGS */
	/* "Size constraints": all three 0 for the defaults (1, 4096,
	 * 32 MiB); else min a power of 2 up to 64 KiB, pref a power of 2 of
	 * at least max(min, 512), pref <= max <= NBD_SRV_MAX_PAYLOAD.
	 * Requests are held to them (EINVAL), so a client that did not ask
	 * for them is still answered cleanly. */
	uint32_t min_block;
	uint32_t pref_block;
	uint32_t max_payload;
	/* The canonical name for NBD_INFO_NAME, or NULL for the name the
	 * client gave; a description for NBD_INFO_DESCRIPTION, or NULL.
	 * Each at most NBD_STRING_MAX bytes, without NUL. */
	const char *name;
	uint32_t name_len;
	const char *desc;
	uint32_t desc_len;
};

/* ---- events ---- */

enum nbd_ev_kind {
	NBD_EV_NONE,    /* every byte taken; call again when more arrive */
	NBD_EV_SEND,    /* handshake output pending: send nbd_srv_out() */
	/* Look up export ev.name (ev.name_len bytes, no NUL, maybe empty:
	 * the default export); answer with nbd_srv_export(). ev.go: the
	 * client will use it (EXPORT_NAME, GO), not only ask (INFO). */
	NBD_EV_EXPORT,
	/* NBD_OPT_LIST wants export number ev.index (0, 1, ...): answer with
	 * nbd_srv_list_entry() or, past the last, nbd_srv_list_end(). */
	NBD_EV_LIST,
	/* Transmission phase: the export last answered is in use. */
	NBD_EV_READY,
	/* ev.req to carry out, then nbd_srv_reply(). A WRITE's req.len
	 * payload bytes come next in the stream (NBD_EV_PAYLOAD). */
	NBD_EV_REQUEST,
	/* ev.left bytes of WRITE payload still to be taken from the stream
	 * by the embedder (nbd_srv_payload()); nothing else is read first. */
	NBD_EV_PAYLOAD,
	/* The engine refused a request itself: send the simple reply in
	 * ev.reply (ev.why says why; ev.req is the request as read, its
	 * fields unchecked). Not in flight. */
	NBD_EV_REPLY,
	/* max_inflight requests are in flight: reply to one first. */
	NBD_EV_FULL,
	/* End the connection: ev.close says why. After NBD_CLOSE_DISC, send
	 * the replies of the ev.inflight requests still in flight first
	 * (nbd_srv_reply() still works); otherwise drop it now. */
	NBD_EV_CLOSE
};

enum nbd_close {
	NBD_CLOSE_ABORT,    /* NBD_OPT_ABORT, acknowledged */
	NBD_CLOSE_DISC,     /* NBD_CMD_DISC */
	NBD_CLOSE_UNKNOWN,  /* EXPORT_NAME for no such export */
	NBD_CLOSE_SHUTDOWN, /* EXPORT_NAME after nbd_srv_shutdown() */
	NBD_CLOSE_PROTOCOL, /* the client broke the protocol: ev.fatal */
	NBD_CLOSE_EOF       /* nbd_srv_eof() */
};

struct nbd_req {
	uint16_t type;   /* NBD_CMD_READ, WRITE, FLUSH, TRIM, WRITE_ZEROES */
	uint16_t flags;  /* NBD_CMD_FLAG_*: only FUA, NO_HOLE, FAST_ZERO */
	uint64_t cookie; /* opaque, echoed in the reply */
	uint64_t offset; /* inside the export, aligned, with len */
	uint32_t len;    /* > 0; READ/WRITE <= max_payload; FLUSH: 0 */
};

struct nbd_ev {
	enum nbd_ev_kind kind;
	const char *name;       /* EXPORT: in the engine, until answered */
	uint32_t name_len;
	bool go;
	uint32_t index;         /* LIST */
	struct nbd_req req;     /* REQUEST, REPLY; PAYLOAD: the WRITE */
	uint64_t left;          /* PAYLOAD */
	uint8_t reply[sizeof(struct nbd_simple_reply)]; /* REPLY */
	enum nbd_reqerr why;    /* REPLY */
	enum nbd_close close;   /* CLOSE */
	enum nbd_fatal fatal;   /* CLOSE, PROTOCOL */
	uint32_t inflight;      /* CLOSE */
};

/* ---- the engine ---- */

enum nbd_srv_state {
	NBD_SRV_CLIENT_FLAGS,
	NBD_SRV_OPT_HDR,
	NBD_SRV_OPT_DATA,
	NBD_SRV_OPT_SKIP,  /* oversize option data being dropped */
	NBD_SRV_LOOKUP,    /* waiting for nbd_srv_export() */
	NBD_SRV_LIST,      /* waiting for nbd_srv_list_entry()/_end() */
	NBD_SRV_REQ_HDR,
	NBD_SRV_PAYLOAD,   /* the embedder takes WRITE payload */
	NBD_SRV_DISCARD,   /* a refused WRITE's payload being dropped */
	NBD_SRV_DISC,      /* NBD_CMD_DISC received */
	NBD_SRV_CLOSED
};

/* The export in use during transmission. */
struct nbd_srv_export {
	uint64_t size;
	uint16_t flags;
	uint32_t min_block;
	uint32_t max_payload;
};

struct nbd_srv {
	enum nbd_srv_state state;
	bool no_zeroes;     /* client set NBD_FLAG_C_NO_ZEROES */
	bool shutdown;
	bool ready_due;     /* report NBD_EV_READY once output is sent */
	bool abort_due;     /* close once the ABORT's ACK is sent */
	uint8_t infos;      /* INFO/GO: requested items, 1 << NBD_INFO_* */
	enum nbd_close close;
	enum nbd_fatal fatal;
	uint32_t have;      /* bytes of the header or option data so far */
	uint32_t opt;       /* option being handled */
	uint32_t opt_len;
	uint32_t name_off;  /* INFO/GO/EXPORT_NAME: the name in opt_buf */
	uint32_t name_len;
	uint32_t index;     /* LIST: next entry */
	uint64_t left;      /* PAYLOAD, DISCARD, OPT_SKIP: bytes to go */
	struct nbd_req wreq; /* PAYLOAD: the WRITE */
	uint32_t inflight;
	uint32_t max_inflight;
	struct nbd_srv_export exp;
	uint32_t out_off;
	uint32_t out_len;
	struct nbd_srv_stats st;
	uint8_t hdr[sizeof(struct nbd_request)];
	uint8_t opt_buf[NBD_OPT_DATA_MAX];
	uint8_t out[NBD_SRV_OUT_MAX];
};

/* A new connection; the greeting is queued in the output. max_inflight:
 * requests the embedder takes at once (>= 1). VMB_EINVAL if 0. */
int nbd_srv_init(struct nbd_srv *s, uint32_t max_inflight);

/* Handshake output not sent yet (*len 0: none). */
const uint8_t *nbd_srv_out(const struct nbd_srv *s, size_t *len);
/* n bytes of it were sent (more than pending counts as all). */
void nbd_srv_out_done(struct nbd_srv *s, size_t n);

/* Takes bytes from the client up to the first event (see the top of this
 * file); returns how many it took, ev says what stopped it. */
size_t nbd_srv_input(struct nbd_srv *s, const uint8_t *in, size_t len,
		     struct nbd_ev *ev);

/* Answer to NBD_EV_EXPORT; e NULL: no such export (INFO/GO get
 * NBD_REP_ERR_UNKNOWN, EXPORT_NAME ends the connection). An e breaking
 * the rules of struct nbd_export is answered as NULL and returns
 * VMB_EINVAL; VMB_EBUSY if no lookup is waiting. */
int nbd_srv_export(struct nbd_srv *s, const struct nbd_export *e);

/* Answers to NBD_EV_LIST: one export (desc may be NULL), or the end of
 * the list. VMB_EINVAL for a string too long or holding a NUL (nothing
 * sent), VMB_EBUSY if no list is waiting. */
int nbd_srv_list_entry(struct nbd_srv *s, const char *name,
		       uint32_t name_len, const char *desc,
		       uint32_t desc_len);
int nbd_srv_list_end(struct nbd_srv *s);

/* n more bytes of the pending WRITE's payload were taken from the stream
 * by the embedder. VMB_EINVAL if no payload is pending or n exceeds it. */
int nbd_srv_payload(struct nbd_srv *s, uint64_t n);

/* Completes req (as NBD_EV_REQUEST gave it) with err: 0 or one of the
 * NBD_E* values. Writes its simple reply header into hdr and returns the
 * number of data bytes that must follow it (req->len for a successful
 * READ, else 0). VMB_EINVAL if nothing is in flight or err is not an
 * NBD error value (nothing changes). */
int nbd_srv_reply(struct nbd_srv *s, const struct nbd_req *req,
		  uint32_t err, uint8_t hdr[sizeof(struct nbd_simple_reply)]);

/* The server is going away: further options are refused with
 * NBD_REP_ERR_SHUTDOWN (ABORT still acknowledged), further requests with
 * NBD_ESHUTDOWN, after which the client is expected to disconnect. */
void nbd_srv_shutdown(struct nbd_srv *s);

/* The client closed its end. VMB_EPROTO if that cut a message short
 * (counted as NBD_FATAL_TRUNCATED), else VMB_OK. The engine is closed. */
int nbd_srv_eof(struct nbd_srv *s);

#endif
