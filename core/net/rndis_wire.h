/* RNDIS 1.0 as Hyper-V's synthetic NIC speaks it inside NVSP
 * SEND_RNDIS_PKT messages (netvsc in the guest, netvsp in the host), and
 * the NDIS objects its OIDs carry. All fields are little-endian and
 * packed.
 *
 * Every message starts with a type and its length (msg_len, header
 * included). Control requests carry a request id the completion repeats;
 * completions have the request's type | 0x80000000. Offsets inside
 * QUERY, SET, INDICATE_STATUS and PACKET count from byte 8 (right after
 * the type and length); offsets inside a per-packet info count from the
 * PPI's own start; offsets inside NDIS objects from the object's start.
 *
 * Sources (facts only): Linux drivers/net/hyperv, FreeBSD hn, DPDK
 * netvsc, OpenBSD hvn, OpenVMM netvsp; see the project's network facts
 * map, section 3. */
#ifndef HVIS_RNDIS_WIRE_H
#define HVIS_RNDIS_WIRE_H

#include "vmb_base.h"

/* A u32 field at any alignment (messages sit packed in buffers). */
static inline uint32_t rndis_rd32(const uint8_t *p)
{
	uint32_t v;

	vmb_memcpy(&v, p, 4);
	return vmb_le32(v);
}

static inline void rndis_wr32(uint8_t *p, uint32_t v)
{
	v = vmb_le32(v);
	vmb_memcpy(p, &v, 4);
}

/* ---- message types ---- */
#define RNDIS_MSG_PACKET 1u
#define RNDIS_MSG_INIT 2u
#define RNDIS_MSG_HALT 3u
#define RNDIS_MSG_QUERY 4u
#define RNDIS_MSG_SET 5u
#define RNDIS_MSG_RESET 6u
#define RNDIS_MSG_INDICATE 7u
#define RNDIS_MSG_KEEPALIVE 8u
#define RNDIS_MSG_SET_EX 9u
#define RNDIS_MSG_CMPLT 0x80000000u
#define RNDIS_MSG_INIT_C (RNDIS_MSG_INIT | RNDIS_MSG_CMPLT)
#define RNDIS_MSG_QUERY_C (RNDIS_MSG_QUERY | RNDIS_MSG_CMPLT)
#define RNDIS_MSG_SET_C (RNDIS_MSG_SET | RNDIS_MSG_CMPLT)
#define RNDIS_MSG_RESET_C (RNDIS_MSG_RESET | RNDIS_MSG_CMPLT)
#define RNDIS_MSG_KEEPALIVE_C (RNDIS_MSG_KEEPALIVE | RNDIS_MSG_CMPLT)

#define RNDIS_MAJOR 1u
#define RNDIS_MINOR 0u

/* ---- status codes (NDIS_STATUS_*) ---- */
#define RNDIS_ST_SUCCESS 0x00000000u
#define RNDIS_ST_FAILURE 0xC0000001u
#define RNDIS_ST_NOT_SUPPORTED 0xC00000BBu
#define RNDIS_ST_INVALID_LENGTH 0xC0010014u
#define RNDIS_ST_INVALID_DATA 0xC0010015u
#define RNDIS_ST_BUFFER_TOO_SHORT 0xC0010016u
#define RNDIS_ST_MEDIA_CONNECT 0x4001000Bu
#define RNDIS_ST_MEDIA_DISCONNECT 0x4001000Cu
#define RNDIS_ST_LINK_SPEED_CHANGE 0x40010013u
#define RNDIS_ST_NETWORK_CHANGE 0x40010018u
#define RNDIS_ST_OFFLOAD_CURRENT_CONFIG 0x40020006u

