/* UTF-16LE (wire) <-> UTF-8 (embedder) conversion for the IC channels.
 * Strict in both directions: a string that cannot round-trip is refused
 * with a reason, never silently repaired. Only ic_utf8_to_utf16_cut
 * shortens a string, and only at a character boundary, when asked. */
#ifndef HVIS_IC_UTF_H
#define HVIS_IC_UTF_H

#include "vmb_base.h"

enum ic_utf_err {
	IC_UTF_OK = 0,
	IC_UTF_ENOSPACE = VMB_EMSGSIZE, /* result (with NUL) does not fit */
	IC_UTF_EODD = -100,      /* UTF-16 byte count is odd */
	IC_UTF_EUNPAIRED = -101, /* UTF-16 surrogate without its partner */
	IC_UTF_EBYTE = -102,     /* UTF-8 byte that cannot start a sequence */
	IC_UTF_ETRUNC = -103,    /* UTF-8 sequence cut short or bad follower */
	IC_UTF_EOVERLONG = -104, /* UTF-8 longer than needed */
	IC_UTF_ESURROGATE = -105, /* UTF-8 encoding of U+D800..U+DFFF */
	IC_UTF_ERANGE = -106,    /* code point above U+10FFFF */
	IC_UTF_ENUL = -107       /* NUL inside a UTF-8 string */
};

const char *ic_utf_strerror(int err);

/* Length of a NUL-terminated string, at most max. */
size_t ic_strnlen(const char *s, size_t max);

/* UTF-16LE in src (src_bytes bytes, stops at the first NUL unit) to
 * NUL-terminated UTF-8 in dst[cap]. *out_len gets the UTF-8 length
 * without the NUL. */
int ic_utf16_to_utf8(const uint8_t *src, size_t src_bytes, char *dst,
		     size_t cap, size_t *out_len);

/* Checks UTF-8 s[0..len) by the rules ic_utf8_to_utf16 applies (no
 * NUL inside, no overlong forms, surrogates or code points above
 * U+10FFFF): IC_UTF_OK or the IC_UTF_E* code of the first bad sequence. */
int ic_utf8_check(const char *s, size_t len);

/* UTF-8 src[0..len) (no NUL inside) to NUL-terminated UTF-16LE in
 * dst[cap] bytes. *out_bytes gets the bytes written, NUL included (the
 * KVP key_size / value_size convention). */
int ic_utf8_to_utf16(const char *src, size_t len, uint8_t *dst, size_t cap,
		     uint32_t *out_bytes);

/* ic_utf8_to_utf16, except that a string too long for dst[cap] is cut to
 * the longest prefix of whole characters that fits with its NUL: a UTF-8
 * sequence or a UTF-16 surrogate pair is never split. *cut (may be NULL)
 * tells whether anything was left out. Invalid UTF-8 is refused as by
 * ic_utf8_to_utf16, in the part left out too; IC_UTF_ENOSPACE only when
 * cap cannot hold the NUL. */
int ic_utf8_to_utf16_cut(const char *src, size_t len, uint8_t *dst,
			 size_t cap, uint32_t *out_bytes, bool *cut);

#endif
