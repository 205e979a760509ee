/* VSTOR: the protocol of Hyper-V's synthetic SCSI controller (storvsc in
 * the guest, storvsp in the host) inside VMBus packets. All fields are
 * little-endian and packed.
 *
 * Every message is a struct vstor_packet: operation, flags, status, then
 * a union (an SRB, the channel properties, a version, a sub-channel
 * count). Guest requests are inband packets, or GPA-direct packets with
 * exactly one range when an SRB moves data, all with a completion
 * requested; the host answers each in a completion packet of the same
 * transaction id whose payload is a vstor_packet with operation
 * COMPLETE_IO. Unsolicited host messages (ENUMERATE_BUS, REMOVE_DEVICE)
 * are inband packets with transaction id 0.
 *
 * Sizes depend on the negotiated version: from 5.1 (Windows 8) the SRB
 * carries the Win8 extension and the packet is 64 bytes; before it the
 * SRB ends after its sense buffer and every packet is 16 bytes shorter
 * (48). The sense buffer is 20 bytes from 5.1 and 18 before.
 *
 * Sources (facts only): Linux drivers/scsi/storvsc_drv.c, FreeBSD
 * hv_vstorage.h, OpenBSD sys/dev/pv/hvs.c, OpenVMM storvsp_protocol; see
 * the project's storage facts map. */
#ifndef HVIS_VSTOR_WIRE_H
#define HVIS_VSTOR_WIRE_H

#include "vmb_base.h"

/* Class (interface type) GUID of the synthetic SCSI controller. */
#define VSTOR_CLASS_GUID "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
#define VSTOR_CLASS_NAME "scsi"

/* ---- versions: major << 8 | minor, then a revision the guest sends 0 */
#define VSTOR_VERSION_WIN6 0x0200u    /* Windows Server 2008 */
#define VSTOR_VERSION_WIN7 0x0402u
#define VSTOR_VERSION_WIN8 0x0501u
#define VSTOR_VERSION_BLUE 0x0600u    /* Windows 8.1 */
#define VSTOR_VERSION_WIN10 0x0602u   /* Windows 10 "Threshold" */

/* ---- operations ---- */
enum vstor_op {
	VSTOR_OP_COMPLETE_IO = 1,
	VSTOR_OP_REMOVE_DEVICE = 2,
	VSTOR_OP_EXECUTE_SRB = 3,
	VSTOR_OP_RESET_LUN = 4,
	VSTOR_OP_RESET_ADAPTER = 5,
	VSTOR_OP_RESET_BUS = 6,
	VSTOR_OP_BEGIN_INIT = 7,
	VSTOR_OP_END_INIT = 8,
	VSTOR_OP_QUERY_PROTOCOL_VERSION = 9,
	VSTOR_OP_QUERY_PROPERTIES = 10,
	VSTOR_OP_ENUMERATE_BUS = 11,
	VSTOR_OP_FCHBA_DATA = 12,
	VSTOR_OP_CREATE_SUB_CHANNELS = 13,
	VSTOR_OP__MAX = VSTOR_OP_CREATE_SUB_CHANNELS
};

/* vstor_packet.flags: the guest asks for a completion; hosts reply 0. */
#define VSTOR_FLAG_REQUEST_COMPLETION 0x1u

/* vstor_packet.status: an NTSTATUS. Guests test only for non-zero. */
#define VSTOR_ST_SUCCESS 0x00000000u
#define VSTOR_ST_BUFFER_OVERFLOW 0x80000005u   /* SRB DATA_OVERRUN */
#define VSTOR_ST_DEVICE_BUSY 0x80000011u       /* SRB BUSY */
#define VSTOR_ST_UNSUCCESSFUL 0xC0000001u
#define VSTOR_ST_INVALID_PARAMETER 0xC000000Du
#define VSTOR_ST_REVISION_MISMATCH 0xC0000059u
#define VSTOR_ST_IO_TIMEOUT 0xC00000B5u        /* SRB TIMEOUT */
#define VSTOR_ST_NO_SUCH_DEVICE 0xC00000C0u    /* SRB INVALID_LUN etc. */
#define VSTOR_ST_CANCELLED 0xC0000120u         /* SRB ABORTED */
#define VSTOR_ST_INVALID_DEVICE_STATE 0xC0000184u
#define VSTOR_ST_IO_DEVICE_ERROR 0xC0000185u   /* any other SRB failure */

/* ---- the SRB (vmscsi_request) ---- */

#define VSTOR_CDB_MAX 16u
#define VSTOR_SENSE_MAX 20u        /* from 5.1 */
#define VSTOR_SENSE_MAX_WIN7 18u   /* before 5.1 */

