/* KVP IP info through the hyperv-daemons helper scripts. See kvp_ipinfo.h. */
#include "kvp_ipinfo.h"
#include "os_exec.h"
#include "ic/kvp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_LEN	512
#define SCRIPT_OUT_MAX	8192

const char *kvp_ip_strerror(int err)
{
	switch (err) {
	case KVP_IP_OK:
		return "ok";
	case KVP_IP_ENOIF:
		return "no interface matches the adapter id";
	case KVP_IP_EINVAL:
		return "malformed address or list";
	case KVP_IP_ESCRIPT:
		return "helper script missing, failed or timed out";
	case KVP_IP_EIO:
		return "I/O error";
	case KVP_IP_ESPACE:
		return "list does not fit its field";
	}
	return "unknown error";
}

static const char *dflt(const char *v, const char *d)
{
	return v && *v ? v : d;
}

static int script_timeout(const struct kvp_ip_config *cfg)
{
	return cfg && cfg->script_timeout_ms > 0 ? cfg->script_timeout_ms
						 : 10000;
}

/* Copies the next line of text (without '\n') into line; lines too long
 * for line are returned truncated with *too_long set. Returns 0 at the
 * end of text. */
static int next_line(const char *text, size_t len, size_t *pos, char *line,
		     size_t cap, int *too_long)
{
	if (*pos >= len)
		return 0;
	size_t start = *pos, end = start;

	while (end < len && text[end] != '\n')
		end++;
	*pos = end < len ? end + 1 : end;
	size_t l = end - start;

	*too_long = l >= cap;
	if (l >= cap)
		l = cap - 1;
	memcpy(line, text + start, l);
	line[l] = '\0';
	return 1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	size_t l = strlen(s);

	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
		s[--l] = '\0';
	return s;
}

/* Appends item, then ';' when sep is set, to the string in out[cap]. */
static int append(char *out, size_t cap, const char *item, int trailing_sep)
{
	size_t used = strnlen(out, cap);
	size_t il = strlen(item);
	int lead = !trailing_sep && used > 0;

	if (used >= cap || used + lead + il + (trailing_sep ? 1 : 0) >= cap)
		return KVP_IP_ESPACE;
	if (lead)
		out[used++] = ';';
	memcpy(out + used, item, il);
	used += il;
	if (trailing_sep)
		out[used++] = ';';
	out[used] = '\0';
	return 0;
}

static int is_addr(const char *s, int *family)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, s, buf) == 1) {
		*family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, s, buf) == 1) {
		*family = AF_INET6;
		return 1;
	}
	return 0;
}

/* s as inet_ntop spells it (hv_set_ifconfig writes IPv6 name servers
 * in full, as the ifcfg file has them): 1, or 0 if s is no address. */
static int canon_addr(const char *s, char out[INET6_ADDRSTRLEN])
{
	unsigned char buf[sizeof(struct in6_addr)];
	int fam;

	if (!is_addr(s, &fam))
		return 0;
	inet_pton(fam, s, buf);
	inet_ntop(fam, buf, out, INET6_ADDRSTRLEN);
	return 1;
}

int kvp_ip_parse_dns(const char *text, size_t len, char *out, size_t cap)
{
	char line[LINE_MAX_LEN], item[INET6_ADDRSTRLEN];
	size_t pos = 0;
	int too_long, n = 0;

	while (next_line(text, len, &pos, line, sizeof(line), &too_long)) {
		if (too_long || !canon_addr(trim(line), item))
			continue;
		if (append(out, cap, item, 1))
			return KVP_IP_ESPACE;
		n++;
	}
	return n;
}

int kvp_ip_parse_dhcp(const char *text, size_t len)
{
	return len >= 7 && memcmp(text, "Enabled", 7) == 0;
}

