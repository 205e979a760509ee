/* NVSP: the protocol of Hyper-V's synthetic network adapter (netvsc in
 * the guest, netvsp in the host) inside VMBus packets. All fields are
 * little-endian and packed.
 *
 * Every message starts with a u32 type. Guest requests travel inband
 * (SEND_RNDIS_PKT also GPA-direct, its RNDIS bytes in the page ranges);
 * the host answers in completion packets of the same transaction id.
 * Host-to-guest RNDIS traffic travels in transfer-page packets (type 7)
 * whose ranges point into the guest's receive buffer (page set 0xCAFE);
 * the guest gives each back with a completion carrying RNDIS_PKT_COMPLETE.
 *
 * Message length: Linux and DPDK send 40 bytes (a type and a 36-byte
 * union), FreeBSD and OpenBSD 32, OpenVMM 32 below 6.1 and 40 from it
 * (a legacy 28-byte form rounded up to 8). Receivers must take any of
 * them, and need only the fields they read.
 *
 * Sources (facts only): Linux drivers/net/hyperv, FreeBSD hn, DPDK
 * netvsc, OpenBSD hvn, OpenVMM netvsp; see the project's network facts
 * map (network-facts.md, section 1). */
#ifndef HVIS_NVSP_WIRE_H
#define HVIS_NVSP_WIRE_H

#include "vmb_base.h"

/* Class (interface type) GUID of the synthetic network adapter, as text
 * and in its wire bytes (first three fields little-endian). */
#define NVSP_CLASS_GUID "f8615163-df3e-46c5-913f-f2d2f965ed0e"
#define NVSP_CLASS_GUID_BYTES                                          \
	{ { 0x63, 0x51, 0x61, 0xf8, 0x3e, 0xdf, 0xc5, 0x46, 0x91, 0x3f, \
	    0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e } }
#define NVSP_CLASS_NAME "net"

/* ---- versions: major << 16 | minor (V1 predates the scheme) ---- */
#define NVSP_VERSION_1 0x00002u
#define NVSP_VERSION_2 0x30002u
#define NVSP_VERSION_4 0x40000u
#define NVSP_VERSION_5 0x50000u
#define NVSP_VERSION_6 0x60000u
#define NVSP_VERSION_61 0x60001u

/* The NDIS version a guest announces: 6.1 up to NVSP 4, 6.30 from 5. */
#define NVSP_NDIS_MAJOR 6u
#define NVSP_NDIS_MINOR_V4 1u
#define NVSP_NDIS_MINOR_V5 30u

/* ---- message types ---- */
enum nvsp_type {
	NVSP_TYPE_INIT = 1,
	NVSP_TYPE_INIT_COMPLETE = 2,
	NVSP_TYPE_NDIS_VERSION = 100,
	NVSP_TYPE_SEND_RECV_BUF = 101,
	NVSP_TYPE_SEND_RECV_BUF_COMPLETE = 102,
	NVSP_TYPE_REVOKE_RECV_BUF = 103,
	NVSP_TYPE_SEND_SEND_BUF = 104,
	NVSP_TYPE_SEND_SEND_BUF_COMPLETE = 105,
	NVSP_TYPE_REVOKE_SEND_BUF = 106,
	NVSP_TYPE_RNDIS_PKT = 107,
	NVSP_TYPE_RNDIS_PKT_COMPLETE = 108,
	/* 109-124: chimney, VMQ, rx-buffer allocation (deprecated) */
	NVSP_TYPE_NDIS_CONFIG = 125,
	/* 126, 127: chimney handles */
	NVSP_TYPE_VF_ASSOCIATION = 128,
	NVSP_TYPE_SWITCH_DATA_PATH = 129,
	/* 130: uplink connect state (deprecated); 131/132: OID_QUERY_EX */
	NVSP_TYPE_SUBCHANNEL = 133,
	NVSP_TYPE_SEND_INDIRECTION_TABLE = 134,
	/* 135, 136: PD_API, PD_POST_BATCH */
};

/* ---- status ---- */
enum nvsp_status {
	NVSP_STATUS_NONE = 0,
	NVSP_STATUS_SUCCESS = 1,
	NVSP_STATUS_FAIL = 2,
	NVSP_STATUS_PROTOCOL_TOO_NEW = 3,
	NVSP_STATUS_PROTOCOL_TOO_OLD = 4,
	NVSP_STATUS_INVALID_RNDIS_PKT = 5,
	NVSP_STATUS_BUSY = 6,
	NVSP_STATUS_UNSUPPORTED = 7,
};

