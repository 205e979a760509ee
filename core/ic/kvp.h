/* KVP (key-value pair exchange): decoded requests and results in UTF-8
 * for the embedder, and the guest/host calls specific to KVP. The common
 * guest and host engines are in ic.h. */
#ifndef HVIS_KVP_H
#define HVIS_KVP_H

#include "kvp_wire.h"

/* UTF-8 buffer sizes, NUL included: every UTF-16 unit of a field (less
 * its NUL) becomes at most 3 UTF-8 bytes (a surrogate pair, 2 units,
 * becomes 4). */
#define KVP_UTF8_SIZE(wire_bytes) (((wire_bytes) / 2 - 1) * 3 + 1)
#define KVP_KEY_UTF8_MAX KVP_UTF8_SIZE(KVP_KEY_BYTES)
#define KVP_VALUE_UTF8_MAX KVP_UTF8_SIZE(KVP_VALUE_BYTES)
#define KVP_ADAPTER_UTF8_MAX KVP_UTF8_SIZE(KVP_ADAPTER_ID_BYTES)
#define KVP_IP_UTF8_MAX KVP_UTF8_SIZE(KVP_IP_ADDR_BYTES)
#define KVP_GW_UTF8_MAX KVP_UTF8_SIZE(KVP_GATEWAY_BYTES)

/* IP configuration of one adapter. Message versions below 5.0 carry the
 * string fields (';'-separated address lists); 5.0 carries the binary
 * fields. adapter_id, family and dhcp are in both. */
struct kvp_ip {
	char adapter_id[KVP_ADAPTER_UTF8_MAX];
	uint8_t family; /* KVP_FAMILY_* */
	bool dhcp;
	char ip_addr[KVP_IP_UTF8_MAX];
	char subnet[KVP_IP_UTF8_MAX];
	char gateway[KVP_GW_UTF8_MAX];
	char dns[KVP_IP_UTF8_MAX];
	uint32_t n_ipv4, n_ipv6, n_gw4, n_gw6, n_dns4, n_dns6;
	uint8_t ipv4[KVP_BIN_ADDRS][4];
	uint8_t ipv4_subnet[KVP_BIN_ADDRS][4];
	uint8_t ipv6[KVP_BIN_ADDRS][16];
	uint32_t ipv6_prefix[KVP_BIN_ADDRS];
	uint8_t gw4[KVP_BIN_GATEWAYS][4];
	uint8_t gw6[KVP_BIN_GATEWAYS][16];
	uint8_t dns4[KVP_BIN_ADDRS][4];
	uint8_t dns6[KVP_BIN_ADDRS][16];
	uint16_t origin[KVP_BIN_ORIGINS]; /* IPv4 ones, then IPv6 ones */
};

/* One KVP operation in either direction:
 * - guest action: what the host asked (op, pool, key / value / index /
 *   ip as the op uses them);
 * - guest reply: what the embedder answers (GET: value; ENUMERATE: key
 *   and value; GET_IP_INFO: ip);
 * - host request: what to ask; host result: what the guest answered.
 * Integer values (KVP_REG_DWORD/U64/QWORD) travel in value_int; the
 * guest action also spells them in decimal in value. */
struct kvp_data {
	uint8_t op;
	uint8_t pool;
	uint32_t index;      /* ENUMERATE */
	uint32_t value_type; /* KVP_REG_* */
	uint64_t value_int;
	char key[KVP_KEY_UTF8_MAX];
	char value[KVP_VALUE_UTF8_MAX];
	struct kvp_ip ip;
};

struct ic_guest;
struct ic_host;
struct ic_ver;

/* Whether IP information travels in the binary form (message 5.0 and
 * later) rather than as UTF-16 strings. */
bool kvp_ip_binary(struct ic_ver msg);

/* Next item of a ';'-separated KVP address list in list[0..len):
 * leading/trailing blanks trimmed, empty items skipped. 1 = item
 * copied NUL-terminated into item, 0 = end, -1 = an item of cap or
 * more bytes (then *pos is past it). A NUL before len ends the list. */
int kvp_list_next(const char *list, size_t len, size_t *pos, char *item,
		  size_t cap);

/* kvp_list_next, except that an empty (or all-blank) item ends the list
 * (0, *pos left on it), as in hv_kvp_daemon's parser. For lists paired
 * by position (an address list and its subnet list): skipping the empty
 * item would give an address the next one's subnet. */
int kvp_list_next_stop(const char *list, size_t len, size_t *pos,
		       char *item, size_t cap);

/* An IPv6 subnet of the string form: a prefix length "64" or "/64" (1 to
 * 3 digits, at most 128, nothing after). The length, or -1. */
int kvp_prefix6(const char *s);

/* Guest: answer the pending KVP request. With status IC_S_OK the data
 * the op needs comes from r (may be NULL for SET/DELETE/SET_IP_INFO).
 *
 * A key or value longer than its wire field (a pool record holds up to
 * 511 bytes of key and 2047 of value, the wire 255 and 1023 UTF-16 units)
 * is cut to the longest prefix of whole characters that fits, as Linux's
 * driver does: failing the request instead would end the host's
 * enumeration there and hide every later record. *cuts (may be NULL) gets
 * the number of strings cut in the answer sent (0 when none is sent).
 *
 * Invalid UTF-8, or IP information that does not fit (never cut: a cut
 * list would carry a wrong address), returns its IC_UTF_E* code and
 * leaves the request pending (answer again, e.g. with IC_E_FAIL). */
int kvp_guest_reply_cut(struct ic_guest *g, uint32_t status,
			const struct kvp_data *r, uint8_t *out, size_t cap,
			size_t *out_len, unsigned *cuts);

/* kvp_guest_reply_cut without the count. */
int kvp_guest_reply(struct ic_guest *g, uint32_t status,
		    const struct kvp_data *r, uint8_t *out, size_t cap,
		    size_t *out_len);

/* Host: build a KVP request from d (op, pool and the fields the op uses). */
int kvp_host_request(struct ic_host *h, const struct kvp_data *d,
		     uint8_t *out, size_t cap, size_t *out_len);

#endif