/* ---- OIDs ---- */
#define RNDIS_OID_SUPPORTED_LIST 0x00010101u
#define RNDIS_OID_MAX_FRAME_SIZE 0x00010106u
#define RNDIS_OID_LINK_SPEED 0x00010107u
#define RNDIS_OID_PACKET_FILTER 0x0001010Eu
#define RNDIS_OID_MEDIA_CONNECT_STATUS 0x00010114u
#define RNDIS_OID_CONFIG_PARAMETER 0x0001021Bu
#define RNDIS_OID_RSS_CAPS 0x00010203u
#define RNDIS_OID_RSS_PARAMS 0x00010204u
#define RNDIS_OID_MAX_LINK_SPEED 0x00010206u
#define RNDIS_OID_LINK_STATE 0x00010207u
#define RNDIS_OID_FRIENDLY_NAME 0x00020216u
#define RNDIS_OID_PERMANENT_ADDRESS 0x01010101u
#define RNDIS_OID_CURRENT_ADDRESS 0x01010102u
#define RNDIS_OID_OFFLOAD_ENCAP 0x0101010Au
#define RNDIS_OID_OFFLOAD_CURRENT 0xFC01020Bu
#define RNDIS_OID_OFFLOAD_PARAMS 0xFC01020Cu
#define RNDIS_OID_OFFLOAD_HWCAPS 0xFC01020Du

/* MEDIA_CONNECT_STATUS values. */
#define RNDIS_MEDIA_CONNECTED 0u
#define RNDIS_MEDIA_DISCONNECTED 1u

/* ---- packet filter bits (the high ones, which sources number
 * differently and no guest sets, are left out) ---- */
#define RNDIS_FILTER_DIRECTED 0x01u
#define RNDIS_FILTER_MULTICAST 0x02u
#define RNDIS_FILTER_ALL_MULTICAST 0x04u
#define RNDIS_FILTER_BROADCAST 0x08u
#define RNDIS_FILTER_SOURCE_ROUTING 0x10u
#define RNDIS_FILTER_PROMISCUOUS 0x20u
#define RNDIS_FILTER_SMT 0x40u
#define RNDIS_FILTER_ALL_LOCAL 0x80u

/* ---- messages ---- */
struct __attribute__((packed)) rndis_hdr {
	uint32_t type;
	uint32_t msg_len;
};
_Static_assert(sizeof(struct rndis_hdr) == 8, "rndis header");

/* Offsets in requests, completions and PACKETs count from here. */
#define RNDIS_OFF_BASE 8u

struct __attribute__((packed)) rndis_packet {
	struct rndis_hdr hdr;
	uint32_t data_offset;
	uint32_t data_len;
	uint32_t oob_offset;
	uint32_t oob_len;
	uint32_t num_oob;
	uint32_t ppi_offset;
	uint32_t ppi_len;
	uint32_t vc_handle;
	uint32_t reserved;
};
_Static_assert(sizeof(struct rndis_packet) == 44, "rndis packet");

struct __attribute__((packed)) rndis_init_req {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t major;
	uint32_t minor;
	uint32_t max_xfer;
};
_Static_assert(sizeof(struct rndis_init_req) == 24, "rndis init");

#define RNDIS_DF_CONNECTIONLESS 1u
#define RNDIS_MEDIUM_802_3 0u

struct __attribute__((packed)) rndis_init_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;
	uint32_t major;
	uint32_t minor;
	uint32_t dev_flags;
	uint32_t medium;
	uint32_t max_pkts;
	uint32_t max_xfer;
	uint32_t align_factor; /* log2 of the packet alignment */
	uint32_t af_list_offset;
	uint32_t af_list_size;
};
_Static_assert(sizeof(struct rndis_init_cmplt) == 52, "rndis init cmplt");

/* HALT and KEEPALIVE requests. */
struct __attribute__((packed)) rndis_id_req {
	struct rndis_hdr hdr;
	uint32_t req_id;
};
_Static_assert(sizeof(struct rndis_id_req) == 12, "rndis halt/keepalive");

