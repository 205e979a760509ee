/* NBD (Network Block Device) wire formats a server needs: the fixed
 * newstyle handshake, option haggling and its replies, the information
 * items of NBD_OPT_INFO/GO, and the transmission phase's request and
 * simple reply. Every field is in network byte order: the structs below
 * hold such fields as byte arrays, read and written only through
 * vmb_be* / vmb_put_be*.
 *
 * Source for every value and layout: the NBD protocol document,
 * doc/proto.md of github.com/NetworkBlockDevice/nbd (the sections named
 * in each comment below). Magic numbers are the document's literals. */
#ifndef HVIS_NBD_WIRE_H
#define HVIS_NBD_WIRE_H

#include "vmb_base.h"

/* ---- handshake ("Newstyle negotiation") ---- */
#define NBD_MAGIC 0x4e42444d41474943ull    /* ASCII "NBDMAGIC" */
#define NBD_IHAVEOPT 0x49484156454F5054ull /* ASCII "IHAVEOPT" */

/* "Handshake flags" (16 bits, server to client). */
#define NBD_FLAG_FIXED_NEWSTYLE 0x0001 /* bit 0 */
#define NBD_FLAG_NO_ZEROES 0x0002      /* bit 1 */

/* "Client flags" (32 bits): the server MUST drop the connection on any
 * other bit, or on one it did not advertise. */
#define NBD_FLAG_C_FIXED_NEWSTYLE 0x00000001u /* bit 0 */
#define NBD_FLAG_C_NO_ZEROES 0x00000002u      /* bit 1 */

/* S: NBDMAGIC, IHAVEOPT, handshake flags. */
struct nbd_greeting {
	uint8_t magic[8];
	uint8_t ihaveopt[8];
	uint8_t flags[2];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_greeting) == 18, "greeting size");

struct nbd_client_flags {
	uint8_t flags[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_client_flags) == 4, "client flags size");

/* C: IHAVEOPT, option, length of option data, then the data. */
struct nbd_opt_hdr {
	uint8_t magic[8];
	uint8_t option[4];
	uint8_t length[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_opt_hdr) == 16, "option header size");

/* "Option types". 4 (PEEK_EXPORT) is withdrawn, 11 (EXTENDED_HEADERS)
 * belongs to an experimental extension. */
#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_STARTTLS 5
#define NBD_OPT_INFO 6
#define NBD_OPT_GO 7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10
#define NBD_OPT_EXTENDED_HEADERS 11

/* "Fixed newstyle negotiation": S: reply magic, the option answered,
 * reply type, length of the reply data, then the data. */
#define NBD_REP_MAGIC 0x0003e889045565a9ull

struct nbd_opt_reply {
	uint8_t magic[8];
	uint8_t option[4];
	uint8_t type[4];
	uint8_t length[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_opt_reply) == 20, "option reply size");

/* "Option reply types"; errors have bit 31 set and MAY carry a message
 * string for the user. */
#define NBD_REP_ACK 1
#define NBD_REP_SERVER 2
#define NBD_REP_INFO 3
#define NBD_REP_META_CONTEXT 4
#define NBD_REP_FLAG_ERROR 0x80000000u
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_PLATFORM (NBD_REP_FLAG_ERROR | 4)
#define NBD_REP_ERR_TLS_REQD (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9)

/* NBD_REP_SERVER data: 32-bit name length, the name, then an optional
 * description for humans filling the rest of the reply. */
struct nbd_rep_server {
	uint8_t name_len[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_rep_server) == 4, "rep server size");

/* NBD_OPT_EXPORT_NAME's answer: export size, transmission flags and
 * (unless the client set NBD_FLAG_C_NO_ZEROES) 124 zero bytes. */
#define NBD_EXPORT_NAME_ZEROES 124

struct nbd_export_name_reply {
	uint8_t size[8];
	uint8_t flags[2];
	uint8_t zeroes[NBD_EXPORT_NAME_ZEROES];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_export_name_reply) == 134,
	       "export name reply size");
#define NBD_EXPORT_NAME_SHORT 10 /* the reply without the zeroes */

/* NBD_OPT_INFO / NBD_OPT_GO data: 32-bit name length (at most the
 * option length - 6), the name, a 16-bit count of information requests,
 * then that many 16-bit NBD_INFO_* values. */
#define NBD_GO_FIXED 6 /* name length and request count */

/* NBD_REP_INFO information types ("Option reply types"). */
#define NBD_INFO_EXPORT 0
#define NBD_INFO_NAME 1
#define NBD_INFO_DESCRIPTION 2
#define NBD_INFO_BLOCK_SIZE 3

/* NBD_INFO_EXPORT: length MUST be 12. */
struct nbd_info_export {
	uint8_t type[2];
	uint8_t size[8];
	uint8_t flags[2];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_info_export) == 12, "info export size");

