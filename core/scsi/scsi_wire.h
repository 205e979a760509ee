/* SCSI wire formats a direct-access (disk) target needs: operation codes,
 * status, sense keys and additional sense codes, fixed-format sense data,
 * and the layouts of the data-in and parameter data it reads and writes.
 * Unlike VMBus, every multi-byte SCSI field is big-endian: the structs
 * below hold such fields as byte arrays, written and read only through
 * scsi_put_be* / scsi_be*, so no host-order integer ever lands in one.
 * Sources: SPC-4, SBC-3 (T10 drafts); Linux include/scsi/scsi_proto.h
 * and drivers/scsi/sd.c; OpenVMM vm/devices/storage/scsi_defs and
 * scsidisk (what Hyper-V's disk answers). */
#ifndef HVIS_SCSI_WIRE_H
#define HVIS_SCSI_WIRE_H

#include "vmb_base.h"

/* ---- operation codes (byte 0 of the CDB) ---- */
#define SCSI_OP_TEST_UNIT_READY 0x00
#define SCSI_OP_REQUEST_SENSE 0x03
#define SCSI_OP_READ6 0x08
#define SCSI_OP_WRITE6 0x0A
#define SCSI_OP_INQUIRY 0x12
#define SCSI_OP_MODE_SENSE6 0x1A
#define SCSI_OP_START_STOP_UNIT 0x1B
#define SCSI_OP_READ_CAPACITY10 0x25
#define SCSI_OP_READ10 0x28
#define SCSI_OP_WRITE10 0x2A
#define SCSI_OP_SYNC_CACHE10 0x35
#define SCSI_OP_WRITE_SAME10 0x41
#define SCSI_OP_UNMAP 0x42
#define SCSI_OP_MODE_SENSE10 0x5A
#define SCSI_OP_READ16 0x88
#define SCSI_OP_WRITE16 0x8A
#define SCSI_OP_SYNC_CACHE16 0x91
#define SCSI_OP_WRITE_SAME16 0x93
#define SCSI_OP_SERVICE_ACTION_IN16 0x9E
#define SCSI_OP_REPORT_LUNS 0xA0
#define SCSI_OP_READ12 0xA8
#define SCSI_OP_WRITE12 0xAA

/* SERVICE ACTION IN(16) service action (byte 1, bits 4-0). */
#define SCSI_SA_READ_CAPACITY16 0x10
#define SCSI_SA_MASK 0x1F

/* The CDB length the operation code's group fixes (SPC-4): group
 * 0 six bytes, 1 and 2 ten, 4 sixteen, 5 twelve; 0 for group 3 (reserved
 * or variable length) and 6-7 (vendor specific). */
static inline uint32_t scsi_cdb_group_len(uint8_t op)
{
	static const uint8_t len[8] = {6, 10, 10, 0, 16, 12, 0, 0};

	return len[op >> 5];
}

#define SCSI_CDB_MAX 16 /* the SRB's CDB field */

/* Control byte (the CDB's last byte): NACA and the obsolete LINK bit
 * request features this target lacks (SPC-4). */
#define SCSI_CTL_NACA 0x04
#define SCSI_CTL_LINK 0x01

/* ---- CDB fields (offsets and bits) ---- */
/* READ/WRITE(10/12/16), VERIFY-style byte 1. RDPROTECT/WRPROTECT select
 * protection information, which this target has none of; bit 0 is the
 * obsolete RELADR in the 10- and 12-byte forms (Hyper-V refuses it). */
#define SCSI_RW_PROTECT_MASK 0xE0
#define SCSI_RW_FUA 0x08
#define SCSI_RW_RELADR 0x01
/* READ/WRITE(6): a 21-bit LBA in bytes 1-3, length byte 4 (0 = 256). */
#define SCSI_RW6_LBA_MASK 0x1FFFFFu
#define SCSI_RW6_ZERO_LEN 256u

/* WRITE SAME(10/16) byte 1. */
#define SCSI_WS_ANCHOR 0x10
#define SCSI_WS_UNMAP 0x08
#define SCSI_WS_PBDATA 0x04
#define SCSI_WS_LBDATA 0x02
#define SCSI_WS16_NDOB 0x01 /* no data-out buffer: write zeros */
#define SCSI_WS10_RELADR 0x01

/* UNMAP byte 1. */
#define SCSI_UNMAP_ANCHOR 0x01

/* INQUIRY byte 1. */
#define SCSI_INQ_EVPD 0x01
#define SCSI_INQ_CMDDT 0x02

