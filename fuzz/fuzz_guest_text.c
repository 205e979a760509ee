/* The guest adapters' parsers of external text: helper script output
 * (hv_get_dns_info, hv_get_dhcp_info), /proc/net/route and ipv6_route,
 * mountinfo lines, os-release, and the ifcfg writer fed with host-supplied
 * IP lists. The first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fsfreeze.h"
#include "kvp_intrinsic.h"
#include "kvp_ipinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copies up to cap bytes of src into a field without forcing a NUL, as a
 * host message converted to UTF-8 may arrive. */
static void fill(char *field, size_t cap, const uint8_t **d, size_t *n)
{
	size_t take = *n < cap ? *n : cap;

	memset(field, 0, cap);
	memcpy(field, *d, take);
	*d += take;
	*n -= take;
}

static void fuzz_ifcfg(const uint8_t *d, size_t n)
{
	static struct kvp_ip_info in;
	static char out[16384];

	if (!n)
		return;
	in.dhcp_enabled = d[0] & 1;
	d++;
	n--;
	/* Short fields first, so small inputs reach all four lists. */
	size_t part = n / 4 + 1;

	fill(in.ip_addr, part < sizeof(in.ip_addr) ? part : sizeof(in.ip_addr),
	     &d, &n);
	fill(in.sub_net, part < sizeof(in.sub_net) ? part : sizeof(in.sub_net),
	     &d, &n);
	fill(in.gate_way, part < sizeof(in.gate_way) ? part
						    : sizeof(in.gate_way),
	     &d, &n);
	fill(in.dns_addr, sizeof(in.dns_addr), &d, &n);
	int len = kvp_ip_format_ifcfg(&in, "eth0", "00:15:5D:00:00:01", out,
				      sizeof(out));

	if (len >= 0 && (size_t)len != strlen(out))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[KVP_IP_ADDR_SIZE] = "";
	char name[64] = "", ver[64] = "";

	if (!size)
		return 0;
	uint8_t sel = data[0] % 6;
	const char *t = (const char *)data + 1;
	size_t n = size - 1;

	switch (sel) {
	case 0:
		kvp_ip_parse_dns(t, n, out, sizeof(out));
		kvp_ip_parse_dhcp(t, n);
		break;
	case 1:
		kvp_ip_parse_route4(t, n, "eth0", out, sizeof(out));
		break;
	case 2:
		kvp_ip_parse_route6(t, n, "eth0", out, sizeof(out));
		break;
	case 3: {
		char *line = malloc(n + 1);
		struct fsfreeze_mnt m;

		if (!line)
			return 0;
		memcpy(line, t, n);
		line[n] = '\0';
		fsfreeze_parse_mountinfo_line(line, &m);
		free(line);
		break;
	}
	case 4:
		kvp_auto_parse_os_release(t, n, name, sizeof(name), ver,
					  sizeof(ver));
		break;
	default:
		fuzz_ifcfg(data + 1, n);
		break;
	}
	if (strnlen(out, sizeof(out)) == sizeof(out))
		__builtin_trap();
	return 0;
}
