/* The hvis test device: a synthetic VMBus device that exists only in hvis,
 * to exercise channels, rings, rescind and sub-channels end to end.
 *
 * Class (interface type) GUID, project-defined:
 *     6876f5a4-0c3e-4b8d-9a7f-746573746476
 * (the last group spells "testdv" in ASCII). Instance GUIDs are chosen by
 * the host per device.
 *
 * Every message is the payload of a VMBus packet and starts with struct
 * tdev_hdr. Guest -> host messages are inband packets; the host answers a
 * request whose packet asked for a completion (VMB_PKT_FLAG_COMPLETION_
 * REQUESTED) with a completion packet of the same transaction id carrying
 * struct tdev_comp. All fields little-endian.
 *
 * Requests (guest -> host):
 *  QUERY       tdev_query: protocol version; reply: tdev_comp with
 *              value = host protocol version, value2 = the largest number
 *              of sub-channels the guest may ask for.
 *  MODE        tdev_mode: ECHO (default), SINK or SOURCE. Reply status.
 *  DATA        tdev_data + len bytes, byte i = (seq + i) & 0xff.
 *              ECHO: the host writes the packet back unchanged (same
 *              descriptor flags masked to none, same xid, same payload).
 *              SINK: the host counts it and checks len and pattern; with
 *              a completion requested it replies with its counters
 *              (packets, bytes, errors).
 *  SOURCE      tdev_source: in SOURCE mode the host sends count DATA
 *              packets of size bytes, seq 0..count-1, then the completion
 *              (value = packets sent).
 *  SUBCHANNELS tdev_subchannels: offer count sub-channels (same type and
 *              instance GUIDs, sub_channel_index 1..count). Only on the
 *              primary channel, once; count <= QUERY's value2. Reply
 *              status, value = count.
 *
 * Limits checked by the host: DATA len <= TDEV_DATA_MAX, SOURCE size in
 * 1..TDEV_DATA_MAX and count <= TDEV_SOURCE_MAX_COUNT, SUBCHANNELS count
 * in 1..TDEV_MAX_SUBCHANNELS. Anything else fails with TDEV_ST_INVALID and
 * is counted. */
#ifndef HVIS_TDEV_WIRE_H
#define HVIS_TDEV_WIRE_H

#include "vmb_base.h"

#define TDEV_CLASS_GUID "6876f5a4-0c3e-4b8d-9a7f-746573746476"
#define TDEV_CLASS_NAME "test"

#define TDEV_VERSION_1_0 0x00010000u /* major << 16 | minor */
#define TDEV_VERSION TDEV_VERSION_1_0

#define TDEV_DATA_MAX 16384u
#define TDEV_SOURCE_MAX_COUNT 10000000u
#define TDEV_MAX_SUBCHANNELS 64u

enum tdev_op {
	TDEV_OP_QUERY = 1,
	TDEV_OP_MODE = 2,
	TDEV_OP_DATA = 3,
	TDEV_OP_SOURCE = 4,
	TDEV_OP_SUBCHANNELS = 5,
};

enum tdev_mode {
	TDEV_MODE_ECHO = 0,
	TDEV_MODE_SINK = 1,
	TDEV_MODE_SOURCE = 2,
	TDEV_MODE__COUNT
};

enum tdev_status {
	TDEV_ST_OK = 0,
	TDEV_ST_INVALID = 1,    /* malformed or out-of-range request */
	TDEV_ST_BAD_STATE = 2,  /* valid request at the wrong time or place */
	TDEV_ST_VERSION = 3,    /* protocol major version not supported */
	TDEV_ST_NO_RESOURCES = 4,
};

struct __attribute__((packed)) tdev_hdr {
	uint32_t op;
	uint32_t reserved;
};
_Static_assert(sizeof(struct tdev_hdr) == 8, "tdev header");

struct __attribute__((packed)) tdev_query {
	struct tdev_hdr h;
	uint32_t version;
	uint32_t reserved;
};
_Static_assert(sizeof(struct tdev_query) == 16, "tdev query");

struct __attribute__((packed)) tdev_mode_req {
	struct tdev_hdr h;
	uint32_t mode;
	uint32_t reserved;
};
_Static_assert(sizeof(struct tdev_mode_req) == 16, "tdev mode");

struct __attribute__((packed)) tdev_data {
	struct tdev_hdr h;
	uint32_t seq;
	uint32_t len; /* data bytes following this header */
};
_Static_assert(sizeof(struct tdev_data) == 16, "tdev data");

struct __attribute__((packed)) tdev_source {
	struct tdev_hdr h;
	uint32_t count;
	uint32_t size;
};
_Static_assert(sizeof(struct tdev_source) == 16, "tdev source");

struct __attribute__((packed)) tdev_subchannels {
	struct tdev_hdr h;
	uint32_t count;
	uint32_t reserved;
};
_Static_assert(sizeof(struct tdev_subchannels) == 16, "tdev subchannels");

struct __attribute__((packed)) tdev_comp {
	uint32_t op;     /* the request's op */
	uint32_t status; /* enum tdev_status */
	uint32_t value;
	uint32_t value2;
	uint64_t packets;
	uint64_t bytes;
	uint64_t errors;
};
_Static_assert(sizeof(struct tdev_comp) == 40, "tdev completion");

#endif