static int parse_hex_u32(const char *s, uint32_t *v)
{
	char *end;

	if (strlen(s) != 8 || !isxdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long x = strtoul(s, &end, 16);

	if (errno || *end)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric
 * Mask ..."; addresses are the kernel's __be32 printed with %08X, so the
 * parsed number stored back into s_addr is the address. */
int kvp_ip_parse_route4(const char *text, size_t len, const char *ifname,
			char *out, size_t cap)
{
	char line[LINE_MAX_LEN];
	size_t pos = 0;
	int too_long, n = 0;

	while (next_line(text, len, &pos, line, sizeof(line), &too_long)) {
		char dev[32], dst[16], gw[16], flags[16], mask[16];
		uint32_t vdst, vgw, vflags, vmask;

		if (too_long ||
		    sscanf(line, "%31s %15s %15s %15s %*s %*s %*s %15s", dev,
			   dst, gw, flags, mask) != 5)
			continue;
		if (strcmp(dev, ifname) || parse_hex_u32(dst, &vdst) ||
		    parse_hex_u32(gw, &vgw) || parse_hex_u32(mask, &vmask))
			continue;
		char *end;

		vflags = (uint32_t)strtoul(flags, &end, 16);
		if (*end || vdst || vmask || !vgw || !(vflags & RTF_GATEWAY))
			continue;
		struct in_addr a = { .s_addr = vgw };
		char s[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a, s, sizeof(s));
		if (append(out, cap, s, 1))
			return KVP_IP_ESPACE;
		n++;
	}
	return n;
}

static int parse_hex_bytes(const char *s, unsigned char *b, size_t n)
{
	if (strlen(s) != n * 2)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char pair[3] = { s[2 * i], s[2 * i + 1], 0 };
		char *end;

		if (!isxdigit((unsigned char)pair[0]) ||
		    !isxdigit((unsigned char)pair[1]))
			return -1;
		b[i] = (unsigned char)strtoul(pair, &end, 16);
	}
	return 0;
}

/* /proc/net/ipv6_route: "dst dst_plen src src_plen nexthop metric refcnt
 * use flags dev", addresses as 32 hex digits in network order. */
int kvp_ip_parse_route6(const char *text, size_t len, const char *ifname,
			char *out, size_t cap)
{
	char line[LINE_MAX_LEN];
	size_t pos = 0;
	int too_long, n = 0;

	while (next_line(text, len, &pos, line, sizeof(line), &too_long)) {
		char dst[40], dplen[8], hop[40], flags[16], dev[32];
		unsigned char a[16], zero[16] = { 0 };
		char *end;

		if (too_long ||
		    sscanf(line, "%39s %7s %*s %*s %39s %*s %*s %*s %15s %31s",
			   dst, dplen, hop, flags, dev) != 5)
			continue;
		if (strcmp(dev, ifname) || strcmp(dplen, "00") ||
		    parse_hex_bytes(dst, a, 16) || memcmp(a, zero, 16) ||
		    parse_hex_bytes(hop, a, 16) || !memcmp(a, zero, 16))
			continue;
		uint32_t vflags = (uint32_t)strtoul(flags, &end, 16);

		if (*end || !(vflags & RTF_GATEWAY))
			continue;
		char s[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, a, s, sizeof(s));
		if (append(out, cap, s, 1))
			return KVP_IP_ESPACE;
		n++;
	}
	return n;
}

int kvp_ip_parse_mac(const char *s, unsigned char mac[6])
{
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!isxdigit((unsigned char)p[0]) ||
		    !isxdigit((unsigned char)p[1]))
			return -1;
		char pair[3] = { p[0], p[1], 0 };

		mac[i] = (unsigned char)strtoul(pair, NULL, 16);
		if (i < 5 && p[2] != ':' && p[2] != '-')
			return -1;
		if (i == 5 && p[2] != '\0')
			return -1;
	}
	return 0;
}