/* QUERY and SET requests. */
struct __attribute__((packed)) rndis_oid_req {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t oid;
	uint32_t buflen;
	uint32_t buf_offset; /* from byte 8; guests use 20 */
	uint32_t vc_handle;
};
_Static_assert(sizeof(struct rndis_oid_req) == 28, "rndis query/set");

struct __attribute__((packed)) rndis_query_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;
	uint32_t buflen;
	uint32_t buf_offset; /* from byte 8 */
};
_Static_assert(sizeof(struct rndis_query_cmplt) == 24, "rndis query cmplt");

/* SET and KEEPALIVE completions. */
struct __attribute__((packed)) rndis_status_cmplt {
	struct rndis_hdr hdr;
	uint32_t req_id;
	uint32_t status;
};
_Static_assert(sizeof(struct rndis_status_cmplt) == 16, "rndis set cmplt");

struct __attribute__((packed)) rndis_reset_req {
	struct rndis_hdr hdr;
	uint32_t reserved;
};
_Static_assert(sizeof(struct rndis_reset_req) == 12, "rndis reset");

struct __attribute__((packed)) rndis_reset_cmplt {
	struct rndis_hdr hdr;
	uint32_t status;
	uint32_t addressing_reset;
};
_Static_assert(sizeof(struct rndis_reset_cmplt) == 16, "rndis reset cmplt");

struct __attribute__((packed)) rndis_indicate {
	struct rndis_hdr hdr;
	uint32_t status;
	uint32_t buflen;
	uint32_t buf_offset; /* from byte 8 */
};
_Static_assert(sizeof(struct rndis_indicate) == 20, "rndis indicate");

/* The value of a SET of RNDIS_CONFIG_PARAMETER; offsets from its start,
 * name and value UTF-16LE without a terminator. */
#define RNDIS_CONFIG_TYPE_INT 0u
#define RNDIS_CONFIG_TYPE_STRING 2u

struct __attribute__((packed)) rndis_config_param {
	uint32_t name_offset;
	uint32_t name_len;   /* bytes */
	uint32_t type;
	uint32_t value_offset;
	uint32_t value_len;  /* bytes */
};
_Static_assert(sizeof(struct rndis_config_param) == 20, "rndis config");

/* ---- NDIS objects ---- */
struct __attribute__((packed)) ndis_obj_hdr {
	uint8_t type;
	uint8_t revision;
	uint16_t size;
};
_Static_assert(sizeof(struct ndis_obj_hdr) == 4, "ndis object header");

#define NDIS_OBJ_DEFAULT 0x80u
#define NDIS_OBJ_RSS_CAPS 0x88u
#define NDIS_OBJ_RSS_PARAMS 0x89u
#define NDIS_OBJ_OFFLOAD 0xA7u
#define NDIS_OBJ_OFFLOAD_ENCAP 0xA8u

#define NDIS_ENCAP_802_3 2u

/* Checksum capability bits (ndis_csum_caps *_flags). */
#define NDIS_CSUM_IPOPT 0x001u   /* IPv4 options / IPv6 extension headers */
#define NDIS_CSUM_TCPOPT 0x004u
#define NDIS_CSUM_TCP 0x010u
#define NDIS_CSUM_UDP 0x040u
#define NDIS_CSUM_IP4HDR 0x100u  /* IPv4 header checksum */

struct __attribute__((packed)) ndis_csum_caps {
	uint32_t ip4_tx_encap, ip4_tx_flags, ip4_rx_encap, ip4_rx_flags;
	uint32_t ip6_tx_encap, ip6_tx_flags, ip6_rx_encap, ip6_rx_flags;
};
_Static_assert(sizeof(struct ndis_csum_caps) == 32, "ndis csum caps");

#define NDIS_LSO6_EXTHDR 0x1u
#define NDIS_LSO6_TCPOPT 0x4u