/* ---- constants ---- */
#define NVSP_MSG_LEN 40u        /* Linux, DPDK; OpenVMM from 6.1 */
#define NVSP_MSG_LEN_LEGACY 32u /* FreeBSD, OpenBSD; OpenVMM below 6.1 */
#define NVSP_MSG_LEN_OLD 28u    /* OpenVMM's legacy size before rounding */

#define NVSP_RECV_BUF_ID 0xCAFEu /* receive buffer id and page set */
#define NVSP_SEND_BUF_ID 0xFACEu /* FreeBSD, DPDK; Linux sends 0 */
#define NVSP_SECTION_NONE 0xFFFFFFFFu

#define NVSP_CHANNEL_DATA 0u
#define NVSP_CHANNEL_CONTROL 1u

#define NVSP_SUBCHANNEL_ALLOCATE 1u
#define NVSP_MAX_SUBCHANNELS 64u /* OpenVMM's limit per vNIC */

#define NVSP_DATAPATH_SYNTHETIC 0u
#define NVSP_DATAPATH_VF 1u

#define NVSP_TX_TABLE_LEN 16u  /* SEND_INDIRECTION_TABLE entries */

/* Ranges of one receive transfer-page packet (Linux): NDIS >= 6.0, and
 * with RSC (375 + 65535 / 348 + 1, OpenVMM's derivation). */
#define NVSP_RECV_MAX_RANGES 375u
#define NVSP_RECV_MAX_RANGES_RSC 562u

/* NDIS_CONFIG capability bits. */
#define NVSP_CAP_VMQ (1ull << 0)
#define NVSP_CAP_CHIMNEY (1ull << 1)
#define NVSP_CAP_SRIOV (1ull << 2)
#define NVSP_CAP_IEEE8021Q (1ull << 3)
#define NVSP_CAP_CORRELATION_ID (1ull << 4)
#define NVSP_CAP_TEAMING (1ull << 5)
#define NVSP_CAP_VSID (1ull << 6)
#define NVSP_CAP_RSC (1ull << 7)

/* NDIS_CONFIG's MTU (Ethernet header included), as OpenVMM accepts it. */
#define NVSP_MTU_MIN 1514u
#define NVSP_MTU_MAX 9216u
#define NVSP_MTU_DEFAULT 1514u
#define NVSP_ETH_HLEN 14u

/* ---- messages ---- */

struct __attribute__((packed)) nvsp_init {
	uint32_t type;
	uint32_t min_ver;
	uint32_t max_ver;
};
_Static_assert(sizeof(struct nvsp_init) == 12, "nvsp init");

struct __attribute__((packed)) nvsp_init_complete {
	uint32_t type;
	uint32_t negotiated_ver; /* deprecated: 0xFFFFFFFF, or 2 for V1 */
	uint32_t max_mdl_chain_len;
	uint32_t status;
};
_Static_assert(sizeof(struct nvsp_init_complete) == 16, "nvsp init complete");

struct __attribute__((packed)) nvsp_ndis_version {
	uint32_t type;
	uint32_t major;
	uint32_t minor;
};
_Static_assert(sizeof(struct nvsp_ndis_version) == 12, "nvsp ndis version");

struct __attribute__((packed)) nvsp_ndis_config {
	uint32_t type;
	uint32_t mtu;
	uint32_t reserved;
	uint64_t caps;
};
_Static_assert(sizeof(struct nvsp_ndis_config) == 20, "nvsp ndis config");

/* SEND_RECV_BUF and SEND_SEND_BUF. */
struct __attribute__((packed)) nvsp_send_buf {
	uint32_t type;
	uint32_t gpadl;
	uint16_t id;
	uint16_t reserved;
};
_Static_assert(sizeof(struct nvsp_send_buf) == 12, "nvsp send buf");

struct __attribute__((packed)) nvsp_recv_section {
	uint32_t offset;
	uint32_t sub_alloc_size;
	uint32_t num_sub_allocs;
	uint32_t end_offset;
};
_Static_assert(sizeof(struct nvsp_recv_section) == 16, "nvsp section");

struct __attribute__((packed)) nvsp_recv_buf_complete {
	uint32_t type;
	uint32_t status;
	uint32_t num_sections;
	struct nvsp_recv_section section; /* the one section every host sends */
};
_Static_assert(sizeof(struct nvsp_recv_buf_complete) == 28,
	       "nvsp recv buf complete");

/* REVOKE_RECV_BUF and REVOKE_SEND_BUF. */
struct __attribute__((packed)) nvsp_revoke_buf {
	uint32_t type;
	uint16_t id;
};
_Static_assert(sizeof(struct nvsp_revoke_buf) == 6, "nvsp revoke buf");