/* MODE SENSE byte 1, byte 2. */
#define SCSI_MS_DBD 0x08
#define SCSI_MS10_LLBAA 0x10
#define SCSI_MS_PC_SHIFT 6
#define SCSI_MS_PAGE_MASK 0x3F
#define SCSI_MS_PC_CURRENT 0
#define SCSI_MS_PC_CHANGEABLE 1
#define SCSI_MS_PC_DEFAULT 2
#define SCSI_MS_PC_SAVED 3

/* Mode pages. */
#define SCSI_MODE_PAGE_CACHING 0x08
#define SCSI_MODE_PAGE_ALL 0x3F
#define SCSI_MODE_SUBPAGE_ALL 0xFF

/* REQUEST SENSE byte 1. */
#define SCSI_RS_DESC 0x01

/* START STOP UNIT. */
#define SCSI_SSU_IMMED 0x01     /* byte 1 */
#define SCSI_SSU_START 0x01     /* byte 4 */
#define SCSI_SSU_LOEJ 0x02      /* byte 4 */
#define SCSI_SSU_NO_FLUSH 0x04  /* byte 4 */
#define SCSI_SSU_PC_SHIFT 4     /* byte 4: POWER CONDITION */

/* READ CAPACITY(10) byte 8, READ CAPACITY(16) byte 14. */
#define SCSI_RC_PMI 0x01

/* REPORT LUNS SELECT REPORT (byte 2). */
#define SCSI_RL_SELECT_ALL 0x00
#define SCSI_RL_SELECT_WELL_KNOWN 0x01
#define SCSI_RL_SELECT_ALL_LUNS 0x02
#define SCSI_RL_MIN_ALLOC 16 /* SPC-3: less is INVALID FIELD IN CDB */

/* ---- status ---- */
#define SCSI_ST_GOOD 0x00
#define SCSI_ST_CHECK_CONDITION 0x02
#define SCSI_ST_BUSY 0x08
#define SCSI_ST_TASK_ABORTED 0x40

/* ---- sense keys ---- */
#define SCSI_SK_NO_SENSE 0x0
#define SCSI_SK_MEDIUM_ERROR 0x3
#define SCSI_SK_ILLEGAL_REQUEST 0x5
#define SCSI_SK_UNIT_ATTENTION 0x6
#define SCSI_SK_DATA_PROTECT 0x7
#define SCSI_SK_ABORTED_COMMAND 0xB

/* ---- additional sense code / qualifier ---- */
#define SCSI_ASC_NONE 0x00
#define SCSI_ASC_WRITE_ERROR 0x0C
#define SCSI_ASC_UNRECOVERED_READ 0x11
#define SCSI_ASC_PARAM_LIST_LENGTH 0x1A
#define SCSI_ASC_INVALID_OPCODE 0x20
#define SCSI_ASC_LBA_OUT_OF_RANGE 0x21
#define SCSI_ASC_INVALID_FIELD_CDB 0x24
#define SCSI_ASC_INVALID_FIELD_PARAM 0x26
#define SCSI_ASC_WRITE_PROTECTED 0x27
#define SCSI_ASCQ_SPACE_ALLOC_FAILED_WP 0x07 /* with 0x27: thin pool full */
#define SCSI_ASC_PARAMS_CHANGED 0x2A
#define SCSI_ASCQ_CAPACITY_CHANGED 0x09 /* with 0x2A */
#define SCSI_ASC_SAVING_NOT_SUPPORTED 0x39

/* ---- fixed-format sense data (SPC-4), 18 bytes ---- */
#define SCSI_SENSE_FIXED_CURRENT 0x70

struct scsi_sense_fixed {
	uint8_t response_code; /* 0x70; bit 7 VALID (information) */
	uint8_t obsolete;
	uint8_t key;           /* bits 3-0 */
	uint8_t information[4];
	uint8_t additional_len; /* bytes after this one: 10 */
	uint8_t cmd_specific[4];
	uint8_t asc;
	uint8_t ascq;
	uint8_t fru;
	uint8_t key_specific[3];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_sense_fixed) == 18, "sense size");

#define SCSI_SENSE_LEN ((uint32_t)sizeof(struct scsi_sense_fixed))

/* ---- standard INQUIRY data ----
 * Laid out as Windows' INQUIRYDATA, which Hyper-V returns whole (104
 * bytes, additional length 99): SPC's 96 bytes plus 8 reserved. */
