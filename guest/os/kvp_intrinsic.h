/* Intrinsic data of the KVP Auto pool (pool 2), the keys Linux's
 * hv_kvp_daemon generates, enumerated by the same index:
 *   0 FullyQualifiedDomainName    getaddrinfo(AI_CANONNAME) of the host
 *                                 name (the plain host name if that fails)
 *   1 IntegrationServicesVersion  given by the caller (the daemon uses the
 *                                 version the host's driver registered)
 *   2 NetworkAddressIPv4          all non-loopback IPv4 addresses, ';'
 *   3 NetworkAddressIPv6          all non-loopback IPv6 addresses, ';'
 *   4 OSBuildNumber               uname release
 *   5 OSName                      os-release NAME, else uname sysname
 *   6 OSMajorVersion              os-release VERSION_ID, else ""
 *   7 OSMinorVersion              "" (only old release files had one)
 *   8 OSVersion                   uname release cut at the first '-'
 *   9 ProcessorArchitecture       uname machine
 * The static values are captured once by kvp_auto_init (the FQDN lookup
 * can take long); the addresses are read at each enumeration. */
#ifndef HVIS_GUEST_KVP_INTRINSIC_H
#define HVIS_GUEST_KVP_INTRINSIC_H

#include <stddef.h>
#include <stdint.h>

#define KVP_AUTO_COUNT		10
#define KVP_AUTO_FIELD_SIZE	256
#define KVP_AUTO_OS_RELEASE	"/etc/os-release"

struct kvp_auto {
	char fqdn[KVP_AUTO_FIELD_SIZE];
	char ic_version[KVP_AUTO_FIELD_SIZE];
	char os_build[KVP_AUTO_FIELD_SIZE];
	char os_name[KVP_AUTO_FIELD_SIZE];
	char os_major[KVP_AUTO_FIELD_SIZE];
	char os_minor[KVP_AUTO_FIELD_SIZE];
	char os_version[KVP_AUTO_FIELD_SIZE];
	char arch[KVP_AUTO_FIELD_SIZE];
};

enum kvp_auto_err {
	KVP_AUTO_OK = 0,
	KVP_AUTO_ENOTFOUND = -1,	/* index past the last key */
	KVP_AUTO_ESPACE = -2,		/* caller's buffer too small */
	KVP_AUTO_EIO = -3,
};

/* os_release: path of the os-release file (NULL: /etc/os-release; a
 * missing file is not an error). ic_version: NULL gives "Unknown
 * version", as the daemon reports before the host registered one. */
int kvp_auto_init(struct kvp_auto *a, const char *os_release,
		  const char *ic_version);

/* Name of key index (NULL past the end). */
const char *kvp_auto_key_name(uint32_t index);

/* The index-th key and its value; KVP_AUTO_ENOTFOUND past the end. */
int kvp_auto_enumerate(const struct kvp_auto *a, uint32_t index, char *key,
		       size_t key_cap, char *value, size_t value_cap);

/* Parses os-release text (bounded by len): NAME into name, VERSION_ID into
 * version_id (quotes removed, backslash escapes undone, each left
 * unchanged when absent). */
void kvp_auto_parse_os_release(const char *text, size_t len, char *name,
			       size_t name_cap, char *version_id,
			       size_t version_cap);

#endif
