/* KVP GET_IP_INFO / SET_IP_INFO on the guest side, through the same
 * helper scripts as Linux's hyperv-daemons (Debian installs them in
 * /usr/libexec/hypervkvpd):
 *   hv_get_dns_info         prints one name server per line
 *   hv_get_dhcp_info IFNAME prints "Enabled" or "Disabled"
 *   hv_set_ifconfig FILE    applies an ifcfg-style file written by us
 *
 * Strings are ASCII and sized like the UTF-16 fields of the wire message
 * (struct hv_kvp_ipaddr_value), so each fits there after conversion. The
 * lists are ';'-separated as hv_kvp_daemon produces them:
 *   ip_addr   "192.0.2.10;2001:db8::10"      (getifaddrs order)
 *   sub_net   "255.255.255.0;/64"            (one per address; IPv6 as
 *                                             "/prefixlen" like the daemon)
 *   gate_way  "192.0.2.1;2001:db8::1;"       (default routes, IPv4 first,
 *                                             each followed by ';')
 *   dns_addr  "192.0.2.53;"                  (each followed by ';')
 */
#ifndef HVIS_GUEST_KVP_IPINFO_H
#define HVIS_GUEST_KVP_IPINFO_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#define KVP_IP_ADAPTER_SIZE	128
#define KVP_IP_ADDR_SIZE	1024
#define KVP_IP_GW_SIZE		512

#define KVP_IP_FAMILY_IPV4	0x01
#define KVP_IP_FAMILY_IPV6	0x02

#define KVP_IP_DEFAULT_SCRIPT_DIR	"/usr/libexec/hypervkvpd"
#define KVP_IP_DEFAULT_CONFIG_DIR	"/var/lib/hyperv"

struct kvp_ip_info {
	char adapter_id[KVP_IP_ADAPTER_SIZE];	/* MAC, or NIC GUID for SET */
	uint8_t addr_family;			/* KVP_IP_FAMILY_* bits */
	uint8_t dhcp_enabled;
	char ip_addr[KVP_IP_ADDR_SIZE];
	char sub_net[KVP_IP_ADDR_SIZE];
	char gate_way[KVP_IP_GW_SIZE];
	char dns_addr[KVP_IP_ADDR_SIZE];
};

/* Any NULL / 0 member takes the default. */
struct kvp_ip_config {
	const char *script_dir;		/* KVP_IP_DEFAULT_SCRIPT_DIR */
	const char *config_dir;		/* where ifcfg-IFNAME is written */
	const char *proc_net_dir;	/* "/proc/thread-self/net" (route,
					 * ipv6_route: the calling thread's
					 * namespace's) */
	const char *sysfs_net_dir;	/* "/sys/class/net" (device_id) */
	int script_timeout_ms;		/* 10000 */
};

enum kvp_ip_err {
	KVP_IP_OK = 0,
	KVP_IP_ENOIF = -1,	/* no interface matches the adapter id */
	KVP_IP_EINVAL = -2,	/* malformed address / list / name */
	KVP_IP_ESCRIPT = -3,	/* helper missing, failed or timed out */
	KVP_IP_EIO = -4,
	KVP_IP_ESPACE = -5,	/* a list does not fit its field */
};

const char *kvp_ip_strerror(int err);

/* Interface whose MAC equals adapter_id ("00:15:5D:0A:0B:0C", '-' also
 * accepted, any case), else whose <sysfs>/IFNAME/device/device_id equals
 * it (a VMBus NIC GUID, braces and case ignored). */
int kvp_ip_find_ifname(const struct kvp_ip_config *cfg,
		       const char *adapter_id, char ifname[IF_NAMESIZE]);

/* GET_IP_INFO: fills out (adapter_id copied from the argument). */
int kvp_ip_get_info(const struct kvp_ip_config *cfg, const char *adapter_id,
		    struct kvp_ip_info *out);

/* The same for the interface ifname (found by the caller). */
int kvp_ip_get_info_if(const struct kvp_ip_config *cfg, const char *ifname,
		       const char *adapter_id, struct kvp_ip_info *out);

/* SET_IP_INFO: writes <config_dir>/ifcfg-IFNAME from in (every address
 * validated; nothing from the host reaches the file unchecked) and runs
 * <script_dir>/hv_set_ifconfig with its path. On KVP_IP_ESCRIPT and
 * KVP_IP_EIO, why (NULL allowed) gets one line saying what failed: the
 * helper's exit status and the last line it wrote (stdout or stderr). */
int kvp_ip_set_info(const struct kvp_ip_config *cfg, const char *ifname,
		    const struct kvp_ip_info *in, char *why, size_t why_cap);

/* The ifcfg text for ifname/mac (hv_kvp_daemon's format: HWADDR, DEVICE,
 * BOOTPROTO, IPADDR0.., NETMASK0.., GATEWAY, GATEWAY1.., DNS1..,
 * IPV6ADDR, IPV6ADDR_1.., IPV6NETMASK.., IPV6_DEFAULTGW..). Returns the
 * length written to out (NUL-terminated) or a negative kvp_ip_err. */
int kvp_ip_format_ifcfg(const struct kvp_ip_info *in, const char *ifname,
			const char *mac, char *out, size_t cap);

/* "00:15:5d:0a:0b:0c" (or with '-', any case) into 6 bytes: 0, or -1
 * when s is not a MAC. */
int kvp_ip_parse_mac(const char *s, unsigned char mac[6]);

/* An adapter in another network namespace (kvp_ipns.c): netvsc's hn0 in
 * hvis-guest's --netns. Its requests run on a thread of their own that
 * enters the namespace, so addresses, routes and the helper scripts
 * (which inherit the thread's namespace) are that namespace's, and
 * nothing of this process's namespace is looked at or changed. */
struct kvp_ip_netns {
	int ns_fd;	/* the namespace (a descriptor of it) */
	int ifindex;	/* the interface in it */
};

/* kvp_ip_get_info / kvp_ip_set_info for that interface; its name in the
 * namespace goes to ifname (set only). KVP_IP_ENOIF when the interface
 * is gone, KVP_IP_EIO (with why) when the namespace cannot be entered. */
int kvp_ip_get_info_ns(const struct kvp_ip_config *cfg,
		       const struct kvp_ip_netns *ns, const char *adapter_id,
		       struct kvp_ip_info *out);
int kvp_ip_set_info_ns(const struct kvp_ip_config *cfg,
		       const struct kvp_ip_netns *ns,
		       const struct kvp_ip_info *in, char ifname[IF_NAMESIZE],
		       char *why, size_t why_cap);

/* fn(arg) on a thread of its own in the network namespace ns_fd: its
 * result, or KVP_IP_EIO with *sys_err the errno when no thread could be
 * made or the namespace not entered (*sys_err 0 when fn ran). */
int kvp_ip_in_netns(int ns_fd, int (*fn)(void *), void *arg, int *sys_err);

/* Parsers of external text (all bounded by len, NUL not required). They
 * append "item;" per accepted item to out[cap], which must hold a
 * NUL-terminated string on entry; items that are not addresses are
 * skipped. Return the number of items appended or KVP_IP_ESPACE. */
int kvp_ip_parse_dns(const char *text, size_t len, char *out, size_t cap);
int kvp_ip_parse_route4(const char *text, size_t len, const char *ifname,
			char *out, size_t cap);
int kvp_ip_parse_route6(const char *text, size_t len, const char *ifname,
			char *out, size_t cap);
/* 1 when the hv_get_dhcp_info output starts with "Enabled", else 0. */
int kvp_ip_parse_dhcp(const char *text, size_t len);

#endif
