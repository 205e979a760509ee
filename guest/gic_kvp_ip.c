/* KVP IP information between the wire form of the engine (struct kvp_ip:
 * ';'-separated strings below message 5.0, address bytes at 5.0) and the
 * ';'-separated strings of kvp_ipinfo (struct kvp_ip_info). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "gic.h"
#include "kvp_ipinfo.h"
#include "kvp_str.h"

#define ITEM_MAX 64

/* One address and its subnet (NULL: none, left zero). */
static int add_addr(struct kvp_ip *out, const char *a, const char *mask)
{
	uint32_t n4 = out->n_ipv4, n6 = out->n_ipv6;

	if (n4 < KVP_BIN_ADDRS && inet_pton(AF_INET, a, out->ipv4[n4]) == 1) {
		if (mask && inet_pton(AF_INET, mask,
				      out->ipv4_subnet[n4]) != 1)
			return -1;
		out->n_ipv4++;
		return 0;
	}
	if (n6 < KVP_BIN_ADDRS && inet_pton(AF_INET6, a, out->ipv6[n6]) == 1) {
		int plen = mask ? kvp_prefix6(mask) : 0;

		if (plen < 0)
			return -1;
		out->ipv6_prefix[n6] = (uint32_t)plen;
		out->n_ipv6++;
		return 0;
	}
	return -1;
}

/* Addresses with their subnets, paired by position. An empty item ends
 * a list, as in the daemon, so no address gets another one's subnet; the
 * addresses after the end of the subnet list have none. */
static int addrs_to_bin(const struct kvp_ip_info *in, struct kvp_ip *out)
{
	char a[ITEM_MAX], m[ITEM_MAX];
	size_t pa = 0, pm = 0;
	int rc, mask;

	while ((rc = kvp_list_next_stop(in->ip_addr, sizeof(in->ip_addr), &pa,
					a, sizeof(a))) > 0) {
		mask = kvp_list_next_stop(in->sub_net, sizeof(in->sub_net),
					  &pm, m, sizeof(m));
		if (mask < 0 || add_addr(out, a, mask ? m : NULL))
			return -1;
	}
	return rc;
}

/* Gateways or DNS servers, split by family. */
static int list_to_bin(const char *list, size_t cap, uint8_t (*v4)[4],
		       uint32_t *n4, uint8_t (*v6)[16], uint32_t *n6,
		       uint32_t max)
{
	char a[ITEM_MAX];
	size_t p = 0;
	int rc;

	while ((rc = kvp_list_next(list, cap, &p, a, sizeof(a))) > 0) {
		if (*n4 < max && inet_pton(AF_INET, a, v4[*n4]) == 1)
			(*n4)++;
		else if (*n6 < max && inet_pton(AF_INET6, a, v6[*n6]) == 1)
			(*n6)++;
		else
			return -1;
	}
	return rc;
}

int gic_ip_to_wire(const struct kvp_ip_info *in, bool binary,
		   struct kvp_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (kvp_str_copy(out->adapter_id, sizeof(out->adapter_id),
			 in->adapter_id))
		return -1;
	/* kvp_ipinfo's family bits are the wire's values. */
	out->family = in->addr_family & KVP_FAMILY_BOTH;
	out->dhcp = in->dhcp_enabled;
	if (!binary)
		return kvp_str_copy(out->ip_addr, sizeof(out->ip_addr),
				    in->ip_addr) ||
		       kvp_str_copy(out->subnet, sizeof(out->subnet),
				    in->sub_net) ||
		       kvp_str_copy(out->gateway, sizeof(out->gateway),
				    in->gate_way) ||
		       kvp_str_copy(out->dns, sizeof(out->dns), in->dns_addr)
			       ? -1 : 0;
	if (addrs_to_bin(in, out) ||
	    list_to_bin(in->gate_way, sizeof(in->gate_way), out->gw4,
			&out->n_gw4, out->gw6, &out->n_gw6, KVP_BIN_GATEWAYS) ||
	    list_to_bin(in->dns_addr, sizeof(in->dns_addr), out->dns4,
			&out->n_dns4, out->dns6, &out->n_dns6, KVP_BIN_ADDRS))
		return -1;
	return 0;
}

/* Appends "item" and sep to s[cap]; -1 when it does not fit. */
static int append(char *s, size_t cap, const char *item, const char *sep)
{
	size_t n = strlen(s);
	int w = snprintf(s + n, cap - n, "%s%s", item, sep);

	return w >= 0 && (size_t)w < cap - n ? 0 : -1;
}

static int append_addr(char *s, size_t cap, int af, const void *a,
		       const char *sep)
{
	char t[INET6_ADDRSTRLEN];

	inet_ntop(af, a, t, sizeof(t));
	return append(s, cap, t, sep);
}

static int bin_addrs(const struct kvp_ip *in, struct kvp_ip_info *out)
{
	char plen[8];
	int rc = 0;

	for (uint32_t i = 0; i < in->n_ipv4 && !rc; i++) {
		rc = append_addr(out->ip_addr, sizeof(out->ip_addr), AF_INET,
				 in->ipv4[i], ";") ||
		     append_addr(out->sub_net, sizeof(out->sub_net), AF_INET,
				 in->ipv4_subnet[i], ";");
	}
	for (uint32_t i = 0; i < in->n_ipv6 && !rc; i++) {
		if (in->ipv6_prefix[i] > 128)
			return -1;
		snprintf(plen, sizeof(plen), "/%u", in->ipv6_prefix[i]);
		rc = append_addr(out->ip_addr, sizeof(out->ip_addr), AF_INET6,
				 in->ipv6[i], ";") ||
		     append(out->sub_net, sizeof(out->sub_net), plen, ";");
	}
	return rc;
}

static int bin_list(char *s, size_t cap, const uint8_t (*v4)[4], uint32_t n4,
		    const uint8_t (*v6)[16], uint32_t n6)
{
	for (uint32_t i = 0; i < n4; i++)
		if (append_addr(s, cap, AF_INET, v4[i], ";"))
			return -1;
	for (uint32_t i = 0; i < n6; i++)
		if (append_addr(s, cap, AF_INET6, v6[i], ";"))
			return -1;
	return 0;
}

int gic_ip_from_wire(const struct kvp_ip *in, bool binary,
		     struct kvp_ip_info *out)
{
	memset(out, 0, sizeof(*out));
	if (kvp_str_copy(out->adapter_id, sizeof(out->adapter_id),
			 in->adapter_id))
		return -1;
	out->addr_family = in->family;
	out->dhcp_enabled = in->dhcp;
	if (!binary)
		return kvp_str_copy(out->ip_addr, sizeof(out->ip_addr),
				    in->ip_addr) ||
		       kvp_str_copy(out->sub_net, sizeof(out->sub_net),
				    in->subnet) ||
		       kvp_str_copy(out->gate_way, sizeof(out->gate_way),
				    in->gateway) ||
		       kvp_str_copy(out->dns_addr, sizeof(out->dns_addr),
				    in->dns)
			       ? -1 : 0;
	/* The engine checked every count against its array. */
	return bin_addrs(in, out) ||
	       bin_list(out->gate_way, sizeof(out->gate_way), in->gw4,
			in->n_gw4, in->gw6, in->n_gw6) ||
	       bin_list(out->dns_addr, sizeof(out->dns_addr), in->dns4,
			in->n_dns4, in->dns6, in->n_dns6)
		       ? -1 : 0;
}