struct __attribute__((packed)) ndis_lsov2_caps {
	uint32_t ip4_encap, ip4_maxsz, ip4_minsg;
	uint32_t ip6_encap, ip6_maxsz, ip6_minsg, ip6_opts;
};
_Static_assert(sizeof(struct ndis_lsov2_caps) == 28, "ndis lsov2 caps");

struct __attribute__((packed)) ndis_offload {
	struct ndis_obj_hdr hdr;
	struct ndis_csum_caps csum;     /* @4 */
	uint8_t lsov1[16];              /* @36 */
	uint8_t ipsecv1[28];            /* @52 */
	struct ndis_lsov2_caps lsov2;   /* @80 */
	uint32_t flags;                 /* @108; revision 1 ends */
	uint8_t ipsecv2[32];            /* @112; revision 2 ends */
	uint8_t rsc_ip4;                /* @144 */
	uint8_t rsc_ip6;
	uint8_t rsc_pad[2];
	uint8_t encap[8];               /* @148; revision 3 ends */
};
_Static_assert(sizeof(struct ndis_offload) == 156, "ndis offload");
_Static_assert(__builtin_offsetof(struct ndis_offload, lsov2) == 80,
	       "ndis offload lsov2");
_Static_assert(__builtin_offsetof(struct ndis_offload, rsc_ip4) == 144,
	       "ndis offload rsc");

#define NDIS_OFFLOAD_SIZE_1 112u
#define NDIS_OFFLOAD_SIZE_2 144u
#define NDIS_OFFLOAD_SIZE_3 156u

/* NDIS_OFFLOAD_PARAMETERS values: 0 leaves a setting as it is. */
#define NDIS_OFFP_NOCHG 0u
#define NDIS_OFFP_CSUM_OFF 1u
#define NDIS_OFFP_CSUM_TX 2u
#define NDIS_OFFP_CSUM_RX 3u
#define NDIS_OFFP_CSUM_TXRX 4u
#define NDIS_OFFP_OFF 1u   /* LSO, RSC */
#define NDIS_OFFP_ON 2u

struct __attribute__((packed)) ndis_offload_params {
	struct ndis_obj_hdr hdr;
	uint8_t ip4csum, tcp4csum, udp4csum, tcp6csum, udp6csum;
	uint8_t lsov1, ipsecv1, lsov2_ip4, lsov2_ip6;
	uint8_t tcp_conn_ip4, tcp_conn_ip6;
	uint8_t pad0;
	uint32_t flags;                 /* @16; revision 1 ends */
	uint8_t ipsecv2, ipsecv2_ip4;   /* @20; revision 2 ends */
	uint8_t rsc_ip4, rsc_ip6;       /* @22 */
	uint8_t encap, encap_types;
	uint8_t pad1[2];                /* revision 3 ends */
};
_Static_assert(sizeof(struct ndis_offload_params) == 28,
	       "ndis offload parameters");
_Static_assert(__builtin_offsetof(struct ndis_offload_params, rsc_ip4) == 22,
	       "ndis offload parameters rsc");

#define NDIS_OFFP_SIZE_1 20u
#define NDIS_OFFP_SIZE_2 22u
#define NDIS_OFFP_SIZE_3 28u

/* NDIS_OFFLOAD_ENCAPSULATION: what OFFLOAD_ENCAP answers. */
struct __attribute__((packed)) ndis_offload_encap {
	struct ndis_obj_hdr hdr;
	uint32_t ip4_enabled, ip4_type, ip4_hdr_size;
	uint32_t ip6_enabled, ip6_type, ip6_hdr_size;
};
_Static_assert(sizeof(struct ndis_offload_encap) == 28, "ndis encap");

/* NDIS_LINK_SPEED, the MAX_LINK_SPEED answer, in bits per second. */
struct __attribute__((packed)) ndis_link_speed {
	uint64_t xmit;
	uint64_t rcv;
};
_Static_assert(sizeof(struct ndis_link_speed) == 16, "ndis link speed");