#define SCSI_PERIPH_DISK 0x00
#define SCSI_PERIPH_NO_LUN 0x7F /* qualifier 3, type 1Fh: no unit here */
#define SCSI_INQ_VERSION_SPC3 0x05
#define SCSI_INQ_FORMAT_SPC3 0x02 /* RESPONSE DATA FORMAT */
#define SCSI_INQ_CMDQUE 0x02     /* byte 7 */

struct scsi_inquiry_std {
	uint8_t periph;      /* qualifier (7-5) and device type (4-0) */
	uint8_t rmb;         /* bit 7: removable medium */
	uint8_t version;
	uint8_t format;      /* NORMACA, HISUP, RESPONSE DATA FORMAT */
	uint8_t additional_len;
	uint8_t flags5;
	uint8_t flags6;
	uint8_t flags7;      /* CMDQUE */
	uint8_t vendor[8];
	uint8_t product[16];
	uint8_t revision[4];
	uint8_t vendor_specific[20];
	uint8_t reserved56[2];
	uint8_t version_desc[16];
	uint8_t reserved74[30];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_inquiry_std) == 104, "inquiry size");

/* ---- VPD pages ---- */
#define SCSI_VPD_SUPPORTED 0x00
#define SCSI_VPD_SERIAL 0x80
#define SCSI_VPD_DEVICE_ID 0x83
#define SCSI_VPD_BLOCK_LIMITS 0xB0
#define SCSI_VPD_BLOCK_CHARS 0xB1
#define SCSI_VPD_LB_PROVISIONING 0xB2

struct scsi_vpd_hdr {
	uint8_t periph;
	uint8_t page;
	uint8_t length[2]; /* bytes after the header */
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_vpd_hdr) == 4, "vpd header size");

/* Device identification (0x83): a designation descriptor header, then
 * the designator. */
#define SCSI_DESIG_CODE_BINARY 0x01
#define SCSI_DESIG_TYPE_T10 0x01 /* T10 vendor ID based */
#define SCSI_DESIG_TYPE_NAA 0x03

struct scsi_desig_hdr {
	uint8_t code_set;   /* protocol identifier (7-4), code set (3-0) */
	uint8_t type;       /* PIV, association (5-4), designator type (3-0) */
	uint8_t reserved;
	uint8_t length;     /* designator bytes */
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_desig_hdr) == 4, "designator size");

/* What Hyper-V puts in page 0x83: a T10 vendor ID designator (vendor ID
 * and the disk's 16-byte identifier) and an NAA IEEE Registered Extended
 * designator (NAA 6) under Microsoft's OUI 00-22-48, whose 12 vendor
 * bytes are the identifier's first and last six. */
struct scsi_vpd_devid {
	struct scsi_desig_hdr t10_hdr;
	uint8_t t10_vendor[8];
	uint8_t t10_id[16];
	struct scsi_desig_hdr naa_hdr;
	uint8_t naa_oui[4]; /* 6h, OUI 002248h, then a zero nibble */
	uint8_t naa_vendor[12];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_vpd_devid) == 48, "vpd 0x83 size");

#define SCSI_NAA_MSFT_0 0x60 /* NAA 6 | OUI 00-22-48 ... */
#define SCSI_NAA_MSFT_1 0x02
#define SCSI_NAA_MSFT_2 0x24
#define SCSI_NAA_MSFT_3 0x80

/* Block limits (0xB0), page length 3Ch as SBC-3 defines it. */
#define SCSI_B0_WSNZ 0x01 /* byte 0: WRITE SAME with 0 blocks refused */
#define SCSI_B0_UGAVALID 0x80

struct scsi_vpd_block_limits {
	uint8_t wsnz;
	uint8_t max_caw_len;
	uint8_t opt_xfer_gran[2];
	uint8_t max_xfer_len[4];
	uint8_t opt_xfer_len[4];
	uint8_t max_prefetch_len[4];
	uint8_t max_unmap_lbas[4];
	uint8_t max_unmap_descs[4];
	uint8_t opt_unmap_gran[4];
	uint8_t unmap_align[4]; /* UGAVALID in bit 7 of the first byte */
	uint8_t max_ws_len[8];
	uint8_t reserved[20];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_vpd_block_limits) == 0x3C, "vpd b0 size");

/* Block device characteristics (0xB1). */
#define SCSI_B1_NON_ROTATING 0x0001

struct scsi_vpd_block_chars {
	uint8_t rotation_rate[2];
	uint8_t rest[58];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_vpd_block_chars) == 0x3C, "vpd b1 size");

/* Logical block provisioning (0xB2). */
#define SCSI_B2_LBPU 0x80
#define SCSI_B2_TYPE_THIN 0x02