/* srb_status: the low six bits are the code (enum scsi_srb in
 * scsi/scsi_disk.h holds the codes the disk answers with), plus flags. */
#define VSTOR_SRB_STATUS_MASK 0x3Fu
#define VSTOR_SRB_QUEUE_FROZEN 0x40u
#define VSTOR_SRB_AUTOSENSE_VALID 0x80u

/* data_in */
#define VSTOR_DIR_WRITE 0u
#define VSTOR_DIR_READ 1u
#define VSTOR_DIR_NONE 2u

/* srb_flags of the Win8 extension. */
#define VSTOR_SRB_FL_QUEUE_ACTION_ENABLE 0x00000002u
#define VSTOR_SRB_FL_DISABLE_SYNCH_TRANSFER 0x00000008u
#define VSTOR_SRB_FL_DATA_IN 0x00000040u
#define VSTOR_SRB_FL_DATA_OUT 0x00000080u
#define VSTOR_SRB_FL_NO_QUEUE_FREEZE 0x00000100u

/* The SRB of every version: 36 bytes. The CDB (request) and the sense
 * data (reply) share one 20-byte field. */
struct __attribute__((packed)) vstor_srb {
	uint16_t length;          /* 52, or 36 before 5.1; not trusted */
	uint8_t srb_status;
	uint8_t scsi_status;
	uint8_t port;
	uint8_t path;
	uint8_t target;
	uint8_t lun;
	uint8_t cdb_length;
	uint8_t sense_info_length;
	uint8_t data_in;
	uint8_t reserved;
	uint32_t data_transfer_length; /* request: buffer; reply: moved */
	union {
		uint8_t cdb[VSTOR_CDB_MAX];
		uint8_t sense[VSTOR_SENSE_MAX];
	};
};
_Static_assert(sizeof(struct vstor_srb) == 36, "vstor SRB");

/* The Win8 extension that follows the SRB from 5.1 on. */
struct __attribute__((packed)) vstor_srb_win8 {
	uint16_t reserve;
	uint8_t queue_tag;
	uint8_t queue_action;
	uint32_t srb_flags;
	uint32_t time_out_value;  /* seconds */
	uint32_t queue_sort_key;
};
_Static_assert(sizeof(struct vstor_srb_win8) == 16, "vstor Win8 extension");

#define VSTOR_SRB_LEN_WIN8 52u
#define VSTOR_SRB_LEN_WIN7 36u

/* ---- channel properties (QUERY_PROPERTIES' answer) ---- */

#define VSTOR_PROP_MULTI_CHANNEL 0x1u

struct __attribute__((packed)) vstor_props {
	uint32_t reserved;
	uint16_t max_channel_count; /* sub-channels the guest may ask for */
	uint16_t reserved2;
	uint32_t flags;
	uint32_t max_transfer_bytes;
	uint64_t reserved3;
};
_Static_assert(sizeof(struct vstor_props) == 24, "vstor properties");

struct __attribute__((packed)) vstor_version {
	uint16_t major_minor;
	uint16_t revision;
};
_Static_assert(sizeof(struct vstor_version) == 4, "vstor version");

/* ---- the packet ---- */

struct __attribute__((packed)) vstor_packet {
	uint32_t operation;
	uint32_t flags;
	uint32_t status;
	union {
		struct {
			struct vstor_srb srb;
			struct vstor_srb_win8 win8;
		};
		struct vstor_props props;
		struct vstor_version version;
		uint16_t sub_channel_count;
		uint8_t raw[52];
	};
};
_Static_assert(sizeof(struct vstor_packet) == 64, "vstor packet");
_Static_assert(__builtin_offsetof(struct vstor_packet, srb) == 12,
	       "SRB at 12");
_Static_assert(__builtin_offsetof(struct vstor_packet, srb.cdb) == 28,
	       "CDB at 28");
_Static_assert(__builtin_offsetof(struct vstor_packet, win8.srb_flags) == 52,
	       "srb_flags at 52");

#define VSTOR_PKT_LEN 64u          /* from 5.1 */
#define VSTOR_PKT_LEN_WIN7 48u     /* before 5.1: the Win8 extension absent */
#define VSTOR_PKT_HDR_LEN 12u      /* operation, flags, status */

/* The packet length a version uses. */
static inline uint32_t vstor_pkt_len(uint16_t version)
{
	return version >= VSTOR_VERSION_WIN8 ? VSTOR_PKT_LEN
					     : VSTOR_PKT_LEN_WIN7;
}

/* The sense buffer a version carries. */
static inline uint32_t vstor_sense_max(uint16_t version)
{
	return version >= VSTOR_VERSION_WIN8 ? VSTOR_SENSE_MAX
					     : VSTOR_SENSE_MAX_WIN7;
}

#endif
