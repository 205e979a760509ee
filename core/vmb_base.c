#include "vmb_base.h"

const char *vmb_strerror(int err)
{
	switch (err) {
	case VMB_OK: return "ok";
	case VMB_EINVAL: return "invalid argument";
	case VMB_EAGAIN: return "try again";
	case VMB_ENOMEM: return "out of memory";
	case VMB_EPROTO: return "protocol violation by peer";
	case VMB_ENOENT: return "no such object";
	case VMB_EBUSY: return "busy";
	case VMB_EMSGSIZE: return "message too large";
	case VMB_ENOTSUP: return "not supported by negotiated version";
	case VMB_ESHUTDOWN: return "unloaded or rescinded";
	default: return "unknown error";
	}
}

static const char *const bad_names[VMB_BAD__COUNT] = {
	[VMB_BAD_TRUNCATED] = "truncated",
	[VMB_BAD_OVERSIZE] = "oversize",
	[VMB_BAD_TYPE] = "bad-type",
	[VMB_BAD_STATE] = "bad-state",
	[VMB_BAD_RELID] = "bad-relid",
	[VMB_BAD_GPADL] = "bad-gpadl",
	[VMB_BAD_XID] = "bad-xid",
	[VMB_BAD_VERSION] = "bad-version",
	[VMB_BAD_FIELD] = "bad-field",
	[VMB_BAD_RING] = "bad-ring",
};

const char *vmb_bad_name(enum vmb_bad why)
{
	return (unsigned)why < VMB_BAD__COUNT ? bad_names[why] : "?";
}

uint64_t vmb_bad_total(const struct vmb_badstats *s)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < VMB_BAD__COUNT; i++)
		t += s->n[i];
	return t;
}

bool vmb_guid_eq(const struct vmb_guid *a, const struct vmb_guid *b)
{
	return vmb_memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* Text order of the 16 bytes: Data1 (4, LE), Data2 (2, LE), Data3 (2, LE),
 * then Data4 as stored. */
static const uint8_t guid_text_order[16] = {3, 2, 1, 0, 5, 4, 7, 6,
					    8, 9, 10, 11, 12, 13, 14, 15};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool is_dash_pos(unsigned i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

bool vmb_guid_parse(struct vmb_guid *g, const char *s)
{
	unsigned byte = 0;

	for (unsigned i = 0; i < 36; i++) {
		if (is_dash_pos(i)) {
			if (s[i] != '-')
				return false;
			continue;
		}
		int hi = hexval(s[i]);
		int lo = hi < 0 ? -1 : hexval(s[i + 1]);
		if (lo < 0)
			return false;
		g->b[guid_text_order[byte++]] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return s[36] == '\0';
}

void vmb_guid_format(const struct vmb_guid *g, char out[VMB_GUID_STRLEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned byte = 0, o = 0;

	for (unsigned i = 0; i < 36; i++) {
		if (is_dash_pos(i)) {
			out[o++] = '-';
			continue;
		}
		uint8_t v = g->b[guid_text_order[byte++]];
		out[o++] = hex[v >> 4];
		out[o++] = hex[v & 15];
		i++;
	}
	out[o] = '\0';
}
