/* KVP Auto pool intrinsic data. See kvp_intrinsic.h. */
#include "kvp_intrinsic.h"
#include "kvp_str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *const key_names[KVP_AUTO_COUNT] = {
	"FullyQualifiedDomainName", "IntegrationServicesVersion",
	"NetworkAddressIPv4", "NetworkAddressIPv6", "OSBuildNumber",
	"OSName", "OSMajorVersion", "OSMinorVersion", "OSVersion",
	"ProcessorArchitecture",
};

const char *kvp_auto_key_name(uint32_t index)
{
	return index < KVP_AUTO_COUNT ? key_names[index] : NULL;
}

static void set_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src);
}

/* One os-release value: surrounding quotes dropped, "\x" becomes "x",
 * stored truncated to cap. */
static void unquote(const char *v, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		if (v[i] == '\\') {
			if (++i >= len)
				break;
			out[o++] = v[i];
		} else if (v[i] != '"' && v[i] != '\'' && v[i] != '\r') {
			out[o++] = v[i];
		}
	}
	out[o] = '\0';
}

void kvp_auto_parse_os_release(const char *text, size_t len, char *name,
			       size_t name_cap, char *version_id,
			       size_t version_cap)
{
	size_t pos = 0;

	while (pos < len) {
		size_t s = pos, e = pos;

		while (e < len && text[e] != '\n')
			e++;
		pos = e + 1;
		const char *line = text + s;
		size_t l = e - s;
		const char *eq = memchr(line, '=', l);

		if (!l || line[0] == '#' || !eq || memchr(line, '\0', l))
			continue;
		size_t kl = (size_t)(eq - line), vl = l - kl - 1;

		if (kl == 4 && !memcmp(line, "NAME", 4) && name_cap)
			unquote(eq + 1, vl, name, name_cap);
		else if (kl == 10 && !memcmp(line, "VERSION_ID", 10) &&
			 version_cap)
			unquote(eq + 1, vl, version_id, version_cap);
	}
}

static void read_os_release(struct kvp_auto *a, const char *path)
{
	char buf[16384];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	while (len < sizeof(buf)) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	kvp_auto_parse_os_release(buf, len, a->os_name, sizeof(a->os_name),
				  a->os_major, sizeof(a->os_major));
}

static void lookup_fqdn(struct kvp_auto *a)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_CANONNAME };
	struct addrinfo *info;
	char host[256];

	if (gethostname(host, sizeof(host)))
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	set_str(a->fqdn, sizeof(a->fqdn), host);
	if (getaddrinfo(host, NULL, &hints, &info))
		return;
	if (info->ai_canonname)
		set_str(a->fqdn, sizeof(a->fqdn), info->ai_canonname);
	freeaddrinfo(info);
}

int kvp_auto_init(struct kvp_auto *a, const char *os_release,
		  const char *ic_version)
{
	struct utsname u;

	memset(a, 0, sizeof(*a));
	if (uname(&u))
		return KVP_AUTO_EIO;
	set_str(a->os_build, sizeof(a->os_build), u.release);
	set_str(a->os_version, sizeof(a->os_version), u.release);
	a->os_version[strcspn(a->os_version, "-")] = '\0';
	set_str(a->os_name, sizeof(a->os_name), u.sysname);
	set_str(a->arch, sizeof(a->arch), u.machine);
	set_str(a->ic_version, sizeof(a->ic_version),
		ic_version ? ic_version : "Unknown version");
	read_os_release(a, os_release ? os_release : KVP_AUTO_OS_RELEASE);
	lookup_fqdn(a);
	return KVP_AUTO_OK;
}

/* All non-loopback addresses of family, ';'-separated; addresses that
 * would overflow the value are left out. */
static int addresses(int family, char *out, size_t cap)
{
	struct ifaddrs *ifa, *c;
	size_t used = 0;

	out[0] = '\0';
	if (getifaddrs(&ifa))
		return KVP_AUTO_EIO;
	for (c = ifa; c; c = c->ifa_next) {
		char s[INET6_ADDRSTRLEN];
		const void *src;

		if (!c->ifa_addr || c->ifa_addr->sa_family != family ||
		    (c->ifa_flags & IFF_LOOPBACK))
			continue;
		if (family == AF_INET)
			src = &((struct sockaddr_in *)c->ifa_addr)->sin_addr;
		else
			src = &((struct sockaddr_in6 *)c->ifa_addr)->sin6_addr;
		inet_ntop(family, src, s, sizeof(s));
		size_t l = strlen(s) + (used ? 1 : 0);

		if (used + l >= cap)
			break;
		snprintf(out + used, cap - used, "%s%s", used ? ";" : "", s);
		used += l;
	}
	freeifaddrs(ifa);
	return KVP_AUTO_OK;
}

/* Where each static value lives; the two address keys are computed. */
static const size_t field_off[KVP_AUTO_COUNT] = {
	offsetof(struct kvp_auto, fqdn), offsetof(struct kvp_auto, ic_version),
	0, 0, offsetof(struct kvp_auto, os_build),
	offsetof(struct kvp_auto, os_name), offsetof(struct kvp_auto, os_major),
	offsetof(struct kvp_auto, os_minor),
	offsetof(struct kvp_auto, os_version), offsetof(struct kvp_auto, arch),
};

int kvp_auto_enumerate(const struct kvp_auto *a, uint32_t index, char *key,
		       size_t key_cap, char *value, size_t value_cap)
{
	if (index >= KVP_AUTO_COUNT)
		return KVP_AUTO_ENOTFOUND;
	if (kvp_str_copy(key, key_cap, key_names[index]) || !value_cap)
		return KVP_AUTO_ESPACE;
	if (index == 2 || index == 3)
		return addresses(index == 2 ? AF_INET : AF_INET6, value,
				 value_cap);
	if (kvp_str_copy(value, value_cap, (const char *)a + field_off[index]))
		return KVP_AUTO_ESPACE;
	return KVP_AUTO_OK;
}
