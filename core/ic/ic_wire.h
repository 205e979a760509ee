/* Wire layout of the integration-component (utility) channels: the pipe
 * header, the icmsg header, version negotiation, heartbeat, shutdown and
 * time sync. Every multi-byte field is little-endian; every struct is
 * packed because the body follows a 28-byte header and is read in place.
 * Sources: Linux include/linux/hyperv.h (vmbuspipe_hdr, icmsg_hdr,
 * icmsg_negotiate, shutdown_msg_data, heartbeat_msg_data, ictimesync_*),
 * OpenVMM vm/devices/hyperv_ic_protocol (lib.rs, heartbeat.rs, shutdown.rs,
 * timesync.rs), OpenVMM vmbus_ring (pipe header). */
#ifndef HVIS_IC_WIRE_H
#define HVIS_IC_WIRE_H

#include "vmb_base.h"

/* Pipe header in front of every message (message-mode VMBus pipe). */
#define IC_PIPE_DATA 1u /* the only type the IC channels send */

struct ic_pipe_hdr {
	uint32_t flags;   /* IC_PIPE_DATA */
	uint32_t msgsize; /* bytes after this header */
} __attribute__((packed));
_Static_assert(sizeof(struct ic_pipe_hdr) == 8, "ic_pipe_hdr size");

struct ic_wver {
	uint16_t major;
	uint16_t minor;
} __attribute__((packed));
_Static_assert(sizeof(struct ic_wver) == 4, "ic_wver size");

/* icmsg header: versions in force, type, body size, status, one-byte
 * transaction id and direction flags. */
struct ic_msg_hdr {
	struct ic_wver fw_ver;
	uint16_t type;
	struct ic_wver msg_ver;
	uint16_t size; /* body bytes after this header */
	uint32_t status;
	uint8_t xid;
	uint8_t flags;
	uint8_t reserved[2];
} __attribute__((packed));
_Static_assert(sizeof(struct ic_msg_hdr) == 20, "ic_msg_hdr size");

#define IC_HDR_LEN (sizeof(struct ic_pipe_hdr) + sizeof(struct ic_msg_hdr))
_Static_assert(IC_HDR_LEN == 28, "ic header length");

/* Message types (icmsg type field). */
#define IC_MSG_NEGOTIATE 0
#define IC_MSG_HEARTBEAT 1
#define IC_MSG_KVP 2
#define IC_MSG_SHUTDOWN 3
#define IC_MSG_TIMESYNC 4
#define IC_MSG_VSS 5

#define IC_FLAG_TRANSACTION 0x01u
#define IC_FLAG_REQUEST 0x02u
#define IC_FLAG_RESPONSE 0x04u

/* Status codes (HRESULTs) carried in the header. */
#define IC_S_OK 0x00000000u
#define IC_E_FAIL 0x80004005u
#define IC_E_NO_MORE_ITEMS 0x80070103u /* Linux: HV_S_CONT */
#define IC_E_NOT_SUPPORTED 0x80070032u
#define IC_E_INVALIDARG 0x80070057u
#define IC_E_NOT_FOUND 0x80041002u
#define IC_E_ALREADY_EXISTS 0x80070050u
#define IC_E_ACCESSDENIED 0x80070005u /* Windows' E_ACCESSDENIED */

/* Negotiate body: counts, then fw_count framework versions followed by
 * msg_count message versions. A guest answers with counts 1/1 and its two
 * picks, or 0/0 when nothing matched. */
struct ic_negotiate {
	uint16_t fw_count;
	uint16_t msg_count;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct ic_negotiate) == 8, "ic_negotiate size");

/* Linux refuses more versions than this in one list. */
#define IC_NEGOTIATE_MAX_VERSIONS 100
/* Body of a negotiate answer: counts and the two picked versions. */
#define IC_NEGOTIATE_REPLY_LEN (sizeof(struct ic_negotiate) + 2 * 4)

/* Heartbeat: OpenVMM sends 16 bytes (sequence, application state,
 * reserved); Linux reads only the sequence. */
struct ic_hb_msg {
	uint64_t seq;
	uint32_t app_state;
	uint8_t reserved[4];
} __attribute__((packed));
_Static_assert(sizeof(struct ic_hb_msg) == 16, "ic_hb_msg size");
#define IC_HB_MIN_LEN 8u

#define IC_HB_APP_UNKNOWN 0u
#define IC_HB_APP_HEALTHY 1u

/* Shutdown: reason, timeout, flags, then a UTF-16LE display message. */
#define IC_SD_MSG_BYTES 2048u

struct ic_sd_msg {
	uint32_t reason;
	uint32_t timeout_s;
	uint32_t flags;
	uint8_t message[IC_SD_MSG_BYTES];
} __attribute__((packed));
_Static_assert(sizeof(struct ic_sd_msg) == 2060, "ic_sd_msg size");
#define IC_SD_MIN_LEN 12u

#define IC_SD_FLAG_FORCE 0x1u
#define IC_SD_FLAG_RESTART 0x2u
#define IC_SD_FLAG_HIBERNATE 0x4u
#define IC_SD_FLAGS_KNOWN 0x7u
#define IC_SD_REASON_PLANNED 0x80000000u /* SHTDN_REASON_FLAG_PLANNED */

/* Time sync, message versions below 4.0 (Linux ictimesync_data is the
 * first 25 bytes; OpenVMM pads to 28). */
struct ic_ts_msg {
	uint64_t parent_time; /* 100 ns units since 1601-01-01 UTC */
	uint64_t child_time;
	uint64_t round_trip; /* 100 ns units, measured by the parent */
	uint8_t flags;
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct ic_ts_msg) == 28, "ic_ts_msg size");
#define IC_TS_MIN_LEN 25u

/* Time sync 4.0 and later (Linux ictimesync_ref_data is the first 22
 * bytes; OpenVMM pads to 24). */
struct ic_ts4_msg {
	uint64_t parent_time;
	uint64_t ref_time; /* the guest's reference counter at parent_time */
	uint8_t flags;
	uint8_t leap;
	uint8_t stratum;
	uint8_t reserved[5];
} __attribute__((packed));
_Static_assert(sizeof(struct ic_ts4_msg) == 24, "ic_ts4_msg size");
#define IC_TS4_MIN_LEN 19u

#define IC_TS_FLAG_PROBE 0x0u
#define IC_TS_FLAG_SYNC 0x1u
#define IC_TS_FLAG_SAMPLE 0x2u

/* 100 ns intervals between 1601-01-01 and 1970-01-01. */
#define IC_TS_UNIX_EPOCH_DELTA 116444736000000000ull

#endif