struct __attribute__((packed)) nvsp_send_buf_complete {
	uint32_t type;
	uint32_t status;
	uint32_t section_size;
};
_Static_assert(sizeof(struct nvsp_send_buf_complete) == 12,
	       "nvsp send buf complete");

struct __attribute__((packed)) nvsp_rndis_pkt {
	uint32_t type;
	uint32_t channel_type;  /* NVSP_CHANNEL_* */
	uint32_t section_index; /* NVSP_SECTION_NONE: in the page ranges */
	uint32_t section_size;  /* bytes used; 0 without a section */
};
_Static_assert(sizeof(struct nvsp_rndis_pkt) == 16, "nvsp rndis pkt");

struct __attribute__((packed)) nvsp_rndis_pkt_complete {
	uint32_t type;
	uint32_t status;
};
_Static_assert(sizeof(struct nvsp_rndis_pkt_complete) == 8,
	       "nvsp rndis pkt complete");

struct __attribute__((packed)) nvsp_subchannel_req {
	uint32_t type;
	uint32_t op; /* NVSP_SUBCHANNEL_ALLOCATE */
	uint32_t num;
};
_Static_assert(sizeof(struct nvsp_subchannel_req) == 12, "nvsp subch req");

struct __attribute__((packed)) nvsp_subchannel_resp {
	uint32_t type;
	uint32_t status;
	uint32_t num; /* allocated */
};
_Static_assert(sizeof(struct nvsp_subchannel_resp) == 12, "nvsp subch resp");

/* Followed at offset (from the message's start) by count u32 entries. */
struct __attribute__((packed)) nvsp_indirection_table {
	uint32_t type;
	uint32_t count;
	uint32_t offset;
};
_Static_assert(sizeof(struct nvsp_indirection_table) == 12,
	       "nvsp indirection table");

/* OpenVMM puts the table right after the header: 76 bytes in all. */
#define NVSP_TX_TABLE_OFFSET 12u
#define NVSP_TX_TABLE_MSG_LEN (NVSP_TX_TABLE_OFFSET + NVSP_TX_TABLE_LEN * 4u)
/* Older hosts put it at 40 whatever the offset says (Linux fixes it up
 * for NVSP <= 6 when the message is long enough to hold it there). */
#define NVSP_TX_TABLE_BUGGY_OFFSET 40u

struct __attribute__((packed)) nvsp_vf_association {
	uint32_t type;
	uint32_t allocated; /* 1: a VF is there; 0: gone */
	uint32_t serial;    /* the VF's id (Linux: its PCI slot) */
};
_Static_assert(sizeof(struct nvsp_vf_association) == 12, "nvsp vf assoc");

struct __attribute__((packed)) nvsp_switch_data_path {
	uint32_t type;
	uint32_t active_datapath; /* NVSP_DATAPATH_* */
};
_Static_assert(sizeof(struct nvsp_switch_data_path) == 8,
	       "nvsp switch data path");

/* OpenVMM's transaction ids for its own inband messages. */
#define NVSP_XID_VF_ASSOCIATION 0x8000000000000000ull
#define NVSP_XID_SWITCH_DATA_PATH 0x8000000000000001ull

/* Any message, as the largest common size. */
union nvsp_msg {
	uint32_t type;
	struct nvsp_init init;
	struct nvsp_init_complete init_complete;
	struct nvsp_ndis_version ndis_version;
	struct nvsp_ndis_config ndis_config;
	struct nvsp_send_buf send_buf;
	struct nvsp_recv_buf_complete recv_buf_complete;
	struct nvsp_revoke_buf revoke;
	struct nvsp_send_buf_complete send_buf_complete;
	struct nvsp_rndis_pkt rndis;
	struct nvsp_rndis_pkt_complete rndis_complete;
	struct nvsp_subchannel_req subch_req;
	struct nvsp_subchannel_resp subch_resp;
	struct nvsp_indirection_table table;
	struct nvsp_vf_association vf;
	struct nvsp_switch_data_path datapath;
	uint8_t raw[NVSP_MSG_LEN];
};
_Static_assert(sizeof(union nvsp_msg) == NVSP_MSG_LEN, "nvsp message");

/* The length a host sends its messages in at a version (OpenVMM). */
static inline uint32_t nvsp_msg_len(uint32_t version)
{
	return version >= NVSP_VERSION_61 ? NVSP_MSG_LEN : NVSP_MSG_LEN_LEGACY;
}

/* Whether v is one of the versions above. */
static inline bool nvsp_version_known(uint32_t v)
{
	return v == NVSP_VERSION_1 || v == NVSP_VERSION_2 ||
	       v == NVSP_VERSION_4 || v == NVSP_VERSION_5 ||
	       v == NVSP_VERSION_6 || v == NVSP_VERSION_61;
}

#endif