static void format_mac(const unsigned char *m, char out[18])
{
	snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* MAC of ifname (upper case), via getifaddrs' AF_PACKET entries, which
 * reflect the caller's network namespace. */
static int mac_of(const char *ifname, char out[18])
{
	struct ifaddrs *ifa, *c;
	int rc = KVP_IP_ENOIF;

	if (getifaddrs(&ifa))
		return KVP_IP_EIO;
	for (c = ifa; c; c = c->ifa_next) {
		if (!c->ifa_addr || c->ifa_addr->sa_family != AF_PACKET ||
		    strcmp(c->ifa_name, ifname))
			continue;
		struct sockaddr_ll *ll = (struct sockaddr_ll *)c->ifa_addr;

		if (ll->sll_halen == 6) {
			format_mac(ll->sll_addr, out);
			rc = KVP_IP_OK;
		}
		break;
	}
	freeifaddrs(ifa);
	return rc;
}

static int ifname_by_mac(const unsigned char mac[6], char ifname[IF_NAMESIZE])
{
	struct ifaddrs *ifa, *c;
	int rc = KVP_IP_ENOIF;

	if (getifaddrs(&ifa))
		return KVP_IP_EIO;
	for (c = ifa; c; c = c->ifa_next) {
		if (!c->ifa_addr || c->ifa_addr->sa_family != AF_PACKET)
			continue;
		struct sockaddr_ll *ll = (struct sockaddr_ll *)c->ifa_addr;

		if (ll->sll_halen != 6 || memcmp(ll->sll_addr, mac, 6) ||
		    strlen(c->ifa_name) >= IF_NAMESIZE)
			continue;
		strcpy(ifname, c->ifa_name);
		rc = KVP_IP_OK;
		break;
	}
	freeifaddrs(ifa);
	return rc;
}

/* GUID text without braces, lower case, into out[37]. */
static int norm_guid(const char *s, char out[37])
{
	size_t n = 0;

	for (; *s; s++) {
		if (*s == '{' || *s == '}' || *s == '\n' || *s == ' ')
			continue;
		if (n >= 36)
			return -1;
		out[n++] = (char)tolower((unsigned char)*s);
	}
	out[n] = '\0';
	return n == 36 ? 0 : -1;
}

static int ifname_by_guid(const struct kvp_ip_config *cfg, const char *guid,
			  char ifname[IF_NAMESIZE])
{
	const char *dir = dflt(cfg ? cfg->sysfs_net_dir : NULL,
			       "/sys/class/net");
	char want[37], have[37], path[4096], buf[128];
	struct if_nameindex *ni = if_nameindex(), *i;
	int rc = KVP_IP_ENOIF;

	if (norm_guid(guid, want))
		return KVP_IP_ENOIF;
	if (!ni)
		return KVP_IP_EIO;
	for (i = ni; i->if_index; i++) {
		snprintf(path, sizeof(path), "%s/%s/device/device_id", dir,
			 i->if_name);
		FILE *f = fopen(path, "re");

		if (!f)
			continue;
		char *l = fgets(buf, sizeof(buf), f);

		fclose(f);
		if (!l || norm_guid(buf, have) || strcmp(have, want) ||
		    strlen(i->if_name) >= IF_NAMESIZE)
			continue;
		strcpy(ifname, i->if_name);
		rc = KVP_IP_OK;
		break;
	}
	if_freenameindex(ni);
	return rc;
}

int kvp_ip_find_ifname(const struct kvp_ip_config *cfg,
		       const char *adapter_id, char ifname[IF_NAMESIZE])
{
	unsigned char mac[6];

	if (strnlen(adapter_id, KVP_IP_ADAPTER_SIZE) >= KVP_IP_ADAPTER_SIZE)
		return KVP_IP_EINVAL;
	if (kvp_ip_parse_mac(adapter_id, mac) == 0)
		return ifname_by_mac(mac, ifname);
	return ifname_by_guid(cfg, adapter_id, ifname);
}

static int prefix_len(const struct sockaddr_in6 *m)
{
	int bits = 0;

	for (int i = 0; i < 16; i++)
		bits += __builtin_popcount(m->sin6_addr.s6_addr[i]);
	return bits;
}

/* Addresses and masks of ifname, in getifaddrs order. */
static int collect_addrs(const char *ifname, struct kvp_ip_info *out)
{
	struct ifaddrs *ifa, *c;
	int rc = KVP_IP_OK;

	if (getifaddrs(&ifa))
		return KVP_IP_EIO;
	for (c = ifa; c && !rc; c = c->ifa_next) {
		char a[INET6_ADDRSTRLEN], m[INET6_ADDRSTRLEN];
		int fam = c->ifa_addr ? c->ifa_addr->sa_family : 0;

		if (strcmp(c->ifa_name, ifname) ||
		    (fam != AF_INET && fam != AF_INET6) || !c->ifa_netmask)
			continue;
		if (fam == AF_INET) {
			struct sockaddr_in *sa = (void *)c->ifa_addr;
			struct sockaddr_in *sm = (void *)c->ifa_netmask;

			inet_ntop(AF_INET, &sa->sin_addr, a, sizeof(a));
			inet_ntop(AF_INET, &sm->sin_addr, m, sizeof(m));
			out->addr_family |= KVP_IP_FAMILY_IPV4;
		} else {
			struct sockaddr_in6 *sa = (void *)c->ifa_addr;

			inet_ntop(AF_INET6, &sa->sin6_addr, a, sizeof(a));
			snprintf(m, sizeof(m), "/%d",
				 prefix_len((void *)c->ifa_netmask));
			out->addr_family |= KVP_IP_FAMILY_IPV6;
		}
		rc = append(out->ip_addr, sizeof(out->ip_addr), a, 0);
		if (!rc)
			rc = append(out->sub_net, sizeof(out->sub_net), m, 0);
	}
	freeifaddrs(ifa);
	return rc;
}

static int read_text(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return KVP_IP_EIO;
	while (*len < cap) {
		ssize_t r = read(fd, buf + *len, cap - *len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	close(fd);
	return KVP_IP_OK;
}

static int collect_gateways(const struct kvp_ip_config *cfg,
			    const char *ifname, struct kvp_ip_info *out)
{
	const char *dir = dflt(cfg ? cfg->proc_net_dir : NULL,
			       "/proc/thread-self/net");
	char path[4096];
	size_t cap = 256 * 1024, len;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return KVP_IP_EIO;
	snprintf(path, sizeof(path), "%s/route", dir);
	if (read_text(path, buf, cap, &len) == 0)
		rc = kvp_ip_parse_route4(buf, len, ifname, out->gate_way,
					 sizeof(out->gate_way));
	snprintf(path, sizeof(path), "%s/ipv6_route", dir);
	if (rc >= 0 && read_text(path, buf, cap, &len) == 0)
		rc = kvp_ip_parse_route6(buf, len, ifname, out->gate_way,
					 sizeof(out->gate_way));
	free(buf);
	return rc < 0 ? rc : KVP_IP_OK;
}

static int run_script(const struct kvp_ip_config *cfg, const char *name,
		      const char *arg, char *out, size_t cap,
		      struct os_exec_result *res)
{
	char path[4096];
	char *argv[3] = { path, (char *)arg, NULL };

	snprintf(path, sizeof(path), "%s/%s",
		 dflt(cfg ? cfg->script_dir : NULL, KVP_IP_DEFAULT_SCRIPT_DIR),
		 name);
	if (os_exec_run(path, argv, out, cap, script_timeout(cfg), res))
		return KVP_IP_ESCRIPT;
	return KVP_IP_OK;
}

int kvp_ip_get_info(const struct kvp_ip_config *cfg, const char *adapter_id,
		    struct kvp_ip_info *out)
{
	char ifname[IF_NAMESIZE];
	int rc = kvp_ip_find_ifname(cfg, adapter_id, ifname);

	if (rc) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return kvp_ip_get_info_if(cfg, ifname, adapter_id, out);
}

int kvp_ip_get_info_if(const struct kvp_ip_config *cfg, const char *ifname,
		       const char *adapter_id, struct kvp_ip_info *out)
{
	struct os_exec_result res;
	char *text;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->adapter_id, sizeof(out->adapter_id), "%s", adapter_id);
	rc = collect_addrs(ifname, out);
	if (!rc)
		rc = collect_gateways(cfg, ifname, out);
	if (rc)
		return rc;
	text = malloc(SCRIPT_OUT_MAX);
	if (!text)
		return KVP_IP_EIO;
	/* A missing or failing helper leaves DNS empty / DHCP off, as with
	 * the Linux daemon; only the fields it feeds are affected. */
	if (run_script(cfg, "hv_get_dns_info", NULL, text, SCRIPT_OUT_MAX,
		       &res) == 0 &&
	    kvp_ip_parse_dns(text, res.out_len, out->dns_addr,
			     sizeof(out->dns_addr)) < 0)
		rc = KVP_IP_ESPACE;
	if (!rc && run_script(cfg, "hv_get_dhcp_info", ifname, text,
			      SCRIPT_OUT_MAX, &res) == 0)
		out->dhcp_enabled = (uint8_t)kvp_ip_parse_dhcp(text,
							       res.out_len);
	free(text);
	return rc;
}

/* The ifcfg writer. Items of a list end at the first empty one, as the
 * daemon's parser does; leading blanks are dropped. */
struct ifcfg_buf {
	char *out;
	size_t cap, len;
	int err;
};

static void emit(struct ifcfg_buf *b, const char *fmt, const char *a,
		 const char *c, const char *d)
{
	if (b->err)
		return;
	int n = snprintf(b->out + b->len, b->cap - b->len, fmt, a, c, d);

	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->err = KVP_IP_ESPACE;
	else
		b->len += (size_t)n;
}

static void expand6(const char *s, char *out, size_t cap)
{
	unsigned char a[16];

	inet_pton(AF_INET6, s, a);
	snprintf(out, cap,
		 "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:"
		 "%02x%02x:%02x%02x", a[0], a[1], a[2], a[3], a[4], a[5],
		 a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14],
		 a[15]);
}

enum ifcfg_kind { IFCFG_ADDR, IFCFG_MASK, IFCFG_GW, IFCFG_DNS };

static void emit_list(struct ifcfg_buf *b, const char *list, size_t lim,
		      enum ifcfg_kind kind)
{
	static const char *const v4name[] = { "IPADDR", "NETMASK", "GATEWAY",
					      "DNS" };
	static const char *const v6name[] = { "IPV6ADDR", "IPV6NETMASK",
					      "IPV6_DEFAULTGW", "DNS" };
	char item[INET6_ADDRSTRLEN + 8], val[sizeof(item)], sub[16];
	size_t pos = 0;
	int i = 0, j = 0, fam, plen, rc;

	/* An empty item ends a list, as in the daemon; one too long for any
	 * address is refused. */
	while (!b->err &&
	       (rc = kvp_list_next_stop(list, lim, &pos, item,
					sizeof(item))) != 0) {
		if (rc < 0) {
			b->err = KVP_IP_EINVAL;
			break;
		}
		sub[0] = '\0';
		if (is_addr(item, &fam) && fam == AF_INET) {
			snprintf(val, sizeof(val), "%s", item);
			if (kind == IFCFG_DNS)
				snprintf(sub, sizeof(sub), "%d", ++i);
			else if (kind == IFCFG_GW && i == 0)
				++i;
			else
				snprintf(sub, sizeof(sub), "%d", i++);
			emit(b, "%s%s=%s\n", v4name[kind], sub, val);
			continue;
		}
		if (is_addr(item, &fam))
			expand6(item, val, sizeof(val));
		else if (kind == IFCFG_MASK && (plen = kvp_prefix6(item)) >= 0)
			snprintf(val, sizeof(val), "%d", plen);
		else {
			b->err = KVP_IP_EINVAL;
			break;
		}
		if (kind == IFCFG_DNS)
			snprintf(sub, sizeof(sub), "%d", ++i);
		else if (j == 0)
			++j;
		else
			snprintf(sub, sizeof(sub), "_%d", j++);
		emit(b, "%s%s=%s\n", v6name[kind], sub, val);
	}
}

static int valid_ifname(const char *ifname)
{
	size_t l = strnlen(ifname, IF_NAMESIZE);

	if (l == 0 || l >= IF_NAMESIZE || strchr(ifname, '/'))
		return 0;
	for (size_t i = 0; i < l; i++)
		if (!isgraph((unsigned char)ifname[i]))
			return 0;
	return strcmp(ifname, ".") && strcmp(ifname, "..");
}

int kvp_ip_format_ifcfg(const struct kvp_ip_info *in, const char *ifname,
			const char *mac, char *out, size_t cap)
{
	struct ifcfg_buf b = { .out = out, .cap = cap };
	unsigned char m[6];

	if (!cap)
		return KVP_IP_ESPACE;
	out[0] = '\0';
	if (!valid_ifname(ifname) || kvp_ip_parse_mac(mac, m))
		return KVP_IP_EINVAL;
	emit(&b, "%s%s%s",
	     "# Generated by Hyper-V key-value pair daemon. Please do not"
	     " modify.\n", "", "");
	emit(&b, "%s=%s%s\n", "HWADDR", mac, "");
	emit(&b, "%s=%s%s\n", "DEVICE", ifname, "");
	emit(&b, "%s=%s%s\n", "BOOTPROTO", in->dhcp_enabled ? "dhcp" : "none",
	     "");
	emit_list(&b, in->ip_addr, sizeof(in->ip_addr), IFCFG_ADDR);
	emit_list(&b, in->sub_net, sizeof(in->sub_net), IFCFG_MASK);
	emit_list(&b, in->gate_way, sizeof(in->gate_way), IFCFG_GW);
	emit_list(&b, in->dns_addr, sizeof(in->dns_addr), IFCFG_DNS);
	if (b.err) {
		out[0] = '\0';
		return b.err;
	}
	return (int)b.len;
}

static int write_file(const char *path, const char *text, size_t len)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return KVP_IP_EIO;
	size_t off = 0;

	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* Written whole and renamed over: the helper never reads a torn
	 * file even if an earlier SET's file is still being read. */
	if (close(fd) || off != len || rename(tmp, path)) {
		unlink(tmp);
		return KVP_IP_EIO;
	}
	return KVP_IP_OK;
}

