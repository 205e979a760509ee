/* Basic types, byte order, error codes and counted-error reasons shared by
 * every core module. Freestanding: only compiler-provided headers. */
#ifndef HVIS_VMB_BASE_H
#define HVIS_VMB_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hyper-V guests are little-endian (x86-64, arm64) and every wire field is
 * little-endian. The codecs still go through the accessors below so that
 * byte order stays visible at each place a wire field is touched. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "hvis supports little-endian targets only");

static inline uint16_t vmb_le16(uint16_t v) { return v; }
static inline uint32_t vmb_le32(uint32_t v) { return v; }
static inline uint64_t vmb_le64(uint64_t v) { return v; }

/* Big-endian protocols (SCSI, NBD) keep their multi-byte fields as byte
 * arrays, read and written only through these, so that no host-order
 * integer ever lands in one. */
static inline uint16_t vmb_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vmb_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t vmb_be32(const uint8_t *p)
{
	return (uint32_t)vmb_be16(p) << 16 | vmb_be16(p + 2);
}

static inline uint64_t vmb_be64(const uint8_t *p)
{
	return (uint64_t)vmb_be32(p) << 32 | vmb_be32(p + 4);
}

static inline void vmb_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void vmb_put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	vmb_put_be16(p + 1, (uint16_t)v);
}

static inline void vmb_put_be32(uint8_t *p, uint32_t v)
{
	vmb_put_be16(p, (uint16_t)(v >> 16));
	vmb_put_be16(p + 2, (uint16_t)v);
}

static inline void vmb_put_be64(uint8_t *p, uint64_t v)
{
	vmb_put_be32(p, (uint32_t)(v >> 32));
	vmb_put_be32(p + 4, (uint32_t)v);
}

#define VMB_PAGE_SHIFT 12
#define VMB_PAGE_SIZE 4096u
#define VMB_ALIGN8(x) (((x) + 7u) & ~(uint32_t)7u)
#define VMB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The core never includes <string.h> (not part of a freestanding
 * implementation); the compiler inlines these or calls the four functions
 * every C environment provides. */
#define vmb_memcpy __builtin_memcpy
#define vmb_memmove __builtin_memmove
#define vmb_memset __builtin_memset
#define vmb_memcmp __builtin_memcmp

/* Return codes. Negative so that a length or count can share the value. */
enum vmb_err {
	VMB_OK = 0,
	VMB_EINVAL = -1,   /* caller passed something impossible */
	VMB_EAGAIN = -2,   /* try again later: ring full or empty */
	VMB_ENOMEM = -3,   /* platform allocator refused */
	VMB_EPROTO = -4,   /* the peer broke the protocol (counted) */
	VMB_ENOENT = -5,   /* no such relid, gpadl, transaction */
	VMB_EBUSY = -6,    /* object in a state that forbids the call */
	VMB_EMSGSIZE = -7, /* caller's buffer too small; nothing consumed */
	VMB_ENOTSUP = -8,  /* negotiated version lacks the feature */
	VMB_ESHUTDOWN = -9 /* connection unloaded or channel rescinded */
};

const char *vmb_strerror(int err);

/* Why input from the peer was rejected. Each state machine keeps one
 * counter per reason so that bad input is always visible (hvis-ctl). */
enum vmb_bad {
	VMB_BAD_TRUNCATED,  /* shorter than its fixed part */
	VMB_BAD_OVERSIZE,   /* longer than the protocol allows */
	VMB_BAD_TYPE,       /* unknown or unexpected message type */
	VMB_BAD_STATE,      /* valid message at the wrong time */
	VMB_BAD_RELID,      /* unknown, duplicate or out-of-range relid */
	VMB_BAD_GPADL,      /* unknown gpadl or malformed range list */
	VMB_BAD_XID,        /* response with unknown, stale or duplicate id */
	VMB_BAD_VERSION,    /* version or connection id rule violated */
	VMB_BAD_FIELD,      /* other out-of-range field */
	VMB_BAD_RING,       /* ring indices or packet descriptor corrupt */
	VMB_BAD__COUNT
};

const char *vmb_bad_name(enum vmb_bad why);

struct vmb_badstats {
	uint64_t n[VMB_BAD__COUNT];
};

static inline void vmb_bad_count(struct vmb_badstats *s, enum vmb_bad why)
{
	s->n[why]++;
}

uint64_t vmb_bad_total(const struct vmb_badstats *s);

/* A GUID as Windows lays it out: the first three fields little-endian. */
struct vmb_guid {
	uint8_t b[16];
};
_Static_assert(sizeof(struct vmb_guid) == 16, "guid size");

#define VMB_GUID_STRLEN 37 /* 36 characters and a NUL */

bool vmb_guid_eq(const struct vmb_guid *a, const struct vmb_guid *b);
/* "57164f39-9115-4e78-ab55-382f3bd5422d" -> wire bytes; false if malformed */
bool vmb_guid_parse(struct vmb_guid *g, const char *s);
void vmb_guid_format(const struct vmb_guid *g, char out[VMB_GUID_STRLEN]);

#endif