struct scsi_vpd_lbp {
	uint8_t threshold_exp;
	uint8_t flags; /* LBPU, LBPWS, LBPWS10, LBPRZ, ANC_SUP, DP */
	uint8_t prov_type;
	uint8_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_vpd_lbp) == 4, "vpd b2 size");

/* ---- READ CAPACITY ---- */
struct scsi_rc10_data {
	uint8_t last_lba[4]; /* FFFFFFFFh: use READ CAPACITY(16) */
	uint8_t block_len[4];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_rc10_data) == 8, "rc10 size");

#define SCSI_RC16_LBPME 0x80 /* lbp_lalba[0] */

struct scsi_rc16_data {
	uint8_t last_lba[8];
	uint8_t block_len[4];
	uint8_t prot;      /* P_TYPE, PROT_EN */
	uint8_t exps;      /* P_I_EXPONENT, LOGICAL BLOCKS PER PHYSICAL */
	uint8_t lbp_lalba[2]; /* LBPME, LBPRZ, LOWEST ALIGNED LBA */
	uint8_t reserved[16];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_rc16_data) == 32, "rc16 size");

/* ---- MODE SENSE ---- */
#define SCSI_DSP_WP 0x80     /* device-specific parameter: write protect */
#define SCSI_DSP_DPOFUA 0x10 /* DPO and FUA supported */
#define SCSI_MH10_LONGLBA 0x01

struct scsi_mode_hdr6 {
	uint8_t data_len; /* bytes after this one */
	uint8_t medium;
	uint8_t dsp;
	uint8_t bd_len;
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_mode_hdr6) == 4, "mode hdr6 size");

struct scsi_mode_hdr10 {
	uint8_t data_len[2]; /* bytes after these two */
	uint8_t medium;
	uint8_t dsp;
	uint8_t longlba;
	uint8_t reserved;
	uint8_t bd_len[2];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_mode_hdr10) == 8, "mode hdr10 size");

struct scsi_mode_bd_short {
	uint8_t blocks[4]; /* FFFFFFFFh when the count does not fit */
	uint8_t reserved;
	uint8_t block_len[3];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_mode_bd_short) == 8, "bd short size");

struct scsi_mode_bd_long {
	uint8_t blocks[8];
	uint8_t reserved[4];
	uint8_t block_len[4];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_mode_bd_long) == 16, "bd long size");

/* Caching mode page (SBC-3), page length 12h. */
#define SCSI_CACHING_WCE 0x04 /* flags2 */

struct scsi_mode_caching {
	uint8_t page;    /* PS (7), SPF (6), page code */
	uint8_t length;  /* 12h */
	uint8_t flags2;  /* IC ABPF CAP DISC SIZE WCE MF RCD */
	uint8_t retention;
	uint8_t dis_prefetch[2];
	uint8_t min_prefetch[2];
	uint8_t max_prefetch[2];
	uint8_t max_prefetch_ceiling[2];
	uint8_t flags12; /* FSW LBCSS DRA NV_DIS */
	uint8_t cache_segments;
	uint8_t cache_segment_size[2];
	uint8_t reserved;
	uint8_t obsolete[3];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_mode_caching) == 20, "caching page size");

/* ---- REPORT LUNS: header, then 8 bytes per LUN ---- */
struct scsi_lun_list_hdr {
	uint8_t list_len[4]; /* bytes of LUN entries that follow */
	uint8_t reserved[4];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_lun_list_hdr) == 8, "lun list size");

#define SCSI_LUN_ENTRY_LEN 8u

/* ---- UNMAP parameter list ---- */
struct scsi_unmap_hdr {
	uint8_t data_len[2]; /* bytes after these two */
	uint8_t bd_len[2];   /* bytes of block descriptors (16 each) */
	uint8_t reserved[4];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_unmap_hdr) == 8, "unmap hdr size");

struct scsi_unmap_desc {
	uint8_t lba[8];
	uint8_t blocks[4];
	uint8_t reserved[4];
} __attribute__((packed));
_Static_assert(sizeof(struct scsi_unmap_desc) == 16, "unmap desc size");

/* ---- big-endian access (vmb_base.h), under the names this module's
 * sources use ---- */
#define scsi_be16 vmb_be16
#define scsi_be24 vmb_be24
#define scsi_be32 vmb_be32
#define scsi_be64 vmb_be64
#define scsi_put_be16 vmb_put_be16
#define scsi_put_be24 vmb_put_be24
#define scsi_put_be32 vmb_put_be32
#define scsi_put_be64 vmb_put_be64

#endif
