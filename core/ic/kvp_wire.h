/* Wire layout of the KVP (key-value pair exchange) channel body, after the
 * 28-byte IC header. Sources: Linux include/uapi/linux/hyperv.h
 * (hv_kvp_hdr, hv_kvp_exchg_msg_value, hv_kvp_msg_*, hv_kvp_ipaddr_value,
 * hv_kvp_ip_msg), OpenVMM vm/devices/hyperv_ic_protocol/src/kvp.rs
 * (value types, MessageIpAddressInfoBinary, body sizes 2580 and 7428). */
#ifndef HVIS_KVP_WIRE_H
#define HVIS_KVP_WIRE_H

#include "vmb_base.h"

#define KVP_OP_GET 0
#define KVP_OP_SET 1
#define KVP_OP_DELETE 2
#define KVP_OP_ENUMERATE 3
#define KVP_OP_GET_IP_INFO 4
#define KVP_OP_SET_IP_INFO 5
#define KVP_OP_COUNT 6

#define KVP_POOL_EXTERNAL 0
#define KVP_POOL_GUEST 1
#define KVP_POOL_AUTO 2
#define KVP_POOL_AUTO_EXTERNAL 3
#define KVP_POOL_AUTO_INTERNAL 4
#define KVP_POOL_COUNT 5

/* Registry value types. The 64-bit integer has two numbers: Windows'
 * REG_QWORD (11, OpenVMM's QWORD) and the REG_U64 (8) of Linux's uapi
 * hyperv.h, whose driver turns 4 and 8 into decimal strings for
 * hv_kvp_daemon. A guest accepts both. */
#define KVP_REG_SZ 1u
#define KVP_REG_EXPAND_SZ 2u
#define KVP_REG_DWORD 4u
#define KVP_REG_U64 8u
#define KVP_REG_QWORD 11u

/* Byte sizes of the UTF-16LE fields, terminating NUL included. */
#define KVP_KEY_BYTES 512u
#define KVP_VALUE_BYTES 2048u

/* Every KVP body starts with operation and pool. The value, delete,
 * enumerate and binary IP bodies start 4-byte aligned (after pad), the
 * UTF-16 IP body 2-byte aligned (right after pool). */
struct kvp_hdr {
	uint8_t op;
	uint8_t pool;
	uint16_t pad;
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_hdr) == 4, "kvp_hdr size");

struct kvp_wvalue {
	uint32_t value_type;
	uint32_t key_size;   /* bytes, NUL included */
	uint32_t value_size; /* bytes, NUL included for strings */
	uint8_t key[KVP_KEY_BYTES];
	uint8_t value[KVP_VALUE_BYTES];
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_wvalue) == 2572, "kvp_wvalue size");

struct kvp_wdelete {
	uint32_t key_size;
	uint8_t key[KVP_KEY_BYTES];
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_wdelete) == 516, "kvp_wdelete size");

struct kvp_wenum {
	uint32_t index;
	struct kvp_wvalue value;
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_wenum) == 2576, "kvp_wenum size");

/* Get/set/delete/enumerate bodies are all sent at the enumerate size. */
#define KVP_BODY_LEN (sizeof(struct kvp_hdr) + sizeof(struct kvp_wenum))
_Static_assert(KVP_BODY_LEN == 2580, "kvp body length");

/* IP information in UTF-16 string form (message versions below 5.0). */
#define KVP_ADAPTER_ID_BYTES 256u /* 128 UTF-16 units */
#define KVP_IP_ADDR_BYTES 2048u   /* 1024 units */
#define KVP_GATEWAY_BYTES 1024u   /* 512 units */

#define KVP_FAMILY_NONE 0
#define KVP_FAMILY_IPV4 1
#define KVP_FAMILY_IPV6 2
#define KVP_FAMILY_BOTH 3

struct kvp_wip_str {
	uint8_t adapter_id[KVP_ADAPTER_ID_BYTES];
	uint8_t family;
	uint8_t dhcp;
	uint8_t ip_addr[KVP_IP_ADDR_BYTES];
	uint8_t subnet[KVP_IP_ADDR_BYTES];
	uint8_t gateway[KVP_GATEWAY_BYTES];
	uint8_t dns[KVP_IP_ADDR_BYTES];
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_wip_str) == 7426, "kvp_wip_str size");

/* op and pool, then the string form at offset 2. */
#define KVP_IP_BODY_LEN (2 + sizeof(struct kvp_wip_str))
_Static_assert(KVP_IP_BODY_LEN == 7428, "kvp ip body length");

/* IP information in binary form (message version 5.0). Addresses are in
 * network byte order; IPv6 subnets are prefix lengths. The origins array
 * holds the IPv4 origins then the IPv6 ones, without a gap. */
#define KVP_BIN_ADDRS 64
#define KVP_BIN_GATEWAYS 5
#define KVP_BIN_ORIGINS 128

struct kvp_wip_bin {
	uint32_t n_ipv4;
	uint32_t n_ipv6;
	uint32_t n_gw4;
	uint32_t n_gw6;
	uint32_t n_dns4;
	uint32_t n_dns6;
	uint8_t adapter_id[KVP_ADAPTER_ID_BYTES];
	uint8_t family;
	uint8_t dhcp;
	uint16_t pad;
	uint8_t ipv4[KVP_BIN_ADDRS][4];
	uint8_t ipv6[KVP_BIN_ADDRS][16];
	uint8_t ipv4_subnet[KVP_BIN_ADDRS][4];
	uint32_t ipv6_prefix[KVP_BIN_ADDRS];
	uint8_t gw4[KVP_BIN_GATEWAYS][4];
	uint8_t gw6[KVP_BIN_GATEWAYS][16];
	uint8_t dns4[KVP_BIN_ADDRS][4];
	uint8_t dns6[KVP_BIN_ADDRS][16];
	uint16_t origin[KVP_BIN_ORIGINS];
} __attribute__((packed));
_Static_assert(sizeof(struct kvp_wip_bin) == 3712, "kvp_wip_bin size");
_Static_assert(__builtin_offsetof(struct kvp_wip_bin, ipv4) == 284,
	       "kvp_wip_bin ipv4 offset");
_Static_assert(__builtin_offsetof(struct kvp_wip_bin, origin) == 3456,
	       "kvp_wip_bin origin offset");

/* The binary form is sent in the same 7428-byte body as the string form,
 * starting after the 4-byte header. */
_Static_assert(sizeof(struct kvp_hdr) + sizeof(struct kvp_wip_bin) <=
	       KVP_IP_BODY_LEN, "binary ip fits the ip body");

#define KVP_ORIGIN_UNKNOWN 0
#define KVP_ORIGIN_OTHER 1
#define KVP_ORIGIN_STATIC 2

#endif