/* NDIS_LINK_STATE, the LINK_STATE answer (revision 1). */
#define NDIS_MEDIA_STATE_CONNECTED 1u
#define NDIS_MEDIA_STATE_DISCONNECTED 2u
#define NDIS_DUPLEX_FULL 2u

struct __attribute__((packed)) ndis_link_state {
	struct ndis_obj_hdr hdr;
	uint32_t media_state;
	uint32_t duplex;
	uint32_t pad;
	uint64_t xmit_speed;  /* bits per second */
	uint64_t rcv_speed;
	uint32_t pause;       /* 0: no pause frames */
	uint32_t autoneg;
};
_Static_assert(sizeof(struct ndis_link_state) == 40, "ndis link state");

/* ---- RSS ---- */
#define NDIS_RSS_CAP_TOEPLITZ 0x00000001u
#define NDIS_RSS_CAP_TCP4 0x00000100u
#define NDIS_RSS_CAP_TCP6 0x00000200u
#define NDIS_RSS_CAP_TCP6_EX 0x00000400u
#define NDIS_RSS_CAP_UDP4 0x00000800u
#define NDIS_RSS_CAP_UDP6 0x00001000u
#define NDIS_RSS_CAP_UDP6_EX 0x00002000u

struct __attribute__((packed)) ndis_rss_caps {
	struct ndis_obj_hdr hdr;
	uint32_t caps;
	uint32_t num_msi;
	uint32_t num_rx_queues;
	uint16_t num_entries;  /* revision 2 */
	uint16_t pad;
};
_Static_assert(sizeof(struct ndis_rss_caps) == 20, "ndis rss caps");
#define NDIS_RSS_CAPS_SIZE_1 16u
#define NDIS_RSS_CAPS_SIZE_2 18u   /* the header's size: pad not counted */

/* Hash info: the function in the low byte, the hash types above. */
#define NDIS_HASH_FUNC_MASK 0x000000FFu
#define NDIS_HASH_TOEPLITZ 0x00000001u
#define NDIS_HASH_IPV4 0x00000100u
#define NDIS_HASH_TCP_IPV4 0x00000200u
#define NDIS_HASH_IPV6 0x00000400u
#define NDIS_HASH_IPV6_EX 0x00000800u
#define NDIS_HASH_TCP_IPV6 0x00001000u
#define NDIS_HASH_TCP_IPV6_EX 0x00002000u
#define NDIS_HASH_UDP_IPV4 0x00004000u
#define NDIS_HASH_UDP_IPV6 0x00008000u
#define NDIS_HASH_UDP_IPV6_EX 0x00010000u
#define NDIS_HASH_TYPE_MASK 0x0001FF00u

#define NDIS_RSS_FLAG_BASE_CPU_UNCHANGED 0x01u
#define NDIS_RSS_FLAG_HASH_INFO_UNCHANGED 0x02u
#define NDIS_RSS_FLAG_TABLE_UNCHANGED 0x04u
#define NDIS_RSS_FLAG_KEY_UNCHANGED 0x08u
#define NDIS_RSS_FLAG_DISABLE 0x10u

#define NDIS_RSS_KEY_LEN 40u
#define NDIS_RSS_TABLE_MAX 128u  /* entries */
#define NDIS_RSS_TABLE_MIN 16u

/* Offsets from the start of this object. */
struct __attribute__((packed)) ndis_rss_params {
	struct ndis_obj_hdr hdr;
	uint16_t flags;
	uint16_t base_cpu;
	uint32_t hash_info;
	uint16_t table_size;  /* bytes: 4 per entry */
	uint16_t pad0;
	uint32_t table_offset;
	uint16_t key_size;    /* bytes */
	uint16_t pad1;
	uint32_t key_offset;
	uint32_t cpumask_offset;
	uint32_t cpumask_count;
	uint32_t cpumask_entry_size;
};
_Static_assert(sizeof(struct ndis_rss_params) == 40, "ndis rss params");
#define NDIS_RSS_PARAMS_MIN 28u  /* through key_offset (revision 1) */