/* The last non-empty line of text[len] into why, control characters as
 * '?' (it ends up on the host's terminal). */
static void last_line(const char *text, size_t len, char *why, size_t cap)
{
	size_t end = len, start;

	while (end && (text[end - 1] == '\n' || text[end - 1] == '\r' ||
		       text[end - 1] == ' '))
		end--;
	for (start = end; start && text[start - 1] != '\n'; start--)
		;
	if (end - start >= cap)
		end = start + cap - 1;
	for (size_t i = start; i < end; i++)
		*why++ = (unsigned char)text[i] < 0x20 || text[i] == 0x7f
				 ? '?' : text[i];
	*why = '\0';
}

/* Runs hv_set_ifconfig FILE; on failure why says how it failed. */
static int run_set_script(const struct kvp_ip_config *cfg, const char *file,
			  char *why, size_t cap)
{
	char path[4096], out[1024], tail[256] = "";
	char *argv[3] = { path, (char *)file, NULL };
	struct os_exec_result res;
	int rc;

	snprintf(path, sizeof(path), "%s/hv_set_ifconfig",
		 dflt(cfg ? cfg->script_dir : NULL, KVP_IP_DEFAULT_SCRIPT_DIR));
	rc = os_exec_run_merged(path, argv, out, sizeof(out),
				script_timeout(cfg), &res);
	if (!rc && res.exit_status == 0)
		return KVP_IP_OK;
	if (rc == -ETIMEDOUT)
		snprintf(why, cap, "%s did not finish within %d ms", path,
			 script_timeout(cfg));
	else if (rc)
		snprintf(why, cap, "cannot run %s: %s", path, strerror(-rc));
	else {
		last_line(out, res.out_len, tail, sizeof(tail));
		snprintf(why, cap, "%s exited %d%s%s", path, res.exit_status,
			 tail[0] ? ": " : "", tail);
	}
	return KVP_IP_ESCRIPT;
}

int kvp_ip_set_info(const struct kvp_ip_config *cfg, const char *ifname,
		    const struct kvp_ip_info *in, char *why, size_t why_cap)
{
	char mac[18], path[4096], sink[8];
	size_t cap = 16384;
	int rc;

	if (!why) {
		why = sink;
		why_cap = sizeof(sink);
	}
	if (!valid_ifname(ifname))
		return KVP_IP_EINVAL;
	rc = mac_of(ifname, mac);
	if (rc)
		return rc;
	char *text = malloc(cap);

	if (!text)
		return KVP_IP_EIO;
	rc = kvp_ip_format_ifcfg(in, ifname, mac, text, cap);
	if (rc < 0) {
		free(text);
		return rc;
	}
	snprintf(path, sizeof(path), "%s/ifcfg-%s",
		 dflt(cfg ? cfg->config_dir : NULL, KVP_IP_DEFAULT_CONFIG_DIR),
		 ifname);
	rc = write_file(path, text, (size_t)rc);
	free(text);
	if (rc) {
		snprintf(why, why_cap, "cannot write %s: %s", path,
			 strerror(errno));
		return rc;
	}
	return run_set_script(cfg, path, why, why_cap);
}