/* NBD_INFO_NAME / NBD_INFO_DESCRIPTION: the type, then the string. */
struct nbd_info_string {
	uint8_t type[2];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_info_string) == 2, "info string size");

/* NBD_INFO_BLOCK_SIZE: length MUST be 14. */
struct nbd_info_block_size {
	uint8_t type[2];
	uint8_t min[4];
	uint8_t pref[4];
	uint8_t max[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_info_block_size) == 14, "block size size");

/* "Transmission flags" (16 bits). HAS_FLAGS MUST always be set; SEND_DF
 * MUST stay clear without structured replies; SEND_FAST_ZERO MUST be
 * clear unless SEND_WRITE_ZEROES is set. Bits 9 (SEND_RESIZE) and 12
 * (BLOCK_STATUS_PAYLOAD) belong to experimental extensions. */
#define NBD_FLAG_HAS_FLAGS 0x0001         /* bit 0 */
#define NBD_FLAG_READ_ONLY 0x0002         /* bit 1 */
#define NBD_FLAG_SEND_FLUSH 0x0004        /* bit 2 */
#define NBD_FLAG_SEND_FUA 0x0008          /* bit 3 */
#define NBD_FLAG_ROTATIONAL 0x0010        /* bit 4 */
#define NBD_FLAG_SEND_TRIM 0x0020         /* bit 5 */
#define NBD_FLAG_SEND_WRITE_ZEROES 0x0040 /* bit 6 */
#define NBD_FLAG_SEND_DF 0x0080           /* bit 7 */
#define NBD_FLAG_CAN_MULTI_CONN 0x0100    /* bit 8 */
#define NBD_FLAG_SEND_CACHE 0x0400        /* bit 10 */
#define NBD_FLAG_SEND_FAST_ZERO 0x0800    /* bit 11 */

/* ---- "Size constraints" ---- */
#define NBD_MIN_BLOCK_MAX 65536u    /* minimum block: a power of 2, <= 2^16 */
#define NBD_PREF_BLOCK_MIN 512u     /* preferred: a power of 2 >= this */
/* The defaults when none are advertised (1, 2^12, 2^25); a payload up to
 * 2^25 SHOULD NOT be deemed a denial of service. */
#define NBD_DEFAULT_MIN_BLOCK 1u
#define NBD_DEFAULT_PREF_BLOCK 4096u
#define NBD_DEFAULT_MAX_PAYLOAD (32u << 20)

/* "Conventions": a string MUST be no longer than 4096 bytes and MUST
 * NOT contain NUL. */
#define NBD_STRING_MAX 4096u

/* ---- transmission: "Request message" ---- */
#define NBD_REQUEST_MAGIC 0x25609513u
/* "Reserved Magic values": the experimental EXTENDED_HEADERS request,
 * which this server never negotiates. */
#define NBD_EXTENDED_REQUEST_MAGIC 0x21e41c71u

struct nbd_request {
	uint8_t magic[4];
	uint8_t flags[2];
	uint8_t type[2];
	uint8_t cookie[8]; /* "handle" in earlier versions; opaque */
	uint8_t offset[8];
	uint8_t length[4];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_request) == 28, "request size");

/* "Request types". */
#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4
#define NBD_CMD_CACHE 5
#define NBD_CMD_WRITE_ZEROES 6
#define NBD_CMD_BLOCK_STATUS 7

/* "Command flags". FUA is valid on every command once SEND_FUA is
 * advertised; NO_HOLE and FAST_ZERO only on WRITE_ZEROES; DF only on
 * READ with SEND_DF; REQ_ONE only on BLOCK_STATUS; PAYLOAD_LEN belongs
 * to the experimental EXTENDED_HEADERS. */
#define NBD_CMD_FLAG_FUA 0x0001         /* bit 0 */
#define NBD_CMD_FLAG_NO_HOLE 0x0002     /* bit 1 */
#define NBD_CMD_FLAG_DF 0x0004          /* bit 2 */
#define NBD_CMD_FLAG_REQ_ONE 0x0008     /* bit 3 */
#define NBD_CMD_FLAG_FAST_ZERO 0x0010   /* bit 4 */
#define NBD_CMD_FLAG_PAYLOAD_LEN 0x0020 /* bit 5 */

/* ---- "Simple reply message": then the data of a successful READ ---- */
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u

struct nbd_simple_reply {
	uint8_t magic[4];
	uint8_t error[4];
	uint8_t cookie[8];
} __attribute__((packed));
_Static_assert(sizeof(struct nbd_simple_reply) == 16, "simple reply size");

/* "Error values": the only values the error field may carry. */
#define NBD_EPERM 1
#define NBD_EIO 5
#define NBD_ENOMEM 12
#define NBD_EINVAL 22
#define NBD_ENOSPC 28
#define NBD_EOVERFLOW 75
#define NBD_ENOTSUP 95
#define NBD_ESHUTDOWN 108

#endif