/* ---- per-packet info ---- */
struct __attribute__((packed)) rndis_ppi_hdr {
	uint32_t size;   /* header included, a multiple of 4 */
	uint32_t type;   /* bit 31: internal */
	uint32_t offset; /* of the value, from the PPI's start: 12 */
};
_Static_assert(sizeof(struct rndis_ppi_hdr) == 12, "rndis ppi header");

#define RNDIS_PPI_CSUM 0u
#define RNDIS_PPI_IPSEC 1u
#define RNDIS_PPI_LSO 2u
#define RNDIS_PPI_CLASSIFICATION 3u
#define RNDIS_PPI_SG_LIST 5u
#define RNDIS_PPI_8021Q 6u
#define RNDIS_PPI_ORIGINAL 7u
#define RNDIS_PPI_HASH_VALUE 8u
#define RNDIS_PPI_HASH_INFO 9u
#define RNDIS_PPI_CACHED_NBL 10u
#define RNDIS_PPI_SHORT_PAD 11u
#define RNDIS_PPI_INTERNAL 0x80000000u
#define RNDIS_PPI_PKTINFO_ID (RNDIS_PPI_INTERNAL | 1u)

/* Checksum info, guest to host (what to compute). */
#define RNDIS_CSUM_TX_IPV4 0x01u
#define RNDIS_CSUM_TX_IPV6 0x02u
#define RNDIS_CSUM_TX_TCP 0x04u
#define RNDIS_CSUM_TX_UDP 0x08u
#define RNDIS_CSUM_TX_IPHDR 0x10u
#define RNDIS_CSUM_TX_THOFF_SHIFT 16
#define RNDIS_CSUM_TX_THOFF_MASK 0x3FFu

/* Checksum info, host to guest (what was checked). */
#define RNDIS_CSUM_RX_TCP_FAILED 0x001u
#define RNDIS_CSUM_RX_UDP_FAILED 0x002u
#define RNDIS_CSUM_RX_IP_FAILED 0x004u
#define RNDIS_CSUM_RX_TCP_OK 0x008u
#define RNDIS_CSUM_RX_UDP_OK 0x010u
#define RNDIS_CSUM_RX_IP_OK 0x020u
#define RNDIS_CSUM_RX_LOOPBACK 0x040u
#define RNDIS_CSUM_RX_TCP_INVALID 0x080u
#define RNDIS_CSUM_RX_IP_INVALID 0x100u

/* LSOv2, guest to host. */
#define RNDIS_LSO_MSS_MASK 0xFFFFFu
#define RNDIS_LSO_THOFF_SHIFT 20
#define RNDIS_LSO_THOFF_MASK 0x3FFu
#define RNDIS_LSO_V2 0x40000000u
#define RNDIS_LSO_IPV6 0x80000000u

/* 802.1Q: the TCI without its TPID. */
#define RNDIS_VLAN_PRIO_MASK 0x7u
#define RNDIS_VLAN_CFI 0x8u
#define RNDIS_VLAN_VID_SHIFT 4
#define RNDIS_VLAN_VID_MASK 0xFFFu

/* PKTINFO_ID: one fragment of a coalesced (RSC) receive. */
#define RNDIS_PKTID_VERSION 1u
#define RNDIS_PKTID_SUBALLOC 0x1u
#define RNDIS_PKTID_FIRST 0x2u
#define RNDIS_PKTID_LAST 0x4u

struct __attribute__((packed)) rndis_pktinfo_id {
	uint8_t version;
	uint8_t flags;
	uint16_t pkt_id;
};
_Static_assert(sizeof(struct rndis_pktinfo_id) == 4, "rndis pktinfo id");

#endif
